"""The journal: decisions and transactions survive a restart; pending transactions reconcile;
reorged transactions are undone. Every test runs on SQLite (the embedded default) and on a real
PostgreSQL server when one can be started here (see ``postgres_server`` in ``journal_helpers``)."""

from types import SimpleNamespace

import pytest
from web3.exceptions import TransactionNotFound

from journal_helpers import postgres_server  # noqa: F401 - fixture
from macrostrike.keeper.journal import Decision, Journal, metadata


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    """A fresh, empty journal database URL of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'j.sqlite'}"
        return
    server = request.getfixturevalue("postgres_server")
    yield server
    from sqlalchemy import create_engine

    engine = create_engine(server)
    metadata.drop_all(engine)
    with engine.begin() as conn:  # the schema's revision (macrostrike.keeper.migrations)
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    engine.dispose()


class FakeEth:
    """Stands in for web3.eth with fixed receipts and confirmed nonces (reconcile only reads these)."""

    def __init__(self, receipts, nonces):
        self.receipts, self.nonces = receipts, nonces

    def get_transaction_receipt(self, tx_hash):
        if tx_hash not in self.receipts:
            raise TransactionNotFound(tx_hash)
        return self.receipts[tx_hash]

    def get_transaction_count(self, signer, _block):
        return self.nonces[signer]


def test_survives_reopen(url):
    j = Journal(url)
    j.record(Decision(7, "arbitrage", "skip", "no_opportunity", None, {"reserves_a": [1, 2]}))
    j.record(Decision(8, "arbitrage", "send", "mined", 3, {"tx": "0xab"}))
    j.set_last_block("arbitrage", 8)
    j.set_last_block("arbitrage", 9)
    j.close()
    again = Journal(url)
    assert [(d.block, d.reason, d.bot_id) for d in again.stored_decisions()] == [(7, "no_opportunity", None),
                                                                                (8, "mined", 3)]
    assert again.stored_decisions()[0].detail == {"reserves_a": [1, 2]}
    assert again.last_block("arbitrage") == 9 and again.last_block("other") is None


def test_reconcile_pending(url):
    j = Journal(url)
    signer = "0x" + "1" * 40
    for i, h in enumerate(("0xaa", "0xbb", "0xcc", "0xdd")):
        j.tx_pending(h, signer, i, "arbitrage", 1)
    j.tx_pending("0xa0", signer, 0, "arbitrage", 1)  # an earlier version of nonce 0, superseded by 0xaa
    web3 = SimpleNamespace(eth=FakeEth(
        receipts={"0xaa": receipt(1, 10), "0xbb": receipt(0, 11)},
        nonces={signer: 3}))  # nonce 2 used up without a receipt: dropped; nonce 3 still open
    assert j.reconcile(web3) == {"mined": 1, "reverted": 1, "dropped": 1, "pending": 1, "replaced": 1}
    status = {t["tx_hash"]: t["status"] for t in j.transactions()}
    assert status == {"0xaa": "mined", "0xbb": "reverted", "0xcc": "dropped", "0xdd": "pending",
                      "0xa0": "replaced"}
    assert j.transactions("mined")[0]["gas_used"] == 100
    assert j.transactions("mined")[0]["block_hash"] == "0x" + "0a" * 32


def receipt(status, block, block_hash=None):
    return {"status": status, "gasUsed": 100 if status else 50, "effectiveGasPrice": 5, "blockNumber": block,
            "blockHash": block_hash or bytes([block]) * 32, "transactionHash": b""}


def test_undo_reorged(url):
    """A reorg: a vanished transaction is marked reorged (its outcome undone); a moved one follows."""
    j = Journal(url)
    signer = "0x" + "2" * 40
    for i, (h, block) in enumerate((("0x01", 5), ("0x02", 9), ("0x03", 10))):
        j.tx_pending(h, signer, i, "arbitrage", 1)
        j.tx_final(h, "mined", 100, 5, block, "0x" + bytes([block]).hex() * 32)
    moved = receipt(1, 11, b"\x77" * 32)
    web3 = SimpleNamespace(eth=FakeEth(receipts={"0x01": receipt(1, 5), "0x03": moved}, nonces={}))
    assert j.undo_reorged(web3, since_block=8) == ["0x02"]
    rows = {t["tx_hash"]: t for t in j.transactions()}
    assert rows["0x02"]["status"] == "reorged" and rows["0x02"]["gas_used"] is None
    assert rows["0x03"]["block"] == 11 and rows["0x03"]["block_hash"] == "0x" + "77" * 32
    assert rows["0x01"]["status"] == "mined"  # below since_block: not re-checked


def test_unknown_status_is_refused():
    j = Journal()
    with pytest.raises(ValueError, match="unknown transaction status"):
        j.tx_final("0x00", "lost")


def test_supersede_drops_leftover_versions_of_a_used_nonce(url):
    """A process killed between journalling and broadcasting leaves a pending row; once another
    transaction is mined on that nonce, the row is dropped (it can never be mined)."""
    j = Journal(url)
    signer = "0x" + "3" * 40
    j.tx_pending("0xdead", signer, 4, "arbitrage", 1)  # never broadcast
    j.tx_pending("0xbeef", signer, 4, "arbitrage", 2)
    j.tx_final("0xbeef", "mined", 100, 5, 12, "0x" + "0c" * 32)
    j.tx_pending("0xcafe", signer, 5, "arbitrage", 1)
    assert j.supersede(signer, 4, "0xbeef") == 1
    status = {t["tx_hash"]: t["status"] for t in j.transactions()}
    assert status == {"0xdead": "dropped", "0xbeef": "mined", "0xcafe": "pending"}


def test_a_dead_node_is_not_a_reorg(url):
    """Transport errors propagate (the run loop retries them); only 'not found' undoes a record."""
    class DeadEth:
        def get_transaction_receipt(self, tx_hash):
            raise ConnectionError("node down")

    j = Journal(url)
    signer = "0x" + "4" * 40
    j.tx_pending("0x0a", signer, 0, "arbitrage", 1)
    j.tx_final("0x0a", "mined", 100, 5, 9, "0x" + "09" * 32)
    j.tx_pending("0x0b", signer, 1, "arbitrage", 1)
    with pytest.raises(ConnectionError):
        j.undo_reorged(SimpleNamespace(eth=DeadEth()), since_block=0)
    with pytest.raises(ConnectionError):
        j.reconcile(SimpleNamespace(eth=DeadEth()))
    assert [t["status"] for t in j.transactions()] == ["mined", "pending"]
