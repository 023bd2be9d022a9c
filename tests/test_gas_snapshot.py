"""Gas snapshot check (issue 12), like ``forge snapshot --check``: every call ``make gas`` measures
(python/macrostrike/gasreport.py) on one small AMM system must cost at most 1% above its figure in
tests/data/gas-snapshot.json. To accept a change on purpose, rerun with the update variable set:

    MACROSTRIKE_GAS_SNAPSHOT_UPDATE=1 ape test tests/test_gas_snapshot.py -q -p no:cacheprovider

and commit the rewritten snapshot file with the change that explains it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from macrostrike.gasreport import (SNAPSHOT_TOLERANCE, SNAPSHOT_UPDATE_ENV, Actors, GasBench, compare_snapshot,
                                   gas_config, snapshot_figures)

SNAPSHOT = Path(__file__).parent / "data" / "gas-snapshot.json"
UPDATE_HINT = (f"if the change is intended: {SNAPSHOT_UPDATE_ENV}=1 ape test tests/test_gas_snapshot.py "
               f"-q -p no:cacheprovider, then commit {SNAPSHOT.relative_to(SNAPSHOT.parents[2])}")


@pytest.fixture(scope="module")
def bench(accounts):
    from macrostrike.deploy.system import deploy_system

    actors = Actors(owner=accounts[0], keeper=accounts[1], trader=accounts[5])
    system = deploy_system(actors.owner, gas_config(str(actors.keeper.address)))
    return GasBench(system, actors)


@pytest.fixture(scope="module")
def rows(bench):
    return bench.run()


def test_gas_within_snapshot(rows):
    measured = snapshot_figures(rows)
    if os.environ.get(SNAPSHOT_UPDATE_ENV) == "1":
        SNAPSHOT.write_text(json.dumps(measured, indent=2) + "\n")
        return
    snapshot = json.loads(SNAPSHOT.read_text())
    problems = compare_snapshot(measured, snapshot)
    assert not problems, "gas above the snapshot:\n  " + "\n  ".join(problems) + "\n" + UPDATE_HINT
    missing = sorted(set(snapshot) - set(measured))
    assert not missing, f"snapshot rows no longer measured: {missing}\n{UPDATE_HINT}"


def test_arbitrage_reads_no_pair_token_order(rows):
    """The pairs' token order is kept at setArbitragePairs: a trade asks no pair for token0()."""
    calls = [c["call"] for c in rows["arb_steady_state"]["calls"] if c["to"] in ("dex_a pair", "dex_b pair")]
    assert "token0()" not in calls, calls


def test_arbitrage_asks_the_master_nothing(rows):
    """The master pushes its breaker state to the children (RiskFacet.pushBreaker and the trip, reset
    and registration): a trade reads the child's own flag and makes no call to the master."""
    calls = rows["arb_steady_state"]["calls"]
    assert [c for c in calls if c["to"] == "master" or c["call"] == "breakerTripped()"] == [], calls


@pytest.mark.parametrize("measured, problem", [
    ({"a": 1010}, None),                   # +1.0 %: within the tolerance
    ({"a": 1011}, "a: 1,011 gas > snapshot 1,000 (+1.10%, allowed +1%)"),
    ({"a": 900}, None),                    # cheaper is fine
    ({"b": 5}, "b: 5 gas, not in the snapshot"),
])
def test_compare_snapshot(measured, problem):
    assert SNAPSHOT_TOLERANCE == 0.01
    assert compare_snapshot(measured, {"a": 1000}) == ([problem] if problem else [])


#: ERC-7201 slot of "macrostrike.arbitrage" (LibArbitrage.STORAGE_SLOT); routeA, routeB follow the 3 addresses.
ARBITRAGE_SLOT = 0xFC78B526ACDE47C208C9720780DD07C8AADAD9AFC13CF75C4859BF9C9E944D00


def test_arbitrage_without_kept_routes_asks_the_pairs(bench, rows):
    """A diamond whose pairs were set before routes existed (routeA = routeB = 0, as after an
    upgrade) quotes and trades exactly as with the kept routes, asking each pair for token0."""
    bench.open_gap()
    buy_on_a, amount = bench.opportunity(1)
    with_routes = bench.arb.quoteArbitrage(buy_on_a, amount)
    for offset in (3, 4):
        bench.w3.provider.make_request("anvil_setStorageAt", [bench.amm, hex(ARBITRAGE_SLOT + offset), "0x" + "00" * 32])
    assert bench.arb.quoteArbitrage(buy_on_a, amount) == with_routes
    receipt = bench.arb.executeArbitrage(1, buy_on_a, amount, 0, sender=bench.actors.keeper)
    [event] = receipt.decode_logs(bench.arb.ArbitrageExecuted)
    assert (event.baseAmount, event.amountOut) == tuple(with_routes)
    calls = [c["call"] for c in bench.call_breakdown(str(receipt.txn_hash))]
    assert calls.count("token0()") == 2


def test_every_diamond_slot_a_trade_touches_is_named(rows):
    """The report's storage table names each slot of the AMM diamond a steady-state trade reads or
    writes after its ERC-7201 namespace (what the next gas cut starts from), and counts them."""
    amm = [s for s in rows["arb_steady_state"]["storage"] if s["contract"] == "amm"]
    unnamed = [s["slot"] for s in amm if s["slot"].startswith("0x")]
    assert amm and not unnamed, unnamed
    assert {"LibDiamond +0[executeArbitrage] +0", "LibBots +2[keeper] +0", "LibBots +4[bot 1] +1"} <= \
        {s["slot"] for s in amm}
    assert any(s["slot"] == "LibBots +4[bot 1] +1" and s["written"] for s in amm)  # the bot's capital
