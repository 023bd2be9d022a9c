"""``eth_getLogs`` over long block ranges, the way hosted nodes accept it.

Hosted nodes cap the work one ``eth_getLogs`` request may ask for: a block span (Alchemy 2,000,
many providers 500-10,000, e.g. ``-32005 query exceeds max block range 500``) or a result count
(Infura: ``query returned more than 10000 results``). :func:`get_logs` asks in windows of at most
``max_range`` blocks and, when the node refuses a window, halves it and asks again; the smaller
window is kept for the rest of the range. Transport failures (timeouts, dropped connections, HTTP
429/502/503/504, JSON-RPC rate limiting) are retried with exponential backoff and jitter
(``tenacity``) a few times, then re-raised unchanged.

Note: web3.py 7's ``HTTPProvider`` already retries ``eth_getLogs`` by itself on ``requests``
timeouts and HTTP errors (5 tries, 0.125 s doubling) unless it was built with
``exception_retry_configuration=None``; the retries here come on top of those.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import requests
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

logger = logging.getLogger("macrostrike.keeper")

#: Lower-case phrases of JSON-RPC error messages by which hosted nodes refuse a log query as too
#: wide (block span or result count). Matched as substrings of the error's text.
RANGE_REFUSAL_PHRASES: tuple[str, ...] = (
    "query exceeds max block range",   # -32005 ... 500 (the limit named in the message)
    "block range",                     # "exceed maximum block range", "block range is too wide", …
    "range is too large",
    "range too large",
    "more than 10000 results",         # Infura
    "query returned more than",        # Infura / geth-style result caps
    "limit exceeded",                  # -32005 "limit exceeded"
    "response size exceeded",          # Alchemy / Cloudflare "Log response size exceeded"
    "is limited to",                   # QuickNode "eth_getLogs is limited to a 10,000 range"
    "too many logs",
)
#: Lower-case phrases that mark an RPC error as rate limiting (retried, not a range refusal), even
#: under the -32005 code that some providers also use for range refusals.
RATE_LIMIT_PHRASES: tuple[str, ...] = (
    "rate limit", "rate-limit", "too many requests", "request rate", "requests per second",
    "daily request count", "capacity exceeded", "compute units",
)
#: HTTP status codes of a busy or rate-limiting node (retried).
TRANSIENT_HTTP_STATUS: frozenset[int] = frozenset({429, 502, 503, 504})
#: JSON-RPC error codes that by themselves mean "too wide" (-32005: limit exceeded, EIP-1474).
RANGE_REFUSAL_CODES: frozenset[int] = frozenset({-32005})


class LogRangeError(RuntimeError):
    """The node refused a log query even over ``min_range`` blocks.

    Attributes:
        from_block: first block of the refused window.
        to_block: last block of the refused window (inclusive).
    """

    def __init__(self, message: str, from_block: int, to_block: int) -> None:
        super().__init__(message)
        self.from_block = from_block
        self.to_block = to_block


# -- classifying errors -------------------------------------------------------------------------------
def _rpc_error(exc: BaseException) -> tuple[int | None, str]:
    """``(JSON-RPC error code or None, lower-case text)`` of an error raised by a web3 call.

    Looks at web3.py 7's ``Web3RPCError.rpc_response``, an error dict passed as the exception's
    argument (web3.py 6 / hand-made fakes raise ``ValueError({"code": …, "message": …})``), the body
    of an HTTP error response, and finally ``str(exc)``.
    """
    code: int | None = None
    parts = [str(exc)]
    candidates: list[Any] = []
    response = getattr(exc, "rpc_response", None)
    if isinstance(response, Mapping):
        candidates.append(response.get("error"))
    candidates.extend(exc.args[:1])
    for candidate in candidates:
        if isinstance(candidate, Mapping):
            raw = candidate.get("code")
            if isinstance(raw, int) and code is None:
                code = raw
            parts.append(str(candidate.get("message", "")))
            if candidate.get("data") is not None:
                parts.append(str(candidate["data"]))
    http = getattr(exc, "response", None)
    if isinstance(exc, requests.HTTPError) and http is not None:
        try:
            parts.append(http.text[:2000])
        except Exception as body_error:  # noqa: BLE001 - an unreadable body adds nothing
            logger.debug("eth_getLogs: unreadable HTTP error body: %s", body_error)
    return code, " ".join(parts).lower()


def _is_rate_limited(text: str) -> bool:
    return any(p in text for p in RATE_LIMIT_PHRASES)


def is_range_refusal(exc: BaseException) -> bool:
    """Whether ``exc`` is a node refusing a log query as too wide (block span or result count).

    True for JSON-RPC code -32005 (unless the message is about rate limiting), code -32602 with
    "range" in the message, and any message containing one of :data:`RANGE_REFUSAL_PHRASES`; the
    codes are also recognised inside the error's text (``"... 'code': -32005 ..."``).

    Args:
        exc: the exception raised by ``web3.eth.get_logs``.

    Returns:
        True if asking for a narrower window may succeed.
    """
    code, text = _rpc_error(exc)
    if _is_rate_limited(text):
        return False
    if code in RANGE_REFUSAL_CODES or "-32005" in text:
        return True
    if (code == -32602 or "-32602" in text) and "range" in text:
        return True
    return any(p in text for p in RANGE_REFUSAL_PHRASES)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a transport failure worth retrying unchanged.

    True for timeouts and connection errors (``requests`` or built-in), HTTP statuses in
    :data:`TRANSIENT_HTTP_STATUS`, and JSON-RPC errors whose message is about rate limiting.

    Args:
        exc: the exception raised by a web3 call.

    Returns:
        True if the same request may succeed a little later.
    """
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, requests.HTTPError):
        status = getattr(exc.response, "status_code", None)
        return status in TRANSIENT_HTTP_STATUS
    if isinstance(exc, OSError):
        return False
    _, text = _rpc_error(exc)
    return _is_rate_limited(text)


# -- the query ----------------------------------------------------------------------------------------
def _block_number(web3: Any, value: Any, name: str) -> int:
    """A ``fromBlock``/``toBlock`` value as an int: ints, ``0x`` hex, decimal strings or a block tag."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a block number, not {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text.startswith("0x"):
            return int(text, 16)
        if text.isdigit():
            return int(text)
        if text == "earliest":
            return 0
        if text in ("latest", "safe", "finalized", "pending"):
            return int(web3.eth.get_block(text)["number"])
    raise TypeError(f"{name} must be a block number or tag, not {value!r}")


def get_logs(web3: Any, params: Mapping[str, Any], *, max_range: int, min_range: int = 1, attempts: int = 4,
             wait_initial_s: float = 0.25, wait_max_s: float = 4.0) -> list[Any]:
    """``eth_getLogs`` over ``[fromBlock, toBlock]`` in windows a hosted node accepts.

    The range is asked for in consecutive windows of at most ``max_range`` blocks. When the node
    refuses a window as too wide (:func:`is_range_refusal`), the window is halved (never below
    ``min_range``) and asked again; the smaller size is kept for the following windows. Each single
    request is retried on transport failures (:func:`is_transient`) up to ``attempts`` times in all,
    waiting with exponential backoff and jitter between tries.

    Args:
        web3: a ``Web3`` (anything with ``.eth.get_logs(params)`` and ``.eth.get_block(tag)``).
        params: the ``eth_getLogs`` filter: ``fromBlock`` and ``toBlock`` (ints, hex strings or
            block tags, resolved once at the start; ``fromBlock`` defaults to 0, ``toBlock`` to the
            latest block), plus ``address``/``topics`` passed through unchanged. ``blockHash``
            filters are not ranges and are rejected.
        max_range: largest window, in blocks (inclusive count: ``toBlock - fromBlock + 1``).
        min_range: smallest window worth trying, in blocks; a refusal at this size raises.
        attempts: tries per request on transport failures, first try included.
        wait_initial_s: first backoff wait, in seconds; it doubles after each failed try, and a random
            jitter of 0..wait_initial_s seconds is added to every wait.
        wait_max_s: cap of the doubling wait, in seconds (jitter comes on top).

    Returns:
        The logs as web3 returns them, concatenated in window order (ascending block, and within a
        block in the node's order, i.e. by log index). Empty if ``fromBlock > toBlock``.

    Raises:
        ValueError: ``max_range``/``min_range``/``attempts`` out of range, or a ``blockHash`` filter.
        TypeError: a ``fromBlock``/``toBlock`` that is not a block number or tag.
        LogRangeError: the node refused a window of ``min_range`` blocks (or the last, shorter one).
        Exception: a transport error still failing after ``attempts`` tries, or any other node
            error, re-raised as web3 raised it.
    """
    if min_range < 1 or max_range < min_range:
        raise ValueError(f"need 1 <= min_range <= max_range, got min_range={min_range}, max_range={max_range}")
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    if "blockHash" in params:
        raise ValueError("get_logs splits block ranges: a blockHash filter has no range, call web3.eth.get_logs")
    start = _block_number(web3, params.get("fromBlock", 0), "fromBlock")
    end = _block_number(web3, params.get("toBlock", "latest"), "toBlock")
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=wait_initial_s, max=wait_max_s) + wait_random(0, wait_initial_s),
        retry=retry_if_exception(is_transient),
        reraise=True,
        before_sleep=lambda state: logger.warning(
            "eth_getLogs: transport error (%s), try %d of %d",
            state.outcome.exception() if state.outcome else "?", state.attempt_number, attempts),
    )
    window = max_range
    logs: list[Any] = []
    lo = start
    while lo <= end:
        hi = min(end, lo + window - 1)
        query = {**params, "fromBlock": lo, "toBlock": hi}
        try:
            logs.extend(retrying(web3.eth.get_logs, query))
        except Exception as exc:  # only range refusals are handled here, the rest is re-raised
            if is_transient(exc) or not is_range_refusal(exc):
                raise
            span = hi - lo + 1
            if span <= min_range:
                raise LogRangeError(
                    f"the node refused eth_getLogs over blocks {lo}..{hi} ({span} block(s), the minimum "
                    f"window min_range={min_range}): {exc}", lo, hi) from exc
            window = max(min_range, span // 2)
            logger.info("eth_getLogs: node refused %d blocks (%d..%d), asking in windows of %d", span, lo, hi, window)
            continue
        lo = hi + 1
    return logs
