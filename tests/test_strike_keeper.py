"""The strike side of the system: deploy (Aave V3 market, 2 x N strike bots, allocation through the
master) and the keeper's StrikeJob — signals to positions, health-factor defence, and the hedged
pair rule: an oracle drop, a third party's Aave ``liquidationCall`` on one bot's position holder,
and the keeper closes the paired bot in the next block.
"""

import pytest
from eth_abi import decode

from macrostrike.deploy import aave
from macrostrike.deploy.cuts import selector
from macrostrike.deploy.system import (DeployConfig, aave_market_of, allocation_deposit, deploy_system,
                                       strike_strategy, usdc)
from strike_helpers import move_pool_to
from strike_helpers import position_state as state
from macrostrike.keeper.journal import Journal
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.strike import Position, StrikeContext, StrikeJob, params_signal
from macrostrike.keeper.txsender import TxSender
from macrostrike.strategy.signals import LONG, SHORT, strategy_for_bot

BOTS = 4
PRICE = 20_000.0
MAX = 2**256 - 1


@pytest.fixture(scope="module")
def system(accounts):
    config = DeployConfig(amm_bots=2, long_bots=BOTS, short_bots=BOTS, pool_usd=2_000_000, capital_per_bot_usd=10_000,
                          initial_price_usd=PRICE, treasury_reserve_usd=1_000,
                          keepers=(str(accounts[1].address),))
    return deploy_system(accounts[0], config), config


def routes(project, diamond, signature):
    loupe = project.DiamondLoupeFacet.at(diamond)
    return int(str(loupe.facetAddress(selector(signature))), 16) != 0


@pytest.fixture(scope="module")
def strike_ready(project, system):
    s, _ = system
    assert routes(project, s.manifest.address("long"), "openPosition(uint256,uint256,uint256,uint256)")
    return s


# -- deploy ------------------------------------------------------------------------------------------
def test_strategy_ids_and_params_round_trip():
    for i in range(25):
        strategy, params = strike_strategy(i, 25)
        signal = strategy_for_bot(i, 25)
        assert strategy == signal.name.encode().ljust(32, b"\0")
        index, bots, values = decode(["uint16", "uint16", "uint256[]"], params)
        assert (index, bots) == (i, 25)
        assert list(values) == [round(float(v) * 10_000) for v in signal.params.values()]
        assert params_signal(params, 0, 1) == signal


def test_allocation_deposit_reference_size():
    # 25/25/50 bots at $8,000: $800,000 — $7,600 per bot after the 5 % reserve
    cfg = DeployConfig(amm_bots=50, long_bots=25, short_bots=25, capital_per_bot_usd=8_000)
    assert allocation_deposit(cfg, (2_500, 2_500, 5_000)) == usdc(800_000)
    # the kind with the most bots per weight decides
    cfg = DeployConfig(amm_bots=2, long_bots=4, short_bots=4, capital_per_bot_usd=10_000)
    assert allocation_deposit(cfg, (2_500, 2_500, 5_000)) == usdc(160_000)
    with pytest.raises(ValueError, match="long_bots=101"):
        DeployConfig(long_bots=101)


def test_deploy_records_the_aave_market_and_funds_every_bot(project, system, chain, accounts):
    s, config = system
    m = s.manifest
    market = aave_market_of(m)
    assert market is not None and market.pool == m.address("aave_pool")
    for role in ("aave_provider", "aave_pool", "aave_oracle", "aave_data_provider", "aave_feed:WBTC",
                 "aave_feed:WETH", "aave_a_token:USDC", "aave_debt_token:WBTC"):
        assert chain.provider.web3.eth.get_code(m.address(role)), role
    assert aave.price_usd(market, "WBTC") == PRICE and aave.price_usd(market, "WETH") == 300
    # liquidity for bots to borrow
    assert aave.aave_at("AToken", market.a_tokens["USDC"]).balanceOf(accounts[0].address) == usdc(2_000_000)
    master = m.address("master")
    alloc = project.AllocationFacet.at(master)
    per_bot = usdc(160_000) * 9_500 // 10_000 * 2_500 // 10_000 // BOTS  # the long/short share
    for role, n in (("long", BOTS), ("short", BOTS)):
        registry = project.BotRegistryFacet.at(m.address(role))
        page = registry.botsPage(1, 100)
        assert len(page) == n
        assert [b.capital for b in page] == [per_bot] * n
        for i, b in enumerate(page):
            assert (b.strategy, b.params) == strike_strategy(i, n)
        assert alloc.principalOf(m.address(role), 1) == per_bot
    amm = project.BotRegistryFacet.at(m.address("amm")).botsPage(1, 10)
    assert [b.capital for b in amm] == [usdc(160_000) * 9_500 // 10_000 * 5_000 // 10_000 // 2] * 2
    assert project.TreasuryFacet.at(master).totalDeposited() == usdc(160_000 + 1_000)
    assert project.RiskFacet.at(master).isRiskKeeper(accounts[1].address)
    assert m.config["long_bots"] == BOTS


def test_redeploy_sends_nothing(system, accounts):
    s, config = system
    nonce = accounts[0].nonce
    again = deploy_system(accounts[0], config)
    assert again.transactions == 0 and accounts[0].nonce == nonce
    assert again.manifest.address("aave_pool") == s.manifest.address("aave_pool")


def test_redeploy_with_another_signal_vote_is_a_difference_it_cannot_apply(system, accounts, project):
    """The bots were registered with one signal each; a rerun asking for a 2-of-4 vote (``--agreement 2``)
    is refused as a difference ``--reconfigure`` cannot apply (it used to be ignored: the manifest then
    said 2-of-4 while every bot on chain kept its single signal)."""
    import dataclasses

    from macrostrike.deploy import drift

    s, config = system
    assert drift.chain_signal_agreement(project, s.manifest, drift.chain_bot_counts(project, s.manifest)) == 0
    assert not [d for d in drift.compare(project, s.manifest, config) if d.field == "signal_agreement"]
    [diff] = [d for d in drift.compare(project, s.manifest, dataclasses.replace(config, signal_agreement=2))
              if d.field == "signal_agreement"]
    assert not diff.applicable
    assert diff.line().startswith("--agreement: chain one signal per bot, asked 2-of-4 agreement — cannot: ")
    nonce = accounts[0].nonce
    with pytest.raises(drift.ConfigMismatch, match="--agreement"):  # as `ape run deploy` calls it
        deploy_system(accounts[0], dataclasses.replace(config, signal_agreement=2), reconfigure=True)
    assert accounts[0].nonce == nonce  # nothing sent


# -- keeper: reads, signals, decisions ----------------------------------------------------------------
def make_job(system, account, settings=None, send=True):
    s = system[0] if isinstance(system, tuple) else system
    settings = settings or KeeperSettings(hedge_pairs=[(1, 1)])
    journal = Journal()
    ctx = StrikeContext(s.manifest)
    sender = TxSender(account, priority_fee_wei=settings.priority_fee_wei, error_table=ctx.errors, journal=journal)
    return StrikeJob(ctx, sender, settings, journal, send=send), journal


def test_job_reads_bots_and_signals_from_the_chain(system, accounts):
    job, _ = make_job(system, accounts[1])
    assert sorted(job.bots) == [(side, i) for side in ("long", "short") for i in range(1, BOTS + 1)]
    for (side, i), bot in job.bots.items():
        assert bot.signal == strategy_for_bot(i - 1, BOTS)
        assert bot.capital > 0 and bot.wants == (LONG if side == "long" else SHORT)
    assert job.partner[("long", 1)] == ("short", 1) and job.partner[("short", 1)] == ("long", 1)
    assert job.ctx.oracle_price() == PRICE


def test_flat_bots_without_a_signal_only_hold(system, accounts):
    job, journal = make_job(system, accounts[1])
    nonce = accounts[1].nonce
    decisions = act(job, PRICE)
    assert [d.reason for d in decisions] == ["hold"]
    assert decisions[0].detail["open"] == 0 and accounts[1].nonce == nonce
    assert job.stats.reads_s  # the batch of reads ran (empty: nothing open)


def test_position_state_decoding():
    from eth_abi import encode

    raw = encode(["bool", "uint256", "uint256", "uint256", "uint256", "uint256", "uint256", "uint8", "uint64"],
                 [True, 30_000 * 10**8, 15_000 * 10**8, 156 * 10**16, 15_000 * 10**6, 30_000 * 10**8,
                  30_000 * 10**8, 1, 1_700_000_000])
    p = Position.decode(raw)
    assert p.open and p.leverage_bps == 20_000 and p.tp_stage == 1 and p.health_factor == 156 * 10**16


# -- keeper on the real strike facet ----------------------------------------------------------------


def sent(decisions, reason):
    """Settled intents of ``reason`` (the outcome is journalled when the receipt is read)."""
    return [d for d in decisions if d.action == "settle" and d.reason == reason]


def act(job, price=None):
    """One block's decisions, then the settlement of what it sent (automine: receipts are there)."""
    return job.tick(price=price) + job.flush()


def test_signal_entry_then_exit(project, strike_ready, accounts):
    s = strike_ready
    job, journal = make_job(s, accounts[1])
    job.bots[("long", 2)].desired = LONG
    job.bots[("short", 2)].desired = SHORT
    job.bots[("short", 3)].desired = LONG  # not its side: stays flat
    decisions = act(job, PRICE)
    entries = sent(decisions, "signal_entry")
    assert entries, [(d.reason, d.detail) for d in decisions]
    assert [(d.detail["side"], d.bot_id, d.detail["status"]) for d in entries] == \
        [("long", 2, "mined"), ("short", 2, "mined")], [(d.action, d.reason, d.bot_id, d.detail) for d in decisions]
    for side in ("long", "short"):
        p = state(project, s, side, 2)
        # 1.5x asked (the keeper's default) -> exposure/equity ~1.5x as Aave values it
        assert p.open and 14_000 <= p.exposure_bps(side) <= 16_000, p
        assert p.health_factor > 125 * 10**16  # above the keeper's floor (1.15 + 0.1): no deleverage
        assert job.bots[(side, 2)].holder == project.StrikePositionsFacet.at(s.manifest.address(side)).positionHolderOf(2)
    assert not state(project, s, "short", 3).open
    # the signal turns FLAT: the long closes, the short stays
    job.bots[("long", 2)].desired = "flat"
    decisions = act(job, PRICE)
    assert [(d.detail["side"], d.bot_id, d.detail["status"]) for d in sent(decisions, "signal_exit")] == \
        [("long", 2, "mined")]
    assert not state(project, s, "long", 2).open and state(project, s, "short", 2).open
    trades, *_ = project.PerformanceFacet.at(s.manifest.address("long")).botStats(2)
    assert trades >= 1
    assert {t["job"] for t in journal.transactions()} == {"strike"}
    assert all(t["status"] == "mined" for t in journal.transactions())


def test_keeper_deleverages_before_the_contract_floor(project, strike_ready, accounts, owner):
    s = strike_ready
    job, _ = make_job(s, accounts[1], KeeperSettings(strike_hf_buffer=0.1, strike_leverage_bps=20_000))
    job.bots[("long", 3)].desired = LONG
    assert sent(act(job, PRICE), "signal_entry")
    before = state(project, s, "long", 3)
    assert not sent(act(job), "hf_deleverage")  # HF >= 1.15 + 0.1
    # the bot's rule floor raised to 1.9: HF < 1.9 + 0.1 -> the keeper decreases the position
    # before the contract's own trigger gets its turn
    facet = project.StrikeConfigFacet.at(s.manifest.address("long"))
    rules = list(facet.rules(3))
    rules[2] = 19 * 10**17
    facet.setRules(3, rules, sender=owner)
    job.refresh_bots()
    assert job.bots[("long", 3)].min_health_factor == 19 * 10**17
    decisions = act(job)
    assert len(sent(decisions, "hf_deleverage")) == 1, [(x.action, x.reason, x.detail) for x in decisions]
    (d,) = sent(decisions, "hf_deleverage")
    assert d.detail["status"] == "mined", d.detail
    assert d.detail["floor"] == pytest.approx(2.0)
    after = state(project, s, "long", 3)
    assert after.open and after.health_factor > before.health_factor and after.debt_base < before.debt_base


def test_liquidated_long_closes_its_hedged_short_next_block(project, strike_ready, accounts, owner, chain):
    """Oracle drop -> a third party's Aave liquidationCall on long #1's holder -> the keeper closes
    short #1 (its hedge partner) in the very next block."""
    s = strike_ready
    settings = KeeperSettings(strike_leverage_bps=20_000, hedge_pairs=[(1, 1)])
    job, journal = make_job(s, accounts[1], settings)
    job.bots[("long", 1)].desired = LONG
    job.bots[("short", 1)].desired = SHORT
    entered = act(job, PRICE)
    assert len(sent(entered, "signal_entry")) == 2, [(d.action, d.reason, d.detail) for d in entered]
    holder = job.bots[("long", 1)].holder
    market = aave_market_of(s.manifest, admin=owner)
    # BTC down on the oracle and on DEX A until the long's HF is ~0.9 (< 1: liquidatable)
    drop = PRICE * 0.9 * 10**18 / state(project, s, "long", 1).health_factor
    aave.set_price(market, "WBTC", drop)
    move_pool_to(s, owner, drop)
    assert aave.account_data(market, holder).health_factor < 1
    liquidator = accounts[4]
    usdc_token, pool = s.contracts["usdc"], market.pool_contract()
    usdc_token.mint(liquidator.address, usdc(20_000), sender=owner)
    usdc_token.approve(market.pool, MAX, sender=liquidator)
    receipt = pool.liquidationCall(market.asset("WBTC"), market.asset("USDC"), holder, MAX, False, sender=liquidator)
    liquidated_in = receipt.block_number
    decisions = act(job)
    (seen,) = [d for d in decisions if d.reason == "liquidated"]
    assert (seen.detail["side"], seen.bot_id, seen.detail["liquidator"]) == ("long", 1, liquidator.address)
    assert seen.detail["tx"] == str(receipt.txn_hash)
    closes = sent(decisions, "hedge_close")
    assert [(d.detail["side"], d.bot_id, d.detail["status"]) for d in closes] == [("short", 1, "mined")]
    tx = chain.provider.web3.eth.get_transaction_receipt(closes[0].detail["tx"])
    assert tx["blockNumber"] == liquidated_in + 1
    assert not state(project, s, "short", 1).open
    assert job.stats.liquidations == 1 and job.bots[("long", 1)].liquidations == 1
    assert "partner long #1 liquidated" in closes[0].detail["why"]
