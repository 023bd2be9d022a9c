"""Keeper throughput benchmark (issue 4 §7): ``make bench`` or ``python bench/run.py`` from the repo root.

Starts its own local Anvil (ape-foundry), deploys the system with 100 bots into a temporary
deployments folder, and measures in one run: the keeper's tick cost with 100 and 1,000 bots, the
keeper path until 1,500 arbitrages are mined, the same transactions pre-signed and sent raw (the
limit), and a plain web3.py loop. Writes ``bench/results/<date>-<sha>.json`` and
``bench/results/latest.md``. See :mod:`macrostrike.bench` for what is timed.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]


@click.command()
@click.option("--trades", type=click.IntRange(1, 100_000), default=1_500, show_default=True,
              help="Arbitrage trades the keeper path runs to.")
@click.option("--noise-bps", type=click.FloatRange(1, 2_000), default=150.0, show_default=True,
              help="Noise traders' error around each hour's close (bps).")
@click.option("--tick-bots", type=click.IntRange(101, 5_000), default=1_000, show_default=True,
              help="Registered bots for the large tick-cost measurement (100 are deployed).")
@click.option("--tick-samples", type=click.IntRange(10, 10_000), default=200, show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=ROOT / "bench" / "results",
              show_default=True)
@click.option("--network", default="ethereum:local:foundry", show_default=True,
              help="A local chain: the bench mints tokens and uses evm_snapshot/evm_revert.")
def main(trades: int, noise_bps: float, tick_bots: int, tick_samples: int, out_dir: Path, network: str) -> None:
    os.chdir(ROOT)  # Ape finds the project (contracts, ape-config.yaml) from the working directory
    os.environ["MACROSTRIKE_DEPLOYMENTS"] = tempfile.mkdtemp(prefix="macrostrike-bench-deploy-")
    # Anvil without in-memory opcode step traces (tools/anvil/anvil), as for the demo
    os.environ.setdefault("MACROSTRIKE_ANVIL_STEPS_TRACING", "0")
    from ape import networks
    from ape.logging import logger

    from macrostrike.bench import Bench, BenchConfig, write_results
    from macrostrike.cli.common import UserError

    logger.set_level("WARNING")
    config = BenchConfig(trades=trades, noise_bps=noise_bps, tick_bots=tick_bots, tick_samples=tick_samples)
    with networks.parse_network_choice(network) as provider:
        if provider.chain_id not in (31337, 1337):
            raise UserError("the bench mints test tokens and reverts the chain: run it on a local chain")
        results = Bench(config, log=lambda m: click.echo(m, err=True)).run()
    path, md = write_results(results, out_dir)
    click.echo(md.read_text())
    click.echo(f"wrote {path} and {md}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "python"))
    main()
