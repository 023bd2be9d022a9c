// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title VersionedInit
/// @notice Base of diamond initializers that run in the same `diamondCut` as the facets they set up
///         (delegatecalled by the diamond) and can run only once per version. The version reached is
///         kept per ERC-7201 namespace of the module being initialised, in this base's own namespace
///         "macrostrike.init"; an init for version v runs only while that namespace is below v.
abstract contract VersionedInit {
    // keccak256(abi.encode(uint256(keccak256("macrostrike.init")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant INIT_STORAGE_SLOT = 0x8c7a7ee1e488a3b37533f7d56be3f7168dfb0657b466a9da1159938b4b9e4d00;

    /// @custom:storage-location erc7201:macrostrike.init
    struct InitStorage {
        /// module namespace id (keccak256 of the ERC-7201 id string) => highest version initialised
        mapping(bytes32 => uint64) versions;
    }

    /// @notice `namespace` is already at `current` >= `version`: this init ran (or a later one did).
    error AlreadyInitialized(bytes32 namespace, uint64 version, uint64 current);
    /// @notice Emitted when `namespace` moves to `version`.
    event Initialized(bytes32 indexed namespace, uint64 version);

    function _initStorage() private pure returns (InitStorage storage s) {
        bytes32 slot = INIT_STORAGE_SLOT;
        assembly {
            s.slot := slot
        }
    }

    /// @notice The version `namespace` was initialised to in the calling diamond (0 when never).
    function _initializedVersion(bytes32 namespace) internal view returns (uint64) {
        return _initStorage().versions[namespace];
    }

    /// @dev Runs the body once: reverts AlreadyInitialized when `namespace` is at `version` or later,
    ///      Records the version before the body (CEI). No immutables, so a deployed copy's runtime
    ///      code equals the compiled one and the upgrade planner can find and reuse it.
    modifier initializer(bytes32 namespace, uint64 version) {
        InitStorage storage s = _initStorage();
        uint64 current = s.versions[namespace];
        if (current >= version) revert AlreadyInitialized(namespace, version, current);
        s.versions[namespace] = version;
        emit Initialized(namespace, version);
        _;
    }
}
