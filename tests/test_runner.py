"""The keeper's block loop: one tick per new block, retries with backoff, the error breaker, stops."""

import os
import signal

import pytest

from macrostrike.keeper.runner import KeeperHalted, Runner


class FlakyEth:
    """The head follows ``script``: an int is a head block number, an exception instance is raised."""

    def __init__(self, script):
        self.script = list(script)

    @staticmethod
    def block(number):
        return {"number": number, "hash": number.to_bytes(32, "big"), "parentHash": (number - 1).to_bytes(32, "big")}

    def get_block(self, tag):
        if tag != "latest":
            return self.block(tag)
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, Exception):
            raise item
        return self.block(item)


class Job:
    def __init__(self):
        self.ticks = 0

    def tick(self):
        self.ticks += 1
        return []


def runner(script, **kw):
    sleeps = []
    web3 = type("W3", (), {"eth": FlakyEth(script)})()
    job = Job()
    return Runner(web3, job, sleep=sleeps.append, **kw), job, sleeps


def test_one_tick_per_new_block():
    r, job, sleeps = runner([1, 1, 1, 2, 2, 3])
    result = r.run(max_blocks=3, install_signals=False)
    assert job.ticks == 3 and result.blocks == 3 and result.errors == 0
    assert len(sleeps) == 3  # polled three times while the head did not move


def test_retries_with_exponential_backoff_then_resumes():
    err = ConnectionError("connection refused")
    r, job, sleeps = runner([1, err, err, err, 2], backoff_base_s=0.5, backoff_max_s=1.5)
    result = r.run(max_blocks=2, install_signals=False)
    assert result.blocks == 2 and result.errors == 3 and job.ticks == 2
    assert sleeps == [0.5, 1.0, 1.5]


def test_breaker_halts_after_consecutive_errors():
    r, job, sleeps = runner([ConnectionError("down")], max_consecutive_errors=4)
    with pytest.raises(KeeperHalted, match="4 consecutive errors.*ConnectionError"):
        r.run(install_signals=False)
    assert len(sleeps) == 3 and job.ticks == 0


def test_sigterm_stops_after_the_current_block():
    r, job, _ = runner(list(range(1, 100)))
    original = job.tick

    def tick_then_term():
        out = original()
        if job.ticks == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    job.tick = tick_then_term
    before = signal.getsignal(signal.SIGTERM)
    result = r.run()
    assert result.stopped_by_signal and job.ticks == 2
    assert signal.getsignal(signal.SIGTERM) is before  # handlers restored
