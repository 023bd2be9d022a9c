"""L1 data fees of rollups, for the keeper's profit-after-gas check.

What each chain's fee model leaves out of ``gas x gas price``:

* **OP stack** (Optimism, Base): every transaction also pays an L1 data fee, charged apart from the L2
  gas (the receipt's ``l1Fee``; not in ``eth_estimateGas`` nor in ``gasUsed``). The chain's
  ``GasPriceOracle`` predeploy (``0x420000000000000000000000000000000000000F``) quotes it:
  ``getL1Fee(bytes)`` takes the unsigned RLP-encoded transaction and returns wei (Optimism specs,
  "Predeploys: GasPriceOracle"; since Fjord the size is a FastLZ estimate of the compressed transaction).
  :class:`L1DataFee` reads it once per block for the keeper's arbitrage calldata and the job adds it
  to the gas cost.
* **Arbitrum** (One, Nova): the L1 component is charged in L2 gas units and *is* in ``eth_estimateGas``
  and in the receipt's ``gasUsed`` (``gasUsedForL1`` is part of it; Arbitrum docs, "Estimate gas";
  NodeInterface ``gasEstimateL1Component`` at ``0xc8`` splits it out). The job's gas basis is the median
  ``gasUsed`` of its measured trades, so it includes the L1 part once a trade has been measured; before
  that, ``default_arbitrage_gas`` (an L1-chain figure) understates it: no NodeInterface call is made.
* **Polygon PoS, Avalanche C-Chain**: no L1 data fee (EIP-1559 gas only).

Units: wei.
"""

from __future__ import annotations

import logging
from typing import Any

import rlp
from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector

logger = logging.getLogger(__name__)

#: Chain ids of OP stack chains whose transactions pay the L1 data fee: OP Mainnet, Base, OP Sepolia, Base Sepolia.
OP_STACK_CHAIN_IDS = frozenset({10, 8453, 11155420, 84532})
#: The OP stack's GasPriceOracle predeploy.
GAS_PRICE_ORACLE = "0x420000000000000000000000000000000000000F"
GET_L1_FEE = function_signature_to_4byte_selector("getL1Fee(bytes)")


def unsigned_eip1559(chain_id: int, to: str, data: bytes, gas: int, max_fee: int, tip: int, nonce: int = 0) -> bytes:
    """``0x02 || rlp([chainId, nonce, tip, maxFee, gas, to, 0, data, []])``: the unsigned EIP-1559 transaction
    (EIP-1559, "Specification"), what ``getL1Fee`` sizes (the oracle adds the signature's 68 bytes itself)."""
    return b"\x02" + rlp.encode([chain_id, nonce, tip, max_fee, gas, bytes.fromhex(to[2:]), 0, data, []])


class L1DataFee:
    """The OP stack L1 data fee of one transaction shape, read from the ``GasPriceOracle`` once per block.

    Args:
        web3: the connection.
        oracle: the oracle's address (the predeploy by default).
    """

    def __init__(self, web3: Any, oracle: str = GAS_PRICE_ORACLE) -> None:
        self.web3, self.oracle = web3, oracle
        self._block, self._wei = -1, 0
        self.available: bool | None = None

    def wei(self, block: int, tx: bytes) -> int:
        """L1 data fee (wei) of the unsigned transaction ``tx`` at block ``block`` (cached per block); 0 with
        one warning when the oracle has no code (an Anvil standing in for the chain)."""
        if block == self._block:
            return self._wei
        if self.available is None:
            self.available = bool(bytes(self.web3.eth.get_code(self.oracle)))
            if not self.available:
                logger.warning("no GasPriceOracle at %s: the L1 data fee is not counted (a stand-in chain?)", self.oracle)
        if not self.available:
            return 0
        raw = bytes(self.web3.eth.call({"to": self.oracle, "data": GET_L1_FEE + encode(["bytes"], [tx])}))
        self._block, self._wei = block, int(decode(["uint256"], raw)[0])
        return self._wei


def for_chain(web3: Any, chain_id: int) -> L1DataFee | None:
    """The L1 data fee reader of an OP stack chain, None elsewhere (see the module's notes)."""
    return L1DataFee(web3) if chain_id in OP_STACK_CHAIN_IDS else None
