"""The upgrade planner on a live diamond: plan (Remove, Replace, Add), refusals, versioned init, calldata.

A bare `Diamond` with the core facets and UpgradeCounterFacetV1 (contracts/test/upgrade) is upgraded
to UpgradeCounterFacetV2 with UpgradeCounterInitV2 in the same cut.
"""

import pytest
from ape.exceptions import ContractLogicError
from eth_abi import decode

from diamond_helpers import CORE, deploy_core_facets, deploy_diamond
from macrostrike.upgrade.layout import diamond_storage_record, namespace_layouts, project_layouts, recorded_layouts
from macrostrike.upgrade.planner import (
    FACET_CUT_TYPES,
    PROTECTED,
    Facet,
    StorageLayoutRefused,
    UpgradeRefused,
    check_owner,
    deploy_missing,
    execute,
    plan_upgrade,
)
from macrostrike.upgrade.project import project_facets, project_init
from macrostrike.upgrade.signatures import selector_hex
from upgrade_helpers import COUNTER_NS, ROOT, VARIANTS, compile_contracts, counter_source

V2 = list(CORE) + ["UpgradeCounterFacetV2"]


@pytest.fixture(scope="module")
def web3(chain):
    return chain.provider.web3


@pytest.fixture(scope="module")
def live(project, owner, stranger):
    """The V1 diamond (count bumped to 2) and its recorded layouts, as `ape run deploy` records them."""
    facets = deploy_core_facets(project, owner)
    facets["UpgradeCounterFacetV1"] = owner.deploy(project.UpgradeCounterFacetV1)
    diamond = deploy_diamond(project, owner, facets)
    counter = project.UpgradeCounterFacetV1.at(diamond.address)
    counter.increment(sender=owner)
    counter.increment(sender=owner)
    record = {"storage": diamond_storage_record(project_layouts(list(facets)))}
    return diamond, facets, recorded_layouts(record)


def test_plan_lists_removals_first_and_resolves_signatures(web3, live, owner):
    diamond, facets, recorded = live
    plan = plan_upgrade(web3, diamond.address, project_facets(V2),
                        init=project_init("UpgradeCounterInitV2", ["5"]), recorded=recorded)
    assert plan.owner == owner.address
    assert [c.selector for c in plan.removes] == [selector_hex("legacyPing()")]
    assert {c.selector for c in plan.replaces} == {selector_hex("increment()"), selector_hex("count()")}
    assert {c.selector for c in plan.adds} == {selector_hex("step()"), selector_hex("lastCaller()")}
    assert plan.to_deploy == ["UpgradeCounterFacetV2"]  # the core facets' code is on chain: reused
    assert plan.facets["DiamondCutFacet"].address == facets["DiamondCutFacet"].address
    text = plan.render()
    lines = text.splitlines()
    remove_at = next(i for i, line in enumerate(lines) if line.startswith("REMOVE 1 selector"))
    assert "legacyPing() 0x" in lines[remove_at + 1]
    assert remove_at < next(i for i, line in enumerate(lines) if line.startswith("Replace"))
    assert "Init: UpgradeCounterInitV2.init(5)" in text
    assert f"{COUNTER_NS} compatible" in text and "macrostrike.init new" in text
    print("\n" + text)


def test_upgrade_with_versioned_init_keeps_state_and_init_cannot_run_twice(web3, live, owner, project):
    diamond, _, recorded = live
    plan = plan_upgrade(web3, diamond.address, project_facets(V2),
                        init=project_init("UpgradeCounterInitV2", ["5"]), recorded=recorded)
    receipt = execute(plan, owner)
    # the init ran inside the cut: one transaction, the DiamondCut event and the init's events
    assert [log.event_name for log in receipt.decode_logs([project.UpgradeCounterInitV2.contract_type.events["StepSet"]])] \
        == ["StepSet"]
    v2 = project.UpgradeCounterFacetV2.at(diamond.address)
    assert v2.count() == 2 and v2.step() == 5
    v2.increment(sender=owner)
    assert v2.count() == 7 and v2.lastCaller() == owner.address
    loupe = project.DiamondLoupeFacet.at(diamond.address)
    assert int(loupe.facetAddress(selector_hex("legacyPing()")), 16) == 0
    # same init again (its deployed copy is reused): AlreadyInitialized, whole cut reverted
    again = plan_upgrade(web3, diamond.address, project_facets(V2), init=project_init("UpgradeCounterInitV2", ["9"]),
                         recorded=None, known_addresses=[plan.init.address])
    assert not (again.removes or again.replaces or again.adds) and again.init.address == plan.init.address
    init_type = project.UpgradeCounterInitV2
    with pytest.raises(ContractLogicError) as err:
        execute(again, owner)
    assert "AlreadyInitialized" in repr(err.value)
    assert init_type.at(diamond.address) is not None
    assert v2.step() == 5
    # an up-to-date diamond without init: nothing to do
    assert plan_upgrade(web3, diamond.address, project_facets(V2), recorded=None).empty


@pytest.mark.parametrize("dropped, signature", [
    ("DiamondCutFacet", "diamondCut((address,uint8,bytes4[])[],address,bytes)"),
    ("DiamondLoupeFacet", "facets()"),
    ("OwnershipFacet", "owner()"),
])
def test_refuses_removing_cut_loupe_or_ownership(web3, live, dropped, signature):
    diamond, _, _ = live
    names = [n for n in V2 if n != dropped]
    with pytest.raises(UpgradeRefused, match=r"refusing to remove .*" + signature.split("(")[0] + r"\("):
        plan_upgrade(web3, diamond.address, project_facets(names))
    assert selector_hex(signature) in PROTECTED


def test_refuses_a_selector_claimed_by_two_facets(web3, live):
    diamond, _, _ = live
    with pytest.raises(UpgradeRefused, match=r"count\(\) 0x06661abd is claimed by two facets, "
                                             r"UpgradeCounterFacetV2 and UpgradeClashFacet"):
        plan_upgrade(web3, diamond.address, project_facets(V2 + ["UpgradeClashFacet"]))


def test_refuses_a_sender_that_is_not_the_owner(web3, live, owner, stranger):
    diamond, _, _ = live
    plan = plan_upgrade(web3, diamond.address, project_facets(V2))
    check_owner(plan, owner.address)
    with pytest.raises(UpgradeRefused, match=f"account {stranger.address} is not the on-chain owner {owner.address}"):
        check_owner(plan, stranger.address)
    with pytest.raises(UpgradeRefused, match="not the on-chain owner"):
        execute(plan, stranger)


@pytest.fixture(scope="module")
def variant_types():
    sources = {f"tests/Counter_{k}.sol": counter_source(VARIANTS[k], facet=f"CounterFacet_{k}")
               for k in ("append", "reorder")}
    layouts = namespace_layouts(sources, ROOT)
    types = compile_contracts(sources)
    # a fresh Facet per use: planning fills in the address of a deployed copy
    return lambda k: Facet(f"CounterFacet_{k}", types[f"CounterFacet_{k}"], layouts[f"CounterFacet_{k}"])


def test_storage_layout_refusal_names_namespace_and_field(web3, live, variant_types):
    diamond, _, recorded = live
    core = project_facets(list(CORE))
    with pytest.raises(StorageLayoutRefused) as err:
        plan_upgrade(web3, diamond.address, core + [variant_types("reorder")], recorded=recorded)
    assert str(err.value).startswith(f"storage layout of namespace '{COUNTER_NS}': field 'count' reordered")
    assert {i.field for i in err.value.issues} == {"count", "lastCaller", "step"}


def test_appended_layout_passes_and_calldata_is_the_cut(web3, live, variant_types, owner, chain):
    diamond, _, recorded = live
    facet = variant_types("append")
    plan = plan_upgrade(web3, diamond.address, project_facets(list(CORE)) + [facet], recorded=recorded)
    assert plan.to_deploy == [facet.name]
    deploy_missing(plan, owner)
    target, data = plan.calldata()
    assert target == diamond.address and data.startswith("0x1f931c1c")
    cuts, init, init_data = decode(FACET_CUT_TYPES, bytes.fromhex(data[10:]))
    assert [int(a) for _, a, _ in cuts][0] == 2  # Remove first
    assert int(init, 16) == 0 and init_data == b""
    # what a multisig would send: the raw transaction from the owner
    receipt = owner.transfer(target, 0, data=data)
    assert receipt.status == 1
    assert web3.eth.call({"to": diamond.address, "data": selector_hex("count()")})[-1] == 2
