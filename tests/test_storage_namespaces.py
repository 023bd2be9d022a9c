"""Every ERC-7201 namespace in contracts/ is declared correctly and is unique.

Parses the sources: each `@custom:storage-location erc7201:<id>` must sit with a bytes32 constant
equal to keccak256(abi.encode(uint256(keccak256(id)) - 1)) & ~bytes32(uint256(0xff)) (ERC-7201).
"""

import re
from pathlib import Path

from eth_utils import keccak

CONTRACTS = Path(__file__).resolve().parents[1] / "contracts"
LOCATION = re.compile(r"@custom:storage-location erc7201:([A-Za-z0-9_.]+)")
CONSTANT = re.compile(r"bytes32\s+(?:internal|private|public)?\s*constant\s+\w+\s*=\s*(0x[0-9a-fA-F]{64})")


def erc7201_slot(namespace: str) -> str:
    inner = int.from_bytes(keccak(text=namespace), "big") - 1
    return "0x%064x" % (int.from_bytes(keccak(inner.to_bytes(32, "big")), "big") & ~0xFF)


def namespaces():
    found = []
    for path in sorted(CONTRACTS.rglob("*.sol")):
        if ".cache" in path.parts:
            continue
        text = path.read_text()
        for match in LOCATION.finditer(text):
            constants = CONSTANT.findall(text)
            found.append((path.relative_to(CONTRACTS), match.group(1), [c.lower() for c in constants]))
    return found


def test_namespaces_found():
    ids = {ns for _, ns, _ in namespaces()}
    assert {"macrostrike.diamond", "macrostrike.master", "macrostrike.bots", "macrostrike.performance",
            "macrostrike.arbitrage"} <= ids


def test_each_slot_constant_is_the_erc7201_slot():
    for path, ns, constants in namespaces():
        assert erc7201_slot(ns) in constants, f"{path}: no constant equals the ERC-7201 slot of {ns}"


def test_ids_and_slots_are_unique():
    found = namespaces()
    ids = [ns for _, ns, _ in found]
    assert len(ids) == len(set(ids)), f"duplicate namespace ids: {ids}"
    slots = [erc7201_slot(ns) for ns in ids]
    assert len(slots) == len(set(slots))


def test_known_slot():
    # the value in LibDiamond, recomputed independently (ERC-7201 formula)
    assert erc7201_slot("macrostrike.diamond") == \
        "0xf12b2f66fbd6836f9f8e3777968d16f3597c7cde1431565fd9f1de653040c800"
