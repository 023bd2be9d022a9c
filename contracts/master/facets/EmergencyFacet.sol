// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {LibDiamond} from "../../diamond/libraries/LibDiamond.sol";
import {IChild} from "../../bots/interfaces/IChild.sol";
import {LibAllocation} from "../libraries/LibAllocation.sol";
import {LibMaster} from "../libraries/LibMaster.sol";
import {LibRisk} from "../libraries/LibRisk.sol";
import {LibSafe} from "../libraries/LibSafe.sol";

/// @title EmergencyFacet
/// @notice System-wide stop and resume: pauses or unpauses every registered child (at most
///         LibMaster.MAX_CHILDREN, so the loop is bounded); the safe address and moveToSafe, which
///         sends the recovered funds there (issue 15 §1).
contract EmergencyFacet {
    using SafeERC20 for IERC20;

    /// @notice moveToSafe before setSafeAddress.
    error SafeAddressNotSet();
    /// @notice The safe address cannot be zero or the master itself.
    error InvalidSafeAddress(address safe);

    /// @notice Every child was paused by `by`.
    event EmergencyStop(address indexed by, uint256 children);
    /// @notice `by` asked every child to close everything; `exited` of `children` children did.
    event EmergencyExit(address indexed by, uint256 children, uint256 exited);
    /// @notice Every child was unpaused by `by`.
    event SystemResumed(address indexed by, uint256 children);
    /// @notice The safe address changed from `previous` to `safe`.
    event SafeAddressSet(address indexed previous, address indexed safe);
    /// @notice `by` moved `amount` (quote base units: the whole treasury, of which `reserveFund` was
    ///         the reserve fund) to `safe`.
    event MovedToSafe(address indexed by, address indexed safe, uint256 amount, uint256 reserveFund);
    /// @notice Same event as AllocationFacet's: the reserve fund went from `amount` to `reserveFund`.
    event ReserveReleased(uint256 amount, uint256 reserveFund);

    /// @notice Pauses every child: no bot trades until resumeAll. Owner only.
    function emergencyStop() external {
        LibDiamond.enforceIsContractOwner();
        address[] storage children = LibMaster.masterStorage().children;
        emit EmergencyStop(msg.sender, children.length);
        for (uint256 i; i < children.length; ++i) {
            IChild(children[i]).pause();
        }
    }

    /// @notice Unpauses every child. Owner only.
    function resumeAll() external {
        LibDiamond.enforceIsContractOwner();
        address[] storage children = LibMaster.masterStorage().children;
        emit SystemResumed(msg.sender, children.length);
        for (uint256 i; i < children.length; ++i) {
            IChild(children[i]).unpause();
        }
    }

    /// @notice Closes every position of every child and brings all capital back to the master:
    ///         calls each child's exitAll(exitSlippageBps) (RiskFacet parameter, default 100 bps).
    ///         A child whose exitAll reverts is reported (ChildExitFailed) and the others still exit.
    ///         Owner only.
    /// @return exited Number of children whose exitAll succeeded.
    function emergencyExit() external returns (uint256 exited) {
        LibDiamond.enforceIsContractOwner();
        exited = LibRisk.exitChildren();
        emit EmergencyExit(msg.sender, LibMaster.masterStorage().children.length, exited);
    }

    /// @notice Sets where moveToSafe sends the recovered funds (e.g. a cold wallet or a multisig the
    ///         operator controls). Owner only.
    /// @dev Reverts NotContractOwner, InvalidSafeAddress (zero or the master).
    function setSafeAddress(address safe) external {
        LibDiamond.enforceIsContractOwner();
        if (safe == address(0) || safe == address(this)) revert InvalidSafeAddress(safe);
        LibSafe.SafeStorage storage s = LibSafe.safeStorage();
        emit SafeAddressSet(s.safe, safe);
        s.safe = safe;
    }

    /// @notice The safe address (zero until set).
    function safeAddress() external view returns (address) {
        return LibSafe.safeStorage().safe;
    }

    /// @notice Sends the master's whole quote balance — the free treasury, the reserve fund, and what
    ///         the children's exitAll returned (call emergencyExit first) — to the safe address.
    ///         Unlike AllocationFacet.withdrawAll it neither exits the children nor requires them
    ///         empty: a child that could not exit keeps its positions for StrikeRecoveryFacet. The
    ///         reserve fund is released, the amount counts as withdrawn and the risk references
    ///         restart at the next checkpoint. Moving nothing (empty treasury) is not an error.
    ///         Owner only.
    /// @dev Reverts NotContractOwner, SafeAddressNotSet.
    /// @return amount Quote base units sent to the safe address.
    function moveToSafe() external returns (uint256 amount) {
        LibDiamond.enforceIsContractOwner();
        address safe = LibSafe.safeStorage().safe;
        if (safe == address(0)) revert SafeAddressNotSet();
        LibMaster.MasterStorage storage ms = LibMaster.masterStorage();
        IERC20 quote = ms.quoteToken;
        amount = quote.balanceOf(address(this));
        LibAllocation.AllocationStorage storage a = LibAllocation.allocationStorage();
        uint256 reserve = a.reserveFund;
        if (reserve != 0) {
            emit ReserveReleased(reserve, 0);
            a.reserveFund = 0;
        }
        ms.totalWithdrawn += amount;
        LibRisk.restart();
        emit MovedToSafe(msg.sender, safe, amount, reserve);
        if (amount != 0) quote.safeTransfer(safe, amount);
    }
}
