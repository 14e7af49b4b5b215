"""Calldata of every DisputeGame entry point, built from Python-side data (docs/fraud-proofs.md).

The off-chain prover (a challenger) and the worker call these to turn what they hold — the model's
:class:`~assay.commitments.roots.GraphLayout`, the worker's committed trace
(:class:`~assay.fraud.tracecommit.TraceCommitment`) and the model's initializers — into the exact
arguments of ``postTrace``, ``proveNode``, ``proveInputMismatch``, ``proveWeightMismatch``,
``proveOutputMismatch``, ``proveLayoutMismatch``, ``demandChunk`` and ``answerDemand``. Each builder
returns a NamedTuple whose fields are the Solidity parameters in order, so ``game.proveNode(*args)``
works with ape or web3 (``Opening`` is the ``IDisputeGame.Opening`` struct as a tuple).

Every proof is cut with :mod:`assay.commitments` (the byte-exact twin of TensorMerkle.sol). This
module is pure: it never signs or sends a transaction, and never decides whether a proof will win —
it builds what was asked for, so that a test can also build a wrong proof on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from ..commitments import codec
from ..commitments.merkle import LEAF_SIZE, MerkleTree, leaf_count
from ..commitments.roots import GraphLayout, list_proof, onnx_tensor_root
from ..errors import AssayError
from .tracecommit import TraceCommitment, layout_shape

ABSENT = 0xFFFFFFFF
"""Value id of an omitted optional input or output in a descriptor."""
MAX_DEMAND_LEAVES = 64
"""The most leaves one demand may ask for (DisputeGame.MAX_DEMAND_LEAVES)."""


class CalldataError(AssayError, ValueError):
    """The arguments asked for cannot be built (an index outside the graph or tensor, a bad layout)."""


class Opening(NamedTuple):
    """IDisputeGame.Opening: a run of whole leaves of one value in one layout, with both proofs."""

    dtype: int
    dims: list[int]  # logical (layout 0) dims
    layout: int
    firstLeaf: int
    data: bytes
    proof: list[bytes]
    tensorRoot: bytes
    itemProof: list[bytes]


class Operand(NamedTuple):
    """IOpVerifier's Operand, as the game builds it from a verified Opening."""

    dtype: int
    dims: list[int]
    layout: int
    first: int
    data: bytes


ABSENT_OPENING = Opening(0, [], 0, 0, b"", [], b"\0" * 32, [])
ABSENT_OPERAND = Operand(0, [], 0, 0, b"")


class PostTraceArgs(NamedTuple):
    jobId: int
    traceRoot: bytes
    traceHash: bytes
    traceURI: str


class ProveNodeArgs(NamedTuple):
    jobId: int
    header: bytes
    headerProof: list[bytes]
    node: int
    descriptor: bytes
    descriptorProof: list[bytes]
    inputs: list[Opening]
    outPos: int
    output: Opening
    outIndex: int


class ProveIoArgs(NamedTuple):
    """proveInputMismatch / proveOutputMismatch."""

    jobId: int
    header: bytes
    headerProof: list[bytes]
    roots: list[bytes]
    itemProofs: list[list[bytes]]


class ProveWeightArgs(NamedTuple):
    jobId: int
    header: bytes
    headerProof: list[bytes]
    index: int
    weightsLeaf: bytes
    weightsProof: list[bytes]
    traceItem: bytes
    itemProof: list[bytes]


class ProveLayoutArgs(NamedTuple):
    jobId: int
    header: bytes
    headerProof: list[bytes]
    valueId: int
    layout0: Opening
    layout1: Opening
    index: int


class DemandArgs(NamedTuple):
    jobId: int
    header: bytes
    headerProof: list[bytes]
    valueId: int
    layout: int
    firstLeaf: int
    leaves: int


class AnswerArgs(NamedTuple):
    jobId: int
    answer: Opening


# ------------------------------------------------------------------------------------------ graph


def header_args(graph: GraphLayout) -> tuple[bytes, list[bytes]]:
    """(graph header descriptor, its proof as graph leaf 0)."""
    return graph.header, list_proof(graph.leaves, 0)


def descriptor_args(graph: GraphLayout, node: int) -> tuple[bytes, list[bytes]]:
    """(node descriptor, its proof as graph leaf node + 1)."""
    if not 0 <= node < len(graph.descriptors):
        raise CalldataError(f"node {node} out of range: the graph has {len(graph.descriptors)} nodes")
    return graph.descriptors[node], list_proof(graph.leaves, node + 1)


def node_io(graph: GraphLayout, node: int) -> tuple[list[int], list[int]]:
    """(input value ids, output value ids) of a node, read from its descriptor (ABSENT for empty ones)."""
    d, _ = descriptor_args(graph, node)
    dl = int.from_bytes(d[1:3], "big")
    ol = int.from_bytes(d[3 + dl : 5 + dl], "big")
    at = 5 + dl + ol
    n_in = int.from_bytes(d[at : at + 2], "big")
    ins = [int.from_bytes(d[at + 2 + 4 * i : at + 6 + 4 * i], "big") for i in range(n_in)]
    at += 2 + 4 * n_in
    n_out = int.from_bytes(d[at : at + 2], "big")
    outs = [int.from_bytes(d[at + 2 + 4 * i : at + 6 + 4 * i], "big") for i in range(n_out)]
    return ins, outs


# ------------------------------------------------------------------------------------------ openings


def leaf_run(code: int, shape: Sequence[int], first: int, count: int) -> tuple[int, int]:
    """Leaves [first_leaf, end_leaf) holding elements [first, first + count) of a tensor of this dtype
    and shape (at least one leaf, so an empty range still opens the leaf holding ``first``)."""
    size = codec.dtype_of(code).itemsize
    numel = 1
    for d in shape:
        numel *= int(d)
    if count < 0 or first < 0 or (numel and first + max(count, 1) > numel):
        raise CalldataError(
            f"elements [{first}, {first + count}) are not inside the {numel} elements of the tensor",
            "open elements of the tensor only",
        )
    n = leaf_count(numel * size)
    lo = first * size // LEAF_SIZE
    hi = -(-(first + count) * size // LEAF_SIZE)
    lo = min(lo, n - 1)
    return lo, min(max(hi, lo + 1), n)


def opening(trace: TraceCommitment, value_id: int, layout: int = 0, first: int = 0, count: int = 1) -> Opening:
    """Open elements [first, first + count) (flat, in ``layout``) of a value: the whole leaves that
    hold them, their range proof against the value's tensor root and that root's trace item proof."""
    tc = trace.tensor(value_id, layout)
    dims = list(layout_shape(tc.shape, layout))  # back to logical dims (the swap is its own inverse)
    lo, hi = leaf_run(tc.code, tc.shape, first, count)
    return opening_of_leaves(trace, value_id, layout, lo, hi, dims)


def opening_of_leaves(
    trace: TraceCommitment,
    value_id: int,
    layout: int,
    first_leaf: int,
    end_leaf: int,
    dims: Sequence[int] | None = None,
) -> Opening:
    """Open the leaves [first_leaf, end_leaf) of a value in a layout."""
    tc = trace.tensor(value_id, layout)
    if not 0 <= first_leaf < end_leaf <= tc.leaf_count:
        raise CalldataError(
            f"leaves [{first_leaf}, {end_leaf}) are not inside the {tc.leaf_count} leaves of value {value_id}",
            "open leaves of the tensor only",
        )
    if dims is None:
        dims = list(layout_shape(tc.shape, layout))
    return Opening(
        tc.code,
        [int(d) for d in dims],
        layout,
        first_leaf,
        tc.chunks(first_leaf, end_leaf),
        tc.range_proof(first_leaf, end_leaf),
        tc.root,
        trace.item_proof(value_id, layout),
    )


def opening_from_abi(v) -> Opening:
    """An Opening from its decoded ABI tuple (e.g. ``DemandAnswered.opening`` read from a log), ready
    to be passed back in a proof."""
    if isinstance(v, Mapping):  # a dict, or web3's AttributeDict (not a dict subclass)
        v = [v[f] for f in Opening._fields]
    dtype, dims, layout, first_leaf, data, proof, root, item_proof = v
    return Opening(
        int(dtype), [int(d) for d in dims], int(layout), int(first_leaf), bytes(data),
        [bytes(p) for p in proof], bytes(root), [bytes(p) for p in item_proof],
    )


def operand_of(o: Opening) -> Operand:
    """The Operand the game passes to the verifier for an opening (first = first element of its first leaf)."""
    if o.dtype == 0:
        return ABSENT_OPERAND
    size = codec.dtype_of(o.dtype).itemsize
    return Operand(o.dtype, list(o.dims), o.layout, o.firstLeaf * LEAF_SIZE // size, o.data)


def _merge_needs(needs: Iterable, n_inputs: int) -> dict[int, tuple[int, int, int]]:
    """{input position: (layout, first, end)} from objects with input_index, layout, first, count
    (assay.fraud.ops.Need), one contiguous run per input."""
    out: dict[int, tuple[int, int, int]] = {}
    for nd in needs:
        i, lay, first, count = int(nd.input_index), int(nd.layout), int(nd.first), int(nd.count)
        if not 0 <= i < n_inputs:
            raise CalldataError(f"a need names input {i}, the node has {n_inputs} inputs")
        if i in out:
            lay0, f0, e0 = out[i]
            if lay0 != lay:
                raise CalldataError(
                    f"input {i} is needed in layouts {lay0} and {lay}",
                    "a proof opens one run of one layout per input; check a different output element",
                )
            out[i] = (lay, min(f0, first), max(e0, first + count))
        else:
            out[i] = (lay, first, first + count)
    return out


# ------------------------------------------------------------------------------------------ entry points


def post_trace_args(job_id: int, trace: TraceCommitment, trace_hash: bytes, trace_uri: str) -> PostTraceArgs:
    """postTrace: the trace root, the sha256 of the trace blob and where the blob lies."""
    if len(trace_hash) != 32:
        raise CalldataError(f"trace hash has {len(trace_hash)} bytes, not 32", "pass the sha256 digest of the blob")
    return PostTraceArgs(job_id, trace.root, bytes(trace_hash), trace_uri)


def prove_node_args(
    job_id: int,
    graph: GraphLayout,
    trace: TraceCommitment,
    node: int,
    out_index: int,
    *,
    out_pos: int = 0,
    needs: Iterable = (),
) -> ProveNodeArgs:
    """proveNode for output element ``out_index`` (flat, row-major) of output ``out_pos`` of ``node``.

    ``needs`` (assay.fraud.ops.needs) says which elements of which input, in which layout, the check
    reads; an input no need names is opened at its first leaf (layout 0), so that its dims are proven.
    """
    header, header_proof = header_args(graph)
    descriptor, descriptor_proof = descriptor_args(graph, node)
    ins, outs = node_io(graph, node)
    if not 0 <= out_pos < len(outs) or outs[out_pos] == ABSENT:
        raise CalldataError(f"node {node} has no output at position {out_pos}")
    wanted = _merge_needs(needs, len(ins))
    openings = []
    for i, vid in enumerate(ins):
        if vid == ABSENT:
            openings.append(ABSENT_OPENING)
            continue
        lay, first, end = wanted.get(i, (0, 0, 1))
        openings.append(opening(trace, vid, lay, first, end - first))
    output = opening(trace, outs[out_pos], 0, out_index, 1)
    return ProveNodeArgs(
        job_id, header, header_proof, node, descriptor, descriptor_proof, openings, out_pos, output, out_index
    )


def _io_args(job_id: int, graph: GraphLayout, trace: TraceCommitment, value_ids: Sequence[int]) -> ProveIoArgs:
    header, header_proof = header_args(graph)
    return ProveIoArgs(
        job_id,
        header,
        header_proof,
        [trace.item(v, 0) for v in value_ids],
        [trace.item_proof(v, 0) for v in value_ids],
    )


def prove_input_mismatch_args(job_id: int, graph: GraphLayout, trace: TraceCommitment) -> ProveIoArgs:
    """proveInputMismatch: the layout-0 trace items of the graph inputs (values 0 .. n_inputs-1)."""
    return _io_args(job_id, graph, trace, range(len(graph.inputs)))


def prove_output_mismatch_args(job_id: int, graph: GraphLayout, trace: TraceCommitment) -> ProveIoArgs:
    """proveOutputMismatch: the layout-0 trace items of the graph outputs' value ids."""
    return _io_args(job_id, graph, trace, [vid for _, vid in graph.outputs])


def prove_weight_mismatch_args(
    job_id: int, graph: GraphLayout, trace: TraceCommitment, index: int, weights: Sequence[bytes] | None = None
) -> ProveWeightArgs:
    """proveWeightMismatch for initializer ``index``: its leaf of the weights root (from the model's
    initializers, or ``weights``, the list of initializer roots) and its layout-0 trace item."""
    if weights is None:
        weights = [onnx_tensor_root(t) for t in graph.initializers]
    if not 0 <= index < len(weights):
        raise CalldataError(f"initializer {index} out of range: the model has {len(weights)}")
    header, header_proof = header_args(graph)
    vid = len(graph.inputs) + index
    return ProveWeightArgs(
        job_id,
        header,
        header_proof,
        index,
        weights[index],
        MerkleTree(list(weights)).proof(index),
        trace.item(vid, 0),
        trace.item_proof(vid, 0),
    )


def transposed_index(dims: Sequence[int], index: int) -> int:
    """Flat index in layout 1 of element ``index`` (flat, layout 0): (…, r, c) → (…, c, r)."""
    if len(dims) < 2:
        return index
    rows, cols = int(dims[-2]), int(dims[-1])
    plane = rows * cols
    if plane == 0:
        return index
    base, in_plane = divmod(index, plane)
    r, c = divmod(in_plane, cols)
    return base * plane + c * rows + r


def prove_layout_mismatch_args(
    job_id: int, graph: GraphLayout, trace: TraceCommitment, value_id: int, index: int
) -> ProveLayoutArgs:
    """proveLayoutMismatch for element ``index`` (flat, layout 0) of a value and its transposed position."""
    header, header_proof = header_args(graph)
    o0 = opening(trace, value_id, 0, index, 1)
    o1 = opening(trace, value_id, 1, transposed_index(o0.dims, index), 1)
    return ProveLayoutArgs(job_id, header, header_proof, value_id, o0, o1, index)


def demand_chunk_args(
    job_id: int, graph: GraphLayout, value_id: int, layout: int, first_leaf: int, leaves: int
) -> DemandArgs:
    """demandChunk: leaves [first_leaf, first_leaf + leaves) of a value in a layout."""
    if not 1 <= leaves <= MAX_DEMAND_LEAVES:
        raise CalldataError(f"a demand asks for 1 to {MAX_DEMAND_LEAVES} leaves, not {leaves}")
    header, header_proof = header_args(graph)
    return DemandArgs(job_id, header, header_proof, value_id, layout, first_leaf, leaves)


def demanded_leaves(n_leaves: int, first_leaf: int, leaves: int) -> tuple[int, int]:
    """The run an answer must hold: the demand clipped to the tensor's ``n_leaves`` leaves; a demand
    that starts past the end is answered with the last leaf (the game's rule)."""
    end = min(first_leaf + leaves, n_leaves)
    if first_leaf >= end:
        return n_leaves - 1, n_leaves
    return first_leaf, end


def answer_demand_args(
    job_id: int, trace: TraceCommitment, value_id: int, layout: int, first_leaf: int, leaves: int
) -> AnswerArgs:
    """answerDemand for a demand (value, layout, first leaf, leaves), from the worker's own trace."""
    tc = trace.tensor(value_id, layout)
    lo, hi = demanded_leaves(tc.leaf_count, first_leaf, leaves)
    return AnswerArgs(job_id, opening_of_leaves(trace, value_id, layout, lo, hi))


__all__ = [
    "ABSENT", "ABSENT_OPENING", "ABSENT_OPERAND", "AnswerArgs", "CalldataError", "DemandArgs", "MAX_DEMAND_LEAVES",
    "Opening", "Operand", "PostTraceArgs", "ProveIoArgs", "ProveLayoutArgs", "ProveNodeArgs", "ProveWeightArgs",
    "answer_demand_args", "demand_chunk_args", "demanded_leaves", "descriptor_args", "header_args", "leaf_run",
    "node_io", "opening", "opening_from_abi", "opening_of_leaves", "operand_of", "post_trace_args",
    "prove_input_mismatch_args", "prove_layout_mismatch_args", "prove_node_args", "prove_output_mismatch_args",
    "prove_weight_mismatch_args", "transposed_index",
]
