// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LibBots} from "../libraries/LibBots.sol";
import {LibPerformance} from "../libraries/LibPerformance.sol";

/// @title PerformanceFacet
/// @notice Per-bot and aggregate trade statistics (PnL in quote base units). Gas is tracked off chain.
contract PerformanceFacet {
    /// @notice Trades, wins, losses, realised PnL and last trade time (unix s) of `botId`.
    function botStats(uint256 botId)
        external
        view
        returns (uint64 trades, uint64 wins, uint64 losses, int256 realisedPnl, uint64 lastTradeAt)
    {
        LibBots.existingBot(botId);
        LibPerformance.Stats storage s = LibPerformance.performanceStorage().bots[botId];
        return (s.trades, s.wins, s.losses, s.realisedPnl, s.lastTradeAt);
    }

    /// @notice Totals over every bot of this child, and the capital assigned to them.
    function aggregateStats()
        external
        view
        returns (uint64 trades, uint64 wins, uint64 losses, int256 realisedPnl, uint256 totalCapital)
    {
        LibPerformance.Stats storage s = LibPerformance.performanceStorage().total;
        return (s.trades, s.wins, s.losses, s.realisedPnl, LibBots.botStorage().totalCapital);
    }
}
