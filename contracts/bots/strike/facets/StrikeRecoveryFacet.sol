// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {LibDiamond} from "../../../diamond/libraries/LibDiamond.sol";
import {IUniswapV2PairMinimal} from "../../interfaces/IUniswapV2PairMinimal.sol";
import {LibBots} from "../../libraries/LibBots.sol";
import {LibPerformance} from "../../libraries/LibPerformance.sol";
import {LibRiskLimits} from "../../libraries/LibRiskLimits.sol";
import {IPositionHolder} from "../interfaces/IPositionHolder.sol";
import {LibPositions} from "../LibPositions.sol";
import {LibStrike, IAaveOracle} from "../LibStrike.sol";

/// @title StrikeRecoveryFacet
/// @notice Owner-only recovery of a strike child (long or short) whose position cannot be closed by
///         StrikeFacet (audit issue 11, M-2): repay a holder's debt from its bot's capital (a
///         position below health factor 1 can then unwind), write off bad debt (collateral 0, debt
///         left after an Aave liquidation), and sweep the asset dust the short unwind leaves in the
///         diamond into a bot's capital. Shares LibStrike's storage and StrikeFacet's re-entrancy
///         lock (ReentrancyGuardTransient uses one fixed transient slot).
///         Swaps go to the configured Uniswap V2 pair; the output must be at least the Aave oracle
///         value of the input less the bot's `slippageBps` (≤ 1,000 bps, LibStrike), the same floor
///         as StrikeFacet's, so a sandwich takes at most that much.
///         Amounts: token base units; prices: Aave oracle, USD 8 decimals; ratios: bps.
contract StrikeRecoveryFacet is ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    uint256 private constant BPS = 10_000;

    /// @notice Bot `botId` has no open position.
    error PositionNotOpen(uint256 botId);
    /// @notice A zero amount (nothing to repay, spend or sweep).
    error ZeroAmount();
    /// @notice writeOffBadDebt needs collateral 0 and debt > 0; the holder has `collateral`, `debt` (token units).
    error NotBadDebt(uint256 botId, uint256 collateral, uint256 debt);
    /// @notice A swap would return `amountOut`, below `minOut` (oracle value less slippageBps).
    error SlippageExceeded(uint256 amountOut, uint256 minOut);
    /// @notice Fewer tokens arrived than the pair maths promised.
    error UnexpectedOutput(uint256 expected, uint256 received);
    /// @notice setStrikeConfig has not been called.
    error StrikeNotConfigured();

    /// @notice `quoteSpent` of bot `botId`'s capital repaid `debtRepaid` (debt token units) of its
    ///         holder's debt; the quote spent joins the position's margin.
    event DebtRepaidFromCapital(uint256 indexed botId, uint256 quoteSpent, uint256 debtRepaid);
    /// @notice Bot `botId`'s position was closed as bad debt: `marginLost` (quote units) booked as a
    ///         loss, `debtLeft` (debt token units) stays owed by its holder to Aave; the bot is retired.
    event BadDebtWrittenOff(uint256 indexed botId, uint256 marginLost, uint256 debtLeft);
    /// @notice `assetIn` of asset dust held by the diamond was sold for `quoteOut`, credited to bot `botId`.
    event AssetDustSwept(uint256 indexed botId, uint256 assetIn, uint256 quoteOut);
    /// @notice Same event as BotRegistryFacet's: bot `botId`'s status changed.
    event BotStatusChanged(uint256 indexed botId, LibBots.BotStatus status);

    /// @notice Repays up to `amount` (quote base units of bot `botId`'s capital) of its holder's
    ///         debt. Long (debt in quote): repays min(amount, debt) directly. Short (debt in the
    ///         asset): buys the asset on the pair with min(amount, the quote the whole debt costs)
    ///         at the bot's slippage floor and repays it (a unit of asset left over stays as dust,
    ///         see sweepAssetDust). The quote spent leaves the bot's capital and joins the position's
    ///         margin (realised at the close). Owner only; allowed while paused or with the breaker
    ///         tripped, so a position below health factor 1 can be brought back and closed.
    /// @dev Reverts NotContractOwner, PositionNotOpen, ZeroAmount, InsufficientBotCapital,
    ///      SlippageExceeded, StrikeNotConfigured, NoHolder.
    /// @return spent Quote taken from the bot's capital.
    /// @return repaid Debt repaid (debt token units).
    function repayDebt(uint256 botId, uint256 amount) external nonReentrant returns (uint256 spent, uint256 repaid) {
        LibDiamond.enforceIsContractOwner();
        LibStrike.StrikeStorage storage s = LibStrike.strikeStorage();
        LibStrike.Position storage p = s.positions[botId];
        if (!p.open) revert PositionNotOpen(botId);
        LibStrike.Config memory c = _config(s);
        IPositionHolder h = IPositionHolder(address(LibPositions.holderOf(botId)));
        address debtToken = c.isLong ? c.quote : c.asset;
        uint256 debt = h.debtOf(debtToken);
        spent = c.isLong ? _min(amount, debt) : _min(amount, _quoteForAsset(c, debt));
        if (spent == 0) revert ZeroAmount();
        LibBots.Bot storage bot = LibBots.existingBot(botId);
        if (spent > bot.capital) revert LibBots.InsufficientBotCapital(botId, bot.capital, spent);
        // effects
        bot.capital -= spent;
        LibBots.botStorage().totalCapital -= spent;
        p.marginQuote += uint128(spent);
        // interactions
        uint256 pay = c.isLong ? spent : _min(_swap(c, botId, false, spent), debt);
        IERC20(debtToken).forceApprove(address(h), pay);
        repaid = h.repay(debtToken, pay);
        emit DebtRepaidFromCapital(botId, spent, repaid);
    }

    /// @notice Closes bot `botId`'s position as bad debt when its holder has no collateral left and
    ///         still owes debt (an Aave liquidation took all the collateral). The margin at stake is
    ///         booked as the realised loss (performance, risk limits, exposure released); the debt
    ///         stays with the bot's isolated holder (the diamond is not liable for it) and the bot is
    ///         Retired so no later position inherits that debt. Unlocks setStrikeConfig and the
    ///         child's exit. Owner only.
    /// @dev Reverts NotContractOwner, PositionNotOpen, NotBadDebt, StrikeNotConfigured, NoHolder.
    function writeOffBadDebt(uint256 botId) external nonReentrant {
        LibDiamond.enforceIsContractOwner();
        LibStrike.StrikeStorage storage s = LibStrike.strikeStorage();
        LibStrike.Position storage p = s.positions[botId];
        if (!p.open) revert PositionNotOpen(botId);
        LibStrike.Config memory c = _config(s);
        IPositionHolder h = IPositionHolder(address(LibPositions.holderOf(botId)));
        (address collToken, address debtToken) = c.isLong ? (c.asset, c.quote) : (c.quote, c.asset);
        uint256 coll = h.collateralOf(collToken);
        uint256 debt = h.debtOf(debtToken);
        if (coll != 0 || debt == 0) revert NotBadDebt(botId, coll, debt);
        uint256 margin = p.marginQuote;
        p.marginQuote = 0;
        p.open = false;
        LibStrike.unlistOpen(botId);
        uint256 size = s.riskSize[botId]; // left in place: read only while a position is open (LibStrike)
        int256 pnl = -int256(margin);
        LibBots.existingBot(botId).status = LibBots.BotStatus.Retired;
        emit BotStatusChanged(botId, LibBots.BotStatus.Retired);
        emit BadDebtWrittenOff(botId, margin, debt);
        LibPerformance.recordTrade(botId, pnl);
        LibRiskLimits.recordClose(botId, bytes32(uint256(uint160(c.pair))), size, pnl); // may call the master
    }

    /// @notice Sells all the asset the diamond holds (the short unwind's rounding dust, leftovers of
    ///         repayDebt, donations) on the pair at bot `botId`'s slippage floor and credits the
    ///         quote to that bot's capital. Positions' collateral lives in their holders, never in
    ///         the diamond, so this touches no position. Owner only.
    /// @dev Reverts NotContractOwner, UnknownBot, ZeroAmount (no dust, or dust worth 0 quote units),
    ///      SlippageExceeded, StrikeNotConfigured.
    /// @return quoteOut Quote credited to the bot.
    function sweepAssetDust(uint256 botId) external nonReentrant returns (uint256 quoteOut) {
        LibDiamond.enforceIsContractOwner();
        LibBots.Bot storage bot = LibBots.existingBot(botId);
        LibStrike.Config memory c = _config(LibStrike.strikeStorage());
        uint256 dust = IERC20(c.asset).balanceOf(address(this));
        if (dust == 0) revert ZeroAmount();
        quoteOut = _swap(c, botId, true, dust);
        if (quoteOut == 0) revert ZeroAmount();
        bot.capital += quoteOut;
        LibBots.botStorage().totalCapital += quoteOut;
        emit AssetDustSwept(botId, dust, quoteOut);
    }

    // ----------------------------------------------------------------------------------------
    // internals
    // ----------------------------------------------------------------------------------------

    function _config(LibStrike.StrikeStorage storage s) private view returns (LibStrike.Config memory c) {
        c = s.config;
        if (c.pool == address(0)) revert StrikeNotConfigured();
    }

    /// @dev Swaps `amountIn` (asset if `sellAsset`, else quote) on the pair to this diamond; reverts
    ///      SlippageExceeded unless the output is ≥ the oracle value of the input less bot `botId`'s
    ///      slippageBps. Output per UniswapV2Library.getAmountOut (0.3 % fee).
    function _swap(LibStrike.Config memory c, uint256 botId, bool sellAsset, uint256 amountIn)
        private
        returns (uint256 out)
    {
        (uint256 rQ, uint256 rA, bool quoteIs0) = _reserves(c);
        (uint256 rIn, uint256 rOut) = sellAsset ? (rA, rQ) : (rQ, rA);
        uint256 inFee = amountIn * 997;
        out = inFee * rOut / (rIn * 1000 + inFee);
        uint256 minOut = _oracleValue(c, sellAsset, amountIn) * (BPS - LibStrike.rulesOf(botId).slippageBps) / BPS;
        if (out < minOut) revert SlippageExceeded(out, minOut);
        if (out == 0) return 0;
        (address tokenIn, address tokenOut) = sellAsset ? (c.asset, c.quote) : (c.quote, c.asset);
        uint256 before = IERC20(tokenOut).balanceOf(address(this));
        IERC20(tokenIn).safeTransfer(c.pair, amountIn);
        bool outIs0 = sellAsset == quoteIs0;
        IUniswapV2PairMinimal(c.pair).swap(outIs0 ? out : 0, outIs0 ? 0 : out, address(this), "");
        uint256 received = IERC20(tokenOut).balanceOf(address(this)) - before;
        if (received < out) revert UnexpectedOutput(out, received);
    }

    /// @dev Oracle value of `amountIn` in the other token (quote if `ofAsset`, else asset), base units.
    function _oracleValue(LibStrike.Config memory c, bool ofAsset, uint256 amountIn) private view returns (uint256) {
        LibStrike.StrikeStorage storage s = LibStrike.strikeStorage();
        uint256 pA = IAaveOracle(c.oracle).getAssetPrice(c.asset);
        uint256 pQ = IAaveOracle(c.oracle).getAssetPrice(c.quote);
        (uint256 unitA, uint256 unitQ) = (10 ** s.assetDecimals, 10 ** s.quoteDecimals);
        return ofAsset ? amountIn * pA * unitQ / (pQ * unitA) : amountIn * pQ * unitA / (pA * unitQ);
    }

    /// @dev UniswapV2Library.getAmountIn for `assetOut` of the asset, paid in quote (all the pair's
    ///      asset reserve if asked for more).
    function _quoteForAsset(LibStrike.Config memory c, uint256 assetOut) private view returns (uint256) {
        if (assetOut == 0) return 0;
        (uint256 rQ, uint256 rA,) = _reserves(c);
        if (assetOut >= rA) return type(uint256).max;
        return rQ * assetOut * 1000 / ((rA - assetOut) * 997) + 1;
    }

    /// @dev (quote reserve, asset reserve, quote is token0) of the pair.
    function _reserves(LibStrike.Config memory c) private view returns (uint256 rQ, uint256 rA, bool quoteIs0) {
        (uint112 r0, uint112 r1,) = IUniswapV2PairMinimal(c.pair).getReserves();
        quoteIs0 = IUniswapV2PairMinimal(c.pair).token0() == c.quote;
        (rQ, rA) = quoteIs0 ? (uint256(r0), uint256(r1)) : (uint256(r1), uint256(r0));
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }
}
