"""Several keeper jobs run as one by :class:`macrostrike.keeper.runner.Runner`.

``ape keeper run`` drives every bot of a deployment: the arbitrage job (AMM child), and on a
system with strike bots the strike job (long and short children) and the master's risk
checkpoint. The runner calls :meth:`JobSet.tick` once per new block; each job decides on its own
and journals under its own name; the set keeps one cursor (``name``) for the blocks processed.
"""

from __future__ import annotations

import logging
from typing import Any

from macrostrike.keeper.journal import Decision, Journal
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.signers import SignerPool

logger = logging.getLogger("macrostrike.keeper")


class JobSet:
    """The jobs in the order they act within a block (arbitrage first: it is the most
    time-sensitive; the risk checkpoint last: it sees the block's trades).

    Per block each job decides and broadcasts first, then the set settles every job's open
    intents once (they share one :class:`~macrostrike.keeper.txmanager.TxManager`): the time from
    a block's arrival to its broadcasts does not include reading the last block's receipts. **Isolation**: a
    job that raises is journalled (``error``/``job_failed``), recovered before its next block, and
    the other jobs still act; only when every job failed does the error reach the runner (a dead
    node: back off, then halt after ``max_consecutive_errors``).
    """

    name = "keeper"

    def __init__(self, jobs: list[Any], *, name: str = "keeper") -> None:
        """``name`` is the journal cursor (a dry run uses its own, so it never moves the live one)."""
        self.name = name
        if not jobs:
            raise ValueError("a JobSet needs at least one job")
        self.jobs = jobs
        self.txm = jobs[0].txm
        for job in jobs:
            if job.txm is not self.txm:
                raise ValueError(f"job {job.name} has its own transaction manager: pass txm= so all share one")
            job.owns_settlement = False
        self.failing: set[str] = set()

    def tick(self, header: Any = None) -> list[Decision]:
        web3 = self.jobs[0].web3
        header = header if header is not None else web3.eth.get_block("latest")
        with self.jobs[0].journal.deferred_decisions():  # one commit for the block's decisions
            return self._tick(header)

    def _tick(self, header: Any) -> list[Decision]:
        decisions: list[Decision] = []
        errors: list[Exception] = []
        for job in self.jobs:
            try:
                if job.name in self.failing:
                    job.recover()
                decisions.extend(job.tick(header))
                self.failing.discard(job.name)
            except Exception as err:  # noqa: BLE001 - one job's failure must not skip the others
                errors.append(err)
                self.failing.add(job.name)
                logger.warning("job %s failed at block %s: %s: %s", job.name, header["number"], type(err).__name__,
                               str(err).splitlines()[0] if str(err) else "")
                decisions.append(job.journal.record(Decision(int(header["number"]), job.name, "error", "job_failed",
                                                             None, {"error": f"{type(err).__name__}: {err}"[:300]})))
        if errors and len(errors) == len(self.jobs):
            raise errors[0]
        # settle after this block's broadcasts: a bot freed by a receipt acts from the next block
        self.txm.settle(header)
        for job in self.jobs:
            decisions.extend(job.drain())
        return decisions

    def settle(self, header: Any = None) -> list[Decision]:
        """Settle every job's open intents at ``header`` (default: the latest block) without deciding
        (``keeper run --blocks N`` before it exits: what already has a receipt is booked now)."""
        header = header if header is not None else self.jobs[0].web3.eth.get_block("latest")
        with self.jobs[0].journal.deferred_decisions():
            self.txm.settle(header)
            return [d for job in self.jobs for d in job.drain()]

    def _each(self, method: str, *args: Any) -> None:
        for job in self.jobs:
            if hasattr(job, method):
                getattr(job, method)(*args)

    def recover(self) -> None:
        """After errors: every job re-syncs (nonces above open intents, bots)."""
        self._each("recover")

    def refresh_bots(self) -> None:
        """After a reorg: every job re-reads its bots."""
        self._each("refresh_bots")

    def on_reorg(self, fork_block: int) -> None:
        """Blocks from ``fork_block`` were replaced: intents included there are re-checked (re-opened
        if gone), nonces re-synced, bots re-read."""
        self.txm.on_reorg(fork_block)
        self.refresh_bots()

    def backfill(self, from_block: int, to_block: int) -> None:
        """Blocks missed since the last run: every job that journals on-chain outcomes reads them."""
        self._each("backfill", from_block, to_block)


def strike_job(manifest: Any, pool: SignerPool, settings: KeeperSettings, journal: Journal, *,
               send: bool = True) -> Any:
    """The :class:`~macrostrike.keeper.strike.StrikeJob` of a deployment with strike bots (None
    without an Aave market in the manifest). It shares ``pool``'s signers — one nonce tracker per
    account, their error tables extended with the strike facets' errors — without the rotation
    rule (strike actions must not wait for a signer's window)."""
    if "aave_pool" not in manifest.contracts:
        return None
    from macrostrike.keeper.strike import StrikeContext, StrikeJob

    ctx = StrikeContext(manifest)
    for sender in pool.senders:
        sender.error_table = {**(sender.error_table or {}), **ctx.errors}
    return StrikeJob(ctx, SignerPool(pool.senders, max_ops=None), settings, journal, send=send, txm=pool.txm)
