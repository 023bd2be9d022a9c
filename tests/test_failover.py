"""Failover proof (issue 16): two ``ape keeper run`` processes on one PostgreSQL journal, a market
that keeps producing opportunities on an Anvil with interval mining, and the leader taken away four
ways while it trades:

1. the leader SIGKILLs itself right after it committed a pending attempt, before broadcasting it
   (fault-injection point ``MACROSTRIKE_FAULT_INJECT=kill_after_pending_write``): the standby takes
   over and settles that intent through the restart path (re-broadcasts the journalled bytes);
2. ``kill -9`` of the leader mid-run;
3. SIGSTOP of the leader past the lease (``leader_lease_s`` 3 s): the server ends its lock session,
   the standby takes over; on SIGCONT the deposed leader finds its epoch gone and exits (code 75)
   having written (and so sent) nothing after it lost its epoch;
4. SIGTERM of the leader: it releases the lock at once (handover);
5. the leader SIGSTOPs itself after signing, before its pending write
   (``stop_before_pending_write``); the standby takes over after the lease; on SIGCONT that write
   is refused (fenced) and the deposed keeper exits 75 — its signed transaction never sent.

Each killed or deposed keeper is started again as the new standby (what a supervisor does). At the
end the chaos soak's audit (tests/chaos_helpers.py ``audit``: every keeper transaction on chain
journalled exactly once, no action applied twice, nothing left open) must hold, every attempt must
carry the epoch current when it was written, and the takeover times (kill → the new leader's first
decision in the journal) are printed; target under 5 s.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from pathlib import Path

import pytest
from chain_harness import anvil_chain, set_interval_mining
from chaos_helpers import KeeperProcess, MarketDriver, audit, wait_until
from sqlalchemy import func, select
from web3 import Web3

from journal_helpers import fresh_database, postgres_server  # noqa: F401 - fixture
from macrostrike.deploy.manifest import Manifest
from macrostrike.keeper.journal import Journal, decisions_table, leader_epochs_table
from macrostrike.keeper.leader import EXIT_DEPOSED
from ops_helpers import ape

pytestmark = pytest.mark.slow

BOTS = 6
LEASE_S = 3.0
TAKEOVER_TARGET_S = 5.0
SEED = 20261126


def keeper_env(deployments: str) -> dict[str, str]:
    return {"MACROSTRIKE_DEPLOYMENTS": deployments,
            "MACROSTRIKE_KEEPER_POLL_INTERVAL_S": "0.2",
            "MACROSTRIKE_KEEPER_SIGNER_MAX_OPS": "1000",
            "MACROSTRIKE_KEEPER_BACKOFF_BASE_S": "0.2",
            "MACROSTRIKE_KEEPER_BACKOFF_MAX_S": "1",
            "MACROSTRIKE_KEEPER_MAX_CONSECUTIVE_ERRORS": "1000",
            "MACROSTRIKE_KEEPER_CONFIRMATIONS": "2",
            "MACROSTRIKE_KEEPER_STUCK_AFTER_S": "6",
            "MACROSTRIKE_KEEPER_LEADER_LEASE_S": str(LEASE_S),
            "MACROSTRIKE_KEEPER_LEADER_POLL_S": "0.2"}


class Group:
    """The journal as the test sees it (its own connection): leader, epochs, decisions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.journal = Journal(url)
        #: epoch -> Unix seconds it began (read at each takeover)
        self.epochs: dict[int, float] = {}

    def current(self) -> tuple[int, str, float] | None:
        with self.journal.engine.connect() as conn:
            row = conn.execute(select(leader_epochs_table.c.epoch, leader_epochs_table.c.holder,
                                      leader_epochs_table.c.since)).first()
        return None if row is None else (int(row[0]), row[1], float(row[2]))

    def decisions(self) -> int:
        with self.journal.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(decisions_table)).scalar())

    def wait_leader(self, keeper: KeeperProcess, above_epoch: int, timeout_s: float = 90) -> int:
        """Wait until ``keeper`` leads at an epoch above ``above_epoch``; returns the epoch."""
        def leads() -> bool:
            now = self.current()
            return now is not None and now[0] > above_epoch and now[1].endswith(f":{keeper.proc.pid}")
        wait_until(leads, timeout_s, f"{keeper.log_path.name} to lead above epoch {above_epoch}", step_s=0.02)
        epoch, _holder, since = self.current()
        self.epochs[epoch] = since
        return epoch

    def takeover(self, successor: KeeperProcess, epoch: int, t0: float, baseline: int) -> dict[str, float]:
        """Seconds from ``t0`` (monotonic: the old leader's kill/stop) until ``successor`` leads and
        until its first decision is journalled."""
        new_epoch = self.wait_leader(successor, epoch)
        lead_s = time.monotonic() - t0
        wait_until(lambda: self.decisions() > baseline, 60, "the new leader's first decision", step_s=0.02)
        return {"epoch": new_epoch, "to_leader_s": round(lead_s, 2), "to_first_decision_s": round(time.monotonic() - t0, 2)}


class Market(threading.Thread):
    """Opens a price gap every 1.5–3 s (its own web3 to Anvil) until stopped."""

    def __init__(self, driver: MarketDriver, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.driver, self.rng, self.stop, self.paused = driver, rng, threading.Event(), threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stop.wait(self.rng.uniform(1.5, 3.0)):
            if self.paused.is_set():
                continue
            try:
                self.driver.gap()
            except Exception as err:  # noqa: BLE001 - reported at the end
                self.errors.append(f"{type(err).__name__}: {err}")


def status_and_health(uri: str, url: str, env: dict[str, str]) -> tuple[list, list]:
    """The keepers as ``ape keeper status --journal`` (JSON) and ``ape keeper health`` show them."""
    status = ape("keeper", "status", "--network", uri, "--journal", url, "--format", "json", env=env)
    assert status.returncode == 0, status.stdout[-2000:] + status.stderr[-2000:]
    health = ape("keeper", "health", "--network", uri, "--journal", url, env=env)
    assert health.returncode == 0, health.stdout[-2000:] + health.stderr[-2000:]

    def shape(groups: list) -> list:  # without the ages, which differ between the two reads
        return [{"group": g["group"], "epoch": g["epoch"], "leader": g["leader"] and {"node": g["leader"]["node"]},
                 "standbys": [{"node": x["node"]} for x in g["standbys"]]} for g in groups]
    return shape(json.loads(status.stdout)["keepers"]), shape(json.loads(health.stdout)["leadership"])


def process_state(pid: int) -> str:
    """The state letter of ``pid`` in /proc (``T``: stopped)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


def exited(keeper: KeeperProcess, timeout_s: float) -> int:
    wait_until(lambda: not keeper.alive(), timeout_s, f"{keeper.log_path.name} to exit", step_s=0.02)
    return keeper._reap(5)


def test_failover_two_keepers_one_journal(postgres_server, tmp_path):  # noqa: F811 - the fixture
    rng = random.Random(SEED)
    url = fresh_database(postgres_server, "failover")
    started = time.monotonic()
    with anvil_chain() as node:
        w3 = node.w3
        env = keeper_env(str(tmp_path))
        deployed = ape("run", "deploy", "--network", node.uri, "--bots", str(BOTS), "--long-bots", "0",
                       "--short-bots", "0", env=env)
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
        manifest = Manifest.from_json(json.loads((tmp_path / "31337.json").read_text()))
        owner, signers = w3.eth.accounts[0], w3.eth.accounts[1:4]
        first_block = int(w3.eth.block_number) + 1
        set_interval_mining(w3, 1)
        group = Group(url)
        driver = MarketDriver(Web3(Web3.HTTPProvider(node.uri)), manifest, owner, rng, {a.lower() for a in signers},
                              url)
        market = Market(driver, rng)
        a = KeeperProcess(node.uri, url, {**env, "MACROSTRIKE_FAULT_INJECT": "kill_after_pending_write"},
                          tmp_path / "keeper-a.log")
        b = KeeperProcess(node.uri, url, env, tmp_path / "keeper-b.log")
        log: list[str] = []
        takeovers: dict[str, dict[str, float]] = {}
        deposed: dict[str, object] = {}
        try:
            a.start()
            epoch = group.wait_leader(a, 0, timeout_s=180)
            b.start()
            wait_until(lambda: "standby:" in b.since_start(), 180, "b to wait as a standby")
            operator_view = status_and_health(node.uri, url, env)
            assert [(g["epoch"], g["leader"]["node"].endswith(f":{a.proc.pid}"),
                     [s["node"].endswith(f":{b.proc.pid}") for s in g["standbys"]]) for g in operator_view[0]] == \
                [(1, True, [True])], operator_view
            assert operator_view[1] == operator_view[0], operator_view
            market.start()

            # 1. a dies right after committing a pending attempt, before its broadcast
            assert exited(a, 90) == -signal.SIGKILL, a.since_start()[-3000:]
            t0, baseline = time.monotonic(), group.decisions()
            orphan = [i for i in group.journal.open_intents()]
            assert len(orphan) == 1 and orphan[0].state == "sent", orphan
            takeovers["kill_after_pending_write"] = group.takeover(b, epoch, t0, baseline)
            epoch = takeovers["kill_after_pending_write"]["epoch"]
            log.append(f"a killed itself after writing intent {orphan[0].id}'s attempt; b leads at epoch {epoch}")
            a.env = env  # no more fault injection: a comes back as the standby
            a.start()

            # 2. kill -9 of the leader (b) mid-run, once it has traded
            wait_until(lambda: len(group.journal.intents()) >= 3, 60, "b to trade", step_s=0.1)
            wait_until(lambda: "standby:" in a.since_start(), 120, "a to wait as a standby")
            time.sleep(rng.uniform(1.0, 3.0))
            b.kill9()
            t0, baseline = time.monotonic(), group.decisions()
            takeovers["kill_-9"] = group.takeover(a, epoch, t0, baseline)
            epoch = takeovers["kill_-9"]["epoch"]
            log.append(f"b kill -9; a leads at epoch {epoch}")
            b.start()
            wait_until(lambda: "standby:" in b.since_start(), 120, "b to wait as a standby")

            # 3. SIGSTOP of the leader (a) past the lease; SIGCONT: it must find itself deposed
            time.sleep(rng.uniform(2.0, 4.0))
            stopped_epoch = epoch
            os.kill(a.proc.pid, signal.SIGSTOP)
            t0, baseline = time.monotonic(), group.decisions()
            takeovers["sigstop"] = group.takeover(b, epoch, t0, baseline)
            epoch = takeovers["sigstop"]["epoch"]
            time.sleep(2.0)  # b trades while a sleeps
            os.kill(a.proc.pid, signal.SIGCONT)
            t1 = time.monotonic()
            code = exited(a, 30)
            deposed = {"exit_code": code, "exit_after_sigcont_s": round(time.monotonic() - t1, 2),
                       "epoch": stopped_epoch, "fenced_writes_refused": a.since_start().count("Fenced")}
            log.append(f"a SIGSTOP/SIGCONT: b leads at epoch {epoch}; a exited {code}")
            assert code == EXIT_DEPOSED and "deposed:" in a.since_start(), a.since_start()[-3000:]
            a.start()
            wait_until(lambda: "standby:" in a.since_start(), 120, "a to wait as a standby")

            # 4. SIGTERM of the leader (b): the lock is released at once, a takes over
            time.sleep(rng.uniform(2.0, 4.0))
            t0 = time.monotonic()
            b.proc.send_signal(signal.SIGTERM)
            new_epoch = group.wait_leader(a, epoch, timeout_s=30)
            takeovers["sigterm_handover"] = {"epoch": new_epoch, "to_leader_s": round(time.monotonic() - t0, 2)}
            epoch = new_epoch
            assert exited(b, 30) == 0, b.since_start()[-3000:]

            # 5. the leader (b, after a handover) stops itself after signing, before its pending
            #    write; a takes over; on SIGCONT b's write must be refused (fenced) and b exit 75
            #    (the market pauses while a hands over to b and restarts as the standby)
            market.paused.set()
            b.env = {**env, "MACROSTRIKE_FAULT_INJECT": "stop_before_pending_write"}
            b.start()
            wait_until(lambda: "standby:" in b.since_start(), 120, "b to wait as a standby")
            wait_until(lambda: not group.journal.open_intents(), 60, "a's intents to settle")
            a.proc.send_signal(signal.SIGTERM)
            epoch = group.wait_leader(b, epoch, timeout_s=30)
            assert exited(a, 30) == 0, a.since_start()[-3000:]
            a.start()
            wait_until(lambda: "standby:" in a.since_start(), 120, "a to wait as a standby")
            market.paused.clear()
            wait_until(lambda: process_state(b.proc.pid) == "T", 90, "b to stop itself before a pending write",
                       step_s=0.02)
            fenced_epoch, t0, baseline = epoch, time.monotonic(), group.decisions()
            takeovers["sigstop_before_pending_write"] = group.takeover(a, epoch, t0, baseline)
            epoch = takeovers["sigstop_before_pending_write"]["epoch"]
            os.kill(b.proc.pid, signal.SIGCONT)
            code = exited(b, 30)
            text = b.since_start()
            deposed["fenced"] = {"exit_code": code, "epoch": fenced_epoch,
                                 "refused": text.count(f"leader epoch {fenced_epoch} ")}
            log.append(f"b stopped before its pending write; a leads at epoch {epoch}; b exited {code}")
            assert code == EXIT_DEPOSED and f"leader epoch {fenced_epoch} " in text and "no longer current" in text, \
                text[-3000:]

            # quiet: no more market moves; the leader settles what is open, then stops
            market.stop.set()
            market.join(10)
            wait_until(lambda: not group.journal.open_intents(), 90, "the last intents to settle")
            time.sleep(3)
            wait_until(lambda: not group.journal.open_intents(), 60, "the last intents to settle")
            code, _stop_s = a.sigterm()
            assert code == 0, a.since_start()[-3000:]
        finally:
            market.stop.set()
            for keeper in (a, b):
                if keeper.alive():
                    os.kill(keeper.proc.pid, signal.SIGCONT)
                    keeper.kill9()
        set_interval_mining(w3, 0)
        time.sleep(1.2)
        result = audit(w3, url, signers, manifest.address("amm"), from_block=first_block)
        rows = result.rows
    group.journal.close()

    # the deposed or killed leaders wrote (and so sent) nothing under an epoch after it ended
    late = [f"{r['tx_hash']} epoch {r['epoch']} sent_at {r['sent_at']} (epoch {r['epoch'] + 1} began "
            f"{group.epochs[r['epoch'] + 1]:.2f})" for r in rows
            if r["epoch"] is not None and r["epoch"] + 1 in group.epochs and r["sent_at"] > group.epochs[r["epoch"] + 1]]
    unfenced = [r["tx_hash"] for r in rows if r["epoch"] is None]
    orphan_after = next(i for i in result.intents if i.id == orphan[0].id)
    by_epoch = {e: sum(1 for r in rows if r["epoch"] == e) for e in sorted(group.epochs)}
    summary = json.dumps({"takeovers": takeovers, "deposed_leader": deposed, "attempts_by_epoch": by_epoch,
                          "orphan_intent": {"id": orphan_after.id, "state": orphan_after.state,
                                            "tx": orphan_after.tx_hash},
                          "market": dict(driver.counts), "market_errors": market.errors[:3], **result.counts(),
                          "total_s": round(time.monotonic() - started, 1)}, indent=1, default=str)
    print("\n".join(log))
    print(summary)
    assert not result.problems, "\n".join(result.problems[:40]) + f"\n{summary}\nlogs in {tmp_path}"
    assert not late and not unfenced, f"attempts written after their epoch ended: {late[:5]}; unfenced {unfenced[:5]}"
    # the intent committed by the leader that died before broadcasting was settled by its successor
    assert orphan_after.state in ("mined", "reverted"), summary
    assert len(result.events) >= 5, f"too few trades\n{summary}"
    for kind in ("kill_after_pending_write", "kill_-9"):
        assert takeovers[kind]["to_first_decision_s"] < TAKEOVER_TARGET_S, summary
    assert takeovers["sigterm_handover"]["to_leader_s"] < 2.0, summary
    for path in (tmp_path / "keeper-a.log", tmp_path / "keeper-b.log"):
        text = Path(path).read_text()
        assert "Traceback" not in text and "keeper halted" not in text, text[-4000:]
