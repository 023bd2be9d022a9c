// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {LibDiamond} from "../../diamond/libraries/LibDiamond.sol";
import {IChild} from "../../bots/interfaces/IChild.sol";
import {LibAllocation} from "../libraries/LibAllocation.sol";
import {LibMaster} from "../libraries/LibMaster.sol";
import {LibRisk} from "../libraries/LibRisk.sol";

/// @title TreasuryFacet
/// @notice The master's treasury: the owner deposits the quote stablecoin; the master funds bots
///         through their child, recalls capital, pauses children. Amounts: quote base units (USDC, 6 decimals).
///         The reserve fund (AllocationFacet) is part of the master's balance but not of the free
///         treasury: withdraw and funding take only balance − reserve fund. Deposits and
///         withdrawals rescale the risk references (LibRisk.scaleForFlow): they are not performance.
///         Once the risk references exist (after the first checkpoint), deposit and withdraw value
///         every child; while one cannot be valued (its equity() reverts) they revert
///         LibRisk.ChildNotValued(child): the rescale would use a wrong total equity.
contract TreasuryFacet {
    using SafeERC20 for IERC20;

    /// @notice Most bots one fundBots call may fund.
    uint256 public constant MAX_FUND_BATCH = 100;

    /// @notice Amount is zero.
    error ZeroAmount();
    /// @notice The treasury holds less than needed.
    error InsufficientTreasury(uint256 balance, uint256 required);
    /// @notice The batch is empty or larger than MAX_FUND_BATCH.
    error InvalidBatch(uint256 length);
    /// @notice Withdrawal to the zero address.
    error ZeroAddress();

    event Deposited(address indexed from, uint256 amount);
    event Withdrawn(address indexed to, uint256 amount);
    event BotFundingSent(address indexed child, uint256 indexed botId, uint256 amount);
    event CapitalRecallRequested(address indexed child, uint256 indexed botId, uint256 amount);
    event ChildPauseSet(address indexed child, bool paused);

    /// @notice Pulls `amount` quote tokens from the owner (approve first). Owner only.
    function deposit(uint256 amount) external {
        LibDiamond.enforceIsContractOwner();
        if (amount == 0) revert ZeroAmount();
        LibMaster.MasterStorage storage ms = LibMaster.masterStorage();
        if (LibRisk.riskStorage().started) {
            uint256 equityBefore = LibRisk.totalEquity();
            LibRisk.scaleForFlow(equityBefore, equityBefore + amount);
        }
        ms.totalDeposited += amount;
        emit Deposited(msg.sender, amount);
        ms.quoteToken.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Sends `amount` of the free treasury (balance − reserve fund) to `to`. Owner only.
    function withdraw(address to, uint256 amount) external {
        LibDiamond.enforceIsContractOwner();
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        LibMaster.MasterStorage storage ms = LibMaster.masterStorage();
        uint256 available = LibAllocation.freeTreasury();
        if (available < amount) revert InsufficientTreasury(available, amount);
        if (LibRisk.riskStorage().started) {
            uint256 equityBefore = LibRisk.totalEquity();
            LibRisk.scaleForFlow(equityBefore, equityBefore - amount);
        }
        ms.totalWithdrawn += amount;
        emit Withdrawn(to, amount);
        ms.quoteToken.safeTransfer(to, amount);
    }

    /// @notice Moves `amount` to `child` and assigns it to `botId` there. Owner only.
    function fundBot(address child, uint256 botId, uint256 amount) external {
        LibDiamond.enforceIsContractOwner();
        _fund(child, botId, amount);
    }

    /// @notice Funds each of `botIds` (<= MAX_FUND_BATCH) of `child` with `amountEach`. Owner only.
    function fundBots(address child, uint256[] calldata botIds, uint256 amountEach) external {
        LibDiamond.enforceIsContractOwner();
        if (botIds.length == 0 || botIds.length > MAX_FUND_BATCH) revert InvalidBatch(botIds.length);
        for (uint256 i; i < botIds.length; ++i) {
            _fund(child, botIds[i], amountEach);
        }
    }

    /// @notice Has `child` send `amount` of `botId`'s capital back to the treasury. Owner only.
    function recallCapital(address child, uint256 botId, uint256 amount) external {
        LibDiamond.enforceIsContractOwner();
        LibMaster.enforceChild(child);
        LibMaster.MasterStorage storage ms = LibMaster.masterStorage();
        uint256 allocated = ms.allocated[child];
        ms.allocated[child] = allocated > amount ? allocated - amount : 0;
        uint256 capital = LibAllocation.botCapital(child, botId);
        if (capital >= amount) LibAllocation.recordRecall(child, botId, capital, amount); // else the child reverts
        emit CapitalRecallRequested(child, botId, amount);
        IChild(child).recallCapital(botId, amount);
    }

    /// @notice Pauses `child` (its bots stop trading). Owner only.
    function pauseChild(address child) external {
        LibDiamond.enforceIsContractOwner();
        LibMaster.enforceChild(child);
        emit ChildPauseSet(child, true);
        IChild(child).pause();
    }

    /// @notice Unpauses `child`. Owner only.
    function unpauseChild(address child) external {
        LibDiamond.enforceIsContractOwner();
        LibMaster.enforceChild(child);
        emit ChildPauseSet(child, false);
        IChild(child).unpause();
    }

    function quoteToken() external view returns (address) {
        return address(LibMaster.masterStorage().quoteToken);
    }

    /// @notice Quote tokens held by the master (not yet assigned to any child), reserve fund included.
    function treasuryBalance() external view returns (uint256) {
        return LibMaster.masterStorage().quoteToken.balanceOf(address(this));
    }

    /// @notice Funded minus recalled for `child` (profits made by its bots are not included).
    function allocatedTo(address child) external view returns (uint256) {
        return LibMaster.masterStorage().allocated[child];
    }

    function totalDeposited() external view returns (uint256) {
        return LibMaster.masterStorage().totalDeposited;
    }

    function totalWithdrawn() external view returns (uint256) {
        return LibMaster.masterStorage().totalWithdrawn;
    }

    function _fund(address child, uint256 botId, uint256 amount) private {
        LibMaster.enforceChild(child);
        if (amount == 0) revert ZeroAmount();
        LibMaster.MasterStorage storage ms = LibMaster.masterStorage();
        uint256 available = LibAllocation.freeTreasury();
        if (available < amount) revert InsufficientTreasury(available, amount);
        ms.allocated[child] += amount;
        LibAllocation.recordFund(child, botId, LibAllocation.botCapital(child, botId), amount);
        emit BotFundingSent(child, botId, amount);
        ms.quoteToken.safeTransfer(child, amount);
        IChild(child).fundBot(botId, amount);
    }
}
