"""ETH/USD for the keeper's "profit after gas" test, from a Chainlink-compatible feed.

The feed is any ``AggregatorV3Interface`` (``latestRoundData() -> (roundId, answer, startedAt,
updatedAt, answeredInRound)``, ``decimals()``; Chainlink's data-feeds docs): the address in
``keeper.eth_usd_feed``, else the deployment's own WETH feed (manifest role ``aave_feed:WETH``, the
demo's Aave market). The setting ``eth_usd_price`` is used only as the explicit fallback — no feed,
a feed that reverts, a non-positive answer or one older than ``eth_usd_max_age_s`` — and
:attr:`EthUsd.source` says which was used (reports state it).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector as selector

logger = logging.getLogger("macrostrike.keeper")

LATEST_ROUND_DATA = selector("latestRoundData()")
DECIMALS = selector("decimals()")


class EthUsd:
    """ETH/USD (USD per ETH, float) read at most once per ``refresh_s`` seconds.

    Args:
        web3: the connection.
        feed: the feed's address, or None (then only ``fallback`` is used).
        fallback: USD per ETH when the feed cannot be used.
        max_age_s: the feed's ``updatedAt`` must be at most this old (chain time).
        refresh_s: wall seconds between two reads.
    """

    def __init__(self, web3: Any, feed: str | None, fallback: float, *, max_age_s: int = 86_400,
                 refresh_s: float = 60.0) -> None:
        self.web3, self.feed, self.fallback = web3, feed, fallback
        self.max_age_s, self.refresh_s = max_age_s, refresh_s
        self._value, self._read_at = fallback, -1e18
        self.source = "fallback eth_usd_price" if feed is None else f"feed {feed}"
        self._decimals: int | None = None

    @classmethod
    def for_deployment(cls, web3: Any, settings: Any, manifest: Any = None) -> EthUsd:
        """The settings' feed, else the manifest's ``native_usd_feed`` (the gas token's USD feed on a chain
        whose gas is not ETH: POL, AVAX; :mod:`macrostrike.deploy.existing`), else its ``aave_feed:WETH``,
        else the fallback alone."""
        feed = settings.eth_usd_feed
        roles = getattr(manifest, "contracts", {}) if manifest is not None else {}
        for role in ("native_usd_feed", "aave_feed:WETH"):
            if feed is None and role in roles:
                feed = manifest.address(role)
        return cls(web3, feed, settings.eth_usd_price, max_age_s=settings.eth_usd_max_age_s)

    def _read(self) -> float:
        if self._decimals is None:
            (self._decimals,) = decode(["uint8"], bytes(self.web3.eth.call({"to": self.feed, "data": DECIMALS})))
        raw = bytes(self.web3.eth.call({"to": self.feed, "data": LATEST_ROUND_DATA}))
        _round, answer, _started, updated, _answered = decode(["uint80", "int256", "uint256", "uint256", "uint80"], raw)
        now = int(self.web3.eth.get_block("latest")["timestamp"])
        if answer <= 0:
            raise ValueError(f"non-positive answer {answer}")
        if now - int(updated) > self.max_age_s:
            raise ValueError(f"answer {now - int(updated)} s old (> eth_usd_max_age_s={self.max_age_s})")
        return answer / 10**self._decimals

    def price(self) -> float:
        """USD per ETH: the feed's answer, or the fallback (``source`` tells which)."""
        if self.feed is None or time.monotonic() - self._read_at < self.refresh_s:
            return self._value
        self._read_at = time.monotonic()
        try:
            self._value, self.source = self._read(), f"feed {self.feed}"
        except Exception as err:  # noqa: BLE001 - any failure of the feed: the explicit fallback, said once
            if not self.source.startswith("fallback"):
                logger.warning("ETH/USD feed %s unusable (%s): using eth_usd_price=%g", self.feed,
                               str(err).splitlines()[0] if str(err) else type(err).__name__, self.fallback)
            self._value, self.source = self.fallback, f"fallback eth_usd_price ({self.feed} unusable)"
        return self._value
