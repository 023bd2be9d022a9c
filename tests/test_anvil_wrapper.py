"""tools/anvil/anvil: Anvil's on-disk state cache is removed once that Anvil has exited.

Anvil 1.7.1 moves the state of older blocks (past ~800 in memory) to ~/.foundry/anvil/tmp and
never deletes it; a day of test runs filled the disk (79 GB) and CI failed. The wrapper gives
each Anvil its own ``--cache-path`` and ``tools/anvil/sweep-states`` removes those of exited Anvils.
"""

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

from conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
WRAPPER = ROOT / "tools/anvil/anvil"
SWEEP = ROOT / "tools/anvil/sweep-states"
DEFAULT_CACHE = Path.home() / ".foundry/anvil/tmp"


def _rpc(uri: str, method: str, *params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    request = urllib.request.Request(uri, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.load(reply)["result"]


def _wait_up(uri: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            _rpc(uri, "eth_chainId")
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _listing(path: Path) -> set[str]:
    return set(os.listdir(path)) if path.is_dir() else set()


def test_state_cache_is_private_and_swept_after_exit(tmp_path):
    env = {**os.environ, "MACROSTRIKE_ANVIL_STATES": str(tmp_path / "states")}
    before = _listing(DEFAULT_CACHE)
    port = free_port()
    proc = subprocess.Popen([str(WRAPPER), "--port", str(port), "--silent"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    uri = f"http://127.0.0.1:{port}"
    try:
        _wait_up(uri)
        _rpc(uri, "anvil_mine", 1500)  # enough blocks for Anvil to write old states to disk
        own = tmp_path / "states" / str(proc.pid)
        assert _listing(own), "Anvil wrote no state to its own --cache-path"
        # Old blocks' state is still served from the cache.
        assert int(_rpc(uri, "eth_getBalance", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0x5"), 16) > 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert _listing(DEFAULT_CACHE) - before == set(), "Anvil left a state folder in ~/.foundry/anvil/tmp"
    subprocess.run([str(SWEEP)], env=env, check=True)
    assert not own.exists(), "sweep-states kept the folder of an Anvil that has exited"


def test_sweep_keeps_folders_of_running_processes(tmp_path):
    env = {**os.environ, "MACROSTRIKE_ANVIL_STATES": str(tmp_path)}
    alive = tmp_path / str(os.getpid())
    alive.mkdir()
    other = tmp_path / "not-a-pid"
    other.mkdir()
    subprocess.run([str(SWEEP)], env=env, check=True)
    assert alive.is_dir() and other.is_dir()
