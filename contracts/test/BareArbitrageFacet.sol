// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ArbitrageFacet} from "../bots/facets/ArbitrageFacet.sol";
import {LibBots} from "../bots/libraries/LibBots.sol";

/// @title BareArbitrageFacet
/// @notice Measurement only (`make gas`, python/macrostrike/gasreport.py): ArbitrageFacet's
///         executeArbitrage with the keeper check, the pair maths, the swaps, the fee-on-transfer
///         guard and the event, and none of the bookkeeping — no pause or breaker check, no bot
///         status or capital, no risk counters, no performance counters or window, no total
///         capital. Cut in on a snapshot (Replace of executeArbitrage) and reverted after, it
///         measures the floor the bookkeeping is added to. Never part of a deployed system.
contract BareArbitrageFacet is ArbitrageFacet {
    using SafeERC20 for IERC20;

    function executeArbitrage(uint256 botId, bool buyOnA, uint256 amountIn, uint256 minProfit)
        external
        override
        nonReentrant
        returns (uint256 profit)
    {
        LibBots.enforceKeeperOrOwner();
        (Route memory buy, Route memory sell) = _routes(buyOnA);
        (uint256 baseAmount, uint256 amountOut) = _quote(buy, sell, amountIn);
        if (amountOut < amountIn + minProfit) {
            revert InsufficientProfit(int256(amountOut) - int256(amountIn), minProfit);
        }
        profit = amountOut - amountIn;
        emit ArbitrageExecuted(botId, buy.pair, sell.pair, amountIn, baseAmount, amountOut, profit);
        IERC20 quote = LibBots.botStorage().quoteToken;
        uint256 before = quote.balanceOf(address(this));
        quote.safeTransfer(buy.pair, amountIn);
        _swapOut(buy.pair, !buy.quoteIs0, baseAmount, sell.pair);
        _swapOut(sell.pair, sell.quoteIs0, amountOut, address(this));
        uint256 received = quote.balanceOf(address(this)) + amountIn - before;
        if (received < amountOut) revert UnexpectedOutput(amountOut, received);
    }
}
