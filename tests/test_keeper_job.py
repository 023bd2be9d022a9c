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


def make_job(system, account, settings=None, send=True, journal=None):
    settings = settings or KeeperSettings()
    journal = journal if journal is not None else Journal()
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
    submitted = [d for d in decisions if d.reason == "submitted"]
    assert submitted and not [d for d in decisions if d.reason == "mined"]  # the tick does not wait
    mined = [d for d in job.flush() if d.reason == "mined"]  # settled from receipts afterwards
    assert len(mined) == len(submitted) and accounts[1].nonce == nonce + len(mined)
    assert all(d.detail["realised_profit"] > 0 for d in mined)
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


def test_dry_run_leaves_the_live_keepers_open_intents_alone(system, accounts):
    """A dry run (a shadow keeper on the live keeper's journal) does not resume the open intents it
    finds: it never abandons, re-broadcasts or replaces what the live keeper (the leader) sent."""
    journal = Journal()
    to, signer = system.manifest.address("amm"), str(accounts[1].address)
    journal.intent_create("arbitrage", f"{to.lower()}:1", "arbitrage", 1, to, b"\x01", 100_000, 1)  # planned
    journal.intent_create("arbitrage", f"{to.lower()}:2", "arbitrage", 2, to, b"\x01", 100_000, 1, attempt={
        "tx_hash": "0x" + "ab" * 32, "signer": signer, "nonce": 10**6, "raw": b"\x02", "tip": 1, "max_fee": 2})
    job, _ = make_job(system, accounts[1], send=False, journal=journal)
    job.tick()
    assert job.txm.open == {} and [i.state for i in journal.intents()] == ["planned", "sent"]


def test_fee_above_cap_is_skipped(system, accounts):
    push_price_up(system, accounts[0])
    job, _ = make_job(system, accounts[1], KeeperSettings(max_fee_cap_gwei=1e-6))
    nonce = accounts[1].nonce
    decisions = job.tick()
    assert [d.reason for d in decisions] == ["fee_above_cap"]
    detail = decisions[0].detail
    assert detail["next_base_fee_wei"] + detail["tip_wei"] > detail["cap_wei"]
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


def test_on_chain_revert_is_recorded_and_the_bot_rests(system, accounts, chain):
    """Simulation passes, then a transaction ahead of the keeper's in the same block closes the gap:
    the keeper's transaction reverts on chain. The revert is journalled with its decoded reason, the
    job stops for the block, and the bot rests for ``revert_rest_blocks`` blocks."""
    import threading
    import time

    from web3 import Web3

    push_price_up(system, accounts[0])
    settings = KeeperSettings(revert_rest_blocks=5)
    job, journal = make_job(system, accounts[1], settings)
    owner, keeper = accounts[0], str(accounts[1].address)
    w3 = Web3(Web3.HTTPProvider(chain.provider.uri))
    c = system.contracts
    pair = c["dex_b_pair"]  # raise DEX B's price as much as A's: the gap is gone
    q_is_0 = pair.token0() == c["usdc"].address
    r0, r1, _ = pair.getReserves()
    donation = (r0 if q_is_0 else r1) // 100 * 2
    fee = int(chain.provider.web3.eth.get_block("latest")["baseFeePerGas"])
    calls = [(c["usdc"].address, c["usdc"].mint.encode_input(pair.address, donation)),
             (pair.address, pair.sync.encode_input())]

    def front_run():
        start = w3.eth.get_transaction_count(keeper, "latest")
        while w3.eth.get_transaction_count(keeper, "pending") == start:  # the keeper's tx is in the pool
            time.sleep(0.01)
        nonce = w3.eth.get_transaction_count(str(owner.address))
        for i, (to, data) in enumerate(calls):  # a higher tip: ordered ahead of the keeper's transaction
            txn = chain.provider.network.ecosystem.create_transaction(
                chain_id=chain.chain_id, to=to, data=data, gas_limit=200_000, nonce=nonce + i, type=2,
                max_priority_fee=50 * 10**9, max_fee=2 * fee + 50 * 10**9, sender=str(owner.address))
            w3.eth.send_raw_transaction(bytes(owner.sign_transaction(txn).serialize_transaction()))
        w3.provider.make_request("evm_mine", [])

    w3.provider.make_request("evm_setAutomine", [False])
    thread = threading.Thread(target=front_run, daemon=True)
    try:
        thread.start()
        assert [d.reason for d in job.tick()] == ["submitted"]
        thread.join(timeout=30)
        decisions = job.flush()
    finally:
        thread.join(timeout=30)
        w3.provider.make_request("evm_setAutomine", [True])
    assert [d.reason for d in decisions] == ["reverted"], decisions
    reverted = decisions[0]
    assert reverted.detail["error"].startswith("InsufficientProfit("), reverted.detail["error"]
    assert [t["status"] for t in journal.transactions()] == ["reverted"]
    bot = job.bots[reverted.bot_id]
    assert bot.resting_until == reverted.block + 5
    # a new opportunity: the resting bot is skipped, the others trade
    push_price_up(system, owner)
    later = job.tick() + job.flush()
    assert later and reverted.bot_id not in {d.bot_id for d in later if d.action == "send"}


def test_batched_bot_reads_match_single_reads(system, accounts, project):
    """The keeper reads bots with one botsPage call per page; it must agree with bot(id), and pages
    clip at both ends."""
    amm = project.BotRegistryFacet.at(system.contracts["amm"].address)
    job, _ = make_job(system, accounts[1])
    rows = job.read_bots()
    count = amm.botCount()
    assert [r[0] for r in rows] == list(range(1, count + 1))
    for bot_id, status, capital, params in rows:
        single = amm.bot(bot_id)
        assert (status, capital, params) == (int(single.status), single.capital, bytes(single.params))
    assert len(amm.botsPage(2, 10)) == count - 1
    assert amm.botsPage(0, 5) == [] and amm.botsPage(count + 1, 5) == [] and amm.botsPage(1, 0) == []
    assert [b.id for b in amm.botsPage(2, 1)] == [2]
