// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LibDiamond} from "../../diamond/libraries/LibDiamond.sol";
import {VersionedInit} from "../../diamond/VersionedInit.sol";

// Test-only contracts for the upgrade planner tests (tests/test_upgrade*.py, tests/test_inspect.py).
// Never deployed by scripts.

/// @title LibUpgradeCounter
/// @notice A counter module in its own ERC-7201 namespace "macrostrike.test.counter".
library LibUpgradeCounter {
    // keccak256(abi.encode(uint256(keccak256("macrostrike.test.counter")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant STORAGE_SLOT = 0x0bcd48d55cd6c38fadd8930e168d5831a91d0df31960cabbfda668b746741000;

    /// @custom:storage-location erc7201:macrostrike.test.counter
    struct CounterStorage {
        uint256 count;
        address lastCaller;
        uint64 step;
    }

    /// @notice Emitted on every change of the count.
    event CountChanged(uint256 count, address indexed caller);

    function layout() internal pure returns (CounterStorage storage s) {
        bytes32 slot = STORAGE_SLOT;
        assembly {
            s.slot := slot
        }
    }

    /// @notice Adds `step` (1 when unset) to the count; emits CountChanged.
    function bump() internal returns (uint256 count) {
        CounterStorage storage s = layout();
        uint64 step = s.step == 0 ? 1 : s.step;
        count = s.count + step;
        s.count = count;
        s.lastCaller = msg.sender;
        emit CountChanged(count, msg.sender);
    }
}

/// @notice Version 1: increment, count and a legacy ping that version 2 drops.
contract UpgradeCounterFacetV1 {
    function increment() external returns (uint256) {
        return LibUpgradeCounter.bump();
    }

    function count() external view returns (uint256) {
        return LibUpgradeCounter.layout().count;
    }

    function legacyPing() external pure returns (uint256) {
        return 1;
    }
}

/// @notice Version 2: same storage; increment/count replaced, legacyPing removed, step/lastCaller added.
contract UpgradeCounterFacetV2 {
    function increment() external returns (uint256) {
        return LibUpgradeCounter.bump();
    }

    function count() external view returns (uint256) {
        return LibUpgradeCounter.layout().count;
    }

    function step() external view returns (uint64) {
        return LibUpgradeCounter.layout().step;
    }

    function lastCaller() external view returns (address) {
        return LibUpgradeCounter.layout().lastCaller;
    }
}

/// @notice Claims `count()` too: a desired set with this and a counter facet has a selector in two facets.
contract UpgradeClashFacet {
    function count() external pure returns (uint256) {
        return 42;
    }
}

/// @notice The version-2 initializer: sets the counter's step; owner of the cut only (runs inside it).
contract UpgradeCounterInitV2 is VersionedInit {
    /// @notice keccak256("macrostrike.test.counter"): the module this init versions.
    bytes32 public constant NAMESPACE = keccak256("macrostrike.test.counter");

    /// @notice step is zero.
    error ZeroStep();

    /// @notice Emitted with the step set by the upgrade.
    event StepSet(uint64 step);

    /// @param step_ Amount added by each increment from now on (> 0).
    function init(uint64 step_) external initializer(NAMESPACE, 2) {
        if (step_ == 0) revert ZeroStep();
        LibDiamond.enforceIsContractOwner();
        LibUpgradeCounter.layout().step = step_;
        emit StepSet(step_);
    }
}
