"""Packed performance counters (issue 12, gas): a bot's and the child's aggregate trades, wins,
losses, last trade time and realised PnL live in one slot each (LibPerformance v2, namespace
macrostrike.performance.v2). A diamond upgraded from v1 keeps its v1 counters: the views add them,
and the first trade of a counter set under v2 carries them over and clears the v1 slots.

The v1 figures are written with ``anvil_setStorageAt`` where the v1 code kept them (what an
upgraded diamond holds); amounts in USDC base units.
"""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak

from macrostrike.gasreport import Actors, GasBench, gas_config

V1_SLOT = int("cf77ca21a60517c4e0c89185b326d92dc6cc4ccea20762684213fe897379ae00", 16)  # macrostrike.performance


def erc7201(namespace: str) -> int:
    inner = int.from_bytes(keccak(text=namespace), "big") - 1
    return int.from_bytes(keccak(inner.to_bytes(32, "big")), "big") & ~0xFF


V2_SLOT = erc7201("macrostrike.performance.v2")


def mapping_slot(key: int, base: int) -> int:
    return int.from_bytes(keccak(encode(["uint256", "uint256"], [key, base])), "big")


@pytest.fixture(scope="module")
def bench(accounts):
    from macrostrike.deploy.system import deploy_system

    actors = Actors(owner=accounts[0], keeper=accounts[1], trader=accounts[5])
    return GasBench(deploy_system(actors.owner, gas_config(str(actors.keeper.address))), actors)


def word(bench, slot: int) -> int:
    return int.from_bytes(bytes(bench.w3.eth.get_storage_at(bench.amm, slot)), "big")


def put(bench, slot: int, value: int) -> None:
    bench.w3.provider.make_request("anvil_setStorageAt", [bench.amm, hex(slot), "0x%064x" % (value % 2**256)])


def put_v1(bench, base: int, trades: int, wins: int, losses: int, last: int, pnl: int) -> None:
    """A v1 Stats at ``base``: four uint64 in the first slot, int256 realisedPnl in the next."""
    put(bench, base, trades | wins << 64 | losses << 128 | last << 192)
    put(bench, base + 1, pnl)


def packed(value: int) -> tuple[int, int, int, int, int]:
    """(trades, wins, losses, lastTradeAt, realisedPnl) of a PackedStats slot (uint32 x3, uint40, int120)."""
    pnl = value >> 136
    return (value & 0xFFFFFFFF, value >> 32 & 0xFFFFFFFF, value >> 64 & 0xFFFFFFFF, value >> 96 & (2**40 - 1),
            pnl - 2**120 if pnl >= 2**119 else pnl)


def test_v1_counters_are_read_then_carried_into_one_slot(bench):
    perf = bench.project.PerformanceFacet.at(bench.amm)
    bot_v1 = mapping_slot(1, V1_SLOT)
    put_v1(bench, bot_v1, 7, 4, 3, 1_000, -2_500)
    put_v1(bench, V1_SLOT + 1, 9, 5, 4, 1_100, 1_500)  # the aggregate `total` follows the mapping
    stats = perf.botStats(1)
    assert (stats.trades, stats.wins, stats.losses, stats.realisedPnl, stats.lastTradeAt) == (7, 4, 3, -2_500, 1_000)
    assert tuple(perf.aggregateStats())[:4] == (9, 5, 4, 1_500)

    bench.open_gap()
    bench.next_block_at()
    receipt = bench.arbitrage(1)
    [trade] = receipt.decode_logs(perf.TradeRecorded)
    profit = trade.pnl
    assert profit > 0 and trade.trades == 8
    stats = perf.botStats(1)
    now = receipt.timestamp
    assert (stats.trades, stats.wins, stats.losses, stats.realisedPnl, stats.lastTradeAt) == \
        (8, 5, 3, profit - 2_500, now)
    assert tuple(perf.aggregateStats())[:4] == (10, 6, 4, 1_500 + profit)
    # the v1 slots are cleared; each counter set is one slot of the v2 namespace
    assert [word(bench, s) for s in (bot_v1, bot_v1 + 1, V1_SLOT + 1, V1_SLOT + 2)] == [0, 0, 0, 0]
    assert packed(word(bench, mapping_slot(1, V2_SLOT))) == (8, 5, 3, now, profit - 2_500)
    assert packed(word(bench, V2_SLOT + 1)) == (10, 6, 4, now, 1_500 + profit)
    assert word(bench, mapping_slot(1, V2_SLOT) + 1) == 0


def test_a_bot_trading_first_under_v2_needs_no_v1(bench):
    perf = bench.project.PerformanceFacet.at(bench.amm)
    before = tuple(perf.aggregateStats())[:4]
    bench.open_gap()
    bench.next_block_at()
    receipt = bench.arbitrage(2)
    [trade] = receipt.decode_logs(perf.TradeRecorded)
    assert trade.trades == 1
    assert packed(word(bench, mapping_slot(2, V2_SLOT))) == (1, 1, 0, receipt.timestamp, trade.pnl)
    assert tuple(perf.aggregateStats())[:4] == (before[0] + 1, before[1] + 1, before[2], before[3] + trade.pnl)
