// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LibDiamond} from "../../diamond/libraries/LibDiamond.sol";
import {IChild} from "../../bots/interfaces/IChild.sol";
import {LibMaster} from "./LibMaster.sol";

/// @title LibRisk
/// @notice System-wide risk of the master diamond (ERC-7201 "macrostrike.master.risk"): the
///         high-water mark of total equity, the day window, the circuit breaker, the exit slippage
///         bound and the master's keepers. Amounts are quote base units (USDC, 6 decimals); times
///         are seconds of chain time.
/// @dev Total equity = the master's quote balance (treasury + reserve fund) + Σ child.equity()
///      over the bounded child list (LibMaster.MAX_CHILDREN). Deposits and withdrawals are not
///      performance: `scaleForFlow` rescales the high-water mark and the day's start equity by
///      equityAfter / equityBefore, so the drawdown and daily loss, as fractions, are unchanged by them.
library LibRisk {
    // keccak256(abi.encode(uint256(keccak256("macrostrike.master.risk")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant STORAGE_SLOT = 0xcd75431c97afa1f0bb5d90eed2db430cba36d9e535d170f1287f993a25241e00;

    uint256 internal constant BPS = 10_000;
    uint64 internal constant DAY = 86_400;
    /// @notice Default maximum drawdown from the high-water mark (system specification: 10%).
    uint16 internal constant DEFAULT_MAX_DRAWDOWN_BPS = 1_000;
    /// @notice Default daily loss limit (system specification: 5% of the day's starting equity).
    uint16 internal constant DEFAULT_DAILY_LOSS_BPS = 500;
    /// @notice Default slippage bound passed to each child's exitAll (1%).
    uint16 internal constant DEFAULT_EXIT_SLIPPAGE_BPS = 100;
    /// @notice Bounds accepted by setRiskParameters.
    uint16 internal constant MAX_DRAWDOWN_BOUND_BPS = 5_000;
    uint16 internal constant MAX_DAILY_LOSS_BOUND_BPS = 5_000;
    uint16 internal constant MAX_EXIT_SLIPPAGE_BOUND_BPS = 1_000;

    /// @notice Why the breaker tripped.
    enum TripReason {
        None,
        Drawdown,
        DailyLoss,
        /// a checkpoint could not value a child (its equity() reverted); appended after v1
        ChildUnvaluable
    }

    /// @custom:storage-location erc7201:macrostrike.master.risk
    struct RiskStorage {
        /// false: the DEFAULT_* parameters are in force
        bool configured;
        uint16 maxDrawdownBps;
        uint16 dailyLossBps;
        uint16 exitSlippageBps;
        bool tripped;
        TripReason reason;
        /// true after the first checkpoint
        bool started;
        uint64 dayStart;
        uint64 lastCheckpointAt;
        uint256 highWaterMark;
        uint256 dayStartEquity;
        uint256 lastEquity;
        mapping(address => bool) keepers;
    }

    /// @notice A parameter is outside [min, max].
    error ParameterOutOfRange(string name, uint256 value, uint256 min, uint256 max);
    /// @notice The caller is neither a registered master keeper nor the owner.
    error NotRiskKeeper(address sender);
    /// @notice `child`'s equity() reverted: total equity (hence the share of a deposit or withdrawal
    ///         in it, and the breaker's references) cannot be computed until the child is fixed or
    ///         removed (ChildRegistryFacet.removeChild).
    error ChildNotValued(address child);

    /// @notice The circuit breaker tripped: equity fell to or below `reference` × (1 − limit).
    /// @param referenceEquity The high-water mark (Drawdown) or the day's starting equity (DailyLoss).
    event BreakerTripped(TripReason reason, uint256 equity, uint256 referenceEquity);
    /// @notice The high-water mark and the day's start equity were rescaled for a deposit or withdrawal.
    event RiskReferencesScaled(uint256 equityBefore, uint256 equityAfter, uint256 highWaterMark, uint256 dayStartEquity);

    /// @notice `child`'s exitAll returned `amount` to the master.
    event ChildExited(address indexed child, uint256 amount);
    /// @notice `child`'s exitAll reverted with `reason`; the other children were still exited.
    event ChildExitFailed(address indexed child, bytes reason);
    /// @notice A checkpoint could not value `child`: its equity() reverted with `reason`.
    event ChildValuationFailed(address indexed child, bytes reason);

    /// @notice The breaker state `tripped` was stored in `child` (its setMasterBreaker).
    event BreakerPushed(address indexed child, bool tripped);
    /// @notice `child`'s setMasterBreaker(`tripped`) reverted with `reason`: that child keeps its
    ///         previous copy of the breaker until a later push (pushBreaker, the next trip or reset)
    ///         reaches it. The other children were still pushed.
    event BreakerPushFailed(address indexed child, bool tripped, bytes reason);

    /// @notice The high-water mark and the day window were cleared (the system was emptied).
    event RiskReferencesRestarted();

    function riskStorage() internal pure returns (RiskStorage storage rs) {
        bytes32 slot = STORAGE_SLOT;
        assembly {
            rs.slot := slot
        }
    }

    function enforceKeeperOrOwner() internal view {
        if (!riskStorage().keepers[msg.sender] && msg.sender != LibDiamond.contractOwner()) {
            revert NotRiskKeeper(msg.sender);
        }
    }

    /// @notice (maxDrawdownBps, dailyLossBps, exitSlippageBps) in force.
    function parameters() internal view returns (uint16 maxDrawdownBps, uint16 dailyLossBps, uint16 exitSlippageBps) {
        RiskStorage storage rs = riskStorage();
        if (!rs.configured) return (DEFAULT_MAX_DRAWDOWN_BPS, DEFAULT_DAILY_LOSS_BPS, DEFAULT_EXIT_SLIPPAGE_BPS);
        return (rs.maxDrawdownBps, rs.dailyLossBps, rs.exitSlippageBps);
    }

    /// @notice The master's quote balance (treasury + reserve fund) plus every child's equity.
    ///         Reverts ChildNotValued(child) naming the first child whose equity() reverts (not
    ///         with the child's own revert data).
    function totalEquity() internal view returns (uint256 equity) {
        LibMaster.MasterStorage storage ms = LibMaster.masterStorage();
        equity = ms.quoteToken.balanceOf(address(this));
        address[] storage children = ms.children;
        for (uint256 i; i < children.length; ++i) {
            (bool ok, uint256 value,) = childEquity(children[i]);
            if (!ok) revert ChildNotValued(children[i]);
            equity += value;
        }
    }

    /// @notice Like totalEquity, but a child whose equity() reverts is reported
    ///         (ChildValuationFailed) and counted as 0 instead of reverting.
    /// @return equity The master's balance plus the equity of the children that could be valued.
    /// @return unvalued Number of children that could not be valued.
    function measureEquity() internal returns (uint256 equity, uint256 unvalued) {
        LibMaster.MasterStorage storage ms = LibMaster.masterStorage();
        equity = ms.quoteToken.balanceOf(address(this));
        address[] storage children = ms.children;
        for (uint256 i; i < children.length; ++i) {
            (bool ok, uint256 value, bytes memory reason) = childEquity(children[i]);
            if (ok) {
                equity += value;
            } else {
                ++unvalued;
                emit ChildValuationFailed(children[i], reason);
            }
        }
    }

    /// @notice `child`'s equity(), or (false, 0, revert data) if the call reverts. A child that
    ///         returns undecodable data (or has no code) still reverts the caller: try/catch
    ///         cannot catch that, and such an address is not a child the master could register.
    function childEquity(address child) internal view returns (bool ok, uint256 value, bytes memory reason) {
        try IChild(child).equity() returns (uint256 v) {
            return (true, v, reason);
        } catch (bytes memory r) {
            return (false, 0, r);
        }
    }

    /// @notice True once `equity` has fallen to `referenceEquity` × (1 − limitBps / 10,000) or below:
    ///         (referenceEquity − equity) × 10,000 >= referenceEquity × limitBps, in integers (no rounding).
    function breaches(uint256 equity, uint256 referenceEquity, uint256 limitBps) internal pure returns (bool) {
        return equity < referenceEquity && (referenceEquity - equity) * BPS >= referenceEquity * limitBps;
    }

    /// @notice Rescales the references for a deposit or withdrawal that took total equity from
    ///         `equityBefore` to `equityAfter` (no-op before the first checkpoint).
    function scaleForFlow(uint256 equityBefore, uint256 equityAfter) internal {
        RiskStorage storage rs = riskStorage();
        if (!rs.started) return;
        if (equityBefore == 0) {
            rs.highWaterMark = equityAfter;
            rs.dayStartEquity = equityAfter;
        } else {
            rs.highWaterMark = rs.highWaterMark * equityAfter / equityBefore;
            rs.dayStartEquity = rs.dayStartEquity * equityAfter / equityBefore;
        }
        emit RiskReferencesScaled(equityBefore, equityAfter, rs.highWaterMark, rs.dayStartEquity);
    }

    /// @notice Forgets the high-water mark and the day window (the system was emptied).
    function restart() internal {
        RiskStorage storage rs = riskStorage();
        rs.started = false;
        rs.highWaterMark = 0;
        rs.dayStartEquity = 0;
        rs.dayStart = 0;
        emit RiskReferencesRestarted();
    }

    /// @notice Stores the breaker state `tripped` in every registered child (bounded list,
    ///         LibMaster.MAX_CHILDREN): each child's opening check reads its own copy instead of
    ///         calling the master on every trade. A child whose setMasterBreaker reverts is reported
    ///         (BreakerPushFailed) and skipped, so one broken child cannot stop the breaker.
    function pushBreaker(bool tripped) internal {
        address[] storage children = LibMaster.masterStorage().children;
        for (uint256 i; i < children.length; ++i) {
            try IChild(children[i]).setMasterBreaker(tripped) {
                emit BreakerPushed(children[i], tripped);
            } catch (bytes memory reason) {
                emit BreakerPushFailed(children[i], tripped, reason);
            }
        }
    }

    /// @notice Calls exitAll(exitSlippageBps) on every child (bounded list). A child whose exitAll
    ///         reverts is reported (ChildExitFailed) and skipped, so one child cannot block the
    ///         others' exit. A child that exited has nothing allocated left.
    /// @return exited Number of children whose exitAll succeeded.
    function exitChildren() internal returns (uint256 exited) {
        (,, uint16 slippage) = parameters();
        address[] storage children = LibMaster.masterStorage().children;
        for (uint256 i; i < children.length; ++i) {
            if (exitChild(children[i], slippage)) ++exited;
        }
    }

    /// @notice Calls `child`'s exitAll(slippageBps); reports ChildExited (and zeroes what is
    ///         allocated to it) or ChildExitFailed with its revert data. Returns whether it exited.
    function exitChild(address child, uint16 slippageBps) internal returns (bool exited) {
        try IChild(child).exitAll(slippageBps) returns (uint256 returned) {
            LibMaster.masterStorage().allocated[child] = 0;
            emit ChildExited(child, returned);
            return true;
        } catch (bytes memory reason) {
            emit ChildExitFailed(child, reason);
            return false;
        }
    }
}
