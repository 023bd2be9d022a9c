// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IDiamond} from "./IDiamond.sol";

/// @title IDiamondCut (ERC-165 id 0x1f931c1c)
interface IDiamondCut is IDiamond {
    /// @notice Add, replace or remove functions, then optionally delegatecall `_init` with `_calldata`.
    /// @param _diamondCut Facet addresses, actions and selectors.
    /// @param _init Contract to delegatecall after the cut (address(0) for none).
    /// @param _calldata Calldata for `_init` (empty when `_init` is address(0)).
    function diamondCut(FacetCut[] calldata _diamondCut, address _init, bytes calldata _calldata) external;
}
