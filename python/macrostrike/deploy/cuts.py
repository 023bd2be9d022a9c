"""Build EIP-2535 ``FacetCut`` tuples from compiled facets.

A cut is ``(facetAddress, action, functionSelectors)`` with ``action`` one of
:class:`FacetCutAction` (EIP-2535, "Diamonds, Multi-Facet Proxy"). Selectors are the first four
bytes of ``keccak256(signature)`` of every external function in the facet's ABI.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import Any

from eth_utils import function_signature_to_4byte_selector
from ethpm_types import ContractType


class FacetCutAction(IntEnum):
    """``IDiamond.FacetCutAction`` as in EIP-2535."""

    ADD = 0
    REPLACE = 1
    REMOVE = 2


ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def function_signatures(contract_type: ContractType) -> list[str]:
    """Return the canonical signatures (``name(type,...)``) of all external functions, ABI order."""
    return [abi.selector for abi in contract_type.methods]


def selector(signature: str) -> bytes:
    """Return the 4-byte function selector of ``signature`` (e.g. ``"owner()"`` -> ``8da5cb5b``)."""
    return function_signature_to_4byte_selector(signature)


def selectors_of(contract_type: ContractType, exclude: Iterable[str] = ()) -> list[bytes]:
    """Selectors of every external function of ``contract_type`` except the signatures in ``exclude``."""
    skip = set(exclude)
    return [selector(sig) for sig in function_signatures(contract_type) if sig not in skip]


def facet_cut(facet: Any, action: FacetCutAction = FacetCutAction.ADD,
              selectors: Iterable[bytes] | None = None) -> tuple[str, int, list[bytes]]:
    """Return a ``FacetCut`` tuple for an Ape contract instance ``facet``.

    ``selectors`` defaults to all the facet's external functions. For :attr:`FacetCutAction.REMOVE`
    pass the facet as ``None``: EIP-2535 requires the zero address there.
    """
    if action == FacetCutAction.REMOVE:
        if selectors is None:
            raise ValueError("a Remove cut needs explicit selectors")
        return (ZERO_ADDRESS, int(action), list(selectors))
    sels = list(selectors) if selectors is not None else selectors_of(facet.contract_type)
    return (str(facet.address), int(action), sels)


def plan_cut(current: dict[bytes, str], desired: dict[bytes, str],
             immutable_facet: str | None = None) -> list[tuple[str, int, list[bytes]]]:
    """Compute the ``diamondCut`` that turns selector routing ``current`` into ``desired``.

    Both maps are ``selector -> facet address``. Returns Remove cuts first (facet = zero address),
    then Replace and Add cuts grouped by facet. Selectors routed to ``immutable_facet`` (the
    diamond itself) are never removed or replaced. An empty list means nothing to do.
    """
    norm = lambda a: a.lower()  # noqa: E731 - address comparison only
    removes = [s for s, f in current.items() if s not in desired
               and (immutable_facet is None or norm(f) != norm(immutable_facet))]
    replaces: dict[str, list[bytes]] = {}
    adds: dict[str, list[bytes]] = {}
    for sel, facet in desired.items():
        if sel not in current:
            adds.setdefault(facet, []).append(sel)
        elif norm(current[sel]) != norm(facet):
            replaces.setdefault(facet, []).append(sel)
    cuts: list[tuple[str, int, list[bytes]]] = []
    if removes:
        cuts.append((ZERO_ADDRESS, int(FacetCutAction.REMOVE), removes))
    cuts += [(f, int(FacetCutAction.REPLACE), s) for f, s in replaces.items()]
    cuts += [(f, int(FacetCutAction.ADD), s) for f, s in adds.items()]
    return cuts
