"""ABI values encoded and decoded by name (keeper/abi.py), against eth_abi directly."""

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector

from macrostrike.keeper.abi import Calls

VIEW = {"type": "tuple[]", "name": "page", "components": [
    {"type": "uint256", "name": "id"}, {"type": "uint8", "name": "status"}, {"type": "bytes", "name": "params"}]}
ABI = [
    {"type": "function", "name": "botsPage", "inputs": [{"type": "uint256", "name": "firstId"},
                                                        {"type": "uint256", "name": "count"}], "outputs": [VIEW]},
    {"type": "function", "name": "rules", "inputs": [{"type": "uint256", "name": "botId"}], "outputs": [
        {"type": "tuple", "name": "", "components": [{"type": "uint16", "name": "maxLeverageBps"},
                                                     {"type": "uint64", "name": "minHealthFactor"}]}]},
    {"type": "function", "name": "botCount", "inputs": [], "outputs": [{"type": "uint256", "name": ""}]},
    {"type": "event", "name": "Ignored", "inputs": []},
]


def test_encode_matches_the_canonical_signature():
    calls = Calls(ABI)
    assert calls.encode("botsPage", 3, 7) == function_signature_to_4byte_selector("botsPage(uint256,uint256)") + \
        encode(["uint256", "uint256"], [3, 7])


def test_decode_by_name_structs_arrays_and_unnamed():
    calls = Calls(ABI)
    raw = encode(["(uint256,uint8,bytes)[]"], [[(1, 1, b"\x01"), (2, 2, b"")]])
    page = calls.decode("botsPage", raw)["page"]
    assert page == [{"id": 1, "status": 1, "params": b"\x01"}, {"id": 2, "status": 2, "params": b""}]
    rules = calls.decode("rules", encode(["(uint16,uint64)"], [(20_000, 115 * 10**16)]))
    assert rules == {"maxLeverageBps": 20_000, "minHealthFactor": 115 * 10**16}
    assert calls.decode("botCount", encode(["uint256"], [5])) == {"out0": 5}


def test_unknown_function_names_the_problem():
    with pytest.raises(KeyError, match="no function 'nope'"):
        Calls(ABI).encode("nope")
