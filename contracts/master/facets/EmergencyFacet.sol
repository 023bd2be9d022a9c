// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LibDiamond} from "../../diamond/libraries/LibDiamond.sol";
import {IChild} from "../../bots/interfaces/IChild.sol";
import {LibMaster} from "../libraries/LibMaster.sol";
import {LibRisk} from "../libraries/LibRisk.sol";

/// @title EmergencyFacet
/// @notice System-wide stop and resume: pauses or unpauses every registered child (at most
///         LibMaster.MAX_CHILDREN, so the loop is bounded).
contract EmergencyFacet {
    /// @notice Every child was paused by `by`.
    event EmergencyStop(address indexed by, uint256 children);
    /// @notice `by` asked every child to close everything; `exited` of `children` children did.
    event EmergencyExit(address indexed by, uint256 children, uint256 exited);
    /// @notice Every child was unpaused by `by`.
    event SystemResumed(address indexed by, uint256 children);

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
}
