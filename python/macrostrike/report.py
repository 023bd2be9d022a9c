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
    console = console or Console()
    t = summary["trades"]
    h = summary["history"]
    console.print(f"[bold]macrostrike replay[/bold] — {summary['hours_replayed']} hours of BTC/USD "
                  f"({_date(h['first'])} .. {_date(h['last'])} UTC, close ${h['first_close']:,.2f} -> "
                  f"${h['last_close']:,.2f})")
    rows = [
        ("hours replayed", f"{summary['hours_replayed']}"),
        ("noise trades", f"{summary['noise_trades']}"),
        ("opportunities seen (gross > 0)", f"{summary['opportunities_seen']}"),
        ("trades sent / succeeded / reverted", f"{t['sent']} / {t['succeeded']} / {t['reverted']}"),
        ("bots that traded", f"{summary['bots_traded']}"),
        ("realised PnL, total (on chain)", usd(summary["realised_pnl_usdc_total"])),
        ("gas cost at the stated ETH price", usd(summary["gas_cost_usdc_total"])),
        ("realised PnL after gas", usd(summary["net_after_gas_usdc"])),
        ("gas per trade, mean / p50", f"{summary['gas_per_trade']['mean']:,.0f} / {summary['gas_per_trade']['p50']:,.0f}"),
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
    console.print("decisions: " + ", ".join(f"{k}={v}" for k, v in summary["decisions"].items()))
    console.print("[bold]assumptions[/bold]")
    for k, v in summary["assumptions"].items():
        console.print(f"  {k}: {v}")


def write_json(summary: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return path


def write_chart(summary: dict[str, Any], path: Path) -> Path:
    """PNG: pool prices on both DEXes against the historical close; cumulative realised PnL."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    hours = summary["hourly"]
    when = [datetime.fromtimestamp(h["timestamp"] - hours[0]["timestamp"] + summary["history"]["first"],
                                   tz=timezone.utc) for h in hours]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, height_ratios=[2, 1])
    top.plot(when, [h["close"] for h in hours], color="black", lw=1.2, label="BTC/USD close (history)")
    top.plot(when, [h["price_a_noise"] for h in hours], color="tab:blue", lw=0.7, alpha=0.8,
             label="DEX A pool after noise")
    top.plot(when, [h["price_b_noise"] for h in hours], color="tab:orange", lw=0.7, alpha=0.8,
             label="DEX B pool after noise")
    top.set_ylabel("USD per BTC")
    top.legend(loc="best", fontsize=8)
    top.set_title(f"macrostrike replay: {len(hours)} hours, 2 Uniswap V2 pools, "
                  f"{summary['trades']['succeeded']} arbitrage trades")
    bottom.plot(when, [h["realised_pnl_usdc"] / 1e6 for h in hours], color="tab:green")
    bottom.set_ylabel("cumulative realised\nPnL (USDC, before gas)")
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    fig.autofmt_xdate()
    fig.text(0.01, 0.01, "Data: Coinbase BTC/USD hourly via CryptoDataDownload. Replay figures, not a forecast.",
             fontsize=7, color="gray")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
