// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IDisputeGame} from "./interfaces/IDisputeGame.sol";
import {IJobManager} from "./interfaces/IJobManager.sol";
import {IStakeManager} from "./interfaces/IStakeManager.sol";

/// @title DisputeGame (interim: timeout + arbiter)
/// @notice TEMPORARY game until one-step fraud proofs land (docs/protocol.md, "Disputes").
/// A dispute is decided either by an ARBITER_ROLE account before its deadline (the path that the
/// final design keeps for models of verification class NONE), or, once the deadline has passed,
/// by anyone calling `resolveByTimeout`, which upholds the result: with no proof on-chain yet, the
/// challenger has not shown fraud and loses its bond.
contract DisputeGame is IDisputeGame, AccessControl {
    /// @notice Accounts that may decide a dispute before its deadline.
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");
    /// @notice Longest dispute duration governance may set.
    uint64 public constant MAX_DURATION = 30 days;

    uint8 private constant BY_TIMEOUT = 0;
    uint8 private constant BY_ARBITER = 1;

    /// @dev One slot per dispute: challenger | deadline | open.
    struct Dispute {
        address challenger;
        uint64 deadline;
        bool open;
    }

    IJobManager private immutable _JOBS;
    uint64 private _duration;
    mapping(uint256 jobId => Dispute) private _disputes;

    /// @notice Emitted when governance changes the dispute duration.
    /// @param duration the new duration, in seconds
    event DurationUpdated(uint64 duration);

    constructor(IJobManager _jobs, address _admin, uint64 _disputeDuration) {
        _JOBS = _jobs;
        _grantRole(DEFAULT_ADMIN_ROLE, _admin);
        _setDuration(_disputeDuration);
    }

    /// @inheritdoc IDisputeGame
    function open(uint256 _jobId, address _challenger, address _worker) external returns (uint64 deadline_) {
        // INVARIANT: only the JobManager, which froze the job and escrowed the bond, opens disputes.
        if (msg.sender != address(_JOBS)) revert NotJobManager(msg.sender);
        if (_disputes[_jobId].open) revert DisputeAlreadyOpen(_jobId);
        deadline_ = uint64(block.timestamp) + _duration;
        _disputes[_jobId] = Dispute(_challenger, deadline_, true);
        emit DisputeOpened(_jobId, _challenger, _worker, deadline_);
    }

    /// @notice Decide a dispute up to and including its deadline (ARBITER_ROLE).
    function arbitrate(uint256 _jobId, bool _challengerWon) external onlyRole(ARBITER_ROLE) {
        Dispute storage d = _openDispute(_jobId);
        // INVARIANT: the arbiter decides up to and including the deadline, never after.
        if (block.timestamp > d.deadline) revert DisputeExpired(_jobId, d.deadline);
        d.open = false;
        emit DisputeResolved(_jobId, _challengerWon, BY_ARBITER);
        _JOBS.settleDispute(_jobId, _challengerWon);
    }

    /// @notice After the deadline, uphold the result (anyone). Interim rule: no proof, no slash.
    function resolveByTimeout(uint256 _jobId) external {
        Dispute storage d = _openDispute(_jobId);
        // INVARIANT: timeouts apply strictly after the deadline.
        if (block.timestamp <= d.deadline) revert DisputeNotExpired(_jobId, d.deadline);
        d.open = false;
        emit DisputeResolved(_jobId, false, BY_TIMEOUT);
        _JOBS.settleDispute(_jobId, false);
    }

    /// @notice Change the dispute duration (admin). When this game is the JobManager's, the stake
    /// unbonding delay must still outlast challenge window + the new duration.
    function setDuration(uint64 _disputeDuration) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setDuration(_disputeDuration);
        if (_JOBS.disputeGame() == address(this)) {
            uint64 delay = IStakeManager(_JOBS.STAKE()).unbondingDelay();
            uint64 needed = _JOBS.minUnbondingDelay();
            if (delay <= needed) revert IJobManager.UnbondingTooShort(delay, needed);
        }
    }

    /// @inheritdoc IDisputeGame
    function maxDuration() external view returns (uint64 duration_) {
        duration_ = _duration;
    }

    /// @notice A dispute's challenger, deadline and whether it is still open.
    function disputeOf(uint256 _jobId) external view returns (address challenger_, uint64 deadline_, bool open_) {
        Dispute memory d = _disputes[_jobId];
        (challenger_, deadline_, open_) = (d.challenger, d.deadline, d.open);
    }

    /// @notice The JobManager this game serves.
    function JOBS() external view returns (address jobs_) {
        jobs_ = address(_JOBS);
    }

    function _openDispute(uint256 _jobId) private view returns (Dispute storage d_) {
        d_ = _disputes[_jobId];
        if (!d_.open) revert DisputeNotOpen(_jobId);
    }

    function _setDuration(uint64 _disputeDuration) private {
        if (_disputeDuration == 0 || _disputeDuration > MAX_DURATION) revert DurationOutOfBounds(_disputeDuration);
        _duration = _disputeDuration;
        emit DurationUpdated(_disputeDuration);
    }
}
