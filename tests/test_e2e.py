"""End to end: deploy the whole system (50 AMM + 2 x 25 strike bots, the Aave V3 market, DEX C on
Uniswap V3 as in the demo), replay 24 hours of real BTC history (the strike signals warmed up on the
24 hours before), let the keeper trade.

Checks what the chain says, not what the keeper believes: every successful trade's realised profit
(from its ArbitrageExecuted event) is at least the minProfit it was sent with, on-chain per-bot
stats add up to the keeper's journal, the Aave feeds follow the closes, the risk checkpoint ran every
hour, strike positions were opened (once the strike facet is routed), the manifest is complete, and
a second deploy sends nothing.
"""

import json
from pathlib import Path

import pytest

from macrostrike.deploy.manifest import manifest_path
from macrostrike.deploy.system import CHILDREN, MASTER_FACETS, DeployConfig, child_facets, deploy_system
from macrostrike.deploy.cuts import selector
from macrostrike.demo import KEEPERS, run_demo
from macrostrike.keeper.journal import Journal
from macrostrike.market import data
from macrostrike.market.replay import QUOTE_HEARTBEAT_HOURS

pytestmark = pytest.mark.slow

SLICE = Path(__file__).parent / "data" / "btc_slice.csv"


@pytest.fixture(scope="module")
def demo(accounts, tmp_path_factory):
    history = data.parse(SLICE)
    warmup, candles = history[:24], history[24:48]
    config = DeployConfig(amm_bots=50, long_bots=25, short_bots=25, initial_price_usd=candles[0].close,
                          keepers=tuple(str(accounts[i].address) for i in KEEPERS), uniswap_v3=True)
    out = tmp_path_factory.mktemp("demo")
    return run_demo(candles=candles, warmup=warmup, deploy_config=config, out_dir=out), out


def test_keeper_traded_and_every_trade_met_its_min_profit(demo):
    run, _ = demo
    mined = [d for d in run.replay.job.journal.decisions if d.reason == "mined"]
    assert len(run.result.hours) == 24
    assert mined, "24 hours of noise around real closes should create at least one arbitrage"
    for d in mined:
        assert d.detail["realised_profit"] >= d.detail["min_profit"] > 0
    stats = run.summary["trades"]
    assert stats["succeeded"] == len(mined) and stats["reverted"] == 0
    # three venues: the V3 pool (C) takes part, and every mined trade is counted under its venue pair
    pairs = run.summary["trades_by_venue_pair"]
    assert any("C" in pair for pair in pairs) and sum(pairs.values()) == len(mined)


def test_on_chain_stats_match_the_journal(demo, project):
    run, _ = demo
    mined = [d for d in run.replay.job.journal.decisions if d.reason == "mined"]
    amm = project.PerformanceFacet.at(run.system.manifest.address("amm"))
    trades, wins, losses, pnl, _capital = amm.aggregateStats()
    assert trades == len(mined) == wins and losses == 0
    assert pnl == sum(d.detail["realised_profit"] for d in mined) == run.summary["realised_pnl_usdc_total"]
    by_bot = {}
    for d in mined:
        by_bot[d.bot_id] = by_bot.get(d.bot_id, 0) + d.detail["realised_profit"]
    for bot_id, profit in by_bot.items():
        assert amm.botStats(bot_id)[3] == profit


def test_chain_clock_follows_the_replayed_hours(demo, chain):
    run, _ = demo
    stamps = [h.timestamp for h in run.result.hours]
    assert all(b - a == 3600 for a, b in zip(stamps, stamps[1:]))
    assert chain.blocks.head.timestamp >= stamps[-1]


def test_manifest_is_complete(demo, chain):
    run, _ = demo
    manifest = json.loads(manifest_path(chain.chain_id).read_text())
    for role in ("usdc", "wbtc", "weth", "dex_a_factory", "dex_b_factory", "dex_a_router", "dex_b_router",
                 "dex_a_pair", "dex_b_pair"):
        entry = manifest["contracts"][role]
        assert entry["address"].startswith("0x") and entry["block"] >= 0
        assert chain.provider.web3.eth.get_code(entry["address"])
    assert set(manifest["diamonds"]) == {"master", *CHILDREN}
    assert set(manifest["diamonds"]["master"]["facets"]) == set(MASTER_FACETS)
    for role in CHILDREN:
        assert set(manifest["diamonds"][role]["facets"]) == set(child_facets(role, uniswap_v3=True))
        for facet in manifest["diamonds"][role]["facets"].values():
            assert facet["selectors"] and all(len(s) == 10 for s in facet["selectors"])
    assert manifest["config"]["amm_bots"] == 50
    assert (manifest["config"]["long_bots"], manifest["config"]["short_bots"]) == (25, 25)
    for role in ("aave_pool", "aave_oracle", "aave_provider", "aave_feed:WBTC", "aave_feed:WETH"):
        assert chain.provider.web3.eth.get_code(manifest["contracts"][role]["address"]), role


def test_redeploy_changes_nothing(demo, accounts, chain):
    run, _ = demo
    path = manifest_path(chain.chain_id)
    before = path.read_text()
    nonce = accounts[0].nonce
    again = deploy_system(accounts[0], DeployConfig(**{**run.system.manifest.config,
                                                       "min_profit_usd": tuple(run.system.manifest.config["min_profit_usd"])}))
    assert again.transactions == 0
    assert accounts[0].nonce == nonce
    assert path.read_text() == before


def test_outputs_written(demo):
    _, out = demo
    summary = json.loads((out / "summary.json").read_text())
    assert summary["hours_replayed"] == 24 and "assumptions" in summary
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    journal = Journal(f"sqlite:///{out / 'journal.sqlite'}")
    stored = journal.stored_decisions()
    assert len(stored) == sum(summary["decisions"].values())
    txs = [t for t in journal.transactions() if t["job"] == "arbitrage"]
    assert len(txs) == summary["trades"]["sent"] and all(t["status"] == "mined" for t in txs)
    assert {t["tx_hash"] for t in txs} == {d.detail["tx"] for d in stored if d.reason == "mined"}
    # one oracle update per hour (+ WETH once, + a USDC heartbeat round every QUOTE_HEARTBEAT_HOURS)
    # and one risk checkpoint per hour, all mined
    jobs = [t["job"] for t in journal.transactions() if t["status"] == "mined"]
    usdc_rounds = len(range(0, 24, QUOTE_HEARTBEAT_HOURS))
    assert jobs.count("oracle") == 24 + 1 + usdc_rounds and jobs.count("risk") == 24
    assert set(summary["diamonds"]) == {"long", "short", "amm"} and "system" in summary
    assert summary["diamonds"]["amm"]["trades"] == summary["trades"]["succeeded"]


def test_aave_feeds_follow_the_closes_and_equity_is_tracked(demo):
    from macrostrike.deploy import aave
    from macrostrike.deploy.system import aave_market_of

    run, _ = demo
    market = aave_market_of(run.system.manifest)
    assert float(aave.price_usd(market, "WBTC")) == pytest.approx(run.result.hours[-1].close, abs=1e-8)
    assert all(h.total_equity > 0 and set(h.equity) == {"long", "short", "amm"} for h in run.result.hours)
    # each hour's realised PnL per child is the chain's; the last hour's equals the summary's
    last = run.result.hours[-1].realised_by_diamond
    assert {role: last[role] for role in ("long", "short", "amm")} == \
        {role: d["realised_pnl_usdc"] for role, d in run.summary["diamonds"].items()}
    s = run.summary["system"]
    assert 0 <= s["max_drawdown_pct"] < 100 and s["breaker_trips"] >= 0


def test_strike_bots_traded(demo, project):
    run, _ = demo
    long_diamond = run.system.manifest.address("long")
    loupe = project.DiamondLoupeFacet.at(long_diamond)
    assert int(str(loupe.facetAddress(selector("openPosition(uint256,uint256,uint256,uint256)"))), 16) != 0
    strike = run.replay.strike
    entries = [d for d in strike.journal.decisions
               if d.job == "strike" and d.reason == "signal_entry" and d.detail.get("status") == "mined"]
    assert entries, "24 warmed-up hours: at least the fastest signals' side should open"
    assert run.summary["strike"]["succeeded"] >= len(entries)
    for d in entries:
        diamond = run.system.manifest.address(d.detail["side"])
        assert project.StrikePositionsFacet.at(diamond).positionHolderOf(d.bot_id) != "0x" + "0" * 40
