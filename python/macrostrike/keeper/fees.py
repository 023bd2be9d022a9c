"""One EIP-1559 fee policy for every keeper job (arbitrage, strike, risk checkpoint).

* **Next base fee** from the latest header, by EIP-1559's update rule (``eips.ethereum.org/EIPS/eip-1559``,
  "Specification": the base fee moves by at most 1/8 per block toward the gas target, which is half the
  gas limit). No round trip: the head's header is already read each block.
* **Tip** (``maxPriorityFeePerGas``): the node's suggestion (``eth_maxPriorityFeePerGas``, read at most
  once per block) clamped to ``[priority_fee_wei, priority_fee_max_wei]``; with
  ``tip_from_node=False`` the floor itself.
* **Max fee**: ``next base fee * max_fee_base_multiplier + tip``, capped at ``max_fee_cap_gwei``. A
  transaction whose max fee would be **below the next block's base fee + tip** is never signed: the
  node would refuse it (Anvil: -32003) or leave it unmineable. :class:`FeeAboveCap` is raised instead
  and the job journals a ``fee_above_cap`` skip.
* **Bump** (a stuck transaction's replacement): both fields raised by at least ``fee_bump_bps``
  (geth's txpool requires +10 %, ``core/txpool/legacypool`` ``PriceBump``), and at least what a fresh
  quote at the *current* base fee asks; None when that breaks the cap.

Units: wei per gas throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: EIP-1559 constants: BASE_FEE_MAX_CHANGE_DENOMINATOR and ELASTICITY_MULTIPLIER.
BASE_FEE_MAX_CHANGE_DENOMINATOR = 8
ELASTICITY_MULTIPLIER = 2


class FeeAboveCap(Exception):
    """The next block's base fee plus the tip is above ``max_fee_cap_gwei``: nothing is signed."""

    def __init__(self, next_base_fee: int, tip: int, cap: int) -> None:
        super().__init__(f"next base fee {next_base_fee} + tip {tip} wei is above the cap {cap} wei "
                         "(max_fee_cap_gwei)")
        self.next_base_fee, self.tip, self.cap = next_base_fee, tip, cap


@dataclass(frozen=True)
class Fees:
    """EIP-1559 fee fields of one attempt (wei per gas) and the base fee they were quoted for."""

    tip: int
    max_fee: int
    next_base_fee: int


def next_base_fee(header: Any) -> int:
    """The base fee of the block after ``header`` (EIP-1559 update rule).

    Args:
        header: a block with ``baseFeePerGas``, ``gasUsed`` and ``gasLimit`` (web3 mapping or dict).

    Returns:
        The next block's base fee in wei; 0 on a chain without EIP-1559.
    """
    base = int(header.get("baseFeePerGas") or 0)
    if base == 0:
        return 0
    target = int(header["gasLimit"]) // ELASTICITY_MULTIPLIER
    used = int(header["gasUsed"])
    if target == 0 or used == target:
        return base
    if used > target:
        return base + max(1, base * (used - target) // target // BASE_FEE_MAX_CHANGE_DENOMINATOR)
    return base - base * (target - used) // target // BASE_FEE_MAX_CHANGE_DENOMINATOR


def _raise_bps(value: int, bps: int) -> int:
    return -(-value * (10_000 + bps) // 10_000)  # rounded up


class FeePolicy:
    """Quotes and bumps fees for every job of one keeper.

    Args:
        web3: the connection (only ``eth_maxPriorityFeePerGas`` is read, once per block).
        priority_fee_wei: the tip's floor (and the tip itself with ``tip_from_node=False``).
        priority_fee_max_wei: the tip's ceiling.
        base_fee_multiplier: headroom on the next base fee for ``maxFeePerGas``.
        max_fee_cap_wei: cap on ``maxFeePerGas``; None for none.
        fee_bump_bps: least raise of both fields for a replacement (>= 1000).
        tip_from_node: ask the node for the tip (clamped) instead of using the floor.
    """

    def __init__(self, web3: Any, *, priority_fee_wei: int, priority_fee_max_wei: int | None = None,
                 base_fee_multiplier: int = 2, max_fee_cap_wei: int | None = None, fee_bump_bps: int = 1250,
                 tip_from_node: bool = False) -> None:
        if fee_bump_bps < 1000:
            raise ValueError("fee_bump_bps must be >= 1000: nodes refuse replacements below +10%")
        self.web3 = web3
        self.priority_fee_wei = priority_fee_wei
        self.priority_fee_max_wei = max(priority_fee_wei, priority_fee_max_wei or priority_fee_wei)
        self.base_fee_multiplier = base_fee_multiplier
        self.max_fee_cap_wei = max_fee_cap_wei
        self.fee_bump_bps = fee_bump_bps
        self.tip_from_node = tip_from_node
        self._tip_cache: tuple[int, int] | None = None  # (block number, tip)

    @classmethod
    def from_settings(cls, web3: Any, settings: Any) -> FeePolicy:
        """The policy of :class:`~macrostrike.keeper.settings.KeeperSettings`."""
        return cls(web3, priority_fee_wei=settings.priority_fee_wei,
                   priority_fee_max_wei=settings.priority_fee_max_wei,
                   base_fee_multiplier=settings.max_fee_base_multiplier, max_fee_cap_wei=settings.fee_cap_wei(),
                   fee_bump_bps=settings.fee_bump_bps, tip_from_node=settings.tip_from_node)

    def tip(self, block_number: int | None = None) -> int:
        """The tip to offer (wei per gas), clamped to the policy's bounds."""
        if not self.tip_from_node:
            return self.priority_fee_wei
        if self._tip_cache is not None and block_number is not None and self._tip_cache[0] == block_number:
            return self._tip_cache[1]
        try:
            suggested = int(self.web3.eth.max_priority_fee)
        except Exception:  # noqa: BLE001 - a node without the method: the floor
            suggested = self.priority_fee_wei
        tip = min(self.priority_fee_max_wei, max(self.priority_fee_wei, suggested))
        if block_number is not None:
            self._tip_cache = (block_number, tip)
        return tip

    def quote(self, header: Any) -> Fees:
        """Fees for a new transaction going into the block after ``header``.

        Raises:
            FeeAboveCap: next base fee + tip is above the cap (nothing must be signed).
        """
        base = next_base_fee(header)
        tip = self.tip(int(header["number"]) if "number" in header else None)
        max_fee = base * self.base_fee_multiplier + tip
        if self.max_fee_cap_wei is not None:
            if base + tip > self.max_fee_cap_wei:
                raise FeeAboveCap(base, tip, self.max_fee_cap_wei)
            max_fee = min(max_fee, self.max_fee_cap_wei)
        return Fees(tip=tip, max_fee=max_fee, next_base_fee=base)

    def bump(self, previous: Fees, header: Any) -> Fees | None:
        """Fees for a replacement of ``previous`` (same nonce) quoted against ``header``.

        Returns:
            Both fields raised by at least ``fee_bump_bps`` and at least a fresh quote; None when
            the raised max fee would be above the cap (the replacement cannot be afforded).
        """
        base = next_base_fee(header)
        tip = max(_raise_bps(previous.tip, self.fee_bump_bps) if previous.tip else 1, self.tip())
        max_fee = max(_raise_bps(previous.max_fee, self.fee_bump_bps), base * self.base_fee_multiplier + tip)
        if self.max_fee_cap_wei is not None and max_fee > self.max_fee_cap_wei:
            floor = _raise_bps(previous.max_fee, self.fee_bump_bps)
            if floor > self.max_fee_cap_wei or base + tip > self.max_fee_cap_wei:
                return None
            max_fee = self.max_fee_cap_wei
        return Fees(tip=min(tip, max_fee), max_fee=max_fee, next_base_fee=base)
