"""Rebalancing by recent performance (issue: master treasury, "move capital between bots and between
children by recent performance, within bounds"), on chain and from the keeper's command.

Recent PnL per bot is kept by LibPerformance in windows of chain time (PerformanceFacet.recentPerformance);
the master's AllocationFacet.rebalanceByPerformance moves capital only from a worse to a strictly better
recent return (bps of capital), owner or risk keeper, within maxMoveBps. Trades are booked through the
test-only RiskHarnessFacet (harnessSettle), which calls LibPerformance.recordTrade as the trading facets do and
moves real tokens (a loss leaves the child, a gain is minted to it first), so capital and PnL agree.
Amounts in USDC base units (6 decimals); times in seconds of chain time.
"""


import pytest
from ape.exceptions import ContractLogicError

from macrostrike.deploy.cuts import ZERO_ADDRESS, facet_cut
from macrostrike.deploy.system import DeployConfig, deploy_system
from macrostrike.keeper.rebalance import BotPerformance, Move, plan_rebalance, return_bps
from ops_helpers import ape, assert_one_line_error
from treasury_helpers import STRIKE_STRATEGY, USDC, handles, latest_timestamp, set_next_timestamp
from revert_helpers import reverts_named

WEEK = 7 * 86_400
BOT_CAPITAL = 1_000 * USDC


class World:
    """A small system: AMM bots 1..3 and long bots 1..2, $1,000 each, a RiskHarnessFacet in both children."""

    def __init__(self, project, accounts, chain):
        self.chain = chain
        self.owner, self.keeper, self.sink = accounts[0], accounts[1], accounts[5]
        system = deploy_system(self.owner, DeployConfig(amm_bots=3, pool_usd=10_000, capital_per_bot_usd=1_000,
                                                        treasury_reserve_usd=5_000, initial_price_usd=20_000))
        self.h = handles(project, system)
        self.project = project
        harness = self.owner.deploy(project.RiskHarnessFacet)
        for role in ("amm", "long"):
            project.DiamondCutFacet.at(self.h.addr(role)).diamondCut([facet_cut(harness)], ZERO_ADDRESS, b"",
                                                                     sender=self.owner)
        self.h.child("long", "BotRegistryFacet").registerBots(2, STRIKE_STRATEGY, b"", sender=self.owner)
        for bot in (1, 2):
            self.h.treasury.fundBot(self.h.addr("long"), bot, BOT_CAPITAL, sender=self.owner)

    def trade(self, role: str, bot: int, pnl: int, at: int | None = None):
        """One closed trade of ``bot`` at child ``role`` with realised ``pnl`` (at chain time ``at``)."""
        if pnl > 0:
            self.h.usdc.mint(self.h.addr(role), pnl, sender=self.owner)
        if at is not None:
            set_next_timestamp(self.chain, at)
        return self.h.child(role, "RiskHarnessFacet").harnessSettle(bot, pnl, self.sink, sender=self.owner)

    def capital(self, role: str, bot: int) -> int:
        return self.h.child(role, "BotRegistryFacet").bot(bot)[1]

    def recent(self, role: str, bot: int) -> int:
        return self.h.child(role, "PerformanceFacet").recentPerformance(bot)[0]


@pytest.fixture(scope="module")
def world(project, accounts, chain):
    """The system with recent performance (one fresh 7-day window): amm#1 +$60 and amm#3 +$60 (566 bps
    each), amm#2 −$20 (−204 bps), long#1 no trade (0 bps), long#2 −$10 (−101 bps)."""
    w = World(project, accounts, chain)
    start = (latest_timestamp(chain) // WEEK + 1) * WEEK  # the start of a fresh window: nothing rolls in the tests
    w.trade("amm", 1, 60 * USDC, at=start + 1)
    w.trade("amm", 2, -20 * USDC)
    w.trade("amm", 3, 60 * USDC)
    w.trade("long", 2, -10 * USDC)
    return w


# -- recent performance in the children ---------------------------------------------------------------------

def test_window_length_default_bounds_and_event(world, stranger):
    perf = world.h.child("long", "PerformanceFacet")
    assert perf.performanceWindowSeconds() == WEEK
    assert perf.recentPerformance(1) == (0, WEEK)
    for bad in (3_599, 90 * 86_400 + 1):
        with reverts_named("WindowOutOfRange", windowSeconds=bad, min=3_600, max=90 * 86_400):
            perf.setPerformanceWindow(bad, sender=world.owner)
    with reverts_named("NotContractOwner"):
        perf.setPerformanceWindow(3_600, sender=stranger)
    for ok in (90 * 86_400, 3_600):
        r = perf.setPerformanceWindow(ok, sender=world.owner)
        assert [e.windowSeconds for e in r.decode_logs(perf.PerformanceWindowSet)] == [ok]
        assert perf.performanceWindowSeconds() == ok
    with pytest.raises(ContractLogicError) as info:  # UnknownBot(99); Ape leaves a view's custom error undecoded
        perf.recentPerformance(99)
    assert type(info.value).__name__ == "UnknownBot" or "custom error 0xdb8ddfe3" in str(info.value)


def test_window_rolls_exactly_at_its_boundary(world, chain):
    W = 3_600
    perf = world.h.child("long", "PerformanceFacet")
    perf.setPerformanceWindow(W, sender=world.owner)
    T = (latest_timestamp(chain) // W + 2) * W
    r = world.trade("long", 1, 100 * USDC, at=T)
    assert [(e.botId, e.pnl, e.trades) for e in r.decode_logs(perf.TradeRecorded)] == [(1, 100 * USDC, 1)]
    assert perf.performanceWindow(1) == (T, 100 * USDC, 0)
    world.trade("long", 1, 50 * USDC, at=T + W - 1)  # last second of the window: same window
    assert perf.performanceWindow(1) == (T, 150 * USDC, 0)
    assert world.recent("long", 1) == 150 * USDC
    world.trade("long", 1, -30 * USDC, at=T + W)  # first second of the next: rolls, 150 becomes the preceding
    assert perf.performanceWindow(1) == (T + W, -30 * USDC, 150 * USDC)
    assert world.recent("long", 1) == 120 * USDC
    # evaluated lazily as of the block's time, no trade needed
    for t, expected in ((T + 2 * W - 1, 120), (T + 2 * W, -30), (T + 3 * W - 1, -30), (T + 3 * W, 0)):
        chain.mine(timestamp=t)
        assert latest_timestamp(chain) == t
        assert world.recent("long", 1) == expected * USDC, t
    # a trade two windows after the stored one: the preceding window is empty
    world.trade("long", 1, 7 * USDC, at=T + 3 * W + 5)
    assert perf.performanceWindow(1) == (T + 3 * W, 7 * USDC, 0)
    assert world.recent("long", 1) == 7 * USDC
    # the all-time totals are unchanged in meaning
    assert perf.botStats(1)[:4] == (4, 3, 1, 127 * USDC)


# -- rebalanceByPerformance on the master -------------------------------------------------------------------

def test_recent_returns_as_the_master_reads_them(world):
    amm, long_ = world.h.addr("amm"), world.h.addr("long")
    expected = {(amm, 1): 566, (amm, 2): -204, (amm, 3): 566, (long_, 1): 0, (long_, 2): -101}
    for (child, bot), bps in expected.items():
        capital = world.h.project.BotRegistryFacet.at(child).bot(bot)[1]
        pnl = world.h.project.PerformanceFacet.at(child).recentPerformance(bot)[0]
        assert return_bps(pnl, capital) == bps
        assert world.h.alloc.recentReturn(child, bot) == (bps, pnl, capital)


def test_refuses_equal_and_worse_performers(world):
    amm = world.h.addr("amm")
    with reverts_named("NotBetterPerformer", fromReturnBps=566, toReturnBps=566, minGapBps=0):
        world.h.alloc.rebalanceByPerformance(amm, 1, amm, 3, USDC, sender=world.owner)
    with reverts_named("NotBetterPerformer", fromReturnBps=566, toReturnBps=-204, minGapBps=0):
        world.h.alloc.rebalanceByPerformance(amm, 1, amm, 2, USDC, sender=world.owner)


def test_refuses_strangers_and_unregistered_keepers(world, stranger):
    amm = world.h.addr("amm")
    for who in (stranger, world.keeper):
        with reverts_named("NotRiskKeeper", sender=who.address):
            world.h.alloc.rebalanceByPerformance(amm, 2, amm, 1, USDC, sender=who)


def test_owner_moves_at_the_bound_with_both_returns_and_conserves_capital(world):
    h, amm = world.h, world.h.addr("amm")
    cap2, cap1 = world.capital("amm", 2), world.capital("amm", 1)
    bound = cap2 * 2_500 // 10_000  # maxMoveBps default 2,500, floor
    with reverts_named("RebalanceAboveBound", amount=bound + 1, maxAmount=bound, maxMoveBps=2_500):
        h.alloc.rebalanceByPerformance(amm, 2, amm, 1, bound + 1, sender=world.owner)
    master_before, child_before = h.usdc.balanceOf(h.treasury.address), h.usdc.balanceOf(amm)
    r = h.alloc.rebalanceByPerformance(amm, 2, amm, 1, bound, sender=world.owner)
    events = list(r.decode_logs(h.alloc.RebalancedByPerformance))
    assert [(e.fromChild, e.fromBot, e.toChild, e.toBot, e.amount, e.fromReturnBps, e.toReturnBps, e.by)
            for e in events] == [(amm, 2, amm, 1, bound, -204, 566, world.owner.address)]
    assert [(e.fromBot, e.toBot, e.amount) for e in r.decode_logs(h.alloc.Rebalanced)] == [(2, 1, bound)]
    assert (world.capital("amm", 2), world.capital("amm", 1)) == (cap2 - bound, cap1 + bound)
    after = world.capital("amm", 2) + world.capital("amm", 1) + h.usdc.balanceOf(h.treasury.address)
    assert after == cap2 + cap1 + master_before  # to the wei
    assert h.usdc.balanceOf(amm) == child_before
    # the recent PnL moves with no capital: the returns are on the new capital
    assert h.alloc.recentReturn(amm, 2)[0] == return_bps(-20 * USDC, cap2 - bound)


def test_risk_keeper_moves_between_children(world, stranger):
    h, amm, long_ = world.h, world.h.addr("amm"), world.h.addr("long")
    h.risk.setRiskKeeper(world.keeper, True, sender=world.owner)
    cap_from, cap_to = world.capital("long", 2), world.capital("amm", 3)
    allocated = (h.treasury.allocatedTo(long_), h.treasury.allocatedTo(amm))
    r = h.alloc.rebalanceByPerformance(long_, 2, amm, 3, 100 * USDC, sender=world.keeper)
    (e,) = r.decode_logs(h.alloc.RebalancedByPerformance)
    assert (e.fromReturnBps, e.toReturnBps, e.by) == (-101, 566, world.keeper.address)
    assert (world.capital("long", 2), world.capital("amm", 3)) == (cap_from - 100 * USDC, cap_to + 100 * USDC)
    assert (h.treasury.allocatedTo(long_), h.treasury.allocatedTo(amm)) == \
        (allocated[0] - 100 * USDC, allocated[1] + 100 * USDC)
    with reverts_named("NotRiskKeeper"):
        h.alloc.rebalanceByPerformance(long_, 2, amm, 3, USDC, sender=stranger)


def test_minimum_gap_and_zero_capital(world, stranger):
    h, amm, long_ = world.h, world.h.addr("amm"), world.h.addr("long")
    assert h.alloc.rebalanceMinGapBps() == 0
    with reverts_named("ParameterOutOfRange", name="minGapBps", value=10_001, min=0, max=10_000):
        h.alloc.setPerformanceGap(10_001, sender=world.owner)
    with reverts_named("NotContractOwner"):
        h.alloc.setPerformanceGap(1, sender=stranger)
    r = h.alloc.setPerformanceGap(102, sender=world.owner)  # long#2 -> long#1 is a gap of 101 bps
    assert [e.minGapBps for e in r.decode_logs(h.alloc.PerformanceGapSet)] == [102]
    with reverts_named("NotBetterPerformer", fromReturnBps=-101, toReturnBps=0, minGapBps=102):
        h.alloc.rebalanceByPerformance(long_, 2, long_, 1, USDC, sender=world.owner)
    h.alloc.setPerformanceGap(101, sender=world.owner)
    h.alloc.rebalanceByPerformance(long_, 2, long_, 1, USDC, sender=world.owner)
    # a bot with no capital has no return, on either side
    h.child("long", "BotRegistryFacet").registerBots(1, STRIKE_STRATEGY, b"", sender=world.owner)
    with reverts_named("NoCapital", child=long_, botId=3):
        h.alloc.rebalanceByPerformance(amm, 2, long_, 3, USDC, sender=world.owner)
    with reverts_named("NoCapital", child=long_, botId=3):
        h.alloc.rebalanceByPerformance(long_, 3, amm, 1, USDC, sender=world.owner)


def test_a_source_gives_once_per_cooldown(world, chain, stranger):
    """Repeated maxMoveBps moves cannot drain a bot: one move out of it per cooldown (1 day by default)."""
    h, amm = world.h, world.h.addr("amm")
    assert h.alloc.performanceMoveCooldown() == 86_400 and h.alloc.performanceMoveAvailableAt(amm, 2) == 0
    r = h.alloc.rebalanceByPerformance(amm, 2, amm, 1, USDC, sender=world.owner)
    moved_at = chain.provider.get_block(r.block_number).timestamp
    assert h.alloc.performanceMoveAvailableAt(amm, 2) == moved_at + 86_400
    with reverts_named("SourceCoolingDown", child=amm, botId=2, availableAt=moved_at + 86_400):
        h.alloc.rebalanceByPerformance(amm, 2, amm, 3, USDC, sender=world.owner)
    set_next_timestamp(chain, moved_at + 86_400 - 1)
    with reverts_named("SourceCoolingDown"):
        h.alloc.rebalanceByPerformance(amm, 2, amm, 3, USDC, sender=world.owner)
    set_next_timestamp(chain, moved_at + 86_400)
    h.alloc.rebalanceByPerformance(amm, 2, amm, 3, USDC, sender=world.owner)
    # the cooldown is the owner's to set, within 60 s .. 30 days
    with reverts_named("ParameterOutOfRange", name="cooldownSeconds", value=59, min=60, max=30 * 86_400):
        h.alloc.setPerformanceMoveCooldown(59, sender=world.owner)
    with reverts_named("NotContractOwner"):
        h.alloc.setPerformanceMoveCooldown(3_600, sender=stranger)
    r = h.alloc.setPerformanceMoveCooldown(3_600, sender=world.owner)
    assert [e.cooldownSeconds for e in r.decode_logs(h.alloc.PerformanceMoveCooldownSet)] == [3_600]
    assert h.alloc.performanceMoveAvailableAt(amm, 2) == moved_at + 86_400 + 3_600


def test_plan_skips_sources_cooling_down():
    bots = [bp("a", 1, 1_000, -50), bp("a", 2, 1_000, -10), bp("a", 3, 1_000, 40), bp("a", 4, 1_000, 90)]
    cooling = BotPerformance("a", 1, 1_000, -50, available_at=1_000)
    assert [(m.source.bot_id, m.dest.bot_id) for m in plan_rebalance(bots, 2_500)] == [(1, 4), (2, 3)]
    plan = plan_rebalance([cooling, *bots[1:]], 2_500, now=999)
    assert [(m.source.bot_id, m.dest.bot_id) for m in plan] == [(2, 4)]
    plan = plan_rebalance([cooling, *bots[1:]], 2_500, now=1_000)
    assert [(m.source.bot_id, m.dest.bot_id) for m in plan] == [(1, 4), (2, 3)]


# -- the planner (pure) -------------------------------------------------------------------------------------

def bp(child, bot, capital, pnl):
    return BotPerformance(child=child, bot_id=bot, capital=capital, recent_pnl=pnl, role=child)


def test_return_bps_truncates_toward_zero():
    assert return_bps(60 * USDC, 1_060 * USDC) == 566
    assert return_bps(-20 * USDC, 980 * USDC) == -204  # -204.08
    assert return_bps(-1, 30_000) == 0  # -0.33 bp -> 0, as Solidity's signed division
    with pytest.raises(ValueError):
        return_bps(1, 0)


def test_plan_pairs_worst_with_best_within_the_bound():
    a, b, c, d = bp("x", 1, 1_000, -10), bp("x", 2, 2_000, 0), bp("y", 1, 1_000, 5), bp("y", 2, 500, 10)
    empty = bp("y", 3, 0, 0)
    moves = plan_rebalance([c, empty, a, d, b], max_move_bps=2_500)
    # returns: a -100, b 0, c 50, d 200; a -> d (gap 300), b -> c (gap 50); 25% of the source's capital
    assert moves == [Move(a, d, 250, -100, 200), Move(b, c, 500, 0, 50)]
    assert [m.gap_bps for m in moves] == [300, 50]
    assert moves[0].call_args() == ("x", 1, "y", 2, 250)
    # a threshold stops at the first pair below it (the outer pairs have the larger gaps)
    assert plan_rebalance([a, b, c, d], 2_500, min_gap_bps=51) == [Move(a, d, 250, -100, 200)]
    assert plan_rebalance([a, b, c, d], 2_500, min_gap_bps=300) == [Move(a, d, 250, -100, 200)]
    assert plan_rebalance([a, b, c, d], 2_500, min_gap_bps=301) == []
    # equal returns never move; a move that floors to 0 is dropped
    assert plan_rebalance([bp("x", 1, 100, 1), bp("x", 2, 100, 1)], 10_000) == []
    assert plan_rebalance([bp("x", 1, 3, -1), bp("x", 2, 100, 1)], 1) == []
    assert plan_rebalance([], 2_500) == []
    with pytest.raises(ValueError):
        plan_rebalance([a], 0)
    with pytest.raises(ValueError):
        plan_rebalance([a], 2_500, min_gap_bps=-1)


# -- the command line (a subprocess against this test's chain) ----------------------------------------------

@pytest.mark.slow
def test_cli_plan_then_send(world, chain):
    h, uri = world.h, chain.provider.uri
    amm = h.addr("amm")
    before = {(r, b): world.capital(r, b) for r, b in (("amm", 1), ("amm", 2), ("amm", 3), ("long", 1), ("long", 2))}
    plan = ape("keeper", "rebalance", "--network", uri)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    # ranked amm#2 -204, long#2 -101, long#1 0, amm#1 566, amm#3 566 (ties by address, bot):
    # amm#2 -> the last of the 566s, long#2 -> the other; long#1 is left in the middle
    best = sorted([(amm.lower(), 1), (amm.lower(), 3)])
    top, second = best[1][1], best[0][1]
    assert "dry run: 2 move(s) planned; pass --yes to send them" in plan.stdout
    assert "amm#2" in plan.stdout and "long#2" in plan.stdout and "-204" in plan.stdout
    assert {k: world.capital(*k) for k in before} == before  # nothing sent
    low_gap = ape("keeper", "rebalance", "--network", uri, "--min-gap-bps", "1000")
    assert low_gap.returncode == 0 and "no move" in low_gap.stdout, low_gap.stdout + low_gap.stderr
    bad = ape("keeper", "rebalance", "--network", uri, "--min-gap-bps", "10001")
    assert_one_line_error(bad, "--min-gap-bps")
    h.alloc.setPerformanceGap(10, sender=world.owner)
    below = ape("keeper", "rebalance", "--network", uri, "--min-gap-bps", "5")
    assert_one_line_error(below, "--min-gap-bps 5 is below the master's rebalanceMinGapBps 10")
    no_role = ape("keeper", "rebalance", "--network", uri, "--yes", "--account", "TEST::9")
    assert_one_line_error(no_role, "is neither the master's owner nor a risk keeper", "--account")
    assert {k: world.capital(*k) for k in before} == before  # nothing sent
    sent = ape("keeper", "rebalance", "--network", uri, "--yes")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.count("tx 0x") == 2
    move1 = before[("amm", 2)] * 2_500 // 10_000
    move2 = before[("long", 2)] * 2_500 // 10_000
    assert world.capital("amm", 2) == before[("amm", 2)] - move1
    assert world.capital("amm", top) == before[("amm", top)] + move1
    assert world.capital("long", 2) == before[("long", 2)] - move2
    assert world.capital("amm", second) == before[("amm", second)] + move2
    assert world.capital("long", 1) == before[("long", 1)]
