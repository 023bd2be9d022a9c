"""Issue 13 §3: L2 chains through Ape's plugins (the ``l2`` extra), offline. An Anvil started with the
chain's id stands in for Arbitrum One (42161) and Base (8453); ``arbitrum:mainnet:node`` /
``base:mainnet:node`` of ape-arbitrum / ape-base reach it through the node URI of ape-config.yaml
(``ARBITRUM_RPC_URL``, ``BASE_RPC_URL``). On each: the deploy (``--venues sandbox``: the stand-in has
none of the chain's contracts, and ``--venues existing`` says so in one line) and one keeper block that
trades a V2<->V2 gap."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import start_anvil
from test_venues_fork import HELPER, ROOT, ape_data, helper

pytest.importorskip("ape_arbitrum")
pytest.importorskip("ape_base")

CHAINS = {"arbitrum": (42161, "ARBITRUM_RPC_URL"), "base": (8453, "BASE_RPC_URL")}


@pytest.mark.slow
@pytest.mark.parametrize("ecosystem", sorted(CHAINS))
def test_deploy_and_keeper_block_on_an_l2_standin(ecosystem, tmp_path):
    chain_id, variable = CHAINS[ecosystem]
    with start_anvil("--chain-id", str(chain_id)) as uri:
        env = {"APE_DATA_FOLDER": ape_data(tmp_path, {ecosystem: ("mainnet",)}), variable: uri,
               "MACROSTRIKE_DEPLOYMENTS": str(tmp_path / "deployments"), "PYTHONUNBUFFERED": "1"}
        network = f"{ecosystem}:mainnet:node"
        refused = subprocess.run([sys.executable, HELPER, "--network", network, "--venues", "existing"], cwd=ROOT,
                                 env={**os.environ, **env}, capture_output=True, text=True, timeout=300,
                                 stdin=subprocess.DEVNULL)
        assert refused.returncode != 0
        assert f"of chain {chain_id} have no code on the connected chain" in refused.stdout + refused.stderr
        out = helper(network, "sandbox", env)
        assert out["chain_id"] == chain_id and out["manifest"].endswith(f"{chain_id}.json")
        assert any(reason == "mined" for _, reason in out["decisions"]), out["decisions"]
