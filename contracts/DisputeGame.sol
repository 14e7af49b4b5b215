// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IDisputeGame} from "./interfaces/IDisputeGame.sol";
import {IJobManager} from "./interfaces/IJobManager.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {IStakeManager} from "./interfaces/IStakeManager.sol";
import {IOpVerifier, Operand} from "./interfaces/IOpVerifier.sol";
import {TensorMerkle} from "./libraries/TensorMerkle.sol";
import {VerificationClass, JobView} from "./types/AssayTypes.sol";

/// @notice The one JobManager view the game needs beyond IJobManager.
interface IRegistryOwner {
    function REGISTRY() external view returns (address registry_);
}

/// @title DisputeGame
/// @notice The fraud-proof game of docs/fraud-proofs.md ("The game"). After `open`, the worker must
/// post the trace root of its canonical run within the response window; then, within the proof
/// window, anyone may prove one inconsistency of that trace (a node's output element against its
/// op's verifier, the graph inputs against the job's input root, an initializer against the model's
/// weights root, the graph outputs against the posted output root, or the two layouts of a value
/// against each other). A valid proof settles at once for the challenger; no proof by the deadline
/// settles for the worker. The challenger may demand withheld chunks (at most `maxDemands`); an
/// unanswered demand loses the game for the worker. Models of class NONE are decided by an arbiter.
/// @dev Every Merkle check goes through TensorMerkle. Descriptors are parsed here (a minimal
/// reader of docs/commitments.md §4; contracts/libraries/Descriptor.sol did not exist yet).
contract DisputeGame is IDisputeGame, AccessControl {
    /// @notice Accounts that decide disputes over class NONE models.
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");
    /// @notice Longest response, proof or demand window governance may set.
    uint32 public constant MAX_WINDOW = 30 days;
    /// @notice Most demands per dispute governance may allow.
    uint8 public constant MAX_DEMANDS = 16;
    /// @notice Most leaves (128 bytes each) one demand may ask for: bounds the worker's cost of an answer.
    uint8 public constant MAX_DEMAND_LEAVES = 64;
    /// @notice Value id of an omitted optional input or output in a descriptor.
    uint32 public constant ABSENT = type(uint32).max;

    uint8 private constant TRACE_TAG = 0x07;
    uint8 private constant GRAPH_TAG = 0x05;
    uint8 private constant WEIGHTS_TAG = 0x06;
    uint256 private constant LEAF_SIZE = 128;
    uint256 private constant HEADER_FIXED = 23; // kind u8 + 5 × u32 + n_opsets u16

    /// @dev Four slots written at open (0, 1, graphRoot, weightsRoot); slot 2 by a demand, traceRoot by postTrace.
    struct Dispute {
        // slot 0 (read by every entry point)
        address challenger; // 160
        uint40 responseDeadline; // 40: 0 for class NONE
        uint40 proofDeadline; // 40: 0 until the trace root; the arbiter's deadline for class NONE
        VerificationClass vclass; // 8
        Phase phase; // 8
        // slot 1
        address worker; // 160
        uint32 proofWindow; // 32: windows snapshot at open, so governance never changes a running game
        uint32 demandWindow; // 32
        uint8 maxDemands; // 8
        uint8 demandsMade; // 8
        // slot 2: the outstanding demand (demandDeadline 0: none)
        uint40 demandDeadline; // 40
        uint32 demandValue; // 32
        uint8 demandLayout; // 8
        uint8 demandLeaves; // 8
        uint64 demandFirstLeaf; // 64
        uint32 nValues; // 32: from the graph header proven with the demand
        // slots 3-5
        bytes32 graphRoot;
        bytes32 weightsRoot;
        bytes32 traceRoot;
    }

    /// @dev The counts of a proven graph header.
    struct Header {
        uint256 nInputs;
        uint256 nInitializers;
        uint256 nNodes;
        uint256 nValues;
        uint256 nOutputs;
    }

    IJobManager private immutable _JOBS;
    IModelRegistry private immutable _REGISTRY;
    uint32 private _responseWindow;
    uint32 private _proofWindow;
    uint32 private _demandWindow;
    uint8 private _maxDemands;
    mapping(uint256 jobId => Dispute) private _disputes;
    mapping(bytes32 opKey => IOpVerifier) private _verifiers;

    constructor(
        IJobManager _jobs,
        address _admin,
        uint32 _response,
        uint32 _proof,
        uint32 _demand,
        uint8 _demands
    ) {
        if (address(_jobs) == address(0)) revert ZeroJobManager();
        _JOBS = _jobs;
        _REGISTRY = IModelRegistry(IRegistryOwner(address(_jobs)).REGISTRY());
        _grantRole(DEFAULT_ADMIN_ROLE, _admin);
        _setDurations(_response, _proof, _demand, _demands);
    }

    // ================================================================== hand-off

    /// @inheritdoc IDisputeGame
    function open(uint256 _jobId, address _challenger, address _worker) external returns (uint64 deadline_) {
        // INVARIANT: only the JobManager, which froze the job and escrowed the bond, opens disputes.
        if (msg.sender != address(_JOBS)) revert NotJobManager(msg.sender);
        // slither-disable-next-line incorrect-equality -- an enum comparison, not a balance or timestamp an attacker can nudge
        if (_disputes[_jobId].phase == Phase.Open) revert DisputeAlreadyOpen(_jobId);
        IModelRegistry.Model memory m = _REGISTRY.getModel(_JOBS.getJob(_jobId).modelId);
        uint40 nowTs = uint40(block.timestamp);
        uint40 response;
        uint40 proof;
        if (m.vclass == VerificationClass.NONE) {
            // The arbiter gets the whole budget a provable dispute could take.
            proof = nowTs + uint40(_maxDuration(_responseWindow, _proofWindow, _demandWindow, _maxDemands));
            deadline_ = proof;
        } else {
            response = nowTs + _responseWindow;
            deadline_ = response;
        }
        _disputes[_jobId] = Dispute({
            challenger: _challenger,
            responseDeadline: response,
            proofDeadline: proof,
            vclass: m.vclass,
            phase: Phase.Open,
            worker: _worker,
            proofWindow: _proofWindow,
            demandWindow: _demandWindow,
            maxDemands: _maxDemands,
            demandsMade: 0,
            demandDeadline: 0,
            demandValue: 0,
            demandLayout: 0,
            demandLeaves: 0,
            demandFirstLeaf: 0,
            nValues: 0,
            graphRoot: m.graphRoot,
            weightsRoot: m.weightsRoot,
            traceRoot: bytes32(0)
        });
        emit DisputeOpened(_jobId, _challenger, _worker, deadline_);
    }

    // ================================================================== trace and demands

    /// @inheritdoc IDisputeGame
    function postTrace(uint256 _jobId, bytes32 _traceRoot, bytes32 _traceHash, string calldata _traceURI) external {
        Dispute storage d = _provable(_jobId);
        // INVARIANT: only the worker speaks for its own execution.
        if (msg.sender != d.worker) revert NotWorker(_jobId, msg.sender, d.worker);
        // INVARIANT: one trace per dispute; it never changes once posted.
        if (d.traceRoot != bytes32(0)) revert TraceAlreadyPosted(_jobId);
        // INVARIANT: the trace is accepted up to and including the response deadline.
        if (block.timestamp > d.responseDeadline) revert ResponseWindowClosed(_jobId, d.responseDeadline);
        if (_traceRoot == bytes32(0)) revert ZeroTraceRoot(_jobId);
        uint40 proofDeadline = uint40(block.timestamp) + d.proofWindow;
        d.traceRoot = _traceRoot;
        d.proofDeadline = proofDeadline;
        emit TracePosted(_jobId, _traceRoot, _traceHash, _traceURI, proofDeadline);
    }

    /// @inheritdoc IDisputeGame
    function demandChunk(
        uint256 _jobId,
        bytes calldata _header,
        bytes32[] calldata _headerProof,
        uint32 _valueId,
        uint8 _layout,
        uint64 _firstLeaf,
        uint8 _leaves
    ) external {
        Dispute storage d = _provable(_jobId);
        // INVARIANT: demands cost the worker gas; only the bonded challenger may make them.
        if (msg.sender != d.challenger) revert NotChallenger(_jobId, msg.sender, d.challenger);
        _checkProofWindow(_jobId, d);
        // INVARIANT: one demand at a time, at most maxDemands per dispute, each of bounded size.
        if (d.demandDeadline != 0) revert DemandOutstanding(_jobId, d.demandDeadline);
        if (d.demandsMade >= d.maxDemands) revert TooManyDemands(_jobId, d.maxDemands);
        if (_leaves == 0 || _leaves > MAX_DEMAND_LEAVES) revert DemandSizeOutOfBounds(_leaves, MAX_DEMAND_LEAVES);
        if (_layout > 1) revert InvalidLayout(_layout);
        Header memory h = _proveHeader(_jobId, d.graphRoot, _header, _headerProof);
        // INVARIANT: a demand names a value the trace has, so an honest worker can always answer it.
        if (_valueId >= h.nValues) revert ValueOutOfRange(_valueId, h.nValues);
        uint40 deadline = uint40(block.timestamp) + d.demandWindow;
        d.demandDeadline = deadline;
        d.demandValue = _valueId;
        d.demandLayout = _layout;
        d.demandLeaves = _leaves;
        d.demandFirstLeaf = _firstLeaf;
        d.nValues = uint32(h.nValues);
        ++d.demandsMade;
        emit ChunkDemanded(_jobId, _valueId, _layout, _firstLeaf, _leaves, deadline);
    }

    /// @inheritdoc IDisputeGame
    function answerDemand(uint256 _jobId, Opening calldata _answer) external {
        Dispute storage d = _openDispute(_jobId);
        if (msg.sender != d.worker) revert NotWorker(_jobId, msg.sender, d.worker);
        uint40 deadline = d.demandDeadline;
        if (deadline == 0) revert NoDemand(_jobId);
        // INVARIANT: answers are accepted up to and including the demand deadline.
        if (block.timestamp > deadline) revert DemandExpired(_jobId, deadline);
        uint32 valueId = d.demandValue;
        if (_answer.dtype == 0) revert OperandNotOpened(valueId);
        if (_answer.layout != d.demandLayout) revert InvalidLayout(_answer.layout);
        // The demanded run, clipped to the tensor: a run past the end is answered with the last leaf.
        uint256 count =
            TensorMerkle.leafCount(TensorMerkle.dataSize(_answer.dtype, _layoutDims(_answer.dims, _answer.layout)));
        uint256 first = d.demandFirstLeaf;
        uint256 end = first + d.demandLeaves;
        if (end > count) end = count;
        if (first >= end) (first, end) = (count - 1, count);
        uint256 given = TensorMerkle.leafCount(_answer.data.length);
        // INVARIANT: the answer is exactly the demanded leaves, nothing more, nothing less.
        if (_answer.firstLeaf != first || given != end - first) {
            revert AnswerRangeMismatch(_jobId, first, end - first, given);
        }
        _verifyOpening(_jobId, d.traceRoot, 2 * uint256(d.nValues), valueId, _answer);
        uint40 proofDeadline = d.proofDeadline;
        uint40 extended = uint40(block.timestamp) + d.demandWindow;
        if (extended > proofDeadline) proofDeadline = extended;
        d.demandDeadline = 0;
        d.proofDeadline = proofDeadline;
        emit DemandAnswered(_jobId, valueId, _answer, proofDeadline);
    }

    // ================================================================== proofs

    /// @inheritdoc IDisputeGame
    function proveNode(
        uint256 _jobId,
        bytes calldata _header,
        bytes32[] calldata _headerProof,
        uint256 _node,
        bytes calldata _descriptor,
        bytes32[] calldata _descriptorProof,
        Opening[] calldata _inputs,
        uint256 _outPos,
        Opening calldata _output,
        uint256 _outIndex
    ) external {
        Dispute storage d = _provable(_jobId);
        _checkProofWindow(_jobId, d);
        Header memory h = _proveHeader(_jobId, d.graphRoot, _header, _headerProof);
        if (_node >= h.nNodes) revert NodeOutOfRange(_node, h.nNodes);
        uint256 leaf = _node + 1;
        _proveGraphLeaf(_jobId, d.graphRoot, h.nNodes, leaf, _descriptor, _descriptorProof);

        // Descriptor: 0x01 || str16 domain || str16 op_type || n_in u16 || ids || n_out u16 || ids || attrs
        if (_read(_descriptor, 0, 1, leaf) != 0x01) revert MalformedDescriptor(leaf);
        uint256 domainLen = _read(_descriptor, 1, 2, leaf);
        uint256 opLen = _read(_descriptor, 3 + domainLen, 2, leaf);
        uint256 opEnd = 5 + domainLen + opLen;
        uint256 nIn = _read(_descriptor, opEnd, 2, leaf); // also checks that the op's name lies inside
        IOpVerifier verifier = _verifiers[keccak256(_descriptor[1:opEnd])];
        if (address(verifier) == address(0)) {
            revert NoVerifier(string(_descriptor[3:3 + domainLen]), string(_descriptor[5 + domainLen:opEnd]));
        }
        uint256 outAt = opEnd + 2 + 4 * nIn; // offset of n_out
        uint256 nOut = _read(_descriptor, outAt, 2, leaf);
        if (_inputs.length != nIn) revert LengthMismatch(nIn, _inputs.length);
        if (_outPos >= nOut) revert OutputOutOfRange(_outPos, nOut);
        uint256 outId = _read(_descriptor, outAt + 2 + 4 * _outPos, 4, leaf);
        if (outId == ABSENT) revert OutputAbsent(_outPos);

        uint256 items = 2 * h.nValues;
        Operand[] memory ins = new Operand[](nIn);
        for (uint256 i; i < nIn; ++i) {
            uint256 id = _read(_descriptor, opEnd + 2 + 4 * i, 4, leaf);
            if (id == ABSENT) {
                // INVARIANT: an omitted optional input is passed as absent, never with made-up data.
                if (_inputs[i].dtype != 0 || _inputs[i].data.length != 0) revert AbsentOperandOpened(i);
                continue; // ins[i] stays the zero Operand: dtype 0, no dims, no data
            }
            ins[i] = _openOperand(_jobId, d.traceRoot, items, id, _inputs[i]);
        }
        // INVARIANT: the checked output element is inside the opened row-major data (defence in depth:
        // a verifier must never read an element the challenger did not prove).
        if (_output.layout != 0) revert InvalidLayout(_output.layout);
        Operand memory out = _openOperand(_jobId, d.traceRoot, items, outId, _output);
        _requireOpened(_outIndex, out.first, _output.data.length / TensorMerkle.itemSize(_output.dtype));

        // INVARIANT: fraud is shown only by the op's verifier answering false; a true answer proves nothing.
        if (verifier.check(_descriptor, ins, out, _outIndex)) revert ProofRejected(_jobId, _node, _outIndex);
        _resolve(_jobId, d, true, Resolution.NodeProof);
    }

    /// @inheritdoc IDisputeGame
    function proveInputMismatch(
        uint256 _jobId,
        bytes calldata _header,
        bytes32[] calldata _headerProof,
        bytes32[] calldata _roots,
        bytes32[][] calldata _itemProofs
    ) external {
        Dispute storage d = _provable(_jobId);
        _checkProofWindow(_jobId, d);
        Header memory h = _proveHeader(_jobId, d.graphRoot, _header, _headerProof);
        _checkLengths(h.nInputs, _roots.length, _itemProofs.length);
        uint256 items = 2 * h.nValues;
        for (uint256 i; i < _roots.length; ++i) {
            _proveTraceItem(_jobId, d.traceRoot, items, 2 * i, _roots[i], _itemProofs[i]);
        }
        // Graph input i is value i; its name is the i-th str16 after the opsets.
        uint256 off = _skipOpsets(_header);
        (bytes32 root,) = _ioRoot(_header, off, h.nInputs, _roots, false);
        // INVARIANT: only a trace whose graph inputs are not the job's inputs is a mismatch.
        if (root == _JOBS.getJob(_jobId).inputRoot) revert InputsMatch(_jobId);
        _resolve(_jobId, d, true, Resolution.InputProof);
    }

    /// @inheritdoc IDisputeGame
    function proveWeightMismatch(
        uint256 _jobId,
        bytes calldata _header,
        bytes32[] calldata _headerProof,
        uint256 _index,
        bytes32 _weightsLeaf,
        bytes32[] calldata _weightsProof,
        bytes32 _traceItem,
        bytes32[] calldata _itemProof
    ) external {
        Dispute storage d = _provable(_jobId);
        _checkProofWindow(_jobId, d);
        Header memory h = _proveHeader(_jobId, d.graphRoot, _header, _headerProof);
        if (_index >= h.nInitializers) revert InitializerOutOfRange(_index, h.nInitializers);
        if (!TensorMerkle.verifyListItem(
                d.weightsRoot, WEIGHTS_TAG, uint64(h.nInitializers), _index, _weightsLeaf, _weightsProof
            )) revert InvalidWeightsProof(_jobId, _index);
        _proveTraceItem(_jobId, d.traceRoot, 2 * h.nValues, 2 * (h.nInputs + _index), _traceItem, _itemProof);
        // INVARIANT: only an initializer that differs from the registered weights is a mismatch.
        if (_traceItem == _weightsLeaf) revert WeightMatches(_jobId, _index);
        _resolve(_jobId, d, true, Resolution.WeightProof);
    }

    /// @inheritdoc IDisputeGame
    function proveOutputMismatch(
        uint256 _jobId,
        bytes calldata _header,
        bytes32[] calldata _headerProof,
        bytes32[] calldata _roots,
        bytes32[][] calldata _itemProofs
    ) external {
        Dispute storage d = _provable(_jobId);
        _checkProofWindow(_jobId, d);
        Header memory h = _proveHeader(_jobId, d.graphRoot, _header, _headerProof);
        _checkLengths(h.nOutputs, _roots.length, _itemProofs.length);
        // Output entries (str16 name || value id u32) follow the opsets and the input names.
        uint256 off = _skipOpsets(_header);
        for (uint256 i; i < h.nInputs; ++i) {
            off += 2 + _read(_header, off, 2, 0);
        }
        (bytes32 root, uint256[] memory ids) = _ioRoot(_header, off, h.nOutputs, _roots, true);
        uint256 items = 2 * h.nValues;
        for (uint256 i; i < _roots.length; ++i) {
            if (ids[i] >= h.nValues) revert MalformedDescriptor(0);
            _proveTraceItem(_jobId, d.traceRoot, items, 2 * ids[i], _roots[i], _itemProofs[i]);
        }
        // INVARIANT: only a trace whose graph outputs are not the posted outputs is a mismatch.
        if (root == _JOBS.getJob(_jobId).outputRoot) revert OutputsMatch(_jobId);
        _resolve(_jobId, d, true, Resolution.OutputProof);
    }

    /// @inheritdoc IDisputeGame
    function proveLayoutMismatch(
        uint256 _jobId,
        bytes calldata _header,
        bytes32[] calldata _headerProof,
        uint256 _valueId,
        Opening calldata _layout0,
        Opening calldata _layout1,
        uint256 _index
    ) external {
        Dispute storage d = _provable(_jobId);
        _checkProofWindow(_jobId, d);
        Header memory h = _proveHeader(_jobId, d.graphRoot, _header, _headerProof);
        if (_valueId >= h.nValues) revert ValueOutOfRange(_valueId, h.nValues);
        if (_layout0.layout != 0) revert InvalidLayout(_layout0.layout);
        if (_layout1.layout != 1) revert InvalidLayout(_layout1.layout);
        uint256 items = 2 * h.nValues;
        _verifyOpening(_jobId, d.traceRoot, items, _valueId, _layout0);
        _verifyOpening(_jobId, d.traceRoot, items, _valueId, _layout1);
        // Two headers that disagree (dtype, or dims other than the swap) are a mismatch on their own.
        if (_layout0.dtype == _layout1.dtype && _sameDims(_layout0.dims, _layout1.dims)) {
            uint256 size = TensorMerkle.itemSize(_layout0.dtype);
            uint256 t = _transposedIndex(_layout0.dims, _index);
            // INVARIANT: both compared elements were proven.
            bytes calldata a = _element(_layout0, _index, size);
            bytes calldata b = _element(_layout1, t, size);
            if (keccak256(a) == keccak256(b)) revert LayoutsMatch(_jobId, _valueId, _index);
        }
        _resolve(_jobId, d, true, Resolution.LayoutProof);
    }

    // ================================================================== resolution

    /// @inheritdoc IDisputeGame
    function resolveByTimeout(uint256 _jobId) external {
        Dispute storage d = _openDispute(_jobId);
        (uint40 deadline, Resolution by) = _currentDeadline(d);
        // INVARIANT: every deadline is inclusive; a time-out applies strictly after it.
        if (block.timestamp <= deadline) revert DisputeNotExpired(_jobId, deadline);
        _resolve(_jobId, d, by != Resolution.TimeoutNoProof, by);
    }

    /// @inheritdoc IDisputeGame
    function arbitrate(uint256 _jobId, bool _challengerWon) external onlyRole(ARBITER_ROLE) {
        Dispute storage d = _openDispute(_jobId);
        // INVARIANT: a model with verifiers is decided by proofs, never by a person.
        if (d.vclass != VerificationClass.NONE) revert NotArbitrable(_jobId, d.vclass);
        // INVARIANT: the arbiter decides up to and including the deadline, never after.
        if (block.timestamp > d.proofDeadline) revert DisputeExpired(_jobId, d.proofDeadline);
        _resolve(_jobId, d, _challengerWon, Resolution.Arbiter);
    }

    // ================================================================== governance

    /// @inheritdoc IDisputeGame
    function setVerifier(string calldata _domain, string calldata _opType, IOpVerifier _verifier)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        string memory domain = keccak256(bytes(_domain)) == keccak256("ai.onnx") ? "" : _domain;
        _verifiers[_opKey(domain, _opType)] = _verifier;
        emit VerifierSet(domain, _opType, _verifier);
    }

    /// @inheritdoc IDisputeGame
    function setDurations(uint32 _response, uint32 _proof, uint32 _demand, uint8 _demands)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        _setDurations(_response, _proof, _demand, _demands);
        if (_JOBS.disputeGame() == address(this)) {
            uint64 delay = IStakeManager(_JOBS.STAKE()).unbondingDelay();
            uint64 needed = _JOBS.minUnbondingDelay();
            // INVARIANT: a worker's stake outlives the challenge window and the longest dispute.
            if (delay <= needed) revert IJobManager.UnbondingTooShort(delay, needed);
        }
    }

    // ================================================================== views

    /// @inheritdoc IDisputeGame
    function maxDuration() external view returns (uint64 duration_) {
        duration_ = _maxDuration(_responseWindow, _proofWindow, _demandWindow, _maxDemands);
    }

    /// @inheritdoc IDisputeGame
    function disputeOf(uint256 _jobId) external view returns (address challenger_, uint64 deadline_, bool open_) {
        Dispute storage d = _disputes[_jobId];
        (uint40 deadline,) = _currentDeadline(d);
        (challenger_, deadline_, open_) = (d.challenger, deadline, d.phase == Phase.Open);
    }

    /// @inheritdoc IDisputeGame
    function getDispute(uint256 _jobId) external view returns (DisputeView memory dispute_) {
        Dispute storage d = _disputes[_jobId];
        dispute_ = DisputeView({
            challenger: d.challenger,
            worker: d.worker,
            phase: d.phase,
            vclass: d.vclass,
            responseDeadline: d.responseDeadline,
            proofDeadline: d.proofDeadline,
            demandDeadline: d.demandDeadline,
            proofWindow: d.proofWindow,
            demandWindow: d.demandWindow,
            maxDemands: d.maxDemands,
            demandsMade: d.demandsMade,
            demandValue: d.demandValue,
            demandLayout: d.demandLayout,
            demandFirstLeaf: d.demandFirstLeaf,
            demandLeaves: d.demandLeaves,
            graphRoot: d.graphRoot,
            weightsRoot: d.weightsRoot,
            traceRoot: d.traceRoot
        });
    }

    /// @inheritdoc IDisputeGame
    function verifierOf(string calldata _domain, string calldata _opType) external view returns (IOpVerifier verifier_) {
        string memory domain = keccak256(bytes(_domain)) == keccak256("ai.onnx") ? "" : _domain;
        verifier_ = _verifiers[_opKey(domain, _opType)];
    }

    /// @inheritdoc IDisputeGame
    function durations()
        external
        view
        returns (uint32 responseWindow_, uint32 proofWindow_, uint32 demandWindow_, uint8 maxDemands_)
    {
        (responseWindow_, proofWindow_, demandWindow_, maxDemands_) =
            (_responseWindow, _proofWindow, _demandWindow, _maxDemands);
    }

    /// @notice The JobManager this game serves.
    function JOBS() external view returns (address jobs_) {
        jobs_ = address(_JOBS);
    }

    /// @notice The ModelRegistry the models' classes and roots are read from.
    function REGISTRY() external view returns (address registry_) {
        registry_ = address(_REGISTRY);
    }

    // ================================================================== internals: state

    function _openDispute(uint256 _jobId) private view returns (Dispute storage d_) {
        d_ = _disputes[_jobId];
        if (d_.phase != Phase.Open) revert DisputeNotOpen(_jobId);
    }

    /// @dev An open dispute over a model with verifiers (not class NONE).
    function _provable(uint256 _jobId) private view returns (Dispute storage d_) {
        d_ = _openDispute(_jobId);
        if (d_.vclass == VerificationClass.NONE) revert ArbiterOnly(_jobId);
    }

    /// @dev The trace is posted and the proof window open; an outstanding demand keeps it open
    /// until the demand resolves (answered: the deadline is extended; unanswered: the challenger wins).
    function _checkProofWindow(uint256 _jobId, Dispute storage d) private view {
        if (d.traceRoot == bytes32(0)) revert TraceNotPosted(_jobId);
        // INVARIANT: proofs and demands are accepted up to and including the proof deadline.
        if (block.timestamp > d.proofDeadline && d.demandDeadline == 0) {
            revert ProofWindowClosed(_jobId, d.proofDeadline);
        }
    }

    /// @dev The deadline that applies now and who wins when it passes.
    function _currentDeadline(Dispute storage d) private view returns (uint40 deadline_, Resolution by_) {
        if (d.vclass == VerificationClass.NONE) return (d.proofDeadline, Resolution.TimeoutNoProof);
        if (d.traceRoot == bytes32(0)) return (d.responseDeadline, Resolution.TimeoutNoTrace);
        if (d.demandDeadline != 0) return (d.demandDeadline, Resolution.TimeoutDemandUnanswered);
        return (d.proofDeadline, Resolution.TimeoutNoProof);
    }

    /// @dev Effects before the interaction: the dispute is closed before the JobManager pays anyone.
    function _resolve(uint256 _jobId, Dispute storage d, bool _challengerWon, Resolution _by) private {
        d.phase = Phase.Resolved;
        emit DisputeResolved(_jobId, _challengerWon, uint8(_by));
        _JOBS.settleDispute(_jobId, _challengerWon);
    }

    function _setDurations(uint32 _response, uint32 _proof, uint32 _demand, uint8 _demands) private {
        _bound("responseWindow", _response, 1, MAX_WINDOW);
        _bound("proofWindow", _proof, 1, MAX_WINDOW);
        _bound("demandWindow", _demand, 1, MAX_WINDOW);
        // At least one demand: a trace root that opens to nothing must be answerable by a demand.
        _bound("maxDemands", _demands, 1, MAX_DEMANDS);
        (_responseWindow, _proofWindow, _demandWindow, _maxDemands) = (_response, _proof, _demand, _demands);
        emit DurationsUpdated(_response, _proof, _demand, _demands);
    }

    function _bound(bytes32 _name, uint256 _value, uint256 _min, uint256 _max) private pure {
        if (_value < _min || _value > _max) revert GameParamOutOfBounds(_name, _value, _min, _max);
    }

    /// @dev Each answer may push the proof deadline by up to 2·demandWindow: a demand made at the
    /// proof deadline, answered at its own deadline, leaves the challenger demandWindow after the answer.
    function _maxDuration(uint32 _response, uint32 _proof, uint32 _demand, uint8 _demands)
        private
        pure
        returns (uint64)
    {
        return uint64(_response) + _proof + 2 * uint64(_demands) * _demand;
    }

    function _opKey(string memory _domain, string calldata _opType) private pure returns (bytes32) {
        uint256 dl = bytes(_domain).length;
        uint256 ol = bytes(_opType).length;
        if (dl > type(uint16).max) revert OpNameTooLong(dl);
        if (ol > type(uint16).max) revert OpNameTooLong(ol);
        // The same bytes as `str16 domain || str16 op_type` in a node descriptor.
        return keccak256(abi.encodePacked(uint16(dl), _domain, uint16(ol), _opType));
    }

    // ================================================================== internals: proofs

    /// @dev Proves `_header` as graph leaf 0 (its own node count gives the list's size; a false count
    /// gives another list root) and returns its counts.
    function _proveHeader(uint256 _jobId, bytes32 _graphRoot, bytes calldata _header, bytes32[] calldata _proof)
        private
        view
        returns (Header memory h_)
    {
        if (_header.length < HEADER_FIXED || uint8(_header[0]) != 0x00) revert MalformedDescriptor(0);
        h_ = Header({
            nInputs: _read(_header, 1, 4, 0),
            nInitializers: _read(_header, 5, 4, 0),
            nNodes: _read(_header, 9, 4, 0),
            nValues: _read(_header, 13, 4, 0),
            nOutputs: _read(_header, 17, 4, 0)
        });
        _proveGraphLeaf(_jobId, _graphRoot, h_.nNodes, 0, _header, _proof);
    }

    function _proveGraphLeaf(
        uint256 _jobId,
        bytes32 _graphRoot,
        uint256 _nNodes,
        uint256 _leaf,
        bytes calldata _descriptor,
        bytes32[] calldata _proof
    ) private view {
        bytes32 item = TensorMerkle.hashDescriptor(_descriptor);
        if (!TensorMerkle.verifyListItem(_graphRoot, GRAPH_TAG, uint64(_nNodes + 1), _leaf, item, _proof)) {
            revert InvalidGraphProof(_jobId, _leaf);
        }
    }

    function _proveTraceItem(
        uint256 _jobId,
        bytes32 _traceRoot,
        uint256 _items,
        uint256 _item,
        bytes32 _tensorRoot,
        bytes32[] calldata _proof
    ) private view {
        if (!TensorMerkle.verifyListItem(_traceRoot, TRACE_TAG, uint64(_items), _item, _tensorRoot, _proof)) {
            revert InvalidTraceProof(_jobId, _item);
        }
    }

    /// @dev Verifies an opening of value `_valueId`: its chunks against its tensor root (in its
    /// layout's dims) and that root as trace item 2·valueId + layout.
    function _verifyOpening(uint256 _jobId, bytes32 _traceRoot, uint256 _items, uint256 _valueId, Opening calldata _o)
        private
        view
    {
        if (_o.dtype == 0) revert OperandNotOpened(_valueId);
        if (_o.layout > 1) revert InvalidLayout(_o.layout);
        uint64[] memory dims = _layoutDims(_o.dims, _o.layout);
        if (!TensorMerkle.verifyChunkRange(_o.tensorRoot, _o.dtype, dims, _o.firstLeaf, _o.data, _o.proof)) {
            revert InvalidChunkProof(_jobId, _valueId, _o.layout);
        }
        _proveTraceItem(_jobId, _traceRoot, _items, 2 * _valueId + _o.layout, _o.tensorRoot, _o.itemProof);
    }

    /// @dev A verified opening as the verifier's Operand: `first` is the first element of the first leaf.
    function _openOperand(uint256 _jobId, bytes32 _traceRoot, uint256 _items, uint256 _valueId, Opening calldata _o)
        private
        view
        returns (Operand memory op_)
    {
        _verifyOpening(_jobId, _traceRoot, _items, _valueId, _o);
        op_ = Operand({
            dtype: _o.dtype,
            dims: _o.dims,
            layout: _o.layout,
            first: uint256(_o.firstLeaf) * LEAF_SIZE / TensorMerkle.itemSize(_o.dtype),
            data: _o.data
        });
    }

    function _checkLengths(uint256 _expected, uint256 _roots, uint256 _proofs) private pure {
        if (_roots != _expected) revert LengthMismatch(_expected, _roots);
        if (_proofs != _expected) revert LengthMismatch(_expected, _proofs);
    }

    // ================================================================== internals: bytes

    /// @dev Big-endian unsigned integer of `_n` (≤ 32) bytes at `_off` of a descriptor.
    function _read(bytes calldata _b, uint256 _off, uint256 _n, uint256 _leaf) private pure returns (uint256 v_) {
        // INVARIANT: a descriptor is read only inside its bytes.
        if (_off + _n > _b.length) revert MalformedDescriptor(_leaf);
        assembly ("memory-safe") {
            v_ := shr(sub(256, shl(3, _n)), calldataload(add(_b.offset, _off)))
        }
    }

    /// @dev Offset of the first input name in a graph header (after the fixed part and the opsets).
    function _skipOpsets(bytes calldata _header) private pure returns (uint256 off_) {
        uint256 n = _read(_header, 21, 2, 0);
        off_ = HEADER_FIXED;
        for (uint256 i; i < n; ++i) {
            off_ += 2 + _read(_header, off_, 2, 0) + 8; // str16 domain || version u64
        }
    }

    /// @dev io root (docs/commitments.md §2) of `_n` header entries from `_off` paired with `_roots`:
    /// sha256(0x03 || n u32 || (str16 name || root)...). The names are copied as they stand in the
    /// header (str16 is the io list's `name_len u16 || name`). With `_withIds`, each entry is followed
    /// by a value id u32 in the header (the graph outputs), returned in `ids_`.
    function _ioRoot(bytes calldata _header, uint256 _off, uint256 _n, bytes32[] calldata _roots, bool _withIds)
        private
        view
        returns (bytes32 root_, uint256[] memory ids_)
    {
        ids_ = new uint256[](_withIds ? _n : 0);
        uint256 size = 5 + 32 * _n;
        uint256 off = _off;
        for (uint256 i; i < _n; ++i) {
            uint256 len = 2 + _read(_header, off, 2, 0);
            _read(_header, off, len, 0); // bounds check of the whole name (len may exceed 32: no value used)
            size += len;
            off += len;
            if (_withIds) {
                ids_[i] = _read(_header, off, 4, 0);
                off += 4;
            }
        }
        bytes memory buf = new bytes(size);
        off = _off;
        assembly ("memory-safe") {
            let p := add(buf, 0x20)
            mstore8(p, 0x03)
            mstore(add(p, 1), shl(224, _n))
            p := add(p, 5)
            for { let i := 0 } lt(i, _n) { i := add(i, 1) } {
                let src := add(_header.offset, off)
                let len := add(2, shr(240, calldataload(src)))
                calldatacopy(p, src, len)
                p := add(p, len)
                mstore(p, calldataload(add(_roots.offset, shl(5, i))))
                p := add(p, 32)
                off := add(off, len)
                if _withIds { off := add(off, 4) }
            }
        }
        root_ = sha256(buf);
    }

    /// @dev The dims of layout `_layout`: the logical dims with the last two swapped for layout 1.
    function _layoutDims(uint64[] calldata _dims, uint8 _layout) private pure returns (uint64[] memory dims_) {
        dims_ = _dims;
        uint256 r = dims_.length;
        if (_layout == 1 && r >= 2) (dims_[r - 2], dims_[r - 1]) = (dims_[r - 1], dims_[r - 2]);
    }

    function _sameDims(uint64[] calldata _a, uint64[] calldata _b) private pure returns (bool) {
        return keccak256(abi.encodePacked(_a)) == keccak256(abi.encodePacked(_b));
    }

    /// @dev Flat index in layout 1 of element `_index` (flat, layout 0): (…, r, c) → (…, c, r).
    function _transposedIndex(uint64[] calldata _dims, uint256 _index) private pure returns (uint256) {
        uint256 r = _dims.length;
        if (r < 2) return _index;
        uint256 rows = _dims[r - 2];
        uint256 cols = _dims[r - 1];
        uint256 plane = rows * cols;
        if (plane == 0) return _index; // an empty tensor has no element; _element reverts
        uint256 inPlane = _index % plane;
        return _index - inPlane + (inPlane % cols) * rows + inPlane / cols;
    }

    /// @dev The raw bytes of element `_index` (flat, in the opening's layout), which must lie in the opened data.
    function _element(Opening calldata _o, uint256 _index, uint256 _size) private pure returns (bytes calldata) {
        uint256 first = uint256(_o.firstLeaf) * LEAF_SIZE / _size;
        uint256 count = _o.data.length / _size;
        _requireOpened(_index, first, count);
        uint256 at = (_index - first) * _size;
        return _o.data[at:at + _size];
    }

    function _requireOpened(uint256 _index, uint256 _first, uint256 _count) private pure {
        if (_index < _first || _index >= _first + _count) revert ElementNotOpened(_index, _first, _count);
    }
}
