"""Access control, table-driven from the ABIs: every state-changing function of every facet,
called through its diamond by an account with no role, reverts with an authorisation error.

The table is the compiled ABI itself, so a function added to any facet is covered automatically.
"""

import pytest
from ape.exceptions import ContractLogicError

from macrostrike.deploy.system import CHILD_FACETS, CORE_FACETS, MASTER_FACETS, STRIKE_FACETS, DeployConfig, deploy_system

AUTH_ERRORS = {"NotContractOwner", "NotMasterOrOwner", "NotKeeper", "NotPendingOwner", "NotRiskKeeper", "NotChild",
               "NotSelf", "NotMaster"}
#: facets of the strike children only (checked on the long and the short diamond)
FACETS = sorted(set(MASTER_FACETS) | set(CHILD_FACETS) | {"ArbitrageFacet"} | set(STRIKE_FACETS))


@pytest.fixture(scope="module")
def system(accounts):
    return deploy_system(accounts[0], DeployConfig(amm_bots=2, pool_usd=10_000, capital_per_bot_usd=1_000,
                                                   keepers=(str(accounts[1].address),)))


def dummy(abi_type: dict, filler: str):
    """A well-formed value for an ABI input (so a revert is about authorisation, not decoding)."""
    t = abi_type["type"]
    if t.endswith("[]"):
        return [dummy({**abi_type, "type": t[:-2]}, filler)]
    if t == "tuple":
        return tuple(dummy(c, filler) for c in abi_type["components"])
    if t == "address":
        return filler
    if t == "bool":
        return True
    if t.startswith("uint") or t.startswith("int"):
        return 1
    if t == "bytes":
        return b"\x01"
    if t.startswith("bytes"):
        return b"\x12" * int(t[5:])
    if t == "string":
        return "x"
    raise AssertionError(f"no dummy for ABI type {t}")


def mutating_functions(contract_type):
    for abi in contract_type.abi:
        if abi.type == "function" and abi.stateMutability not in ("view", "pure"):
            yield abi


def test_table_covers_every_facet(project):
    # every facet that has state-changing functions takes part
    assert {"DiamondCutFacet", "OwnershipFacet", "TreasuryFacet", "ChildRegistryFacet", "BotRegistryFacet",
            "ChildCoordinationFacet", "ArbitrageFacet", "EmergencyFacet", "AllocationFacet", "RiskFacet",
            "RiskLimitsFacet", "StrikeFacet", "StrikeConfigFacet", "StrikePositionsFacet"} <= {
        f for f in FACETS if any(True for _ in mutating_functions(getattr(project, f).contract_type))}


@pytest.mark.parametrize("facet_name", FACETS)
def test_strangers_are_refused(project, system, stranger, facet_name):
    role = "master" if facet_name in MASTER_FACETS and facet_name not in CORE_FACETS else "amm"
    diamonds = [role] if facet_name not in CORE_FACETS else ["master", "amm"]
    if facet_name in STRIKE_FACETS:
        diamonds = ["long", "short"]
    ct = getattr(project, facet_name).contract_type
    checked = 0
    for role in diamonds:
        target = getattr(project, facet_name).at(system.manifest.address(role))
        for abi in mutating_functions(ct):
            args = [dummy(i.model_dump(mode="json", by_alias=True), str(stranger.address)) for i in abi.inputs]
            method = getattr(target, abi.name)
            try:
                method(*args, sender=stranger)
            except ContractLogicError as err:
                assert type(err).__name__ in AUTH_ERRORS, f"{facet_name}.{abi.name}: {type(err).__name__}: {err}"
                checked += 1
            else:
                pytest.fail(f"{facet_name}.{abi.name} accepted a call from an account with no role")
    assert checked == len(list(mutating_functions(ct))) * len(diamonds)


def test_coordination_calls_from_the_master_are_accepted(project, system, accounts):
    """The other side of the rule: the master diamond itself may pause its child."""
    master = project.TreasuryFacet.at(system.manifest.address("master"))
    child = project.ChildCoordinationFacet.at(system.manifest.address("amm"))
    master.pauseChild(child.address, sender=accounts[0])
    assert child.paused()
