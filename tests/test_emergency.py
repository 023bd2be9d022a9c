"""Emergency triggers (macrostrike.keeper.emergency) on Anvil against a deployed system: each trigger
is made to fire (the base fee spiked with ``anvil_setNextBlockBaseFeePerGas``, failed sends in a
row, the price feed left without updates), and the test checks the journal (the values that fired
it), the action on chain (children paused through the master) and the operator's alerts (a loopback
``json://`` receiver, tests/test_alerts.py), then the "resolved" message when the cause is gone."""

import json

import pytest

from macrostrike.deploy import aave
from macrostrike.deploy.system import DeployConfig, aave_market_of, deploy_system, usdc
from macrostrike.keeper.alerts import Alerter, KeeperAlerts
from macrostrike.keeper.emergency import emergency_job
from macrostrike.keeper.journal import Decision, Journal
from macrostrike.keeper.risk import CheckpointJob
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.signers import signer_pool
from macrostrike.keeper.strike import StrikeContext, StrikeJob
from macrostrike.strategy.signals import LONG
from ops_helpers import ape
from strike_helpers import move_pool_to
from strike_helpers import position_state as state
from test_alerts import Receiver

GWEI = 10**9
PRICE = 20_000.0
MAX = 2**256 - 1


@pytest.fixture(scope="module")
def system(accounts):
    config = DeployConfig(amm_bots=1, long_bots=1, short_bots=1, pool_usd=2_000_000, capital_per_bot_usd=10_000,
                          initial_price_usd=PRICE, treasury_reserve_usd=1_000,
                          keepers=(str(accounts[1].address),))
    return deploy_system(accounts[0], config)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def rpc(chain, method, *params):
    return chain.provider.web3.provider.make_request(method, list(params))


def make_job(system, accounts, receiver, **overrides):
    settings = KeeperSettings(**overrides)
    journal = Journal()
    pool = signer_pool([accounts[1]], settings, journal=journal)
    owner = signer_pool([accounts[0]], settings, journal=journal).senders[0]
    alerter = Alerter([receiver.url()], interval_s=3600)
    job = emergency_job(system.manifest, pool, settings, journal, alerter, owner=owner)
    return job, alerter


def paused(project, system):
    return {role: bool(project.ChildCoordinationFacet.at(system.manifest.address(role)).paused())
            for role in ("long", "short", "amm")}


def tick(chain, job):
    return job.tick(chain.provider.web3.eth.get_block("latest"))


def messages(receiver, n):
    return [receiver.next()[1] for _ in range(n)]


def fields(message):
    return dict(line.split(": ", 1) for line in message["message"].splitlines())


def test_base_fee_above_the_cap_for_n_blocks_stops_every_child(chain, project, accounts, system, receiver):
    job, alerter = make_job(system, accounts, receiver, max_fee_cap_gwei=50, emergency_fee_blocks=3,
                         emergency_triggers=["congestion"])
    assert job.actions_of("congestion") == ["stop"]
    for n in range(3):
        rpc(chain, "anvil_setNextBlockBaseFeePerGas", hex(80 * GWEI))
        chain.mine()
        decisions = tick(chain, job)
        if n < 2:
            assert decisions == [] and not any(paused(project, system).values())
    fired = [d for d in decisions if d.reason == "emergency_congestion"]
    assert len(fired) == 1 and fired[0].detail["base_fee_wei"] == 80 * GWEI
    assert fired[0].detail["fee_cap_wei"] == 50 * GWEI and fired[0].detail["blocks_above_cap"] == 3
    (sent,) = [d for d in decisions if d.reason == "emergency_action"]
    assert sent.action == "send" and sent.detail["emergency_action"] == "stop"
    chain.mine()
    settled = tick(chain, job)  # the intent settles; the trigger still holds: no second action
    assert [d.detail["status"] for d in settled if d.reason == "emergency_action"] == ["mined"]
    assert paused(project, system) == {"long": True, "short": True, "amm": True}
    alert, action, mined = messages(receiver, 3)
    assert alert["title"] == "[macrostrike] emergency trigger congestion" and alert["type"] == "failure"
    assert fields(alert)["base_fee_wei"] == str(80 * GWEI) and fields(alert)["actions"] == "stop"
    assert action["title"] == "[macrostrike] emergency action stop sent"
    assert mined["title"] == "[macrostrike] emergency action stop mined"
    rpc(chain, "anvil_setNextBlockBaseFeePerGas", hex(GWEI))
    chain.mine()
    cleared = tick(chain, job)
    assert [d.reason for d in cleared] == ["emergency_cleared"]
    resolved = receiver.next()[1]
    assert resolved["title"] == "[macrostrike] RESOLVED: emergency trigger congestion"
    alerter.close()


def test_failed_sends_in_a_row_fire_congestion(chain, project, accounts, system, receiver):
    job, alerter = make_job(system, accounts, receiver, emergency_failed_sends=2, emergency_triggers=["congestion"],
                         emergency_actions={"congestion": ["pause:amm"]})
    number = chain.blocks.head.number
    job.observe([Decision(number, "arbitrage", "skip", "send_rejected", 0, {"error": "nonce too low"})])
    assert tick(chain, job) == []
    job.observe([Decision(number, "strike", "skip", "send_rejected", 1, {"error": "insufficient funds"})])
    decisions = tick(chain, job)
    assert [d.reason for d in decisions] == ["emergency_congestion", "emergency_action"]
    assert decisions[0].detail["failed_sends_in_a_row"] == 2
    chain.mine()
    tick(chain, job)
    assert paused(project, system) == {"long": False, "short": False, "amm": True}
    assert fields(receiver.next()[1])["failed_sends_in_a_row"] == "2"
    alerter.close()


def test_stale_price_feed_pauses_the_strike_children(chain, project, accounts, system, receiver):
    job, alerter = make_job(system, accounts, receiver, emergency_feed_max_age_s=3_600,
                         emergency_triggers=["stale_feed"])
    assert tick(chain, job) == []  # fresh after the deploy
    rpc(chain, "evm_increaseTime", 3_601)
    chain.mine()
    decisions = tick(chain, job)
    (fired,) = [d for d in decisions if d.reason == "emergency_stale_feed"]
    assert fired.detail["age_s"] > 3_600 and fired.detail["max_age_s"] == 3_600
    assert fired.detail["feed"] == system.manifest.address("aave_feed:WBTC")
    assert sorted(d.detail["emergency_action"] for d in decisions if d.reason == "emergency_action") == \
        ["pause:long", "pause:short"]
    chain.mine()
    tick(chain, job)
    assert paused(project, system) == {"long": True, "short": True, "amm": False}
    alert = receiver.next()[1]
    assert alert["title"] == "[macrostrike] emergency trigger stale_feed"
    assert int(fields(alert)["age_s"]) > 3_600 and fields(alert)["actions"] == "pause:long,pause:short"
    feed = project.MockV3Aggregator.at(system.manifest.address("aave_feed:WBTC"))
    feed.updateAnswer(feed.latestAnswer(), sender=accounts[0])  # the feed answers again
    cleared = tick(chain, job)
    assert [d.reason for d in cleared] == ["emergency_cleared"]
    titles = [m["title"] for m in messages(receiver, 5)]  # 2 sent + 2 mined + resolved
    assert "[macrostrike] RESOLVED: emergency trigger stale_feed" in titles
    alerter.close()


def test_without_an_owner_signer_triggers_alert_and_skip(chain, project, accounts, system, receiver):
    settings = KeeperSettings(max_fee_cap_gwei=50, emergency_fee_blocks=1, emergency_triggers=["congestion"])
    journal = Journal()
    pool = signer_pool([accounts[1]], settings, journal=journal)
    alerter = Alerter([receiver.url()], interval_s=3600)
    job = emergency_job(system.manifest, pool, settings, journal, alerter)
    rpc(chain, "anvil_setNextBlockBaseFeePerGas", hex(80 * GWEI))
    chain.mine()
    decisions = tick(chain, job)
    assert [(d.action, d.reason) for d in decisions] == [("observe", "emergency_congestion"),
                                                         ("skip", "no_emergency_signer")]
    assert not any(paused(project, system).values())
    titles = {m["title"] for m in messages(receiver, 2)}
    assert titles == {"[macrostrike] emergency trigger congestion", "[macrostrike] emergency action stop NOT taken"}
    alerter.close()


def burn_liquidity(system, owner, fraction):
    """The LP holder (the deployer) withdraws ``fraction`` of its DEX A liquidity (Uniswap V2 burn)."""
    pair = system.contracts["dex_a_pair"]
    pair.transfer(pair.address, int(pair.balanceOf(owner.address) * fraction), sender=owner)
    pair.burn(owner.address, sender=owner)


def test_pool_liquidity_drop_against_its_reference_stops_every_child(chain, project, accounts, system, receiver):
    owner = accounts[0]
    job, alerter = make_job(system, accounts, receiver, emergency_triggers=["liquidity"])
    assert tick(chain, job) == []  # the reference: the reserves now
    burn_liquidity(system, owner, 0.2)
    assert tick(chain, job) == []  # -20 %: below the 30 % limit
    burn_liquidity(system, owner, 0.2)  # -36 % against the reference (one block earlier: -20 %)
    decisions = tick(chain, job)
    (fired,) = [d for d in decisions if d.reason == "emergency_liquidity"]
    assert fired.detail["venue"] == "dex_a" and 3_500 <= fired.detail["drop_bps"] <= 3_700
    assert fired.detail["limit_bps"] == 3_000 and fired.detail["reference"] > fired.detail["liquidity"]
    chain.mine()
    tick(chain, job)
    assert paused(project, system) == {"long": True, "short": True, "amm": True}
    alert = receiver.next()[1]
    assert alert["title"] == "[macrostrike] emergency trigger liquidity" and fields(alert)["venue"] == "dex_a"
    alerter.close()


def test_price_dump_on_the_oracle_exits_every_child(chain, project, accounts, system, receiver):
    owner = accounts[0]
    job, alerter = make_job(system, accounts, receiver, emergency_triggers=["price_dump"])
    assert job.actions_of("price_dump") == ["exit"]
    market = aave_market_of(system.manifest, admin=owner)
    assert tick(chain, job) == []
    aave.set_price(market, "WBTC", PRICE * 0.65)
    assert tick(chain, job) == []  # -35 %
    aave.set_price(market, "WBTC", PRICE * 0.55)
    decisions = tick(chain, job)
    (fired,) = [d for d in decisions if d.reason == "emergency_price_dump"]
    assert fired.detail["source"] == "oracle" and fired.detail["drop_bps"] == 4_500
    assert fired.detail["high_e8"] == int(PRICE * 10**8) and fired.detail["pool_e8"] > fired.detail["oracle_e8"]
    chain.mine()
    (settled,) = [d for d in tick(chain, job) if d.reason == "emergency_action"]
    assert settled.detail["status"] == "mined" and settled.detail["emergency_action"] == "exit"
    receipt = chain.provider.web3.eth.get_transaction_receipt(settled.detail["tx"])
    topic = chain.provider.web3.keccak(text="EmergencyExit(address,uint256,uint256)")
    assert any(bytes(log["topics"][0]) == bytes(topic) for log in receipt["logs"])
    alert = receiver.next()[1]
    assert alert["title"] == "[macrostrike] emergency trigger price_dump" and fields(alert)["drop_bps"] == "4500"
    alerter.close()


def test_an_exit_that_leaves_a_position_open_is_reported_incomplete(chain, project, accounts, system, receiver):
    """Long #1 holds a position; DEX A's price falls 50 % while the oracle stays (the dump fires on
    the pool). The exit is mined, but the long's close would sell into a pool half the oracle's price:
    exitAll skips it (PositionExitFailed) and the position stays open. The keeper must say so — the
    settled decision lists the position and the alert is a failure — not report a clean exit."""
    owner, keeper = accounts[0], accounts[1]
    long_ = project.StrikeFacet.at(system.manifest.address("long"))
    long_.openPosition(1, usdc(2_000), 15_000, chain.pending_timestamp + 3_600, sender=keeper)
    assert state(project, system, "long", 1).open
    job, alerter = make_job(system, accounts, receiver, emergency_triggers=["price_dump"])
    assert tick(chain, job) == []
    move_pool_to(system, owner, PRICE * 0.5)
    (fired,) = [d for d in tick(chain, job) if d.reason == "emergency_price_dump"]
    assert fired.detail["source"] == "pool"
    chain.mine()
    (settled,) = [d for d in tick(chain, job) if d.reason == "emergency_action"]
    assert settled.detail["status"] == "mined" and settled.detail["emergency_action"] == "exit"
    assert state(project, system, "long", 1).open  # the exit left it behind
    (left,) = settled.detail["positions_not_closed"]
    assert left.startswith("long #1: SlippageExceeded("), left
    titles = {m["title"]: m for m in messages(receiver, 3)}
    alert = titles["[macrostrike] emergency action exit mined: INCOMPLETE, 1 position(s) not closed, "
                   "0 child(ren) not exited"]
    assert alert["type"] == "failure" and fields(alert)["positions_not_closed"].startswith("['long #1: ")
    alerter.close()


def test_an_exit_decided_with_an_entry_in_flight_closes_that_position_too(chain, project, accounts, system,
                                                                          receiver):
    """Mining off, as on a chain with a block time: in one keeper tick the strike job sends long #1's
    entry and the emergency job, its trigger firing (liquidity, action exit), sends the exit — estimated
    on a state without the position. One block mines both, the entry first. The exit must have the gas
    to close the position that landed before it: without it the child's exitAll runs out of gas inside
    the master's try/catch (ChildExitFailed) and the position stays open."""
    from chain_harness import mine, set_automine
    from macrostrike.keeper.jobs import JobSet, strike_job

    owner, w3 = accounts[0], chain.provider.web3
    settings = KeeperSettings(emergency_triggers=["liquidity"], emergency_actions={"liquidity": ["exit"]},
                              strike_leverage_bps=15_000)
    journal = Journal()
    pool = signer_pool([accounts[1]], settings, journal=journal)
    alerter = Alerter([receiver.url()], interval_s=3600)
    emergency = emergency_job(system.manifest, pool, settings, journal, alerter,
                              owner=signer_pool([owner], settings, journal=journal).senders[0])
    strike = strike_job(system.manifest, pool, settings, journal)  # the pool's TxManager, shared
    jobs = JobSet([strike, emergency])  # the keeper's order: the emergency job last
    assert [d for d in jobs.tick() if d.action == "send"] == []  # the liquidity reference
    burn_liquidity(system, owner, 0.4)
    strike.bots[("long", 1)].desired = LONG
    set_automine(w3, False)
    try:
        sent = [(d.job, d.reason) for d in jobs.tick() if d.action == "send"]
        mine(w3)
    finally:
        set_automine(w3, True)
    assert sent == [("strike", "signal_entry"), ("emergency", "emergency_action")], sent
    settled = {d.job: d.detail for d in jobs.settle() if d.action == "settle"}
    entry, exit_ = settled["strike"], settled["emergency"]
    assert entry["status"] == "mined" and exit_["status"] == "mined", settled
    assert entry["included_block"] == exit_["included_block"]
    assert not state(project, system, "long", 1).open, exit_  # the exit closed what the entry opened
    assert "positions_not_closed" not in exit_ and "children_not_exited" not in exit_, exit_
    alerter.close()


def test_pool_away_from_the_oracle_pauses_the_strike_children(chain, project, accounts, system, receiver):
    owner = accounts[0]
    job, alerter = make_job(system, accounts, receiver, emergency_triggers=["pool_deviation"])
    move_pool_to(system, owner, PRICE * 0.95)
    assert tick(chain, job) == []  # 5 % away: within 10 %
    move_pool_to(system, owner, PRICE * 0.85)
    decisions = tick(chain, job)
    (fired,) = [d for d in decisions if d.reason == "emergency_pool_deviation"]
    assert fired.detail["venue"] == "dex_a" and 1_450 <= fired.detail["deviation_bps"] <= 1_550
    chain.mine()
    tick(chain, job)
    assert paused(project, system) == {"long": True, "short": True, "amm": False}
    assert fields(receiver.next()[1])["venue"] == "dex_a"
    move_pool_to(system, owner, PRICE)
    assert [d.reason for d in tick(chain, job)] == ["emergency_cleared"]
    alerter.close()


def test_liquidated_bot_pauses_its_child(chain, project, accounts, system, receiver):
    """An oracle drop, a third party's Aave liquidationCall on long #1's holder: the strike job sees
    the LiquidationCall, the emergency job pauses the long child (``pause:affected``) and alerts."""
    owner = accounts[0]
    settings = KeeperSettings(strike_leverage_bps=20_000, emergency_triggers=["liquidated"])
    journal = Journal()
    pool = signer_pool([accounts[1]], settings, journal=journal)
    ctx = StrikeContext(system.manifest)
    for sender in pool.senders:
        sender.error_table = ctx.errors
    strike = StrikeJob(ctx, pool, settings, journal)
    alerter = Alerter([receiver.url()], interval_s=3600)
    job = emergency_job(system.manifest, pool, settings, journal, alerter,
                        owner=signer_pool([owner], settings, journal=journal).senders[0])
    market = aave_market_of(system.manifest, admin=owner)
    aave.set_price(market, "WBTC", PRICE)  # a fresh round (an earlier test moved the clock past its age)
    strike.bots[("long", 1)].desired = LONG
    strike.tick(price=PRICE)
    strike.flush()
    assert state(project, system, "long", 1).open
    holder = strike.bots[("long", 1)].holder
    drop = PRICE * 0.9 * 10**18 / state(project, system, "long", 1).health_factor
    aave.set_price(market, "WBTC", drop)
    move_pool_to(system, owner, drop)
    liquidator = accounts[4]
    usdc_token, aave_pool = system.contracts["usdc"], market.pool_contract()
    usdc_token.mint(liquidator.address, usdc(20_000), sender=owner)
    usdc_token.approve(market.pool, MAX, sender=liquidator)
    receipt = aave_pool.liquidationCall(market.asset("WBTC"), market.asset("USDC"), holder, MAX, False,
                                        sender=liquidator)
    assert tick(chain, job) == []  # nothing observed yet
    seen = strike.tick()
    job.observe(seen)  # the keeper's on_block hands the emergency job the block's decisions ...
    KeeperAlerts(alerter, chain.provider.web3, pool.txm, pool).on_block(chain.blocks.head.number, seen)  # ... and alerts
    decisions = tick(chain, job)
    (fired,) = [d for d in decisions if d.reason == "emergency_liquidated"]
    assert fired.detail["bots"] == "long#1" and fired.detail["tx"] == str(receipt.txn_hash)
    assert fired.detail["liquidator"] == liquidator.address and fired.detail["actions"] == ["pause:long"]
    chain.mine()
    settled = tick(chain, job)
    assert [d.detail["status"] for d in settled if d.reason == "emergency_action"] == ["mined"]
    assert paused(project, system) == {"long": True, "short": False, "amm": False}
    by_title = {m["title"]: m for m in messages(receiver, 3)}  # liquidation, trigger, action sent
    alert = by_title["[macrostrike] emergency trigger liquidated"]
    assert fields(alert)["bots"] == "long#1" and fields(alert)["liquidator"] == liquidator.address
    liquidated = by_title["[macrostrike] bot 1 (strike) liquidated on Aave"]
    assert fields(liquidated)["side"] == "long" and fields(liquidated)["tx"] == str(receipt.txn_hash)
    assert [d.reason for d in tick(chain, job)] == []  # one-shot: nothing to clear, no second action
    alerter.close()


def test_breaker_trip_alerts_then_resolves_after_the_reset(chain, project, accounts, system, receiver):
    """The risk checkpoint (the keeper's CheckpointJob) trips the master's breaker: its settled
    decision reaches the operator (``breaker``), reminders are rate-limited, and the owner's
    resetBreaker followed by a checkpoint sends "resolved"."""
    owner = accounts[0]
    settings = KeeperSettings(checkpoint_interval_s=1, strike_leverage_bps=20_000)
    journal = Journal()
    pool = signer_pool([accounts[1]], settings, journal=journal)
    ctx = StrikeContext(system.manifest)
    for sender in pool.senders:
        sender.error_table = ctx.errors
    strike = StrikeJob(ctx, pool, settings, journal)
    risk = CheckpointJob(system.manifest, pool, settings, journal)
    watch = KeeperAlerts(Alerter([receiver.url()], interval_s=3600), chain.provider.web3, pool.txm, pool)
    market = aave_market_of(system.manifest, admin=owner)
    aave.set_price(market, "WBTC", PRICE)
    master = system.manifest.address("master")
    project.RiskFacet.at(master).setRiskParameters(1, 1, 100, sender=owner)  # a 0.01 % drawdown trips it

    def checkpoint():
        rpc(chain, "evm_increaseTime", 2)
        chain.mine()
        decisions = risk.tick() + risk.flush()
        watch.on_block(chain.blocks.head.number, decisions)
        (settled,) = [d for d in decisions if d.action == "settle"]
        return settled.detail["breaker_tripped"]

    assert checkpoint() is False  # the high-water mark
    strike.bots[("long", 1)].desired = LONG
    strike.tick(price=PRICE)
    strike.flush()
    aave.set_price(market, "WBTC", PRICE * 0.95)  # the 2x long loses
    assert checkpoint() is True
    _, body = receiver.next()
    assert body["title"] == "[macrostrike] circuit breaker tripped: openings refused" and body["type"] == "failure"
    assert int(fields(body)["total_equity"]) == project.RiskFacet.at(master).totalEquity()
    assert checkpoint() is True  # still tripped: no second message within the interval
    receiver.none_within(0.3)
    project.RiskFacet.at(master).resetBreaker(sender=owner)
    assert checkpoint() is False
    _, body = receiver.next()
    assert body["title"] == "[macrostrike] RESOLVED: circuit breaker tripped: openings refused"
    watch.alerter.close()


# -- `ape keeper run` with keeper.emergency_triggers (a subprocess against a separate Anvil) -----------
@pytest.fixture(scope="module")
def cli_deployed(anvil_node, tmp_path_factory):
    env = {"MACROSTRIKE_DEPLOYMENTS": str(tmp_path_factory.mktemp("emergency-deployments"))}
    deploy = ape("run", "deploy", "--network", anvil_node, "--bots", "2", env=env)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    return env


@pytest.mark.slow
def test_cli_run_stale_feed_pauses_through_the_emergency_signer(anvil_node, cli_deployed, receiver, tmp_path):
    """`ape keeper run --emergency-signer TEST::0` with keeper.emergency_triggers from the
    environment: the feed left two hours without an answer pauses both strike children and alerts."""
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(anvil_node))
    w3.provider.make_request("evm_increaseTime", [7_200])
    w3.provider.make_request("evm_mine", [])
    env = {**cli_deployed, "MACROSTRIKE_KEEPER_ALERTS": receiver.url("run"),
           "MACROSTRIKE_KEEPER_EMERGENCY_TRIGGERS": '["stale_feed"]'}
    journal = f"sqlite:///{tmp_path / 'k.sqlite'}"
    proc = ape("keeper", "run", "--network", anvil_node, "--blocks", "1", "--journal", journal,
               "--emergency-signer", "TEST::0", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "emergency triggers stale_feed; actions through " in proc.stdout + proc.stderr
    out = proc.stdout
    assert "emergency_stale_feed" in out and out.count("send emergency_action") == 2, out
    titles = {receiver.next(timeout=5)[1]["title"] for _ in range(3)}
    assert titles >= {"[macrostrike] emergency trigger stale_feed", "[macrostrike] emergency action pause:long sent"}
    status = ape("keeper", "status", "--network", anvil_node, "--format", "json", env=cli_deployed)
    assert status.returncode == 0, status.stderr
    diamonds = {d["diamond"]: d["paused"] for d in json.loads(status.stdout)["diamonds"]}
    assert diamonds["long"] and diamonds["short"] and not diamonds["amm"], diamonds
