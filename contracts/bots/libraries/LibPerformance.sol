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
///         Counters since v2 (issue 12, gas): each bot's and the aggregate counters live in one
///         slot each (PackedStats, namespace "macrostrike.performance.v2"): a trade reads and
///         writes one slot per counter set instead of two. The v1 `bots`/`total` Stats are no
///         longer written: on a diamond upgraded from v1, a counter set's first trade under v2
///         carries the v1 figures over and clears them (readers add v1 and v2, so a view is right
///         before and after that trade); no migration transaction, no loop.
library LibPerformance {
    // keccak256(abi.encode(uint256(keccak256("macrostrike.performance")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant STORAGE_SLOT = 0xcf77ca21a60517c4e0c89185b326d92dc6cc4ccea20762684213fe897379ae00;
    // keccak256(abi.encode(uint256(keccak256("macrostrike.performance.v2")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant STORAGE_SLOT_V2 = 0x07e54e1f3eb678040163767bd7f9c07c4b0e76185d987bd892389781f5259300;

    /// @notice Trades, wins (pnl > 0), losses (pnl < 0), realised PnL and time of the last trade (unix s).
    struct Stats {
        uint64 trades;
        uint64 wins;
        uint64 losses;
        uint64 lastTradeAt;
        int256 realisedPnl;
    }

    /// @notice Trades, wins, losses, time of the last trade (unix s) and realised PnL in one slot.
    ///         uint32 counts: 4,294,967,295 trades per bot and per child; int120: ±6.6·10^35 base
    ///         units (a count or a sum beyond them reverts: checked arithmetic, SafeCast).
    struct PackedStats {
        uint32 trades;
        uint32 wins;
        uint32 losses;
        uint40 lastTradeAt;
        int120 realisedPnl;
    }

    /// @custom:storage-location erc7201:macrostrike.performance.v2
    struct PerformanceStorageV2 {
        mapping(uint256 => PackedStats) bots;
        PackedStats total;
    }

    /// @custom:storage-location erc7201:macrostrike.performance
    struct PerformanceStorage {
        /// v1 counters: no longer written (carried into PerformanceStorageV2 by the first v2 trade)
        mapping(uint256 => Stats) bots;
        /// v1 aggregate: likewise
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

    /// @notice Sentinel that registration pre-writes (issue 12, gas): a new bot's PackedStats
    ///         lastTradeAt with no trade, its Window start (a window that ended long before any
    ///         real chain time: it counts nothing, a trade rolls it like an empty one). A first
    ///         trade then writes non-zero over non-zero (EIP-2200: 2,900 instead of 20,000 gas per
    ///         slot); the views read it as 0.
    uint40 internal constant PRE_WRITTEN = 1;

    /// @notice A closed trade of `botId` with realised `pnl` (quote base units); `trades` is the bot's count after it.
    event TradeRecorded(uint256 indexed botId, int256 pnl, uint64 trades);

    function performanceStorage() internal pure returns (PerformanceStorage storage ps) {
        bytes32 slot = STORAGE_SLOT;
        assembly {
            ps.slot := slot
        }
    }

    function performanceStorageV2() internal pure returns (PerformanceStorageV2 storage ps) {
        bytes32 slot = STORAGE_SLOT_V2;
        assembly {
            ps.slot := slot
        }
    }

    /// @notice Adds one trade with realised `pnl` to the bot's and the aggregate totals.
    function recordTrade(uint256 botId, int256 pnl) internal {
        PerformanceStorageV2 storage p2 = performanceStorageV2();
        PerformanceStorage storage ps = performanceStorage();
        uint64 trades = _add(p2.bots[botId], ps.bots[botId], pnl);
        _add(p2.total, ps.total, pnl);
        _addToWindow(ps.windows[botId], pnl, windowSeconds(ps));
        emit TradeRecorded(botId, pnl, trades);
    }

    /// @notice Pre-writes a new bot's counter slot and window slot (and the child's aggregate
    ///         counters while they are still all zero) with PRE_WRITTEN. Called by registration,
    ///         once per new bot id; behaviour and views are unchanged (see PRE_WRITTEN).
    function preWrite(uint256 botId) internal {
        PerformanceStorageV2 storage p2 = performanceStorageV2();
        p2.bots[botId].lastTradeAt = PRE_WRITTEN;
        performanceStorage().windows[botId].start = PRE_WRITTEN;
    }

    /// @notice Pre-writes the child's aggregate counters (PRE_WRITTEN) while they hold nothing.
    function preWriteTotal() internal {
        PackedStats storage t = performanceStorageV2().total;
        if (t.trades == 0 && t.lastTradeAt == 0) t.lastTradeAt = PRE_WRITTEN;
    }

    /// @notice A window's start as the views show it: 0 for a pre-written window (PRE_WRITTEN).
    function shownStart(Window storage w) internal view returns (uint64 start) {
        start = w.start;
        if (start == PRE_WRITTEN) start = 0;
    }

    /// @notice `botId`'s statistics (v1 figures not yet carried over plus v2).
    function botStats(uint256 botId) internal view returns (Stats memory) {
        return _sum(performanceStorage().bots[botId], performanceStorageV2().bots[botId]);
    }

    /// @notice The child's aggregate statistics (v1 figures not yet carried over plus v2).
    function aggregateStats() internal view returns (Stats memory) {
        return _sum(performanceStorage().total, performanceStorageV2().total);
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

    /// @dev Adds one trade to the packed set `s` (one slot read, one written). Its first trade
    ///      (trades == 0) starts from the v1 set `v1`, which it clears (see the library's notice).
    ///      Returns the trade count after it.
    function _add(PackedStats storage s, Stats storage v1, int256 pnl) private returns (uint64) {
        PackedStats memory p = s;
        if (p.trades == 0) p = _carry(v1);
        if (pnl > 0) p.wins += 1;
        else if (pnl < 0) p.losses += 1;
        p.trades += 1;
        p.realisedPnl = SafeCast.toInt120(p.realisedPnl + pnl);
        p.lastTradeAt = uint40(block.timestamp);
        s.trades = p.trades; // the five assignments to one slot are merged into one SSTORE
        s.wins = p.wins;
        s.losses = p.losses;
        s.lastTradeAt = p.lastTradeAt;
        s.realisedPnl = p.realisedPnl;
        return p.trades;
    }

    /// @dev The v1 set as a packed one, then cleared (nothing when it holds no trade: v1 counts a
    ///      trade with every change, so trades == 0 means all zero).
    function _carry(Stats storage v1) private returns (PackedStats memory p) {
        uint64 trades = v1.trades;
        if (trades == 0) return p;
        p.trades = SafeCast.toUint32(trades);
        p.wins = SafeCast.toUint32(v1.wins);
        p.losses = SafeCast.toUint32(v1.losses);
        p.lastTradeAt = SafeCast.toUint40(v1.lastTradeAt);
        p.realisedPnl = SafeCast.toInt120(v1.realisedPnl);
        delete v1.trades;
        delete v1.wins;
        delete v1.losses;
        delete v1.lastTradeAt;
        delete v1.realisedPnl;
    }

    function _sum(Stats storage v1, PackedStats storage v2) private view returns (Stats memory t) {
        t = v1;
        PackedStats memory p = v2;
        t.trades += p.trades;
        t.wins += p.wins;
        t.losses += p.losses;
        // a set without trade may hold the PRE_WRITTEN sentinel in lastTradeAt: not a time
        if (p.trades != 0 && p.lastTradeAt > t.lastTradeAt) t.lastTradeAt = p.lastTradeAt;
        t.realisedPnl += p.realisedPnl;
    }
}
