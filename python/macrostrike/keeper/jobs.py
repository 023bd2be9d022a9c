"""Several keeper jobs run as one by :class:`macrostrike.keeper.runner.Runner`.

``ape keeper run`` drives every bot of a deployment: the arbitrage job (AMM child), and on a
system with strike bots the strike job (long and short children) and the master's risk
checkpoint. The runner calls :meth:`JobSet.tick` once per new block; each job decides on its own
and journals under its own name; the set keeps one cursor (``name``) for the blocks processed.
"""

from __future__ import annotations

from typing import Any

from macrostrike.keeper.journal import Decision, Journal
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.signers import SignerPool


class JobSet:
    """The jobs in the order they act within a block (arbitrage first: it is the most
    time-sensitive; the risk checkpoint last: it sees the block's trades)."""

    name = "keeper"

    def __init__(self, jobs: list[Any]) -> None:
        if not jobs:
            raise ValueError("a JobSet needs at least one job")
        self.jobs = jobs

    def tick(self) -> list[Decision]:
        decisions: list[Decision] = []
        for job in self.jobs:
            decisions.extend(job.tick())
        return decisions

    def _each(self, method: str, *args: Any) -> None:
        for job in self.jobs:
            if hasattr(job, method):
                getattr(job, method)(*args)

    def recover(self) -> None:
        """After errors: every job that can re-syncs (nonces, bots)."""
        self._each("recover")

    def refresh_bots(self) -> None:
        """After a reorg: every job re-reads its bots."""
        self._each("refresh_bots")

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
    return StrikeJob(ctx, SignerPool(pool.senders, max_ops=None), settings, journal, send=send)
