// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IDiamond} from "../interfaces/IDiamond.sol";
import {IDiamondCut} from "../interfaces/IDiamondCut.sol";
import {IERC173} from "../interfaces/IERC173.sol";

/// @title LibDiamond
/// @notice Cut logic, selector routing and ownership of an EIP-2535 diamond, after mudgen's
///         diamond-1 reference: one library for the cut, one custom error per rule. Storage is
///         namespaced per ERC-7201 under "macrostrike.diamond".
library LibDiamond {
    // keccak256(abi.encode(uint256(keccak256("macrostrike.diamond")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant STORAGE_SLOT = 0xf12b2f66fbd6836f9f8e3777968d16f3597c7cde1431565fd9f1de653040c800;

    /// @notice Where a selector is routed and its index in `selectors`.
    struct FacetAddressAndSelectorPosition {
        address facetAddress;
        uint16 selectorPosition;
    }

    /// @custom:storage-location erc7201:macrostrike.diamond
    struct DiamondStorage {
        /// selector => facet and position in `selectors`
        mapping(bytes4 => FacetAddressAndSelectorPosition) facetAddressAndSelectorPosition;
        /// every routed selector, in insertion order (swap-and-pop on removal)
        bytes4[] selectors;
        /// ERC-165 interface ids this diamond answers true for
        mapping(bytes4 => bool) supportedInterfaces;
        /// ERC-173 owner
        address contractOwner;
        /// owner-to-be in a two-step transfer (address(0) when none)
        address pendingOwner;
    }

    /// @notice The caller is not the owner.
    error NotContractOwner(address sender, address owner);
    /// @notice A FacetCut carries no selectors.
    error NoSelectorsInFacetCut(address facet);
    /// @notice Add with facetAddress == address(0).
    error CannotAddSelectorsToZeroAddress(bytes4[] selectors);
    /// @notice Add or Replace to an address without code.
    error FacetHasNoCode(address facet);
    /// @notice Add of a selector that is already routed (also a duplicate within one cut).
    error CannotAddFunctionToDiamondThatAlreadyExists(bytes4 selector);
    /// @notice Add to the diamond itself after construction (immutable functions come only with the constructor).
    error CannotAddImmutableFunctionAfterConstruction(bytes4 selector);
    /// @notice Replace with facetAddress == address(0).
    error CannotReplaceFunctionsFromFacetWithZeroAddress(bytes4[] selectors);
    /// @notice Replace of a selector that is not routed.
    error CannotReplaceFunctionThatDoesNotExist(bytes4 selector);
    /// @notice Replace of a selector with the facet it is already routed to.
    error CannotReplaceFunctionWithTheSameFunctionFromTheSameFacet(bytes4 selector);
    /// @notice Replace of an immutable function (routed to the diamond itself).
    error CannotReplaceImmutableFunction(bytes4 selector);
    /// @notice Remove of an immutable function (routed to the diamond itself).
    error CannotRemoveImmutableFunction(bytes4 selector);
    /// @notice Remove with a non-zero facet address (EIP-2535 requires address(0)).
    error RemoveFacetAddressMustBeZeroAddress(address facet);
    /// @notice Remove of a selector that is not routed.
    error CannotRemoveFunctionThatDoesNotExist(bytes4 selector);
    /// @notice Remove of diamondCut itself (0x1f931c1c): the diamond would lose its upgrade path.
    error CannotRemoveDiamondCut();
    /// @notice The zero selector 0x00000000 cannot be routed (it collides with empty calldata).
    error CannotCutZeroSelector();
    /// @notice `_init` is address(0) but `_calldata` is not empty.
    error InitAddressZeroButCalldataNotEmpty(bytes data);
    /// @notice `_init` has no code.
    error InitializationContractHasNoCode(address init);
    /// @notice `_init` reverted without revert data (revert data is bubbled when there is some).
    error InitializationFunctionReverted(address init, bytes data);
    /// @notice The action is not Add, Replace or Remove.
    error IncorrectFacetCutAction(uint8 action);

    /// @notice Emitted when a two-step transfer starts.
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);

    function diamondStorage() internal pure returns (DiamondStorage storage ds) {
        bytes32 slot = STORAGE_SLOT;
        assembly {
            ds.slot := slot
        }
    }

    // ---------------------------------------------------------------- ownership (ERC-173)

    function contractOwner() internal view returns (address) {
        return diamondStorage().contractOwner;
    }

    /// @notice Reverts with NotContractOwner unless msg.sender is the owner.
    function enforceIsContractOwner() internal view {
        address owner = diamondStorage().contractOwner;
        if (msg.sender != owner) revert NotContractOwner(msg.sender, owner);
    }

    /// @notice Sets the owner at once and clears any pending transfer; emits OwnershipTransferred.
    function setContractOwner(address newOwner) internal {
        DiamondStorage storage ds = diamondStorage();
        address previous = ds.contractOwner;
        ds.contractOwner = newOwner;
        ds.pendingOwner = address(0);
        emit IERC173.OwnershipTransferred(previous, newOwner);
    }

    // ---------------------------------------------------------------- cuts

    /// @notice Applies `cuts` then delegatecalls `init` with `initCalldata`; emits DiamondCut before init.
    ///         Adding functions routed to the diamond itself is refused (only the constructor may).
    function diamondCut(IDiamond.FacetCut[] memory cuts, address init, bytes memory initCalldata) internal {
        _diamondCut(cuts, init, initCalldata, false);
    }

    /// @notice The constructor's cut: like diamondCut, but may add immutable functions (facet == this).
    function constructorCut(IDiamond.FacetCut[] memory cuts, address init, bytes memory initCalldata) internal {
        _diamondCut(cuts, init, initCalldata, true);
    }

    function _diamondCut(IDiamond.FacetCut[] memory cuts, address init, bytes memory initCalldata, bool constructing)
        private
    {
        for (uint256 i; i < cuts.length; ++i) {
            IDiamond.FacetCut memory cut = cuts[i];
            if (cut.functionSelectors.length == 0) revert NoSelectorsInFacetCut(cut.facetAddress);
            if (cut.action == IDiamond.FacetCutAction.Add) {
                addFunctions(cut.facetAddress, cut.functionSelectors, constructing);
            } else if (cut.action == IDiamond.FacetCutAction.Replace) {
                replaceFunctions(cut.facetAddress, cut.functionSelectors);
            } else if (cut.action == IDiamond.FacetCutAction.Remove) {
                removeFunctions(cut.facetAddress, cut.functionSelectors);
            } else {
                revert IncorrectFacetCutAction(uint8(cut.action));
            }
        }
        emit IDiamond.DiamondCut(cuts, init, initCalldata);
        initializeDiamondCut(init, initCalldata);
    }

    function addFunctions(address facet, bytes4[] memory selectors, bool constructing) internal {
        if (facet == address(0)) revert CannotAddSelectorsToZeroAddress(selectors);
        if (facet == address(this)) {
            if (!constructing) revert CannotAddImmutableFunctionAfterConstruction(selectors[0]);
        } else {
            enforceHasContractCode(facet);
        }
        DiamondStorage storage ds = diamondStorage();
        uint16 position = uint16(ds.selectors.length);
        for (uint256 i; i < selectors.length; ++i) {
            bytes4 selector = selectors[i];
            if (selector == bytes4(0)) revert CannotCutZeroSelector();
            if (ds.facetAddressAndSelectorPosition[selector].facetAddress != address(0)) {
                revert CannotAddFunctionToDiamondThatAlreadyExists(selector);
            }
            ds.facetAddressAndSelectorPosition[selector] = FacetAddressAndSelectorPosition(facet, position);
            ds.selectors.push(selector);
            ++position;
        }
    }

    function replaceFunctions(address facet, bytes4[] memory selectors) internal {
        if (facet == address(0)) revert CannotReplaceFunctionsFromFacetWithZeroAddress(selectors);
        enforceHasContractCode(facet);
        DiamondStorage storage ds = diamondStorage();
        for (uint256 i; i < selectors.length; ++i) {
            bytes4 selector = selectors[i];
            if (selector == bytes4(0)) revert CannotCutZeroSelector();
            address old = ds.facetAddressAndSelectorPosition[selector].facetAddress;
            if (old == address(0)) revert CannotReplaceFunctionThatDoesNotExist(selector);
            if (old == address(this)) revert CannotReplaceImmutableFunction(selector);
            if (old == facet) revert CannotReplaceFunctionWithTheSameFunctionFromTheSameFacet(selector);
            ds.facetAddressAndSelectorPosition[selector].facetAddress = facet;
        }
    }

    function removeFunctions(address facet, bytes4[] memory selectors) internal {
        if (facet != address(0)) revert RemoveFacetAddressMustBeZeroAddress(facet);
        DiamondStorage storage ds = diamondStorage();
        for (uint256 i; i < selectors.length; ++i) {
            bytes4 selector = selectors[i];
            if (selector == bytes4(0)) revert CannotCutZeroSelector();
            if (selector == IDiamondCut.diamondCut.selector) revert CannotRemoveDiamondCut();
            FacetAddressAndSelectorPosition memory old = ds.facetAddressAndSelectorPosition[selector];
            if (old.facetAddress == address(0)) revert CannotRemoveFunctionThatDoesNotExist(selector);
            if (old.facetAddress == address(this)) revert CannotRemoveImmutableFunction(selector);
            // swap-and-pop: move the last selector into the removed one's position
            uint256 last = ds.selectors.length - 1;
            if (old.selectorPosition != last) {
                bytes4 lastSelector = ds.selectors[last];
                ds.selectors[old.selectorPosition] = lastSelector;
                ds.facetAddressAndSelectorPosition[lastSelector].selectorPosition = old.selectorPosition;
            }
            ds.selectors.pop();
            delete ds.facetAddressAndSelectorPosition[selector];
        }
    }

    /// @notice Delegatecalls `init` with `data` (nothing when `init` is address(0)); bubbles revert data.
    function initializeDiamondCut(address init, bytes memory data) internal {
        if (init == address(0)) {
            if (data.length != 0) revert InitAddressZeroButCalldataNotEmpty(data);
            return;
        }
        if (init.code.length == 0) revert InitializationContractHasNoCode(init);
        (bool success, bytes memory error) = init.delegatecall(data);
        if (!success) {
            if (error.length > 0) {
                assembly {
                    revert(add(error, 32), mload(error))
                }
            }
            revert InitializationFunctionReverted(init, data);
        }
    }

    function enforceHasContractCode(address target) internal view {
        if (target.code.length == 0) revert FacetHasNoCode(target);
    }
}
