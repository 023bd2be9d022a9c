// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IAaveV3Pool} from "./interfaces/IAaveV3Pool.sol";
import {IPositionHolder} from "./interfaces/IPositionHolder.sol";

/// @title PositionHolder
/// @notice Minimal holder of one strike bot's Aave V3 position, so that each bot's collateral,
///         debt and health factor are isolated from every other bot's. Created by the child
///         diamond (e.g. `new PositionHolder{salt: bytes32(botId)}(address(this), pool)`), which is
///         its immutable owner. Exactly four operations exist — supply, variable-rate borrow, repay,
///         withdraw — each restricted to the owner; tokens only ever move between the owner, the
///         holder and the Aave pool. No storage: owner and pool are immutables.
contract PositionHolder is IPositionHolder {
    using SafeERC20 for IERC20;

    /// @dev Aave V3 `DataTypes.InterestRateMode.VARIABLE`.
    uint256 private constant VARIABLE_RATE = 2;

    /// @inheritdoc IPositionHolder
    address public immutable owner;
    IAaveV3Pool private immutable _pool;

    /// @param owner_ The account allowed to operate the position (the creating diamond).
    /// @param pool_ The Aave V3 Pool proxy (`PoolAddressesProvider.getPool()`).
    constructor(address owner_, address pool_) {
        if (owner_ == address(0) || pool_ == address(0)) revert ZeroAddress();
        owner = owner_;
        _pool = IAaveV3Pool(pool_);
        emit PositionHolderCreated(owner_, pool_);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    /// @inheritdoc IPositionHolder
    function pool() external view returns (address) {
        return address(_pool);
    }

    /// @inheritdoc IPositionHolder
    function supply(address asset, uint256 amount) external onlyOwner {
        if (amount == 0) revert ZeroAmount();
        emit Supplied(asset, amount);
        IERC20(asset).safeTransferFrom(msg.sender, address(this), amount);
        IERC20(asset).forceApprove(address(_pool), amount);
        _pool.supply(asset, amount, address(this), 0);
    }

    /// @inheritdoc IPositionHolder
    function borrow(address asset, uint256 amount) external onlyOwner {
        if (amount == 0) revert ZeroAmount();
        emit Borrowed(asset, amount);
        _pool.borrow(asset, amount, VARIABLE_RATE, 0, address(this));
        IERC20(asset).safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IPositionHolder
    function repay(address asset, uint256 amount) external onlyOwner returns (uint256 repaid) {
        if (amount == 0) revert ZeroAmount();
        uint256 debt = debtOf(asset);
        if (debt == 0) revert NoDebt(asset);
        uint256 pull = amount < debt ? amount : debt;
        IERC20(asset).safeTransferFrom(msg.sender, address(this), pull);
        IERC20(asset).forceApprove(address(_pool), pull);
        repaid = _pool.repay(asset, pull, VARIABLE_RATE, address(this));
        emit Repaid(asset, repaid, debt - repaid);
    }

    /// @inheritdoc IPositionHolder
    function withdraw(address asset, uint256 amount) external onlyOwner returns (uint256 withdrawn) {
        if (amount == 0) revert ZeroAmount();
        withdrawn = _pool.withdraw(asset, amount, msg.sender);
        emit Withdrawn(asset, withdrawn);
    }

    /// @inheritdoc IPositionHolder
    function debtOf(address asset) public view returns (uint256) {
        address debtToken = _pool.getReserveData(asset).variableDebtTokenAddress;
        return debtToken == address(0) ? 0 : IERC20(debtToken).balanceOf(address(this));
    }

    /// @inheritdoc IPositionHolder
    function collateralOf(address asset) external view returns (uint256) {
        address aToken = _pool.getReserveData(asset).aTokenAddress;
        return aToken == address(0) ? 0 : IERC20(aToken).balanceOf(address(this));
    }

    /// @inheritdoc IPositionHolder
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
        )
    {
        return _pool.getUserAccountData(address(this));
    }
}
