// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {JobStatus, Params, JobRequest, JobView} from "../types/AssayTypes.sol";

/// @title IJobManager
/// @notice Job lifecycle and escrow: submit → claim → post → (challenge window) → finalize, with
/// expiry, cancel, lease time-outs and challenges handed to an IDisputeGame. All payments are
/// credits that their owner withdraws (pull payments).
interface IJobManager {
    // ------------------------------------------------------------------ errors: submit
    /// @notice Thrown when a job offers no worker fee.
    error ZeroWorkerFee();
    /// @notice Thrown when a job has no input commitment.
    error ZeroInputRoot();
    /// @notice Thrown when a job has neither inline input nor an input URI.
    error InputMissing();
    /// @notice Thrown when the inline input is larger than `maxInlineBytes`.
    /// @param size bytes given
    /// @param max the limit
    error InputTooLarge(uint256 size, uint256 max);
    /// @notice Thrown when submitting a job for a deprecated model.
    /// @param modelId the model
    error ModelDeprecated(bytes32 modelId);
    /// @notice Thrown when the total fee is above what the requester accepts.
    /// @param total worker + owner + protocol fee
    /// @param maxTotal the requester's limit
    error FeeAboveMax(uint256 total, uint256 maxTotal);
    /// @notice Thrown when a fee does not fit its storage field.
    /// @param fee the fee
    /// @param max the largest storable
    error FeeTooLarge(uint256 fee, uint256 max);
    /// @notice Thrown when the claim deadline is not in the future.
    /// @param claimDeadline the deadline given
    /// @param nowTs the block timestamp
    error ClaimDeadlineInPast(uint40 claimDeadline, uint256 nowTs);
    /// @notice Thrown when the claim deadline is later than now + maxClaimTtl.
    /// @param claimDeadline the deadline given
    /// @param latest the latest allowed
    error ClaimDeadlineTooFar(uint40 claimDeadline, uint256 latest);
    /// @notice Thrown when `callback` is asked for by an account with no code.
    /// @param requester the caller
    error CallbackRequiresContract(address requester);

    // ------------------------------------------------------------------ errors: lifecycle
    /// @notice Thrown when no job has this id.
    /// @param jobId the id
    error UnknownJob(uint256 jobId);
    /// @notice Thrown when an action needs an Open job.
    /// @param jobId the job
    /// @param status its status
    error JobNotOpen(uint256 jobId, JobStatus status);
    /// @notice Thrown when an action needs a Claimed job.
    /// @param jobId the job
    /// @param status its status
    error JobNotClaimed(uint256 jobId, JobStatus status);
    /// @notice Thrown when an action needs a Posted job.
    /// @param jobId the job
    /// @param status its status
    error JobNotPosted(uint256 jobId, JobStatus status);
    /// @notice Thrown when an action needs a Challenged job.
    /// @param jobId the job
    /// @param status its status
    error JobNotChallenged(uint256 jobId, JobStatus status);
    /// @notice Thrown when claiming after the claim deadline.
    /// @param jobId the job
    /// @param claimDeadline last timestamp a claim was allowed
    error ClaimDeadlinePassed(uint256 jobId, uint40 claimDeadline);
    /// @notice Thrown when expiring a job whose claim deadline has not passed.
    /// @param jobId the job
    /// @param claimDeadline last timestamp a claim is allowed
    error ClaimDeadlineNotPassed(uint256 jobId, uint40 claimDeadline);
    /// @notice Thrown when someone other than the claimant posts.
    /// @param jobId the job
    /// @param caller who called
    /// @param worker the claimant
    error NotJobWorker(uint256 jobId, address caller, address worker);
    /// @notice Thrown when posting after the lease ended.
    /// @param jobId the job
    /// @param leaseEnd last timestamp a post was allowed
    error LeaseExpired(uint256 jobId, uint40 leaseEnd);
    /// @notice Thrown when re-opening a job whose lease has not ended.
    /// @param jobId the job
    /// @param leaseEnd last timestamp of the lease
    error LeaseNotExpired(uint256 jobId, uint40 leaseEnd);
    /// @notice Thrown when posting a zero output root.
    /// @param jobId the job
    error ZeroOutputRoot(uint256 jobId);
    /// @notice Thrown when a post has neither inline output nor an output URI.
    /// @param jobId the job
    error OutputMissing(uint256 jobId);
    /// @notice Thrown when the inline output is larger than `maxInlineBytes`.
    /// @param jobId the job
    /// @param size bytes given
    /// @param max the limit
    error OutputTooLarge(uint256 jobId, uint256 size, uint256 max);
    /// @notice Thrown when finalizing during the challenge window.
    /// @param jobId the job
    /// @param windowEnd last timestamp of the window
    error ChallengeWindowOpen(uint256 jobId, uint40 windowEnd);
    /// @notice Thrown when challenging after the challenge window.
    /// @param jobId the job
    /// @param windowEnd last timestamp of the window
    error ChallengeWindowClosed(uint256 jobId, uint40 windowEnd);
    /// @notice Thrown when someone other than the requester cancels.
    /// @param jobId the job
    /// @param caller who called
    /// @param requester the requester
    error NotRequester(uint256 jobId, address caller, address requester);
    /// @notice Thrown when a worker challenges its own result.
    /// @param jobId the job
    error SelfChallenge(uint256 jobId);
    /// @notice Thrown when no dispute game is configured.
    error NoDisputeGame();
    /// @notice Thrown when someone other than the dispute game settles a dispute.
    /// @param caller who called
    error NotDisputeGame(address caller);
    /// @notice Thrown when finalize has too little gas left to give the consumer its full callback gas.
    /// @param jobId the job
    /// @param gasLeft gas left
    /// @param needed gas needed
    error InsufficientGasForCallback(uint256 jobId, uint256 gasLeft, uint256 needed);

    // ------------------------------------------------------------------ errors: batches, credits, governance
    /// @notice Thrown when a batch is empty.
    error EmptyBatch();
    /// @notice Thrown when a batch's arrays differ in length.
    /// @param expected length of the id array
    /// @param got length of another array
    error LengthMismatch(uint256 expected, uint256 got);
    /// @notice Thrown when an amount is zero.
    error ZeroAmount();
    /// @notice Thrown when withdrawing more than one's credits.
    /// @param account the account
    /// @param available its credits
    /// @param requested what was asked for
    error InsufficientCredits(address account, uint256 available, uint256 requested);
    /// @notice Thrown when a governance parameter is out of its bounds.
    /// @param name the parameter
    /// @param value the value given
    /// @param min smallest allowed
    /// @param max largest allowed
    error ParamOutOfBounds(bytes32 name, uint256 value, uint256 min, uint256 max);
    /// @notice Thrown when the stake unbonding delay would not outlast challenge window + dispute.
    /// @param unbondingDelay the StakeManager's delay
    /// @param needed it must be strictly greater than this
    error UnbondingTooShort(uint64 unbondingDelay, uint64 needed);
    /// @notice Thrown when replacing the dispute game while disputes are open in it.
    /// @param open number of open disputes
    error DisputesOpen(uint256 open);
    /// @notice Thrown when an address parameter is zero.
    error ZeroAddress();

    // ------------------------------------------------------------------ events
    /// @notice Emitted when a job is submitted and its fees escrowed.
    /// @param jobId the new job's id
    /// @param requester who pays
    /// @param modelId the model to run
    /// @param inputRoot commitment to the input tensors
    /// @param workerFee paid to the worker at finalize
    /// @param ownerFee paid to the model owner at finalize
    /// @param protocolFee paid to the treasury at finalize
    /// @param collateral stake the worker locks at claim
    /// @param claimDeadline last timestamp the job can be claimed
    /// @param callback whether the requester is called at finalize
    /// @param input inline input bytes (empty when inputURI is used)
    /// @param inputURI where the input lies when not inline
    event JobSubmitted(
        uint256 indexed jobId,
        address indexed requester,
        bytes32 indexed modelId,
        bytes32 inputRoot,
        uint96 workerFee,
        uint96 ownerFee,
        uint96 protocolFee,
        uint96 collateral,
        uint40 claimDeadline,
        bool callback,
        bytes input,
        string inputURI
    );
    /// @notice Emitted when a worker claims a job.
    /// @param jobId the job
    /// @param worker the claimant
    /// @param leaseEnd last timestamp it may post
    event JobClaimed(uint256 indexed jobId, address indexed worker, uint40 leaseEnd);
    /// @notice Emitted when a worker posts a result.
    /// @param jobId the job
    /// @param worker the poster
    /// @param outputRoot commitment to the output tensors
    /// @param windowEnd last timestamp the result can be challenged
    /// @param output inline output bytes (empty when outputURI is used)
    /// @param outputURI where the output lies when not inline
    event ResultPosted(
        uint256 indexed jobId, address indexed worker, bytes32 outputRoot, uint40 windowEnd, bytes output, string outputURI
    );
    /// @notice Emitted when a job is finalized and its fees credited.
    /// @param jobId the job
    /// @param worker credited the worker fee
    /// @param modelOwner credited the owner fee
    /// @param outputRoot the final result
    event JobFinalized(uint256 indexed jobId, address indexed worker, address indexed modelOwner, bytes32 outputRoot);
    /// @notice Emitted after a consumer callback, successful or not.
    /// @param jobId the job
    /// @param success whether the call returned without reverting
    event CallbackResult(uint256 indexed jobId, bool success);
    /// @notice Emitted when a lease ran out and the worker was penalised.
    /// @param jobId the job
    /// @param worker the late worker
    /// @param penalty collateral taken and credited to the requester
    event LeaseTimedOut(uint256 indexed jobId, address indexed worker, uint256 penalty);
    /// @notice Emitted when a job goes back to Open (after a lease time-out or a won challenge).
    /// @param jobId the job
    event JobReopened(uint256 indexed jobId);
    /// @notice Emitted when a job ends without result and its escrow is credited back.
    /// @param jobId the job
    /// @param status Expired, Cancelled or Refunded
    /// @param refund amount credited to the requester
    event JobRefunded(uint256 indexed jobId, JobStatus status, uint256 refund);
    /// @notice Emitted when a result is challenged.
    /// @param jobId the job
    /// @param challenger who challenged
    /// @param bond escrowed bond
    /// @param disputeDeadline last timestamp of the dispute
    event JobChallenged(uint256 indexed jobId, address indexed challenger, uint256 bond, uint64 disputeDeadline);
    /// @notice Emitted when the dispute game settles a challenge.
    /// @param jobId the job
    /// @param challengerWon true: worker slashed; false: result upheld
    /// @param slashed collateral taken from the worker
    /// @param toChallenger credited to the challenger (bond back + reward, or 0)
    event DisputeSettled(uint256 indexed jobId, bool challengerWon, uint256 slashed, uint256 toChallenger);
    /// @notice Emitted when credits are withdrawn.
    /// @param account the account
    /// @param amount paid out
    event CreditsWithdrawn(address indexed account, uint256 amount);
    /// @notice Emitted when governance changes parameters.
    /// @param params the new parameters
    event ParamsUpdated(Params params);
    /// @notice Emitted when governance changes the dispute game.
    /// @param game the new game
    event DisputeGameUpdated(address game);

    // ------------------------------------------------------------------ lifecycle
    /// @notice Submit a job and escrow worker + model-owner + protocol fee (pulled from the caller).
    function submit(JobRequest calldata _request) external returns (uint256 jobId_);
    /// @notice Claim an Open job, locking `collateral` of free stake for the lease.
    function claim(uint256 _jobId) external;
    /// @notice Claim many jobs; jobs no longer claimable are skipped. Locks the sum of collateral once.
    function claimJobs(uint256[] calldata _jobIds) external returns (bool[] memory claimed_);
    /// @notice Post the result of a job the caller claimed.
    function post(uint256 _jobId, bytes32 _outputRoot, bytes calldata _output, string calldata _outputURI) external;
    /// @notice Post many results (all or nothing).
    function postResults(
        uint256[] calldata _jobIds,
        bytes32[] calldata _outputRoots,
        bytes[] calldata _outputs,
        string[] calldata _outputURIs
    ) external;
    /// @notice Pay out a posted job after its challenge window (anyone).
    function finalize(uint256 _jobId) external;
    /// @notice Finalize many; jobs not finalizable are skipped.
    function finalizeJobs(uint256[] calldata _jobIds) external returns (bool[] memory finalized_);
    /// @notice After a lease ran out: penalise the worker and re-open (or expire) the job (anyone).
    function reclaim(uint256 _jobId) external;
    /// @notice Refund an Open job whose claim deadline has passed (anyone).
    function expire(uint256 _jobId) external;
    /// @notice Cancel an Open job and refund it (requester only).
    function cancel(uint256 _jobId) external;
    /// @notice Challenge a posted result within its window, escrowing `challengeBond`.
    function challenge(uint256 _jobId) external;
    /// @notice Settle a challenge (dispute game only).
    function settleDispute(uint256 _jobId, bool _challengerWon) external;
    /// @notice Withdraw credits.
    function withdraw(uint256 _amount) external;

    // ------------------------------------------------------------------ governance
    /// @notice Replace the governance parameters (owner).
    function setParams(Params calldata _params) external;
    /// @notice Replace the dispute game (owner); only while no dispute is open.
    function setDisputeGame(address _game) external;

    // ------------------------------------------------------------------ views
    /// @notice A job; reverts UnknownJob.
    function getJob(uint256 _jobId) external view returns (JobView memory job_);
    /// @notice A job's status (None for unknown ids).
    function statusOf(uint256 _jobId) external view returns (JobStatus status_);
    /// @notice Number of jobs ever submitted (ids are 1..jobCount).
    function jobCount() external view returns (uint256 count_);
    /// @notice Credits an account can withdraw.
    function creditsOf(address _account) external view returns (uint256 credits_);
    /// @notice The challenger and bond of a challenged job.
    function challengeOf(uint256 _jobId) external view returns (address challenger_, uint256 bond_);
    /// @notice The governance parameters.
    function params() external view returns (Params memory params_);
    /// @notice Fees and collateral a job for `_modelId` paying `_workerFee` would have now.
    function quote(bytes32 _modelId, uint96 _workerFee)
        external
        view
        returns (uint96 ownerFee_, uint96 protocolFee_, uint256 total_, uint96 collateral_);
    /// @notice The StakeManager's unbonding delay must be strictly greater than this.
    function minUnbondingDelay() external view returns (uint64 min_);
    /// @notice Number of disputes open right now.
    function openDisputes() external view returns (uint256 count_);
    /// @notice The dispute game.
    function disputeGame() external view returns (address game_);
    /// @notice The StakeManager.
    function STAKE() external view returns (address stake_);
}
