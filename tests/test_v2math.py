"""Uniswap V2 maths: library parity, arbitrage optimality, moving a pool to a price. Chain-free.

Reserves are drawn in realistic ranges: quote (USDC, 6 decimals) 1e9..1e14 units ($1k..$100M),
base (WBTC, 8 decimals) 1e6..1e11 units (0.01..1000 BTC).
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from macrostrike.amm import v2math
from macrostrike.amm.v2math import (amount_to_price, arbitrage_profit, best_arbitrage, get_amount_in,
                                    get_amount_out, optimal_arbitrage, price)

QUOTE = st.integers(10**9, 10**14)
BASE = st.integers(10**6, 10**11)
POOL = st.tuples(QUOTE, BASE)
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GAMMA = Fraction(997, 1000)


def _ref_get_amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """UniswapV2Library.getAmountOut transcribed literally."""
    amount_in_with_fee = amount_in * 997
    return amount_in_with_fee * reserve_out // (reserve_in * 1000 + amount_in_with_fee)


def _sell_pool(buy: tuple[int, int], base: int, ratio: Fraction) -> tuple[int, int]:
    """A pool with ``base`` base units priced at ``ratio`` × the price of ``buy``."""
    quote = int(Fraction(buy[0], buy[1]) * ratio * base)
    return quote, base


# -- library parity --------------------------------------------------------------------------------------
def test_known_values():
    # 1,000 USDC into a 1,000,000 USDC / 20 WBTC pool.
    assert get_amount_out(1_000 * 10**6, 10**12, 20 * 10**8) == 1_992_013
    # 10^12·1,992,013·1000 // ((2·10^9 − 1,992,013)·997) + 1
    assert get_amount_in(1_992_013, 10**12, 20 * 10**8) == 999_999_517
    assert get_amount_out(999_999_517, 10**12, 20 * 10**8) == 1_992_013
    assert get_amount_out(999_999_516, 10**12, 20 * 10**8) == 1_992_012


@FAST
@given(st.integers(1, 10**14), QUOTE, BASE)
def test_get_amount_out_matches_library_and_is_below_no_fee(amount_in, reserve_in, reserve_out):
    out = get_amount_out(amount_in, reserve_in, reserve_out)
    assert out == _ref_get_amount_out(amount_in, reserve_in, reserve_out)
    no_fee = Fraction(amount_in * reserve_out, reserve_in + amount_in)
    assert out <= no_fee and out < reserve_out
    # the pair's invariant with the fee (whitepaper §3.2.1) holds after the swap
    assert (reserve_in * 1000 + amount_in * 997) * (reserve_out - out) >= reserve_in * reserve_out * 1000


@FAST
@given(st.integers(1, 10**13), st.integers(1, 10**12), QUOTE, BASE)
def test_get_amount_out_monotone(amount_in, extra, reserve_in, reserve_out):
    assert get_amount_out(amount_in + extra, reserve_in, reserve_out) >= get_amount_out(amount_in, reserve_in, reserve_out)


@FAST
@given(QUOTE, BASE, st.data())
def test_get_amount_in_is_sufficient_and_at_most_one_over(reserve_in, reserve_out, draw):
    amount_out = draw.draw(st.integers(1, reserve_out - 1))
    amount_in = get_amount_in(amount_out, reserve_in, reserve_out)
    assert get_amount_out(amount_in, reserve_in, reserve_out) >= amount_out
    # the true minimum is amount_in or amount_in - 1 (the library always adds 1)
    assert amount_in - 2 <= 0 or get_amount_out(amount_in - 2, reserve_in, reserve_out) < amount_out


@pytest.mark.parametrize("call, reason", [
    (lambda: get_amount_out(0, 10, 10), "INSUFFICIENT_INPUT_AMOUNT"),
    (lambda: get_amount_out(-5, 10, 10), "INSUFFICIENT_INPUT_AMOUNT"),
    (lambda: get_amount_out(1, 0, 10), "INSUFFICIENT_LIQUIDITY"),
    (lambda: get_amount_out(1, 10, 0), "INSUFFICIENT_LIQUIDITY"),
    (lambda: get_amount_out(2**250, 10, 10), "ds-math-mul-overflow"),
    (lambda: get_amount_in(0, 10, 10), "INSUFFICIENT_OUTPUT_AMOUNT"),
    (lambda: get_amount_in(1, 0, 10), "INSUFFICIENT_LIQUIDITY"),
    (lambda: get_amount_in(11, 10, 10), "ds-math-sub-underflow"),
    (lambda: get_amount_in(10, 10, 10), "division by zero"),
    (lambda: arbitrage_profit(0, (10**12, 10**8), (10**12, 10**8)), "INSUFFICIENT_INPUT_AMOUNT"),
    (lambda: arbitrage_profit(1, (10**12, 10**8), (10**12, 10**8)), "INSUFFICIENT_INPUT_AMOUNT"),  # 0 base out
    (lambda: optimal_arbitrage((0, 10**8), (10**12, 10**8)), "INSUFFICIENT_LIQUIDITY"),
    (lambda: best_arbitrage((10**12, -1), (10**12, 10**8)), "INSUFFICIENT_LIQUIDITY"),
    (lambda: optimal_arbitrage((10**12,), (10**12, 10**8)), "pair"),
    (lambda: amount_to_price((10**12, 10**8), 0.0), "positive"),
    (lambda: amount_to_price((10**12, 10**8), -1), "positive"),
    (lambda: amount_to_price((10**12, 10**8), float("nan")), "finite"),
    (lambda: amount_to_price((10**12, 10**8), float("inf")), "finite"),
    (lambda: amount_to_price((10**12, 10**8), 1e40), "uint112"),
    (lambda: amount_to_price((0, 10**8), 100.0), "INSUFFICIENT_LIQUIDITY"),
    (lambda: price((10**12, 0)), "INSUFFICIENT_LIQUIDITY"),
])
def test_invalid_inputs_raise_value_error(call, reason):
    with pytest.raises(ValueError, match=reason):
        call()


def test_non_integer_amounts_are_type_errors():
    with pytest.raises(TypeError):
        get_amount_out(1.5, 10, 10)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        optimal_arbitrage((1e12, 10**8), (10**12, 10**8))  # type: ignore[arg-type]


# -- arbitrage -----------------------------------------------------------------------------------------
@FAST
@given(st.integers(1, 10**13), POOL, POOL)
def test_arbitrage_profit_is_two_library_legs(amount_in, buy, sell):
    base = _ref_get_amount_out(amount_in, buy[0], buy[1])
    assume(base > 0)
    assert arbitrage_profit(amount_in, buy, sell) == _ref_get_amount_out(base, sell[1], sell[0]) - amount_in


def _assert_local_optimum(buy, sell, amount, profit):
    assert profit == arbitrage_profit(amount, buy, sell) > 0
    for other in {amount - 1, amount + 1, amount * 99 // 100, amount * 101 // 100, amount // 2, amount * 2}:
        if other <= 0:
            continue
        try:
            assert arbitrage_profit(other, buy, sell) <= profit, other
        except ValueError:  # first leg yields no base: the round trip reverts, so it is no better
            pass


@FAST
@given(POOL, BASE, st.fractions(Fraction(1007, 1000), Fraction(13, 10)))
def test_optimum_beats_neighbours(buy, sell_base, ratio):
    sell = _sell_pool(buy, sell_base, ratio)
    assume(sell[0] > 0)
    amount, profit = optimal_arbitrage(buy, sell)
    if amount == 0:  # a gap just above the fee band can still be too small for one unit of profit
        assert profit == 0 and v2math._profit_ceiling(*buy, *sell) <= 1
        return
    _assert_local_optimum(buy, sell, amount, profit)
    assert profit <= v2math._profit_ceiling(*buy, *sell)


def test_optimum_is_exact_on_small_pools():
    """Exhaustive check on pools small enough to try every input."""
    pools = [((50_000, 7_000), (80_000, 9_000)), ((3_000, 90_000), (2_000, 40_000)),
             ((120_000, 1_000), (99_000, 700)), ((10_000, 10_000), (10_500, 10_000))]
    for buy, sell in pools:
        best = max((arbitrage_profit(x, buy, sell), -x) for x in range(1, 2 * buy[0])
                   if _ref_get_amount_out(x, *buy) > 0)
        amount, profit = optimal_arbitrage(buy, sell)
        assert profit == max(best[0], 0)
        if profit:
            assert arbitrage_profit(amount, buy, sell) == profit


@FAST
@given(POOL, BASE, st.fractions(Fraction(1000, 1000), Fraction(994009, 1000000) ** -1))
def test_no_trade_inside_fee_band(buy, sell_base, ratio):
    """Sell price / buy price ≤ 1/γ² (≈ 1.00602): two 0.3% fees eat any gap; equal prices included."""
    sell = _sell_pool(buy, sell_base, ratio)
    assume(sell[0] > 0)
    assert optimal_arbitrage(buy, sell) == (0, 0)
    assert optimal_arbitrage(sell, buy) == (0, 0)   # the reverse buys dear and sells cheap
    assert optimal_arbitrage(buy, buy) == (0, 0)


@FAST
@given(POOL, BASE, st.fractions(Fraction(101, 100), Fraction(12, 10)), st.booleans())
def test_best_arbitrage_picks_the_cheap_pool(cheap, other_base, ratio, cheap_is_a):
    dear = _sell_pool(cheap, other_base, ratio)
    assume(dear[0] > 0)
    a, b = (cheap, dear) if cheap_is_a else (dear, cheap)
    buy_on_a, amount, profit = best_arbitrage(a, b)
    assert buy_on_a == cheap_is_a
    assert (amount, profit) == optimal_arbitrage(cheap, dear)


def test_best_arbitrage_none():
    assert best_arbitrage((10**12, 10**8), (10**12, 10**8)) == (True, 0, 0)


def test_realistic_gap():
    """$5M pools at $60,000 and $60,600 (1% apart, 0.4% left after two fees): matches the closed form."""
    buy = (5_000_000 * 10**6, Fraction(5_000_000, 60_000) * 10**8)
    sell = (5_000_000 * 10**6, Fraction(5_000_000, 60_600) * 10**8)
    buy, sell = (buy[0], int(buy[1])), (sell[0], int(sell[1]))
    amount, profit = optimal_arbitrage(buy, sell)
    _assert_local_optimum(buy, sell, amount, profit)
    # real-valued closed form (floats): x* = (√(Ea·Eb·γ) − Ea)/γ ≈ 4,929.159483 USDC,
    # profit* = (√Eb − √(Ea/γ))² ≈ 9.723257 USDC; the integer optimum takes the floor of profit*
    assert profit == 9_723_257 == v2math._profit_ceiling(*buy, *sell)
    assert abs(amount - 4_929_159_483) < 50_000   # within $0.05 of x* on a flat optimum


# -- moving a pool to a price ------------------------------------------------------------------------------
def _swap(reserves: tuple[int, int], direction: str, amount: int) -> tuple[int, int]:
    """Reserves after a Router02 swapExactTokensForTokens of ``amount`` (integer, as on chain)."""
    q, b = reserves
    if amount == 0:
        return q, b
    if direction == "quote_in":
        return q + amount, b - get_amount_out(amount, q, b)
    return q - get_amount_out(amount, b, q), b + amount


@settings(max_examples=300, deadline=None)
@given(POOL, st.floats(0.5, 2.0))
def test_amount_to_price_reaches_target(reserves, factor):
    target = price(reserves) * factor
    direction, amount = amount_to_price(reserves, target)
    t = Fraction(target) * Fraction(10**6, 10**8)            # target in base units (quote per base)
    after = _swap(reserves, direction, amount)
    ratio = Fraction(after[0], after[1])
    # at or short of the target, never past it; one more unit would pass it
    if direction == "quote_in":
        assert Fraction(*reserves) <= t and ratio <= t
        nxt = _swap(reserves, direction, amount + 1)
        assert Fraction(*nxt) > t
    else:
        assert Fraction(*reserves) > t and ratio >= t
        nxt = _swap(reserves, direction, amount + 1)
        assert Fraction(*nxt) < t
    # tight: within ~one unit's price step of the target
    assert abs(ratio - t) / t <= Fraction(3, after[0]) + Fraction(3, after[1])
    assert abs(price(after) / target - 1) < 1e-5


def test_amount_to_price_at_target_and_known_case():
    reserves = (6_000_000 * 10**6, 100 * 10**8)   # $60,000
    assert amount_to_price(reserves, 60_000.0) == ("quote_in", 0)
    assert amount_to_price(reserves, Fraction(60_000)) == ("quote_in", 0)
    direction, amount = amount_to_price(reserves, 60_600.0)
    assert direction == "quote_in"
    # real-valued: (q + x)(1000q + 997x) = 1000·q·b·t  →  x ≈ $29,940 + fee effects
    assert 29_900 * 10**6 < amount < 30_100 * 10**6
    assert abs(price(_swap(reserves, direction, amount)) - 60_600) < 0.01
    direction, amount = amount_to_price(reserves, 59_400.0)
    assert direction == "base_in" and abs(price(_swap(reserves, direction, amount)) - 59_400) < 0.01


def test_amount_to_price_other_decimals():
    reserves = (10**24, 10**20)   # 18/18 decimals, price 10,000
    direction, amount = amount_to_price(reserves, 10_100, quote_decimals=18, base_decimals=18)
    after = _swap(reserves, direction, amount)
    assert direction == "quote_in" and abs(price(after, 18, 18) - 10_100) < 1e-6


def test_price_human_units():
    assert price((6_000_000 * 10**6, 100 * 10**8)) == 60_000.0
    assert price((10**6, 10**8)) == 1.0
    assert price((3 * 10**18, 10**18), 18, 18) == 3.0
