"""`ape keeper run` drives every bot of a deployment with strike bots, not only the arbitrage job:
the strike job (signals warmed up from the price feed's past rounds, one observation per
``strike_signal_interval_s``; triggers and health factors every block) and the master's risk
checkpoint (once per ``checkpoint_interval_s``). Real daemon, real `ape run deploy`, a separate Anvil.

The WBTC feed (OwnedAggregator, the deployer's) gets 30 hourly rounds rising 0.2 % each (the pools
stay at the deploy's price), the USDC feed a heartbeat round at the end (the strike children refuse
to open on a quote answer older than 25 h): long bot 1 runs Momentum(6, 24), which says LONG after
its warm-up, so the keeper's first block opens its position; a restarted keeper finds the position open on chain
(``openPositionIds``) and watches it instead of opening it again.
"""

import json
import re

import pytest
from eth_abi import encode
from web3 import Web3

from macrostrike.keeper.journal import Journal
from ops_helpers import ape

pytestmark = pytest.mark.slow

UPDATE_ANSWER = bytes.fromhex("a87a20ce")  # OwnedAggregator.updateAnswer(int256), owner only
DEPLOY_ARGS = ("--bots", "1", "--long-bots", "1", "--short-bots", "1", "--capital", "2000", "--price", "2500")


def test_keeper_run_trades_strike_bots_and_checkpoints(anvil_node, tmp_path):
    env = {"MACROSTRIKE_DEPLOYMENTS": str(tmp_path)}
    deployed = ape("run", "deploy", "--network", anvil_node, *DEPLOY_ARGS, env=env)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    manifest = json.loads((tmp_path / "31337.json").read_text())
    feed = manifest["contracts"]["aave_feed:WBTC"]["address"]
    w3 = Web3(Web3.HTTPProvider(anvil_node))
    owner = w3.eth.accounts[0]
    start = w3.eth.get_block("latest")["timestamp"]
    for hour in range(1, 31):
        w3.provider.make_request("evm_setNextBlockTimestamp", [start + 3_600 * hour])
        answer = round(2_500 * 1.002**hour * 10**8)
        tx = w3.eth.send_transaction({"from": owner, "to": feed, "data": UPDATE_ANSWER + encode(["int256"], [answer])})
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    usdc_feed = manifest["contracts"]["aave_feed:USDC"]["address"]
    tx = w3.eth.send_transaction({"from": owner, "to": usdc_feed, "data": UPDATE_ANSWER + encode(["int256"], [10**8])})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1

    url = f"sqlite:///{tmp_path / 'keeper.sqlite'}"
    # two blocks: the one the keeper starts on and the one its first transaction makes (sends do not
    # wait for receipts; a checkpoint simulated while the automining node mines that transaction may
    # be refused once and is retried on the next block)
    run = ape("keeper", "run", "--network", anvil_node, "--blocks", "2", "--journal", url, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    warmed = re.search(r"strike signals warmed up on (\d+) price-feed round", run.stdout + run.stderr)
    assert warmed and int(warmed.group(1)) >= 30, run.stdout + run.stderr
    assert "strike: sent=1 succeeded=1 reverted=0 by_intent={'signal_entry': 1} open=1" in run.stdout, run.stdout
    assert "checkpoints=1" in run.stdout, run.stdout
    decisions = Journal(url).stored_decisions()
    # each action: a "send" decision (the intent sent), then its "settle" decision (the receipt's outcome)
    entries = [d for d in decisions if d.job == "strike" and d.reason == "signal_entry"]
    assert [(d.action, d.bot_id, d.detail["side"], d.detail["status"]) for d in entries] == \
        [("send", 1, "long", "sent"), ("settle", 1, "long", "mined")]
    assert entries[0].detail["intent"] == entries[1].detail["intent"]
    checkpoints = [d for d in decisions if d.job == "risk" and d.reason == "checkpoint" and d.action == "settle"]
    assert len(checkpoints) == 1 and checkpoints[0].detail["status"] == "mined"
    assert checkpoints[0].detail["breaker_tripped"] is False and checkpoints[0].detail["total_equity"] > 0

    status = ape("keeper", "status", "--network", anvil_node, env=env)
    assert status.returncode == 0, status.stderr
    cells = [[c.strip() for c in line.split("│") if c.strip()] for line in status.stdout.splitlines()]
    rows = {(r[0], r[1]): r for r in cells if len(r) > 3 and r[0] in ("long", "short") and r[1].isdigit()}
    assert rows[("long", "1")][3] == "open" and rows[("short", "1")][3] == "flat", status.stdout

    # a restarted keeper knows the position is open: it watches it, it does not open it again
    again = ape("keeper", "run", "--network", anvil_node, "--blocks", "1", "--journal", url, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "strike: sent=0 succeeded=0 reverted=0 by_intent={} open=1" in again.stdout, again.stdout
    later = Journal(url).stored_decisions()[len(decisions):]
    assert not [d for d in later if d.job == "strike" and d.reason == "simulation_reverted"], later
