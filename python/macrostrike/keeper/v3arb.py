"""V2↔V3 opportunities for the arbitrage job: a Uniswap V2 pair of the AMM diamond against the
system's Uniswap V3 pool (``VenueArbitrageFacet.executeV3Arbitrage``).

The V3 leg is priced with the protocol's own ``QuoterV2`` (:class:`macrostrike.amm.v3.V3Quoter`,
``eth_call`` batches: a quote is exactly what the pool's ``swap`` returns, tick crossings included);
the V2 leg with ``UniswapV2Library.getAmountOut`` (:mod:`macrostrike.amm.v2math`).

Optimal amount: the round trip's profit ``f(x) = out(x) − x`` is concave in the input ``x`` (each
leg's output is concave in its input: constant product, and V3's piecewise constant-product between
ticks with fees on the input), so a bounded search finds its maximum with a fixed number of quotes
in two JSON-RPC batches: :data:`GRID` points on a geometric grid ``upper / 2**i`` bracket the optimum
between the best point's neighbours, then :data:`REFINE` evenly spaced points inside the bracket.
The best point found (never a point not quoted) is the decision; the contract's ``minProfit`` and the
keeper's ``eth_call`` simulation check it again. A direction is searched only when the two venues'
marginal prices differ by more than both fees (V2 0.3 %, the V3 pool's fee tier), so a balanced
market costs one ``slot0`` read and no quote.

Units: token base units (USDC 6 decimals, WBTC 8 decimals); reserves ``(quote, base)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector

from macrostrike.amm.v2math import FEE_DEN, FEE_NUM, get_amount_out
from macrostrike.amm.v3 import V3Quoter

EXECUTE_V3 = function_signature_to_4byte_selector("executeV3Arbitrage(uint256,bool,bool,uint256,uint256)")
SLOT0 = function_signature_to_4byte_selector("slot0()")
#: Geometric grid points (``upper``, ``upper/2``, … ``upper/2**(GRID-1)``) of the first batch.
GRID = 12
#: Evenly spaced points between the best grid point's neighbours, second batch.
REFINE = 8
#: Venue labels in decisions and reports: DEX A and B (Uniswap V2), DEX C (the Uniswap V3 pool).
V2_LABELS = ("A", "B")
V3_LABEL = "C"


@dataclass(frozen=True)
class V3Venue:
    """The system's V3 pool as the keeper trades it (from the manifest's ``venues.uniswap_v3``).

    Attributes:
        pool: the pool address; fee: its fee tier (hundredths of a bip); usdc, wbtc: token addresses;
        usdc_is_token0: token order of the pool; quoter: a :class:`V3Quoter` on the manifest's QuoterV2.
    """

    pool: str
    fee: int
    usdc: str
    wbtc: str
    usdc_is_token0: bool
    quoter: V3Quoter

    @classmethod
    def from_manifest(cls, web3: Any, manifest: Any) -> V3Venue | None:
        """The manifest's V3 venue, or None on a system deployed without one (or without the facet)."""
        v3 = manifest.venues.get("uniswap_v3")
        facets = manifest.diamonds.get("amm", {}).get("facets", {})
        if not v3 or "VenueArbitrageFacet" not in facets:
            return None
        [(key, pool)] = list(v3["pools"].items())[:1]
        usdc, wbtc = manifest.address("usdc"), manifest.address("wbtc")
        return cls(pool=pool, fee=int(key.rsplit("/", 1)[1]), usdc=usdc, wbtc=wbtc,
                   usdc_is_token0=int(usdc, 16) < int(wbtc, 16), quoter=V3Quoter(web3, v3["quoter"]))

    def price(self, web3: Any) -> Fraction:
        """The pool's marginal price, USDC base units per WBTC base unit (from ``slot0().sqrtPriceX96``)."""
        sqrt_price = decode(["uint160"], bytes(web3.eth.call({"to": self.pool, "data": SLOT0}))[:32])[0]
        raw = Fraction(sqrt_price * sqrt_price, 2**192)  # token1 per token0
        return 1 / raw if self.usdc_is_token0 else raw


@dataclass(frozen=True)
class V3Opportunity:
    """The best V2↔V3 round trip found: buy base on the V2 pair (``buy_on_v2``) or on the V3 pool.

    Attributes:
        on_pair_a: the V2 leg is DEX A's pair (else DEX B's); amount_in: quote spent;
        base_amount: base bought on the first venue; amount_out: quote back; gross: out − in;
        quotes: quotes spent finding it.
    """

    on_pair_a: bool
    buy_on_v2: bool
    amount_in: int
    base_amount: int
    amount_out: int
    gross: int
    quotes: int

    @property
    def venues(self) -> str:
        """``"A-C"``: bought on A, sold on C (labels :data:`V2_LABELS`, :data:`V3_LABEL`)."""
        v2 = V2_LABELS[0 if self.on_pair_a else 1]
        return f"{v2}-{V3_LABEL}" if self.buy_on_v2 else f"{V3_LABEL}-{v2}"

    def calldata(self, bot_id: int, amount_in: int, min_profit: int) -> bytes:
        """``executeV3Arbitrage(botId, onPairA, buyOnV2, amountIn, minProfit)``."""
        return EXECUTE_V3 + encode(["uint256", "bool", "bool", "uint256", "uint256"],
                                   [bot_id, self.on_pair_a, self.buy_on_v2, amount_in, min_profit])

    def pair_after(self, amount_in: int, reserves: tuple[int, int]) -> tuple[int, int]:
        """The V2 pair's ``(quote, base)`` reserves after this trade with ``amount_in`` (the V3 leg's base
        scaled from the quoted amount when ``amount_in`` is not the quoted one)."""
        q, b = reserves
        if self.buy_on_v2:
            out = get_amount_out(amount_in, q, b)
            return q + amount_in, b - out
        base = self.base_amount * amount_in // self.amount_in
        return q - get_amount_out(base, b, q), b + base


def direction(v2_price: Fraction, v3_price: Fraction, fee: int) -> bool | None:
    """True: buy base on V2 and sell on V3; False: the reverse; None: the gap is within both fees.

    Args:
        v2_price, v3_price: marginal prices, quote per base (base units).
        fee: the V3 pool's fee tier (hundredths of a bip).
    """
    keep = Fraction(FEE_NUM, FEE_DEN) * Fraction(1_000_000 - fee, 1_000_000)  # what both fees leave
    if v3_price * keep > v2_price:
        return True
    if v2_price * keep > v3_price:
        return False
    return None


def search(venue: V3Venue, reserves: tuple[int, int], on_pair_a: bool, buy_on_v2: bool, upper: int,
           block: str | int = "latest") -> V3Opportunity | None:
    """The best round trip of at most ``upper`` quote between a V2 pair and the V3 pool (module docstring).

    Args:
        venue: the V3 pool; reserves: the V2 pair's ``(quote, base)``; on_pair_a: which V2 pair;
        buy_on_v2: the direction (:func:`direction`); upper: the most quote a bot can spend.
        block: the block the quotes read.

    Returns:
        The best opportunity with a positive gross profit, or None.
    """
    if upper <= 0:
        return None
    grid = sorted({max(1, upper >> i) for i in range(GRID)})
    results = _round_trips(venue, reserves, buy_on_v2, grid, block)
    best = max(range(len(grid)), key=lambda i: results[i][1] - grid[i])
    low = grid[best - 1] if best > 0 else 0
    high = grid[best + 1] if best + 1 < len(grid) else upper
    step = (high - low) // (REFINE + 1)
    refine = sorted({low + step * (i + 1) for i in range(REFINE)} - set(grid) - {0}) if step > 0 else []
    if refine:
        grid, results = grid + refine, results + _round_trips(venue, reserves, buy_on_v2, refine, block)
    i = max(range(len(grid)), key=lambda j: results[j][1] - grid[j])
    gross = results[i][1] - grid[i]
    if gross <= 0:
        return None
    return V3Opportunity(on_pair_a, buy_on_v2, grid[i], results[i][0], results[i][1], gross, len(grid))


def _round_trips(venue: V3Venue, reserves: tuple[int, int], buy_on_v2: bool, amounts: list[int],
                 block: str | int) -> list[tuple[int, int]]:
    """``(base bought, quote back)`` per input amount; one QuoterV2 batch (a reverted quote gives 0 out)."""
    q, b = reserves
    if buy_on_v2:
        bases = [get_amount_out(x, q, b) for x in amounts]
        quotes = venue.quoter.quote_exact_input_single(venue.wbtc, venue.usdc, venue.fee, bases, block)
        return [(base, quote.amount_out) for base, quote in zip(bases, quotes, strict=True)]
    quotes = venue.quoter.quote_exact_input_single(venue.usdc, venue.wbtc, venue.fee, amounts, block)
    return [(quote.amount_out, get_amount_out(quote.amount_out, b, q) if quote.amount_out else 0) for quote in quotes]


def best_v3(venue: V3Venue, web3: Any, reserves_a: tuple[int, int], reserves_b: tuple[int, int],
            upper: int, v3_price: Fraction | None = None) -> V3Opportunity | None:
    """The best V2↔V3 round trip against the V2 pair whose price is furthest from the V3 pool's.

    One ``slot0`` read (none when ``v3_price`` is given); quotes (two batches) only when that gap
    exceeds both fees.
    """
    v3_price = venue.price(web3) if v3_price is None else v3_price
    gaps = []
    for on_a, (q, b) in ((True, reserves_a), (False, reserves_b)):
        if q == 0 or b == 0:  # no such pair (one V2 DEX) or an empty one
            continue
        v2_price = Fraction(q, b)
        side = direction(v2_price, v3_price, venue.fee)
        if side is not None:
            gaps.append((abs(v2_price - v3_price), on_a, side, (q, b)))
    if not gaps:
        return None
    _, on_a, side, reserves = max(gaps, key=lambda g: g[0])
    return search(venue, reserves, on_a, side, upper)
