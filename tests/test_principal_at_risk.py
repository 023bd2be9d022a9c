"""Audit M-1: margin in an open strike position is still principal, not profit.

A bot's principal is clamped to its book value = free capital + capital at risk (the open
position's margin at cost, ChildCoordinationFacet.capitalAtRisk). Before the fix it was clamped to
the free capital alone, so funding or recalling a bot while its position was open cut the principal
down to the free capital and the next sweep taxed the returned margin as profit (the audit's PoC:
fund 8,000 → open with 8,000 margin → fund 1,000 → close at break-even → 800 swept to the reserve).

Real long position on the real Aave V3 market and Uniswap V2 pair (1x: the margin buys WBTC, which is
supplied; closing sells it back), so "break-even" here is the round trip's swap costs: a small loss.
Amounts in USDC base units (6 decimals).
"""

import pytest

from strike_helpers import BPS, PRICE, E8, deploy_strike
from treasury_helpers import USDC, deposit, handles

BOT = 2  # a long bot the deployment funded with $2,000 and left flat
MARGIN = 8_000 * USDC
TOP_UP = 1_000 * USDC


@pytest.fixture(scope="module")
def world(project, accounts):
    s = deploy_strike(project, accounts)
    return s, handles(project, s.system)


def deadline(chain) -> int:
    return chain.pending_timestamp + 3_600


def open_with_all_capital_then_top_up(s, h, chain) -> str:
    """Bot BOT: capital 8,000 (principal 8,000), all of it the margin of a 1x long, then +1,000."""
    owner, long_ = s.owner, s.addr["long"]
    deposit(h, owner, 20_000 * USDC)
    h.treasury.fundBot(long_, BOT, MARGIN - s.capital("long", BOT), sender=owner)
    assert h.alloc.principalOf(long_, BOT) == MARGIN == s.capital("long", BOT)
    s.facet("long").openPosition(BOT, MARGIN, 10_000, deadline(chain), sender=s.keeper)
    assert s.capital("long", BOT) == 0
    h.treasury.fundBot(long_, BOT, TOP_UP, sender=owner)
    return long_


def test_margin_counts_as_principal_while_the_position_is_open(world, chain):
    s, h = world
    long_ = open_with_all_capital_then_top_up(s, h, chain)
    assert h.alloc.principalOf(long_, BOT) == MARGIN + TOP_UP
    assert h.alloc.sweepableProfit(long_, BOT) == 0
    assert h.child("long", "ChildCoordinationFacet").capitalAtRisk(BOT) == MARGIN
    assert h.child("amm", "ChildCoordinationFacet").capitalAtRisk(1) == 0  # AMM bots hold no position


def test_break_even_round_trip_is_not_taxed(world, chain):
    s, h = world
    long_ = open_with_all_capital_then_top_up(s, h, chain)
    r = s.facet("long").closePosition(BOT, deadline(chain), sender=s.keeper)
    pnl = [int(e.pnl) for e in r.decode_logs(s.facet("long").PositionClosed)][0]
    assert -100 * USDC < pnl <= 0  # the round trip's swap fees and price impact
    capital = s.capital("long", BOT)
    assert capital == MARGIN + TOP_UP + pnl
    reserve = h.alloc.reserveFund()
    h.alloc.sweepProfits(long_, [BOT], sender=s.owner)
    assert h.alloc.reserveFund() == reserve  # nothing taxed
    assert h.alloc.sweepableProfit(long_, BOT) == 0
    assert h.child("long", "ChildCoordinationFacet").capitalAtRisk(BOT) == 0
    assert s.capital("long", BOT) == capital
    assert h.alloc.principalOf(long_, BOT) == capital  # the realised loss written off the principal


def test_profit_is_taxed_at_the_profit_tax_rate(world, chain):
    s, h = world
    long_ = open_with_all_capital_then_top_up(s, h, chain)
    s.move_price(PRICE * E8 * 105 // 100)  # +5%: the 1x long gains about 5% of its margin
    r = s.facet("long").closePosition(BOT, deadline(chain), sender=s.keeper)
    pnl = [int(e.pnl) for e in r.decode_logs(s.facet("long").PositionClosed)][0]
    assert pnl > 100 * USDC
    profit = s.capital("long", BOT) - (MARGIN + TOP_UP)
    assert profit == pnl
    assert h.alloc.sweepableProfit(long_, BOT) == profit
    tax_bps = h.alloc.allocationParams().profitTaxBps
    reserve = h.alloc.reserveFund()
    r = h.alloc.sweepProfits(long_, [BOT], sender=s.owner)
    assert [(e.profit, e.tax) for e in r.decode_logs(h.alloc.ProfitSwept)] == [(profit, profit * tax_bps // BPS)]
    assert h.alloc.reserveFund() == reserve + profit * tax_bps // BPS
    assert s.capital("long", BOT) == MARGIN + TOP_UP


def test_recall_while_open_keeps_the_margin_as_principal(world, chain):
    s, h = world
    long_ = open_with_all_capital_then_top_up(s, h, chain)
    h.treasury.recallCapital(long_, BOT, TOP_UP // 2, sender=s.owner)
    assert h.alloc.principalOf(long_, BOT) == MARGIN + TOP_UP // 2
    s.facet("long").closePosition(BOT, deadline(chain), sender=s.keeper)
    assert h.alloc.sweepableProfit(long_, BOT) == 0
