"""`--venues FILE` with a Uniswap V3 entry (issue 13 §2 with §1): a first (sandbox) system with Uniswap V3
gives its tokens, ONE V2 DEX and its V3 factory/QuoterV2/router to a venues file (as the address book has
per chain: one V2 DEX plus V3); a second system deployed with it finds the USDC/WBTC pool through the
factory, wires the V2↔V3 facet to it without deploying any venue, and its keeper trades a gap between DEX A
and the V3 pool (DEX C). A fee tier without a pool is one log line and, with ``--uniswap-v3``, a refusal."""

from __future__ import annotations

import json
import os

import pytest

from macrostrike.deploy import existing
from macrostrike.deploy.addressbook import VenuesError
from macrostrike.deploy.system import DeployConfig, deploy_system
from market_helpers import push_price_up
from revert_helpers import reverts_named

pytestmark = pytest.mark.slow  # two systems, one with a seeded V3 pool, and a keeper subprocess (~60 s)

ZERO = "0x0000000000000000000000000000000000000000"
CONFIG = dict(amm_bots=2, long_bots=0, short_bots=0, capital_per_bot_usd=20_000, treasury_reserve_usd=0,
              pool_usd=2_000_000, initial_price_usd=30_000.0)


def one_dex_file(upstream, tmp_path, **v3_extra) -> str:
    """A venues file of ``upstream``'s tokens, its DEX A only, and its Uniswap V3 (plus ``v3_extra``)."""
    venues = existing.venues_of(upstream.manifest, "one V2 DEX plus V3")
    entry = venues["chains"]["31337"]
    entry["v2_dexes"] = entry["v2_dexes"][:1]
    entry["uniswap_v3"].update(v3_extra)
    path = tmp_path / f"one-dex-v3{''.join(f'-{k}{v}' for k, v in v3_extra.items())}.json"
    path.write_text(json.dumps(venues, indent=2))
    return str(path)


@pytest.fixture(scope="module")
def systems(owner, keeper, chain, tmp_path_factory):
    keepers = (str(keeper.address),)
    upstream = deploy_system(owner, DeployConfig(**CONFIG, uniswap_v3=True, keepers=keepers), new_system=True)
    path = one_dex_file(upstream, tmp_path_factory.mktemp("venues"))
    config = DeployConfig(**CONFIG, keepers=keepers)
    upstream.contracts["usdc"].mint(owner.address, existing.treasury_need(config), sender=owner)
    web3 = chain.provider.web3
    first = web3.eth.block_number + 1
    lines: list[str] = []
    system = deploy_system(owner, config, lines.append, new_system=True, venues=path)
    created = [web3.eth.get_transaction_receipt(tx["hash"])["contractAddress"]
               for n in range(first, web3.eth.block_number + 1)
               for tx in web3.eth.get_block(n, full_transactions=True)["transactions"]
               if tx["from"] == owner.address and tx["to"] is None]
    return {"upstream": upstream, "system": system, "path": path, "lines": lines, "created": created, "config": config}


def test_v3_pool_is_wired_from_the_venues_file_without_deploying_it(systems, project):
    system, up = systems["system"], systems["upstream"]
    assert sorted(systems["created"]) == sorted(system.manifest.diamonds[r]["address"]
                                                for r in ("master", "long", "short", "amm"))
    v3, up_v3 = system.manifest.venues["uniswap_v3"], up.manifest.venues["uniswap_v3"]
    assert v3["pools"] == up_v3["pools"] == {"USDC/WBTC/500": up.manifest.address("v3_pool")}
    assert (v3["factory"], v3["quoter"], v3["init_code_hash"]) == (up_v3["factory"], up_v3["quoter"], up_v3["init_code_hash"])
    assert v3["external"] and v3["source"] == systems["path"]
    for role in ("v3_factory", "v3_quoter", "v3_router", "v3_pool"):
        entry = system.manifest.contracts[role]
        assert entry["external"] and entry["address"] == up.manifest.contracts[role]["address"], role
    amm = system.manifest.address("amm")
    assert "VenueArbitrageFacet" in system.manifest.diamonds["amm"]["facets"]
    factory, fee, pool = project.VenueArbitrageFacet.at(amm).v3Venue()
    assert (str(factory), int(fee), str(pool)) == (up_v3["factory"], 500, up.manifest.address("v3_pool"))
    # one V2 DEX: pair A alone, the V3 pool is the second venue
    assert [str(a) for a in project.ArbitrageFacet.at(amm).arbitragePairs()] == [
        up.manifest.address("dex_a_pair"), ZERO, up.manifest.address("wbtc")]
    assert any("Uniswap V3 USDC/WBTC pool of fee 500" in line for line in systems["lines"])


def test_keeper_trades_dex_a_against_the_v3_pool(systems, owner, keeper):
    from macrostrike.keeper.arbitrage import ArbitrageJob
    from macrostrike.keeper.context import AmmContext
    from macrostrike.keeper.journal import Journal
    from macrostrike.keeper.settings import KeeperSettings
    from macrostrike.keeper.signers import SignerPool
    from macrostrike.keeper.txsender import TxSender

    settings = KeeperSettings()
    ctx = AmmContext(systems["system"].manifest)
    journal = Journal()
    pool = SignerPool([TxSender(keeper, priority_fee_wei=settings.priority_fee_wei, error_table=ctx.errors,
                                journal=journal)], max_ops=None)
    job = ArbitrageJob(ctx, pool, settings, journal)
    push_price_up(systems["upstream"], owner, fraction=50)  # WBTC dearer on DEX A: buy on C, sell on A
    decisions = job.tick() + job.flush()
    mined = [d for d in decisions if d.reason == "mined"]
    assert mined, [(d.reason, d.detail) for d in decisions]
    assert job.stats.by_venues == {"C-A": len(mined)}


def test_keeper_run_starts_with_one_v2_dex_and_v3(systems, chain, tmp_path):
    from ops_helpers import ape

    proc = ape("keeper", "run", "--network", chain.provider.uri, "--blocks", "1", "--dry-run",
               "--journal", f"sqlite:///{tmp_path}/journal.sqlite",
               env={"MACROSTRIKE_DEPLOYMENTS": os.environ["MACROSTRIKE_DEPLOYMENTS"]})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_keeper_run_sends_a_v2_v3_arbitrage(systems, owner, accounts, chain, project, tmp_path):
    """`ape keeper run` (not a dry run) trades the DEX A / V3 gap: the journalled transaction calls
    executeV3Arbitrage on the AMM diamond and is mined."""
    from eth_utils import function_signature_to_4byte_selector

    from macrostrike.keeper.journal import Journal
    from ops_helpers import ape

    registry = project.BotRegistryFacet.at(systems["system"].manifest.address("amm"))
    for signer in accounts[2:4]:  # the keeper's default signers on a local chain: test accounts 1-3
        registry.setKeeper(signer.address, True, sender=owner)
    push_price_up(systems["upstream"], owner, fraction=50)  # WBTC dearer on DEX A: buy on C, sell on A
    journal_url = f"sqlite:///{tmp_path}/journal.sqlite"
    proc = ape("keeper", "run", "--network", chain.provider.uri, "--blocks", "1", "--journal", journal_url,
               env={"MACROSTRIKE_DEPLOYMENTS": os.environ["MACROSTRIKE_DEPLOYMENTS"]}, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = [r for r in Journal(journal_url).transactions() if r["job"] == "arbitrage"]
    assert rows, proc.stdout[-2000:]
    web3 = chain.provider.web3
    selector = function_signature_to_4byte_selector("executeV3Arbitrage(uint256,bool,bool,uint256,uint256)")
    for row in rows:
        tx = web3.eth.get_transaction(row["tx_hash"])
        assert tx["to"] == systems["system"].manifest.address("amm") and bytes(tx["input"])[:4] == selector
        receipt = web3.eth.wait_for_transaction_receipt(row["tx_hash"], timeout=30)
        assert receipt["status"] == 1
    # settled at exit ("mined"), or still "pending" when the automining node had not answered the receipt
    # yet (the next start settles it): never a wrong outcome
    assert {r["status"] for r in rows} <= {"mined", "pending"}, (rows, proc.stdout[-2000:])


def test_rerun_sends_nothing_and_keeps_the_v3_venue(systems, owner):
    again = deploy_system(owner, systems["config"])  # no --venues: the recorded system's kind and its V3 pool
    assert again.transactions == 0
    assert again.manifest.venues["uniswap_v3"] == systems["system"].manifest.venues["uniswap_v3"]


def test_a_fee_tier_without_a_pool_is_one_line_and_refused_with_uniswap_v3(systems, owner, chain, tmp_path):
    path = one_dex_file(systems["upstream"], tmp_path, fee=3000)  # the upstream seeded the 500 tier only
    config = DeployConfig(amm_bots=1, capital_per_bot_usd=100, treasury_reserve_usd=0, uniswap_v3=True)
    nonce = chain.provider.web3.eth.get_transaction_count(owner.address)
    lines: list[str] = []
    with pytest.raises(VenuesError) as refused:
        deploy_system(owner, config, lines.append, new_system=True, venues=path)
    assert chain.provider.web3.eth.get_transaction_count(owner.address) == nonce  # nothing sent
    assert "\n" not in str(refused.value) and "--uniswap-v3 with existing venues" in str(refused.value)
    missing = [line for line in lines if "no USDC/WBTC pool" in line]
    assert missing == ["Uniswap V3 of one V2 DEX plus V3 (chain 31337) has no USDC/WBTC pool at fee tier(s) 3000: "
                       "V3 not used by the arbitrage bots"]


def test_set_v2_v3_pair_checks_owner_and_pair(systems, owner, keeper, stranger, project):
    up, amm = systems["upstream"].manifest, systems["system"].manifest.address("amm")
    venue = project.VenueArbitrageFacet.at(amm)
    pair, wbtc, weth = up.address("dex_a_pair"), up.address("wbtc"), up.address("weth")
    with reverts_named("NotContractOwner"):
        venue.setV2V3Pair(pair, wbtc, sender=stranger)
    with reverts_named("InvalidV2Pair", pair=pair):  # the pair trades USDC/WBTC, not USDC/WETH
        venue.setV2V3Pair(pair, weth, sender=owner)
    with reverts_named("InvalidV2Pair", pair=stranger.address):  # no code
        venue.setV2V3Pair(stranger.address, wbtc, sender=owner)
    with reverts_named("PairsNotSet"):  # no pair B: only DEX A trades against the V3 pool
        venue.executeV3Arbitrage(1, False, True, 10**6, 0, sender=keeper)
    receipt = venue.setV2V3Pair(pair, wbtc, sender=owner)  # the same again: allowed, one event
    [event] = receipt.decode_logs(venue.ArbitragePairsSet)
    assert (event.pairA, event.pairB, event.baseToken) == (pair, ZERO, wbtc)
