"""A bot's first trade costs about what its next ones cost (issue 12, gas): registration pre-writes
the per-bot slots a first trade would take from zero to non-zero (20,000 gas each under EIP-2200)
with a sentinel that reads as "never": the bot's packed counters (lastTradeAt = 1 with no trade),
its performance window (start = 1: a window that ended long ago) and its risk counters (dayStart =
1: a day that ended long ago). The views show a new bot's figures as zero.
"""

from __future__ import annotations

import pytest

from macrostrike.gasreport import Actors, GasBench, gas_config


@pytest.fixture(scope="module")
def bench(accounts):
    from macrostrike.deploy.system import deploy_system

    actors = Actors(owner=accounts[0], keeper=accounts[1], trader=accounts[5])
    return GasBench(deploy_system(actors.owner, gas_config(str(actors.keeper.address))), actors)


def test_new_bot_views_read_zero(bench):
    p, o = bench.project, bench.actors.owner
    receipt = bench.bots.registerBots(1, b"\x01" * 32, b"", sender=o)
    [reg] = receipt.decode_logs(p.BotRegistryFacet.BotRegistered)
    bot = reg.botId
    perf, risk = p.PerformanceFacet.at(bench.amm), p.RiskLimitsFacet.at(bench.amm)
    assert tuple(perf.botStats(bot)) == (0, 0, 0, 0, 0)
    assert tuple(perf.performanceWindow(bot)) == (0, 0, 0)
    assert perf.recentPerformance(bot)[0] == 0
    assert tuple(risk.botRisk(bot)) == (0, 0, 0, 0, 0)
    assert risk.inCooldown(bot) is False


def test_first_trade_costs_about_the_steady_state(bench):
    """Old code: the first trade paid ~55k more (three zero -> non-zero SSTOREs)."""
    perf, risk = bench.project.PerformanceFacet.at(bench.amm), bench.project.RiskLimitsFacet.at(bench.amm)
    bench.open_gap()
    bench.next_block_at()
    bench.arbitrage(2)  # warms the pairs and the aggregate counters
    bench.open_gap()
    bench.next_block_at()
    first = bench.arbitrage(1)
    bench.open_gap()
    bench.next_block_at()
    second = bench.arbitrage(1)
    diff = int(first.gas_used) - int(second.gas_used)
    assert diff < 10_000, f"first trade {int(first.gas_used):,} vs steady {int(second.gas_used):,}: +{diff:,}"
    # the sentinels are gone after the first trade: real figures
    stats = perf.botStats(1)
    assert stats.trades == 2 and stats.lastTradeAt == second.timestamp
    start, pnl, _prev = perf.performanceWindow(1)
    length = perf.performanceWindowSeconds()
    assert start == first.timestamp - first.timestamp % length and pnl > 0
    r = risk.botRisk(1)
    assert r.dayStart == first.timestamp and r.tradesToday == 2
