"""Inference runner: onnxruntime sessions cached per model, strict input checks, optional traces.

A worker or challenger hands the runner a model id (the sha256 of the ONNX bytes), the bytes and a
feed of numpy arrays. The runner checks the bytes against the id, builds an onnxruntime session with
explicit, reportable options (threads, graph optimisation level, providers), keeps it in an LRU cache
bounded by session count and total model bytes, validates the feed against the model's declared
inputs (names, dtypes, ranks, fixed and symbolic dims, element counts, NaN/Inf) and returns the
outputs in the model's output order with timings and the runtime facts a receipt needs.

``trace=True`` runs a canonical copy of the model: graph optimisations off (so no node is fused or
dropped) and every top-level node output added as a graph output, and returns all those values (the
material of the trace root, PROTOCOL §5–6). Values inside If/Loop subgraphs are not exposed.

The runner must never crash on bad input or a bad model: it raises typed :class:`AssayError`\\ s that
say what was wrong and what to do. It never fetches anything (see :mod:`assay.store`).
"""

from __future__ import annotations

import hashlib
import platform
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import AssayError, ConfigError
from ..models import InvalidModel, load_onnx

DEFAULT_MAX_ELEMENTS = 1 << 26  # 67M elements (256 MiB of float32), per input and in total
DEFAULT_MAX_SESSIONS = 8
DEFAULT_MAX_MODEL_BYTES = 2 << 30  # total ONNX bytes of the cached models

_OPT_LEVELS = ("disable", "basic", "extended", "layout", "all")


# --------------------------------------------------------------------------------------------------
# errors


class InputValidationError(AssayError, ValueError):
    """An input feed does not match the model's declared inputs. ``code`` says which check failed:
    missing, unexpected, type, dtype, rank, dim, too_large, non_finite."""

    def __init__(self, message: str, hint: str | None = None, *, code: str, input_name: str | None = None):
        super().__init__(message, hint)
        self.code = code
        self.input_name = input_name


class ModelIdMismatch(AssayError, ValueError):
    """The ONNX bytes do not hash to the model id they were given with."""

    hint = "the model id is the sha256 of the ONNX file: re-fetch the model (the store checks hashes) or fix the id"


class ModelTooLarge(AssayError, ValueError):
    """A model is larger than the runner's whole model cache."""

    hint = "raise max_model_bytes of the InferenceRunner if this machine has the memory"


class ModelNotLoaded(AssayError, LookupError):
    """``run`` got no ONNX bytes for a model that is not in the cache."""

    hint = "pass the model's ONNX bytes (ContentStore.fetch(uris, model_id)) on first use"


class InferenceFailed(AssayError, RuntimeError):
    """onnxruntime failed while running a model on inputs that passed validation."""

    hint = "the model cannot run on these inputs; check the model's expected value ranges and shapes"


# --------------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class SessionConfig:
    """onnxruntime session options, all reported in receipts.

    ``intra_op_threads``/``inter_op_threads``: 0 lets onnxruntime choose (one per core).
    ``graph_optimization``: disable | basic | extended | layout | all.
    """

    intra_op_threads: int = 1
    inter_op_threads: int = 1
    graph_optimization: str = "all"
    providers: tuple[str, ...] = ("CPUExecutionProvider",)

    def __post_init__(self):
        for name in ("intra_op_threads", "inter_op_threads"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"{name} must be an integer >= 0, got {v!r}", "use 0 for onnxruntime's default, else a thread count")
        if self.graph_optimization not in _OPT_LEVELS:
            raise ConfigError(
                f"unknown graph_optimization {self.graph_optimization!r}", f"use one of {', '.join(_OPT_LEVELS)}"
            )
        if not self.providers:
            raise ConfigError("no execution provider given", "use providers=('CPUExecutionProvider',)")
        object.__setattr__(self, "providers", tuple(self.providers))

    def session_options(self, *, canonical: bool = False):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = self.intra_op_threads
        so.inter_op_num_threads = self.inter_op_threads
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        level = "disable" if canonical else self.graph_optimization
        so.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "layout": ort.GraphOptimizationLevel.ORT_ENABLE_LAYOUT,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[level]
        so.log_severity_level = 3  # errors only; the runner reports what matters
        return so

    def describe(self, *, canonical: bool = False) -> dict[str, Any]:
        import onnxruntime as ort

        return {
            "onnxruntime": ort.__version__,
            "providers": list(self.providers),
            "intra_op_threads": self.intra_op_threads,
            "inter_op_threads": self.inter_op_threads,
            "graph_optimization": "disable" if canonical else self.graph_optimization,
            "execution_mode": "sequential",
            "trace": canonical,
            "machine": platform.machine(),
            "system": platform.system(),
        }


# --------------------------------------------------------------------------------------------------
# input specs and validation


Dim = int | str | None  # fixed size, symbolic name, or unknown


@dataclass(frozen=True)
class InputSpec:
    """A declared graph input: name, shape (None = unknown rank) and numpy dtype (None = not a tensor)."""

    name: str
    shape: tuple[Dim, ...] | None
    dtype: np.dtype | None
    onnx_type: str

    def describe(self) -> str:
        dims = "?" if self.shape is None else ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}: {self.onnx_type}[{dims}]"


def _onnx_model(model):
    import onnx

    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, (bytes, bytearray, memoryview)):
        return load_onnx(bytes(model))
    raise TypeError(f"expected ONNX bytes or an onnx.ModelProto, got {type(model).__name__}")


def inputs_spec(model) -> list[InputSpec]:
    """The inputs a caller must feed (graph inputs that are not initializers), in declared order.
    ``model``: ONNX bytes or an onnx.ModelProto. Raises InvalidModel for bad bytes."""
    from onnx import TensorProto, helper

    proto = _onnx_model(model)
    inits = {i.name for i in proto.graph.initializer}
    specs = []
    for vi in proto.graph.input:
        if vi.name in inits:
            continue
        t = vi.type
        if t.WhichOneof("value") != "tensor_type":
            specs.append(InputSpec(vi.name, None, None, t.WhichOneof("value") or "unknown"))
            continue
        elem = t.tensor_type.elem_type
        try:
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(elem))
        except Exception:  # an element type numpy cannot hold
            dtype = None
        shape: tuple[Dim, ...] | None = None
        if t.tensor_type.HasField("shape"):
            shape = tuple(
                d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.tensor_type.shape.dim
            )
        name = TensorProto.DataType.Name(elem).lower() if elem else "undefined"
        specs.append(InputSpec(vi.name, shape, dtype, name))
    return specs


_STRING_KINDS = frozenset("UOS")


def validate_inputs(
    spec: list[InputSpec], inputs: Mapping[str, Any], *, max_elements: int = DEFAULT_MAX_ELEMENTS
) -> dict[str, np.ndarray]:
    """Check a feed against the declared inputs; returns the feed (same arrays) or raises
    InputValidationError naming the input and the exact mismatch. No casting, no reshaping."""
    if not isinstance(inputs, Mapping):
        raise InputValidationError(
            f"inputs must be a mapping of input name to numpy array, got {type(inputs).__name__}",
            "pass a dict like {'input': np.asarray(x, dtype=np.float32)}",
            code="type",
        )
    declared = {s.name: s for s in spec}
    want = ", ".join(s.describe() for s in spec) or "(none)"
    missing = [n for n in declared if n not in inputs]
    if missing:
        raise InputValidationError(
            f"missing input {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
            f"the model expects: {want}",
            code="missing",
            input_name=missing[0],
        )
    extra = [n for n in inputs if n not in declared]
    if extra:
        raise InputValidationError(
            f"unexpected input {extra[0]!r}: the model has no input of that name",
            f"the model expects: {want}",
            code="unexpected",
            input_name=extra[0],
        )
    symbols: dict[str, tuple[int, str]] = {}
    total = 0
    for s in spec:
        arr = inputs[s.name]
        if not isinstance(arr, np.ndarray):
            raise InputValidationError(
                f"input {s.name!r} is a {type(arr).__name__}, not a numpy array",
                f"convert it with np.asarray(value, dtype=np.{s.dtype})" if s.dtype is not None else "pass a numpy array",
                code="type",
                input_name=s.name,
            )
        if s.dtype is None:
            raise InputValidationError(
                f"input {s.name!r} is declared as {s.onnx_type}, which the runner cannot feed",
                "only tensor inputs are supported; re-export the model with tensor inputs",
                code="type",
                input_name=s.name,
            )
        if s.dtype.kind == "O":  # string tensors
            ok = arr.dtype.kind in _STRING_KINDS
        else:
            ok = arr.dtype == s.dtype
        if not ok:
            raise InputValidationError(
                f"input {s.name!r} has dtype {arr.dtype} but the model declares {s.onnx_type} ({s.dtype})",
                f"cast it explicitly: x.astype(np.{s.dtype})" if s.dtype.kind != "O" else "pass an array of str",
                code="dtype",
                input_name=s.name,
            )
        if arr.size > max_elements:
            raise InputValidationError(
                f"input {s.name!r} has {arr.size} elements, over the limit of {max_elements}",
                "send a smaller batch, or raise max_elements if this machine can afford it",
                code="too_large",
                input_name=s.name,
            )
        total += arr.size
        if total > max_elements:
            raise InputValidationError(
                f"the inputs have {total}+ elements in total, over the limit of {max_elements}",
                "send a smaller batch, or raise max_elements if this machine can afford it",
                code="too_large",
                input_name=s.name,
            )
        if s.shape is not None:
            if arr.ndim != len(s.shape):
                raise InputValidationError(
                    f"input {s.name!r} has rank {arr.ndim} (shape {list(arr.shape)}) but the model declares "
                    f"rank {len(s.shape)} ({s.describe()})",
                    "reshape the input to the declared rank",
                    code="rank",
                    input_name=s.name,
                )
            for axis, (want_d, got_d) in enumerate(zip(s.shape, arr.shape)):
                if isinstance(want_d, int) and want_d != got_d:
                    raise InputValidationError(
                        f"input {s.name!r} has size {got_d} on axis {axis} but the model declares {want_d} "
                        f"(shape {list(arr.shape)} vs {s.describe()})",
                        "reshape or resize the input to the declared shape",
                        code="dim",
                        input_name=s.name,
                    )
                if isinstance(want_d, str):
                    seen = symbols.setdefault(want_d, (got_d, f"{s.name!r} axis {axis}"))
                    if seen[0] != got_d:
                        raise InputValidationError(
                            f"input {s.name!r} has size {got_d} on axis {axis} (dimension {want_d!r}) but "
                            f"{seen[1]} has {want_d!r} = {seen[0]}",
                            f"every input must use the same size for dimension {want_d!r}",
                            code="dim",
                            input_name=s.name,
                        )
        if s.onnx_type in ("float", "double", "float16", "bfloat16") and arr.size:
            finite = np.isfinite(arr if arr.dtype.kind == "f" else arr.astype(np.float32))
            if not finite.all():
                bad = np.argwhere(~finite)
                first = tuple(int(i) for i in bad[0])
                raise InputValidationError(
                    f"input {s.name!r} has {len(bad)} NaN/Inf value(s), first at index {first}: {arr[first]}",
                    "clean the input; NaN/Inf inputs are refused because no result on them can be verified",
                    code="non_finite",
                    input_name=s.name,
                )
    return dict(inputs)


# --------------------------------------------------------------------------------------------------
# trace models


def trace_model(model) -> tuple[Any, list[str]]:
    """A copy of ``model`` whose graph outputs are its own outputs followed by every other top-level
    node output, and the list of all node output names in node order. Raises InvalidModel."""
    import onnx

    src = _onnx_model(model)
    traced = onnx.ModelProto()
    traced.CopyFrom(src)
    names: list[str] = []
    seen: set[str] = set()
    for node in traced.graph.node:
        for out in node.output:
            if out and out not in seen:  # "" marks an omitted optional output
                seen.add(out)
                names.append(out)
    existing = {o.name for o in traced.graph.output}
    for n in names:
        if n not in existing:
            traced.graph.output.append(onnx.ValueInfoProto(name=n))  # type left to onnxruntime
    return traced, names


# --------------------------------------------------------------------------------------------------
# the runner


class RunOutputs(dict):
    """Graph outputs by name, in the model's output order, plus facts about the run:
    ``elapsed_s`` (session.run only), ``load_s`` (session creation, 0 when cached), ``cached``,
    ``runtime`` (onnxruntime version, providers, threads, optimisation level) and, for traced runs,
    ``trace``: every top-level node output by name, in node order."""

    elapsed_s: float
    load_s: float
    cached: bool
    runtime: dict[str, Any]
    trace: dict[str, Any] | None


@dataclass
class _Entry:
    session: Any
    size: int
    spec: list[InputSpec]
    output_names: list[str]
    trace_names: list[str] | None
    providers: list[str]
    load_s: float


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    evicted: list[tuple[str, bool]] = field(default_factory=list)


class InferenceRunner:
    """onnxruntime sessions cached per model id (LRU bounded by ``max_sessions`` and by
    ``max_model_bytes`` of ONNX bytes). Thread-safe; sessions are shared between threads.

    ``verify_model_id``: check that the model id is the sha256 of the bytes on load (on a cache hit
    only the length is compared; the bytes were verified when loaded)."""

    def __init__(
        self,
        config: SessionConfig | None = None,
        *,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        max_model_bytes: int = DEFAULT_MAX_MODEL_BYTES,
        max_elements: int = DEFAULT_MAX_ELEMENTS,
        verify_model_id: bool = True,
    ):
        if max_sessions < 1:
            raise ConfigError(f"max_sessions must be >= 1, got {max_sessions}", "keep at least one session cached")
        if max_model_bytes < 1:
            raise ConfigError(f"max_model_bytes must be >= 1, got {max_model_bytes}", "give the cache some room")
        self.config = config or SessionConfig()
        self.max_sessions = max_sessions
        self.max_model_bytes = max_model_bytes
        self.max_elements = max_elements
        self.verify_model_id = verify_model_id
        self.stats = CacheStats()
        self._cache: OrderedDict[tuple[str, bool], _Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.RLock()

    # ---- facts -------------------------------------------------------------------------------------

    def runtime_info(self, *, trace: bool = False) -> dict[str, Any]:
        """What a receipt records about how results are produced."""
        return self.config.describe(canonical=trace)

    def cached(self) -> list[tuple[str, bool]]:
        """Cache keys (model id, trace) from least to most recently used."""
        with self._lock:
            return list(self._cache)

    @property
    def cached_bytes(self) -> int:
        return self._bytes

    # ---- loading -----------------------------------------------------------------------------------

    def _key(self, model_id: str | bytes) -> str:
        if self.verify_model_id:
            from ..store import normalize_digest

            try:
                return normalize_digest(model_id)
            except ValueError as e:
                raise ModelIdMismatch(f"model id {model_id!r} is not a sha256 digest: {e.args[0]}") from None
        return model_id.hex() if isinstance(model_id, (bytes, bytearray)) else str(model_id)

    def _entry(self, model_id, onnx_bytes, trace: bool) -> tuple[_Entry, bool]:
        mid = self._key(model_id)
        key = (mid, trace)
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None:
                if onnx_bytes is not None and len(onnx_bytes) != entry.size:
                    raise ModelIdMismatch(
                        f"model {mid} is cached with {entry.size} bytes but {len(onnx_bytes)} bytes were given"
                    )
                self._cache.move_to_end(key)
                self.stats.hits += 1
                return entry, True
            if onnx_bytes is None:
                raise ModelNotLoaded(f"model {mid} is not loaded and no ONNX bytes were given")
            if not isinstance(onnx_bytes, (bytes, bytearray, memoryview)):
                raise InvalidModel(f"ONNX model must be bytes, got {type(onnx_bytes).__name__}", "read the .onnx file in binary mode")
            onnx_bytes = bytes(onnx_bytes)
            if self.verify_model_id:
                got = hashlib.sha256(onnx_bytes).hexdigest()
                if got != mid:
                    raise ModelIdMismatch(f"the ONNX bytes hash to {got}, not to the model id {mid}")
            if len(onnx_bytes) > self.max_model_bytes:
                raise ModelTooLarge(
                    f"model {mid} has {len(onnx_bytes)} bytes, more than the whole cache ({self.max_model_bytes} bytes)"
                )
            entry = self._load(onnx_bytes, trace)
            self.stats.misses += 1
            self._cache[key] = entry
            self._bytes += entry.size
            self._evict(keep=key)
            return entry, False

    def _load(self, onnx_bytes: bytes, trace: bool) -> _Entry:
        import onnxruntime as ort

        t0 = time.perf_counter()
        proto = load_onnx(onnx_bytes)  # InvalidModel with the checker's reason
        spec = inputs_spec(proto)
        output_names = [o.name for o in proto.graph.output]
        trace_names = None
        data = onnx_bytes
        if trace:
            proto, trace_names = trace_model(proto)
            data = proto.SerializeToString()
        _check_opsets(proto)
        del proto
        try:
            session = ort.InferenceSession(
                data, self.config.session_options(canonical=trace), providers=list(self.config.providers)
            )
        except Exception as e:  # onnxruntime raises Fail/InvalidGraph/NotImplemented/... for bad models
            raise InvalidModel(
                f"onnxruntime {ort.__version__} cannot load the model: {_short(e)}",
                "check that the model's opset and operators are supported by this onnxruntime, or re-export it",
            ) from e
        return _Entry(session, len(onnx_bytes), spec, output_names, trace_names, session.get_providers(), time.perf_counter() - t0)

    def _evict(self, keep) -> None:
        while len(self._cache) > self.max_sessions or self._bytes > self.max_model_bytes:
            key = next(k for k in self._cache if k != keep)  # oldest first; never the one just loaded
            entry = self._cache.pop(key)
            self._bytes -= entry.size
            self.stats.evictions += 1
            self.stats.evicted.append(key)

    def evict(self, model_id) -> bool:
        """Drop a model's sessions (plain and traced); True if any was cached."""
        mid = self._key(model_id)
        with self._lock:
            found = False
            for key in [(mid, False), (mid, True)]:
                entry = self._cache.pop(key, None)
                if entry is not None:
                    self._bytes -= entry.size
                    found = True
            return found

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self._bytes = 0

    # ---- using -------------------------------------------------------------------------------------

    def inputs_spec(self, model_id, onnx_bytes: bytes | None = None) -> list[InputSpec]:
        """Declared inputs of a model (loading it into the cache if needed)."""
        entry, _ = self._entry(model_id, onnx_bytes, False)
        return list(entry.spec)

    def output_names(self, model_id, onnx_bytes: bytes | None = None) -> list[str]:
        entry, _ = self._entry(model_id, onnx_bytes, False)
        return list(entry.output_names)

    def run(self, model_id, onnx_bytes: bytes | None, inputs: Mapping[str, Any], *, trace: bool = False) -> RunOutputs:
        """Run the model on ``inputs``; outputs by name in the model's output order (see RunOutputs).
        ``onnx_bytes`` may be None once the model is cached. ``trace=True`` runs the canonical
        (unoptimised) model and also returns every node output in ``.trace``."""
        entry, cached = self._entry(model_id, onnx_bytes, trace)
        feed = validate_inputs(entry.spec, inputs, max_elements=self.max_elements)
        names = entry.output_names + [n for n in (entry.trace_names or []) if n not in entry.output_names]
        t0 = time.perf_counter()
        try:
            values = entry.session.run(names, feed)
        except Exception as e:  # onnxruntime's own errors (shape mismatch deep in the graph, ...)
            raise InferenceFailed(f"onnxruntime failed to run model {self._key(model_id)}: {_short(e)}") from e
        elapsed = time.perf_counter() - t0
        by_name = dict(zip(names, values))
        out = RunOutputs((n, by_name[n]) for n in entry.output_names)
        out.elapsed_s = elapsed
        out.load_s = 0.0 if cached else entry.load_s
        out.cached = cached
        out.runtime = {**self.runtime_info(trace=trace), "providers": list(entry.providers)}
        out.trace = {n: by_name[n] for n in entry.trace_names} if entry.trace_names is not None else None
        return out


def _check_opsets(proto) -> None:
    """InvalidModel naming the opset when the model imports a standard ONNX opset newer than the
    installed onnx/onnxruntime know (onnx's checker lets such a model through; onnxruntime's own
    message is a C++ assertion)."""
    import onnx
    import onnxruntime as ort

    newest = onnx.defs.onnx_opset_version()
    for imp in proto.opset_import:
        if imp.domain in ("", "ai.onnx") and imp.version > newest:
            raise InvalidModel(
                f"the model imports ONNX opset {imp.version}, newer than the {newest} this machine supports "
                f"(onnx {onnx.__version__}, onnxruntime {ort.__version__})",
                f"re-export the model with opset <= {newest} (e.g. torch.onnx.export(..., opset_version=17))",
            )


def _short(e: Exception) -> str:
    s = str(e).strip()
    return s if len(s) <= 400 else s[:397] + "..."
