// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {LibDiamond} from "../../diamond/libraries/LibDiamond.sol";

/// @title LibBots
/// @notice Bot registry, keepers and capital of a child diamond (ERC-7201 "macrostrike.bots").
///         Capital is in quote-token base units (USDC, 6 decimals).
library LibBots {
    // keccak256(abi.encode(uint256(keccak256("macrostrike.bots")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant STORAGE_SLOT = 0xc8152845d16c7d89dd322f517b0dca3d284968ebd45819d463d994b3de56dd00;

    /// @notice Lifecycle of a bot: only Active bots trade.
    enum BotStatus {
        None,
        Active,
        Paused,
        Retired
    }

    /// @notice One bot: status, capital (quote base units), strategy id and ABI-encoded strategy params.
    struct Bot {
        BotStatus status;
        uint256 capital;
        bytes32 strategy;
        bytes params;
    }

    /// @custom:storage-location erc7201:macrostrike.bots
    struct BotStorage {
        address master;
        IERC20 quoteToken;
        bool paused;
        /// the master's circuit breaker as the master last pushed it (RiskFacet: trip, reset,
        /// registration, pushBreaker); shares the slot of quoteToken and paused, so a trade's
        /// opening check reads one slot and calls nobody. Added in the free bytes of that slot
        /// (no field moved): zero, i.e. not tripped, until the master's first push.
        bool masterBreakerTripped;
        mapping(address => bool) keepers;
        uint256 botCount;
        mapping(uint256 => Bot) bots;
        /// sum of every bot's capital: the diamond's quote balance must cover it
        uint256 totalCapital;
    }

    /// @notice The caller is neither the master diamond nor the owner.
    error NotMasterOrOwner(address sender);
    /// @notice The caller is neither a registered keeper nor the owner.
    error NotKeeper(address sender);
    /// @notice The child is paused: no bot may trade.
    error ChildIsPaused();
    /// @notice The caller is not this child's master diamond.
    error NotMaster(address sender);
    /// @notice No bot has this id.
    error UnknownBot(uint256 botId);
    /// @notice The bot has less capital than requested (quote base units).
    error InsufficientBotCapital(uint256 botId, uint256 capital, uint256 requested);
    /// @notice The bot is not Active.
    error BotNotActive(uint256 botId, BotStatus status);
    /// @notice exitAll refused: more bots than one transaction walks.
    error TooManyBotsToExit(uint256 botCount, uint256 maxBots);

    /// @notice A bot's capital left it in an exitAll (quote base units).
    event BotCapitalExited(uint256 indexed botId, uint256 amount);

    /// @notice Most bots an exitAll walks in one transaction (bounds the loop), and so the most bots a
    ///         child may register (BotRegistryFacet.registerBots refuses beyond it). 1,000: the
    ///         keeper benchmark's child (bench/README.md: 100 + 900 bots); zeroing 1,000 funded bots
    ///         costs about 5.4M gas (measured by tests/test_system_contracts.py), well within a 30M block.
    uint256 internal constant MAX_EXIT_BOTS = 1_000;

    function botStorage() internal pure returns (BotStorage storage bs) {
        bytes32 slot = STORAGE_SLOT;
        assembly {
            bs.slot := slot
        }
    }

    function enforceMasterOrOwner() internal view {
        if (msg.sender != botStorage().master && msg.sender != LibDiamond.contractOwner()) {
            revert NotMasterOrOwner(msg.sender);
        }
    }

    function enforceMaster() internal view {
        if (msg.sender != botStorage().master) revert NotMaster(msg.sender);
    }

    function enforceKeeperOrOwner() internal view {
        if (!botStorage().keepers[msg.sender] && msg.sender != LibDiamond.contractOwner()) {
            revert NotKeeper(msg.sender);
        }
    }

    function enforceNotPaused() internal view {
        if (botStorage().paused) revert ChildIsPaused();
    }

    /// @notice Returns the bot, reverting UnknownBot for an id never registered.
    function existingBot(uint256 botId) internal view returns (Bot storage bot) {
        bot = botStorage().bots[botId];
        if (bot.status == BotStatus.None) revert UnknownBot(botId);
    }

    /// @notice Returns the bot, reverting unless it is Active.
    function enforceActiveBot(uint256 botId) internal view returns (Bot storage bot) {
        bot = existingBot(botId);
        if (bot.status != BotStatus.Active) revert BotNotActive(botId, bot.status);
    }

    /// @notice Sets every bot's capital and the child's total capital to 0 (one BotCapitalExited
    ///         per bot that had capital): the bookkeeping half of every child's exitAll, whose
    ///         tokens then go to the master. Reverts TooManyBotsToExit above MAX_EXIT_BOTS.
    function zeroAllCapital() internal {
        BotStorage storage bs = botStorage();
        uint256 count = bs.botCount;
        if (count > MAX_EXIT_BOTS) revert TooManyBotsToExit(count, MAX_EXIT_BOTS);
        for (uint256 id = 1; id <= count; ++id) {
            Bot storage b = bs.bots[id];
            uint256 capital = b.capital;
            if (capital != 0) {
                b.capital = 0;
                emit BotCapitalExited(id, capital);
            }
        }
        bs.totalCapital = 0;
    }
}

