// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {LibDiamond} from "../diamond/libraries/LibDiamond.sol";
import {LibBots} from "../bots/libraries/LibBots.sol";
import {LibPerformance} from "../bots/libraries/LibPerformance.sol";

/// @title PerformanceHarnessFacet
/// @notice TEST ONLY (tests/test_rebalance_performance.py; never in a deployment's facet lists).
///         Books one closed trade of a bot with realised `pnl` (quote base units) exactly as the
///         trading facets do (LibPerformance.recordTrade), moving real tokens: a loss leaves the
///         child for `counterparty`, a gain must already be in the child (minted to it beforehand)
///         and is credited to the bot. No risk limits are involved.
contract PerformanceHarnessFacet {
    using SafeERC20 for IERC20;

    /// @notice The child holds fewer unassigned quote tokens than the gain.
    error PerfGainNotInChild(uint256 unassigned, uint256 gain);

    function perfHarnessTrade(uint256 botId, int256 pnl, address counterparty) external {
        LibDiamond.enforceIsContractOwner();
        LibBots.BotStorage storage bs = LibBots.botStorage();
        LibBots.Bot storage bot = LibBots.existingBot(botId);
        if (pnl < 0) {
            uint256 loss = uint256(-pnl);
            if (loss > bot.capital) revert LibBots.InsufficientBotCapital(botId, bot.capital, loss);
            bot.capital -= loss;
            bs.totalCapital -= loss;
            bs.quoteToken.safeTransfer(counterparty, loss);
        } else if (pnl > 0) {
            uint256 unassigned = bs.quoteToken.balanceOf(address(this)) - bs.totalCapital;
            if (unassigned < uint256(pnl)) revert PerfGainNotInChild(unassigned, uint256(pnl));
            bot.capital += uint256(pnl);
            bs.totalCapital += uint256(pnl);
        }
        LibPerformance.recordTrade(botId, pnl);
    }
}
