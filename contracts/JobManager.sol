// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IJobManager} from "./interfaces/IJobManager.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {IStakeManager, IUnbondingPolicy} from "./interfaces/IStakeManager.sol";
import {IDisputeGame} from "./interfaces/IDisputeGame.sol";
import {IAssayConsumer} from "./interfaces/IAssayConsumer.sol";
import {JobStatus, Params, JobRequest, JobView} from "./types/AssayTypes.sol";
import {TokenPull} from "./libraries/TokenPull.sol";

/// @title JobManager
/// @notice Job lifecycle, escrow and credits. Holds every token of open escrows, credits and
/// challenge bonds (stakes live in the StakeManager). Never pushes tokens inside a state change:
/// every payment is a credit its owner withdraws.
contract JobManager is IJobManager, IUnbondingPolicy, Ownable2Step, ReentrancyGuard {
    using SafeERC20 for IERC20;

    uint256 private constant BPS = 10_000;
    /// @dev outputRoot placeholder written at submit, so that post overwrites a non-zero slot
    /// (5k gas paid by the worker) instead of creating one (22k). Never a valid root: roots are sha256.
    bytes32 private constant NO_OUTPUT = bytes32(uint256(1));
    uint8 private constant FLAG_CALLBACK = 1;
    /// @dev Gas the CALL to a consumer costs before the 63/64 rule applies (cold account access)
    /// plus the opcodes between the gas check and the CALL.
    uint256 private constant CALL_OVERHEAD = 3_000;

    /// @dev Six slots per job; the requester pays for all of them at submit.
    struct Job {
        // slot 0 (hot: read and written by claim, post, finalize)
        address worker; // 160 bits: claimant; 0 while Open
        uint40 deadline; // 40: lease end while Claimed, window end while Posted, else 0
        uint40 claimDeadline; // 40: last timestamp the job can be claimed
        JobStatus status; // 8
        uint8 flags; // 8: bit 0 = callback
        // slot 1
        address requester; // 160
        uint96 collateral; // 96: stake the worker locks, fixed at submit
        // slot 2
        uint96 workerFee; // 96
        uint80 ownerFee; // 80
        uint80 protocolFee; // 80
        // slot 3
        bytes32 modelId;
        // slot 4
        bytes32 inputRoot;
        // slot 5
        bytes32 outputRoot; // NO_OUTPUT until posted
    }

    /// @dev One slot per challenged job.
    struct Challenge {
        address challenger; // 160
        uint96 bond; // 96
    }

    IERC20 private immutable _TOKEN;
    IStakeManager private immutable _STAKE;
    IModelRegistry private immutable _REGISTRY;

    mapping(uint256 jobId => Job) private _jobs;
    mapping(uint256 jobId => Challenge) private _challenges;
    mapping(address account => uint256) private _credits;
    uint256 private _jobCount;
    uint256 private _openDisputes;
    IDisputeGame private _game;
    Params private _params;

    /// @notice Thrown when a token transfer into the JobManager delivers less than the amount pulled
    /// (a fee-on-transfer or rebasing token): escrow and bonds must be backed token for token.
    /// @param expected the amount pulled
    /// @param received the amount the JobManager's balance grew by
    error TransferShortfall(uint256 expected, uint256 received);

    constructor(IERC20 _token, IStakeManager _stake, IModelRegistry _registry, address _owner, Params memory _initial)
        Ownable(_owner)
    {
        if (address(_token) == address(0) || address(_stake) == address(0) || address(_registry) == address(0)) {
            revert ZeroAddress();
        }
        _TOKEN = _token;
        _STAKE = _stake;
        _REGISTRY = _registry;
        _setParams(_initial);
    }

    // ================================================================== submit / cancel / expire

    /// @inheritdoc IJobManager
    function submit(JobRequest calldata _r) external nonReentrant returns (uint256 jobId_) {
        Params memory p = _params;
        if (_r.workerFee == 0) revert ZeroWorkerFee();
        if (_r.inputRoot == bytes32(0)) revert ZeroInputRoot();
        // INVARIANT: a worker must be able to find the input: inline, or at a URI.
        if (_r.input.length == 0 && bytes(_r.inputURI).length == 0) revert InputMissing();
        if (_r.input.length > p.maxInlineBytes) revert InputTooLarge(_r.input.length, p.maxInlineBytes);
        // INVARIANT: claimDeadline is in (now, now + maxClaimTtl].
        if (_r.claimDeadline <= block.timestamp) revert ClaimDeadlineInPast(_r.claimDeadline, block.timestamp);
        if (_r.claimDeadline > block.timestamp + p.maxClaimTtl) {
            revert ClaimDeadlineTooFar(_r.claimDeadline, block.timestamp + p.maxClaimTtl);
        }
        if (_r.callback && msg.sender.code.length == 0) revert CallbackRequiresContract(msg.sender);

        (, uint96 ownerFee, bool deprecated) = _REGISTRY.pricing(_r.modelId); // reverts ModelNotRegistered
        if (deprecated) revert ModelDeprecated(_r.modelId);
        (uint256 protocolFee, uint256 total, uint256 collateral) = _price(p, _r.workerFee, ownerFee);
        // INVARIANT: the requester never pays more than it agreed to (guards against fee changes in flight).
        if (total > _r.maxTotalFee) revert FeeAboveMax(total, _r.maxTotalFee);
        if (ownerFee > type(uint80).max) revert FeeTooLarge(ownerFee, type(uint80).max);
        if (protocolFee > type(uint80).max) revert FeeTooLarge(protocolFee, type(uint80).max);
        if (collateral > type(uint96).max) revert FeeTooLarge(collateral, type(uint96).max);

        jobId_ = ++_jobCount;
        Job storage j = _jobs[jobId_];
        j.claimDeadline = _r.claimDeadline;
        j.status = JobStatus.Open;
        j.flags = _r.callback ? FLAG_CALLBACK : 0;
        j.requester = msg.sender;
        j.collateral = uint96(collateral);
        j.workerFee = _r.workerFee;
        j.ownerFee = uint80(ownerFee);
        j.protocolFee = uint80(protocolFee);
        j.modelId = _r.modelId;
        j.inputRoot = _r.inputRoot;
        j.outputRoot = NO_OUTPUT;
        _emitSubmitted(jobId_, _r, ownerFee, protocolFee, collateral);
        _pull(total);
    }

    function _emitSubmitted(
        uint256 _jobId,
        JobRequest calldata _r,
        uint256 _ownerFee,
        uint256 _protocolFee,
        uint256 _collateral
    ) private {
        emit JobSubmitted(
            _jobId,
            msg.sender,
            _r.modelId,
            _r.inputRoot,
            _r.workerFee,
            uint96(_ownerFee),
            uint96(_protocolFee),
            uint96(_collateral),
            _r.claimDeadline,
            _r.callback,
            _r.input,
            _r.inputURI
        );
    }

    /// @inheritdoc IJobManager
    function cancel(uint256 _jobId) external {
        Job storage j = _job(_jobId);
        if (j.status != JobStatus.Open) revert JobNotOpen(_jobId, j.status);
        // INVARIANT: only the payer can take an open job back.
        if (msg.sender != j.requester) revert NotRequester(_jobId, msg.sender, j.requester);
        _refund(_jobId, j, JobStatus.Cancelled);
    }

    /// @inheritdoc IJobManager
    function expire(uint256 _jobId) external {
        Job storage j = _job(_jobId);
        if (j.status != JobStatus.Open) revert JobNotOpen(_jobId, j.status);
        // INVARIANT: an open job can be claimed up to and including claimDeadline; it expires after.
        if (block.timestamp <= j.claimDeadline) revert ClaimDeadlineNotPassed(_jobId, j.claimDeadline);
        _refund(_jobId, j, JobStatus.Expired);
    }

    // ================================================================== claim

    /// @inheritdoc IJobManager
    function claim(uint256 _jobId) external {
        Job storage j = _job(_jobId);
        if (j.status != JobStatus.Open) revert JobNotOpen(_jobId, j.status);
        // INVARIANT: no claim after the claim deadline.
        if (block.timestamp > j.claimDeadline) revert ClaimDeadlinePassed(_jobId, j.claimDeadline);
        uint40 leaseEnd = _claim(j);
        _STAKE.lock(msg.sender, j.collateral); // reverts InsufficientFreeStake
        emit JobClaimed(_jobId, msg.sender, leaseEnd);
    }

    /// @inheritdoc IJobManager
    function claimJobs(uint256[] calldata _jobIds) external returns (bool[] memory claimed_) {
        if (_jobIds.length == 0) revert EmptyBatch();
        claimed_ = new bool[](_jobIds.length);
        uint256 totalCollateral;
        for (uint256 i; i < _jobIds.length; ++i) {
            uint256 id = _jobIds[i];
            Job storage j = _jobs[id];
            // Skip what someone else claimed first or what can no longer be claimed.
            if (j.status != JobStatus.Open || block.timestamp > j.claimDeadline) continue;
            uint40 leaseEnd = _claim(j);
            totalCollateral += j.collateral;
            claimed_[i] = true;
            emit JobClaimed(id, msg.sender, leaseEnd);
        }
        // One lock for the whole batch; reverts InsufficientFreeStake, undoing every claim above.
        if (totalCollateral != 0) _STAKE.lock(msg.sender, totalCollateral);
    }

    function _claim(Job storage j) private returns (uint40 leaseEnd_) {
        leaseEnd_ = uint40(block.timestamp) + _params.leaseDuration;
        j.worker = msg.sender;
        j.deadline = leaseEnd_;
        j.status = JobStatus.Claimed;
    }

    // ================================================================== post

    /// @inheritdoc IJobManager
    function post(uint256 _jobId, bytes32 _outputRoot, bytes calldata _output, string calldata _outputURI) external {
        _post(_jobId, _outputRoot, _output, _outputURI, _params.maxInlineBytes, _params.challengeWindow);
    }

    /// @inheritdoc IJobManager
    function postResults(
        uint256[] calldata _jobIds,
        bytes32[] calldata _outputRoots,
        bytes[] calldata _outputs,
        string[] calldata _outputURIs
    ) external {
        uint256 n = _jobIds.length;
        if (n == 0) revert EmptyBatch();
        if (_outputRoots.length != n) revert LengthMismatch(n, _outputRoots.length);
        if (_outputs.length != n) revert LengthMismatch(n, _outputs.length);
        if (_outputURIs.length != n) revert LengthMismatch(n, _outputURIs.length);
        uint32 maxInline = _params.maxInlineBytes;
        uint40 window = _params.challengeWindow;
        for (uint256 i; i < n; ++i) {
            _post(_jobIds[i], _outputRoots[i], _outputs[i], _outputURIs[i], maxInline, window);
        }
    }

    function _post(
        uint256 _jobId,
        bytes32 _outputRoot,
        bytes calldata _output,
        string calldata _outputURI,
        uint32 _maxInline,
        uint40 _window
    ) private {
        Job storage j = _job(_jobId);
        if (j.status != JobStatus.Claimed) revert JobNotClaimed(_jobId, j.status);
        // INVARIANT: a claim binds the result to its claimant; nobody else can post (or copy) it.
        if (msg.sender != j.worker) revert NotJobWorker(_jobId, msg.sender, j.worker);
        // INVARIANT: posts are accepted up to and including the lease end.
        if (block.timestamp > j.deadline) revert LeaseExpired(_jobId, j.deadline);
        if (_outputRoot == bytes32(0) || _outputRoot == NO_OUTPUT) revert ZeroOutputRoot(_jobId);
        if (_output.length == 0 && bytes(_outputURI).length == 0) revert OutputMissing(_jobId);
        if (_output.length > _maxInline) revert OutputTooLarge(_jobId, _output.length, _maxInline);
        uint40 windowEnd = uint40(block.timestamp) + _window;
        j.deadline = windowEnd;
        j.status = JobStatus.Posted;
        j.outputRoot = _outputRoot;
        emit ResultPosted(_jobId, msg.sender, _outputRoot, windowEnd, _output, _outputURI);
    }

    // ================================================================== finalize

    /// @inheritdoc IJobManager
    function finalize(uint256 _jobId) external nonReentrant {
        Job storage j = _job(_jobId);
        if (j.status != JobStatus.Posted) revert JobNotPosted(_jobId, j.status);
        // INVARIANT: the window includes windowEnd; finalize only strictly after it.
        if (block.timestamp <= j.deadline) revert ChallengeWindowOpen(_jobId, j.deadline);
        address worker = j.worker;
        uint256 collateral = j.collateral;
        _settlePaid(_jobId, j, worker);
        _STAKE.unlock(worker, collateral);
        _callback(_jobId, j);
    }

    /// @inheritdoc IJobManager
    function finalizeJobs(uint256[] calldata _jobIds) external nonReentrant returns (bool[] memory finalized_) {
        if (_jobIds.length == 0) revert EmptyBatch();
        finalized_ = new bool[](_jobIds.length);
        // Collateral is released once per run of consecutive jobs of the same worker.
        address runWorker;
        uint256 runCollateral;
        for (uint256 i; i < _jobIds.length; ++i) {
            uint256 id = _jobIds[i];
            Job storage j = _jobs[id];
            if (j.status != JobStatus.Posted || block.timestamp <= j.deadline) continue;
            address worker = j.worker;
            if (worker != runWorker) {
                if (runCollateral != 0) _STAKE.unlock(runWorker, runCollateral);
                (runWorker, runCollateral) = (worker, 0);
            }
            runCollateral += j.collateral;
            _settlePaid(id, j, worker);
            finalized_[i] = true;
        }
        if (runCollateral != 0) _STAKE.unlock(runWorker, runCollateral);
        // Callbacks last, after every state change of the batch.
        for (uint256 i; i < _jobIds.length; ++i) {
            if (finalized_[i]) _callback(_jobIds[i], _jobs[_jobIds[i]]);
        }
    }

    /// @dev Marks a job Finalized and credits its three fees.
    function _settlePaid(uint256 _jobId, Job storage j, address _worker) private {
        j.status = JobStatus.Finalized;
        j.deadline = 0;
        address modelOwner = _REGISTRY.ownerOf(j.modelId);
        _credits[_worker] += j.workerFee;
        _credits[modelOwner] += j.ownerFee;
        _credits[_params.treasury] += j.protocolFee;
        emit JobFinalized(_jobId, _worker, modelOwner, j.outputRoot);
    }

    /// @dev Calls the consumer with exactly `callbackGasLimit` gas, copies no return data (no
    /// return-bomb), and ignores failure: a consumer can never block payment or finality.
    /// The gas check is the last thing before the CALL, after the calldata is built and the target
    /// loaded, so nothing between the check and the call can eat into the consumer's allowance.
    function _callback(uint256 _jobId, Job storage j) private {
        if (j.flags & FLAG_CALLBACK == 0) return;
        uint256 gasLimit = _params.callbackGasLimit;
        bytes memory data =
            abi.encodeCall(IAssayConsumer.onAssayResult, (_jobId, j.modelId, j.inputRoot, j.outputRoot));
        address target = j.requester;
        // EIP-150 forwards at most 63/64 of what is left after the CALL's own cost (up to 2,600 for a
        // cold account): demand ceil(gasLimit·64/63) plus that cost plus the few opcodes in between.
        uint256 needed = (gasLimit * 64 + 62) / 63 + CALL_OVERHEAD;
        if (gasleft() < needed) revert InsufficientGasForCallback(_jobId, gasleft(), needed);
        bool ok;
        assembly ("memory-safe") {
            ok := call(gasLimit, target, 0, add(data, 0x20), mload(data), 0, 0)
        }
        emit CallbackResult(_jobId, ok);
    }

    // ================================================================== lease time-out

    /// @inheritdoc IJobManager
    function reclaim(uint256 _jobId) external {
        Job storage j = _job(_jobId);
        if (j.status != JobStatus.Claimed) revert JobNotClaimed(_jobId, j.status);
        // INVARIANT: the lease includes leaseEnd; it can be taken back only strictly after.
        if (block.timestamp <= j.deadline) revert LeaseNotExpired(_jobId, j.deadline);
        address worker = j.worker;
        uint256 penalty = j.collateral * _params.livenessPenaltyBps / BPS;
        _credits[j.requester] += penalty;
        emit LeaseTimedOut(_jobId, worker, penalty);
        _reopenOrRefund(_jobId, j);
        _STAKE.slash(worker, j.collateral, penalty, address(this));
    }

    // ================================================================== challenges

    /// @inheritdoc IJobManager
    function challenge(uint256 _jobId) external nonReentrant {
        Job storage j = _job(_jobId);
        if (j.status != JobStatus.Posted) revert JobNotPosted(_jobId, j.status);
        // INVARIANT: challenges are accepted up to and including windowEnd.
        if (block.timestamp > j.deadline) revert ChallengeWindowClosed(_jobId, j.deadline);
        if (msg.sender == j.worker) revert SelfChallenge(_jobId);
        IDisputeGame game = _game;
        if (address(game) == address(0)) revert NoDisputeGame();
        uint96 bond = _params.challengeBond;
        j.status = JobStatus.Challenged;
        _challenges[_jobId] = Challenge(msg.sender, bond);
        ++_openDisputes;
        _pull(bond);
        uint64 disputeDeadline = game.open(_jobId, msg.sender, j.worker);
        emit JobChallenged(_jobId, msg.sender, bond, disputeDeadline);
    }

    /// @inheritdoc IJobManager
    function settleDispute(uint256 _jobId, bool _challengerWon) external nonReentrant {
        // INVARIANT: only the dispute game decides a dispute.
        if (msg.sender != address(_game)) revert NotDisputeGame(msg.sender);
        Job storage j = _job(_jobId);
        if (j.status != JobStatus.Challenged) revert JobNotChallenged(_jobId, j.status);
        Challenge memory c = _challenges[_jobId];
        delete _challenges[_jobId];
        --_openDisputes;
        address worker = j.worker;
        uint256 collateral = j.collateral;
        Params memory p = _params;
        if (_challengerWon) {
            uint256 reward = collateral * p.slashChallengerBps / BPS;
            uint256 toRequester = collateral * p.slashRequesterBps / BPS;
            _credits[c.challenger] += c.bond + reward;
            _credits[j.requester] += toRequester;
            _credits[p.treasury] += collateral - reward - toRequester;
            emit DisputeSettled(_jobId, true, collateral, c.bond + reward);
            _reopenOrRefund(_jobId, j);
            _STAKE.slash(worker, collateral, collateral, address(this));
        } else {
            uint256 toWorker = c.bond * p.bondToWorkerBps / BPS;
            _credits[worker] += toWorker;
            _credits[p.treasury] += c.bond - toWorker;
            emit DisputeSettled(_jobId, false, 0, 0);
            _settlePaid(_jobId, j, worker);
            _STAKE.unlock(worker, collateral);
            _callback(_jobId, j);
        }
    }

    // ================================================================== credits

    /// @inheritdoc IJobManager
    function withdraw(uint256 _amount) external nonReentrant {
        if (_amount == 0) revert ZeroAmount();
        uint256 available = _credits[msg.sender];
        if (_amount > available) revert InsufficientCredits(msg.sender, available, _amount);
        _credits[msg.sender] = available - _amount;
        emit CreditsWithdrawn(msg.sender, _amount);
        _TOKEN.safeTransfer(msg.sender, _amount);
    }

    // ================================================================== governance

    /// @inheritdoc IJobManager
    function setParams(Params calldata _new) external onlyOwner {
        _setParams(_new);
    }

    /// @inheritdoc IJobManager
    function setDisputeGame(address _newGame) external onlyOwner {
        if (_newGame == address(0)) revert ZeroAddress();
        // INVARIANT: a running dispute is always settled by the game that opened it.
        if (_openDisputes != 0) revert DisputesOpen(_openDisputes);
        _game = IDisputeGame(_newGame);
        _checkUnbonding(_params.challengeWindow);
        emit DisputeGameUpdated(_newGame);
    }

    function _setParams(Params memory _p) private {
        _bound("leaseDuration", _p.leaseDuration, 1, 7 days);
        _bound("challengeWindow", _p.challengeWindow, 1, 30 days);
        _bound("maxClaimTtl", _p.maxClaimTtl, 1, 90 days);
        _bound("protocolFeeBps", _p.protocolFeeBps, 0, 2_000);
        _bound("livenessPenaltyBps", _p.livenessPenaltyBps, 0, BPS);
        _bound("slashChallengerBps", _p.slashChallengerBps, 0, BPS);
        _bound("slashSharesBps", uint256(_p.slashChallengerBps) + _p.slashRequesterBps, 0, BPS);
        _bound("bondToWorkerBps", _p.bondToWorkerBps, 0, BPS);
        _bound("collateralBps", _p.collateralBps, 0, 1_000_000);
        _bound("callbackGasLimit", _p.callbackGasLimit, 0, 2_000_000);
        _bound("maxInlineBytes", _p.maxInlineBytes, 32, 65_536);
        _bound("challengeBond", _p.challengeBond, 1, type(uint96).max);
        if (_p.treasury == address(0)) revert ZeroAddress();
        _checkUnbonding(_p.challengeWindow);
        _params = _p;
        emit ParamsUpdated(_p);
    }

    function _bound(bytes32 _name, uint256 _value, uint256 _min, uint256 _max) private pure {
        if (_value < _min || _value > _max) revert ParamOutOfBounds(_name, _value, _min, _max);
    }

    function _checkUnbonding(uint40 _window) private view {
        uint64 needed = _minUnbonding(_window);
        uint64 delay = _STAKE.unbondingDelay();
        // INVARIANT: a worker cannot unbond before its last result is beyond challenge and dispute.
        if (delay <= needed) revert UnbondingTooShort(delay, needed);
    }

    function _minUnbonding(uint40 _window) private view returns (uint64 min_) {
        min_ = uint64(_window) + (address(_game) == address(0) ? 0 : _game.maxDuration());
    }

    // ================================================================== views

    /// @inheritdoc IJobManager
    function getJob(uint256 _jobId) external view returns (JobView memory job_) {
        Job storage j = _job(_jobId);
        job_ = JobView({
            modelId: j.modelId,
            inputRoot: j.inputRoot,
            outputRoot: j.outputRoot == NO_OUTPUT ? bytes32(0) : j.outputRoot,
            requester: j.requester,
            worker: j.worker,
            status: j.status,
            callback: j.flags & FLAG_CALLBACK != 0,
            claimDeadline: j.claimDeadline,
            deadline: j.deadline,
            workerFee: j.workerFee,
            ownerFee: j.ownerFee,
            protocolFee: j.protocolFee,
            collateral: j.collateral
        });
    }

    /// @inheritdoc IJobManager
    function statusOf(uint256 _jobId) external view returns (JobStatus status_) {
        status_ = _jobs[_jobId].status;
    }

    /// @inheritdoc IJobManager
    function jobCount() external view returns (uint256 count_) {
        count_ = _jobCount;
    }

    /// @inheritdoc IJobManager
    function creditsOf(address _account) external view returns (uint256 credits_) {
        credits_ = _credits[_account];
    }

    /// @inheritdoc IJobManager
    function challengeOf(uint256 _jobId) external view returns (address challenger_, uint256 bond_) {
        Challenge memory c = _challenges[_jobId];
        (challenger_, bond_) = (c.challenger, c.bond);
    }

    /// @inheritdoc IJobManager
    function params() external view returns (Params memory params_) {
        params_ = _params;
    }

    /// @inheritdoc IJobManager
    function quote(bytes32 _modelId, uint96 _workerFee)
        external
        view
        returns (uint96 ownerFee_, uint96 protocolFee_, uint256 total_, uint96 collateral_)
    {
        (, ownerFee_,) = _REGISTRY.pricing(_modelId);
        (uint256 protocolFee, uint256 total, uint256 collateral) = _price(_params, _workerFee, ownerFee_);
        (protocolFee_, total_, collateral_) = (uint96(protocolFee), total, uint96(collateral));
    }

    /// @inheritdoc IUnbondingPolicy
    function minUnbondingDelay() external view override(IJobManager, IUnbondingPolicy) returns (uint64 min_) {
        min_ = _minUnbonding(_params.challengeWindow);
    }

    /// @inheritdoc IJobManager
    function openDisputes() external view returns (uint256 count_) {
        count_ = _openDisputes;
    }

    /// @inheritdoc IJobManager
    function disputeGame() external view returns (address game_) {
        game_ = address(_game);
    }

    /// @notice The fee token.
    function TOKEN() external view returns (address token_) {
        token_ = address(_TOKEN);
    }

    /// @inheritdoc IJobManager
    function STAKE() external view returns (address stake_) {
        stake_ = address(_STAKE);
    }

    /// @notice The ModelRegistry.
    function REGISTRY() external view returns (address registry_) {
        registry_ = address(_REGISTRY);
    }

    // ================================================================== internals

    /// @dev Pulls `_amount` from the caller and checks that the balance grew by at least that much.
    function _pull(uint256 _amount) private {
        uint256 received = TokenPull.pull(_TOKEN, _amount);
        // INVARIANT: every escrowed or bonded token was received (no fee-on-transfer shortfall).
        if (received < _amount) revert TransferShortfall(_amount, received);
    }

    function _job(uint256 _jobId) private view returns (Job storage j_) {
        j_ = _jobs[_jobId];
        if (j_.status == JobStatus.None) revert UnknownJob(_jobId);
    }

    function _price(Params memory _p, uint256 _workerFee, uint256 _ownerFee)
        private
        pure
        returns (uint256 protocolFee_, uint256 total_, uint256 collateral_)
    {
        protocolFee_ = (_workerFee + _ownerFee) * _p.protocolFeeBps / BPS;
        total_ = _workerFee + _ownerFee + protocolFee_;
        collateral_ = _workerFee * _p.collateralBps / BPS;
        if (collateral_ < _p.minCollateral) collateral_ = _p.minCollateral;
    }

    /// @dev Back to Open while the claim deadline allows; otherwise the escrow goes back to the requester.
    function _reopenOrRefund(uint256 _jobId, Job storage j) private {
        if (block.timestamp <= j.claimDeadline) {
            j.worker = address(0);
            j.deadline = 0;
            j.status = JobStatus.Open;
            j.outputRoot = NO_OUTPUT;
            emit JobReopened(_jobId);
        } else {
            _refund(_jobId, j, j.status == JobStatus.Claimed ? JobStatus.Expired : JobStatus.Refunded);
        }
    }

    function _refund(uint256 _jobId, Job storage j, JobStatus _final) private {
        uint256 refund = uint256(j.workerFee) + j.ownerFee + j.protocolFee;
        j.status = _final;
        j.deadline = 0;
        _credits[j.requester] += refund;
        emit JobRefunded(_jobId, _final, refund);
    }
}
