"""`macrostrike.cli.common.connected`: which failed connections are tried again.

A local node that Ape starts itself and that does not answer within Ape's 20 s (RPCTimeoutError) is
started again, up to NODE_START_ATTEMPTS in all; any other failure fails at once with one line,
unless the caller asked for retries (``keeper run``). The last slow-suite CI run (8efd255) lost
`test_deploy_safety`'s deploy to one such timed-out Anvil start on the loaded 2-core machine.
No chain: Ape's network choice is replaced by contexts that fail as told.
"""

from types import SimpleNamespace

import pytest
from ape.exceptions import ProviderError, RPCTimeoutError

from macrostrike.cli.common import NODE_START_ATTEMPTS, UserError, connected


class Contexts:
    """Stands in for ``networks.parse_network_choice``: each call's context enters with the next outcome."""

    def __init__(self, outcomes):
        self.outcomes, self.made, self.exited = list(outcomes), 0, 0

    def __call__(self, _network):
        self.made += 1
        outcome = self.outcomes.pop(0)
        parent = self

        class Context:
            def __enter__(self):
                if isinstance(outcome, Exception):
                    raise outcome
                return outcome

            def __exit__(self, *_exc):
                parent.exited += 1

        return Context()


def timed_out():
    return RPCTimeoutError(SimpleNamespace(process_name="anvil"), seconds=20)


@pytest.fixture
def contexts(monkeypatch):
    from ape import networks

    def install(outcomes):
        fake = Contexts(outcomes)
        monkeypatch.setattr(networks, "parse_network_choice", fake)
        return fake

    return install


def test_a_node_start_that_timed_out_is_tried_again(contexts):
    fake = contexts([timed_out(), timed_out(), "provider"])
    with connected("ethereum:local:foundry") as provider:
        assert provider == "provider"
    assert fake.made == NODE_START_ATTEMPTS == 3 and fake.exited == 1


def test_a_node_start_that_always_times_out_is_one_line(contexts):
    fake = contexts([timed_out()] * NODE_START_ATTEMPTS)
    with pytest.raises(UserError, match=r"^cannot connect to network 'ethereum:local:foundry': Timed out waiting "
                                        r"for successful RPC connection to the 'anvil' process \(20 seconds\)\. — "
                                        r"check --network"):
        with connected("ethereum:local:foundry"):
            pass
    assert fake.made == NODE_START_ATTEMPTS


def test_other_failures_are_not_tried_again(contexts):
    fake = contexts([ProviderError("connection refused")])
    with pytest.raises(UserError, match="connection refused"):
        with connected("http://127.0.0.1:1"):
            pass
    assert fake.made == 1


def test_a_daemon_start_tries_any_failure_again(contexts):
    fake = contexts([ProviderError("503"), ProviderError("503"), "provider"])
    with connected("http://127.0.0.1:1", retries=2) as provider:
        assert provider == "provider"
    assert fake.made == 3
