// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LibMaster} from "./LibMaster.sol";

/// @title LibExposure
/// @notice System-wide per-pair exposure of the master diamond (ERC-7201
///         "macrostrike.master.exposure"): per pair key, the gross open exposure summed over every
///         registered child's bots, and the limit it may not exceed. Amounts are quote base units
///         (USDC, 6 decimals).
/// @dev Exposure is the positions' MARGIN (what the children's LibRiskLimits already counts as
///      "size" for their own maximum position size and per-pair exposure), not notional
///      (margin × leverage). Gross: a long and a short on the same pair add up (no netting).
///      A pair key is bytes32(uint160(pair address)) (StrikeFacet._pairKey). Children report the
///      change of their own per-pair exposure (LibRiskLimits): add before the position's swaps,
///      remove when a position closes. The limit is checked on add only; removing never reverts on
///      it (closing is always allowed) and floors at 0.
library LibExposure {
    // keccak256(abi.encode(uint256(keccak256("macrostrike.master.exposure")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant STORAGE_SLOT = 0xc7aef410373df9661c5b3d71966cc0144357b9dd54d22c23ec780dedeefe9f00;

    /// @notice Default system-wide limit per pair: $300,000. At the $800,000 reference size the two
    ///         strike children hold 2 × 25 % of the 95 % left after the 5 % reserve = $380,000, and
    ///         each child's own per-pair limit defaults to $200,000 (LibRiskLimits), i.e. $400,000
    ///         for both: the master's default keeps both together at most $300,000 on one pair.
    uint256 internal constant DEFAULT_PAIR_EXPOSURE_LIMIT = 300_000e6;
    /// @notice Bounds of a limit: at least 1 base unit; at most type(uint128).max (the strike
    ///         children store a position's margin as uint128, and exposure + size cannot overflow).
    uint256 internal constant MIN_PAIR_EXPOSURE_LIMIT = 1;
    uint256 internal constant MAX_PAIR_EXPOSURE_LIMIT = type(uint128).max;

    /// @custom:storage-location erc7201:macrostrike.master.exposure
    struct ExposureStorage {
        /// false: DEFAULT_PAIR_EXPOSURE_LIMIT is the default limit
        bool configured;
        uint256 defaultLimit;
        /// pair key -> gross open exposure summed over every child's bots
        mapping(bytes32 => uint256) exposure;
        /// pair key -> its own limit; 0: the default limit applies
        mapping(bytes32 => uint256) limitOf;
    }

    /// @notice The caller is not a registered child of this master.
    error NotChild(address sender);
    /// @notice Adding `size` to the pair's system-wide `exposure` would exceed `limit`.
    error SystemPairExposureExceeded(bytes32 pairKey, uint256 exposure, uint256 size, uint256 limit);
    /// @notice A parameter is outside [min, max].
    error ParameterOutOfRange(string name, uint256 value, uint256 min, uint256 max);

    /// @notice The default per-pair limit became `limit` (quote base units).
    event DefaultPairExposureLimitSet(uint256 limit);
    /// @notice `pairKey`'s own limit became `limit` (0: the default applies again).
    event PairExposureLimitSet(bytes32 indexed pairKey, uint256 limit);
    /// @notice `child` added `size` to `pairKey`'s system-wide exposure, now `exposure`.
    event PairExposureAdded(address indexed child, bytes32 indexed pairKey, uint256 size, uint256 exposure);
    /// @notice `child` released `size` of `pairKey`'s system-wide exposure, now `exposure`.
    event PairExposureRemoved(address indexed child, bytes32 indexed pairKey, uint256 size, uint256 exposure);

    function exposureStorage() internal pure returns (ExposureStorage storage es) {
        bytes32 slot = STORAGE_SLOT;
        assembly {
            es.slot := slot
        }
    }

    /// @notice Reverts NotChild unless the caller is a registered child (LibMaster registry).
    function enforceChildCaller() internal view {
        if (!LibMaster.masterStorage().isChild[msg.sender]) revert NotChild(msg.sender);
    }

    /// @notice The default limit in force (DEFAULT_PAIR_EXPOSURE_LIMIT until set).
    function defaultLimit() internal view returns (uint256) {
        ExposureStorage storage es = exposureStorage();
        return es.configured ? es.defaultLimit : DEFAULT_PAIR_EXPOSURE_LIMIT;
    }

    /// @notice The limit in force for `pairKey`: its own if set, else the default.
    function limitOf(bytes32 pairKey) internal view returns (uint256) {
        uint256 own = exposureStorage().limitOf[pairKey];
        return own != 0 ? own : defaultLimit();
    }

    /// @notice Reverts ParameterOutOfRange unless MIN_PAIR_EXPOSURE_LIMIT <= limit <= MAX_PAIR_EXPOSURE_LIMIT.
    function enforceLimitBounds(string memory name, uint256 limit) internal pure {
        if (limit < MIN_PAIR_EXPOSURE_LIMIT || limit > MAX_PAIR_EXPOSURE_LIMIT) {
            revert ParameterOutOfRange(name, limit, MIN_PAIR_EXPOSURE_LIMIT, MAX_PAIR_EXPOSURE_LIMIT);
        }
    }

    /// @notice Adds `size` to `pairKey`'s exposure; reverts SystemPairExposureExceeded when
    ///         exposure + size > limit (exactly the limit is allowed).
    function add(bytes32 pairKey, uint256 size) internal returns (uint256 exposure) {
        ExposureStorage storage es = exposureStorage();
        uint256 current = es.exposure[pairKey];
        uint256 limit = limitOf(pairKey);
        if (current + size > limit) revert SystemPairExposureExceeded(pairKey, current, size, limit);
        exposure = current + size;
        es.exposure[pairKey] = exposure;
        emit PairExposureAdded(msg.sender, pairKey, size, exposure);
    }

    /// @notice Subtracts `size` from `pairKey`'s exposure, flooring at 0; never reverts on the limit.
    function remove(bytes32 pairKey, uint256 size) internal returns (uint256 exposure) {
        ExposureStorage storage es = exposureStorage();
        uint256 current = es.exposure[pairKey];
        exposure = current > size ? current - size : 0;
        es.exposure[pairKey] = exposure;
        emit PairExposureRemoved(msg.sender, pairKey, size, exposure);
    }
}
