"""Prometheus metrics of the keeper (prometheus-client), served by ``ape keeper run --metrics-port``.

Every metric lives in the :class:`Metrics` object's own ``CollectorRegistry`` (never the process-
global one), so several keepers or tests in one process do not collide.

=====================================  =========  ==========================================================
metric                                 type       meaning
=====================================  =========  ==========================================================
``keeper_decisions_total{reason}``     counter    decisions by reason code (see :class:`~.journal.Decision`)
``keeper_trades_total{bot}``           counter    arbitrage trades mined (receipt status 1) per bot
``keeper_bot_realised_pnl_usdc{bot}``  gauge      the bot's cumulative realised PnL in USDC (whole dollars, not
                                                  base units); seeded from ``PerformanceFacet.botStats`` at
                                                  start, then moved by each mined trade's realised profit
``keeper_gas_used_total{bot}``         counter    gas units used by the keeper's transactions per bot
                                                  (mined and reverted)
``keeper_tx_latency_seconds``          histogram  seconds from signing a decided transaction to its receipt
``keeper_errors_total{kind}``          counter    run-loop errors by exception type (retried with backoff),
                                                  and ``tx_reverted`` for mined-but-reverted transactions
``keeper_signer_balance_wei{signer}``  gauge      ETH balance of each keeper signer, wei (a float64 sample:
                                                  ~16 significant digits, ample for alerting)
``keeper_last_block``                  gauge      the last block the keeper finished
``keeper_alerts_total{outcome}``       counter    operator alerts (macrostrike.keeper.alerts): ``queued``,
                                                  ``sent``, ``failed`` (a channel refused, hung or raised),
                                                  ``dropped`` (queue full), ``suppressed`` (rate limit)
``keeper_up``                          gauge      1 while the run loop is running, 0 after it stopped
``keeper_is_leader``                   gauge      1 while this process leads its group (macrostrike.keeper.leader)
                                                  — a single keeper without a PostgreSQL group counts as
                                                  leader —, 0 as a standby or once deposed
``keeper_epoch``                       gauge      the leader epoch this process leads under (0: none)
=====================================  =========  ==========================================================
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

logger = logging.getLogger("macrostrike.keeper")

BOT_STATS = function_signature_to_4byte_selector("botStats(uint256)")
USDC_UNIT = 10**6
#: Latency buckets (seconds): a local automining node answers in milliseconds, a public chain in
#: one or more block times (12 s on Ethereum mainnet).
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 12.0, 24.0, 60.0, 120.0)


class Metrics:
    """The keeper's metrics in a private registry.

    :param registry: where to register; a new :class:`CollectorRegistry` by default.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.decisions = Counter("keeper_decisions", "Keeper decisions by reason code.", ["reason"], registry=r)
        self.trades = Counter("keeper_trades", "Arbitrage trades mined with status 1, per bot.", ["bot"], registry=r)
        self.pnl = Gauge("keeper_bot_realised_pnl_usdc", "Cumulative realised PnL of the bot, USDC.", ["bot"],
                         registry=r)
        self.gas = Counter("keeper_gas_used", "Gas units used by the keeper's transactions, per bot.", ["bot"],
                           registry=r)
        self.latency = Histogram("keeper_tx_latency_seconds", "Seconds from signing a decided transaction to its "
                                 "receipt.", buckets=LATENCY_BUCKETS, registry=r)
        self.errors = Counter("keeper_errors", "Keeper errors by kind.", ["kind"], registry=r)
        self.signer_balance = Gauge("keeper_signer_balance_wei", "ETH balance of a keeper signer, wei.", ["signer"],
                                    registry=r)
        self.last_block = Gauge("keeper_last_block", "The last block the keeper finished.", registry=r)
        self.up = Gauge("keeper_up", "1 while the keeper's run loop runs.", registry=r)
        self.alerts = Counter("keeper_alerts", "Operator alerts by outcome.", ["outcome"], registry=r)
        self.is_leader = Gauge("keeper_is_leader", "1 while this keeper leads its group, 0 as a standby.", registry=r)
        self.epoch = Gauge("keeper_epoch", "The leader epoch this keeper leads under (0: none).", registry=r)
        self._server: Any = None
        self._thread: Any = None

    # -- observations ----------------------------------------------------------------------------
    def observe_decisions(self, decisions: Iterable[Any]) -> None:
        """Count decisions (of every job) by reason; for the arbitrage job's sent ones add gas per
        bot, and for mined ones the trade and its realised profit (``detail["realised_profit"]``, USDC base
        units) to the bot's PnL."""
        for d in decisions:
            self.decisions.labels(reason=d.reason).inc()
            if d.action != "send" or d.job != "arbitrage":  # per-bot series are the AMM bots' (ids clash)
                continue
            bot = str(d.bot_id)
            gas = int(d.detail.get("gas_used") or 0)
            if gas:
                self.gas.labels(bot=bot).inc(gas)
            if d.reason == "mined":
                self.trades.labels(bot=bot).inc()
                self.pnl.labels(bot=bot).inc(int(d.detail.get("realised_profit") or 0) / USDC_UNIT)
            elif d.reason == "reverted":
                self.errors.labels(kind="tx_reverted").inc()

    def observe_tx(self, latency_s: float) -> None:
        """One transaction's latency, signing to receipt (seconds)."""
        self.latency.observe(latency_s)

    def observe_alert(self, outcome: str, n: int = 1) -> None:
        """Count ``n`` operator alerts by ``outcome`` (queued, sent, failed, dropped, suppressed)."""
        self.alerts.labels(outcome=outcome).inc(n)

    def track_leadership(self, leadership: Any) -> None:
        """``keeper_is_leader`` and ``keeper_epoch`` read from ``leadership`` (a
        :class:`~macrostrike.keeper.leader.Leadership`) at each scrape; None: a single keeper (1, 0)."""
        if leadership is None:
            self.is_leader.set(1)
            self.epoch.set(0)
            return
        self.is_leader.set_function(lambda: 1.0 if leadership.is_leader else 0.0)
        self.epoch.set_function(lambda: float(leadership.epoch or 0) if leadership.is_leader else 0.0)

    def observe_error(self, kind: str) -> None:
        self.errors.labels(kind=kind).inc()

    def set_signer_balances(self, balances: Mapping[str, int] | Iterable[tuple[str, int]]) -> None:
        """``{address: balance_wei}`` or ``(address, balance_wei)`` pairs."""
        items = balances.items() if isinstance(balances, Mapping) else balances
        for address, wei in items:
            self.signer_balance.labels(signer=str(address)).set(int(wei))

    def set_bot_pnl(self, bot_id: int, realised_pnl: int) -> None:
        """Set a bot's PnL gauge from its on-chain value (USDC base units)."""
        self.pnl.labels(bot=str(bot_id)).set(realised_pnl / USDC_UNIT)

    def sync_bot_pnl(self, web3: Any, diamond: str, bot_ids: Iterable[int]) -> None:
        """Seed the PnL gauges from ``PerformanceFacet.botStats`` of ``diamond`` (one call per bot)."""
        for bot_id in bot_ids:
            raw = bytes(web3.eth.call({"to": diamond, "data": BOT_STATS + encode(["uint256"], [bot_id])}))
            _trades, _wins, _losses, pnl, _last = decode(["uint64", "uint64", "uint64", "int256", "uint64"], raw)
            self.set_bot_pnl(bot_id, pnl)

    # -- serving ---------------------------------------------------------------------------------
    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        """Serve ``/metrics`` on ``addr:port`` from a daemon thread (prometheus_client.start_http_server).

        Raises ``OSError`` if the port is taken.
        """
        self._server, self._thread = start_http_server(port, addr=addr, registry=self.registry)

    @property
    def port(self) -> int | None:
        """The port actually bound (useful with ``port=0``), or None when not serving."""
        return None if self._server is None else int(self._server.server_address[1])

    def close(self) -> None:
        """Stop serving (if serving)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class RunLoopErrorCounter(logging.Handler):
    """Counts the run loop's retried errors by exception type.

    :class:`~macrostrike.keeper.runner.Runner` reports each error it retries as a warning
    ``"keeper error %d/%d (%s: %s); …"`` on the ``macrostrike.keeper`` logger; the third argument is
    the exception's type name, used as ``kind``.
    """

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(level=logging.WARNING)
        self.metrics = metrics

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, str) and record.msg.startswith("keeper error") and \
                isinstance(record.args, tuple) and len(record.args) >= 3:
            self.metrics.observe_error(str(record.args[2]))


class KeeperObserver:
    """Feeds :class:`Metrics` from a running arbitrage job; call it from the runner's ``on_block``.

    :param job: the :class:`~macrostrike.keeper.arbitrage.ArbitrageJob` (its ``stats.latency_s`` list
        supplies transaction latencies).
    :param pool: the job's :class:`~macrostrike.keeper.signers.SignerPool` (signer balances).
    """

    def __init__(self, metrics: Metrics, job: Any, pool: Any, web3: Any) -> None:
        self.metrics, self.job, self.pool, self.web3 = metrics, job, pool, web3
        self._latencies_seen = len(job.stats.latency_s)
        self._handler = RunLoopErrorCounter(metrics)
        logging.getLogger("macrostrike.keeper").addHandler(self._handler)
        metrics.up.set(1)

    def refresh_signers(self) -> None:
        self.metrics.set_signer_balances(
            (s.address, int(self.web3.eth.get_balance(s.address))) for s in self.pool.senders)

    def __call__(self, number: int, decisions: list[Any]) -> None:
        self.metrics.observe_decisions(decisions)
        latencies = self.job.stats.latency_s
        for latency in latencies[self._latencies_seen:]:
            self.metrics.observe_tx(latency)
        self._latencies_seen = len(latencies)
        self.refresh_signers()
        self.metrics.last_block.set(number)

    def close(self) -> None:
        """The run loop ended: ``keeper_up`` 0, stop counting errors, stop serving."""
        self.metrics.up.set(0)
        logging.getLogger("macrostrike.keeper").removeHandler(self._handler)
        self.metrics.close()


def start_keeper_metrics(port: int, addr: str, job: Any, pool: Any, web3: Any, *, metrics: Metrics | None = None,
                         leadership: Any = None) -> KeeperObserver:
    """Serve a fresh :class:`Metrics` on ``addr:port`` — or feed ``metrics``, already served (a
    standby's, see macrostrike.cli.failover) — and return the observer for ``on_block`` (PnL gauges
    seeded from the chain, signer balances read once). Raises ``OSError`` if the port is taken."""
    serving = metrics is not None
    if metrics is None:
        metrics = Metrics()
        metrics.track_leadership(leadership)
    metrics.sync_bot_pnl(web3, job.ctx.amm_address, sorted(job.bots))
    observer = KeeperObserver(metrics, job, pool, web3)
    observer.refresh_signers()
    if serving:
        return observer
    try:
        metrics.serve(port, addr)
    except OSError:
        observer.close()
        raise
    return observer
