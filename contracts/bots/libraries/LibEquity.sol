// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LibBots} from "./LibBots.sol";
import {LibStrike, IAaveOracle} from "../strike/LibStrike.sol";
import {LibPositions} from "../strike/LibPositions.sol";
import {IAaveV3Pool} from "../strike/interfaces/IAaveV3Pool.sol";

/// @title LibEquity
/// @notice A child diamond's equity as the master sees it: the bots' capital plus the marked value
///         of their open positions. Amounts are quote base units (USDC, 6 decimals).
/// @dev No storage of its own. Strike children mark each open position (LibStrike's bounded list,
///      at most LibStrike.MAX_OPEN_POSITIONS) at Aave's own valuation: collateral − debt of the bot's
///      PositionHolder from `Pool.getUserAccountData` (USD, 8 decimals), converted to quote units at
///      the Aave oracle's quote price. Arbitrage children never hold a position across
///      transactions: their list is empty, so 0.
library LibEquity {
    /// @notice Net value of open positions (quote base units) not already counted in bot capital:
    ///         Σ over open positions of max(0, collateral − debt). A position under water (bad debt)
    ///         counts 0: its loss is already the whole margin.
    function positionsEquity() internal view returns (uint256 total) {
        LibStrike.StrikeStorage storage s = LibStrike.strikeStorage();
        uint256 n = s.openBots.length;
        if (n == 0) return 0;
        LibStrike.Config storage c = s.config;
        IAaveV3Pool pool = IAaveV3Pool(c.pool);
        uint256 totalBase;
        for (uint256 i; i < n; ++i) {
            address holder = LibPositions.positionStorage().holders[s.openBots[i]];
            (uint256 collateralBase, uint256 debtBase,,,,) = pool.getUserAccountData(holder);
            if (collateralBase > debtBase) totalBase += collateralBase - debtBase;
        }
        uint256 quotePrice = IAaveOracle(c.oracle).getAssetPrice(c.quote);
        total = totalBase * 10 ** s.quoteDecimals / quotePrice;
    }

    /// @notice Total bot capital plus `positionsEquity()`.
    function equity() internal view returns (uint256) {
        return LibBots.botStorage().totalCapital + positionsEquity();
    }
}
