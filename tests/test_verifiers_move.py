"""Transpose, Concat, Squeeze, Unsqueeze, Gather, Slice (MoveVerifier) and MatMulInteger
(IntegerVerifier): the Python rule (assay.fraud.ops) against onnxruntime, the Solidity verifiers
against the Python rule on anvil, and one node proof through DisputeGame.proveNode with the real
verifier.

* onnxruntime: on random shapes, dtypes and attributes (negative axes, negative and clamped Slice
  steps, Gather along any axis with negative indices, Concat of N inputs, axes as inputs and as
  attributes, MatMulInteger of every uint8/int8 pairing with zero points) the honest output has no
  violation, and one changed element is the only violation.
* Solidity = Python on honest and tampered elements, with operands opened as the game opens them
  (whole 128-byte leaves), the data element found from the values of the integer inputs
  (``ops.needs(..., inputs=)``); operands that do not cover what the check reads revert; inputs
  that make the ONNX op fail (index out of range, repeated axis, zero step) answer false on both.
* MatMulInteger wraps to int32 exactly as onnxruntime does (K·255·255 > 2^31).
* Deployed code of both verifiers stays under EIP-170's 24,576 bytes; gas per check is printed.
"""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
import pytest
from eth_abi import encode
from onnx import TensorProto, helper as oh, numpy_helper

import ape
from assay.commitments import codec
from assay.fraud import calldata as cd
from assay.fraud import ops
from assay.fraud.prover import find_fraud, node_needs
from assay.fraud.trace import Trace
from test_fraud_game import BY_NODE, assert_challenger_won, balances, register, resolved, traced
from test_jobmanager_errors import _no_trace_printing_on_revert, reverts  # noqa: F401  (autouse)
from test_verifiers_sol import CHECK_SELECTOR, OPERAND, absent, opened

RNG = np.random.default_rng(2026)
EIP170 = 24576
DTYPES = [np.float32, np.int64, np.uint8, np.bool_, np.float16, np.int32]


@pytest.fixture(scope="module")
def mv(project, owner):
    return owner.deploy(project.MoveVerifier)


@pytest.fixture(scope="module")
def iv(project, owner):
    return owner.deploy(project.IntegerVerifier)


@pytest.fixture(scope="module")
def probe(project, owner):
    return owner.deploy(project.VerifierGasProbe)


@pytest.fixture(autouse=True)
def _session_state_first(owner, requester, worker, worker2, challenger, model_owner, treasury, stack, funded, model,
                         staked, mv, iv, probe, embed):
    """Every session and module fixture this module uses, requested by every test, so that all of
    them exist before ape's first function snapshot of the module: a session fixture first met in a
    later test would be created inside a snapshot and rolled back with it (later modules then find,
    e.g., the worker's stake gone). See test_fraud_game._session_state_first."""


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def run_ort(node, inputs, opset: int = 13):
    import onnxruntime as ort

    feeds, vis = {}, []
    for n, a in zip(node.input, inputs):
        if n and a is not None:
            feeds[n] = a
            vis.append(oh.make_tensor_value_info(n, oh.np_dtype_to_tensor_dtype(a.dtype), list(a.shape)))
    g = oh.make_graph([node], "g", vis, [onnx.ValueInfoProto(name=node.output[0])])
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", opset)])
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 4
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def rand(shape, dtype):
    if dtype == np.bool_:
        return RNG.integers(0, 2, shape).astype(bool)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return RNG.integers(max(info.min, -1000), min(info.max, 1000), shape, endpoint=True).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


def i64(*v):
    return np.array(v, np.int64)


def changed(y: np.ndarray, idx: int) -> np.ndarray:
    """A copy of ``y`` with the lowest bit of element ``idx``'s first byte flipped."""
    z = codec.canonical_array(y).copy()
    z.reshape(-1).view(np.uint8)[idx * z.dtype.itemsize] ^= 1
    return z


def rshape(rank: int, lo: int = 1, hi: int = 4) -> tuple[int, ...]:
    return tuple(int(d) for d in RNG.integers(lo, hi + 1, rank))


def case_transpose():
    r = int(RNG.integers(1, 5))
    x = rand(rshape(r), DTYPES[RNG.integers(len(DTYPES))])
    kw = {} if RNG.random() < 0.3 else {"perm": [int(p) for p in RNG.permutation(r)]}
    return oh.make_node("Transpose", ["x"], ["y"], **kw), [x], 13


def case_concat():
    r = int(RNG.integers(1, 5))
    base = rshape(r)
    axis = int(RNG.integers(-r, r))
    dt = DTYPES[RNG.integers(len(DTYPES))]
    xs = []
    for _ in range(int(RNG.integers(1, 5))):
        s = list(base)
        s[axis] = int(RNG.integers(0, 4))
        xs.append(rand(tuple(s), dt))
    if all(x.shape[axis] == 0 for x in xs):
        xs[0] = rand(base, dt)
    names = [f"x{i}" for i in range(len(xs))]
    return oh.make_node("Concat", names, ["y"], axis=axis), xs, 13


def case_squeeze():
    r = int(RNG.integers(1, 5))
    shape = [int(d) for d in RNG.integers(1, 4, r)]
    ones = [j for j in range(r) if RNG.random() < 0.5]
    for j in ones:
        shape[j] = 1
    x = rand(tuple(shape), DTYPES[RNG.integers(len(DTYPES))])
    all_ones = [j for j in range(r) if shape[j] == 1]
    pick = [j - r if RNG.random() < 0.5 else j for j in all_ones if RNG.random() < 0.7]
    mode = RNG.integers(3)
    if mode == 0:  # no axes: every size-1 dim
        return oh.make_node("Squeeze", ["x"], ["y"]), [x], 13
    if mode == 1 and pick:  # opset 11: the attribute
        return oh.make_node("Squeeze", ["x"], ["y"], axes=pick), [x], 11
    return oh.make_node("Squeeze", ["x", "axes"], ["y"]), [x, np.array(pick, np.int64)], 13


def case_unsqueeze():
    r = int(RNG.integers(0, 4))
    x = rand(rshape(r), DTYPES[RNG.integers(len(DTYPES))])
    k = int(RNG.integers(1, 3))
    big = r + k
    pos = [int(p) for p in RNG.choice(big, k, replace=False)]
    axes = [p - big if RNG.random() < 0.5 else p for p in pos]
    if RNG.random() < 0.3:
        return oh.make_node("Unsqueeze", ["x"], ["y"], axes=axes), [x], 11
    return oh.make_node("Unsqueeze", ["x", "axes"], ["y"]), [x, np.array(axes, np.int64)], 13


def case_gather():
    r = int(RNG.integers(1, 4))
    x = rand(rshape(r, 1, 5), DTYPES[RNG.integers(len(DTYPES))])
    axis = int(RNG.integers(-r, r))
    d = x.shape[axis]
    q = rshape(int(RNG.integers(0, 3)))
    ind = RNG.integers(-d, d, q).astype(np.int64 if RNG.random() < 0.7 else np.int32)
    return oh.make_node("Gather", ["x", "i"], ["y"], axis=axis), [x, ind], 13


def case_slice():
    r = int(RNG.integers(1, 4))
    x = rand(rshape(r, 1, 6), DTYPES[RNG.integers(len(DTYPES))])
    k = int(RNG.integers(1, r + 1))
    axes = [int(a) for a in RNG.choice(r, k, replace=False)]
    axes = [a - r if RNG.random() < 0.4 else a for a in axes]
    big = [-(2**63), 2**63 - 1, 2**31 - 1, -(2**31), 100, -100]
    starts, ends, steps = [], [], []
    for a in axes:
        d = x.shape[a]
        starts.append(int(RNG.integers(-d - 2, d + 2)) if RNG.random() < 0.8 else int(RNG.choice(big)))
        ends.append(int(RNG.integers(-d - 2, d + 2)) if RNG.random() < 0.8 else int(RNG.choice(big)))
        steps.append(int(RNG.choice([1, 1, 2, 3, -1, -2])))
    it = np.int64 if RNG.random() < 0.7 else np.int32
    starts = np.clip(np.array(starts), np.iinfo(it).min, np.iinfo(it).max).astype(it)
    ends = np.clip(np.array(ends), np.iinfo(it).min, np.iinfo(it).max).astype(it)
    mode = RNG.integers(3)
    if mode == 0 and all(s == 1 for s in steps) and axes == list(range(k)):
        return oh.make_node("Slice", ["x", "s", "e"], ["y"]), [x, starts, ends], 13
    if mode == 1 and all(s == 1 for s in steps):
        return oh.make_node("Slice", ["x", "s", "e", "a"], ["y"]), [x, starts, ends, np.array(axes, it)], 13
    return (oh.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"]),
            [x, starts, ends, np.array(axes, it), np.array(steps, it)], 13)


def case_matmul_integer():
    da = [np.uint8, np.int8][RNG.integers(2)]
    db = [np.uint8, np.int8][RNG.integers(2)]
    m, k, n = (int(v) for v in RNG.integers(1, 9, 3))
    shapes = [((m, k), (k, n)), ((2, m, k), (k, n)), ((k,), (k, n)), ((m, k), (k,)), ((3, 1, m, k), (2, k, n))]
    sa, sb = shapes[RNG.integers(len(shapes))]
    a = RNG.integers(np.iinfo(da).min, np.iinfo(da).max, sa, endpoint=True).astype(da)
    b = RNG.integers(np.iinfo(db).min, np.iinfo(db).max, sb, endpoint=True).astype(db)
    ins = [a, b]
    names = ["a", "b"]
    zmode = RNG.integers(4)
    if zmode >= 1:
        za = np.array(RNG.integers(np.iinfo(da).min, np.iinfo(da).max), da)
        ins.append(za.reshape(() if RNG.random() < 0.5 else (1,)))
        names.append("za")
    if zmode >= 2:
        per_col = zmode == 3 and len(sb) == 2
        zs = (sb[1],) if per_col else ()
        ins.append(RNG.integers(np.iinfo(db).min, np.iinfo(db).max, zs).astype(db))
        names.append("zb")
    if zmode == 1 and RNG.random() < 0.5:  # b's zero point alone: a's is omitted
        ins.insert(2, None)
        names.insert(2, "")
        ins[3] = RNG.integers(np.iinfo(db).min, np.iinfo(db).max, ()).astype(db)
        names[3] = "zb"
    return oh.make_node("MatMulInteger", names, ["y"]), ins, 13


CASES = {
    "Transpose": case_transpose, "Concat": case_concat, "Squeeze": case_squeeze, "Unsqueeze": case_unsqueeze,
    "Gather": case_gather, "Slice": case_slice, "MatMulInteger": case_matmul_integer,
}


def cases(op: str, count: int):
    """``count`` random nodes of ``op`` with a non-empty onnxruntime output: (node, inputs, output)."""
    out = []
    for _ in range(20 * count):
        node, ins, opset = CASES[op]()
        y = run_ort(node, ins, opset)
        if y.size:
            out.append((node, ins, y))
        if len(out) == count:
            break
    return out


def operands(desc, inputs, output, idx, *, aligned=True):
    """The operands a challenger sends for output element ``idx``: the two-stage needs of the
    Python twin, each input opened over whole leaves (inputs no need names: their dims only)."""
    metas = [None if a is None else (codec.dtype_code(np.asarray(a).dtype), np.asarray(a).shape) for a in inputs]
    out = np.asarray(output)
    nd = ops.needs(desc, metas, (codec.dtype_code(out.dtype), out.shape), idx, inputs=inputs)
    ins = []
    for i, a in enumerate(inputs):
        if a is None:
            ins.append(absent())
            continue
        mine = [n for n in nd if n.input_index == i]
        if mine:
            lo = min(n.first for n in mine)
            hi = max(n.first + n.count for n in mine)
            ins.append(opened(a, mine[0].layout, lo, hi - lo, aligned=aligned))
        else:
            arr = codec.canonical_array(a)
            ins.append((codec.dtype_code(arr.dtype), list(arr.shape), 0, 0, b""))
    return ins, opened(out, 0, idx, 1, aligned=aligned)


def sol(verifier, desc, ins, out, idx):
    try:
        return bool(verifier.check(desc, ins, out, idx))
    except ape.exceptions.ContractLogicError:
        return "revert"


def reverts_with(verifier, error: str, desc, ins, out, idx) -> None:
    """The check reverts with the verifier's custom error ``error``."""
    with ape.reverts(getattr(verifier, error)):
        verifier.check(desc, ins, out, idx)


def py(desc, inputs, output, idx):
    try:
        return ops.check_element(desc, inputs, output, idx)
    except (ops.Unsupported, IndexError, ValueError) as e:
        return "raise:" + type(e).__name__


def verifier_for(op, mv, iv):
    return iv if op == "MatMulInteger" else mv


# ---------------------------------------------------------------------------------------------
# Python rule vs onnxruntime
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", list(CASES))
def test_python_accepts_onnxruntime_outputs_and_flags_exactly_a_changed_element(op):
    for node, ins, y in cases(op, 25):
        assert ops.violations(node, ins, y).size == 0, f"{op} {[np.shape(a) for a in ins]} {node.attribute}"
        # the element rule (source positions) and the vectorised one (numpy's own op) agree everywhere
        assert all(ops.check_element(node, ins, y, j) for j in range(min(y.size, 48)))
        idx = int(RNG.integers(y.size))
        bad = changed(y, idx)
        assert ops.violations(node, ins, bad).tolist() == [idx]
        assert ops.check_element(node, ins, bad, idx) is False


def test_matmul_integer_wraps_to_int32_like_onnxruntime():
    """255·255·K overflows int32 at K = 33100: onnxruntime's accumulators wrap, and so does the rule."""
    k = 33100
    node = oh.make_node("MatMulInteger", ["a", "b"], ["y"])
    a = np.full((1, k), 255, np.uint8)
    b = np.full((k, 2), 255, np.uint8)
    y = run_ort(node, [a, b])
    exact = 255 * 255 * k
    assert exact > 2**31 and int(y[0, 0]) == exact - 2**32
    assert ops.violations(node, [a, b], y).size == 0
    assert ops.check_element(node, [a, b], y, 1) is True
    assert ops.check_element(node, [a, b], np.full_like(y, 2**31 - 1), 1) is False  # saturation is not honest


def test_gather_with_an_index_out_of_range_fails_every_element_it_feeds():
    node = oh.make_node("Gather", ["x", "i"], ["y"], axis=1)
    x = rand((2, 3, 2), np.float32)
    ind = i64(0, 3, -4, -3)  # 3 and -4 are outside [-3, 3): onnxruntime refuses the node
    y = np.take(x, [0, 0, 0, 0], axis=1)
    bad = sorted(int(v) for v in ops.violations(node, [x, ind], y))
    feeds = [j for j in range(y.size) if (j // 2) % 4 in (1, 2)]
    assert bad == feeds
    # the check reads only the index: no data element is needed for a failing one
    assert ops.needs(node, [(1, x.shape), (7, ind.shape)], (1, y.shape), 2, inputs=[x, ind]) == [ops.Need(1, 0, 1, 1)]
    assert ops.needs(node, [(1, x.shape), (7, ind.shape)], (1, y.shape), 6, inputs=[x, ind]) == [
        ops.Need(1, 0, 3, 1), ops.Need(0, 0, 0 * 6 + 0 * 2 + 0, 1)]


def test_needs_of_gather_and_slice_without_values_raise_a_hint():
    node = oh.make_node("Gather", ["x", "i"], ["y"])
    with pytest.raises(ops.NeedsValues, match="depends on the values"):
        ops.needs(node, [(1, (4, 2)), (7, (3,))], (1, (3, 2)), 0)
    s = oh.make_node("Slice", ["x", "s", "e"], ["y"])
    with pytest.raises(ops.NeedsValues):
        ops.needs(s, [(1, (4,)), (7, (1,)), (7, (1,))], (1, (2,)), 0, inputs={0: np.zeros(4, np.float32)})
    # the values are read from a mapping as well as a list
    nd = ops.needs(s, [(1, (4,)), (7, (1,)), (7, (1,))], (1, (2,)), 1, inputs={1: i64(-3), 2: i64(3)})
    assert nd == [ops.Need(1, 0, 0, 1), ops.Need(2, 0, 0, 1), ops.Need(0, 0, 2, 1)]


def test_slice_plan_follows_the_onnx_clamping_rules():
    assert ops.slice_plan((5,), [-1], [-100], None, [-2]) == ([4], [-2], (3,))  # 4, 2, 0
    assert ops.slice_plan((5,), [100], [-100], None, [-1]) == ([4], [-1], (5,))
    assert ops.slice_plan((5,), [-(2**63)], [2**63 - 1], None, [3]) == ([0], [3], (2,))
    # onnxruntime reads an end of INT32_MAX / INT64_MAX as "to the end" also backwards (measured)
    assert ops.slice_plan((5,), [4], [2**31 - 1], None, [-1]) == ([4], [-1], (5,))
    assert ops.slice_plan((5,), [-3], [2**63 - 1], None, [-1]) == ([2], [-1], (3,))
    assert ops.slice_plan((5,), [4], [2**31 - 2], None, [-1]) == ([4], [-1], (0,))
    assert ops.slice_plan((5,), [-100], [-100], None, [-1]) == ([0], [-1], (1,))
    assert ops.slice_plan((5,), [3], [1], None, [1]) == ([3], [1], (0,))
    assert ops.slice_plan((5, 2), [0, 0], [1, 1], [0, -2], None) is None  # axis 0 twice
    assert ops.slice_plan((5,), [0], [1], [1], None) is None  # axis out of range
    assert ops.slice_plan((5,), [0], [1], None, [0]) is None  # zero step


# ---------------------------------------------------------------------------------------------
# Solidity vs Python
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", list(CASES))
def test_solidity_decides_every_element_as_python_does(op, mv, iv):
    v = verifier_for(op, mv, iv)
    decided = {True: 0, False: 0}
    for node, ins, y in cases(op, 6):
        desc = ops.descriptor_of(node)
        for idx in {0, y.size - 1, int(RNG.integers(y.size))}:
            for out in (y, changed(y, idx)):
                p = py(desc, ins, out, idx)
                s = sol(v, desc, *operands(desc, ins, out, idx, aligned=bool(RNG.integers(2))), idx)
                assert isinstance(p, bool) and s == p, f"{op} element {idx}: python {p}, solidity {s}"
                decided[p] += 1
    assert decided[True] and decided[False] and decided[True] == decided[False]


F5 = np.arange(5, dtype=np.float32)
X23 = np.arange(6, dtype=np.float32).reshape(2, 3)


@pytest.mark.parametrize("label,node,ins", [
    ("squeeze, empty axes input: every size-1 dim", oh.make_node("Squeeze", ["x", "a"], ["y"]),
     [np.zeros((1, 3, 1), np.float32) + 2, np.zeros(0, np.int64)]),
    ("squeeze, an axis twice", oh.make_node("Squeeze", ["x", "a"], ["y"]),
     [np.arange(3, dtype=np.float32).reshape(1, 3, 1), i64(0, 0)]),
    ("slice, INT32_MAX end backwards (int64 tensor)", oh.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"]),
     [F5, i64(4), i64(2**31 - 1), i64(0), i64(-1)]),
    ("slice, INT64_MAX end backwards", oh.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"]),
     [F5, i64(-3), i64(2**63 - 1), i64(0), i64(-1)]),
    ("slice, INT32_MAX end backwards (int32 tensor)", oh.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"]),
     [F5, np.array([3], np.int32), np.array([2**31 - 1], np.int32), np.array([0], np.int32),
      np.array([-2], np.int32)]),
    ("slice, INT64_MAX start backwards", oh.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"]),
     [F5, i64(2**63 - 1), i64(0), i64(0), i64(-1)]),
    ("slice, INT64_MIN end backwards", oh.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"]),
     [F5, i64(4), i64(-(2**63)), i64(0), i64(-3)]),
    ("slice, start and end far below", oh.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"]),
     [F5, i64(-100), i64(-100), i64(0), i64(-1)]),
    ("slice, negative axis and step on a matrix", oh.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"]),
     [X23, i64(-1, 0), i64(-4, 9), i64(-1, 0), i64(-2, 1)]),
    ("gather, negative indices along the last axis", oh.make_node("Gather", ["x", "i"], ["y"], axis=-1),
     [X23, np.array([[-1, 0], [-3, 2]], np.int32)]),
    ("gather, scalar index", oh.make_node("Gather", ["x", "i"], ["y"]), [X23, np.array(-2, np.int64)]),
    ("concat, a zero-size input between two", oh.make_node("Concat", ["a", "b", "c"], ["y"], axis=-1),
     [X23, np.zeros((2, 0), np.float32), X23 + 10]),
    ("unsqueeze a scalar", oh.make_node("Unsqueeze", ["x", "a"], ["y"]), [np.array(7, np.int64), i64(-1, 0)]),
    ("transpose a NaN payload and -0", oh.make_node("Transpose", ["x"], ["y"]),
     [np.array([[np.uint32(0x7FC00123).view(np.float32), -0.0]], np.float32)]),
])
def test_onnxruntime_edge_cases_are_accepted_on_both_sides(label, node, ins, mv, iv):
    """Where onnxruntime is more lenient than the spec, or the values sit at the edges of the
    clamping rules, its output is honest for both twins; a changed element is not."""
    y = run_ort(node, ins)
    desc = ops.descriptor_of(node)
    assert y.size and ops.violations(node, ins, y).size == 0, label
    v = verifier_for(node.op_type, mv, iv)
    for idx in range(y.size):
        assert sol(v, desc, *operands(desc, ins, y, idx), idx) is py(desc, ins, y, idx) is True, (label, idx)
    bad = changed(y, y.size - 1)
    assert sol(v, desc, *operands(desc, ins, bad, y.size - 1), y.size - 1) is False, label
    assert ops.violations(node, ins, bad).tolist() == [y.size - 1], label


def test_solidity_matmul_integer_wraps_like_python(iv):
    k = 33100
    node = oh.make_node("MatMulInteger", ["a", "b", "", "zb"], ["y"])
    a = np.full((1, k), 255, np.uint8)
    b = np.full((k, 2), 255, np.uint8)
    zb = np.array([0, 1], np.uint8)
    y = run_ort(node, [a, b, None, zb])
    desc = ops.descriptor_of(node)
    for idx in (0, 1):
        assert sol(iv, desc, *operands(desc, [a, b, None, zb], y, idx), idx) is True
        assert sol(iv, desc, *operands(desc, [a, b, None, zb], changed(y, idx), idx), idx) is False


@pytest.mark.parametrize("label,node,ins,y,idx", [
    ("gather index out of range", oh.make_node("Gather", ["x", "i"], ["y"]),
     [np.arange(6, dtype=np.float32).reshape(3, 2), i64(1, 3)], np.zeros((2, 2), np.float32), 2),
    ("gather negative index below -d", oh.make_node("Gather", ["x", "i"], ["y"]),
     [np.arange(6, dtype=np.float32).reshape(3, 2), i64(-4)], np.zeros((1, 2), np.float32), 0),
    ("slice axis twice", oh.make_node("Slice", ["x", "s", "e", "a"], ["y"]),
     [np.arange(6, dtype=np.float32).reshape(3, 2), i64(0, 0), i64(1, 1), i64(0, -2)], np.zeros((1, 2), np.float32), 0),
    ("slice zero step", oh.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"]),
     [np.arange(4, dtype=np.float32), i64(0), i64(2), i64(0), i64(0)], np.zeros(2, np.float32), 0),
    ("slice wrong output dim", oh.make_node("Slice", ["x", "s", "e"], ["y"]),
     [np.arange(4, dtype=np.float32), i64(1), i64(3)], np.array([1, 2, 3], np.float32), 0),
    ("unsqueeze repeated axis", oh.make_node("Unsqueeze", ["x", "a"], ["y"]),
     [np.arange(2, dtype=np.float32), i64(0, -3)], np.zeros((1, 1, 2), np.float32), 0),
    ("squeeze of a dim that is not 1", oh.make_node("Squeeze", ["x", "a"], ["y"]),
     [np.zeros((2, 1), np.float32), i64(0)], np.zeros((1,), np.float32), 0),
    ("transpose perm not a permutation", oh.make_node("Transpose", ["x"], ["y"], perm=[0, 0]),
     [np.zeros((2, 2), np.float32)], np.zeros((2, 2), np.float32), 0),
    ("concat dims disagree", oh.make_node("Concat", ["a", "b"], ["y"], axis=0),
     [np.zeros((1, 2), np.float32), np.zeros((1, 3), np.float32)], np.zeros((2, 2), np.float32), 0),
    ("matmulinteger K mismatch", oh.make_node("MatMulInteger", ["a", "b"], ["y"]),
     [np.zeros((2, 3), np.uint8), np.zeros((4, 2), np.uint8)], np.zeros((2, 2), np.int32), 0),
])
def test_inputs_that_make_the_op_fail_answer_false_on_both_sides(label, node, ins, y, idx, mv, iv):
    desc = ops.descriptor_of(node)
    assert py(desc, ins, y, idx) is False, label
    assert sol(verifier_for(node.op_type, mv, iv), desc, *operands(desc, ins, y, idx), idx) is False, label


def test_operands_that_do_not_cover_the_needed_elements_revert(mv, iv):
    x = np.arange(64, dtype=np.float32).reshape(2, 32)
    ind = i64(1, -1)
    node = oh.make_node("Gather", ["x", "i"], ["y"])
    desc = ops.descriptor_of(node)
    y = run_ort(node, [x, ind])
    ins, out = operands(desc, [x, ind], y, 40)  # row -1 = row 1: elements 32.. of x
    assert sol(mv, desc, ins, out, 40) is True
    wrong_row = list(ins)
    wrong_row[0] = opened(x, 0, 0, 32, aligned=False)  # row 0 only: the element needed is not there
    reverts_with(mv, "OperandNotCovered", desc, wrong_row, out, 40)
    no_index = list(ins)
    no_index[1] = (7, [2], 0, 0, b"")
    reverts_with(mv, "OperandNotCovered", desc, no_index, out, 40)
    transposed = list(ins)
    transposed[0] = opened(x, 1, 0, 64, aligned=False)  # the right bytes' run, but in layout 1
    reverts_with(mv, "OperandNotCovered", desc, transposed, out, 40)
    reverts_with(mv, "OutputNotCovered", desc, ins, opened(y, 0, 0, 1, aligned=False), 40)

    s = oh.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"])
    sd = ops.descriptor_of(s)
    sins = [x, i64(-1, 0), i64(-100, 30), i64(1, 0), i64(-3, 1)]
    sy = run_ort(s, sins)
    ops_, out = operands(sd, sins, sy, 3)
    assert sol(mv, sd, ops_, out, 3) is py(sd, sins, sy, 3) is True
    for i in (1, 2, 3, 4):  # each integer input must be opened whole
        short = list(ops_)
        short[i] = (7, [2], 0, 0, sins[i][:1].tobytes())
        reverts_with(mv, "OperandNotCovered", sd, short, out, 3)

    mm = oh.make_node("MatMulInteger", ["a", "b", "za"], ["y"])
    md = ops.descriptor_of(mm)
    a = rand((2, 40), np.uint8)
    b = rand((40, 3), np.uint8)
    za = np.array(3, np.uint8)
    my = run_ort(mm, [a, b, za])
    mins, mout = operands(md, [a, b, za], my, 4)
    assert sol(iv, md, mins, mout, 4) is True
    no_zp = list(mins)
    no_zp[2] = (2, [], 0, 0, b"")
    reverts_with(iv, "OperandNotCovered", md, no_zp, mout, 4)
    col0 = list(mins)
    col0[1] = opened(b, 1, 0, 40, aligned=False)  # column 0, where column 1 is needed
    reverts_with(iv, "OperandNotCovered", md, col0, mout, 4)


@pytest.mark.parametrize("label,node,ins,y,error", [
    ("slice with attributes (opset < 10)", oh.make_node("Slice", ["x", "s", "e"], ["y"], starts=[0]),
     [np.zeros(4, np.float32), i64(0), i64(2)], np.zeros(2, np.float32), "UnsupportedAttribute"),
    ("slice float starts", oh.make_node("Slice", ["x", "s", "e"], ["y"]),
     [np.zeros(4, np.float32), np.zeros(1, np.float32), i64(2)], np.zeros(2, np.float32), "UnsupportedDtype"),
    ("gather float indices", oh.make_node("Gather", ["x", "i"], ["y"]),
     [np.zeros(4, np.float32), np.zeros(1, np.float32)], np.zeros(1, np.float32), "UnsupportedDtype"),
    ("squeeze axes twice", oh.make_node("Squeeze", ["x", "a"], ["y"], axes=[0]),
     [np.zeros((1, 2), np.float32), i64(0)], np.zeros(2, np.float32), "UnsupportedAttribute"),
    ("squeeze int32 axes", oh.make_node("Squeeze", ["x", "a"], ["y"]),
     [np.zeros((1, 2), np.float32), np.zeros(1, np.int32)], np.zeros(2, np.float32), "UnsupportedDtype"),
    ("unsqueeze without axes", oh.make_node("Unsqueeze", ["x"], ["y"]),
     [np.zeros(2, np.float32)], np.zeros((1, 2), np.float32), "UnsupportedAttribute"),
    ("concat without axis", oh.make_node("Concat", ["a", "b"], ["y"]),
     [np.zeros(2, np.float32), np.zeros(2, np.float32)], np.zeros(4, np.float32), "UnsupportedAttribute"),
    ("concat of two dtypes", oh.make_node("Concat", ["a", "b"], ["y"], axis=0),
     [np.zeros(2, np.float32), np.zeros(2, np.int64)], np.zeros(4, np.float32), "UnsupportedDtype"),
    ("matmulinteger float", oh.make_node("MatMulInteger", ["a", "b"], ["y"]),
     [np.zeros((1, 2), np.float32), np.zeros((2, 1), np.uint8)], np.zeros((1, 1), np.int32), "UnsupportedDtype"),
    ("matmulinteger per-row a zero point", oh.make_node("MatMulInteger", ["a", "b", "za"], ["y"]),
     [np.zeros((2, 2), np.uint8), np.zeros((2, 1), np.uint8), np.zeros(2, np.uint8)], np.zeros((2, 1), np.int32),
     "UnsupportedZeroPoint"),
    ("matmulinteger b zero point of a batched B", oh.make_node("MatMulInteger", ["a", "b", "", "zb"], ["y"]),
     [np.zeros((2, 2), np.uint8), np.zeros((2, 2, 3), np.uint8), None, np.zeros(3, np.uint8)],
     np.zeros((2, 2, 3), np.int32), "UnsupportedZeroPoint"),
    ("matmulinteger zero point of another dtype", oh.make_node("MatMulInteger", ["a", "b", "za"], ["y"]),
     [np.zeros((2, 2), np.uint8), np.zeros((2, 1), np.uint8), np.zeros((), np.int8)], np.zeros((2, 1), np.int32),
     "UnsupportedDtype"),
    ("matmulinteger K = 0", oh.make_node("MatMulInteger", ["a", "b"], ["y"]),
     [np.zeros((2, 0), np.uint8), np.zeros((0, 1), np.uint8)], np.zeros((2, 1), np.int32), "UnsupportedSize"),
])
def test_unsupported_nodes_revert_and_raise(label, node, ins, y, error, mv, iv):
    desc = ops.descriptor_of(node)
    with pytest.raises(ops.Unsupported):
        ops.check_element(desc, ins, y, 0)
    metas = [None if a is None else (codec.dtype_code(a.dtype), a.shape) for a in ins]
    ops_ = [absent() if a is None else opened(a, 0, 0, max(a.size, 1) if a.size else 0, aligned=False) for a in ins]
    v = verifier_for(node.op_type, mv, iv)
    with pytest.raises(ops.Unsupported):
        ops.needs(desc, metas, (codec.dtype_code(y.dtype), y.shape), 0, inputs=ins)
    reverts_with(v, error, desc, ops_, opened(y, 0, 0, 1, aligned=False), 0)


def test_each_verifier_refuses_the_ops_of_the_other(mv, iv):
    t = ops.descriptor_of(oh.make_node("Transpose", ["x"], ["y"]))
    x = np.zeros((2, 2), np.float32)
    reverts_with(iv, "UnsupportedOp", t, [opened(x, 0, 0, 4)], opened(x, 0, 0, 1), 0)
    m = ops.descriptor_of(oh.make_node("MatMulInteger", ["a", "b"], ["y"]))
    reverts_with(mv, "UnsupportedOp", m, [opened(x, 0, 0, 4)] * 2, opened(x, 0, 0, 1), 0)


def test_deployed_code_fits_eip170(mv, iv, chain):
    sizes = {name: len(chain.provider.web3.eth.get_code(c.address)) for name, c in (("Move", mv), ("Integer", iv))}
    print(f"\n  deployed bytes: {sizes}")
    assert all(0 < s < EIP170 for s in sizes.values()), sizes


def _gas(probe, verifier, desc, ins, out, idx) -> int:
    call = CHECK_SELECTOR + encode(["bytes", f"{OPERAND}[]", OPERAND, "uint256"], [desc, ins, out, idx])
    ok, ret, gas = probe.measure(verifier.address, call)
    assert ok and int.from_bytes(ret, "big") == 1
    return gas


def test_gas_per_check_at_realistic_sizes(mv, iv, probe):
    """Execution gas of one check of each op on shapes of a small vision / language model."""
    x = rand((1, 64, 8, 8), np.float32)
    emb = rand((1000, 64), np.float32)
    tok = RNG.integers(0, 1000, (1, 16)).astype(np.int64)
    rows = [
        ("Transpose NCHW->NHWC 1x64x8x8", oh.make_node("Transpose", ["x"], ["y"], perm=[0, 2, 3, 1]), [x]),
        ("Concat 4 inputs, axis 1", oh.make_node("Concat", ["a", "b", "c", "d"], ["y"], axis=1), [x, x, x, x]),
        ("Squeeze axes input", oh.make_node("Squeeze", ["x", "a"], ["y"]),
         [rand((1, 64, 1, 8), np.float32), i64(0, 2)]),
        ("Unsqueeze axes input", oh.make_node("Unsqueeze", ["x", "a"], ["y"]), [rand((64, 8), np.float32), i64(0, -1)]),
        ("Gather embedding 1000x64, 1x16 tokens", oh.make_node("Gather", ["e", "t"], ["y"]), [emb, tok]),
        ("Slice 4 axes with steps", oh.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"]),
         [x, i64(0, 1, -1, 0), i64(1, 60, -100, 8), i64(0, 1, 2, 3), i64(1, 2, -1, 3)]),
        ("MatMulInteger K=512 u8xi8, zero points", oh.make_node("MatMulInteger", ["a", "b", "za", "zb"], ["y"]),
         [rand((4, 512), np.uint8), rand((512, 64), np.int8), np.array(128, np.uint8), rand((64,), np.int8)]),
    ]
    print("\n| check | execution gas |\n|---|---|")
    table = {}
    for label, node, ins in rows:
        y = run_ort(node, ins)
        desc = ops.descriptor_of(node)
        idx = y.size // 2 + 1
        table[label] = _gas(probe, verifier_for(node.op_type, mv, iv), desc, *operands(desc, ins, y, idx), idx)
        print(f"| {label} | {table[label]:,} |")
    assert max(table.values()) < 300_000


# ---------------------------------------------------------------------------------------------
# Through the game: a tampered Gather output is proven with the real MoveVerifier
# ---------------------------------------------------------------------------------------------


def embed_onnx() -> bytes:
    """tokens[1, 6] (int64) → Gather(E[50, 16]) → Slice(axis 2, 8 : 0 : -2) → Transpose → y.
    Values: 0 tokens, 1 E, 2 starts, 3 ends, 4 axes, 5 steps, 6 g, 7 s, 8 y."""
    rng = np.random.default_rng(11)
    inits = [
        numpy_helper.from_array(rng.standard_normal((50, 16)).astype(np.float32), "E"),
        numpy_helper.from_array(i64(8), "starts"), numpy_helper.from_array(i64(0), "ends"),
        numpy_helper.from_array(i64(2), "axes"), numpy_helper.from_array(i64(-2), "steps"),
    ]
    nodes = [
        oh.make_node("Gather", ["E", "tokens"], ["g"]),
        oh.make_node("Slice", ["g", "starts", "ends", "axes", "steps"], ["s"]),
        oh.make_node("Transpose", ["s"], ["y"], perm=[0, 2, 1]),
    ]
    g = oh.make_graph(nodes, "embed", [oh.make_tensor_value_info("tokens", TensorProto.INT64, [1, 6])],
                      [oh.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6])], inits)
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", 17)], producer_name="assay-tests")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m.SerializeToString()


@pytest.fixture(scope="module")
def embed(registry, model_owner, funded):
    return register(registry, model_owner, embed_onnx(), {"tokens": np.array([[3, 49, 0, 7, 7, 21]], np.int64)})


@pytest.mark.parametrize("node_index,value_id", [(0, 6), (1, 7)])
def test_tampered_gather_or_slice_output_is_proven_through_the_game(node_index, value_id, embed, jobs, game, stake,
                                                                    token, make_job, worker, challenger,
                                                                    requester, treasury, mv):
    """The worker's Gather (or Slice) output is wrong at one element; the challenger finds it with
    the prover, builds the value-dependent needs from the trace, and proveNode slashes the worker
    through the registered MoveVerifier."""
    assert int(game.verifierOf("", ("Gather", "Slice")[node_index]), 16) != 0  # deployed and registered
    at = 13

    def bump(v):
        v.reshape(-1)[at] += 1.0
        return v

    trace = embed.tampered(value_id, bump)
    values = [v.copy() for v in embed.values]
    values[value_id] = bump(values[value_id])
    model = onnx.load_from_string(embed.onnx_bytes)
    report = find_fraud(embed.onnx_bytes, Trace(embed.graph, dict(zip(embed.graph.values, values))),
                        embed.input_container, embed.output_container)
    f = report.finding
    assert (f.kind, f.index, f.element) == ("node", node_index, at)
    by_name = dict(zip(embed.graph.values, values))
    needs = node_needs(model.graph.node[node_index], by_name, at)
    assert needs[-1].input_index == 0 and len(needs) == (2 if node_index == 0 else 5)
    jid = traced(jobs, game, make_job, worker, challenger, embed, trace)
    args = cd.prove_node_args(jid, embed.graph, trace, node_index, at, needs=needs)
    honest = cd.prove_node_args(jid, embed.graph, trace, node_index, at + 1, needs=node_needs(
        model.graph.node[node_index], by_name, at + 1))
    with reverts(game.ProofRejected, jobId=jid, node=node_index, outIndex=at + 1):  # an honest element proves nothing
        game.proveNode(*honest, sender=challenger)
    before = balances(jobs, stake, token, worker, challenger, requester, treasury)
    tx = game.proveNode(*args, sender=challenger)
    assert_challenger_won(before, balances(jobs, stake, token, worker, challenger, requester, treasury),
                          worker, challenger, requester, treasury)
    resolved(game, tx, jid, True, BY_NODE)
    print(f"\n  gas proveNode {('Gather', 'Slice')[node_index]}: {tx.gas_used:,}")
    assert hashlib.sha256(embed.onnx_bytes).digest() == embed.mid


# GameClient.prove once built needs from shapes alone (float32 assumed): Gather/Reshape/ArgMax nodes failed.
def test_game_client_proves_a_gather_finding():
    from types import SimpleNamespace

    from assay.commitments.roots import graph_layout
    from assay.fraud.game import GameClient, _plain
    from assay.fraud.prover import Finding
    from assay.fraud.tracecommit import TraceCommitment
    from test_fraud_game import canonical_run

    onnx_bytes = embed_onnx()
    feed = {"tokens": np.array([[3, 49, 0, 7, 7, 21]], np.int64)}
    _, values, _ = canonical_run(onnx_bytes, feed)
    values[6] = values[6].copy()
    values[6].reshape(-1)[13] += 1.0
    layout = graph_layout(onnx.load_from_string(onnx_bytes))
    trace = Trace(layout, dict(zip(layout.values, values)))
    sdk = SimpleNamespace(c=SimpleNamespace(game=SimpleNamespace(functions=SimpleNamespace(
        proveNode=lambda *args: ("proveNode", args)))), _send=lambda call, label: call)
    sent = GameClient(sdk).prove(7, Finding("node", 0, 13), onnx_bytes, trace, b"", b"")
    node = onnx.load_from_string(onnx_bytes).graph.node[0]
    want = cd.prove_node_args(7, layout, TraceCommitment.of(values), 0, 13, needs=node_needs(node, trace.values, 13))
    assert sent == ("proveNode", _plain(want))  # the data element named by the index was opened
