"""`ape run upgrade` and `ape keeper inspect` as subprocesses against a separate Anvil.

A bare Diamond with the core facets and UpgradeCounterFacetV1 is deployed there with web3 (Anvil's
unlocked account 0, which is Ape's TEST::0), then upgraded to UpgradeCounterFacetV2.
"""

import json

import pytest
from web3 import Web3

from macrostrike.deploy.cuts import facet_cut
from ops_helpers import ape
from ops_helpers import assert_one_line_error as one_line_error

pytestmark = pytest.mark.slow

FACETS = ("DiamondCutFacet", "DiamondLoupeFacet", "OwnershipFacet")


@pytest.fixture(scope="module")
def setup(anvil_node, project, tmp_path_factory):
    w3 = Web3(Web3.HTTPProvider(anvil_node))
    me = w3.eth.accounts[0]

    def deploy(name, *args):
        ct = getattr(project, name).contract_type
        c = w3.eth.contract(abi=[a.model_dump(mode="json", by_alias=True) for a in ct.abi],
                            bytecode=ct.deployment_bytecode.bytecode)
        receipt = w3.eth.wait_for_transaction_receipt(c.constructor(*args).transact({"from": me}))
        return receipt["contractAddress"]

    class At:  # facet_cut needs .address and .contract_type
        def __init__(self, name):
            self.address = deploy(name)
            self.contract_type = getattr(project, name).contract_type

    facets = [At(n) for n in FACETS + ("UpgradeCounterFacetV1",)]
    diamond = deploy("Diamond", me, [facet_cut(f) for f in facets], "0x" + "00" * 20, b"")
    env = {"MACROSTRIKE_DEPLOYMENTS": str(tmp_path_factory.mktemp("deployments"))}
    return anvil_node, diamond, env


V2 = [a for n in FACETS + ("UpgradeCounterFacetV2",) for a in ("--facet", n)]


def test_upgrade_cli_refusals_and_prompt(setup):
    uri, diamond, env = setup
    base = ["run", "upgrade", "--network", uri, "--diamond", diamond]
    no_tty = ape(*base, *V2, env=env)
    one_line_error(no_tty, "stdin is not a terminal", "--yes")
    out = no_tty.stdout
    assert out.index("REMOVE 1 selector(s)") < out.index("Replace 2 selector(s)") < out.index("Add 2 selector(s)")
    assert "legacyPing() 0x10c15651" in out
    no_loupe = ape(*base, "--facet", "DiamondCutFacet", "--facet", "OwnershipFacet",
                   "--facet", "UpgradeCounterFacetV2", "--yes", env=env)
    one_line_error(no_loupe, "refusing to remove", "loupe")
    not_owner = ape(*base, *V2, "--account", "TEST::1", "--yes", env=env)
    one_line_error(not_owner, "is not the on-chain owner", "--calldata")
    clash = ape(*base, *V2, "--facet", "UpgradeClashFacet", "--yes", env=env)
    one_line_error(clash, "claimed by two facets")


def test_upgrade_cli_calldata_then_send_then_inspect(setup):
    uri, diamond, env = setup
    base = ["run", "upgrade", "--network", uri, "--diamond", diamond]
    proposed = ape(*base, *V2, "--calldata", "--yes", env=env)
    assert proposed.returncode == 0, proposed.stdout + proposed.stderr
    tx = json.loads(proposed.stdout[proposed.stdout.index("{"):])
    assert tx["to"] == diamond and tx["data"].startswith("0x1f931c1c")
    assert "deployed: UpgradeCounterFacetV2 at" in proposed.stdout
    # the multisig (here: the owner, unlocked on Anvil) sends the proposed transaction
    w3 = Web3(Web3.HTTPProvider(uri))
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": tx["to"], "data": tx["data"]}))
    assert receipt["status"] == 1
    # then an init-only cut: no selector changes, the versioned init runs once
    sent = ape(*base, *V2, "--init", "UpgradeCounterInitV2", "--init-arg", "3", "--yes", env=env)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "Deploy first" not in sent.stdout and "Init: UpgradeCounterInitV2.init(3)" in sent.stdout
    assert "diamondCut: tx" in sent.stdout
    twice = ape(*base, *V2, "--init", "UpgradeCounterInitV2", "--init-arg", "4", "--yes", env=env)
    one_line_error(twice, "upgrade reverted", "AlreadyInitialized")
    done = ape(*base, *V2, "--yes", env=env)
    assert done.returncode == 0 and "Nothing to do" in done.stdout
    inspected = ape("keeper", "inspect", diamond, "--network", uri, env=env)
    assert inspected.returncode == 0, inspected.stderr
    text = inspected.stdout
    assert "Cut history: 3 DiamondCut event(s)" in text
    assert "Remove: legacyPing() 0x10c15651" in text and "(UpgradeCounterFacetV2)" in text
    assert "init 0x" in text
    raw = ape("keeper", "inspect", diamond, "--network", uri, "--json", env=env).stdout
    as_json = json.loads(raw)  # stdout is the JSON document alone (no Ape INFO line)
    assert {s for f in as_json["facets"] for s in f["signatures"]} >= {"step()", "facets()"}
    one_line_error(ape("keeper", "inspect", "amm", "--network", uri, env=env), "unknown diamond 'amm'")
