"""Inspect any EIP-2535 diamond: facets and selectors from the loupe, cut history from ``DiamondCut`` events.

Works on diamonds this project did not write: it needs only the standard loupe ``facets()`` and the
standard event ``DiamondCut((address,uint8,bytes4[])[],address,bytes)``. Signatures come from the
project's artifacts (and any ABI the caller adds) where known; facet names from the manifest or by
matching the facet's runtime code with a compiled artifact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode
from eth_utils import keccak, to_checksum_address

from macrostrike.keeper.logs import get_logs
from macrostrike.upgrade.planner import ACTION_NAMES, FACET_CUT_TYPES, read_owner, read_routing
from macrostrike.upgrade.signatures import SignatureBook, to_hex

DIAMOND_CUT_TOPIC = "0x" + keccak(text="DiamondCut((address,uint8,bytes4[])[],address,bytes)").hex()
#: blocks per eth_getLogs request (providers cap ranges; each request stays bounded)
LOG_CHUNK = 10_000


@dataclass
class FacetView:
    address: str
    name: str | None
    selectors: list[str]


@dataclass
class CutRecord:
    """One ``DiamondCut`` event: where it was mined and what each FacetCut did."""

    block: int
    tx: str
    log_index: int
    cuts: list[tuple[str, str, list[str]]]  # (action name, facet address, selectors)
    init: str
    init_calldata: str


@dataclass
class Inspection:
    diamond: str
    owner: str | None
    facets: list[FacetView]
    history: list[CutRecord]
    book: SignatureBook
    from_block: int = 0
    to_block: int = 0
    names: dict[str, str] = field(default_factory=dict)

    def label(self, address: str) -> str:
        name = "the diamond itself: immutable" if address == self.diamond else self.names.get(address)
        return f"{address} ({name})" if name else address

    def render(self) -> str:
        """Text for ``ape keeper inspect``."""
        out = [f"Diamond {self.diamond} (owner {self.owner or 'none'})",
               f"{len(self.facets)} facet(s), {sum(len(f.selectors) for f in self.facets)} selector(s)"]
        for f in self.facets:
            out.append(f"  {self.label(f.address)}")
            out += [f"    {self.book.describe(s)}" for s in f.selectors]
        out.append(f"Cut history: {len(self.history)} DiamondCut event(s) in blocks "
                   f"{self.from_block}..{self.to_block}")
        for rec in self.history:
            out.append(f"  block {rec.block} tx {rec.tx}")
            for action, facet, sels in rec.cuts:
                target = "" if action == "Remove" else f" -> {self.label(facet)}"
                out.append(f"    {action}{target}: " + ", ".join(self.book.describe(s) for s in sels))
            if int(rec.init, 16):
                out.append(f"    init {self.label(rec.init)} calldata {rec.init_calldata[:74]}"
                           f"{'…' if len(rec.init_calldata) > 74 else ''}")
        return "\n".join(out)


def cut_history(web3: Any, diamond: str, from_block: int = 0, to_block: int | None = None,
                chunk: int = LOG_CHUNK) -> list[CutRecord]:
    """Every ``DiamondCut`` event of ``diamond`` in ``from_block..to_block``, oldest first.

    Requests ``eth_getLogs`` in ranges of at most ``chunk`` blocks, halving them when the node
    refuses (:func:`macrostrike.keeper.logs.get_logs`).
    """
    diamond = to_checksum_address(diamond)
    last = web3.eth.block_number if to_block is None else to_block
    records = []
    logs = get_logs(web3, {"address": diamond, "fromBlock": from_block, "toBlock": last,
                           "topics": [DIAMOND_CUT_TOPIC]}, max_range=chunk)
    for log in logs:
        cuts, init, data = decode(FACET_CUT_TYPES, bytes(log["data"]))
        tx = log["transactionHash"]
        tx = tx.hex() if isinstance(tx, (bytes, bytearray)) else str(tx)
        records.append(CutRecord(
            block=int(log["blockNumber"]), tx=tx if tx.startswith("0x") else "0x" + tx,
            log_index=int(log["logIndex"]),
            cuts=[(ACTION_NAMES.get(int(a), f"action {a}"), to_checksum_address(f), [to_hex(s) for s in sels])
                  for f, a, sels in cuts],
            init=to_checksum_address(init), init_calldata="0x" + bytes(data).hex()))
    records.sort(key=lambda r: (r.block, r.log_index))
    return records


def code_names(web3: Any, addresses: list[str], contract_types: Mapping[str, Any]) -> dict[str, str]:
    """address -> contract name, for addresses whose runtime code equals a compiled artifact's."""
    by_hash = {}
    for name, ct in contract_types.items():
        code = ct.runtime_bytecode.bytecode if getattr(ct, "runtime_bytecode", None) else None
        if code and len(code) > 2:
            by_hash.setdefault(keccak(hexstr=code), name)
    found = {}
    for a in addresses:
        name = by_hash.get(keccak(bytes(web3.eth.get_code(a))))
        if name:
            found[a] = name
    return found


def inspect_diamond(web3: Any, diamond: str, *, book: SignatureBook | None = None,
                    names: Mapping[str, str] | None = None, contract_types: Mapping[str, Any] | None = None,
                    from_block: int = 0, to_block: int | None = None) -> Inspection:
    """Read facets, selectors, owner and cut history of ``diamond``.

    ``names`` maps facet addresses to names (e.g. from the manifest); ``contract_types`` (name ->
    ethpm ContractType) name facets by identical runtime code and add their signatures to ``book``.
    """
    diamond = to_checksum_address(diamond)
    book = book or SignatureBook()
    routing = read_routing(web3, diamond)
    grouped: dict[str, list[str]] = {}
    for sel, facet in routing.items():
        grouped.setdefault(facet, []).append(sel)
    last = web3.eth.block_number if to_block is None else to_block
    history = cut_history(web3, diamond, from_block, last)
    addresses = sorted(set(grouped) | {f for r in history for _, f, _ in r.cuts if int(f, 16)}
                       | {r.init for r in history if int(r.init, 16)})
    all_names: dict[str, str] = {}
    if contract_types:
        for ct in contract_types.values():
            book.add_contract_type(ct)
        all_names.update(code_names(web3, addresses, contract_types))
    all_names.update({to_checksum_address(a): n for a, n in (names or {}).items()})
    facets = [FacetView(address=a, name=all_names.get(a), selectors=s) for a, s in grouped.items()]
    return Inspection(diamond=diamond, owner=read_owner(web3, diamond), facets=facets, history=history,
                      book=book, from_block=from_block, to_block=last, names=all_names)


def project_contract_types() -> dict[str, Any]:
    """name -> ContractType of every compiled contract of the Ape project (from .build; never compiles)."""
    from ape import project

    return dict(project.manifest.contract_types or {})
