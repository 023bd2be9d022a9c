// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IChild} from "../../bots/interfaces/IChild.sol";
import {LibMaster} from "../libraries/LibMaster.sol";

/// @title MasterStatsFacet
/// @notice System-wide statistics: the treasury plus every child's aggregate (at most 8 children).
contract MasterStatsFacet {
    /// @notice Treasury balance, capital held by children's bots, and summed trade statistics.
    ///         Amounts are quote base units (USDC, 6 decimals).
    function systemStats()
        external
        view
        returns (
            uint256 treasury,
            uint256 capitalInChildren,
            uint64 trades,
            uint64 wins,
            uint64 losses,
            int256 realisedPnl
        )
    {
        LibMaster.MasterStorage storage ms = LibMaster.masterStorage();
        treasury = ms.quoteToken.balanceOf(address(this));
        for (uint256 i; i < ms.children.length; ++i) {
            (uint64 t, uint64 w, uint64 l, int256 p, uint256 c) = IChild(ms.children[i]).aggregateStats();
            trades += t;
            wins += w;
            losses += l;
            realisedPnl += p;
            capitalInChildren += c;
        }
    }
}
