// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title LibSafe
/// @notice The master's safe address (ERC-7201 "macrostrike.master.safe"): where the emergency
///         action EmergencyFacet.moveToSafe sends the recovered funds (issue 15 §1).
library LibSafe {
    // keccak256(abi.encode(uint256(keccak256("macrostrike.master.safe")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant STORAGE_SLOT = 0x86ece5c5a3caaeb962cd070291d666d4534157744940047dcb3e8aefdf04b000;

    /// @custom:storage-location erc7201:macrostrike.master.safe
    struct SafeStorage {
        address safe;
    }

    function safeStorage() internal pure returns (SafeStorage storage s) {
        bytes32 slot = STORAGE_SLOT;
        assembly {
            s.slot := slot
        }
    }
}
