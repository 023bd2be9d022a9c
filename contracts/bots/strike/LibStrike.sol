// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice The Aave V3 price oracle (`AaveOracle`): USD prices with 8 decimals in this project's market.
interface IAaveOracle {
    function getAssetPrice(address asset) external view returns (uint256);
    /// @notice The Chainlink feed AaveOracle reads for `asset` (address(0): its fallback oracle).
    function getSourceOfAsset(address asset) external view returns (address);
}

/// @title LibStrike
/// @notice Configuration, per-bot rules and positions of a strike child diamond (ERC-7201
///         "macrostrike.strike"). The same layout serves the long and the short child; `isLong`
///         picks the side. Prices are the Aave oracle's (USD, 8 decimals); amounts are token base
///         units (quote: USDC, 6 decimals; asset: WBTC, 8 decimals); ratios are basis points
///         (10,000 = 100 %); health factors are wads (1e18 = 1.0); times are seconds.
library LibStrike {
    // keccak256(abi.encode(uint256(keccak256("macrostrike.strike")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant STORAGE_SLOT = 0x694926bd5be94543564b20840af172fc5f6e3839311037ad11f4c3fdb4686000;

    uint256 internal constant BPS = 10_000;
    /// @notice Most positions a child keeps open at once (bounds the equity and exitAll loops).
    uint256 internal constant MAX_OPEN_POSITIONS = 50;

    // Rule defaults and bounds (issue 3 §2).
    uint16 internal constant DEFAULT_MAX_LEVERAGE_BPS = 50_000;
    uint16 internal constant MIN_LEVERAGE_BPS = 10_000;
    uint16 internal constant MAX_LEVERAGE_BOUND_BPS = 50_000;
    uint16 internal constant DEFAULT_STOP_LOSS_BPS = 250;
    uint16 internal constant MIN_STOP_LOSS_BPS = 200;
    uint16 internal constant MAX_STOP_LOSS_BPS = 300;
    uint64 internal constant DEFAULT_MIN_HEALTH_FACTOR = 1.15e18;
    uint64 internal constant MIN_HEALTH_FACTOR_BOUND = 1.05e18;
    uint64 internal constant MAX_HEALTH_FACTOR_BOUND = 2e18;
    uint32 internal constant DEFAULT_MAX_HOLD_SECONDS = 7 days;
    /// @notice 5 minutes: the time protocol's 55-minute hard expiry must be expressible (issue 15 §4).
    uint32 internal constant MIN_HOLD_BOUND = 5 minutes;
    uint32 internal constant MAX_HOLD_BOUND = 30 days;
    uint16 internal constant DEFAULT_SLIPPAGE_BPS = 100;
    uint16 internal constant MIN_SLIPPAGE_BPS = 1;
    uint16 internal constant MAX_SLIPPAGE_BPS = 1_000;

    /// @notice Where a strike child trades. `pool`: Aave V3 Pool proxy; `pair`: Uniswap V2 pair of
    ///         `asset`/`quote`; `oracle`: AaveOracle (getAssetPrice, USD 8 decimals).
    struct Config {
        bool isLong;
        address pool;
        address pair;
        address asset;
        address quote;
        address oracle;
    }

    /// @notice One bot's on-chain rules. `minPoolQuote`/`maxPoolQuote`: band of the pair's quote
    ///         reserve (quote base units) inside which the bot may open or increase.
    struct Rules {
        uint16 maxLeverageBps;
        uint16 stopLossBps;
        uint64 minHealthFactor;
        uint32 maxHoldSeconds;
        uint16 slippageBps;
        uint256 minPoolQuote;
        uint256 maxPoolQuote;
    }

    /// @notice One bot's position. `marginQuote`: quote base units still at stake (cost basis);
    ///         `entryPrice`: oracle price at entry (margin-weighted over increases, 8 decimals);
    ///         `tpStage`: take-profit stages taken (0..4).
    struct Position {
        uint128 marginQuote;
        uint128 entryPrice;
        uint64 openedAt;
        uint8 tpStage;
        bool open;
    }

    /// @custom:storage-location erc7201:macrostrike.strike
    struct StrikeStorage {
        Config config;
        uint8 assetDecimals;
        uint8 quoteDecimals;
        /// the pair's token order, kept by setStrikeConfig (issue 12, gas: a context reads it with
        /// the decimals, one slot, instead of asking the pair for token0): QUOTE_IS_TOKEN0,
        /// QUOTE_IS_TOKEN1, or 0 on a diamond configured before this field (ask the pair)
        uint8 quoteOrder;
        mapping(uint256 => Rules) rules;
        mapping(uint256 => bool) rulesSet;
        mapping(uint256 => Position) positions;
        /// size recorded with LibRiskLimits (recordOpen / increases), released by recordClose;
        /// meaningful while the bot's position is open only: a close leaves the last figure in
        /// place (issue 12, gas: the next open then writes non-zero over non-zero, 2,900 instead
        /// of 20,000 gas) and every reader checks Position.open first
        mapping(uint256 => uint256) riskSize;
        /// bot ids with an open position (<= MAX_OPEN_POSITIONS)
        uint256[] openBots;
        /// bot id -> index in openBots + 1 (0 = not listed)
        mapping(uint256 => uint256) openIndex;
        /// asset -> maximum age of its oracle answer (s; 0 = LibPrice's default), issue 11
        mapping(address => uint32) maxPriceAge;
    }

    /// @notice StrikeStorage.quoteOrder values.
    uint8 internal constant QUOTE_IS_TOKEN0 = 1;
    uint8 internal constant QUOTE_IS_TOKEN1 = 2;

    function strikeStorage() internal pure returns (StrikeStorage storage s) {
        bytes32 slot = STORAGE_SLOT;
        assembly {
            s.slot := slot
        }
    }

    /// @notice The defaults of every rule (liquidity band: no bound).
    function defaultRules() internal pure returns (Rules memory) {
        return Rules(
            DEFAULT_MAX_LEVERAGE_BPS,
            DEFAULT_STOP_LOSS_BPS,
            DEFAULT_MIN_HEALTH_FACTOR,
            DEFAULT_MAX_HOLD_SECONDS,
            DEFAULT_SLIPPAGE_BPS,
            0,
            type(uint256).max
        );
    }

    /// @notice Bot `botId`'s rules (the defaults until setRules).
    function rulesOf(uint256 botId) internal view returns (Rules memory) {
        StrikeStorage storage s = strikeStorage();
        return s.rulesSet[botId] ? s.rules[botId] : defaultRules();
    }

    /// @notice openIndex of a bot taken off the open list (issue 12, gas). 0 is "never listed";
    ///         unlistOpen writes this instead of deleting, so the bot's next open writes non-zero
    ///         over non-zero (EIP-2200: 2,900 instead of 20,000 gas). Both mean "not listed".
    uint256 internal constant UNLISTED = type(uint256).max;

    /// @notice Whether `botId` is on the open list.
    function isListed(StrikeStorage storage s, uint256 botId) internal view returns (bool) {
        uint256 idx = s.openIndex[botId];
        return idx != 0 && idx != UNLISTED;
    }

    /// @notice Adds `botId` to the open list. Returns false if the list is full.
    function listOpen(uint256 botId) internal returns (bool) {
        StrikeStorage storage s = strikeStorage();
        if (isListed(s, botId)) return true;
        if (s.openBots.length >= MAX_OPEN_POSITIONS) return false;
        s.openBots.push(botId);
        s.openIndex[botId] = s.openBots.length;
        return true;
    }

    /// @notice Removes `botId` from the open list (swap and pop). The length shrinks without
    ///         clearing the element past the new end (issue 12, gas): no reader goes beyond the
    ///         length (Solidity checks every index), and the next push writes non-zero over
    ///         non-zero (2,900 gas) instead of zero to non-zero (20,000).
    function unlistOpen(uint256 botId) internal {
        StrikeStorage storage s = strikeStorage();
        if (!isListed(s, botId)) return;
        uint256 idx = s.openIndex[botId];
        uint256 lastPos = s.openBots.length - 1;
        uint256 last = s.openBots[lastPos];
        s.openBots[idx - 1] = last;
        s.openIndex[last] = idx;
        s.openIndex[botId] = UNLISTED;
        uint256[] storage list = s.openBots;
        assembly {
            sstore(list.slot, lastPos) // the length; the element at lastPos is left as it was
        }
    }
}
