"""Operator safety of `ape run deploy` and of reading the manifest (issue 14): a damaged manifest, a
manifest of a chain whose state is gone, a rerun with other flags, a node that drops mid-deploy or a
nonce clash, and what `ape keeper inspect` / `ape run upgrade` / `ape keeper status` say about a
damaged, foreign or missing manifest.

The commands run as subprocesses (what the user sees: exit code, one ``Error:`` line on stderr, no
traceback) against separate Anvils; the deploys are the smallest AMM-only system (2 bots, $100 each).
"""

from __future__ import annotations

import json
import re
import time
import shutil
from pathlib import Path

import pytest
from web3 import Web3

from chain_harness import FaultProxy
from conftest import start_anvil
from macrostrike.deploy.manifest import Manifest, load
from ops_helpers import ape, assert_one_line_error

#: Anvil test account 0: the deployer on a local chain.
DEPLOYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
SMALL = ("--long-bots", "0", "--short-bots", "0", "--capital", "100")


def deploy(uri: str, folder: Path, *args: str, bots: int = 2, timeout: int = 400):
    """``ape run deploy`` of the small system on ``uri`` with ``folder`` as MACROSTRIKE_DEPLOYMENTS."""
    return ape("run", "deploy", "--network", uri, "--bots", str(bots), *SMALL, *args,
               env={"MACROSTRIKE_DEPLOYMENTS": str(folder)}, timeout=timeout)


def nonce(uri: str) -> int:
    return Web3(Web3.HTTPProvider(uri)).eth.get_transaction_count(DEPLOYER)


def ok(proc) -> str:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def deployed(anvil_node, tmp_path_factory) -> Path:
    """The small system deployed once on the module's Anvil; returns its manifest folder."""
    folder = tmp_path_factory.mktemp("deployed")
    ok(deploy(anvil_node, folder))
    return folder


# -- backups and atomic writes (no chain) ----------------------------------------------------------------
def test_rewrites_keep_a_few_previous_versions(tmp_path):
    from macrostrike.deploy.manifest import BACKUPS_KEPT, rotate_backups

    path = tmp_path / "31337.json"
    for i in range(BACKUPS_KEPT + 3):
        Manifest(chain_id=31337, genesis_hash=f"0x{i:064x}").save(path, backup=True)
    assert load(path).genesis_hash == f"0x{BACKUPS_KEPT + 2:064x}"
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == ["31337.json"] + [f"31337.json.{g}" for g in range(1, BACKUPS_KEPT + 1)], kept
    assert load(tmp_path / "31337.json.1").genesis_hash == f"0x{BACKUPS_KEPT + 1:064x}"
    assert load(tmp_path / f"31337.json.{BACKUPS_KEPT}").genesis_hash == f"0x{2:064x}"  # 0 and 1 dropped
    Manifest(chain_id=31337, genesis_hash=f"0x{BACKUPS_KEPT + 2:064x}").save(path, backup=True)  # unchanged
    assert load(tmp_path / "31337.json.1").genesis_hash == f"0x{BACKUPS_KEPT + 1:064x}"
    assert rotate_backups(tmp_path / "absent.json") is None


def test_a_failed_write_leaves_the_previous_manifest_and_no_temp_file(tmp_path, monkeypatch):
    import os

    path = tmp_path / "31337.json"
    Manifest(chain_id=31337, genesis_hash="0x" + "01" * 32).save(path)
    before = path.read_bytes()

    def crash(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        Manifest(chain_id=31337, genesis_hash="0x" + "02" * 32).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["31337.json"]


# -- 1. a damaged manifest ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_damaged_manifest_stops_the_deploy_until_new_system(anvil_node, deployed, tmp_path):
    folder = tmp_path / "dep"
    shutil.copytree(deployed, folder)
    path = folder / "31337.json"
    damaged = path.read_bytes()[:5000]
    path.write_bytes(damaged)
    before = nonce(anvil_node)
    refused = deploy(anvil_node, folder)
    assert_one_line_error(refused, str(path), "damaged", "--new-system", "restore")
    assert nonce(anvil_node) == before and path.read_bytes() == damaged

    fresh = ok(deploy(anvil_node, folder, "--new-system"))
    assert "31337.json.1" in fresh
    assert (folder / "31337.json.1").read_bytes() == damaged
    old = json.loads((deployed / "31337.json").read_text())
    new = load(path)
    assert new.address("usdc") != old["contracts"]["usdc"]["address"]
    assert new.config["amm_bots"] == 2


# -- 2. a manifest of a chain whose state is gone -----------------------------------------------------------
@pytest.mark.slow
def test_manifest_of_another_chain_instance_is_not_replaced_silently(deployed, tmp_path):
    folder = tmp_path / "dep"
    shutil.copytree(deployed, folder)
    recorded = (folder / "31337.json").read_bytes()
    with start_anvil() as other:  # same chain id, new state
        refused = deploy(other, folder)
        assert_one_line_error(refused, str(folder / "31337.json"), "not on the connected chain", "--new-system")
        assert nonce(other) == 0 and (folder / "31337.json").read_bytes() == recorded


@pytest.mark.slow
def test_stale_manifest_on_an_anvil_the_command_starts_is_kept_and_replaced(tmp_path):
    folder = tmp_path / "dep"
    ok(deploy("ethereum:local:foundry", folder))
    first = (folder / "31337.json").read_bytes()
    second = ok(deploy("ethereum:local:foundry", folder))
    notes = [line for line in second.splitlines() if "not on this chain" in line]
    assert len(notes) == 1 and "31337.json.1" in notes[0], second
    assert (folder / "31337.json.1").read_bytes() == first


# -- 3. a rerun with other flags ----------------------------------------------------------------------------
@pytest.mark.slow
def test_rerun_with_other_flags_refuses_or_reconfigures(anvil_node, deployed):
    path = deployed / "31337.json"
    recorded = path.read_bytes()
    before = nonce(anvil_node)
    fewer = deploy(anvil_node, deployed, "--capital", "50", bots=1)
    assert_one_line_error(fewer, "--bots", "--capital")
    assert "--bots: chain 2, asked 1" in fewer.stdout, fewer.stdout
    assert nonce(anvil_node) == before and path.read_bytes() == recorded

    more = deploy(anvil_node, deployed, bots=3)
    assert_one_line_error(more, "--bots", "--reconfigure")
    assert nonce(anvil_node) == before and path.read_bytes() == recorded

    applied = ok(deploy(anvil_node, deployed, "--reconfigure", bots=3))
    assert "--bots: chain 2, asked 3" in applied and "register 1 amm bot(s)" in applied, applied
    manifest = load(path)
    assert manifest.config["amm_bots"] == 3 and manifest.config["capital_per_bot_usd"] == 100
    assert (deployed / "31337.json.1").read_bytes() == recorded  # the version before the run is kept
    amm = manifest.diamonds["amm"]["address"]
    w3 = Web3(Web3.HTTPProvider(anvil_node))
    bot_count = int.from_bytes(w3.eth.call({"to": amm, "data": Web3.keccak(text="botCount()")[:4]}), "big")
    assert bot_count == 3
    assert re.search(r"\b0 transaction\(s\) sent", ok(deploy(anvil_node, deployed, bots=3)))
    assert_one_line_error(deploy(anvil_node, deployed, "--reconfigure", bots=2), "--bots", "cannot")


# -- 4. the node drops mid-deploy; a nonce clash ------------------------------------------------------------
class RefusingProxy(FaultProxy):
    """Forwards until ``refuse_after`` eth_sendRawTransaction calls went through, then closes every
    connection without an answer (the node is gone); with ``clash_at`` it first sends a transaction of
    the deployer's own (unlocked on Anvil) before forwarding that send: its nonce is then too low."""

    def __init__(self, upstream: str, refuse_after: int | None = None, clash_at: int | None = None) -> None:
        super().__init__(upstream)
        self.refuse_after = refuse_after
        self.clash_at = clash_at
        self.sends = 0

    def _handle(self, handler, body: bytes) -> None:
        if self.refuse_after is not None and self.sends >= self.refuse_after:
            handler.close_connection = True
            return
        if b"eth_sendRawTransaction" in body:
            self.sends += 1
            if self.sends == self.clash_at:
                self._clash()
        super()._handle(handler, body)


    def _clash(self) -> None:
        """Mine a transaction of the deployer's own: Anvil's automine answers before it mines, so wait
        for the receipt — the deploy's next send must meet a used nonce ("nonce too low"), not a
        pending one ("replacement transaction underpriced")."""
        tx_hash = self._call("eth_sendTransaction", [{"from": DEPLOYER, "to": DEPLOYER, "value": "0x0"}])
        deadline = time.monotonic() + 30
        while self._call("eth_getTransactionReceipt", [tx_hash]) is None:
            assert time.monotonic() < deadline, "the clashing transaction was not mined"
            time.sleep(0.02)


def _assert_one_system(uri: str, path: Path) -> None:
    """Every contract the deployer created exists once and the manifest names them all."""
    from test_deploy_networks import assert_one_system

    manifest = assert_one_system(uri, path)
    assert not any(e.get("pending") for s in ("contracts", "diamonds") for e in manifest[s].values())


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["node_drops", "nonce_clash"])
def test_deploy_interrupted_by_the_node_resumes(fault, tmp_path):
    folder = tmp_path / "dep"
    with start_anvil() as uri:
        with RefusingProxy(uri, **({"refuse_after": 30} if fault == "node_drops" else {"clash_at": 30})) as proxy:
            stopped = deploy(proxy.uri, folder)
            cause = "the node stopped answering" if fault == "node_drops" else "Nonce"
            assert_one_line_error(stopped, "the deploy stopped at 'deploy ", cause, "rerun the same command to resume")
            proxy.refuse_after = proxy.clash_at = None
            resumed = ok(deploy(proxy.uri, folder))
            assert not re.search(r"\b0 transaction\(s\) sent", resumed), resumed
            assert re.search(r"\b0 transaction\(s\) sent", ok(deploy(proxy.uri, folder)))
        _assert_one_system(uri, folder / "31337.json")
        assert load(folder / "31337.json").config["amm_bots"] == 2


# -- 5. commands that read the manifest -----------------------------------------------------------------------
@pytest.fixture
def foreign(anvil_node, tmp_path) -> Path:
    """A folder with a well-formed 31337.json of another chain instance (another genesis)."""
    folder = tmp_path / "elsewhere"
    Manifest(chain_id=31337, genesis_hash="0x" + "ab" * 32, diamonds={"amm": {"address": DEPLOYER}}).save(
        folder / "31337.json")
    return folder


READERS = {"inspect": ("keeper", "inspect", "amm"), "upgrade": ("run", "upgrade", "--diamond", "amm", "--yes"),
           "status": ("keeper", "status")}


@pytest.mark.slow
@pytest.mark.parametrize("reader", sorted(READERS))
def test_readers_name_the_manifest_problem(reader, anvil_node, foreign, tmp_path):
    args = (*READERS[reader], "--network", anvil_node)
    path = foreign / "31337.json"
    wrong = ape(*args, env={"MACROSTRIKE_DEPLOYMENTS": str(foreign)})
    assert_one_line_error(wrong, str(path), "another chain", "0xabababab")
    assert "deployments/31337.json" not in wrong.stderr.replace(str(path), "")

    path.write_text(path.read_text()[:40])
    damaged = ape(*args, env={"MACROSTRIKE_DEPLOYMENTS": str(foreign)})
    assert_one_line_error(damaged, str(path), "damaged", "char 40")

    missing = ape(*args, env={"MACROSTRIKE_DEPLOYMENTS": str(tmp_path / "none")})
    assert_one_line_error(missing, str(tmp_path / "none" / "31337.json"), "ape run deploy")
