// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title HookToken
/// @notice TEST ONLY (tests/test_strike.py). A mintable ERC-20 (8 decimals) with a transfer hook:
///         once armed, every transfer *from* `target` first calls `target` with `payload` (e.g.
///         StrikeFacet.closePosition) — the shape of an ERC-777-style callback token trying to
///         re-enter the diamond in the middle of an operation. A failing callback reverts the
///         transfer with the callee's revert data, so the caller sees the callee's error.
contract HookToken is ERC20 {
    address public target;
    bytes public payload;
    bool public armed;

    event Armed(address indexed target, bytes payload);

    constructor() ERC20("Hook Token (test)", "HOOK") {}

    function decimals() public pure override returns (uint8) {
        return 8;
    }

    /// @notice Mints `amount` to `to` (anyone: test token).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arms the hook: transfers from `target_` will call `target_` with `payload_` first.
    function arm(address target_, bytes calldata payload_) external {
        target = target_;
        payload = payload_;
        armed = true;
        emit Armed(target_, payload_);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (armed && from == target && from != address(0)) {
            armed = false; // one shot
            (bool ok, bytes memory ret) = target.call(payload);
            if (!ok) {
                assembly {
                    revert(add(ret, 32), mload(ret))
                }
            }
        }
        super._update(from, to, value);
    }
}
