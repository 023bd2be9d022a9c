"""A user's own OHLCV history (``ape run demo --prices FILE``): read, validate, detect the bar interval.

Accepted files (CSV, UTF-8, comma-separated; parsed with pandas):

* **CryptoDataDownload** exports: a banner line (``Timestamps are UTC timezone,https://www.CryptoDataDownload.com``
  or any first line that is not a header), then a header such as ``unix,date,symbol,open,high,low,close,Volume
  BTC,Volume USDT`` or ``date,symbol,open,high,low,close,volume_btc,volume``, rows newest first, dates like
  ``2019-10-17 09-AM`` or ``2021-01-01 00:00:00``, ``unix`` in seconds or milliseconds;
* **plain** files: a header naming a time column (``timestamp``, ``unix``, ``time``, ``date`` or ``datetime``)
  and ``open, high, low, close, volume``, rows oldest first or newest first.

Header names are matched case-insensitively (spaces and dashes read as ``_``); extra columns are ignored.
The first column whose name starts with ``volume`` is the bar's volume (CryptoDataDownload lists the base
asset's volume first); a second one, if any, is the quote volume. Times are UTC: ISO-8601 strings (with or
without an offset), CryptoDataDownload's ``%Y-%m-%d %I-%p``, or unix seconds / milliseconds.

Refusals (:class:`~macrostrike.market.data.DataError`, one line naming the file line, the column and what
was expected): a missing column, an empty or non-numeric cell, a non-positive price, high/low not
bracketing open and close, a negative volume, a duplicated timestamp, a row out of the file's order
(a file is oldest first or newest first throughout), bars closer than the interval or off its grid, a bar
interval other than a minute, an hour or a day, and a gap longer than ``max_gap_bars`` intervals
(:data:`DEFAULT_MAX_GAP_BARS`). Gaps within the tolerance are kept as they are (the replay's clock
follows the file's timestamps); nothing is filled in or dropped.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from macrostrike.market.data import Candle, DataError

__all__ = ["DEFAULT_MAX_GAP_BARS", "INTERVALS", "PriceHistory", "load_prices"]

#: Bar intervals a file may have (seconds -> name).
INTERVALS = {60: "minute", 3_600: "hour", 86_400: "day"}
#: Longest accepted spacing between two consecutive bars, in bar intervals (5: up to four bars missing,
#: e.g. a weekend in daily stock data). Longer gaps are refused, never filled.
DEFAULT_MAX_GAP_BARS = 5
#: Time columns, in order of preference.
TIME_COLUMNS = ("unix", "timestamp", "unix_timestamp", "time", "date", "datetime")
PRICE_COLUMNS = ("open", "high", "low", "close")
_CDD_DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}-(AM|PM)")
_EXPECTED_HEADER = "a header naming a time column (timestamp, unix, time, date or datetime) and open, high, low, close, volume"


@dataclass(frozen=True)
class PriceHistory:
    """A validated history: candles ascending, and what the file said about itself.

    ``asset``: the ``symbol`` column's value, else the file's name without extension.
    ``interval_s``: the bar interval (60, 3600 or 86400 seconds). ``newest_first``: the file's order.
    ``gaps``: spacings longer than one interval that were accepted (within ``max_gap_bars``).
    ``banner``: the file's first line when it was not the header (CryptoDataDownload's credit).
    """

    path: Path
    asset: str
    interval_s: int
    candles: list[Candle]
    newest_first: bool
    gaps: int
    max_gap_bars: int
    banner: str | None
    sha256: str

    @property
    def interval_name(self) -> str:
        return INTERVALS[self.interval_s]

    def describe(self) -> str:
        """One line for reports: asset, bars, interval, order, gaps, file and checksum."""
        order = "newest first" if self.newest_first else "oldest first"
        return (f"{self.asset} {self.interval_name} bars from {self.path.name} ({len(self.candles)} bars, {order} in "
                f"the file, {self.gaps} gaps of up to {self.max_gap_bars} bars kept unfilled, sha256 {self.sha256[:12]}…)"
                + (f"; credit: {self.banner}" if self.banner else ""))


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def _header_line(path: Path) -> tuple[int, str | None]:
    """0 when line 1 is the header, 1 when line 1 is a banner and line 2 the header."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            first_two = [row for _, row in zip(range(2), csv.reader(fh))]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"cannot read {path}: {err}") from None
    for i, row in enumerate(first_two):
        names = {_norm(f) for f in row}
        if "close" in names and names & set(TIME_COLUMNS):
            return i, (",".join(first_two[0]).strip() if i == 1 else None)
    got = ",".join(first_two[0]) if first_two else "an empty file"
    raise DataError(f"{path} line 1: expected {_EXPECTED_HEADER} (line 2 if line 1 is a banner), got {got!r}")


def _read(path: Path, header: int) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, skiprows=header, dtype=str, keep_default_na=False, skip_blank_lines=False,
                            encoding="utf-8-sig")
    except pd.errors.ParserError as err:
        detail = str(err).split("C error: ")[-1].strip()
        raise DataError(f"{path}: not a well-formed CSV: {detail}") from None
    except (UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise DataError(f"{path}: cannot read as a UTF-8 CSV: {err}") from None
    frame.columns = [_norm(c) for c in frame.columns]
    frame = frame.fillna("")
    frame["_line"] = frame.index + header + 2  # 1-based file line of each row
    blank = frame.drop(columns="_line").apply(lambda col: col.str.strip() == "").all(axis=1)
    return frame[~blank].reset_index(drop=True)


def _columns(path: Path, frame: pd.DataFrame, header: int) -> tuple[str, list[str]]:
    line = header + 1
    time_col = next((c for c in TIME_COLUMNS if c in frame.columns), None)
    volumes = [c for c in frame.columns if c.startswith("volume")]
    missing = [c for c in PRICE_COLUMNS if c not in frame.columns] + ([] if volumes else ["volume"])
    if time_col is None or missing:
        what = ", ".join((["a time column"] if time_col is None else []) + missing)
        raise DataError(f"{path} line {line}: column {what} missing; expected {_EXPECTED_HEADER}")
    return time_col, volumes[:2]


def _bad(path: Path, frame: pd.DataFrame, mask: pd.Series, column: str, expected: str) -> None:
    if mask.any():
        row = frame[mask].iloc[0]
        raw = row[column].strip() if isinstance(row[column], str) else row[column]
        got = "an empty cell" if raw == "" else repr(raw)
        raise DataError(f"{path} line {row['_line']}, column {column}: expected {expected}, got {got}")


def _numbers(path: Path, frame: pd.DataFrame, volumes: list[str]) -> pd.DataFrame:
    values = pd.DataFrame({"_line": frame["_line"]})
    for col in (*PRICE_COLUMNS, *volumes):
        number = pd.to_numeric(frame[col].str.strip(), errors="coerce")
        _bad(path, frame, number.isna() | ~np.isfinite(number), col, "a number")
        kind = "a positive price" if col in PRICE_COLUMNS else "a volume >= 0"
        _bad(path, frame, number <= 0 if col in PRICE_COLUMNS else number < 0, col, kind)
        values[col] = number
    low_above = values["low"] > values[["open", "close"]].min(axis=1)
    _bad(path, frame, low_above, "low", "a low at or below open and close")
    high_below = values["high"] < values[["open", "close"]].max(axis=1)
    _bad(path, frame, high_below, "high", "a high at or above open and close")
    return values


def _times(path: Path, frame: pd.DataFrame, col: str) -> pd.Series:
    """Unix seconds (int64) of every row."""
    text = frame[col].str.strip()
    as_number = pd.to_numeric(text, errors="coerce")
    if as_number.notna().all():
        scale = 1_000 if as_number.median() > 1e11 else 1  # milliseconds (CryptoDataDownload's newer unix column)
        return (as_number // scale).astype("int64")
    if text.str.fullmatch(_CDD_DATE).all():
        when = pd.to_datetime(text, format="%Y-%m-%d %I-%p", utc=True, errors="coerce")
    else:
        when = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    _bad(path, frame, when.isna(), col, "a UTC date like 2024-01-31 13:00:00 (or unix seconds)")
    return ((when - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).astype("int64")


def _order(path: Path, frame: pd.DataFrame, ts: pd.Series, col: str) -> bool:
    """Refuse duplicated or out-of-order timestamps; True when the file is newest first."""
    dup = ts.duplicated(keep="first")
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        first = int(np.flatnonzero((ts == ts.iloc[i]).to_numpy())[0])
        raise DataError(f"{path} line {frame['_line'].iloc[i]}, column {col}: expected a timestamp not seen before, "
                        f"got {_utc(ts.iloc[i])} again (first on line {frame['_line'].iloc[first]})")
    newest_first = bool(ts.iloc[-1] < ts.iloc[0])
    step = ts.diff().iloc[1:]
    wrong = step > 0 if newest_first else step < 0
    if wrong.any():
        i = int(wrong.to_numpy().nonzero()[0][0]) + 1
        order = "newest first (each row older than the one above)" if newest_first else \
            "oldest first (each row newer than the one above)"
        raise DataError(f"{path} line {frame['_line'].iloc[i]}, column {col}: timestamps out of order: the file is "
                        f"{order}, but {_utc(ts.iloc[i])} follows {_utc(ts.iloc[i - 1])}")
    return newest_first


def _interval(path: Path, lines: np.ndarray, ts: np.ndarray, col: str, max_gap_bars: int) -> tuple[int, int]:
    """``(interval_s, gaps)`` of ascending timestamps ``ts`` (``lines``: their file lines)."""
    spacing = np.diff(ts)
    interval = int(np.median(spacing))
    if interval not in INTERVALS:
        raise DataError(f"{path} line {lines[1]}, column {col}: expected minute, hour or day bars (60, 3600 or "
                        f"86400 s apart), got a median spacing of {interval} s")
    off = (spacing < interval) | (spacing % interval != 0)
    if off.any():
        i = int(off.nonzero()[0][0]) + 1
        raise DataError(f"{path} line {lines[i]}, column {col}: expected a bar a whole number of {INTERVALS[interval]}s "
                        f"({interval} s) after the previous one ({_utc(ts[i - 1])}), got {_utc(ts[i])}")
    far = spacing > max_gap_bars * interval
    if far.any():
        i = int(far.nonzero()[0][0]) + 1
        raise DataError(f"{path} line {lines[i]}, column {col}: gap of {spacing[i - 1] // interval} bars between "
                        f"{_utc(ts[i - 1])} and {_utc(ts[i])}, expected at most {max_gap_bars} (gaps are not filled: "
                        f"cut the file at the gap or fill it yourself)")
    return interval, int((spacing > interval).sum())


def _asset(path: Path, frame: pd.DataFrame) -> str:
    if "symbol" not in frame.columns:
        return path.stem
    symbols = frame["symbol"].str.strip()
    names = [s for s in symbols.unique() if s]
    if len(names) > 1:
        other = symbols != names[0]
        row = frame[other].iloc[0]
        raise DataError(f"{path} line {row['_line']}, column symbol: expected one asset ({names[0]}) throughout, "
                        f"got {row['symbol'].strip()!r}")
    return names[0] if names else path.stem


def _utc(ts: int) -> str:
    return pd.Timestamp(int(ts), unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M:%S UTC")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_prices(path: Path | str, *, max_gap_bars: int = DEFAULT_MAX_GAP_BARS) -> PriceHistory:
    """Read and validate an OHLCV CSV (formats: module docstring).

    Args:
        path: the CSV file.
        max_gap_bars: longest accepted spacing between consecutive bars, in bar intervals (>= 1).

    Returns:
        The :class:`PriceHistory`, candles ascending by time (``volume_btc``: the base volume column;
        ``volume_usd``: the second volume column, else volume × close).

    Raises:
        DataError: one line naming the file line, the column and what was expected.
        ValueError: ``max_gap_bars < 1``.
    """
    if max_gap_bars < 1:
        raise ValueError(f"max_gap_bars={max_gap_bars}: expected at least 1")
    path = Path(path)
    if not path.is_file():
        raise DataError(f"price file {path} does not exist")
    header, banner = _header_line(path)
    frame = _read(path, header)
    time_col, volumes = _columns(path, frame, header)
    if len(frame) < 2:
        raise DataError(f"{path} line {header + 2}: expected at least 2 bars (to tell the interval), got {len(frame)}")
    values = _numbers(path, frame, volumes)
    ts = _times(path, frame, time_col)
    newest_first = _order(path, frame, ts, time_col)
    asset = _asset(path, frame)
    values["ts"] = ts
    if newest_first:
        values = values.iloc[::-1].reset_index(drop=True)
    interval, gaps = _interval(path, values["_line"].to_numpy(), values["ts"].to_numpy(), time_col, max_gap_bars)
    base = values[volumes[0]]
    quote = values[volumes[1]] if len(volumes) > 1 else base * values["close"]
    candles = [Candle(int(t), float(o), float(h), float(lo), float(c), float(vb), float(vq))
               for t, o, h, lo, c, vb, vq in zip(values["ts"], values["open"], values["high"], values["low"],
                                                 values["close"], base, quote)]
    return PriceHistory(path, asset, interval, candles, newest_first, gaps, max_gap_bars, banner, _sha256(path))
