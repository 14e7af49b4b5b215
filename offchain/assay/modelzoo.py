"""Small real models, trained on the spot, for tests, demos and benchmarks.

Each function trains a model on scikit-learn's bundled 8×8 digits data set (no download), exports it
to ONNX and returns a :class:`ZooModel`: the ONNX bytes, the held-out test set in the model's input
layout and the accuracy the trainer measured on it. Training is deterministic for a given seed, and
the result is cached on disk keyed by (name, seed, library versions, zoo version), so repeat runs take
milliseconds. The cache lives in ``$ASSAY_MODELZOO_CACHE`` (else ``$XDG_CACHE_HOME/assay/modelzoo``,
else ``~/.cache/assay/modelzoo``); a damaged or stale entry is retrained, never trusted.

- ``digits_mlp``: scikit-learn MLPClassifier (64→64→10, ReLU) via skl2onnx; standard ONNX ops only on
  the probability path (MatMul, Add, Relu, Softmax).
- ``digits_logreg``: scikit-learn LogisticRegression via skl2onnx (ai.onnx.ml LinearClassifier).
- ``digits_cnn``: Conv(3×3, 8 ch) → Relu → MaxPool(2×2) → Flatten → Gemm → Softmax, built with
  onnx.helper and trained with plain numpy (Adam, cross-entropy) — real training, no torch.

All three take a float32 input named ``input`` with a symbolic batch dimension ``N`` and return
``label`` (int64 [N]) and ``probabilities`` (float32 [N, 10]). This module never downloads anything.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

ZOO_VERSION = 1  # bump when training or export changes, so stale cache entries are not reused
SPLIT_SEED = 0  # the train/test split is the same for every model seed, so accuracies compare
TEST_FRACTION = 0.25
OPSET = 17
ML_OPSET = 3
BATCH_DIM = "N"


@dataclass(frozen=True)
class ZooModel:
    """A trained model: ONNX bytes plus the held-out data it was scored on."""

    name: str
    seed: int
    onnx_bytes: bytes
    input_name: str
    x_test: np.ndarray  # in the model's input layout, float32
    y_test: np.ndarray  # int64 labels
    accuracy: float  # measured by the trainer (sklearn / numpy) on x_test
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        """sha256 hex of the ONNX bytes (the on-chain model id)."""
        return hashlib.sha256(self.onnx_bytes).hexdigest()

    def sample_inputs(self, n: int = 8) -> dict[str, np.ndarray]:
        """The first ``n`` test examples as an input feed."""
        return {self.input_name: np.ascontiguousarray(self.x_test[:n])}


# --------------------------------------------------------------------------------------------------
# data


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, x_test, y_train, y_test): pixels scaled to [0, 1] float32, stratified fixed split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    y = y.astype(np.int64)
    return train_test_split(x, y, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=y)


# --------------------------------------------------------------------------------------------------
# scikit-learn models


def _sklearn_to_onnx(clf, name: str) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = convert_sklearn(
            clf,
            initial_types=[("input", FloatTensorType([None, 64]))],
            options={id(clf): {"zipmap": False}},  # probabilities as a plain [N, 10] tensor
            target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
        )
    model.graph.name = name  # skl2onnx puts a random uuid here; the bytes must not depend on it
    # Name the batch dimension (skl2onnx leaves it anonymous) so specs and errors can refer to it.
    for vi in list(model.graph.input) + list(model.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = BATCH_DIM
    # skl2onnx may list the same opset twice; keep one entry per domain.
    seen: dict[str, int] = {}
    for op in model.opset_import:
        seen[op.domain] = max(seen.get(op.domain, 0), op.version)
    del model.opset_import[:]
    for domain, version in sorted(seen.items()):
        entry = model.opset_import.add()
        entry.domain, entry.version = domain, version
    return model.SerializeToString(deterministic=True)


def _train_mlp(seed: int) -> tuple[bytes, dict[str, Any]]:
    from sklearn.neural_network import MLPClassifier

    x_tr, x_te, y_tr, y_te = _digits()
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=200, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: 200 epochs are plenty for digits
        clf.fit(x_tr, y_tr)
    return _sklearn_to_onnx(clf, "digits_mlp"), {"accuracy": float(clf.score(x_te, y_te)), "train_accuracy": float(clf.score(x_tr, y_tr))}


def _train_logreg(seed: int) -> tuple[bytes, dict[str, Any]]:
    from sklearn.linear_model import LogisticRegression

    x_tr, x_te, y_tr, y_te = _digits()
    clf = LogisticRegression(max_iter=1000, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(x_tr, y_tr)
    return _sklearn_to_onnx(clf, "digits_logreg"), {"accuracy": float(clf.score(x_te, y_te)), "train_accuracy": float(clf.score(x_tr, y_tr))}


# --------------------------------------------------------------------------------------------------
# a CNN trained with numpy

CNN_CHANNELS = 8
CNN_EPOCHS = 20
CNN_BATCH = 32
CNN_LR = 0.01


def _im2col(x: np.ndarray) -> np.ndarray:
    """[N, 8, 8] → [N, 64, 9]: the 3×3 neighbourhood (zero padding 1) of each pixel, row-major."""
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))  # [N, 8, 8, 3, 3]
    return win.reshape(x.shape[0], 64, 9)


def _cnn_forward(params: dict[str, np.ndarray], cols: np.ndarray):
    """Forward pass mirroring the exported ONNX graph; returns logits and what backward needs."""
    w1, b1, w2, b2 = params["w1"], params["b1"], params["w2"], params["b2"]
    n, c = cols.shape[0], w1.shape[0]
    conv = cols @ w1.reshape(c, 9).T + b1  # [N, 64, C] (pixel-major, channel last)
    act = np.maximum(conv, 0.0)
    win = act.reshape(n, 4, 2, 4, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, 4, 4, c, 4)
    arg = win.argmax(axis=-1)  # [N, 4, 4, C]
    pooled = np.take_along_axis(win, arg[..., None], axis=-1)[..., 0]
    flat = pooled.transpose(0, 3, 1, 2).reshape(n, c * 16)  # ONNX Flatten of [N, C, 4, 4]
    logits = flat @ w2 + b2
    return logits, (conv, win.shape, arg, flat)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _cnn_grads(params, cols, y):
    n, c = cols.shape[0], params["w1"].shape[0]
    logits, (conv, win_shape, arg, flat) = _cnn_forward(params, cols)
    p = _softmax(logits)
    loss = -np.log(p[np.arange(n), y] + 1e-12).mean()
    d_logits = p
    d_logits[np.arange(n), y] -= 1.0
    d_logits /= n
    g = {"w2": flat.T @ d_logits, "b2": d_logits.sum(axis=0)}
    d_pooled = (d_logits @ params["w2"].T).reshape(n, c, 4, 4).transpose(0, 2, 3, 1)  # [N, 4, 4, C]
    d_win = np.zeros(win_shape)
    np.put_along_axis(d_win, arg[..., None], d_pooled[..., None], axis=-1)
    d_act = d_win.reshape(n, 4, 4, c, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(n, 64, c)
    d_conv = d_act * (conv > 0)
    g["w1"] = np.einsum("npk,npc->ck", cols, d_conv).reshape(c, 1, 3, 3)
    g["b1"] = d_conv.sum(axis=(0, 1))
    return loss, g


def _train_cnn_params(seed: int, x_tr: np.ndarray, y_tr: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = CNN_CHANNELS
    params = {
        "w1": rng.normal(0.0, np.sqrt(2.0 / 9), size=(c, 1, 3, 3)),
        "b1": np.zeros(c),
        "w2": rng.normal(0.0, np.sqrt(2.0 / (c * 16)), size=(c * 16, 10)),
        "b2": np.zeros(10),
    }
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(v) for k, v in params.items()}
    beta1, beta2, eps, step = 0.9, 0.999, 1e-8, 0
    cols_all = _im2col(x_tr.reshape(-1, 8, 8).astype(np.float64))
    for _ in range(CNN_EPOCHS):
        order = rng.permutation(len(y_tr))
        for start in range(0, len(order), CNN_BATCH):
            idx = order[start : start + CNN_BATCH]
            _, g = _cnn_grads(params, cols_all[idx], y_tr[idx])
            step += 1
            for k in params:
                m[k] = beta1 * m[k] + (1 - beta1) * g[k]
                v[k] = beta2 * v[k] + (1 - beta2) * g[k] ** 2
                mh = m[k] / (1 - beta1**step)
                vh = v[k] / (1 - beta2**step)
                params[k] -= CNN_LR * mh / (np.sqrt(vh) + eps)
    return {k: val.astype(np.float32) for k, val in params.items()}


def _cnn_onnx(params: dict[str, np.ndarray]) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    c = params["w1"].shape[0]
    inits = [
        numpy_helper.from_array(params["w1"], "conv.weight"),
        numpy_helper.from_array(params["b1"], "conv.bias"),
        numpy_helper.from_array(params["w2"], "fc.weight"),
        numpy_helper.from_array(params["b2"], "fc.bias"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["conv"], name="conv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"], name="relu"),
        helper.make_node("MaxPool", ["relu"], ["pool"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["pool"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="fc"),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1),
        helper.make_node("ArgMax", ["probabilities"], ["label"], name="argmax", axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "digits_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [BATCH_DIM, 1, 8, 8])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [BATCH_DIM]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [BATCH_DIM, 10]),
        ],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="assay.modelzoo")
    model.doc_string = f"digits CNN ({c} channels) trained with numpy"
    return model.SerializeToString(deterministic=True)


def _train_cnn(seed: int) -> tuple[bytes, dict[str, Any]]:
    x_tr, x_te, y_tr, y_te = _digits()
    params = _train_cnn_params(seed, x_tr, y_tr)

    def acc(x, y):
        logits, _ = _cnn_forward(params, _im2col(x.reshape(-1, 8, 8)))
        return float((logits.argmax(axis=1) == y).mean())

    return _cnn_onnx(params), {"accuracy": acc(x_te, y_te), "train_accuracy": acc(x_tr, y_tr)}


# --------------------------------------------------------------------------------------------------
# cache and public entry points


def cache_dir() -> Path:
    env = os.environ.get("ASSAY_MODELZOO_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "assay" / "modelzoo"


def _versions() -> dict[str, str]:
    import onnx
    import sklearn

    v = {"zoo": str(ZOO_VERSION), "numpy": np.__version__, "onnx": onnx.__version__, "sklearn": sklearn.__version__}
    try:
        import skl2onnx

        v["skl2onnx"] = skl2onnx.__version__
    except ImportError:  # only the sklearn models need it
        pass
    return v


def _cache_path(directory: Path, name: str, seed: int) -> Path:
    key = hashlib.sha256(json.dumps({"name": name, "seed": seed, **_versions()}, sort_keys=True).encode()).hexdigest()
    return directory / f"{name}-seed{seed}-{key[:16]}.npz"


def _read_cache(path: Path, name: str, seed: int) -> ZooModel | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            onnx_bytes = z["onnx"].tobytes()
            meta = json.loads(z["meta"].tobytes().decode())
            x_test, y_test = z["x_test"], z["y_test"]
    except (OSError, ValueError, KeyError):
        return None  # absent or damaged: retrain
    if hashlib.sha256(onnx_bytes).hexdigest() != meta.get("model_id"):
        return None
    return ZooModel(name, seed, onnx_bytes, meta["input_name"], x_test, y_test, meta["accuracy"], meta)


def _write_cache(path: Path, model: ZooModel) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(
        buf,
        onnx=np.frombuffer(model.onnx_bytes, dtype=np.uint8),
        meta=np.frombuffer(json.dumps(model.meta, sort_keys=True).encode(), dtype=np.uint8),
        x_test=model.x_test,
        y_test=model.y_test,
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getvalue())
        os.replace(tmp, path)  # atomic: readers see the old file or the whole new one
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_TRAINERS: dict[str, Callable[[int], tuple[bytes, dict[str, Any]]]] = {
    "digits_mlp": _train_mlp,
    "digits_logreg": _train_logreg,
    "digits_cnn": _train_cnn,
}


def load(name: str, seed: int = 0, *, cache: bool | str | Path = True) -> ZooModel:
    """Train (or load from cache) the zoo model ``name``. ``cache=False`` always retrains;
    a path uses that directory as the cache."""
    if name not in _TRAINERS:
        from .errors import AssayError

        raise AssayError(f"unknown zoo model {name!r}", f"choose one of {', '.join(sorted(_TRAINERS))}")
    path = None
    if cache is not False:
        path = _cache_path(cache_dir() if cache is True else Path(cache), name, seed)
        hit = _read_cache(path, name, seed)
        if hit is not None:
            return hit
    t0 = time.perf_counter()
    onnx_bytes, scores = _TRAINERS[name](seed)
    _, x_test, _, y_test = _digits()
    if name == "digits_cnn":
        x_test = x_test.reshape(-1, 1, 8, 8)
    meta = {
        "name": name,
        "seed": seed,
        "model_id": hashlib.sha256(onnx_bytes).hexdigest(),
        "input_name": "input",
        "train_seconds": round(time.perf_counter() - t0, 3),
        "versions": _versions(),
        **scores,
    }
    model = ZooModel(name, seed, onnx_bytes, "input", np.ascontiguousarray(x_test, dtype=np.float32),
                     y_test.astype(np.int64), scores["accuracy"], meta)
    if path is not None:
        _write_cache(path, model)
    return model


def digits_mlp(seed: int = 0, *, cache: bool | str | Path = True) -> ZooModel:
    """MLPClassifier (one hidden layer of 64 ReLU units) on digits, via skl2onnx."""
    return load("digits_mlp", seed, cache=cache)


def digits_logreg(seed: int = 0, *, cache: bool | str | Path = True) -> ZooModel:
    """Multinomial LogisticRegression on digits, via skl2onnx (ai.onnx.ml LinearClassifier)."""
    return load("digits_logreg", seed, cache=cache)


def digits_cnn(seed: int = 0, *, cache: bool | str | Path = True) -> ZooModel:
    """Conv→Relu→MaxPool→Flatten→Gemm→Softmax on 1×8×8 digits, trained with numpy."""
    return load("digits_cnn", seed, cache=cache)


def names() -> list[str]:
    return sorted(_TRAINERS)
