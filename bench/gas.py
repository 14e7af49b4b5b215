"""Gas of the job lifecycle, measured from transaction receipts on the bench's own anvil.

Same scenario as tests/test_gas.py, so the figures can be checked against tests/gas_snapshot.json:
a fresh deployment, a registered model (fee 0.1 token), a staked worker, one whole warm-up job first
(steady state: every account already holds credits), 256-byte inline input, 40-byte inline output,
then one unbatched lifecycle (submit, claim, post, finalize) and batches of 1, 4, 16, 32 (and 64)
jobs through claimJobs / postResults / finalizeJobs. Transactions go through the SDK's single
writer (`Assay._send`), i.e. web3.py, not ape. Gas is deterministic: repeated lifecycles give the
same figure (the report shows the spread anyway).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .chainenv import OWNER, REQUESTER, UNIT, Deployment

SNAPSHOT = Path(__file__).resolve().parents[1] / "tests" / "gas_snapshot.json"
WORKER = 2
INPUT = bytes(range(256))  # as tests/test_gas.py
OUTPUT = bytes(40)
INPUT_ROOT = hashlib.sha256(b"input").digest()
OUTPUT_ROOT = hashlib.sha256(b"output").digest()
MODEL_ID = hashlib.sha256(b"model-a").digest()
MODEL_FEE = UNIT // 10
WORKER_FEE = UNIT
BATCHES = (1, 4, 16, 32, 64)
GOALS = {"lifecycle_unbatched": 175_000, "worker_per_job_batch32": 30_000}


class GasScenario:
    def __init__(self, dep: Deployment):
        self.dep = dep
        self.req = dep.sdk(REQUESTER, "gas-requester")
        self.wrk = dep.sdk(WORKER, "gas-worker")
        self.owner = dep.sdk(OWNER, "gas-owner")
        self.jobs = self.req.c.jobs
        self.owner._send(self.owner.c.registry.functions.registerModel(
            MODEL_ID, ["ipfs://model-a"], MODEL_FEE, 1, b"\x11" * 32, b"\x22" * 32), "registerModel")
        self.req.ensure_allowance(self.jobs.address, 10 * UNIT)
        self.wrk.stake(100 * UNIT)

    def _gas(self, sdk, fn, label: str) -> int:
        return int(sdk._send(fn, label)["gasUsed"])

    def _request(self) -> tuple:
        return (MODEL_ID, INPUT_ROOT, WORKER_FEE, 10 * UNIT, self.req.now() + 1000, False, INPUT, "")

    def submit(self) -> tuple[int, int]:
        gas = self._gas(self.req, self.jobs.functions.submit(self._request()), "submit")
        return int(self.jobs.functions.jobCount().call()), gas

    def _past_deadline(self, jid: int) -> None:
        deadline = self.req.job(jid).deadline
        self.dep.anvil.rpc("evm_setNextBlockTimestamp", [deadline + 1])
        self.dep.anvil.mine(1)

    def lifecycle(self) -> dict[str, int]:
        f = self.jobs.functions
        jid, s = self.submit()
        c = self._gas(self.wrk, f.claim(jid), "claim")
        p = self._gas(self.wrk, f.post(jid, OUTPUT_ROOT, OUTPUT, ""), "post")
        self._past_deadline(jid)
        z = self._gas(self.wrk, f.finalize(jid), "finalize")
        return {"submit": s, "claim": c, "post": p, "finalize": z, "lifecycle_unbatched": s + c + p + z}

    def batch(self, n: int) -> dict[str, int]:
        f = self.jobs.functions
        need = n * self.jobs.functions.quote(MODEL_ID, WORKER_FEE).call()[3]
        free = self.wrk.stake_of().free
        if need > free:  # batch 64 locks 128 tokens; the test scenario (up to 32) stakes 100
            self.wrk.stake(need - free)
        ids = [self.submit()[0] for _ in range(n)]
        c = self._gas(self.wrk, f.claimJobs(ids), "claimJobs")
        p = self._gas(self.wrk, f.postResults(ids, [OUTPUT_ROOT] * n, [OUTPUT] * n, [""] * n), "postResults")
        self._past_deadline(ids[-1])
        z = self._gas(self.wrk, f.finalizeJobs(ids), "finalizeJobs")
        return {f"claimJobs_per_job_batch{n}": c // n, f"postResults_per_job_batch{n}": p // n,
                f"finalizeJobs_per_job_batch{n}": z // n, f"worker_per_job_batch{n}": (c + p + z) // n}


def measure(dep: Deployment, *, batches: tuple[int, ...] = BATCHES, lifecycles: int = 3) -> dict[str, Any]:
    """The gas table (test_gas.py's keys, plus batch 64), unbatched-lifecycle repeats, and the
    comparison with the committed snapshot."""
    sc = GasScenario(dep)
    sc.lifecycle()  # warm-up: steady state
    table = sc.lifecycle()
    for n in sorted(set(batches)):
        table.update(sc.batch(n))
    repeats = [table["lifecycle_unbatched"]] + [sc.lifecycle()["lifecycle_unbatched"] for _ in range(lifecycles - 1)]
    return {"table": table, "lifecycle_repeats": repeats, "snapshot": compare_snapshot(table),
            "scenario": "steady state (one warm-up job first), 256-byte inline input, 40-byte inline output, "
                        "model fee 0.1 token, worker fee 1 token; same as tests/test_gas.py"}


def compare_snapshot(table: dict[str, int], path: Path = SNAPSHOT) -> dict[str, Any]:
    """Every snapshot key measured here: (snapshot, bench, difference)."""
    if not path.exists():
        return {"available": False, "reason": f"{path} not found"}
    snap = json.loads(path.read_text())
    rows = {k: {"snapshot": int(v), "bench": table.get(k), "diff": None if table.get(k) is None else table[k] - int(v)}
            for k, v in sorted(snap.items())}
    worst = max((abs(r["diff"]) / r["snapshot"] for r in rows.values() if r["diff"] is not None), default=0.0)
    return {"available": True, "rows": rows, "max_rel_diff": worst, "agree_within_1pct": worst <= 0.01,
            "missing": sorted(k for k, r in rows.items() if r["bench"] is None)}
