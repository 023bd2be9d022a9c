"""Helpers for the treasury, allocation and risk tests (tests/test_allocation.py, test_risk.py,
test_capital_conservation.py): facet handles on a deployed system, the test-only
RiskHarnessFacet cut into a child, and chain-time control."""

from dataclasses import dataclass
from typing import Any

from macrostrike.deploy.cuts import ZERO_ADDRESS, FacetCutAction, facet_cut, selector

USDC = 10**6  # USDC base units per dollar
STRIKE_STRATEGY = b"STRIKE_TEST".ljust(32, b"\0")


@dataclass
class Handles:
    """Facet views of the master and of each child (by role: long, short, amm)."""

    system: Any
    treasury: Any
    alloc: Any
    risk: Any
    emergency: Any
    registry: Any
    usdc: Any
    project: Any

    def child(self, role: str, facet: str) -> Any:
        return getattr(self.project, facet).at(self.system.manifest.address(role))

    def addr(self, role: str) -> str:
        return self.system.manifest.address(role)


def handles(project, system) -> Handles:
    m = system.manifest.address("master")
    return Handles(system=system, treasury=project.TreasuryFacet.at(m), alloc=project.AllocationFacet.at(m),
                   risk=project.RiskFacet.at(m), emergency=project.EmergencyFacet.at(m),
                   registry=project.ChildRegistryFacet.at(m), usdc=system.contracts["usdc"], project=project)


def add_harness(project, owner, child_address: str) -> Any:
    """Cuts the test-only RiskHarnessFacet into ``child_address``; returns it at the child."""
    harness = owner.deploy(project.RiskHarnessFacet)
    project.DiamondCutFacet.at(child_address).diamondCut([facet_cut(harness)], ZERO_ADDRESS, b"", sender=owner)
    return project.RiskHarnessFacet.at(child_address)


def deposit(h: Handles, owner, amount: int) -> None:
    h.usdc.mint(owner, amount, sender=owner)
    h.usdc.approve(h.treasury.address, amount, sender=owner)
    h.treasury.deposit(amount, sender=owner)


def set_next_timestamp(chain, timestamp: int) -> None:
    """The next mined block (the next transaction's) has ``timestamp`` (seconds)."""
    chain.provider.make_request("evm_setNextBlockTimestamp", [timestamp])


def latest_timestamp(chain) -> int:
    return chain.blocks.head.timestamp


def remove_exit_all(h: Handles, owner, role: str) -> None:
    """Cut exitAll out of child ``role``'s routing: a child whose capital has no way back."""
    h.child(role, "DiamondCutFacet").diamondCut(
        [(ZERO_ADDRESS, int(FacetCutAction.REMOVE), [selector("exitAll(uint256)")])], ZERO_ADDRESS, b"", sender=owner)
