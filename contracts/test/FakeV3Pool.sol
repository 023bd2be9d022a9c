// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title FakeV3Pool
/// @notice TEST ONLY (tests/test_v3_arbitrage.py). Not a Uniswap V3 pool: calls a diamond's
///         `uniswapV3SwapCallback` claiming to be owed `amount0Delta`/`amount1Delta`, as a pool
///         that was never configured would to drain tokens.
contract FakeV3Pool {
    function poke(address target, int256 amount0Delta, int256 amount1Delta) external {
        (bool ok, bytes memory ret) = target.call(
            abi.encodeWithSignature("uniswapV3SwapCallback(int256,int256,bytes)", amount0Delta, amount1Delta, "")
        );
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }
}
