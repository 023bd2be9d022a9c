// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IDiamond
/// @notice Types and event shared by every EIP-2535 diamond (https://eips.ethereum.org/EIPS/eip-2535).
interface IDiamond {
    /// @notice What a FacetCut does with its selectors.
    enum FacetCutAction {
        Add,
        Replace,
        Remove
    }

    /// @notice One facet's part of a cut: route `functionSelectors` to `facetAddress` (Add/Replace)
    ///         or drop them (Remove, with `facetAddress` == address(0)).
    struct FacetCut {
        address facetAddress;
        FacetCutAction action;
        bytes4[] functionSelectors;
    }

    /// @notice Emitted for every cut, including the constructor's, before `_init` runs.
    event DiamondCut(FacetCut[] _diamondCut, address _init, bytes _calldata);
}
