// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IDisputeGame
/// @notice The contract that decides a challenged job. The JobManager hands a job over with
/// `open` and the game answers, exactly once per dispute, with `IJobManager.settleDispute`.
interface IDisputeGame {
    /// @notice Thrown when a caller other than the JobManager opens a dispute.
    /// @param caller who called
    error NotJobManager(address caller);
    /// @notice Thrown when a dispute for this job is already open.
    /// @param jobId the job
    error DisputeAlreadyOpen(uint256 jobId);
    /// @notice Thrown when no open dispute exists for this job.
    /// @param jobId the job
    error DisputeNotOpen(uint256 jobId);
    /// @notice Thrown when resolving by timeout before the deadline has passed.
    /// @param jobId the job
    /// @param deadline last timestamp of the dispute
    error DisputeNotExpired(uint256 jobId, uint64 deadline);
    /// @notice Thrown when the arbiter acts after the deadline.
    /// @param jobId the job
    /// @param deadline last timestamp of the dispute
    error DisputeExpired(uint256 jobId, uint64 deadline);
    /// @notice Thrown when a duration is outside its bounds.
    /// @param duration the duration asked for
    error DurationOutOfBounds(uint64 duration);

    /// @notice Emitted when a dispute opens.
    /// @param jobId the job
    /// @param challenger who challenged
    /// @param worker whose result is challenged
    /// @param deadline last timestamp of the dispute
    event DisputeOpened(uint256 indexed jobId, address indexed challenger, address indexed worker, uint64 deadline);
    /// @notice Emitted when a dispute is resolved.
    /// @param jobId the job
    /// @param challengerWon true: the worker is slashed; false: the result stands
    /// @param by how it was resolved (0 timeout, 1 arbiter, 2 proof)
    event DisputeResolved(uint256 indexed jobId, bool challengerWon, uint8 by);

    /// @notice Open a dispute (JobManager only).
    function open(uint256 _jobId, address _challenger, address _worker) external returns (uint64 deadline_);
    /// @notice Longest a dispute can last from `open` to the last moment it can be resolved.
    function maxDuration() external view returns (uint64 duration_);
}
