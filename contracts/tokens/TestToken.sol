// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title TestToken
/// @notice Mintable ERC-20 with settable decimals, standing in for USDC (6 decimals) and WBTC
///         (8 decimals) on local chains and testnets. Never deploy it as a real asset.
contract TestToken is ERC20, Ownable {
    uint8 private immutable _decimals;

    /// @param name_ Token name, e.g. "USD Coin (test)".
    /// @param symbol_ Token symbol, e.g. "USDC".
    /// @param decimals_ Number of decimals (USDC: 6, WBTC: 8).
    /// @param owner_ Account allowed to mint.
    constructor(string memory name_, string memory symbol_, uint8 decimals_, address owner_)
        ERC20(name_, symbol_)
        Ownable(owner_)
    {
        _decimals = decimals_;
    }

    /// @inheritdoc ERC20
    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Mints `amount` (token units) to `to`. Reverts with OwnableUnauthorizedAccount for others.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
