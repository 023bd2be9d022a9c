"""Bad input gives one line on stderr, a non-zero exit and no traceback; good input works.

Runs the real commands (`ape keeper …`, `ape run …`) as subprocesses against a separate Anvil.
"""

import re

import pytest

from conftest import free_port
from macrostrike.keeper.journal import Journal
from ops_helpers import ape, assert_one_line_error

pytestmark = pytest.mark.slow
#: 3 AMM bots and 2 + 2 strike bots: `ape run deploy` with its Aave market, small enough to be quick
DEPLOY_ARGS = ("--bots", "3", "--long-bots", "2", "--short-bots", "2", "--capital", "1000")


@pytest.fixture(scope="module")
def deployments(tmp_path_factory):
    return tmp_path_factory.mktemp("deployments")


def test_unreachable_network(deployments):
    proc = ape("keeper", "status", "--network", f"http://127.0.0.1:{free_port()}",
               env={"MACROSTRIKE_DEPLOYMENTS": str(deployments)})
    assert_one_line_error(proc, "cannot connect to network", "check --network")


def test_missing_manifest(anvil_node, deployments):
    proc = ape("keeper", "status", "--network", anvil_node, env={"MACROSTRIKE_DEPLOYMENTS": str(deployments)})
    assert_one_line_error(proc, "no deployment manifest", "ape run deploy")


@pytest.fixture(scope="module")
def deployed(anvil_node, deployments):
    env = {"MACROSTRIKE_DEPLOYMENTS": str(deployments)}
    first = ape("run", "deploy", "--network", anvil_node, *DEPLOY_ARGS, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert (deployments / "31337.json").is_file()
    return env


def test_child_roles_match_the_deploy():
    from macrostrike.cli.common import ROLES
    from macrostrike.deploy.system import CHILDREN

    assert ROLES == tuple(CHILDREN)


def test_deploy_status_and_unknown_bot(anvil_node, deployments, deployed):
    env = deployed
    again = ape("run", "deploy", "--network", anvil_node, *DEPLOY_ARGS, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert re.search(r"\b0 transaction\(s\) sent", again.stdout), again.stdout
    ok = ape("keeper", "status", "--network", anvil_node, env=env)
    assert ok.returncode == 0, ok.stderr
    assert "AMM arbitrage bots" in ok.stdout
    # the strike side: the master's risk line and one row per strike bot, all flat after the deploy
    assert "breaker ok" in ok.stdout and "drawdown 0.00%" in ok.stdout, ok.stdout
    cells = [[c.strip() for c in line.split("│") if c.strip()] for line in ok.stdout.splitlines()]
    rows = [r for r in cells if len(r) > 3 and r[0] in ("long", "short") and r[1].isdigit()]
    assert sorted((r[0], r[1]) for r in rows) == [("long", "1"), ("long", "2"), ("short", "1"), ("short", "2")], \
        ok.stdout
    assert all("flat" in r for r in rows), ok.stdout
    unknown = ape("keeper", "status", "--network", anvil_node, "--bot", "999", env=env)
    assert_one_line_error(unknown, "unknown bot id 999", "1..3")
    # the keeper daemon on the same chain: one block, dry run (decides, never sends)
    journal = deployments / "keeper.sqlite"
    run = ape("keeper", "run", "--network", anvil_node, "--blocks", "1", "--dry-run",
              "--journal", f"sqlite:///{journal}", env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "blocks=1" in run.stdout and "sent=0" in run.stdout
    stored = Journal(f"sqlite:///{journal}")  # a dry run keeps its own cursor, never the live one's
    assert stored.last_block("keeper-dry-run") is not None and stored.last_block("keeper") is None


def test_corrupt_data_file(anvil_node, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "Coinbase_BTCUSD_1h.csv").write_text("not the real file\n")
    proc = ape("run", "demo", "--network", anvil_node, "--hours", "2",
               env={"MACROSTRIKE_CACHE": str(cache), "MACROSTRIKE_OFFLINE": "1",
                    "MACROSTRIKE_DEPLOYMENTS": str(tmp_path)})
    assert_one_line_error(proc, "Coinbase_BTCUSD_1h.csv")


def test_set_safe_address(anvil_node, deployed):
    bad = ape("keeper", "set-safe", "0x1234", "--network", anvil_node, env=deployed)
    assert_one_line_error(bad, "safe address '0x1234' is not an address: give 0x followed by 40 hex digits")
    safe = "0x" + "ab" * 20
    ok = ape("keeper", "set-safe", safe, "--network", anvil_node, env=deployed)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "set safe address 0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB: tx" in ok.stdout
    zero = ape("keeper", "set-safe", "0x" + "00" * 20, "--network", anvil_node, env=deployed)
    assert_one_line_error(zero, "InvalidSafeAddress")


def test_emergency_stop_and_resume(anvil_node, deployed):
    stop = ape("keeper", "emergency-stop", "--network", anvil_node, env=deployed)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    status = ape("keeper", "status", "--network", anvil_node, "--bot", "1", env=deployed)
    assert status.stdout.count("True") == 3, status.stdout  # the paused column of the three children
    resume = ape("keeper", "resume", "--network", anvil_node, "--child", "amm", env=deployed)
    assert resume.returncode == 0, resume.stdout + resume.stderr
    status = ape("keeper", "status", "--network", anvil_node, "--bot", "1", env=deployed)
    assert status.stdout.count("True") == 2, status.stdout
    bad = ape("keeper", "pause", "--network", anvil_node, "--child", "nope", env=deployed)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
