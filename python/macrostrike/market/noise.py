"""Noise traders: each trades its own pool toward the historical close with its own random error.

Trader ``i`` draws ``target = close * (1 + e)``, ``e ~ Normal(0, noise_bps / 10_000)`` from its own
seeded RNG, then swaps through its DEX's Router02 exactly the input that moves the pool's
marginal price to ``target`` (fee included; :func:`macrostrike.amm.v2math.amount_to_price`). Two
traders on two DEXes draw independent errors, so the pools drift apart the way prices on real
DEXes do between arbitrageurs. They accept any output (``amountOutMin = 0``): they are the market,
not a strategy.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector

from macrostrike.amm.v2math import amount_to_price
from macrostrike.keeper.context import Pool
from macrostrike.keeper.txsender import Sent, TxSender

SWAP_EXACT = function_signature_to_4byte_selector(
    "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)")
SWAP_GAS_LIMIT = 250_000


@dataclass
class NoiseTrader:
    """One noise trader on one DEX (``router`` and ``pool`` of that DEX)."""

    name: str
    sender: TxSender
    router: str
    pool: Pool
    usdc: str
    wbtc: str
    rng: random.Random
    noise_bps: float
    trades: int = 0

    def trade_toward(self, close_usd: float, deadline: int, base_fee_wei: int) -> Sent | None:
        """Swap this trader's pool toward ``close_usd`` (USD per BTC) with this trader's error."""
        target = close_usd * (1.0 + self.rng.gauss(0.0, self.noise_bps / 10_000))
        reserves = self.pool.reserves(self.sender.web3)
        direction, amount = amount_to_price(reserves, target)
        if amount <= 0:
            return None
        path = [self.usdc, self.wbtc] if direction == "quote_in" else [self.wbtc, self.usdc]
        data = SWAP_EXACT + encode(["uint256", "uint256", "address[]", "address", "uint256"],
                                   [amount, 0, path, self.sender.address, deadline])
        sent = self.sender.send(self.router, data, SWAP_GAS_LIMIT, base_fee_wei)
        self.trades += 1
        return sent


def fund_trader(account: Any, owner: Any, usdc: Any, wbtc: Any, routers: list[str],
                usdc_amount: int, wbtc_amount: int) -> None:
    """Mint test tokens to a trader (``owner`` owns the test tokens) and approve the routers."""
    usdc.mint(account.address, usdc_amount, sender=owner)
    wbtc.mint(account.address, wbtc_amount, sender=owner)
    for router in routers:
        usdc.approve(router, 2**256 - 1, sender=account)
        wbtc.approve(router, 2**256 - 1, sender=account)
