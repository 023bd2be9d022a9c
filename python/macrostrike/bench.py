"""Throughput benchmark of the keeper against the raw-send limit and a plain web3.py loop (issue 4 §7).

One run, one Anvil (the local chain ape-foundry starts):

1. **Tick cost**: one keeper decision pass (:meth:`ArbitrageJob.tick`) with 100 and with 1,000
   registered, funded AMM bots — on balanced pools (no opportunity: the per-block check) and with a
   price gap, in dry-run mode (the full decide-and-simulate path: ``pick_bot`` over every bot, then
   ``eth_call`` and ``eth_estimateGas``). Also the cost of :meth:`ArbitrageJob.refresh_bots`, which
   reads every bot. Done inside a snapshot that is reverted afterwards.
2. **Keeper path**: the BTC/USD replay (noise traders on both pools each hour, the real
   ``ArbitrageJob`` pipeline: ``tick()`` decides, simulates, signs, journals and broadcasts without
   waiting; ``flush()`` settles the automined receipts) until ``trades`` arbitrages are mined. Per
   trade: the start of its decision round and the moment its outcome settled. Every raw transaction
   the run broadcasts (noise trades, arbitrages) and the chain clock/base-fee calls are recorded in order.
3. **Raw limit**: the chain is reverted to the snapshot taken before (2) and the recorded sequence
   is replayed; every transaction is re-signed with ``eth_account`` *before* timing starts and sent
   with ``eth_sendRawTransaction`` one by one, each followed by ``eth_getTransactionReceipt`` polls.
4. **web3.py loop**: reverted again; each arbitrage is built with web3.py
   (``nonce = eth.get_transaction_count``, ``contract.functions.executeArbitrage(...).build_transaction``),
   signed (``w3.eth.account.sign_transaction``), sent and waited for
   (``wait_for_transaction_receipt``), one after the other.

Paths 3 and 4 send byte-identical transactions to path 2 (their hashes are checked) on an identical
chain state, so every arbitrage succeeds in all three. Only arbitrage transactions are timed in 3
and 4; the noise trades between them are replayed untimed. In path 2 the keeper's time is the time
spent inside ``tick()`` (all blocks, including those without an opportunity); the noise traders'
time is reported separately as the replay's wall time.

5. **Interval mining** (:meth:`Bench.interval_mining`): a separate Anvil with ``--block-time``, 100
   bots, the real ``Runner`` + ``JobSet``; block arrival to the last broadcast of its actions, actions
   per block, blocks the keeper fell behind.
6. **Journal pragma** (:meth:`Bench.journal_sync`): ``Journal.tx_pending`` per row with
   ``synchronous=FULL`` vs ``NORMAL``.

Figures are only comparable within one run (the same Anvil, the same machine load).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from eth_abi import decode, encode

HOUR = 3600
#: Every part, in run order; LOCAL_PARTS run on ape-foundry's automining Anvil.
PARTS = ("tick", "keeper", "raw", "web3", "sign", "v3", "interval", "journal")
LOCAL_PARTS = PARTS[:6]
EXECUTE_ARGS = ["uint256", "bool", "uint256", "uint256"]


@dataclass
class BenchConfig:
    """What the benchmark runs. Money in whole USD; the market assumptions are repeated in the results."""

    #: Arbitrage trades the keeper path runs to (the system specification's validation run).
    trades: int = 1_500
    #: Bots registered at deploy (DeployConfig allows 1..100) and bots added for the tick-cost test.
    bots: int = 100
    tick_bots: int = 1_000
    #: Noise traders' error around each hour's close (bps). The demo uses 60; 150 gives ~2.4 trades per
    #: replayed hour with $2,000 bots, so 1,500 trades need ~620 hours instead of thousands.
    noise_bps: float = 150.0
    capital_per_bot_usd: int = 2_000
    pool_usd: int = 2_000_000
    max_trades_per_block: int = 20
    #: First candle (ascending index) and the most hours replayed before giving up.
    start: int = 0
    max_hours: int = 5_000
    #: Repetitions per tick-cost measurement.
    tick_samples: int = 200
    #: Iterations of the signing micro-benchmark (Ape vs eth_account on the same transaction).
    sign_samples: int = 300
    #: Interval-mining part: Anvil's --block-time, the runner's poll, blocks run, and the price
    #: dislocation (USDC minted into DEX A's pair, bps of its USDC reserve) sent whenever a block's
    #: tick submitted fewer than max_trades_per_block.
    block_time_s: int = 2
    interval_poll_s: float = 0.05
    interval_blocks: int = 60
    dislocation_bps: int = 2_000
    #: attempt rows per pragma in the journal synchronous=FULL vs NORMAL measurement
    journal_rows: int = 500
    #: ``--prices FILE``: replay this OHLCV history (:func:`macrostrike.market.prices.load_prices`)
    #: instead of the bundled BTC/USD hours; ``start`` and ``max_hours`` then count its bars.
    prices: str | None = None
    max_gap_bars: int = 5


# -- timing helpers ----------------------------------------------------------------------------------
class Clock:
    """Accumulates wall time per label while :attr:`on` is set."""

    def __init__(self) -> None:
        self.on = False
        self.total: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def add(self, label: str, seconds: float) -> None:
        if self.on:
            self.total[label] += seconds
            self.calls[label] += 1


class Timed:
    """Transparent proxy: every method called through it is timed into ``clock`` as ``label.name``.

    ``children`` replaces attributes by other proxies (``web3.eth``); ``after`` maps a method name to
    a callback ``(args, result)`` run after a successful call (used to record broadcast bytes).
    """

    def __init__(self, target: Any, clock: Clock | None, label: str, *, children: dict[str, Any] | None = None,
                 after: dict[str, Callable[[tuple, Any], None]] | None = None) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_clock", clock)
        object.__setattr__(self, "_label", label)
        object.__setattr__(self, "_children", children or {})
        object.__setattr__(self, "_after", after or {})

    def __getattr__(self, name: str) -> Any:
        if name in self._children:
            return self._children[name]
        attr = getattr(self._target, name)
        if not callable(attr) or isinstance(attr, type):
            return attr
        clock, label, after = self._clock, f"{self._label}.{name}", self._after.get(name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = attr(*args, **kwargs)
            finally:
                if clock is not None:
                    clock.add(label, time.perf_counter() - started)
            if after is not None:
                after(args, result)
            return result

        return timed

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return float(ordered[rank - 1])


def ms_stats(seconds: list[float]) -> dict[str, float]:
    """p50/p99/mean/max of durations, in milliseconds."""
    if not seconds:
        return {"n": 0, "p50": 0.0, "p99": 0.0, "mean": 0.0, "max": 0.0}
    return {"n": len(seconds), "p50": round(pct(seconds, 50) * 1e3, 2), "p99": round(pct(seconds, 99) * 1e3, 2),
            "mean": round(statistics.fmean(seconds) * 1e3, 2), "max": round(max(seconds) * 1e3, 2)}


# -- recorded sequence -------------------------------------------------------------------------------
@dataclass
class Step:
    """One recorded step of the keeper run: a chain RPC (clock/base fee) or a broadcast transaction."""

    kind: str  # "rpc" | "noise" | "arb"
    method: str = ""
    params: list[Any] = field(default_factory=list)
    sender: str = ""
    raw: bytes = b""
    tx_hash: str = ""


def _hash(raw: bytes) -> str:
    from eth_utils import keccak

    return "0x" + keccak(raw).hex()


class Rpc:
    """Bare JSON-RPC over the provider's HTTP session (no web3 formatters or middleware)."""

    def __init__(self, web3: Any) -> None:
        self.provider = web3.provider

    def __call__(self, method: str, params: list[Any]) -> Any:
        response = self.provider.make_request(method, params)
        if "error" in response:
            raise RuntimeError(f"{method} failed: {response['error']}")
        return response.get("result")

    def send_and_wait(self, raw: bytes) -> dict[str, Any]:
        tx_hash = self("eth_sendRawTransaction", ["0x" + raw.hex()])
        receipt = self("eth_getTransactionReceipt", [tx_hash])
        while receipt is None:
            time.sleep(0.001)
            receipt = self("eth_getTransactionReceipt", [tx_hash])
        return receipt


@contextlib.contextmanager
def start_anvil(*args: str) -> Iterator[str]:
    """A separate Anvil (``anvil`` on PATH, extra CLI ``args``) on a free loopback port; yields its
    URI and stops it (this process only) afterwards (as ``tests/conftest.py`` ``start_anvil``)."""
    import shutil
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    binary = shutil.which("anvil")
    if binary is None:
        raise RuntimeError("anvil is not on PATH (see bench/README.md)")
    proc = subprocess.Popen([binary, "--port", str(port), "--silent", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("anvil did not start within 20 s")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- the benchmark -----------------------------------------------------------------------------------
class Bench:
    """Holds the deployed system and runs the measurements; :meth:`run` returns the results dict."""

    def __init__(self, config: BenchConfig, log: Callable[[str], None] = print) -> None:
        self.config = config
        self.log = log
        self.results: dict[str, Any] = {}

    # ---- set-up --------------------------------------------------------------------------------
    def history(self) -> tuple[list[Any], int, str]:
        """``(candles, bar interval s, what they are)``: ``max_hours`` bars from ``start`` of the
        bundled BTC/USD hours, or of the ``prices`` file (raises DataError on a bad file)."""
        from macrostrike.market import data
        from macrostrike.market.prices import load_prices

        cfg = self.config
        if cfg.prices is None:
            return data.load(start=cfg.start, hours=cfg.max_hours), HOUR, "BTC/USD hourly closes"
        history = load_prices(cfg.prices, max_gap_bars=cfg.max_gap_bars)
        candles = history.candles[cfg.start:cfg.start + cfg.max_hours]
        if not candles:
            raise data.DataError(f"{cfg.prices}: no bars from index {cfg.start} ({len(history.candles)} in the file)")
        return candles, history.interval_s, history.describe()

    def deploy(self) -> None:
        from ape import accounts, chain

        from macrostrike.demo import KEEPERS, OWNER, TRADERS
        from macrostrike.deploy.system import DeployConfig, deploy_system
        from macrostrike.keeper.settings import load_settings

        cfg = self.config
        test = accounts.test_accounts
        self.owner = test[OWNER]
        self.keepers = [test[i] for i in KEEPERS]
        self.traders = [test[i] for i in TRADERS]
        self.keys = {str(a.address): a.private_key for a in self.keepers + self.traders}
        self.candles, self.interval_s, self.source = self.history()
        self.deploy_config = DeployConfig(amm_bots=cfg.bots, capital_per_bot_usd=cfg.capital_per_bot_usd,
                                          pool_usd=cfg.pool_usd, initial_price_usd=self.candles[0].close,
                                          keepers=tuple(str(k.address) for k in self.keepers))
        started = time.perf_counter()
        self.system = deploy_system(self.owner, self.deploy_config)
        self.log(f"deployed {self.system.transactions} transactions in {time.perf_counter() - started:.1f} s")
        # Rotation off: the bench measures the pipeline, not the 3-ops-per-30-min signer rule.
        self.settings = load_settings({"signer_max_ops": None, "max_trades_per_block": cfg.max_trades_per_block})
        self.web3 = chain.provider.web3
        self.chain = chain
        self.uri = chain.provider.uri if hasattr(chain.provider, "uri") else chain.provider.http_uri

    def _journal(self, name: str) -> Any:
        from macrostrike.keeper.journal import Journal

        self.tmp = getattr(self, "tmp", None) or Path(tempfile.mkdtemp(prefix="macrostrike-bench-"))
        return Journal(f"sqlite:///{self.tmp / name}")  # a file, as a deployed keeper would use

    # ---- 1. tick cost --------------------------------------------------------------------------
    def _job(self, name: str) -> tuple[Any, Any, float]:
        """A dry-run ArbitrageJob (its own journal file); returns it, its journal and its refresh_bots time."""
        from macrostrike.keeper.arbitrage import ArbitrageJob
        from macrostrike.keeper.context import AmmContext
        from macrostrike.keeper.signers import signer_pool

        ctx = AmmContext(self.system.manifest)
        journal = self._journal(f"ticks-{name}.sqlite")
        pool = signer_pool(self.keepers, self.settings, error_table=ctx.errors, journal=journal)
        started = time.perf_counter()
        job = ArbitrageJob(ctx, pool, self.settings, journal, send=False)  # reads every bot once
        return job, journal, time.perf_counter() - started

    @staticmethod
    def _interleaved(jobs: list[Any], n: int) -> list[list[float]]:
        """``n`` ticks of each job, alternating, so machine-load drift hits all of them alike."""
        out: list[list[float]] = [[] for _ in jobs]
        for _ in range(n):
            for i, job in enumerate(jobs):
                started = time.perf_counter()
                job.tick()
                out[i].append(time.perf_counter() - started)
        return out

    def _add_bots(self, count: int) -> None:
        from ape import project

        from macrostrike.deploy.system import ARBITRAGE_STRATEGY, usdc

        c = self.system.contracts
        registry = project.BotRegistryFacet.at(c["amm"].address)
        treasury = project.TreasuryFacet.at(c["master"].address)
        first = registry.botCount() + 1
        params = encode(["uint256"], [usdc(1.0)])
        batch = registry.MAX_BOTS_PER_CALL()
        left = count
        while left > 0:
            registry.registerBots(min(batch, left), ARBITRAGE_STRATEGY, params, sender=self.owner)
            left -= min(batch, left)
        ids = list(range(first, first + count))
        need = usdc(self.config.capital_per_bot_usd) * count
        c["usdc"].mint(self.owner.address, need, sender=self.owner)
        c["usdc"].approve(c["master"].address, need, sender=self.owner)
        treasury.deposit(need, sender=self.owner)
        fund_batch = treasury.MAX_FUND_BATCH()
        for i in range(0, count, fund_batch):
            treasury.fundBots(c["amm"].address, ids[i:i + fund_batch], usdc(self.config.capital_per_bot_usd),
                              sender=self.owner)

    def tick_cost(self) -> None:
        """Tick cost with ``bots`` and ``tick_bots`` registered bots, measured interleaved.

        The small job is started while only ``bots`` exist (it reads them at start, as a keeper
        would); then the rest are registered and funded and the large job is started. Both then
        tick in alternation on the same chain state: balanced pools (no opportunity), then with a 2%
        gap on pool A (dry run: pick a bot, eth_call, eth_estimateGas, decision row).
        """
        cfg = self.config
        n = cfg.tick_samples
        snap = self.chain.snapshot()
        small, small_journal, small_refresh = self._job("small")
        started = time.perf_counter()
        self._add_bots(cfg.tick_bots - cfg.bots)
        self.log(f"registered and funded {cfg.tick_bots - cfg.bots} more bots in {time.perf_counter() - started:.1f} s")
        large, large_journal, large_refresh = self._job("large")
        assert (len(small.bots), len(large.bots)) == (cfg.bots, cfg.tick_bots), (len(small.bots), len(large.bots))
        quiet = self._interleaved([small, large], n)
        for journal in (small_journal, large_journal):
            assert {d.reason for d in journal.decisions} == {"no_opportunity"}, "pools should be balanced"
            journal.decisions.clear()
        c = self.system.contracts
        pair = c["dex_a_pair"]
        quote = small.ctx.pools[0].reserves(self.web3)[0]
        c["usdc"].mint(pair.address, quote // 50, sender=self.owner)  # pool A's price +2%
        pair.sync(sender=self.owner)
        gap = self._interleaved([small, large], n)
        for journal in (small_journal, large_journal):
            assert {d.reason for d in journal.decisions} == {"dry_run"}, {d.reason for d in journal.decisions}
            journal.close()
        self.chain.restore(snap)

        def side(bots: int, refresh: float, q: list[float], g: list[float]) -> dict[str, Any]:
            return {"bots": bots, "refresh_bots_ms": round(refresh * 1e3, 1), "tick_no_opportunity_ms": ms_stats(q),
                    "tick_opportunity_dry_run_ms": ms_stats(g)}

        lo = side(cfg.bots, small_refresh, quiet[0], gap[0])
        hi = side(cfg.tick_bots, large_refresh, quiet[1], gap[1])

        def ratio(key: str) -> float:
            a, b = lo[key]["p50"], hi[key]["p50"]
            return round(b / a, 2) if a else 0.0

        self.results["tick_cost"] = {
            "small": lo, "large": hi,
            "ratio_p50_no_opportunity": ratio("tick_no_opportunity_ms"),
            "ratio_p50_opportunity_dry_run": ratio("tick_opportunity_dry_run_ms"),
            "ratio_refresh_bots": round(hi["refresh_bots_ms"] / lo["refresh_bots_ms"], 2),
        }
        self.log(f"tick cost: {self.results['tick_cost']}")

    # ---- 1b. decision round with a Uniswap V3 venue ------------------------------------------------
    def v3_round(self) -> None:
        """Decision-round latency with DEX C (the Uniswap V3 0.05 % pool) beside DEX A and B.

        Runs last on the local chain, from a snapshot it restores (the manifest file too): the same
        deploy with ``uniswap_v3=True`` adds the V3 venue and the VenueArbitrageFacet cut. A dry-run
        ``ArbitrageJob.tick()`` (one decision round: pool reads, V3 price, search, ``eth_call``
        simulation and gas estimate of the chosen trade, decision row) is timed ``tick_samples`` times
        with the pools balanced, then with DEX A's WBTC 2 % cheaper than B and C (the round trip A→C
        wins: the QuoterV2 search, 20 quotes in two batches), interleaved with the same job on a
        V2-only manifest copy (no V3 venue) for a same-load comparison.
        """
        import dataclasses

        from macrostrike.deploy.manifest import manifest_path
        from macrostrike.deploy.system import deploy_system

        path = manifest_path(self.web3.eth.chain_id)
        saved = path.read_text()
        snap = self.chain.snapshot()
        started = time.perf_counter()
        v2_system, system = self.system, deploy_system(self.owner, dataclasses.replace(self.deploy_config, uniswap_v3=True))
        self.log(f"V3 venue added: {system.transactions} transactions in {time.perf_counter() - started:.1f} s")
        self.system = system  # the jobs read the manifest with the V3 venue
        try:
            v3_job, v3_journal, _ = self._job("v3")
            v2_job, v2_journal, _ = self._job("v2-only")
            v2_job.ctx.v3 = None  # the same chain without pricing DEX C: the V2-only round
            n = self.config.tick_samples
            quiet = self._interleaved([v3_job, v2_job], n)
            c = system.contracts
            pair = c["dex_a_pair"]
            c["wbtc"].mint(pair.address, c["wbtc"].balanceOf(pair.address) // 50, sender=self.owner)
            pair.sync(sender=self.owner)
            gap = self._interleaved([v3_job, v2_job], n)
            rounds = [d for d in v3_journal.decisions if d.reason == "dry_run"]
            venues = sorted({d.detail.get("venues", "") for d in rounds})
            v2_journal.close()
            v3_journal.close()
            assert venues == ["A-C"], f"the gap rounds should trade A→C, chose {venues}"
        finally:
            self.system = v2_system
            self.chain.restore(snap)
            path.write_text(saved)
        self.results["v3_round"] = {
            "deploy_transactions": system.transactions,
            "quiet_ms": ms_stats(quiet[0]), "quiet_v2_only_ms": ms_stats(quiet[1]),
            "gap_ms": ms_stats(gap[0]), "gap_v2_only_ms": ms_stats(gap[1]),
            "gap_venues": venues, "quotes_per_search": v3arb_quotes(),
        }
        self.log(f"V3 decision round: {self.results['v3_round']}")

    # ---- 2. keeper path ------------------------------------------------------------------------
    def keeper_path(self, name: str = "keeper") -> None:
        """Replay until ``trades`` arbitrages are mined through the real keeper pipeline."""
        from macrostrike.market.replay import Replay, ReplayConfig

        cfg = self.config
        self.replay_config = ReplayConfig(noise_bps=cfg.noise_bps, interval_s=self.interval_s)
        journal = self._journal(f"{name}.sqlite")
        replay = Replay.build(self.system, self.keepers, self.traders, self.owner, self.replay_config,
                              self.settings, journal)
        job, ctx = replay.job, replay.ctx
        self.ctx = ctx
        clock = Clock()
        steps: list[Step] = []
        trades: list[dict[str, float]] = []
        round_start = [0.0]

        def recorder(kind: str, sender: str) -> Callable[[tuple, Any], None]:
            def record(args: tuple, _result: Any) -> None:
                raw = bytes(args[0])
                steps.append(Step(kind, sender=sender, raw=raw, tx_hash=_hash(raw)))
            return record

        def eth_proxy(web3: Any, label: str, after: dict | None = None) -> Timed:
            return Timed(web3, clock, label, children={"eth": Timed(web3.eth, clock, f"{label}.eth", after=after)})

        # instrument (proxies on this run's own objects; nothing in the keeper modules changes)
        txm = job.txm
        timed_journal = Timed(journal, clock, "journal")
        job.journal = timed_journal
        txm.journal = timed_journal
        txm.web3 = eth_proxy(txm.web3, "txm")
        for sender in job.signers.senders:
            sender.web3 = eth_proxy(sender.web3, "signer",
                                    {"send_raw_transaction": recorder("arb", sender.address)})
            sender.account = Timed(sender.account, clock, "ape.account")
            sender.ecosystem = Timed(sender.ecosystem, clock, "ape.ecosystem")
        # a trade's decision round starts with the pool read (the block's first round) or, for the
        # next round in the same block, when our previous submission returned (its hint gives the pools)
        submitted: dict[int, dict[str, float]] = {}
        original_submit, original_settled = txm.submit, job.on_settled

        def submit(*args: Any, **kwargs: Any) -> Any:
            sent_at = time.perf_counter()
            intent = original_submit(*args, **kwargs)
            submitted[intent.id] = {"decided": round_start[0], "sent": sent_at}
            round_start[0] = time.perf_counter()
            return intent

        def on_settled(outcome: Any) -> Any:
            row = submitted.get(outcome.intent.id)
            if row is not None:
                row["mined"] = time.perf_counter()
                row["status"] = outcome.status
                trades.append(row)
            return original_settled(outcome)

        txm.submit, job.on_settled = submit, on_settled
        for trader in replay.traders:
            trader.sender.web3 = eth_proxy(trader.sender.web3, "noise",
                                           {"send_raw_transaction": recorder("noise", trader.sender.address)})
        ctx.web3 = eth_proxy(ctx.web3, "ctx")
        original_reserves, original_decode = ctx.reserves, ctx.decode_event

        def reserves() -> Any:
            round_start[0] = time.perf_counter()  # the block's first decision round starts by reading both pools
            return original_reserves()

        def decode_event(*args: Any) -> Any:
            started = time.perf_counter()
            try:
                return original_decode(*args)
            finally:
                clock.add("ctx.decode_event", time.perf_counter() - started)

        ctx.reserves, ctx.decode_event = reserves, decode_event

        self.snapshot = self.chain.snapshot()
        rpc = Rpc(self.web3)
        step = self.interval_s
        t0 = int(self.web3.eth.get_block("latest")["timestamp"]) + step
        base_fee = int(self.replay_config.base_fee_gwei * 10**9)
        tick_times: list[float] = []
        trades_per_tick: list[int] = []
        mined = reverted = noise = 0
        hours = 0
        started = time.perf_counter()
        for i, candle in enumerate(self.candles):
            timestamp = t0 + (candle.timestamp - self.candles[0].timestamp)  # the file's clock, gaps included
            for method, params in (("evm_setNextBlockTimestamp", [timestamp]),
                                   ("anvil_setNextBlockBaseFeePerGas", [hex(base_fee)])):
                rpc(method, params)
                steps.append(Step("rpc", method=method, params=params))
            for trader in replay.traders:
                if trader.trade_toward(candle.close, timestamp + step, base_fee) is not None:
                    noise += 1
            clock.on = True
            tick_started = time.perf_counter()
            decisions = job.tick()
            decisions += job.flush()  # automine: the receipts are there; outcomes settle here
            tick_times.append(time.perf_counter() - tick_started)
            clock.on = False
            n = sum(1 for d in decisions if d.reason == "mined")
            mined += n
            reverted += sum(1 for d in decisions if d.reason == "reverted")
            trades_per_tick.append(n)
            hours = i + 1
            if hours % 100 == 0:
                self.log(f"{name}: hour {hours}, {mined} trades")
            if mined >= cfg.trades:
                break
        wall = time.perf_counter() - started
        journal.close()
        if mined < cfg.trades:
            raise RuntimeError(f"only {mined} trades in {hours} hours: raise noise_bps or max_hours")
        keeper_s = sum(tick_times)
        decide_to_mined = [t["mined"] - t["decided"] for t in trades]
        send_to_mined = [t["mined"] - t["sent"] for t in trades]
        arb_steps = [s for s in steps if s.kind == "arb"]
        assert len(arb_steps) == len(trades) == mined + reverted, (len(arb_steps), len(trades), mined, reverted)
        self.steps = steps
        traded_ticks = [k for k in trades_per_tick if k]
        self.results[name] = {
            "hours": hours, "bar_interval_s": self.interval_s, "noise_trades": noise, "trades": mined,
            "reverted": reverted,
            "keeper_time_s": round(keeper_s, 3),
            "trades_per_s": round(mined / keeper_s, 1),
            "replay_wall_s": round(wall, 2),
            "trades_per_s_incl_market": round(mined / wall, 1),
            "decision_to_mined_ms": ms_stats(decide_to_mined),
            "send_to_mined_ms": ms_stats(send_to_mined),
            "tick_ms": ms_stats(tick_times),
            "trades_per_traded_block": round(statistics.fmean(traded_ticks), 2) if traded_ticks else 0,
            "blocks_with_trades": len(traded_ticks),
        }
        self.results[f"profile_{name}"] = self._profile(clock, keeper_s, mined)
        self.log(f"{name}: {mined} trades in {keeper_s:.2f} s keeper time ({wall:.1f} s with the market)")

    @staticmethod
    def _profile(clock: Clock, keeper_s: float, trades: int) -> dict[str, Any]:
        """Where the keeper's time went (tick + flush): leaf calls, plus the rest (Python: maths,
        encoding, web3 overhead, flush's receipt-poll sleeps)."""
        names = {
            "ctx.eth.call": "pool reserves (eth_call getReserves x2 per block)",
            "ctx.eth.get_block": "latest block (eth_getBlockByNumber)",
            "signer.eth.call": "simulate (eth_call executeArbitrage)",
            "signer.eth.estimate_gas": "eth_estimateGas",
            "signer.eth.max_priority_fee": "eth_maxPriorityFeePerGas",
            "ape.ecosystem.create_transaction": "Ape create_transaction",
            "ape.account.sign_transaction": "Ape sign_transaction",
            "signer.eth.send_raw_transaction": "eth_sendRawTransaction (anvil mines here)",
            "txm.eth.get_transaction_receipt": "settle: eth_getTransactionReceipt",
            "txm.eth.get_block": "settle/flush: latest block",
            "journal.record": "journal: decision rows (SQLite)",
            "journal.intent_create": "journal: intent row (SQLite)",
            "journal.tx_pending": "journal: attempt pending, before broadcast (SQLite)",
            "journal.tx_receipt": "journal: attempt settled (SQLite)",
            "journal.tx_final": "journal: attempt final (SQLite)",
            "journal.intent_state": "journal: intent state (SQLite)",
            "ctx.decode_event": "decode ArbitrageExecuted log",
        }
        totals = dict(clock.total)
        calls = dict(clock.calls)
        totals["rest"] = keeper_s - sum(totals.values())
        calls["rest"] = 0
        names["rest"] = ("rest: decision Python (v2 maths, pick_bot, ABI encode, signing with eth_account), "
                         "flush's receipt-poll sleeps")
        rows = []
        for label in sorted(totals, key=totals.get, reverse=True):
            total = totals[label]
            rows.append({"step": names.get(label, label), "label": label, "calls": calls[label],
                         "total_s": round(total, 3), "ms_per_trade": round(total * 1e3 / trades, 2),
                         "share": round(total / keeper_s, 3)})
        return {"keeper_time_s": round(keeper_s, 3), "steps": rows}

    # ---- 3. raw limit and 4. web3.py loop ------------------------------------------------------
    def _restart(self) -> None:
        self.chain.restore(self.snapshot)
        self.snapshot = self.chain.snapshot()

    def _resign(self, step: Step) -> tuple[dict[str, Any], bytes]:
        from eth_account import Account
        from eth_account.typed_transactions import TypedTransaction
        from hexbytes import HexBytes

        fields = TypedTransaction.from_bytes(HexBytes(step.raw)).as_dict()
        for key in ("v", "r", "s"):
            fields.pop(key, None)
        raw = bytes(Account.sign_transaction(fields, self.keys[step.sender]).raw_transaction)
        return fields, raw

    def raw_path(self) -> None:
        from web3 import Web3

        self._restart()
        rpc = Rpc(Web3(Web3.HTTPProvider(self.uri)))
        signed = []
        for step in self.steps:  # pre-sign everything before the clock starts
            if step.kind == "rpc":
                signed.append((step, b""))
                continue
            _fields, raw = self._resign(step)
            if raw != step.raw:
                raise RuntimeError(f"re-signed transaction differs from the keeper's {step.tx_hash}")
            signed.append((step, raw))
        times, ok = [], 0
        started = time.perf_counter()
        for step, raw in signed:
            if step.kind == "rpc":
                rpc(step.method, step.params)
                continue
            sent = time.perf_counter()
            receipt = rpc.send_and_wait(raw)
            if step.kind == "arb":
                times.append(time.perf_counter() - sent)
                ok += int(receipt["status"], 16) == 1 and receipt["transactionHash"] == step.tx_hash
        wall = time.perf_counter() - started
        total = sum(times)
        self.results["raw"] = {"trades": len(times), "succeeded_same_hash": ok, "time_s": round(total, 3),
                               "trades_per_s": round(len(times) / total, 1), "send_to_mined_ms": ms_stats(times),
                               "replay_wall_s": round(wall, 2)}
        self.log(f"raw limit: {len(times)} arbitrages in {total:.2f} s ({ok} mined ok with the keeper's hashes)")

    def web3_path(self) -> None:
        from web3 import Web3

        self._restart()
        w3 = Web3(Web3.HTTPProvider(self.uri))
        rpc = Rpc(w3)
        amm = w3.eth.contract(address=self.ctx.amm_address, abi=self.ctx.abi)
        chain_id = w3.eth.chain_id
        prepared = [(s, self._resign(s)[0] if s.kind == "arb" else None) for s in self.steps]
        times, ok = [], 0
        started = time.perf_counter()
        for step, fields in prepared:
            if step.kind == "rpc":
                rpc(step.method, step.params)
                continue
            if step.kind == "noise":
                rpc.send_and_wait(step.raw)
                continue
            assert fields is not None
            sent = time.perf_counter()
            sender = Web3.to_checksum_address(step.sender)
            args = decode(EXECUTE_ARGS, bytes(fields["data"])[4:])
            nonce = w3.eth.get_transaction_count(sender)
            txn = amm.functions.executeArbitrage(*args).build_transaction({
                "from": sender, "nonce": nonce, "gas": fields["gas"], "chainId": chain_id,
                "maxFeePerGas": fields["maxFeePerGas"], "maxPriorityFeePerGas": fields["maxPriorityFeePerGas"]})
            signed = w3.eth.account.sign_transaction(txn, self.keys[step.sender])
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
            receipt = w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.01)
            times.append(time.perf_counter() - sent)
            ok += receipt["status"] == 1 and "0x" + bytes(tx_hash).hex() == step.tx_hash
        wall = time.perf_counter() - started
        total = sum(times)
        self.results["web3"] = {"trades": len(times), "succeeded_same_hash": ok, "time_s": round(total, 3),
                                "trades_per_s": round(len(times) / total, 1), "send_to_mined_ms": ms_stats(times),
                                "replay_wall_s": round(wall, 2)}
        self.log(f"web3.py loop: {len(times)} arbitrages in {total:.2f} s ({ok} mined ok with the keeper's hashes)")

    # ---- signing micro-benchmark (where a speed-up would come from) ----------------------------
    def sign_micro(self) -> None:
        """Cost of turning one recorded arbitrage into raw bytes: Ape create+sign vs eth_account."""
        from ape import networks
        from eth_account import Account
        from eth_utils import to_checksum_address

        step = next(s for s in self.steps if s.kind == "arb")
        fields, _raw = self._resign(step)
        account = next(a for a in self.keepers if str(a.address) == step.sender)
        ecosystem = networks.provider.network.ecosystem
        key = self.keys[step.sender]
        n = self.config.sign_samples

        def ape_sign() -> bytes:
            txn = ecosystem.create_transaction(
                chain_id=fields["chainId"], to=to_checksum_address(bytes(fields["to"])),
                data=bytes(fields["data"]), value=0, gas_limit=fields["gas"], nonce=fields["nonce"], type=2,
                max_priority_fee=fields["maxPriorityFeePerGas"], max_fee=fields["maxFeePerGas"], sender=step.sender)
            return bytes(account.sign_transaction(txn).serialize_transaction())

        def eth_account_sign() -> bytes:
            return bytes(Account.sign_transaction(fields, key).raw_transaction)

        assert ape_sign() == eth_account_sign() == step.raw
        out = {}
        for name, fn in (("ape_create_and_sign_ms", ape_sign), ("eth_account_sign_ms", eth_account_sign)):
            samples = []
            for _ in range(n):
                started = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - started)
            out[name] = ms_stats(samples)
        self.results["signing"] = out

    # ---- 5. interval mining: many actions in one block -----------------------------------------
    def interval_mining(self, uri: str) -> None:
        """The keeper's block loop on an interval-mined Anvil (its own process, ``--block-time``).

        Must run inside an Ape network context connected to ``uri``. Deploys the system with
        ``bots`` AMM bots (automine switched on for the deployment only, then
        ``evm_setIntervalMining`` restores the interval), then runs the real
        :class:`~macrostrike.keeper.runner.Runner` over a :class:`~macrostrike.keeper.jobs.JobSet`
        holding one :class:`~macrostrike.keeper.arbitrage.ArbitrageJob` (``max_trades_per_block``
        20, three signers, a SQLite file journal with the keeper's pragmas). Whenever a tick submitted
        fewer than 20 trades, the bench (in the runner's ``on_block`` callback, i.e. inside the loop,
        after the tick) sends a price dislocation — USDC minted into DEX A's pair + ``sync()``, two
        raw transactions from the owner — that the next block includes.

        Per processed block: *arrival* = the moment the runner's ``eth_getBlockByNumber('latest')``
        returned that head for the first time; *last broadcast* = the return of the tick's last
        ``TxSender.broadcast``. Behind = the head (``eth_blockNumber``) read right after the tick is
        above the tick's block, or a head the loop never ticked.
        """
        from ape import accounts, chain
        from eth_account import Account
        from eth_utils import function_signature_to_4byte_selector

        from macrostrike.demo import KEEPERS, OWNER
        from macrostrike.deploy.system import DeployConfig, deploy_system
        from macrostrike.keeper.arbitrage import ArbitrageJob
        from macrostrike.keeper.context import AmmContext
        from macrostrike.keeper.jobs import JobSet
        from macrostrike.keeper.runner import Runner
        from macrostrike.keeper.settings import load_settings
        from macrostrike.keeper.signers import signer_pool

        cfg = self.config
        web3 = chain.provider.web3
        rpc = Rpc(web3)
        test = accounts.test_accounts
        owner, keepers = test[OWNER], [test[i] for i in KEEPERS]
        rpc("evm_setAutomine", [True])
        started = time.perf_counter()
        system = deploy_system(owner, DeployConfig(
            amm_bots=cfg.bots, capital_per_bot_usd=cfg.capital_per_bot_usd, pool_usd=cfg.pool_usd,
            initial_price_usd=self.history()[0][0].close, keepers=tuple(str(k.address) for k in keepers)),
            new_system=True)  # its own Anvil: the manifest folder holds the replay part's system
        deploy_s = time.perf_counter() - started
        rpc("evm_setIntervalMining", [cfg.block_time_s])
        self.log(f"interval: deployed {system.transactions} transactions in {deploy_s:.1f} s (automine), "
                 f"then interval mining every {cfg.block_time_s} s")
        settings = load_settings({"signer_max_ops": None, "max_trades_per_block": cfg.max_trades_per_block,
                                  "poll_interval_s": cfg.interval_poll_s})
        ctx = AmmContext(system.manifest)
        journal = self._journal("interval.sqlite")
        pool = signer_pool(keepers, settings, error_table=ctx.errors, journal=journal)
        job = ArbitrageJob(ctx, pool, settings, journal)
        jobs = JobSet([job])

        # -- the dislocation: raw transactions from the owner (never waited for) ----------------------
        c = system.contracts
        pair, usdc = str(c["dex_a_pair"].address), str(c["usdc"].address)
        quote_is_0 = str(c["dex_a_pair"].token0()).lower() == usdc.lower()
        owner_key = owner.private_key
        mint_sel = function_signature_to_4byte_selector("mint(address,uint256)")
        chain_id = int(web3.eth.chain_id)
        dislocations: list[int] = []

        def dislocate(head: int) -> None:
            r0, r1, _ = decode(["uint112", "uint112", "uint32"], bytes(web3.eth.call({"to": pair, "data": "0x0902f1ac"})))
            reserve = r0 if quote_is_0 else r1
            nonce = int(rpc("eth_getTransactionCount", [str(owner.address), "pending"]), 16)
            base = int(web3.eth.get_block("latest")["baseFeePerGas"])
            for i, (to, calldata) in enumerate(((usdc, mint_sel + encode(["address", "uint256"],
                                                                       [pair, reserve * cfg.dislocation_bps // 10_000])),
                                            (pair, bytes.fromhex("fff6cae9")))):
                raw = Account.sign_transaction({"type": 2, "chainId": chain_id, "nonce": nonce + i, "to": to,
                                                "value": 0, "data": calldata, "gas": 200_000,
                                                "maxPriorityFeePerGas": 2 * 10**9, "maxFeePerGas": 3 * base + 2 * 10**9},
                                               owner_key).raw_transaction
                rpc("eth_sendRawTransaction", ["0x" + bytes(raw).hex()])
            dislocations.append(head)

        # -- instruments ---------------------------------------------------------------------------
        arrivals: dict[int, float] = {}

        def saw_head(args: tuple, result: Any) -> None:
            if args and args[0] == "latest":
                arrivals.setdefault(int(result["number"]), time.perf_counter())

        runner_web3 = Timed(web3, None, "runner", children={"eth": Timed(web3.eth, None, "runner.eth",
                                                                         after={"get_block": saw_head})})
        current = [-1]
        broadcasts: dict[int, list[float]] = defaultdict(list)
        for sender in pool.senders:
            original = sender.broadcast

            def broadcast(raw: bytes, _original: Callable = original) -> Any:
                result = _original(raw)
                broadcasts[current[0]].append(time.perf_counter())
                return result

            sender.broadcast = broadcast
        txm = jobs.txm
        settle_s: dict[int, float] = {}
        original_settle = txm.settle

        def settle(header: Any) -> Any:
            t = time.perf_counter()
            try:
                return original_settle(header)
            finally:
                settle_s[int(header["number"])] = time.perf_counter() - t

        txm.settle = settle
        ticks: list[dict[str, Any]] = []
        original_tick = jobs.tick

        def tick(header: Any = None) -> Any:
            number = int(header["number"])
            current[0] = number
            t = time.perf_counter()
            decisions = original_tick(header)
            end = time.perf_counter()
            head_after = int(rpc("eth_blockNumber", []), 16)
            ticks.append({"block": number, "tick_s": end - t, "arrival_to_tick_end_s": end - arrivals[number],
                          "head_after": head_after,
                          "submitted": sum(1 for d in decisions if d.reason == "submitted"),
                          "mined": sum(1 for d in decisions if d.reason == "mined"),
                          "reverted": sum(1 for d in decisions if d.reason == "reverted"),
                          "skips": sorted({d.reason for d in decisions if d.action == "skip"})})
            return decisions

        jobs.tick = tick

        def on_block(number: int, _decisions: list[Any]) -> None:
            if ticks and ticks[-1]["block"] == number and ticks[-1]["submitted"] < cfg.max_trades_per_block:
                dislocate(number)
            if len(ticks) % 10 == 0:
                self.log(f"interval: block {number}, {len(ticks)} ticks")

        dislocate(int(web3.eth.block_number))
        runner = Runner(runner_web3, jobs, poll_interval_s=cfg.interval_poll_s, journal=journal, on_block=on_block,
                        reorg_depth=settings.reorg_depth)
        started = time.perf_counter()
        result = runner.run(max_blocks=cfg.interval_blocks, install_signals=False)
        wall = time.perf_counter() - started
        journal.close()

        # -- figures ---------------------------------------------------------------------------------
        rows = []
        for t in ticks:
            sent = broadcasts.get(t["block"], [])
            rows.append({**t, "actions": len(sent), "settle_ms": round(settle_s.get(t["block"], 0.0) * 1e3, 2),
                         "arrival_to_last_broadcast_ms": round((max(sent) - arrivals[t["block"]]) * 1e3, 2) if sent else None,
                         "tick_s": round(t["tick_s"], 4), "arrival_to_tick_end_s": round(t["arrival_to_tick_end_s"], 4),
                         "behind": t["head_after"] > t["block"]})
        processed = [r["block"] for r in rows]
        skipped = sum(b - a - 1 for a, b in zip(processed, processed[1:]) if b - a > 1)
        acting = [r for r in rows if r["actions"]]
        full = [r for r in acting if r["actions"] >= cfg.max_trades_per_block]
        lat = [r["arrival_to_last_broadcast_ms"] / 1e3 for r in acting]
        lat_full = [r["arrival_to_last_broadcast_ms"] / 1e3 for r in full]
        counts = [r["actions"] for r in rows]
        self.results["interval"] = {
            "block_time_s": cfg.block_time_s, "poll_interval_s": cfg.interval_poll_s, "bots": cfg.bots,
            "max_trades_per_block": cfg.max_trades_per_block, "dislocation_bps": cfg.dislocation_bps,
            "deploy_s": round(deploy_s, 1), "wall_s": round(wall, 1), "runner_errors": result.errors,
            "blocks_processed": len(rows), "first_block": processed[0] if processed else None,
            "last_block": processed[-1] if processed else None,
            "blocks_behind": sum(1 for r in rows if r["behind"]), "heads_skipped": skipped,
            "dislocations": len(dislocations),
            "actions_total": sum(counts), "mined_total": sum(r["mined"] for r in rows),
            "reverted_total": sum(r["reverted"] for r in rows),
            "actions_per_block": {"mean": round(statistics.fmean(counts), 2) if counts else 0.0,
                                  "max": max(counts, default=0),
                                  "histogram": {str(k): counts.count(k) for k in sorted(set(counts))}},
            "blocks_with_actions": len(acting), "blocks_with_full_quota": len(full),
            "arrival_to_last_broadcast_ms": ms_stats(lat),
            "arrival_to_last_broadcast_ms_full_quota": ms_stats(lat_full),
            "tick_ms": ms_stats([r["tick_s"] for r in rows]),
            "tick_ms_full_quota": ms_stats([r["tick_s"] for r in full]),
            "settle_ms_full_quota": ms_stats([r["settle_ms"] / 1e3 for r in full]),
            "blocks": rows,
        }
        i = self.results["interval"]
        self.log(f"interval: {len(rows)} blocks, {i['actions_total']} actions, {len(full)} blocks with "
                 f"{cfg.max_trades_per_block}; arrival->last broadcast {i['arrival_to_last_broadcast_ms_full_quota']}; "
                 f"behind {i['blocks_behind']}, skipped {skipped}")

    # ---- 6. journal: synchronous=FULL vs NORMAL ------------------------------------------------------
    def journal_sync(self) -> None:
        """Per-row cost of :meth:`Journal.tx_pending` (the attempt row committed before each broadcast)
        with ``PRAGMA synchronous=FULL`` (the keeper's) and ``NORMAL``, two file databases in the same
        directory, measured in alternating chunks of 25 rows so load drift hits both alike."""
        from sqlalchemy import event

        n, chunk = self.config.journal_rows, 25
        full = self._journal("sync-full.sqlite")
        normal = self._journal("sync-normal.sqlite")

        @event.listens_for(normal.engine, "connect")
        def _normal(dbapi_connection: Any, _record: Any) -> None:  # runs after the journal's own listener
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        normal.engine.dispose()  # connections made from now on get both listeners
        modes = {}
        for name, journal in (("full", full), ("normal", normal)):
            with journal.engine.connect() as conn:
                modes[name] = (conn.exec_driver_sql("PRAGMA synchronous").scalar(),
                               conn.exec_driver_sql("PRAGMA journal_mode").scalar())
        assert modes["full"][0] == 2 and modes["normal"][0] == 1, modes
        raw = os.urandom(180)
        samples: dict[str, list[float]] = {"full": [], "normal": []}
        k = 0
        for _ in range(0, n, chunk):
            for name, journal in (("full", full), ("normal", normal)):
                for _ in range(chunk):
                    k += 1
                    tx_hash = f"0x{k:064x}"
                    t = time.perf_counter()
                    journal.tx_pending(tx_hash, "0x" + "11" * 20, k, "bench", 1, raw=raw, tip=10**9, max_fee=3 * 10**9)
                    samples[name].append(time.perf_counter() - t)
        full.close()
        normal.close()
        fs = subprocess.run(["df", "-T", str(self.tmp)], capture_output=True, text=True).stdout.splitlines()[-1:]
        f, m = ms_stats(samples["full"]), ms_stats(samples["normal"])
        self.results["journal_sync"] = {
            "rows_each": len(samples["full"]), "modes": {k: {"synchronous": v[0], "journal_mode": v[1]}
                                                       for k, v in modes.items()},
            "filesystem": fs[0] if fs else "", "full_ms": f, "normal_ms": m,
            "ratio_p50_full_over_normal": round(f["p50"] / m["p50"], 2) if m["p50"] else 0.0,
            "ratio_mean_full_over_normal": round(f["mean"] / m["mean"], 2) if m["mean"] else 0.0,
        }
        self.log(f"journal tx_pending: FULL {f}, NORMAL {m}")

    # ---- all -----------------------------------------------------------------------------------
    def begin(self) -> None:
        self._started = time.perf_counter()
        self.results["meta"] = _meta()  # the code measured is the tree at the start (others may commit meanwhile)

    def run_local(self, parts: tuple[str, ...]) -> None:
        """The parts on ape-foundry's automining Anvil (inside its network context)."""
        self.deploy()
        self.results["meta"]["node"] = self.uri.split("//")[0] + "//localhost"
        if "tick" in parts:
            self.tick_cost()
        if "keeper" in parts:
            self.keeper_path()
            if "raw" in parts:
                self.raw_path()
            if "web3" in parts:
                self.web3_path()
            if "sign" in parts:
                self.sign_micro()
        if "v3" in parts:
            self.v3_round()

    def finish(self, parts: tuple[str, ...]) -> dict[str, Any]:
        self.results["parts"] = list(parts)
        self.results["wall_time_s"] = round(time.perf_counter() - self._started, 1)
        self.results.update(self._summary())
        return self.results

    def run(self, parts: tuple[str, ...] = LOCAL_PARTS) -> dict[str, Any]:
        """Every ``parts`` that runs on the current (ape-foundry) chain; see ``bench/run.py`` for all."""
        self.begin()
        self.run_local(parts)
        return self.finish(parts)

    def _summary(self) -> dict[str, Any]:
        res, cfg = self.results, self.config
        ratios: dict[str, float] = {}
        targets: list[dict[str, Any]] = []
        assumptions: dict[str, str] = {}
        k, r, w, t = res.get("keeper"), res.get("raw"), res.get("web3"), res.get("tick_cost")
        if k and r:
            ratios["keeper_over_raw"] = round(k["trades_per_s"] / r["trades_per_s"], 3)
        if k and w:
            ratios["keeper_over_web3"] = round(k["trades_per_s"] / w["trades_per_s"], 3)
        if k:
            targets += [
                {"what": "keeper trades/s", "target": ">= 100", "measured": k["trades_per_s"],
                 "met": k["trades_per_s"] >= 100},
                {"what": f"decision-to-mined p50 ({cfg.bots} bots)", "target": "< 50 ms",
                 "measured": k["decision_to_mined_ms"]["p50"], "met": k["decision_to_mined_ms"]["p50"] < 50},
                {"what": f"decision-to-mined p99 ({cfg.bots} bots)", "target": "< 200 ms",
                 "measured": k["decision_to_mined_ms"]["p99"], "met": k["decision_to_mined_ms"]["p99"] < 200},
                {"what": "spec: 1,500 trades in 45 s (33 trades/s, keeper time)", "target": "<= 45 s",
                 "measured": k["keeper_time_s"], "met": k["keeper_time_s"] <= 45},
            ]
            assumptions.update({
                "market": (f"{self.source} from candle {cfg.start}; two noise traders, one per DEX, "
                           f"trade each pool toward the close with independent "
                           f"N(0, {self.replay_config.noise_bps_per_bar():.3g} bps) errors ({cfg.noise_bps:g} bps "
                           f"at hourly bars, scaled by sqrt(interval / 1 h); seed {self.replay_config.seed}); "
                           f"the demo uses 60 bps"),
                "pools": f"two Uniswap V2 USDC/WBTC pools, ${cfg.pool_usd:,} a side at the first close",
                "bots": f"{cfg.bots} bots x ${cfg.capital_per_bot_usd:,}; up to {cfg.max_trades_per_block} "
                        f"trades per block; {len(self.keepers)} keeper signers, rotation rule off",
                "chain": "Anvil (npm @foundry-rs/anvil) started by ape-foundry (automine, tools/anvil without "
                         "--steps-tracing), HTTP JSON-RPC on localhost; one transaction per block",
                "timing": ("keeper: time inside ArbitrageJob.tick() + flush() over every replayed block (tick "
                           "submits without waiting; flush settles the automined receipts); raw and web3: "
                           "send-to-receipt of each arbitrage; noise trades untimed in all paths"),
                "journal": "SQLite file (WAL, synchronous=FULL), as the keeper's default",
            })
        if "keeper_over_raw" in ratios:
            targets.append({"what": "keeper / raw-send limit", "target": ">= 0.5", "measured": ratios["keeper_over_raw"],
                            "met": ratios["keeper_over_raw"] >= 0.5})
        if t:
            targets += [
                {"what": f"tick cost {cfg.tick_bots} / {cfg.bots} bots (no opportunity, p50)", "target": "<= 3",
                 "measured": t["ratio_p50_no_opportunity"], "met": t["ratio_p50_no_opportunity"] <= 3},
                {"what": f"tick cost {cfg.tick_bots} / {cfg.bots} bots (opportunity, dry run, p50)", "target": "<= 3",
                 "measured": t["ratio_p50_opportunity_dry_run"], "met": t["ratio_p50_opportunity_dry_run"] <= 3},
            ]
        v = res.get("v3_round")
        if v:
            targets += [
                {"what": "V2↔V3 decision round p50 (dry run, part of decision-to-mined)", "target": "< 50 ms",
                 "measured": v["gap_ms"]["p50"], "met": v["gap_ms"]["p50"] < 50},
                {"what": "V2↔V3 decision round p99 (dry run, part of decision-to-mined)", "target": "< 200 ms",
                 "measured": v["gap_ms"]["p99"], "met": v["gap_ms"]["p99"] < 200},
            ]
        i = res.get("interval")
        if i:
            p99 = i["arrival_to_last_broadcast_ms_full_quota"]["p99"]
            targets += [
                {"what": f"interval mining: block arrival to last broadcast p99, {cfg.max_trades_per_block} actions "
                         "in one block", "target": "< 200 ms", "measured": p99,
                 "met": i["blocks_with_full_quota"] > 0 and p99 < 200},
                {"what": "interval mining: blocks the keeper fell behind (+ heads skipped)", "target": "0",
                 "measured": i["blocks_behind"] + i["heads_skipped"],
                 "met": i["blocks_behind"] + i["heads_skipped"] == 0},
            ]
            assumptions["interval"] = (
                f"separate Anvil started by the bench with --block-time {i['block_time_s']} (automine on only while "
                f"deploying); {i['bots']} bots; the real Runner + JobSet(ArbitrageJob), poll {i['poll_interval_s']} s, "
                f"max_trades_per_block {i['max_trades_per_block']}, 3 signers; a dislocation of "
                f"{i['dislocation_bps']} bps of DEX A's USDC reserve (mint + sync) sent from the loop's on_block "
                "callback whenever a tick submitted fewer than the quota")
        j = res.get("journal_sync")
        if j:
            ratios["journal_full_over_normal_p50"] = j["ratio_p50_full_over_normal"]
        return {"config": asdict(cfg), "ratios": ratios, "targets": targets, "assumptions": assumptions}


def _meta() -> dict[str, Any]:
    from importlib.metadata import version

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    try:
        anvil = subprocess.run(["anvil", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        anvil = ""
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "git": git("rev-parse", "--short", "HEAD"),
            "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
            "python": platform.python_version(), "eth-ape": version("eth-ape"), "web3": version("web3"),
            "eth-account": version("eth-account"), "anvil": anvil, "cpus": os.cpu_count(),
            "machine": platform.machine()}


# -- outputs -----------------------------------------------------------------------------------------
COMMAND = "make bench"



def _ms_row(label: str, stats: dict[str, Any]) -> str:
    """One markdown row ``| label | n | p50 | p99 | max |`` of a latency summary (milliseconds)."""
    return f"| {label} | {stats['n']} | {stats['p50']:.1f} | {stats['p99']:.1f} | {stats['max']:.1f} |"


def v3arb_quotes() -> int:
    """Most QuoterV2 quotes one V2↔V3 search spends (grid + refinement, :mod:`macrostrike.keeper.v3arb`)."""
    from macrostrike.keeper import v3arb

    return v3arb.GRID + v3arb.REFINE


def markdown(results: dict[str, Any]) -> str:
    """The results tables (the README copy) of the parts that ran."""
    k, r, w, t = (results.get(key) for key in ("keeper", "raw", "web3", "tick_cost"))
    meta, cfg = results["meta"], results["config"]
    parts = results.get("parts", list(PARTS))
    command = COMMAND if set(parts) == set(PARTS) else f"python bench/run.py --parts {','.join(parts)}"
    lines = [
        f"Measured {meta['date']} at {meta['git']}{' (dirty tree)' if meta['git_dirty'] else ''}, "
        f"{meta['cpus']} CPUs, {meta['anvil']}, eth-ape {meta['eth-ape']}, web3 {meta['web3']}. "
        f"Reproduce: `{command}` (run {results['wall_time_s']:.0f} s). "
        "Compare ratios within one run, not absolute figures across runs.",
    ]
    if k:
        lines += [
            "",
            f"{k['trades']:,} arbitrage trades over {k['hours']} replayed "
            f"{'BTC/USD hours' if cfg.get('prices') is None else str(k.get('bar_interval_s')) + '-s bars of ' + cfg['prices']} "
            f"({k['noise_trades']:,} noise trades, noise {cfg['noise_bps']:g} bps, {cfg['bots']} bots x "
            f"${cfg['capital_per_bot_usd']:,}), the same transactions in each path:",
            "",
            "| path | trades | time (s) | trades/s | latency p50 (ms) | latency p99 (ms) |",
            "|---|---:|---:|---:|---:|---:|",
            f"| keeper (ArbitrageJob tick + flush: decide, simulate, sign, journal, send; settle) | {k['trades']:,} | "
            f"{k['keeper_time_s']:.2f} | {k['trades_per_s']:.1f} | {k['decision_to_mined_ms']['p50']:.1f} | "
            f"{k['decision_to_mined_ms']['p99']:.1f} |",
        ]
        if r:
            lines.append(f"| raw limit (pre-signed, eth_sendRawTransaction + receipt) | {r['trades']:,} | {r['time_s']:.2f} | "
                         f"{r['trades_per_s']:.1f} | {r['send_to_mined_ms']['p50']:.1f} | {r['send_to_mined_ms']['p99']:.1f} |")
        if w:
            lines.append(f"| plain web3.py loop (build, sign, send, wait) | {w['trades']:,} | {w['time_s']:.2f} | "
                         f"{w['trades_per_s']:.1f} | {w['send_to_mined_ms']['p50']:.1f} | {w['send_to_mined_ms']['p99']:.1f} |")
        ratio_text = "".join(f" {name} = {results['ratios'][key]:.2f}." for name, key in
                             (("Keeper/raw", "keeper_over_raw"), ("Keeper/web3.py", "keeper_over_web3"))
                             if key in results["ratios"])
        lines += [
            "",
            f"Keeper latency is decision-to-mined (start of the decision round to the settled outcome); its "
            f"submit-to-settled part alone: p50 {k['send_to_mined_ms']['p50']:.1f} ms, p99 "
            f"{k['send_to_mined_ms']['p99']:.1f} ms.{ratio_text} With the noise traders' time the replay took "
            f"{k['replay_wall_s']:.1f} s ({k['trades_per_s_incl_market']:.1f} trades/s); "
            f"{k['trades_per_traded_block']:.2f} trades per traded block.",
        ]
    v = results.get("v3_round")
    if v:
        lines += [
            "",
            f"Decision round with DEX C (Uniswap V3 0.05 %) beside DEX A and B (dry-run tick, {v['gap_ms']['n']} "
            f"samples each, interleaved with the same job not pricing C; the V3 venue added "
            f"{v['deploy_transactions']} deploy transactions); the gap rounds chose {', '.join(v['gap_venues'])}, "
            f"up to {v['quotes_per_search']} QuoterV2 quotes per search:",
            "",
            "| decision round | n | p50 (ms) | p99 (ms) | max (ms) |",
            "|---|---:|---:|---:|---:|",
            _ms_row("balanced pools, with V3 (slot0 read)", v["quiet_ms"]),
            _ms_row("balanced pools, V2 only", v["quiet_v2_only_ms"]),
            _ms_row("A 2 % cheap, with V3 (search, eth_call, estimateGas)", v["gap_ms"]),
            _ms_row("A 2 % cheap, V2 only (A→B)", v["gap_v2_only_ms"]),
        ]
    if t:
        lines += [
            "",
            "| keeper tick (one block's decision pass) | "
            f"{t['small']['bots']} bots p50 / p99 (ms) | {t['large']['bots']} bots p50 / p99 (ms) | ratio (p50) |",
            "|---|---:|---:|---:|",
            f"| no opportunity (the per-block check) | {t['small']['tick_no_opportunity_ms']['p50']:.2f} / "
            f"{t['small']['tick_no_opportunity_ms']['p99']:.2f} | {t['large']['tick_no_opportunity_ms']['p50']:.2f} / "
            f"{t['large']['tick_no_opportunity_ms']['p99']:.2f} | {t['ratio_p50_no_opportunity']:.2f} |",
            f"| opportunity, dry run (pick bot, eth_call, estimateGas) | "
            f"{t['small']['tick_opportunity_dry_run_ms']['p50']:.2f} / {t['small']['tick_opportunity_dry_run_ms']['p99']:.2f} | "
            f"{t['large']['tick_opportunity_dry_run_ms']['p50']:.2f} / {t['large']['tick_opportunity_dry_run_ms']['p99']:.2f} | "
            f"{t['ratio_p50_opportunity_dry_run']:.2f} |",
            f"| refresh_bots (start-up: reads every bot) | {t['small']['refresh_bots_ms']:.0f} | "
            f"{t['large']['refresh_bots_ms']:.0f} | {t['ratio_refresh_bots']:.2f} |",
        ]
    i = results.get("interval")
    if i:
        a, af = i["arrival_to_last_broadcast_ms"], i["arrival_to_last_broadcast_ms_full_quota"]
        lines += [
            "",
            f"Interval mining (Anvil `--block-time {i['block_time_s']}`, {i['bots']} bots, the real Runner + "
            f"JobSet(ArbitrageJob), poll {i['poll_interval_s']} s, max {i['max_trades_per_block']} trades per block): "
            f"{i['blocks_processed']} blocks processed in {i['wall_s']:.0f} s, {i['actions_total']} actions broadcast "
            f"({i['mined_total']} mined, {i['reverted_total']} reverted, as settled within the run), "
            f"{i['dislocations']} dislocations of {i['dislocation_bps']} bps.",
            "",
            "| interval mining | blocks | p50 (ms) | p99 (ms) | max (ms) |",
            "|---|---:|---:|---:|---:|",
            _ms_row(f"block arrival -> last broadcast, blocks with {i['max_trades_per_block']} actions", af),
            _ms_row("block arrival -> last broadcast, every block with actions", a),
            _ms_row(f"whole tick (decide + submit + settle), blocks with {i['max_trades_per_block']} actions",
                    i["tick_ms_full_quota"]),
            _ms_row("of which settling the previous block's intents", i["settle_ms_full_quota"]),
            "",
            f"Actions per block: mean {i['actions_per_block']['mean']:.2f}, max {i['actions_per_block']['max']}, "
            f"histogram {i['actions_per_block']['histogram']}. Fell behind: {i['blocks_behind']} blocks (head above "
            f"the tick's block when the tick ended), {i['heads_skipped']} heads never ticked; "
            f"{i['runner_errors']} runner errors.",
        ]
    j = results.get("journal_sync")
    if j:
        f, n = j["full_ms"], j["normal_ms"]
        lines += [
            "",
            f"Journal attempt row (`Journal.tx_pending`, one committed SQLite transaction, WAL), {j['rows_each']} rows "
            f"each, alternating chunks, file databases on `{j['filesystem'].split()[1] if j['filesystem'] else '?'}`:",
            "",
            "| synchronous | p50 (ms) | p99 (ms) | mean (ms) |",
            "|---|---:|---:|---:|",
            f"| FULL (the keeper's) | {f['p50']:.3f} | {f['p99']:.3f} | {f['mean']:.3f} |",
            f"| NORMAL | {n['p50']:.3f} | {n['p99']:.3f} | {n['mean']:.3f} |",
            f"| FULL / NORMAL | {j['ratio_p50_full_over_normal']:.2f} | | {j['ratio_mean_full_over_normal']:.2f} |",
        ]
    if results["targets"]:
        lines += ["", "| target | measured | met |", "|---|---:|:---:|"]
        for tg in results["targets"]:
            lines.append(f"| {tg['what']} {tg['target']} | {tg['measured']} | {'yes' if tg['met'] else 'no'} |")
    prof = results.get("profile_keeper")
    if prof:
        lines += ["", "Where the keeper's time goes (per mined trade, all blocks' tick + flush included):", "",
                  "| step | calls | ms per trade | share |", "|---|---:|---:|---:|"]
        for row in prof["steps"]:
            lines.append(f"| {row['step']} | {row['calls']:,} | {row['ms_per_trade']:.2f} | {row['share'] * 100:.1f}% |")
    s = results.get("signing")
    if s:
        lines += ["", f"Signing one arbitrage: Ape create_transaction + sign_transaction p50 "
                      f"{s['ape_create_and_sign_ms']['p50']:.2f} ms vs eth_account.sign_transaction p50 "
                      f"{s['eth_account_sign_ms']['p50']:.2f} ms (identical bytes)."]
    return "\n".join(lines) + "\n"


def write_results(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """``<out_dir>/<date>-<sha>.json`` and ``<out_dir>/latest.md`` (a run of some parts only:
    ``<date>-<sha>-<parts>.json`` and ``latest-<parts>.md``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    date = results["meta"]["date"][:10]
    parts = results.get("parts", list(PARTS))
    suffix = "" if set(parts) == set(PARTS) else "-" + "-".join(parts)
    path = out_dir / f"{date}-{results['meta']['git'] or 'nogit'}{suffix}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    md = out_dir / f"latest{suffix}.md"
    md.write_text(markdown(results))
    return path, md
