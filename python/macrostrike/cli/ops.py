"""Operator commands that read or steer the deployed system: ``status``, ``pause``, ``resume``,
``emergency-stop``, ``rebalance``."""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from typing import Any

import click
from ape.cli import account_option

from macrostrike.cli.common import (ROLES, UserError, connected, load_manifest, machine_output, network_option,
                                    resolve_account)
from macrostrike.report import usd


#: USDC base units per dollar (6 decimals)
USDC = 10**6
BOT_STATUS = {0: "none", 1: "active", 2: "paused", 3: "retired"}
#: LibRisk.TripReason (contracts/master/libraries/LibRisk.sol) by value.
BREAKER_REASONS = {1: "drawdown", 2: "daily loss", 3: "child not valued"}


@click.command()
@network_option()
@click.option("--bot", "bot_id", type=int, default=None, help="Show one AMM bot.")
@click.option("--watch", is_flag=True, help="Refresh the tables on every new block (Ctrl-C to stop).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"], case_sensitive=False), default="table",
              show_default=True, help="table: for people (full width when piped); json: one document; csv: "
                                      "one row per diamond, bot and strike bot, a 'table' column naming which.")
@click.option("--journal", "journal_url", default=None, metavar="URL",
              help="Also show the keepers of this journal: per leader group (two keepers on PostgreSQL) the "
                   "leader, its epoch and the standbys.")
def status(network: Any, bot_id: int | None, watch: bool, fmt: str, journal_url: str | None) -> None:
    """Diamonds, bots, trades, wins/losses and realised PnL, read from the chain (with --journal: the
    keepers' leader, epoch and standbys)."""
    from rich.console import Console, Group
    from rich.live import Live

    fmt = fmt.lower()
    if watch and fmt != "table":
        raise UserError(f"--watch refreshes the tables: it cannot be combined with --format {fmt}")
    if fmt != "table":
        with machine_output(), connected(network):
            data = _status_data(bot_id, journal_url)
        click.echo(json.dumps(data, indent=2) if fmt == "json" else _status_csv(data), nl=fmt == "json")
        return
    # a pipe or file gets the tables at their natural width, not cut to 80 columns with "…"
    console = Console() if sys.stdout.isatty() else Console(width=10_000)
    with connected(network):
        if not watch:
            console.print(*_status_tables(_status_data(bot_id, journal_url)))
            return
        from ape import chain

        last = None
        with Live(Group(*_status_tables(_status_data(bot_id, journal_url))), console=console, refresh_per_second=4) as live:
            try:
                while True:
                    number = chain.provider.web3.eth.block_number
                    if number != last:
                        last = number
                        live.update(Group(*_status_tables(_status_data(bot_id, journal_url))))
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass


def _status_data(bot_id: int | None, journal_url: str | None = None) -> dict[str, Any]:
    """What `status` shows, read from the chain: the master, the diamonds, the AMM bots and (with an
    Aave market) the risk state and the strike bots; amounts in USDC (``*_usdc``, dollars)."""
    from ape import chain, project

    manifest = load_manifest()
    master = manifest.address("master")
    treasury, in_children, trades, wins, losses, pnl = project.MasterStatsFacet.at(master).systemStats()
    data: dict[str, Any] = {"block": int(chain.provider.web3.eth.block_number), "master": {
        "address": master, "treasury_usdc": treasury / USDC, "capital_in_children_usdc": in_children / USDC,
        "trades": int(trades), "wins": int(wins), "losses": int(losses), "realised_pnl_usdc": pnl / USDC}}
    data["diamonds"] = []
    for role in ROLES:
        address = manifest.address(role)
        t, w, lo, p, cap = project.PerformanceFacet.at(address).aggregateStats()
        data["diamonds"].append({
            "diamond": role, "address": address, "facets": len(manifest.diamonds[role]["facets"]),
            "bots": int(project.BotRegistryFacet.at(address).botCount()),
            "paused": bool(project.ChildCoordinationFacet.at(address).paused()), "capital_usdc": cap / USDC,
            "trades": int(t), "wins": int(w), "losses": int(lo), "pnl_usdc": p / USDC})
    amm = manifest.address("amm")
    registry = project.BotRegistryFacet.at(amm)
    perf = project.PerformanceFacet.at(amm)
    count = registry.botCount()
    if bot_id is not None and not 1 <= bot_id <= count:
        raise UserError(f"unknown bot id {bot_id}: the AMM diamond has bots 1..{count}")
    data["bots"] = []
    for i in [bot_id] if bot_id is not None else range(1, count + 1):
        st, cap, _strategy, _params = registry.bot(i)
        t, w, lo, p, _last = perf.botStats(i)
        data["bots"].append({"bot": i, "status": BOT_STATUS.get(int(st), str(st)), "capital_usdc": cap / USDC,
                             "trades": int(t), "wins": int(w), "losses": int(lo), "realised_pnl_usdc": p / USDC})
    data["risk"], data["strike_bots"] = _strike_status(manifest, master)
    if journal_url is not None:
        data["keepers"] = _keepers(journal_url)
    return data


def _keepers(journal_url: str) -> list[dict[str, Any]]:
    """The leader groups of the journal at ``journal_url`` (macrostrike.keeper.leader.leadership_report;
    [] for a single keeper's journal)."""
    from macrostrike.cli.common import open_existing_journal, shown_url
    from macrostrike.keeper.leader import leadership_report

    journal = open_existing_journal(journal_url)
    if journal is None:
        raise UserError(f"no journal at {shown_url(journal_url)!r}: pass the --journal `ape keeper run` uses")
    try:
        return leadership_report(journal)
    finally:
        journal.close()


def _strike_status(manifest: Any, master: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The master's risk state and one row per strike bot (position, leverage, HF, PnL); None and no
    rows for a system without strike bots."""
    from ape import project

    if "aave_pool" not in manifest.contracts:
        return None, []
    risk = project.RiskFacet.at(master)
    hwm, _day, day_start, _last, _at, tripped, reason = risk.riskState()
    equity = risk.totalEquity()
    drawdown = (hwm - equity) / hwm if hwm and equity < hwm else 0.0
    state = {"equity_usdc": equity / USDC, "high_water_mark_usdc": hwm / USDC, "drawdown_pct": 100 * drawdown,
             "daily_pnl_usdc": (equity - day_start) / USDC if day_start else None,
             "breaker": (BREAKER_REASONS.get(int(reason), str(reason)) if tripped else "ok")}
    rows = []
    for side in ("long", "short"):
        address = manifest.address(side)
        strike, perf = project.StrikeConfigFacet.at(address), project.PerformanceFacet.at(address)
        registry = project.BotRegistryFacet.at(address)
        for b in registry.botsPage(1, 100):
            is_open, coll, debt, hf, eq, *_rest = strike.positionState(b.id)
            margin = strike.position(b.id)[0] if is_open else 0
            t, _w, _lo, pnl, _last = perf.botStats(b.id)
            exposure = coll if side == "long" else debt
            rows.append({"side": side, "bot": int(b.id), "capital_usdc": b.capital / USDC,
                         "position": "open" if is_open else "flat",
                         "leverage": exposure / (coll - debt) if is_open and coll > debt else None,
                         "health_factor": hf / 1e18 if is_open and debt else None,
                         "unrealised_pnl_usdc": (eq - margin) / USDC if is_open else None,
                         "realised_pnl_usdc": pnl / USDC, "trades": int(t)})
    return state, rows


def _usd(dollars: float | None) -> str:
    return "-" if dollars is None else usd(round(dollars * USDC))


def _status_tables(data: dict[str, Any]) -> list[Any]:
    """Renderables for `status` in a terminal: the master line, the diamonds table, the bots table
    and (with strike bots) the risk line and the strike bots table. Booleans print as yes/no."""
    from rich.table import Table

    m = data["master"]
    head = (f"[bold]block {data['block']}[/bold] — master {m['address']}: treasury {_usd(m['treasury_usdc'])}, "
            f"capital in children {_usd(m['capital_in_children_usdc'])}, trades {m['trades']} (wins {m['wins']}, "
            f"losses {m['losses']}), realised PnL {_usd(m['realised_pnl_usdc'])}")
    diamonds = Table(title="diamonds")
    for col in ("diamond", "address", "facets", "bots", "paused", "capital", "trades", "wins", "losses", "PnL"):
        diamonds.add_column(col)
    for d in data["diamonds"]:
        diamonds.add_row(d["diamond"], d["address"], str(d["facets"]), str(d["bots"]), str(d["paused"]),
                         _usd(d["capital_usdc"]), str(d["trades"]), str(d["wins"]), str(d["losses"]),
                         _usd(d["pnl_usdc"]))
    bots = Table(title="AMM arbitrage bots")
    for col in ("bot", "status", "capital", "trades", "wins", "losses", "realised PnL"):
        bots.add_column(col, justify="right")
    for b in data["bots"]:
        bots.add_row(str(b["bot"]), b["status"], _usd(b["capital_usdc"]), str(b["trades"]), str(b["wins"]),
                     str(b["losses"]), _usd(b["realised_pnl_usdc"]))
    out: list[Any] = [head, diamonds, bots]
    if "keepers" in data:
        out.append(_keepers_table(data["keepers"]))
    risk = data["risk"]
    if risk is None:
        return out
    line = (f"master equity {_usd(risk['equity_usdc'])}, drawdown {risk['drawdown_pct']:.2f}% from "
            f"{_usd(risk['high_water_mark_usdc'])}, daily PnL {_usd(risk['daily_pnl_usdc'])}, breaker "
            f"{'ok' if risk['breaker'] == 'ok' else 'TRIPPED (' + risk['breaker'] + ')'}")
    table = Table(title="strike bots")
    for col in ("side", "bot", "capital", "position", "leverage", "HF", "unrealised PnL", "realised PnL", "trades"):
        table.add_column(col, justify="right")
    for r in data["strike_bots"]:
        table.add_row(r["side"], str(r["bot"]), _usd(r["capital_usdc"]), r["position"],
                      "-" if r["leverage"] is None else f"{r['leverage']:.2f}x",
                      "-" if r["health_factor"] is None else f"{r['health_factor']:.3f}",
                      _usd(r["unrealised_pnl_usdc"]), _usd(r["realised_pnl_usdc"]), str(r["trades"]))
    return [*out, line, table]


def _keepers_table(groups: list[dict[str, Any]]) -> Any:
    """The keepers of `status --journal`: one row per leader group."""
    from rich.table import Table

    table = Table(title="keepers" if groups else "keepers: one keeper, no leader group (SQLite journal or no "
                                                 "PostgreSQL keeper has run yet)")
    for col in ("group (chain:master)", "epoch", "leader", "leader seen", "standbys", "stale"):
        table.add_column(col)
    for g in groups:
        leader = g["leader"]
        table.add_row(g["group"], str(g["epoch"]), "-" if leader is None else leader["node"],
                      "-" if leader is None else f"{leader['last_seen_age_s']:.1f} s ago",
                      ", ".join(f"{s['node']} ({s['last_seen_age_s']:.1f} s ago)" for s in g["standbys"]) or "none",
                      ", ".join(g["stale"]) or "-")
    return table


def _status_csv(data: dict[str, Any]) -> str:
    """`status --format csv`: one row per diamond, AMM bot and strike bot; the ``table`` column says
    which (``diamonds``, ``bots``, ``strike_bots``), the other columns are the union of theirs."""
    rows = [{"table": name, **row} for name in ("diamonds", "bots", "strike_bots") for row in data[name]]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


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


@click.command("set-safe")
@network_option()
@account_option(prompt=False)
@click.argument("address")
def set_safe(network: Any, account: Any, address: str) -> None:
    """Set the master's safe address: where the emergency action move_to_safe sends the recovered funds."""
    from eth_utils import is_address, to_checksum_address

    if not is_address(address):
        raise UserError(f"safe address {address!r} is not an address: give 0x followed by 40 hex digits")
    safe = to_checksum_address(address)
    _owner_call(network, account, f"set safe address {safe}", lambda project, master, manifest, owner:
                project.EmergencyFacet.at(master).setSafeAddress(safe, sender=owner))


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
