// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AggregatorV3Interface} from "../../vendor/chainlink/interfaces/AggregatorV3Interface.sol";
import {LibStrike, IAaveOracle} from "./LibStrike.sol";

/// @title LibStrikeProtocols
/// @notice The exit system's time protocol and volatility circuit breaker of a strike child
///         (issue 15 §3, §4), ERC-7201 namespace "macrostrike.strike.protocols".
///         - Time protocol (per bot): a golden window (no time exit for `goldenSeconds` after the
///           open), then a decay window up to `decayEndSeconds` in which every `decayStepSeconds`
///           the position is reduced by `decayBps` of what is open; the hard expiry stays
///           LibStrike.Rules.maxHoldSeconds. Off while `decayBps` is 0 (the default).
///         - Volatility breaker (per child): from the asset feed's last rounds (Chainlink
///           AggregatorV3Interface.getRoundData, at most MAX_ROUNDS of them) a move of more than
///           `maxMoveBps` between two rounds at most `moveWindowSeconds` apart, or a drop of more
///           than `maxDropBps` from one round to the next, trips it until `coolDownSeconds` after
///           the later round; the keeper trips it for the rest (`redCandles` red candles of
///           `candleSeconds`), with the same cool-down. While tripped, opening and increasing
///           revert VolatilityBreakerActive; checkTriggers reduces each open position once per trip
///           by `reduceBps` (10,000 = close, 0 = only stop opening).
///         Ratios: bps (10,000 = 100 %); times: seconds; prices: the feed's answers (8 decimals).
library LibStrikeProtocols {
    // keccak256(abi.encode(uint256(keccak256("macrostrike.strike.protocols")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant STORAGE_SLOT = 0x1a14128498c7136bc4b0c72a57227f5c1d6a4739f3524a267e21bebdd4445e00;

    uint256 internal constant BPS = 10_000;
    /// @notice Most feed rounds the breaker reads (the latest included): bounds its loop and gas.
    uint256 internal constant MAX_ROUNDS = 12;
    /// @notice Most decay steps of a schedule (bounds the catch-up loop).
    uint256 internal constant MAX_DECAY_STEPS = 24;

    /// @notice Why the breaker is tripped (volatilityStatus's `reason`).
    uint8 internal constant VOL_NONE = 0;
    uint8 internal constant VOL_MOVE = 1;
    uint8 internal constant VOL_DROP = 2;
    uint8 internal constant VOL_RED_CANDLES = 3;

    // Volatility defaults (the trading-protocol documents; cool-down: this project's choice).
    uint16 internal constant DEFAULT_MAX_MOVE_BPS = 2_500;
    uint32 internal constant DEFAULT_MOVE_WINDOW = 5 minutes;
    uint16 internal constant DEFAULT_MAX_DROP_BPS = 2_000;
    uint32 internal constant DEFAULT_COOL_DOWN = 30 minutes;
    uint16 internal constant DEFAULT_REDUCE_BPS = 10_000;
    uint8 internal constant DEFAULT_RED_CANDLES = 3;
    uint32 internal constant DEFAULT_CANDLE = 5 minutes;

    /// @notice Per-bot time schedule (seconds since the open; `decayBps` of what is open per step).
    struct TimeProtocol {
        uint32 goldenSeconds;
        uint32 decayEndSeconds;
        uint32 decayStepSeconds;
        uint16 decayBps;
    }

    /// @notice Per-child breaker configuration. `redCandles`/`candleSeconds` are the keeper's
    ///         (it trips the breaker through tripVolatilityBreaker); the rest is checked here.
    struct VolatilityConfig {
        bool enabled;
        uint16 maxMoveBps;
        uint32 moveWindowSeconds;
        uint16 maxDropBps;
        uint32 coolDownSeconds;
        uint16 reduceBps;
        uint8 redCandles;
        uint32 candleSeconds;
    }

    /// @dev Decay steps taken by the position opened at `openedAt` (a new position starts at 0).
    struct DecayState {
        uint64 openedAt;
        uint8 steps;
    }

    /// @custom:storage-location erc7201:macrostrike.strike.protocols
    struct ProtocolStorage {
        mapping(uint256 => TimeProtocol) timeProtocol;
        mapping(uint256 => DecayState) decay;
        VolatilityConfig volatility;
        bool volatilitySet;
        /// the keeper's last trip (red candles): time (unix s)
        uint64 keeperTripAt;
        /// bot id -> trip time (unix s) its position was already reduced for
        mapping(uint256 => uint64) volatilityHandled;
    }

    function protocolStorage() internal pure returns (ProtocolStorage storage s) {
        bytes32 slot = STORAGE_SLOT;
        assembly {
            s.slot := slot
        }
    }

    /// @notice The breaker's configuration (the defaults, disabled, until set).
    function volatilityConfig() internal view returns (VolatilityConfig memory) {
        ProtocolStorage storage s = protocolStorage();
        if (s.volatilitySet) return s.volatility;
        return VolatilityConfig(
            false,
            DEFAULT_MAX_MOVE_BPS,
            DEFAULT_MOVE_WINDOW,
            DEFAULT_MAX_DROP_BPS,
            DEFAULT_COOL_DOWN,
            DEFAULT_REDUCE_BPS,
            DEFAULT_RED_CANDLES,
            DEFAULT_CANDLE
        );
    }

    // ----------------------------------------------------------------------------------------
    // volatility breaker
    // ----------------------------------------------------------------------------------------

    /// @notice The volatility breaker is tripped (`reason`: 1 move, 2 drop, 3 red candles) by an
    ///         event at `firedAt` (unix s) until `until`: no opening or increasing before then.
    error VolatilityBreakerActive(uint8 reason, uint256 firedAt, uint256 until);

    /// @notice Reverts VolatilityBreakerActive while the breaker is tripped (see status). Opening
    ///         and increasing call it in-line (StrikeFacet; a self-call cost 7,879 gas more).
    function enforceCalm() internal view {
        (bool active, uint8 reason, uint256 firedAt, uint256 until) = status();
        if (active) revert VolatilityBreakerActive(reason, firedAt, until);
    }

    /// @notice Whether the breaker is tripped now, why (VOL_*), when the event that tripped it
    ///         happened (unix s: the later round's updatedAt, or the keeper's trip) and until when
    ///         (firedAt + coolDownSeconds; tripped while block.timestamp < until). The latest event
    ///         wins. Disabled, or no feed: (false, VOL_NONE, 0, 0).
    function status() internal view returns (bool active, uint8 reason, uint256 firedAt, uint256 until) {
        VolatilityConfig memory v = volatilityConfig();
        if (!v.enabled) return (false, VOL_NONE, 0, 0);
        (reason, firedAt) = _feedEvent(v);
        uint256 keeperAt = protocolStorage().keeperTripAt;
        if (keeperAt != 0 && keeperAt >= firedAt) (reason, firedAt) = (VOL_RED_CANDLES, keeperAt);
        if (reason == VOL_NONE) return (false, VOL_NONE, 0, 0);
        until = firedAt + v.coolDownSeconds;
        active = block.timestamp < until;
    }

    /// @dev The latest move/drop event among the feed's last MAX_ROUNDS rounds that could still
    ///      be cooling down (rounds older than coolDown + window are read only as a drop's "before").
    function _feedEvent(VolatilityConfig memory v) private view returns (uint8 reason, uint256 firedAt) {
        LibStrike.Config storage c = LibStrike.strikeStorage().config;
        if (c.oracle == address(0)) return (VOL_NONE, 0);
        address feed = IAaveOracle(c.oracle).getSourceOfAsset(c.asset);
        if (feed == address(0)) return (VOL_NONE, 0);
        (uint256[] memory p, uint256[] memory t, uint256 n) = _rounds(AggregatorV3Interface(feed), v);
        for (uint256 i; i + 1 < n; ++i) {
            // round i (newer) against the rounds before it; a drop only against the one just before
            if (t[i] + v.coolDownSeconds <= block.timestamp) break; // older events have cooled down
            if (p[i] < p[i + 1] && (p[i + 1] - p[i]) * BPS > uint256(v.maxDropBps) * p[i + 1]) return (VOL_DROP, t[i]);
            for (uint256 j = i + 1; j < n && t[j] + v.moveWindowSeconds >= t[i]; ++j) {
                uint256 diff = p[i] > p[j] ? p[i] - p[j] : p[j] - p[i];
                if (diff * BPS > uint256(v.maxMoveBps) * p[j]) return (VOL_MOVE, t[i]);
            }
        }
        return (VOL_NONE, 0);
    }

    /// @dev The feed's last rounds, newest first: answers, updatedAt, count (≤ MAX_ROUNDS). Stops
    ///      at a round that cannot be read or is not positive, and after the first round older than
    ///      coolDown + window (the round before the oldest one whose event could still count).
    function _rounds(AggregatorV3Interface feed, VolatilityConfig memory v)
        private
        view
        returns (uint256[] memory p, uint256[] memory t, uint256 n)
    {
        p = new uint256[](MAX_ROUNDS);
        t = new uint256[](MAX_ROUNDS);
        (uint80 id, int256 answer,, uint256 updated,) = feed.latestRoundData();
        uint256 oldest = uint256(v.coolDownSeconds) + v.moveWindowSeconds;
        oldest = block.timestamp > oldest ? block.timestamp - oldest : 0;
        while (n < MAX_ROUNDS && answer > 0 && updated != 0) {
            (p[n], t[n]) = (uint256(answer), updated);
            ++n;
            if (updated < oldest || id <= 1) break; // the first round beyond: a drop's "before"
            --id;
            try feed.getRoundData(id) returns (uint80, int256 a, uint256, uint256 u, uint80) {
                (answer, updated) = (a, u);
            } catch {
                break;
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // time protocol
    // ----------------------------------------------------------------------------------------

    /// @notice Decay steps due for a position open for `elapsed` seconds under `tp` (0 in the
    ///         golden window; steps fall at golden + k·step < decayEnd, k = 0, 1, …).
    function stepsDue(TimeProtocol memory tp, uint256 elapsed) internal pure returns (uint256) {
        if (tp.decayBps == 0 || elapsed < tp.goldenSeconds) return 0;
        uint256 total = (uint256(tp.decayEndSeconds) - tp.goldenSeconds + tp.decayStepSeconds - 1) / tp.decayStepSeconds;
        uint256 due = (elapsed - tp.goldenSeconds) / tp.decayStepSeconds + 1;
        return due < total ? due : total;
    }

    /// @notice Fraction (bps of what is open) that `steps` reductions of `decayBps` each take:
    ///         1 − (1 − decayBps)^steps, rounded so that the remainder is rounded down.
    function decayFraction(uint256 decayBps, uint256 steps) internal pure returns (uint256) {
        uint256 left = BPS;
        for (uint256 i; i < steps; ++i) {
            left = left * (BPS - decayBps) / BPS;
        }
        return BPS - left;
    }
}
