"""Encode calls and decode results *by name* from a contract's ABI (no byte offsets in job code).

``Calls(abi)`` wraps a web3-style ABI list (e.g. the merged facets of a diamond,
:func:`macrostrike.keeper.context.abi_json`): ``encode("positionState", bot_id)`` gives calldata,
``decode("positionState", raw)`` a dict keyed by the Solidity output names (a single struct output
is unpacked into its components; nested structs become dicts; unnamed outputs are keyed ``out<i>``).
"""

from __future__ import annotations

from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector


def abi_type(entry: dict[str, Any]) -> str:
    """The canonical ABI type of one input/output entry (tuples spelled out: ``(uint256,bool)[]``)."""
    kind = entry["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in entry["components"]) + ")" + kind[len("tuple"):]
    return kind


def _named(entries: list[dict[str, Any]], values: tuple[Any, ...]) -> dict[str, Any]:
    out = {}
    for i, (entry, value) in enumerate(zip(entries, values, strict=True)):
        if entry["type"] == "tuple":
            value = _named(entry["components"], value)
        elif entry["type"] == "tuple[]":
            value = [_named(entry["components"], v) for v in value]
        out[entry.get("name") or f"out{i}"] = value
    return out


class Calls:
    """Calldata and named results for the functions of one ABI.

    Raises ``KeyError`` naming the function when the ABI has no function of that name.
    """

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self.functions = {e["name"]: e for e in abi if e.get("type") == "function"}

    def _fn(self, name: str) -> dict[str, Any]:
        try:
            return self.functions[name]
        except KeyError:
            raise KeyError(f"no function {name!r} in this ABI") from None

    def selector(self, name: str) -> bytes:
        fn = self._fn(name)
        return function_signature_to_4byte_selector(f"{name}({','.join(abi_type(i) for i in fn['inputs'])})")

    def encode(self, name: str, *args: Any) -> bytes:
        """Calldata of ``name(*args)``."""
        fn = self._fn(name)
        return self.selector(name) + abi_encode([abi_type(i) for i in fn["inputs"]], list(args))

    def decode(self, name: str, raw: bytes) -> dict[str, Any]:
        """The outputs of ``name`` in ``raw`` keyed by their Solidity names."""
        outputs = self._fn(name)["outputs"]
        values = abi_decode([abi_type(o) for o in outputs], bytes(raw))
        if len(outputs) == 1 and outputs[0]["type"] == "tuple":
            return _named(outputs[0]["components"], values[0])
        return _named(outputs, values)
