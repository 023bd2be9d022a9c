"""PositionHolder on the real Aave V3 market: a long (WBTC collateral, USDC debt) and a short (USDC
collateral, WBTC debt) with the health factor checked against Aave's formula, an oracle drop that
makes the long liquidatable and a third party's liquidationCall, and owner-only access taken from the ABI.

The deployer plays the owning child diamond (the holder's constructor takes the owner's address).
"""

from decimal import Decimal

import pytest
from eth_utils import keccak

from aave_helpers import deploy_seeded_market, health_factor, reverts_with, usd_e8
from macrostrike.deploy import aave

MAX = 2**256 - 1
BTC = 10**8
USD = 10**6
REL = Decimal("1e-6")  # interest accrued between two reads (seconds at a few % APR) stays below this


@pytest.fixture(scope="module")
def setup(project, owner, keeper, stranger, accounts):
    # ``keeper`` and ``stranger`` are requested here so that session fixtures exist before the module's snapshot
    tokens, market = deploy_seeded_market(project, owner, accounts[2])
    return tokens, market


@pytest.fixture(scope="module")
def tokens(setup):
    return setup[0]


@pytest.fixture(scope="module")
def market(setup):
    return setup[1]


@pytest.fixture(scope="module")
def holder(project, owner, market, tokens):
    h = owner.deploy(project.PositionHolder, owner.address, market.pool)
    for token in tokens.values():
        token.approve(h.address, MAX, sender=owner)
    return h


def give(market, tokens, owner, symbol, amount):
    aave.fund(market, tokens[symbol], owner, amount)


def price_e8(market, symbol):
    return int(market.oracle_contract().getAssetPrice(market.asset(symbol)))


def lt(symbol):
    return aave.DEFAULT_RESERVE_PARAMS[symbol].liquidation_threshold_bps


def close(a, b, rel=REL):
    a, b = Decimal(a), Decimal(b)
    return abs(a - b) <= rel * max(abs(a), abs(b))


def expected_hf(market, holder, collateral, debt):
    """Aave's HF recomputed from the holder's token balances and the oracle (Aave V3 docs formula)."""
    coll = [(usd_e8(holder.collateralOf(market.asset(s)), market.reserves[s].decimals, price_e8(market, s)), lt(s))
            for s in collateral]
    dbt = [usd_e8(holder.debtOf(market.asset(s)), market.reserves[s].decimals, price_e8(market, s)) for s in debt]
    return health_factor(coll, dbt)


def test_holder_is_bound_to_owner_and_pool(project, chain, owner, market, holder):
    assert holder.owner() == owner.address
    assert holder.pool() == market.pool
    (created,) = holder.PositionHolderCreated.from_receipt(chain.provider.get_receipt(holder.txn_hash))
    assert (created.owner, created.pool) == (owner.address, market.pool)
    zero_address = "0x" + keccak(text="ZeroAddress()")[:4].hex()  # deployment reverts come undecoded
    with reverts_with(zero_address):
        owner.deploy(project.PositionHolder, aave.ZERO_ADDRESS, market.pool)
    with reverts_with(zero_address):
        owner.deploy(project.PositionHolder, owner.address, aave.ZERO_ADDRESS)


def test_long_health_factor_matches_formula(market, tokens, holder, owner):
    """(b) 1 WBTC collateral, 15,000 USDC borrowed: 50 % LTV at $30,000, HF = 0.78 × 30,000 / 15,000 = 1.56."""
    wbtc, usdc = market.asset("WBTC"), market.asset("USDC")
    give(market, tokens, owner, "WBTC", BTC)
    tx = holder.supply(wbtc, BTC, sender=owner)
    assert [(e.asset, e.amount) for e in holder.Supplied.from_receipt(tx)] == [(wbtc, BTC)]
    before = tokens["USDC"].balanceOf(owner.address)
    tx = holder.borrow(usdc, 15_000 * USD, sender=owner)
    assert [(e.asset, e.amount) for e in holder.Borrowed.from_receipt(tx)] == [(usdc, 15_000 * USD)]
    assert tokens["USDC"].balanceOf(owner.address) - before == 15_000 * USD
    assert tokens["USDC"].balanceOf(holder.address) == 0  # the holder keeps nothing but its Aave position

    coll, debt, available, liq_threshold, ltv, hf = holder.accountData()
    assert (coll, debt, available, liq_threshold, ltv, hf) == tuple(market.pool_contract().getUserAccountData(holder))
    assert holder.collateralOf(wbtc) == BTC
    assert coll == 30_000 * 10**8
    assert close(debt, 15_000 * 10**8)
    assert (liq_threshold, ltv) == (7_800, 7_300)
    assert close(available, 30_000 * 10**8 * 7_300 // 10_000 - debt)
    assert close(Decimal(hf) / 10**18, expected_hf(market, holder, ["WBTC"], ["USDC"]))
    assert close(Decimal(hf) / 10**18, Decimal("1.56"), Decimal("1e-5"))


def test_health_factor_sums_over_collaterals(market, tokens, holder, owner):
    """HF = Σ collateral·LT / debt: 1 WBTC ($30,000, LT 78 %) + 5 WETH ($10,000, LT 83 %) against 20,000 USDC."""
    for symbol, amount in (("WBTC", BTC), ("WETH", 5 * 10**18)):
        give(market, tokens, owner, symbol, amount)
        holder.supply(market.asset(symbol), amount, sender=owner)
    holder.borrow(market.asset("USDC"), 20_000 * USD, sender=owner)
    coll, _debt, _avail, liq_threshold, ltv, hf = holder.accountData()
    assert coll == 40_000 * 10**8
    assert liq_threshold == (30_000 * 7_800 + 10_000 * 8_300) // 40_000  # weighted average, 7925 bps
    assert ltv == (30_000 * 7_300 + 10_000 * 8_050) // 40_000
    assert close(Decimal(hf) / 10**18, expected_hf(market, holder, ["WBTC", "WETH"], ["USDC"]))
    assert close(Decimal(hf) / 10**18, Decimal("1.585"), Decimal("1e-5"))


def test_borrow_beyond_ltv_is_refused_by_aave(market, tokens, holder, owner):
    give(market, tokens, owner, "WBTC", BTC)
    holder.supply(market.asset("WBTC"), BTC, sender=owner)
    with reverts_with("36"):  # Errors.COLLATERAL_CANNOT_COVER_NEW_BORROW: above 73 % of $30,000
        holder.borrow(market.asset("USDC"), 21_901 * USD, sender=owner)
    holder.borrow(market.asset("USDC"), 21_899 * USD, sender=owner)


def test_short_open_mark_and_close(market, tokens, holder, owner):
    """(c) 30,000 USDC collateral, 0.5 WBTC borrowed (sold by the bot elsewhere); BTC up 20 % hurts the
    short; then repay everything and withdraw everything back to the owner."""
    wbtc, usdc = market.asset("WBTC"), market.asset("USDC")
    give(market, tokens, owner, "USDC", 30_000 * USD)
    holder.supply(usdc, 30_000 * USD, sender=owner)
    holder.borrow(wbtc, BTC // 2, sender=owner)
    assert tokens["WBTC"].balanceOf(owner.address) == BTC // 2
    _c, _d, _a, liq_threshold, ltv, hf = holder.accountData()
    assert (liq_threshold, ltv) == (8_000, 7_700)
    assert close(Decimal(hf) / 10**18, Decimal("1.6"), Decimal("1e-5"))  # 0.80 × 30,000 / 15,000

    aave.set_price(market, "WBTC", 36_000)
    hf_up = Decimal(holder.accountData()[5]) / 10**18
    assert close(hf_up, expected_hf(market, holder, ["USDC"], ["WBTC"]))
    assert close(hf_up, Decimal(24_000) / 18_000, Decimal("1e-5"))

    # partial repay pulls only the amount given
    tx = holder.repay(wbtc, BTC // 10, sender=owner)
    assert tokens["WBTC"].balanceOf(owner.address) == BTC // 2 - BTC // 10
    (ev,) = holder.Repaid.from_receipt(tx)
    assert ev.amount == BTC // 10 and ev.debtLeft == holder.debtOf(wbtc)
    # repay(max) pulls exactly the debt, interest included
    give(market, tokens, owner, "WBTC", BTC // 100)
    owed = holder.debtOf(wbtc)
    assert owed >= BTC // 2 - BTC // 10
    before = tokens["WBTC"].balanceOf(owner.address)
    tx = holder.repay(wbtc, MAX, sender=owner)
    (ev,) = holder.Repaid.from_receipt(tx)
    assert ev.debtLeft == 0 and holder.debtOf(wbtc) == 0
    assert before - tokens["WBTC"].balanceOf(owner.address) == ev.amount
    assert close(ev.amount, owed, Decimal("1e-4"))
    with reverts_with("NoDebt"):
        holder.repay(wbtc, 1, sender=owner)

    usdc_before = tokens["USDC"].balanceOf(owner.address)
    tx = holder.withdraw(usdc, MAX, sender=owner)
    (ev,) = holder.Withdrawn.from_receipt(tx)
    assert ev.amount >= 30_000 * USD  # plus supply interest
    assert tokens["USDC"].balanceOf(owner.address) - usdc_before == ev.amount
    assert holder.collateralOf(usdc) == 0
    assert tuple(holder.accountData())[:2] == (0, 0)


def test_oracle_drop_makes_long_liquidatable(market, tokens, holder, owner, accounts):
    """(d) A 70 % LTV long (HF 1.114) survives until BTC falls from $30,000 to $26,000 (HF 0.966);
    then a third party's liquidationCall repays half the debt (close factor 50 % above HF 0.95)
    and takes WBTC collateral worth the repaid debt plus the 5 % bonus, less the 10 % protocol fee on the bonus."""
    liquidator = accounts[4]
    wbtc, usdc = market.asset("WBTC"), market.asset("USDC")
    pool = market.pool_contract()
    give(market, tokens, owner, "WBTC", BTC)
    holder.supply(wbtc, BTC, sender=owner)
    holder.borrow(usdc, 21_000 * USD, sender=owner)
    assert close(Decimal(holder.accountData()[5]) / 10**18, Decimal("0.78") * 30_000 / 21_000, Decimal("1e-5"))

    give(market, tokens, liquidator, "USDC", 20_000 * USD)
    tokens["USDC"].approve(market.pool, MAX, sender=liquidator)
    with reverts_with("45"):  # Errors.HEALTH_FACTOR_NOT_BELOW_THRESHOLD
        pool.liquidationCall(wbtc, usdc, holder.address, MAX, False, sender=liquidator)

    aave.set_price(market, "WBTC", 26_000)
    hf = Decimal(holder.accountData()[5]) / 10**18
    assert hf < 1
    assert close(hf, expected_hf(market, holder, ["WBTC"], ["USDC"]))
    assert close(hf, Decimal("0.78") * 26_000 / 21_000, Decimal("1e-5"))

    debt_before, coll_before = holder.debtOf(usdc), holder.collateralOf(wbtc)
    usdc_before = tokens["USDC"].balanceOf(liquidator.address)
    tx = pool.liquidationCall(wbtc, usdc, holder.address, MAX, False, sender=liquidator)
    (ev,) = pool.LiquidationCall.from_receipt(tx)
    assert (ev.collateralAsset, ev.debtAsset, ev.user, ev.liquidator) == (wbtc, usdc, holder.address,
                                                                          liquidator.address)
    covered, seized = ev.debtToCover, ev.liquidatedCollateralAmount
    assert close(covered, debt_before // 2, Decimal("1e-5"))
    assert tokens["USDC"].balanceOf(liquidator.address) == usdc_before - covered
    # LiquidationLogic._calculateAvailableCollateralToLiquidate, with percentMul/percentDiv rounding half up
    pmul = lambda v, p: (v * p + 5_000) // 10_000  # noqa: E731
    pdiv = lambda v, p: (v * 10_000 + p // 2) // p  # noqa: E731
    base_collateral = (price_e8(market, "USDC") * covered * BTC) // (price_e8(market, "WBTC") * USD)
    collateral = pmul(base_collateral, 10_500)
    fee = pmul(collateral - pdiv(collateral, 10_500), 1_000)
    assert seized == collateral - fee
    assert tokens["WBTC"].balanceOf(liquidator.address) == seized
    assert aave.aave_at("AToken", market.a_tokens["WBTC"]).balanceOf(market.treasury) >= fee
    assert close(holder.debtOf(usdc), debt_before - covered, Decimal("1e-5"))
    assert holder.collateralOf(wbtc) == pytest.approx(coll_before - collateral, abs=1)
    assert Decimal(holder.accountData()[5]) / 10**18 > hf  # liquidation at a bonus still improves this HF


def test_zero_amounts_are_refused(market, holder, owner):
    for name in ("supply", "borrow", "repay", "withdraw"):
        with reverts_with("ZeroAmount"):
            getattr(holder, name)(market.asset("USDC"), 0, sender=owner)


def mutating(contract_type):
    return [a for a in contract_type.abi if a.type == "function" and a.stateMutability not in ("view", "pure")]


def test_only_the_owner_can_operate_the_holder(project, market, tokens, holder, owner, stranger, accounts):
    """(e) Every state-changing function in the compiled ABI reverts NotOwner for a stranger — and for the
    deployer once the holder belongs to another diamond — while the owner's identical call goes through."""
    fns = mutating(project.PositionHolder.contract_type)
    assert sorted(f.name for f in fns) == ["borrow", "repay", "supply", "withdraw"]  # no generic call
    give(market, tokens, owner, "WBTC", BTC)
    holder.supply(market.asset("WBTC"), BTC // 2, sender=owner)
    holder.borrow(market.asset("USDC"), 1_000 * USD, sender=owner)
    other = owner.deploy(project.PositionHolder, accounts[5].address, market.pool)
    args = {"supply": ("WBTC", 1), "borrow": ("USDC", 1), "repay": ("USDC", 1), "withdraw": ("WBTC", 1)}
    for fn in fns:
        assert [i.type for i in fn.inputs] == ["address", "uint256"]
        symbol, amount = args[fn.name]
        for target, caller in ((holder, stranger), (other, owner)):
            with reverts_with("NotOwner"):
                getattr(target, fn.name)(market.asset(symbol), amount, sender=caller)
        getattr(holder, fn.name)(market.asset(symbol), amount, sender=owner)  # the owner may


# -- holders created by a child diamond (StrikePositionsFacet + LibPositions) -------------------------
@pytest.fixture(scope="module")
def strike_diamond(project, owner, keeper, market, tokens):
    """A child diamond (core facets, bot registry, strike positions) with bots 1 and 2, bound to the pool."""
    from diamond_helpers import deploy_core_facets, deploy_diamond

    facets = deploy_core_facets(project, owner)
    facets["BotRegistryFacet"] = owner.deploy(project.BotRegistryFacet)
    facets["StrikePositionsFacet"] = owner.deploy(project.StrikePositionsFacet)
    init = owner.deploy(project.ChildInit)
    diamond = deploy_diamond(project, owner, facets, init.address,
                             init.init.encode_input(owner.address, tokens["USDC"].address))
    bots = project.BotRegistryFacet.at(diamond.address)
    bots.registerBots(2, b"LONG_STRIKE".ljust(32, b"\0"), b"", sender=owner)
    bots.setKeeper(keeper.address, True, sender=owner)
    positions = project.StrikePositionsFacet.at(diamond.address)
    positions.setStrikePool(market.pool, sender=owner)
    return positions


def test_diamond_creates_one_holder_per_bot_at_the_predicted_address(project, strike_diamond, market, keeper,
                                                                      owner, stranger):
    positions = strike_diamond
    assert positions.strikePool() == market.pool
    predicted = positions.predictPositionHolder(1)
    assert positions.positionHolderOf(1) == aave.ZERO_ADDRESS
    tx = positions.openPositionHolder(1, sender=keeper)
    (ev,) = positions.PositionHolderDeployed.from_receipt(tx)
    assert (ev.botId, ev.holder) == (1, predicted) == (1, positions.positionHolderOf(1))
    holder = project.PositionHolder.at(predicted)
    assert holder.owner() == positions.address and holder.pool() == market.pool
    second = positions.openPositionHolder(2, sender=owner).return_value
    assert second == positions.positionHolderOf(2) != predicted

    with reverts_with("HolderExists"):
        positions.openPositionHolder(1, sender=keeper)
    with reverts_with("UnknownBot"):
        positions.openPositionHolder(3, sender=keeper)
    with reverts_with("NotKeeper"):
        positions.openPositionHolder(2, sender=stranger)
    with reverts_with("NotContractOwner"):
        positions.setStrikePool(stranger.address, sender=stranger)
    with reverts_with("StrikePoolAlreadySet"):
        positions.setStrikePool(stranger.address, sender=owner)
    # the holder belongs to the diamond: neither the diamond's owner nor its keeper may touch it directly
    for caller in (owner, keeper, stranger):
        with reverts_with("NotOwner"):
            holder.supply(market.asset("USDC"), 1, sender=caller)


def test_paused_or_inactive_bots_get_no_holder(project, strike_diamond, owner, keeper):
    bots = project.BotRegistryFacet.at(strike_diamond.address)
    bots.setBotStatus(2, 2, sender=owner)  # Paused
    with reverts_with("BotNotActive"):
        strike_diamond.openPositionHolder(2, sender=keeper)
