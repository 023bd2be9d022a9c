"""The master's risk checkpoint as a keeper job.

``RiskFacet.checkpoint()`` (owner or a risk keeper) marks total equity against its high-water mark
and the day's starting equity, and trips the circuit breaker on a drawdown or a daily loss beyond
the master's limits (10 % and 5 % by default). Someone has to call it: the replay calls it once per
replayed hour (:class:`RiskKeeper`), ``ape keeper run`` once per ``checkpoint_interval_s`` seconds
of chain time (:class:`CheckpointJob`).
"""

from __future__ import annotations

from typing import Any

from eth_utils import function_signature_to_4byte_selector as sel
from eth_utils import keccak

from eth_abi import decode
from web3.exceptions import ContractLogicError

from macrostrike.keeper.fees import FeeAboveCap
from macrostrike.keeper.jobbase import Job
from macrostrike.keeper.journal import Decision, IntentOpen, Journal
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.signers import SignerPool
from macrostrike.keeper.txmanager import Outcome, TxManager
from macrostrike.keeper.txsender import SendRejected, SimulationReverted, TxSender, is_revert

CHECKPOINT = sel("checkpoint()")
TOTAL_EQUITY = sel("totalEquity()")
CHILD_EQUITY = sel("equity()")
BREAKER_TRIPPED = sel("breakerTripped()")
CHILD_BREAKER = sel("masterBreakerTripped()")  # ChildCoordinationFacet: the child's copy of the breaker
PUSH_BREAKER = sel("pushBreaker()")  # RiskFacet, owner or risk keeper
AGGREGATE_STATS = sel("aggregateStats()")
#: ``aggregateStats()`` outputs (IChild.sol), decoded by name
AGGREGATE_STATS_OUTPUTS = (("trades", "uint64"), ("wins", "uint64"), ("losses", "uint64"), ("realisedPnl", "int256"),
                           ("totalCapital", "uint256"))
BREAKER_TRIPPED_TOPIC = keccak(text="BreakerTripped(uint8,uint256,uint256)")


class RiskKeeper:
    """Sends the master's ``checkpoint()`` and reads the equity figures (USDC base units)."""

    def __init__(self, manifest: Any, sender: TxSender) -> None:
        self.master = manifest.address("master")
        self.children = {r: manifest.address(r) for r in ("long", "short", "amm")}
        self.sender = sender
        self.web3 = sender.web3
        self.trips = 0
        self.gas_used = 0

    def _word(self, to: str, data: bytes) -> int:
        return int.from_bytes(bytes(self.web3.eth.call({"to": to, "data": data}))[:32], "big")

    def checkpoint(self, base_fee: int, sender: TxSender | None = None) -> Any:
        """Sends ``checkpoint()`` (gas: the estimate + 25 %); returns the sent transaction.
        Raises :class:`SimulationReverted` if the node refuses it (e.g. NotRiskKeeper)."""
        sender = sender or self.sender
        gas = sender.estimate_gas(self.master, CHECKPOINT)
        sent = sender.send(self.master, CHECKPOINT, gas * 5 // 4, base_fee, job="risk")
        self.gas_used += sent.gas_used
        self.trips += sum(1 for log in sent.logs if log["topics"] and bytes(log["topics"][0]) == BREAKER_TRIPPED_TOPIC)
        return sent

    def equity(self) -> tuple[int, dict[str, int], bool]:
        """(master.totalEquity(), each child's equity(), master.breakerTripped())."""
        return (self._word(self.master, TOTAL_EQUITY),
                {r: self._word(a, CHILD_EQUITY) for r, a in self.children.items()},
                bool(self._word(self.master, BREAKER_TRIPPED)))

    def breaker_copies(self) -> tuple[bool, dict[str, bool | None]]:
        """(master.breakerTripped(), each child's ``masterBreakerTripped()``): the copy a child's
        opening check reads. None for a child without that view (a deployment older than the push)."""
        copies: dict[str, bool | None] = {}
        for role, address in self.children.items():
            try:
                copies[role] = bool(self._word(address, CHILD_BREAKER))
            except (ContractLogicError, ValueError) as err:
                if not is_revert(err):
                    raise  # a node error is not an answer
                copies[role] = None
        return bool(self._word(self.master, BREAKER_TRIPPED)), copies

    def realised(self) -> dict[str, int]:
        """Each child's realised PnL (``aggregateStats().realisedPnl``, int256, USDC base units)."""
        names, types = zip(*AGGREGATE_STATS_OUTPUTS)
        out = {}
        for role, address in self.children.items():
            raw = bytes(self.web3.eth.call({"to": address, "data": AGGREGATE_STATS}))
            out[role] = int(dict(zip(names, decode(list(types), raw)))["realisedPnl"])
        return out


class CheckpointJob(Job):
    """``checkpoint()`` once per ``settings.checkpoint_interval_s`` seconds of chain time (0: never),
    and the children's copies of the breaker kept equal to the master's.

    The schedule advances only when a checkpoint is *mined* (:meth:`on_settled`): a fee above the
    cap, a node's refusal or a transaction that never lands is retried at the next block, so a
    failed send never skips the circuit breaker for an interval. A refused simulation is journalled
    as a skip and retried after 1, 2, 4, … (at most 256) blocks: soon when it was transient, rarely when
    it is a misconfiguration (the signer is not a risk keeper: ``NotRiskKeeper``). One checkpoint
    intent is open at a time.

    **Breaker copies.** Each child refuses openings on its own copy of the master's breaker, pushed
    by the master when it trips or resets; a push to a child can fail (``BreakerPushFailed``) and an
    upgrade can cut a fresh copy in. At its first block and after each mined checkpoint the job reads
    every copy (:meth:`RiskKeeper.breaker_copies`); a child that differs from the master is journalled
    (``observe``/``breaker_out_of_sync``, which the alerts raise) and ``pushBreaker()`` is sent, at
    most once per checkpoint; ``breaker_in_sync`` follows when the copies agree again."""

    name = "risk"

    def __init__(self, manifest: Any, signers: SignerPool | TxSender, settings: KeeperSettings, journal: Journal,
                 *, send: bool = True, txm: TxManager | None = None) -> None:
        super().__init__(signers, settings, journal, send=send, txm=txm)
        self.risk = RiskKeeper(manifest, self.signers.senders[0])
        self.next_at = 0
        self.sent = 0
        #: refused simulations in a row, and the block before which the next try waits (1, 2, 4, …
        #: up to 256 blocks: a transient refusal is retried soon, a misconfiguration is not hammered)
        self.failures, self.retry_block = 0, 0
        #: read the breaker copies at the next block; a push allowed (once per checkpoint); copies differ
        self.sync_due, self.push_allowed, self.out_of_sync = True, True, False

    def decide(self, header: Any, **_: Any) -> list[Decision]:
        return self._sync_breaker(header) + self._checkpoint(header)

    def _sync_breaker(self, header: Any) -> list[Decision]:
        if not self.sync_due or self.is_busy(self.risk.master, "push_breaker"):
            return []
        number = int(header["number"])
        master, copies = self.risk.breaker_copies()
        differ = sorted(role for role, copy in copies.items() if copy is not None and copy != master)
        self.sync_due = False
        if not differ:
            if not self.out_of_sync:
                return []
            self.out_of_sync = False
            return [self.record(number, "observe", "breaker_in_sync", None, master=master)]
        self.out_of_sync = True
        out = [self.record(number, "observe", "breaker_out_of_sync", None, master=master, children=differ)]
        if self.push_allowed and self.send_enabled:
            out += self._push_breaker(header)
        return out

    def _push_breaker(self, header: Any) -> list[Decision]:
        number, now = int(header["number"]), int(header["timestamp"])
        sender = self.signers.pick(0, now) or self.signers.senders[0]
        try:
            gas = sender.estimate_gas(self.risk.master, PUSH_BREAKER)
            intent = self.submit("push_breaker", "push_breaker", sender, self.risk.master, PUSH_BREAKER,
                                 self.gas_limit(gas), header)
        except (SimulationReverted, FeeAboveCap, SendRejected) as err:  # tried again after the next checkpoint
            self.push_allowed = False
            return [self.record(number, "skip", "push_breaker", None, error=str(err).splitlines()[0])]
        except IntentOpen:
            return []
        self.push_allowed = False
        self.signers.record(sender, now)
        return [self.record(number, "send", "push_breaker", None, status="sent", intent=intent.id,
                            nonce=intent.nonce, signer=sender.address)]

    def _checkpoint(self, header: Any) -> list[Decision]:
        interval = self.settings.checkpoint_interval_s
        number, now = int(header["number"]), int(header["timestamp"])
        if interval == 0 or now < self.next_at or number < self.retry_block \
                or self.is_busy(self.risk.master, "checkpoint"):
            return []
        sender = self.signers.pick(0, now) or self.signers.senders[0]

        def note(action: str, reason: str, **detail: Any) -> list[Decision]:
            return [self.record(number, action, reason, None, **detail)]

        try:
            gas = sender.estimate_gas(self.risk.master, CHECKPOINT)
        except SimulationReverted as err:  # the schedule stays: retried after a short, growing rest
            self.failures += 1
            self.retry_block = number + min(2 ** (self.failures - 1), 256)
            return note("skip", "simulation_reverted", intent="checkpoint", error=err.reason,
                        retry_block=self.retry_block)
        if not self.send_enabled:
            self.next_at = now + interval
            return note("skip", "dry_run", intent="checkpoint")
        try:
            intent = self.submit("checkpoint", "checkpoint", sender, self.risk.master, CHECKPOINT,
                                 self.gas_limit(gas, self.settings.checkpoint_gas_per_entry), header)
        except FeeAboveCap as err:
            return note("skip", "fee_above_cap", intent="checkpoint", next_base_fee_wei=err.next_base_fee,
                        cap_wei=err.cap)
        except IntentOpen:
            return []
        except SendRejected as err:
            return note("skip", "send_rejected", intent="checkpoint", error=str(err))
        self.signers.record(sender, now)
        return note("send", "checkpoint", status="sent", intent=intent.id, nonce=intent.nonce, signer=sender.address)

    def on_settled(self, outcome: Outcome) -> list[Decision]:
        """A mined checkpoint moves the schedule one interval past its block's time; the equity and
        breaker state after it are journalled."""
        receipt = outcome.receipt
        detail = self.settled_detail(outcome)
        action = outcome.intent.action
        if receipt is None:
            return [self.record(outcome.intent.created_block, "settle", action, None, **detail)]
        block = int(receipt["blockNumber"])
        if action == "push_breaker":
            self.sync_due = True  # read the copies again: in sync, or still not (BreakerPushFailed)
            if outcome.status != "mined":
                detail["error"] = self.revert_reason(outcome.intent, receipt)
            return [self.record(block, "settle", action, None, **detail)]
        if outcome.status == "mined":
            self.sync_due = self.push_allowed = True
            mined_at = int(self.web3.eth.get_block(block)["timestamp"])
            self.next_at = mined_at + self.settings.checkpoint_interval_s
            self.failures = 0
            self.sent += 1
            self.risk.gas_used += int(receipt["gasUsed"])
            self.risk.trips += sum(1 for log in receipt["logs"]
                                   if log["topics"] and bytes(log["topics"][0]) == BREAKER_TRIPPED_TOPIC)
            equity, _children, tripped = self.risk.equity()
            detail.update(total_equity=equity, breaker_tripped=tripped)
        else:
            detail["error"] = self.revert_reason(outcome.intent, receipt)
        return [self.record(block, "settle", "checkpoint", None, **detail)]
