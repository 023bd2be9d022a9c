"""Helpers for tests of the Aave V3 venue: the project's tokens, a seeded market, Aave's maths."""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal

import pytest
from ape.exceptions import ContractLogicError

from macrostrike.deploy import aave, venues

#: Initial USD prices (BTC near the 2017-2019 replay's range).
PRICES = {"USDC": 1.0, "WBTC": 30_000.0, "WETH": 2_000.0}
#: Liquidity the supplier deposits (base units): $5M USDC, 100 WBTC, 1,000 WETH.
SEED = {"USDC": 5_000_000 * 10**6, "WBTC": 100 * 10**8, "WETH": 1_000 * 10**18}


def deploy_tokens(project, owner) -> dict:
    """USDC (6) and WBTC (8) TestTokens as deploy/system.py deploys them, and canonical WETH9."""
    return {
        "USDC": owner.deploy(project.TestToken, "USD Coin (test)", "USDC", 6, owner.address),
        "WBTC": owner.deploy(project.TestToken, "Wrapped BTC (test)", "WBTC", 8, owner.address),
        "WETH": venues.deploy_weth(owner),
    }


def deploy_seeded_market(project, owner, supplier):
    """(tokens, market): the three reserves listed at :data:`PRICES`, :data:`SEED` supplied by ``supplier``."""
    tokens = deploy_tokens(project, owner)
    market = aave.deploy_aave_market(owner, tokens, PRICES)
    aave.seed_liquidity(market, supplier, tokens, SEED)
    return tokens, market


def health_factor(collateral: list[tuple[int, int]], debt: list[int]) -> Decimal:
    """HF = Σ collateral_i · LT_i / Σ debt_j, values in the base currency (Aave V3 docs, "Health Factor").

    ``collateral``: (value in USD·1e8, liquidation threshold in bps) per asset; ``debt``: USD·1e8 per asset.
    """
    num = sum(Decimal(value) * Decimal(lt) / 10_000 for value, lt in collateral)
    return num / sum(Decimal(d) for d in debt)


def usd_e8(amount: int, decimals: int, price_e8: int) -> int:
    """Value in the oracle's base currency (USD, 8 decimals) as Aave's GenericLogic rounds it."""
    return amount * price_e8 // 10**decimals


@contextmanager
def reverts_with(fragment: str):
    """The call reverts and the decoded error (name or Aave error code string) contains ``fragment``."""
    with pytest.raises(ContractLogicError) as info:
        yield
    text = f"{type(info.value).__name__} {info.value}"
    assert fragment in text, f"expected a revert mentioning {fragment!r}, got {text!r}"
