"""Issue 11 item 6c: one child whose equity() reverts must not block the master.

The test-only BrokenEquityFacet takes over `equity()` in a child (a Replace cut), as a broken oracle
or a bad upgrade would. What the master does with a child it cannot value:

* deposit and withdraw refuse (the flow's share of total equity would be wrong) with
  ChildNotValued(child) naming the child, not with the child's raw revert; so does resetBreaker;
* checkpoint still runs: it reports the child (ChildValuationFailed) and trips the breaker with
  reason 3 (ChildUnvaluable), moving no risk reference;
* the owner may remove the child (removeChild) after an exit attempt, if it holds nothing or still
  cannot be valued; a child that can be valued and still holds capital is refused (ChildStillHolds).

Amounts in USDC base units (6 decimals).
"""

import ape
import pytest

from macrostrike.deploy.cuts import ZERO_ADDRESS, FacetCutAction, selector
from macrostrike.deploy.system import DeployConfig, deploy_system
from treasury_helpers import USDC, deposit, handles, remove_exit_all

EQUITY = selector("equity()")
CHILD_UNVALUABLE = 3  # LibRisk.TripReason


@pytest.fixture(scope="module")
def world(project, accounts):
    owner = accounts[0]
    system = deploy_system(owner, DeployConfig(amm_bots=2, pool_usd=1_000_000, capital_per_bot_usd=1_000,
                                               treasury_reserve_usd=5_000, initial_price_usd=20_000,
                                               keepers=(str(accounts[1].address),)))
    h = handles(project, system)
    broken = owner.deploy(project.BrokenEquityFacet)
    h.risk.checkpoint(sender=owner)  # the risk references exist: deposits and withdrawals value the children
    return h, broken


def break_equity(h, broken, owner, role: str = "amm") -> str:
    h.child(role, "DiamondCutFacet").diamondCut([(broken.address, int(FacetCutAction.REPLACE), [EQUITY])],
                                                 ZERO_ADDRESS, b"", sender=owner)
    return h.addr(role)


def test_deposit_withdraw_and_views_name_the_child(world, accounts):
    h, broken = world
    owner = accounts[0]
    child = break_equity(h, broken, owner)
    h.usdc.mint(owner, USDC, sender=owner)
    h.usdc.approve(h.treasury.address, USDC, sender=owner)
    with ape.reverts(h.risk.ChildNotValued, child=child):
        h.treasury.deposit(USDC, sender=owner)
    with ape.reverts(h.risk.ChildNotValued, child=child):
        h.treasury.withdraw(owner, USDC, sender=owner)
    with ape.reverts(h.risk.ChildNotValued, child=child):
        h.risk.totalEquity()


def test_checkpoint_reports_the_child_and_trips_the_breaker(world, accounts):
    h, broken = world
    owner = accounts[0]
    before = h.risk.riskState()
    child = break_equity(h, broken, owner)
    r = h.risk.checkpoint(sender=owner)
    failed = list(r.decode_logs(h.risk.ChildValuationFailed))
    assert [(e.child, bytes(e.reason)) for e in failed] == [(child, selector("EquityUnavailable()"))]
    trips = list(r.decode_logs(h.risk.BreakerTripped))
    assert [e.reason for e in trips] == [CHILD_UNVALUABLE]
    assert not list(r.decode_logs(h.risk.Checkpoint))
    state = h.risk.riskState()
    assert state.tripped and state.reason == CHILD_UNVALUABLE
    # no reference moved: total equity is unknown
    assert (state.highWaterMark, state.dayStart, state.dayStartEquity, state.lastEquity) == \
        (before.highWaterMark, before.dayStart, before.dayStartEquity, before.lastEquity)
    assert not h.child("long", "ChildCoordinationFacet").openingAllowed()
    with ape.reverts(h.risk.ChildNotValued, child=child):
        h.risk.resetBreaker(sender=owner)
    # a second checkpoint still runs and reports the child again
    r = h.risk.checkpoint(sender=owner)
    assert [e.child for e in r.decode_logs(h.risk.ChildValuationFailed)] == [child]


def test_unvaluable_child_is_removed_after_an_exit_attempt(world, accounts):
    h, broken = world
    owner = accounts[0]
    capital = h.child("amm", "ChildCoordinationFacet").totalCapital()
    assert capital > 0
    child = break_equity(h, broken, owner)
    h.risk.checkpoint(sender=owner)
    master_before = h.usdc.balanceOf(h.treasury.address)
    r = h.registry.removeChild(child, sender=owner)
    assert [(e.child, e.amount) for e in r.decode_logs(h.risk.ChildExited)] == [(child, capital)]
    assert [(e.child, e.kind, e.valued) for e in r.decode_logs(h.registry.ChildRemoved)] == [(child, 2, False)]
    assert h.usdc.balanceOf(h.treasury.address) == master_before + capital  # the exit brought it home
    assert not h.registry.isChild(child)
    assert list(h.registry.children()[0]) == [h.addr("long"), h.addr("short")]
    assert h.treasury.allocatedTo(child) == 0
    # the master works again: valued, reset, deposit
    h.risk.resetBreaker(sender=owner)
    assert not h.risk.breakerTripped()
    deposit(h, owner, USDC)
    equity, tripped = h.risk.checkpoint.call(sender=owner)
    assert not tripped and equity == h.risk.totalEquity()


def test_unvaluable_child_whose_exit_fails_is_still_removable(world, accounts):
    h, broken = world
    owner = accounts[0]
    remove_exit_all(h, owner, "amm")
    child = break_equity(h, broken, owner)
    r = h.registry.removeChild(child, sender=owner)
    assert [e.child for e in r.decode_logs(h.risk.ChildExitFailed)] == [child]
    assert [(e.child, e.valued) for e in r.decode_logs(h.registry.ChildRemoved)] == [(child, False)]
    assert not h.registry.isChild(child)


def test_valued_child_that_still_holds_capital_is_not_removed(world, accounts):
    h, _ = world
    owner = accounts[0]
    remove_exit_all(h, owner, "amm")  # the exit attempt fails: the capital stays in the child
    child = h.addr("amm")
    equity = h.child("amm", "ChildCoordinationFacet").equity()
    assert equity > 0
    with ape.reverts(h.registry.ChildStillHolds, child=child, equity=equity, balance=equity):
        h.registry.removeChild(child, sender=owner)
    assert h.registry.isChild(child)


def test_empty_child_is_removed(world, accounts):
    h, _ = world
    owner = accounts[0]
    child = h.addr("long")  # the deployment gave the long child no bots and no capital
    assert h.child("long", "ChildCoordinationFacet").equity() == 0
    r = h.registry.removeChild(child, sender=owner)
    assert [(e.child, e.kind, e.valued) for e in r.decode_logs(h.registry.ChildRemoved)] == [(child, 0, True)]
    assert list(h.registry.children()[0]) == [h.addr("amm"), h.addr("short")]  # the last took its place


def test_remove_child_rules(world, accounts, stranger):
    h, _ = world
    with ape.reverts(h.registry.NotContractOwner):
        h.registry.removeChild(h.addr("amm"), sender=stranger)
    with ape.reverts(h.treasury.UnknownChild):
        h.registry.removeChild(stranger.address, sender=accounts[0])


SET_MASTER_BREAKER = selector("setMasterBreaker(bool)")


def test_a_child_refusing_the_breaker_push_does_not_stop_the_trip(world, accounts):
    """The master pushes a trip into every child; a child that refuses it (here: setMasterBreaker
    cut out, as in a child not yet upgraded) is named in BreakerPushFailed with its revert data,
    the trip stands and the other children store it."""
    h, broken = world
    owner = accounts[0]
    h.child("short", "DiamondCutFacet").diamondCut(
        [(ZERO_ADDRESS, int(FacetCutAction.REMOVE), [SET_MASTER_BREAKER])], ZERO_ADDRESS, b"", sender=owner)
    child = break_equity(h, broken, owner)  # the AMM child cannot be valued: the checkpoint trips
    r = h.risk.checkpoint(sender=owner)
    assert h.risk.breakerTripped()
    not_routed = selector("FunctionDoesNotExist(bytes4)") + SET_MASTER_BREAKER + b"\0" * 28
    failed = [(e.child, e.tripped, bytes(e.reason)) for e in r.decode_logs(h.risk.BreakerPushFailed)]
    assert failed == [(h.addr("short"), True, not_routed)]
    assert sorted(e.child for e in r.decode_logs(h.risk.BreakerPushed)) == sorted([h.addr("long"), child])
    assert h.child("amm", "ChildCoordinationFacet").masterBreakerTripped()
    assert h.child("long", "ChildCoordinationFacet").masterBreakerTripped()
