"""``ape keeper health``: one JSON object for a liveness/readiness probe.

Shape::

    {"status": "ok" | "degraded" | "down",
     "problems": ["keeper is 12 blocks behind the head (> health_max_lag_blocks=10)", ...],
     "chain_id": 31337, "block": 1234, "block_age_s": 3.2,
     "last_processed_block": 1233, "lag_blocks": 1,
     "pending_txs": 0, "stale_pending_txs": 0,
     "signers": [{"address": "0x…", "balance_wei": 10**19, "low": false}],
     "breaker": {"children": {"long": false, "short": false, "amm": false},
                 "paused": [], "emergency": false}}

Checks and thresholds (``KeeperSettings``: ``ape-config.yaml`` ``keeper:`` section or
``MACROSTRIKE_KEEPER_<FIELD>``):

=====================================================  ==========  ==================================
check                                                   status      threshold
=====================================================  ==========  ==================================
node unreachable                                        down        —
head block older than ``health_max_block_age_s``        down        300 s (None: off — a local
                                                                    automining chain has no blocks
                                                                    while idle)
keeper never processed a block (no journal cursor)      down        —
keeper cursor more than ``health_max_lag_blocks`` back  down        10 blocks
a pending transaction older than                        degraded    120 s
``health_max_pending_age_s``
a signer below ``signer_low_balance_eth``               degraded    0.05 ETH
a child diamond paused (``emergency``: all of them)     degraded    —
=====================================================  ==========  ==================================

``status`` is the worst of the failed checks; the command exits 0 only for ``ok``.
``breaker`` is read from the master: its registered children (``ChildRegistryFacet.children``)
and each child's ``paused()``.
"""

from __future__ import annotations

import time
from typing import Any

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from macrostrike.deploy.manifest import Manifest
from macrostrike.keeper.journal import Journal
from macrostrike.keeper.settings import KeeperSettings

CHILDREN = function_signature_to_4byte_selector("children()")
PAUSED = function_signature_to_4byte_selector("paused()")
STATUSES = ("ok", "degraded", "down")
JOB = "keeper"  # the cursor of `ape keeper run` (macrostrike.keeper.jobs.JobSet.name)


def breaker_state(web3: Any, manifest: Manifest) -> dict[str, Any]:
    """Paused state of every child registered with the master: ``{"children": {role: paused},
    "paused": [roles], "emergency": all children paused}`` (roles from the manifest; an
    unknown child address appears under its address)."""
    roles = {entry["address"].lower(): role for role, entry in manifest.diamonds.items()}
    raw = bytes(web3.eth.call({"to": manifest.address("master"), "data": CHILDREN}))
    addresses, _kinds = decode(["address[]", "uint8[]"], raw)
    children: dict[str, bool] = {}
    for address in map(to_checksum_address, addresses):
        (paused,) = decode(["bool"], bytes(web3.eth.call({"to": address, "data": PAUSED})))
        children[roles.get(address.lower(), address)] = bool(paused)
    paused_roles = [role for role, p in children.items() if p]
    return {"children": children, "paused": paused_roles,
            "emergency": bool(children) and len(paused_roles) == len(children)}


def check_health(web3: Any, manifest: Manifest, journal: Journal | None, signers: list[str],
                 settings: KeeperSettings, *, job: str = JOB, now: float | None = None) -> dict[str, Any]:
    """The health report (see the module docstring). ``journal`` None means none was found;
    ``now`` (Unix seconds, default the wall clock) is for block and pending-transaction ages."""
    now = time.time() if now is None else now
    problems: list[tuple[str, str]] = []  # (status, message)
    head = web3.eth.get_block("latest")
    block = int(head["number"])
    block_age = round(now - int(head["timestamp"]), 3)
    if settings.health_max_block_age_s is not None and block_age > settings.health_max_block_age_s:
        problems.append(("down", f"head block {block} is {block_age:.0f} s old "
                                 f"(> health_max_block_age_s={settings.health_max_block_age_s:g}): is the node syncing?"))

    last = journal.last_block(job) if journal is not None else None
    lag = None if last is None else block - last
    if last is None:
        problems.append(("down", f"the keeper has not processed a block yet (no '{job}' cursor in the journal): "
                                 "is `ape keeper run` running with this --journal?"))
    elif lag is not None and lag > settings.health_max_lag_blocks:
        problems.append(("down", f"keeper is {lag} blocks behind the head "
                                 f"(> health_max_lag_blocks={settings.health_max_lag_blocks})"))

    pending = journal.transactions("pending") if journal is not None else []
    stale = [t for t in pending if now - int(t["sent_at"]) > settings.health_max_pending_age_s]
    if stale:
        problems.append(("degraded", f"{len(stale)} transaction(s) pending for more than "
                                     f"{settings.health_max_pending_age_s:g} s (health_max_pending_age_s)"))

    low_wei = int(settings.signer_low_balance_eth * 10**18)
    signer_rows = []
    for address in signers:
        balance = int(web3.eth.get_balance(address))
        signer_rows.append({"address": to_checksum_address(address), "balance_wei": balance, "low": balance < low_wei})
    low = [s["address"] for s in signer_rows if s["low"]]
    if low:
        problems.append(("degraded", f"signer(s) below {settings.signer_low_balance_eth:g} ETH "
                                     f"(signer_low_balance_eth): {', '.join(low)}"))

    breaker = breaker_state(web3, manifest)
    if breaker["emergency"]:
        problems.append(("degraded", "emergency stop: every child diamond is paused (`ape keeper resume`)"))
    elif breaker["paused"]:
        problems.append(("degraded", f"paused child diamond(s): {', '.join(breaker['paused'])}"))

    status = max((s for s, _ in problems), key=STATUSES.index, default="ok")
    return {
        "status": status,
        "problems": [m for _, m in problems],
        "chain_id": int(web3.eth.chain_id),
        "block": block,
        "block_age_s": block_age,
        "last_processed_block": last,
        "lag_blocks": lag,
        "pending_txs": len(pending),
        "stale_pending_txs": len(stale),
        "signers": signer_rows,
        "breaker": breaker,
    }


def down_report(reason: str) -> dict[str, Any]:
    """The report when the node cannot be reached at all."""
    return {"status": "down", "problems": [reason]}


def open_journal(url: str) -> Journal | None:
    """Open the journal at ``url`` without creating one: None if it is a SQLite file that does not exist."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not Path(parsed.database).is_file():
        return None
    return Journal(url)
