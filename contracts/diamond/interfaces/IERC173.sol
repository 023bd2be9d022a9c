// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IERC173 Contract ownership (https://eips.ethereum.org/EIPS/eip-173), id 0x7f5828d0
interface IERC173 {
    /// @notice Emitted when ownership changes (on acceptance, for two-step transfers).
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    /// @notice The current owner.
    function owner() external view returns (address owner_);

    /// @notice Start transferring ownership to `_newOwner` (completed by `acceptOwnership`).
    function transferOwnership(address _newOwner) external;
}
