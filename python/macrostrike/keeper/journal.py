"""The keeper's journal: every decision (with its reason), every intent and its signed attempts,
the last block seen.

Stored with SQLAlchemy; SQLite is the embedded default (``sqlite:///out/keeper.sqlite``), and any
SQLAlchemy URL works, e.g. ``postgresql+psycopg://keeper@db/keeper`` for a long-running deployment.
``Journal()`` with no URL keeps an in-memory SQLite database.

**Intents and attempts** (the model of Chainlink's transaction manager: a logical transaction kept
apart from its signed attempts). A decision that leads to a send becomes an *intent* keyed by its
``subject`` (the diamond and bot it acts on); its states are ``planned → sent → mined | reverted |
abandoned`` (:data:`INTENT_STATES`). A database index allows at most one *open* (planned or sent)
intent per subject, so a bot with unfinished work is never decided again, even by a second process.
Each signed transaction of an intent is an *attempt* (a row of ``transactions``: hash, nonce, fees,
the raw bytes for a re-broadcast); a fee bump is a new attempt of the same intent.

Attempts are written as ``pending`` *before* they are broadcast (the hash of a signed transaction is
known before sending), in a committed SQLite transaction with ``synchronous=FULL``, so a keeper
killed at any point finds them on restart and resumes the intent instead of deciding afresh.

**Fencing** (two keepers on one PostgreSQL journal, :mod:`macrostrike.keeper.leader`): with
:attr:`Journal.fence` set to the leader's ``(group, epoch)``, the writes that precede a broadcast
(:meth:`Journal.intent_create` with its attempt, :meth:`Journal.tx_pending`, :meth:`Journal.check_fence`
before a re-broadcast) read the group's ``leader_epochs`` row ``FOR SHARE`` in their own transaction
and raise :class:`Fenced`, writing nothing, unless it still holds that epoch; each attempt row
records the epoch it was written under.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (JSON, BigInteger, Column, Float, Index, Integer, MetaData, String, Table, Text, create_engine,
                        delete, event, func, select)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from web3.exceptions import TransactionNotFound

logger = logging.getLogger("macrostrike.keeper")

metadata = MetaData()

decisions_table = Table(
    "decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("block", BigInteger, nullable=False, index=True),
    Column("job", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("reason", String(64), nullable=False, index=True),
    Column("bot_id", Integer, nullable=True),
    Column("detail", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

transactions_table = Table(
    "transactions", metadata,
    Column("tx_hash", String(66), primary_key=True),
    Column("signer", String(42), nullable=False, index=True),
    Column("nonce", BigInteger, nullable=False),
    Column("job", String(64), nullable=False),
    Column("bot_id", Integer, nullable=True),
    # pending | mined | reverted | replaced | rejected | dropped | reorged (see TX_STATUSES)
    Column("status", String(16), nullable=False, index=True),
    Column("gas_used", BigInteger, nullable=True),
    Column("effective_gas_price", BigInteger, nullable=True),
    Column("block", BigInteger, nullable=True),
    Column("block_hash", String(66), nullable=True),
    Column("sent_at", BigInteger, nullable=False),
    # the intent this attempt belongs to (None for rows of journals older than intents)
    Column("intent_id", Integer, nullable=True, index=True),
    Column("raw", Text, nullable=True),  # 0x-hex signed bytes: re-broadcast after a lost reply or a restart
    Column("tip", BigInteger, nullable=True),  # maxPriorityFeePerGas, wei
    Column("max_fee", BigInteger, nullable=True),  # maxFeePerGas, wei
    Column("error", String(300), nullable=True),  # the node's JSON-RPC error for a rejected attempt
    # the leader epoch it was written under (macrostrike.keeper.leader); None: written without a leader
    Column("epoch", BigInteger, nullable=True),
)

#: Intent states; planned and sent are open.
INTENT_STATES = {
    "planned": "decided and simulated; not signed yet",
    "sent": "at least one attempt signed and journalled; waiting for a receipt",
    "mined": "an attempt was included with status 1 (after the configured confirmations)",
    "reverted": "an attempt was included with status 0",
    "abandoned": "nothing of it is or can be on chain: every attempt refused, or its nonce used by another",
}
OPEN_STATES = ("planned", "sent")

intents_table = Table(
    "intents", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(64), nullable=False),
    Column("subject", String(128), nullable=False),  # e.g. "<diamond>:bot:<id>", "<master>:checkpoint"
    Column("action", String(32), nullable=False),
    Column("bot_id", Integer, nullable=True),
    Column("state", String(16), nullable=False, index=True),
    Column("to_address", String(42), nullable=False),
    Column("data", Text, nullable=False),  # 0x-hex calldata
    Column("value", BigInteger, nullable=False),
    Column("gas_limit", BigInteger, nullable=False),
    Column("signer", String(42), nullable=True),
    Column("nonce", BigInteger, nullable=True),
    Column("tx_hash", String(66), nullable=True),  # the included attempt
    Column("block", BigInteger, nullable=True),
    Column("block_hash", String(66), nullable=True),
    Column("created_block", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("detail", JSON, nullable=False),
    Column("error", String(300), nullable=True),
)
#: At most one open intent per subject (a partial unique index: SQLite and PostgreSQL).
Index("uq_intents_open_subject", intents_table.c.subject, unique=True,
      sqlite_where=intents_table.c.state.in_(OPEN_STATES), postgresql_where=intents_table.c.state.in_(OPEN_STATES))

heartbeats_table = Table(
    "heartbeats", metadata,
    Column("name", String(64), primary_key=True),
    Column("at", Float, nullable=False),  # Unix seconds of the run loop's last iteration
)

#: The current leader epoch of each keeper group (one row per (chain, system): macrostrike.keeper.leader);
#: every takeover increments it, and a fenced write is valid only under the current one.
leader_epochs_table = Table(
    "leader_epochs", metadata,
    Column("group_key", String(128), primary_key=True),  # "<chain id>:<master address>"
    Column("epoch", BigInteger, nullable=False),
    Column("holder", String(128), nullable=False),  # the node that took it ("<host>:<pid>")
    Column("since", Float, nullable=False),  # Unix seconds of the takeover
)

#: One row per keeper process of a group: leader or standby, its epoch, when it was last seen.
keeper_nodes_table = Table(
    "keeper_nodes", metadata,
    Column("node", String(128), primary_key=True),  # "<host>:<pid>"
    Column("group_key", String(128), nullable=False, index=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("role", String(16), nullable=False),  # leader | standby
    Column("epoch", BigInteger, nullable=True),  # the epoch it leads under (None: standby)
    Column("started_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),  # Unix seconds
)

cursors_table = Table(
    "cursors", metadata,
    Column("job", String(64), primary_key=True),
    Column("last_block", BigInteger, nullable=False),
    Column("last_hash", String(66), nullable=True),
)

#: What a transaction row's ``status`` means.
TX_STATUSES = {
    "pending": "signed and journalled; broadcast or about to be; no final receipt yet",
    "mined": "included with status 1 (after the configured confirmations)",
    "reverted": "included with status 0",
    "replaced": "superseded by a fee-bumped version with the same nonce, which was mined",
    "rejected": "the node answered with a JSON-RPC error (nonce too low, underpriced, …); never in the pool",
    "dropped": "its nonce was used by another transaction and it has no receipt",
    "reorged": "was mined, then its block left the canonical chain; not final: back to mined if re-included",
}


class Fenced(RuntimeError):
    """This process's leader epoch is no longer the current one (another keeper took over): the
    write that precedes a broadcast was refused, so nothing is written and nothing may be sent."""


class IntentOpen(Exception):
    """The subject already has an open intent (planned or sent): it must not be decided again."""


@dataclass
class Intent:
    """One logical transaction (see the module docstring); ``data`` is the calldata."""

    id: int
    job: str
    subject: str
    action: str
    bot_id: int | None
    state: str
    to: str
    data: bytes
    value: int
    gas_limit: int
    signer: str | None
    nonce: int | None
    tx_hash: str | None
    block: int | None
    block_hash: str | None
    created_block: int
    created_at: float
    detail: dict[str, Any]
    error: str | None = None

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES

    @classmethod
    def from_row(cls, r: Any) -> Intent:
        return cls(int(r["id"]), r["job"], r["subject"], r["action"], r["bot_id"], r["state"], r["to_address"],
                   bytes.fromhex(r["data"][2:]), int(r["value"]), int(r["gas_limit"]), r["signer"],
                   None if r["nonce"] is None else int(r["nonce"]), r["tx_hash"],
                   None if r["block"] is None else int(r["block"]), r["block_hash"], int(r["created_block"]),
                   float(r["created_at"]), dict(r["detail"] or {}), r["error"])


@dataclass
class Decision:
    """One keeper decision.

    ``action`` is ``"send"`` (a transaction went out) or ``"skip"`` (not acted on); ``reason`` is a
    short stable code (``no_opportunity``, ``unprofitable_after_gas``, ``below_min_profit``,
    ``no_bot_available``, ``simulation_reverted``, ``dry_run``, ``mined``, ``reverted``); ``detail``
    carries the numbers behind it (amounts in token base units, gas in units, fees in wei).
    """

    block: int
    job: str
    action: str
    reason: str
    bot_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=5000")  # wait for another process's write, don't fail
        for attempt in range(50):  # two processes opening a new file at once race for the WAL switch
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
                break
            except Exception as err:  # noqa: BLE001 - sqlite3.OperationalError "database is locked"
                if "locked" not in str(err) or attempt == 49:
                    raise
                time.sleep(0.02)
        # FULL: a committed attempt row (written before its broadcast) survives a power loss, not only a
        # crash of the process; its cost per commit is measured by `make bench` (see bench/README.md)
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()


class Journal:
    """Decisions, transactions and per-job block cursors in one SQLAlchemy database.

    :param url: SQLAlchemy URL; ``None`` keeps an in-memory SQLite database.
    :param memory: decisions kept in memory for this process's reports (the newest; all are stored).
    """

    def __init__(self, url: str | None = None, *, memory: int = 10_000) -> None:
        self.url = url or "sqlite://"
        #: one shared in-memory connection: not to be used from several threads at once
        self.in_memory = self.url in ("sqlite://", "sqlite:///:memory:")
        if self.in_memory:
            from sqlalchemy.pool import StaticPool  # one connection: every user sees the same memory database

            self.engine = create_engine(self.url, poolclass=StaticPool,
                                        connect_args={"check_same_thread": False})
        else:
            self.engine = create_engine(self.url)
        if self.engine.dialect.name == "sqlite":
            _sqlite_pragmas(self.engine)
        from macrostrike.keeper.migrations import upgrade

        upgrade(self.engine)
        self.counts: Counter[tuple[str, str]] = Counter()
        self.decisions: deque[Decision] = deque(maxlen=memory)
        self._atomic: Any = None
        self._deferred: list[dict[str, Any]] | None = None
        #: ``(group key, epoch)`` of the leadership this process holds (macrostrike.keeper.leader), or
        #: None (a single keeper): every write that precedes a broadcast checks it (:meth:`check_fence`)
        self.fence: tuple[str, int] | None = None
        #: the epoch found current when a fenced write was refused (None: never refused)
        self.fenced_by: int | None = None

    # -- transactions of the database ----------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """The open :meth:`atomic` connection, else a new committed transaction."""
        if self._atomic is not None:
            yield self._atomic
            return
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Every write inside goes into one database transaction (one commit, one fsync): the
        settlements of a block, its decisions. Never around a write that must be durable before a
        broadcast (an attempt row)."""
        if self._atomic is not None:
            yield
            return
        with self.engine.begin() as conn:
            self._atomic = conn
            try:
                yield
            finally:
                self._atomic = None

    # -- decisions -----------------------------------------------------------------------------
    def record(self, decision: Decision) -> Decision:
        """Store one decision (and keep the newest ``memory`` in memory for this process's reports)."""
        self.decisions.append(decision)
        self.counts[(decision.action, decision.reason)] += 1
        level = logging.INFO if decision.action == "send" else logging.DEBUG
        logger.log(level, "block %s %s bot=%s %s %s %s", decision.block, decision.job, decision.bot_id,
                   decision.action, decision.reason, decision.detail)
        row = dict(block=decision.block, job=decision.job, action=decision.action, reason=decision.reason,
                   bot_id=decision.bot_id, detail=json.loads(json.dumps(decision.detail, default=str)),
                   created_at=int(time.time()))
        if self._deferred is not None:
            self._deferred.append(row)
            return decision
        with self._tx() as conn:
            conn.execute(decisions_table.insert().values(**row))
        return decision

    @contextmanager
    def deferred_decisions(self) -> Iterator[None]:
        """Decisions recorded inside are written together, in one commit, on exit (a block's
        decisions: the log of why; what was sent is durable in its intent before the broadcast)."""
        if self._deferred is not None:
            yield
            return
        self._deferred = []
        try:
            yield
        finally:
            rows, self._deferred = self._deferred, None
            if rows:
                with self._tx() as conn:
                    conn.execute(decisions_table.insert(), rows)

    def stored_decisions(self) -> list[Decision]:
        """Every decision in the database, oldest first (all processes that used it)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(decisions_table).order_by(decisions_table.c.id)).mappings().all()
        return [Decision(r["block"], r["job"], r["action"], r["reason"], r["bot_id"], r["detail"]) for r in rows]

    # -- transactions --------------------------------------------------------------------------
    def tx_pending(self, tx_hash: str, signer: str, nonce: int, job: str, bot_id: int | None, *,
                   intent_id: int | None = None, raw: bytes | None = None, tip: int | None = None,
                   max_fee: int | None = None) -> bool:
        """Record a signed transaction (an attempt) as pending, before it is broadcast; with
        ``intent_id`` the intent becomes ``sent`` on this signer and nonce in the same commit.

        Signing the same transaction again gives the same hash: the existing row is kept (its
        status back to pending unless it was included). Returns True if a new row was written.

        Raises:
            RuntimeError: called inside :meth:`atomic` — the row would be committed only with the
                rest, after the broadcast it must precede (write-ahead).
        """
        if self._atomic is not None:
            raise RuntimeError("an attempt row must be committed before its broadcast: tx_pending inside "
                               "Journal.atomic()")
        values = dict(tx_hash=tx_hash, signer=signer, nonce=nonce, job=job, bot_id=bot_id, sent_at=int(time.time()),
                      intent_id=intent_id, raw=None if raw is None else "0x" + raw.hex(), tip=tip, max_fee=max_fee)
        with self._tx() as conn:
            self._check_fence(conn)
            written = self._put_attempt(conn, values)
            if intent_id is not None:
                conn.execute(intents_table.update().where(intents_table.c.id == intent_id).values(
                    state="sent", signer=signer, nonce=nonce, updated_at=time.time()))
        return written

    # -- fencing (macrostrike.keeper.leader) ---------------------------------------------------------
    def check_fence(self) -> None:
        """Raise :class:`Fenced` unless this process's leader epoch (:attr:`fence`) is still current
        (no-op without one); a standalone check, e.g. before re-broadcasting a journalled attempt."""
        if self.fence is not None:
            with self._tx() as conn:
                self._check_fence(conn)

    def _check_fence(self, conn: Any) -> None:
        """Inside the transaction of a write that precedes a broadcast: the epoch row is read with a
        shared row lock (PostgreSQL ``FOR SHARE``), so a takeover's ``UPDATE`` of it waits for this
        transaction, and this one, if it comes second, sees the new epoch and is refused.

        Raises:
            Fenced: the epoch row holds another epoch (or none): nothing of this transaction is written.
        """
        if self.fence is None:
            return
        group, mine = self.fence
        query = select(leader_epochs_table.c.epoch).where(leader_epochs_table.c.group_key == group)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(read=True)
        row = conn.execute(query).first()
        current = None if row is None else int(row[0])
        if current != mine:
            self.fenced_by = -1 if current is None else current
            raise Fenced(f"leader epoch {mine} of {group} is no longer current (now {current}): this keeper was "
                         "deposed; nothing written, nothing sent")

    def _put_attempt(self, conn: Any, values: dict[str, Any]) -> bool:
        """Insert an attempt row as ``pending``; the same hash signed again (same bytes) re-uses its
        row — back to pending with the given fields — unless it was included. True if inserted."""
        if self.fence is not None:
            values = {**values, "epoch": self.fence[1]}
        where = transactions_table.c.tx_hash == values["tx_hash"]
        exists = conn.execute(select(transactions_table.c.status).where(where)).first()
        if exists is None:
            conn.execute(transactions_table.insert().values(**values, status="pending"))
        elif exists[0] not in ("mined", "reverted"):
            conn.execute(transactions_table.update().where(where).values(
                status="pending", error=None, **{k: v for k, v in values.items() if v is not None}))
        return exists is None

    def tx_final(self, tx_hash: str, status: str, gas_used: int | None = None,
                 effective_gas_price: int | None = None, block: int | None = None,
                 block_hash: str | None = None, error: str | None = None) -> None:
        """Set a transaction's outcome (one of :data:`TX_STATUSES`) and, if mined, where."""
        if status not in TX_STATUSES:
            raise ValueError(f"unknown transaction status {status!r}; one of {sorted(TX_STATUSES)}")
        with self._tx() as conn:
            conn.execute(transactions_table.update().where(transactions_table.c.tx_hash == tx_hash).values(
                status=status, gas_used=gas_used, effective_gas_price=effective_gas_price, block=block,
                block_hash=block_hash, error=None if error is None else error[:300]))

    def tx_receipt(self, tx_hash: str, receipt: Any) -> str:
        """Settle ``tx_hash`` from its receipt (``mined`` or ``reverted``); returns the status."""
        status = "mined" if receipt["status"] == 1 else "reverted"
        self.tx_final(tx_hash, status, int(receipt["gasUsed"]), int(receipt.get("effectiveGasPrice", 0)),
                      int(receipt["blockNumber"]), "0x" + bytes(receipt["blockHash"]).hex())
        return status

    def attempts(self, intent_id: int) -> list[dict[str, Any]]:
        """The attempts (transaction rows) of one intent, oldest first."""
        query = select(transactions_table).where(transactions_table.c.intent_id == intent_id) \
            .order_by(transactions_table.c.sent_at, transactions_table.c.max_fee)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings().all()]

    # -- intents -------------------------------------------------------------------------------
    def intent_create(self, job: str, subject: str, action: str, bot_id: int | None, to: str, data: bytes,
                      gas_limit: int, block: int, *, value: int = 0, detail: dict[str, Any] | None = None,
                      attempt: dict[str, Any] | None = None) -> Intent:
        """Record a decided action as a ``planned`` intent — or, with ``attempt`` (``tx_hash``,
        ``signer``, ``nonce``, ``raw``, ``tip``, ``max_fee``), as ``sent`` with its first attempt
        ``pending``, in the same commit (one fsync before the broadcast).

        Raises:
            IntentOpen: ``subject`` already has an open intent (nothing is written).
        """
        now = time.time()
        values = dict(job=job, subject=subject, action=action, bot_id=bot_id, state="planned", to_address=to,
                      data="0x" + bytes(data).hex(), value=value, gas_limit=gas_limit, created_block=block,
                      created_at=now, updated_at=now, detail=json.loads(json.dumps(detail or {}, default=str)))
        if attempt is not None:
            values.update(state="sent", signer=attempt["signer"], nonce=attempt["nonce"])
        try:
            with self._tx() as conn:
                self._check_fence(conn)
                intent_id = int(conn.execute(intents_table.insert().values(**values)).inserted_primary_key[0])
                if attempt is not None:
                    self._put_attempt(conn, dict(
                        tx_hash=attempt["tx_hash"], signer=attempt["signer"], nonce=attempt["nonce"], job=job,
                        bot_id=bot_id, sent_at=int(now), intent_id=intent_id, raw="0x" + bytes(attempt["raw"]).hex(),
                        tip=attempt["tip"], max_fee=attempt["max_fee"]))
        except IntegrityError:
            raise IntentOpen(f"{subject} already has an open intent") from None
        row = {**values, "id": intent_id, "tx_hash": None, "block": None, "block_hash": None, "error": None,
               "signer": values.get("signer"), "nonce": values.get("nonce")}
        return Intent.from_row(row)

    def intent(self, intent_id: int) -> Intent:
        with self.engine.connect() as conn:
            row = conn.execute(select(intents_table).where(intents_table.c.id == intent_id)).mappings().one()
        return Intent.from_row(row)

    def intents(self, states: tuple[str, ...] | None = None, *, job: str | None = None) -> list[Intent]:
        """Intents (optionally in ``states`` / of ``job``), oldest first."""
        query = select(intents_table).order_by(intents_table.c.id)
        if states is not None:
            query = query.where(intents_table.c.state.in_(states))
        if job is not None:
            query = query.where(intents_table.c.job == job)
        with self.engine.connect() as conn:
            return [Intent.from_row(r) for r in conn.execute(query).mappings().all()]

    def open_intents(self) -> list[Intent]:
        """Intents still planned or sent (to resume after a restart)."""
        return self.intents(OPEN_STATES)

    def intent_state(self, intent_id: int, state: str, *, tx_hash: str | None = None, block: int | None = None,
                     block_hash: str | None = None, error: str | None = None) -> None:
        """Move an intent to ``state`` (one of :data:`INTENT_STATES`; back to ``sent`` after a reorg)."""
        if state not in INTENT_STATES:
            raise ValueError(f"unknown intent state {state!r}; one of {sorted(INTENT_STATES)}")
        with self._tx() as conn:
            conn.execute(intents_table.update().where(intents_table.c.id == intent_id).values(
                state=state, tx_hash=tx_hash, block=block, block_hash=block_hash,
                error=None if error is None else error[:300], updated_at=time.time()))

    def transactions(self, status: str | None = None) -> list[dict[str, Any]]:
        """Stored transactions (optionally of one status), by signer then nonce."""
        query = select(transactions_table).order_by(transactions_table.c.signer, transactions_table.c.nonce)
        if status is not None:
            query = query.where(transactions_table.c.status == status)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings().all()]

    def reconcile(self, web3: Any) -> dict[str, int]:
        """Settle every ``pending`` or ``reorged`` transaction that belongs to no intent (rows of an
        older journal; the transaction manager settles intents' attempts itself) against the chain.

        Mined ones get their receipt's status; one whose nonce the signer has used up without a
        receipt is ``replaced`` if another journalled version of that nonce was mined, else
        ``dropped``; the rest stay pending. Returns counts by status.
        """
        settled: Counter[str] = Counter()
        rows = [t for t in self.transactions("pending") + self.transactions("reorged") if t["intent_id"] is None]
        for tx in rows:
            try:
                receipt = web3.eth.get_transaction_receipt(tx["tx_hash"])
            except TransactionNotFound:  # transport errors propagate: a dead node is not a verdict
                receipt = None
            if receipt is not None:
                status = "mined" if receipt["status"] == 1 else "reverted"
                self.tx_final(tx["tx_hash"], status, int(receipt["gasUsed"]),
                              int(receipt.get("effectiveGasPrice", 0)), int(receipt["blockNumber"]),
                              "0x" + bytes(receipt["blockHash"]).hex())
            elif web3.eth.get_transaction_count(tx["signer"], "latest") > tx["nonce"]:
                status = "replaced" if self._nonce_mined(tx["signer"], tx["nonce"]) else "dropped"
                self.tx_final(tx["tx_hash"], status)
            else:
                status = tx["status"]
            settled[status] += 1
        return dict(settled)

    def supersede(self, signer: str, nonce: int, mined_hash: str) -> int:
        """``mined_hash`` used ``signer``'s ``nonce``: any other row of that nonce still ``pending``
        (e.g. signed and journalled by a process killed before it could broadcast) can never be
        mined; it becomes ``dropped``. Returns how many rows changed."""
        with self._tx() as conn:
            result = conn.execute(transactions_table.update().where(
                transactions_table.c.signer == signer, transactions_table.c.nonce == nonce,
                transactions_table.c.tx_hash != mined_hash, transactions_table.c.status == "pending",
            ).values(status="dropped"))
        return int(result.rowcount or 0)

    def _nonce_mined(self, signer: str, nonce: int) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(select(transactions_table.c.tx_hash).where(
                transactions_table.c.signer == signer, transactions_table.c.nonce == nonce,
                transactions_table.c.status.in_(("mined", "reverted")))).first()
        return row is not None

    def undo_reorged(self, web3: Any, since_block: int) -> list[str]:
        """Re-check transactions recorded as included at or after ``since_block`` (reorg handling).

        A transaction whose receipt is gone is marked ``reorged`` (gas, block cleared): what it
        recorded is undone, and it is no longer counted as a trade. One that moved to another
        block gets its new block. Returns the hashes marked ``reorged``.
        """
        undone = []
        with self.engine.connect() as conn:
            rows = conn.execute(select(transactions_table).where(
                transactions_table.c.block >= since_block,
                transactions_table.c.status.in_(("mined", "reverted")))).mappings().all()
        for tx in rows:
            try:
                receipt = web3.eth.get_transaction_receipt(tx["tx_hash"])
            except TransactionNotFound:  # transport errors propagate: a dead node is not a reorg
                receipt = None
            if receipt is None:
                self.tx_final(tx["tx_hash"], "reorged")
                undone.append(tx["tx_hash"])
            elif "0x" + bytes(receipt["blockHash"]).hex() != tx["block_hash"]:
                self.tx_final(tx["tx_hash"], "mined" if receipt["status"] == 1 else "reverted",
                              int(receipt["gasUsed"]), int(receipt.get("effectiveGasPrice", 0)),
                              int(receipt["blockNumber"]), "0x" + bytes(receipt["blockHash"]).hex())
        if undone:
            logger.warning("reorg: %d transaction(s) no longer in the chain: %s", len(undone), undone)
        return undone

    # -- cursors -------------------------------------------------------------------------------
    def last_block(self, job: str) -> int | None:
        """The last block ``job`` finished, or None if it never ran on this database."""
        cursor = self.cursor(job)
        return None if cursor is None else cursor[0]

    def cursor(self, job: str) -> tuple[int, str | None] | None:
        """``(last block, its hash)`` that ``job`` finished, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(cursors_table.c.last_block, cursors_table.c.last_hash)
                               .where(cursors_table.c.job == job)).first()
        return None if row is None else (int(row[0]), row[1])

    def set_last_block(self, job: str, block: int, block_hash: str | None = None) -> None:
        """Move ``job``'s cursor to ``block`` (and remember its hash to notice reorgs)."""
        with self._tx() as conn:
            updated = conn.execute(cursors_table.update().where(cursors_table.c.job == job)
                                   .values(last_block=block, last_hash=block_hash))
            if updated.rowcount == 0:
                conn.execute(cursors_table.insert().values(job=job, last_block=block, last_hash=block_hash))

    # -- liveness and housekeeping ------------------------------------------------------------------
    def beat(self, name: str = "keeper", at: float | None = None) -> None:
        """Write the run loop's heartbeat (Unix seconds; ``ape keeper health --liveness`` reads it)."""
        at = time.time() if at is None else at
        with self._tx() as conn:
            if conn.execute(heartbeats_table.update().where(heartbeats_table.c.name == name)
                            .values(at=at)).rowcount == 0:
                conn.execute(heartbeats_table.insert().values(name=name, at=at))

    def heartbeat(self, name: str = "keeper") -> float | None:
        """Unix seconds of the run loop's last heartbeat, or None if it never beat here."""
        with self.engine.connect() as conn:
            row = conn.execute(select(heartbeats_table.c.at).where(heartbeats_table.c.name == name)).first()
        return None if row is None else float(row[0])

    def prune(self, before_block: int, *, dry_run: bool = False) -> dict[str, int]:
        """Delete decisions, settled intents and their attempts recorded below ``before_block``.

        Open intents and their attempts, pending or reorged attempts and cursors are never deleted.
        Returns the rows deleted (or, with ``dry_run``, that would be) per table.

        Raises:
            ValueError: ``before_block`` is negative.
        """
        if before_block < 0:
            raise ValueError(f"--before-block must be >= 0, got {before_block}")
        settled = ("mined", "reverted", "abandoned")
        old_intents = select(intents_table.c.id).where(intents_table.c.state.in_(settled),
                                                        intents_table.c.created_block < before_block)
        open_ids = select(intents_table.c.id).where(intents_table.c.state.in_(OPEN_STATES))
        tx_where = (transactions_table.c.status.notin_(("pending", "reorged")),
                    transactions_table.c.sent_at >= 0,
                    (transactions_table.c.intent_id.in_(old_intents))
                    | (transactions_table.c.intent_id.is_(None) & (transactions_table.c.block < before_block)),
                    transactions_table.c.intent_id.is_(None) | transactions_table.c.intent_id.notin_(open_ids))
        wheres = {"decisions": (decisions_table, (decisions_table.c.block < before_block,)),
                  "transactions": (transactions_table, tx_where),
                  "intents": (intents_table, (intents_table.c.state.in_(settled),
                                              intents_table.c.created_block < before_block))}
        counts = {}
        with self._tx() as conn:
            for name, (table, where) in wheres.items():  # attempts before their intents
                if dry_run:
                    counts[name] = int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar())
                else:
                    counts[name] = int(conn.execute(delete(table).where(*where)).rowcount or 0)
        return counts

    def close(self) -> None:
        self.engine.dispose()
