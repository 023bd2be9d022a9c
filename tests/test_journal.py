"""The journal: decisions and transactions survive a restart; pending transactions reconcile."""

from types import SimpleNamespace

from macrostrike.keeper.journal import Decision, Journal


class FakeEth:
    """Stands in for web3.eth with fixed receipts and confirmed nonces (reconcile only reads these)."""

    def __init__(self, receipts, nonces):
        self.receipts, self.nonces = receipts, nonces

    def get_transaction_receipt(self, tx_hash):
        if tx_hash not in self.receipts:
            raise LookupError(tx_hash)
        return self.receipts[tx_hash]

    def get_transaction_count(self, signer, _block):
        return self.nonces[signer]


def test_survives_reopen(tmp_path):
    url = f"sqlite:///{tmp_path / 'j.sqlite'}"
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


def test_reconcile_pending(tmp_path):
    j = Journal(f"sqlite:///{tmp_path / 'j.sqlite'}")
    signer = "0x" + "1" * 40
    for i, h in enumerate(("0xaa", "0xbb", "0xcc", "0xdd")):
        j.tx_pending(h, signer, i, "arbitrage", 1)
    web3 = SimpleNamespace(eth=FakeEth(
        receipts={"0xaa": {"status": 1, "gasUsed": 100, "effectiveGasPrice": 5, "blockNumber": 10},
                  "0xbb": {"status": 0, "gasUsed": 50, "effectiveGasPrice": 5, "blockNumber": 11}},
        nonces={signer: 3}))  # nonce 2 used up without a receipt: replaced or dropped; nonce 3 still open
    assert j.reconcile(web3) == {"mined": 1, "reverted": 1, "dropped": 1, "pending": 1}
    status = {t["tx_hash"]: t["status"] for t in j.transactions()}
    assert status == {"0xaa": "mined", "0xbb": "reverted", "0xcc": "dropped", "0xdd": "pending"}
    assert j.transactions("mined")[0]["gas_used"] == 100
