// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {LibDiamond} from "../../diamond/libraries/LibDiamond.sol";
import {IChild} from "../../bots/interfaces/IChild.sol";
import {LibAllocation} from "../libraries/LibAllocation.sol";
import {LibMaster} from "../libraries/LibMaster.sol";
import {LibRisk} from "../libraries/LibRisk.sol";

/// @title AllocationFacet
/// @notice Master treasury allocation (system specification, reference size $800,000): the free
///         treasury minus the reserve held back (5%) is split between the kinds of children by
///         weight (25% long, 25% short, 50% AMM) and equally between each kind's active bots;
///         realised profits are swept back with a profit tax (10%) paid into the reserve fund;
///         capital is rebalanced between bots and between children within a bound; withdrawAll
///         empties every child and the master to one address. Every flow emits an event.
///         Amounts: quote base units (USDC, 6 decimals); shares: basis points.
/// @dev Rounding: every division floors. Per-bot shares floor, and the remainder stays in the
///      free treasury; the profit tax floors (in the treasury's favour by < 1 base unit), and
///      tax + the rest always equal the swept profit, so no base unit is created or lost.
contract AllocationFacet {
    using SafeERC20 for IERC20;

    /// @notice Most bots one child may have for allocate (the specification's largest child has 50).
    uint256 public constant MAX_BOTS_PER_CHILD = 100;
    /// @notice Most bots one sweepProfits call may sweep.
    uint256 public constant MAX_SWEEP_BATCH = 100;
    uint8 private constant ACTIVE = 1; // LibBots.BotStatus.Active

    /// @notice Nothing to allocate: the free treasury is empty or no kind with weight has an active bot.
    error NothingToAllocate();
    /// @notice `child` has more bots than allocate may walk.
    error TooManyBots(address child, uint256 botCount, uint256 maxBots);
    /// @notice The weights do not add up to 10,000 bps.
    error WeightsNotWhole(uint256 sum);
    /// @notice Amount is zero.
    error ZeroAmount();
    /// @notice Address is zero.
    error ZeroAddress();
    /// @notice The batch is empty or larger than MAX_SWEEP_BATCH.
    error InvalidBatch(uint256 length);
    /// @notice A rebalance moves more than maxMoveBps of the source bot's capital.
    error RebalanceAboveBound(uint256 amount, uint256 maxAmount, uint256 maxMoveBps);
    /// @notice Source and destination are the same bot.
    error SameBot(address child, uint256 botId);
    /// @notice Releasing `amount` would leave the reserve fund below its minimum.
    error ReserveBelowMinimum(uint256 reserveAfter, uint256 minimum);
    /// @notice After exiting, `child` still holds quote tokens or bot capital.
    error ChildNotEmpty(address child, uint256 balance, uint256 capital);
    /// @notice After withdrawAll the master still holds quote tokens.
    error MasterNotEmpty(uint256 balance);
    /// @notice rebalanceByPerformance: the destination's recent return does not beat the source's
    ///         by at least max(1, minGapBps) bps (returns in bps of each bot's capital).
    error NotBetterPerformer(int256 fromReturnBps, int256 toReturnBps, uint256 minGapBps);
    /// @notice `botId` at `child` gave capital by performance less than performanceMoveCooldown()
    ///         ago: it may be a source again at `availableAt` (unix s).
    error SourceCoolingDown(address child, uint256 botId, uint256 availableAt);

    event AllocationSet(
        uint16 longBps,
        uint16 shortBps,
        uint16 ammBps,
        uint16 reserveBps,
        uint16 profitTaxBps,
        uint16 reserveMinBps,
        uint16 maxMoveBps
    );
    /// @notice allocate() held `reserveAdded` back into the reserve fund and funded bots with `allocated`.
    event Allocated(uint256 freeTreasury, uint256 reserveAdded, uint256 allocated);
    /// @notice allocate() gave each of `bots` active bots of `child` `perBot`.
    event ChildAllocated(address indexed child, LibMaster.ChildKind kind, uint256 bots, uint256 perBot);
    /// @notice Capital above `botId`'s principal came back: `tax` to the reserve fund, the rest to the treasury.
    event ProfitSwept(address indexed child, uint256 indexed botId, uint256 profit, uint256 tax);
    event Rebalanced(
        address indexed fromChild, uint256 fromBot, address indexed toChild, uint256 toBot, uint256 amount
    );
    /// @notice rebalanceByPerformance moved `amount` from a bot whose recent return was
    ///         `fromReturnBps` to one whose recent return was `toReturnBps` (bps of capital, before
    ///         the move), at the request of `by` (the owner or a risk keeper). Rebalanced is emitted too.
    event RebalancedByPerformance(
        address indexed fromChild,
        uint256 fromBot,
        address indexed toChild,
        uint256 toBot,
        uint256 amount,
        int256 fromReturnBps,
        int256 toReturnBps,
        address indexed by
    );
    /// @notice rebalanceByPerformance now requires a return gap of at least `minGapBps`.
    event PerformanceGapSet(uint256 minGapBps);
    /// @notice A bot may now be the source of a performance move once per `cooldownSeconds`.
    event PerformanceMoveCooldownSet(uint256 cooldownSeconds);
    event ReserveFunded(uint256 amount, uint256 reserveFund);
    event ReserveReleased(uint256 amount, uint256 reserveFund);
    /// @notice Every child was emptied and `amount` (all the system held) was sent to `to`.
    event WithdrawnAll(address indexed to, uint256 amount, uint256 childrenExited);

    // ---------------------------------------------------------------------------- parameters

    /// @notice Sets the allocation parameters. Owner only. Reverts WeightsNotWhole unless
    ///         longBps + shortBps + ammBps == 10,000, ParameterOutOfRange(name, value, min, max)
    ///         for reserveBps > 2,000, profitTaxBps > 5,000, reserveMinBps > 2,000, or maxMoveBps
    ///         outside 1..10,000.
    function setAllocation(LibAllocation.Params calldata p) external {
        LibDiamond.enforceIsContractOwner();
        uint256 sum = uint256(p.longBps) + p.shortBps + p.ammBps;
        if (sum != LibAllocation.BPS) revert WeightsNotWhole(sum);
        _bound("reserveBps", p.reserveBps, 0, LibAllocation.MAX_RESERVE_BOUND_BPS);
        _bound("profitTaxBps", p.profitTaxBps, 0, LibAllocation.MAX_PROFIT_TAX_BOUND_BPS);
        _bound("reserveMinBps", p.reserveMinBps, 0, LibAllocation.MAX_RESERVE_MIN_BOUND_BPS);
        _bound("maxMoveBps", p.maxMoveBps, 1, LibAllocation.BPS);
        LibAllocation.AllocationStorage storage s = LibAllocation.allocationStorage();
        s.configured = true;
        (s.longBps, s.shortBps, s.ammBps) = (p.longBps, p.shortBps, p.ammBps);
        (s.reserveBps, s.profitTaxBps, s.reserveMinBps, s.maxMoveBps) =
            (p.reserveBps, p.profitTaxBps, p.reserveMinBps, p.maxMoveBps);
        emit AllocationSet(p.longBps, p.shortBps, p.ammBps, p.reserveBps, p.profitTaxBps, p.reserveMinBps, p.maxMoveBps);
    }

    /// @notice The allocation parameters in force (the specification's defaults until set).
    function allocationParams() external view returns (LibAllocation.Params memory) {
        return LibAllocation.params();
    }

    // ---------------------------------------------------------------------------- allocation

    /// @notice Allocates the free treasury. Owner only. reserveBps of it goes into the reserve
    ///         fund; of the rest, each kind (Long, Short, AMM) gets its weight, shared equally by
    ///         the Active bots of every child of that kind (floor division). A kind without Active
    ///         bots gets nothing: its share, and all rounding remainders, stay in the free treasury.
    /// @return allocated Quote base units sent to bots.
    function allocate() external returns (uint256 allocated) {
        LibDiamond.enforceIsContractOwner();
        Plan memory plan = _plan();
        allocated = _book(plan);
        if (allocated == 0) revert NothingToAllocate();
        _addReserve(plan.reserveAdded);
        emit Allocated(plan.free, plan.reserveAdded, allocated);
        _send(plan);
    }

    /// @dev What allocate() will do: every child's bots (read once), the per-bot amount of each kind.
    struct Plan {
        uint256 free;
        uint256 reserveAdded;
        address[] children;
        IChild.BotView[][] pages;
        uint256[3] perBot;
        uint256[] childTotal;
    }

    function _plan() private view returns (Plan memory plan) {
        LibMaster.MasterStorage storage ms = LibMaster.masterStorage();
        LibAllocation.Params memory p = LibAllocation.params();
        plan.free = LibAllocation.freeTreasury();
        plan.reserveAdded = plan.free * p.reserveBps / LibAllocation.BPS;
        uint256 allocatable = plan.free - plan.reserveAdded;
        // bounded: <= LibMaster.MAX_CHILDREN children x <= MAX_BOTS_PER_CHILD bots
        plan.children = ms.children;
        plan.pages = new IChild.BotView[][](plan.children.length);
        plan.childTotal = new uint256[](plan.children.length);
        uint256[3] memory activeOfKind;
        for (uint256 i; i < plan.children.length; ++i) {
            IChild child = IChild(plan.children[i]);
            plan.pages[i] = child.botsPage(1, MAX_BOTS_PER_CHILD + 1);
            if (plan.pages[i].length > MAX_BOTS_PER_CHILD) {
                revert TooManyBots(address(child), child.botCount(), MAX_BOTS_PER_CHILD);
            }
            activeOfKind[uint8(ms.kindOf[address(child)])] += _active(plan.pages[i]);
        }
        for (uint8 k; k < 3; ++k) {
            if (activeOfKind[k] != 0) {
                plan.perBot[k] = allocatable * LibAllocation.weightOf(p, LibMaster.ChildKind(k)) / LibAllocation.BPS
                    / activeOfKind[k];
            }
        }
    }

    /// @dev Effects: principals and per-child books. Returns the total to send.
    function _book(Plan memory plan) private returns (uint256 allocated) {
        LibMaster.MasterStorage storage ms = LibMaster.masterStorage();
        for (uint256 i; i < plan.children.length; ++i) {
            address child = plan.children[i];
            LibMaster.ChildKind kind = ms.kindOf[child];
            uint256 amount = plan.perBot[uint8(kind)];
            if (amount == 0) continue;
            IChild.BotView[] memory page = plan.pages[i];
            uint256 n;
            for (uint256 j; j < page.length; ++j) {
                if (page[j].status != ACTIVE) continue;
                LibAllocation.recordFund(child, page[j].id, page[j].capital, amount);
                ++n;
            }
            plan.childTotal[i] = amount * n;
            allocated += plan.childTotal[i];
            ms.allocated[child] += plan.childTotal[i];
            emit ChildAllocated(child, kind, n, amount);
        }
    }

    /// @dev Interactions: one transfer per child, then fundBot for each of its Active bots.
    function _send(Plan memory plan) private {
        LibMaster.MasterStorage storage ms = LibMaster.masterStorage();
        for (uint256 i; i < plan.children.length; ++i) {
            if (plan.childTotal[i] == 0) continue;
            address child = plan.children[i];
            ms.quoteToken.safeTransfer(child, plan.childTotal[i]);
            uint256 amount = plan.perBot[uint8(ms.kindOf[child])];
            IChild.BotView[] memory page = plan.pages[i];
            for (uint256 j; j < page.length; ++j) {
                if (page[j].status == ACTIVE) IChild(child).fundBot(page[j].id, amount);
            }
        }
    }

    // ---------------------------------------------------------------------------- profits

    /// @notice For each of `botIds` (1..MAX_SWEEP_BATCH) of `child`: the bot's book value (free
    ///         capital + margin in its open position, IChild.capitalAtRisk) above its principal,
    ///         up to its free capital, comes back to the master; profitTaxBps of it (floor) goes into the reserve
    ///         fund, the rest into the free treasury. Bots without profit are skipped. Owner only.
    /// @return profit Total swept. @return tax Part of it paid into the reserve fund.
    function sweepProfits(address child, uint256[] calldata botIds) external returns (uint256 profit, uint256 tax) {
        LibDiamond.enforceIsContractOwner();
        LibMaster.enforceChild(child);
        if (botIds.length == 0 || botIds.length > MAX_SWEEP_BATCH) revert InvalidBatch(botIds.length);
        LibAllocation.AllocationStorage storage s = LibAllocation.allocationStorage();
        uint256 taxBps = LibAllocation.params().profitTaxBps;
        for (uint256 i; i < botIds.length; ++i) {
            uint256 id = botIds[i];
            (, uint256 principal, uint256 botProfit) = LibAllocation.profitOf(child, id);
            if (botProfit == 0) continue;
            uint256 botTax = botProfit * taxBps / LibAllocation.BPS;
            s.principal[child][id] = principal; // the clamp, made permanent
            profit += botProfit;
            tax += botTax;
            emit ProfitSwept(child, id, botProfit, botTax);
            IChild(child).recallCapital(id, botProfit);
        }
        s.totalProfitSwept += profit;
        s.totalProfitTax += tax;
        _addReserve(tax);
    }

    /// @notice What sweepProfits would take from `botId` at `child`: book value (free capital +
    ///         capital at risk) above its principal, at most its free capital.
    function sweepableProfit(address child, uint256 botId) external view returns (uint256 profit) {
        (,, profit) = LibAllocation.profitOf(child, botId);
    }

    /// @notice `botId`'s principal at `child`, clamped to its book value (free capital + capital at risk).
    function principalOf(address child, uint256 botId) external view returns (uint256) {
        return LibAllocation.principalOf(child, botId, LibAllocation.botCapital(child, botId));
    }

    // ---------------------------------------------------------------------------- rebalancing

    /// @notice Moves `amount` of capital from `fromBot` to `toBot` of `child` through the
    ///         treasury. Owner only; amount <= maxMoveBps of the source bot's capital.
    ///         Manual path: the choice is the owner's judgement, no performance check (see
    ///         rebalanceByPerformance for the path a risk keeper may take).
    function rebalance(address child, uint256 fromBot, uint256 toBot, uint256 amount) external {
        LibDiamond.enforceIsContractOwner();
        _move(child, fromBot, child, toBot, amount);
    }

    /// @notice Moves `amount` of `fromBot`'s capital at `fromChild` to `toBot` at `toChild`.
    ///         Owner only; amount <= maxMoveBps of the source bot's capital.
    function rebalanceChildren(address fromChild, uint256 fromBot, address toChild, uint256 toBot, uint256 amount)
        external
    {
        LibDiamond.enforceIsContractOwner();
        _move(fromChild, fromBot, toChild, toBot, amount);
    }

    /// @notice Moves `amount` of `fromBot`'s capital at `fromChild` to `toBot` at `toChild`, only
    ///         from a worse to a strictly better recent performer. Owner or risk keeper
    ///         (RiskFacet.setRiskKeeper; NotRiskKeeper otherwise). Recent return of each bot, read
    ///         before the move: returnBps = recentPnl × 10,000 / capital (LibAllocation.recentReturnBps;
    ///         recentPnl from the child's PerformanceFacet.recentPerformance, truncated toward zero).
    ///         Reverts NoCapital if either bot has 0 capital, NotBetterPerformer unless
    ///         toReturnBps − fromReturnBps >= max(1, rebalanceMinGapBps()), and, like rebalance,
    ///         RebalanceAboveBound for amount > maxMoveBps of the source's capital (floor), ZeroAmount,
    ///         SameBot, UnknownChild, and SourceCoolingDown if the source gave capital by performance
    ///         less than performanceMoveCooldown() (default 1 day) ago — so repeated moves cannot
    ///         drain a bot faster than maxMoveBps per cooldown. Emits RebalancedByPerformance (with
    ///         both returns) and Rebalanced.
    function rebalanceByPerformance(
        address fromChild,
        uint256 fromBot,
        address toChild,
        uint256 toBot,
        uint256 amount
    ) external {
        LibRisk.enforceKeeperOrOwner();
        LibMaster.enforceChild(fromChild);
        LibMaster.enforceChild(toChild);
        (int256 fromBps,,) = LibAllocation.recentReturnBps(fromChild, fromBot);
        (int256 toBps,,) = LibAllocation.recentReturnBps(toChild, toBot);
        uint256 gap = LibAllocation.allocationStorage().minPerformanceGapBps;
        if (toBps <= fromBps || uint256(toBps - fromBps) < gap) revert NotBetterPerformer(fromBps, toBps, gap);
        uint256 availableAt = LibAllocation.performanceMoveAvailableAt(fromChild, fromBot);
        if (block.timestamp < availableAt) revert SourceCoolingDown(fromChild, fromBot, availableAt);
        LibAllocation.allocationStorage().lastPerformanceMoveAt[fromChild][fromBot] = uint64(block.timestamp);
        emit RebalancedByPerformance(fromChild, fromBot, toChild, toBot, amount, fromBps, toBps, msg.sender);
        _move(fromChild, fromBot, toChild, toBot, amount);
    }

    /// @notice `botId`'s recent return at `child` in bps of its capital, its recent PnL and its
    ///         capital (quote base units): what rebalanceByPerformance compares. Reverts NoCapital at 0 capital.
    function recentReturn(address child, uint256 botId)
        external
        view
        returns (int256 returnBps, int256 recentPnl, uint256 capital)
    {
        LibMaster.enforceChild(child);
        return LibAllocation.recentReturnBps(child, botId);
    }

    /// @notice Sets the least recent-return gap (bps) rebalanceByPerformance requires between the
    ///         destination and the source (0: any strictly better return). Owner only. Reverts
    ///         ParameterOutOfRange above 10,000. Emits PerformanceGapSet.
    function setPerformanceGap(uint256 minGapBps) external {
        LibDiamond.enforceIsContractOwner();
        _bound("minGapBps", minGapBps, 0, LibAllocation.MAX_PERFORMANCE_GAP_BOUND_BPS);
        LibAllocation.allocationStorage().minPerformanceGapBps = uint16(minGapBps);
        emit PerformanceGapSet(minGapBps);
    }

    /// @notice Sets the least time between two performance moves out of one bot. Owner only.
    ///         Reverts ParameterOutOfRange outside 60 s .. 30 days. Emits PerformanceMoveCooldownSet.
    function setPerformanceMoveCooldown(uint256 cooldownSeconds) external {
        LibDiamond.enforceIsContractOwner();
        _bound(
            "cooldownSeconds",
            cooldownSeconds,
            LibAllocation.MIN_PERFORMANCE_MOVE_COOLDOWN,
            LibAllocation.MAX_PERFORMANCE_MOVE_COOLDOWN
        );
        LibAllocation.allocationStorage().performanceMoveCooldown = uint32(cooldownSeconds);
        emit PerformanceMoveCooldownSet(cooldownSeconds);
    }

    /// @notice Least seconds between two performance moves out of one bot (default 1 day).
    function performanceMoveCooldown() external view returns (uint256) {
        return LibAllocation.performanceMoveCooldown();
    }

    /// @notice When (unix s) `botId` at `child` may next give capital by performance (0: never did).
    function performanceMoveAvailableAt(address child, uint256 botId) external view returns (uint256) {
        return LibAllocation.performanceMoveAvailableAt(child, botId);
    }

    /// @notice The least recent-return gap (bps) rebalanceByPerformance requires (default 0).
    function rebalanceMinGapBps() external view returns (uint256) {
        return LibAllocation.allocationStorage().minPerformanceGapBps;
    }

    // ---------------------------------------------------------------------------- reserve fund

    /// @notice Moves `amount` of the free treasury into the reserve fund. Owner only.
    function fundReserve(uint256 amount) external {
        LibDiamond.enforceIsContractOwner();
        if (amount == 0) revert ZeroAmount();
        uint256 free = LibAllocation.freeTreasury();
        if (free < amount) revert InsufficientFreeTreasury(free, amount);
        _addReserve(amount);
    }

    /// @notice Moves `amount` of the reserve fund back to the free treasury. Owner only. Reverts
    ///         ReserveBelowMinimum if the fund would fall below reserveMinimum().
    function releaseReserve(uint256 amount) external {
        LibDiamond.enforceIsContractOwner();
        if (amount == 0) revert ZeroAmount();
        LibAllocation.AllocationStorage storage s = LibAllocation.allocationStorage();
        uint256 minimum = LibAllocation.reserveMinimum();
        uint256 fund = s.reserveFund;
        if (amount > fund || fund - amount < minimum) {
            revert ReserveBelowMinimum(amount > fund ? 0 : fund - amount, minimum);
        }
        s.reserveFund = fund - amount;
        emit ReserveReleased(amount, fund - amount);
    }

    /// @notice The reserve fund (quote base units), part of the master's balance.
    function reserveFund() external view returns (uint256) {
        return LibAllocation.allocationStorage().reserveFund;
    }

    /// @notice Least balance the reserve fund must keep: reserveMinBps of (deposited − withdrawn).
    function reserveMinimum() external view returns (uint256) {
        return LibAllocation.reserveMinimum();
    }

    /// @notice The master's balance minus the reserve fund: what may fund bots or be withdrawn.
    function freeTreasury() external view returns (uint256) {
        return LibAllocation.freeTreasury();
    }

    /// @notice Running totals of swept profit and of the profit tax paid into the reserve fund.
    function profitTotals() external view returns (uint256 swept, uint256 tax) {
        LibAllocation.AllocationStorage storage s = LibAllocation.allocationStorage();
        return (s.totalProfitSwept, s.totalProfitTax);
    }

    // ---------------------------------------------------------------------------- withdraw all

    /// @notice Closes everything and sends it all to `to`. Owner only. Every child's exitAll is
    ///         called (positions closed, all its quote tokens back to the master); every child must
    ///         then hold no quote token and no bot capital (ChildNotEmpty otherwise); the master's
    ///         whole balance, reserve fund included, goes to `to` and the master must hold nothing
    ///         after. Counts as withdrawn; the risk references restart at the next checkpoint.
    /// @return amount Sent to `to`.
    function withdrawAll(address to) external returns (uint256 amount) {
        LibDiamond.enforceIsContractOwner();
        if (to == address(0)) revert ZeroAddress();
        uint256 exited = LibRisk.exitChildren();
        LibMaster.MasterStorage storage ms = LibMaster.masterStorage();
        IERC20 quote = ms.quoteToken;
        for (uint256 i; i < ms.children.length; ++i) {
            address child = ms.children[i];
            uint256 balance = quote.balanceOf(child);
            uint256 capital = IChild(child).totalCapital();
            if (balance != 0 || capital != 0) revert ChildNotEmpty(child, balance, capital);
        }
        amount = quote.balanceOf(address(this));
        LibAllocation.AllocationStorage storage s = LibAllocation.allocationStorage();
        if (s.reserveFund != 0) {
            emit ReserveReleased(s.reserveFund, 0);
            s.reserveFund = 0;
        }
        ms.totalWithdrawn += amount;
        LibRisk.restart();
        emit WithdrawnAll(to, amount, exited);
        if (amount != 0) quote.safeTransfer(to, amount);
        uint256 left = quote.balanceOf(address(this));
        if (left != 0) revert MasterNotEmpty(left);
    }

    // ---------------------------------------------------------------------------- internals

    /// @notice The free treasury holds less than needed.
    error InsufficientFreeTreasury(uint256 free, uint256 required);

    function _move(address fromChild, uint256 fromBot, address toChild, uint256 toBot, uint256 amount) private {
        LibMaster.enforceChild(fromChild);
        LibMaster.enforceChild(toChild);
        if (amount == 0) revert ZeroAmount();
        if (fromChild == toChild && fromBot == toBot) revert SameBot(fromChild, fromBot);
        uint256 fromCapital = LibAllocation.botCapital(fromChild, fromBot);
        uint256 maxMoveBps = LibAllocation.params().maxMoveBps;
        uint256 maxAmount = fromCapital * maxMoveBps / LibAllocation.BPS;
        if (amount > maxAmount) revert RebalanceAboveBound(amount, maxAmount, maxMoveBps);
        uint256 toCapital = LibAllocation.botCapital(toChild, toBot);
        LibMaster.MasterStorage storage ms = LibMaster.masterStorage();
        uint256 a = ms.allocated[fromChild];
        ms.allocated[fromChild] = a > amount ? a - amount : 0;
        ms.allocated[toChild] += amount;
        LibAllocation.recordRecall(fromChild, fromBot, fromCapital, amount);
        LibAllocation.recordFund(toChild, toBot, toCapital, amount);
        emit Rebalanced(fromChild, fromBot, toChild, toBot, amount);
        IChild(fromChild).recallCapital(fromBot, amount);
        ms.quoteToken.safeTransfer(toChild, amount);
        IChild(toChild).fundBot(toBot, amount);
    }

    function _addReserve(uint256 amount) private {
        if (amount == 0) return;
        LibAllocation.AllocationStorage storage s = LibAllocation.allocationStorage();
        s.reserveFund += amount;
        emit ReserveFunded(amount, s.reserveFund);
    }

    function _active(IChild.BotView[] memory page) private pure returns (uint256 n) {
        for (uint256 j; j < page.length; ++j) {
            if (page[j].status == ACTIVE) ++n;
        }
    }

    function _bound(string memory name, uint256 value, uint256 min, uint256 max) private pure {
        if (value < min || value > max) revert LibAllocation.ParameterOutOfRange(name, value, min, max);
    }
}
