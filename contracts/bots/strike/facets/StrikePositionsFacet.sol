// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LibDiamond} from "../../../diamond/libraries/LibDiamond.sol";
import {LibBots} from "../../libraries/LibBots.sol";
import {LibPositions} from "../LibPositions.sol";

/// @title StrikePositionsFacet
/// @notice Shared by the long and short strike diamonds: binds the diamond to an Aave V3 pool and
///         gives each bot its own PositionHolder, so every bot's collateral, debt and health factor
///         are isolated. Trading through the holders is the side-specific strike facets' job.
contract StrikePositionsFacet {
    /// @notice Sets the Aave V3 Pool proxy, once (holders are bound to it). Owner only.
    /// @dev Reverts NotContractOwner, ZeroPool, StrikePoolAlreadySet.
    function setStrikePool(address pool) external {
        LibDiamond.enforceIsContractOwner();
        LibPositions.setPool(pool);
    }

    /// @notice Creates the PositionHolder of Active bot `botId` (CREATE2, salt = botId). Keeper or owner.
    /// @dev Reverts NotKeeper, ChildIsPaused, UnknownBot, BotNotActive, StrikePoolNotSet, HolderExists.
    /// @return holder The new holder's address (equal to predictPositionHolder(botId)).
    function openPositionHolder(uint256 botId) external returns (address holder) {
        LibBots.enforceKeeperOrOwner();
        LibBots.enforceNotPaused();
        LibBots.enforceActiveBot(botId);
        holder = LibPositions.createHolder(botId);
    }

    /// @notice The Aave V3 pool (zero if unset).
    function strikePool() external view returns (address) {
        return LibPositions.positionStorage().pool;
    }

    /// @notice Bot `botId`'s PositionHolder, or the zero address if it has none.
    function positionHolderOf(uint256 botId) external view returns (address) {
        return LibPositions.positionStorage().holders[botId];
    }

    /// @notice Address bot `botId`'s holder has (or will have). Reverts StrikePoolNotSet.
    function predictPositionHolder(uint256 botId) external view returns (address) {
        return LibPositions.predictHolder(botId);
    }
}
