"""The master's system-wide per-pair exposure limit (ExposureFacet / LibExposure) across the long
and the short strike child, which trade the same Uniswap V2 pair on the real Aave V3 market.

Exposure is margin (quote base units, USDC 6 decimals), gross over both children. Each child keeps
its own per-pair limit (LibRiskLimits, $200,000 by default) and reports the change of its own figure
to the master; the master's limit binds the sum: the limit trips exactly at its threshold and not
one base unit before, closing releases, a partial decrease keeps the exposure (as the child does),
and everything is released after withdrawAll / emergencyExit (which reach the master re-entrantly).
"""

import pytest
from ape.exceptions import ContractLogicError

from strike_helpers import USD, deploy_strike, reverts_named

#: ~60 s on the 2-core machine (one deployment with the Aave market, a dozen opens and closes)
pytestmark = pytest.mark.slow

DEFAULT_LIMIT = 300_000 * USD
MAX_LIMIT = 2**128 - 1


@pytest.fixture(scope="module")
def s(project, accounts):
    return deploy_strike(project, accounts)


@pytest.fixture(scope="module")
def ex(project, s):
    return project.ExposureFacet.at(s.master)


@pytest.fixture(scope="module")
def key(s):
    """StrikeFacet._pairKey: bytes32(uint160(pair))."""
    return bytes.fromhex(str(s.pair.address)[2:]).rjust(32, b"\0")


def deadline(chain):
    return chain.pending_timestamp + 3_600


def open_(s, chain, side, bot, margin):
    return s.facet(side).openPosition(bot, margin, 20_000, deadline(chain), sender=s.keeper)


def close(s, chain, side, bot):
    return s.facet(side).closePosition(bot, deadline(chain), sender=s.keeper)


def child_exposure(s, side, key):
    return int(s.facet(side, "RiskLimitsFacet").pairExposure(key))


def assert_in_sync(s, ex, key):
    """The master's figure is the sum of the children's own figures."""
    assert ex.pairExposure(key) == child_exposure(s, "long", key) + child_exposure(s, "short", key)


def test_deployed_defaults(s, ex, key):
    assert ex.defaultPairExposureLimit() == DEFAULT_LIMIT
    assert ex.pairExposureLimit(key) == DEFAULT_LIMIT
    assert ex.pairExposure(key) == 0
    # each child's own limit alone would allow more than the master's: $200,000 each
    assert s.facet("long", "RiskLimitsFacet").riskLimits().maxPairExposure == 200_000 * USD


def test_limit_trips_exactly_at_threshold_across_children(s, ex, key, chain):
    limit = 1_000 * USD
    ex.setPairExposureLimit(key, limit, sender=s.owner)
    r = open_(s, chain, "long", 1, 600 * USD)
    ev = list(r.decode_logs(ex.PairExposureAdded))
    assert [(e.child, e.pairKey, e.size, e.exposure) for e in ev] == [(s.addr["long"], key, 600 * USD, 600 * USD)]
    # the short child's own limit ($200,000) allows 400 USD + 1 unit; the master's does not
    with reverts_named("SystemPairExposureExceeded") as info:
        open_(s, chain, "short", 1, 400 * USD + 1)
    assert dict(info.value.inputs) == {"pairKey": key, "exposure": 600 * USD, "size": 400 * USD + 1, "limit": limit}
    assert child_exposure(s, "short", key) == 0 and not s.facet("short").position(1).open
    # exactly at the limit is allowed
    open_(s, chain, "short", 1, 400 * USD)
    assert ex.pairExposure(key) == limit
    assert_in_sync(s, ex, key)
    # and nothing more, from either child
    for side in ("long", "short"):
        with reverts_named("SystemPairExposureExceeded"):
            open_(s, chain, side, 2, 1)


def test_close_releases_partial_decrease_keeps(s, ex, key, chain):
    open_(s, chain, "long", 1, 600 * USD)
    open_(s, chain, "short", 1, 400 * USD)
    # the owner lowers the limit below the open exposure: opening is blocked, closing is not
    ex.setPairExposureLimit(key, 1, sender=s.owner)
    s.facet("long").decreasePosition(1, 5_000, deadline(chain), sender=s.keeper)
    assert ex.pairExposure(key) == 1_000 * USD  # as the child: released only when the position closes
    assert_in_sync(s, ex, key)
    r = close(s, chain, "long", 1)
    ev = list(r.decode_logs(ex.PairExposureRemoved))
    assert [(e.child, e.size, e.exposure) for e in ev] == [(s.addr["long"], 600 * USD, 400 * USD)]
    close(s, chain, "short", 1)
    assert ex.pairExposure(key) == 0
    assert_in_sync(s, ex, key)
    with reverts_named("SystemPairExposureExceeded"):
        open_(s, chain, "short", 1, 2)
    ex.setPairExposureLimit(key, 0, sender=s.owner)  # back to the default
    open_(s, chain, "short", 1, 2)
    assert ex.pairExposure(key) == 2


def test_increase_is_checked_and_reported(s, ex, key, chain):
    """increasePosition goes through LibRiskLimits.recordIncrease: the master checks its limit on
    the added margin and the sums stay equal."""
    open_(s, chain, "long", 1, 500 * USD)
    s.facet("long").increasePosition(1, 200 * USD, 20_000, deadline(chain), sender=s.keeper)
    assert child_exposure(s, "long", key) == 700 * USD
    assert ex.pairExposure(key) == 700 * USD
    ex.setPairExposureLimit(key, 800 * USD, sender=s.owner)
    with reverts_named("SystemPairExposureExceeded") as info:
        s.facet("long").increasePosition(1, 100 * USD + 1, 20_000, deadline(chain), sender=s.keeper)
    assert info.value.inputs["exposure"] == 700 * USD and info.value.inputs["size"] == 100 * USD + 1
    s.facet("long").increasePosition(1, 100 * USD, 20_000, deadline(chain), sender=s.keeper)
    ex.setPairExposureLimit(key, 0, sender=s.owner)
    assert ex.pairExposure(key) == 800 * USD
    open_(s, chain, "long", 2, 100 * USD)
    assert ex.pairExposure(key) == 900 * USD
    close(s, chain, "long", 1)
    assert ex.pairExposure(key) == 100 * USD
    assert_in_sync(s, ex, key)


def test_close_goes_through_when_the_master_refuses_the_removal(project, s, ex, key, chain):
    """Closing is always allowed: with removePairExposure cut out of the master, the close works,
    the child emits ExposureReportFailed and keeps the difference to report later."""
    from macrostrike.deploy.cuts import ZERO_ADDRESS, FacetCutAction, selector

    open_(s, chain, "long", 1, 500 * USD)
    open_(s, chain, "long", 2, 100 * USD)
    remove = selector("removePairExposure(bytes32,uint256)")
    project.DiamondCutFacet.at(s.master).diamondCut([(ZERO_ADDRESS, int(FacetCutAction.REMOVE), [remove])],
                                                    ZERO_ADDRESS, b"", sender=s.owner)
    r = close(s, chain, "long", 1)
    failed = list(r.decode_logs(s.facet("long").ExposureReportFailed))
    assert [(f.pairKey, f.reported, f.exposure) for f in failed] == [(key, 600 * USD, 100 * USD)]
    assert not s.facet("long").position(1).open and child_exposure(s, "long", key) == 100 * USD
    assert ex.pairExposure(key) == 600 * USD  # the master still counts the closed margin
    # the next report (an open) carries only the child's net change since the last accepted one
    open_(s, chain, "long", 3, 50 * USD)
    assert child_exposure(s, "long", key) == 150 * USD
    assert ex.pairExposure(key) == 600 * USD  # 150 < 600 reported: a removal, refused again
    ex_failed = close(s, chain, "long", 2).decode_logs(s.facet("long").ExposureReportFailed)
    assert [f.exposure for f in ex_failed] == [50 * USD]


@pytest.mark.parametrize("how", ["withdrawAll", "emergencyExit"])
def test_exposure_zero_after_exit(project, s, ex, key, chain, accounts, how):
    for side in ("long", "short"):
        open_(s, chain, side, 1, 500 * USD)
        open_(s, chain, side, 2, 300 * USD)
    assert ex.pairExposure(key) == 1_600 * USD
    if how == "withdrawAll":
        r = project.AllocationFacet.at(s.master).withdrawAll(accounts[7], sender=s.owner)
    else:
        r = project.EmergencyFacet.at(s.master).emergencyExit(sender=s.owner)
    # the children's exitAll closed every position and reported each close back to the master
    assert len(list(r.decode_logs(ex.PairExposureRemoved))) == 4
    assert ex.pairExposure(key) == 0
    assert child_exposure(s, "long", key) == child_exposure(s, "short", key) == 0


def test_only_registered_children_add_or_remove(s, ex, key, accounts):
    for who in (accounts[9], s.owner, s.keeper):
        for fn in (ex.addPairExposure, ex.removePairExposure):
            with reverts_named("NotChild") as info:
                fn(key, 1, sender=who)
            assert info.value.inputs["sender"] == who.address


def test_owner_only_setters_with_bounds(s, ex, key, accounts):
    stranger = accounts[9]
    for call in (lambda: ex.setDefaultPairExposureLimit(1, sender=stranger),
                 lambda: ex.setPairExposureLimit(key, 1, sender=stranger)):
        with pytest.raises(ContractLogicError) as info:
            call()
        assert type(info.value).__name__ == "NotContractOwner"
    for bad in (0, MAX_LIMIT + 1):
        with reverts_named("ParameterOutOfRange") as info:
            ex.setDefaultPairExposureLimit(bad, sender=s.owner)
        assert dict(info.value.inputs) == {"name": "defaultPairExposureLimit", "value": bad, "min": 1, "max": MAX_LIMIT}
    with reverts_named("ParameterOutOfRange") as info:
        ex.setPairExposureLimit(key, MAX_LIMIT + 1, sender=s.owner)
    assert info.value.inputs["name"] == "pairExposureLimit"
    r = ex.setDefaultPairExposureLimit(MAX_LIMIT, sender=s.owner)
    assert [e.limit for e in r.decode_logs(ex.DefaultPairExposureLimitSet)] == [MAX_LIMIT]
    r = ex.setDefaultPairExposureLimit(1, sender=s.owner)
    assert ex.defaultPairExposureLimit() == 1 and ex.pairExposureLimit(key) == 1
    r = ex.setPairExposureLimit(key, 5 * USD, sender=s.owner)
    assert [(e.pairKey, e.limit) for e in r.decode_logs(ex.PairExposureLimitSet)] == [(key, 5 * USD)]
    assert ex.pairExposureLimit(key) == 5 * USD
    other = b"\x01" * 32
    assert ex.pairExposureLimit(other) == 1  # the default applies where no own limit is set
