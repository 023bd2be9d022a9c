"""``ape keeper``: run the keeper and inspect the deployed system (an Ape CLI plugin).

Registered through the ``ape_cli_subcommands`` entry point. ``--network`` takes Ape's network
choices (``ecosystem:network:provider`` or a node URI) and ``--account`` Ape's account aliases. User mistakes end with one line on stderr and
exit code 1 (no traceback).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import click
from ape.cli import account_option, ape_cli_context


class UserError(click.ClickException):
    """A mistake the user can fix; click prints ``Error: <message>`` and exits 1."""


LOCAL_CHAIN_IDS = {31337, 1337}


def network_option() -> Any:
    """``--network``: an Ape network choice (``ecosystem:network:provider``) or a node URI.

    Connection happens inside the command (see :func:`connected`) so that a failure to connect is
    a one-line error rather than a traceback.
    """
    return click.option("--network", default=None, metavar="CHOICE",
                        help="ecosystem:network:provider or a node URI (default: the project's "
                             "default, a local Anvil started by ape-foundry)")


@contextmanager
def connected(network: str | None) -> Iterator[Any]:
    """Connect to ``network`` (an Ape network choice such as ``ethereum:local:foundry`` or a node
    URI) for the duration of the block; a failure to connect is a one-line :class:`UserError`."""
    from ape import networks
    from ape.exceptions import ApeException

    try:
        context = networks.parse_network_choice(network)
        provider = context.__enter__()
    except ApeException as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"cannot connect to network '{network or 'default'}': {reason} — check --network "
                        "and that the node is running") from None
    try:
        yield provider
    finally:
        context.__exit__(None, None, None)


def resolve_account(account: Any, index: int) -> Any:
    """``--account`` if given; on a local chain default to Ape test account ``index``."""
    from ape import accounts, chain

    if account is not None:
        return account
    if chain.provider.chain_id in LOCAL_CHAIN_IDS:
        return accounts.test_accounts[index]
    raise UserError("no --account given: pass --account <alias> (see `ape accounts list`)")


def load_manifest():
    from macrostrike.deploy.manifest import ManifestError
    from macrostrike.keeper.context import connected_manifest

    try:
        return connected_manifest()
    except ManifestError as err:
        raise UserError(str(err)) from None


@click.group(name="keeper")
def cli() -> None:
    """macrostrike keeper: watch the chain, decide per bot, simulate, send, report."""


@cli.command()
@ape_cli_context()
@network_option()
@account_option(prompt=False)
@click.option("--blocks", type=click.IntRange(min=1), default=None, help="Stop after this many new blocks.")
@click.option("--dry-run", is_flag=True, help="Decide and simulate, never send.")
@click.option("--journal", "journal_url", default=None, metavar="URL",
              help="SQLAlchemy URL of the journal (default: sqlite:///out/keeper-<chain-id>.sqlite).")
@click.option("--signer", "signer_aliases", multiple=True, metavar="ALIAS",
              help="Keeper account alias for the signer pool (repeatable; bots are sharded over them). "
                   "Keyfile accounts unlock from APE_ACCOUNTS_<alias>_PASSPHRASE.")
@click.option("--metrics-port", type=click.IntRange(0, 65_535), default=None, metavar="PORT",
              help="Serve Prometheus metrics on this port (default: keeper.metrics_port, off when unset).")
def run(cli_ctx: Any, network: Any, account: Any, blocks: int | None, dry_run: bool,
        journal_url: str | None, signer_aliases: tuple[str, ...], metrics_port: int | None) -> None:
    """Run every bot on each new block: arbitrage; on a system with strike bots also the strike
    job (signals once per strike_signal_interval_s, triggers and health factors every block) and
    the master's risk checkpoint (once per checkpoint_interval_s)."""
    with connected(network):
        _run(cli_ctx, account, blocks, dry_run, journal_url, signer_aliases, metrics_port=metrics_port)


def resolve_signers(account: Any, aliases: tuple[str, ...]) -> list[Any]:
    """``--signer`` aliases, else ``--account``, else (local chain) Anvil test accounts 1-3."""
    from ape import accounts, chain

    if aliases:
        loaded = []
        for alias in aliases:
            try:
                signer = accounts.load(alias)
            except Exception:  # noqa: BLE001 - Ape raises its own error types for unknown aliases
                raise UserError(f"unknown account alias '{alias}': see `ape accounts list`") from None
            passphrase_env = f"APE_ACCOUNTS_{alias}_PASSPHRASE"
            if hasattr(signer, "set_autosign") and passphrase_env in os.environ:
                signer.set_autosign(True, passphrase=os.environ[passphrase_env])
            loaded.append(signer)
        return loaded
    if account is not None:
        return [account]
    if chain.provider.chain_id in LOCAL_CHAIN_IDS:
        return [accounts.test_accounts[i] for i in (1, 2, 3)]
    raise UserError("no --account or --signer given: pass --signer <alias> (see `ape accounts list`)")


def _run(cli_ctx: Any, account: Any, blocks: int | None, dry_run: bool, journal_url: str | None,
         signer_aliases: tuple[str, ...] = (), metrics_port: int | None = None) -> None:
    from ape import chain

    from macrostrike.keeper.arbitrage import ArbitrageJob
    from macrostrike.keeper.context import AmmContext
    from macrostrike.keeper.jobs import JobSet, strike_job
    from macrostrike.keeper.journal import Journal
    from macrostrike.keeper.risk import CheckpointJob
    from macrostrike.keeper.runner import KeeperHalted, Runner
    from macrostrike.keeper.settings import load_settings
    from macrostrike.keeper.signers import signer_pool

    try:
        settings = load_settings()
    except ValueError as err:
        raise UserError(str(err)) from None
    logging.getLogger("macrostrike.keeper").setLevel(logging.INFO)
    manifest = load_manifest()
    signers = resolve_signers(account, signer_aliases)
    ctx = AmmContext(manifest)
    if journal_url is None:
        Path("out").mkdir(exist_ok=True)
        journal_url = f"sqlite:///out/keeper-{chain.provider.chain_id}.sqlite"
    try:
        journal = Journal(journal_url)
    except Exception as err:  # noqa: BLE001 - SQLAlchemy raises many kinds for a bad URL
        raise UserError(f"cannot open the journal {journal_url!r}: {str(err).splitlines()[0]}") from None
    settled = journal.reconcile(chain.provider.web3)
    if settled:
        cli_ctx.logger.info(f"reconciled pending transactions from the last run: {settled}")
    pool = signer_pool(signers, settings, error_table=ctx.errors, journal=journal)
    job = ArbitrageJob(ctx, pool, settings, journal, send=not dry_run)
    jobs: list[Any] = [job]
    strike = strike_job(manifest, pool, settings, journal, send=not dry_run)
    if strike is not None:
        warmed = strike.warm_up_from_feed(settings.strike_warmup_rounds, settings.strike_signal_interval_s)
        cli_ctx.logger.info(f"strike signals warmed up on {warmed} price-feed round(s), one per "
                            f"{settings.strike_signal_interval_s} s")
        jobs += [strike, CheckpointJob(manifest, pool, settings, journal, send=not dry_run)]
    for address, balance in pool.low_balances(chain.provider.web3):
        cli_ctx.logger.warning(f"signer {address} is low on gas: {balance / 1e18:.4f} ETH")
    cli_ctx.logger.info(f"keeper signers {', '.join(str(a.address) for a in signers)} on chain "
                        f"{chain.provider.chain_id}, {len(job.bots)} AMM bots"
                        f"{f', {len(strike.bots)} strike bots' if strike is not None else ''}, "
                        f"{'dry run' if dry_run else 'sending'}; journal {journal_url}")
    observer = _start_metrics(cli_ctx, settings, metrics_port, job, pool)  # None unless a port is set

    def on_block(number: int, decisions: list[Any]) -> None:
        for d in decisions:
            if d.action == "send" or d.reason not in ("no_opportunity", "hold"):
                click.echo(f"block {d.block} bot={d.bot_id} {d.action} {d.reason} "
                           f"{ {k: v for k, v in d.detail.items() if k != 'tx'} }")
        if observer is not None:
            observer(number, decisions)

    runner = Runner(chain.provider.web3, JobSet(jobs), poll_interval_s=settings.poll_interval_s,
                    max_consecutive_errors=settings.max_consecutive_errors,
                    backoff_base_s=settings.backoff_base_s, backoff_max_s=settings.backoff_max_s,
                    on_block=on_block, journal=journal, reorg_depth=settings.reorg_depth)
    try:
        result = runner.run(blocks)
    except KeeperHalted as err:
        raise UserError(f"keeper halted: {err}") from None
    finally:
        journal.close()
        if observer is not None:
            observer.close()
    if result.stopped_by_signal:
        click.echo("stopped by signal after finishing the current block")
    s = job.stats
    click.echo(f"blocks={s.blocks} opportunities={s.opportunities} sent={s.sent} "
               f"succeeded={s.succeeded} reverted={s.reverted} reorgs={result.reorgs} "
               f"backfilled_blocks={result.backfilled_blocks}")
    if strike is not None:
        st = strike.stats
        click.echo(f"strike: sent={st.sent} succeeded={st.succeeded} reverted={st.reverted} "
                   f"by_intent={st.by_intent} open={len(strike.open_positions())} "
                   f"liquidations={st.liquidations} checkpoints={jobs[-1].sent}")


@cli.command()
@network_option()
@click.option("--bot", "bot_id", type=int, default=None, help="Show one AMM bot.")
@click.option("--watch", is_flag=True, help="Refresh the tables on every new block (Ctrl-C to stop).")
def status(network: Any, bot_id: int | None, watch: bool) -> None:
    """Diamonds, bots, trades, wins/losses and realised PnL, read from the chain."""
    from rich.console import Console, Group
    from rich.live import Live

    with connected(network):
        if not watch:
            Console().print(*_status(bot_id))
            return
        from ape import chain

        last = None
        with Live(Group(*_status(bot_id)), refresh_per_second=4) as live:
            try:
                while True:
                    number = chain.provider.web3.eth.block_number
                    if number != last:
                        last = number
                        live.update(Group(*_status(bot_id)))
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass


ROLES = ("long", "short", "amm")  # the child roles of macrostrike.deploy.system.CHILDREN (checked in tests)


def _owner_call(network: Any, account: Any, what: str, call: Any) -> None:
    """Connect, resolve the owner account (test account 0 on a local chain), send ``call(master, sender)``."""
    from ape import project
    from ape.exceptions import ContractLogicError

    with connected(network):
        manifest = load_manifest()
        owner = resolve_account(account, 0)
        master = manifest.address("master")
        try:
            receipt = call(project, master, manifest, owner)
        except ContractLogicError as err:
            raise UserError(f"{what} reverted: {type(err).__name__} {err}") from None
        click.echo(f"{what}: tx {receipt.txn_hash} in block {receipt.block_number}")


@cli.command()
@network_option()
@account_option(prompt=False)
@click.option("--child", type=click.Choice(ROLES), required=True, help="Child diamond to pause.")
def pause(network: Any, account: Any, child: str) -> None:
    """Pause one child diamond (its bots stop trading) through the master."""
    _owner_call(network, account, f"pause {child}", lambda project, master, manifest, owner:
                project.TreasuryFacet.at(master).pauseChild(manifest.address(child), sender=owner))


@cli.command()
@network_option()
@account_option(prompt=False)
@click.option("--child", type=click.Choice(ROLES), default=None, help="Child to resume (default: all).")
def resume(network: Any, account: Any, child: str | None) -> None:
    """Resume one child, or every child, through the master."""
    if child is None:
        _owner_call(network, account, "resume all", lambda project, master, manifest, owner:
                    project.EmergencyFacet.at(master).resumeAll(sender=owner))
    else:
        _owner_call(network, account, f"resume {child}", lambda project, master, manifest, owner:
                    project.TreasuryFacet.at(master).unpauseChild(manifest.address(child), sender=owner))


@cli.command("emergency-stop")
@network_option()
@account_option(prompt=False)
def emergency_stop(network: Any, account: Any) -> None:
    """Pause every child diamond at once (master.emergencyStop)."""
    _owner_call(network, account, "emergency stop", lambda project, master, manifest, owner:
                project.EmergencyFacet.at(master).emergencyStop(sender=owner))


def _status(bot_id: int | None) -> list[Any]:
    """Renderables for `status`: the master line, the diamonds table, the bots table."""
    from ape import chain, project
    from rich.table import Table

    from macrostrike.report import usd

    manifest = load_manifest()
    master = manifest.address("master")
    treasury, in_children, trades, wins, losses, pnl = project.MasterStatsFacet.at(master).systemStats()
    head = (f"[bold]block {chain.provider.web3.eth.block_number}[/bold] — master {master}: treasury "
            f"{usd(treasury)}, capital in children {usd(in_children)}, trades {trades} (wins {wins}, "
            f"losses {losses}), realised PnL {usd(pnl)}")
    diamonds = Table(title="diamonds")
    for col in ("diamond", "address", "facets", "bots", "paused", "capital", "trades", "wins", "losses", "PnL"):
        diamonds.add_column(col)
    for role in ROLES:
        address = manifest.address(role)
        coord = project.ChildCoordinationFacet.at(address)
        t, w, lo, p, cap = project.PerformanceFacet.at(address).aggregateStats()
        diamonds.add_row(role, address, str(len(manifest.diamonds[role]["facets"])),
                         str(project.BotRegistryFacet.at(address).botCount()), str(coord.paused()),
                         usd(cap), str(t), str(w), str(lo), usd(p))
    amm = manifest.address("amm")
    registry = project.BotRegistryFacet.at(amm)
    perf = project.PerformanceFacet.at(amm)
    count = registry.botCount()
    if bot_id is not None and not 1 <= bot_id <= count:
        raise UserError(f"unknown bot id {bot_id}: the AMM diamond has bots 1..{count}")
    ids = [bot_id] if bot_id is not None else range(1, count + 1)
    bots = Table(title="AMM arbitrage bots")
    for col in ("bot", "status", "capital", "trades", "wins", "losses", "realised PnL"):
        bots.add_column(col, justify="right")
    names = {0: "none", 1: "active", 2: "paused", 3: "retired"}
    for i in ids:
        st, cap, _strategy, _params = registry.bot(i)
        t, w, lo, p, _last = perf.botStats(i)
        bots.add_row(str(i), names.get(int(st), str(st)), usd(cap), str(t), str(w), str(lo), usd(p))
    return [head, diamonds, bots, *_strike_status(manifest, master)]


def _strike_status(manifest: Any, master: str) -> list[Any]:
    """The master's risk line and one row per strike bot (position, leverage, HF, PnL); empty for
    a system without strike bots. Booleans print as yes/no."""
    from ape import project
    from rich.table import Table

    from macrostrike.report import usd

    if "aave_pool" not in manifest.contracts:
        return []
    risk = project.RiskFacet.at(master)
    hwm, _day, day_start, _last, _at, tripped, reason = risk.riskState()
    equity = risk.totalEquity()
    drawdown = (hwm - equity) / hwm if hwm and equity < hwm else 0.0
    line = (f"master equity {usd(equity)}, drawdown {100 * drawdown:.2f}% from {usd(hwm)}, daily PnL "
            f"{usd(equity - day_start) if day_start else '-'}, breaker "
            f"{'TRIPPED (' + {1: 'drawdown', 2: 'daily loss'}.get(int(reason), str(reason)) + ')' if tripped else 'ok'}")
    table = Table(title="strike bots")
    for col in ("side", "bot", "capital", "position", "leverage", "HF", "unrealised PnL", "realised PnL", "trades"):
        table.add_column(col, justify="right")
    for side in ("long", "short"):
        address = manifest.address(side)
        strike, perf = project.StrikeConfigFacet.at(address), project.PerformanceFacet.at(address)
        registry = project.BotRegistryFacet.at(address)
        for b in registry.botsPage(1, 100):
            is_open, coll, debt, hf, eq, *_rest = strike.positionState(b.id)
            margin = strike.position(b.id)[0] if is_open else 0
            t, _w, _lo, pnl, _last = perf.botStats(b.id)
            exposure = coll if side == "long" else debt
            table.add_row(side, str(b.id), usd(b.capital), "open" if is_open else "flat",
                          f"{exposure / (coll - debt):.2f}x" if is_open and coll > debt else "-",
                          f"{hf / 1e18:.3f}" if is_open and debt else "-",
                          usd(eq - margin) if is_open else "-", usd(pnl), str(t))
    return [line, table]


# -- metrics, export, health (macrostrike.keeper.metrics / export / health) ---------------------------
@contextmanager
def _machine_output() -> Iterator[None]:
    """Ape logs INFO lines ("Connecting to a 'anvil' node.") on stdout: keep them out of output meant
    for programs (CSV/JSON on stdout); warnings and errors still reach stderr."""
    from ape.logging import logger as ape_logger

    initial = ape_logger.level
    ape_logger.set_level("WARNING")
    try:
        yield
    finally:
        ape_logger.set_level(initial)


def _start_metrics(cli_ctx: Any, settings: Any, port: int | None, job: Any, pool: Any) -> Any:
    """Serve Prometheus metrics for `run` when ``--metrics-port`` or ``keeper.metrics_port`` is set."""
    from ape import chain

    from macrostrike.keeper.metrics import start_keeper_metrics

    port = settings.metrics_port if port is None else port
    if port is None:
        return None
    try:
        observer = start_keeper_metrics(port, settings.metrics_addr, job, pool, chain.provider.web3)
    except OSError as err:
        raise UserError(f"cannot serve metrics on {settings.metrics_addr}:{port} ({err.strerror or err}): "
                        "pick another --metrics-port") from None
    cli_ctx.logger.info(f"Prometheus metrics on http://{settings.metrics_addr}:{observer.metrics.port}/metrics")
    return observer


@cli.command("export")
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

    with _machine_output(), connected(network):
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


@cli.command()
@network_option()
@account_option(prompt=False)
@click.option("--signer", "signer_aliases", multiple=True, metavar="ALIAS",
              help="Keeper signer alias to check (repeatable; default as for `run`).")
@click.option("--journal", "journal_url", default=None, metavar="URL",
              help="SQLAlchemy URL of the keeper's journal (default: sqlite:///out/keeper-<chain-id>.sqlite).")
def health(network: Any, account: Any, signer_aliases: tuple[str, ...], journal_url: str | None) -> None:
    """One JSON object for a liveness probe; exit 0 only when status is ok (see keeper.health_* settings)."""
    import json

    from macrostrike.keeper.health import down_report

    with _machine_output():
        conn = connected(network)
        try:
            conn.__enter__()
        except UserError as err:  # the node is unreachable: that is a health state, not a usage error
            report = down_report(err.message)
        else:
            try:
                report = _health(account, signer_aliases, journal_url)
            except OSError as err:  # the node went away mid-check (requests' ConnectionError is an OSError)
                report = down_report(f"node error: {str(err).splitlines()[0] if str(err) else type(err).__name__}")
            finally:
                conn.__exit__(None, None, None)
    click.echo(json.dumps(report, indent=2))
    click.get_current_context().exit(0 if report["status"] == "ok" else 1)


def _health(account: Any, signer_aliases: tuple[str, ...], journal_url: str | None) -> dict[str, Any]:
    from ape import chain

    from macrostrike.keeper.health import check_health, open_journal
    from macrostrike.keeper.settings import load_settings

    try:
        settings = load_settings()
    except ValueError as err:
        raise UserError(str(err)) from None
    manifest = load_manifest()
    signers = [str(a.address) for a in resolve_signers(account, signer_aliases)]
    url = journal_url or f"sqlite:///out/keeper-{chain.provider.chain_id}.sqlite"
    try:
        journal = open_journal(url)
    except Exception as err:  # noqa: BLE001 - SQLAlchemy raises many kinds for a bad URL
        raise UserError(f"cannot open the journal {url!r}: {str(err).splitlines()[0]}") from None
    try:
        return check_health(chain.provider.web3, manifest, journal, signers, settings)
    finally:
        if journal is not None:
            journal.close()


@cli.command()
@network_option()
@click.argument("diamond", metavar="DIAMOND")
@click.option("--from-block", type=click.IntRange(min=0), default=None,
              help="First block searched for DiamondCut events (default: the manifest's deploy block, else 0).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def inspect(network: Any, diamond: str, from_block: int | None, as_json: bool) -> None:
    """Facets, selectors (with signatures) and cut history of any EIP-2535 diamond (role or address)."""
    from macrostrike.upgrade.command import run_inspect

    with _machine_output() if as_json else nullcontext(), connected(network):
        run_inspect(diamond, from_block, as_json)


@cli.command()
@network_option()
@account_option(prompt=False)
@click.option("--yes", is_flag=True, help="Send the planned moves (default: print the plan only).")
@click.option("--min-gap-bps", type=click.IntRange(0, 10_000), default=None, metavar="N",
              help="Least recent-return gap (bps) of a move (default: the master's rebalanceMinGapBps).")
def rebalance(network: Any, account: Any, yes: bool, min_gap_bps: int | None) -> None:
    """Plan capital moves from worse to better recent performers (master.rebalanceByPerformance)."""
    from macrostrike.keeper.rebalance import run_rebalance

    with connected(network):
        run_rebalance(account, yes, min_gap_bps)
