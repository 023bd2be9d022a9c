"""System-wide risk (issue 3 §4) on chain: the master's drawdown and daily-loss circuit breaker,
the child's per-bot limits (position size, concurrent positions, daily trades, pair exposure) and
the loss-streak cooldown, each tripping exactly at its threshold and not one unit before.

Losses are realised through the test-only RiskHarnessFacet cut into the long child: it books a
closed position exactly as a strike facet does (LibRiskLimits.recordClose, LibPerformance) and
moves the lost quote tokens out of the child, so the master's equity really falls.
Amounts in USDC base units (6 decimals); times in seconds of chain time.
"""


import ape
import pytest

from macrostrike.amm.v2math import best_arbitrage
from macrostrike.deploy.cuts import facet_cut
from macrostrike.deploy.system import CHILD_FACETS, DeployConfig, deploy_system
from market_helpers import push_price_up, reserves
from treasury_helpers import (STRIKE_STRATEGY, USDC, add_harness, deposit, handles, latest_timestamp,
                              remove_exit_all, set_next_timestamp)
from revert_helpers import reverts_named

PAIR = b"WBTC/USDC".ljust(32, b"\0")
BOT_CAPITAL = 2_000 * USDC


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@pytest.fixture(scope="module")
def world(project, accounts):
    owner, keeper = accounts[0], accounts[1]
    system = deploy_system(owner, DeployConfig(amm_bots=2, pool_usd=1_000_000, capital_per_bot_usd=1_000,
                                               treasury_reserve_usd=5_000, initial_price_usd=20_000,
                                               keepers=(str(keeper.address),)))
    h = handles(project, system)
    long_addr = h.addr("long")
    harness = add_harness(project, owner, long_addr)
    project.BotRegistryFacet.at(long_addr).registerBots(2, STRIKE_STRATEGY, b"", sender=owner)
    for bot in (1, 2):
        h.treasury.fundBot(long_addr, bot, BOT_CAPITAL, sender=owner)
    return h, harness


def lose(harness, owner, counterparty, bot: int, amount: int):
    """Opens and closes one position of ``bot`` realising a loss of ``amount``."""
    harness.harnessOpen(bot, PAIR, 1, sender=owner)
    return harness.harnessClose(bot, PAIR, 1, -amount, counterparty, sender=owner)


def test_defaults_from_the_specification(world):
    h, _ = world
    assert h.risk.riskParameters() == (1_000, 500, 100)
    limits = h.child("long", "RiskLimitsFacet").riskLimits()
    assert (limits.lossStreakLimit, limits.cooldownSeconds) == (3, 1_800)
    assert (limits.maxPositionSize, limits.maxConcurrentPositions, limits.dailyTradeLimit,
            limits.maxPairExposure) == (8_000 * USDC, 1, 100, 200_000 * USDC)
    assert not h.risk.breakerTripped()
    assert h.child("long", "ChildCoordinationFacet").openingAllowed()


@pytest.mark.parametrize("args, name, bound", [
    ((0, 500, 100), "maxDrawdownBps", (1, 5_000)),
    ((5_001, 500, 100), "maxDrawdownBps", (1, 5_000)),
    ((1_000, 0, 100), "dailyLossBps", (1, 5_000)),
    ((1_000, 5_001, 100), "dailyLossBps", (1, 5_000)),
    ((1_000, 500, 1_001), "exitSlippageBps", (0, 1_000)),
])
def test_risk_parameters_validated_naming_the_bound(world, accounts, args, name, bound):
    h, _ = world
    with reverts_named("ParameterOutOfRange", name=name, min=bound[0], max=bound[1]):
        h.risk.setRiskParameters(*args, sender=accounts[0])


def test_risk_parameters_at_their_bounds_are_accepted(world, accounts):
    h, _ = world
    r = h.risk.setRiskParameters(5_000, 1, 1_000, sender=accounts[0])
    assert h.risk.riskParameters() == (5_000, 1, 1_000)
    assert [(e.maxDrawdownBps, e.dailyLossBps) for e in r.decode_logs(h.risk.RiskParametersSet)] == [(5_000, 1)]


def test_equity_is_treasury_plus_children(world):
    h, _ = world
    children = [h.addr(r) for r in ("long", "short", "amm")]
    child_equity = sum(h.project.ChildCoordinationFacet.at(c).equity() for c in children)
    assert h.risk.totalEquity() == h.usdc.balanceOf(h.treasury.address) + child_equity
    assert h.risk.totalEquity() == 5_000 * USDC + 2_000 * USDC  # deploy deposit + long funding comes from it


def test_drawdown_trips_exactly_at_ten_percent(world, accounts):
    h, harness = world
    owner, sink = accounts[0], accounts[5]
    h.risk.setRiskParameters(1_000, 5_000, 100, sender=owner)  # daily loss out of the way
    equity0, _ = h.risk.checkpoint.call(sender=owner)
    h.risk.checkpoint(sender=owner)
    assert h.risk.riskState().highWaterMark == equity0
    threshold_loss = ceil_div(equity0 * 1_000, 10_000)  # smallest loss with loss * 10,000 >= HWM * 1,000
    lose(harness, owner, sink, 1, threshold_loss - 1)
    r = h.risk.checkpoint(sender=owner)
    assert not h.risk.breakerTripped() and not list(r.decode_logs(h.risk.BreakerTripped))
    lose(harness, owner, sink, 2, 1)
    r = h.risk.checkpoint(sender=owner)
    assert h.risk.breakerTripped()
    events = list(r.decode_logs(h.risk.BreakerTripped))
    assert [(e.reason, e.equity, e.referenceEquity) for e in events] == [(1, equity0 - threshold_loss, equity0)]
    assert h.risk.riskState().reason == 1


def test_daily_loss_trips_exactly_at_five_percent(world, accounts):
    h, harness = world
    owner, sink = accounts[0], accounts[5]
    h.risk.checkpoint(sender=owner)
    state = h.risk.riskState()
    equity0 = state.dayStartEquity
    threshold_loss = ceil_div(equity0 * 500, 10_000)
    lose(harness, owner, sink, 1, threshold_loss - 1)
    h.risk.checkpoint(sender=owner)
    assert not h.risk.breakerTripped()
    lose(harness, owner, sink, 2, 1)
    r = h.risk.checkpoint(sender=owner)
    events = list(r.decode_logs(h.risk.BreakerTripped))
    assert [(e.reason, e.equity, e.referenceEquity) for e in events] == [(2, equity0 - threshold_loss, equity0)]


def test_day_window_is_86400_seconds_from_the_first_checkpoint(world, accounts, chain):
    h, harness = world
    owner, sink = accounts[0], accounts[5]
    h.risk.checkpoint(sender=owner)
    state = h.risk.riskState()
    day_start, equity0 = state.dayStart, state.dayStartEquity
    almost = ceil_div(equity0 * 500, 10_000) - 1
    lose(harness, owner, sink, 1, almost)
    set_next_timestamp(chain, day_start + 86_399)
    h.risk.checkpoint(sender=owner)
    assert h.risk.riskState().dayStart == day_start  # still the same day
    set_next_timestamp(chain, day_start + 86_400)
    r = h.risk.checkpoint(sender=owner)
    assert [(e.dayStart, e.equity) for e in r.decode_logs(h.risk.RiskDayStarted)] == \
        [(day_start + 86_400, equity0 - almost)]
    # yesterday's loss no longer counts: one more unit is not a 5% daily loss
    lose(harness, owner, sink, 2, 1)
    h.risk.checkpoint(sender=owner)
    assert not h.risk.breakerTripped()


@pytest.mark.parametrize("offset", [86_399, 86_400, 90_000])
def test_daily_loss_is_checked_against_the_closing_day_before_it_rolls(world, accounts, chain, offset):
    """Audit M-3: a 6% loss made during the day trips the breaker whether the checkpoint that
    measures it comes one second before the day ends or at (or after) the rollover."""
    h, harness = world
    owner, sink = accounts[0], accounts[5]
    h.risk.checkpoint(sender=owner)
    state = h.risk.riskState()
    day_start, equity0 = state.dayStart, state.dayStartEquity
    loss = equity0 * 600 // 10_000
    lose(harness, owner, sink, 1, loss)
    set_next_timestamp(chain, day_start + offset)
    r = h.risk.checkpoint(sender=owner)
    assert h.risk.breakerTripped()
    events = list(r.decode_logs(h.risk.BreakerTripped))
    assert [(e.reason, e.equity, e.referenceEquity) for e in events] == [(2, equity0 - loss, equity0)]
    rolled = [(e.dayStart, e.equity) for e in r.decode_logs(h.risk.RiskDayStarted)]
    assert rolled == ([] if offset < 86_400 else [(day_start + offset, equity0 - loss)])


def test_breaker_blocks_opening_not_closing_until_owner_reset(world, accounts, stranger, keeper):
    h, harness = world
    owner, sink = accounts[0], accounts[5]
    system = h.system
    h.risk.checkpoint(sender=owner)
    harness.harnessOpen(1, PAIR, 10 * USDC, sender=owner)  # a position open when the breaker trips
    lose(harness, owner, sink, 2, ceil_div(h.risk.riskState().dayStartEquity * 500, 10_000))
    r = h.risk.checkpoint(sender=owner)
    assert h.risk.breakerTripped()
    assert_breaker_pushed(h, r, True)
    for role in ("long", "short", "amm"):
        assert not h.child(role, "ChildCoordinationFacet").openingAllowed()
    # a child registered while the breaker is tripped learns it at registration
    late = register_empty_child(h, owner)
    assert late.masterBreakerTripped() and not late.openingAllowed()
    with reverts_named("BreakerIsTripped"):
        harness.harnessOpen(2, PAIR, 1, sender=owner)
    push_price_up(system, owner)
    buy_on_a, amount, _profit = best_arbitrage(reserves(system, "dex_a_pair"), reserves(system, "dex_b_pair"))
    arb = h.child("amm", "ArbitrageFacet")
    with reverts_named("BreakerIsTripped"):
        arb.executeArbitrage(1, buy_on_a, min(amount, 1_000 * USDC), 0, sender=keeper)
    # closing stays allowed
    harness.harnessClose(1, PAIR, 10 * USDC, 0, sink, sender=owner)
    with ape.reverts():
        h.risk.resetBreaker(sender=stranger)
    r = h.risk.resetBreaker(sender=owner)
    equity = h.risk.totalEquity()
    assert [(e.by, e.equity) for e in r.decode_logs(h.risk.BreakerReset)] == [(owner.address, equity)]
    assert_breaker_pushed(h, r, False)
    assert late.openingAllowed() and not late.masterBreakerTripped()
    assert not h.risk.breakerTripped() and h.risk.riskState().highWaterMark == equity
    assert h.child("amm", "ChildCoordinationFacet").openingAllowed()
    arb.executeArbitrage(1, buy_on_a, min(amount, 1_000 * USDC), 0, sender=keeper)


def assert_breaker_pushed(h, receipt, tripped: bool) -> None:
    """The master pushed ``tripped`` to every registered child (BreakerPushed on the master,
    MasterBreakerSet on each child) and each child's own flag says so."""
    children = list(h.registry.children()[0])
    coord = h.project.ChildCoordinationFacet
    assert [(e.child, e.tripped) for e in receipt.decode_logs(h.risk.BreakerPushed)] == [(c, tripped) for c in children]
    assert not list(receipt.decode_logs(h.risk.BreakerPushFailed))
    assert sorted((e.contract_address, e.tripped) for e in receipt.decode_logs(coord.MasterBreakerSet)) == \
        sorted((c, tripped) for c in children)
    for child in children:
        assert coord.at(child).masterBreakerTripped() == tripped


def register_empty_child(h, owner):
    """Deploys a child diamond with the system's child facets (no bots) and registers it at the master."""
    m, project = h.system.manifest, h.project
    facets = [getattr(project, n).at(m.diamonds["amm"]["facets"][n]["address"]) for n in CHILD_FACETS]
    init = project.ChildInit.at(m.address("init:ChildInit"))
    child = owner.deploy(project.AMMDiamond, owner, [facet_cut(f) for f in facets], init.address,
                         init.init.encode_input(m.address("master"), h.usdc.address))
    r = h.registry.registerChild(child.address, 2, sender=owner)
    coord = project.ChildCoordinationFacet.at(child.address)
    assert [e.tripped for e in r.decode_logs(coord.MasterBreakerSet)] == [h.risk.breakerTripped()]
    return coord


def test_only_the_master_sets_a_childs_breaker_flag(world, accounts, stranger):
    """The child's copy of the master's breaker: the owner of the child, a keeper or anyone else
    may not set it (NotMaster); only the master's push (checkpoint, resetBreaker, registerChild,
    pushBreaker) does."""
    h, _ = world
    owner, keeper = accounts[0], accounts[1]
    for role in ("long", "short", "amm"):
        coord = h.child(role, "ChildCoordinationFacet")
        for who in (owner, keeper, stranger):
            for value in (True, False):
                with reverts_named("NotMaster"):
                    coord.setMasterBreaker(value, sender=who)
        assert not coord.masterBreakerTripped() and coord.openingAllowed()
    # the owner may ask the master to push its state again (e.g. after cutting the flag into old children)
    r = h.risk.pushBreaker(sender=owner)
    assert_breaker_pushed(h, r, False)
    with reverts_named("NotRiskKeeper"):
        h.risk.pushBreaker(sender=stranger)


def test_checkpoint_by_owner_or_risk_keeper_only(world, accounts, stranger):
    h, _ = world
    owner, risk_keeper = accounts[0], accounts[6]
    with reverts_named("NotRiskKeeper"):
        h.risk.checkpoint(sender=risk_keeper)
    h.risk.setRiskKeeper(risk_keeper, True, sender=owner)
    assert h.risk.isRiskKeeper(risk_keeper)
    h.risk.checkpoint(sender=risk_keeper)
    with reverts_named("NotContractOwner"):
        h.risk.setRiskKeeper(stranger, True, sender=stranger)


def test_deposits_and_withdrawals_are_not_performance(world, accounts):
    h, _ = world
    owner = accounts[0]
    h.risk.checkpoint(sender=owner)
    before = h.risk.totalEquity()
    hwm = h.risk.riskState().highWaterMark
    # withdraw the whole free treasury: equity falls, but only by a flow
    free = h.alloc.freeTreasury()
    h.treasury.withdraw(accounts[4], free, sender=owner)
    after = h.risk.totalEquity()
    assert after == before - free
    assert h.risk.riskState().highWaterMark == hwm * after // before
    h.risk.checkpoint(sender=owner)
    assert not h.risk.breakerTripped()
    deposit(h, owner, 10_000 * USDC)
    h.risk.checkpoint(sender=owner)
    assert not h.risk.breakerTripped()


# ------------------------------------------------------------------------------ per-bot limits

def test_loss_streak_cooldown_at_the_third_loss(world, accounts, chain):
    h, harness = world
    owner, sink = accounts[0], accounts[5]
    limits = h.child("long", "RiskLimitsFacet")
    lose(harness, owner, sink, 1, 1)
    lose(harness, owner, sink, 1, 1)
    assert limits.botRisk(1).lossStreak == 2 and not limits.inCooldown(1)
    harness.harnessCheckOpen(1, PAIR, 1)  # two losses: still allowed
    r = lose(harness, owner, sink, 1, 1)
    t = latest_timestamp(chain)
    events = list(r.decode_logs(harness.BotCooldownStarted))
    assert [(e.botId, e.streak, e.until) for e in events] == [(1, 3, t + 1_800)]
    set_next_timestamp(chain, t + 1_799)
    with reverts_named("BotCoolingDown", botId=1, until=t + 1_800):
        harness.harnessOpen(1, PAIR, 1, sender=owner, gas=2_000_000)
    set_next_timestamp(chain, t + 1_800)
    harness.harnessOpen(1, PAIR, 1, sender=owner)
    # another bot is not affected
    harness.harnessCheckOpen(2, PAIR, 1)


def test_a_win_breaks_the_streak(world, accounts):
    h, harness = world
    owner, sink = accounts[0], accounts[5]
    lose(harness, owner, sink, 1, 1)
    lose(harness, owner, sink, 1, 1)
    h.usdc.mint(h.addr("long"), 5, sender=owner)  # the gain arrives in the child first
    harness.harnessOpen(1, PAIR, 1, sender=owner)
    harness.harnessClose(1, PAIR, 1, 5, sink, sender=owner)
    lose(harness, owner, sink, 1, 1)
    lose(harness, owner, sink, 1, 1)
    limits = h.child("long", "RiskLimitsFacet")
    assert limits.botRisk(1).lossStreak == 2 and not limits.inCooldown(1)


def test_owner_clears_a_cooldown(world, accounts):
    h, harness = world
    owner, sink = accounts[0], accounts[5]
    for _ in range(3):
        lose(harness, owner, sink, 2, 1)
    limits = h.child("long", "RiskLimitsFacet")
    assert limits.inCooldown(2)
    limits.clearCooldown(2, sender=owner)
    harness.harnessOpen(2, PAIR, 1, sender=owner)


def set_limits(h, owner, **overrides):
    limits = h.child("long", "RiskLimitsFacet")
    current = limits.riskLimits()
    values = {k: getattr(current, k) for k in ("maxPositionSize", "maxPairExposure", "maxConcurrentPositions",
                                               "dailyTradeLimit", "lossStreakLimit", "cooldownSeconds")}
    values.update(overrides)
    limits.setRiskLimits(values, sender=owner)
    return limits


def test_max_position_size_boundary(world, accounts):
    h, harness = world
    owner = accounts[0]
    set_limits(h, owner, maxPositionSize=500 * USDC)
    with reverts_named("PositionTooLarge", size=500 * USDC + 1, maxPositionSize=500 * USDC):
        harness.harnessOpen(1, PAIR, 500 * USDC + 1, sender=owner)
    harness.harnessOpen(1, PAIR, 500 * USDC, sender=owner)


def test_max_concurrent_positions_boundary(world, accounts):
    h, harness = world
    owner = accounts[0]
    set_limits(h, owner, maxConcurrentPositions=2)
    harness.harnessOpen(1, PAIR, 1, sender=owner)
    harness.harnessOpen(1, PAIR, 1, sender=owner)
    with reverts_named("TooManyOpenPositions", botId=1, maxConcurrentPositions=2):
        harness.harnessOpen(1, PAIR, 1, sender=owner)
    harness.harnessClose(1, PAIR, 1, 0, accounts[5], sender=owner)
    harness.harnessOpen(1, PAIR, 1, sender=owner)


def test_pair_exposure_across_bots_boundary(world, accounts):
    h, harness = world
    owner = accounts[0]
    limits = set_limits(h, owner, maxConcurrentPositions=5, maxPositionSize=300, maxPairExposure=1_000)
    harness.harnessOpen(1, PAIR, 300, sender=owner)
    harness.harnessOpen(2, PAIR, 300, sender=owner)
    harness.harnessOpen(1, PAIR, 300, sender=owner)
    assert limits.pairExposure(PAIR) == 900
    with reverts_named("PairExposureExceeded", exposure=900, size=101, maxPairExposure=1_000):
        harness.harnessOpen(2, PAIR, 101, sender=owner)
    other = b"WETH/USDC".ljust(32, b"\0")
    harness.harnessOpen(2, other, 101, sender=owner)  # another pair has its own budget
    harness.harnessOpen(2, PAIR, 100, sender=owner)   # exactly at the limit
    assert limits.pairExposure(PAIR) == 1_000


def test_daily_trade_limit_boundary_and_window(world, accounts, chain):
    h, harness = world
    owner = accounts[0]
    set_limits(h, owner, dailyTradeLimit=3)
    harness.harnessTrade(1, sender=owner)
    day_start = h.child("long", "RiskLimitsFacet").botRisk(1).dayStart
    harness.harnessTrade(1, sender=owner)
    harness.harnessTrade(1, sender=owner)  # the 3rd trade of the day is allowed
    with reverts_named("DailyTradeLimitReached", botId=1, limit=3):
        harness.harnessTrade(1, sender=owner)
    set_next_timestamp(chain, day_start + 86_399)
    with reverts_named("DailyTradeLimitReached"):
        harness.harnessTrade(1, sender=owner, gas=2_000_000)
    set_next_timestamp(chain, day_start + 86_400)
    harness.harnessTrade(1, sender=owner)


def test_daily_trade_limit_applies_to_arbitrage(world, accounts, keeper):
    h, _ = world
    owner, system = accounts[0], world[0].system
    limits = h.child("amm", "RiskLimitsFacet")
    current = limits.riskLimits()
    limits.setRiskLimits({**{k: getattr(current, k) for k in ("maxPositionSize", "maxPairExposure",
                                                              "maxConcurrentPositions", "lossStreakLimit",
                                                              "cooldownSeconds")}, "dailyTradeLimit": 1},
                         sender=owner)
    arb = h.child("amm", "ArbitrageFacet")
    push_price_up(system, owner, fraction=20)
    buy_on_a, _amount, _profit = best_arbitrage(reserves(system, "dex_a_pair"), reserves(system, "dex_b_pair"))
    arb.executeArbitrage(1, buy_on_a, 10 * USDC, 0, sender=keeper)
    with reverts_named("DailyTradeLimitReached", botId=1, limit=1):
        arb.executeArbitrage(1, buy_on_a, 10 * USDC, 0, sender=keeper)
    arb.executeArbitrage(2, buy_on_a, 10 * USDC, 0, sender=keeper)  # per bot


@pytest.mark.parametrize("field, value, bound", [
    ("maxPositionSize", 0, (1, 2**256 - 1)),
    ("maxConcurrentPositions", 0, (1, 100)),
    ("maxConcurrentPositions", 101, (1, 100)),
    ("dailyTradeLimit", 0, (1, 10_000)),
    ("dailyTradeLimit", 10_001, (1, 10_000)),
    ("lossStreakLimit", 0, (1, 100)),
    ("cooldownSeconds", 604_801, (0, 604_800)),
])
def test_risk_limits_validated_naming_the_bound(world, accounts, field, value, bound):
    h, _ = world
    with reverts_named("ParameterOutOfRange", name=field, min=bound[0], max=bound[1]):
        set_limits(h, accounts[0], **{field: value})


# ------------------------------------------------------------------------------ emergency exit

def test_emergency_exit_brings_amm_capital_home(world, accounts):
    h, _ = world
    owner = accounts[0]
    amm = h.addr("amm")
    capital = h.child("amm", "ChildCoordinationFacet").totalCapital()
    master_before = h.usdc.balanceOf(h.treasury.address)
    # a child that cannot exit (exitAll cut out of the long diamond) is reported; the others still exit
    remove_exit_all(h, owner, "long")
    r = h.emergency.emergencyExit(sender=owner)
    assert h.usdc.balanceOf(amm) == 0 and h.child("amm", "ChildCoordinationFacet").totalCapital() == 0
    assert [e.amount for e in r.decode_logs(h.emergency.ChildExited) if e.child == amm] == [capital]
    failed = {e.child for e in r.decode_logs(h.emergency.ChildExitFailed)}
    assert failed == {h.addr("long")}
    assert [(e.children, e.exited) for e in r.decode_logs(h.emergency.EmergencyExit)] == [(3, 2)]
    assert h.usdc.balanceOf(h.treasury.address) == master_before + capital
    for bot in (1, 2):
        assert h.child("amm", "BotRegistryFacet").bot(bot)[1] == 0
