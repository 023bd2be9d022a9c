"""The main job: deploy the system, replay BTC/USD history, let the keeper trade, report.

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
from macrostrike.market.replay import Replay, ReplayConfig, ReplayResult, summarize

#: Test accounts on a local chain: 0 owner/deployer, 1-3 keepers, 5-7 noise traders (DEX A, B, C).
OWNER, KEEPERS, TRADERS = 0, (1, 2, 3), (5, 6, 7)


@dataclass
class DemoRun:
    system: System
    replay: Replay
    result: ReplayResult
    summary: dict[str, Any]


#: Hours of history before the replayed window fed to the strike bots' signals (no trading).
WARMUP_HOURS = 168
#: Strike bots per side in the demo (all 100 bots: 25 long + 25 short + 50 AMM).
STRIKE_BOTS = 25


def run_demo(hours: int = 500, start: int = 0, *, out_dir: Path | None = None,
             deploy_config: DeployConfig | None = None, replay_config: ReplayConfig | None = None,
             settings: KeeperSettings | None = None, candles: list[data.Candle] | None = None,
             warmup: list[data.Candle] | None = None,
             log: Callable[[str], None] = lambda _m: None) -> DemoRun:
    """Deploy on the connected (local) chain and replay ``hours`` candles from index ``start``.

    The strike bots' signals first see up to :data:`WARMUP_HOURS` candles before ``start``
    (``warmup`` when ``candles`` are given). Unless the settings name ``hedge_pairs``, long bot i
    and short bot i are a hedged pair. Writes ``summary.json``, ``chart.png`` and ``journal.sqlite``
    (decisions and transactions) into ``out_dir`` when given.
    """
    from ape import accounts

    from macrostrike.report import write_chart, write_json

    test = accounts.test_accounts
    if candles is None:
        candles = data.load(start=start, hours=hours)
        first = max(0, start - WARMUP_HOURS)
        warmup = data.load(start=first, hours=start - first) if start > first else []
    if not candles:
        raise ValueError(f"no candles in the window start={start} hours={hours}")
    settings = settings or load_settings()
    if not settings.hedge_pairs:
        settings = settings.model_copy(update={"hedge_pairs": [(i, i) for i in range(1, STRIKE_BOTS + 1)]})
    config = deploy_config or DeployConfig(initial_price_usd=candles[0].close, long_bots=STRIKE_BOTS,
                                           short_bots=STRIKE_BOTS, eth_usd_price=settings.eth_usd_price,
                                           keepers=tuple(str(test[i].address) for i in KEEPERS), uniswap_v3=True)
    system = deploy_system(test[OWNER], config, log=log)
    log(f"deployed: {system.transactions} transactions; manifest {system.manifest.chain_id}.json")
    replay_config = replay_config or ReplayConfig()
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "journal.sqlite").unlink(missing_ok=True)
    journal = Journal(f"sqlite:///{out_dir / 'journal.sqlite'}" if out_dir else None)
    replay = Replay.build(system, [test[i] for i in KEEPERS], [test[i] for i in TRADERS], test[OWNER],
                          replay_config, settings, journal)
    if replay.strike is not None and warmup:
        replay.strike.warm_up([c.close for c in warmup])
        log(f"strike signals warmed up on {len(warmup)} hours before the window")
    step = max(1, len(candles) // 10)
    result = replay.run(candles, progress=lambda i: log(f"hour {i + 1}/{len(candles)}") if (i + 1) % step == 0 else None)
    journal.close()
    summary = summarize(replay, result, candles, settings, replay_config, system.manifest.config)
    if out_dir is not None:
        write_json(summary, out_dir / "summary.json")
        write_chart(summary, out_dir / "chart.png")
    return DemoRun(system, replay, result, summary)
