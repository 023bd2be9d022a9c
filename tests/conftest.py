"""Shared fixtures. Ape's pytest plugin provides `accounts`, `chain`, `project`, `networks`.

Test-module-specific deployments live in their own modules (or a module-level fixture) so
suites stay independent; Ape isolates each test with a chain snapshot.
"""

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def deployments_dir(tmp_path_factory):
    """Keep the tests' deployment manifests out of the project's deployments/ folder."""
    path = tmp_path_factory.mktemp("deployments")
    previous = os.environ.get("MACROSTRIKE_DEPLOYMENTS")
    os.environ["MACROSTRIKE_DEPLOYMENTS"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("MACROSTRIKE_DEPLOYMENTS", None)
    else:
        os.environ["MACROSTRIKE_DEPLOYMENTS"] = previous


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


@pytest.fixture(scope="session", autouse=True)
def _session_accounts(owner, keeper, stranger):
    """Sets the session's account fixtures up before any test. Ape snapshots the chain per scope; a
    session fixture first requested after a module's snapshot makes it "rebase"
    (InvalidIsolationWarning): it restores the chain to before the module and deploys the module's
    fixtures again (test_allocation did so halfway, for ``keeper``)."""


# tools/anvil/anvil: the npm Anvil with its on-disk state cache in a folder removed after it exits.
ANVIL = Path(__file__).resolve().parents[1] / "tools/anvil/anvil"
SWEEP_STATES = Path(__file__).resolve().parents[1] / "tools/anvil/sweep-states"


def pytest_sessionfinish(session, exitstatus):
    """Remove the state caches of the session's Anvils that have exited (see tools/anvil/anvil)."""
    subprocess.run([str(SWEEP_STATES)], check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def start_anvil(*args: str) -> Iterator[str]:
    """A separate Anvil (extra CLI ``args``) on a free loopback port; yields its URI, stops it after."""
    port = free_port()
    proc = subprocess.Popen([str(ANVIL), "--port", str(port), "--silent", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("anvil did not start within 20 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def anvil_node():
    """A separate Anvil on a free loopback port, for CLI tests run as subprocesses; yields its URI."""
    with start_anvil() as uri:
        yield uri


# -- a chain that behaves like a chain (tests/chain_harness.py) -------------------------------------
@pytest.fixture(scope="module")
def harness_chain():
    """A separate Anvil for one test module (``chain_harness.AnvilChain``: ``.uri``, ``.w3``)."""
    from chain_harness import anvil_chain

    with anvil_chain() as chain_:
        yield chain_


@pytest.fixture
def fault_proxy(harness_chain):
    """A ``chain_harness.FaultProxy`` (seed 0, no rules yet) in front of ``harness_chain``."""
    from chain_harness import FaultProxy

    with FaultProxy(harness_chain.uri, seed=0) as proxy:
        yield proxy
