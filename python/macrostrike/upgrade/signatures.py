"""Selector -> function signature, from compiled artifacts and the EIP-2535/ERC-173/ERC-165 standards."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eth_utils import function_signature_to_4byte_selector

#: Functions every EIP-2535 diamond has (cut, loupe, ERC-165) and ERC-173 ownership.
STANDARD_SIGNATURES = (
    "diamondCut((address,uint8,bytes4[])[],address,bytes)",
    "facets()",
    "facetFunctionSelectors(address)",
    "facetAddresses()",
    "facetAddress(bytes4)",
    "supportsInterface(bytes4)",
    "owner()",
    "transferOwnership(address)",
    "pendingOwner()",
    "acceptOwnership()",
)


def selector_hex(signature: str) -> str:
    """``"owner()"`` -> ``"0x8da5cb5b"``."""
    return "0x" + function_signature_to_4byte_selector(signature).hex()


def to_hex(sel: bytes | str) -> str:
    """A selector as 0x + 8 hex digits, from bytes or hex text."""
    if isinstance(sel, (bytes, bytearray)):
        return "0x" + bytes(sel).hex()
    text = sel.lower()
    return text if text.startswith("0x") else "0x" + text


class SignatureBook:
    """Resolves selectors to signatures; unknown ones render as ``unknown 0x…``."""

    def __init__(self, signatures: Iterable[str] = STANDARD_SIGNATURES) -> None:
        self._by_selector: dict[str, str] = {}
        self.add_signatures(signatures)

    def add_signatures(self, signatures: Iterable[str]) -> None:
        for sig in signatures:
            self._by_selector.setdefault(selector_hex(sig), sig)

    def add_contract_type(self, contract_type: Any) -> None:
        """Add every external function of an ethpm ``ContractType``."""
        self.add_signatures(abi.selector for abi in contract_type.methods)

    def add_project(self) -> None:
        """Add every contract of the Ape project (its compiled artifacts in .build; never compiles)."""
        from ape import project

        for contract_type in (project.manifest.contract_types or {}).values():
            self.add_contract_type(contract_type)

    def get(self, sel: bytes | str) -> str | None:
        return self._by_selector.get(to_hex(sel))

    def describe(self, sel: bytes | str) -> str:
        """``"owner() 0x8da5cb5b"``, or ``"unknown 0x…"``."""
        h = to_hex(sel)
        sig = self._by_selector.get(h)
        return f"{sig} {h}" if sig else f"unknown {h}"


def default_book() -> SignatureBook:
    """Standard signatures plus every contract of the Ape project when one is loaded."""
    book = SignatureBook()
    try:
        book.add_project()
    except Exception:  # noqa: BLE001 - no compiled project: standard signatures only
        pass
    return book
