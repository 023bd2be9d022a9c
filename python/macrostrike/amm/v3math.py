"""Uniswap V3 tick maths in exact integers (what ``TickMath`` computes, to the unit).

No well-kept Python package for Uniswap V3 tick maths is installed in the project's venv, so the
two functions the sandbox needs are ported here and checked against the deployed pool itself
(tests/test_uniswap_v3.py: ``slot0`` after ``initialize``, and ``QuoterV2`` for swaps).

Units: ``sqrtPriceX96`` is ``sqrt(price) * 2**96`` as a Q64.96 integer, where ``price`` is token1
base units per token0 base unit (token0 is the token with the lower address, as in the factory).
Human prices are USD per BTC (USDC 6 decimals, WBTC 8 decimals).

Sources
    * Uniswap/v3-core ``contracts/libraries/TickMath.sol`` (v1.0.1): ``MIN_TICK``/``MAX_TICK``,
      ``MIN_SQRT_RATIO``/``MAX_SQRT_RATIO``, ``getSqrtRatioAtTick`` (the magic constants below are
      ``2**128 / sqrt(1.0001)**(2**i)``, transcribed literally), ``getTickAtSqrtRatio`` (the greatest
      tick whose ratio is ``<=`` the given one — computed here by bisection on
      :func:`get_sqrt_ratio_at_tick`, which is exact by definition).
    * H. Adams et al., *Uniswap v3 Core* (whitepaper, March 2021), §6.1 "Price and liquidity":
      ``price(tick) = 1.0001**tick``; §6.2.1 tick spacing (fee 500 -> spacing 10).
"""

from __future__ import annotations

from fractions import Fraction
from math import isqrt

__all__ = [
    "MAX_SQRT_RATIO", "MAX_TICK", "MIN_SQRT_RATIO", "MIN_TICK", "TICK_SPACING", "get_sqrt_ratio_at_tick",
    "get_tick_at_sqrt_ratio", "human_price", "nearest_usable_tick", "raw_price", "sqrt_price_x96",
]

MIN_TICK = -887272
MAX_TICK = -MIN_TICK
#: getSqrtRatioAtTick(MIN_TICK) and getSqrtRatioAtTick(MAX_TICK), as TickMath.sol states them.
MIN_SQRT_RATIO = 4295128739
MAX_SQRT_RATIO = 1461446703485210103287273052203988822378723970342
#: Fee (hundredths of a bip) -> tick spacing, as UniswapV3Factory enables them in its constructor.
TICK_SPACING = {500: 10, 3000: 60, 10000: 200}

_MAGIC = (
    0xfff97272373d413259a46990580e213a, 0xfff2e50f5f656932ef12357cf3c7fdcc, 0xffe5caca7e10e4e61c3624eaa0941cd0,
    0xffcb9843d60f6159c9db58835c926644, 0xff973b41fa98c081472e6896dfb254c0, 0xff2ea16466c96a3843ec78b326b52861,
    0xfe5dee046a99a2a811c461f1969c3053, 0xfcbe86c7900a88aedcffc83b479aa3a4, 0xf987a7253ac413176f2b074cf7815e54,
    0xf3392b0822b70005940c7a398e4b70f3, 0xe7159475a2c29b7443b29c7fa6e889d9, 0xd097f3bdfd2022b8845ad8f792aa5825,
    0xa9f746462d870fdf8a65dc1f90e061e5, 0x70d869a156d2a1b890bb3df62baf32f7, 0x31be135f97d08fd981231505542fcfa6,
    0x9aa508b5b7a84e1c677de54f3e99bc9, 0x5d6af8dedb81196699c329225ee604, 0x2216e584f5fa1ea926041bedfe98,
    0x48a170391f7dc42444e8fa2,
)


def get_sqrt_ratio_at_tick(tick: int) -> int:
    """``TickMath.getSqrtRatioAtTick``: ``sqrt(1.0001**tick) * 2**96`` rounded up, as the contract does.

    Args:
        tick: a tick in ``[MIN_TICK, MAX_TICK]``.

    Returns:
        The Q64.96 square-root price (uint160).

    Raises:
        ValueError: ``'T'`` (the contract's revert string) for a tick out of range.
    """
    abs_tick = abs(tick)
    if abs_tick > MAX_TICK:
        raise ValueError("T")
    ratio = 0xfffcb933bd6fad37aa2d162d1a594001 if abs_tick & 0x1 else 0x100000000000000000000000000000000
    for bit, magic in enumerate(_MAGIC, start=1):
        if abs_tick & (1 << bit):
            ratio = (ratio * magic) >> 128
    if tick > 0:
        ratio = (2**256 - 1) // ratio
    return (ratio >> 32) + (0 if ratio % (1 << 32) == 0 else 1)


def get_tick_at_sqrt_ratio(sqrt_price_x96: int) -> int:
    """``TickMath.getTickAtSqrtRatio``: the greatest tick whose ratio is ``<= sqrt_price_x96``.

    Raises:
        ValueError: ``'R'`` (the contract's revert string) outside ``[MIN_SQRT_RATIO, MAX_SQRT_RATIO)``.
    """
    if not MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO:
        raise ValueError("R")
    lo, hi = MIN_TICK, MAX_TICK  # invariant: ratio(lo) <= sqrt_price_x96 < ratio(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if get_sqrt_ratio_at_tick(mid) <= sqrt_price_x96:
            lo = mid
        else:
            hi = mid
    return lo


def raw_price(usd_per_btc: float | Fraction, usdc_is_token0: bool, usdc_decimals: int = 6,
              wbtc_decimals: int = 8) -> Fraction:
    """token1 base units per token0 base unit of a USDC/WBTC pool at ``usd_per_btc`` (exact).

    ``float`` prices are taken at their decimal value (``2500.1`` is 25001/10).
    """
    price = Fraction(str(usd_per_btc)) if isinstance(usd_per_btc, float) else Fraction(usd_per_btc)
    if price <= 0:
        raise ValueError(f"price {usd_per_btc} must be positive")
    usdc_per_wbtc_unit = price * 10**usdc_decimals / 10**wbtc_decimals
    return 1 / usdc_per_wbtc_unit if usdc_is_token0 else usdc_per_wbtc_unit


def sqrt_price_x96(price: Fraction) -> int:
    """``floor(sqrt(price) * 2**96)`` for a raw token1/token0 ``price`` (what ``initialize`` takes)."""
    return isqrt(price.numerator * 2**192 // price.denominator)


def human_price(sqrt_price: int, usdc_is_token0: bool, usdc_decimals: int = 6, wbtc_decimals: int = 8) -> Fraction:
    """USD per BTC of a USDC/WBTC pool's ``sqrtPriceX96`` (the inverse of :func:`raw_price`)."""
    raw = Fraction(sqrt_price * sqrt_price, 2**192)
    usdc_per_wbtc_unit = 1 / raw if usdc_is_token0 else raw
    return usdc_per_wbtc_unit * 10**wbtc_decimals / 10**usdc_decimals


def nearest_usable_tick(tick: int, spacing: int) -> int:
    """The multiple of ``spacing`` nearest to ``tick`` inside ``[MIN_TICK, MAX_TICK]`` (ties round up)."""
    rounded = (tick + spacing // 2) // spacing * spacing
    if rounded < MIN_TICK:
        return rounded + spacing
    if rounded > MAX_TICK:
        return rounded - spacing
    return rounded
