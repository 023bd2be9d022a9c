"""Uniswap V3 prices for the keeper: the protocol's own ``QuoterV2`` through ``eth_call``, batched.

``QuoterV2.quoteExactInputSingle`` runs the pool's real ``swap`` and reverts with the result, so a
quote is exactly what a swap of the same amount in the same block returns (fees, tick crossings and
all): no tick maths is re-implemented for pricing. The quoter is not a ``view`` function; it is only
ever called with ``eth_call`` here, never sent.

Several amounts (a bounded search over input sizes, several pools) are quoted in one JSON-RPC batch
(web3.py's ``batch_requests``), falling back to one request each on a node without batch support.

Units: amounts are token base units (USDC 6 decimals, WBTC 8 decimals); ``fee`` is in hundredths of
a bip (500 = 0.05 %); ``sqrt_price_x96_after`` is the pool's Q64.96 square-root price after the swap.

Source: Uniswap/v3-periphery ``contracts/lens/QuoterV2.sol`` and ``interfaces/IQuoterV2.sol`` (1.4.4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address
from web3.exceptions import Web3Exception

from macrostrike.keeper.abi import Calls

__all__ = ["V3Quote", "V3Quoter"]


@dataclass(frozen=True)
class V3Quote:
    """One ``quoteExactInputSingle`` result.

    Attributes:
        amount_in: the input quoted (base units of the input token).
        amount_out: what the swap returns (base units of the output token); 0 when the quote reverted.
        sqrt_price_x96_after: the pool's sqrtPriceX96 after the swap.
        ticks_crossed: initialized ticks the swap crosses.
        gas_estimate: the quoter's gas estimate of the swap.
        error: why the quoter reverted (no liquidity, a bad pool…), else ``None``.
    """

    amount_in: int
    amount_out: int
    sqrt_price_x96_after: int = 0
    ticks_crossed: int = 0
    gas_estimate: int = 0
    error: str | None = None


class V3Quoter:
    """Quotes of one ``QuoterV2`` deployment.

    Args:
        web3: a connected ``Web3`` (``ape.chain.provider.web3`` in the keeper).
        quoter: the QuoterV2 address (the manifest's ``venues.uniswap_v3.quoter``).
        abi: QuoterV2's ABI (default: the npm artifact, :func:`macrostrike.deploy.venues.load_contract_type`).
    """

    def __init__(self, web3: Any, quoter: str, abi: list[dict[str, Any]] | None = None) -> None:
        if abi is None:
            from macrostrike.deploy.venues import load_contract_type

            abi = [entry.model_dump(mode="json", by_alias=True) for entry in load_contract_type("QuoterV2").abi]
        self.web3 = web3
        self.quoter = to_checksum_address(quoter)
        self.calls = Calls(abi)

    @classmethod
    def from_manifest(cls, web3: Any, manifest: Any) -> V3Quoter:
        """The quoter a deployment manifest records under ``venues.uniswap_v3.quoter``.

        Args:
            web3: a connected ``Web3``.
            manifest: a :class:`macrostrike.deploy.manifest.Manifest`.

        Raises:
            ManifestError: one line when the system has no Uniswap V3 venue (deployed without it).
        """
        from macrostrike.deploy.manifest import ManifestError

        quoter = manifest.venues.get("uniswap_v3", {}).get("quoter")
        if not quoter:
            raise ManifestError("the deployment manifest records no Uniswap V3 venue: deploy with "
                                "DeployConfig(uniswap_v3=True) first")
        return cls(web3, quoter)

    def quote_exact_input_single(self, token_in: str, token_out: str, fee: int, amounts: Sequence[int],
                                 block: str | int = "latest") -> list[V3Quote]:
        """Quote selling each of ``amounts`` of ``token_in`` for ``token_out`` in the ``fee`` pool.

        Args:
            token_in, token_out: the pool's tokens (either order).
            fee: the pool's fee tier.
            amounts: input amounts, base units of ``token_in`` (one quote each, one batch in all).
            block: the block to quote at.

        Returns:
            One :class:`V3Quote` per amount, in order (a reverted quote has ``error`` set).

        Raises:
            web3 exceptions for node failures (a connection lost is no quote).
        """
        datas = [self.calls.encode("quoteExactInputSingle",
                                   (to_checksum_address(token_in), to_checksum_address(token_out), int(a), fee, 0))
                 for a in amounts]
        return [self._decode(a, raw) for a, raw in zip(amounts, self._batch(datas, block), strict=True)]

    def _batch(self, datas: list[bytes], block: str | int) -> list[bytes | Exception]:
        """``eth_call`` every calldata to the quoter in one batch; per-call on a node that refuses batches."""
        if not datas:
            return []
        eth = self.web3.eth
        try:
            with self.web3.batch_requests() as batch:
                for data in datas:
                    batch.add(eth.call({"to": self.quoter, "data": data}, block))
                results = batch.execute()
            if len(results) == len(datas) and not any(isinstance(r, Exception) for r in results):
                return [bytes(r) for r in results]
        except Exception:  # noqa: BLE001 - a node without batch support, or one reverted call: one by one
            pass
        out: list[bytes | Exception] = []
        for data in datas:
            try:
                out.append(bytes(eth.call({"to": self.quoter, "data": data}, block)))
            except Web3Exception as err:  # the quoter reverted (ContractLogicError): no quote for this amount
                out.append(err)
        return out

    def _decode(self, amount_in: int, raw: bytes | Exception) -> V3Quote:
        if isinstance(raw, Exception):
            return V3Quote(int(amount_in), 0, error=" ".join(str(raw).split())[:200] or type(raw).__name__)
        out = self.calls.decode("quoteExactInputSingle", raw)
        return V3Quote(int(amount_in), int(out["amountOut"]), int(out["sqrtPriceX96After"]),
                       int(out["initializedTicksCrossed"]), int(out["gasEstimate"]))
