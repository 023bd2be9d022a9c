"""Keeper settings (pydantic-settings): the ``keeper:`` section of ``ape-config.yaml``, overridden
by environment variables ``MACROSTRIKE_KEEPER_<FIELD>``.

Invalid values fail at start with the field named (:func:`load_settings` raises ``ValueError``
with one line naming the setting and the problem); so does a ``MACROSTRIKE_KEEPER_*`` variable or a
``keeper:`` key that is no setting (a typo would otherwise be ignored: the keeper would run without
the cap the operator meant to set), with the closest setting's name.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict


class KeeperSettings(BaseSettings):
    """How the keeper decides and sends. Units are in the field names."""

    model_config = SettingsConfigDict(env_prefix="MACROSTRIKE_KEEPER_", extra="forbid")

    #: ETH/USD used to turn gas (wei) into USDC for the profit-after-gas test: read from a
    #: Chainlink-compatible feed (``latestRoundData``, 8 decimals) at ``eth_usd_feed`` — an address,
    #: or None for the deployment's own WETH feed when its manifest has one (the demo's Aave market).
    #: ``eth_usd_price`` is the explicit fallback when there is no feed or its answer is older than
    #: ``eth_usd_max_age_s``; reports state which was used.
    eth_usd_feed: str | None = Field(None, pattern=r"^0x[0-9a-fA-F]{40}$")
    eth_usd_max_age_s: int = Field(86_400, ge=1)
    eth_usd_price: float = Field(3_000.0, gt=0)
    #: EIP-1559 priority fee (tip) offered per gas, in wei: the floor; with ``tip_from_node`` the
    #: node's ``eth_maxPriorityFeePerGas`` clamped to [priority_fee_wei, priority_fee_max_wei].
    priority_fee_wei: int = Field(1_000_000_000, ge=0)
    priority_fee_max_wei: int = Field(50_000_000_000, ge=0)
    tip_from_node: bool = False
    #: Most blocks per eth_getLogs request (backfill, liquidation scan); halved when the node refuses
    #: a range (hosted nodes: "query exceeds max block range").
    logs_max_range_blocks: int = Field(2_000, ge=1)
    #: `ape keeper health --liveness`: the run loop's heartbeat must be younger than this (seconds).
    health_max_heartbeat_age_s: float = Field(60.0, gt=0)
    #: maxFeePerGas = base fee * this + priority fee (room for base-fee rises while pending).
    max_fee_base_multiplier: int = Field(2, ge=1, le=10)
    #: Gas assumed for an arbitrage before the keeper has measured one (units of gas).
    default_arbitrage_gas: int = Field(180_000, gt=21_000)
    #: Gas limit = estimate * (1 + gas_limit_margin_bps / 10_000).
    gas_limit_margin_bps: int = Field(2_500, ge=0, le=10_000)
    #: Gas the risk checkpoint's limit adds per strike entry of this keeper still in flight when the
    #: checkpoint is estimated (units of gas): the entry can land first, and the checkpoint then
    #: values one more position than its estimate saw. Measured on the sandbox (Aave V3 3.x, Anvil):
    #: 149,930 for the first position in a child, ~35,400 for each further one (tests/test_keeper_items.py item 11).
    checkpoint_gas_per_entry: int = Field(160_000, ge=0)
    #: Likewise for an emergency exit (units of gas per strike entry in flight): closing one more
    #: position. `make gas` measures a close at 1.29M–1.32M at the most leverage the default rules reach.
    exit_gas_per_entry: int = Field(1_500_000, ge=0)
    #: Most arbitrage transactions the keeper sends per block (bots are used in turn).
    max_trades_per_block: int = Field(5, ge=1, le=100)
    #: Seconds between polls for a new block in `ape keeper run`.
    poll_interval_s: float = Field(1.0, gt=0)
    #: Two keepers on one PostgreSQL journal (macrostrike.keeper.leader): a leader that stops answering
    #: loses its lock this many seconds later (the server's idle_session_timeout on the lock
    #: connection); a standby tries the lock every leader_poll_s (below the lease).
    leader_lease_s: float = Field(10.0, ge=1)
    leader_poll_s: float = Field(1.0, gt=0)
    #: Cap on maxFeePerGas (gwei). Work whose base fee + tip is above it is skipped (reason
    #: ``fee_above_cap``); None: no cap.
    max_fee_cap_gwei: float | None = Field(None, gt=0)
    #: Rotation rule: operations per signer per window (None: off), window and rest (seconds of chain time).
    signer_max_ops: int | None = Field(3, ge=1)
    signer_window_s: int = Field(1800, ge=1)
    signer_cooldown_s: int = Field(1800, ge=0)
    #: Prometheus metrics for `ape keeper run` (macrostrike.keeper.metrics): port (None: off;
    #: --metrics-port overrides) and listen address ("0.0.0.0" to let a scraper on another host in).
    metrics_port: int | None = Field(None, ge=0, le=65_535)
    metrics_addr: str = "127.0.0.1"
    #: `ape keeper health` thresholds (macrostrike.keeper.health): keeper cursor lag (blocks), age of
    #: the head block (seconds; None: off, e.g. for an automining dev chain that is idle), age of a
    #: pending transaction (seconds).
    health_max_lag_blocks: int = Field(10, ge=0)
    health_max_block_age_s: float | None = Field(300.0, gt=0)
    health_max_pending_age_s: float = Field(120.0, gt=0)
    #: The run loop halts after this many errors in a row; retries back off exponentially.
    max_consecutive_errors: int = Field(10, ge=1)
    backoff_base_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(30.0, gt=0)
    #: A signer below this balance (ETH) is reported.
    signer_low_balance_eth: float = Field(0.05, ge=0)
    #: Blocks (the including one counted) before a transaction's outcome is final; 1 = mined.
    confirmations: int = Field(1, ge=1, le=64)
    #: Seconds without a receipt before a transaction is replaced (same nonce, higher fees).
    stuck_after_s: float = Field(30.0, gt=0)
    #: Fee increase per replacement, bps of both fee fields (nodes require >= 1000, i.e. +10%).
    fee_bump_bps: int = Field(1250, ge=1000, le=10_000)
    #: Replacements per transaction before the keeper gives up on it (it stays journalled).
    max_replacements: int = Field(5, ge=0, le=50)
    #: Overall seconds to wait for a transaction's outcome.
    tx_timeout_s: float = Field(300.0, gt=0)
    #: After this many measured arbitrages the gas limit comes from the largest recent measurement
    #: (+ margin) instead of an eth_estimateGas round trip per trade; 0: always estimate.
    trusted_gas_samples: int = Field(5, ge=0)
    #: Receipt poll of blocking sends (scripts, the replay; the keeper loop settles once per block):
    #: from receipt_poll_s, doubling per miss up to receipt_poll_max_s.
    receipt_poll_s: float = Field(0.005, gt=0)
    receipt_poll_max_s: float = Field(0.5, gt=0)
    #: A bot whose transaction reverted on chain is not used again for this many blocks.
    revert_rest_blocks: int = Field(10, ge=0)
    #: How far back (blocks) a reorg is looked for when the last processed block's hash changed.
    reorg_depth: int = Field(64, ge=1)
    #: Strike job (macrostrike.keeper.strike): margin of a new position as bps of the bot's capital,
    #: leverage asked for (bps, 10_000 = 1x), the health-factor floor the keeper defends (each bot's
    #: on-chain minHealthFactor rule; this value only until that is read — LibStrike's default 1.15)
    #: plus a buffer: below floor + buffer the position is decreased by strike_deleverage_bps.
    #: Deadline of strike transactions (seconds).
    strike_margin_bps: int = Field(5_000, ge=1, le=10_000)
    #: (1.5x: a long's HF ~2.3, a short's ~2.1 at entry; LibStrike caps leverage at 5x)
    strike_leverage_bps: int = Field(15_000, ge=10_000, le=50_000)
    strike_min_health_factor: float = Field(1.15, gt=1.0)
    strike_hf_buffer: float = Field(0.1, ge=0)
    strike_deleverage_bps: int = Field(5_000, ge=1, le=10_000)
    strike_deadline_s: int = Field(900, ge=1)
    #: Gas assumed for a strike transaction before one is measured (units of gas).
    strike_default_gas: int = Field(1_200_000, gt=21_000)
    #: `keeper run`: chain seconds between two price observations fed to the strike signals (their
    #: parameters count observations: hours in the demo, which feeds one per replayed hour), and the
    #: price-feed rounds read back at start-up to warm them up (0: start cold).
    strike_signal_interval_s: int = Field(3_600, ge=1)
    strike_warmup_rounds: int = Field(300, ge=0, le=5_000)
    #: `keeper run`: chain seconds between two master.checkpoint() calls (drawdown / daily-loss
    #: breaker; the signer must be a risk keeper); 0: the keeper never calls it.
    checkpoint_interval_s: int = Field(3_600, ge=0)
    #: Hedged pairs: (long bot id, short bot id). When one side is liquidated on Aave or closed
    #: without the keeper (force-closed), the keeper closes the other side in the next block.
    hedge_pairs: list[tuple[int, int]] = Field(default_factory=list)
    #: Operator alerts (macrostrike.keeper.alerts): Apprise URLs (json://host/path, slack://…,
    #: tgram://…, mailto://…, ntfy://…); [] = off. In the environment: a JSON list or URLs separated
    #: by whitespace. Each condition alerts at most once per ``alert_interval_s`` seconds (then a
    #: "resolved" message when it clears); an intent open for ``alert_stuck_blocks`` blocks is stuck;
    #: ``alert_queue_size`` messages wait for the sender thread (more are dropped, counted);
    #: ``alert_flush_timeout_s``: at exit (or a halt) the queue gets this long to go out.
    alerts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    alert_interval_s: float = Field(300.0, gt=0)
    alert_stuck_blocks: int = Field(20, ge=1)
    alert_queue_size: int = Field(100, ge=1, le=10_000)
    alert_flush_timeout_s: float = Field(5.0, ge=0)

    #: Emergency triggers (macrostrike.keeper.emergency) watched by `keeper run` ([] = none):
    #: "congestion" (base fee above max_fee_cap_gwei for emergency_fee_blocks blocks in a row, or
    #: emergency_failed_sends failed sends in a row), "stale_feed" (the strike asset's feed older than
    #: emergency_feed_max_age_s seconds), "liquidity" (a pool's liquidity down > 30 % on an hour ago),
    #: "price_dump" (> 40 % below the window's high, oracle or pool), "pool_deviation" (a pool > 10 %
    #: from the oracle), "liquidated" (a strike bot liquidated on Aave; its action
    #: "pause:affected" pauses the liquidated bot's child). emergency_actions: per trigger, the master calls made when it
    #: fires, in order ("pause:long|short|amm", "stop" = emergencyStop, "exit" = emergencyExit,
    #: "move_to_safe" = moveToSafe, the master's balance to its safe address; [] = alert only);
    #: they are owner-only: `keeper run --emergency-signer ALIAS`.
    emergency_triggers: list[Literal["congestion", "stale_feed", "liquidity", "price_dump", "pool_deviation",
                                     "liquidated"]] = Field(default_factory=list)
    emergency_fee_blocks: int = Field(3, ge=1)
    emergency_failed_sends: int = Field(5, ge=0)
    emergency_feed_max_age_s: int = Field(3_600, ge=1)
    #: "liquidity": a pool's sqrt(reserve0*reserve1) this far (bps) below the oldest sample of the window (s).
    emergency_liquidity_drop_bps: int = Field(3_000, ge=1, le=10_000)
    emergency_liquidity_window_s: int = Field(3_600, ge=1)
    #: "price_dump": the oracle's or DEX A's price this far (bps) below its high of the window (s);
    #: "pool_deviation": a pool's price this far (bps) from the oracle's.
    emergency_dump_bps: int = Field(4_000, ge=1, le=10_000)
    emergency_dump_window_s: int = Field(3_600, ge=1)
    emergency_pool_deviation_bps: int = Field(1_000, ge=1)
    emergency_actions: dict[str, list[str]] = Field(default_factory=lambda: {
        "congestion": ["stop"], "stale_feed": ["pause:long", "pause:short"], "liquidity": ["stop"],
        "price_dump": ["exit"], "pool_deviation": ["pause:long", "pause:short"], "liquidated": ["pause:affected"]})

    @field_validator("emergency_actions")
    @classmethod
    def _known_emergency_actions(cls, actions: dict[str, list[str]]) -> dict[str, list[str]]:
        children = ("long", "short", "amm")
        for trigger, names in actions.items():
            for name in names:
                plain = name in ("stop", "exit", "move_to_safe") or (name.startswith("pause:") and name[6:] in children)
                if not plain and not (trigger == "liquidated" and name == "pause:affected"):
                    raise ValueError(f"{trigger}: unknown action {name!r} (pause:long|short|amm, stop, exit or "
                                     "move_to_safe; liquidated also pause:affected)")
        return actions

    @field_validator("alerts", mode="before")
    @classmethod
    def _split_alert_urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value) if value.lstrip().startswith("[") else value.split()
        return value

    @field_validator("alerts")
    @classmethod
    def _loadable_alert_urls(cls, urls: list[str]) -> list[str]:
        from macrostrike.keeper.alerts import validate_urls

        validate_urls(urls)
        return urls

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[Any, ...]:
        # environment first, then the values passed in (the ape-config section)
        return (env_settings, init_settings)

    def fee_cap_wei(self) -> int | None:
        """:attr:`max_fee_cap_gwei` in wei, or None."""
        return None if self.max_fee_cap_gwei is None else int(self.max_fee_cap_gwei * 10**9)


ENV_PREFIX = "MACROSTRIKE_KEEPER_"


def env_name(field: str) -> str:
    """The environment variable that sets ``field`` (pydantic-settings: prefix + name, any case).

    Args:
        field: a :class:`KeeperSettings` field name.

    Returns:
        ``MACROSTRIKE_KEEPER_<FIELD>``.
    """
    return f"{ENV_PREFIX}{field.upper()}"


def closest_setting(name: str) -> str | None:
    """The :class:`KeeperSettings` field closest to ``name`` (difflib), or None when none is close.

    Args:
        name: a mistyped setting name (any case).

    Returns:
        The closest field name, or None.
    """
    fields = list(KeeperSettings.model_fields)
    lowered = name.lower()
    prefixed = [f for f in fields if f.startswith(lowered) or lowered.startswith(f)]  # max_fee_cap -> _gwei
    close = difflib.get_close_matches(lowered, fields, n=1, cutoff=0.6)
    return (close or prefixed or [None])[0]


def unknown_env_settings(environ: Mapping[str, str] | None = None) -> list[str]:
    """``MACROSTRIKE_KEEPER_*`` variables that are no setting (pydantic-settings ignores them).

    Args:
        environ: the environment (default ``os.environ``).

    Returns:
        Their names, sorted.
    """
    environ = os.environ if environ is None else environ
    fields = set(KeeperSettings.model_fields)
    return sorted(k for k in environ if k.upper().startswith(ENV_PREFIX)
                  and k[len(ENV_PREFIX):].lower() not in fields)


def _did_you_mean(name: str) -> str:
    close = closest_setting(name)
    return (f"did you mean {close} ({env_name(close)})?" if close is not None else
            "see python/macrostrike/keeper/settings.py for the settings")


def load_settings(overrides: dict[str, Any] | None = None) -> KeeperSettings:
    """Settings from ``ape-config.yaml`` (``keeper:``), the environment and ``overrides``.

    Args:
        overrides: values that win over ``ape-config.yaml`` (the environment still wins over both).

    Returns:
        The validated settings.

    Raises:
        ValueError: one line naming the setting, e.g. ``invalid keeper setting 'eth_usd_price'
            (ape-config.yaml keeper.eth_usd_price or MACROSTRIKE_KEEPER_ETH_USD_PRICE): Input should be
            greater than 0``; or an unknown ``MACROSTRIKE_KEEPER_*`` variable / ``keeper:`` key with the
            closest setting, e.g. ``unknown keeper setting MACROSTRIKE_KEEPER_MAX_FEE_CAP in the
            environment (it would be ignored): did you mean max_fee_cap_gwei
            (MACROSTRIKE_KEEPER_MAX_FEE_CAP_GWEI)?``.
    """
    from ape import project

    unknown = unknown_env_settings()
    if unknown:
        raise ValueError(f"unknown keeper setting {unknown[0]} in the environment: "
                         f"{_did_you_mean(unknown[0][len(ENV_PREFIX):])}")
    values = dict((project.config.model_extra or {}).get("keeper") or {})
    values.update(overrides or {})
    try:
        return KeeperSettings(**values)
    except ValidationError as err:
        first = err.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "?"
        if first["type"] == "extra_forbidden":
            raise ValueError(f"unknown keeper setting '{name}' (ape-config.yaml keeper.{name}): "
                             f"{_did_you_mean(name)}") from None
        raise ValueError(f"invalid keeper setting '{name}' (ape-config.yaml keeper.{name} or "
                         f"{env_name(name)}): {first['msg']}") from None
