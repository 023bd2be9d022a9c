"""`ape keeper health`: ok on a fresh deployment whose keeper is caught up; lag, stale head, stale
pending transactions, low signers and paused children make it not ok; the CLI prints JSON and exits
1 only when down (--strict: when degraded too). `--liveness` is alive while the keeper loop beats (or,
on a journal without heartbeats, its cursor keeps up) and the node answers, whatever the breaker says."""

import json
import time

import pytest
from eth_utils import to_checksum_address

from conftest import free_port
from macrostrike.deploy.system import DeployConfig, deploy_system
from macrostrike.keeper.health import check_health, check_liveness, dead_report, down_report, exit_code, open_journal
from macrostrike.keeper.journal import Journal
from macrostrike.keeper.settings import KeeperSettings
from ops_helpers import ape, assert_one_line_error


@pytest.fixture(scope="module")
def system(accounts):
    return deploy_system(accounts[0], DeployConfig(amm_bots=2, pool_usd=1_000_000, capital_per_bot_usd=5_000,
                                                   initial_price_usd=20_000, keepers=(str(accounts[1].address),)))


@pytest.fixture
def signers(accounts):
    return [str(accounts[i].address) for i in (1, 2, 3)]


#: Thresholds for tests that are not about the head block's age: the shared test chain is idle
#: between tests and other modules move its clock, so its head can be any age (test_stale_head_block
#: covers the age check with an explicit ``now``).
IDLE_CHAIN = KeeperSettings(health_max_block_age_s=None)


def caught_up(web3):
    journal = Journal()
    journal.set_last_block("keeper", web3.eth.block_number)
    return journal


def test_ok_on_a_fresh_deployment(system, chain, signers):
    web3 = chain.provider.web3
    report = check_health(web3, system.manifest, caught_up(web3), signers, IDLE_CHAIN)
    assert report["status"] == "ok" and report["problems"] == []
    assert report["chain_id"] == chain.chain_id and report["block"] == web3.eth.block_number
    assert report["last_processed_block"] == report["block"] and report["lag_blocks"] == 0
    assert isinstance(report["block_age_s"], float | int)
    assert report["pending_txs"] == 0
    assert [s["address"] for s in report["signers"]] == signers
    assert all(s["balance_wei"] == web3.eth.get_balance(s["address"]) and not s["low"] for s in report["signers"])
    assert report["breaker"] == {"children": {"long": False, "short": False, "amm": False}, "paused": [],
                                 "emergency": False}
    json.dumps(report)  # serialisable as is


def test_lag_beyond_the_threshold_is_down(system, chain, signers):
    web3 = chain.provider.web3
    journal = caught_up(web3)
    settings = KeeperSettings(health_max_lag_blocks=3, health_max_block_age_s=None)
    chain.mine(3)
    at_threshold = check_health(web3, system.manifest, journal, signers, settings)
    assert at_threshold["status"] == "ok" and at_threshold["lag_blocks"] == 3
    chain.mine(1)
    behind = check_health(web3, system.manifest, journal, signers, settings)
    assert behind["status"] == "down" and behind["lag_blocks"] == 4
    assert behind["last_processed_block"] == behind["block"] - 4
    assert behind["problems"] == ["keeper is 4 blocks behind the head (> health_max_lag_blocks=3)"]


def test_no_cursor_is_down(system, chain, signers):
    report = check_health(chain.provider.web3, system.manifest, None, signers, IDLE_CHAIN)
    assert report["status"] == "down" and report["last_processed_block"] is None and report["lag_blocks"] is None
    assert "has not processed a block yet" in report["problems"][0]


def test_stale_head_block(system, chain, signers):
    web3 = chain.provider.web3
    journal = caught_up(web3)
    late = web3.eth.get_block("latest")["timestamp"] + 301
    report = check_health(web3, system.manifest, journal, signers, KeeperSettings(), now=late)
    assert report["status"] == "down" and "health_max_block_age_s=300" in report["problems"][0]
    off = check_health(web3, system.manifest, journal, signers, KeeperSettings(health_max_block_age_s=None), now=late)
    assert off["status"] == "ok"


def test_stale_pending_tx_and_low_signer_are_degraded(system, chain, signers):
    web3 = chain.provider.web3
    journal = caught_up(web3)
    journal.tx_pending("0x" + "ab" * 32, signers[0], 0, "arbitrage", 1)
    fresh = check_health(web3, system.manifest, journal, signers, IDLE_CHAIN)
    assert fresh["status"] == "ok" and fresh["pending_txs"] == 1 and fresh["stale_pending_txs"] == 0
    stale = check_health(web3, system.manifest, journal, signers, KeeperSettings(health_max_block_age_s=None),
                         now=time.time() + 121)
    assert stale["status"] == "degraded" and stale["stale_pending_txs"] == 1
    empty = to_checksum_address("0x" + "77" * 20)  # never funded
    low = check_health(web3, system.manifest, caught_up(web3), [*signers, empty], IDLE_CHAIN)
    assert low["status"] == "degraded"
    assert low["signers"][-1] == {"address": empty, "balance_wei": 0, "low": True}
    assert low["problems"] == [f"signer(s) below 0.05 ETH (signer_low_balance_eth): {empty}"]


def test_paused_child_and_emergency_stop(system, chain, project, accounts, signers):
    web3, m = chain.provider.web3, system.manifest
    master = m.address("master")
    project.TreasuryFacet.at(master).pauseChild(m.address("amm"), sender=accounts[0])
    one = check_health(web3, m, caught_up(web3), signers, IDLE_CHAIN)
    assert one["status"] == "degraded" and one["breaker"]["paused"] == ["amm"] and not one["breaker"]["emergency"]
    project.EmergencyFacet.at(master).emergencyStop(sender=accounts[0])
    stop = check_health(web3, m, caught_up(web3), signers, IDLE_CHAIN)
    assert stop["breaker"]["emergency"] and sorted(stop["breaker"]["paused"]) == ["amm", "long", "short"]
    assert stop["status"] == "degraded" and stop["problems"][0].startswith("emergency stop")


def test_open_journal_never_creates_a_file(tmp_path):
    assert open_journal(f"sqlite:///{tmp_path / 'none.sqlite'}") is None
    assert not (tmp_path / "none.sqlite").exists()
    assert open_journal("sqlite://") is not None  # in memory


# -- liveness --------------------------------------------------------------------------------------
class Beating(Journal):
    """A journal whose 'keeper' heartbeat is ``at`` (whether or not Journal has heartbeats yet)."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def heartbeat(self, name="keeper"):
        return self.at if name == "keeper" else None


class CursorOnly:
    """A journal without heartbeats (the fallback: the cursor lag)."""

    def __init__(self, journal):
        self.last_block = journal.last_block


def test_liveness_follows_the_heartbeat_not_the_breaker(system, chain, project, accounts):
    web3, m = chain.provider.web3, system.manifest
    now = time.time()
    fresh = check_liveness(web3, Beating(now - 5), KeeperSettings(), now=now)
    assert fresh["status"] == "alive" and fresh["problems"] == [] and fresh["check"] == "heartbeat"
    assert fresh["heartbeat_age_s"] == 5 and fresh["block"] == web3.eth.block_number
    assert fresh["chain_id"] == chain.chain_id
    project.EmergencyFacet.at(m.address("master")).emergencyStop(sender=accounts[0])  # degraded, still alive
    assert check_liveness(web3, Beating(now - 59), KeeperSettings(), now=now)["status"] == "alive"
    stale = check_liveness(web3, Beating(now - 61), KeeperSettings(), now=now)
    assert stale["status"] == "dead" and stale["heartbeat_age_s"] == 61
    assert stale["problems"] == ["the keeper loop's last heartbeat is 61 s old (> health_max_heartbeat_age_s=60)"]
    never = check_liveness(web3, Beating(None), KeeperSettings(), now=now)
    assert never["status"] == "dead" and "no 'keeper' heartbeat" in never["problems"][0]
    none = check_liveness(web3, None, KeeperSettings(), now=now)
    assert none["status"] == "dead" and "no keeper journal" in none["problems"][0]
    json.dumps(fresh)


def test_liveness_heartbeat_age_setting(chain):
    now = time.time()
    report = check_liveness(chain.provider.web3, Beating(now - 6), KeeperSettings(health_max_heartbeat_age_s=5), now=now)
    assert report["status"] == "dead" and "health_max_heartbeat_age_s=5" in report["problems"][0]


def test_liveness_without_heartbeats_checks_the_cursor(system, chain):
    web3 = chain.provider.web3
    journal = caught_up(web3)
    settings = KeeperSettings(health_max_lag_blocks=2)
    chain.mine(2)
    alive = check_liveness(web3, CursorOnly(journal), settings)
    assert alive["status"] == "alive" and alive["check"] == "cursor" and alive["lag_blocks"] == 2
    chain.mine(1)
    behind = check_liveness(web3, CursorOnly(journal), settings)
    assert behind["status"] == "dead" and behind["problems"] == [
        "keeper is 3 blocks behind the head (> health_max_lag_blocks=2)"]
    never = check_liveness(web3, CursorOnly(Journal()), settings)
    assert never["status"] == "dead" and "has not processed a block yet" in never["problems"][0]


def test_exit_codes():
    assert [exit_code({"status": s}) for s in ("ok", "degraded", "down", "alive", "dead")] == [0, 0, 1, 0, 1]
    assert [exit_code({"status": s}, strict=True) for s in ("ok", "degraded", "down")] == [0, 1, 1]
    assert exit_code(down_report("x")) == 1 and exit_code(dead_report("x")) == 1
    with pytest.raises(ValueError, match="unknown health status"):
        exit_code({"status": "fine"})


# -- the command line ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def deployed(anvil_node, tmp_path_factory):
    # an idle dev chain: its head block ages with the wall clock while the module runs
    env = {"MACROSTRIKE_DEPLOYMENTS": str(tmp_path_factory.mktemp("health-deployments")),
           "MACROSTRIKE_KEEPER_HEALTH_MAX_BLOCK_AGE_S": "1000000000"}
    deploy = ape("run", "deploy", "--network", anvil_node, "--bots", "2", env=env)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    return env


#: the tests' keeper runs are dry runs: they write the shadow keeper's cursor and heartbeat
SHADOW = ("--cursor", "keeper-dry-run")


def health(anvil_node, env, *args):
    proc = ape("keeper", "health", "--network", anvil_node, *args, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc, json.loads(proc.stdout)


@pytest.mark.slow
def test_cli_health(anvil_node, deployed, tmp_path):
    journal = f"sqlite:///{tmp_path / 'keeper.sqlite'}"
    before, report = health(anvil_node, deployed, "--journal", journal, *SHADOW)
    assert before.returncode == 1 and report["status"] == "down" and report["last_processed_block"] is None
    run = ape("keeper", "run", "--network", anvil_node, "--blocks", "1", "--dry-run", "--journal", journal,
              env=deployed)
    assert run.returncode == 0, run.stdout + run.stderr
    ok, report = health(anvil_node, deployed, "--journal", journal, *SHADOW)
    assert ok.returncode == 0 and report["status"] == "ok", report
    assert report["lag_blocks"] == 0 and len(report["signers"]) == 3
    assert report["breaker"]["paused"] == []
    pause = ape("keeper", "pause", "--network", anvil_node, "--child", "long", env=deployed)  # mines one block
    assert pause.returncode == 0, pause.stderr
    env_lag0 = {**deployed, "MACROSTRIKE_KEEPER_HEALTH_MAX_LAG_BLOCKS": "0"}
    lagging, report = health(anvil_node, env_lag0, "--journal", journal, *SHADOW)
    assert lagging.returncode == 1 and report["status"] == "down" and report["lag_blocks"] == 1
    assert report["breaker"]["paused"] == ["long"]
    assert "keeper is 1 blocks behind the head (> health_max_lag_blocks=0)" in report["problems"]
    degraded, report = health(anvil_node, deployed, "--journal", journal, *SHADOW)  # default threshold: 10 blocks
    assert degraded.returncode == 0 and report["status"] == "degraded"  # degraded: no reason to restart
    assert report["problems"] == ["paused child diamond(s): long"]
    readiness, report = health(anvil_node, deployed, "--journal", journal, "--readiness", *SHADOW)
    assert readiness.returncode == 0 and report["status"] == "degraded"
    strict, report = health(anvil_node, deployed, "--journal", journal, "--strict", *SHADOW)
    assert strict.returncode == 1 and report["status"] == "degraded"


@pytest.mark.slow
def test_cli_liveness(anvil_node, deployed, tmp_path):
    journal = f"sqlite:///{tmp_path / 'keeper.sqlite'}"
    env = {**deployed, "MACROSTRIKE_KEEPER_HEALTH_MAX_HEARTBEAT_AGE_S": "3600"}  # subprocesses on a busy CPU
    never, report = health(anvil_node, env, "--journal", journal, "--liveness", *SHADOW)
    assert never.returncode == 1 and report["status"] == "dead", report
    run = ape("keeper", "run", "--network", anvil_node, "--blocks", "1", "--dry-run", "--journal", journal, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    stop = ape("keeper", "emergency-stop", "--network", anvil_node, env=env)
    assert stop.returncode == 0, stop.stderr
    degraded, report = health(anvil_node, env, "--journal", journal, *SHADOW)
    assert degraded.returncode == 0 and report["status"] == "degraded" and report["breaker"]["emergency"]
    alive, report = health(anvil_node, env, "--journal", journal, "--liveness", *SHADOW)  # the run's last heartbeat
    assert alive.returncode == 0 and report["status"] == "alive" and report["problems"] == [], report
    assert report["check"] == "heartbeat" and report["heartbeat_age_s"] >= 0
    resume = ape("keeper", "resume", "--network", anvil_node, env=env)
    assert resume.returncode == 0, resume.stderr
    both = ape("keeper", "health", "--network", anvil_node, "--liveness", "--strict", env=env)
    assert_one_line_error(both, "--liveness cannot be combined with --strict")
    dead, report = health(f"http://127.0.0.1:{free_port()}", env, "--journal", journal, "--liveness", *SHADOW)
    assert dead.returncode == 1 and report["status"] == "dead"
    assert "cannot connect to network" in report["problems"][0]


@pytest.mark.slow
def test_cli_health_errors(anvil_node, deployed, tmp_path):
    no_manifest = ape("keeper", "health", "--network", anvil_node, env={"MACROSTRIKE_DEPLOYMENTS": str(tmp_path)})
    assert_one_line_error(no_manifest, "no deployment manifest", "ape run deploy")
    down, report = health(f"http://127.0.0.1:{free_port()}", deployed)
    assert down.returncode == 1 and report["status"] == "down"
    assert "cannot connect to network" in report["problems"][0]
    bad = ape("keeper", "health", "--network", anvil_node, env={**deployed, "MACROSTRIKE_KEEPER_HEALTH_MAX_LAG_BLOCKS": "-1"})
    assert_one_line_error(bad, "health_max_lag_blocks")
