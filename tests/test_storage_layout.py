"""ERC-7201 storage layouts from solc and the append-only rule, on small contracts made for the test.

No chain: the variants of namespace macrostrike.test.counter (tests/upgrade_helpers.py) are compiled
with solc standard-json and compared with the layout of the first version.
"""

import json

import pytest

from macrostrike.upgrade.layout import (
    NamespaceLayout,
    check_layouts,
    compare_layouts,
    diamond_storage_record,
    erc7201_slot,
    namespace_layouts,
    project_layouts,
    record_storage_layouts,
    recorded_layouts,
)
from upgrade_helpers import COUNTER_NS, ROOT, V1_FIELDS, VARIANTS, counter_source


@pytest.fixture(scope="module")
def compiled():
    """V1 and every variant in one solc run (one file and facet name per variant)."""
    variants = {"v1": V1_FIELDS, **VARIANTS}
    sources = {f"tests/Counter_{k}.sol": counter_source(f, facet=f"Counter_{k}") for k, f in variants.items()}
    return namespace_layouts(sources, ROOT)


@pytest.fixture(scope="module")
def layout_of(compiled):
    return lambda variant: compiled[f"Counter_{variant}"][COUNTER_NS]


@pytest.fixture(scope="module")
def v1(layout_of):
    return layout_of("v1")


def test_v1_layout_is_what_solc_lays_out(v1):
    assert v1.namespace == COUNTER_NS
    assert v1.struct == "LibCounterVariant.CounterStorage"
    assert v1.slot == erc7201_slot(COUNTER_NS)
    assert [(f["label"], f["slot"], f["offset"], f["type"]["label"]) for f in v1.fields] == [
        ("count", 0, 0, "uint256"), ("lastCaller", 1, 0, "address"), ("step", 1, 20, "uint64")]
    # JSON round trip (the manifest form) keeps everything
    assert NamespaceLayout.from_json(json.loads(json.dumps(v1.to_json()))) == v1


def test_a_contract_not_touching_the_namespace_has_no_layout(compiled):
    assert compiled["UnrelatedCounter_v1"] == {}


def test_appending_fields_is_allowed(v1, layout_of):
    assert compare_layouts(v1, layout_of("append")) == []


def test_renaming_in_place_is_allowed(v1, layout_of):
    assert compare_layouts(v1, layout_of("rename")) == []


@pytest.mark.parametrize("variant, field, kind, detail", [
    ("reorder", "count", "reordered", "moved from slot 0, offset 0 to slot 1, offset 0"),
    ("retype", "lastCaller", "retyped", "address -> uint160"),
    ("resize", "step", "resized", "uint64 -> uint128"),
    ("remove", "lastCaller", "removed", "address at slot 1, offset 0"),
    ("insert", "lastCaller", "reordered", "moved from slot 1, offset 0 to slot 2, offset 0"),
])
def test_unsafe_changes_are_refused_naming_namespace_and_field(v1, layout_of, variant, field, kind, detail):
    issues = compare_layouts(v1, layout_of(variant))
    assert issues, variant
    first = issues[0]
    assert (first.namespace, first.field, first.kind) == (COUNTER_NS, field, kind)
    assert detail in first.detail
    assert f"namespace '{COUNTER_NS}': field '{field}' {kind}" in str(first)


def nested_source(entry_fields, head_inline, facet):
    fields = "        uint256 count;\n        mapping(uint256 => Entry) entries;\n"
    if head_inline:
        fields += "        Entry head;\n"
    return counter_source(fields, facet=facet).replace(
        "    /// @custom:storage-location",
        f"    struct Entry {{\n{entry_fields}\n    }}\n\n    /// @custom:storage-location")


def test_nested_struct_may_grow_only_behind_a_mapping():
    small, grown = "        uint128 a;", "        uint128 a;\n        uint256 b;"
    got = namespace_layouts({f"tests/Nested_{i}.sol": nested_source(entry, inline, f"Nested_{i}")
                             for i, (entry, inline) in enumerate([(small, False), (grown, False),
                                                                  (small, True), (grown, True)])}, ROOT)
    at = [got[f"Nested_{i}"][COUNTER_NS] for i in range(4)]
    # Entry only as a mapping value: each entry has its own hashed slot, growing is safe
    assert compare_layouts(at[0], at[1]) == []
    # Entry also inline in the namespace struct: it would overlap the next field
    issues = compare_layouts(at[2], at[3])
    assert [(i.field, i.kind) for i in issues] == [("head", "resized")]


def test_check_layouts_compares_only_shared_namespaces(v1, layout_of):
    other = NamespaceLayout("macrostrike.other", "L.S", v1.fields)
    assert check_layouts({COUNTER_NS: v1}, {COUNTER_NS: layout_of("append"), "x": other}) == []
    issues = check_layouts({COUNTER_NS: v1, "macrostrike.other": other}, {COUNTER_NS: layout_of("remove")})
    assert {i.namespace for i in issues} == {COUNTER_NS}


def test_project_facets_namespaces_and_manifest_record():
    names = ["BotRegistryFacet", "DiamondCutFacet", "UpgradeCounterFacetV1", "UpgradeCounterInitV2", "TestToken"]
    layouts = project_layouts(names)
    # registration also pre-writes each new bot's performance and risk slots (issue 12, first-trade gas)
    assert set(layouts["BotRegistryFacet"]) == {"macrostrike.bots", "macrostrike.diamond", "macrostrike.bots.risk",
                                                "macrostrike.performance", "macrostrike.performance.v2"}
    assert set(layouts["DiamondCutFacet"]) == {"macrostrike.diamond"}
    assert set(layouts["UpgradeCounterFacetV1"]) == {COUNTER_NS}
    # the versioned init writes its own namespace, the counter's and (owner check) the diamond's
    assert set(layouts["UpgradeCounterInitV2"]) == {"macrostrike.init", COUNTER_NS, "macrostrike.diamond"}
    assert layouts["TestToken"] == {}
    bots = layouts["BotRegistryFacet"]["macrostrike.bots"]
    assert [f["label"] for f in bots.fields][:3] == ["master", "quoteToken", "paused"]
    # second call is served from the .build cache and equal
    assert project_layouts(names) == layouts
    entry = {}
    record_storage_layouts(entry, ["DiamondCutFacet", "BotRegistryFacet"])
    assert entry["storage"]["macrostrike.diamond"]["facets"] == ["BotRegistryFacet", "DiamondCutFacet"]
    assert entry["storage"]["macrostrike.bots"]["slot"] == erc7201_slot("macrostrike.bots")
    assert recorded_layouts(entry)["macrostrike.bots"] == bots
    assert diamond_storage_record({"X": {}}) == {}
