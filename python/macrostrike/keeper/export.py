"""The audit trail of a deployed system, rebuilt from contract events (``ape keeper export``).

Which events: every ``event`` in the ABIs of the manifest's diamonds — the diamond contract itself,
each facet recorded under ``diamonds.<role>.facets``, every facet the manifest records as deployed
(roles ``facet:*``, so logs of a facet a later cut removed still decode) and the initialiser
contracts (roles ``init:*``, whose events are emitted from the diamond through ``delegatecall``).
Facets added by a later cut (strike positions, liquidations, risk trips) are therefore covered as
soon as the manifest lists them. A log whose topic matches none of those ABIs is still exported, as event
``unknown`` with its raw topics and data, so the trail never silently drops an entry.

How: ``eth_getLogs`` filtered by the diamonds' addresses over block ranges of ``chunk_blocks``
(:func:`macrostrike.keeper.logs.get_logs`: a range the node refuses, e.g. "query returned more than
10000 results", is halved; transport errors are retried with backoff),
decoded with ``eth_abi``, ordered by ``(block, logIndex)``.

One row per log: ``block``, ``timestamp`` (block time, Unix seconds), ``time_utc`` (ISO 8601),
``tx_hash``, ``log_index``, ``role`` (``master`` or the child's role, e.g. ``amm``), ``address``,
``event``, ``args``. Argument values: integers stay integers (token amounts in base units, e.g.
USDC with 6 decimals), addresses are checksummed, bytes are ``0x`` hex, structs are objects keyed by
component name; an indexed argument of a dynamic type (string, bytes, array, struct) is only
available as its keccak256 topic (``0x`` hex). In CSV ``args`` is one JSON-encoded column.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, TextIO

from eth_abi import decode
from eth_utils import event_abi_to_log_topic, to_checksum_address

from macrostrike.deploy.manifest import Manifest
from macrostrike.keeper.context import abi_json
from macrostrike.keeper.logs import get_logs

logger = logging.getLogger("macrostrike.keeper")

FORMATS = ("csv", "json")
COLUMNS = ("block", "timestamp", "time_utc", "tx_hash", "log_index", "role", "address", "event", "args")
#: Blocks per ``eth_getLogs`` request (hosted nodes commonly cap ranges at 2,000-10,000 blocks).
DEFAULT_CHUNK_BLOCKS = 2_000


class ExportError(ValueError):
    """A bad export request (block range); the message names the problem and the fix."""


@dataclass(frozen=True)
class AuditEvent:
    """One decoded log of a diamond (see the module docstring for the fields' meaning)."""

    block: int
    timestamp: int
    tx_hash: str
    log_index: int
    role: str
    address: str
    event: str
    args: dict[str, Any]

    @property
    def time_utc(self) -> str:
        return datetime.fromtimestamp(self.timestamp, tz=timezone.utc).isoformat().replace("+00:00", "Z")

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row["time_utc"] = self.time_utc
        return {k: row[k] for k in COLUMNS}


# -- ABI handling ---------------------------------------------------------------------------------
def _abi_type(inp: dict[str, Any]) -> str:
    t = inp["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in inp["components"]) + ")" + t[len("tuple"):]
    return t


def _is_dynamic(inp: dict[str, Any]) -> bool:
    t = inp["type"]
    return t in ("string", "bytes") or t.endswith("]") or t.startswith("tuple")


def _plain(inp: dict[str, Any], value: Any) -> Any:
    """An ABI-decoded value as JSON-friendly Python (see the module docstring)."""
    t = inp["type"]
    if t.endswith("]"):
        inner = dict(inp, type=t[: t.rindex("[")])
        return [_plain(inner, v) for v in value]
    if t == "tuple":
        return {c.get("name") or str(i): _plain(c, v) for i, (c, v) in enumerate(zip(inp["components"], value))}
    if t == "address":
        return to_checksum_address(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return value


class EventDecoder:
    """Decodes logs against the ``event`` entries of an ABI (several ABIs merged is fine)."""

    def __init__(self, abi: Iterable[dict[str, Any]]) -> None:
        self.by_topic: dict[bytes, list[dict[str, Any]]] = {}
        for item in abi:
            if item.get("type") == "event" and not item.get("anonymous"):
                entries = self.by_topic.setdefault(event_abi_to_log_topic(item), [])
                if item not in entries:
                    entries.append(item)

    @property
    def event_names(self) -> set[str]:
        return {e["name"] for entries in self.by_topic.values() for e in entries}

    def decode(self, topics: Sequence[bytes], data: bytes) -> tuple[str, dict[str, Any]]:
        """``(event name, args)``; ``("unknown", {"topics": …, "data": …})`` when nothing matches."""
        for item in self.by_topic.get(bytes(topics[0]), []) if topics else []:
            inputs = item.get("inputs", [])
            indexed = [i for i in inputs if i.get("indexed")]
            if len(indexed) != len(topics) - 1:
                continue  # same signature, different indexing (e.g. ERC-20 vs ERC-721 Transfer)
            plain = [i for i in inputs if not i.get("indexed")]
            try:
                values = iter(decode([_abi_type(i) for i in plain], data))
            except Exception:  # noqa: BLE001 - data does not fit this ABI: try the next candidate
                continue
            topic_values = iter(topics[1:])
            args: dict[str, Any] = {}
            for n, inp in enumerate(inputs):
                name = inp.get("name") or f"arg{n}"
                if inp.get("indexed"):
                    topic = bytes(next(topic_values))
                    args[name] = "0x" + topic.hex() if _is_dynamic(inp) else \
                        _plain(inp, decode([_abi_type(inp)], topic)[0])
                else:
                    args[name] = _plain(inp, next(values))
            return item["name"], args
        return "unknown", {"topics": ["0x" + bytes(t).hex() for t in topics], "data": "0x" + bytes(data).hex()}


def diamond_sources(manifest: Manifest) -> dict[str, tuple[str, EventDecoder]]:
    """``{address (lower case): (role, decoder)}`` for every diamond of ``manifest``.

    Contract types come from the Ape project by name; a name the project no longer has is logged
    and skipped (its logs are then exported as ``unknown``).
    """
    from ape import project

    # initialisers run inside every diamond (delegatecall); every facet ever deployed is included so
    # that logs of a facet a later cut removed still decode
    shared = [entry["contract"] for role, entry in manifest.contracts.items()
              if role.startswith(("init:", "facet:")) and entry.get("contract")]
    sources: dict[str, tuple[str, EventDecoder]] = {}
    for role, entry in manifest.diamonds.items():
        names = [entry.get("contract", ""), *entry.get("facets", {}), *shared]
        types = []
        for name in dict.fromkeys(n for n in names if n):
            try:
                types.append(getattr(project, name).contract_type)
            except (AttributeError, KeyError):
                logger.warning("export: contract type %s of diamond %s is not in the project", name, role)
        sources[entry["address"].lower()] = (role, EventDecoder(abi_json(*types)))
    return sources


# -- fetching ---------------------------------------------------------------------------------------
def default_from_block(manifest: Manifest) -> int:
    """The earliest block a diamond of ``manifest`` was deployed in (0 if unrecorded)."""
    blocks = [int(e["block"]) for e in manifest.diamonds.values() if e.get("block") is not None]
    return min(blocks) if blocks else 0


def resolve_range(web3: Any, manifest: Manifest, from_block: int | None, to_block: int | None) -> tuple[int, int]:
    """Validate ``[from_block, to_block]`` against the chain head; defaults: first diamond's deployment
    block .. the latest block. Raises :class:`ExportError`."""
    head = int(web3.eth.block_number)
    start = default_from_block(manifest) if from_block is None else from_block
    end = head if to_block is None else to_block
    if start < 0 or end < 0:
        raise ExportError("block numbers must be >= 0")
    if end > head:
        raise ExportError(f"--to-block {end} is beyond the chain head {head}: omit it or use <= {head}")
    if start > end:
        raise ExportError(f"--from-block {start} is after --to-block {end}: use a range with from <= to")
    return start, end


def collect_events(web3: Any, manifest: Manifest, from_block: int | None = None, to_block: int | None = None,
                   *, chunk_blocks: int = DEFAULT_CHUNK_BLOCKS) -> list[AuditEvent]:
    """Every log of ``manifest``'s diamonds in ``[from_block, to_block]``, decoded and ordered by
    ``(block, logIndex)``. Raises :class:`ExportError` for a bad range."""
    if chunk_blocks < 1:
        raise ExportError("chunk_blocks must be >= 1")
    start, end = resolve_range(web3, manifest, from_block, to_block)
    sources = diamond_sources(manifest)
    addresses = [to_checksum_address(a) for a in sources]
    logs = get_logs(web3, {"address": addresses, "fromBlock": start, "toBlock": end}, max_range=chunk_blocks)
    logs.sort(key=lambda log: (int(log["blockNumber"]), int(log["logIndex"])))
    timestamps: dict[int, int] = {}
    out = []
    for log in logs:
        number = int(log["blockNumber"])
        if number not in timestamps:
            timestamps[number] = int(web3.eth.get_block(number)["timestamp"])
        role, decoder = sources[str(log["address"]).lower()]
        name, args = decoder.decode([bytes(t) for t in log["topics"]], bytes(log["data"]))
        tx_hash = bytes(log["transactionHash"]).hex()
        out.append(AuditEvent(block=number, timestamp=timestamps[number],
                              tx_hash=tx_hash if tx_hash.startswith("0x") else "0x" + tx_hash,
                              log_index=int(log["logIndex"]), role=role,
                              address=to_checksum_address(log["address"]), event=name, args=args))
    return out


# -- writing ----------------------------------------------------------------------------------------
def write_csv(events: Iterable[AuditEvent], stream: TextIO) -> None:
    """Header row of :data:`COLUMNS`, then one row per event (``args`` JSON-encoded)."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    for e in events:
        row = e.to_json()
        row["args"] = json.dumps(row["args"], separators=(",", ":"))
        writer.writerow([row[c] for c in COLUMNS])


def write_json(events: Sequence[AuditEvent], stream: TextIO, *, chain_id: int, from_block: int,
               to_block: int) -> None:
    """One JSON document: ``{"chain_id", "from_block", "to_block", "count", "events": [rows]}``.

    Deterministic for a given chain and range (no wall-clock fields), so two exports can be diffed.
    """
    json.dump({"chain_id": chain_id, "from_block": from_block, "to_block": to_block, "count": len(events),
               "events": [e.to_json() for e in events]}, stream, indent=2)
    stream.write("\n")


def export(web3: Any, manifest: Manifest, fmt: str, stream: TextIO, from_block: int | None = None,
           to_block: int | None = None, *, chunk_blocks: int = DEFAULT_CHUNK_BLOCKS) -> list[AuditEvent]:
    """Collect the audit trail and write it to ``stream`` as ``fmt`` (``csv`` or ``json``); returns the
    events. Raises :class:`ExportError` for an unknown format or a bad range."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    start, end = resolve_range(web3, manifest, from_block, to_block)
    events = collect_events(web3, manifest, start, end, chunk_blocks=chunk_blocks)
    if fmt == "csv":
        write_csv(events, stream)
    else:
        write_json(events, stream, chain_id=manifest.chain_id, from_block=start, to_block=end)
    return events


def export_text(web3: Any, manifest: Manifest, fmt: str, from_block: int | None = None,
                to_block: int | None = None) -> str:
    """:func:`export` into a string."""
    buffer = io.StringIO()
    export(web3, manifest, fmt, buffer, from_block, to_block)
    return buffer.getvalue()
