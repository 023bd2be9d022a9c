"""Keeper items not covered by tests/test_exactly_once.py (items 1-6, 9 are there):

8.   strike liquidations while the keeper was down: a restarted StrikeJob (same journal, its
     ``backfill`` called with the runner's cursor) sees the liquidation of a hedged long and closes
     the short in its first tick;
10a. a rate-limited eth_call in a JSON-RPC batch is a node error (``RpcError``), never a revert;
10b. ``ape keeper run --dry-run`` never moves the live ``keeper`` cursor (it uses ``keeper-dry-run``);
10c. decisions kept in memory are bounded (the newest ``memory``); all are stored;
10d. ETH/USD from the deployment's WETH feed (fresh, stale, reverting) and used by the arbitrage job;
11.  the risk checkpoint decided in the block where the keeper's own strike entry is still in flight
     (mining off: both land in the next block) has gas for valuing the position it did not see;
12.  a child whose copy of the master's breaker differs (a failed push) is found by the risk job,
     journalled, and brought back in line with ``pushBreaker()``;
and SIGTERM of the real daemon with a transaction in flight (mining off): a clean exit within 5 s,
the intent resumed by the next start and mined exactly once.

Every test drives behaviour that existed before the intent rewrite (2821a93) where it existed, so
the old code fails on behaviour rather than on a missing name where possible.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import warnings
from pathlib import Path

import pytest
from eth_abi import decode, encode
from eth_account import Account
from eth_utils import event_signature_to_log_topic, function_signature_to_4byte_selector
from web3 import Web3

from chain_harness import FaultProxy, web3_for
from macrostrike.deploy import aave
from macrostrike.deploy.system import DeployConfig, aave_market_of, deploy_system, usdc
from strike_helpers import move_pool_to
from strike_helpers import position_state as state
from macrostrike.keeper.journal import Decision, Journal
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.strike import StrikeContext, StrikeJob
from macrostrike.keeper.txsender import SimulationReverted, TxSender
from macrostrike.strategy.signals import LONG, SHORT

BOTS = 2
PRICE = 20_000.0
MAX = 2**256 - 1
UPDATE_ANSWER = function_signature_to_4byte_selector("updateAnswer(int256)")


# -- an Aave market with strike bots (and 2 AMM bots) on Ape's chain ----------------------------------
@pytest.fixture(scope="module")
def system(accounts):
    config = DeployConfig(amm_bots=2, long_bots=BOTS, short_bots=BOTS, pool_usd=2_000_000, capital_per_bot_usd=10_000,
                          initial_price_usd=PRICE, treasury_reserve_usd=1_000,
                          keepers=(str(accounts[1].address),))
    return deploy_system(accounts[0], config)


def strike_job(system, account, settings, journal):
    ctx = StrikeContext(system.manifest)
    sender = TxSender(account, priority_fee_wei=settings.priority_fee_wei, error_table=ctx.errors, journal=journal)
    return StrikeJob(ctx, sender, settings, journal)


def act(job, price=None):
    """One block's decisions, then the settlement of what they sent (automine)."""
    decisions = job.tick(price=price)
    flush = getattr(job, "flush", None)
    return decisions + (flush() if flush is not None else [])


def settled(decisions, reason):
    return [d for d in decisions if d.action in ("settle", "send") and d.reason == reason
            and d.detail.get("status") == "mined"]






def open_pair_and_liquidate_long(project, system, accounts, owner, chain, journal, settings):
    """A StrikeJob opens long #1 and short #1 (hedged); the job is dropped (the keeper goes down);
    a third party liquidates the long on Aave; 3 more blocks pass. Returns ``(liquidation receipt,
    the block the keeper last finished)``."""
    job = strike_job(system, accounts[1], settings, journal)
    job.bots[("long", 1)].desired = LONG
    job.bots[("short", 1)].desired = SHORT
    entered = act(job, PRICE)
    refused = [d for d in entered if d.reason == "simulation_reverted"]
    if refused:
        # Seen twice in full-suite runs (never alone): one of the two entries refused at simulation with
        # Panic(17), cause not found. This is the setup, not the behaviour under test: the trace of the
        # refused call goes into a warning (the CI log keeps it) and the entry is decided once more.
        warnings.warn(refused_entry_report(job, refused, chain.provider.web3), stacklevel=1)
        for d in refused:
            bot = job.bots[(d.detail["side"], d.bot_id)]
            bot.desired, bot.resting_until = (LONG if bot.side == "long" else SHORT), 0
        entered += act(job, PRICE)
    assert len([d for d in entered if d.reason == "signal_entry" and d.detail.get("status") == "mined"]) == 2, \
        [(d.action, d.reason, d.detail) for d in entered]
    holder = job.bots[("long", 1)].holder
    last_done = chain.provider.web3.eth.get_block("latest")
    del job  # the keeper is down from here

    market = aave_market_of(system.manifest, admin=owner)
    drop = PRICE * 0.9 * 10**18 / state(project, system, "long", 1).health_factor
    aave.set_price(market, "WBTC", drop)
    move_pool_to(system, owner, drop)
    assert aave.account_data(market, holder).health_factor < 1
    liquidator = accounts[4]
    token, pool = system.contracts["usdc"], market.pool_contract()
    token.mint(liquidator.address, usdc(20_000), sender=owner)
    token.approve(market.pool, MAX, sender=liquidator)
    receipt = pool.liquidationCall(market.asset("WBTC"), market.asset("USDC"), holder, MAX, False, sender=liquidator)
    chain.mine(3)
    assert state(project, system, "short", 1).open
    return receipt, last_done


def failed_frames(frame, depth=0):
    """Every frame of a callTracer result that failed: (depth, callee, selector, error, output)."""
    out = [(depth, frame.get("to"), frame.get("input", "")[:10], frame.get("error"), frame.get("output", "")[:138])
           ] if frame.get("error") else []
    for child in frame.get("calls") or []:
        out += failed_frames(child, depth + 1)
    return out


def refused_entry_report(job, refused, w3):
    """The refused entries' calls replayed with Anvil's ``debug_traceCall`` (callTracer) on the latest
    block: every frame that failed (depth, callee, selector, error, output), with the block's number
    and time, as one line per entry."""
    from macrostrike.keeper.strike import OPEN

    head = w3.eth.get_block("latest")
    lines = [f"strike entry refused at simulation (block {head['number']}, time {head['timestamp']}, "
             f"wall clock {int(time.time())})"]
    for d in refused:
        bot = job.bots[(d.detail["side"], d.bot_id)]
        data = OPEN + encode(["uint256"] * 4, [bot.bot_id, d.detail.get("margin", 0), d.detail.get("leverage_bps", 0),
                                               int(head["timestamp"]) + 3_600])
        call = {"from": job.signers.senders[0].address, "to": bot.diamond, "data": "0x" + data.hex()}
        trace = w3.provider.make_request("debug_traceCall", [call, "latest", {"tracer": "callTracer"}])
        failed = failed_frames(trace.get("result") or {})
        lines.append(f"{bot.side} #{bot.bot_id}: {d.detail.get('error')}; replayed now: "
                     f"{failed or 'succeeds'} {trace.get('error', '')}")
    return "\n".join(lines)


def hedge_closes(decisions):
    return [(d.detail.get("side"), d.bot_id, d.detail.get("status")) for d in decisions
            if d.reason == "hedge_close" and d.action in ("settle", "send") and d.detail.get("status") == "mined"]


# -- item 8 ---------------------------------------------------------------------------------------------
def test_8_restarted_keeper_closes_the_hedge_of_a_long_liquidated_while_it_was_down(
        project, system, accounts, owner, chain, tmp_path):
    """Same journal file, new process: the runner's first tick (its backfill from the journal's cursor,
    then the tick) sees the LiquidationCall of long #1 and closes short #1."""
    from macrostrike.keeper.runner import Runner

    settings = KeeperSettings(strike_leverage_bps=20_000, hedge_pairs=[(1, 1)])
    url = f"sqlite:///{tmp_path / 'keeper.sqlite'}"
    journal = Journal(url)
    receipt, last_done = open_pair_and_liquidate_long(project, system, accounts, owner, chain, journal, settings)
    # what the runner wrote after its last tick before the keeper went down
    journal.set_last_block(StrikeJob.name, int(last_done["number"]), "0x" + bytes(last_done["hash"]).hex())
    journal.close()

    journal = Journal(url)  # the restarted keeper
    job = strike_job(system, accounts[1], settings, journal)
    runner = Runner(chain.provider.web3, job, poll_interval_s=0.01, journal=journal)
    result = runner.run(1, install_signals=False)
    decisions = list(journal.decisions) + (job.flush() if hasattr(job, "flush") else [])
    seen = [d for d in decisions if d.reason == "liquidated"]
    assert [(d.detail["side"], d.bot_id, d.detail["tx"]) for d in seen] == [("long", 1, str(receipt.txn_hash))], (
        f"the restarted keeper did not see the liquidation of block {receipt.block_number} "
        f"(its cursor was {int(last_done['number'])}, backfilled {result.backfilled_blocks} blocks); "
        f"decisions: {[(d.action, d.reason, d.bot_id) for d in decisions]}")
    assert hedge_closes(decisions) == [("short", 1, "mined")], [
        (d.action, d.reason, d.bot_id, d.detail.get("side"), d.detail.get("status"), d.detail.get("trigger"))
        for d in decisions]
    assert not state(project, system, "short", 1).open
    journal.close()


def test_8_backfill_with_the_runners_cursor_alone_rescans_the_missed_blocks(project, system, accounts, owner, chain):
    """A journal with only the runner's cursor (no liquidation-scan cursor: e.g. written by an older
    keeper): ``backfill(cursor + 1, head)`` as the runner calls it makes the first tick scan the
    missed blocks, and short #1 is closed in that tick."""
    settings = KeeperSettings(strike_leverage_bps=20_000, hedge_pairs=[(1, 1)])
    receipt, last_done = open_pair_and_liquidate_long(project, system, accounts, owner, chain, Journal(), settings)
    journal = Journal()
    journal.set_last_block("keeper", int(last_done["number"]), "0x" + bytes(last_done["hash"]).hex())
    job = strike_job(system, accounts[1], settings, journal)
    head = int(chain.provider.web3.eth.block_number)
    cursor = journal.last_block("keeper")
    assert cursor < receipt.block_number <= head
    if hasattr(job, "backfill"):
        job.backfill(cursor + 1, head)
    decisions = act(job)
    assert [(d.detail["side"], d.bot_id) for d in decisions if d.reason == "liquidated"] == [("long", 1)], (
        f"liquidation in block {receipt.block_number} (cursor {cursor}, head {head}) not seen: "
        f"{[(d.action, d.reason, d.bot_id) for d in decisions]}")
    if not hedge_closes(decisions):  # a hedge close sent in the tick but not yet final: settle it
        decisions += job.flush(timeout_s=60)
    assert hedge_closes(decisions) == [("short", 1, "mined")], [
        (d.action, d.reason, d.bot_id, d.detail.get("side"), d.detail.get("status")) for d in decisions]
    assert not state(project, system, "short", 1).open


# -- item 10a --------------------------------------------------------------------------------------------
class BatchErrorProxy(FaultProxy):
    """A FaultProxy that, while ``rate_limited`` > 0, answers each ``eth_call`` of a JSON-RPC batch
    with ``{"code": -32005, "message": "rate limited"}`` (what hosted nodes answer per entry)."""

    rate_limited = 0

    def _handle(self, handler, body):
        payload = json.loads(body)
        if isinstance(payload, list) and self.rate_limited > 0 and any(c.get("method") == "eth_call" for c in payload):
            self.rate_limited -= 1
            answer = [{"jsonrpc": "2.0", "id": c.get("id"),
                       "error": {"code": -32005, "message": "rate limited"}} for c in payload]
            self._reply(handler, 200, json.dumps(answer).encode())
            return
        super()._handle(handler, body)


def test_10a_rate_limited_batch_call_is_an_rpc_error_not_a_revert(system, chain):
    ctx = StrikeContext(system.manifest)
    long_diamond = system.manifest.address("long")
    count_call = (long_diamond, function_signature_to_4byte_selector("botCount()"))
    unknown = (long_diamond, bytes.fromhex("deadbeef"))  # no facet: the diamond reverts
    with BatchErrorProxy(chain.provider.uri) as proxy:
        ctx.web3 = web3_for(proxy.uri)
        # sanity through the proxy: a real answer, and a real revert is a SimulationReverted
        ok, reverted = ctx.batch_call([count_call, unknown])
        assert decode(["uint256"], ok)[0] == BOTS
        assert isinstance(reverted, SimulationReverted), reverted
        proxy.rate_limited = 1
        try:
            out = ctx.batch_call([count_call, unknown])
        except SimulationReverted as err:  # pragma: no cover - the bug
            pytest.fail(f"a rate-limited eth_call raised SimulationReverted: {err}")
        except Exception as err:  # noqa: BLE001
            from macrostrike.keeper.strike import RpcError

            assert isinstance(err, RpcError), f"{type(err).__name__}: {err}"
            assert "rate limited" in str(err)
        else:
            pytest.fail(f"a rate-limited batch eth_call was read as a verdict on the calls: {out!r}")
        assert proxy.rate_limited == 0
        # afterwards the same calls work again
        ok, reverted = ctx.batch_call([count_call, unknown])
        assert decode(["uint256"], ok)[0] == BOTS and isinstance(reverted, SimulationReverted)


def test_10a_rate_limited_entries_from_the_providers_batch_are_not_reverts(system, accounts, monkeypatch):
    """The strike job's per-block reads go through batch_call: a rate-limited entry (here the
    provider's ``make_batch_request`` answers it) must raise (the runner retries the block), never
    read as a revert (a skipped action, a position taken for closed)."""
    job = strike_job(system, accounts[1], KeeperSettings(hedge_pairs=[(1, 1)]), Journal())
    provider = job.ctx.web3.provider

    def rate_limited(requests):
        return [{"jsonrpc": "2.0", "id": i, "error": {"code": -32005, "message": "rate limited"}}
                for i, _ in enumerate(requests)]

    monkeypatch.setattr(provider, "make_batch_request", rate_limited, raising=False)
    with pytest.raises(Exception) as info:
        job.ctx.batch_call([(system.manifest.address("long"), function_signature_to_4byte_selector("botCount()"))])
    assert not isinstance(info.value, SimulationReverted), info.value
    assert "rate limited" in str(info.value)


# -- item 10c --------------------------------------------------------------------------------------------
def test_10c_decisions_in_memory_are_bounded_all_are_stored():
    default = Journal()
    assert getattr(default.decisions, "maxlen", None) is not None, \
        f"Journal().decisions is unbounded ({type(default.decisions).__name__}): a long run grows without limit"
    journal = Journal(memory=5)
    for block in range(1, 13):
        journal.record(Decision(block, "arbitrage", "skip", "no_opportunity", None, {"n": block}))
    assert [d.block for d in journal.decisions] == [8, 9, 10, 11, 12]
    assert [d.block for d in journal.stored_decisions()] == list(range(1, 13))
    assert journal.counts[("skip", "no_opportunity")] == 12


# -- item 10d --------------------------------------------------------------------------------------------
def set_feed(system, owner, usd):
    """``updateAnswer`` on the deployment's WETH feed (OwnedAggregator, 8 decimals; ``owner`` owns it)."""
    feed = system.manifest.address("aave_feed:WETH")
    w3 = Web3(Web3.HTTPProvider(owner.provider.uri))
    tx = w3.eth.send_transaction({"from": owner.address, "to": feed,
                                  "data": UPDATE_ANSWER + encode(["int256"], [round(usd * 10**8)])})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


def test_10d_eth_usd_reads_the_deployments_weth_feed(system, owner, chain):
    from macrostrike.keeper.prices import EthUsd

    w3 = chain.provider.web3
    feed = system.manifest.address("aave_feed:WETH")
    settings = KeeperSettings(eth_usd_price=1.0)
    found = EthUsd.for_deployment(w3, settings, system.manifest)
    assert found.feed == feed
    assert found.price() == pytest.approx(300.0) and found.source == f"feed {feed}"

    eth_usd = EthUsd(w3, feed, 1.0, max_age_s=3_600, refresh_s=0)
    assert eth_usd.price() == pytest.approx(300.0)
    set_feed(system, owner, 2_345.67)
    assert eth_usd.price() == pytest.approx(2_345.67) and eth_usd.source == f"feed {feed}"

    # a stale answer: the explicit fallback, and the source says so
    w3.provider.make_request("evm_increaseTime", [3_601])
    w3.provider.make_request("evm_mine", [])
    assert eth_usd.price() == 1.0
    assert eth_usd.source.startswith("fallback") and feed in eth_usd.source
    set_feed(system, owner, 2_500.0)  # a fresh answer: back on the feed
    assert eth_usd.price() == pytest.approx(2_500.0) and eth_usd.source == f"feed {feed}"


def test_10d_reverting_or_missing_feed_falls_back(system, owner, chain):
    from macrostrike.keeper.prices import EthUsd

    w3 = chain.provider.web3
    reverting = system.manifest.address("long")  # a diamond: latestRoundData() has no facet, it reverts
    eth_usd = EthUsd(w3, reverting, 1_234.0, refresh_s=0)
    assert eth_usd.price() == 1_234.0
    assert eth_usd.source.startswith("fallback") and reverting in eth_usd.source
    no_code = EthUsd(w3, str(owner.address), 1_234.0, refresh_s=0)  # an EOA: empty answer
    assert no_code.price() == 1_234.0 and no_code.source.startswith("fallback")
    none = EthUsd(w3, None, 1_234.0, refresh_s=0)
    assert none.price() == 1_234.0 and none.source.startswith("fallback")


def tick_at(job, header):
    """``job.tick(header)`` (the keeper before the intent rewrite ticked on the latest block only)."""
    import inspect

    return job.tick(header) if inspect.signature(job.tick).parameters else job.tick()


def test_10d_arbitrage_gas_cost_follows_the_feed(system, accounts, owner, chain):
    """The setting eth_usd_price is 1 $/ETH (the fallback); the feed says ETH costs $10^9: the gap
    is unprofitable after gas, and the decision says which ETH/USD it used. At 2x the feed price
    the gas cost doubles. Back at $300 the trade is submitted with eth_usd=300."""
    from macrostrike.keeper.arbitrage import ArbitrageJob
    from macrostrike.keeper.context import AmmContext
    from market_helpers import push_price_up

    push_price_up(system, owner)
    settings = KeeperSettings(eth_usd_price=1.0)
    journal = Journal()
    ctx = AmmContext(system.manifest)
    sender = TxSender(accounts[1], priority_fee_wei=settings.priority_fee_wei, error_table=ctx.errors,
                      journal=journal, max_fee_cap_wei=settings.fee_cap_wei())
    set_feed(system, owner, 1e9)
    job = ArbitrageJob(ctx, sender, settings, journal)
    if hasattr(job, "eth_usd"):
        job.eth_usd.refresh_s = 0
    header = chain.provider.web3.eth.get_block("latest")
    first = tick_at(job, header)
    assert [d.reason for d in first] == ["unprofitable_after_gas"], [(d.reason, d.detail) for d in first]
    detail = first[0].detail
    assert detail["eth_usd"] == pytest.approx(1e9)
    assert detail["eth_usd_source"] == f"feed {system.manifest.address('aave_feed:WETH')}"
    set_feed(system, owner, 2e9)
    second = tick_at(job, header)  # the same block's fees: only the ETH price changed
    assert [d.reason for d in second] == ["unprofitable_after_gas"]
    assert second[0].detail["eth_usd"] == pytest.approx(2e9)
    assert abs(second[0].detail["gas_cost_usdc"] - 2 * detail["gas_cost_usdc"]) <= 2

    set_feed(system, owner, 300.0)
    decisions = job.tick()
    submitted = [d for d in decisions if d.reason == "submitted"]
    assert submitted, [(d.reason, d.detail) for d in decisions]
    assert all(d.detail["eth_usd"] == pytest.approx(300.0) for d in submitted)
    job.flush()


# -- item 11 --------------------------------------------------------------------------------------------
def entry_and_checkpoint_in_one_block(system, accounts, chain, settings):
    """Mining off, as on a chain with a block time: one JobSet tick decides long #1's entry and the
    risk checkpoint (estimated on a state without the position); one block then mines both, the
    entry first (same signer, lower nonce). Returns ``{(job, reason): settled detail}``."""
    from chain_harness import mine, set_automine
    from macrostrike.keeper.jobs import JobSet
    from macrostrike.keeper.jobs import strike_job as make_strike_job
    from macrostrike.keeper.risk import CheckpointJob
    from macrostrike.keeper.signers import signer_pool

    w3 = chain.provider.web3
    journal = Journal()
    pool = signer_pool([accounts[1]], settings, journal=journal)
    risk = CheckpointJob(system.manifest, pool, settings, journal)  # the pool's TxManager, shared
    strike = make_strike_job(system.manifest, pool, settings, journal)
    jobs = JobSet([strike, risk])  # the keeper's order: the checkpoint last
    strike.bots[("long", 1)].desired = LONG
    set_automine(w3, False)
    try:
        sent = jobs.tick()
        mine(w3)
    finally:
        set_automine(w3, True)
    assert [(d.job, d.reason) for d in sent if d.action == "send"] == [("strike", "signal_entry"), ("risk", "checkpoint")]
    outcome = {(d.job, d.reason): d.detail for d in jobs.settle() if d.action == "settle"}
    assert outcome[("strike", "signal_entry")]["status"] == "mined", outcome
    assert outcome[("risk", "checkpoint")]["included_block"] == outcome[("strike", "signal_entry")]["included_block"]
    return outcome


def test_11_checkpoint_decided_with_an_entry_in_flight_has_gas_for_the_new_position(system, accounts, chain):
    """The checkpoint values the position that landed before it in its block: its gas limit must
    cover it, or it reverts out of gas and that block's breaker check is lost."""
    settings = KeeperSettings(strike_leverage_bps=20_000, checkpoint_interval_s=3_600)
    outcome = entry_and_checkpoint_in_one_block(system, accounts, chain, settings)
    assert outcome[("risk", "checkpoint")]["status"] == "mined", outcome[("risk", "checkpoint")]


def test_11_a_checkpoint_out_of_gas_is_journalled_as_such(system, accounts, chain):
    """Without the headroom (margin 0, nothing per entry) the same checkpoint runs out of gas: the
    journal says so, with the gas used and the limit, instead of "the call succeeds on the block's
    post-state" (true, and no help)."""
    settings = KeeperSettings(strike_leverage_bps=20_000, checkpoint_interval_s=3_600, gas_limit_margin_bps=0,
                              checkpoint_gas_per_entry=0)
    checkpoint = entry_and_checkpoint_in_one_block(system, accounts, chain, settings)[("risk", "checkpoint")]
    assert checkpoint["status"] == "reverted", checkpoint
    assert checkpoint["error"].startswith("out of gas: used "), checkpoint["error"]
    assert f"{checkpoint['gas_used']:,}" in checkpoint["error"], checkpoint["error"]


# -- item 12 --------------------------------------------------------------------------------------------
SET_MASTER_BREAKER = function_signature_to_4byte_selector("setMasterBreaker(bool)")
CHILD_BREAKER = function_signature_to_4byte_selector("masterBreakerTripped()")


def test_12_a_child_whose_breaker_copy_differs_is_pushed_back_in_line(system, accounts, chain):
    """The long child's copy of the breaker says tripped while the master's is not (what a failed
    push leaves: BreakerPushFailed). The risk job's first block reads every copy, journals the child,
    sends ``pushBreaker()`` once; after it is mined the copies agree and that is journalled too."""
    from macrostrike.keeper.risk import CheckpointJob
    from macrostrike.keeper.signers import signer_pool

    w3 = chain.provider.web3
    master, child = system.manifest.address("master"), system.manifest.address("long")
    copy = lambda: bool(int.from_bytes(w3.eth.call({"to": child, "data": CHILD_BREAKER})[:32], "big"))  # noqa: E731
    w3.provider.make_request("anvil_impersonateAccount", [master])
    w3.provider.make_request("anvil_setBalance", [master, hex(10**18)])
    try:  # setMasterBreaker is master-only: only the master's own call can set the copy
        tx = w3.eth.send_transaction({"from": master, "to": child, "data": SET_MASTER_BREAKER + encode(["bool"], [True])})
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    finally:
        w3.provider.make_request("anvil_stopImpersonatingAccount", [master])
    assert copy() is True

    settings = KeeperSettings(checkpoint_interval_s=0)  # no checkpoints: the copies alone
    journal = Journal()
    job = CheckpointJob(system.manifest, signer_pool([accounts[1]], settings, journal=journal), settings, journal)
    first = [(d.action, d.reason, d.detail.get("children")) for d in job.tick()]
    assert first == [("observe", "breaker_out_of_sync", ["long"]), ("send", "push_breaker", None)], first
    settled = [(d.reason, d.detail["status"]) for d in job.flush(timeout_s=60)]
    assert settled == [("push_breaker", "mined")], settled
    assert copy() is False
    assert [(d.action, d.reason) for d in job.tick()] == [("observe", "breaker_in_sync")]
    assert job.tick() == []  # in sync: read again only after the next mined checkpoint


# -- the real daemon: 10b and SIGTERM with a transaction in flight ---------------------------------------
OWNER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # Anvil test account 0
EXECUTED = event_signature_to_log_topic("ArbitrageExecuted(uint256,address,address,uint256,uint256,uint256,uint256)")


@pytest.fixture(scope="module")
def daemon_world(tmp_path_factory):
    """A separate Anvil with a system of 3 AMM bots deployed by `ape run deploy`."""
    from conftest import start_anvil
    from macrostrike.deploy.manifest import Manifest
    from ops_helpers import ape

    tmp = tmp_path_factory.mktemp("keeper_items")
    with start_anvil() as uri:
        env = {"MACROSTRIKE_DEPLOYMENTS": str(tmp),
               "MACROSTRIKE_KEEPER_POLL_INTERVAL_S": "0.1",
               "MACROSTRIKE_KEEPER_SIGNER_MAX_OPS": "1000",
               "MACROSTRIKE_KEEPER_STUCK_AFTER_S": "600"}
        deployed = ape("run", "deploy", "--network", uri, "--bots", "3", "--long-bots", "0", "--short-bots", "0",
                       env=env)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        manifest = Manifest.from_json(json.loads((tmp / "31337.json").read_text()))
        yield uri, env, manifest, tmp


def rpc(w3, method, *params):
    answer = w3.provider.make_request(method, list(params))
    assert not answer.get("error"), answer
    return answer.get("result")


def dislocate(w3, manifest, *, wait=True):
    """Mint 2% of DEX A's USDC reserve into the pair and ``sync()``: WBTC dearer on DEX A."""
    owner = Account.from_key(OWNER_KEY)
    pair, token = manifest.address("dex_a_pair"), manifest.address("usdc")
    token0 = decode(["address"], w3.eth.call({"to": pair, "data": "0x0dfe1681"}))[0]
    r0, r1, _ = decode(["uint112", "uint112", "uint32"], w3.eth.call({"to": pair, "data": "0x0902f1ac"}))
    reserve = r0 if token0.lower() == token.lower() else r1
    mint = function_signature_to_4byte_selector("mint(address,uint256)") + encode(["address", "uint256"],
                                                                                 [pair, reserve // 50])
    hashes = [w3.eth.send_transaction({"from": owner.address, "to": to, "data": data, "gas": 300_000})
              for to, data in ((token, mint), (pair, bytes.fromhex("fff6cae9")))]
    if wait:
        for h in hashes:
            assert w3.eth.wait_for_transaction_receipt(h)["status"] == 1
    return hashes


def wait_until(predicate, timeout_s, what, log_path=None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    tail = Path(log_path).read_text()[-3000:] if log_path else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def with_journal(url, fn):
    journal = Journal(url)
    try:
        return fn(journal)
    finally:
        journal.close()


@pytest.mark.slow
def test_10b_dry_run_does_not_move_the_live_keeper_cursor(daemon_world):
    from ops_helpers import ape

    uri, env, _manifest, tmp = daemon_world
    w3 = Web3(Web3.HTTPProvider(uri))
    url = f"sqlite:///{tmp / 'dry-run.sqlite'}"
    live = ape("keeper", "run", "--network", uri, "--blocks", "1", "--journal", url, env=env)
    assert live.returncode == 0, live.stdout + live.stderr
    cursor = with_journal(url, lambda j: j.last_block("keeper"))
    assert cursor == int(w3.eth.block_number)

    rpc(w3, "anvil_mine", 5)
    head = int(w3.eth.block_number)
    dry = ape("keeper", "run", "--network", uri, "--blocks", "1", "--dry-run", "--journal", url, env=env)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    cursors = with_journal(url, lambda j: (j.last_block("keeper"), j.last_block("keeper-dry-run")))
    assert cursors[0] == cursor, f"the dry run moved the live keeper's cursor {cursor} -> {cursors[0]} (head {head})"
    assert cursors[1] == head

    # the live keeper still backfills the 5 blocks it has not processed
    again = ape("keeper", "run", "--network", uri, "--blocks", "1", "--journal", url, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "backfilled_blocks=5" in again.stdout, again.stdout


def keeper_daemon(uri, env, url, log):
    from ops_helpers import APE, ROOT

    return subprocess.Popen([APE, "keeper", "run", "--network", uri, "--journal", url], cwd=ROOT,
                            env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


@pytest.mark.slow
def test_sigterm_with_a_transaction_in_flight_then_resume(daemon_world):
    uri, env, manifest, tmp = daemon_world
    w3 = Web3(Web3.HTTPProvider(uri))
    url = f"sqlite:///{tmp / 'sigterm.sqlite'}"
    log_path = tmp / "sigterm.log"
    amm = manifest.address("amm")
    start_block = int(w3.eth.block_number)
    with open(log_path, "w") as log:
        proc = keeper_daemon(uri, env, url, log)
        try:
            wait_until(lambda: with_journal(url, lambda j: j.last_block("keeper")) is not None, 120,
                       "the keeper's first block", log_path)
            rpc(w3, "evm_setAutomine", False)
            dislocate(w3, manifest, wait=False)
            rpc(w3, "evm_mine")  # the dislocation in one block; nothing mined after it
            wait_until(lambda: with_journal(url, lambda j: [t for t in j.transactions("pending")
                                                            if t["job"] == "arbitrage"]), 60,
                       "an arbitrage transaction in flight", log_path)
            term_at = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the keeper did not exit within 5 s of SIGTERM\n{log_path.read_text()[-3000:]}")
            assert code == 0, log_path.read_text()[-3000:]
            assert time.monotonic() - term_at < 5
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

        journal = Journal(url)
        in_flight = [i for i in journal.intents(job="arbitrage") if i.state == "sent"]
        assert len(in_flight) >= 1, journal.intents()
        intent = in_flight[0]
        attempts = journal.attempts(intent.id)
        assert [a["status"] for a in attempts] == ["pending"], attempts
        pooled = rpc(w3, "txpool_content")["pending"]
        pooled_hashes = {tx["hash"].lower() for by_nonce in pooled.values() for tx in by_nonce.values()}
        assert attempts[0]["tx_hash"].lower() in pooled_hashes
        journal.close()
        assert "stopped by signal" in log_path.read_text()

        # mining back on, the keeper restarted: it resumes the intent and decides nothing new for the bot
        rpc(w3, "evm_setAutomine", True)
        proc = keeper_daemon(uri, env, url, log)
        try:
            wait_until(lambda: "resumed 1 open intent" in log_path.read_text(), 120, "the resume", log_path)
            rpc(w3, "evm_mine")
            wait_until(lambda: with_journal(url, lambda j: j.intent(intent.id).state) == "mined", 60,
                       "the resumed intent to be mined", log_path)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    output = log_path.read_text()
    assert "Traceback" not in output, output[-3000:]

    journal = Journal(url)
    final = journal.intent(intent.id)
    rows = journal.intents(job="arbitrage")
    attempts = journal.attempts(intent.id)
    journal.close()
    assert final.state == "mined" and final.tx_hash == attempts[0]["tx_hash"]
    # while it was open no other intent was created for its bot
    same_bot = [i for i in rows if i.subject == intent.subject and i.id != intent.id]
    assert all(i.created_block >= final.block for i in same_bot), [(i.id, i.state, i.created_block) for i in same_bot]
    # on chain: the keeper's transactions for that bot up to the intent's block are exactly this one
    keeper_txs = []
    for n in range(start_block + 1, final.block + 1):
        for tx in w3.eth.get_block(n, full_transactions=True)["transactions"]:
            if str(tx["from"]).lower() == intent.signer.lower() and str(tx["to"]).lower() == amm.lower():
                bot_id = int(bytes(tx["input"])[4:36].hex(), 16)
                if bot_id == intent.bot_id:
                    keeper_txs.append("0x" + bytes(tx["hash"]).hex())
    assert keeper_txs == [final.tx_hash], keeper_txs
    logs = w3.eth.get_logs({"address": amm, "fromBlock": start_block + 1, "toBlock": final.block,
                            "topics": ["0x" + EXECUTED.hex()]})
    assert ["0x" + bytes(log["transactionHash"]).hex() for log in logs].count(final.tx_hash) == 1


# -- the daemon's start survives a transient node fault ------------------------------------------------
@pytest.mark.slow
def test_run_start_survives_one_503(anvil_node, tmp_path):
    """One HTTP 503 while `keeper run` connects is retried (the loop retries such faults too): the
    command goes on to its next check — here the missing deployment manifest, a one-line user error —
    instead of ending with "cannot connect". Found by the chaos soak (a restarted keeper died at start)."""
    from ops_helpers import ape

    env = {"MACROSTRIKE_DEPLOYMENTS": str(tmp_path)}  # an empty folder: no manifest for this chain
    with FaultProxy(anvil_node) as proxy:
        proxy.http_error(503, None, count=1)
        result = ape("keeper", "run", "--network", proxy.uri, "--blocks", "1", env=env)
        assert proxy.faults["http_503"] == 1
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cannot connect" not in result.stderr, result.stderr
    assert "manifest" in result.stderr.lower(), result.stderr
