"""Leadership and epoch fencing of two keepers on one PostgreSQL journal (issue 16;
macrostrike.keeper.leader), against a throwaway PostgreSQL server (``postgres_server``), and the
single-process lock of a SQLite journal. Fast: no chain (the slow end-to-end proof with two keeper
processes, kill -9 and SIGSTOP is tests/test_failover.py)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select, text

from journal_helpers import fresh_database, postgres_server  # noqa: F401 - fixture
from macrostrike.keeper.journal import Fenced, Journal, intents_table, transactions_table
from macrostrike.keeper.leader import JournalInUse, Leadership, SqliteJournalLock, group_key, leadership_report, lock_key

GROUP = group_key(31337, "0x00000000000000000000000000000000000000AA")
TO = "0x00000000000000000000000000000000000000BB"


@pytest.fixture
def pg_url(postgres_server, request):  # noqa: F811 - the fixture
    """A fresh database on the session's server for each test (the leader tables start empty)."""
    return fresh_database(postgres_server, "leader_" + request.node.name.lower()[:40])


def attempt(n: int) -> dict:
    return {"tx_hash": "0x" + f"{n:064x}", "signer": "0x" + "11" * 20, "nonce": n, "raw": bytes([n]), "tip": 1,
            "max_fee": 2}


def create(journal: Journal, n: int):
    return journal.intent_create("arbitrage", f"{TO.lower()}:{n}", "arbitrage", n, TO, b"\x01", 100_000, n,
                                 attempt=attempt(n))


def count(journal: Journal, table) -> int:
    with journal.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar())


def terminate(journal: Journal, node: str) -> None:
    """End ``node``'s lock session from the server side (what the lease does to a paused leader) and
    wait until it is gone (``pg_terminate_backend`` only signals it: its locks go when it exits)."""
    with journal.engine.begin() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"),
                     {"n": f"keeper {node}"})
    for _ in range(200):
        with journal.engine.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM pg_stat_activity WHERE application_name = :n"),
                                {"n": f"keeper {node}"}).first():
                return
        time.sleep(0.02)
    raise AssertionError(f"the session of {node} did not end")


@pytest.fixture
def two(pg_url):
    """Two keepers' journals on one database, and their leaderships (A leads at epoch 1)."""
    ja, jb = Journal(pg_url), Journal(pg_url)
    a = Leadership(ja, GROUP, lease_s=2.0, poll_s=0.1, node="host-a:1")
    b = Leadership(jb, GROUP, lease_s=2.0, poll_s=0.1, node="host-b:2")
    assert a.try_acquire() and a.epoch == 1 and a.is_leader
    assert not b.try_acquire() and b.role == "standby"
    yield ja, jb, a, b
    for leadership in (a, b):
        leadership.release()
    ja.close()
    jb.close()


def test_stale_epoch_pending_attempt_write_is_refused(two):
    """A deposed leader's pending-attempt writes (a new intent with its first attempt, a replacement
    attempt) are refused once another keeper took over: nothing is written, so nothing can be sent."""
    ja, jb, a, b = two
    first = create(ja, 1)  # epoch 1 is current: written, with its epoch
    assert ja.attempts(first.id)[0]["epoch"] == 1
    terminate(jb, "host-a:1")  # A's session ends (a pause past the lease, a partition)
    assert b.try_acquire() and b.epoch == 2 and b.previous_holder == "host-a:1"

    intents, attempts = count(ja, intents_table), count(ja, transactions_table)
    with pytest.raises(Fenced, match="epoch 1 .* no longer current \\(now 2\\)"):
        create(ja, 2)
    with pytest.raises(Fenced):
        ja.tx_pending("0x" + "ee" * 32, attempt(1)["signer"], 1, "arbitrage", 1, intent_id=first.id, raw=b"\x02",
                      tip=2, max_fee=4)
    with pytest.raises(Fenced):
        ja.check_fence()  # what a re-broadcast checks first
    assert (count(ja, intents_table), count(ja, transactions_table)) == (intents, attempts)
    assert not a.holds() and "superseded by 2" in a.lost_reason
    second = create(jb, 2)  # the new leader writes under epoch 2
    assert jb.attempts(second.id)[0]["epoch"] == 2
    # the deposed leader's committed intent is the new leader's to settle (the restart path reads it)
    assert {i.id for i in jb.open_intents()} == {first.id, second.id}


def test_takeover_waits_for_a_fenced_write_in_flight(two):
    """The epoch row is read FOR SHARE in the write's own transaction: a takeover that starts while
    the old leader's write is open waits for its commit, so the write is never lost to the new leader."""
    ja, jb, a, b = two
    terminate(jb, "host-a:1")
    took: list[float] = []
    with ja.atomic():
        create(ja, 1)  # fence checked, row lock held until this transaction commits
        thread = threading.Thread(target=lambda: took.append(b.try_acquire() and time.monotonic()))
        thread.start()
        time.sleep(0.5)
        assert not took, "the takeover did not wait for the in-flight fenced write"
        committed = time.monotonic()
    thread.join(10)
    assert took and took[0] >= committed and b.epoch == 2
    assert [i.id for i in jb.open_intents()] == [1]  # committed under epoch 1, seen by the new leader


def test_paused_leader_loses_the_lock_after_the_lease(two):
    """A leader that stops answering (no keepalive ping: SIGSTOP, a GC pause) has its session ended
    by the server after ``lease_s`` (idle_session_timeout): a standby takes over, the old leader's
    next write is fenced."""
    ja, jb, a, b = two
    a._stop.set()  # its keepalive thread stops pinging, as a stopped process would
    a._thread.join(5)
    started = time.monotonic()
    while not b.try_acquire():
        assert time.monotonic() - started < 10, "the lease never expired"
        time.sleep(0.1)
    waited = time.monotonic() - started
    assert 1.0 < waited < 5.0, waited  # lease 2 s (plus the ping period already elapsed)
    with pytest.raises(Fenced):
        create(ja, 1)


def test_release_hands_over_at_once(two):
    """SIGTERM's path: ``release()`` unlocks at once; the standby's next try wins, epoch + 1."""
    ja, jb, a, b = two
    started = time.monotonic()
    a.release()
    assert b.try_acquire() and b.epoch == 2
    assert time.monotonic() - started < 1.0
    report = leadership_report(jb)
    assert [(r["group"], r["epoch"], r["leader"]["node"], r["standbys"]) for r in report] == \
        [(GROUP, 2, "host-b:2", [])]  # A's heartbeat row left with it


def test_status_report_lists_leader_epoch_and_standbys(two):
    ja, jb, a, b = two
    report = leadership_report(ja)
    assert len(report) == 1 and report[0]["epoch"] == 1 and report[0]["leader"]["node"] == "host-a:1"
    assert [s["node"] for s in report[0]["standbys"]] == ["host-b:2"]
    later = leadership_report(ja, now=time.time() + 60)  # nobody seen for a minute: stale, not members
    assert later[0]["leader"] is None and later[0]["standbys"] == [] and sorted(later[0]["stale"]) == \
        ["host-a:1", "host-b:2"]


def test_groups_are_separate_per_chain_and_system(pg_url):
    """One PostgreSQL, two systems (or chains): two leader groups, each with its own lock and epoch."""
    other = group_key(1, "0x00000000000000000000000000000000000000AA")
    assert lock_key(other) != lock_key(GROUP) and group_key(31337, "0xAA") == group_key(31337, "0xaa")
    j = Journal(pg_url)
    first, second = Leadership(j, GROUP, lease_s=2, poll_s=0.1, node="h:1"), Leadership(j, other, lease_s=2,
                                                                                        poll_s=0.1, node="h:2")
    try:
        assert first.try_acquire() and second.try_acquire()
        assert {r["group"]: r["epoch"] for r in leadership_report(j)} == {GROUP: 1, other: 1}
    finally:
        first.release()
        second.release()
        j.close()


def test_second_keeper_on_a_sqlite_journal_is_refused(tmp_path):
    database = tmp_path / "keeper.sqlite"
    held = SqliteJournalLock(database)
    with pytest.raises(JournalInUse, match="in use by another keeper .* PostgreSQL journal"):
        SqliteJournalLock(database)
    held.release()
    SqliteJournalLock(database).release()  # free again once the first one let go


def test_metrics_follow_the_leadership(two):
    from prometheus_client import generate_latest

    from macrostrike.keeper.metrics import Metrics

    ja, jb, a, b = two
    ma, mb, single = Metrics(), Metrics(), Metrics()
    ma.track_leadership(a)
    mb.track_leadership(b)
    single.track_leadership(None)

    def gauges(m: Metrics) -> tuple[str, str]:
        lines = generate_latest(m.registry).decode().splitlines()
        return tuple(next(x.split()[1] for x in lines if x.startswith(name + " ")) for name in ("keeper_is_leader",
                                                                                              "keeper_epoch"))
    assert gauges(ma) == ("1.0", "1.0") and gauges(mb) == ("0.0", "0.0") and gauges(single) == ("1.0", "0.0")
    a.release()
    assert b.try_acquire()
    assert gauges(ma) == ("0.0", "0.0") and gauges(mb) == ("1.0", "2.0")


def test_health_reports_the_group_and_a_standby_is_alive(two):
    """Readiness lists the group (degraded without a standby); liveness on a standby's host follows
    its heartbeat row, not the loop's heartbeat (a standby runs no loop)."""
    from types import SimpleNamespace

    from macrostrike.keeper import health
    from macrostrike.keeper.settings import KeeperSettings

    ja, jb, a, b = two
    settings = KeeperSettings(health_max_heartbeat_age_s=30)
    problems: list = []
    groups = health._leadership(ja, settings, time.time(), problems)
    assert groups[0]["leader"]["node"] == "host-a:1" and groups[0]["standbys"][0]["node"] == "host-b:2"
    assert problems == []
    b.release()
    health._leadership(ja, settings, time.time(), problems)
    assert problems == [("degraded", f"keeper group {GROUP}: no standby keeper (no failover possible)")]

    web3 = SimpleNamespace(eth=SimpleNamespace(block_number=10, chain_id=31337))
    standby = Leadership(jb, GROUP, lease_s=2.0, poll_s=0.1, node=f"{__import__('socket').gethostname()}:99")
    try:
        report = health.check_liveness(web3, ja, settings)  # no loop heartbeat at all: the standby row counts
        assert (report["status"], report["check"]) == ("alive", "standby"), report
        stale = health.check_liveness(web3, ja, settings, now=time.time() + 120)
        assert stale["status"] == "dead" and "standby keeper" in stale["problems"][0], stale
    finally:
        standby.release()
    assert health.check_liveness(web3, ja, settings)["check"] == "heartbeat"  # no standby here: the loop's beat


@pytest.fixture(scope="module")
def deployed(anvil_node, tmp_path_factory):
    """An AMM-only system on the module's Anvil; the env pointing at its manifest."""
    from ops_helpers import ape

    deployments = tmp_path_factory.mktemp("deployments")
    env = {"MACROSTRIKE_DEPLOYMENTS": str(deployments)}
    proc = ape("run", "deploy", "--network", anvil_node, "--bots", "2", "--long-bots", "0", "--short-bots", "0",
               "--capital", "1000", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return env


@pytest.mark.slow
def test_cli_second_keeper_on_sqlite_refuses_with_one_line(anvil_node, deployed, tmp_path):
    from ops_helpers import ape, assert_one_line_error

    database = tmp_path / "keeper.sqlite"
    held = SqliteJournalLock(database)  # the first keeper
    try:
        proc = ape("keeper", "run", "--network", anvil_node, "--blocks", "1", "--journal", f"sqlite:///{database}",
                   env=deployed)
        assert_one_line_error(proc, str(database), "in use by another keeper", "PostgreSQL")
    finally:
        held.release()
    proc = ape("keeper", "run", "--network", anvil_node, "--blocks", "1", "--journal", f"sqlite:///{database}",
               env=deployed)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_two_chains_on_one_server_each_in_its_own_schema(pg_url):
    """The README's layout for several chains: one PostgreSQL database, a schema per (chain, system)
    (``options=-csearch_path=…``): each journal is migrated into its own schema, cursors and leaders
    are apart."""
    from sqlalchemy import create_engine

    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for schema in ("keeper_mainnet", "keeper_base"):
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    mainnet, base = (Journal(f"{pg_url}&options=-csearch_path%3D{schema}") for schema in ("keeper_mainnet", "keeper_base"))
    leaders = [Leadership(mainnet, group_key(1, "0x" + "aa" * 20), lease_s=2, poll_s=0.1, node="h:1"),
               Leadership(base, group_key(8453, "0x" + "bb" * 20), lease_s=2, poll_s=0.1, node="h:2")]
    try:
        assert all(leader.try_acquire() for leader in leaders)
        mainnet.set_last_block("keeper", 100)
        base.set_last_block("keeper", 7)
        assert (mainnet.last_block("keeper"), base.last_block("keeper")) == (100, 7)
        assert [[g["group"] for g in leadership_report(j)] for j in (mainnet, base)] == \
            [[group_key(1, "0x" + "aa" * 20)], [group_key(8453, "0x" + "bb" * 20)]]
        with mainnet.engine.connect() as conn:
            tables = set(conn.execute(text("SELECT table_schema || '.' || table_name FROM information_schema.tables "
                                           "WHERE table_name = 'leader_epochs'")).scalars())
        assert tables == {"keeper_mainnet.leader_epochs", "keeper_base.leader_epochs"}
    finally:
        for leader in leaders:
            leader.release()
        mainnet.close()
        base.close()


def test_runner_stops_at_once_when_deposed(two):
    """The run loop of a deposed leader stops at the fenced write (no retry, no further tick)."""
    from types import SimpleNamespace

    from macrostrike.keeper.runner import Runner

    ja, jb, a, b = two
    terminate(jb, "host-a:1")
    assert b.try_acquire()
    heads = iter(range(1, 100))

    class Job:
        name, ticks = "keeper", 0

        def tick(self) -> list:
            self.ticks += 1
            create(ja, self.ticks)  # the job's pending write: fenced
            return []

    web3 = SimpleNamespace(eth=SimpleNamespace(get_block=lambda _tag: {"number": (n := next(heads)),
                                                                       "hash": f"0x{n:064x}",
                                                                       "parentHash": f"0x{n - 1:064x}"}))
    job = Job()
    result = Runner(web3, job, leader=a, sleep=lambda _s: None).run(max_blocks=5, install_signals=False)
    assert job.ticks == 1 and result.errors == 0 and "superseded by 2" in result.lost_leadership, result


def test_status_table_shows_the_keepers(two):
    """`ape keeper status --journal` in a terminal: one row per group (leader, epoch, standbys)."""
    import io

    from rich.console import Console

    from macrostrike.cli.ops import _keepers_table

    ja, jb, a, b = two
    out = io.StringIO()
    Console(file=out, width=250).print(_keepers_table(leadership_report(ja)), _keepers_table([]))
    text = out.getvalue()
    assert GROUP in text and "host-a:1" in text and "host-b:2 (" in text and "one keeper, no leader group" in text, text
