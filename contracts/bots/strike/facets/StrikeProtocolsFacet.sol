// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LibDiamond} from "../../../diamond/libraries/LibDiamond.sol";
import {LibBots} from "../../libraries/LibBots.sol";
import {LibStrike} from "../LibStrike.sol";
import {LibStrikeProtocols} from "../LibStrikeProtocols.sol";

/// @title StrikeProtocolsFacet
/// @notice Configuration and state of a strike child's time protocol (per bot) and volatility
///         circuit breaker (per child), LibStrikeProtocols. StrikeFacet enforces both: opening and
///         increasing run `LibStrikeProtocols.enforceCalm` in-line (reverts VolatilityBreakerActive
///         while tripped; `enforceCalmMarket` here is the same check for callers outside), and
///         checkTriggers asks `protocolDue` what to do with an open position (KIND_VOLATILITY:
///         reduce by the breaker's reduceBps once per trip; KIND_TIME_DECAY: the decay steps due).
///         Ratios: bps; times: seconds (unix s for instants).
contract StrikeProtocolsFacet {
    uint256 private constant BPS = 10_000;
    /// @notice checkTriggers kinds of the protocols (after StrikeFacet's 1..5).
    uint8 public constant KIND_TIME_DECAY = 6;
    uint8 public constant KIND_VOLATILITY = 7;

    /// @notice A configuration value is outside [min, max].
    error ProtocolValueOutOfBounds(string name, uint256 value, uint256 min, uint256 max);
    /// @notice tripVolatilityBreaker while the breaker is disabled.
    error VolatilityBreakerDisabled();

    event TimeProtocolSet(uint256 indexed botId, LibStrikeProtocols.TimeProtocol schedule);
    event VolatilityBreakerSet(LibStrikeProtocols.VolatilityConfig config);
    /// @notice The keeper tripped the breaker for what it checks off chain (red candles).
    event VolatilityBreakerTripped(address indexed by, uint8 reason, uint256 until);

    // ----------------------------------------------------------------------------------------
    // time protocol
    // ----------------------------------------------------------------------------------------

    /// @notice Sets bot `botId`'s time protocol. Owner only. `decayBps` 0 turns it off (the
    ///         default); otherwise decayBps 1..10,000, decayStepSeconds 60..86,400,
    ///         goldenSeconds < decayEndSeconds ≤ 30 days, at most 24 steps. The documents' schedule:
    ///         (900, 2,700, 300, 3,300) with maxHoldSeconds 3,300 (setRules) as the hard expiry.
    ///         Applies to open positions too (their decay steps count from their open).
    /// @dev Reverts NotContractOwner, UnknownBot, ProtocolValueOutOfBounds(name, value, min, max).
    function setTimeProtocol(uint256 botId, LibStrikeProtocols.TimeProtocol calldata tp) external {
        LibDiamond.enforceIsContractOwner();
        LibBots.existingBot(botId);
        if (tp.decayBps != 0) {
            _bound("decayBps", tp.decayBps, 1, BPS);
            _bound("decayStepSeconds", tp.decayStepSeconds, 60, 1 days);
            _bound("decayEndSeconds", tp.decayEndSeconds, uint256(tp.goldenSeconds) + 1, 30 days);
            uint256 steps = (uint256(tp.decayEndSeconds) - tp.goldenSeconds + tp.decayStepSeconds - 1) / tp.decayStepSeconds;
            _bound("decaySteps", steps, 1, LibStrikeProtocols.MAX_DECAY_STEPS);
        }
        LibStrikeProtocols.protocolStorage().timeProtocol[botId] = tp;
        emit TimeProtocolSet(botId, tp);
    }

    /// @notice Bot `botId`'s time protocol (zeros: off).
    function timeProtocol(uint256 botId) external view returns (LibStrikeProtocols.TimeProtocol memory) {
        return LibStrikeProtocols.protocolStorage().timeProtocol[botId];
    }

    /// @notice Bot `botId`'s decay: steps due now and steps taken by its open position (0, 0 if flat).
    function decayState(uint256 botId) external view returns (uint256 due, uint256 taken) {
        LibStrike.Position storage p = LibStrike.strikeStorage().positions[botId];
        if (!p.open) return (0, 0);
        LibStrikeProtocols.ProtocolStorage storage s = LibStrikeProtocols.protocolStorage();
        due = LibStrikeProtocols.stepsDue(s.timeProtocol[botId], block.timestamp - p.openedAt);
        LibStrikeProtocols.DecayState memory d = s.decay[botId];
        taken = d.openedAt == p.openedAt ? d.steps : 0;
    }

    // ----------------------------------------------------------------------------------------
    // volatility breaker
    // ----------------------------------------------------------------------------------------

    /// @notice Sets the child's volatility breaker. Owner only. Bounds: maxMoveBps and maxDropBps
    ///         100..9,000; moveWindowSeconds 60..86,400; coolDownSeconds 60..604,800; reduceBps
    ///         0..10,000 (10,000 closes, 0 only stops opening); redCandles 0..10 (0: keeper rule
    ///         off); candleSeconds 60..86,400. Defaults until set (disabled): 2,500 bps in 300 s,
    ///         2,000 bps drop, 1,800 s cool-down, close, 3 red candles of 300 s.
    /// @dev Reverts NotContractOwner, ProtocolValueOutOfBounds(name, value, min, max).
    function setVolatilityBreaker(LibStrikeProtocols.VolatilityConfig calldata v) external {
        LibDiamond.enforceIsContractOwner();
        _bound("maxMoveBps", v.maxMoveBps, 100, 9_000);
        _bound("moveWindowSeconds", v.moveWindowSeconds, 60, 1 days);
        _bound("maxDropBps", v.maxDropBps, 100, 9_000);
        _bound("coolDownSeconds", v.coolDownSeconds, 60, 7 days);
        _bound("reduceBps", v.reduceBps, 0, BPS);
        _bound("redCandles", v.redCandles, 0, 10);
        _bound("candleSeconds", v.candleSeconds, 60, 1 days);
        LibStrikeProtocols.ProtocolStorage storage s = LibStrikeProtocols.protocolStorage();
        s.volatility = v;
        s.volatilitySet = true;
        emit VolatilityBreakerSet(v);
    }

    /// @notice The breaker's configuration (defaults, disabled, until set).
    function volatilityConfig() external view returns (LibStrikeProtocols.VolatilityConfig memory) {
        return LibStrikeProtocols.volatilityConfig();
    }

    /// @notice Whether the breaker is tripped now, why (0 none, 1 move, 2 drop, 3 red candles),
    ///         when the event was (unix s) and until when it holds (unix s). Reads at most
    ///         LibStrikeProtocols.MAX_ROUNDS feed rounds.
    function volatilityStatus() external view returns (bool active, uint8 reason, uint256 firedAt, uint256 until) {
        return LibStrikeProtocols.status();
    }

    /// @notice Reverts VolatilityBreakerActive while the breaker is tripped: the check StrikeFacet's
    ///         opening and increasing run in-line (LibStrikeProtocols.enforceCalm), for other callers.
    function enforceCalmMarket() external view {
        LibStrikeProtocols.enforceCalm();
    }

    /// @notice Trips the breaker now for a condition the keeper checks off chain (`redCandles`
    ///         red candles of `candleSeconds`): it holds for coolDownSeconds. Keeper or owner.
    /// @dev Reverts NotKeeper, VolatilityBreakerDisabled.
    function tripVolatilityBreaker() external {
        LibBots.enforceKeeperOrOwner();
        LibStrikeProtocols.VolatilityConfig memory v = LibStrikeProtocols.volatilityConfig();
        if (!v.enabled) revert VolatilityBreakerDisabled();
        LibStrikeProtocols.protocolStorage().keeperTripAt = uint64(block.timestamp);
        emit VolatilityBreakerTripped(msg.sender, LibStrikeProtocols.VOL_RED_CANDLES, block.timestamp + v.coolDownSeconds);
    }

    // ----------------------------------------------------------------------------------------
    // for checkTriggers
    // ----------------------------------------------------------------------------------------

    /// @notice What the protocols ask of bot `botId`'s open position now, first match only:
    ///         the breaker tripped by an event this position was not yet reduced for
    ///         (KIND_VOLATILITY, reduceBps, mark = the event's time), then decay steps due beyond
    ///         those taken (KIND_TIME_DECAY, 1 − (1 − decayBps)^(due − taken), mark = steps due).
    ///         (0, 0, 0) if nothing is due or the position is flat. StrikeFacet.checkTriggers
    ///         records `mark` and decreases (closes at 10,000).
    function protocolDue(uint256 botId) external view returns (uint8 kind, uint256 fractionBps, uint256 mark) {
        LibStrike.Position storage p = LibStrike.strikeStorage().positions[botId];
        if (!p.open) return (0, 0, 0);
        LibStrikeProtocols.ProtocolStorage storage s = LibStrikeProtocols.protocolStorage();
        (bool active,, uint256 firedAt,) = LibStrikeProtocols.status();
        uint256 reduce = LibStrikeProtocols.volatilityConfig().reduceBps;
        if (active && reduce != 0 && firedAt > s.volatilityHandled[botId]) return (KIND_VOLATILITY, reduce, firedAt);
        uint256 due = LibStrikeProtocols.stepsDue(s.timeProtocol[botId], block.timestamp - p.openedAt);
        LibStrikeProtocols.DecayState memory d = s.decay[botId];
        uint256 taken = d.openedAt == p.openedAt ? d.steps : 0;
        if (due > taken) {
            return (KIND_TIME_DECAY, LibStrikeProtocols.decayFraction(s.timeProtocol[botId].decayBps, due - taken), due);
        }
        return (0, 0, 0);
    }

    function _bound(string memory name, uint256 value, uint256 min, uint256 max) private pure {
        if (value < min || value > max) revert ProtocolValueOutOfBounds(name, value, min, max);
    }
}
