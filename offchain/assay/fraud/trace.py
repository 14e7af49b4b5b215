"""Execution traces: every value of one canonical run (graph inputs, initializers, node outputs).

The worker runs each job in the canonical mode (graph optimisations off, every node output kept:
`InferenceRunner.run(..., trace=True)`) and posts the outputs of *that* run, so the trace it may be
asked for in a dispute holds exactly the bits it posted. A trace is stored as one tensor container
(docs/commitments.md §2) with the values in value-id order, named by value name. Pure functions
plus the runner call; never touches the chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..commitments import codec
from ..commitments.roots import GraphLayout, graph_layout
from ..errors import AssayError
from ..models import load_onnx


class TraceError(AssayError, ValueError):
    """A trace does not fit its model (missing values, wrong names)."""


@dataclass
class Trace:
    layout: GraphLayout
    values: dict[str, np.ndarray]  # every value of the graph, by name

    def by_id(self) -> list[np.ndarray]:
        return [self.values[n] for n in self.layout.values]

    def encode(self) -> bytes:
        return codec.encode_tensors([(n, self.values[n]) for n in self.layout.values])

    @classmethod
    def decode(cls, model: Any, blob: bytes) -> "Trace":
        layout = graph_layout(_model(model))
        items = codec.decode_tensors(blob)
        names = [n for n, _ in items]
        if names != layout.values:
            raise TraceError(
                f"the trace holds {len(names)} values that are not the model's {len(layout.values)} values in order",
                "the worker published a trace of another model or a malformed one",
            )
        return cls(layout, dict(items))


def _model(model: Any):
    return load_onnx(model) if isinstance(model, (bytes, bytearray)) else model


def initializer_values(model: Any) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in _model(model).graph.initializer}


def build_trace(runner: Any, model_id: str, onnx_bytes: bytes, inputs: Mapping[str, np.ndarray]):
    """Run the model canonically; (outputs, Trace). `outputs` are the graph outputs of that run."""
    outs = runner.run(model_id, onnx_bytes, dict(inputs), trace=True)
    model = load_onnx(onnx_bytes)
    layout = graph_layout(model)
    values: dict[str, np.ndarray] = {}
    values.update({k: np.asarray(v) for k, v in inputs.items()})
    values.update(initializer_values(model))
    values.update({k: np.asarray(v) for k, v in (outs.trace or {}).items()})
    values.update({k: np.asarray(v) for k, v in outs.items()})
    missing = [n for n in layout.values if n not in values]
    if missing:
        raise TraceError(f"the canonical run did not produce {missing[:3]}", "report this model: a value was not kept")
    return outs, Trace(layout, {n: values[n] for n in layout.values})
