"""The fraud-proof game end to end on real models: real graph layouts and weights roots registered
with the model, real traces from onnxruntime (InferenceRunner.run(trace=True)), real Merkle proofs
built in Python by assay.fraud.calldata, and the verifier replaced by contracts/test/MockVerifier.

Who wins, with exact balances through the JobManager: a worker whose trace breaks a node, its
inputs, weights, outputs or layouts is slashed by a proof; a worker who stays silent or leaves a
demand unanswered is slashed by time-out; an honest worker against a griefing challenger keeps its
collateral and takes part of the bond. Wrong proofs (wrong node, sibling, value id) are rejected.
Gas of every proof entry point is measured here (docs/fraud-proofs.md, "The game").

This module also holds the fixtures and helpers test_disputegame.py imports (models, disputes,
balances). The MockVerifier stands in for the op verifiers: where a test needs a verdict, it is
computed here in Python from exactly the operands the game passes (pinned with expectCall).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

import numpy as np
import onnx
import pytest
from eth_abi import encode
from eth_utils import keccak
from onnx import TensorProto, helper, numpy_helper

from assay.commitments import codec
from assay.commitments.roots import (
    TRACE_TAG, graph_layout, io_root, io_root_of, list_root, onnx_tensor_root, tensor_root, weights_root,
)
from assay.fraud import calldata as cd
from assay.fraud.tracecommit import TraceCommitment, layout_array, trace_items, trace_root
from assay.inference.runner import InferenceRunner
from conftest import DEMAND, MODEL_FEE, TEST_PARAMS, WORKER_FEE, set_time
from test_jobmanager_errors import (  # noqa: F401  (_no_trace_printing_on_revert is an autouse fixture)
    BOND, BPS, CHALLENGED, COLLATERAL, FINALIZED, OPEN, PROTOCOL_FEE, _no_trace_printing_on_revert, reverts,
)

APPROX, NONE = 1, 2
REWARD = COLLATERAL * TEST_PARAMS.slash_challenger_bps // BPS
TO_REQUESTER = COLLATERAL * TEST_PARAMS.slash_requester_bps // BPS
TO_TREASURY = COLLATERAL - REWARD - TO_REQUESTER
BOND_TO_WORKER = BOND * TEST_PARAMS.bond_to_worker_bps // BPS
TRACE_URI = "assay://trace"
OPERAND = "(uint8,uint64[],uint8,uint256,bytes)"

# Resolution codes (IDisputeGame.Resolution)
BY_TIMEOUT, BY_ARBITER, BY_NODE, BY_INPUT, BY_WEIGHT, BY_OUTPUT, BY_LAYOUT, BY_NO_TRACE, BY_DEMAND = range(9)


# ---------------------------------------------------------------------------------------- models
def tiny_onnx(k: int = 48, n: int = 40, rows: int = 2) -> bytes:
    """x[rows,k] @ W[k,n] + b -> Relu -> Clip(min omitted, max scalar) -> Dropout(mask omitted) -> y.

    Values: 0 x, 1 W, 2 b, 3 maxv (rank 0), 4 mm, 5 add, 6 relu, 7 clip, 8 y. Clip has an absent
    input, Dropout an absent output."""
    rng = np.random.default_rng(7)
    w = rng.standard_normal((k, n)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["mm"]),
        helper.make_node("Add", ["mm", "b"], ["add"]),
        helper.make_node("Relu", ["add"], ["relu"]),
        helper.make_node("Clip", ["relu", "", "maxv"], ["clip"]),
        helper.make_node("Dropout", ["clip"], ["y", ""]),
    ]
    g = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, n])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b"),
         numpy_helper.from_array(np.array(1.5, np.float32), "maxv")],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="assay-tests")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m.SerializeToString()


@dataclass
class Model:
    """A registered model with one input, its honest canonical run and that run's committed trace."""

    mid: bytes
    onnx_bytes: bytes
    graph: object  # GraphLayout
    feed: dict
    outputs: dict  # graph outputs of the canonical run
    values: list  # every value by id (the honest trace)
    trace: TraceCommitment
    input_container: bytes
    input_root: bytes
    output_container: bytes
    output_root: bytes
    weights: list[bytes] = field(default_factory=list)

    def tampered(self, value_id: int, change) -> TraceCommitment:
        """The honest trace with value `value_id` replaced by change(copy of it)."""
        vals = [v.copy() for v in self.values]
        vals[value_id] = change(vals[value_id])
        return TraceCommitment.of(vals)


def canonical_run(onnx_bytes: bytes, feed: dict) -> tuple[dict, list, TraceCommitment]:
    """The worker's canonical run (optimisations off, every node output kept) and its trace."""
    mid = hashlib.sha256(onnx_bytes).hexdigest()
    out = InferenceRunner().run(mid, onnx_bytes, feed, trace=True)
    g = graph_layout(onnx.load_from_string(onnx_bytes))
    trace = TraceCommitment.of_execution(g, feed, out.trace)
    return dict(out), trace.values, trace


def register(registry, owner, onnx_bytes: bytes, feed: dict, vclass: int = APPROX) -> Model:
    """Registers the model (unless registered already) and runs it canonically on `feed`."""
    proto = onnx.load_from_string(onnx_bytes)
    g = graph_layout(proto)
    mid = hashlib.sha256(onnx_bytes).digest()
    if not any(registry.modelIdAt(i) == mid for i in range(registry.modelCount())):
        registry.registerModel(mid, ["ipfs://m"], MODEL_FEE, vclass, g.root, weights_root(proto), sender=owner)
    outputs, values, trace = canonical_run(onnx_bytes, feed)
    return Model(
        mid, onnx_bytes, g, feed, outputs, values, trace,
        codec.encode_tensors(feed), io_root_of(feed),
        codec.encode_tensors(outputs), io_root_of(outputs),
        [onnx_tensor_root(t) for t in proto.graph.initializer],
    )


@pytest.fixture(scope="module")
def tiny(registry, model_owner, funded):
    """The tiny MatMul/Add/Relu/Clip/Dropout model, class APPROX, with one real input."""
    x = np.random.default_rng(1).standard_normal((2, 48)).astype(np.float32)
    return register(registry, model_owner, tiny_onnx(), {"x": x})


@pytest.fixture(scope="module")
def tiny_none(registry, model_owner, funded):
    """The same graph registered under another id (one more output row) with class NONE."""
    x = np.random.default_rng(2).standard_normal((3, 48)).astype(np.float32)
    return register(registry, model_owner, tiny_onnx(rows=3), {"x": x}, vclass=NONE)


@pytest.fixture(scope="module")
def mlp(registry, model_owner, funded):
    """assay.modelzoo.digits_mlp (Cast, MatMul, Add, Relu, Softmax, ArgMax, ... two opsets, two outputs)."""
    from assay import modelzoo

    z = modelzoo.digits_mlp()
    return register(registry, model_owner, z.onnx_bytes, z.sample_inputs(1))


@pytest.fixture(scope="module")
def mock(project, owner, game):
    """A MockVerifier registered for every op of the tiny and digits models except Dropout and ArgMax."""
    v = owner.deploy(project.MockVerifier)
    for domain, op in [("", "MatMul"), ("", "Add"), ("", "Relu"), ("", "Clip"), ("", "Cast"), ("", "Softmax"),
                       ("ai.onnx.ml", "ArrayFeatureExtractor")]:
        game.setVerifier(domain, op, v, sender=owner)
    return v


@pytest.fixture(autouse=True)
def _session_state_first(owner, requester, worker, worker2, challenger, model_owner, treasury, arbiter, stack,
                         model, staked, tiny, tiny_none, mlp, mock):
    """Every session and module fixture these modules use, requested by every test, so that all of
    them exist before ape's first function snapshot of the module: a broader-scoped fixture first met
    in a later test makes ape "rebase" (restore the chain, re-run fixtures). The models and the mock
    are module-scoped, so that ape removes them at the module's end and other modules never see them."""


# ---------------------------------------------------------------------------------------- disputes
def report_gas(name: str, tx) -> None:
    """Prints the gas of a measured entry point (run with -s); docs/fraud-proofs.md quotes these."""
    print(f"\n  gas {name:<45} {tx.gas_used:>9,}")


def mined_at(chain, tx) -> int:
    return chain.blocks[tx.block_number].timestamp


def blob_hash(trace: TraceCommitment) -> bytes:
    """sha256 of a stand-in trace blob (the canonical container of every layout-0 value)."""
    return hashlib.sha256(codec.encode_tensors([(f"v{i}", v) for i, v in enumerate(trace.values)])).digest()


def challenged(jobs, make_job, worker, challenger, m: Model, *, output_root: bytes | None = None,
               input_root: bytes | None = None) -> int:
    """A job of model `m` on its real input, posted by `worker` with its real output (or `output_root`),
    challenged by `challenger`."""
    jid = make_job(model_id=m.mid, inputRoot=input_root or m.input_root, input=m.input_container)
    jobs.claim(jid, sender=worker)
    jobs.post(jid, output_root or m.output_root, m.output_container, "", sender=worker)
    jobs.challenge(jid, sender=challenger)
    return jid


def post_trace(game, worker, jid: int, trace: TraceCommitment):
    return game.postTrace(*cd.post_trace_args(jid, trace, blob_hash(trace), TRACE_URI), sender=worker)


def traced(jobs, game, make_job, worker, challenger, m: Model, trace: TraceCommitment | None = None, **kw) -> int:
    """A challenged job whose worker posted `trace` (the honest one by default)."""
    jid = challenged(jobs, make_job, worker, challenger, m, **kw)
    post_trace(game, worker, jid, trace or m.trace)
    return jid


def balances(jobs, stake, token, worker, *accounts) -> dict:
    """Everything a settlement may move: credits of each account, the worker's stake, tokens held."""
    return {
        "credits": {a.address: jobs.creditsOf(a) for a in (worker, *accounts)},
        "stake": tuple(stake.stakeOf(worker)[:2]),
        "held_stake": token.balanceOf(stake),
        "held_jobs": token.balanceOf(jobs),
    }


def assert_challenger_won(before, after, worker, challenger, requester, treasury, others=()):
    """The worker's collateral was slashed and split; the challenger got its bond back and the reward."""
    c0, c1 = before["credits"], after["credits"]
    assert c1[challenger.address] - c0[challenger.address] == BOND + REWARD
    assert c1[requester.address] - c0[requester.address] == TO_REQUESTER  # the job re-opens: no refund
    assert c1[treasury.address] - c0[treasury.address] == TO_TREASURY
    assert c1[worker.address] == c0[worker.address]
    for o in others:
        assert c1[o.address] == c0[o.address]
    active, locked = before["stake"]
    assert after["stake"] == (active - COLLATERAL, locked - COLLATERAL)
    assert after["held_stake"] == before["held_stake"] - COLLATERAL
    assert after["held_jobs"] == before["held_jobs"] + COLLATERAL


def assert_worker_won(before, after, worker, challenger, requester, treasury, model_owner):
    """The result stands: the worker is paid and takes its share of the bond; nothing is slashed."""
    c0, c1 = before["credits"], after["credits"]
    assert c1[worker.address] - c0[worker.address] == WORKER_FEE + BOND_TO_WORKER
    assert c1[treasury.address] - c0[treasury.address] == PROTOCOL_FEE + BOND - BOND_TO_WORKER
    assert c1[model_owner.address] - c0[model_owner.address] == MODEL_FEE
    assert c1[challenger.address] == c0[challenger.address] and c1[requester.address] == c0[requester.address]
    active, locked = before["stake"]
    assert after["stake"] == (active, locked - COLLATERAL)
    assert (after["held_stake"], after["held_jobs"]) == (before["held_stake"], before["held_jobs"])


def resolved(game, tx, jid, challenger_won: bool, by: int):
    ev = game.DisputeResolved.from_receipt(tx)[0]
    assert (ev.jobId, ev.challengerWon, ev.by) == (jid, challenger_won, by)
    assert game.disputeOf(jid)[2] is False and game.getDispute(jid).phase == 2


# ---------------------------------------------------------------------------------------- a Python verdict
def expected_call(args: cd.ProveNodeArgs) -> bytes:
    """keccak256 of the verifier's arguments, as the game must build them from these openings."""
    ins = [cd.operand_of(o) for o in args.inputs]
    out = cd.operand_of(args.output)
    return keccak(encode(["bytes", f"{OPERAND}[]", OPERAND, "uint256"], [args.descriptor, ins, out, args.outIndex]))


def element(op: cd.Operand, index: int) -> float:
    """Element `index` (flat, in the operand's layout) of a float32 operand, read as a verifier would."""
    at = (index - op.first) * 4
    assert 0 <= at < len(op.data), "the operand does not cover the element"
    return struct.unpack_from("<f", op.data, at)[0]


def matmul_consistent(args: cd.ProveNodeArgs) -> bool:
    """The MatMul check on the operands the game passes: |y - Σ a·b| ≤ γ_K·Σ|a·b| (+ tiny slack)."""
    a, b = (cd.operand_of(o) for o in args.inputs)
    y = cd.operand_of(args.output)
    (_, k), n = a.dims, b.dims[1]
    i, j = divmod(args.outIndex, n)
    assert b.layout == 1  # column j of B is row j of layout 1
    prods = [element(a, i * k + t) * element(b, j * k + t) for t in range(k)]
    u = 2.0**-24
    gamma = k * u / (1 - k * u)
    return abs(element(y, args.outIndex) - sum(prods)) <= gamma * sum(abs(p) for p in prods) + 2.0**-140


@dataclass(frozen=True)
class Need:  # the shape of assay.fraud.ops.Need
    input_index: int
    layout: int
    first: int
    count: int


def matmul_needs(m: int, k: int, n: int, out_index: int) -> list[Need]:
    i, j = divmod(out_index, n)
    return [Need(0, 0, i * k, k), Need(1, 1, j * k, k)]


def node_proof(m: Model, trace: TraceCommitment, jid: int, node: int, out_index: int, needs=()) -> cd.ProveNodeArgs:
    return cd.prove_node_args(jid, m.graph, trace, node, out_index, needs=needs)


# ======================================================================================== trace commitments
def test_trace_items_are_both_layouts_of_every_value_by_id():
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    v = np.arange(5, dtype=np.int64)
    s = np.array(3.0, np.float32)
    items = trace_items([a, v, s])
    swapped = np.swapaxes(a, -1, -2).copy()
    assert items == [tensor_root(a), tensor_root(swapped), tensor_root(v), tensor_root(v), tensor_root(s),
                     tensor_root(s)]
    assert trace_root([a, v, s]) == list_root(TRACE_TAG, items)
    # independently: sha256(0x07 || count u64 || tree root) over 6 items
    assert len(items) == 6 and tensor_root(swapped) != tensor_root(a)
    assert layout_array(a, 1).shape == (2, 4, 3) and layout_array(a, 1).flags.c_contiguous


def test_trace_of_a_real_run_matches_the_graph_layout(tiny):
    g = tiny.graph
    assert tiny.trace.n_values == len(g.values) == 9
    assert tiny.trace.item(0, 0) == tensor_root(tiny.feed["x"])
    for j, t in enumerate(onnx.load_from_string(tiny.onnx_bytes).graph.initializer):  # W, b, maxv
        assert tiny.trace.item(1 + j, 0) == onnx_tensor_root(t) == tiny.weights[j]
    out_vid = g.outputs[0][1]
    assert tiny.trace.item(out_vid, 0) == tensor_root(tiny.outputs["y"])  # the posted output is the trace's
    assert tiny.trace.item(1, 1) == tensor_root(np.swapaxes(tiny.values[1], 0, 1).copy())


def test_openings_cover_the_asked_elements_with_whole_leaves(tiny):
    o = cd.opening(tiny.trace, 1, 1, 5 * 48, 48)  # column 5 of W: row 5 of layout 1, 192 bytes from byte 960
    assert (o.layout, o.dims, o.firstLeaf) == (1, [48, 40], 7)
    assert len(o.data) == 2 * 128  # leaves 7 and 8 hold bytes [896, 1152)
    op = cd.operand_of(o)
    assert op.first == 7 * 32
    col = np.frombuffer(o.data, np.float32)[5 * 48 - op.first: 6 * 48 - op.first]
    assert np.array_equal(col, tiny.values[1][:, 5])
    assert cd.leaf_run(1, [2, 48], 95, 1) == (2, 3) and cd.leaf_run(1, [0], 0, 0) == (0, 1)
    assert cd.demanded_leaves(3, 1, 64) == (1, 3) and cd.demanded_leaves(3, 9, 2) == (2, 3)
    for dims in ([3, 4], [2, 3, 5], [7]):
        x = np.arange(int(np.prod(dims))).reshape(dims)
        t = np.swapaxes(x, -1, -2).reshape(-1) if len(dims) >= 2 else x
        assert all(t[cd.transposed_index(dims, i)] == x.reshape(-1)[i] for i in range(x.size))


# ======================================================================================== the game's flows
def test_silent_worker_loses_to_the_challenger_at_response_deadline(jobs, game, stake, token, make_job, tiny,
                                                                     worker, challenger, requester, treasury,
                                                                     accounts, chain):
    jid = challenged(jobs, make_job, worker, challenger, tiny)
    d = game.getDispute(jid)
    assert d.traceRoot == b"\0" * 32 and d.vclass == APPROX and d.graphRoot == tiny.graph.root
    before = balances(jobs, stake, token, worker, challenger, requester, treasury)
    set_time(chain, d.responseDeadline + 1)
    tx = game.resolveByTimeout(jid, sender=accounts[9])
    assert_challenger_won(before, balances(jobs, stake, token, worker, challenger, requester, treasury),
                          worker, challenger, requester, treasury)
    resolved(game, tx, jid, True, BY_NO_TRACE)
    assert jobs.getJob(jid).status == OPEN


def test_griefing_challenger_on_an_honest_result_loses_its_bond(jobs, game, stake, token, make_job, tiny, mock,
                                                                worker, challenger, requester, treasury,
                                                                model_owner, owner, chain):
    """Every proof against the honest trace fails; after the proof deadline the worker wins."""
    jid = traced(jobs, game, make_job, worker, challenger, tiny)
    args = node_proof(tiny, tiny.trace, jid, 0, 17, matmul_needs(2, 48, 40, 17))
    assert matmul_consistent(args)  # the Python verdict on the honest element
    mock.expectCall(expected_call(args), sender=owner)
    with reverts(game.ProofRejected, jobId=jid, node=0, outIndex=17):
        game.proveNode(*args, sender=challenger)
    with reverts(game.InputsMatch, jobId=jid):
        game.proveInputMismatch(*cd.prove_input_mismatch_args(jid, tiny.graph, tiny.trace), sender=challenger)
    with reverts(game.WeightMatches, jobId=jid, index=0):
        game.proveWeightMismatch(*cd.prove_weight_mismatch_args(jid, tiny.graph, tiny.trace, 0), sender=challenger)
    with reverts(game.OutputsMatch, jobId=jid):
        game.proveOutputMismatch(*cd.prove_output_mismatch_args(jid, tiny.graph, tiny.trace), sender=challenger)
    with reverts(game.LayoutsMatch, jobId=jid, valueId=1, index=100):
        game.proveLayoutMismatch(*cd.prove_layout_mismatch_args(jid, tiny.graph, tiny.trace, 1, 100),
                                 sender=challenger)
    before = balances(jobs, stake, token, worker, challenger, requester, treasury, model_owner)
    set_time(chain, game.getDispute(jid).proofDeadline + 1)
    tx = game.resolveByTimeout(jid, sender=challenger)
    assert_worker_won(before, balances(jobs, stake, token, worker, challenger, requester, treasury, model_owner),
                      worker, challenger, requester, treasury, model_owner)
    resolved(game, tx, jid, False, BY_TIMEOUT)
    assert jobs.getJob(jid).status == FINALIZED and jobs.getJob(jid).outputRoot == tiny.output_root


def test_node_proof_against_a_tampered_matmul_output_slashes_the_worker(jobs, game, stake, token, make_job, tiny,
                                                                        mock, worker, challenger, requester,
                                                                        treasury, owner):
    """The worker's MatMul output (value 4) is off by far more than float noise at element 17."""

    def bump(mm):
        mm.reshape(-1)[17] += 0.5
        return mm

    trace = tiny.tampered(4, bump)
    jid = traced(jobs, game, make_job, worker, challenger, tiny, trace)
    args = node_proof(tiny, trace, jid, 0, 17, matmul_needs(2, 48, 40, 17))
    assert not matmul_consistent(args)
    mock.expectCall(expected_call(args), sender=owner)  # the operands are exactly the proven openings
    mock.setAnswer(False, sender=owner)
    before = balances(jobs, stake, token, worker, challenger, requester, treasury)
    tx = game.proveNode(*args, sender=challenger)
    assert_challenger_won(before, balances(jobs, stake, token, worker, challenger, requester, treasury),
                          worker, challenger, requester, treasury)
    resolved(game, tx, jid, True, BY_NODE)
    report_gas("proveNode (tiny MatMul, K=48)", tx)


def test_a_third_party_proof_pays_the_challenger_not_the_sender(jobs, game, stake, token, make_job, tiny, mock,
                                                                worker, challenger, requester, treasury, owner,
                                                                accounts):
    """Front-running a proof gains nothing: the reward is credited to the bonded challenger."""
    trace = tiny.tampered(5, lambda a: a + 1)  # Add's output
    jid = traced(jobs, game, make_job, worker, challenger, tiny, trace)
    mock.setAnswer(False, sender=owner)
    watcher = accounts[9]
    before = balances(jobs, stake, token, worker, challenger, requester, treasury, watcher)
    game.proveNode(*node_proof(tiny, trace, jid, 1, 3), sender=watcher)
    assert_challenger_won(before, balances(jobs, stake, token, worker, challenger, requester, treasury, watcher),
                          worker, challenger, requester, treasury, others=(watcher,))


def test_input_mismatch_proof_slashes_a_worker_that_ran_another_input(jobs, game, stake, token, make_job, tiny,
                                                                      worker, challenger, requester, treasury):
    trace = tiny.tampered(0, lambda x: x * 2)
    jid = traced(jobs, game, make_job, worker, challenger, tiny, trace)
    before = balances(jobs, stake, token, worker, challenger, requester, treasury)
    tx = game.proveInputMismatch(*cd.prove_input_mismatch_args(jid, tiny.graph, trace), sender=challenger)
    assert_challenger_won(before, balances(jobs, stake, token, worker, challenger, requester, treasury),
                          worker, challenger, requester, treasury)
    resolved(game, tx, jid, True, BY_INPUT)
    report_gas("proveInputMismatch (1 input)", tx)


def test_weight_mismatch_proof_slashes_a_worker_that_used_other_weights(jobs, game, stake, token, make_job, tiny,
                                                                        worker, challenger, requester, treasury):
    trace = tiny.tampered(2, lambda b: b[::-1].copy())  # initializer 1 (b) reversed
    jid = traced(jobs, game, make_job, worker, challenger, tiny, trace)
    with reverts(game.WeightMatches, jobId=jid, index=0):  # W is untouched
        game.proveWeightMismatch(*cd.prove_weight_mismatch_args(jid, tiny.graph, trace, 0), sender=challenger)
    before = balances(jobs, stake, token, worker, challenger, requester, treasury)
    tx = game.proveWeightMismatch(*cd.prove_weight_mismatch_args(jid, tiny.graph, trace, 1), sender=challenger)
    assert_challenger_won(before, balances(jobs, stake, token, worker, challenger, requester, treasury),
                          worker, challenger, requester, treasury)
    resolved(game, tx, jid, True, BY_WEIGHT)
    report_gas("proveWeightMismatch", tx)


def test_output_mismatch_proof_slashes_a_worker_that_posted_another_output(jobs, game, stake, token, make_job,
                                                                           mlp, worker, challenger, requester,
                                                                           treasury):
    """The posted output root is not the io root of the trace's graph outputs (two outputs, two opsets)."""
    probs = mlp.outputs["probabilities"].copy()
    probs[0, 0] += 0.25
    posted = io_root([("label", tensor_root(mlp.outputs["label"])), ("probabilities", tensor_root(probs))])
    jid = traced(jobs, game, make_job, worker, challenger, mlp, output_root=posted)
    before = balances(jobs, stake, token, worker, challenger, requester, treasury)
    tx = game.proveOutputMismatch(*cd.prove_output_mismatch_args(jid, mlp.graph, mlp.trace), sender=challenger)
    assert_challenger_won(before, balances(jobs, stake, token, worker, challenger, requester, treasury),
                          worker, challenger, requester, treasury)
    resolved(game, tx, jid, True, BY_OUTPUT)
    report_gas("proveOutputMismatch (2 outputs)", tx)


def test_layout_mismatch_proof_slashes_a_worker_whose_transposed_copy_differs(jobs, game, stake, token, make_job,
                                                                              tiny, worker, challenger, requester,
                                                                              treasury):
    """Layout 1 of W (value 1) differs from layout 0 in one element: (r=3, c=7) vs (7, 3)."""
    pairs = [(v, layout_array(v, 1)) for v in tiny.values]
    bad = pairs[1][1].copy()
    bad[7, 3] += 1.0
    pairs[1] = (pairs[1][0], bad)
    trace = TraceCommitment.of_layouts(pairs)
    jid = traced(jobs, game, make_job, worker, challenger, tiny, trace)
    with reverts(game.LayoutsMatch, jobId=jid, valueId=1, index=0):
        game.proveLayoutMismatch(*cd.prove_layout_mismatch_args(jid, tiny.graph, trace, 1, 0), sender=challenger)
    before = balances(jobs, stake, token, worker, challenger, requester, treasury)
    tx = game.proveLayoutMismatch(*cd.prove_layout_mismatch_args(jid, tiny.graph, trace, 1, 3 * 40 + 7),
                                  sender=challenger)
    assert_challenger_won(before, balances(jobs, stake, token, worker, challenger, requester, treasury),
                          worker, challenger, requester, treasury)
    resolved(game, tx, jid, True, BY_LAYOUT)
    report_gas("proveLayoutMismatch", tx)


def test_layout_mismatch_of_dims_needs_no_element(jobs, game, make_job, tiny, worker, challenger):
    """A layout-1 copy of W committed untransposed ([48, 40] in its header) disagrees on dims alone."""
    pairs = [(v, layout_array(v, 1)) for v in tiny.values]
    pairs[1] = (pairs[1][0], pairs[1][0])
    trace = TraceCommitment.of_layouts(pairs)
    jid = traced(jobs, game, make_job, worker, challenger, tiny, trace)
    args = cd.prove_layout_mismatch_args(jid, tiny.graph, trace, 1, 0)
    assert args.layout1.dims == [40, 48] != args.layout0.dims
    tx = game.proveLayoutMismatch(*args, sender=challenger)
    resolved(game, tx, jid, True, BY_LAYOUT)


def test_wrong_proofs_are_rejected(jobs, game, make_job, tiny, mock, worker, challenger, owner):
    """Wrong node index, wrong sibling, wrong value id: each is refused and the dispute stays open."""
    trace = tiny.tampered(4, lambda a: a + 1)
    jid = traced(jobs, game, make_job, worker, challenger, tiny, trace)
    mock.setAnswer(False, sender=owner)  # a proof the game let through would win
    good = node_proof(tiny, trace, jid, 0, 5)
    # the descriptor of node 0 presented as node 1
    with reverts(game.InvalidGraphProof, jobId=jid, leaf=2):
        game.proveNode(*good._replace(node=1), sender=challenger)
    # one flipped sibling in the descriptor proof, in a chunk proof, in a trace item proof
    flip = lambda p: [bytes([p[0][0] ^ 1]) + p[0][1:]] + p[1:]  # noqa: E731
    with reverts(game.InvalidGraphProof, jobId=jid, leaf=1):
        game.proveNode(*good._replace(descriptorProof=flip(good.descriptorProof)), sender=challenger)
    w = good.inputs[1]
    with reverts(game.InvalidChunkProof, jobId=jid, valueId=1, layout=0):
        game.proveNode(*good._replace(inputs=[good.inputs[0], w._replace(proof=flip(w.proof))]), sender=challenger)
    with reverts(game.InvalidTraceProof, jobId=jid, item=2):
        game.proveNode(*good._replace(inputs=[good.inputs[0], w._replace(itemProof=flip(w.itemProof))]),
                       sender=challenger)
    # the opening of value 2 (b) where the node reads value 1 (W): its root is not trace item 2
    with reverts(game.InvalidTraceProof, jobId=jid, item=2):
        game.proveNode(*good._replace(inputs=[good.inputs[0], cd.opening(trace, 2, 0, 0, 1)]), sender=challenger)
    # an honest element of another job's trace
    with reverts(game.InvalidTraceProof, jobId=jid, item=8):
        game.proveNode(*good._replace(output=cd.opening(tiny.trace, 4, 0, 5, 1)), sender=challenger)
    assert game.disputeOf(jid)[2] and jobs.getJob(jid).status == CHALLENGED
    tx = game.proveNode(*good, sender=challenger)
    resolved(game, tx, jid, True, BY_NODE)


def test_node_proof_on_a_real_zoo_model(jobs, game, make_job, mlp, mock, worker, challenger, owner):
    """digits_mlp: the first MatMul (node 1: cast_input[1,64] @ coefficient[64,64]), column from layout 1."""
    ins, outs = cd.node_io(mlp.graph, 1)
    assert [mlp.graph.values[v] for v in ins + outs] == ["cast_input", "coefficient", "mul_result"]
    trace = mlp.tampered(outs[0], lambda a: a + 0.5)
    jid = traced(jobs, game, make_job, worker, challenger, mlp, trace)
    args = node_proof(mlp, trace, jid, 1, 9, matmul_needs(1, 64, 64, 9))
    assert not matmul_consistent(args)
    honest = node_proof(mlp, mlp.trace, jid, 1, 9, matmul_needs(1, 64, 64, 9))
    assert matmul_consistent(honest)
    mock.expectCall(expected_call(args), sender=owner)
    mock.setAnswer(False, sender=owner)
    tx = game.proveNode(*args, sender=challenger)
    resolved(game, tx, jid, True, BY_NODE)
    report_gas("proveNode (digits MatMul, K=64)", tx)


# ---------------------------------------------------------------------------------------- withholding
def test_withheld_chunk_demanded_and_answered_then_proven(jobs, game, make_job, tiny, mock, worker, challenger,
                                                          owner, chain):
    """The challenger demands column 5 of W (layout 1), the answer's event carries everything a proof
    needs, and the proof deadline moves to at least answer time + demandWindow."""
    trace = tiny.tampered(4, lambda a: a - 3)
    jid = traced(jobs, game, make_job, worker, challenger, tiny, trace)
    lo, hi = cd.leaf_run(1, [40, 48], 5 * 48, 48)
    proof_deadline = game.getDispute(jid).proofDeadline
    set_time(chain, proof_deadline - 3)  # a late demand, answered late: the deadline moves
    tx = game.demandChunk(*cd.demand_chunk_args(jid, tiny.graph, 1, 1, lo, hi - lo), sender=challenger)
    ev = game.ChunkDemanded.from_receipt(tx)[0]
    assert (ev.valueId, ev.layout, ev.firstLeaf, ev.leaves, ev.deadline) == (1, 1, lo, hi - lo,
                                                                             mined_at(chain, tx) + DEMAND)
    report_gas("demandChunk", tx)
    set_time(chain, proof_deadline - 1)
    tx = game.answerDemand(*cd.answer_demand_args(jid, trace, 1, 1, lo, hi - lo), sender=worker)
    report_gas("answerDemand (2 leaves)", tx)
    ans = game.DemandAnswered.from_receipt(tx)[0]
    extended = mined_at(chain, tx) + DEMAND
    assert ans.proofDeadline == extended == game.getDispute(jid).proofDeadline > proof_deadline
    answered = cd.opening_from_abi(ans.opening)
    assert answered == cd.opening(trace, 1, 1, 5 * 48, 48)  # chunks, dims, both proofs: all a proof needs
    # The answered opening goes into a node proof as it stands.
    args = node_proof(tiny, trace, jid, 0, 5, matmul_needs(2, 48, 40, 5))
    args = args._replace(inputs=[args.inputs[0], answered])
    assert not matmul_consistent(args)
    mock.setAnswer(False, sender=owner)
    set_time(chain, extended)
    tx = game.proveNode(*args, sender=challenger)
    resolved(game, tx, jid, True, BY_NODE)


def test_the_largest_demand_costs_the_worker_a_bounded_answer(jobs, game, make_job, mlp, worker, challenger):
    """64 leaves (8 KB) of digits' coefficient[64, 64] in layout 1: the most one demand can ask."""
    jid = traced(jobs, game, make_job, worker, challenger, mlp)
    game.demandChunk(*cd.demand_chunk_args(jid, mlp.graph, 1, 1, 32, cd.MAX_DEMAND_LEAVES), sender=challenger)
    args = cd.answer_demand_args(jid, mlp.trace, 1, 1, 32, cd.MAX_DEMAND_LEAVES)
    assert (args.answer.firstLeaf, len(args.answer.data)) == (32, 64 * 128)
    tx = game.answerDemand(*args, sender=worker)
    report_gas("answerDemand (64 leaves, the largest)", tx)
    assert tx.gas_used < 500_000 and game.getDispute(jid).demandDeadline == 0


def test_unanswered_demand_loses_for_the_worker(jobs, game, stake, token, make_job, tiny, worker, challenger,
                                                requester, treasury, accounts, chain):
    jid = traced(jobs, game, make_job, worker, challenger, tiny)
    game.demandChunk(*cd.demand_chunk_args(jid, tiny.graph, 6, 0, 0, 1), sender=challenger)
    deadline = game.getDispute(jid).demandDeadline
    assert game.disputeOf(jid)[1] == deadline
    before = balances(jobs, stake, token, worker, challenger, requester, treasury)
    set_time(chain, deadline + 1)
    tx = game.resolveByTimeout(jid, sender=accounts[9])
    assert_challenger_won(before, balances(jobs, stake, token, worker, challenger, requester, treasury),
                          worker, challenger, requester, treasury)
    resolved(game, tx, jid, True, BY_DEMAND)


def test_a_trace_root_that_opens_to_nothing_loses_by_demand(jobs, game, make_job, tiny, worker, challenger, chain):
    """A worker that posts a made-up root cannot answer any demand: the challenger wins."""
    jid = challenged(jobs, make_job, worker, challenger, tiny)
    game.postTrace(jid, b"\x5a" * 32, b"\0" * 32, "", sender=worker)
    game.demandChunk(*cd.demand_chunk_args(jid, tiny.graph, 0, 0, 0, 1), sender=challenger)
    honest = cd.answer_demand_args(jid, tiny.trace, 0, 0, 0, 1)  # the best the worker could send
    with reverts(game.InvalidTraceProof, jobId=jid, item=0):
        game.answerDemand(*honest, sender=worker)
    set_time(chain, game.getDispute(jid).demandDeadline + 1)
    tx = game.resolveByTimeout(jid, sender=challenger)
    resolved(game, tx, jid, True, BY_DEMAND)


# ---------------------------------------------------------------------------------------- class NONE
def test_class_none_dispute_is_decided_by_the_arbiter_only(jobs, game, stake, token, make_job, tiny_none, tiny,
                                                           worker, challenger, requester, treasury, arbiter, chain):
    jid = challenged(jobs, make_job, worker, challenger, tiny_none)
    d = game.getDispute(jid)
    assert (d.vclass, d.responseDeadline) == (NONE, 0) and d.proofDeadline == game.disputeOf(jid)[1]
    with reverts(game.ArbiterOnly, jobId=jid):
        post_trace(game, worker, jid, tiny_none.trace)
    with reverts(game.ArbiterOnly, jobId=jid):
        game.proveInputMismatch(*cd.prove_input_mismatch_args(jid, tiny_none.graph, tiny.trace), sender=challenger)
    with reverts(game.ArbiterOnly, jobId=jid):
        game.demandChunk(*cd.demand_chunk_args(jid, tiny_none.graph, 0, 0, 0, 1), sender=challenger)
    before = balances(jobs, stake, token, worker, challenger, requester, treasury)
    set_time(chain, d.proofDeadline)
    tx = game.arbitrate(jid, True, sender=arbiter)
    assert_challenger_won(before, balances(jobs, stake, token, worker, challenger, requester, treasury),
                          worker, challenger, requester, treasury)
    resolved(game, tx, jid, True, BY_ARBITER)
    report_gas("arbitrate(true): the settlement alone", tx)


def test_arbiter_cannot_decide_a_provable_model(jobs, game, make_job, tiny, worker, challenger, arbiter):
    jid = challenged(jobs, make_job, worker, challenger, tiny)
    with reverts(game.NotArbitrable, jobId=jid, vclass=APPROX):
        game.arbitrate(jid, True, sender=arbiter)
    assert game.disputeOf(jid)[2]


# ---------------------------------------------------------------------------------------- gas
def test_gas_of_a_matmul_proof_with_k_512(project, owner, registry, model_owner, jobs, game, make_job, mock, worker,
                                          challenger, funded):
    """PROTOCOL §6's case: one element of x[1,512] @ W[512,512], the column of W opened from layout 1
    (2 KB, 16 leaves), the row of x (2 KB) and the output chunk; the mock verifier's own cost is ~1k."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((512, 512)).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "k512",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 512])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 512])],
        [numpy_helper.from_array(w, "W")],
    )
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    feed = {"x": rng.standard_normal((1, 512)).astype(np.float32)}
    m = register(registry, model_owner, proto.SerializeToString(), feed)
    jid = make_job(model_id=m.mid, inputRoot=m.input_root, input=b"", inputURI="ipfs://x")
    jobs.claim(jid, sender=worker)
    jobs.post(jid, m.output_root, b"", "ipfs://y", sender=worker)
    jobs.challenge(jid, sender=challenger)
    trace = m.tampered(2, lambda y: y + 1)
    post_trace(game, worker, jid, trace)
    args = node_proof(m, trace, jid, 0, 300, matmul_needs(1, 512, 512, 300))
    assert [len(o.data) for o in args.inputs] == [2048, 2048] and len(args.output.data) == 128
    mock.setAnswer(False, sender=owner)
    tx = game.proveNode(*args, sender=challenger)
    report_gas("proveNode (MatMul K=512, mock verifier)", tx)
    assert tx.gas_used < 400_000
