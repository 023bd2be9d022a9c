// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LibDiamond} from "../../diamond/libraries/LibDiamond.sol";
import {LibRisk} from "../libraries/LibRisk.sol";

/// @title RiskFacet
/// @notice System-wide risk (system specification): maximum drawdown (10%) from the high-water
///         mark of total equity and a daily loss limit (5% of the day's starting equity). A
///         checkpoint that finds either reached trips the circuit breaker: children stop opening
///         positions (their openingAllowed() turns false), reducing and closing stay allowed, until
///         the owner resets it. The master pushes the state into each child (trip, reset,
///         registration, pushBreaker): a child's trade checks its own copy, not the master. Total equity = treasury + reserve fund + Σ child.equity(), quote
///         base units (USDC, 6 decimals). A day is 86,400 s of chain time from its first checkpoint.
/// @dev Trip rule, in integers (no rounding): (reference − equity) × 10,000 >= reference × limitBps,
///      i.e. a drawdown of exactly maxDrawdownBps trips and one base unit less does not.
contract RiskFacet {
    event RiskParametersSet(uint16 maxDrawdownBps, uint16 dailyLossBps, uint16 exitSlippageBps);
    event RiskKeeperSet(address indexed keeper, bool allowed);
    /// @notice A checkpoint measured `equity` against the high-water mark and the day's start.
    event Checkpoint(uint256 equity, uint256 highWaterMark, uint256 dayStartEquity, uint64 dayStart);
    /// @notice A new day window began at `dayStart` with `equity`.
    event RiskDayStarted(uint64 dayStart, uint256 equity);
    /// @notice The owner reset the breaker; the high-water mark and the day restart from `equity`.
    event BreakerReset(address indexed by, uint256 equity);

    /// @notice Sets the risk parameters. Owner only. Reverts ParameterOutOfRange(name, value, min,
    ///         max): maxDrawdownBps 1..5,000, dailyLossBps 1..5,000, exitSlippageBps 0..1,000.
    function setRiskParameters(uint16 maxDrawdownBps, uint16 dailyLossBps, uint16 exitSlippageBps) external {
        LibDiamond.enforceIsContractOwner();
        _bound("maxDrawdownBps", maxDrawdownBps, 1, LibRisk.MAX_DRAWDOWN_BOUND_BPS);
        _bound("dailyLossBps", dailyLossBps, 1, LibRisk.MAX_DAILY_LOSS_BOUND_BPS);
        _bound("exitSlippageBps", exitSlippageBps, 0, LibRisk.MAX_EXIT_SLIPPAGE_BOUND_BPS);
        LibRisk.RiskStorage storage rs = LibRisk.riskStorage();
        rs.configured = true;
        (rs.maxDrawdownBps, rs.dailyLossBps, rs.exitSlippageBps) = (maxDrawdownBps, dailyLossBps, exitSlippageBps);
        emit RiskParametersSet(maxDrawdownBps, dailyLossBps, exitSlippageBps);
    }

    /// @notice Allows or disallows `keeper` to call checkpoint(). Owner only.
    function setRiskKeeper(address keeper, bool allowed) external {
        LibDiamond.enforceIsContractOwner();
        if (keeper == address(0)) revert LibRisk.ParameterOutOfRange("keeper", 0, 1, type(uint160).max);
        LibRisk.riskStorage().keepers[keeper] = allowed;
        emit RiskKeeperSet(keeper, allowed);
    }

    /// @notice Measures total equity; trips the breaker when equity has fallen by maxDrawdownBps
    ///         from the high-water mark or by dailyLossBps from the current day's start; then starts
    ///         a new day window when 86,400 s have passed since the current one began (or at the
    ///         first checkpoint), and raises the high-water mark to equity if above. Owner or a risk
    ///         keeper.
    /// @dev The daily-loss check runs before the day rolls over, so the checkpoint that closes a
    ///      day compares equity with that day's start (audit M-3): a loss made during the day trips
    ///      whether it is measured at day start + 86,399 s or at + 86,400 s (or later: the first
    ///      checkpoint after the day's end closes it). The new day then starts from this equity.
    ///      A child that cannot be valued (its equity() reverts) is a risk event: the checkpoint
    ///      reports it (ChildValuationFailed, naming the child), trips the breaker with reason
    ///      ChildUnvaluable (opening stops, closing stays allowed), and moves no reference (the
    ///      high-water mark, the day window and the last equity stay as they were, since total
    ///      equity is unknown); no Checkpoint event. The owner then fixes or removes the child
    ///      (ChildRegistryFacet.removeChild) and resets the breaker.
    /// @return equity Total equity measured (with an unvaluable child: only what could be valued).
    /// @return tripped Whether the breaker is tripped now.
    function checkpoint() external returns (uint256 equity, bool tripped) {
        LibRisk.enforceKeeperOrOwner();
        LibRisk.RiskStorage storage rs = LibRisk.riskStorage();
        uint256 unvalued;
        (equity, unvalued) = LibRisk.measureEquity();
        if (unvalued != 0) {
            if (!rs.tripped) {
                _trip(rs, LibRisk.TripReason.ChildUnvaluable, equity, rs.lastEquity);
                LibRisk.pushBreaker(true);
            }
            return (equity, true);
        }
        bool wasTripped = rs.tripped;
        uint64 now_ = uint64(block.timestamp);
        if (!rs.started) {
            rs.started = true;
            rs.highWaterMark = equity;
        }
        (uint16 maxDd, uint16 dailyLoss,) = LibRisk.parameters();
        if (!rs.tripped) {
            // dayStartEquity is the current (or just closed) day's start; 0 before the first day
            if (LibRisk.breaches(equity, rs.highWaterMark, maxDd)) {
                _trip(rs, LibRisk.TripReason.Drawdown, equity, rs.highWaterMark);
            } else if (LibRisk.breaches(equity, rs.dayStartEquity, dailyLoss)) {
                _trip(rs, LibRisk.TripReason.DailyLoss, equity, rs.dayStartEquity);
            }
        }
        if (rs.dayStart == 0 || now_ >= rs.dayStart + LibRisk.DAY) {
            rs.dayStart = now_;
            rs.dayStartEquity = equity;
            emit RiskDayStarted(now_, equity);
        }
        if (equity > rs.highWaterMark) rs.highWaterMark = equity;
        rs.lastEquity = equity;
        rs.lastCheckpointAt = now_;
        emit Checkpoint(equity, rs.highWaterMark, rs.dayStartEquity, rs.dayStart);
        tripped = rs.tripped;
        if (tripped && !wasTripped) LibRisk.pushBreaker(true); // interactions last
    }

    /// @notice Clears the breaker; the high-water mark and a new day start from current equity. Owner only.
    ///         Reverts LibRisk.ChildNotValued(child) while a child cannot be valued.
    function resetBreaker() external {
        LibDiamond.enforceIsContractOwner();
        LibRisk.RiskStorage storage rs = LibRisk.riskStorage();
        uint256 equity = LibRisk.totalEquity();
        rs.tripped = false;
        rs.reason = LibRisk.TripReason.None;
        rs.started = true;
        rs.highWaterMark = equity;
        rs.dayStart = uint64(block.timestamp);
        rs.dayStartEquity = equity;
        emit BreakerReset(msg.sender, equity);
        LibRisk.pushBreaker(false);
    }

    /// @notice Pushes the breaker state to every child again (LibRisk.pushBreaker: BreakerPushed or
    ///         BreakerPushFailed per child): after a push failed, or after an upgrade cut the
    ///         children's copy of the breaker in (it starts as not tripped). Owner or a risk keeper.
    function pushBreaker() external {
        LibRisk.enforceKeeperOrOwner();
        LibRisk.pushBreaker(LibRisk.riskStorage().tripped);
    }

    /// @notice True while the circuit breaker is tripped (children may only reduce or close).
    function breakerTripped() external view returns (bool) {
        return LibRisk.riskStorage().tripped;
    }

    /// @notice (maxDrawdownBps, dailyLossBps, exitSlippageBps) in force (the defaults until set).
    function riskParameters() external view returns (uint16 maxDrawdownBps, uint16 dailyLossBps, uint16 exitSlippageBps) {
        return LibRisk.parameters();
    }

    /// @notice Risk state: high-water mark, the day's start (unix s) and starting equity, the last
    ///         checkpoint's equity and time, whether tripped and why (0 none, 1 drawdown, 2 daily loss,
    ///         3 a child could not be valued).
    function riskState()
        external
        view
        returns (
            uint256 highWaterMark,
            uint64 dayStart,
            uint256 dayStartEquity,
            uint256 lastEquity,
            uint64 lastCheckpointAt,
            bool tripped,
            LibRisk.TripReason reason
        )
    {
        LibRisk.RiskStorage storage rs = LibRisk.riskStorage();
        return (rs.highWaterMark, rs.dayStart, rs.dayStartEquity, rs.lastEquity, rs.lastCheckpointAt, rs.tripped, rs.reason);
    }

    /// @notice Total equity now: treasury + reserve fund + Σ child.equity() (quote base units).
    ///         Reverts LibRisk.ChildNotValued(child) while a child cannot be valued.
    function totalEquity() external view returns (uint256) {
        return LibRisk.totalEquity();
    }

    function isRiskKeeper(address account) external view returns (bool) {
        return LibRisk.riskStorage().keepers[account];
    }

    function _trip(LibRisk.RiskStorage storage rs, LibRisk.TripReason reason, uint256 equity, uint256 referenceEquity) private {
        rs.tripped = true;
        rs.reason = reason;
        emit LibRisk.BreakerTripped(reason, equity, referenceEquity);
    }

    function _bound(string memory name, uint256 value, uint256 min, uint256 max) private pure {
        if (value < min || value > max) revert LibRisk.ParameterOutOfRange(name, value, min, max);
    }
}
