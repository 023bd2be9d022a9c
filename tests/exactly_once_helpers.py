"""Helpers of tests/test_exactly_once.py: keeper objects built only through APIs that existed before
the intent rewrite (TxSender, Journal, ArbitrageJob, CheckpointJob, Runner), so that the same test
runs against older code and fails there on behaviour, not on a missing name."""

from __future__ import annotations

from typing import Any

from chain_harness import web3_for

from macrostrike.keeper.journal import Journal
from macrostrike.keeper.txsender import TxSender


class RecordingJournal(Journal):
    """A journal that also remembers, in order, every status written for each transaction hash
    (``tx_pending`` → ``pending``, ``tx_final`` → its status), whatever their signatures."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.history: list[tuple[str, str]] = []

    def tx_pending(self, tx_hash: str, *args: Any, **kwargs: Any) -> Any:
        self.history.append((tx_hash.lower(), "pending"))
        return super().tx_pending(tx_hash, *args, **kwargs)

    def intent_create(self, *args: Any, **kwargs: Any) -> Any:
        attempt = kwargs.get("attempt")
        if attempt is not None:  # the first attempt is journalled with its intent, in one commit
            self.history.append((attempt["tx_hash"].lower(), "pending"))
        return super().intent_create(*args, **kwargs)

    def tx_final(self, tx_hash: str, status: str, *args: Any, **kwargs: Any) -> Any:
        self.history.append((tx_hash.lower(), status))
        return super().tx_final(tx_hash, status, *args, **kwargs)

    def statuses(self, tx_hash: str) -> list[str]:
        return [s for h, s in self.history if h == tx_hash.lower()]


def sender_on(uri: str, account: Any, journal: Journal | None = None, **kwargs: Any) -> TxSender:
    """A TxSender for ``account`` whose every request goes to ``uri`` (a FaultProxy or a separate
    Anvil; Ape's test accounts are Anvil's default accounts, funded on any fresh Anvil), web3.py's
    own retries off."""
    sender = TxSender(account, journal=journal, **kwargs)
    w3 = web3_for(uri)
    sender.web3 = w3
    if hasattr(sender, "fees"):  # the fee policy reads the tip through its own connection
        sender.fees.web3 = w3
    sender.resync_nonce()
    return sender
