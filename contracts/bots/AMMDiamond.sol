// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Diamond} from "../diamond/Diamond.sol";
import {IDiamond} from "../diamond/interfaces/IDiamond.sol";

/// @title AMMDiamond
/// @notice Child diamond of the 50 cross-DEX arbitrage bots (ArbitrageFacet between two Uniswap V2 pairs).
///         Behaviour comes from its facets; this contract only names the diamond.
contract AMMDiamond is Diamond {
    /// @param owner_ Owner (ERC-173). @param cuts Initial facets. @param init ChildInit. @param initCalldata ChildInit.init(master, quoteToken).
    constructor(address owner_, IDiamond.FacetCut[] memory cuts, address init, bytes memory initCalldata)
        payable
        Diamond(owner_, cuts, init, initCalldata)
    {}
}
