"""The keeper's journal: every decision (with its reason), every transaction, the last block seen.

Stored with SQLAlchemy; SQLite is the embedded default (``sqlite:///out/keeper.sqlite``), and any
SQLAlchemy URL works, e.g. ``postgresql+psycopg://keeper@db/keeper`` for a long-running deployment.
``Journal()`` with no URL keeps an in-memory SQLite database.

Transactions are written as ``pending`` *before* they are broadcast (the hash of a signed
transaction is known before sending), so a keeper killed between send and receipt finds them on
restart and reconciles them (:meth:`Journal.reconcile`) instead of sending the same work again.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Integer, MetaData, String, Table, create_engine, event, select
from sqlalchemy.engine import Engine
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
    "rejected": "the node refused it (nonce too low, underpriced, …); never in the pool",
    "dropped": "its nonce was used by another transaction and it has no receipt",
    "reorged": "was mined, then its block left the canonical chain; its outcome is undone",
}


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
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


class Journal:
    """Decisions, transactions and per-job block cursors in one SQLAlchemy database.

    :param url: SQLAlchemy URL; ``None`` keeps an in-memory SQLite database.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = url or "sqlite://"
        self.engine = create_engine(self.url)
        if self.engine.dialect.name == "sqlite":
            _sqlite_pragmas(self.engine)
        metadata.create_all(self.engine)
        self.counts: Counter[tuple[str, str]] = Counter()
        self.decisions: list[Decision] = []

    # -- decisions -----------------------------------------------------------------------------
    def record(self, decision: Decision) -> Decision:
        """Store one decision (and keep it in memory for this process's reports)."""
        self.decisions.append(decision)
        self.counts[(decision.action, decision.reason)] += 1
        level = logging.INFO if decision.action == "send" else logging.DEBUG
        logger.log(level, "block %s %s bot=%s %s %s %s", decision.block, decision.job, decision.bot_id,
                   decision.action, decision.reason, decision.detail)
        with self.engine.begin() as conn:
            conn.execute(decisions_table.insert().values(
                block=decision.block, job=decision.job, action=decision.action, reason=decision.reason,
                bot_id=decision.bot_id, detail=json.loads(json.dumps(decision.detail, default=str)),
                created_at=int(time.time())))
        return decision

    def stored_decisions(self) -> list[Decision]:
        """Every decision in the database, oldest first (all processes that used it)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(decisions_table).order_by(decisions_table.c.id)).mappings().all()
        return [Decision(r["block"], r["job"], r["action"], r["reason"], r["bot_id"], r["detail"]) for r in rows]

    # -- transactions --------------------------------------------------------------------------
    def tx_pending(self, tx_hash: str, signer: str, nonce: int, job: str, bot_id: int | None) -> None:
        """Record a signed transaction as pending, before it is broadcast."""
        with self.engine.begin() as conn:
            conn.execute(transactions_table.insert().values(
                tx_hash=tx_hash, signer=signer, nonce=nonce, job=job, bot_id=bot_id, status="pending",
                sent_at=int(time.time())))

    def tx_final(self, tx_hash: str, status: str, gas_used: int | None = None,
                 effective_gas_price: int | None = None, block: int | None = None,
                 block_hash: str | None = None) -> None:
        """Set a transaction's outcome (one of :data:`TX_STATUSES`) and, if mined, where."""
        if status not in TX_STATUSES:
            raise ValueError(f"unknown transaction status {status!r}; one of {sorted(TX_STATUSES)}")
        with self.engine.begin() as conn:
            conn.execute(transactions_table.update().where(transactions_table.c.tx_hash == tx_hash).values(
                status=status, gas_used=gas_used, effective_gas_price=effective_gas_price, block=block,
                block_hash=block_hash))

    def transactions(self, status: str | None = None) -> list[dict[str, Any]]:
        """Stored transactions (optionally of one status), by signer then nonce."""
        query = select(transactions_table).order_by(transactions_table.c.signer, transactions_table.c.nonce)
        if status is not None:
            query = query.where(transactions_table.c.status == status)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings().all()]

    def reconcile(self, web3: Any) -> dict[str, int]:
        """Settle every ``pending`` transaction against the chain (after a restart).

        Mined ones get their receipt's status; one whose nonce the signer has used up without a
        receipt is ``replaced`` if another journalled version of that nonce was mined, else
        ``dropped``; the rest stay pending. Returns counts by status.
        """
        settled: Counter[str] = Counter()
        for tx in self.transactions("pending"):
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
                status = "pending"
            settled[status] += 1
        return dict(settled)

    def supersede(self, signer: str, nonce: int, mined_hash: str) -> int:
        """``mined_hash`` used ``signer``'s ``nonce``: any other row of that nonce still ``pending``
        (e.g. signed and journalled by a process killed before it could broadcast) can never be
        mined; it becomes ``dropped``. Returns how many rows changed."""
        with self.engine.begin() as conn:
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
        with self.engine.begin() as conn:
            updated = conn.execute(cursors_table.update().where(cursors_table.c.job == job)
                                   .values(last_block=block, last_hash=block_hash))
            if updated.rowcount == 0:
                conn.execute(cursors_table.insert().values(job=job, last_block=block, last_hash=block_hash))

    def close(self) -> None:
        self.engine.dispose()
