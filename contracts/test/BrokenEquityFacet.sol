// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title BrokenEquityFacet
/// @notice Test only: cut into a child diamond (Replace of `equity()`) it makes the child one the
///         master cannot value — every equity() call reverts, as a child with a broken oracle or a
///         bad upgrade would. Used by tests/test_unvaluable_child.py.
contract BrokenEquityFacet {
    /// @notice The child's equity cannot be computed.
    error EquityUnavailable();

    function equity() external pure returns (uint256) {
        revert EquityUnavailable();
    }
}
