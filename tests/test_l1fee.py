"""The OP stack L1 data fee in the keeper's profit-after-gas check (issue 13 §3). Anvil has no
GasPriceOracle predeploy, so a tiny contract stands in for it at a chosen address: it answers
``getL1Fee(bytes)`` with ``calldatasize x K`` wei, so the quote grows with the transaction the keeper
passes. A gap the keeper trades with no L1 fee is skipped as ``unprofitable_after_gas`` when the L1
fee is large, and the decision carries the fee."""

from __future__ import annotations

import pytest

from macrostrike.deploy.system import DeployConfig, deploy_system
from macrostrike.keeper import l1fee
from macrostrike.keeper.arbitrage import ArbitrageJob, L1_SAMPLE_CALL
from macrostrike.keeper.context import AmmContext
from macrostrike.keeper.journal import Journal
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.signers import SignerPool
from macrostrike.keeper.txsender import TxSender
from market_helpers import push_price_up

ORACLE = "0x00000000000000000000000000000000000Fee01"


def oracle_code(k: int) -> str:
    """Runtime code returning ``calldatasize * k`` as one uint256 (CALLDATASIZE PUSH8 k MUL, MSTORE at 0, RETURN 32)."""
    return "0x36" + "67" + k.to_bytes(8, "big").hex() + "02" + "600052" + "60206000f3"


@pytest.fixture(scope="module")
def system(accounts):
    return deploy_system(accounts[0], DeployConfig(amm_bots=2, pool_usd=1_000_000, capital_per_bot_usd=5_000,
                                                   initial_price_usd=20_000, keepers=(str(accounts[1].address),)),
                         new_system=True)


def job_with(system, keeper, fee: l1fee.L1DataFee) -> ArbitrageJob:
    settings = KeeperSettings()
    ctx = AmmContext(system.manifest)
    journal = Journal()
    pool = SignerPool([TxSender(keeper, priority_fee_wei=settings.priority_fee_wei, error_table=ctx.errors,
                                journal=journal)], max_ops=None)
    return ArbitrageJob(ctx, pool, settings, journal, l1_fee=fee)


def test_quote_is_read_from_the_oracle_with_the_unsigned_transaction(chain):
    web3 = chain.provider.web3
    web3.provider.make_request("anvil_setCode", [ORACLE, oracle_code(7)])
    fee = l1fee.L1DataFee(web3, ORACLE)
    tx = l1fee.unsigned_eip1559(8453, ORACLE, L1_SAMPLE_CALL, 300_000, 10**9, 10**6)
    assert tx[0] == 2 and L1_SAMPLE_CALL in tx
    calldata = 4 + 64 + -(-len(tx) // 32) * 32  # selector, offset, length, padded bytes
    assert fee.wei(10, tx) == calldata * 7 and fee.available
    web3.provider.make_request("anvil_setCode", [ORACLE, oracle_code(9)])
    assert fee.wei(10, tx) == calldata * 7  # one read per block
    assert fee.wei(11, tx) == calldata * 9


def test_no_oracle_counts_nothing(chain):
    fee = l1fee.L1DataFee(chain.provider.web3, "0x00000000000000000000000000000000000Fee02")
    assert fee.wei(1, b"\x02") == 0 and fee.available is False
    assert l1fee.for_chain(chain.provider.web3, 31337) is None and l1fee.for_chain(chain.provider.web3, 42161) is None
    assert l1fee.for_chain(chain.provider.web3, 8453).oracle == l1fee.GAS_PRICE_ORACLE


def test_a_large_l1_fee_makes_a_gap_unprofitable_and_a_small_one_does_not(system, accounts, chain):
    web3 = chain.provider.web3
    push_price_up(system, accounts[0], fraction=50)
    web3.provider.make_request("anvil_setCode", [ORACLE, oracle_code(10**16)])  # ~3 ETH per transaction
    decisions = job_with(system, accounts[1], l1fee.L1DataFee(web3, ORACLE)).tick()
    assert [d.reason for d in decisions] == ["unprofitable_after_gas"]
    detail = decisions[0].detail
    assert detail["l1_fee_usdc"] > detail["gross_profit"] and detail["gas_cost_usdc"] >= detail["l1_fee_usdc"]
    web3.provider.make_request("anvil_setCode", [ORACLE, oracle_code(1)])
    job = job_with(system, accounts[1], l1fee.L1DataFee(web3, ORACLE))
    assert any(d.reason == "mined" for d in job.tick() + job.flush())
