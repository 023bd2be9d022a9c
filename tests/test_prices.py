"""`--prices FILE`: the OHLCV loader (formats, order, interval, gaps) and each refusal, on small files the
tests write; then the CLI: a refusal before any chain is touched, and (slow) a short demo replay of a
written minute-bar file."""

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from macrostrike.market.data import DataError, parse
from macrostrike.market.prices import DEFAULT_MAX_GAP_BARS, load_prices

SLICE = Path(__file__).parent / "data" / "btc_slice.csv"
T0 = 1_700_000_000 - 1_700_000_000 % 86_400  # 2023-11-14 00:00 UTC


def bars_csv(n, step, *, start=T0, newest_first=False, header="timestamp,open,high,low,close,volume",
             price=100.0, fmt=str):
    """``n`` plain bars ``step`` seconds apart: close rises 1 per bar, volume = bar index + 1."""
    rows = []
    for i in range(n):
        c = price + i
        rows.append(f"{fmt(start + i * step)},{c - 0.5},{c + 1},{c - 1},{c},{i + 1}")
    if newest_first:
        rows.reverse()
    return "\n".join([header, *rows]) + "\n"


def set_field(text, line, column, value):
    """``text`` with the field ``column`` (0-based) of file line ``line`` (1-based) set to ``value``."""
    lines = text.splitlines()
    fields = lines[line - 1].split(",")
    fields[column] = value
    lines[line - 1] = ",".join(fields)
    return "\n".join(lines) + "\n"


def write(tmp_path, text, name="prices.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(tmp_path, text, *needles, **kwargs):
    with pytest.raises(DataError) as err:
        load_prices(write(tmp_path, text), **kwargs)
    message = str(err.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, message
    return message


# -- accepted formats ---------------------------------------------------------------------------------
def test_cryptodatadownload_file_matches_the_bundled_parser():
    history = load_prices(SLICE)
    assert history.candles == parse(SLICE)  # the bundled history's own parser reads the same candles
    assert (history.asset, history.interval_s, history.newest_first, history.gaps) == ("BTCUSD", 3_600, True, 0)
    assert history.banner.startswith("Timestamps are UTC timezone")
    assert history.candles[0].close == 8313.52 and history.candles[0].volume_usd == 545155.58


def test_newer_cryptodatadownload_export_unix_milliseconds_minute_bars(tmp_path):
    rows = [f"{(T0 + 60 * i) * 1000},2023-11-14 00:{i:02d}:00,ETH/USDT,{2000 + i},{2001 + i},{1999 + i},"
            f"{2000.5 + i},{3 + i},{(3 + i) * 2000}" for i in range(10)]
    text = "https://www.CryptoDataDownload.com\nunix,date,symbol,open,high,low,close,Volume ETH,Volume USDT\n"
    history = load_prices(write(tmp_path, text + "\n".join(reversed(rows)) + "\n"))
    assert (history.asset, history.interval_s, history.interval_name) == ("ETH/USDT", 60, "minute")
    assert [c.timestamp for c in history.candles] == [T0 + 60 * i for i in range(10)]
    assert history.candles[0].volume_btc == 3 and history.candles[0].volume_usd == 6_000
    assert history.banner == "https://www.CryptoDataDownload.com"


@pytest.mark.parametrize("newest_first", [False, True])
def test_plain_file_either_order_gives_the_same_candles(tmp_path, newest_first):
    history = load_prices(write(tmp_path, bars_csv(6, 86_400, newest_first=newest_first), "SOLUSD_d.csv"))
    assert (history.asset, history.interval_s, history.newest_first) == ("SOLUSD_d", 86_400, newest_first)
    assert [c.close for c in history.candles] == [100.0, 101.0, 102.0, 103.0, 104.0, 105.0]
    assert history.candles[2].volume_usd == 3 * 102.0  # one volume column: quote volume = volume x close


def test_iso_dates_with_spaces_and_upper_case_header(tmp_path):
    text = bars_csv(4, 3_600, header="Date, Open, High, Low, Close, Volume",
                    fmt=lambda t: datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    history = load_prices(write(tmp_path, text.replace(",", ", ")))
    assert history.interval_s == 3_600 and history.candles[0].timestamp == T0


def test_gaps_within_the_tolerance_are_kept_not_filled(tmp_path):
    lines = bars_csv(8, 60).splitlines()
    del lines[3:5]  # two minutes missing: a 3-bar spacing
    history = load_prices(write(tmp_path, "\n".join(lines) + "\n"))
    assert len(history.candles) == 6 and history.gaps == 1
    assert history.candles[2].timestamp - history.candles[1].timestamp == 180


# -- refusals: one line naming the file line, the column and what was expected -------------------------
def test_missing_close_column(tmp_path):
    refused(tmp_path, "banner\ntimestamp,open,high,low,volume\n1,1,1,1,1\n", "line 1:", "expected a header")
    text = bars_csv(3, 60).replace("close", "last")
    refused(tmp_path, text, "line 1:", "expected a header naming a time column")


def test_missing_volume_column(tmp_path):
    text = "\n".join(",".join(r.split(",")[:5]) for r in bars_csv(3, 60).splitlines())
    refused(tmp_path, text, "line 1: column volume missing")


def test_missing_close_value(tmp_path):
    refused(tmp_path, set_field(bars_csv(5, 60), 4, 4, ""), "line 4, column close: expected a number, got an empty cell")


def test_not_a_number(tmp_path):
    refused(tmp_path, set_field(bars_csv(5, 60), 5, 4, "n/a"), "line 5, column close: expected a number, got 'n/a'")


@pytest.mark.parametrize("bad", ["0", "-3.5"])
def test_non_positive_price(tmp_path, bad):
    refused(tmp_path, set_field(bars_csv(5, 60), 3, 1, bad), f"line 3, column open: expected a positive price, got '{bad}'")


def test_high_below_close_and_negative_volume(tmp_path):
    refused(tmp_path, set_field(bars_csv(4, 60), 3, 2, "50"), "line 3, column high: expected a high at or above open")
    refused(tmp_path, set_field(bars_csv(4, 60), 4, 5, "-3"), "line 4, column volume: expected a volume >= 0, got '-3'")


def test_duplicated_timestamp(tmp_path):
    lines = bars_csv(5, 3_600).splitlines()
    lines[4] = lines[4].replace(str(T0 + 3 * 3_600), str(T0 + 3_600), 1)
    refused(tmp_path, "\n".join(lines), "line 5, column timestamp: expected a timestamp not seen before",
            "first on line 3")


@pytest.mark.parametrize("newest_first", [False, True])
def test_unordered_timestamps(tmp_path, newest_first):
    lines = bars_csv(6, 3_600, newest_first=newest_first).splitlines()
    lines[3], lines[4] = lines[4], lines[3]
    refused(tmp_path, "\n".join(lines), "line 5, column timestamp: timestamps out of order",
            "newest first" if newest_first else "oldest first")


def test_gap_beyond_the_tolerance(tmp_path):
    lines = bars_csv(12, 3_600).splitlines()
    del lines[4:4 + DEFAULT_MAX_GAP_BARS]  # a spacing of max + 1 hours
    message = refused(tmp_path, "\n".join(lines), "line 5, column timestamp: gap of 6 bars", "expected at most 5",
                      "not filled")
    assert "2023-11-14 02:00:00 UTC and 2023-11-14 08:00:00 UTC" in message
    assert len(load_prices(write(tmp_path, "\n".join(lines)), max_gap_bars=6).candles) == 7


def test_unsupported_interval_and_off_grid_bar(tmp_path):
    refused(tmp_path, bars_csv(5, 300), "expected minute, hour or day bars", "300 s")
    lines = bars_csv(6, 60).splitlines()
    lines[4] = lines[4].replace(str(T0 + 180), str(T0 + 150), 1)  # 30 s early
    refused(tmp_path, "\n".join(lines), "line 5, column timestamp: expected a bar a whole number of minutes")


def test_bad_date_mixed_symbols_ragged_row_too_few_bars(tmp_path):
    refused(tmp_path, "date,open,high,low,close,volume\n2023-11-14 00:00,1,1,1,1,1\nyesterday,1,1,1,1,1\n",
            "line 3, column date: expected a UTC date")
    text = "symbol,timestamp,open,high,low,close,volume\nBTC,0,1,1,1,1,1\nBTC,60,1,1,1,1,1\nETH,120,1,1,1,1,1\n"
    refused(tmp_path, text, "line 4, column symbol: expected one asset (BTC)")
    refused(tmp_path, bars_csv(3, 60) + "1,2,3,4,5,6,7\n", "not a well-formed CSV", "line 5")
    refused(tmp_path, bars_csv(1, 60), "expected at least 2 bars")
    with pytest.raises(DataError, match="does not exist"):
        load_prices(tmp_path / "nope.csv")


def test_the_bundled_file_is_refused_for_its_out_of_order_rows():
    """The real CryptoDataDownload file has 5 rows out of order (data.py): --prices names the first."""
    from macrostrike.market.data import DATASET, default_cache_dir

    real = default_cache_dir() / DATASET.filename
    if not real.is_file():
        pytest.skip("the bundled history is not cached (make setup)")
    with pytest.raises(DataError, match="line 16901, column date: timestamps out of order"):
        load_prices(real)


# -- the CLI ------------------------------------------------------------------------------------------
def test_cli_refuses_a_bad_file_before_starting_a_chain(tmp_path):
    from ops_helpers import ape, assert_one_line_error

    path = write(tmp_path, set_field(bars_csv(5, 60), 4, 4, "-102.0"))
    proc = ape("run", "demo", "--prices", str(path), "--network", "http://127.0.0.1:9", timeout=120)
    assert_one_line_error(proc, "line 4, column close: expected a positive price, got '-102.0'")


@pytest.mark.slow
def test_cli_replays_a_minute_bar_file(anvil_node, tmp_path):
    """`ape run demo --prices` on 40 written minute bars (a rising then falling close): the replay runs
    on minute bars, its clock moves a minute per bar, and the report names the file's asset."""
    from ops_helpers import ape

    rows = ["timestamp,open,high,low,close,volume"]
    for i in range(40):
        c = 30_000 + 40 * i if i < 25 else 30_000 + 40 * 25 - 60 * (i - 25)
        rows.append(f"{T0 + 60 * i},{c},{c + 5},{c - 5},{c},{10 + i % 7}")
    path = write(tmp_path, "\n".join(rows) + "\n", "XBT_1m.csv")
    out = tmp_path / "out"
    proc = ape("run", "demo", "--network", anvil_node, "--prices", str(path), "--bars", "8", "--start", "30",
               "--agreement", "2", "--out", str(out), env={"MACROSTRIKE_DEPLOYMENTS": str(tmp_path)}, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "XBT_1m minute bars from XBT_1m.csv (40 bars, oldest first" in proc.stdout
    assert "8 minute bars of XBT_1m" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["bars_replayed"], summary["bar_interval_s"], summary["asset"]) == (8, 60, "XBT_1m")
    assert [h["close"] for h in summary["hourly"]] == [30_000 + 40 * 25 - 60 * (i - 25) for i in range(30, 38)]
    times = [h["timestamp"] for h in summary["hourly"]]
    assert {b - a for a, b in zip(times, times[1:])} == {60}
    assert summary["history"]["first_close"] == 30_000 + 40 * 25 - 60 * 5
    assumptions = {**summary["assumptions"], **summary["strike_assumptions"]}
    assert "XBT_1m minute bars" in assumptions["data"] and "one minute (60 s) of chain time" in assumptions["clock"]
    assert "7.75 bps" in assumptions["market"]  # 60 bps at hourly bars x sqrt(1/60)
    assert "at least 2 of momentum" in assumptions["signals"] and "bars of 60 s" in assumptions["signals"]
    # --agreement 2: every strike bot was registered as, and rebuilt by the keeper into, a k-of-4 vote
    assert {p["strategy"] for p in summary["strike"]["positions"]} == {"agreement"}
    for key in ("swap_fee", "gas", "slippage"):
        assert assumptions[key]
