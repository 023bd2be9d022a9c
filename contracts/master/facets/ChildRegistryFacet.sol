// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LibDiamond} from "../../diamond/libraries/LibDiamond.sol";
import {IChild} from "../../bots/interfaces/IChild.sol";
import {LibMaster} from "../libraries/LibMaster.sol";
import {LibRisk} from "../libraries/LibRisk.sol";

/// @title ChildRegistryFacet
/// @notice The master's registry of child diamonds (at most 8).
/// @dev A child the master cannot value (its equity() reverts) makes total equity unknown: deposit,
///      withdraw and resetBreaker refuse (LibRisk.ChildNotValued) and a checkpoint trips the breaker
///      (RiskFacet). The owner's way out is removeChild: after an exit attempt, a child that holds
///      nothing, or still cannot be valued, leaves the registry.
contract ChildRegistryFacet {
    /// @notice The registry holds MAX_CHILDREN already.
    error TooManyChildren();
    /// @notice The child is registered already.
    error ChildAlreadyRegistered(address child);
    /// @notice The child reports another master.
    error ChildMasterMismatch(address child, address reportedMaster);

    /// @notice After the exit attempt `child` still holds `equity` (its equity(), quote base units)
    ///         and `balance` quote tokens: it can be valued and is not empty.
    error ChildStillHolds(address child, uint256 equity, uint256 balance);

    event ChildRegistered(address indexed child, LibMaster.ChildKind kind);
    /// @notice `child` left the registry; `valued` is false if it could not be valued (its equity()
    ///         reverted), in which case whatever it still holds is written off by the master.
    event ChildRemoved(address indexed child, LibMaster.ChildKind kind, bool valued);

    /// @notice Registers `child` of `kind`; it must report this diamond as its master. Owner only.
    ///         The child then receives the master's breaker state (its setMasterBreaker; a child
    ///         that refuses it reverts the registration: it could not stop opening when tripped).
    function registerChild(address child, LibMaster.ChildKind kind) external {
        LibDiamond.enforceIsContractOwner();
        LibMaster.MasterStorage storage ms = LibMaster.masterStorage();
        if (ms.isChild[child]) revert ChildAlreadyRegistered(child);
        if (ms.children.length >= LibMaster.MAX_CHILDREN) revert TooManyChildren();
        address reported = IChild(child).master();
        if (reported != address(this)) revert ChildMasterMismatch(child, reported);
        ms.children.push(child);
        ms.isChild[child] = true;
        ms.kindOf[child] = kind;
        emit ChildRegistered(child, kind);
        bool tripped = LibRisk.riskStorage().tripped;
        IChild(child).setMasterBreaker(tripped);
        emit LibRisk.BreakerPushed(child, tripped);
    }

    /// @notice Removes `child` from the registry. Owner only. First an exit attempt: the child's
    ///         exitAll(exitSlippageBps) is called (LibRisk.exitChild: ChildExited, or ChildExitFailed
    ///         with its revert data — a failed exit does not stop the removal). Then the child must
    ///         either hold nothing (equity() == 0 and no quote tokens) or be unvaluable (equity()
    ///         reverts); otherwise ChildStillHolds. The last child takes the removed one's place in
    ///         the list (registration order is not kept). What the master had allocated to it is
    ///         forgotten; bot principals booked at it stay (they are clamped to the bots' book value
    ///         if it is registered again). Emits ChildRemoved. Reverts UnknownChild.
    function removeChild(address child) external {
        LibDiamond.enforceIsContractOwner();
        LibMaster.enforceChild(child);
        (,, uint16 slippage) = LibRisk.parameters();
        LibRisk.exitChild(child, slippage);
        LibMaster.MasterStorage storage ms = LibMaster.masterStorage();
        (bool valued, uint256 equity,) = LibRisk.childEquity(child);
        if (valued) {
            uint256 balance = ms.quoteToken.balanceOf(child);
            if (equity != 0 || balance != 0) revert ChildStillHolds(child, equity, balance);
        }
        address[] storage list = ms.children;
        uint256 n = list.length; // <= MAX_CHILDREN
        for (uint256 i; i < n; ++i) {
            if (list[i] == child) {
                list[i] = list[n - 1];
                list.pop();
                break;
            }
        }
        LibMaster.ChildKind kind = ms.kindOf[child];
        delete ms.isChild[child];
        delete ms.kindOf[child];
        delete ms.allocated[child];
        emit ChildRemoved(child, kind, valued);
    }

    /// @notice Registered children and their kinds, in registration order (a removal moves the last
    ///         child into the removed one's place).
    function children() external view returns (address[] memory children_, LibMaster.ChildKind[] memory kinds) {
        LibMaster.MasterStorage storage ms = LibMaster.masterStorage();
        children_ = ms.children;
        kinds = new LibMaster.ChildKind[](children_.length);
        for (uint256 i; i < children_.length; ++i) {
            kinds[i] = ms.kindOf[children_[i]];
        }
    }

    /// @notice True if `child` is registered.
    function isChild(address child) external view returns (bool) {
        return LibMaster.masterStorage().isChild[child];
    }
}
