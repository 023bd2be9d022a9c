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
from contextlib import contextmanager
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
def run(cli_ctx: Any, network: Any, account: Any, blocks: int | None, dry_run: bool,
        journal_url: str | None, signer_aliases: tuple[str, ...]) -> None:
    """Run the arbitrage job on every new block."""
    with connected(network):
        _run(cli_ctx, account, blocks, dry_run, journal_url, signer_aliases)


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
         signer_aliases: tuple[str, ...] = ()) -> None:
    from ape import chain

    from macrostrike.keeper.arbitrage import ArbitrageJob
    from macrostrike.keeper.context import AmmContext
    from macrostrike.keeper.journal import Journal
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
    for address, balance in pool.low_balances(chain.provider.web3):
        cli_ctx.logger.warning(f"signer {address} is low on gas: {balance / 1e18:.4f} ETH")
    cli_ctx.logger.info(f"keeper signers {', '.join(str(a.address) for a in signers)} on chain "
                        f"{chain.provider.chain_id}, {len(job.bots)} bots, "
                        f"{'dry run' if dry_run else 'sending'}; journal {journal_url}")

    def on_block(number: int, decisions: list[Any]) -> None:
        for d in decisions:
            if d.action == "send" or d.reason != "no_opportunity":
                click.echo(f"block {d.block} bot={d.bot_id} {d.action} {d.reason} "
                           f"{ {k: v for k, v in d.detail.items() if k != 'tx'} }")

    runner = Runner(chain.provider.web3, job, poll_interval_s=settings.poll_interval_s,
                    max_consecutive_errors=settings.max_consecutive_errors,
                    backoff_base_s=settings.backoff_base_s, backoff_max_s=settings.backoff_max_s,
                    on_block=on_block, journal=journal, reorg_depth=settings.reorg_depth)
    try:
        result = runner.run(blocks)
    except KeeperHalted as err:
        raise UserError(f"keeper halted: {err}") from None
    finally:
        journal.close()
    if result.stopped_by_signal:
        click.echo("stopped by signal after finishing the current block")
    s = job.stats
    click.echo(f"blocks={s.blocks} opportunities={s.opportunities} sent={s.sent} "
               f"succeeded={s.succeeded} reverted={s.reverted} reorgs={result.reorgs} "
               f"backfilled_blocks={result.backfilled_blocks}")


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
    return [head, diamonds, bots]
