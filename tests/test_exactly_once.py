"""Exactly-once sends on a chain that behaves like a chain: one test per item of the issue against
the keeper before the intent rewrite (2821a93).

Every test drives the keeper through what existed before the rewrite as well (TxSender.send,
Journal, ArbitrageJob/CheckpointJob.tick and backfill, Runner), on a real Anvil (Ape's, or a
separate one from tests/chain_harness.py behind a FaultProxy), so that old code fails on behaviour:

1. a transaction pending past its timeout is not decided and sent again at the next nonce;
2. a reply lost after the node took the transaction is not journalled ``rejected``;
3. a next base fee above the cap is a ``fee_above_cap`` skip (nothing signed), and a failed
   checkpoint send does not move the checkpoint schedule;
4. our transaction reorged out is sent again and ends ``mined`` in the journal (not ``reorged``);
5. backfill after downtime works through a node that refuses wide ``eth_getLogs`` ranges;
6. waiting for confirmations does not hammer the node;
9. re-signing an identical transaction does not hide the node's answer behind an IntegrityError.

(Item 8, strike liquidations while the keeper was down, is not covered here.)
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from web3.exceptions import TransactionNotFound
from chain_harness import (FaultProxy, mine, reorg, set_automine, set_interval_mining, set_next_base_fee,
                           txpool_content, web3_for)
from exactly_once_helpers import RecordingJournal, sender_on
from market_helpers import push_price_up

from macrostrike.deploy.system import DeployConfig, deploy_system
from macrostrike.keeper.arbitrage import ArbitrageJob
from macrostrike.keeper.context import AmmContext
from macrostrike.keeper.jobs import JobSet
from macrostrike.keeper.journal import Journal
from macrostrike.keeper.risk import CheckpointJob
from macrostrike.keeper.runner import Runner
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.txsender import TxSender

GWEI = 10**9


@pytest.fixture(scope="module")
def system(accounts):
    return deploy_system(accounts[0], DeployConfig(amm_bots=3, pool_usd=1_000_000, capital_per_bot_usd=5_000,
                                                   initial_price_usd=20_000,
                                                   keepers=(str(accounts[1].address),)))


def make_arb_job(system, account, settings=None, journal=None):
    settings = settings or KeeperSettings()
    journal = journal if journal is not None else Journal()
    ctx = AmmContext(system.manifest)
    sender = TxSender(account, priority_fee_wei=settings.priority_fee_wei, error_table=ctx.errors, journal=journal,
                      max_fee_cap_wei=settings.fee_cap_wei(), stuck_after_s=settings.stuck_after_s,
                      timeout_s=settings.tx_timeout_s)
    return ArbitrageJob(ctx, sender, settings, journal), journal


def make_checkpoint_job(system, account, settings):
    journal = Journal()
    sender = TxSender(account, priority_fee_wei=settings.priority_fee_wei, journal=journal,
                      max_fee_cap_wei=settings.fee_cap_wei(), stuck_after_s=settings.stuck_after_s,
                      timeout_s=settings.tx_timeout_s)
    return CheckpointJob(system.manifest, sender, settings, journal), journal


def first_line(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text}"[:200]


# -- 1 -------------------------------------------------------------------------------------------------
def pending_past_timeout(system, accounts, chain):
    """Mining off, the price gap open: two ticks of the arbitrage job, 1.2 s apart (past stuck_after_s
    and tx_timeout_s; a tick's error is caught as the runner does), then one block is mined.
    Returns ``(pool, receipts, errors)``: the keeper's pooled transactions before that block as
    ``{nonce: bot id}``, the receipts of its transactions in that block, the ticks' errors."""
    w3 = chain.provider.web3
    push_price_up(system, accounts[0])
    settings = KeeperSettings(stuck_after_s=1, tx_timeout_s=2)
    job, _journal = make_arb_job(system, accounts[1], settings)
    keeper = str(accounts[1].address)
    errors = []
    set_automine(w3, False)
    try:
        for _ in range(2):
            try:
                job.tick()
            except Exception as err:  # noqa: BLE001 - the runner catches a tick's error and goes on
                errors.append(first_line(err))
            time.sleep(1.2)  # past stuck_after_s (and tx_timeout_s)
        pool = {int(n): int(str(tx["input"])[10:74], 16)
                for n, tx in txpool_content(w3)["pending"].get(keeper.lower(), {}).items()}
        mine(w3)
    finally:
        set_automine(w3, True)
    block = w3.eth.get_block("latest", full_transactions=True)
    receipts = [w3.eth.get_transaction_receipt(t["hash"]) for t in block["transactions"]
                if str(t["from"]).lower() == keeper.lower()]
    return pool, receipts, errors


def test_1_action_pending_past_its_timeout_is_not_sent_again(system, accounts, chain):
    """The keeper's arbitrage stays in the pool past stuck_after_s and tx_timeout_s. The next tick
    must not decide the same bot's action again at the next nonce: the bot has an open intent
    (replacements, if any, reuse its nonce)."""
    pool, receipts, errors = pending_past_timeout(system, accounts, chain)
    bots = list(pool.values())
    assert len(bots) == len(set(bots)), (
        f"the same bot's arbitrage was sent again at the next nonce: pool {{nonce: bot}} {pool} "
        f"(tick errors: {errors})")
    assert len(receipts) == len(pool)  # what was pooled is what was mined: nothing held back or added


def test_1_one_opportunity_one_transaction_while_pending(system, accounts, chain):
    """One price gap, the keeper's trade for it pending: the next tick must not trade the same gap
    again with another bot (that second transaction can only revert or lose to the first)."""
    pool, receipts, errors = pending_past_timeout(system, accounts, chain)
    assert len(pool) == 1 and len(receipts) == 1, (
        f"{len(pool)} transactions of the keeper for one opportunity: pool {{nonce: bot}} {pool}, receipt "
        f"statuses {[r['status'] for r in receipts]} (tick errors: {errors})")


# -- 2 -------------------------------------------------------------------------------------------------
def test_2_lost_reply_after_broadcast_is_pending_then_mined(harness_chain, fault_proxy, accounts):
    """The proxy forwards eth_sendRawTransaction to the node and then drops the connection: the
    node has the transaction (automine mines it), the keeper saw a transport error. The attempt is
    journalled pending, then mined; never 'rejected'; send() returns the receipt."""
    w3 = harness_chain.w3
    journal = RecordingJournal()
    sender = sender_on(fault_proxy.uri, accounts[6], journal, priority_fee_wei=GWEI, timeout_s=20)
    fault_proxy.drop_response("eth_sendRawTransaction", count=1)
    base = int(w3.eth.get_block("latest")["baseFeePerGas"])
    error, sent = None, None
    try:
        sent = sender.send(str(accounts[5].address), b"", 21_000, base)
    except Exception as err:  # noqa: BLE001 - asserted below, after the journal
        error = first_line(err)
    assert fault_proxy.faults["drop"] == 1
    (row,) = journal.transactions()
    tx_hash = row["tx_hash"].lower()
    receipt = w3.eth.get_transaction_receipt(tx_hash)
    assert receipt["status"] == 1  # the node took it despite the lost reply
    assert "rejected" not in journal.statuses(tx_hash) and row["status"] == "mined", (
        f"journal wrote {journal.statuses(tx_hash)} for a transaction mined in block {receipt['blockNumber']} "
        f"(send raised {error})")
    assert [t["status"] for t in journal.transactions() if t["tx_hash"].lower() == tx_hash] == ["mined"]
    assert error is None and sent is not None and sent.tx_hash.lower() == tx_hash


# -- 3 -------------------------------------------------------------------------------------------------
def test_3_next_base_fee_above_the_cap_is_skipped_without_signing(system, accounts, chain):
    """The base fee jumps to 50 gwei, the cap is 10 gwei: the checkpoint job journals a
    fee_above_cap skip and signs nothing (no clamped transaction the node would refuse)."""
    w3 = chain.provider.web3
    settings = KeeperSettings(max_fee_cap_gwei=10, checkpoint_interval_s=3600, tx_timeout_s=5)
    job, journal = make_checkpoint_job(system, accounts[0], settings)
    owner = str(accounts[0].address)
    set_next_base_fee(w3, 50 * GWEI)
    mine(w3)
    nonce = w3.eth.get_transaction_count(owner, "pending")
    try:
        decisions = job.tick()
    except Exception as err:  # noqa: BLE001
        pytest.fail(f"the checkpoint tick raised {first_line(err)}")
    assert [d.reason for d in decisions] == ["fee_above_cap"]
    assert journal.transactions() == [] and w3.eth.get_transaction_count(owner, "pending") == nonce


def test_3_failed_checkpoint_send_does_not_move_the_schedule(system, accounts, chain):
    """A checkpoint that could not be sent (fee above the cap) is tried again at the next block once
    the fee is back under the cap, not an interval (an hour) later."""
    w3 = chain.provider.web3
    settings = KeeperSettings(max_fee_cap_gwei=10, checkpoint_interval_s=3600, tx_timeout_s=5)
    job, _journal = make_checkpoint_job(system, accounts[0], settings)
    owner = str(accounts[0].address)
    set_next_base_fee(w3, 50 * GWEI)
    mine(w3)
    first = None
    try:
        job.tick()
    except Exception as err:  # noqa: BLE001 - a runner catches it and ticks again at the next block
        first = first_line(err)
    set_next_base_fee(w3, GWEI)
    mine(w3)
    nonce = w3.eth.get_transaction_count(owner, "pending")
    decisions = job.tick()
    assert [(d.action, d.reason) for d in decisions] == [("send", "checkpoint")], (
        f"no checkpoint at the next block after the failed one (first tick: {first}; next_at={job.next_at}, "
        f"head time {w3.eth.get_block('latest')['timestamp']})")
    assert w3.eth.get_transaction_count(owner, "pending") == nonce + 1  # sent (automine mines it)


# -- 4 -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("wrapped", [True, False], ids=["jobset", "bare-job"])
def test_4_transaction_reorged_out_is_sent_again_and_ends_mined(system, accounts, chain, wrapped):
    """The keeper's arbitrage is mined in block T; the runner settles it; then block T is replaced
    (anvil_reorg depth 1, same height: Anvil drops T's transactions). The runner sees the new hash,
    the transaction goes back to the pool (the same bytes: the same hash) and is mined again; the
    journal ends with it 'mined', and the keeper traded once."""
    w3 = chain.provider.web3
    push_price_up(system, accounts[0])
    settings = KeeperSettings(tx_timeout_s=3, stuck_after_s=2)
    journal = RecordingJournal()
    job, _ = make_arb_job(system, accounts[1], settings, journal)
    keeper = str(accounts[1].address)
    start = w3.eth.get_transaction_count(keeper, "latest")
    state = {"ticks": 0, "idle": 0, "hash": None, "reorged_block": None}

    def on_block(number, _decisions):
        state["ticks"] += 1
        if state["ticks"] == 1:  # automine answers the send before it serves the receipt: let it land
            (sent,) = journal.transactions()
            w3.eth.wait_for_transaction_receipt(sent["tx_hash"], timeout=10)
        if state["ticks"] == 2:  # the trade of tick 1, mined at the head, is settled as mined
            mined = [t for t in journal.transactions() if t["status"] == "mined"]
            assert len(mined) == 1, journal.transactions()
            state["hash"] = mined[0]["tx_hash"].lower()
            receipt = w3.eth.get_transaction_receipt(state["hash"])
            assert int(receipt["blockNumber"]) == int(w3.eth.block_number)
            state["reorged_block"] = int(receipt["blockNumber"])
            reorg(w3, 1)  # the transactions of the head block are dropped by Anvil

    def sleep(_s):  # a chain goes on producing blocks while the keeper polls
        state["idle"] += 1
        if state["idle"] % 5 == 0:
            mine(w3)

    runner = Runner(w3, JobSet([job]) if wrapped else job, poll_interval_s=0.01, max_consecutive_errors=4, backoff_base_s=0.01,
                    backoff_max_s=0.05, on_block=on_block, sleep=sleep, journal=journal, reorg_depth=16)
    result = runner.run(max_blocks=5, install_signals=False)
    tx_hash = state["hash"]
    assert tx_hash is not None
    try:
        receipt = w3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:
        receipt = None
    assert receipt is not None and receipt["status"] == 1, (
        f"the reorged-out transaction {tx_hash} was not mined again (journal history: {journal.statuses(tx_hash)}, "
        f"runner reorgs seen: {result.reorgs}, errors: {result.errors})")
    rows = {t["tx_hash"].lower(): t["status"] for t in journal.transactions()}
    assert rows[tx_hash] == "mined", f"journal history of {tx_hash}: {journal.statuses(tx_hash)}"
    assert w3.eth.get_transaction_count(keeper, "latest") == start + 1, "the keeper traded more than once"
    intents = getattr(journal, "intents", None)
    if intents is not None:  # the intent model: sent again after the reorg, then mined again
        (intent,) = intents()
        assert intent.state == "mined" and intent.tx_hash.lower() == tx_hash
        assert journal.statuses(tx_hash).count("reorged") == 1


# -- 5 -------------------------------------------------------------------------------------------------
def test_5_backfill_through_a_node_refusing_wide_log_ranges(system, accounts, chain):
    """A trade is mined, then 1200 blocks pass while the keeper is down. Its backfill reads the
    range through a node that refuses eth_getLogs spans above 500 blocks and still finds the trade."""
    w3 = chain.provider.web3
    push_price_up(system, accounts[0])
    first = int(w3.eth.block_number) + 1
    trader, trader_journal = make_arb_job(system, accounts[1])
    trader.tick()  # automine: the trade is mined at once
    trades = trader_journal.transactions()
    assert len(trades) == 1
    trade = trades[0]["tx_hash"].lower()
    assert w3.eth.wait_for_transaction_receipt(trade, timeout=10)["status"] == 1
    head = mine(w3, 1200)
    with FaultProxy(chain.provider.uri) as proxy:
        proxy.limit_log_range(500)
        job, _ = make_arb_job(system, accounts[1])
        job.ctx.web3 = web3_for(proxy.uri, timeout_s=30)
        decisions = job.backfill(first, head)
        assert proxy.faults["log_range"] >= 1  # the node did refuse a range
    backfilled = [d for d in decisions if d.reason == "backfilled_trade"]
    assert [d.detail["tx"].lower() for d in backfilled] == [trade]


# -- 6 -------------------------------------------------------------------------------------------------
def test_6_waiting_for_confirmations_does_not_hammer_the_node(harness_chain, fault_proxy, accounts):
    """A block a second, three confirmations: one send() costs a bounded number of requests (the
    waits back off), not one eth_blockNumber per millisecond."""
    w3 = harness_chain.w3
    sender = sender_on(fault_proxy.uri, accounts[4], Journal(), priority_fee_wei=GWEI, confirmations=3,
                       timeout_s=30)
    base = int(w3.eth.get_block("latest")["baseFeePerGas"])
    set_interval_mining(w3, 1)
    try:
        before = Counter(fault_proxy.requests)
        started = time.monotonic()
        sent = sender.send(str(accounts[5].address), b"", 21_000, base)
        took = time.monotonic() - started
        calls = Counter(fault_proxy.requests)
        calls.subtract(before)
        head = int(w3.eth.block_number)
    finally:
        set_interval_mining(w3, 0)
        set_automine(w3, True)
    assert sent.status == 1 and head >= sent.block_number + 2  # three blocks include it
    total = sum(calls.values())
    assert calls["eth_blockNumber"] < 20 and total < 100, (
        f"{total} requests in {took:.1f} s for one send with 3 confirmations: {dict(calls.most_common(4))}")


# -- 9 -------------------------------------------------------------------------------------------------
def test_9_journal_takes_the_same_hash_twice():
    """Signing the same transaction again gives the same hash: journalling it again is no error."""
    journal = Journal()
    tx_hash, signer = "0x" + "ab" * 32, "0x" + "12" * 20
    journal.tx_pending(tx_hash, signer, 7, "test", None)
    journal.tx_pending(tx_hash, signer, 7, "test", None)
    assert [(t["tx_hash"], t["status"]) for t in journal.transactions()] == [(tx_hash, "pending")]


def test_9_resigned_identical_transaction_surfaces_the_nodes_error(harness_chain, accounts):
    """A transaction the node refuses (max fee 2 wei, below the base fee), sent twice: the second
    signature is byte-identical (same nonce, same fees). Both sends fail with the node's own
    answer, not a journal IntegrityError; the journal keeps one row, 'rejected'."""
    journal = RecordingJournal()
    sender = sender_on(harness_chain.uri, accounts[7], journal, priority_fee_wei=0, timeout_s=5)
    errors = []
    for _ in range(2):
        with pytest.raises(Exception) as info:  # noqa: PT011 - the node's error, whatever its class
            sender.send(str(accounts[5].address), b"", 21_000, 1)
        errors.append(info.value)
    hashes = {h for h, _ in journal.history}
    assert len(hashes) == 1  # the same bytes both times
    messages = [first_line(e) for e in errors]
    assert all("base fee" in m.lower() for m in messages), messages
    (row,) = journal.transactions()
    assert row["status"] == "rejected"


def test_3_refused_checkpoint_simulation_is_retried_soon_not_an_interval_later(system, accounts, chain):
    """A checkpoint whose simulation is refused (here: the signer is not a risk keeper) keeps its
    schedule: it is tried again after 1, then 2, 4, … blocks — not an hour later — and once the
    signer may call it, the checkpoint goes out."""
    w3 = chain.provider.web3
    settings = KeeperSettings(checkpoint_interval_s=3600)
    job, _journal = make_checkpoint_job(system, accounts[7], settings)  # not a risk keeper
    first = job.tick()
    assert [d.reason for d in first] == ["simulation_reverted"] and first[0].detail["error"]
    number = int(w3.eth.block_number)
    assert job.retry_block == number + 1 and job.next_at == 0  # the schedule did not move
    mine(w3)
    assert [d.reason for d in job.tick()] == ["simulation_reverted"] and job.retry_block == number + 1 + 2
    mine(w3)
    assert job.tick() == []  # resting: the second refusal asked for two blocks
    risk = system.contracts["master"]
    from ape import project

    project.RiskFacet.at(risk.address).setRiskKeeper(accounts[7].address, True, sender=accounts[0])
    mine(w3)
    assert [(d.action, d.reason) for d in job.tick()] == [("send", "checkpoint")]
