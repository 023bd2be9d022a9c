"""Operator alerts (macrostrike.keeper.alerts) through Apprise's ``json://`` to a loopback HTTP receiver
started by the test: the message carries the condition's fields; one message per condition per
interval and a "resolved" one when it clears; a dead receiver (refused, or one that never answers)
neither stops nor stalls the keeper; the keeper's conditions on Anvil (a low signer balance, a stuck
intent, a halt) reach the receiver."""

import json
import queue
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from web3 import Web3

from macrostrike.keeper.alerts import Alerter, KeeperAlerts
from macrostrike.keeper.journal import Journal
from macrostrike.keeper.metrics import Metrics
from macrostrike.keeper.runner import KeeperHalted, Runner
from macrostrike.keeper.settings import KeeperSettings, load_settings
from macrostrike.keeper.signers import SignerPool
from macrostrike.keeper.txmanager import TxManager, subject_of
from macrostrike.keeper.txsender import TxSender
from ops_helpers import ape

#: The bound stated in the module docstring: raising an alert never holds the keeper's tick longer
#: than this (queuing is microseconds; the margin is for a loaded 2-core machine), whatever the channels do.
TICK_BOUND_S = 0.5
ETH = 10**18


class Receiver:
    """A loopback HTTP server that keeps every JSON body posted to it."""

    def __init__(self):
        self.messages: queue.Queue = queue.Queue()
        received = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.put((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="hook"):
        return f"json://127.0.0.1:{self.server.server_address[1]}/{path}"

    def next(self, timeout=10):
        return self.messages.get(timeout=timeout)

    def none_within(self, seconds):
        try:
            got = self.messages.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected message {got}")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def hanging_port():
    """A port that accepts connections (the kernel's backlog) and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield s.getsockname()[1]
    s.close()


def refused_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: connections are refused


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_alert_arrives_with_the_conditions_fields(receiver):
    alerter = Alerter([receiver.url("ops")], interval_s=60)
    assert alerter.fire("breaker", "circuit breaker tripped", level="failure", block=42, total_equity=123_000_000)
    path, body = receiver.next()
    alerter.close()
    assert path == "/ops"
    assert body["title"] == "[macrostrike] circuit breaker tripped" and body["type"] == "failure"
    assert body["message"].splitlines() == ["condition: breaker", "block: 42", "total_equity: 123000000"]
    assert alerter.counts["sent"] == 1 and alerter.counts["failed"] == 0


def test_one_alert_per_condition_per_interval_then_resolved(receiver):
    clock = Clock()
    alerter = Alerter([receiver.url()], interval_s=300, clock=clock)
    assert alerter.fire("low_balance:0xabc", "signer low on gas", balance_eth="0.01")
    assert not alerter.fire("low_balance:0xabc", "signer low on gas", balance_eth="0.009")  # deduplicated
    assert alerter.fire("stuck:7", "transaction stuck", intent=7)  # another condition: its own key
    assert {receiver.next()[1]["message"].splitlines()[0] for _ in range(2)} == \
        {"condition: low_balance:0xabc", "condition: stuck:7"}
    clock.now += 299
    assert not alerter.fire("low_balance:0xabc", "signer low on gas")
    receiver.none_within(0.3)
    clock.now += 1  # one interval after the first: a reminder while it holds
    assert alerter.fire("low_balance:0xabc", "signer low on gas", balance_eth="0.008")
    assert "balance_eth: 0.008" in receiver.next()[1]["message"]
    assert alerter.resolve("low_balance:0xabc", balance_eth="1.0")
    _, body = receiver.next()
    assert body["title"] == "[macrostrike] RESOLVED: signer low on gas" and body["type"] == "success"
    assert "balance_eth: 1.0" in body["message"]
    assert not alerter.resolve("low_balance:0xabc")  # resolved once
    assert alerter.fire("low_balance:0xabc", "signer low on gas")  # back again: alerted at once
    receiver.next()
    # events: one per key per interval, nothing to resolve
    assert alerter.event("liquidated:strike:1", "bot 1 liquidated") and not alerter.event("liquidated:strike:1", "x")
    receiver.next()
    alerter.close()
    assert alerter.counts["suppressed"] == 3 and alerter.counts["sent"] == alerter.counts["queued"] == 6


def test_dead_receivers_neither_stop_nor_stall_the_keeper(receiver, hanging_port):
    """A refused channel, a channel that never answers (read timeout 1 s) and a live one: every
    ``fire`` returns within the bound, the live one still gets its messages, failures are counted
    (``keeper_alerts_total{outcome="failed"}``), a full queue drops (counted) instead of waiting."""
    metrics = Metrics()
    urls = [f"json://127.0.0.1:{refused_port()}/x", f"json://127.0.0.1:{hanging_port}/x?rto=1&cto=1",
            receiver.url()]
    alerter = Alerter(urls, interval_s=0.0001, queue_size=2, metrics=metrics)
    started = time.perf_counter()
    for n in range(5):
        t0 = time.perf_counter()
        alerter.fire(f"c{n}", "condition", n=n)
        assert time.perf_counter() - t0 < TICK_BOUND_S
    assert time.perf_counter() - started < TICK_BOUND_S
    assert receiver.next(timeout=15)[1]["message"].startswith("condition: c0")  # the live channel still works
    assert alerter.flush(20)
    alerter.close()
    delivered = alerter.counts["queued"]
    assert alerter.counts["dropped"] == 5 - delivered >= 1  # the hanging channel held the worker
    assert alerter.counts["failed"] == 2 * delivered and alerter.counts["sent"] == delivered
    sample = metrics.registry.get_sample_value
    assert sample("keeper_alerts_total", {"outcome": "failed"}) == 2 * delivered
    assert sample("keeper_alerts_total", {"outcome": "dropped"}) == 5 - delivered


def test_a_channel_that_raises_is_counted_not_raised(receiver):
    class Broken:
        name = "broken://"

        def send(self, alert):
            raise RuntimeError("boom")

    alerter = Alerter(channels=[Broken()], interval_s=1)
    assert alerter.fire("k", "t")
    assert alerter.flush(5)
    alerter.close()
    assert alerter.counts["failed"] == 1


def test_settings_list_urls_from_config_and_environment(monkeypatch, receiver):
    assert KeeperSettings(alerts=[receiver.url()]).alerts == [receiver.url()]
    monkeypatch.setenv("MACROSTRIKE_KEEPER_ALERTS", f"{receiver.url('a')} {receiver.url('b')}")
    assert KeeperSettings().alerts == [receiver.url("a"), receiver.url("b")]
    monkeypatch.setenv("MACROSTRIKE_KEEPER_ALERTS", json.dumps([receiver.url("c")]))
    assert KeeperSettings().alerts == [receiver.url("c")]
    monkeypatch.setenv("MACROSTRIKE_KEEPER_ALERTS", "nosuchscheme://secret-token")
    with pytest.raises(ValueError) as err:  # the keeper's one-line start-up error, without the URL's secrets
        load_settings()
    assert str(err.value) == ("invalid keeper setting 'alerts' (ape-config.yaml keeper.alerts or "
                              "MACROSTRIKE_KEEPER_ALERTS): Value error, entry 1: not an Apprise URL Apprise "
                              "can load (scheme 'nosuchscheme')")


# -- the keeper's conditions on Anvil ------------------------------------------------------------------
def set_balance(chain, address, wei):
    chain.provider.web3.provider.make_request("anvil_setBalance", [str(address), hex(wei)])


def pool_of(accounts, journal, index=7, low_eth=0.05):
    sender = TxSender(accounts[index], priority_fee_wei=10**9, journal=journal, timeout_s=30, poll_s=0.02)
    return SignerPool([sender], max_ops=None, low_balance_wei=int(low_eth * ETH)), sender


def test_low_signer_balance_alerts_then_resolves_on_anvil(chain, accounts, receiver):
    journal = Journal()
    pool, sender = pool_of(accounts, journal)
    txm = TxManager(chain.provider.web3, journal, sender.fees)
    watch = KeeperAlerts(Alerter([receiver.url()], interval_s=3600), chain.provider.web3, txm, pool)
    set_balance(chain, sender.address, ETH // 100)  # 0.01 ETH < 0.05
    chain.mine()
    t0 = time.perf_counter()
    watch.on_block(chain.blocks.head.number, [])
    assert time.perf_counter() - t0 < TICK_BOUND_S
    _, body = receiver.next()
    assert body["title"] == f"[macrostrike] signer {sender.address} low on gas"
    assert "balance_eth: 0.010000" in body["message"] and "threshold_eth: 0.050000" in body["message"]
    watch.on_block(chain.blocks.head.number, [])  # still low: no second message within the interval
    receiver.none_within(0.3)
    set_balance(chain, sender.address, 10 * ETH)
    watch.on_block(chain.blocks.head.number, [])
    _, body = receiver.next()
    assert body["title"].startswith("[macrostrike] RESOLVED: signer") and "low on gas" in body["title"]
    watch.alerter.close()


def test_a_child_breaker_copy_out_of_sync_alerts_then_resolves(chain, accounts, receiver):
    """The risk job's ``breaker_out_of_sync`` observation (tests/test_keeper_items.py item 12) is a
    failure alert naming the children; its ``breaker_in_sync`` resolves it."""
    from macrostrike.keeper.journal import Decision

    journal = Journal()
    pool, sender = pool_of(accounts, journal)
    watch = KeeperAlerts(Alerter([receiver.url()], interval_s=3600), chain.provider.web3,
                         TxManager(chain.provider.web3, journal, sender.fees), pool)
    watch.check_decisions(7, [Decision(7, "risk", "observe", "breaker_out_of_sync", None,
                                       {"master": True, "children": ["long", "amm"]})])
    _, body = receiver.next()
    assert body["title"] == "[macrostrike] child breaker copy differs from the master's (tripped): long, amm"
    assert body["type"] == "failure" and "condition: breaker_sync" in body["message"]
    watch.check_decisions(9, [Decision(9, "risk", "observe", "breaker_in_sync", None, {"master": True})])
    _, body = receiver.next()
    assert body["title"].startswith("[macrostrike] RESOLVED: child breaker copy differs")
    watch.alerter.close()


@pytest.fixture
def rpc(chain):
    w3 = Web3(Web3.HTTPProvider(chain.provider.uri))
    yield w3
    w3.provider.make_request("evm_setAutomine", [True])


def test_stuck_intent_alerts_then_resolves_when_mined_on_anvil(chain, accounts, receiver, rpc, stranger):
    """An intent whose transaction the node lost stays open while blocks pass: after
    ``stuck_blocks`` blocks the operator is told (intent, signer, nonce, hash); once the manager
    re-broadcasts it and it is mined, "resolved"."""
    journal = Journal()
    pool, sender = pool_of(accounts, journal, index=6, low_eth=0)
    web3 = chain.provider.web3
    txm = TxManager(web3, journal, sender.fees, stuck_after_s=3600)
    txm.add_senders([sender])
    txm.register("test", lambda outcome: None)
    watch = KeeperAlerts(Alerter([receiver.url()], interval_s=3600), web3, txm, pool, stuck_blocks=3)
    rpc.provider.make_request("evm_setAutomine", [False])
    header = web3.eth.get_block("latest")
    intent = txm.submit("test", subject_of(str(stranger.address), "pay"), "pay", sender, str(stranger.address), b"",
                        21_000, header)
    rpc.provider.make_request("anvil_dropTransaction", [intent.tx_hash])  # the node lost it
    for _ in range(2):
        rpc.provider.make_request("evm_mine", [])
        watch.on_block(web3.eth.block_number, [])
    receiver.none_within(0.3)  # open 2 blocks: not stuck yet
    rpc.provider.make_request("evm_mine", [])
    watch.on_block(web3.eth.block_number, [])
    _, body = receiver.next()
    assert body["title"] == "[macrostrike] transaction stuck for 3 blocks"
    lines = body["message"].splitlines()
    assert lines[0] == f"condition: stuck:{intent.id}"
    assert f"intent: {intent.id}" in lines and f"nonce: {intent.nonce}" in lines and f"tx: {intent.tx_hash}" in lines
    txm.settle(web3.eth.get_block("latest"))  # the pool lost it: broadcast again
    rpc.provider.make_request("evm_mine", [])
    txm.settle(web3.eth.get_block("latest"))
    assert not txm.open_intents()
    watch.on_block(web3.eth.block_number, [])
    _, body = receiver.next()
    assert body["title"] == "[macrostrike] RESOLVED: transaction stuck for 3 blocks" and body["type"] == "success"
    watch.alerter.close()
    txm.close()


def test_a_halt_is_alerted_before_the_runner_raises(chain, accounts, receiver):
    class DeadJob:
        name = "keeper"

        def tick(self):
            raise ConnectionError("node down")

    journal = Journal()
    pool, sender = pool_of(accounts, journal, low_eth=0)
    watch = KeeperAlerts(Alerter([receiver.url()]), chain.provider.web3, TxManager(chain.provider.web3, journal,
                                                                                     sender.fees), pool)
    runner = Runner(chain.provider.web3, DeadJob(), max_consecutive_errors=2, sleep=lambda s: None,
                    on_halt=lambda err: watch.halted(err, 5))
    with pytest.raises(KeeperHalted):
        runner.run(install_signals=False)
    _, body = receiver.next(timeout=1)  # flushed before the raise: already there
    assert body["title"] == "[macrostrike] keeper halted" and body["type"] == "failure"
    assert "error: 2 consecutive errors, the last: ConnectionError: node down" in body["message"]
    watch.alerter.close()


# -- `ape keeper run` with keeper.alerts (a subprocess against a separate Anvil) ------------------------
@pytest.fixture(scope="module")
def deployed(anvil_node, tmp_path_factory):
    env = {"MACROSTRIKE_DEPLOYMENTS": str(tmp_path_factory.mktemp("alerts-deployments"))}
    deploy = ape("run", "deploy", "--network", anvil_node, "--bots", "2", env=env)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    return env


@pytest.mark.slow
def test_cli_run_sends_alerts(anvil_node, deployed, receiver, tmp_path):
    """`ape keeper run` reads MACROSTRIKE_KEEPER_ALERTS and alerts from its loop: with a threshold
    above every balance, each signer's "low on gas" reaches the receiver before the run exits."""
    env = {**deployed, "MACROSTRIKE_KEEPER_ALERTS": receiver.url("run"),
           "MACROSTRIKE_KEEPER_SIGNER_LOW_BALANCE_ETH": "1000000"}
    proc = ape("keeper", "run", "--network", anvil_node, "--blocks", "1", "--dry-run",
               "--journal", f"sqlite:///{tmp_path / 'k.sqlite'}", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"operator alerts to {receiver.url('run')}" in proc.stderr + proc.stdout
    messages = [receiver.next(timeout=5) for _ in range(3)]  # the three default signers of a local chain
    assert {path for path, _ in messages} == {"/run"}
    assert all(m["title"].endswith("low on gas") and "threshold_eth: 1000000.000000" in m["message"]
               for _, m in messages)
