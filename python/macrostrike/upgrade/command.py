"""The command-line side of the upgrade tools: ``ape run upgrade`` and ``ape keeper inspect``.

Both connect with :func:`macrostrike.cli.common.connected` and turn every refusal into a one-line
:class:`macrostrike.cli.common.UserError` (exit 1, no traceback).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click
from eth_utils import is_address, to_checksum_address

from macrostrike.cli.common import UserError, resolve_account
from macrostrike.upgrade.layout import LayoutCompileError, recorded_layouts


def _manifest(diamond: str) -> Any:
    """The connected chain's manifest, or None when there is none and ``diamond`` is an address (any
    diamond may be inspected or upgraded without one).

    Raises:
        UserError: the manifest is damaged or belongs to another chain, or it is missing and
            ``diamond`` is a role (the one-line message of the manifest's error).
    """
    from macrostrike.deploy.manifest import ManifestError, ManifestMissing
    from macrostrike.keeper.context import connected_manifest

    try:
        return connected_manifest()
    except ManifestMissing as err:
        if is_address(diamond):
            return None
        raise UserError(f"unknown diamond {diamond!r}: not an address, and {err}") from None
    except ManifestError as err:
        raise UserError(str(err)) from None


def resolve_diamond(manifest: Any, diamond: str) -> tuple[str, str | None]:
    """``diamond`` (a manifest role such as ``amm`` or an address) -> (address, role or None)."""
    if is_address(diamond):
        address = to_checksum_address(diamond)
        if manifest:
            for role, entry in manifest.diamonds.items():
                if to_checksum_address(entry["address"]) == address:
                    return address, role
        return address, None
    if manifest and diamond in manifest.diamonds:
        return to_checksum_address(manifest.diamonds[diamond]["address"]), diamond
    roles = ", ".join(sorted(manifest.diamonds)) if manifest else "none (no manifest on this chain)"
    raise UserError(f"unknown diamond {diamond!r}: pass an address or a deployed role ({roles})")


def default_facets(role: str | None, manifest: Any = None) -> list[str] | None:
    """The facets ``ape run deploy`` gives diamond ``role`` (with the V2↔V3 facet on the AMM child of a
    system whose manifest records a Uniswap V3 venue)."""
    from macrostrike.deploy.system import CHILDREN, MASTER_FACETS, child_facets

    if role == "master":
        return list(MASTER_FACETS)
    if role in CHILDREN:
        return list(child_facets(role, bool(manifest is not None and manifest.venues.get("uniswap_v3"))))
    return None


def _book() -> Any:
    from macrostrike.upgrade.signatures import default_book

    return default_book()


def run_upgrade(account: Any, diamond: str, facet_names: Sequence[str], init_name: str | None,
                init_args: Sequence[str], yes: bool, calldata: bool) -> None:
    """Plan, print, confirm and send (or print the calldata of) one upgrade. Connected already."""
    from ape import chain
    from ape.exceptions import ApeException

    from macrostrike.upgrade.planner import UpgradeRefused, check_owner, deploy_missing, execute, plan_upgrade
    from macrostrike.upgrade.project import project_facets, project_init

    manifest = _manifest(diamond)
    address, role = resolve_diamond(manifest, diamond)
    entry = manifest.diamonds.get(role) if manifest and role else None
    names = list(facet_names) or default_facets(role, manifest)
    if not names:
        raise UserError(f"diamond {address} was not deployed by `ape run deploy`: list the facets it should "
                        "have with --facet NAME (repeatable)")
    web3 = chain.provider.web3
    try:
        facets = project_facets(names)
        init = project_init(init_name, init_args) if init_name else None
        known = [c["address"] for c in (manifest.contracts.values() if manifest else []) if "address" in c]
        recorded = recorded_layouts(entry) if entry and entry.get("storage") else None
        plan = plan_upgrade(web3, address, facets, init=init, recorded=recorded, book=_book(),
                            known_addresses=known)
        if not calldata:
            check_owner(plan, str(resolve_account(account, 0).address))
    except (UpgradeRefused, LayoutCompileError) as err:
        raise UserError(str(err).splitlines()[0]) from None
    click.echo(plan.render())
    if plan.empty:
        return
    needs_sending = not calldata or plan.to_deploy or (plan.init and plan.init.address is None)
    sender = resolve_account(account, 0) if needs_sending else None
    if needs_sending and not yes:
        if not sys.stdin.isatty():
            raise UserError("the upgrade needs confirmation and stdin is not a terminal: review the plan above "
                            "and rerun with --yes")
        what = "Deploy the new contracts" if calldata else "Send this upgrade"
        if not click.confirm(f"{what} from {sender.address}?", default=False):
            raise UserError("upgrade not confirmed: nothing was sent")
    try:
        if calldata:
            deployed = deploy_missing(plan, sender) if sender else []
            if deployed:
                where = {n: f.address for n, f in plan.facets.items()}
                if plan.init:
                    where[plan.init.name] = plan.init.address
                click.echo("deployed: " + ", ".join(f"{n} at {where[n]}" for n in deployed))
            target, data = plan.calldata()
            click.echo(json.dumps({"to": target, "data": data, "value": 0, "from": plan.owner}, indent=2))
            return
        receipt = execute(plan, sender)
    except UpgradeRefused as err:
        raise UserError(str(err)) from None
    except ApeException as err:
        detail = str(err).splitlines()[0] if str(err).strip() else ""
        raise UserError(f"upgrade reverted or failed: {type(err).__name__} {detail}".rstrip()) from None
    click.echo(f"diamondCut: tx {receipt.txn_hash} in block {receipt.block_number}")
    if manifest and role:
        entry = manifest.diamonds[role]
        entry["facets"] = plan.facets_record()
        entry["storage"] = {**(entry.get("storage") or {}), **plan.storage_record()}
        from macrostrike.deploy.manifest import manifest_path

        manifest.save(manifest_path(manifest.chain_id), backup=True)  # the previous version as <file>.1
        click.echo(f"manifest updated: diamonds.{role}")


def run_inspect(diamond: str, from_block: int | None, as_json: bool) -> None:
    """Print facets, selectors and cut history of ``diamond`` (a role or an address). Connected already."""
    from dataclasses import asdict

    from ape import chain

    from macrostrike.upgrade.inspector import inspect_diamond, project_contract_types
    from macrostrike.upgrade.planner import UpgradeRefused

    manifest = _manifest(diamond)
    address, role = resolve_diamond(manifest, diamond)
    names: dict[str, str] = {}
    start = 0
    if manifest and role:
        entry = manifest.diamonds[role]
        names = {f["address"]: n for n, f in entry.get("facets", {}).items()}
        start = int(entry.get("block", 0))
    try:
        types = project_contract_types()
    except Exception:  # noqa: BLE001 - no compiled project: names from the manifest only
        types = {}
    try:
        result = inspect_diamond(chain.provider.web3, address, book=_book(), names=names, contract_types=types,
                                 from_block=start if from_block is None else from_block)
    except UpgradeRefused as err:
        raise UserError(str(err)) from None
    if as_json:
        data = {"diamond": result.diamond, "owner": result.owner,
                "facets": [{**asdict(f), "signatures": [result.book.get(s) for s in f.selectors]}
                           for f in result.facets],
                "history": [asdict(r) for r in result.history]}
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(result.render())
