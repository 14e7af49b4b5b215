"""contracts/verifiers/ (MatMulVerifier, ElementwiseVerifier, ProductSumRule) against the Python rule
(assay.fraud.ops), on anvil.

Every case is decided by both sides and must come out the same: accepted, rejected, or refused
(a revert on-chain, an ``Unsupported``/index error in Python). Cases: realistic sizes (MatMul
K = 512, the digits MLP and CNN traces with their real descriptors), the exact edges of every
accepted interval, special values (NaN, ±Inf, ±0, subnormals, the largest floats), operands opened
the way the game opens them (whole 128-byte leaves, so wider than the need). Every revert path for
a proof that gives too little data is triggered. ``test_gas_per_verifier`` prints the gas table
quoted in docs/fraud-bounds.md and guards the MatMul K = 512 figure.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from eth_abi import encode
from eth_utils import keccak
from onnx import helper as oh

import ape
from assay.commitments import codec
from assay.commitments.roots import graph_layout
from assay.fraud import ops

OPERAND = "(uint8,uint64[],uint8,uint256,bytes)"
CHECK_SELECTOR = keccak(text=f"check(bytes,{OPERAND}[],{OPERAND},uint256)")[:4]
LEAF = 128
RNG = np.random.default_rng(77)


@pytest.fixture(scope="session")
def mm(project, owner):
    # session scope on purpose (see test_tensor_merkle_sol.py)
    return owner.deploy(project.MatMulVerifier)


@pytest.fixture(scope="session")
def ew(project, owner):
    return owner.deploy(project.ElementwiseVerifier)


@pytest.fixture(scope="session")
def act(project, owner):
    return owner.deploy(project.ActivationVerifier)


@pytest.fixture(scope="session")
def conv(project, owner):
    return owner.deploy(project.ConvVerifier)


@pytest.fixture(scope="session")
def rule(project, owner):
    return owner.deploy(project.ProductSumRuleHarness)


@pytest.fixture(scope="session")
def probe(project, owner):
    return owner.deploy(project.VerifierGasProbe)


# ---------------------------------------------------------------------------------------------
# operands and outcomes
# ---------------------------------------------------------------------------------------------


def opened(arr, layout: int, first: int, count: int, *, aligned: bool = True) -> tuple:
    """An Operand holding elements [first, first + count) of ``arr`` in ``layout``; ``aligned``
    widens it to whole 128-byte leaves, as a range proof opens it."""
    a = codec.canonical_array(arr)
    flat = ops.layout_view(a, layout).reshape(-1)
    size = a.dtype.itemsize
    lo, hi = first, first + count
    if aligned:
        per = LEAF // size
        lo = (first // per) * per
        hi = min(-(-(first + count) // per) * per, flat.size)
    return (codec.dtype_code(a.dtype), [int(d) for d in a.shape], layout, lo, flat[lo:hi].tobytes())


def absent() -> tuple:
    return (0, [], 0, 0, b"")


def operands_for(node, inputs, output, idx, *, aligned=True) -> tuple[list, tuple]:
    """The operands a challenger sends for output element ``idx``: the needs of the Python twin."""
    shapes = [None if a is None else (codec.dtype_code(np.asarray(a).dtype), np.asarray(a).shape) for a in inputs]
    out = np.asarray(output)
    nd = ops.needs(node, shapes, (codec.dtype_code(out.dtype), out.shape), idx)
    ins = []
    for i, a in enumerate(inputs):
        if a is None:
            ins.append(absent())
            continue
        mine = [n for n in nd if n.input_index == i]
        if mine:
            ins.append(opened(a, mine[0].layout, mine[0].first, mine[0].count, aligned=aligned))
        else:
            arr = codec.canonical_array(a)
            ins.append((codec.dtype_code(arr.dtype), list(arr.shape), 0, 0, b""))
    return ins, opened(out, 0, idx, 1, aligned=aligned)


def sol(verifier, desc, ins, out, idx):
    """True/False, or the name of the custom error the call reverted with."""
    try:
        return bool(verifier.check(desc, ins, out, idx))
    except ape.exceptions.ContractLogicError as e:
        return "revert:" + type(e).__name__


def py(node, inputs, output, idx):
    try:
        return ops.check_element(node, inputs, output, idx)
    except (ops.Unsupported, IndexError, ValueError, ops.MalformedDescriptor) as e:
        return "raise:" + type(e).__name__


def same(verifier, node, inputs, output, idx, *, desc=None, aligned=True):
    """Both sides decide element ``idx`` the same way; returns the decision."""
    desc = desc if desc is not None else ops.descriptor_of(node)
    p = py(desc, inputs, output, idx)
    ins, out = operands_for(desc, inputs, output, idx, aligned=aligned)
    s = sol(verifier, desc, ins, out, idx)
    assert isinstance(p, bool) and s == p, f"element {idx}: python {p}, solidity {s}"
    return p


def _key(bits):
    return bits if bits < 0x80000000 else -(bits & 0x7FFFFFFF) - 1


def _unkey(k):
    return k if k >= 0 else 0x80000000 | (-k - 1)


def py_edges(node, inputs, output, idx):
    """Float32 bits of the lowest/highest accepted output values and the first rejected ones."""
    out = np.array(output, dtype=np.float32, copy=True)
    flat = out.reshape(-1)

    def ok(bits):
        flat[idx] = np.uint32(bits).view(np.float32)
        return ops.check_element(node, inputs, out, idx)

    k0 = _key(int(np.asarray(output, np.float32).reshape(-1)[idx : idx + 1].view(np.uint32)[0]))
    res = []
    for sign in (-1, 1):
        lo, step = k0, 1
        while True:
            hi = lo + sign * step
            if not -0x7F800000 <= hi <= 0x7F7FFFFF or not ok(_unkey(hi)):
                break
            lo, step = hi, step * 2
        hi = max(min(hi, 0x7F7FFFFF + 1), -0x7F800000 - 1)
        while abs(hi - lo) > 1:
            mid = (lo + hi) // 2
            if ok(_unkey(mid)):
                lo = mid
            else:
                hi = mid
        res += [_unkey(lo), _unkey(hi)]
    return res  # low ok, low bad, high ok, high bad


def with_value(output, idx, bits):
    out = np.array(output, dtype=np.float32, copy=True)
    out.reshape(-1)[idx] = np.uint32(bits).view(np.float32)
    return out


def run_ort(node, inputs):
    import onnxruntime as ort

    names = [n for n in node.input if n]
    feeds = {n: a for n, a in zip(names, inputs) if a is not None}
    vis = [oh.make_tensor_value_info(n, onnx.helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape)) for n, a in feeds.items()]
    g = oh.make_graph([node], "g", vis, [onnx.ValueInfoProto(name=node.output[0])])
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", 17)])
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def f32bits(x) -> int:
    return int(np.asarray(x, np.float32).reshape(()).view(np.uint32))


# ---------------------------------------------------------------------------------------------
# ProductSumRule alone
# ---------------------------------------------------------------------------------------------

SPECIALS = [0x7FC00000, 0x7F800000, 0xFF800000, 0, 0x80000000, 1, 0x807FFFFF, 0x7F7FFFFF, 0xFF7FFFFF, 0x00800000]


def _pair_sets():
    for k in (1, 7, 8, 9, 64, 512):
        yield f"normal-{k}", RNG.standard_normal(k).astype(np.float32), RNG.standard_normal(k).astype(np.float32)
    wide = lambda k: (RNG.standard_normal(k) * np.exp2(RNG.integers(-149, 127, k))).astype(np.float32)  # noqa: E731
    for k in (5, 33, 512):
        yield f"wide-{k}", wide(k), wide(k)
    sub = (RNG.standard_normal(40) * 1e-39).astype(np.float32)
    yield "subnormal", sub, (RNG.standard_normal(40) * 1e30).astype(np.float32)
    z = RNG.standard_normal(24).astype(np.float32)
    z[::2] = 0
    z[1::4] = -0.0
    yield "zeros", z, RNG.standard_normal(24).astype(np.float32)
    big = np.array([3.4e38, -3.4e38, 1e30, 2.0**127], np.float32)
    yield "huge", big, np.array([1.0, 1.0, 1e10, 2.0], np.float32)
    for sp in SPECIALS[:3]:
        x = RNG.standard_normal(10).astype(np.float32)
        x.view(np.uint32)[4] = sp
        yield f"special-{sp:#x}", x, RNG.standard_normal(10).astype(np.float32)


def test_rule_harness_sums_and_decisions_match_python(rule):
    n = 0
    for name, a, b in _pair_sets():
        xa, xb = a.view(np.uint32).tolist(), b.view(np.uint32).tolist()
        pairs = list(zip(xa, xb))
        k = len(pairs)
        finite = all(((x >> 23) & 0xFF) != 0xFF and ((z >> 23) & 0xFF) != 0xFF for x, z in pairs)
        if finite:
            t, g, e, s, d = ops.rule_sums(pairs)
            got = rule.sumsRuns(a.tobytes(), b.tobytes(), True)
            assert (got[0], got[3], got[4], got[5], got[6]) == (t, g, e, s, d), name
            assert got[2] == any((x & 0x7F800000) == 0 and (x & 0x7FFFFF) != 0 for x in xa + xb), name
            fast = rule.sumsRuns(a.tobytes(), b.tobytes(), False)
            assert fast[6] == d  # D skipped only when it is 0
        exact = float(np.dot(a.astype(np.float64), b.astype(np.float64))) if finite else 1.0
        with np.errstate(over="ignore"):  # an exact sum beyond the float32 range rounds to Inf
            y0 = np.float32(exact)
        ys = {f32bits(y0), *SPECIALS}
        if finite:
            node = oh.make_node("MatMul", ["a", "b"], ["y"])
            base = np.array([[y0]], np.float32)
            if np.isfinite(base[0, 0]):
                ys |= set(py_edges(node, [a[None, :], b[:, None]], base, 0))
        for y in sorted(ys):
            for m, rel in ((k, False), (1, True), (k + 1, False)):
                want = ops.product_sum_rule(pairs, y, m, relative_to_value=rel)
                assert rule.ruleRuns(a.tobytes(), b.tobytes(), y, m, rel) == want, (name, hex(y), m, rel)
                n += 1
            assert rule.rulePairs(xa, xb, y, k, False) == ops.product_sum_rule(pairs, y, k)
    assert n > 300


# ---------------------------------------------------------------------------------------------
# MatMul / Gemm
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("m,k,n", [(1, 512, 64), (1, 64, 64), (3, 13, 5)])
def test_matmul_verifier_agrees_with_python_on_honest_values_and_edges(mm, m, k, n):
    node = oh.make_node("MatMul", ["a", "b"], ["y"])
    a = RNG.standard_normal((m, k)).astype(np.float32)
    b = RNG.standard_normal((k, n)).astype(np.float32)
    y = run_ort(node, [a, b])
    for idx in sorted({0, y.size // 2, y.size - 1}):
        assert same(mm, node, [a, b], y, idx) is True
        assert same(mm, node, [a, b], y, idx, aligned=False) is True
        lo_ok, lo_bad, hi_ok, hi_bad = py_edges(node, [a, b], y, idx)
        for bits, want in ((lo_ok, True), (hi_ok, True), (lo_bad, False), (hi_bad, False)):
            assert same(mm, node, [a, b], with_value(y, idx, bits), idx) is want


@pytest.mark.parametrize(
    "sa,sb", [((2, 3, 4, 8), (8, 5)), ((3, 1, 4, 8), (2, 8, 5)), ((8,), (8, 5)), ((2, 4, 8), (8,)), ((8,), (8,))]
)
def test_matmul_verifier_batched_and_1d(mm, sa, sb):
    node = oh.make_node("MatMul", ["a", "b"], ["y"])
    a = RNG.standard_normal(sa).astype(np.float32)
    b = RNG.standard_normal(sb).astype(np.float32)
    y = run_ort(node, [a, b])
    for idx in sorted({0, min(1, y.size - 1), y.size // 3, y.size - 1}):
        assert same(mm, node, [a, b], y, idx) is True
        assert same(mm, node, [a, b], with_value(y, idx, f32bits(y.reshape(-1)[idx] + 0.25)), idx) is False


def test_matmul_verifier_special_values(mm):
    node = oh.make_node("MatMul", ["a", "b"], ["y"])
    a = RNG.standard_normal((6, 16)).astype(np.float32)
    b = RNG.standard_normal((16, 3)).astype(np.float32)
    a[0, 3], a[1, 4], a[2, 5] = np.inf, np.nan, 1e-40  # Inf, NaN, subnormal in rows 0..2
    a[3] = 0.0
    a[4] = 3e38  # overflows honestly
    b[:, 0] *= 1e30
    y = run_ort(node, [a, b])
    for idx in range(y.size):
        assert same(mm, node, [a, b], y, idx) is True
        for bits in (0x7FC00000, 0x7F800000, 0, 0x80000000, f32bits(1.0)):
            same(mm, node, [a, b], with_value(y, idx, bits), idx)


@pytest.mark.parametrize("ta,tb", [(0, 0), (1, 1), (0, 1)])
@pytest.mark.parametrize("c_shape", [None, (10,), (4, 1), ()])
def test_gemm_verifier_agrees_with_python(mm, ta, tb, c_shape):
    m, k, n = 4, 128, 10
    a = RNG.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = RNG.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    c = None if c_shape is None else np.asarray(RNG.standard_normal(c_shape), np.float32)
    node = oh.make_node("Gemm", ["a", "b", "c"] if c is not None else ["a", "b"], ["y"], transA=ta, transB=tb, beta=0.5)
    ins = [a, b] + ([c] if c is not None else [])
    y = run_ort(node, ins)
    for idx in (0, 13, 39):
        assert same(mm, node, ins, y, idx) is True
        lo_ok, lo_bad, hi_ok, hi_bad = py_edges(node, ins, y, idx)
        for bits, want in ((lo_ok, True), (hi_ok, True), (lo_bad, False), (hi_bad, False)):
            assert same(mm, node, ins, with_value(y, idx, bits), idx) is want


# ---------------------------------------------------------------------------------------------
# Elementwise and data movement
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul"])
def test_binary_verifier_agrees_with_python(ew, op):
    node = oh.make_node(op, ["a", "b"], ["y"])
    a = (RNG.standard_normal((4, 1, 8)) * np.exp2(RNG.integers(-140, 120, (4, 1, 8)))).astype(np.float32)
    b = (RNG.standard_normal((3, 1)) * np.exp2(RNG.integers(-140, 120, (3, 1)))).astype(np.float32)
    a.view(np.uint32).reshape(-1)[:6] = [0x7FC00000, 0x7F800000, 0, 0x80000000, 1, 0x7F7FFFFF]
    y = run_ort(node, [a, b])
    for idx in range(0, y.size, 3):
        assert same(ew, node, [a, b], y, idx) is True
        if np.isfinite(y.reshape(-1)[idx]):
            lo_ok, lo_bad, hi_ok, hi_bad = py_edges(node, [a, b], y, idx)
            for bits, want in ((lo_ok, True), (hi_ok, True), (lo_bad, False), (hi_bad, False)):
                got = same(ew, node, [a, b], with_value(y, idx, bits), idx)
                # past the largest float the next value is ±Inf, honest when the sum can overflow
                assert got is want or (bits & 0x7FFFFFFF) == 0x7F800000
        for bits in (0x7FC00000, 0xFF800000, 0):
            same(ew, node, [a, b], with_value(y, idx, bits), idx)


def test_relu_verifier_agrees_with_python(ew):
    node = oh.make_node("Relu", ["x"], ["y"])
    x = np.array([np.nan, -0.0, 0.0, -1.0, 1.0, 1e-45, -1e-45, np.inf, -np.inf, 3.5], np.float32)
    y = run_ort(node, [x])
    claims = [0, 0x80000000, 1, 0x7FC00000, f32bits(1.0), f32bits(3.5), 0x7F800000]
    for idx in range(x.size):
        assert same(ew, node, [x], y, idx) is True
        for bits in claims:
            same(ew, node, [x], with_value(y, idx, bits), idx)


def test_data_movement_verifiers_agree_with_python(ew):
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    xi = np.arange(24, dtype=np.int64).reshape(2, 3, 4) - 7
    cases = [
        (oh.make_node("Identity", ["x"], ["y"]), [x], x.copy()),
        (oh.make_node("Flatten", ["x"], ["y"], axis=-1), [x], x.reshape(6, 4)),
        (oh.make_node("Flatten", ["x"], ["y"]), [xi], xi.reshape(2, 12)),
        (oh.make_node("Reshape", ["x", "s"], ["y"]), [x, np.array([0, -1, 2], np.int64)], x.reshape(2, 6, 2)),
        (oh.make_node("Reshape", ["x", "s"], ["y"]), [xi, np.array([24], np.int64)], xi.reshape(24)),
    ]
    for node, ins, y in cases:
        for idx in (0, 5, 23):
            assert same(ew, node, ins, y, idx) is True
            bad = np.array(y, copy=True)
            bad.reshape(-1)[idx] += 1
            assert same(ew, node, ins, bad, idx) is False
    # inconsistent shapes: false, for every element, on both sides
    resh = oh.make_node("Reshape", ["x", "s"], ["y"])
    for spec, out_shape in (([4, -1], (2, 12)), ([-1, -1], (4, 6)), ([0, 0, 0, 0], (2, 3, 4, 1)), ([5, -1], (5, 5))):
        s = np.array(spec, np.int64)
        y = np.zeros(out_shape, np.float32)
        y.reshape(-1)[: min(24, y.size)] = x.reshape(-1)[: min(24, y.size)]
        assert same(ew, resh, [x, s], y, 0) is False
    assert same(ew, oh.make_node("Flatten", ["x"], ["y"], axis=2), [x], x.reshape(4, 6), 0) is False
    assert same(ew, oh.make_node("Identity", ["x"], ["y"]), [x], x.astype(np.float64), 0) is False


# ---------------------------------------------------------------------------------------------
# Softmax, Sigmoid, Tanh
# ---------------------------------------------------------------------------------------------


def test_softmax_verifier_agrees_with_python(act):
    node = oh.make_node("Softmax", ["x"], ["y"])
    rows = np.concatenate([
        (RNG.standard_normal((2, 10)) * 3).astype(np.float32),
        np.array([[1, 2, np.inf, 3, 0, 0, 0, 0, 0, 0], [-np.inf, 1, 2, 3, 1e30, -1e30, 0, 0, -200, -100],
                  [-np.inf] * 10, [np.nan] + [0] * 9], np.float32),
    ])
    y = run_ort(node, [rows])
    for idx in list(range(0, 20, 3)) + list(range(20, 60, 2)):
        assert same(act, node, [rows], y, idx) is True
        if np.isfinite(y.reshape(-1)[idx]) and idx < 20:
            lo_ok, lo_bad, hi_ok, hi_bad = py_edges(node, [rows], y, idx)
            for bits, want in ((lo_ok, True), (hi_ok, True), (lo_bad, False), (hi_bad, False)):
                assert same(act, node, [rows], with_value(y, idx, bits), idx) is want
        for bits in (0x7FC00000, 0, 0x3F800000, 0x00000001):
            same(act, node, [rows], with_value(y, idx, bits), idx)
    x64 = (RNG.standard_normal((1, 64)) * 10).astype(np.float32)
    y64 = run_ort(node, [x64])
    for idx in (0, 31, 63):
        assert same(act, node, [x64], y64, idx) is True


@pytest.mark.parametrize("op", ["Sigmoid", "Tanh"])
def test_sigmoid_tanh_verifier_agrees_with_python(act, op):
    node = oh.make_node(op, ["x"], ["y"])
    x = np.array([-100, -30, -5, -0.3, -1e-25, -0.0, 0.0, 1e-7, 2.0**-20, 0.7, 3, 12, 200, np.inf, -np.inf, np.nan, 1e-45], np.float32)
    y = run_ort(node, [x])
    for idx in range(x.size):
        assert same(act, node, [x], y, idx) is True
        if np.isfinite(x[idx]):
            lo_ok, lo_bad, hi_ok, hi_bad = py_edges(node, [x], y, idx)
            for bits, want in ((lo_ok, True), (hi_ok, True), (lo_bad, False), (hi_bad, False)):
                assert same(act, node, [x], with_value(y, idx, bits), idx) is want
        for bits in (0x7FC00000, 0x7F800000, 0, 0x80000000, 0x3F800000, 0xBF800000):
            same(act, node, [x], with_value(y, idx, bits), idx)


def test_activation_verifier_reverts(act):
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    y = run_ort(oh.make_node("Softmax", ["x"], ["y"], axis=-1), [x])
    good = ops.descriptor_of(oh.make_node("Softmax", ["x"], ["y"], axis=2))
    ins, out = operands_for(good, [x], y, 5)
    assert act.check(good, ins, out, 5) is True
    for attrs in ({}, {"axis": 1}, {"axis": 3}):
        desc = ops.descriptor_of(oh.make_node("Softmax", ["x"], ["y"], **attrs))
        with ape.reverts(act.UnsupportedAttribute, name="axis"):
            act.check(desc, ins, out, 5)
    row = ins[0]
    with ape.reverts(act.OperandNotCovered, index=0, layout=0, first=4, count=4):
        act.check(good, [(row[0], row[1], 0, 5, row[4][20:])], out, 5)
    with ape.reverts(act.UnsupportedOp, domain="", opType="Relu"):
        act.check(ops.descriptor_of(oh.make_node("Relu", ["x"], ["y"])), ins, out, 5)
    with ape.reverts(act.UnsupportedDtype, index=0, dtype=11):
        act.check(good, [(11, row[1], 0, 0, b"")], out, 5)


# ---------------------------------------------------------------------------------------------
# Conv, MaxPool, Cast
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attrs,xs,ws",
    [({"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, (1, 1, 8, 8), (8, 1, 3, 3)), ({"strides": [2, 2]}, (1, 3, 7, 6), (4, 3, 3, 3)),
     ({"group": 2, "pads": [0, 1, 2, 0]}, (1, 4, 6, 6), (6, 2, 3, 2)), ({"pads": [3, 3, 3, 3]}, (1, 1, 2, 2), (1, 1, 2, 2))],
)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_verifier_agrees_with_python(conv, attrs, xs, ws, bias):
    x = RNG.standard_normal(xs).astype(np.float32)
    x.reshape(-1)[min(5, x.size - 1)] = 1e-40  # a subnormal in some windows
    w = RNG.standard_normal(ws).astype(np.float32)
    ins = [x, w] + ([RNG.standard_normal(ws[0]).astype(np.float32)] if bias else [])
    node = oh.make_node("Conv", ["x", "w", "b"] if bias else ["x", "w"], ["y"], **attrs)
    y = run_ort(node, ins)
    for idx in sorted({0, 1, y.size // 2, y.size - 1, 9 % y.size}):
        assert same(conv, node, ins, y, idx) is True
        lo_ok, lo_bad, hi_ok, hi_bad = py_edges(node, ins, y, idx)
        for bits, want in ((lo_ok, True), (hi_ok, True), (lo_bad, False), (hi_bad, False)):
            assert same(conv, node, ins, with_value(y, idx, bits), idx) is want
    xn = x.copy()
    xn.reshape(-1)[0] = np.nan
    yn = run_ort(node, [xn] + ins[1:])
    for idx in (0, y.size - 1):
        assert same(conv, node, [xn] + ins[1:], yn, idx) is True
        same(conv, node, [xn] + ins[1:], with_value(yn, idx, f32bits(1.0)), idx)


def test_maxpool_verifier_agrees_with_python(conv):
    for attrs in ({"kernel_shape": [2, 2], "strides": [2, 2]}, {"kernel_shape": [3, 2], "pads": [2, 0, 1, 1]}):
        node = oh.make_node("MaxPool", ["x"], ["y"], **attrs)
        x = RNG.standard_normal((1, 2, 6, 6)).astype(np.float32)
        x.reshape(-1)[::7] = np.nan
        x.reshape(-1)[::11] = 1e-40
        x.reshape(-1)[::13] = -np.inf
        x.reshape(-1)[3] = -0.0
        y = run_ort(node, [x])
        for idx in range(0, y.size, 2):
            assert same(conv, node, [x], y, idx) is True
            for bits in (0x7FC00000, 0, 0x80000000, 0xFF7FFFFF, 0xFF800000, f32bits(y.reshape(-1)[idx] + 1)):
                same(conv, node, [x], with_value(y, idx, bits), idx)


def test_cast_verifier_agrees_with_python(ew):
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    node = oh.make_node("Cast", ["x"], ["y"], to=1)
    for idx in (0, 7, 11):
        assert same(ew, node, [x], x.copy(), idx) is True
        assert same(ew, node, [x], with_value(x, idx, f32bits(x.reshape(-1)[idx] + 1)), idx) is False
    ins, out = operands_for(ops.descriptor_of(node), [x], x, 0)
    with ape.reverts(ew.UnsupportedAttribute, name="to"):
        ew.check(ops.descriptor_of(oh.make_node("Cast", ["x"], ["y"], to=7)), ins, out, 0)


def test_argmax_verifier_agrees_with_python(ew):
    x = np.array([[1, 3, 3, 2], [np.nan, 1, 2, 0], [-0.0, 0.0, -1, -2], [1e-40, 0, 0, -1], [-np.inf, -np.inf, -5, -np.inf]], np.float32)
    x = np.concatenate([x, RNG.standard_normal((3, 4)).astype(np.float32)])
    for attrs in ({"axis": 1}, {"axis": -1, "keepdims": 0}):
        node = oh.make_node("ArgMax", ["x"], ["y"], **attrs)
        y = run_ort(node, [x])
        for idx in range(x.shape[0]):
            assert same(ew, node, [x], y, idx) is True
            for v in (0, 1, 2, 3, 4, -1):
                bad = y.copy()
                bad.reshape(-1)[idx] = v
                same(ew, node, [x], bad, idx)
    with ape.reverts(ew.UnsupportedAttribute, name="axis"):
        ins, out = operands_for(ops.descriptor_of(oh.make_node("ArgMax", ["x"], ["y"], axis=1)), [x], run_ort(oh.make_node("ArgMax", ["x"], ["y"], axis=1), [x]), 0)
        ew.check(ops.descriptor_of(oh.make_node("ArgMax", ["x"], ["y"])), ins, out, 0)


def test_conv_verifier_reverts(conv):
    x = RNG.standard_normal((1, 2, 5, 5)).astype(np.float32)
    w = RNG.standard_normal((3, 2, 3, 3)).astype(np.float32)
    node = oh.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])
    y = run_ort(node, [x, w])
    desc = ops.descriptor_of(node)
    ins, out = operands_for(desc, [x, w], y, 12)
    assert conv.check(desc, ins, out, 12) is True
    for attrs, name in (({"dilations": [2, 2]}, "dilations"), ({"auto_pad": "SAME_UPPER"}, "auto_pad"), ({"group": 0}, "group"),
                        ({"strides": [0, 1]}, "strides"), ({"pads": [1, 1]}, "pads")):
        with ape.reverts(conv.UnsupportedAttribute, name=name):
            conv.check(ops.descriptor_of(oh.make_node("Conv", ["x", "w"], ["y"], **attrs)), ins, out, 12)
    a = operands_for(desc, [x, w], y, 12, aligned=False)[0][0]  # exactly the span
    assert conv.check(desc, [a, ins[1]], out, 12) is True
    with ape.reverts(conv.OperandNotCovered, index=0, layout=0, first=a[3], count=len(a[4]) // 4):
        conv.check(desc, [(a[0], a[1], 0, a[3] + 1, a[4][4:]), ins[1]], out, 12)
    with ape.reverts(conv.OperandNotCovered, index=0, layout=0, first=a[3], count=len(a[4]) // 4):
        conv.check(desc, [(a[0], a[1], 0, a[3], a[4][:-4]), ins[1]], out, 12)
    with ape.reverts(conv.UnsupportedSize, size=3):
        conv.check(desc, [(1, [2, 5, 5], 0, 0, b""), ins[1]], out, 12)
    mp2 = ops.descriptor_of(oh.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2]))
    with ape.reverts(conv.UnsupportedOutputCount, count=2):
        conv.check(mp2, ins[:1], out, 12)
    with ape.reverts(conv.UnsupportedAttribute, name="ceil_mode"):
        conv.check(ops.descriptor_of(oh.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], ceil_mode=1)), ins[:1], out, 12)
    with ape.reverts(conv.UnsupportedAttribute, name="kernel_shape"):
        conv.check(ops.descriptor_of(oh.make_node("MaxPool", ["x"], ["y"])), ins[:1], out, 12)


# ---------------------------------------------------------------------------------------------
# Real models, real descriptors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["digits_mlp", "digits_cnn"])
def test_real_model_nodes_with_graph_layout_descriptors(mm, ew, act, conv, name):
    from assay import modelzoo
    from assay.inference.runner import InferenceRunner

    zm = getattr(modelzoo, name)()
    model = onnx.load_from_string(zm.onnx_bytes)
    lay = graph_layout(model)
    out = InferenceRunner().run(zm.model_id, zm.onnx_bytes, zm.sample_inputs(2), trace=True)
    values = dict(out.trace)
    values.update({i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer})
    values.update(zm.sample_inputs(2))
    verifier = {"MatMul": mm, "Gemm": mm, "Softmax": act, "Sigmoid": act, "Tanh": act, "Conv": conv, "MaxPool": conv}
    seen = set()
    for node, desc in zip(model.graph.node, lay.descriptors):
        if not ops.supported(node.domain, node.op_type):
            continue
        ins = [values[n] if n else None for n in node.input]
        y = values[node.output[0]]
        v = verifier.get(node.op_type, ew)
        if isinstance(py(desc, ins, y, 0), str):  # refused here (e.g. Cast int32 → int64): refused there
            shapes = [(codec.dtype_code(a.dtype), list(a.shape), 0, 0, b"") for a in ins]
            with pytest.raises(ape.exceptions.ContractLogicError):
                v.check(desc, shapes, opened(y, 0, 0, 1), 0)
            continue
        for idx in sorted({0, y.size // 2, y.size - 1}):
            assert same(v, node, ins, y, idx, desc=desc) is True
            bad = np.array(y, copy=True)
            bad.reshape(-1)[idx] = bad.reshape(-1)[idx] * 2 + 1 if bad.dtype != np.int64 else y.reshape(-1)[idx] + 10**6
            assert same(v, node, ins, bad, idx, desc=desc) is False
        seen.add(node.op_type)
    assert seen >= ({"Cast", "MatMul", "Add", "Relu", "Softmax", "ArgMax"} if name == "digits_mlp"
                    else {"Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Softmax", "ArgMax"})


# ---------------------------------------------------------------------------------------------
# Refusals: a proof that gives too little data, or a node outside what is checked, reverts
# ---------------------------------------------------------------------------------------------

MATMUL = ops.descriptor_of(oh.make_node("MatMul", ["a", "b"], ["y"]))
A = RNG.standard_normal((2, 64)).astype(np.float32)
B = RNG.standard_normal((64, 3)).astype(np.float32)
Y = (A @ B).astype(np.float32)


def _mm_operands(idx=4):
    return operands_for(MATMUL, [A, B], Y, idx)


def test_matmul_reverts_when_an_operand_does_not_cover_the_row_or_column(mm):
    ins, out = _mm_operands(4)  # row 1 of A: [64, 128); column 1 of B: layout 1 [64, 128)
    a, b = ins
    with ape.reverts(mm.OperandNotCovered, index=0, layout=0, first=64, count=64):
        mm.check(MATMUL, [(a[0], a[1], a[2], 65, a[4][4:]), b], out, 4)  # starts one element late
    with ape.reverts(mm.OperandNotCovered, index=0, layout=0, first=64, count=64):
        mm.check(MATMUL, [(a[0], a[1], a[2], a[3], a[4][:-4]), b], out, 4)  # ends one element early
    with ape.reverts(mm.OperandNotCovered, index=1, layout=1, first=64, count=64):
        mm.check(MATMUL, [a, (b[0], b[1], 0, b[3], b[4])], out, 4)  # B in the wrong layout
    with ape.reverts(mm.OperandNotCovered, index=1, layout=1, first=64, count=64):
        mm.check(MATMUL, [a, (b[0], b[1], 1, 0, b[4])], out, 4)  # column 0 given for column 1
    with ape.reverts(mm.RaggedData, index=0, length=255):
        mm.check(MATMUL, [(a[0], a[1], a[2], a[3], a[4][:-1]), b], out, 4)
    with ape.reverts(mm.OutputNotCovered, outIndex=4):
        mm.check(MATMUL, ins, (out[0], out[1], 0, 5, out[4][:4]), 4)
    with ape.reverts(mm.OutputNotCovered, outIndex=4):
        mm.check(MATMUL, ins, (out[0], out[1], 0, 0, b""), 4)
    with ape.reverts(mm.RaggedData, index=2, length=3):
        mm.check(MATMUL, ins, (out[0], out[1], 0, 4, b"\x00\x00\x00"), 4)
    assert mm.check(MATMUL, ins, out, 4) is True


def test_matmul_reverts_on_operand_count_absence_and_index(mm):
    ins, out = _mm_operands(4)
    with ape.reverts(mm.OperandCountMismatch, expected=2, given=1):
        mm.check(MATMUL, ins[:1], out, 4)
    with ape.reverts(mm.OperandCountMismatch, expected=2, given=3):
        mm.check(MATMUL, ins + [absent()], out, 4)
    with ape.reverts(mm.MissingInput, index=1):
        mm.check(MATMUL, [ins[0], absent()], out, 4)
    with ape.reverts(mm.OutIndexOutOfRange, outIndex=6, numel=6):
        mm.check(MATMUL, ins, out, 6)
    three = ops.descriptor_of(oh.make_node("MatMul", ["a", "b", "c"], ["y"]))
    with ape.reverts(mm.UnsupportedInputCount, count=3):
        mm.check(three, ins + [absent()], out, 4)
    absent_b = ops.descriptor_of(oh.make_node("MatMul", ["a", ""], ["y"]))
    with ape.reverts(mm.MissingInput, index=1):
        mm.check(absent_b, ins, out, 4)


def test_matmul_reverts_on_unsupported_ops_dtypes_and_sizes(mm):
    ins, out = _mm_operands(4)
    conv = ops.descriptor_of(oh.make_node("Conv", ["a", "b"], ["y"]))
    with ape.reverts(mm.UnsupportedOp, domain="", opType="Conv"):
        mm.check(conv, ins, out, 4)
    ms = ops.descriptor_of(oh.make_node("MatMul", ["a", "b"], ["y"], domain="com.microsoft"))
    with ape.reverts(mm.UnsupportedOp, domain="com.microsoft", opType="MatMul"):
        mm.check(ms, ins, out, 4)
    half = (10, ins[0][1], 0, ins[0][3], ins[0][4])
    with ape.reverts(mm.UnsupportedDtype, index=0, dtype=10):
        mm.check(MATMUL, [half, ins[1]], out, 4)
    big = 2**20 + 1
    with ape.reverts(mm.UnsupportedSize, size=big):
        mm.check(MATMUL, [(1, [1, big], 0, 0, b""), (1, [big, 1], 1, 0, b"")], (1, [1, 1], 0, 0, b"\x00" * 4), 0)
    with ape.reverts(mm.UnsupportedSize, size=0):
        mm.check(MATMUL, [(1, [1, 0], 0, 0, b""), (1, [0, 1], 1, 0, b"")], (1, [1, 1], 0, 0, b"\x00" * 4), 0)
    # Python raises in the same places
    with pytest.raises(ops.Unsupported):
        ops.check_element(ms, [A, B], Y, 4)
    with pytest.raises(ops.Unsupported):
        ops.check_element(conv, [A, B], Y, 4)


def test_gemm_reverts_on_unsupported_attributes(mm):
    a = RNG.standard_normal((2, 8)).astype(np.float32)
    b = RNG.standard_normal((8, 3)).astype(np.float32)
    c = RNG.standard_normal(3).astype(np.float32)
    y = (a @ b + c).astype(np.float32)
    for attrs, err, args in (
        ({"alpha": 2.0}, "UnsupportedAttribute", {"name": "alpha"}),
        ({"beta": 0.0}, "UnsupportedAttribute", {"name": "beta"}),
        ({"beta": float("nan")}, "UnsupportedAttribute", {"name": "beta"}),
        ({"transA": 2}, "UnsupportedAttribute", {"name": "transA"}),
        ({"transB": -1}, "UnsupportedAttribute", {"name": "transB"}),
    ):
        node = oh.make_node("Gemm", ["a", "b", "c"], ["y"], **attrs)
        desc = ops.descriptor_of(node)
        with pytest.raises(ops.Unsupported):
            ops.check_element(desc, [a, b, c], y, 0)
        ins, out = operands_for(ops.descriptor_of(oh.make_node("Gemm", ["a", "b", "c"], ["y"])), [a, b, c], y, 0)
        with ape.reverts(getattr(mm, err), **args):
            mm.check(desc, ins, out, 0)
    # an attribute of the wrong type
    node = oh.make_node("Gemm", ["a", "b", "c"], ["y"])
    node.attribute.append(oh.make_attribute("transA", 1.0))
    desc = ops.descriptor_of(node)
    ins, out = operands_for(ops.descriptor_of(oh.make_node("Gemm", ["a", "b", "c"], ["y"])), [a, b, c], y, 0)
    with ape.reverts(mm.AttributeTypeMismatch, name="transA", expected=2, given=1):
        mm.check(desc, ins, out, 0)
    with pytest.raises(ops.Unsupported):
        ops.check_element(desc, [a, b, c], y, 0)
    # an absent optional bias given as an operand, and the reverse
    no_c = ops.descriptor_of(oh.make_node("Gemm", ["a", "b", ""], ["y"]))
    with ape.reverts(mm.OperandPresenceMismatch, index=2):
        mm.check(no_c, ins, out, 0)
    assert mm.check(no_c, ins[:2] + [absent()], out, 0) is False  # a·b without c is not y


def test_malformed_descriptors_revert(mm, ew):
    ins, out = _mm_operands(4)
    for bad, offset in ((b"", 0), (b"\x00", 0), (MATMUL + b"\x00", len(MATMUL)), (MATMUL[:-1], len(MATMUL) - 2)):
        for v in (mm, ew):
            with ape.reverts(v.MalformedDescriptor, offset=offset):
                v.check(bad, ins, out, 4)
        with pytest.raises(ops.MalformedDescriptor):
            ops.parse_descriptor(bad)
    unsorted = b"\x01\x00\x00\x00\x04Gemm\x00\x02" + b"\x00\x00\x00\x00\x00\x00\x00\x01" + b"\x00\x01\x00\x00\x00\x02"
    unsorted += b"\x00\x01b\x02" + b"\x00" * 8 + b"\x00\x01a\x02" + b"\x00" * 8
    with ape.reverts(mm.MalformedDescriptor):
        mm.check(unsorted, ins, out, 4)
    with pytest.raises(ops.MalformedDescriptor):
        ops.parse_descriptor(unsorted)


def test_elementwise_reverts(ew):
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    add = ops.descriptor_of(oh.make_node("Add", ["a", "b"], ["y"]))
    ins, out = operands_for(add, [x, x], x + x, 4)
    with ape.reverts(ew.OperandNotCovered, index=1, layout=0, first=4, count=1):
        ew.check(add, [ins[0], (1, [2, 3], 0, 5, ins[1][4][20:])], out, 4)
    with ape.reverts(ew.UnsupportedDtype, index=0, dtype=11):
        ew.check(add, [(11, [2, 3], 0, 0, b"\x00" * 48), ins[1]], out, 4)
    with ape.reverts(ew.UnsupportedOp, domain="", opType="Div"):
        ew.check(ops.descriptor_of(oh.make_node("Div", ["a", "b"], ["y"])), ins, out, 4)
    resh = ops.descriptor_of(oh.make_node("Reshape", ["x", "s"], ["y"], allowzero=2))
    s = np.array([6], np.int64)
    with ape.reverts(ew.UnsupportedAttribute, name="allowzero"):
        ew.check(resh, [ins[0], opened(s, 0, 0, 1)], (1, [6], 0, 0, x.tobytes()), 0)
    resh = ops.descriptor_of(oh.make_node("Reshape", ["x", "s"], ["y"]))
    with ape.reverts(ew.UnsupportedDtype, index=1, dtype=6):
        ew.check(resh, [ins[0], opened(s.astype(np.int32), 0, 0, 1)], (1, [6], 0, 0, x.tobytes()), 0)
    with ape.reverts(ew.OperandNotCovered, index=1, layout=0, first=0, count=1):
        ew.check(resh, [ins[0], (7, [1], 0, 0, b"")], (1, [6], 0, 0, x.tobytes()), 0)
    with ape.reverts(ew.UnsupportedDtype, index=0, dtype=8):  # strings have no encoding
        ew.check(ops.descriptor_of(oh.make_node("Identity", ["x"], ["y"])), [(8, [1], 0, 0, b"")], (8, [1], 0, 0, b""), 0)


# ---------------------------------------------------------------------------------------------
# Gas
# ---------------------------------------------------------------------------------------------


def _gas(probe, verifier, desc, ins, out, idx) -> tuple[int, int]:
    call = CHECK_SELECTOR + encode(["bytes", f"{OPERAND}[]", OPERAND, "uint256"], [desc, ins, out, idx])
    ok, ret, gas = probe.measure(verifier.address, call)
    assert ok and int.from_bytes(ret, "big") == 1
    calldata = sum(16 if x else 4 for x in call)
    return gas, calldata


def test_gas_per_verifier(mm, ew, act, conv, probe):
    """Execution gas of one check (as called by the game: no base cost) and the calldata cost of
    its arguments, at the sizes of the test models and the K = 512 goal figure."""
    rows = []
    mmn = oh.make_node("MatMul", ["a", "b"], ["y"])
    for label, (m, k, n) in (("MatMul K=512", (1, 512, 64)), ("MatMul K=64 (MLP 64x64)", (1, 64, 64)),
                             ("MatMul K=1024", (1, 1024, 8))):
        a = RNG.standard_normal((m, k)).astype(np.float32)
        b = RNG.standard_normal((k, n)).astype(np.float32)
        y = run_ort(mmn, [a, b])
        ins, out = operands_for(mmn, [a, b], y, 5)
        rows.append((label, mm, ops.descriptor_of(mmn), ins, out, 5))
    gemm = oh.make_node("Gemm", ["a", "b", "c"], ["y"], transB=1)
    a = RNG.standard_normal((1, 128)).astype(np.float32)
    b = RNG.standard_normal((10, 128)).astype(np.float32)
    c = RNG.standard_normal(10).astype(np.float32)
    y = run_ort(gemm, [a, b, c])
    rows.append(("Gemm K=128 + bias (CNN head)", mm, ops.descriptor_of(gemm), *operands_for(gemm, [a, b, c], y, 3), 3))
    x = RNG.standard_normal((1, 64)).astype(np.float32)
    for op in ("Add", "Mul"):
        node = oh.make_node(op, ["a", "b"], ["y"])
        yb = run_ort(node, [x, x[0]])
        rows.append((f"{op} (broadcast)", ew, ops.descriptor_of(node), *operands_for(node, [x, x[0]], yb, 7), 7))
    relu = oh.make_node("Relu", ["x"], ["y"])
    rows.append(("Relu", ew, ops.descriptor_of(relu), *operands_for(relu, [x], np.maximum(x, 0), 7), 7))
    resh = oh.make_node("Reshape", ["x", "s"], ["y"])
    s = np.array([8, -1], np.int64)
    rows.append(("Reshape", ew, ops.descriptor_of(resh), *operands_for(resh, [x, s], x.reshape(8, 8), 7), 7))
    sm = oh.make_node("Softmax", ["x"], ["y"])
    xs = RNG.standard_normal((1, 10)).astype(np.float32)
    rows.append(("Softmax n=10 (digits head)", act, ops.descriptor_of(sm), *operands_for(sm, [xs], run_ort(sm, [xs]), 3), 3))
    for op in ("Sigmoid", "Tanh"):
        node = oh.make_node(op, ["x"], ["y"])
        rows.append((op, act, ops.descriptor_of(node), *operands_for(node, [x], run_ort(node, [x]), 7), 7))
    cv = oh.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])
    for label, xs, ws in (("Conv 1x3x3 + bias (digits CNN)", (1, 1, 8, 8), (8, 1, 3, 3)), ("Conv 8x3x3 + bias (K = 72)", (1, 8, 8, 8), (8, 8, 3, 3))):
        xc = RNG.standard_normal(xs).astype(np.float32)
        wc = RNG.standard_normal(ws).astype(np.float32)
        bc = RNG.standard_normal(ws[0]).astype(np.float32)
        yc = run_ort(cv, [xc, wc, bc])
        rows.append((label, conv, ops.descriptor_of(cv), *operands_for(cv, [xc, wc, bc], yc, 27), 27))
    mp = oh.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])
    xm = RNG.standard_normal((1, 8, 8, 8)).astype(np.float32)
    rows.append(("MaxPool 2x2 (digits CNN)", conv, ops.descriptor_of(mp), *operands_for(mp, [xm], run_ort(mp, [xm]), 27), 27))
    print("\n| check | execution gas | calldata gas |\n|---|---|---|")
    table = {}
    for label, v, desc, ins, out, idx in rows:
        gas, cd = _gas(probe, v, desc, ins, out, idx)
        table[label] = gas
        print(f"| {label} | {gas:,} | {cd:,} |")
    assert table["MatMul K=512"] < 300_000  # the verifier's share of the 1.5M whole-proof goal
    assert table["MatMul K=1024"] < 2 * table["MatMul K=512"]
