"""Human and machine outputs of a replay: the printed summary, the JSON file and the PNG chart."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def usd(units: int) -> str:
    """USDC base units (6 decimals) -> ``$1,234.56``."""
    sign = "-" if units < 0 else ""
    return f"{sign}${abs(units) / 1e6:,.2f}"


def _date(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def print_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    """Print the replay summary (figures as measured; assumptions listed under them)."""
    console = console or Console(width=max(Console().width, 132))  # the per-diamond table needs ~130 columns
    t = summary["trades"]
    h = summary["history"]
    bars, interval = summary.get("bars_replayed", summary["hours_replayed"]), summary.get("bar_interval_s", 3600)
    unit = {60: "minute", 3600: "hour", 86_400: "day"}.get(interval, f"{interval} s")
    console.print(f"[bold]macrostrike replay[/bold] — {bars} {unit} bars of {summary.get('asset', 'BTC/USD')} "
                  f"({_date(h['first'])} .. {_date(h['last'])} UTC, close ${h['first_close']:,.2f} -> "
                  f"${h['last_close']:,.2f})")
    rows = [
        ("bars replayed", f"{bars} ({unit} bars, {summary['hours_replayed']} hours)"),
        ("noise trades", f"{summary['noise_trades']}"),
        ("opportunities seen (gross > 0)", f"{summary['opportunities_seen']}"),
        ("trades sent / succeeded / reverted", f"{t['sent']} / {t['succeeded']} / {t['reverted']}"),
        ("trades per venue pair (mined)", ", ".join(f"{k} {v}" for k, v in summary.get("trades_by_venue_pair", {}).items())
         or "-"),
        ("bots that traded", f"{summary['bots_traded']}"),
        ("realised PnL, total (on chain)", usd(summary["realised_pnl_usdc_total"])),
        ("gas cost at the stated ETH price", usd(summary["gas_cost_usdc_total"])),
        ("realised PnL after gas", usd(summary["net_after_gas_usdc"])),
        ("gas per trade, mean / p50", f"{summary['gas_per_trade']['mean']:,.0f} / {summary['gas_per_trade']['p50']:,.0f}"
         + (" (V2↔V2); V2↔V3 {mean:,.0f} / {p50:,.0f}".format(**summary["gas_per_trade_v3"])
            if summary.get("gas_per_trade_v3") else "")),
        ("keeper tx latency p50 / p99", f"{summary['tx_latency_ms']['p50']} ms / {summary['tx_latency_ms']['p99']} ms"),
        ("pool gap after noise / after keeper", f"{summary['pool_gap_bps']['after_noise_mean']} / "
                                               f"{summary['pool_gap_bps']['after_keeper_mean']} bps (mean)"),
        ("wall time", f"{summary['wall_time_s']:.1f} s"),
    ]
    table = Table(show_header=False, box=None)
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    top = Table(title="top 10 bots by realised PnL")
    for col in ("bot", "trades", "wins", "losses", "realised PnL", "gas (USD)"):
        top.add_column(col, justify="right")
    for b in summary["top_bots"]:
        top.add_row(str(b["bot_id"]), str(b["trades"]), str(b["wins"]), str(b["losses"]),
                    usd(b["realised_pnl_usdc"]), usd(b["gas_cost_usdc"]))
    console.print(top)
    if "diamonds" in summary:
        print_system(summary, console)
    console.print("decisions: " + ", ".join(f"{k}={v}" for k, v in summary["decisions"].items()))
    console.print("[bold]assumptions[/bold]")
    for k, v in {**summary["assumptions"], **summary.get("strike_assumptions", {})}.items():
        console.print(f"  {k}: {v}")
    console.print("Replay figures on one slice of history under the assumptions above; not a forecast, "
                  "no claim of profit.")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def print_system(summary: dict[str, Any], console: Console) -> None:
    """Per-diamond and system figures: trades, win rate, realised PnL, max drawdown, liquidations,
    breaker trips, gas (as measured on chain and by the keeper)."""
    table = Table(title="per diamond and system")
    for col in ("", "trades", "win rate", "realised PnL", "equity start", "equity end", "max drawdown",
                "liquidations", "keeper txs", "gas used", "gas (USD)"):
        table.add_column(col, justify="right")
    for role, d in summary["diamonds"].items():
        table.add_row(role, str(d["trades"]), _pct(d["win_rate"]), usd(d["realised_pnl_usdc"]),
                      usd(d["equity_start_usdc"]), usd(d["equity_end_usdc"]),
                      f"{usd(d['max_drawdown_usdc'])} ({d['max_drawdown_pct']:.2f}%)", str(d["liquidations"]),
                      str(d["keeper_transactions"]), f"{d['gas_used']:,}", usd(d["gas_cost_usdc"]))
    s = summary["system"]
    table.add_row("[bold]system[/bold]", str(s["trades"]), _pct(s["win_rate"]), usd(s["realised_pnl_usdc"]),
                  usd(s["equity_start_usdc"]), usd(s["equity_end_usdc"]),
                  f"{usd(s['max_drawdown_usdc'])} ({s['max_drawdown_pct']:.2f}%)", str(s["liquidations"]), "",
                  f"{s['gas_used']:,}", usd(s["gas_cost_usdc"]))
    console.print(table)
    st = summary["strike"]
    console.print(f"strike: {st['sent']} transactions ({st['succeeded']} mined, {st['reverted']} reverted) "
                  f"by intent {st['by_intent']}; positions force-closed {s['force_closed']}; breaker trips "
                  f"{s['breaker_trips']} (tripped at the end: {'yes' if s['breaker_tripped_at_end'] else 'no'}); "
                  f"worst day {usd(s['worst_day_usdc'])}; read batch p50 {st['read_batch_ms']['p50']} ms")
    if summary.get("timing_s"):
        console.print("wall time per part: " + ", ".join(f"{k} {v:.1f} s" for k, v in summary["timing_s"].items()))


def write_json(summary: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return path


def write_chart(summary: dict[str, Any], path: Path) -> Path:
    """PNG: pool prices on both DEXes against the historical close; cumulative realised PnL (per
    diamond and system when the replay read it); total equity per diamond; system drawdown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    hours = summary["hourly"]
    when = [datetime.fromtimestamp(h["timestamp"] - hours[0]["timestamp"] + summary["history"]["first"],
                                   tz=timezone.utc) for h in hours]
    with_equity = any(h.get("total_equity") for h in hours)
    if with_equity:
        fig, (top, bottom, eq_ax, dd_ax) = plt.subplots(4, 1, figsize=(11, 11), sharex=True,
                                                        height_ratios=[2, 1, 1.3, 1])
    else:
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, height_ratios=[2, 1])
    asset = summary.get("asset", "BTC/USD")
    top.plot(when, [h["close"] for h in hours], color="black", lw=1.2, label=f"{asset} close (history)")
    top.plot(when, [h["price_a_noise"] for h in hours], color="tab:blue", lw=0.7, alpha=0.8,
             label="DEX A pool after noise")
    top.plot(when, [h["price_b_noise"] for h in hours], color="tab:orange", lw=0.7, alpha=0.8,
             label="DEX B pool after noise")
    if any(h.get("price_c_noise") for h in hours):
        top.plot(when, [h["price_c_noise"] for h in hours], color="tab:purple", lw=0.7, alpha=0.8,
                 label="DEX C (Uniswap V3 0.05 %) after noise")
    top.set_ylabel(f"USD per unit ({asset})")
    top.legend(loc="best", fontsize=8)
    diamonds = summary.get("diamonds") or {}
    pairs = summary.get("trades_by_venue_pair") or {}
    if len(pairs) > 1 or any("C" in k for k in pairs):  # the arbitrages per venue pair, over time and in all
        pair_ax = bottom.twinx()
        for (pair, n), color in zip(pairs.items(), ("tab:blue", "tab:purple", "tab:brown", "tab:gray")):
            series = [sum(v for k, v in (h.get("trades_by_venues") or {}).items()
                          if "↔".join(sorted(k.split("-"))) == pair) for h in hours]
            pair_ax.plot(when, series, color=color, lw=0.8, ls="--", label=f"arbitrages {pair}: {n}")
        pair_ax.set_ylabel("arbitrages per\nvenue pair (cumulative)")
        pair_ax.legend(loc="lower right", fontsize=7)
    if diamonds:
        counts = ", ".join(f"{role} {d['trades']}" for role, d in diamonds.items())
        top.set_title(f"macrostrike replay: {len(hours)} bars, {summary['system']['trades']} trades ({counts})")
    else:
        venues = "2 Uniswap V2 pools + 1 Uniswap V3 pool" if any("C" in k for k in pairs) else "2 Uniswap V2 pools"
        top.set_title(f"macrostrike replay: {len(hours)} bars, {venues}, "
                      f"{summary['trades']['succeeded']} arbitrage trades")
    if any(h.get("realised_by_diamond") for h in hours):
        by = [h.get("realised_by_diamond") or {} for h in hours]
        bottom.plot(when, [sum(b.values()) / 1e6 for b in by], color="black", lw=1.2, label="system")
        for role, color in (("long", "tab:green"), ("short", "tab:red"), ("amm", "tab:blue")):
            bottom.plot(when, [b.get(role, 0) / 1e6 for b in by], color=color, lw=0.8, label=role)
        bottom.axhline(0, color="gray", lw=0.5)
        bottom.legend(loc="best", fontsize=8)
    else:
        bottom.plot(when, [h["realised_pnl_usdc"] / 1e6 for h in hours], color="tab:green")
    bottom.set_ylabel("cumulative realised\nPnL (USDC, before gas)")
    if with_equity:
        total = [h["total_equity"] / 1e6 for h in hours]
        eq_ax.plot(when, total, color="black", lw=1.2, label="system (master.totalEquity)")
        for role, color in (("long", "tab:green"), ("short", "tab:red"), ("amm", "tab:blue")):
            eq_ax.plot(when, [h["equity"].get(role, 0) / 1e6 for h in hours], color=color, lw=0.8, label=role)
        eq_ax.set_ylabel("equity (USDC)")
        eq_ax.legend(loc="best", fontsize=8)
        peak, dd = 0.0, []
        for v in total:
            peak = max(peak, v)
            dd.append(-100 * (peak - v) / peak if peak else 0.0)
        dd_ax.fill_between(when, dd, 0, color="tab:red", alpha=0.4)
        dd_ax.set_ylabel("system drawdown\nfrom peak (%)")
        tripped = [w for w, h in zip(when, hours) if h.get("breaker_tripped")]
        if tripped:
            dd_ax.axvline(tripped[0], color="black", ls="--", lw=0.8, label="breaker tripped")
            dd_ax.legend(loc="best", fontsize=8)
        dd_ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    fig.autofmt_xdate()
    fig.text(0.01, 0.01, f"Data: {summary['assumptions']['data'].split(';')[0]}. Replay figures, not a forecast.",
             fontsize=7, color="gray")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
