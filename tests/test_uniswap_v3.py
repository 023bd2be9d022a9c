"""Uniswap V3 in the sandbox: npm artifacts as shipped (pool init code hash), the seeded USDC/WBTC
0.05 % pool, tick crossings, the tick maths port and the keeper's QuoterV2 quotes, on Anvil."""

from __future__ import annotations

import dataclasses
import json
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from macrostrike.amm import v3math
from macrostrike.amm.v3 import V3Quoter
from macrostrike.deploy import venues
from macrostrike.deploy.manifest import ManifestError, load, manifest_path
from macrostrike.deploy.system import DeployConfig, deploy_system

#: The seeded pool's price must equal the intended one to this relative tolerance (sqrtPriceX96 is
#: floor(sqrt(p) * 2**96): the rounding alone is ~1e-25; a wrong decimal or token order is >= 1e-2).
PRICE_TOLERANCE = Fraction(1, 10**12)
CONFIG = DeployConfig(amm_bots=1, capital_per_bot_usd=100, treasury_reserve_usd=0, uniswap_v3=True)


@pytest.fixture(scope="module")
def system(accounts):
    """A system deployed without V3, then the same deploy with ``uniswap_v3=True`` (adds only V3)."""
    before = deploy_system(accounts[0], dataclasses.replace(CONFIG, uniswap_v3=False))
    assert "uniswap_v3" not in before.manifest.venues and "v3_factory" not in before.contracts
    after = deploy_system(accounts[0], CONFIG)
    for role in ("master", "amm", "dex_a_pair", "usdc", "wbtc"):
        assert after.manifest.address(role) == before.manifest.address(role)
    return after


@pytest.fixture(scope="module")
def usdc_is_token0(system):
    c = system.contracts
    return int(str(c["usdc"].address), 16) < int(str(c["wbtc"].address), 16)


def _pool_address(factory: str, token_a: str, token_b: str, fee: int, init_code_hash: str) -> str:
    """``PoolAddress.computeAddress`` of v3-periphery: CREATE2(factory, keccak(token0, token1, fee), hash)."""
    token0, token1 = sorted((token_a, token_b), key=lambda a: int(a, 16))
    salt = keccak(encode(["address", "address", "uint24"], [token0, token1, fee]))
    digest = keccak(b"\xff" + bytes.fromhex(factory[2:]) + salt + bytes.fromhex(init_code_hash[2:]))
    return to_checksum_address(digest[12:])


def test_pool_init_code_hash_is_the_peripherys(system, chain):
    pool_type = venues.load_contract_type("UniswapV3Pool")
    creation = pool_type.deployment_bytecode.bytecode
    assert venues.check_init_code_hash("UniswapV3Pool", creation) == venues.UNISWAP_V3_POOL_INIT_CODE_HASH
    # the constant is the periphery's own: its source as shipped, and its deployed runtime code
    source = (venues.node_modules_dir() / "@uniswap/v3-periphery/contracts/libraries/PoolAddress.sol").read_text()
    assert f"POOL_INIT_CODE_HASH = {venues.UNISWAP_V3_POOL_INIT_CODE_HASH}" in source
    c = system.contracts
    for role in ("v3_router", "v3_quoter", "v3_position_manager"):
        code = bytes(chain.provider.web3.eth.get_code(c[role].address))
        assert bytes.fromhex(venues.UNISWAP_V3_POOL_INIT_CODE_HASH[2:]) in code, role
    # and the factory's CREATE2 pool is where the periphery computes it
    expected = _pool_address(str(c["v3_factory"].address), str(c["usdc"].address), str(c["wbtc"].address),
                             venues.V3_FEE, venues.UNISWAP_V3_POOL_INIT_CODE_HASH)
    assert str(c["v3_pool"].address) == expected


def test_wrong_init_code_hash_is_refused_in_one_line(tmp_path, monkeypatch):
    creation = venues.load_contract_type("UniswapV3Pool").deployment_bytecode.bytecode
    with pytest.raises(venues.ArtifactError) as err:
        venues.check_init_code_hash("UniswapV3Pool", creation, expected="0x" + "11" * 32)
    assert "\n" not in str(err.value) and "reinstall @uniswap/v3-core 1.0.1 with `npm ci`" in str(err.value)
    # a recompiled pool artifact in node_modules is refused when loaded
    real = venues.node_modules_dir() / venues.ARTIFACTS["UniswapV3Pool"]
    fake = tmp_path / venues.ARTIFACTS["UniswapV3Pool"]
    fake.parent.mkdir(parents=True)
    artifact = json.loads(real.read_text())
    artifact["bytecode"] += "00"
    fake.write_text(json.dumps(artifact))
    monkeypatch.setattr(venues, "node_modules_dir", lambda: tmp_path)
    venues.load_contract_type.cache_clear()
    try:
        with pytest.raises(venues.ArtifactError, match=r"^UniswapV3Pool init code hash is 0x[0-9a-f]{64}, expected "
                                                       r"0xe34f199b.*reinstall @uniswap/v3-core") as err:
            venues.load_contract_type("UniswapV3Pool")
        assert "\n" not in str(err.value)
    finally:
        venues.load_contract_type.cache_clear()


def test_tick_maths_constants():
    assert v3math.get_sqrt_ratio_at_tick(v3math.MIN_TICK) == v3math.MIN_SQRT_RATIO
    assert v3math.get_sqrt_ratio_at_tick(v3math.MAX_TICK) == v3math.MAX_SQRT_RATIO
    assert v3math.get_sqrt_ratio_at_tick(0) == 2**96
    assert v3math.get_tick_at_sqrt_ratio(v3math.MIN_SQRT_RATIO) == v3math.MIN_TICK
    assert v3math.get_tick_at_sqrt_ratio(v3math.MAX_SQRT_RATIO - 1) == v3math.MAX_TICK - 1
    for bad in (v3math.MIN_TICK - 1, v3math.MAX_TICK + 1):
        with pytest.raises(ValueError, match="^T$"):
            v3math.get_sqrt_ratio_at_tick(bad)


@settings(max_examples=300, deadline=None)
@given(st.integers(v3math.MIN_TICK + 1, v3math.MAX_TICK - 1))
def test_tick_maths_round_trip(tick):
    ratio = v3math.get_sqrt_ratio_at_tick(tick)
    assert v3math.get_sqrt_ratio_at_tick(tick - 1) < ratio < v3math.get_sqrt_ratio_at_tick(tick + 1)
    assert v3math.get_tick_at_sqrt_ratio(ratio) == tick
    assert v3math.get_tick_at_sqrt_ratio(ratio - 1) == tick - 1


@pytest.mark.parametrize("usdc_is_token0", [True, False])
def test_position_plan_is_concentrated_around_the_price(usdc_is_token0):
    price = 2_500.0
    tick = v3math.get_tick_at_sqrt_ratio(v3math.sqrt_price_x96(v3math.raw_price(price, usdc_is_token0)))
    plan = venues.v3_position_plan(price, usdc_is_token0, 2_000_000)
    assert len({(p.tick_lower, p.tick_upper) for p in plan}) == len(venues.V3_POSITIONS) >= 3
    for position in plan:
        assert position.tick_lower % 10 == 0 and position.tick_upper % 10 == 0
        assert position.tick_lower < tick < position.tick_upper
    assert sum(p.amount_usdc for p in plan) == 2_000_000 * 10**6
    # a range narrower than the spacing still gets one spacing
    (narrow,) = venues.v3_position_plan(price, usdc_is_token0, 1_000, positions=((-0.001, 0.001, 1.0),))
    assert narrow.tick_upper - narrow.tick_lower == 10


@pytest.mark.parametrize("fee, tick", [(3000, -69082), (10000, 193380)])
def test_tick_maths_matches_the_pool(system, accounts, project, fee, tick):
    """The pool's own TickMath: initialize at getSqrtRatioAtTick(t) gives slot0.tick == t, and a
    price one unit below lands on t - 1 (so both directions of the port agree with the contract)."""
    owner, c = accounts[0], system.contracts
    factory = c["v3_factory"]
    pools = []
    for _ in range(2):  # two pools of fresh tokens: a pool is initialized only once
        a = owner.deploy(project.TestToken, "A", "A", 18, owner)
        b = owner.deploy(project.TestToken, "B", "B", 18, owner)
        factory.createPool(a.address, b.address, fee, sender=owner)
        pools.append(venues.at("UniswapV3Pool", factory.getPool(a.address, b.address, fee)))
    ratio = v3math.get_sqrt_ratio_at_tick(tick)
    pools[0].initialize(ratio, sender=owner)
    pools[1].initialize(ratio - 1, sender=owner)
    assert int(pools[0].slot0().tick) == tick == v3math.get_tick_at_sqrt_ratio(ratio)
    assert int(pools[1].slot0().tick) == tick - 1 == v3math.get_tick_at_sqrt_ratio(ratio - 1)


def test_seeded_pool_price_and_concentrated_positions(system, accounts, usdc_is_token0):
    c, owner = system.contracts, accounts[0]
    pool, npm = c["v3_pool"], c["v3_position_manager"]
    slot0 = pool.slot0()
    price = v3math.human_price(int(slot0.sqrtPriceX96), usdc_is_token0)
    intended = Fraction(str(CONFIG.initial_price_usd))
    assert abs(price - intended) / intended < PRICE_TOLERANCE
    assert int(slot0.tick) == v3math.get_tick_at_sqrt_ratio(int(slot0.sqrtPriceX96))
    count = int(npm.balanceOf(owner))
    assert count == len(venues.V3_POSITIONS)
    ranges = set()
    for i in range(count):
        position = npm.positions(npm.tokenOfOwnerByIndex(owner, i))
        assert int(position.liquidity) > 0 and int(position.fee) == venues.V3_FEE
        lower, upper = int(position.tickLower), int(position.tickUpper)
        assert lower < int(slot0.tick) < upper and upper - lower < 2 * 10_000  # around the price, not full range
        assert pool.ticks(lower).initialized and pool.ticks(upper).initialized
        ranges.add((lower, upper))
    assert len(ranges) == count
    # the pool's active liquidity is the sum of every position's (all contain the price)
    total = sum(int(npm.positions(npm.tokenOfOwnerByIndex(owner, i)).liquidity) for i in range(count))
    assert int(pool.liquidity()) == total
    manifest = load(manifest_path(system.manifest.chain_id))
    recorded = manifest.venues["uniswap_v3"]
    assert recorded["quoter"] == str(c["v3_quoter"].address)
    assert recorded["pools"][f"USDC/WBTC/{venues.V3_FEE}"] == str(pool.address)


def _swap(system, owner, amount_in: int):
    """USDC -> WBTC through SwapRouter.exactInputSingle; returns the WBTC received."""
    c = system.contracts
    router = c["v3_router"]
    c["usdc"].mint(owner, amount_in, sender=owner)
    c["usdc"].approve(router.address, amount_in, sender=owner)
    before = int(c["wbtc"].balanceOf(owner))
    router.exactInputSingle((c["usdc"].address, c["wbtc"].address, venues.V3_FEE, owner.address, 2**64,
                             amount_in, 0, 0), sender=owner)
    return int(c["wbtc"].balanceOf(owner)) - before


def test_swap_crosses_initialized_ticks_and_quote_equals_router_output(system, accounts, chain, usdc_is_token0):
    c, owner = system.contracts, accounts[0]
    pool, npm = c["v3_pool"], c["v3_position_manager"]
    bounds = set()
    for i in range(int(npm.balanceOf(owner))):
        position = npm.positions(npm.tokenOfOwnerByIndex(owner, i))
        bounds |= {int(position.tickLower), int(position.tickUpper)}
    amount = int(CONFIG.pool_usd * 0.5 * 10**6)  # $1M of USDC: buys BTC through the ±0.5 % position's bounds
    quoter = V3Quoter.from_manifest(chain.provider.web3, load(manifest_path(system.manifest.chain_id)))
    small, big = quoter.quote_exact_input_single(str(c["usdc"].address), str(c["wbtc"].address), venues.V3_FEE,
                                                 [10**6, amount])
    assert small.error is None and big.error is None and small.amount_out > 0
    snapshot = chain.snapshot()
    try:
        tick_before = int(pool.slot0().tick)
        received = _swap(system, owner, amount)
        tick_after = int(pool.slot0().tick)
    finally:
        chain.restore(snapshot)
    crossed = {t for t in bounds if min(tick_before, tick_after) < t <= max(tick_before, tick_after)}
    assert crossed, (tick_before, tick_after, sorted(bounds))
    # USDC in: the BTC price rises, so the tick moves down when USDC is token0 (price = WBTC per USDC)
    assert (tick_after < tick_before) == usdc_is_token0
    assert big.ticks_crossed >= len(crossed) >= 1
    assert big.amount_out == received
    # the tick maths port agrees with the pool on the quoted price after the swap
    assert v3math.get_tick_at_sqrt_ratio(big.sqrt_price_x96_after) == tick_after
    assert big.sqrt_price_x96_after != int(pool.slot0().sqrtPriceX96)  # restored: the swap is undone


def test_quote_of_an_empty_pool_is_an_error_not_an_exception(system, accounts, chain, project):
    owner, c = accounts[0], system.contracts
    token = owner.deploy(project.TestToken, "C", "C", 18, owner)
    quoter = V3Quoter(chain.provider.web3, str(c["v3_quoter"].address))
    (quote,) = quoter.quote_exact_input_single(str(token.address), str(c["usdc"].address), venues.V3_FEE, [10**18])
    assert quote.amount_out == 0 and quote.error
    # one reverted quote in a batch (amount 0: the pool's 'AS') does not lose the others
    zero, one = quoter.quote_exact_input_single(str(c["usdc"].address), str(c["wbtc"].address), venues.V3_FEE,
                                                [0, 10**6])
    assert zero.error and zero.amount_out == 0
    assert one.error is None and one.amount_out > 0


def test_quoter_from_a_manifest_without_v3_is_one_line(system):
    manifest = load(manifest_path(system.manifest.chain_id))
    manifest.venues = {}
    with pytest.raises(ManifestError, match="^the deployment manifest records no Uniswap V3 venue") as err:
        V3Quoter.from_manifest(None, manifest)
    assert "\n" not in str(err.value)


def test_redeploy_sends_nothing(system, accounts):
    again = deploy_system(accounts[0], CONFIG)
    assert again.transactions == 0
    assert str(again.contracts["v3_pool"].address) == str(system.contracts["v3_pool"].address)
