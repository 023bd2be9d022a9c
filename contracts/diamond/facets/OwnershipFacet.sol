// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC173} from "../interfaces/IERC173.sol";
import {LibDiamond} from "../libraries/LibDiamond.sol";

/// @title OwnershipFacet
/// @notice ERC-173 ownership with a two-step transfer: the owner names a pending owner, who must
///         call `acceptOwnership` (guards against transferring to a mistyped address).
contract OwnershipFacet is IERC173 {
    /// @notice The caller is not the pending owner.
    error NotPendingOwner(address sender, address pendingOwner);

    /// @inheritdoc IERC173
    function owner() external view override returns (address owner_) {
        owner_ = LibDiamond.contractOwner();
    }

    /// @notice The account that may accept ownership (address(0) when none).
    function pendingOwner() external view returns (address) {
        return LibDiamond.diamondStorage().pendingOwner;
    }

    /// @inheritdoc IERC173
    /// @dev Owner only (NotContractOwner). Sets the pending owner and emits OwnershipTransferStarted;
    ///      the owner does not change until acceptOwnership. address(0) cancels a pending transfer.
    function transferOwnership(address _newOwner) external override {
        LibDiamond.enforceIsContractOwner();
        LibDiamond.diamondStorage().pendingOwner = _newOwner;
        emit LibDiamond.OwnershipTransferStarted(LibDiamond.contractOwner(), _newOwner);
    }

    /// @notice Completes a two-step transfer; pending owner only (NotPendingOwner). Emits OwnershipTransferred.
    function acceptOwnership() external {
        address pending = LibDiamond.diamondStorage().pendingOwner;
        if (msg.sender != pending) revert NotPendingOwner(msg.sender, pending);
        LibDiamond.setContractOwner(pending);
    }
}
