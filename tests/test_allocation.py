"""Master treasury and allocation (issue 3 §3) on chain, at the specification's reference size:
$800,000 with 25 long, 25 short and 50 AMM bots. allocate() holds 5% back into the reserve fund
and gives 25% / 25% / 50% of the rest to the kinds, equally per active bot ($7,600 per bot: the
specification's $8,000 is before the 5% reserve). Profit sweeps pay 10% into the reserve fund;
rebalancing is bounded; withdrawAll empties everything to one address. Every flow's event is checked.
Amounts in USDC base units (6 decimals); all divisions floor.
"""


import pytest

from macrostrike.amm.v2math import best_arbitrage
from macrostrike.deploy.cuts import ZERO_ADDRESS
from macrostrike.deploy.system import DeployConfig, deploy_system
from market_helpers import push_price_up, reserves
from treasury_helpers import STRIKE_STRATEGY, USDC, deposit, handles, remove_exit_all
from revert_helpers import reverts_named

REFERENCE = 800_000 * USDC
FIRST_AMM_CAPITAL = 8_000 * USDC  # the one AMM bot deploy_system funds


@pytest.fixture(scope="module")
def h(project, accounts):
    owner, keeper = accounts[0], accounts[1]
    system = deploy_system(owner, DeployConfig(amm_bots=1, capital_per_bot_usd=8_000, treasury_reserve_usd=0,
                                               pool_usd=1_000_000, initial_price_usd=20_000,
                                               keepers=(str(keeper.address),)))
    h = handles(project, system)
    h.child("long", "BotRegistryFacet").registerBots(25, STRIKE_STRATEGY, b"", sender=owner)
    h.child("short", "BotRegistryFacet").registerBots(25, STRIKE_STRATEGY, b"", sender=owner)
    h.child("amm", "BotRegistryFacet").registerBots(49, b"CROSS_DEX_ARB".ljust(32, b"\0"), b"", sender=owner)
    deposit(h, owner, REFERENCE)
    return h


def capitals(h, role):
    page = h.child(role, "BotRegistryFacet").botsPage(1, 100)
    return [b.capital for b in page]


def test_defaults_from_the_specification(h):
    p = h.alloc.allocationParams()
    assert (p.longBps, p.shortBps, p.ammBps, p.reserveBps, p.profitTaxBps, p.reserveMinBps, p.maxMoveBps) == \
        (2_500, 2_500, 5_000, 500, 1_000, 500, 2_500)


def test_allocate_reference_size(h, accounts):
    owner = accounts[0]
    assert h.alloc.freeTreasury() == REFERENCE
    r = h.alloc.allocate(sender=owner)
    per_bot = 7_600 * USDC  # (800,000 − 5%) × 25% / 25 = (800,000 − 5%) × 50% / 50
    assert [(e.freeTreasury, e.reserveAdded, e.allocated) for e in r.decode_logs(h.alloc.Allocated)] == \
        [(REFERENCE, 40_000 * USDC, 760_000 * USDC)]
    assert sorted((e.kind, e.bots, e.perBot) for e in r.decode_logs(h.alloc.ChildAllocated)) == \
        [(0, 25, per_bot), (1, 25, per_bot), (2, 50, per_bot)]
    assert capitals(h, "long") == [per_bot] * 25 and capitals(h, "short") == [per_bot] * 25
    assert capitals(h, "amm") == [FIRST_AMM_CAPITAL + per_bot] + [per_bot] * 49
    assert h.alloc.reserveFund() == 40_000 * USDC and h.alloc.freeTreasury() == 0
    assert h.usdc.balanceOf(h.treasury.address) == 40_000 * USDC
    assert [e.amount for e in r.decode_logs(h.alloc.ReserveFunded)] == [40_000 * USDC]
    assert h.treasury.allocatedTo(h.addr("long")) == 25 * per_bot
    assert h.alloc.principalOf(h.addr("amm"), 1) == FIRST_AMM_CAPITAL + per_bot
    assert r.gas_used < 15_000_000, r.gas_used  # 100 bots in one transaction


def test_allocation_scales_and_keeps_rounding_in_the_treasury(h, accounts):
    owner = accounts[0]
    h.treasury.withdraw(accounts[4], REFERENCE, sender=owner)
    odd = 123_457_891_237  # $123,457.891237
    deposit(h, owner, odd)
    h.alloc.allocate(sender=owner)
    reserve = odd * 500 // 10_000
    allocatable = odd - reserve
    long_each, amm_each = allocatable * 2_500 // 10_000 // 25, allocatable * 5_000 // 10_000 // 50
    assert capitals(h, "long") == [long_each] * 25
    assert capitals(h, "amm")[1:] == [amm_each] * 49
    assert h.alloc.reserveFund() == reserve
    assert h.alloc.freeTreasury() == allocatable - 50 * long_each - 50 * amm_each  # floor remainders stay


def test_kind_without_active_bots_keeps_its_share(h, accounts):
    owner = accounts[0]
    bots = h.child("short", "BotRegistryFacet")
    for i in range(1, 26):
        bots.setBotStatus(i, 2, sender=owner)  # Paused
    h.alloc.allocate(sender=owner)
    assert capitals(h, "short") == [0] * 25
    assert h.alloc.freeTreasury() == 760_000 * USDC * 2_500 // 10_000


def test_nothing_to_allocate(h, accounts):
    owner = accounts[0]
    h.alloc.allocate(sender=owner)
    with reverts_named("NothingToAllocate"):
        h.alloc.allocate(sender=owner)


@pytest.mark.parametrize("params, error, fields", [
    ((2_500, 2_500, 4_999, 500, 1_000, 500, 2_500), "WeightsNotWhole", {"sum": 9_999}),
    ((2_500, 2_500, 5_000, 2_001, 1_000, 500, 2_500), "ParameterOutOfRange",
     {"name": "reserveBps", "min": 0, "max": 2_000}),
    ((2_500, 2_500, 5_000, 500, 5_001, 500, 2_500), "ParameterOutOfRange",
     {"name": "profitTaxBps", "min": 0, "max": 5_000}),
    ((2_500, 2_500, 5_000, 500, 1_000, 2_001, 2_500), "ParameterOutOfRange",
     {"name": "reserveMinBps", "min": 0, "max": 2_000}),
    ((2_500, 2_500, 5_000, 500, 1_000, 500, 0), "ParameterOutOfRange",
     {"name": "maxMoveBps", "min": 1, "max": 10_000}),
])
def test_set_allocation_validated_naming_the_bound(h, accounts, params, error, fields):
    with reverts_named(error, **fields):
        h.alloc.setAllocation(params, sender=accounts[0])


def test_set_allocation_changes_the_split(h, accounts):
    owner = accounts[0]
    r = h.alloc.setAllocation((0, 0, 10_000, 2_000, 5_000, 0, 10_000), sender=owner)
    assert len(list(r.decode_logs(h.alloc.AllocationSet))) == 1
    h.alloc.allocate(sender=owner)
    assert capitals(h, "long") == [0] * 25
    assert h.alloc.reserveFund() == REFERENCE * 2_000 // 10_000
    assert capitals(h, "amm")[1:] == [(REFERENCE - REFERENCE // 5) // 50] * 49


def arbitrage(h, owner, keeper, bot, fraction=50):
    system = h.system
    push_price_up(system, owner, fraction=fraction)
    buy_on_a, amount, profit = best_arbitrage(reserves(system, "dex_a_pair"), reserves(system, "dex_b_pair"))
    capital = h.child("amm", "BotRegistryFacet").bot(bot)[1]
    r = h.child("amm", "ArbitrageFacet").executeArbitrage(bot, buy_on_a, min(amount, capital), 0, sender=keeper)
    return [e.profit for e in r.decode_logs(h.child("amm", "ArbitrageFacet").ArbitrageExecuted)][0]


def test_sweep_profits_pays_the_tax_into_the_reserve(h, accounts, keeper):
    owner = accounts[0]
    h.alloc.allocate(sender=owner)
    amm = h.addr("amm")
    principal = h.alloc.principalOf(amm, 2)
    profit = arbitrage(h, owner, keeper, 2)
    assert profit > 0 and h.alloc.sweepableProfit(amm, 2) == profit
    reserve, free = h.alloc.reserveFund(), h.alloc.freeTreasury()
    r = h.alloc.sweepProfits(amm, [2, 3], sender=owner)
    tax = profit * 1_000 // 10_000
    assert [(e.botId, e.profit, e.tax) for e in r.decode_logs(h.alloc.ProfitSwept)] == [(2, profit, tax)]
    assert h.alloc.reserveFund() == reserve + tax
    assert h.alloc.freeTreasury() == free + profit - tax
    assert h.child("amm", "BotRegistryFacet").bot(2)[1] == principal
    assert h.alloc.profitTotals() == (profit, tax)
    with reverts_named("InvalidBatch", length=0):
        h.alloc.sweepProfits(amm, [], sender=owner)


def test_recall_keeps_profit_sweepable(h, accounts, keeper):
    owner = accounts[0]
    h.alloc.allocate(sender=owner)
    amm = h.addr("amm")
    profit = arbitrage(h, owner, keeper, 2)
    h.treasury.recallCapital(amm, 2, 1_000 * USDC, sender=owner)
    assert h.alloc.sweepableProfit(amm, 2) == profit  # recalled capital came out of principal
    # recalling more than the principal takes profit with it: what is left is clamped
    capital = h.child("amm", "BotRegistryFacet").bot(2)[1]
    h.treasury.recallCapital(amm, 2, capital - 1, sender=owner)
    assert h.alloc.principalOf(amm, 2) <= 1


def test_reserve_minimum_boundary(h, accounts):
    owner = accounts[0]
    h.alloc.allocate(sender=owner)
    deposit(h, owner, 10_000 * USDC)
    h.alloc.fundReserve(5_000 * USDC, sender=owner)
    fund, minimum = h.alloc.reserveFund(), h.alloc.reserveMinimum()
    assert minimum == (FIRST_AMM_CAPITAL + REFERENCE + 10_000 * USDC) * 500 // 10_000
    assert fund > minimum
    with reverts_named("ReserveBelowMinimum", reserveAfter=minimum - 1, minimum=minimum):
        h.alloc.releaseReserve(fund - minimum + 1, sender=owner)
    r = h.alloc.releaseReserve(fund - minimum, sender=owner)
    assert [(e.amount, e.reserveFund) for e in r.decode_logs(h.alloc.ReserveReleased)] == [(fund - minimum, minimum)]
    # the treasury's withdraw cannot reach into the reserve fund
    free = h.alloc.freeTreasury()
    with reverts_named("InsufficientTreasury", balance=free, required=free + 1):
        h.treasury.withdraw(accounts[4], free + 1, sender=owner)
    h.treasury.withdraw(accounts[4], free, sender=owner)
    assert h.usdc.balanceOf(h.treasury.address) == minimum


def test_rebalance_within_the_bound(h, accounts):
    owner = accounts[0]
    h.alloc.allocate(sender=owner)
    amm = h.addr("amm")
    bots = h.child("amm", "BotRegistryFacet")
    cap = bots.bot(3)[1]
    bound = cap * 2_500 // 10_000
    with reverts_named("RebalanceAboveBound", amount=bound + 1, maxAmount=bound, maxMoveBps=2_500):
        h.alloc.rebalance(amm, 3, 4, bound + 1, sender=owner)
    r = h.alloc.rebalance(amm, 3, 4, bound, sender=owner)
    assert [(e.fromBot, e.toBot, e.amount) for e in r.decode_logs(h.alloc.Rebalanced)] == [(3, 4, bound)]
    assert bots.bot(3)[1] == cap - bound and bots.bot(4)[1] == cap + bound
    assert h.alloc.principalOf(amm, 4) == cap + bound
    with reverts_named("SameBot"):
        h.alloc.rebalance(amm, 4, 4, 1, sender=owner)


def test_rebalance_between_children(h, accounts):
    owner = accounts[0]
    h.alloc.allocate(sender=owner)
    long_, amm = h.addr("long"), h.addr("amm")
    amount = 1_000 * USDC
    before = (h.treasury.allocatedTo(long_), h.treasury.allocatedTo(amm))
    r = h.alloc.rebalanceChildren(long_, 1, amm, 5, amount, sender=owner)
    assert [(e.fromChild, e.toChild, e.amount) for e in r.decode_logs(h.alloc.Rebalanced)] == [(long_, amm, amount)]
    assert capitals(h, "long")[0] == 7_600 * USDC - amount
    assert capitals(h, "amm")[4] == 7_600 * USDC + amount
    assert (h.treasury.allocatedTo(long_), h.treasury.allocatedTo(amm)) == (before[0] - amount, before[1] + amount)


def test_withdraw_all_refuses_while_a_child_keeps_capital(h, accounts):
    owner = accounts[0]
    h.alloc.allocate(sender=owner)
    remove_exit_all(h, owner, "long")  # the long child's capital has no way back
    with reverts_named("ChildNotEmpty", child=h.addr("long")):
        h.alloc.withdrawAll(accounts[7], sender=owner)


def test_withdraw_all_empties_every_child_and_the_master(h, accounts, keeper):
    owner, to = accounts[0], accounts[7]
    h.alloc.allocate(sender=owner)
    profit = arbitrage(h, owner, keeper, 7)  # strike children exit through StrikeFacet.exitAll
    children = [h.addr(r) for r in ("long", "short", "amm")]
    total = h.usdc.balanceOf(h.treasury.address) + sum(h.usdc.balanceOf(c) for c in children)
    assert total == FIRST_AMM_CAPITAL + REFERENCE + profit
    to_before = h.usdc.balanceOf(to)
    withdrawn_before = h.treasury.totalWithdrawn()
    r = h.alloc.withdrawAll(to, sender=owner)
    assert [(e.to, e.amount, e.childrenExited) for e in r.decode_logs(h.alloc.WithdrawnAll)] == [(to.address, total, 3)]
    assert {e.child for e in r.decode_logs(h.alloc.ChildExited)} == set(children)
    assert h.usdc.balanceOf(to) == to_before + total
    assert h.usdc.balanceOf(h.treasury.address) == 0 and h.alloc.reserveFund() == 0
    for c in children:
        assert h.usdc.balanceOf(c) == 0
    for role in ("long", "short", "amm"):
        assert capitals(h, role) == [0] * len(capitals(h, role))
    assert h.treasury.totalWithdrawn() == withdrawn_before + total
    with reverts_named("ZeroAddress"):
        h.alloc.withdrawAll(ZERO_ADDRESS, sender=owner)
