"""Deploy helpers shared by the diamond core tests."""

from macrostrike.deploy.cuts import ZERO_ADDRESS, facet_cut

CORE = ("DiamondCutFacet", "DiamondLoupeFacet", "OwnershipFacet")


def deploy_core_facets(project, owner):
    return {name: owner.deploy(getattr(project, name)) for name in CORE}


def deploy_diamond(project, owner, facets, init=ZERO_ADDRESS, data=b""):
    """A bare `Diamond` with the given facets (name -> instance) added at construction."""
    cuts = [facet_cut(f) for f in facets.values()]
    return owner.deploy(project.Diamond, owner, cuts, init, data)


def as_facet(project, name, diamond):
    """The diamond at its address, seen through facet `name`'s ABI."""
    return getattr(project, name).at(diamond.address)
