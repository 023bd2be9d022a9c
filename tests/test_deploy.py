"""The deploy: re-use of what is live and unchanged, and diff-based cuts when a facet changes."""

import json

import pytest
from ape.contracts import ContractContainer
from ethpm_types import Bytecode

from macrostrike.deploy.cuts import ZERO_ADDRESS, FacetCutAction, plan_cut, selector
from macrostrike.deploy.manifest import manifest_path
from macrostrike.deploy.system import DeployConfig, deploy_system

A, B, C = ("0x" + "a" * 40, "0x" + "b" * 40, "0x" + "c" * 40)
S1, S2, S3 = selector("f1()"), selector("f2()"), selector("f3()")


def test_plan_cut_orders_remove_replace_add():
    plan = plan_cut({S1: A, S2: A, S3: C}, {S1: B, S2: A, "new": B}, immutable_facet=C)
    # S3 is routed to the diamond itself (immutable): never removed
    assert plan == [(B, int(FacetCutAction.REPLACE), [S1]), (B, int(FacetCutAction.ADD), ["new"])]
    plan = plan_cut({S1: A, S2: A}, {S1: A})
    assert plan == [(ZERO_ADDRESS, int(FacetCutAction.REMOVE), [S2])]
    assert plan_cut({S1: A}, {S1: A}) == []


@pytest.fixture(scope="module")
def config(accounts):
    return DeployConfig(amm_bots=2, pool_usd=10_000, capital_per_bot_usd=100,
                        keepers=(str(accounts[1].address),))


def test_changed_facet_is_cut_in_and_the_rest_reused(accounts, project, chain, config):
    owner = accounts[0]
    first = deploy_system(owner, config)
    assert first.transactions > 0
    path = manifest_path(chain.chain_id)
    manifest = json.loads(path.read_text())
    old = manifest["contracts"]["facet:PerformanceFacet"]["address"]
    # a new build of PerformanceFacet (init code + 32 trailing bytes: same runtime, new CREATE2 address):
    # the deploy must deploy it and Replace it in the three children
    ctype = project.PerformanceFacet.contract_type
    build = ctype.model_copy(update={"deployment_bytecode": Bytecode(
        bytecode=ctype.deployment_bytecode.bytecode + "00" * 32)})
    overrides = {"PerformanceFacet": ContractContainer(build)}
    second = deploy_system(owner, config, overrides=overrides)
    assert second.transactions == 1 + 3  # the facet, then one diamondCut per child
    new = json.loads(path.read_text())["contracts"]["facet:PerformanceFacet"]["address"]
    assert new != old
    for role in ("long", "short", "amm"):
        loupe = project.DiamondLoupeFacet.at(second.manifest.address(role))
        assert loupe.facetAddress(selector("aggregateStats()")) == new
        assert old not in loupe.facetAddresses()
    assert deploy_system(owner, config, overrides=overrides).transactions == 0


@pytest.mark.parametrize("field, value, message", [
    ("amm_bots", 0, "amm_bots=0 is out of range: use 1..100"),
    ("long_bots", 101, "long_bots=101 is out of range: use 0..100"),
    ("capital_per_bot_usd", 0, "capital_per_bot_usd, pool_usd and initial_price_usd must be positive"),
    ("pool_usd", -1, "capital_per_bot_usd, pool_usd and initial_price_usd must be positive"),
    ("initial_price_usd", 0.0, "capital_per_bot_usd, pool_usd and initial_price_usd must be positive"),
    ("eth_usd_price", 0.0, "eth_usd_price and aave_liquidity_usd must be positive"),
])
def test_deploy_config_refuses_bad_values(field, value, message):
    with pytest.raises(ValueError, match=message):
        DeployConfig(**{field: value})


def test_a_deploy_call_out_of_gas_is_sent_once_more_with_more_gas():
    """A call the node fails with "EVM error OutOfGas" (an out-of-gas call changes nothing) is sent
    once more with Deployer.RETRY_GAS; any other failure is raised at once."""
    from ape.exceptions import VirtualMachineError

    from macrostrike.deploy.system import Deployer

    calls, logged = [], []

    def mint(*args, **kwargs):
        calls.append((args, kwargs))
        if len(calls) == 1:
            raise VirtualMachineError("(-32603) EVM error OutOfGas")
        return "receipt"

    d = Deployer.__new__(Deployer)
    d.sent, d.account, d.log = 0, "deployer", logged.append
    assert d.transact("mint V3 position #1", mint, 7) == "receipt"
    assert calls == [((7,), {"sender": "deployer"}), ((7,), {"sender": "deployer", "gas": Deployer.RETRY_GAS})]
    assert d.sent == 2 and "sent once more with 3,000,000 gas" in logged[-1]

    def reverts(*args, **kwargs):
        raise VirtualMachineError("execution reverted: STF")

    with pytest.raises(VirtualMachineError, match="STF"):
        d.transact("approve", reverts)
