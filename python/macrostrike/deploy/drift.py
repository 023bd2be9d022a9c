"""What a rerun of ``ape run deploy`` asks for versus what the deployed system is on chain.

A deploy that completed once (its manifest has a ``config``) is compared with the new flags before
anything is sent: bot counts are read from the child diamonds (``botCount``), keepers from
``isKeeper``, the capital per AMM bot from the master (``allocatedTo(amm) / botCount`` on an AMM-only
system; a strike system's bots are funded through ``allocate()``, whose shares differ per kind, so
there the manifest's record of the completed deploy is the reference), the pools' seed price from the
manifest (the pools have traded since). Each difference is either applicable by transactions (more
bots, another keeper) or not (fewer bots, other capital for funded bots, another seed price).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from macrostrike.deploy.manifest import Manifest

#: child role -> the :class:`macrostrike.deploy.system.DeployConfig` field with its bot count
BOT_FIELDS = {"amm": "amm_bots", "long": "long_bots", "short": "short_bots"}
#: the ``ape run deploy`` flag of each compared field
FLAGS = {"amm_bots": "--bots", "long_bots": "--long-bots", "short_bots": "--short-bots",
         "capital_per_bot_usd": "--capital", "initial_price_usd": "--price", "keepers": "--keeper",
         "uniswap_v3": "--uniswap-v3", "signal_agreement": "--agreement"}


@dataclass(frozen=True)
class Difference:
    """One way the flags differ from the chain.

    Attributes:
        field: the :class:`macrostrike.deploy.system.DeployConfig` field (``amm_bots`` …).
        chain: what the chain has (human text).
        wanted: what the flags ask (human text).
        applicable: whether ``--reconfigure`` can apply it with transactions.
        action: what ``--reconfigure`` does, or why it cannot.
    """

    field: str
    chain: str
    wanted: str
    applicable: bool
    action: str

    def line(self) -> str:
        """``--bots: chain 6, asked 2 — cannot: …`` (one line of the plan)."""
        verdict = "" if self.applicable else "cannot: "
        return f"{FLAGS.get(self.field, self.field)}: chain {self.chain}, asked {self.wanted} — {verdict}{self.action}"


class ConfigMismatch(RuntimeError):
    """The flags differ from the deployed system; ``differences`` says how (see :class:`Difference`)."""

    def __init__(self, message: str, differences: Sequence[Difference]) -> None:
        super().__init__(message)
        self.differences = list(differences)


def chain_bot_counts(project: Any, manifest: Manifest) -> dict[str, int]:
    """Bots registered on each child diamond of ``manifest`` (role -> ``botCount()``; 0 if absent)."""
    counts = {}
    for role in BOT_FIELDS:
        entry = manifest.diamonds.get(role)
        counts[role] = int(project.BotRegistryFacet.at(entry["address"]).botCount()) if entry else 0
    return counts


def chain_capital_usd(project: Any, manifest: Manifest, counts: dict[str, int]) -> float | None:
    """USD each AMM bot was funded with, read from the master (``allocatedTo(amm) / botCount``) on an
    AMM-only system; the manifest's recorded ``capital_per_bot_usd`` on a strike system (funded by
    ``allocate()``); None when unknown."""
    if counts["long"] + counts["short"] == 0 and counts["amm"] and "master" in manifest.diamonds:
        treasury = project.TreasuryFacet.at(manifest.diamonds["master"]["address"])
        allocated = int(treasury.allocatedTo(manifest.diamonds["amm"]["address"]))
        if allocated:
            return allocated / counts["amm"] / 1e6
    recorded = manifest.config.get("capital_per_bot_usd")
    return float(recorded) if recorded is not None else None


def chain_signal_agreement(project: Any, manifest: Manifest, counts: dict[str, int]) -> int | None:
    """The k of the k-of-4 vote the strike bots were registered with (strategy ``agreement``, k the
    first of its params' values, scaled by 1e4), 0 for one signal per bot, None without strike bots.
    Read from the first bot of the first strike child that has one (every strike bot of a deploy
    gets the same vote: :func:`macrostrike.deploy.system.strike_strategy`)."""
    from eth_abi import decode

    for role in ("long", "short"):
        if counts.get(role):
            _status, _capital, strategy, params = project.BotRegistryFacet.at(manifest.diamonds[role]["address"]).bot(1)
            if bytes(strategy).rstrip(b"\0") != b"agreement":
                return 0
            _index, _bots, values = decode(["uint16", "uint16", "uint256[]"], bytes(params))
            return int(values[0]) // 10_000
    return None


def compare(project: Any, manifest: Manifest, config: Any) -> list[Difference]:
    """Differences between ``config`` (the flags) and the system ``manifest`` names, read from the chain.

    Args:
        project: Ape project (contract containers).
        manifest: the manifest of a system whose deploy completed (``config`` recorded).
        config: the :class:`macrostrike.deploy.system.DeployConfig` the flags give.

    Returns:
        The differences, in flag order; empty when the flags describe the chain.
    """
    diffs: list[Difference] = []
    counts = chain_bot_counts(project, manifest)
    capital = chain_capital_usd(project, manifest, counts)
    for role, name in BOT_FIELDS.items():
        have, want = counts[role], int(getattr(config, name))
        if want > have:
            diffs.append(Difference(name, str(have), str(want), True,
                                    f"register {want - have} {role} bot(s) and fund them with "
                                    f"${config.capital_per_bot_usd:,.0f} each"))
        elif want < have:
            diffs.append(Difference(name, str(have), str(want), False,
                                    "bots cannot be removed (pause them with `ape keeper pause` instead)"))
    if capital is not None and abs(capital - config.capital_per_bot_usd) >= 0.5:
        diffs.append(Difference("capital_per_bot_usd", f"${capital:,.0f}", f"${config.capital_per_bot_usd:,.0f}", False,
                                "funded bots keep their capital (move it with the treasury's recallCapital/fundBot)"))
    price = manifest.config.get("initial_price_usd")
    if price is not None and abs(float(price) - config.initial_price_usd) > 1e-9:
        diffs.append(Difference("initial_price_usd", f"{float(price):,.2f}", f"{config.initial_price_usd:,.2f}", False,
                                "the pools were seeded at the recorded price and have traded since"))
    if getattr(config, "uniswap_v3", False) and "uniswap_v3" not in manifest.venues:
        diffs.append(Difference("uniswap_v3", "no Uniswap V3 venue", "DEX C (USDC/WBTC 0.05 %)", True,
                                "deploy Uniswap V3 and its seeded pool, cut VenueArbitrageFacet into the AMM diamond"))
    agreement, wanted = chain_signal_agreement(project, manifest, counts), int(getattr(config, "signal_agreement", 0))
    if agreement is not None and agreement != wanted:
        label = lambda k: f"{k}-of-4 agreement" if k else "one signal per bot"  # noqa: E731
        diffs.append(Difference("signal_agreement", label(agreement), label(wanted), False,
                                "each strike bot's strategy was registered with it (`ape run demo --agreement`; "
                                "the keeper reads it from the chain): deploy a new system for another vote"))
    amm = manifest.diamonds.get("amm")
    if amm:
        registry = project.BotRegistryFacet.at(amm["address"])
        for keeper in config.keepers:
            if not registry.isKeeper(keeper):
                diffs.append(Difference("keepers", "not a keeper", keeper, True, f"add keeper {keeper}"))
    return diffs
