// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChild} from "../../bots/interfaces/IChild.sol";
import {LibMaster} from "./LibMaster.sol";

/// @title LibAllocation
/// @notice Capital allocation of the master diamond (ERC-7201 "macrostrike.master.allocation"):
///         weights of the three kinds of children, the reserve held back, the profit tax, the
///         reserve fund and each bot's principal. Amounts are quote base units (USDC, 6 decimals);
///         shares are basis points (1 bp = 0.01%).
/// @dev The reserve fund is part of the master's quote balance, earmarked: the free treasury is
///      balance − reserveFund, and only the free treasury funds bots or leaves through withdraw.
///      A bot's principal is the capital the master put in and has not taken back; the bot's book
///      value above it is profit (swept with the profit tax). Book value = free capital + capital at
///      risk (IChild.capitalAtRisk: the margin, at cost, of the bot's open position), so margin
///      that left `capital` for a position is still principal, not profit, when it comes back
///      (audit M-1). Stored principals are clamped to the book value whenever read, so value that
///      left without the master's books (a child's exitAll, a realised loss) never leaves a
///      phantom principal behind.
library LibAllocation {
    // keccak256(abi.encode(uint256(keccak256("macrostrike.master.allocation")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant STORAGE_SLOT = 0x31156d192d3a49bad2b3f784c25ff8f5ac9af224e870f20dc9a609309e5cde00;

    uint256 internal constant BPS = 10_000;

    /// @notice Defaults from the system specification: 25% long, 25% short, 50% AMM of the
    ///         allocatable capital; 5% of the treasury held back as reserve; 10% profit tax.
    uint16 internal constant DEFAULT_LONG_BPS = 2_500;
    uint16 internal constant DEFAULT_SHORT_BPS = 2_500;
    uint16 internal constant DEFAULT_AMM_BPS = 5_000;
    uint16 internal constant DEFAULT_RESERVE_BPS = 500;
    uint16 internal constant DEFAULT_PROFIT_TAX_BPS = 1_000;
    /// @notice Default minimum reserve fund: 5% of net deposits (totalDeposited − totalWithdrawn).
    uint16 internal constant DEFAULT_RESERVE_MIN_BPS = 500;
    /// @notice Default largest rebalance move: 25% of the source bot's capital.
    uint16 internal constant DEFAULT_MAX_MOVE_BPS = 2_500;

    /// @notice Upper bounds accepted by setAllocation.
    uint16 internal constant MAX_RESERVE_BOUND_BPS = 2_000;
    uint16 internal constant MAX_PROFIT_TAX_BOUND_BPS = 5_000;
    uint16 internal constant MAX_RESERVE_MIN_BOUND_BPS = 2_000;

    /// @notice The parameters in force.
    struct Params {
        uint16 longBps;
        uint16 shortBps;
        uint16 ammBps;
        uint16 reserveBps;
        uint16 profitTaxBps;
        uint16 reserveMinBps;
        uint16 maxMoveBps;
    }

    /// @custom:storage-location erc7201:macrostrike.master.allocation
    struct AllocationStorage {
        /// false: the DEFAULT_* parameters are in force
        bool configured;
        uint16 longBps;
        uint16 shortBps;
        uint16 ammBps;
        uint16 reserveBps;
        uint16 profitTaxBps;
        uint16 reserveMinBps;
        uint16 maxMoveBps;
        /// quote tokens of the master's balance earmarked as the reserve fund
        uint256 reserveFund;
        /// profit swept from bots, and the part of it paid into the reserve fund (running totals)
        uint256 totalProfitSwept;
        uint256 totalProfitTax;
        /// child -> bot id -> principal (funded minus recalled, clamped to the book value when read)
        mapping(address => mapping(uint256 => uint256)) principal;
        /// least gap (bps) between the destination's and the source's recent return that
        /// rebalanceByPerformance requires (0: any strictly better return); appended after v1
        uint16 minPerformanceGapBps;
        /// least seconds between two rebalanceByPerformance moves out of the same bot (0: default)
        uint32 performanceMoveCooldown;
        /// child -> bot id -> time (unix s) of the last rebalanceByPerformance move out of it
        mapping(address => mapping(uint256 => uint64)) lastPerformanceMoveAt;
    }

    /// @notice Upper bound accepted by setPerformanceGap (100%).
    uint16 internal constant MAX_PERFORMANCE_GAP_BOUND_BPS = 10_000;
    /// @notice Default least time between two performance moves out of one bot: 1 day, so that a
    ///         risk keeper (a hot key) cannot drain a bot by repeating maxMoveBps moves.
    uint32 internal constant DEFAULT_PERFORMANCE_MOVE_COOLDOWN = 1 days;
    /// @notice Bounds accepted by setPerformanceMoveCooldown: 1 minute .. 30 days.
    uint32 internal constant MIN_PERFORMANCE_MOVE_COOLDOWN = 1 minutes;
    uint32 internal constant MAX_PERFORMANCE_MOVE_COOLDOWN = 30 days;

    /// @notice `botId` at `child` has no capital, so it has no recent return (rebalanceByPerformance).
    error NoCapital(address child, uint256 botId);

    /// @notice A parameter is outside [min, max].
    error ParameterOutOfRange(string name, uint256 value, uint256 min, uint256 max);

    /// @notice `botId`'s principal at `child` is now `principal`.
    event PrincipalSet(address indexed child, uint256 indexed botId, uint256 principal);

    function allocationStorage() internal pure returns (AllocationStorage storage s) {
        bytes32 slot = STORAGE_SLOT;
        assembly {
            s.slot := slot
        }
    }

    function params() internal view returns (Params memory p) {
        AllocationStorage storage s = allocationStorage();
        if (!s.configured) {
            return Params(
                DEFAULT_LONG_BPS,
                DEFAULT_SHORT_BPS,
                DEFAULT_AMM_BPS,
                DEFAULT_RESERVE_BPS,
                DEFAULT_PROFIT_TAX_BPS,
                DEFAULT_RESERVE_MIN_BPS,
                DEFAULT_MAX_MOVE_BPS
            );
        }
        return Params(s.longBps, s.shortBps, s.ammBps, s.reserveBps, s.profitTaxBps, s.reserveMinBps, s.maxMoveBps);
    }

    /// @notice Weight of `kind` in basis points.
    function weightOf(Params memory p, LibMaster.ChildKind kind) internal pure returns (uint256) {
        if (kind == LibMaster.ChildKind.Long) return p.longBps;
        if (kind == LibMaster.ChildKind.Short) return p.shortBps;
        return p.ammBps;
    }

    /// @notice The master's quote balance not earmarked as the reserve fund.
    function freeTreasury() internal view returns (uint256) {
        uint256 balance = LibMaster.masterStorage().quoteToken.balanceOf(address(this));
        uint256 reserve = allocationStorage().reserveFund;
        return balance > reserve ? balance - reserve : 0;
    }

    /// @notice Least balance the reserve fund must keep: reserveMinBps of net deposits.
    function reserveMinimum() internal view returns (uint256) {
        LibMaster.MasterStorage storage ms = LibMaster.masterStorage();
        uint256 net = ms.totalDeposited > ms.totalWithdrawn ? ms.totalDeposited - ms.totalWithdrawn : 0;
        return net * params().reserveMinBps / BPS;
    }

    /// @notice The bot's principal clamped to its book value: min(stored principal, `capital` +
    ///         capital at risk), `capital` being its current free capital. The child is asked for the
    ///         capital at risk only when the stored principal exceeds `capital` (a view call).
    function principalOf(address child, uint256 botId, uint256 capital) internal view returns (uint256) {
        return _clamp(child, botId, allocationStorage().principal[child][botId], capital);
    }

    /// @notice Books `amount` of new funding for a bot whose free capital is `capitalBefore`:
    ///         principal := min(principal, book value before) + amount.
    function recordFund(address child, uint256 botId, uint256 capitalBefore, uint256 amount) internal {
        uint256 p = principalOf(child, botId, capitalBefore) + amount;
        allocationStorage().principal[child][botId] = p;
        emit PrincipalSet(child, botId, p);
    }

    /// @notice Books a recall of `amount` from a bot whose free capital is `capitalBefore` (>= amount):
    ///         principal := min(principal − amount, book value after), book value after = capital
    ///         after + capital at risk; so recalled capital never carries profit out untaxed, and
    ///         margin in an open position stays principal.
    function recordRecall(address child, uint256 botId, uint256 capitalBefore, uint256 amount) internal {
        uint256 p = allocationStorage().principal[child][botId];
        p = _clamp(child, botId, p > amount ? p - amount : 0, capitalBefore - amount);
        allocationStorage().principal[child][botId] = p;
        emit PrincipalSet(child, botId, p);
    }

    /// @notice What sweepProfits takes from `botId` at `child`: its free capital, its principal
    ///         (clamped to the book value) and profit = min(book value − principal, free capital)
    ///         (0 when the book value is at or below the principal). Profit still inside an open
    ///         position's margin cannot be recalled; it stays profit for a later sweep.
    function profitOf(address child, uint256 botId)
        internal
        view
        returns (uint256 capital, uint256 principal, uint256 profit)
    {
        capital = botCapital(child, botId);
        uint256 book = capital + IChild(child).capitalAtRisk(botId);
        principal = allocationStorage().principal[child][botId];
        if (principal > book) principal = book;
        profit = book - principal;
        if (profit > capital) profit = capital;
    }

    /// @dev min(p, capital + capital at risk), reading the child only when p > capital.
    function _clamp(address child, uint256 botId, uint256 p, uint256 capital) private view returns (uint256) {
        if (p <= capital) return p;
        uint256 book = capital + IChild(child).capitalAtRisk(botId);
        return p < book ? p : book;
    }

    /// @notice Current capital of `botId` at `child`.
    function botCapital(address child, uint256 botId) internal view returns (uint256 capital) {
        (, capital,,) = IChild(child).bot(botId);
    }

    /// @notice Least seconds between two performance moves out of one bot (the default until set).
    function performanceMoveCooldown() internal view returns (uint256 c) {
        c = allocationStorage().performanceMoveCooldown;
        if (c == 0) c = DEFAULT_PERFORMANCE_MOVE_COOLDOWN;
    }

    /// @notice When (unix s) `botId` at `child` may next be the source of a performance move
    ///         (0 if it never was).
    function performanceMoveAvailableAt(address child, uint256 botId) internal view returns (uint256) {
        uint256 last = allocationStorage().lastPerformanceMoveAt[child][botId];
        return last == 0 ? 0 : last + performanceMoveCooldown();
    }

    /// @notice `botId`'s recent return at `child`, in basis points of its current capital:
    ///         returnBps = recentPnl × 10,000 / capital, where recentPnl is the child's
    ///         PerformanceFacet.recentPerformance (realised PnL over the current and the preceding
    ///         window, quote base units). Signed division truncates toward zero (−0.9 bp -> 0).
    ///         Reverts NoCapital for a bot with 0 capital (no return is defined).
    function recentReturnBps(address child, uint256 botId)
        internal
        view
        returns (int256 returnBps, int256 recentPnl, uint256 capital)
    {
        capital = botCapital(child, botId);
        if (capital == 0) revert NoCapital(child, botId);
        (recentPnl,) = IChild(child).recentPerformance(botId);
        returnBps = recentPnl * int256(BPS) / int256(capital);
    }
}
