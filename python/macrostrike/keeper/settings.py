"""Keeper settings (pydantic-settings): the ``keeper:`` section of ``ape-config.yaml``, overridden
by environment variables ``MACROSTRIKE_KEEPER_<FIELD>``.

Invalid values fail at start with the field named (:func:`load_settings` raises ``ValueError``
with one line naming the setting and the problem).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class KeeperSettings(BaseSettings):
    """How the keeper decides and sends. Units are in the field names."""

    model_config = SettingsConfigDict(env_prefix="MACROSTRIKE_KEEPER_", extra="forbid")

    #: ETH price used to turn gas (wei) into USDC for the profit-after-gas test. The skeleton has no
    #: ETH feed; this is an assumption and every report states it.
    eth_usd_price: float = Field(300.0, gt=0)
    #: EIP-1559 priority fee (tip) offered per gas, in wei.
    priority_fee_wei: int = Field(1_000_000_000, ge=0)
    #: maxFeePerGas = base fee * this + priority fee (room for base-fee rises while pending).
    max_fee_base_multiplier: int = Field(2, ge=1, le=10)
    #: Gas assumed for an arbitrage before the keeper has measured one (units of gas).
    default_arbitrage_gas: int = Field(180_000, gt=21_000)
    #: Gas limit = estimate * (1 + gas_limit_margin_bps / 10_000).
    gas_limit_margin_bps: int = Field(2_500, ge=0, le=10_000)
    #: Most arbitrage transactions the keeper sends per block (bots are used in turn).
    max_trades_per_block: int = Field(5, ge=1, le=100)
    #: Seconds between polls for a new block in `ape keeper run`.
    poll_interval_s: float = Field(1.0, gt=0)
    #: Cap on maxFeePerGas (gwei). Work whose base fee + tip is above it is skipped (reason
    #: ``fee_above_cap``); None: no cap.
    max_fee_cap_gwei: float | None = Field(None, gt=0)
    #: Rotation rule: operations per signer per window (None: off), window and rest (seconds of chain time).
    signer_max_ops: int | None = Field(3, ge=1)
    signer_window_s: int = Field(1800, ge=1)
    signer_cooldown_s: int = Field(1800, ge=0)
    #: The run loop halts after this many errors in a row; retries back off exponentially.
    max_consecutive_errors: int = Field(10, ge=1)
    backoff_base_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(30.0, gt=0)
    #: A signer below this balance (ETH) is reported.
    signer_low_balance_eth: float = Field(0.05, ge=0)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[Any, ...]:
        # environment first, then the values passed in (the ape-config section)
        return (env_settings, init_settings)

    def fee_cap_wei(self) -> int | None:
        """:attr:`max_fee_cap_gwei` in wei, or None."""
        return None if self.max_fee_cap_gwei is None else int(self.max_fee_cap_gwei * 10**9)


def load_settings(overrides: dict[str, Any] | None = None) -> KeeperSettings:
    """Settings from ``ape-config.yaml`` (``keeper:``), the environment and ``overrides``.

    Raises ``ValueError`` with one line naming the setting, e.g. ``invalid keeper setting
    'eth_usd_price' (ape-config.yaml keeper.eth_usd_price or MACROSTRIKE_KEEPER_ETH_USD_PRICE):
    Input should be greater than 0``.
    """
    from ape import project

    values = dict((project.config.model_extra or {}).get("keeper") or {})
    values.update(overrides or {})
    try:
        return KeeperSettings(**values)
    except ValidationError as err:
        first = err.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "?"
        raise ValueError(f"invalid keeper setting '{name}' (ape-config.yaml keeper.{name} or "
                         f"MACROSTRIKE_KEEPER_{name.upper()}): {first['msg']}") from None
