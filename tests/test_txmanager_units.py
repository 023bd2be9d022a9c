"""TxManager settlement rules on a scripted node (no chain): confirmations hold on every path."""

from types import SimpleNamespace

from web3.exceptions import TransactionNotFound

from macrostrike.keeper.fees import FeePolicy, Fees
from macrostrike.keeper.journal import Journal
from macrostrike.keeper.txmanager import Attempt, Tracked, TxManager

SIGNER = "0x" + "a" * 40
HASH = "0x" + "b" * 64


class RacingEth:
    """The node of an automining Anvil under load: the signer's nonce already counts the transaction
    while its receipt is served only from the second request on."""

    def __init__(self, block):
        self.block, self.receipt_requests = block, 0

    def get_transaction_receipt(self, tx_hash):
        self.receipt_requests += 1
        if self.receipt_requests == 1:
            raise TransactionNotFound(tx_hash)
        return {"transactionHash": bytes.fromhex(tx_hash[2:]), "blockNumber": self.block, "blockHash": b"\x01" * 32,
                "status": 1, "gasUsed": 21_000, "effectiveGasPrice": 1, "logs": []}

    def get_transaction_count(self, _signer, _tag):
        return 1

    def get_block(self, number):
        return {"number": number, "hash": b"\x01" * 32}


def manager(confirmations, eth):
    web3 = SimpleNamespace(eth=eth, provider=SimpleNamespace())
    journal = Journal()
    txm = TxManager(web3, journal, FeePolicy(web3, priority_fee_wei=1), confirmations=confirmations, resume=False)
    intent = journal.intent_create("job", "subject", "send", None, SIGNER, b"", 21_000, 1,
                                   attempt={"tx_hash": HASH, "signer": SIGNER, "nonce": 0, "raw": b"\x00", "tip": 1,
                                            "max_fee": 2})
    tracked = Tracked(intent, None, [Attempt(HASH, 0, b"\x00", Fees(1, 2, 0), 0.0, 1)])
    txm.open[intent.id] = tracked
    return txm, tracked


def test_a_receipt_found_after_the_nonce_check_still_waits_for_confirmations():
    eth = RacingEth(block=5)
    txm, tracked = manager(3, eth)
    assert txm._settle_one(tracked, {"number": 5}, 5, {}, []) is None  # 1 of 3 blocks: not final
    assert tracked.intent.id in txm.open
    txm2, tracked2 = manager(3, RacingEth(block=5))
    outcome = txm2._settle_one(tracked2, {"number": 7}, 7, {}, [])  # 3 of 3 blocks
    assert outcome is not None and outcome.status == "mined"


def test_a_used_nonce_without_our_receipt_is_abandoned_only_a_block_later():
    class NoReceipt(RacingEth):
        def get_transaction_receipt(self, tx_hash):
            raise TransactionNotFound(tx_hash)

    txm, tracked = manager(1, NoReceipt(block=5))
    assert txm._settle_one(tracked, {"number": 5}, 5, {}, []) is None  # the node may count before it serves
    outcome = txm._settle_one(tracked, {"number": 6}, 6, {}, [])
    assert outcome is not None and outcome.status == "abandoned" and "nonce 0 used" in outcome.error
