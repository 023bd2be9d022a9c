"""Two keepers, one journal: active/passive failover on PostgreSQL, with epoch fencing.

Every ``ape keeper run`` of one system on one chain with the same PostgreSQL journal is a member of
one *leader group* (:func:`group_key`: chain id and master address). They compete for a
session-level advisory lock (``pg_try_advisory_lock``, key :func:`lock_key` of the group) held on a
dedicated connection — a direct connection or a session-mode pooler, never a transaction-mode
pooler (PgBouncer ``pool_mode=transaction`` hands the session to other clients). The holder is the
*leader*; the others are warm *standbys*: connected to the node and the journal, following the
chain head, sending nothing, trying the lock every ``leader_poll_s``.

* **Takeover.** The new leader increments its group's row of ``leader_epochs`` and from then on
  every journal write that precedes a broadcast (the pending attempt, with its intent) is *fenced*:
  in the same database transaction the epoch row is read ``FOR SHARE`` and the write is refused
  (:class:`~macrostrike.keeper.journal.Fenced`) unless it still holds this process's epoch. A takeover's
  ``UPDATE`` waits for such a transaction, so a write is either committed before the takeover (and
  the new leader finds it and settles it through the normal restart path) or refused after it: a
  deposed leader that wakes up (a GC pause, a network partition) can never sign anything new. At
  most it re-sends, in the instant before its next check, the very bytes of an attempt it
  journalled while leading (same hash: the new leader watches that transaction already).
* **Lease.** The lock connection runs with ``idle_session_timeout = leader_lease_s``: a keeper thread
  pings it every ``leader_lease_s / 4``; a leader that stops (SIGSTOP, a long pause, a lost network)
  has its session ended by the server after the lease, which frees the lock for a standby. A
  killed leader's session ends at once (its socket closes). On waking, a deposed leader finds its
  lock connection gone or a write fenced, and exits (code :data:`EXIT_DEPOSED`) so that its
  supervisor restarts it as a standby.
* **Handover.** SIGTERM stops the loop within one poll; the lock is released at once
  (``pg_advisory_unlock``) instead of waiting for a timeout.
* **Heartbeats.** Each process keeps its row of ``keeper_nodes`` (host, pid, role, epoch, last seen);
  ``ape keeper status --journal`` and ``ape keeper health`` read them (:func:`leadership_report`).

A SQLite journal is for one keeper process: :class:`SqliteJournalLock` (an exclusive ``flock`` on
``<journal>.lock``) makes a second ``keeper run`` on the same file refuse to start.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, select, text
from sqlalchemy.pool import NullPool

from macrostrike.keeper.journal import Journal, keeper_nodes_table, leader_epochs_table

logger = logging.getLogger("macrostrike.keeper")

#: Exit code of a keeper that lost its leadership (EX_TEMPFAIL): its supervisor restarts it as a standby.
EXIT_DEPOSED = 75


class JournalInUse(RuntimeError):
    """Another keeper process holds this SQLite journal."""


def group_key(chain_id: int, master: str) -> str:
    """The leader group of a system on a chain: ``"<chain id>:<master address, lower case>"``."""
    return f"{int(chain_id)}:{master.lower()}"


def lock_key(group: str) -> int:
    """The advisory lock key (a signed 64-bit integer) of ``group``: the first 8 bytes of
    SHA-256("macrostrike-keeper:" + group)."""
    digest = hashlib.sha256(f"macrostrike-keeper:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def node_name() -> str:
    """This process in the heartbeat table: ``"<host>:<pid>"``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class SqliteJournalLock:
    """An exclusive, non-blocking ``flock`` on ``<database>.lock`` held for the life of the keeper
    (the kernel drops it when the process dies, even by ``kill -9``).

    Args:
        database: the SQLite file of the journal.

    Raises:
        JournalInUse: another process holds the lock (the message names its pid and the fix).
    """

    def __init__(self, database: str | Path) -> None:
        self.path = Path(f"{database}.lock")
        self._file = open(self.path, "a+")  # noqa: SIM115 - held open while the keeper runs
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            holder = self._file.read().strip() or "unknown"
            self._file.close()
            raise JournalInUse(
                f"the SQLite journal {database} is in use by another keeper (pid {holder}, lock {self.path}): a "
                "SQLite journal serves one keeper process; for two keepers use a PostgreSQL journal "
                "(--journal postgresql+psycopg://…)") from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(str(os.getpid()))
        self._file.flush()

    def release(self) -> None:
        if not self._file.closed:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()


class Leadership:
    """This process's membership of a leader group (see the module docstring).

    Args:
        journal: the PostgreSQL journal (its URL is used for the dedicated lock connection, and its
            :attr:`~Journal.fence` is set on takeover).
        group: the group key (:func:`group_key`).
        lease_s: seconds after which the server ends the session of a leader that stopped answering
            (``idle_session_timeout``); its lock is then free.
        poll_s: seconds between two tries of the lock by a standby.
        node: this process's name in the heartbeat table (default :func:`node_name`).
    """

    def __init__(self, journal: Journal, group: str, *, lease_s: float = 10.0, poll_s: float = 1.0,
                 node: str | None = None) -> None:
        if journal.engine.dialect.name != "postgresql":
            raise ValueError(f"leadership needs a PostgreSQL journal, not {journal.engine.dialect.name}")
        self.journal, self.group, self.key = journal, group, lock_key(group)
        self.lease_s, self.poll_s = lease_s, poll_s
        self.node = node or node_name()
        self.role = "standby"
        self.epoch: int | None = None
        self.previous_holder: str | None = None
        self.acquired_at: float | None = None
        self.started_at = time.time()
        self._lost: str | None = None
        self._io = threading.Lock()  # one user of the lock connection at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if not 0 < poll_s < lease_s:
            raise ValueError(f"leader_poll_s ({poll_s:g}) must be below leader_lease_s ({lease_s:g}): a standby's "
                             "idle session would end between two polls")
        self._engine = create_engine(journal.url, poolclass=NullPool)
        self._conn = self._connect()
        self.beat()

    def _connect(self) -> Any:
        """The dedicated lock connection (autocommit), its session ended by the server after
        ``lease_s`` without a statement (``idle_session_timeout``, PostgreSQL >= 14)."""
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text(f"SET idle_session_timeout = {max(1, int(self.lease_s * 1000))}"))
        conn.execute(text("SELECT set_config('application_name', :name, false)"), {"name": f"keeper {self.node}"[:63]})
        return conn

    # -- state ------------------------------------------------------------------------------------
    @property
    def is_leader(self) -> bool:
        return self.role == "leader" and self.holds()

    def holds(self) -> bool:
        """True while this process is the leader and nothing says otherwise: its lock connection
        answered its last ping and no fenced write was refused. Cheap (no database round trip)."""
        if self.role != "leader":
            return False
        if self.journal.fenced_by is not None and self._lost is None:
            self._lost = f"a fenced write was refused: epoch {self.epoch} superseded by {self.journal.fenced_by}"
        return self._lost is None

    @property
    def lost_reason(self) -> str | None:
        return self._lost

    # -- standby ----------------------------------------------------------------------------------
    def try_acquire(self) -> bool:
        """One try of the lock; on success this process leads under a new epoch (returns True). A
        standby whose session ended (it was paused past the lease) reconnects first."""
        with self._io:
            if self._conn.closed or self._conn.invalidated:
                self._conn = self._connect()
            got = bool(self._conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar())
        if not got:
            return False
        self._take_over()
        return True

    def _take_over(self) -> None:
        now = time.time()
        epochs = leader_epochs_table
        with self.journal.engine.begin() as conn:
            old = conn.execute(select(epochs.c.epoch, epochs.c.holder).where(epochs.c.group_key == self.group)
                               .with_for_update()).first()
            if old is None:
                conn.execute(epochs.insert().values(group_key=self.group, epoch=1, holder=self.node, since=now))
                epoch, self.previous_holder = 1, None
            else:
                epoch, self.previous_holder = int(old[0]) + 1, old[1]
                conn.execute(epochs.update().where(epochs.c.group_key == self.group)
                             .values(epoch=epoch, holder=self.node, since=now))
        self.epoch, self.role, self.acquired_at = epoch, "leader", now
        self.journal.fenced_by = None
        self.journal.fence = (self.group, epoch)
        self.beat()
        logger.info("leader of %s at epoch %d (lock key %d; previous holder %s)", self.group, epoch, self.key,
                    self.previous_holder or "none")
        self._thread = threading.Thread(target=self._keepalive, name="leader-keepalive", daemon=True)
        self._thread.start()

    def wait(self, stop: threading.Event, follow: Callable[[], Any] | None = None) -> bool:
        """As a standby: try the lock every ``poll_s`` until it is ours (True) or ``stop`` is set
        (False); ``follow()`` (e.g. read the chain head) and the heartbeat run on every poll."""
        logged = False
        while not stop.is_set():
            if self.try_acquire():
                return True
            if not logged:
                logger.info("standby in %s: %s leads at epoch %s; trying the lock every %g s", self.group,
                            *self.current_leader(), self.poll_s)
                logged = True
            if follow is not None:  # a warm standby: connected, following the head
                try:
                    follow()
                except Exception as err:  # noqa: BLE001 - a standby survives node hiccups
                    logger.warning("standby: following the chain failed (%s: %s)", type(err).__name__, err)
            self.beat()
            stop.wait(self.poll_s)
        return False

    def current_leader(self) -> tuple[str | None, int | None]:
        """``(holder, epoch)`` of the group's epoch row (None, None before any leader)."""
        with self.journal.engine.connect() as conn:
            row = conn.execute(select(leader_epochs_table.c.holder, leader_epochs_table.c.epoch)
                               .where(leader_epochs_table.c.group_key == self.group)).first()
        return (None, None) if row is None else (row[0], int(row[1]))

    # -- leader -----------------------------------------------------------------------------------
    def _keepalive(self) -> None:
        """Ping the lock connection (and write the heartbeat) every ``lease_s / 4`` while leading; a
        failed ping means the session, and with it the lock, is gone."""
        while not self._stop.wait(self.lease_s / 4):
            if self.role != "leader" or self._lost is not None:
                return
            try:
                self.beat()
            except Exception as err:  # noqa: BLE001 - the connection is gone: so is the lock
                self._lost = f"the lock connection failed ({type(err).__name__}: {str(err).splitlines()[0][:120]})"
                logger.error("leadership of %s at epoch %s lost: %s", self.group, self.epoch, self._lost)
                return

    def beat(self) -> None:
        """Write this process's heartbeat row (role, epoch, last seen) on the lock connection."""
        nodes = keeper_nodes_table
        host, _, pid = self.node.rpartition(":")
        values = dict(group_key=self.group, host=host, pid=int(pid) if pid.isdigit() else os.getpid(),
                      role=self.role, epoch=self.epoch if self.role == "leader" else None,
                      started_at=self.started_at, last_seen=time.time())
        with self._io:
            updated = self._conn.execute(nodes.update().where(nodes.c.node == self.node).values(**values))
            if updated.rowcount == 0:
                self._conn.execute(nodes.insert().values(node=self.node, **values))

    def release(self) -> None:
        """Leave the group: unlock at once (a standby can take over on its next poll), drop the
        heartbeat row, close the lock connection. Safe to call twice or after the connection died."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            if self.role == "leader" and self._lost is None:
                with self._io:
                    self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        except Exception as err:  # noqa: BLE001 - the session is gone already: so is its lock
            logger.info("leadership release: %s: %s", type(err).__name__, str(err).splitlines()[0][:120])
        finally:
            self.role = "stopped"
            self._conn.close()
            self._engine.dispose()
        try:  # on the journal's own connections: the lock connection may be the one that failed
            with self.journal.engine.begin() as conn:
                conn.execute(delete(keeper_nodes_table).where(keeper_nodes_table.c.node == self.node))
        except Exception as err:  # noqa: BLE001 - a stale row is reported as stale, no harm
            logger.info("heartbeat row not removed: %s: %s", type(err).__name__, str(err).splitlines()[0][:120])


def host_nodes(journal: Journal, host: str | None = None) -> list[dict[str, Any]]:
    """Heartbeat rows of the keeper processes on ``host`` (default: this machine's host name), the
    most recently seen first."""
    host = socket.gethostname() if host is None else host
    with journal.engine.connect() as conn:
        rows = conn.execute(select(keeper_nodes_table).where(keeper_nodes_table.c.host == host)
                            .order_by(keeper_nodes_table.c.last_seen.desc())).mappings().all()
    return [dict(r) for r in rows]


def leadership_report(journal: Journal, *, now: float | None = None, stale_after_s: float = 30.0) -> list[dict[str, Any]]:
    """Per leader group in ``journal``: the epoch, the leader and the standbys (from the heartbeat
    table; a row not seen for ``stale_after_s`` is listed under ``stale``, not as a member).

    Returns:
        ``[{"group", "epoch", "leader": {"node", "since", "last_seen_age_s"} | None, "standbys":
        [{"node", "last_seen_age_s"}], "stale": [node, ...]}]``, one per group; [] for a journal
        without leader groups (a single keeper).
    """
    now = time.time() if now is None else now
    with journal.engine.connect() as conn:
        epochs = conn.execute(select(leader_epochs_table)).mappings().all()
        nodes = conn.execute(select(keeper_nodes_table).order_by(keeper_nodes_table.c.node)).mappings().all()
    report = []
    for e in epochs:
        members = [n for n in nodes if n["group_key"] == e["group_key"]]
        fresh = [n for n in members if now - float(n["last_seen"]) <= stale_after_s]
        holder = next((n for n in fresh if n["node"] == e["holder"] and n["role"] == "leader"), None)
        report.append({
            "group": e["group_key"], "epoch": int(e["epoch"]),
            "leader": None if holder is None else {"node": holder["node"], "since": float(e["since"]),
                                                   "last_seen_age_s": round(now - float(holder["last_seen"]), 3)},
            "standbys": [{"node": n["node"], "last_seen_age_s": round(now - float(n["last_seen"]), 3)}
                         for n in fresh if n["role"] == "standby"],
            "stale": [n["node"] for n in members if n not in fresh],
        })
    return report
