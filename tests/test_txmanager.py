"""The transaction manager against the real Anvil: replacement of a stuck transaction on the same
nonce, "nonce too low" and "replacement transaction underpriced" re-syncs, confirmations, and a
reorg that removes a mined transaction (it is detected, waited out and sent again).

Mining is switched to manual (``evm_setAutomine false``) where a transaction must stay pending; a
background thread mines or rolls back blocks through its own HTTP connection.
"""

import threading
import time

import pytest
from web3 import Web3

from macrostrike.keeper.journal import Journal
from macrostrike.keeper.runner import Runner
from macrostrike.keeper.txsender import TxSender

GWEI = 10**9


@pytest.fixture
def rpc(chain):
    """A second web3 connection to the test chain (for the background thread); automine restored."""
    w3 = Web3(Web3.HTTPProvider(chain.provider.uri))
    yield w3
    w3.provider.make_request("evm_setAutomine", [True])


def later(delay_s, *steps):
    """Run ``steps`` (callables) one after another after ``delay_s``, in a thread."""
    def run():
        time.sleep(delay_s)
        for step in steps:
            step()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def mine(w3, blocks=1, every_s=0.0):
    def step():
        for _ in range(blocks):
            w3.provider.make_request("evm_mine", [])
            time.sleep(every_s)
    return step


def base_fee(chain):
    return int(chain.provider.web3.eth.get_block("latest")["baseFeePerGas"])


def sender_for(account, journal, **kw):
    return TxSender(account, priority_fee_wei=GWEI, journal=journal, timeout_s=30, poll_s=0.02, **kw)


def statuses(journal, signer):
    return [(t["nonce"], t["status"]) for t in journal.transactions() if t["signer"] == str(signer)]


def test_stuck_transaction_is_replaced_on_the_same_nonce(chain, accounts, rpc, stranger):
    account = accounts[4]
    journal = Journal()
    sender = sender_for(account, journal, stuck_after_s=0.4)
    nonce = sender.nonce
    rpc.provider.make_request("evm_setAutomine", [False])
    thread = later(1.5, mine(rpc))  # nothing is mined for 1.5 s: the first version counts as stuck
    sent = sender.send(str(stranger.address), b"", 21_000, base_fee(chain))
    thread.join()
    assert sent.status == 1 and sent.nonce == nonce and sent.replacements >= 1
    assert chain.provider.web3.eth.get_transaction_count(str(account.address)) == nonce + 1
    rows = statuses(journal, account.address)
    assert rows.count((nonce, "mined")) == 1
    assert rows.count((nonce, "replaced")) == sent.replacements
    mined = chain.provider.web3.eth.get_transaction(sent.tx_hash)
    assert mined["maxPriorityFeePerGas"] > GWEI  # the mined version paid the bumped tip


def test_every_attempt_is_committed_before_its_broadcast(chain, accounts, rpc, stranger, tmp_path):
    """Write-ahead: each attempt's row is committed (another connection sees it) before its bytes go
    to the node, the replacements made while settling included. The chaos soak caught one that was
    not: a replacement broadcast inside the settlement's database transaction, ``kill -9`` before the
    commit, the replacement mined — a keeper transaction on chain the journal never knew, its intent
    abandoned as "nonce used by another transaction"."""
    from eth_utils import keccak

    url = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    journal, probe = Journal(url), Journal(url)
    sender = sender_for(accounts[4], journal, stuck_after_s=0.4)
    broadcast, seen = sender.broadcast, []

    def committed_first(raw):
        tx_hash = "0x" + keccak(bytes(raw)).hex()
        seen.append((tx_hash, any(r["tx_hash"].lower() == tx_hash for r in probe.transactions())))
        return broadcast(raw)

    sender.broadcast = committed_first
    rpc.provider.make_request("evm_setAutomine", [False])
    thread = later(1.5, mine(rpc))  # stuck for 1.5 s: replaced while the send settles
    sent = sender.send(str(stranger.address), b"", 21_000, base_fee(chain))
    thread.join()
    assert sent.status == 1 and sent.replacements >= 1
    assert len({h for h, _ in seen}) >= 2 and all(ok for _, ok in seen), seen


def test_replacement_respects_the_fee_cap(chain, accounts, rpc, stranger):
    """At the cap there is no replacement: the keeper waits for the version it has out there."""
    account = accounts[4]
    journal = Journal()
    fee = base_fee(chain)
    sender = sender_for(account, journal, stuck_after_s=0.2, max_fee_cap_wei=2 * fee + GWEI)
    rpc.provider.make_request("evm_setAutomine", [False])
    thread = later(1.0, mine(rpc))
    sent = sender.send(str(stranger.address), b"", 21_000, fee)
    thread.join()
    assert sent.replacements == 0 and sent.status == 1


def test_nonce_too_low_resyncs(chain, accounts, stranger):
    account = accounts[5]
    journal = Journal()
    sender = sender_for(account, journal)
    stale = sender.nonce
    account.transfer(stranger, 1)  # the same key used elsewhere: the sender's nonce is now stale
    sent = sender.send(str(stranger.address), b"", 21_000, base_fee(chain))
    assert sent.status == 1 and sent.nonce == stale + 1
    assert statuses(journal, account.address) == [(stale, "rejected"), (stale + 1, "mined")]


def test_replacement_underpriced_resyncs(chain, accounts, rpc, stranger):
    """Another transaction holds the nonce in the pool and pays more: move to the next nonce."""
    account = accounts[6]
    journal = Journal()
    sender = sender_for(account, journal)
    nonce = sender.nonce
    other = sender_for(account, None)
    raw, _ = other._sign(str(stranger.address), b"", 0, 21_000, nonce, 5 * GWEI, 10 * GWEI + 2 * base_fee(chain))
    rpc.provider.make_request("evm_setAutomine", [False])
    chain.provider.web3.eth.send_raw_transaction(raw)
    thread = later(0.5, mine(rpc))
    sent = sender.send(str(stranger.address), b"", 21_000, base_fee(chain))
    thread.join()
    assert sent.status == 1 and sent.nonce == nonce + 1
    assert statuses(journal, account.address) == [(nonce, "rejected"), (nonce + 1, "mined")]


def test_confirmations_wait_for_blocks_on_top(chain, accounts, rpc, stranger):
    account = accounts[7]
    sender = sender_for(account, Journal(), confirmations=3)
    start = chain.provider.web3.eth.block_number
    thread = later(0.5, mine(rpc, blocks=2, every_s=0.1))
    sent = sender.send(str(stranger.address), b"", 21_000, base_fee(chain))
    assert chain.provider.web3.eth.block_number >= sent.block_number + 2
    thread.join()
    assert sent.block_number == start + 1


def test_reorg_during_confirmation_resends(chain, accounts, rpc, stranger):
    """The block holding the transaction is rolled back: the sender notices and mines it again."""
    account = accounts[7]
    journal = Journal()
    sender = sender_for(account, journal, confirmations=2, stuck_after_s=0.3)
    nonce = sender.nonce
    first_block = chain.provider.web3.eth.block_number + 1
    # roll the automined block back before the confirmation block comes, then keep mining
    thread = later(0.3, lambda: rpc.provider.make_request("anvil_rollback", [1]), mine(rpc, blocks=12, every_s=0.25))
    sent = sender.send(str(stranger.address), b"", 21_000, base_fee(chain))
    thread.join()
    assert sent.status == 1 and sent.nonce == nonce
    assert sent.block_number > first_block
    assert chain.provider.web3.eth.get_transaction_count(str(account.address)) == nonce + 1
    assert [s for n, s in statuses(journal, account.address)].count("mined") == 1


def test_runner_undoes_a_reorged_transaction(chain, accounts, stranger):
    """The journal cursor's block hash changes: recorded transactions of the lost blocks are undone."""
    account = accounts[8]
    journal = Journal()
    sender = sender_for(account, journal)
    sent = sender.send(str(stranger.address), b"", 21_000, base_fee(chain))

    class Job:
        name = "arbitrage"
        refreshed = 0

        def refresh_bots(self):
            self.refreshed += 1

        def tick(self):
            return []

    job = Job()
    web3 = chain.provider.web3
    runner = Runner(web3, job, journal=journal, reorg_depth=8)
    head = web3.eth.block_number
    journal.set_last_block(job.name, head, "0x" + bytes(web3.eth.get_block(head)["hash"]).hex())
    assert runner.check_reorg() is False
    chain.provider.make_request("anvil_rollback", [1])  # the block with the transaction is gone
    chain.provider.make_request("evm_setAutomine", [False])
    try:
        chain.provider.make_request("anvil_dropAllTransactions", [])
        chain.provider.make_request("evm_mine", [])  # a different block at the same height
    finally:
        chain.provider.make_request("evm_setAutomine", [True])
    assert runner.check_reorg() is True
    assert job.refreshed == 1
    assert {t["tx_hash"]: t["status"] for t in journal.transactions()}[sent.tx_hash] == "reorged"


def test_fast_local_signing_matches_ape(accounts, stranger):
    """Test accounts are signed with eth_account directly: byte for byte what Ape's signer gives."""
    fast = sender_for(accounts[4], None)
    assert fast._key is not None
    slow = sender_for(accounts[4], None)
    slow._key = None  # force the Ape path
    args = (str(stranger.address), b"\x12\x34", 7, 90_000, 3, 2 * GWEI, 9 * GWEI)
    assert fast._sign(*args) == slow._sign(*args)
