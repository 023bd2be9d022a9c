"""The cross-DEX arbitrage job: one decision round per block for the AMM diamond's bots.

Per block: read both pools' reserves, compute the optimal round trip with the constant-product
formula and the 0.3% fee (Uniswap V2 whitepaper §3.2.1; :mod:`macrostrike.amm.v2math`), subtract
the gas cost at the current base fee, pick the least recently used bot with capital, simulate
``executeArbitrage`` with ``eth_call`` and ``eth_estimateGas``, send. Every round that does not
send records why. The contract re-checks its own guards (``minProfit``, capital, keeper role).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector

from macrostrike.amm.v2math import arbitrage_profit, best_arbitrage
from macrostrike.keeper.context import AmmContext
from macrostrike.keeper.journal import Decision, Journal
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.signers import SignerPool, as_pool
from macrostrike.keeper.txsender import SimulationReverted, TxSender

EXECUTE = function_signature_to_4byte_selector("executeArbitrage(uint256,bool,uint256,uint256)")
BOTS_PAGE = function_signature_to_4byte_selector("botsPage(uint256,uint256)")
BOT_VIEW = "(uint256,uint8,uint256,bytes32,bytes)[]"
#: Bots read per eth_call by :meth:`ArbitrageJob.read_bots`.
PAGE = 250
BOT_COUNT = function_signature_to_4byte_selector("botCount()")
ACTIVE = 1  # LibBots.BotStatus.Active


@dataclass
class BotState:
    """Keeper-side view of one bot (capital in USDC base units, gas in units)."""

    bot_id: int
    status: int
    capital: int
    min_profit: int
    last_block: int = -1
    #: After an on-chain revert the bot rests until this block (no hot-loop retries).
    resting_until: int = -1
    trades: int = 0
    gas_used: int = 0
    gas_cost_wei: int = 0


@dataclass
class JobStats:
    """Counters for reports: rounds with a positive gross opportunity, transactions, gas per trade."""

    blocks: int = 0
    opportunities: int = 0
    sent: int = 0
    succeeded: int = 0
    reverted: int = 0
    gas_per_trade: list[int] = field(default_factory=list)
    latency_s: list[float] = field(default_factory=list)


def gas_cost_usdc(gas: int, gas_price_wei: int, eth_usd_price: float) -> int:
    """Gas cost in USDC base units: ``gas * price (wei) / 1e18 * ETH/USD * 1e6``."""
    return int(gas * gas_price_wei * eth_usd_price / 10**12)


class ArbitrageJob:
    """Decides and sends arbitrage trades for the AMM diamond's bots."""

    name = "arbitrage"

    def __init__(self, ctx: AmmContext, signers: SignerPool | TxSender, settings: KeeperSettings,
                 journal: Journal, *, send: bool = True) -> None:
        self.ctx = ctx
        self.signers = as_pool(signers)
        self.settings = settings
        self.journal = journal
        self.send_enabled = send
        self.stats = JobStats()
        self.bots: dict[int, BotState] = {}
        self.refresh_bots()

    # -- chain reads -----------------------------------------------------------------------------
    def _view(self, data: bytes) -> bytes:
        return bytes(self.ctx.web3.eth.call({"to": self.ctx.amm_address, "data": data}))

    def read_bots(self) -> list[tuple[int, int, int, bytes]]:
        """``(id, status, capital, params)`` of every bot, in pages of :data:`PAGE` (one eth_call each)."""
        (count,) = decode(["uint256"], self._view(BOT_COUNT))
        rows = []
        for first in range(1, count + 1, PAGE):
            (page,) = decode([BOT_VIEW], self._view(BOTS_PAGE + encode(["uint256", "uint256"], [first, PAGE])))
            rows += [(int(b[0]), int(b[1]), int(b[2]), bytes(b[4])) for b in page]
        return rows

    def refresh_bots(self) -> None:
        """Read every bot's status, capital and min-profit parameter from the AMM diamond (batched)."""
        for bot_id, status, capital, params in self.read_bots():
            min_profit = decode(["uint256"], params)[0] if len(params) >= 32 else 0
            old = self.bots.get(bot_id)
            state = BotState(bot_id, status, capital, min_profit)
            if old is not None:
                state.last_block, state.trades, state.resting_until = old.last_block, old.trades, old.resting_until
                state.gas_used, state.gas_cost_wei = old.gas_used, old.gas_cost_wei
            self.bots[bot_id] = state

    def expected_gas(self) -> int:
        """Median gas of the trades measured so far, or the configured default."""
        measured = self.stats.gas_per_trade[-50:]
        return int(statistics.median(measured)) if measured else self.settings.default_arbitrage_gas

    def gas_limit_basis(self) -> int | None:
        """Gas to base the limit on without ``eth_estimateGas``: the largest of the last 50 measured
        trades, once :attr:`KeeperSettings.trusted_gas_samples` are measured; None before (then the
        node estimates). The limit adds ``gas_limit_margin_bps`` on top; the ``eth_call`` simulation
        still runs before every send."""
        measured = self.stats.gas_per_trade[-50:]
        if self.settings.trusted_gas_samples == 0 or len(measured) < self.settings.trusted_gas_samples:
            return None
        return max(measured)

    def pick_bot(self, exclude: set[int], block: int = -1) -> BotState | None:
        """The least recently used active bot with capital that is not resting (ties: lowest id)."""
        ready = [b for b in self.bots.values() if b.status == ACTIVE and b.capital > 0 and b.bot_id not in exclude
                 and b.resting_until < block]
        return min(ready, key=lambda b: (b.last_block, b.bot_id)) if ready else None

    def recover(self) -> None:
        """Re-sync every signer's nonce and every bot from the chain (after RPC errors)."""
        for sender in self.signers.senders:
            sender.resync_nonce()
        self.refresh_bots()

    def backfill(self, from_block: int, to_block: int) -> list[Decision]:
        """Catch up on blocks missed while the keeper was down (``[from_block, to_block]``).

        Every ``ArbitrageExecuted`` in the range whose transaction the journal does not hold as
        ``mined`` (another keeper's, or ours mined while the journal could not record it) is
        recorded as an ``observe``/``backfilled_trade`` decision; bots are re-read from the chain.
        Nothing is sent for past blocks: an opportunity of the past is gone.
        """
        known = {t["tx_hash"].lower() for t in self.journal.transactions("mined")}
        decisions = []
        logs = self.ctx.logs("ArbitrageExecuted", from_block, to_block)
        for log, event in zip(logs, self.ctx.decode_event("ArbitrageExecuted", logs)):
            tx_hash = "0x" + bytes(log["transactionHash"]).hex()
            if tx_hash.lower() in known:
                continue
            decisions.append(self.journal.record(Decision(
                int(log["blockNumber"]), self.name, "observe", "backfilled_trade", int(event["botId"]),
                {"tx": tx_hash, "realised_profit": int(event["profit"])})))
        self.refresh_bots()
        return decisions

    # -- one round -------------------------------------------------------------------------------
    def tick(self) -> list[Decision]:
        """Run the decision rounds for the latest block; returns this block's decisions."""
        block = self.ctx.web3.eth.get_block("latest")
        number, base_fee = int(block["number"]), int(block.get("baseFeePerGas") or 0)
        now = int(block["timestamp"])
        gas_price = base_fee + self.settings.priority_fee_wei
        self.stats.blocks += 1
        decisions: list[Decision] = []
        tried: set[int] = set()

        def note(action: str, reason: str, bot_id: int | None = None, **detail: Any) -> None:
            decisions.append(self.journal.record(Decision(number, self.name, action, reason, bot_id, detail)))

        hint = None  # reserves after our own last trade, from its receipt's Sync events
        for round_no in range(self.settings.max_trades_per_block):
            reserves_a, reserves_b = hint if hint is not None else self.ctx.reserves()
            hint = None
            buy_on_a, optimum, gross = best_arbitrage(reserves_a, reserves_b)
            if optimum == 0:
                if round_no == 0:
                    note("skip", "no_opportunity", reserves_a=reserves_a, reserves_b=reserves_b)
                break
            if round_no == 0:
                self.stats.opportunities += 1
            cap = self.settings.fee_cap_wei()
            if cap is not None and gas_price > cap:
                note("skip", "fee_above_cap", base_fee_wei=base_fee, gas_price_wei=gas_price, cap_wei=cap,
                     gross_profit=gross)
                break
            gas = self.expected_gas()
            gas_cost = gas_cost_usdc(gas, gas_price, self.settings.eth_usd_price)
            if gross <= gas_cost:
                note("skip", "unprofitable_after_gas", gross_profit=gross, gas_cost_usdc=gas_cost,
                     base_fee_wei=base_fee, amount_in=optimum)
                break
            bot = self.pick_bot(tried, number)
            if bot is None:
                note("skip", "no_bot_available", amount_in=optimum, gross_profit=gross)
                break
            tried.add(bot.bot_id)
            sender = self.signers.pick(bot.bot_id, now)
            if sender is None:
                note("skip", "no_signer_available", bot.bot_id, amount_in=optimum, gross_profit=gross)
                break
            buy, sell = (reserves_a, reserves_b) if buy_on_a else (reserves_b, reserves_a)
            amount = min(optimum, bot.capital)
            expected = arbitrage_profit(amount, buy, sell)
            min_profit = gas_cost + bot.min_profit
            if expected < min_profit:
                note("skip", "below_min_profit", bot.bot_id, amount_in=amount, expected_profit=expected,
                     min_profit=min_profit, capital=bot.capital)
                break
            data = EXECUTE + encode(["uint256", "bool", "uint256", "uint256"],
                                    [bot.bot_id, buy_on_a, amount, min_profit])
            try:
                simulated = decode(["uint256"], sender.call(self.ctx.amm_address, data))[0]
                estimate = self.gas_limit_basis() or sender.estimate_gas(self.ctx.amm_address, data)
            except SimulationReverted as err:
                note("skip", "simulation_reverted", bot.bot_id, error=err.reason, amount_in=amount)
                bot.last_block = number
                continue
            if not self.send_enabled:
                note("skip", "dry_run", bot.bot_id, amount_in=amount, simulated_profit=simulated, gas=estimate)
                break
            gas_limit = estimate * (10_000 + self.settings.gas_limit_margin_bps) // 10_000
            sent = sender.send(self.ctx.amm_address, data, gas_limit, base_fee, job=self.name, bot_id=bot.bot_id)
            self.signers.record(sender, now)
            self.stats.sent += 1
            self.stats.latency_s.append(sent.latency_s)
            bot.last_block = number
            bot.trades += 1
            bot.gas_used += sent.gas_used
            bot.gas_cost_wei += sent.gas_used * sent.effective_gas_price
            if sent.status == 1:
                self.stats.succeeded += 1
                self.stats.gas_per_trade.append(sent.gas_used)
                events = self.ctx.decode_event("ArbitrageExecuted", sent.logs)
                realised = int(events[0]["profit"]) if events else simulated
                bot.capital += realised
                hint = self.ctx.reserves_from_logs(sent.logs)
                note("send", "mined", bot.bot_id, tx=sent.tx_hash, signer=sender.address, amount_in=amount, buy_on_a=buy_on_a,
                     expected_profit=expected, simulated_profit=simulated, realised_profit=realised,
                     min_profit=min_profit, gas_used=sent.gas_used, gas_price_wei=sent.effective_gas_price)
            else:
                # Why: replay the call on the state the block left behind (the usual culprit, e.g. a
                # pool moved by an earlier transaction in the block, is still there).
                try:
                    sender.call(self.ctx.amm_address, data, sent.block_number)
                    error = "reverted on chain; the call succeeds on the block's post-state"
                except SimulationReverted as err:
                    error = err.reason
                self.stats.reverted += 1
                bot.resting_until = number + self.settings.revert_rest_blocks
                note("send", "reverted", bot.bot_id, tx=sent.tx_hash, error=error, amount_in=amount,
                     gas_used=sent.gas_used, resting_until=bot.resting_until)
                break  # the market moved under us: decide again on the next block, not in a hot loop
        return decisions
