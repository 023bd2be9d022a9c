"""The keeper's block loop: one job tick per new block, with retries, a breaker and clean stops.

* RPC failures (connection refused, timeouts, node errors) are retried with exponential backoff
  (``backoff_base_s * 2**(n-1)``, capped at ``backoff_max_s``).
* After ``max_consecutive_errors`` failures in a row the runner halts (:class:`KeeperHalted`)
  instead of hammering a dead node.
* SIGTERM and SIGINT ask the loop to stop after the current block's work: a transaction being
  sent finishes and is journalled; nothing is left half-done.
* With a journal, the job's cursor (last block and its hash) moves after every tick. A cursor
  whose block hash is no longer canonical means a reorg: transactions recorded in the last
  ``reorg_depth`` blocks are re-checked (:meth:`Journal.undo_reorged` marks vanished ones
  ``reorged``) and the job re-reads its bots from the chain. Blocks missed while the keeper was
  down are handed to the job's ``backfill(from_block, to_block)`` once, at start.
* The first tick after errors is preceded by :meth:`Runner.recover`: pending transactions are
  reconciled and the job re-syncs its nonces and bots.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


class Runner:
    """Calls ``tick()`` of ``job`` once per new block of ``web3``.

    :param on_block: called with the block number after each successful tick (e.g. to move the
        journal's cursor or print decisions).
    """

    def __init__(self, web3: Any, job: Any, *, poll_interval_s: float = 1.0, max_consecutive_errors: int = 10,
                 backoff_base_s: float = 0.5, backoff_max_s: float = 30.0,
                 on_block: Callable[[int, list[Any]], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep, journal: Any = None, reorg_depth: int = 64) -> None:
        self.web3, self.job = web3, job
        self.journal, self.reorg_depth = journal, reorg_depth
        self._cursor: tuple[int, str | None] | None = None  # the journal's cursor as this runner last wrote it
        self.poll_interval_s = poll_interval_s
        self.max_consecutive_errors = max_consecutive_errors
        self.backoff_base_s, self.backoff_max_s = backoff_base_s, backoff_max_s
        self.on_block = on_block
        self.sleep = sleep
        self.stop_requested = False

    def request_stop(self, *_args: Any) -> None:
        """Signal handler: finish the current block, then return."""
        self.stop_requested = True

    def backoff(self, consecutive: int) -> float:
        """Seconds to wait after the ``consecutive``-th error in a row."""
        return min(self.backoff_max_s, self.backoff_base_s * 2 ** (consecutive - 1))

    def _hash(self, number: int) -> str | None:
        try:
            block = self.web3.eth.get_block(number)
        except BlockNotFound:  # the chain is shorter now; transport errors propagate (retried)
            return None
        return "0x" + bytes(block["hash"]).hex()

    def _advance(self, number: int) -> None:
        """Move the job's cursor to ``number`` and its current hash (journal and memory)."""
        self._cursor = (number, self._hash(number))
        self.journal.set_last_block(self.job.name, *self._cursor)

    def check_reorg(self) -> bool:
        """True (and the journal and job repaired) if the cursor's block left the canonical chain."""
        if self.journal is None:
            return False
        cursor = self._cursor or self.journal.cursor(self.job.name)  # no database read per block
        if cursor is None or cursor[1] is None or self._hash(cursor[0]) == cursor[1]:
            return False
        since = max(0, cursor[0] - self.reorg_depth)
        undone = self.journal.undo_reorged(self.web3, since)
        logger.warning("reorg below block %d: %d recorded transaction(s) undone", cursor[0], len(undone))
        if hasattr(self.job, "refresh_bots"):
            self.job.refresh_bots()
        self._advance(since)
        return True

    def recover(self) -> None:
        """After errors (a node restart, a lost connection): settle journalled pending transactions
        against the chain and let the job re-sync (nonces, bots) before it decides again."""
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
                try:
                    number = int(self.web3.eth.block_number)
                    if number == last:
                        self.sleep(self.poll_interval_s)
                        continue
                    if consecutive:
                        self.recover()
                    if self.check_reorg():
                        result.reorgs += 1
                    if not started:
                        result.backfilled_blocks = self.backfill(number)
                        started = True
                    decisions = self.job.tick()
                    last, consecutive = number, 0
                    result.blocks += 1
                    if self.journal is not None:
                        self._advance(number)
                    if self.on_block is not None:
                        self.on_block(number, decisions)
                except Exception as err:  # noqa: BLE001 - any RPC/transport failure is retried
                    consecutive += 1
                    result.errors += 1
                    if consecutive >= self.max_consecutive_errors:
                        raise KeeperHalted(f"{consecutive} consecutive errors, the last: "
                                           f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from err
                    wait = self.backoff(consecutive)
                    logger.warning("keeper error %d/%d (%s: %s); retrying in %.1f s", consecutive,
                                   self.max_consecutive_errors, type(err).__name__, err, wait)
                    self.sleep(wait)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        result.stopped_by_signal = self.stop_requested
        return result
