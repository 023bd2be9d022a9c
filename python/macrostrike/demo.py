"""The main job: deploy the system, replay BTC/USD history, let the keeper trade, report.

Used by ``scripts/demo.py`` (``ape run demo``) and by the end-to-end tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from macrostrike.deploy.system import DeployConfig, System, deploy_system
from macrostrike.keeper.journal import Journal
from macrostrike.keeper.settings import KeeperSettings, load_settings
from macrostrike.market import data
from macrostrike.market.replay import Replay, ReplayConfig, ReplayResult, summarize

#: Test accounts on a local chain: 0 owner/deployer, 1-3 keepers, 5-6 noise traders.
OWNER, KEEPERS, TRADERS = 0, (1, 2, 3), (5, 6)


@dataclass
class DemoRun:
    system: System
    replay: Replay
    result: ReplayResult
    summary: dict[str, Any]


def run_demo(hours: int = 500, start: int = 0, *, out_dir: Path | None = None,
             deploy_config: DeployConfig | None = None, replay_config: ReplayConfig | None = None,
             settings: KeeperSettings | None = None, candles: list[data.Candle] | None = None,
             log: Callable[[str], None] = lambda _m: None) -> DemoRun:
    """Deploy on the connected (local) chain and replay ``hours`` candles from index ``start``.

    Writes ``summary.json``, ``chart.png`` and ``journal.sqlite`` (decisions and transactions) into
    ``out_dir`` when given.
    """
    from ape import accounts

    from macrostrike.report import write_chart, write_json

    test = accounts.test_accounts
    candles = candles if candles is not None else data.load(start=start, hours=hours)
    if not candles:
        raise ValueError(f"no candles in the window start={start} hours={hours}")
    config = deploy_config or DeployConfig(initial_price_usd=candles[0].close,
                                           keepers=tuple(str(test[i].address) for i in KEEPERS))
    system = deploy_system(test[OWNER], config, log=log)
    log(f"deployed: {system.transactions} transactions; manifest {system.manifest.chain_id}.json")
    settings = settings or load_settings()
    replay_config = replay_config or ReplayConfig()
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "journal.sqlite").unlink(missing_ok=True)
    journal = Journal(f"sqlite:///{out_dir / 'journal.sqlite'}" if out_dir else None)
    replay = Replay.build(system, [test[i] for i in KEEPERS], [test[i] for i in TRADERS], test[OWNER],
                          replay_config, settings, journal)
    step = max(1, len(candles) // 10)
    result = replay.run(candles, progress=lambda i: log(f"hour {i + 1}/{len(candles)}") if (i + 1) % step == 0 else None)
    journal.close()
    summary = summarize(replay, result, candles, settings, replay_config, system.manifest.config)
    if out_dir is not None:
        write_json(summary, out_dir / "summary.json")
        write_chart(summary, out_dir / "chart.png")
    return DemoRun(system, replay, result, summary)
