"""The main job: deploy the system, replay BTC/USD history (or the user's own, ``--prices``), let the keeper trade, report.

Used by ``scripts/demo.py`` (``ape run demo``) and by the end-to-end tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable

from macrostrike.deploy.system import DeployConfig, System, deploy_system
from macrostrike.keeper.journal import Journal
from macrostrike.keeper.settings import KeeperSettings, load_settings
from macrostrike.market import data
from macrostrike.market.prices import PriceHistory
from macrostrike.market.replay import HOUR, Replay, ReplayConfig, ReplayResult, summarize
from macrostrike.strategy.signals import bars

#: Test accounts on a local chain: 0 owner/deployer, 1-3 keepers, 5-7 noise traders (DEX A, B, C).
OWNER, KEEPERS, TRADERS = 0, (1, 2, 3), (5, 6, 7)


@dataclass
class DemoRun:
    system: System
    replay: Replay
    result: ReplayResult
    summary: dict[str, Any]


#: Hours of history before the replayed window fed to the strike bots' signals (no trading); in bars
#: of a ``--prices`` file's interval, ``bars(WARMUP_HOURS, interval)``.
WARMUP_HOURS = 168
#: Strike bots per side in the demo (all 100 bots: 25 long + 25 short + 50 AMM).
STRIKE_BOTS = 25


def file_window(history: PriceHistory, bars_wanted: int, start: int | None) -> tuple[list[data.Candle], list[data.Candle]]:
    """``(window, warm-up)`` of a ``--prices`` history: ``bars_wanted`` bars from index ``start``
    (default: :data:`WARMUP_HOURS` of bars, or half the file when it is shorter) and up to
    :data:`WARMUP_HOURS` of bars before it. Raises ValueError when the window is empty."""
    candles = history.candles
    warm = bars(WARMUP_HOURS, history.interval_s)
    first = min(warm, len(candles) // 2) if start is None else start
    window = candles[first:first + bars_wanted]
    if not window:
        raise ValueError(f"{history.path}: no bars from index {first} ({len(candles)} bars in the file): "
                         f"pass a smaller --start")
    return window, candles[max(0, first - warm):first]


def run_demo(hours: int = 500, start: int | None = 0, *, out_dir: Path | None = None,
             deploy_config: DeployConfig | None = None, replay_config: ReplayConfig | None = None,
             settings: KeeperSettings | None = None, candles: list[data.Candle] | None = None,
             warmup: list[data.Candle] | None = None, history: PriceHistory | None = None,
             agreement: int = 0, log: Callable[[str], None] = lambda _m: None) -> DemoRun:
    """Deploy on the connected (local) chain and replay ``hours`` candles from index ``start``.

    The strike bots' signals first see up to :data:`WARMUP_HOURS` candles before ``start``
    (``warmup`` when ``candles`` are given). ``history`` (a ``--prices`` file,
    :func:`macrostrike.market.prices.load_prices`) replaces the bundled BTC/USD hours: ``hours``
    and ``start`` then count its bars (:func:`file_window`; ``start=None``: the default warm-up),
    and the clock, the signals' windows and the noise scale to its interval. ``agreement``: the
    strike bots' k-of-4 signal vote (0: one signal per bot). Unless the settings name
    ``hedge_pairs``, long bot i and short bot i are a hedged pair. Writes ``summary.json``,
    ``chart.png`` and ``journal.sqlite`` (decisions and transactions) into ``out_dir`` when given.
    """
    from ape import accounts

    from macrostrike.report import write_chart, write_json

    test = accounts.test_accounts
    interval = history.interval_s if history is not None else HOUR
    if history is not None and candles is None:
        candles, warmup = file_window(history, hours, start)
    elif candles is None:
        start = start or 0
        candles = data.load(start=start, hours=hours)
        first = max(0, start - WARMUP_HOURS)
        warmup = data.load(start=first, hours=start - first) if start > first else []
    if not candles:
        raise ValueError(f"no candles in the window start={start} hours={hours}")
    settings = (settings or load_settings()).model_copy(update={"strike_signal_interval_s": interval})
    if not settings.hedge_pairs:
        settings = settings.model_copy(update={"hedge_pairs": [(i, i) for i in range(1, STRIKE_BOTS + 1)]})
    config = deploy_config or DeployConfig(initial_price_usd=candles[0].close, long_bots=STRIKE_BOTS,
                                           short_bots=STRIKE_BOTS, eth_usd_price=settings.eth_usd_price,
                                           keepers=tuple(str(test[i].address) for i in KEEPERS),
                                           signal_agreement=agreement, uniswap_v3=True)
    system = deploy_system(test[OWNER], config, log=log)
    log(f"deployed: {system.transactions} transactions; manifest {system.manifest.chain_id}.json")
    replay_config = replay_config or ReplayConfig(interval_s=interval)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "journal.sqlite").unlink(missing_ok=True)
    journal = Journal(f"sqlite:///{out_dir / 'journal.sqlite'}" if out_dir else None)
    replay = Replay.build(system, [test[i] for i in KEEPERS], [test[i] for i in TRADERS], test[OWNER],
                          replay_config, settings, journal)
    if replay.strike is not None and warmup:
        replay.strike.warm_up([c.close for c in warmup], [c.volume_btc for c in warmup])
        log(f"strike signals warmed up on {len(warmup)} bars before the window")
    step = max(1, len(candles) // 10)
    result = replay.run(candles, progress=lambda i: log(f"bar {i + 1}/{len(candles)}") if (i + 1) % step == 0 else None)
    journal.close()
    named = {"asset": history.asset, "source": history.describe()} if history is not None else {}
    summary = summarize(replay, result, candles, settings, replay_config, system.manifest.config, **named)
    if out_dir is not None:
        write_json(summary, out_dir / "summary.json")
        write_chart(summary, out_dir / "chart.png")
    return DemoRun(system, replay, result, summary)
