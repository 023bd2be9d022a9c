"""A chain that behaves like a chain: a fault-injecting JSON-RPC proxy and Anvil controls for tests.

``FaultProxy`` sits between a client and an Anvil node and injects, by rule, what hosted nodes and
networks do to a keeper: a reply lost after the node acted on the request, latency spikes, HTTP 429 /
503 answers, and ``eth_getLogs`` range refusals (``-32005 query exceeds max block range N``).

The Anvil helpers (``anvil_chain``, ``mine``, ``reorg``, ``rollback``, …) wrap Anvil's test RPCs.

Observed on Anvil 1.7.1 (``anvil/v1.7.1``), by calling the methods (see tests/test_chain_harness.py):

- ``anvil_reorg`` takes two positional params ``[depth, [[tx, offset], …]]`` (a single array
  ``[[depth, txs]]`` is refused: -32602 "invalid type: sequence, expected u64"). It replaces the last
  ``depth`` blocks with ``depth`` new blocks: the head height stays the same, the block hashes
  change. Each ``tx`` is a signed raw transaction (hex) or a transaction request object (signed by
  Anvil for an unlocked ``from``); ``offset`` 0..depth-1 puts it into block ``head - depth + 1 +
  offset`` (a larger offset: -32602 "must not exceed (depth-1)"; ``depth`` above the height: -32602).
  **The transactions of the replaced blocks are dropped**: not re-included, not returned to the
  mempool; their receipts and ``eth_getTransactionByHash`` answer null and the sender's nonce goes
  back. So a test that wants "the same transaction in another block" passes its raw bytes again in
  ``txs``.
- ``anvil_rollback`` takes ``[depth]`` (no argument: -32602 "expected params sequence with length
  1"). It removes the last ``depth`` blocks (the head goes down); their transactions are dropped
  like a reorg's (not returned to the pool) — sending the same raw bytes again is accepted.
- The mempool across reorg/rollback: pending transactions stay in ``txpool_content`` and, if still
  valid against the new state, are mined by the next block. A pending transaction whose nonce
  depended on a transaction the reorg/rollback removed (a nonce gap now) still shows as *pending*
  in ``txpool_status`` but is **silently discarded** when the next block is mined (neither mined nor
  queued). A transaction sent with a nonce gap in the first place goes to ``queued`` and stays there.
- ``anvil_dropTransaction [hash]`` removes a pending transaction and answers its hash; an unknown
  hash answers null (no error).
- ``evm_setIntervalMining [seconds]`` takes an integer (hex string refused); 0 turns interval
  mining off. While interval mining, ``anvil_getAutomine`` answers false.
- ``anvil_mine [n]`` (int or hex) mines ``n`` blocks and answers null; ``evm_mine`` answers "0x0".
- ``anvil_setNextBlockBaseFeePerGas [wei]`` accepts int or hex; the next block has that base fee.
- ``txpool_content`` answers ``{"pending": {sender lower case: {"<nonce>": tx}}, "queued": {…}}``.
- Sending the raw bytes of a transaction the node already has: while pending, -32003
  "transaction already imported"; once mined, -32003 "nonce too low" (see test_chain_harness).
- web3.py 7's ``HTTPProvider`` retries by itself (5 tries, 0.125 s doubling) on ``requests``
  timeouts and HTTP errors for allow-listed methods, *including* ``eth_sendRawTransaction``: a read
  timeout on a send is re-sent by web3 before the caller sees anything. A dropped connection
  (``requests.ConnectionError``) is not retried. Build the provider with
  ``exception_retry_configuration=None`` to see every fault.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

from eth_utils import to_hex
from typing_extensions import Self
from web3 import Web3

from conftest import start_anvil

FaultKind = Literal["drop", "delay", "http", "log_range"]
DropMode = Literal["close", "late"]
#: The JSON-RPC error a range-limited hosted node answers (``{max}`` is the rule's limit).
RANGE_ERROR_CODE = -32005
RANGE_ERROR_MESSAGE = "query exceeds max block range {max}"


class RPCError(RuntimeError):
    """A JSON-RPC error answer to :func:`rpc` (``.code``, ``.message`` as the node sent them)."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        self.code = error.get("code")
        self.message = str(error.get("message", ""))
        super().__init__(f"{method}: {self.code} {self.message}")


# -- the proxy ----------------------------------------------------------------------------------------
@dataclass
class FaultRule:
    """One fault to inject. Create through the :class:`FaultProxy` methods.

    Attributes:
        kind: ``drop`` (forward, then lose the reply), ``delay`` (wait before forwarding), ``http``
            (answer an HTTP error without forwarding), ``log_range`` (refuse wide ``eth_getLogs``).
        method: JSON-RPC method the rule applies to; None for every method. A batch matches if any
            of its calls does (``log_range`` looks at each call of a batch on its own).
        count: how many more times the rule may fire; None for no limit.
        probability: chance (0..1) that a matching request is hit, drawn from the proxy's seeded RNG.
        delay_s: ``delay``: seconds to wait; ``drop`` with mode ``late``: seconds before answering.
        status: ``http``: the HTTP status (429, 503, …).
        mode: ``drop``: ``close`` the connection without an answer, or answer ``late``.
        max_blocks: ``log_range``: widest accepted ``toBlock - fromBlock + 1``.
    """

    kind: FaultKind
    method: str | None = None
    count: int | None = None
    probability: float = 1.0
    delay_s: float = 0.0
    status: int = 503
    mode: DropMode = "close"
    max_blocks: int = 500

    @property
    def label(self) -> str:
        """The key this rule's firings are counted under in :attr:`FaultProxy.faults`."""
        if self.kind == "http":
            return f"http_{self.status}"
        if self.kind == "drop":
            return "drop" if self.mode == "close" else "drop_late"
        return self.kind

    def matches(self, methods: Sequence[str]) -> bool:
        return self.method is None or self.method in methods


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: FaultProxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the clients (requests sessions) expect
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        self.server.proxy._handle(self, self.rfile.read(length))


class FaultProxy:
    """A threaded HTTP JSON-RPC proxy in front of ``upstream`` that injects faults by rule.

    Use as a context manager (``with FaultProxy(uri) as proxy: … proxy.uri …``); it listens on a free
    loopback port. Rules are checked in the order they were added; each fires at most once per HTTP
    request. Order of effects for one request: ``http`` (answer without forwarding), ``delay``,
    ``log_range`` (refused calls answered by the proxy, the rest forwarded), forward, ``drop``.

    Attributes:
        upstream: the node's URI.
        uri: the proxy's URI (after start).
        faults: faults injected so far, by :attr:`FaultRule.label` (``drop``, ``drop_late``,
            ``delay``, ``http_429``, ``http_503``, ``log_range``, …).
        requests: JSON-RPC calls received, by method (each call of a batch counted).
        rules: the active rules.
    """

    def __init__(self, upstream: str, *, seed: int = 0, upstream_timeout_s: float = 30.0) -> None:
        """Args:
            upstream: URI of the JSON-RPC node to forward to (e.g. an Anvil's ``http://127.0.0.1:port``).
            seed: seed of the RNG that decides probabilistic rules.
            upstream_timeout_s: timeout of one forwarded HTTP request, in seconds.
        """
        self.upstream = upstream
        self.upstream_timeout_s = upstream_timeout_s
        self.random = random.Random(seed)
        self.rules: list[FaultRule] = []
        self.faults: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.uri = ""

    # -- lifecycle
    def start(self) -> Self:
        """Listen on a free loopback port and serve in a background thread; returns self."""
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.proxy = self
        self._server = server
        self.uri = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests sleeping in a ``delay``/``drop late`` rule are cut short."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- rules
    def add(self, rule: FaultRule) -> FaultRule:
        """Activate ``rule``; returns it (its ``count`` goes down as it fires)."""
        if not 0.0 <= rule.probability <= 1.0:
            raise ValueError(f"probability must be in [0, 1], got {rule.probability}")
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule (counters are kept)."""
        with self._lock:
            self.rules.clear()

    def drop_response(self, method: str | None = None, *, count: int | None = 1, probability: float = 1.0,
                      mode: DropMode = "close", delay_s: float = 5.0) -> FaultRule:
        """Forward the request to the node, then lose the reply.

        Args:
            method: JSON-RPC method (None: any), e.g. ``eth_sendRawTransaction``.
            count: how many requests to hit (None: no limit).
            probability: chance of hitting a matching request.
            mode: ``close``: close the connection without answering (the client sees a connection
                error at once); ``late``: answer after ``delay_s`` seconds (set it above the client's
                timeout: the client sees a read timeout).
            delay_s: seconds before the late answer, for mode ``late``.
        """
        return self.add(FaultRule("drop", method, count, probability, delay_s=delay_s, mode=mode))

    def delay(self, seconds: float, method: str | None = None, *, count: int | None = None,
              probability: float = 1.0) -> FaultRule:
        """Hold matching requests ``seconds`` before forwarding them (a latency spike)."""
        return self.add(FaultRule("delay", method, count, probability, delay_s=seconds))

    def http_error(self, status: int = 503, method: str | None = None, *, count: int | None = 1,
                   probability: float = 1.0) -> FaultRule:
        """Answer matching requests with HTTP ``status`` (e.g. 429, 503) without forwarding them."""
        return self.add(FaultRule("http", method, count, probability, status=status))

    def limit_log_range(self, max_blocks: int = 500, *, count: int | None = None,
                        probability: float = 1.0) -> FaultRule:
        """Refuse ``eth_getLogs`` calls spanning more than ``max_blocks`` blocks, as hosted nodes do:
        JSON-RPC error ``{"code": -32005, "message": "query exceeds max block range <max_blocks>"}``.
        Block tags and hex numbers are resolved against the node."""
        return self.add(FaultRule("log_range", "eth_getLogs", count, probability, max_blocks=max_blocks))

    def _fire(self, kind: FaultKind, methods: Sequence[str]) -> FaultRule | None:
        """The first rule of ``kind`` that matches and fires (its count and the counter updated)."""
        with self._lock:
            for rule in self.rules:
                if rule.kind != kind or not rule.matches(methods) or rule.count == 0:
                    continue
                if rule.probability < 1.0 and self.random.random() >= rule.probability:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                self.faults[rule.label] += 1
                return rule
        return None

    # -- serving
    def _post(self, body: bytes) -> tuple[int, bytes]:
        """Forward ``body`` to the node; ``(HTTP status, body)``."""
        request = urllib.request.Request(self.upstream, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.upstream_timeout_s) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def _call(self, method: str, params: list[Any]) -> Any:
        _, body = self._post(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                                              "params": params}).encode())
        answer = json.loads(body)
        if "error" in answer:
            raise RPCError(method, answer["error"])
        return answer["result"]

    def _block(self, value: Any) -> int:
        if isinstance(value, int):
            return value
        text = str(value).lower()
        if text.startswith("0x"):
            return int(text, 16)
        if text == "earliest":
            return 0
        block = self._call("eth_getBlockByNumber", [text, False])
        return int(block["number"], 16)

    def _log_span(self, call: dict[str, Any]) -> int:
        params = call.get("params") or [{}]
        flt = params[0] if params and isinstance(params[0], dict) else {}
        if "blockHash" in flt:
            return 1
        return self._block(flt.get("toBlock", "latest")) - self._block(flt.get("fromBlock", "latest")) + 1

    @staticmethod
    def _reply(handler: _Handler, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
        handler.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)

    def _handle(self, handler: _Handler, body: bytes) -> None:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        calls = payload if isinstance(payload, list) else [payload] if isinstance(payload, dict) else []
        methods = [str(c.get("method")) for c in calls if isinstance(c, dict)]
        with self._lock:
            self.requests.update(methods)

        rule = self._fire("http", methods)
        if rule is not None:
            text = {429: b"Too Many Requests", 503: b"Service Unavailable"}.get(rule.status, b"error")
            self._reply(handler, rule.status, text, {"Retry-After": "1"} if rule.status == 429 else None)
            return
        rule = self._fire("delay", methods)
        if rule is not None:
            self._stopping.wait(rule.delay_s)

        # log range refusals, answered here call by call; the rest goes to the node
        answers: dict[int, dict[str, Any]] = {}
        for i, call in enumerate(calls):
            if isinstance(call, dict) and call.get("method") == "eth_getLogs" and self._has_range_rule():
                limit = self._range_limit(call)
                if limit is not None:
                    answers[i] = {"jsonrpc": "2.0", "id": call.get("id"),
                                  "error": {"code": RANGE_ERROR_CODE, "message": RANGE_ERROR_MESSAGE.format(max=limit)}}
        if calls and len(answers) == len(calls):
            status, out = 200, json.dumps(answers[0] if isinstance(payload, dict) else
                                          [answers[i] for i in range(len(calls))]).encode()
        elif answers:  # a batch, partly refused: forward the rest, merge in the original order
            rest = [c for i, c in enumerate(calls) if i not in answers]
            status, out = self._post(json.dumps(rest).encode())
            forwarded = iter(json.loads(out)) if status == 200 else iter(())
            by_id = {a.get("id"): a for a in forwarded}
            merged = [answers[i] if i in answers else by_id.get(c.get("id")) for i, c in enumerate(calls)]
            out = json.dumps(merged).encode()
        else:
            try:
                status, out = self._post(body)
            except OSError as exc:
                self._reply(handler, 502, f"upstream unreachable: {exc}".encode())
                return

        rule = self._fire("drop", methods)
        if rule is not None:
            if rule.mode == "close":
                handler.close_connection = True  # no answer at all: the client sees the connection end
                return
            self._stopping.wait(rule.delay_s)
        try:
            self._reply(handler, status, out)
        except OSError:  # the client gave up (a late answer): nothing to do
            handler.close_connection = True

    def _has_range_rule(self) -> bool:
        with self._lock:
            return any(r.kind == "log_range" and r.count != 0 for r in self.rules)

    def _range_limit(self, call: dict[str, Any]) -> int | None:
        """The limit that refuses ``call`` (a rule fired), or None to forward it."""
        span = self._log_span(call)
        with self._lock:
            for rule in self.rules:
                if rule.kind != "log_range" or rule.count == 0 or span <= rule.max_blocks:
                    continue
                if rule.probability < 1.0 and self.random.random() >= rule.probability:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                self.faults[rule.label] += 1
                return rule.max_blocks
        return None


# -- Anvil --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnvilChain:
    """A separate Anvil started by :func:`anvil_chain`: its URI and a web3 on it."""

    uri: str
    w3: Web3


def web3_for(uri: str, *, timeout_s: float = 10.0, retries: bool = False) -> Web3:
    """A ``Web3`` over HTTP to ``uri``.

    Args:
        uri: JSON-RPC endpoint.
        timeout_s: HTTP request timeout, in seconds.
        retries: keep web3.py's built-in retries (timeouts, HTTP errors: 5 tries); off by default so
            that a test sees each injected fault.
    """
    provider = Web3.HTTPProvider(uri, request_kwargs={"timeout": timeout_s},
                                 **({} if retries else {"exception_retry_configuration": None}))
    return Web3(provider)


@contextmanager
def anvil_chain(*args: str) -> Iterator[AnvilChain]:
    """A separate Anvil (extra CLI ``args``, e.g. ``"--block-time", "1"`` or ``"--no-mining"``) on a
    free loopback port; yields it once it answers ``eth_chainId``, stops it after."""
    with start_anvil(*args) as uri:
        w3 = web3_for(uri)
        deadline = time.monotonic() + 10
        while True:
            try:
                _ = w3.eth.chain_id
                break
            except Exception:  # port open, RPC not serving yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield AnvilChain(uri, w3)


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    """Call ``method`` with positional ``params`` on ``w3``'s node; its ``result``.

    Raises:
        RPCError: the node answered a JSON-RPC error.
    """
    answer = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    if answer.get("error"):
        raise RPCError(method, dict(answer["error"]))
    return answer.get("result")


def set_automine(w3: Web3, on: bool) -> None:
    """``evm_setAutomine``: mine each transaction as it arrives (on) or hold them in the pool (off)."""
    rpc(w3, "evm_setAutomine", on)


def set_interval_mining(w3: Web3, seconds: int) -> None:
    """``evm_setIntervalMining``: mine a block every ``seconds`` seconds (int); 0 turns it off."""
    rpc(w3, "evm_setIntervalMining", int(seconds))


def mine(w3: Web3, n: int = 1) -> int:
    """``anvil_mine``: mine ``n`` blocks (with the pool's transactions in the first); the new head."""
    rpc(w3, "anvil_mine", n)
    return int(w3.eth.block_number)


def _raw_hex(tx: bytes | str | dict[str, Any]) -> str | dict[str, Any]:
    if isinstance(tx, dict):
        return tx
    return tx if isinstance(tx, str) else to_hex(tx)


def reorg(w3: Web3, depth: int, txs: Sequence[tuple[bytes | str | dict[str, Any], int]] = ()) -> None:
    """``anvil_reorg``: replace the last ``depth`` blocks by ``depth`` new ones (same height).

    The replaced blocks' transactions are dropped (see the module docstring); ``txs`` go into the new
    blocks: ``(signed raw tx bytes/hex or a tx request dict, offset 0..depth-1)``, offset 0 being
    the first new block (``head - depth + 1``).
    """
    rpc(w3, "anvil_reorg", depth, [[_raw_hex(tx), offset] for tx, offset in txs])


def rollback(w3: Web3, depth: int = 1) -> None:
    """``anvil_rollback``: remove the last ``depth`` blocks; their transactions are dropped."""
    rpc(w3, "anvil_rollback", depth)


def drop_tx(w3: Web3, tx_hash: bytes | str) -> bool:
    """``anvil_dropTransaction``: remove a pending transaction; whether the pool had it."""
    return rpc(w3, "anvil_dropTransaction", tx_hash if isinstance(tx_hash, str) else to_hex(tx_hash)) is not None


def set_next_base_fee(w3: Web3, wei: int) -> None:
    """``anvil_setNextBlockBaseFeePerGas``: the base fee of the next block, in wei."""
    rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(wei))


def txpool_content(w3: Web3) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """``txpool_content``: ``{"pending"|"queued": {sender (lower case): {"<nonce>": tx}}}``."""
    return dict(rpc(w3, "txpool_content"))


def pool_hashes(w3: Web3, section: Literal["pending", "queued"] = "pending") -> set[str]:
    """Hashes (lower-case ``0x`` hex) of the transactions in one section of the pool."""
    content = txpool_content(w3).get(section, {})
    return {str(tx["hash"]).lower() for by_nonce in content.values() for tx in by_nonce.values()}
