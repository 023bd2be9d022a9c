"""Operator alerts through Apprise (one library for Slack, Discord, Telegram, e-mail, ntfy, webhooks…).

``keeper.alerts`` in ``ape-config.yaml`` (or ``MACROSTRIKE_KEEPER_ALERTS``) lists Apprise URLs, e.g.
``json://alerts.example:8080/hook``, ``slack://T0/B0/XYZ``, ``tgram://TOKEN/CHAT``, ``ntfy://topic``.

* **Conditions** have a key (``breaker``, ``stuck:<intent id>``, ``low_balance:<signer>``, …).
  :meth:`Alerter.fire` sends the first alert of a condition, then at most one reminder per
  ``alert_interval_s`` while it holds; :meth:`Alerter.resolve` sends one "resolved" message when it
  clears. **Events** (a liquidation, a halt, an emergency action) use :meth:`Alerter.event`: one
  message per key per interval, nothing to resolve.
* **Never blocking**: messages go through a bounded queue to one background thread that talks to
  the channels; queuing takes microseconds whatever the channels do. A full queue drops the new
  message (counted). A channel that refuses, hangs (Apprise's read/connect timeouts, ``rto``/``cto``
  in the URL, default 4 s each) or raises is logged with its URL in Apprise's privacy form (tokens
  masked) and counted; the keeper carries on.
* **Counted**: ``keeper_alerts_total{outcome}`` (``queued``, ``sent``, ``failed``, ``dropped``,
  ``suppressed``) in :class:`~macrostrike.keeper.metrics.Metrics` when the metrics server runs, and
  always in :attr:`Alerter.counts`.

:class:`KeeperAlerts` watches a running keeper once per block: breaker trips (the risk checkpoint's
settled decisions), a child whose copy of the breaker differs from the master's, liquidations (the
strike job's ``liquidated`` observations), stuck transactions (an intent open for
``alert_stuck_blocks`` blocks) and signer balances below ``signer_low_balance_eth``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import apprise

logger = logging.getLogger("macrostrike.keeper")

TITLE_PREFIX = "[macrostrike]"
#: Outcomes counted in :attr:`Alerter.counts` and ``keeper_alerts_total{outcome}``.
OUTCOMES = ("queued", "sent", "failed", "dropped", "suppressed")


@dataclass(frozen=True)
class Alert:
    """One message: ``level`` is Apprise's notify type (info, success, warning, failure)."""

    key: str
    title: str
    fields: dict[str, Any]
    level: str = "warning"
    resolved: bool = False

    def body(self) -> str:
        """The message text: ``condition: <key>`` then one ``name: value`` line per field."""
        lines = [f"condition: {self.key}"] + [f"{k}: {v}" for k, v in self.fields.items()]
        return "\n".join(lines)

    def full_title(self) -> str:
        return f"{TITLE_PREFIX} {'RESOLVED: ' if self.resolved else ''}{self.title}"


class Channel:
    """One Apprise URL (each its own :class:`apprise.Apprise`, so a failure names its channel).

    Args:
        url: an Apprise URL.

    Raises:
        ValueError: Apprise cannot load ``url`` (the message names its scheme, never the secrets).
    """

    def __init__(self, url: str) -> None:
        self.apprise = apprise.Apprise()
        if not self.apprise.add(url):
            raise ValueError(f"not an Apprise URL Apprise can load (scheme {url.split(':', 1)[0]!r})")
        self.name = self.apprise[0].url(privacy=True)

    def send(self, alert: Alert) -> bool:
        """Deliver ``alert``; True when the channel accepted it (Apprise logs why not)."""
        return bool(self.apprise.notify(body=alert.body(), title=alert.full_title(),
                                        notify_type=apprise.NotifyType(alert.level)))


def validate_urls(urls: Iterable[str]) -> None:
    """Raise ``ValueError`` naming the first entry (1-based) of ``urls`` Apprise cannot load."""
    for n, url in enumerate(urls, 1):
        try:
            Channel(url)
        except ValueError as err:
            raise ValueError(f"entry {n}: {err}") from None


_STOP = object()


class Alerter:
    """Deduplicates, rate-limits and sends operator alerts from a background thread.

    Args:
        urls: Apprise URLs (none: every call is a no-op that returns False).
        interval_s: at most one message per condition / event key per this many seconds.
        queue_size: messages waiting for the sender thread; beyond it new ones are dropped.
        metrics: a :class:`~macrostrike.keeper.metrics.Metrics` (``observe_alert``) or None.
        clock: monotonic seconds (tests pass their own).
        channels: ready channels instead of ``urls`` (tests).
    """

    def __init__(self, urls: Iterable[str] = (), *, interval_s: float = 300.0, queue_size: int = 100,
                 metrics: Any = None, clock: Callable[[], float] = time.monotonic,
                 channels: list[Channel] | None = None) -> None:
        self.channels = channels if channels is not None else [Channel(u) for u in urls]
        self.interval_s, self.metrics, self.clock = interval_s, metrics, clock
        self.counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        #: active conditions: key -> (monotonic time of the last message, title)
        self.active: dict[str, tuple[float, str]] = {}
        self._events: dict[str, float] = {}
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._pending = 0  # queued and not yet delivered (flush waits for 0)
        self._done = threading.Condition()
        self._thread: threading.Thread | None = None
        if self.channels:
            self._thread = threading.Thread(target=self._work, name="alerts", daemon=True)
            self._thread.start()

    @property
    def enabled(self) -> bool:
        return bool(self.channels)

    # -- the keeper's side (never blocks) ---------------------------------------------------------
    def fire(self, key: str, title: str, *, level: str = "warning", **fields: Any) -> bool:
        """Condition ``key`` holds: alert now if it is new or its last message is ``interval_s`` old.

        Args:
            key: the condition (one message per key per interval).
            title: a short headline.
            level: Apprise notify type.
            **fields: the values that describe it (shown one per line).

        Returns:
            True when a message was queued.
        """
        now = self.clock()
        last = self.active.get(key)
        if last is not None and now - last[0] < self.interval_s:
            self._count("suppressed")
            return False
        self.active[key] = (now, title)
        return self._post(Alert(key, title, fields, level))

    def resolve(self, key: str, **fields: Any) -> bool:
        """Condition ``key`` cleared: one "resolved" message if it was active. Returns True if queued."""
        last = self.active.pop(key, None)
        if last is None:
            return False
        return self._post(Alert(key, last[1], fields, "success", resolved=True))

    def resolve_missing(self, prefix: str, holding: Iterable[str], **fields: Any) -> list[str]:
        """Resolve every active condition starting with ``prefix`` whose key is not in ``holding``;
        returns the keys resolved."""
        keep = set(holding)
        gone = [k for k in self.active if k.startswith(prefix) and k not in keep]
        for key in gone:
            self.resolve(key, **fields)
        return gone

    def event(self, key: str, title: str, *, level: str = "warning", **fields: Any) -> bool:
        """A one-off event (no "resolved"): at most one message per ``key`` per interval. Returns
        True when queued."""
        now = self.clock()
        last = self._events.get(key)
        if last is not None and now - last < self.interval_s:
            self._count("suppressed")
            return False
        self._events[key] = now
        return self._post(Alert(key, title, fields, level))

    def _post(self, alert: Alert) -> bool:
        if not self.channels:
            return False
        try:
            with self._done:
                self._queue.put_nowait(alert)
                self._pending += 1
        except queue.Full:
            self._count("dropped")
            logger.warning("alert queue full (%d): dropped %r", self._queue.maxsize, alert.key)
            return False
        self._count("queued")
        return True

    def _count(self, outcome: str, n: int = 1) -> None:
        self.counts[outcome] += n
        if self.metrics is not None:
            self.metrics.observe_alert(outcome, n)

    # -- the sender thread ------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            alert = self._queue.get()
            if alert is _STOP:
                return
            for channel in self.channels:
                self._deliver(channel, alert)
            with self._done:
                self._pending -= 1
                self._done.notify_all()

    def _deliver(self, channel: Channel, alert: Alert) -> None:
        try:
            ok = channel.send(alert)
            error = "refused (see the apprise log)"
        except Exception as err:  # noqa: BLE001 - a broken channel must never reach the keeper
            ok, error = False, f"{type(err).__name__}: {err}"
        if ok:
            self._count("sent")
        else:
            self._count("failed")
            logger.warning("alert %r to %s failed: %s", alert.key, channel.name, error)

    def flush(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the queue to be sent; True when it was."""
        with self._done:
            return self._done.wait_for(lambda: self._pending == 0, timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (waiting at most ``timeout_s`` seconds), then stop the thread."""
        if self._thread is None:
            return
        self.flush(timeout_s)
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:
            pass  # the daemon thread dies with the process
        self._thread.join(max(0.0, min(timeout_s, 0.5)))
        self._thread = None


@dataclass
class KeeperAlerts:
    """Per-block watch of a running keeper's alert conditions (``on_block`` after each tick).

    Args:
        alerter: where alerts go.
        web3: the connection (signer balances).
        txm: the keeper's :class:`~macrostrike.keeper.txmanager.TxManager` (open intents).
        signers: the :class:`~macrostrike.keeper.signers.SignerPool` (``low_balances``, threshold
            ``low_balance_wei``).
        stuck_blocks: an intent open for this many blocks (since the block it was decided in) is stuck.
    """

    alerter: Alerter
    web3: Any
    txm: Any
    signers: Any
    stuck_blocks: int = 20
    _stuck: set[str] = field(default_factory=set)

    def on_block(self, number: int, decisions: Iterable[Any]) -> None:
        """Check every condition at block ``number`` with the tick's ``decisions`` (nothing without
        channels). A failing check (a balance read) is logged, never raised into the run loop."""
        if not self.alerter.enabled:
            return
        try:
            self.check_decisions(number, decisions)
            self.check_stuck(number)
            self.check_balances(number)
        except Exception as err:  # noqa: BLE001 - alerting must not fail a tick the keeper finished
            logger.warning("alert checks failed at block %d: %s: %s", number, type(err).__name__, err)

    def halted(self, error: BaseException, flush_timeout_s: float = 5.0) -> None:
        """The run loop halted (:class:`~macrostrike.keeper.runner.KeeperHalted`): alert, and give the
        message up to ``flush_timeout_s`` seconds to go out before the process exits."""
        self.alerter.event("keeper_halted", "keeper halted", level="failure", error=str(error).splitlines()[0])
        self.alerter.flush(flush_timeout_s)

    def check_decisions(self, number: int, decisions: Iterable[Any]) -> None:
        """Liquidations (``liquidated`` observations), the breaker (a mined checkpoint's
        ``breaker_tripped``) and children whose copy of it differs (``breaker_out_of_sync``, resolved
        by ``breaker_in_sync``)."""
        for d in decisions:
            if d.reason == "liquidated":
                self.alerter.event(f"liquidated:{d.job}:{d.bot_id}", f"bot {d.bot_id} ({d.job}) liquidated on Aave",
                                   level="failure", block=d.block, bot_id=d.bot_id, **_plain(d.detail))
            elif d.reason == "checkpoint" and "breaker_tripped" in d.detail:
                if d.detail["breaker_tripped"]:
                    self.alerter.fire("breaker", "circuit breaker tripped: openings refused", level="failure",
                                      block=d.block, total_equity=d.detail.get("total_equity"),
                                      tx=d.detail.get("tx"))
                else:
                    self.alerter.resolve("breaker", block=d.block, total_equity=d.detail.get("total_equity"))
            elif d.reason == "breaker_out_of_sync":
                state = "tripped" if d.detail.get("master") else "not tripped"
                self.alerter.fire("breaker_sync", f"child breaker copy differs from the master's ({state}): "
                                  f"{', '.join(d.detail.get('children', []))}", level="failure", block=d.block,
                                  **_plain(d.detail))
            elif d.reason == "breaker_in_sync":
                self.alerter.resolve("breaker_sync", block=d.block)

    def check_stuck(self, number: int) -> None:
        """Intents open for ``stuck_blocks`` blocks or more; resolved when they settle."""
        stuck = set()
        for intent in self.txm.open_intents():
            age = number - int(intent.created_block)
            if age >= self.stuck_blocks:
                key = f"stuck:{intent.id}"
                stuck.add(key)
                self.alerter.fire(key, f"transaction stuck for {age} blocks", block=number, intent=intent.id,
                                  job=intent.job, action=intent.action, bot_id=intent.bot_id, signer=intent.signer,
                                  nonce=intent.nonce, tx=intent.tx_hash, open_blocks=age)
        self.alerter.resolve_missing("stuck:", stuck, block=number)

    def check_balances(self, number: int) -> None:
        """Signers below the pool's ``low_balance_wei``; resolved when topped up."""
        if not self.signers.low_balance_wei:
            return
        low = set()
        for address, balance in self.signers.low_balances(self.web3):
            key = f"low_balance:{address}"
            low.add(key)
            self.alerter.fire(key, f"signer {address} low on gas", block=number, signer=address,
                              balance_eth=f"{balance / 1e18:.6f}",
                              threshold_eth=f"{self.signers.low_balance_wei / 1e18:.6f}")
        self.alerter.resolve_missing("low_balance:", low, block=number)


def _plain(detail: Mapping[str, Any]) -> dict[str, Any]:
    """``detail`` without keys that clash with the alert's own arguments."""
    return {k: v for k, v in detail.items() if k not in ("key", "title", "level", "block", "bot_id")}


def alerter_from_settings(settings: Any, metrics: Any = None) -> Alerter:
    """The :class:`Alerter` of ``settings`` (``alerts``, ``alert_interval_s``, ``alert_queue_size``)."""
    return Alerter(settings.alerts, interval_s=settings.alert_interval_s, queue_size=settings.alert_queue_size,
                   metrics=metrics)
