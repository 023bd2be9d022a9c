// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Create2} from "@openzeppelin/contracts/utils/Create2.sol";
import {PositionHolder} from "./PositionHolder.sol";

/// @title LibPositions
/// @notice The Aave V3 pool of a strike child diamond and the PositionHolder of each of its bots
///         (ERC-7201 "macrostrike.strike.positions"). Holders are created with CREATE2 (salt = bot
///         id), owned by the diamond, so their addresses are known before they exist.
library LibPositions {
    // keccak256(abi.encode(uint256(keccak256("macrostrike.strike.positions")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant STORAGE_SLOT = 0x2362b9810d56e91dca12630f140a502d50ebd37682d7d08389bdefea37826a00;

    /// @custom:storage-location erc7201:macrostrike.strike.positions
    struct PositionStorage {
        /// Aave V3 Pool proxy every holder of this diamond uses; set once
        address pool;
        /// bot id -> its PositionHolder (zero until created)
        mapping(uint256 => address) holders;
    }

    /// @notice The Aave pool is not set yet (setStrikePool first).
    error StrikePoolNotSet();
    /// @notice The Aave pool is set already; holders are bound to it for life.
    error StrikePoolAlreadySet(address pool);
    /// @notice The pool address is zero.
    error ZeroPool();
    /// @notice The bot has a PositionHolder already.
    error HolderExists(uint256 botId, address holder);
    /// @notice The bot has no PositionHolder yet.
    error NoHolder(uint256 botId);

    /// @notice The diamond's Aave V3 pool was set.
    event StrikePoolSet(address indexed pool);
    /// @notice Bot `botId`'s PositionHolder was created at `holder`.
    event PositionHolderDeployed(uint256 indexed botId, address indexed holder);

    function positionStorage() internal pure returns (PositionStorage storage ps) {
        bytes32 slot = STORAGE_SLOT;
        assembly {
            ps.slot := slot
        }
    }

    /// @notice Sets the Aave pool once. Reverts ZeroPool, StrikePoolAlreadySet.
    function setPool(address pool) internal {
        if (pool == address(0)) revert ZeroPool();
        PositionStorage storage ps = positionStorage();
        if (ps.pool != address(0)) revert StrikePoolAlreadySet(ps.pool);
        ps.pool = pool;
        emit StrikePoolSet(pool);
    }

    /// @notice The pool, reverting StrikePoolNotSet if unset.
    function pool() internal view returns (address p) {
        p = positionStorage().pool;
        if (p == address(0)) revert StrikePoolNotSet();
    }

    /// @notice Where bot `botId`'s holder is (or will be) deployed by this diamond.
    function predictHolder(uint256 botId) internal view returns (address) {
        bytes32 initCodeHash =
            keccak256(abi.encodePacked(type(PositionHolder).creationCode, abi.encode(address(this), pool())));
        return Create2.computeAddress(bytes32(botId), initCodeHash);
    }

    /// @notice Creates bot `botId`'s holder (owner: this diamond). Reverts StrikePoolNotSet, HolderExists.
    function createHolder(uint256 botId) internal returns (address holder) {
        PositionStorage storage ps = positionStorage();
        address p = pool();
        address existing = ps.holders[botId];
        if (existing != address(0)) revert HolderExists(botId, existing);
        holder = predictHolder(botId);
        ps.holders[botId] = holder;
        emit PositionHolderDeployed(botId, holder);
        // effects above, the creation last; CREATE2 lands exactly at the predicted address
        new PositionHolder{salt: bytes32(botId)}(address(this), p);
    }

    /// @notice Bot `botId`'s holder, reverting NoHolder if it has none.
    function holderOf(uint256 botId) internal view returns (PositionHolder holder) {
        address h = positionStorage().holders[botId];
        if (h == address(0)) revert NoHolder(botId);
        return PositionHolder(h);
    }
}
