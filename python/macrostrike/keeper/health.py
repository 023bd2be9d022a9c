"""``ape keeper health``: one JSON object for a Kubernetes-style liveness or readiness probe.

Two questions, two reports:

* **liveness** (``--liveness``, :func:`check_liveness`): is the keeper process alive? Only a dead
  loop or an unreachable node fails it, so a probe that restarts on failure never restart-loops a
  keeper that is merely degraded (paused children, a low signer…). Shape::

    {"status": "alive" | "dead", "problems": [...], "check": "heartbeat" | "cursor" | "standby",
     "chain_id": 31337, "block": 1234, "heartbeat_age_s": 2.1,
     "last_processed_block": 1233, "lag_blocks": 1}

* **readiness** (the default, or ``--readiness``; :func:`check_health`): is the system fit to
  trade? Shape::

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
liveness check                                          status      threshold
=====================================================  ==========  ==================================
node unreachable (``eth_blockNumber`` fails)            dead        —
no journal, or no 'keeper' heartbeat in it              dead        —
last heartbeat older than                               dead        60 s
``health_max_heartbeat_age_s``
(journal without heartbeats) no 'keeper' cursor, or     dead        10 blocks
cursor more than ``health_max_lag_blocks`` back
=====================================================  ==========  ==================================

The heartbeat (``Journal.heartbeat('keeper')``, the Unix time of the runner's last loop iteration,
written even when there is no new block) is used when the journal has it; otherwise the check
falls back to the cursor lag (``"check": "cursor"``).

=====================================================  ==========  ==================================
readiness check                                         status      threshold
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
two keepers on PostgreSQL (macrostrike.keeper.leader):  degraded    ``health_max_heartbeat_age_s``
a group without a leader seen, or without a standby                 (a heartbeat older is not counted)
=====================================================  ==========  ==================================

With two keepers on one PostgreSQL journal the readiness report also has ``"leadership"``: per
leader group its ``epoch``, ``leader`` and ``standbys`` (:func:`~macrostrike.keeper.leader.leadership_report`);
a single keeper's report has no such key. Liveness on a host whose keeper is a *standby* (its row in
the heartbeat table, ``"check": "standby"``) follows that row's ``last_seen`` instead of the loop's
heartbeat (a standby runs no loop: it must not be restarted for that).

``status`` is the worst of the failed checks. Exit codes (:func:`exit_code`): liveness 0 alive,
1 dead; readiness 0 for ``ok`` and ``degraded`` (degraded is not a reason to restart or stop
routing), 1 for ``down``; readiness with ``--strict`` (alerting) 1 for ``degraded`` too.
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
LIVENESS_STATUSES = ("alive", "dead")
#: ``health_max_heartbeat_age_s`` for a settings object without that field.
DEFAULT_MAX_HEARTBEAT_AGE_S = 60.0
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
    """The readiness report (see the module docstring).

    Args:
        web3: a connected Web3.
        manifest: the deployment manifest (for the master and the children's roles).
        journal: the keeper's journal, or None when none was found.
        signers: the keeper's signer addresses (balances checked).
        settings: the thresholds (``health_*``, ``signer_low_balance_eth``).
        job: the journal cursor of the keeper loop.
        now: Unix seconds for block and pending-transaction ages (default the wall clock).

    Returns:
        The report: ``status`` ``ok``/``degraded``/``down``, ``problems`` and the measurements.
    """
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

    groups = _leadership(journal, settings, now, problems)
    status = max((s for s, _ in problems), key=STATUSES.index, default="ok")
    report = {
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
    if groups:
        report["leadership"] = groups
    return report


def _leadership(journal: Journal | None, settings: KeeperSettings, now: float,
                problems: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The leader groups of a PostgreSQL journal (see the module docstring); a group without a fresh
    leader or without a standby is ``degraded`` (no failover possible)."""
    if getattr(getattr(journal, "engine", None), "dialect", None) is None or journal.engine.dialect.name != "postgresql":
        return []
    from macrostrike.keeper.leader import leadership_report

    max_age = float(getattr(settings, "health_max_heartbeat_age_s", DEFAULT_MAX_HEARTBEAT_AGE_S))
    groups = leadership_report(journal, now=now, stale_after_s=max_age)
    for g in groups:
        if g["leader"] is None:
            problems.append(("degraded", f"keeper group {g['group']}: no leader seen within {max_age:g} s "
                                         f"(epoch {g['epoch']})"))
        elif not g["standbys"]:
            problems.append(("degraded", f"keeper group {g['group']}: no standby keeper (no failover possible)"))
    return groups


def down_report(reason: str) -> dict[str, Any]:
    """The readiness report when the node cannot be reached at all.

    Args:
        reason: the one problem to report.

    Returns:
        ``{"status": "down", "problems": [reason]}``.
    """
    return {"status": "down", "problems": [reason]}


def check_liveness(web3: Any, journal: Journal | None, settings: KeeperSettings, *, job: str = JOB,
                   now: float | None = None) -> dict[str, Any]:
    """The liveness report (see the module docstring): is the keeper loop running, does the node answer?

    Degraded states (paused children, low signers, stale pending transactions) never fail it.

    Args:
        web3: a connected Web3 (``eth_blockNumber`` and ``eth_chainId`` are asked).
        journal: the keeper's journal, or None when none was found (dead).
        settings: ``health_max_heartbeat_age_s`` (60 s for a settings object without it) and, for
            a journal without heartbeats, ``health_max_lag_blocks``.
        job: the name the keeper loop writes its heartbeat and cursor under.
        now: Unix seconds for the heartbeat's age (default the wall clock).

    Returns:
        ``{"status": "alive" | "dead", "problems": [...], "check": "heartbeat" | "cursor",
        "chain_id", "block", "heartbeat_age_s", "last_processed_block", "lag_blocks"}``.

    Raises:
        OSError: the node stopped answering (requests' ConnectionError is an OSError); the
            caller reports it with :func:`dead_report`.
    """
    now = time.time() if now is None else now
    block = int(web3.eth.block_number)
    problems: list[str] = []
    heartbeat = getattr(journal, "heartbeat", None) if journal is not None else None
    last = journal.last_block(job) if journal is not None else None
    lag = None if last is None else block - last
    beat_age = None
    standby = _standby_here(journal)
    if journal is None:
        problems.append("no keeper journal found: is `ape keeper run` running with this --journal?")
    elif standby is not None:  # a standby runs no loop: its own heartbeat row says it is alive
        max_age = float(getattr(settings, "health_max_heartbeat_age_s", DEFAULT_MAX_HEARTBEAT_AGE_S))
        beat_age = round(now - float(standby["last_seen"]), 3)
        if beat_age > max_age:
            problems.append(f"the standby keeper {standby['node']} was last seen {beat_age:.0f} s ago "
                            f"(> health_max_heartbeat_age_s={max_age:g})")
    elif callable(heartbeat):
        beat = heartbeat(job)
        max_age = float(getattr(settings, "health_max_heartbeat_age_s", DEFAULT_MAX_HEARTBEAT_AGE_S))
        if beat is None:
            problems.append(f"no '{job}' heartbeat in the journal: is `ape keeper run` running with this --journal?")
        else:
            beat_age = round(now - float(beat), 3)
            if beat_age > max_age:
                problems.append(f"the keeper loop's last heartbeat is {beat_age:.0f} s old "
                                f"(> health_max_heartbeat_age_s={max_age:g})")
    elif last is None:
        problems.append(f"the keeper has not processed a block yet (no '{job}' cursor in the journal): "
                        "is `ape keeper run` running with this --journal?")
    elif lag is not None and lag > settings.health_max_lag_blocks:
        problems.append(f"keeper is {lag} blocks behind the head "
                        f"(> health_max_lag_blocks={settings.health_max_lag_blocks})")
    return {
        "status": "dead" if problems else "alive",
        "problems": problems,
        "check": "standby" if standby is not None else "heartbeat" if callable(heartbeat) else "cursor",
        "chain_id": int(web3.eth.chain_id),
        "block": block,
        "heartbeat_age_s": beat_age,
        "last_processed_block": last,
        "lag_blocks": lag,
    }


def _standby_here(journal: Journal | None) -> dict[str, Any] | None:
    """This host's most recently seen keeper process, if it is a standby of a PostgreSQL journal."""
    if getattr(getattr(journal, "engine", None), "dialect", None) is None or journal.engine.dialect.name != "postgresql":
        return None
    from macrostrike.keeper.leader import host_nodes

    rows = host_nodes(journal)
    return rows[0] if rows and rows[0]["role"] == "standby" else None


def dead_report(reason: str) -> dict[str, Any]:
    """The liveness report when the node cannot be reached.

    Args:
        reason: the one problem to report.

    Returns:
        ``{"status": "dead", "problems": [reason]}``.
    """
    return {"status": "dead", "problems": [reason]}


def exit_code(report: dict[str, Any], *, strict: bool = False) -> int:
    """The probe's exit code for a liveness or readiness report.

    Args:
        report: a report of :func:`check_liveness`/:func:`dead_report` or
            :func:`check_health`/:func:`down_report`.
        strict: readiness only: also fail on ``degraded`` (for alerting).

    Returns:
        0 for ``alive``, ``ok`` and (unless ``strict``) ``degraded``; 1 otherwise.

    Raises:
        ValueError: an unknown status.
    """
    status = report["status"]
    if status not in STATUSES + LIVENESS_STATUSES:
        raise ValueError(f"unknown health status {status!r}")
    failing = {"dead", "down", "degraded"} if strict else {"dead", "down"}
    return 1 if status in failing else 0


def open_journal(url: str) -> Journal | None:
    """Open the journal at ``url`` without creating one.

    Args:
        url: a SQLAlchemy URL.

    Returns:
        The journal, or None if ``url`` is a SQLite file that does not exist.

    Raises:
        Exception: whatever SQLAlchemy raises for a bad URL or an unreachable database.
    """
    from pathlib import Path

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not Path(parsed.database).is_file():
        return None
    return Journal(url)
