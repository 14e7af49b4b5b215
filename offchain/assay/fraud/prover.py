"""Finding the cheapest provable inconsistency in a worker's trace (the challenger's search).

Order, cheapest proof first: a graph input that is not the job's input; a graph output that is not
the posted output; an initializer that is not the model's weight; then each node in graph order,
checked element by element against the worker's *own* committed inputs with the same rule the
on-chain verifier applies (`assay.fraud.ops`). Because every node is checked against its own
inputs, float noise never accumulates and an honest trace yields no finding on any machine.
Pure: never touches the chain; the challenger turns a Finding into a transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..commitments import codec
from ..commitments.roots import onnx_tensor_root, tensor_root
from ..models import load_onnx
from .trace import Trace


@dataclass(frozen=True)
class Finding:
    kind: str  # "input" | "output" | "weight" | "node"
    index: int  # graph input / graph output / initializer / node index
    element: int | None = None  # flat output element (kind "node")
    output_slot: int = 0  # which output of the node
    detail: str = ""


@dataclass
class SearchReport:
    finding: Finding | None
    nodes_checked: int = 0
    unsupported: list[str] = field(default_factory=list)  # op types the search could not check


def find_fraud(onnx_bytes: bytes, trace: Trace, input_container: bytes, output_container: bytes) -> SearchReport:
    model = load_onnx(onnx_bytes)
    layout = trace.layout
    inputs = dict(codec.decode_tensors(input_container))
    for i, name in enumerate(layout.inputs):
        if name not in inputs or tensor_root(trace.values[name]) != tensor_root(inputs[name]):
            return SearchReport(Finding("input", i, detail=f"graph input {name!r} differs from the job's input"))
    posted = dict(codec.decode_tensors(output_container))
    for k, (name, vid) in enumerate(layout.outputs):
        value = trace.values[layout.values[vid]]
        if name not in posted or tensor_root(value) != tensor_root(posted[name]):
            return SearchReport(Finding("output", k, detail=f"graph output {name!r} differs from the posted output"))
    for j, init in enumerate(layout.initializers):
        if tensor_root(trace.values[init.name]) != onnx_tensor_root(init):
            return SearchReport(Finding("weight", j, detail=f"initializer {init.name!r} differs from the model's"))
    from . import ops

    report = SearchReport(None)
    for k, node in enumerate(model.graph.node):
        if not ops.supported(node.domain, node.op_type):
            report.unsupported.append(node.op_type)
            continue
        ins = [trace.values[n] if n else None for n in node.input]
        for slot, out_name in enumerate(node.output[:1]):  # verifiers check a node's first output
            bad = ops.violations(node, ins, trace.values[out_name])
            report.nodes_checked += 1
            if len(bad):
                report.finding = Finding("node", k, int(bad[0]), slot,
                                         f"node {k} ({node.op_type}) output element {int(bad[0])} is outside its bound")
                return report
    return report


def node_needs(node, values: Mapping[str, np.ndarray], out_index: int, output_slot: int = 0) -> list:
    """The input elements a proof of output element ``out_index`` of ``node`` must open, read from
    the trace's own values (``values`` by name): every input's and the output's dtype and shape,
    and for Gather and Slice the values of the small integer inputs that decide which data element
    the check reads (``ops.needs(..., inputs=)``). Pass the result to ``calldata.prove_node_args``."""
    from . import ops

    ins = [values[n] if n else None for n in node.input]
    out = np.asarray(values[node.output[output_slot]])
    metas = [None if a is None else (codec.dtype_code(np.asarray(a).dtype), np.shape(a)) for a in ins]
    return ops.needs(node, metas, (codec.dtype_code(out.dtype), out.shape), int(out_index), inputs=ins)


def outputs_close(a: dict[str, np.ndarray], b: dict[str, np.ndarray], rtol: float, atol: float) -> bool:
    """Whether two output sets agree within tolerance (floats) or exactly (ints): never raw bits."""
    if set(a) != set(b):
        return False
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if x.dtype.kind == "f":
            if not np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=False):
                return False
        elif not np.array_equal(x, y):
            return False
    return True


def describe(f: Finding | None) -> str:
    return "no inconsistency" if f is None else f"{f.kind} {f.index}: {f.detail}"


__all__ = ["Finding", "SearchReport", "find_fraud", "node_needs", "outputs_close", "describe", "Any"]
