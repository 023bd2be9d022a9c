// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LibDiamond} from "../../diamond/libraries/LibDiamond.sol";
import {LibBots} from "../libraries/LibBots.sol";
import {LibPerformance} from "../libraries/LibPerformance.sol";
import {LibRiskLimits} from "../libraries/LibRiskLimits.sol";

/// @title BotRegistryFacet
/// @notice Registers bots (id, capital, status, strategy) and keepers in a child diamond.
contract BotRegistryFacet {
    /// @notice Most bots one registerBots call may create (keeps the transaction bounded).
    uint256 public constant MAX_BOTS_PER_CALL = 100;

    /// @notice `count` is 0 or above MAX_BOTS_PER_CALL.
    error InvalidBotCount(uint256 count);
    /// @notice Registering `count` more bots would take the child from `botCount` past `maxBots`
    ///         (LibBots.MAX_EXIT_BOTS): exitAll could then never walk every bot.
    error TooManyBotsInChild(uint256 botCount, uint256 count, uint256 maxBots);
    /// @notice Setting a bot to status None is not allowed (None means "never registered").
    error InvalidBotStatus();
    /// @notice The keeper address is zero.
    error ZeroKeeper();

    /// @notice A bot was registered with `strategy` and ABI-encoded `params`.
    event BotRegistered(uint256 indexed botId, bytes32 strategy, bytes params);
    /// @notice A bot's status changed.
    event BotStatusChanged(uint256 indexed botId, LibBots.BotStatus status);
    /// @notice A keeper was allowed or disallowed to trigger bots.
    event KeeperSet(address indexed keeper, bool allowed);

    /// @notice Registers `count` Active bots with ids `firstId .. firstId + count - 1` (ids start at 1). Owner only.
    ///         A child holds at most LibBots.MAX_EXIT_BOTS (1,000) bots in total, the most its exitAll
    ///         walks in one transaction: beyond it TooManyBotsInChild. Each new bot's counters,
    ///         performance window and risk slots are pre-written with a sentinel the views show
    ///         as 0 (LibPerformance.PRE_WRITTEN), so the bot's first trade costs what its next
    ///         ones do: registration pays the three zero -> non-zero SSTOREs instead (~66k per bot).
    /// @param count 1 .. MAX_BOTS_PER_CALL.
    /// @param strategy Strategy id (e.g. "CROSS_DEX_ARB" right-padded to 32 bytes).
    /// @param params ABI-encoded strategy parameters, read by the keeper.
    function registerBots(uint256 count, bytes32 strategy, bytes calldata params) external returns (uint256 firstId) {
        LibDiamond.enforceIsContractOwner();
        if (count == 0 || count > MAX_BOTS_PER_CALL) revert InvalidBotCount(count);
        LibBots.BotStorage storage bs = LibBots.botStorage();
        if (bs.botCount + count > LibBots.MAX_EXIT_BOTS) {
            revert TooManyBotsInChild(bs.botCount, count, LibBots.MAX_EXIT_BOTS);
        }
        firstId = bs.botCount + 1;
        for (uint256 id = firstId; id < firstId + count; ++id) {
            LibBots.Bot storage b = bs.bots[id];
            b.status = LibBots.BotStatus.Active;
            b.strategy = strategy;
            b.params = params;
            // the slots a first trade would take from zero (LibPerformance.PRE_WRITTEN)
            LibPerformance.preWrite(id);
            LibRiskLimits.preWrite(id);
            emit BotRegistered(id, strategy, params);
        }
        LibPerformance.preWriteTotal();
        bs.botCount = firstId + count - 1;
    }

    /// @notice Sets a bot's status (Active, Paused or Retired). Owner only.
    function setBotStatus(uint256 botId, LibBots.BotStatus status) external {
        LibDiamond.enforceIsContractOwner();
        if (status == LibBots.BotStatus.None) revert InvalidBotStatus();
        LibBots.existingBot(botId).status = status;
        emit BotStatusChanged(botId, status);
    }

    /// @notice Allows or disallows `keeper` to trigger bots. Owner only.
    function setKeeper(address keeper, bool allowed) external {
        LibDiamond.enforceIsContractOwner();
        if (keeper == address(0)) revert ZeroKeeper();
        LibBots.botStorage().keepers[keeper] = allowed;
        emit KeeperSet(keeper, allowed);
    }

    /// @notice A bot's status, capital (quote base units), strategy id and params. UnknownBot if never registered.
    function bot(uint256 botId)
        external
        view
        returns (LibBots.BotStatus status, uint256 capital, bytes32 strategy, bytes memory params)
    {
        LibBots.Bot storage b = LibBots.existingBot(botId);
        return (b.status, b.capital, b.strategy, b.params);
    }

    /// @notice One bot as returned by {botsPage}.
    struct BotView {
        uint256 id;
        LibBots.BotStatus status;
        uint256 capital;
        bytes32 strategy;
        bytes params;
    }

    /// @notice Bots `firstId` .. `firstId + count - 1`, clipped to {botCount}, in one call: keepers
    /// check many bots per block with one `eth_call` instead of one per bot. A view for off-chain
    /// callers; the page size is the caller's (keep it to a few hundred under node gas caps).
    function botsPage(uint256 firstId, uint256 count) external view returns (BotView[] memory page) {
        LibBots.BotStorage storage s = LibBots.botStorage();
        if (count == 0 || firstId == 0 || firstId > s.botCount) return page;
        uint256 available = s.botCount - firstId + 1;
        uint256 n = count < available ? count : available;
        page = new BotView[](n);
        for (uint256 i; i < n; ++i) {
            LibBots.Bot storage b = s.bots[firstId + i];
            page[i] = BotView(firstId + i, b.status, b.capital, b.strategy, b.params);
        }
    }

    /// @notice Number of registered bots (the highest id).
    function botCount() external view returns (uint256) {
        return LibBots.botStorage().botCount;
    }

    /// @notice True if `account` may trigger bots.
    function isKeeper(address account) external view returns (bool) {
        return LibBots.botStorage().keepers[account];
    }
}
