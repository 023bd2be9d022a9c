// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {LibDiamond} from "../../diamond/libraries/LibDiamond.sol";
import {IUniswapV2PairMinimal} from "../interfaces/IUniswapV2PairMinimal.sol";
import {IUniswapV3FactoryMinimal, IUniswapV3PoolMinimal} from "../interfaces/IUniswapV3PoolMinimal.sol";
import {LibArbitrage} from "../libraries/LibArbitrage.sol";
import {LibBots} from "../libraries/LibBots.sol";
import {LibRiskLimits} from "../libraries/LibRiskLimits.sol";
import {LibVenues} from "../libraries/LibVenues.sol";

/// @title VenueArbitrageFacet
/// @notice Arbitrage between one of the AMM diamond's Uniswap V2 pairs (ArbitrageFacet's pair A or B)
///         and a Uniswap V3 pool of the same (quote, base) tokens, both directions, in one
///         transaction: buy base on one venue with a bot's quote capital, sell it on the other.
///         Same guards as ArbitrageFacet (keeper or owner, child not paused and master breaker not
///         tripped, active bot, the bot's own capital only, risk limits, `minProfit`, the quote
///         actually received) and the same bookkeeping (bot capital, LibPerformance, LibRiskLimits,
///         `ArbitrageExecuted` with the two venues' addresses). Amounts are token base units
///         (quote: USDC, 6 decimals).
/// @dev The V3 leg calls the pool's `swap` (exact input, no price limit: `minProfit` bounds the
///      round trip) and pays in `uniswapV3SwapCallback`, which accepts only the pool computed from
///      the configured factory, the tokens and the fee as v3-periphery's PoolAddress does, and only
///      while this facet's swap to that pool is in progress (EIP-1153 transient record, one callback).
///      The V2 leg follows UniswapV2Library.getAmountOut (0.3 % fee; Uniswap V2 whitepaper §3.2.1).
///      The V3 output is only known once swapped, so the interactions come before the effects:
///      `nonReentrant` (ReentrancyGuardTransient: one lock for every facet of the diamond) covers them.
contract VenueArbitrageFacet is ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @dev TickMath.MIN_SQRT_RATIO + 1 and MAX_SQRT_RATIO - 1 (v3-core 1.0.1): "no price limit".
    uint160 internal constant MIN_SQRT_PRICE_LIMIT = 4295128740;
    uint160 internal constant MAX_SQRT_PRICE_LIMIT = 1461446703485210103287273052203988822378723970341;

    /// @notice setV3Venue: `factory` reports `reported` for the tokens and fee, not the pool the
    ///         periphery's PoolAddress rule gives (`computed`), or no pool exists there.
    error InvalidV3Venue(address factory, uint24 fee, address computed, address reported);
    /// @notice setV3Venue before ArbitrageFacet.setArbitragePairs (the base token is not known).
    error PairsNotSet();
    /// @notice executeV3Arbitrage before setV3Venue.
    error V3VenueNotSet();
    /// @notice amountIn is zero.
    /// @notice The V2 pair has an empty reserve.
    error InsufficientLiquidity(address pair);
    /// @notice The round trip returns `realised` (may be negative) below `minProfit`.
    error InsufficientProfit(int256 realised, uint256 minProfit);
    /// @notice Fewer quote tokens arrived than the venues reported.
    error UnexpectedOutput(uint256 expected, uint256 received);
    /// @notice uniswapV3SwapCallback from `caller`, which is not the pool of a swap this facet has in progress.
    error UnexpectedCallback(address caller);
    /// @notice The pool asked for `requested`, more than the swap's input `maxPayment`.
    error CallbackOverpayment(uint256 requested, uint256 maxPayment);
    /// @notice The V3 pool filled `filled` of `amountIn` (its liquidity ran out before the price limit).
    error PartialFill(uint256 amountIn, uint256 filled);

    /// @notice setV2V3Pair: `pair` has no code or does not trade exactly the quote token and `baseToken`.
    error InvalidV2Pair(address pair);
    /// @notice Same event as ArbitrageFacet's: pair A (and no pair B) set by setV2V3Pair.
    event ArbitragePairsSet(address pairA, address pairB, address baseToken);
    /// @notice The V3 venue was set (owner): `pool` is computed from `factory`, the tokens and `fee`.
    event V3VenueSet(address indexed factory, uint24 fee, address pool);
    /// @notice Same event as ArbitrageFacet's: `buyPair`/`sellPair` are the venues (V2 pair or V3 pool).
    event ArbitrageExecuted(
        uint256 indexed botId,
        address buyPair,
        address sellPair,
        uint256 amountIn,
        uint256 baseAmount,
        uint256 amountOut,
        uint256 profit
    );

    /// @dev One V2 pair, the V3 pool and each one's token order.
    struct Venues {
        address pair;
        bool pairQuoteIs0;
        address pool;
        bool poolQuoteIs0;
    }

    /// @notice Sets pair A (a Uniswap V2 pair of the quote token and `baseToken`) and clears pair B:
    ///         for a chain with one V2 DEX, whose arbitrage is V2↔V3 only (ArbitrageFacet's V2↔V2
    ///         trades then have no pair B; setArbitragePairs sets both again). Owner only. Reverts
    ///         InvalidV2Pair unless `pair` trades exactly those two tokens.
    function setV2V3Pair(address pair, address baseToken) external {
        LibDiamond.enforceIsContractOwner();
        address quote = address(LibBots.botStorage().quoteToken);
        if (pair.code.length == 0 || baseToken == quote || baseToken == address(0)) revert InvalidV2Pair(pair);
        (address t0, address t1) = (IUniswapV2PairMinimal(pair).token0(), IUniswapV2PairMinimal(pair).token1());
        if (!((t0 == quote && t1 == baseToken) || (t0 == baseToken && t1 == quote))) revert InvalidV2Pair(pair);
        LibArbitrage.ArbitrageStorage storage s = LibArbitrage.arbitrageStorage();
        (s.pairA, s.pairB, s.baseToken) = (pair, address(0), baseToken);
        (s.routeA, s.routeB) = (LibArbitrage.packRoute(pair, t0 == quote), 0);
        emit ArbitragePairsSet(pair, address(0), baseToken);
    }

    /// @notice Sets the Uniswap V3 venue: the pool of the quote and base tokens (ArbitrageFacet's)
    ///         with fee tier `fee` (hundredths of a bip) in `factory`. Owner only. Reverts
    ///         InvalidV3Venue unless the factory's pool is the one the periphery's rule computes.
    function setV3Venue(address factory, uint24 fee) external {
        LibDiamond.enforceIsContractOwner();
        address base = LibArbitrage.arbitrageStorage().baseToken;
        if (base == address(0)) revert PairsNotSet();
        address quote = address(LibBots.botStorage().quoteToken);
        address pool = LibVenues.computePool(factory, quote, base, fee);
        address reported;
        if (factory.code.length != 0) {
            try IUniswapV3FactoryMinimal(factory).getPool(quote, base, fee) returns (address p) {
                reported = p;
            } catch {} // not a V3 factory: reported stays zero
        }
        if (reported != pool || pool.code.length == 0) revert InvalidV3Venue(factory, fee, pool, reported);
        LibVenues.VenueStorage storage s = LibVenues.venueStorage();
        (s.v3Factory, s.v3Fee) = (factory, fee);
        emit V3VenueSet(factory, fee, pool);
    }

    /// @notice The V3 venue: factory, fee tier and the pool (computed as the periphery does from
    ///         the current tokens); zero addresses before setV3Venue.
    function v3Venue() external view returns (address factory, uint24 fee, address pool) {
        LibVenues.VenueStorage storage s = LibVenues.venueStorage();
        (factory, fee) = (s.v3Factory, s.v3Fee);
        if (factory != address(0)) pool = _pool(factory, fee);
    }

    /// @notice Runs one V2↔V3 arbitrage for `botId` with `amountIn` of its capital. Keepers and the owner only.
    /// @param onPairA True: the V2 leg trades on ArbitrageFacet's pair A; false: on pair B.
    /// @param buyOnV2 True: buy base on the V2 pair, sell on the V3 pool; false: the reverse.
    /// @param amountIn Quote spent (<= the bot's capital).
    /// @param minProfit Least acceptable profit in quote base units; reverts InsufficientProfit below it.
    /// @return profit Realised profit, added to the bot's capital.
    function executeV3Arbitrage(uint256 botId, bool onPairA, bool buyOnV2, uint256 amountIn, uint256 minProfit)
        external
        nonReentrant
        returns (uint256 profit)
    {
        LibBots.Bot storage bot = LibArbitrage.beginTrade(botId, amountIn);
        Venues memory v = _venues(onPairA);
        // interactions (under the diamond's lock): the V3 output is known only once swapped
        (uint256 baseAmount, uint256 amountOut) = _roundTrip(v, buyOnV2, amountIn);
        if (amountOut < amountIn + minProfit) {
            revert InsufficientProfit(int256(amountOut) - int256(amountIn), minProfit);
        }
        profit = amountOut - amountIn;

        // effects: ArbitrageFacet's bookkeeping
        LibArbitrage.bookProfit(botId, bot, profit);
        if (buyOnV2) emit ArbitrageExecuted(botId, v.pair, v.pool, amountIn, baseAmount, amountOut, profit);
        else emit ArbitrageExecuted(botId, v.pool, v.pair, amountIn, baseAmount, amountOut, profit);
    }

    /// @notice Uniswap V3 swap callback (IUniswapV3SwapCallback): pays the pool the token it is owed
    ///         (the positive delta). Accepted only from the pool of this facet's swap in progress,
    ///         once, and for at most that swap's input; reverts UnexpectedCallback otherwise.
    function uniswapV3SwapCallback(int256 amount0Delta, int256 amount1Delta, bytes calldata) external {
        (address pool, uint256 maxPayment) = LibVenues.takeSwap();
        if (pool == address(0) || msg.sender != pool) revert UnexpectedCallback(msg.sender);
        bool pays0 = amount0Delta > 0;
        uint256 owed = uint256(pays0 ? amount0Delta : amount1Delta);
        if (owed > maxPayment) revert CallbackOverpayment(owed, maxPayment);
        address quote = address(LibBots.botStorage().quoteToken);
        address base = LibArbitrage.arbitrageStorage().baseToken;
        // token0 is the lower address (UniswapV3Factory.createPool)
        address token = pays0 == (quote < base) ? quote : base;
        IERC20(token).safeTransfer(pool, owed);
    }

    /// @dev Both legs; reverts UnexpectedOutput when less quote arrived than the venues reported.
    function _roundTrip(Venues memory v, bool buyOnV2, uint256 amountIn)
        private
        returns (uint256 baseAmount, uint256 amountOut)
    {
        IERC20 quote = LibBots.botStorage().quoteToken;
        uint256 before = quote.balanceOf(address(this));
        (baseAmount, amountOut) = buyOnV2 ? _buyV2SellV3(v, quote, amountIn) : _buyV3SellV2(v, amountIn);
        uint256 received = quote.balanceOf(address(this)) + amountIn - before;
        if (received < amountOut) revert UnexpectedOutput(amountOut, received);
    }

    /// @dev V2 buys base (sent here), V3 sells it for quote (sent here).
    function _buyV2SellV3(Venues memory v, IERC20 quote, uint256 amountIn)
        private
        returns (uint256 baseAmount, uint256 amountOut)
    {
        (uint256 qRes, uint256 bRes) = _reserves(v.pair, v.pairQuoteIs0);
        baseAmount = _getAmountOut(amountIn, qRes, bRes);
        quote.safeTransfer(v.pair, amountIn);
        _swapOut(v.pair, !v.pairQuoteIs0, baseAmount, address(this));
        // base in, quote out: zeroForOne when base is token0
        (uint256 paid, uint256 got) = _swapV3(v.pool, !v.poolQuoteIs0, baseAmount, address(this));
        if (paid != baseAmount) revert PartialFill(baseAmount, paid);
        amountOut = got;
    }

    /// @dev V3 buys base (sent straight to the V2 pair), V2 sells it for quote (sent here).
    function _buyV3SellV2(Venues memory v, uint256 amountIn) private returns (uint256 baseAmount, uint256 amountOut) {
        (uint256 paid, uint256 got) = _swapV3(v.pool, v.poolQuoteIs0, amountIn, v.pair);
        if (paid != amountIn) revert PartialFill(amountIn, paid);
        baseAmount = got;
        (uint256 qRes, uint256 bRes) = _reserves(v.pair, v.pairQuoteIs0); // stored reserves: before the base arrived
        amountOut = _getAmountOut(baseAmount, bRes, qRes);
        _swapOut(v.pair, v.pairQuoteIs0, amountOut, address(this));
    }

    /// @dev Exact-input swap of `amountIn` on `pool` (token0 -> token1 when `zeroForOne`), output to
    ///      `recipient`; the callback may pay at most `amountIn`. Returns (input paid, output received).
    function _swapV3(address pool, bool zeroForOne, uint256 amountIn, address recipient)
        private
        returns (uint256 paid, uint256 got)
    {
        LibVenues.openSwap(pool, amountIn);
        (int256 d0, int256 d1) = IUniswapV3PoolMinimal(pool).swap(
            recipient, zeroForOne, int256(amountIn), zeroForOne ? MIN_SQRT_PRICE_LIMIT : MAX_SQRT_PRICE_LIMIT, ""
        );
        LibVenues.openSwap(address(0), 0); // no callback left open, whatever the pool did
        (int256 dIn, int256 dOut) = zeroForOne ? (d0, d1) : (d1, d0);
        (paid, got) = (uint256(dIn), uint256(-dOut));
    }

    /// @dev The V2 pair (pair A or B with its token order, as ArbitrageFacet.setArbitragePairs kept
    ///      it) and the V3 pool (computed from the configured factory, the tokens and the fee).
    function _venues(bool onPairA) private view returns (Venues memory v) {
        LibArbitrage.ArbitrageStorage storage a = LibArbitrage.arbitrageStorage();
        uint256 route = onPairA ? a.routeA : a.routeB;
        if (route == 0) revert PairsNotSet();
        (v.pair, v.pairQuoteIs0) = LibArbitrage.unpackRoute(route);
        LibVenues.VenueStorage storage s = LibVenues.venueStorage();
        if (s.v3Factory == address(0)) revert V3VenueNotSet();
        v.pool = _pool(s.v3Factory, s.v3Fee);
        v.poolQuoteIs0 = address(LibBots.botStorage().quoteToken) < a.baseToken;
    }

    function _pool(address factory, uint24 fee) private view returns (address) {
        return LibVenues.computePool(factory, address(LibBots.botStorage().quoteToken), LibArbitrage.arbitrageStorage().baseToken, fee);
    }

    /// @dev (quote reserve, base reserve) of a V2 pair.
    function _reserves(address pair, bool quoteIs0) private view returns (uint256 quoteReserve, uint256 baseReserve) {
        (uint112 r0, uint112 r1,) = IUniswapV2PairMinimal(pair).getReserves();
        (quoteReserve, baseReserve) = quoteIs0 ? (uint256(r0), uint256(r1)) : (uint256(r1), uint256(r0));
        if (quoteReserve == 0 || baseReserve == 0) revert InsufficientLiquidity(pair);
    }

    /// @dev UniswapV2Library.getAmountOut: amountIn * 997 * reserveOut / (reserveIn * 1000 + amountIn * 997).
    function _getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut) private pure returns (uint256) {
        uint256 amountInWithFee = amountIn * 997;
        return (amountInWithFee * reserveOut) / (reserveIn * 1000 + amountInWithFee);
    }

    /// @dev Asks `pair` to send `amount` of its token0 (`outIsToken0`) or token1 to `to`.
    function _swapOut(address pair, bool outIsToken0, uint256 amount, address to) private {
        (uint256 out0, uint256 out1) = outIsToken0 ? (amount, uint256(0)) : (uint256(0), amount);
        IUniswapV2PairMinimal(pair).swap(out0, out1, to, "");
    }
}
