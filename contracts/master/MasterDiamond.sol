// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Diamond} from "../diamond/Diamond.sol";
import {IDiamond} from "../diamond/interfaces/IDiamond.sol";

/// @title MasterDiamond
/// @notice The system's master diamond: treasury and capital allocation, the registry of child
///         diamonds, coordination and aggregate statistics — all in its facets.
contract MasterDiamond is Diamond {
    /// @param owner_ Owner (ERC-173). @param cuts Initial facets. @param init MasterInit. @param initCalldata MasterInit.init(quoteToken).
    constructor(address owner_, IDiamond.FacetCut[] memory cuts, address init, bytes memory initCalldata)
        payable
        Diamond(owner_, cuts, init, initCalldata)
    {}
}
