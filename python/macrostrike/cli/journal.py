"""``ape keeper journal …``: maintenance of the keeper's journal database.

``prune --before-block N`` deletes the decisions and the settled transactions recorded below block
``N`` (never a pending transaction, never a cursor) through ``Journal.prune``. Without ``--yes`` it
prints what would be deleted and asks first.
"""

from __future__ import annotations

import inspect
from typing import Any

import click

from macrostrike.cli.common import (UserError, connected, default_journal_url, network_option, open_existing_journal,
                                    shown_url)


@click.group()
def journal() -> None:
    """Maintain the keeper's journal (decisions, transactions, cursors)."""


@journal.command()
@network_option()
@click.option("--before-block", "before_block", type=int, required=True, metavar="N",
              help="Delete decisions and settled transactions recorded below block N.")
@click.option("--journal", "journal_url", default=None, metavar="URL",
              help="SQLAlchemy URL of the journal (default: sqlite:///out/keeper-<chain-id>.sqlite of --network).")
@click.option("--yes", is_flag=True, help="Delete without asking.")
def prune(network: Any, before_block: int, journal_url: str | None, yes: bool) -> None:
    """Delete decisions and settled transactions recorded below block N (pending ones are kept).

    Without --yes: print the counts that would be deleted and ask; no answer (no terminal) deletes
    nothing and exits 1.
    """
    if before_block < 0:
        raise UserError(f"--before-block must be a block number >= 0, got {before_block}")
    if journal_url is None:
        with connected(network):
            journal_url = default_journal_url()
    db = open_existing_journal(journal_url)
    if db is None:
        raise UserError(f"no journal at {shown_url(journal_url)}: check --journal (nothing to prune)")
    try:
        run_prune(db, shown_url(journal_url), before_block, yes)
    finally:
        db.close()


def run_prune(db: Any, journal_url: str, before_block: int, yes: bool) -> dict[str, int]:
    """Prune ``db`` below ``before_block``, asking first unless ``yes``.

    Args:
        db: an open :class:`macrostrike.keeper.journal.Journal`.
        journal_url: its URL as shown in the messages (password hidden: :func:`shown_url`).
        before_block: the first block kept.
        yes: delete without asking.

    Returns:
        Rows deleted per table (empty when nothing was asked to be deleted).

    Raises:
        UserError: the journal cannot prune or refuses ``before_block``, or the deletion was not
            confirmed (nothing deleted).
    """
    prune_rows = getattr(db, "prune", None)
    if not callable(prune_rows):
        raise UserError("this journal has no prune(): update macrostrike")
    if not yes:
        if "dry_run" in inspect.signature(prune_rows).parameters:
            try:
                would = prune_rows(before_block, dry_run=True)
            except ValueError as err:
                raise UserError(str(err)) from None
            if not any(would.values()):
                click.echo(f"nothing to prune below block {before_block} in {journal_url}")
                return {}
            click.echo(f"would delete {_counts(would)} (below block {before_block}) from {journal_url}")
        else:
            click.echo(f"would delete the decisions and settled transactions below block {before_block} "
                       f"from {journal_url}")
        try:
            confirmed = click.confirm("Delete them?")
        except click.Abort:  # no answer (stdin at its end) or Ctrl-C
            click.echo()  # end the prompt's line
            confirmed = False
        if not confirmed:
            raise UserError("not confirmed: nothing deleted (answer y, or pass --yes)")
    try:
        deleted = prune_rows(before_block)
    except ValueError as err:  # Journal.prune's refusals (e.g. a negative block)
        raise UserError(str(err)) from None
    click.echo(f"deleted {_counts(deleted)} (below block {before_block}) from {journal_url}")
    return deleted


def _counts(counts: dict[str, int]) -> str:
    """``decisions=3 transactions=1`` (tables in the order given)."""
    return " ".join(f"{table}={n}" for table, n in counts.items()) or "nothing"
