// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IUniswapV2PairMinimal
/// @notice The part of UniswapV2Pair (v2-core 1.0.1) the arbitrage facet calls. The pair itself is
///         deployed from its npm artifact, never recompiled.
interface IUniswapV2PairMinimal {
    function token0() external view returns (address);
    function token1() external view returns (address);
    function getReserves() external view returns (uint112 reserve0, uint112 reserve1, uint32 blockTimestampLast);
    function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data) external;
}
