"""ERC-165 answers and ERC-173 two-step ownership of the diamond."""

import ape
import pytest

from diamond_helpers import as_facet, deploy_core_facets, deploy_diamond
from macrostrike.deploy.cuts import ZERO_ADDRESS, FacetCutAction, selector


@pytest.fixture(scope="module")
def core(project, owner):
    return deploy_core_facets(project, owner)


@pytest.fixture
def diamond(project, owner, core):
    return deploy_diamond(project, owner, core)


@pytest.mark.parametrize("interface_id, expected", [
    ("0x01ffc9a7", True),   # ERC-165
    ("0x1f931c1c", True),   # IDiamondCut
    ("0x48e2b093", True),   # IDiamondLoupe
    ("0x7f5828d0", True),   # ERC-173
    ("0xffffffff", False),  # ERC-165 requires false
    ("0x12345678", False),
])
def test_supports_interface(project, diamond, interface_id, expected):
    assert as_facet(project, "DiamondLoupeFacet", diamond).supportsInterface(interface_id) is expected


def test_interface_ids_are_the_standard_ones():
    # ERC-165 id = XOR of the interface's selectors
    def iid(*sigs):
        v = 0
        for s in sigs:
            v ^= int.from_bytes(selector(s), "big")
        return f"0x{v:08x}"

    assert iid("diamondCut((address,uint8,bytes4[])[],address,bytes)") == "0x1f931c1c"
    assert iid("facets()", "facetFunctionSelectors(address)", "facetAddresses()", "facetAddress(bytes4)") == "0x48e2b093"
    assert iid("owner()", "transferOwnership(address)") == "0x7f5828d0"


def test_two_step_transfer(project, diamond, owner, accounts, stranger):
    own = as_facet(project, "OwnershipFacet", diamond)
    cutter = as_facet(project, "DiamondCutFacet", diamond)
    new_owner = accounts[2]
    receipt = own.transferOwnership(new_owner, sender=owner)
    started = list(receipt.decode_logs(own.OwnershipTransferStarted))
    assert started and started[0].newOwner == new_owner.address
    assert own.owner() == owner.address and own.pendingOwner() == new_owner.address
    with ape.reverts(own.NotPendingOwner):
        own.acceptOwnership(sender=stranger)
    receipt = own.acceptOwnership(sender=new_owner)
    moved = list(receipt.decode_logs(own.OwnershipTransferred))
    assert moved and moved[0].previousOwner == owner.address and moved[0].newOwner == new_owner.address
    assert own.owner() == new_owner.address and own.pendingOwner() == ZERO_ADDRESS
    # the new owner can cut, the old one cannot
    # (an Add: ownership functions themselves may not be removed, LibDiamond.CannotRemoveOwnershipFunction)
    x = owner.deploy(project.TestFacetX)
    add = [(x.address, int(FacetCutAction.ADD), [selector("f1()")])]
    with ape.reverts(cutter.NotContractOwner):
        cutter.diamondCut(add, ZERO_ADDRESS, b"", sender=owner)
    cutter.diamondCut(add, ZERO_ADDRESS, b"", sender=new_owner)
    assert project.TestFacetX.at(diamond.address).f1() == 101


def test_only_owner_starts_a_transfer(project, diamond, stranger):
    own = as_facet(project, "OwnershipFacet", diamond)
    with ape.reverts(own.NotContractOwner):
        own.transferOwnership(stranger, sender=stranger)


def test_owner_can_cancel_a_pending_transfer(project, diamond, owner, accounts):
    own = as_facet(project, "OwnershipFacet", diamond)
    own.transferOwnership(accounts[2], sender=owner)
    own.transferOwnership(ZERO_ADDRESS, sender=owner)
    with ape.reverts(own.NotPendingOwner):
        own.acceptOwnership(sender=accounts[2])
