// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LibBots} from "./LibBots.sol";
import {LibPrice} from "../strike/LibPrice.sol";
import {LibStrike} from "../strike/LibStrike.sol";
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
///      Stale prices (issue 11): with a position open, equity needs fresh asset and quote answers
///      (LibPrice) and reverts LibPrice.StalePrice otherwise. A stale mark must not reach the
///      master's drawdown / daily-loss breaker, its high-water mark or the rescaling of deposits
///      and withdrawals; a revert fails closed where a flag would need every reader to check it.
library LibEquity {
    /// @notice Net value of open positions (quote base units) not already counted in bot capital:
    ///         Σ over open positions of max(0, collateral − debt). A position under water (bad debt)
    ///         counts 0: its loss is already the whole margin. Reverts LibPrice.StalePrice when a
    ///         position is open and the asset's or the quote's answer is stale.
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
        LibPrice.fresh(c.oracle, c.asset); // Aave values the holders at this answer: it must be fresh
        uint256 quotePrice = LibPrice.fresh(c.oracle, c.quote);
        total = totalBase * 10 ** s.quoteDecimals / quotePrice;
    }

    /// @notice Total bot capital plus `positionsEquity()`.
    function equity() internal view returns (uint256) {
        return LibBots.botStorage().totalCapital + positionsEquity();
    }
}
