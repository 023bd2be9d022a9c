"""Transaction manager for keeper jobs: EIP-1559 fees, per-signer nonces, replacement, confirmations.

Signing goes through the Ape account (test accounts locally, keyfile accounts unlocked for
unattended runs); transport is web3.py's raw JSON-RPC, which keeps the per-block path short.

* Fees follow EIP-1559: ``maxFeePerGas = baseFee * multiplier + maxPriorityFeePerGas``, never above
  ``max_fee_cap_wei``.
* The nonce is tracked locally and re-synced from the node's *pending* count at start, after
  "nonce too low" and after "replacement transaction underpriced" (another transaction already
  holds that nonce in the pool).
* A transaction with no receipt after ``stuck_after_s`` is replaced: the same call, the same
  nonce, both fee fields raised by ``fee_bump_bps`` (geth's txpool requires at least +10% to
  accept a replacement: ``core/txpool/legacypool``, ``PriceBump = 10``). The journal marks the
  superseded hash ``replaced``; whichever version is mined wins.
* ``confirmations`` blocks must be on top of the receipt's block before the outcome is final;
  if the receipt disappears or moves to another block meanwhile (a reorg), waiting resumes and,
  if the transaction was dropped, it is sent again on the same nonce.

Every signed transaction is journalled as ``pending`` *before* it is broadcast, so a crash at any
point leaves a record :meth:`Journal.reconcile` can settle.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_utils import keccak
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, TransactionNotFound

from macrostrike.keeper.context import cache_chain_id
from macrostrike.keeper.errors import decode_revert
from macrostrike.keeper.journal import Journal


class TxStuck(RuntimeError):
    """No version of a transaction was mined in time (fee cap or replacement limit reached)."""


class SimulationReverted(Exception):
    """``eth_call``/``eth_estimateGas`` reverted; ``reason`` is the decoded revert."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Sent:
    """A mined transaction: hash, status (1 ok, 0 reverted), gas used, effective gas price (wei)."""

    tx_hash: str
    nonce: int
    status: int
    gas_used: int
    effective_gas_price: int
    block_number: int
    logs: list[Any]
    latency_s: float
    replacements: int = 0


def revert_data(err: Exception) -> Any:
    """The revert payload carried by a web3 contract error, if any."""
    data = getattr(err, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    return data


def send_error_kind(err: Exception) -> str:
    """Classify a node's ``eth_sendRawTransaction`` rejection.

    Returns ``nonce_too_low``, ``underpriced`` (a pool entry with the same nonce pays more),
    ``known`` (the node already has this exact transaction) or ``other``. Matches the messages
    of geth, anvil, reth and erigon, which all use these phrases.
    """
    text = str(err).lower()
    if "nonce too low" in text or "nonce is too low" in text:
        return "nonce_too_low"
    if "underpriced" in text:
        return "underpriced"
    if "already known" in text or "already imported" in text or "known transaction" in text:
        return "known"
    return "other"


class TxSender:
    """Signs and sends transactions for one account: nonce, fees, replacement, confirmations.

    :param account: an Ape account (``accounts.test_accounts[1]``, a loaded keyfile account, …).
    :param priority_fee_wei: tip per gas (wei).
    :param base_fee_multiplier: headroom on the base fee for ``maxFeePerGas``.
    :param error_table: selector table from :func:`macrostrike.keeper.errors.error_table`.
    :param journal: where each transaction is recorded as pending before broadcast, then settled.
    :param max_fee_cap_wei: upper bound on maxFeePerGas (wei); None for none.
    :param confirmations: blocks (the receipt's included) before an outcome is final; 1 = mined.
    :param stuck_after_s: seconds without a receipt before the transaction is replaced.
    :param fee_bump_bps: fee increase per replacement (bps; >= 1000, the txpool minimum).
    :param max_replacements: replacements per transaction before :class:`TxStuck` is raised.
    :param timeout_s: overall seconds to wait for an outcome before :class:`TxStuck`.
    :param poll_s: receipt poll interval (s) for the first ``poll_fast_window_s`` seconds (a local
        automining node answers within milliseconds); after that it doubles per miss up to
        ``poll_max_s`` (a 12 s block chain is not hammered).

    Accounts that expose their key (Ape's test accounts) are signed with eth_account directly —
    the same bytes as Ape's signer at a third of the time (measured in ``bench/``); any other
    account (keyfile, hardware) signs through Ape.
    """

    def __init__(self, account: Any, *, priority_fee_wei: int, base_fee_multiplier: int = 2,
                 error_table: dict | None = None, journal: Journal | None = None,
                 max_fee_cap_wei: int | None = None, confirmations: int = 1, stuck_after_s: float = 30.0,
                 fee_bump_bps: int = 1250, max_replacements: int = 5, timeout_s: float = 300.0,
                 poll_s: float = 0.001, poll_max_s: float = 0.5, poll_fast_window_s: float = 0.25) -> None:
        from ape import chain, networks

        if confirmations < 1:
            raise ValueError("confirmations must be >= 1 (1 = the block that mined the transaction)")
        if fee_bump_bps < 1000:
            raise ValueError("fee_bump_bps must be >= 1000: nodes refuse replacements below +10%")
        self.account = account
        self.address = str(account.address)
        self.web3 = cache_chain_id(chain.provider.web3)
        self.chain_id = chain.provider.chain_id
        self.ecosystem = networks.provider.network.ecosystem
        self.priority_fee_wei = priority_fee_wei
        self.base_fee_multiplier = base_fee_multiplier
        self.error_table = error_table or {}
        self.journal = journal
        self.max_fee_cap_wei = max_fee_cap_wei
        self.confirmations = confirmations
        self.stuck_after_s = stuck_after_s
        self.fee_bump_bps = fee_bump_bps
        self.max_replacements = max_replacements
        self.timeout_s = timeout_s
        self.poll_s, self.poll_max_s, self.poll_fast_window_s = poll_s, poll_max_s, poll_fast_window_s
        self._key = getattr(account, "private_key", None) if type(account).__name__ == "TestAccount" else None
        self.nonce = 0
        self.resync_nonce()
        #: nonces of this signer still pending in the journal from an earlier process (after its
        #: reconcile): once one of them is mined by us, those rows are superseded
        self._left_pending = set() if journal is None else {
            int(t["nonce"]) for t in journal.transactions("pending") if t["signer"] == self.address}

    def resync_nonce(self) -> int:
        """Take the node's pending transaction count as the next nonce (start, restart, errors)."""
        self.nonce = int(self.web3.eth.get_transaction_count(self.address, "pending"))
        return self.nonce

    def _decode(self, err: Exception) -> str:
        data = revert_data(err)
        if data is not None:
            return decode_revert(data, self.error_table)
        return str(err).splitlines()[0]

    def call(self, to: str, data: bytes, block: str | int = "latest") -> bytes:
        """``eth_call`` from this account; raises :class:`SimulationReverted` with the decoded reason."""
        try:
            return bytes(self.web3.eth.call({"from": self.address, "to": to, "data": data}, block))
        except (ContractCustomError, ContractLogicError, ContractPanicError, ValueError) as err:
            raise SimulationReverted(self._decode(err)) from err

    def estimate_gas(self, to: str, data: bytes) -> int:
        """``eth_estimateGas`` (units of gas); raises :class:`SimulationReverted` on revert."""
        try:
            return int(self.web3.eth.estimate_gas({"from": self.address, "to": to, "data": data}))
        except (ContractCustomError, ContractLogicError, ContractPanicError, ValueError) as err:
            raise SimulationReverted(self._decode(err)) from err

    # -- sending ---------------------------------------------------------------------------------
    def _sign(self, to: str, data: bytes, value: int, gas_limit: int, nonce: int, tip: int,
              max_fee: int) -> tuple[bytes, str]:
        if self._key is not None:
            raw = bytes(Account.sign_transaction({
                "type": 2, "chainId": self.chain_id, "nonce": nonce, "to": to, "value": value, "data": data,
                "gas": gas_limit, "maxPriorityFeePerGas": tip, "maxFeePerGas": max_fee}, self._key).raw_transaction)
            return raw, "0x" + keccak(raw).hex()
        txn = self.ecosystem.create_transaction(
            chain_id=self.chain_id, to=to, data=data, value=value, gas_limit=gas_limit, nonce=nonce, type=2,
            max_priority_fee=tip, max_fee=max_fee, sender=self.address)
        raw = bytes(self.account.sign_transaction(txn).serialize_transaction())
        return raw, "0x" + keccak(raw).hex()

    def _bump(self, tip: int, max_fee: int) -> tuple[int, int] | None:
        """Both fee fields raised by ``fee_bump_bps`` (rounded up); None if that breaks the cap."""
        tip = -(-tip * (10_000 + self.fee_bump_bps) // 10_000) if tip else 1
        max_fee = -(-max_fee * (10_000 + self.fee_bump_bps) // 10_000)
        if self.max_fee_cap_wei is not None and max_fee > self.max_fee_cap_wei:
            return None
        return tip, max(max_fee, tip)

    def _receipt(self, tx_hash: str) -> Any:
        try:
            return self.web3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None

    def _final(self, tx_hash: str, status: str, receipt: Any = None) -> None:
        if self.journal is None:
            return
        if receipt is None:
            self.journal.tx_final(tx_hash, status)
        else:
            self.journal.tx_final(tx_hash, status, int(receipt["gasUsed"]), int(receipt.get("effectiveGasPrice", 0)),
                                  int(receipt["blockNumber"]), "0x" + bytes(receipt["blockHash"]).hex())

    def send(self, to: str, data: bytes, gas_limit: int, base_fee_wei: int, *, value: int = 0,
             job: str = "", bot_id: int | None = None) -> Sent:
        """Sign, journal as pending, broadcast and follow the transaction until it is final.

        Returns the mined version (``Sent.tx_hash`` may be a replacement's hash). Raises
        :class:`TxStuck` when nothing is mined within ``timeout_s`` (fee cap or replacement limit
        reached; the journal keeps the versions as pending for :meth:`Journal.reconcile`) and
        re-raises any other rejection of the node after journalling it as ``rejected``.
        """
        started = time.perf_counter()
        deadline = time.monotonic() + self.timeout_s
        tip = self.priority_fee_wei
        max_fee = base_fee_wei * self.base_fee_multiplier + tip
        if self.max_fee_cap_wei is not None:
            max_fee = min(max_fee, self.max_fee_cap_wei)
        tip = min(tip, max_fee)
        nonce = self.nonce
        versions: list[str] = []  # hashes broadcast for this nonce, oldest first
        resyncs = 0
        while True:
            raw, tx_hash = self._sign(to, data, value, gas_limit, nonce, tip, max_fee)
            if self.journal is not None:
                self.journal.tx_pending(tx_hash, self.address, nonce, job, bot_id)
            try:
                self.web3.eth.send_raw_transaction(raw)
                accepted = True
            except Exception as err:  # noqa: BLE001 - classified below, the rest re-raised
                kind = send_error_kind(err)
                accepted = kind == "known"  # the node already holds this exact transaction
                if not accepted:
                    self._final(tx_hash, "rejected")
                    if kind not in ("nonce_too_low", "underpriced") or (not versions and resyncs >= 3):
                        raise
                    if not versions:  # nothing of ours holds the nonce: re-sync (or outbid) and sign again
                        resyncs += 1
                        previous = nonce
                        nonce = self.resync_nonce()
                        if nonce == previous:  # the pool holds this nonce without counting it: outbid it
                            bumped = self._bump(tip, max_fee)
                            if bumped is None:
                                raise TxStuck(f"nonce {nonce} of {self.address} is held by another pending "
                                              f"transaction and outbidding it would exceed the fee cap") from err
                            tip, max_fee = bumped
                        continue
                    # else an earlier version holds or used the nonce: follow it below
            if accepted and tx_hash not in versions:
                versions.append(tx_hash)
            self.nonce = max(self.nonce, nonce + 1)
            receipt = self._wait(versions, deadline, self.stuck_after_s)
            if receipt is not None:
                break
            if time.monotonic() >= deadline or len(versions) > self.max_replacements:
                raise TxStuck(f"no receipt for nonce {nonce} of {self.address} after {len(versions)} version(s)")
            bumped = self._bump(tip, max_fee)
            if bumped is None:  # cannot outbid within the cap: keep waiting for what is out there
                receipt = self._wait(versions, deadline, stuck_after_s=None)
                if receipt is None:
                    raise TxStuck(f"no receipt for nonce {nonce} of {self.address}; replacing it would "
                                  f"exceed the fee cap")
                break
            tip, max_fee = bumped
        mined = "0x" + bytes(receipt["transactionHash"]).hex()
        for other in versions:
            if other != mined:
                self._final(other, "replaced")
        self._final(mined, "mined" if receipt["status"] == 1 else "reverted", receipt)
        if nonce in self._left_pending:  # a row an earlier process journalled but never got out
            self._left_pending.discard(nonce)
            self.journal.supersede(self.address, nonce, mined)
        return Sent(
            tx_hash=mined,
            nonce=nonce,
            status=int(receipt["status"]),
            gas_used=int(receipt["gasUsed"]),
            effective_gas_price=int(receipt.get("effectiveGasPrice", 0)),
            block_number=int(receipt["blockNumber"]),
            logs=list(receipt["logs"]),
            latency_s=time.perf_counter() - started,
            replacements=len(versions) - 1,
        )

    def _wait(self, versions: list[str], deadline: float, stuck_after_s: float | None) -> Any:
        """The final receipt of any version, or None once the newest version counts as stuck.

        A receipt is final when ``confirmations`` blocks include it and it is still in the
        canonical chain at the same block hash; a receipt that vanishes (reorg) restarts the wait.
        """
        stuck = stuck_after_s  # None: wait until the deadline
        since, pause = time.monotonic(), self.poll_s
        while time.monotonic() < deadline and (stuck is None or time.monotonic() - since < stuck):
            for tx_hash in reversed(versions):
                receipt = self._receipt(tx_hash)
                if receipt is None:
                    continue
                if self.confirmations > 1:
                    receipt = self._confirmed(tx_hash, receipt, deadline)
                    if receipt is None:  # reorged out while confirming: back to waiting
                        since = time.monotonic()
                        break
                return receipt
            time.sleep(pause)
            if time.monotonic() - since > self.poll_fast_window_s:
                pause = min(self.poll_max_s, pause * 2)
        return None

    def _confirmed(self, tx_hash: str, receipt: Any, deadline: float) -> Any:
        """Wait for ``confirmations`` blocks; the receipt again if still canonical, else None."""
        target = int(receipt["blockNumber"]) + self.confirmations - 1
        while time.monotonic() < deadline:
            if int(self.web3.eth.block_number) >= target:
                again = self._receipt(tx_hash)
                if again is None or bytes(again["blockHash"]) != bytes(receipt["blockHash"]):
                    return None
                canonical = self.web3.eth.get_block(int(again["blockNumber"]))
                return again if bytes(canonical["hash"]) == bytes(again["blockHash"]) else None
            time.sleep(self.poll_s)
        return None
