"""Existing venues per chain: the address book and users' own venues files (``ape run deploy --venues``).

File format (``addressbook.json`` beside this module, rebuilt by ``tools/addressbook/generate.js`` from the
protocols' npm packages; a user's ``--venues FILE`` uses the same format)::

    {"schema": 1,
     "chains": {"<chain id>": {
        "name": "Ethereum mainnet",
        "v2_dexes": [{"name": "Uniswap V2", "factory": ADDR, "router": ADDR}, ...],
        "uniswap_v3": {"factory": ADDR, "quoter_v2": ADDR, "swap_router02": ADDR, "fee": 500},
        "aave_v3": {"pool_addresses_provider": ADDR},
        "chainlink": {"BTC/USD": ADDR, "ETH/USD": ADDR, "USDC/USD": ADDR, "NATIVE/USD": ADDR},
        "tokens": {"USDC": ADDR, "WBTC": ADDR, "WETH": ADDR},
        "missing": [{"what": "tokens.WBTC", "why": "..."}]}}}

``ADDR`` is an EIP-55 checksummed address string, or ``{"address": ADDR, "source": "package@version export"}``
(the address book gives the source of every address). ``v2_dexes[0]`` is DEX A, ``v2_dexes[1]`` DEX B of the
cross-DEX arbitrage; every section but ``tokens.USDC`` is optional. ``uniswap_v3.fee`` (optional) pins the
USDC/WBTC pool's fee tier (hundredths of a bip); without it the deploy takes the tier with the most in-range
liquidity (:func:`macrostrike.deploy.existing.use_v3`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import is_checksum_address

#: The address book shipped with the package.
ADDRESS_BOOK = Path(__file__).with_name("addressbook.json")
#: Chain ids of local development chains (Anvil, Hardhat, Ganache): the sandbox is the default there.
DEV_CHAIN_IDS = frozenset({31337, 1337})
#: ``NATIVE/USD``: the gas token's USD feed where it is not ETH (POL, AVAX); the keeper prices gas with it.
FEED_PAIRS = ("BTC/USD", "ETH/USD", "USDC/USD", "NATIVE/USD")
TOKEN_SYMBOLS = ("USDC", "WBTC", "WETH")


class VenuesError(ValueError):
    """A venues file is unreadable or malformed, or names no entry for the connected chain (one line)."""


@dataclass(frozen=True)
class V2Dex:
    """A Uniswap V2 style DEX: its factory and Router02."""

    name: str
    factory: str
    router: str


@dataclass
class Venues:
    """The existing venues, feeds and tokens of one chain, and where each address came from."""

    chain_id: int
    name: str
    path: Path
    tokens: dict[str, str]
    v2_dexes: list[V2Dex] = field(default_factory=list)
    uniswap_v3: dict[str, str] = field(default_factory=dict)
    #: ``uniswap_v3.fee``: the USDC/WBTC pool's fee tier to use (None: the most liquid tier).
    v3_fee: int | None = None
    aave_pool_addresses_provider: str | None = None
    feeds: dict[str, str] = field(default_factory=dict)
    #: ``"tokens.USDC"`` -> source text (``package@version export``) or ``path`` for a user's file.
    sources: dict[str, str] = field(default_factory=dict)

    def addresses(self) -> dict[str, str]:
        """Every address by its place in the file (``"v2_dexes.0.factory"``, ``"tokens.USDC"`` …)."""
        out = {f"tokens.{s}": a for s, a in self.tokens.items()}
        for i, dex in enumerate(self.v2_dexes):
            out[f"v2_dexes.{i}.factory"], out[f"v2_dexes.{i}.router"] = dex.factory, dex.router
        out.update({f"uniswap_v3.{k}": a for k, a in self.uniswap_v3.items()})
        if self.aave_pool_addresses_provider:
            out["aave_v3.pool_addresses_provider"] = self.aave_pool_addresses_provider
        out.update({f"chainlink.{p}": a for p, a in self.feeds.items()})
        return out

    def record(self) -> dict[str, Any]:
        """JSON-ready summary for the deployment manifest (``venues.existing``)."""
        return {"file": str(self.path), "chain": self.name,
                "addresses": {k: {"address": a, "source": self.sources.get(k, str(self.path))}
                              for k, a in self.addresses().items()}}


def read_book(path: Path) -> dict[str, Any]:
    """The parsed file. Raises :class:`VenuesError` (one line) when it is missing or not JSON."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise VenuesError(f"venues file {path} does not exist: give the path of a JSON file in the address "
                          f"book's format ({ADDRESS_BOOK})") from None
    except (OSError, json.JSONDecodeError) as err:
        raise VenuesError(f"venues file {path} is not readable JSON ({err}): fix it (format: {ADDRESS_BOOK})") from None
    if not isinstance(data, dict) or not isinstance(data.get("chains"), dict):
        raise VenuesError(f"venues file {path} has no \"chains\" object keyed by chain id (format: {ADDRESS_BOOK})")
    return data


def _address(value: Any, where: str, path: Path) -> tuple[str, str | None]:
    """``(address, source)`` of one entry; VenuesError unless an EIP-55 checksummed address."""
    address, source = (value.get("address"), value.get("source")) if isinstance(value, dict) else (value, None)
    if not isinstance(address, str) or not is_checksum_address(address):
        raise VenuesError(f"venues file {path}: {where} = {address!r} is not an EIP-55 checksummed address: "
                          "correct it (eth_utils.to_checksum_address gives the checksummed form)")
    return address, source


def parse_chain(entry: Any, chain_id: int, path: Path) -> Venues:
    """One chain's entry of a venues file.

    Args:
        entry: the JSON object under ``chains.<chain_id>``.
        chain_id: its chain id.
        path: the file (for messages and as the source of addresses without one).

    Returns:
        The :class:`Venues` (addresses checksummed, sources kept).

    Raises:
        VenuesError: an address is malformed, or USDC (the treasury asset) is absent.
    """
    where = f"chains.{chain_id}"
    if not isinstance(entry, dict):
        raise VenuesError(f"venues file {path}: {where} is not a JSON object")
    sources: dict[str, str] = {}

    def take(value: Any, key: str) -> str:
        address, source = _address(value, f"{where}.{key}", path)
        sources[key] = source or str(path)
        return address

    tokens = {s: take(a, f"tokens.{s}") for s, a in (entry.get("tokens") or {}).items() if s in TOKEN_SYMBOLS}
    if "USDC" not in tokens:
        raise VenuesError(f"venues file {path}: {where}.tokens.USDC is missing: the treasury holds USDC, add its address")
    dexes = [V2Dex(name=str(d.get("name", f"V2 DEX {i}")), factory=take(d.get("factory"), f"v2_dexes.{i}.factory"),
                   router=take(d.get("router"), f"v2_dexes.{i}.router"))
             for i, d in enumerate(entry.get("v2_dexes") or [])]
    v3 = {k: take(a, f"uniswap_v3.{k}") for k, a in (entry.get("uniswap_v3") or {}).items() if k != "fee"}
    v3_fee = (entry.get("uniswap_v3") or {}).get("fee")
    if v3_fee is not None and (not isinstance(v3_fee, int) or isinstance(v3_fee, bool) or not 0 < v3_fee < 1_000_000):
        raise VenuesError(f"venues file {path}: {where}.uniswap_v3.fee = {v3_fee!r} is not a fee tier in hundredths of a bip "
                          "(500 for 0.05 %, 3000 for 0.3 %): correct it or drop it")
    aave = (entry.get("aave_v3") or {}).get("pool_addresses_provider")
    feeds = {p: take(a, f"chainlink.{p}") for p, a in (entry.get("chainlink") or {}).items() if p in FEED_PAIRS}
    return Venues(chain_id=chain_id, name=str(entry.get("name", f"chain {chain_id}")), path=path, tokens=tokens,
                  v2_dexes=dexes, uniswap_v3=v3, v3_fee=v3_fee, feeds=feeds, sources=sources,
                  aave_pool_addresses_provider=take(aave, "aave_v3.pool_addresses_provider") if aave else None)


def load(chain_id: int, path: Path = ADDRESS_BOOK) -> Venues:
    """The venues of ``chain_id`` in the file at ``path`` (the address book by default).

    Raises:
        VenuesError: the file is unreadable or malformed, or has no entry for ``chain_id`` (the message
            names the chain and the file to edit).
    """
    book = read_book(path)
    entry = book["chains"].get(str(chain_id))
    if entry is None:
        raise VenuesError(f"no venues for chain {chain_id} in {path}: add a \"{chain_id}\" entry there (same format), "
                          "or pass --venues sandbox to deploy the project's own tokens and venues")
    return parse_chain(entry, chain_id, path)


def resolve(choice: str | None, chain_id: int) -> Venues | None:
    """What ``--venues`` means on the connected chain: None for the sandbox, else the existing venues.

    Args:
        choice: ``"sandbox"``, ``"existing"``, a file path, or None for the default (``existing`` on a
            chain the address book lists, ``sandbox`` on a local development chain and elsewhere).
        chain_id: the connected chain's id.

    Raises:
        VenuesError: ``existing`` on a chain without an address-book entry, or a bad FILE (one line).
    """
    if choice == "sandbox":
        return None
    if choice is None:
        if chain_id in DEV_CHAIN_IDS or str(chain_id) not in read_book(ADDRESS_BOOK)["chains"]:
            return None
        choice = "existing"
    if choice == "existing":
        return load(chain_id)
    return load(chain_id, Path(choice).expanduser().resolve())
