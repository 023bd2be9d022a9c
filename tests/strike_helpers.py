"""Helpers for the strike facet tests: a small deployed system with long and short bots on the real
Aave V3 market, handles to its facets, exact oracle and pool prices, Uniswap V2 maths."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from macrostrike.deploy import aave, venues
from macrostrike.deploy.system import STRIKE_FACETS, DeployConfig, deploy_system
from macrostrike.keeper.context import diamond_at
from revert_helpers import reverts_named  # noqa: F401 - re-exported for the strike tests

#: Seed price of the pools and of Aave's WBTC feed (USD per BTC).
PRICE = 30_000
USD = 10**6
BTC = 10**8
E8 = 10**8
WAD = 10**18
BPS = 10_000
DAY = 86_400
#: Rules tuple order: (maxLeverageBps, stopLossBps, minHealthFactor, maxHoldSeconds, slippageBps,
#: minPoolQuote, maxPoolQuote) — LibStrike.Rules.
DEFAULT_RULES = (50_000, 250, 115 * 10**16, 7 * DAY, 100, 0, 2**256 - 1)
KIND_EXPIRY, KIND_STOP_LOSS, KIND_DELEVERAGE, KIND_TAKE_PROFIT = 1, 2, 3, 4


def strike_config(accounts: Any) -> DeployConfig:
    """3 long and 3 short bots with $2,000 each, one AMM bot, $2M per pool, BTC at $30,000, every
    rule at the contract's defaults (slippage 100 bps)."""
    return DeployConfig(amm_bots=1, long_bots=3, short_bots=3, pool_usd=2_000_000, capital_per_bot_usd=2_000,
                        initial_price_usd=PRICE, treasury_reserve_usd=1_000, strike_slippage_bps=100,
                        keepers=(str(accounts[1].address),))


@dataclass
class Strike:
    """Handles of the deployed system (facets at the diamonds, tokens, pair, Aave market)."""

    project: Any
    system: Any
    owner: Any
    keeper: Any

    def __post_init__(self) -> None:
        c, m = self.system.contracts, self.system.manifest
        self.usdc, self.wbtc = c["usdc"], c["wbtc"]
        self.market: aave.AaveMarket = c["aave_market"]
        self.pair = venues.at("UniswapV2Pair", str(c["dex_a_pair"].address))
        self.master = m.address("master")
        self.addr = {"long": m.address("long"), "short": m.address("short")}

    def facet(self, side: str, name: str | None = None) -> Any:
        """Facet ``name`` at the ``side`` child; by default the strike child's merged handle
        (StrikeFacet + StrikeConfigFacet + StrikePositionsFacet)."""
        if name is None:
            return diamond_at(self.project, self.addr[side], *STRIKE_FACETS)
        return getattr(self.project, name).at(self.addr[side])

    def capital(self, side: str, bot: int) -> int:
        return int(self.facet(side, "BotRegistryFacet").bot(bot)[1])

    # -- prices -------------------------------------------------------------------------------
    def oracle_price(self) -> int:
        """AaveOracle WBTC price (USD, 8 decimals)."""
        return int(self.market.oracle_contract().getAssetPrice(str(self.wbtc.address)))

    def set_oracle(self, price_e8: int) -> None:
        """Sets Aave's WBTC feed to exactly ``price_e8`` (USD, 8 decimals)."""
        aave.set_price(self.market, "WBTC", Decimal(price_e8) / E8)

    def reserves(self) -> tuple[int, int]:
        """(USDC reserve, WBTC reserve) of the pair."""
        r0, r1, _ = self.pair.getReserves()
        return (int(r0), int(r1)) if str(self.pair.token0()) == str(self.usdc.address) else (int(r1), int(r0))

    def set_pool_price(self, price_e8: int) -> None:
        """Moves the pair to ``price_e8`` by minting the missing side into it and calling sync()."""
        rq, ra = self.reserves()
        # rq / ra (base units) = price_e8 * 1e6 / (1e8 * 1e8)
        want_q = ra * price_e8 * USD // (E8 * BTC)
        if want_q > rq:
            self.usdc.mint(self.pair.address, want_q - rq, sender=self.owner)
        else:
            want_a = rq * E8 * BTC // (price_e8 * USD)
            if want_a > ra:
                self.wbtc.mint(self.pair.address, want_a - ra, sender=self.owner)
        self.pair.sync(sender=self.owner)

    def move_price(self, price_e8: int) -> None:
        """Oracle and pool to ``price_e8`` (the replay moves both)."""
        self.set_pool_price(price_e8)
        self.set_oracle(price_e8)

    def set_rules(self, side: str, bot: int, **changes: int) -> tuple:
        names = ("maxLeverageBps", "stopLossBps", "minHealthFactor", "maxHoldSeconds", "slippageBps",
                 "minPoolQuote", "maxPoolQuote")
        rules = dict(zip(names, DEFAULT_RULES))
        rules.update(changes)
        value = tuple(rules[n] for n in names)
        self.facet(side).setRules(bot, value, sender=self.owner)
        return value


def deploy_strike(project: Any, accounts: Any) -> Strike:
    system = deploy_system(accounts[0], strike_config(accounts))
    return Strike(project, system, accounts[0], accounts[1])


def amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """UniswapV2Library.getAmountOut (0.3 % fee)."""
    fee_in = amount_in * 997
    return fee_in * reserve_out // (reserve_in * 1000 + fee_in)


def min_out_buy(quote_in: int, price_e8: int, slippage_bps: int, quote_price_e8: int = E8) -> int:
    """StrikeFacet's minimum asset out for ``quote_in`` (USDC 6 dec → WBTC 8 dec), same roundings."""
    expected = quote_in * quote_price_e8 * BTC // (price_e8 * USD)
    return expected * (BPS - slippage_bps) // BPS


def move_pool_to(system: Any, owner: Any, price: float, role: str = "dex_a_pair") -> None:
    """Swap directly on pair ``role`` (a deployed system's Uniswap V2 pair) until its marginal price
    is ``price`` (USD per BTC)."""
    from macrostrike.amm.v2math import amount_to_price

    c = system.contracts
    pair = c[role]
    q_is_0 = pair.token0() == c["usdc"].address
    r0, r1, _ = pair.getReserves()
    q, b = (r0, r1) if q_is_0 else (r1, r0)
    direction, amount = amount_to_price((q, b), price)
    if amount <= 0:
        return
    if direction == "quote_in":
        out = amount * 997 * b // (q * 1000 + amount * 997)
        c["usdc"].mint(pair.address, amount, sender=owner)
        pair.swap(0 if q_is_0 else out, out if q_is_0 else 0, owner.address, b"", sender=owner)
    else:
        out = amount * 997 * q // (b * 1000 + amount * 997)
        c["wbtc"].mint(pair.address, amount, sender=owner)
        pair.swap(out if q_is_0 else 0, 0 if q_is_0 else out, owner.address, b"", sender=owner)


def position_state(project: Any, system: Any, side: str, bot_id: int) -> Any:
    """``positionState(botId)`` of the ``side`` strike diamond as a keeper :class:`Position`."""
    from macrostrike.keeper.strike import Position

    return Position(*project.StrikeConfigFacet.at(system.manifest.address(side)).positionState(bot_id))
