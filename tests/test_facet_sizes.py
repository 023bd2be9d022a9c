"""Runtime bytecode sizes of the deployed contracts against EIP-170's limit (24,576 bytes).

StrikeFacet sits near the limit (issue 11: keep its growth small, put new owner-only functions in a
separate facet). `ape test tests/test_facet_sizes.py -q -s` prints every size.
"""

import pytest

from macrostrike.deploy.system import CHILDREN, MASTER_FACETS, V3_AMM_FACETS

#: EIP-170: most bytes of runtime code a contract may have.
EIP170_LIMIT = 24_576
NAMES = sorted({*MASTER_FACETS, *(f for _, facets, _ in CHILDREN.values() for f in facets),
                *V3_AMM_FACETS, *(d for d, _, _ in CHILDREN.values()), "MasterDiamond", "PositionHolder"})


def runtime_size(project, name: str) -> int:
    code = getattr(project, name).contract_type.runtime_bytecode.bytecode or "0x"
    return (len(code) - 2) // 2


@pytest.mark.parametrize("name", NAMES)
def test_runtime_size_below_eip170(project, name):
    size = runtime_size(project, name)
    print(f"{name}: {size:,} bytes runtime ({EIP170_LIMIT - size:,} below EIP-170)")
    assert 0 < size <= EIP170_LIMIT
