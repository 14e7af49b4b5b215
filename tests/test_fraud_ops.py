"""assay.fraud.ops (the one-step op checks) against onnxruntime and against exact arithmetic.

Honest values — onnxruntime's, and those of other honest float32 implementations (numpy, a
sequential float32 sum, float64 then rounded, flush-to-zero and denormals-are-zero executors) — are
always accepted; a value moved one float past the edge of the accepted interval is always rejected;
the vectorised ``violations`` makes exactly the decisions of the exact ``check_element``. Pure
Python: no chain. The same cases run against the Solidity verifiers in test_verifiers_sol.py.
"""

from __future__ import annotations

import struct
from fractions import Fraction

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto
from onnx import helper as oh

from assay.commitments.roots import graph_layout
from assay.fraud import ops
from assay.fraud.ops import Need, Unsupported

U = Fraction(1, 2**24)

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def run_ort(node, inputs: list[np.ndarray], opset: int = 17, extra_inits=()) -> np.ndarray:
    """Run one node in onnxruntime's canonical mode (graph optimisations off, one thread)."""
    names = [n for n in node.input if n]
    feeds = {n: a for n, a in zip(names, inputs) if a is not None}
    vis = [oh.make_tensor_value_info(n, _onnx_type(a), list(a.shape)) for n, a in feeds.items()]
    g = oh.make_graph([node], "g", vis, [onnx.ValueInfoProto(name=node.output[0])],
                      initializer=list(extra_inits))
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", opset)])
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return s.run(None, feeds)[0]


def _onnx_type(a: np.ndarray) -> int:
    return onnx.helper.np_dtype_to_tensor_dtype(a.dtype)


def f32(bits: int) -> float:
    return float(np.uint32(bits).view(np.float32))


def bits_of(x) -> int:
    return int(np.asarray(x, dtype=np.float32).reshape(()).view(np.uint32))


def _key(bits: int) -> int:
    """float32 bits → an integer in the order of the values (−0 and +0 adjacent)."""
    return bits if bits < 0x80000000 else -(bits & 0x7FFFFFFF) - 1


def _unkey(k: int) -> int:
    return k if k >= 0 else 0x80000000 | (-k - 1)


def edges(accept, start_bits: int) -> tuple[int, int, int, int]:
    """(lowest accepted, highest accepted, first rejected below, first rejected above) around an
    accepted value, by galloping + bisection over the ordered finite float32s (the accepted set
    of every rule here is an interval)."""
    k0 = _key(start_bits)
    assert accept(start_bits)
    res = []
    for sign in (-1, 1):
        lo, step = k0, 1
        while True:
            hi = lo + sign * step
            if not -0x7F800000 <= hi <= 0x7F7FFFFF or not accept(_unkey(hi)):
                break
            lo, step = hi, step * 2
        hi = max(min(hi, 0x7F7FFFFF + 1), -0x7F800000 - 1)
        while abs(hi - lo) > 1:
            mid = (lo + hi) // 2
            if accept(_unkey(mid)):
                lo = mid
            else:
                hi = mid
        res.append((lo, hi))
    (lo_ok, lo_bad), (hi_ok, hi_bad) = res
    return _unkey(lo_ok), _unkey(hi_ok), _unkey(lo_bad), _unkey(hi_bad)


def exact_dot(a: np.ndarray, b: np.ndarray) -> tuple[Fraction, Fraction]:
    """(Σ aᵢbᵢ, Σ|aᵢbᵢ|) exactly."""
    e = s = Fraction(0)
    for x, z in zip(a.astype(np.float64).tolist(), b.astype(np.float64).tolist()):
        p = Fraction(x) * Fraction(z)
        e += p
        s += abs(p)
    return e, s


def gamma(m: int) -> Fraction:
    return m * U / (1 - m * U)


def matmul_node(**kw):
    return oh.make_node("MatMul", ["a", "b"], ["y"], **kw)


def gemm_node(with_c=True, **kw):
    return oh.make_node("Gemm", ["a", "b", "c"] if with_c else ["a", "b"], ["y"], **kw)


def assert_no_violations(node, inputs, output):
    v = ops.violations(node, inputs, output)
    assert v.size == 0, f"{v.size} honest elements rejected, first {v[:5]}"


def sequential_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Another honest float32 implementation: products rounded, summed left to right in float32."""
    prods = a[:, :, None].astype(np.float32) * b[None, :, :].astype(np.float32)  # [M, K, N] float32
    return np.cumsum(prods, axis=1, dtype=np.float32)[:, -1, :]


def flush(x: np.ndarray) -> np.ndarray:
    """Denormals-are-zero: subnormal float32 inputs read as (signed) zero."""
    x = np.array(x, dtype=np.float32, copy=True)
    b = x.view(np.uint32)
    sub = (b & 0x7F800000) == 0
    b[sub] &= 0x80000000
    return x


RNG = np.random.default_rng(20261125)


# ---------------------------------------------------------------------------------------------
# the exact rule
# ---------------------------------------------------------------------------------------------


def test_rule_accepts_exactly_rounded_dot_and_rejects_far_values():
    a = RNG.standard_normal(512).astype(np.float32)
    b = RNG.standard_normal(512).astype(np.float32)
    pairs = list(zip(a.view(np.uint32).tolist(), b.view(np.uint32).tolist()))
    e, s = exact_dot(a, b)
    y = bits_of(np.float32(float(e)))
    assert ops.product_sum_rule(pairs, y, 512)
    far = bits_of(np.float32(float(e + 3 * gamma(512) * s)))
    assert not ops.product_sum_rule(pairs, far, 512)


@pytest.mark.parametrize("k", [1, 7, 64, 512])
def test_rule_edges_sit_on_the_gamma_bound(k):
    """The largest accepted value is within the ideal bound γ_K·S plus the documented truncation
    slack, and the first rejected one is beyond the ideal bound: no honest value is ever lost, and a
    cheater gains nothing beyond float noise."""
    a = (RNG.standard_normal(k) * np.exp2(RNG.integers(-20, 20, k))).astype(np.float32)
    b = RNG.standard_normal(k).astype(np.float32)
    pairs = list(zip(a.view(np.uint32).tolist(), b.view(np.uint32).tolist()))
    e, s = exact_dot(a, b)
    bound = gamma(k) * s + (k + 1) * Fraction(2) ** -123
    lo_ok, hi_ok, lo_bad, hi_bad = edges(lambda y: ops.product_sum_rule(pairs, y, k), bits_of(np.float32(float(e))))
    t = max(((x >> 23) & 0xFF) + ((z >> 23) & 0xFF) for x, z in pairs)
    grid = Fraction(2) ** max(t - 298 - 150, -300)
    trunc = (k + 8 * k + 8) * grid
    for ok in (lo_ok, hi_ok):
        assert abs(Fraction(f32(ok)) - e) <= bound + trunc
    for bad in (lo_bad, hi_bad):
        assert abs(Fraction(f32(bad)) - e) > bound


def test_rule_nonfinite_factor_accepts_only_nonfinite_results():
    one, two, inf, nan = (bits_of(v) for v in (1.0, 2.0, np.inf, np.nan))
    for pairs in ([(nan, one)], [(one, one), (inf, two)], [(inf, 0)], [(one, bits_of(-np.inf))]):
        assert ops.product_sum_rule(pairs, nan, 2)
        assert ops.product_sum_rule(pairs, inf, 2)
        assert ops.product_sum_rule(pairs, bits_of(-np.inf), 2)
        assert not ops.product_sum_rule(pairs, one, 2)
        assert not ops.product_sum_rule(pairs, 0, 2)


def test_rule_overflow_to_inf_only_when_sum_can_reach_2_126():
    big = bits_of(np.float32(2.0**100))
    assert ops.product_sum_rule([(big, big)], bits_of(np.inf), 1)  # 2^200: overflows honestly
    assert ops.product_sum_rule([(big, big), (big, bits_of(-(2.0**100)))], bits_of(np.nan), 2)  # inf - inf
    small = bits_of(np.float32(2.0**62))
    assert not ops.product_sum_rule([(small, small)], bits_of(np.inf), 1)  # 2^124: cannot overflow
    assert not ops.product_sum_rule([(small, small)], bits_of(np.nan), 1)
    assert ops.product_sum_rule([(small, small)], bits_of(np.float32(2.0**124)), 1)


def test_rule_largest_magnitudes_are_exact():
    mx = bits_of(np.finfo(np.float32).max)
    one = bits_of(1.0)
    # max·1 - max·1 = 0 exactly: 0 is in; the grid is 2^-67 here (2^-150 below the largest
    # product), so the truncation slack is 9·2^-67 ≈ 6e-20 and 1e-15 is out
    assert ops.product_sum_rule([(mx, one), (mx | 0x80000000, one)], 0, 2, relative_to_value=True)
    assert not ops.product_sum_rule([(mx, one), (mx | 0x80000000, one)], bits_of(1e-15), 2, relative_to_value=True)
    # max·max·... overflows; max·1 does not
    assert ops.product_sum_rule([(mx, one)], mx, 1)
    assert not ops.product_sum_rule([(mx, one)], bits_of(np.float32(np.finfo(np.float32).max / 2)), 1)


def test_rule_zeros_and_negative_zero():
    one, zero, nzero = bits_of(1.0), bits_of(0.0), bits_of(-0.0)
    for y in (zero, nzero):
        assert ops.product_sum_rule([(zero, one), (nzero, one)], y, 2)
        assert ops.product_sum_rule([(one, one), (bits_of(-1.0), one)], y, 2, relative_to_value=True)
    # the slack around an exact zero is tiny: (m+1)·2^-123 + truncation, far below any normal
    assert not ops.product_sum_rule([(zero, one)], bits_of(np.float32(1e-30)), 1)
    assert ops.product_sum_rule([(zero, one)], bits_of(np.float32(2.0**-126)), 1)  # a flushed-to-zero-size error


def test_rule_exact_ties_accept_both_neighbours():
    """1 + 2^-24 is exactly halfway between 1 and 1 + 2^-23: both are correctly rounded results
    of some rounding direction, and both must pass the Add rule; the next float must not."""
    one = bits_of(1.0)
    half_ulp = bits_of(np.float32(2.0**-24))
    pairs = [(one, ops.ONE), (half_ulp, ops.ONE)]
    assert ops.product_sum_rule(pairs, one, 1, relative_to_value=True)
    assert ops.product_sum_rule(pairs, one + 1, 1, relative_to_value=True)
    assert not ops.product_sum_rule(pairs, one + 2, 1, relative_to_value=True)
    assert not ops.product_sum_rule(pairs, one - 1, 1, relative_to_value=True)


def test_rule_subnormal_factors_allow_what_denormals_are_zero_drops():
    tiny = bits_of(np.float32(1e-40))  # subnormal
    big = bits_of(np.float32(2.0**100))
    # tiny·2^100 ≈ 1.27e-10 (100% of the result); a DAZ executor reads tiny as 0 and returns 0
    exact = f32(tiny) * 2.0**100
    for y in (exact, 0.0, -0.0, 2 * exact):
        assert ops.product_sum_rule([(tiny, big)], bits_of(np.float32(y)), 1)
    # D = |tiny·2^100|: the slack is 2·D, so four times the value is out
    assert not ops.product_sum_rule([(tiny, big)], bits_of(np.float32(4 * exact)), 1)
    assert not ops.product_sum_rule([(tiny, big)], bits_of(np.float32(-2 * exact)), 1)


def test_rule_refuses_more_terms_than_the_bound_covers():
    with pytest.raises(Unsupported):
        ops.product_sum_rule([], 0, 1)
    with pytest.raises(Unsupported):
        ops.product_sum_rule([(0, 0)], 0, ops.MAX_TERMS + 2)


# ---------------------------------------------------------------------------------------------
# MatMul / Gemm against onnxruntime
# ---------------------------------------------------------------------------------------------


def _dists(shape_a, shape_b):
    yield "normal", RNG.standard_normal(shape_a).astype(np.float32), RNG.standard_normal(shape_b).astype(np.float32)
    yield "uniform", RNG.uniform(0, 1, shape_a).astype(np.float32), RNG.uniform(-1, 1, shape_b).astype(np.float32)
    wide = lambda s: (RNG.standard_normal(s) * np.exp2(RNG.integers(-60, 60, s))).astype(np.float32)  # noqa: E731
    yield "wide range", wide(shape_a), wide(shape_b)
    relu = np.maximum(RNG.standard_normal(shape_a), 0).astype(np.float32)  # half zeros
    yield "relu zeros", relu, RNG.standard_normal(shape_b).astype(np.float32)
    sub = (RNG.standard_normal(shape_a) * 1e-39).astype(np.float32)  # subnormal activations
    yield "subnormal", sub, (RNG.standard_normal(shape_b) * 1e3).astype(np.float32)
    yield "large", (RNG.standard_normal(shape_a) * 1e18).astype(np.float32), (RNG.standard_normal(shape_b) * 1e18).astype(np.float32)


@pytest.mark.parametrize("m,k,n", [(64, 512, 256), (1, 64, 64), (1, 512, 10), (8, 3, 5)])
def test_matmul_honest_implementations_always_accepted(m, k, n):
    node = matmul_node()
    worst = 0.0
    for name, a, b in _dists((m, k), (k, n)):
        y_ort = run_ort(node, [a, b])
        honest = {
            "onnxruntime": y_ort,
            "numpy": a @ b,
            "float64 rounded": (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32),
            "denormals-are-zero": (flush(a).astype(np.float64) @ flush(b).astype(np.float64)).astype(np.float32),
        }
        if m * k * n <= 1 << 21:
            honest["sequential float32"] = sequential_matmul(a, b)
        for label, y in honest.items():
            v = ops.violations(node, [a, b], y)
            assert v.size == 0, f"{name}/{label}: {v.size} honest elements rejected"
        if name == "normal":
            s = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))
            e = a.astype(np.float64) @ b.astype(np.float64)
            worst = max(worst, float(np.max(np.abs(y_ort - e) / (k * 2.0**-24 * s))))
    # measured: ~0.02-0.5% for K >= 64; one rounding is a third of γ_3 for K = 3
    assert worst < (0.05 if k >= 64 else 0.5), f"onnxruntime used {worst:.2%} of the bound"


def test_matmul_k512_values_just_outside_the_bound_are_rejected():
    node = matmul_node()
    a = RNG.standard_normal((4, 512)).astype(np.float32)
    b = RNG.standard_normal((512, 6)).astype(np.float32)
    y = run_ort(node, [a, b])
    for idx in (0, 7, 23):
        out = y.copy()
        flat = out.reshape(-1)

        def accept(bits, idx=idx, out=out, flat=flat):
            flat[idx] = np.uint32(bits).view(np.float32)
            return ops.check_element(node, [a, b], out, idx)

        lo_ok, hi_ok, lo_bad, hi_bad = edges(accept, bits_of(y.reshape(-1)[idx]))
        e, s = exact_dot(a[idx // 6], b[:, idx % 6])
        assert abs(Fraction(f32(hi_bad)) - e) > gamma(512) * s
        for bits, expect in ((lo_ok, True), (hi_ok, True), (lo_bad, False), (hi_bad, False)):
            flat[idx] = np.uint32(bits).view(np.float32)
            assert ops.check_element(node, [a, b], out, idx) is expect
            assert (idx in ops.violations(node, [a, b], out)) is (not expect)


def test_matmul_perturbed_by_twice_the_bound_all_rejected():
    node = matmul_node()
    a = RNG.standard_normal((64, 512)).astype(np.float32)
    b = RNG.standard_normal((512, 256)).astype(np.float32)
    y = run_ort(node, [a, b])
    s = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))
    sign = np.where(RNG.integers(0, 2, y.shape) == 1, 1.0, -1.0)
    bad = (y + sign * 2 * 512 * 2.0**-24 * s * 1.01).astype(np.float32)
    assert ops.violations(node, [a, b], bad).size == y.size


@pytest.mark.parametrize(
    "sa,sb",
    [((2, 3, 4, 8), (8, 5)), ((3, 1, 4, 8), (2, 8, 5)), ((8,), (8, 5)), ((2, 4, 8), (8,)), ((8,), (8,)), ((1, 2, 8), (3, 1, 8, 2))],
)
def test_matmul_batched_and_1d_shapes_follow_numpy(sa, sb):
    node = matmul_node()
    a = RNG.standard_normal(sa).astype(np.float32)
    b = RNG.standard_normal(sb).astype(np.float32)
    y = run_ort(node, [a, b])
    assert y.shape == np.matmul(a, b).shape
    assert_no_violations(node, [a, b], y)
    for idx in range(0, y.size, max(1, y.size // 7)):
        nd = ops.needs(node, [sa, sb], y.shape, idx)
        got = [ops.layout_view(x, n.layout).reshape(-1)[n.first : n.first + n.count] for x, n in zip((a, b), nd)]
        e = float(np.dot(got[0].astype(np.float64), got[1].astype(np.float64)))
        assert abs(e - float(y.reshape(-1)[idx])) <= 1e-4 * (1 + abs(e))  # the needs are the right row/column
        bad = y.copy()
        bad.reshape(-1)[idx] += 0.5
        assert ops.violations(node, [a, b], bad).tolist() == [idx]


def test_matmul_needs_row_of_a_and_contiguous_column_of_b():
    node = matmul_node()
    assert ops.needs(node, [(64, 512), (512, 256)], (64, 256), 300) == [
        Need(0, 0, 1 * 512, 512),  # row 1 of A (300 = 1·256 + 44), layout 0
        Need(1, 1, 44 * 512, 512),  # column 44 of B = row 44 of Bᵀ, layout 1
    ]


def test_matmul_check_reads_only_the_needed_elements():
    node = matmul_node()
    a = RNG.standard_normal((3, 16)).astype(np.float32)
    b = RNG.standard_normal((16, 4)).astype(np.float32)
    y = a @ b
    idx = 6  # row 1, column 2
    a2, b2 = a.copy(), b.copy()
    a2[[0, 2]] = np.nan  # other rows
    b2[:, [0, 1, 3]] = np.inf  # other columns
    assert ops.check_element(node, [a2, b2], y, idx)
    a2[1, 5] = np.nan
    assert not ops.check_element(node, [a2, b2], y, idx)


def test_matmul_nonfinite_inputs_need_nonfinite_outputs():
    node = matmul_node()
    a = RNG.standard_normal((2, 8)).astype(np.float32)
    b = RNG.standard_normal((8, 3)).astype(np.float32)
    a[0, 3] = np.inf
    b[2, 1] = np.nan
    y = run_ort(node, [a, b])
    assert_no_violations(node, [a, b], y)
    assert np.isinf(y[0, 0]) and np.isnan(y[1, 1]) and np.isfinite(y[1, 0])
    finite_claim = y.copy()
    finite_claim[0, 0] = 1.0
    assert ops.violations(node, [a, b], finite_claim).tolist() == [0]
    nan_claim = y.copy()
    nan_claim[1, 0] = np.nan  # finite inputs, no overflow possible: a NaN is fraud
    assert ops.violations(node, [a, b], nan_claim).tolist() == [3]


def test_matmul_honest_overflow_to_inf_accepted():
    node = matmul_node()
    a = np.full((1, 4), 3e38, np.float32)
    b = np.full((4, 2), 2.0, np.float32)
    b[:, 1] = [1, -1, 1, -1]
    y = run_ort(node, [a, b])
    assert np.isinf(y[0, 0])
    assert_no_violations(node, [a, b], y)


def test_matmul_shape_mismatch_fails_every_element_and_reads_nothing():
    node = matmul_node()
    a = np.ones((2, 4), np.float32)
    b = np.ones((4, 3), np.float32)
    wrong = np.full((2, 4), 4.0, np.float32)
    assert ops.violations(node, [a, b], wrong).tolist() == list(range(8))
    assert ops.needs(node, [(2, 4), (4, 3)], (2, 4), 0) == []
    assert ops.needs(node, [(2, 4), (5, 3)], (2, 3), 0) == []  # K mismatch
    assert not ops.check_element(node, [a, b], np.full((2, 3), 4.0, np.float64), 0)  # output dtype


def test_matmul_unsupported_sizes_and_dtypes_raise():
    node = matmul_node()
    with pytest.raises(Unsupported):
        ops.check_element(node, [np.ones((2, 0), np.float32), np.ones((0, 3), np.float32)], np.zeros((2, 3), np.float32), 0)
    with pytest.raises(Unsupported):
        ops.check_element(node, [np.ones((2, 4), np.float16), np.ones((4, 3), np.float16)], np.zeros((2, 3), np.float16), 0)
    with pytest.raises(Unsupported):
        ops.needs(node, [(1, ops.MAX_TERMS + 1), (ops.MAX_TERMS + 1, 1)], (1, 1), 0)
    with pytest.raises(IndexError):
        ops.check_element(node, [np.ones((2, 4), np.float32), np.ones((4, 3), np.float32)], np.ones((2, 3), np.float32), 6)


@pytest.mark.parametrize("ta,tb", [(0, 0), (1, 0), (0, 1), (1, 1)])
@pytest.mark.parametrize("c_shape", [None, (10,), (1, 10), (4, 1), (4, 10), ()])
def test_gemm_transposes_and_bias_broadcasting_against_onnxruntime(ta, tb, c_shape):
    m, k, n = 4, 128, 10
    a = RNG.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = RNG.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    c = None if c_shape is None else RNG.standard_normal(c_shape).astype(np.float32)
    node = gemm_node(c is not None, transA=ta, transB=tb, beta=0.75)
    ins = [a, b] + ([c] if c is not None else [])
    y = run_ort(node, ins)
    assert_no_violations(node, ins, y)
    bad = y.copy()
    bad[1, 3] += 1.0
    assert ops.violations(node, ins, bad).tolist() == [13]
    nd = ops.needs(node, [x.shape for x in ins], y.shape, 13)
    assert nd[0] == Need(0, ta, 1 * k, k) and nd[1] == Need(1, 1 - tb, 3 * k, k)
    if c is not None:
        assert len(nd) == 3 and nd[2].count == 1


def test_gemm_bias_add_is_one_more_rounding():
    """y = a·b + c with a·b exactly halfway between floats: the rounding of the sum must be
    allowed on top of the dot product's."""
    node = gemm_node()
    a = np.array([[1.0, 2.0**-24]], np.float32)
    b = np.array([[1.0], [1.0]], np.float32)
    c = np.array([2.0**-25], np.float32)
    y = run_ort(node, [a, b, c])
    assert_no_violations(node, [a, b, c], y)
    for cand in (np.float32(1.0), np.nextafter(np.float32(1.0), np.float32(2))):
        assert ops.check_element(node, [a, b, c], np.array([[cand]], np.float32), 0)


def test_gemm_alpha_other_than_one_and_degenerate_beta_unsupported():
    a, b, c = np.ones((2, 3), np.float32), np.ones((3, 2), np.float32), np.ones(2, np.float32)
    y = np.full((2, 2), 4.0, np.float32)
    with pytest.raises(Unsupported, match="alpha"):
        ops.check_element(gemm_node(alpha=2.0), [a, b, c], y, 0)
    for beta in (0.0, 1e-40, float("inf")):
        with pytest.raises(Unsupported, match="beta"):
            ops.check_element(gemm_node(beta=beta), [a, b, c], y, 0)
    with pytest.raises(Unsupported, match="trans"):
        ops.check_element(gemm_node(transA=2), [a, b, c], y, 0)
    assert ops.check_element(gemm_node(alpha=1.0, beta=0.0, with_c=False), [a, b], np.full((2, 2), 3.0, np.float32), 0)


# ---------------------------------------------------------------------------------------------
# Add / Sub / Mul
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul"])
@pytest.mark.parametrize("sa,sb", [((64,), (64,)), ((1, 64), (64,)), ((4, 1, 8), (3, 1)), ((), (5, 2))])
def test_binary_ops_against_onnxruntime_with_broadcasting(op, sa, sb):
    node = oh.make_node(op, ["a", "b"], ["y"])
    wide = lambda s: np.asarray(RNG.standard_normal(s) * np.exp2(RNG.integers(-130, 127, s)), np.float32)  # noqa: E731
    normal = lambda s: np.asarray(RNG.standard_normal(s), np.float32)  # noqa: E731
    for a, b in ((normal(sa), normal(sb)), (wide(sa), wide(sb))):
        y = run_ort(node, [a, b])
        assert_no_violations(node, [a, b], y)
        # denormals-are-zero and flush-to-zero executors are honest too
        f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op]
        with np.errstate(over="ignore"):  # an honest overflow to Inf
            daz = flush(f(flush(a), flush(b)))
        assert_no_violations(node, [a, b], daz)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul"])
def test_binary_ops_accept_at_most_the_two_nearest_floats(op):
    node = oh.make_node(op, ["a", "b"], ["y"])
    a = (RNG.standard_normal(40) * np.exp2(RNG.integers(-20, 20, 40))).astype(np.float32)
    b = (RNG.standard_normal(40) * np.exp2(RNG.integers(-20, 20, 40))).astype(np.float32)
    y = run_ort(node, [a, b])
    for i in range(40):
        out = y.copy()

        def accept(bits, out=out, i=i):
            out[i] = np.uint32(bits).view(np.float32)
            return ops.check_element(node, [a, b], out, i)

        lo_ok, hi_ok, lo_bad, hi_bad = edges(accept, bits_of(y[i]))
        assert _key(hi_ok) - _key(lo_ok) <= 1, f"element {i}: {_key(hi_ok) - _key(lo_ok) + 1} floats accepted"
        exact = {"Add": Fraction(float(a[i])) + Fraction(float(b[i])), "Sub": Fraction(float(a[i])) - Fraction(float(b[i])),
                 "Mul": Fraction(float(a[i])) * Fraction(float(b[i]))}[op]
        assert Fraction(f32(lo_ok)) <= exact <= Fraction(f32(hi_ok)) or lo_ok == hi_ok
        out[i] = np.uint32(hi_bad).view(np.float32)
        assert i in ops.violations(node, [a, b], out)


def test_add_cancellation_is_held_to_the_result_not_the_operands():
    node = oh.make_node("Add", ["a", "b"], ["y"])
    a = np.array([1.0], np.float32)
    b = np.array([-1.0 + 2.0**-23], np.float32)
    y = run_ort(node, [a, b])
    assert y[0] == np.float32(2.0**-23)
    assert ops.violations(node, [a, b], np.array([2.0**-22], np.float32)).tolist() == [0]
    assert ops.violations(node, [a, b], np.array([0.0], np.float32)).tolist() == [0]


def test_binary_ops_special_values():
    node = oh.make_node("Add", ["a", "b"], ["y"])
    a = np.array([np.inf, np.inf, np.nan, 3e38, -0.0, 1e-45], np.float32)
    b = np.array([1.0, -np.inf, 1.0, 3e38, -0.0, -1e-45], np.float32)
    y = run_ort(node, [a, b])
    assert_no_violations(node, [a, b], y)
    claim = y.copy()
    claim[3] = np.float32(3.4e38)  # 6e38 overflows: a finite claim is fraud
    claim[0] = 1.0  # inf + 1 is inf
    assert ops.violations(node, [a, b], claim).tolist() == [0, 3]
    mul = oh.make_node("Mul", ["a", "b"], ["y"])
    ym = run_ort(mul, [np.array([np.inf, 0.0], np.float32), np.array([0.0, -5.0], np.float32)])
    assert np.isnan(ym[0]) and ym[1] == 0
    assert_no_violations(mul, [np.array([np.inf, 0.0], np.float32), np.array([0.0, -5.0], np.float32)], ym)


# ---------------------------------------------------------------------------------------------
# Relu and data movement: exact
# ---------------------------------------------------------------------------------------------


def test_relu_exact_including_nan_negative_zero_and_subnormals():
    node = oh.make_node("Relu", ["x"], ["y"])
    x = np.array([np.nan, -0.0, 0.0, -1.0, 1.0, 1e-45, -1e-45, np.inf, -np.inf, 3.5], np.float32)
    y = run_ort(node, [x])
    assert_no_violations(node, [x], y)
    daz = y.copy()
    daz[5] = 0.0  # a denormals-are-zero executor
    assert_no_violations(node, [x], daz)
    bad = y.copy()
    bad[4] = np.nextafter(np.float32(1.0), np.float32(2.0))
    bad[3] = -0.0  # still a zero: fine
    bad[9] = 0.0
    bad[0] = 0.0
    assert ops.violations(node, [x], bad).tolist() == [0, 4, 9]


def test_identity_reshape_flatten_are_bit_exact():
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    x.reshape(-1)[5] = np.nan
    ident = oh.make_node("Identity", ["x"], ["y"])
    flat = oh.make_node("Flatten", ["x"], ["y"], axis=2)
    resh = oh.make_node("Reshape", ["x", "s"], ["y"])
    shape = np.array([0, -1, 2], np.int64)
    cases = [(ident, [x], x.copy()), (flat, [x], x.reshape(6, 4)), (resh, [x, shape], x.reshape(2, 6, 2))]
    for node, ins, y in cases:
        assert_no_violations(node, ins, y)
        assert_no_violations(node, ins, run_ort(node, ins))
        bad = y.copy()
        bad.reshape(-1)[7] = np.nextafter(bad.reshape(-1)[7], np.float32(9))
        bad.view(np.uint32).reshape(-1)[5] ^= 1  # another NaN payload: bits differ
        assert ops.violations(node, ins, bad).tolist() == [5, 7]
    # the wrong shape fails every element
    assert ops.violations(resh, [x, shape], x.reshape(2, 2, 6)).size == 24
    assert ops.violations(flat, [x], x.reshape(4, 6)).size == 24


@pytest.mark.parametrize(
    "in_shape,spec,allowzero,want",
    [((2, 3, 4), [4, -1], 0, (4, 6)), ((2, 3, 4), [0, 0, -1], 0, (2, 3, 4)), ((2, 3, 4), [24], 0, (24,)),
     ((0, 3), [3, 0], 1, (3, 0)), ((2, 3), [-1, -1], 0, None), ((2, 3), [4, -1], 0, None), ((2, 3), [0, 0, 0], 0, None),
     ((2, 3), [-2, 3], 0, None), ((1,), [], 0, ())],
)
def test_reshape_target_follows_onnx(in_shape, spec, allowzero, want):
    assert ops._Move.reshape_target(in_shape, spec, allowzero) == want


def test_reshape_int64_data_and_needs_whole_shape_tensor():
    x = np.arange(12, dtype=np.int64).reshape(3, 4)
    node = oh.make_node("Reshape", ["x", "s"], ["y"])
    s = np.array([2, 6], np.int64)
    y = run_ort(node, [x, s])
    assert_no_violations(node, [x, s], y)
    assert ops.needs(node, [(7, (3, 4)), (7, (2,))], (7, (2, 6)), 5) == [Need(1, 0, 0, 2), Need(0, 0, 5, 1)]
    with pytest.raises(Unsupported):
        ops.check_element(node, [x, s.astype(np.int32)], y, 0)


# ---------------------------------------------------------------------------------------------
# Softmax, Sigmoid, Tanh: integer exp enclosure + measured tolerance
# ---------------------------------------------------------------------------------------------


def test_exp_enclosure_brackets_exp_tightly():
    from decimal import Decimal, getcontext

    getcontext().prec = 80
    for u in [0.0, 2.0**-60, 1e-10, 0.5, float(np.log(2)), 1.0, 10.0, 50.3, 100.0, 127.9]:
        q = int(u * 2**64)
        lo, hi, k = ops.exp_neg_enclosure(q, q)
        true = (-(Decimal(q) / Decimal(2**64))).exp()
        scale = Decimal(2) ** (64 + k)
        assert Decimal(lo) / scale <= true <= Decimal(hi) / scale
        assert (Decimal(hi) - Decimal(lo)) / scale <= true * Decimal(2) ** -55
    assert ops.exp_neg_enclosure(130 << 64, 130 << 64) == (0, 1 << 64, 184)  # [0, 2^-184]


def _softmax_rows():
    for n in (10, 64, 1000):
        for scale in (1, 10, 100, 1e4):
            yield f"n={n} s={scale}", (RNG.standard_normal((40, n)) * scale).astype(np.float32)


@pytest.mark.parametrize("axis", [None, 1, -1])
def test_softmax_honest_implementations_accepted(axis):
    node = oh.make_node("Softmax", ["x"], ["y"], **({} if axis is None else {"axis": axis}))
    for name, x in _softmax_rows():
        e = np.exp(x - x.max(axis=1, keepdims=True))
        honest = {
            "onnxruntime": run_ort(node, [x]),
            "onnxruntime opset 12": run_ort(node, [x], opset=12),
            "float32 sequential sum": (e / np.cumsum(e, axis=1, dtype=np.float32)[:, -1:]).astype(np.float32),
            "float64 rounded": (np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True)) /
                                np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True)).astype(np.float32),
        }
        for label, y in honest.items():
            v = ops.violations(node, [x], y)
            assert v.size == 0, f"{name} {label}: {v.size} rejected"


def test_softmax_edges_are_at_the_tolerance():
    node = oh.make_node("Softmax", ["x"], ["y"])
    x = (RNG.standard_normal((1, 10)) * 3).astype(np.float32)
    y = run_ort(node, [x])
    ref = np.exp(x.astype(np.float64) - x.max()) / np.exp(x.astype(np.float64) - x.max()).sum()
    r = (2.0**9 + 10) * 2.0**-24
    for j in range(10):
        out = y.copy()

        def accept(bits, out=out, j=j):
            out[0, j] = np.uint32(bits).view(np.float32)
            return ops.check_element(node, [x], out, j)

        lo_ok, hi_ok, lo_bad, hi_bad = edges(accept, bits_of(y[0, j]))
        for ok in (lo_ok, hi_ok):
            assert abs(f32(ok) - ref[0, j]) <= r * ref[0, j] * (1 + 1e-6) + 2.0**-119
        for bad in (lo_bad, hi_bad):
            assert abs(f32(bad) - ref[0, j]) > r * ref[0, j] * (1 - 1e-6)
        assert abs(f32(hi_ok) - ref[0, j]) > 0.9 * r * ref[0, j]  # not needlessly tight either


def test_softmax_special_values():
    node = oh.make_node("Softmax", ["x"], ["y"])
    x = np.array([[1, 2, np.inf, 3], [1, np.nan, 2, 3], [-np.inf, 1, 2, 3], [-np.inf] * 4,
                  [1e30, 1e30, -1e30, 0], [-200, 0, -100, -50]], np.float32)
    y = run_ort(node, [x])
    assert_no_violations(node, [x], y)
    bad = y.copy()
    bad[0, 0] = 0.25  # a NaN row needs NaN
    bad[2, 0] = 1e-30  # e^-inf is exactly 0: 1e-30 > A
    bad[5, 2] = 0.0  # e^-100 ≈ 3.7e-44 is below A = 2^-120: 0 is fine
    bad[4, 0] = np.nan  # finite row: NaN is fraud
    assert ops.violations(node, [x], bad).tolist() == [0, 8, 16]


def test_softmax_axis_the_descriptor_cannot_disambiguate_is_unsupported():
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    y = run_ort(oh.make_node("Softmax", ["x"], ["y"], axis=-1), [x])
    assert_no_violations(oh.make_node("Softmax", ["x"], ["y"], axis=2), [x], y)
    for attrs in ({}, {"axis": 1}, {"axis": 0}, {"axis": 3}):
        with pytest.raises(Unsupported, match="Softmax"):
            ops.check_element(oh.make_node("Softmax", ["x"], ["y"], **attrs), [x], y, 0)
    assert ops.needs(oh.make_node("Softmax", ["x"], ["y"], axis=-1), [(2, 3, 4)], (2, 3, 4), 9) == [Need(0, 0, 8, 4)]


@pytest.mark.parametrize("op", ["Sigmoid", "Tanh"])
def test_sigmoid_tanh_honest_implementations_accepted(op):
    node = oh.make_node(op, ["x"], ["y"])
    x = np.concatenate([RNG.uniform(-100, 100, 20000), RNG.standard_normal(20000), RNG.standard_normal(2000) * 1e-5,
                        RNG.standard_normal(500) * 1e-35, [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 88.7, -88.7]]).astype(np.float32)
    f = {"Sigmoid": lambda v: 1 / (1 + np.exp(-v)), "Tanh": np.tanh}[op]
    with np.errstate(over="ignore"):
        honest = {"onnxruntime": run_ort(node, [x]), "numpy float32": f(x).astype(np.float32),
                  "float64 rounded": f(x.astype(np.float64)).astype(np.float32)}
    for label, y in honest.items():
        v = ops.violations(node, [x], y)
        assert v.size == 0, f"{label}: {v.size} rejected, e.g. x={x[v[:3]]} y={y[v[:3]]}"


@pytest.mark.parametrize("op,r,a", [("Sigmoid", 2.0**-16, 2.0**-20), ("Tanh", 2.0**-16, 2.0**-120)])
def test_sigmoid_tanh_edges_are_at_the_tolerance(op, r, a):
    node = oh.make_node(op, ["x"], ["y"])
    x = np.array([-30.0, -5.0, -0.3, 1e-7, 0.7, 3.0, 12.0, -1e-25], np.float32)
    y = run_ort(node, [x])
    ref = {"Sigmoid": lambda v: 1 / (1 + np.exp(-v)), "Tanh": np.tanh}[op](x.astype(np.float64))
    for i in range(x.size):
        out = y.copy()

        def accept(bits, out=out, i=i):
            out[i] = np.uint32(bits).view(np.float32)
            return ops.check_element(node, [x], out, i)

        lo_ok, hi_ok, lo_bad, hi_bad = edges(accept, bits_of(y[i]))
        tol = a + r * abs(ref[i])
        for ok in (lo_ok, hi_ok):
            assert abs(f32(ok) - ref[i]) <= tol * (1 + 1e-6) + 2.0**-118
        for bad in (lo_bad, hi_bad):
            assert abs(f32(bad) - ref[i]) > tol * (1 - 1e-6)


def test_sigmoid_tanh_special_values():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], np.float32)
    for op, want in (("Sigmoid", [np.nan, 1, 0, 0.5, 0.5]), ("Tanh", [np.nan, 1, -1, 0, -0.0])):
        node = oh.make_node(op, ["x"], ["y"])
        y = np.array(want, np.float32)
        assert_no_violations(node, [x], y)
        bad = y.copy()
        bad[0] = 0.0
        bad[1] = np.inf
        bad[3] = np.nan
        assert ops.violations(node, [x], bad).tolist() == [0, 1, 3]


# ---------------------------------------------------------------------------------------------
# Conv, MaxPool, Cast
# ---------------------------------------------------------------------------------------------

CONV_CASES = [
    ({"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, (2, 1, 8, 8), (8, 1, 3, 3)),  # the digits CNN
    ({"strides": [2, 2]}, (1, 6, 9, 7), (4, 6, 3, 3)),
    ({"group": 2, "pads": [0, 1, 2, 0]}, (1, 4, 6, 6), (6, 2, 3, 2)),
    ({"auto_pad": "VALID"}, (1, 3, 5, 5), (2, 3, 5, 5)),
    ({"pads": [3, 3, 3, 3]}, (1, 1, 2, 2), (1, 1, 2, 2)),  # windows wholly in the padding
    ({"pads": [1, 1, 1, 1]}, (1, 16, 12, 12), (8, 16, 3, 3)),  # K = 144
]


@pytest.mark.parametrize("attrs,xs,ws", CONV_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_against_onnxruntime(attrs, xs, ws, bias):
    x = RNG.standard_normal(xs).astype(np.float32)
    w = RNG.standard_normal(ws).astype(np.float32)
    ins = [x, w] + ([RNG.standard_normal(ws[0]).astype(np.float32)] if bias else [])
    node = oh.make_node("Conv", ["x", "w", "b"] if bias else ["x", "w"], ["y"], **attrs)
    y = run_ort(node, ins)
    assert_no_violations(node, ins, y)
    flushed = [flush(a) for a in ins]
    assert_no_violations(node, ins, run_ort(node, flushed))  # a denormals-are-zero executor
    bad = y.copy()
    bad.reshape(-1)[::5] += np.float32(0.01)
    want = [i for i in range(y.size) if not ops.check_element(node, ins, bad, i)]
    assert ops.violations(node, ins, bad).tolist() == want
    assert len(want) >= (y.size + 4) // 5 - 1


def test_conv_edges_and_needs():
    x = RNG.standard_normal((1, 2, 5, 5)).astype(np.float32)
    w = RNG.standard_normal((3, 2, 3, 3)).astype(np.float32)
    b = RNG.standard_normal(3).astype(np.float32)
    node = oh.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])
    y = run_ort(node, [x, w, b])
    # output (0, 1, 0, 4): rows 0..1, columns 3..4 of both channels; the span runs channel 0 → 1
    idx = (1 * 5 + 0) * 5 + 4
    assert ops.needs(node, [x.shape, w.shape, b.shape], y.shape, idx) == [
        Need(0, 0, 3, (1 * 25 + 1 * 5 + 4) - 3 + 1), Need(1, 0, 18, 18), Need(2, 0, 1, 1)]
    for i in (0, idx, y.size - 1):
        out = y.copy()

        def accept(bits, out=out, i=i):
            out.reshape(-1)[i] = np.uint32(bits).view(np.float32)
            return ops.check_element(node, [x, w, b], out, i)

        lo_ok, hi_ok, lo_bad, hi_bad = edges(accept, bits_of(y.reshape(-1)[i]))
        assert _key(hi_bad) - _key(lo_bad) < 2**20  # float noise, not a free choice


@pytest.mark.parametrize("attrs", [{"dilations": [2, 2]}, {"auto_pad": "SAME_UPPER"}, {"group": 0}, {"strides": [0, 1]}, {"pads": [1, 1]}])
def test_conv_unsupported_attributes(attrs):
    x, w = np.ones((1, 2, 5, 5), np.float32), np.ones((2, 2, 3, 3), np.float32)
    with pytest.raises(Unsupported):
        ops.check_element(oh.make_node("Conv", ["x", "w"], ["y"], **attrs), [x, w], np.ones((1, 2, 3, 3), np.float32), 0)
    with pytest.raises(Unsupported):  # 1-D conv
        ops.check_element(oh.make_node("Conv", ["x", "w"], ["y"]), [np.ones((1, 2, 5), np.float32), np.ones((2, 2, 3), np.float32)],
                          np.ones((1, 2, 3), np.float32), 0)


@pytest.mark.parametrize("attrs", [{"kernel_shape": [2, 2], "strides": [2, 2]}, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2]},
                                   {"kernel_shape": [3, 2], "pads": [2, 0, 1, 1]}])
def test_maxpool_against_onnxruntime_including_nan_and_subnormals(attrs):
    node = oh.make_node("MaxPool", ["x"], ["y"], **attrs)
    x = RNG.standard_normal((2, 3, 8, 8)).astype(np.float32)
    x.reshape(-1)[::17] = np.nan
    x.reshape(-1)[::23] = 1e-40
    x.reshape(-1)[::29] = -np.inf
    y = run_ort(node, [x])
    assert_no_violations(node, [x], y)
    assert_no_violations(node, [x], run_ort(node, [flush(x)]))
    bad = y.copy()
    bad.reshape(-1)[::3] = np.nextafter(bad.reshape(-1)[::3], np.float32(10))
    want = [i for i in range(y.size) if not ops.check_element(node, [x], bad, i)]
    assert ops.violations(node, [x], bad).tolist() == want and len(want) > y.size // 4


def test_maxpool_rule_cases():
    b = bits_of
    assert ops.maxpool_rule([b(1.0), b(3.0), b(2.0)], b(3.0))
    assert not ops.maxpool_rule([b(1.0), b(3.0), b(2.0)], b(2.0))
    assert ops.maxpool_rule([b(-0.0), b(0.0)], b(-0.0)) and ops.maxpool_rule([b(-0.0), b(0.0)], b(0.0))
    assert ops.maxpool_rule([b(1e-40), b(0.0)], b(0.0))  # DAZ compares the subnormal as 0
    assert ops.maxpool_rule([b(np.nan), b(1.0), b(5.0)], b(1.0))  # NaN: the comparison order decides
    assert not ops.maxpool_rule([b(np.nan), b(1.0), b(5.0)], b(2.0))
    assert ops.maxpool_rule([b(np.nan)], b(np.nan)) and not ops.maxpool_rule([b(np.nan)], b(0.0))
    assert not ops.maxpool_rule([b(1.0), b(2.0)], b(np.nan))


def test_maxpool_unsupported():
    x = np.ones((1, 1, 4, 4), np.float32)
    for attrs in ({"kernel_shape": [2, 2], "ceil_mode": 1}, {}, {"kernel_shape": [2, 2], "dilations": [2, 2]}):
        with pytest.raises(Unsupported):
            ops.check_element(oh.make_node("MaxPool", ["x"], ["y"], **attrs), [x], np.ones((1, 1, 2, 2), np.float32), 0)
    two_outputs = oh.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2])
    with pytest.raises(Unsupported, match="outputs"):
        ops.check_element(two_outputs, [x], np.ones((1, 1, 3, 3), np.float32), 0)


def test_cast_to_the_same_dtype_is_a_copy():
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    node = oh.make_node("Cast", ["x"], ["y"], to=1)
    assert_no_violations(node, [x], run_ort(node, [x]))
    bad = x.copy()
    bad[1, 2] += 1
    assert ops.violations(node, [x], bad).tolist() == [6]
    xi = np.arange(5, dtype=np.int64)
    assert_no_violations(oh.make_node("Cast", ["x"], ["y"], to=7), [xi], xi.copy())
    with pytest.raises(Unsupported, match="Cast"):
        ops.check_element(oh.make_node("Cast", ["x"], ["y"], to=7), [x], x.astype(np.int64), 0)


@pytest.mark.parametrize("attrs", [{"axis": 1}, {"axis": -1, "keepdims": 0}, {"axis": 1, "select_last_index": 1}])
def test_argmax_against_onnxruntime(attrs):
    node = oh.make_node("ArgMax", ["x"], ["y"], **attrs)
    x = np.array([[1, 3, 3, 2], [np.nan, 1, 2, 0], [1, np.nan, 5, 0], [-0.0, 0.0, -1, -2], [1e-40, 0, 0, -1],
                  [-np.inf, -np.inf, -5, -np.inf]], np.float32)
    x = np.concatenate([x, RNG.standard_normal((20, 4)).astype(np.float32)])
    y = run_ort(node, [x])
    assert_no_violations(node, [x], y)
    bad = y.copy().reshape(-1)
    bad[6:] = (bad[6:] + 1) % 4  # another index of a row without ties: wrong
    bad[0] = 2 if bad[0] == 1 else 1  # the other tied maximum: fine
    bad[1] = 3  # a NaN row: any index
    bad[2] = 4  # out of range
    want = [2] + list(range(6, 26))
    assert ops.violations(node, [x], bad.reshape(y.shape)).tolist() == want


def test_argmax_unsupported_and_inconsistent():
    x = np.ones((2, 3), np.float32)
    for attrs in ({"axis": 0}, {}, {"axis": 1, "keepdims": 2}):
        with pytest.raises(Unsupported):
            ops.check_element(oh.make_node("ArgMax", ["x"], ["y"], **attrs), [x], np.zeros((2, 1), np.int64), 0)
    assert not ops.check_element(oh.make_node("ArgMax", ["x"], ["y"], axis=1), [x], np.zeros((2,), np.int64), 0)  # keepdims 1
    assert not ops.check_element(oh.make_node("ArgMax", ["x"], ["y"], axis=1), [x], np.zeros((2, 1), np.int32), 0)


# ---------------------------------------------------------------------------------------------
# descriptors and the real models
# ---------------------------------------------------------------------------------------------


def test_descriptor_of_node_matches_graph_layout_bytes():
    from assay import modelzoo

    for zm in (modelzoo.digits_mlp(), modelzoo.digits_cnn()):
        model = onnx.load_from_string(zm.onnx_bytes)
        lay = graph_layout(model)
        for node, desc in zip(model.graph.node, lay.descriptors):
            ids_in = [ops.ABSENT if n == "" else lay.value_id[n] for n in node.input]
            ids_out = [ops.ABSENT if n == "" else lay.value_id[n] for n in node.output]
            assert ops.descriptor_of(node, ids_in, ids_out) == desc
            spec = ops.parse_descriptor(desc)
            assert spec.op_type == node.op_type and list(spec.inputs) == ids_in
            for a in node.attribute:
                got = spec.attrs[a.name]
                if a.type == onnx.AttributeProto.INT:
                    assert got.value == a.i
                if a.type == onnx.AttributeProto.INTS:
                    assert list(got.value) == list(a.ints)
                if a.type == onnx.AttributeProto.FLOAT:
                    assert got.value == struct.unpack(">I", struct.pack(">f", a.f))[0]


@pytest.mark.parametrize(
    "bad",
    [b"", b"\x00", b"\x01\x00", b"\x01\x00\x00\x00\x06MatMul\x00\x00\x00\x00\x00\x00\x00",
     b"\x01\x00\x00\x00\x04Gemm\x00\x00\x00\x00\x00\x01\x00\x01a\x63",
     b"\x01\x00\x00\x00\x04Gemm\x00\x00\x00\x00\x00\x02\x00\x01b\x02" + b"\x00" * 8 + b"\x00\x01a\x02" + b"\x00" * 8],
    ids=["empty", "header kind", "truncated", "trailing byte", "unknown attribute type", "attributes out of order"],
)
def test_malformed_descriptors_raise(bad):
    with pytest.raises(ops.MalformedDescriptor):
        ops.parse_descriptor(bad)


def _trace(zm):
    from assay.inference.runner import InferenceRunner

    runner = InferenceRunner()
    out = runner.run(zm.model_id, zm.onnx_bytes, zm.sample_inputs(4), trace=True)
    model = onnx.load_from_string(zm.onnx_bytes)
    values = dict(out.trace)
    values.update({i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer})
    values.update(zm.sample_inputs(4))
    return model, values


@pytest.mark.parametrize("name", ["digits_mlp", "digits_cnn"])
def test_real_model_traces_pass_every_supported_node(name):
    from assay import modelzoo

    model, values = _trace(getattr(modelzoo, name)())
    checked = []
    for node in model.graph.node:
        if not ops.supported(node.domain, node.op_type):
            continue
        ins = [values[n] if n else None for n in node.input]
        out = values[node.output[0]]
        try:
            v = ops.violations(node, ins, out)
        except Unsupported:
            continue
        assert v.size == 0, f"{node.op_type}: {v.size} violations"
        bad = np.array(out, copy=True)
        if bad.dtype == np.float32:
            bad.reshape(-1)[0] = bad.reshape(-1)[0] * 1.5 + 1
            assert 0 in ops.violations(node, ins, bad)
        checked.append(node.op_type)
    want = ({"Cast", "MatMul", "Add", "Relu", "Softmax", "ArgMax"} if name == "digits_mlp"
            else {"Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Softmax", "ArgMax"})
    assert want <= set(checked)


def test_supported_ops():
    for op in ("MatMul", "Gemm", "Add", "Sub", "Mul", "Relu", "Identity", "Reshape", "Flatten"):
        assert ops.supported("", op) and ops.supported("ai.onnx", op)
    for op in ("Softmax", "Sigmoid", "Tanh"):
        assert ops.supported("", op)
    for op in ("Conv", "MaxPool", "Cast"):
        assert ops.supported("", op)
    for op in ("Div", "Clip", "BatchNormalization", "AveragePool", "GlobalAveragePool"):
        assert ops.supported("", op)
    for op in ("LpPool", "Einsum", "NonMaxSuppression"):
        assert not ops.supported("", op)
    assert not ops.supported("com.microsoft", "MatMul")
    with pytest.raises(Unsupported):
        ops.check_element(oh.make_node("Einsum", ["x", "w"], ["y"], equation="ij,jk->ik"), [np.ones((3, 3), np.float32)] * 2,
                          np.ones((3, 3), np.float32), 0)


# ---------------------------------------------------------------------------------------------
# the vectorised path decides exactly like the exact one
# ---------------------------------------------------------------------------------------------


def _near_bound_claims(y: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """Claims spread around the accepted edge: y ± r·bound, r ∈ [0.98, 1.02] (and a few exact)."""
    r = RNG.uniform(0.98, 1.02, y.shape)
    sign = np.where(RNG.integers(0, 2, y.shape) == 1, 1.0, -1.0)
    claim = (y.astype(np.float64) + sign * r * bound).astype(np.float32)
    claim.reshape(-1)[::7] = y.reshape(-1)[::7]
    return claim


@pytest.mark.parametrize("dist", ["normal", "wide", "subnormal"])
def test_violations_equal_elementwise_checks_near_the_edge(dist):
    k = 48
    if dist == "normal":
        a, b = RNG.standard_normal((6, k)), RNG.standard_normal((k, 5))
    elif dist == "wide":
        a = RNG.standard_normal((6, k)) * np.exp2(RNG.integers(-40, 40, (6, k)))
        b = RNG.standard_normal((k, 5)) * np.exp2(RNG.integers(-40, 40, (k, 5)))
    else:
        a, b = RNG.standard_normal((6, k)) * 1e-39, RNG.standard_normal((k, 5)) * 1e6
    a, b = a.astype(np.float32), b.astype(np.float32)
    e = a.astype(np.float64) @ b.astype(np.float64)
    s = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))
    d = s if dist == "subnormal" else 0.0
    cases = [(matmul_node(), [a, b], _near_bound_claims(e, k * 2.0**-24 * s + 2 * d))]
    c = RNG.standard_normal(5).astype(np.float32)
    cases.append((gemm_node(beta=0.5), [a, b, c], _near_bound_claims(e + 0.5 * c, (k + 1) * 2.0**-24 * (s + np.abs(0.5 * c)) + 2 * d)))
    x, z = a[:, :5], b[:6, :]
    cases.append((oh.make_node("Mul", ["a", "b"], ["y"]), [x, z], _near_bound_claims(x.astype(np.float64) * z, 2.0**-24 * np.abs(x.astype(np.float64) * z))))
    cases.append((oh.make_node("Add", ["a", "b"], ["y"]), [x, z], _near_bound_claims(x.astype(np.float64) + z, 2.0**-24 * np.abs(x.astype(np.float64) + z))))
    for node, ins, claim in cases:
        want = [i for i in range(claim.size) if not ops.check_element(node, ins, claim, i)]
        assert ops.violations(node, ins, claim).tolist() == want
        assert 0 < len(want) < claim.size or node.op_type in ("Add", "Mul")  # both sides of the edge hit
