// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {AggregatorV2V3Interface} from "../vendor/chainlink/interfaces/AggregatorV2V3Interface.sol";

/// @title OwnedAggregator
/// @notice A Chainlink-compatible price feed (AggregatorV2V3Interface: `latestRoundData`,
///         `latestAnswer`, `getRoundData`, 8 decimals for the USD pairs of this project) whose
///         answers only its owner sets. The deploy uses it for the Aave market's feeds on every
///         chain where it creates its own market (local dev chains and test deployments such as
///         Sepolia), with the deployer as owner: unlike the vendored MockV3Aggregator, whose
///         `updateAnswer` anyone may call, nobody else can set prices, liquidate bots or fire
///         their stop-losses (audit finding M-4, issue 11).
/// @dev Same storage of rounds and the same view semantics as Chainlink's MockV3Aggregator
///      (Chainlink npm package contracts 1.5.0, src/v0.8/shared/mocks/MockV3Aggregator.sol): round ids
///      count from 1, `answeredInRound == roundId`, `startedAt == updatedAt` for `updateAnswer`.
///      Every update emits Chainlink's `NewRound` and `AnswerUpdated` (AggregatorInterface).
contract OwnedAggregator is AggregatorV2V3Interface, Ownable {
    uint256 public constant override version = 0;

    uint8 public immutable override decimals;
    string private _description;
    int256 public override latestAnswer;
    uint256 public override latestTimestamp;
    uint256 public override latestRound;

    mapping(uint256 => int256) public override getAnswer;
    mapping(uint256 => uint256) public override getTimestamp;
    mapping(uint256 => uint256) private _startedAt;

    /// @param decimals_ Decimals of the answers (8 for USD pairs).
    /// @param initialAnswer The first round's answer (price × 10^decimals_).
    /// @param description_ E.g. "WBTC / USD".
    /// @param owner_ The only account that may set answers.
    constructor(uint8 decimals_, int256 initialAnswer, string memory description_, address owner_) Ownable(owner_) {
        decimals = decimals_;
        _description = description_;
        _record(latestRound + 1, initialAnswer, block.timestamp, block.timestamp);
    }

    /// @notice Starts a new round with `answer` (price × 10^decimals), timestamped now. Owner only.
    function updateAnswer(int256 answer) external onlyOwner {
        _record(latestRound + 1, answer, block.timestamp, block.timestamp);
    }

    /// @notice Writes round `roundId` with the given answer and times and makes it the latest
    ///         (tests replaying history). Owner only.
    function updateRoundData(uint80 roundId, int256 answer, uint256 timestamp, uint256 startedAt)
        external
        onlyOwner
    {
        _record(roundId, answer, timestamp, startedAt);
    }

    /// @notice Round `roundId` as Chainlink returns it (zeros for a round never written).
    function getRoundData(uint80 roundId)
        external
        view
        override
        returns (uint80, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return (roundId, getAnswer[roundId], _startedAt[roundId], getTimestamp[roundId], roundId);
    }

    /// @notice The latest round (what AaveOracle's `latestAnswer` reads, with its times).
    function latestRoundData()
        external
        view
        override
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        roundId = uint80(latestRound);
        return (roundId, getAnswer[roundId], _startedAt[roundId], getTimestamp[roundId], roundId);
    }

    /// @notice What the feed prices, e.g. "WBTC / USD".
    function description() external view override returns (string memory) {
        return _description;
    }

    function _record(uint256 roundId, int256 answer, uint256 updatedAt, uint256 startedAt) private {
        latestRound = roundId;
        latestAnswer = answer;
        latestTimestamp = updatedAt;
        getAnswer[roundId] = answer;
        getTimestamp[roundId] = updatedAt;
        _startedAt[roundId] = startedAt;
        emit NewRound(roundId, msg.sender, startedAt);
        emit AnswerUpdated(answer, roundId, updatedAt);
    }
}
