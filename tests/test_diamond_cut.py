"""diamondCut: every rejection has its own custom error; the happy paths route, init and log."""

import ape
import pytest

from diamond_helpers import as_facet, deploy_core_facets, deploy_diamond
from macrostrike.deploy.cuts import ZERO_ADDRESS, FacetCutAction, selector, selectors_of

ADD, REPLACE, REMOVE = int(FacetCutAction.ADD), int(FacetCutAction.REPLACE), int(FacetCutAction.REMOVE)
F1, F2 = selector("f1()"), selector("f2()")
DIAMOND_CUT = selector("diamondCut((address,uint8,bytes4[])[],address,bytes)")


@pytest.fixture(scope="module")
def facets(project, owner):
    core = deploy_core_facets(project, owner)
    return {**core, "X": owner.deploy(project.TestFacetX), "Y": owner.deploy(project.TestFacetY),
            "init": owner.deploy(project.TestInit)}


@pytest.fixture
def diamond(project, owner, facets):
    core = {n: facets[n] for n in ("DiamondCutFacet", "DiamondLoupeFacet", "OwnershipFacet")}
    return deploy_diamond(project, owner, core)


@pytest.fixture
def cutter(project, diamond):
    return as_facet(project, "DiamondCutFacet", diamond)


@pytest.fixture
def loupe(project, diamond):
    return as_facet(project, "DiamondLoupeFacet", diamond)


def x_at(project, diamond):
    return project.TestFacetX.at(diamond.address)


def cut(cutter, owner, cuts, init=ZERO_ADDRESS, data=b""):
    return cutter.diamondCut(cuts, init, data, sender=owner)


# -- happy paths ---------------------------------------------------------------------------------

def test_add_routes_and_logs(project, owner, diamond, cutter, loupe, facets):
    sels = selectors_of(facets["X"].contract_type)
    receipt = cut(cutter, owner, [(facets["X"].address, ADD, sels)])
    assert x_at(project, diamond).f3() == 103
    assert loupe.facetAddress(selector("f3()")) == facets["X"].address
    logs = list(receipt.decode_logs(cutter.DiamondCut))
    assert len(logs) == 1 and logs[0]._init == ZERO_ADDRESS
    assert [bytes(s) for s in logs[0]._diamondCut[0][2]] == sels


def test_replace_and_remove(project, owner, diamond, cutter, loupe, facets):
    cut(cutter, owner, [(facets["X"].address, ADD, [F1, F2])])
    cut(cutter, owner, [(facets["Y"].address, REPLACE, [F1])])
    assert x_at(project, diamond).f1() == 201 and x_at(project, diamond).f2() == 102
    cut(cutter, owner, [(ZERO_ADDRESS, REMOVE, [F2])])
    assert loupe.facetAddress(F2) == ZERO_ADDRESS
    with ape.reverts(diamond.FunctionDoesNotExist):
        x_at(project, diamond).f2()


def test_constructor_cut_is_logged(project, owner, facets):
    d = deploy_diamond(project, owner, {"DiamondCutFacet": facets["DiamondCutFacet"]})
    receipt = ape.chain.provider.get_receipt(d.txn_hash)
    logs = list(receipt.decode_logs(project.DiamondCutFacet.contract_type.events["DiamondCut"]))
    assert len(logs) == 1 and [bytes(s) for s in logs[0]._diamondCut[0][2]] == [DIAMOND_CUT]


def test_diamond_cut_logged_before_init_runs(project, owner, cutter, facets):
    data = facets["init"].init.encode_input(7)
    receipt = cut(cutter, owner, [(facets["X"].address, ADD, [F1])], facets["init"].address, data)
    decoded_cut = list(receipt.decode_logs(cutter.DiamondCut))
    decoded_init = list(receipt.decode_logs(facets["init"].Initialized))
    assert len(decoded_cut) == 1 and len(decoded_init) == 1 and decoded_init[0].value == 7
    assert decoded_cut[0].log_index < decoded_init[0].log_index


# -- rejections, one custom error each ------------------------------------------------------------

def test_caller_not_owner(cutter, stranger, facets):
    with ape.reverts(cutter.NotContractOwner):
        cutter.diamondCut([(facets["X"].address, ADD, [F1])], ZERO_ADDRESS, b"", sender=stranger)


def test_cut_with_no_selectors(cutter, owner, facets):
    with ape.reverts(cutter.NoSelectorsInFacetCut):
        cut(cutter, owner, [(facets["X"].address, ADD, [])])


def test_add_to_zero_address(cutter, owner):
    with ape.reverts(cutter.CannotAddSelectorsToZeroAddress):
        cut(cutter, owner, [(ZERO_ADDRESS, ADD, [F1])])


def test_add_to_address_without_code(cutter, owner, stranger):
    with ape.reverts(cutter.FacetHasNoCode):
        cut(cutter, owner, [(stranger.address, ADD, [F1])])


def test_replace_to_address_without_code(cutter, owner, stranger, facets):
    cut(cutter, owner, [(facets["X"].address, ADD, [F1])])
    with ape.reverts(cutter.FacetHasNoCode):
        cut(cutter, owner, [(stranger.address, REPLACE, [F1])])


def test_add_existing_selector(cutter, owner, facets):
    cut(cutter, owner, [(facets["X"].address, ADD, [F1])])
    with ape.reverts(cutter.CannotAddFunctionToDiamondThatAlreadyExists):
        cut(cutter, owner, [(facets["Y"].address, ADD, [F1])])


def test_add_duplicate_within_one_cut(cutter, owner, facets):
    with ape.reverts(cutter.CannotAddFunctionToDiamondThatAlreadyExists):
        cut(cutter, owner, [(facets["X"].address, ADD, [F1, F1])])


def test_replace_with_zero_address(cutter, owner, facets):
    cut(cutter, owner, [(facets["X"].address, ADD, [F1])])
    with ape.reverts(cutter.CannotReplaceFunctionsFromFacetWithZeroAddress):
        cut(cutter, owner, [(ZERO_ADDRESS, REPLACE, [F1])])


def test_replace_missing_selector(cutter, owner, facets):
    with ape.reverts(cutter.CannotReplaceFunctionThatDoesNotExist):
        cut(cutter, owner, [(facets["Y"].address, REPLACE, [F1])])


def test_replace_with_same_facet(cutter, owner, facets):
    cut(cutter, owner, [(facets["X"].address, ADD, [F1])])
    with ape.reverts(cutter.CannotReplaceFunctionWithTheSameFunctionFromTheSameFacet):
        cut(cutter, owner, [(facets["X"].address, REPLACE, [F1])])


@pytest.fixture
def immutable_diamond(project, owner, facets):
    cuts = [(facets["DiamondCutFacet"].address, ADD, selectors_of(facets["DiamondCutFacet"].contract_type))]
    d = owner.deploy(project.TestImmutableDiamond, owner, cuts)
    return d, project.DiamondCutFacet.at(d.address)


def test_immutable_function_added_at_construction(project, immutable_diamond):
    d, _ = immutable_diamond
    assert d.immutableFn() == 42


def test_replace_immutable_function(owner, immutable_diamond, facets):
    _, cutter = immutable_diamond
    with ape.reverts(cutter.CannotReplaceImmutableFunction):
        cut(cutter, owner, [(facets["X"].address, REPLACE, [selector("immutableFn()")])])


def test_remove_immutable_function(owner, immutable_diamond):
    _, cutter = immutable_diamond
    with ape.reverts(cutter.CannotRemoveImmutableFunction):
        cut(cutter, owner, [(ZERO_ADDRESS, REMOVE, [selector("immutableFn()")])])


def test_add_immutable_function_after_construction(owner, diamond, cutter):
    with ape.reverts(cutter.CannotAddImmutableFunctionAfterConstruction):
        cut(cutter, owner, [(diamond.address, ADD, [F1])])


def test_remove_with_non_zero_facet(cutter, owner, facets):
    cut(cutter, owner, [(facets["X"].address, ADD, [F1])])
    with ape.reverts(cutter.RemoveFacetAddressMustBeZeroAddress):
        cut(cutter, owner, [(facets["X"].address, REMOVE, [F1])])


def test_remove_missing_selector(cutter, owner):
    with ape.reverts(cutter.CannotRemoveFunctionThatDoesNotExist):
        cut(cutter, owner, [(ZERO_ADDRESS, REMOVE, [F1])])


def test_init_without_code(cutter, owner, stranger, facets):
    with ape.reverts(cutter.InitializationContractHasNoCode):
        cut(cutter, owner, [(facets["X"].address, ADD, [F1])], stranger.address, b"\x01")


def test_init_zero_address_with_calldata(cutter, owner, facets):
    with ape.reverts(cutter.InitAddressZeroButCalldataNotEmpty):
        cut(cutter, owner, [(facets["X"].address, ADD, [F1])], ZERO_ADDRESS, b"\x01")


def test_init_revert_data_is_bubbled(cutter, owner, facets):
    init = facets["init"]
    with ape.reverts(init.InitFailed, code=9):
        cut(cutter, owner, [(facets["X"].address, ADD, [F1])], init.address, init.failWithData.encode_input(9))


def test_init_revert_without_data(cutter, owner, facets):
    init = facets["init"]
    with ape.reverts(cutter.InitializationFunctionReverted):
        cut(cutter, owner, [(facets["X"].address, ADD, [F1])], init.address, init.failWithoutData.encode_input())


@pytest.mark.parametrize("action", [ADD, REPLACE, REMOVE])
def test_zero_selector(cutter, owner, facets, action):
    facet = ZERO_ADDRESS if action == REMOVE else facets["X"].address
    with ape.reverts(cutter.CannotCutZeroSelector):
        cut(cutter, owner, [(facet, action, [b"\x00\x00\x00\x00"])])


def test_remove_diamond_cut_itself(cutter, owner):
    with ape.reverts(cutter.CannotRemoveDiamondCut):
        cut(cutter, owner, [(ZERO_ADDRESS, REMOVE, [DIAMOND_CUT])])


def test_failed_cut_changes_nothing(cutter, owner, loupe, facets):
    before = loupe.facets()
    with ape.reverts(cutter.CannotAddFunctionToDiamondThatAlreadyExists):
        cut(cutter, owner, [(facets["X"].address, ADD, [F1]), (facets["Y"].address, ADD, [F1])])
    assert loupe.facets() == before


# -- audit L-3: the cut guard covers the loupe and ownership, for Remove and Replace ------------------

LOUPE = [selector(s) for s in ("facets()", "facetFunctionSelectors(address)", "facetAddresses()",
                               "facetAddress(bytes4)", "supportsInterface(bytes4)")]
OWNERSHIP = [selector(s) for s in ("owner()", "transferOwnership(address)", "pendingOwner()", "acceptOwnership()")]
#: protected selector -> the core facet that provides it
PROTECTED = {DIAMOND_CUT: "DiamondCutFacet", **{s: "DiamondLoupeFacet" for s in LOUPE},
             **{s: "OwnershipFacet" for s in OWNERSHIP}}


@pytest.mark.parametrize("sel", LOUPE, ids=lambda s: "0x" + s.hex())
def test_remove_loupe_function(cutter, owner, loupe, sel):
    with ape.reverts(cutter.CannotRemoveLoupeFunction, selector=sel):
        cut(cutter, owner, [(ZERO_ADDRESS, REMOVE, [sel])])
    assert loupe.facetAddress(sel) != ZERO_ADDRESS


@pytest.mark.parametrize("sel", OWNERSHIP, ids=lambda s: "0x" + s.hex())
def test_remove_ownership_function(cutter, owner, loupe, sel):
    with ape.reverts(cutter.CannotRemoveOwnershipFunction, selector=sel):
        cut(cutter, owner, [(ZERO_ADDRESS, REMOVE, [sel])])
    assert loupe.facetAddress(sel) != ZERO_ADDRESS


@pytest.mark.parametrize("sel", list(PROTECTED), ids=lambda s: "0x" + s.hex())
def test_replace_protected_function_with_facet_without_it(cutter, owner, loupe, facets, sel):
    """Replacing diamondCut (or a loupe / ownership function) with a facet that lacks it would make
    the diamond un-upgradeable or uninspectable forever: refused, the routing unchanged."""
    before = loupe.facetAddress(sel)
    with ape.reverts(cutter.CannotReplaceProtectedFunctionWithFacetWithoutIt, selector=sel,
                     facet=facets["X"].address):
        cut(cutter, owner, [(facets["X"].address, REPLACE, [sel])])
    assert loupe.facetAddress(sel) == before


def test_replace_diamond_cut_with_another_diamond_is_refused(project, owner, cutter, facets):
    """A diamond (not a facet) answers FunctionDoesNotExist for a selector it does not route."""
    other = deploy_diamond(project, owner, {"OwnershipFacet": facets["OwnershipFacet"]})
    with ape.reverts(cutter.CannotReplaceProtectedFunctionWithFacetWithoutIt, selector=DIAMOND_CUT):
        cut(cutter, owner, [(other.address, REPLACE, [DIAMOND_CUT])])


def test_replace_protected_functions_with_new_versions(project, owner, diamond, cutter, loupe):
    """A legitimate Replace: new deployments of the three core facets take every protected
    selector; the diamond still cuts, inspects and transfers ownership through them."""
    new = deploy_core_facets(project, owner)
    cuts = [(new[name].address, REPLACE, [s for s, n in PROTECTED.items() if n == name])
            for name in ("DiamondCutFacet", "DiamondLoupeFacet", "OwnershipFacet")]
    cut(cutter, owner, cuts)
    for sel, name in PROTECTED.items():
        assert loupe.facetAddress(sel) == new[name].address
    x = owner.deploy(project.TestFacetX)
    cut(cutter, owner, [(x.address, ADD, [F1])])  # still upgradeable through the new diamondCut
    assert x_at(project, diamond).f1() == 101
    assert as_facet(project, "OwnershipFacet", diamond).owner() == owner.address


# -- issue 11 item 6b: plain ETH is refused ------------------------------------------------------------

def test_plain_ether_is_refused(diamond, owner):
    with ape.reverts(diamond.EtherNotAccepted, sender=owner.address, value=1):
        diamond(sender=owner, value=1)  # empty calldata: receive()
    assert ape.chain.provider.get_balance(diamond.address) == 0
