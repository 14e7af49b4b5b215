"""The worker daemon's loop: level-triggered, like op-challenger.

Each tick pins one block (the head minus `confirmations`), reads the state of every job it cares
about at that block, and decides every action from that state plus the journal:

- Open, for a served model, fee ≥ floor, claimable, input and model check out, stake free → claim
  (one `claimJobs` for the batch, after a dry run that drops jobs someone else was faster to).
- Claimed by us → run the model unless the journal already holds the output (a restart after a
  kill -9 posts the same bytes), then post (one `postResults`) while the lease allows.
- Posted by us and the window is over → finalize (one `finalizeJobs`), then withdraw credits.
- Anything else (claimed by another worker, expired, ...) → forget it.

Bad input never crashes the daemon: a job whose model or input is unusable is skipped before it is
claimed (logged, counted, remembered so it is not re-checked every tick); an error inside a tick is
logged and the next tick starts from chain state again. It must never post for a job the chain does
not show as claimed by this worker, and never post twice (the chain refuses a second post; the
pre-send simulation catches it before any gas is spent).
"""

from __future__ import annotations

import contextvars
import logging
import time
from dataclasses import dataclass

import numpy as np

from ..chain import Job, JobStatus
from ..commitments import codec, roots
from ..daemon import Daemon
from ..errors import AssayError, ContractReverted
from ..fraud.trace import Trace, build_trace
from ..sdk import Assay, hex32
from .config import WorkerConfig
from .journal import Journal
from .metrics import WorkerMetrics

log = logging.getLogger("assay.worker")
# The jobs the loop is working on right now: the JSON log formatter adds them to lines that name none
# (the sender's replacements, RPC retries, a tick that fails in the middle of a post).
CURRENT_JOBS: contextvars.ContextVar[tuple[int, ...] | None] = contextvars.ContextVar("assay_jobs", default=None)


def _about(ids: list[int] | None) -> None:
    CURRENT_JOBS.set(tuple(ids) if ids else None)


TRANSIENT_RECHECK = 5.0  # seconds before a job whose model or input could not be fetched is checked again


@dataclass
class Candidate:
    job_id: int
    model_id: str
    worker_fee: int
    claim_deadline: int


class Worker(Daemon):
    name = "worker"

    def __init__(self, sdk: Assay, cfg: WorkerConfig, journal: Journal, metrics: WorkerMetrics | None = None):
        super().__init__(cfg.poll_interval, journal, metrics or WorkerMetrics(), log)
        self.sdk = sdk
        self.cfg = cfg
        self.me = sdk.address
        self.models: dict[str, bytes] = {}  # model id -> verified ONNX bytes
        self.model_uris: dict[str, list[str]] = {}  # model id -> its registered URIs (for records)
        self.inputs: dict[int, tuple] = {}  # job id -> (input bytes, tensors) checked before the claim
        self.bad_models: dict[str, str] = {}  # model id -> why it cannot be served
        self.rejected: dict[int, str] = {}  # job id -> why it was not taken
        self.recheck_at: dict[int, float] = {}  # job id -> when to re-check a job whose source was unreachable
        self.candidates: dict[int, Candidate] = {}
        self.served = set(cfg.models)
        self.game = None  # assay.fraud.game.GameClient, set by the entry point

    # ------------------------------------------------------------------ one tick
    def tick(self) -> None:
        _about(None)
        w3 = self.sdk.w3
        head = int(w3.eth.block_number) - self.cfg.confirmations
        if head < 0:
            return
        self._discover(head)
        now = int(w3.eth.get_block(head)["timestamp"])
        states = self._states(head)
        to_claim, to_compute, to_finalize = [], [], []
        mine_claimed = 0
        for jid, j in states.items():
            row = self.journal.job(jid)
            if j.status == JobStatus.OPEN:
                # Never take back a job this worker failed, or lost a dispute over (it re-opened).
                if row is not None and row.phase in ("failed", "challenged"):
                    continue
                self._behind(row, j)
                if j.claim_deadline < now:  # can never be claimed: stop reading it every tick
                    if row is not None and row.phase in ("open", "seen"):
                        self.journal.set_phase(jid, "lost")
                    self.candidates.pop(jid, None)
                    continue
                if (row is None or row.phase == "lost") and (not self.served or hex32(j.model_id) in self.served):
                    # The scan cursor is past its event: keep it in the journal so a restart sees it.
                    self.journal.remember_open(jid, hex32(j.model_id), reopened=True)
                to_claim.append(jid)
            elif j.status == JobStatus.CLAIMED and _same(j.worker, self.me):
                self._behind(row, j)
                mine_claimed += 1
                self.journal.upsert(jid, hex32(j.model_id), row.phase if row and row.phase == "computed" else "claimed")
                to_compute.append(j)
            elif j.status == JobStatus.POSTED and _same(j.worker, self.me):
                self.journal.upsert(jid, hex32(j.model_id), "posted")
                if now > j.deadline:
                    to_finalize.append(jid)
            elif j.status == JobStatus.FINALIZED and _same(j.worker, self.me):
                self.journal.upsert(jid, hex32(j.model_id), "finalized")
            elif j.status == JobStatus.CHALLENGED and _same(j.worker, self.me):
                self.journal.upsert(jid, hex32(j.model_id), "challenged")
                self._defend(jid, j, now)
                _about(None)
            elif row is not None and row.phase not in ("finalized", "failed", "lost"):
                self.journal.set_phase(jid, "lost")  # someone else has it, or it ended
            if j.status != JobStatus.OPEN:
                self.candidates.pop(jid, None)
                if not (j.status == JobStatus.CLAIMED and _same(j.worker, self.me)):
                    self.inputs.pop(jid, None)  # checked for a claim that went to someone else
        self.metrics.active.set(mine_claimed)
        self._finalize(to_finalize)
        self._work(to_compute, now)
        room = self.cfg.max_concurrent_jobs - mine_claimed
        if room > 0 and to_claim and not self.stop_event.is_set():  # stopping: drain, claim nothing new
            claimed = self._claim(to_claim, now, room)
            if claimed:
                self._work([self.sdk.job(j) for j in claimed], now)
        self.withdraw_credits(self.sdk, self.cfg.withdraw_threshold)

    def _behind(self, row, j: Job) -> None:
        """The journal says posted, the chain says open or claimed: a reorg removed the post (and maybe
        the claim). The chain decides: the job is claimed / posted again (with the journal's output)."""
        if row is not None and row.phase == "posted":
            log.warning("job %d: the journal says posted but the chain says %s (a reorg removed the transaction); "
                        "%s again", j.job_id, j.status.name.lower(),
                        "claiming and posting" if j.status == JobStatus.OPEN else "posting",
                        extra={"event": "reorged", "job_id": j.job_id, "chain_status": j.status.name})
            self.metrics.reorged.inc()
            if j.status == JobStatus.OPEN:
                self.journal.set_phase(j.job_id, "computed" if row.output is not None else "seen")

    # ------------------------------------------------------------------ discovery
    def _discover(self, head: int) -> None:
        """Open jobs from JobSubmitted / JobReopened events, from the saved cursor up to `head`."""
        start = int(self.journal.get("scan_block", str(self.sdk.start_block)))
        if start > head:
            return
        for a in range(start, head + 1, 2000):
            b = min(a + 1999, head)
            for ev in self.sdk.c.jobs.events.JobSubmitted().get_logs(from_block=a, to_block=b):
                args = ev["args"]
                self._remember(Candidate(
                    int(args["jobId"]), hex32(args["modelId"]), int(args["workerFee"]), int(args["claimDeadline"])))
            for ev in self.sdk.c.jobs.events.JobReopened().get_logs(from_block=a, to_block=b):
                jid = int(ev["args"]["jobId"])
                if jid not in self.candidates:
                    j = self.sdk.job(jid)
                    self._remember(Candidate(jid, hex32(j.model_id), j.worker_fee, j.claim_deadline))
        self.journal.put("scan_block", str(head + 1))

    def _remember(self, c: Candidate) -> None:
        """Keep a discovered job; one this worker would take also gets a journal row ("seen") before the
        scan cursor moves past its event, so a restart (the candidates are in memory only) still sees it."""
        self.candidates[c.job_id] = c
        if (not self.served or c.model_id in self.served) and c.worker_fee >= self.cfg.min_worker_fee \
                and self.journal.job(c.job_id) is None:
            self.journal.upsert(c.job_id, c.model_id, "seen")

    def _states(self, block: int) -> dict[int, Job]:
        ids = set(self.candidates) | {r.job_id for r in self.journal.active_jobs()}
        out = {}
        for jid in sorted(ids):
            out[jid] = self.sdk.job(jid, block)
        return out

    # ------------------------------------------------------------------ claim
    def _eligible(self, jid: int, now: int) -> str | None:
        """None if the job may be claimed; else why not."""
        c = self.candidates.get(jid)
        if c is None:
            j = self.sdk.job(jid)
            c = Candidate(jid, hex32(j.model_id), j.worker_fee, j.claim_deadline)
        if self.served and c.model_id not in self.served:
            return "model not served"
        if c.worker_fee < self.cfg.min_worker_fee:
            return "fee below floor"
        if c.claim_deadline < now:
            return "claim deadline passed"
        if jid in self.rejected:
            return self.rejected[jid]
        if self.recheck_at.get(jid, 0.0) > time.monotonic():
            return "a source was unreachable; re-checked shortly"
        try:
            self._model(c.model_id)
            raw, tensors = self.sdk.job_input(jid, max_bytes=self.cfg.max_input_bytes)
            self.inputs[jid] = (raw, tensors)
            from ..inference.runner import inputs_spec, validate_inputs
            from ..models import load_onnx

            validate_inputs(inputs_spec(load_onnx(self.models[c.model_id])), dict(tensors),
                            max_elements=self.sdk.runner.max_elements)
        except AssayError as e:
            reason = f"{type(e).__name__}: {str(e).splitlines()[0]}"
            if isinstance(e, ConnectionError):  # the model's or input's server is down: not a verdict on the job
                self.recheck_at[jid] = time.monotonic() + TRANSIENT_RECHECK
            else:
                self.rejected[jid] = reason
            log.warning("job %d skipped: %s", jid, reason, extra={"event": "job_skipped", "job_id": jid})
            self.metrics.skipped.labels(type(e).__name__).inc()
            return reason
        return None

    def _claim(self, open_ids: list[int], now: int, room: int) -> list[int]:
        pick = []
        free = self.sdk.stake_of(self.me).free
        for jid in open_ids:
            if len(pick) >= min(room, self.cfg.max_batch):
                break
            if self._eligible(jid, now) is None:
                pick.append(jid)
        if not pick:
            return []
        # Collateral check up front: claim only what free stake covers (else the whole batch reverts).
        jobs = {j: self.sdk.job(j) for j in pick}
        total, fit = 0, []
        for j in pick:
            if total + jobs[j].collateral <= free:
                total += jobs[j].collateral
                fit.append(j)
        if not fit:
            log.warning("not enough free stake (%d) to claim any of jobs %s; stake more", free, pick,
                        extra={"event": "stake_low", "job_ids": pick})
            self.metrics.skipped.labels("insufficient_stake").inc(len(pick))
            return []
        dry = self.sdk.c.jobs.functions.claimJobs(fit).call({"from": self.me})
        fit = [j for j, ok in zip(fit, dry) if ok]
        if not fit:
            return []
        for j in fit:
            self.journal.upsert(j, hex32(jobs[j].model_id), "seen")
        _about(fit)
        try:
            claimed = self.sdk.claim_jobs(fit)
        except ContractReverted as e:
            log.warning("claim of %s reverted: %s", fit, e.error, extra={"event": "claim_reverted", "job_ids": fit})
            _about(None)
            return []
        for j in claimed:
            self.journal.set_phase(j, "claimed")
        missed = [j for j in fit if j not in claimed]
        if missed:  # claimJobs skips, it does not revert: say so, or the job silently stays "seen"
            log.warning("claimJobs did not claim %s (another worker was faster, or the claim deadline passed before "
                        "it was mined)", missed, extra={"event": "claim_missed", "job_ids": missed})
            for j in missed:
                self.journal.set_phase(j, "open")
        self.metrics.claimed.inc(len(claimed))
        if claimed:
            log.info("claimed %s", claimed, extra={"event": "claimed", "job_ids": claimed})
        _about(None)
        return claimed

    # ------------------------------------------------------------------ run + post
    def _model(self, model_id: str) -> bytes:
        if model_id in self.bad_models:
            raise AssayError(self.bad_models[model_id])
        if model_id not in self.models:
            try:
                self.models[model_id] = self.sdk.fetch_model(model_id, max_bytes=self.cfg.max_model_bytes)
                self.model_uris[model_id] = self.sdk.model(model_id).uris
            except AssayError as e:
                if not isinstance(e, ConnectionError):  # unreachable (StoreUnavailable) is tried again later
                    self.bad_models[model_id] = f"model {model_id} unusable: {str(e).splitlines()[0]}"
                raise
        return self.models[model_id]

    def _compute(self, j: Job) -> tuple[bytes, bytes]:
        row = self.journal.job(j.job_id)
        if row is not None and row.output is not None:
            return row.output, bytes.fromhex(row.output_root)
        model_id = hex32(j.model_id)
        onnx_bytes = self._model(model_id)
        _raw, tensors = self.inputs.pop(j.job_id, None) or self.sdk.job_input(
            j.job_id, max_bytes=self.cfg.max_input_bytes)
        t0 = time.perf_counter()
        # Canonical run: the posted outputs are this run's, so a dispute's trace holds the same bits.
        outs, trace = build_trace(self.sdk.runner, model_id, onnx_bytes, dict(tensors))
        dt = time.perf_counter() - t0
        items = [(name, np.asarray(v)) for name, v in outs.items()]
        if self.cfg.fault and self.cfg.fault != "slow-inference":
            items = _dishonest(self.cfg.fault, trace, items, onnx_bytes)  # test-only: a dishonest worker
        trace_digest = self.sdk.store.put(trace.encode())
        self.metrics.inference.observe(dt)
        if self.cfg.fault == "slow-inference":  # test-only: a window to kill the worker mid-job
            time.sleep(3)
        container = codec.encode_tensors(items)
        root = roots.io_root_of_container(container)
        self.journal.record_output(j.job_id, container, root.hex(), dt * 1000)
        self.sdk.save_record(j.job_id, {
            "job_id": j.job_id, "worker": self.me, "model_id": model_id, "model_uris": self.model_uris.get(model_id, []),
            "runtime": outs.runtime, "infer_ms": round(dt * 1000, 3), "output_root": "0x" + root.hex(),
            "trace_sha256": trace_digest,
            "computed_at": time.time()})
        return container, root

    def _work(self, claimed: list[Job], now: int) -> None:
        ready = []
        for j in claimed:
            if j.deadline - self.cfg.lease_margin < now:
                log.warning("job %d: lease ends at %d, too close to post", j.job_id, j.deadline,
                            extra={"event": "lease_too_close", "job_id": j.job_id})
                continue
            _about([j.job_id])
            try:
                container, root = self._compute(j)
            except AssayError as e:
                n = self.journal.record_failure(j.job_id, str(e))
                self.metrics.failed.labels(type(e).__name__).inc()
                log.error("job %d failed (attempt %d): %s", j.job_id, n, str(e).splitlines()[0],
                          extra={"event": "job_failed", "job_id": j.job_id})
                if n >= self.cfg.max_attempts:
                    self.journal.set_phase(j.job_id, "failed")
                continue
            ready.append((j.job_id, root, container))
        for i in range(0, len(ready), self.cfg.max_batch):
            batch = ready[i:i + self.cfg.max_batch]
            ids = [b[0] for b in batch]
            _about(ids)
            try:
                receipt = self.sdk.post_results(batch)
            except ContractReverted as e:
                # Someone else's state moved (lease over, already posted): next tick re-reads the chain.
                log.warning("post of %s reverted: %s", ids, e.error, extra={"event": "post_reverted", "job_ids": ids})
                continue
            self.journal.record_tx(ids, "post", receipt["transactionHash"].hex())
            for jid in ids:
                self.journal.set_phase(jid, "posted")
            self.metrics.posted.inc(len(ids))
            log.info("posted %s", ids, extra={"event": "posted", "job_ids": ids})
        _about(None)

    # ------------------------------------------------------------------ disputes
    def _defend(self, jid: int, j: Job, now: int) -> None:
        """A challenged result: post the trace root (and publish the trace), answer chunk demands,
        and once the proof window is over with no proof, resolve the dispute to get paid."""
        if self.game is None:
            return
        _about([jid])
        d = self.game.dispute(jid)
        if not d.open:
            return
        if self.game.can_resolve(d, now):
            self.game.resolve(jid)
            log.info("job %d: dispute resolved by time-out", jid, extra={"event": "dispute_resolved", "job_id": jid})
            return
        if d.vclass == 2:  # class NONE: the arbiter decides
            return
        if d.trace_root is None or d.demand_deadline:
            rec = self.sdk.load_record(jid) or {}
            digest = rec.get("trace_sha256")
            if not digest or not self.sdk.store.has(digest):
                log.error("job %d is challenged and its trace is lost; the dispute will be lost", jid,
                          extra={"event": "trace_lost", "job_id": jid})
                return
            model = self._model(hex32(j.model_id))
            trace = Trace.decode(model, self.sdk.store.get(digest))
            if d.trace_root is None:
                uri = self.sdk._uri_for(digest)
                if self.cfg.fault in ("withhold-trace", "ignore-demands") or _withholds_and_answers(self.cfg.fault):
                    # test-only: withhold the data (demands are still answered, except with ignore-demands)
                    uri = f"http://127.0.0.1:9/blobs/{digest}"
                self.game.post_trace(jid, trace, digest, uri)
                log.info("job %d: trace root posted", jid, extra={"event": "trace_posted", "job_id": jid})
            elif self.cfg.fault != "ignore-demands":
                self.game.answer_demand(jid, trace, d)
                log.info("job %d: chunk demand answered", jid, extra={"event": "demand_answered", "job_id": jid})

    # ------------------------------------------------------------------ finalize + withdraw
    def _finalize(self, ids: list[int]) -> None:
        for i in range(0, len(ids), self.cfg.max_batch):
            batch = ids[i:i + self.cfg.max_batch]
            _about(batch)
            try:
                done = self.sdk.finalize_jobs(batch)
            except ContractReverted as e:
                log.warning("finalize of %s reverted: %s", batch, e.error,
                            extra={"event": "finalize_reverted", "job_ids": batch})
                continue
            for jid in done:
                self.journal.set_phase(jid, "finalized")
            self.metrics.finalized.inc(len(done))
            if done:
                log.info("finalized %s", done, extra={"event": "finalized", "job_ids": done})
        _about(None)


def _dishonest(fault: str, trace: Trace, items: list, onnx_bytes: bytes | None = None) -> list:
    """TEST ONLY (the hidden --fault option): how a cheating worker could lie. Every variant posts a
    first output moved by +1 (so a challenger re-running the job notices); all but `wrong-output` also
    make the trace's graph outputs equal to the posted ones and plant the lie earlier in the trace:
    `wrong-input` (graph input 0), `wrong-weights` (initializer 0), `corrupt-node:K` (node K's output).
    `withhold-trace` / `ignore-demands` post an honest-looking trace root but withhold the data;
    `withhold-trace-answer-demands:K` instead moves node K's output and recomputes every later node
    from it, so node K is the trace's only inconsistency and the posted outputs follow from the lie;
    it withholds the trace and answers every chunk demand (the challenger must find node K by demands);
    `nudge-node:K` moves element 0 of node K's output by the fewest ulps its one-step check rejects (the
    smallest provable lie; the proof must find node K, the earliest inconsistency)."""
    if _withholds_and_answers(fault):
        return _corrupt_and_propagate(trace, onnx_bytes, int(fault.split(":", 1)[1]), [n for n, _ in items])
    name, v = items[0]
    items = [(name, (v + 1).astype(v.dtype) if v.dtype.kind in "fiu" else v)] + list(items[1:])
    if fault == "wrong-output":
        return items
    lay = trace.layout
    if fault == "wrong-input":
        victim = lay.inputs[0]
    elif fault == "wrong-weights":
        victim = lay.initializers[0].name
    elif fault.startswith("corrupt-node:"):
        victim = _node_output_name(lay, int(fault.split(":", 1)[1]))  # node K's first output
    elif fault.startswith("nudge-node:"):  # node K's element 0 just outside its bound (the smallest provable lie)
        from ..models import load_onnx

        k = int(fault.split(":", 1)[1])
        node = load_onnx(onnx_bytes).graph.node[k]
        victim = _node_output_name(lay, k)
        trace.values[victim] = _just_outside(node, [trace.values[n] if n else None for n in node.input],
                                             trace.values[victim])
        victim = None
    else:
        victim = None
    if victim is not None:
        a = np.array(trace.values[victim], copy=True)
        flat = a.reshape(-1)
        if flat.size:
            flat[0] = flat[0] + (1000 if a.dtype.kind == "f" else 1)
        trace.values[victim] = a
    for out_name, _vid in lay.outputs:
        posted = dict(items).get(out_name)
        if posted is not None:
            trace.values[out_name] = np.asarray(posted)
    return items


def _withholds_and_answers(fault: str | None) -> bool:
    return bool(fault) and fault.startswith("withhold-trace-answer-demands:")


def _corrupt_and_propagate(trace: Trace, onnx_bytes: bytes, k: int, output_names: list[str]) -> list:
    """TEST ONLY: node K's first output moved (+1000 on element 0), every later node recomputed from the
    trace's values (onnx's reference evaluator); the outputs to post, taken from that trace."""
    from onnx.reference import ReferenceEvaluator

    from ..models import load_onnx

    nodes = load_onnx(onnx_bytes).graph.node
    victim = _node_output_name(trace.layout, k)
    a = np.array(trace.values[victim], copy=True)
    a.reshape(-1)[0] += 1000 if a.dtype.kind == "f" else 1
    trace.values[victim] = a
    for node in nodes[k + 1:]:
        res = ReferenceEvaluator(node).run(None, {n: trace.values[n] for n in node.input if n})
        for out_name, value in zip(node.output, res):
            if out_name:
                trace.values[out_name] = np.asarray(value, dtype=trace.values[out_name].dtype)
    return [(n, trace.values[n]) for n in output_names]


def _just_outside(node, inputs: list, out: np.ndarray) -> np.ndarray:
    """TEST ONLY: `out` (float32) with element 0 moved up (in its bit pattern: away from zero) by the
    fewest ulps that make `ops.check_element` reject it — the smallest lie a proof can show."""
    from ..fraud import ops

    a = np.array(out, dtype=np.float32, copy=True)
    bits0 = int(a.reshape(-1)[:1].view(np.uint32)[0])

    def rejected(d: int) -> bool:
        a.reshape(-1)[:1].view(np.uint32)[0] = bits0 + d
        return not ops.check_element(node, inputs, a, 0)

    hi = 1
    while not rejected(hi):  # every finite float32 is at most 2^31 ulps away
        hi *= 2
    lo = hi // 2  # accepted (or 0: the honest value)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if rejected(mid) else (mid, hi)
    a.reshape(-1)[:1].view(np.uint32)[0] = bits0 + hi
    return a


def _node_output_name(lay, k: int) -> str:
    from ..commitments.roots import ABSENT
    from ..fraud.calldata import node_io

    _ins, outs = node_io(lay, k)
    for vid in outs:
        if vid != ABSENT:
            return lay.values[vid]
    raise ValueError(f"node {k} has no output")


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.lower() == b.lower()
