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

from macrostrike.amm import v3math
from macrostrike.amm.v2math import amount_to_price
from macrostrike.keeper.context import Pool
from macrostrike.keeper.txsender import Sent, TxSender

SWAP_EXACT = function_signature_to_4byte_selector(
    "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)")
SWAP_GAS_LIMIT = 250_000
#: SwapRouter (v3-periphery 1.4.4) exactInputSingle((tokenIn, tokenOut, fee, recipient, deadline, amountIn,
#: amountOutMinimum, sqrtPriceLimitX96)).
EXACT_INPUT_SINGLE = function_signature_to_4byte_selector(
    "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))")
SLOT0 = function_signature_to_4byte_selector("slot0()")
#: A V3 swap may cross several initialized ticks (~20-30k gas each) on top of ~120k.
V3_SWAP_GAS_LIMIT = 500_000


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


@dataclass
class V3NoiseTrader:
    """One noise trader on the Uniswap V3 pool (DEX C): the same error model as :class:`NoiseTrader`.

    It swaps through ``SwapRouter.exactInputSingle`` with the target's square-root price as
    ``sqrtPriceLimitX96`` and up to ``max_in`` of the input token: the pool stops at the target (the
    router pays only what the swap used), so no V3 liquidity maths is needed to size the trade.
    """

    name: str
    sender: TxSender
    router: str
    pool: str
    fee: int
    usdc: str
    wbtc: str
    rng: random.Random
    noise_bps: float
    #: most of each token one swap may spend (base units: USDC, WBTC)
    max_in: tuple[int, int]
    trades: int = 0

    @property
    def usdc_is_token0(self) -> bool:
        return int(self.usdc, 16) < int(self.wbtc, 16)

    def trade_toward(self, close_usd: float, deadline: int, base_fee_wei: int) -> Sent | None:
        """Swap the V3 pool toward ``close_usd`` (USD per BTC) with this trader's error."""
        target = close_usd * (1.0 + self.rng.gauss(0.0, self.noise_bps / 10_000))
        web3 = self.sender.web3
        current = int.from_bytes(bytes(web3.eth.call({"to": self.pool, "data": SLOT0}))[:32], "big")
        limit = v3math.sqrt_price_x96(v3math.raw_price(target, self.usdc_is_token0))
        buy_btc = target > float(v3math.human_price(current, self.usdc_is_token0))
        token_in, token_out, max_in = (self.usdc, self.wbtc, self.max_in[0]) if buy_btc else \
            (self.wbtc, self.usdc, self.max_in[1])
        zero_for_one = (token_in == self.usdc) == self.usdc_is_token0
        if (zero_for_one and limit >= current) or (not zero_for_one and limit <= current):
            return None  # already at the target (to the rounding of the square-root price)
        params = (token_in, token_out, self.fee, self.sender.address, deadline, max_in, 0, limit)
        data = EXACT_INPUT_SINGLE + encode(["(address,address,uint24,address,uint256,uint256,uint256,uint160)"],
                                           [params])
        sent = self.sender.send(self.router, data, V3_SWAP_GAS_LIMIT, base_fee_wei)
        self.trades += 1
        return sent
