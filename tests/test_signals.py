"""Off-chain strike signals: the incremental state machines agree with batch references (pandas
EMA, a direct z-score, a direct channel computation) on arbitrary price paths, and the 25 bots of a
side get distinct strategies."""

import statistics
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from macrostrike.market.data import load
from macrostrike.strategy.signals import (FLAT, HOLD, LONG, SHORT, Breakout, MeanReversion, Momentum, ema_series,
                                          strategy_for_bot)

SLICE = Path(__file__).parent / "data" / "btc_slice.csv"
prices = st.lists(st.floats(min_value=1_000, max_value=100_000, allow_nan=False), min_size=1, max_size=150)


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
