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

from macrostrike.keeper.journal import Decision, Journal
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.signers import SignerPool, as_pool
from macrostrike.keeper.txsender import SimulationReverted, TxSender

CHECKPOINT = sel("checkpoint()")
TOTAL_EQUITY = sel("totalEquity()")
CHILD_EQUITY = sel("equity()")
BREAKER_TRIPPED = sel("breakerTripped()")
AGGREGATE_STATS = sel("aggregateStats()")
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

    def realised(self) -> dict[str, int]:
        """Each child's realised PnL (the 4th word of ``aggregateStats()``, int256, USDC base units)."""
        out = {}
        for role, address in self.children.items():
            raw = bytes(self.web3.eth.call({"to": address, "data": AGGREGATE_STATS}))
            out[role] = int.from_bytes(raw[96:128], "big", signed=True)
        return out


class CheckpointJob:
    """``checkpoint()`` once per ``settings.checkpoint_interval_s`` seconds of chain time (0: never).

    Each send is journalled as a ``risk`` decision with the equity and breaker state read after it;
    a refused simulation (the signer is not a risk keeper: ``NotRiskKeeper``) is journalled as a
    skip and retried only at the next interval."""

    name = "risk"

    def __init__(self, manifest: Any, signers: SignerPool | TxSender, settings: KeeperSettings, journal: Journal,
                 *, send: bool = True) -> None:
        self.signers = as_pool(signers)
        self.risk = RiskKeeper(manifest, self.signers.senders[0])
        self.settings, self.journal, self.send_enabled = settings, journal, send
        self.next_at = 0
        self.sent = 0

    def tick(self) -> list[Decision]:
        interval = self.settings.checkpoint_interval_s
        if interval == 0:
            return []
        block = self.risk.web3.eth.get_block("latest")
        number, now = int(block["number"]), int(block["timestamp"])
        if now < self.next_at:
            return []
        self.next_at = now + interval
        sender = self.signers.pick(0, now) or self.signers.senders[0]

        def note(action: str, reason: str, **detail: Any) -> list[Decision]:
            return [self.journal.record(Decision(number, self.name, action, reason, None, detail))]

        if not self.send_enabled:
            try:
                sender.call(self.risk.master, CHECKPOINT)
            except SimulationReverted as err:
                return note("skip", "simulation_reverted", error=err.reason)
            return note("skip", "dry_run", intent="checkpoint")
        try:
            sent = self.risk.checkpoint(int(block.get("baseFeePerGas") or 0), sender)
        except SimulationReverted as err:
            return note("skip", "simulation_reverted", intent="checkpoint", error=err.reason)
        self.signers.record(sender, now)
        self.sent += 1
        equity, _children, tripped = self.risk.equity()
        return note("send", "checkpoint", status="mined" if sent.status == 1 else "reverted", tx=sent.tx_hash,
                    gas_used=sent.gas_used, total_equity=equity, breaker_tripped=tripped)
