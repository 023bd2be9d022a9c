// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title LibPerformance
/// @notice Per-bot and aggregate trade statistics of a child diamond (ERC-7201
///         "macrostrike.performance"). Running totals only: no loops. PnL in quote base units.
///         Recent performance: each bot's realised PnL in fixed windows of chain time of
///         `windowSeconds` (default 7 days), aligned to multiples of it (window k covers
///         [k·W, (k+1)·W) in unix seconds, the same for every bot of the child). A trade updates
///         its bot's current window in O(1) (no loops), rolling it over when the trade falls in a
///         later window. recentPnl = the preceding window's PnL + the current window's PnL: a
///         sliding-window approximation covering between W and 2W seconds of history (W right
///         after a boundary, just under 2W right before the next one); windows older than the
///         preceding one count nothing.
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
        /// bot id -> its recent-performance windows (appended after the v1 fields)
        mapping(uint256 => Window) windows;
        /// window length in seconds; 0 = DEFAULT_WINDOW_SECONDS
        uint64 windowSeconds;
    }

    /// @notice A bot's PnL (quote base units) in the window starting at `start` (unix s, a
    ///         multiple of the window length in force when it began) and in the window before it.
    ///         start and pnl share one slot (a trade in the current window reads and writes only
    ///         it); int192 holds ±3·10^57 base units (a sum beyond it reverts, SafeCast).
    struct Window {
        uint64 start;
        int192 pnl;
        int256 prevPnl;
    }

    /// @notice Default recent-performance window: 7 days.
    uint64 internal constant DEFAULT_WINDOW_SECONDS = 7 days;
    /// @notice Bounds accepted for the window length: 1 hour .. 90 days.
    uint64 internal constant MIN_WINDOW_SECONDS = 1 hours;
    uint64 internal constant MAX_WINDOW_SECONDS = 90 days;

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
        _addToWindow(ps.windows[botId], pnl, windowSeconds(ps));
        emit TradeRecorded(botId, pnl, trades);
    }

    /// @notice The window length in force (seconds).
    function windowSeconds(PerformanceStorage storage ps) internal view returns (uint64 w) {
        w = ps.windowSeconds;
        if (w == 0) w = DEFAULT_WINDOW_SECONDS;
    }

    /// @notice `w`'s recent PnL as of `block.timestamp` for window length `len`: the current
    ///         window's PnL plus the preceding window's; a stored window that has since become the
    ///         preceding one counts alone, an older one counts nothing. View, O(1).
    function recentPnl(Window storage w, uint64 len) internal view returns (int256) {
        uint256 t = block.timestamp;
        uint256 start = w.start;
        if (t < start + len) return w.prevPnl + w.pnl;
        if (t < start + 2 * uint256(len)) return w.pnl;
        return 0;
    }

    /// @dev Adds `pnl` to the window holding block.timestamp. When the stored window has ended:
    ///      its PnL becomes the preceding window's if it ended less than one window ago (else the
    ///      preceding window is empty), and the current window restarts at t − t mod len.
    function _addToWindow(Window storage w, int256 pnl, uint64 len) private {
        uint256 t = block.timestamp;
        uint256 start = w.start;
        if (t >= start + len) {
            w.prevPnl = t < start + 2 * uint256(len) ? w.pnl : int256(0);
            (w.start, w.pnl) = (uint64(t - t % len), SafeCast.toInt192(pnl));
        } else {
            w.pnl = SafeCast.toInt192(w.pnl + pnl);
        }
    }

    /// @dev trades, wins, losses and lastTradeAt share the struct's first slot: read once, then
    ///      assigned together (the optimizer makes one SSTORE of it instead of a read-modify-write
    ///      per field: -1,066 gas per arbitrage, bot and aggregate stats, measured by `make gas`).
    function _add(Stats storage s, int256 pnl) private returns (uint64 trades) {
        (uint64 wins, uint64 losses) = (s.wins, s.losses);
        if (pnl > 0) wins += 1;
        else if (pnl < 0) losses += 1;
        trades = s.trades + 1;
        (s.trades, s.wins, s.losses, s.lastTradeAt) = (trades, wins, losses, uint64(block.timestamp));
        s.realisedPnl += pnl;
    }
}
