"""The main job: `ape run demo` — deploy on a local Anvil, replay BTC/USD history (or `--prices FILE`), keeper trades, report."""

import os
from pathlib import Path

import click

# A long replay: start Anvil without per-opcode step traces kept in memory (tools/anvil/anvil).
os.environ.setdefault("MACROSTRIKE_ANVIL_STEPS_TRACING", "0")

from macrostrike.cli.common import UserError, connected, network_option


@click.command()
@network_option()
@click.option("--hours", "--bars", "hours", type=click.IntRange(1, 20_000), default=500, show_default=True,
              help="Bars to replay (hours of the bundled history; the file's bars with --prices).")
@click.option("--start", type=click.IntRange(min=0), default=None,
              help="First bar (index into the ascending history); the strike signals warm up on up to 168 hours "
                   "of bars before it. Default: 168 (with --prices: 168 hours of bars, or half the file if shorter).")
@click.option("--prices", "prices", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Replay this OHLCV CSV (CryptoDataDownload export, or timestamp|date,open,high,low,close,volume; "
                   "minute, hour or day bars; either order) instead of the bundled BTC/USD hours.")
@click.option("--max-gap-bars", type=click.IntRange(min=1), default=5, show_default=True,
              help="With --prices: refuse a gap between two bars longer than this many bar intervals.")
@click.option("--agreement", type=click.IntRange(0, 4), default=0, show_default=True,
              help="Strike bots enter only when this many of their 4 signals (momentum, mean reversion, breakout, "
                   "VWAP deviation) agree; 0: one signal per bot.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("out/demo"), show_default=True)
def cli(network, hours, start, prices, max_gap_bars, agreement, out_dir):
    history = None
    if prices is not None:  # read and validate the file before starting a chain
        from macrostrike.market.data import DataError
        from macrostrike.market.prices import load_prices

        try:
            history = load_prices(prices, max_gap_bars=max_gap_bars)
        except DataError as err:
            raise UserError(str(err)) from None
        click.echo(f"prices: {history.describe()}")
    with connected(network):
        _demo(hours, start, history, agreement, out_dir)


def _demo(hours, start, history, agreement, out_dir):
    from ape import chain
    from ape.logging import logger

    logger.set_level("WARNING")  # one line per deploy step is ours; Ape's per-transaction lines are noise here

    from macrostrike.demo import WARMUP_HOURS, run_demo
    from macrostrike.deploy.manifest import ManifestError
    from macrostrike.report import print_summary

    if chain.provider.chain_id not in (31337, 1337):
        raise UserError("the demo mints test tokens and replays history: run it on a local chain "
                        "(the default, ethereum:local:foundry)")
    if history is None and start is None:
        start = WARMUP_HOURS
    try:
        run = run_demo(hours=hours, start=start, out_dir=out_dir, history=history, agreement=agreement, log=click.echo)
    except (ValueError, ManifestError) as err:  # DataError (data file), invalid keeper settings, an empty window;
        raise UserError(str(err)) from None  # a damaged manifest, or one whose system is not on --network's chain
    print_summary(run.summary)
    click.echo(f"wrote {out_dir / 'summary.json'}, {out_dir / 'chart.png'}, {out_dir / 'journal.sqlite'}")
