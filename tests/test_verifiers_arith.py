"""Div, Clip, BatchNormalization, AveragePool and GlobalAveragePool: the Python rules
(assay.fraud.ops) against onnxruntime and other honest float32 executions, and the Solidity
verifiers (ArithmeticVerifier, PoolVerifier) against the Python rules, on anvil.

Honest values (onnxruntime at 1 and 2 threads with graph optimisations off and on, numpy float32
evaluations in other orders, denormals-are-zero executors) are always accepted; values moved
outside the documented bound (docs/fraud-bounds.md §4.3–4.5) are always rejected; the vectorised
``violations`` decides every element as the exact ``check_element``; Solidity decides every case as
Python (accept, reject, or revert where Python raises). A small CNN with BatchNormalization,
AveragePool, Clip, GlobalAveragePool and Div is verification class APPROX (every node checked), its
honest trace has no violation, and a tampered element of each new node is proven on-chain.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from eth_abi import decode, encode
from eth_utils import keccak
from onnx import TensorProto, numpy_helper
from onnx import helper as oh
from test_verifiers_sol import CHECK_SELECTOR, OPERAND, _gas, _key, f32bits, operands_for, opened, py, py_edges, with_value
from web3.exceptions import ContractCustomError

import ape
from assay.commitments.roots import graph_layout
from assay.fraud import ops
from assay.fraud.ops import Unsupported

RNG = np.random.default_rng(4242)
U = 2.0**-24
LEVELS = (ort.GraphOptimizationLevel.ORT_DISABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)


@pytest.fixture(scope="session")
def arith(project, owner):
    return owner.deploy(project.ArithmeticVerifier)


@pytest.fixture(scope="session")
def pool(project, owner):
    return owner.deploy(project.PoolVerifier)


@pytest.fixture(scope="session")
def gas_probe(project, owner):
    return owner.deploy(project.VerifierGasProbe)


@pytest.fixture(autouse=True)
def _session_state_first(owner, requester, worker, challenger, model_owner, treasury, stack, model, funded, staked,
                         arith, pool, gas_probe):
    """Every session fixture this module uses, requested by every test, so that all of them exist before
    ape's first snapshot of the module: a session fixture first met in a later test would be created
    inside the module's snapshot and vanish from the chain at its end (as in test_fraud_game.py)."""


def ort_run(node, inputs, *, threads: int = 1, level=LEVELS[0], opset: int = 17) -> np.ndarray:
    """One node in onnxruntime (CPU), ``inputs`` in the node's input order (None: absent)."""
    feeds = {n: a for n, a in zip(node.input, inputs) if n and a is not None}
    vis = [oh.make_tensor_value_info(n, TensorProto.FLOAT, list(a.shape)) for n, a in feeds.items()]
    g = oh.make_graph([node], "g", vis, [onnx.ValueInfoProto(name=node.output[0])])
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", opset)])
    so = ort.SessionOptions()
    so.graph_optimization_level = level
    so.intra_op_num_threads = threads
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def honest_everywhere(node, inputs, opset=17):
    """onnxruntime's outputs at 1 and 2 threads, optimisations off and on: each has no violation."""
    outs = []
    for threads in (1, 2):
        for level in LEVELS:
            y = ort_run(node, inputs, threads=threads, level=level, opset=opset)
            assert ops.violations(node, inputs, y).size == 0, (threads, level)
            outs.append(y)
    return outs[0]


def agrees_with_exact(node, inputs, y, sample=60):
    """``violations`` makes the decisions of ``check_element`` (on a sample plus every violation)."""
    v = set(ops.violations(node, inputs, y).tolist())
    idx = set(RNG.choice(y.size, min(sample, y.size), replace=False).tolist()) | set(list(v)[:sample])
    for i in idx:
        assert ops.check_element(node, inputs, y, int(i)) == (i not in v), i
    return v


def wide(n, lo=-60, hi=60):
    return (RNG.standard_normal(n) * np.exp2(RNG.integers(lo, hi, n))).astype(np.float32)


def daz(a):
    """A denormals-are-zero / flush-to-zero view of float32 values."""
    a = np.array(a, np.float32, copy=True)
    a[np.abs(a) < np.float32(2.0**-126)] = 0
    return a


def _eth_call(verifier, desc, ins, out, idx) -> bytes:
    """``verifier.check(...)`` as a plain eth_call on anvil (ape's contract calls cost ~15 ms each, its
    ape.reverts ~1.5 s: it traces every reverted call; the cases here number in the thousands)."""
    call = CHECK_SELECTOR + encode(["bytes", f"{OPERAND}[]", OPERAND, "uint256"], [desc, ins, out, idx])
    return ape.chain.provider.web3.eth.call({"to": verifier.address, "data": "0x" + call.hex()})


def sol(verifier, desc, ins, out, idx):
    """True/False, or "revert:<custom error name>"."""
    try:
        ret = _eth_call(verifier, desc, ins, out, idx)
    except ContractCustomError as e:
        sel = bytes.fromhex(e.data[2:10])
        return "revert:" + next((x.name for x in verifier.contract_type.errors if keccak(text=x.selector)[:4] == sel), "?")
    assert len(ret) == 32 and int.from_bytes(ret, "big") in (0, 1)
    return bool(int.from_bytes(ret, "big"))


def same(verifier, node, inputs, output, idx, *, desc=None):
    """Python (check_element) and Solidity decide element ``idx`` the same way; returns the decision."""
    desc = desc if desc is not None else ops.descriptor_of(node)
    p = py(desc, inputs, output, idx)
    ins, out = operands_for(desc, inputs, output, idx)
    s = sol(verifier, desc, ins, out, idx)
    assert isinstance(p, bool) and s == p, f"element {idx}: python {p}, solidity {s}"
    return p


def reverts_with(verifier, desc, ins, out, idx, error: str, **args):
    """The check reverts with custom error ``error`` and these arguments (decoded with the verifier's ABI)."""
    with pytest.raises(ContractCustomError) as info:
        _eth_call(verifier, desc, ins, out, idx)
    data = bytes.fromhex(info.value.data[2:])
    abi = next(e for e in verifier.contract_type.errors if e.name == error)
    assert data[:4] == keccak(text=abi.selector)[:4], f"reverted with another error than {error}"
    got = dict(zip([i.name.lstrip("_") for i in abi.inputs], decode([i.canonical_type for i in abi.inputs], data[4:])))
    for k, v in args.items():
        assert got[k] == (v.encode() if isinstance(v, str) and isinstance(got[k], bytes) else v), (error, k, got[k])


# ---------------------------------------------------------------------------------------------
# Div
# ---------------------------------------------------------------------------------------------

DIV = oh.make_node("Div", ["a", "b"], ["y"])
DIV_SPECIAL = [(0.0, 1.0), (-0.0, 2.0), (1e-40, 3.0), (np.nan, 1.0), (np.inf, 1.0), (-np.inf, 2.0), (1.0, 0.0),
               (1.0, -0.0), (1.0, 1e-40), (1e-40, 1e-40), (3e38, 1e-30), (3e38, -1e-10), (1e-45, 1e30), (5.0, np.inf),
               (0.0, 0.0), (np.inf, np.inf), (1.0, np.nan), (1e-30, 1e20), (1e30, 1e-20), (1e-38, 4.0)]


def test_div_onnxruntime_is_correctly_rounded_accepted_and_values_off_by_two_floats_rejected():
    a, b = wide(4000), wide(4000)
    a[: len(DIV_SPECIAL)], b[: len(DIV_SPECIAL)] = zip(*DIV_SPECIAL)
    y = honest_everywhere(DIV, [a, b])
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        exact = (a.astype(np.float64) / b.astype(np.float64)).astype(np.float32)
    assert np.array_equal(y, exact, equal_nan=True)  # onnxruntime divides correctly rounded (measured)
    normal = np.flatnonzero((np.abs(y) > 2.0**-100) & (np.abs(y) < 2.0**100))
    normal = normal[normal >= len(DIV_SPECIAL)]
    for step in (1, 2):
        bad = y.copy()
        bad.view(np.uint32)[normal] += step
        v = agrees_with_exact(DIV, [a, b], bad)
        assert len(v) >= (0.6 if step == 1 else 1.0) * len(normal)


def test_div_accepts_at_most_the_two_floats_around_the_quotient():
    for a, b in zip(wide(200, -20, 20), wide(200, -20, 20)):
        q = np.float64(a) / np.float64(b)
        y = np.float32(q)
        lo_ok, lo_bad, hi_ok, hi_bad = py_edges(DIV, [np.array([a]), np.array([b])], np.array([y]), 0)
        assert _key(hi_ok) - _key(lo_ok) <= 1 and f32bits(y) in (lo_ok, hi_ok)
        for bits in (lo_bad, hi_bad):  # the first rejected floats lie beyond γ₁·|q|
            assert abs(np.float64(np.uint32(bits).view(np.float32)) - q) > abs(q) * U / (1 - U)


def test_div_denormals_are_zero_and_flush_to_zero_executors_accepted():
    a = np.array([1e-40, -3e-39, 1e-40, 2.0, 1e-30, 1e-20, 5.0, 1e-39], np.float32)
    b = np.array([1e-30, 2.0, 1e-40, 1e-40, 1e10, 1e20, 3e38, 1e-38], np.float32)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ref = (a.astype(np.float64) / b.astype(np.float64)).astype(np.float32)
        flushed = (daz(a).astype(np.float64) / daz(b).astype(np.float64)).astype(np.float32)
    for y in (ref, daz(ref), flushed, daz(flushed)):
        assert ops.violations(DIV, [a, b], y).size == 0
    assert not ops.check_element(DIV, [a, b], with_value(ref, 4, f32bits(1e-37)), 4)  # 1e-40 / 1e10: not 1e-37


def test_div_special_values():
    table = [  # a, b, accepted, rejected
        (np.nan, 1.0, [np.nan], [1.0, np.inf]), (1.0, np.nan, [np.nan], [1.0]),
        (np.inf, -2.0, [np.inf, -np.inf], [np.nan, 3.0]), (np.inf, np.inf, [np.nan], [np.inf, 1.0]),
        (5.0, -np.inf, [0.0, -0.0], [1e-45, np.nan]), (1.0, 0.0, [np.inf, -np.inf, np.nan], [3e38, 0.0]),
        (0.0, 0.0, [np.nan], [0.0]), (1.0, 1e-40, [np.inf, -np.inf, np.nan], [3e38]),
        (3e38, 1e-30, [np.inf], [3e38]), (1e-40, 2.0, [0.0, 5e-41, -0.0, 1e-39], [1e-37]),
        (0.0, 3.0, [0.0, -0.0], [np.nan, 1e-30]),
        (1.0, 3.0, [np.float32(1 / 3)], [np.nan, np.inf, 0.0]),
    ]
    for a, b, good, bad in table:
        x, z = np.array([a], np.float32), np.array([b], np.float32)
        for v in good:
            assert ops.check_element(DIV, [x, z], np.array([v], np.float32), 0), (a, b, v)
        for v in bad:
            assert not ops.check_element(DIV, [x, z], np.array([v], np.float32), 0), (a, b, v)


def test_div_verifier_agrees_with_python(arith):
    a, b = wide(64, -30, 30), wide(64, -30, 30)
    a[:20], b[:20] = zip(*DIV_SPECIAL)
    y = ort_run(DIV, [a, b])
    for idx in range(0, 64, 3):
        assert same(arith, DIV, [a, b], y, idx) is True
        for bits in py_edges(DIV, [a, b], y, idx) if idx >= 20 else ():
            same(arith, DIV, [a, b], with_value(y, idx, bits), idx)
        for bits in (0x7FC00000, 0x7F800000, 0, 0x80000000, 1, f32bits(y[idx]) ^ 0x80000000, f32bits(y[idx]) + 2):
            same(arith, DIV, [a, b], with_value(y, idx, bits), idx)
    # broadcasting: [4, 1, 8] / [3, 1]
    x, z = RNG.standard_normal((4, 1, 8)).astype(np.float32), RNG.standard_normal((3, 1)).astype(np.float32)
    yb = ort_run(DIV, [x, z])
    for idx in (0, 17, yb.size - 1):
        assert same(arith, DIV, [x, z], yb, idx) is True
        assert same(arith, DIV, [x, z], with_value(yb, idx, f32bits(yb.reshape(-1)[idx] * 1.001)), idx) is False


# ---------------------------------------------------------------------------------------------
# Clip
# ---------------------------------------------------------------------------------------------

CLIP_X = np.concatenate([np.array([np.nan, np.inf, -np.inf, 1e-40, -1e-40, 0.0, -0.0, 0.5, -0.5, 3e38], np.float32),
                         RNG.standard_normal(54).astype(np.float32)])
CLIP_BOUNDS = [(-0.5, 0.5), (None, 0.5), (-0.5, None), (None, None), (np.nan, 1.0), (-1.0, np.nan), (1.0, -1.0),
               (0.0, 1e-40), (-np.inf, np.inf)]


def clip_case(lo, hi):
    names = ["x", "" if lo is None else "lo", "" if hi is None else "hi"]
    while names[-1] == "":
        names.pop()
    node = oh.make_node("Clip", names, ["y"])
    ins = [CLIP_X] + [None if v is None else np.array(v, np.float32) for v in (lo, hi)][: len(names) - 1]
    return node, ins


@pytest.mark.parametrize("lo,hi", CLIP_BOUNDS)
def test_clip_is_exact_against_onnxruntime(lo, hi):
    node, ins = clip_case(lo, hi)
    y = honest_everywhere(node, ins)
    bad = y + np.float32(0.25)
    v = agrees_with_exact(node, ins, bad)
    assert v >= set(np.flatnonzero(np.isfinite(y) & (np.abs(y) < 1e6)).tolist())  # moved values are all rejected
    nb = y.copy()
    nb.view(np.uint32)[7:] += 1  # the next float: never the same value (except subnormals seen as 0)
    assert len(agrees_with_exact(node, ins, nb)) >= 50 or (lo, hi) == (0.0, 1e-40)  # (subnormals equal ±0)


def test_clip_without_min_gives_minus_flt_max_for_minus_inf_and_both_are_accepted():
    node, ins = clip_case(None, 0.5)
    y = ort_run(node, ins)
    assert y[2] == -np.finfo(np.float32).max  # onnxruntime's lowest(), measured
    for v in (-np.inf, -np.finfo(np.float32).max):
        assert ops.check_element(node, ins, with_value(y, 2, f32bits(v)), 2)
    assert not ops.check_element(node, ins, with_value(y, 2, f32bits(-1.0)), 2)
    assert ops.clip_rule(f32bits(1e-40), f32bits(0.0), None, 0x80000000)  # DAZ: a subnormal equals ±0
    assert ops.clip_rule(f32bits(np.nan), f32bits(0.0), f32bits(1.0), f32bits(0.0))  # NaN: comparison order decides
    assert not ops.clip_rule(f32bits(np.nan), f32bits(0.0), f32bits(1.0), f32bits(0.5))


def test_clip_verifier_agrees_with_python(arith):
    for lo, hi in CLIP_BOUNDS:
        node, ins = clip_case(lo, hi)
        y = ort_run(node, ins)
        for idx in range(0, 16, 2):
            assert same(arith, node, ins, y, idx) is True
            for bits in (0x7FC00000, 0xFF800000, 0xFF7FFFFF, 0x7F7FFFFF, 0x80000000, 1, f32bits(CLIP_X[idx]),
                         f32bits(0.5), f32bits(y[idx]) + 1):
                same(arith, node, ins, with_value(y, idx, bits), idx)


# ---------------------------------------------------------------------------------------------
# BatchNormalization
# ---------------------------------------------------------------------------------------------

BN = oh.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-5)


def bn_case(c=16, shape=(2, 16, 6, 6), scale=3.0):
    x = (RNG.standard_normal(shape) * scale).astype(np.float32)
    p = [RNG.standard_normal(c).astype(np.float32), RNG.standard_normal(c).astype(np.float32),
         RNG.standard_normal(c).astype(np.float32), (RNG.random(c) * 2).astype(np.float32)]
    return [x] + p


def bn_reference(ins, eps):
    """float64 y, P = |x·s| + |μ·s| + |β| and the documented tolerance 2^-19·P + A (no subnormal inputs)."""
    x, sc, b, m, v = (a.astype(np.float64) for a in ins)
    sh = (1, -1) + (1,) * (x.ndim - 2)
    s = (sc / np.sqrt(v + np.float64(np.float32(eps)))).reshape(sh)
    y = (x - m.reshape(sh)) * s + b.reshape(sh)
    p = np.abs(x * s) + np.abs(m.reshape(sh) * s) + np.abs(b.reshape(sh))
    a = (np.abs(x) + np.abs(m.reshape(sh)) + np.abs(sc.reshape(sh)) + 16) * 2.0**-125
    return y, p, 32 * U * p + a


@pytest.mark.parametrize("opset", [9, 15])
@pytest.mark.parametrize("eps", [1e-5, 1e-3, 0.0])
def test_batchnorm_onnxruntime_accepted_and_values_outside_the_bound_rejected(opset, eps):
    node = oh.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=eps)
    ins = bn_case()
    y = honest_everywhere(node, ins, opset)
    ref, p, tol = bn_reference(ins, eps)
    assert np.max(np.abs(y - ref) / p) < 4 * U  # measured ≤ 2.2 u: the 32 u bound has a 14× margin
    for k, want_all in ((0.5, False), (2.0, True)):
        moved = (ref + np.where(RNG.random(ref.shape) < 0.5, -1, 1) * k * tol).astype(np.float32)
        v = agrees_with_exact(node, ins, moved, 40)
        if want_all:
            assert len(v) == y.size  # 2× the bound: every element rejected
        else:
            assert len(v) == 0  # half the bound: every element accepted


def test_batchnorm_other_honest_evaluation_orders_accepted():
    ins = bn_case(shape=(3, 16, 5))
    x, sc, b, m, v = ins
    eps = np.float32(1e-5)
    sh = (1, -1, 1)
    inv = (np.float32(1) / np.sqrt(v + eps)).astype(np.float32)
    fused = [(x * (sc * inv).reshape(sh) + (b - m * sc * inv).reshape(sh)),  # onnxruntime's order
             ((x - m.reshape(sh)) * inv.reshape(sh) * sc.reshape(sh) + b.reshape(sh)),
             ((x - m.reshape(sh)) / np.sqrt(v + eps).reshape(sh) * sc.reshape(sh) + b.reshape(sh)),
             ((x.astype(np.float64) - m.reshape(sh)) * sc.reshape(sh) / np.sqrt(v.astype(np.float64) + eps).reshape(sh)
              + b.reshape(sh)).astype(np.float32)]
    for y in fused:
        assert ops.violations(BN, ins, y.astype(np.float32)).size == 0


def test_batchnorm_special_and_degenerate_values():
    x = np.array([[np.nan, np.inf, 1e-40, 0.0, 2.0, 3e38]], np.float32).reshape(1, 1, 6)
    p = lambda *v: [np.array([q], np.float32) for q in v]  # noqa: E731
    y = ort_run(BN, [x] + p(1.5, 0.25, -0.5, 2.0))
    assert ops.violations(BN, [x] + p(1.5, 0.25, -0.5, 2.0), y).size == 0
    ins = [x] + p(1.5, 0.25, -0.5, 2.0)
    assert not ops.check_element(BN, ins, with_value(y, 0, f32bits(1.0)), 0)  # x NaN: ŷ must be non-finite
    assert not ops.check_element(BN, ins, with_value(y, 4, f32bits(np.inf)), 4)  # no honest overflow here
    assert ops.check_element(BN, [x] + p(1e30, 0.25, -0.5, 1e-6), with_value(y, 5, f32bits(np.inf)), 5)  # can overflow
    # DAZ: a subnormal x read as 0 gives β − μ·s
    s = 1.5 / np.sqrt(2.0 + 1e-5)
    assert ops.check_element(BN, ins, with_value(y, 2, f32bits(0.25 + 0.5 * s)), 2)
    # DAZ where it matters: a subnormal x times a large s (1e-39·1e30): its product may be dropped
    big = [np.full((1, 1, 1), 1e-39, np.float32)] + p(1e30, 0.0, 0.0, 1.0)
    assert ops.check_element(BN, big, np.full((1, 1, 1), 0.0, np.float32), 0)
    assert ops.check_element(BN, big, np.full((1, 1, 1), 1e-39 * 1e30 / np.sqrt(1 + 1e-5), np.float32), 0)
    normal = [np.full((1, 1, 1), 1e-37, np.float32)] + p(1e30, 0.0, 0.0, 1.0)
    assert not ops.check_element(BN, normal, np.full((1, 1, 1), 0.0, np.float32), 0)  # a normal x may not be
    # degenerate parameters (a non-finite parameter, a negative variance cancelling ε): anything goes
    for params in ((np.inf, 0.25, -0.5, 2.0), (1.5, 0.25, -0.5, np.nan), (1.5, 0.25, -0.5, -1e-5), (1.5, 0.25, -0.5, -3.0)):
        assert ops.check_element(BN, [x] + p(*params), with_value(y, 4, f32bits(-12345.0)), 4)


def test_batchnorm_unsupported_attributes_and_dtypes_raise():
    ins = bn_case(4, (1, 4, 2, 2))
    y = ort_run(BN, ins)
    for attrs in ({"training_mode": 1}, {"spatial": 0}, {"epsilon": float("inf")}):
        node = oh.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], **attrs)
        with pytest.raises(Unsupported):
            ops.check_element(node, ins, y, 0)
    with pytest.raises(Unsupported):
        ops.check_element(BN, ins[:4] + [ins[4].astype(np.float64)], y, 0)
    node3 = oh.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y", "rm", "rv"])
    with pytest.raises(Unsupported):
        ops.check_element(node3, ins, y, 0)
    assert ops.check_element(BN, ins[:1] + [a[:3] for a in ins[1:]], y, 0) is False  # parameter shapes are not [C]


def test_batchnorm_verifier_agrees_with_python(arith):
    ins = bn_case(8, (2, 8, 3, 3))
    ins[0].reshape(-1)[:4] = [np.nan, 1e-40, 3e38, -np.inf]
    ins[1][2] = 1e-40  # a subnormal scale
    ins[4][3] = 0.0
    y = ort_run(BN, ins)
    for idx in range(0, y.size, 5):
        assert same(arith, BN, ins, y, idx) is True
        if np.isfinite(y.reshape(-1)[idx]):
            for bits in py_edges(BN, ins, y, idx):
                same(arith, BN, ins, with_value(y, idx, bits), idx)
        for bits in (0x7FC00000, 0x7F800000, 0, 0x80000000):
            same(arith, BN, ins, with_value(y, idx, bits), idx)
    for params in ((np.inf, 0.25, -0.5, 2.0), (1.5, 0.25, -0.5, -1e-5), (1.5, 0.25, -0.5, 3e38), (1e30, 1.0, 1.0, 1e-30)):
        p4 = [np.array([q], np.float32) for q in params]
        x1 = np.array([1.0, -2.0, 1e-40, 3e38], np.float32).reshape(1, 1, 4)
        y1 = np.array([1.0, np.inf, 0.0, -7.0], np.float32).reshape(1, 1, 4)
        for idx in range(4):
            same(arith, BN, [x1] + p4, y1, idx)


# ---------------------------------------------------------------------------------------------
# AveragePool, GlobalAveragePool
# ---------------------------------------------------------------------------------------------

POOL_ATTRS = [{"kernel_shape": [2, 2], "strides": [2, 2]}, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]},
              {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1},
              {"kernel_shape": [3, 2], "pads": [2, 0, 1, 1], "strides": [2, 1]}, {"kernel_shape": [5, 5], "auto_pad": "VALID"}]


def mean_bound(window, n, m):
    """The documented bound of one element: |ŷ − Σx/n| ≤ (γ_m·Σ|x| + 2·D + n·(m + 1)·2^-123) / n."""
    w = np.asarray(window, np.float64)
    gam = m * U / (1 - m * U)
    return w.sum() / n, (gam * np.abs(w).sum() + 2 * np.abs(w[np.abs(w) < 2.0**-126]).sum() + n * (m + 1) * 2.0**-123) / n


@pytest.mark.parametrize("attrs", POOL_ATTRS)
def test_averagepool_onnxruntime_accepted_and_outside_the_bound_rejected(attrs):
    node = oh.make_node("AveragePool", ["x"], ["y"], **attrs)
    x = RNG.standard_normal((2, 3, 9, 9)).astype(np.float32)
    x.reshape(-1)[::17] = 1e-40
    y = honest_everywhere(node, [x])
    # 2× the bound away: rejected; each element's window from the reference implementation
    kh, kw = attrs["kernel_shape"]
    pads = attrs.get("pads", [0, 0, 0, 0])
    strides = attrs.get("strides", [1, 1])
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=np.nan)
    moved = np.empty_like(y)
    for (b, c, i, j), _ in np.ndenumerate(y):
        win = xp[b, c, i * strides[0]: i * strides[0] + kh, j * strides[1]: j * strides[1] + kw].reshape(-1)
        real = win[~np.isnan(win)]
        n = kh * kw if attrs.get("count_include_pad") else real.size
        mean, bound = mean_bound(real, n, kh * kw + 1)
        moved[b, c, i, j] = mean + (2 * bound + 2.0**-120) * (1 if (i + j) % 2 else -1)
    assert len(agrees_with_exact(node, [x], moved)) == y.size
    xn = x.copy()
    xn.reshape(-1)[[5, 100]] = [np.nan, np.inf]
    yn = honest_everywhere(node, [xn])
    assert len(agrees_with_exact(node, [xn], np.where(np.isfinite(yn), yn, np.float32(1.0)))) == (~np.isfinite(yn)).sum()


def test_averagepool_other_honest_evaluations_accepted():
    node = oh.make_node("AveragePool", ["x"], ["y"], kernel_shape=[4, 4], strides=[4, 4])
    x = (RNG.random((1, 4, 16, 16)) * 100).astype(np.float32)
    win = x.reshape(1, 4, 4, 4, 4, 4).transpose(0, 1, 2, 4, 3, 5).reshape(1, 4, 4, 4, 16)
    seq = np.zeros(win.shape[:-1], np.float32)
    for i in range(16):
        seq = (seq + win[..., i]).astype(np.float32)
    for y in (seq / np.float32(16), seq * np.float32(1 / 16), (win.astype(np.float64).mean(-1)).astype(np.float32),
              (win / np.float32(16)).sum(-1, dtype=np.float32)):
        assert ops.violations(node, [x], y.astype(np.float32)).size == 0
    xs = x * np.float32(2.0**-128)  # subnormal and tiny inputs: a denormals-are-zero / flush-to-zero executor
    ys = daz(daz(xs).reshape(1, 4, 4, 4, 4, 4).transpose(0, 1, 2, 4, 3, 5).reshape(1, 4, 4, 4, 16).sum(-1) / np.float32(16))
    assert ((xs.view(np.uint32) >> 23) & 0xFF).min() == 0  # some inputs are subnormal
    assert ops.violations(node, [xs], ys).size == 0


def test_globalaveragepool_onnxruntime_accepted_and_outside_the_bound_rejected():
    node = oh.make_node("GlobalAveragePool", ["x"], ["y"])
    for shape in ((2, 8, 7, 7), (1, 3, 5), (1, 64, 56, 56)):
        x = (RNG.random(shape) * 4 - 1).astype(np.float32)
        y = honest_everywhere(node, [x])
        k = int(np.prod(shape[2:]))
        flat = x.reshape(shape[0] * shape[1], k)
        moved = np.empty(flat.shape[0], np.float32)
        for r in range(flat.shape[0]):
            mean, bound = mean_bound(flat[r], k, k + 1)
            moved[r] = mean + 2 * bound * (-1) ** r
        assert len(agrees_with_exact(node, [x], moved.reshape(y.shape), 8)) == y.size


def test_pool_unsupported_attributes_and_shapes_raise():
    x = RNG.standard_normal((1, 2, 4, 4)).astype(np.float32)
    y = ort_run(oh.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2]), [x])
    for attrs in ({"kernel_shape": [2, 2], "ceil_mode": 1}, {"kernel_shape": [2, 2], "count_include_pad": 2},
                  {"kernel_shape": [2, 2], "dilations": [2, 2]}, {"kernel_shape": [2, 2], "auto_pad": "SAME_UPPER"}, {}):
        with pytest.raises(Unsupported):
            ops.check_element(oh.make_node("AveragePool", ["x"], ["y"], **attrs), [x], y, 0)
    with pytest.raises(Unsupported):
        ops.check_element(oh.make_node("GlobalAveragePool", ["x"], ["y"]), [x[0, 0]], np.zeros((1, 1), np.float32), 0)
    assert ops.check_element(oh.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], pads=[2, 0, 0, 0]), [x],
                             np.zeros((1, 2, 5, 3), np.float32), 0) is False  # a pad as large as the kernel


def test_pool_verifier_agrees_with_python(pool):
    for attrs in POOL_ATTRS:
        node = oh.make_node("AveragePool", ["x"], ["y"], **attrs)
        x = RNG.standard_normal((1, 2, 7, 7)).astype(np.float32)
        x.reshape(-1)[::9] = 1e-40
        x.reshape(-1)[40] = np.nan
        y = ort_run(node, [x])
        for idx in sorted({0, 1, y.size // 2, y.size - 1, 7 % y.size}):
            assert same(pool, node, [x], y, idx) is True
            if np.isfinite(y.reshape(-1)[idx]):
                for bits in py_edges(node, [x], y, idx):
                    same(pool, node, [x], with_value(y, idx, bits), idx)
            for bits in (0x7FC00000, 0x7F800000, 0):
                same(pool, node, [x], with_value(y, idx, bits), idx)
    gap = oh.make_node("GlobalAveragePool", ["x"], ["y"])
    x = (RNG.standard_normal((2, 3, 7, 7)) * np.exp2(RNG.integers(-30, 30, (2, 3, 7, 7)))).astype(np.float32)
    x[1, 2, 0, 0] = -np.inf
    y = ort_run(gap, [x])
    for idx in range(6):
        assert same(pool, gap, [x], y, idx) is True
        if np.isfinite(y.reshape(-1)[idx]):
            for bits in py_edges(gap, [x], y, idx):
                same(pool, gap, [x], with_value(y, idx, bits), idx)


# ---------------------------------------------------------------------------------------------
# The integer rules against their rational statements (docs/fraud-bounds.md §4.3–4.5)
# ---------------------------------------------------------------------------------------------


def _f(bits) -> Fraction:
    return Fraction(float(np.uint32(bits).view(np.float32)))


def _edges_are_the_bound(node, ins, y, idx, dist, bound, excess):
    """The accepted interval's end floats lie within ``bound`` (+ the documented ``excess``), the
    first rejected ones beyond ``bound``; ``dist(v)`` is the rule's distance of a candidate value."""
    lo_ok, lo_bad, hi_ok, hi_bad = py_edges(node, ins, y, idx)
    for ok in (lo_ok, hi_ok):
        assert dist(_f(ok)) <= bound + excess
    for bad in (lo_bad, hi_bad):
        assert dist(_f(bad)) > bound


def test_div_rule_edges_are_its_rational_bound():
    for a, b in zip(wide(150, -40, 40), wide(150, -40, 40)):
        q = Fraction(float(a)) / Fraction(float(b))
        ins = [np.array([a]), np.array([b])]
        g = Fraction(2) ** (max(int(ops._fields(f32bits(a))[3]), 1) - max(int(ops._fields(f32bits(b))[3]), 1) - 100)
        _edges_are_the_bound(DIV, ins, np.array([np.float32(float(q))]), 0, lambda v: abs(v - q),
                             abs(q) / (2**24 - 1) + Fraction(1, 2**126), 6 * g + max(g, Fraction(1, 2**126)))


def _sqrt(f: Fraction) -> Fraction:
    with localcontext() as ctx:
        ctx.prec = 80
        r = (Decimal(f.numerator) / Decimal(f.denominator)).sqrt()
    return Fraction(r)


def test_batchnorm_rule_edges_are_its_rational_bound():
    for _ in range(60):
        x = np.float32(RNG.standard_normal() * 2.0 ** RNG.integers(-20, 20))
        sc, b, m = (np.float32(RNG.standard_normal() * 2.0 ** RNG.integers(-10, 10)) for _ in range(3))
        v = np.float32(RNG.random() * 2.0 ** RNG.integers(-30, 10))
        eps = Fraction(float(np.float32(1e-5)))
        s = Fraction(float(sc)) / _sqrt(Fraction(float(v)) + eps)  # 80 digits: error ≪ the margins below
        xf, mf, bf = Fraction(float(x)), Fraction(float(m)), Fraction(float(b))
        y = (xf - mf) * s + bf
        p = abs(xf * s) + abs(mf * s) + abs(bf)
        tol = Fraction(32, 2**24) * p + (abs(xf) + abs(mf) + abs(Fraction(float(sc))) + 16) / 2**125
        ins = [np.array([[x]]), np.array([sc]), np.array([b]), np.array([m]), np.array([v])]
        _edges_are_the_bound(BN, ins, np.array([[np.float32(float(y))]]), 0, lambda c: abs(c - y), tol,
                             p / 2**70 + Fraction(1, 2**200))


def test_mean_rule_edges_are_its_rational_bound():
    node = oh.make_node("GlobalAveragePool", ["x"], ["y"])
    for k in (1, 4, 9, 49, 300):
        for scale in (1.0, 2.0**-130, 2.0**100):
            xs = (RNG.standard_normal(k) * scale).astype(np.float32)
            xr = [Fraction(float(v)) for v in xs]
            total, s = sum(xr), sum(abs(v) for v in xr)
            d = sum(abs(v) for v in xr if abs(v) < Fraction(1, 2**126))
            m = k + 1
            bound = Fraction(m, 2**24 - m) * s + 2 * d + Fraction(k * (m + 1), 2**123)
            t = max(int((f32bits(v) >> 23) & 0xFF) for v in xs) + 127
            g = Fraction(2) ** max(t - 448, -300)
            _edges_are_the_bound(node, [xs.reshape(1, 1, k)], np.array([[[np.float32(float(total / k))]]]), 0,
                                 lambda c: abs(k * c - total), bound, (m + 8 * k + 8 + k * (m + 1)) * g)


def random_bits(n):
    """float32 bit patterns over the whole range: every exponent field, specials, subnormals, zeros."""
    b = RNG.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    pick = RNG.random(n)
    b[pick < 0.1] &= 0x807FFFFF  # zero or subnormal
    b[(pick >= 0.1) & (pick < 0.15)] |= 0x7F800000  # Inf or NaN
    b[(pick >= 0.15) & (pick < 0.2)] &= 0x80000000  # ±0
    return b.view(np.float32)


def test_solidity_agrees_on_random_bit_patterns(arith, pool):
    """Whole-range inputs (every exponent, specials) and claimed values both near the honest value and
    anywhere: no case may revert, panic or decide differently on the two sides."""
    a, b, r = random_bits(120), random_bits(120), random_bits(120)
    with np.errstate(all="ignore"):
        near = (a.astype(np.float64) / b.astype(np.float64)).astype(np.float32)
    y = np.where(RNG.random(120) < 0.5, near, r)
    for i in range(120):
        same(arith, DIV, [a[i:i + 1], b[i:i + 1]], y[i:i + 1], 0)
    for i in range(80):
        x, sc, bb, m, v, yy = random_bits(6)
        if RNG.random() < 0.6:  # realistic parameters, wide x
            sc, bb, m = (np.float32(RNG.standard_normal() * 2.0 ** RNG.integers(-60, 60)) for _ in range(3))
            v = np.float32(RNG.random() * 2.0 ** RNG.integers(-126, 120))
        eps = float(random_bits(1)[0]) if RNG.random() < 0.3 else 1e-5
        node = oh.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=eps if np.isfinite(eps) else 1e-5)
        ins = [np.array([[x]], np.float32)] + [np.array([q], np.float32) for q in (sc, bb, m, v)]
        with np.errstate(all="ignore"):
            honest = np.float32((np.float64(x) - m) * sc / np.sqrt(np.float64(v) + np.float32(eps)) + bb)
        same(arith, node, ins, np.array([[honest if RNG.random() < 0.6 else yy]], np.float32), 0)
    gap = oh.make_node("GlobalAveragePool", ["x"], ["y"])
    for k in (1, 3, 8, 9, 17, 64):
        for _ in range(4):
            xs = random_bits(k)
            if RNG.random() < 0.5:
                xs = (RNG.standard_normal(k) * 2.0 ** RNG.integers(-140, 120)).astype(np.float32)
            with np.errstate(all="ignore"):
                honest = np.float32(xs.astype(np.float64).mean())
            yy = honest if RNG.random() < 0.6 else random_bits(1)[0]
            same(pool, gap, [xs.reshape(1, 1, k)], np.array([[[yy]]], np.float32), 0)


# ---------------------------------------------------------------------------------------------
# Refusals on-chain
# ---------------------------------------------------------------------------------------------


def test_unsupported_attributes_revert_and_short_operands_revert(arith, pool):
    x = RNG.standard_normal((1, 2, 4, 4)).astype(np.float32)
    avg = oh.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2])
    y = ort_run(avg, [x])
    ins, out = operands_for(ops.descriptor_of(avg), [x], y, 4)
    assert pool.check(ops.descriptor_of(avg), ins, out, 4) is True
    with ape.reverts(pool.UnsupportedAttribute, name="ceil_mode"):  # once through ape itself
        pool.check(ops.descriptor_of(oh.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], ceil_mode=1)), ins, out, 4)
    for attrs, name in (({"count_include_pad": 2}, "count_include_pad"), ({"dilations": [2, 2]}, "dilations"),
                        ({"auto_pad": "SAME_LOWER"}, "auto_pad"), ({"strides": [0, 1]}, "strides")):
        desc = ops.descriptor_of(oh.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], **attrs))
        reverts_with(pool, desc, ins, out, 4, "UnsupportedAttribute", name=name)
        assert py(desc, [x], y, 4) == "raise:Unsupported"
    reverts_with(pool, ops.descriptor_of(oh.make_node("AveragePool", ["x"], ["y"])), ins, out, 4, "UnsupportedAttribute",
                 name="kernel_shape")
    a = operands_for(ops.descriptor_of(avg), [x], y, 4, aligned=False)[0][0]
    reverts_with(pool, ops.descriptor_of(avg), [(a[0], a[1], 0, a[3], a[4][:-4])], out, 4, "OperandNotCovered",
                 index=0, layout=0, first=a[3], count=len(a[4]) // 4)
    reverts_with(pool, ops.descriptor_of(avg), ins, opened(y, 0, 0, 1, aligned=False), 4, "OutputNotCovered", outIndex=4)
    reverts_with(pool, ops.descriptor_of(avg), [(1, [1, 2, 4], 0, 0, b"")], out, 4, "UnsupportedSize", size=3)
    gap = ops.descriptor_of(oh.make_node("GlobalAveragePool", ["x"], ["y"]))
    reverts_with(pool, gap, [(1, [2, 16], 0, 0, b"")], opened(np.zeros((2, 1), np.float32), 0, 0, 1), 0,
                 "UnsupportedSize", size=2)
    reverts_with(pool, gap, [(1, [1, 1, 0, 3], 0, 0, b"")], opened(np.zeros((1, 1, 1, 1), np.float32), 0, 0, 1), 0,
                 "UnsupportedSize", size=0)
    reverts_with(pool, ops.descriptor_of(oh.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2])), ins, out, 4,
                 "UnsupportedOp", domain="", opType="MaxPool")
    # BatchNormalization
    bn_ins = bn_case(2, (1, 2, 2, 2))
    yb = ort_run(BN, bn_ins)
    bins, bout = operands_for(ops.descriptor_of(BN), bn_ins, yb, 5)
    assert arith.check(ops.descriptor_of(BN), bins, bout, 5) is True
    for attrs, name in (({"training_mode": 1}, "training_mode"), ({"spatial": 0}, "spatial"),
                        ({"epsilon": float("nan")}, "epsilon")):
        desc = ops.descriptor_of(oh.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], **attrs))
        reverts_with(arith, desc, bins, bout, 5, "UnsupportedAttribute", name=name)
        assert py(desc, bn_ins, yb, 5) == "raise:Unsupported"
    reverts_with(arith, ops.descriptor_of(oh.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y", "a", "b2"])),
                 bins, bout, 5, "UnsupportedOutputCount", count=3)
    reverts_with(arith, ops.descriptor_of(BN), bins[:3] + [(1, [2], 0, 0, bins[3][4][:4])] + bins[4:], bout, 5,
                 "OperandNotCovered", index=3, layout=0, first=1, count=1)
    reverts_with(arith, ops.descriptor_of(BN), bins[:4] + [(11, [2], 0, 0, b"")], bout, 5, "UnsupportedDtype", index=4, dtype=11)
    reverts_with(arith, ops.descriptor_of(BN), bins[:4], bout, 5, "OperandCountMismatch", expected=5, given=4)
    reverts_with(arith, ops.descriptor_of(BN), bins, bout, 8, "OutIndexOutOfRange", outIndex=8, numel=8)
    # Clip with opset-6 attributes, Div on doubles, an op this verifier does not check
    cl = oh.make_node("Clip", ["x"], ["y"])
    cins, cout = operands_for(ops.descriptor_of(cl), [x], x, 3)
    for attr in ("min", "max"):
        desc = ops.descriptor_of(oh.make_node("Clip", ["x"], ["y"], **{attr: 0.0}))
        reverts_with(arith, desc, cins, cout, 3, "UnsupportedAttribute", name=attr)
        assert py(desc, [x], x, 3) == "raise:Unsupported"
    clh = oh.make_node("Clip", ["x", "", "hi"], ["y"])
    hins, hout = operands_for(ops.descriptor_of(clh), [x, None, np.array(0.5, np.float32)], np.minimum(x, 0.5), 3)
    assert sol(arith, ops.descriptor_of(clh), hins, hout, 3) is True
    reverts_with(arith, ops.descriptor_of(clh), [hins[0], hins[2], hins[2]], hout, 3, "OperandPresenceMismatch", index=1)
    reverts_with(arith, ops.descriptor_of(cl), cins + [hins[2]], cout, 3, "OperandCountMismatch", expected=1, given=2)
    dins, dout = operands_for(ops.descriptor_of(DIV), [x, x], x, 3)
    reverts_with(arith, ops.descriptor_of(DIV), [dins[0], (11, [1, 2, 4, 4], 0, 0, b"")], dout, 3, "UnsupportedDtype",
                 index=1, dtype=11)
    assert py(ops.descriptor_of(DIV), [x, x.astype(np.float64)], x, 3) == "raise:Unsupported"
    reverts_with(arith, ops.descriptor_of(oh.make_node("Mul", ["a", "b"], ["y"])), dins, dout, 3, "UnsupportedOp",
                 domain="", opType="Mul")


# ---------------------------------------------------------------------------------------------
# A model with every new op: verification class, honest trace, proofs on-chain
# ---------------------------------------------------------------------------------------------


def _conv_np(x, w, pad):
    n, c, h, wd = x.shape
    m, _, kh, kw = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, m, h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nchw,mc->nmhw", xp[:, :, i:i + out.shape[2], j:j + out.shape[3]], w[:, :, i, j])
    return out


def small_cnn(batch: int = 2) -> bytes:
    """Conv → BatchNormalization → Clip(0, 6) → AveragePool 2×2 → Conv → BatchNormalization → Relu →
    GlobalAveragePool → Flatten → Div (a temperature) → Gemm → Softmax, with realistic weights:
    He-initialised convolutions, BatchNormalization statistics measured on a batch of inputs."""
    rng = np.random.default_rng(7)
    w1 = (rng.standard_normal((8, 1, 3, 3)) * np.sqrt(2 / 9)).astype(np.float32)
    w2 = (rng.standard_normal((16, 8, 3, 3)) * np.sqrt(2 / 72)).astype(np.float32)
    fc = (rng.standard_normal((10, 16)) * 0.25).astype(np.float32)
    images = rng.random((32, 1, 12, 12))

    def bn_params(c, act):
        a = act.transpose(1, 0, 2, 3).reshape(c, -1)
        return [(1 + 0.1 * rng.standard_normal(c)), 0.1 * rng.standard_normal(c), a.mean(1), a.var(1)]

    a1 = _conv_np(images, w1, 1)
    bn1 = bn_params(8, a1)
    c4 = lambda v: v[None, :, None, None]  # noqa: E731
    h = (a1 - c4(bn1[2])) / np.sqrt(c4(bn1[3]) + 1e-5) * c4(bn1[0]) + c4(bn1[1])
    h = np.clip(h, 0, 6).reshape(32, 8, 6, 2, 6, 2).mean((3, 5))
    bn2 = bn_params(16, _conv_np(h, w2, 1))
    inits = {"w1": w1, "w2": w2, "fc": fc, "fcb": (0.1 * rng.standard_normal(10)).astype(np.float32),
             "lo": np.array(0.0, np.float32), "hi": np.array(6.0, np.float32), "temp": np.array(1.5, np.float32)}
    for k, p in (("bn1", bn1), ("bn2", bn2)):
        for name, v in zip(("s", "b", "m", "v"), p):
            inits[f"{k}_{name}"] = np.asarray(v, np.float32)
    nodes = [
        oh.make_node("Conv", ["input", "w1"], ["c1"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        oh.make_node("BatchNormalization", ["c1", "bn1_s", "bn1_b", "bn1_m", "bn1_v"], ["n1"], epsilon=1e-5),
        oh.make_node("Clip", ["n1", "lo", "hi"], ["r1"]),
        oh.make_node("AveragePool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        oh.make_node("Conv", ["p1", "w2"], ["c2"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        oh.make_node("BatchNormalization", ["c2", "bn2_s", "bn2_b", "bn2_m", "bn2_v"], ["n2"], epsilon=1e-5),
        oh.make_node("Relu", ["n2"], ["r2"]),
        oh.make_node("GlobalAveragePool", ["r2"], ["g"]),
        oh.make_node("Flatten", ["g"], ["f"]),
        oh.make_node("Div", ["f", "temp"], ["d"]),
        oh.make_node("Gemm", ["d", "fc", "fcb"], ["logits"], transB=1),
        oh.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = oh.make_graph(nodes, "bn_pool_cnn", [oh.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 1, 12, 12])],
                          [oh.make_tensor_value_info("probabilities", TensorProto.FLOAT, [batch, 10])],
                          initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


NEW_OPS = {"Div", "Clip", "BatchNormalization", "AveragePool", "GlobalAveragePool"}


@pytest.fixture(scope="module")
def cnn_trace():
    from assay.inference.runner import InferenceRunner

    data = small_cnn()
    model = onnx.load_from_string(data)
    x = {"input": np.random.default_rng(8).random((2, 1, 12, 12)).astype(np.float32)}
    out = InferenceRunner().run(hashlib.sha256(data).hexdigest(), data, x, trace=True)
    values = dict(out.trace)
    values.update({i.name: numpy_helper.to_array(i) for i in model.graph.initializer})
    values.update(x)
    return data, model, values


def test_model_with_the_new_ops_is_fully_checked_class_approx(cnn_trace, tmp_path):
    import json

    from click.testing import CliRunner

    from assay.cli import main
    from assay.sdk import verification_class

    data, model, values = cnn_trace
    assert verification_class(data) == ("APPROX", [])
    (tmp_path / "cnn.onnx").write_bytes(data)  # `assay model verify-class` (offline) agrees
    r = CliRunner(mix_stderr=False).invoke(main, ["--json", "model", "verify-class", str(tmp_path / "cnn.onnx")])
    shown = json.loads(r.stdout)
    assert r.exit_code == 0 and shown["class"] == "APPROX" and shown["uncovered"] == []
    assert all(shown["ops"][f"ai.onnx.{op}"] for op in NEW_OPS)
    assert {n.op_type for n in model.graph.node} >= NEW_OPS
    for node in model.graph.node:  # the honest canonical trace: no element of any node is a violation
        ins = [values[n] if n else None for n in node.input]
        assert ops.violations(node, ins, values[node.output[0]]).size == 0, node.op_type
    assert np.all(values["n1"].std(axis=(0, 2, 3)) > 0.1)  # the BatchNormalization statistics are realistic


def test_tampered_elements_of_the_new_nodes_are_proven_on_chain(cnn_trace, arith, pool):
    _, model, values = cnn_trace
    lay = graph_layout(model)
    seen = set()
    for node, desc in zip(model.graph.node, lay.descriptors):
        if node.op_type not in NEW_OPS:
            continue
        ins = [values[n] if n else None for n in node.input]
        y = values[node.output[0]]
        v = pool if "Pool" in node.op_type else arith
        for idx in sorted({0, y.size // 2, y.size - 1}):
            assert same(v, node, ins, y, idx, desc=desc) is True
            bad = with_value(y, idx, f32bits(y.reshape(-1)[idx] * 1.01 + 0.01))
            assert same(v, node, ins, bad, idx, desc=desc) is False
            assert idx in ops.violations(desc, ins, bad)
        seen.add(node.op_type)
    assert seen == NEW_OPS


# ---------------------------------------------------------------------------------------------
# Gas and code size
# ---------------------------------------------------------------------------------------------


def test_gas_per_check_and_code_size(arith, pool, project, owner, gas_probe, chain):
    rows = []
    x = RNG.standard_normal((1, 64, 56, 56)).astype(np.float32)
    div = oh.make_node("Div", ["a", "b"], ["y"])
    d = np.array([1.7], np.float32)
    rows.append(("Div (broadcast scalar)", arith, div, [x, d], ort_run(div, [x, d]), 777))
    clip = oh.make_node("Clip", ["x", "lo", "hi"], ["y"])
    cl = [x, np.array(0.0, np.float32), np.array(6.0, np.float32)]
    rows.append(("Clip (min and max)", arith, clip, cl, ort_run(clip, cl), 777))
    bn = bn_case(64, (1, 64, 56, 56))
    rows.append(("BatchNormalization [1,64,56,56]", arith, BN, bn, ort_run(BN, bn), 777))
    for label, attrs, xs in (("AveragePool 2x2 stride 2", {"kernel_shape": [2, 2], "strides": [2, 2]}, (1, 64, 56, 56)),
                             ("AveragePool 3x3 pads 1", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, (1, 16, 28, 28))):
        node = oh.make_node("AveragePool", ["x"], ["y"], **attrs)
        xa = RNG.standard_normal(xs).astype(np.float32)
        rows.append((label, pool, node, [xa], ort_run(node, [xa]), 333))
    gap = oh.make_node("GlobalAveragePool", ["x"], ["y"])
    for label, xs in (("GlobalAveragePool 7x7 (ResNet head)", (1, 512, 7, 7)), ("GlobalAveragePool 14x14", (1, 64, 14, 14)),
                      ("GlobalAveragePool 56x56", (1, 40, 56, 56))):
        xg = RNG.standard_normal(xs).astype(np.float32)
        rows.append((label, pool, gap, [xg], ort_run(gap, [xg]), 33))
    print("\n| check | execution gas | calldata gas |\n|---|---|---|")
    table = {}
    for label, v, node, ins, y, idx in rows:
        desc = ops.descriptor_of(node)
        gas, cd = _gas(gas_probe, v, desc, *operands_for(desc, ins, y, idx), idx)
        table[label] = gas
        print(f"| {label} | {gas:,} | {cd:,} |")
    assert table["Div (broadcast scalar)"] < 40_000 and table["Clip (min and max)"] < 40_000
    assert table["BatchNormalization [1,64,56,56]"] < 80_000
    assert table["GlobalAveragePool 7x7 (ResNet head)"] < 60_000
    assert table["GlobalAveragePool 56x56"] < 1_000_000
    # EIP-170: deployed code at most 24,576 bytes (anvil here does not enforce it, mainnet does)
    for name, c in (("ArithmeticVerifier", arith), ("PoolVerifier", pool), ("ConvVerifier", owner.deploy(project.ConvVerifier))):
        size = len(chain.provider.web3.eth.get_code(c.address))
        print(f"{name}: {size:,} bytes of code")
        assert 0 < size <= 24_576, name


# ---------------------------------------------------------------------------------------------
# Through the game: the deployed stack's verifiers slash a worker whose trace breaks a new node
# ---------------------------------------------------------------------------------------------


def test_game_slashes_a_tampered_node_of_each_new_op_with_the_deployed_verifiers(
        jobs, game, stake, token, make_job, registry, model_owner, funded, staked, worker, challenger, requester,
        treasury):
    """The small CNN registered as APPROX; for each new op the worker's trace has one output element
    of that node moved (the inputs honest), the challenger finds it with ``ops.violations`` and proves
    it with ``proveNode``: the DisputeGame calls the verifier deploy_stack registered for the op
    (ArithmeticVerifier / PoolVerifier), the worker is slashed with exact balances. An honest element
    of the same node is refused with ProofRejected."""
    from test_fraud_game import (BY_NODE, assert_challenger_won, balances, node_proof, register, report_gas, resolved,
                                 traced)

    from assay.commitments import codec
    from assay.fraud import calldata as cd

    data = small_cnn(batch=1)  # one image: the job's input is posted inline (≤ 1 KB)
    m = register(registry, model_owner, data, {"input": np.random.default_rng(9).random((1, 1, 12, 12)).astype(np.float32)})
    nodes = onnx.load_from_string(data).graph.node
    for k, node in enumerate(nodes):
        if node.op_type not in NEW_OPS:
            continue
        ins, outs = cd.node_io(m.graph, k)
        desc = m.graph.descriptors[k]
        honest_y = m.values[outs[0]]
        idx = honest_y.size // 3

        def bump(a, idx=idx):
            a.reshape(-1)[idx] = a.reshape(-1)[idx] * np.float32(1.01) + np.float32(0.01)
            return a

        trace = m.tampered(outs[0], bump)
        in_vals = [None if v == ops.ABSENT else m.values[v] for v in ins]
        assert ops.violations(desc, in_vals, trace.values[outs[0]]).tolist() == [idx]
        shapes = [None if a is None else (codec.dtype_code(a.dtype), a.shape) for a in in_vals]
        needs = ops.needs(desc, shapes, (1, honest_y.shape), idx)
        jid = traced(jobs, game, make_job, worker, challenger, m, trace)
        if node.op_type == "BatchNormalization":  # an honest element of the same node proves nothing
            with ape.reverts(game.ProofRejected, jobId=jid, node=k, outIndex=idx - 1):
                other = ops.needs(desc, shapes, (1, honest_y.shape), idx - 1)
                game.proveNode(*node_proof(m, trace, jid, k, idx - 1, other), sender=challenger)
        before = balances(jobs, stake, token, worker, challenger, requester, treasury)
        tx = game.proveNode(*node_proof(m, trace, jid, k, idx, needs), sender=challenger)
        assert_challenger_won(before, balances(jobs, stake, token, worker, challenger, requester, treasury),
                              worker, challenger, requester, treasury)
        resolved(game, tx, jid, True, BY_NODE)
        report_gas(f"proveNode ({node.op_type}, real verifier)", tx)
