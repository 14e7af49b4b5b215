"""Smoke test of the benchmark harness (`make bench`): `python -m bench.run --quick` on its own anvil,
with real worker subprocesses, writes a summary.json that has every key with the right type (or
None with a "not measured: <reason>" note), gas figures equal to the committed snapshot, and a
REPORT.md with its plots. Tiny mode: a few jobs, one repetition (well under a minute)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import DICT_KEYS, FLOAT_KEYS, GOALS, INT_KEYS, REQUIRED_KEYS  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "offchain"), str(ROOT)]))
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)
    took = time.monotonic() - t0
    assert proc.returncode == 0, f"bench.run --quick failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    summary = json.loads((out / "summary.json").read_text())
    return out, summary, took, proc.stdout


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def test_quick_bench_writes_every_key_with_its_type_or_a_reason(quick_run):
    _out, s, _took, _log = quick_run
    missing = [k for k in REQUIRED_KEYS if k not in s]
    assert not missing, f"summary.json lacks {missing}"
    for k in REQUIRED_KEYS:
        v = s[k]
        if v is None:
            assert s["notes"].get(k, "").startswith("not measured: "), f"{k} is null without a reason"
            assert len(s["notes"][k]) > len("not measured: ") + 5
        elif k in INT_KEYS:
            assert _is_int(v) and v > 0, f"{k} = {v!r} is not a positive integer"
        elif k in FLOAT_KEYS:
            assert isinstance(v, float) and v > 0, f"{k} = {v!r} is not a positive float"
        else:
            assert k in DICT_KEYS and isinstance(v, dict) and v, f"{k} = {v!r} is not a non-empty mapping"
            assert all(isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 for x in v.values()), k
    assert set(GOALS) <= set(s["goals"])
    assert s["machine"]["cpu_model"] and s["machine"]["onnxruntime"]


def test_quick_bench_measures_the_core_figures(quick_run):
    """Gas, throughput, latency and the canonical-mode ratio need nothing that is still being built."""
    _out, s, _took, _log = quick_run
    for k in ("gas_lifecycle_unbatched", "gas_worker_per_job_batch32", "worker_throughput_ratio",
              "worker_throughput_ratio_tiny", "latency_overhead_ms_p50", "latency_overhead_ms_p95",
              "canonical_mode_cost_ratio"):
        assert s[k] is not None, f"{k} not measured: {s['notes'].get(k)} / errors {s['errors']}"
    assert s["latency_overhead_ms_p50"] <= s["latency_overhead_ms_p95"]
    assert 0 < s["worker_throughput_ratio_tiny"] < s["worker_throughput_ratio"] < 10
    assert set(s["canonical_mode_cost_ratio"]) == {"bench_cnn", "digits_mlp", "matmul_k512"}
    assert s["models"]["bench_cnn"]["macs"] > 100e6  # the compute-bound model really is


def test_quick_bench_gas_equals_the_committed_snapshot(quick_run):
    _out, s, _took, _log = quick_run
    snap = json.loads((ROOT / "tests" / "gas_snapshot.json").read_text())
    assert s["gas_lifecycle_unbatched"] == snap["lifecycle_unbatched"]
    assert s["gas_worker_per_job_batch32"] == snap["worker_per_job_batch32"]
    rows = s["details"]["gas"]["snapshot"]["rows"]
    assert all(r["diff"] == 0 for r in rows.values() if r["diff"] is not None)


def test_quick_bench_writes_a_report_with_plots(quick_run):
    out, s, took, _log = quick_run
    report = (out / "REPORT.md").read_text()
    assert "## Goals" in report and "## Machine" in report
    for k in GOALS:
        assert f"`{k}`" in report
    pngs = [line.split("(")[1].rstrip(")") for line in report.splitlines() if line.startswith("![")]
    assert len(pngs) >= 4
    for name in pngs:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert took < 90, f"quick bench took {took:.0f}s (typically ~30 s)"
