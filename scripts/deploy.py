"""Deploy (or bring up to date) the macrostrike system: `ape run deploy [--network …] [--account …]`.

Writes deployments/<chain-id>.json. Re-running on the same chain sends nothing when nothing changed.
"""

import click
from ape.cli import account_option

from macrostrike.cli import UserError, connected, network_option, resolve_account
from macrostrike.deploy.system import DeployConfig, deploy_system


@click.command()
@network_option()
@account_option(prompt=False)
@click.option("--bots", type=click.IntRange(1, 100), default=50, show_default=True, help="AMM arbitrage bots.")
@click.option("--capital", type=click.IntRange(min=1), default=8_000, show_default=True,
              help="USDC per bot (whole dollars).")
@click.option("--price", type=click.FloatRange(min=0, min_open=True), default=2_500.0, show_default=True,
              help="Initial pool price, USD per BTC.")
@click.option("--keeper", "keepers", multiple=True, help="Keeper address (repeatable).")
def cli(network, account, bots, capital, price, keepers):
    with connected(network):
        _deploy(account, bots, capital, price, keepers)


def _deploy(account, bots, capital, price, keepers):
    from ape import accounts, chain

    owner = resolve_account(account, 0)
    if not keepers and chain.provider.chain_id in (31337, 1337):
        keepers = tuple(str(accounts.test_accounts[i].address) for i in (1, 2, 3))
    try:
        config = DeployConfig(amm_bots=bots, capital_per_bot_usd=capital, initial_price_usd=price, keepers=keepers)
    except ValueError as err:
        raise UserError(str(err)) from None
    system = deploy_system(owner, config, log=click.echo)
    click.echo(f"{system.transactions} transaction(s) sent; manifest: deployments/{system.manifest.chain_id}.json")
