"""The journal's schema migrations (Alembic, ``macrostrike.keeper.migrations``): a journal written by
the code before migrations is upgraded in place, a fresh database reaches exactly ``journal.metadata``,
and an up-to-date one is opened without running Alembic. On SQLite and on a throwaway PostgreSQL
server (``postgres_server`` in ``journal_helpers``)."""

import statistics
import threading
import time

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import JSON, BigInteger, Column, Integer, MetaData, String, Table, create_engine, inspect, select, text

from journal_helpers import postgres_server  # noqa: F401 - fixture
from macrostrike.keeper import migrations
from macrostrike.keeper.journal import Decision, IntentOpen, Journal, metadata
from macrostrike.keeper.migrations import HEAD, alembic_config, current_revision

# The journal's schema at commit 2821a93, before migrations (revision 0001), copied: what an old
# keeper's `metadata.create_all` left in its database.
old_metadata = MetaData()
old_decisions = Table(
    "decisions", old_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("block", BigInteger, nullable=False, index=True),
    Column("job", String(64), nullable=False),
    Column("action", String(16), nullable=False),
    Column("reason", String(64), nullable=False, index=True),
    Column("bot_id", Integer, nullable=True),
    Column("detail", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
old_transactions = Table(
    "transactions", old_metadata,
    Column("tx_hash", String(66), primary_key=True),
    Column("signer", String(42), nullable=False, index=True),
    Column("nonce", BigInteger, nullable=False),
    Column("job", String(64), nullable=False),
    Column("bot_id", Integer, nullable=True),
    Column("status", String(16), nullable=False, index=True),
    Column("gas_used", BigInteger, nullable=True),
    Column("effective_gas_price", BigInteger, nullable=True),
    Column("block", BigInteger, nullable=True),
    Column("block_hash", String(66), nullable=True),
    Column("sent_at", BigInteger, nullable=False),
)
old_cursors = Table(
    "cursors", old_metadata,
    Column("job", String(64), primary_key=True),
    Column("last_block", BigInteger, nullable=False),
    Column("last_hash", String(66), nullable=True),
)

SIGNER = "0x" + "11" * 20
NEW_TX_COLUMNS = ("intent_id", "raw", "tip", "max_fee", "error")


def _drop_everything(url):
    engine = create_engine(url)
    with engine.begin() as conn:
        for name in (*metadata.tables, "alembic_version"):
            conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    """A fresh, empty database URL of each backend (PostgreSQL: emptied again afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'j.sqlite'}"
        return
    server = request.getfixturevalue("postgres_server")
    _drop_everything(server)  # whatever another test module left behind
    yield server
    _drop_everything(server)


def _diff(engine, target=metadata):
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), target)


def _check_open_intent_index(j):
    """uq_intents_open_subject is unique among *open* intents only (compare_metadata does not look at
    an index's WHERE): a second open intent of a subject is refused, a settled one is not in the way."""
    subject = "0xd:checkpoint"
    first = j.intent_create("rebalance", subject, "checkpoint", None, "0x" + "33" * 20, b"", 100_000, 1)
    with pytest.raises(IntentOpen):
        j.intent_create("rebalance", subject, "checkpoint", None, "0x" + "33" * 20, b"", 100_000, 2)
    j.intent_state(first.id, "mined", tx_hash="0x01", block=2, block_hash="0x02")
    j.intent_create("rebalance", subject, "checkpoint", None, "0x" + "33" * 20, b"", 100_000, 3)
    assert [i.subject for i in j.intents(job="rebalance")] == [subject, subject]


def _old_journal(url):
    """A journal as the code before migrations left it: a decision, a pending transaction, a cursor
    (and, on SQLite, in WAL mode: that code set it on every connection too)."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    old_metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(old_decisions.insert().values(block=7, job="arbitrage", action="send", reason="profitable",
                                                   bot_id=1, detail={"profit": "12"}, created_at=1_700_000_000))
        conn.execute(old_transactions.insert().values(tx_hash="0xabc", signer=SIGNER, nonce=3, job="arbitrage",
                                                      bot_id=1, status="pending", sent_at=1_700_000_001))
        conn.execute(old_cursors.insert().values(job="arbitrage", last_block=7, last_hash="0x07"))
    return engine


def test_old_journal_is_upgraded_in_place(url):
    engine = _old_journal(url)
    assert current_revision(engine) is None
    j = Journal(url)
    assert current_revision(j.engine) == HEAD
    assert _diff(j.engine) == []
    # the old rows, intact; the new columns NULL
    assert j.stored_decisions() == [Decision(7, "arbitrage", "send", "profitable", 1, {"profit": "12"})]
    [tx] = j.transactions("pending")
    assert (tx["tx_hash"], tx["signer"], tx["nonce"], tx["sent_at"]) == ("0xabc", SIGNER, 3, 1_700_000_001)
    assert all(tx[c] is None for c in NEW_TX_COLUMNS)
    assert j.cursor("arbitrage") == (7, "0x07")
    # and the new tables work
    intent = j.intent_create("arbitrage", "0xd:bot:1", "arbitrage", 1, "0x" + "22" * 20, b"\x01\x02", 300_000, 8)
    assert intent.state == "planned" and intent.data == b"\x01\x02"
    with pytest.raises(IntentOpen):
        j.intent_create("arbitrage", "0xd:bot:1", "arbitrage", 1, "0x" + "22" * 20, b"", 300_000, 8)
    assert j.tx_pending("0xdef", SIGNER, 4, "arbitrage", 1, intent_id=intent.id, raw=b"\xaa", tip=1, max_fee=2)
    assert j.intent(intent.id).state == "sent"
    assert [a["tx_hash"] for a in j.attempts(intent.id)] == ["0xdef"]
    j.beat("keeper", at=123.0)
    assert j.heartbeat("keeper") == 123.0
    _check_open_intent_index(j)
    j.close()
    # a second open finds it at head and leaves it as it is
    j = Journal(url)
    assert len(j.transactions()) == 2 and j.open_intents()[0].id == intent.id
    j.close()
    engine.dispose()


def test_revision_0001_is_the_old_schema(url):
    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
    assert current_revision(engine) == "0001"
    assert _diff(engine, old_metadata) == []
    engine.dispose()


@pytest.mark.parametrize("in_memory", [False, True], ids=["file", "memory"])
def test_fresh_database_reaches_head(url, in_memory):
    if in_memory:
        if not url.startswith("sqlite"):
            pytest.skip("an in-memory journal is SQLite")
        url = None
    j = Journal(url)
    assert current_revision(j.engine) == HEAD
    assert _diff(j.engine) == []  # the revisions build exactly journal.metadata
    assert {"intents", "heartbeats", "alembic_version"} <= set(inspect(j.engine).get_table_names())
    _check_open_intent_index(j)
    j.close()


def test_downgrade_and_upgrade_again(url):
    j = Journal(url)
    j.record(Decision(1, "arbitrage", "skip", "no_opportunity"))
    with j.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0001")
    assert current_revision(j.engine) == "0001"
    assert _diff(j.engine, old_metadata) == []
    j.close()
    j = Journal(url)
    assert current_revision(j.engine) == HEAD and _diff(j.engine) == []
    assert [d.reason for d in j.stored_decisions()] == ["no_opportunity"]
    j.close()


def test_reopening_is_a_no_op_and_fast(url, monkeypatch):
    Journal(url).close()

    def refuse(*_args, **_kwargs):
        raise AssertionError("Alembic ran on an up-to-date journal")

    monkeypatch.setattr(command, "upgrade", refuse)
    monkeypatch.setattr(command, "stamp", refuse)
    times = []
    for _ in range(20):
        start = time.perf_counter()
        j = Journal(url)
        times.append(time.perf_counter() - start)
        j.close()
    median = statistics.median(times)
    # measured ~1-2 ms on SQLite, a few ms on the local PostgreSQL server (a new connection each open)
    assert median < (0.05 if url.startswith("sqlite") else 0.2), times


def test_concurrent_first_opens_migrate_once(url):
    _old_journal(url).dispose()
    barrier, errors, journals = threading.Barrier(4), [], []

    def open_journal():
        barrier.wait()
        try:
            journals.append(Journal(url))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_journal) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert current_revision(journals[0].engine) == HEAD
    assert [t["tx_hash"] for t in journals[0].transactions()] == ["0xabc"]
    for j in journals:
        j.close()


def test_failed_migration_leaves_nothing_half_done(url):
    """The whole upgrade (stamp included) is one transaction: DDL rolls back on SQLite and PostgreSQL."""
    engine = _old_journal(url)
    with engine.begin() as conn:  # in the way of revision 0002's second table
        conn.execute(text("CREATE TABLE heartbeats (name VARCHAR(64) PRIMARY KEY)"))
    with pytest.raises(Exception, match="heartbeats"):
        Journal(url)
    names = set(inspect(engine).get_table_names())
    assert "intents" not in names and "alembic_version" not in names
    assert "intent_id" not in {c["name"] for c in inspect(engine).get_columns("transactions")}
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE heartbeats"))
    j = Journal(url)
    assert current_revision(j.engine) == HEAD and len(j.transactions("pending")) == 1
    j.close()
    engine.dispose()


def test_unknown_revision_is_refused(url):
    Journal(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(RuntimeError, match="9999"):
        Journal(url)
    engine.dispose()


def test_some_old_tables_only_is_refused(url):
    engine = create_engine(url)
    old_cursors.create(engine)
    with pytest.raises(RuntimeError, match="only some of its tables"):
        Journal(url)
    with engine.connect() as conn:
        assert conn.execute(select(old_cursors)).all() == []
    assert not inspect(engine).has_table("alembic_version")
    engine.dispose()


def test_head_is_the_newest_revision():
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(alembic_config()).get_heads() == [HEAD]
    assert migrations.VERSION_TABLE == "alembic_version"
