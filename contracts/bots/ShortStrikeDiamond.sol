// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Diamond} from "../diamond/Diamond.sol";
import {IDiamond} from "../diamond/interfaces/IDiamond.sol";

/// @title ShortStrikeDiamond
/// @notice Child diamond of the 25 short strike bots (leveraged shorts on Aave V3; their facets come with the strike issue).
///         Behaviour comes from its facets; this contract only names the diamond.
contract ShortStrikeDiamond is Diamond {
    /// @param owner_ Owner (ERC-173). @param cuts Initial facets. @param init ChildInit. @param initCalldata ChildInit.init(master, quoteToken).
    constructor(address owner_, IDiamond.FacetCut[] memory cuts, address init, bytes memory initCalldata)
        payable
        Diamond(owner_, cuts, init, initCalldata)
    {}
}
