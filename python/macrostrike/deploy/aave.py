"""A real Aave V3 market (``@aave/core-v3`` 1.19.3 npm artifacts, deployed as shipped).

The leverage venue of the strike bots. :func:`deploy_aave_market` deploys, in Aave's own order
(see ``aave/aave-v3-deploy``, deploy/01_core and 02_market):

1. ``PoolAddressesProvider`` (market id, owner = deployer), ACL admin = deployer, ``ACLManager``;
   the deployer is granted pool admin and emergency admin.
2. The logic libraries (``SupplyLogic``, ``BorrowLogic``, ``LiquidationLogic``, ``EModeLogic``,
   ``BridgeLogic``, ``PoolLogic``, ``FlashLoanLogic`` — which itself links ``BorrowLogic`` — and
   ``ConfiguratorLogic``), then ``Pool`` and ``PoolConfigurator`` with the libraries' addresses
   spliced into their bytecode at the artifacts' ``linkReferences`` offsets; the provider puts each
   behind its proxy and initialises it.
3. One Chainlink-compatible ``OwnedAggregator`` (8 decimals, USD; contracts/oracles, only its owner
   — the deployer — sets answers) per asset, ``AaveOracle`` (base currency USD, unit 1e8) over
   them, ``AaveProtocolDataProvider``. No chain gets the vendored ``MockV3Aggregator``: it lets anyone
   call ``updateAnswer`` (anyone could set prices on a testnet deployment; issue 11, M-4).
4. ``AToken`` / ``VariableDebtToken`` / ``StableDebtToken`` implementations (1.19 still requires the
   stable one), a ``DefaultReserveInterestRateStrategy`` per asset, ``initReserves``, then collateral
   parameters, borrowing, reserve factor and liquidation protocol fee per reserve.

Artifacts are read from ``node_modules`` at run time and never copied into the repository (they
keep their BUSL/AGPL licences there). The implementation contracts are never recompiled.

Units: LTV, liquidation threshold, liquidation bonus, reserve factor and fees are basis points
(1 % = 100); interest-rate parameters are rays (1e27 = 100 %); prices are USD with 8 decimals;
token amounts are the token's base units.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any

from ethpm_types import ContractType

from macrostrike.deploy.venues import ArtifactError, node_modules_dir

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
#: AaveOracle base currency unit: prices are USD with 8 decimals, as Chainlink's USD feeds.
PRICE_DECIMALS = 8
BASE_CURRENCY_UNIT = 10**PRICE_DECIMALS
RAY = 10**27
WAD = 10**18
#: Aave V3 ``DataTypes.InterestRateMode.VARIABLE``.
VARIABLE_RATE_MODE = 2
#: Below this health factor (wad) Aave lets a liquidator repay 100 % of a debt, above it 50 %
#: (``LiquidationLogic.CLOSE_FACTOR_HF_THRESHOLD`` = 0.95e18, ``DEFAULT_LIQUIDATION_CLOSE_FACTOR`` = 0.5e4).
CLOSE_FACTOR_HF_THRESHOLD = 95 * 10**16
MARKET_ID = "Macrostrike Aave V3 Market"

_AAVE = "@aave/core-v3/artifacts/contracts/"
#: Contract name -> artifact path under node_modules (``@aave/core-v3`` 1.19.3).
AAVE_ARTIFACTS: dict[str, str] = {
    "PoolAddressesProvider": "protocol/configuration/PoolAddressesProvider.sol/PoolAddressesProvider.json",
    "ACLManager": "protocol/configuration/ACLManager.sol/ACLManager.json",
    "Pool": "protocol/pool/Pool.sol/Pool.json",
    "PoolConfigurator": "protocol/pool/PoolConfigurator.sol/PoolConfigurator.json",
    "DefaultReserveInterestRateStrategy":
        "protocol/pool/DefaultReserveInterestRateStrategy.sol/DefaultReserveInterestRateStrategy.json",
    "AToken": "protocol/tokenization/AToken.sol/AToken.json",
    "VariableDebtToken": "protocol/tokenization/VariableDebtToken.sol/VariableDebtToken.json",
    "StableDebtToken": "protocol/tokenization/StableDebtToken.sol/StableDebtToken.json",
    "AaveOracle": "misc/AaveOracle.sol/AaveOracle.json",
    "AaveProtocolDataProvider": "misc/AaveProtocolDataProvider.sol/AaveProtocolDataProvider.json",
    "SupplyLogic": "protocol/libraries/logic/SupplyLogic.sol/SupplyLogic.json",
    "BorrowLogic": "protocol/libraries/logic/BorrowLogic.sol/BorrowLogic.json",
    "LiquidationLogic": "protocol/libraries/logic/LiquidationLogic.sol/LiquidationLogic.json",
    "EModeLogic": "protocol/libraries/logic/EModeLogic.sol/EModeLogic.json",
    "BridgeLogic": "protocol/libraries/logic/BridgeLogic.sol/BridgeLogic.json",
    "PoolLogic": "protocol/libraries/logic/PoolLogic.sol/PoolLogic.json",
    "FlashLoanLogic": "protocol/libraries/logic/FlashLoanLogic.sol/FlashLoanLogic.json",
    "ConfiguratorLogic": "protocol/libraries/logic/ConfiguratorLogic.sol/ConfiguratorLogic.json",
}
#: Deploy order of the libraries: FlashLoanLogic links BorrowLogic, so BorrowLogic comes first.
LIBRARIES = ("SupplyLogic", "BorrowLogic", "LiquidationLogic", "EModeLogic", "BridgeLogic", "PoolLogic",
             "FlashLoanLogic", "ConfiguratorLogic")


@dataclass(frozen=True)
class RateStrategy:
    """``DefaultReserveInterestRateStrategy`` constructor parameters, all rays (1e27 = 100 %)."""

    optimal_usage_ratio: int
    base_variable_borrow_rate: int
    variable_rate_slope1: int
    variable_rate_slope2: int
    stable_rate_slope1: int
    stable_rate_slope2: int
    base_stable_rate_offset: int
    stable_rate_excess_offset: int
    optimal_stable_to_total_debt_ratio: int

    def args(self) -> tuple[int, ...]:
        return (self.optimal_usage_ratio, self.base_variable_borrow_rate, self.variable_rate_slope1,
                self.variable_rate_slope2, self.stable_rate_slope1, self.stable_rate_slope2,
                self.base_stable_rate_offset, self.stable_rate_excess_offset,
                self.optimal_stable_to_total_debt_ratio)


def _ray(fraction: str) -> int:
    return int(Decimal(fraction) * RAY)


# Source: aave/aave-v3-deploy, markets/aave/rateStrategies.ts (the Aave market's template strategies).
#: ``rateStrategyVolatileOne``: optimal usage 45 %, base 0, slope1 7 %, slope2 300 %.
RATE_VOLATILE_ONE = RateStrategy(_ray("0.45"), 0, _ray("0.07"), _ray("3"), _ray("0.07"), _ray("3"),
                                 _ray("0.02"), _ray("0.05"), _ray("0.2"))
#: ``rateStrategyStableOne``: optimal usage 90 %, base 0, slope1 4 %, slope2 60 %.
RATE_STABLE_ONE = RateStrategy(_ray("0.9"), 0, _ray("0.04"), _ray("0.6"), _ray("0.005"), _ray("0.6"),
                               _ray("0.01"), _ray("0.08"), _ray("0.2"))


@dataclass(frozen=True)
class ReserveParams:
    """Risk parameters of one reserve, in basis points.

    ``liquidation_bonus_bps`` is the bonus alone (500 = 5 %); Aave stores it as 10 000 + bonus.
    """

    ltv_bps: int
    liquidation_threshold_bps: int
    liquidation_bonus_bps: int
    reserve_factor_bps: int
    liquidation_protocol_fee_bps: int
    rate: RateStrategy

    def __post_init__(self) -> None:
        if not 0 < self.ltv_bps <= self.liquidation_threshold_bps < 10_000:
            raise ValueError(f"need 0 < ltv ({self.ltv_bps}) <= liquidation threshold "
                             f"({self.liquidation_threshold_bps}) < 10000 bps")
        # ValidationLogic/PoolConfigurator: LT * (1 + bonus) must not exceed 100 %.
        if self.liquidation_threshold_bps * (10_000 + self.liquidation_bonus_bps) > 10_000 * 10_000:
            raise ValueError("liquidation threshold x (1 + bonus) exceeds 100 %: lower one of them")


# Risk parameters of Aave V3 Ethereum (bps):
# - WBTC 73 / 78 / 5 %, reserve factor 20 %: the values in force before the Aug 2024 BitGo change,
#   listed as "current" in https://governance.aave.com/t/arfc-adjusting-wbtc-parameters-to-address-bitgo-transition-risks/19096
# - WETH 80.5 / 83 / 5 %, reserve factor 15 %: LT 83 % / LTV ~80 % as targeted by Chaos Labs in
#   https://governance.aave.com/t/arfc-chaos-labs-risk-parameter-updates-ltv-and-lt-alignment/18997
# - USDC 77 / 80 / 4.5 %, reserve factor 10 %: Aave V3 Ethereum USDC as given in the project's issue 3.
# Liquidation protocol fee 10 % on all three (Gauntlet's V3 listing recommendations, e.g.
# https://governance.aave.com/t/temp-check-aave-v3-deployment-on-base/13177/9).
DEFAULT_RESERVE_PARAMS: dict[str, ReserveParams] = {
    "USDC": ReserveParams(7_700, 8_000, 450, 1_000, 1_000, RATE_STABLE_ONE),
    "WBTC": ReserveParams(7_300, 7_800, 500, 2_000, 1_000, RATE_VOLATILE_ONE),
    "WETH": ReserveParams(8_050, 8_300, 500, 1_500, 1_000, RATE_VOLATILE_ONE),
}


# -- artifacts ------------------------------------------------------------------------------------
@cache
def _raw_artifact(name: str) -> dict[str, Any]:
    path = node_modules_dir() / (_AAVE + AAVE_ARTIFACTS[name])
    if not path.is_file():
        raise ArtifactError(f"npm artifact {path} is missing: run `make setup` (npm ci) first")
    return json.loads(path.read_text())


def link_bytecode(bytecode: str, link_references: Mapping[str, Mapping[str, list[dict[str, int]]]],
                  libraries: Mapping[str, str]) -> str:
    """Splice library addresses into ``bytecode`` (hex) at the Hardhat ``linkReferences`` offsets.

    Offsets and lengths are in bytes of the code. Raises :class:`ArtifactError` if a referenced
    library is not in ``libraries`` or a placeholder is not where the artifact says.
    """
    code = bytecode[2:] if bytecode.startswith("0x") else bytecode
    for _source, libs in link_references.items():
        for lib, refs in libs.items():
            if lib not in libraries:
                raise ArtifactError(f"library {lib} is not deployed: deploy it before linking")
            addr = libraries[lib].lower().removeprefix("0x")
            for ref in refs:
                start, length = 2 * ref["start"], 2 * ref["length"]
                if length != 40 or not code[start:start + length].startswith("__"):
                    raise ArtifactError(f"no link placeholder for {lib} at byte {ref['start']}")
                code = code[:start] + addr + code[start + length:]
    if "__$" in code:
        raise ArtifactError("bytecode still has unlinked library placeholders")
    return "0x" + code


def aave_contract_type(name: str, libraries: Mapping[str, str] | None = None) -> ContractType:
    """``ContractType`` of Aave artifact ``name`` with ``libraries`` (name -> address) linked in."""
    raw = _raw_artifact(name)
    libs = dict(libraries or {})
    creation = link_bytecode(raw["bytecode"], raw.get("linkReferences", {}), libs)
    runtime = link_bytecode(raw["deployedBytecode"], raw.get("deployedLinkReferences", {}), libs)
    return ContractType.model_validate({
        "contractName": name,
        "sourceId": _AAVE + AAVE_ARTIFACTS[name],
        "abi": raw["abi"],
        "deploymentBytecode": {"bytecode": creation},
        "runtimeBytecode": {"bytecode": runtime},
    })


def _container(name: str, libraries: Mapping[str, str] | None = None):
    from ape.contracts import ContractContainer

    return ContractContainer(aave_contract_type(name, libraries))


def aave_at(name: str, address: str) -> Any:
    """An Ape contract instance of Aave artifact ``name`` (ABI only) at ``address``."""
    from ape import chain

    return chain.contracts.instance_at(address, contract_type=_abi_only(name))


@cache
def _abi_only(name: str) -> ContractType:
    return ContractType.model_validate({"contractName": name, "abi": _raw_artifact(name)["abi"]})


# -- market ---------------------------------------------------------------------------------------
@dataclass
class AaveReserve:
    """One listed asset: its underlying token, price feed, Aave tokens and parameters."""

    symbol: str
    underlying: str
    decimals: int
    feed: str
    a_token: str
    variable_debt_token: str
    stable_debt_token: str
    rate_strategy: str
    params: ReserveParams


@dataclass
class AaveMarket:
    """Addresses of a deployed Aave V3 market; ``admin`` is the deployer (pool admin, feed updater)."""

    provider: str
    acl_manager: str
    pool: str
    pool_impl: str
    configurator: str
    oracle: str
    data_provider: str
    treasury: str
    libraries: dict[str, str]
    reserves: dict[str, AaveReserve]
    admin: Any = field(default=None, repr=False, compare=False)

    @property
    def feeds(self) -> dict[str, str]:
        """Symbol -> price feed (OwnedAggregator) address."""
        return {s: r.feed for s, r in self.reserves.items()}

    @property
    def a_tokens(self) -> dict[str, str]:
        return {s: r.a_token for s, r in self.reserves.items()}

    @property
    def variable_debt_tokens(self) -> dict[str, str]:
        return {s: r.variable_debt_token for s, r in self.reserves.items()}

    def asset(self, symbol: str) -> str:
        """Underlying token address of ``symbol``; ``KeyError`` names the listed symbols."""
        try:
            return self.reserves[symbol].underlying
        except KeyError:
            raise KeyError(f"{symbol} is not listed in this market: use one of {sorted(self.reserves)}") from None

    def pool_contract(self) -> Any:
        return aave_at("Pool", self.pool)

    def data_provider_contract(self) -> Any:
        return aave_at("AaveProtocolDataProvider", self.data_provider)

    def oracle_contract(self) -> Any:
        return aave_at("AaveOracle", self.oracle)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready addresses and parameters (for a deployment manifest)."""
        from dataclasses import asdict

        out = asdict(self)
        out.pop("admin", None)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], admin: Any = None) -> AaveMarket:
        """Inverse of :meth:`to_dict` (e.g. from a deployment manifest); ``admin`` signs :func:`set_price`."""
        reserves = {}
        for symbol, r in data["reserves"].items():
            p = dict(r["params"])
            p["rate"] = RateStrategy(**p["rate"])
            reserves[symbol] = AaveReserve(**{**r, "params": ReserveParams(**p)})
        fields = {k: v for k, v in data.items() if k != "reserves"}
        return cls(**fields, reserves=reserves, admin=admin)


def usd_to_answer(usd_price: float | Decimal | str) -> int:
    """USD price -> feed answer (8 decimals). Raises ValueError unless positive."""
    answer = int((Decimal(str(usd_price)) * BASE_CURRENCY_UNIT).to_integral_value())
    if answer <= 0:
        raise ValueError(f"price {usd_price} USD is not positive: Aave's oracle needs a price > 0")
    return answer


def deploy_aave_market(deployer_account: Any, tokens: Mapping[str, Any], prices_usd: Mapping[str, float],
                       params: Mapping[str, ReserveParams] | None = None, treasury: str | None = None,
                       market_id: str = MARKET_ID) -> AaveMarket:
    """Deploy an Aave V3 market listing ``tokens`` (symbol -> deployed ERC-20 contract instance).

    ``prices_usd`` gives each symbol's initial USD price; ``params`` overrides
    :data:`DEFAULT_RESERVE_PARAMS`; ``treasury`` (default: the deployer) receives the reserve
    factor and the liquidation protocol fee. The deployer becomes ACL admin, pool admin and
    emergency admin. Raises ValueError naming a symbol without a price or parameters.
    """
    from ape import project

    params = {**DEFAULT_RESERVE_PARAMS, **(params or {})}
    for symbol in tokens:
        if symbol not in prices_usd:
            raise ValueError(f"no initial price for {symbol}: add it to prices_usd")
        if symbol not in params:
            raise ValueError(f"no risk parameters for {symbol}: pass params={{'{symbol}': ReserveParams(...)}}")
    me = deployer_account
    admin = str(me.address)
    treasury = treasury or admin

    provider = me.deploy(_container("PoolAddressesProvider"), market_id, admin)
    provider.setACLAdmin(admin, sender=me)
    acl = me.deploy(_container("ACLManager"), provider.address)
    provider.setACLManager(acl.address, sender=me)
    acl.addPoolAdmin(admin, sender=me)
    acl.addEmergencyAdmin(admin, sender=me)

    libraries: dict[str, str] = {}
    for lib in LIBRARIES:
        libraries[lib] = str(me.deploy(_container(lib, libraries)).address)
    pool_impl = me.deploy(_container("Pool", libraries), provider.address)
    provider.setPoolImpl(pool_impl.address, sender=me)
    pool_address = str(provider.getPool())
    configurator_impl = me.deploy(_container("PoolConfigurator", libraries))
    provider.setPoolConfiguratorImpl(configurator_impl.address, sender=me)
    configurator = aave_at("PoolConfigurator", str(provider.getPoolConfigurator()))

    symbols = list(tokens)
    feeds = {s: me.deploy(project.OwnedAggregator, PRICE_DECIMALS, usd_to_answer(prices_usd[s]), f"{s} / USD", admin)
             for s in symbols}
    oracle = me.deploy(_container("AaveOracle"), provider.address, [str(tokens[s].address) for s in symbols],
                       [str(feeds[s].address) for s in symbols], ZERO_ADDRESS, ZERO_ADDRESS, BASE_CURRENCY_UNIT)
    provider.setPriceOracle(oracle.address, sender=me)
    data_provider = me.deploy(_container("AaveProtocolDataProvider"), provider.address)
    provider.setPoolDataProvider(data_provider.address, sender=me)

    a_impl = me.deploy(_container("AToken"), pool_address)
    v_impl = me.deploy(_container("VariableDebtToken"), pool_address)
    s_impl = me.deploy(_container("StableDebtToken"), pool_address)
    strategies: dict[RateStrategy, str] = {}
    inputs = []
    decimals: dict[str, int] = {}
    for s in symbols:
        rate = params[s].rate
        if rate not in strategies:
            strategies[rate] = str(me.deploy(_container("DefaultReserveInterestRateStrategy"),
                                             provider.address, *rate.args()).address)
        decimals[s] = int(tokens[s].decimals())
        inputs.append((str(a_impl.address), str(s_impl.address), str(v_impl.address), decimals[s],
                       strategies[rate], str(tokens[s].address), treasury, ZERO_ADDRESS,
                       f"Aave Macrostrike {s}", f"aMs{s}", f"Aave Macrostrike Variable Debt {s}",
                       f"variableDebtMs{s}", f"Aave Macrostrike Stable Debt {s}", f"stableDebtMs{s}", b""))
    configurator.initReserves(inputs, sender=me)

    pool = aave_at("Pool", pool_address)
    reserves: dict[str, AaveReserve] = {}
    for s in symbols:
        p, asset = params[s], str(tokens[s].address)
        configurator.configureReserveAsCollateral(asset, p.ltv_bps, p.liquidation_threshold_bps,
                                                  10_000 + p.liquidation_bonus_bps, sender=me)
        configurator.setReserveBorrowing(asset, True, sender=me)
        configurator.setReserveFactor(asset, p.reserve_factor_bps, sender=me)
        configurator.setLiquidationProtocolFee(asset, p.liquidation_protocol_fee_bps, sender=me)
        a_token, stable_debt, variable_debt = data_provider.getReserveTokensAddresses(asset)
        reserves[s] = AaveReserve(symbol=s, underlying=asset, decimals=decimals[s], feed=str(feeds[s].address),
                                  a_token=str(a_token), variable_debt_token=str(variable_debt),
                                  stable_debt_token=str(stable_debt), rate_strategy=strategies[p.rate], params=p)
    return AaveMarket(provider=str(provider.address), acl_manager=str(acl.address), pool=str(pool.address),
                      pool_impl=str(pool_impl.address), configurator=str(configurator.address),
                      oracle=str(oracle.address), data_provider=str(data_provider.address), treasury=treasury,
                      libraries=libraries, reserves=reserves, admin=me)


def set_price(market: AaveMarket, symbol: str, usd_price: float | Decimal | str, sender: Any | None = None) -> Any:
    """Set ``symbol``'s USD price on its OwnedAggregator (what AaveOracle reads); returns the receipt.

    ``sender`` defaults to the market's deployer, the feeds' owner (anyone else's update reverts
    ``OwnableUnauthorizedAccount``). Raises KeyError for an unlisted symbol and ValueError for a
    price that is not positive.
    """
    from ape import project

    market.asset(symbol)
    feed = project.OwnedAggregator.at(market.reserves[symbol].feed)
    return feed.updateAnswer(usd_to_answer(usd_price), sender=sender or market.admin)


def set_prices(market: AaveMarket, prices_usd: Mapping[str, float | Decimal | str], sender: Any | None = None) -> None:
    """:func:`set_price` for each symbol in ``prices_usd`` (one feed update per asset)."""
    for symbol, usd in prices_usd.items():
        set_price(market, symbol, usd, sender)


def price_usd(market: AaveMarket, symbol: str) -> Decimal:
    """``AaveOracle.getAssetPrice`` of ``symbol`` in USD."""
    return Decimal(market.oracle_contract().getAssetPrice(market.asset(symbol))) / BASE_CURRENCY_UNIT


def fund(market: AaveMarket, token: Any, to: Any, amount: int) -> None:
    """Give account ``to`` ``amount`` base units of ``token``: ``mint`` from the market admin
    (TestToken) or, for WETH9, ``deposit`` ``to``'s own ether."""
    if any(getattr(a, "name", None) == "mint" for a in token.contract_type.abi):
        token.mint(to.address, amount, sender=market.admin)
    else:
        token.deposit(sender=to, value=amount)


def supply(market: AaveMarket, account: Any, token: Any, amount: int) -> None:
    """Approve the pool and supply ``amount`` of ``token`` from ``account`` on its own behalf."""
    token.approve(market.pool, amount, sender=account)
    market.pool_contract().supply(str(token.address), amount, account.address, 0, sender=account)


def seed_liquidity(market: AaveMarket, supplier: Any, tokens: Mapping[str, Any], amounts: Mapping[str, int]) -> None:
    """Have ``supplier`` deposit ``amounts`` (symbol -> base units) so that bots can borrow.

    The tokens are minted (TestToken) or wrapped from the supplier's ether (WETH9) first.
    """
    for symbol, amount in amounts.items():
        market.asset(symbol)
        fund(market, tokens[symbol], supplier, amount)
        supply(market, supplier, tokens[symbol], amount)


@dataclass(frozen=True)
class AccountData:
    """``Pool.getUserAccountData``: USD amounts with 8 decimals, bps, health factor as a wad."""

    total_collateral_base: int
    total_debt_base: int
    available_borrows_base: int
    current_liquidation_threshold_bps: int
    ltv_bps: int
    health_factor_wad: int

    @property
    def health_factor(self) -> Decimal:
        return Decimal(self.health_factor_wad) / WAD


def account_data(market: AaveMarket, user: str) -> AccountData:
    """The Aave account of ``user`` (any address, e.g. a position holder)."""
    return AccountData(*(int(v) for v in market.pool_contract().getUserAccountData(user)))
