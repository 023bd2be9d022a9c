"""What every keeper job shares: signers, the transaction manager, settlement into decisions.

A job decides per block and *submits* intents (:meth:`Job.submit`); it never waits for a receipt.
Outcomes arrive later through :meth:`TxManager.settle` and become the job's ``settled`` decisions
(:meth:`Job.on_settled`, implemented per job). A subject (a bot of a diamond, the master's
checkpoint) with an open intent is not decided again until that intent settles.

``tick()`` on a job used alone settles its intents first, then decides; inside a
:class:`~macrostrike.keeper.jobs.JobSet` the set settles once for all jobs and calls each job's
``tick(header)``.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from typing import Any

from macrostrike.keeper.fees import FeeAboveCap
from macrostrike.keeper.journal import Decision, Intent, Journal
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.signers import SignerPool, as_pool
from macrostrike.keeper.txmanager import Outcome, TxManager, subject_of
from macrostrike.keeper.txsender import SendRejected, SimulationReverted, TxSender

logger = logging.getLogger("macrostrike.keeper")

__all__ = ["FeeAboveCap", "Job", "SendRejected", "SimulationReverted", "subject_of"]


#: intent actions (the strike job's, keeper/strike.py) that open a position
OPENING_ACTIONS = frozenset({"signal_entry"})


class Job:
    """Base of the arbitrage, strike and risk-checkpoint jobs.

    Args:
        signers: a pool (or one sender) whose accounts sign this job's transactions.
        settings: keeper settings.
        journal: where decisions, intents and attempts go.
        send: False for a dry run (decide and simulate, never sign).
        txm: the transaction manager shared with other jobs (default: the pool's, created once).
    """

    name = "job"

    def __init__(self, signers: SignerPool | TxSender, settings: KeeperSettings, journal: Journal, *,
                 send: bool = True, txm: TxManager | None = None) -> None:
        self.signers = as_pool(signers)
        self.settings, self.journal, self.send_enabled = settings, journal, send
        first = self.signers.senders[0]
        self.web3 = first.web3
        self.txm = txm or self.signers.txm or TxManager(
            self.web3, journal, first.fees, confirmations=settings.confirmations,
            stuck_after_s=settings.stuck_after_s, max_replacements=settings.max_replacements,
            reorg_depth=settings.reorg_depth, resume=send)  # a dry run never takes over the live keeper's intents
        self.signers.txm = self.txm
        self.txm.add_senders(self.signers.senders)
        self.txm.register(self.name, self._on_outcome)
        #: False inside a JobSet: the set settles every job's intents once per block
        self.owns_settlement = True
        self._settled: list[Decision] = []

    # -- per block ------------------------------------------------------------------------------
    def tick(self, header: Any = None, **kwargs: Any) -> list[Decision]:
        """Settle (when used alone), then decide on the block ``header`` (default: the latest)."""
        header = header if header is not None else self.web3.eth.get_block("latest")
        with self.journal.deferred_decisions():
            if self.owns_settlement:
                self.txm.settle(header)
            decisions = self.drain()
            decisions += self.decide(header, **kwargs)
        return decisions

    def decide(self, header: Any, **kwargs: Any) -> list[Decision]:
        raise NotImplementedError

    def drain(self) -> list[Decision]:
        """Decisions recorded by settlements since the last call."""
        out, self._settled = self._settled, []
        return out

    def flush(self, timeout_s: float | None = None) -> list[Decision]:
        """Wait until this job's open intents settle (scripts and the replay on an automining chain);
        returns the settled decisions."""
        ids = [i.id for i in self.txm.open_intents(self.name)]
        if ids:
            self.txm.wait(ids, timeout_s or self.settings.tx_timeout_s, poll_s=self.settings.receipt_poll_s,
                          poll_max_s=self.settings.receipt_poll_max_s)
        return self.drain()

    # -- sending --------------------------------------------------------------------------------
    def is_busy(self, to: str, key: Any) -> bool:
        """True while ``(to, key)`` has an open intent: it must not be decided again."""
        return self.txm.is_open(subject_of(to, key))

    def submit(self, key: Any, action: str, sender: TxSender, to: str, data: bytes, gas_limit: int, header: Any,
               *, bot_id: int | None = None, detail: dict[str, Any] | None = None) -> Intent:
        """Submit an intent for subject ``(to, key)``; returns it (``sent``). Raises like
        :meth:`TxManager.submit` (FeeAboveCap, IntentOpen, SendRejected)."""
        return self.txm.submit(self.name, subject_of(to, key), action, sender, to, data, gas_limit, header,
                               bot_id=bot_id, detail=detail)

    def submit_async(self, key: Any, action: str, sender: TxSender, to: str, data: bytes, gas_limit: int,
                     header: Any, *, bot_id: int | None = None, detail: dict[str, Any] | None = None) -> Future:
        """:meth:`submit` in the signer's lane (:meth:`TxManager.submit_in_lane`): returns a future of
        the intent; FeeAboveCap and IntentOpen are raised at once, SendRejected through the future."""
        return self.txm.submit_in_lane(self.name, subject_of(to, key), action, sender, to, data, gas_limit, header,
                                       bot_id=bot_id, detail=detail)

    def gas_limit(self, estimate: int, per_entry_in_flight: int = 0) -> int:
        """The gas limit for an estimate (units of gas): + ``gas_limit_margin_bps``, plus
        ``per_entry_in_flight`` for each open intent (any job's) that opens a strike position
        (:data:`OPENING_ACTIONS`). The estimate is taken on the latest block; such an entry can land
        before this transaction in the same block and give it one more position to value (the
        checkpoint) or to close (an emergency exit) than its estimate saw. Unused gas is not charged
        (EIP-1559: gas used × price)."""
        limit = estimate * (10_000 + self.settings.gas_limit_margin_bps) // 10_000
        if per_entry_in_flight:
            limit += per_entry_in_flight * sum(1 for i in self.txm.open_intents() if i.action in OPENING_ACTIONS)
        return limit

    def _on_outcome(self, outcome: Outcome) -> None:
        self._settled.extend(self.on_settled(outcome))

    def on_settled(self, outcome: Outcome) -> list[Decision]:
        """The job's bookkeeping for a settled intent; returns the decisions it recorded."""
        raise NotImplementedError

    def revert_reason(self, intent: Intent, receipt: Any) -> str:
        """Why an included transaction reverted. Out of gas when it used at least 63/64 of its limit
        (EIP-150: a call that runs out leaves its caller 1/64, which then reverts); otherwise the call
        replayed on the state its block left behind (the usual culprit — a pool moved by an earlier
        transaction in the block — is still there)."""
        used = int(receipt["gasUsed"])
        if intent.gas_limit and used * 64 >= intent.gas_limit * 63:
            return f"out of gas: used {used:,} of its gas limit {intent.gas_limit:,}"
        sender = self.txm.senders.get((intent.signer or "").lower()) or self.signers.senders[0]
        try:
            sender.call(intent.to, intent.data, int(receipt["blockNumber"]))
        except SimulationReverted as err:
            return err.reason
        return "reverted on chain; the call succeeds on the block's post-state"

    def record(self, block: int, action: str, reason: str, bot_id: int | None = None, /,
               **detail: Any) -> Decision:
        return self.journal.record(Decision(block, self.name, action, reason, bot_id, detail))

    def settled_detail(self, outcome: Outcome) -> dict[str, Any]:
        """Common detail of a settled decision: intent, hash, gas, fees, replacements, error."""
        detail: dict[str, Any] = {"intent": outcome.intent.id, "status": outcome.status}
        receipt = outcome.receipt
        if receipt is not None:
            detail.update(tx=outcome.tx_hash, gas_used=int(receipt["gasUsed"]),
                          gas_price_wei=int(receipt.get("effectiveGasPrice", 0)),
                          included_block=int(receipt["blockNumber"]), replacements=outcome.replacements,
                          signer=outcome.intent.signer, latency_s=round(time.time() - outcome.intent.created_at, 3))
        if outcome.error:
            detail["error"] = outcome.error
        return detail

    # -- recovery -------------------------------------------------------------------------------
    def on_reorg(self, fork_block: int) -> None:
        """Blocks from ``fork_block`` were replaced: intents included there are re-checked (re-opened
        if gone), nonces re-synced, bots re-read (a job run alone; a JobSet does this for its jobs)."""
        self.txm.on_reorg(fork_block)
        refresh = getattr(self, "refresh_bots", None)
        if refresh is not None:
            refresh()

    def recover(self) -> None:
        """After errors: re-sync every signer's nonce (above our open intents) and re-read bots."""
        for sender in self.signers.senders:
            self.txm.resync(sender)
        refresh = getattr(self, "refresh_bots", None)
        if refresh is not None:
            refresh()
