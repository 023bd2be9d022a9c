"""Keeper settings (pydantic-settings): environment variables ``MACROSTRIKE_KEEPER_<FIELD>``.

Invalid values fail at start with the field named (pydantic's validation error, shown as one line
by the CLI).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
