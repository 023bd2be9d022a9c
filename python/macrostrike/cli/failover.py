"""``ape keeper run``'s part in failover (macrostrike.keeper.leader): join the leader group of a
PostgreSQL journal and wait as a standby until leading, or hold a SQLite journal alone."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass
from typing import Any

import click

from macrostrike.cli.common import UserError


@dataclass
class Membership:
    """What ``keeper run`` holds on its journal: a :class:`~macrostrike.keeper.leader.Leadership`
    (PostgreSQL), a :class:`~macrostrike.keeper.leader.SqliteJournalLock` (a SQLite file), or
    neither (an in-memory journal); ``stopped``: a signal ended the standby wait."""

    leadership: Any = None
    sqlite_lock: Any = None
    stopped: bool = False
    metrics: Any = None

    def release(self) -> None:
        if self.leadership is not None:
            self.leadership.release()
        if self.sqlite_lock is not None:
            self.sqlite_lock.release()


def join(cli_ctx: Any, journal: Any, journal_url: str, chain_id: int, master: str, settings: Any, web3: Any,
         metrics_port: int | None, *, dry_run: bool) -> Membership:
    """SQLite file: take the journal's lock (a second keeper refuses with one line). PostgreSQL:
    become the group's leader, waiting as a warm standby — following the head, serving
    ``keeper_is_leader 0`` if metrics are on — until then.
    SIGTERM/SIGINT end the wait (``stopped``). A dry run (``--dry-run``: a shadow keeper on its own
    cursor, sending nothing) takes neither."""
    from sqlalchemy.engine import make_url

    from macrostrike.keeper.leader import JournalInUse, Leadership, SqliteJournalLock, group_key

    dialect = journal.engine.dialect.name
    if dialect == "sqlite":
        if journal.in_memory or dry_run:  # a dry run (a shadow keeper, its own cursor) holds nothing
            return Membership()
        try:
            return Membership(sqlite_lock=SqliteJournalLock(make_url(journal_url).database))
        except JournalInUse as err:
            raise UserError(str(err)) from None
    if dialect != "postgresql" or dry_run:
        return Membership()
    try:
        leadership = Leadership(journal, group_key(chain_id, master), lease_s=settings.leader_lease_s,
                                poll_s=settings.leader_poll_s)
    except ValueError as err:
        raise UserError(str(err)) from None
    membership = Membership(leadership=leadership, metrics=_standby_metrics(cli_ctx, settings, metrics_port, leadership))
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_a: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if not leadership.try_acquire():
            holder, epoch = leadership.current_leader()
            click.echo(f"standby: {holder} leads {leadership.group} at epoch {epoch}; taking over when it stops")
            membership.stopped = not leadership.wait(stop, follow=lambda: web3.eth.block_number)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not membership.stopped:
        click.echo(f"leader of {leadership.group} at epoch {leadership.epoch}"
                   f"{f' (took over from {leadership.previous_holder})' if leadership.previous_holder else ''}")
    return membership


def _standby_metrics(cli_ctx: Any, settings: Any, port: int | None, leadership: Any) -> Any:
    """A :class:`~macrostrike.keeper.metrics.Metrics` served from the standby's start (leadership
    gauges only until it leads; ``keeper run`` then feeds the same object), or None without a port."""
    from macrostrike.keeper.metrics import Metrics

    port = settings.metrics_port if port is None else port
    if port is None:
        return None
    metrics = Metrics()
    metrics.track_leadership(leadership)
    try:
        metrics.serve(port, settings.metrics_addr)
    except OSError as err:
        raise UserError(f"cannot serve metrics on {settings.metrics_addr}:{port} ({err.strerror or err}): "
                        "pick another --metrics-port") from None
    cli_ctx.logger.info(f"Prometheus metrics on http://{settings.metrics_addr}:{metrics.port}/metrics")
    return metrics
