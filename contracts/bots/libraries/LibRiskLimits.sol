// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LibBots} from "./LibBots.sol";

/// @notice What a child reports to the master's system-wide per-pair exposure (master ExposureFacet).
interface IMasterExposure {
    function addPairExposure(bytes32 pairKey, uint256 size) external returns (uint256 exposure);
    function removePairExposure(bytes32 pairKey, uint256 size) external returns (uint256 exposure);
}

/// @title LibRiskLimits
/// @notice Per-bot risk limits of a child diamond (ERC-7201 "macrostrike.bots.risk"): maximum
///         position size, maximum concurrent positions, daily trade limit, per-pair exposure across
///         the child's bots, and the loss-streak cooldown. Amounts are quote base units (USDC,
///         6 decimals); times are seconds of chain time (block.timestamp).
/// @dev Facets that trade call, per the rule they need:
///      - `checkTrade(botId)` once per trade: cooldown, then the daily trade counter (counts it);
///      - `checkOpen(botId, pairKey, size)` (view) before opening, `recordOpen` when opened
///        (re-checks, counts the trade, adds the exposure), `recordClose` when closed (never
///        reverts on a limit: closing is always allowed; updates the loss streak);
///      - `recordResult(botId, pnl)` for a trade with no position left open (an arbitrage).
///      A "day" is 86,400 s from the bot's first trade of that day.
///      Parameters are the defaults below until the owner sets them (RiskLimitsFacet).
///      System-wide: after updating the child's per-pair exposure, recordOpen, recordIncrease and
///      recordClose bring the master's sum (ExposureFacet) up to date with the difference between
///      the child's exposure on the pair and what it reported last (`reportedExposure`): an open
///      adds (the master reverts SystemPairExposureExceeded above its limit, undoing the open), a
///      close removes (never reverts on a limit). Reporting the difference keeps the master equal
///      to the child's own figure even for exposure raised without a report (positions opened
///      before this code was cut in, or an increase booked directly in storage): it joins the
///      master's sum at the pair's next open or close. Exposure is margin, as for the child's limits.
///      Skipped when the child has no master (address 0). Effects come before the master call.
library LibRiskLimits {
    // keccak256(abi.encode(uint256(keccak256("macrostrike.bots.risk")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant STORAGE_SLOT = 0x2ca3e39be7bdd98e61aa637de4948770436d4f0c99bf43d9a78e28f6e45a0a00;

    uint64 internal constant DAY = 86_400;

    /// @notice Default largest single position: $8,000, one bot's capital at the $800,000 reference size.
    uint256 internal constant DEFAULT_MAX_POSITION_SIZE = 8_000e6;
    /// @notice Default open positions per bot: 1 (one Aave position holder per strike bot).
    uint32 internal constant DEFAULT_MAX_CONCURRENT_POSITIONS = 1;
    /// @notice Default trades per bot per day.
    uint32 internal constant DEFAULT_DAILY_TRADE_LIMIT = 100;
    /// @notice Default open exposure on one pair summed over the child's bots: $200,000 (25% of the reference size).
    uint256 internal constant DEFAULT_MAX_PAIR_EXPOSURE = 200_000e6;
    /// @notice Default consecutive losing trades that start a cooldown (system specification: 3).
    uint32 internal constant DEFAULT_LOSS_STREAK_LIMIT = 3;
    /// @notice Default cooldown after a loss streak (system specification: 30 minutes).
    uint64 internal constant DEFAULT_COOLDOWN_SECONDS = 1_800;

    /// @notice Upper bounds accepted by `setLimits`.
    uint32 internal constant MAX_CONCURRENT_POSITIONS_BOUND = 100;
    uint32 internal constant MAX_DAILY_TRADE_LIMIT_BOUND = 10_000;
    uint32 internal constant MAX_LOSS_STREAK_BOUND = 100;
    uint64 internal constant MAX_COOLDOWN_BOUND = 7 days;

    /// @notice The limits in force.
    struct Limits {
        uint256 maxPositionSize;
        uint256 maxPairExposure;
        uint32 maxConcurrentPositions;
        uint32 dailyTradeLimit;
        uint32 lossStreakLimit;
        uint64 cooldownSeconds;
    }

    /// @notice One bot's counters.
    struct BotRisk {
        uint32 openPositions;
        uint32 tradesToday;
        uint32 lossStreak;
        uint64 dayStart;
        uint64 cooldownUntil;
    }

    /// @custom:storage-location erc7201:macrostrike.bots.risk
    struct RiskLimitsStorage {
        /// false: the DEFAULT_* values are in force
        bool configured;
        uint32 maxConcurrentPositions;
        uint32 dailyTradeLimit;
        uint32 lossStreakLimit;
        uint64 cooldownSeconds;
        uint256 maxPositionSize;
        uint256 maxPairExposure;
        mapping(uint256 => BotRisk) bots;
        /// pair key -> open size summed over the child's bots
        mapping(bytes32 => uint256) pairExposure;
        /// pair key -> the pairExposure last reported to the master (ExposureFacet)
        mapping(bytes32 => uint256) reportedExposure;
    }

    /// @notice A parameter is outside [min, max].
    error ParameterOutOfRange(string name, uint256 value, uint256 min, uint256 max);
    /// @notice The bot is cooling down after a loss streak until `until` (unix s).
    error BotCoolingDown(uint256 botId, uint64 until);
    /// @notice The bot made `limit` trades in its current day already.
    error DailyTradeLimitReached(uint256 botId, uint32 limit);
    /// @notice `size` is above the maximum position size.
    error PositionTooLarge(uint256 botId, uint256 size, uint256 maxPositionSize);
    /// @notice The bot holds `maxConcurrentPositions` open positions already.
    error TooManyOpenPositions(uint256 botId, uint32 maxConcurrentPositions);
    /// @notice Opening `size` would take the pair's exposure above `maxPairExposure`.
    error PairExposureExceeded(bytes32 pairKey, uint256 exposure, uint256 size, uint256 maxPairExposure);
    /// @notice recordClose for a bot with no open position.
    error NoOpenPosition(uint256 botId);
    /// @notice The master's circuit breaker is tripped: only reducing or closing is allowed.
    error BreakerIsTripped();

    event RiskLimitsSet(
        uint256 maxPositionSize,
        uint32 maxConcurrentPositions,
        uint32 dailyTradeLimit,
        uint256 maxPairExposure,
        uint32 lossStreakLimit,
        uint64 cooldownSeconds
    );
    event PositionOpenRecorded(uint256 indexed botId, bytes32 indexed pairKey, uint256 size, uint256 pairExposure);
    event PositionCloseRecorded(
        uint256 indexed botId, bytes32 indexed pairKey, uint256 size, int256 pnl, uint32 lossStreak
    );
    /// @notice The master pushed its circuit breaker state: `tripped` true stops openings here.
    event MasterBreakerSet(bool tripped);
    /// @notice `botId` lost `streak` trades in a row and may not trade before `until` (unix s).
    event BotCooldownStarted(uint256 indexed botId, uint32 streak, uint64 until);
    event BotCooldownCleared(uint256 indexed botId);
    /// @notice The master refused a removal of exposure on `pairKey` (reported `reported`, the
    ///         child now holds `exposure`); the close went through, the difference is retried later.
    event ExposureReportFailed(bytes32 indexed pairKey, uint256 reported, uint256 exposure);

    function riskStorage() internal pure returns (RiskLimitsStorage storage s) {
        bytes32 slot = STORAGE_SLOT;
        assembly {
            s.slot := slot
        }
    }

    /// @notice The limits in force (defaults until set).
    function limits() internal view returns (Limits memory l) {
        RiskLimitsStorage storage s = riskStorage();
        if (!s.configured) {
            return Limits(
                DEFAULT_MAX_POSITION_SIZE,
                DEFAULT_MAX_PAIR_EXPOSURE,
                DEFAULT_MAX_CONCURRENT_POSITIONS,
                DEFAULT_DAILY_TRADE_LIMIT,
                DEFAULT_LOSS_STREAK_LIMIT,
                DEFAULT_COOLDOWN_SECONDS
            );
        }
        return Limits(
            s.maxPositionSize,
            s.maxPairExposure,
            s.maxConcurrentPositions,
            s.dailyTradeLimit,
            s.lossStreakLimit,
            s.cooldownSeconds
        );
    }

    /// @notice Validates and stores `l`. Bounds: sizes >= 1 with maxPairExposure >= maxPositionSize,
    ///         maxConcurrentPositions 1..100, dailyTradeLimit 1..10,000, lossStreakLimit 1..100,
    ///         cooldownSeconds 0..604,800 (7 days).
    function setLimits(Limits memory l) internal {
        if (l.maxPositionSize == 0) revert ParameterOutOfRange("maxPositionSize", 0, 1, type(uint256).max);
        if (l.maxPairExposure < l.maxPositionSize) {
            revert ParameterOutOfRange("maxPairExposure", l.maxPairExposure, l.maxPositionSize, type(uint256).max);
        }
        _bound("maxConcurrentPositions", l.maxConcurrentPositions, 1, MAX_CONCURRENT_POSITIONS_BOUND);
        _bound("dailyTradeLimit", l.dailyTradeLimit, 1, MAX_DAILY_TRADE_LIMIT_BOUND);
        _bound("lossStreakLimit", l.lossStreakLimit, 1, MAX_LOSS_STREAK_BOUND);
        _bound("cooldownSeconds", l.cooldownSeconds, 0, MAX_COOLDOWN_BOUND);
        RiskLimitsStorage storage s = riskStorage();
        s.configured = true;
        s.maxPositionSize = l.maxPositionSize;
        s.maxPairExposure = l.maxPairExposure;
        s.maxConcurrentPositions = l.maxConcurrentPositions;
        s.dailyTradeLimit = l.dailyTradeLimit;
        s.lossStreakLimit = l.lossStreakLimit;
        s.cooldownSeconds = l.cooldownSeconds;
        emit RiskLimitsSet(
            l.maxPositionSize,
            l.maxConcurrentPositions,
            l.dailyTradeLimit,
            l.maxPairExposure,
            l.lossStreakLimit,
            l.cooldownSeconds
        );
    }

    /// @notice Reverts ChildIsPaused when the child is paused, BreakerIsTripped when the master's
    ///         circuit breaker is tripped. For opening positions and trades; never for closing.
    /// @dev The breaker is the child's copy the master pushes (LibBots.masterBreakerTripped, set
    ///      only by the master through ChildCoordinationFacet.setMasterBreaker): one slot read with
    ///      `paused`, no call to the master (-12,389 gas per arbitrage, `make gas`).
    function enforceOpeningAllowed() internal view {
        LibBots.BotStorage storage bs = LibBots.botStorage();
        (bool paused, bool tripped) = (bs.paused, bs.masterBreakerTripped);
        if (paused) revert LibBots.ChildIsPaused();
        if (tripped) revert BreakerIsTripped();
    }

    /// @notice !paused && !masterBreakerTripped (the master's breaker as last pushed to this child).
    function openingAllowed() internal view returns (bool) {
        LibBots.BotStorage storage bs = LibBots.botStorage();
        return !bs.paused && !bs.masterBreakerTripped;
    }

    /// @notice Stores the master's breaker state `tripped` (the caller checks it is the master).
    function setMasterBreaker(bool tripped) internal {
        LibBots.botStorage().masterBreakerTripped = tripped;
        emit MasterBreakerSet(tripped);
    }

    /// @notice Cooldown and daily trade limit for one trade of `botId`; counts the trade.
    /// @dev The trade allowed last in a day is number `dailyTradeLimit`; the next reverts until
    ///      86,400 s after the day's first trade.
    ///      Reads the bot's counters once (one slot) and only the limits' first slot.
    function checkTrade(uint256 botId) internal {
        RiskLimitsStorage storage s = riskStorage();
        uint32 limit = s.configured ? s.dailyTradeLimit : DEFAULT_DAILY_TRADE_LIMIT;
        BotRisk storage b = s.bots[botId];
        (uint64 cooldownUntil, uint64 dayStart, uint32 tradesToday) = (b.cooldownUntil, b.dayStart, b.tradesToday);
        if (block.timestamp < cooldownUntil) revert BotCoolingDown(botId, cooldownUntil);
        if (block.timestamp >= uint256(dayStart) + DAY) {
            (b.dayStart, b.tradesToday) = (uint64(block.timestamp), 1);
            return;
        }
        if (tradesToday >= limit) revert DailyTradeLimitReached(botId, limit);
        b.tradesToday = tradesToday + 1;
    }

    /// @notice Reverts unless `botId` may open a position of `size` on `pairKey` now: cooldown,
    ///         daily trade limit, maximum position size, concurrent positions, pair exposure.
    function checkOpen(uint256 botId, bytes32 pairKey, uint256 size) internal view {
        Limits memory l = limits();
        RiskLimitsStorage storage s = riskStorage();
        BotRisk storage b = s.bots[botId];
        _enforceNoCooldown(botId, b);
        if (block.timestamp < uint256(b.dayStart) + DAY && b.tradesToday >= l.dailyTradeLimit) {
            revert DailyTradeLimitReached(botId, l.dailyTradeLimit);
        }
        if (size > l.maxPositionSize) revert PositionTooLarge(botId, size, l.maxPositionSize);
        if (b.openPositions >= l.maxConcurrentPositions) revert TooManyOpenPositions(botId, l.maxConcurrentPositions);
        uint256 exposure = s.pairExposure[pairKey];
        if (exposure + size > l.maxPairExposure) revert PairExposureExceeded(pairKey, exposure, size, l.maxPairExposure);
    }

    /// @notice Checks (checkOpen), counts the trade (checkTrade) and records an opened position.
    function recordOpen(uint256 botId, bytes32 pairKey, uint256 size) internal {
        checkOpen(botId, pairKey, size);
        checkTrade(botId);
        RiskLimitsStorage storage s = riskStorage();
        s.bots[botId].openPositions += 1;
        uint256 exposure = s.pairExposure[pairKey] + size;
        s.pairExposure[pairKey] = exposure;
        emit PositionOpenRecorded(botId, pairKey, size, exposure);
        _reportExposure(pairKey, exposure);
    }

    /// @notice Checks and records adding `add` to bot `botId`'s open position of `size` on
    ///         `pairKey`: cooldown and daily trades (counts the trade), maximum position size over
    ///         size + add, the child's pair exposure; then reports it to the master (which checks
    ///         the system-wide limit). Released by recordClose with the position's whole size.
    function recordIncrease(uint256 botId, bytes32 pairKey, uint256 size, uint256 add) internal {
        checkTrade(botId);
        Limits memory l = limits();
        if (size + add > l.maxPositionSize) revert PositionTooLarge(botId, size + add, l.maxPositionSize);
        RiskLimitsStorage storage s = riskStorage();
        uint256 exposure = s.pairExposure[pairKey];
        if (exposure + add > l.maxPairExposure) revert PairExposureExceeded(pairKey, exposure, add, l.maxPairExposure);
        exposure += add;
        s.pairExposure[pairKey] = exposure;
        _reportExposure(pairKey, exposure);
    }

    /// @notice Records a closed (or reduced to zero) position of `size` with realised `pnl`; never
    ///         reverts on a limit. `pnl` < 0 extends the loss streak, >= 0 ends it.
    function recordClose(uint256 botId, bytes32 pairKey, uint256 size, int256 pnl) internal {
        RiskLimitsStorage storage s = riskStorage();
        BotRisk storage b = s.bots[botId];
        if (b.openPositions == 0) revert NoOpenPosition(botId);
        b.openPositions -= 1;
        uint256 exposure = s.pairExposure[pairKey];
        exposure = exposure > size ? exposure - size : 0;
        s.pairExposure[pairKey] = exposure;
        _streak(botId, b, pnl);
        emit PositionCloseRecorded(botId, pairKey, size, pnl, b.lossStreak);
        _reportExposure(pairKey, exposure);
    }

    /// @notice Sentinel that registration pre-writes in a new bot's `dayStart` (issue 12, gas): a
    ///         day that ended long ago, so checks and the first trade behave as with 0 (the trade
    ///         starts a new day), while that trade writes non-zero over non-zero (EIP-2200: 2,900
    ///         instead of 20,000 gas). RiskLimitsFacet.botRisk shows it as 0.
    uint64 internal constant PRE_WRITTEN_DAY_START = 1;

    /// @notice Pre-writes a new bot's risk counters slot (PRE_WRITTEN_DAY_START). Registration only.
    function preWrite(uint256 botId) internal {
        riskStorage().bots[botId].dayStart = PRE_WRITTEN_DAY_START;
    }

    /// @notice Records the result of a trade that left no position open (loss streak only).
    function recordResult(uint256 botId, int256 pnl) internal {
        BotRisk storage b = riskStorage().bots[botId];
        if (pnl >= 0 && b.lossStreak == 0) return;
        _streak(botId, b, pnl);
    }

    /// @notice Ends `botId`'s cooldown and loss streak now (owner action through RiskLimitsFacet).
    function clearCooldown(uint256 botId) internal {
        BotRisk storage b = riskStorage().bots[botId];
        b.cooldownUntil = 0;
        b.lossStreak = 0;
        emit BotCooldownCleared(botId);
    }

    /// @dev Brings the master's sum for `pairKey` to the child's `exposure`: adds or removes the
    ///      difference from what was reported last. Storage first, then the call (CEI). A revert of
    ///      the master on an add (SystemPairExposureExceeded, NotChild) undoes the opening
    ///      transaction. A removal never blocks a close: if the master refuses it (an upgrade that
    ///      removed its ExposureFacet, a child it does not know), the close goes through, the
    ///      reported figure stays where it was (the difference is retried at the pair's next report)
    ///      and ExposureReportFailed is emitted.
    function _reportExposure(bytes32 pairKey, uint256 exposure) private {
        address master = LibBots.botStorage().master;
        if (master == address(0)) return;
        RiskLimitsStorage storage s = riskStorage();
        uint256 reported = s.reportedExposure[pairKey];
        if (exposure == reported) return;
        s.reportedExposure[pairKey] = exposure;
        if (exposure > reported) {
            IMasterExposure(master).addPairExposure(pairKey, exposure - reported);
        } else {
            try IMasterExposure(master).removePairExposure(pairKey, reported - exposure) {}
            catch {
                s.reportedExposure[pairKey] = reported;
                emit ExposureReportFailed(pairKey, reported, exposure);
            }
        }
    }

    function _streak(uint256 botId, BotRisk storage b, int256 pnl) private {
        if (pnl >= 0) {
            b.lossStreak = 0;
            return;
        }
        uint32 streak = b.lossStreak + 1;
        Limits memory l = limits();
        if (streak >= l.lossStreakLimit) {
            uint64 until = uint64(block.timestamp) + l.cooldownSeconds;
            b.cooldownUntil = until;
            b.lossStreak = 0;
            emit BotCooldownStarted(botId, streak, until);
        } else {
            b.lossStreak = streak;
        }
    }

    function _enforceNoCooldown(uint256 botId, BotRisk storage b) private view {
        if (block.timestamp < b.cooldownUntil) revert BotCoolingDown(botId, b.cooldownUntil);
    }

    function _bound(string memory name, uint256 value, uint256 min, uint256 max) private pure {
        if (value < min || value > max) revert ParameterOutOfRange(name, value, min, max);
    }
}
