// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title LibArbitrage
/// @notice The two Uniswap V2 pairs the AMM diamond arbitrages between (ERC-7201 "macrostrike.arbitrage").
library LibArbitrage {
    // keccak256(abi.encode(uint256(keccak256("macrostrike.arbitrage")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant STORAGE_SLOT = 0xfc78b526acde47c208c9720780dd07c8aadad9afc13cf75c4859bf9c9e944d00;

    /// @custom:storage-location erc7201:macrostrike.arbitrage
    struct ArbitrageStorage {
        address pairA;
        address pairB;
        address baseToken;
    }

    function arbitrageStorage() internal pure returns (ArbitrageStorage storage s) {
        bytes32 slot = STORAGE_SLOT;
        assembly {
            s.slot := slot
        }
    }
}
