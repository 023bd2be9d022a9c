"""``ape keeper run``: the keeper loop (arbitrage, strike, risk checkpoint) and its metrics server."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
from ape.cli import account_option, ape_cli_context

from macrostrike.cli.common import (UserError, connected, load_manifest, missing_journal_directory, network_option,
                                    resolve_signers, shown_url)
from macrostrike.cli.failover import join


@click.command()
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
@click.option("--emergency-signer", "emergency_alias", default=None, metavar="ALIAS",
              help="The master owner's account (alias, or TEST::<n> on a local chain): emergency triggers "
                   "(keeper.emergency_triggers) pause or exit through it; without it they only journal and alert.")
def run(cli_ctx: Any, network: Any, account: Any, blocks: int | None, dry_run: bool,
        journal_url: str | None, signer_aliases: tuple[str, ...], metrics_port: int | None,
        emergency_alias: str | None) -> None:
    """Run every bot on each new block: arbitrage; on a system with strike bots also the strike
    job (signals once per strike_signal_interval_s, triggers and health factors every block) and
    the master's risk checkpoint (once per checkpoint_interval_s)."""
    with connected(network, retries=4):
        _run(cli_ctx, account, blocks, dry_run, journal_url, signer_aliases, metrics_port=metrics_port,
             emergency_alias=emergency_alias)


def _run(cli_ctx: Any, account: Any, blocks: int | None, dry_run: bool, journal_url: str | None,
         signer_aliases: tuple[str, ...] = (), metrics_port: int | None = None,
         emergency_alias: str | None = None) -> None:
    from ape import chain

    from macrostrike.keeper.context import AmmContext
    from macrostrike.keeper.journal import Journal
    from macrostrike.keeper.settings import load_settings

    try:
        settings = load_settings()
    except ValueError as err:
        raise UserError(str(err)) from None
    keeper_log = logging.getLogger("macrostrike.keeper")
    keeper_log.setLevel(logging.INFO)
    if not keeper_log.handlers:  # without one, Python's last-resort handler drops everything below WARNING
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        keeper_log.addHandler(handler)
    manifest = load_manifest()
    signers = resolve_signers(account, signer_aliases)
    venues = [role for role in ("dex_a_pair", "dex_b_pair") if role in manifest.contracts]
    venues += ["uniswap_v3"] * ("dex_a_pair" in manifest.contracts and bool(manifest.venues.get("uniswap_v3"))
                                and "VenueArbitrageFacet" in manifest.diamonds.get("amm", {}).get("facets", {}))
    if len(venues) < 2:  # --venues existing|FILE with fewer than two venues among V2 A, V2 B, V3
        raise UserError(f"the deployment names {len(venues)} venue(s) with a USDC/WBTC pool ({', '.join(venues) or 'none'}): "
                        "the arbitrage job needs two among V2 DEX A, V2 DEX B and Uniswap V3; add a second V2 DEX or a "
                        "uniswap_v3 entry to the venues file and run `ape run deploy` again")
    ctx = AmmContext(manifest)
    if journal_url is None:
        Path("out").mkdir(exist_ok=True)
        journal_url = f"sqlite:///out/keeper-{chain.provider.chain_id}.sqlite"
    missing = missing_journal_directory(journal_url)
    if missing is not None:
        raise UserError(missing)
    try:
        journal = Journal(journal_url)
    except Exception as err:  # noqa: BLE001 - SQLAlchemy raises many kinds for a bad URL
        raise UserError(f"cannot open the journal {shown_url(journal_url)!r}: {str(err).splitlines()[0]}") from None
    # failover (macrostrike.cli.failover): lead the journal's group or wait as a standby, first
    membership = join(cli_ctx, journal, journal_url, chain.provider.chain_id, manifest.address("master"), settings,
                      chain.provider.web3, metrics_port, dry_run=dry_run)
    try:
        _lead(cli_ctx, manifest, signers, ctx, journal, journal_url, settings, membership, blocks, dry_run,
              metrics_port, emergency_alias)
    finally:
        membership.release()


def _lead(cli_ctx: Any, manifest: Any, signers: Any, ctx: Any, journal: Any, journal_url: str, settings: Any,
          membership: Any, blocks: int | None, dry_run: bool, metrics_port: int | None,
          emergency_alias: str | None) -> None:
    """The keeper loop of the process that holds the journal (the leader): the restart path first."""
    from ape import chain

    from macrostrike.keeper.arbitrage import ArbitrageJob
    from macrostrike.keeper.jobs import JobSet, strike_job
    from macrostrike.keeper.leader import EXIT_DEPOSED
    from macrostrike.keeper.risk import CheckpointJob
    from macrostrike.keeper.runner import KeeperHalted, Runner
    from macrostrike.keeper.signers import signer_pool

    if membership.stopped:
        journal.close()
        click.echo("stopped by signal while standby")
        return
    settled = journal.reconcile(chain.provider.web3)
    if settled:
        cli_ctx.logger.info(f"reconciled pending transactions from the last run: {settled}")
    pool = signer_pool(signers, settings, error_table=ctx.errors, journal=journal)
    job = ArbitrageJob(ctx, pool, settings, journal, send=not dry_run)  # resumes the journal's open intents
    resumed = job.txm.open_intents()
    if resumed:
        cli_ctx.logger.info(f"resumed {len(resumed)} open intent(s) from the last run: they are watched, "
                            "re-broadcast or replaced, never decided again")
    jobs: list[Any] = [job]
    strike = strike_job(manifest, pool, settings, journal, send=not dry_run)
    if strike is not None:
        warmed = strike.warm_up_from_feed(settings.strike_warmup_rounds, settings.strike_signal_interval_s)
        cli_ctx.logger.info(f"strike signals warmed up on {warmed} price-feed round(s), one per "
                            f"{settings.strike_signal_interval_s} s")
        checkpoint = CheckpointJob(manifest, pool, settings, journal, send=not dry_run)
        jobs += [strike, checkpoint]
    for address, balance in pool.low_balances(chain.provider.web3):
        cli_ctx.logger.warning(f"signer {address} is low on gas: {balance / 1e18:.4f} ETH")
    cli_ctx.logger.info(f"keeper signers {', '.join(str(a.address) for a in signers)} on chain "
                        f"{chain.provider.chain_id}, {len(job.bots)} AMM bots"
                        f"{f', {len(strike.bots)} strike bots' if strike is not None else ''}, "
                        f"{'dry run' if dry_run else 'sending'}; journal {journal_url}")
    observer = _start_metrics(cli_ctx, settings, metrics_port, job, pool, membership)  # None unless a port is set
    watch = _start_alerts(cli_ctx, settings, job.txm, pool, observer)
    emergency = _emergency_job(cli_ctx, manifest, pool, settings, journal, watch.alerter, ctx.errors,
                               emergency_alias, send=not dry_run)
    if emergency is not None:
        jobs.append(emergency)

    def on_block(number: int, decisions: list[Any]) -> None:
        for d in decisions:
            if d.action == "send" or d.reason not in ("no_opportunity", "hold"):
                click.echo(f"block {d.block} bot={d.bot_id} {d.action} {d.reason} "
                           f"{ {k: v for k, v in d.detail.items() if k != 'tx'} }")
        if observer is not None:
            observer(number, decisions)
        watch.on_block(number, decisions)
        if emergency is not None:
            emergency.observe(decisions)

    # a dry run keeps its own cursor: it must never move the live keeper's
    jobset = JobSet(jobs, name="keeper-dry-run" if dry_run else "keeper")
    runner = Runner(chain.provider.web3, jobset, poll_interval_s=settings.poll_interval_s,
                    max_consecutive_errors=settings.max_consecutive_errors,
                    backoff_base_s=settings.backoff_base_s, backoff_max_s=settings.backoff_max_s,
                    backoff_jitter_s=settings.backoff_base_s / 2,
                    on_block=on_block, journal=journal, reorg_depth=settings.reorg_depth,
                    on_halt=lambda err: watch.halted(err, settings.alert_flush_timeout_s),
                    leader=membership.leadership)
    try:
        result = runner.run(blocks)
        if result.lost_leadership is not None:  # deposed: settle nothing more, send nothing more
            raise _Deposed(result.lost_leadership)
        try:  # book what already has a receipt; the rest is resumed at the next start
            on_block(int(chain.provider.web3.eth.block_number), jobset.settle())
        except Exception as err:  # noqa: BLE001 - the node went away: the next start settles them
            cli_ctx.logger.warning(f"final settlement skipped ({type(err).__name__}: {err})")
    except KeeperHalted as err:
        raise UserError(f"keeper halted: {err}") from None
    except _Deposed as err:
        click.echo(f"deposed: {err}; exiting (code {EXIT_DEPOSED}) so the supervisor restarts this keeper as a standby",
                   err=True)
        click.get_current_context().exit(EXIT_DEPOSED)
    finally:
        watch.alerter.close(settings.alert_flush_timeout_s)
        job.txm.close()
        journal.close()
        if observer is not None:
            observer.close()
    if result.stopped_by_signal:
        open_now = len(job.txm.open_intents())
        click.echo(f"stopped by signal; {open_now} intent(s) in flight are resumed at the next start")
    s = job.stats
    click.echo(f"blocks={s.blocks} opportunities={s.opportunities} sent={s.sent} "
               f"succeeded={s.succeeded} reverted={s.reverted} reorgs={result.reorgs} "
               f"backfilled_blocks={result.backfilled_blocks}")
    if strike is not None:
        st = strike.stats
        click.echo(f"strike: sent={st.sent} succeeded={st.succeeded} reverted={st.reverted} "
                   f"by_intent={st.by_intent} open={len(strike.open_positions())} "
                   f"liquidations={st.liquidations} checkpoints={checkpoint.sent}")


class _Deposed(Exception):
    """The run loop stopped because another keeper took over (its reason)."""


def _start_metrics(cli_ctx: Any, settings: Any, port: int | None, job: Any, pool: Any, membership: Any = None) -> Any:
    """Serve Prometheus metrics for `run` when ``--metrics-port`` or ``keeper.metrics_port`` is set
    (a former standby's server, already up, is fed instead)."""
    from ape import chain

    from macrostrike.keeper.metrics import start_keeper_metrics

    port = settings.metrics_port if port is None else port
    if port is None:
        return None
    served = getattr(membership, "metrics", None)
    try:
        observer = start_keeper_metrics(port, settings.metrics_addr, job, pool, chain.provider.web3, metrics=served,
                                        leadership=getattr(membership, "leadership", None))
        if served is not None:
            return observer
    except OSError as err:
        raise UserError(f"cannot serve metrics on {settings.metrics_addr}:{port} ({err.strerror or err}): "
                        "pick another --metrics-port") from None
    cli_ctx.logger.info(f"Prometheus metrics on http://{settings.metrics_addr}:{observer.metrics.port}/metrics")
    return observer


def _start_alerts(cli_ctx: Any, settings: Any, txm: Any, pool: Any, observer: Any) -> Any:
    """The operator alerts of `run` (``keeper.alerts``; without URLs every check is a no-op send)."""
    from ape import chain

    from macrostrike.keeper.alerts import KeeperAlerts, alerter_from_settings

    alerter = alerter_from_settings(settings, observer.metrics if observer is not None else None)
    if alerter.enabled:
        cli_ctx.logger.info(f"operator alerts to {', '.join(c.name for c in alerter.channels)}")
    return KeeperAlerts(alerter, chain.provider.web3, txm, pool, stuck_blocks=settings.alert_stuck_blocks)


def _owner_account(alias: str) -> Any:
    """The ``--emergency-signer`` account: an alias (a keyfile unlocks from
    ``APE_ACCOUNTS_<alias>_PASSPHRASE``) or ``TEST::<n>`` on a local chain (Ape's own parsing)."""
    from ape.cli.choices import AccountAliasPromptChoice

    if not alias.upper().startswith("TEST::"):
        return resolve_signers(None, (alias,))[0]
    try:
        return AccountAliasPromptChoice().convert(alias, None, None)
    except click.BadParameter as err:
        raise UserError(f"--emergency-signer {alias}: {err.message}") from None


def _emergency_job(cli_ctx: Any, manifest: Any, pool: Any, settings: Any, journal: Any, alerter: Any,
                   errors: dict, alias: str | None, *, send: bool) -> Any:
    """The emergency job of `run` (None without ``keeper.emergency_triggers``)."""
    from macrostrike.keeper.emergency import emergency_job
    from macrostrike.keeper.signers import signer_pool

    owner = None
    if alias is not None:
        owner = signer_pool([_owner_account(alias)], settings, error_table=errors, journal=journal).senders[0]
    try:
        job = emergency_job(manifest, pool, settings, journal, alerter, owner=owner, send=send)
    except ValueError as err:
        raise UserError(str(err)) from None
    if job is not None:
        cli_ctx.logger.info(f"emergency triggers {', '.join(t.name for t in job.triggers)}; actions "
                            f"{'through ' + owner.address if owner is not None else 'off (no --emergency-signer)'}")
    return job
