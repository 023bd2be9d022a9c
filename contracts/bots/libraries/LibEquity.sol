// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LibBots} from "./LibBots.sol";

/// @title LibEquity
/// @notice A child diamond's equity as the master sees it: the bots' capital plus the marked value
///         of their open positions. Amounts are quote base units (USDC, 6 decimals).
/// @dev No storage of its own. `positionsEquity` is the hook for children that hold positions
///      between transactions (the strike children: collateral − debt of their position holders,
///      valued in quote units). Arbitrage bots never hold a position across transactions, so 0.
library LibEquity {
    /// @notice Net value of open positions (quote base units) not already counted in bot capital.
    /// @dev 0 until a child with open positions implements it (declared `view` so that
    ///      implementation keeps the signature).
    function positionsEquity() internal view returns (uint256) {
        return 0;
    }

    /// @notice Total bot capital plus `positionsEquity()`.
    function equity() internal view returns (uint256) {
        return LibBots.botStorage().totalCapital + positionsEquity();
    }
}
