"""A pool of keeper signers: bots sharded over signers, with the rotation rule.

Rotation ("wallet reincarnation" in the system specification): a signer sends at most
``max_ops`` transactions within any ``window_s`` seconds of chain time; after its ``max_ops``-th
operation it rests ``cooldown_s`` seconds and the bots of its shard use the next signer that is
not resting. ``max_ops=None`` turns the rule off. Signers below ``low_balance_wei`` are reported
by :meth:`SignerPool.low_balances`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from macrostrike.keeper.journal import Journal
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.txsender import TxSender


@dataclass
class _SignerState:
    sender: TxSender
    ops: deque[int] = field(default_factory=deque)  # chain timestamps of recent operations
    resting_until: int = 0


class SignerPool:
    """Signers for one job. ``pick(bot_id, now)`` returns the signer to use or None if all rest.

    :param senders: one :class:`TxSender` per signer (each must be a registered keeper).
    :param max_ops: operations allowed per signer within ``window_s``; None disables rotation.
    :param window_s: the rotation window, seconds of chain time.
    :param cooldown_s: how long a signer rests after reaching ``max_ops``, seconds of chain time.
    :param low_balance_wei: balance below which a signer is reported.
    """

    def __init__(self, senders: list[TxSender], *, max_ops: int | None = 3, window_s: int = 1800,
                 cooldown_s: int = 1800, low_balance_wei: int = 0) -> None:
        if not senders:
            raise ValueError("a signer pool needs at least one signer")
        self.states = [_SignerState(s) for s in senders]
        self.max_ops, self.window_s, self.cooldown_s = max_ops, window_s, cooldown_s
        self.low_balance_wei = low_balance_wei
        #: the :class:`~macrostrike.keeper.txmanager.TxManager` the jobs on these signers share (set
        #: by the first job that needs one, see :class:`~macrostrike.keeper.jobbase.Job`)
        self.txm: Any = None

    @property
    def senders(self) -> list[TxSender]:
        return [s.sender for s in self.states]

    def _available(self, state: _SignerState, now: int) -> bool:
        if self.max_ops is None:
            return True
        while state.ops and state.ops[0] <= now - self.window_s:
            state.ops.popleft()
        return now >= state.resting_until and len(state.ops) < self.max_ops

    def pick(self, bot_id: int, now: int) -> TxSender | None:
        """The shard's signer (``bot_id % len(signers)``) or, while it rests, the next available one."""
        n = len(self.states)
        for offset in range(n):
            state = self.states[(bot_id + offset) % n]
            if self._available(state, now):
                return state.sender
        return None

    def record(self, sender: TxSender, now: int) -> None:
        """Count one operation of ``sender`` at chain time ``now``; start its rest at the limit."""
        if self.max_ops is None:
            return
        state = next(s for s in self.states if s.sender is sender)
        state.ops.append(now)
        if len(state.ops) >= self.max_ops:
            state.resting_until = now + self.cooldown_s
            state.ops.clear()

    def low_balances(self, web3: Any) -> list[tuple[str, int]]:
        """``(address, balance_wei)`` of every signer below ``low_balance_wei``."""
        out = []
        for state in self.states:
            balance = int(web3.eth.get_balance(state.sender.address))
            if balance < self.low_balance_wei:
                out.append((state.sender.address, balance))
        return out


def as_pool(signers: SignerPool | TxSender) -> SignerPool:
    """``signers`` itself, or one :class:`TxSender` wrapped in a pool without the rotation rule."""
    return signers if isinstance(signers, SignerPool) else SignerPool([signers], max_ops=None)


def signer_pool(accounts: list[Any], settings: KeeperSettings, *, error_table: dict | None = None,
                journal: Journal | None = None) -> SignerPool:
    """A :class:`SignerPool` of ``accounts`` (Ape accounts) configured from ``settings``."""
    from ape import chain

    from macrostrike.keeper.fees import FeePolicy

    fees = FeePolicy.from_settings(chain.provider.web3, settings)  # one fee policy for every job
    senders = [TxSender(a, priority_fee_wei=settings.priority_fee_wei,
                        base_fee_multiplier=settings.max_fee_base_multiplier, error_table=error_table,
                        journal=journal, max_fee_cap_wei=settings.fee_cap_wei(),
                        confirmations=settings.confirmations, stuck_after_s=settings.stuck_after_s,
                        fee_bump_bps=settings.fee_bump_bps, max_replacements=settings.max_replacements,
                        timeout_s=settings.tx_timeout_s, poll_s=settings.receipt_poll_s,
                        poll_max_s=settings.receipt_poll_max_s, fees=fees) for a in accounts]
    return SignerPool(senders, max_ops=settings.signer_max_ops, window_s=settings.signer_window_s,
                      cooldown_s=settings.signer_cooldown_s,
                      low_balance_wei=int(settings.signer_low_balance_eth * 10**18))
