"""Hypothesis state machine: random Add/Replace/Remove sequences against a Python model.

After every step the four loupe functions agree with the model, and every routed selector
dispatches to its facet (each test facet answers its own id for f1..f6). Rejected cuts must leave
the routing unchanged.
"""

import ape
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from diamond_helpers import deploy_core_facets, deploy_diamond
from macrostrike.deploy.cuts import ZERO_ADDRESS, FacetCutAction, selector

POOL = [f"f{i}()" for i in range(1, 7)]
FACET_IDS = {"X": 100, "Y": 200, "Z": 300}


@pytest.fixture(scope="module")
def world(project, owner):
    core = deploy_core_facets(project, owner)
    test_facets = {"X": owner.deploy(project.TestFacetX), "Y": owner.deploy(project.TestFacetY),
                   "Z": owner.deploy(project.TestFacetZ)}
    return project, owner, core, test_facets


# ~50 s on the 2-core machine: in the slow suite (CI runs it), keeping `make test` under 10 minutes
@pytest.mark.slow
def test_loupe_matches_model(world, chain):
    project, owner, core, test_facets = world

    class LoupeMachine(RuleBasedStateMachine):
        @initialize()
        def fresh_diamond(self):
            self.snapshot = chain.snapshot()
            self.diamond = deploy_diamond(project, owner, core)
            self.cutter = project.DiamondCutFacet.at(self.diamond.address)
            self.loupe = project.DiamondLoupeFacet.at(self.diamond.address)
            self.calls = project.TestFacetX.at(self.diamond.address)
            # model: selector -> facet address, starting from the core facets
            self.model = {}
            for f in core.values():
                for sel in f.contract_type.methods:
                    self.model[selector(sel.selector)] = str(f.address)
            self.owner_of = {str(f.address): name for name, f in test_facets.items()}

        def _cut(self, cuts, should_fail):
            if should_fail:
                with ape.reverts():
                    self.cutter.diamondCut(cuts, ZERO_ADDRESS, b"", sender=owner)
            else:
                self.cutter.diamondCut(cuts, ZERO_ADDRESS, b"", sender=owner)

        @rule(facet=st.sampled_from("XYZ"), names=st.sets(st.sampled_from(POOL), min_size=1, max_size=3))
        def add(self, facet, names):
            sels = [selector(n) for n in sorted(names)]
            fails = any(s in self.model for s in sels)
            self._cut([(test_facets[facet].address, int(FacetCutAction.ADD), sels)], fails)
            if not fails:
                self.model.update({s: str(test_facets[facet].address) for s in sels})

        @rule(facet=st.sampled_from("XYZ"), names=st.sets(st.sampled_from(POOL), min_size=1, max_size=3))
        def replace(self, facet, names):
            sels = [selector(n) for n in sorted(names)]
            target = str(test_facets[facet].address)
            fails = any(s not in self.model or self.model[s] == target for s in sels)
            self._cut([(target, int(FacetCutAction.REPLACE), sels)], fails)
            if not fails:
                self.model.update({s: target for s in sels})

        @rule(names=st.sets(st.sampled_from(POOL), min_size=1, max_size=3))
        def remove(self, names):
            sels = [selector(n) for n in sorted(names)]
            fails = any(s not in self.model for s in sels)
            self._cut([(ZERO_ADDRESS, int(FacetCutAction.REMOVE), sels)], fails)
            if not fails:
                for s in sels:
                    del self.model[s]

        @invariant()
        def loupe_agrees(self):
            if not hasattr(self, "loupe"):
                return
            facets = {str(addr): {bytes(s) for s in sels} for addr, sels in self.loupe.facets()}
            expected: dict[str, set[bytes]] = {}
            for s, f in self.model.items():
                expected.setdefault(f, set()).add(s)
            assert facets == expected
            assert set(map(str, self.loupe.facetAddresses())) == set(expected)
            for f, sels in expected.items():
                assert {bytes(s) for s in self.loupe.facetFunctionSelectors(f)} == sels
            for name in POOL:
                s = selector(name)
                assert self.loupe.facetAddress(s) == self.model.get(s, ZERO_ADDRESS)

        @invariant()
        def routed_selectors_dispatch(self):
            if not hasattr(self, "calls"):
                return
            for n, name in enumerate(POOL, start=1):
                facet = self.model.get(selector(name))
                if facet is not None:
                    assert getattr(self.calls, name[:-2])() == FACET_IDS[self.owner_of[facet]] + n

        def teardown(self):
            if hasattr(self, "snapshot"):
                chain.restore(self.snapshot)

    LoupeMachine.TestCase.settings = settings(max_examples=15, stateful_step_count=10, deadline=None,
                                              suppress_health_check=list(HealthCheck))
    LoupeMachine.TestCase().runTest()
