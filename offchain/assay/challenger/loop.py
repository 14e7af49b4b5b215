"""The challenger's loop: level-triggered like the worker's.

Each tick pins a block and, for every posted result it has not finished with:
- **Posted**, window open, sampled: re-run the model here (any settings: threads, optimisation
  level) and compare with the posted output *within tolerance* (never raw bits). Outside tolerance →
  challenge (bond). Inside → remember it as checked.
- **Challenged by us**: once the worker has posted its trace root, fetch the trace it published,
  check it against that root, search it for the cheapest provable inconsistency
  (`assay.fraud.prover`) and prove it on-chain in one transaction. If the worker does not answer
  in time, resolve by time-out. If it withholds its trace, demand chunks: a binary search over the
  nodes against its own run, then the proof's operands, and prove from the answers alone
  (`assay.challenger.withheld`); a demand left unanswered wins by time-out.
- After the dispute settles: withdraw credits.
It never challenges a result it has not re-run itself, never proves with data it has not checked
against the worker's commitments, and a bad tick never stops it.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from ..chain import JobStatus
from ..commitments import codec
from ..daemon import Daemon
from ..errors import AssayError, ContractReverted
from ..fraud.prover import find_fraud, outputs_close
from ..fraud.trace import Trace, build_trace
from ..sdk import Assay, hex32
from ..worker.journal import Journal
from .config import ChallengerConfig
from .withheld import Demand, DemandSearch, GiveUp, answers_of

log = logging.getLogger("assay.challenger")


class ChallengerMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.checked = Counter("assay_challenger_results_checked", "posted results re-run", registry=r)
        self.agreed = Counter("assay_challenger_results_agreed", "results within tolerance", registry=r)
        self.challenged = Counter("assay_challenger_challenges", "challenges opened", registry=r)
        self.proven = Counter("assay_challenger_proofs", "fraud proofs accepted", ["kind"], registry=r)
        self.won = Counter("assay_challenger_disputes_won", "disputes won", registry=r)
        self.lost = Counter("assay_challenger_disputes_lost", "disputes lost", registry=r)
        self.failed = Counter("assay_challenger_failures", "checks that failed", ["reason"], registry=r)
        self.rerun = Histogram("assay_challenger_rerun_seconds", "local re-run time", registry=r)
        self.ticks = Counter("assay_challenger_ticks", "loop iterations", registry=r)
        self.tick_errors = Counter("assay_challenger_tick_errors", "loop iterations that failed", registry=r)


class Challenger(Daemon):
    name = "challenger"

    def __init__(self, sdk: Assay, cfg: ChallengerConfig, journal: Journal, game: Any,
                 metrics: ChallengerMetrics | None = None, rng: random.Random | None = None):
        super().__init__(cfg.poll_interval, journal, metrics or ChallengerMetrics(), log)
        self.sdk = sdk
        self.cfg = cfg
        self.game = game  # assay.fraud.game.GameClient
        self.me = sdk.address
        self.rng = rng or random.Random()
        self.models: dict[str, bytes] = {}
        self.searches: dict[int, DemandSearch] = {}  # job id -> search of a withheld trace
        self.gave_up: dict[int, str] = {}  # job id -> why the search stopped (logged once)

    # ------------------------------------------------------------------ one tick
    def tick(self) -> None:
        w3 = self.sdk.w3
        head = int(w3.eth.block_number) - self.cfg.confirmations
        if head < 0:
            return
        now = int(w3.eth.get_block(head)["timestamp"])
        self._discover(head)
        for row in self.journal.active_jobs():
            jid = row.job_id
            j = self.sdk.job(jid, head)
            if row.phase == "seen":
                if j.status == JobStatus.POSTED and now <= j.deadline:
                    self._check(jid, j.model_id)
                elif j.status == JobStatus.CHALLENGED and _same(self.game.dispute(jid).challenger, self.me):
                    # Our challenge was mined but we died before noting it: play the game, never drop it.
                    self.journal.set_phase(jid, "challenged")
                    self._play(jid, j, now)
                else:
                    self.journal.set_phase(jid, "lost" if j.status != JobStatus.FINALIZED else "finalized")
            elif row.phase in ("challenged", "proving"):
                self._play(jid, j, now)
        self.withdraw_credits(self.sdk)

    def _discover(self, head: int) -> None:
        start = int(self.journal.get("scan_block", str(self.sdk.start_block)))
        if start > head:
            return
        for a in range(start, head + 1, 2000):
            b = min(a + 1999, head)
            for ev in self.sdk.c.jobs.events.ResultPosted().get_logs(from_block=a, to_block=b):
                jid = int(ev["args"]["jobId"])
                row = self.journal.job(jid)
                if row is None or row.phase in ("ok", "lost", "finalized"):
                    # A re-posted job (re-opened after a won challenge) is checked again.
                    j = self.sdk.job(jid)
                    self.journal.upsert(jid, hex32(j.model_id), "seen")
        self.journal.put("scan_block", str(head + 1))

    # ------------------------------------------------------------------ re-check
    def _rate(self, model_id: str) -> float:
        return self.cfg.model_rates.get(model_id, self.cfg.sample_rate)

    def _model(self, model_id: str) -> bytes:
        if model_id not in self.models:
            self.models[model_id] = self.sdk.fetch_model(model_id, max_bytes=self.cfg.max_model_bytes)
        return self.models[model_id]

    def _check(self, jid: int, model_id_b: bytes) -> None:
        model_id = hex32(model_id_b)
        if self.rng.random() >= self._rate(model_id):
            self.journal.set_phase(jid, "ok")  # not sampled
            return
        try:
            model = self._model(model_id)
            _raw, tensors = self.sdk.job_input(jid)
            t0 = time.perf_counter()
            local = self.sdk.runner.run(model_id, model, dict(tensors))
            self.metrics.rerun.observe(time.perf_counter() - t0)
            posted = self.sdk.result(jid).outputs
        except AssayError as e:
            self.metrics.failed.labels(type(e).__name__).inc()
            n = self.journal.record_failure(jid, str(e))
            log.warning("job %d: cannot re-check (%s)", jid, str(e).splitlines()[0],
                        extra={"event": "check_failed", "job_id": jid})
            if n >= 3:
                self.journal.set_phase(jid, "lost")
            return
        self.metrics.checked.inc()
        agree = outputs_close(_floats_first(local), _floats_first(posted), self.cfg.rtol, self.cfg.atol)
        if agree and self.cfg.fault != "grief":
            self.metrics.agreed.inc()
            self.journal.set_phase(jid, "ok")
            return
        log.warning("job %d: posted output differs from a local re-run beyond tolerance; challenging", jid,
                    extra={"event": "mismatch", "job_id": jid})
        try:
            self.sdk.challenge(jid)
        except ContractReverted as e:
            log.warning("job %d: challenge reverted: %s", jid, e.error, extra={"event": "challenge_reverted", "job_id": jid})
            self.journal.set_phase(jid, "lost")
            return
        self.metrics.challenged.inc()
        self.journal.set_phase(jid, "challenged")
        log.info("challenged job %d", jid, extra={"event": "challenged", "job_id": jid})

    # ------------------------------------------------------------------ the game
    def _play(self, jid: int, j: Any, now: int) -> None:
        if j.status != JobStatus.CHALLENGED:
            settled = self.sdk.events("DisputeSettled", jobId=jid)
            won = bool(settled and settled[-1]["args"]["challengerWon"])
            (self.metrics.won if won else self.metrics.lost).inc()
            self.searches.pop(jid, None)
            self.gave_up.pop(jid, None)
            self.journal.set_phase(jid, "won" if won else "lost")
            log.info("dispute over job %d settled: %s", jid, "won" if won else "lost",
                     extra={"event": "settled", "job_id": jid, "won": won})
            return
        d = self.game.dispute(jid)
        if d.challenger.lower() != self.me.lower():
            return
        if self.game.can_resolve(d, now):
            self.game.resolve(jid)
            return
        if not d.trace_root or self.journal.job(jid).phase == "proving":
            return
        if jid in self.searches:
            self._search_by_demands(jid, d, now)
            return
        try:
            model = self._model(hex32(j.model_id))
            blob = self.game.fetch_trace(d, self.sdk.store)
            trace = Trace.decode(model, blob)
            if self.game.trace_root_of(trace) != d.trace_root:
                raise AssayError("the published trace does not hash to the posted trace root")
        except AssayError as e:
            log.warning("job %d: the worker's trace is unusable (%s); demanding chunks", jid, str(e).splitlines()[0],
                        extra={"event": "trace_unusable", "job_id": jid})
            self.searches[jid] = self._search_of(jid, j)
            self._search_by_demands(jid, d, now)
            return
        input_raw, _ = self.sdk.job_input(jid)
        report = find_fraud(model, trace, input_raw, self.sdk.result(jid).raw)
        if report.finding is None:
            log.warning("job %d: no provable inconsistency in the trace (unsupported ops: %s)", jid,
                        sorted(set(report.unsupported)), extra={"event": "no_proof", "job_id": jid})
            self.journal.set_phase(jid, "proving")  # nothing to prove; the time-out decides
            return
        f = report.finding
        try:
            self.game.prove(jid, f, model, trace, input_raw, self.sdk.result(jid).raw)
        except ContractReverted as e:
            log.error("job %d: proof %s rejected: %s", jid, f, e.error, extra={"event": "proof_rejected", "job_id": jid})
            self.journal.record_failure(jid, str(e))
            return
        self.metrics.proven.labels(f.kind).inc()
        log.info("job %d: fraud proven (%s)", jid, f.detail, extra={"event": "proven", "job_id": jid})

    # ------------------------------------------------------------------ a withheld trace
    def _search_of(self, jid: int, j: Any) -> DemandSearch:
        """The demand search of a job: this challenger's own canonical run (every value) against the
        job's input and the posted output."""
        model_id = hex32(j.model_id)
        model = self._model(model_id)
        _raw, tensors = self.sdk.job_input(jid)
        _outs, own = build_trace(self.sdk.runner, model_id, model, dict(tensors))
        return DemandSearch(model, own.values, dict(tensors), self.sdk.result(jid).outputs,
                            rtol=self.cfg.rtol, atol=self.cfg.atol)

    def _search_by_demands(self, jid: int, d: Any, now: int) -> None:
        """One step of the search: wait for the outstanding demand, else demand the next chunk or prove."""
        if d.demand_deadline or now > d.proof_deadline or jid in self.gave_up:
            return
        search = self.searches[jid]
        answers = answers_of(self.sdk.events("DemandAnswered", contract="game", jobId=jid))
        step = search.next_step(jid, answers, d.max_demands - d.demands_made)
        if isinstance(step, GiveUp):
            self.gave_up[jid] = step.reason
            log.warning("job %d: no proof from the worker's answers (%s); the time-out decides", jid, step.reason,
                        extra={"event": "no_proof", "job_id": jid})
            return
        if isinstance(step, Demand):
            self.game.send("demandChunk", step.args(jid, search.graph), "demandChunk")
            log.info("job %d: demanded value %d layout %d leaves %d..%d (%s)", jid, step.value_id, step.layout,
                     step.first_leaf, step.first_leaf + step.leaves - 1, step.why,
                     extra={"event": "demanded", "job_id": jid, "value_id": step.value_id})
            return
        try:
            self.game.send(step.function, step.args, step.function)
        except ContractReverted as e:
            self.gave_up[jid] = f"{step.function} rejected: {e.error}"
            log.error("job %d: proof %s rejected: %s", jid, step.detail, e.error,
                      extra={"event": "proof_rejected", "job_id": jid})
            return
        self.metrics.proven.labels(step.kind).inc()
        log.info("job %d: fraud proven from %d answered demands (%s)", jid, len(answers), step.detail,
                 extra={"event": "proven", "job_id": jid, "demands": len(answers)})


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.lower() == b.lower()


def _floats_first(outs: dict) -> dict:
    """Outputs to compare: the float outputs when there are any (an integer output derived from floats
    — an ArgMax label — may flip on an honest near-tie, which is not provable), else all of them."""
    floats = {k: v for k, v in outs.items() if getattr(v, "dtype", None) is not None and v.dtype.kind == "f"}
    return floats or dict(outs)


__all__ = ["Challenger", "ChallengerMetrics", "codec"]
