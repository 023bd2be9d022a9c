"""The ``ape keeper`` click group: every command module's commands, registered in one place."""

from __future__ import annotations

import click

from macrostrike.cli.journal import journal
from macrostrike.cli.ops import emergency_stop, pause, rebalance, resume, set_safe, status
from macrostrike.cli.report import export_events, health, inspect
from macrostrike.cli.run import run


@click.group(name="keeper")
def cli() -> None:
    """macrostrike keeper: watch the chain, decide per bot, simulate, send, report."""


for _command in (run, status, pause, resume, emergency_stop, set_safe, export_events, health, inspect, rebalance, journal):
    cli.add_command(_command)
