"""The keeper's red-candle rule of the volatility breaker (keeper/volatility.py red_candle_streak): candles
from feed rounds, at each boundary — 2 red candles are not 3, the candle still forming does not count,
a round exactly at a candle's end belongs to the next candle, a flat candle (no round, or close equal
to open) ends the streak, and a candle without an earlier price ends the count. No chain."""

from hypothesis import given
from hypothesis import strategies as st

from macrostrike.keeper.volatility import red_candle_streak

C = 300  # candle seconds
T = 1_800_000_000 // C * C  # a candle boundary


def falling(candles, start_price=100.0, step=1.0):
    """One round in the middle of each of ``candles`` candles after T, each lower than the last."""
    return [(T + k * C + C // 2, start_price - step * (k + 1)) for k in range(candles)]


def test_three_red_candles_in_a_row():
    history = [(T - 10, 100.0), *falling(3)]
    assert red_candle_streak(history, C, T + 3 * C) == 3
    assert red_candle_streak(history, C, T + 3 * C - 1) == 2  # the third candle is still forming


def test_a_flat_candle_ends_the_streak():
    history = [(T - 10, 100.0), (T + C // 2, 99.0), (T + 2 * C + C // 2, 98.0), (T + 3 * C + 10, 97.0)]
    # candle 1 (T+C .. T+2C) has no round: flat; candles 2 and 3 are red
    assert red_candle_streak(history, C, T + 4 * C) == 2
    same = [(T - 10, 100.0), (T + 10, 100.0)]  # close equal to open: not red
    assert red_candle_streak(same, C, T + C) == 0


def test_a_round_at_the_candle_end_belongs_to_the_next_candle():
    history = [(T - 10, 100.0), (T + C, 90.0)]
    assert red_candle_streak(history, C, T + C) == 0  # candle [T, T+C) closed at 100: flat
    assert red_candle_streak(history, C, T + 2 * C) == 1


def test_a_green_candle_ends_the_streak_and_unknown_open_stops_the_count():
    # candles from T: 100 → 99 red, 99 → 101 green, 101 → 100 red, 100 → 99 red
    history = [(T - 10, 100.0), (T + 10, 99.0), (T + C + 10, 101.0), (T + 2 * C + 10, 100.0), (T + 3 * C + 10, 99.0)]
    assert red_candle_streak(history, C, T + 4 * C) == 2
    falling_only = [(T + C + 10, 100.0), (T + 2 * C + 10, 99.0), (T + 3 * C + 10, 98.0)]
    assert red_candle_streak(falling_only, C, T + 4 * C) == 2  # the first candle's open is unknown
    assert red_candle_streak([], C, T) == 0


@given(st.lists(st.floats(min_value=1, max_value=1e6), min_size=1, max_size=30))
def test_streak_never_exceeds_the_candles_with_a_known_open(prices):
    history = [(T + k * C + 1, p) for k, p in enumerate(prices)]
    streak = red_candle_streak(history, C, T + len(prices) * C)
    assert 0 <= streak <= len(prices) - 1
    expected = 0
    for a, b in zip(reversed(prices[:-1]), reversed(prices[1:])):
        if b < a:
            expected += 1
        else:
            break
    assert streak == expected
