// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {LibDiamond} from "../diamond/libraries/LibDiamond.sol";
import {LibBots} from "../bots/libraries/LibBots.sol";
import {LibPerformance} from "../bots/libraries/LibPerformance.sol";
import {LibRiskLimits} from "../bots/libraries/LibRiskLimits.sol";

/// @title RiskHarnessFacet
/// @notice TEST ONLY (tests/test_risk.py, tests/test_rebalance_performance.py; never in a deployment's facet lists). Stands in for a
///         strike facet's bookkeeping around a position, calling LibRiskLimits exactly as the strike
///         facet does: open (breaker + limits checked, trade counted), close with a realised PnL in
///         quote base units that moves real tokens: a loss leaves the child for `counterparty`, a
///         gain must already be in the child (minted to it beforehand) and is credited to the bot.
contract RiskHarnessFacet {
    using SafeERC20 for IERC20;

    /// @notice The child holds fewer unassigned quote tokens than the gain.
    error GainNotInChild(uint256 unassigned, uint256 gain);

    function harnessOpen(uint256 botId, bytes32 pairKey, uint256 size) external {
        LibDiamond.enforceIsContractOwner();
        LibRiskLimits.enforceOpeningAllowed();
        LibBots.enforceActiveBot(botId);
        LibRiskLimits.recordOpen(botId, pairKey, size);
    }

    function harnessCheckOpen(uint256 botId, bytes32 pairKey, uint256 size) external view {
        LibRiskLimits.checkOpen(botId, pairKey, size);
    }

    function harnessTrade(uint256 botId) external {
        LibDiamond.enforceIsContractOwner();
        LibRiskLimits.checkTrade(botId);
    }

    function harnessClose(uint256 botId, bytes32 pairKey, uint256 size, int256 pnl, address counterparty) external {
        LibDiamond.enforceIsContractOwner();
        _settle(botId, pnl, counterparty);
        LibRiskLimits.recordClose(botId, pairKey, size, pnl);
    }

    /// @notice A closed trade with realised `pnl` and no position (as an arbitrage books it):
    ///         tokens and LibPerformance only, no risk limits (tests/test_rebalance_performance.py).
    function harnessSettle(uint256 botId, int256 pnl, address counterparty) external {
        LibDiamond.enforceIsContractOwner();
        _settle(botId, pnl, counterparty);
    }

    /// @dev Moves real tokens for `pnl`: a loss leaves the child for `counterparty`, a gain must
    ///      already be in the child and is credited to the bot; then LibPerformance.recordTrade.
    function _settle(uint256 botId, int256 pnl, address counterparty) private {
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
            if (unassigned < uint256(pnl)) revert GainNotInChild(unassigned, uint256(pnl));
            bot.capital += uint256(pnl);
            bs.totalCapital += uint256(pnl);
        }
        LibPerformance.recordTrade(botId, pnl);
    }
}
