// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IDiamond} from "./interfaces/IDiamond.sol";
import {IDiamondCut} from "./interfaces/IDiamondCut.sol";
import {IDiamondLoupe} from "./interfaces/IDiamondLoupe.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {IERC173} from "./interfaces/IERC173.sol";
import {LibDiamond} from "./libraries/LibDiamond.sol";

/// @title Diamond
/// @notice EIP-2535 proxy: every call is delegated to the facet its selector is routed to.
///         Subclasses (MasterDiamond, AMMDiamond, …) only name the diamond; facets give behaviour.
contract Diamond {
    /// @notice No facet handles `selector`.
    error FunctionDoesNotExist(bytes4 selector);
    /// @notice Plain ETH was sent: no flow of this system uses ETH (amounts are ERC-20 quote
    ///         tokens; WETH is only ever held as a token), and a diamond has no way to send ETH back.
    error EtherNotAccepted(address sender, uint256 value);

    /// @param owner_ ERC-173 owner (may cut, configure, fund).
    /// @param cuts The initial facets; Add with facetAddress == address(this) makes immutable functions.
    /// @param init Contract delegatecalled after the cut (address(0) for none).
    /// @param initCalldata Calldata for `init`.
    constructor(address owner_, IDiamond.FacetCut[] memory cuts, address init, bytes memory initCalldata) payable {
        LibDiamond.setContractOwner(owner_);
        LibDiamond.DiamondStorage storage ds = LibDiamond.diamondStorage();
        ds.supportedInterfaces[type(IERC165).interfaceId] = true;
        ds.supportedInterfaces[type(IDiamondCut).interfaceId] = true;
        ds.supportedInterfaces[type(IDiamondLoupe).interfaceId] = true;
        ds.supportedInterfaces[type(IERC173).interfaceId] = true;
        LibDiamond.constructorCut(cuts, init, initCalldata);
    }

    /// @notice Delegates to the facet routed for msg.sig; reverts FunctionDoesNotExist otherwise.
    fallback() external payable {
        address facet = LibDiamond.diamondStorage().facetAddressAndSelectorPosition[msg.sig].facetAddress;
        if (facet == address(0)) revert FunctionDoesNotExist(msg.sig);
        assembly {
            calldatacopy(0, 0, calldatasize())
            let result := delegatecall(gas(), facet, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            switch result
            case 0 { revert(0, returndatasize()) }
            default { return(0, returndatasize()) }
        }
    }

    /// @notice Refuses plain ETH transfers (EtherNotAccepted): ETH sent here would be stuck.
    receive() external payable {
        revert EtherNotAccepted(msg.sender, msg.value);
    }
}
