"""Helpers for the upgrade, storage-layout and inspector tests.

Small Solidity sources made for the tests live here as strings: several versions of one ERC-7201
namespace cannot sit side by side in contracts/ (tests/test_storage_namespaces.py requires every
namespace id there to be unique), so they are compiled with solc standard-json on their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ethpm_types import ContractType

from macrostrike.upgrade.layout import compile_standard, erc7201_slot

ROOT = Path(__file__).resolve().parents[1]
COUNTER_NS = "macrostrike.test.counter"
SLOT = erc7201_slot(COUNTER_NS)


def counter_source(fields: str, extra: str = "", functions: str = "", facet: str = "CounterVariantFacet") -> str:
    """A library + facet ``facet`` (+ UnrelatedFacet) using namespace macrostrike.test.counter with struct body ``fields``."""
    return f"""// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;
{extra}
library LibCounterVariant {{
    bytes32 internal constant STORAGE_SLOT = {SLOT};

    /// @custom:storage-location erc7201:{COUNTER_NS}
    struct CounterStorage {{
{fields}
    }}

    function layout() internal pure returns (CounterStorage storage s) {{
        bytes32 slot = STORAGE_SLOT;
        assembly {{
            s.slot := slot
        }}
    }}
}}

contract {facet} {{
    function count() external view returns (uint256) {{
        return uint256(LibCounterVariant.layout().count);
    }}
    function increment() external returns (uint256) {{
        LibCounterVariant.layout().count += 1;
        return uint256(LibCounterVariant.layout().count);
    }}
{functions}
}}

contract Unrelated{facet} {{
    function ping() external pure returns (uint256) {{
        return 7;
    }}
}}
"""


#: the layout of contracts/test/upgrade/UpgradeCounter.sol's CounterStorage
V1_FIELDS = """        uint256 count;
        address lastCaller;
        uint64 step;"""

VARIANTS = {
    "append": V1_FIELDS + "\n        uint256 total;\n        mapping(address => uint256) perCaller;",
    "reorder": """        address lastCaller;
        uint256 count;
        uint64 step;""",
    "retype": """        uint256 count;
        uint160 lastCaller;
        uint64 step;""",
    "resize": """        uint256 count;
        address lastCaller;
        uint128 step;""",
    "remove": """        uint256 count;
        uint64 step;""",
    "rename": """        uint256 count;
        address previousCaller;
        uint64 step;""",
    "insert": """        uint256 count;
        uint256 inserted;
        address lastCaller;
        uint64 step;""",
}


def compile_contracts(sources: dict[str, str]) -> dict[str, ContractType]:
    """Compile in-memory sources with solc standard-json (imports resolve under the project root).

    Returns name -> ethpm ContractType with ABI, creation and runtime bytecode (deployable with Ape).
    """
    out = compile_standard(sources, ROOT, {"*": {"*": ["abi", "evm.bytecode.object",
                                                        "evm.deployedBytecode.object"]}})
    types = {}
    for path, contracts in out["contracts"].items():
        if path not in sources:
            continue
        for name, c in contracts.items():
            types[name] = ContractType.model_validate({
                "contractName": name, "sourceId": path, "abi": c["abi"],
                "deploymentBytecode": {"bytecode": "0x" + c["evm"]["bytecode"]["object"]},
                "runtimeBytecode": {"bytecode": "0x" + c["evm"]["deployedBytecode"]["object"]},
            })
    return types


SOLIDSTATE_HARNESS = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;
import {SolidStateDiamond} from "node_modules/@solidstate/contracts/proxy/diamond/SolidStateDiamond.sol";

/// @notice Solidstate's reference diamond (abstract in the package) made concrete, unchanged.
contract SolidStateHarness is SolidStateDiamond {}
"""


def solidstate_diamond_type() -> ContractType:
    """Solidstate's SolidStateDiamond (npm @solidstate/contracts 0.0.59), compiled with our solc."""
    return compile_contracts({"tests/SolidStateHarness.sol": SOLIDSTATE_HARNESS})["SolidStateHarness"]


def deploy_type(account: Any, contract_type: ContractType, *args: Any) -> Any:
    """Deploy an ethpm ContractType (e.g. from :func:`compile_contracts`) with Ape."""
    from ape.contracts import ContractContainer

    return account.deploy(ContractContainer(contract_type), *args)
