"""`--venues FILE` on the test chain: a first (sandbox) system's tokens, V2 DEXes, Aave market and feeds
are written to a venues file; a second system deployed with it creates nothing but its own contracts
(the four diamonds: the facets are CREATE2 and already there), points its diamonds at those venues,
refuses to start without the treasury's USDC, re-runs with nothing to send, and its keeper trades a
V2<->V2 gap (one V2 DEX plus V3: tests/test_existing_v3.py)."""

from __future__ import annotations

import json

import pytest

from macrostrike.deploy import existing
from macrostrike.deploy.addressbook import VenuesError
from macrostrike.deploy.system import DeployConfig, deploy_system
from market_helpers import push_price_up

pytestmark = pytest.mark.slow  # two systems with strike bots (~45 s)

CONFIG = dict(amm_bots=2, long_bots=1, short_bots=1, capital_per_bot_usd=1_000, initial_price_usd=20_000)


def created_by(web3, sender, first_block):
    """Addresses of contracts ``sender`` created (CREATE) from ``first_block`` on."""
    out = []
    for number in range(first_block, web3.eth.block_number + 1):
        for tx in web3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"] == sender and tx["to"] is None:
                out.append(web3.eth.get_transaction_receipt(tx["hash"])["contractAddress"])
    return out


@pytest.fixture(scope="module")
def two_systems(owner, keeper, chain, tmp_path_factory):
    upstream = deploy_system(owner, DeployConfig(**CONFIG, keepers=(str(keeper.address),)), new_system=True)
    path = tmp_path_factory.mktemp("venues") / "venues.json"
    path.write_text(json.dumps(existing.venues_of(upstream.manifest, "test chain"), indent=2))
    config = DeployConfig(**CONFIG, keepers=(str(keeper.address),))
    web3 = chain.provider.web3
    nonce = web3.eth.get_transaction_count(owner.address)
    with pytest.raises(VenuesError) as short:  # the deployer holds no USDC of its own yet
        deploy_system(owner, config, new_system=True, venues=str(path))
    refused = (str(short.value), web3.eth.get_transaction_count(owner.address) - nonce)
    upstream.contracts["usdc"].mint(owner.address, existing.treasury_need(config), sender=owner)  # "buy" USDC
    first = web3.eth.block_number + 1
    lines = []
    system = deploy_system(owner, config, lines.append, new_system=True, venues=str(path))
    return {"upstream": upstream, "system": system, "created": created_by(web3, owner.address, first),
            "refused": refused, "path": path, "lines": lines, "config": config}


def test_nothing_but_the_diamonds_is_deployed(two_systems):
    system, upstream = two_systems["system"], two_systems["upstream"]
    assert sorted(two_systems["created"]) == sorted(system.manifest.diamonds[r]["address"]
                                                    for r in ("master", "long", "short", "amm"))
    for role in ("usdc", "wbtc", "weth", "dex_a_factory", "dex_b_router", "dex_a_pair", "aave_pool", "aave_oracle",
                 "aave_feed:WBTC"):
        entry = system.manifest.contracts[role]
        assert entry["address"] == upstream.manifest.contracts[role]["address"], role
        assert entry["external"] and entry["source"], role
    assert system.manifest.venues["existing"]["file"] == str(two_systems["path"])


def test_diamonds_point_at_the_existing_venues(two_systems, project):
    c, up = two_systems["system"].contracts, two_systems["upstream"].contracts
    arb = project.ArbitrageFacet.at(c["amm"].address)
    assert tuple(str(a) for a in arb.arbitragePairs()) == tuple(
        str(up[k].address) for k in ("dex_a_pair", "dex_b_pair", "wbtc"))
    positions = project.StrikePositionsFacet.at(c["long"].address)
    assert str(positions.strikePool()) == str(up["aave_pool"].address)
    assert int(project.TreasuryFacet.at(c["master"].address).totalDeposited()) == existing.treasury_need(
        two_systems["config"])


def test_short_usdc_is_refused_before_anything_is_sent(two_systems):
    message, sent = two_systems["refused"]
    assert sent == 0 and "\n" not in message and "holds 0.00 USDC" in message and "lower --bots/--capital" in message


def test_rerun_sends_nothing_and_keeps_the_venues(two_systems, owner):
    again = deploy_system(owner, two_systems["config"])  # no --venues: the recorded system's kind
    assert again.transactions == 0
    with pytest.raises(VenuesError, match="was deployed on existing venues"):
        deploy_system(owner, two_systems["config"], venues="sandbox")


def test_keeper_trades_a_v2_v2_gap_on_the_existing_pairs(two_systems, owner, keeper, chain):
    from macrostrike.keeper.arbitrage import ArbitrageJob
    from macrostrike.keeper.context import AmmContext
    from macrostrike.keeper.journal import Journal
    from macrostrike.keeper.settings import KeeperSettings
    from macrostrike.keeper.signers import SignerPool
    from macrostrike.keeper.txsender import TxSender

    system = two_systems["system"]
    settings = KeeperSettings()
    ctx = AmmContext(system.manifest)
    journal = Journal()
    pool = SignerPool([TxSender(keeper, priority_fee_wei=settings.priority_fee_wei, error_table=ctx.errors,
                                journal=journal)], max_ops=None)
    job = ArbitrageJob(ctx, pool, settings, journal)
    push_price_up(two_systems["upstream"], owner, fraction=50)
    decisions = job.tick() + job.flush()
    mined = [d for d in decisions if d.reason == "mined"]
    assert mined, [d.reason for d in decisions]
    assert all(d.bot_id in (1, 2) for d in mined)


def test_one_v2_dex_leaves_arbitrage_unset_and_the_keeper_says_so(two_systems, owner, chain, project, tmp_path):
    """A venues file with one V2 DEX and no Uniswap V3: the AMM child's pairs stay unset,
    and `ape keeper run` stops with one line instead of a missing-role error."""
    import os

    from ops_helpers import ape, assert_one_line_error

    venues = existing.venues_of(two_systems["upstream"].manifest, "one DEX")
    entry = venues["chains"]["31337"]
    entry["v2_dexes"] = entry["v2_dexes"][:1]
    path = tmp_path / "one-dex.json"
    path.write_text(json.dumps(venues))
    config = DeployConfig(amm_bots=1, capital_per_bot_usd=100)
    two_systems["upstream"].contracts["usdc"].mint(owner.address, existing.treasury_need(config), sender=owner)
    lines = []
    system = deploy_system(owner, config, lines.append, new_system=True, venues=str(path))
    assert any("arbitrage pairs are left unset" in line for line in lines)
    zero = "0x0000000000000000000000000000000000000000"
    assert [str(a) for a in project.ArbitrageFacet.at(system.manifest.address("amm")).arbitragePairs()] == [zero] * 3
    env = {"MACROSTRIKE_DEPLOYMENTS": os.environ["MACROSTRIKE_DEPLOYMENTS"]}
    proc = ape("keeper", "run", "--network", chain.provider.uri, "--blocks", "1", "--dry-run",
               "--journal", f"sqlite:///{tmp_path}/journal.sqlite", env=env)
    assert_one_line_error(proc, "needs two among V2 DEX A, V2 DEX B and Uniswap V3", "uniswap_v3 entry")
