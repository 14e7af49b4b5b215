"""ONNX model files: checking them and computing the commitments registered with a model.

Interim commitments (until the Merkle tensor commitments of docs/protocol.md land): the graph root is
sha256 over the deterministic serialization of the graph's nodes in order, the weights root sha256
over the ordered (name, dtype, dims, raw bytes) of the initializers. Both are recomputable by anyone
from the file. Never executes the model.
"""

from __future__ import annotations

import hashlib

from .errors import AssayError


class InvalidModel(AssayError, ValueError):
    """The bytes are not a loadable ONNX model."""


def load_onnx(data: bytes):
    import onnx

    try:
        model = onnx.load_from_string(data)
        onnx.checker.check_model(model)
    except Exception as e:  # onnx raises several unrelated types for bad bytes
        raise InvalidModel(
            f"not a valid ONNX model ({len(data)} bytes): {e}", "export the model again (e.g. torch.onnx.export, skl2onnx)"
        ) from e
    if len(model.graph.node) == 0:
        raise InvalidModel("the ONNX graph has no nodes", "export a model with at least one operator")
    return model


def model_roots(data: bytes) -> tuple[bytes, bytes]:
    """(graph_root, weights_root) of an ONNX file; raises InvalidModel for bad bytes."""
    from onnx import numpy_helper

    model = load_onnx(data)
    g = hashlib.sha256(b"assay.graph.v0")
    for node in model.graph.node:
        blob = node.SerializeToString(deterministic=True)
        g.update(len(blob).to_bytes(8, "big") + blob)
    w = hashlib.sha256(b"assay.weights.v0")
    for init in model.graph.initializer:
        arr = numpy_helper.to_array(init)
        header = f"{init.name}|{arr.dtype.str}|{','.join(map(str, arr.shape))}".encode()
        raw = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        w.update(len(header).to_bytes(8, "big") + header + len(raw).to_bytes(8, "big") + raw)
    return g.digest(), w.digest()
