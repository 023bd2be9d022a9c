"""Chaos soak: the real keeper daemon against a chain that misbehaves, for a few minutes.

* A separate Anvil holds a deployed system (``ape run deploy --bots 6``: AMM bots only, no strike
  bots), then mines a block every second (``evm_setIntervalMining 1``).
* ``ape keeper run`` (signers: Anvil accounts 1–3, confirmations 2) talks to the node through a
  :class:`chain_harness.FaultProxy` with seeded random faults: replies lost after the node acted
  (``eth_sendRawTransaction`` and any method), latency and latency spikes, HTTP 429 and 503, and
  ``eth_getLogs`` refused above 500 blocks.
* The test is the market, on its own web3 straight to Anvil, every choice from ``random.Random(SEED)``:
  price gaps (USDC or WBTC minted into one pair + ``sync()``), reorgs of depth 1–2 (``anvil_reorg``
  drops the replaced blocks' transactions, the keeper's among them), base-fee spikes; and once,
  mid-run, ``kill -9`` of the keeper and a restart on the same journal.
* At the end a last gap is opened and the keeper is stopped with SIGTERM while its trade is in
  flight: it must exit within 10 s with code 0. A settle run (restart, faults off, no more market
  moves) resumes that intent and settles everything; then it is stopped with SIGTERM too.

Checked from chain data and the journal alone (tests/chaos_helpers.py ``audit``): every keeper
transaction on the canonical chain is journalled once with its receipt's outcome and block; no
refused/dropped/replaced attempt is on chain; per intent at most one attempt on chain; the
``ArbitrageExecuted`` events are exactly the mined arbitrage intents; nothing left open; the
keeper never halted.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter

import pytest
from chain_harness import FaultProxy, anvil_chain, set_interval_mining
from chaos_helpers import (KeeperProcess, MarketDriver, WaitTimeout, audit, drive, keeper_progress, schedule,
                           wait_until)

from macrostrike.deploy.manifest import Manifest
from ops_helpers import ape

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("CHAOS_SEED", "20261122"))  # CHAOS_SEED / CHAOS_SOAK_S: local exploration only
SOAK_S = float(os.environ.get("CHAOS_SOAK_S", "180"))  # seconds of market moves and faults (the whole test: ~4–5 min on 2 cores)
BOTS = 6
SIGTERM_LIMIT_S = 10.0


def keeper_env(deployments: str) -> dict[str, str]:
    return {"MACROSTRIKE_DEPLOYMENTS": deployments,
            "MACROSTRIKE_KEEPER_POLL_INTERVAL_S": "0.2",
            "MACROSTRIKE_KEEPER_SIGNER_MAX_OPS": "1000",
            "MACROSTRIKE_KEEPER_BACKOFF_BASE_S": "0.2",
            "MACROSTRIKE_KEEPER_BACKOFF_MAX_S": "1",
            "MACROSTRIKE_KEEPER_MAX_CONSECUTIVE_ERRORS": "1000",
            "MACROSTRIKE_KEEPER_CONFIRMATIONS": "2",
            "MACROSTRIKE_KEEPER_STUCK_AFTER_S": "6"}


def add_faults(proxy: FaultProxy) -> None:
    """The seeded fault mix (the proxy's RNG is seeded; which request is hit also depends on timing)."""
    proxy.drop_response("eth_sendRawTransaction", count=None, probability=0.15)
    proxy.drop_response(None, count=None, probability=0.02)
    proxy.http_error(429, None, count=None, probability=0.03)
    proxy.http_error(503, None, count=None, probability=0.02)
    proxy.delay(0.3, None, probability=0.05)  # latency
    proxy.delay(2.5, None, probability=0.005)  # latency spikes
    proxy.limit_log_range(500)


def test_chaos_soak(tmp_path):
    rng = random.Random(SEED)
    started = time.monotonic()
    with anvil_chain() as node:
        w3 = node.w3
        env = keeper_env(str(tmp_path))
        deployed = ape("run", "deploy", "--network", node.uri, "--bots", str(BOTS), "--long-bots", "0",
                       "--short-bots", "0", env=env)
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
        manifest = Manifest.from_json(json.loads((tmp_path / "31337.json").read_text()))
        dev_accounts = w3.eth.accounts
        owner, signers = dev_accounts[0], dev_accounts[1:4]
        first_block = int(w3.eth.block_number) + 1
        deploy_s = time.monotonic() - started
        set_interval_mining(w3, 1)

        journal_url = f"sqlite:///{tmp_path / 'keeper.sqlite'}"
        driver = MarketDriver(w3, manifest, owner, rng, {a.lower() for a in signers}, journal_url)
        events = schedule(rng, SOAK_S)
        kill_at = rng.uniform(0.4, 0.6) * SOAK_S
        down_s = rng.uniform(2.0, 5.0)
        with FaultProxy(node.uri, seed=SEED) as proxy:
            keeper = KeeperProcess(proxy.uri, journal_url, env, tmp_path / "keeper.log")
            keeper.start()
            wait_until(lambda: keeper_progress(journal_url)[0] >= 0, 120, "the keeper's first block")
            add_faults(proxy)
            log, soak_s = drive(keeper, driver, events, kill_at, down_s, driver.gap)

            # stop with a trade in flight: a last gap, SIGTERM as soon as the journal has it open
            in_flight = 0
            for _ in range(5):
                driver.gap()
                try:
                    wait_until(lambda: keeper.ensure_running() or keeper_progress(journal_url)[1] > 0, 15,
                               "an intent in flight", step_s=0.05)
                except WaitTimeout:
                    continue
                in_flight = keeper_progress(journal_url)[1]
                break
            code, stop_s = keeper.sigterm()
            log.append(f"SIGTERM with {in_flight} intent(s) open: exit {code} after {stop_s:.2f} s")

            # settle run: faults off, the market quiet; the restarted keeper resumes and settles
            proxy.clear()
            keeper.start()
            wait_until(lambda: keeper_progress(journal_url)[0] >= int(w3.eth.block_number) - 1
                       and keeper_progress(journal_url)[1] == 0, 120, "the settle run to catch up and settle")
            time.sleep(3)  # a few quiet blocks: nothing more to trade, nothing open
            wait_until(lambda: keeper_progress(journal_url)[1] == 0, 60, "the settle run's last intents")
            settle_code, settle_stop_s = keeper.sigterm()
            faults, requests = dict(proxy.faults), sum(proxy.requests.values())
        set_interval_mining(w3, 0)
        time.sleep(1.2)  # a block being mined as interval mining stops
        result = audit(w3, journal_url, signers, manifest.address("amm"), from_block=first_block)
        head = int(w3.eth.block_number)

    output = keeper.log()
    counts = {"seed": SEED, "deploy_s": round(deploy_s, 1), "soak_s": round(soak_s, 1),
              "total_s": round(time.monotonic() - started, 1), "chain_head": head,
              **result.counts(), "driver": dict(driver.counts),
              "reorg_depths": dict(sorted(Counter(driver.reorg_depths).items())),
              "keeper_log": {"reorgs_seen": output.count("reorg: blocks from"),
                             "intents_reopened_by_reorg": output.count("open again"),
                             "resumed_at_start": output.count("open intent(s) from the last run"),
                             "abandoned_nonce_used": output.count(" abandoned: "),
                             "loop_errors_retried": output.count("keeper error "),
                             "job_failures": output.count("failed at block")},
              "startup_failures": keeper.startup_failures, "faults": faults, "proxy_requests": requests,
              "restarts": keeper.starts - 1,
              "exit_codes": keeper.exit_codes, "sigterm_in_flight": in_flight, "sigterm_exit_s": round(stop_s, 2),
              "settle_sigterm_exit_s": round(settle_stop_s, 2)}
    summary = json.dumps(counts, indent=1, default=str)
    print("\n".join(log))
    print(summary)

    assert not result.problems, f"{len(result.problems)} problem(s):\n" + "\n".join(result.problems[:40]) + \
        f"\n{summary}\nkeeper log: {tmp_path / 'keeper.log'}"
    assert "keeper halted" not in output, summary + output[-3000:]
    assert "Traceback" not in output, summary + output[output.index("Traceback") - 2000:][:5000]
    assert code == 0 and settle_code == 0, f"exit codes after SIGTERM {code}, {settle_code}\n{summary}"
    assert stop_s < SIGTERM_LIMIT_S and settle_stop_s < SIGTERM_LIMIT_S, f"slow stop: {stop_s:.1f} s\n{summary}"
    assert in_flight > 0, f"no intent was in flight at the SIGTERM\n{summary}"
    assert driver.counts["reorg"] >= 5 and sum(faults.values()) >= 20, summary
    assert len(result.events) >= 10, f"too few trades for a soak\n{summary}"
