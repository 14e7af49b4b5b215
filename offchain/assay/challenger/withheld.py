"""Proving fraud in a withheld trace with chunk demands (the challenger's search when the worker posts
a trace root but does not publish the trace).

Every opening the worker gives in answer to a demand (`DemandAnswered`, checked on-chain against its
trace root) is data a proof can use as it stands. From the model, the challenger's own canonical run,
the job's input, the posted output and those openings, :meth:`DemandSearch.next_step` decides the next
move: one more :class:`Demand`, a :class:`Proof` built from the openings alone, or :class:`GiveUp`.

1. An opened graph input, initializer or graph output whose tensor root is not the job's input, the
   model's weight or the posted output is proven at once (`proveInputMismatch` /
   `proveWeightMismatch` / `proveOutputMismatch`; the io proofs need every input/output opened).
2. Otherwise a binary search over the nodes (graph order is topological): a node is *bad* when the
   opened part of its first output differs from the challenger's own run beyond `rtol`/`atol` (a
   graph output is compared as posted, without a demand), *good* when it agrees. Between the last
   good and the first bad node, the middle node's output is demanded (up to 64 leaves), until they
   are adjacent: ⌈log₂ n_nodes⌉ demands at most.
3. The first bad node is checked with the one-step rule (`assay.fraud.ops.violations`) on the
   worker's opened values (the challenger's own values stand in for what is not opened yet); for the
   first violating element whose output the worker has opened or posted, the operand runs the
   check reads (`ops.needs`) are demanded where no answer covers them yet, then `proveNode` is sent.

Each step is decided from scratch from the answers on the chain (level-triggered), so a restart or a
repeated tick is harmless. Pure: never touches the chain; the challenger's loop sends what it returns.
Limits: a node output larger than 64 leaves (8 KB) is compared on its first 64 leaves only, and a
proof needs each operand run in one demand (≤ 64 leaves: a dot product of K ≤ 2048 float32).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..commitments import codec
from ..commitments.merkle import LEAF_SIZE, MerkleTree, leaf_count
from ..commitments.roots import ABSENT, GraphLayout, graph_layout, onnx_tensor_root, tensor_root
from ..fraud import calldata as cd
from ..fraud import ops
from ..fraud.tracecommit import initializer_array, layout_shape
from ..models import load_onnx


@dataclass(frozen=True)
class Demand:
    value_id: int
    layout: int
    first_leaf: int
    leaves: int
    why: str

    def args(self, job_id: int, graph: GraphLayout) -> cd.DemandArgs:
        return cd.demand_chunk_args(job_id, graph, self.value_id, self.layout, self.first_leaf, self.leaves)


@dataclass(frozen=True)
class Proof:
    kind: str  # "node" | "input" | "weight" | "output"
    function: str  # DisputeGame entry point
    args: tuple
    detail: str


@dataclass(frozen=True)
class GiveUp:
    reason: str


Step = Demand | Proof | GiveUp


@dataclass
class _Known:
    """What the answers revealed about one value: its layout-0 elements and the openings themselves."""

    values: np.ndarray  # layout 0, worker's elements where `have`, else the stand-in
    have: np.ndarray  # bool, layout 0
    openings: list[cd.Opening]


class DemandSearch:
    """The search for one dispute (see the module doc). `local` is the challenger's own canonical run
    (every value by name), `job_input` / `posted` the job's input and posted output tensors."""

    def __init__(self, onnx_bytes: bytes, local: Mapping[str, np.ndarray], job_input: Mapping[str, np.ndarray],
                 posted: Mapping[str, np.ndarray], *, rtol: float, atol: float):
        self.model = load_onnx(onnx_bytes)
        self.graph = graph_layout(self.model)
        self.nodes = list(self.model.graph.node)
        self.rtol, self.atol = rtol, atol
        g = self.graph
        n_in, n_init = len(g.inputs), len(g.initializers)
        self.output_names = {vid: name for name, vid in g.outputs}
        # The stand-in for each value until the worker opens it: what an honest trace holds as far as
        # the challenger knows — the job's input, the model's weights, the posted output, else its own run.
        self.expected: dict[int, np.ndarray] = {}
        self.local: dict[int, np.ndarray] = {}
        for vid, name in enumerate(g.values):
            own = np.asarray(local[name])
            self.local[vid] = own
            if vid < n_in:
                self.expected[vid] = np.asarray(job_input[name])
            elif vid < n_in + n_init:
                self.expected[vid] = initializer_array(g.initializers[vid - n_in])
            elif vid in self.output_names:
                self.expected[vid] = np.asarray(posted[self.output_names[vid]])
            else:
                self.expected[vid] = own
        self.n_in, self.n_init = n_in, n_init

    # ------------------------------------------------------------------ public
    def next_step(self, job_id: int, answers: Sequence[tuple[int, cd.Opening]], demands_left: int) -> Step:
        known = self._known(answers)
        step = self._io_mismatch(job_id, known)
        if step is not None:
            return self._affordable(step, demands_left)
        status = {k: self._status(k, known) for k in range(len(self.nodes))}
        bad = [k for k, s in status.items() if s == "bad"]
        if not bad:
            return GiveUp("no node output differs from the local run (the posted output agrees with it)")
        hi = bad[0]
        lo = max((k for k in range(hi) if status[k] == "good"), default=-1)
        if hi - lo > 1:
            mid = (lo + hi) // 2
            vid = self._probe_value(mid)
            n = self._leaves(vid, 0)
            return self._affordable(Demand(vid, 0, 0, min(n, cd.MAX_DEMAND_LEAVES),
                                           f"node {mid} output (search between nodes {lo} and {hi})"), demands_left)
        return self._affordable(self._prove_node(job_id, hi, known), demands_left)

    # ------------------------------------------------------------------ what the answers say
    def _known(self, answers: Sequence[tuple[int, cd.Opening]]) -> dict[int, _Known]:
        out: dict[int, _Known] = {}
        for vid, o in answers:
            k = out.get(vid)
            if k is None:
                base = np.array(self.expected[vid], copy=True)
                k = out[vid] = _Known(base, np.zeros(base.shape, dtype=bool), [])
            k.openings.append(o)
            dt = codec.dtype_of(o.dtype).np
            size = dt.itemsize
            numel = k.values.size
            first = o.firstLeaf * LEAF_SIZE // size
            count = max(0, min(len(o.data) // size, numel - first))
            data = np.frombuffer(o.data[: count * size], dtype=dt)
            idx = np.arange(first, first + count, dtype=np.int64)
            if o.layout == 1 and len(o.dims) >= 2:  # (…, c, r) in layout 1 → (…, r, c) in layout 0
                rows, cols = int(o.dims[-2]), int(o.dims[-1])
                base, in_plane = np.divmod(idx, rows * cols)
                c, r = np.divmod(in_plane, rows)
                idx = base * rows * cols + r * cols + c
            if k.values.dtype != data.dtype or list(k.values.shape) != list(o.dims):
                # Not the value's expected dtype/shape: hold the worker's own (its root differs anyway).
                k.values = np.zeros(tuple(o.dims), dtype=dt)
                k.have = np.zeros(k.values.shape, dtype=bool)
            k.values.reshape(-1)[idx] = data
            k.have.reshape(-1)[idx] = True
        return out

    def _root(self, known: dict[int, _Known], vid: int, layout: int = 0) -> cd.Opening | None:
        k = known.get(vid)
        return next((o for o in k.openings if o.layout == layout), None) if k else None

    def _io_mismatch(self, job_id: int, known: dict[int, _Known]) -> Step | None:
        g = self.graph
        header, header_proof = cd.header_args(g)
        for j, init in enumerate(g.initializers):
            o = self._root(known, self.n_in + j)
            if o is not None and o.tensorRoot != onnx_tensor_root(init):
                weights = [onnx_tensor_root(t) for t in g.initializers]
                args = cd.ProveWeightArgs(job_id, header, header_proof, j, weights[j], MerkleTree(weights).proof(j),
                                          o.tensorRoot, o.itemProof)
                return Proof("weight", "proveWeightMismatch", args, f"initializer {init.name!r} is not the model's")
        for kind, vids, want in (
            ("input", list(range(self.n_in)), lambda v: tensor_root(self.expected[v])),
            ("output", [vid for _, vid in g.outputs], lambda v: tensor_root(self.expected[v])),
        ):
            opened = {v: self._root(known, v) for v in vids}
            if not any(o is not None and o.tensorRoot != want(v) for v, o in opened.items()):
                continue
            missing = [v for v, o in opened.items() if o is None]
            if missing:
                return Demand(missing[0], 0, 0, 1, f"graph {kind} value {missing[0]}: the {kind} proof needs every one")
            args = cd.ProveIoArgs(job_id, header, header_proof, [opened[v].tensorRoot for v in vids],
                                  [opened[v].itemProof for v in vids])
            fn = "proveInputMismatch" if kind == "input" else "proveOutputMismatch"
            return Proof(kind, fn, args, f"a graph {kind} of the trace is not the job's")
        return None

    def _probe_value(self, k: int) -> int:
        _ins, outs = cd.node_io(self.graph, k)
        return next(v for v in outs if v != ABSENT)

    def _leaves(self, vid: int, layout: int) -> int:
        a = self.expected[vid]
        return leaf_count(a.size * a.dtype.itemsize)

    def _status(self, k: int, known: dict[int, _Known]) -> str:
        vid = self._probe_value(k)
        if vid in self.output_names:  # the posted output stands for the trace's (else an output proof)
            worker, mask = self.expected[vid], None
        elif vid in known:
            worker, mask = known[vid].values, known[vid].have
        else:
            return "unknown"
        return "good" if self._agrees(worker, self.local[vid], mask) else "bad"

    def _agrees(self, worker: np.ndarray, own: np.ndarray, mask: np.ndarray | None) -> bool:
        if worker.shape != own.shape or worker.dtype != own.dtype:
            return False
        w, o = worker.reshape(-1), own.reshape(-1)
        if mask is not None:
            w, o = w[mask.reshape(-1)], o[mask.reshape(-1)]
        if w.dtype.kind == "f":
            return bool(np.allclose(w, o, rtol=self.rtol, atol=self.atol))
        return bool(np.array_equal(w, o))

    # ------------------------------------------------------------------ the proof of one node
    def _value(self, vid: int, known: dict[int, _Known]) -> np.ndarray:
        return known[vid].values if vid in known else self.expected[vid]

    def _output_known(self, vid: int, known: dict[int, _Known]) -> np.ndarray:
        if vid in self.output_names:
            return np.ones(self.expected[vid].shape, dtype=bool)
        return known[vid].have if vid in known else np.zeros(self.expected[vid].shape, dtype=bool)

    def _prove_node(self, job_id: int, k: int, known: dict[int, _Known]) -> Step:
        node = self.nodes[k]
        if not ops.supported(node.domain, node.op_type):
            return GiveUp(f"node {k} ({node.op_type}) has no one-step check")
        ins, outs = cd.node_io(self.graph, k)
        out_pos = next(i for i, v in enumerate(outs) if v != ABSENT)
        out_vid = outs[out_pos]
        inputs = [None if v == ABSENT else self._value(v, known) for v in ins]
        output = self._value(out_vid, known)
        try:
            bad = ops.violations(node, inputs, output)
        except ops.Unsupported as e:
            return GiveUp(f"node {k} ({node.op_type}): {e}")
        seen = self._output_known(out_vid, known).reshape(-1)
        bad = [int(e) for e in bad if seen[int(e)]]
        if not bad:
            return GiveUp(f"node {k} ({node.op_type}) differs from the local run but stays within its bound")
        e = bad[0]
        shapes = [None if a is None else (codec.dtype_code(a.dtype), a.shape) for a in inputs]
        needs = cd._merge_needs(ops.needs(node, shapes, (codec.dtype_code(output.dtype), output.shape), e), len(ins))
        openings: list[cd.Opening] = []
        for i, vid in enumerate(ins):
            if vid == ABSENT:
                openings.append(cd.ABSENT_OPENING)
                continue
            layout, first, end = needs.get(i, (0, 0, 1))
            got = self._covering(known, vid, layout, first, end - first, any_run=i not in needs)
            if isinstance(got, Demand | GiveUp):
                return got
            openings.append(got)
        out = self._covering(known, out_vid, 0, e, 1, any_run=False)
        if isinstance(out, Demand | GiveUp):
            return out
        if ops.check_element(node, inputs, output, e):  # cannot happen: the element was a violation
            return GiveUp(f"node {k} element {e} is consistent with the opened operands")
        header, header_proof = cd.header_args(self.graph)
        descriptor, descriptor_proof = cd.descriptor_args(self.graph, k)
        args = cd.ProveNodeArgs(job_id, header, header_proof, k, descriptor, descriptor_proof, openings, out_pos, out, e)
        return Proof("node", "proveNode", args, f"node {k} ({node.op_type}) output element {e} is outside its bound")

    def _covering(self, known: dict[int, _Known], vid: int, layout: int, first: int, count: int,
                  any_run: bool) -> cd.Opening | Demand | GiveUp:
        """An answered opening of `vid` holding elements [first, first + count) in `layout` (any opening
        in layout 0 when `any_run`), else the demand for the leaves that hold them."""
        a = self.expected[vid]
        shape = layout_shape(a.shape, layout)
        lo, hi = cd.leaf_run(codec.dtype_code(a.dtype), shape, first, count)
        for o in known[vid].openings if vid in known else []:
            n = -(-len(o.data) // LEAF_SIZE)  # the tensor's last leaf may be short
            if o.layout == layout and (any_run or (o.firstLeaf <= lo and hi <= o.firstLeaf + n)):
                return o
        if hi - lo > cd.MAX_DEMAND_LEAVES:
            return GiveUp(f"value {vid} would need {hi - lo} leaves in one opening (a demand holds at most "
                          f"{cd.MAX_DEMAND_LEAVES})")
        return Demand(vid, layout, lo, hi - lo, f"operand of the proof: value {vid} layout {layout} leaves {lo}..{hi - 1}")

    @staticmethod
    def _affordable(step: Step, demands_left: int) -> Step:
        if isinstance(step, Demand) and demands_left <= 0:
            return GiveUp(f"out of demands (next would be: {step.why})")
        return step


def answers_of(events: Sequence[Any]) -> list[tuple[int, cd.Opening]]:
    """(value id, opening) of each `DemandAnswered` event (web3 decodes the struct as a mapping)."""
    return [(int(ev["args"]["valueId"]), cd.opening_from_abi(ev["args"]["opening"])) for ev in events]


__all__ = ["Demand", "DemandSearch", "GiveUp", "Proof", "Step", "answers_of"]
