"""Trading signals the keeper computes off chain from the prices it observes, one per strike bot.

Each signal is an incremental state machine: :meth:`Signal.update` takes the next observed price
(USD per BTC, a float; one per replayed bar) and, when known, the bar's traded volume, and returns what the bot should hold now —
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
* VWAP deviation: ``VWAP_n = sum(p_i * v_i) / sum(v_i)`` over the last ``n`` bars (closes weighted by
  their volume; Berkowitz, Logue & Noser, "The Total Cost of Transactions on the NYSE", *J. Finance*
  1988, define VWAP so), deviation ``d = (p - VWAP_n) / VWAP_n`` in bps: a close that far above the
  volume-weighted average says buyers are in control (LONG), that far below, sellers (SHORT).
* Agreement: a bot holding several signals acts only when at least ``k`` of its ``n`` signals'
  current sides agree (k-of-n vote).

Windows are stated in hours (the bundled history's bars) and converted to bars of the history's
interval by :func:`bars` (``strategy_for_bot(..., bar_s=60)``: a 24-hour window is 1,440 minute bars).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

LONG, SHORT, FLAT, HOLD = "long", "short", "flat", "hold"
#: Windows longer than this many prices are summed with numpy (pairwise summation: the same values
#: to ~1e-12 relative); hourly windows (24..120) keep the plain left-to-right sums.
_VECTOR_WINDOW = 256


class Signal:
    """Base: ``update(price) -> LONG | SHORT | FLAT | HOLD``; ``name`` and ``params`` for reports."""

    name = "signal"

    def update(self, price: float, volume: float | None = None) -> str:  # pragma: no cover - interface
        """Next observation: ``price`` (USD per unit), ``volume`` the bar's traded volume (None: unknown)."""
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

    def update(self, price: float, volume: float | None = None) -> str:
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
        if self.window > _VECTOR_WINDOW:  # minute bars: thousands of prices per update, summed in C
            values = np.fromiter(self._prices, dtype=float, count=self.window)
            mean, sd = float(values.mean()), float(values.std())
        else:
            mean = sum(self._prices) / self.window
            sd = math.sqrt(sum((p - mean) ** 2 for p in self._prices) / self.window)
        return None if sd == 0 else (self._prices[-1] - mean) / sd

    def update(self, price: float, volume: float | None = None) -> str:
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

    def update(self, price: float, volume: float | None = None) -> str:
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


@dataclass
class VwapDeviation(Signal):
    """Deviation of the price from the ``window``-bar VWAP: LONG at ``entry_bps`` or more above it,
    SHORT at ``entry_bps`` or more below, FLAT once ``|d| < exit_bps`` while in a position; HOLD
    otherwise, while warming up, when the window traded no volume, or on an observation without a
    volume (``keeper run`` reads prices from the feed, which has none: the signal stays silent there)."""

    window: int
    entry_bps: float = 100.0
    exit_bps: float = 25.0
    name = "vwap"
    _prices: np.ndarray = field(default=None, repr=False)  # ring buffers of the window's closes and volumes
    _volumes: np.ndarray = field(default=None, repr=False)
    _seen: int = field(default=0, repr=False)
    _side: str = field(default=FLAT, repr=False)

    def __post_init__(self) -> None:
        if self.window < 2 or not 0 <= self.exit_bps < self.entry_bps:
            raise ValueError("vwap needs window >= 2 and 0 <= exit_bps < entry_bps")
        self._prices, self._volumes = np.zeros(self.window), np.zeros(self.window)

    def __eq__(self, other: object) -> bool:  # the signal's parameters and state, not the buffers' identity
        return isinstance(other, VwapDeviation) and self.params == other.params and self._seen == other._seen \
            and self._side == other._side and bool(np.array_equal(self._prices, other._prices)) \
            and bool(np.array_equal(self._volumes, other._volumes))

    def vwap(self) -> float | None:
        """VWAP of the current window; None while warming up or when the window traded nothing.
        Summed afresh each time (numpy, no running sums to drift): O(window) in C."""
        if self._seen < self.window:
            return None
        volume = float(self._volumes.sum())
        return None if volume <= 0 else float(np.dot(self._prices, self._volumes)) / volume

    def update(self, price: float, volume: float | None = None) -> str:
        if volume is None:
            return HOLD
        slot = self._seen % self.window
        self._prices[slot], self._volumes[slot] = price, max(0.0, float(volume))
        self._seen += 1
        vwap = self.vwap()
        if vwap is None:
            return HOLD
        d = (price - vwap) / vwap * 10_000
        if d >= self.entry_bps and self._side != LONG:
            self._side = LONG
        elif d <= -self.entry_bps and self._side != SHORT:
            self._side = SHORT
        elif abs(d) < self.exit_bps and self._side != FLAT:
            self._side = FLAT
        else:
            return HOLD
        return self._side


@dataclass
class Agreement(Signal):
    """k-of-n vote: each member's side is what it last emitted (FLAT before its first signal); the
    vote is LONG when at least ``k`` members are LONG and fewer than ``k`` SHORT, SHORT the other way
    round, FLAT otherwise. Emits the vote when it changes, HOLD when it does not: a bot enters only
    when ``k`` signals agree, and leaves when fewer than ``k`` still do."""

    members: list[Signal]
    k: int
    name = "agreement"
    _sides: list[str] = field(default_factory=list, repr=False)
    _side: str = field(default=FLAT, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.k <= len(self.members):
            raise ValueError(f"agreement needs 1 <= k <= {len(self.members)} signals, got k={self.k}")
        self._sides = [FLAT] * len(self.members)

    @property
    def params(self) -> dict[str, float]:
        return {"k": self.k, "n": len(self.members)}

    def votes(self) -> tuple[int, int]:
        """``(members LONG, members SHORT)`` now."""
        return self._sides.count(LONG), self._sides.count(SHORT)

    def update(self, price: float, volume: float | None = None) -> str:
        for i, member in enumerate(self.members):
            out = member.update(price, volume)
            if out != HOLD:
                self._sides[i] = out
        longs, shorts = self.votes()
        vote = LONG if longs >= self.k > shorts else SHORT if shorts >= self.k > longs else FLAT
        if vote == self._side:
            return HOLD
        self._side = vote
        return vote


#: Signals a bot may be asked to agree on (``strategy_for_bot(..., agreement=k)``), in vote order.
AGREEMENT_KINDS = ("momentum", "mean_reversion", "breakout", "vwap")


def bars(hours: float, bar_s: int, minimum: int = 1) -> int:
    """A window of ``hours`` in bars of ``bar_s`` seconds, rounded, at least ``minimum``."""
    if bar_s <= 0:
        raise ValueError(f"bar_s={bar_s}: expected a positive bar interval in seconds")
    return max(minimum, round(hours * 3_600 / bar_s))


def _kind(kind: str, t: float, bar_s: int) -> Signal:
    """Signal ``kind`` at position ``t`` (0..1) of its parameter spread, windows in bars of ``bar_s``."""
    if kind == "momentum":
        fast = bars(6 + 12 * t, bar_s)
        return Momentum(fast=fast, slow=max(fast + 1, bars(24 + 72 * t, bar_s)))
    if kind == "mean_reversion":
        return MeanReversion(window=bars(24 + 96 * t, bar_s, 2), z_entry=round(1.5 + t, 2), z_exit=0.5)
    if kind == "breakout":
        return Breakout(window=bars(12 + 60 * t, bar_s, 2), expansion=1.0)
    if kind == "vwap":
        return VwapDeviation(window=bars(24 + 96 * t, bar_s, 2), entry_bps=round(100 + 100 * t, 1), exit_bps=25.0)
    raise ValueError(f"unknown signal kind {kind!r}: expected one of {', '.join(AGREEMENT_KINDS)}")


def strategy_for_bot(index: int, bots: int = 25, *, agreement: int = 0, bar_s: int = 3_600) -> Signal:
    """The signal of strike bot ``index`` (0-based) of a side with ``bots`` bots.

    ``agreement=0`` (the default): bots are dealt round-robin to momentum, mean reversion and
    breakout and spread over each one's parameters, so a side's 25 bots do not all trade the same
    signal: momentum fast/slow from 6/24 to 18/96 hours, mean-reversion windows 24–120 hours with
    entry z 1.5–2.5, breakout windows 12–72 hours.
    ``agreement=k`` (1..4): every bot holds all four signals of :data:`AGREEMENT_KINDS` (the VWAP
    deviation: windows 24–120 hours, entry 100–200 bps, exit 25 bps) at its position ``index / (bots
    - 1)`` of each spread and acts on their k-of-4 vote (:class:`Agreement`).
    ``bar_s``: the bar (observation) interval; windows keep their length in time (:func:`bars`).

    Raises:
        ValueError: ``index`` outside ``0..bots-1``, ``agreement`` outside 0..4, ``bar_s`` <= 0.
    """
    if not 0 <= index < bots:
        raise ValueError(f"bot index {index} outside 0..{bots - 1}")
    if not 0 <= agreement <= len(AGREEMENT_KINDS):
        raise ValueError(f"agreement={agreement}: expected 0 (one signal per bot) or 1..{len(AGREEMENT_KINDS)} "
                         f"(k of the {len(AGREEMENT_KINDS)} signals)")
    if agreement:
        t = index / max(1, bots - 1)
        return Agreement([_kind(k, t, bar_s) for k in AGREEMENT_KINDS], agreement)
    kind, rank = index % 3, index // 3
    per_kind = (bots + 2 - kind) // 3  # bots of this kind
    t = rank / max(1, per_kind - 1)  # 0..1 across the bots of this kind
    return _kind(AGREEMENT_KINDS[kind], t, bar_s)
