"""Uniswap V2 constant-product maths in exact integer arithmetic (what the contracts compute, to the unit).

Units: every amount and reserve is an ``int`` in token base units (USDC: 6 decimals, WBTC: 8
decimals). A pool's reserves are passed as ``(quote_reserve, base_reserve)``: quote = USDC,
base = WBTC. Human prices are USD per BTC: ``(quote / 10**6) / (base / 10**8)``.

Sources
    * H. Adams, N. Zinsmeister, D. Robinson, *Uniswap v2 Core* (whitepaper, March 2020), §3.2.1
      "Fees": a 0.30% fee is taken from the input, so the pair only requires
      ``(x + 0.997·Δx)·(y − Δy) ≥ x·y``.
    * ``UniswapV2Library.getAmountOut`` / ``getAmountIn`` (Uniswap/v2-periphery,
      contracts/libraries/UniswapV2Library.sol): the same rule in integers,
      ``out = Δx·997·y / (x·1000 + Δx·997)`` (floor) and
      ``in = x·Δy·1000 / ((y − Δy)·997) + 1``, with SafeMath's overflow reverts.
      :func:`get_amount_out` and :func:`get_amount_in` reproduce them, reverts included (as
      :class:`ValueError` carrying the same reason string).
    * Optimal two-pool arbitrage: the two legs compose into one virtual constant-product pool
      (Y. Wang, Y. Chen, H. Wu, L. Zhou, S. Deng, R. Wattenhofer, *Cyclic Arbitrage in
      Decentralized Exchanges*, WWW '22 Companion / arXiv:2105.02784, 2021, §3 — the same
      composition is used by most open-source Uniswap arbitrage bots), whose optimal input has a
      closed form; :func:`optimal_arbitrage` uses it to locate the optimum, then searches the
      integers exactly (the floors shift the optimum by a few units).
"""

from __future__ import annotations

import operator
from decimal import Decimal
from fractions import Fraction
from math import isqrt
from typing import Literal

__all__ = [
    "FEE_DEN", "FEE_NUM", "UINT112_MAX", "UINT256_MAX", "amount_to_price", "arbitrage_profit",
    "best_arbitrage", "get_amount_in", "get_amount_out", "optimal_arbitrage", "price",
]

#: Fee as a fraction kept by the trade: γ = FEE_NUM / FEE_DEN = 997/1000 (0.30% fee on the input).
FEE_NUM = 997
FEE_DEN = 1000
UINT256_MAX = 2**256 - 1
#: Pair reserves are uint112; a swap leaving a balance above this reverts ("UniswapV2: OVERFLOW").
UINT112_MAX = 2**112 - 1
#: Upper bound on exact integer evaluations :func:`optimal_arbitrage` spends near the optimum.
MAX_SEARCH = 20_000

Reserves = tuple[int, int]
Direction = Literal["quote_in", "base_in"]


# -- SafeMath (ds-math), as in UniswapV2Library's Solidity 0.6 build ----------------------------------
def _mul(x: int, y: int) -> int:
    z = x * y
    if z > UINT256_MAX:
        raise ValueError("ds-math-mul-overflow")
    return z


def _add(x: int, y: int) -> int:
    z = x + y
    if z > UINT256_MAX:
        raise ValueError("ds-math-add-overflow")
    return z


def _sub(x: int, y: int) -> int:
    if y > x:
        raise ValueError("ds-math-sub-underflow")
    return x - y


def _uint(value: object, name: str) -> int:
    """``value`` as a Python int (accepts numpy integers); floats are a :class:`TypeError`."""
    try:
        v = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an integer amount in base units, got {type(value).__name__}") from None
    if v > UINT256_MAX:
        raise ValueError(f"{name}={v} does not fit in uint256")
    return v


def _pool(reserves: tuple[int, int], name: str = "reserves") -> Reserves:
    """Validate ``(quote_reserve, base_reserve)``: two positive integers."""
    try:
        quote, base = reserves
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (quote_reserve, base_reserve) pair, got {reserves!r}") from None
    quote, base = _uint(quote, f"{name}[0]"), _uint(base, f"{name}[1]")
    if quote <= 0 or base <= 0:
        raise ValueError(f"UniswapV2Library: INSUFFICIENT_LIQUIDITY ({name}={reserves!r})")
    return quote, base


# -- the library -------------------------------------------------------------------------------------
def get_amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """Output for an exact input, fee included: ``UniswapV2Library.getAmountOut``, to the unit.

    ``amount_in·997·reserve_out // (reserve_in·1000 + amount_in·997)`` (all base units).
    Raises :class:`ValueError` where the library reverts: ``amount_in <= 0``
    (INSUFFICIENT_INPUT_AMOUNT), a reserve ``<= 0`` (INSUFFICIENT_LIQUIDITY), uint256 overflow
    (ds-math-*). Non-integers raise :class:`TypeError`.
    """
    amount_in = _uint(amount_in, "amount_in")
    reserve_in, reserve_out = _uint(reserve_in, "reserve_in"), _uint(reserve_out, "reserve_out")
    if amount_in <= 0:
        raise ValueError("UniswapV2Library: INSUFFICIENT_INPUT_AMOUNT")
    if reserve_in <= 0 or reserve_out <= 0:
        raise ValueError("UniswapV2Library: INSUFFICIENT_LIQUIDITY")
    amount_in_with_fee = _mul(amount_in, FEE_NUM)
    numerator = _mul(amount_in_with_fee, reserve_out)
    denominator = _add(_mul(reserve_in, FEE_DEN), amount_in_with_fee)
    return numerator // denominator


def get_amount_in(amount_out: int, reserve_in: int, reserve_out: int) -> int:
    """Input needed for an exact output, fee included: ``UniswapV2Library.getAmountIn``, to the unit.

    ``reserve_in·amount_out·1000 // ((reserve_out − amount_out)·997) + 1`` (the library always
    adds 1, so the result can exceed the true minimum by one unit). Raises :class:`ValueError`
    where the library reverts: ``amount_out <= 0`` (INSUFFICIENT_OUTPUT_AMOUNT), a reserve
    ``<= 0`` (INSUFFICIENT_LIQUIDITY), ``amount_out > reserve_out`` (ds-math-sub-underflow),
    ``amount_out == reserve_out`` (division by zero), uint256 overflow.
    """
    amount_out = _uint(amount_out, "amount_out")
    reserve_in, reserve_out = _uint(reserve_in, "reserve_in"), _uint(reserve_out, "reserve_out")
    if amount_out <= 0:
        raise ValueError("UniswapV2Library: INSUFFICIENT_OUTPUT_AMOUNT")
    if reserve_in <= 0 or reserve_out <= 0:
        raise ValueError("UniswapV2Library: INSUFFICIENT_LIQUIDITY")
    numerator = _mul(_mul(reserve_in, amount_out), FEE_DEN)
    denominator = _mul(_sub(reserve_out, amount_out), FEE_NUM)
    if denominator == 0:
        raise ValueError("division by zero: amount_out equals reserve_out (the pool cannot be emptied)")
    return _add(numerator // denominator, 1)


# -- two-pool arbitrage --------------------------------------------------------------------------------
def arbitrage_profit(amount_in: int, buy_reserves: tuple[int, int], sell_reserves: tuple[int, int]) -> int:
    """Quote profit of the round trip quote → base on the buy pool, base → quote on the sell pool.

    ``buy_reserves``/``sell_reserves`` are ``(quote_reserve, base_reserve)``. Both legs use
    :func:`get_amount_out` (the first leg's output is the second leg's input), so the result is
    exactly what a contract chaining ``getAmountOut`` twice computes: ``quote_out − amount_in``,
    possibly negative. Raises :class:`ValueError` where such a contract reverts, including a first
    leg that yields 0 base (the second ``getAmountOut`` reverts with INSUFFICIENT_INPUT_AMOUNT).
    """
    a0, a1 = _pool(buy_reserves, "buy_reserves")
    b0, b1 = _pool(sell_reserves, "sell_reserves")
    base = get_amount_out(amount_in, a0, a1)
    return get_amount_out(base, b1, b0) - amount_in


def _profit_ceiling(a0: int, a1: int, b0: int, b1: int) -> int:
    """``floor`` of the continuous (real-valued, fee-included) maximum profit; an upper bound.

    With γ = 997/1000 the composed pool gives ``max profit = (√Eb − √(Ea/γ))²``, which in the
    reserves is ``(997·√(a1·b0) − 1000·√(a0·b1))² / (997·(1000·b1 + 997·a1))`` when
    ``997²·a1·b0 > 1000²·a0·b1`` and 0 otherwise. Computed exactly (integer square roots and a
    squared comparison), so it bounds every integer round trip from above.
    """
    g, G = FEE_NUM, FEE_DEN
    if g * g * a1 * b0 <= G * G * a0 * b1:
        return 0
    t = g * g * a1 * b0 + G * G * a0 * b1
    four_p = 4 * g * g * G * G * a0 * a1 * b0 * b1  # (2gG√P)²
    gd = g * (G * b1 + g * a1)
    r = isqrt(four_p)  # 2gG√P ∈ [r, r + 1)
    n = (t - r) // gd
    if not (t - n * gd >= 0 and (t - n * gd) ** 2 >= four_p):
        n -= 1
    return max(n, 0)


def optimal_arbitrage(buy_reserves: tuple[int, int], sell_reserves: tuple[int, int]) -> tuple[int, int]:
    """``(amount_in, profit)`` maximising :func:`arbitrage_profit`; ``(0, 0)`` when nothing is profitable.

    Buy base with quote on ``buy_reserves = (a0, a1)``, sell it on ``sell_reserves = (b0, b1)``
    (quote, base). With γ = 997/1000 the two legs compose into one constant-product pool with
    reserves ``Ea = a0·b1 / (b1 + γ·a1)`` (in) and ``Eb = γ·a1·b0 / (b1 + γ·a1)`` (out) (Wang et al.
    2021, see module docstring), whose real-valued optimum is ``x* = (√(Ea·Eb·γ) − Ea) / γ``,
    profitable iff ``γ²·a1·b0 > a0·b1``, i.e. iff the sell pool's price exceeds the buy pool's by
    more than the two fees (a factor 1/γ² ≈ 1.006).

    Integer refinement. For a first-leg output of ``k`` base units the cheapest input is
    ``x(k) = ceil(1000·k·a0 / (997·(a1 − k)))``, so the integer optimum is
    ``max_k getAmountOut(k, b1, b0) − x(k)``: each term has one rounding, so this differs from the
    concave real-valued profit by less than 2 units. The search starts at the real optimum ``k*``
    (closed form with integer square roots) and walks outwards, stopping when a side's real
    profit falls to the best found (no further point there can beat it) or the best equals the
    exact floor of the real maximum (:func:`_profit_ceiling`, a bound no integer trade exceeds).
    The result is then the exact integer optimum (smallest input among ties found first); only
    when more than :data:`MAX_SEARCH` points would be needed — very flat optima in deep pools —
    it is the best of those points, within 2 units of the optimum.

    The returned ``profit`` equals ``arbitrage_profit(amount_in, buy_reserves, sell_reserves)``.
    """
    a0, a1 = _pool(buy_reserves, "buy_reserves")
    b0, b1 = _pool(sell_reserves, "sell_reserves")
    ceiling = _profit_ceiling(a0, a1, b0, b1)
    if ceiling <= 0 or a1 < 2:
        return 0, 0
    g, G = FEE_NUM, FEE_DEN

    def x_min(k: int) -> int:  # cheapest quote input whose first-leg output is >= k base
        return -(-(G * k * a0) // (g * (a1 - k)))

    def q(k: int) -> int:  # best integer profit with first-leg output k
        return (g * k * b0) // (G * b1 + g * k) - x_min(k)

    def real_at_most(k: int, bound: int) -> bool:  # real-valued profit at k <= bound ?
        # H(k) = g·k·b0 / (G·b1 + g·k),  X(k) = G·k·a0 / (g·(a1 − k))
        hd, xd = G * b1 + g * k, g * (a1 - k)
        return g * k * b0 * xd - G * k * a0 * hd <= bound * hd * xd

    # Real optimum in k: 997·√(b0·b1)·(a1 − k) = √(a0·a1)·(1000·b1 + 997·k), roots scaled by 2^64.
    sb, sa = isqrt((b0 * b1) << 128), isqrt((a0 * a1) << 128)
    k_star = (g * a1 * sb - G * b1 * sa) // (g * (sb + sa))
    k_c = min(max(k_star, 1), a1 - 1)

    best_k, best = k_c, q(k_c)
    left, right = k_c - 1, k_c + 1
    left_open, right_open = left >= 1, right <= a1 - 1
    evaluations = 1
    while best < ceiling and (left_open or right_open) and evaluations < MAX_SEARCH:
        if right_open:
            v = q(right)
            evaluations += 1
            if v > best:
                best_k, best = right, v
            if right >= k_c + 2 and real_at_most(right, best):
                right_open = False  # real profit decreasing from here on and already <= best
            right += 1
            right_open = right_open and right <= a1 - 1
        if left_open and best < ceiling:
            v = q(left)
            evaluations += 1
            if v > best or (v == best and left < best_k):
                best_k, best = left, v
            if left <= k_c - 1 and real_at_most(left, best):
                left_open = False
            left -= 1
            left_open = left_open and left >= 1
    if best <= 0:
        return 0, 0
    amount = x_min(best_k)
    profit = arbitrage_profit(amount, (a0, a1), (b0, b1))
    return (amount, profit) if profit > 0 else (0, 0)


def best_arbitrage(reserves_a: tuple[int, int], reserves_b: tuple[int, int]) -> tuple[bool, int, int]:
    """``(buy_on_a, amount_in, profit)``: the profitable direction between pools A and B, if any.

    Buys base on the pool where it is cheaper (``buy_on_a`` is True when A's price is at most
    B's) and sells on the other, with :func:`optimal_arbitrage`. Only that direction can pay: the
    reverse buys dear and sells cheap. ``amount_in == profit == 0`` when neither pays (then
    ``buy_on_a`` still names the cheaper pool).
    """
    a = _pool(reserves_a, "reserves_a")
    b = _pool(reserves_b, "reserves_b")
    buy_on_a = a[0] * b[1] <= b[0] * a[1]  # a0/a1 <= b0/b1
    amount, profit = optimal_arbitrage(a, b) if buy_on_a else optimal_arbitrage(b, a)
    return buy_on_a, amount, profit


# -- prices -----------------------------------------------------------------------------------------------
def price(reserves: tuple[int, int], quote_decimals: int = 6, base_decimals: int = 8) -> float:
    """The pool's marginal price in human units, quote per base (USD per BTC): ``(q/10^6)/(b/10^8)``.

    This is the no-fee marginal price (the ratio of reserves); a trade pays 0.3% on top.
    """
    q, b = _pool(reserves)
    return float(Fraction(q * 10**base_decimals, b * 10**quote_decimals))


def amount_to_price(reserves: tuple[int, int], target: float | int | Fraction | Decimal,
                    quote_decimals: int = 6, base_decimals: int = 8) -> tuple[Direction, int]:
    """The exact input that moves the pool's marginal price to ``target`` (human quote per base).

    ``reserves = (q, b)`` in base units; ``target`` in human units (USD per BTC; a float, or a
    :class:`~fractions.Fraction` for exactness, e.g. ``Fraction(price_e18, 10**18)``). Let ``t`` be
    the target in base units (``target·10^quote_decimals / 10^base_decimals``) and ``P(x)`` the
    pool's reserve ratio (quote/base) after a swap of ``x`` through :func:`get_amount_out` (input
    added whole to its reserve — the fee stays in the pool — output floored).

    * ``q/b < t`` (price must rise): returns ``("quote_in", x)``, ``x`` the **largest** quote
      input with ``P(x) <= t``: the swap reaches the target without passing it, and one more unit
      would pass it.
    * ``q/b > t`` (price must fall): returns ``("base_in", y)``, ``y`` the largest base input with
      ``P(y) >= t``.
    * ``q/b == t``: ``("quote_in", 0)``. The amount is also 0 when a single unit would overshoot.

    Start from the real-valued solution with the fee (for quote in,
    ``(q + x)(1000·q + 997·x) = 1000·q·b·t`` ⇒ ``x = (√(9q² + 3 988 000·q·b·t) − 1997·q) / 1994``,
    symmetric for base in), computed with :func:`math.isqrt`, then step to the integer answer
    (``P`` is monotone in the input). The price after the swap is within one unit's price step of
    ``t``: relatively about ``2/q + 2/b``. Raises :class:`ValueError` for a non-positive or
    non-finite target, bad reserves, or a swap that would push a reserve past uint112.
    """
    q, b = _pool(reserves)
    try:
        human = Fraction(target)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"target price must be a finite number, got {target!r}") from None
    if human <= 0:
        raise ValueError(f"target price must be positive, got {target!r}")
    t = human * Fraction(10**quote_decimals, 10**base_decimals)
    tn, td = t.numerator, t.denominator
    g, G = FEE_NUM, FEE_DEN
    disc_a = (G + g) ** 2 - 4 * g * G  # = 9

    if q * td == tn * b:
        return "quote_in", 0
    if q * td < tn * b:
        def ok(x: int) -> bool:  # P(x) <= t, quote in
            out = (g * x * b) // (G * q + g * x)
            return (q + x) * td <= tn * (b - out)
        # (q + x)(G·q + g·x) = G·q·b·t
        s = isqrt((disc_a * q * q * td + 4 * g * G * q * b * tn) * td)
        x0 = max((s - (G + g) * q * td) // (2 * g * td), 0)
        amount, side, new_reserve = x0, "quote_in", q
    else:
        def ok(x: int) -> bool:  # P(x) >= t, base in
            out = (g * x * q) // (G * b + g * x)
            return (q - out) * td >= tn * (b + x)
        # (b + y)(G·b + g·y) = G·q·b / t
        s = isqrt((disc_a * b * b * tn + 4 * g * G * b * q * td) * tn)
        x0 = max((s - (G + g) * b * tn) // (2 * g * tn), 0)
        amount, side, new_reserve = x0, "base_in", b

    # The real solution x0 is at or below the integer answer (floored outputs only help); walk
    # back defensively if not, then gallop up and bisect.
    while amount > 0 and not ok(amount):
        amount //= 2
    step = 1
    while ok(amount + step):
        amount += step
        step *= 2
    lo, hi = amount, amount + step  # ok(lo), not ok(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    if new_reserve + lo > UINT112_MAX:
        raise ValueError(f"moving the price to {target!r} needs {lo} units in, past the pair's uint112 reserves")
    return side, lo  # type: ignore[return-value]
