"""Master and child diamonds: registry, treasury flows, coordination, arbitrage guards, events."""


import ape
import pytest

from macrostrike.amm.v2math import best_arbitrage
from market_helpers import push_price_up, reserves
from macrostrike.deploy.system import ARBITRAGE_STRATEGY, CHILD_FACETS, DeployConfig, deploy_system
from macrostrike.deploy.cuts import facet_cut
from revert_helpers import reverts_named

CAPITAL = 1_000 * 10**6


@pytest.fixture(scope="module")
def system(accounts):
    return deploy_system(accounts[0], DeployConfig(amm_bots=3, pool_usd=1_000_000, capital_per_bot_usd=1_000,
                                                   treasury_reserve_usd=5_000, initial_price_usd=20_000,
                                                   keepers=(str(accounts[1].address),)))


@pytest.fixture
def h(project, system):
    """Facet views of the deployed diamonds."""
    m, amm = system.manifest.address("master"), system.manifest.address("amm")

    class H:
        treasury = project.TreasuryFacet.at(m)
        registry = project.ChildRegistryFacet.at(m)
        stats = project.MasterStatsFacet.at(m)
        bots = project.BotRegistryFacet.at(amm)
        coord = project.ChildCoordinationFacet.at(amm)
        perf = project.PerformanceFacet.at(amm)
        arb = project.ArbitrageFacet.at(amm)
        usdc = system.contracts["usdc"]
    return H


def test_children_registered_with_kinds(system, h):
    children, kinds = h.registry.children()
    assert list(children) == [system.manifest.address(r) for r in ("long", "short", "amm")]
    assert list(kinds) == [0, 1, 2]


def test_bots_registered_and_funded(h):
    assert h.bots.botCount() == 3
    for i in (1, 2, 3):
        status, capital, strategy, _params = h.bots.bot(i)
        assert status == 1 and capital == CAPITAL and bytes(strategy) == ARBITRAGE_STRATEGY
    assert h.coord.totalCapital() == 3 * CAPITAL == h.usdc.balanceOf(h.coord.address)
    assert h.treasury.allocatedTo(h.coord.address) == 3 * CAPITAL
    assert h.treasury.treasuryBalance() == 5_000 * 10**6


def test_deposit_fund_recall_flow(h, accounts):
    owner = accounts[0]
    h.usdc.mint(owner, 700 * 10**6, sender=owner)
    h.usdc.approve(h.treasury.address, 700 * 10**6, sender=owner)
    r = h.treasury.deposit(700 * 10**6, sender=owner)
    assert [e.amount for e in r.decode_logs(h.treasury.Deposited)] == [700 * 10**6]
    r = h.treasury.fundBot(h.coord.address, 2, 300 * 10**6, sender=owner)
    assert [(e.botId, e.amount) for e in r.decode_logs(h.coord.BotFunded)] == [(2, 300 * 10**6)]
    assert h.bots.bot(2)[1] == CAPITAL + 300 * 10**6
    before = h.treasury.treasuryBalance()
    r = h.treasury.recallCapital(h.coord.address, 2, 500 * 10**6, sender=owner)
    assert [(e.botId, e.newCapital) for e in r.decode_logs(h.coord.CapitalRecalled)] == [(2, 800 * 10**6)]
    assert h.treasury.treasuryBalance() == before + 500 * 10**6
    assert h.coord.totalCapital() == 3 * CAPITAL - 200 * 10**6 == h.usdc.balanceOf(h.coord.address)
    r = h.treasury.withdraw(accounts[3], 100 * 10**6, sender=owner)
    assert [e.to for e in r.decode_logs(h.treasury.Withdrawn)] == [accounts[3].address]
    assert h.treasury.totalWithdrawn() == 100 * 10**6


def test_fund_requires_tokens_in_the_child(h, accounts):
    with ape.reverts(h.coord.InsufficientUnallocatedBalance):
        h.coord.fundBot(1, 1, sender=accounts[0])


def test_recall_more_than_capital(h, accounts):
    with reverts_named("InsufficientBotCapital"):
        h.treasury.recallCapital(h.coord.address, 1, CAPITAL + 1, sender=accounts[0])


def test_treasury_overdraw(h, accounts):
    with ape.reverts(h.treasury.InsufficientTreasury):
        h.treasury.fundBot(h.coord.address, 1, 10**18, sender=accounts[0])


def test_unknown_child_and_bot(h, accounts, stranger):
    with ape.reverts(h.treasury.UnknownChild):
        h.treasury.fundBot(stranger.address, 1, 1, sender=accounts[0])
    with ape.reverts(h.bots.UnknownBot):
        h.bots.bot(99)


@pytest.mark.parametrize("count", [0, 101])
def test_register_bots_bounds(h, accounts, count):
    with ape.reverts(h.bots.InvalidBotCount):
        h.bots.registerBots(count, ARBITRAGE_STRATEGY, b"", sender=accounts[0])


@pytest.mark.slow
def test_register_bots_capped_at_what_exit_all_walks(project, h, accounts):
    """Issue 11 item 6a: a child never holds more bots than exitAll walks (LibBots.MAX_EXIT_BOTS =
    1,000), so exitAll can always empty it; registering beyond the cap is refused. At the cap, with
    every bot funded, exitAll fits well inside a 30M-gas block."""
    owner, amm = accounts[0], h.bots.address
    cap = project.ArbitrageFacet.at(amm).MAX_EXIT_BOTS()
    assert cap == 1_000
    first = h.bots.botCount() + 1
    while h.bots.botCount() < cap:
        h.bots.registerBots(min(100, cap - h.bots.botCount()), ARBITRAGE_STRATEGY, b"", sender=owner)
    assert h.bots.botCount() == cap
    with ape.reverts(h.bots.TooManyBotsInChild, botCount=cap, count=1, maxBots=cap):
        h.bots.registerBots(1, ARBITRAGE_STRATEGY, b"", sender=owner)
    assert h.bots.botCount() == cap
    ids = list(range(first, cap + 1))
    h.usdc.mint(owner, len(ids), sender=owner)
    h.usdc.approve(h.treasury.address, len(ids), sender=owner)
    h.treasury.deposit(len(ids), sender=owner)
    for i in range(0, len(ids), 100):
        h.treasury.fundBots(amm, ids[i:i + 100], 1, sender=owner)  # 1 base unit each: every bot has capital
    r = h.arb.exitAll(100, sender=owner)
    assert h.coord.totalCapital() == 0 and len(list(r.decode_logs(h.arb.BotCapitalExited))) == cap
    print(f"exitAll of {cap} funded bots: {r.gas_used} gas")
    assert r.gas_used < 10_000_000


def test_register_bots_sequential_ids(h, accounts):
    r = h.bots.registerBots(2, ARBITRAGE_STRATEGY, b"\x01", sender=accounts[0])
    assert [e.botId for e in r.decode_logs(h.bots.BotRegistered)] == [4, 5]
    assert h.bots.botCount() == 5


def test_register_child_rules(project, system, h, accounts):
    owner = accounts[0]
    with ape.reverts(h.registry.ChildAlreadyRegistered):
        h.registry.registerChild(system.manifest.address("amm"), 2, sender=owner)
    # a child whose master is someone else
    facets = {n: project.__getattr__(n).at(system.manifest.diamonds["amm"]["facets"][n]["address"]) for n in CHILD_FACETS}
    init = project.ChildInit.at(system.manifest.address("init:ChildInit"))
    stray = owner.deploy(project.AMMDiamond, owner, [facet_cut(f) for f in facets.values()], init.address,
                         init.init.encode_input(accounts[3].address, h.usdc.address))
    with ape.reverts(h.registry.ChildMasterMismatch):
        h.registry.registerChild(stray.address, 2, sender=owner)
    # at most 8 children: 3 registered, 5 more fit, the 9th is refused
    for _ in range(5):
        child = owner.deploy(project.AMMDiamond, owner, [facet_cut(f) for f in facets.values()], init.address,
                             init.init.encode_input(system.manifest.address("master"), h.usdc.address))
        h.registry.registerChild(child.address, 2, sender=owner)
    ninth = owner.deploy(project.AMMDiamond, owner, [facet_cut(f) for f in facets.values()], init.address,
                         init.init.encode_input(system.manifest.address("master"), h.usdc.address))
    with ape.reverts(h.registry.TooManyChildren):
        h.registry.registerChild(ninth.address, 2, sender=owner)


def test_arbitrage_uses_only_its_bot_and_records(system, h, accounts):
    owner, keeper = accounts[0], accounts[1]
    push_price_up(system, owner)
    buy_on_a, amount, profit = best_arbitrage(reserves(system, "dex_a_pair"), reserves(system, "dex_b_pair"))
    assert not buy_on_a and amount > 0 and profit > 0
    amount = min(amount, CAPITAL)
    _base, out = h.arb.quoteArbitrage(buy_on_a, amount)
    balance_before = h.usdc.balanceOf(h.coord.address)
    r = h.arb.executeArbitrage(2, buy_on_a, amount, 0, sender=keeper)
    realised = out - amount
    assert [e.profit for e in r.decode_logs(h.arb.ArbitrageExecuted)] == [realised]
    assert h.usdc.balanceOf(h.coord.address) == balance_before + realised
    assert h.bots.bot(2)[1] == CAPITAL + realised
    assert h.bots.bot(1)[1] == CAPITAL and h.bots.bot(3)[1] == CAPITAL
    trades, wins, losses, pnl, _last = h.perf.botStats(2)
    assert (trades, wins, losses, pnl) == (1, 1, 0, realised)
    assert h.stats.systemStats()[2:] == (1, 1, 0, realised)


def test_arbitrage_guards(system, h, accounts):
    owner, keeper = accounts[0], accounts[1]
    push_price_up(system, owner)
    _base, out = h.arb.quoteArbitrage(False, CAPITAL)
    with ape.reverts(h.arb.InsufficientProfit):
        h.arb.executeArbitrage(1, False, CAPITAL, out - CAPITAL + 1, sender=keeper)
    with ape.reverts(h.arb.InsufficientBotCapital):
        h.arb.executeArbitrage(1, False, CAPITAL + 1, 0, sender=keeper)
    with ape.reverts(h.arb.ZeroAmount):
        h.arb.executeArbitrage(1, False, 0, 0, sender=keeper)
    h.bots.setBotStatus(1, 2, sender=owner)
    with ape.reverts(h.bots.BotNotActive):
        h.arb.executeArbitrage(1, False, CAPITAL, 0, sender=keeper)
    h.treasury.pauseChild(h.coord.address, sender=owner)
    with ape.reverts(h.coord.ChildIsPaused):
        h.arb.executeArbitrage(2, False, CAPITAL, 0, sender=keeper)
    h.treasury.unpauseChild(h.coord.address, sender=owner)
    h.arb.executeArbitrage(2, False, CAPITAL // 10, 0, sender=keeper)


def test_set_pairs_validation(system, h, accounts):
    owner = accounts[0]
    a, b = system.contracts["dex_a_pair"].address, system.contracts["dex_b_pair"].address
    with ape.reverts(h.arb.InvalidArbitrageConfig):
        h.arb.setArbitragePairs(a, a, system.contracts["wbtc"].address, sender=owner)
    with ape.reverts(h.arb.InvalidPair):
        h.arb.setArbitragePairs(a, b, system.contracts["weth"].address, sender=owner)
