// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IChild
/// @notice Calls a master diamond makes on its children (ChildCoordinationFacet, BotRegistryFacet,
///         PerformanceFacet, and the child-specific exitAll). Amounts: quote base units (USDC, 6 decimals).
interface IChild {
    /// @notice One bot as returned by BotRegistryFacet.botsPage (status: LibBots.BotStatus, Active = 1).
    struct BotView {
        uint256 id;
        uint8 status;
        uint256 capital;
        bytes32 strategy;
        bytes params;
    }

    function master() external view returns (address);
    function totalCapital() external view returns (uint256);
    function fundBot(uint256 botId, uint256 amount) external;
    function recallCapital(uint256 botId, uint256 amount) external;
    function pause() external;
    function unpause() external;
    function aggregateStats()
        external
        view
        returns (uint64 trades, uint64 wins, uint64 losses, int256 realisedPnl, uint256 totalCapital);

    /// @notice Bot capital plus the marked value of open positions (LibEquity).
    function equity() external view returns (uint256);
    /// @notice Quote base units of `botId`'s capital that left its free capital for an open
    ///         position and has not come back yet: the position's margin at cost (strike children:
    ///         LibStrike.Position.marginQuote); 0 for a flat bot and for every AMM bot (arbitrage
    ///         holds no position across transactions). The master counts it in the bot's principal.
    function capitalAtRisk(uint256 botId) external view returns (uint256);
    /// @notice !paused && !masterBreakerTripped(): whether bots may open positions.
    function openingAllowed() external view returns (bool);
    /// @notice Stores the master's circuit breaker state in the child (master only).
    function setMasterBreaker(bool tripped) external;
    /// @notice The master's breaker as last pushed to the child.
    function masterBreakerTripped() external view returns (bool);
    /// @notice Closes every position (slippage bound `maxSlippageBps`) and sends every quote
    ///         token the child holds to the master; afterwards every bot's capital is 0.
    ///         AMM child: ArbitrageFacet; strike children: their strike facet.
    function exitAll(uint256 maxSlippageBps) external returns (uint256 returned);

    function bot(uint256 botId)
        external
        view
        returns (uint8 status, uint256 capital, bytes32 strategy, bytes memory params);
    function botsPage(uint256 firstId, uint256 count) external view returns (BotView[] memory page);
    function botCount() external view returns (uint256);

    /// @notice PerformanceFacet: `botId`'s realised PnL (quote base units) over the current and the
    ///         preceding window of chain time, and the window length (seconds).
    function recentPerformance(uint256 botId) external view returns (int256 recentPnl, uint256 windowSeconds);
}
