// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LibDiamond} from "../../diamond/libraries/LibDiamond.sol";
import {LibBots} from "../libraries/LibBots.sol";
import {LibPerformance} from "../libraries/LibPerformance.sol";

/// @title PerformanceFacet
/// @notice Per-bot and aggregate trade statistics (PnL in quote base units). Gas is tracked off chain.
///         Recent performance (LibPerformance): realised PnL over the current and the preceding
///         window of `performanceWindowSeconds` of chain time, read by the master's
///         AllocationFacet.rebalanceByPerformance.
contract PerformanceFacet {
    /// @notice `windowSeconds` is outside [min, max] (setPerformanceWindow).
    error WindowOutOfRange(uint256 windowSeconds, uint256 min, uint256 max);

    /// @notice The recent-performance window is now `windowSeconds` long.
    event PerformanceWindowSet(uint256 windowSeconds);

    /// @notice Trades, wins, losses, realised PnL and last trade time (unix s) of `botId`.
    function botStats(uint256 botId)
        external
        view
        returns (uint64 trades, uint64 wins, uint64 losses, int256 realisedPnl, uint64 lastTradeAt)
    {
        LibBots.existingBot(botId);
        LibPerformance.Stats memory s = LibPerformance.botStats(botId);
        return (s.trades, s.wins, s.losses, s.realisedPnl, s.lastTradeAt);
    }

    /// @notice Totals over every bot of this child, and the capital assigned to them.
    function aggregateStats()
        external
        view
        returns (uint64 trades, uint64 wins, uint64 losses, int256 realisedPnl, uint256 totalCapital)
    {
        LibPerformance.Stats memory s = LibPerformance.aggregateStats();
        return (s.trades, s.wins, s.losses, s.realisedPnl, LibBots.botStorage().totalCapital);
    }

    /// @notice `botId`'s realised PnL (quote base units) in the current window of chain time plus
    ///         the immediately preceding one, as of block.timestamp, and the window length (s).
    /// @dev Sliding-window approximation: windows are [k·W, (k+1)·W) in unix seconds, so the sum
    ///      covers between W (just after a boundary) and 2W (just before the next) seconds of trades.
    ///      A window older than the preceding one counts nothing. After setPerformanceWindow the
    ///      stored windows are read with the new length until the bot's next trade rolls them.
    ///      Reverts for an unknown bot (LibBots.existingBot).
    function recentPerformance(uint256 botId) external view returns (int256 recentPnl, uint256 windowSeconds) {
        LibBots.existingBot(botId);
        LibPerformance.PerformanceStorage storage ps = LibPerformance.performanceStorage();
        uint64 w = LibPerformance.windowSeconds(ps);
        return (LibPerformance.recentPnl(ps.windows[botId], w), w);
    }

    /// @notice `botId`'s stored window as last written by a trade: its start (unix s), its PnL and
    ///         the preceding window's PnL (quote base units). Not rolled to block.timestamp: see
    ///         recentPerformance for the PnL as of now.
    function performanceWindow(uint256 botId)
        external
        view
        returns (uint64 windowStart, int256 windowPnl, int256 prevWindowPnl)
    {
        LibBots.existingBot(botId);
        LibPerformance.Window storage w = LibPerformance.performanceStorage().windows[botId];
        return (LibPerformance.shownStart(w), w.pnl, w.prevPnl);
    }

    /// @notice The recent-performance window length in seconds (default 7 days).
    function performanceWindowSeconds() external view returns (uint256) {
        return LibPerformance.windowSeconds(LibPerformance.performanceStorage());
    }

    /// @notice Sets the recent-performance window length. Owner only (NotContractOwner). Reverts
    ///         WindowOutOfRange outside 1 hour .. 90 days. Emits PerformanceWindowSet.
    function setPerformanceWindow(uint256 windowSeconds) external {
        LibDiamond.enforceIsContractOwner();
        if (windowSeconds < LibPerformance.MIN_WINDOW_SECONDS || windowSeconds > LibPerformance.MAX_WINDOW_SECONDS) {
            revert WindowOutOfRange(windowSeconds, LibPerformance.MIN_WINDOW_SECONDS, LibPerformance.MAX_WINDOW_SECONDS);
        }
        LibPerformance.performanceStorage().windowSeconds = uint64(windowSeconds);
        emit PerformanceWindowSet(windowSeconds);
    }
}
