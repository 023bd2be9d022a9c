"""Issue 13 §2, offline proof: an Anvil with chain id 1 plays mainnet and holds venues deployed by the
sandbox deploy code (test USDC/WBTC, WETH9, two Uniswap V2 DEXes, Uniswap V3 with a seeded USDC/WBTC 0.05 %
pool, an Aave V3 market with its feeds); their addresses (V3: factory, QuoterV2, router) go into a venues
file; ``ethereum:mainnet-fork:foundry`` forks that Anvil and the system is deployed there with ``--venues
FILE``: the deployer creates nothing but the four diamonds on the fork (no venue, no V3 pool), the diamonds
point at the upstream venues (the V2↔V3 facet at the upstream pool, found through the factory), and the
keeper trades a V2↔V3 gap there (DEX A against the V3 pool, DEX C)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from eth_abi import encode
from web3 import Web3

from conftest import start_anvil
from macrostrike.deploy import existing
from macrostrike.deploy.manifest import Manifest
from macrostrike.deploy.system import DeployConfig

ROOT = Path(__file__).resolve().parents[1]
HELPER = str(ROOT / "tests" / "venues_fork_helpers.py")
DEPLOYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # Anvil / Ape test account 0
FLAGS = ("--bots", "2", "--long-bots", "1", "--short-bots", "1", "--capital", "100")
MINT = bytes.fromhex("40c10f19")  # mint(address,uint256) of the test token


def ape_data(tmp_path: Path, networks: dict[str, tuple[str, ...]]) -> str:
    """An Ape data folder whose global config sets ``required_confirmations: 0`` on the given networks
    (Anvil mines on demand: Ape's default confirmations on a public network would wait forever)."""
    data = tmp_path / "ape-data"
    data.mkdir()
    lines = []
    for ecosystem, names in networks.items():
        lines.append(f"{ecosystem}:")
        lines += [f"  {name}:\n    required_confirmations: 0" for name in names]
    (data / "ape-config.yaml").write_text("\n".join(lines) + "\n")
    packages = Path.home() / ".ape" / "packages"
    if packages.is_dir():
        (data / "packages").symlink_to(packages)
    return str(data)


def helper(network: str, venues: str, env: dict[str, str], *flags: str) -> dict:
    proc = subprocess.run([sys.executable, HELPER, "--network", network, "--venues", venues, *flags], cwd=ROOT,
                          env={**os.environ, **env, "PYTHONUNBUFFERED": "1"}, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])


@pytest.mark.slow
def test_system_on_a_mainnet_fork_uses_the_upstream_venues(tmp_path):
    with start_anvil("--chain-id", "1") as upstream:
        env = {"APE_DATA_FOLDER": ape_data(tmp_path, {"ethereum": ("mainnet",)}), "MAINNET_RPC_URL": upstream}
        up = helper("ethereum:mainnet:node", "sandbox", {**env, "MACROSTRIKE_DEPLOYMENTS": str(tmp_path / "up")}, *FLAGS,
                    "--uniswap-v3")
        assert up["chain_id"] == 1
        venues = existing.venues_of(Manifest.from_json(json.loads(Path(up["manifest"]).read_text())), "mainnet stand-in")
        path = tmp_path / "venues.json"
        path.write_text(json.dumps(venues, indent=2))
        entry = venues["chains"]["1"]
        assert set(entry["chainlink"]) == {"BTC/USD", "ETH/USD", "USDC/USD"} and len(entry["v2_dexes"]) == 2
        assert set(entry["uniswap_v3"]) == {"factory", "quoter_v2", "swap_router02"}
        w3 = Web3(Web3.HTTPProvider(upstream))
        need = existing.treasury_need(DeployConfig(amm_bots=2, long_bots=1, short_bots=1, capital_per_bot_usd=100))
        usdc = entry["tokens"]["USDC"]["address"]
        w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(
            {"from": DEPLOYER, "to": usdc, "data": MINT + encode(["address", "uint256"], [DEPLOYER, need])}))
        head = w3.eth.block_number

        fork = helper("ethereum:mainnet-fork:foundry", str(path), {**env, "MACROSTRIKE_DEPLOYMENTS": str(tmp_path / "fork")},
                      *FLAGS)
        manifest = json.loads(Path(fork["manifest"]).read_text())
        upstream_manifest = json.loads(Path(up["manifest"]).read_text())
        assert fork["chain_id"] == 1 and fork["fork_block"] == head and fork["manifest"].endswith("1-fork.json")
        # nothing but the four diamonds was created on the fork (facets: CREATE2, already upstream)
        assert sorted(fork["created"]) == sorted(manifest["diamonds"][r]["address"] for r in ("master", "long", "short", "amm"))
        for role in ("usdc", "wbtc", "weth", "dex_a_pair", "dex_b_pair", "aave_pool", "aave_oracle", "aave_feed:WBTC",
                     "aave_feed:WETH", "v3_factory", "v3_quoter", "v3_pool"):
            assert manifest["contracts"][role]["address"] == upstream_manifest["contracts"][role]["address"], role
            assert manifest["contracts"][role]["external"], role
        ups = upstream_manifest["contracts"]
        assert fork["arbitrage_pairs"] == [ups["dex_a_pair"]["address"], ups["dex_b_pair"]["address"], ups["wbtc"]["address"]]
        assert fork["strike_pool"] == ups["aave_pool"]["address"]
        up_v3 = upstream_manifest["venues"]["uniswap_v3"]
        assert manifest["venues"]["uniswap_v3"]["pools"] == up_v3["pools"] and manifest["venues"]["uniswap_v3"]["external"]
        assert fork["v3_venue"] == [up_v3["factory"], 500, ups["v3_pool"]["address"]]
        assert any(reason == "mined" for _, reason in fork["decisions"]), fork["decisions"]
        assert any("C" in venues for venues in fork["by_venues"]), fork["by_venues"]  # a V2↔V3 trade settled
        assert w3.eth.block_number == head  # the fork left the upstream alone
