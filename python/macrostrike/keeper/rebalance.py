"""Rebalancing by recent performance: plan moves worst → best, then (``--yes``) send them.

The master's ``AllocationFacet.rebalanceByPerformance(fromChild, fromBot, toChild, toBot, amount)``
enforces the rule on chain; this module plans calls that pass it:

* each bot's **recent return** in basis points of its capital:
  ``returnBps = recentPnl × 10,000 / capital``, the division truncated toward zero (as Solidity's
  signed division), where ``recentPnl`` is the child's ``PerformanceFacet.recentPerformance``
  (realised PnL in quote base units over the current and the preceding window of chain time,
  7 days each by default). A bot with 0 capital has no return and takes no part.
* bots (Active ones, of every child together) are ranked by return; the worst is paired with the
  best, the second worst with the second best, and so on, each bot in at most one move, so the
  returns the chain reads at each call are the ones planned;
* a pair is kept only if ``toReturnBps − fromReturnBps >= max(1, min_gap_bps)``; since the outer
  pair has the largest gap, planning stops at the first pair below it;
* each move takes ``floor(capital × maxMoveBps / 10,000)`` of the source (the master's bound,
  exactly as ``_move`` computes it); a move of 0 is dropped;
* a bot that gave capital by performance less than the master's ``performanceMoveCooldown()``
  (default 1 day) ago is not a source (the contract refuses it: ``SourceCoolingDown``); it may
  still receive.

:func:`plan_rebalance` is pure (no chain); :func:`run_rebalance` is the ``ape keeper rebalance``
command's body: read the chain, print the plan, send only when asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

BPS = 10_000
ACTIVE = 1  # LibBots.BotStatus.Active
#: Bots read per botsPage call (the master's AllocationFacet.MAX_BOTS_PER_CHILD).
MAX_BOTS_PER_CHILD = 100


def return_bps(recent_pnl: int, capital: int) -> int:
    """``recent_pnl × 10,000 / capital`` truncated toward zero (Solidity's signed division).

    Raises ValueError for ``capital <= 0`` (the master reverts NoCapital for 0 capital)."""
    if capital <= 0:
        raise ValueError(f"capital must be positive, got {capital}")
    q = abs(recent_pnl) * BPS // capital
    return q if recent_pnl >= 0 else -q


@dataclass(frozen=True)
class BotPerformance:
    """One bot as the planner sees it. ``capital`` and ``recent_pnl`` in quote base units."""

    child: str
    bot_id: int
    capital: int
    recent_pnl: int
    #: manifest role of the child (long, short, amm), for display only
    role: str = ""
    #: when (unix s) the bot may next give capital by performance (0: it never did)
    available_at: int = 0

    @property
    def return_bps(self) -> int:
        return return_bps(self.recent_pnl, self.capital)

    @property
    def label(self) -> str:
        return f"{self.role or self.child}#{self.bot_id}"


@dataclass(frozen=True)
class Move:
    """One ``rebalanceByPerformance`` call: ``amount`` (quote base units) from ``source`` to ``dest``."""

    source: BotPerformance
    dest: BotPerformance
    amount: int
    from_return_bps: int
    to_return_bps: int

    @property
    def gap_bps(self) -> int:
        return self.to_return_bps - self.from_return_bps

    def call_args(self) -> tuple[str, int, str, int, int]:
        return (self.source.child, self.source.bot_id, self.dest.child, self.dest.bot_id, self.amount)


def plan_rebalance(bots: Iterable[BotPerformance], max_move_bps: int, min_gap_bps: int = 0,
                   now: int = 0) -> list[Move]:
    """Moves worst → best within ``max_move_bps`` of each source's capital (see the module doc).

    Bots with capital 0 are left out; a bot whose ``available_at`` is after ``now`` (unix s, the
    chain's time) is not a source. Ties in return keep a stable order (child, bot id). Returns the
    moves in planning order: the largest return gap first."""
    if not 1 <= max_move_bps <= BPS:
        raise ValueError(f"max_move_bps must be in 1..{BPS}, got {max_move_bps}")
    if not 0 <= min_gap_bps <= BPS:
        raise ValueError(f"min_gap_bps must be in 0..{BPS}, got {min_gap_bps}")
    ranked = sorted((b for b in bots if b.capital > 0), key=lambda b: (b.return_bps, b.child.lower(), b.bot_id))
    need = max(1, min_gap_bps)
    moves: list[Move] = []
    i, j = 0, len(ranked) - 1
    while i < j:
        worst, best = ranked[i], ranked[j]
        if worst.available_at > now:  # cooling down: it may not give, try the next worst
            i += 1
            continue
        if best.return_bps - worst.return_bps < need:
            break
        amount = worst.capital * max_move_bps // BPS
        if amount > 0:
            moves.append(Move(worst, best, amount, worst.return_bps, best.return_bps))
        i, j = i + 1, j - 1
    return moves


# ------------------------------------------------------------------------------------------ chain side

def read_bots(project: Any, manifest: Any, roles: Sequence[str]) -> list[BotPerformance]:
    """Every Active bot of the children ``roles``: capital (BotRegistryFacet.botsPage), recent PnL
    (PerformanceFacet.recentPerformance) and when it may next give capital
    (AllocationFacet.performanceMoveAvailableAt), as of the latest block."""
    out: list[BotPerformance] = []
    alloc = project.AllocationFacet.at(manifest.address("master"))
    for role in roles:
        child = str(manifest.address(role))
        page = project.BotRegistryFacet.at(child).botsPage(1, MAX_BOTS_PER_CHILD)
        perf = project.PerformanceFacet.at(child)
        for view in page:
            bot_id, status, capital = int(view[0]), int(view[1]), int(view[2])
            if status != ACTIVE:
                continue
            recent_pnl, _window = perf.recentPerformance(bot_id)
            out.append(BotPerformance(child, bot_id, capital, int(recent_pnl), role,
                                      int(alloc.performanceMoveAvailableAt(child, bot_id))))
    return out


def plan_table(moves: Sequence[Move], window_seconds: int, max_move_bps: int, min_gap_bps: int) -> Any:
    """The plan as a rich Table: source and destination (role#bot), their recent returns (bps), the gap
    and the amount (USDC)."""
    from rich.table import Table

    from macrostrike.report import usd

    table = Table(title=f"rebalance by performance (window {window_seconds:,} s, maxMoveBps {max_move_bps}, "
                        f"min gap {min_gap_bps} bps)")
    for col in ("#", "from", "return bps", "to", "return bps", "gap bps", "amount"):
        table.add_column(col, justify="right")
    for n, m in enumerate(moves, 1):
        table.add_row(str(n), m.source.label, str(m.from_return_bps), m.dest.label, str(m.to_return_bps),
                      str(m.gap_bps), usd(m.amount))
    return table


def run_rebalance(account: Any, yes: bool, min_gap_bps: int | None) -> None:
    """``ape keeper rebalance`` once connected: read, plan, print; send each move only with ``yes``."""
    import click
    from ape import chain, project
    from ape.exceptions import ContractLogicError
    from rich.console import Console

    from macrostrike.cli.common import ROLES, UserError, load_manifest, resolve_account
    from macrostrike.report import usd

    manifest = load_manifest()
    master = manifest.address("master")
    alloc = project.AllocationFacet.at(master)
    chain_gap = int(alloc.rebalanceMinGapBps())
    if min_gap_bps is None:
        min_gap_bps = chain_gap
    elif min_gap_bps < chain_gap:
        raise UserError(f"--min-gap-bps {min_gap_bps} is below the master's rebalanceMinGapBps {chain_gap}: "
                        f"pass --min-gap-bps {chain_gap} or more")
    max_move_bps = int(alloc.allocationParams().maxMoveBps)
    window = int(project.PerformanceFacet.at(manifest.address(ROLES[0])).performanceWindowSeconds())
    bots = read_bots(project, manifest, ROLES)
    moves = plan_rebalance(bots, max_move_bps, min_gap_bps, now=int(chain.pending_timestamp))
    console = Console()
    if not moves:
        console.print(f"no move: no pair of the {len(bots)} active funded bots differs by at least "
                      f"{max(1, min_gap_bps)} bps of recent return")
        return
    console.print(plan_table(moves, window, max_move_bps, min_gap_bps))
    if not yes:
        console.print(f"dry run: {len(moves)} move(s) planned; pass --yes to send them")
        return
    sender = resolve_account(account, 0)
    owner = project.OwnershipFacet.at(master).owner()
    if str(owner).lower() != str(sender.address).lower() and not project.RiskFacet.at(master).isRiskKeeper(sender.address):
        raise UserError(f"account {sender.address} is neither the master's owner nor a risk keeper: pass "
                        "--account <owner or risk keeper>, or have the owner call setRiskKeeper")
    for n, m in enumerate(moves, 1):
        try:
            receipt = alloc.rebalanceByPerformance(*m.call_args(), sender=sender)
        except ContractLogicError as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise UserError(f"move {n} ({m.source.label} -> {m.dest.label}) reverted: {type(err).__name__} "
                            f"{reason}; {n - 1} of {len(moves)} moves were sent") from None
        click.echo(f"move {n}: {m.source.label} -> {m.dest.label} {usd(m.amount)} ({m.amount} base units): "
                   f"tx {receipt.txn_hash} in block {receipt.block_number}")
