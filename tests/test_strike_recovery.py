"""Issue 11 (M-2, L-1, dust) on the real Aave V3 market and Uniswap V2 pair of a deployed system:
a strike child's exitAll closes its positions one by one, skips and reports (PositionExitFailed)
the one that cannot close — health factor below 1, bad debt after a liquidation, the pair pushed
beyond the exit slippage — and still returns the free capital; StrikeRecoveryFacet's repayDebt and
writeOffBadDebt then let the master's withdrawAll / emergencyExit finish; the exit slippage is
capped at 10 % and a sandwich takes no more than the bound; the short unwind's asset dust is swept
into a bot's capital.

Prices: Aave oracle (USD, 8 decimals); amounts: token base units (USDC 6, WBTC 8 decimals).
"""

import pytest
from eth_utils import keccak

from strike_helpers import BPS, BTC, E8, PRICE, USD, deploy_strike, move_pool_to, reverts_named

#: deploys a whole system with the Aave market (~20 s) and runs multi-position exits
pytestmark = pytest.mark.slow

P0 = PRICE * E8
MARGIN = 500 * USD
MAX = 2**256 - 1
LONG, SHORT = "long", "short"


@pytest.fixture(scope="module")
def s(project, accounts, owner, keeper, stranger):
    return deploy_strike(project, accounts)


def deadline(chain):
    return chain.pending_timestamp + 3_600


def open_(s, chain, side, bot, lev=20_000, margin=MARGIN):
    return s.facet(side).openPosition(bot, margin, lev, deadline(chain), sender=s.keeper)


def events(receipt, facet, name):
    return [e for e in receipt.decode_logs(getattr(facet, name)) if e.contract_address == facet.address]


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def holder(s, project, side, bot):
    return project.PositionHolder.at(s.facet(side).positionHolderOf(bot))


def total_capital(s, side):
    return s.facet(side, "ChildCoordinationFacet").totalCapital()


def exit_failures(receipt, f):
    """{botId: revert selector} of the PositionExitFailed events of child ``f``."""
    return {e.botId: bytes(e.reason)[:4] for e in events(receipt, f, "PositionExitFailed")}


def child_failures(receipt, project, s):
    return [e.child for e in receipt.decode_logs(project.EmergencyFacet.at(s.master).ChildExitFailed)]


def master_empty_after_withdraw_all(s, project, to):
    """The master's withdrawAll succeeds: every child holds no quote and no capital, the master nothing."""
    before = s.usdc.balanceOf(to)
    project.AllocationFacet.at(s.master).withdrawAll(to, sender=s.owner)
    for side in (LONG, SHORT):
        assert s.usdc.balanceOf(s.addr[side]) == 0
        assert total_capital(s, side) == 0
    assert s.usdc.balanceOf(s.master) == 0
    return s.usdc.balanceOf(to) - before


# -- M-2: health factor below 1 ------------------------------------------------------------------
def test_exit_all_skips_position_below_hf_1_then_repay_lets_withdraw_all_finish(s, chain, project, accounts):
    """Long #1 at 3x falls below HF 1 (UnwindStuck), long #2 at 1.5x is fine: exitAll closes #2,
    reports #1, returns the free capital; the owner funds #1, repays part of its debt from its
    capital, and the master's withdrawAll then closes it and empties the system."""
    f = s.facet(LONG)
    open_(s, chain, LONG, 1, lev=30_000)
    open_(s, chain, LONG, 2, lev=15_000)
    s.move_price(P0 * 84 // 100)
    assert f.positionState(1).healthFactor < 10**18 < f.positionState(2).healthFactor
    free = s.usdc.balanceOf(f.address)
    master0 = s.usdc.balanceOf(s.master)

    r = f.exitAll(100, sender=s.owner)

    assert exit_failures(r, f) == {1: selector("UnwindStuck(uint256)")}
    assert [e.botId for e in events(r, f, "PositionClosed")] == [2]
    (ev,) = events(r, f, "ExitedAll")
    assert ev.positionsClosed == 1 and ev.amount > free  # the free capital and #2's proceeds
    assert s.usdc.balanceOf(s.master) - master0 == ev.amount and s.usdc.balanceOf(f.address) == 0
    assert list(f.openPositionIds()) == [1] and f.position(1).open and not f.position(2).open

    # recovery: the owner gives #1 capital and repays 600 of its ~1,000 USDC debt with it
    h = holder(s, project, LONG, 1)
    debt0 = h.debtOf(s.usdc.address)
    project.TreasuryFacet.at(s.master).fundBot(f.address, 1, 600 * USD, sender=s.owner)
    with reverts_named("NotContractOwner"):
        f.repayDebt(1, 600 * USD, sender=s.keeper)
    margin0 = f.position(1).marginQuote
    r = f.repayDebt(1, 600 * USD, sender=s.owner)
    (ev,) = events(r, f, "DebtRepaidFromCapital")
    assert (ev.botId, ev.quoteSpent, ev.debtRepaid) == (1, 600 * USD, 600 * USD)
    assert h.debtOf(s.usdc.address) <= debt0 - 600 * USD + 1
    assert s.capital(LONG, 1) == 0 and f.position(1).marginQuote == margin0 + 600 * USD
    assert f.positionState(1).healthFactor > 2 * 10**18

    assert master_empty_after_withdraw_all(s, project, accounts[5].address) > 0
    assert not f.position(1).open and list(f.openPositionIds()) == []


# -- M-2: bad debt after a liquidation on the real Aave market ---------------------------------
def test_bad_debt_is_skipped_then_written_off(s, chain, project, accounts):
    """Long #1 at 3x, BTC halves, a liquidator takes all its collateral: debt is left with no
    collateral. The master's emergencyExit still exits the long child (closes #2, reports #1);
    writeOffBadDebt books the margin as a loss, retires the bot and unlocks setStrikeConfig;
    withdrawAll then empties the system."""
    f = s.facet(LONG)
    open_(s, chain, LONG, 1, lev=30_000)
    open_(s, chain, LONG, 2, lev=10_000)
    s.move_price(P0 * 50 // 100)
    h = holder(s, project, LONG, 1)
    liquidator = accounts[4]
    s.usdc.mint(liquidator.address, 5_000 * USD, sender=s.owner)
    s.usdc.approve(s.market.pool, MAX, sender=liquidator)
    s.market.pool_contract().liquidationCall(s.wbtc.address, s.usdc.address, h.address, MAX, False,
                                             sender=liquidator)
    assert h.collateralOf(s.wbtc.address) == 0 and (debt := h.debtOf(s.usdc.address)) > 0
    with reverts_named("NotBadDebt"):
        f.writeOffBadDebt(2, sender=s.owner)  # #2 has collateral

    r = project.EmergencyFacet.at(s.master).emergencyExit(sender=s.owner)

    assert child_failures(r, project, s) == []
    assert exit_failures(r, f) == {1: selector("UnwindStuck(uint256)")}
    assert [e.botId for e in events(r, f, "PositionClosed")] == [2]
    assert s.usdc.balanceOf(f.address) == 0 and total_capital(s, LONG) == 0
    with reverts_named("OpenPositionsExist"):
        f.setStrikeConfig(tuple(f.strikeConfig()), sender=s.owner)

    with reverts_named("NotContractOwner"):
        f.writeOffBadDebt(1, sender=s.keeper)
    stats0 = project.PerformanceFacet.at(f.address).botStats(1)
    r = f.writeOffBadDebt(1, sender=s.owner)
    (ev,) = events(r, f, "BadDebtWrittenOff")
    assert (ev.botId, ev.marginLost) == (1, MARGIN) and ev.debtLeft >= debt
    assert [e.status for e in events(r, f, "BotStatusChanged")] == [3]  # Retired
    assert not f.position(1).open and list(f.openPositionIds()) == []
    assert project.BotRegistryFacet.at(f.address).bot(1)[0] == 3
    assert project.PerformanceFacet.at(f.address).botStats(1) != stats0  # the loss is recorded
    f.setStrikeConfig(tuple(f.strikeConfig()), sender=s.owner)  # unlocked
    with reverts_named("PositionNotOpen"):
        f.writeOffBadDebt(1, sender=s.owner)
    master_empty_after_withdraw_all(s, project, accounts[5].address)


# -- M-2 / L-1: the pair pushed beyond the exit slippage ------------------------------------------
def test_pool_pushed_beyond_exit_slippage_skips_only_that_child_positions(s, chain, project, accounts):
    """Someone front-runs the master's emergencyExit by pushing BTC down 3 % on the pair (exit
    slippage 1 %): the longs' sells would fail the bound, so both are skipped (SlippageExceeded)
    and the long child's free capital still returns; the short child (buying cheap) closes. With
    the pair back at the oracle, withdrawAll closes the longs and empties the system."""
    fl, fs = s.facet(LONG), s.facet(SHORT)
    open_(s, chain, LONG, 1)
    open_(s, chain, LONG, 2)
    open_(s, chain, SHORT, 1)
    move_pool_to(s.system, s.owner, PRICE * 0.97)
    free_long = s.usdc.balanceOf(fl.address)

    r = project.EmergencyFacet.at(s.master).emergencyExit(sender=s.owner)

    assert child_failures(r, project, s) == []
    slip = selector("SlippageExceeded(uint256,uint256)")
    assert exit_failures(r, fl) == {1: slip, 2: slip}
    (ev,) = events(r, fl, "ExitedAll")
    assert ev.positionsClosed == 0 and ev.amount == free_long > 0
    assert [e.botId for e in events(r, fs, "PositionClosed")] == [1] and exit_failures(r, fs) == {}
    assert list(fl.openPositionIds()) == [2, 1] or list(fl.openPositionIds()) == [1, 2]

    move_pool_to(s.system, s.owner, PRICE)
    master_empty_after_withdraw_all(s, project, accounts[5].address)
    assert list(fl.openPositionIds()) == []


def test_close_for_exit_is_for_the_diamond_only(s, chain):
    """exitAll's per-position self-call takes no re-entrancy lock, so nobody else may call it,
    not even the owner (who has closePosition)."""
    f = s.facet(LONG)
    open_(s, chain, LONG, 1)
    for who in (s.owner, s.keeper):
        with reverts_named("NotSelf") as info:
            f.closeForExit(1, 100, sender=who)
        assert info.value.inputs == {"caller": who.address}
    assert f.position(1).open


# -- L-1: the exit slippage cap and what a sandwich can take --------------------------------------
def test_exit_slippage_capped_at_10_percent(s):
    """The owner's own exitAll has the master's 10 % bound too (it accepted up to 100 % before)."""
    f = s.facet(SHORT)
    with reverts_named("ParameterOutOfRange") as info:
        f.exitAll(1_001, sender=s.owner)
    assert info.value.inputs["max"] == 1_000 == f.MAX_EXIT_SLIPPAGE_BPS()
    f.exitAll(1_000, sender=s.owner)


@pytest.mark.parametrize("pushed_bps,closes", [(50, True), (200, False)])
def test_sandwich_takes_at_most_the_exit_bound(s, chain, project, pushed_bps, closes):
    """A 1x long is one sell at exit. The pair pushed 0.5 % below the oracle: the position closes
    and returns at least the oracle value less the 1 % bound. Pushed 2 %: the sell would lose more
    than the bound, so exitAll skips the position (SlippageExceeded at the oracle floor) and the
    collateral stays in the holder."""
    f = s.facet(LONG)
    open_(s, chain, LONG, 1, lev=10_000)
    h = holder(s, project, LONG, 1)
    coll = h.collateralOf(s.wbtc.address)
    floor = coll * P0 * USD // (E8 * BTC) * (BPS - 100) // BPS  # StrikeFacet's minOut for the whole sell
    move_pool_to(s.system, s.owner, PRICE * (BPS - pushed_bps) / BPS)

    r = f.exitAll(100, sender=s.owner)

    if closes:
        (ev,) = events(r, f, "PositionClosed")
        value = floor * BPS // (BPS - 100)  # oracle value of the collateral sold
        assert floor <= ev.returned < value  # the sandwich cost something, never more than the bound
    else:
        (ev,) = events(r, f, "PositionExitFailed")
        data = bytes(ev.reason)
        assert data[:4] == selector("SlippageExceeded(uint256,uint256)")
        amount_out, min_out = int.from_bytes(data[4:36], "big"), int.from_bytes(data[36:68], "big")
        assert amount_out < min_out == floor
        assert f.position(1).open and h.collateralOf(s.wbtc.address) >= coll


# -- short unwind dust ----------------------------------------------------------------------------
def test_short_unwind_asset_dust_is_swept_into_a_bot(s, chain, project):
    """Asset units left in the diamond after short unwinds (the exact-out buy's overshoot, kept when
    selling it back would fail the floor; here the pair is 1.5 % below the oracle) are swept into
    a bot's capital at the floor. At USDC/WBTC decimals the overshoot is usually 0, so 3 units are
    added as the dust a close can leave. sweepAssetDust refuses while the pair is off."""
    f = s.facet(SHORT)
    for bot in (1, 2, 3):
        open_(s, chain, SHORT, bot, lev=20_000)
    move_pool_to(s.system, s.owner, PRICE * 0.985)
    for bot in (1, 2, 3):
        f.closePosition(bot, deadline(chain), sender=s.keeper)
    s.wbtc.mint(f.address, 3, sender=s.owner)
    dust = s.wbtc.balanceOf(f.address)
    assert dust >= 3
    with reverts_named("NotContractOwner"):
        f.sweepAssetDust(2, sender=s.keeper)
    with reverts_named("SlippageExceeded"):
        f.sweepAssetDust(2, sender=s.owner)
    move_pool_to(s.system, s.owner, PRICE)
    cap0, total0 = s.capital(SHORT, 2), total_capital(s, SHORT)
    r = f.sweepAssetDust(2, sender=s.owner)
    (ev,) = events(r, f, "AssetDustSwept")
    assert ev.botId == 2 and ev.assetIn == dust and ev.quoteOut > 0
    assert ev.quoteOut >= dust * P0 * USD // (E8 * BTC) * (BPS - 100) // BPS
    assert s.capital(SHORT, 2) == cap0 + ev.quoteOut and total_capital(s, SHORT) == total0 + ev.quoteOut
    assert s.wbtc.balanceOf(f.address) == 0
    assert s.usdc.balanceOf(f.address) >= total_capital(s, SHORT)
    with reverts_named("ZeroAmount"):
        f.sweepAssetDust(2, sender=s.owner)


def test_repay_short_debt_buys_the_asset_with_the_bot_capital(s, chain, project):
    """Short #1 at 2x: repayDebt spends 300 USDC of its capital on WBTC at the pair and repays it."""
    f = s.facet(SHORT)
    open_(s, chain, SHORT, 1)
    h = holder(s, project, SHORT, 1)
    debt0, cap0 = h.debtOf(s.wbtc.address), s.capital(SHORT, 1)
    r = f.repayDebt(1, 300 * USD, sender=s.owner)
    (ev,) = events(r, f, "DebtRepaidFromCapital")
    assert ev.quoteSpent == 300 * USD and ev.debtRepaid > 0
    assert ev.debtRepaid * P0 * USD // (E8 * BTC) >= 300 * USD * (BPS - 100) // BPS
    assert h.debtOf(s.wbtc.address) <= debt0 - ev.debtRepaid + 1
    assert s.capital(SHORT, 1) == cap0 - 300 * USD and f.position(1).marginQuote == MARGIN + 300 * USD
    f.closePosition(1, deadline(chain), sender=s.keeper)
    assert not f.position(1).open
