"""Plan, check and send an EIP-2535 upgrade: one ``diamondCut`` from the live routing to the wanted facets.

The live routing is read with the loupe (``facets()``) and compared selector by selector with the
wanted facets' ABIs: a selector not routed yet is **Add**ed, one routed to other code is
**Replace**d, one routed but no longer wanted is **Remove**d (EIP-2535 requires facet address 0 for
removals). Selectors routed to the diamond itself (immutable functions) are left alone.

Refused before anything is sent (:class:`UpgradeRefused`, one line each):

* removing ``diamondCut``, a loupe function (``facets``, ``facetFunctionSelectors``,
  ``facetAddresses``, ``facetAddress``, ``supportsInterface``) or an ownership function
  (``owner``, ``transferOwnership``, ``pendingOwner``, ``acceptOwnership``);
* a selector claimed by two wanted facets, or by a wanted facet while immutable in the diamond;
* a sender that is not the diamond's on-chain ``owner()`` (:func:`check_owner`);
* an ERC-7201 namespace whose new layout is not an append-only extension of the recorded one
  (:mod:`macrostrike.upgrade.layout`).

A wanted facet whose compiled runtime code is already on chain (at an address the diamond routes to,
or one the caller knows) is reused; the others are deployed just before the cut. An initializer
(e.g. a :sol:`VersionedInit`) is passed as ``_init``/``_calldata`` of the same ``diamondCut``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address
from ethpm_types import ContractType

from macrostrike.upgrade.layout import (
    LayoutIssue,
    LayoutReport,
    NamespaceLayout,
    check_layouts,
    diamond_storage_record,
)
from macrostrike.upgrade.signatures import SignatureBook, default_book, selector_hex, to_hex

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ADD, REPLACE, REMOVE = 0, 1, 2
ACTION_NAMES = {ADD: "Add", REPLACE: "Replace", REMOVE: "Remove"}
DIAMOND_CUT_SIGNATURE = "diamondCut((address,uint8,bytes4[])[],address,bytes)"
FACET_CUT_TYPES = ["(address,uint8,bytes4[])[]", "address", "bytes"]

#: selector -> why removing it is refused
PROTECTED: dict[str, str] = {
    selector_hex(DIAMOND_CUT_SIGNATURE): "the diamond would lose its upgrade path",
    **{selector_hex(s): "the diamond would lose its EIP-2535 loupe" for s in (
        "facets()", "facetFunctionSelectors(address)", "facetAddresses()", "facetAddress(bytes4)",
        "supportsInterface(bytes4)")},
    **{selector_hex(s): "the diamond would lose its ownership functions" for s in (
        "owner()", "transferOwnership(address)", "pendingOwner()", "acceptOwnership()")},
}


class UpgradeRefused(Exception):
    """The upgrade is unsafe or cannot be sent; the message is one line naming the problem and the fix."""


class StorageLayoutRefused(UpgradeRefused):
    """A namespace's new layout is incompatible with the recorded one; ``issues`` lists every problem."""

    def __init__(self, issues: Sequence[LayoutIssue]) -> None:
        self.issues = list(issues)
        more = f" (+{len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(f"storage layout of {issues[0]}{more}: keep existing fields in place and "
                         "append new fields at the end of the struct")


def _runtime_code(contract_type: ContractType) -> bytes:
    code = contract_type.runtime_bytecode.bytecode if contract_type.runtime_bytecode else None
    return bytes.fromhex(code[2:]) if code and len(code) > 2 else b""


@dataclass
class Facet:
    """A facet the diamond should have after the upgrade.

    ``address`` is a deployed copy (set by the planner when identical runtime code is found on chain,
    or by :func:`deploy_missing`); ``layouts`` are its ERC-7201 namespaces (namespace -> layout).
    """

    name: str
    contract_type: ContractType
    layouts: Mapping[str, NamespaceLayout] = field(default_factory=dict)
    address: str | None = None

    @property
    def selectors(self) -> list[str]:
        return [selector_hex(m.selector) for m in self.contract_type.methods]

    @property
    def code_hash(self) -> bytes:
        return keccak(_runtime_code(self.contract_type))


@dataclass
class Init:
    """An initializer delegatecalled by the same ``diamondCut``: ``calldata`` is its full call data."""

    name: str
    contract_type: ContractType
    calldata: bytes
    call: str = "init()"
    layouts: Mapping[str, NamespaceLayout] = field(default_factory=dict)
    address: str | None = None


@dataclass(frozen=True)
class Change:
    """One selector's move: ``old`` facet address (None for Add), ``facet`` name (None for Remove)."""

    selector: str
    old: str | None
    facet: str | None


@dataclass
class UpgradePlan:
    """What :func:`plan_upgrade` found; :meth:`render` prints it, :meth:`cuts` gives the FacetCut list."""

    diamond: str
    owner: str | None
    facets: dict[str, Facet]
    removes: list[Change]
    replaces: list[Change]
    adds: list[Change]
    init: Init | None
    layout: LayoutReport
    book: SignatureBook

    @property
    def empty(self) -> bool:
        return not (self.removes or self.replaces or self.adds or self.init)

    @property
    def to_deploy(self) -> list[str]:
        used = {c.facet for c in self.replaces + self.adds}
        return [n for n, f in self.facets.items() if f.address is None and n in used]

    def cuts(self) -> list[tuple[str, int, list[bytes]]]:
        """``FacetCut`` tuples, Remove first, then Replace and Add grouped by facet (addresses needed)."""
        out: list[tuple[str, int, list[bytes]]] = []
        if self.removes:
            out.append((ZERO_ADDRESS, REMOVE, [bytes.fromhex(c.selector[2:]) for c in self.removes]))
        for action, changes in ((REPLACE, self.replaces), (ADD, self.adds)):
            by_facet: dict[str, list[bytes]] = {}
            for c in changes:
                by_facet.setdefault(c.facet or "", []).append(bytes.fromhex(c.selector[2:]))
            for name, sels in by_facet.items():
                address = self.facets[name].address
                if address is None:
                    raise UpgradeRefused(f"facet {name} is not deployed yet: call deploy_missing() first")
                out.append((to_checksum_address(address), action, sels))
        return out

    def init_args(self) -> tuple[str, bytes]:
        if self.init is None:
            return ZERO_ADDRESS, b""
        if self.init.address is None:
            raise UpgradeRefused(f"init {self.init.name} is not deployed yet: call deploy_missing() first")
        return to_checksum_address(self.init.address), self.init.calldata

    def calldata(self) -> tuple[str, str]:
        """``(target, data)`` of the ``diamondCut`` transaction, for a multisig to propose."""
        init, data = self.init_args()
        body = encode(FACET_CUT_TYPES, [self.cuts(), init, data])
        return to_checksum_address(self.diamond), selector_hex(DIAMOND_CUT_SIGNATURE) + body.hex()

    def _where(self, name: str | None) -> str:
        if name is None:
            return ""
        address = self.facets[name].address
        return f"{name} at {address}" if address else f"{name} (new deployment)"

    def render(self) -> str:
        """The plan as text: removals first in their own block, then replacements, additions, init, storage."""
        d = self.describe
        lines = [f"Upgrade plan for diamond {self.diamond} (owner {self.owner or 'unknown'})"]
        if self.to_deploy:
            lines.append("Deploy first: " + ", ".join(self.to_deploy))
        if self.removes:
            lines.append(f"REMOVE {len(self.removes)} selector(s) — these functions stop working:")
            lines += [f"  - {d(c.selector)}  (was {c.old})" for c in self.removes]
        for title, changes in (("Replace", self.replaces), ("Add", self.adds)):
            if not changes:
                continue
            lines.append(f"{title} {len(changes)} selector(s):")
            current = None
            for c in changes:
                if c.facet != current:
                    current = c.facet
                    lines.append(f"  -> {self._where(c.facet)}")
                was = f"  (was {c.old})" if c.old else ""
                lines.append(f"     {d(c.selector)}{was}")
        if self.init:
            where = self.init.address or "new deployment"
            lines.append(f"Init: {self.init.name}.{self.init.call} at {where}, in the same diamondCut")
        if self.empty:
            lines.append("Nothing to do: the diamond already routes every wanted selector to identical code.")
        lines.append(self.layout_line())
        return "\n".join(lines)

    def layout_line(self) -> str:
        r = self.layout
        if r.unrecorded:
            return "Storage layout: no recorded layout for this diamond — not checked"
        parts = [f"{ns} compatible" for ns in r.compared] + [f"{ns} new" for ns in r.added]
        return "Storage layout: " + ("; ".join(parts) if parts else "no ERC-7201 namespaces")

    def describe(self, sel: str) -> str:
        return self.book.describe(sel)

    def storage_record(self) -> dict[str, Any]:
        """The manifest ``storage`` block for the wanted facets' and the init's namespaces.

        Merge it over the previous block: namespaces no wanted facet uses keep their old record.
        """
        parts = {n: dict(f.layouts) for n, f in self.facets.items()}
        if self.init:
            parts[self.init.name] = dict(self.init.layouts)
        return diamond_storage_record(parts)

    def facets_record(self) -> dict[str, Any]:
        """The manifest ``facets`` block after this upgrade (name -> address, selectors)."""
        return {n: {"address": f.address, "selectors": f.selectors} for n, f in self.facets.items()}


# ------------------------------------------------------------------------------------ chain reads
def _call(web3: Any, to: str, data: str) -> bytes:
    return bytes(web3.eth.call({"to": to_checksum_address(to), "data": data}))


def read_routing(web3: Any, diamond: str) -> dict[str, str]:
    """selector (0x-hex) -> facet address, from the loupe's ``facets()``."""
    try:
        raw = _call(web3, diamond, selector_hex("facets()"))
        facets = decode(["(address,bytes4[])[]"], raw)[0]
    except Exception as err:  # noqa: BLE001 - any failure means: not an EIP-2535 loupe
        raise UpgradeRefused(f"{diamond} does not answer the EIP-2535 loupe facets() ({type(err).__name__}): "
                             "check the address is a diamond on this network") from None
    return {to_hex(s): to_checksum_address(f) for f, sels in facets for s in sels}


def read_owner(web3: Any, diamond: str) -> str | None:
    """ERC-173 ``owner()`` of ``diamond``, or None when it has none."""
    try:
        return to_checksum_address(decode(["address"], _call(web3, diamond, selector_hex("owner()")))[0])
    except Exception:  # noqa: BLE001 - no owner() routed
        return None


# ------------------------------------------------------------------------------------ planning
def plan_upgrade(web3: Any, diamond: str, facets: Sequence[Facet], *, init: Init | None = None,
                 recorded: Mapping[str, NamespaceLayout] | None = None,
                 book: SignatureBook | None = None, known_addresses: Iterable[str] = ()) -> UpgradePlan:
    """Compare the live routing of ``diamond`` with ``facets`` and return the plan (nothing is sent).

    ``recorded`` is the manifest's namespace layouts for the diamond (None: not checked); ``book``
    defaults to the standard signatures plus the project's artifacts.
    ``known_addresses`` are deployed contracts (e.g. from the manifest) a wanted facet or init may be
    reused from when their runtime code is identical. Raises :class:`UpgradeRefused`.
    """
    diamond = to_checksum_address(diamond)
    book = book or default_book()
    for f in facets:
        book.add_contract_type(f.contract_type)
    by_name = {f.name: f for f in facets}
    if len(by_name) != len(facets):
        raise UpgradeRefused("a facet is listed twice: list each facet once")
    # one facet per selector
    owner_of: dict[str, str] = {}
    for f in facets:
        for sel in f.selectors:
            if sel in owner_of:
                raise UpgradeRefused(f"selector {book.describe(sel)} is claimed by two facets, {owner_of[sel]} "
                                     f"and {f.name}: keep it in one facet only")
            owner_of[sel] = f.name
    routing = read_routing(web3, diamond)
    immutable = {s for s, a in routing.items() if a == diamond}
    for sel in sorted(set(owner_of) & immutable):
        raise UpgradeRefused(f"selector {book.describe(sel)} of {owner_of[sel]} is immutable in diamond {diamond} "
                             f"(routed to the diamond itself): drop it from {owner_of[sel]}")
    # reuse identical deployed code
    candidates = {a for a in routing.values() if a != diamond} | {to_checksum_address(a) for a in known_addresses}
    code_at = {a: keccak(bytes(web3.eth.get_code(a))) for a in sorted(candidates)}
    for f in list(facets) + ([init] if init else []):
        if f.address is None:
            want = keccak(_runtime_code(f.contract_type))
            f.address = next((a for a, h in code_at.items() if h == want), None)
    removes, replaces, adds = [], [], []
    for sel, addr in routing.items():
        if sel not in owner_of and sel not in immutable:
            removes.append(Change(sel, addr, None))
    for f in facets:
        for sel in f.selectors:
            old = routing.get(sel)
            if old is None:
                adds.append(Change(sel, None, f.name))
            elif f.address is None or old != to_checksum_address(f.address):
                replaces.append(Change(sel, old, f.name))
    protected = [c.selector for c in removes if c.selector in PROTECTED]
    if protected:
        raise UpgradeRefused(f"refusing to remove {', '.join(book.describe(s) for s in protected)}: "
                             f"{PROTECTED[protected[0]]} — keep the facet providing them in the upgrade")
    report = LayoutReport()
    new_layouts: dict[str, NamespaceLayout] = {}
    for part in list(facets) + ([init] if init else []):
        new_layouts.update(part.layouts)
    if recorded is None:
        report.unrecorded = True
    else:
        issues = check_layouts(recorded, new_layouts)
        if issues:
            raise StorageLayoutRefused(issues)
        report.compared = sorted(set(recorded) & set(new_layouts))
        report.added = sorted(set(new_layouts) - set(recorded))
    return UpgradePlan(diamond=diamond, owner=read_owner(web3, diamond), facets=by_name, removes=removes,
                       replaces=replaces, adds=adds, init=init, layout=report, book=book)


def check_owner(plan: UpgradePlan, sender: str) -> None:
    """Refuse unless ``sender`` is the diamond's on-chain owner."""
    if plan.owner is None:
        raise UpgradeRefused(f"diamond {plan.diamond} has no ERC-173 owner(): cannot check who may cut it")
    if to_checksum_address(sender) != plan.owner:
        raise UpgradeRefused(f"account {to_checksum_address(sender)} is not the on-chain owner {plan.owner} of "
                             f"diamond {plan.diamond}: pass --account <owner>, or --calldata to propose the cut "
                             "from the owner (e.g. a multisig)")


# ------------------------------------------------------------------------------------ sending
def deploy_missing(plan: UpgradePlan, account: Any) -> list[str]:
    """Deploy the wanted facets (and the init) that have no deployed copy; returns their names."""
    from ape.contracts import ContractContainer

    done = []
    for name in plan.to_deploy:
        instance = account.deploy(ContractContainer(plan.facets[name].contract_type))
        plan.facets[name].address = str(instance.address)
        done.append(name)
    if plan.init and plan.init.address is None:
        instance = account.deploy(ContractContainer(plan.init.contract_type))
        plan.init.address = str(instance.address)
        done.append(plan.init.name)
    return done


def execute(plan: UpgradePlan, account: Any) -> Any:
    """Deploy what is missing, then send the one ``diamondCut`` from ``account`` (checked to be the owner).

    Returns the cut's receipt. The diamond reverts the whole cut (and init) on any rule it enforces.
    """
    from ape import chain

    check_owner(plan, str(account.address))
    deploy_missing(plan, account)
    # diamondCut plus every custom error of the wanted facets and the init, so reverts decode by name
    errors = {e.selector: e for part in list(plan.facets.values()) + ([plan.init] if plan.init else [])
              for e in part.contract_type.errors}
    cut_type = ContractType.model_validate({"contractName": "IDiamondCut", "abi": [
        *DIAMOND_CUT_TYPE.model_dump(mode="json", by_alias=True)["abi"],
        *(e.model_dump(mode="json", by_alias=True) for e in errors.values())]})
    cutter = chain.contracts.instance_at(plan.diamond, contract_type=cut_type)
    init, data = plan.init_args()
    return cutter.diamondCut(plan.cuts(), init, data, sender=account)


#: ABI of EIP-2535 ``diamondCut`` alone: enough to send a cut to any diamond.
DIAMOND_CUT_TYPE = ContractType.model_validate({"contractName": "IDiamondCut", "abi": [{
    "type": "function", "name": "diamondCut", "stateMutability": "nonpayable", "outputs": [],
    "inputs": [
        {"name": "_diamondCut", "type": "tuple[]", "internalType": "struct IDiamond.FacetCut[]", "components": [
            {"name": "facetAddress", "type": "address"}, {"name": "action", "type": "uint8"},
            {"name": "functionSelectors", "type": "bytes4[]"}]},
        {"name": "_init", "type": "address"}, {"name": "_calldata", "type": "bytes"}]}]})
