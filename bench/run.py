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
PARTS = ("tick", "keeper", "raw", "web3", "sign", "v3", "interval", "journal")  # = macrostrike.bench.PARTS


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
@click.option("--parts", default=",".join(PARTS), show_default=True,
              help="Comma-separated parts to run: tick, keeper, raw, web3, sign, v3 (on --network; raw, web3 "
                   "and sign need keeper; v3: decision round with a Uniswap V3 venue), interval (its own Anvil "
                   "with --block-time), journal (no chain).")
@click.option("--interval-blocks", type=click.IntRange(3, 10_000), default=60, show_default=True,
              help="Blocks the interval-mining part runs the keeper for.")
@click.option("--block-time", type=click.IntRange(1, 60), default=2, show_default=True,
              help="Anvil --block-time of the interval-mining part (s).")
@click.option("--journal-rows", type=click.IntRange(25, 100_000), default=500, show_default=True,
              help="Attempt rows per pragma in the synchronous=FULL vs NORMAL measurement.")
@click.option("--prices", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Replay this OHLCV CSV (as `ape run demo --prices`) instead of the bundled BTC/USD hours.")
@click.option("--max-gap-bars", type=click.IntRange(min=1), default=5, show_default=True,
              help="With --prices: refuse a gap between two bars longer than this many bar intervals.")
def main(trades: int, noise_bps: float, tick_bots: int, tick_samples: int, out_dir: Path, network: str, parts: str,
         interval_blocks: int, block_time: int, journal_rows: int, prices: Path | None, max_gap_bars: int) -> None:
    os.chdir(ROOT)  # Ape finds the project (contracts, ape-config.yaml) from the working directory
    os.environ["MACROSTRIKE_DEPLOYMENTS"] = tempfile.mkdtemp(prefix="macrostrike-bench-deploy-")
    # Anvil without in-memory opcode step traces (tools/anvil/anvil), as for the demo
    os.environ.setdefault("MACROSTRIKE_ANVIL_STEPS_TRACING", "0")
    from ape import networks
    from ape.logging import logger

    from macrostrike.bench import LOCAL_PARTS, Bench, BenchConfig, start_anvil, write_results
    from macrostrike.cli.common import UserError

    chosen = tuple(p for p in PARTS if p in {x.strip() for x in parts.split(",")})
    unknown = {x.strip() for x in parts.split(",")} - set(PARTS)
    if unknown or not chosen:
        raise click.BadParameter(f"unknown part(s) {sorted(unknown)}; choose from {', '.join(PARTS)}",
                                 param_hint="--parts")
    if {"raw", "web3", "sign"} & set(chosen) and "keeper" not in chosen:
        raise click.BadParameter("raw, web3 and sign replay the keeper part's transactions: add keeper",
                                 param_hint="--parts")
    logger.set_level("WARNING")
    config = BenchConfig(trades=trades, noise_bps=noise_bps, tick_bots=tick_bots, tick_samples=tick_samples,
                         interval_blocks=interval_blocks, block_time_s=block_time, journal_rows=journal_rows,
                         prices=str(prices) if prices else None, max_gap_bars=max_gap_bars)
    bench = Bench(config, log=lambda m: click.echo(m, err=True))
    if prices is not None:  # a bad file: one line before any chain is started
        from macrostrike.market.data import DataError

        try:
            bench.history()
        except DataError as err:
            raise UserError(str(err)) from None
    bench.begin()
    if set(chosen) & set(LOCAL_PARTS):
        with networks.parse_network_choice(network) as provider:
            if provider.chain_id not in (31337, 1337):
                raise UserError("the bench mints test tokens and reverts the chain: run it on a local chain")
            bench.run_local(chosen)
    if "interval" in chosen:
        with start_anvil("--block-time", str(block_time)) as uri, networks.parse_network_choice(uri):
            bench.interval_mining(uri)
    if "journal" in chosen:
        bench.journal_sync()
    results = bench.finish(chosen)
    path, md = write_results(results, out_dir)
    click.echo(md.read_text())
    click.echo(f"wrote {path} and {md}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "python"))
    main()
