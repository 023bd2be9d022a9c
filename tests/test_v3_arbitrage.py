"""VenueArbitrageFacet: V2↔V3 arbitrage on the AMM diamond (issue 13 §1) against the sandbox's
Uniswap V3 USDC/WBTC 0.05 % pool (npm artifacts), on Anvil.

Profit is checked against QuoterV2 (the protocol's own quote of the V3 leg) and the V2 formula; the
callback's guards (configured pool only, only during the facet's own swap) and the diamond-wide
re-entrancy lock are attacked with a fake pool, an impersonated real pool and a callback token.
"""

from __future__ import annotations

import copy
import dataclasses

from fractions import Fraction

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector

from macrostrike.amm.v2math import get_amount_out
from macrostrike.amm.v3 import V3Quoter
from macrostrike.deploy import drift, venues
from macrostrike.deploy.system import DeployConfig, deploy_system
from macrostrike.keeper import v3arb
from macrostrike.keeper.arbitrage import ArbitrageJob
from macrostrike.keeper.context import AmmContext
from macrostrike.keeper.journal import Journal
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.txsender import TxSender
from revert_helpers import reverts_named

USDC, WBTC = 10**6, 10**8
CONFIG = DeployConfig(amm_bots=2, capital_per_bot_usd=20_000, treasury_reserve_usd=0, pool_usd=2_000_000,
                      initial_price_usd=30_000.0, uniswap_v3=True)


@pytest.fixture(scope="module")
def system(accounts, keeper):
    return deploy_system(accounts[0], dataclasses.replace(CONFIG, keepers=(str(keeper.address),)))


@pytest.fixture(scope="module")
def venue(system, project):
    return project.VenueArbitrageFacet.at(system.manifest.address("amm"))


@pytest.fixture(scope="module")
def quoter(system, chain):
    return V3Quoter.from_manifest(chain.provider.web3, system.manifest)


def _pair_reserves(pair, usdc) -> tuple[int, int]:
    """(USDC, WBTC) reserves of a V2 pair."""
    r0, r1, _ = pair.getReserves()
    return (r0, r1) if str(pair.token0()) == str(usdc.address) else (r1, r0)


def _dislocate(system, owner, token: str, share: float) -> None:
    """Mint ``share`` of DEX A's ``token`` reserve into the pair and sync: that token gets cheaper there."""
    c = system.contracts
    pair, tok = c["dex_a_pair"], c[token]
    tok.mint(pair.address, int(tok.balanceOf(pair.address) * share), sender=owner)
    pair.sync(sender=owner)


def test_deploy_cuts_the_facet_and_sets_the_venue(system, venue, project):
    factory, fee, pool = venue.v3Venue()
    c = system.contracts
    assert (str(factory), int(fee), str(pool)) == (str(c["v3_factory"].address), venues.V3_FEE, str(c["v3_pool"].address))
    assert "VenueArbitrageFacet" in system.manifest.diamonds["amm"]["facets"]


def test_a_deploy_without_the_flag_keeps_the_v3_facet(system, accounts, keeper, venue):
    """Deploying again without uniswap_v3 (a script or `ape run deploy` without --uniswap-v3) cuts nothing out."""
    before = venue.v3Venue()
    again = deploy_system(accounts[0], dataclasses.replace(CONFIG, uniswap_v3=False, keepers=(str(keeper.address),)))
    assert again.transactions == 0
    assert "VenueArbitrageFacet" in again.manifest.diamonds["amm"]["facets"] and venue.v3Venue() == before


def test_the_deploy_flag_is_an_applicable_difference_on_a_v2_only_system(system, project):
    v2_only = copy.deepcopy(system.manifest)
    v2_only.venues.pop("uniswap_v3")
    diffs = drift.compare(project, v2_only, CONFIG)
    [diff] = [d for d in diffs if d.field == "uniswap_v3"]
    assert diff.applicable and diff.line().startswith("--uniswap-v3: chain no Uniswap V3 venue")
    assert not [d for d in drift.compare(project, system.manifest, CONFIG) if d.field == "uniswap_v3"]


def test_buy_on_v2_sell_on_v3(system, venue, keeper, owner, quoter):
    """WBTC cheap on DEX A: buy it there, sell on V3; the profit is what the V2 formula and QuoterV2 promise."""
    c = system.contracts
    _dislocate(system, owner, "wbtc", 0.02)
    amount_in = 5_000 * USDC
    quote_r, base_r = _pair_reserves(c["dex_a_pair"], c["usdc"])
    base = get_amount_out(amount_in, quote_r, base_r)
    expected_out = quoter.quote_exact_input_single(c["wbtc"].address, c["usdc"].address, venues.V3_FEE, [base])[0].amount_out
    assert expected_out > amount_in  # a real gap, not a test of a loss
    amm = c["amm"].address
    cap_before, usdc_before = _capital(system, 1), c["usdc"].balanceOf(amm)
    receipt = venue.executeV3Arbitrage(1, True, True, amount_in, 1, sender=keeper)
    [event] = receipt.decode_logs(venue.ArbitrageExecuted)
    assert (event.buyPair, event.sellPair) == (c["dex_a_pair"].address, c["v3_pool"].address)
    assert (event.baseAmount, event.amountOut, event.profit) == (base, expected_out, expected_out - amount_in)
    assert _capital(system, 1) == cap_before + event.profit
    assert c["usdc"].balanceOf(amm) == usdc_before + event.profit  # bot capital in, more out: nothing else moved
    assert c["wbtc"].balanceOf(amm) == 0


def test_buy_on_v3_sell_on_v2(system, venue, keeper, owner, quoter):
    """WBTC dear on DEX A (USDC minted into it): buy on V3 with the bot's USDC, sell on DEX A."""
    c = system.contracts
    _dislocate(system, owner, "usdc", 0.02)
    amount_in = 5_000 * USDC
    base = quoter.quote_exact_input_single(c["usdc"].address, c["wbtc"].address, venues.V3_FEE, [amount_in])[0].amount_out
    quote_r, base_r = _pair_reserves(c["dex_a_pair"], c["usdc"])
    expected_out = get_amount_out(base, base_r, quote_r)
    assert expected_out > amount_in
    receipt = venue.executeV3Arbitrage(2, True, False, amount_in, 1, sender=keeper)
    [event] = receipt.decode_logs(venue.ArbitrageExecuted)
    assert (event.buyPair, event.sellPair) == (c["v3_pool"].address, c["dex_a_pair"].address)
    assert (event.baseAmount, event.amountOut, event.profit) == (base, expected_out, expected_out - amount_in)
    assert c["wbtc"].balanceOf(c["amm"].address) == 0


def test_pair_b_is_the_v2_leg_when_asked(system, venue, keeper, owner):
    """onPairA=False trades DEX B's pair (balanced with V3): a round trip at a loss, refused by minProfit 0."""
    with reverts_named("InsufficientProfit", minProfit=0):
        venue.executeV3Arbitrage(1, False, True, 1_000 * USDC, 0, sender=keeper)


def test_min_profit_above_the_gap_reverts(system, venue, keeper, owner, quoter):
    c = system.contracts
    _dislocate(system, owner, "wbtc", 0.02)
    amount_in = 5_000 * USDC
    quote_r, base_r = _pair_reserves(c["dex_a_pair"], c["usdc"])
    base = get_amount_out(amount_in, quote_r, base_r)
    out = quoter.quote_exact_input_single(c["wbtc"].address, c["usdc"].address, venues.V3_FEE, [base])[0].amount_out
    with reverts_named("InsufficientProfit", realised=out - amount_in, minProfit=out - amount_in + 1):
        venue.executeV3Arbitrage(1, True, True, amount_in, out - amount_in + 1, sender=keeper)


def test_only_the_bots_capital(system, venue, keeper):
    capital = _capital(system, 1)
    with reverts_named("InsufficientBotCapital", botId=1, capital=capital, requested=capital + 1):
        venue.executeV3Arbitrage(1, True, True, capital + 1, 0, sender=keeper)


def test_a_stranger_cannot_trade_or_configure(system, venue, stranger, owner):
    with reverts_named("NotKeeper"):
        venue.executeV3Arbitrage(1, True, True, USDC, 0, sender=stranger)
    with reverts_named("NotContractOwner"):
        venue.setV3Venue(system.contracts["v3_factory"].address, venues.V3_FEE, sender=stranger)


def test_a_venue_whose_pool_is_not_the_computed_one_is_refused(system, venue, owner):
    c = system.contracts
    with reverts_named("InvalidV3Venue", fee=3000):  # no 0.3 % pool in the factory
        venue.setV3Venue(c["v3_factory"].address, 3000, sender=owner)
    with reverts_named("InvalidV3Venue"):  # a V2 factory has no getPool(address,address,uint24)
        venue.setV3Venue(c["dex_a_factory"].address, venues.V3_FEE, sender=owner)
    receipt = venue.setV3Venue(c["v3_factory"].address, venues.V3_FEE, sender=owner)
    [event] = receipt.decode_logs(venue.V3VenueSet)
    assert (event.factory, event.fee, event.pool) == (c["v3_factory"].address, venues.V3_FEE, c["v3_pool"].address)


def test_a_fake_pool_calling_the_callback_reverts(system, venue, owner, project):
    fake = owner.deploy(project.FakeV3Pool)
    with reverts_named("UnexpectedCallback", caller=fake.address):
        fake.poke(venue.address, 10**6, 10**6, sender=owner)


def test_the_real_pool_calling_back_outside_an_arbitrage_reverts(system, venue, chain, accounts):
    """Even the configured pool is refused when no swap of the facet is in progress (transient record)."""
    pool = str(system.contracts["v3_pool"].address)
    web3 = chain.provider.web3
    web3.provider.make_request("anvil_setBalance", [pool, hex(10**18)])
    impersonated = accounts[pool]
    usdc = system.contracts["usdc"]
    before = usdc.balanceOf(pool)
    with reverts_named("UnexpectedCallback", caller=pool):
        venue.uniswapV3SwapCallback(10**9, 10**9, b"", sender=impersonated)
    assert usdc.balanceOf(pool) == before


# -- the keeper: V2↔V3 decisions ----------------------------------------------------------------------
def _job(system, keeper, send=True):
    settings = KeeperSettings()
    journal = Journal()
    ctx = AmmContext(system.manifest)
    sender = TxSender(keeper, priority_fee_wei=settings.priority_fee_wei, error_table=ctx.errors, journal=journal,
                      max_fee_cap_wei=settings.fee_cap_wei())
    return ArbitrageJob(ctx, sender, settings, journal, send=send)


def test_search_finds_the_best_of_a_dense_scan(system, owner, chain):
    """The bounded search (20 quotes) gets within 0.5 % of the best of a 48-point scan of the same round trip."""
    c = system.contracts
    _dislocate(system, owner, "wbtc", 0.03)
    ctx = AmmContext(system.manifest)
    reserves = _pair_reserves(c["dex_a_pair"], c["usdc"])
    assert v3arb.direction(Fraction(*reserves), ctx.v3.price(chain.provider.web3), venues.V3_FEE) is True
    upper = 200_000 * USDC
    found = v3arb.search(ctx.v3, reserves, True, True, upper)
    assert found is not None and found.quotes <= v3arb.GRID + v3arb.REFINE
    scan = [upper * i // 48 for i in range(1, 49)]
    dense = max(out - x for x, (_, out) in zip(scan, v3arb._round_trips(ctx.v3, reserves, True, scan, "latest")))
    assert dense > 0 and found.gross >= dense * 0.995, (found, dense)
    assert found.amount_in < upper  # an interior optimum, not the bound


def test_keeper_trades_v2_v3_and_books_it(system, owner, keeper):
    """DEX A cheap, B and C (V3) at the seed price: the 0.35 % round trip A→C beats A→B (0.6 %); one V3
    trade per block, then A↔B rounds on the projected pools."""
    c = system.contracts
    _dislocate(system, owner, "wbtc", 0.02)
    job = _job(system, keeper)
    decisions = job.tick()
    submitted = [d for d in decisions if d.reason == "submitted"]
    assert submitted and submitted[0].detail["venues"] == "A-C"
    assert sum(1 for d in submitted if d.detail["venues"].count("C")) == 1
    mined = [d for d in job.flush() if d.reason == "mined"]
    assert len(mined) == len(submitted) and all(d.detail["realised_profit"] > 0 for d in mined)
    assert job.stats.by_venues.get("A-C") == 1 and len(job.stats.gas_per_trade_v3) == 1
    assert c["wbtc"].balanceOf(c["amm"].address) == 0


def test_v2_and_v3_compare_at_what_a_bot_can_spend(system, owner, keeper):
    """Bots smaller than both optima: the V2↔V2 gross at its (larger) optimum must not beat the V3 round
    trip bounded by the bots' capital — at $1,500 the 0.35 % route A→C pays more than A→B (0.6 %)."""
    _dislocate(system, owner, "wbtc", 0.02)
    job = _job(system, keeper, send=False)
    for bot in job.bots.values():
        bot.capital = 1_500 * USDC
    [decision] = [d for d in job.tick() if d.reason == "dry_run"]
    assert decision.detail["venues"] == "A-C" and decision.detail["amount_in"] == 1_500 * USDC


def test_no_v3_round_while_a_v3_trade_is_in_flight(system, owner, keeper, chain):
    _dislocate(system, owner, "wbtc", 0.02)
    job = _job(system, keeper)
    first = [d for d in job.tick() if d.reason == "submitted"]
    assert first[0].detail["venues"] == "A-C"
    _dislocate(system, owner, "wbtc", 0.02)  # a new gap while the first trade is not settled yet
    # decide() without the settlement tick() does first: the V3 intent is still open
    again = job.decide(chain.provider.web3.eth.get_block("latest"))
    assert again  # decided (A↔B on the projected pools), without a V3 round
    assert all("C" not in d.detail.get("venues", "") for d in again if d.reason == "submitted")
    job.flush()
    assert any(d.detail.get("venues") == "A-C" for d in job.tick() if d.reason == "submitted")  # settled: V3 again


# -- re-entrancy through the callback: a base token that calls the diamond from inside the V3 leg ----
CALLBACK = function_signature_to_4byte_selector("uniswapV3SwapCallback(int256,int256,bytes)")
EXECUTE_V3 = function_signature_to_4byte_selector("executeV3Arbitrage(uint256,bool,bool,uint256,uint256)")
EXECUTE_V2 = function_signature_to_4byte_selector("executeArbitrage(uint256,bool,uint256,uint256)")


@pytest.fixture
def hook_venues(system, owner, project, venue):
    """The AMM diamond re-pointed at USDC/HOOK pairs on DEX A and B and a USDC/HOOK V3 pool (full
    range), HOOK being a token that calls back into the diamond when the diamond transfers it."""
    c = system.contracts
    hook = owner.deploy(project.HookToken)
    pairs = []
    for dex in ("dex_a", "dex_b"):
        c[f"{dex}_factory"].createPair(c["usdc"].address, hook.address, sender=owner)
        pair = venues.at("UniswapV2Pair", c[f"{dex}_factory"].getPair(c["usdc"].address, hook.address))
        c["usdc"].mint(pair.address, 1_000_000 * USDC, sender=owner)
        hook.mint(pair.address, 10**12, sender=owner)
        pair.mint(owner.address, sender=owner)
        pairs.append(pair)
    factory = c["v3_factory"]
    factory.createPool(c["usdc"].address, hook.address, venues.V3_FEE, sender=owner)
    pool = venues.at("UniswapV3Pool", factory.getPool(c["usdc"].address, hook.address, venues.V3_FEE))
    pool.initialize(2**96, sender=owner)  # 1 raw unit of each per the other: the V2 pairs' price
    npm = c["v3_position_manager"]
    for token in (c["usdc"], hook):
        token.mint(owner.address, 10**12, sender=owner)
        token.approve(npm.address, 10**12, sender=owner)
    token0, token1 = sorted((str(c["usdc"].address), str(hook.address)), key=lambda a: int(a, 16))
    npm.mint((token0, token1, venues.V3_FEE, -887270, 887270, 10**12, 10**12, 0, 0, owner.address, 2**64), sender=owner)
    arb = project.ArbitrageFacet.at(c["amm"].address)
    arb.setArbitragePairs(pairs[0].address, pairs[1].address, hook.address, sender=owner)
    venue.setV3Venue(factory.address, venues.V3_FEE, sender=owner)
    return hook


@pytest.mark.parametrize("payload", [
    pytest.param(EXECUTE_V3 + encode(["uint256", "bool", "bool", "uint256", "uint256"], [1, True, True, 10**6, 0]),
                 id="executeV3Arbitrage"),
    pytest.param(EXECUTE_V2 + encode(["uint256", "bool", "uint256", "uint256"], [1, True, 10**6, 0]),
                 id="executeArbitrage"),
])
def test_reentry_from_inside_the_callback_hits_the_diamond_lock(hook_venues, venue, keeper, payload):
    hook_venues.arm(venue.address, payload, sender=keeper)
    with reverts_named("ReentrancyGuardReentrantCall"):
        venue.executeV3Arbitrage(1, True, True, 1_000 * USDC, 0, sender=keeper)


def test_a_second_callback_inside_the_swap_is_refused(hook_venues, venue, keeper):
    """The pool's callback is accepted once: a nested uniswapV3SwapCallback (here from the token) is refused."""
    payload = CALLBACK + encode(["int256", "int256", "bytes"], [10**6, 10**6, b""])
    hook_venues.arm(venue.address, payload, sender=keeper)
    with reverts_named("UnexpectedCallback", caller=hook_venues.address):
        venue.executeV3Arbitrage(1, True, True, 1_000 * USDC, 0, sender=keeper)


def test_without_the_hook_the_same_trade_runs(hook_venues, venue, keeper):
    """Control for the two tests above: unarmed, the same call gets to the profit check (no gap: a loss)."""
    with reverts_named("InsufficientProfit", minProfit=0):
        venue.executeV3Arbitrage(1, True, True, 1_000 * USDC, 0, sender=keeper)


def _capital(system, bot_id: int) -> int:
    from ape import project

    return int(project.BotRegistryFacet.at(system.manifest.address("amm")).bot(bot_id)[1])
