"""`make bench`: start an anvil, measure everything, stop it, write summary.json and REPORT.md.

    python -m bench.run            # full run (a few minutes)
    python -m bench.run --quick    # tiny mode: few jobs, one repetition (the smoke test uses it)

Sections, in order: models (the bench CNN is built and cached on first use), gas (receipts, same
scenario as tests/test_gas.py, checked against tests/gas_snapshot.json), canonical-mode cost,
worker throughput vs plain onnxruntime (bench CNN and digits MLP) with a timeline of one burst,
latency overhead, scaling with 1/2/4 worker processes, fraud proofs (verifier gas table, a dispute
end to end) — each figure the median of several runs with its spread. A section that fails is
recorded as not measured with its error, and the others still run; the anvil is always stopped.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from . import canonical, fraud, gas, machine, models, report, worker_bench
from .chainenv import start_anvil

RESULTS = Path(__file__).resolve().parent / "results"

GOALS = {
    "gas_lifecycle_unbatched": ("<=", 175_000),
    "gas_worker_per_job_batch32": ("<=", 30_000),
    "worker_throughput_ratio": (">=", 0.90),
    "latency_overhead_ms_p50": ("<=", 100.0),
    "fraud_proof_gas_matmul_k512": ("<=", 1_500_000),
    "fraud_to_slash_seconds": ("<=", 30.0),
    "dispute_txs": ("<=", 4),
}

# The keys every summary.json has (None + a note in "notes" when not measured), and their types.
INT_KEYS = ("gas_lifecycle_unbatched", "gas_worker_per_job_batch32", "fraud_proof_gas_matmul_k512", "dispute_txs")
FLOAT_KEYS = ("worker_throughput_ratio", "worker_throughput_ratio_tiny", "latency_overhead_ms_p50",
              "latency_overhead_ms_p95", "fraud_to_slash_seconds")
DICT_KEYS = ("canonical_mode_cost_ratio", "scaling_jobs_per_s", "gas_worker_per_job_by_batch")
REQUIRED_KEYS = INT_KEYS + FLOAT_KEYS + DICT_KEYS


def plan(quick: bool, reps: int | None) -> dict[str, Any]:
    if quick:
        return {"mode": "quick", "reps": reps or 1, "gas_batches": (1, 32), "gas_lifecycles": 1,
                "tput_n": {"bench_cnn": 4, "digits_mlp": 4}, "lat_n": 2, "lat_groups": 1,
                "scaling_counts": (), "scaling_n": 0, "canon_budget_s": 0.05}
    return {"mode": "full", "reps": reps or 3, "gas_batches": gas.BATCHES, "gas_lifecycles": 3,
            "tput_n": {"bench_cnn": 64, "digits_mlp": 64}, "lat_n": 12, "lat_groups": 3,
            "scaling_counts": (1, 2, 4), "scaling_n": 64, "canon_budget_s": 0.4}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny mode: few jobs, one repetition (smoke test)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions per figure (default 3; quick: 1)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="where summary.json, REPORT.md and plots go")
    args = ap.parse_args(argv)
    p = plan(args.quick, args.reps)
    out: Path = args.out
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.time()

    def log(msg: str) -> None:
        print(f"[bench {time.time() - t_start:6.1f}s] {msg}", flush=True)

    s: dict[str, Any] = {k: None for k in REQUIRED_KEYS}
    notes: dict[str, str] = {}
    details: dict[str, Any] = {}
    errors: dict[str, str] = {}

    loads: dict[str, Any] = {}

    def section(name: str, fn: Callable[[], Any]) -> Any:
        log(f"{name} ...")
        t = time.time()
        try:
            r = fn()
            loads[name] = {"seconds": round(time.time() - t, 1), "load_average_after": _load()}
            log(f"{name} done in {time.time() - t:.1f}s (load average {loads[name]['load_average_after']})")
            return r
        except Exception as e:
            errors[name] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            log(f"{name} FAILED: {errors[name]}")
            traceback.print_exc()
            return None

    mach = machine.describe()
    log(f"machine: {mach['cpu_model']}, {mach['cpus_available']} CPUs, load {mach['load_average_at_start']}")
    ms = section("models", lambda: {"bench_cnn": models.bench_cnn(), "digits_mlp": models.digits_mlp(),
                                    "matmul_k512": models.matmul_k512()})
    if ms is None:
        print("cannot build the bench models; nothing to measure", file=sys.stderr)
        return 1
    cnn, mlp = ms["bench_cnn"], ms["digits_mlp"]
    anvil = start_anvil()
    log(f"anvil at {anvil.url}")
    try:
        # ------------------------------------------------------------------ gas
        from .chainenv import deploy

        g = section("gas", lambda: gas.measure(deploy(anvil, work / "gas"), batches=p["gas_batches"],
                                              lifecycles=p["gas_lifecycles"]))
        if g:
            details["gas"] = g
            s["gas_lifecycle_unbatched"] = int(g["table"]["lifecycle_unbatched"])
            s["gas_worker_per_job_batch32"] = int(g["table"]["worker_per_job_batch32"])
            s["gas_worker_per_job_by_batch"] = {str(b): int(g["table"][f"worker_per_job_batch{b}"])
                                                for b in p["gas_batches"]}

        # ------------------------------------------------------------------ canonical mode
        c = section("canonical mode", lambda: canonical.measure([cnn, mlp, ms["matmul_k512"]], reps=p["reps"],
                                                                budget_s=p["canon_budget_s"]))
        if c:
            details["canonical"] = c
            s["canonical_mode_cost_ratio"] = {k: float(v["ratio"]["median"]) for k, v in c.items()}

        # ------------------------------------------------------------------ throughput + latency
        tp: dict[str, Any] = {}
        for m, key in ((cnn, "worker_throughput_ratio"), (mlp, "worker_throughput_ratio_tiny")):
            r = section(f"throughput {m.name}", lambda m=m: worker_bench.throughput(
                anvil, work, m, n=p["tput_n"][m.name], reps=p["reps"], log=log))
            if r:
                tp[m.name] = r
                s[key] = float(r["ratio"]["median"])
        details["throughput"] = tp
        lat = section("latency", lambda: worker_bench.latency(anvil, work, cnn, n=p["lat_n"], groups=p["lat_groups"],
                                                             log=log))
        if lat:
            details["latency"] = lat
            s["latency_overhead_ms_p50"] = float(lat["p50_ms"])
            s["latency_overhead_ms_p95"] = float(lat["p95_ms"])

        # ------------------------------------------------------------------ scaling
        if p["scaling_counts"]:
            sc = section("scaling", lambda: worker_bench.scaling(anvil, work, cnn, counts=p["scaling_counts"],
                                                                 n=p["scaling_n"], reps=max(2, p["reps"] - 1), log=log))
            if sc:
                details["scaling"] = sc
                s["scaling_jobs_per_s"] = {k: float(v["rate"]["median"]) for k, v in sc["points"].items()}
        else:
            notes["scaling_jobs_per_s"] = "not measured: skipped in quick mode"

        # ------------------------------------------------------------------ fraud proofs
        vt = section("verifier gas", lambda: fraud.verifier_table(lambda: deploy(anvil, work / "verifiers"), log=log))
        if vt is not None:
            rows, why = vt
            details["verifiers"] = {"rows": rows, "reason": why}
        dsp = section("dispute", lambda: fraud.dispute(anvil, work, ms["matmul_k512"], log=log))
        if dsp is not None:
            details["dispute"] = dsp
            if dsp.get("measured"):
                s["fraud_to_slash_seconds"] = float(dsp["fraud_to_slash_seconds"])
                s["dispute_txs"] = int(dsp["dispute_txs"])
                if dsp.get("prove_node_gas") is not None:
                    s["fraud_proof_gas_matmul_k512"] = int(dsp["prove_node_gas"])
                else:
                    notes["fraud_proof_gas_matmul_k512"] = (
                        f"not measured: the dispute was settled by {dsp.get('settled_by')}, not proveNode")
            else:
                for k in ("fraud_to_slash_seconds", "dispute_txs", "fraud_proof_gas_matmul_k512"):
                    notes[k] = f"not measured: {dsp['reason']}"
    finally:
        anvil.stop()
        log("anvil stopped")

    for k in REQUIRED_KEYS:
        if s[k] is None and k not in notes:
            sect = _section_of(k)
            notes[k] = f"not measured: section '{sect}' failed: {errors.get(sect, 'no result')}"
    mach["load_average_at_end"] = _load()
    details["sections"] = loads
    summary = {
        **s,
        "goals": {k: {"op": op, "value": v} for k, (op, v) in GOALS.items()},
        "notes": notes,
        "errors": errors,
        "mode": p["mode"],
        "repetitions": p["reps"],
        "runtime_seconds": round(time.time() - t_start, 1),
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": mach,
        "models": {k: {"description": m.description, "model_id": m.model_id, "onnx_bytes": len(m.onnx_bytes),
                       **{kk: vv for kk, vv in m.meta.items() if kk != "cached"}} for k, m in ms.items()},
        "details": details,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=_jsonable) + "\n")
    section("report", lambda: report.write(summary, out))
    log(f"wrote {out / 'summary.json'} and {out / 'REPORT.md'} in {summary['runtime_seconds']:.0f}s")
    return 0


def _load() -> list[float] | None:
    import os

    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _section_of(key: str) -> str:
    if key.startswith("gas"):
        return "gas"
    if key.startswith("canonical"):
        return "canonical mode"
    if key == "worker_throughput_ratio":
        return "throughput bench_cnn"
    if key == "worker_throughput_ratio_tiny":
        return "throughput digits_mlp"
    if key.startswith("latency"):
        return "latency"
    if key.startswith("scaling"):
        return "scaling"
    return "dispute"


def _jsonable(v: Any) -> Any:
    import numpy as np

    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (bytes, bytearray)):
        return "0x" + bytes(v).hex()
    if isinstance(v, (set, tuple)):
        return list(v)
    return str(v)


if __name__ == "__main__":
    sys.exit(main())
