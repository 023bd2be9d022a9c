// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title LibVenues
/// @notice The Uniswap V3 venue the AMM diamond arbitrages against its V2 pairs (ERC-7201
///         "macrostrike.venues"), the pool address rule of the V3 periphery, and the transient
///         record of the V3 swap in progress (EIP-1153), which the swap callback checks.
library LibVenues {
    // keccak256(abi.encode(uint256(keccak256("macrostrike.venues")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant STORAGE_SLOT = 0x6f596ac84eefbeac27e57cefe56b82adfd40f53ff535656d80863e18d9f9ec00;
    /// Transient (EIP-1153) slots, ERC-7201 formula of "macrostrike.venues.swap": the pool whose
    /// callback is expected (+0) and the most it may be paid, in the paid token's base units (+1).
    bytes32 internal constant SWAP_SLOT = 0x53c2fdb0794c079c01acbd67b83c0cfee49c0c40ab31687709ba259deb06d600;

    // `PoolAddress.POOL_INIT_CODE_HASH` of npm uniswap v3-periphery 1.4.4: keccak256 of the
    // UniswapV3Pool creation code of v3-core 1.0.1 (the deploy checks it against the artifact).
    bytes32 internal constant POOL_INIT_CODE_HASH = 0xe34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54;

    /// @custom:storage-location erc7201:macrostrike.venues
    struct VenueStorage {
        /// UniswapV3Factory the pool belongs to (zero: no V3 venue configured)
        address v3Factory;
        /// the pool's fee tier, hundredths of a bip (500 = 0.05 %)
        uint24 v3Fee;
    }

    function venueStorage() internal pure returns (VenueStorage storage s) {
        bytes32 slot = STORAGE_SLOT;
        assembly {
            s.slot := slot
        }
    }

    /// @notice `PoolAddress.computeAddress(factory, getPoolKey(tokenA, tokenB, fee))` of v3-periphery:
    ///         CREATE2 address of the pool, salt keccak256(abi.encode(token0, token1, fee)).
    function computePool(address factory, address tokenA, address tokenB, uint24 fee) internal pure returns (address) {
        (address token0, address token1) = tokenA < tokenB ? (tokenA, tokenB) : (tokenB, tokenA);
        bytes32 salt = keccak256(abi.encode(token0, token1, fee));
        return address(uint160(uint256(keccak256(abi.encodePacked(hex"ff", factory, salt, POOL_INIT_CODE_HASH)))));
    }

    /// @notice Records that `pool` may call back once for at most `maxPayment`.
    function openSwap(address pool, uint256 maxPayment) internal {
        bytes32 slot = SWAP_SLOT;
        assembly {
            tstore(slot, pool)
            tstore(add(slot, 1), maxPayment)
        }
    }

    /// @notice The pool expected to call back and the most it may be paid; clears both (one callback per swap).
    function takeSwap() internal returns (address pool, uint256 maxPayment) {
        bytes32 slot = SWAP_SLOT;
        assembly {
            pool := tload(slot)
            maxPayment := tload(add(slot, 1))
            tstore(slot, 0)
            tstore(add(slot, 1), 0)
        }
    }
}
