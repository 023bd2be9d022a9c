// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IDiamondCut} from "../interfaces/IDiamondCut.sol";
import {LibDiamond} from "../libraries/LibDiamond.sol";

/// @title DiamondCutFacet
/// @notice The owner's upgrade entry point (EIP-2535 `diamondCut`). Every rule's custom error is in LibDiamond.
contract DiamondCutFacet is IDiamondCut {
    /// @inheritdoc IDiamondCut
    /// @dev Reverts NotContractOwner for anyone but the owner.
    function diamondCut(FacetCut[] calldata _diamondCut, address _init, bytes calldata _calldata) external override {
        LibDiamond.enforceIsContractOwner();
        LibDiamond.diamondCut(_diamondCut, _init, _calldata);
    }
}
