// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {LibBots} from "../libraries/LibBots.sol";
import {LibEquity} from "../libraries/LibEquity.sol";
import {LibRiskLimits} from "../libraries/LibRiskLimits.sol";
import {LibStrike} from "../strike/LibStrike.sol";

/// @title ChildCoordinationFacet
/// @notice Calls a child accepts from its master (or owner): fund a bot, recall capital, pause.
///         Amounts are quote-token base units (USDC, 6 decimals).
contract ChildCoordinationFacet {
    using SafeERC20 for IERC20;

    /// @notice The quote tokens not yet assigned to bots do not cover the funding.
    error InsufficientUnallocatedBalance(uint256 available, uint256 required);
    /// @notice Amount is zero.
    error ZeroAmount();

    event BotFunded(uint256 indexed botId, uint256 amount, uint256 newCapital);
    event CapitalRecalled(uint256 indexed botId, uint256 amount, uint256 newCapital);
    event ChildPaused(address by);
    event ChildUnpaused(address by);

    /// @notice Assigns `amount` of quote tokens already held by this diamond to `botId`. Master or owner.
    /// @dev The master transfers the tokens first, then calls this: balance >= totalCapital + amount.
    function fundBot(uint256 botId, uint256 amount) external {
        LibBots.enforceMasterOrOwner();
        if (amount == 0) revert ZeroAmount();
        LibBots.Bot storage bot = LibBots.existingBot(botId);
        LibBots.BotStorage storage bs = LibBots.botStorage();
        uint256 available = bs.quoteToken.balanceOf(address(this)) - bs.totalCapital;
        if (available < amount) revert InsufficientUnallocatedBalance(available, amount);
        bot.capital += amount;
        bs.totalCapital += amount;
        emit BotFunded(botId, amount, bot.capital);
    }

    /// @notice Takes `amount` from `botId`'s capital and sends it to the master. Master or owner.
    function recallCapital(uint256 botId, uint256 amount) external {
        LibBots.enforceMasterOrOwner();
        if (amount == 0) revert ZeroAmount();
        LibBots.Bot storage bot = LibBots.existingBot(botId);
        if (bot.capital < amount) revert LibBots.InsufficientBotCapital(botId, bot.capital, amount);
        LibBots.BotStorage storage bs = LibBots.botStorage();
        bot.capital -= amount;
        bs.totalCapital -= amount;
        emit CapitalRecalled(botId, amount, bot.capital);
        bs.quoteToken.safeTransfer(bs.master, amount);
    }

    /// @notice Stops every bot of this child from trading. Master or owner.
    function pause() external {
        LibBots.enforceMasterOrOwner();
        LibBots.botStorage().paused = true;
        emit ChildPaused(msg.sender);
    }

    /// @notice Lets the bots trade again. Master or owner.
    function unpause() external {
        LibBots.enforceMasterOrOwner();
        LibBots.botStorage().paused = false;
        emit ChildUnpaused(msg.sender);
    }

    function master() external view returns (address) {
        return LibBots.botStorage().master;
    }

    function quoteToken() external view returns (address) {
        return address(LibBots.botStorage().quoteToken);
    }

    function paused() external view returns (bool) {
        return LibBots.botStorage().paused;
    }

    /// @notice Sum of all bots' capital (quote base units).
    function totalCapital() external view returns (uint256) {
        return LibBots.botStorage().totalCapital;
    }

    /// @notice Bot capital plus the marked value of open positions (LibEquity), quote base units.
    ///         The master sums it into total equity for its drawdown and daily-loss checks.
    function equity() external view returns (uint256) {
        return LibEquity.equity();
    }

    /// @notice Quote base units of `botId`'s capital at stake in its open position: the position's
    ///         margin at cost (LibStrike.Position.marginQuote, reduced by the share each decrease or
    ///         deleverage releases). 0 for a flat bot, an unknown id, and every bot of an AMM child
    ///         (its strike storage is empty: arbitrage holds nothing across transactions). The master
    ///         adds it to the bot's capital when it clamps the bot's principal (LibAllocation).
    function capitalAtRisk(uint256 botId) external view returns (uint256) {
        return LibStrike.strikeStorage().positions[botId].marginQuote;
    }

    /// @notice True when bots may open positions: the child is not paused and the master's circuit
    ///         breaker is not tripped (as the master last pushed it). Reducing and closing stay
    ///         allowed either way.
    function openingAllowed() external view returns (bool) {
        return LibRiskLimits.openingAllowed();
    }

    /// @notice The master's circuit breaker state, pushed by the master when it trips or resets,
    ///         when it registers this child and on its pushBreaker(). Master only (not the owner:
    ///         the breaker is the master's decision); reverts LibBots.NotMaster. Emits
    ///         LibRiskLimits.MasterBreakerSet.
    function setMasterBreaker(bool tripped) external {
        LibBots.enforceMaster();
        LibRiskLimits.setMasterBreaker(tripped);
    }

    /// @notice The master's breaker as last pushed to this child (true: openings refused).
    function masterBreakerTripped() external view returns (bool) {
        return LibBots.botStorage().masterBreakerTripped;
    }
}
