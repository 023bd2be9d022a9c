// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title IPositionHolder
/// @notice One isolated Aave V3 position per strike bot. Only its owner (the child diamond that
///         created it) may supply, borrow (variable rate), repay and withdraw; there is no generic
///         call. Borrowed and withdrawn tokens go to the owner; supplies and repayments are pulled
///         from the owner (it must approve the holder first). Amounts are the asset's base units.
interface IPositionHolder {
    /// @notice The caller is not the holder's owner.
    error NotOwner(address caller);
    /// @notice A zero address was given for the owner, the pool or an asset.
    error ZeroAddress();
    /// @notice The amount is zero.
    error ZeroAmount();
    /// @notice `repay` was called for an asset the holder owes nothing in.
    error NoDebt(address asset);

    /// @notice The holder was created for `owner` on Aave pool `pool`.
    event PositionHolderCreated(address indexed owner, address indexed pool);
    /// @notice `amount` of `asset` was pulled from the owner and supplied to Aave as collateral.
    event Supplied(address indexed asset, uint256 amount);
    /// @notice `amount` of `asset` was borrowed at the variable rate and sent to the owner.
    event Borrowed(address indexed asset, uint256 amount);
    /// @notice `amount` of `asset` debt was repaid with tokens pulled from the owner; `debtLeft` remains.
    event Repaid(address indexed asset, uint256 amount, uint256 debtLeft);
    /// @notice `amount` of `asset` collateral was withdrawn from Aave to the owner.
    event Withdrawn(address indexed asset, uint256 amount);

    /// @notice The only account allowed to operate the position (the creating child diamond).
    function owner() external view returns (address);

    /// @notice The Aave V3 Pool (proxy) the position lives in.
    function pool() external view returns (address);

    /// @notice Pulls `amount` of `asset` from the owner and supplies it to Aave on the holder's behalf.
    /// @dev Reverts NotOwner, ZeroAmount, or with Aave's error string (e.g. reserve frozen).
    function supply(address asset, uint256 amount) external;

    /// @notice Borrows `amount` of `asset` at the variable rate against the holder's collateral; sends it to the owner.
    /// @dev Reverts NotOwner, ZeroAmount, or with Aave's error ("35" = health factor would fall below 1, "36" = collateral can't cover).
    function borrow(address asset, uint256 amount) external;

    /// @notice Repays up to `amount` of the holder's variable debt in `asset` with tokens pulled from the owner.
    ///         Pulls only what is owed (`amount` above the debt, e.g. type(uint256).max, repays it all).
    /// @return repaid Amount of `asset` repaid.
    function repay(address asset, uint256 amount) external returns (uint256 repaid);

    /// @notice Withdraws `amount` of `asset` collateral (type(uint256).max = all) to the owner.
    /// @return withdrawn Amount of `asset` sent to the owner.
    function withdraw(address asset, uint256 amount) external returns (uint256 withdrawn);

    /// @notice Variable debt of the holder in `asset` (base units, interest included up to this block).
    function debtOf(address asset) external view returns (uint256);

    /// @notice aToken balance of the holder in `asset` (base units, interest included).
    function collateralOf(address asset) external view returns (uint256);

    /// @notice `Pool.getUserAccountData(holder)`: collateral, debt and borrowable amounts in base currency
    ///         (USD, 8 decimals), liquidation threshold and LTV in bps, health factor as a wad.
    function accountData()
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
}
