"""Decoding revert data against an ABI (custom errors, ``Error(string)``, ``Panic(uint256)``)."""

from __future__ import annotations

from typing import Any

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector


def _canonical_type(inp: dict[str, Any]) -> str:
    t = inp["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(_canonical_type(c) for c in inp["components"]) + ")" + t[5:]
    return t


def error_table(abi: list[dict[str, Any]]) -> dict[bytes, tuple[str, list[str]]]:
    """Map 4-byte selector -> (error name, input types) for every ``error`` entry of ``abi``."""
    table: dict[bytes, tuple[str, list[str]]] = {
        bytes.fromhex("08c379a0"): ("Error", ["string"]),
        bytes.fromhex("4e487b71"): ("Panic", ["uint256"]),
    }
    for item in abi:
        if item.get("type") == "error":
            types = [_canonical_type(i) for i in item.get("inputs", [])]
            sig = f"{item['name']}({','.join(types)})"
            table[function_signature_to_4byte_selector(sig)] = (item["name"], types)
    return table


def decode_revert(data: bytes | str | None, table: dict[bytes, tuple[str, list[str]]]) -> str:
    """Human form of revert ``data``: ``InsufficientProfit(-12, 1000000)``, or the raw hex."""
    if data is None:
        return "reverted without data"
    if isinstance(data, str):
        data = bytes.fromhex(data[2:] if data.startswith("0x") else data)
    if len(data) < 4:
        return "reverted without data" if not data else "0x" + data.hex()
    entry = table.get(bytes(data[:4]))
    if entry is None:
        return "unknown error 0x" + data.hex()
    name, types = entry
    try:
        values = decode(types, bytes(data[4:]))
    except Exception:  # noqa: BLE001 - malformed payload: show it raw
        return f"{name}(0x{data[4:].hex()})"
    shown = ", ".join(v.hex() if isinstance(v, bytes) else str(v) for v in values)
    return f"{name}({shown})"
