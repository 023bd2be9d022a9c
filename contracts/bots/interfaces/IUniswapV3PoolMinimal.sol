// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IUniswapV3PoolMinimal
/// @notice The part of UniswapV3Pool (v3-core 1.0.1, `IUniswapV3PoolActions.swap`) the venue
///         arbitrage facet calls. The pool is deployed by its factory from the npm artifact.
interface IUniswapV3PoolMinimal {
    /// @return amount0 token0 delta of the pool (positive: paid to it), @return amount1 likewise.
    function swap(
        address recipient,
        bool zeroForOne,
        int256 amountSpecified,
        uint160 sqrtPriceLimitX96,
        bytes calldata data
    ) external returns (int256 amount0, int256 amount1);
}

/// @title IUniswapV3FactoryMinimal
/// @notice `UniswapV3Factory.getPool` (v3-core 1.0.1).
interface IUniswapV3FactoryMinimal {
    function getPool(address tokenA, address tokenB, uint24 fee) external view returns (address pool);
}
