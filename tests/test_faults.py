"""Fault injection against a real Anvil and the real `ape keeper run` daemon (subprocesses).

One Anvil (``--state``: dumped on exit, loaded on start) holds a deployed system with 3 AMM bots.
The test dislocates DEX A's pool (USDC minted into the pair, then ``sync()``), which opens an
arbitrage the keeper takes. Faults:

1. Anvil is stopped mid-run and restarted from its dumped state on the same port: the keeper
   backs off, recovers (reconcile, nonce re-sync) and trades again.
2. The keeper is killed with SIGKILL mid-run and started again: pending transactions are
   reconciled, the missed blocks backfilled, and no trade is sent twice.

Checked at the end: every ``ArbitrageExecuted`` on chain is exactly one ``mined`` transaction in the
journal and vice versa, no (signer, nonce) is mined twice, nothing is left ``pending``.
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from eth_abi import decode, encode
from eth_account import Account
from eth_utils import event_signature_to_log_topic, function_signature_to_4byte_selector
from web3 import Web3

from conftest import ANVIL, free_port
from macrostrike.deploy.manifest import Manifest
from macrostrike.keeper.journal import Journal
from ops_helpers import APE, ROOT, ape

pytestmark = pytest.mark.slow

OWNER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # Anvil test account 0
EXECUTED = event_signature_to_log_topic(
    "ArbitrageExecuted(uint256,address,address,uint256,uint256,uint256,uint256)")


class Node:
    """An Anvil process on a fixed port whose state survives restarts (``--state``)."""

    def __init__(self, state: Path) -> None:
        self.port, self.state, self.proc = free_port(), state, None
        self.uri = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([str(ANVIL), "--port", str(self.port), "--state", str(self.state), "--silent"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        w3 = Web3(Web3.HTTPProvider(self.uri))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                _ = w3.eth.block_number
                return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.1)
        raise RuntimeError("anvil did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)  # anvil dumps --state on a clean exit
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    node = Node(tmp / "anvil-state.json")
    node.start()
    env = {"MACROSTRIKE_DEPLOYMENTS": str(tmp),
           "MACROSTRIKE_KEEPER_POLL_INTERVAL_S": "0.1",
           "MACROSTRIKE_KEEPER_SIGNER_MAX_OPS": "1000",
           "MACROSTRIKE_KEEPER_BACKOFF_BASE_S": "0.2",
           "MACROSTRIKE_KEEPER_BACKOFF_MAX_S": "1",
           "MACROSTRIKE_KEEPER_MAX_CONSECUTIVE_ERRORS": "200"}
    deployed = ape("run", "deploy", "--network", node.uri, "--bots", "3", "--long-bots", "0", "--short-bots", "0", env=env)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    manifest = Manifest.from_json(json.loads((tmp / "31337.json").read_text()))
    yield node, env, manifest, tmp
    if node.proc.poll() is None:
        node.proc.kill()


def dislocate(w3: Web3, manifest) -> None:
    """Mint 2% of DEX A's USDC reserve into the pair and ``sync()``: WBTC gets dearer on DEX A."""
    owner = Account.from_key(OWNER_KEY)
    pair, usdc = manifest.address("dex_a_pair"), manifest.address("usdc")
    token0 = decode(["address"], w3.eth.call({"to": pair, "data": "0x0dfe1681"}))[0]
    r0, r1, _ = decode(["uint112", "uint112", "uint32"], w3.eth.call({"to": pair, "data": "0x0902f1ac"}))
    reserve = r0 if token0.lower() == usdc.lower() else r1
    mint = function_signature_to_4byte_selector("mint(address,uint256)") + encode(["address", "uint256"],
                                                                                 [pair, reserve // 50])
    for to, data in ((usdc, mint), (pair, bytes.fromhex("fff6cae9"))):
        w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": owner.address, "to": to, "data": data}))


def keeper(node, env, journal_url, log):
    return subprocess.Popen([APE, "keeper", "run", "--network", node.uri, "--journal", journal_url],
                            cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)


def wait_until(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")  # the keeper's log is in the test's tmp dir


def mined(journal_url):
    journal = Journal(journal_url)
    try:
        return journal.transactions("mined")
    finally:
        journal.close()


def trade_round(node, manifest, journal_url, before):
    w3 = Web3(Web3.HTTPProvider(node.uri))
    dislocate(w3, manifest)
    wait_until(lambda: len(mined(journal_url)) > before, 90, "the keeper to trade the dislocation")
    return len(mined(journal_url))


def test_anvil_restart_and_keeper_kill9(world):
    node, env, manifest, tmp = world
    journal_url = f"sqlite:///{tmp / 'keeper.sqlite'}"
    log_path = tmp / "keeper.log"
    with open(log_path, "w") as log:
        proc = keeper(node, env, journal_url, log)
        try:
            count = trade_round(node, manifest, journal_url, 0)

            # 1. the node goes away mid-run and comes back with its state
            node.stop()
            time.sleep(2.0)  # the keeper meets connection errors and backs off
            assert proc.poll() is None, "the keeper must survive a node outage"
            node.start()
            count = trade_round(node, manifest, journal_url, count)

            # 2. kill -9 the keeper (no chance to clean up), trade while it is down, restart it
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            w3 = Web3(Web3.HTTPProvider(node.uri))
            dislocate(w3, manifest)  # an opportunity while nobody watches: the restart takes it
            proc = keeper(node, env, journal_url, log)
            count = trade_round(node, manifest, journal_url, count)
            count = trade_round(node, manifest, journal_url, count)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    output = log_path.read_text()
    assert "Traceback" not in output, output[-3000:]
    assert output.count("backfilled_blocks=") >= 1  # the graceful stop printed its summary

    w3 = Web3(Web3.HTTPProvider(node.uri))
    amm = manifest.address("amm")
    logs = w3.eth.get_logs({"address": amm, "fromBlock": 0, "toBlock": "latest",
                            "topics": ["0x" + EXECUTED.hex()]})
    on_chain = sorted("0x" + bytes(log["transactionHash"]).hex() for log in logs)
    journal = Journal(journal_url)
    rows = journal.transactions()
    journal.close()
    journalled = sorted(t["tx_hash"] for t in rows if t["status"] == "mined")
    assert on_chain == journalled, "every trade on chain is one mined journal row, and vice versa"
    assert len(on_chain) >= count >= 4  # the keeper may take more trades of a dislocation after we counted
    pairs = [(t["signer"], t["nonce"]) for t in rows if t["status"] == "mined"]
    assert len(pairs) == len(set(pairs)), "no nonce used twice"
    assert not [t for t in rows if t["status"] == "pending"], rows
