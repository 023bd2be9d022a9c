"""Deploy anywhere: interrupted deploys resume without deploying anything twice; the testnet path
(keyfile account, a Sepolia stand-in without the CREATE2 proxy) and the fork path (an upgrade
rehearsed on ``ethereum:mainnet-fork:foundry`` before the upstream), all offline.

The "public" chains are separate Anvils: one started with ``--chain-id 11155111`` for Sepolia,
one with ``--chain-id 1`` for mainnet (the fork's upstream). Commands run as subprocesses with a
temporary Ape data folder holding the keyfile account (an Anvil test key) and a global
ape-config.yaml that only sets ``required_confirmations: 0`` (Anvil mines on demand, so Ape's
default 2 confirmations on Sepolia would wait for blocks that never come).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from conftest import start_anvil
from macrostrike.deploy import venues
from macrostrike.deploy.create2 import PRESIGNED_SIGNER, PROXY_ADDRESS, PROXY_RUNTIME, create2_address
from macrostrike.deploy.manifest import manifest_path
from macrostrike.deploy.system import Deployer, DeployConfig, deploy_system

ROOT = Path(__file__).resolve().parents[1]
APE = str(Path(sys.executable).with_name("ape"))
#: Anvil test account 0 (public test key: never holds value anywhere).
DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEPLOYER = Account.from_key(DEPLOYER_KEY).address
KEEPER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # Anvil test account 1
ALIAS, PASSPHRASE = "deployer", "macrostrike-test-passphrase"
DEPLOY_ARGS = ("--account", ALIAS, "--venues", "sandbox", "--bots", "2", "--long-bots", "0", "--short-bots", "0",
               "--capital", "100", "--keeper", KEEPER)
F1 = "0xc27fc305"  # f1(): TestFacetX answers 101, TestFacetY 201


class Interrupted(Exception):
    """Stands for a crash (kill -9, lost connection) at a chosen point of the deploy."""


# -- in process: interruption at chosen points, on the test chain ----------------------------------
def _addresses(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text())
    return {role: e["address"] for section in ("contracts", "diamonds") for role, e in data[section].items()}


@pytest.mark.slow
def test_interrupted_deploys_resume_to_the_same_system(chain, owner, tmp_path, monkeypatch):
    """Crash after a CREATE was mined but before the manifest recorded it (contract and diamond),
    after a CREATE2, and between two transactions of one step (pool seeding, treasury deposit):
    each resumed deploy sends exactly the transactions of an uninterrupted one and ends with the
    same addresses, the same pool reserves and a complete manifest."""
    config = DeployConfig(amm_bots=2, pool_usd=10_000, capital_per_bot_usd=100, keepers=(KEEPER,))
    start = chain.snapshot()
    nonce0 = owner.nonce
    monkeypatch.setenv("MACROSTRIKE_DEPLOYMENTS", str(tmp_path / "reference"))
    reference = deploy_system(owner, config)
    sent = owner.nonce - nonce0
    assert reference.transactions == sent
    ref_path = manifest_path(chain.chain_id)
    ref_addresses = _addresses(ref_path)
    ref_reserves = [reference.contracts[f"{dex}_pair"].getReserves()[:2] for dex in ("dex_a", "dex_b")]
    real_save = Deployer.save

    def crash_once_recorded(section: str, role: str):
        """Deployer.save that raises instead of writing the first time ``role`` is recorded as deployed."""
        fired = []

        def save(self: Deployer) -> None:
            entry = getattr(self.manifest, section).get(role)
            if entry and not entry.get("pending") and not fired:
                fired.append(role)
                raise Interrupted(f"after {role} was deployed")
            real_save(self)
        return save

    def crash_on_log(line: str, occurrence: int):
        seen = []

        def log(message: str) -> None:
            if message == line:
                seen.append(message)
                if len(seen) == occurrence:
                    raise Interrupted(f"before {line} #{occurrence}")
        return log

    cases = [
        ("crash between mined and recorded: CREATE", crash_once_recorded("contracts", "dex_a_router"), None),
        ("crash between mined and recorded: CREATE2", crash_once_recorded("contracts", "facet:DiamondLoupeFacet"),
         None),
        ("crash between mined and recorded: diamond", crash_once_recorded("diamonds", "amm"), None),
        ("crash between the two sides of a pool seed", None, crash_on_log("seed dex_b pool", 2)),
        ("crash between approve and deposit", None, crash_on_log("approve treasury", 1)),
    ]
    for i, (name, save, log) in enumerate(cases):
        chain.restore(start)
        start = chain.snapshot()
        monkeypatch.setenv("MACROSTRIKE_DEPLOYMENTS", str(tmp_path / f"case{i}"))
        with monkeypatch.context() as patch:
            if save is not None:
                patch.setattr(Deployer, "save", save)
            with pytest.raises(Interrupted):
                deploy_system(owner, config, log=log or (lambda _m: None))
        lines: list[str] = []
        deploy_system(owner, config, log=lines.append)
        assert owner.nonce - nonce0 == sent, f"{name}: {owner.nonce - nonce0} transactions, expected {sent}"
        path = manifest_path(chain.chain_id)
        assert _addresses(path) == ref_addresses, name
        data = json.loads(path.read_text())
        for section in ("contracts", "diamonds"):
            for role, entry in data[section].items():
                assert "pending" not in entry, (name, role)
                assert chain.provider.web3.eth.get_code(entry["address"]), (name, role)
                assert entry["block"] is not None and entry["code_hash"], (name, role)
        if "diamond" in name or "CREATE:" in name:
            assert any(line.startswith("adopt ") for line in lines), (name, lines)
        pairs = [venues.at("UniswapV2Pair", ref_addresses[f"{dex}_pair"]) for dex in ("dex_a", "dex_b")]
        assert [pair.getReserves()[:2] for pair in pairs] == ref_reserves, name
    assert deploy_system(owner, config).transactions == 0


# -- subprocesses against separate Anvils ------------------------------------------------------------
@pytest.fixture(scope="module")
def ape_env(tmp_path_factory) -> dict[str, str]:
    """Environment for the subprocesses: a temp Ape data folder with the keyfile account."""
    data = tmp_path_factory.mktemp("ape-data")
    (data / "accounts").mkdir()
    keyfile = Account.encrypt(DEPLOYER_KEY, PASSPHRASE)
    keyfile["address"] = DEPLOYER[2:].lower()
    (data / "accounts" / f"{ALIAS}.json").write_text(json.dumps(keyfile))
    (data / "ape-config.yaml").write_text(
        "ethereum:\n  sepolia:\n    required_confirmations: 0\n  mainnet:\n    required_confirmations: 0\n")
    # the real data folder's package cache, so dependencies are not fetched again
    real_packages = Path.home() / ".ape" / "packages"
    if real_packages.is_dir():
        (data / "packages").symlink_to(real_packages)
    return {"APE_DATA_FOLDER": str(data), f"APE_ACCOUNTS_{ALIAS}_PASSPHRASE": PASSPHRASE,
            "MACROSTRIKE_DEPLOYMENTS": str(tmp_path_factory.mktemp("deployments")), "PYTHONUNBUFFERED": "1"}


def run(args: list[str], env: dict[str, str], timeout: int = 400) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def upgrade(network: str, role: str, facet: str, env: dict[str, str]) -> dict:
    proc = run([sys.executable, str(ROOT / "tests" / "deploy_networks_helpers.py"), "--network", network,
                "--account", ALIAS, "--role", role, "--facet", facet], env)
    return json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])


def f1_of(uri: str, address: str) -> int:
    return int.from_bytes(Web3(Web3.HTTPProvider(uri)).eth.call({"to": address, "data": F1}), "big")


def assert_one_system(uri: str, path: Path) -> dict:
    """Every contract the deployer created on ``uri`` exists once and the manifest at ``path`` names
    them all (pairs aside: the factories create them); returns the manifest."""
    created = creations(uri)
    assert len(created) == len(set(created)), "a contract was deployed twice"
    manifest = json.loads(path.read_text())
    recorded = {e["address"] for e in manifest["diamonds"].values()} | {
        e["address"] for role, e in manifest["contracts"].items() if not role.endswith("_pair")}
    assert set(created) == recorded
    return manifest


def creations(uri: str) -> list[str]:
    """Every contract the deployer created on the chain, in order (CREATE and CREATE2 via the proxy);
    asserts that every one of its transactions succeeded."""
    w3 = Web3(Web3.HTTPProvider(uri))
    created = []
    for number in range(w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"] != DEPLOYER:
                continue
            assert w3.eth.get_transaction_receipt(tx["hash"])["status"] == 1, tx["hash"].hex()
            data = bytes(tx["input"])
            if tx["to"] is None:
                created.append(w3.eth.get_transaction_receipt(tx["hash"])["contractAddress"])
            elif tx["to"] == PROXY_ADDRESS:
                created.append(create2_address(data[32:], data[:32]))
    return created


@pytest.mark.slow
def test_testnet_keyfile_deploy_interrupted_resumed_upgraded(ape_env):
    """Sepolia stand-in without the proxy: the deploy installs it from its presigned transaction,
    is killed (SIGKILL) right after the master diamond's transaction is mined, resumes, and the
    chain shows every contract created exactly once, all in the manifest; then an upgrade."""
    with start_anvil("--chain-id", "11155111", "--disable-default-create2-deployer") as uri:
        env = {**ape_env, "SEPOLIA_RPC_URL": uri}
        cmd = [APE, "run", "deploy", "--network", "ethereum:sepolia:node", *DEPLOY_ARGS]
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seen = []
        try:
            for line in proc.stdout:
                seen.append(line)
                if "MasterDiamond' deployed to" in line:
                    proc.send_signal(signal.SIGKILL)
                    break
        finally:
            proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL, "".join(seen)[-3000:]
        assert any("presigned transaction" in line for line in seen)
        path = Path(env["MACROSTRIKE_DEPLOYMENTS"]) / "11155111.json"
        assert "master" in json.loads(path.read_text())["diamonds"]  # pending or recorded: journalled first

        resumed = run(cmd, env)
        for before_kill in ("deploy TestToken", "deploy UniswapV2Factory", "CREATE2)", "presigned"):
            assert before_kill not in resumed.stdout, resumed.stdout
        again = run(cmd, env)
        assert re.search(r"\b0 transaction\(s\) sent", again.stdout), again.stdout

        w3 = Web3(Web3.HTTPProvider(uri))
        assert bytes(w3.eth.get_code(PROXY_ADDRESS)) == PROXY_RUNTIME
        assert w3.eth.get_transaction_count(PRESIGNED_SIGNER) == 1
        manifest = assert_one_system(uri, path)
        assert manifest["network"].startswith("ethereum:sepolia") and manifest["deployer"] == DEPLOYER
        assert all(e["block"] is not None for e in manifest["contracts"].values())

        result = upgrade("ethereum:sepolia:node", "amm", "TestFacetX", env)
        assert [cut[1] for cut in result["plan"]] == [0] and result["f1"] == 101  # one Add cut
        assert f1_of(uri, manifest["diamonds"]["amm"]["address"]) == 101


@pytest.mark.slow
def test_upgrade_rehearsed_on_a_mainnet_fork_then_applied_upstream(ape_env):
    """Upstream (chain id 1) runs the system with TestFacetX in the AMM diamond. Replacing it by
    TestFacetY is rehearsed on ``ethereum:mainnet-fork:foundry`` (upstream untouched, fork manifest
    apart), then applied upstream with the very same cut (CREATE2: same facet address)."""
    with start_anvil("--chain-id", "1") as upstream:
        env = {**ape_env, "MAINNET_RPC_URL": upstream}
        run([APE, "run", "deploy", "--network", "ethereum:mainnet:node", *DEPLOY_ARGS], env)
        real = Path(env["MACROSTRIKE_DEPLOYMENTS"]) / "1.json"
        fork_manifest = real.with_name("1-fork.json")
        amm = json.loads(real.read_text())["diamonds"]["amm"]["address"]
        # the deploy on a fork of the deployed upstream finds everything in place
        on_fork = run([APE, "run", "deploy", "--network", "ethereum:mainnet-fork:foundry", *DEPLOY_ARGS], env)
        assert re.search(r"\b0 transaction\(s\) sent", on_fork.stdout) and "1-fork.json" in on_fork.stdout, on_fork.stdout
        # (after the deploy: `ape run deploy` cuts every diamond back to the system's facet list)
        assert upgrade("ethereum:mainnet:node", "amm", "TestFacetX", env)["f1"] == 101
        before = real.read_bytes()

        rehearsal = upgrade("ethereum:mainnet-fork:foundry", "amm", "TestFacetY", env)
        assert [cut[1] for cut in rehearsal["plan"]] == [1] and len(rehearsal["plan"][0][2]) == 6  # Replace x6
        assert rehearsal["f1"] == 201 and rehearsal["manifest"].endswith("1-fork.json")
        assert "TestFacetY" in json.loads(fork_manifest.read_text())["diamonds"]["amm"]["facets"]
        assert real.read_bytes() == before and f1_of(upstream, amm) == 101  # the rehearsal left upstream alone

        applied = upgrade("ethereum:mainnet:node", "amm", "TestFacetY", env)
        assert applied["plan"] == rehearsal["plan"] and applied["f1"] == 201
        assert f1_of(upstream, amm) == 201
        facets = json.loads(real.read_text())["diamonds"]["amm"]["facets"]
        assert "TestFacetY" in facets and "TestFacetX" not in facets


@pytest.mark.slow
def test_testnet_price_feeds_are_owner_controlled(ape_env, tmp_path):
    """Issue 11 (M-4): on the Sepolia stand-in the Aave market's price feeds belong to the deployer.
    Anyone else's ``updateAnswer`` is refused and leaves the oracle price alone (the vendored
    MockV3Aggregator let anyone set prices, liquidate bots and fire stop-losses); the deployer's
    own update goes through."""
    from eth_abi import encode

    update_answer = bytes.fromhex("a87a20ce")  # updateAnswer(int256)
    with start_anvil("--chain-id", "11155111") as uri:
        # its own manifest folder: the module's already holds a Sepolia manifest of another Anvil,
        # which the deploy rightly refuses to replace without --new-system
        env = {**ape_env, "SEPOLIA_RPC_URL": uri, "MACROSTRIKE_DEPLOYMENTS": str(tmp_path)}
        args = ("--account", ALIAS, "--venues", "sandbox", "--bots", "1", "--long-bots", "1", "--short-bots", "0",
                "--capital", "100", "--keeper", KEEPER)
        run([APE, "run", "deploy", "--network", "ethereum:sepolia:node", *args], env)
        manifest = json.loads((Path(env["MACROSTRIKE_DEPLOYMENTS"]) / "11155111.json").read_text())
        w3 = Web3(Web3.HTTPProvider(uri))
        stranger = w3.eth.accounts[9]
        feeds = {role.split(":", 1)[1]: e["address"] for role, e in manifest["contracts"].items()
                 if role.startswith("aave_feed:")}
        assert set(feeds) == {"USDC", "WBTC", "WETH"}
        for symbol, feed in feeds.items():
            feed = Web3.to_checksum_address(feed)
            latest = w3.eth.call({"to": feed, "data": bytes.fromhex("50d25bcd")})  # latestAnswer()
            data = update_answer + encode(["int256"], [1])
            try:
                tx = w3.eth.send_transaction({"from": stranger, "to": feed, "data": data, "gas": 200_000})
                refused = w3.eth.wait_for_transaction_receipt(tx)["status"] == 0
            except Exception as exc:  # noqa: BLE001 - a node may refuse the reverting transaction outright
                refused = "revert" in str(exc).lower()
            assert refused, f"{symbol}: a stranger moved the feed"
            assert w3.eth.call({"to": feed, "data": bytes.fromhex("50d25bcd")}) == latest, symbol
        wbtc = Web3.to_checksum_address(feeds["WBTC"])
        owner_of = w3.eth.call({"to": wbtc, "data": bytes.fromhex("8da5cb5b")})  # owner()
        assert Web3.to_checksum_address(owner_of[12:]) == DEPLOYER
        tx = w3.eth.send_transaction({"from": DEPLOYER, "to": wbtc, "data": update_answer + encode(["int256"], [7])})
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
        assert int.from_bytes(w3.eth.call({"to": wbtc, "data": bytes.fromhex("50d25bcd")}), "big") == 7
