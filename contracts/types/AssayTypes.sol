// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice How a model's results are checked in a dispute (see docs/protocol.md).
/// EXACT: integer / data-movement ops, equality. APPROX: float ops within a rigorous bound.
/// NONE: some op has no verifier yet; disputes go to an arbiter.
enum VerificationClass {
    EXACT,
    APPROX,
    NONE
}

/// @notice Lifecycle of a job. Values are part of the ABI: append only.
enum JobStatus {
    None, // 0: no such job
    Open, // 1: escrowed, waiting for a worker
    Claimed, // 2: a worker holds the lease
    Posted, // 3: result posted, challenge window running
    Challenged, // 4: frozen, a dispute is open
    Finalized, // 5: paid out (terminal)
    Expired, // 6: nobody delivered before the claim deadline; escrow refunded (terminal)
    Cancelled, // 7: cancelled by the requester while open; escrow refunded (terminal)
    Refunded // 8: result proven wrong after the claim deadline; escrow refunded (terminal)
}

/// @notice Governance parameters of the JobManager. Bounds are enforced in `setParams`.
struct Params {
    uint40 leaseDuration; // seconds a claim lasts before anyone may re-open the job
    uint40 challengeWindow; // seconds after a post during which a result may be challenged
    uint40 maxClaimTtl; // latest claim deadline a requester may set, in seconds from now
    uint16 protocolFeeBps; // protocol fee, in bps of (worker fee + model-owner fee)
    uint16 livenessPenaltyBps; // share of the collateral taken when a lease runs out
    uint16 slashChallengerBps; // share of a slashed collateral paid to the winning challenger
    uint16 slashRequesterBps; // share of a slashed collateral paid to the requester (rest: treasury)
    uint16 bondToWorkerBps; // share of a lost challenge bond paid to the worker (rest: treasury)
    uint32 collateralBps; // collateral = max(minCollateral, workerFee * collateralBps / 10_000)
    uint32 callbackGasLimit; // gas given to a consumer contract's callback at finalize
    uint32 maxInlineBytes; // largest inline input / output, in bytes
    uint96 minCollateral; // lowest collateral per job, in token units
    uint96 challengeBond; // bond a challenger escrows, in token units
    address treasury; // receives protocol fees and the treasury's shares
}

/// @notice What a requester asks for.
struct JobRequest {
    bytes32 modelId; // sha256 of the ONNX file
    bytes32 inputRoot; // commitment to the input tensors (docs/protocol.md, "Commitments")
    uint96 workerFee; // paid to the worker on finalize
    uint256 maxTotalFee; // the most the requester accepts to pay in all (worker + owner + protocol)
    uint40 claimDeadline; // last timestamp at which the job may be claimed
    bool callback; // call IAssayConsumer(requester).onAssayResult at finalize
    bytes input; // inline input (canonical encoding), or empty when inputURI is used
    string inputURI; // where the input blob lies when not inline
}

/// @notice A job as stored (see JobManager for the slot layout) plus what views derive.
struct JobView {
    bytes32 modelId;
    bytes32 inputRoot;
    bytes32 outputRoot;
    address requester;
    address worker;
    JobStatus status;
    bool callback;
    uint40 claimDeadline;
    uint40 deadline; // lease end while Claimed, window end while Posted, else 0
    uint96 workerFee;
    uint96 ownerFee;
    uint96 protocolFee;
    uint96 collateral;
}
