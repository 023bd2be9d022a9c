"""The keeper's block loop: one job tick per new head, reorg detection, retries, a breaker, clean stops.

* Each poll reads the head block (number *and* hash: a reorg at the same height is a new head).
  The loop writes a heartbeat to the journal (``ape keeper health --liveness`` reads it).
* **Reorgs**: :class:`BlockWatcher` keeps the hashes of the last ``reorg_depth`` blocks (gaps the
  loop skipped are filled from the chain). A head whose ancestry differs from what was seen gives
  the fork block; the job's ``on_reorg(fork)`` re-checks every intent included at or above it
  (re-opened if its receipt is gone, back to mined when re-included) and re-syncs nonces. A
  settled receipt whose block hash differs from the canonical hash seen counts as a reorg too.
* RPC failures are retried with exponential backoff and jitter (tenacity's ``wait_exponential`` +
  ``wait_random``: ``backoff_base_s * 2**(n-1)`` capped at ``backoff_max_s``, plus up to
  ``backoff_jitter_s``). After ``max_consecutive_errors`` failures in a row the runner halts
  (:class:`KeeperHalted`) instead of hammering a dead node; the first tick after errors is
  preceded by the job's ``recover()``.
* SIGTERM and SIGINT stop the loop within one poll: no tick waits for a receipt (intents settle in
  later blocks), and a sleep is interrupted at once. Open intents are resumed at the next start.
* With a ``leader`` (:class:`~macrostrike.keeper.leader.Leadership`), the loop runs only while this
  process holds the leadership: it stops (``RunResult.lost_leadership``) once a ping of the lock
  connection failed or a fenced journal write was refused (a deposed leader).
* With a journal, the cursor (last block and its hash) moves after every tick; blocks missed while
  the keeper was down are handed to the job's ``backfill(from_block, to_block)`` once, at start.
"""

from __future__ import annotations

import inspect
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from tenacity import wait_exponential, wait_random
from web3.exceptions import BlockNotFound

logger = logging.getLogger("macrostrike.keeper")


class KeeperHalted(RuntimeError):
    """Too many consecutive errors: the keeper stopped itself."""


@dataclass
class RunResult:
    blocks: int = 0
    errors: int = 0
    stopped_by_signal: bool = False
    reorgs: int = 0
    backfilled_blocks: int = 0
    #: why the loop stopped as a deposed leader (None: it did not)
    lost_leadership: str | None = None


def _hex(value: Any) -> str:
    if isinstance(value, str):
        return value.lower() if value.startswith("0x") else "0x" + value.lower()
    return "0x" + bytes(value).hex()


class BlockWatcher:
    """Hashes of the last ``depth`` blocks seen; finds where a new head's ancestry diverges.

    Args:
        web3: the connection (blocks the loop skipped are read to fill gaps).
        depth: blocks of history kept (``reorg_depth``).
    """

    def __init__(self, web3: Any, depth: int) -> None:
        self.web3, self.depth = web3, depth
        self.hashes: dict[int, str] = {}

    def seed(self, number: int, block_hash: str) -> None:
        """Remember one block (e.g. the journal's cursor from an earlier run)."""
        self.hashes[number] = block_hash.lower()

    def observe(self, head: Any) -> int | None:
        """Record ``head``; return the lowest block number whose hash changed (the fork block), or
        None when the new head extends what was seen."""
        number, head_hash = int(head["number"]), _hex(head["hash"])
        replaced = [n for n in self.hashes if n > number]  # a shorter chain: those blocks are gone
        if self.hashes.get(number, head_hash) != head_hash:
            replaced.append(number)
        parent, k = _hex(head["parentHash"]), number - 1
        floor = max(min(self.hashes, default=number), number - self.depth)
        while k >= floor:  # walk the new head's ancestry down to a block we saw with the same hash
            known = self.hashes.get(k)
            if known == parent:
                break
            if known is not None:
                replaced.append(k)
            try:
                block = self.web3.eth.get_block(k)
            except BlockNotFound:
                break
            self.hashes[k], parent, k = _hex(block["hash"]), _hex(block["parentHash"]), k - 1
        for n in [n for n in self.hashes if n > number or n < number - self.depth]:
            del self.hashes[n]
        self.hashes[number] = head_hash
        return min(replaced) if replaced else None


class Runner:
    """Calls ``tick()`` of ``job`` once per new head of ``web3``.

    :param on_block: called with the block number and decisions after each successful tick.
    :param sleep: how the loop waits (default: an interruptible wait that SIGTERM ends at once).
    :param journal: where the cursor and the heartbeat are written (None: neither).
    :param reorg_depth: blocks of hash history kept to find a fork.
    :param on_halt: called with the :class:`KeeperHalted` before it is raised (operator alerts).
    """

    def __init__(self, web3: Any, job: Any, *, poll_interval_s: float = 1.0, max_consecutive_errors: int = 10,
                 backoff_base_s: float = 0.5, backoff_max_s: float = 30.0, backoff_jitter_s: float = 0.0,
                 on_block: Callable[[int, list[Any]], None] | None = None,
                 sleep: Callable[[float], Any] | None = None, journal: Any = None, reorg_depth: int = 64,
                 heartbeat_every_s: float = 1.0, on_halt: Callable[[KeeperHalted], None] | None = None,
                 leader: Any = None) -> None:
        self.web3, self.job = web3, job
        self.leader = leader  # macrostrike.keeper.leader.Leadership, or None (a single keeper)
        self.on_halt = on_halt
        self.journal, self.reorg_depth = journal, reorg_depth
        self.watcher = BlockWatcher(web3, reorg_depth)
        self.poll_interval_s = poll_interval_s
        self.max_consecutive_errors = max_consecutive_errors
        self._wait = wait_exponential(multiplier=backoff_base_s, max=backoff_max_s) + wait_random(0, backoff_jitter_s)
        self.on_block = on_block
        self._stop = threading.Event()
        self.sleep = sleep or self._stop.wait
        self.heartbeat_every_s, self._beat_at = heartbeat_every_s, 0.0
        self._tick_takes_header = _accepts_argument(job.tick)

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def request_stop(self, *_args: Any) -> None:
        """Signal handler: stop at the next poll (any sleep ends at once)."""
        self._stop.set()

    def _notify_halt(self, halt: KeeperHalted) -> None:
        if self.on_halt is None:
            return
        try:
            self.on_halt(halt)
        except Exception as err:  # noqa: BLE001 - the halt itself must reach the caller
            logger.warning("on_halt failed: %s: %s", type(err).__name__, err)

    def _deposed(self, result: RunResult) -> bool:
        """True (reason in ``result``) once this process no longer holds its leadership."""
        if self.leader is None or self.leader.holds():
            return False
        result.lost_leadership = self.leader.lost_reason or "leadership lost"
        logger.error("no longer the leader (%s): stopping; nothing more is sent", result.lost_leadership)
        return True

    def backoff(self, consecutive: int) -> float:
        """Seconds to wait after the ``consecutive``-th error in a row."""
        return float(self._wait(SimpleNamespace(attempt_number=consecutive)))

    def _beat(self) -> None:
        if self.journal is not None and time.monotonic() - self._beat_at >= self.heartbeat_every_s:
            self._beat_at = time.monotonic()
            self.journal.beat(getattr(self.job, "name", "keeper"))

    def _advance(self, number: int, block_hash: str) -> None:
        self.journal.set_last_block(self.job.name, number, block_hash)

    def _reorg(self, fork: int) -> None:
        logger.warning("reorg: blocks from %d were replaced", fork)
        if hasattr(self.job, "on_reorg"):
            self.job.on_reorg(fork)
        else:
            if self.journal is not None:
                self.journal.undo_reorged(self.web3, fork)
            if hasattr(self.job, "refresh_bots"):
                self.job.refresh_bots()

    def check_reorg(self, head: Any = None) -> bool:
        """True (and the job repaired) if ``head`` (default: the latest block) does not extend the
        blocks seen so far, or the journal's cursor left the canonical chain."""
        head = head if head is not None else self.web3.eth.get_block("latest")
        if not self.watcher.hashes and self.journal is not None:
            cursor = self.journal.cursor(self.job.name)
            if cursor is not None and cursor[1] is not None:
                self._seed_from_cursor(*cursor)
        fork = self.watcher.observe(head)
        txm = getattr(self.job, "txm", None)
        if txm is not None:
            moved = txm.receipt_block_mismatch(self.watcher.hashes)
            fork = moved if fork is None else (fork if moved is None else min(fork, moved))
        if fork is None:
            return False
        self._reorg(fork)
        return True

    def _seed_from_cursor(self, number: int, block_hash: str) -> None:
        try:
            canonical = _hex(self.web3.eth.get_block(number)["hash"])
        except BlockNotFound:
            canonical = None
        if canonical == block_hash.lower():
            self.watcher.seed(number, canonical)
        else:  # the cursor's block is gone: everything from a reorg depth below it is suspect
            self._reorg(max(0, number - self.reorg_depth))

    def recover(self) -> None:
        """After errors (a node restart, a lost connection): settle legacy pending rows and let the
        job re-sync (nonces above its open intents, bots) before it decides again."""
        if self.journal is not None:
            settled = self.journal.reconcile(self.web3)
            if settled:
                logger.info("recovered: journal reconciled %s", settled)
        if hasattr(self.job, "recover"):
            self.job.recover()

    def backfill(self, head: int) -> int:
        """Give the job the blocks missed since the journal's cursor; returns how many."""
        cursor = self.journal.cursor(self.job.name) if self.journal is not None else None
        if cursor is None or cursor[0] >= head or not hasattr(self.job, "backfill"):
            return 0
        self.job.backfill(cursor[0] + 1, head)
        return head - cursor[0]

    def run(self, max_blocks: int | None = None, *, install_signals: bool = True) -> RunResult:
        result = RunResult()
        previous = {}
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self.request_stop)
        last, consecutive, started = None, 0, False
        try:
            while not self.stop_requested and (max_blocks is None or result.blocks < max_blocks):
                if self._deposed(result):
                    break
                try:
                    head = self.web3.eth.get_block("latest")
                    self._beat()
                    key = (int(head["number"]), _hex(head["hash"]))
                    if key == last:
                        self.sleep(self.poll_interval_s)
                        continue
                    if consecutive:
                        self.recover()
                    if self.check_reorg(head):
                        result.reorgs += 1
                    if not started:
                        result.backfilled_blocks = self.backfill(key[0])
                        started = True
                    decisions = self.job.tick(head) if self._tick_takes_header else self.job.tick()
                    last, consecutive = key, 0
                    result.blocks += 1
                    if self._deposed(result):
                        break
                    if self.journal is not None:
                        self._advance(*key)
                    if self.on_block is not None:
                        self.on_block(key[0], decisions)
                except Exception as err:  # noqa: BLE001 - any RPC/transport failure is retried
                    if self._deposed(result):  # e.g. a fenced write: no retry, stop now
                        break
                    consecutive += 1
                    result.errors += 1
                    if consecutive >= self.max_consecutive_errors:
                        halt = KeeperHalted(f"{consecutive} consecutive errors, the last: "
                                            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
                        self._notify_halt(halt)
                        raise halt from err
                    wait = self.backoff(consecutive)
                    logger.warning("keeper error %d/%d (%s: %s); retrying in %.1f s", consecutive,
                                   self.max_consecutive_errors, type(err).__name__, err, wait)
                    self.sleep(wait)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        result.stopped_by_signal = self.stop_requested
        return result


def _accepts_argument(method: Callable[..., Any]) -> bool:
    try:
        params = [p for p in inspect.signature(method).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return False
    return bool(params)
