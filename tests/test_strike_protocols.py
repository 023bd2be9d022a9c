"""The strike children's time protocol and volatility circuit breaker (StrikeProtocolsFacet,
LibStrikeProtocols; issue 15 §3, §4) on the real Aave V3 market of a deployed system.

Each test configures what it needs (Ape reverts the chain's state after each test, not its clock:
timestamps are absolute, ``chain.pending_timestamp``, and ``calm`` moves past earlier rounds).
Time protocol, at each boundary: the documents' schedule — golden window
15 min, decay 15–45 min by 33 % of what is open every 5 min, hard expiry 55 min — fires nothing at
899 s, 33 % at 900 s, again at 1,200 s, catches up missed steps in one reduction, stops at the end
of the window and closes at 3,300 s.

Volatility breaker, from feed rounds the test writes (OwnedAggregator.updateRoundData): a move of
exactly 25 % within 5 minutes does not trip it, one unit more does; a 30 % move 301 s apart does
not, 300 s apart does; a drop of exactly 20 % does not, one unit more does. While tripped, opening
and increasing revert VolatilityBreakerActive; checkTriggers reduces each open position once per
trip; the cool-down's last second still refuses, its end allows opening again; the keeper's trip
(red candles) holds the same way.
"""

import pytest

from strike_helpers import E8, PRICE, USD, deploy_strike, reverts_named

#: ~1 min on the 2-core machine (deploy with the Aave market)
pytestmark = pytest.mark.slow

P0 = PRICE * E8
MARGIN = 500 * USD
BPS = 10_000
KIND_EXPIRY, KIND_TAKE_PROFIT, KIND_TIME_DECAY, KIND_VOLATILITY = 1, 4, 6, 7
#: (goldenSeconds, decayEndSeconds, decayStepSeconds, decayBps): the trading-protocol documents
DOCS = (900, 2_700, 300, 3_300)
#: (enabled, maxMoveBps, moveWindowSeconds, maxDropBps, coolDownSeconds, reduceBps, redCandles, candleSeconds)
DEFAULT_VOL = (False, 2_500, 300, 2_000, 1_800, 10_000, 3, 300)
COOL = 600
TEST_VOL = (True, 2_500, 300, 2_000, COOL, 5_000, 3, 300)


@pytest.fixture(scope="module")
def s(project, accounts):
    return deploy_strike(project, accounts)


def proto(s, side):
    return s.facet(side, "StrikeProtocolsFacet")


def strike(s, side):
    return s.facet(side, "StrikeFacet")


def deadline(chain):
    return chain.pending_timestamp + 3_600


def fired(s, side, receipt):
    return [e.kind for e in receipt.decode_logs(strike(s, side).TriggerFired)]


def decreased(s, side, receipt):
    return [(e.reason, e.fractionBps) for e in receipt.decode_logs(strike(s, side).PositionDecreased)]


def feed(s):
    return s.project.OwnedAggregator.at(s.market.reserves["WBTC"].feed)


def write_rounds(s, points):
    """Appends rounds ``(answer e8, updatedAt)`` (oldest first) to the WBTC feed."""
    f = feed(s)
    rid = int(f.latestRound())
    for i, (answer, ts) in enumerate(points):
        f.updateRoundData(rid + 1 + i, answer, ts, ts, sender=s.market.admin)


def calm(s, chain):
    """Moves the clock beyond every earlier round's window and cool-down, writes a reference round
    at P0 1,000 s back, and returns the head's timestamp (the test's 'now')."""
    chain.mine(timestamp=chain.blocks.head.timestamp + 2_000)
    now = chain.blocks.head.timestamp
    write_rounds(s, [(P0, now - 1_000)])
    return now


# -- time protocol -------------------------------------------------------------------------------
def test_time_protocol_configuration(s):
    p = proto(s, "short")
    assert tuple(p.timeProtocol(1)) == (0, 0, 0, 0)  # off by default
    for tp, name in [((900, 900, 300, 3_300), "decayEndSeconds"), ((900, 2_700, 59, 3_300), "decayStepSeconds"),
                     ((900, 2_700, 300, 10_001), "decayBps"), ((0, 86_400, 60, 100), "decaySteps")]:
        with reverts_named("ProtocolValueOutOfBounds", name=name):
            p.setTimeProtocol(1, tp, sender=s.owner)
    with reverts_named("NotContractOwner"):
        p.setTimeProtocol(1, DOCS, sender=s.keeper)
    with reverts_named("UnknownBot"):
        p.setTimeProtocol(99, DOCS, sender=s.owner)
    receipt = p.setTimeProtocol(1, DOCS, sender=s.owner)
    (ev,) = receipt.decode_logs(p.TimeProtocolSet)
    assert ev.botId == 1 and tuple(ev.schedule) == DOCS and tuple(p.timeProtocol(1)) == DOCS
    # the 55-minute hard expiry is expressible (maxHoldSeconds bound 300 s)
    s.set_rules("short", 1, maxHoldSeconds=3_300)
    with reverts_named("RuleOutOfBounds", name="maxHoldSeconds"):
        s.set_rules("short", 1, maxHoldSeconds=299)


def test_golden_window_decay_steps_and_hard_expiry_at_each_boundary(s, chain):
    side, bot = "short", 1
    f, p = s.facet(side), proto(s, side)
    s.set_rules(side, bot, maxHoldSeconds=3_300)
    p.setTimeProtocol(bot, DOCS, sender=s.owner)
    s.set_oracle(P0)  # a fresh round to open on
    f.openPosition(bot, MARGIN, 20_000, deadline(chain), sender=s.keeper)
    t0 = int(f.position(bot).openedAt)

    def check_at(offset):
        chain.pending_timestamp = t0 + offset
        receipt = f.checkTriggers(bot, sender=s.keeper)
        assert chain.blocks.head.timestamp == t0 + offset
        return fired(s, side, receipt), decreased(s, side, receipt)

    def margin():
        return int(f.position(bot).marginQuote)

    assert check_at(899) == ([], [])  # golden window: no time exit
    assert tuple(p.decayState(bot)) == (0, 0)
    m = margin()
    assert check_at(900) == ([KIND_TIME_DECAY], [(KIND_TIME_DECAY, 3_300)])
    assert margin() == m - m * 3_300 // BPS and tuple(p.decayState(bot)) == (1, 1)
    assert check_at(901) == ([], [])  # one reduction per step
    assert check_at(1_199) == ([], [])
    assert check_at(1_200) == ([KIND_TIME_DECAY], [(KIND_TIME_DECAY, 3_300)])
    # the keeper missed the steps at 1,500 .. 2,400 s: one reduction catches up 1 - 0.67^4
    left = BPS
    for _ in range(4):
        left = left * (BPS - 3_300) // BPS
    assert check_at(2_400) == ([KIND_TIME_DECAY], [(KIND_TIME_DECAY, BPS - left)])
    assert tuple(p.decayState(bot)) == (6, 6)  # steps at 15, 20, 25, 30, 35, 40 min
    assert check_at(2_700) == ([], [])  # the decay window is over
    assert check_at(3_299) == ([], [])
    assert check_at(3_300) == ([KIND_EXPIRY], [])  # hard expiry at 55 min
    assert not f.position(bot).open and tuple(p.decayState(bot)) == (0, 0)


def test_decay_counts_from_each_new_open(s, chain):
    side, bot = "short", 2
    f, p = s.facet(side), proto(s, side)
    p.setTimeProtocol(bot, DOCS, sender=s.owner)
    for _ in range(2):
        s.set_oracle(P0)
        f.openPosition(bot, MARGIN, 20_000, deadline(chain), sender=s.keeper)
        t0 = int(f.position(bot).openedAt)
        assert tuple(p.protocolDue(bot)) == (0, 0, 0)  # an earlier position's steps do not carry over
        chain.pending_timestamp = t0 + 900
        receipt = f.checkTriggers(bot, sender=s.keeper)
        assert fired(s, side, receipt) == [KIND_TIME_DECAY] and tuple(p.decayState(bot)) == (1, 1)
        f.closePosition(bot, deadline(chain), sender=s.keeper)


# -- volatility breaker --------------------------------------------------------------------------
def test_breaker_defaults_and_bounds(s):
    p = proto(s, "long")
    assert tuple(p.volatilityConfig()) == DEFAULT_VOL
    assert tuple(p.volatilityStatus()) == (False, 0, 0, 0)
    with reverts_named("VolatilityBreakerDisabled"):
        p.tripVolatilityBreaker(sender=s.keeper)
    for i, name, value in [(1, "maxMoveBps", 99), (2, "moveWindowSeconds", 59), (3, "maxDropBps", 9_001),
                           (4, "coolDownSeconds", 59), (5, "reduceBps", 10_001), (6, "redCandles", 11),
                           (7, "candleSeconds", 86_401)]:
        bad = list(TEST_VOL)
        bad[i] = value
        with reverts_named("ProtocolValueOutOfBounds", name=name):
            p.setVolatilityBreaker(tuple(bad), sender=s.owner)
    with reverts_named("NotContractOwner"):
        p.setVolatilityBreaker(TEST_VOL, sender=s.keeper)
    receipt = p.setVolatilityBreaker(TEST_VOL, sender=s.owner)
    (ev,) = receipt.decode_logs(p.VolatilityBreakerSet)
    assert tuple(ev.config) == TEST_VOL and tuple(p.volatilityConfig()) == TEST_VOL


UP25 = P0 * 125 // 100
DOWN20 = P0 * 80 // 100


@pytest.mark.parametrize("case,rounds,reason", [
    ("move exactly 25 %", [(P0, -300), (UP25, 0)], 0),
    ("move 25 % + 1", [(P0, -300), (UP25 + 1, 0)], 1),
    ("30 % move 301 s apart", [(P0, -301), (P0 * 13 // 10, 0)], 0),
    ("30 % move 300 s apart", [(P0, -300), (P0 * 13 // 10, 0)], 1),
    ("26 % in two steps within the window", [(P0, -300), (P0 * 113 // 100, -150), (P0 * 126 // 100, 0)], 1),
    ("drop exactly 20 %", [(P0, -60), (DOWN20, 0)], 0),
    ("drop 20 % + 1", [(P0, -60), (DOWN20 - 1, 0)], 2),
    ("drop 21 % an hour apart", [(P0, -3_600), (P0 * 79 // 100, 0)], 2),
])
def test_breaker_thresholds_from_feed_rounds(s, chain, case, rounds, reason):
    p = proto(s, "long")
    p.setVolatilityBreaker(TEST_VOL, sender=s.owner)
    now = calm(s, chain)
    write_rounds(s, [(answer, now + dt) for answer, dt in rounds])
    expected = (True, reason, now, now + COOL) if reason else (False, 0, 0, 0)
    assert tuple(p.volatilityStatus()) == expected, case


def test_breaker_refuses_opening_reduces_once_then_cools_down(s, chain):
    side = "long"
    f, p = s.facet(side), proto(s, side)
    p.setVolatilityBreaker(TEST_VOL, sender=s.owner)
    calm(s, chain)
    s.move_price(P0)
    f.openPosition(1, MARGIN, 20_000, deadline(chain), sender=s.keeper)
    t = chain.blocks.head.timestamp
    up = P0 * 126 // 100
    s.set_pool_price(up)
    write_rounds(s, [(up, t)])  # +26 % on the round before, within 5 min
    assert tuple(p.volatilityStatus()) == (True, 1, t, t + COOL)
    with reverts_named("VolatilityBreakerActive", reason=1, firedAt=t, until=t + COOL):
        f.openPosition(2, MARGIN, 20_000, deadline(chain), sender=s.keeper)
    with reverts_named("VolatilityBreakerActive", reason=1):
        f.increasePosition(1, MARGIN, 20_000, deadline(chain), sender=s.keeper)
    assert tuple(p.protocolDue(1)) == (KIND_VOLATILITY, 5_000, t)
    receipt = f.checkTriggers(1, sender=s.keeper)
    assert fired(s, side, receipt) == [KIND_VOLATILITY]
    assert decreased(s, side, receipt) == [(KIND_VOLATILITY, 5_000)]
    assert tuple(p.protocolDue(1)) == (0, 0, 0)  # once per trip
    receipt = f.checkTriggers(1, sender=s.keeper)
    assert KIND_VOLATILITY not in fired(s, side, receipt)  # the +26 % take-profit stage instead
    # the cool-down's last second still refuses (a view at a mined block), its end allows opening
    chain.mine(timestamp=t + COOL - 1)
    assert tuple(p.volatilityStatus())[0] is True
    chain.pending_timestamp = t + COOL
    f.openPosition(2, MARGIN, 20_000, deadline(chain), sender=s.keeper)
    assert chain.blocks.head.timestamp == t + COOL and f.position(2).open


def test_keeper_trip_holds_for_the_cool_down(s, chain, stranger):
    side = "long"
    f, p = s.facet(side), proto(s, side)
    p.setVolatilityBreaker(TEST_VOL, sender=s.owner)
    calm(s, chain)
    s.move_price(P0)
    f.openPosition(1, MARGIN, 20_000, deadline(chain), sender=s.keeper)
    with reverts_named("NotKeeper"):
        p.tripVolatilityBreaker(sender=stranger)
    receipt = p.tripVolatilityBreaker(sender=s.keeper)
    t = chain.blocks.head.timestamp
    (ev,) = receipt.decode_logs(p.VolatilityBreakerTripped)
    assert (ev.reason, ev.until) == (3, t + COOL)
    assert tuple(p.volatilityStatus()) == (True, 3, t, t + COOL)
    with reverts_named("VolatilityBreakerActive", reason=3, firedAt=t, until=t + COOL):
        f.openPosition(3, MARGIN, 20_000, deadline(chain), sender=s.keeper)
    assert tuple(p.protocolDue(1)) == (KIND_VOLATILITY, 5_000, t)  # the open position: reduced once
    assert fired(s, side, f.checkTriggers(1, sender=s.keeper)) == [KIND_VOLATILITY]
    assert tuple(p.protocolDue(1)) == (0, 0, 0)
    chain.pending_timestamp = t + COOL
    s.set_oracle(P0)
    assert tuple(p.volatilityStatus())[0] is False
    f.openPosition(3, MARGIN, 20_000, deadline(chain), sender=s.keeper)
    p.setVolatilityBreaker((False,) + TEST_VOL[1:], sender=s.owner)  # disabled: never tripped
    assert tuple(p.volatilityStatus()) == (False, 0, 0, 0)


# -- keeper ----------------------------------------------------------------------------------------
def test_keeper_trips_on_red_candles_then_skips_opening_and_sends_the_volatility_trigger(s, chain):
    from macrostrike.keeper.journal import Journal
    from macrostrike.keeper.settings import KeeperSettings
    from macrostrike.keeper.strike import StrikeContext, StrikeJob
    from macrostrike.keeper.txsender import TxSender

    side = "short"  # falling prices: no stop-loss on the open position
    f, p = s.facet(side), proto(s, side)
    p.setVolatilityBreaker((True, 2_500, 300, 2_000, COOL, 10_000, 3, 60), sender=s.owner)  # 60-s candles, close
    calm(s, chain)
    s.move_price(P0)
    f.openPosition(1, MARGIN, 15_000, deadline(chain), sender=s.keeper)  # 1.5x: HF far above the keeper's floor
    # one falling round (-1 % each: no on-chain rule fires) in each of three 60-s candles
    base = chain.blocks.head.timestamp // 60 * 60 + 60
    write_rounds(s, [(P0 * (100 - k) // 100, base + 60 * (k - 1) + 10) for k in range(1, 4)])
    s.set_pool_price(P0 * 97 // 100)  # the pool follows the feed (the close's swap floor is the oracle's)
    chain.mine(timestamp=base + 120 + 59)  # the third candle still forming: 2 red so far
    settings = KeeperSettings()
    journal = Journal()
    ctx = StrikeContext(s.system.manifest)
    sender = TxSender(s.keeper, priority_fee_wei=settings.priority_fee_wei, error_table=ctx.errors, journal=journal)
    job = StrikeJob(ctx, sender, settings, journal)
    assert [d for d in job.tick() if d.reason == "volatility_trip"] == []
    chain.mine(timestamp=base + 180)  # three complete red candles
    (trip,) = [d for d in job.tick() if d.reason == "volatility_trip"]
    assert trip.action == "send" and trip.detail["side"] == side and trip.detail["red_candles"] == 3
    chain.mine()
    active, reason, _fired, _until = p.volatilityStatus()
    assert active and reason == 3
    job.bots[(side, 2)].desired = job.bots[(side, 2)].wants  # a flat bot whose signal says open
    decisions = job.tick()  # settles the trip, then decides with the breaker tripped
    settled = [d for d in decisions if d.reason == "volatility_trip" and d.action == "settle"]
    assert settled and settled[0].detail["status"] == "mined"
    # the open position: checkTriggers would close it (reduceBps 10,000): the keeper sends it
    (trigger,) = [d for d in decisions if d.reason == "trigger" and d.bot_id == 1 and d.detail["side"] == side]
    assert trigger.detail["trigger"] == "volatility"
    (skipped,) = [d for d in decisions if d.reason == "volatility_breaker" and d.bot_id == 2]
    assert skipped.detail["breaker_reason"] == 3
    chain.mine()
    job.tick()
    assert not f.position(1).open
