// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title LibPerformance
/// @notice Per-bot and aggregate trade statistics of a child diamond (ERC-7201
///         "macrostrike.performance"). Running totals only: no loops. PnL in quote base units.
library LibPerformance {
    // keccak256(abi.encode(uint256(keccak256("macrostrike.performance")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant STORAGE_SLOT = 0xcf77ca21a60517c4e0c89185b326d92dc6cc4ccea20762684213fe897379ae00;

    /// @notice Trades, wins (pnl > 0), losses (pnl < 0), realised PnL and time of the last trade (unix s).
    struct Stats {
        uint64 trades;
        uint64 wins;
        uint64 losses;
        uint64 lastTradeAt;
        int256 realisedPnl;
    }

    /// @custom:storage-location erc7201:macrostrike.performance
    struct PerformanceStorage {
        mapping(uint256 => Stats) bots;
        Stats total;
    }

    /// @notice A closed trade of `botId` with realised `pnl` (quote base units); `trades` is the bot's count after it.
    event TradeRecorded(uint256 indexed botId, int256 pnl, uint64 trades);

    function performanceStorage() internal pure returns (PerformanceStorage storage ps) {
        bytes32 slot = STORAGE_SLOT;
        assembly {
            ps.slot := slot
        }
    }

    /// @notice Adds one trade with realised `pnl` to the bot's and the aggregate totals.
    function recordTrade(uint256 botId, int256 pnl) internal {
        PerformanceStorage storage ps = performanceStorage();
        uint64 trades = _add(ps.bots[botId], pnl);
        _add(ps.total, pnl);
        emit TradeRecorded(botId, pnl, trades);
    }

    function _add(Stats storage s, int256 pnl) private returns (uint64) {
        s.trades += 1;
        if (pnl > 0) s.wins += 1;
        else if (pnl < 0) s.losses += 1;
        s.realisedPnl += pnl;
        s.lastTradeAt = uint64(block.timestamp);
        return s.trades;
    }
}
