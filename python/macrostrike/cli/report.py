"""Reports for programs and operators: ``export`` (the audit trail), ``health`` (liveness and
readiness probes), ``inspect`` (any diamond's facets and cut history)."""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import click
from ape.cli import account_option

from macrostrike.cli.common import (UserError, connected, default_journal_url, load_manifest, machine_output,
                                    network_option, open_existing_journal, resolve_signers)


@click.command("export")
@network_option()
@click.option("--format", "fmt", type=click.Choice(["csv", "json"], case_sensitive=False), default="csv",
              show_default=True, help="csv: one row per event, args JSON-encoded; json: one document.")
@click.option("--from-block", type=click.IntRange(min=0), default=None, metavar="N",
              help="First block (default: the block the first diamond was deployed in).")
@click.option("--to-block", type=click.IntRange(min=0), default=None, metavar="N",
              help="Last block (default: the latest).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
              help="Write to FILE (atomically) instead of stdout.")
def export_events(network: Any, fmt: str, from_block: int | None, to_block: int | None,
                  output: Path | None) -> None:
    """The audit trail: every event of the deployed diamonds (deposits, funding, trades, pauses,
    cuts, …) rebuilt from the chain, ordered by (block, log index)."""
    import io

    from ape import chain

    from macrostrike.keeper.export import ExportError, export

    with machine_output(), connected(network):
        manifest = load_manifest()
        buffer = io.StringIO()
        try:
            events = export(chain.provider.web3, manifest, fmt, buffer, from_block, to_block)
        except ExportError as err:
            raise UserError(str(err)) from None
    if output is None:
        click.echo(buffer.getvalue(), nl=False)
    else:
        tmp = output.with_name(output.name + ".tmp")
        try:
            tmp.write_text(buffer.getvalue())
            os.replace(tmp, output)
        except OSError as err:
            raise UserError(f"cannot write --output {output}: {err.strerror or err} — check the folder exists "
                            "and is writable") from None
        click.echo(f"{len(events)} events written to {output}", err=True)


@click.command()
@network_option()
@account_option(prompt=False)
@click.option("--signer", "signer_aliases", multiple=True, metavar="ALIAS",
              help="Keeper signer alias to check (repeatable; default as for `run`).")
@click.option("--journal", "journal_url", default=None, metavar="URL",
              help="SQLAlchemy URL of the keeper's journal (default: sqlite:///out/keeper-<chain-id>.sqlite).")
@click.option("--liveness", is_flag=True,
              help="Liveness probe: exit 0 while the keeper loop is alive and the node answers (status "
                   "alive/dead); paused children, low signers and the like do not fail it.")
@click.option("--readiness", is_flag=True,
              help="Readiness report (the default): exit 0 for ok and degraded, 1 for down.")
@click.option("--strict", is_flag=True, help="Readiness: exit 1 for degraded too (for alerting).")
@click.option("--cursor", default="keeper", show_default=True, metavar="NAME",
              help="The run loop watched: 'keeper', or 'keeper-dry-run' for a `run --dry-run` shadow keeper.")
def health(network: Any, account: Any, signer_aliases: tuple[str, ...], journal_url: str | None,
           liveness: bool, readiness: bool, strict: bool, cursor: str) -> None:
    """Liveness (--liveness) or readiness probe: one JSON object on stdout, a probe's exit code.

    Default (--readiness): status ok/degraded/down; exit 0 for ok and degraded, 1 for down
    (--strict: 1 for degraded too). --liveness: status alive/dead; exit 1 only when the keeper
    loop stopped (stale heartbeat) or the node does not answer. Thresholds: the keeper.health_*
    settings (see macrostrike.keeper.health).
    """
    import json

    from macrostrike.keeper.health import dead_report, down_report, exit_code

    if liveness and (readiness or strict):
        raise UserError(f"--liveness cannot be combined with {'--readiness' if readiness else '--strict'}: "
                        "--strict and --readiness apply to the readiness report")
    failed = dead_report if liveness else down_report
    mistake: UserError | None = None
    with machine_output():
        conn = connected(network)
        try:
            conn.__enter__()
        except UserError as err:  # the node is unreachable: that is a health state, not a usage error
            report = failed(err.message)
        else:
            try:
                report = _liveness(journal_url, cursor) if liveness else _health(account, signer_aliases,
                                                                                   journal_url, cursor)
            except OSError as err:  # the node went away mid-check (requests' ConnectionError is an OSError)
                report = failed(f"node error: {str(err).splitlines()[0] if str(err) else type(err).__name__}")
            except UserError as err:  # a wrong manifest, setting, signer or journal: the probe still answers
                report, mistake = failed(err.message), err
            finally:
                conn.__exit__(None, None, None)
    click.echo(json.dumps(report, indent=2))
    if mistake is not None:  # the JSON for the probe, the one-line error for the operator (exit 1)
        raise mistake
    click.get_current_context().exit(exit_code(report, strict=strict))


def _settings() -> Any:
    """The keeper settings, an invalid value as a one-line :class:`UserError`."""
    from macrostrike.keeper.settings import load_settings

    try:
        return load_settings()
    except ValueError as err:
        raise UserError(str(err)) from None


def _health(account: Any, signer_aliases: tuple[str, ...], journal_url: str | None,
            cursor: str = "keeper") -> dict[str, Any]:
    """The readiness report on the connected chain (see :func:`macrostrike.keeper.health.check_health`)."""
    from ape import chain

    from macrostrike.keeper.health import check_health

    settings = _settings()
    manifest = load_manifest()
    signers = [str(a.address) for a in resolve_signers(account, signer_aliases)]
    journal = open_existing_journal(journal_url or default_journal_url())
    try:
        return check_health(chain.provider.web3, manifest, journal, signers, settings, job=cursor)
    finally:
        if journal is not None:
            journal.close()


def _liveness(journal_url: str | None, cursor: str = "keeper") -> dict[str, Any]:
    """The liveness report on the connected chain (see :func:`macrostrike.keeper.health.check_liveness`);
    needs neither the manifest nor the signers."""
    from ape import chain

    from macrostrike.keeper.health import check_liveness

    settings = _settings()
    journal = open_existing_journal(journal_url or default_journal_url())
    try:
        return check_liveness(chain.provider.web3, journal, settings, job=cursor)
    finally:
        if journal is not None:
            journal.close()


@click.command()
@network_option()
@click.argument("diamond", metavar="DIAMOND")
@click.option("--from-block", type=click.IntRange(min=0), default=None,
              help="First block searched for DiamondCut events (default: the manifest's deploy block, else 0).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def inspect(network: Any, diamond: str, from_block: int | None, as_json: bool) -> None:
    """Facets, selectors (with signatures) and cut history of any EIP-2535 diamond (role or address)."""
    from macrostrike.upgrade.command import run_inspect

    with machine_output() if as_json else nullcontext(), connected(network):
        run_inspect(diamond, from_block, as_json)
