// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Diamond} from "../diamond/Diamond.sol";
import {IDiamond} from "../diamond/interfaces/IDiamond.sol";

// Test-only contracts for the diamond core tests. Never deployed by scripts/deploy.py.

/// @notice Six functions answering 100 + n: the "X" implementation of a shared selector pool.
contract TestFacetX {
    function f1() external pure returns (uint256) { return 101; }
    function f2() external pure returns (uint256) { return 102; }
    function f3() external pure returns (uint256) { return 103; }
    function f4() external pure returns (uint256) { return 104; }
    function f5() external pure returns (uint256) { return 105; }
    function f6() external pure returns (uint256) { return 106; }
}

/// @notice The same six selectors answering 200 + n: the "Y" implementation.
contract TestFacetY {
    function f1() external pure returns (uint256) { return 201; }
    function f2() external pure returns (uint256) { return 202; }
    function f3() external pure returns (uint256) { return 203; }
    function f4() external pure returns (uint256) { return 204; }
    function f5() external pure returns (uint256) { return 205; }
    function f6() external pure returns (uint256) { return 206; }
}

/// @notice The same six selectors answering 300 + n: the "Z" implementation.
contract TestFacetZ {
    function f1() external pure returns (uint256) { return 301; }
    function f2() external pure returns (uint256) { return 302; }
    function f3() external pure returns (uint256) { return 303; }
    function f4() external pure returns (uint256) { return 304; }
    function f5() external pure returns (uint256) { return 305; }
    function f6() external pure returns (uint256) { return 306; }
}

/// @notice Init contracts: one that emits, one that reverts with data, one without.
contract TestInit {
    error InitFailed(uint256 code);

    event Initialized(uint256 value);

    function init(uint256 value) external {
        emit Initialized(value);
    }

    function failWithData(uint256 code) external pure {
        revert InitFailed(code);
    }

    function failWithoutData() external pure {
        revert();
    }
}

/// @notice A diamond with one immutable function (routed to the diamond itself at construction).
contract TestImmutableDiamond is Diamond {
    constructor(address owner_, IDiamond.FacetCut[] memory cuts)
        Diamond(owner_, _withImmutable(cuts), address(0), "")
    {}

    function immutableFn() external pure returns (uint256) {
        return 42;
    }

    function _withImmutable(IDiamond.FacetCut[] memory cuts) private view returns (IDiamond.FacetCut[] memory all) {
        all = new IDiamond.FacetCut[](cuts.length + 1);
        for (uint256 i; i < cuts.length; ++i) {
            all[i] = cuts[i];
        }
        bytes4[] memory selectors = new bytes4[](1);
        selectors[0] = this.immutableFn.selector;
        all[cuts.length] = IDiamond.FacetCut(address(this), IDiamond.FacetCutAction.Add, selectors);
    }
}
