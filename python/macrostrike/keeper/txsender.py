"""Transaction sending for keeper jobs: EIP-1559 fees, a locally tracked nonce, simulation.

Signing goes through the Ape account (test accounts locally, keyfile accounts unlocked for
unattended runs); transport is web3.py's raw JSON-RPC, which keeps the per-block path short.
Fees follow EIP-1559: ``maxFeePerGas = baseFee * multiplier + maxPriorityFeePerGas``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError

from macrostrike.keeper.errors import decode_revert
from macrostrike.keeper.journal import Journal


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


def revert_data(err: Exception) -> Any:
    """The revert payload carried by a web3 contract error, if any."""
    data = getattr(err, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    return data


class TxSender:
    """Signs and sends transactions for one account, tracking its nonce locally.

    :param account: an Ape account (``accounts.test_accounts[1]``, a loaded keyfile account, …).
    :param priority_fee_wei: tip per gas (wei).
    :param base_fee_multiplier: headroom on the base fee for ``maxFeePerGas``.
    :param error_table: selector table from :func:`macrostrike.keeper.errors.error_table`.
    :param journal: where each transaction is recorded as pending before broadcast, then settled.
    :param max_fee_cap_wei: upper bound on maxFeePerGas (wei); None for none.
    """

    def __init__(self, account: Any, *, priority_fee_wei: int, base_fee_multiplier: int = 2,
                 error_table: dict | None = None, journal: Journal | None = None,
                 max_fee_cap_wei: int | None = None) -> None:
        from ape import chain, networks

        self.account = account
        self.address = str(account.address)
        self.web3 = chain.provider.web3
        self.chain_id = chain.provider.chain_id
        self.ecosystem = networks.provider.network.ecosystem
        self.priority_fee_wei = priority_fee_wei
        self.base_fee_multiplier = base_fee_multiplier
        self.error_table = error_table or {}
        self.journal = journal
        self.max_fee_cap_wei = max_fee_cap_wei
        self.nonce = self.web3.eth.get_transaction_count(self.address, "pending")

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

    def send(self, to: str, data: bytes, gas_limit: int, base_fee_wei: int, *, value: int = 0,
             timeout_s: float = 120.0, job: str = "", bot_id: int | None = None) -> Sent:
        """Sign, journal as pending, send and wait for the receipt; the journal then holds the outcome.

        The local nonce advances once the node accepted the transaction.
        """
        started = time.perf_counter()
        max_fee = base_fee_wei * self.base_fee_multiplier + self.priority_fee_wei
        if self.max_fee_cap_wei is not None:
            max_fee = min(max_fee, self.max_fee_cap_wei)
        txn = self.ecosystem.create_transaction(
            chain_id=self.chain_id, to=to, data=data, value=value, gas_limit=gas_limit,
            nonce=self.nonce, type=2, max_priority_fee=self.priority_fee_wei,
            max_fee=max_fee,
            sender=self.address,
        )
        raw = self.account.sign_transaction(txn).serialize_transaction()
        tx_hash = "0x" + keccak(raw).hex()
        if self.journal is not None:
            self.journal.tx_pending(tx_hash, self.address, int(txn.nonce), job, bot_id)
        self.web3.eth.send_raw_transaction(raw)
        self.nonce += 1
        receipt = self.web3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout_s, poll_latency=0.01)
        if self.journal is not None:
            self.journal.tx_final(tx_hash, "mined" if receipt["status"] == 1 else "reverted",
                                  int(receipt["gasUsed"]), int(receipt.get("effectiveGasPrice", 0)),
                                  int(receipt["blockNumber"]))
        return Sent(
            tx_hash=tx_hash,
            nonce=int(txn.nonce),
            status=int(receipt["status"]),
            gas_used=int(receipt["gasUsed"]),
            effective_gas_price=int(receipt.get("effectiveGasPrice", 0)),
            block_number=int(receipt["blockNumber"]),
            logs=list(receipt["logs"]),
            latency_s=time.perf_counter() - started,
        )
