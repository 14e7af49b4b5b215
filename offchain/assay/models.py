"""ONNX model files: loading and checking them (the roots registered with a model are computed by
``assay.commitments.roots.model_roots``). Never executes the model.
"""

from __future__ import annotations

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
