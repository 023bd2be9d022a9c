"""Deployment manifest: ``deployments/<chain-id>.json``.

Shape (all addresses checksummed, blocks are block numbers, hashes 0x-hex)::

    {
      "schema": 1,
      "chain_id": 31337,
      "genesis_hash": "0x…",          # block 0: tells a fresh local chain from the recorded one
      "network": "ethereum:local:foundry",
      "deployer": "0x…",
      "contracts": {                   # every deployed contract, by role
        "<role>": {"contract": "UniswapV2Factory", "address": "0x…", "block": 12,
                   "tx": "0x…", "artifact_hash": "0x…", "code_hash": "0x…"},
        "facet:<Name>": {…, "create2": {"deployer": "0x4e59…956C", "salt": "0x…"}},  # CREATE2
        "<role>": {"contract": "…", "address": "0x…", "pending": true, "from": "0x…", "nonce": 7, …}
      },                               # pending: written just before a CREATE is sent (resume)
      "diamonds": {                    # per diamond: facet name -> selectors (0x-hex, 4 bytes)
        "<role>": {"address": "0x…", "facets": {"ArbitrageFacet": {"address": "0x…", "selectors": [...]}}}
      },
      "config": {...}                  # what the deploy was asked for (bots, capital, liquidity)
    }

``artifact_hash`` is keccak256 of creation code + ABI-encoded constructor arguments, so a
changed source or argument shows up as a different hash and triggers a redeploy;
``code_hash`` is keccak256 of the runtime code read back from the chain after deployment.
``block`` is null and ``tx`` empty when a contract was adopted (deployed by an interrupted run,
or already on chain at its CREATE2 address) and the node keeps no history to find its creation.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


class ManifestError(RuntimeError):
    """The manifest is missing, unreadable or does not belong to the connected chain."""


def manifest_path(chain_id: int, root: Path | None = None, fork: bool = False) -> Path:
    """``<dir>/<chain_id>.json``: ``dir`` is ``$MACROSTRIKE_DEPLOYMENTS`` if set, else
    ``<root>/deployments`` with ``root`` defaulting to the Ape project path.

    ``fork=True`` gives ``<dir>/<chain_id>-fork.json``: what a deploy or upgrade rehearsed on a
    fork of that chain wrote (the fork has the upstream's chain id and genesis)."""
    name = f"{chain_id}-fork.json" if fork else f"{chain_id}.json"
    if root is None and os.environ.get("MACROSTRIKE_DEPLOYMENTS"):
        return Path(os.environ["MACROSTRIKE_DEPLOYMENTS"]) / name
    if root is None:
        from ape import project

        root = Path(project.path)
    return Path(root) / "deployments" / name


@dataclass
class Manifest:
    """In-memory manifest; :meth:`save` writes it atomically."""

    chain_id: int
    genesis_hash: str
    network: str = ""
    deployer: str = ""
    contracts: dict[str, dict[str, Any]] = field(default_factory=dict)
    diamonds: dict[str, dict[str, Any]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "chain_id": self.chain_id,
            "genesis_hash": self.genesis_hash,
            "network": self.network,
            "deployer": self.deployer,
            "contracts": self.contracts,
            "diamonds": self.diamonds,
            "config": self.config,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Manifest":
        if data.get("schema") != SCHEMA_VERSION:
            raise ManifestError(f"manifest schema {data.get('schema')!r} is not {SCHEMA_VERSION}")
        return cls(
            chain_id=int(data["chain_id"]),
            genesis_hash=data["genesis_hash"],
            network=data.get("network", ""),
            deployer=data.get("deployer", ""),
            contracts=data.get("contracts", {}),
            diamonds=data.get("diamonds", {}),
            config=data.get("config", {}),
        )

    def address(self, role: str) -> str:
        """Address of the contract or diamond recorded under ``role``; ManifestError if absent."""
        if role in self.diamonds:
            return self.diamonds[role]["address"]
        if role in self.contracts:
            return self.contracts[role]["address"]
        raise ManifestError(f"the manifest has no contract '{role}': run `ape run deploy` first")

    def save(self, path: Path) -> None:
        """Write atomically (temp file + rename) so an interrupted write never corrupts it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)


def load(path: Path) -> Manifest:
    """Read a manifest file; ManifestError (one line, with the fix) if missing or malformed."""
    if not path.is_file():
        raise ManifestError(f"no deployment manifest at {path}: run `ape run deploy` on this network first")
    try:
        return Manifest.from_json(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as err:
        raise ManifestError(f"deployment manifest {path} is unreadable ({err}): delete it and redeploy") from err


def load_for_chain(chain_id: int, genesis_hash: str, root: Path | None = None) -> Manifest:
    """Load the manifest of the connected chain, refusing one written for another chain instance."""
    manifest = load(manifest_path(chain_id, root))
    if manifest.genesis_hash != genesis_hash:
        raise ManifestError(
            f"deployments/{chain_id}.json was written for another chain (genesis {manifest.genesis_hash[:10]}…, "
            f"connected {genesis_hash[:10]}…): run `ape run deploy` on this chain"
        )
    return manifest
