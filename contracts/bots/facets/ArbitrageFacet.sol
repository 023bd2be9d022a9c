// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {LibDiamond} from "../../diamond/libraries/LibDiamond.sol";
import {IUniswapV2PairMinimal} from "../interfaces/IUniswapV2PairMinimal.sol";
import {LibArbitrage} from "../libraries/LibArbitrage.sol";
import {LibBots} from "../libraries/LibBots.sol";
import {LibRiskLimits} from "../libraries/LibRiskLimits.sol";

/// @title ArbitrageFacet
/// @notice Cross-DEX arbitrage between two Uniswap V2 pairs of the same (quote, base) tokens: buy
///         base on one pair with a bot's quote capital, sell it on the other, in one transaction,
///         swapping directly on the pairs (no router). Reverts unless the realised profit covers
///         the caller's `minProfit`. Amounts are token base units (quote: USDC, 6 decimals).
/// @dev Output amounts follow UniswapV2Library.getAmountOut (0.3% fee; Uniswap V2 whitepaper §3.2.1).
contract ArbitrageFacet is ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Most bots exitAll walks in one call (the system specification has 50 AMM bots).
    uint256 public constant MAX_EXIT_BOTS = LibBots.MAX_EXIT_BOTS;

    /// @notice `pair` does not hold exactly the quote token and `baseToken`.
    error InvalidPair(address pair);
    /// @notice Both pairs are the same, or the base token is the quote token.
    error InvalidArbitrageConfig();
    /// @notice setArbitragePairs has not been called.
    error PairsNotSet();
    /// @notice amountIn is zero.
    /// @notice A pair has an empty reserve.
    error InsufficientLiquidity(address pair);
    /// @notice The round trip returns `realised` (may be negative) below `minProfit`.
    error InsufficientProfit(int256 realised, uint256 minProfit);
    /// @notice Fewer quote tokens arrived than the pair maths promised (e.g. a fee-on-transfer token).
    error UnexpectedOutput(uint256 expected, uint256 received);

    /// @notice exitAll sent `amount` to the master.
    event ExitedAll(address indexed by, uint256 amount);
    event ArbitragePairsSet(address pairA, address pairB, address baseToken);
    event ArbitrageExecuted(
        uint256 indexed botId,
        address buyPair,
        address sellPair,
        uint256 amountIn,
        uint256 baseAmount,
        uint256 amountOut,
        uint256 profit
    );

    /// @dev A pair of the arbitrage and whether the quote token is its token0.
    struct Route {
        address pair;
        bool quoteIs0;
    }

    /// @notice Sets the two pairs and the base token (and keeps each pair's token order). Owner only.
    function setArbitragePairs(address pairA, address pairB, address baseToken) external {
        LibDiamond.enforceIsContractOwner();
        address quote = address(LibBots.botStorage().quoteToken);
        if (pairA == pairB || baseToken == quote || baseToken == address(0)) revert InvalidArbitrageConfig();
        bool quoteIs0A = _checkPair(pairA, quote, baseToken);
        bool quoteIs0B = _checkPair(pairB, quote, baseToken);
        LibArbitrage.ArbitrageStorage storage s = LibArbitrage.arbitrageStorage();
        (s.pairA, s.pairB, s.baseToken) = (pairA, pairB, baseToken);
        // token order kept here: a trade asks no pair for token0 (a pair's tokens never change)
        (s.routeA, s.routeB) = (LibArbitrage.packRoute(pairA, quoteIs0A), LibArbitrage.packRoute(pairB, quoteIs0B));
        emit ArbitragePairsSet(pairA, pairB, baseToken);
    }

    /// @notice The configured pairs and base token (zero addresses before setArbitragePairs).
    function arbitragePairs() external view returns (address pairA, address pairB, address baseToken) {
        LibArbitrage.ArbitrageStorage storage s = LibArbitrage.arbitrageStorage();
        return (s.pairA, s.pairB, s.baseToken);
    }

    /// @notice What a round trip of `amountIn` quote would yield at current reserves.
    /// @return baseAmount Base bought on the buy pair. @return amountOut Quote received on the sell pair.
    function quoteArbitrage(bool buyOnA, uint256 amountIn) external view returns (uint256 baseAmount, uint256 amountOut) {
        (Route memory buy, Route memory sell) = _routes(buyOnA);
        return _quote(buy, sell, amountIn);
    }

    /// @notice Runs one arbitrage for `botId` with `amountIn` of its capital. Keepers and the owner only.
    /// @param buyOnA True: buy base on pair A, sell on pair B; false: the reverse.
    /// @param amountIn Quote spent (<= the bot's capital).
    /// @param minProfit Least acceptable profit in quote base units; reverts InsufficientProfit below it.
    /// @return profit Realised profit, added to the bot's capital.
    function executeArbitrage(uint256 botId, bool buyOnA, uint256 amountIn, uint256 minProfit)
        external
        virtual
        nonReentrant
        returns (uint256 profit)
    {
        LibBots.Bot storage bot = LibArbitrage.beginTrade(botId, amountIn);
        (Route memory buy, Route memory sell) = _routes(buyOnA);
        (uint256 baseAmount, uint256 amountOut) = _quote(buy, sell, amountIn);
        if (amountOut < amountIn + minProfit) {
            revert InsufficientProfit(int256(amountOut) - int256(amountIn), minProfit);
        }
        profit = amountOut - amountIn;

        // effects
        LibArbitrage.bookProfit(botId, bot, profit);
        emit ArbitrageExecuted(botId, buy.pair, sell.pair, amountIn, baseAmount, amountOut, profit);

        // interactions: quote -> buy pair; base straight to the sell pair; quote back here
        IERC20 quote = LibBots.botStorage().quoteToken;
        uint256 before = quote.balanceOf(address(this));
        quote.safeTransfer(buy.pair, amountIn);
        _swapOut(buy.pair, !buy.quoteIs0, baseAmount, sell.pair); // base out of the buy pair
        _swapOut(sell.pair, sell.quoteIs0, amountOut, address(this)); // quote out of the sell pair
        uint256 received = quote.balanceOf(address(this)) + amountIn - before;
        if (received < amountOut) revert UnexpectedOutput(amountOut, received);
    }

    /// @notice Sends every bot's capital, and any other quote token this child holds, to the master;
    ///         every bot's capital becomes 0. The master's emergencyExit/withdrawAll call it; the owner
    ///         may too. Arbitrage bots hold no position between transactions, so nothing is closed and
    ///         `maxSlippageBps` (<= 10,000) only keeps the interface of the strike children.
    /// @return returned Quote base units sent to the master.
    function exitAll(uint256 maxSlippageBps) external nonReentrant returns (uint256 returned) {
        LibBots.enforceMasterOrOwner();
        if (maxSlippageBps > 10_000) revert LibRiskLimits.ParameterOutOfRange("maxSlippageBps", maxSlippageBps, 0, 10_000);
        LibBots.BotStorage storage bs = LibBots.botStorage();
        LibBots.zeroAllCapital();
        IERC20 quote = bs.quoteToken;
        returned = quote.balanceOf(address(this));
        emit ExitedAll(msg.sender, returned);
        if (returned != 0) quote.safeTransfer(bs.master, returned);
    }

    /// @dev Reverts InvalidPair unless `pair` holds exactly `quote` and `base`; returns whether
    ///      `quote` is its token0.
    function _checkPair(address pair, address quote, address base) private view returns (bool quoteIs0) {
        if (pair.code.length == 0) revert InvalidPair(pair);
        address t0 = IUniswapV2PairMinimal(pair).token0();
        address t1 = IUniswapV2PairMinimal(pair).token1();
        if (!((t0 == quote && t1 == base) || (t0 == base && t1 == quote))) revert InvalidPair(pair);
        return t0 == quote;
    }

    /// @dev The buy and the sell pair with their token order: from the routes setArbitragePairs
    ///      keeps (two storage reads); on a diamond whose pairs were set before routes existed,
    ///      from pairA/pairB and each pair's token0().
    function _routes(bool buyOnA) internal view returns (Route memory buy, Route memory sell) {
        LibArbitrage.ArbitrageStorage storage s = LibArbitrage.arbitrageStorage();
        (uint256 routeA, uint256 routeB) = (s.routeA, s.routeB);
        if (routeA != 0) {
            (buy.pair, buy.quoteIs0) = LibArbitrage.unpackRoute(buyOnA ? routeA : routeB);
            (sell.pair, sell.quoteIs0) = LibArbitrage.unpackRoute(buyOnA ? routeB : routeA);
            return (buy, sell);
        }
        if (s.pairA == address(0)) revert PairsNotSet();
        (buy.pair, sell.pair) = buyOnA ? (s.pairA, s.pairB) : (s.pairB, s.pairA);
        address quote = address(LibBots.botStorage().quoteToken);
        buy.quoteIs0 = IUniswapV2PairMinimal(buy.pair).token0() == quote;
        sell.quoteIs0 = IUniswapV2PairMinimal(sell.pair).token0() == quote;
    }

    /// @dev (quote reserve, base reserve) of `r.pair`.
    function _reserves(Route memory r) internal view returns (uint256 quoteReserve, uint256 baseReserve) {
        (uint112 r0, uint112 r1,) = IUniswapV2PairMinimal(r.pair).getReserves();
        (quoteReserve, baseReserve) = r.quoteIs0 ? (uint256(r0), uint256(r1)) : (uint256(r1), uint256(r0));
        if (quoteReserve == 0 || baseReserve == 0) revert InsufficientLiquidity(r.pair);
    }

    function _quote(Route memory buy, Route memory sell, uint256 amountIn)
        internal
        view
        returns (uint256 baseAmount, uint256 amountOut)
    {
        (uint256 qBuy, uint256 bBuy) = _reserves(buy);
        (uint256 qSell, uint256 bSell) = _reserves(sell);
        baseAmount = _getAmountOut(amountIn, qBuy, bBuy);
        amountOut = _getAmountOut(baseAmount, bSell, qSell);
    }

    /// @dev UniswapV2Library.getAmountOut: amountIn * 997 * reserveOut / (reserveIn * 1000 + amountIn * 997).
    function _getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut) internal pure returns (uint256) {
        uint256 amountInWithFee = amountIn * 997;
        return (amountInWithFee * reserveOut) / (reserveIn * 1000 + amountInWithFee);
    }

    /// @dev Asks `pair` to send `amount` of its token0 (`outIsToken0`) or token1 to `to` (the
    ///      input was transferred beforehand).
    function _swapOut(address pair, bool outIsToken0, uint256 amount, address to) internal {
        (uint256 out0, uint256 out1) = outIsToken0 ? (amount, uint256(0)) : (uint256(0), amount);
        IUniswapV2PairMinimal(pair).swap(out0, out1, to, "");
    }
}
