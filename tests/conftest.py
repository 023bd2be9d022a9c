"""Shared fixtures. Ape's pytest plugin provides `accounts`, `chain`, `project`, `networks`.

Test-module-specific deployments live in their own modules (or a module-level fixture) so
suites stay independent; Ape isolates each test with a chain snapshot.
"""

import pytest


@pytest.fixture(scope="session")
def owner(accounts):
    """Deployer and owner of every diamond (Anvil test account 0)."""
    return accounts[0]


@pytest.fixture(scope="session")
def keeper(accounts):
    """A registered keeper (Anvil test account 1)."""
    return accounts[1]


@pytest.fixture(scope="session")
def stranger(accounts):
    """An account with no role anywhere (Anvil test account 9)."""
    return accounts[9]
