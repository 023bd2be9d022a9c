"""Inspector and planner on a diamond this project did not write: Solidstate's SolidStateDiamond.

SolidStateDiamond (npm @solidstate/contracts 0.0.59, abstract there) is made concrete without changes,
compiled with our solc standard-json and deployed from its bytecode. Its twelve built-in functions
are immutable (routed to the diamond itself); the planner adds, replaces and removes our counter
facets around them, and the inspector rebuilds the whole history from DiamondCut events.
"""

import pytest

from macrostrike.upgrade.inspector import DIAMOND_CUT_TOPIC, inspect_diamond, project_contract_types
from macrostrike.upgrade.planner import UpgradeRefused, execute, plan_upgrade
from macrostrike.upgrade.project import project_facets
from macrostrike.upgrade.signatures import SignatureBook, selector_hex
from upgrade_helpers import deploy_type, solidstate_diamond_type

pytestmark = pytest.mark.slow  # one solc compile of Solidstate (~15 s with solc-js)


@pytest.fixture(scope="module")
def solidstate(owner, stranger):
    ct = solidstate_diamond_type()
    return deploy_type(owner, ct), ct


@pytest.fixture(scope="module")
def web3(chain):
    return chain.provider.web3


def test_inspect_fresh_solidstate_diamond(web3, solidstate, owner):
    diamond, ct = solidstate
    book = SignatureBook()
    book.add_contract_type(ct)
    view = inspect_diamond(web3, diamond.address, book=book)
    assert view.owner == owner.address
    assert [f.address for f in view.facets] == [diamond.address]
    assert len(view.facets[0].selectors) == 12
    assert len(view.history) == 1 and view.history[0].cuts[0][0] == "Add"
    assert view.history[0].cuts[0][1] == diamond.address
    text = view.render()
    assert "(the diamond itself: immutable)" in text
    assert "nomineeOwner() 0x" in text and "diamondCut((address,uint8,bytes4[])[],address,bytes) 0x1f931c1c" in text
    assert "Cut history: 1 DiamondCut event(s)" in text


def test_plan_upgrade_and_inspect_history_on_solidstate(web3, solidstate, owner, project, stranger):
    diamond, ct = solidstate
    # nothing to remove: Solidstate's own functions are immutable and left alone
    plan = plan_upgrade(web3, diamond.address, project_facets(["UpgradeCounterFacetV1"]))
    assert plan.removes == [] and plan.replaces == []
    assert {c.selector for c in plan.adds} == {selector_hex(s) for s in ("increment()", "count()", "legacyPing()")}
    assert "Storage layout: no recorded layout for this diamond — not checked" in plan.render()
    with pytest.raises(UpgradeRefused, match="not the on-chain owner"):
        execute(plan, stranger)
    first = execute(plan, owner)
    counter = project.UpgradeCounterFacetV1.at(diamond.address)
    counter.increment(sender=owner)
    # V1 -> V2: Remove legacyPing, Replace increment/count, Add step/lastCaller
    plan2 = plan_upgrade(web3, diamond.address, project_facets(["UpgradeCounterFacetV2"]))
    assert [c.selector for c in plan2.removes] == [selector_hex("legacyPing()")]
    second = execute(plan2, owner)
    assert project.UpgradeCounterFacetV2.at(diamond.address).count() == 1
    # a wanted facet claiming an immutable Solidstate selector is refused
    with pytest.raises(UpgradeRefused, match=r"acceptOwnership\(\) 0x79ba5097 of OwnershipFacet is immutable"):
        plan_upgrade(web3, diamond.address, project_facets(["UpgradeCounterFacetV2", "OwnershipFacet"]))

    book = SignatureBook()
    book.add_contract_type(ct)
    view = inspect_diamond(web3, diamond.address, book=book, contract_types=project_contract_types())
    assert [(r.block, r.tx) for r in view.history[1:]] == [
        (first.block_number, first.txn_hash), (second.block_number, second.txn_hash)]
    assert [[c[0] for c in r.cuts] for r in view.history] == [["Add"], ["Add"], ["Remove", "Replace", "Add"]]
    assert view.history[2].cuts[0][2] == [selector_hex("legacyPing()")]
    names = {f.name for f in view.facets}
    assert names == {None, "UpgradeCounterFacetV2"}  # the diamond itself, and V2 named by its code
    text = view.render()
    assert "Remove: legacyPing() 0x" in text
    assert "(UpgradeCounterFacetV1)" in text  # the old facet, named in the history by its code
    print("\n" + text)
    # the raw logs agree with the rebuilt history
    logs = web3.eth.get_logs({"address": diamond.address, "fromBlock": 0, "topics": [DIAMOND_CUT_TOPIC]})
    assert len(logs) == len(view.history) == 3
