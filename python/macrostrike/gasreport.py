"""Gas report (issue 12): ``make gas`` = ``python -m macrostrike.gasreport``.

Deploys an AMM-only system (the deploy code the tests use, :func:`deploy_system`) on the local
Anvil ape-foundry starts, and measures the gas of each row on **one chain**, every baseline on
the same ``evm_snapshot`` as the diamond's call (``evm_revert`` in between):

* ``executeArbitrage`` of a bot's first trade on a new system (cold pairs), a bot's first trade
  (pairs already traded), a bot's 2nd trade (steady state) — each against a user's two
  ``UniswapV2Router02.swapExactTokensForTokens`` calls (buy base on the cheap pair's router, sell
  it on the other's) with the same amount on the same reserves;
* diamond dispatch: ``eth_estimateGas`` of a view through the diamond vs the facet called directly;
* the master's ``checkpoint``, ``allocate`` (and per funded bot), ``sweepProfits`` (one bot),
  ``rebalanceByPerformance``;
* the steady-state arbitrage's external calls from Anvil's ``callTracer`` (what each subcall costs
  inside the callee; the caller also pays 2,600 per cold address and 100 per warm call), and the
  storage slots it touched (``prestateTracer``), each named after its ERC-7201 namespace.

Strike ``openPosition``/``closePosition`` (long and short, $500 margin, 1.5x and the most the default
rules reach) are measured on a second fresh Anvil with the Aave V3 market (``--no-strike`` skips
them), each against an EOA doing the same loop itself (one transaction per Aave Pool call and per
router swap, the diamond's amounts). Writes ``bench/results/gas-<date>-<sha>.md`` and ``.json``. :func:`snapshot_figures`
is the set the test suite's snapshot check
(tests/test_gas_snapshot.py) compares against ``tests/data/gas-snapshot.json``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from eth_utils import keccak

#: Gas units a row may rise above its snapshot before the snapshot check fails (fraction).
SNAPSHOT_TOLERANCE = 0.01
#: Set to 1 to rewrite the snapshot file with the measured figures (an intended change).
SNAPSHOT_UPDATE_ENV = "MACROSTRIKE_GAS_SNAPSHOT_UPDATE"
#: Seconds between the measured transactions' blocks (mainnet's slot).
BLOCK_SECONDS = 12

PAIR_B_NOTE = ("On a new system each pair's first `swap` in a block after its first reserves costs ~80k instead "
               "of ~35k: Uniswap's price accumulators (`price0CumulativeLast`, `price1CumulativeLast`) go from "
               "zero to non-zero (two 20k SSTOREs). That is the pair's cost, paid by both paths, not ours.")


@dataclass
class Actors:
    """The accounts a measurement uses: the diamonds' owner, a registered keeper, a plain user."""

    owner: Any
    keeper: Any
    trader: Any


def gas_config(keeper: str) -> Any:
    """The AMM-only system measured: 3 bots of $8,000, $2M per pool, BTC at $30,000."""
    from macrostrike.deploy.system import DeployConfig

    return DeployConfig(amm_bots=3, capital_per_bot_usd=8_000, pool_usd=2_000_000, initial_price_usd=30_000,
                        treasury_reserve_usd=20_000, keepers=(keeper,))


class GasBench:
    """Measures rows on a deployed AMM system (``deploy_system`` result)."""

    def __init__(self, system: Any, actors: Actors) -> None:
        from ape import chain, project

        self.system, self.actors, self.chain, self.project = system, actors, chain, project
        c, m = system.contracts, system.manifest
        self.c = c
        self.usdc, self.wbtc = c["usdc"], c["wbtc"]
        self.amm = m.address("amm")
        self.master = m.address("master")
        self.arb = project.ArbitrageFacet.at(self.amm)
        self.bots = project.BotRegistryFacet.at(self.amm)
        self.w3 = chain.provider.web3
        self._prepare_trader()

    # ---- helpers ---------------------------------------------------------------------------------
    def _prepare_trader(self) -> None:
        """Mints the user's USDC and approves both routers for USDC and WBTC (before any snapshot)."""
        t, o = self.actors.trader, self.actors.owner
        self.usdc.mint(t, 1_000_000 * 10**6, sender=o)
        for dex in ("dex_a", "dex_b"):
            router = self.c[f"{dex}_router"].address
            self.usdc.approve(router, 2**256 - 1, sender=t)
            self.wbtc.approve(router, 2**256 - 1, sender=t)

    def _reserves(self, role: str) -> tuple[int, int]:
        pair = self.c[role]
        r0, r1, _ = pair.getReserves()
        return (int(r0), int(r1)) if pair.token0() == self.usdc.address else (int(r1), int(r0))

    def open_gap(self, fraction: int = 100) -> None:
        """Buys WBTC on pair A with 1/``fraction`` of its USDC reserve (the owner, on the pair):
        A's price rises ~2% for fraction=100, so buying on B and selling on A pays."""
        pair, o = self.c["dex_a_pair"], self.actors.owner
        q, b = self._reserves("dex_a_pair")
        amount_in = q // fraction
        out = amount_in * 997 * b // (q * 1000 + amount_in * 997)
        q_is_0 = pair.token0() == self.usdc.address
        self.usdc.mint(pair.address, amount_in, sender=o)
        pair.swap(0 if q_is_0 else out, out if q_is_0 else 0, o.address, b"", sender=o)

    def opportunity(self, bot: int) -> tuple[bool, int]:
        """(buy_on_a, amount_in) of the best arbitrage now, capped at ``bot``'s capital."""
        from macrostrike.amm.v2math import best_arbitrage

        buy_on_a, amount, _profit = best_arbitrage(self._reserves("dex_a_pair"), self._reserves("dex_b_pair"))
        return buy_on_a, min(amount, int(self.bots.bot(bot)[1]))

    def arbitrage(self, bot: int) -> Any:
        """One ``executeArbitrage`` of ``bot`` by the keeper at the best opportunity; the receipt."""
        buy_on_a, amount = self.opportunity(bot)
        return self.arb.executeArbitrage(bot, buy_on_a, amount, 0, sender=self.actors.keeper)

    def router_round_trip(self, buy_on_a: bool, amount: int) -> tuple[int, int]:
        """The user's two router swaps: ``amount`` USDC -> WBTC on the buy pair's router, all of that
        WBTC -> USDC on the other router. Returns the gas of each."""
        buy, sell = ("dex_a", "dex_b") if buy_on_a else ("dex_b", "dex_a")
        t = self.actors.trader
        deadline = self.chain.pending_timestamp + 3_600
        path = [self.usdc.address, self.wbtc.address]
        r1 = self.c[f"{buy}_router"].swapExactTokensForTokens(amount, 0, path, t.address, deadline, sender=t)
        base = int(self.wbtc.balanceOf(t))
        self.next_block_at()
        r2 = self.c[f"{sell}_router"].swapExactTokensForTokens(base, 0, path[::-1], t.address, deadline, sender=t)
        return int(r1.gas_used), int(r2.gas_used)

    def next_block_at(self, offset: int = BLOCK_SECONDS) -> None:
        """Mines the next transaction ``offset`` s after the latest block. Gas depends on time: a
        pair updates its price accumulators only in a later second than its last update (two
        SSTOREs, ~10k), so every measured transaction gets its own, later, timestamp."""
        latest = int(self.w3.eth.get_block("latest")["timestamp"])
        self.w3.provider.make_request("evm_setNextBlockTimestamp", [latest + offset])

    def set_risk_limits(self) -> None:
        """The owner sets the child's risk limits to LibRiskLimits' defaults explicitly (a configured
        child reads its limits from storage instead of constants)."""
        limits = (8_000 * 10**6, 200_000 * 10**6, 1, 100, 3, 1_800)  # LibRiskLimits.DEFAULT_*
        self.project.RiskLimitsFacet.at(self.amm).setRiskLimits(limits, sender=self.actors.owner)

    def compare(self, bot: int) -> dict[str, Any]:
        """``bot``'s arbitrage and the router round trip with the same amount, both from one snapshot."""
        buy_on_a, amount = self.opportunity(bot)
        snap = self.chain.snapshot()
        self.next_block_at()
        receipt = self.arb.executeArbitrage(bot, buy_on_a, amount, 0, sender=self.actors.keeper)
        diamond = int(receipt.gas_used)
        self.chain.restore(snap)  # (a revert consumes the snapshot: take it again)
        snap = self.chain.snapshot()
        self.next_block_at()
        swap1, swap2 = self.router_round_trip(buy_on_a, amount)
        self.chain.restore(snap)
        baseline = swap1 + swap2
        return {"gas": diamond, "baseline": baseline, "baseline_swaps": [swap1, swap2],
                "ratio": round(diamond / baseline, 3), "amount_in": amount, "buy_on_a": buy_on_a,
                "tx": str(receipt.txn_hash)}

    # ---- rows ------------------------------------------------------------------------------------
    def arbitrage_rows(self) -> dict[str, Any]:
        """First trade on a new system, a bot's first trade, steady state (each vs its baseline)."""
        rows: dict[str, Any] = {}
        self.open_gap()
        rows["arb_first_new_system"] = self.compare(1)
        self.arbitrage(2)  # warms the pairs (accumulators, reserves) and the aggregate stats
        self.open_gap()
        rows["arb_bot_first_trade"] = self.compare(1)
        self.arbitrage(1)
        self.open_gap()
        rows["arb_steady_state"] = self.compare(1)
        snap = self.chain.snapshot()
        self.set_risk_limits()
        rows["arb_steady_state_limits_set"] = self.compare(1)
        self.chain.restore(snap)
        rows["arb_floor"] = self.floor_row()
        snap = self.chain.snapshot()
        self.next_block_at()
        receipt = self.arbitrage(1)
        rows["arb_steady_state"]["calls"] = self.call_breakdown(str(receipt.txn_hash))
        rows["arb_steady_state"]["storage"] = self.storage_breakdown(str(receipt.txn_hash), 1)
        self.chain.restore(snap)
        return rows

    def floor_row(self) -> dict[str, Any]:
        """The steady-state trade with no bookkeeping: BareArbitrageFacet (contracts/test) cut in for
        ``executeArbitrage`` on a snapshot, measured as :meth:`compare`, then reverted. What the
        steady state costs above it is the bookkeeping's (status, capital, risk counters,
        performance counters and window, total capital, pause and breaker)."""
        from macrostrike.deploy.cuts import ZERO_ADDRESS, FacetCutAction

        owner = self.actors.owner
        snap = self.chain.snapshot()
        bare = owner.deploy(self.project.BareArbitrageFacet)
        self.project.DiamondCutFacet.at(self.amm).diamondCut(
            [(bare.address, int(FacetCutAction.REPLACE), [EXECUTE_ARBITRAGE])], ZERO_ADDRESS, b"", sender=owner)
        row = self.compare(1)
        self.chain.restore(snap)
        return row

    def call_breakdown(self, tx: str) -> list[dict[str, Any]]:
        """The transaction's external calls (callTracer): depth, callee label, selector name, gasUsed."""
        trace = self.w3.provider.make_request("debug_traceTransaction", [tx, {"tracer": "callTracer"}])["result"]
        labels = {self.usdc.address.lower(): "USDC", self.wbtc.address.lower(): "WBTC",
                  self.master.lower(): "master", self.amm.lower(): "amm"}
        for dex in ("dex_a", "dex_b"):
            labels[str(self.c[f"{dex}_pair"].address).lower()] = f"{dex} pair"
        for role in ("amm", "master"):
            for name, entry in self.system.manifest.diamonds[role]["facets"].items():
                labels[str(entry["address"]).lower()] = name
        names = {"0x0dfe1681": "token0()", "0xd21220a7": "token1()", "0x0902f1ac": "getReserves()",
                 "0x022c0d9f": "swap()", "0xa9059cbb": "transfer()", "0x70a08231": "balanceOf()"}
        for signature in ("breakerTripped()", "executeArbitrage(uint256,bool,uint256,uint256)"):
            names["0x" + self.w3.keccak(text=signature)[:4].hex().removeprefix("0x")] = signature.split("(")[0] + "()"
        out: list[dict[str, Any]] = []

        def walk(node: dict[str, Any], depth: int) -> None:
            sel = node.get("input", "0x")[:10]
            out.append({"depth": depth, "type": node["type"], "to": labels.get(node["to"].lower(), node["to"]),
                        "call": names.get(sel, sel), "gas_used": int(node["gasUsed"], 16)})
            for child in node.get("calls", []):
                walk(child, depth + 1)

        walk(trace, 0)
        return out

    def storage_breakdown(self, tx: str, bot: int) -> list[dict[str, Any]]:
        """The storage slots ``tx`` touched (``prestateTracer``; written ones from its diff mode), per
        contract, each slot named after the ERC-7201 namespace it lies in (see :func:`slot_labels`):
        a cold SLOAD costs 2,100 (EIP-2929), a write of a non-zero slot 2,900 more (EIP-2200)."""
        w3 = self.w3
        touched = w3.provider.make_request("debug_traceTransaction", [tx, {"tracer": "prestateTracer"}])["result"]
        diff = w3.provider.make_request("debug_traceTransaction", [tx, {"tracer": "prestateTracer",
                                                                        "tracerConfig": {"diffMode": True}}])["result"]
        contracts = {self.usdc.address.lower(): "USDC", self.wbtc.address.lower(): "WBTC",
                     self.amm.lower(): "amm", self.master.lower(): "master"}
        for dex in ("dex_a", "dex_b"):
            contracts[str(self.c[f"{dex}_pair"].address).lower()] = f"{dex} pair"
        keys = {f"bot {bot}": bot.to_bytes(32, "big"), "keeper": bytes(12) + bytes.fromhex(self.actors.keeper.address[2:]),
                "executeArbitrage": bytes.fromhex(EXECUTE_ARBITRAGE[2:]).ljust(32, b"\0")}
        labels = slot_labels(keys)
        out = []
        for address, account in touched.items():
            written = set(diff.get("post", {}).get(address, {}).get("storage", {}))
            for slot in account.get("storage", {}):
                out.append({"contract": contracts.get(address.lower(), address), "slot": labels.get(int(slot, 16), slot),
                            "written": slot in written})
        return sorted(out, key=lambda r: (r["contract"], not r["written"], r["slot"]))

    def dispatch_row(self) -> dict[str, Any]:
        """``eth_estimateGas`` of ``arbitragePairs()`` (3 cold SLOADs) through the diamond and on the
        ArbitrageFacet itself; the difference is the diamond's dispatch."""
        facet = str(self.system.manifest.diamonds["amm"]["facets"]["ArbitrageFacet"]["address"])
        data = "0x" + self.w3.keccak(text="arbitragePairs()")[:4].hex().removeprefix("0x")
        via = int(self.w3.eth.estimate_gas({"to": self.amm, "data": data}))
        direct = int(self.w3.eth.estimate_gas({"to": facet, "data": data}))
        return {"diamond": via, "facet": direct, "gas": via - direct}

    def master_rows(self) -> dict[str, Any]:
        """checkpoint, allocate (total and per funded bot), sweepProfits of one bot,
        rebalanceByPerformance of a small amount from a bot without trades to one with profit."""
        p, o, rows = self.project, self.actors.owner, {}
        risk = p.RiskFacet.at(self.master)
        self.next_block_at()
        rows["checkpoint_first"] = {"gas": int(risk.checkpoint(sender=o).gas_used)}
        self.next_block_at()
        rows["checkpoint"] = {"gas": int(risk.checkpoint(sender=o).gas_used)}
        alloc = p.AllocationFacet.at(self.master)
        receipt = alloc.sweepProfits(self.amm, [1], sender=o)
        rows["sweepProfits_1_bot"] = {"gas": int(receipt.gas_used)}
        capital = int(self.bots.bot(3)[1])
        try:
            receipt = alloc.rebalanceByPerformance(self.amm, 3, self.amm, 1, capital // 100, sender=o)
            rows["rebalanceByPerformance"] = {"gas": int(receipt.gas_used)}
        except Exception as exc:  # noqa: BLE001 - a row that cannot run is reported, not fatal
            rows["rebalanceByPerformance"] = {"gas": None, "note": f"not measured: {exc}"}
        try:
            receipt = alloc.allocate(sender=o)
            funded = len({log.botId for log in receipt.decode_logs(p.ChildCoordinationFacet.BotFunded)}) or 1
            rows["allocate"] = {"gas": int(receipt.gas_used), "bots": funded,
                                "per_bot": int(receipt.gas_used) // funded}
        except Exception as exc:  # noqa: BLE001
            rows["allocate"] = {"gas": None, "note": f"not measured: {exc}"}
        return rows

    def registration_rows(self) -> dict[str, Any]:
        """``registerBots`` of 1 and of 10 bots (each from one snapshot, reverted: ids unchanged).
        Registration pre-writes the slots a bot's first trade would take from zero (issue 12)."""
        from macrostrike.deploy.system import ARBITRAGE_STRATEGY

        rows: dict[str, Any] = {}
        for count in (1, 10):
            snap = self.chain.snapshot()
            self.next_block_at()
            receipt = self.bots.registerBots(count, ARBITRAGE_STRATEGY, b"", sender=self.actors.owner)
            self.chain.restore(snap)
            rows[f"registerBots_{count}"] = {"gas": int(receipt.gas_used), "bots": count,
                                              "per_bot": int(receipt.gas_used) // count}
        return rows

    def run(self) -> dict[str, Any]:
        """Every row, in the order that leaves each measurement's preconditions in place."""
        rows = self.registration_rows()
        rows.update(self.arbitrage_rows())
        rows["dispatch"] = self.dispatch_row()
        rows.update(self.master_rows())
        return rows


#: Strike rows: margin (USDC base units) and the leverages measured (bps) per side: 1.5x and the most
#: the default rules reach (the 1.15 minimum health factor: ~3.1x long, ~2.29x short; StrikeFacet NatSpec).
STRIKE_MARGIN = 500 * 10**6
STRIKE_LEVERAGES = {"long": (15_000, 30_000), "short": (15_000, 22_500)}


def strike_rows(log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """``openPosition`` and ``closePosition`` of bot 1 on the long and the short child at 1.5x and at
    near the maximum leverage (STRIKE_LEVERAGES), each from one snapshot of a system with 3 + 3 strike bots on the Aave V3
    market (BTC at $30,000, $2M pools). Baseline, from the same snapshot: an EOA doing the same loop
    itself with the diamond's amounts (its Supply/Borrow/Repay/Withdraw and Swap events, in order),
    one transaction per Aave Pool call and per router swap (:class:`_EoaLoop`). Each leverage is
    measured twice: with bot 1's position the only one on the pair (the open list and the child's
    and the master's pair exposure go from zero to non-zero: 20,000 gas each, EIP-2200), and with
    bot 2's position open (keys ending in WITH_OPEN), as in a child in use."""
    from ape import accounts, chain, project

    from macrostrike.deploy.system import STRIKE_FACETS, DeployConfig, deploy_system
    from macrostrike.keeper.context import diamond_at

    test = accounts.test_accounts
    owner, keeper = test[0], test[1]
    config = DeployConfig(amm_bots=1, long_bots=3, short_bots=3, pool_usd=2_000_000, capital_per_bot_usd=2_000,
                          initial_price_usd=30_000, treasury_reserve_usd=1_000, keepers=(str(keeper.address),))
    system = deploy_system(owner, config, log=log)
    w3 = chain.provider.web3
    rows: dict[str, Any] = {}

    eoa_loop = _EoaLoop(system, test[6], owner)
    pool, pair = str(eoa_loop.pool.address), str(system.contracts["dex_a_pair"].address)
    pair_tokens = tuple(str(a).lower() for a in (system.contracts["dex_a_pair"].token0(),
                                                 system.contracts["dex_a_pair"].token1()))

    def next_block() -> None:
        latest = int(w3.eth.get_block("latest")["timestamp"])
        w3.provider.make_request("evm_setNextBlockTimestamp", [latest + BLOCK_SECONDS])

    def round_trip(facet: Any, lev: int) -> tuple[int, int, list, list]:
        next_block()
        opened = facet.openPosition(1, STRIKE_MARGIN, lev, 2**40, sender=keeper)
        next_block()
        closed = facet.closePosition(1, 2**40, sender=keeper)
        steps = [_steps(w3, str(r.txn_hash), pool, pair, pair_tokens) for r in (opened, closed)]
        return int(opened.gas_used), int(closed.gas_used), steps[0], steps[1]

    def baseline(open_steps: list, close_steps: list) -> tuple[Any, Any]:
        """The EOA's open and close loops with the diamond's amounts, from the current snapshot."""
        try:
            opened = eoa_loop.run(open_steps, next_block)
            closed = eoa_loop.run(close_steps, next_block)
            return opened, closed
        except Exception as exc:  # noqa: BLE001 - a baseline that cannot replay is reported, not fatal
            return f"not measured: {str(exc)[:120]}", f"not measured: {str(exc)[:120]}"

    def measure(facet: Any, side: str, suffix: str = "") -> None:
        for lev in STRIKE_LEVERAGES[side]:
            snap = chain.snapshot()
            opened, closed, open_steps, close_steps = round_trip(facet, lev)
            chain.restore(snap)
            snap = chain.snapshot()
            base_open, base_close = baseline(open_steps, close_steps)
            chain.restore(snap)
            tag = f"{side}_{lev / 10_000:g}x{suffix}"
            for op, gas, base, steps in (("open", opened, base_open, open_steps),
                                         ("close", closed, base_close, close_steps)):
                ratio = round(gas / base, 3) if isinstance(base, int) else None
                rows[f"strike_{op}_{tag}"] = {"gas": gas, "baseline": base, "ratio": ratio,
                                              "baseline_txs": [a for a, _, _ in steps]}

    for side in ("long", "short"):
        facet = diamond_at(project, system.manifest.address(side), *STRIKE_FACETS)
        # the bot's first open also creates its PositionHolder (CREATE2): a row of its own, kept
        first_open, *_ = round_trip(facet, STRIKE_LEVERAGES[side][0])
        rows[f"strike_open_{side}_first"] = {"gas": first_open, "baseline": None}
        measure(facet, side)  # bot 1's position is the only one: the pair's exposure starts from 0
        # with bot 2's position open on the pair (a child in use): the open list, the child's and
        # the master's pair exposure are non-zero already, as in a running system
        snap = chain.snapshot()
        next_block()
        facet.openPosition(2, STRIKE_MARGIN, STRIKE_LEVERAGES[side][0], 2**40, sender=keeper)
        measure(facet, side, WITH_OPEN)
        chain.restore(snap)
    return rows


#: Key suffix of the strike rows measured with another bot's position open on the pair.
WITH_OPEN = "_withopen"


#: topic0 of the events an EOA baseline replays: Aave V3 Pool and Uniswap V2 pair.
_REPLAYED = {
    "Supply(address,address,address,uint256,uint16)": "supply",
    "Borrow(address,address,address,uint256,uint8,uint256,uint16)": "borrow",
    "Repay(address,address,address,uint256,bool)": "repay",
    "Withdraw(address,address,address,uint256)": "withdraw",
    "Swap(address,uint256,uint256,uint256,uint256,address)": "swap",
}


def _steps(w3: Any, tx: str, pool: str, pair: str, tokens: tuple[str, str]) -> list[tuple[str, str, int]]:
    """The diamond's transaction as (action, token, amount) steps, in log order: the Aave Pool's
    Supply/Borrow/Repay/Withdraw and the pair's Swap (token = the token sold, amount = sold)."""
    from eth_utils import keccak

    topics = {"0x" + keccak(text=sig).hex().removeprefix("0x"): name for sig, name in _REPLAYED.items()}
    steps = []
    for log in w3.eth.get_transaction_receipt(tx)["logs"]:
        name = topics.get("0x" + bytes(log["topics"][0]).hex().removeprefix("0x"))
        address = str(log["address"]).lower()
        data = bytes(log["data"])
        words = [int.from_bytes(data[i:i + 32], "big") for i in range(0, len(data), 32)]
        if name == "swap" and address == pair.lower():
            steps.append(("swap", tokens[0] if words[0] else tokens[1], words[0] or words[1]))
        elif name in ("supply", "borrow", "repay", "withdraw") and address == pool.lower():
            reserve = "0x" + bytes(log["topics"][1])[-20:].hex()
            steps.append((name, reserve, words[1] if name in ("supply", "borrow") else words[0]))
    return steps


class _EoaLoop:
    """An EOA doing a strike child's loop itself: one transaction per Aave Pool call and per router swap."""

    def __init__(self, system: Any, eoa: Any, owner: Any) -> None:
        self.c, self.eoa = system.contracts, eoa
        self.market = self.c["aave_market"]
        self.pool = self.market.pool_contract()
        self.router = self.c["dex_a_router"]
        self.tokens = {str(self.c["usdc"].address).lower(): self.c["usdc"], str(self.c["wbtc"].address).lower():
                       self.c["wbtc"]}
        for token in self.tokens.values():  # funds and approvals before any snapshot
            token.mint(eoa, 10**15, sender=owner)
            token.approve(str(self.pool.address), 2**256 - 1, sender=eoa)
            token.approve(str(self.router.address), 2**256 - 1, sender=eoa)

    def run(self, steps: list[tuple[str, str, int]], next_block: Callable[[], None]) -> int:
        """Replays ``steps`` (the last repay and withdraw of a reserve take all: interest differs by the
        second); returns the gas of every transaction summed."""
        last = {(a, t): i for i, (a, t, _) in enumerate(steps) if a in ("repay", "withdraw")}
        total, eoa = 0, self.eoa
        for i, (action, token, amount) in enumerate(steps):
            if last.get((action, token)) == i:
                amount = 2**256 - 1
            next_block()
            if action == "swap":
                other = next(t for t in self.tokens if t != token)
                receipt = self.router.swapExactTokensForTokens(amount, 0, [token, other], eoa.address,
                                                               2**40, sender=eoa)
            elif action == "supply":
                receipt = self.pool.supply(token, amount, eoa.address, 0, sender=eoa)
            elif action == "borrow":
                receipt = self.pool.borrow(token, amount, 2, 0, eoa.address, sender=eoa)
            elif action == "repay":
                receipt = self.pool.repay(token, amount, 2, eoa.address, sender=eoa)
            else:
                receipt = self.pool.withdraw(token, amount, eoa.address, sender=eoa)
            total += int(receipt.gas_used)
        return total


def deploy(log: Callable[[str], None] = lambda _m: None) -> tuple[Any, Actors]:
    """Deploys the measured AMM system on the connected chain with Anvil test accounts 0 (owner),
    1 (keeper) and 5 (user)."""
    from ape import accounts

    from macrostrike.deploy.system import deploy_system

    test = accounts.test_accounts
    actors = Actors(owner=test[0], keeper=test[1], trader=test[5])
    system = deploy_system(actors.owner, gas_config(str(actors.keeper.address)), log=log)
    return system, actors


def snapshot_figures(rows: dict[str, Any]) -> dict[str, int]:
    """The gas figures the snapshot check compares: name -> gas (measured rows only)."""
    out: dict[str, int] = {}
    for name, row in rows.items():
        if row.get("gas") is not None:
            out[name] = int(row["gas"])
    return dict(sorted(out.items()))


def compare_snapshot(measured: dict[str, int], snapshot: dict[str, int],
                     tolerance: float = SNAPSHOT_TOLERANCE) -> list[str]:
    """Lines naming each call above its snapshot by more than ``tolerance`` (or missing from it).

    Args:
        measured: name -> gas measured now.
        snapshot: name -> gas checked in.
        tolerance: allowed rise as a fraction of the snapshot figure.

    Returns:
        One line per regression; empty when every call is within the tolerance.
    """
    problems = []
    for name, gas in measured.items():
        if name not in snapshot:
            problems.append(f"{name}: {gas:,} gas, not in the snapshot")
        elif gas > snapshot[name] * (1 + tolerance):
            old = snapshot[name]
            problems.append(f"{name}: {gas:,} gas > snapshot {old:,} (+{(gas - old) / old:.2%}, "
                            f"allowed +{tolerance:.0%})")
    return problems


# ---- output ----------------------------------------------------------------------------------------
EXECUTE_ARBITRAGE = "0x" + keccak(text="executeArbitrage(uint256,bool,uint256,uint256)")[:4].hex()


def namespaces(root: Path | None = None) -> dict[str, int]:
    """``{"LibBots": base slot, "LibPerformance.V1_STORAGE_SLOT": …}``: every ERC-7201 namespace
    constant (``bytes32 internal constant …SLOT = 0x…``) of the libraries under ``contracts/``."""
    root = root or Path(__file__).resolve().parents[2] / "contracts"
    found: dict[str, int] = {}
    for path in sorted(root.rglob("*.sol")):
        text = path.read_text()
        library = re.search(r"^library (\w+)", text, re.M)
        for const, value in re.findall(r"bytes32 internal constant (\w*SLOT\w*) = (0x[0-9a-fA-F]{64});", text):
            if library and "vendor" not in path.parts and "test" not in path.parts:
                found[library.group(1) if const == "STORAGE_SLOT" else f"{library.group(1)}.{const}"] = int(value, 16)
    return found


def slot_labels(keys: dict[str, bytes], fields: int = 16, entry_fields: int = 8) -> dict[int, str]:
    """Names for storage slots: ``LibBots +5`` (the 6th slot of the namespace struct) and, for each
    32-byte mapping key in ``keys``, ``LibBots +7[bot 1] +1`` (field 1 of the entry of that key in a
    mapping at struct slot 7; Solidity's layout: ``keccak256(key . slot)``)."""
    labels: dict[int, str] = {}
    for name, base in namespaces().items():
        for offset in range(fields):
            labels.setdefault(base + offset, f"{name} +{offset}")
            for key_name, key in keys.items():
                entry = int.from_bytes(keccak(key + (base + offset).to_bytes(32, "big")), "big")
                for field_index in range(entry_fields):
                    labels.setdefault(entry + field_index, f"{name} +{offset}[{key_name}] +{field_index}")
    return labels


def _fmt(v: Any) -> str:
    return "—" if v is None else f"{v:,}" if isinstance(v, int) else str(v)


def markdown(results: dict[str, Any]) -> str:
    """The report's table (markdown)."""
    r, meta = results["rows"], results["meta"]
    lines = [f"# Gas report ({meta['date']}, {meta['git']}{' dirty' if meta['git_dirty'] else ''})", "",
             "`make gas` on a fresh Anvil; every baseline on the same `evm_snapshot` as the diamond's call.", "",
             "| operation | gas | baseline (same snapshot) | ratio | target |", "|---|---:|---:|---:|---|"]
    labels = {"arb_steady_state": ("`executeArbitrage`, a bot's 2nd+ trade (steady state)", "≤ 0.8"),
              "arb_steady_state_limits_set": ("`executeArbitrage`, steady state, risk limits set by the owner",
                                              "≤ 0.8"),
              "arb_bot_first_trade": ("`executeArbitrage`, a bot's first trade", "≤ 1.0"),
              "arb_first_new_system": ("`executeArbitrage`, first arbitrage on a new system (cold pairs)*", "—"),
              "arb_floor": ("the steady-state trade with no bookkeeping (`BareArbitrageFacet`, measurement "
                            "only): the floor†", "—")}
    for key, (label, target) in labels.items():
        if key not in r:
            continue
        row = r[key]
        s1, s2 = row["baseline_swaps"]
        lines.append(f"| {label} | {row['gas']:,} | two router swaps {s1:,} + {s2:,} = {row['baseline']:,} "
                     f"| {row['ratio']:.2f} | {target} |")
    d = r["dispatch"]
    lines.append(f"| diamond dispatch (`arbitragePairs()` via diamond {d['diamond']:,} vs facet {d['facet']:,}, "
                 f"`eth_estimateGas`) | +{d['gas']:,} | — | — | ≤ 3,000 |")
    for key, label in (("checkpoint_first", "`checkpoint` (first: starts the risk window)"),
                       ("checkpoint", "`checkpoint` (next)"), ("sweepProfits_1_bot", "`sweepProfits` (1 bot)"),
                       ("rebalanceByPerformance", "`rebalanceByPerformance`")):
        row = r[key]
        lines.append(f"| {label} | {_fmt(row['gas'])} | — | — | reported{'; ' + row['note'] if 'note' in row else ''} |")
    for key in ("registerBots_1", "registerBots_10"):
        if key in r:
            row = r[key]
            lines.append(f"| `registerBots` ({row['bots']} bot{'s' if row['bots'] > 1 else ''}, "
                         f"{row['per_bot']:,} per bot; pre-writes each bot's first-trade slots) "
                         f"| {row['gas']:,} | — | — | reported |")
    a = r["allocate"]
    per = f" ({a['bots']} bots, {a['per_bot']:,} per bot)" if a.get("gas") else f"; {a.get('note', '')}"
    lines.append(f"| `allocate`{per} | {_fmt(a['gas'])} | — | — | reported |")
    strike = {k: v for k, v in r.items() if k.startswith("strike_")}
    for key, row in strike.items():
        _, op, side, lev = key.removesuffix(WITH_OPEN).split("_")
        if lev == "first":
            what = f"{side} {STRIKE_LEVERAGES[side][0] / 10_000:g}x, the bot's first (creates its PositionHolder)"
        elif key.endswith(WITH_OPEN):
            what = f"{side} {lev}, holder exists, another bot's position open on the pair"
        else:
            what = f"{side} {lev}, holder exists, the only position on the pair"
        base = row.get("baseline")
        if isinstance(base, int):
            cells = (f"EOA loop, {len(row['baseline_txs'])} txs (Aave Pool calls + router swaps) {base:,} "
                     f"| {row['ratio']:.2f}")
        else:
            cells = f"EOA Aave Pool + router: {base or 'not measured'} | —"
        lines.append(f"| strike `{op}Position`, {what} ($500 margin) | {row['gas']:,} | {cells} | ≤ 1.0 |")
    if not strike:
        lines.append("| strike `openPosition` / `closePosition` (long/short, 1.5x and max) vs EOA Aave + router | "
                     "not measured | not measured | — | ≤ 1.0 |")
    lines += ["", f"\\* {PAIR_B_NOTE}"]
    if "arb_floor" in r:
        steady, floor = r["arb_steady_state"], r["arb_floor"]
        lines += ["", f"† The bookkeeping costs {steady['gas'] - floor['gas']:,} gas per steady-state trade "
                  f"({steady['gas']:,} − {floor['gas']:,}). 0.8× of the baseline is "
                  f"{int(0.8 * steady['baseline']):,}: {int(0.8 * steady['baseline']) - floor['gas']:,} gas "
                  "left for all of it (bench/README.md: what that allows)."]
    lines += ["", "## Steady-state arbitrage: external calls (callTracer)", "",
              "| depth | type | to | call | gas used inside |", "|---:|---|---|---|---:|"]
    for call in r["arb_steady_state"].get("calls", []):
        lines.append(f"| {call['depth']} | {call['type']} | {call['to']} | {call['call']} | {call['gas_used']:,} |")
    storage = r["arb_steady_state"].get("storage", [])
    if storage:
        amm = [s for s in storage if s["contract"] == "amm"]
        written = sum(1 for s in amm if s["written"])
        lines += ["", "## Steady-state arbitrage: storage slots (prestateTracer)", "",
                  f"The AMM diamond's own storage: {len(amm)} slots read cold (2,100 gas each, EIP-2929), "
                  f"{written} of them written (a non-zero slot: 2,900 more, EIP-2200) — "
                  f"{len(amm) * 2_100 + written * 2_900:,} gas. Names: the ERC-7201 namespace, its struct slot, "
                  "a mapping key and the field in the entry.", "",
                  "| contract | slot | written |", "|---|---|---|"]
        for slot in storage:
            lines.append(f"| {slot['contract']} | {slot['slot']} | {'yes' if slot['written'] else 'read'} |")
    return "\n".join(lines) + "\n"


def write_results(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Writes ``gas-<date>-<sha>.json`` and ``.md`` in ``out_dir``; returns both paths."""
    meta = results["meta"]
    stem = f"gas-{meta['date'][:10]}-{meta['git'] or 'nogit'}"
    out_dir.mkdir(parents=True, exist_ok=True)
    path, md = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    path.write_text(json.dumps(results, indent=2) + "\n")
    md.write_text(markdown(results))
    return path, md


@click.command()
@click.option("--network", default="ethereum:local:foundry", show_default=True,
              help="A local chain: the report deploys, mints test tokens and reverts snapshots.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("bench/results"), show_default=True)
@click.option("--strike/--no-strike", default=True, show_default=True,
              help="Also measure strike open/close on a second fresh chain (deploys the Aave V3 market).")
def main(network: str, out_dir: Path, strike: bool) -> None:
    """Deploys on a fresh Anvil, measures every row, prints the table, writes the .md and .json."""
    import tempfile

    os.environ.setdefault("MACROSTRIKE_DEPLOYMENTS", tempfile.mkdtemp(prefix="macrostrike-gas-deploy-"))
    os.environ.setdefault("MACROSTRIKE_ANVIL_STEPS_TRACING", "0")
    from ape import networks
    from ape.logging import logger

    from macrostrike.bench import _meta
    from macrostrike.cli.common import UserError

    logger.set_level("WARNING")
    with networks.parse_network_choice(network) as provider:
        if provider.chain_id not in (31337, 1337):
            raise UserError("make gas deploys, mints test tokens and reverts the chain: run it on a local chain")
        system, actors = deploy(log=lambda m: click.echo(m, err=True))
        rows = GasBench(system, actors).run()
    if strike:
        os.environ["MACROSTRIKE_DEPLOYMENTS"] = tempfile.mkdtemp(prefix="macrostrike-gas-strike-")
        with networks.parse_network_choice(network):
            rows.update(strike_rows(log=lambda m: click.echo(m, err=True)))
    results = {"meta": _meta(), "rows": rows, "snapshot": snapshot_figures(rows), "note": PAIR_B_NOTE}
    path, md = write_results(results, out_dir)
    click.echo(md.read_text())
    click.echo(f"wrote {path} and {md}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
