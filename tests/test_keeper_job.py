"""The arbitrage job against a real deployed system: send, dry run, fee cap, simulation reverts,
and the keeper settings' sources."""

import pytest

from macrostrike.keeper.arbitrage import ArbitrageJob
from macrostrike.keeper.context import AmmContext
from macrostrike.keeper.journal import Journal
from macrostrike.keeper.settings import KeeperSettings, load_settings
from macrostrike.keeper.txsender import TxSender
from macrostrike.deploy.system import DeployConfig, deploy_system
from market_helpers import push_price_up


@pytest.fixture(scope="module")
def system(accounts):
    return deploy_system(accounts[0], DeployConfig(amm_bots=3, pool_usd=1_000_000, capital_per_bot_usd=5_000,
                                                   initial_price_usd=20_000,
                                                   keepers=(str(accounts[1].address),)))


def make_job(system, account, settings=None, send=True):
    settings = settings or KeeperSettings()
    journal = Journal()
    ctx = AmmContext(system.manifest)
    sender = TxSender(account, priority_fee_wei=settings.priority_fee_wei, error_table=ctx.errors,
                      journal=journal, max_fee_cap_wei=settings.fee_cap_wei())
    return ArbitrageJob(ctx, sender, settings, journal, send=send), journal


def test_quiet_pools_no_opportunity(system, accounts):
    job, journal = make_job(system, accounts[1])
    assert [d.reason for d in job.tick()] == ["no_opportunity"]
    assert journal.transactions() == []


def test_sends_and_journals(system, accounts):
    push_price_up(system, accounts[0])
    job, journal = make_job(system, accounts[1])
    nonce = accounts[1].nonce
    decisions = job.tick()
    mined = [d for d in decisions if d.reason == "mined"]
    assert mined and accounts[1].nonce == nonce + len(mined)
    assert [t["status"] for t in journal.transactions()] == ["mined"] * len(mined)
    # bots are used in turn: no bot traded twice in one block
    assert len({d.bot_id for d in mined}) == len(mined)


def test_dry_run_moves_no_nonce(system, accounts):
    push_price_up(system, accounts[0])
    job, journal = make_job(system, accounts[1], send=False)
    nonce = accounts[1].nonce
    decisions = job.tick()
    assert [d.reason for d in decisions] == ["dry_run"]
    assert decisions[0].detail["simulated_profit"] > 0
    assert accounts[1].nonce == nonce and journal.transactions() == []


def test_fee_above_cap_is_skipped(system, accounts):
    push_price_up(system, accounts[0])
    job, _ = make_job(system, accounts[1], KeeperSettings(max_fee_cap_gwei=1e-6))
    nonce = accounts[1].nonce
    decisions = job.tick()
    assert [d.reason for d in decisions] == ["fee_above_cap"]
    assert decisions[0].detail["gas_price_wei"] > decisions[0].detail["cap_wei"]
    assert accounts[1].nonce == nonce


def test_simulation_revert_is_recorded_not_sent(system, accounts, stranger):
    push_price_up(system, accounts[0])
    job, journal = make_job(system, stranger)  # not a registered keeper
    nonce = stranger.nonce
    decisions = job.tick()
    # each bot is tried once in the block, then there is no bot left to try
    assert [d.reason for d in decisions] == ["simulation_reverted"] * 3 + ["no_bot_available"]
    assert decisions[0].detail["error"].startswith("NotKeeper(")
    assert stranger.nonce == nonce and journal.transactions() == []


def test_settings_env_overrides_config(monkeypatch):
    assert load_settings().eth_usd_price == 300  # ape-config.yaml keeper section
    monkeypatch.setenv("MACROSTRIKE_KEEPER_ETH_USD_PRICE", "1234.5")
    assert load_settings().eth_usd_price == 1234.5
    monkeypatch.setenv("MACROSTRIKE_KEEPER_MAX_TRADES_PER_BLOCK", "0")
    with pytest.raises(ValueError, match="max_trades_per_block"):
        load_settings()
