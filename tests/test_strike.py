"""StrikeFacet on the real Aave V3 market and Uniswap V2 pair of a deployed system: leveraged long and
short positions (open, increase, decrease, close), each rule at its exact threshold and one unit
before it (leverage, stop-loss, hold time, liquidity band, slippage), the take-profit ladder's first
stage, emergency deleverage, the master's breaker, exitAll, and a re-entrancy attempt through a token
with a transfer hook.

Prices: the Aave oracle's (USD, 8 decimals) drive the rules; tests move the oracle and the pool
together (as the replay does) unless a test is about their divergence.
"""


import pytest
from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector
from web3.exceptions import ContractCustomError

from macrostrike.deploy import aave, venues
from macrostrike.deploy import cuts as cutlib
from macrostrike.deploy.system import CHILDREN, STRIKE_FACETS
from macrostrike.keeper.context import diamond_at
from strike_helpers import (BPS, BTC, DEFAULT_RULES, E8, KIND_DELEVERAGE, KIND_EXPIRY, KIND_STOP_LOSS,
                            KIND_TAKE_PROFIT, PRICE, USD, WAD, amount_out, deploy_strike, min_out_buy,
                            reverts_named)

#: ~45 s on the 2-core machine (deploy with the Aave market, 24 tests, a second market for the hook test)
pytestmark = pytest.mark.slow

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
    positions = s.facet(side, "StrikePositionsFacet")
    holder1 = positions.positionHolderOf(1)
    assert int(holder1, 16) != 0 and holder1 == ev.holder == positions.predictPositionHolder(1)
    assert positions.predictPositionHolder(2) != holder1 and f.positionState(2).collateralBase == 0

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


# -- leverage ------------------------------------------------------------------------------------
@pytest.mark.parametrize("side", ["long", "short"])
def test_leverage_at_max_ok_one_above_reverts(s, chain, side):
    s.set_rules(side, 1, maxLeverageBps=20_000)
    with reverts_named("LeverageAboveMax") as info:
        open_(s, chain, side, 1, lev=20_001)
    assert info.value.inputs == {"leverageBps": 20_001, "maxLeverageBps": 20_000}
    open_(s, chain, side, 1, lev=20_000)
    assert s.facet(side).position(1).open


def test_leverage_ceiling_of_the_loop(s, chain):
    """Default max 5x: 5x+1 bps is refused by the rule; 5x itself is beyond WBTC's LTV loop (~3.7x)."""
    with reverts_named("LeverageAboveMax"):
        open_(s, chain, "long", 1, lev=50_001)
    with reverts_named("LeverageNotReachable") as info:
        open_(s, chain, "long", 1, lev=50_000)
    # WBTC LTV 73 %: 1 + 0.73 / 0.27 = 3.7037x
    assert info.value.inputs["reachedBps"] == 37_037
    with reverts_named("LeverageNotReachable"):
        open_(s, chain, "short", 1, lev=34_000)  # USDC LTV 77 %: 0.77 / 0.23 = 3.35x
    with reverts_named("LeverageBelowMin"):
        open_(s, chain, "long", 1, lev=9_999)


@pytest.mark.parametrize("side", ["long", "short"])
def test_increase_and_decrease(s, chain, side):
    f = s.facet(side)
    open_(s, chain, side, 1, lev=15_000)
    s.move_price(P0 * 101 // 100)
    r = f.increasePosition(1, MARGIN, 20_000, deadline(chain), sender=s.keeper)
    ev = events(r, f, "PositionIncreased")[0]
    assert ev.marginQuote == 2 * MARGIN and ev.entryPrice == (P0 + P0 * 101 // 100) // 2
    debt = f.positionState(1).debtBase
    r = f.decreasePosition(1, 5_000, deadline(chain), sender=s.keeper)
    ev = events(r, f, "PositionDecreased")[0]
    assert ev.fractionBps == 5_000 and ev.marginReleased == MARGIN and ev.returned > 0
    assert f.position(1).marginQuote == MARGIN
    assert abs(f.positionState(1).debtBase * 2 - debt) <= debt // 1_000
    with reverts_named("InvalidFraction"):
        f.decreasePosition(1, 10_001, deadline(chain), sender=s.keeper)
    with reverts_named("DeadlineExpired"):
        f.decreasePosition(1, 1_000, chain.pending_timestamp - 1, sender=s.keeper)


# -- stop-loss -----------------------------------------------------------------------------------
@pytest.mark.parametrize("side,stop", [("long", 250), ("short", 200)])
def test_stop_loss_fires_at_exactly_its_move(s, chain, side, stop):
    f = s.facet(side)
    s.set_rules(side, 1, stopLossBps=stop)
    open_(s, chain, side, 1)
    sign = -1 if side == "long" else 1
    trigger = P0 + sign * P0 * stop // BPS  # exact: P0 is a multiple of 10,000
    s.move_price(trigger - sign)             # one unit (1e-8 USD) short of the stop
    assert f.checkTriggers.call(1, sender=s.keeper) == 0  # what a keeper simulates first
    r = f.checkTriggers(1, sender=s.keeper)
    assert events(r, f, "TriggerFired") == [] and f.position(1).open
    s.set_oracle(trigger)
    assert f.checkTriggers.call(1, sender=s.keeper) == KIND_STOP_LOSS and f.position(1).open
    r = f.checkTriggers(1, sender=s.keeper)
    assert [e.kind for e in events(r, f, "TriggerFired")] == [KIND_STOP_LOSS]
    closed = events(r, f, "PositionClosed")[0]
    assert closed.reason == KIND_STOP_LOSS and closed.pnl < 0 and not f.position(1).open


# -- hold time -----------------------------------------------------------------------------------
def test_hard_expiry_at_exactly_max_hold(s, chain):
    f = s.facet("short")
    s.set_rules("short", 2, maxHoldSeconds=3_600)
    open_(s, chain, "short", 2)
    opened = f.position(2).openedAt
    chain.pending_timestamp = opened + 3_600 - 1
    r = f.checkTriggers(2, sender=s.keeper)
    assert chain.blocks.head.timestamp == opened + 3_599
    assert events(r, f, "TriggerFired") == [] and f.position(2).open
    chain.pending_timestamp = opened + 3_600
    r = f.checkTriggers(2, sender=s.keeper)
    assert [e.kind for e in events(r, f, "TriggerFired")] == [KIND_EXPIRY]
    assert events(r, f, "PositionClosed")[0].reason == KIND_EXPIRY and not f.position(2).open


# -- liquidity band ------------------------------------------------------------------------------
@pytest.mark.parametrize("bound,delta,ok", [("min", 0, True), ("min", 1, False), ("max", 0, True), ("max", -1, False)])
def test_liquidity_band_edges(s, chain, bound, delta, ok):
    rq, _ = s.reserves()
    s.set_rules("long", 1, **({"minPoolQuote": rq + delta} if bound == "min" else {"maxPoolQuote": rq + delta}))
    if ok:
        open_(s, chain, "long", 1)
        assert s.facet("long").position(1).open
    else:
        with reverts_named("LiquidityOutOfBand") as info:
            open_(s, chain, "long", 1)
        assert info.value.inputs["quoteReserve"] == rq


# -- slippage ------------------------------------------------------------------------------------
def _price_for_min_out(target, margin, slippage):
    """Largest oracle price (8 dec) at which StrikeFacet's minimum WBTC out is >= target."""
    lo, hi = 1, 10**20
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if min_out_buy(margin, mid, slippage) >= target:
            lo = mid
        else:
            hi = mid - 1
    return lo


@pytest.mark.parametrize("short_by,ok", [(1, False), (0, True)])
def test_slippage_bound_exact(s, chain, short_by, ok):
    """A 1x long is one swap. The oracle is set so that the minimum out (oracle value less 100 bps)
    is exactly one unit above (reverts) or equal to (passes) what the pool pays."""
    s.set_rules("long", 1, slippageBps=100)
    rq, ra = s.reserves()
    out = amount_out(MARGIN, rq, ra)
    price = _price_for_min_out(out + short_by, MARGIN, 100)
    assert min_out_buy(MARGIN, price, 100) == out + short_by
    s.set_oracle(price)
    if ok:
        open_(s, chain, "long", 1, lev=10_000)
        assert s.facet("long").position(1).open
    else:
        with reverts_named("SlippageExceeded") as info:
            open_(s, chain, "long", 1, lev=10_000)
        assert info.value.inputs == {"amountOut": out, "minOut": out + 1}


# -- take-profit, deleverage ---------------------------------------------------------------------
@pytest.mark.parametrize("side", ["long", "short"])
def test_take_profit_first_stage_closes_a_quarter(s, chain, project, side):
    f = s.facet(side)
    open_(s, chain, side, 1)
    holder = project.PositionHolder.at(s.facet(side, "StrikePositionsFacet").positionHolderOf(1))
    coll_token, debt_token = (s.wbtc, s.usdc) if side == "long" else (s.usdc, s.wbtc)
    coll0, debt0 = holder.collateralOf(coll_token.address), holder.debtOf(debt_token.address)
    sign = 1 if side == "long" else -1
    trigger = P0 + sign * P0 * 1_500 // BPS
    s.move_price(trigger - sign)
    r = f.checkTriggers(1, sender=s.keeper)
    assert events(r, f, "TriggerFired") == []
    s.set_oracle(trigger)
    r = f.checkTriggers(1, sender=s.keeper)
    assert [e.kind for e in events(r, f, "TriggerFired")] == [KIND_TAKE_PROFIT]
    ev = events(r, f, "PositionDecreased")[0]
    assert ev.reason == KIND_TAKE_PROFIT and ev.fractionBps == 2_500 and ev.pnl > 0
    assert f.position(1).tpStage == 1 and f.position(1).marginQuote == MARGIN * 3 // 4
    coll1, debt1 = holder.collateralOf(coll_token.address), holder.debtOf(debt_token.address)
    assert abs(coll1 * 4 - coll0 * 3) <= coll0 // 1_000
    assert abs(debt1 * 4 - debt0 * 3) <= debt0 // 1_000
    # the next stage (+35 %) is not reached: nothing more happens
    r = f.checkTriggers(1, sender=s.keeper)
    assert events(r, f, "TriggerFired") == []


@pytest.mark.parametrize("side,lev,move", [("long", 30_000, -200), ("short", 22_000, 200)])
def test_emergency_deleverage_restores_min_health_factor(s, chain, side, lev, move):
    """Long 3x (HF ~1.166) or short 2.2x (HF ~1.16), then a 2 % adverse move (inside the 2.5 % stop)
    takes HF below the 1.15 minimum: the trigger repays debt with collateral and HF is >= 1.15 again."""
    f = s.facet(side)
    open_(s, chain, side, 1, lev=lev)
    hf0 = f.positionState(1).healthFactor
    assert 115 * 10**16 <= hf0 < 118 * 10**16
    s.move_price(P0 * (BPS + move) // BPS)
    assert f.positionState(1).healthFactor < 115 * 10**16
    debt0 = f.positionState(1).debtBase
    r = f.checkTriggers(1, sender=s.keeper)
    assert [e.kind for e in events(r, f, "TriggerFired")] == [KIND_DELEVERAGE]
    st = f.positionState(1)
    assert st.open and st.healthFactor >= 115 * 10**16 and st.debtBase < debt0
    assert events(r, f, "PositionDecreased")[0].reason == KIND_DELEVERAGE


# -- breaker, exitAll ----------------------------------------------------------------------------
def test_breaker_tripped_refuses_opening_allows_closing(s, chain, project):
    risk = project.RiskFacet.at(s.master)
    f = s.facet("long")
    open_(s, chain, "long", 1)
    risk.setRiskParameters(1, 5_000, 100, sender=s.owner)  # 0.01 % drawdown trips
    risk.checkpoint(sender=s.owner)
    s.move_price(P0 * 99 // 100)
    risk.checkpoint(sender=s.owner)
    assert risk.breakerTripped()
    with reverts_named("BreakerIsTripped"):
        open_(s, chain, "long", 2)
    with reverts_named("BreakerIsTripped"):
        f.increasePosition(1, MARGIN, 20_000, deadline(chain), sender=s.keeper)
    f.decreasePosition(1, 5_000, deadline(chain), sender=s.keeper)
    f.closePosition(1, deadline(chain), sender=s.keeper)
    assert not f.position(1).open


def test_master_emergency_exit_closes_positions(s, chain, project):
    for side in ("long", "short"):
        open_(s, chain, side, 1)
        open_(s, chain, side, 2, lev=15_000)
    treasury0 = s.usdc.balanceOf(s.master)
    held = {side: s.usdc.balanceOf(s.addr[side]) for side in s.addr}
    r = project.EmergencyFacet.at(s.master).emergencyExit(sender=s.owner)
    for side in ("long", "short"):
        f = s.facet(side)
        assert list(f.openPositionIds()) == [] and not f.position(1).open and not f.position(2).open
        assert s.usdc.balanceOf(s.addr[side]) == 0 and s.facet(side, "ChildCoordinationFacet").totalCapital() == 0
        assert len([e for e in events(r, f, "PositionClosed") if e.contract_address == f.address]) == 2
    gained = s.usdc.balanceOf(s.master) - treasury0
    assert gained > sum(held.values())  # the positions' quote came back too


def test_exit_all_by_owner(s, chain):
    f = s.facet("short")
    open_(s, chain, "short", 3)
    with reverts_named("ParameterOutOfRange"):
        f.exitAll(10_001, sender=s.owner)
    with reverts_named("NotMasterOrOwner"):
        f.exitAll(100, sender=s.keeper)
    before = s.usdc.balanceOf(s.master)
    r = f.exitAll(100, sender=s.owner)
    ev = [e for e in events(r, f, "ExitedAll") if e.contract_address == f.address][0]
    assert ev.positionsClosed == 1 and s.usdc.balanceOf(s.master) - before == ev.amount > 0
    assert not f.position(3).open and f.checkTriggers.call(3, sender=s.keeper) == 0


# -- oracle staleness (issue 11, M-4) --------------------------------------------------------------
#: LibPrice defaults: the asset's feed (BTC/USD heartbeat 1 h + 10 min), the quote's (USDC/USD 24 h + 1 h).
ASSET_MAX_AGE, QUOTE_MAX_AGE = 4_200, 90_000


# -- the open list and its slots (issue 12, gas) -----------------------------------------------------
def _pair_key(s):
    return "0x" + str(s.pair.address)[2:].lower().rjust(64, "0")


def test_open_list_and_exposure_stay_right_through_reopens(s, chain):
    """Closes leave the open list's and riskSize's slots non-zero (a re-open writes non-zero over
    non-zero); the list, each close's released exposure and a re-open with a smaller margin stay right."""
    f, risk, key = s.facet("long"), s.facet("long", "RiskLimitsFacet"), _pair_key(s)
    for bot in (1, 2, 3):
        open_(s, chain, "long", bot, margin=300 * USD, lev=15_000)
    f.closePosition(2, deadline(chain), sender=s.keeper)
    f.closePosition(1, deadline(chain), sender=s.keeper)
    assert list(f.openPositionIds()) == [3]
    assert int(risk.pairExposure(key)) == 300 * USD
    open_(s, chain, "long", 2, margin=100 * USD, lev=15_000)  # smaller than its last position
    open_(s, chain, "long", 1, margin=200 * USD, lev=15_000)
    assert list(f.openPositionIds()) == [3, 2, 1]
    assert int(risk.pairExposure(key)) == 600 * USD
    f.closePosition(3, deadline(chain), sender=s.keeper)
    assert list(f.openPositionIds()) == [1, 2]
    f.closePosition(2, deadline(chain), sender=s.keeper)  # releases 100, not the 300 of its first position
    assert int(risk.pairExposure(key)) == 200 * USD
    f.closePosition(1, deadline(chain), sender=s.keeper)
    assert list(f.openPositionIds()) == [] and int(risk.pairExposure(key)) == 0
    assert not f.position(1).open and int(f.position(1).marginQuote) == 0
    with reverts_named("PositionNotOpen"):
        f.closePosition(1, deadline(chain), sender=s.keeper)


def test_a_reopen_takes_no_child_slot_from_zero(s, chain):
    """With another position open on the pair, a bot's second open writes no slot of the child
    diamond from zero to non-zero (each such write costs 20,000 gas instead of 2,900, EIP-2200):
    riskSize, the open-list entry and the bot's list index were cleared by the close before."""
    f = s.facet("long")
    open_(s, chain, "long", 2, lev=15_000)
    open_(s, chain, "long", 1, lev=15_000)
    f.closePosition(1, deadline(chain), sender=s.keeper)
    receipt = open_(s, chain, "long", 1, lev=15_000)
    w3 = chain.provider.web3
    diff = w3.provider.make_request("debug_traceTransaction", [str(receipt.txn_hash), {
        "tracer": "prestateTracer", "tracerConfig": {"diffMode": True}}])["result"]
    child = str(s.addr["long"]).lower()
    pre = {k.lower(): v for k, v in diff["pre"].items()}.get(child, {}).get("storage", {})
    post = {k.lower(): v for k, v in diff["post"].items()}.get(child, {}).get("storage", {})
    from_zero = [slot for slot, value in post.items() if int(value, 16) and not int(pre.get(slot, "0x0"), 16)]
    assert from_zero == [], f"child slots written from zero by a re-open: {from_zero}"


def age_feeds(chain, seconds):
    """Moves the chain clock ``seconds`` on (``evm_increaseTime`` and a mined block): every feed ages."""
    chain.provider.make_request("evm_increaseTime", [seconds])
    chain.provider.make_request("evm_mine", [])


def feed_updated_at(s, symbol):
    return s.project.AggregatorV3Interface.at(s.market.feeds[symbol]).latestRoundData()[3]


@pytest.mark.parametrize("side", ["long", "short"])
def test_stale_price_refuses_opening_and_increase(s, chain, side):
    f = s.facet(side)
    open_(s, chain, side, 1)
    s.set_oracle(P0)  # a fresh round: the age counts from here
    updated = feed_updated_at(s, "WBTC")
    chain.pending_timestamp = updated + ASSET_MAX_AGE  # exactly maxAge old: still fresh
    open_(s, chain, side, 2)
    age_feeds(chain, 1)  # one second beyond
    with reverts_named("StalePrice", asset=s.wbtc.address, updatedAt=updated, maxAge=ASSET_MAX_AGE):
        open_(s, chain, side, 3)
    with reverts_named("StalePrice", asset=s.wbtc.address):
        f.increasePosition(1, MARGIN, 20_000, deadline(chain), sender=s.keeper)
    s.set_oracle(P0)  # a new round: trading resumes
    open_(s, chain, side, 3)
    # the quote's feed is checked too (its own maxAge: USDC/USD's 24 h heartbeat + 1 h)
    usdc_updated = feed_updated_at(s, "USDC")
    age_feeds(chain, usdc_updated + QUOTE_MAX_AGE + 1 - chain.blocks.head.timestamp)
    s.set_oracle(P0)
    with reverts_named("StalePrice", asset=s.usdc.address, updatedAt=usdc_updated, maxAge=QUOTE_MAX_AGE):
        f.increasePosition(1, MARGIN, 20_000, deadline(chain), sender=s.keeper)


@pytest.mark.parametrize("side", ["long", "short"])
def test_stale_price_closes_still_proceed(s, chain, side):
    """The rule: decreases and closes go on with a stale price; the swap floor stays the last answer
    less the bot's slippageBps (a stale price never widens what a swap may lose)."""
    f = s.facet(side)
    open_(s, chain, side, 1)
    open_(s, chain, side, 2)
    age_feeds(chain, ASSET_MAX_AGE + 60)
    with reverts_named("StalePrice"):
        open_(s, chain, side, 3)
    r = f.decreasePosition(1, 5_000, deadline(chain), sender=s.keeper)
    assert events(r, f, "PositionDecreased")[0].returned > 0
    r = f.closePosition(1, deadline(chain), sender=s.keeper)
    assert events(r, f, "PositionClosed")[0].returned > 0 and not f.position(1).open
    # the floor is still the (stale) oracle's: a pool 5 % away from it fails the 1 % slippage bound
    s.set_pool_price(P0 * 95 // 100 if side == "long" else P0 * 105 // 100)
    with reverts_named("SlippageExceeded"):
        f.closePosition(2, deadline(chain), sender=s.keeper)


@pytest.mark.parametrize("side", ["long", "short"])
def test_stop_loss_does_not_fire_on_a_stale_price(s, chain, side):
    f = s.facet(side)
    open_(s, chain, side, 1)
    sign = -1 if side == "long" else 1
    trigger = P0 + sign * P0 * 250 // BPS
    s.move_price(trigger)
    age_feeds(chain, ASSET_MAX_AGE + 1)
    assert f.checkTriggers.call(1, sender=s.keeper) == 0
    r = f.checkTriggers(1, sender=s.keeper)
    assert events(r, f, "TriggerFired") == [] and f.position(1).open
    s.set_oracle(trigger)  # the same price, fresh: the stop fires
    r = f.checkTriggers(1, sender=s.keeper)
    assert [e.kind for e in events(r, f, "TriggerFired")] == [KIND_STOP_LOSS] and not f.position(1).open


def test_take_profit_does_not_fire_on_a_stale_price(s, chain):
    f = s.facet("long")
    open_(s, chain, "long", 1)
    s.move_price(P0 * 116 // 100)
    age_feeds(chain, ASSET_MAX_AGE + 1)
    assert f.checkTriggers.call(1, sender=s.keeper) == 0
    s.set_oracle(P0 * 116 // 100)
    assert f.checkTriggers.call(1, sender=s.keeper) == KIND_TAKE_PROFIT


def test_child_equity_reverts_on_a_stale_price(s, chain):
    """LibEquity refuses to mark open positions at a stale price (StalePrice); without open
    positions it needs no price. The view ``priceStatus`` reports the age instead of reverting."""
    coord = s.facet("long", "ChildCoordinationFacet")
    f = s.facet("long")
    age_feeds(chain, ASSET_MAX_AGE + 1)
    assert coord.equity() == coord.totalCapital()  # nothing open: no price needed
    s.set_oracle(P0)
    open_(s, chain, "long", 1)
    fresh = coord.equity()
    price, updated, max_age, stale = f.priceStatus(s.wbtc.address)
    assert (price, updated, max_age, stale) == (P0, feed_updated_at(s, "WBTC"), ASSET_MAX_AGE, False)
    age_feeds(chain, ASSET_MAX_AGE + 1)
    assert f.priceStatus(s.wbtc.address)[3] is True
    # (Ape does not decode a library's error on this view call: read the revert data directly)
    with pytest.raises(ContractCustomError) as info:
        chain.provider.web3.eth.call({"to": s.addr["long"], "data": coord.equity.encode_input()})
    data = bytes.fromhex(info.value.data[2:])
    assert data[:4] == function_signature_to_4byte_selector("StalePrice(address,uint256,uint256)")
    asset, updated_at, max_age = decode(["address", "uint256", "uint256"], data[4:])
    assert (asset.lower(), updated_at, max_age) == (s.wbtc.address.lower(), updated, ASSET_MAX_AGE)
    s.set_oracle(P0)  # a fresh round: the mark is back (Aave's interest moved it by a few units)
    assert abs(coord.equity() - fresh) < MARGIN // 1_000


def test_max_price_age_is_owner_only_bounded_and_evented(s, chain):
    f = s.facet("long")
    assert f.maxPriceAge(s.wbtc.address) == ASSET_MAX_AGE and f.maxPriceAge(s.usdc.address) == QUOTE_MAX_AGE
    with reverts_named("NotContractOwner"):
        f.setMaxPriceAge(s.wbtc.address, 600, sender=s.keeper)
    for bad in (59, 2 * 86_400 + 1):
        with reverts_named("RuleOutOfBounds", name="maxPriceAge", value=bad):
            f.setMaxPriceAge(s.wbtc.address, bad, sender=s.owner)
    r = f.setMaxPriceAge(s.wbtc.address, 600, sender=s.owner)
    [ev] = events(r, f, "MaxPriceAgeSet")
    assert (ev.asset, ev.maxAge) == (s.wbtc.address, 600) and f.maxPriceAge(s.wbtc.address) == 600
    assert s.facet("short").maxPriceAge(s.wbtc.address) == ASSET_MAX_AGE  # per child
    s.set_oracle(P0)
    age_feeds(chain, 601)
    with reverts_named("StalePrice", maxAge=600):
        open_(s, chain, "long", 1)
    open_(s, chain, "short", 1)  # the other child keeps its own (default) maxAge


# -- access --------------------------------------------------------------------------------------
def test_rules_bounds(s):
    f = s.facet("long")
    for name, bad in (("maxLeverageBps", 9_999), ("maxLeverageBps", 50_001), ("stopLossBps", 199),
                      ("stopLossBps", 301), ("minHealthFactor", 105 * 10**16 - 1), ("minHealthFactor", 2 * WAD + 1),
                      ("maxHoldSeconds", 299), ("maxHoldSeconds", 30 * 86_400 + 1), ("slippageBps", 0),
                      ("slippageBps", 1_001)):
        with reverts_named("RuleOutOfBounds") as info:
            s.set_rules("long", 1, **{name: bad})
        assert info.value.inputs["name"] == name and info.value.inputs["value"] == bad
    s.set_rules("long", 1, maxLeverageBps=10_000, stopLossBps=300, minHealthFactor=2 * WAD, slippageBps=1_000)
    assert f.rules(1).stopLossBps == 300


# -- re-entrancy -----------------------------------------------------------------------------------
@pytest.fixture
def hook_child(s, project, chain):
    """A third strike child (LongStrikeDiamond with the deployed child facets) trading HookToken:
    its own Aave market (USDC + HOOK, WBTC's risk parameters), a USDC/HOOK pair on dex A, one funded bot."""
    owner, usdc = s.owner, s.usdc
    hook = owner.deploy(project.HookToken)
    market = aave.deploy_aave_market(owner, {"USDC": usdc, "HOOK": hook}, {"USDC": 1.0, "HOOK": PRICE},
                                     params={"HOOK": aave.DEFAULT_RESERVE_PARAMS["WBTC"]})
    factory = s.system.contracts["dex_a_factory"]
    factory.createPair(usdc.address, hook.address, sender=owner)
    pair = venues.at("UniswapV2Pair", str(factory.getPair(usdc.address, hook.address)))
    usdc.mint(pair.address, 1_000_000 * USD, sender=owner)
    hook.mint(pair.address, 1_000_000 * BTC // PRICE, sender=owner)
    pair.mint(owner.address, sender=owner)
    m = s.system.manifest
    facets = [getattr(project, n).at(m.contracts[f"facet:{n}"]["address"]) for n in CHILDREN["long"][1]]
    init = project.ChildInit.at(m.contracts["init:ChildInit"]["address"])
    child = owner.deploy(project.LongStrikeDiamond, owner.address, [cutlib.facet_cut(f) for f in facets],
                         init.address, init.init.encode_input(s.master, usdc.address))
    # registered at the master: its opens report to the master's system-wide pair exposure (ExposureFacet)
    project.ChildRegistryFacet.at(s.master).registerChild(child.address, 0, sender=owner)
    project.BotRegistryFacet.at(child.address).registerBots(1, b"hook".ljust(32, b"\0"), b"", sender=owner)
    project.BotRegistryFacet.at(child.address).setKeeper(s.keeper.address, True, sender=owner)
    usdc.mint(child.address, 2 * MARGIN, sender=owner)
    project.ChildCoordinationFacet.at(child.address).fundBot(1, 2 * MARGIN, sender=owner)
    f = diamond_at(project, child.address, *STRIKE_FACETS)
    f.setStrikeConfig((True, market.pool, pair.address, hook.address, usdc.address, market.oracle), sender=owner)
    return f, hook


def test_reentrancy_through_transfer_hook_fails(s, chain, hook_child):
    f, hook = hook_child
    zero = "0x" + "00" * 20
    dl = deadline(chain)
    # open: the diamond's HOOK transfer to the holder (supply) calls back closePosition
    hook.arm(f.address, f.closePosition.encode_input(1, dl), sender=s.owner)
    with reverts_named("ReentrancyGuardReentrantCall"):
        f.openPosition(1, MARGIN, 10_000, dl, sender=s.keeper)
    hook.arm(zero, b"", sender=s.owner)  # disarmed, the same open goes through
    f.openPosition(1, MARGIN, 10_000, dl, sender=s.keeper)
    assert f.position(1).open
    # close: the diamond's HOOK transfer to the pair (sell) calls back openPosition
    hook.arm(f.address, f.openPosition.encode_input(1, MARGIN, 10_000, dl), sender=s.owner)
    with reverts_named("ReentrancyGuardReentrantCall"):
        f.closePosition(1, dl, sender=s.keeper)
    assert f.position(1).open
    hook.arm(zero, b"", sender=s.owner)
    f.closePosition(1, dl, sender=s.keeper)
    assert not f.position(1).open
