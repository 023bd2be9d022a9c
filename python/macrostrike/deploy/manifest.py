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
      "config": {...},                 # what the deploy was asked for (bots, capital, liquidity)
      "venues": {                      # trading venues by name (absent in older manifests)
        "uniswap_v3": {"factory": "0x…", "router": "0x…", "quoter": "0x…", "position_manager": "0x…",
                       "pools": {"USDC/WBTC/500": "0x…"}}
      }
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
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


#: Previous versions of a manifest kept next to it (``<chain-id>.json.1`` newest … ``.5`` oldest).
BACKUPS_KEPT = 5


class ManifestError(RuntimeError):
    """The manifest is missing, unreadable or does not belong to the connected chain."""


class ManifestMissing(ManifestError):
    """No manifest file for the connected chain (nothing deployed there yet, or another folder)."""


class ManifestDamaged(ManifestError):
    """The manifest file exists but is not a manifest (truncated, hand-edited, another schema).

    Attributes:
        path: the file.
        problem: what is wrong with it (the JSON decoder's message, a missing field…).
    """

    def __init__(self, path: Path, problem: str, fix: str | None = None) -> None:
        self.path = path
        self.problem = problem
        fix = fix or f"restore it ({backups_hint(path)}) or from version control"
        super().__init__(f"deployment manifest {path} is damaged ({problem}): {fix}")


class ManifestWrongChain(ManifestError):
    """The manifest was written for another chain (another chain id, or another genesis block)."""


class ManifestStale(ManifestError):
    """The manifest names a system that is not on the connected chain (a new chain with the same id:
    another genesis, or the recorded addresses hold no code). Only the deploy raises it."""


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
    venues: dict[str, dict[str, Any]] = field(default_factory=dict)

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
            **({"venues": self.venues} if self.venues else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        if data.get("schema") != SCHEMA_VERSION:
            raise ManifestError(f"manifest schema {data.get('schema')!r} is not {SCHEMA_VERSION}")
        for key, kind in (("genesis_hash", str), ("contracts", dict), ("diamonds", dict), ("config", dict),
                          ("venues", dict)):
            if key in data and not isinstance(data[key], kind):
                raise TypeError(f"field {key!r} is not a JSON {'string' if kind is str else 'object'}")
        return cls(
            chain_id=int(data["chain_id"]),
            genesis_hash=data["genesis_hash"],
            network=data.get("network", ""),
            deployer=data.get("deployer", ""),
            contracts=data.get("contracts", {}),
            diamonds=data.get("diamonds", {}),
            config=data.get("config", {}),
            venues=data.get("venues", {}),
        )

    def address(self, role: str) -> str:
        """Address of the contract or diamond recorded under ``role``; ManifestError if absent."""
        if role in self.diamonds:
            return self.diamonds[role]["address"]
        if role in self.contracts:
            return self.contracts[role]["address"]
        raise ManifestError(f"the manifest has no contract '{role}': run `ape run deploy` first")

    def save(self, path: Path, *, backup: bool = False) -> None:
        """Write atomically (see :func:`write_atomic`); ``backup``: keep the previous version first
        (see :func:`rotate_backups`) when the content changes."""
        text = self.text()
        if backup and path.is_file() and path.read_text(errors="replace") != text:
            rotate_backups(path)
        write_atomic(path, text)

    def text(self) -> str:
        """The file content :meth:`save` writes."""
        return json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` so that a crash leaves either the old or the new file, never a mix:
    a temporary file in the same directory, flushed and fsynced, then ``os.replace`` and an fsync of
    the directory (the rename itself is durable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def backups_hint(path: Path, keep: int = BACKUPS_KEPT) -> str:
    """``from 31337.json.1, the newest of 3 backups`` (or ``no backup of it here``), for messages."""
    found = [g for g in range(1, keep + 1) if backup_path(path, g).is_file()]
    if not found:
        return f"no backup of it in {path.parent}"
    return f"from {backup_path(path, found[0]).name}, the newest of {len(found)} backup(s)"


def backup_path(path: Path, generation: int = 1) -> Path:
    """``<path>.<generation>``: generation 1 is the newest previous version."""
    return path.with_name(f"{path.name}.{generation}")


def rotate_backups(path: Path, keep: int = BACKUPS_KEPT) -> Path | None:
    """Keep the current ``path`` as ``<path>.1`` (``.1`` -> ``.2`` … the oldest beyond ``keep`` dropped).

    The current file is copied (not moved), so ``path`` stays in place until its replacement is written.

    Args:
        path: the manifest file.
        keep: how many previous versions to keep.

    Returns:
        The backup written (``<path>.1``), or None when ``path`` does not exist.
    """
    if not path.is_file():
        return None
    for generation in range(keep - 1, 0, -1):
        older = backup_path(path, generation)
        if older.is_file():
            os.replace(older, backup_path(path, generation + 1))
    newest = backup_path(path, 1)
    write_atomic(newest, path.read_text(errors="replace"))
    return newest


def move_aside(path: Path, keep: int = BACKUPS_KEPT) -> Path | None:
    """Move ``path`` out of the way as its newest backup (``<path>.1``); what ``--new-system`` does.

    Returns:
        The backup (``<path>.1``), or None when ``path`` does not exist.
    """
    kept = rotate_backups(path, keep)
    if kept is not None:
        path.unlink()
    return kept


def load(path: Path) -> Manifest:
    """Read a manifest file.

    Args:
        path: the manifest file.

    Returns:
        The manifest.

    Raises:
        ManifestMissing: no file at ``path`` (one line, with the deploy command).
        ManifestDamaged: the file is not valid JSON or not a manifest (one line: the file, the problem).
    """
    if not path.is_file():
        raise ManifestMissing(f"no deployment manifest at {path}: run `ape run deploy` on this network first "
                              "(or set MACROSTRIKE_DEPLOYMENTS to the folder that holds it)")
    try:
        data = json.loads(path.read_text(errors="replace"))
        if not isinstance(data, dict):
            raise ValueError(f"a JSON {type(data).__name__}, not an object")
        return Manifest.from_json(data)
    except (ValueError, KeyError, TypeError, ManifestError) as err:
        raise ManifestDamaged(path, f"missing field {err}" if isinstance(err, KeyError) else str(err)) from err


def load_for_chain(chain_id: int, genesis_hash: str, root: Path | None = None, *, fork: bool = False) -> Manifest:
    """Load the manifest of the connected chain, refusing one written for another chain instance.

    Args:
        chain_id: the connected chain's id.
        genesis_hash: hash of its block 0 (0x-hex).
        root: project folder (see :func:`manifest_path`).
        fork: read ``<chain-id>-fork.json``.

    Returns:
        The manifest.

    Raises:
        ManifestMissing, ManifestDamaged: see :func:`load`.
        ManifestWrongChain: the file's chain id or genesis is not the connected chain's (names the
            real path and both chains).
    """
    path = manifest_path(chain_id, root, fork=fork)
    manifest = load(path)
    if manifest.chain_id != chain_id or manifest.genesis_hash.lower() != genesis_hash.lower():
        raise ManifestWrongChain(
            f"{path} was written for another chain (chain id {manifest.chain_id}, genesis "
            f"{manifest.genesis_hash[:10]}…) than the connected one (chain id {chain_id}, genesis "
            f"{genesis_hash[:10]}…): connect to that chain, or set MACROSTRIKE_DEPLOYMENTS to this chain's folder"
        )
    return manifest
