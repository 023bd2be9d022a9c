"""Chaos soak with strike bots: every job of the real keeper daemon (arbitrage, strike, the risk
checkpoint) against a chain that misbehaves, for a few minutes.

* A separate Anvil holds ``ape run deploy --bots 2 --long-bots 3 --short-bots 3`` and mines a block
  every second, each block 10 minutes of chain time after the last (``anvil_setBlockTimestampInterval``):
  the strike signals (windows in hours, one observation per hour of chain time) and the hourly risk
  checkpoint act every few seconds. The WBTC price feed (the deployer's OwnedAggregator, also Aave's
  oracle) gets 30 hourly rounds first, so the signals start warm.
* ``ape keeper run`` (signers: Anvil accounts 1–3, confirmations 2, a strike deadline of 2 h of chain
  time: a block is 10 min) talks to the node through a :class:`chain_harness.FaultProxy` with the seeded fault mix of
  tests/test_chaos_soak.py (lost replies after the node acted, latency, 429/503, a 500-block
  ``eth_getLogs`` limit).
* The test is the market, every choice from ``random.Random(SEED)``: the oracle price walks (±0.5–2.5 %
  per move, a trend that turns every 20–40 s, kept within ±12 % of the start) with both pools moved to
  it, so the strike signals open and close positions; price gaps between the DEXes for the
  arbitrage bots; reorgs of depth 1–3 over keeper transactions; base-fee spikes; once, mid-run,
  ``kill -9`` of the keeper and a restart on the same journal. Then SIGTERM, and a settle run.

Checked from chain data and the journal alone: the audit of tests/chaos_helpers.py (every keeper
transaction on chain journalled once with its receipt's outcome and block, nothing refused or
replaced on chain, one included attempt per intent, ``ArbitrageExecuted`` events = mined arbitrage
intents, nothing left open); and for the strike children: the ``PositionOpened`` events of keeper
transactions are exactly the mined ``signal_entry`` intents (bot by bot), no risk checkpoint reverted,
and the soak did open positions and run checkpoints.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter

import pytest
from chain_harness import FaultProxy, anvil_chain, set_interval_mining
from chaos_helpers import (GET_RESERVES, MINT, SYNC, TOKEN0, KeeperProcess, MarketDriver, audit, drive, h,
                           keeper_progress, wait_until)
from eth_abi import decode, encode
from eth_utils import event_signature_to_log_topic, function_signature_to_4byte_selector
from test_chaos_soak import add_faults, keeper_env

from macrostrike.deploy.manifest import Manifest
from ops_helpers import ape

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("CHAOS_SEED", "20261126"))
SOAK_S = float(os.environ.get("CHAOS_STRIKE_SOAK_S", "150"))
PRICE = 2_500.0
BLOCK_S = 600  # chain seconds per block
UPDATE_ANSWER = function_signature_to_4byte_selector("updateAnswer(int256)")
OPENED = "0x" + event_signature_to_log_topic("PositionOpened(uint256,address,uint256,uint256,uint256)").hex()


class StrikeMarket(MarketDriver):
    """:class:`MarketDriver` plus an oracle price that walks, with both pools moved to it."""

    price: float = PRICE
    trend: float = 1.0
    turn_at: float = 0.0

    def _pool_to(self, pair_key: str, price: float) -> list[tuple[str, bytes]]:
        """The owner's transactions that move the pair to ``price`` (USD per BTC): USDC or WBTC minted
        into it, then ``sync()``."""
        pair, usdc, wbtc = (self.manifest.address(k) for k in (pair_key, "usdc", "wbtc"))
        token0 = decode(["address"], self._call(pair, TOKEN0))[0]
        r0, r1, _ = decode(["uint112", "uint112", "uint32"], self._call(pair, GET_RESERVES))
        quote, base = (r0, r1) if token0.lower() == usdc.lower() else (r1, r0)
        want_quote = int(price * base / 100)  # USDC 6 decimals, WBTC 8
        token, amount = (usdc, want_quote - quote) if want_quote > quote else (wbtc, int(quote * 100 / price) - base)
        return [(token, MINT + encode(["address", "uint256"], [pair, amount])), (pair, SYNC)] if amount > 0 else []

    def set_price(self, price: float) -> None:
        """The WBTC feed to ``price``, the USDC feed's heartbeat (its answer must stay under a day old)
        and both pools to ``price``: sent together (one sender, consecutive nonces), then the last
        receipt awaited (a reorg of ours may drop them: counted)."""
        txs = [(self.manifest.address("aave_feed:WBTC"), UPDATE_ANSWER + encode(["int256"], [round(price * 10**8)])),
               (self.manifest.address("aave_feed:USDC"), UPDATE_ANSWER + encode(["int256"], [10**8]))]
        for pair_key in ("dex_a_pair", "dex_b_pair"):
            txs += self._pool_to(pair_key, price)
        hashes = [self.w3.eth.send_transaction({"from": self.owner, "to": to, "data": data}) for to, data in txs]
        try:
            self.w3.eth.wait_for_transaction_receipt(hashes[-1], timeout=15, poll_latency=0.1)
        except Exception:  # noqa: BLE001
            self.counts["move_tx_lost"] += 1
        self.price = price

    def move(self) -> str:
        """One step of the oracle price's walk (pools follow)."""
        now = time.monotonic()
        if now >= self.turn_at:
            self.trend, self.turn_at = -self.trend, now + self.rng.uniform(20, 40)
        step = self.rng.uniform(0.005, 0.025) * (self.trend if self.rng.random() < 0.75 else -self.trend)
        if abs(self.price * (1 + step) / PRICE - 1) > 0.12:
            step = -step
        self.set_price(self.price * (1 + step))
        self.counts["move"] += 1
        return f"oracle and pools to {self.price:,.2f} ({step:+.2%})"


def warm_feed(w3, manifest, owner) -> None:
    """30 hourly WBTC feed rounds (a gentle rise) and a USDC heartbeat, before mining starts."""
    feed, usdc_feed = manifest.address("aave_feed:WBTC"), manifest.address("aave_feed:USDC")
    start = int(w3.eth.get_block("latest")["timestamp"])
    for i in range(1, 31):
        w3.provider.make_request("evm_setNextBlockTimestamp", [start + 3_600 * i])
        answer = round(PRICE * (1 + 0.001 * (i - 30)) * 10**8)
        tx = w3.eth.send_transaction({"from": owner, "to": feed, "data": UPDATE_ANSWER + encode(["int256"], [answer])})
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    tx = w3.eth.send_transaction({"from": owner, "to": usdc_feed, "data": UPDATE_ANSWER + encode(["int256"], [10**8])})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


def strike_schedule(rng, soak_s: float) -> list[tuple[float, str]]:
    events: list[tuple[float, str]] = []
    for kind, low, high, first in (("move", 2.0, 4.0, 1.0), ("gap", 5.0, 9.0, 3.0), ("reorg", 10.0, 18.0, 8.0),
                                   ("fee_spike", 20.0, 35.0, 15.0)):
        t = first + rng.uniform(0, low)
        while t < soak_s:
            events.append((round(t, 2), kind))
            t += rng.uniform(low, high)
    return sorted(events)


def strike_problems(w3, manifest, result, first_block: int) -> tuple[list[str], dict[str, int]]:
    """PositionOpened events of keeper transactions vs mined ``signal_entry`` intents, bot by bot,
    and the risk checkpoints' outcomes."""
    problems: list[str] = []
    keeper_txs = set(result.chain_txs)
    head = int(w3.eth.block_number)
    opened: list[tuple[str, int, str]] = []
    for side in ("long", "short"):
        diamond = manifest.address(side)
        for log in w3.eth.get_logs({"address": diamond, "fromBlock": first_block, "toBlock": head,
                                    "topics": [OPENED]}):
            if h(log["transactionHash"]) in keeper_txs:
                opened.append((diamond.lower(), int.from_bytes(bytes(log["topics"][1]), "big"),
                               h(log["transactionHash"])))
    mined_entries = [(i.to.lower(), int(i.bot_id), (i.tx_hash or "").lower()) for i in result.intents
                     if i.job == "strike" and i.action == "signal_entry" and i.state == "mined"]
    if sorted(opened) != sorted(mined_entries):
        problems.append(f"PositionOpened events of keeper txs {sorted(opened)} != mined signal_entry intents "
                        f"{sorted(mined_entries)}")
    checkpoints = Counter(i.state for i in result.intents if i.job == "risk" and i.action == "checkpoint")
    reverted = [(i.id, i.tx_hash, i.error) for i in result.intents if i.job == "risk" and i.state == "reverted"]
    if reverted:
        problems.append(f"risk job transactions reverted on chain: {reverted}")
    counts = {"positions_opened": len(opened), "checkpoints_mined": checkpoints.get("mined", 0),
              "strike_intents": dict(Counter(f"{i.action}:{i.state}" for i in result.intents if i.job == "strike"))}
    return problems, counts


def test_chaos_soak_with_strike_bots(tmp_path):
    rng = random.Random(SEED)
    started = time.monotonic()
    with anvil_chain() as node:
        w3 = node.w3
        env = {**keeper_env(str(tmp_path)), "MACROSTRIKE_KEEPER_STRIKE_DEADLINE_S": "7200"}
        deployed = ape("run", "deploy", "--network", node.uri, "--bots", "2", "--long-bots", "3", "--short-bots", "3",
                       "--capital", "2000", "--price", str(PRICE), env=env)
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
        manifest = Manifest.from_json(json.loads((tmp_path / "31337.json").read_text()))
        owner, signers = w3.eth.accounts[0], w3.eth.accounts[1:4]
        warm_feed(w3, manifest, owner)
        first_block = int(w3.eth.block_number) + 1
        w3.provider.make_request("anvil_setBlockTimestampInterval", [BLOCK_S])
        set_interval_mining(w3, 1)

        journal_url = f"sqlite:///{tmp_path / 'keeper.sqlite'}"
        market = StrikeMarket(w3, manifest, owner, rng, {a.lower() for a in signers}, journal_url)
        events = strike_schedule(rng, SOAK_S)
        kill_at = rng.uniform(0.4, 0.6) * SOAK_S
        with FaultProxy(node.uri, seed=SEED) as proxy:
            keeper = KeeperProcess(proxy.uri, journal_url, env, tmp_path / "keeper.log")
            keeper.start()
            wait_until(lambda: keeper_progress(journal_url)[0] >= 0, 120, "the keeper's first block")
            add_faults(proxy)
            log, _soak_s = drive(keeper, market, events, kill_at, rng.uniform(2.0, 5.0), market.move)
            code, stop_s = keeper.sigterm()
            log.append(f"SIGTERM: exit {code} after {stop_s:.2f} s")

            proxy.clear()  # settle run: faults off, the market quiet
            keeper.start()
            wait_until(lambda: keeper_progress(journal_url)[0] >= int(w3.eth.block_number) - 1
                       and keeper_progress(journal_url)[1] == 0, 120, "the settle run to catch up and settle")
            time.sleep(3)
            wait_until(lambda: keeper_progress(journal_url)[1] == 0, 60, "the settle run's last intents")
            settle_code, _ = keeper.sigterm()
            faults = dict(proxy.faults)
        set_interval_mining(w3, 0)
        time.sleep(1.2)
        result = audit(w3, journal_url, signers, manifest.address("amm"), from_block=first_block)
        problems, strike_counts = strike_problems(w3, manifest, result, first_block)

    output = keeper.log()
    counts = {"seed": SEED, "total_s": round(time.monotonic() - started, 1), **result.counts(), **strike_counts,
              "driver": dict(market.counts), "faults": faults, "restarts": keeper.starts - 1,
              "startup_failures": keeper.startup_failures, "exit_codes": keeper.exit_codes,
              "job_failures": output.count("failed at block")}
    summary = json.dumps(counts, indent=1, default=str)
    print("\n".join(log))
    print(summary)
    found = result.problems + problems
    assert not found, f"{len(found)} problem(s):\n" + "\n".join(found[:40]) + f"\n{summary}\nkeeper log: " \
        f"{tmp_path / 'keeper.log'}"
    assert "keeper halted" not in output, summary + output[-3000:]
    assert "Traceback" not in output, summary + output[output.index("Traceback") - 2000:][:5000]
    assert code == 0 and settle_code == 0, f"exit codes after SIGTERM {code}, {settle_code}\n{summary}"
    assert strike_counts["positions_opened"] >= 2 and strike_counts["checkpoints_mined"] >= 3, \
        f"the soak did not exercise the strike and risk jobs\n{summary}\n{output[-3000:]}"
    assert market.counts["reorg"] >= 4 and sum(faults.values()) >= 20, summary
