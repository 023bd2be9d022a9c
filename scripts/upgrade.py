"""Upgrade a live diamond: `ape run upgrade --diamond <role|address> [--facet NAME …] [--init NAME --init-arg V …]`.

Reads the diamond's loupe, compares it with the project's compiled facets, prints the plan (removals
first), checks storage layouts and ownership, asks for confirmation (`--yes` skips it) and sends one
diamondCut. `--calldata` prints the cut's {to, data} for a multisig instead of sending it.
Logic: python/macrostrike/upgrade/command.py.
"""

import click
from ape.cli import account_option

from macrostrike.cli.common import connected, network_option
from macrostrike.upgrade.command import run_upgrade


@click.command()
@network_option()
@account_option(prompt=False)
@click.option("--diamond", required=True, metavar="ROLE|ADDRESS",
              help="A role from deployments/<chain-id>.json (master, long, short, amm) or an address.")
@click.option("--facet", "facets", multiple=True, metavar="NAME",
              help="Project contract the diamond should have after the upgrade (repeatable; default: the "
                   "facets `ape run deploy` gives that role).")
@click.option("--init", "init", default=None, metavar="NAME", help="Initializer contract run in the same cut.")
@click.option("--init-arg", "init_args", multiple=True, metavar="VALUE", help="Argument of NAME.init (repeatable).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--calldata", is_flag=True, help="Print the diamondCut {to, data} for a multisig instead of sending it.")
def cli(network, account, diamond, facets, init, init_args, yes, calldata):
    with connected(network):
        run_upgrade(account, diamond, facets, init, init_args, yes, calldata)
