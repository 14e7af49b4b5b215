"""The off-chain side of the dispute game: what the worker and the challenger send and read.

Reads a dispute's state (`getDispute` + the `TracePosted` event), and turns a worker's trace or a
challenger's finding into transactions through the SDK's single sender, with the arguments built by
`assay.fraud.calldata`. It decides nothing on its own: the daemons' loops call it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ..commitments.roots import graph_layout
from ..errors import AssayError
from ..models import load_onnx
from ..sdk import Assay
from . import calldata as cd
from .prover import Finding
from .trace import Trace
from .tracecommit import TraceCommitment

PHASE_OPEN = 1
VCLASS_NONE = 2


@dataclass(frozen=True)
class Dispute:
    job_id: int
    challenger: str
    worker: str
    phase: int
    vclass: int
    response_deadline: int
    proof_deadline: int
    demand_deadline: int
    demands_made: int
    max_demands: int
    demand: tuple[int, int, int, int]  # value id, layout, first leaf, leaves (outstanding demand)
    trace_root: bytes | None
    trace_hash: bytes | None
    trace_uri: str | None

    @property
    def open(self) -> bool:
        return self.phase == PHASE_OPEN

    def deadline(self) -> int:
        """The deadline that decides the dispute if nobody acts (mirrors DisputeGame._currentDeadline)."""
        if self.vclass == VCLASS_NONE:
            return self.proof_deadline
        if not self.trace_root:
            return self.response_deadline
        if self.demand_deadline:
            return self.demand_deadline
        return self.proof_deadline


def commit(trace: Trace) -> TraceCommitment:
    return TraceCommitment.of(trace.by_id())


class GameClient:
    def __init__(self, sdk: Assay):
        self.sdk = sdk
        self.game = sdk.c.game

    # ------------------------------------------------------------------ reading
    def dispute(self, job_id: int) -> Dispute:
        v = self.game.functions.getDispute(int(job_id)).call()
        (challenger, worker, phase, vclass, resp, proof, demand_dl, _pw, _dw, max_demands, made, dval, dlay, dfirst,
         dleaves, _g, _w, troot) = v
        root = bytes(troot) if int.from_bytes(bytes(troot), "big") else None
        thash = turi = None
        if root is not None:
            evs = self.sdk.events("TracePosted", contract="game", jobId=int(job_id))
            if evs:
                thash, turi = bytes(evs[-1]["args"]["traceHash"]), evs[-1]["args"]["traceURI"]
        return Dispute(int(job_id), challenger, worker, int(phase), int(vclass), int(resp), int(proof),
                       int(demand_dl), int(made), int(max_demands), (int(dval), int(dlay), int(dfirst), int(dleaves)),
                       root, thash, turi)

    def can_resolve(self, d: Dispute, now: int) -> bool:
        return d.open and now > d.deadline()

    def resolve(self, job_id: int) -> Any:
        return self.sdk._send(self.game.functions.resolveByTimeout(int(job_id)), "resolveByTimeout")

    # ------------------------------------------------------------------ worker side
    def post_trace(self, job_id: int, trace: Trace, blob_digest: str, uri: str) -> Any:
        tc = commit(trace)
        args = cd.post_trace_args(int(job_id), tc, bytes.fromhex(blob_digest), uri)
        return self.send("postTrace", args, "postTrace")

    def answer_demand(self, job_id: int, trace: Trace, d: Dispute) -> Any:
        value_id, layout, first, leaves = d.demand
        args = cd.answer_demand_args(int(job_id), commit(trace), value_id, layout, first, leaves)
        return self.send("answerDemand", args, "answerDemand")

    # ------------------------------------------------------------------ challenger side
    def fetch_trace(self, d: Dispute, store: Any, max_bytes: int = 512 * 2**20) -> bytes:
        if not d.trace_uri or not d.trace_hash:
            raise AssayError("the worker posted no trace URI", "demand chunks on-chain")
        return store.fetch([d.trace_uri], d.trace_hash.hex(), max_bytes)

    def trace_root_of(self, trace: Trace) -> bytes:
        return commit(trace).root

    def send(self, fn_name: str, args: tuple, label: str) -> Any:
        # web3 rebuilds NamedTuples field by field and fails on ours: send plain tuples.
        return self.sdk._send(getattr(self.game.functions, fn_name)(*_plain(args)), label)

    def prove(self, job_id: int, f: Finding, onnx_bytes: bytes, trace: Trace, input_raw: bytes, output_raw: bytes) -> Any:
        layout = graph_layout(load_onnx(onnx_bytes))
        tc = commit(trace)
        if f.kind == "input":
            return self.send("proveInputMismatch", cd.prove_input_mismatch_args(job_id, layout, tc), "proveInput")
        if f.kind == "output":
            return self.send("proveOutputMismatch", cd.prove_output_mismatch_args(job_id, layout, tc), "proveOutput")
        if f.kind == "weight":
            return self.send("proveWeightMismatch", cd.prove_weight_mismatch_args(job_id, layout, tc, f.index),
                              "proveWeight")
        if f.kind == "node":
            from .prover import node_needs

            model = load_onnx(onnx_bytes)
            node = model.graph.node[f.index]
            needs = node_needs(node, trace.values, f.element, f.output_slot)  # value-aware (Gather, Slice)
            args = cd.prove_node_args(job_id, layout, tc, f.index, f.element, out_pos=f.output_slot, needs=needs)
            return self.send("proveNode", args, "proveNode")
        raise AssayError(f"unknown finding kind {f.kind!r}")


def _plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return tuple(_plain(x) for x in v)
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def blob_digest(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()
