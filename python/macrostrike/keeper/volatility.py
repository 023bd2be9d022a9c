"""The volatility breaker's keeper rule (issue 15 §3): red candles from the price feed's rounds.

The contract (StrikeProtocolsFacet) checks what a bounded walk over the feed's last rounds can: a
move within a window and a sudden drop. Candles need the whole history of a candle period, which a
bounded loop cannot promise when the feed updates often, so the keeper builds them
(:func:`red_candle_streak`) and trips the breaker on chain (``tripVolatilityBreaker``).
"""

from __future__ import annotations


def red_candle_streak(history: list[tuple[int, float]], candle_s: int, now: int) -> int:
    """Consecutive red candles ending with the last complete one (the volatility breaker's keeper rule).

    Candles are ``[k·candle_s, (k+1)·candle_s)`` in unix seconds, complete once ``now`` reaches their
    end. A candle opens at the last price before its start (the previous close) and closes at its
    last price (a candle without a round is flat: its close is the previous one); it is red when
    close < open. A candle whose open is unknown (no price before it) ends the count.

    Args:
        history: ``(updatedAt unix s, price)`` of the feed's rounds, oldest first.
        candle_s: candle length (s), > 0.
        now: chain time (unix s).
    Returns:
        The number of red candles in a row, 0 if the last complete one is not red.
    """
    streak, end = 0, now // candle_s * candle_s
    while True:
        start = end - candle_s
        before = [p for t, p in history if t < start]
        if not before:
            return streak
        close = [p for t, p in history if t < end][-1]
        if not close < before[-1]:
            return streak
        streak, end = streak + 1, start
