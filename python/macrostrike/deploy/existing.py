"""Deploy onto existing venues (``ape run deploy --venues existing|FILE``): nothing but the project's own
contracts is deployed; the diamonds are wired to the tokens, Uniswap V2 pairs, Aave V3 market and price
feeds a venues file names (:mod:`macrostrike.deploy.addressbook`).

What the sandbox deploy creates, this module looks up and records under the same manifest roles, so the
keeper reads either manifest alike:

* ``usdc``, ``wbtc``, ``weth``: the tokens (``external: true``, with the source of each address);
* ``dex_a_*`` / ``dex_b_*``: factory and router of ``v2_dexes[0]`` / ``[1]``, and their USDC/WBTC pair
  (``UniswapV2Factory.getPair``; never created here: a venue without the pair is not wired);
* ``aave_pool``, ``aave_oracle`` …: the market behind ``PoolAddressesProvider`` (``getPool``,
  ``getPriceOracle``, ``getPoolDataProvider``), ``aave_feed:<SYMBOL>`` the feed its oracle reads for each
  token (``AaveOracle.getSourceOfAsset``); without a market, the venues file's Chainlink feeds
  (BTC/USD for WBTC, ETH/USD for WETH, USDC/USD for USDC);
* ``native_usd_feed``: the gas token's USD feed where it is not ETH (``NATIVE/USD``: POL, AVAX).

The treasury is funded from the deployer's own USDC (a real token cannot be minted): the deploy stops
before sending anything when the balance is short.
"""

from __future__ import annotations

from typing import Any

from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from ethpm_types import ContractType

from macrostrike.deploy import aave as aavelib
from macrostrike.deploy import venues as venuelib
from macrostrike.deploy.addressbook import Venues, VenuesError, resolve

ZERO = "0x0000000000000000000000000000000000000000"
#: The ERC-20 functions the deploy and the keeper call (EIP-20, plus the optional metadata).
ERC20_ABI = [
    {"type": "function", "name": name, "stateMutability": mut, "inputs": [{"name": n, "type": t} for n, t in ins],
     "outputs": [{"name": "", "type": out}]}
    for name, mut, ins, out in (
        ("balanceOf", "view", (("owner", "address"),), "uint256"),
        ("allowance", "view", (("owner", "address"), ("spender", "address")), "uint256"),
        ("approve", "nonpayable", (("spender", "address"), ("amount", "uint256")), "bool"),
        ("transfer", "nonpayable", (("to", "address"), ("amount", "uint256")), "bool"),
        ("decimals", "view", (), "uint8"),
        ("symbol", "view", (), "string"),
    )
]
#: Uniswap V3 fee tiers tried for the USDC/WBTC pool when the venues file pins none (hundredths of a bip).
V3_FEE_TIERS = (500, 3000, 100, 10_000)
#: token symbol -> the venues file's Chainlink pair used as its feed when there is no Aave market.
FEED_OF = {"WBTC": "BTC/USD", "WETH": "ETH/USD", "USDC": "USDC/USD"}


def choose(manifest: Any, choice: str | None, chain_id: int) -> Venues | None:
    """The venues of this deploy: ``--venues`` resolved (:func:`macrostrike.deploy.addressbook.resolve`),
    except that a run continuing a recorded system keeps that system's kind when ``--venues`` is not given.

    Raises:
        VenuesError: a bad ``--venues``, or one that contradicts the recorded system.
    """
    recorded = manifest.venues.get("existing")
    started = "usdc" in manifest.contracts
    if choice is None and started:
        return resolve(recorded["file"], chain_id) if recorded else None
    chosen = resolve(choice, chain_id)
    if started and (chosen is None) != (recorded is None):
        kind = "existing venues" if recorded else "its own sandbox venues"
        raise VenuesError(f"the system on chain {chain_id} was deployed on {kind}: drop --venues to keep them, "
                          "or pass --new-system to deploy a new system")
    return chosen


def erc20_at(address: str) -> Any:
    """An Ape contract instance with :data:`ERC20_ABI` at ``address``."""
    from ape import chain

    return chain.contracts.instance_at(address, contract_type=ContractType.model_validate(
        {"contractName": "ERC20", "abi": ERC20_ABI}))


def check_code(d: Any, book: Venues) -> None:
    """Every address of ``book`` has code on the connected chain (one ``eth_getCode`` batch).

    Raises:
        VenuesError: names the first few that have none (a venues file for another chain, or a typo).
    """
    web3 = d.chain.provider.web3
    entries = list(book.addresses().items())
    with web3.batch_requests() as batch:
        for _, address in entries:
            batch.add(web3.eth.get_code(address))
        codes = batch.execute()
    empty = [f"{where} {address}" for (where, address), code in zip(entries, codes) if not bytes(code)]
    if empty:
        raise VenuesError(f"{book.path}: {len(empty)} address(es) of chain {book.chain_id} have no code on the connected "
                          f"chain ({'; '.join(empty[:3])}): is it the right chain and file?")


def _record(d: Any, role: str, name: str, address: str, source: str) -> None:
    """Record an existing contract under ``role`` (no block, no transaction: the deploy did not create it)."""
    entry = {"contract": name, "address": to_checksum_address(address), "block": None, "tx": "",
             "code_hash": d._code_hash(address), "external": True, "source": source}
    if d.manifest.contracts.get(role) != entry:
        d.manifest.contracts[role] = entry
        d.save()


def use_venues(d: Any, c: dict[str, Any], book: Venues) -> None:
    """Wire the deploy to ``book``'s tokens and V2 DEXes instead of deploying them (fills ``c`` like the
    sandbox does: ``usdc``, ``wbtc``, ``weth``, ``dex_*_factory``, ``dex_*_router``, ``dex_*_pair``)."""
    check_code(d, book)
    d.log(f"existing venues of {book.name} (chain {book.chain_id}) from {book.path}: nothing of theirs is deployed")
    c["venues"] = book
    for symbol, address in book.tokens.items():
        c[symbol.lower()] = erc20_at(address)
        _record(d, symbol.lower(), f"ERC20 {symbol}", address, book.sources[f"tokens.{symbol}"])
    for i, dex in enumerate(book.v2_dexes[:2]):
        role = ("dex_a", "dex_b")[i]
        factory = venuelib.at("UniswapV2Factory", dex.factory)
        c[f"{role}_factory"], c[f"{role}_router"] = factory, venuelib.at("UniswapV2Router02", dex.router)
        _record(d, f"{role}_factory", "UniswapV2Factory", dex.factory, book.sources[f"v2_dexes.{i}.factory"])
        _record(d, f"{role}_router", "UniswapV2Router02", dex.router, book.sources[f"v2_dexes.{i}.router"])
        pair = str(factory.getPair(book.tokens["USDC"], book.tokens["WBTC"])) if "WBTC" in book.tokens else ZERO
        if int(pair, 16) == 0:
            d.log(f"{dex.name} has no USDC/WBTC pair: not used by the arbitrage bots")
            continue
        c[f"{role}_pair"] = venuelib.at("UniswapV2Pair", pair)
        _record(d, f"{role}_pair", "UniswapV2Pair", pair, f"{dex.name} factory.getPair(USDC, WBTC)")
    use_v3(d, c, book)
    if "dex_b_pair" not in c and not ("dex_a_pair" in c and "v3_pool" in c):
        d.log("fewer than two venues with a USDC/WBTC pool (V2 DEX A, V2 DEX B, Uniswap V3): the AMM child's "
              "arbitrage pairs are left unset (add a second V2 DEX or a uniswap_v3 entry to the venues file)")
    if not book.aave_pool_addresses_provider:
        for symbol, pair in FEED_OF.items():
            if pair in book.feeds:
                _record(d, f"aave_feed:{symbol}", f"Chainlink {pair}", book.feeds[pair], book.sources[f"chainlink.{pair}"])
    if "NATIVE/USD" in book.feeds:  # the gas token is not ETH: the keeper prices gas with this feed
        _record(d, "native_usd_feed", "Chainlink NATIVE/USD", book.feeds["NATIVE/USD"], book.sources["chainlink.NATIVE/USD"])
    d.manifest.venues["existing"] = book.record()
    d.save()


def v3_pool_address(factory: str, token_a: str, token_b: str, fee: int, init_code_hash: str) -> str:
    """The pool address v3-periphery's ``PoolAddress.computeAddress`` gives (CREATE2 by the factory, salt
    ``keccak256(abi.encode(token0, token1, fee))``, EIP-1014) — what VenueArbitrageFacet computes."""
    token0, token1 = sorted((token_a, token_b), key=lambda a: int(a, 16))
    salt = keccak(encode(["address", "address", "uint24"], [token0, token1, fee]))
    raw = keccak(b"\xff" + bytes.fromhex(factory[2:]) + salt + bytes.fromhex(init_code_hash[2:]))
    return to_checksum_address(raw[12:])


def use_v3(d: Any, c: dict[str, Any], book: Venues) -> None:
    """Wire the venues file's Uniswap V3 (DEX C): its USDC/WBTC pool of ``uniswap_v3.fee``, else of the tier
    of :data:`V3_FEE_TIERS` with the most in-range ``liquidity()``; recorded under ``v3_factory``, ``v3_router``,
    ``v3_quoter``, ``v3_pool`` (external) and ``manifest.venues["uniswap_v3"]`` in the sandbox's shape (plus
    ``external`` and ``source``); fills ``c["v3_factory"]``, ``c["v3_pool"]``. Without a ``factory`` and
    ``quoter_v2``, or without a pool, V3 is not wired (one line in the log).

    Raises:
        VenuesError: the factory's pool is not where the v3-periphery init code hash puts it (not a Uniswap
            V3 1.0.1 factory: the facet, which computes the pool, could not trade it), or it has no code.
    """
    v3 = book.uniswap_v3
    if not ({"factory", "quoter_v2"} <= v3.keys() and "WBTC" in book.tokens):
        return
    usdc_address, wbtc = book.tokens["USDC"], book.tokens["WBTC"]
    factory = venuelib.at("UniswapV3Factory", v3["factory"])
    fees = (book.v3_fee,) if book.v3_fee else V3_FEE_TIERS
    found = {fee: str(factory.getPool(usdc_address, wbtc, fee)) for fee in fees}
    found = {fee: pool for fee, pool in found.items() if int(pool, 16) != 0}
    if not found:
        d.log(f"Uniswap V3 of {book.name} (chain {book.chain_id}) has no USDC/WBTC pool at fee tier(s) "
              f"{', '.join(map(str, fees))}: V3 not used by the arbitrage bots")
        return
    liquidity = {fee: int(venuelib.at("UniswapV3Pool", pool).liquidity()) for fee, pool in found.items()}
    fee = max(found, key=lambda f: liquidity[f])
    pool = found[fee]
    computed = v3_pool_address(v3["factory"], usdc_address, wbtc, fee, venuelib.UNISWAP_V3_POOL_INIT_CODE_HASH)
    if computed != to_checksum_address(pool) or not bytes(d.chain.provider.web3.eth.get_code(pool)):
        raise VenuesError(f"{book.path}: the Uniswap V3 factory {v3['factory']} of chain {book.chain_id} reports the USDC/WBTC "
                          f"{fee} pool at {pool}, not at {computed} (v3-periphery's init code hash "
                          f"{venuelib.UNISWAP_V3_POOL_INIT_CODE_HASH}): not a Uniswap V3 1.0.1 factory; fix uniswap_v3.factory")
    d.log(f"Uniswap V3 USDC/WBTC pool of fee {fee} at {pool} (in-range liquidity {liquidity[fee]})")
    for role, key, name in (("v3_factory", "factory", "UniswapV3Factory"), ("v3_quoter", "quoter_v2", "QuoterV2"),
                            ("v3_router", "swap_router02", "SwapRouter02")):
        if key in v3:
            _record(d, role, name, v3[key], book.sources[f"uniswap_v3.{key}"])
    _record(d, "v3_pool", "UniswapV3Pool", pool, f"{book.name} UniswapV3Factory.getPool(USDC, WBTC, {fee})")
    c["v3_factory"], c["v3_pool"] = factory, venuelib.at("UniswapV3Pool", pool)
    d.manifest.venues["uniswap_v3"] = {
        "factory": v3["factory"], "router": v3.get("swap_router02", ""), "quoter": v3["quoter_v2"],
        "pools": {f"USDC/WBTC/{fee}": to_checksum_address(pool)},
        "init_code_hash": venuelib.UNISWAP_V3_POOL_INIT_CODE_HASH, "external": True, "source": str(book.path)}
    d.save()


class ExistingMarket:
    """The Aave V3 market behind a ``PoolAddressesProvider`` (what the strike deploy needs of it)."""

    def __init__(self, pool: str, oracle: str, data_provider: str, provider: str) -> None:
        self.pool, self.oracle, self.data_provider, self.provider = pool, oracle, data_provider, provider

    def pool_contract(self) -> Any:
        return aavelib.aave_at("Pool", self.pool)

    def oracle_contract(self) -> Any:
        return aavelib.aave_at("AaveOracle", self.oracle)


def aave_market(d: Any, c: dict[str, Any], book: Venues) -> ExistingMarket:
    """Look up the venues file's Aave V3 market and record it (``aave_provider``, ``aave_pool``,
    ``aave_oracle``, ``aave_data_provider``, ``aave_feed:<SYMBOL>``, ``aave_a_token:`` / ``aave_debt_token:``).

    Raises:
        VenuesError: the file names no Aave market, or the market does not list USDC and WBTC.
    """
    if not book.aave_pool_addresses_provider:
        raise VenuesError(f"{book.path} names no Aave V3 market for chain {book.chain_id} (aave_v3.pool_addresses_provider): "
                          "the strike bots need one; pass --long-bots 0 --short-bots 0 for an AMM-only system")
    provider = aavelib.aave_at("PoolAddressesProvider", book.aave_pool_addresses_provider)
    source = book.sources["aave_v3.pool_addresses_provider"]
    market = ExistingMarket(str(provider.getPool()), str(provider.getPriceOracle()), str(provider.getPoolDataProvider()),
                            book.aave_pool_addresses_provider)
    _record(d, "aave_provider", "PoolAddressesProvider", market.provider, source)
    for role, name, address in (("aave_pool", "Pool", market.pool), ("aave_oracle", "AaveOracle", market.oracle),
                                ("aave_data_provider", "AaveProtocolDataProvider", market.data_provider)):
        _record(d, role, name, address, f"{source} -> PoolAddressesProvider")
    data_provider, oracle = aavelib.aave_at("AaveProtocolDataProvider", market.data_provider), market.oracle_contract()
    for symbol, address in book.tokens.items():
        a_token, _stable, variable = data_provider.getReserveTokensAddresses(address)
        if int(str(a_token), 16) == 0:
            if symbol in ("USDC", "WBTC"):
                raise VenuesError(f"the Aave market of {book.path} (chain {book.chain_id}) does not list {symbol} "
                                  f"{address}: the strike bots need USDC and WBTC reserves")
            continue
        _record(d, f"aave_feed:{symbol}", "price feed", str(oracle.getSourceOfAsset(address)), "AaveOracle.getSourceOfAsset")
        _record(d, f"aave_a_token:{symbol}", "AToken", str(a_token), "AaveProtocolDataProvider.getReserveTokensAddresses")
        _record(d, f"aave_debt_token:{symbol}", "VariableDebtToken", str(variable),
                "AaveProtocolDataProvider.getReserveTokensAddresses")
    c["aave_market"] = market
    c["aave_pool"] = market.pool_contract()
    c["aave_oracle"] = oracle
    return market


def check_funds(d: Any, c: dict[str, Any], need: int) -> None:
    """The deployer holds ``need`` USDC base units for the treasury (a real token: nothing is minted).

    Raises:
        VenuesError: how much is short, and the ways out.
    """
    have = int(c["usdc"].balanceOf(d.account.address))
    if have < need:
        raise VenuesError(f"the deployer {d.account.address} holds {have / 1e6:,.2f} USDC and the treasury needs "
                          f"{need / 1e6:,.2f}: send it USDC ({c['usdc'].address}), or lower --bots/--capital")


#: LibAllocation's default weights (long, short, AMM) in bps: what a fresh master's ``allocate()`` uses.
DEFAULT_WEIGHTS_BPS = (2_500, 2_500, 5_000)


def treasury_need(config: Any) -> int:
    """USDC base units a fresh system's treasury takes from the deployer: the allocation deposit at the
    default weights (strike bots) or ``capital x bots`` (AMM only), plus the free reserve."""
    from macrostrike.deploy.system import allocation_deposit, usdc

    bots = allocation_deposit(config, DEFAULT_WEIGHTS_BPS) if config.strike else \
        usdc(config.capital_per_bot_usd) * config.amm_bots
    return bots + usdc(config.treasury_reserve_usd)


def preflight(d: Any, c: dict[str, Any], book: Venues, config: Any) -> None:
    """Refuse, before anything is sent, a deploy the venues cannot carry: strike bots without an Aave
    market, WBTC or a V2 USDC/WBTC pair (their swaps go through DEX A's pair), ``--uniswap-v3`` without a
    Uniswap V3 pool in the venues file, or a deployer without the
    treasury's USDC (checked for a new system; a resumed one is checked at each deposit).

    Raises:
        VenuesError: what is missing and the way out.
    """
    if config.strike:
        lacking = [what for what, ok in (("an Aave V3 market (aave_v3.pool_addresses_provider)",
                                          bool(book.aave_pool_addresses_provider)),
                                         ("tokens.WBTC", "WBTC" in book.tokens),
                                         ("a V2 DEX with a USDC/WBTC pair", "dex_a_pair" in c)) if not ok]
        if lacking:
            raise VenuesError(f"the strike bots need {', '.join(lacking)}, which {book.path} does not give for chain "
                              f"{book.chain_id}: add them, or pass --long-bots 0 --short-bots 0 for an AMM-only system")
    if getattr(config, "uniswap_v3", False) and "v3_pool" not in c:
        raise VenuesError(f"--uniswap-v3 with existing venues uses the venues file's Uniswap V3, and {book.path} gives "
                          f"none with a USDC/WBTC pool for chain {book.chain_id}: add uniswap_v3 (factory, quoter_v2, "
                          "swap_router02), or pass --venues sandbox to deploy a sandbox V3")
    if "master" not in d.manifest.diamonds:
        check_funds(d, c, treasury_need(config))


def venues_of(manifest: Any, name: str = "") -> dict[str, Any]:
    """A venues file's chain entry naming the tokens, V2 DEXes, Uniswap V3, Aave market and feeds a (sandbox) deployment
    recorded: ``{"chains": {"<id>": entry}}`` of it lets another system use them with ``--venues FILE``.

    Args:
        manifest: a :class:`macrostrike.deploy.manifest.Manifest`.
        name: the chain's name in the file (default ``chain <id>``).
    """
    roles = manifest.contracts

    def source(role: str) -> dict[str, str]:
        return {"address": to_checksum_address(roles[role]["address"]),
                "source": f"deployment manifest of chain {manifest.chain_id} ({role})"}

    entry: dict[str, Any] = {"name": name or f"chain {manifest.chain_id}",
                             "tokens": {s: source(s.lower()) for s in ("USDC", "WBTC", "WETH") if s.lower() in roles},
                             "v2_dexes": [{"name": dex, "factory": source(f"{dex}_factory"), "router": source(f"{dex}_router")}
                                          for dex in ("dex_a", "dex_b") if f"{dex}_factory" in roles]}
    if "uniswap_v3" in manifest.venues:  # the sandbox's SwapRouter stands in for SwapRouter02 (same exactInput use)
        entry["uniswap_v3"] = {"factory": source("v3_factory"), "quoter_v2": source("v3_quoter"),
                               "swap_router02": source("v3_router")}
    if "aave_provider" in roles:
        entry["aave_v3"] = {"pool_addresses_provider": source("aave_provider")}
    entry["chainlink"] = {pair: source(f"aave_feed:{symbol}") for symbol, pair in FEED_OF.items()
                          if f"aave_feed:{symbol}" in roles}
    return {"schema": 1, "chains": {str(manifest.chain_id): entry}}
