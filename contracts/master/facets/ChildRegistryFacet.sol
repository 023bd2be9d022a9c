// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LibDiamond} from "../../diamond/libraries/LibDiamond.sol";
import {IChild} from "../../bots/interfaces/IChild.sol";
import {LibMaster} from "../libraries/LibMaster.sol";

/// @title ChildRegistryFacet
/// @notice The master's registry of child diamonds (at most 8).
contract ChildRegistryFacet {
    /// @notice The registry holds MAX_CHILDREN already.
    error TooManyChildren();
    /// @notice The child is registered already.
    error ChildAlreadyRegistered(address child);
    /// @notice The child reports another master.
    error ChildMasterMismatch(address child, address reportedMaster);

    event ChildRegistered(address indexed child, LibMaster.ChildKind kind);

    /// @notice Registers `child` of `kind`; it must report this diamond as its master. Owner only.
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
    }

    /// @notice Registered children and their kinds, in registration order.
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
