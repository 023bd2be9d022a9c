"""Signer pool: sharding of bots over signers and the rotation rule (chain time)."""

from types import SimpleNamespace

import pytest

from macrostrike.keeper.signers import SignerPool


def signers(n):
    return [SimpleNamespace(address=f"0x{i:040x}") for i in range(n)]


def test_bots_are_sharded():
    a, b, c = signers(3)
    pool = SignerPool([a, b, c], max_ops=None)
    assert [pool.pick(bot, 0) for bot in (3, 4, 5, 6)] == [a, b, c, a]


def test_rotation_after_max_ops_then_cooldown():
    a, b = signers(2)
    pool = SignerPool([a, b], max_ops=3, window_s=1800, cooldown_s=1800)
    for t in (0, 10, 20):
        assert pool.pick(2, t) is a  # bot 2 -> shard 0
        pool.record(a, t)
    # a sent 3 in the window: it rests 30 minutes, its bots use b
    assert pool.pick(2, 30) is b
    assert pool.pick(2, 20 + 1799) is b
    assert pool.pick(2, 20 + 1800) is a


def test_window_slides():
    (a,) = signers(1)
    pool = SignerPool([a], max_ops=3, window_s=100, cooldown_s=0)
    pool.record(a, 0)
    pool.record(a, 50)
    assert pool.pick(1, 60) is a
    assert pool.pick(1, 101) is a  # the op at t=0 left the window


def test_all_resting_returns_none():
    (a,) = signers(1)
    pool = SignerPool([a], max_ops=1, window_s=100, cooldown_s=600)
    pool.record(a, 0)
    assert pool.pick(1, 5) is None and pool.pick(1, 600) is a


def test_needs_a_signer():
    with pytest.raises(ValueError):
        SignerPool([])


def test_low_balances():
    a, b = signers(2)
    web3 = SimpleNamespace(eth=SimpleNamespace(get_balance=lambda addr: 10 if addr == a.address else 10**18))
    assert SignerPool([a, b], low_balance_wei=100).low_balances(web3) == [(a.address, 10)]
