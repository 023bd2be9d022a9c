"""Prometheus metrics: values scraped over HTTP from the started server reflect real keeper decisions
and transactions on a deployed system; run-loop errors are counted; `ape keeper run --metrics-port`."""

import json
import logging
import socket
import subprocess
import time
import urllib.request

import pytest
from eth_utils import to_checksum_address
from prometheus_client.parser import text_string_to_metric_families

from macrostrike.deploy.system import DeployConfig, deploy_system
from macrostrike.keeper.arbitrage import ArbitrageJob
from macrostrike.keeper.context import AmmContext
from macrostrike.keeper.journal import Journal
from macrostrike.keeper.metrics import Metrics, RunLoopErrorCounter, start_keeper_metrics
from macrostrike.keeper.runner import Runner
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.signers import SignerPool
from macrostrike.keeper.txsender import TxSender
from market_helpers import push_price_up
from ops_helpers import APE, ROOT, ape, assert_one_line_error


def scrape(port):
    """``{(sample name, frozenset(labels)): value}`` from ``http://127.0.0.1:port/metrics``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples, name, **labels):
    return samples.get((name, frozenset((k, str(v)) for k, v in labels.items())))


@pytest.fixture(scope="module")
def keeper_run(accounts, chain, project):
    """A deployed system, a price move, one keeper block observed by served metrics."""
    system = deploy_system(accounts[0], DeployConfig(amm_bots=3, pool_usd=1_000_000, capital_per_bot_usd=5_000,
                                                     initial_price_usd=20_000, keepers=(str(accounts[1].address),)))
    web3 = chain.provider.web3
    settings = KeeperSettings()
    journal = Journal()
    ctx = AmmContext(system.manifest)
    pool = SignerPool([TxSender(accounts[1], priority_fee_wei=settings.priority_fee_wei, error_table=ctx.errors,
                                journal=journal)], max_ops=None)
    job = ArbitrageJob(ctx, pool, settings, journal)
    observer = start_keeper_metrics(0, "127.0.0.1", job, pool, web3)
    push_price_up(system, accounts[0])
    decisions = job.tick() + job.flush()
    number = web3.eth.block_number
    observer(number, decisions)
    quiet = job.tick()  # a second block (the first block's trades moved the pools)
    observer(web3.eth.block_number, quiet)
    yield {"system": system, "observer": observer, "decisions": decisions, "quiet": quiet, "journal": journal,
           "web3": web3, "keeper": accounts[1], "perf": project.PerformanceFacet.at(system.manifest.address("amm"))}
    observer.close()


def test_scraped_values_reflect_real_decisions(keeper_run):
    observer = keeper_run["observer"]
    decisions = keeper_run["decisions"] + keeper_run["quiet"]
    samples = scrape(observer.metrics.port)
    mined = [d for d in decisions if d.reason == "mined"]
    assert mined, [d.reason for d in decisions]
    for reason in {d.reason for d in decisions}:
        assert value(samples, "keeper_decisions_total", reason=reason) == sum(d.reason == reason for d in decisions)
    gas_by_tx = {t["tx_hash"]: t["gas_used"] for t in keeper_run["journal"].transactions("mined")}
    for bot in {d.bot_id for d in mined}:
        trades = [d for d in mined if d.bot_id == bot]
        assert value(samples, "keeper_trades_total", bot=bot) == len(trades)
        assert value(samples, "keeper_gas_used_total", bot=bot) == sum(gas_by_tx[d.detail["tx"]] for d in trades) > 0
        _trades, _w, _l, pnl, _last = keeper_run["perf"].botStats(bot)
        assert pnl == sum(d.detail["realised_profit"] for d in trades) > 0
        assert value(samples, "keeper_bot_realised_pnl_usdc", bot=bot) == pytest.approx(pnl / 1e6)
    assert value(samples, "keeper_tx_latency_seconds_count") == len(mined)
    assert value(samples, "keeper_tx_latency_seconds_sum") > 0
    keeper = str(keeper_run["keeper"].address)
    # Prometheus samples are float64: a wei balance keeps ~16 significant digits
    assert value(samples, "keeper_signer_balance_wei", signer=keeper) == \
        pytest.approx(keeper_run["web3"].eth.get_balance(keeper), rel=1e-15)
    assert value(samples, "keeper_last_block") == keeper_run["web3"].eth.block_number
    assert value(samples, "keeper_up") == 1
    assert value(samples, "keeper_errors_total", kind="tx_reverted") is None


def test_bots_without_trades_are_seeded_from_the_chain(keeper_run):
    samples = scrape(keeper_run["observer"].metrics.port)
    traded = {d.bot_id for d in keeper_run["decisions"] + keeper_run["quiet"] if d.reason == "mined"}
    for bot in {1, 2, 3} - traded:
        assert value(samples, "keeper_bot_realised_pnl_usdc", bot=bot) == 0
        assert value(samples, "keeper_trades_total", bot=bot) is None


from test_runner import FlakyEth  # noqa: E402 - the head follows a script of numbers and errors


class Job:
    name = "test"

    def tick(self):
        return []


def test_run_loop_errors_are_counted_by_kind():
    metrics = Metrics()
    handler = RunLoopErrorCounter(metrics)
    logger = logging.getLogger("macrostrike.keeper")
    logger.addHandler(handler)
    try:
        web3 = type("W3", (), {"eth": FlakyEth([1, ConnectionError("refused"), TimeoutError("slow"),
                                                ConnectionError("refused"), 2])})()
        result = Runner(web3, Job(), sleep=lambda _s: None).run(max_blocks=2, install_signals=False)
    finally:
        logger.removeHandler(handler)
    assert result.errors == 3
    assert metrics.registry.get_sample_value("keeper_errors_total", {"kind": "ConnectionError"}) == 2
    assert metrics.registry.get_sample_value("keeper_errors_total", {"kind": "TimeoutError"}) == 1


def test_private_registry_and_close():
    a, b = Metrics(), Metrics()  # no "Duplicated timeseries" error: each has its own registry
    a.observe_tx(0.2)
    assert a.registry.get_sample_value("keeper_tx_latency_seconds_count") == 1
    assert b.registry.get_sample_value("keeper_tx_latency_seconds_count") == 0
    a.serve(0)
    port = a.port
    assert value(scrape(port), "keeper_tx_latency_seconds_count") == 1
    a.close()
    with pytest.raises(OSError):
        scrape(port)


# -- `ape keeper run --metrics-port` (a subprocess against a separate Anvil) --------------------------
def rpc(uri, method, params=()):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    request = urllib.request.Request(uri, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["result"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def deployed(anvil_node, tmp_path_factory):
    env = {"MACROSTRIKE_DEPLOYMENTS": str(tmp_path_factory.mktemp("metrics-deployments"))}
    deploy = ape("run", "deploy", "--network", anvil_node, "--bots", "2", env=env)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    return env


@pytest.mark.slow
def test_cli_run_serves_metrics(anvil_node, deployed, tmp_path):
    import os

    port = free_port()
    proc = subprocess.Popen([APE, "keeper", "run", "--network", anvil_node, "--blocks", "2", "--dry-run",
                             "--journal", f"sqlite:///{tmp_path / 'k.sqlite'}", "--metrics-port", str(port)],
                            cwd=ROOT, env={**os.environ, **deployed}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        head = int(rpc(anvil_node, "eth_blockNumber"), 16)
        deadline, samples = time.monotonic() + 120, {}
        while time.monotonic() < deadline and value(samples, "keeper_last_block") != head:
            assert proc.poll() is None, proc.communicate()
            try:
                samples = scrape(port)
            except OSError:
                pass
            time.sleep(0.3)
        assert value(samples, "keeper_last_block") == head
        assert value(samples, "keeper_up") == 1
        assert value(samples, "keeper_decisions_total", reason="no_opportunity") == 1
        test_accounts = rpc(anvil_node, "eth_accounts")[1:4]  # the default signers on a local chain
        for address in map(to_checksum_address, test_accounts):
            balance = int(rpc(anvil_node, "eth_getBalance", [address, "latest"]), 16)
            assert value(samples, "keeper_signer_balance_wei", signer=address) == pytest.approx(balance, rel=1e-15)
        rpc(anvil_node, "evm_mine")  # the second block: the run ends
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out + err
    assert "blocks=2" in out


@pytest.mark.slow
def test_cli_metrics_port_in_use(anvil_node, deployed, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = ape("keeper", "run", "--network", anvil_node, "--blocks", "1", "--dry-run",
                   "--journal", f"sqlite:///{tmp_path / 'k.sqlite'}", "--metrics-port", str(port), env=deployed)
    assert_one_line_error(proc, f"cannot serve metrics on 127.0.0.1:{port}", "pick another --metrics-port")
