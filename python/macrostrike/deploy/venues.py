"""Real protocol contracts deployed from their npm build artifacts, as shipped.

Uniswap V2 (``@uniswap/v2-core`` 1.0.1, ``@uniswap/v2-periphery`` 1.1.0-beta.0) and WETH9
(``canonical-weth`` 1.4.0) are loaded from ``node_modules`` at run time and never recompiled:
Router02's ``pairFor`` hard-codes the init code hash of the pair bytecode
(:data:`UNISWAP_V2_PAIR_INIT_CODE_HASH`), so any recompile of the pair breaks the router
(Uniswap/v2-periphery#42). The artifacts stay under their own licences in ``node_modules``.

Uniswap V3 (``@uniswap/v3-core`` 1.0.1, ``@uniswap/v3-periphery`` 1.4.4) the same way: the
periphery's ``PoolAddress.POOL_INIT_CODE_HASH`` (compiled into SwapRouter, QuoterV2 and the
NonfungiblePositionManager) must equal keccak256 of UniswapV3Pool's creation code, or every
callback check and pool lookup of the periphery points at an address with no pool
(:data:`UNISWAP_V3_POOL_INIT_CODE_HASH`, checked by :func:`check_init_code_hash`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eth_utils import keccak
from ethpm_types import ContractType

from macrostrike.amm import v3math

#: keccak256 of UniswapV2Pair's creation code as shipped in @uniswap/v2-core 1.0.1.
UNISWAP_V2_PAIR_INIT_CODE_HASH = "0x96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f"

#: keccak256 of UniswapV3Pool's creation code as shipped in @uniswap/v3-core 1.0.1; the constant
#: ``PoolAddress.POOL_INIT_CODE_HASH`` of @uniswap/v3-periphery 1.4.4
#: (contracts/libraries/PoolAddress.sol), which the periphery's bytecode embeds.
UNISWAP_V3_POOL_INIT_CODE_HASH = "0xe34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54"

#: Pool contract -> (init code hash its periphery hard-codes, the package that ships it).
INIT_CODE_HASHES: dict[str, tuple[str, str]] = {
    "UniswapV2Pair": (UNISWAP_V2_PAIR_INIT_CODE_HASH, "@uniswap/v2-core 1.0.1"),
    "UniswapV3Pool": (UNISWAP_V3_POOL_INIT_CODE_HASH, "@uniswap/v3-core 1.0.1"),
}

#: Periphery contracts whose runtime code embeds ``POOL_INIT_CODE_HASH`` (checked on load).
V3_PERIPHERY = ("SwapRouter", "QuoterV2", "NonfungiblePositionManager")

#: Contract name -> artifact path under node_modules.
ARTIFACTS: dict[str, str] = {
    "UniswapV2Factory": "@uniswap/v2-core/build/UniswapV2Factory.json",
    "UniswapV2Pair": "@uniswap/v2-core/build/UniswapV2Pair.json",
    "UniswapV2Router02": "@uniswap/v2-periphery/build/UniswapV2Router02.json",
    "WETH9": "canonical-weth/build/contracts/WETH9.json",
    "UniswapV3Factory": "@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json",
    "UniswapV3Pool": "@uniswap/v3-core/artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json",
    "SwapRouter": "@uniswap/v3-periphery/artifacts/contracts/SwapRouter.sol/SwapRouter.json",
    "QuoterV2": "@uniswap/v3-periphery/artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json",
    "NonfungiblePositionManager":
        "@uniswap/v3-periphery/artifacts/contracts/NonfungiblePositionManager.sol/NonfungiblePositionManager.json",
}


class ArtifactError(RuntimeError):
    """An npm artifact is missing or not the one this project was built against."""


def node_modules_dir() -> Path:
    """``node_modules`` of the Ape project in use (``ape.project.path``)."""
    from ape import project

    return Path(project.path) / "node_modules"


def _hex(value: str) -> str:
    return value if value.startswith("0x") else "0x" + value


@cache
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
    if name in INIT_CODE_HASHES:
        check_init_code_hash(name, _hex(creation))
    if name in V3_PERIPHERY:
        check_periphery_hash(name, _hex(runtime))
    return contract_type


def check_init_code_hash(name: str, creation: str, expected: str | None = None) -> str:
    """Check that keccak256 of pool contract ``name``'s creation code is the hash its periphery hard-codes.

    Args:
        name: ``UniswapV2Pair`` or ``UniswapV3Pool`` (a key of :data:`INIT_CODE_HASHES`).
        creation: the creation code, 0x-hex.
        expected: the hash to compare with (default: the periphery's, from :data:`INIT_CODE_HASHES`).

    Returns:
        The hash (0x-hex).

    Raises:
        ArtifactError: one line with both hashes and the fix (reinstall the package with ``npm ci``).
    """
    want, package = INIT_CODE_HASHES[name]
    want = (expected or want).lower()
    digest = "0x" + keccak(hexstr=creation).hex()
    if digest != want:
        raise ArtifactError(f"{name} init code hash is {digest}, expected {want}: reinstall {package} with `npm ci` "
                            "(a recompiled pool breaks the periphery's pool address computation)")
    return digest


def check_periphery_hash(name: str, runtime: str, expected: str = UNISWAP_V3_POOL_INIT_CODE_HASH) -> None:
    """Check that V3 periphery contract ``name``'s runtime code embeds ``expected`` (its compiled-in
    ``PoolAddress.POOL_INIT_CODE_HASH``).

    Raises:
        ArtifactError: one line naming the contract and the fix.
    """
    if expected.lower().removeprefix("0x") not in runtime.lower():
        raise ArtifactError(f"{name} does not embed the pool init code hash {expected}: reinstall "
                            "@uniswap/v3-periphery 1.4.4 with `npm ci` (a periphery built for other pool bytecode "
                            "computes wrong pool addresses)")


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


# -- Uniswap V3 ----------------------------------------------------------------------------------
#: Fee tier of the sandbox's V3 USDC/WBTC pool, in hundredths of a bip (500 = 0.05 %; tick spacing 10).
V3_FEE = 500
#: Zero address passed to NonfungiblePositionManager as its token descriptor: the sandbox never calls
#: ``tokenURI`` (the only function that uses it; it would revert), so no descriptor (which needs the
#: NFTDescriptor library linked) is deployed.
NO_TOKEN_DESCRIPTOR = "0x0000000000000000000000000000000000000000"
#: Seed positions of the sandbox V3 pool: (lower, upper) bound in percent of the seed price (USD per
#: BTC) and the share of ``pool_usd`` each gets. Concentrated around the price and nested, so a swap
#: of a few percent of the pool crosses initialized ticks (the ±0.5 % position's bounds first).
V3_POSITIONS: tuple[tuple[float, float, float], ...] = (
    (-0.5, 0.5, 0.15), (-2.0, 2.0, 0.25), (-6.0, 3.0, 0.2), (-3.0, 6.0, 0.2), (-25.0, 25.0, 0.2))


@dataclass(frozen=True)
class V3Position:
    """One seed position: ticks (multiples of the spacing) and the amounts offered to ``mint``.

    Attributes:
        tick_lower, tick_upper: the range, in the pool's ticks (token1 per token0).
        amount_usdc, amount_wbtc: amounts offered (base units); the position manager takes what the
            range needs at the current price and leaves the rest with the sender.
    """

    tick_lower: int
    tick_upper: int
    amount_usdc: int
    amount_wbtc: int


def v3_position_plan(price_usd: float, usdc_is_token0: bool, pool_usd: int,
                     positions: tuple[tuple[float, float, float], ...] = V3_POSITIONS,
                     fee: int = V3_FEE) -> list[V3Position]:
    """The seed positions of a USDC/WBTC V3 pool at ``price_usd`` (see :data:`V3_POSITIONS`).

    Args:
        price_usd: the seed price, USD per BTC.
        usdc_is_token0: whether USDC has the lower address (then ticks fall as the BTC price rises).
        pool_usd: USD of each token offered over all positions.
        positions: (lower %, upper %, share of ``pool_usd``) per position.
        fee: the pool's fee tier (sets the tick spacing).

    Returns:
        One :class:`V3Position` per entry, bounds rounded to the nearest usable tick (at least one
        spacing apart).
    """
    spacing = v3math.TICK_SPACING[fee]
    plan = []
    for low_pct, high_pct, share in positions:
        ticks = sorted(v3math.nearest_usable_tick(_tick_of(price_usd * (1 + pct / 100), usdc_is_token0), spacing)
                       for pct in (low_pct, high_pct))
        if ticks[0] == ticks[1]:  # a range narrower than the spacing: one spacing wide
            ticks[1] += spacing
        usd = pool_usd * share
        plan.append(V3Position(ticks[0], ticks[1], int(round(usd * 10**6)), int(round(usd / price_usd * 10**8))))
    return plan


def _tick_of(price_usd: float, usdc_is_token0: bool) -> int:
    """The tick of a USD-per-BTC price (a range bound: float precision is enough)."""
    raw = float(v3math.raw_price(price_usd, usdc_is_token0))
    return int(math.floor(math.log(raw) / math.log(1.0001)))


def deploy_v3(deployer: Any, weth: str) -> dict[str, Any]:
    """Deploy UniswapV3Factory, SwapRouter, QuoterV2 and NonfungiblePositionManager (no descriptor,
    see :data:`NO_TOKEN_DESCRIPTOR`) from their npm artifacts, not journalled (the system deploy
    uses :meth:`macrostrike.deploy.system.Deployer.contract` instead).

    Returns:
        ``{"factory", "router", "quoter", "position_manager"}`` -> contract instances.
    """
    factory = deployer.deploy(container("UniswapV3Factory"))
    return {"factory": factory,
            "router": deployer.deploy(container("SwapRouter"), factory.address, weth),
            "quoter": deployer.deploy(container("QuoterV2"), factory.address, weth),
            "position_manager": deployer.deploy(container("NonfungiblePositionManager"), factory.address, weth,
                                                NO_TOKEN_DESCRIPTOR)}
