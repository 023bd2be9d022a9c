"""Operator safety of the keeper commands (issue 14, items 5-8), as a new user sees them.

5. a mistyped ``MACROSTRIKE_KEEPER_*`` variable (or ``keeper:`` key in ape-config.yaml) stops the
   keeper at start with one line naming it and the closest setting; the suggested variable works;
6. a manifest whose role points at the wrong contract stops every keeper command with one line naming
   the role, the address and the manifest file (``health``: its JSON object, status ``down``);
7. ``--network garbage``, ``--journal`` under a missing directory, a re-downloaded corrupt cache: one
   line that names the problem and the fix;
8. ``status`` piped: full-width tables (no "…"), and ``--format json|csv``.

The CLI cases run the real ``ape keeper …`` commands as subprocesses against a separate Anvil.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from ops_helpers import ape, assert_one_line_error

#: an AMM-only system with two bots: the smallest deploy that has every diamond role
DEPLOY_ARGS = ("--bots", "2", "--long-bots", "0", "--short-bots", "0", "--capital", "1000")
DEAD = "0x000000000000000000000000000000000000dEaD"


@pytest.fixture(scope="module")
def deployed(anvil_node, tmp_path_factory):
    """``ape run deploy`` on the module's Anvil; returns the env pointing at its manifest."""
    deployments = tmp_path_factory.mktemp("deployments")
    env = {"MACROSTRIKE_DEPLOYMENTS": str(deployments)}
    proc = ape("run", "deploy", "--network", anvil_node, *DEPLOY_ARGS, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return env


@pytest.fixture(scope="module")
def wrong_manifest(deployed, tmp_path_factory):
    """A copy of the manifest with master -> 0x…dEaD (no code) and amm -> the USDC token (not a diamond)."""
    source = Path(deployed["MACROSTRIKE_DEPLOYMENTS"]) / "31337.json"
    folder = tmp_path_factory.mktemp("wrong-deployments")
    data = json.loads(source.read_text())
    usdc = data["contracts"]["usdc"]["address"]
    data["diamonds"]["master"]["address"] = DEAD
    data["diamonds"]["amm"]["address"] = usdc
    (folder / "31337.json").write_text(json.dumps(data))
    return {"MACROSTRIKE_DEPLOYMENTS": str(folder)}, folder / "31337.json", usdc


# -- 5. mistyped settings ---------------------------------------------------------------------------
@pytest.mark.slow
def test_mistyped_env_setting_stops_the_keeper(anvil_node, deployed, tmp_path):
    env = {**deployed, "MACROSTRIKE_KEEPER_MAX_FEE_CAP": "0.000001"}
    proc = ape("keeper", "run", "--network", anvil_node, "--blocks", "1", "--dry-run",
               "--journal", f"sqlite:///{tmp_path / 'j.sqlite'}", env=env)
    assert_one_line_error(proc, "MACROSTRIKE_KEEPER_MAX_FEE_CAP", "MACROSTRIKE_KEEPER_MAX_FEE_CAP_GWEI")
    health = ape("keeper", "health", "--network", anvil_node, env=env)
    assert health.returncode != 0 and "MACROSTRIKE_KEEPER_MAX_FEE_CAP_GWEI" in health.stdout + health.stderr


def test_ape_config_unknown_key_suggests_a_variable_that_works(monkeypatch):
    from macrostrike.keeper.settings import KeeperSettings, load_settings

    with pytest.raises(ValueError) as err:
        load_settings({"max_fee_cap": 0.000001})  # as if ape-config.yaml had keeper: {max_fee_cap: …}
    message = str(err.value)
    assert "\n" not in message and "max_fee_cap_gwei" in message, message
    suggested = re.findall(r"MACROSTRIKE_KEEPER_\w+", message)
    assert suggested and all(v[len("MACROSTRIKE_KEEPER_"):].lower() in KeeperSettings.model_fields
                             for v in suggested), message
    for variable in suggested:  # the suggestion works: setting it changes the setting
        monkeypatch.setenv(variable, "0.5")
    assert load_settings().max_fee_cap_gwei == 0.5
    # an invalid value of a real field: the variable named there works too
    with pytest.raises(ValueError) as bad:
        load_settings({"eth_usd_price": -1})
    (variable,) = re.findall(r"MACROSTRIKE_KEEPER_\w+", str(bad.value))
    monkeypatch.setenv(variable, "1234")
    assert load_settings({"eth_usd_price": -1}).eth_usd_price == 1234


def test_unknown_env_setting_names_the_closest_field(monkeypatch):
    from macrostrike.keeper.settings import load_settings

    monkeypatch.setenv("MACROSTRIKE_KEEPER_POLL_INTERVAL", "2")
    with pytest.raises(ValueError) as err:
        load_settings()
    assert "MACROSTRIKE_KEEPER_POLL_INTERVAL " in str(err.value) + " "
    assert "MACROSTRIKE_KEEPER_POLL_INTERVAL_S" in str(err.value)


# -- 6. a manifest pointing at the wrong contracts --------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("command", [("status",), ("pause", "--child", "long"), ("emergency-stop",),
                                     ("run", "--blocks", "1", "--dry-run"), ("export",), ("rebalance",)])
def test_wrong_manifest_address_is_one_line(anvil_node, wrong_manifest, tmp_path, command):
    env, path, _usdc = wrong_manifest
    extra = ("--journal", f"sqlite:///{tmp_path / 'j.sqlite'}") if command[0] == "run" else ()
    proc = ape("keeper", *command, "--network", anvil_node, *extra, env=env)
    assert_one_line_error(proc, "'master'", DEAD, str(path))
    assert all(line.startswith("INFO:") for line in proc.stdout.splitlines()), proc.stdout  # export lists nothing


@pytest.mark.slow
def test_wrong_amm_address_names_the_role(anvil_node, deployed, wrong_manifest, tmp_path):
    env, path, usdc = wrong_manifest
    data = json.loads(path.read_text())
    good = json.loads((Path(deployed["MACROSTRIKE_DEPLOYMENTS"]) / "31337.json").read_text())
    data["diamonds"]["master"] = good["diamonds"]["master"]  # only amm is wrong now
    folder = tmp_path / "amm-only-wrong"
    folder.mkdir()
    (folder / "31337.json").write_text(json.dumps(data))
    proc = ape("keeper", "export", "--network", anvil_node, env={"MACROSTRIKE_DEPLOYMENTS": str(folder)})
    assert_one_line_error(proc, "'amm'", usdc, str(folder / "31337.json"))
    assert "Transfer" not in proc.stdout


@pytest.mark.slow
def test_wrong_manifest_health_prints_down(anvil_node, wrong_manifest):
    env, path, _usdc = wrong_manifest
    proc = ape("keeper", "health", "--network", anvil_node, env=env)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "down", report
    assert any(DEAD in p and str(path) in p for p in report["problems"]), report


# -- 7. --network, --journal, the market-data cache --------------------------------------------------
def test_bad_network_names_the_value_and_the_choices():
    proc = ape("keeper", "status", "--network", "garbage")
    assert_one_line_error(proc, "'garbage'", "ethereum:local:foundry", "ape networks list")
    assert "Options: —" not in proc.stderr and "node is running" not in proc.stderr, proc.stderr


@pytest.mark.slow
def test_journal_in_missing_directory_names_it(anvil_node, deployed, tmp_path):
    missing = tmp_path / "no-such-dir"
    url = f"sqlite:///{missing / 'keeper.sqlite'}"
    run = ape("keeper", "run", "--network", anvil_node, "--blocks", "1", "--dry-run", "--journal", url, env=deployed)
    assert_one_line_error(run, str(missing), "mkdir -p")
    prune = ape("keeper", "journal", "prune", "--before-block", "1", "--journal", url, "--yes")
    assert_one_line_error(prune, str(missing))  # nothing to prune there: named, no traceback


def test_corrupt_cache_redownload_is_announced(tmp_path, monkeypatch, capsys):
    from macrostrike.market import data

    monkeypatch.delenv(data.OFFLINE_ENV, raising=False)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / data.DATASET.filename).write_text("not the real file\n")

    def fake_download(workdir: Path) -> Path:
        raise data.DataError("no network in this test")

    monkeypatch.setattr(data, "download", fake_download)
    with pytest.raises(data.DataError):
        data.fetch(cache)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checksum" in err[0] and "download" in err[0], err
    assert str(cache / data.DATASET.filename) in err[0]


# -- 8. status for programs --------------------------------------------------------------------------
@pytest.mark.slow
def test_status_piped_full_width_and_formats(anvil_node, deployed):
    table = ape("keeper", "status", "--network", anvil_node, env=deployed)
    assert table.returncode == 0, table.stderr
    assert "…" not in table.stdout, table.stdout
    manifest = json.loads((Path(deployed["MACROSTRIKE_DEPLOYMENTS"]) / "31337.json").read_text())
    for role in ("master", "amm", "long", "short"):
        assert manifest["diamonds"][role]["address"] in table.stdout, table.stdout
    as_json = ape("keeper", "status", "--network", anvil_node, "--format", "json", env=deployed)
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert {d["diamond"] for d in doc["diamonds"]} == {"long", "short", "amm"}
    assert [b["bot"] for b in doc["bots"]] == [1, 2], doc["bots"]
    assert doc["master"]["address"] == manifest["diamonds"]["master"]["address"]
    as_csv = ape("keeper", "status", "--network", anvil_node, "--format", "csv", env=deployed)
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert {r["table"] for r in rows} >= {"diamonds", "bots"}, rows
    assert sorted(r["address"] for r in rows if r["table"] == "diamonds") == sorted(
        manifest["diamonds"][r]["address"] for r in ("long", "short", "amm"))
