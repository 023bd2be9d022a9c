"""Deploy the whole macrostrike system, re-using whatever is already deployed and unchanged.

Order: test tokens (USDC 6 decimals, WBTC 8 decimals) → WETH9 → two independent Uniswap V2
factories with a Router02 each → the USDC/WBTC pair on both, seeded with liquidity → (with
``DeployConfig.uniswap_v3``) Uniswap V3 and its USDC/WBTC 0.05 % pool, seeded with concentrated
positions → facets → master diamond → the three child diamonds → registry, keepers, bots,
treasury deposit, funding.

Every step first looks at the chain (and the manifest) and sends nothing when the wanted state
is already there, so running the deploy twice on one chain sends no transaction the second time.

Resumable: the manifest is written after every deployment, and *before* every CREATE deployment
a "pending" entry records the deploying account's nonce and the address that nonce will create
(``keccak256(rlp([sender, nonce]))[12:]``). A run interrupted between broadcast and manifest write
finds the contract at that address on resume and adopts it instead of deploying it again.

Deterministic: facets and diamond init contracts (constructor-less, stateless: their storage
lives in the diamonds) are deployed with CREATE2 through the canonical deterministic-deployment
proxy (:mod:`macrostrike.deploy.create2`), so unchanged bytecode has the same address on every
chain and is reused wherever it already exists. Tokens, WETH9, the Uniswap contracts and the
diamonds stay CREATE: they have constructor arguments and per-deployment state.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import rlp
from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from macrostrike.amm import v3math
from macrostrike.deploy import aave as aavelib
from macrostrike.deploy import create2
from macrostrike.deploy import cuts as cutlib
from macrostrike.deploy import drift
from macrostrike.deploy import existing as existing_venues
from macrostrike.deploy import venues
from macrostrike.deploy.manifest import (
    Manifest,
    ManifestDamaged,
    ManifestError,
    ManifestMissing,
    ManifestStale,
    ManifestWrongChain,
    backups_hint,
    load_for_chain,
    manifest_path,
    move_aside,
    rotate_backups,
    write_atomic,
)
from macrostrike.upgrade.layout import record_storage_layouts

USDC_DECIMALS = 6
WBTC_DECIMALS = 8

CORE_FACETS = ("DiamondCutFacet", "DiamondLoupeFacet", "OwnershipFacet")
MASTER_FACETS = CORE_FACETS + ("ChildRegistryFacet", "TreasuryFacet", "MasterStatsFacet", "EmergencyFacet",
                               "AllocationFacet", "RiskFacet", "ExposureFacet")
CHILD_FACETS = CORE_FACETS + ("BotRegistryFacet", "ChildCoordinationFacet", "PerformanceFacet", "RiskLimitsFacet")
#: The strike facets of LongStrikeDiamond / ShortStrikeDiamond: trading, configuration and views, holders,
#: owner-only recovery (repay debt, write off bad debt, sweep asset dust), time protocol and volatility breaker.
STRIKE_FACETS = ("StrikeFacet", "StrikeConfigFacet", "StrikePositionsFacet", "StrikeRecoveryFacet",
                 "StrikeProtocolsFacet")
#: role -> (diamond contract, facets, ChildKind as in LibMaster: Long=0, Short=1, AMM=2)
CHILDREN: dict[str, tuple[str, tuple[str, ...], int]] = {
    "long": ("LongStrikeDiamond", CHILD_FACETS + STRIKE_FACETS, 0),
    "short": ("ShortStrikeDiamond", CHILD_FACETS + STRIKE_FACETS, 1),
    "amm": ("AMMDiamond", CHILD_FACETS + ("ArbitrageFacet",), 2),
}

#: Facets the AMM diamond also routes on a system with a Uniswap V3 venue (``DeployConfig.uniswap_v3``):
#: V2↔V3 arbitrage (``executeV3Arbitrage``, ``uniswapV3SwapCallback``, ``setV3Venue``).
V3_AMM_FACETS = ("VenueArbitrageFacet",)


def child_facets(role: str, uniswap_v3: bool) -> tuple[str, ...]:
    """The facets of child ``role`` (:data:`CHILDREN`), plus :data:`V3_AMM_FACETS` on the AMM child of
    a system with a Uniswap V3 venue."""
    return CHILDREN[role][1] + (V3_AMM_FACETS if role == "amm" and uniswap_v3 else ())


#: ``bytes32`` strategy id of the cross-DEX arbitrage bots.
ARBITRAGE_STRATEGY = b"CROSS_DEX_ARB".ljust(32, b"\0")


@dataclass
class DeployConfig:
    """What to deploy. Amounts are whole units of the token (USD for USDC, BTC for WBTC)."""

    amm_bots: int = 50
    #: USDC each arbitrage bot is funded with ($8,000 per bot at the $800,000 reference size).
    capital_per_bot_usd: int = 8_000
    #: Extra USDC left in the master treasury after funding the bots.
    treasury_reserve_usd: int = 20_000
    #: USDC on each side of each pool; the WBTC side is ``pool_usd / initial_price_usd``.
    pool_usd: int = 2_000_000
    #: Price the pools are seeded at (USD per BTC); the replay then trades them to the history.
    initial_price_usd: float = 2_500.0
    #: Minimum profit per arbitrage (USDC) the keeper asks of bot i is
    #: ``min_profit_usd[i % len(min_profit_usd)]`` — stored as the bot's strategy params.
    min_profit_usd: tuple[float, ...] = (1.0, 1.5, 2.0, 2.5, 3.0)
    #: Keeper addresses allowed to trigger bots (the owner always may).
    keepers: Sequence[str] = field(default_factory=tuple)
    #: Strike bots on the long and on the short child (0..100 each). With any strike bot the deploy
    #: also deploys the Aave V3 market, binds the strike children to it, registers the keepers as
    #: risk keepers and funds every bot through the master's ``allocate()``. The library default is
    #: 0 (an AMM-only system, what most tests deploy); ``ape run deploy`` and the demo use 25 + 25.
    long_bots: int = 0
    short_bots: int = 0
    #: ETH/USD of the Aave market's WETH feed (the keeper's ``eth_usd_price`` assumption).
    eth_usd_price: float = 300.0
    #: Liquidity supplied to the Aave market by the deployer (USD of USDC, of WBTC, of WETH).
    aave_liquidity_usd: int = 2_000_000
    #: Each strike bot's slippageBps rule (swap output vs the oracle value, cumulative over an open's
    #: loop rounds). LibStrike's default (100) is below what the 0.3 % fee plus the price impact of a
    #: 2x position on a $2M pool plus the pools' noise around the oracle costs; the other rules keep
    #: LibStrike's defaults (5x max, 2.5 % stop-loss, HF 1.15, 7 days).
    strike_slippage_bps: int = 250
    #: Also deploy Uniswap V3 (factory, SwapRouter, QuoterV2, NonfungiblePositionManager) and a
    #: USDC/WBTC 0.05 % pool seeded at ``initial_price_usd`` with ``pool_usd`` of each token spread
    #: over the concentrated positions of :data:`macrostrike.deploy.venues.V3_POSITIONS`, and cut
    #: :data:`V3_AMM_FACETS` into the AMM diamond pointed at that pool (V2↔V3 arbitrage). Off by
    #: default: it adds 17 transactions (~1.5-2 s on Anvil) to a new deploy, which most of the suite's
    #: deploys do not need; the demo turns it on.
    uniswap_v3: bool = False
    #: Strike bots' entry rule: 0 = one signal per bot (momentum / mean reversion / breakout dealt
    #: round-robin); k in 1..4 = every strike bot acts on the k-of-4 vote of momentum, mean
    #: reversion, breakout and VWAP deviation (registered as strategy ``agreement``, k in its params).
    signal_agreement: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.amm_bots <= 100:
            raise ValueError(f"amm_bots={self.amm_bots} is out of range: use 1..100")
        for name in ("long_bots", "short_bots"):
            if not 0 <= getattr(self, name) <= 100:
                raise ValueError(f"{name}={getattr(self, name)} is out of range: use 0..100")
        if self.eth_usd_price <= 0 or self.aave_liquidity_usd <= 0:
            raise ValueError("eth_usd_price and aave_liquidity_usd must be positive")
        if self.capital_per_bot_usd <= 0 or self.pool_usd <= 0 or self.initial_price_usd <= 0:
            raise ValueError("capital_per_bot_usd, pool_usd and initial_price_usd must be positive")
        if not 0 <= self.signal_agreement <= 4:
            raise ValueError(f"signal_agreement={self.signal_agreement} is out of range: use 0 (one signal per bot) "
                             f"or 1..4 (k of the 4 signals)")

    @property
    def strike(self) -> bool:
        """Whether this system has strike bots (and so the Aave market)."""
        return self.long_bots + self.short_bots > 0


@dataclass
class System:
    """Handles to the deployed system (Ape contract instances) and its manifest."""

    manifest: Manifest
    contracts: dict[str, Any]
    transactions: int


def usdc(amount: float) -> int:
    """USD amount -> USDC base units (6 decimals)."""
    return int(round(amount * 10**USDC_DECIMALS))


def wbtc(amount: float) -> int:
    """BTC amount -> WBTC base units (8 decimals)."""
    return int(round(amount * 10**WBTC_DECIMALS))


def _hexsel(sels: Sequence[bytes]) -> list[str]:
    return ["0x" + bytes(s).hex() for s in sels]


class Deployer:
    """Idempotent deploy steps for one account on the connected chain.

    ``log`` receives one human line per action (``"deploy UniswapV2Factory dex_a at 0x…"``).
    """

    def __init__(self, account: Any, log: Callable[[str], None] = lambda _m: None, *,
                 new_system: bool = False) -> None:
        """Args:
            account: the deploying account.
            log: receives one human line per action.
            new_system: start a new system even if the manifest names one: the old file is moved
                aside (``<chain-id>.json.1``, see :func:`macrostrike.deploy.manifest.move_aside`).

        Raises:
            ManifestDamaged: the manifest is unreadable (and not ``new_system``).
            ManifestStale: the manifest names a system that is not on this chain (and not
                ``new_system``, and not a local Anvil this command started).
        """
        from ape import chain, project

        self.account = account
        self.chain = chain
        self.project = project
        self.log = log
        self.sent = 0
        self._proxy_ready = False
        chain_id = chain.provider.chain_id
        genesis = chain.provider.web3.eth.get_block(0)["hash"].hex()
        genesis = genesis if genesis.startswith("0x") else "0x" + genesis
        # On a fork (ape-foundry ``*-fork``) start from the upstream chain's manifest, which describes
        # the forked state, but write <chain-id>-fork.json: a rehearsal never touches the real manifest.
        self.is_fork = bool(getattr(chain.provider.network, "is_fork", False))
        self.path = manifest_path(chain_id, fork=self.is_fork)
        self._backed_up = not self.path.is_file()  # nothing to keep: the run creates the file
        self.manifest = self._open_manifest(chain_id, genesis, new_system)
        self.manifest.network = chain.provider.network_choice
        self.manifest.deployer = str(account.address)

    def _open_manifest(self, chain_id: int, genesis: str, new_system: bool) -> Manifest:
        """The manifest to continue from; a fresh one for a new system (see :meth:`__init__`)."""
        fresh = Manifest(chain_id=chain_id, genesis_hash=genesis)
        if new_system:
            kept = move_aside(self.path)
            self.log(f"--new-system: deploying a new system; the previous manifest is kept as {kept}" if kept
                     else "--new-system: deploying a new system (there was no manifest)")
            self._backed_up = True
            return fresh
        try:
            manifest = load_for_chain(chain_id, genesis)
        except ManifestMissing:
            return fresh
        except ManifestDamaged as err:
            name = err.path.name
            raise ManifestDamaged(err.path, err.problem, f"restore it ({backups_hint(err.path)}), or pass --new-system "
                                  f"to deploy a new system (the damaged file is then kept as {name}.1)") from None
        except ManifestWrongChain:
            reason = "it was written for another chain with this id (another genesis block)"
        else:
            missing = self._codeless(manifest)
            if not missing:
                return manifest
            reason = f"{len(missing)} of its recorded contracts have no code here ({', '.join(missing[:3])}…)"
        source = manifest_path(chain_id)
        if self._own_local_chain():
            kept = rotate_backups(self.path)
            self._backed_up = True
            self.log(f"{source} names a system that is not on this chain ({reason}): expected on the Anvil this "
                     f"command started, so a new system is deployed; the old manifest is kept as {kept}")
            return fresh
        raise ManifestStale(f"{source} names a system that is not on the connected chain ({reason}): connect to the "
                            f"node that holds it, or pass --new-system to deploy a new system (the file is then kept "
                            f"as {source.name}.1)")

    def _own_local_chain(self) -> bool:
        """Whether the chain is a local Anvil this command started (``ethereum:local:foundry`` with a
        process of its own): its state is new on every run, a stale manifest is expected there."""
        provider = self.chain.provider
        return (not self.is_fork and provider.chain_id in create2.LOCAL_CHAIN_IDS
                and getattr(provider, "process", None) is not None)

    def _codeless(self, manifest: Manifest) -> list[str]:
        """Roles of the manifest's deployed (not pending) contracts and diamonds that have no code on
        the chain, read with one batch of ``eth_getCode``."""
        entries = [(role, e["address"]) for section in (manifest.contracts, manifest.diamonds)
                   for role, e in section.items() if isinstance(e, dict) and e.get("address") and not e.get("pending")]
        web3 = self.chain.provider.web3
        try:
            with web3.batch_requests() as batch:
                for _, address in entries:
                    batch.add(web3.eth.get_code(to_checksum_address(address)))
                codes = batch.execute()
        except Exception:  # noqa: BLE001 - a provider without batch support: one call each
            codes = [web3.eth.get_code(to_checksum_address(address)) for _, address in entries]
        return [role for (role, _), code in zip(entries, codes) if not bytes(code)]

    # -- generic steps -------------------------------------------------------------------------
    def _code_hash(self, address: str) -> str:
        code = self.chain.provider.web3.eth.get_code(address)
        return "0x" + keccak(bytes(code)).hex() if code else ""

    def _deployment(self, instance: Any) -> dict[str, Any]:
        """Address, block, transaction and runtime code hash of a just-deployed contract."""
        tx = str(instance.txn_hash)
        receipt = self.chain.provider.web3.eth.get_transaction_receipt(tx)
        return {"address": str(instance.address), "block": int(receipt["blockNumber"]), "tx": tx,
                "code_hash": self._code_hash(instance.address)}

    #: gas limit of the one retry of a call that ran out of gas (unused gas is not charged)
    RETRY_GAS = 3_000_000

    def transact(self, what: str, method: Any, *args: Any) -> Any:
        """Send ``method(*args)`` from the deploy account, log it and count it. A call that fails
        with the node's "EVM error OutOfGas" is sent once more with ``RETRY_GAS``: the final CI saw a
        V3 position mint stop the deploy so (twice in one slow-suite run, never before, cause not
        found); an out-of-gas call changes nothing, so sending it again is safe."""
        from ape.exceptions import VirtualMachineError

        self.log(what)
        self.sent += 1
        try:
            return method(*args, sender=self.account)
        except VirtualMachineError as err:
            if "OutOfGas" not in str(err):
                raise
            self.log(f"  out of gas ({str(err).splitlines()[0][:120]}): sent once more with {self.RETRY_GAS:,} gas")
            self.sent += 1
            return method(*args, sender=self.account, gas=self.RETRY_GAS)

    def contract(self, role: str, container: Any, *args: Any, deterministic: bool = False) -> Any:
        """Deploy ``container(*args)`` as ``role`` unless the manifest's copy is live and identical.

        ``deterministic``: CREATE2 through the deterministic-deployment proxy with the project salt
        (:data:`macrostrike.deploy.create2.SALT`); code already at the predicted address is reused
        without a transaction. Otherwise CREATE from the deploy account, journalled as pending first.
        """
        ctype = container.contract_type
        creation = ctype.deployment_bytecode.bytecode if ctype.deployment_bytecode else "0x"
        ctor = container.constructor.encode_input(*args) if ctype.constructor.inputs else b""
        initcode = bytes.fromhex(creation[2:]) + bytes(ctor)
        artifact_hash = "0x" + keccak(initcode).hex()
        entry = self._settle(self.manifest.contracts, role)
        if entry and entry.get("artifact_hash") == artifact_hash and entry.get("code_hash") and \
                self._code_hash(entry["address"]) == entry["code_hash"]:
            return container.at(entry["address"])
        if deterministic:
            return container.at(self._create2(role, ctype.name, initcode, artifact_hash))
        return self._create(self.manifest.contracts, role, ctype.name,
                            lambda: self.account.deploy(container, *args), {"artifact_hash": artifact_hash})

    # -- CREATE with a pending journal, CREATE2 through the proxy -------------------------------
    def _create(self, section: dict[str, dict[str, Any]], role: str, name: str,
                send: Callable[[], Any], extra: dict[str, Any]) -> Any:
        """CREATE via ``send()``; a pending entry (nonce, predicted address) is saved before sending."""
        me = str(self.account.address)
        nonce = self.chain.provider.web3.eth.get_transaction_count(me, "pending")
        predicted = to_checksum_address(keccak(rlp.encode([bytes.fromhex(me[2:]), nonce]))[12:])
        section[role] = {"contract": name, "address": predicted, "pending": True, "from": me, "nonce": nonce,
                         **extra}
        self.save()
        self.log(f"deploy {name} as {role}")
        instance = send()
        self.sent += 1
        section[role] = {"contract": name, **self._deployment(instance), **extra}
        self.save()
        return instance

    def _settle(self, section: dict[str, dict[str, Any]], role: str) -> dict[str, Any] | None:
        """Resolve a pending entry left by an interrupted run: adopt the contract if its transaction
        was mined, forget the entry if it never was. Returns the (settled) entry or ``None``.

        Raises :class:`ManifestError` while the interrupted run's transaction is still in the mempool
        (deploying again then could create the contract twice)."""
        entry = section.get(role)
        if not entry or not entry.get("pending"):
            return entry
        web3 = self.chain.provider.web3
        address, sender, nonce = entry["address"], entry["from"], int(entry["nonce"])
        if web3.eth.get_code(address):
            block, tx = self._find_creation(address)
            settled = {k: v for k, v in entry.items() if k not in ("pending", "from", "nonce")}
            settled.update(block=block, tx=tx, code_hash=self._code_hash(address))
            self.log(f"adopt {entry['contract']} as {role} at {address}: deployed by the interrupted run")
            section[role] = settled
            self.save()
            return settled
        if web3.eth.get_transaction_count(sender, "latest") <= nonce < \
                web3.eth.get_transaction_count(sender, "pending"):
            raise ManifestError(f"the interrupted deploy's transaction for '{role}' (nonce {nonce} of {sender}) is "
                                "still pending: wait until it is mined, then run the deploy again")
        del section[role]
        self.save()
        return None

    def _find_creation(self, address: str) -> tuple[int | None, str]:
        """Block and transaction that created ``address`` (binary search on ``eth_getCode`` at past
        blocks); ``(None, "")`` when the node keeps no history (non-archive) or nothing matches."""
        web3 = self.chain.provider.web3
        try:
            lo, hi = 0, int(web3.eth.block_number)
            while lo < hi:
                mid = (lo + hi) // 2
                if web3.eth.get_code(address, block_identifier=mid):
                    hi = mid
                else:
                    lo = mid + 1
            block = web3.eth.get_block(lo, full_transactions=True)
        except Exception:  # noqa: BLE001 - nodes without history answer with assorted errors
            return None, ""
        for tx in block["transactions"]:
            data = bytes(tx.get("input", b""))
            if tx.get("to") is None:
                receipt = web3.eth.get_transaction_receipt(tx["hash"])
                if receipt["contractAddress"] and receipt["contractAddress"].lower() == address.lower():
                    return lo, "0x" + bytes(tx["hash"]).hex()
            elif str(tx["to"]).lower() == create2.PROXY_ADDRESS.lower() and len(data) >= 32 and \
                    create2.create2_address(data[32:], data[:32]).lower() == address.lower():
                return lo, "0x" + bytes(tx["hash"]).hex()
        return lo, ""

    def _create2(self, role: str, name: str, initcode: bytes, artifact_hash: str) -> str:
        """Deploy ``initcode`` at its CREATE2 address (or reuse the code there); record it; return the address."""
        if not self._proxy_ready:
            self.sent += create2.ensure_proxy(self.account, self.log)
            self._proxy_ready = True
        address = create2.create2_address(initcode)
        if self.chain.provider.web3.eth.get_code(address):
            self.log(f"reuse {name} as {role} at {address} (CREATE2, already on chain)")
            block, tx = self._find_creation(address)
        else:
            self.log(f"deploy {name} as {role} (CREATE2)")
            address, receipt = create2.deploy(self.account, initcode)
            self.sent += 1
            block, tx = int(receipt.block_number), str(receipt.txn_hash)
        self.manifest.contracts[role] = {
            "contract": name, "address": address, "block": block, "tx": tx,
            "code_hash": self._code_hash(address), "artifact_hash": artifact_hash,
            "create2": {"deployer": create2.PROXY_ADDRESS, "salt": "0x" + create2.SALT.hex()},
        }
        self.save()
        return address

    def save(self) -> None:
        """Write the manifest atomically; the first write of a run that changes it keeps the previous
        version as ``<file>.1`` (older ones shifted, :data:`macrostrike.deploy.manifest.BACKUPS_KEPT` kept)."""
        text = self.manifest.text()
        if not self._backed_up and self.path.is_file() and self.path.read_text(errors="replace") != text:
            rotate_backups(self.path)
            self._backed_up = True
        write_atomic(self.path, text)

    # -- diamonds ------------------------------------------------------------------------------
    def diamond(self, role: str, diamond_name: str, facets: dict[str, Any],
                init: Any, init_calldata: bytes) -> Any:
        """Deploy diamond ``role`` with ``facets`` (name -> instance), or bring a live one up to date.

        A live diamond whose routing differs from ``facets`` gets one ``diamondCut`` computed by
        :func:`macrostrike.deploy.cuts.plan_cut` (Remove, Replace, Add).
        """
        container = getattr(self.project, diamond_name)
        desired = {sel: str(f.address) for f in facets.values() for sel in cutlib.selectors_of(f.contract_type)}
        entry = self._settle(self.manifest.diamonds, role)
        live = entry and self._code_hash(entry["address"]) == entry.get("code_hash")
        if live:
            diamond = container.at(entry["address"])
            loupe = self.project.DiamondLoupeFacet.at(entry["address"])
            current = {bytes(s): str(f) for f, sels in loupe.facets() for s in sels}
            plan = cutlib.plan_cut(current, desired, immutable_facet=entry["address"])
            if plan:
                cutter = self.project.DiamondCutFacet.at(entry["address"])
                self.transact(f"diamondCut {role}: {len(plan)} cut(s)", cutter.diamondCut,
                              plan, cutlib.ZERO_ADDRESS, b"")
        else:
            cut = [cutlib.facet_cut(f) for f in facets.values()]
            diamond = self._create(self.manifest.diamonds, role, diamond_name, lambda: self.account.deploy(
                container, self.account.address, cut, init.address, init_calldata), {})
            entry = self.manifest.diamonds[role]
        entry["facets"] = {
            name: {"address": str(f.address), "selectors": _hexsel(cutlib.selectors_of(f.contract_type))}
            for name, f in facets.items()
        }
        record_storage_layouts(entry, facets, self.log)  # ERC-7201 layouts for the upgrade planner
        self.manifest.diamonds[role] = entry
        self.save()
        return diamond


class _Contracts:
    """``ape.project`` with some contract containers replaced (``name -> ContractContainer``)."""

    def __init__(self, overrides: Mapping[str, Any]) -> None:
        self._overrides = dict(overrides)

    def __getattr__(self, name: str) -> Any:
        from ape import project

        return self._overrides[name] if name in self._overrides else getattr(project, name)


def deploy_system(account: Any, config: DeployConfig | None = None,
                  log: Callable[[str], None] = lambda _m: None,
                  overrides: Mapping[str, Any] | None = None, *,
                  new_system: bool = False, reconfigure: bool | None = None, venues: str | None = None) -> System:
    """Deploy (or re-use) everything; returns handles and writes ``deployments/<chain-id>.json``.

    ``overrides``: contract name -> Ape ``ContractContainer`` to use instead of the project's
    build of that name (for instance a new build of one facet, which is then cut into every
    diamond that routes to the old one). Safe to re-run after an interruption at any point.

    Args:
        new_system: start over (see :class:`Deployer`).
        reconfigure: on a system whose deploy completed, compare ``config`` with the chain first
            (``ape run deploy`` does): True applies the differences transactions can apply (more
            bots, keepers), False refuses any difference before anything is sent; None (library
            use: tests, the demo) does not compare.

        venues: ``--venues``: ``"sandbox"``, ``"existing"`` (the address book's entry for the chain) or a
            venues file's path; None: existing on a chain the address book lists, else the sandbox, and on a
            recorded system its kind (:func:`macrostrike.deploy.existing.choose`).

    Raises:
        VenuesError: a bad ``--venues`` or venues file, no entry for the chain, too little USDC (nothing sent).
        ConfigMismatch: ``config`` differs from the deployed system (any difference without
            ``reconfigure``; one that cannot be applied with it). Nothing was sent.
        ManifestDamaged, ManifestStale: see :class:`Deployer`.
    """
    project = _Contracts(overrides or {})
    config = config or DeployConfig()
    d = Deployer(account, log, new_system=new_system)
    d.project = project
    recorded_keepers = _check_config(d, config, reconfigure)
    c: dict[str, Any] = {}

    # Tokens and venues -------------------------------------------------------------------------
    book = existing_venues.choose(d.manifest, venues, d.chain.provider.chain_id)
    if book is None:
        _deploy_sandbox_venues(d, c, config)
    else:  # --venues existing|FILE: the venues file's tokens, pairs, V3 pool, market and feeds; none deployed
        existing_venues.use_venues(d, c, book)
        existing_venues.preflight(d, c, book, config)

    # Facets and diamonds ------------------------------------------------------------------------
    # a system with a V3 venue keeps its V2↔V3 facet even when deployed again without the flag (never cut out)
    # (manifest.venues["uniswap_v3"]: the sandbox's V3, or an existing one wired from the venues file)
    with_v3 = "uniswap_v3" in d.manifest.venues
    names = sorted(set(MASTER_FACETS) | {n for role in CHILDREN for n in child_facets(role, with_v3)})
    facets = {n: d.contract(f"facet:{n}", getattr(project, n), deterministic=True) for n in names}
    master_init = d.contract("init:MasterInit", project.MasterInit, deterministic=True)
    child_init = d.contract("init:ChildInit", project.ChildInit, deterministic=True)
    c["master"] = d.diamond("master", "MasterDiamond", {n: facets[n] for n in MASTER_FACETS},
                            master_init, master_init.init.encode_input(c["usdc"].address))
    for role, (diamond_name, _, _) in CHILDREN.items():
        c[role] = d.diamond(role, diamond_name, {n: facets[n] for n in child_facets(role, with_v3)}, child_init,
                            child_init.init.encode_input(c["master"].address, c["usdc"].address))

    # Wiring ------------------------------------------------------------------------------------
    registry = project.ChildRegistryFacet.at(c["master"].address)
    for role, (_, _, kind) in CHILDREN.items():
        if not registry.isChild(c[role].address):
            d.transact(f"registerChild {role}", registry.registerChild, c[role].address, kind)
    amm_arb = project.ArbitrageFacet.at(c["amm"].address)
    want_pairs = tuple(str(c[k].address) for k in ("dex_a_pair", "dex_b_pair", "wbtc") if k in c)
    if len(want_pairs) == 3 and tuple(str(a) for a in amm_arb.arbitragePairs()) != want_pairs:
        d.transact("setArbitragePairs", amm_arb.setArbitragePairs, *want_pairs)
    elif len(want_pairs) == 2 and "dex_a_pair" in c and "v3_pool" in c:
        _set_v2_v3_pair(d, c, want_pairs)  # one V2 DEX: its pair and the V3 pool are the two venues
    if "v3_factory" in c:
        _set_v3_venue(d, c)
    for role in CHILDREN:
        bots = project.BotRegistryFacet.at(c[role].address)
        for keeper in config.keepers:
            if not bots.isKeeper(keeper):
                d.transact(f"setKeeper {keeper} on {role}", bots.setKeeper, keeper, True)

    # Bots: min profit spread over the bots, ids 1..amm_bots --------------------------------------
    amm_bots = project.BotRegistryFacet.at(c["amm"].address)
    existing = amm_bots.botCount()
    for i in range(existing, config.amm_bots):
        params = encode(["uint256"], [usdc(config.min_profit_usd[i % len(config.min_profit_usd)])])
        d.transact(f"registerBots amm #{i + 1}", amm_bots.registerBots, 1, ARBITRAGE_STRATEGY, params)

    treasury = project.TreasuryFacet.at(c["master"].address)
    if config.strike:
        market = existing_venues.aave_market(d, c, book) if book else _deploy_aave(d, c, config)
        _deploy_strike(d, c, config, market)
        _fund_by_allocation(d, c, config)
    else:
        _fund_amm_bots(d, c, config, treasury, amm_bots)

    d.manifest.config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()}
    # keepers stay keepers on chain: the record names the earlier ones too
    d.manifest.config["keepers"] = sorted({to_checksum_address(k) for k in (*recorded_keepers, *config.keepers)})
    d.save()
    return System(manifest=d.manifest, contracts=c, transactions=d.sent)


def _deploy_sandbox_venues(d: Deployer, c: dict[str, Any], config: DeployConfig) -> None:
    """The sandbox (``--venues sandbox``): test tokens, WETH9, two Uniswap V2 factories with a Router02 each and
    their seeded USDC/WBTC pairs, and (``config.uniswap_v3``) Uniswap V3; every step reads the chain first."""
    me = d.account.address
    c["usdc"] = d.contract("usdc", d.project.TestToken, "USD Coin (test)", "USDC", USDC_DECIMALS, me)
    c["wbtc"] = d.contract("wbtc", d.project.TestToken, "Wrapped BTC (test)", "WBTC", WBTC_DECIMALS, me)
    c["weth"] = d.contract("weth", venues.container("WETH9"))
    for dex in ("dex_a", "dex_b"):
        factory = d.contract(f"{dex}_factory", venues.container("UniswapV2Factory"), me)
        c[f"{dex}_factory"] = factory
        c[f"{dex}_router"] = d.contract(f"{dex}_router", venues.container("UniswapV2Router02"),
                                        factory.address, c["weth"].address)
        pair = venues.at("UniswapV2Pair", factory.getPair(c["usdc"].address, c["wbtc"].address))
        if int(pair.address, 16) == 0:
            d.transact(f"createPair USDC/WBTC on {dex}", factory.createPair, c["usdc"].address, c["wbtc"].address)
            pair = venues.at("UniswapV2Pair", factory.getPair(c["usdc"].address, c["wbtc"].address))
            d.manifest.contracts[f"{dex}_pair"] = {
                "contract": "UniswapV2Pair", "address": str(pair.address),
                "block": d.chain.blocks.height, "tx": "", "code_hash": d._code_hash(pair.address),
            }
            d.save()
        c[f"{dex}_pair"] = pair
        if pair.totalSupply() == 0:
            # top up to the target (a resumed run may find one side already sent), then mint LP
            quote, base = usdc(config.pool_usd), wbtc(config.pool_usd / config.initial_price_usd)
            for token, amount in ((c["usdc"], quote), (c["wbtc"], base)):
                if token.balanceOf(pair.address) < amount:
                    d.transact(f"seed {dex} pool", token.mint, pair.address, amount - token.balanceOf(pair.address))
            d.transact(f"mint LP on {dex}", pair.mint, me)
    if config.uniswap_v3:
        _deploy_uniswap_v3(d, c, config)


def _deploy_uniswap_v3(d: Deployer, c: dict[str, Any], config: DeployConfig) -> None:
    """Uniswap V3 from its npm artifacts and the seeded USDC/WBTC pool (``config.uniswap_v3``).

    Every step reads the chain first: the contracts are reused when live, the pool is created and
    initialized at ``initial_price_usd`` once, and the seed positions of
    :func:`macrostrike.deploy.venues.v3_position_plan` are minted in order, the deployer's
    position-NFT count telling a resumed run how many are there. Records the addresses under
    ``venues.uniswap_v3`` in the manifest (the contracts also under ``contracts.v3_*``).
    """
    me, weth = d.account.address, c["weth"].address
    usdc_token, wbtc_token = c["usdc"], c["wbtc"]
    factory = d.contract("v3_factory", venues.container("UniswapV3Factory"))
    c["v3_factory"] = factory
    c["v3_router"] = d.contract("v3_router", venues.container("SwapRouter"), factory.address, weth)
    c["v3_quoter"] = d.contract("v3_quoter", venues.container("QuoterV2"), factory.address, weth)
    npm = d.contract("v3_position_manager", venues.container("NonfungiblePositionManager"), factory.address, weth,
                     venues.NO_TOKEN_DESCRIPTOR)
    c["v3_position_manager"] = npm
    fee = venues.V3_FEE
    if int(str(factory.getPool(usdc_token.address, wbtc_token.address, fee)), 16) == 0:
        d.transact(f"createPool USDC/WBTC {fee} on Uniswap V3", factory.createPool, usdc_token.address,
                   wbtc_token.address, fee)
        created = d.chain.blocks.height
    else:
        created = None  # found on chain (an earlier or interrupted run): no history search for a pool
    pool = venues.at("UniswapV3Pool", factory.getPool(usdc_token.address, wbtc_token.address, fee))
    c["v3_pool"] = pool
    if created is not None or d.manifest.contracts.get("v3_pool", {}).get("address") != str(pool.address):
        d.manifest.contracts["v3_pool"] = {"contract": "UniswapV3Pool", "address": str(pool.address),
                                           "block": created, "tx": "", "code_hash": d._code_hash(pool.address)}
        d.save()
    usdc_is_token0 = int(str(usdc_token.address), 16) < int(str(wbtc_token.address), 16)
    if int(pool.slot0().sqrtPriceX96) == 0:
        price = v3math.raw_price(config.initial_price_usd, usdc_is_token0, USDC_DECIMALS, WBTC_DECIMALS)
        d.transact(f"initialize V3 pool at {config.initial_price_usd:,.2f} USD/BTC", pool.initialize,
                   v3math.sqrt_price_x96(price))
    plan = venues.v3_position_plan(config.initial_price_usd, usdc_is_token0, config.pool_usd, fee=fee)
    token0, token1 = (usdc_token, wbtc_token) if usdc_is_token0 else (wbtc_token, usdc_token)
    missing = list(enumerate(plan))[int(npm.balanceOf(me)):]
    amounts = [{str(usdc_token.address): p.amount_usdc, str(wbtc_token.address): p.amount_wbtc} for _, p in missing]
    for token in (token0, token1) if missing else ():
        need = sum(a[str(token.address)] for a in amounts)  # one mint and one approval for all positions
        if token.balanceOf(me) < need:
            d.transact(f"mint {token.symbol()} for {len(missing)} V3 position(s)", token.mint, me,
                       need - token.balanceOf(me))
        if token.allowance(me, npm.address) < need:
            d.transact(f"approve {token.symbol()} to the V3 position manager", token.approve, npm.address, need)
    for (i, position), offered in zip(missing, amounts):
        params = (token0.address, token1.address, fee, position.tick_lower, position.tick_upper,
                  offered[str(token0.address)], offered[str(token1.address)], 0, 0, me, 2**64)
        d.transact(f"mint V3 position #{i + 1} ticks [{position.tick_lower}, {position.tick_upper}]", npm.mint, params)
    d.manifest.venues["uniswap_v3"] = {
        "factory": str(factory.address), "router": str(c["v3_router"].address), "quoter": str(c["v3_quoter"].address),
        "position_manager": str(npm.address), "pools": {f"USDC/WBTC/{fee}": str(pool.address)},
        "init_code_hash": venues.UNISWAP_V3_POOL_INIT_CODE_HASH}
    d.save()


def _set_v3_venue(d: Deployer, c: dict[str, Any]) -> None:
    """Point the AMM diamond's VenueArbitrageFacet at the V3 factory and the recorded pool's fee tier (once)."""
    venue = d.project.VenueArbitrageFacet.at(c["amm"].address)
    factory, fee, _pool = venue.v3Venue()
    want = int(next(iter(d.manifest.venues["uniswap_v3"]["pools"])).rsplit("/", 1)[1])  # "USDC/WBTC/<fee>"
    if (str(factory), int(fee)) != (str(c["v3_factory"].address), want):
        d.transact(f"setV3Venue fee {want}", venue.setV3Venue, c["v3_factory"].address, want)


def _set_v2_v3_pair(d: Deployer, c: dict[str, Any], want: tuple[str, ...]) -> None:
    """A chain with one V2 DEX and Uniswap V3: pair A alone (``VenueArbitrageFacet.setV2V3Pair``)."""
    amm = d.project.ArbitrageFacet.at(c["amm"].address)
    if tuple(str(a) for a in amm.arbitragePairs()) != (want[0], cutlib.ZERO_ADDRESS, want[1]):
        d.transact("setV2V3Pair", d.project.VenueArbitrageFacet.at(c["amm"].address).setV2V3Pair, *want)


def node_fault(err: BaseException, step: str) -> str | None:
    """One line for a deploy stopped by the node or by a transaction (connection lost, a nonce taken
    by another sender, a refused or reverted transaction), or None for any other error (a bug).

    Args:
        err: what the deploy raised.
        step: the last step the deploy logged.

    Returns:
        ``the deploy stopped at '<step>': <reason> — rerun the same command to resume``, or None.
    """
    import requests
    from ape.exceptions import ApeException, ProviderNotConnectedError
    from web3.exceptions import CannotHandleRequest, Web3Exception

    if not isinstance(err, (ApeException, Web3Exception, requests.RequestException, OSError)):
        return None
    text = " ".join(str(err).split())
    reason = text[:200] + ("…" if len(text) > 200 else "") if text else type(err).__name__
    method = re.search(r"method:\s*(\w+)", text)
    if "nonce" in text.lower() and ("low" in text.lower() or "already" in text.lower()):
        reason += " (another sender used the deploy account's nonce)"
    elif isinstance(err, (requests.RequestException, OSError, ProviderNotConnectedError, CannotHandleRequest)) or \
            "connect" in text.lower():  # web3's AutoProvider: CannotHandleRequest when no node answers
        reason = "the node stopped answering" + (f" ({method.group(1)})" if method else f" ({reason})")
    return f"the deploy stopped at '{step}': {reason} — rerun the same command to resume"


def _check_config(d: Deployer, config: DeployConfig, reconfigure: bool | None) -> list[str]:
    """Compare ``config`` with the system of a completed deploy (see :mod:`macrostrike.deploy.drift`)
    and log the differences; refuse them (or, with ``reconfigure``, the inapplicable ones).

    Returns:
        The keepers the manifest recorded (they stay keepers on chain).

    Raises:
        ConfigMismatch: a refused difference; nothing has been sent.
    """
    if reconfigure is None or not d.manifest.config:  # not asked, or no deploy completed yet (resuming one)
        return list(d.manifest.config.get("keepers", []))
    diffs = drift.compare(d.project, d.manifest, config)
    if diffs:
        d.log(f"the flags differ from the deployed system on chain ({'plan' if reconfigure else 'refused'}):")
        for diff in diffs:
            d.log(f"  {diff.line()}")
    blocked = [x for x in diffs if not x.applicable]
    flags = ", ".join(dict.fromkeys(drift.FLAGS.get(x.field, x.field) for x in (blocked or diffs)))
    if blocked:
        raise drift.ConfigMismatch(f"{flags}: cannot be changed on the deployed system (see above); nothing sent: rerun "
                                   "with the chain's values, or pass --new-system to deploy another system", diffs)
    if diffs and not reconfigure:
        raise drift.ConfigMismatch(f"{flags}: the flags differ from the deployed system (see above); nothing sent: "
                                   "rerun with the chain's values, or add --reconfigure to apply the plan", diffs)
    return list(d.manifest.config.get("keepers", []))


def _fund_amm_bots(d: Deployer, c: dict[str, Any], config: DeployConfig, treasury: Any, amm_bots: Any) -> None:
    """AMM-only system: deposit, then fund every unfunded AMM bot with ``capital_per_bot_usd``."""
    me = d.account.address
    unfunded = [i for i in range(1, config.amm_bots + 1) if amm_bots.bot(i)[1] == 0]
    need = usdc(config.capital_per_bot_usd) * len(unfunded)
    if unfunded and treasury.totalDeposited() == 0:
        need += usdc(config.treasury_reserve_usd)
    _deposit(d, c, treasury, need - treasury.treasuryBalance(), me)
    if unfunded:
        d.transact(f"fund {len(unfunded)} amm bots", treasury.fundBots, c["amm"].address, unfunded,
                   usdc(config.capital_per_bot_usd))


def _deposit(d: Deployer, c: dict[str, Any], treasury: Any, short: int, me: str) -> None:
    """Mint (test token), approve and deposit ``short`` USDC base units when positive."""
    if short <= 0:
        return
    if "venues" in c:  # a real token: deposit the deployer's own USDC (existing.preflight checked the balance)
        existing_venues.check_funds(d, c, short)
    # each of the three steps checks what a resumed run may already have done
    if c["usdc"].balanceOf(me) < short and "venues" not in c:
        d.transact("mint USDC for the treasury", c["usdc"].mint, me, short - c["usdc"].balanceOf(me))
    if c["usdc"].allowance(me, c["master"].address) < short:
        d.transact("approve treasury", c["usdc"].approve, c["master"].address, short)
    d.transact(f"deposit {short / 1e6:,.0f} USDC", treasury.deposit, short)


# -- strike side: Aave V3 market, strike bots, allocation ------------------------------------------
#: Roles of the Aave market's contracts in the manifest (``contracts``); the pool's entry also
#: carries the whole :meth:`macrostrike.deploy.aave.AaveMarket.to_dict` under ``market``.
AAVE_ROLES = {"aave_provider": ("PoolAddressesProvider", "provider"), "aave_acl_manager": ("ACLManager", "acl_manager"),
              "aave_pool": ("Pool", "pool"), "aave_pool_impl": ("Pool", "pool_impl"),
              "aave_configurator": ("PoolConfigurator", "configurator"), "aave_oracle": ("AaveOracle", "oracle"),
              "aave_data_provider": ("AaveProtocolDataProvider", "data_provider")}
AAVE_SYMBOLS = ("USDC", "WBTC", "WETH")
STRIKE_SIDES = (("long", True), ("short", False))


def strike_strategy(index: int, bots: int, agreement: int = 0) -> tuple[bytes, bytes]:
    """``(strategy id, params)`` registered for strike bot ``index`` (0-based) of a side of ``bots``.

    ``agreement=k`` (1..4) registers the k-of-4 vote (id ``agreement``, values ``[k, 4]`` × 1e4).

    The id is the bytes32 of :func:`macrostrike.strategy.signals.strategy_for_bot`'s ``name``
    (``b"momentum"`` …, zero-padded); params are ``abi.encode(uint16 index, uint16 bots, uint256[]
    values)`` with the signal's parameters in declaration order, scaled by 1e4 (z 1.5 -> 15000), so
    the keeper (:mod:`macrostrike.keeper.strike`) rebuilds the same signal from the chain.
    """
    from macrostrike.strategy.signals import strategy_for_bot

    signal = strategy_for_bot(index, bots, agreement=agreement)
    values = [int(round(float(v) * 10_000)) for v in signal.params.values()]
    return signal.name.encode().ljust(32, b"\0"), encode(["uint16", "uint16", "uint256[]"], [index, bots, values])


def aave_market_of(manifest: Manifest, admin: Any = None) -> aavelib.AaveMarket | None:
    """The Aave market recorded in ``manifest`` (None for a system without strike bots)."""
    entry = manifest.contracts.get("aave_pool")
    if not entry or "market" not in entry:
        return None
    return aavelib.AaveMarket.from_dict(entry["market"], admin=admin)


def _deploy_aave(d: Deployer, c: dict[str, Any], config: DeployConfig) -> aavelib.AaveMarket:
    """Deploy the Aave V3 market over the system's USDC, WBTC and WETH9 unless the manifest's is live,
    and supply ``aave_liquidity_usd`` of each asset from the deployer (once).

    Not resumable inside: an interruption during the market's ~40 transactions leaves those
    contracts orphaned and the next run deploys a fresh market (the manifest names only a
    complete one)."""
    web3 = d.chain.provider.web3
    me = str(d.account.address)
    nonce0 = web3.eth.get_transaction_count(me)
    tokens = {"USDC": c["usdc"], "WBTC": c["wbtc"], "WETH": c["weth"]}
    entry = d.manifest.contracts.get("aave_pool")
    market = aave_market_of(d.manifest, admin=d.account)
    if market is None or not entry.get("code_hash") or d._code_hash(entry["address"]) != entry["code_hash"]:
        d.log("deploy Aave V3 market (npm @aave/core-v3 1.19.3) over USDC, WBTC, WETH")
        prices = {"USDC": 1.0, "WBTC": config.initial_price_usd, "WETH": config.eth_usd_price}
        market = aavelib.deploy_aave_market(d.account, tokens, prices)
        for role, (name, attr) in AAVE_ROLES.items():
            address = getattr(market, attr)
            d.manifest.contracts[role] = {"contract": name, "address": address, "block": None, "tx": "",
                                          "code_hash": d._code_hash(address)}
        for symbol, reserve in market.reserves.items():
            for kind, name, address in (("feed", "OwnedAggregator", reserve.feed),
                                        ("a_token", "AToken", reserve.a_token),
                                        ("debt_token", "VariableDebtToken", reserve.variable_debt_token)):
                d.manifest.contracts[f"aave_{kind}:{symbol}"] = {
                    "contract": name, "address": address, "block": None, "tx": "",
                    "code_hash": d._code_hash(address)}
        d.manifest.contracts["aave_pool"]["market"] = market.to_dict()
        d.save()
    seed = {"USDC": usdc(config.aave_liquidity_usd), "WBTC": wbtc(config.aave_liquidity_usd / config.initial_price_usd),
            "WETH": int(config.aave_liquidity_usd / config.eth_usd_price * 10**18)}
    for symbol in AAVE_SYMBOLS:
        a_token = aavelib.aave_at("AToken", market.reserves[symbol].a_token)
        if a_token.balanceOf(me) == 0:
            d.log(f"supply {symbol} to Aave")
            aavelib.seed_liquidity(market, d.account, tokens, {symbol: seed[symbol]})
    d.sent += web3.eth.get_transaction_count(me) - nonce0
    c["aave_market"] = market
    c["aave_pool"] = market.pool_contract()
    c["aave_oracle"] = market.oracle_contract()
    return market


def _routes(d: Deployer, diamond: str, signature: str) -> bool:
    """Whether ``diamond`` routes ``signature`` to a facet (a facet another helper adds may be absent)."""
    loupe = d.project.DiamondLoupeFacet.at(diamond)
    return int(str(loupe.facetAddress(cutlib.selector(signature))), 16) != 0


def _deploy_strike(d: Deployer, c: dict[str, Any], config: DeployConfig, market: aavelib.AaveMarket) -> None:
    """Register the strike bots (strategy per :func:`strike_strategy`), bind each strike child to the
    Aave pool (``setStrikePool``), set its market (``setStrikeConfig``: long/short, the pool, DEX A's
    pair, WBTC, USDC, the oracle) and make the keepers risk keepers of the master. Every step reads
    the chain first. Position holders are created by the first ``openPosition`` of each bot; the
    bots keep the strike facet's default rules (``LibStrike.defaultRules``) unless set later."""
    wanted = {"long": config.long_bots, "short": config.short_bots}
    for role, is_long in STRIKE_SIDES:
        address = c[role].address
        registry = d.project.BotRegistryFacet.at(address)
        for i in range(registry.botCount(), wanted[role]):
            strategy, params = strike_strategy(i, wanted[role], config.signal_agreement)
            name = strategy.rstrip(b"\0").decode()
            d.transact(f"registerBots {role} #{i + 1} ({name})", registry.registerBots, 1, strategy, params)
        if _routes(d, address, "setStrikePool(address)"):
            positions = d.project.StrikePositionsFacet.at(address)
            if int(str(positions.strikePool()), 16) == 0:
                d.transact(f"setStrikePool {role}", positions.setStrikePool, market.pool)
        if _routes(d, address, "setStrikeConfig((bool,address,address,address,address,address))"):
            want = (is_long, market.pool, str(c["dex_a_pair"].address), str(c["wbtc"].address),
                    str(c["usdc"].address), market.oracle)
            recorded = d.manifest.diamonds[role].get("strike_config")
            if recorded != [want[0], *want[1:]] or not _strike_config_live(d, address, want):
                d.transact(f"setStrikeConfig {role}", d.project.StrikeConfigFacet.at(address).setStrikeConfig, want)
                d.manifest.diamonds[role]["strike_config"] = [want[0], *want[1:]]
                d.save()
            strike = d.project.StrikeConfigFacet.at(address)
            for bot_id in range(1, wanted[role] + 1):
                rules = list(strike.rules(bot_id))
                if int(rules[4]) != config.strike_slippage_bps:
                    rules[4] = config.strike_slippage_bps
                    d.transact(f"setRules {role} #{bot_id}", strike.setRules, bot_id, rules)
    risk = d.project.RiskFacet.at(c["master"].address)
    for keeper in config.keepers:
        if not risk.isRiskKeeper(keeper):
            d.transact(f"setRiskKeeper {keeper}", risk.setRiskKeeper, keeper, True)


def _strike_config_live(d: Deployer, diamond: str, want: tuple[Any, ...]) -> bool:
    """Whether the child's on-chain strike config equals ``want`` (True when it has no view of it:
    the manifest's record then decides)."""
    facet = d.project.StrikeConfigFacet.at(diamond)
    view = getattr(facet, "strikeConfig", None)
    if view is None or not _routes(d, diamond, "strikeConfig()"):
        return True
    got = tuple(view())
    flat = tuple(got[0]) if len(got) == 1 and isinstance(got[0], (tuple, list)) else got
    norm = lambda v: v.lower() if isinstance(v, str) else v  # noqa: E731
    return tuple(norm(str(v)) if not isinstance(v, bool) else v for v in flat[:6]) == \
        tuple(norm(str(v)) if not isinstance(v, bool) else v for v in want)


def allocation_deposit(config: DeployConfig, weights_bps: tuple[int, int, int]) -> int:
    """USDC (base units) the treasury needs so that ``allocate()`` gives every bot at least
    ``capital_per_bot_usd`` less the reserve share: ``max_k capital x bots_k x 10,000 / weight_k``
    over the kinds (long, short, AMM) that have bots. At the reference size (25/25/50 bots, weights
    25/25/50 %, $8,000) that is $800,000 and each bot gets $7,600 after the 5 % reserve."""
    counts = (config.long_bots, config.short_bots, config.amm_bots)
    need = 0
    for bots, weight in zip(counts, weights_bps):
        if bots and weight:
            need = max(need, -(-usdc(config.capital_per_bot_usd) * bots * 10_000 // weight))
    return need


def _fund_by_allocation(d: Deployer, c: dict[str, Any], config: DeployConfig) -> None:
    """Fund every bot through ``AllocationFacet.allocate()`` on a fresh system; bots added later (or
    left unfunded by an interrupted run) get ``capital_per_bot_usd`` each through ``fundBots``.
    ``treasury_reserve_usd`` is deposited after the allocation, so it stays in the free treasury."""
    me = d.account.address
    master = c["master"].address
    treasury = d.project.TreasuryFacet.at(master)
    alloc = d.project.AllocationFacet.at(master)
    counts = {"long": config.long_bots, "short": config.short_bots, "amm": config.amm_bots}
    unfunded: dict[str, list[int]] = {}
    for role, n in counts.items():
        registry = d.project.BotRegistryFacet.at(c[role].address)
        page = registry.botsPage(1, n) if n else []
        unfunded[role] = [int(b.id) for b in page if int(b.capital) == 0 and int(b.status) == 1]
    p = alloc.allocationParams()
    target = allocation_deposit(config, (int(p.longBps), int(p.shortBps), int(p.ammBps))) + \
        usdc(config.treasury_reserve_usd)
    everything_unfunded = all(len(unfunded[r]) == counts[r] for r in counts)
    if everything_unfunded:  # a fresh system (or one whose run stopped before allocate)
        _deposit(d, c, treasury, target - usdc(config.treasury_reserve_usd) - alloc.freeTreasury(), me)
        d.transact(f"allocate to {sum(counts.values())} bots", alloc.allocate)
    else:
        for role, ids in unfunded.items():
            if ids:
                amount = usdc(config.capital_per_bot_usd)
                _deposit(d, c, treasury, amount * len(ids) - alloc.freeTreasury(), me)
                d.transact(f"fund {len(ids)} {role} bots", treasury.fundBots, c[role].address, ids, amount)
    _deposit(d, c, treasury, target - treasury.totalDeposited(), me)
