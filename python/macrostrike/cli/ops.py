"""Operator commands that read or steer the deployed system: ``status``, ``pause``, ``resume``,
``emergency-stop``, ``rebalance``."""

from __future__ import annotations

import time
from typing import Any

import click
from ape.cli import account_option

from macrostrike.cli.common import ROLES, UserError, connected, load_manifest, network_option, resolve_account


@click.command()
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


@click.command()
@network_option()
@account_option(prompt=False)
@click.option("--child", type=click.Choice(ROLES), required=True, help="Child diamond to pause.")
def pause(network: Any, account: Any, child: str) -> None:
    """Pause one child diamond (its bots stop trading) through the master."""
    _owner_call(network, account, f"pause {child}", lambda project, master, manifest, owner:
                project.TreasuryFacet.at(master).pauseChild(manifest.address(child), sender=owner))


@click.command()
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


@click.command("emergency-stop")
@network_option()
@account_option(prompt=False)
def emergency_stop(network: Any, account: Any) -> None:
    """Pause every child diamond at once (master.emergencyStop)."""
    _owner_call(network, account, "emergency stop", lambda project, master, manifest, owner:
                project.EmergencyFacet.at(master).emergencyStop(sender=owner))


@click.command()
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
