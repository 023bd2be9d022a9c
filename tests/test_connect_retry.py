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

    def __init__(self, outcomes, host="auto"):
        self.outcomes, self.made, self.exited = list(outcomes), 0, 0
        self.provider = SimpleNamespace(settings=SimpleNamespace(host=host), _host=None)
        self.hosts_at_start = []

    def __call__(self, _network):
        self.made += 1
        outcome = self.outcomes.pop(0)
        parent = self
        provider = self.provider

        class Context:
            _provider = provider

            def __enter__(self):
                parent.hosts_at_start.append(provider._host)
                provider._host = "http://127.0.0.1:50000"  # what ape-foundry keeps after picking a port
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

    def install(outcomes, host="auto"):
        fake = Contexts(outcomes, host)
        monkeypatch.setattr(networks, "parse_network_choice", fake)
        return fake

    return install


def test_a_node_start_that_timed_out_is_tried_again(contexts):
    fake = contexts([timed_out(), timed_out(), "provider"])
    with connected("ethereum:local:foundry") as provider:
        assert provider == "provider"
    assert fake.made == NODE_START_ATTEMPTS == 3 and fake.exited == 1
    # each retry picks a new random port: the one that timed out may be held by another socket
    assert fake.hosts_at_start == [None, "auto", "auto"]


def test_a_configured_host_is_kept_for_the_retry(contexts):
    fake = contexts([timed_out(), "provider"], host="127.0.0.1:8545")
    with connected("ethereum:local:foundry"):
        pass
    assert fake.hosts_at_start == [None, "http://127.0.0.1:50000"]


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
