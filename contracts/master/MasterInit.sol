// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {LibMaster} from "./libraries/LibMaster.sol";

/// @title MasterInit
/// @notice Delegatecalled once by the MasterDiamond constructor: sets the treasury's quote token.
contract MasterInit {
    /// @notice The quote token is the zero address.
    error ZeroAddress();
    /// @notice The master was initialised already.
    error AlreadyInitialized();

    event MasterInitialized(address indexed quoteToken);

    /// @param quoteToken The treasury's stablecoin (USDC, 6 decimals).
    function init(address quoteToken) external {
        if (quoteToken == address(0)) revert ZeroAddress();
        LibMaster.MasterStorage storage ms = LibMaster.masterStorage();
        if (address(ms.quoteToken) != address(0)) revert AlreadyInitialized();
        ms.quoteToken = IERC20(quoteToken);
        emit MasterInitialized(quoteToken);
    }
}
