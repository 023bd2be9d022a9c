// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IDiamondLoupe (ERC-165 id 0x48e2b093)
/// @notice Introspection of a diamond's routing (EIP-2535 "Diamond Loupe").
interface IDiamondLoupe {
    /// @notice A facet and the selectors routed to it.
    struct Facet {
        address facetAddress;
        bytes4[] functionSelectors;
    }

    /// @notice All facets with their selectors.
    function facets() external view returns (Facet[] memory facets_);

    /// @notice Selectors routed to `_facet`.
    function facetFunctionSelectors(address _facet) external view returns (bytes4[] memory facetFunctionSelectors_);

    /// @notice Addresses of all facets.
    function facetAddresses() external view returns (address[] memory facetAddresses_);

    /// @notice Facet that handles `_functionSelector`, or address(0).
    function facetAddress(bytes4 _functionSelector) external view returns (address facetAddress_);
}
