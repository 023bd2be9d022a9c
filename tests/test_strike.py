"""StrikeFacet on the real Aave V3 market and Uniswap V2 pair of a deployed system: leveraged long and
short positions (open, increase, decrease, close), each rule at its exact threshold and one unit
before it (leverage, stop-loss, hold time, liquidity band, slippage), the take-profit ladder's first
stage, emergency deleverage, the master's breaker, exitAll, and a re-entrancy attempt through a token
with a transfer hook.

Prices: the Aave oracle's (USD, 8 decimals) drive the rules; tests move the oracle and the pool
together (as the replay does) unless a test is about their divergence.
"""

from decimal import Decimal

import pytest

from strike_helpers import (BPS, BTC, DEFAULT_RULES, E8, KIND_DELEVERAGE, KIND_EXPIRY, KIND_STOP_LOSS,
                            KIND_TAKE_PROFIT, PRICE, USD, WAD, amount_out, deploy_strike, min_out_buy,
                            reverts_named)

P0 = PRICE * E8
MARGIN = 500 * USD


@pytest.fixture(scope="module")
def s(project, accounts, owner, keeper, stranger):
    return deploy_strike(project, accounts)


def deadline(chain):
    return chain.pending_timestamp + 3_600


def open_(s, chain, side, bot, margin=MARGIN, lev=20_000):
    return s.facet(side).openPosition(bot, margin, lev, deadline(chain), sender=s.keeper)


def events(receipt, facet, name):
    return list(receipt.decode_logs(getattr(facet, name)))


# -- configuration --------------------------------------------------------------------------------
def test_deployed_config(s):
    for side, is_long in (("long", True), ("short", False)):
        cfg = s.facet(side).strikeConfig()
        assert cfg.isLong is is_long
        assert cfg.pool == s.market.pool and cfg.oracle == s.market.oracle
        assert cfg.asset == s.wbtc.address and cfg.quote == s.usdc.address and cfg.pair == s.pair.address
        assert tuple(s.facet(side).rules(1)) == DEFAULT_RULES


# -- open / close with PnL -----------------------------------------------------------------------
@pytest.mark.parametrize("side", ["long", "short"])
@pytest.mark.parametrize("move_bps", [200, -200])
def test_open_2x_close_pnl_follows_price(s, chain, side, move_bps):
    f = s.facet(side)
    capital0 = s.capital(side, 1)
    equity0 = s.facet(side, "ChildCoordinationFacet").equity()
    r = open_(s, chain, side, 1)
    ev = events(r, f, "PositionOpened")[0]
    assert (ev.botId, ev.margin, ev.leverageBps, ev.entryPrice) == (1, MARGIN, 20_000, P0)
    assert s.capital(side, 1) == capital0 - MARGIN
    st = f.positionState(1)
    assert st.open and st.entryPrice == P0 and st.tpStage == 0
    # 2x: exposure = 2 x margin. Long: WBTC collateral ~ $1,000, USDC debt $500.
    # Short: USDC collateral ~ $1,500, WBTC debt ~ $1,000.
    coll, debt = (1_000, 500) if side == "long" else (1_500, 1_000)
    assert abs(st.collateralBase - coll * E8) < coll * E8 * 60 // BPS
    assert abs(st.debtBase - debt * E8) < debt * E8 * 10 // BPS
    # the child's equity still counts the position (less swap fees)
    assert abs(s.facet(side, "ChildCoordinationFacet").equity() - equity0) < MARGIN * 100 // BPS
    # a second bot's holder is separate and empty
    assert s.facet(side, "StrikePositionsFacet").positionHolderOf(2) != f.positionState(1) and \
        f.positionState(2).collateralBase == 0

    s.move_price(P0 * (BPS + move_bps) // BPS)
    r = f.closePosition(1, deadline(chain), sender=s.keeper)
    closed = events(r, f, "PositionClosed")[0]
    favourable = (move_bps > 0) == (side == "long")
    assert (closed.pnl > 0) == favourable, closed
    # 2x on a 2 % move: about ±4 % of the margin, less ~0.6 % round-trip fees
    expected = MARGIN * 2 * abs(move_bps) // BPS
    assert abs(abs(closed.pnl) - expected) < MARGIN * 150 // BPS
    assert closed.returned == s.capital(side, 1) - (capital0 - MARGIN)
    assert not f.position(1).open and f.positionState(1).collateralBase == 0 and f.positionState(1).debtBase == 0
    trades, wins, losses, pnl, _ = s.facet(side, "PerformanceFacet").botStats(1)
    assert trades == 1 and pnl == closed.pnl and (wins, losses) == ((1, 0) if favourable else (0, 1))
    assert list(f.openPositionIds()) == []
