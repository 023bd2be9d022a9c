"""The address book of existing venues (python/macrostrike/deploy/addressbook.json) and venues files:
every address EIP-55 checksummed and sourced from a named package, every wanted item present or listed
as missing, one-line errors for a chain without an entry and for a malformed file."""

from __future__ import annotations

import json
import re

import pytest
from eth_utils import is_checksum_address, to_checksum_address

from macrostrike.deploy import addressbook
from macrostrike.deploy.addressbook import ADDRESS_BOOK, VenuesError, load, resolve

CHAINS = {1, 11155111, 42161, 8453, 137, 43114, 10}
WANTED = ("v2_dexes", "uniswap_v3.factory", "uniswap_v3.quoter_v2", "uniswap_v3.swap_router02",
          "aave_v3.pool_addresses_provider", "chainlink.BTC/USD", "chainlink.ETH/USD", "chainlink.USDC/USD",
          "tokens.USDC", "tokens.WBTC", "tokens.WETH")


def _entries(node, where=""):
    """Every ``{"address", "source"}`` object in the book with its place."""
    if isinstance(node, dict) and "address" in node:
        yield where, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _entries(value, f"{where}.{key}" if where else key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _entries(value, f"{where}.{i}")


@pytest.fixture(scope="module")
def book():
    return json.loads(ADDRESS_BOOK.read_text())


def test_every_address_is_checksummed_and_sourced_from_a_listed_package(book):
    packages = book["packages"]
    entries = list(_entries(book["chains"]))
    assert len(entries) > 60
    for where, entry in entries:
        assert is_checksum_address(entry["address"]), f"{where}: {entry['address']} is not EIP-55"
        named = re.match(r"(@[\w.-]+/[\w.-]+)@([\w.-]+) ", entry["source"])
        assert named and packages.get(named.group(1)) == named.group(2), f"{where}: source {entry['source']!r}"


def test_every_chain_has_each_item_or_says_why_not(book):
    assert {int(k) for k in book["chains"]} == CHAINS
    for chain_id, chain in book["chains"].items():
        missing = {m["what"] for m in chain["missing"]}
        assert all(m["why"] for m in chain["missing"])
        for item in WANTED:
            section, _, key = item.partition(".")
            present = bool(chain.get(section)) if not key else key in chain.get(section, {})
            assert present != (item in missing), f"chain {chain_id}: {item} present={present}, missing={item in missing}"
    # the well-known cases: Base's Aave market lists no WBTC; Sepolia's BTC/USD and ETH/USD are ambiguous
    assert {m["what"] for m in book["chains"]["8453"]["missing"]} == {"tokens.WBTC"}
    assert not book["chains"]["1"]["missing"]


def test_load_parses_a_chain_and_keeps_sources():
    mainnet = load(1)
    assert mainnet.tokens["USDC"] == to_checksum_address("0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48")
    assert [d.name for d in mainnet.v2_dexes] == ["Uniswap V2"]
    assert mainnet.sources["tokens.USDC"].startswith("@bgd-labs/aave-address-book@")
    assert set(mainnet.feeds) == {"BTC/USD", "ETH/USD", "USDC/USD"}
    assert mainnet.aave_pool_addresses_provider and set(mainnet.uniswap_v3) == {"factory", "quoter_v2", "swap_router02"}


def test_a_chain_without_entry_is_one_line_naming_chain_and_file():
    with pytest.raises(VenuesError) as err:
        load(424242)
    text = str(err.value)
    assert "\n" not in text and "chain 424242" in text and str(ADDRESS_BOOK) in text and "--venues sandbox" in text


def test_default_is_sandbox_on_dev_chains_and_existing_where_the_book_has_an_entry():
    assert resolve(None, 31337) is None and resolve(None, 1337) is None
    assert resolve(None, 424242) is None  # no entry: the sandbox, as before
    assert resolve(None, 8453).chain_id == 8453
    assert resolve("sandbox", 1) is None
    with pytest.raises(VenuesError, match="no venues for chain 31337"):
        resolve("existing", 31337)


def test_user_file_with_plain_addresses(tmp_path):
    usdc = "0x" + "11" * 20
    path = tmp_path / "venues.json"
    path.write_text(json.dumps({"chains": {"5": {"tokens": {"USDC": to_checksum_address(usdc)},
                                                 "v2_dexes": [{"factory": to_checksum_address("0x" + "22" * 20),
                                                               "router": to_checksum_address("0x" + "33" * 20)}]}}}))
    venues = resolve(str(path), 5)
    assert venues.tokens == {"USDC": to_checksum_address(usdc)} and venues.sources["tokens.USDC"] == str(path)
    assert venues.addresses()["v2_dexes.0.router"] == to_checksum_address("0x" + "33" * 20)


@pytest.mark.parametrize("chain, problem", [
    ({"tokens": {"USDC": "0x" + "ab" * 20}}, "is not an EIP-55 checksummed address"),
    ({"tokens": {"WBTC": to_checksum_address("0x" + "11" * 20)}}, "tokens.USDC is missing"),
    ("nope", "is not a JSON object"),
    ({"tokens": {"USDC": to_checksum_address("0x" + "11" * 20)}, "uniswap_v3": {"fee": "500"}},
     "uniswap_v3.fee = '500' is not a fee tier"),
])
def test_malformed_user_file_is_one_line(tmp_path, chain, problem):
    path = tmp_path / "venues.json"
    path.write_text(json.dumps({"chains": {"5": chain}}))
    with pytest.raises(VenuesError) as err:
        resolve(str(path), 5)
    assert problem in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(VenuesError, match="does not exist"):
        resolve(str(tmp_path / "absent.json"), 1)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(VenuesError, match="not readable JSON"):
        resolve(str(tmp_path / "bad.json"), 1)
    (tmp_path / "flat.json").write_text("{}")
    with pytest.raises(VenuesError, match='no "chains" object'):
        addressbook.read_book(tmp_path / "flat.json")


@pytest.mark.slow  # one `ape run deploy` (~25 s)
def test_deploy_cli_names_chain_and_file_when_the_book_has_no_entry():
    """`ape run deploy --venues existing` on the local Anvil (chain 31337, no entry): one line, nothing sent."""
    from ops_helpers import ape, assert_one_line_error

    proc = ape("run", "deploy", "--venues", "existing", "--bots", "1", "--long-bots", "0", "--short-bots", "0")
    assert_one_line_error(proc, "no venues for chain 31337", str(ADDRESS_BOOK), "--venues sandbox")


def test_gas_token_feed_where_gas_is_not_eth_and_the_keeper_prefers_it():
    from types import SimpleNamespace

    from macrostrike.deploy.manifest import Manifest
    from macrostrike.keeper.prices import EthUsd

    assert load(137).feeds["NATIVE/USD"] != load(137).feeds["ETH/USD"]
    assert "NATIVE/USD" in load(43114).feeds and "NATIVE/USD" not in load(8453).feeds
    manifest = Manifest(chain_id=137, genesis_hash="0x00", contracts={
        "aave_feed:WETH": {"address": load(137).feeds["ETH/USD"]},
        "native_usd_feed": {"address": load(137).feeds["NATIVE/USD"]}})
    settings = SimpleNamespace(eth_usd_feed=None, eth_usd_price=1.0, eth_usd_max_age_s=60)
    assert EthUsd.for_deployment(None, settings, manifest).feed == load(137).feeds["NATIVE/USD"]
    del manifest.contracts["native_usd_feed"]
    assert EthUsd.for_deployment(None, settings, manifest).feed == load(137).feeds["ETH/USD"]


def test_a_v3_fee_tier_in_a_user_file_is_kept_apart_from_the_addresses(tmp_path):
    factory = to_checksum_address("0x" + "22" * 20)
    path = tmp_path / "venues.json"
    path.write_text(json.dumps({"chains": {"5": {"tokens": {"USDC": to_checksum_address("0x" + "11" * 20)},
                                                 "uniswap_v3": {"factory": factory, "fee": 3000}}}}))
    venues = resolve(str(path), 5)
    assert (venues.uniswap_v3, venues.v3_fee) == ({"factory": factory}, 3000)
    assert load(1).v3_fee is None  # the address book pins no tier: the most liquid one is taken


@pytest.mark.parametrize("token_b, fee, pool", [
    # Uniswap's USDC/WETH 0.05 % and WBTC/USDC 0.3 % pools on Ethereum mainnet (etherscan / app.uniswap.org)
    ("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", 500, "0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640"),
    ("0x2260FAC5E5542a773Aa44fBCfeDf7C193bc2C599", 3000, "0x99ac8cA7087fA4A2A1FB6357269965A2014ABc35"),
])
def test_v3_pool_address_is_the_periphery_rule_on_mainnet(token_b, fee, pool):
    from macrostrike.deploy import venues
    from macrostrike.deploy.existing import v3_pool_address

    book = load(1)
    for a, b in ((book.tokens["USDC"], token_b), (token_b, book.tokens["USDC"])):  # token order does not matter
        assert v3_pool_address(book.uniswap_v3["factory"], a, b, fee, venues.UNISWAP_V3_POOL_INIT_CODE_HASH) == pool
