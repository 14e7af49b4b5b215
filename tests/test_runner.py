"""Inference runner and model zoo: real onnxruntime on small models trained at test time (cached on
disk after the first run), session cache, input validation, malformed models and trace mode."""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from assay import modelzoo
from assay.errors import AssayError, ConfigError
from assay.inference import (
    InferenceFailed,
    InferenceRunner,
    InputSpec,
    InputValidationError,
    ModelIdMismatch,
    ModelNotLoaded,
    ModelTooLarge,
    SessionConfig,
    inputs_spec,
    trace_model,
    validate_inputs,
)
from assay.models import InvalidModel

ZOO = ["digits_mlp", "digits_logreg", "digits_cnn"]


@pytest.fixture(scope="module")
def zoo():
    return {name: modelzoo.load(name) for name in ZOO}


@pytest.fixture
def runner():
    return InferenceRunner(SessionConfig(intra_op_threads=1))


def tiny_model(nodes, inputs, outputs, initializers=(), opset=17, domains=()):
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, initializer=list(initializers))
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    return helper.make_model(graph, opset_imports=ops).SerializeToString()


def add_model() -> bytes:
    """c = a + b with a, b: float32 [N, 3] (shared symbolic batch dim)."""
    return tiny_model(
        [helper.make_node("Add", ["a", "b"], ["c"])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3]) for n in ("a", "b")],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, ["N", 3])],
    )


def mid(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- model zoo ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ZOO)
def test_zoo_model_is_accurate_under_onnxruntime(zoo, name):
    m = zoo[name]
    sess = ort.InferenceSession(m.onnx_bytes, providers=["CPUExecutionProvider"])
    label, prob = sess.run(["label", "probabilities"], {"input": m.x_test})
    acc = float((label == m.y_test).mean())
    print(f"{name}: onnxruntime test accuracy {acc:.4f} on {len(m.y_test)} digits (trainer said {m.accuracy:.4f})")
    assert acc > 0.93  # chance is 0.10
    assert abs(acc - m.accuracy) <= 2 / len(m.y_test)  # the export computes what was trained
    assert prob.shape == (len(m.y_test), 10) and prob.dtype == np.float32
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, rtol=1e-5)
    assert np.array_equal(prob.argmax(axis=1), label)


def test_zoo_training_is_deterministic_and_seed_dependent(zoo, tmp_path):
    again = modelzoo.digits_logreg(cache=False)
    assert again.onnx_bytes == zoo["digits_logreg"].onnx_bytes
    cnn = modelzoo.digits_cnn(cache=False)
    assert cnn.onnx_bytes == zoo["digits_cnn"].onnx_bytes
    other = modelzoo.digits_cnn(seed=1, cache=tmp_path)
    assert other.model_id != cnn.model_id and other.accuracy > 0.93


def test_zoo_cache_is_used_and_a_damaged_entry_is_retrained(tmp_path):
    first = modelzoo.digits_logreg(cache=tmp_path)
    (entry,) = tmp_path.glob("digits_logreg-seed0-*.npz")
    assert modelzoo.digits_logreg(cache=tmp_path).meta["train_seconds"] == first.meta["train_seconds"]  # read back
    entry.write_bytes(b"garbage")
    again = modelzoo.digits_logreg(cache=tmp_path)
    assert again.onnx_bytes == first.onnx_bytes
    assert modelzoo.load("digits_logreg", cache=tmp_path).model_id == first.model_id == mid(first.onnx_bytes)
    with pytest.raises(AssayError, match="unknown zoo model"):
        modelzoo.load("imagenet")


# ---- running --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ZOO)
def test_run_equals_a_fresh_onnxruntime_session(zoo, runner, name):
    m = zoo[name]
    feed = m.sample_inputs(32)
    out = runner.run(m.model_id, m.onnx_bytes, feed)
    sess = ort.InferenceSession(m.onnx_bytes, providers=["CPUExecutionProvider"])
    expected = sess.run(None, feed)
    assert list(out) == [o.name for o in sess.get_outputs()] == ["label", "probabilities"]
    assert np.array_equal(out["label"], expected[0])
    np.testing.assert_allclose(out["probabilities"], expected[1], rtol=1e-6, atol=1e-7)


def test_run_reports_timing_cache_state_and_runtime(zoo):
    m = zoo["digits_mlp"]
    r = InferenceRunner(SessionConfig(intra_op_threads=2, inter_op_threads=1, graph_optimization="basic"))
    first = r.run(m.model_id, m.onnx_bytes, m.sample_inputs(4))
    second = r.run(m.model_id, None, m.sample_inputs(4))  # bytes not needed once cached
    assert (first.cached, second.cached) == (False, True)
    assert first.load_s > 0 and second.load_s == 0.0 and first.elapsed_s > 0 and second.elapsed_s > 0
    assert first.runtime == {
        "onnxruntime": ort.__version__,
        "providers": ["CPUExecutionProvider"],
        "intra_op_threads": 2,
        "inter_op_threads": 1,
        "graph_optimization": "basic",
        "execution_mode": "sequential",
        "trace": False,
        "machine": first.runtime["machine"],
        "system": first.runtime["system"],
    }
    assert first.trace is None
    assert np.array_equal(first["label"], second["label"])
    assert (r.stats.hits, r.stats.misses) == (1, 1)


def test_inputs_spec_lists_names_symbolic_dims_and_dtypes(zoo, runner):
    cnn = zoo["digits_cnn"]
    assert runner.inputs_spec(cnn.model_id, cnn.onnx_bytes) == [InputSpec("input", ("N", 1, 8, 8), np.dtype(np.float32), "float")]
    assert inputs_spec(zoo["digits_mlp"].onnx_bytes)[0].describe() == "input: float[N, 64]"
    assert runner.output_names(cnn.model_id) == ["label", "probabilities"]
    # initializers that are also listed as graph inputs are not inputs a caller must feed
    w = numpy_helper.from_array(np.ones((3,), np.float32), "w")
    data = tiny_model(
        [helper.make_node("Mul", ["x", "w"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.INT64, [None, 3]),
         helper.make_tensor_value_info("w", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])],
        [w],
    )
    assert inputs_spec(onnx.load_from_string(data)) == [InputSpec("x", (None, 3), np.dtype(np.int64), "int64")]


def test_lru_evicts_least_recently_used_beyond_max_sessions(zoo):
    r = InferenceRunner(max_sessions=2)
    mlp, logreg, cnn = zoo["digits_mlp"], zoo["digits_logreg"], zoo["digits_cnn"]
    r.run(mlp.model_id, mlp.onnx_bytes, mlp.sample_inputs(1))
    r.run(logreg.model_id, logreg.onnx_bytes, logreg.sample_inputs(1))
    r.run(mlp.model_id, None, mlp.sample_inputs(1))  # mlp is now the most recently used
    r.run(cnn.model_id, cnn.onnx_bytes, cnn.sample_inputs(1))
    assert r.cached() == [(mlp.model_id, False), (cnn.model_id, False)]
    assert r.stats.evicted == [(logreg.model_id, False)]
    with pytest.raises(ModelNotLoaded, match=logreg.model_id):
        r.run(logreg.model_id, None, logreg.sample_inputs(1))
    assert r.cached_bytes == len(mlp.onnx_bytes) + len(cnn.onnx_bytes)


def test_lru_evicts_beyond_max_model_bytes(zoo):
    mlp, logreg, cnn = zoo["digits_mlp"], zoo["digits_logreg"], zoo["digits_cnn"]
    r = InferenceRunner(max_sessions=10, max_model_bytes=len(mlp.onnx_bytes) + len(cnn.onnx_bytes))
    r.inputs_spec(mlp.model_id, mlp.onnx_bytes)
    r.inputs_spec(cnn.model_id, cnn.onnx_bytes)
    assert r.stats.evictions == 0
    r.inputs_spec(logreg.model_id, logreg.onnx_bytes)
    assert r.cached() == [(cnn.model_id, False), (logreg.model_id, False)]
    assert r.cached_bytes == len(cnn.onnx_bytes) + len(logreg.onnx_bytes) <= r.max_model_bytes
    assert r.evict(cnn.model_id) is True and r.evict(cnn.model_id) is False


def test_model_larger_than_the_whole_cache_is_refused(zoo):
    m = zoo["digits_mlp"]
    r = InferenceRunner(max_model_bytes=len(m.onnx_bytes) - 1)
    with pytest.raises(ModelTooLarge, match=f"{len(m.onnx_bytes)} bytes, more than the whole cache"):
        r.run(m.model_id, m.onnx_bytes, m.sample_inputs(1))
    assert r.cached() == []


def test_model_bytes_not_matching_the_model_id_are_refused(zoo, runner):
    mlp, cnn = zoo["digits_mlp"], zoo["digits_cnn"]
    with pytest.raises(ModelIdMismatch, match=f"hash to {cnn.model_id}, not to the model id {mlp.model_id}"):
        runner.run(mlp.model_id, cnn.onnx_bytes, cnn.sample_inputs(1))
    with pytest.raises(ModelIdMismatch, match="not a sha256 digest"):
        runner.run("my-model", mlp.onnx_bytes, mlp.sample_inputs(1))
    runner.run(mlp.model_id, mlp.onnx_bytes, mlp.sample_inputs(1))
    with pytest.raises(ModelIdMismatch, match="cached with"):
        runner.run(mlp.model_id, cnn.onnx_bytes, mlp.sample_inputs(1))
    # 0x-prefixed hex and raw bytes name the same cached model
    assert runner.run("0x" + mlp.model_id, None, mlp.sample_inputs(1)).cached
    assert runner.run(bytes.fromhex(mlp.model_id), None, mlp.sample_inputs(1)).cached


def test_any_model_id_is_accepted_when_verification_is_off(zoo):
    m = zoo["digits_logreg"]
    r = InferenceRunner(verify_model_id=False)
    assert list(r.run("logreg-v1", m.onnx_bytes, m.sample_inputs(2))) == ["label", "probabilities"]


# ---- malformed models -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"not an onnx model at all", b"\x08\x07\x12\x00" * 3, "truncated"],
    ids=["empty", "text", "junk-protobuf", "truncated"],
)
def test_malformed_onnx_bytes_raise_invalid_model(zoo, runner, data):
    if data == "truncated":
        data = zoo["digits_cnn"].onnx_bytes[:-100]
    with pytest.raises(InvalidModel) as e:
        runner.run(mid(data), data, {"input": np.zeros((1, 64), np.float32)})
    assert "hint:" in str(e.value) and isinstance(e.value, ValueError)
    assert runner.cached() == []


def test_unknown_operator_raises_invalid_model(runner):
    io = ([helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    bad_op = tiny_model([helper.make_node("NoSuchOp", ["x"], ["y"])], *io)
    with pytest.raises(InvalidModel, match="NoSuchOp"):
        runner.run(mid(bad_op), bad_op, {"x": np.zeros(2, np.float32)})
    # a custom domain passes the ONNX checker; onnxruntime then cannot load it
    custom = tiny_model([helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example")], *io, domains=["com.example"])
    with pytest.raises(InvalidModel, match=f"onnxruntime {ort.__version__} cannot load the model"):
        runner.run(mid(custom), custom, {"x": np.zeros(2, np.float32)})


def test_failure_inside_onnxruntime_raises_inference_failed(runner):
    shape = numpy_helper.from_array(np.array([5], np.int64), "shape")
    data = tiny_model(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5])],
        [shape],
    )
    with pytest.raises(InferenceFailed, match="onnxruntime failed to run model"):
        runner.run(mid(data), data, {"x": np.zeros((1, 3), np.float32)})  # 3 elements cannot become 5


# ---- input validation -----------------------------------------------------------------------------

SPEC = inputs_spec(add_model())
OK = np.zeros((2, 3), np.float32)


@pytest.mark.parametrize(
    "feed, code, message",
    [
        ({"a": OK}, "missing", "missing input 'b'"),
        ({"a": OK, "b": OK, "c": OK}, "unexpected", "unexpected input 'c'"),
        ({"a": OK, "b": [[0.0, 0.0, 0.0]] * 2}, "type", "input 'b' is a list, not a numpy array"),
        ({"a": OK, "b": OK.astype(np.float64)}, "dtype", "input 'b' has dtype float64 but the model declares float"),
        ({"a": OK, "b": OK.astype(np.int32)}, "dtype", "has dtype int32"),
        ({"a": OK, "b": OK.reshape(6)}, "rank", r"input 'b' has rank 1 \(shape \[6\]\) but the model declares rank 2"),
        ({"a": OK, "b": np.zeros((2, 4), np.float32)}, "dim", "input 'b' has size 4 on axis 1 but the model declares 3"),
        ({"a": OK, "b": np.zeros((5, 3), np.float32)}, "dim", "dimension 'N'.* 'a' axis 0 has 'N' = 2"),
        ({"a": OK, "b": np.full((2, 3), np.nan, np.float32)}, "non_finite", r"6 NaN/Inf value\(s\), first at index \(0, 0\)"),
        ({"a": np.array([[0, 1, np.inf]] * 2, np.float32), "b": OK}, "non_finite", r"input 'a' has 2 NaN/Inf value\(s\), first at index \(0, 2\): inf"),
        ([OK, OK], "type", "inputs must be a mapping"),
    ],
    ids=["missing", "extra", "not-array", "float64", "int32", "rank", "fixed-dim", "symbolic-dim", "nan", "inf", "not-mapping"],
)
def test_validate_inputs_names_the_exact_problem(feed, code, message):
    with pytest.raises(InputValidationError, match=message) as e:
        validate_inputs(SPEC, feed)
    assert e.value.code == code
    assert isinstance(e.value, ValueError) and "hint:" in str(e.value)


def test_validate_inputs_accepts_a_matching_feed_and_limits_element_count():
    feed = {"a": OK, "b": np.ones((2, 3), np.float32)}
    assert validate_inputs(SPEC, feed) == feed
    assert validate_inputs(SPEC, {"a": OK[:0], "b": OK[:0]})  # an empty batch is well-formed
    with pytest.raises(InputValidationError, match="input 'a' has 6 elements, over the limit of 5") as e:
        validate_inputs(SPEC, feed, max_elements=5)
    assert e.value.code == "too_large"
    with pytest.raises(InputValidationError, match="in total, over the limit of 10") as e:
        validate_inputs(SPEC, feed, max_elements=10)
    assert e.value.input_name == "b"


def test_run_refuses_nan_input_before_running(zoo, runner):
    m = zoo["digits_mlp"]
    x = m.x_test[:4].copy()
    x[2, 17] = np.nan
    with pytest.raises(InputValidationError, match=r"first at index \(2, 17\): nan") as e:
        runner.run(m.model_id, m.onnx_bytes, {"input": x})
    assert e.value.code == "non_finite" and e.value.input_name == "input"


def test_run_refuses_wrong_shape_and_too_many_elements(zoo):
    m = zoo["digits_cnn"]
    r = InferenceRunner(max_elements=64 * 10)
    with pytest.raises(InputValidationError, match="rank 2") as e:
        r.run(m.model_id, m.onnx_bytes, {"input": m.x_test[:4].reshape(4, 64)})
    assert e.value.code == "rank"
    with pytest.raises(InputValidationError) as e:
        r.run(m.model_id, m.onnx_bytes, m.sample_inputs(11))
    assert e.value.code == "too_large"
    assert r.run(m.model_id, None, m.sample_inputs(10))["probabilities"].shape == (10, 10)


def test_session_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="unknown graph_optimization 'max'"):
        SessionConfig(graph_optimization="max")
    with pytest.raises(ConfigError, match="intra_op_threads must be an integer >= 0"):
        SessionConfig(intra_op_threads=-1)
    with pytest.raises(ConfigError, match="no execution provider"):
        SessionConfig(providers=())
    with pytest.raises(ConfigError, match="max_sessions"):
        InferenceRunner(max_sessions=0)


# ---- trace mode -----------------------------------------------------------------------------------


def node_outputs(data: bytes) -> list[str]:
    return [o for n in onnx.load_from_string(data).graph.node for o in n.output if o]


@pytest.mark.parametrize("name", ZOO)
def test_trace_returns_every_node_output_and_the_same_results(zoo, runner, name):
    m = zoo[name]
    feed = m.sample_inputs(16)
    plain = runner.run(m.model_id, m.onnx_bytes, feed)
    traced = runner.run(m.model_id, m.onnx_bytes, feed, trace=True)
    assert list(traced.trace) == node_outputs(m.onnx_bytes)  # all of them, in node order
    assert len(traced.trace) == len(onnx.load_from_string(m.onnx_bytes).graph.node) + (name == "digits_logreg")
    assert list(traced) == list(plain) == ["label", "probabilities"]
    assert np.array_equal(traced["label"], plain["label"])
    np.testing.assert_allclose(traced["probabilities"], plain["probabilities"], rtol=1e-5, atol=1e-6)
    for out in plain:
        assert np.array_equal(traced.trace[out], traced[out])
    assert traced.runtime["graph_optimization"] == "disable" and traced.runtime["trace"] is True
    assert set(runner.cached()) == {(m.model_id, False), (m.model_id, True)}


def test_cnn_trace_values_are_the_real_intermediates(zoo, runner):
    m = zoo["digits_cnn"]
    t = runner.run(m.model_id, m.onnx_bytes, m.sample_inputs(8), trace=True).trace
    assert [v.shape for v in t.values()] == [(8, 8, 8, 8), (8, 8, 8, 8), (8, 8, 4, 4), (8, 128), (8, 10), (8, 10), (8,)]
    assert np.array_equal(t["relu"], np.maximum(t["conv"], 0))
    assert np.array_equal(t["pool"], t["relu"].reshape(8, 8, 4, 2, 4, 2).max(axis=(3, 5)))
    assert np.array_equal(t["flat"], t["pool"].reshape(8, 128))
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load_from_string(m.onnx_bytes).graph.initializer}
    np.testing.assert_allclose(t["logits"], t["flat"] @ inits["fc.weight"] + inits["fc.bias"], rtol=1e-5, atol=1e-5)
    e = np.exp(t["logits"] - t["logits"].max(axis=1, keepdims=True))
    np.testing.assert_allclose(t["probabilities"], e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)


def test_trace_model_adds_outputs_without_touching_the_original(zoo):
    src = onnx.load_from_string(zoo["digits_mlp"].onnx_bytes)
    before = src.SerializeToString()
    traced, names = trace_model(src)
    assert src.SerializeToString() == before
    assert [o.name for o in traced.graph.output][:2] == ["label", "probabilities"]
    assert sorted(o.name for o in traced.graph.output) == sorted(names)
    assert len(names) == len(set(names)) == sum(len([o for o in n.output if o]) for n in src.graph.node)
