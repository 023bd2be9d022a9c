"""The keeper's transaction manager: intents and their attempts, settled block by block.

The model is Chainlink's transaction manager: a *logical* transaction (an :class:`Intent`: this
job, this diamond and bot, this action) is kept apart from the signed *attempts* that try to get
it included (hash, nonce, fees). Every state change is journalled before it matters:

1. :meth:`TxManager.submit` (in the job's tick) quotes fees (never ``maxFeePerGas`` below the
   next block's base fee: :class:`~macrostrike.keeper.fees.FeeAboveCap` otherwise), records the
   intent (``planned``; at most one open intent per subject, enforced by the database), signs at
   the signer's next nonce, journals the attempt (``pending``, the intent ``sent``) and broadcasts.
   It returns at once: nothing waits for a receipt in the block loop.
2. :meth:`TxManager.settle` (at the start of every tick) looks at each open intent:

   * a receipt with ``confirmations`` blocks on top → the intent is ``mined``/``reverted``, its other
     attempts ``replaced``; the job that submitted it gets an :class:`Outcome`;
   * no receipt and the signer's nonce used by another transaction → ``abandoned`` (attempts
     ``dropped``);
   * no receipt, the node's pool has lost it (``eth_getTransactionByHash`` is null: a reply lost
     before the node took it, an eviction, a reorg) → the same bytes are broadcast again;
   * no receipt after ``stuck_after_s`` → a replacement: a new attempt on the same nonce with fees
     bumped from the *current* base fee (:meth:`FeePolicy.bump`); beyond the cap or after
     ``max_replacements`` it only waits (``ape keeper health`` reports the stale attempt).
3. :meth:`TxManager.on_reorg` re-checks intents included at or above the fork block: one whose
   receipt is gone goes back to ``sent`` (its attempt ``reorged``) and is settled again — re-included
   it returns to ``mined``; nonces are re-synced.

A restarted keeper resumes the open intents it finds in the journal (:meth:`resume`) — it watches
and, if need be, re-broadcasts or replaces them — instead of deciding afresh.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tenacity import Retrying, retry_if_result, stop_after_delay, wait_exponential
from web3._utils.method_formatters import receipt_formatter
from web3.datastructures import AttributeDict
from web3.exceptions import TransactionNotFound

from macrostrike.keeper.fees import FeePolicy, Fees
from macrostrike.keeper.journal import Intent, IntentOpen, Journal
from macrostrike.keeper.txsender import Broadcast, SendRejected, Sent, TxSender, TxStuck

logger = logging.getLogger("macrostrike.keeper")

__all__ = ["Attempt", "IntentOpen", "Outcome", "TxManager"]


@dataclass
class Attempt:
    """One signed version of an intent (fees in wei per gas; ``sent_at`` Unix seconds)."""

    tx_hash: str
    nonce: int
    raw: bytes | None
    fees: Fees
    sent_at: float
    broadcast_block: int = -1
    #: the last broadcast's reply was lost (timeout, dropped connection): check the pool next block
    uncertain: bool = False


@dataclass
class Tracked:
    """An open intent and what the manager knows of its attempts."""

    intent: Intent
    sender: TxSender | None  # None: an intent of a signer this process does not hold (watched only)
    attempts: list[Attempt] = field(default_factory=list)
    replacement_blocked: bool = False
    #: the head at which the signer's nonce was first seen used without a receipt of ours (a node
    #: may count a block's nonces before it serves its receipts): abandoned only a block later
    nonce_used_at: int | None = None

    @property
    def last(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None


@dataclass
class Outcome:
    """A settled intent: ``status`` is ``mined``, ``reverted`` or ``abandoned``; ``receipt`` the
    included attempt's receipt (None when abandoned); ``replacements`` attempts beyond the first."""

    intent: Intent
    status: str
    receipt: Any = None
    error: str | None = None
    replacements: int = 0

    @property
    def tx_hash(self) -> str | None:
        return None if self.receipt is None else "0x" + bytes(self.receipt["transactionHash"]).hex()


#: Environment variable naming a fault-injection point for crash tests (tests/test_failover.py), never
#: set in production: ``kill_after_pending_write`` — the process SIGKILLs itself right after the
#: first attempt of an intent is committed to the journal, before it is broadcast;
#: ``stop_before_pending_write`` — it SIGSTOPs itself (once) after signing, before that write (a
#: leader paused at the worst moment: on SIGCONT the write must be fenced).
FAULT_ENV = "MACROSTRIKE_FAULT_INJECT"
_FAULT_SIGNALS = {"kill_after_pending_write": signal.SIGKILL, "stop_before_pending_write": signal.SIGSTOP}
_faults_fired: set[str] = set()


def fault_point(name: str) -> None:
    """Send this process the signal of fault ``name`` (:data:`FAULT_ENV`) if that variable names it."""
    if os.environ.get(FAULT_ENV) == name and name not in _faults_fired:
        _faults_fired.add(name)
        logger.error("fault injection: %s at %s", _FAULT_SIGNALS[name].name, name)
        os.kill(os.getpid(), _FAULT_SIGNALS[name])


def subject_of(address: str, key: Any) -> str:
    """The subject key of an intent: one open intent at most per (contract, key)."""
    return f"{address.lower()}:{key}"


class TxManager:
    """Intents and attempts of every job of one keeper (see the module docstring).

    Args:
        web3: the connection.
        journal: where intents and attempts are recorded (before every broadcast).
        fees: the fee policy shared by every job.
        confirmations: blocks (the including one counted) before an outcome is final.
        stuck_after_s: seconds without a receipt before an attempt is replaced.
        max_replacements: replacements per intent; afterwards it only waits.
        reorg_depth: how long (blocks) settled intents are kept for reorg re-checks.
        resume: load the journal's open intents now (a restarted keeper).
    """

    def __init__(self, web3: Any, journal: Journal, fees: FeePolicy, *, confirmations: int = 1,
                 stuck_after_s: float = 30.0, max_replacements: int = 5, reorg_depth: int = 64,
                 resume: bool = True) -> None:
        self.web3, self.journal, self.fees = web3, journal, fees
        self.confirmations, self.stuck_after_s = confirmations, stuck_after_s
        self.max_replacements, self.reorg_depth = max_replacements, reorg_depth
        self.open: dict[int, Tracked] = {}
        self.recent: dict[int, Intent] = {}  # settled intents still inside the reorg window
        self.senders: dict[str, TxSender] = {}
        self.handlers: dict[str, Callable[[Outcome], None]] = {}
        self._resume_pending = resume
        self._lock = threading.RLock()
        #: subjects handed to a lane and not yet recorded (they count as open)
        self._queued: set[str] = set()
        #: one single-thread executor per signer (its nonce lane); None: submit in the caller's thread
        #: (an in-memory journal is one shared connection, not safe across threads)
        self._lanes: dict[str, ThreadPoolExecutor] | None = None if journal.in_memory else {}

    # -- wiring -----------------------------------------------------------------------------------
    def add_senders(self, senders: Iterable[TxSender]) -> None:
        """Signers whose intents this manager may sign (and re-sign)."""
        for sender in senders:
            self.senders.setdefault(sender.address.lower(), sender)
        if self._resume_pending:
            self._resume_pending = False
            self.resume()

    def register(self, job: str, handler: Callable[[Outcome], None]) -> None:
        """``handler(outcome)`` is called when an intent of ``job`` settles."""
        self.handlers[job] = handler

    def resume(self) -> int:
        """Pick up the journal's open intents (after a restart). A ``planned`` intent never signed is
        ``abandoned`` (nothing of it can be on chain); a ``sent`` one is watched and settled.
        Returns the number of intents resumed."""
        resumed = 0
        for intent in self.journal.open_intents():
            if intent.id in self.open:
                continue
            rows = [a for a in self.journal.attempts(intent.id) if a["status"] in ("pending", "reorged")]
            if intent.state == "planned" or not rows:
                included = [a for a in self.journal.attempts(intent.id) if a["status"] in ("mined", "reverted")]
                if not included:
                    self.journal.intent_state(intent.id, "abandoned", error="never broadcast (process stopped)")
                    continue
                rows = included
            tracked = Tracked(intent, self.senders.get((intent.signer or "").lower()))
            for a in rows:
                raw = bytes.fromhex(a["raw"][2:]) if a["raw"] else None
                fees = Fees(int(a["tip"] or 0), int(a["max_fee"] or 0), 0)
                tracked.attempts.append(Attempt(a["tx_hash"], int(a["nonce"]), raw, fees, float(a["sent_at"]),
                                                uncertain=True))
            self.open[intent.id] = tracked
            resumed += 1
        if resumed:
            logger.info("resumed %d open intent(s) from the journal", resumed)
        for sender in self.senders.values():
            self.resync(sender)
        return resumed

    def resync(self, sender: TxSender) -> int:
        """Re-sync ``sender``'s next nonce: the node's pending count, or above every nonce of its open
        intents (attempts the node's pool may have lost keep their nonces)."""
        with self._lock:
            mine = [t.last.nonce for t in self.open.values()
                    if t.last is not None and t.intent.signer and t.intent.signer.lower() == sender.address.lower()]
        return sender.resync_nonce(max(mine) + 1 if mine else 0)

    # -- queries ----------------------------------------------------------------------------------
    def is_open(self, subject: str) -> bool:
        """True while ``subject`` has an intent planned or sent, or queued in a lane (it must not be
        decided again)."""
        return subject in self.open_subjects()

    def open_subjects(self) -> set[str]:
        """Every subject with an open or queued intent (one pass, for a job that checks many bots)."""
        with self._lock:
            return self._queued | {t.intent.subject for t in self.open.values()}

    def open_intents(self, job: str | None = None) -> list[Intent]:
        with self._lock:
            return [t.intent for t in self.open.values() if job is None or t.intent.job == job]

    # -- lanes ------------------------------------------------------------------------------------
    def submit_in_lane(self, job: str, subject: str, action: str, sender: TxSender, to: str, data: bytes,
                       gas_limit: int, header: Any, *, bot_id: int | None = None, value: int = 0,
                       detail: dict[str, Any] | None = None) -> Future:
        """:meth:`submit` on ``sender``'s own thread (its nonce lane): signers sign, journal and
        broadcast in parallel while the caller decides on. Returns a future of the intent (its
        exception: as :meth:`submit`). Fees are quoted here, in the caller's thread, so a fee above
        the cap raises :class:`FeeAboveCap` at once. Call :meth:`join_lanes` before settling."""
        fees = self.fees.quote(header)  # FeeAboveCap before anything is queued
        with self._lock:
            if self.is_open(subject):
                raise IntentOpen(f"{subject} already has an open intent")
            self._queued.add(subject)

        def run() -> Intent:
            try:
                return self.submit(job, subject, action, sender, to, data, gas_limit, header, bot_id=bot_id,
                                   value=value, detail=detail, fees=fees, _queued=True)
            finally:
                with self._lock:
                    self._queued.discard(subject)

        if self._lanes is None:
            future: Future = Future()
            try:
                future.set_result(run())
            except Exception as err:  # noqa: BLE001 - handed to the caller through the future
                future.set_exception(err)
            return future
        key = sender.address.lower()
        if key not in self._lanes:
            self._lanes[key] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"lane-{key[:10]}")
        return self._lanes[key].submit(run)

    def close(self) -> None:
        """Stop the lanes' threads (after their queued submits)."""
        for lane in (self._lanes or {}).values():
            lane.shutdown(wait=True)
        if self._lanes is not None:
            self._lanes = {}

    # -- submit -----------------------------------------------------------------------------------
    def submit(self, job: str, subject: str, action: str, sender: TxSender, to: str, data: bytes, gas_limit: int,
               header: Any, *, bot_id: int | None = None, value: int = 0,
               detail: dict[str, Any] | None = None, fees: Fees | None = None, _queued: bool = False) -> Intent:
        """Record, sign, journal and broadcast one intent; returns it (state ``sent``) without waiting.

        Args:
            header: the latest block (fees are quoted for the next one).

        Raises:
            FeeAboveCap: the next base fee + tip is above the cap (nothing written or sent).
            IntentOpen: ``subject`` already has an open intent (nothing written or sent).
            SendRejected: the node refused every attempt (the intent is journalled ``abandoned``).
        """
        fees = fees or self.fees.quote(header)
        with self._lock:
            open_already = any(t.intent.subject == subject for t in self.open.values()) or \
                (not _queued and subject in self._queued)
        if open_already:
            raise IntentOpen(f"{subject} already has an open intent")
        block, nonce = int(header["number"]), sender.nonce
        raw, tx_hash = sender.sign(to, data, value, gas_limit, nonce, fees)
        fault_point("stop_before_pending_write")
        # the intent and its first attempt in one commit, durable before the broadcast
        intent = self.journal.intent_create(
            job, subject, action, bot_id, to, data, gas_limit, block, value=value, detail=detail,
            attempt={"tx_hash": tx_hash, "signer": sender.address, "nonce": nonce, "raw": raw, "tip": fees.tip,
                     "max_fee": fees.max_fee})
        fault_point("kill_after_pending_write")
        tracked = Tracked(intent, sender, [Attempt(tx_hash, nonce, raw, fees, time.time(), block)])
        try:
            self._broadcast(tracked)
        except SendRejected as first:
            self._retry_submit(tracked, first, fees, header, nonce)
        sender.nonce = max(sender.nonce, tracked.last.nonce + 1)
        intent.state, intent.signer, intent.nonce = "sent", sender.address, tracked.last.nonce
        with self._lock:
            self.open[intent.id] = tracked
        return intent

    def _retry_submit(self, tracked: Tracked, error: SendRejected, fees: Fees, header: Any, nonce: int) -> None:
        """The node refused the first attempt: re-sync the nonce (``nonce too low``), outbid a pool
        entry holding it (``underpriced``) or give up (anything else: the intent is ``abandoned`` and
        the error re-raised)."""
        sender, block = tracked.sender, int(header["number"])
        for _ in range(3):
            if error.kind == "nonce_too_low":
                nonce = self.resync(sender)
            elif error.kind == "underpriced" and self.resync(sender) != nonce:
                nonce = sender.nonce
            elif error.kind == "underpriced" and (bumped := self.fees.bump(fees, header)) is not None:
                fees = bumped
            else:
                break
            try:
                self._attempt(tracked, fees, nonce, block)
                return
            except SendRejected as err:
                error = err
        intent = tracked.intent
        self.journal.intent_state(intent.id, "abandoned", error=str(error))
        intent.state, intent.error = "abandoned", str(error)
        raise error

    def _attempt(self, tracked: Tracked, fees: Fees, nonce: int, block: int) -> str:
        """Sign, journal (pending, before broadcast) and broadcast one more attempt of ``tracked``.

        Returns the broadcast outcome; raises :class:`SendRejected` (attempt journalled ``rejected``)."""
        intent, sender = tracked.intent, tracked.sender
        assert sender is not None
        raw, tx_hash = sender.sign(intent.to, intent.data, intent.value, intent.gas_limit, nonce, fees)
        self.journal.tx_pending(tx_hash, sender.address, nonce, intent.job, intent.bot_id, intent_id=intent.id,
                                raw=raw, tip=fees.tip, max_fee=fees.max_fee)
        if tracked.last is None or tracked.last.tx_hash != tx_hash:
            tracked.attempts.append(Attempt(tx_hash, nonce, raw, fees, time.time(), block))
        return self._broadcast(tracked)

    def _broadcast(self, tracked: Tracked) -> str:
        """Broadcast the newest attempt; raises :class:`SendRejected` (journalled ``rejected``) when the
        node refused it."""
        last = tracked.last
        result = tracked.sender.broadcast(last.raw)
        if not result.in_flight and result.kind in ("nonce_too_low", "underpriced") and self._in_pool_check(last.tx_hash):
            # the transport re-sent bytes the node had already taken (web3's HTTPProvider retries a
            # timed-out eth_sendRawTransaction): for our own hash that answer means "ours is in"
            result = Broadcast("known", result.kind, result.error)
        if not result.in_flight:
            self.journal.tx_final(last.tx_hash, "rejected", error=result.error)
            tracked.attempts.pop()
            raise SendRejected(result.error, result.kind)
        last.uncertain = result.outcome == "unknown"
        return result.outcome

    # -- settle -----------------------------------------------------------------------------------
    def settle(self, header: Any) -> list[Outcome]:
        """Settle every open intent against the chain at ``header`` (the latest block); returns the
        outcomes, each also handed to its job's handler."""
        head = int(header["number"])
        nonces: dict[str, int] = {}
        outcomes: list[Outcome] = []
        pending: list[Tracked] = []  # not included yet: kept alive once the settlements are committed
        tracked_all = list(self.open.values())
        receipts = self._receipts([a.tx_hash for t in tracked_all for a in t.attempts])
        with self.journal.atomic():  # the block's settlements in one commit
            for tracked in tracked_all:
                outcome = self._settle_one(tracked, header, head, nonces, pending, receipts)
                if outcome is not None:
                    outcomes.append(outcome)
        # re-broadcasts and replacements after the commit: an attempt's row must be durable before
        # its bytes leave (write-ahead), which it is not inside the block's database transaction
        for tracked in pending:
            self._keep_alive(tracked, header, head)
        for intent_id, intent in list(self.recent.items()):
            if intent.block is not None and intent.block < head - self.reorg_depth:
                del self.recent[intent_id]
        for outcome in outcomes:
            handler = self.handlers.get(outcome.intent.job)
            if handler is not None:
                handler(outcome)
        return outcomes

    def _receipt(self, tx_hash: str) -> Any:
        try:
            return self.web3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None

    def _receipts(self, hashes: list[str]) -> dict[str, Any]:
        """Receipts of ``hashes`` (None where there is none yet) in one JSON-RPC batch; a node
        without batches is asked one by one. An error answer (a rate limit) raises: it is no verdict."""
        if not hashes:
            return {}
        provider = self.web3.provider
        responses: Any = None
        if len(hashes) > 1 and hasattr(provider, "make_batch_request"):
            try:
                responses = provider.make_batch_request([("eth_getTransactionReceipt", [h]) for h in hashes])
            except Exception:  # noqa: BLE001 - no batch support (or a transport error): one by one
                responses = None
        if not isinstance(responses, list) or len(responses) != len(hashes):
            return {h: self._receipt(h) for h in hashes}
        out = {}
        for tx_hash, response in zip(hashes, responses):
            if response.get("error"):
                raise RuntimeError(f"eth_getTransactionReceipt refused: {response['error']}")
            result = response.get("result")
            out[tx_hash] = None if result is None else AttributeDict(receipt_formatter(result))
        return out

    def _included(self, tracked: Tracked, receipts: dict[str, Any] | None = None) -> Any:
        for attempt in reversed(tracked.attempts):
            if receipts is not None and attempt.tx_hash in receipts:
                receipt = receipts[attempt.tx_hash]
            else:
                receipt = self._receipt(attempt.tx_hash)
            if receipt is not None and receipt.get("blockNumber") is not None:
                return receipt
        return None

    def _settle_one(self, tracked: Tracked, header: Any, head: int, nonces: dict[str, int], pending: list[Tracked],
                    receipts: dict[str, Any] | None = None) -> Outcome | None:
        """``tracked``'s outcome if it is final at ``head``, else None. One not included yet and
        still ours to send is appended to ``pending``: the caller keeps it alive (re-broadcast,
        replacement) after its settlements are committed (:meth:`settle`)."""
        receipt = self._included(tracked, receipts)
        if receipt is None:
            intent = tracked.intent
            signer = (intent.signer or "").lower()
            if signer not in nonces:
                nonces[signer] = int(self.web3.eth.get_transaction_count(intent.signer, "latest"))
            nonce = tracked.last.nonce if tracked.last else intent.nonce
            if nonce is None or nonces[signer] <= nonce:  # not included yet: keep it alive
                tracked.nonce_used_at = None
                if tracked.sender is not None:
                    pending.append(tracked)
                return None
            receipt = self._included(tracked)  # the nonce is used: ours, mined between the two reads?
            if receipt is None:
                if tracked.nonce_used_at is None:
                    tracked.nonce_used_at = head
                if head > tracked.nonce_used_at:  # still no receipt of ours a block later
                    return self._abandon(tracked, f"nonce {nonce} used by another transaction")
                return None
        return self._final_if_confirmed(tracked, receipt, head)

    def _final_if_confirmed(self, tracked: Tracked, receipt: Any, head: int) -> Outcome | None:
        """Finish ``tracked`` once ``confirmations`` blocks (the receipt's included) are on the head
        and the receipt's block is still canonical; None before."""
        if head - int(receipt["blockNumber"]) + 1 < self.confirmations:
            return None
        if self.confirmations > 1:  # still canonical with blocks on top?
            block = self.web3.eth.get_block(int(receipt["blockNumber"]))
            if bytes(block["hash"]) != bytes(receipt["blockHash"]):
                return None
        return self._finish(tracked, receipt)

    def _keep_alive(self, tracked: Tracked, header: Any, head: int) -> None:
        """Re-broadcast an attempt the pool lost; replace one stuck past ``stuck_after_s``."""
        last = tracked.last
        if last is None:
            return
        if (last.uncertain or head >= last.broadcast_block + 2) and last.raw is not None:
            if self._in_pool_check(last.tx_hash):
                last.uncertain, last.broadcast_block = False, head  # look again two blocks on
            else:
                self.journal.check_fence()  # a deposed leader re-sends nothing (raises Fenced)
                result = tracked.sender.broadcast(last.raw)
                last.broadcast_block, last.uncertain = head, result.outcome == "unknown"
                if result.in_flight:
                    logger.info("intent %d: re-broadcast %s (%s)", tracked.intent.id, last.tx_hash, result.outcome)
                    return
                logger.info("intent %d: re-broadcast of %s refused (%s): replacing", tracked.intent.id,
                            last.tx_hash, result.error)
                self._replace(tracked, header, head)
                return
        if time.time() - last.sent_at >= self.stuck_after_s:
            self._replace(tracked, header, head)

    def _in_pool_check(self, tx_hash: str) -> bool:
        try:
            return self.web3.eth.get_transaction(tx_hash) is not None
        except TransactionNotFound:
            return False

    def _replace(self, tracked: Tracked, header: Any, head: int) -> None:
        last = tracked.last
        if len(tracked.attempts) > self.max_replacements:
            if not tracked.replacement_blocked:
                logger.warning("intent %d: %d replacements, waiting", tracked.intent.id, self.max_replacements)
            tracked.replacement_blocked = True
            return
        bumped = self.fees.bump(last.fees, header)
        if bumped is None:
            if not tracked.replacement_blocked:
                logger.warning("intent %d: replacing %s would exceed the fee cap; waiting", tracked.intent.id,
                               last.tx_hash)
            tracked.replacement_blocked = True
            last.sent_at = time.time()  # look again after another stuck_after_s
            return
        try:
            self._attempt(tracked, bumped, last.nonce, head)
        except SendRejected as err:
            logger.info("intent %d: replacement refused (%s)", tracked.intent.id, err)
            last.sent_at = time.time()

    def _finish(self, tracked: Tracked, receipt: Any) -> Outcome:
        mined = "0x" + bytes(receipt["transactionHash"]).hex()
        status = self.journal.tx_receipt(mined, receipt)
        for attempt in tracked.attempts:
            if attempt.tx_hash != mined:
                self.journal.tx_final(attempt.tx_hash, "replaced")
        intent = tracked.intent
        intent.state, intent.tx_hash = status, mined
        intent.block, intent.block_hash = int(receipt["blockNumber"]), "0x" + bytes(receipt["blockHash"]).hex()
        self.journal.intent_state(intent.id, status, tx_hash=mined, block=intent.block, block_hash=intent.block_hash)
        del self.open[intent.id]
        self.recent[intent.id] = intent
        return Outcome(intent, status, receipt, replacements=max(0, len(tracked.attempts) - 1))

    def _abandon(self, tracked: Tracked, error: str) -> Outcome:
        for attempt in tracked.attempts:
            self.journal.tx_final(attempt.tx_hash, "dropped")
        intent = tracked.intent
        intent.state, intent.error = "abandoned", error
        self.journal.intent_state(intent.id, "abandoned", error=error)
        del self.open[intent.id]
        logger.warning("intent %d %s %s abandoned: %s", intent.id, intent.job, intent.action, error)
        return Outcome(intent, "abandoned", error=error)

    # -- reorgs -----------------------------------------------------------------------------------
    def on_reorg(self, fork_block: int) -> list[int]:
        """Blocks from ``fork_block`` on were replaced: re-check intents included there. One whose
        receipt is gone is open again (``sent``; its attempt ``reorged``); one that moved gets its new
        block. Nonces are re-synced. Returns the ids of the re-opened intents."""
        reopened = []
        for intent_id, intent in list(self.recent.items()):
            if intent.block is None or intent.block < fork_block or intent.tx_hash is None:
                continue
            receipt = self._receipt(intent.tx_hash)
            if receipt is not None and receipt.get("blockNumber") is not None:
                status = self.journal.tx_receipt(intent.tx_hash, receipt)
                intent.block, intent.block_hash = int(receipt["blockNumber"]), "0x" + bytes(receipt["blockHash"]).hex()
                self.journal.intent_state(intent.id, status, tx_hash=intent.tx_hash, block=intent.block,
                                          block_hash=intent.block_hash)
                continue
            self.journal.tx_final(intent.tx_hash, "reorged")
            self.journal.intent_state(intent.id, "sent")
            intent.state, intent.block, intent.block_hash = "sent", None, None
            del self.recent[intent_id]
            rows = {a["tx_hash"]: a for a in self.journal.attempts(intent.id)}
            tracked = Tracked(intent, self.senders.get((intent.signer or "").lower()))
            row = rows[intent.tx_hash]
            tracked.attempts.append(Attempt(intent.tx_hash, int(row["nonce"]),
                                            bytes.fromhex(row["raw"][2:]) if row["raw"] else None,
                                            Fees(int(row["tip"] or 0), int(row["max_fee"] or 0), 0), time.time(),
                                            uncertain=True))
            self.open[intent.id] = tracked
            reopened.append(intent.id)
        if reopened:
            logger.warning("reorg from block %d: %d included intent(s) open again: %s", fork_block, len(reopened),
                           reopened)
        for sender in self.senders.values():
            self.resync(sender)
        return reopened

    def receipt_block_mismatch(self, hashes: dict[int, str]) -> int | None:
        """The lowest block holding one of our recent receipts whose hash differs from the canonical
        hash in ``hashes`` (block number -> hash seen by the loop), or None."""
        moved = [i.block for i in self.recent.values() if i.block is not None and i.block_hash
                 and hashes.get(i.block, i.block_hash) != i.block_hash]
        return min(moved) if moved else None

    # -- blocking helpers ----------------------------------------------------------------------------
    def wait(self, intent_ids: Iterable[int], timeout_s: float, *, poll_s: float = 0.005,
             poll_max_s: float = 0.5) -> list[Outcome]:
        """Settle until every intent of ``intent_ids`` is final or ``timeout_s`` passes (polls the
        head with exponential backoff from ``poll_s`` to ``poll_max_s``). Returns their outcomes."""
        wanted = set(intent_ids)
        done: list[Outcome] = []

        def step() -> bool:
            done.extend(o for o in self.settle(self.web3.eth.get_block("latest")) if o.intent.id in wanted)
            return not (wanted & set(self.open))

        retrying = Retrying(retry=retry_if_result(lambda finished: not finished), stop=stop_after_delay(timeout_s),
                            wait=wait_exponential(multiplier=poll_s, max=poll_max_s), retry_error_callback=lambda _s: False,
                            reraise=True)
        retrying(step)
        return done

    def send_and_wait(self, sender: TxSender, to: str, data: bytes, gas_limit: int, base_fee_wei: int, *,
                      value: int = 0, job: str = "", bot_id: int | None = None, timeout_s: float = 300.0,
                      poll_s: float = 0.005, poll_max_s: float = 0.5) -> Sent:
        """:meth:`TxSender.send`: one intent, submitted and waited for (see there)."""
        started = time.perf_counter()
        header = self.web3.eth.get_block("latest")
        header = {"number": int(header["number"]), "baseFeePerGas": base_fee_wei, "gasUsed": 1, "gasLimit": 2}
        subject = subject_of(sender.address, f"send:{time.time_ns()}")
        intent = self.submit(job or "send", subject, "send", sender, to, data, gas_limit, header, bot_id=bot_id,
                             value=value)
        outcomes = self.wait([intent.id], timeout_s, poll_s=poll_s, poll_max_s=poll_max_s)
        if not outcomes:
            raise TxStuck(f"no receipt for nonce {intent.nonce} of {sender.address} within {timeout_s:g} s "
                          f"(intent {intent.id} stays open in the journal)")
        outcome = outcomes[0]
        if outcome.status == "abandoned":
            raise TxStuck(f"intent {intent.id} abandoned: {outcome.error}")
        r = outcome.receipt
        return Sent(tx_hash=outcome.tx_hash, nonce=int(intent.nonce), status=int(r["status"]),
                    gas_used=int(r["gasUsed"]), effective_gas_price=int(r.get("effectiveGasPrice", 0)),
                    block_number=int(r["blockNumber"]), logs=list(r["logs"]),
                    latency_s=time.perf_counter() - started, replacements=outcome.replacements)
