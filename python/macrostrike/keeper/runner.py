"""The keeper's block loop: one job tick per new block, with retries, a breaker and clean stops.

* RPC failures (connection refused, timeouts, node errors) are retried with exponential backoff
  (``backoff_base_s * 2**(n-1)``, capped at ``backoff_max_s``).
* After ``max_consecutive_errors`` failures in a row the runner halts (:class:`KeeperHalted`)
  instead of hammering a dead node.
* SIGTERM and SIGINT ask the loop to stop after the current block's work: a transaction being
  sent finishes and is journalled; nothing is left half-done.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("macrostrike.keeper")


class KeeperHalted(RuntimeError):
    """Too many consecutive errors: the keeper stopped itself."""


@dataclass
class RunResult:
    blocks: int = 0
    errors: int = 0
    stopped_by_signal: bool = False


class Runner:
    """Calls ``tick()`` of ``job`` once per new block of ``web3``.

    :param on_block: called with the block number after each successful tick (e.g. to move the
        journal's cursor or print decisions).
    """

    def __init__(self, web3: Any, job: Any, *, poll_interval_s: float = 1.0, max_consecutive_errors: int = 10,
                 backoff_base_s: float = 0.5, backoff_max_s: float = 30.0,
                 on_block: Callable[[int, list[Any]], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.web3, self.job = web3, job
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

    def run(self, max_blocks: int | None = None, *, install_signals: bool = True) -> RunResult:
        result = RunResult()
        previous = {}
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self.request_stop)
        last, consecutive = None, 0
        try:
            while not self.stop_requested and (max_blocks is None or result.blocks < max_blocks):
                try:
                    number = int(self.web3.eth.block_number)
                    if number == last:
                        self.sleep(self.poll_interval_s)
                        continue
                    decisions = self.job.tick()
                    last, consecutive = number, 0
                    result.blocks += 1
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
