// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {LibDiamond} from "../../../diamond/libraries/LibDiamond.sol";
import {IUniswapV2PairMinimal} from "../../interfaces/IUniswapV2PairMinimal.sol";
import {LibBots} from "../../libraries/LibBots.sol";
import {IAaveV3Pool} from "../interfaces/IAaveV3Pool.sol";
import {LibPositions} from "../LibPositions.sol";
import {LibPrice} from "../LibPrice.sol";
import {LibStrike, IAaveOracle} from "../LibStrike.sol";

/// @title StrikeConfigFacet
/// @notice Configuration and views of a strike child (long or short): where it trades
///         (setStrikeConfig), each bot's rules (setRules, validated against LibStrike's bounds) and
///         read-only views of the positions. Trading is StrikeFacet's; both facets share
///         LibStrike's ERC-7201 storage "macrostrike.strike".
///         Prices: Aave oracle, USD 8 decimals; amounts: token base units; ratios: bps; HF: wad.
contract StrikeConfigFacet {
    /// @notice A rule value is outside [min, max].
    error RuleOutOfBounds(string name, uint256 value, uint256 min, uint256 max);
    /// @notice The strike configuration is invalid (`reason` names the problem).
    error InvalidStrikeConfig(string reason);
    /// @notice The configuration cannot change while `count` positions are open.
    error OpenPositionsExist(uint256 count);

    event StrikeConfigSet(bool isLong, address pool, address pair, address asset, address quote, address oracle);
    event RulesSet(uint256 indexed botId, LibStrike.Rules rules);
    /// @notice The oldest oracle answer for `asset` this child trades on is now `maxAge` seconds.
    event MaxPriceAgeSet(address indexed asset, uint256 maxAge);

    // ----------------------------------------------------------------------------------------
    // configuration
    // ----------------------------------------------------------------------------------------

    /// @notice Sets (or replaces, while no position is open) where this child trades. Owner only.
    ///         Binds the diamond's Aave pool (StrikePositionsFacet) on first use; later configs must
    ///         name the same pool. `quote` must be the bots' capital token; `pair` must hold exactly
    ///         `asset` and `quote`; the oracle must price both.
    /// @dev Reverts NotContractOwner, OpenPositionsExist, InvalidStrikeConfig.
    function setStrikeConfig(LibStrike.Config calldata c) external {
        LibDiamond.enforceIsContractOwner();
        LibStrike.StrikeStorage storage s = LibStrike.strikeStorage();
        if (s.openBots.length != 0) revert OpenPositionsExist(s.openBots.length);
        if (c.pool == address(0) || c.pair == address(0) || c.asset == address(0) || c.oracle == address(0)) {
            revert InvalidStrikeConfig("zero address");
        }
        if (c.quote != address(LibBots.botStorage().quoteToken)) revert InvalidStrikeConfig("quote is not the capital token");
        if (c.asset == c.quote) revert InvalidStrikeConfig("asset equals quote");
        if (c.pair.code.length == 0) revert InvalidStrikeConfig("pair has no code");
        address t0 = IUniswapV2PairMinimal(c.pair).token0();
        address t1 = IUniswapV2PairMinimal(c.pair).token1();
        if (!((t0 == c.quote && t1 == c.asset) || (t0 == c.asset && t1 == c.quote))) {
            revert InvalidStrikeConfig("pair tokens are not asset/quote");
        }
        if (IAaveOracle(c.oracle).getAssetPrice(c.asset) == 0 || IAaveOracle(c.oracle).getAssetPrice(c.quote) == 0) {
            revert InvalidStrikeConfig("oracle has no price");
        }
        address bound = LibPositions.positionStorage().pool;
        if (bound == address(0)) LibPositions.setPool(c.pool);
        else if (bound != c.pool) revert InvalidStrikeConfig("pool differs from the holders' pool");
        s.config = c;
        s.assetDecimals = IERC20Metadata(c.asset).decimals();
        s.quoteDecimals = IERC20Metadata(c.quote).decimals();
        s.quoteOrder = t0 == c.quote ? LibStrike.QUOTE_IS_TOKEN0 : LibStrike.QUOTE_IS_TOKEN1;
        emit StrikeConfigSet(c.isLong, c.pool, c.pair, c.asset, c.quote, c.oracle);
    }

    /// @notice Sets bot `botId`'s rules. Owner only. Bounds: maxLeverageBps 10,000..50,000;
    ///         stopLossBps 200..300; minHealthFactor 1.05e18..2e18; maxHoldSeconds 300..2,592,000;
    ///         slippageBps 1..1,000; minPoolQuote ≤ maxPoolQuote.
    /// @dev Reverts NotContractOwner, UnknownBot, RuleOutOfBounds(name, value, min, max).
    function setRules(uint256 botId, LibStrike.Rules calldata r) external {
        LibDiamond.enforceIsContractOwner();
        LibBots.existingBot(botId);
        _bound("maxLeverageBps", r.maxLeverageBps, LibStrike.MIN_LEVERAGE_BPS, LibStrike.MAX_LEVERAGE_BOUND_BPS);
        _bound("stopLossBps", r.stopLossBps, LibStrike.MIN_STOP_LOSS_BPS, LibStrike.MAX_STOP_LOSS_BPS);
        _bound(
            "minHealthFactor", r.minHealthFactor, LibStrike.MIN_HEALTH_FACTOR_BOUND, LibStrike.MAX_HEALTH_FACTOR_BOUND
        );
        _bound("maxHoldSeconds", r.maxHoldSeconds, LibStrike.MIN_HOLD_BOUND, LibStrike.MAX_HOLD_BOUND);
        _bound("slippageBps", r.slippageBps, LibStrike.MIN_SLIPPAGE_BPS, LibStrike.MAX_SLIPPAGE_BPS);
        _bound("minPoolQuote", r.minPoolQuote, 0, r.maxPoolQuote);
        LibStrike.StrikeStorage storage s = LibStrike.strikeStorage();
        s.rules[botId] = r;
        s.rulesSet[botId] = true;
        emit RulesSet(botId, r);
    }

    /// @notice Sets the maximum age (seconds) of `asset`'s oracle answer on this child. Owner only.
    ///         Bounds 60..172,800 s. Defaults until set (LibPrice, after Chainlink's heartbeats):
    ///         the quote 90,000 s (USDC/USD 24 h + 1 h), any other asset 4,200 s (BTC/USD 1 h + 10 min).
    ///         Older answers refuse opening and increasing (StalePrice) and keep stop-loss and
    ///         take-profit from firing; closes go on (see LibPrice).
    /// @dev Reverts NotContractOwner, RuleOutOfBounds("maxPriceAge", …).
    function setMaxPriceAge(address asset, uint32 maxAge) external {
        LibDiamond.enforceIsContractOwner();
        _bound("maxPriceAge", maxAge, LibPrice.MIN_MAX_AGE, LibPrice.MAX_MAX_AGE);
        LibStrike.strikeStorage().maxPriceAge[asset] = maxAge;
        emit MaxPriceAgeSet(asset, maxAge);
    }

    // ----------------------------------------------------------------------------------------
    // views
    // ----------------------------------------------------------------------------------------

    /// @notice The maximum age (seconds) of `asset`'s oracle answer in force on this child.
    function maxPriceAge(address asset) external view returns (uint256) {
        return LibPrice.maxAgeOf(asset);
    }

    /// @notice `asset`'s latest feed answer (USD, 8 decimals; 0 if ≤ 0 or no feed), its update
    ///         time (unix s), the maxAge in force (s) and whether it is stale now. Never reverts for
    ///         staleness (a keeper reads it before acting); before setStrikeConfig: zeros, stale.
    function priceStatus(address asset)
        external
        view
        returns (uint256 price, uint256 updatedAt, uint256 maxAge, bool stale)
    {
        address oracle = LibStrike.strikeStorage().config.oracle;
        if (oracle == address(0)) return (0, 0, LibPrice.maxAgeOf(asset), true);
        return LibPrice.status(oracle, asset);
    }

    /// @notice The child's strike configuration (zero before setStrikeConfig).
    function strikeConfig() external view returns (LibStrike.Config memory) {
        return LibStrike.strikeStorage().config;
    }

    /// @notice Bot `botId`'s rules (the defaults until setRules).
    function rules(uint256 botId) external view returns (LibStrike.Rules memory) {
        return LibStrike.rulesOf(botId);
    }

    /// @notice Bot `botId`'s position record.
    function position(uint256 botId) external view returns (LibStrike.Position memory) {
        return LibStrike.strikeStorage().positions[botId];
    }

    /// @notice Ids of the bots with an open position (at most LibStrike.MAX_OPEN_POSITIONS).
    function openPositionIds() external view returns (uint256[] memory) {
        return LibStrike.strikeStorage().openBots;
    }

    /// @notice Bot `botId`'s position as Aave and the oracle see it now: collateral and debt of its
    ///         holder (USD, 8 decimals), health factor (wad; type(uint256).max without debt), equity
    ///         (collateral − debt, quote base units, 0 if negative), entry and current asset price
    ///         (8 decimals), take-profit stage and opening time. Zeros for a bot without a holder.
    ///         These are AaveOracle's answers whatever their age: `priceStatus` tells whether they
    ///         are stale.
    function positionState(uint256 botId)
        external
        view
        returns (
            bool open,
            uint256 collateralBase,
            uint256 debtBase,
            uint256 healthFactor,
            uint256 equityQuote,
            uint256 entryPrice,
            uint256 price,
            uint8 tpStage,
            uint64 openedAt
        )
    {
        LibStrike.StrikeStorage storage s = LibStrike.strikeStorage();
        LibStrike.Position storage p = s.positions[botId];
        (open, entryPrice, tpStage, openedAt) = (p.open, p.entryPrice, p.tpStage, p.openedAt);
        LibStrike.Config storage c = s.config;
        if (c.oracle == address(0)) return (open, 0, 0, 0, 0, entryPrice, 0, tpStage, openedAt);
        price = IAaveOracle(c.oracle).getAssetPrice(c.asset);
        address holder = LibPositions.positionStorage().holders[botId];
        if (holder == address(0)) return (open, 0, 0, 0, 0, entryPrice, price, tpStage, openedAt);
        (collateralBase, debtBase,,,, healthFactor) = IAaveV3Pool(c.pool).getUserAccountData(holder);
        if (collateralBase > debtBase) {
            equityQuote = (collateralBase - debtBase) * 10 ** s.quoteDecimals / IAaveOracle(c.oracle).getAssetPrice(c.quote);
        }
    }

    function _bound(string memory name, uint256 value, uint256 min, uint256 max) private pure {
        if (value < min || value > max) revert RuleOutOfBounds(name, value, min, max);
    }
}
