"""What a keeper needs to know about a deployed system, built from the deployment manifest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import decode
from eth_utils import event_abi_to_log_topic, keccak

from macrostrike.deploy.manifest import Manifest, load_for_chain
from macrostrike.keeper.errors import error_table

GET_RESERVES = bytes.fromhex("0902f1ac")  # getReserves() -> (uint112, uint112, uint32)
SYNC_TOPIC = keccak(text="Sync(uint112,uint112)")


def project_contract_types(*names: str) -> list[Any]:
    """The Ape contract types of ``names`` that this project has built (a name it has not is skipped)."""
    from ape import project

    types = []
    for name in names:
        try:
            types.append(getattr(project, name).contract_type)
        except (AttributeError, KeyError):  # a contract not built (yet) in this project
            continue
    return types


def abi_json(*contract_types: Any) -> list[dict[str, Any]]:
    """Merge the ABIs of Ape contract types into one web3-style ABI list (facets of one diamond)."""
    seen: set[str] = set()
    merged: list[dict[str, Any]] = []
    for ct in contract_types:
        for item in ct.abi:
            entry = item.model_dump(mode="json", by_alias=True, exclude_none=True)
            key = repr(sorted((k, repr(v)) for k, v in entry.items()))
            if key not in seen:
                seen.add(key)
                merged.append(entry)
    return merged


def diamond_at(project: Any, address: str, *facets: str) -> Any:
    """An Ape contract instance at diamond ``address`` with the merged ABI of ``facets`` (names of
    the project's facet contracts), so one handle calls functions and decodes errors and events of
    every facet cut into it (e.g. ``*deploy.system.STRIKE_FACETS`` for a strike child)."""
    from ape import chain
    from ethpm_types import ContractType

    types = [getattr(project, name).contract_type for name in facets]
    merged = ContractType.model_validate({"contractName": "+".join(facets), "abi": abi_json(*types)})
    return chain.contracts.instance_at(address, contract_type=merged)


def cache_chain_id(web3: Any) -> Any:
    """Let ``web3``'s provider answer ``eth_chainId`` from its cache (returns ``web3``).

    web3.py's validation middleware asks the node for the chain id before every ``eth_call`` and
    ``eth_estimateGas`` — two extra round trips per simulation (measured in ``bench/``). The chain
    id of a connection does not change, so only that method is cached; nothing else is.
    """
    provider = web3.provider
    if hasattr(provider, "cache_allowed_requests"):
        provider.cache_allowed_requests = True
        provider.cacheable_requests = {"eth_chainId"}
    return web3


def connected_manifest() -> Manifest:
    """The manifest of the connected chain (raises ManifestError with the fix if there is none)."""
    from ape import chain

    genesis = chain.provider.web3.eth.get_block(0)["hash"].hex()
    return load_for_chain(chain.provider.chain_id, genesis if genesis.startswith("0x") else "0x" + genesis)


@dataclass
class Pool:
    """A Uniswap V2 USDC/WBTC pair; reserves are returned as ``(quote, base)`` base units."""

    address: str
    quote_is_token0: bool

    def reserves(self, web3: Any, block: str | int = "latest") -> tuple[int, int]:
        raw = web3.eth.call({"to": self.address, "data": GET_RESERVES}, block)
        r0, r1, _ = decode(["uint112", "uint112", "uint32"], bytes(raw))
        return (r0, r1) if self.quote_is_token0 else (r1, r0)


#: DEX B's reserves on a system with one V2 DEX (its arbitrage is V2↔V3 only: no pair B).
NO_PAIR: tuple[int, int] = (0, 0)


class AmmContext:
    """The AMM child diamond, its two pools and decoding tables, from a manifest."""

    def __init__(self, manifest: Manifest) -> None:
        from ape import chain, project

        self.manifest = manifest
        self.web3 = cache_chain_id(chain.provider.web3)
        self.amm_address = manifest.address("amm")
        self.usdc = manifest.address("usdc")
        facets = [project.ArbitrageFacet, project.BotRegistryFacet, project.PerformanceFacet,
                  project.ChildCoordinationFacet, project.VenueArbitrageFacet]
        self.abi = abi_json(*(f.contract_type for f in facets))
        self.errors = error_table(self.abi)
        self.amm = self.web3.eth.contract(address=self.amm_address, abi=self.abi)
        self.pools = []
        for role in ("dex_a_pair", "dex_b_pair"):
            if role == "dex_b_pair" and role not in manifest.contracts:  # one V2 DEX (+ V3): no pair B
                continue
            address = manifest.address(role)
            token0 = decode(["address"], bytes(self.web3.eth.call({"to": address, "data": "0x0dfe1681"})))[0]
            self.pools.append(Pool(address=address, quote_is_token0=token0.lower() == self.usdc.lower()))
        self._events = {e["name"]: e for e in self.abi if e.get("type") == "event"}
        from macrostrike.keeper.v3arb import V3Venue

        #: DEX C, the Uniswap V3 pool (None on a system deployed without it)
        self.v3: V3Venue | None = V3Venue.from_manifest(self.web3, manifest)

    def reserves(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """``((quote_a, base_a), (quote_b, base_b))`` of DEX A and DEX B, base units (DEX B: :data:`NO_PAIR`
        on a system with one V2 DEX)."""
        return self.pools[0].reserves(self.web3), self.pools[1].reserves(self.web3) if len(self.pools) > 1 else NO_PAIR

    def reserves_from_logs(self, logs: list[Any]) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """Both pools' reserves after a transaction, from the last Uniswap V2 ``Sync`` event each pair
        emitted in its receipt (``Sync(uint112 reserve0, uint112 reserve1)``, emitted by every swap);
        None unless both pairs emitted one."""
        found: dict[str, tuple[int, int]] = {}
        for log in logs:
            topics = log["topics"]
            if not topics or bytes(topics[0]) != SYNC_TOPIC:
                continue
            found[str(log["address"]).lower()] = decode(["uint112", "uint112"], bytes(log["data"]))
        out = []
        for pool in self.pools:
            pair = found.get(pool.address.lower())
            if pair is None:
                return None
            out.append((pair[0], pair[1]) if pool.quote_is_token0 else (pair[1], pair[0]))
        return out[0], out[1] if len(out) > 1 else NO_PAIR

    def logs(self, name: str, from_block: int, to_block: int, *, max_range: int = 2_000) -> list[Any]:
        """Raw logs of event ``name`` from the AMM diamond in ``[from_block, to_block]``, read in
        chunks of at most ``max_range`` blocks (:func:`macrostrike.keeper.logs.get_logs`)."""
        from macrostrike.keeper.logs import get_logs

        topic = event_abi_to_log_topic(self._events[name])
        return get_logs(self.web3, {"address": self.amm_address, "fromBlock": from_block, "toBlock": to_block,
                                    "topics": ["0x" + topic.hex()]}, max_range=max_range)

    def decode_event(self, name: str, logs: list[Any]) -> list[dict[str, Any]]:
        """Decode every log of event ``name`` emitted by the AMM diamond in ``logs``."""
        abi = self._events[name]
        topic = event_abi_to_log_topic(abi)
        out = []
        for log in logs:
            if log["address"].lower() != self.amm_address.lower() or not log["topics"] \
                    or bytes(log["topics"][0]) != topic:
                continue
            out.append(dict(self.amm.events[name]().process_log(log)["args"]))
        return out
