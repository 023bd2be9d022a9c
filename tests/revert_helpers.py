"""One way to assert a revert with a named custom error, for every test module."""

from contextlib import contextmanager

import pytest
from ape.exceptions import ContractLogicError


@contextmanager
def reverts_named(error: str, **fields):
    """The block reverts with custom error ``error`` as Ape decodes it (also one call deeper, from
    the facet's ABI), with ``fields`` equal to its decoded inputs; yields pytest's ExceptionInfo."""
    with pytest.raises(ContractLogicError) as info:
        yield info
    err = info.value
    assert type(err).__name__ == error, f"expected {error}, got {type(err).__name__}: {err}"
    for key, value in fields.items():
        assert err.inputs[key] == value, (key, err.inputs)
