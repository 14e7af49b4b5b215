"""The worker's figures: throughput against plain onnxruntime, latency overhead, scaling with worker
processes, and how inference and chain I/O share the worker's time.

Each section starts real `assay worker run` subprocesses on a fresh deployment of the bench's anvil
(automine), warms them up with one job each (model fetched and checked, session built), then:

- throughput: per repetition, plain onnxruntime on n inputs, then a burst of n jobs with the same
  inputs through the worker; the ratio is taken pair by pair (same repetition), then the median;
- latency: one job at a time through `Assay.submit`; overhead = (post mined − submit mined) − the
  worker's own inference time for that job;
- scaling: the same burst through 1, 2 and 4 worker processes (distinct staked accounts);
- timeline: for one burst, when each job was claimed, computed (from the worker's execution
  records) and posted, and how much of the wall time the worker spent in inference.

Between repetitions, chain time is advanced past the challenge window so that the workers finalize
what they posted (a worker re-reads every job it has posted each tick until it is final).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .chainenv import (UNIT, WORKER_ACCOUNTS, Deployment, WorkerProc, deploy, logged_ids, records, start_worker,
                       wait_for)
from .models import BenchModel
from .stats import percentile, summarize
from .workload import Requester, plain_ort, warm_up, worker_throughput

POLL = 0.05  # worker poll interval for every bench run (seconds)
WORKER_CFG = {"max_concurrent_jobs": 32, "max_batch": 32}
# Scaling: batches of 16 so that a 64-job burst can be shared by up to 4 workers.
SCALING_CFG = {"max_concurrent_jobs": 16, "max_batch": 16}


class Rig:
    """A deployment with one model registered, a requester and k staked, warmed-up workers."""

    def __init__(self, anvil, directory: Path, model: BenchModel, n_workers: int = 1, tag: str = "w",
                 worker_cfg: dict[str, Any] | None = None):
        self.dep: Deployment = deploy(anvil, directory)
        self.model = model
        self.model_id = self.dep.register(model.onnx_bytes)
        self.req = Requester(self.dep, model, self.model_id)
        self.workers: list[WorkerProc] = []
        for k in range(n_workers):
            acct = WORKER_ACCOUNTS[k]
            self.dep.sdk(acct, f"stake-{acct}").stake(200 * UNIT)
            self.workers.append(start_worker(self.dep, acct, f"{tag}{k}", model_ids=[self.model_id],
                                             poll_interval=POLL, extra=dict(worker_cfg or WORKER_CFG)))
        self.next_input = 0
        warm_up(self.req, self.workers)

    def burst(self, n: int) -> dict[str, Any]:
        r = worker_throughput(self.req, self.workers, n, first=self.next_input)
        self.next_input += n
        return r

    def finalize(self, ids: list[int], timeout: float = 90) -> None:
        """Advance past the challenge window and wait for the workers to finalize `ids`."""
        self.dep.advance(int(self.req.params["challenge_window"]) + 1)
        want = set(ids)
        wait_for(lambda: want <= set(logged_ids(self.workers, "finalized")), timeout, "jobs finalized",
                 lambda: "\n".join(w.log_tail(10) for w in self.workers), poll=0.1)

    def close(self) -> None:
        for w in self.workers:
            w.stop()
        self.dep.close()


def _ids_done(workers: list[WorkerProc]) -> set[int]:
    return set(logged_ids(workers, "posted"))


def throughput(anvil, workdir: Path, model: BenchModel, *, n: int, reps: int,
               log: Callable[[str], None] = print) -> dict[str, Any]:
    """Pairwise (plain onnxruntime, worker) runs on the same inputs; ratio per pair."""
    rig = Rig(anvil, workdir / f"tput-{model.name}", model)
    try:
        runs = []
        for r in range(reps):
            # Plain onnxruntime right before and right after the burst (the machine's load drifts on
            # the scale of seconds; bracketing the burst pairs the two sides more fairly).
            before = plain_ort(model, n)
            w = rig.burst(n)
            after = plain_ort(model, n)
            ort = {"rate": 2 * n / (n / before["rate"] + n / after["rate"]),
                   "ms_mean": (before["ms_mean"] + after["ms_mean"]) / 2}
            rec = records(rig.dep, rig.workers[0], w["job_ids"])
            infer = [x["infer_ms"] for x in rec.values()]
            runs.append({"ort_rate": ort["rate"], "ort_ms_mean": ort["ms_mean"], "ort_rate_before": before["rate"],
                         "ort_rate_after": after["rate"], "worker_rate": w["rate"],
                         "worker_seconds": w["seconds"], "ratio": w["rate"] / ort["rate"],
                         "worker_infer_ms_mean": float(np.mean(infer)) if infer else None,
                         "inference_share": (sum(infer) / 1000 / w["seconds"]) if infer else None,
                         "rpc_per_job": w["rpc_per_job"], "rpc_calls": w["rpc_calls"]})
            log(f"    {model.name} rep {r + 1}/{reps}: plain onnxruntime {ort['rate']:.1f}/s, worker "
                f"{w['rate']:.2f} jobs/s, ratio {runs[-1]['ratio']:.3f}")
            if r == reps - 1:
                timeline = _timeline(rig, w)
            rig.finalize(w["job_ids"])
        return {
            "model": model.name, "jobs_per_run": n, "runs": runs,
            "ratio": summarize(x["ratio"] for x in runs),
            "worker_rate": summarize(x["worker_rate"] for x in runs),
            "ort_rate": summarize(x["ort_rate"] for x in runs),
            "inference_share": summarize(x["inference_share"] for x in runs if x["inference_share"] is not None),
            "rpc_per_job": summarize(x["rpc_per_job"] for x in runs),
            "overhead_ms_per_job": summarize(1000 / x["worker_rate"] - (x["worker_infer_ms_mean"] or 0) for x in runs),
            "timeline": timeline,
            "worker_config": {"poll_interval": POLL, **WORKER_CFG, "intra_op_threads": "0 (onnxruntime default)"},
        }
    finally:
        rig.close()


def _timeline(rig: Rig, burst: dict[str, Any]) -> dict[str, Any]:
    """Per job of one burst, seconds after the block was mined: claimed, inference start/end, posted."""
    ids = burst["job_ids"]
    mined = burst["t_mined"]
    claimed = logged_ids(rig.workers, "claimed")
    posted = logged_ids(rig.workers, "posted")
    rec = records(rig.dep, rig.workers[0], ids)
    rows = []
    for j in ids:
        r = rec.get(j)
        if r is None:
            continue
        end = float(r["computed_at"])
        rows.append({"job": j, "claimed": claimed.get(j, mined) - mined,
                     "infer_start": end - r["infer_ms"] / 1000 - mined, "infer_end": end - mined,
                     "posted": posted[j] - mined})
    return {"jobs": rows, "seconds": burst["seconds"], "rpc_calls": burst["rpc_calls"]}


def latency(anvil, workdir: Path, model: BenchModel, *, n: int, groups: int,
            log: Callable[[str], None] = print) -> dict[str, Any]:
    """One job at a time: overhead = (post mined − submit mined) − inference, in ms."""
    rig = Rig(anvil, workdir / f"lat-{model.name}", model)
    try:
        samples, submit_ms, group_p50, phases, backlog = [], [], [], [], []
        for g in range(groups):
            ids, over = [], []
            for i in range(n):
                jid, t_sub, took = rig.req.submit_one(rig.next_input + i)
                wait_for(lambda: jid in _ids_done(rig.workers), 30, f"job {jid} posted",
                         lambda: rig.workers[0].log_tail(), poll=0.01)
                t_post = logged_ids(rig.workers, "posted")[jid]
                t_claim = logged_ids(rig.workers, "claimed").get(jid, t_sub)
                rec = records(rig.dep, rig.workers[0], [jid])[jid]
                t_end = float(rec["computed_at"])
                t_start = t_end - rec["infer_ms"] / 1000
                over.append((t_post - t_sub) * 1000 - rec["infer_ms"])
                phases.append({"to_claimed": t_claim - t_sub, "claimed_to_inference": t_start - t_claim,
                               "inference": t_end - t_start, "inference_to_posted": t_post - t_end})
                backlog.append(i)  # jobs this worker has posted and not yet finalized (re-read every tick)
                submit_ms.append(took * 1000)
                ids.append(jid)
                time.sleep(0.013 * (i % 4))  # de-phase submits from the worker's poll ticks
            rig.next_input += n
            samples += over
            group_p50.append(float(np.median(over)))
            log(f"    {model.name} latency group {g + 1}/{groups}: overhead p50 {group_p50[-1]:.1f} ms")
            rig.finalize(ids)
        phase_ms = {k: 1000 * float(np.median([p[k] for p in phases])) for k in phases[0]}
        return {"model": model.name, "jobs": len(samples), "samples_ms": samples, "backlog": backlog,
                "p50_ms": percentile(samples, 50), "p95_ms": percentile(samples, 95),
                "group_p50_ms": summarize(group_p50), "requester_submit_call_ms_p50": percentile(submit_ms, 50),
                "phases_ms_p50": phase_ms, "worker_poll_interval_s": POLL}
    finally:
        rig.close()


def scaling(anvil, workdir: Path, model: BenchModel, *, counts: tuple[int, ...], n: int, reps: int,
            log: Callable[[str], None] = print) -> dict[str, Any]:
    out = {}
    for k in counts:
        rig = Rig(anvil, workdir / f"scale-{model.name}-{k}", model, n_workers=k, tag=f"s{k}-", worker_cfg=SCALING_CFG)
        try:
            rates, shares = [], []
            for r in range(reps):
                b = rig.burst(n)
                rates.append(b["rate"])
                shares.append(b["per_worker"])
                log(f"    {k} worker(s) rep {r + 1}/{reps}: {b['rate']:.2f} jobs/s {b['per_worker']}")
                rig.finalize(b["job_ids"])
            out[str(k)] = {"workers": k, "rate": summarize(rates), "jobs_by_worker": shares}
        finally:
            rig.close()
    return {"model": model.name, "jobs_per_run": n, "points": out,
            "worker_config": {"poll_interval": POLL, **SCALING_CFG}}
