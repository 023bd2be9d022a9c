// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {LibDiamond} from "../../diamond/libraries/LibDiamond.sol";
import {LibBots} from "../libraries/LibBots.sol";
import {LibRiskLimits} from "../libraries/LibRiskLimits.sol";

/// @title RiskLimitsFacet
/// @notice The owner's settings and the views of a child's per-bot risk limits (LibRiskLimits):
///         maximum position size and per-pair exposure (quote base units, USDC 6 decimals),
///         maximum concurrent positions, daily trade limit (per 86,400 s window), loss streak and
///         cooldown (seconds of chain time).
contract RiskLimitsFacet {
    /// @notice Sets every per-bot limit at once. Owner only. Reverts ParameterOutOfRange(name,
    ///         value, min, max) naming the bound: sizes >= 1 and maxPairExposure >= maxPositionSize,
    ///         maxConcurrentPositions 1..100, dailyTradeLimit 1..10,000, lossStreakLimit 1..100,
    ///         cooldownSeconds 0..604,800.
    function setRiskLimits(LibRiskLimits.Limits calldata limits) external {
        LibDiamond.enforceIsContractOwner();
        LibRiskLimits.setLimits(limits);
    }

    /// @notice Ends a bot's loss-streak cooldown now. Owner only.
    function clearCooldown(uint256 botId) external {
        LibDiamond.enforceIsContractOwner();
        LibBots.existingBot(botId);
        LibRiskLimits.clearCooldown(botId);
    }

    /// @notice The limits in force (the defaults until setRiskLimits).
    function riskLimits() external view returns (LibRiskLimits.Limits memory) {
        return LibRiskLimits.limits();
    }

    /// @notice A bot's counters: open positions, trades in its current day, the day's start
    ///         (unix s), current loss streak and the end of its cooldown (unix s, 0 if none).
    function botRisk(uint256 botId) external view returns (LibRiskLimits.BotRisk memory r) {
        r = LibRiskLimits.riskStorage().bots[botId];
        if (r.dayStart == LibRiskLimits.PRE_WRITTEN_DAY_START) r.dayStart = 0; // registration's sentinel
    }

    /// @notice Open size on `pairKey` summed over this child's bots (quote base units).
    function pairExposure(bytes32 pairKey) external view returns (uint256) {
        return LibRiskLimits.riskStorage().pairExposure[pairKey];
    }

    /// @notice True while `botId` is cooling down after a loss streak.
    function inCooldown(uint256 botId) external view returns (bool) {
        return block.timestamp < LibRiskLimits.riskStorage().bots[botId].cooldownUntil;
    }
}
