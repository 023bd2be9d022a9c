"""The cross-DEX arbitrage job: one decision round per block for the AMM diamond's bots.

Per block: read both pools' reserves, compute the optimal round trip with the constant-product
formula and the 0.3% fee (Uniswap V2 whitepaper §3.2.1; :mod:`macrostrike.amm.v2math`), subtract
the gas cost at the next block's base fee (ETH/USD from a feed, :mod:`macrostrike.keeper.prices`),
pick the least recently used bot with capital and no open intent, simulate ``executeArbitrage``
with ``eth_call`` and ``eth_estimateGas``, submit it (:class:`~macrostrike.keeper.jobbase.Job`),
and go on with the pools as that trade will leave them (computed locally: no receipt is awaited).
Outcomes settle in later blocks (:meth:`ArbitrageJob.on_settled`). Every round that does not send
records why. The contract re-checks its own guards (``minProfit``, capital, keeper role).

With a Uniswap V3 venue in the manifest (DEX C), each round also prices V2↔V3 round trips
(:mod:`macrostrike.keeper.v3arb`: QuoterV2 batches, bounded search) and trades the best of the
V2↔V2 and V2↔V3 opportunities; at most one V2↔V3 trade per block and none while one is in flight
(the V3 pool's state after our own trade is not projected locally).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector

from macrostrike.amm.v2math import arbitrage_profit, best_arbitrage, get_amount_out
from macrostrike.keeper.abi import Calls
from macrostrike.keeper.context import NO_PAIR, AmmContext
from macrostrike.keeper.fees import FeeAboveCap, next_base_fee
from macrostrike.keeper.jobbase import Job
from macrostrike.keeper import l1fee
from macrostrike.keeper.journal import Decision, IntentOpen, Journal
from macrostrike.keeper.prices import EthUsd
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.signers import SignerPool
from macrostrike.keeper.txmanager import Outcome, TxManager, subject_of
from macrostrike.keeper.txsender import SendRejected, SimulationReverted, TxSender
from macrostrike.keeper.v3arb import V3Opportunity, best_v3

EXECUTE = function_signature_to_4byte_selector("executeArbitrage(uint256,bool,uint256,uint256)")
#: A representative ``executeArbitrage`` call (bot 100, $10,000 in, $10 min profit) whose L1 data fee the
#: OP stack's GasPriceOracle quotes: the calldata's size is fixed, only its compressibility varies a little.
L1_SAMPLE_CALL = EXECUTE + encode(["uint256", "bool", "uint256", "uint256"], [100, True, 10**10, 10**7])
#: Bots read per eth_call by :meth:`ArbitrageJob.read_bots`.
PAGE = 250
ACTIVE = 1  # LibBots.BotStatus.Active
#: Gas assumed for a V2↔V3 trade until some are measured (VenueArbitrageFacet on the sandbox pool: a
#: V3 swap crossing a few ticks plus a V2 swap and the bookkeeping).
DEFAULT_V3_GAS = 300_000


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
    #: gas of the mined V2↔V3 trades (kept apart: a V3 swap costs more than a V2 one)
    gas_per_trade_v3: list[int] = field(default_factory=list)
    #: mined trades per venue pair, "A-B" = bought on A, sold on B (C: the V3 pool)
    by_venues: dict[str, int] = field(default_factory=dict)


def gas_cost_usdc(gas: int, gas_price_wei: int, eth_usd_price: float) -> int:
    """Gas cost in USDC base units: ``gas * price (wei) / 1e18 * ETH/USD * 1e6``."""
    return int(gas * gas_price_wei * eth_usd_price / 10**12)


def after_arbitrage(amount_in: int, buy: tuple[int, int], sell: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """Both pools' ``(quote, base)`` reserves after buying base with ``amount_in`` quote on ``buy``
    and selling it on ``sell`` (Uniswap V2 ``getAmountOut`` with the 0.3 % fee, both legs)."""
    base_out = get_amount_out(amount_in, buy[0], buy[1])
    quote_out = get_amount_out(base_out, sell[1], sell[0])
    return (buy[0] + amount_in, buy[1] - base_out), (sell[0] - quote_out, sell[1] + base_out)


class ArbitrageJob(Job):
    """Decides and submits arbitrage trades for the AMM diamond's bots."""

    name = "arbitrage"

    def __init__(self, ctx: AmmContext, signers: SignerPool | TxSender, settings: KeeperSettings,
                 journal: Journal, *, send: bool = True, txm: TxManager | None = None,
                 eth_usd: EthUsd | None = None, l1_fee: l1fee.L1DataFee | None = None) -> None:
        super().__init__(signers, settings, journal, send=send, txm=txm)
        self.ctx = ctx
        self.calls = Calls(ctx.abi)
        self.eth_usd = eth_usd or EthUsd.for_deployment(ctx.web3, settings, ctx.manifest)
        self.chain_id = int(ctx.web3.eth.chain_id)
        #: OP stack L1 data fee reader (None elsewhere): added to the gas cost, see :mod:`macrostrike.keeper.l1fee`.
        self.l1_fee = l1_fee or l1fee.for_chain(ctx.web3, self.chain_id)
        self.stats = JobStats()
        self.bots: dict[int, BotState] = {}
        self._v3_price: tuple[int, Any] | None = None  # (block, V3 pool price read in that block's decide)
        self.refresh_bots()

    # -- chain reads -----------------------------------------------------------------------------
    def _view(self, data: bytes) -> bytes:
        return bytes(self.ctx.web3.eth.call({"to": self.ctx.amm_address, "data": data}))

    def read_bots(self) -> list[tuple[int, int, int, bytes]]:
        """``(id, status, capital, params)`` of every bot, in pages of :data:`PAGE` (one eth_call each)."""
        calls = self.calls
        count = int(calls.decode("botCount", self._view(calls.encode("botCount")))["out0"])
        rows = []
        for first in range(1, count + 1, PAGE):
            page = calls.decode("botsPage", self._view(calls.encode("botsPage", first, PAGE)))["page"]
            rows += [(int(b["id"]), int(b["status"]), int(b["capital"]), bytes(b["params"])) for b in page]
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

    def expected_gas(self, v3: bool = False) -> int:
        """Median gas of the trades of that kind (V2↔V2, or V2↔V3) measured so far, or the default."""
        measured = (self.stats.gas_per_trade_v3 if v3 else self.stats.gas_per_trade)[-50:]
        default = DEFAULT_V3_GAS if v3 else self.settings.default_arbitrage_gas
        return int(statistics.median(measured)) if measured else default

    def l1_cost_usdc(self, block: int, gas: int, gas_price: int, eth_usd: float) -> int:
        """The OP stack L1 data fee of an ``executeArbitrage`` transaction in USDC base units (0 on other
        chains): the ``GasPriceOracle``'s quote for a representative call (fixed-size calldata)."""
        if self.l1_fee is None:
            return 0
        tx = l1fee.unsigned_eip1559(self.chain_id, self.ctx.amm_address, L1_SAMPLE_CALL, gas, gas_price, 0)
        return int(self.l1_fee.wei(block, tx) * eth_usd / 10**12)

    def gas_limit_basis(self, v3: bool = False) -> int | None:
        """Gas to base the limit on without ``eth_estimateGas``: the largest of the last 50 measured
        trades, once :attr:`KeeperSettings.trusted_gas_samples` are measured; None before (then the
        node estimates). The limit adds ``gas_limit_margin_bps`` on top; the ``eth_call`` simulation
        still runs before every send."""
        measured = (self.stats.gas_per_trade_v3 if v3 else self.stats.gas_per_trade)[-50:]
        if self.settings.trusted_gas_samples == 0 or len(measured) < self.settings.trusted_gas_samples:
            return None
        return max(measured)

    def pick_bot(self, exclude: set[int], block: int = -1) -> BotState | None:
        """The least recently used active bot with capital that is not resting and has no open
        intent (ties: lowest id)."""
        busy = self.txm.open_subjects()
        ready = [b for b in self.bots.values() if b.status == ACTIVE and b.capital > 0 and b.bot_id not in exclude
                 and b.resting_until < block and subject_of(self.ctx.amm_address, b.bot_id) not in busy]
        return min(ready, key=lambda b: (b.last_block, b.bot_id)) if ready else None

    def backfill(self, from_block: int, to_block: int) -> list[Decision]:
        """Catch up on blocks missed while the keeper was down (``[from_block, to_block]``).

        Every ``ArbitrageExecuted`` in the range whose transaction the journal does not hold as
        ``mined`` (another keeper's, or ours mined while the journal could not record it) is
        recorded as an ``observe``/``backfilled_trade`` decision; bots are re-read from the chain.
        Nothing is sent for past blocks: an opportunity of the past is gone. Logs are read in
        chunks of at most ``logs_max_range_blocks`` (halved when the node refuses a range).
        """
        known = {t["tx_hash"].lower() for t in self.journal.transactions("mined")}
        decisions = []
        logs = self.ctx.logs("ArbitrageExecuted", from_block, to_block, max_range=self.settings.logs_max_range_blocks)
        for log, event in zip(logs, self.ctx.decode_event("ArbitrageExecuted", logs)):
            tx_hash = "0x" + bytes(log["transactionHash"]).hex()
            if tx_hash.lower() in known:
                continue
            decisions.append(self.record(int(log["blockNumber"]), "observe", "backfilled_trade", int(event["botId"]),
                                         tx=tx_hash, realised_profit=int(event["profit"])))
        self.refresh_bots()
        return decisions

    def pending_view(self) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """Both pools' reserves with this job's open (unsettled) trades applied in submission order,
        or None when none is open. A gap a pending trade already takes is not traded again by another
        bot. (If such a trade was mined in this very block and is not settled yet, it counts twice:
        the keeper then under-trades for one block, never over-trades.)"""
        pending = sorted(self.txm.open_intents(self.name), key=lambda i: i.id)
        if not pending:
            return None
        reserves_a, reserves_b = self.ctx.reserves()
        for intent in pending:
            if "on_pair_a" in intent.detail:  # a V2↔V3 trade: only its V2 leg is projected
                reserves_a, reserves_b = _v3_pair_after(intent.detail, reserves_a, reserves_b)
                continue
            amount, buy_on_a = int(intent.detail.get("amount_in", 0)), bool(intent.detail.get("buy_on_a"))
            buy, sell = (reserves_a, reserves_b) if buy_on_a else (reserves_b, reserves_a)
            try:
                buy, sell = after_arbitrage(amount, buy, sell)
            except ValueError:  # the projection leaves the pool's range: the trade will revert anyway
                continue
            reserves_a, reserves_b = (buy, sell) if buy_on_a else (sell, buy)
        return reserves_a, reserves_b

    def largest_capital(self, block: int) -> int:
        """The most capital one bot that could trade now has (USDC base units; 0 if none)."""
        busy = self.txm.open_subjects()
        return max((b.capital for b in self.bots.values() if b.status == ACTIVE and b.resting_until < block
                    and subject_of(self.ctx.amm_address, b.bot_id) not in busy), default=0)

    def _capped_gross(self, buy_on_a: bool, optimum: int, gross: int, reserves_a: tuple[int, int],
                      reserves_b: tuple[int, int], block: int) -> int:
        """The V2↔V2 gross profit a bot can take: at the optimum, or at the largest capital below it
        (what the V2↔V3 search is bounded by), so the two compare like for like."""
        upper = self.largest_capital(block)
        if optimum <= upper or upper <= 0:
            return gross
        buy, sell = (reserves_a, reserves_b) if buy_on_a else (reserves_b, reserves_a)
        return arbitrage_profit(upper, buy, sell)

    def v3_opportunity(self, reserves_a: tuple[int, int], reserves_b: tuple[int, int],
                       block: int) -> V3Opportunity | None:
        """The best V2↔V3 round trip (:func:`macrostrike.keeper.v3arb.best_v3`), at most the largest
        capital of a bot that could take it; None without a V3 venue or an opportunity."""
        upper = self.largest_capital(block)
        if self.ctx.v3 is None or upper <= 0:
            return None
        if self._v3_price is None or self._v3_price[0] != block:  # our V2 trades leave the V3 pool alone
            self._v3_price = (block, self.ctx.v3.price(self.ctx.web3))
        return best_v3(self.ctx.v3, self.ctx.web3, reserves_a, reserves_b, upper, v3_price=self._v3_price[1])

    # -- one round -------------------------------------------------------------------------------
    def decide(self, header: Any, **_: Any) -> list[Decision]:
        """Run the decision rounds for block ``header``; returns this block's decisions."""
        number, now = int(header["number"]), int(header["timestamp"])
        base_fee = next_base_fee(header)
        gas_price = base_fee + self.signers.senders[0].fees.tip(number)
        self.stats.blocks += 1
        decisions: list[Decision] = []
        tried: set[int] = set()

        def note(action: str, reason: str, bot_id: int | None = None, **detail: Any) -> None:
            decisions.append(self.record(number, action, reason, bot_id, **detail))

        hint = self.pending_view()  # the pools as our trades still in flight will leave them
        queued: list[tuple[Any, int, TxSender, dict[str, Any]]] = []  # (future intent, bot, signer, detail)
        v3_ok = self.ctx.v3 is not None and not any("on_pair_a" in i.detail for i in self.txm.open_intents(self.name))
        for round_no in range(self.settings.max_trades_per_block):
            reserves_a, reserves_b = hint if hint is not None else self.ctx.reserves()
            # one V2 DEX (no pair B): V2↔V3 only
            buy_on_a, optimum, gross = best_arbitrage(reserves_a, reserves_b) if reserves_b != NO_PAIR else (True, 0, 0)
            v3 = self.v3_opportunity(reserves_a, reserves_b, number) if v3_ok else None
            if v3 is not None and v3.gross > self._capped_gross(buy_on_a, optimum, gross, reserves_a, reserves_b, number):
                optimum, gross = v3.amount_in, v3.gross
            else:
                v3 = None
            if optimum == 0:
                if round_no == 0:
                    note("skip", "no_opportunity", reserves_a=reserves_a, reserves_b=reserves_b)
                break
            if round_no == 0:
                self.stats.opportunities += 1
            gas = self.expected_gas(v3 is not None)
            eth_usd = self.eth_usd.price()
            l1_cost = self.l1_cost_usdc(number, gas, gas_price, eth_usd)
            gas_cost = gas_cost_usdc(gas, gas_price, eth_usd) + l1_cost
            venues = v3.venues if v3 is not None else ("A-B" if buy_on_a else "B-A")
            if gross <= gas_cost:
                note("skip", "unprofitable_after_gas", gross_profit=gross, gas_cost_usdc=gas_cost, l1_fee_usdc=l1_cost,
                     base_fee_wei=base_fee, amount_in=optimum, eth_usd=eth_usd, eth_usd_source=self.eth_usd.source,
                     venues=venues)
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
            min_profit = gas_cost + bot.min_profit
            if v3 is None:
                expected: int | None = arbitrage_profit(amount, buy, sell)
                data = EXECUTE + encode(["uint256", "bool", "uint256", "uint256"],
                                        [bot.bot_id, buy_on_a, amount, min_profit])
            else:  # a bot with less capital than the optimum: the simulation tells (minProfit in the call)
                expected = v3.gross if amount == v3.amount_in else None
                data = v3.calldata(bot.bot_id, amount, min_profit)
            if expected is not None and expected < min_profit:
                note("skip", "below_min_profit", bot.bot_id, amount_in=amount, expected_profit=expected,
                     min_profit=min_profit, capital=bot.capital, venues=venues)
                break
            try:
                # on the latest state (the contract's own guards); with trades of ours pending, the
                # profit the keeper expects comes from the projected pools
                simulated = decode(["uint256"], sender.call(self.ctx.amm_address, data))[0]
                estimate = self.gas_limit_basis(v3 is not None) or sender.estimate_gas(self.ctx.amm_address, data)
            except SimulationReverted as err:
                note("skip", "simulation_reverted", bot.bot_id, error=err.reason, amount_in=amount, venues=venues)
                bot.last_block = number
                continue
            if not self.send_enabled:
                note("skip", "dry_run", bot.bot_id, amount_in=amount, simulated_profit=simulated, gas=estimate,
                     venues=venues)
                break
            detail = dict(amount_in=amount, buy_on_a=buy_on_a, expected_profit=simulated if expected is None else expected,
                          simulated_profit=simulated, min_profit=min_profit, eth_usd=eth_usd,
                          eth_usd_source=self.eth_usd.source, venues=venues)
            if v3 is not None:
                detail.update(on_pair_a=v3.on_pair_a, buy_on_v2=v3.buy_on_v2, base_amount=v3.base_amount,
                              quoted_amount_in=v3.amount_in, quotes=v3.quotes)
                del detail["buy_on_a"]
            try:  # signed, journalled and broadcast in the signer's lane while the next round is decided
                future = self.submit_async(bot.bot_id, "arbitrage", sender, self.ctx.amm_address, data,
                                           self.gas_limit(estimate), header, bot_id=bot.bot_id, detail=detail)
            except FeeAboveCap as err:
                note("skip", "fee_above_cap", bot.bot_id, next_base_fee_wei=err.next_base_fee, tip_wei=err.tip,
                     cap_wei=err.cap, gross_profit=gross)
                break
            except IntentOpen:
                continue
            self.signers.record(sender, now)
            bot.last_block = number
            queued.append((future, bot.bot_id, sender, detail))
            if v3 is not None:
                v3_ok = False  # the pool after our own V3 trade is not known locally: one per block
                hint = _v3_pair_after(detail, reserves_a, reserves_b)
                continue
            hint = after_arbitrage(amount, buy, sell)
            if not buy_on_a:
                hint = (hint[1], hint[0])
        for future, bot_id, sender, detail in queued:  # every broadcast of the block is out: journal them
            try:
                intent = future.result()
            except IntentOpen:
                continue
            except SendRejected as err:
                note("skip", "send_rejected", bot_id, error=str(err), **detail)
                continue
            self.stats.sent += 1
            note("send", "submitted", bot_id, intent=intent.id, nonce=intent.nonce, signer=sender.address, **detail)
        return decisions

    def on_settled(self, outcome: Outcome) -> list[Decision]:
        """Book a settled arbitrage: realised profit and gas on the bot; a revert rests the bot."""
        intent, receipt = outcome.intent, outcome.receipt
        bot = self.bots.get(intent.bot_id)
        detail = {**intent.detail, **self.settled_detail(outcome)}
        block = int(receipt["blockNumber"]) if receipt is not None else intent.created_block
        if outcome.status == "abandoned" or bot is None:
            return [self.record(block, "settle", outcome.status, intent.bot_id, **detail)]
        gas_used, price = int(receipt["gasUsed"]), int(receipt.get("effectiveGasPrice", 0))
        bot.trades += 1
        bot.gas_used += gas_used
        bot.gas_cost_wei += gas_used * price
        if outcome.status == "mined":
            self.stats.succeeded += 1
            (self.stats.gas_per_trade_v3 if "on_pair_a" in intent.detail else self.stats.gas_per_trade).append(gas_used)
            venues = str(intent.detail.get("venues", "A-B" if intent.detail.get("buy_on_a") else "B-A"))
            self.stats.by_venues[venues] = self.stats.by_venues.get(venues, 0) + 1
            self.stats.latency_s.append(max(0.0, detail.get("latency_s", 0.0)))
            events = self.ctx.decode_event("ArbitrageExecuted", list(receipt["logs"]))
            realised = int(events[0]["profit"]) if events else int(intent.detail.get("simulated_profit", 0))
            bot.capital += realised
            return [self.record(block, "send", "mined", bot.bot_id, realised_profit=realised, **detail)]
        self.stats.reverted += 1
        bot.resting_until = block + self.settings.revert_rest_blocks
        detail["error"] = self.revert_reason(intent, receipt)
        return [self.record(block, "send", "reverted", bot.bot_id, resting_until=bot.resting_until, **detail)]


def _v3_pair_after(detail: dict[str, Any], reserves_a: tuple[int, int],
                   reserves_b: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """Both V2 pairs' reserves after the V2 leg of a V2↔V3 trade (journalled ``detail``)."""
    trade = V3Opportunity(bool(detail["on_pair_a"]), bool(detail["buy_on_v2"]), int(detail["quoted_amount_in"]),
                          int(detail["base_amount"]), 0, 0, 0)
    try:
        if trade.on_pair_a:
            return trade.pair_after(int(detail["amount_in"]), reserves_a), reserves_b
        return reserves_a, trade.pair_after(int(detail["amount_in"]), reserves_b)
    except ValueError:  # the projection leaves the pool's range: the trade will revert anyway
        return reserves_a, reserves_b
