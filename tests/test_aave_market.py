"""The Aave V3 market deployed from npm @aave/core-v3 1.19.3: wiring, reserve parameters read back
through AaveProtocolDataProvider, price feeds, seeded liquidity, and the library linker."""

import time

import pytest

from aave_helpers import PRICES, SEED, deploy_seeded_market, reverts_with
from macrostrike.deploy import aave
from macrostrike.deploy.venues import ArtifactError


@pytest.fixture(scope="module")
def deployed(project, owner, accounts):
    start = time.monotonic()
    tokens, market = deploy_seeded_market(project, owner, accounts[2])
    return tokens, market, time.monotonic() - start


@pytest.fixture(scope="module")
def market(deployed):
    return deployed[1]


@pytest.fixture(scope="module")
def tokens(deployed):
    return deployed[0]


def test_provider_wiring(market, owner):
    provider = aave.aave_at("PoolAddressesProvider", market.provider)
    assert provider.getPool() == market.pool
    assert provider.getPoolConfigurator() == market.configurator
    assert provider.getPriceOracle() == market.oracle
    assert provider.getACLManager() == market.acl_manager
    assert provider.getPoolDataProvider() == market.data_provider
    assert provider.getMarketId() == aave.MARKET_ID
    acl = aave.aave_at("ACLManager", market.acl_manager)
    assert acl.isPoolAdmin(owner.address) and acl.isEmergencyAdmin(owner.address)
    pool = market.pool_contract()
    assert pool.ADDRESSES_PROVIDER() == market.provider
    assert pool.POOL_REVISION() == 1  # Aave V3.0.x Pool
    assert list(pool.getReservesList()) == [market.asset(s) for s in ("USDC", "WBTC", "WETH")]


def test_pool_runs_the_linked_npm_libraries(market):
    """The libraries are the npm bytecode, and Pool's code calls exactly those addresses."""
    from ape import chain

    web3 = chain.provider.web3
    for lib, address in market.libraries.items():
        raw = aave._raw_artifact(lib)
        code = bytes(web3.eth.get_code(address)).hex()
        # a library's runtime code starts with PUSH20 <own address>; compare the rest
        shipped = aave.link_bytecode(raw["deployedBytecode"], raw["deployedLinkReferences"], market.libraries)[2:]
        assert code[42:] == shipped[42:], lib
    pool_code = bytes(web3.eth.get_code(market.pool_impl)).hex()
    for lib in ("SupplyLogic", "BorrowLogic", "LiquidationLogic", "EModeLogic", "BridgeLogic", "PoolLogic",
                "FlashLoanLogic"):
        assert market.libraries[lib].lower()[2:] in pool_code, lib


@pytest.mark.parametrize("symbol", ["USDC", "WBTC", "WETH"])
def test_reserve_parameters_read_back(market, tokens, symbol):
    dp = market.data_provider_contract()
    p = aave.DEFAULT_RESERVE_PARAMS[symbol]
    asset = market.asset(symbol)
    (decimals, ltv, lt, bonus, reserve_factor, as_collateral, borrowing, stable_borrowing, active,
     frozen) = dp.getReserveConfigurationData(asset)
    assert decimals == tokens[symbol].decimals() == {"USDC": 6, "WBTC": 8, "WETH": 18}[symbol]
    assert (ltv, lt, bonus, reserve_factor) == (p.ltv_bps, p.liquidation_threshold_bps,
                                                10_000 + p.liquidation_bonus_bps, p.reserve_factor_bps)
    assert as_collateral and borrowing and active
    assert not stable_borrowing and not frozen
    assert dp.getLiquidationProtocolFee(asset) == p.liquidation_protocol_fee_bps
    assert dp.getPaused(asset) is False
    a_token, stable_debt, variable_debt = dp.getReserveTokensAddresses(asset)
    r = market.reserves[symbol]
    assert (a_token, stable_debt, variable_debt) == (r.a_token, r.stable_debt_token, r.variable_debt_token)
    at = aave.aave_at("AToken", a_token)
    assert at.UNDERLYING_ASSET_ADDRESS() == asset and at.symbol() == f"aMs{symbol}"
    assert at.decimals() == decimals and at.RESERVE_TREASURY_ADDRESS() == market.treasury
    strategy = aave.aave_at("DefaultReserveInterestRateStrategy", r.rate_strategy)
    assert strategy.OPTIMAL_USAGE_RATIO() == p.rate.optimal_usage_ratio
    assert strategy.getVariableRateSlope1() == p.rate.variable_rate_slope1
    assert strategy.getVariableRateSlope2() == p.rate.variable_rate_slope2
    assert strategy.getBaseVariableBorrowRate() == p.rate.base_variable_borrow_rate


def test_real_world_parameter_values():
    """The issue's Aave V3 Ethereum figures, in bps (a guard against a typo in the table)."""
    got = {s: (p.ltv_bps, p.liquidation_threshold_bps, p.liquidation_bonus_bps)
           for s, p in aave.DEFAULT_RESERVE_PARAMS.items()}
    assert got == {"WBTC": (7_300, 7_800, 500), "WETH": (8_050, 8_300, 500), "USDC": (7_700, 8_000, 450)}


def test_oracle_prices_and_set_price(market):
    oracle = market.oracle_contract()
    for symbol, usd in PRICES.items():
        assert oracle.getAssetPrice(market.asset(symbol)) == int(usd * 10**8)
        assert oracle.getSourceOfAsset(market.asset(symbol)) == market.feeds[symbol]
    assert oracle.BASE_CURRENCY_UNIT() == 10**8
    aave.set_price(market, "WBTC", "27123.45678901")
    assert oracle.getAssetPrice(market.asset("WBTC")) == 2_712_345_678_901
    assert aave.price_usd(market, "WBTC") == aave.Decimal("27123.45678901")


def test_feeds_are_owner_controlled(market, owner, accounts):
    """Issue 11 (M-4): the deployed feeds are owned by the deployer; anyone else's updateAnswer
    reverts and leaves the price alone; the owner's update is evented (Chainlink's AnswerUpdated)."""
    from ape import project

    from revert_helpers import reverts_named

    wbtc = market.asset("WBTC")
    feed = project.OwnedAggregator.at(market.feeds["WBTC"])
    assert feed.owner() == owner.address
    before = market.oracle_contract().getAssetPrice(wbtc)
    with reverts_named("OwnableUnauthorizedAccount", account=accounts[9].address):
        feed.updateAnswer(1, sender=accounts[9])
    with reverts_named("OwnableUnauthorizedAccount", account=accounts[9].address):
        feed.updateRoundData(7, 1, 1, 1, sender=accounts[9])
    assert market.oracle_contract().getAssetPrice(wbtc) == before
    receipt = aave.set_price(market, "WBTC", 31_000)
    [updated] = list(receipt.decode_logs(feed.AnswerUpdated))
    assert updated.current == 31_000 * 10**8 and updated.roundId == feed.latestRound()
    _, answer, _, updated_at, _ = feed.latestRoundData()
    assert answer == 31_000 * 10**8 and updated_at == updated.updatedAt


def test_set_prices_and_manifest_round_trip(market, owner):
    import json

    again = aave.AaveMarket.from_dict(json.loads(json.dumps(market.to_dict())), admin=owner)
    assert again == market
    aave.set_prices(again, {"WETH": 1_500, "WBTC": "25000.5"})
    assert aave.price_usd(market, "WETH") == 1_500
    assert aave.price_usd(market, "WBTC") == aave.Decimal("25000.5")


def test_set_price_rejects_bad_input(market):
    with pytest.raises(ValueError, match="not positive"):
        aave.set_price(market, "WETH", 0)
    with pytest.raises(KeyError, match="not listed"):
        aave.set_price(market, "DOGE", 1)


def test_seeded_liquidity(market, tokens, accounts):
    supplier = accounts[2]
    for symbol, amount in SEED.items():
        a_token = aave.aave_at("AToken", market.a_tokens[symbol])
        assert a_token.balanceOf(supplier.address) == amount
        assert tokens[symbol].balanceOf(market.a_tokens[symbol]) == amount
    data = aave.account_data(market, str(supplier.address))
    want = sum(SEED[s] * int(PRICES[s] * 10**8) // 10**market.reserves[s].decimals for s in SEED)
    assert data.total_collateral_base == want
    assert data.total_debt_base == 0


def test_supplier_borrow_beyond_ltv_is_refused(market, tokens, accounts):
    """Real Aave validation: an EOA with $1,000 of WETH can borrow 80.5 % of it, not more."""
    user = accounts[3]
    aave.fund(market, tokens["WETH"], user, 10**18 // 2)  # 0.5 WETH = $1,000
    aave.supply(market, user, tokens["WETH"], 10**18 // 2)
    pool = market.pool_contract()
    with reverts_with("36"):  # Errors.COLLATERAL_CANNOT_COVER_NEW_BORROW
        pool.borrow(market.asset("USDC"), 806 * 10**6, 2, 0, user.address, sender=user)
    pool.borrow(market.asset("USDC"), 805 * 10**6, 2, 0, user.address, sender=user)
    assert tokens["USDC"].balanceOf(user.address) == 805 * 10**6


def test_deploy_is_quick(deployed):
    print(f"Aave market deployed and seeded in {deployed[2]:.2f} s")
    assert deployed[2] < 60  # whole market + seeding; measured a few seconds on 2 cores


def test_deploy_rejects_missing_price(project, owner):
    with pytest.raises(ValueError, match="no initial price for WBTC"):
        aave.deploy_aave_market(owner, {"WBTC": object()}, {})


def test_link_bytecode_checks():
    refs = {"x.sol": {"Lib": [{"start": 1, "length": 20}]}}
    code = "0x60" + "__$0123456789abcdef0123456789abcdef01$__" + "00"
    addr = "0x" + "ab" * 20
    assert aave.link_bytecode(code, refs, {"Lib": addr}) == "0x60" + "ab" * 20 + "00"
    with pytest.raises(ArtifactError, match="Lib is not deployed"):
        aave.link_bytecode(code, refs, {})
    with pytest.raises(ArtifactError, match="no link placeholder"):
        aave.link_bytecode("0x" + "00" * 30, refs, {"Lib": addr})
    with pytest.raises(ArtifactError, match="unlinked"):
        aave.link_bytecode(code, {}, {})
