"""One-step op checks: is one output element of one ONNX node consistent with the node's own inputs?

This module is the off-chain twin of ``contracts/verifiers/``: for every supported op it says which
input elements the check of one output element reads (:func:`needs`, in the trace layouts of
docs/fraud-proofs.md), decides one element exactly as the on-chain verifier does
(:func:`check_element`), and finds every failing element of a whole node at numpy speed
(:func:`violations`). The rules and the justification of every bound are in docs/fraud-bounds.md.

Dot products and elementwise arithmetic (MatMul, Gemm, Conv, Add, Sub, Mul) are decided by one exact
rule (:func:`product_sum_rule`): the exact value is a sum of exact products of float32 pairs,
computed in integer fixed point on a grid set by the largest exponent, and a claimed value is
accepted iff it lies within ``γ_m·B + 2·D + slack`` of it. Softmax, Sigmoid and Tanh enclose the
exact value with integer arithmetic (:func:`exp_neg_enclosure`) and accept a measured tolerance
around it. Data movement, Relu, MaxPool and ArgMax are exact. Python integers carry every reference
computation (no rounding anywhere); :func:`violations` first classifies each element with float64
arithmetic whose own error is bounded and only decides the elements it cannot classify with
certainty (those within the float64 error of the boundary) exactly, so both always give the same
answer.

Pure functions only: nothing here runs a model, reads a file or touches the chain. It must never
accept a value the Solidity verifier would reject, or the reverse: the two are tested against each
other (tests/test_verifiers_sol.py) and against onnxruntime (tests/test_fraud_ops.py).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..commitments import codec
from ..errors import AssayError

__all__ = [
    "ABSENT", "MAX_TERMS", "MalformedDescriptor", "Need", "NeedsValues", "NodeSpec", "Unsupported", "argmax_rule",
    "batchnorm_rule", "check_element", "clip_rule", "descriptor_of", "div_rule", "exp_neg_enclosure", "layout_view",
    "maxpool_rule", "mean_rule", "needs", "node_spec", "parse_descriptor", "product_sum_rule", "rule_sums",
    "sigmoid_rule", "softmax_rule", "supported", "tanh_rule", "violations",
]

# ---------------------------------------------------------------------------------------------
# Constants of the rule (mirrored in contracts/verifiers/ProductSumRule.sol)
# ---------------------------------------------------------------------------------------------

FLOAT = 1  # ONNX dtype codes
INT64 = 7
ONE = 0x3F800000  # float32 bits of 1.0
NEG_ONE = 0xBF800000  # float32 bits of -1.0
ABSENT = 0xFFFFFFFF

U_LOG2 = 24
"""Unit roundoff of float32 round-to-nearest: u = 2^-24."""
GRID_WIDTH = 150
"""Bits kept below the largest possible product: the grid is 2^(F - 150), F the top product exponent."""
GRID_MIN = -300
"""Finest grid (float32 products have their lowest bit at 2^-298 or above)."""
Y_LIMIT_LOG2 = 224
"""A claimed value of 2^224 grid units or more is rejected outright (it is provably outside)."""
MAX_TERMS = 1 << 20
"""Largest number of products one rule evaluation accepts (K of a MatMul); more: Unsupported."""
UNDERFLOW_LOG2 = -123
"""Absolute slack per rounding for underflow and flush-to-zero: (m + 1) · 2^-123."""
OVERFLOW_LOG2 = 126
"""A non-finite result from finite inputs is honest only if Σ|products| can reach 2^126."""


class Unsupported(AssayError, ValueError):
    """The node cannot be checked here (op, attribute, dtype or size): the on-chain verifier reverts."""

    hint = "this node has no one-step check yet; models using it are verification class NONE (arbiter)"


class MalformedDescriptor(AssayError, ValueError):
    """Bytes that are not a canonical node descriptor (docs/commitments.md §4)."""

    hint = "build descriptors with assay.commitments.roots.graph_layout"


@dataclass(frozen=True)
class Need:
    """Elements of one input the check of one output element reads."""

    input_index: int  # position in the node's inputs
    layout: int  # 0 row-major, 1 last-two-axes swapped
    first: int  # flat index, in that layout, of the first element needed
    count: int  # number of consecutive elements


# ---------------------------------------------------------------------------------------------
# Node descriptors
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attr:
    """One attribute as committed: FLOAT as float32 bits (int), INT as int, INTS as a tuple of ints,
    FLOATS as a tuple of bits, STRING as bytes; every other type as its raw committed bytes."""

    type: int
    value: Any


@dataclass(frozen=True)
class NodeSpec:
    """The part of a node a check reads: what its canonical descriptor commits to."""

    domain: str
    op_type: str
    inputs: tuple[int, ...]  # value ids (ABSENT for an omitted optional input)
    outputs: tuple[int, ...]
    attrs: dict[str, Attr]

    def attr(self, name: str, type_: int, default: Any) -> Any:
        a = self.attrs.get(name)
        if a is None:
            return default
        if a.type != type_:
            raise Unsupported(f"{self.op_type} attribute {name!r} has type {a.type}, expected {type_}")
        return a.value


_FIXED = {4: 32, 5: 32, 11: 32, 13: 32}  # TENSOR, GRAPH, SPARSE_TENSOR, TYPE_PROTO: one 32-byte root
_PER_ITEM = {6: 4, 7: 8, 9: 32, 10: 32, 12: 32, 14: 32}  # list types: n u32 || n × size


def parse_descriptor(desc: bytes) -> NodeSpec:
    """Parse a canonical node descriptor (docs/commitments.md §4), strictly: no trailing bytes."""
    d = bytes(desc)
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        if n < 0 or pos + n > len(d):
            raise MalformedDescriptor(f"descriptor ends at byte {len(d)}, needed {pos + n}")
        b = d[pos : pos + n]
        pos += n
        return b

    def u(n: int) -> int:
        return int.from_bytes(take(n), "big")

    def str16() -> str:
        try:
            return take(u(2)).decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedDescriptor(f"invalid UTF-8 in descriptor: {e}") from None

    if take(1) != b"\x01":
        raise MalformedDescriptor("a node descriptor starts with 0x01")
    domain, op_type = str16(), str16()
    ins = tuple(u(4) for _ in range(u(2)))
    outs = tuple(u(4) for _ in range(u(2)))
    attrs: dict[str, Attr] = {}
    prev: bytes | None = None
    for _ in range(u(2)):
        at = pos
        name = str16()
        if prev is not None and not prev < name.encode("utf-8"):
            raise MalformedDescriptor(f"attribute {name!r} at byte {at} is out of order (names sorted, unique)")
        prev = name.encode("utf-8")
        t = u(1)
        if t == 1:
            v: Any = u(4)
        elif t == 2:
            v = int.from_bytes(take(8), "big", signed=True)
        elif t == 3:
            v = take(u(4))
        elif t == 7:
            v = tuple(int.from_bytes(take(8), "big", signed=True) for _ in range(u(4)))
        elif t == 6:
            v = tuple(u(4) for _ in range(u(4)))
        elif t == 8:
            v = tuple(take(u(4)) for _ in range(u(4)))
        elif t in _FIXED:
            v = take(_FIXED[t])
        elif t in _PER_ITEM:
            n = u(4)
            v = take(n * _PER_ITEM[t])
        else:
            raise MalformedDescriptor(f"attribute {name!r} has unknown type {t}")
        attrs[name] = Attr(t, v)
    if pos != len(d):
        raise MalformedDescriptor(f"{len(d) - pos} trailing bytes after the descriptor")
    return NodeSpec(domain, op_type, ins, outs, attrs)


def descriptor_of(node, input_ids: Sequence[int] | None = None, output_ids: Sequence[int] | None = None) -> bytes:
    """Canonical descriptor of an ``onnx.NodeProto`` (value ids 0.. unless given), byte for byte
    what ``graph_layout`` commits (the same attribute encoding)."""
    from ..commitments.roots import attribute_bytes

    if input_ids is None:
        input_ids = [ABSENT if n == "" else i for i, n in enumerate(node.input)]
    if output_ids is None:
        output_ids = [ABSENT if n == "" else len(node.input) + i for i, n in enumerate(node.output)]
    domain = "" if node.domain == "ai.onnx" else node.domain
    attrs = sorted(node.attribute, key=lambda a: a.name.encode("utf-8"))
    s16 = lambda s: struct.pack(">H", len(s.encode())) + s.encode()  # noqa: E731
    return b"".join(
        [
            b"\x01",
            s16(domain),
            s16(node.op_type),
            struct.pack(f">H{len(input_ids)}I", len(input_ids), *input_ids),
            struct.pack(f">H{len(output_ids)}I", len(output_ids), *output_ids),
            struct.pack(">H", len(attrs)),
            *(attribute_bytes(a) for a in attrs),
        ]
    )


def node_spec(node) -> NodeSpec:
    """A :class:`NodeSpec` from a NodeSpec, canonical descriptor bytes or an ``onnx.NodeProto``."""
    if isinstance(node, NodeSpec):
        return node
    if isinstance(node, (bytes, bytearray, memoryview)):
        return parse_descriptor(bytes(node))
    return parse_descriptor(descriptor_of(node))


# ---------------------------------------------------------------------------------------------
# float32 bits
# ---------------------------------------------------------------------------------------------


def _fields(bits: int) -> tuple[int, int, int, int]:
    """(sign, exponent field, integer mantissa m, effective exponent e) with value (-1)^s·m·2^(e-150)."""
    ex = (bits >> 23) & 0xFF
    man = bits & 0x7FFFFF
    if ex:
        return (bits >> 31) & 1, ex, man | 0x800000, ex
    return (bits >> 31) & 1, 0, man, 1


def _nonfinite(bits: int) -> bool:
    return (bits >> 23) & 0xFF == 0xFF


def f32_bits(x) -> int:
    return int(np.asarray(x, dtype=np.float32).reshape(()).view(np.uint32))


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def _expfield(bits: np.ndarray) -> np.ndarray:
    return ((bits >> 23) & 0xFF).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# The exact rule
# ---------------------------------------------------------------------------------------------


def product_sum_rule(pairs: Sequence[tuple[int, int]], y: int, m: int, *, relative_to_value: bool = False) -> bool:
    """Accept the float32 ``y`` (bits) as an honest value of Σ xᵢ·zᵢ (float32 bits pairs)?

    With exact E = Σ xᵢzᵢ, S = Σ|xᵢzᵢ|, D = Σ|xᵢzᵢ| over pairs with a zero or subnormal factor,
    B = S (or |E| when ``relative_to_value``), γ_m = m·u/(1 - m·u):

    * a NaN/Inf among the factors: accept iff y is NaN or ±Inf;
    * y NaN/Inf (finite factors): accept iff Σ|xᵢzᵢ| can reach 2^126 (an honest overflow);
    * else accept iff |y - E| ≤ γ_m·B + 2·D + (m + 1)·2^-123, evaluated exactly on a grid
      2^G (G = max(T - 448, -300), T the largest exponent-field sum): each product is truncated to
      the grid and the truncation (< 1 grid unit per product) is paid by a 4n + 1 unit slack.

    Exact: Python integers throughout. The Solidity twin is ``ProductSumRule.sol``.
    """
    n = len(pairs)
    if not 1 <= n <= MAX_TERMS + 1 or not 1 <= m <= MAX_TERMS + 1:
        raise Unsupported(f"{n} products (m = {m}): the rule takes 1 to {MAX_TERMS + 1}")
    for x, z in pairs:
        if _nonfinite(x) or _nonfinite(z):
            return _nonfinite(y)
    _, g, e, s, d = rule_sums(pairs)
    if _nonfinite(y):
        return s + n >= 1 << max(OVERFLOW_LOG2 - g, 0)
    sy, _, my, eby = _fields(y)
    sh = eby - 150 - g
    if sh >= 0:
        if my and (sh >= Y_LIMIT_LOG2 or my >> (Y_LIMIT_LOG2 - sh)):
            return False
        yq = my << sh
    else:
        yq = my >> -sh
    if sy:
        yq = -yq
    b = abs(e) if relative_to_value else s
    c0 = 4 * n + 1 + ((m + 1) << max(UNDERFLOW_LOG2 - g, 0))
    k = (1 << U_LOG2) - m
    return abs(yq - e) * k <= m * b + (2 * d + c0) * k


def rule_sums(pairs: Sequence[tuple[int, int]]) -> tuple[int, int, int, int, int]:
    """(T, G, E, S, D) of finite pairs as the rule computes them (grid units): test vectors for
    the Solidity twin."""
    t = max(((x >> 23) & 0xFF) + ((z >> 23) & 0xFF) for x, z in pairs)
    g = max(t - 298 - GRID_WIDTH, GRID_MIN)
    e = s = d = 0
    for x, z in pairs:
        sx, ex, mx, ebx = _fields(x)
        sz, ez, mz, ebz = _fields(z)
        sh = ebx + ebz - 300 - g
        p = mx * mz
        q = p << sh if sh >= 0 else p >> -sh
        e += -q if sx ^ sz else q
        s += q
        if ex == 0 or ez == 0:
            d += q
    return t, g, e, s, d


def _classify(y, e_hat, err_e, b_hat, err_b, d_hat, err_d, n, m, g_ub) -> np.ndarray:
    """Vectorised pre-decision for finite y and finite factors: 1 accept, 0 reject, -1 decide exactly.

    ``e_hat`` etc. are float64 estimates of E, B, D with absolute error bounds ``err_*``; ``g_ub``
    an upper bound of the grid exponent G. The rule accepts whenever |y-E| ≤ γB + 2D + c (ideal
    bound) and rejects whenever |y-E| > ideal + (m + 8n + 8)·2^G (truncation), so any element
    farther than the estimates' error from both lines is classified correctly."""
    y = np.asarray(y, dtype=np.float64)
    gam = m * 2.0**-U_LOG2 / (1.0 - m * 2.0**-U_LOG2)
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite y: overwritten by the caller
        x = np.abs(y - e_hat)
        bound = gam * b_hat + 2.0 * d_hat + (m + 1) * 2.0**UNDERFLOW_LOG2
        slop = err_e + gam * err_b + 2.0 * err_d + 2.0**-40 * (x + bound) + 2.0**-1000
        trunc = (m + 8 * n + 8) * np.exp2(np.asarray(g_ub, dtype=np.float64))
        out = np.full(np.broadcast(x, bound).shape, -1, dtype=np.int8)
        out[x + slop < bound] = 1
        out[x - slop > bound + trunc] = 0
    return out


# ---------------------------------------------------------------------------------------------
# Shapes and layouts
# ---------------------------------------------------------------------------------------------


def layout_view(arr: np.ndarray, layout: int) -> np.ndarray:
    """The value in trace layout ``layout`` (1: last two axes swapped; rank < 2: unchanged), contiguous."""
    a = np.asarray(arr)
    if layout == 1 and a.ndim >= 2:
        return np.ascontiguousarray(np.swapaxes(a, -1, -2))
    return np.ascontiguousarray(a)


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


_SAT = (1 << 256) - 1  # the verifier's element counts saturate here


def _broadcast(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...] | None:
    """numpy / ONNX multidirectional broadcast shape, or None."""
    r = max(len(a), len(b))
    a = (1,) * (r - len(a)) + tuple(a)
    b = (1,) * (r - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return None
    return tuple(out)


def _unravel(index: int, shape: Sequence[int]) -> list[int]:
    idx = []
    for d in reversed(shape):
        idx.append(index % d)
        index //= d
    return idx[::-1]


def _bcast_index(out_idx: Sequence[int], shape: Sequence[int]) -> int:
    """Flat row-major index into ``shape`` (right-aligned, size-1 dims broadcast) of an output index."""
    off = len(out_idx) - len(shape)
    flat = 0
    for k, d in enumerate(shape):
        flat = flat * d + (out_idx[off + k] if d != 1 else 0)
    return flat


@dataclass(frozen=True)
class _Meta:
    dtype: int  # 0 absent
    shape: tuple[int, ...]


def _meta_of(a) -> _Meta:
    if a is None:
        return _Meta(0, ())
    a = np.asarray(a)
    return _Meta(codec.dtype_code(a.dtype), tuple(int(d) for d in a.shape))


def _float_attr_is(spec: NodeSpec, name: str, bits: int) -> bool:
    return spec.attr(name, 1, bits) == bits


# ---------------------------------------------------------------------------------------------
# Ops
# ---------------------------------------------------------------------------------------------


class _Op:
    """One op family: attribute/dtype checks, geometry, needs, element check, vectorised violations."""

    n_inputs: tuple[int, int] = (1, 1)  # min, max inputs

    def prepare(self, spec: NodeSpec, ins: list[_Meta], out: _Meta):
        """Raise Unsupported (the verifier reverts) or return the geometry; None = shapes/dtypes
        inconsistent with the op (the verifier returns false)."""
        raise NotImplementedError

    def needs(self, geo, out_index: int) -> list[Need]:
        raise NotImplementedError

    def check(self, spec: NodeSpec, geo, vals: dict[int, np.ndarray], y: np.ndarray, out_index: int) -> bool:
        """``vals[i]``: the needed elements of input i (flat, as listed by ``needs``); ``y``: the
        output element (a 1-element array)."""
        raise NotImplementedError

    def violations(self, spec: NodeSpec, geo, inputs: list[np.ndarray | None], output: np.ndarray) -> np.ndarray | None:
        return None  # generic per-element fallback


def _require_float(op: str, ins: list[_Meta], which: Sequence[int]) -> None:
    for i in which:
        if ins[i].dtype != FLOAT:
            raise Unsupported(f"{op} input {i} has dtype {ins[i].dtype}; only float32 (1) is checked")


@dataclass(frozen=True)
class _DotGeo:
    kind: str  # "matmul" | "gemm"
    k: int
    m_rows: int
    n_cols: int
    out_shape: tuple[int, ...]
    a_shape: tuple[int, ...]
    b_shape: tuple[int, ...]
    a_batch: tuple[int, ...] = ()
    b_batch: tuple[int, ...] = ()
    trans_a: int = 0
    trans_b: int = 0
    c_shape: tuple[int, ...] | None = None
    beta: int = ONE

    @property
    def terms(self) -> int:
        return self.k + (self.c_shape is not None)

    @property
    def rounding_count(self) -> int:
        """m of γ_m: K for MatMul; K + 1 for Gemm with a bias (one more addition per term)."""
        return self.k + (self.c_shape is not None)


class _MatMul(_Op):
    n_inputs = (2, 2)

    def prepare(self, spec, ins, out):
        _require_float("MatMul", ins, (0, 1))
        a, b = ins[0].shape, ins[1].shape
        if out.dtype != FLOAT or len(a) < 1 or len(b) < 1:
            return None
        dims = _matmul_dims(a, b, out.shape)
        if dims is None:
            return None
        k, m_rows, n_cols, shape = dims
        return _DotGeo("matmul", k, m_rows, n_cols, shape, a, b, a[:-2], b[:-2])

    def needs(self, geo, out_index):
        idx = _unravel(out_index, geo.out_shape)
        nb = len(geo.out_shape) - (len(geo.a_shape) >= 2) - (len(geo.b_shape) >= 2)
        bidx = idx[:nb]
        r = idx[nb] if len(geo.a_shape) >= 2 else 0
        c = idx[-1] if len(geo.b_shape) >= 2 else 0
        ab = _bcast_index(bidx, geo.a_batch)
        na = Need(0, 0, (ab * geo.m_rows + r) * geo.k, geo.k)
        if len(geo.b_shape) == 1:
            return [na, Need(1, 0, 0, geo.k)]
        bb = _bcast_index(bidx, geo.b_batch)
        return [na, Need(1, 1, (bb * geo.n_cols + c) * geo.k, geo.k)]

    def check(self, spec, geo, vals, y, out_index):
        a, b = _bits(vals[0]), _bits(vals[1])
        pairs = list(zip(a.tolist(), b.tolist()))
        if geo.c_shape is not None:
            pairs.append((geo.beta, int(_bits(vals[2])[0])))  # the bias term β·c
        return product_sum_rule(pairs, int(_bits(y).reshape(())), geo.rounding_count)

    def violations(self, spec, geo, inputs, output):
        a = np.asarray(inputs[0], dtype=np.float32)
        b = np.asarray(inputs[1], dtype=np.float32)
        return _dot_violations(geo, a, b, None, output)


class _Gemm(_MatMul):
    n_inputs = (2, 3)

    def prepare(self, spec, ins, out):
        ta = spec.attr("transA", 2, 0)
        tb = spec.attr("transB", 2, 0)
        if ta not in (0, 1) or tb not in (0, 1):
            raise Unsupported("Gemm transA/transB other than 0 or 1")
        if not _float_attr_is(spec, "alpha", ONE):
            raise Unsupported("Gemm alpha other than 1.0 (see docs/fraud-bounds.md)")
        beta = spec.attr("beta", 1, ONE)
        has_c = len(ins) > 2 and ins[2].dtype != 0
        if has_c:
            ex = (beta >> 23) & 0xFF
            if ex == 0 or ex == 0xFF:
                raise Unsupported("Gemm beta zero, subnormal or non-finite")
        _require_float("Gemm", ins, (0, 1, 2) if has_c else (0, 1))
        a, b = ins[0].shape, ins[1].shape
        if out.dtype != FLOAT or len(a) != 2 or len(b) != 2:
            return None
        m_rows, k = (a[1], a[0]) if ta else (a[0], a[1])
        kb, n_cols = (b[1], b[0]) if tb else (b[0], b[1])
        if kb != k or out.shape != (m_rows, n_cols):
            return None
        c_shape = None
        if has_c:
            c_shape = ins[2].shape
            if len(c_shape) > 2 or _broadcast(c_shape, (m_rows, n_cols)) != (m_rows, n_cols):
                return None
        _check_k(k)
        return _DotGeo("gemm", k, m_rows, n_cols, (m_rows, n_cols), a, b, (), (), ta, tb, c_shape, beta)

    def needs(self, geo, out_index):
        r, c = divmod(out_index, geo.n_cols)
        na = Need(0, geo.trans_a, r * geo.k, geo.k)
        nb = Need(1, 1 - geo.trans_b, c * geo.k, geo.k)
        if geo.c_shape is None:
            return [na, nb]
        return [na, nb, Need(2, 0, _bcast_index([r, c], geo.c_shape), 1)]

    def violations(self, spec, geo, inputs, output):
        a = np.asarray(inputs[0], dtype=np.float32)
        b = np.asarray(inputs[1], dtype=np.float32)
        if geo.trans_a:
            a = a.T
        if geo.trans_b:
            b = b.T
        c = None if geo.c_shape is None else np.asarray(inputs[2], dtype=np.float32)
        return _dot_violations(geo, a, b, c, output)


def _matmul_dims(a: Sequence[int], b: Sequence[int], out_shape: Sequence[int]):
    """(K, M, N, output shape) of numpy matmul of shapes ``a`` and ``b`` (rank ≥ 1 each), or None when
    the shapes do not multiply or the product's shape is not ``out_shape``. Checks K's limit."""
    k = a[-1]
    if (b[0] if len(b) == 1 else b[-2]) != k:
        return None
    m_rows = a[-2] if len(a) >= 2 else 1
    n_cols = b[-1] if len(b) >= 2 else 1
    batch = _broadcast(a[:-2], b[:-2])
    if batch is None:
        return None
    shape = batch + ((m_rows,) if len(a) >= 2 else ()) + ((n_cols,) if len(b) >= 2 else ())
    if shape != tuple(out_shape):
        return None
    _check_k(k)
    return k, m_rows, n_cols, shape


def _check_k(k: int) -> None:
    if not 1 <= k <= MAX_TERMS:
        raise Unsupported(f"inner dimension K = {k}: checked for 1 <= K <= {MAX_TERMS}")


def _dot_violations(geo: _DotGeo, a, b, c, output) -> np.ndarray:
    """Vectorised MatMul/Gemm check: float64 pre-decision (-1 where undecided, see _classify)."""
    y = np.asarray(output, dtype=np.float32)
    a2 = a[None, :] if a.ndim == 1 else a  # numpy matmul promotion; the size-1 axis goes at the end
    b2 = b[:, None] if b.ndim == 1 else b
    a_nf, b_nf = ~np.isfinite(a2), ~np.isfinite(b2)
    a0 = np.abs(np.where(a_nf, 0, a2).astype(np.float64))
    b0 = np.abs(np.where(b_nf, 0, b2).astype(np.float64))
    e_hat = np.matmul(np.where(a_nf, 0, a2).astype(np.float64), np.where(b_nf, 0, b2).astype(np.float64))
    s_hat = np.matmul(a0, b0)
    a_sub = _expfield(_bits(a2)) == 0
    b_sub = _expfield(_bits(b2)) == 0
    d_hat = np.matmul(a0 * a_sub, b0) + np.matmul(a0 * ~a_sub, b0 * b_sub)
    # a non-finite factor anywhere in the row of A or the column of B
    in_nf = (np.matmul(a_nf.astype(np.float64), np.ones_like(b0)) + np.matmul(np.ones_like(a0), b_nf.astype(np.float64))) > 0
    # upper bound of T = max(exp(a_i) + exp(b_i)): row max + column max
    t_ub = _expfield(_bits(a2)).max(axis=-1, keepdims=True) + _expfield(_bits(b2)).max(axis=-2, keepdims=True)
    e_hat, s_hat, d_hat, in_nf = (v.reshape(y.shape) for v in (e_hat, s_hat, d_hat, in_nf))
    t_ub = t_ub.reshape(y.shape)  # (batch dims broadcast like matmul's)
    if c is not None:
        beta = float(np.uint32(geo.beta).view(np.float32))
        cb = np.broadcast_to(c, y.shape)
        c_nf = ~np.isfinite(cb)
        bc = beta * np.where(c_nf, 0, cb).astype(np.float64)  # exact in float64
        e_hat = e_hat + bc
        s_hat = s_hat + np.abs(bc)
        d_hat = d_hat + np.abs(bc) * (_expfield(_bits(cb)) == 0)
        in_nf = in_nf | c_nf
        t_ub = np.maximum(t_ub, _expfield(_bits(cb)) + ((geo.beta >> 23) & 0xFF))
    g_ub = np.maximum(t_ub - 298 - GRID_WIDTH, GRID_MIN)
    err = geo.k * 2.0**-50  # float64 dot products: |error| <= K·2^-52·Σ|terms| (any order), doubled
    cls = _classify(y, e_hat, err * s_hat, s_hat, err * s_hat, d_hat, err * d_hat, geo.terms, geo.rounding_count, g_ub)
    y_nf = ~np.isfinite(y)
    cls[in_nf] = y_nf[in_nf]
    cls[~in_nf & y_nf] = -1  # the overflow question: decide exactly
    return cls.reshape(-1)


class _Binary(_Op):
    """Add, Sub, Mul: one correctly rounded float32 operation, ONNX multidirectional broadcasting."""

    n_inputs = (2, 2)

    def __init__(self, kind: str):
        self.kind = kind

    def prepare(self, spec, ins, out):
        _require_float(self.kind, ins, (0, 1))
        shape = _broadcast(ins[0].shape, ins[1].shape)
        if shape is None or shape != out.shape or out.dtype != FLOAT:
            return None
        return (ins[0].shape, ins[1].shape, shape)

    def needs(self, geo, out_index):
        idx = _unravel(out_index, geo[2])
        return [Need(0, 0, _bcast_index(idx, geo[0]), 1), Need(1, 0, _bcast_index(idx, geo[1]), 1)]

    def pairs(self, a: int, b: int) -> list[tuple[int, int]]:
        if self.kind == "Mul":
            return [(a, b)]
        return [(a, ONE), (b, NEG_ONE if self.kind == "Sub" else ONE)]

    def check(self, spec, geo, vals, y, out_index):
        a, b = int(_bits(vals[0])[0]), int(_bits(vals[1])[0])
        return product_sum_rule(self.pairs(a, b), int(_bits(y).reshape(())), 1, relative_to_value=self.kind != "Mul")

    def violations(self, spec, geo, inputs, output):
        y = np.asarray(output, dtype=np.float32)
        a = np.broadcast_to(np.asarray(inputs[0], dtype=np.float32), y.shape)
        b = np.broadcast_to(np.asarray(inputs[1], dtype=np.float32), y.shape)
        in_nf = ~(np.isfinite(a) & np.isfinite(b))
        a64 = np.where(in_nf, 0, a).astype(np.float64)
        b64 = np.where(in_nf, 0, b).astype(np.float64)
        za, zb = _expfield(_bits(a)) == 0, _expfield(_bits(b)) == 0
        if self.kind == "Mul":
            e = a64 * b64  # exact in float64
            err_e = np.zeros_like(e)
            bnd = np.abs(e)
            d = np.abs(e) * (za | zb)
            t = _expfield(_bits(a)) + _expfield(_bits(b))
            n = 1
        else:
            e = a64 - b64 if self.kind == "Sub" else a64 + b64
            err_e = np.abs(e) * 2.0**-52
            bnd = np.abs(e)
            d = np.abs(a64) * za + np.abs(b64) * zb  # exact: both below 2^-126
            t = np.maximum(_expfield(_bits(a)), _expfield(_bits(b))) + 127
            n = 2
        g = np.maximum(t - 298 - GRID_WIDTH, GRID_MIN)
        cls = _classify(y, e, err_e, bnd, err_e, d, 0.0, n, 1, g)
        y_nf = ~np.isfinite(y)
        cls[in_nf] = y_nf[in_nf]
        cls[~in_nf & y_nf] = -1
        return cls.reshape(-1)


class _Relu(_Op):
    def prepare(self, spec, ins, out):
        _require_float("Relu", ins, (0,))
        if out.dtype != FLOAT or out.shape != ins[0].shape:
            return None
        return out.shape

    def needs(self, geo, out_index):
        return [Need(0, 0, out_index, 1)]

    @staticmethod
    def _ok(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Relu is exact: y = x for x > 0, ±0 for x ≤ 0, NaN for NaN; a positive subnormal may also
        give ±0 (denormals-are-zero executors)."""
        xb, yb = _bits(x), _bits(y)
        x_nan = np.isnan(x)
        y_zero = (yb & 0x7FFFFFFF) == 0
        x_pos = ~x_nan & ((xb >> 31) == 0) & ((xb & 0x7FFFFFFF) != 0)
        x_sub = x_pos & (_expfield(xb) == 0)
        return np.where(x_nan, np.isnan(y), np.where(x_pos, (yb == xb) | (x_sub & y_zero), y_zero))

    def check(self, spec, geo, vals, y, out_index):
        return bool(self._ok(np.asarray(vals[0], np.float32)[:1], np.asarray(y, np.float32).reshape(1))[0])

    def violations(self, spec, geo, inputs, output):
        ok = self._ok(np.asarray(inputs[0], np.float32).reshape(-1), np.asarray(output, np.float32).reshape(-1))
        return np.where(ok, 1, 0).astype(np.int8)


class _Move(_Op):
    """Identity, Reshape, Flatten: output element o is input element o, bit for bit, same dtype."""

    def __init__(self, kind: str):
        self.kind = kind
        self.n_inputs = (2, 2) if kind == "Reshape" else (1, 1)

    def prepare(self, spec, ins, out):
        if ins[0].dtype not in codec.DTYPES:
            raise Unsupported(f"{self.kind} input dtype {ins[0].dtype} has no canonical encoding")
        shape = ins[0].shape
        if self.kind == "Reshape":
            if ins[1].dtype != INT64:
                raise Unsupported(f"Reshape shape input has dtype {ins[1].dtype}; expected int64 (7)")
            allowzero = spec.attr("allowzero", 2, 0)
            if allowzero not in (0, 1):
                raise Unsupported("Reshape allowzero other than 0 or 1")
            if out.dtype != ins[0].dtype or len(ins[1].shape) != 1:
                return None
            return ("reshape", shape, out.shape, ins[1].shape[0], allowzero)
        axis = spec.attr("axis", 2, 1) if self.kind == "Flatten" else 0
        if out.dtype != ins[0].dtype:
            return None
        if self.kind == "Flatten":
            r = len(shape)
            if not -r <= axis <= r:
                return None
            if axis < 0:
                axis += r
            want = (_numel(shape[:axis]), _numel(shape[axis:]))
        else:
            want = shape
        if want != out.shape:
            return None
        return ("move", shape, out.shape)

    def needs(self, geo, out_index):
        if geo[0] == "reshape":
            nd = [Need(1, 0, 0, geo[3])] if geo[3] else []
            if out_index < _numel(geo[1]):
                nd.append(Need(0, 0, out_index, 1))
            return nd
        return [Need(0, 0, out_index, 1)]

    @staticmethod
    def reshape_target(in_shape: Sequence[int], spec_shape: Sequence[int], allowzero: int) -> tuple[int, ...] | None:
        """The output shape ONNX Reshape gives, or None if the shape tensor is invalid for the input."""
        out: list[int] = []
        infer = -1
        for i, s in enumerate(spec_shape):
            s = int(s)
            if s == -1:
                if infer >= 0:
                    return None
                infer = i
                out.append(1)
            elif s == 0 and not allowzero:
                if i >= len(in_shape):
                    return None
                out.append(int(in_shape[i]))
            elif s < 0:
                return None
            else:
                out.append(s)
        total = _numel(in_shape)
        if total >= _SAT or _numel(out) >= _SAT:  # the verifier's saturating products
            return None
        if infer >= 0:
            rest = _numel(out)
            if rest == 0 or total % rest:
                return None
            out[infer] = total // rest
        if _numel(out) != total:
            return None
        return tuple(out)

    def check(self, spec, geo, vals, y, out_index):
        if geo[0] == "reshape":
            shape_vals = vals.get(1, np.zeros(0, np.int64))
            target = self.reshape_target(geo[1], [int(v) for v in np.asarray(shape_vals).reshape(-1)], geo[4])
            if target != geo[2]:
                return False
        x = vals[0]
        return np.asarray(x).reshape(-1)[:1].tobytes() == np.asarray(y).reshape(-1)[:1].tobytes()

    def violations(self, spec, geo, inputs, output):
        if geo[0] == "reshape":
            target = self.reshape_target(geo[1], [int(v) for v in np.asarray(inputs[1]).reshape(-1)], geo[4])
            if target != geo[2]:
                return np.zeros(_numel(geo[2]), dtype=np.int8)
        x = codec.canonical_array(inputs[0]).reshape(-1)
        y = codec.canonical_array(output).reshape(-1)
        size = x.dtype.itemsize
        xb = x.view(np.uint8).reshape(-1, size)
        yb = y.view(np.uint8).reshape(-1, size)
        return np.all(xb == yb, axis=1).astype(np.int8)


# ---------------------------------------------------------------------------------------------
# Softmax, Sigmoid, Tanh: a rigorous integer enclosure of exp, then a measured tolerance
# (mirrored in contracts/verifiers/ExpEnclosure.sol and ActivationVerifier.sol)
# ---------------------------------------------------------------------------------------------

LN2_Q64_LO = 0xB17217F7D1CF79AB
"""floor(ln 2 · 2^64); ln 2 is irrational, so ceil = floor + 1."""
LN2_Q64_HI = LN2_Q64_LO + 1
EXP_TERMS = 16
"""Taylor terms of exp(v), v ∈ [0, 0.7]: the remainder is below 2^-57 relative."""
EXP_U_MAX = 128 << 64
"""u ≥ 128 (Q64): e^-u < 2^-184, enclosed by [0, 2^-184]."""
EXP_TINY_K = 184
OUT_Q = 120
"""Results are compared in fixed point with 2^-120 resolution."""
ONE_Q = 1 << OUT_Q
# tolerances (docs/fraud-bounds.md §4): |ŷ - y| ≤ A + R·|y|, R = R_NUM / 2^24, A = 2^A_LOG2
SOFTMAX_R_NUM_BASE = 1 << 9  # + n (the row sum's roundings)
SOFTMAX_A_LOG2 = -120
SIGMOID_R_NUM = 1 << 8
SIGMOID_A_LOG2 = -20
TANH_R_NUM = 1 << 8
TANH_A_LOG2 = -120
TANH_SMALL_Q64 = 1 << 44  # |x| < 2^-20: tanh x ∈ [x - x^3/3, x] ⊂ [x(1 - 2^-40), x]


def _to_fixed(bits: int, q: int) -> tuple[int, int]:
    """(floor, ceil) of x·2^q for finite float32 bits x, as Python ints."""
    sign, _, man, eff = _fields(bits)
    sh = eff - 150 + q
    if sh >= 0:
        lo = hi = man << sh
    else:
        lo = man >> -sh
        hi = lo + (1 if lo << -sh != man else 0)
    return (-hi, -lo) if sign else (lo, hi)


def exp_neg_enclosure(u_lo: int, u_hi: int) -> tuple[int, int, int]:
    """(f_lo, f_hi, k) with f_lo·2^-(64+k) ≤ e^-u ≤ f_hi·2^-(64+k) for every u in [u_lo, u_hi]·2^-64
    (0 ≤ u_lo ≤ u_hi): range reduction by k·ln 2, then Taylor sums of exp(v) rounded down and up,
    then 1/exp(v). Integers only; the Solidity twin is ExpEnclosure.expNeg."""
    if u_lo >= EXP_U_MAX:
        return 0, 1 << 64, EXP_TINY_K
    k = u_lo // LN2_Q64_HI
    v_lo = u_lo - k * LN2_Q64_HI
    v_hi = u_hi - k * LN2_Q64_LO
    one = 1 << 64
    t_lo = t_hi = s_lo = s_hi = one
    for i in range(1, EXP_TERMS + 1):
        t_lo = t_lo * v_lo // (i << 64)
        t_hi = -(-(t_hi * v_hi) // (i << 64))
        s_lo += t_lo
        s_hi += t_hi
    s_hi += 2 * -(-(t_hi * v_hi) // ((EXP_TERMS + 1) << 64))  # Taylor remainder, v < 1
    return (1 << 128) // s_hi, -(-(1 << 128) // s_lo), k


def _shift_down(v: int, k: int, up: bool) -> int:
    """floor (or ceil) of v / 2^k for v ≥ 0."""
    return -(-v >> k) if up else v >> k


def _tolerance_decision(y_lo: int, y_hi: int, r_num: int, a_q: int, y_bits: int) -> bool:
    """Accept ŷ iff L ≤ ŷ ≤ H (all Q120): H = y_hi + ⌈max|y|·R⌉ + A, L = y_lo − ⌈max|y|·R⌉ − A."""
    if _nonfinite(y_bits):
        return False
    mag = max(abs(y_lo), abs(y_hi))
    slack = -(-(mag * r_num) >> U_LOG2) + a_q
    lo, hi = _to_fixed(y_bits, OUT_Q) if ((y_bits >> 23) & 0xFF) < 128 else (None, None)
    if lo is None:  # |ŷ| ≥ 2: outside every interval here (|y| ≤ 1)
        return False
    return lo <= y_hi + slack and hi >= y_lo - slack


def softmax_rule(row: Sequence[int], j: int, y: int) -> bool:
    """Accept float32 ``y`` as Softmax(row)[j] (``row``: the float32 bits of the row, last axis)?

    NaN or +Inf in the row, or a row of only -Inf: ŷ must be NaN (x - max is NaN). Else every
    e^(xᵢ - max) is enclosed (-Inf gives exactly 0), the row sum and the ratio are rounded
    outwards, and ŷ is accepted within A + R·y, R = 2^-15 + n·2^-24, A = 2^-120."""
    return _softmax_decide(_softmax_row(row), len(row), j, y)


def _softmax_row(row: Sequence[int]):
    """None for a row whose Softmax is NaN; else (enclosures of e^(xᵢ - max), S_lo, S_hi)."""
    n = len(row)
    if not 1 <= n <= MAX_TERMS:
        raise Unsupported(f"Softmax over {n} elements: checked for 1 to {MAX_TERMS}")
    finite = [not _nonfinite(b) for b in row]
    neg_inf = [b == 0xFF800000 for b in row]
    if any(not f and not ni for f, ni in zip(finite, neg_inf)) or all(neg_inf):
        return None
    fixed = [_to_fixed(b, 64) if f else None for b, f in zip(row, finite)]
    m_lo = max(fx[0] for fx in fixed if fx is not None)
    m_hi = max(fx[1] for fx in fixed if fx is not None)
    enc = [(0, 0, 0) if fx is None else exp_neg_enclosure(max(m_lo - fx[1], 0), m_hi - fx[0]) for fx in fixed]
    s_lo = sum(_shift_down(f_lo, k, False) for f_lo, _, k in enc)
    s_hi = sum(_shift_down(f_hi, k, True) for _, f_hi, k in enc)
    return enc, s_lo, s_hi


def _softmax_decide(info, n: int, j: int, y: int) -> bool:
    if info is None:
        return (y >> 23) & 0xFF == 0xFF and y & 0x7FFFFF != 0  # NaN
    enc, s_lo, s_hi = info
    f_lo, f_hi, k = enc[j]
    y_lo = _shift_down((f_lo << OUT_Q) // s_hi, k, False)
    y_hi = _shift_down(-(-(f_hi << OUT_Q) // s_lo), k, True)
    return _tolerance_decision(y_lo, y_hi, SOFTMAX_R_NUM_BASE + n, 1 << (OUT_Q + SOFTMAX_A_LOG2), y)


def _exp_q120(u_lo: int, u_hi: int) -> tuple[int, int]:
    """e^-u enclosed in Q120 (floor, ceil)."""
    f_lo, f_hi, k = exp_neg_enclosure(u_lo, u_hi)
    sh = OUT_Q - 64
    return _shift_down(f_lo << sh, k, False), _shift_down(f_hi << sh, k, True)


def sigmoid_rule(x: int, y: int) -> bool:
    """Accept float32 ``y`` as Sigmoid(x) = 1/(1 + e^-x): within A + R·y, R = 2^-16, A = 2^-20."""
    if _nonfinite(x) and x & 0x7FFFFF:
        return (y >> 23) & 0xFF == 0xFF and y & 0x7FFFFF != 0
    if _nonfinite(x):
        e_lo = e_hi = 0
    else:
        lo, hi = _to_fixed(x & 0x7FFFFFFF, 64)
        e_lo, e_hi = _exp_q120(lo, hi)
    big = 1 << (2 * OUT_Q)
    if x >> 31 == 0:
        y_lo, y_hi = big // (ONE_Q + e_hi), -(-big // (ONE_Q + e_lo))
    else:
        y_lo, y_hi = ONE_Q - -(-big // (ONE_Q + e_lo)), ONE_Q - big // (ONE_Q + e_hi)
    return _tolerance_decision(y_lo, y_hi, SIGMOID_R_NUM, 1 << (OUT_Q + SIGMOID_A_LOG2), y)


def tanh_rule(x: int, y: int) -> bool:
    """Accept float32 ``y`` as Tanh(x): within A + R·|y|, R = 2^-16, A = 2^-120."""
    if _nonfinite(x) and x & 0x7FFFFF:
        return (y >> 23) & 0xFF == 0xFF and y & 0x7FFFFF != 0
    if _nonfinite(x):
        y_lo = y_hi = ONE_Q
    else:
        lo, hi = _to_fixed(x & 0x7FFFFFFF, 64)
        if hi <= TANH_SMALL_Q64:
            x_lo, x_hi = _to_fixed(x & 0x7FFFFFFF, OUT_Q)
            y_lo, y_hi = x_lo - -(-x_hi >> 40), x_hi
        else:
            e_lo, e_hi = _exp_q120(2 * lo, 2 * hi)
            y_lo = ((ONE_Q - e_hi) << OUT_Q) // (ONE_Q + e_hi)
            y_hi = -(-((ONE_Q - e_lo) << OUT_Q) // (ONE_Q + e_lo))
    if x >> 31:
        y_lo, y_hi = -y_hi, -y_lo
    return _tolerance_decision(y_lo, y_hi, TANH_R_NUM, 1 << (OUT_Q + TANH_A_LOG2), y)


class _Softmax(_Op):
    def prepare(self, spec, ins, out):
        _require_float("Softmax", ins, (0,))
        r = len(ins[0].shape)
        axis = spec.attr("axis", 2, None)
        # opset ≤ 12 (default axis 1, flattens from the axis) and ≥ 13 (default -1, one axis) agree
        # only when the axis is the last one: the descriptor does not say which opset applies
        if axis is None:
            if r != 2:
                raise Unsupported("Softmax without an axis attribute on a tensor of rank other than 2")
        elif not (-r <= axis < r and axis % r == r - 1):
            raise Unsupported(f"Softmax over axis {axis} of a rank-{r} tensor: only the last axis is checked")
        if out.dtype != FLOAT or out.shape != ins[0].shape:
            return None
        n = ins[0].shape[-1]
        if n > MAX_TERMS:
            raise Unsupported(f"Softmax over {n} elements: checked for up to {MAX_TERMS}")
        return n

    def needs(self, geo, out_index):
        return [Need(0, 0, out_index - out_index % geo, geo)]

    def check(self, spec, geo, vals, y, out_index):
        return softmax_rule(_bits(vals[0]).tolist(), out_index % geo, int(_bits(y).reshape(())))

    def violations(self, spec, geo, inputs, output):
        x = np.asarray(inputs[0], np.float32).reshape(-1, geo).astype(np.float64)
        y = np.asarray(output, np.float32).reshape(-1, geo)
        ok_rows = np.all(np.isfinite(x), axis=1)
        xs = np.where(ok_rows[:, None], x, 0.0)
        e = np.exp(xs - xs.max(axis=1, keepdims=True))
        ref = e / e.sum(axis=1, keepdims=True)
        r = (SOFTMAX_R_NUM_BASE + geo) * 2.0**-U_LOG2
        cls = _tol_classify(y, ref, r, 2.0**SOFTMAX_A_LOG2, (geo + 8) * 2.0**-50)
        cls[~ok_rows] = -1
        xb, yb = _bits(np.asarray(inputs[0], np.float32)).reshape(-1, geo), _bits(y)
        for row in np.flatnonzero(np.any(cls < 0, axis=1)):  # exact, one row enclosure per row
            info = _softmax_row(xb[row].tolist())
            for j in np.flatnonzero(cls[row] < 0):
                cls[row, j] = _softmax_decide(info, geo, int(j), int(yb[row, j]))
        return cls.reshape(-1)


def _tol_classify(y, ref, r, a, rel_err) -> np.ndarray:
    """1 / 0 / -1 for |ŷ - y| ≤ a + r·|y| with a float64 ``ref`` of relative error ≤ ``rel_err``
    (the integer rule lies within 2^-56 relative and a few 2^-120 of that line)."""
    y = np.asarray(y, np.float64)
    with np.errstate(invalid="ignore"):
        d = np.abs(y - ref)
        bound = a + r * np.abs(ref)
        slop = (rel_err + 2.0**-50) * (np.abs(ref) + np.abs(y)) + 2.0**-115  # 32 units of 2^-120
        cls = np.full(y.shape, -1, np.int8)
        cls[d + slop < bound] = 1
        cls[d - slop > bound] = 0
        # both far below A: inside [L, H] whatever the roundings (L ≤ y - A, H ≥ y + A)
        cls[(np.abs(y) <= a / 4) & (np.abs(ref) * (1 + rel_err) <= a / 4)] = 1
    cls[~np.isfinite(y)] = -1
    return cls


class _Unary(_Op):
    """Sigmoid, Tanh: float32, elementwise."""

    def __init__(self, kind: str):
        self.kind = kind

    def prepare(self, spec, ins, out):
        _require_float(self.kind, ins, (0,))
        if out.dtype != FLOAT or out.shape != ins[0].shape:
            return None
        return out.shape

    def needs(self, geo, out_index):
        return [Need(0, 0, out_index, 1)]

    def check(self, spec, geo, vals, y, out_index):
        rule = sigmoid_rule if self.kind == "Sigmoid" else tanh_rule
        return rule(int(_bits(vals[0])[0]), int(_bits(y).reshape(())))

    def violations(self, spec, geo, inputs, output):
        x = np.asarray(inputs[0], np.float32).reshape(-1).astype(np.float64)
        y = np.asarray(output, np.float32).reshape(-1)
        with np.errstate(over="ignore"):
            if self.kind == "Sigmoid":
                ref = 1.0 / (1.0 + np.exp(-x))
                cls = _tol_classify(y, ref, SIGMOID_R_NUM * 2.0**-U_LOG2, 2.0**SIGMOID_A_LOG2, 2.0**-48)
            else:
                ref = np.tanh(x)
                cls = _tol_classify(y, ref, TANH_R_NUM * 2.0**-U_LOG2, 2.0**TANH_A_LOG2, 2.0**-48)
        cls[~np.isfinite(x)] = -1
        return cls


# ---------------------------------------------------------------------------------------------
# Conv, MaxPool (2-D, NCHW): windows read as one contiguous span of the input
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _WinGeo:
    """A 2-D window op: input [N, C, H, W] → output [N, M, OH, OW]."""

    x_shape: tuple[int, int, int, int]
    out_shape: tuple[int, int, int, int]
    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    group: int = 1
    has_bias: bool = False
    pool: bool = False  # MaxPool: output channel m reads input channel m only

    def rows_cols(self, oh: int, ow: int) -> tuple[range, range]:
        """Kernel rows i and columns j whose input position lies inside the image."""
        _, _, h, w = self.x_shape
        (kh, kw), (sh, sw), (pt, pl) = self.kernel, self.strides, self.pads[:2]
        h0, w0 = oh * sh - pt, ow * sw - pl
        return range(max(0, -h0), min(kh, h - h0)), range(max(0, -w0), min(kw, w - w0))

    def channels(self, m: int) -> range:
        """Input channels feeding output channel m."""
        if self.pool:
            return range(m, m + 1)
        cg = self.x_shape[1] // self.group
        g = m // (self.out_shape[1] // self.group)
        return range(g * cg, (g + 1) * cg)

    def span(self, out_index: int) -> tuple[int, int] | None:
        """(first, count) of the row-major input span covering every element the window reads
        (None when the window lies wholly in the padding)."""
        n, m, oh, ow = _unravel(out_index, self.out_shape)
        rows, cols = self.rows_cols(oh, ow)
        if not rows or not cols:
            return None
        _, c, h, w = self.x_shape
        chans = self.channels(m)
        h0, w0 = oh * self.strides[0] - self.pads[0], ow * self.strides[1] - self.pads[1]
        first = ((n * c + chans[0]) * h + h0 + rows[0]) * w + w0 + cols[0]
        last = ((n * c + chans[-1]) * h + h0 + rows[-1]) * w + w0 + cols[-1]
        return first, last - first + 1


def _window_attrs(spec: NodeSpec, op: str, kernel_from_w: tuple[int, int] | None):
    """kernel, strides, pads of a 2-D Conv/MaxPool; Unsupported outside NOTSET/VALID, dilation 1."""
    auto_pad = spec.attr("auto_pad", 3, b"NOTSET")
    if auto_pad not in (b"NOTSET", b"VALID"):
        raise Unsupported(f"{op} auto_pad {auto_pad!r}: only NOTSET and VALID are checked")
    dil = spec.attr("dilations", 7, (1, 1))
    if tuple(dil) != (1, 1):
        raise Unsupported(f"{op} dilations {dil}: only 1 is checked")
    ks = spec.attr("kernel_shape", 7, None)
    if ks is None and kernel_from_w is None:
        raise Unsupported(f"{op} without kernel_shape")
    strides = tuple(spec.attr("strides", 7, (1, 1)))
    pads = tuple(spec.attr("pads", 7, (0, 0, 0, 0)))
    if auto_pad == b"VALID" and spec.attrs.get("pads") is not None and any(pads):
        raise Unsupported(f"{op} with auto_pad VALID and non-zero pads")
    if len(strides) != 2 or min(strides) < 1 or len(pads) != 4 or min(pads) < 0:
        raise Unsupported(f"{op} strides {strides} / pads {pads}: 2-D, positive strides, non-negative pads")
    if ks is not None and (len(ks) != 2 or min(ks) < 0):
        raise Unsupported(f"{op} kernel_shape {ks}: only 2-D is checked")
    return (tuple(ks) if ks is not None else None), strides, pads


def _out_dim(size: int, k: int, s: int, p0: int, p1: int) -> int | None:
    span = size + p0 + p1 - k
    return None if span < 0 else span // s + 1


class _Conv(_Op):
    n_inputs = (2, 3)

    def prepare(self, spec, ins, out):
        ks, strides, pads = _window_attrs(spec, "Conv", (0, 0))
        group = spec.attr("group", 2, 1)
        if group < 1:
            raise Unsupported(f"Conv group {group}")
        has_b = len(ins) > 2 and ins[2].dtype != 0
        _require_float("Conv", ins, (0, 1, 2) if has_b else (0, 1))
        x, w = ins[0].shape, ins[1].shape
        if out.dtype != FLOAT or len(x) != 4 or len(w) != 4:
            if len(x) != 4 or len(w) != 4:
                raise Unsupported("Conv: only 2-D (rank-4 input and weight) is checked")
            return None
        kh, kw = w[2], w[3]
        if ks is not None and ks != (kh, kw):
            return None
        if x[1] % group or w[0] % group or x[1] // group != w[1] or (has_b and ins[2].shape != (w[0],)):
            return None
        oh = _out_dim(x[2], kh, strides[0], pads[0], pads[2])
        ow = _out_dim(x[3], kw, strides[1], pads[1], pads[3])
        if oh is None or ow is None or out.shape != (x[0], w[0], oh, ow):
            return None
        k = w[1] * kh * kw
        _check_k(k)
        return _WinGeo(x, out.shape, (kh, kw), strides, pads, group, has_b)

    def needs(self, geo: _WinGeo, out_index):
        m = _unravel(out_index, geo.out_shape)[1]
        k = geo.x_shape[1] // geo.group * geo.kernel[0] * geo.kernel[1]
        nd = []
        sp = geo.span(out_index)
        if sp is not None:
            nd.append(Need(0, 0, sp[0], sp[1]))
        nd.append(Need(1, 0, m * k, k))
        if geo.has_bias:
            nd.append(Need(2, 0, m, 1))
        return nd

    @staticmethod
    def pairs(geo: _WinGeo, out_index: int, span_vals, w_vals, b_val) -> list[tuple[int, int]]:
        """The (x, w) pairs of one output element, run by run (channel, kernel row), then (b, 1)."""
        n, m, oh, ow = _unravel(out_index, geo.out_shape)
        rows, cols = geo.rows_cols(oh, ow)
        _, _, h, w = geo.x_shape
        kh, kw = geo.kernel
        pairs = []
        sp = geo.span(out_index)
        if sp is not None:
            xb = _bits(span_vals).tolist()
            wb = _bits(w_vals).tolist()
            h0, w0 = oh * geo.strides[0] - geo.pads[0], ow * geo.strides[1] - geo.pads[1]
            c_ = geo.x_shape[1]
            for cl, c in enumerate(geo.channels(m)):
                for i in rows:
                    base = ((n * c_ + c) * h + h0 + i) * w + w0 - sp[0]
                    wbase = (cl * kh + i) * kw
                    pairs += [(xb[base + j], wb[wbase + j]) for j in cols]
        if geo.has_bias:
            pairs.append((int(_bits(b_val)[0]), ONE))
        return pairs

    def check(self, spec, geo, vals, y, out_index):
        pairs = self.pairs(geo, out_index, vals.get(0), vals[1], vals.get(2))
        m = geo.x_shape[1] // geo.group * geo.kernel[0] * geo.kernel[1] + geo.has_bias
        if not pairs:  # a window wholly in the padding and no bias: the output is 0
            pairs = [(0, ONE)]
        return product_sum_rule(pairs, int(_bits(y).reshape(())), m)

    def violations(self, spec, geo: _WinGeo, inputs, output):
        x = np.asarray(inputs[0], np.float32)
        wt = np.asarray(inputs[1], np.float32)
        y = np.asarray(output, np.float32)
        nb, c, _, _ = geo.x_shape
        m_out, cg, kh, kw = wt.shape
        pt, pl, pb, pr = geo.pads
        xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
        _, _, oh, ow = geo.out_shape
        sh, sw = geo.strides
        # patches [N, C, OH, OW, kh, kw]
        st = xp.strides
        patches = np.lib.stride_tricks.as_strided(
            xp, (nb, c, oh, ow, kh, kw), (st[0], st[1], st[2] * sh, st[3] * sw, st[2], st[3]), writeable=False)
        mg = m_out // geo.group
        a_parts, b_parts = [], []
        for g in range(geo.group):
            pa = patches[:, g * cg:(g + 1) * cg].transpose(0, 2, 3, 1, 4, 5).reshape(nb, oh, ow, cg * kh * kw)
            a_parts.append(pa)
            b_parts.append(wt[g * mg:(g + 1) * mg].reshape(mg, -1).T)  # [K, mg]
        k = cg * kh * kw
        cls_all = np.empty(y.shape, np.int8)
        for g in range(geo.group):
            a, b = a_parts[g], b_parts[g]
            bias = None if not geo.has_bias else np.asarray(inputs[2], np.float32)[g * mg:(g + 1) * mg]
            dgeo = _DotGeo("gemm", k, 0, mg, (nb, oh, ow, mg), (), (), c_shape=None if bias is None else (mg,))
            yg = y[:, g * mg:(g + 1) * mg].transpose(0, 2, 3, 1)
            cls = _dot_violations(dgeo, a, b, bias, yg).reshape(yg.shape)
            cls_all[:, g * mg:(g + 1) * mg] = cls.transpose(0, 3, 1, 2)
        return cls_all.reshape(-1)


class _MaxPool(_Op):
    def prepare(self, spec, ins, out):
        ks, strides, pads = _window_attrs(spec, "MaxPool", None)
        if spec.attr("ceil_mode", 2, 0) != 0:
            raise Unsupported("MaxPool ceil_mode 1")
        _require_float("MaxPool", ins, (0,))
        x = ins[0].shape
        if len(x) != 4:
            raise Unsupported("MaxPool: only 2-D (rank-4 input) is checked")
        if out.dtype != FLOAT:
            return None
        oh = _out_dim(x[2], ks[0], strides[0], pads[0], pads[2])
        ow = _out_dim(x[3], ks[1], strides[1], pads[1], pads[3])
        # onnxruntime refuses a pad as large as the kernel: every window holds a real element
        if oh is None or ow is None or out.shape != (x[0], x[1], oh, ow) or max(pads[0], pads[2]) >= ks[0] or max(pads[1], pads[3]) >= ks[1]:
            return None
        return _WinGeo(x, out.shape, ks, strides, pads, pool=True)

    def needs(self, geo: _WinGeo, out_index):
        sp = geo.span(out_index)
        return [] if sp is None else [Need(0, 0, sp[0], sp[1])]

    @staticmethod
    def window(geo: _WinGeo, out_index: int, span_vals) -> list[int]:
        n, ch, oh, ow = _unravel(out_index, geo.out_shape)
        rows, cols = geo.rows_cols(oh, ow)
        sp = geo.span(out_index)
        _, c_, h, w = geo.x_shape
        xb = _bits(span_vals).tolist()
        h0, w0 = oh * geo.strides[0] - geo.pads[0], ow * geo.strides[1] - geo.pads[1]
        return [xb[((n * c_ + ch) * h + h0 + i) * w + w0 + j - sp[0]] for i in rows for j in cols]

    def check(self, spec, geo, vals, y, out_index):
        return maxpool_rule(self.window(geo, out_index, vals[0]), int(_bits(y).reshape(())))

    def violations(self, spec, geo: _WinGeo, inputs, output):
        x = np.asarray(inputs[0], np.float32).astype(np.float64)
        y = np.asarray(output, np.float32).astype(np.float64)
        x = np.where(np.abs(x) < 2.0**-126, 0.0, x)  # DAZ view (NaN stays NaN)
        pt, pl, pb, pr = geo.pads
        xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
        real = np.pad(np.ones(x.shape, bool), ((0, 0), (0, 0), (pt, pb), (pl, pr)))  # not padding
        _, _, oh, ow = geo.out_shape
        (kh, kw), (sh, sw) = geo.kernel, geo.strides
        nb, c = geo.x_shape[:2]

        def windows(a):
            st = a.strides
            return np.lib.stride_tricks.as_strided(
                a, (nb, c, oh, ow, kh, kw), (st[0], st[1], st[2] * sh, st[3] * sw, st[2], st[3]), writeable=False
            ).reshape(nb, c, oh, ow, kh * kw)

        win, valid = windows(xp), windows(real)
        nan = np.isnan(win) & valid
        has_nan = nan.any(axis=-1)
        mx = np.max(np.where(valid & ~nan, win, -np.inf), axis=-1)
        yd = np.where(np.abs(y) < 2.0**-126, 0.0, y)
        y_nan = np.isnan(y)
        any_eq = ((win == yd[..., None]) & valid & ~nan).any(axis=-1) | (y == _F32_LOWEST) | (y == -np.inf)
        ok = np.where(has_nan, y_nan | any_eq, ~y_nan & (yd == mx))
        return ok.astype(np.int8).reshape(-1)


_F32_LOWEST = -float(np.finfo(np.float32).max)


def _daz(v: float) -> float:
    """A value as a denormals-are-zero comparison sees it."""
    return 0.0 if abs(v) < 2.0**-126 else v


def maxpool_rule(window: Sequence[int], y: int) -> bool:
    """Max of float32 bits: ŷ has the value of the largest element, as compared with subnormals read
    as zero (so ±0 and, where the largest values are subnormal, any of them pass). With a NaN in the
    window the order of comparisons decides what survives (measured: onnxruntime's max of
    [1.76, 0.74, NaN, -0.45] is 0.74, and of [2.55, NaN] with padding its start value -FLT_MAX),
    so NaN, any non-NaN element, -FLT_MAX or -Inf passes."""
    vals = [float(np.uint32(b).view(np.float32)) for b in window]
    yv = float(np.uint32(y).view(np.float32))
    finite = [v for v in vals if v == v]
    if len(finite) < len(vals):
        return yv != yv or yv in (_F32_LOWEST, -np.inf) or _daz(yv) in {_daz(v) for v in finite}
    return yv == yv and _daz(yv) == max(_daz(v) for v in finite)


class _Cast(_Op):
    """Cast to the input's own dtype: a copy (bit-exact)."""

    def prepare(self, spec, ins, out):
        to = spec.attr("to", 2, None)
        if ins[0].dtype not in codec.DTYPES:
            raise Unsupported(f"Cast input dtype {ins[0].dtype} has no canonical encoding")
        if to != ins[0].dtype:
            raise Unsupported(f"Cast from dtype {ins[0].dtype} to {to}: only a cast to the same dtype is checked")
        if out.dtype != to or out.shape != ins[0].shape:
            return None
        return ("move", ins[0].shape, out.shape)

    needs = _Move.needs
    check = _Move.check
    violations = _Move.violations


def argmax_rule(row: Sequence[int], y: int) -> bool:
    """Accept the int64 ``y`` as ArgMax of the float32 ``row`` (bits): an index whose element has
    the largest value as a denormals-are-zero comparison sees it (so any of tied maxima, whatever
    select_last_index says); with a NaN in the row the order of comparisons decides (measured:
    onnxruntime returns the NaN's index when it comes first, skips it otherwise), so any index."""
    n = len(row)
    if not 0 <= y < n:
        return False
    vals = [float(np.uint32(b).view(np.float32)) for b in row]
    if any(v != v for v in vals):
        return True
    return _daz(vals[y]) == max(_daz(v) for v in vals)


class _ArgMax(_Op):
    """ArgMax over the last axis of a float32 tensor (int64 output, keepdims 0 or 1)."""

    def prepare(self, spec, ins, out):
        _require_float("ArgMax", ins, (0,))
        axis = spec.attr("axis", 2, 0)
        keep = spec.attr("keepdims", 2, 1)
        last = spec.attr("select_last_index", 2, 0)
        if keep not in (0, 1) or last not in (0, 1):
            raise Unsupported("ArgMax keepdims/select_last_index other than 0 or 1")
        shape = ins[0].shape
        r = len(shape)
        if r == 0 or not -r <= axis < r or axis % r != r - 1:
            raise Unsupported(f"ArgMax over axis {axis} of a rank-{r} tensor: only the last axis is checked")
        n = shape[-1]
        want = shape[:-1] + ((1,) if keep else ())
        if out.dtype != INT64 or out.shape != want or n == 0:
            return None
        if n > MAX_TERMS:
            raise Unsupported(f"ArgMax over {n} elements: checked for up to {MAX_TERMS}")
        return n

    def needs(self, geo, out_index):
        return [Need(0, 0, out_index * geo, geo)]

    def check(self, spec, geo, vals, y, out_index):
        return argmax_rule(_bits(vals[0]).tolist(), int(np.asarray(y).reshape(())))

    def violations(self, spec, geo, inputs, output):
        x = np.asarray(inputs[0], np.float32).reshape(-1, geo).astype(np.float64)
        y = np.asarray(output).reshape(-1).astype(np.int64)
        xd = np.where(np.abs(x) < 2.0**-126, 0.0, x)
        has_nan = np.isnan(x).any(axis=1)
        inside = (y >= 0) & (y < geo)
        picked = xd[np.arange(x.shape[0]), np.clip(y, 0, geo - 1)]
        with np.errstate(invalid="ignore"):
            ok = inside & (has_nan | (picked == np.max(np.where(np.isnan(xd), -np.inf, xd), axis=1)))
        return ok.astype(np.int8)


# ---------------------------------------------------------------------------------------------
# --- Transpose, Concat, Squeeze, Unsqueeze, Gather, Slice, MatMulInteger
# (mirrored in contracts/verifiers/MoveVerifier.sol and IntegerVerifier.sol; docs/fraud-bounds.md §4.6)
#
# The six data-movement ops are exact: output element o is one input element, bit for bit, at a
# position computed from the shapes, the attributes and (Gather, Slice) the values of small integer
# inputs. Those values are themselves committed node inputs, so the check of one element reads
# them first (stage one, ``needs``) and only then knows which data element it reads (stage two,
# ``needs_more``): :func:`needs` therefore takes the node's input values for these ops. Axes,
# starts, ends, steps or indices that make the op fail in onnxruntime (out of range, an axis repeated in
# Unsqueeze or Slice, a zero step)
# mean no execution can have produced the output: the check fails without reading data.
# MatMulInteger is exact integer arithmetic: Σ (a - a_zp)(b - b_zp) wrapped to int32.
# ---------------------------------------------------------------------------------------------

UINT8, INT8, INT32 = 2, 3, 6
MAX_RANK = 256
"""Largest rank (of the input, or Unsqueeze's output) the move checks take: axes sets are 256-bit masks."""


class NeedsValues(AssayError, ValueError):
    """The elements a check reads depend on values of the node's inputs that were not given."""

    hint = "pass inputs= (the node's input arrays, e.g. from the trace) to ops.needs"


def _encodable(op: str, ins: list[_Meta], i: int) -> None:
    if ins[i].dtype not in codec.DTYPES:
        raise Unsupported(f"{op} input {i} has dtype {ins[i].dtype}, which has no canonical encoding")


def _index_dtype(op: str, ins: list[_Meta], i: int, allowed: tuple[int, ...] = (INT32, INT64)) -> None:
    if ins[i].dtype not in allowed:
        raise Unsupported(f"{op} input {i} has dtype {ins[i].dtype}; expected one of {allowed} (int32 6, int64 7)")


def _check_rank(op: str, r: int) -> None:
    if r > MAX_RANK:
        raise Unsupported(f"{op} of rank {r}: checked up to rank {MAX_RANK}")


def _ravel(idx: Sequence[int], shape: Sequence[int]) -> int:
    flat = 0
    for i, d in zip(idx, shape):
        flat = flat * d + i
    return flat


def _int_list(v) -> list[int]:
    return [int(x) for x in np.asarray(v).reshape(-1)]


def _first_bytes(v) -> bytes:
    a = codec.canonical_array(v).reshape(-1)[:1]
    return a.tobytes()


def _bytes_equal(expected: np.ndarray, output: np.ndarray) -> np.ndarray:
    """Per element of ``output``: whether its bytes equal ``expected``'s (same dtype, same size)."""
    x = codec.canonical_array(expected).reshape(-1)
    y = codec.canonical_array(output).reshape(-1)
    if x.dtype != y.dtype or x.size != y.size:
        return np.zeros(y.size, dtype=np.int8)
    size = x.dtype.itemsize
    return np.all(x.view(np.uint8).reshape(-1, size) == y.view(np.uint8).reshape(-1, size), axis=1).astype(np.int8)


class _Pick(_Op):
    """Output element o is one input element (input ``src(o)[0]``, flat ``src(o)[1]``), bit for bit.

    ``needs`` lists what must be read before the source is known (small integer inputs); ``source``
    maps an output element to its source from those values (None: inconsistent, the check fails)."""

    value_dependent = False

    def needs(self, geo, out_index):
        return []

    def source(self, geo, out_index: int, vals) -> tuple[int, int] | None:
        raise NotImplementedError

    def needs_more(self, geo, out_index, vals):
        src = self.source(geo, out_index, vals)
        return [] if src is None else [Need(src[0], 0, src[1], 1)]

    def check(self, spec, geo, vals, y, out_index):
        src = self.source(geo, out_index, vals)
        if src is None:
            return False
        return _first_bytes(vals[src[0]]) == _first_bytes(y)

    def expected(self, geo, inputs) -> tuple[np.ndarray, np.ndarray | None] | None:
        """(the honest output, a mask of elements that can be honest at all, or None for all)."""
        raise NotImplementedError

    def violations(self, spec, geo, inputs, output):
        e = self.expected(geo, inputs)
        if e is None:
            return np.zeros(_numel(np.shape(output)), dtype=np.int8)
        want, valid = e
        ok = _bytes_equal(want, output)
        if valid is not None:
            ok &= valid.reshape(-1).astype(np.int8)
        return ok


class _Transpose(_Pick):
    def prepare(self, spec, ins, out):
        _encodable("Transpose", ins, 0)
        x = ins[0].shape
        _check_rank("Transpose", len(x))
        perm = spec.attr("perm", 7, None)
        perm = tuple(range(len(x) - 1, -1, -1)) if perm is None else tuple(perm)
        if out.dtype != ins[0].dtype or sorted(perm) != list(range(len(x))):
            return None
        if out.shape != tuple(x[p] for p in perm):
            return None
        return (x, perm, out.shape)

    def needs(self, geo, out_index):
        return self.needs_more(geo, out_index, {})

    def source(self, geo, out_index, vals):
        x, perm, o = geo
        idx = _unravel(out_index, o)
        src = [0] * len(x)
        for i, p in enumerate(perm):
            src[p] = idx[i]
        return 0, _ravel(src, x)

    def expected(self, geo, inputs):
        return np.transpose(codec.canonical_array(inputs[0]), geo[1]), None


class _Concat(_Pick):
    n_inputs = (1, 0xFFFF)

    def prepare(self, spec, ins, out):
        for i in range(len(ins)):
            _encodable("Concat", ins, i)
            if ins[i].dtype != ins[0].dtype:
                raise Unsupported(f"Concat input {i} has dtype {ins[i].dtype}, input 0 has {ins[0].dtype}")
        axis = spec.attr("axis", 2, None)
        if axis is None:
            raise Unsupported("Concat without an axis attribute")
        r = len(ins[0].shape)
        if out.dtype != ins[0].dtype or not -r <= axis < r:
            return None
        axis %= r
        total = 0
        offsets = []
        for m in ins:
            s = m.shape
            if len(s) != r or any(s[j] != ins[0].shape[j] for j in range(r) if j != axis):
                return None
            offsets.append(total)
            total += s[axis]
        want = ins[0].shape[:axis] + (total,) + ins[0].shape[axis + 1:]
        if out.shape != want:
            return None
        return (tuple(m.shape for m in ins), axis, out.shape, tuple(offsets))

    def needs(self, geo, out_index):
        return self.needs_more(geo, out_index, {})

    def source(self, geo, out_index, vals):
        shapes, axis, o, offsets = geo
        inner = _numel(o[axis + 1:])
        outer, rest = divmod(out_index, o[axis] * inner)
        p, q = divmod(rest, inner)
        j = max(i for i, off in enumerate(offsets) if off <= p and shapes[i][axis] > p - off)
        return j, (outer * shapes[j][axis] + p - offsets[j]) * inner + q

    def expected(self, geo, inputs):
        return np.concatenate([codec.canonical_array(a) for a in inputs], axis=geo[1]), None


class _Squeeze(_Pick):
    """Squeeze, Unsqueeze: the flat index is unchanged; the axes (input 1 from opset 13, else the
    attribute) decide whether the output shape is the op's."""

    n_inputs = (1, 2)

    def __init__(self, kind: str):
        self.kind = kind

    def prepare(self, spec, ins, out):
        _encodable(self.kind, ins, 0)
        has_input = len(ins) > 1 and ins[1].dtype != 0
        attr = spec.attr("axes", 7, None)
        if has_input and attr is not None:
            raise Unsupported(f"{self.kind} with axes both as an attribute and as an input")
        if self.kind == "Unsqueeze" and not has_input and attr is None:
            raise Unsupported("Unsqueeze without axes")
        if has_input:
            _index_dtype(self.kind, ins, 1, (INT64,))
        x = ins[0].shape
        k = (ins[1].shape[0] if len(ins[1].shape) == 1 else 0) if has_input else len(attr or ())
        _check_rank(self.kind, len(x) + (k if self.kind == "Unsqueeze" else 0))
        if out.dtype != ins[0].dtype or (has_input and len(ins[1].shape) != 1):
            return None
        return (x, out.shape, k if has_input else None, None if attr is None else tuple(attr))

    def needs(self, geo, out_index):
        x, _, k, _ = geo
        nd = [Need(1, 0, 0, k)] if k else []
        if out_index < _numel(x):
            nd.append(Need(0, 0, out_index, 1))
        return nd

    def needs_more(self, geo, out_index, vals):
        return []

    def target(self, geo, vals) -> tuple[int, ...] | None:
        x, _, k, attr = geo
        axes = list(attr or ()) if k is None else _int_list(vals.get(1, np.zeros(0, np.int64)))
        if self.kind == "Squeeze":
            r = len(x)
            if not axes:  # no axes, or an empty axes input (onnxruntime): every size-1 dim goes
                return tuple(d for d in x if d != 1)
            drop = set()
            for a in axes:  # a repeated axis is removed once (onnxruntime accepts it)
                a = a + r if a < 0 else a
                if not 0 <= a < r or x[a] != 1:
                    return None
                drop.add(a)
            return tuple(d for j, d in enumerate(x) if j not in drop)
        big = len(x) + len(axes)
        ins = set()
        for a in axes:
            a = a + big if a < 0 else a
            if not 0 <= a < big or a in ins:
                return None
            ins.add(a)
        it = iter(x)
        return tuple(1 if j in ins else next(it) for j in range(big))

    def source(self, geo, out_index, vals):
        return (0, out_index) if self.target(geo, vals) == geo[1] else None

    def expected(self, geo, inputs):
        vals = {} if geo[2] is None else {1: np.asarray(inputs[1])}
        if self.target(geo, vals) != geo[1]:
            return None
        return codec.canonical_array(inputs[0]).reshape(geo[1]), None


class _GatherOp(_Pick):
    """Gather along any axis; negative indices count from the end; an index outside [-d, d) fails."""

    n_inputs = (2, 2)
    value_dependent = True

    def prepare(self, spec, ins, out):
        _encodable("Gather", ins, 0)
        _index_dtype("Gather", ins, 1)
        axis = spec.attr("axis", 2, 0)
        x, q = ins[0].shape, ins[1].shape
        r = len(x)
        if out.dtype != ins[0].dtype or not -r <= axis < r:
            return None
        axis %= r
        if out.shape != x[:axis] + q + x[axis + 1:]:
            return None
        return (x, q, axis, out.shape)

    def _split(self, geo, out_index):
        x, q, axis, o = geo
        inner = _numel(x[axis + 1:])
        nq = _numel(q)
        outer, rest = divmod(out_index, nq * inner)
        j, i = divmod(rest, inner)
        return outer, j, i, inner

    def needs(self, geo, out_index):
        return [Need(1, 0, self._split(geo, out_index)[1], 1)]

    def source(self, geo, out_index, vals):
        x, _, axis, _ = geo
        outer, _, i, inner = self._split(geo, out_index)
        v = _int_list(vals[1])[0]
        d = x[axis]
        if v < 0:
            v += d
        if not 0 <= v < d:
            return None
        return 0, (outer * d + v) * inner + i

    def expected(self, geo, inputs):
        x, _, axis, _ = geo
        ind = np.asarray(inputs[1]).astype(np.int64)
        d = x[axis]
        valid = (ind >= -d) & (ind < d)
        safe = np.where(valid, np.where(ind < 0, ind + d, ind), 0) if d else np.zeros_like(ind)
        data = codec.canonical_array(inputs[0])
        if d == 0:  # nothing to take: every element fails
            return np.zeros(geo[3], dtype=data.dtype), np.zeros(geo[3], dtype=bool)
        want = np.take(data, safe, axis=axis)
        mask = np.broadcast_to(valid.reshape((1,) * axis + ind.shape + (1,) * (len(x) - axis - 1)), geo[3])
        return want, mask


_SLICE_TO_END = (2**31 - 1, 2**63 - 1)


def slice_plan(x_shape: Sequence[int], starts, ends, axes=None, steps=None):
    """ONNX Slice (opset 10+) of a tensor of ``x_shape``: (begin, step, output shape) per axis, or
    None when the op fails (an axis outside [-r, r), a repeated axis, a zero step). Starts and ends
    are clamped as the spec says: to [0, d] for a positive step, to [0, d-1] / [-1, d-1] for a
    negative one, after adding d to negative values; as in onnxruntime (measured), an end of
    INT32_MAX or INT64_MAX (in either index dtype) means "to the end" in the step's direction, so
    with a negative step it reaches element 0 (the spec would clamp it to d - 1: an empty slice)."""
    r = len(x_shape)
    k = len(starts)
    axes = list(range(k)) if axes is None else list(axes)
    steps = [1] * k if steps is None else list(steps)
    begin, step, out = [0] * r, [1] * r, list(x_shape)
    seen: set[int] = set()
    for i in range(k):
        a = axes[i] + r if axes[i] < 0 else axes[i]
        s = steps[i]
        if not 0 <= a < r or a in seen or s == 0:
            return None
        seen.add(a)
        d = x_shape[a]
        st = starts[i] + d if starts[i] < 0 else starts[i]
        en = ends[i] + d if ends[i] < 0 else ends[i]
        if ends[i] in _SLICE_TO_END:  # onnxruntime: INT32_MAX / INT64_MAX is "to the end", either direction
            en = d if s > 0 else -1
        if s > 0:
            st, en = min(max(st, 0), d), min(max(en, 0), d)
            n = -(-(en - st) // s) if en > st else 0
        else:
            st, en = min(max(st, 0), d - 1), min(max(en, -1), d - 1)
            n = -(-(st - en) // -s) if st > en else 0
        if d == 0:
            st, n = 0, 0
        begin[a], step[a], out[a] = st, s, n
    return begin, step, tuple(out)


class _Slice(_Pick):
    """Slice from opset 10: starts, ends and optional axes, steps are 1-D integer inputs of one length k."""

    n_inputs = (3, 5)
    value_dependent = True

    def prepare(self, spec, ins, out):
        for name in ("starts", "ends", "axes"):
            if name in spec.attrs:
                raise Unsupported(f"Slice with a {name!r} attribute (opset < 10): only inputs are checked")
        _encodable("Slice", ins, 0)
        present = tuple(i for i in range(1, len(ins)) if ins[i].dtype != 0)
        for i in present:
            _index_dtype("Slice", ins, i)
        _check_rank("Slice", len(ins[0].shape))
        k = ins[1].shape[0] if len(ins[1].shape) == 1 else -1
        if out.dtype != ins[0].dtype or k < 0 or any(ins[i].shape != (k,) for i in present):
            return None
        return (ins[0].shape, out.shape, k, present)

    def needs(self, geo, out_index):
        _, _, k, present = geo
        return [Need(i, 0, 0, k) for i in present] if k else []

    def plan(self, geo, vals):
        x, _, k, present = geo
        v = {i: _int_list(vals[i]) if k else [] for i in present}
        return slice_plan(x, v[1], v[2], v.get(3), v.get(4))

    def source(self, geo, out_index, vals):
        p = self.plan(geo, vals)
        if p is None or p[2] != geo[1]:
            return None
        begin, step, o = p
        idx = _unravel(out_index, o)
        return 0, _ravel([b + i * s for b, i, s in zip(begin, idx, step)], geo[0])

    def expected(self, geo, inputs):
        p = self.plan(geo, {i: inputs[i] for i in geo[3]})
        if p is None or p[2] != geo[1]:
            return None
        begin, step, o = p
        idx = np.ix_(*(b + s * np.arange(n, dtype=np.int64) for b, s, n in zip(begin, step, o)))
        return codec.canonical_array(inputs[0])[idx].reshape(o), None


@dataclass(frozen=True)
class _IntGeo:
    k: int
    m_rows: int
    n_cols: int
    out_shape: tuple[int, ...]
    a_shape: tuple[int, ...]
    b_shape: tuple[int, ...]
    has_za: bool
    zb: int  # 0 absent, 1 one value, 2 one per column of B


class _MatMulInteger(_Op):
    """MatMulInteger: uint8/int8 A and B, optional zero points (A: one value; B: one value or one
    per column of a 2-D B), int32 output = Σ (a - a_zp)(b - b_zp) wrapped to 32 bits (two's
    complement), numpy matmul shapes (1-D operands, broadcast batch dims)."""

    n_inputs = (2, 4)

    def prepare(self, spec, ins, out):
        for i in (0, 1):
            if ins[i].dtype not in (UINT8, INT8):
                raise Unsupported(f"MatMulInteger input {i} has dtype {ins[i].dtype}; expected uint8 (2) or int8 (3)")
        has_za = len(ins) > 2 and ins[2].dtype != 0
        zb = 0
        if has_za:
            if ins[2].dtype != ins[0].dtype:
                raise Unsupported(f"MatMulInteger a_zero_point has dtype {ins[2].dtype}, A has {ins[0].dtype}")
            if len(ins[2].shape) > 1 or _numel(ins[2].shape) != 1:
                raise Unsupported(f"MatMulInteger a_zero_point of shape {ins[2].shape}: only one value is checked")
        a, b = ins[0].shape, ins[1].shape
        if len(ins) > 3 and ins[3].dtype != 0:
            if ins[3].dtype != ins[1].dtype:
                raise Unsupported(f"MatMulInteger b_zero_point has dtype {ins[3].dtype}, B has {ins[1].dtype}")
            zs = ins[3].shape
            if len(zs) <= 1 and _numel(zs) == 1:
                zb = 1
            elif len(b) == 2 and zs in ((b[1],), (1, b[1])):
                zb = 2
            else:
                raise Unsupported(f"MatMulInteger b_zero_point of shape {zs} for B of shape {b}")
        if out.dtype != INT32 or len(a) < 1 or len(b) < 1:
            return None
        dims = _matmul_dims(a, b, out.shape)
        if dims is None:
            return None
        k, m_rows, n_cols, shape = dims
        return _IntGeo(k, m_rows, n_cols, shape, a, b, has_za, zb)

    def needs(self, geo: _IntGeo, out_index):
        mm = _DotGeo("matmul", geo.k, geo.m_rows, geo.n_cols, geo.out_shape, geo.a_shape, geo.b_shape,
                     geo.a_shape[:-2], geo.b_shape[:-2])
        nd = _MatMul.needs(self, mm, out_index)
        if geo.has_za:
            nd.append(Need(2, 0, 0, 1))
        if geo.zb:
            nd.append(Need(3, 0, out_index % geo.n_cols if geo.zb == 2 else 0, 1))
        return nd

    @staticmethod
    def wrap32(v: int) -> int:
        return (v + (1 << 31)) % (1 << 32) - (1 << 31)

    def check(self, spec, geo, vals, y, out_index):
        za = int(np.asarray(vals[2]).reshape(-1)[0]) if geo.has_za else 0
        zb = int(np.asarray(vals[3]).reshape(-1)[0]) if geo.zb else 0
        a = _int_list(vals[0])
        b = _int_list(vals[1])
        exact = sum((x - za) * (z - zb) for x, z in zip(a, b))
        return self.wrap32(exact) == int(np.asarray(y).reshape(-1)[0])

    def violations(self, spec, geo, inputs, output):
        a = np.asarray(inputs[0]).astype(np.int64)
        b = np.asarray(inputs[1]).astype(np.int64)
        if geo.has_za:
            a = a - int(np.asarray(inputs[2]).reshape(-1)[0])
        if geo.zb == 1:
            b = b - int(np.asarray(inputs[3]).reshape(-1)[0])
        elif geo.zb == 2:
            b = b - np.asarray(inputs[3]).astype(np.int64).reshape(-1)
        exact = np.matmul(a, b)  # |Σ| < 2^20 · 2^16: exact in int64
        wrapped = (exact + (1 << 31)) % (1 << 32) - (1 << 31)
        return (wrapped.reshape(-1) == np.asarray(output).astype(np.int64).reshape(-1)).astype(np.int8)


# ---------------------------------------------------------------------------------------------
# --- Div, Clip, BatchNormalization, AveragePool, GlobalAveragePool
# (mirrored in contracts/verifiers/ArithmeticVerifier.sol and PoolVerifier.sol; bounds in
# docs/fraud-bounds.md §4.3–4.5)
# ---------------------------------------------------------------------------------------------

F32_MAX = 0x7F7FFFFF
F32_LOWEST = 0xFF7FFFFF
POS_INF = 0x7F800000
NEG_INF = 0xFF800000
DIV_K = 100
"""Div: the quotient of the mantissas is taken with 100 fraction bits (≥ 76 significant bits)."""
DIV_Y_LIMIT_LOG2 = 230
"""Div: a claimed |ŷ| of 2^230 grid units or more is rejected outright (provably outside)."""
BN_R_NUM = 32
"""BatchNormalization: relative tolerance R = 32·2^-24 of P = |x·s| + |μ·s| + |β|."""
BN_EPS_DEFAULT = 0x3727C5AC  # float32 1e-5
BN_W_BITS = 200  # bits kept below the top of v + ε
BN_W_MIN_LOG2 = 160  # fewer significant bits of v + ε (cancellation): degenerate
BN_R_LOG2 = 240  # 1/√W is taken as 2^240 / √W
BN_GRID_WIDTH = 220  # the output grid: 220 bits below the largest term
BN_GRID_MIN = -224
BN_Y_LIMIT_LOG2 = 240


def _is_nan(bits: int) -> bool:
    return (bits >> 23) & 0xFF == 0xFF and bits & 0x7FFFFF != 0


def _sub_or_zero(bits: int) -> bool:
    return (bits >> 23) & 0xFF == 0


def _scaled(man: int, sh: int) -> tuple[int, int]:
    """(floor, ceil) of man·2^sh for man ≥ 0."""
    if sh >= 0:
        return man << sh, man << sh
    if sh <= -256:
        return 0, 1 if man else 0
    lo = man >> -sh
    return lo, lo + (1 if lo << -sh != man else 0)


def div_rule(a: int, b: int, y: int) -> bool:
    """Accept float32 ``y`` (bits) as an honest a / b (one correctly rounded division)?

    * NaN operand, or ±Inf / ±Inf: ŷ NaN; ±Inf / finite: ŷ ±Inf; finite / ±Inf: ŷ ±0;
    * finite / ±0: ŷ NaN or ±Inf (0/0 is NaN, x/0 is ±Inf; the sign and kind are not checked);
    * b subnormal: ŷ NaN or ±Inf is also accepted (a denormals-are-zero executor divides by 0);
      a zero or subnormal: ŷ ±0 is also accepted (DAZ reads a as 0);
    * ŷ NaN or ±Inf from finite operands: accepted iff |a/b| can reach 2^127 (an honest overflow);
    * else accept iff |ŷ − q| ≤ γ₁·|q| + 2^-126 (q = a/b exactly), decided on the grid
      2^G, G = e_a − e_b − 100: Q = ⌊m_a·2^100 / m_b⌋, ŷ truncated to the grid (Ŷ), and
      |Ŷ − Q|·(2^24 − 1) ≤ Q + (3 + 2^max(−126 − G, 0))·(2^24 − 1).
    The Solidity twin is ``ArithmeticVerifier._divRule``."""
    a_nf, b_nf, y_nf = _nonfinite(a), _nonfinite(b), _nonfinite(y)
    if _is_nan(a) or _is_nan(b) or (a_nf and b_nf):
        return _is_nan(y)
    if a_nf:
        return y & 0x7FFFFFFF == POS_INF
    if b_nf:
        return y & 0x7FFFFFFF == 0
    if b & 0x7FFFFFFF == 0:
        return y_nf
    if y_nf and _sub_or_zero(b):
        return True
    if y & 0x7FFFFFFF == 0 and _sub_or_zero(a):
        return True
    sa, _, ma, ea = _fields(a)
    sb, _, mb, eb = _fields(b)
    g = ea - eb - DIV_K
    q = (ma << DIV_K) // mb
    if y_nf:  # honest overflow needs |q| ≥ 2^128 - 2^103 > 2^127; (Q + 1)·2^G bounds |q| from above
        need = 127 - g
        return need <= 0 or (need < 256 and q + 1 >= 1 << need)
    sy, _, my, ey = _fields(y)
    sh = ey - 150 - g
    if sh >= 0:
        if my and (sh >= DIV_Y_LIMIT_LOG2 or my >> (DIV_Y_LIMIT_LOG2 - sh)):
            return False
        yq = my << sh
    else:
        yq = _scaled(my, sh)[0]
    diff = abs((-yq if sy else yq) - (-q if sa ^ sb else q))
    k = (1 << U_LOG2) - 1
    return diff * k <= q + (3 + (1 << max(-126 - g, 0))) * k


class _Div(_Binary):
    """Div: one correctly rounded float32 division, ONNX multidirectional broadcasting."""

    def check(self, spec, geo, vals, y, out_index):
        return div_rule(int(_bits(vals[0])[0]), int(_bits(vals[1])[0]), int(_bits(y).reshape(())))

    def violations(self, spec, geo, inputs, output):
        y = np.asarray(output, dtype=np.float32)
        a = np.broadcast_to(np.asarray(inputs[0], dtype=np.float32), y.shape)
        b = np.broadcast_to(np.asarray(inputs[1], dtype=np.float32), y.shape)
        ea, eb = _expfield(_bits(a)), _expfield(_bits(b))
        special = (ea == 0) | (eb == 0) | (ea == 255) | (eb == 255) | ~np.isfinite(y)
        a64 = np.where(special, 1.0, a).astype(np.float64)
        b64 = np.where(special, 1.0, b).astype(np.float64)
        q = a64 / b64  # relative error ≤ 2^-53
        g = np.exp2((np.maximum(ea, 1) - np.maximum(eb, 1) - DIV_K).astype(np.float64))
        with np.errstate(invalid="ignore", over="ignore"):
            d = np.abs(y.astype(np.float64) - q)
            ideal = np.abs(q) / ((1 << U_LOG2) - 1) + 2.0**-126
            slop = 2.0**-50 * (np.abs(q) + d) + 2.0**-1000
            cls = np.full(y.shape, -1, np.int8)
            cls[d + slop < ideal] = 1
            cls[d - slop > ideal + np.maximum(2.0**-126, g) + 8 * g] = 0
        cls[special] = -1
        return cls.reshape(-1)


def _clip_pick(a: int, b: int, larger: bool) -> list[int]:
    """The values max (or min) of a and b may return: either operand when one is NaN (the order of
    comparisons decides) or the two are equal as a denormals-are-zero comparison sees them."""
    if _is_nan(a) or _is_nan(b):
        return [a, b]
    ka, kb = _daz_key(a), _daz_key(b)
    if ka == kb:
        return [a, b]
    return [a] if (ka > kb) == larger else [b]


def _daz_key(bits: int) -> int:
    """Order key of a non-NaN float as a denormals-are-zero comparison sees it."""
    if (bits >> 23) & 0xFF == 0:
        return 0
    return bits if bits >> 31 == 0 else -(bits & 0x7FFFFFFF)


def clip_rule(x: int, lo: int | None, hi: int | None, y: int) -> bool:
    """Accept float32 ``y`` as Clip(x, lo, hi) = min(max(x, lo), hi) (None: the bound is absent)?

    Exact: ŷ has the value (DAZ view: subnormals equal ±0) of a result some order of comparisons
    gives: max and min return either operand when one is NaN or both are equal; an absent lower
    bound is −FLT_MAX (onnxruntime: Clip(−Inf) without a minimum is −FLT_MAX) or −Inf, an absent
    upper bound FLT_MAX or +Inf. lo > hi gives hi (measured)."""
    los = [F32_LOWEST, NEG_INF] if lo is None else [lo]
    his = [F32_MAX, POS_INF] if hi is None else [hi]
    results = [z for l_ in los for r in _clip_pick(x, l_, True) for h in his for z in _clip_pick(r, h, False)]
    if _is_nan(y):
        return any(_is_nan(z) for z in results)
    return any(not _is_nan(z) and _daz_key(z) == _daz_key(y) for z in results)


class _Clip(_Op):
    """Clip (opset ≥ 11: min and max as optional scalar inputs), float32, exact."""

    n_inputs = (1, 3)

    def prepare(self, spec, ins, out):
        for name in ("max", "min"):
            if name in spec.attrs:
                raise Unsupported(f"Clip attribute {name!r} (opset < 11): only min/max given as inputs are checked")
        present = tuple(i for i in (1, 2) if i < len(ins) and ins[i].dtype != 0)
        _require_float("Clip", ins, (0,) + present)
        if out.dtype != FLOAT or out.shape != ins[0].shape:
            return None
        if any(len(ins[i].shape) > 1 or _numel(ins[i].shape) != 1 for i in present):
            return None
        return present

    def needs(self, geo, out_index):
        return [Need(0, 0, out_index, 1)] + [Need(i, 0, 0, 1) for i in geo]

    def check(self, spec, geo, vals, y, out_index):
        lo = int(_bits(vals[1])[0]) if 1 in geo else None
        hi = int(_bits(vals[2])[0]) if 2 in geo else None
        return clip_rule(int(_bits(vals[0])[0]), lo, hi, int(_bits(y).reshape(())))

    def violations(self, spec, geo, inputs, output):
        x = np.asarray(inputs[0], np.float32).reshape(-1).astype(np.float64)
        y = np.asarray(output, np.float32).reshape(-1).astype(np.float64)
        daz = lambda v: np.where(np.abs(v) < 2.0**-126, 0.0, v)  # noqa: E731
        lo = [float(np.asarray(inputs[1], np.float32).reshape(-1)[0])] if 1 in geo else [-_F32_MAX, -np.inf]
        hi = [float(np.asarray(inputs[2], np.float32).reshape(-1)[0])] if 2 in geo else [_F32_MAX, np.inf]
        if any(v != v for v in lo + hi):
            return None  # a NaN bound: decide each element exactly
        ok = np.zeros(x.shape, bool)
        for lv in lo:
            for hv in hi:
                ok |= daz(y) == np.minimum(np.maximum(daz(x), _daz(lv)), _daz(hv))
        cls = ok.astype(np.int8)
        cls[np.isnan(x) | np.isnan(y)] = -1
        return cls


_F32_MAX = float(np.finfo(np.float32).max)


def batchnorm_rule(x: int, scale: int, bias: int, mean: int, var: int, eps: int, y: int) -> bool:
    """Accept float32 ``y`` as BatchNormalization (inference) y = (x − μ)·γ/√(v + ε) + β?

    With s = γ/√(v + ε), P = |x·s| + |μ·s| + |β|, D the part of P whose factor is subnormal (what
    DAZ drops; a subnormal γ drops both products) and A = (|x| + |μ| + |γ| + 16)·2^-125 (underflow
    of intermediates), accept iff |ŷ − y| ≤ 2^-19·P + 2·D + A. Computed with integers: v + ε on a
    grid 200 bits below its top (floor and ceil), 1/√ by integer square roots (2^240/√W), the three
    terms floor/ceil on a grid 220 bits below the largest, then ŷ against [y_lo − T, y_hi + T].
    Degenerate parameters accept every ŷ: γ, β, μ or v non-finite, v + ε < 2^-100, or
    v + ε cancelling to fewer than 160 of 200 bits (only a negative variance), or v + ε able to
    reach 2^127. x non-finite: ŷ must be non-finite; ŷ non-finite from finite x: accepted iff
    some intermediate can reach 2^126. The Solidity twin is ``ArithmeticVerifier._bnRule``."""
    if any(_nonfinite(v) for v in (scale, bias, mean, var)):
        return True
    sv, _, mv, ev = _fields(var)
    se, _, me, ee = _fields(eps)
    top = max(ev, ee)
    if top >= 253:
        return True
    kw = top - 150 - BN_W_BITS
    w_lo = w_hi = 0
    for s_, m_, e_ in ((sv, mv, ev), (se, me, ee)):
        lo, hi = _scaled(m_, e_ - 150 - kw)
        w_lo, w_hi = (w_lo - hi, w_hi - lo) if s_ else (w_lo + lo, w_hi + hi)
    if w_lo < 1 << BN_W_MIN_LOG2:
        return True
    need = -100 - kw  # w ≥ 2^-100 ⇔ W ≥ 2^(-100 - kw)
    if need > 0 and w_lo >> need == 0:
        return True
    if kw & 1:
        w_lo, w_hi, kw = 2 * w_lo, 2 * w_hi, kw - 1
    half = kw // 2
    sq_lo = _isqrt(w_lo)
    sq_hi = _isqrt(w_hi)
    if sq_hi * sq_hi < w_hi:
        sq_hi += 1
    r_lo = (1 << BN_R_LOG2) // sq_hi
    r_hi = -(-(1 << BN_R_LOG2) // sq_lo)
    if _nonfinite(x):
        return _nonfinite(y)
    sx, fx, mx, ex = _fields(x)
    sg, fg, mg, eg = _fields(scale)
    sb, fb, mb, eb = _fields(bias)
    sm, fm, mm, em = _fields(mean)
    if _nonfinite(y):
        br = r_hi.bit_length() - BN_R_LOG2 - half  # 1/√w < 2^br
        bx, bg, bm, bb = ex - 126, eg - 126, em - 126, eb - 126  # |·| < 2^b
        hx = max(bx, bm) + 1
        return max(hx, bg + br, hx + bg + br + 1, bb + 1, hx + br, hx + bg) >= 126
    e_prod = -300 - BN_R_LOG2 - half  # exponent of m·m_γ·R
    t = max(ex + eg + e_prod + 208, em + eg + e_prod + 208, eb - 150 + 24)
    g = max(t - BN_GRID_WIDTH, BN_GRID_MIN)
    xs = _scaled(mx * mg * r_lo, ex + eg + e_prod - g)[0], _scaled(mx * mg * r_hi, ex + eg + e_prod - g)[1]
    ms = _scaled(mm * mg * r_lo, em + eg + e_prod - g)[0], _scaled(mm * mg * r_hi, em + eg + e_prod - g)[1]
    bt = _scaled(mb, eb - 150 - g)
    y_lo = y_hi = 0
    for neg, (lo, hi) in ((sx ^ sg, xs), (1 - (sm ^ sg), ms), (sb, bt)):
        y_lo, y_hi = (y_lo - hi, y_hi - lo) if neg else (y_lo + lo, y_hi + hi)
    p = xs[1] + ms[1] + bt[1]
    d = (xs[1] if fx == 0 or fg == 0 else 0) + (ms[1] if fm == 0 or fg == 0 else 0) + (bt[1] if fb == 0 else 0)
    a = sum(_scaled(m_, e_ - 275 - g)[1] for m_, e_ in ((mx, ex), (mm, em), (mg, eg))) + _scaled(16, -125 - g)[1]
    tol = -(-(p * BN_R_NUM) >> U_LOG2) + 2 * d + a
    sy, _, my, ey = _fields(y)
    sh = ey - 150 - g
    if sh >= 0 and my and (sh >= BN_Y_LIMIT_LOG2 or my >> (BN_Y_LIMIT_LOG2 - sh)):
        return False
    ylo, yhi = _scaled(my, sh)
    if sy:
        ylo, yhi = -yhi, -ylo
    return ylo <= y_hi + tol and yhi >= y_lo - tol


def _isqrt(n: int) -> int:
    import math

    return math.isqrt(n)


class _BatchNorm(_Op):
    """BatchNormalization, inference form (training_mode 0, spatial 1), float32, one output."""

    n_inputs = (5, 5)

    def prepare(self, spec, ins, out):
        if spec.attr("spatial", 2, 1) != 1:
            raise Unsupported("BatchNormalization spatial 0 (opset < 9): only spatial 1 is checked")
        if spec.attr("training_mode", 2, 0) != 0:
            raise Unsupported("BatchNormalization training_mode 1: only the inference form is checked")
        eps = spec.attr("epsilon", 1, BN_EPS_DEFAULT)
        if _nonfinite(eps):
            raise Unsupported("BatchNormalization epsilon is not finite")
        _require_float("BatchNormalization", ins, (0, 1, 2, 3, 4))
        x = ins[0].shape
        if out.dtype != FLOAT or out.shape != x or len(x) < 2 or any(ins[i].shape != (x[1],) for i in range(1, 5)):
            return None
        return (x[1], _numel(x[2:]), eps)

    def needs(self, geo, out_index):
        c = out_index // geo[1] % geo[0]
        return [Need(0, 0, out_index, 1)] + [Need(i, 0, c, 1) for i in range(1, 5)]

    def check(self, spec, geo, vals, y, out_index):
        b = [int(_bits(vals[i])[0]) for i in range(5)]
        return batchnorm_rule(*b, geo[2], int(_bits(y).reshape(())))

    def violations(self, spec, geo, inputs, output):
        c, inner, eps_bits = geo
        y = np.asarray(output, np.float32).reshape(-1, c, inner).astype(np.float64)
        x = np.asarray(inputs[0], np.float32).reshape(-1, c, inner).astype(np.float64)
        par = [np.asarray(inputs[i], np.float32).reshape(-1) for i in range(1, 5)]
        sc, bi, mu, va = (p.astype(np.float64)[None, :, None] for p in par)
        eps = float(np.uint32(eps_bits).view(np.float32))
        w = va + eps
        # per channel: every parameter normal or zero, v + ε comfortably inside the non-degenerate range
        regular = np.all([(_expfield(_bits(p)) != 255) & ((_expfield(_bits(p)) != 0) | (p == 0)) for p in par], axis=0)
        regular = regular & (w[0, :, 0] > 2.0**-90) & (w[0, :, 0] < 2.0**120) & (np.abs(par[3]) < 2.0**120)
        regular = regular & ((par[3] >= 0) | (w[0, :, 0] > 2.0**-30 * np.abs(par[3].astype(np.float64))))
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            s = sc / np.sqrt(np.where(regular[None, :, None], w, 1.0))
            ref = x * s - mu * s + bi
            p = np.abs(x * s) + np.abs(mu * s) + np.abs(bi)
            a = (np.abs(x) + np.abs(mu) + np.abs(sc) + 16) * 2.0**-125
            tol = BN_R_NUM * 2.0**-U_LOG2 * p + a
            d = np.abs(y - ref)
            slop = 2.0**-45 * (p + np.abs(y)) + 2.0**-1000
            cls = np.full(y.shape, -1, np.int8)
            cls[d + slop < tol] = 1
            cls[d - slop > tol + 2.0**-150] = 0
        xb = _bits(np.asarray(inputs[0], np.float32)).reshape(y.shape)
        irregular = ~regular[None, :, None] | ~np.isfinite(y) | ~np.isfinite(x) | (_expfield(xb) == 0) | (p > 2.0**100)
        cls[irregular] = -1
        return cls.reshape(-1)


def mean_rule(xs: Sequence[int], n: int, y: int, m: int) -> bool:
    """Accept float32 ``y`` as the mean Σxᵢ / n of the float32 ``xs`` (bits; k = len(xs) ≤ n
    terms, the rest of the n counted positions being padding zeros)?

    Written as the product-sum rule over the pairs (xᵢ, 1) with the claimed value n·ŷ:
    non-finite xᵢ: ŷ non-finite; ŷ non-finite from finite xᵢ: iff Σ|xᵢ| can reach 2^126; else
    accept iff |n·ŷ − Σxᵢ|·(2^24 − m) ≤ m·S + (2·D + 4k + 1 + n·(m + 1)·2^max(−123 − G, 0))·(2^24 − m)
    in grid units (n·ŷ truncated to the grid once, after the exact product). m = the window's
    positions + 1 (k − 1 additions, the division, and 1/n rounded for a reciprocal-multiply).
    The Solidity twin is ``PoolVerifier._meanRule``."""
    k = len(xs)
    if not 1 <= k <= MAX_TERMS or not 1 <= n <= MAX_TERMS or not 1 <= m <= MAX_TERMS + 1:
        raise Unsupported(f"a mean of {k} elements over {n} (m = {m}): checked for 1 to {MAX_TERMS}")
    if any(_nonfinite(x) for x in xs):
        return _nonfinite(y)
    pairs = [(x, ONE) for x in xs]
    _, g, e, s, d = rule_sums(pairs)
    if _nonfinite(y):
        return s + k >= 1 << max(OVERFLOW_LOG2 - g, 0)
    sy, _, my, ey = _fields(y)
    sh = ey - 150 - g
    ny = n * my
    if sh >= 0:
        if ny and (sh >= Y_LIMIT_LOG2 or ny >> (Y_LIMIT_LOG2 - sh)):
            return False
        yq = ny << sh
    else:
        yq = _scaled(ny, sh)[0]
    if sy:
        yq = -yq
    c0 = 4 * k + 1 + ((n * (m + 1)) << max(UNDERFLOW_LOG2 - g, 0))
    kk = (1 << U_LOG2) - m
    return abs(yq - e) * kk <= m * s + (2 * d + c0) * kk


def _mean_classify(y, n, sum_hat, abs_hat, sub_hat, k, m, t_ub) -> np.ndarray:
    """Vectorised pre-decision of mean_rule (1 / 0 / -1), float64 sums with error ≤ k·2^-50·Σ|x|."""
    y = np.asarray(y, np.float64)
    n = np.asarray(n, np.float64)
    gam = m * 2.0**-U_LOG2 / (1.0 - m * 2.0**-U_LOG2)
    g_ub = np.exp2(np.maximum(np.asarray(t_ub, np.float64) + 127 - 298 - GRID_WIDTH, GRID_MIN))
    with np.errstate(invalid="ignore", over="ignore"):
        dist = np.abs(n * y - sum_hat)
        ideal = gam * abs_hat + 2 * sub_hat + n * (m + 1) * 2.0**UNDERFLOW_LOG2
        slop = k * 2.0**-50 * abs_hat * (1 + gam + 2) + 2.0**-40 * (dist + ideal) + 2.0**-1000
        trunc = (m + 8 * k + 8) * g_ub + n * (m + 1) * g_ub
        cls = np.full(np.broadcast(dist, ideal).shape, -1, np.int8)
        cls[dist + slop < ideal] = 1
        cls[dist - slop > ideal + trunc] = 0
    return cls


class _AveragePool(_Op):
    """AveragePool, 2-D (NCHW), float32: the mean of the window's real elements (count_include_pad
    0) or of all kernel positions (1); the window read as MaxPool's span."""

    def prepare(self, spec, ins, out):
        ks, strides, pads = _window_attrs(spec, "AveragePool", None)
        if spec.attr("ceil_mode", 2, 0) != 0:
            raise Unsupported("AveragePool ceil_mode 1")
        cip = spec.attr("count_include_pad", 2, 0)
        if cip not in (0, 1):
            raise Unsupported("AveragePool count_include_pad other than 0 or 1")
        _require_float("AveragePool", ins, (0,))
        x = ins[0].shape
        if len(x) != 4:
            raise Unsupported("AveragePool: only 2-D (rank-4 input) is checked")
        if not 1 <= ks[0] * ks[1] <= MAX_TERMS:
            raise Unsupported(f"AveragePool kernel of {ks[0] * ks[1]} positions: checked for 1 to {MAX_TERMS}")
        if out.dtype != FLOAT:
            return None
        oh = _out_dim(x[2], ks[0], strides[0], pads[0], pads[2])
        ow = _out_dim(x[3], ks[1], strides[1], pads[1], pads[3])
        # onnxruntime refuses a pad as large as the kernel: every window holds a real element
        if oh is None or ow is None or out.shape != (x[0], x[1], oh, ow):
            return None
        if max(pads[0], pads[2]) >= ks[0] or max(pads[1], pads[3]) >= ks[1]:
            return None
        return _WinGeo(x, out.shape, ks, strides, pads, pool=True), cip

    def needs(self, geo, out_index):
        return _MaxPool.needs(self, geo[0], out_index)

    def check(self, spec, geo, vals, y, out_index):
        wg, cip = geo
        window = _MaxPool.window(wg, out_index, vals[0])
        size = wg.kernel[0] * wg.kernel[1]
        return mean_rule(window, size if cip else len(window), int(_bits(y).reshape(())), size + 1)

    def violations(self, spec, geo, inputs, output):
        wg, cip = geo
        x = np.asarray(inputs[0], np.float32)
        y = np.asarray(output, np.float32).astype(np.float64)
        pt, pl, pb, pr = wg.pads
        pad = ((0, 0), (0, 0), (pt, pb), (pl, pr))
        nb, c = wg.x_shape[:2]
        _, _, oh, ow = wg.out_shape
        (kh, kw), (sh, sw) = wg.kernel, wg.strides

        def windows(a):
            a = np.pad(a, pad)
            st = a.strides
            return np.lib.stride_tricks.as_strided(
                a, (nb, c, oh, ow, kh, kw), (st[0], st[1], st[2] * sh, st[3] * sw, st[2], st[3]), writeable=False
            ).reshape(nb, c, oh, ow, kh * kw)

        xf = np.isfinite(x)
        x64 = np.where(xf, x, 0).astype(np.float64)
        sub = (_expfield(_bits(x)) == 0).astype(np.float64)
        win = windows(x64)
        real = windows(np.ones(x.shape, np.float64))
        k = real.sum(axis=-1)
        n = np.full(k.shape, float(kh * kw)) if cip else k
        ex = windows(_expfield(_bits(x)).astype(np.float64) * xf + 0.0).max(axis=-1)
        cls = _mean_classify(y, n, win.sum(axis=-1), np.abs(win).sum(axis=-1), (np.abs(win) * windows(sub)).sum(axis=-1),
                             kh * kw, kh * kw + 1, ex)
        nf = windows((~xf).astype(np.float64)).sum(axis=-1) > 0
        y_nf = ~np.isfinite(y)
        cls[nf] = y_nf[nf]
        cls[~nf & y_nf] = -1
        return cls.reshape(-1)


class _GlobalAveragePool(_Op):
    """GlobalAveragePool, float32, rank ≥ 3: the mean over all spatial positions of a channel."""

    def prepare(self, spec, ins, out):
        _require_float("GlobalAveragePool", ins, (0,))
        x = ins[0].shape
        if len(x) < 3:
            raise Unsupported(f"GlobalAveragePool of a rank-{len(x)} tensor: rank ≥ 3 is checked")
        k = _numel(x[2:])
        if not 1 <= k <= MAX_TERMS:
            raise Unsupported(f"GlobalAveragePool over {k} positions: checked for 1 to {MAX_TERMS}")
        if out.dtype != FLOAT or out.shape != tuple(x[:2]) + (1,) * (len(x) - 2):
            return None
        return k

    def needs(self, geo, out_index):
        return [Need(0, 0, out_index * geo, geo)]

    def check(self, spec, geo, vals, y, out_index):
        return mean_rule(_bits(vals[0]).tolist(), geo, int(_bits(y).reshape(())), geo + 1)

    def violations(self, spec, geo, inputs, output):
        x = np.asarray(inputs[0], np.float32).reshape(-1, geo)
        y = np.asarray(output, np.float32).reshape(-1).astype(np.float64)
        xf = np.isfinite(x)
        x64 = np.where(xf, x, 0).astype(np.float64)
        sub = _expfield(_bits(x)) == 0
        ex = np.where(xf, _expfield(_bits(x)), 0).max(axis=1)
        cls = _mean_classify(y, float(geo), x64.sum(axis=1), np.abs(x64).sum(axis=1), (np.abs(x64) * sub).sum(axis=1),
                             geo, geo + 1, ex)
        nf = ~xf.all(axis=1)
        y_nf = ~np.isfinite(y)
        cls[nf] = y_nf[nf]
        cls[~nf & y_nf] = -1
        return cls


_OPS: dict[tuple[str, str], _Op] = {
    ("", "MatMul"): _MatMul(),
    ("", "Gemm"): _Gemm(),
    ("", "Add"): _Binary("Add"),
    ("", "Sub"): _Binary("Sub"),
    ("", "Mul"): _Binary("Mul"),
    ("", "Relu"): _Relu(),
    ("", "Identity"): _Move("Identity"),
    ("", "Reshape"): _Move("Reshape"),
    ("", "Flatten"): _Move("Flatten"),
    ("", "Conv"): _Conv(),
    ("", "MaxPool"): _MaxPool(),
    ("", "Cast"): _Cast(),
    ("", "ArgMax"): _ArgMax(),
    ("", "Softmax"): _Softmax(),
    ("", "Sigmoid"): _Unary("Sigmoid"),
    ("", "Tanh"): _Unary("Tanh"),
    ("", "Transpose"): _Transpose(),
    ("", "Concat"): _Concat(),
    ("", "Squeeze"): _Squeeze("Squeeze"),
    ("", "Unsqueeze"): _Squeeze("Unsqueeze"),
    ("", "Gather"): _GatherOp(),
    ("", "Slice"): _Slice(),
    ("", "MatMulInteger"): _MatMulInteger(),
    # Div, Clip, BatchNormalization, AveragePool, GlobalAveragePool
    ("", "Div"): _Div("Div"),
    ("", "Clip"): _Clip(),
    ("", "BatchNormalization"): _BatchNorm(),
    ("", "AveragePool"): _AveragePool(),
    ("", "GlobalAveragePool"): _GlobalAveragePool(),
}


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def supported(domain: str, op_type: str) -> bool:
    """Whether ``(domain, op_type)`` has a one-step check (domain "" or "ai.onnx")."""
    return ("" if domain == "ai.onnx" else domain, op_type) in _OPS


def _resolve(node, in_metas: list[_Meta], out_meta: _Meta):
    spec = node_spec(node)
    op = _OPS.get((spec.domain, spec.op_type))
    if op is None:
        raise Unsupported(f"op {spec.domain or 'ai.onnx'}.{spec.op_type} has no one-step check")
    if len(spec.outputs) != 1:
        raise Unsupported(f"{spec.op_type} with {len(spec.outputs)} outputs: only single-output nodes are checked")
    lo, hi = op.n_inputs
    if not lo <= len(spec.inputs) <= hi:
        raise Unsupported(f"{spec.op_type} with {len(spec.inputs)} inputs (checked: {lo} to {hi})")
    if len(in_metas) != len(spec.inputs):
        raise ValueError(f"{spec.op_type} has {len(spec.inputs)} inputs, {len(in_metas)} were given")
    for i in range(lo):
        if spec.inputs[i] == ABSENT or in_metas[i].dtype == 0:
            raise Unsupported(f"{spec.op_type} input {i} is absent")
    for i in range(lo, len(spec.inputs)):
        if (spec.inputs[i] == ABSENT) != (in_metas[i].dtype == 0):
            raise ValueError(f"{spec.op_type} optional input {i}: given and absent disagree with the descriptor")
    return spec, op, op.prepare(spec, in_metas, out_meta)


def _as_meta(x) -> _Meta:
    if isinstance(x, _Meta):
        return x
    if x is None:
        return _Meta(0, ())
    if isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], (tuple, list)):
        return _Meta(int(x[0]), tuple(int(d) for d in x[1]))
    return _Meta(FLOAT, tuple(int(d) for d in x))


def needs(node, in_shapes, out_shape, out_index: int, *, inputs=None) -> list[Need]:
    """Input elements the check of output element ``out_index`` reads.

    ``in_shapes[i]`` is a shape (float32 assumed), a ``(dtype, shape)`` pair, or None for an absent
    input; ``out_shape`` likewise. An empty list means the shapes themselves are inconsistent with the
    op: the check then fails without reading any input.

    For Gather and Slice the data element read depends on the values of small integer inputs
    (indices; starts, ends, axes, steps): pass ``inputs`` (the node's input arrays, or a mapping
    from input position to array holding at least those inputs). The list then holds those
    inputs' runs first and the data element after them; without ``inputs`` :class:`NeedsValues`
    is raised."""
    ins = [_as_meta(s) for s in in_shapes]
    out = _as_meta(out_shape)
    _, op, geo = _resolve(node, ins, out)
    _check_index(out_index, out.shape)
    if geo is None:
        return []
    first = op.needs(geo, out_index)
    more = getattr(op, "needs_more", None)
    if more is None or not getattr(op, "value_dependent", False):
        return first
    if inputs is None:
        raise NeedsValues(f"the element of input 0 that output element {out_index} of this node reads depends on "
                          f"the values of inputs {sorted({nd.input_index for nd in first})}")
    try:
        vals = {nd.input_index: _gather(np.asarray(inputs[nd.input_index]), nd) for nd in first}
    except (KeyError, IndexError, TypeError):
        raise NeedsValues(f"inputs= lacks one of inputs {sorted({nd.input_index for nd in first})}") from None
    return first + more(geo, out_index, vals)


def _check_index(out_index: int, shape: Sequence[int]) -> None:
    n = _numel(shape)
    if not 0 <= out_index < n:
        raise IndexError(f"output element {out_index} out of range: the output has {n} elements")


def _gather(arr: np.ndarray, need: Need) -> np.ndarray:
    flat = layout_view(arr, need.layout).reshape(-1)
    return flat[need.first : need.first + need.count]


def check_element(node, inputs: list[np.ndarray | None], output: np.ndarray, out_index: int) -> bool:
    """True iff output element ``out_index`` (flat, row-major) is consistent with the inputs: the
    exact decision of the on-chain verifier. Raises :class:`Unsupported` where it reverts."""
    output = np.asarray(output)
    spec, op, geo = _resolve(node, [_meta_of(a) for a in inputs], _meta_of(output))
    _check_index(out_index, output.shape)
    if geo is None:
        return False
    vals = {nd.input_index: _gather(np.asarray(inputs[nd.input_index]), nd) for nd in op.needs(geo, out_index)}
    more = getattr(op, "needs_more", None)
    if more is not None:  # the data elements that depend on the values just read (Gather, Slice)
        later = more(geo, out_index, vals)
        vals.update({nd.input_index: _gather(np.asarray(inputs[nd.input_index]), nd) for nd in later})
    return bool(op.check(spec, geo, vals, output.reshape(-1)[out_index : out_index + 1], out_index))


def violations(node, inputs: list[np.ndarray | None], output: np.ndarray) -> np.ndarray:
    """Flat indices of the output elements that fail their check (same decisions as
    :func:`check_element`, vectorised)."""
    output = np.asarray(output)
    spec, op, geo = _resolve(node, [_meta_of(a) for a in inputs], _meta_of(output))
    total = _numel(output.shape)
    if geo is None:
        return np.arange(total, dtype=np.int64)
    cls = op.violations(spec, geo, inputs, output)
    if cls is None:
        cls = np.full(total, -1, dtype=np.int8)
    cls = np.asarray(cls).reshape(-1).astype(np.int8)
    for i in np.flatnonzero(cls < 0):
        cls[i] = 1 if check_element(spec, inputs, output, int(i)) else 0
    return np.flatnonzero(cls == 0).astype(np.int64)
