"""The master's safe address and the ``move_to_safe`` emergency action (issue 15 §1) on Anvil:
EmergencyFacet.setSafeAddress / moveToSafe (owner only, events, refusals), then the keeper's
EmergencyJob with ``price_dump: [exit, move_to_safe]``: the oracle and pool dump, the trigger fires,
every child exits (a short position closes at a profit), the master's whole balance — free
treasury, reserve fund and what the exits returned — lands at the safe address, and the operator
gets the alert (a loopback ``json://`` receiver)."""

import pytest

from macrostrike.deploy import aave
from macrostrike.deploy.system import DeployConfig, aave_market_of, deploy_system, usdc
from macrostrike.keeper.alerts import Alerter
from macrostrike.keeper.emergency import emergency_job
from macrostrike.keeper.journal import Journal
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.signers import signer_pool
from revert_helpers import reverts_named
from strike_helpers import move_pool_to
from test_alerts import Receiver

#: deploys its own system with the Aave market (~1 min on the shared 2-core machine)
pytestmark = pytest.mark.slow

PRICE = 20_000.0
ZERO = "0x" + "00" * 20


@pytest.fixture(scope="module")
def system(accounts):
    config = DeployConfig(amm_bots=1, long_bots=1, short_bots=1, pool_usd=2_000_000, capital_per_bot_usd=10_000,
                          initial_price_usd=PRICE, treasury_reserve_usd=1_000,
                          keepers=(str(accounts[1].address),))
    return deploy_system(accounts[0], config)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def emergency(project, system):
    return project.EmergencyFacet.at(system.manifest.address("master"))


def balance(system, who) -> int:
    return int(system.contracts["usdc"].balanceOf(who))


def make_job(system, accounts, receiver, **overrides):
    settings = KeeperSettings(**overrides)
    journal = Journal()
    pool = signer_pool([accounts[1]], settings, journal=journal)
    owner = signer_pool([accounts[0]], settings, journal=journal).senders[0]
    alerter = Alerter([receiver.url()], interval_s=3600)
    return emergency_job(system.manifest, pool, settings, journal, alerter, owner=owner), alerter


def test_safe_address_is_owner_only_and_refuses_zero_and_the_master(project, accounts, system, receiver):
    em, owner, safe = emergency(project, system), accounts[0], accounts[5]
    master = system.manifest.address("master")
    assert em.safeAddress() == ZERO
    with reverts_named("SafeAddressNotSet"):
        em.moveToSafe(sender=owner)
    # the keeper refuses move_to_safe at start while the master has no safe address
    with pytest.raises(ValueError, match="move_to_safe: the master has no safe address"):
        make_job(system, accounts, receiver, emergency_triggers=["price_dump"],
                 emergency_actions={"price_dump": ["exit", "move_to_safe"]})
    with reverts_named("InvalidSafeAddress", safe=ZERO):
        em.setSafeAddress(ZERO, sender=owner)
    with reverts_named("InvalidSafeAddress", safe=master):
        em.setSafeAddress(master, sender=owner)
    with reverts_named("NotContractOwner"):
        em.setSafeAddress(safe.address, sender=accounts[1])
    receipt = em.setSafeAddress(safe.address, sender=owner)
    (ev,) = receipt.decode_logs(em.SafeAddressSet)
    assert (ev.previous, ev.safe) == (ZERO, safe.address) and em.safeAddress() == safe.address
    with reverts_named("NotContractOwner"):
        em.moveToSafe(sender=accounts[1])
    job, alerter = make_job(system, accounts, receiver, emergency_triggers=["price_dump"],
                            emergency_actions={"price_dump": ["exit", "move_to_safe"]})
    assert job.safe_address() == safe.address
    alerter.close()


def test_price_dump_exits_every_child_and_moves_the_funds_to_the_safe_address(chain, project, accounts, system,
                                                                              receiver):
    owner, keeper, safe = accounts[0], accounts[1], accounts[7]
    em, master = emergency(project, system), system.manifest.address("master")
    short = project.StrikeFacet.at(system.manifest.address("short"))
    short.openPosition(1, usdc(2_000), 15_000, chain.pending_timestamp + 600, sender=keeper)
    em.setSafeAddress(safe.address, sender=owner)
    reserve = int(project.AllocationFacet.at(master).reserveFund())
    assert reserve > 0 and balance(system, master) >= reserve
    job, alerter = make_job(system, accounts, receiver, emergency_triggers=["price_dump"],
                            emergency_actions={"price_dump": ["exit", "move_to_safe"]})
    assert job.tick(chain.provider.web3.eth.get_block("latest")) == []
    move_pool_to(system, owner, PRICE * 0.55)
    aave.set_price(aave_market_of(system.manifest, admin=owner), "WBTC", PRICE * 0.55)  # -45 % > 40 %
    decisions = job.tick(chain.provider.web3.eth.get_block("latest"))
    (fired,) = [d for d in decisions if d.reason == "emergency_price_dump"]
    assert fired.detail["actions"] == ["exit", "move_to_safe"]
    sent = [d.detail["emergency_action"] for d in decisions if d.reason == "emergency_action"]
    assert sent == ["exit", "move_to_safe"]
    chain.mine()
    settled = {d.detail["emergency_action"]: d for d in job.tick(chain.provider.web3.eth.get_block("latest"))
               if d.reason == "emergency_action"}
    assert {a: d.detail["status"] for a, d in settled.items()} == {"exit": "mined", "move_to_safe": "mined"}
    web3 = chain.provider.web3
    exit_receipt = web3.eth.get_transaction_receipt(settled["exit"].detail["tx"])
    move_receipt = web3.eth.get_transaction_receipt(settled["move_to_safe"].detail["tx"])
    assert (exit_receipt["blockNumber"], exit_receipt["transactionIndex"]) < \
        (move_receipt["blockNumber"], move_receipt["transactionIndex"])
    (exited,) = chain.provider.get_receipt(settled["exit"].detail["tx"]).decode_logs(em.EmergencyExit)
    assert exited.exited == 3
    (moved,) = chain.provider.get_receipt(settled["move_to_safe"].detail["tx"]).decode_logs(em.MovedToSafe)
    assert moved.safe == safe.address and moved.reserveFund == reserve
    # everything the master held, the exits' proceeds included, is at the safe address
    assert balance(system, safe.address) == moved.amount > 0
    assert balance(system, master) == 0
    for role in ("long", "short", "amm"):
        assert balance(system, system.manifest.address(role)) == 0
    assert not project.StrikeConfigFacet.at(system.manifest.address("short")).position(1).open
    assert int(project.AllocationFacet.at(master).reserveFund()) == 0
    alert = receiver.next()[1]
    assert alert["title"] == "[macrostrike] emergency trigger price_dump"
    assert "actions: exit,move_to_safe" in alert["message"]
    alerter.close()
