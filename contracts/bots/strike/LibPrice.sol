// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AggregatorV3Interface} from "../../vendor/chainlink/interfaces/AggregatorV3Interface.sol";
import {LibStrike, IAaveOracle} from "./LibStrike.sol";

/// @title LibPrice
/// @notice Oracle prices of a strike child with a staleness check (audit finding M-4, issue 11).
///         AaveOracle's `getAssetPrice` returns the feed's `latestAnswer()` however old it is; this
///         library reads the same Chainlink feed (`AaveOracle.getSourceOfAsset`) through
///         AggregatorV3Interface.latestRoundData and calls the answer stale when it is ≤ 0, when
///         `updatedAt` is 0, when `updatedAt + maxAge < block.timestamp`, or when
///         `answeredInRound < roundId` (a round carried over from an earlier one).
///         Rule set by the callers: opening and increasing need fresh asset and quote prices
///         (StrikeFacet reverts StalePrice); stop-loss and take-profit do not fire on a stale asset
///         price; closes, decreases, hard expiry, emergency deleverage and exitAll proceed with the
///         last answer as the swap floor's reference (AaveOracle.getAssetPrice, unchanged) — a
///         stale price never relaxes the floor; the child's equity (LibEquity) reverts StalePrice
///         while a position is open.
///         Prices: USD with 8 decimals (the feeds' decimals in this project's market); ages: seconds.
/// @dev maxAge per asset lives in LibStrike's namespaced storage (`maxPriceAge`, 0 = default).
///      Defaults follow Chainlink's heartbeats (https://docs.chain.link/data-feeds/price-feeds/addresses,
///      "Heartbeat" column; https://docs.chain.link/data-feeds#check-the-timestamp-of-the-latest-answer):
///      BTC/USD (and ETH/USD) 3,600 s on Ethereum mainnet and Sepolia, USDC/USD 86,400 s. A feed
///      also updates on a deviation (0.5 % BTC/USD, 0.25 % USDC/USD), so a quiet market is exactly
///      when the heartbeat bounds the age; the margins cover the round's inclusion delay.
library LibPrice {
    /// @notice Default maxAge of the traded asset's feed: BTC/USD heartbeat 1 h + 10 min margin (s).
    uint32 internal constant DEFAULT_ASSET_MAX_AGE = 1 hours + 10 minutes;
    /// @notice Default maxAge of the quote's feed: USDC/USD heartbeat 24 h + 1 h margin (s).
    uint32 internal constant DEFAULT_QUOTE_MAX_AGE = 1 days + 1 hours;
    /// @notice Bounds of a configured maxAge (s).
    uint32 internal constant MIN_MAX_AGE = 1 minutes;
    uint32 internal constant MAX_MAX_AGE = 2 days;

    /// @notice `asset`'s feed answer is stale, not positive or missing: last updated at `updatedAt`
    ///         (unix s, 0 if never or no feed), older than `maxAge` seconds allowed.
    error StalePrice(address asset, uint256 updatedAt, uint256 maxAge);

    /// @notice maxAge (s) in force for `asset`: the configured one, else the quote's or the asset's default.
    function maxAgeOf(address asset) internal view returns (uint256 maxAge) {
        LibStrike.StrikeStorage storage s = LibStrike.strikeStorage();
        maxAge = s.maxPriceAge[asset];
        if (maxAge == 0) maxAge = asset == s.config.quote ? DEFAULT_QUOTE_MAX_AGE : DEFAULT_ASSET_MAX_AGE;
    }

    /// @notice `asset`'s latest answer from its feed behind `oracle` (USD, 8 decimals; 0 if ≤ 0),
    ///         when it was updated (unix s), the maxAge in force (s) and whether it is stale.
    ///         No feed (AaveOracle would use its fallback oracle) counts as stale.
    function status(address oracle, address asset)
        internal
        view
        returns (uint256 price, uint256 updatedAt, uint256 maxAge, bool stale)
    {
        maxAge = maxAgeOf(asset);
        address feed = IAaveOracle(oracle).getSourceOfAsset(asset);
        if (feed == address(0)) return (0, 0, maxAge, true);
        (uint80 roundId, int256 answer,, uint256 updated, uint80 answeredInRound) =
            AggregatorV3Interface(feed).latestRoundData();
        updatedAt = updated;
        if (answer > 0) price = uint256(answer);
        stale = price == 0 || updated == 0 || updated + maxAge < block.timestamp || answeredInRound < roundId;
    }

    /// @notice `asset`'s fresh price (USD, 8 decimals). Reverts StalePrice otherwise.
    function fresh(address oracle, address asset) internal view returns (uint256 price) {
        (uint256 p, uint256 updatedAt, uint256 maxAge, bool stale) = status(oracle, asset);
        if (stale) revert StalePrice(asset, updatedAt, maxAge);
        return p;
    }

    /// @notice `fresh(oracle, asset)` when `requireFresh`, else AaveOracle's price whatever its age
    ///         (the reference of the swap floor on closes and decreases).
    function priceFor(address oracle, address asset, bool requireFresh) internal view returns (uint256) {
        return requireFresh ? fresh(oracle, asset) : IAaveOracle(oracle).getAssetPrice(asset);
    }

    /// @notice `asset`'s price if fresh, else `instead` (checkTriggers passes the entry price: a stale
    ///         price reads as no move, so neither stop-loss nor take-profit fires on it).
    function priceOr(address oracle, address asset, uint256 instead) internal view returns (uint256) {
        (uint256 p,,, bool stale) = status(oracle, asset);
        return stale ? instead : p;
    }
}
