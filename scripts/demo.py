"""The main job: `ape run demo` — deploy on a local Anvil, replay BTC/USD history, keeper trades, report."""

import os
from pathlib import Path

import click

# A long replay: start Anvil without per-opcode step traces kept in memory (tools/anvil/anvil).
os.environ.setdefault("MACROSTRIKE_ANVIL_STEPS_TRACING", "0")

from macrostrike.cli.common import UserError, connected, network_option


@click.command()
@network_option()
@click.option("--hours", type=click.IntRange(1, 20_000), default=500, show_default=True, help="Hours to replay.")
@click.option("--start", type=click.IntRange(min=0), default=168, show_default=True,
              help="First candle (index into the ascending history); the strike signals warm up on up to "
                   "168 hours before it.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("out/demo"), show_default=True)
def cli(network, hours, start, out_dir):
    with connected(network):
        _demo(hours, start, out_dir)


def _demo(hours, start, out_dir):
    from ape import chain
    from ape.logging import logger

    logger.set_level("WARNING")  # one line per deploy step is ours; Ape's per-transaction lines are noise here

    from macrostrike.demo import run_demo
    from macrostrike.deploy.manifest import ManifestError
    from macrostrike.report import print_summary

    if chain.provider.chain_id not in (31337, 1337):
        raise UserError("the demo mints test tokens and replays history: run it on a local chain "
                        "(the default, ethereum:local:foundry)")
    try:
        run = run_demo(hours=hours, start=start, out_dir=out_dir, log=click.echo)
    except (ValueError, ManifestError) as err:  # DataError (data file), invalid keeper settings, an empty window;
        raise UserError(str(err)) from None  # a damaged manifest, or one whose system is not on --network's chain
    print_summary(run.summary)
    click.echo(f"wrote {out_dir / 'summary.json'}, {out_dir / 'chart.png'}, {out_dir / 'journal.sqlite'}")
