"""The models the benchmarks run, built at bench time (no download, no torch).

- ``bench_cnn``: a compute-bound image classifier on 1×96×96 grey images — six 3×3 convolutions
  with ReLU in four stages (32 | 64→64 | 128→128 | 256 channels) with 2×2 max-pooling between
  stages, global average pooling, a 256→10 Gemm, Softmax and ArgMax: about 300 M multiply-adds per
  image, 0.57 M weights (VGG-like; a sixth of ResNet-18's cost at 224×224). The convolution
  filters are He-initialised with a fixed seed (a random-feature trunk); the classifier head is
  *trained* — multinomial logistic regression (scikit-learn) on the trunk's pooled features of
  scikit-learn's bundled digits, upscaled 8×8 → 96×96 — so the model really classifies and the
  bench reports its held-out accuracy. What matters for the benchmarks is its cost (≥ 5 ms per
  inference on the bench machine, checked and reported), which does not depend on the weights'
  values.
- ``digits_mlp``: the tiny scikit-learn MLP of :mod:`assay.modelzoo` (64→64→10), where chain
  overhead dominates.
- ``matmul_k512``: one MatMul [1, 512] × [512, 512] (+ Relu), the size the fraud-proof gas goal
  names.

Built models are cached under the model-zoo cache directory keyed by their recipe, so only the first
run pays for feature extraction and training (a few seconds).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

OPSET = 17
CNN_SIZE = 96
# conv3×3 channels per stage; a 2×2 max-pool follows every stage but the last
CNN_STAGES = ((32,), (64, 64), (128, 128), (256,))
CNN_SEED = 7
CNN_TRAIN_IMAGES = 500  # training images for the head (feature extraction dominates build time)
CNN_TEST_IMAGES = 250
CNN_RECIPE = 1  # bump when the architecture or training changes


@dataclass(frozen=True)
class BenchModel:
    name: str
    onnx_bytes: bytes
    input_name: str
    inputs: np.ndarray  # example inputs, one per row: inputs[i:i+1] is one job's input
    description: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        return "0x" + hashlib.sha256(self.onnx_bytes).hexdigest()

    def feed(self, i: int) -> dict[str, np.ndarray]:
        j = i % len(self.inputs)
        return {self.input_name: np.ascontiguousarray(self.inputs[j : j + 1])}


# --------------------------------------------------------------------------------------------------
# the CNN


def _upscale(x8: np.ndarray, size: int = CNN_SIZE) -> np.ndarray:
    """[N, 64] digits pixels in [0, 1] → [N, 1, size, size] float32, bilinear (separable)."""
    img = x8.reshape(-1, 8, 8).astype(np.float32)
    src = (np.arange(size) + 0.5) * 8 / size - 0.5
    lo = np.clip(np.floor(src).astype(int), 0, 7)
    hi = np.clip(lo + 1, 0, 7)
    w = np.clip(src - lo, 0.0, 1.0).astype(np.float32)
    rows = img[:, lo, :] * (1 - w)[None, :, None] + img[:, hi, :] * w[None, :, None]
    out = rows[:, :, lo] * (1 - w)[None, None, :] + rows[:, :, hi] * w[None, None, :]
    return np.ascontiguousarray(out[:, None, :, :], dtype=np.float32)


def _trunk_params(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    stages, cin = [], 1
    for stage in CNN_STAGES:
        convs = []
        for cout in stage:
            w = rng.normal(0.0, np.sqrt(2.0 / (cin * 9)), size=(cout, cin, 3, 3)).astype(np.float32)
            convs.append((w, np.zeros(cout, np.float32)))
            cin = cout
        stages.append(convs)
    return stages


def _cnn_graph(trunk, head_w: np.ndarray | None, head_b: np.ndarray | None, *, features_only: bool = False) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    inits, nodes, x = [], [], "input"
    for si, stage in enumerate(trunk):
        for ci, (w, b) in enumerate(stage):
            i = f"{si}{'abcd'[ci]}"
            inits += [numpy_helper.from_array(w, f"conv{i}.weight"), numpy_helper.from_array(b, f"conv{i}.bias")]
            nodes.append(helper.make_node("Conv", [x, f"conv{i}.weight", f"conv{i}.bias"], [f"conv{i}"], name=f"conv{i}",
                                          kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]))
            nodes.append(helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"], name=f"relu{i}"))
            x = f"relu{i}"
        if si < len(trunk) - 1:
            nodes.append(helper.make_node("MaxPool", [x], [f"pool{si}"], name=f"pool{si}", kernel_shape=[2, 2], strides=[2, 2]))
            x = f"pool{si}"
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["features"], name="flatten", axis=1))
    n = "N"
    if features_only:
        outputs = [helper.make_tensor_value_info("features", TensorProto.FLOAT, [n, CNN_STAGES[-1][-1]])]
    else:
        inits += [numpy_helper.from_array(head_w, "fc.weight"), numpy_helper.from_array(head_b, "fc.bias")]
        nodes += [
            helper.make_node("Gemm", ["features", "fc.weight", "fc.bias"], ["logits"], name="fc"),
            helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1),
            helper.make_node("ArgMax", ["probabilities"], ["label"], name="argmax", axis=1, keepdims=0),
        ]
        outputs = [helper.make_tensor_value_info("label", TensorProto.INT64, [n]),
                   helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [n, 10])]
    graph = helper.make_graph(nodes, "bench_cnn", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [n, 1, CNN_SIZE, CNN_SIZE])],
                              outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="assay.bench")
    model.doc_string = "bench CNN: random-feature conv trunk, logistic-regression head trained on upscaled digits"
    return model.SerializeToString(deterministic=True)


def _features(onnx_bytes: bytes, x: np.ndarray, batch: int = 50) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(["features"], {"input": x[i:i + batch]})[0] for i in range(0, len(x), batch)])


def _build_cnn() -> tuple[bytes, np.ndarray, dict[str, Any]]:
    import warnings

    from sklearn.linear_model import LogisticRegression

    from assay.modelzoo import _digits

    t0 = time.perf_counter()
    x_tr, x_te, y_tr, y_te = _digits()
    trunk = _trunk_params(CNN_SEED)
    feat_model = _cnn_graph(trunk, None, None, features_only=True)
    xtr = _upscale(x_tr[:CNN_TRAIN_IMAGES])
    xte = _upscale(x_te[:CNN_TEST_IMAGES])
    y_te = y_te[:CNN_TEST_IMAGES]
    ftr = _features(feat_model, xtr)
    fte = _features(feat_model, xte)
    mu, sd = ftr.mean(axis=0), ftr.std(axis=0) + 1e-6
    clf = LogisticRegression(max_iter=2000, C=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit((ftr - mu) / sd, y_tr[:CNN_TRAIN_IMAGES])
    acc = float(clf.score((fte - mu) / sd, y_te))
    # Fold the standardisation into the Gemm: logits = ((f - mu) / sd) @ W^T + b.
    w = (clf.coef_ / sd[None, :]).T.astype(np.float32)  # [128, 10]
    b = (clf.intercept_ - (clf.coef_ * (mu / sd)[None, :]).sum(axis=1)).astype(np.float32)
    data = _cnn_graph(trunk, w, b)
    meta = {"accuracy": acc, "train_images": int(CNN_TRAIN_IMAGES), "test_images": int(len(y_te)),
            "build_seconds": round(time.perf_counter() - t0, 2)}
    return data, xte[:64], meta


def bench_cnn(cache: bool = True) -> BenchModel:
    from assay.modelzoo import _versions, cache_dir

    key = hashlib.sha256(json.dumps({"recipe": CNN_RECIPE, "size": CNN_SIZE, "stages": CNN_STAGES, "seed": CNN_SEED,
                                     "n": CNN_TRAIN_IMAGES, **_versions()}, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir()) / f"bench_cnn-{key}.npz"
    data = inputs = meta = None
    if cache and path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                data, inputs = z["onnx"].tobytes(), z["inputs"]
                meta = json.loads(z["meta"].tobytes().decode())
            meta["cached"] = True
        except (OSError, ValueError, KeyError):
            data = None
    if data is None:
        data, inputs, meta = _build_cnn()
        if cache:
            import io
            import os
            import tempfile

            path.parent.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            np.savez(buf, onnx=np.frombuffer(data, np.uint8), inputs=inputs,
                     meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
            with os.fdopen(fd, "wb") as f:
                f.write(buf.getvalue())
            os.replace(tmp, path)
        meta["cached"] = False
    macs = _cnn_macs()
    n_conv = sum(len(st) for st in CNN_STAGES)
    desc = (f"CNN on 1×{CNN_SIZE}×{CNN_SIZE} grey images: {n_conv} conv3×3 + ReLU in {len(CNN_STAGES)} stages of "
            f"{_stages_text()} channels, 2×2 max-pool between stages, global average pool, Gemm "
            f"{CNN_STAGES[-1][-1]}→10, Softmax, ArgMax; {macs / 1e6:.0f} M multiply-adds per image, "
            f"{_n_weights():,} weights; He-initialised conv trunk (seed {CNN_SEED}) + logistic-regression head trained on "
            f"{meta['train_images']} digits upscaled to {CNN_SIZE}×{CNN_SIZE} (held-out accuracy {meta['accuracy']:.3f})")
    return BenchModel("bench_cnn", data, "input", inputs, desc, {**meta, "macs": macs, "weights": _n_weights()})


def _cnn_macs() -> int:
    macs, cin, s = 0, 1, CNN_SIZE
    for si, stage in enumerate(CNN_STAGES):
        for cout in stage:
            macs += s * s * cout * cin * 9
            cin = cout
        if si < len(CNN_STAGES) - 1:
            s //= 2
    return macs + cin * 10


def _n_weights() -> int:
    n, cin = 0, 1
    for stage in CNN_STAGES:
        for cout in stage:
            n += cout * cin * 9 + cout
            cin = cout
    return n + cin * 10 + 10


def _stages_text() -> str:
    return " | ".join("→".join(str(c) for c in st) for st in CNN_STAGES)


# --------------------------------------------------------------------------------------------------
# the others


def digits_mlp() -> BenchModel:
    from assay import modelzoo

    z = modelzoo.digits_mlp()
    return BenchModel("digits_mlp", z.onnx_bytes, z.input_name, z.x_test[:64],
                      f"scikit-learn MLP 64→64→10 (ReLU) on 8×8 digits, via skl2onnx (accuracy {z.accuracy:.3f})",
                      {"accuracy": z.accuracy})


def matmul_k512(k: int = 512, n: int = 512) -> BenchModel:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = (rng.normal(0, 1 / np.sqrt(k), size=(k, n))).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "w"], ["mm"], name="mm"),
         helper.make_node("Relu", ["mm"], ["output"], name="relu")],
        "matmul_k512", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", k])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", n])],
        initializer=[numpy_helper.from_array(w, "w")])
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                             producer_name="assay.bench").SerializeToString(deterministic=True)
    x = rng.normal(size=(16, k)).astype(np.float32)
    return BenchModel("matmul_k512", data, "input", x, f"MatMul [1, {k}] × [{k}, {n}] + Relu (random weights)", {"k": k})
