"""Deploy (or bring up to date) the macrostrike system: `ape run deploy [--network …] [--account …]`.

Writes deployments/<chain-id>.json after every step (<chain-id>-fork.json on an ape-foundry fork),
atomically, keeping the version before the run as <chain-id>.json.1 (5 kept). Re-running on the same
chain sends nothing when nothing changed; re-running after an interruption (a node fault, a nonce
clash: one line says where) resumes where it stopped. A damaged manifest, or one whose system is not
on the connected chain, stops the deploy (`--new-system` starts over deliberately); flags that differ
from the deployed system are refused (`--reconfigure` applies what transactions can apply).
`--venues existing|sandbox|FILE` chooses between the chain's own Uniswap/Aave/Chainlink/USDC (address book,
python/macrostrike/deploy/addressbook.json) and the project's test tokens and venues.
A keyfile ``--account`` unlocks from ``APE_ACCOUNTS_<alias>_PASSPHRASE``
when that is set (non-interactive), else Ape prompts.
"""

import os

import click
from ape.cli import account_option

from macrostrike.cli.common import UserError, connected, network_option, resolve_account
from macrostrike.deploy.addressbook import VenuesError
from macrostrike.deploy.create2 import Create2Error
from macrostrike.deploy.drift import ConfigMismatch
from macrostrike.deploy.manifest import ManifestError
from macrostrike.deploy.system import DeployConfig, deploy_system, node_fault


@click.command()
@network_option()
@account_option(prompt=False)
@click.option("--bots", type=click.IntRange(1, 100), default=50, show_default=True, help="AMM arbitrage bots.")
@click.option("--long-bots", type=click.IntRange(0, 100), default=25, show_default=True,
              help="Long strike bots (0 with --short-bots 0: no Aave market, an AMM-only system).")
@click.option("--short-bots", type=click.IntRange(0, 100), default=25, show_default=True, help="Short strike bots.")
@click.option("--capital", type=click.IntRange(min=1), default=8_000, show_default=True,
              help="USDC each bot is sized for (whole dollars): allocation gives every bot at least this less "
                   "the 5% reserve (AMM-only: exactly this).")
@click.option("--price", type=click.FloatRange(min=0, min_open=True), default=2_500.0, show_default=True,
              help="Initial pool price, USD per BTC.")
@click.option("--keeper", "keepers", multiple=True, help="Keeper address (repeatable).")
@click.option("--uniswap-v3", is_flag=True,
              help="Also deploy Uniswap V3 (DEX C: a USDC/WBTC 0.05 % pool with concentrated liquidity) and the "
                   "V2↔V3 arbitrage facet (17 more transactions); a system that has it keeps it. With --venues "
                   "existing|FILE nothing is deployed: the file's Uniswap V3 pool is used (always, when it has one), "
                   "and the flag refuses a file without one.")
@click.option("--new-system", is_flag=True,
              help="Deploy a new system even though the manifest names one (damaged, or not on this chain); "
                   "the old manifest is kept as <chain-id>.json.1.")
@click.option("--reconfigure", is_flag=True,
              help="Apply the flags' differences from the deployed system that transactions can apply "
                   "(more bots, keepers); without it any difference is refused.")
@click.option("--venues", default=None, metavar="existing|sandbox|FILE",
              help="existing: wire the system to the chain's Uniswap, Aave, Chainlink and tokens from the address book "
                   "(python/macrostrike/deploy/addressbook.json), deploying none of them; sandbox: deploy test tokens "
                   "and venues; FILE: a venues file in the address book's format. Default: existing on a chain the "
                   "address book lists, sandbox elsewhere (local Anvil), the recorded kind on a deployed system.")
def cli(network, account, bots, long_bots, short_bots, capital, price, keepers, uniswap_v3, new_system, reconfigure,
        venues):
    with connected(network):
        _deploy(account, (bots, long_bots, short_bots), capital, price, keepers, (new_system, reconfigure, venues),
                uniswap_v3)


def _deploy(account, counts, capital, price, keepers, mode, uniswap_v3=False):
    from ape import accounts, chain

    owner = resolve_account(account, 0)
    if not keepers and chain.provider.chain_id in (31337, 1337):
        keepers = tuple(str(accounts.test_accounts[i].address) for i in (1, 2, 3))
    try:
        config = DeployConfig(amm_bots=counts[0], long_bots=counts[1], short_bots=counts[2],
                              capital_per_bot_usd=capital, initial_price_usd=price, keepers=keepers,
                              uniswap_v3=uniswap_v3)
    except ValueError as err:
        raise UserError(str(err)) from None
    alias = getattr(owner, "alias", None)
    passphrase = os.environ.get(f"APE_ACCOUNTS_{alias}_PASSPHRASE") if alias else None
    if passphrase and hasattr(owner, "set_autosign"):
        try:
            owner.set_autosign(True, passphrase=passphrase)
        except Exception as err:  # noqa: BLE001 - Ape raises its own error types for a wrong passphrase
            raise UserError(f"cannot unlock account '{alias}' with APE_ACCOUNTS_{alias}_PASSPHRASE: "
                            f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    click.echo(f"deploying from {owner.address} on chain {chain.provider.chain_id} "
               f"({chain.provider.network_choice})")
    steps = []

    def log(line):
        steps.append(line)
        click.echo(line)

    try:
        system = deploy_system(owner, config, log=log, new_system=mode[0], reconfigure=mode[1], venues=mode[2])
    except (Create2Error, ManifestError, ConfigMismatch, VenuesError) as err:
        raise UserError(str(err)) from None
    except Exception as err:  # noqa: BLE001 - sorted by node_fault: a node's or a transaction's fault is one line
        message = node_fault(err, steps[-1] if steps else "the start")
        if message is None:
            raise
        raise UserError(message) from None
    from macrostrike.deploy.manifest import manifest_path

    path = manifest_path(system.manifest.chain_id, fork=bool(getattr(chain.provider.network, "is_fork", False)))
    click.echo(f"{system.transactions} transaction(s) sent; manifest: {path}")
