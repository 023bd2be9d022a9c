"""Wanted facets and initializers from the Ape project's compiled contracts, with their namespace layouts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi import encode
from eth_utils import to_checksum_address

from macrostrike.upgrade.layout import project_layouts
from macrostrike.upgrade.planner import Facet, Init, UpgradeRefused
from macrostrike.upgrade.signatures import selector_hex


def _contract_type(name: str) -> Any:
    from ape import project

    try:
        return getattr(project, name).contract_type
    except AttributeError:
        raise UpgradeRefused(f"no contract named {name!r} in the project: check the name "
                             "(see contracts/)") from None


def project_facets(names: Sequence[str]) -> list[Facet]:
    """:class:`Facet` for each project contract in ``names`` (compiled by Ape; layouts from solc)."""
    types = [(n, _contract_type(n)) for n in names]
    layouts = project_layouts(names)
    return [Facet(name=n, contract_type=ct, layouts=layouts.get(n, {})) for n, ct in types]


def _convert(kind: str, value: str) -> Any:
    if kind.startswith(("uint", "int")):
        return int(value, 0)
    if kind == "address":
        return to_checksum_address(value)
    if kind == "bool":
        if value.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"{value!r} is not a bool")
        return value.lower() in ("true", "1")
    if kind.startswith("bytes"):
        return bytes.fromhex(value[2:] if value.startswith("0x") else value)
    if kind == "string":
        return value
    raise ValueError(f"argument type {kind} is not supported on the command line")


def project_init(name: str, args: Sequence[str], method: str = "init") -> Init:
    """:class:`Init` calling ``name.method(*args)`` (args as text, converted by ABI type)."""
    ct = _contract_type(name)
    candidates = [m for m in ct.methods if m.name == method and len(m.inputs) == len(args)]
    if not candidates:
        raise UpgradeRefused(f"{name} has no {method}() taking {len(args)} argument(s): pass --init-arg "
                             "once per parameter")
    abi = candidates[0]
    kinds = [i.canonical_type for i in abi.inputs]
    try:
        values = [_convert(k, a) for k, a in zip(kinds, args)]
    except ValueError as err:
        raise UpgradeRefused(f"bad --init-arg for {abi.selector}: {err}") from None
    calldata = bytes.fromhex(selector_hex(abi.selector)[2:]) + encode(kinds, values)
    layouts = project_layouts([name]).get(name, {})
    return Init(name=name, contract_type=ct, calldata=calldata,
                call=f"{method}({', '.join(args)})", layouts=layouts)
