"""The chain harness itself (tests/chain_harness.py) and the chunked ``eth_getLogs`` (keeper.logs).

Everything here runs against a separate Anvil started by the test (not Ape's), through the
fault-injecting proxy where a fault is wanted. What Anvil 1.7.1 does on reorg, rollback and
dropTransaction is asserted here as documented in chain_harness's docstring.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_account import Account
from eth_utils import event_signature_to_log_topic
from web3 import Web3
from web3.exceptions import Web3RPCError

from chain_harness import (
    AnvilChain,
    FaultProxy,
    RPCError,
    anvil_chain,
    drop_tx,
    mine,
    pool_hashes,
    reorg,
    rollback,
    rpc,
    set_automine,
    set_interval_mining,
    set_next_base_fee,
    txpool_content,
    web3_for,
)
from macrostrike.keeper.logs import LogRangeError, get_logs, is_range_refusal, is_transient

ROOT = Path(__file__).resolve().parents[1]
WETH9 = ROOT / "node_modules/canonical-weth/build/contracts/WETH9.json"
KEYS = ("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",  # Anvil test accounts 0, 1
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d")
ALICE = Account.from_key(KEYS[0])
BOB_ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
DEPOSIT_TOPIC = event_signature_to_log_topic("Deposit(address,uint256)")
#: block offsets (from the first block of the 2,000-block range) that get WETH deposits; several at
#: 1,000 (one block, three logs) and at the edges of 500-block windows
DEPOSIT_OFFSETS = (0, 1, 499, 500, 999, 1000, 1000, 1000, 1500, 1999)
RANGE_BLOCKS = 2_000
FAST = {"wait_initial_s": 0.01, "wait_max_s": 0.05}


def sign(w3: Web3, *, to: str | None = BOB_ADDRESS, value: int = 1, data: str = "0x", gas: int = 21_000,
         nonce: int | None = None) -> bytes:
    """A signed EIP-1559 transaction from Anvil account 0 (nonce: the pending one unless given)."""
    tx: dict[str, Any] = {"value": value, "data": data, "gas": gas, "maxFeePerGas": 50 * 10**9,
                          "maxPriorityFeePerGas": 10**9, "chainId": w3.eth.chain_id,
                          "nonce": w3.eth.get_transaction_count(ALICE.address, "pending") if nonce is None else nonce}
    if to is not None:
        tx["to"] = to
    return bytes(ALICE.sign_transaction(tx).raw_transaction)


def tx_hash(raw: bytes) -> str:
    return Web3.keccak(raw).to_0x_hex()


def receipt_block(w3: Web3, h: str) -> int | None:
    """The block a transaction was mined in, or None if the node does not know it as mined."""
    answer = rpc(w3, "eth_getTransactionReceipt", h)
    return None if answer is None else int(answer["blockNumber"], 16)


@pytest.fixture
def fresh() -> Iterator[AnvilChain]:
    """A new Anvil for one test (for tests that rewrite history)."""
    with anvil_chain() as chain_:
        yield chain_


@pytest.fixture(scope="module")
def weth_logs(harness_chain: AnvilChain) -> dict[str, Any]:
    """WETH9 (npm canonical-weth, deployed from its bytecode) with ``Deposit`` logs at
    :data:`DEPOSIT_OFFSETS` of a :data:`RANGE_BLOCKS`-block range; the filter over that range."""
    w3 = harness_chain.w3
    bytecode = json.loads(WETH9.read_text())["bytecode"]
    deploy = w3.eth.send_raw_transaction(sign(w3, to=None, value=0, data=bytecode, gas=1_500_000))
    weth = w3.eth.wait_for_transaction_receipt(deploy)["contractAddress"]
    start = w3.eth.block_number + 1
    set_automine(w3, False)
    try:
        for offset in sorted(set(DEPOSIT_OFFSETS)):
            gap = start + offset - 1 - w3.eth.block_number
            if gap > 0:
                mine(w3, gap)
            for n in range(DEPOSIT_OFFSETS.count(offset)):
                w3.eth.send_raw_transaction(sign(w3, to=weth, value=10**15 * (offset + 1) + n, data="0xd0e30db0",
                                                 gas=60_000))
            assert mine(w3) == start + offset
    finally:
        set_automine(w3, True)
    return {"address": weth, "fromBlock": start, "toBlock": start + RANGE_BLOCKS - 1, "topics": [DEPOSIT_TOPIC]}


# -- the proxy ----------------------------------------------------------------------------------------
def test_proxy_passes_requests_through(harness_chain: AnvilChain, fault_proxy: FaultProxy) -> None:
    direct, proxied = harness_chain.w3, web3_for(fault_proxy.uri)
    assert proxied.eth.chain_id == direct.eth.chain_id == 31337
    assert proxied.eth.get_block("latest")["hash"] == direct.eth.get_block("latest")["hash"]
    batch = [{"jsonrpc": "2.0", "id": i, "method": m, "params": []}
             for i, m in enumerate(("eth_chainId", "eth_blockNumber", "web3_clientVersion"))]
    answers = requests.post(fault_proxy.uri, json=batch, timeout=5).json()
    assert [a["id"] for a in answers] == [0, 1, 2] and answers[2]["result"].startswith("anvil/")
    # a transaction through the proxy is mined like a direct one
    h = proxied.eth.send_raw_transaction(sign(direct))
    assert proxied.eth.wait_for_transaction_receipt(h, timeout=10)["status"] == 1
    assert fault_proxy.requests["eth_chainId"] == 2 and fault_proxy.requests["eth_sendRawTransaction"] == 1
    assert not fault_proxy.faults


def test_dropped_reply_after_forwarding_tx_is_mined(harness_chain: AnvilChain, fault_proxy: FaultProxy) -> None:
    """The node accepted eth_sendRawTransaction, the reply was lost: the client sees a connection
    error, the transaction is mined anyway, and sending the bytes again says "nonce too low"."""
    direct = harness_chain.w3
    fault_proxy.drop_response("eth_sendRawTransaction", count=1, mode="close")
    raw = sign(direct)
    call = {"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [Web3.to_hex(raw)]}
    with pytest.raises(requests.ConnectionError):
        requests.post(fault_proxy.uri, json=call, timeout=5)
    assert fault_proxy.faults["drop"] == 1
    # automine mines on Anvil's own task, after it answered: under load the block can lag the answer
    assert direct.eth.wait_for_transaction_receipt(tx_hash(raw), timeout=30, poll_latency=0.05) is not None
    assert receipt_block(direct, tx_hash(raw)) is not None
    with pytest.raises(RPCError, match="nonce too low"):
        rpc(web3_for(fault_proxy.uri), "eth_sendRawTransaction", Web3.to_hex(raw))  # the rule fired once only


def test_late_reply_times_out_while_tx_is_pending(harness_chain: AnvilChain, fault_proxy: FaultProxy) -> None:
    """A reply later than the client's timeout: web3 raises a read timeout, the transaction waits in
    the pool; the same bytes again: "already imported"; the next block mines it."""
    direct = harness_chain.w3
    set_automine(direct, False)
    try:
        fault_proxy.drop_response("eth_sendRawTransaction", count=1, mode="late", delay_s=3.0)
        raw = sign(direct)
        client = web3_for(fault_proxy.uri, timeout_s=0.5)
        started = time.monotonic()
        with pytest.raises(requests.Timeout):
            client.eth.send_raw_transaction(raw)
        assert time.monotonic() - started < 2.5
        assert fault_proxy.faults["drop_late"] == 1
        assert tx_hash(raw) in pool_hashes(direct)
        pending = txpool_content(direct)["pending"][ALICE.address.lower()]
        assert {tx["hash"] for tx in pending.values()} == {tx_hash(raw)}
        with pytest.raises(Web3RPCError, match="already imported"):
            client.eth.send_raw_transaction(raw)
        block = mine(direct)
        assert receipt_block(direct, tx_hash(raw)) == block
    finally:
        set_automine(direct, True)


def test_web3_builtin_retry_resends_the_raw_transaction(harness_chain: AnvilChain, fault_proxy: FaultProxy) -> None:
    """web3.py's default HTTPProvider retries eth_sendRawTransaction on a read timeout: the node gets
    the bytes twice and the caller sees the second answer ("nonce too low") for a transaction of
    its own that is in."""
    direct = harness_chain.w3
    fault_proxy.drop_response("eth_sendRawTransaction", count=1, mode="late", delay_s=2.0)
    raw = sign(direct)
    with pytest.raises(Web3RPCError, match="nonce too low"):
        web3_for(fault_proxy.uri, timeout_s=0.5, retries=True).eth.send_raw_transaction(raw)
    assert fault_proxy.requests["eth_sendRawTransaction"] == 2
    assert receipt_block(direct, tx_hash(raw)) is not None


def test_http_429_and_503_are_answered_without_forwarding(fault_proxy: FaultProxy) -> None:
    fault_proxy.http_error(429, count=1)
    fault_proxy.http_error(503, "eth_blockNumber", count=1)
    call = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
    first = requests.post(fault_proxy.uri, json=call, timeout=5)
    assert first.status_code == 429 and first.headers["Retry-After"] == "1"
    assert requests.post(fault_proxy.uri, json={**call, "method": "eth_chainId"}, timeout=5).json()["result"] == "0x7a69"
    assert requests.post(fault_proxy.uri, json=call, timeout=5).status_code == 503
    assert "result" in requests.post(fault_proxy.uri, json=call, timeout=5).json()
    assert fault_proxy.faults == {"http_429": 1, "http_503": 1}
    # the client side: web3 without retries raises HTTPError; with its built-in retries it gets through
    fault_proxy.http_error(503, "eth_blockNumber", count=1)
    with pytest.raises(requests.HTTPError, match="503"):
        _ = web3_for(fault_proxy.uri).eth.block_number
    fault_proxy.http_error(429, "eth_blockNumber", count=2)
    assert web3_for(fault_proxy.uri, retries=True).eth.block_number >= 0
    assert fault_proxy.faults == {"http_429": 3, "http_503": 2}


def test_delay_is_a_latency_spike(fault_proxy: FaultProxy) -> None:
    client = web3_for(fault_proxy.uri)
    _ = client.eth.chain_id  # warm the connection
    fault_proxy.delay(0.6, "eth_blockNumber", count=1)
    started = time.monotonic()
    _ = client.eth.block_number
    slow = time.monotonic() - started
    started = time.monotonic()
    _ = client.eth.block_number
    assert slow >= 0.6 > time.monotonic() - started
    assert fault_proxy.faults["delay"] == 1


def test_probabilistic_rules_are_seeded(harness_chain: AnvilChain) -> None:
    """The same seed and the same requests give the same faults (a reproducible chaos soak)."""
    def run(seed: int) -> list[int]:
        with FaultProxy(harness_chain.uri, seed=seed) as proxy:
            proxy.http_error(503, count=None, probability=0.3)
            call = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
            return [requests.post(proxy.uri, json=call, timeout=5).status_code for _ in range(30)]
    a = run(7)
    assert a == run(7) and 0 < a.count(503) < 30
    assert a != run(8)


def test_get_logs_range_refusal(harness_chain: AnvilChain, fault_proxy: FaultProxy, weth_logs: dict[str, Any]) -> None:
    """Hosted-node behaviour: eth_getLogs over more than 500 blocks is refused with -32005, tags and
    hex numbers resolved; narrower queries pass; in a batch only the wide call is refused."""
    fault_proxy.limit_log_range(500)
    client = web3_for(fault_proxy.uri)
    start = weth_logs["fromBlock"]
    with pytest.raises(Web3RPCError, match="query exceeds max block range 500") as refused:
        client.eth.get_logs({**weth_logs, "fromBlock": start, "toBlock": "latest"})
    assert refused.value.rpc_response["error"]["code"] == -32005
    assert is_range_refusal(refused.value) and not is_transient(refused.value)
    assert len(client.eth.get_logs({**weth_logs, "fromBlock": start, "toBlock": start + 499})) == 3  # 0, 1, 499
    assert len(client.eth.get_logs({**weth_logs, "fromBlock": hex(start + 1500), "toBlock": hex(start + 1999)})) == 2
    head = client.eth.block_number
    assert isinstance(client.eth.get_logs({**weth_logs, "fromBlock": hex(head - 499), "toBlock": "latest"}), list)
    with pytest.raises(Web3RPCError, match="-32005"):
        client.eth.get_logs({**weth_logs, "fromBlock": hex(head - 500), "toBlock": "latest"})
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs",
              "params": [{"fromBlock": hex(start), "toBlock": hex(start + 500), "topics": [Web3.to_hex(DEPOSIT_TOPIC)]}]},
             {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": []},
             {"jsonrpc": "2.0", "id": 3, "method": "eth_getLogs",
              "params": [{"fromBlock": hex(start), "toBlock": hex(start + 1), "topics": [Web3.to_hex(DEPOSIT_TOPIC)]}]}]
    answers = requests.post(fault_proxy.uri, json=batch, timeout=5).json()
    assert [a["id"] for a in answers] == [1, 2, 3]
    assert answers[0]["error"]["code"] == -32005 and "result" in answers[1] and len(answers[2]["result"]) == 2
    assert fault_proxy.faults["log_range"] == 3


# -- keeper.logs.get_logs through the proxy -----------------------------------------------------------
def test_unbounded_get_logs_fails_through_a_range_limited_node(fault_proxy: FaultProxy,
                                                               weth_logs: dict[str, Any]) -> None:
    """The old code path (one eth_getLogs over the whole range) fails against a hosted-style node."""
    fault_proxy.limit_log_range(500)
    with pytest.raises(Web3RPCError, match="-32005"):
        web3_for(fault_proxy.uri).eth.get_logs(weth_logs)


def test_chunked_get_logs_equals_a_direct_call(harness_chain: AnvilChain, fault_proxy: FaultProxy,
                                               weth_logs: dict[str, Any]) -> None:
    direct = list(harness_chain.w3.eth.get_logs(weth_logs))
    assert len(direct) == len(DEPOSIT_OFFSETS)
    assert [log["blockNumber"] - weth_logs["fromBlock"] for log in direct] == list(DEPOSIT_OFFSETS)
    fault_proxy.limit_log_range(500)
    chunked = get_logs(web3_for(fault_proxy.uri), weth_logs, max_range=RANGE_BLOCKS)
    assert chunked == direct
    # 2,000 refused, 1,000 refused, then four windows of 500 (the halved size is kept)
    assert fault_proxy.faults["log_range"] == 2 and fault_proxy.requests["eth_getLogs"] == 6
    # windows of 7 blocks (not a divisor of the range) give the same logs too
    assert get_logs(web3_for(fault_proxy.uri), weth_logs, max_range=7) == direct


def test_refused_minimum_window_raises(fault_proxy: FaultProxy, weth_logs: dict[str, Any]) -> None:
    fault_proxy.limit_log_range(500)
    with pytest.raises(LogRangeError, match="min_range=1000") as refused:
        get_logs(web3_for(fault_proxy.uri), weth_logs, max_range=RANGE_BLOCKS, min_range=1000)
    assert (refused.value.from_block, refused.value.to_block) == (weth_logs["fromBlock"], weth_logs["fromBlock"] + 999)


def test_transport_errors_are_retried_then_reraised(harness_chain: AnvilChain, fault_proxy: FaultProxy,
                                                   weth_logs: dict[str, Any]) -> None:
    direct = list(harness_chain.w3.eth.get_logs(weth_logs))
    client = web3_for(fault_proxy.uri)
    fault_proxy.http_error(503, "eth_getLogs", count=1)
    fault_proxy.http_error(429, "eth_getLogs", count=1)
    fault_proxy.drop_response("eth_getLogs", count=1)
    assert get_logs(client, weth_logs, max_range=RANGE_BLOCKS, attempts=4, **FAST) == direct
    assert fault_proxy.faults == {"http_503": 1, "http_429": 1, "drop": 1}
    fault_proxy.clear()
    fault_proxy.http_error(503, "eth_getLogs", count=None)
    before = fault_proxy.requests["eth_getLogs"]
    with pytest.raises(requests.HTTPError, match="503"):
        get_logs(client, weth_logs, max_range=RANGE_BLOCKS, attempts=3, **FAST)
    assert fault_proxy.requests["eth_getLogs"] - before == 3


def test_get_logs_under_seeded_chaos(harness_chain: AnvilChain, weth_logs: dict[str, Any]) -> None:
    """Range limit, random 503s, lost replies and latency together: the same logs as a direct call."""
    direct = list(harness_chain.w3.eth.get_logs(weth_logs))
    with FaultProxy(harness_chain.uri, seed=1) as proxy:
        proxy.limit_log_range(250)
        proxy.http_error(503, count=None, probability=0.2)
        proxy.drop_response("eth_getLogs", count=None, probability=0.1)
        proxy.delay(0.05, count=None, probability=0.1)
        assert get_logs(web3_for(proxy.uri), weth_logs, max_range=RANGE_BLOCKS, attempts=10, **FAST) == direct
        # 2,000, 1,000 and 500 refused once each (more if a refusal's reply was then lost, and re-asked)
        assert proxy.faults["log_range"] >= 3 and proxy.faults["http_503"] + proxy.faults["drop"] > 0


@pytest.mark.parametrize(("error", "refusal"), [
    (ValueError({"code": -32005, "message": "query exceeds max block range 500"}), True),
    (ValueError({"code": -32005, "message": "limit exceeded"}), True),
    (ValueError({"code": -32602, "message": "invalid params: block range too large"}), True),
    (ValueError({"code": -32602, "message": "invalid argument 0: hex string has odd length"}), False),
    (ValueError({"code": -32000, "message": "query returned more than 10000 results"}), True),
    (ValueError({"code": -32600, "message": "eth_getLogs is limited to a 10,000 range"}), True),
    (ValueError("Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range"), True),
    (ValueError({"code": -32005, "message": "daily request count exceeded, request rate limited"}), False),
    (ValueError({"code": -32000, "message": "execution reverted"}), False),
])
def test_range_refusal_detection(error: Exception, refusal: bool) -> None:
    assert is_range_refusal(error) is refusal


def test_get_logs_rejects_bad_arguments(harness_chain: AnvilChain) -> None:
    w3 = harness_chain.w3
    with pytest.raises(ValueError, match="min_range"):
        get_logs(w3, {"fromBlock": 0, "toBlock": 1}, max_range=1, min_range=2)
    with pytest.raises(ValueError, match="blockHash"):
        get_logs(w3, {"blockHash": "0x" + "00" * 32}, max_range=10)
    with pytest.raises(TypeError, match="fromBlock"):
        get_logs(w3, {"fromBlock": "soon", "toBlock": 1}, max_range=10)
    assert get_logs(w3, {"fromBlock": 5, "toBlock": 4}, max_range=10) == []


# -- Anvil controls (what Anvil 1.7.1 does, as the module docstring of chain_harness says) -------------
def test_reorg_drops_the_replaced_blocks_transactions(fresh: AnvilChain) -> None:
    w3 = fresh.w3
    first = sign(w3)
    w3.eth.send_raw_transaction(first)
    mine(w3, 2)
    second = sign(w3)
    w3.eth.send_raw_transaction(second)  # automine: block 4
    head, old = w3.eth.block_number, w3.eth.get_block(4)["hash"]
    reorg(w3, 2)
    assert w3.eth.block_number == head and w3.eth.get_block(4)["hash"] != old
    assert receipt_block(w3, tx_hash(first)) == 1
    assert receipt_block(w3, tx_hash(second)) is None and rpc(w3, "eth_getTransactionByHash", tx_hash(second)) is None
    assert pool_hashes(w3) == set() and w3.eth.get_transaction_count(ALICE.address) == 1
    # the same transaction into another block of a reorg: pass it in txs (offset 0 = head - depth + 1)
    reorg(w3, 2, [(second, 1)])
    assert receipt_block(w3, tx_hash(second)) == head and w3.eth.block_number == head
    # a transaction request object is signed by Anvil (unlocked account)
    reorg(w3, 1, [({"from": ALICE.address, "to": BOB_ADDRESS, "value": hex(7)}, 0)])
    assert len(w3.eth.get_block(head)["transactions"]) == 1 and receipt_block(w3, tx_hash(second)) is None
    with pytest.raises(RPCError, match="depth-1"):
        reorg(w3, 1, [(sign(w3), 1)])
    with pytest.raises(RPCError, match="must not exceed current chain height"):
        reorg(w3, head + 1)


def test_reorg_and_rollback_keep_valid_pending_transactions_and_discard_orphans(fresh: AnvilChain) -> None:
    w3 = fresh.w3
    set_automine(w3, False)
    mined = sign(w3)
    w3.eth.send_raw_transaction(mined)
    mine(w3)
    orphan = sign(w3)  # nonce 1: valid only while `mined` (nonce 0) is on chain
    w3.eth.send_raw_transaction(orphan)
    bob = Account.from_key(KEYS[1])
    other = bob.sign_transaction({"to": ALICE.address, "value": 1, "gas": 21_000, "maxFeePerGas": 50 * 10**9,
                                  "maxPriorityFeePerGas": 10**9, "nonce": 0, "chainId": 31337}).raw_transaction
    w3.eth.send_raw_transaction(other)
    rollback(w3, 1)
    assert w3.eth.block_number == 0 and receipt_block(w3, tx_hash(mined)) is None
    assert pool_hashes(w3) == {tx_hash(orphan), tx_hash(bytes(other))}  # still listed as pending
    block = mine(w3)
    assert receipt_block(w3, tx_hash(bytes(other))) == block   # still valid: mined
    assert receipt_block(w3, tx_hash(orphan)) is None          # nonce gap: silently discarded
    assert pool_hashes(w3) == set() and pool_hashes(w3, "queued") == set()
    # the rolled-back transaction's bytes are accepted again
    w3.eth.send_raw_transaction(mined)
    assert receipt_block(w3, tx_hash(mined)) is None and tx_hash(mined) in pool_hashes(w3)
    mine(w3)
    assert receipt_block(w3, tx_hash(mined)) == block + 1
    # a nonce gap from the start: queued, and it stays queued
    gap = sign(w3, nonce=5)
    w3.eth.send_raw_transaction(gap)
    mine(w3)
    assert tx_hash(gap) in pool_hashes(w3, "queued")


def test_drop_tx_base_fee_and_interval_mining(fresh: AnvilChain) -> None:
    w3 = fresh.w3
    set_automine(w3, False)
    raw = sign(w3)
    w3.eth.send_raw_transaction(raw)
    assert drop_tx(w3, tx_hash(raw)) is True and pool_hashes(w3) == set()
    assert drop_tx(w3, "0x" + "11" * 32) is False
    mine(w3)
    assert receipt_block(w3, tx_hash(raw)) is None
    set_next_base_fee(w3, 7 * 10**9)
    mine(w3)
    assert w3.eth.get_block("latest")["baseFeePerGas"] == 7 * 10**9
    with pytest.raises(RPCError, match="expected u64"):
        rpc(w3, "evm_setIntervalMining", "0x1")
    set_interval_mining(w3, 1)
    assert rpc(w3, "anvil_getAutomine") is False
    head = w3.eth.block_number
    deadline = time.monotonic() + 5
    while w3.eth.block_number < head + 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert w3.eth.block_number >= head + 2
    set_interval_mining(w3, 0)
    head = w3.eth.block_number
    time.sleep(1.3)
    assert w3.eth.block_number == head
    set_automine(w3, True)
    assert rpc(w3, "anvil_getAutomine") is True
