"""The strike job: leveraged long/short positions on Aave V3 for the strike diamonds' bots.

Once per block (once per replayed hour in the demo) the job

1. reads the observed BTC price (the Aave oracle's WBTC price, or the price the caller passes:
   the replayed hour's close) and feeds it into every bot's signal
   (:func:`macrostrike.strategy.signals.strategy_for_bot`, rebuilt from the bot's on-chain params);
2. scans the Aave pool's ``LiquidationCall`` events since the last block for the bots' position
   holders, and notices positions that vanished without the keeper closing them (force-closed by a
   trigger another keeper fired, an exit, …): a bot of a hedged pair (:attr:`KeeperSettings.hedge_pairs`)
   whose partner was liquidated or force-closed has its own position closed in this block;
3. for each open position reads ``positionState`` (one JSON-RPC batch for all of them) and acts in
   this order: hedge close, signal exit (the opposite side or FLAT), emergency deleverage when the
   health factor is below ``minHealthFactor + strike_hf_buffer``, then the contract's own triggers
   (``checkTriggers`` simulated with ``eth_call`` in the same batch; sent only when it would act);
4. opens a position for a flat bot whose signal is its side (LONG for the long diamond, SHORT for
   the short one): margin = ``strike_margin_bps`` of the bot's capital, leverage ``strike_leverage_bps``.
5. reads each child's volatility breaker in the same batch (StrikeProtocolsFacet): while it is
   tripped no bot of that child opens (``volatility_breaker``); when it is enabled with a red-candle
   rule, once per completed candle the job builds candles from the feed's last rounds
   (:func:`macrostrike.keeper.volatility.red_candle_streak`) and trips it (``tripVolatilityBreaker``) after ``redCandles`` red
   candles in a row. The breaker's reductions and the time protocol's decay steps come through
   ``checkTriggers`` (trigger names ``volatility``, ``time_decay``).

Every transaction is simulated with ``eth_call`` first and sent through the keeper's
:class:`~macrostrike.keeper.signers.SignerPool` / :class:`~macrostrike.keeper.txsender.TxSender`;
every decision goes into the :class:`~macrostrike.keeper.journal.Journal` with a reason code
(:data:`REASONS`). The contracts re-check every rule on their own (leverage, stop-loss, breaker).

Units: margins and capital are USDC base units (6 decimals); leverage and fractions are bps;
``collateralBase``/``debtBase`` are Aave base currency (USD, 8 decimals); health factors are wads.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector as selector
from eth_utils import keccak, to_checksum_address

from macrostrike.deploy.system import STRIKE_FACETS
from macrostrike.keeper.abi import Calls
from macrostrike.keeper.context import abi_json, cache_chain_id, project_contract_types
from macrostrike.keeper.errors import decode_revert, error_table
from macrostrike.keeper.fees import FeeAboveCap
from macrostrike.keeper.jobbase import Job
from macrostrike.keeper.journal import Decision, IntentOpen, Journal
from macrostrike.keeper.logs import get_logs
from macrostrike.keeper.settings import KeeperSettings
from macrostrike.keeper.signers import SignerPool
from macrostrike.keeper.txmanager import Outcome, TxManager
from macrostrike.keeper.txsender import SendRejected, SimulationReverted, TxSender
from macrostrike.keeper.volatility import red_candle_streak
from macrostrike.strategy import signals
from macrostrike.strategy.signals import HOLD, LONG, SHORT, Signal

OPEN = selector("openPosition(uint256,uint256,uint256,uint256)")
INCREASE = selector("increasePosition(uint256,uint256,uint256,uint256)")
DECREASE = selector("decreasePosition(uint256,uint256,uint256)")
CLOSE = selector("closePosition(uint256,uint256)")
CHECK_TRIGGERS = selector("checkTriggers(uint256)")
POSITION_STATE = selector("positionState(uint256)")
HOLDER_OF = selector("positionHolderOf(uint256)")
OPENING_ALLOWED = selector("openingAllowed()")
GET_ASSET_PRICE = selector("getAssetPrice(address)")
OPEN_POSITION_IDS = selector("openPositionIds()")
GET_SOURCE_OF_ASSET = selector("getSourceOfAsset(address)")
LATEST_ROUND_DATA = selector("latestRoundData()")
GET_ROUND_DATA = selector("getRoundData(uint80)")
ROUND_TYPES = ["uint80", "int256", "uint256", "uint256", "uint80"]
VOLATILITY_CONFIG = selector("volatilityConfig()")
VOLATILITY_STATUS = selector("volatilityStatus()")
TRIP_VOLATILITY = selector("tripVolatilityBreaker()")
#: LibStrikeProtocols.VolatilityConfig: (enabled, maxMoveBps, moveWindowSeconds, maxDropBps,
#: coolDownSeconds, reduceBps, redCandles, candleSeconds)
VOLATILITY_CONFIG_TYPES = ["(bool,uint16,uint32,uint16,uint32,uint16,uint8,uint32)"]
VOLATILITY_STATUS_TYPES = ["bool", "uint8", "uint256", "uint256"]
#: feed rounds read for the keeper's candles (red-candle rule of the volatility breaker)
CANDLE_ROUNDS = 64
STATE_TYPES = ["bool", "uint256", "uint256", "uint256", "uint256", "uint256", "uint256", "uint8", "uint64"]
#: ``LiquidationCall(collateralAsset, debtAsset, user indexed, …)`` of Aave V3's Pool (IPool.sol).
LIQUIDATION_CALL = keccak(text="LiquidationCall(address,address,address,uint256,uint256,address,bool)")
ACTIVE = 1  # LibBots.BotStatus.Active
WAD = 10**18
#: ``checkTriggers`` action codes (LibStrike): what the contract does when it fires.
TRIGGER_NAMES = {0: "none", 1: "expiry", 2: "stop_loss", 3: "hf_deleverage", 4: "take_profit", 6: "time_decay",
                 7: "volatility"}
#: Reason codes of this job's decisions.
REASONS = {
    "signal_entry": "flat bot, its signal turned to its side: open",
    "signal_exit": "open bot, its signal turned FLAT or to the other side: close",
    "hf_deleverage": "health factor below minHealthFactor + buffer: decrease the position",
    "trigger": "checkTriggers would act (expiry, stop-loss, HF, take-profit, time decay, volatility): send it",
    "volatility_breaker": "the child's volatility breaker is tripped: no opening until its cool-down ends",
    "volatility_trip": "the last redCandles candles of the feed were red: trip the child's volatility breaker",
    "volatility_trip_not_sent": "the breaker trip could not be sent (fee above the cap, an open intent, refused)",
    "hedge_close": "the bot's hedge partner was liquidated or force-closed: close",
    "liquidated": "(observe) a LiquidationCall on the bot's position holder",
    "force_closed": "(observe) the position closed without this keeper closing it",
    "hold": "(per block) nothing to do for the other bots",
    "opening_blocked": "the child does not allow opening (breaker tripped or paused)",
    "no_capital": "the bot's capital is zero (or its margin rounds to zero)",
    "simulation_reverted": "eth_call of the action reverted: not sent",
    "no_signer_available": "every signer is resting",
    "fee_above_cap": "the next base fee + tip is above max_fee_cap_gwei: not signed",
    "send_rejected": "the node refused the transaction (JSON-RPC error): nothing in its pool",
    "dry_run": "decided and simulated, not sent",
}


class RpcError(RuntimeError):
    """A node error that is not a revert (rate limit, range refusal, internal error): the block's
    work is retried, never read as a verdict on the call."""


def _addr(word: bytes) -> str:
    return to_checksum_address("0x" + bytes(word)[-20:].hex())


@dataclass
class Position:
    """``positionState(botId)`` as the strike facet reports it."""

    open: bool
    collateral_base: int
    debt_base: int
    health_factor: int
    equity_quote: int
    entry_price: int
    price: int
    tp_stage: int
    opened_at: int

    @classmethod
    def decode(cls, raw: bytes) -> Position:
        """From raw ``positionState`` output (types :data:`STATE_TYPES`, in declaration order)."""
        return cls(*(bool(v) if i == 0 else int(v) for i, v in enumerate(decode(STATE_TYPES, raw))))

    @classmethod
    def from_named(cls, out: dict[str, Any]) -> Position:
        """From ``positionState``'s outputs decoded by name (:class:`macrostrike.keeper.abi.Calls`)."""
        return cls(bool(out["open"]), int(out["collateralBase"]), int(out["debtBase"]), int(out["healthFactor"]),
                   int(out["equityQuote"]), int(out["entryPrice"]), int(out["price"]), int(out["tpStage"]),
                   int(out["openedAt"]))

    @property
    def leverage_bps(self) -> int:
        """Collateral / (collateral - debt) in bps (0 when flat or under water): a long's exposure."""
        equity = self.collateral_base - self.debt_base
        return self.collateral_base * 10_000 // equity if self.open and equity > 0 else 0

    def exposure_bps(self, side: str) -> int:
        """Exposure / equity in bps, what ``leverageBps`` asks for: a long's exposure is its WBTC
        collateral, a short's its WBTC debt (0 when flat or under water)."""
        equity = self.collateral_base - self.debt_base
        if not self.open or equity <= 0:
            return 0
        return (self.collateral_base if side == "long" else self.debt_base) * 10_000 // equity


@dataclass
class StrikeBot:
    """Keeper-side view of one strike bot (``side`` is ``"long"`` or ``"short"``)."""

    side: str
    bot_id: int
    diamond: str
    signal: Signal
    status: int = ACTIVE
    capital: int = 0
    holder: str = ""
    #: what the signal last asked for (LONG/SHORT/FLAT) — None until it speaks, and again after a
    #: forced exit (the bot waits for a fresh signal instead of re-entering the same move)
    desired: str | None = None
    open: bool = False
    position: Position | None = None
    margin: int = 0
    opened_block: int = -1
    resting_until: int = -1
    #: the bot's on-chain minHealthFactor (wad, ``rules(botId)``); the settings' value until read
    min_health_factor: int = 0
    trades: int = 0
    liquidations: int = 0
    gas_used: int = 0
    gas_cost_wei: int = 0

    @property
    def key(self) -> tuple[str, int]:
        return self.side, self.bot_id

    @property
    def wants(self) -> str:
        return LONG if self.side == "long" else SHORT


@dataclass
class StrikeStats:
    blocks: int = 0
    sent: int = 0
    succeeded: int = 0
    reverted: int = 0
    by_intent: dict[str, int] = field(default_factory=dict)
    liquidations: int = 0
    force_closed: int = 0
    gas_per_tx: list[int] = field(default_factory=list)
    latency_s: list[float] = field(default_factory=list)
    reads_s: list[float] = field(default_factory=list)


def params_signal(params: bytes, fallback_index: int, fallback_bots: int, strategy: bytes = b"",
                  bar_s: int = 3_600) -> Signal:
    """The signal a bot was registered with: ``strategy`` is its bytes32 id, ``params``
    ``abi.encode(uint16 index, uint16 bots, uint256[] values)`` (see
    :func:`macrostrike.deploy.system.strike_strategy`). An ``agreement`` bot's ``values`` start with
    ``k × 10^4``: ``strategy_for_bot(index, bots, agreement=k)``; any other id gives
    ``strategy_for_bot(index, bots)`` (the deployments before the agreement rule read the same).
    Bots without such params get ``strategy_for_bot(fallback_index, fallback_bots)``. ``bar_s``: the
    observation interval the signal's windows (stated in hours) are converted to."""
    name = strategy.rstrip(b"\0").decode(errors="replace")
    try:
        index, bots, values = decode(["uint16", "uint16", "uint256[]"], params)
        agreement = int(values[0]) // 10_000 if name == "agreement" and values else 0
        return signals.strategy_for_bot(int(index), int(bots), agreement=agreement, bar_s=bar_s)
    except Exception:  # noqa: BLE001 - params of another format (tests, older deploys)
        return signals.strategy_for_bot(fallback_index % max(1, fallback_bots), max(1, fallback_bots), bar_s=bar_s)


class StrikeContext:
    """The two strike diamonds, the Aave pool and oracle and WBTC, from a deployment manifest."""

    def __init__(self, manifest: Any) -> None:
        from ape import chain

        self.manifest = manifest
        self.web3 = cache_chain_id(chain.provider.web3)
        self.diamonds = {"long": manifest.address("long"), "short": manifest.address("short")}
        self.pool = manifest.address("aave_pool")
        self.oracle = manifest.address("aave_oracle")
        self.wbtc = manifest.address("wbtc")
        # ExposureFacet: the master's SystemPairExposureExceeded bubbles up through a child's open
        self.abi = abi_json(*project_contract_types(*STRIKE_FACETS, "BotRegistryFacet", "ChildCoordinationFacet",
                                                    "RiskLimitsFacet", "PerformanceFacet", "PositionHolder",
                                                    "ExposureFacet"))
        self.calls = Calls(self.abi)
        self.errors = error_table(self.abi)

    def call(self, to: str, data: bytes, block: str | int = "latest") -> bytes:
        return bytes(self.web3.eth.call({"to": to, "data": data}, block))

    def batch_call(self, calls: list[tuple[str, bytes]], sender: str | None = None) -> list[bytes | Exception]:
        """``eth_call`` each ``(to, data)`` in one JSON-RPC batch (falls back to one request each);
        a reverted call gives a :class:`SimulationReverted` in its place."""
        if not calls:
            return []
        params = [[{"to": to, "data": "0x" + data.hex(), **({"from": sender} if sender else {})}, "latest"]
                  for to, data in calls]
        provider = self.web3.provider
        responses: Any = None
        if hasattr(provider, "make_batch_request"):
            try:
                responses = provider.make_batch_request([("eth_call", p) for p in params])
            except Exception:  # noqa: BLE001 - a node without batch support: one by one below
                responses = None
        if not isinstance(responses, list):
            responses = [provider.make_request("eth_call", p) for p in params]
        out: list[bytes | Exception] = []
        for r in responses:
            if "error" in r and r["error"]:
                err = r["error"]
                data = err.get("data") if isinstance(err, dict) else None
                if isinstance(data, dict):
                    data = data.get("data")
                message = str(err.get("message") if isinstance(err, dict) else err)
                code = err.get("code") if isinstance(err, dict) else None
                is_revert = code == 3 or "revert" in message.lower() or (isinstance(data, str) and len(data) > 2)
                if not is_revert:  # a rate limit or node error is no verdict on the call
                    raise RpcError(f"eth_call refused by the node: {message} (code {code})")
                reason = decode_revert(data, self.errors) if isinstance(data, str) and data.startswith("0x") \
                    else message
                out.append(SimulationReverted(reason))
            else:
                result = r["result"]
                out.append(bytes.fromhex(result[2:]) if isinstance(result, str) else bytes(result))
        return out

    def oracle_price(self) -> float:
        """WBTC's USD price from the Aave oracle (what the positions are valued at)."""
        (answer,) = decode(["uint256"], self.call(self.oracle, GET_ASSET_PRICE + encode(["address"], [self.wbtc])))
        return answer / 10**8

    def price_history(self, rounds: int) -> list[tuple[int, float]]:
        """The last ``rounds`` answers of the Aave oracle's WBTC source (a Chainlink-compatible
        ``AggregatorV3Interface``: ``latestRoundData`` then ``getRoundData(roundId − k)``, one
        JSON-RPC batch), oldest first, as ``(updatedAt unix s, USD price)``; rounds the feed cannot
        return (before its first, another phase) are left out."""
        if rounds <= 0:
            return []
        (feed,) = decode(["address"], self.call(self.oracle, GET_SOURCE_OF_ASSET + encode(["address"], [self.wbtc])))
        feed = to_checksum_address(feed)
        latest = decode(ROUND_TYPES, self.call(feed, LATEST_ROUND_DATA))
        ids = [int(latest[0]) - k for k in range(rounds) if int(latest[0]) - k > 0]
        results = self.batch_call([(feed, GET_ROUND_DATA + encode(["uint80"], [i])) for i in ids])
        history = []
        for raw in results:
            if isinstance(raw, bytes) and len(raw) >= 32 * 5:
                _rid, answer, _started, updated, _in = decode(ROUND_TYPES, raw[:160])
                if int(updated) and int(answer) > 0:
                    history.append((int(updated), int(answer) / 10**8))
        return sorted(history)

    def read_bots(self, side: str) -> list[tuple[int, int, int, bytes, bytes]]:
        """``(id, status, capital, params, strategy id)`` of every bot of ``side``'s diamond."""
        diamond, calls = self.diamonds[side], self.calls
        count = int(calls.decode("botCount", self.call(diamond, calls.encode("botCount")))["out0"])
        if not count:
            return []
        page = calls.decode("botsPage", self.call(diamond, calls.encode("botsPage", 1, count)))["page"]
        return [(int(b["id"]), int(b["status"]), int(b["capital"]), bytes(b["params"]), bytes(b["strategy"]))
                for b in page]

    def liquidations(self, holders: dict[str, tuple[str, int]], from_block: int, to_block: int, *,
                     max_range: int = 2_000) -> list[dict[str, Any]]:
        """Aave ``LiquidationCall`` events on any of ``holders`` (address -> bot key) in the range,
        read in chunks of at most ``max_range`` blocks (halved on a node's range refusal)."""
        if not holders or from_block > to_block:
            return []
        users = ["0x" + bytes.fromhex(h[2:]).rjust(32, b"\0").hex() for h in holders]
        logs = get_logs(self.web3, {"address": self.pool, "fromBlock": from_block, "toBlock": to_block,
                                    "topics": ["0x" + LIQUIDATION_CALL.hex(), None, None, users]}, max_range=max_range)
        out = []
        for log in logs:
            user = _addr(log["topics"][3]).lower()  # holders are keyed lower-case
            debt, seized, liquidator, _ = decode(["uint256", "uint256", "address", "bool"], bytes(log["data"]))
            out.append({"key": holders[user], "block": int(log["blockNumber"]), "holder": user,
                        "tx": "0x" + bytes(log["transactionHash"]).hex(), "debt_to_cover": int(debt),
                        "collateral_seized": int(seized), "liquidator": to_checksum_address(liquidator),
                        "collateral_asset": _addr(log["topics"][1]), "debt_asset": _addr(log["topics"][2])})
        return out


class StrikeJob(Job):
    """Decides and submits strike trades for the long and the short diamond's bots."""

    name = "strike"
    #: journal cursor of the liquidation scan (a restarted keeper scans from there: item 8)
    SCAN_CURSOR = "strike-liquidations"

    def __init__(self, ctx: StrikeContext, signers: SignerPool | TxSender, settings: KeeperSettings,
                 journal: Journal, *, send: bool = True, txm: TxManager | None = None) -> None:
        super().__init__(signers, settings, journal, send=send, txm=txm)
        self.ctx = ctx
        self.calls = ctx.calls
        self.stats = StrikeStats()
        self.bots: dict[tuple[str, int], StrikeBot] = {}
        self.partner: dict[tuple[str, int], tuple[str, int]] = {}
        for long_id, short_id in settings.hedge_pairs:
            self.partner[("long", long_id)] = ("short", short_id)
            self.partner[("short", short_id)] = ("long", long_id)
        scanned = journal.last_block(self.SCAN_CURSOR)
        self.last_scanned = int(ctx.web3.eth.block_number) if scanned is None else scanned
        #: chain time (unix s) of the next price observation when tick() is not given a price, and
        #: the last price fed to the signals (USD per BTC; journalled with signal decisions)
        self.next_signal_at = 0
        self.last_price: float | None = None
        #: bots whose state could not be read back after a settlement: re-read next block
        self.stale: set[tuple[str, int]] = set()
        #: side -> end (unix s) of the last candle the red-candle rule looked at
        self._candles_checked: dict[str, int] = {}
        #: this block's sends handed to the signers' lanes: (future intent, bot, action, signer, detail)
        self._queued: list[tuple[Any, StrikeBot, str, TxSender, dict[str, Any]]] = []
        self.refresh_bots()

    # -- chain reads -----------------------------------------------------------------------------
    def refresh_bots(self) -> None:
        """Read every strike bot's status, capital, strategy and whether its position is open
        (``openPositionIds``: a keeper that restarts watches the positions an earlier run opened);
        position holders once."""
        for side in ("long", "short"):
            rows = self.ctx.read_bots(side)
            open_ids = self.calls.decode("openPositionIds", self.ctx.call(self.ctx.diamonds[side], OPEN_POSITION_IDS))
            open_ids = set(next(iter(open_ids.values())))
            for bot_id, status, capital, params, strategy in rows:
                key = (side, bot_id)
                bot = self.bots.get(key)
                if bot is None:
                    signal = params_signal(params, bot_id - 1, len(rows), strategy,
                                           bar_s=self.settings.strike_signal_interval_s)
                    bot = StrikeBot(side, bot_id, self.ctx.diamonds[side], signal)
                    self.bots[key] = bot
                bot.status, bot.capital = status, capital
                bot.open = bot_id in open_ids
        self.refresh_holders(list(self.bots.values()))
        bots = list(self.bots.values())
        results = self.ctx.batch_call([(b.diamond, self.calls.encode("rules", b.bot_id)) for b in bots])
        for bot, raw in zip(bots, results):
            if isinstance(raw, bytes):
                bot.min_health_factor = int(self.calls.decode("rules", raw)["minHealthFactor"])
        self.stale.clear()

    def refresh_holders(self, bots: list[StrikeBot]) -> None:
        """Read ``positionHolderOf`` for ``bots`` without a known holder (one batch)."""
        missing = [b for b in bots if not b.holder]
        results = self.ctx.batch_call([(b.diamond, HOLDER_OF + encode(["uint256"], [b.bot_id])) for b in missing])
        for bot, raw in zip(missing, results):
            if isinstance(raw, bytes) and len(raw) >= 32 and int.from_bytes(raw[:32], "big"):
                bot.holder = _addr(raw[:32])

    def warm_up(self, prices: list[float], volumes: list[float] | None = None) -> None:
        """Feed past prices (oldest first) and, when known, their bars' volumes to every signal
        without acting: the keeper starts with the history a live keeper would have. Each bot's
        :attr:`StrikeBot.desired` is what its signal last said."""
        for i, price in enumerate(prices):
            volume = volumes[i] if volumes is not None else None
            for bot in self.bots.values():
                out = bot.signal.update(price, volume)
                if out != HOLD:
                    bot.desired = out
        if prices:
            self.last_price = float(prices[-1])

    def warm_up_from_feed(self, rounds: int, interval_s: int) -> int:
        """Warm the signals up from the price feed's past rounds (``keeper run`` at start-up): one
        observation per ``interval_s`` seconds of feed time (the first round, then each round at
        least ``interval_s`` after the last one taken). Returns the number of prices fed; the next
        live observation is due ``interval_s`` after the last."""
        taken: list[tuple[int, float]] = []
        for updated, usd in self.ctx.price_history(rounds):
            if not taken or updated >= taken[-1][0] + interval_s:
                taken.append((updated, usd))
        self.warm_up([usd for _t, usd in taken])
        if taken:
            self.next_signal_at = taken[-1][0] + interval_s
        return len(taken)

    def open_positions(self) -> list[StrikeBot]:
        return [b for b in self.bots.values() if b.open]

    def backfill(self, from_block: int, to_block: int) -> None:
        """Blocks missed while the keeper was down: the next tick scans liquidations from
        ``from_block`` (hedge partners of bots liquidated meanwhile are closed)."""
        self.last_scanned = min(self.last_scanned, from_block - 1)

    # -- one block -------------------------------------------------------------------------------
    def decide(self, header: Any, price: float | None = None, volume: float | None = None,
               **_: Any) -> list[Decision]:
        """Run one decision round on block ``header``. ``price`` (USD per BTC) is the observation
        fed to every signal (the replay passes each bar's close, and ``volume`` its traded volume).
        Without it (``keeper run``) the oracle's price is fed at most once per
        ``strike_signal_interval_s`` seconds of chain time — the signals' windows, stated in hours,
        are counted in observations of that interval — while triggers, health factors and hedges are
        checked on every block. A bot with an open intent is not decided again until it settles."""
        import time

        number, now = int(header["number"]), int(header["timestamp"])
        self.stats.blocks += 1
        decisions: list[Decision] = []

        def note(action: str, reason: str, bot: StrikeBot | None = None, **detail: Any) -> None:
            if bot is not None:
                detail = {"side": bot.side, **detail}
            decisions.append(self.record(number, action, reason, bot.bot_id if bot else None, **detail))

        if self.stale:
            self._refresh_stale()
        if price is not None or now >= self.next_signal_at:
            price = self.ctx.oracle_price() if price is None else float(price)
            if now >= self.next_signal_at:
                self.next_signal_at = now + self.settings.strike_signal_interval_s
            self.last_price = price
            for bot in self.bots.values():
                out = bot.signal.update(price, volume)
                if out != HOLD:
                    bot.desired = out
        else:
            price = self.last_price  # what the signals last saw: no oracle read between observations

        # 1. liquidations and vanished positions since the last round -> hedge partners to close
        started = time.perf_counter()
        to_close: dict[tuple[str, int], str] = {}
        holders = {b.holder.lower(): b.key for b in self.bots.values() if b.holder}
        for liq in self.ctx.liquidations(holders, self.last_scanned + 1, number,
                                         max_range=self.settings.logs_max_range_blocks):
            bot = self.bots[liq["key"]]
            bot.liquidations += 1
            self.stats.liquidations += 1
            bot.desired = None
            note("observe", "liquidated", bot, **{k: v for k, v in liq.items() if k != "key"})
            if liq["key"] in self.partner:
                to_close[self.partner[liq["key"]]] = f"partner {liq['key'][0]} #{liq['key'][1]} liquidated"
        scanned_to = max(self.last_scanned, number)

        watched = [b for b in self.bots.values() if b.open or b.key in to_close]
        calls: list[tuple[str, bytes]] = []
        for b in watched:
            calls.append((b.diamond, POSITION_STATE + encode(["uint256"], [b.bot_id])))
            calls.append((b.diamond, CHECK_TRIGGERS + encode(["uint256"], [b.bot_id])))
        for diamond in self.ctx.diamonds.values():  # the volatility breaker of each child, same batch
            calls += [(diamond, VOLATILITY_CONFIG), (diamond, VOLATILITY_STATUS)]
        sender_address = self.signers.senders[0].address
        results = self.ctx.batch_call(calls, sender=sender_address)
        breaker = self._volatility(results[len(results) - 2 * len(self.ctx.diamonds):], (number, now, header, note))
        self.stats.reads_s.append(time.perf_counter() - started)
        triggers: dict[tuple[str, int], int] = {}
        for i, bot in enumerate(watched):
            raw_state, raw_trig = results[2 * i], results[2 * i + 1]
            if isinstance(raw_state, bytes):
                bot.position = Position.from_named(self.calls.decode("positionState", raw_state))
            if isinstance(raw_trig, bytes) and len(raw_trig) >= 32:
                triggers[bot.key] = int(next(iter(self.calls.decode("checkTriggers", raw_trig).values())))
            if bot.open and bot.position is not None and not bot.position.open and not self._busy(bot):
                # closed by someone else (another keeper's trigger, a full liquidation, an exit)
                bot.open = False
                bot.desired = None
                self.stats.force_closed += 1
                note("observe", "force_closed", bot)
                if bot.key in self.partner:
                    to_close[self.partner[bot.key]] = f"partner {bot.side} #{bot.bot_id} force-closed"

        # 2. decisions per bot
        opening_allowed: dict[str, bool] = {}
        acted = 0
        ctx = (number, now, header, note)
        # hedge closes first: the partner of a liquidated bot goes out in this very block
        for bot in sorted(self.bots.values(), key=lambda b: (b.key not in to_close, b.side, b.bot_id)):
            if bot.resting_until >= number or self._busy(bot):
                continue
            pos = bot.position if bot.open else None
            if bot.key in to_close and bot.open:
                self._act(bot, "hedge_close", CLOSE + encode(["uint256", "uint256"], [bot.bot_id, self._deadline(now)]),
                          ctx, why=to_close[bot.key])
                acted += 1
                continue
            if bot.open:
                if bot.desired is not None and bot.desired != bot.wants:
                    self._act(bot, "signal_exit", CLOSE + encode(["uint256", "uint256"],
                                                                 [bot.bot_id, self._deadline(now)]),
                              ctx, signal=bot.desired, price=price)
                    acted += 1
                    continue
                floor = self._min_hf_wad(bot)
                if pos is not None and pos.debt_base > 0 and pos.health_factor < floor:
                    self._act(bot, "hf_deleverage",
                              DECREASE + encode(["uint256", "uint256", "uint256"],
                                                [bot.bot_id, self.settings.strike_deleverage_bps, self._deadline(now)]),
                              ctx, health_factor=pos.health_factor / WAD,
                              floor=floor / WAD, fraction_bps=self.settings.strike_deleverage_bps)
                    acted += 1
                    continue
                code = triggers.get(bot.key, 0)
                if code:
                    self._act(bot, "trigger", CHECK_TRIGGERS + encode(["uint256"], [bot.bot_id]), ctx,
                              trigger=TRIGGER_NAMES.get(code, str(code)),
                              health_factor=(pos.health_factor / WAD) if pos else None)
                    acted += 1
                continue
            # flat
            if bot.desired != bot.wants or bot.status != ACTIVE:
                continue
            margin = bot.capital * self.settings.strike_margin_bps // 10_000
            if margin == 0:
                note("skip", "no_capital", bot, capital=bot.capital)
                bot.desired = None
                continue
            if bot.side not in opening_allowed:
                opening_allowed[bot.side] = bool(int.from_bytes(self.ctx.call(bot.diamond, OPENING_ALLOWED)[:32], "big"))
            if not opening_allowed[bot.side]:
                note("skip", "opening_blocked", bot, signal=bot.desired)
                continue
            if bot.side in breaker:
                note("skip", "volatility_breaker", bot, signal=bot.desired, **breaker[bot.side])
                continue
            data = OPEN + encode(["uint256"] * 4, [bot.bot_id, margin, self.settings.strike_leverage_bps,
                                                   self._deadline(now)])
            self._act(bot, "signal_entry", data, ctx, signal=bot.desired, price=price,
                      margin=margin, leverage_bps=self.settings.strike_leverage_bps)
            acted += 1
        self._resolve_queued(number, note)
        if scanned_to > self.last_scanned:  # after the block's sends: this commit is off their path
            self.last_scanned = scanned_to
            self.journal.set_last_block(self.SCAN_CURSOR, scanned_to)
        flat = sum(1 for b in self.bots.values() if not b.open)
        note("skip", "hold", None, price=price, open=len(self.bots) - flat, flat=flat, acted=acted)
        return decisions

    def _volatility(self, results: list[bytes | Exception], ctx: tuple[int, int, Any, Any]) -> dict[str, dict[str, int]]:
        """Each child's volatility breaker from ``results`` (volatilityConfig, volatilityStatus per
        side, in ``ctx.diamonds`` order): returns ``side -> {breaker_reason, until}`` for the tripped ones
        (1 move, 2 drop, 3 red candles; until: unix s).
        For an enabled breaker with a red-candle rule, once per completed candle, it reads the feed's
        last CANDLE_ROUNDS rounds and trips the breaker (``tripVolatilityBreaker``, keeper-allowed)
        when the last ``redCandles`` candles of ``candleSeconds`` were red. A child without
        StrikeProtocolsFacet (an older deployment) reads as never tripped."""
        number, now, header, note = ctx
        tripped: dict[str, dict[str, int]] = {}
        history: list[tuple[int, float]] | None = None
        for i, (side, diamond) in enumerate(self.ctx.diamonds.items()):
            raw_cfg, raw_status = results[2 * i], results[2 * i + 1]
            if not isinstance(raw_cfg, bytes) or not isinstance(raw_status, bytes) or len(raw_status) < 128:
                continue
            (cfg,) = decode(VOLATILITY_CONFIG_TYPES, raw_cfg)
            active, reason, _fired, until = decode(VOLATILITY_STATUS_TYPES, raw_status)
            if active:
                tripped[side] = {"breaker_reason": int(reason), "until": int(until)}
                continue
            enabled, red, candle_s = bool(cfg[0]), int(cfg[6]), int(cfg[7])
            candle_end = now // candle_s * candle_s if candle_s else 0
            if not enabled or red == 0 or candle_end <= self._candles_checked.get(side, 0):
                continue
            self._candles_checked[side] = candle_end
            history = self.ctx.price_history(CANDLE_ROUNDS) if history is None else history
            streak = red_candle_streak(history, candle_s, now)
            if streak >= red:
                self._trip(side, diamond, streak, candle_s, ctx)
        return tripped

    def _trip(self, side: str, diamond: str, streak: int, candle_s: int, ctx: tuple[int, int, Any, Any]) -> None:
        """Sends ``tripVolatilityBreaker()`` to ``side``'s diamond (simulated first); journals it."""
        number, now, header, note = ctx
        sender = self.signers.senders[0]
        detail = {"side": side, "red_candles": streak, "candle_s": candle_s}
        try:
            estimate = sender.estimate_gas(diamond, TRIP_VOLATILITY)
        except SimulationReverted as err:
            note("skip", "simulation_reverted", None, intent="volatility_trip", error=err.reason, **detail)
            return
        if not self.send_enabled:
            note("skip", "dry_run", None, intent="volatility_trip", gas=estimate, **detail)
            return
        try:
            intent = self.submit(f"volatility:{side}", "volatility_trip", sender, diamond, TRIP_VOLATILITY,
                                 self.gas_limit(estimate), header, detail=detail)
        except (FeeAboveCap, IntentOpen, SendRejected) as err:
            note("skip", "volatility_trip_not_sent", None, error=type(err).__name__, **detail)
            return
        note("send", "volatility_trip", None, tx=intent.tx_hash, intent=intent.id, **detail)

    def _refresh_stale(self) -> None:
        """Re-read capital, status and position of the bots a settlement touched (one batch)."""
        bots = [self.bots[k] for k in sorted(self.stale)]
        calls = [(b.diamond, self.calls.encode("bot", b.bot_id)) for b in bots]
        calls += [(b.diamond, self.calls.encode("positionState", b.bot_id)) for b in bots]
        results = self.ctx.batch_call(calls)
        for bot, raw_bot, raw_pos in zip(bots, results[:len(bots)], results[len(bots):]):
            if isinstance(raw_bot, bytes):
                out = self.calls.decode("bot", raw_bot)
                bot.status, bot.capital = int(out["status"]), int(out["capital"])
            if isinstance(raw_pos, bytes):
                bot.position = Position.from_named(self.calls.decode("positionState", raw_pos))
                if bot.open and not bot.position.open:  # a deleverage or trigger closed it
                    bot.open, bot.desired = False, None
        self.stale.clear()

    # -- helpers ---------------------------------------------------------------------------------
    def _busy(self, bot: StrikeBot) -> bool:
        return self.is_busy(bot.diamond, bot.bot_id)

    def _deadline(self, now: int) -> int:
        return now + self.settings.strike_deadline_s

    def _min_hf_wad(self, bot: StrikeBot) -> int:
        """The HF below which the keeper deleverages: the bot's minHealthFactor (on-chain rule, else
        ``strike_min_health_factor``) + ``strike_hf_buffer``, as a wad."""
        floor = bot.min_health_factor or int(self.settings.strike_min_health_factor * WAD)
        return floor + int(self.settings.strike_hf_buffer * WAD)

    def expected_gas(self) -> int:
        measured = self.stats.gas_per_tx[-50:]
        return int(statistics.median(measured)) if measured else self.settings.strike_default_gas

    def _act(self, bot: StrikeBot, action: str, data: bytes, ctx: tuple[int, int, Any, Any], **detail: Any) -> None:
        """Simulate ``data`` on the bot's diamond, then submit it as an intent; journal the decision
        under ``action``. The outcome is booked when it settles (:meth:`on_settled`)."""
        number, now, header, note = ctx
        sender = self.signers.pick(bot.bot_id, now)
        if sender is None:
            note("skip", "no_signer_available", bot, intent=action, **detail)
            return
        try:
            sender.call(bot.diamond, data)
            estimate = sender.estimate_gas(bot.diamond, data)
        except SimulationReverted as err:
            note("skip", "simulation_reverted", bot, intent=action, error=err.reason, **detail)
            bot.resting_until = number + self.settings.revert_rest_blocks // 10  # a short rest: retry soon
            if action == "signal_entry":
                bot.desired = None  # wait for a fresh signal rather than retrying every block
            return
        if not self.send_enabled:
            note("skip", "dry_run", bot, intent=action, gas=estimate, **detail)
            return
        try:  # signed, journalled and broadcast in the signer's lane while the next bot is decided
            future = self.submit_async(bot.bot_id, action, sender, bot.diamond, data, self.gas_limit(estimate),
                                       header, bot_id=bot.bot_id, detail={"side": bot.side, **detail})
        except FeeAboveCap as err:
            note("skip", "fee_above_cap", bot, intent=action, next_base_fee_wei=err.next_base_fee, tip_wei=err.tip,
                 cap_wei=err.cap, **detail)
            return
        except IntentOpen:  # a settlement raced this decision: the bot is busy
            return
        self.signers.record(sender, now)
        self._queued.append((future, bot, action, sender, detail))

    def _resolve_queued(self, number: int, note: Any) -> None:
        """Journal the block's queued sends once their lanes have broadcast them."""
        queued, self._queued = self._queued, []
        for future, bot, action, sender, detail in queued:
            try:
                intent = future.result()
            except IntentOpen:
                continue
            except SendRejected as err:
                note("skip", "send_rejected", bot, intent=action, error=str(err), **detail)
                bot.resting_until = number + self.settings.revert_rest_blocks
                continue
            self.stats.sent += 1
            note("send", action, bot, status="sent", intent=intent.id, nonce=intent.nonce, signer=sender.address,
                 **detail)

    def on_settled(self, outcome: Outcome) -> list[Decision]:
        """Book a settled strike intent on its bot; journal it under the intent's action."""
        intent, receipt = outcome.intent, outcome.receipt
        side = intent.detail.get("side")
        bot = self.bots.get((side, intent.bot_id))
        detail = {**intent.detail, **self.settled_detail(outcome)}
        block = int(receipt["blockNumber"]) if receipt is not None else intent.created_block
        decision = self.record(block, "settle", intent.action, intent.bot_id, **detail)
        if bot is None or receipt is None:
            return [decision]
        gas_used = int(receipt["gasUsed"])
        bot.gas_used += gas_used
        bot.gas_cost_wei += gas_used * int(receipt.get("effectiveGasPrice", 0))
        if outcome.status != "mined":
            self.stats.reverted += 1
            bot.resting_until = block + self.settings.revert_rest_blocks
            detail["error"] = self.revert_reason(intent, receipt)
            decision.detail["error"] = detail["error"]
            return [decision]
        self.stats.succeeded += 1
        self.stats.gas_per_tx.append(gas_used)
        self.stats.latency_s.append(float(detail.get("latency_s", 0.0)))
        self.stats.by_intent[intent.action] = self.stats.by_intent.get(intent.action, 0) + 1
        bot.trades += 1
        if intent.action == "signal_entry":
            bot.open, bot.margin, bot.opened_block = True, int(intent.detail.get("margin", 0)), block
            self.refresh_holders([bot])  # the first openPosition creates the bot's holder
        elif intent.action in ("signal_exit", "hedge_close"):
            bot.open = False
            if intent.action == "hedge_close":
                bot.desired = None
        self.stale.add(bot.key)  # position survived? capital? — re-read before the next decision
        return [decision]
