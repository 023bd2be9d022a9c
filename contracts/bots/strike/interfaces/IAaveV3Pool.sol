// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IAaveV3Pool
/// @notice The few Aave V3 Pool functions the position holders call, declared here because
///         Aave's own interfaces are not an Ape dependency of this project. Signatures and
///         semantics as in `IPool.sol` / `DataTypes.sol` of the npm package aave/core-v3 1.19.3,
///         https://github.com/aave/aave-v3-core/blob/v1.19.3/contracts/interfaces/IPool.sol .
///         Amounts are in the asset's base units; `*Base` values are in the oracle's base
///         currency (USD with 8 decimals in this project's market); the health factor is a wad (1e18).
interface IAaveV3Pool {
    /// @notice `DataTypes.ReserveData` of Aave V3 1.19.3 (field order matters for ABI decoding).
    struct ReserveData {
        uint256 configuration;
        uint128 liquidityIndex;
        uint128 currentLiquidityRate;
        uint128 variableBorrowIndex;
        uint128 currentVariableBorrowRate;
        uint128 currentStableBorrowRate;
        uint40 lastUpdateTimestamp;
        uint16 id;
        address aTokenAddress;
        address stableDebtTokenAddress;
        address variableDebtTokenAddress;
        address interestRateStrategyAddress;
        uint128 accruedToTreasury;
        uint128 unbacked;
        uint128 isolationModeTotalDebt;
    }

    /// @notice Supplies `amount` of `asset`, minting aTokens to `onBehalfOf` (pulls from msg.sender).
    function supply(address asset, uint256 amount, address onBehalfOf, uint16 referralCode) external;

    /// @notice Withdraws `amount` of `asset` (type(uint256).max = whole balance) to `to`; returns the amount.
    function withdraw(address asset, uint256 amount, address to) external returns (uint256);

    /// @notice Borrows `amount` of `asset` at `interestRateMode` (1 stable, 2 variable) against `onBehalfOf`'s collateral.
    function borrow(address asset, uint256 amount, uint256 interestRateMode, uint16 referralCode, address onBehalfOf)
        external;

    /// @notice Repays up to `amount` of `onBehalfOf`'s debt in `asset` (pulls from msg.sender); returns the amount repaid.
    function repay(address asset, uint256 amount, uint256 interestRateMode, address onBehalfOf)
        external
        returns (uint256);

    /// @notice Account totals in base currency, weighted liquidation threshold and LTV (bps), health factor (wad).
    function getUserAccountData(address user)
        external
        view
        returns (
            uint256 totalCollateralBase,
            uint256 totalDebtBase,
            uint256 availableBorrowsBase,
            uint256 currentLiquidationThreshold,
            uint256 ltv,
            uint256 healthFactor
        );

    /// @notice State of the reserve of `asset` (token addresses, indexes, rates).
    function getReserveData(address asset) external view returns (ReserveData memory);
}
