"""Emergency triggers (issue 15 part 1): watched every block by the keeper, acted on through the master.

Each :class:`Trigger` looks at the new block and returns the values that fire it (or None). When a
trigger *starts* firing, :class:`EmergencyJob` journals it (``observe``/``emergency_<trigger>`` with
those values), alerts the operator (:mod:`macrostrike.keeper.alerts`, condition
``emergency:<trigger>``: reminders once per ``alert_interval_s`` while it holds, "resolved" when it
clears) and submits the trigger's actions through the keeper's
:class:`~macrostrike.keeper.txmanager.TxManager` — the same contract calls as ``ape keeper pause`` /
``emergency-stop`` (cli/ops.py):

==================  =================================================  ==========================
action              call on the master                                  effect
==================  =================================================  ==========================
``pause:<child>``   ``TreasuryFacet.pauseChild(child)``                 that child's bots stop
``stop``            ``EmergencyFacet.emergencyStop()``                  every child pauses
``exit``            ``EmergencyFacet.emergencyExit()``                  every child's exitAll with
                                                                         the master's exit slippage
                                                                         cap; capital to the master
``move_to_safe``    ``EmergencyFacet.moveToSafe()``                     the master's whole balance
                                                                         (treasury, reserve fund,
                                                                         what exits returned) to
                                                                         its safe address
==================  =================================================  ==========================

Those calls are **owner-only** on chain: the job needs the owner's account as its signer
(``ape keeper run --emergency-signer ALIAS``); without one the triggers still journal and alert
(``skip``/``no_emergency_signer``). Emergency actions are sent **above the fee cap** (a congested
network is when they matter): their fees come from an uncapped policy. Each action runs once per
firing; the operator resumes (``ape keeper resume``) when the cause is gone. Actions run in the
order listed (e.g. ``["exit", "move_to_safe"]``: the exits' proceeds reach the master first, the
owner's nonces keep that order); ``move_to_safe`` needs the master's safe address
(``EmergencyFacet.setSafeAddress``), checked when the job starts.

Triggers (settings ``emergency_*``, actions per trigger in ``emergency_actions``):

* ``congestion`` — the block's base fee above the keeper's ``max_fee_cap_gwei`` for
  ``emergency_fee_blocks`` consecutive blocks, or ``emergency_failed_sends`` failed sends in a row
  (``send_rejected`` / ``abandoned`` decisions of any job, counted by :meth:`EmergencyJob.observe`).
* ``stale_feed`` — the strike asset's price feed (the Aave oracle's source, Chainlink
  ``latestRoundData``) answered longer ago than ``emergency_feed_max_age_s`` seconds of chain time.
* ``liquidity`` — a venue's liquidity (``sqrt(reserve0 * reserve1)`` of DEX A or B) more than
  ``emergency_liquidity_drop_bps`` (30 %) below its reference: the oldest of the keeper's samples of the
  last ``emergency_liquidity_window_s`` (an hour; at start-up the reference builds up from there).
* ``price_dump`` — the asset more than ``emergency_dump_bps`` (40 %) below its high of the last
  ``emergency_dump_window_s`` seconds, on the oracle or on DEX A.
* ``pool_deviation`` — DEX A's or B's price more than ``emergency_pool_deviation_bps`` away from the oracle.
* ``liquidated`` — a strike bot liquidated on Aave (the strike job's ``liquidated`` observations of
  the block before; one-shot: each block with liquidations fires once). Its action
  ``pause:affected`` pauses the liquidated bots' children.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterable
from typing import Any

from eth_abi import decode, encode
from eth_utils import event_signature_to_log_topic
from eth_utils import function_signature_to_4byte_selector as sel
from eth_utils import to_checksum_address

from macrostrike.keeper.alerts import Alerter
from macrostrike.keeper.errors import decode_revert, error_table
from macrostrike.keeper.fees import FeePolicy
from macrostrike.keeper.jobbase import Job
from macrostrike.keeper.journal import Decision, IntentOpen, Journal
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.signers import SignerPool
from macrostrike.keeper.txmanager import Outcome, TxManager
from macrostrike.keeper.txsender import SendRejected, SimulationReverted, TxSender

logger = logging.getLogger("macrostrike.keeper")

PAUSE_CHILD = sel("pauseChild(address)")
EMERGENCY_STOP = sel("emergencyStop()")
EMERGENCY_EXIT = sel("emergencyExit()")
MOVE_TO_SAFE = sel("moveToSafe()")
SAFE_ADDRESS = sel("safeAddress()")
ZERO_ADDRESS = "0x" + "00" * 20
LATEST_ROUND_DATA = sel("latestRoundData()")
TOKEN0 = sel("token0()")
CHILDREN = ("long", "short", "amm")
#: an emergency exit's receipt: a child that could not exit (master, LibRisk) and a position that
#: could not close (strike child, exitAll skips it and goes on)
CHILD_EXIT_FAILED = event_signature_to_log_topic("ChildExitFailed(address,bytes)")
POSITION_EXIT_FAILED = event_signature_to_log_topic("PositionExitFailed(uint256,bytes)")
#: decisions that count as a failed send for the ``congestion`` trigger
FAILED_SEND_REASONS = ("send_rejected",)
FAILED_SEND_STATUSES = ("abandoned",)


class Trigger:
    """One emergency condition. :meth:`check` returns the values that fire it at ``header``, or None.

    A ``one_shot`` trigger reports events (each fires once: no "cleared"/"resolved"); the others
    are conditions that hold until they clear."""

    name = "trigger"
    one_shot = False

    def check(self, header: Any) -> dict[str, Any] | None:
        raise NotImplementedError

    def observe(self, decisions: Iterable[Decision]) -> None:
        """The keeper's decisions of the last block (triggers that count outcomes)."""


class CongestionTrigger(Trigger):
    """Base fee above the fee cap for ``blocks`` blocks in a row, or ``failed_sends`` failed sends in a row.

    Args:
        fee_cap_wei: the keeper's cap (``max_fee_cap_gwei`` in wei); None: the base-fee rule is off.
        blocks: consecutive blocks above the cap that fire it.
        failed_sends: failed sends in a row that fire it (0: off).
    """

    name = "congestion"

    def __init__(self, fee_cap_wei: int | None, blocks: int, failed_sends: int) -> None:
        self.fee_cap_wei, self.blocks, self.failed_sends = fee_cap_wei, blocks, failed_sends
        self.above, self.failures, self._last_block = 0, 0, -1

    def observe(self, decisions: Iterable[Decision]) -> None:
        for d in decisions:
            if d.reason in FAILED_SEND_REASONS or d.detail.get("status") in FAILED_SEND_STATUSES:
                self.failures += 1
            elif d.action == "send" and d.detail.get("status") in ("sent", "mined"):
                self.failures = 0

    def check(self, header: Any) -> dict[str, Any] | None:
        number, base_fee = int(header["number"]), int(header.get("baseFeePerGas") or 0)
        if number != self._last_block:  # one count per block, whatever calls it
            self._last_block = number
            above = self.fee_cap_wei is not None and base_fee > self.fee_cap_wei
            self.above = self.above + 1 if above else 0
        if self.fee_cap_wei is not None and self.above >= self.blocks:
            return {"base_fee_wei": base_fee, "fee_cap_wei": self.fee_cap_wei, "blocks_above_cap": self.above}
        if self.failed_sends and self.failures >= self.failed_sends:
            return {"failed_sends_in_a_row": self.failures, "limit": self.failed_sends}
        return None


class StaleFeedTrigger(Trigger):
    """The price feed's last answer is older than ``max_age_s`` (the block's timestamp as now).

    Args:
        web3: the connection.
        feed: a Chainlink-compatible aggregator (``latestRoundData``).
        max_age_s: the allowed age, seconds.
    """

    name = "stale_feed"

    def __init__(self, web3: Any, feed: str, max_age_s: int) -> None:
        self.web3, self.feed, self.max_age_s = web3, feed, max_age_s

    def check(self, header: Any) -> dict[str, Any] | None:
        round_id, answer, updated_at = feed_answer(self.web3, self.feed, int(header["number"]))
        age = int(header["timestamp"]) - updated_at
        if age <= self.max_age_s:
            return None
        return {"feed": self.feed, "round_id": round_id, "answer": answer, "updated_at": updated_at,
                "age_s": age, "max_age_s": self.max_age_s}


class Window:
    """``(chain time s, value)`` samples of the last ``window_s`` seconds, one per checked block (a
    bounded deque: ``max_samples``), oldest first. Blocks may share a timestamp: each is kept."""

    def __init__(self, window_s: int, max_samples: int = 10_000) -> None:
        self.window_s = window_s
        self.samples: deque[tuple[int, int]] = deque(maxlen=max_samples)

    def add(self, now: int, value: int) -> None:
        """Record ``value`` at ``now``; forget samples older than the window."""
        self.samples.append((now, value))
        while self.samples and self.samples[0][0] < now - self.window_s:
            self.samples.popleft()

    def oldest(self) -> tuple[int, int]:
        return self.samples[0]

    def highest(self) -> tuple[int, int]:
        return max(self.samples, key=lambda s: s[1])


def _drop_bps(reference: int, now: int) -> int:
    return (reference - now) * 10_000 // reference if reference > 0 else 0


def pool_price_e8(reserves: tuple[int, int]) -> int:
    """USD per BTC with 8 decimals from a USDC (6 decimals) / WBTC (8 decimals) pair's (quote, base)."""
    quote, base = reserves
    return quote * 10**10 // base if base else 0


def feed_answer(web3: Any, feed: str, block: int | str = "latest") -> tuple[int, int, int]:
    """``(round id, answer, updatedAt)`` of a Chainlink-compatible feed."""
    raw = bytes(web3.eth.call({"to": feed, "data": LATEST_ROUND_DATA}, block))
    round_id, answer, _started, updated_at, _answered = decode(["uint80", "int256", "uint256", "uint256", "uint80"],
                                                               raw)
    return int(round_id), int(answer), int(updated_at)


class LiquidityTrigger(Trigger):
    """A venue's liquidity (Uniswap V2 ``sqrt(reserve0 * reserve1)``: unchanged by swaps, moved by
    deposits and withdrawals) more than ``drop_bps`` below its reference: the oldest sample of the
    last ``window_s`` seconds (its reserves an hour earlier by default; until the keeper has run that
    long, the oldest it saw).

    Args:
        web3: the connection.
        pools: ``{venue name: Pool}`` (:class:`~macrostrike.keeper.context.Pool`).
        drop_bps: the drop that fires it (3_000 = 30 %).
        window_s: how far back the reference is (seconds of chain time).
    """

    name = "liquidity"

    def __init__(self, web3: Any, pools: dict[str, Any], drop_bps: int, window_s: int) -> None:
        self.web3, self.pools, self.drop_bps = web3, pools, drop_bps
        self.history = {venue: Window(window_s) for venue in pools}

    def check(self, header: Any) -> dict[str, Any] | None:
        now, number = int(header["timestamp"]), int(header["number"])
        worst: dict[str, Any] | None = None
        for venue, pool in self.pools.items():
            quote, base = pool.reserves(self.web3, number)
            liquidity = math.isqrt(quote * base)
            window = self.history[venue]
            window.add(now, liquidity)
            ref_time, reference = window.oldest()
            drop = _drop_bps(reference, liquidity)
            if drop > self.drop_bps and (worst is None or drop > worst["drop_bps"]):
                worst = {"venue": venue, "pool": pool.address, "liquidity": liquidity, "reference": reference,
                         "reference_age_s": now - ref_time, "drop_bps": drop, "limit_bps": self.drop_bps,
                         "reserve_quote": quote, "reserve_base": base}
        return worst


class PriceDumpTrigger(Trigger):
    """The asset's price more than ``drop_bps`` below its highest of the last ``window_s`` seconds, on
    the oracle (the feed's answer) or on the pool (DEX A's reserves).

    Args:
        web3: the connection.
        feed: the strike asset's Chainlink-compatible feed (8 decimals).
        pool: the venue watched (:class:`~macrostrike.keeper.context.Pool`).
        drop_bps: the dump that fires it (4_000 = 40 %).
        window_s: the window (seconds of chain time).
    """

    name = "price_dump"

    def __init__(self, web3: Any, feed: str, pool: Any, drop_bps: int, window_s: int) -> None:
        self.web3, self.feed, self.pool, self.drop_bps, self.window_s = web3, feed, pool, drop_bps, window_s
        self.history = {"oracle": Window(window_s), "pool": Window(window_s)}

    def check(self, header: Any) -> dict[str, Any] | None:
        now, number = int(header["timestamp"]), int(header["number"])
        prices = {"oracle": feed_answer(self.web3, self.feed, number)[1],
                  "pool": pool_price_e8(self.pool.reserves(self.web3, number))}
        worst: dict[str, Any] | None = None
        for source, price in prices.items():
            window = self.history[source]
            window.add(now, price)
            high_time, high = window.highest()
            drop = _drop_bps(high, price)
            if drop > self.drop_bps and (worst is None or drop > worst["drop_bps"]):
                worst = {"source": source, "price_e8": price, "high_e8": high, "high_age_s": now - high_time,
                         "drop_bps": drop, "limit_bps": self.drop_bps, "window_s": self.window_s,
                         "oracle_e8": prices["oracle"], "pool_e8": prices["pool"]}
        return worst


class PoolDeviationTrigger(Trigger):
    """A pool's price more than ``max_bps`` away from the oracle's (either way).

    Args:
        web3: the connection.
        feed: the strike asset's feed (8 decimals).
        pools: ``{venue name: Pool}``.
        max_bps: the deviation that fires it.
    """

    name = "pool_deviation"

    def __init__(self, web3: Any, feed: str, pools: dict[str, Any], max_bps: int) -> None:
        self.web3, self.feed, self.pools, self.max_bps = web3, feed, pools, max_bps

    def check(self, header: Any) -> dict[str, Any] | None:
        number = int(header["number"])
        oracle = feed_answer(self.web3, self.feed, number)[1]
        worst: dict[str, Any] | None = None
        for venue, pool in self.pools.items():
            price = pool_price_e8(pool.reserves(self.web3, number))
            deviation = abs(price - oracle) * 10_000 // oracle if oracle > 0 else 0
            if deviation > self.max_bps and (worst is None or deviation > worst["deviation_bps"]):
                worst = {"venue": venue, "pool": pool.address, "pool_e8": price, "oracle_e8": oracle,
                         "deviation_bps": deviation, "limit_bps": self.max_bps}
        return worst


class LiquidationTrigger(Trigger):
    """A strike bot liquidated on Aave: the strike job's ``liquidated`` observations (its scan of the
    pool's ``LiquidationCall`` logs), seen through :meth:`observe`; fires once per block with any."""

    name = "liquidated"
    one_shot = True

    def __init__(self) -> None:
        self.seen: list[Decision] = []

    def observe(self, decisions: Iterable[Decision]) -> None:
        self.seen.extend(d for d in decisions if d.reason == "liquidated")

    def check(self, header: Any) -> dict[str, Any] | None:
        if not self.seen:
            return None
        seen, self.seen = self.seen, []
        first = seen[0].detail
        return {"bots": ",".join(f"{d.detail.get('side')}#{d.bot_id}" for d in seen),
                "sides": sorted({str(d.detail.get("side")) for d in seen}), "liquidations": len(seen),
                "liquidated_block": seen[0].block, "holder": first.get("holder"), "tx": first.get("tx"),
                "liquidator": first.get("liquidator"), "debt_to_cover": first.get("debt_to_cover"),
                "collateral_seized": first.get("collateral_seized")}


def expand_actions(actions: Iterable[str], values: dict[str, Any]) -> list[str]:
    """``pause:affected`` becomes ``pause:<side>`` for each side in ``values["sides"]`` (the
    liquidated bots' children); other actions are kept."""
    out: list[str] = []
    for action in actions:
        extra = [f"pause:{side}" for side in values.get("sides", [])] if action == "pause:affected" else [action]
        out += [a for a in extra if a not in out]
    return out


def action_call(action: str, manifest: Any) -> bytes:
    """The master's calldata for ``action`` (``pause:<child>``, ``stop``, ``exit``, ``move_to_safe``).

    Raises:
        ValueError: an unknown action or child.
    """
    if action == "stop":
        return EMERGENCY_STOP
    if action == "exit":
        return EMERGENCY_EXIT
    if action == "move_to_safe":
        return MOVE_TO_SAFE
    kind, _, child = action.partition(":")
    if kind == "pause" and child in CHILDREN:
        return PAUSE_CHILD + encode(["address"], [manifest.address(child)])
    raise ValueError(f"unknown emergency action {action!r}: pause:<{'|'.join(CHILDREN)}>, stop, exit or move_to_safe")


class EmergencyJob(Job):
    """Checks every trigger each block; journals, alerts and acts when one starts firing.

    Args:
        manifest: the deployment (the master and children's addresses).
        signers: the keeper's pool (the job shares its transaction manager).
        settings: keeper settings (``emergency_*``, the fee policy's tip).
        journal: where triggers and actions go.
        triggers: the triggers to watch.
        alerter: operator alerts (a disabled one: journal only).
        owner: the master's owner account's sender (None: triggers alert, actions are skipped).
        send: False for a dry run.
        txm: the shared transaction manager.
    """

    name = "emergency"

    def __init__(self, manifest: Any, signers: SignerPool | TxSender, settings: KeeperSettings, journal: Journal,
                 triggers: list[Trigger], alerter: Alerter, *, owner: TxSender | None = None, send: bool = True,
                 txm: TxManager | None = None) -> None:
        super().__init__(signers, settings, journal, send=send, txm=txm)
        self.manifest, self.triggers, self.alerter, self.owner = manifest, triggers, alerter, owner
        self._exit_errors: dict[bytes, tuple[str, list[str]]] | None = None
        self.master = manifest.address("master")
        if owner is not None:
            self.txm.add_senders([owner])
        #: emergency actions pay what the block asks: the fee cap is what congestion breaks
        self.fees = FeePolicy(self.web3, priority_fee_wei=settings.priority_fee_wei,
                              base_fee_multiplier=settings.max_fee_base_multiplier)
        self.firing: dict[str, dict[str, Any]] = {}
        for trigger in triggers:
            for action in expand_actions(self.actions_of(trigger.name), {"sides": ["long"]}):
                action_call(action, manifest)  # refuse an unknown action at start, not in an emergency
        if any("move_to_safe" in self.actions_of(t.name) for t in triggers) and self.safe_address() == ZERO_ADDRESS:
            raise ValueError("emergency action move_to_safe: the master has no safe address "
                             "(the owner calls EmergencyFacet.setSafeAddress(address) first)")

    def safe_address(self) -> str:
        """The master's safe address (``EmergencyFacet.safeAddress()``; the zero address if unset)."""
        raw = bytes(self.web3.eth.call({"to": self.master, "data": SAFE_ADDRESS}))
        return to_checksum_address(decode(["address"], raw)[0]) if raw else ZERO_ADDRESS

    def actions_of(self, trigger: str) -> list[str]:
        """The configured actions of ``trigger`` (``emergency_actions``; none: alert only)."""
        return list(self.settings.emergency_actions.get(trigger, []))

    def observe(self, decisions: Iterable[Decision]) -> None:
        """The last block's decisions of every job (the runner's ``on_block``)."""
        decisions = list(decisions)
        for trigger in self.triggers:
            trigger.observe(decisions)

    def decide(self, header: Any, **_: Any) -> list[Decision]:
        number = int(header["number"])
        out: list[Decision] = []
        for trigger in self.triggers:
            values = trigger.check(header)
            key = f"emergency:{trigger.name}"
            if values is None:
                if self.firing.pop(trigger.name, None) is not None:
                    out.append(self.record(number, "observe", "emergency_cleared", None, trigger=trigger.name))
                    self.alerter.resolve(key, block=number)
                continue
            actions = expand_actions(self.actions_of(trigger.name), values)
            notify = self.alerter.event if trigger.one_shot else self.alerter.fire
            notify(key if not trigger.one_shot else f"{key}:{number}", f"emergency trigger {trigger.name}",
                   level="failure", block=number, actions=",".join(actions) or "alert only", **values)
            if trigger.name in self.firing:
                continue  # acted on when it started; the alert above is rate-limited
            if not trigger.one_shot:
                self.firing[trigger.name] = values
            out.append(self.record(number, "observe", f"emergency_{trigger.name}", None, actions=actions, **values))
            for action in actions:
                out.extend(self._act(trigger.name, action, header))
        return out

    def _act(self, trigger: str, action: str, header: Any) -> list[Decision]:
        number = int(header["number"])

        def note(act: str, reason: str, **detail: Any) -> list[Decision]:
            decision = self.record(number, act, reason, None, trigger=trigger, emergency_action=action, **detail)
            if act == "skip":
                self.alerter.event(f"emergency_action:{trigger}:{action}", f"emergency action {action} NOT taken",
                                   level="failure", block=number, trigger=trigger, reason=reason, **detail)
            return [decision]

        if self.owner is None:
            return note("skip", "no_emergency_signer")
        data = action_call(action, self.manifest)
        try:
            gas = self.owner.estimate_gas(self.master, data)
        except SimulationReverted as err:
            return note("skip", "simulation_reverted", error=err.reason)
        if not self.send_enabled:
            return note("skip", "dry_run")
        try:
            limit = self.gas_limit(gas, self.settings.exit_gas_per_entry if action == "exit" else 0)
            intent = self.txm.submit(self.name, f"{self.master.lower()}:emergency:{action}", action, self.owner,
                                     self.master, data, limit, header,
                                     detail={"trigger": trigger}, fees=self.fees.quote(header))
        except IntentOpen:
            return []
        except SendRejected as err:
            return note("skip", "send_rejected", error=str(err))
        self.alerter.event(f"emergency_action:{trigger}:{action}", f"emergency action {action} sent",
                           level="failure", block=number, trigger=trigger, tx=intent.tx_hash, intent=intent.id)
        return note("send", "emergency_action", status="sent", intent=intent.id, nonce=intent.nonce,
                    signer=self.owner.address)

    def on_settled(self, outcome: Outcome) -> list[Decision]:
        """An action's outcome: journalled and alerted (mined or not)."""
        detail = self.settled_detail(outcome)
        trigger = outcome.intent.detail.get("trigger")
        action = outcome.intent.action
        block = int(outcome.receipt["blockNumber"]) if outcome.receipt is not None else outcome.intent.created_block
        if outcome.status == "reverted":
            detail["error"] = self.revert_reason(outcome.intent, outcome.receipt)
        left = self.exit_left_behind(outcome.receipt) if outcome.status == "mined" else {}
        detail.update(left)
        title = f"emergency action {action} {outcome.status}"
        if left:
            title += f": INCOMPLETE, {len(left.get('positions_not_closed', []))} position(s) not closed, " \
                     f"{len(left.get('children_not_exited', []))} child(ren) not exited"
        self.alerter.event(f"emergency_action:{trigger}:{action}:{outcome.status}", title,
                           level="success" if outcome.status == "mined" and not left else "failure",
                           block=block, trigger=trigger, tx=outcome.tx_hash, error=detail.get("error"), **left)
        return [self.record(block, "settle", "emergency_action", None, trigger=trigger, emergency_action=action,
                            **detail)]

    def exit_left_behind(self, receipt: Any) -> dict[str, list[str]]:
        """What a mined action's receipt says it could not do: ``children_not_exited`` (the master's
        ``ChildExitFailed``) and ``positions_not_closed`` (a strike child's ``PositionExitFailed``:
        exitAll skipped the position, it is still open), each ``"<address or side #bot>: <reason>"``
        with the revert reason decoded. Empty when nothing was left behind."""
        sides = {self.manifest.address(r).lower(): r for r in ("long", "short") if r in self.manifest.diamonds}
        if self._exit_errors is None:  # built once, at the first exit's settlement
            self._exit_errors = exit_error_table()
        table = self._exit_errors
        children, positions = [], []
        for log in receipt["logs"]:
            topics = [bytes(t) for t in log["topics"]]
            if not topics or topics[0] not in (CHILD_EXIT_FAILED, POSITION_EXIT_FAILED):
                continue
            (reason,) = decode(["bytes"], bytes(log["data"]))
            why = decode_revert(bytes(reason), table)
            if topics[0] == CHILD_EXIT_FAILED:
                children.append(f"{to_checksum_address(topics[1][-20:])}: {why}")
            else:
                where = sides.get(str(log["address"]).lower(), str(log["address"]))
                positions.append(f"{where} #{int.from_bytes(topics[1], 'big')}: {why}")
        return {k: v for k, v in (("children_not_exited", children), ("positions_not_closed", positions)) if v}


def exit_error_table() -> dict[bytes, tuple[str, list[str]]]:
    """Custom errors an exit can report (the strike and master facets', the PositionHolder's), by selector."""
    from macrostrike.deploy.system import STRIKE_FACETS
    from macrostrike.keeper.context import abi_json, project_contract_types

    return error_table(abi_json(*project_contract_types(*STRIKE_FACETS, "PositionHolder", "ChildCoordinationFacet",
                                                        "EmergencyFacet", "RiskFacet")))


def emergency_job(manifest: Any, pool: SignerPool, settings: KeeperSettings, journal: Journal, alerter: Alerter, *,
                  owner: TxSender | None = None, send: bool = True) -> EmergencyJob | None:
    """The :class:`EmergencyJob` watching ``settings.emergency_triggers`` (None when there are none).

    Raises:
        ValueError: ``stale_feed`` on a deployment without the strike asset's feed (``aave_feed:WBTC``).
    """
    from ape import chain

    web3 = chain.provider.web3
    triggers: list[Trigger] = []
    for name in dict.fromkeys(settings.emergency_triggers):
        if name == "congestion":
            triggers.append(CongestionTrigger(settings.fee_cap_wei(), settings.emergency_fee_blocks,
                                              settings.emergency_failed_sends))
        elif name == "stale_feed":
            if "aave_feed:WBTC" not in manifest.contracts:
                raise ValueError("emergency trigger stale_feed: the deployment has no price feed (aave_feed:WBTC)")
            triggers.append(StaleFeedTrigger(web3, manifest.address("aave_feed:WBTC"),
                                             settings.emergency_feed_max_age_s))
        elif name in ("liquidity", "price_dump", "pool_deviation"):
            triggers.append(_market_trigger(name, manifest, web3, settings))
        elif name == "liquidated":
            if "aave_pool" not in manifest.contracts:
                raise ValueError("emergency trigger liquidated: the deployment has no strike bots (aave_pool)")
            triggers.append(LiquidationTrigger())
    if not triggers:
        return None
    return EmergencyJob(manifest, pool, settings, journal, triggers, alerter, owner=owner, send=send, txm=pool.txm)


def _market_trigger(name: str, manifest: Any, web3: Any, settings: KeeperSettings) -> Trigger:
    """The liquidity / price-dump / pool-deviation trigger on the deployment's pools (and feed)."""
    from macrostrike.keeper.context import Pool

    pools = {}
    for venue, role in (("dex_a", "dex_a_pair"), ("dex_b", "dex_b_pair")):
        address = manifest.address(role)
        token0 = decode(["address"], bytes(web3.eth.call({"to": address, "data": TOKEN0})))[0]
        pools[venue] = Pool(address=address, quote_is_token0=token0.lower() == manifest.address("usdc").lower())
    if name == "liquidity":
        return LiquidityTrigger(web3, pools, settings.emergency_liquidity_drop_bps,
                                settings.emergency_liquidity_window_s)
    if "aave_feed:WBTC" not in manifest.contracts:
        raise ValueError(f"emergency trigger {name}: the deployment has no price feed (aave_feed:WBTC)")
    feed = manifest.address("aave_feed:WBTC")
    if name == "price_dump":
        return PriceDumpTrigger(web3, feed, pools["dex_a"], settings.emergency_dump_bps,
                                settings.emergency_dump_window_s)
    return PoolDeviationTrigger(web3, feed, pools, settings.emergency_pool_deviation_bps)
