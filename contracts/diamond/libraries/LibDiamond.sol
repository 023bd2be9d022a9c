// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IDiamond} from "../interfaces/IDiamond.sol";
import {IDiamondCut} from "../interfaces/IDiamondCut.sol";
import {IDiamondLoupe} from "../interfaces/IDiamondLoupe.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {IERC173} from "../interfaces/IERC173.sol";

/// @title LibDiamond
/// @notice Cut logic, selector routing and ownership of an EIP-2535 diamond, after mudgen's
///         diamond-1 reference: one library for the cut, one custom error per rule. Storage is
///         namespaced per ERC-7201 under "macrostrike.diamond".
library LibDiamond {
    // keccak256(abi.encode(uint256(keccak256("macrostrike.diamond")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant STORAGE_SLOT = 0xf12b2f66fbd6836f9f8e3777968d16f3597c7cde1431565fd9f1de653040c800;

    /// @notice OwnershipFacet.pendingOwner() and acceptOwnership() (not in IERC173).
    bytes4 internal constant PENDING_OWNER_SELECTOR = bytes4(keccak256("pendingOwner()"));
    bytes4 internal constant ACCEPT_OWNERSHIP_SELECTOR = bytes4(keccak256("acceptOwnership()"));
    /// @notice Diamond.FunctionDoesNotExist(bytes4): what a diamond (not a facet) answers for an unrouted selector.
    bytes4 internal constant FUNCTION_DOES_NOT_EXIST_SELECTOR = bytes4(keccak256("FunctionDoesNotExist(bytes4)"));

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
    /// @notice Remove of an EIP-2535 loupe function (facets, facetFunctionSelectors, facetAddresses,
    ///         facetAddress) or of ERC-165 supportsInterface: the diamond could no longer be inspected.
    error CannotRemoveLoupeFunction(bytes4 selector);
    /// @notice Remove of an ERC-173 ownership function (owner, transferOwnership, pendingOwner,
    ///         acceptOwnership): the diamond could no longer show or hand over its owner.
    error CannotRemoveOwnershipFunction(bytes4 selector);
    /// @notice Replace of a protected function (diamondCut, a loupe or an ownership function) with
    ///         a facet that does not answer it (see replaceFunctions for the probe).
    error CannotReplaceProtectedFunctionWithFacetWithoutIt(bytes4 selector, address facet);
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

    /// @notice Replace routes `selectors` to `facet`. Protected selectors (diamondCut, the loupe,
    ///         ERC-165 and ERC-173 functions: the ones removeFunctions refuses to remove, and the
    ///         Python upgrade planner too) may only go to a facet that answers them, checked by a
    ///         probe: a static call of the selector on `facet` itself (its own, empty storage; calldata:
    ///         the selector and a zero word, or for diamondCut an empty cut) must either return at
    ///         least one 32-byte word (the views: facets, facetAddress, owner, …) or revert with a
    ///         custom error (at least 4 bytes of revert data — e.g. NotContractOwner from diamondCut
    ///         and transferOwnership, NotPendingOwner from acceptOwnership: the function ran and
    ///         refused a caller that is not the facet's owner). A Solidity facet without the function
    ///         (and without a fallback) reverts with no data, and a diamond without it with
    ///         FunctionDoesNotExist: both are refused (CannotReplaceProtectedFunctionWithFacetWithoutIt).
    /// @dev The probe guards against mistakes (cutting the wrong facet), not against an owner bent on
    ///      breaking the diamond: a fallback reverting with data passes it, and `_init` can rewrite
    ///      any storage anyway.
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
            if (isProtected(selector) && !answers(facet, selector)) {
                revert CannotReplaceProtectedFunctionWithFacetWithoutIt(selector, facet);
            }
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
            if (isLoupe(selector)) revert CannotRemoveLoupeFunction(selector);
            if (isOwnership(selector)) revert CannotRemoveOwnershipFunction(selector);
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

    /// @notice EIP-2535 loupe functions and ERC-165 supportsInterface.
    function isLoupe(bytes4 selector) internal pure returns (bool) {
        return selector == IDiamondLoupe.facets.selector || selector == IDiamondLoupe.facetFunctionSelectors.selector
            || selector == IDiamondLoupe.facetAddresses.selector || selector == IDiamondLoupe.facetAddress.selector
            || selector == IERC165.supportsInterface.selector;
    }

    /// @notice ERC-173 owner/transferOwnership and the two-step transfer's pendingOwner/acceptOwnership.
    function isOwnership(bytes4 selector) internal pure returns (bool) {
        return selector == IERC173.owner.selector || selector == IERC173.transferOwnership.selector
            || selector == PENDING_OWNER_SELECTOR || selector == ACCEPT_OWNERSHIP_SELECTOR;
    }

    /// @notice diamondCut, the loupe and the ownership functions: never removed, replaced only by a
    ///         facet that answers them.
    function isProtected(bytes4 selector) internal pure returns (bool) {
        return selector == IDiamondCut.diamondCut.selector || isLoupe(selector) || isOwnership(selector);
    }

    /// @notice The probe of replaceFunctions: whether `facet`, called directly, answers `selector`.
    function answers(address facet, bytes4 selector) internal view returns (bool) {
        bytes memory data = selector == IDiamondCut.diamondCut.selector
            ? abi.encodeCall(IDiamondCut.diamondCut, (new IDiamond.FacetCut[](0), address(0), ""))
            : abi.encodePacked(selector, bytes32(0));
        (bool ok, bytes memory out) = facet.staticcall(data);
        if (ok) return out.length >= 32;
        return out.length >= 4 && bytes4(out) != FUNCTION_DOES_NOT_EXIST_SELECTOR;
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
