// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IDiamondLoupe} from "../interfaces/IDiamondLoupe.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {LibDiamond} from "../libraries/LibDiamond.sol";

/// @title DiamondLoupeFacet
/// @notice The four EIP-2535 loupe functions and ERC-165. Views only: they loop over the routed
///         selectors (bounded by what the owner cut in) and are meant for eth_call, not transactions.
contract DiamondLoupeFacet is IDiamondLoupe, IERC165 {
    /// @inheritdoc IDiamondLoupe
    function facets() external view override returns (Facet[] memory facets_) {
        LibDiamond.DiamondStorage storage ds = LibDiamond.diamondStorage();
        uint256 selectorCount = ds.selectors.length;
        facets_ = new Facet[](selectorCount);
        uint16[] memory counts = new uint16[](selectorCount);
        uint256 facetCount;
        for (uint256 s; s < selectorCount; ++s) {
            bytes4 selector = ds.selectors[s];
            address facet = ds.facetAddressAndSelectorPosition[selector].facetAddress;
            bool found;
            for (uint256 f; f < facetCount; ++f) {
                if (facets_[f].facetAddress == facet) {
                    facets_[f].functionSelectors[counts[f]++] = selector;
                    found = true;
                    break;
                }
            }
            if (!found) {
                facets_[facetCount].facetAddress = facet;
                facets_[facetCount].functionSelectors = new bytes4[](selectorCount);
                facets_[facetCount].functionSelectors[0] = selector;
                counts[facetCount] = 1;
                ++facetCount;
            }
        }
        for (uint256 f; f < facetCount; ++f) {
            bytes4[] memory selectors = facets_[f].functionSelectors;
            uint256 n = counts[f];
            assembly {
                mstore(selectors, n)
            }
        }
        assembly {
            mstore(facets_, facetCount)
        }
    }

    /// @inheritdoc IDiamondLoupe
    function facetFunctionSelectors(address _facet)
        external
        view
        override
        returns (bytes4[] memory facetFunctionSelectors_)
    {
        LibDiamond.DiamondStorage storage ds = LibDiamond.diamondStorage();
        uint256 selectorCount = ds.selectors.length;
        facetFunctionSelectors_ = new bytes4[](selectorCount);
        uint256 n;
        for (uint256 s; s < selectorCount; ++s) {
            bytes4 selector = ds.selectors[s];
            if (ds.facetAddressAndSelectorPosition[selector].facetAddress == _facet) {
                facetFunctionSelectors_[n++] = selector;
            }
        }
        assembly {
            mstore(facetFunctionSelectors_, n)
        }
    }

    /// @inheritdoc IDiamondLoupe
    function facetAddresses() external view override returns (address[] memory facetAddresses_) {
        LibDiamond.DiamondStorage storage ds = LibDiamond.diamondStorage();
        uint256 selectorCount = ds.selectors.length;
        facetAddresses_ = new address[](selectorCount);
        uint256 n;
        for (uint256 s; s < selectorCount; ++s) {
            address facet = ds.facetAddressAndSelectorPosition[ds.selectors[s]].facetAddress;
            bool seen;
            for (uint256 f; f < n; ++f) {
                if (facetAddresses_[f] == facet) {
                    seen = true;
                    break;
                }
            }
            if (!seen) facetAddresses_[n++] = facet;
        }
        assembly {
            mstore(facetAddresses_, n)
        }
    }

    /// @inheritdoc IDiamondLoupe
    function facetAddress(bytes4 _functionSelector) external view override returns (address facetAddress_) {
        facetAddress_ = LibDiamond.diamondStorage().facetAddressAndSelectorPosition[_functionSelector].facetAddress;
    }

    /// @inheritdoc IERC165
    /// @dev True for IERC165 (0x01ffc9a7), IDiamondCut (0x1f931c1c), IDiamondLoupe (0x48e2b093),
    ///      IERC173 (0x7f5828d0), registered by the Diamond constructor, and never for 0xffffffff.
    function supportsInterface(bytes4 interfaceId) external view override returns (bool) {
        return LibDiamond.diamondStorage().supportedInterfaces[interfaceId];
    }
}
