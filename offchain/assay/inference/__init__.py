"""Running ONNX models: cached onnxruntime sessions, input validation and trace generation.

See :mod:`assay.inference.runner`.
"""

from .runner import (
    InferenceFailed,
    InferenceRunner,
    InputSpec,
    InputValidationError,
    ModelIdMismatch,
    ModelNotLoaded,
    ModelTooLarge,
    RunOutputs,
    SessionConfig,
    inputs_spec,
    trace_model,
    validate_inputs,
)

__all__ = [
    "InferenceFailed",
    "InferenceRunner",
    "InputSpec",
    "InputValidationError",
    "ModelIdMismatch",
    "ModelNotLoaded",
    "ModelTooLarge",
    "RunOutputs",
    "SessionConfig",
    "inputs_spec",
    "trace_model",
    "validate_inputs",
]
