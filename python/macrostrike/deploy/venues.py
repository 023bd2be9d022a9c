"""Real protocol contracts deployed from their npm build artifacts, as shipped.

Uniswap V2 (``@uniswap/v2-core`` 1.0.1, ``@uniswap/v2-periphery`` 1.1.0-beta.0) and WETH9
(``canonical-weth`` 1.4.0) are loaded from ``node_modules`` at run time and never recompiled:
Router02's ``pairFor`` hard-codes the init code hash of the pair bytecode
(:data:`UNISWAP_V2_PAIR_INIT_CODE_HASH`), so any recompile of the pair breaks the router
(Uniswap/v2-periphery#42). The artifacts stay under their own licences in ``node_modules``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from eth_utils import keccak
from ethpm_types import ContractType

#: keccak256 of UniswapV2Pair's creation code as shipped in @uniswap/v2-core 1.0.1.
UNISWAP_V2_PAIR_INIT_CODE_HASH = "0x96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f"

#: Contract name -> artifact path under node_modules.
ARTIFACTS: dict[str, str] = {
    "UniswapV2Factory": "@uniswap/v2-core/build/UniswapV2Factory.json",
    "UniswapV2Pair": "@uniswap/v2-core/build/UniswapV2Pair.json",
    "UniswapV2Router02": "@uniswap/v2-periphery/build/UniswapV2Router02.json",
    "WETH9": "canonical-weth/build/contracts/WETH9.json",
}


class ArtifactError(RuntimeError):
    """An npm artifact is missing or not the one this project was built against."""


def node_modules_dir() -> Path:
    """``node_modules`` of the Ape project in use (``ape.project.path``)."""
    from ape import project

    return Path(project.path) / "node_modules"


def _hex(value: str) -> str:
    return value if value.startswith("0x") else "0x" + value


@lru_cache(maxsize=None)
def load_contract_type(name: str) -> ContractType:
    """Return the ``ContractType`` of an npm artifact listed in :data:`ARTIFACTS`.

    Raises :class:`ArtifactError` (one line, with the fix) if ``npm ci`` has not been run.
    """
    path = node_modules_dir() / ARTIFACTS[name]
    if not path.is_file():
        raise ArtifactError(f"npm artifact {path} is missing: run `make setup` (npm ci) first")
    raw: dict[str, Any] = json.loads(path.read_text())
    evm = raw.get("evm", {})
    creation = raw.get("bytecode") or evm.get("bytecode", {}).get("object", "")
    runtime = raw.get("deployedBytecode") or evm.get("deployedBytecode", {}).get("object", "")
    contract_type = ContractType.model_validate(
        {
            "contractName": name,
            "sourceId": ARTIFACTS[name],
            "abi": raw["abi"],
            "deploymentBytecode": {"bytecode": _hex(creation)},
            "runtimeBytecode": {"bytecode": _hex(runtime)},
        }
    )
    if name == "UniswapV2Pair":
        digest = "0x" + keccak(hexstr=_hex(creation)).hex()
        if digest != UNISWAP_V2_PAIR_INIT_CODE_HASH:
            raise ArtifactError(
                f"UniswapV2Pair init code hash is {digest}, expected {UNISWAP_V2_PAIR_INIT_CODE_HASH}: "
                "reinstall @uniswap/v2-core 1.0.1 with `npm ci`"
            )
    return contract_type


def container(name: str):
    """An Ape ``ContractContainer`` for the npm artifact ``name`` (deploy with ``account.deploy``)."""
    from ape.contracts import ContractContainer

    return ContractContainer(load_contract_type(name))


def at(name: str, address: str):
    """An Ape contract instance of npm artifact ``name`` at ``address``."""
    from ape import chain

    return chain.contracts.instance_at(address, contract_type=load_contract_type(name))


def deploy_v2_factory(deployer: Any, fee_to_setter: str | None = None):
    """Deploy a UniswapV2Factory (fee switch off; ``feeToSetter`` defaults to the deployer)."""
    return deployer.deploy(container("UniswapV2Factory"), fee_to_setter or deployer.address)


def deploy_weth(deployer: Any):
    """Deploy canonical WETH9."""
    return deployer.deploy(container("WETH9"))


def deploy_v2_router(deployer: Any, factory: str, weth: str):
    """Deploy UniswapV2Router02 for ``factory`` (one router per DEX, as on mainnet)."""
    return deployer.deploy(container("UniswapV2Router02"), factory, weth)


def create_pair(factory: Any, token_a: str, token_b: str, sender: Any):
    """Create (or find) the ``token_a``/``token_b`` pair on ``factory``; returns the pair instance."""
    zero = "0x0000000000000000000000000000000000000000"
    address = factory.getPair(token_a, token_b)
    if address == zero:
        factory.createPair(token_a, token_b, sender=sender)
        address = factory.getPair(token_a, token_b)
    return at("UniswapV2Pair", address)
