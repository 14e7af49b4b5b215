"""Driving work through the real system and through plain onnxruntime, and timing both.

- :func:`plain_ort` — inferences per second of plain onnxruntime (default session options), one
  input at a time, on the same inputs the jobs carry: the yardstick of the throughput ratio.
- :class:`Requester` — a requester on the bench's deployment: pre-encodes the inputs once (inputs
  above the inline limit are published over HTTP from its content store, as a real requester does),
  submits single jobs through :meth:`assay.sdk.Assay.submit`, and submits a *burst* of jobs in one
  block (automine paused while they are sent, then one block mined, automine back on), so a worker
  finds them all at once and its rate is not bounded by how fast one requester can send.
- :func:`worker_throughput` — jobs/s of one or more real worker subprocesses on a burst: from the
  block holding the jobs to the last result posted (chain round-trips included).

Timestamps are wall-clock (`time.time()`) in this process and in the workers' JSON logs, on the
same machine. This module never changes what it measures: it only submits jobs and reads logs and
chain state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from web3.logs import DISCARD

from assay.chain import JobStatus

from .chainenv import REQUESTER, UNIT, Deployment, WorkerProc, wait_for
from .models import BenchModel

WORKER_FEE = UNIT // 10


def plain_ort(model: BenchModel, n: int, *, warmup: int = 3, threads: int | None = None) -> dict[str, float]:
    """Plain onnxruntime with default session options (or `threads` intra-op threads), one input per
    run: inferences/s and per-inference milliseconds."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads is not None:
        so.intra_op_num_threads = threads
    sess = ort.InferenceSession(model.onnx_bytes, so, providers=["CPUExecutionProvider"])
    for i in range(warmup):
        sess.run(None, model.feed(i))
    times = []
    t0 = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        sess.run(None, model.feed(i))
        times.append(time.perf_counter() - t)
    total = time.perf_counter() - t0
    return {"rate": n / total, "ms_mean": 1000 * total / n, "ms_p50": 1000 * float(np.median(times))}


@dataclass
class Burst:
    job_ids: list[int]
    t_mined: float  # wall clock right after the block holding the jobs was mined
    submit_seconds: float  # how long sending them took (not part of any figure)


class Requester:
    """Submits jobs for one model on one deployment (dev account REQUESTER)."""

    def __init__(self, dep: Deployment, model: BenchModel, model_id: str, *, index: int = REQUESTER):
        from assay.store import serve_store

        self.dep = dep
        self.model = model
        self.model_id = model_id
        self.sdk = dep.sdk(index, f"requester{index}-store")
        self.server = serve_store(self.sdk.store)
        dep.servers.append(self.server)
        self.sdk.publish_base = self.server.url + "/blobs"
        self.params = self.sdk.params()
        self.quote = self.sdk.quote(model_id, WORKER_FEE)
        self.sdk.ensure_allowance(self.sdk.c.jobs.address, 10**30)
        self._encoded: dict[int, tuple[bytes, str, bytes]] = {}

    def _input(self, i: int) -> tuple[bytes, str, bytes]:
        """(inline bytes, URI, input root) of example input i, encoded once."""
        j = i % len(self.model.inputs)
        if j not in self._encoded:
            container, root = self.sdk.prepare_input(self.model_id, self.model.feed(j), self.model.onnx_bytes)
            if len(container) <= int(self.params["max_inline_bytes"]):
                self._encoded[j] = (container, "", root)
            else:
                self._encoded[j] = (b"", self.sdk._uri_for(self.sdk.store.put(container)), root)
        return self._encoded[j]

    def _request(self, i: int, deadline: int) -> tuple:
        inline, uri, root = self._input(i)
        from assay.sdk import b32

        return (b32(self.model_id), root, WORKER_FEE, self.quote["total"], deadline, False, inline, uri)

    def submit_one(self, i: int) -> tuple[int, float, float]:
        """One job through the SDK's own submit: (job id, wall time it returned, seconds it took)."""
        t = time.time()
        jid = self.sdk.submit(self.model_id, self.model.feed(i), worker_fee=WORKER_FEE, onnx_bytes=self.model.onnx_bytes)
        now = time.time()
        return jid, now, now - t

    def burst(self, n: int, first: int = 0) -> Burst:
        """n jobs sent with automine paused, then mined together (one block, more if gas demands).
        Their receipts are read later (:meth:`check_burst`), so that while the workers run, the only
        JSON-RPC traffic on the node is theirs."""
        for i in range(first, first + n):
            self._input(i)  # encode (and publish) before the clock starts
        anvil = self.dep.anvil
        deadline = self.sdk.now() + 3600
        jobs = self.sdk.c.jobs
        count0 = int(jobs.functions.jobCount().call())
        t0 = time.time()
        anvil.set_automine(False)
        try:
            self._pending = [self.sdk.sender.submit(jobs.functions.submit(self._request(i, deadline)), label="submit")
                             for i in range(first, first + n)]
            anvil.mine(1)
            t_mined = time.time()
            while anvil.rpc("txpool_status")["pending"] not in ("0x0", 0):
                anvil.mine(1)
        finally:
            anvil.set_automine(True)
        return Burst(list(range(count0 + 1, count0 + n + 1)), t_mined, t_mined - t0)

    def check_burst(self, b: Burst) -> None:
        """The burst's transactions created exactly the job ids it assumed (only this requester submits)."""
        jobs = self.sdk.c.jobs
        got = []
        for p in self._pending:
            r = self.sdk.sender.wait(p)
            got += [int(e["args"]["jobId"]) for e in jobs.events.JobSubmitted().process_receipt(r, errors=DISCARD)]
        if got != b.job_ids:
            raise RuntimeError(f"burst created jobs {got[:3]}…, expected {b.job_ids[:3]}…: another account submitted")


def rpc_offset(anvil) -> int:
    """Current size of anvil's log (it logs one line per JSON-RPC method called)."""
    return anvil.log_path.stat().st_size if anvil.log_path is not None else 0


def rpc_counts(anvil, start: int, end: int) -> dict[str, int]:
    """JSON-RPC calls by method between two log offsets."""
    with open(anvil.log_path, "rb") as f:
        f.seek(start)
        text = f.read(end - start).decode(errors="replace")
    counts: dict[str, int] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("eth_", "net_", "web3_", "anvil_", "evm_", "txpool_", "debug_", "trace_")) and " " not in line:
            counts[line] = counts.get(line, 0) + 1
    return counts


def warm_up(req: Requester, workers: list[WorkerProc], timeout: float = 90) -> None:
    """One job per worker through the whole path, so every worker has fetched the model and built its
    session before the clock starts."""
    for w in workers:
        wait_for(lambda: w.events("started") or not w.alive(), 60, f"worker {w.name} to start", w.log_tail)
        if not w.alive():
            raise RuntimeError(f"worker {w.name} exited at start:\n{w.log_tail()}")
    pending = set()
    for _ in workers:
        pending.add(req.submit_one(0)[0])
    wait_for(lambda: all(req.sdk.job(j).status >= JobStatus.POSTED for j in pending), timeout,
             "warm-up jobs posted", lambda: "\n".join(w.log_tail() for w in workers))
    # every worker must have run once (the others may have taken the warm-up jobs): top up
    for _ in range(4 * len(workers)):
        idle = [w for w in workers if not w.posted_at()]
        if not idle:
            return
        jid = req.submit_one(0)[0]
        wait_for(lambda: req.sdk.job(jid).status >= JobStatus.POSTED, timeout, "warm-up job posted")


def worker_throughput(req: Requester, workers: list[WorkerProc], n: int, first: int = 0,
                      timeout: float = 300) -> dict[str, Any]:
    """Jobs/s of `workers` (already warm) on a burst of n jobs: n ÷ (last post − block mined)."""
    before = {w.name: set(w.posted_at()) for w in workers}
    b = req.burst(n, first)
    off0 = rpc_offset(req.dep.anvil)
    ids = set(b.job_ids)

    def done() -> bool:
        seen: set[int] = set()
        for w in workers:
            seen |= set(w.posted_at())
        return ids <= seen

    wait_for(done, timeout, f"{n} jobs posted", lambda: "\n".join(w.log_tail(15) for w in workers), poll=0.05)
    rpc = rpc_counts(req.dep.anvil, off0, rpc_offset(req.dep.anvil))
    req.check_burst(b)
    t_end = 0.0
    per_worker = {}
    for w in workers:
        got = {j: t for j, t in w.posted_at().items() if j in ids and j not in before[w.name]}
        per_worker[w.name] = len(got)
        if got:
            t_end = max(t_end, max(got.values()))
    elapsed = t_end - b.t_mined
    return {"jobs": n, "seconds": elapsed, "rate": n / elapsed, "per_worker": per_worker,
            "submit_seconds": b.submit_seconds, "job_ids": sorted(ids), "t_mined": b.t_mined,
            "rpc_calls": rpc, "rpc_per_job": sum(rpc.values()) / n}
