"""Off-chain strike signals: the incremental state machines agree with batch references (pandas
EMA, a direct z-score, a direct channel computation, an exactly summed VWAP, a direct k-of-n vote) on
arbitrary price paths, the 25 bots of a side get distinct strategies, windows keep their length in
time at any bar interval, and a bot's signal round-trips through its on-chain strategy id and params."""

import math
import statistics
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from macrostrike.market.data import load
from macrostrike.strategy.signals import (FLAT, HOLD, LONG, SHORT, Agreement, Breakout, MeanReversion, Momentum,
                                          VwapDeviation, bars, ema_series, strategy_for_bot)

SLICE = Path(__file__).parent / "data" / "btc_slice.csv"
prices = st.lists(st.floats(min_value=1_000, max_value=100_000, allow_nan=False), min_size=1, max_size=150)
#: (price, volume) bars; zero volumes included (the bundled history has 28 such hours)
priced_bars = st.lists(st.tuples(st.floats(min_value=1_000, max_value=100_000, allow_nan=False),
                                 st.one_of(st.just(0.0), st.floats(min_value=0.001, max_value=1e6, allow_nan=False))),
                       min_size=1, max_size=150)


@given(prices, st.integers(1, 50))
def test_ema_matches_pandas(path, span):
    ours = ema_series(path, span)
    theirs = pd.Series(path).ewm(span=span, adjust=False).mean().tolist()
    assert ours == pytest.approx(theirs, rel=1e-12)


@settings(max_examples=60)
@given(prices, st.integers(1, 10), st.integers(1, 30))
def test_momentum_emits_exactly_the_crossovers(path, fast, extra):
    slow = fast + extra
    signal = Momentum(fast, slow)
    got = [signal.update(p) for p in path]
    f, s = ema_series(path, fast), ema_series(path, slow)
    side, expected = FLAT, []
    for i in range(len(path)):
        now = HOLD
        if i + 1 >= slow and f[i] != s[i]:
            new = LONG if f[i] > s[i] else SHORT
            if new != side:
                side = now = new
        expected.append(now)
    assert got == expected


@settings(max_examples=60)
@given(prices, st.integers(2, 40), st.floats(0.5, 3.0), st.floats(0.0, 0.49))
def test_mean_reversion_against_direct_zscores(path, window, z_entry, z_exit):
    signal = MeanReversion(window, z_entry, z_exit)
    side = FLAT
    for i, p in enumerate(path):
        got = signal.update(p)
        expected = HOLD
        if i + 1 >= window:
            chunk = path[i + 1 - window:i + 1]
            sd = statistics.pstdev(chunk)
            if sd > 0:
                z = (p - statistics.fmean(chunk)) / sd
                if z <= -z_entry and side != LONG:
                    side = expected = LONG
                elif z >= z_entry and side != SHORT:
                    side = expected = SHORT
                elif abs(z) < z_exit and side != FLAT:
                    side = expected = FLAT
        # float summation order differs from statistics': compare away from the thresholds only
        if expected != got:
            chunk = path[i + 1 - window:i + 1]
            z = (p - statistics.fmean(chunk)) / statistics.pstdev(chunk)
            assert min(abs(abs(z) - z_entry), abs(abs(z) - z_exit)) < 1e-9, (i, z, got, expected)
            return


def test_breakout_needs_a_break_and_an_expanding_range():
    quiet = [100.0, 101.0] * 10  # range 1 all along
    signal = Breakout(window=4, expansion=1.5)
    assert {signal.update(p) for p in quiet} == {HOLD}
    assert signal.update(105.0) == HOLD  # above the channel, but the range was not expanding
    for p in (99.0, 104.0, 98.0):  # the range widens to 7, well above 1.5x its average
        signal.update(p)
    assert signal.update(110.0) == LONG
    assert signal.update(111.0) == HOLD  # already long
    assert signal.update(100.0) == FLAT  # back below the channel's midpoint


def test_breakout_short_side():
    signal = Breakout(window=3, expansion=0.5)
    for p in (100.0, 102.0, 101.0, 103.0, 100.0, 104.0):
        signal.update(p)
    assert signal.update(90.0) == SHORT


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="fast < slow"):
        Momentum(10, 10)
    with pytest.raises(ValueError, match="z_exit < z_entry"):
        MeanReversion(20, 1.0, 1.0)
    with pytest.raises(ValueError, match="window >= 2"):
        Breakout(1)
    with pytest.raises(ValueError, match="outside 0..24"):
        strategy_for_bot(25)


def test_bots_get_spread_strategies():
    signals = [strategy_for_bot(i) for i in range(25)]
    kinds = [s.name for s in signals]
    assert (kinds.count("momentum"), kinds.count("mean_reversion"), kinds.count("breakout")) == (9, 8, 8)
    assert len({(s.name, tuple(sorted(s.params.items()))) for s in signals}) == 25


def test_real_history_produces_signals():
    """On the real BTC/USD slice every kind of strategy acts at least once over the bots."""
    closes = [c.close for c in load(SLICE, verify_checksum=False)]
    acted = set()
    for i in range(25):
        signal = strategy_for_bot(i)
        if any(signal.update(p) != HOLD for p in closes):
            acted.add(signal.name)
    assert acted == {"momentum", "mean_reversion", "breakout"}


@settings(max_examples=80)
@given(priced_bars, st.integers(2, 40), st.floats(10.0, 500.0), st.floats(0.0, 0.99))
def test_vwap_against_a_direct_computation(path, window, entry_bps, exit_frac):
    """Each window's VWAP summed exactly (math.fsum) and checked against pandas' rolling sums where the
    window traded enough for float sums to agree; the signal follows the direct deviation."""
    exit_bps = entry_bps * exit_frac
    signal = VwapDeviation(window, entry_bps, exit_bps)
    frame = pd.DataFrame(path, columns=["p", "v"])
    rolling = ((frame.p * frame.v).rolling(window).sum() / frame.v.rolling(window).sum()).tolist()
    side = FLAT
    for i, (p, v) in enumerate(path):
        got = signal.update(p, v)
        expected, d = HOLD, None
        chunk = path[max(0, i + 1 - window):i + 1]
        volume = math.fsum(x for _, x in chunk)
        if i + 1 >= window and volume > 0:
            vwap = math.fsum(q * x for q, x in chunk) / volume
            assert signal.vwap() == pytest.approx(vwap, rel=1e-12)
            if volume > 1e-3 * max(x for _, x in path[:i + 1]):  # pandas' running sums keep the dropped bars' dust
                assert rolling[i] == pytest.approx(vwap, rel=1e-6)
            d = (p - vwap) / vwap * 10_000
            if d >= entry_bps and side != LONG:
                side = expected = LONG
            elif d <= -entry_bps and side != SHORT:
                side = expected = SHORT
            elif abs(d) < exit_bps and side != FLAT:
                side = expected = FLAT
        else:
            assert signal.vwap() is None
        if expected != got:  # summation order differs: only at a threshold
            assert d is not None and min(abs(abs(d) - entry_bps), abs(abs(d) - exit_bps)) < 1e-6, (i, d, got, expected)
            return


def test_vwap_weights_by_volume_and_needs_one():
    signal = VwapDeviation(window=3, entry_bps=100, exit_bps=20)
    assert signal.update(100.0) == HOLD  # no volume: nothing observed
    assert [signal.update(p, v) for p, v in ((100.0, 10.0), (100.0, 10.0))] == [HOLD, HOLD]
    assert signal.vwap() is None  # two bars of a 3-bar window: warming up
    # a heavy bar at 100 keeps the VWAP near 100: a close of 102 is ~1.6 % above it -> LONG
    assert signal.update(102.0, 0.5) == LONG and signal.vwap() == pytest.approx((1000 + 1000 + 51) / 20.5)
    assert signal.update(100.1, 100.0) == FLAT  # the heavy bar drags the VWAP to the price
    zero = VwapDeviation(window=2)
    assert [zero.update(100.0, 0.0), zero.update(200.0, 0.0)] == [HOLD, HOLD] and zero.vwap() is None


@settings(max_examples=60)
@given(st.lists(st.lists(st.sampled_from([LONG, SHORT, FLAT, HOLD]), min_size=3, max_size=3), min_size=1, max_size=60),
       st.integers(1, 3))
def test_agreement_is_a_k_of_n_vote_of_the_members_sides(script, k):
    class Scripted:
        def __init__(self, outputs):
            self.outputs = iter(outputs)

        def update(self, price, volume=None):
            return next(self.outputs)

    members = [Scripted([row[j] for row in script]) for j in range(3)]
    vote = Agreement(members, k)
    sides, side = [FLAT] * 3, FLAT
    for row in script:
        got = vote.update(1.0, 1.0)
        sides = [out if out != HOLD else old for out, old in zip(row, sides)]
        longs, shorts = sides.count(LONG), sides.count(SHORT)
        want = LONG if longs >= k and shorts < k else SHORT if shorts >= k and longs < k else FLAT
        assert got == (HOLD if want == side else want)
        side = want


def test_agreement_on_real_history_acts_less_often_as_k_grows():
    """On the real BTC/USD slice, with its volumes: entries need more agreeing signals as k grows."""
    candles = load(SLICE, verify_checksum=False)
    entries = {}
    for k in (1, 2, 3):
        signal = strategy_for_bot(0, 25, agreement=k)
        entries[k] = sum(signal.update(c.close, c.volume_btc) in (LONG, SHORT) for c in candles)
    assert entries[1] > 0 and entries[1] >= entries[2] >= entries[3]
    vwap = strategy_for_bot(0, 25, agreement=1).members[3]
    assert vwap.name == "vwap" and any(vwap.update(c.close, c.volume_btc) != HOLD for c in candles)


def test_windows_keep_their_length_in_time():
    hourly = [strategy_for_bot(i) for i in range(25)]
    assert [s.params for s in hourly] == [strategy_for_bot(i, bar_s=3_600).params for i in range(25)]
    minute = strategy_for_bot(0, bar_s=60)  # momentum 6/24 hours
    assert (minute.fast, minute.slow) == (360, 1_440)
    assert strategy_for_bot(1, bar_s=60).window == 24 * 60 and strategy_for_bot(2, bar_s=60).window == 12 * 60
    daily = strategy_for_bot(0, bar_s=86_400)
    assert (daily.fast, daily.slow) == (1, 2)  # 6 h rounds to 0 days: floors keep 1 <= fast < slow
    assert strategy_for_bot(1, bar_s=86_400).window == 2 and bars(120, 86_400, 2) == 5
    with pytest.raises(ValueError, match="agreement=5"):
        strategy_for_bot(0, agreement=5)


def test_large_windows_summed_with_numpy_agree_with_the_direct_zscore():
    import random

    rng = random.Random(7)
    path = [20_000 + rng.gauss(0, 300) for _ in range(700)]
    signal = MeanReversion(window=600, z_entry=1.0, z_exit=0.2)
    for p in path:
        signal.update(p)
    chunk = path[-600:]
    assert signal.zscore() == pytest.approx((path[-1] - statistics.fmean(chunk)) / statistics.pstdev(chunk), rel=1e-9)


@pytest.mark.parametrize("agreement", [0, 2])
def test_signal_round_trips_through_its_strategy_id_and_params(agreement):
    from macrostrike.deploy.system import strike_strategy
    from macrostrike.keeper.strike import params_signal

    for i in range(25):
        strategy, params = strike_strategy(i, 25, agreement)
        signal = strategy_for_bot(i, 25, agreement=agreement)
        assert strategy == signal.name.encode().ljust(32, b"\0")
        assert params_signal(params, 0, 1, strategy) == signal
        assert params_signal(params, 0, 1, strategy, bar_s=60) == strategy_for_bot(i, 25, agreement=agreement, bar_s=60)
    if agreement:  # the vote is in the params: [k, n] x 1e4
        from eth_abi import decode

        assert list(decode(["uint16", "uint16", "uint256[]"], params)[2]) == [2 * 10_000, 4 * 10_000]
    else:  # a keeper that is not given the id (the format before the agreement rule) reads the same bots
        assert params_signal(strike_strategy(3, 25)[1], 0, 1) == strategy_for_bot(3, 25)
