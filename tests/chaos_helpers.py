"""Helpers of the chaos soak (tests/test_chaos_soak.py): the keeper daemon as a subprocess, a seeded
market driver on its own web3 straight to Anvil, and the end-of-run audit from chain data and the
journal alone.

The audit (:func:`audit`) answers, from the canonical chain and ``Journal.intents()`` /
``Journal.transactions()`` only:

(a) every transaction of a keeper signer in a canonical block is journalled exactly once, with the
    receipt's outcome (``mined`` for status 1, ``reverted`` for 0) and the receipt's block; every
    journalled ``mined``/``reverted`` row is such a transaction (nothing settled off the chain);
(b) no journalled ``rejected``, ``dropped`` (or ``replaced``) attempt is on chain;
(c) nothing applied twice: per intent at most one attempt on chain; an intent ``mined``/``reverted``
    points at its on-chain attempt with the same outcome; the ``ArbitrageExecuted`` events equal the
    journalled mined arbitrage intents (by transaction hash);
plus nothing left open (no ``pending``/``reorged`` attempt, no ``planned``/``sent`` intent) after the
final settle run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

from eth_abi import decode, encode
from eth_utils import event_signature_to_log_topic, function_signature_to_4byte_selector
from web3 import Web3

from chain_harness import rpc, set_next_base_fee, txpool_content
from macrostrike.keeper.journal import Journal
from ops_helpers import APE, ROOT

EXECUTED = "0x" + event_signature_to_log_topic(
    "ArbitrageExecuted(uint256,address,address,uint256,uint256,uint256,uint256)").hex()
MINT = function_signature_to_4byte_selector("mint(address,uint256)")
SYNC = bytes.fromhex("fff6cae9")
GET_RESERVES = bytes.fromhex("0902f1ac")
TOKEN0 = bytes.fromhex("0dfe1681")


def h(value: Any) -> str:
    """Lower-case ``0x`` hex of a hash (bytes or str)."""
    if isinstance(value, str):
        return value.lower() if value.startswith("0x") else "0x" + value.lower()
    return "0x" + bytes(value).hex()


# -- the keeper daemon ----------------------------------------------------------------------------
class KeeperProcess:
    """``ape keeper run`` as a subprocess, its output appended to one log file across restarts."""

    def __init__(self, network_uri: str, journal_url: str, env: dict[str, str], log_path: Path) -> None:
        self.network_uri, self.journal_url, self.env, self.log_path = network_uri, journal_url, env, log_path
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.exit_codes: list[int] = []
        #: starts that died before the run loop began (``Error:`` line of each), restarted
        self.startup_failures: list[str] = []
        self._log = None
        self._log_offset = 0

    def start(self) -> None:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log = open(self.log_path, "a")  # noqa: SIM115 - closed in _reap
        self._log.write(f"\n==== keeper start #{self.starts + 1} at {time.strftime('%H:%M:%S')} ====\n")
        self._log.flush()
        self.proc = subprocess.Popen([APE, "keeper", "run", "--network", self.network_uri, "--journal", self.journal_url],
                                     cwd=ROOT, env={**os.environ, **self.env}, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def since_start(self) -> str:
        """The log of the current (or last) start."""
        with open(self.log_path) as f:
            f.seek(self._log_offset)
            return f.read()

    def ensure_running(self, max_startup_failures: int = 5) -> None:
        """Like a supervisor (systemd ``Restart=on-failure``): a keeper that died while starting
        (before its run loop: no "keeper signers" line, e.g. Ape's connect hit an injected fault) is
        counted in :attr:`startup_failures` and started again. One that died after it was running
        fails the test."""
        if self.alive():
            return
        code = self._reap(10)
        text = self.since_start()
        if "keeper signers" in text:
            raise AssertionError(f"the keeper exited by itself (code {code}) while running:\n{text[-4000:]}")
        errors = [line for line in text.splitlines() if line.startswith("Error")] or [text[-300:]]
        self.startup_failures.append(f"exit {code}: {errors[-1][:300]}")
        assert len(self.startup_failures) <= max_startup_failures, self.startup_failures
        self.start()

    def kill9(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        return self._reap(10)

    def sigterm(self, timeout_s: float = 60.0) -> tuple[int, float]:
        """SIGTERM; returns ``(exit code, seconds until it exited)``."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self._reap(timeout_s)
        return code, time.monotonic() - started

    def _reap(self, timeout_s: float) -> int:
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=10)
            code = -999 if code is None else code
        self.exit_codes.append(code)
        if self._log is not None:
            self._log.write(f"\n==== keeper exit code {code} ====\n")
            self._log.close()
            self._log = None
        return code

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def journal_snapshot(url: str) -> tuple[list[Any], list[dict[str, Any]]]:
    """``(intents, transactions)`` read from the journal (a separate connection)."""
    journal = Journal(url)
    try:
        return journal.intents(), journal.transactions()
    finally:
        journal.close()


def keeper_progress(url: str) -> tuple[int, int]:
    """``(last block the keeper finished, open intents)`` from the journal (``(-1, 0)`` if none yet)."""
    journal = Journal(url)
    try:
        last = journal.last_block("keeper")
        return (-1 if last is None else last), len(journal.open_intents())
    finally:
        journal.close()


class WaitTimeout(AssertionError):
    """:func:`wait_until` ran out of time."""


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str, step_s: float = 0.2) -> float:
    """Poll ``predicate`` until true; seconds waited. Raises AssertionError after ``timeout_s``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            if predicate():
                return time.monotonic() - started
        except AssertionError:  # ensure_running: the keeper died while running
            raise
        except Exception:  # noqa: BLE001 - e.g. the journal not created yet
            pass
        time.sleep(step_s)
    raise WaitTimeout(f"timed out after {timeout_s:.0f} s waiting for {what}")


def drive(keeper: KeeperProcess, driver: Any, events: list[tuple[float, str]], kill_at: float, down_s: float,
          while_down: Callable[[], Any]) -> tuple[list[str], float]:
    """Run ``events`` (``(seconds from now, driver method name)``) against the running ``keeper``; at
    ``kill_at`` s ``kill -9`` it, call ``while_down`` after ``down_s`` s (the market moves while nobody
    watches) and start it again on the same journal. A keeper that died while starting is restarted
    (:meth:`KeeperProcess.ensure_running`). Returns ``(log lines, seconds it took)``."""
    log: list[str] = []
    start, killed = time.monotonic(), False
    for at, kind in events:
        now = time.monotonic() - start
        if not killed and at >= kill_at:
            time.sleep(max(0.0, kill_at - now))
            code = keeper.kill9()
            log.append(f"{time.monotonic() - start:6.1f} kill -9 (exit {code})")
            killed = True
            time.sleep(down_s)
            while_down()
            keeper.start()
            log.append(f"{time.monotonic() - start:6.1f} restarted on the same journal")
            now = time.monotonic() - start
        if at > now:
            time.sleep(at - now)
        keeper.ensure_running()
        log.append(f"{time.monotonic() - start:6.1f} {getattr(driver, kind)()}")
    return log, time.monotonic() - start


# -- the market driver ----------------------------------------------------------------------------
@dataclass
class MarketDriver:
    """Moves the market on its own web3 (straight to Anvil, not through the proxy), every choice
    from ``rng``. ``owner`` is the deployer (Anvil account 0, unlocked: Anvil signs)."""

    w3: Web3
    manifest: Any
    owner: str
    rng: Any
    signers: set[str]  # keeper signer addresses, lower case
    journal_url: str  # the keeper's journal (read only: to reorg a block the keeper has settled)
    counts: Counter = field(default_factory=Counter)
    reorg_depths: list[int] = field(default_factory=list)

    def _call(self, to: str, data: bytes) -> bytes:
        return bytes(self.w3.eth.call({"to": to, "data": data}))

    def gap(self) -> str:
        """Mint 0.5–3 % of one pool's USDC or WBTC reserve into that pair and ``sync()``: a price gap
        between the two DEXes. Returns what it did."""
        pair_key = self.rng.choice(["dex_a_pair", "dex_b_pair"])
        token_key = self.rng.choice(["usdc", "wbtc"])
        bps = self.rng.randint(50, 300)
        pair, token = self.manifest.address(pair_key), self.manifest.address(token_key)
        token0 = decode(["address"], self._call(pair, TOKEN0))[0]
        r0, r1, _ = decode(["uint112", "uint112", "uint32"], self._call(pair, GET_RESERVES))
        reserve = r0 if token0.lower() == token.lower() else r1
        mint = MINT + encode(["address", "uint256"], [pair, reserve * bps // 10_000])
        hashes = [self.w3.eth.send_transaction({"from": self.owner, "to": to, "data": data})
                  for to, data in ((token, mint), (pair, SYNC))]
        for tx_hash in hashes:
            try:
                self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=15, poll_latency=0.1)
            except Exception:  # noqa: BLE001 - a reorg of ours may have dropped it: that gap is undone
                self.counts["gap_lost"] += 1
        self.counts["gap"] += 1
        return f"gap {token_key} +{bps / 100:.2f}% into {pair_key}"

    def _keeper_block(self, since: int, timeout_s: float) -> int | None:
        """The first block above ``since`` holding a keeper transaction, polled for ``timeout_s``."""
        deadline, seen = time.monotonic() + timeout_s, since
        while time.monotonic() < deadline:
            head = int(self.w3.eth.block_number)
            for number in range(seen + 1, head + 1):
                block = self.w3.eth.get_block(number, full_transactions=True)
                if any(str(tx["from"]).lower() in self.signers for tx in block["transactions"]):
                    return number
            seen = head
            time.sleep(0.1)
        return None

    def _settled_in(self, block: int) -> bool:
        """The journal holds a keeper transaction settled (mined/reverted) in ``block``."""
        try:
            return any(r["block"] == block and r["status"] in ("mined", "reverted")
                       for r in journal_snapshot(self.journal_url)[1])
        except Exception:  # noqa: BLE001 - the journal busy: not yet
            return False

    def _keeper_in_pool(self, timeout_s: float) -> bool:
        """Poll the node's pool until it holds a keeper transaction (True) or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pending = txpool_content(self.w3).get("pending", {})
            if any(sender.lower() in self.signers for sender in pending):
                return True
            time.sleep(0.02)
        return False

    def reorg(self) -> str:
        """A price gap, then — once a keeper trade for it is in a block — ``anvil_reorg`` over that
        block, at once (before its 2nd confirmation) or once the journal shows it settled (the intent
        must re-open), depth 1–2 (3 if the head moved meanwhile). The replaced blocks' transactions are dropped
        (the keeper's trade
        and, at depth 2, maybe the gap: then the re-sent trade reverts or is no longer wanted).
        Without a keeper trade within 6 s: a plain depth-1 reorg."""
        since = int(self.w3.eth.block_number)
        self.gap()
        target = self._keeper_block(since, 6.0)
        if target is None:
            depth, what = 1, "no keeper tx seen"
        else:
            if self.rng.random() < 0.5:  # once the keeper has settled it (2 confirmations): it must re-open
                deadline = time.monotonic() + 5.0
                while time.monotonic() < deadline and not self._settled_in(target):
                    time.sleep(0.05)
                self.counts["reorg_after_settled"] += self._settled_in(target)
            depth = int(self.w3.eth.block_number) - target + 1
            depth = min(3, max(depth, self.rng.choice([1, 2])))
            what = f"over keeper tx in block {target}"
        rpc(self.w3, "anvil_reorg", depth, [])
        self.counts["reorg"] += 1
        self.counts["reorg_hit_keeper"] += target is not None
        self.reorg_depths.append(depth)
        return f"reorg depth {depth} ({what})"

    def fee_spike(self) -> str:
        """A price gap, then the next block's base fee set to 2–6 gwei (the chain idles near zero):
        either as soon as a keeper trade is in the node's pool (Anvil evicts it when the block is
        mined: the keeper must re-send at a higher fee) or at once (the keeper's send, quoted from
        the last header, is refused)."""
        gwei = self.rng.randint(2, 6)
        mode = self.rng.choice(["in_flight", "in_flight", "before_send"])
        self.gap()
        hit = mode == "before_send" or self._keeper_in_pool(4.0)
        set_next_base_fee(self.w3, gwei * 10**9)
        self.counts["fee_spike"] += 1
        self.counts["fee_spike_in_flight"] += mode == "in_flight" and hit
        return f"next base fee {gwei} gwei ({mode}{'' if hit else ': no keeper tx seen'})"


def schedule(rng: Any, soak_s: float) -> list[tuple[float, str]]:
    """The driver's actions as ``(seconds from the start, kind)``, drawn from ``rng``: a price gap
    every 2–5 s, a reorg every 8–16 s, a base-fee spike every 15–30 s (both open a gap first)."""
    events: list[tuple[float, str]] = []
    for kind, low, high, first in (("gap", 2.0, 5.0, 1.0), ("reorg", 8.0, 16.0, 6.0), ("fee_spike", 15.0, 30.0, 10.0)):
        t = first + rng.uniform(0, low)
        while t < soak_s:
            events.append((round(t, 2), kind))
            t += rng.uniform(low, high)
    return sorted(events)


# -- the audit ------------------------------------------------------------------------------------
@dataclass
class Audit:
    """Everything :func:`audit` found; ``problems`` is empty when every check holds."""

    chain_txs: dict[str, dict[str, Any]]  # keeper transactions on the canonical chain: hash -> receipt facts
    intents: list[Any]
    rows: list[dict[str, Any]]
    events: list[str]  # hashes of the transactions holding ArbitrageExecuted events
    problems: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, Any]:
        return {"keeper_txs_on_chain": len(self.chain_txs),
                "on_chain_reverted": sum(1 for t in self.chain_txs.values() if t["status"] == 0),
                "journal_txs": len(self.rows),
                "journal_txs_by_status": dict(Counter(r["status"] for r in self.rows)),
                "intents": len(self.intents),
                "intents_by_state": dict(Counter(i.state for i in self.intents)),
                "intents_by_job": dict(Counter(i.job for i in self.intents)),
                "attempts_per_intent_max": max(Counter(r["intent_id"] for r in self.rows).values(), default=0),
                "arbitrage_executed_events": len(self.events)}


def audit(w3: Web3, journal_url: str, signers: list[str], amm: str, from_block: int = 0) -> Audit:
    """Checks (a)–(c) of the module docstring against ``w3``'s canonical chain."""
    signer_set = {s.lower() for s in signers}
    head = int(w3.eth.block_number)
    chain_txs: dict[str, dict[str, Any]] = {}
    for number in range(from_block, head + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            if str(tx["from"]).lower() in signer_set:
                receipt = w3.eth.get_transaction_receipt(tx["hash"])
                chain_txs[h(tx["hash"])] = {"status": int(receipt["status"]), "block": int(receipt["blockNumber"]),
                                            "block_hash": h(receipt["blockHash"]), "from": str(tx["from"]).lower(),
                                            "nonce": int(tx["nonce"])}
    logs = w3.eth.get_logs({"address": amm, "fromBlock": from_block, "toBlock": head, "topics": [EXECUTED]})
    events = [h(log["transactionHash"]) for log in logs]
    intents, rows = journal_snapshot(journal_url)
    result = Audit(chain_txs, intents, rows, events)
    p = result.problems
    by_hash: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_hash.setdefault(row["tx_hash"].lower(), []).append(row)

    # (a) on chain -> journalled exactly once with the receipt's outcome and block
    for tx_hash, fact in chain_txs.items():
        found = by_hash.get(tx_hash, [])
        want = "mined" if fact["status"] == 1 else "reverted"
        if len(found) != 1:
            p.append(f"(a) on-chain keeper tx {tx_hash} (block {fact['block']}, {want}) journalled {len(found)} times")
            continue
        row = found[0]
        if row["status"] != want or row["block"] != fact["block"] or (row["block_hash"] or "").lower() != fact["block_hash"]:
            p.append(f"(a) on-chain keeper tx {tx_hash} {want} in block {fact['block']} {fact['block_hash'][:10]}, "
                     f"journal says {row['status']} block {row['block']} {(row['block_hash'] or '')[:10]} "
                     f"(intent {row['intent_id']})")
    # (a') journalled as included -> on chain
    for row in rows:
        if row["status"] in ("mined", "reverted") and row["tx_hash"].lower() not in chain_txs:
            p.append(f"(a) journal row {row['tx_hash']} {row['status']} in block {row['block']} (intent "
                     f"{row['intent_id']}) is not on the canonical chain")
    # (b) refused / dropped / replaced attempts are not on chain
    for row in rows:
        if row["status"] in ("rejected", "dropped", "replaced") and row["tx_hash"].lower() in chain_txs:
            fact = chain_txs[row["tx_hash"].lower()]
            p.append(f"(b) journal row {row['tx_hash']} is {row['status']} but on chain in block {fact['block']} "
                     f"(intent {row['intent_id']}, error {row['error']!r})")
    # (c) per intent at most one attempt included; its outcome is the intent's
    attempts: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        attempts.setdefault(row["intent_id"], []).append(row)
    for intent in intents:
        included = [r for r in attempts.get(intent.id, []) if r["tx_hash"].lower() in chain_txs]
        if len(included) > 1:
            p.append(f"(c) intent {intent.id} ({intent.job} {intent.action} {intent.subject}) has {len(included)} "
                     f"attempts on chain: {[r['tx_hash'] for r in included]}")
        if intent.state in ("mined", "reverted"):
            fact = chain_txs.get((intent.tx_hash or "").lower())
            want = {"mined": 1, "reverted": 0}[intent.state]
            if fact is None or fact["status"] != want or fact["block"] != intent.block:
                p.append(f"(c) intent {intent.id} {intent.state} tx {intent.tx_hash} block {intent.block}: on chain "
                         f"{fact}")
        elif included:
            p.append(f"(c) intent {intent.id} is {intent.state} but its attempt {included[0]['tx_hash']} is on chain "
                     f"in block {chain_txs[included[0]['tx_hash'].lower()]['block']}")
    orphans = [r["tx_hash"] for r in rows if r["intent_id"] is None]
    if orphans:
        p.append(f"(c) journal rows without an intent: {orphans[:5]} ({len(orphans)})")
    mined_arb = sorted((i.tx_hash or "").lower() for i in intents if i.job == "arbitrage" and i.state == "mined")
    if sorted(events) != mined_arb:
        p.append(f"(c) {len(events)} ArbitrageExecuted events vs {len(mined_arb)} mined arbitrage intents; events "
                 f"without a mined intent {sorted(set(events) - set(mined_arb))[:5]}, mined intents without an event "
                 f"{sorted(set(mined_arb) - set(events))[:5]}")
    if len(events) != len(set(events)):
        p.append(f"(c) a transaction with two ArbitrageExecuted events: {Counter(events).most_common(2)}")
    # nothing left open after the settle run
    left_open = [f"{i.id}:{i.state}" for i in intents if i.state in ("planned", "sent")]
    if left_open:
        p.append(f"intents still open at the end: {left_open}")
    left_pending = [f"{r['tx_hash']}:{r['status']}" for r in rows if r["status"] in ("pending", "reorged")]
    if left_pending:
        p.append(f"attempts still pending/reorged at the end: {left_pending}")
    return result
