"""Trading signals the keeper computes off chain from the prices it observes, one per strike bot.

Each signal is an incremental state machine: :meth:`Signal.update` takes the next observed price
(USD per BTC, a float; one per replayed hour) and returns what the bot should hold now —
:data:`LONG`, :data:`SHORT` or :data:`FLAT` — or :data:`HOLD` while it has too little history
(warm-up) or nothing changed. A long bot acts on ``LONG`` (open) and ``FLAT``/``SHORT`` (close);
a short bot mirrors it. Contracts re-check every rule (leverage, stop-loss, limits) on their own.

Sources of the formulas:

* EMA: ``ema_t = a * p_t + (1 - a) * ema_{t-1}``, ``a = 2 / (span + 1)``, seeded with the first
  price (J. Murphy, *Technical Analysis of the Financial Markets*, ch. 9; pandas ``ewm(span=…,
  adjust=False)`` computes the same).
* Momentum: fast/slow EMA crossover (Murphy ch. 9, "double crossover method").
* Mean reversion: z-score of the price against its simple moving average,
  ``z = (p - SMA_n) / sd_n`` (population standard deviation of the same window); enter beyond
  ``z_entry``, exit inside ``z_exit`` (Bollinger, *Bollinger on Bollinger Bands*, ch. 7 uses the
  same band arithmetic with k = 2).
* Volatility expansion: a close outside the previous ``window`` closes' range (Donchian channel
  breakout) confirmed by that range being wider than ``expansion`` × its own average over the
  window before (range expansion, after Crabel, *Day Trading with Short Term Price Patterns*).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

LONG, SHORT, FLAT, HOLD = "long", "short", "flat", "hold"


class Signal:
    """Base: ``update(price) -> LONG | SHORT | FLAT | HOLD``; ``name`` and ``params`` for reports."""

    name = "signal"

    def update(self, price: float) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def params(self) -> dict[str, float]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


def ema_series(prices: list[float], span: int) -> list[float]:
    """Exponential moving average of ``prices`` (``adjust=False`` form), one value per price."""
    if span < 1:
        raise ValueError("span must be >= 1")
    alpha = 2.0 / (span + 1)
    out: list[float] = []
    for p in prices:
        out.append(p if not out else alpha * p + (1 - alpha) * out[-1])
    return out


@dataclass
class Momentum(Signal):
    """EMA crossover: LONG while the fast EMA is above the slow one, SHORT while below.

    Emits only on a change of side after ``slow`` prices of warm-up; HOLD otherwise.
    """

    fast: int
    slow: int
    name = "momentum"
    _fast: float | None = field(default=None, repr=False)
    _slow: float | None = field(default=None, repr=False)
    _seen: int = field(default=0, repr=False)
    _side: str = field(default=FLAT, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.fast < self.slow:
            raise ValueError(f"momentum needs 1 <= fast < slow, got fast={self.fast} slow={self.slow}")

    def update(self, price: float) -> str:
        a_fast, a_slow = 2.0 / (self.fast + 1), 2.0 / (self.slow + 1)
        self._fast = price if self._fast is None else a_fast * price + (1 - a_fast) * self._fast
        self._slow = price if self._slow is None else a_slow * price + (1 - a_slow) * self._slow
        self._seen += 1
        if self._seen < self.slow or self._fast == self._slow:
            return HOLD
        side = LONG if self._fast > self._slow else SHORT
        if side == self._side:
            return HOLD
        self._side = side
        return side


@dataclass
class MeanReversion(Signal):
    """Z-score of the price against its ``window``-price SMA: LONG below ``-z_entry``, SHORT above
    ``z_entry``, FLAT once ``|z| < z_exit`` while in a position; HOLD otherwise."""

    window: int
    z_entry: float = 2.0
    z_exit: float = 0.5
    name = "mean_reversion"
    _prices: deque = field(default_factory=deque, repr=False)
    _side: str = field(default=FLAT, repr=False)

    def __post_init__(self) -> None:
        if self.window < 2 or not 0 <= self.z_exit < self.z_entry:
            raise ValueError("mean reversion needs window >= 2 and 0 <= z_exit < z_entry")

    def zscore(self) -> float | None:
        """z of the newest price against the current window; None while warming up or flat-lined."""
        if len(self._prices) < self.window:
            return None
        mean = sum(self._prices) / self.window
        sd = math.sqrt(sum((p - mean) ** 2 for p in self._prices) / self.window)
        return None if sd == 0 else (self._prices[-1] - mean) / sd

    def update(self, price: float) -> str:
        self._prices.append(price)
        if len(self._prices) > self.window:
            self._prices.popleft()
        z = self.zscore()
        if z is None:
            return HOLD
        if z <= -self.z_entry and self._side != LONG:
            self._side = LONG
        elif z >= self.z_entry and self._side != SHORT:
            self._side = SHORT
        elif abs(z) < self.z_exit and self._side != FLAT:
            self._side = FLAT
        else:
            return HOLD
        return self._side


@dataclass
class Breakout(Signal):
    """Volatility expansion: LONG on a close above the previous ``window`` closes' high, SHORT on one
    below their low, only when that range is wider than ``expansion`` × the average range of the
    ``window`` windows before it; FLAT when the price returns inside the channel's midpoint."""

    window: int
    expansion: float = 1.0
    name = "breakout"
    _prices: deque = field(default_factory=deque, repr=False)
    _ranges: deque = field(default_factory=deque, repr=False)
    _side: str = field(default=FLAT, repr=False)

    def __post_init__(self) -> None:
        if self.window < 2 or self.expansion <= 0:
            raise ValueError("breakout needs window >= 2 and expansion > 0")

    def update(self, price: float) -> str:
        ready = len(self._prices) == self.window and len(self._ranges) == self.window
        signal = HOLD
        if ready:
            high, low = max(self._prices), min(self._prices)
            width, average = high - low, sum(self._ranges) / self.window
            expanding = width >= self.expansion * average
            if price > high and expanding and self._side != LONG:
                self._side = signal = LONG
            elif price < low and expanding and self._side != SHORT:
                self._side = signal = SHORT
            elif self._side != FLAT and ((self._side == LONG and price < (high + low) / 2)
                                         or (self._side == SHORT and price > (high + low) / 2)):
                self._side = signal = FLAT
        if len(self._prices) == self.window:
            self._ranges.append(max(self._prices) - min(self._prices))
            if len(self._ranges) > self.window:
                self._ranges.popleft()
        self._prices.append(price)
        if len(self._prices) > self.window:
            self._prices.popleft()
        return signal


def strategy_for_bot(index: int, bots: int = 25) -> Signal:
    """The signal of strike bot ``index`` (0-based) of a side with ``bots`` bots.

    Bots are dealt round-robin to the three strategies and spread over each one's parameters, so a
    side's 25 bots do not all trade the same signal: momentum fast/slow from 6/24 to 18/96 hours,
    mean-reversion windows 24–120 hours with entry z 1.5–2.5, breakout windows 12–72 hours.
    """
    if not 0 <= index < bots:
        raise ValueError(f"bot index {index} outside 0..{bots - 1}")
    kind, rank = index % 3, index // 3
    per_kind = (bots + 2 - kind) // 3  # bots of this kind
    t = rank / max(1, per_kind - 1)  # 0..1 across the bots of this kind
    if kind == 0:
        return Momentum(fast=round(6 + 12 * t), slow=round(24 + 72 * t))
    if kind == 1:
        return MeanReversion(window=round(24 + 96 * t), z_entry=round(1.5 + t, 2), z_exit=0.5)
    return Breakout(window=round(12 + 60 * t), expansion=1.0)
