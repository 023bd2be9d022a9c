// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title LibMaster
/// @notice Treasury and child registry of the master diamond (ERC-7201 "macrostrike.master").
///         Amounts are quote-token base units (USDC, 6 decimals).
library LibMaster {
    // keccak256(abi.encode(uint256(keccak256("macrostrike.master")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant STORAGE_SLOT = 0x46d10a3a65a752425795635f7605498751e6e7145bb933a8e6a70ea1725a4500;

    /// @notice Most children a master coordinates (bounds every loop over them).
    uint256 internal constant MAX_CHILDREN = 8;

    /// @notice What a child diamond trades.
    enum ChildKind {
        Long,
        Short,
        AMM
    }

    /// @custom:storage-location erc7201:macrostrike.master
    struct MasterStorage {
        IERC20 quoteToken;
        address[] children;
        mapping(address => bool) isChild;
        mapping(address => ChildKind) kindOf;
        /// funded minus recalled, per child
        mapping(address => uint256) allocated;
        uint256 totalDeposited;
        uint256 totalWithdrawn;
    }

    /// @notice `child` is not a registered child.
    error UnknownChild(address child);

    function masterStorage() internal pure returns (MasterStorage storage ms) {
        bytes32 slot = STORAGE_SLOT;
        assembly {
            ms.slot := slot
        }
    }

    function enforceChild(address child) internal view {
        if (!masterStorage().isChild[child]) revert UnknownChild(child);
    }
}
