"""Facet upgrade used by tests/test_deploy_networks.py, run as a script against any Ape network:

    python tests/deploy_networks_helpers.py --network <choice> --account <alias> --role amm --facet TestFacetY

Deploys ``--facet`` by CREATE2 (same address on every chain), routes every selector of it to the
new facet in diamond ``--role`` with one ``diamondCut`` planned by
:func:`macrostrike.deploy.cuts.plan_cut` (Add for new selectors, Replace for ones another facet
served), records it in the manifest (``<chain-id>-fork.json`` on a fork) and prints one JSON line:
``{"plan": [[facet, action, [selectors]]...], "sent": n, "f1": <diamond.f1() after>, "manifest": path}``.
The upgrade planner of python/macrostrike/upgrade/ is the real tool; this is the minimal Replace.
"""

from __future__ import annotations

import json
import os

import click


@click.command()
@click.option("--network", required=True)
@click.option("--account", "alias", required=True)
@click.option("--role", required=True)
@click.option("--facet", "facet_name", required=True)
def main(network: str, alias: str, role: str, facet_name: str) -> None:
    from ape import accounts, project

    from macrostrike.cli.common import connected
    from macrostrike.deploy import cuts
    from macrostrike.deploy.system import Deployer, _hexsel

    with connected(network):
        account = accounts.load(alias)
        account.set_autosign(True, passphrase=os.environ[f"APE_ACCOUNTS_{alias}_PASSPHRASE"])
        d = Deployer(account)
        facet = d.contract(f"facet:{facet_name}", getattr(project, facet_name), deterministic=True)
        entry = d.manifest.diamonds[role]
        diamond = entry["address"]
        current = {bytes(s): str(f) for f, sels in project.DiamondLoupeFacet.at(diamond).facets() for s in sels}
        new_selectors = cuts.selectors_of(facet.contract_type)
        desired = {**current, **{s: str(facet.address) for s in new_selectors}}
        plan = cuts.plan_cut(current, desired, immutable_facet=diamond)
        if plan:
            d.transact(f"diamondCut {role}", project.DiamondCutFacet.at(diamond).diamondCut, plan, cuts.ZERO_ADDRESS, b"")
        routed = {str(f) for f in project.DiamondLoupeFacet.at(diamond).facetAddresses()}
        entry["facets"] = {n: f for n, f in entry["facets"].items() if f["address"] in routed}
        entry["facets"][facet_name] = {"address": str(facet.address), "selectors": _hexsel(new_selectors)}
        d.save()
        f1 = project.TestFacetX.at(diamond).f1() if facet_name.startswith("TestFacet") else None
        click.echo(json.dumps({"plan": [[f, a, ["0x" + bytes(s).hex() for s in sels]] for f, a, sels in plan],
                               "sent": d.sent, "f1": f1, "manifest": str(d.path)}))


if __name__ == "__main__":
    main()
