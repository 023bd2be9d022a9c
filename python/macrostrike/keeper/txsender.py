"""One signer's nonce lane: simulation, signing, broadcast with an honest outcome.

A :class:`TxSender` holds one account's next nonce, signs EIP-1559 transactions with it and sends
raw bytes. It does not wait for receipts: :class:`macrostrike.keeper.txmanager.TxManager` owns the
intents, their attempts and their settlement from receipts in later blocks. :meth:`TxSender.send`
remains as the blocking convenience (submit one intent, wait for its outcome) for scripts, the
replay and tests.

**Honest outcomes** of ``eth_sendRawTransaction`` (:func:`broadcast_outcome`): only a JSON-RPC error
*response* means the node refused the transaction (``rejected``). A timeout, a dropped connection or
an HTTP 429/503 says nothing about whether the node took it (``unknown``): the attempt stays pending
and is settled from receipts and the signer's nonce. For a hash already broadcast, "already known"
and "nonce too low" mean "ours is in", not "rejected" (Anvil and geth both answer so when the same
bytes arrive twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_utils import keccak
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, Web3RPCError

from macrostrike.keeper.context import cache_chain_id
from macrostrike.keeper.errors import decode_revert
from macrostrike.keeper.fees import FeePolicy, Fees
from macrostrike.keeper.journal import Journal


class TxStuck(RuntimeError):
    """No version of a transaction was mined in time (fee cap or replacement limit reached)."""


class SendRejected(RuntimeError):
    """The node answered ``eth_sendRawTransaction`` with a JSON-RPC error (nothing is in its pool)."""

    def __init__(self, message: str, kind: str = "other") -> None:
        super().__init__(message)
        self.kind = kind


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


@dataclass(frozen=True)
class Broadcast:
    """What one ``eth_sendRawTransaction`` told us.

    ``outcome``: ``accepted`` (the node returned the hash), ``known`` (it already holds these bytes),
    ``unknown`` (transport failure: it may or may not have them), ``rejected`` (a JSON-RPC error).
    ``kind`` classifies a rejection (:func:`send_error_kind`); ``error`` is the node's message.
    """

    outcome: str
    kind: str = ""
    error: str = ""

    @property
    def in_flight(self) -> bool:
        """True unless the node refused it: the transaction may be (or is) in the pool."""
        return self.outcome != "rejected"


def revert_data(err: Exception) -> Any:
    """The revert payload carried by a web3 contract error, if any."""
    data = getattr(err, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    return data


def send_error_kind(err: Exception | str) -> str:
    """Classify a node's ``eth_sendRawTransaction`` rejection.

    Returns ``nonce_too_low``, ``underpriced`` (a pool entry with the same nonce pays more, or the
    fee is below what the node accepts), ``known`` (the node already has this exact transaction) or
    ``other``. Matches the messages of geth, anvil, reth and erigon, which all use these phrases.
    """
    text = str(err).lower()
    if "nonce too low" in text or "nonce is too low" in text:
        return "nonce_too_low"
    if "already known" in text or "already imported" in text or "known transaction" in text:
        return "known"
    if "underpriced" in text:
        return "underpriced"
    return "other"


def is_rpc_error(err: BaseException) -> bool:
    """True if ``err`` carries a JSON-RPC error response (the node answered), False for transport
    failures (timeouts, refused or dropped connections, HTTP errors such as 429/503)."""
    if isinstance(err, Web3RPCError):
        return True
    # older web3 / Ape wrappers: ValueError({"code": ..., "message": ...})
    return isinstance(err, ValueError) and bool(err.args) and isinstance(err.args[0], dict) \
        and "message" in err.args[0]


def broadcast_outcome(err: BaseException | None) -> Broadcast:
    """The :class:`Broadcast` of an ``eth_sendRawTransaction`` that raised ``err`` (None: it returned)."""
    if err is None:
        return Broadcast("accepted")
    message = str(err).splitlines()[0] if str(err) else type(err).__name__
    if not is_rpc_error(err):
        return Broadcast("unknown", type(err).__name__, message)
    kind = send_error_kind(err)
    if kind == "known":
        return Broadcast("known", kind, message)
    return Broadcast("rejected", kind, message)


class TxSender:
    """Signs, simulates and broadcasts for one account; tracks its next nonce.

    :param account: an Ape account (``accounts.test_accounts[1]``, a loaded keyfile account, …).
    :param priority_fee_wei: tip per gas (wei), the floor of the fee policy.
    :param base_fee_multiplier: headroom on the next base fee for ``maxFeePerGas``.
    :param error_table: selector table from :func:`macrostrike.keeper.errors.error_table`.
    :param journal: where :meth:`send` journals its intents and attempts.
    :param max_fee_cap_wei: upper bound on maxFeePerGas (wei); None for none.
    :param confirmations: blocks (the receipt's included) before an outcome is final; 1 = mined.
    :param stuck_after_s: seconds without a receipt before an attempt is replaced (fees bumped).
    :param fee_bump_bps: fee increase per replacement (bps; >= 1000, the txpool minimum).
    :param max_replacements: replacements per intent; after that the manager only waits.
    :param timeout_s: how long :meth:`send` waits for an outcome before :class:`TxStuck`.
    :param poll_s / poll_max_s: :meth:`send`'s receipt poll, doubling from ``poll_s`` up to ``poll_max_s``.
    :param fees: a shared :class:`~macrostrike.keeper.fees.FeePolicy` (else one from the fee arguments).

    Accounts that expose their key (Ape's test accounts) are signed with eth_account directly —
    the same bytes as Ape's signer at a third of the time (measured in ``bench/``); any other
    account (keyfile, hardware) signs through Ape.
    """

    def __init__(self, account: Any, *, priority_fee_wei: int, base_fee_multiplier: int = 2,
                 error_table: dict | None = None, journal: Journal | None = None,
                 max_fee_cap_wei: int | None = None, confirmations: int = 1, stuck_after_s: float = 30.0,
                 fee_bump_bps: int = 1250, max_replacements: int = 5, timeout_s: float = 300.0,
                 poll_s: float = 0.005, poll_max_s: float = 0.5, poll_fast_window_s: float = 0.25,
                 fees: FeePolicy | None = None) -> None:
        from ape import chain, networks

        if confirmations < 1:
            raise ValueError("confirmations must be >= 1 (1 = the block that mined the transaction)")
        self.account = account
        self.address = str(account.address)
        self.web3 = cache_chain_id(chain.provider.web3)
        self.chain_id = chain.provider.chain_id
        self.ecosystem = networks.provider.network.ecosystem
        self.fees = fees or FeePolicy(self.web3, priority_fee_wei=priority_fee_wei,
                                      base_fee_multiplier=base_fee_multiplier, max_fee_cap_wei=max_fee_cap_wei,
                                      fee_bump_bps=fee_bump_bps)
        self.error_table = error_table or {}
        self.journal = journal
        self.confirmations = confirmations
        self.stuck_after_s = stuck_after_s
        self.max_replacements = max_replacements
        self.timeout_s = timeout_s
        self.poll_s, self.poll_max_s = poll_s, poll_max_s
        self._key = getattr(account, "private_key", None) if type(account).__name__ == "TestAccount" else None
        self._manager: Any = None
        self.nonce = 0
        self.resync_nonce()

    def resync_nonce(self, floor: int = 0) -> int:
        """Take the node's pending transaction count (or ``floor``, if higher: nonces of our own
        attempts the node's pool may have lost) as the next nonce."""
        self.nonce = max(int(self.web3.eth.get_transaction_count(self.address, "pending")), floor)
        return self.nonce

    def _decode(self, err: Exception) -> str:
        data = revert_data(err)
        if data is not None:
            return decode_revert(data, self.error_table)
        return str(err).splitlines()[0]

    def _simulate(self, method: str, to: str, data: bytes, *args: Any) -> Any:
        try:
            return getattr(self.web3.eth, method)({"from": self.address, "to": to, "data": data}, *args)
        except (ContractCustomError, ContractLogicError, ContractPanicError) as err:
            raise SimulationReverted(self._decode(err)) from err
        except (Web3RPCError, ValueError) as err:
            if not is_revert(err):
                raise  # rate limits, node errors: not a verdict on the call
            raise SimulationReverted(self._decode(err)) from err

    def call(self, to: str, data: bytes, block: str | int = "latest") -> bytes:
        """``eth_call`` from this account; raises :class:`SimulationReverted` with the decoded reason
        (other node errors, e.g. a rate limit, propagate)."""
        return bytes(self._simulate("call", to, data, block))

    def estimate_gas(self, to: str, data: bytes) -> int:
        """``eth_estimateGas`` (units of gas); raises :class:`SimulationReverted` on revert."""
        return int(self._simulate("estimate_gas", to, data))

    # -- signing and broadcast -----------------------------------------------------------------------
    def sign(self, to: str, data: bytes, value: int, gas_limit: int, nonce: int, fees: Fees) -> tuple[bytes, str]:
        """Sign an EIP-1559 transaction; returns ``(raw bytes, 0x hash)``."""
        return self._sign(to, data, value, gas_limit, nonce, fees.tip, fees.max_fee)

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

    def broadcast(self, raw: bytes) -> Broadcast:
        """``eth_sendRawTransaction`` with an honest outcome (see the module docstring)."""
        try:
            self.web3.eth.send_raw_transaction(raw)
        except Exception as err:  # noqa: BLE001 - classified: RPC error vs transport failure
            return broadcast_outcome(err)
        return broadcast_outcome(None)

    # -- blocking convenience ----------------------------------------------------------------------
    def send(self, to: str, data: bytes, gas_limit: int, base_fee_wei: int, *, value: int = 0,
             job: str = "", bot_id: int | None = None) -> Sent:
        """Submit one transaction and wait for its final outcome (scripts, the replay, tests).

        Fees are quoted for a next block at ``base_fee_wei``. Returns the included attempt
        (``Sent.tx_hash`` may be a replacement's). Raises :class:`SendRejected` when the node refuses
        it (nothing in its pool) and :class:`TxStuck` when nothing is included within ``timeout_s``
        (the intent stays open in the journal for a later settlement).
        """
        from macrostrike.keeper.txmanager import TxManager

        if self._manager is None:
            self._manager = TxManager(self.web3, self.journal if self.journal is not None else Journal(), self.fees,
                                      confirmations=self.confirmations, stuck_after_s=self.stuck_after_s,
                                      max_replacements=self.max_replacements, resume=False)
            self._manager.add_senders([self])
        return self._manager.send_and_wait(self, to, data, gas_limit, base_fee_wei, value=value, job=job,
                                           bot_id=bot_id, timeout_s=self.timeout_s, poll_s=self.poll_s,
                                           poll_max_s=self.poll_max_s)


def is_revert(err: BaseException) -> bool:
    """True if a JSON-RPC error of ``eth_call``/``eth_estimateGas`` is the call reverting (code 3,
    "execution reverted", a revert payload), False for other node errors (rate limits, -32005, …)."""
    payload = err.args[0] if err.args and isinstance(err.args[0], dict) else None
    rpc = getattr(err, "rpc_response", None)
    error = (rpc or {}).get("error") if isinstance(rpc, dict) else None
    error = error or payload or {}
    code = error.get("code") if isinstance(error, dict) else None
    text = str(err).lower()
    return code == 3 or "revert" in text or revert_data(err) is not None or "invalid opcode" in text \
        or "out of gas" in text or "gas required exceeds" in text
