// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LibDiamond} from "../../diamond/libraries/LibDiamond.sol";
import {LibExposure} from "../libraries/LibExposure.sol";

/// @title ExposureFacet
/// @notice System-wide per-pair exposure limit across the master's children (issue: "per-pair
///         exposure limit across bots"). Each child bounds its own bots' exposure to a pair
///         (LibRiskLimits.maxPairExposure, default $200,000); the long and the short strike child
///         trade the same pair, so the master keeps the sum over every child and a limit per pair
///         (default $300,000, see LibExposure.DEFAULT_PAIR_EXPOSURE_LIMIT). Amounts are quote base
///         units (USDC, 6 decimals); exposure is the positions' margin, gross (long + short).
/// @dev Children call addPairExposure when a position opens (before its swaps: a revert undoes the
///      open) and removePairExposure when one closes; the master's emergencyExit/withdrawAll reach
///      removePairExposure re-entrantly through child.exitAll, so no re-entrancy guard is used here
///      (these functions only update this facet's storage and emit events; they call nothing).
contract ExposureFacet {
    /// @notice Sets the limit of every pair without its own limit (quote base units). Owner only.
    ///         Reverts ParameterOutOfRange unless 1 <= limit <= type(uint128).max. A limit below a
    ///         pair's current exposure blocks opening on it until positions close.
    function setDefaultPairExposureLimit(uint256 limit) external {
        LibDiamond.enforceIsContractOwner();
        LibExposure.enforceLimitBounds("defaultPairExposureLimit", limit);
        LibExposure.ExposureStorage storage es = LibExposure.exposureStorage();
        es.configured = true;
        es.defaultLimit = limit;
        emit LibExposure.DefaultPairExposureLimitSet(limit);
    }

    /// @notice Sets `pairKey`'s own limit (quote base units); 0 removes it (the default applies
    ///         again). Owner only. Reverts ParameterOutOfRange unless limit is 0 or 1..type(uint128).max.
    function setPairExposureLimit(bytes32 pairKey, uint256 limit) external {
        LibDiamond.enforceIsContractOwner();
        if (limit != 0) LibExposure.enforceLimitBounds("pairExposureLimit", limit);
        LibExposure.exposureStorage().limitOf[pairKey] = limit;
        emit LibExposure.PairExposureLimitSet(pairKey, limit);
    }

    /// @notice Adds `size` (quote base units) to `pairKey`'s system-wide exposure. Registered
    ///         children only (NotChild otherwise). Reverts SystemPairExposureExceeded(pairKey,
    ///         exposure, size, limit) when exposure + size > limit; exactly the limit is allowed.
    /// @return exposure The pair's exposure after the addition.
    function addPairExposure(bytes32 pairKey, uint256 size) external returns (uint256 exposure) {
        LibExposure.enforceChildCaller();
        return LibExposure.add(pairKey, size);
    }

    /// @notice Releases `size` (quote base units) of `pairKey`'s system-wide exposure, flooring at 0.
    ///         Registered children only (NotChild otherwise); never reverts on the limit.
    /// @return exposure The pair's exposure after the release.
    function removePairExposure(bytes32 pairKey, uint256 size) external returns (uint256 exposure) {
        LibExposure.enforceChildCaller();
        return LibExposure.remove(pairKey, size);
    }

    /// @notice Gross open exposure on `pairKey` summed over every child's bots (quote base units).
    function pairExposure(bytes32 pairKey) external view returns (uint256) {
        return LibExposure.exposureStorage().exposure[pairKey];
    }

    /// @notice The limit in force for `pairKey`: its own if set, else the default (quote base units).
    function pairExposureLimit(bytes32 pairKey) external view returns (uint256) {
        return LibExposure.limitOf(pairKey);
    }

    /// @notice The default per-pair limit in force (quote base units; $300,000 until set).
    function defaultPairExposureLimit() external view returns (uint256) {
        return LibExposure.defaultLimit();
    }
}
