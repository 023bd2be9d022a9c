// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IChild
/// @notice Coordination calls a master diamond makes on its children (ChildCoordinationFacet + PerformanceFacet).
interface IChild {
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
}
