// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IOpVerifier} from "./IOpVerifier.sol";
import {VerificationClass} from "../types/AssayTypes.sol";

/// @title IDisputeGame
/// @notice The contract that decides a challenged job. The JobManager hands a job over with
/// `open` and the game answers, exactly once per dispute, with `IJobManager.settleDispute`.
/// The game of docs/fraud-proofs.md: the worker posts the trace root of its canonical run, then
/// anyone may prove one inconsistency of that trace against the model's graph and weights roots
/// and the job's input and output roots (the reward always goes to the challenger who bonded);
/// the challenger may demand withheld chunks; models of class NONE are decided by an arbiter.
interface IDisputeGame {
    /// @notice Where a dispute stands.
    enum Phase {
        None, // never opened
        Open, // waiting for the trace, a proof, a demand's answer or a time-out
        Resolved // settled with the JobManager (a re-opened job may be challenged again)
    }

    /// @notice How a dispute was resolved: the `by` field of `DisputeResolved`.
    /// 0 and 1 keep the meaning they had in the interim game.
    enum Resolution {
        TimeoutNoProof, // 0: the proof window (or the arbiter's deadline) passed without a proof: worker wins
        Arbiter, // 1: decided by the arbiter (class NONE models only)
        NodeProof, // 2: a node's output element violates its op's check
        InputProof, // 3: the trace's graph inputs differ from the job's input root
        WeightProof, // 4: an initializer in the trace differs from the model's weights root
        OutputProof, // 5: the trace's graph outputs differ from the posted output root
        LayoutProof, // 6: the two layouts of one value disagree
        TimeoutNoTrace, // 7: the worker posted no trace root in time: challenger wins
        TimeoutDemandUnanswered // 8: the worker left a chunk demand unanswered: challenger wins
    }

    /// @notice One value of the worker's trace, opened: a run of whole chunks of its tensor in one
    /// layout, proven against the tensor root, and that tensor root proven as trace item
    /// `2·valueId + layout` (docs/fraud-proofs.md, "Execution mode and trace").
    struct Opening {
        uint8 dtype; // ONNX dtype code; 0 only for an absent optional node input (then all else empty)
        uint64[] dims; // the value's logical (layout 0, row-major) dims
        uint8 layout; // 0 row-major, 1 last two axes swapped (= layout 0 for rank < 2)
        uint64 firstLeaf; // first 128-byte leaf of `data` in the tensor of that layout
        bytes data; // the bytes of leaves [firstLeaf, ...): whole chunks, the last one may be the tensor's end
        bytes32[] proof; // range proof of `data` against `tensorRoot` (TensorMerkle.verifyChunkRange)
        bytes32 tensorRoot; // the value's tensor root in `layout`
        bytes32[] itemProof; // proof of `tensorRoot` as trace item 2·valueId + layout
    }

    /// @notice Everything stored about one dispute, as `getDispute` returns it.
    struct DisputeView {
        address challenger;
        address worker;
        Phase phase;
        VerificationClass vclass; // the model's class when the dispute opened
        uint40 responseDeadline; // last timestamp for postTrace (0 for class NONE)
        uint40 proofDeadline; // last timestamp for proofs and demands (0 before the trace; arbiter deadline for NONE)
        uint40 demandDeadline; // last timestamp to answer the outstanding demand (0: none outstanding)
        uint32 proofWindow; // snapshot of the game's windows at open
        uint32 demandWindow;
        uint8 maxDemands;
        uint8 demandsMade;
        uint32 demandValue; // the outstanding demand: value id, layout, first leaf, number of leaves
        uint8 demandLayout;
        uint64 demandFirstLeaf;
        uint8 demandLeaves;
        bytes32 graphRoot; // the model's roots when the dispute opened
        bytes32 weightsRoot;
        bytes32 traceRoot; // 0 until posted
    }

    // ------------------------------------------------------------------ errors: hand-off and resolution

    /// @notice Thrown when a caller other than the JobManager opens a dispute.
    /// @param caller who called
    error NotJobManager(address caller);
    /// @notice Thrown when a dispute for this job is already open.
    /// @param jobId the job
    error DisputeAlreadyOpen(uint256 jobId);
    /// @notice Thrown when no open dispute exists for this job.
    /// @param jobId the job
    error DisputeNotOpen(uint256 jobId);
    /// @notice Thrown when resolving by timeout before the deadline that applies now has passed.
    /// @param jobId the job
    /// @param deadline the deadline that applies now (response, demand, proof or arbiter deadline), inclusive
    error DisputeNotExpired(uint256 jobId, uint64 deadline);
    /// @notice Thrown when the arbiter acts after the dispute's deadline.
    /// @param jobId the job
    /// @param deadline last timestamp of the dispute
    error DisputeExpired(uint256 jobId, uint64 deadline);
    /// @notice Thrown when the arbiter decides a dispute over a model whose class has proofs (EXACT / APPROX).
    /// @param jobId the job
    /// @param vclass the model's verification class
    error NotArbitrable(uint256 jobId, VerificationClass vclass);
    /// @notice Thrown when a trace, demand or proof is sent for a model of class NONE (the arbiter decides those).
    /// @param jobId the job
    error ArbiterOnly(uint256 jobId);

    // ------------------------------------------------------------------ errors: trace and demands

    /// @notice Thrown when someone other than the job's worker posts the trace or answers a demand.
    /// @param jobId the job
    /// @param caller who called
    /// @param worker the job's worker
    error NotWorker(uint256 jobId, address caller, address worker);
    /// @notice Thrown when someone other than the challenger demands a chunk.
    /// @param jobId the job
    /// @param caller who called
    /// @param challenger the dispute's challenger
    error NotChallenger(uint256 jobId, address caller, address challenger);
    /// @notice Thrown when the trace root posted is zero.
    /// @param jobId the job
    error ZeroTraceRoot(uint256 jobId);
    /// @notice Thrown when the worker posts a second trace root.
    /// @param jobId the job
    error TraceAlreadyPosted(uint256 jobId);
    /// @notice Thrown when the worker posts the trace root after the response deadline.
    /// @param jobId the job
    /// @param responseDeadline last timestamp to post it
    error ResponseWindowClosed(uint256 jobId, uint64 responseDeadline);
    /// @notice Thrown when a demand or proof comes before the worker has posted its trace root.
    /// @param jobId the job
    error TraceNotPosted(uint256 jobId);
    /// @notice Thrown when a demand or proof comes after the proof deadline (and no demand is outstanding).
    /// @param jobId the job
    /// @param proofDeadline last timestamp of the proof window
    error ProofWindowClosed(uint256 jobId, uint64 proofDeadline);
    /// @notice Thrown when a demand is made while another one is still unanswered.
    /// @param jobId the job
    /// @param demandDeadline last timestamp to answer the outstanding demand
    error DemandOutstanding(uint256 jobId, uint64 demandDeadline);
    /// @notice Thrown when the challenger has used up its demands.
    /// @param jobId the job
    /// @param maxDemands demands allowed per dispute
    error TooManyDemands(uint256 jobId, uint8 maxDemands);
    /// @notice Thrown when a demand asks for no leaves or for more than MAX_DEMAND_LEAVES.
    /// @param leaves leaves asked for
    /// @param max the most one demand may ask for
    error DemandSizeOutOfBounds(uint256 leaves, uint256 max);
    /// @notice Thrown when the worker answers while no demand is outstanding.
    /// @param jobId the job
    error NoDemand(uint256 jobId);
    /// @notice Thrown when the worker answers a demand after its deadline.
    /// @param jobId the job
    /// @param demandDeadline last timestamp to answer
    error DemandExpired(uint256 jobId, uint64 demandDeadline);
    /// @notice Thrown when an answer does not hold exactly the demanded leaves (clipped to the tensor).
    /// @param jobId the job
    /// @param firstLeaf the first leaf the answer must start at
    /// @param expectedLeaves leaves the answer must hold
    /// @param givenLeaves leaves it holds
    error AnswerRangeMismatch(uint256 jobId, uint256 firstLeaf, uint256 expectedLeaves, uint256 givenLeaves);

    // ------------------------------------------------------------------ errors: proofs

    /// @notice Thrown when a graph descriptor is not leaf `leaf` of the model's graph root.
    /// @param jobId the job
    /// @param leaf graph leaf (0 the header, k + 1 node k)
    error InvalidGraphProof(uint256 jobId, uint256 leaf);
    /// @notice Thrown when a proven graph leaf is not a well-formed descriptor (docs/commitments.md §4).
    /// @param leaf graph leaf (0 the header, k + 1 node k)
    error MalformedDescriptor(uint256 leaf);
    /// @notice Thrown when a node index is not below the graph's node count.
    /// @param node the index given
    /// @param nodes nodes in the graph
    error NodeOutOfRange(uint256 node, uint256 nodes);
    /// @notice Thrown when a value id is not below the graph's value count.
    /// @param valueId the id given
    /// @param values values in the graph
    error ValueOutOfRange(uint256 valueId, uint256 values);
    /// @notice Thrown when an initializer index is not below the graph's initializer count.
    /// @param index the index given
    /// @param initializers initializers in the graph
    error InitializerOutOfRange(uint256 index, uint256 initializers);
    /// @notice Thrown when an output position is not below the node's output count.
    /// @param position the position given
    /// @param outputs the node's outputs
    error OutputOutOfRange(uint256 position, uint256 outputs);
    /// @notice Thrown when the node output to check is an omitted optional output.
    /// @param position its position among the node's outputs
    error OutputAbsent(uint256 position);
    /// @notice Thrown when an array has another length than the graph or node calls for.
    /// @param expected the length needed
    /// @param got the length given
    error LengthMismatch(uint256 expected, uint256 got);
    /// @notice Thrown when an omitted optional input is given data (its opening must be empty, dtype 0).
    /// @param position the input's position in the node
    error AbsentOperandOpened(uint256 position);
    /// @notice Thrown when a value that exists is given as absent (dtype 0).
    /// @param valueId the value
    error OperandNotOpened(uint256 valueId);
    /// @notice Thrown when a layout is not the one the proof needs (0 or 1; 0 for a checked output;
    /// 0 then 1 for a layout proof).
    /// @param layout the layout given
    error InvalidLayout(uint8 layout);
    /// @notice Thrown when an opening's chunks are not the leaves it claims of its tensor root.
    /// @param jobId the job
    /// @param valueId the value
    /// @param layout the layout
    error InvalidChunkProof(uint256 jobId, uint256 valueId, uint8 layout);
    /// @notice Thrown when a tensor root is not the trace item it claims to be.
    /// @param jobId the job
    /// @param item the trace item (2·valueId + layout)
    error InvalidTraceProof(uint256 jobId, uint256 item);
    /// @notice Thrown when a tensor root is not leaf `index` of the model's weights root.
    /// @param jobId the job
    /// @param index the initializer
    error InvalidWeightsProof(uint256 jobId, uint256 index);
    /// @notice Thrown when the element a proof is about lies outside the opened data.
    /// @param index the element (flat index in the opening's layout)
    /// @param first first element opened
    /// @param count elements opened
    error ElementNotOpened(uint256 index, uint256 first, uint256 count);
    /// @notice Thrown when no verifier is registered for a node's op: the node cannot be proven.
    /// @param domain the op's domain ("" for the default ONNX domain)
    /// @param opType the op type
    error NoVerifier(string domain, string opType);
    /// @notice Thrown when the op's verifier finds the output element consistent: no fraud shown.
    /// The challenger may try another element until the proof deadline.
    /// @param jobId the job
    /// @param node the node
    /// @param outIndex the output element checked
    error ProofRejected(uint256 jobId, uint256 node, uint256 outIndex);
    /// @notice Thrown when the trace's graph inputs hash to the job's input root: no mismatch.
    /// @param jobId the job
    error InputsMatch(uint256 jobId);
    /// @notice Thrown when the trace's initializer equals the weights root's leaf: no mismatch.
    /// @param jobId the job
    /// @param index the initializer
    error WeightMatches(uint256 jobId, uint256 index);
    /// @notice Thrown when the trace's graph outputs hash to the posted output root: no mismatch.
    /// @param jobId the job
    error OutputsMatch(uint256 jobId);
    /// @notice Thrown when both layouts agree on the element (and on dtype and dims): no mismatch.
    /// @param jobId the job
    /// @param valueId the value
    /// @param index the element (flat, layout 0)
    error LayoutsMatch(uint256 jobId, uint256 valueId, uint256 index);

    // ------------------------------------------------------------------ errors: governance

    /// @notice Thrown when a game parameter is outside its bounds.
    /// @param name the parameter (left-aligned bytes32 string)
    /// @param value the value asked for
    /// @param min smallest allowed
    /// @param max largest allowed
    error GameParamOutOfBounds(bytes32 name, uint256 value, uint256 min, uint256 max);
    /// @notice Thrown when an op's domain or type is longer than a descriptor can hold (65535 bytes).
    /// @param length its length in bytes
    error OpNameTooLong(uint256 length);
    /// @notice Thrown when the game is deployed for the zero JobManager.
    error ZeroJobManager();

    // ------------------------------------------------------------------ events

    /// @notice Emitted when a dispute opens.
    /// @param jobId the job
    /// @param challenger who challenged
    /// @param worker whose result is challenged
    /// @param deadline the first deadline: the response deadline, or the arbiter's deadline for class NONE
    event DisputeOpened(uint256 indexed jobId, address indexed challenger, address indexed worker, uint64 deadline);
    /// @notice Emitted when the worker posts the trace root of its canonical run.
    /// @param jobId the job
    /// @param traceRoot list_root(0x07, [layout-0 root, layout-1 root] per value id)
    /// @param traceHash sha256 of the trace blob (every value tensor, canonical container encoding)
    /// @param traceURI where the trace blob can be fetched (content-addressed by traceHash)
    /// @param proofDeadline last timestamp for proofs and demands
    event TracePosted(
        uint256 indexed jobId, bytes32 traceRoot, bytes32 traceHash, string traceURI, uint64 proofDeadline
    );
    /// @notice Emitted when the challenger demands chunks of one value of the trace.
    /// @param jobId the job
    /// @param valueId the value
    /// @param layout its layout
    /// @param firstLeaf first leaf demanded
    /// @param leaves number of leaves demanded
    /// @param deadline last timestamp for the worker to answer
    event ChunkDemanded(
        uint256 indexed jobId, uint32 valueId, uint8 layout, uint64 firstLeaf, uint8 leaves, uint64 deadline
    );
    /// @notice Emitted when the worker answers a demand: the chunks and every proof needed to use them.
    /// @param jobId the job
    /// @param valueId the value
    /// @param opening the answer (dtype, logical dims, layout, the leaves clipped to the tensor, both proofs)
    /// @param proofDeadline the proof deadline, extended to at least the answer time + demandWindow
    event DemandAnswered(uint256 indexed jobId, uint32 valueId, Opening opening, uint64 proofDeadline);
    /// @notice Emitted when a dispute is resolved.
    /// @param jobId the job
    /// @param challengerWon true: the worker is slashed; false: the result stands
    /// @param by how it was resolved: a `Resolution` (0 timeout without proof, 1 arbiter, 2..6 a proof,
    /// 7 no trace in time, 8 a demand left unanswered)
    event DisputeResolved(uint256 indexed jobId, bool challengerWon, uint8 by);
    /// @notice Emitted when governance registers, replaces or removes (zero address) an op's verifier.
    /// @param domain the op's domain ("" for the default ONNX domain; "ai.onnx" is stored as "")
    /// @param opType the op type
    /// @param verifier the verifier
    event VerifierSet(string domain, string opType, IOpVerifier verifier);
    /// @notice Emitted when governance changes the game's windows. Disputes keep the windows they opened with.
    /// @param responseWindow seconds the worker has to post the trace root
    /// @param proofWindow seconds, from the trace root, to prove an inconsistency
    /// @param demandWindow seconds the worker has to answer a demand (and the least time left to prove after an answer)
    /// @param maxDemands demands per dispute
    event DurationsUpdated(uint32 responseWindow, uint32 proofWindow, uint32 demandWindow, uint8 maxDemands);

    // ------------------------------------------------------------------ hand-off (JobManager)

    /// @notice Open a dispute (JobManager only). Reads the model's class and roots from the registry.
    /// @return deadline_ the first deadline (see `DisputeOpened`)
    function open(uint256 _jobId, address _challenger, address _worker) external returns (uint64 deadline_);
    /// @notice Longest a dispute can last from `open` to its last deadline, every demand included:
    /// responseWindow + proofWindow + 2·maxDemands·demandWindow (docs/fraud-proofs.md, "The game").
    function maxDuration() external view returns (uint64 duration_);

    // ------------------------------------------------------------------ the game

    /// @notice The worker posts the trace root of its canonical run, up to and including the response deadline.
    function postTrace(uint256 _jobId, bytes32 _traceRoot, bytes32 _traceHash, string calldata _traceURI) external;

    /// @notice Prove that output element `_outIndex` (flat, row-major) of output `_outPos` of node `_node`
    /// violates the node's op check against the node's own committed inputs. Anyone may call; the
    /// reward goes to the challenger. Reverts ProofRejected when the verifier finds the element consistent.
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
    ) external;

    /// @notice Prove that the trace's graph inputs (layout-0 items 2i) do not hash to the job's input root.
    function proveInputMismatch(
        uint256 _jobId,
        bytes calldata _header,
        bytes32[] calldata _headerProof,
        bytes32[] calldata _roots,
        bytes32[][] calldata _itemProofs
    ) external;

    /// @notice Prove that initializer `_index` in the trace (item 2·(nInputs + index)) differs from
    /// leaf `_index` of the model's weights root.
    function proveWeightMismatch(
        uint256 _jobId,
        bytes calldata _header,
        bytes32[] calldata _headerProof,
        uint256 _index,
        bytes32 _weightsLeaf,
        bytes32[] calldata _weightsProof,
        bytes32 _traceItem,
        bytes32[] calldata _itemProof
    ) external;

    /// @notice Prove that the trace's graph outputs (layout-0 items of their value ids) do not hash to
    /// the posted output root.
    function proveOutputMismatch(
        uint256 _jobId,
        bytes calldata _header,
        bytes32[] calldata _headerProof,
        bytes32[] calldata _roots,
        bytes32[][] calldata _itemProofs
    ) external;

    /// @notice Prove that layout 0 and layout 1 of value `_valueId` disagree: on dtype or dims, or on
    /// element `_index` (flat, layout 0) against its transposed position in layout 1.
    function proveLayoutMismatch(
        uint256 _jobId,
        bytes calldata _header,
        bytes32[] calldata _headerProof,
        uint256 _valueId,
        Opening calldata _layout0,
        Opening calldata _layout1,
        uint256 _index
    ) external;

    /// @notice The challenger demands leaves [firstLeaf, firstLeaf + leaves) of value `_valueId` in
    /// `_layout` while the proof window is open; the worker must answer within the demand window.
    function demandChunk(
        uint256 _jobId,
        bytes calldata _header,
        bytes32[] calldata _headerProof,
        uint32 _valueId,
        uint8 _layout,
        uint64 _firstLeaf,
        uint8 _leaves
    ) external;

    /// @notice The worker answers the outstanding demand with the demanded leaves (clipped to the
    /// tensor's end; a demand past the end is answered with the last leaf) and their proofs.
    function answerDemand(uint256 _jobId, Opening calldata _answer) external;

    /// @notice Resolve by time-out (anyone): no trace by the response deadline or a demand unanswered
    /// by its deadline → challenger wins; proof window (or arbiter deadline) over → worker wins.
    function resolveByTimeout(uint256 _jobId) external;

    /// @notice Decide a dispute over a class NONE model, up to and including its deadline (ARBITER_ROLE).
    function arbitrate(uint256 _jobId, bool _challengerWon) external;

    // ------------------------------------------------------------------ governance

    /// @notice Register (or remove, with the zero address) the verifier of one op (admin).
    function setVerifier(string calldata _domain, string calldata _opType, IOpVerifier _verifier) external;

    /// @notice Change the windows of disputes opened from now on (admin). When this game is the
    /// JobManager's, the stake unbonding delay must still outlast challengeWindow + maxDuration().
    function setDurations(uint32 _responseWindow, uint32 _proofWindow, uint32 _demandWindow, uint8 _maxDemands)
        external;

    // ------------------------------------------------------------------ views

    /// @notice A dispute's challenger, the deadline that applies now (response, demand, proof or
    /// arbiter deadline) and whether it is still open.
    function disputeOf(uint256 _jobId) external view returns (address challenger_, uint64 deadline_, bool open_);
    /// @notice Everything stored about a dispute.
    function getDispute(uint256 _jobId) external view returns (DisputeView memory dispute_);
    /// @notice The verifier of one op (zero if none).
    function verifierOf(string calldata _domain, string calldata _opType) external view returns (IOpVerifier verifier_);
    /// @notice The windows of disputes opened from now on.
    function durations()
        external
        view
        returns (uint32 responseWindow_, uint32 proofWindow_, uint32 demandWindow_, uint8 maxDemands_);
}
