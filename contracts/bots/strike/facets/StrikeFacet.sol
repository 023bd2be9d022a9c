// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IUniswapV2PairMinimal} from "../../interfaces/IUniswapV2PairMinimal.sol";
import {LibBots} from "../../libraries/LibBots.sol";
import {LibPerformance} from "../../libraries/LibPerformance.sol";
import {LibRiskLimits} from "../../libraries/LibRiskLimits.sol";
import {IAaveV3Pool} from "../interfaces/IAaveV3Pool.sol";
import {IPositionHolder} from "../interfaces/IPositionHolder.sol";
import {LibPositions} from "../LibPositions.sol";
import {LibPrice} from "../LibPrice.sol";
import {LibStrike} from "../LibStrike.sol";
import {LibStrikeProtocols} from "../LibStrikeProtocols.sol";

/// @title StrikeFacet
/// @notice Leveraged long or short positions on Aave V3, one isolated PositionHolder per bot, for
///         both strike children (the side is the child's `Config.isLong`).
///         - Long: buy the asset with the margin, supply it, then loop borrow quote → buy asset →
///           supply until the quote debt is margin·(leverage − 1): exposure (asset held) = margin·leverage.
///         - Short: supply the margin (quote), then loop borrow asset → sell → supply the proceeds
///           until the asset debt is worth margin·leverage at the oracle price.
///         Unwinding withdraws collateral (never below Aave's health factor 1, with a 1 % buffer),
///         swaps and repays in a bounded loop; what is left returns to the bot's capital.
///         Swaps go directly to the Uniswap V2 pair (no router); every swap's output must be at
///         least the oracle value of the input less the bot's `slippageBps`.
///         MEV bounds (L-1): the pair is public, so every swap of an open/increase/decrease/close
///         loop can be sandwiched down to that oracle floor: a loss of up to `slippageBps`
///         (rules: 1..1,000 bps, default 100) of each swap's oracle value, plus the 0.3 % pair
///         fee. exitAll swaps with the caller's bound, capped at MAX_EXIT_SLIPPAGE_BPS (10 %) for
///         the master and the owner alike; a pair pushed beyond the bound makes the swap revert
///         (SlippageExceeded) and exitAll skips that position instead of accepting the price.
///         Per-bot rules (LibStrike.Rules) are enforced here: leverage 1x..maxLeverage (≤ 5x),
///         liquidity band on the pair's quote reserve at open/increase, minimum health factor after
///         open/increase, and through `checkTriggers`: hard expiry, stop-loss, emergency
///         deleverage, take-profit ladder (+15/35/60/100 % → close 25/40/50/75 % of what is open).
///         Loop ceiling: with WBTC's LTV of 73 % a long's leverage tops out near 1/(1 − 0.73) ≈ 3.7x
///         (≈ 3.6x after swap fees within MAX_OPEN_LOOPS); a short on USDC collateral (LTV 77 %) near
///         0.77/0.23 ≈ 3.3x. The minimum health factor, checked after every open/increase, limits
///         both further: at the default 1.15, L·0.78/(L − 1) ≥ 1.15 ⇒ ≈ 3.1x long and
///         (1 + L)·0.80/L ≥ 1.15 ⇒ ≈ 2.29x short. Beyond the loop's reach: LeverageNotReachable
///         (checked before the loop from the holder's LTV); beyond the HF floor: HealthFactorBelowMin.
///         Amounts: token base units; prices: Aave oracle, USD 8 decimals; ratios: bps; HF: wad.
///         Configuration (setStrikeConfig, setRules) and the position views live in
///         StrikeConfigFacet, cut into the same diamonds.
/// @dev Units of PnL: quote base units, realised = quote returned − margin share released.
contract StrikeFacet is ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    uint256 private constant BPS = 10_000;
    /// @notice Most borrow → swap → supply rounds of one open or increase.
    uint256 public constant MAX_OPEN_LOOPS = 16;
    /// @notice Most withdraw → swap → repay rounds of one decrease or close.
    uint256 public constant MAX_UNWIND_LOOPS = 24;
    /// @notice Highest slippage (bps of the oracle value) any exitAll accepts, the master's bound too
    ///         (LibRisk.MAX_EXIT_SLIPPAGE_BOUND_BPS): what a sandwich can take from an exit swap.
    uint256 public constant MAX_EXIT_SLIPPAGE_BPS = 1_000;
    /// @notice Most bots exitAll walks to zero capital.
    uint256 public constant MAX_EXIT_BOTS = LibBots.MAX_EXIT_BOTS;
    /// @notice Extra margin (bps of the debt's value) withdrawn to cover swap fee and price impact.
    uint256 private constant UNWIND_CUSHION_BPS = 50;
    /// @notice Withdrawals keep 1 % of the collateral headroom above health factor 1.
    uint256 private constant WITHDRAW_BUFFER_BPS = 100;
    /// @notice Borrows take at most 99.9 % of Aave's availableBorrowsBase (rounding margin).
    uint256 private constant BORROW_USE_BPS = 9_990;
    /// @notice Emergency deleverage aims 2 % above the bot's minimum health factor.
    uint256 private constant DELEVERAGE_HEADROOM_BPS = 10_200;

    /// @notice Reasons / trigger kinds (checkTriggers returns the kind that fired, 0 = none).
    uint8 public constant REASON_MANUAL = 0;
    uint8 public constant KIND_EXPIRY = 1;
    uint8 public constant KIND_STOP_LOSS = 2;
    uint8 public constant KIND_DELEVERAGE = 3;
    uint8 public constant KIND_TAKE_PROFIT = 4;
    uint8 public constant REASON_EXIT_ALL = 5;
    /// @dev StrikeProtocolsFacet.KIND_VOLATILITY (KIND_TIME_DECAY = 6 is the other protocol kind).
    uint8 private constant KIND_VOLATILITY = 7;

    /// @notice setStrikeConfig has not been called.
    error StrikeNotConfigured();
    /// @notice Leverage above the bot's maximum.
    error LeverageAboveMax(uint256 leverageBps, uint256 maxLeverageBps);
    /// @notice Leverage below 1x (10,000 bps).
    error LeverageBelowMin(uint256 leverageBps);
    /// @notice Aave's LTV (or MAX_OPEN_LOOPS) stopped the loop at `reachedBps` before `leverageBps`.
    error LeverageNotReachable(uint256 leverageBps, uint256 reachedBps);
    /// @notice A swap would return `amountOut`, below `minOut` (oracle value less slippageBps).
    error SlippageExceeded(uint256 amountOut, uint256 minOut);
    /// @notice Fewer tokens arrived than the pair maths promised.
    error UnexpectedOutput(uint256 expected, uint256 received);
    /// @notice The pair's quote reserve is outside the bot's band [min, max].
    error LiquidityOutOfBand(uint256 quoteReserve, uint256 minPoolQuote, uint256 maxPoolQuote);
    /// @notice After opening/increasing, the health factor is below the bot's minimum.
    error HealthFactorBelowMin(uint256 healthFactor, uint256 minHealthFactor);
    /// @notice block.timestamp is past the caller's deadline.
    error DeadlineExpired(uint256 deadline, uint256 timestamp);
    error PositionAlreadyOpen(uint256 botId);
    error PositionNotOpen(uint256 botId);
    /// @notice The child has MAX_OPEN_POSITIONS open already.
    error OpenPositionListFull(uint256 maxOpen);
    /// @notice fractionBps must be 1..10,000.
    error InvalidFraction(uint256 fractionBps);
    error ZeroAmount();
    /// @notice The unwind could not withdraw anything (position at or below health factor 1).
    error UnwindStuck(uint256 botId);
    /// @notice The unwind needed more than MAX_UNWIND_LOOPS rounds.
    error UnwindIncomplete(uint256 botId);
    /// @notice The pair has not enough of the asset for the trade.
    error InsufficientLiquidity(address pair);
    /// @notice Only the diamond itself may call this (exitAll's per-position close).
    error NotSelf(address caller);

    event PositionOpened(
        uint256 indexed botId, address holder, uint256 margin, uint256 leverageBps, uint256 entryPrice
    );
    event PositionIncreased(
        uint256 indexed botId, uint256 addMargin, uint256 leverageBps, uint256 marginQuote, uint256 entryPrice
    );
    /// @notice `fractionBps` of the position was unwound (a deleverage reports the share of margin released).
    event PositionDecreased(
        uint256 indexed botId, uint8 reason, uint256 fractionBps, uint256 returned, uint256 marginReleased, int256 pnl
    );
    event PositionClosed(uint256 indexed botId, uint8 reason, uint256 returned, uint256 marginReleased, int256 pnl);
    event TriggerFired(uint256 indexed botId, uint8 kind);
    event ExitedAll(address indexed by, uint256 positionsClosed, uint256 amount);
    /// @notice exitAll could not close bot `botId`'s position (`reason`: the revert data, e.g.
    ///         UnwindStuck, SlippageExceeded); the position stays open, the others were closed.
    event PositionExitFailed(uint256 indexed botId, bytes reason);

    /// @dev Everything one operation needs, read once.
    struct Ctx {
        uint256 botId;
        bool isLong;
        bool quoteIs0;
        IAaveV3Pool pool;
        address pair;
        address asset;
        address quote;
        IPositionHolder h;
        uint256 pA;
        uint256 pQ;
        uint256 unitA;
        uint256 unitQ;
        uint256 slip;
    }

    // ----------------------------------------------------------------------------------------
    // trading
    // ----------------------------------------------------------------------------------------

    /// @notice Opens bot `botId`'s position with `margin` of its capital at `leverageBps`
    ///         (10,000 = 1x). Keeper or owner. Creates the bot's PositionHolder if it has none.
    /// @dev Reverts NotKeeper, DeadlineExpired, ChildIsPaused, BreakerIsTripped, UnknownBot,
    ///      BotNotActive, PositionAlreadyOpen, ZeroAmount, StrikeNotConfigured, LiquidityOutOfBand,
    ///      LeverageBelowMin, LeverageAboveMax, InsufficientBotCapital, LibRiskLimits' limits
    ///      (BotCoolingDown, DailyTradeLimitReached, PositionTooLarge, TooManyOpenPositions,
    ///      PairExposureExceeded), LibPrice.StalePrice (asset or quote answer older than its
    ///      maxAge, ≤ 0 or missing), OpenPositionListFull, SlippageExceeded, LeverageNotReachable,
    ///      HealthFactorBelowMin, LibStrikeProtocols.VolatilityBreakerActive (the volatility
    ///      breaker is tripped; increasePosition too).
    function openPosition(uint256 botId, uint256 margin, uint256 leverageBps, uint256 deadline)
        external
        nonReentrant
    {
        (LibBots.Bot storage bot, LibStrike.Position storage p, LibStrike.Rules memory r, Ctx memory x) =
            _enter(botId, margin, leverageBps, deadline, true);
        LibRiskLimits.recordOpen(botId, _pairKey(x), margin); // cooldown, limits, counts the trade

        // effects
        _takeMargin(bot, margin);
        LibStrike.StrikeStorage storage s = LibStrike.strikeStorage();
        p.marginQuote = uint128(margin);
        p.entryPrice = uint128(x.pA);
        p.openedAt = uint64(block.timestamp);
        p.tpStage = 0;
        p.open = true;
        s.riskSize[botId] = margin;
        if (!LibStrike.listOpen(botId)) revert OpenPositionListFull(LibStrike.MAX_OPEN_POSITIONS);
        emit PositionOpened(botId, address(x.h), margin, leverageBps, x.pA);

        // interactions
        _addExposure(x, margin, leverageBps);
        _enforceHealth(x, r.minHealthFactor);
    }

    /// @notice Adds `addMargin` of the bot's capital to its open position at `leverageBps`
    ///         (same rules as opening; hold time and take-profit stage are kept, the entry price
    ///         becomes the margin-weighted average). Keeper or owner.
    /// @dev Reverts as openPosition (PositionNotOpen instead of PositionAlreadyOpen); the risk
    ///      limits checked are cooldown, daily trades, maximum position size and pair exposure.
    function increasePosition(uint256 botId, uint256 addMargin, uint256 leverageBps, uint256 deadline)
        external
        nonReentrant
    {
        (LibBots.Bot storage bot, LibStrike.Position storage p, LibStrike.Rules memory r, Ctx memory x) =
            _enter(botId, addMargin, leverageBps, deadline, false);
        LibStrike.StrikeStorage storage s = LibStrike.strikeStorage();
        LibRiskLimits.recordIncrease(botId, _pairKey(x), s.riskSize[botId], addMargin);

        // effects
        _takeMargin(bot, addMargin);
        uint256 oldMargin = p.marginQuote;
        uint256 newMargin = oldMargin + addMargin;
        uint256 entry = (uint256(p.entryPrice) * oldMargin + x.pA * addMargin) / newMargin;
        p.marginQuote = uint128(newMargin);
        p.entryPrice = uint128(entry);
        s.riskSize[botId] += addMargin;
        emit PositionIncreased(botId, addMargin, leverageBps, newMargin, entry);

        // interactions
        _addExposure(x, addMargin, leverageBps);
        _enforceHealth(x, r.minHealthFactor);
    }

    /// @notice Unwinds `fractionBps` (1..10,000; 10,000 closes) of bot `botId`'s position; the
    ///         quote left after repaying returns to the bot's capital. Keeper or owner; allowed
    ///         while paused, with the breaker tripped and on a stale oracle price (the swap floor is
    ///         then the last answer less slippageBps: never relaxed; see LibPrice).
    /// @dev Reverts NotKeeper, DeadlineExpired, InvalidFraction, PositionNotOpen, SlippageExceeded,
    ///      UnwindStuck, UnwindIncomplete.
    function decreasePosition(uint256 botId, uint256 fractionBps, uint256 deadline) external nonReentrant {
        LibBots.enforceKeeperOrOwner();
        _enforceDeadline(deadline);
        if (fractionBps == 0 || fractionBps > BPS) revert InvalidFraction(fractionBps);
        if (!LibStrike.strikeStorage().positions[botId].open) revert PositionNotOpen(botId);
        uint256 slip = LibStrike.rulesOf(botId).slippageBps;
        if (fractionBps == BPS) _close(botId, REASON_MANUAL, slip);
        else _decrease(botId, fractionBps, REASON_MANUAL, slip);
    }

    /// @notice Closes bot `botId`'s position: all debt repaid, all collateral withdrawn and sold;
    ///         the quote returns to the bot's capital. Keeper or owner; always allowed (a stale
    ///         oracle price included, with the floor as in decreasePosition).
    /// @dev Reverts NotKeeper, DeadlineExpired, PositionNotOpen, SlippageExceeded, UnwindStuck, UnwindIncomplete.
    function closePosition(uint256 botId, uint256 deadline) external nonReentrant {
        LibBots.enforceKeeperOrOwner();
        _enforceDeadline(deadline);
        if (!LibStrike.strikeStorage().positions[botId].open) revert PositionNotOpen(botId);
        _close(botId, REASON_MANUAL, LibStrike.rulesOf(botId).slippageBps);
    }

    /// @notice Applies bot `botId`'s exit rules, first match only, in this order: hard expiry
    ///         (block.timestamp ≥ openedAt + maxHoldSeconds → close), stop-loss (oracle move against
    ///         the position ≥ stopLossBps of the entry price → close), health factor below
    ///         minHealthFactor (→ repay debt with collateral aiming 2 % above the minimum; close if
    ///         that is most of the debt or falls short), take-profit (move in favour ≥ the next
    ///         stage's trigger → unwind that stage's fraction). Keeper or owner. On a stale asset
    ///         price (LibPrice: older than its maxAge, ≤ 0 or missing) stop-loss and take-profit do
    ///         not fire; expiry and the deleverage (Aave's own health factor) still do. After the
    ///         deleverage and before take-profit: the protocols of StrikeProtocolsFacet.protocolDue
    ///         (volatility breaker tripped → reduce by its reduceBps once per trip, kind 7; time
    ///         protocol decay steps due → reduce, kind 6).
    /// @return action The kind that fired (KIND_*), 0 if none or no open position.
    function checkTriggers(uint256 botId) external nonReentrant returns (uint8 action) {
        LibBots.enforceKeeperOrOwner();
        LibStrike.StrikeStorage storage s = LibStrike.strikeStorage();
        LibStrike.Position storage p = s.positions[botId];
        if (!p.open) return 0;
        LibStrike.Rules memory r = LibStrike.rulesOf(botId);
        if (block.timestamp >= uint256(p.openedAt) + r.maxHoldSeconds) {
            emit TriggerFired(botId, KIND_EXPIRY);
            _close(botId, KIND_EXPIRY, r.slippageBps);
            return KIND_EXPIRY;
        }
        LibStrike.Config storage c = s.config;
        uint256 entry = p.entryPrice;
        uint256 price = LibPrice.priceOr(c.oracle, c.asset, entry); // stale: no move, no stop-loss/take-profit
        (uint256 adverse, uint256 favourable) = c.isLong
            ? (price < entry ? (entry - price, uint256(0)) : (uint256(0), price - entry))
            : (price > entry ? (price - entry, uint256(0)) : (uint256(0), entry - price));
        if (adverse * BPS >= uint256(r.stopLossBps) * entry) {
            emit TriggerFired(botId, KIND_STOP_LOSS);
            _close(botId, KIND_STOP_LOSS, r.slippageBps);
            return KIND_STOP_LOSS;
        }
        (,,,,, uint256 hf) = IAaveV3Pool(c.pool).getUserAccountData(LibPositions.positionStorage().holders[botId]);
        if (hf < r.minHealthFactor) {
            emit TriggerFired(botId, KIND_DELEVERAGE);
            _deleverage(botId, r);
            return KIND_DELEVERAGE;
        }
        uint8 kind = _protocols(botId, p, r.slippageBps);
        if (kind != 0) return kind;
        uint8 stage = p.tpStage;
        if (stage < 4 && favourable * BPS >= _tpTrigger(stage) * entry) {
            emit TriggerFired(botId, KIND_TAKE_PROFIT);
            p.tpStage = stage + 1;
            _decrease(botId, _tpFraction(stage), KIND_TAKE_PROFIT, r.slippageBps);
            return KIND_TAKE_PROFIT;
        }
        return 0;
    }

    /// @notice Closes every open position with `maxSlippageBps` (≤ MAX_EXIT_SLIPPAGE_BPS) on each
    ///         swap, zeroes every bot's capital and sends all quote tokens this child holds to the
    ///         master. The master's emergencyExit/withdrawAll call it (RiskFacet's exit slippage,
    ///         ≤ 1,000 bps); the owner may too, with the same cap. Each position closes on its own
    ///         (an external self-call to closeForExit): one that cannot close (health factor below
    ///         1: UnwindStuck; bad debt; the pair beyond the slippage bound: SlippageExceeded) is
    ///         skipped and reported (PositionExitFailed), stays open, and the free capital still
    ///         returns. StrikeRecoveryFacet's repayDebt / writeOffBadDebt resolve it afterwards.
    ///         MEV bound: a sandwich can take at most `maxSlippageBps` of the oracle value of each
    ///         exit swap (plus the pair's 0.3 % fee); beyond that the swap reverts and the position
    ///         is skipped, so an exit loses at most 10 % of a position's swapped value to MEV.
    /// @dev Bounded: at most LibStrike.MAX_OPEN_POSITIONS closes and MAX_EXIT_BOTS bots. Each close
    ///      costs a few hundred thousand to a few million gas (loop rounds), so a child with many
    ///      open leveraged positions may need closes by the keeper before exitAll fits in a block.
    ///      Reverts NotMasterOrOwner, ParameterOutOfRange (slippage above MAX_EXIT_SLIPPAGE_BPS).
    /// @return returned Quote base units sent to the master.
    function exitAll(uint256 maxSlippageBps) external nonReentrant returns (uint256 returned) {
        LibBots.enforceMasterOrOwner();
        if (maxSlippageBps > MAX_EXIT_SLIPPAGE_BPS) {
            revert LibRiskLimits.ParameterOutOfRange("maxSlippageBps", maxSlippageBps, 0, MAX_EXIT_SLIPPAGE_BPS);
        }
        uint256[] memory ids = LibStrike.strikeStorage().openBots; // ≤ MAX_OPEN_POSITIONS
        uint256 closed;
        for (uint256 i = ids.length; i != 0; --i) {
            try this.closeForExit(ids[i - 1], maxSlippageBps) {
                ++closed;
            } catch (bytes memory reason) {
                emit PositionExitFailed(ids[i - 1], reason);
            }
        }
        LibBots.BotStorage storage bs = LibBots.botStorage();
        LibBots.zeroAllCapital();
        IERC20 quote = bs.quoteToken;
        returned = quote.balanceOf(address(this));
        emit ExitedAll(msg.sender, closed, returned);
        if (returned != 0) quote.safeTransfer(bs.master, returned);
    }

    /// @notice exitAll's close of one position (reason REASON_EXIT_ALL), as an external call so
    ///         that its revert undoes only this position. Only the diamond itself may call it
    ///         (exitAll holds the re-entrancy lock already, so it takes none).
    /// @dev Reverts NotSelf, then as closePosition.
    function closeForExit(uint256 botId, uint256 slip) external {
        if (msg.sender != address(this)) revert NotSelf(msg.sender);
        _close(botId, REASON_EXIT_ALL, slip);
    }

    // ----------------------------------------------------------------------------------------
    // internals: checks and bookkeeping
    // ----------------------------------------------------------------------------------------

    /// @dev What opening and increasing share before their risk-limit bookkeeping: keeper or owner,
    ///      deadline, opening allowed (not paused, breaker not tripped), an Active bot whose position
    ///      is flat (`opening`) or open (not `opening`), a non-zero margin, the bot's rules, its
    ///      holder (created on the first open), the context, and the entry rules (_checkEntry).
    function _enter(uint256 botId, uint256 margin, uint256 leverageBps, uint256 deadline, bool opening)
        private
        returns (LibBots.Bot storage bot, LibStrike.Position storage p, LibStrike.Rules memory r, Ctx memory x)
    {
        LibBots.enforceKeeperOrOwner();
        _enforceDeadline(deadline);
        LibRiskLimits.enforceOpeningAllowed();
        LibStrikeProtocols.enforceCalm(); // VolatilityBreakerActive
        bot = LibBots.enforceActiveBot(botId);
        LibStrike.StrikeStorage storage s = LibStrike.strikeStorage();
        p = s.positions[botId];
        if (opening && p.open) revert PositionAlreadyOpen(botId);
        if (!opening && !p.open) revert PositionNotOpen(botId);
        if (margin == 0) revert ZeroAmount();
        r = LibStrike.rulesOf(botId);
        if (opening && LibPositions.positionStorage().holders[botId] == address(0) && s.config.pool != address(0)) {
            _createHolder(botId);
        }
        x = _context(botId, r.slippageBps, true);
        _checkEntry(x, r, botId, bot, margin, leverageBps);
    }

    /// @dev The time protocol and the volatility breaker (StrikeProtocolsFacet.protocolDue): records
    ///      the step or trip acted on, then decreases (closes at 10,000 bps). Returns the kind, 0 if none.
    function _protocols(uint256 botId, LibStrike.Position storage p, uint256 slip) private returns (uint8 kind) {
        bytes memory ret = _selfCall(abi.encodeWithSignature("protocolDue(uint256)", botId), true);
        uint256 fraction;
        uint256 mark;
        (kind, fraction, mark) = abi.decode(ret, (uint8, uint256, uint256));
        if (kind == 0) return 0;
        LibStrikeProtocols.ProtocolStorage storage ps = LibStrikeProtocols.protocolStorage();
        if (kind == KIND_VOLATILITY) ps.volatilityHandled[botId] = uint64(mark);
        else ps.decay[botId] = LibStrikeProtocols.DecayState(p.openedAt, uint8(mark));
        emit TriggerFired(botId, kind);
        if (fraction >= BPS) _close(botId, kind, slip);
        else _decrease(botId, fraction, kind, slip);
    }

    /// @dev Calls this diamond (a view of StrikeProtocolsFacet, `isStatic`) and bubbles up its revert.
    function _selfCall(bytes memory data, bool isStatic) private returns (bytes memory ret) {
        bool ok;
        (ok, ret) = isStatic ? address(this).staticcall(data) : address(this).delegatecall(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }

    /// @dev `margin` leaves the bot's capital (and the child's total) for the position.
    function _takeMargin(LibBots.Bot storage bot, uint256 margin) private {
        bot.capital -= margin;
        LibBots.botStorage().totalCapital -= margin;
    }

    function _checkEntry(
        Ctx memory x,
        LibStrike.Rules memory r,
        uint256 botId,
        LibBots.Bot storage bot,
        uint256 margin,
        uint256 leverageBps
    ) private view {
        (uint256 rQ,) = _reserves(x);
        if (rQ < r.minPoolQuote || rQ > r.maxPoolQuote) revert LiquidityOutOfBand(rQ, r.minPoolQuote, r.maxPoolQuote);
        if (leverageBps < BPS) revert LeverageBelowMin(leverageBps);
        if (leverageBps > r.maxLeverageBps) revert LeverageAboveMax(leverageBps, r.maxLeverageBps);
        if (margin > bot.capital) revert LibBots.InsufficientBotCapital(botId, bot.capital, margin);
    }

    function _decrease(uint256 botId, uint256 fractionBps, uint8 reason, uint256 slip) private {
        LibStrike.Position storage p = LibStrike.strikeStorage().positions[botId];
        Ctx memory x = _ctx(botId, slip);
        (uint256 coll, uint256 debt) = _balances(x);
        uint256 share = uint256(p.marginQuote) * fractionBps / BPS;
        p.marginQuote -= uint128(share);
        uint256 returned = _unwind(x, coll * fractionBps / BPS, debt * fractionBps / BPS, false);
        int256 pnl = _settle(botId, returned, share, false, x);
        emit PositionDecreased(botId, reason, fractionBps, returned, share, pnl);
    }

    function _close(uint256 botId, uint8 reason, uint256 slip) private {
        LibStrike.Position storage p = LibStrike.strikeStorage().positions[botId];
        Ctx memory x = _ctx(botId, slip);
        uint256 share = p.marginQuote;
        p.marginQuote = 0;
        p.open = false;
        LibStrike.unlistOpen(botId);
        uint256 returned = _unwind(x, 0, 0, true);
        int256 pnl = _settle(botId, returned, share, true, x);
        emit PositionClosed(botId, reason, returned, share, pnl);
    }

    /// @dev Repays debt with collateral so that HF = minHF·1.02: with collateral C, debt D (USD),
    ///      weighted liquidation threshold LT and target h, repaying X from both sides gives
    ///      (C − X)·LT / (D − X) = h  ⇒  X = (h·D − LT·C) / (h − LT). Closes instead when X is
    ///      ≥ 95 % of the debt, or when the health factor is still below the minimum afterwards.
    function _deleverage(uint256 botId, LibStrike.Rules memory r) private {
        Ctx memory x = _ctx(botId, r.slippageBps);
        (uint256 repayBase, uint256 equityQuote, bool closeAll) = _deleveragePlan(x, r.minHealthFactor);
        if (closeAll) {
            _close(botId, KIND_DELEVERAGE, r.slippageBps);
            return;
        }
        uint256 returned = _unwind(x, 0, x.isLong ? _baseToQuote(x, repayBase) : _baseToAsset(x, repayBase), false);
        _settleDeleverage(x, returned, equityQuote);
        (,,,,, uint256 hf) = x.pool.getUserAccountData(address(x.h));
        if (hf < r.minHealthFactor) _close(botId, KIND_DELEVERAGE, r.slippageBps);
    }

    /// @dev Margin released in proportion to the equity taken out (the leftover of the cushion).
    function _settleDeleverage(Ctx memory x, uint256 returned, uint256 equityQuote) private {
        LibStrike.Position storage p = LibStrike.strikeStorage().positions[x.botId];
        uint256 share = equityQuote == 0 ? 0 : _min(uint256(p.marginQuote) * returned / equityQuote, p.marginQuote);
        p.marginQuote -= uint128(share);
        int256 pnl = _settle(x.botId, returned, share, false, x);
        emit PositionDecreased(x.botId, KIND_DELEVERAGE, 0, returned, share, pnl);
    }

    /// @dev Debt to repay (USD, 8 decimals) for HF = minHF·1.02, the equity now (quote units), and
    ///      whether to close instead (repayment ≥ 95 % of the debt, or no equity left).
    function _deleveragePlan(Ctx memory x, uint256 minHf)
        private
        view
        returns (uint256 repayBase, uint256 equityQuote, bool closeAll)
    {
        (uint256 cb, uint256 db,, uint256 lt,,) = x.pool.getUserAccountData(address(x.h));
        if (cb <= db) return (0, 0, true);
        uint256 h = minHf * DELEVERAGE_HEADROOM_BPS / BPS;
        uint256 num = h * db * BPS;
        uint256 sub = cb * lt * 1e18;
        repayBase = num > sub ? (num - sub) / (h * BPS - lt * 1e18) : 0;
        equityQuote = _baseToQuote(x, cb - db);
        closeAll = repayBase * 100 >= db * 95;
    }

    /// @dev Credits `returned` to the bot, records the realised PnL (returned − share).
    function _settle(uint256 botId, uint256 returned, uint256 share, bool closed, Ctx memory x)
        private
        returns (int256 pnl)
    {
        LibBots.BotStorage storage bs = LibBots.botStorage();
        bs.bots[botId].capital += returned;
        bs.totalCapital += returned;
        pnl = int256(returned) - int256(share);
        LibPerformance.recordTrade(botId, pnl);
        if (closed) {
            // riskSize stays as it is: read only while the position is open (LibStrike)
            LibRiskLimits.recordClose(botId, _pairKey(x), LibStrike.strikeStorage().riskSize[botId], pnl);
        } else {
            LibRiskLimits.recordResult(botId, pnl); // loss streak; the position stays counted as open
        }
    }

    // ----------------------------------------------------------------------------------------
    // internals: Aave loops
    // ----------------------------------------------------------------------------------------

    function _addExposure(Ctx memory x, uint256 margin, uint256 leverageBps) private {
        if (x.isLong) {
            _supply(x, x.asset, _swap(x, false, margin));
            uint256 target = margin * (leverageBps - BPS) / BPS;
            uint256 availBase = _enforceReachable(x, margin, target, leverageBps, BPS);
            uint256 borrowed;
            for (uint256 i; borrowed < target; ++i) {
                uint256 avail = _availableBorrow(x, i == 0 ? availBase : _availableBase(x));
                if (i == MAX_OPEN_LOOPS || avail == 0) {
                    revert LeverageNotReachable(leverageBps, (margin + borrowed) * BPS / margin);
                }
                uint256 b = _min(target - borrowed, avail);
                borrowed += b;
                x.h.borrow(x.quote, b);
                _supply(x, x.asset, _swap(x, false, b));
            }
        } else {
            _supply(x, x.quote, margin);
            uint256 target = margin * leverageBps / BPS;
            uint256 availBase = _enforceReachable(x, margin, target, leverageBps, 0);
            uint256 borrowed; // quote value at the oracle price
            for (uint256 i; borrowed < target; ++i) {
                uint256 avail = _availableBorrow(x, i == 0 ? availBase : _availableBase(x));
                if (i == MAX_OPEN_LOOPS || avail == 0) {
                    revert LeverageNotReachable(leverageBps, borrowed * BPS / margin);
                }
                uint256 bq = _min(target - borrowed, avail);
                uint256 a = _quoteToAsset(x, bq);
                if (a == 0) break; // less than one asset unit left to borrow
                borrowed += bq;
                x.h.borrow(x.asset, a);
                _supply(x, x.quote, _swap(x, true, a));
            }
        }
    }

    /// @dev Fails fast (before the loop) when the debt target is beyond the loop's limit: with the
    ///      holder's LTV `l`, a debt D re-supplied as collateral must satisfy D ≤ l·(margin + D), so
    ///      D ≤ margin·l / (1 − l). `baseBps` is 10,000 for a long (its exposure counts the margin).
    ///      Returns Aave's availableBorrowsBase from the same getUserAccountData (USD, 8 decimals),
    ///      which the loop's first round uses instead of asking again (issue 12: the call used 12,351 gas).
    function _enforceReachable(Ctx memory x, uint256 margin, uint256 target, uint256 leverageBps, uint256 baseBps)
        private
        view
        returns (uint256 availBase)
    {
        uint256 ltv;
        (,, availBase,, ltv,) = x.pool.getUserAccountData(address(x.h));
        if (ltv >= BPS) return availBase;
        uint256 ceiling = margin * ltv / (BPS - ltv);
        if (target > ceiling) revert LeverageNotReachable(leverageBps, baseBps + ceiling * BPS / margin);
    }

    /// @dev Unwinds: repays at least `debtTarget` and withdraws at least `collTarget` (all of both
    ///      when `close`), withdrawing more collateral when the proceeds fall short of the debt.
    ///      Returns the quote this left in the diamond (balance difference).
    function _unwind(Ctx memory x, uint256 collTarget, uint256 debtTarget, bool close)
        private
        returns (uint256 returned)
    {
        uint256 before = IERC20(x.quote).balanceOf(address(this));
        if (x.isLong) _unwindLong(x, collTarget, debtTarget, close);
        else _unwindShort(x, collTarget, debtTarget, close);
        uint256 afterBal = IERC20(x.quote).balanceOf(address(this));
        returned = afterBal > before ? afterBal - before : 0;
    }

    /// @dev Progress of one unwind (token units): targets, withdrawn, repaid, quote proceeds not
    ///      yet spent, asset bought beyond the debt (short).
    struct Unwind {
        uint256 collTarget;
        uint256 debtTarget;
        bool close;
        uint256 withdrawn;
        uint256 repaid;
        uint256 cash;
        uint256 extraAsset;
    }

    /// @dev Debt still to repay in this unwind (all of it when closing).
    function _debtLeft(Unwind memory u, uint256 debtNow) private pure returns (uint256) {
        return u.close ? debtNow : _min(_sub0(u.debtTarget, u.repaid), debtNow);
    }

    /// @dev Collateral still to withdraw in this unwind (all of it when closing).
    function _collLeft(Unwind memory u, uint256 collNow) private pure returns (uint256) {
        return u.close ? collNow : _min(_sub0(u.collTarget, u.withdrawn), collNow);
    }

    /// @dev Collateral to withdraw this round: what is left to withdraw, or enough to pay
    ///      `debtValue` (collateral units) plus slippage and a cushion, whichever is more.
    function _want(Ctx memory x, uint256 collLeft, uint256 debtLeft, uint256 debtValue) private pure returns (uint256) {
        if (debtLeft == 0) return collLeft;
        return _max(collLeft, debtValue * (BPS + x.slip + UNWIND_CUSHION_BPS) / BPS + 1);
    }

    /// @dev Long: collateral = asset, debt = quote. withdraw asset → sell → repay quote.
    function _unwindLong(Ctx memory x, uint256 collTarget, uint256 debtTarget, bool close) private {
        Unwind memory u = Unwind(collTarget, debtTarget, close, 0, 0, 0, 0);
        for (uint256 i;; ++i) {
            if (i == MAX_UNWIND_LOOPS) revert UnwindIncomplete(x.botId);
            uint256 debtLeft = _debtLeft(u, x.h.debtOf(x.quote));
            if (debtLeft != 0 && u.cash != 0) {
                uint256 paid = _repay(x, x.quote, _min(u.cash, debtLeft));
                u.repaid += paid;
                u.cash -= paid;
                debtLeft -= paid;
            }
            uint256 collNow = x.h.collateralOf(x.asset);
            uint256 collLeft = _collLeft(u, collNow);
            if (debtLeft == 0 && collLeft == 0) return;
            uint256 want = _want(x, collLeft, debtLeft, _quoteToAsset(x, debtLeft));
            uint256 got = _withdrawSafely(x, x.asset, want, collNow);
            u.withdrawn += got;
            u.cash += _swap(x, true, got);
        }
    }

    /// @dev Short: collateral = quote, debt = asset. withdraw quote → buy the asset owed → repay.
    function _unwindShort(Ctx memory x, uint256 collTarget, uint256 debtTarget, bool close) private {
        Unwind memory u = Unwind(collTarget, debtTarget, close, 0, 0, 0, 0);
        for (uint256 i;; ++i) {
            if (i == MAX_UNWIND_LOOPS) revert UnwindIncomplete(x.botId);
            uint256 debtLeft = _debtLeft(u, x.h.debtOf(x.asset));
            if (debtLeft != 0 && u.cash != 0) debtLeft -= _buyAndRepay(x, u, debtLeft);
            uint256 collNow = x.h.collateralOf(x.quote);
            uint256 collLeft = _collLeft(u, collNow);
            if (debtLeft == 0 && collLeft == 0) break;
            uint256 want = _want(x, collLeft, debtLeft, _assetToQuote(x, debtLeft));
            uint256 got = _withdrawSafely(x, x.quote, want, collNow);
            u.withdrawn += got;
            u.cash += got;
        }
        // the exact-out rounding can buy a few asset units more than owed: sell them back unless
        // that dust alone would fail the slippage bound (it then stays in the diamond)
        if (u.extraAsset != 0) {
            (uint256 rQ, uint256 rA) = _reserves(x);
            if (_getAmountOut(u.extraAsset, rA, rQ) >= _assetToQuote(x, u.extraAsset) * (BPS - x.slip) / BPS) {
                _swap(x, true, u.extraAsset);
            }
        }
    }

    /// @dev Short: buys up to `debtLeft` of the asset with the unwind's cash and repays it; returns the amount repaid.
    function _buyAndRepay(Ctx memory x, Unwind memory u, uint256 debtLeft) private returns (uint256 paid) {
        uint256 spend = _min(u.cash, _amountInForAsset(x, debtLeft));
        uint256 bought = _swap(x, false, spend);
        if (bought == 0) return 0;
        u.cash -= spend;
        paid = _repay(x, x.asset, _min(bought, debtLeft));
        u.repaid += paid;
        u.extraAsset += bought - paid;
    }

    /// @dev Withdraws min(want, what keeps HF ≥ 1 with a buffer, all) of `token`; reverts UnwindStuck at 0.
    function _withdrawSafely(Ctx memory x, address token, uint256 want, uint256 collNow) private returns (uint256) {
        (uint256 cb, uint256 db,, uint256 lt,,) = x.pool.getUserAccountData(address(x.h));
        uint256 safe = type(uint256).max;
        if (db != 0) {
            uint256 needed = lt == 0 ? type(uint256).max : (db * BPS + lt - 1) / lt;
            uint256 excess = cb > needed ? (cb - needed) * (BPS - WITHDRAW_BUFFER_BPS) / BPS : 0;
            safe = token == x.asset ? _baseToAsset(x, excess) : _baseToQuote(x, excess);
        }
        uint256 w = _min(_min(want, safe), collNow);
        if (w == 0) revert UnwindStuck(x.botId);
        return x.h.withdraw(token, w == collNow ? type(uint256).max : w);
    }

    function _supply(Ctx memory x, address token, uint256 amount) private {
        if (amount == 0) return;
        IERC20(token).forceApprove(address(x.h), amount);
        x.h.supply(token, amount);
    }

    function _repay(Ctx memory x, address token, uint256 amount) private returns (uint256) {
        if (amount == 0) return 0;
        IERC20(token).forceApprove(address(x.h), amount);
        return x.h.repay(token, amount);
    }

    /// @dev Aave's availableBorrowsBase for the holder now (USD, 8 decimals).
    function _availableBase(Ctx memory x) private view returns (uint256 availBase) {
        (,, availBase,,,) = x.pool.getUserAccountData(address(x.h));
    }

    /// @dev What `availBase` (Aave's availableBorrowsBase) lets the holder borrow, in quote units (99.9 % of it).
    function _availableBorrow(Ctx memory x, uint256 availBase) private pure returns (uint256) {
        return _baseToQuote(x, availBase * BORROW_USE_BPS / BPS);
    }

    function _enforceHealth(Ctx memory x, uint256 minHf) private view {
        (,,,,, uint256 hf) = x.pool.getUserAccountData(address(x.h));
        if (hf < minHf) revert HealthFactorBelowMin(hf, minHf);
    }

    /// @dev (collateral, debt) of the holder in token units: long (asset, quote), short (quote, asset).
    function _balances(Ctx memory x) private view returns (uint256 coll, uint256 debt) {
        (address c, address d) = x.isLong ? (x.asset, x.quote) : (x.quote, x.asset);
        return (x.h.collateralOf(c), x.h.debtOf(d));
    }

    // ----------------------------------------------------------------------------------------
    // internals: swaps on the V2 pair
    // ----------------------------------------------------------------------------------------

    /// @dev Swaps `amountIn` (asset if `sellAsset`, else quote) on the pair; reverts
    ///      SlippageExceeded unless the output is ≥ the oracle value of the input less `slip` bps.
    ///      Output per UniswapV2Library.getAmountOut (0.3 % fee). An output of 0 (dust) swaps nothing.
    function _swap(Ctx memory x, bool sellAsset, uint256 amountIn) private returns (uint256 out) {
        if (amountIn == 0) return 0;
        (uint256 rQ, uint256 rA) = _reserves(x);
        (uint256 rIn, uint256 rOut) = sellAsset ? (rA, rQ) : (rQ, rA);
        out = _getAmountOut(amountIn, rIn, rOut);
        uint256 expected = sellAsset ? _assetToQuote(x, amountIn) : _quoteToAsset(x, amountIn);
        uint256 minOut = expected * (BPS - x.slip) / BPS;
        if (out < minOut) revert SlippageExceeded(out, minOut);
        if (out == 0) return 0;
        (address tokenIn, address tokenOut) = sellAsset ? (x.asset, x.quote) : (x.quote, x.asset);
        uint256 before = IERC20(tokenOut).balanceOf(address(this));
        IERC20(tokenIn).safeTransfer(x.pair, amountIn);
        bool outIs0 = sellAsset == x.quoteIs0; // selling asset → quote out
        IUniswapV2PairMinimal(x.pair).swap(outIs0 ? out : 0, outIs0 ? 0 : out, address(this), "");
        uint256 received = IERC20(tokenOut).balanceOf(address(this)) - before;
        if (received < out) revert UnexpectedOutput(out, received);
    }

    /// @dev (quote reserve, asset reserve) of the pair.
    function _reserves(Ctx memory x) private view returns (uint256 rQ, uint256 rA) {
        (uint112 r0, uint112 r1,) = IUniswapV2PairMinimal(x.pair).getReserves();
        (rQ, rA) = x.quoteIs0 ? (uint256(r0), uint256(r1)) : (uint256(r1), uint256(r0));
    }

    /// @dev UniswapV2Library.getAmountIn for `amountOut` of the asset, paid in quote.
    function _amountInForAsset(Ctx memory x, uint256 amountOut) private view returns (uint256) {
        (uint256 rQ, uint256 rA) = _reserves(x);
        if (amountOut >= rA) revert InsufficientLiquidity(x.pair);
        return rQ * amountOut * 1000 / ((rA - amountOut) * 997) + 1;
    }

    /// @dev UniswapV2Library.getAmountOut: amountIn·997·reserveOut / (reserveIn·1000 + amountIn·997).
    function _getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut) private pure returns (uint256) {
        if (reserveIn == 0 || reserveOut == 0) return 0;
        uint256 amountInWithFee = amountIn * 997;
        return (amountInWithFee * reserveOut) / (reserveIn * 1000 + amountInWithFee);
    }

    // ----------------------------------------------------------------------------------------
    // internals: context, prices, small maths
    // ----------------------------------------------------------------------------------------

    /// @dev The context of an unwind: prices as AaveOracle has them, whatever their age.
    function _ctx(uint256 botId, uint256 slip) private view returns (Ctx memory x) {
        return _context(botId, slip, false);
    }

    /// @dev Reads the context once; `fresh` (opening, increasing) requires fresh asset and quote
    ///      prices (LibPrice.StalePrice otherwise).
    function _context(uint256 botId, uint256 slip, bool fresh) private view returns (Ctx memory x) {
        LibStrike.StrikeStorage storage s = LibStrike.strikeStorage();
        LibStrike.Config storage c = s.config;
        if (c.pool == address(0)) revert StrikeNotConfigured();
        x.botId = botId;
        x.isLong = c.isLong;
        x.pool = IAaveV3Pool(c.pool);
        x.pair = c.pair;
        x.asset = c.asset;
        x.quote = c.quote;
        uint8 order = s.quoteOrder; // the slot of the decimals, read below anyway
        x.quoteIs0 = order == 0 ? IUniswapV2PairMinimal(c.pair).token0() == c.quote : order == LibStrike.QUOTE_IS_TOKEN0;
        x.h = IPositionHolder(address(LibPositions.holderOf(botId)));
        x.pA = LibPrice.priceFor(c.oracle, c.asset, fresh);
        x.pQ = LibPrice.priceFor(c.oracle, c.quote, fresh);
        x.unitA = 10 ** s.assetDecimals;
        x.unitQ = 10 ** s.quoteDecimals;
        x.slip = slip;
    }

    /// @dev Creates the bot's PositionHolder through StrikePositionsFacet.openPositionHolder,
    ///      delegate-called on this diamond (same storage, same msg.sender, so its keeper check
    ///      applies), which keeps PositionHolder's creation code out of this facet's bytecode.
    function _createHolder(uint256 botId) private {
        _selfCall(abi.encodeWithSignature("openPositionHolder(uint256)", botId), false);
    }

    function _pairKey(Ctx memory x) private pure returns (bytes32) {
        return bytes32(uint256(uint160(x.pair)));
    }

    function _quoteToAsset(Ctx memory x, uint256 q) private pure returns (uint256) {
        return q * x.pQ * x.unitA / (x.pA * x.unitQ);
    }

    function _assetToQuote(Ctx memory x, uint256 a) private pure returns (uint256) {
        return a * x.pA * x.unitQ / (x.pQ * x.unitA);
    }

    function _baseToQuote(Ctx memory x, uint256 b) private pure returns (uint256) {
        return b * x.unitQ / x.pQ;
    }

    function _baseToAsset(Ctx memory x, uint256 b) private pure returns (uint256) {
        return b * x.unitA / x.pA;
    }

    /// @dev Take-profit ladder: trigger (bps of favourable move) and fraction closed per stage.
    function _tpTrigger(uint8 stage) private pure returns (uint256) {
        return stage == 0 ? 1_500 : stage == 1 ? 3_500 : stage == 2 ? 6_000 : 10_000;
    }

    function _tpFraction(uint8 stage) private pure returns (uint256) {
        return stage == 0 ? 2_500 : stage == 1 ? 4_000 : stage == 2 ? 5_000 : 7_500;
    }

    function _enforceDeadline(uint256 deadline) private view {
        if (block.timestamp > deadline) revert DeadlineExpired(deadline, block.timestamp);
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }

    function _max(uint256 a, uint256 b) private pure returns (uint256) {
        return a > b ? a : b;
    }

    function _sub0(uint256 a, uint256 b) private pure returns (uint256) {
        return a > b ? a - b : 0;
    }
}
