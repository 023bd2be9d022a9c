// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LibBots} from "./LibBots.sol";
import {LibPerformance} from "./LibPerformance.sol";
import {LibRiskLimits} from "./LibRiskLimits.sol";

/// @title LibArbitrage
/// @notice The two Uniswap V2 pairs the AMM diamond arbitrages between (ERC-7201 "macrostrike.arbitrage"),
///         and the checks and bookkeeping every arbitrage entry point shares (ArbitrageFacet, VenueArbitrageFacet).
library LibArbitrage {
    error ZeroAmount();

    // keccak256(abi.encode(uint256(keccak256("macrostrike.arbitrage")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant STORAGE_SLOT = 0xfc78b526acde47c208c9720780dd07c8aadad9afc13cf75c4859bf9c9e944d00;

    /// @custom:storage-location erc7201:macrostrike.arbitrage
    struct ArbitrageStorage {
        address pairA;
        address pairB;
        address baseToken;
        /// pairA and its token order (packRoute), written by setArbitragePairs; 0 on a diamond
        /// whose pairs were set before this field existed (trades then ask the pairs for token0)
        uint256 routeA;
        /// pairB and its token order (packRoute), as routeA
        uint256 routeB;
    }

    /// @notice Set in a route when the quote token is the pair's token0.
    uint256 internal constant QUOTE_IS_TOKEN0 = 1 << 160;
    /// @notice Set in every route written by setArbitragePairs (a route is never 0 once written).
    uint256 internal constant ROUTE_SET = 1 << 161;

    /// @notice `pair` in the low 160 bits, QUOTE_IS_TOKEN0 when the quote token is its token0, ROUTE_SET.
    function packRoute(address pair, bool quoteIsToken0) internal pure returns (uint256) {
        return uint256(uint160(pair)) | (quoteIsToken0 ? QUOTE_IS_TOKEN0 : 0) | ROUTE_SET;
    }

    /// @notice (pair, quote is its token0) of a route written by packRoute.
    function unpackRoute(uint256 route) internal pure returns (address pair, bool quoteIsToken0) {
        return (address(uint160(route)), route & QUOTE_IS_TOKEN0 != 0);
    }

    function arbitrageStorage() internal pure returns (ArbitrageStorage storage s) {
        bytes32 slot = STORAGE_SLOT;
        assembly {
            s.slot := slot
        }
    }

    /// @notice The checks before an arbitrage of `amountIn` (quote base units) for `botId`: caller is a
    ///         keeper or the owner, openings allowed (not paused, master breaker not tripped), the bot is
    ///         active, amountIn > 0, the bot's risk limits (loss-streak cooldown, daily trade limit,
    ///         counting this trade) and amountIn <= the bot's capital.
    /// @dev Reverts NotKeeper, the opening-allowed errors, the bot-status errors, ZeroAmount, the risk-limit
    ///      errors, LibBots.InsufficientBotCapital.
    /// @return bot The bot's storage record.
    function beginTrade(uint256 botId, uint256 amountIn) internal returns (LibBots.Bot storage bot) {
        LibBots.enforceKeeperOrOwner();
        LibRiskLimits.enforceOpeningAllowed(); // not paused, master breaker not tripped
        bot = LibBots.enforceActiveBot(botId);
        if (amountIn == 0) revert ZeroAmount();
        LibRiskLimits.checkTrade(botId); // loss-streak cooldown, daily trade limit (counts this trade)
        if (amountIn > bot.capital) revert LibBots.InsufficientBotCapital(botId, bot.capital, amountIn);
    }

    /// @notice Books an arbitrage's `profit` (quote base units, never a loss: minProfit guards it) on the
    ///         bot and the child: capital, total capital, performance counters, risk result.
    function bookProfit(uint256 botId, LibBots.Bot storage bot, uint256 profit) internal {
        bot.capital += profit;
        LibBots.botStorage().totalCapital += profit;
        LibPerformance.recordTrade(botId, int256(profit));
        LibRiskLimits.recordResult(botId, int256(profit)); // never a loss here: ends any loss streak
    }
}
