"""ERC-7201 namespace storage layouts from solc, and the append-only rule for upgrades.

ERC-7201 ("Namespaced Storage Layout") keeps each module's state in a struct annotated
``/// @custom:storage-location erc7201:<id>`` at slot
``keccak256(abi.encode(uint256(keccak256(id)) - 1)) & ~bytes32(uint256(0xff))``.

solc reports ``storageLayout`` only for a contract's state variables, and a facet that reaches its
namespace through ``LibX.layout()`` has none. So the layout of each namespace struct is taken from a
generated wrapper contract holding one state variable of that struct type (solc lays a struct out
the same way wherever it lives; only the base slot differs). Which namespaces a facet uses is read
from the AST: every declaration reachable from the facet's code (functions it calls, types it names)
is followed, and the namespace structs among them are the facet's namespaces.

Compatibility rule for an upgrade (per namespace, old layout -> new layout): fields may be appended
after the existing ones; every existing field must keep its slot, offset and type. A removed,
reordered (moved), retyped or resized field is refused. Structs reached only through a mapping value
may grow by appending too (each entry lives at its own hashed slot); structs inline or in arrays may not.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import keccak

SOLC_VERSION = "0.8.28"
#: Import remappings of the project's sources (OpenZeppelin from node_modules).
REMAPPINGS = ("@openzeppelin/contracts=node_modules/@openzeppelin/contracts",)
LOCATION = re.compile(r"@custom:storage-location\s+erc7201:([^\s*]+)")
_WRAPPER = "__macrostrike_layout__.sol"
_CACHE_NAME = "macrostrike-storage-layouts.json"
_CACHE_VERSION = 1


class LayoutCompileError(RuntimeError):
    """solc could not compile the sources for their storage layout (message carries solc's first error)."""


def erc7201_slot(namespace: str) -> str:
    """ERC-7201 base slot of ``namespace`` as 0x-hex (32 bytes)."""
    inner = int.from_bytes(keccak(text=namespace), "big") - 1
    return "0x%064x" % (int.from_bytes(keccak(inner.to_bytes(32, "big")), "big") & ~0xFF)


# ------------------------------------------------------------------------------------ data model
@dataclass(frozen=True)
class NamespaceLayout:
    """The solc layout of one ERC-7201 namespace struct.

    ``fields`` are the struct's members in declaration order, each
    ``{"label", "slot" (int, relative to the namespace slot), "offset" (bytes in the slot),
    "type" (a type tree: {"kind", "label", "bytes", ...})}``.
    """

    namespace: str
    struct: str
    fields: tuple[dict[str, Any], ...]

    @property
    def slot(self) -> str:
        return erc7201_slot(self.namespace)

    def to_json(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "struct": self.struct, "slot": self.slot,
                "fields": [dict(f) for f in self.fields]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NamespaceLayout:
        return cls(namespace=data["namespace"], struct=data["struct"], fields=tuple(data["fields"]))


@dataclass(frozen=True)
class LayoutIssue:
    """One incompatibility between a recorded and a new namespace layout.

    ``kind`` is ``removed``, ``reordered``, ``retyped`` or ``resized``.
    """

    namespace: str
    field: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"namespace '{self.namespace}': field '{self.field}' {self.kind} ({self.detail})"


# ------------------------------------------------------------------------------------ solc
def solc_binary() -> Path:
    """The solc executable py-solc-x uses: ``$SOLCX_BINARY_PATH/solc-v0.8.28`` (tools/env.sh)."""
    folder = os.environ.get("SOLCX_BINARY_PATH") or str(Path(__file__).resolve().parents[3] / "tools" / "solcx")
    return Path(folder) / f"solc-v{SOLC_VERSION}"


def compile_standard(sources: Mapping[str, str], root: Path, output: Mapping[str, Any],
                     remappings: Iterable[str] = REMAPPINGS) -> dict[str, Any]:
    """Run solc standard-json on in-memory ``sources`` (path -> text); imports resolve under ``root``.

    Raises :class:`LayoutCompileError` with solc's first error when compilation fails.
    """
    import solcx
    from solcx.exceptions import SolcError

    data = {"language": "Solidity",
            "sources": {path: {"content": text} for path, text in sources.items()},
            "settings": {"remappings": list(remappings), "outputSelection": output}}
    try:
        out = solcx.compile_standard(data, base_path=str(root), allow_paths=str(root), solc_binary=solc_binary())
    except SolcError as err:
        raise LayoutCompileError(_first_error(getattr(err, "stdout_data", "") or str(err))) from None
    errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise LayoutCompileError(errors[0].get("formattedMessage", errors[0].get("message", "")).strip())
    return out


def _first_error(text: str) -> str:
    try:
        errors = [e for e in json.loads(text).get("errors", []) if e.get("severity") == "error"]
        return errors[0]["formattedMessage"].strip().splitlines()[0] if errors else text[:300]
    except (ValueError, AttributeError, KeyError, IndexError):
        return text.strip().splitlines()[0] if text.strip() else "solc failed"


# ------------------------------------------------------------------------------------ AST
_FOLLOW = {"FunctionDefinition", "ModifierDefinition", "VariableDeclaration", "StructDefinition",
           "UserDefinedValueTypeDefinition", "EnumDefinition"}


def _index(node: Any, table: dict[int, dict[str, Any]]) -> None:
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            if isinstance(cur.get("id"), int) and "nodeType" in cur:
                table[cur["id"]] = cur
            stack.extend(cur.values())
        elif isinstance(cur, list):
            stack.extend(cur)


def _references(node: Any) -> set[int]:
    found: set[int] = set()
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            ref = cur.get("referencedDeclaration")
            if isinstance(ref, int) and ref >= 0:
                found.add(ref)
            stack.extend(cur.values())
        elif isinstance(cur, list):
            stack.extend(cur)
    return found


def _namespace_structs(table: Mapping[int, dict[str, Any]]) -> dict[int, tuple[str, str]]:
    """struct node id -> (namespace id, canonical name) for every ERC-7201 annotated struct."""
    found = {}
    for nid, node in table.items():
        if node.get("nodeType") != "StructDefinition":
            continue
        doc = node.get("documentation") or {}
        text = doc.get("text", "") if isinstance(doc, dict) else str(doc)
        match = LOCATION.search(text)
        if match:
            found[nid] = (match.group(1), node.get("canonicalName") or node["name"])
    return found


def _reachable(contract: dict[str, Any], table: Mapping[int, dict[str, Any]]) -> set[int]:
    """Ids of the declarations reachable from ``contract``'s code and its bases' code."""
    seen: set[int] = set()
    stack: list[dict[str, Any]] = [table[b] for b in contract.get("linearizedBaseContracts", [contract["id"]])
                                   if b in table]
    while stack:
        node = stack.pop()
        for ref in _references(node):
            if ref in seen or ref not in table:
                continue
            seen.add(ref)
            if table[ref].get("nodeType") in _FOLLOW:
                stack.append(table[ref])
    return seen


# ------------------------------------------------------------------------------------ types
def _type_tree(tid: str, types: Mapping[str, Any], depth: int = 0) -> dict[str, Any]:
    """A compiler-id-free description of solc storage type ``tid`` (recursive, bounded depth)."""
    t = types[tid]
    label = re.sub(r"\)\d+", ")", t["label"])
    tree: dict[str, Any] = {"label": label, "bytes": int(t["numberOfBytes"])}
    if depth > 16:
        tree["kind"] = "value"
    elif "members" in t:
        tree["kind"] = "struct"
        tree["members"] = [_member(m, types, depth + 1) for m in t["members"]]
    elif t.get("encoding") == "mapping":
        tree["kind"] = "mapping"
        tree["key"] = _type_tree(t["key"], types, depth + 1)
        tree["value"] = _type_tree(t["value"], types, depth + 1)
    elif "base" in t:
        tree["kind"] = "dynamic_array" if t.get("encoding") == "dynamic_array" else "static_array"
        tree["base"] = _type_tree(t["base"], types, depth + 1)
    else:
        tree["kind"] = "value"
    return tree


def _member(m: Mapping[str, Any], types: Mapping[str, Any], depth: int = 0) -> dict[str, Any]:
    return {"label": m["label"], "slot": int(m["slot"]), "offset": int(m["offset"]),
            "type": _type_tree(m["type"], types, depth)}


# ------------------------------------------------------------------------------------ layouts
def namespace_layouts(sources: Mapping[str, str], root: Path,
                      remappings: Iterable[str] = REMAPPINGS) -> dict[str, dict[str, NamespaceLayout]]:
    """Compile ``sources`` and return, per contract name, the layouts of the ERC-7201 namespaces it uses.

    Two solc runs: one for the AST (namespace structs and what each contract reaches), one for the
    storage layout of generated wrapper contracts. Contracts using no namespace map to ``{}``.
    """
    remappings = tuple(remappings)
    ast_out = compile_standard(sources, root, {"*": {"": ["ast"]}}, remappings)
    table: dict[int, dict[str, Any]] = {}
    paths: dict[int, str] = {}
    for path, unit in ast_out["sources"].items():
        before = set(table)
        _index(unit["ast"], table)
        for nid in set(table) - before:
            paths[nid] = path
    structs = _namespace_structs(table)
    if not structs:
        return {n["name"]: {} for n in table.values() if n.get("nodeType") == "ContractDefinition"}
    # wrapper contracts: one state variable of each namespace struct type
    lines = ["// SPDX-License-Identifier: MIT", "pragma solidity >=0.8.0;"]
    wrappers: dict[str, int] = {}
    for i, (sid, (_ns, canonical)) in enumerate(sorted(structs.items())):
        parts = canonical.split(".")
        alias = f"__N{i}"
        lines.append(f'import {{{parts[0]} as {alias}}} from "{paths[sid]}";')
        type_name = ".".join([alias, *parts[1:]])
        lines.append(f"contract __MacrostrikeLayout{i} {{ {type_name} internal s; }}")
        wrappers[f"__MacrostrikeLayout{i}"] = sid
    layout_out = compile_standard({**sources, _WRAPPER: "\n".join(lines) + "\n"}, root,
                                  {_WRAPPER: {"*": ["storageLayout"]}}, remappings)
    by_struct: dict[int, NamespaceLayout] = {}
    for name, sid in wrappers.items():
        layout = layout_out["contracts"][_WRAPPER][name]["storageLayout"]
        types = layout["types"]
        struct_type = types[layout["storage"][0]["type"]]
        ns, canonical = structs[sid]
        by_struct[sid] = NamespaceLayout(namespace=ns, struct=canonical,
                                         fields=tuple(_member(m, types) for m in struct_type["members"]))
    result: dict[str, dict[str, NamespaceLayout]] = {}
    for node in table.values():
        if node.get("nodeType") != "ContractDefinition" or paths.get(node["id"]) == _WRAPPER:
            continue
        reach = _reachable(node, table)
        result[node["name"]] = {by_struct[s].namespace: by_struct[s] for s in sorted(reach & set(by_struct))}
    return result


def _project_root() -> Path:
    try:
        from ape import project

        return Path(project.path)
    except Exception:  # noqa: BLE001 - outside an Ape project: the repository checkout
        return Path(__file__).resolve().parents[3]


def project_sources(root: Path) -> dict[str, str]:
    """Every ``contracts/**/*.sol`` of the project (path relative to ``root`` -> text)."""
    found = {}
    for path in sorted((root / "contracts").rglob("*.sol")):
        if ".cache" in path.parts:
            continue
        found[path.relative_to(root).as_posix()] = path.read_text()
    return found


def _defining_files(sources: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """The source files among ``sources`` that define the contracts ``names``."""
    wanted = set(names)
    found = {}
    for path, text in sources.items():
        for match in re.finditer(r"^\s*(?:abstract\s+)?(?:contract|library)\s+(\w+)", text, re.MULTILINE):
            if match.group(1) in wanted:
                found[path] = text
    return found


def project_layouts(names: Iterable[str], root: Path | None = None) -> dict[str, dict[str, NamespaceLayout]]:
    """Namespace layouts of the project contracts ``names`` (contract name -> namespace -> layout).

    Compiles only the files defining them (and what they import), cached in ``.build/`` by a hash
    of every project source, the npm lockfile and the names.
    """
    root = Path(root) if root else _project_root()
    names = sorted(set(names))
    sources = project_sources(root)
    digest = hashlib.sha256()
    for path, text in sources.items():
        digest.update(path.encode() + b"\0" + text.encode() + b"\0")
    lock = root / "package-lock.json"
    if lock.is_file():
        digest.update(lock.read_bytes())
    digest.update(",".join(names).encode())
    key = f"{_CACHE_VERSION}:{SOLC_VERSION}:{digest.hexdigest()}"
    cache = root / ".build" / _CACHE_NAME
    try:
        data = json.loads(cache.read_text())
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION:
        data = {"version": _CACHE_VERSION, "entries": {}}
    hit = data["entries"].get(key)
    if hit is not None:
        return {c: {ns: NamespaceLayout.from_json(v) for ns, v in nss.items()} for c, nss in hit.items()}
    compiled = namespace_layouts(_defining_files(sources, names), root)
    layouts = {n: compiled.get(n, {}) for n in names}
    entries = dict(list(data["entries"].items())[-15:])  # bounded: the 16 most recent keys
    entries[key] = {c: {ns: v.to_json() for ns, v in nss.items()} for c, nss in layouts.items()}
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"version": _CACHE_VERSION, "entries": entries}))
    os.replace(tmp, cache)
    return layouts


# ------------------------------------------------------------------------------------ manifest
def diamond_storage_record(facet_layouts: Mapping[str, Mapping[str, NamespaceLayout]]) -> dict[str, Any]:
    """Manifest ``storage`` block of a diamond: namespace -> layout JSON plus the facets using it.

    ``facet_layouts`` is facet name -> (namespace -> layout).
    """
    record: dict[str, Any] = {}
    for facet, layouts in sorted(facet_layouts.items()):
        for ns, layout in layouts.items():
            entry = record.setdefault(ns, {**layout.to_json(), "facets": []})
            entry["facets"].append(facet)
    return record


def record_storage_layouts(entry: dict[str, Any], facet_names: Iterable[str],
                           log: Any = None) -> None:
    """Add ``entry["storage"]`` (see :func:`diamond_storage_record`) for the project facets ``facet_names``.

    Called by the deploy where a diamond's facets are recorded. When solc cannot run, the block is
    left out and ``log`` (if given) gets one line: the upgrade planner then says it has no record.
    """
    try:
        facet_names = list(facet_names)
        layouts = project_layouts(facet_names)
    except (LayoutCompileError, OSError) as err:
        if log:
            log(f"storage layouts not recorded: {str(err).splitlines()[0]}")
        return
    entry["storage"] = diamond_storage_record({n: layouts.get(n, {}) for n in facet_names})


def recorded_layouts(entry: Mapping[str, Any] | None) -> dict[str, NamespaceLayout]:
    """Namespace layouts recorded in a manifest diamond entry (``{}`` when none)."""
    if not entry:
        return {}
    return {ns: NamespaceLayout.from_json(v) for ns, v in (entry.get("storage") or {}).items()}


# ------------------------------------------------------------------------------------ compare
_SIZED = re.compile(r"^(u?int|bytes)(\d+)$")


def _type_issue(old: Mapping[str, Any], new: Mapping[str, Any], can_grow: bool) -> tuple[str, str] | None:
    """``(kind, detail)`` when values stored as ``old`` cannot be read as ``new``; None when they can."""
    if old == new:
        return None
    if old["kind"] != new["kind"]:
        return "retyped", f"{old['label']} -> {new['label']}"
    kind = old["kind"]
    if kind == "value":
        a, b = _SIZED.match(old["label"]), _SIZED.match(new["label"])
        if a and b and a.group(1) == b.group(1):
            return "resized", f"{old['label']} -> {new['label']}"
        if old["label"] == new["label"] and old["bytes"] != new["bytes"]:
            return "resized", f"{old['label']} {old['bytes']} -> {new['bytes']} bytes"
        if old["label"] != new["label"] and old["bytes"] == new["bytes"] and \
                old["label"].startswith("enum ") and new["label"].startswith("enum "):
            return None  # an enum renamed; values read the same
        return "retyped", f"{old['label']} -> {new['label']}"
    if kind == "mapping":
        if old["key"] != new["key"]:
            return "retyped", f"{old['label']} -> {new['label']} (key type)"
        issue = _type_issue(old["value"], new["value"], True)
        return None if issue is None else (issue[0], f"{old['label']} -> {new['label']}: {issue[1]}")
    if kind in ("dynamic_array", "static_array"):
        if kind == "static_array" and old["bytes"] != new["bytes"] and \
                _type_issue(old["base"], new["base"], False) is None:
            return "resized", f"{old['label']} -> {new['label']}"
        issue = _type_issue(old["base"], new["base"], False)
        return None if issue is None else (issue[0], f"{old['label']} -> {new['label']}: {issue[1]}")
    # struct
    olds, news = old["members"], new["members"]
    for i, m in enumerate(olds):
        if i >= len(news) or news[i]["label"] != m["label"] or \
                (news[i]["slot"], news[i]["offset"]) != (m["slot"], m["offset"]):
            return "retyped", f"{old['label']} -> {new['label']}: member '{m['label']}' removed or moved"
        issue = _type_issue(m["type"], news[i]["type"], False)
        if issue:
            return issue[0], f"{old['label']}.{m['label']}: {issue[1]}"
    if len(news) > len(olds) and not can_grow and old["bytes"] != new["bytes"]:
        return "resized", f"{old['label']} grew from {old['bytes']} to {new['bytes']} bytes in place"
    return None


def compare_layouts(old: NamespaceLayout, new: NamespaceLayout) -> list[LayoutIssue]:
    """Issues that make ``new`` unsafe over storage written with ``old`` (empty list: compatible).

    Appending fields is allowed; every field of ``old`` must keep its label, slot, offset and type.
    A field that disappears but whose position is taken by a field of another name and the same type
    counts as a rename (allowed).
    """
    issues: list[LayoutIssue] = []
    ns = old.namespace
    new_by_label = {f["label"]: f for f in new.fields}
    new_at = {(f["slot"], f["offset"]): f for f in new.fields}
    old_labels = {f["label"] for f in old.fields}
    for f in old.fields:
        n = new_by_label.get(f["label"])
        where = f"slot {f['slot']}, offset {f['offset']}"
        if n is None:
            same_place = new_at.get((f["slot"], f["offset"]))
            if same_place and same_place["label"] not in old_labels and \
                    _type_issue(f["type"], same_place["type"], False) is None:
                continue  # renamed in place
            issues.append(LayoutIssue(ns, f["label"], "removed", f"{f['type']['label']} at {where}"))
            continue
        issue = _type_issue(f["type"], n["type"], False)
        if issue:
            issues.append(LayoutIssue(ns, f["label"], issue[0], f"{issue[1]} at {where}"))
        elif (n["slot"], n["offset"]) != (f["slot"], f["offset"]):
            issues.append(LayoutIssue(ns, f["label"], "reordered",
                                      f"moved from {where} to slot {n['slot']}, offset {n['offset']}"))
    return issues


def check_layouts(recorded: Mapping[str, NamespaceLayout],
                  new: Mapping[str, NamespaceLayout]) -> list[LayoutIssue]:
    """:func:`compare_layouts` for every namespace present in both ``recorded`` and ``new``."""
    issues: list[LayoutIssue] = []
    for ns in sorted(set(recorded) & set(new)):
        issues += compare_layouts(recorded[ns], new[ns])
    return issues


@dataclass
class LayoutReport:
    """What the planner checked: namespaces compared, new ones, and those without a record."""

    compared: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    unrecorded: bool = False
    issues: list[LayoutIssue] = field(default_factory=list)
