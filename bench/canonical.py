"""Cost of the canonical execution mode (docs/fraud-proofs.md): onnxruntime with graph optimisations
disabled and every node output kept as a graph output — `InferenceRunner.run(..., trace=True)` —
against plain onnxruntime with default session options, per model.

Both sides use onnxruntime's default thread count (the worker's default, `intra_op_threads: 0`).
Per repetition the two are timed back to back on the same inputs and their ratio taken (pair by
pair); the figure is the median ratio. The runner's plain mode (`trace=False`: input validation and
output packaging, optimisations on) is timed too, so the cost of the canonical mode itself can be
told apart from the runner's bookkeeping.
"""

from __future__ import annotations

import time
from typing import Any

from .models import BenchModel
from .stats import summarize


def _time_runner(runner, model: BenchModel, n: int, trace: bool) -> float:
    mid = model.model_id
    runner.run(mid, model.onnx_bytes, model.feed(0), trace=trace)  # load + warm
    for i in range(2):
        runner.run(mid, None, model.feed(i), trace=trace)
    t0 = time.perf_counter()
    for i in range(n):
        runner.run(mid, None, model.feed(i), trace=trace)
    return (time.perf_counter() - t0) / n


def _time_plain(model: BenchModel, n: int) -> float:
    import onnxruntime as ort

    sess = ort.InferenceSession(model.onnx_bytes, ort.SessionOptions(), providers=["CPUExecutionProvider"])
    for i in range(3):
        sess.run(None, model.feed(i))
    t0 = time.perf_counter()
    for i in range(n):
        sess.run(None, model.feed(i))
    return (time.perf_counter() - t0) / n


def measure(models: list[BenchModel], *, reps: int, budget_s: float = 1.0) -> dict[str, Any]:
    """Per model: canonical ÷ plain (median of per-repetition ratios), with the times behind it."""
    from assay.inference.runner import InferenceRunner, SessionConfig

    out = {}
    for m in models:
        runner = InferenceRunner(SessionConfig(intra_op_threads=0))
        probe = _time_plain(m, 5)
        n = max(5, min(2000, int(budget_s / max(probe, 1e-6))))
        canon, plain, runner_plain, nodes = [], [], [], None
        for _ in range(reps):
            p = _time_plain(m, n)
            c = _time_runner(runner, m, n, trace=True)
            rp = _time_runner(runner, m, n, trace=False)
            plain.append(p)
            canon.append(c)
            runner_plain.append(rp)
        out[m.name] = {
            "ratio": summarize(c / p for c, p in zip(canon, plain)),
            "runner_plain_ratio": summarize(r / p for r, p in zip(runner_plain, plain)),
            "plain_ms": summarize(1000 * x for x in plain),
            "canonical_ms": summarize(1000 * x for x in canon),
            "runs_per_rep": n,
            "nodes": _n_nodes(m),
        }
    return out


def _n_nodes(m: BenchModel) -> int:
    import onnx

    return len(onnx.load_from_string(m.onnx_bytes).graph.node)
