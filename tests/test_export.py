"""The audit export: real on-chain actions (deposit, fund, an arbitrage trade, a pause) come back as
exactly those events, in order, in CSV and JSON; block ranges filter; the CLI gives one-line errors."""

import csv
import io
import json

import pytest

from macrostrike.deploy.system import DeployConfig, deploy_system, usdc
from macrostrike.keeper.arbitrage import ArbitrageJob
from macrostrike.keeper.context import AmmContext
from macrostrike.keeper.export import COLUMNS, EventDecoder, ExportError, collect_events, export_text
from macrostrike.keeper.journal import Journal
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.txsender import TxSender
from market_helpers import push_price_up
from ops_helpers import ape, assert_one_line_error

ACTIONS = [("master", "Deposited"), ("master", "PrincipalSet"), ("master", "BotFundingSent"), ("amm", "BotFunded"),
           ("amm", "TradeRecorded"), ("amm", "ArbitrageExecuted"),
           ("master", "ChildPauseSet"), ("amm", "ChildPaused")]


@pytest.fixture(scope="module")
def audit(accounts, chain, project):
    """A small system, then four actions after ``start``: deposit, fund bot 1, one keeper arbitrage, pause amm."""
    owner, keeper = accounts[0], accounts[1]
    system = deploy_system(owner, DeployConfig(amm_bots=3, pool_usd=1_000_000, capital_per_bot_usd=5_000,
                                               initial_price_usd=20_000, keepers=(str(keeper.address),)))
    c = system.contracts
    start = chain.blocks.height + 1
    treasury = project.TreasuryFacet.at(c["master"].address)
    c["usdc"].mint(owner, usdc(1_234), sender=owner)
    c["usdc"].approve(c["master"].address, usdc(1_234), sender=owner)
    deposit = treasury.deposit(usdc(1_234), sender=owner)
    capital_before = project.BotRegistryFacet.at(c["amm"].address).bot(1)[1]
    fund = treasury.fundBot(c["amm"].address, 1, usdc(1_000), sender=owner)
    push_price_up(system, owner)
    settings = KeeperSettings(max_trades_per_block=1)
    journal = Journal()
    ctx = AmmContext(system.manifest)
    sender = TxSender(keeper, priority_fee_wei=settings.priority_fee_wei, error_table=ctx.errors, journal=journal)
    job = ArbitrageJob(ctx, sender, settings, journal)
    decisions = job.tick() + job.flush()
    (trade,) = [d for d in decisions if d.reason == "mined"]
    pause = treasury.pauseChild(c["amm"].address, sender=owner)
    return {"system": system, "start": start, "deposit": deposit, "fund": fund, "trade": trade, "pause": pause,
            "capital_before": capital_before, "owner": owner, "web3": chain.provider.web3}


def test_export_has_exactly_the_actions_in_order(audit):
    web3, m = audit["web3"], audit["system"].manifest
    events = collect_events(web3, m, audit["start"])
    assert [(e.role, e.event) for e in events] == ACTIONS
    assert [(e.block, e.log_index) for e in events] == sorted((e.block, e.log_index) for e in events)
    deposited, principal, sent, funded, recorded, executed, pause_set, paused = events
    assert deposited.args == {"from": str(audit["owner"].address), "amount": usdc(1_234)}
    assert deposited.tx_hash == str(audit["deposit"].txn_hash) and deposited.block == audit["deposit"].block_number
    assert deposited.address == m.address("master")
    assert sent.args == {"child": m.address("amm"), "botId": 1, "amount": usdc(1_000)}
    assert principal.args == {"child": m.address("amm"), "botId": 1,
                              "principal": audit["capital_before"] + usdc(1_000)}
    assert funded.args == {"botId": 1, "amount": usdc(1_000), "newCapital": audit["capital_before"] + usdc(1_000)}
    assert principal.tx_hash == sent.tx_hash == funded.tx_hash == str(audit["fund"].txn_hash)
    trade = audit["trade"]
    assert executed.tx_hash == recorded.tx_hash == trade.detail["tx"]
    assert executed.args["botId"] == recorded.args["botId"] == trade.bot_id
    assert executed.args["profit"] == recorded.args["pnl"] == trade.detail["realised_profit"] > 0
    assert executed.args["amountIn"] == trade.detail["amount_in"]
    assert executed.args["buyPair"] == m.address("dex_a_pair" if trade.detail["buy_on_a"] else "dex_b_pair")
    assert pause_set.args == {"child": m.address("amm"), "paused": True}
    assert paused.args == {"by": m.address("master")}
    assert pause_set.block == audit["pause"].block_number
    for e in events:
        assert e.timestamp == web3.eth.get_block(e.block)["timestamp"]


def test_csv_rows_match_the_events(audit):
    web3, m = audit["web3"], audit["system"].manifest
    events = collect_events(web3, m, audit["start"])
    text = export_text(web3, m, "csv", audit["start"])
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames) == COLUMNS
    rows = list(reader)
    assert [(r["role"], r["event"]) for r in rows] == ACTIONS
    for row, e in zip(rows, events):
        assert int(row["block"]) == e.block and int(row["log_index"]) == e.log_index
        assert row["tx_hash"] == e.tx_hash and int(row["timestamp"]) == e.timestamp
        assert row["time_utc"].endswith("Z")
        assert json.loads(row["args"]) == e.args


def test_json_document(audit):
    web3, m = audit["web3"], audit["system"].manifest
    doc = json.loads(export_text(web3, m, "json", audit["start"]))
    assert doc["chain_id"] == m.chain_id and doc["from_block"] == audit["start"]
    assert doc["to_block"] == web3.eth.block_number and doc["count"] == len(ACTIONS)
    assert [(e["role"], e["event"]) for e in doc["events"]] == ACTIONS
    assert doc["events"][0]["args"]["amount"] == usdc(1_234)
    assert list(doc["events"][0]) == list(COLUMNS)
    # deterministic: the same range exports byte-identical text
    assert export_text(web3, m, "json", audit["start"]) == export_text(web3, m, "json", audit["start"])


def test_block_range_filters(audit):
    web3, m = audit["web3"], audit["system"].manifest
    pause_block = audit["pause"].block_number
    assert [e.event for e in collect_events(web3, m, pause_block)] == ["ChildPauseSet", "ChildPaused"]
    fund_block = audit["fund"].block_number
    only_fund = collect_events(web3, m, fund_block, fund_block)
    assert [e.event for e in only_fund] == ["PrincipalSet", "BotFundingSent", "BotFunded"]
    # small chunks give the same answer as one request
    assert collect_events(web3, m, audit["start"], chunk_blocks=1) == collect_events(web3, m, audit["start"])
    with pytest.raises(ExportError, match="after --to-block"):
        collect_events(web3, m, pause_block, fund_block)
    with pytest.raises(ExportError, match="beyond the chain head"):
        collect_events(web3, m, 0, web3.eth.block_number + 5)


class RangeLimitedNode:
    """The real node behind a provider-style limit: eth_getLogs over more than ``limit`` blocks fails."""

    def __init__(self, web3, limit):
        self.real, self.limit, self.refused = web3, limit, 0
        self.eth = self

    def __getattr__(self, name):
        return getattr(self.real.eth, name)

    def get_logs(self, params):
        if params["toBlock"] - params["fromBlock"] + 1 > self.limit:
            self.refused += 1
            raise ValueError({"code": -32005, "message": f"query exceeds max block range {self.limit}"})
        return self.real.eth.get_logs(params)


def test_refused_ranges_are_split(audit):
    web3, m = audit["web3"], audit["system"].manifest
    node = RangeLimitedNode(web3, limit=2)
    assert collect_events(node, m, audit["start"]) == collect_events(web3, m, audit["start"])
    assert node.refused > 0


def test_full_history_decodes_every_log(audit):
    """From the deployment on: each diamond's constructor cut and initialiser event, the registry
    wiring, bots, keepers — every log decodes against the manifest's ABIs (no ``unknown``)."""
    web3, m = audit["web3"], audit["system"].manifest
    events = collect_events(web3, m)
    assert "unknown" not in {e.event for e in events}
    cuts = [e for e in events if e.event == "DiamondCut"]
    assert sorted(e.role for e in cuts) == sorted(m.diamonds)
    amm_cut = next(e for e in cuts if e.role == "amm")
    facets = {c["facetAddress"] for c in amm_cut.args["_diamondCut"]}
    assert facets == {f["address"] for f in m.diamonds["amm"]["facets"].values()}
    assert all(c["action"] == 0 and c["functionSelectors"] for c in amm_cut.args["_diamondCut"])
    names = [(e.role, e.event) for e in events]
    assert names.count(("master", "MasterInitialized")) == 1
    assert sorted(r for r, n in names if n == "ChildInitialized") == ["amm", "long", "short"]
    assert names.count(("master", "ChildRegistered")) == 3
    assert names.count(("amm", "BotRegistered")) == 3
    assert names[-len(ACTIONS):] == ACTIONS


def test_unknown_topic_is_kept_raw():
    decoder = EventDecoder([])
    name, args = decoder.decode([b"\x11" * 32], b"\x01\x02")
    assert name == "unknown" and args == {"topics": ["0x" + "11" * 32], "data": "0x0102"}


# -- the command line (subprocesses against a separate Anvil) ----------------------------------------
@pytest.fixture(scope="module")
def cli_env(anvil_node, tmp_path_factory):
    deployments = tmp_path_factory.mktemp("export-deployments")
    env = {"MACROSTRIKE_DEPLOYMENTS": str(deployments)}
    deploy = ape("run", "deploy", "--network", anvil_node, "--bots", "2", "--long-bots", "0", "--short-bots", "0", env=env)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    return env


@pytest.mark.slow
def test_cli_export_json_to_file(anvil_node, cli_env, tmp_path):
    out = tmp_path / "audit.json"
    proc = ape("keeper", "export", "--network", anvil_node, "--format", "json", "--output", str(out), env=cli_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    names = [(e["role"], e["event"]) for e in doc["events"]]
    assert ("master", "Deposited") in names and names.count(("master", "BotFundingSent")) == 2
    assert f"{doc['count']} events written to {out}" in proc.stderr
    # csv to stdout, only the last block: the funding transaction
    last = ape("keeper", "export", "--network", anvil_node, "--from-block", str(doc["to_block"]), env=cli_env)
    assert last.returncode == 0, last.stderr
    rows = list(csv.DictReader(io.StringIO(last.stdout)))
    assert [r["event"] for r in rows] == ["PrincipalSet", "BotFundingSent", "BotFunded"] * 2


@pytest.mark.slow
def test_cli_export_errors(anvil_node, cli_env, tmp_path):
    bad_format = ape("keeper", "export", "--network", anvil_node, "--format", "xml", env=cli_env)
    assert_one_line_error(bad_format, "--format", "'xml' is not one of 'csv', 'json'")
    no_manifest = ape("keeper", "export", "--network", anvil_node,
                      env={"MACROSTRIKE_DEPLOYMENTS": str(tmp_path)})
    assert_one_line_error(no_manifest, "no deployment manifest", "ape run deploy")
    bad_range = ape("keeper", "export", "--network", anvil_node, "--from-block", "5", "--to-block", "2", env=cli_env)
    assert_one_line_error(bad_range, "--from-block 5 is after --to-block 2")
    no_dir = ape("keeper", "export", "--network", anvil_node, "-o", str(tmp_path / "missing" / "a.csv"), env=cli_env)
    assert_one_line_error(no_dir, "cannot write --output", "check the folder exists")
