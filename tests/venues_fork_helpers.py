"""Deploy with ``--venues FILE`` on a fork, then one keeper block there, in one process (the fork's Anvil
lives as long as the Ape connection). Used by tests/test_venues_fork.py and tests/test_l2_standins.py:

    python tests/venues_fork_helpers.py --network ethereum:mainnet-fork:foundry --venues FILE [--bots N ...]
        [--uniswap-v3]

Runs the body of ``ape run deploy`` (scripts/deploy.py ``_deploy``) with the given flags and Ape test
account 0 as the deployer, then moves DEX A's price up (a buy straight on the pair, by the owner of the
test USDC) and runs one decision round of the arbitrage job with test account 1 as the keeper. Prints one
JSON line: ``{"chain_id", "fork_block", "created": [addresses the deployer created on the fork],
"manifest": path, "decisions": [[bot, reason]...], "by_venues": {"C-A": trades, ...} (mined trades per venue
pair, C: the V3 pool), "arbitrage_pairs": [...], "v3_venue": [factory, fee, pool] or null, "strike_pool": addr}``.
``--uniswap-v3`` deploys a sandbox Uniswap V3 too (with ``--venues sandbox``).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]


def _deploy_script():
    spec = importlib.util.spec_from_file_location("deploy_script", ROOT / "scripts" / "deploy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _created(web3, sender: str, first: int) -> list[str]:
    out = []
    for number in range(first, web3.eth.block_number + 1):
        for tx in web3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"] == sender and tx["to"] is None:
                out.append(web3.eth.get_transaction_receipt(tx["hash"])["contractAddress"])
    return out


@click.command()
@click.option("--network", required=True)
@click.option("--venues", default=None)
@click.option("--bots", default=2)
@click.option("--long-bots", default=0)
@click.option("--short-bots", default=0)
@click.option("--capital", default=100)
@click.option("--gap-fraction", default=50, help="The buy on DEX A is 1/N of its USDC reserve.")
@click.option("--uniswap-v3", is_flag=True)
def main(network: str, venues: str | None, bots: int, long_bots: int, short_bots: int, capital: int,
         gap_fraction: int, uniswap_v3: bool) -> None:
    from ape import accounts, chain, project

    from macrostrike.cli.common import connected
    from macrostrike.deploy.manifest import Manifest, manifest_path

    with connected(network):
        owner, keeper = accounts.test_accounts[0], accounts.test_accounts[1]
        web3 = chain.provider.web3
        fork_block = web3.eth.block_number
        _deploy_script()._deploy(owner, (bots, long_bots, short_bots), capital, 2_500.0, (str(keeper.address),),
                                 (False, False, venues), uniswap_v3)
        created = _created(web3, str(owner.address), fork_block + 1)
        is_fork = bool(getattr(chain.provider.network, "is_fork", False))
        path = manifest_path(chain.provider.chain_id, fork=is_fork)
        manifest = Manifest.from_json(json.loads(path.read_text()))
        decisions, by_venues = _one_keeper_round(manifest, owner, keeper, gap_fraction)
        amm = manifest.address("amm")
        out = {"chain_id": chain.provider.chain_id, "fork_block": fork_block, "created": created, "manifest": str(path),
               "decisions": decisions, "by_venues": by_venues,
               "arbitrage_pairs": [str(a) for a in project.ArbitrageFacet.at(amm).arbitragePairs()], "v3_venue": None}
        if "VenueArbitrageFacet" in manifest.diamonds["amm"]["facets"]:
            factory, fee, pool = project.VenueArbitrageFacet.at(amm).v3Venue()
            out["v3_venue"] = [str(factory), int(fee), str(pool)]
        if "aave_pool" in manifest.contracts:
            out["strike_pool"] = str(project.StrikePositionsFacet.at(manifest.address("long")).strikePool())
        click.echo(json.dumps(out))


def _one_keeper_round(manifest, owner, keeper, fraction: int) -> tuple[list[list], dict[str, int]]:
    """Buy WBTC on DEX A's pair (1/``fraction`` of its USDC reserve), then one arbitrage decision round:
    ``([[bot, reason]...], mined trades per venue pair)``."""
    from ape import project

    from macrostrike.deploy import venues as venuelib
    from macrostrike.keeper.arbitrage import ArbitrageJob
    from macrostrike.keeper.context import AmmContext
    from macrostrike.keeper.journal import Journal
    from macrostrike.keeper.settings import KeeperSettings
    from macrostrike.keeper.signers import SignerPool
    from macrostrike.keeper.txsender import TxSender

    pair = venuelib.at("UniswapV2Pair", manifest.address("dex_a_pair"))
    usdc = project.TestToken.at(manifest.address("usdc"))  # the upstream's test USDC: its owner mints
    r0, r1, _ = pair.getReserves()
    q_is_0 = str(pair.token0()).lower() == str(usdc.address).lower()
    q, b = (r0, r1) if q_is_0 else (r1, r0)
    amount_in = q // fraction
    out = amount_in * 997 * b // (q * 1000 + amount_in * 997)
    usdc.mint(pair.address, amount_in, sender=owner)
    pair.swap(0 if q_is_0 else out, out if q_is_0 else 0, owner.address, b"", sender=owner)
    settings = KeeperSettings()
    ctx = AmmContext(manifest)
    journal = Journal()
    pool = SignerPool([TxSender(keeper, priority_fee_wei=settings.priority_fee_wei, error_table=ctx.errors,
                                journal=journal)], max_ops=None)
    job = ArbitrageJob(ctx, pool, settings, journal)
    return [[d.bot_id, d.reason] for d in job.tick() + job.flush()], dict(job.stats.by_venues)


if __name__ == "__main__":
    main()
