// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {LibBots} from "./libraries/LibBots.sol";

/// @title ChildInit
/// @notice Delegatecalled once by a child diamond's constructor: sets its master and quote token.
contract ChildInit {
    /// @notice The master or the quote token is the zero address.
    error ZeroAddress();
    /// @notice The child was initialised already.
    error AlreadyInitialized();

    /// @notice Emitted once, with the child's master and quote token.
    event ChildInitialized(address indexed master, address indexed quoteToken);

    /// @param master The MasterDiamond that coordinates this child.
    /// @param quoteToken The stablecoin bots hold their capital in (USDC, 6 decimals).
    function init(address master, address quoteToken) external {
        if (master == address(0) || quoteToken == address(0)) revert ZeroAddress();
        LibBots.BotStorage storage bs = LibBots.botStorage();
        if (bs.master != address(0)) revert AlreadyInitialized();
        bs.master = master;
        bs.quoteToken = IERC20(quoteToken);
        emit ChildInitialized(master, quoteToken);
    }
}
