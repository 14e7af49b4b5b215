"""Receipts: how a result was produced, assembled from the chain (job, model, events, challenge state)
and the worker's execution record, and optionally re-verified by running the model here.

Verification never compares raw float bits across machines (onnxruntime is not bitwise
deterministic across CPUs/threads): float outputs match when |local − posted| ≤ atol + rtol·|local|
elementwise; integer and bool outputs must be equal.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .chain import JobStatus
from .sdk import Assay, hex32

RTOL = 1e-4
ATOL = 1e-5


def _block_time(sdk: Assay, block: int) -> int:
    return int(sdk.w3.eth.get_block(block)["timestamp"])


def build_receipt(sdk: Assay, job_id: int, *, verify: bool = False) -> dict[str, Any]:
    j = sdk.job(job_id)
    m = sdk.model(j.model_id)
    sub = sdk.submitted_event(job_id)
    rec: dict[str, Any] = {
        "job_id": job_id,
        "status": j.status.name,
        "requester": j.requester,
        "worker": j.worker,
        "model": {"id": m.model_id, "class": m.vclass, "uris": m.uris, "owner": m.owner,
                  "graph_root": hex32(m.graph_root), "weights_root": hex32(m.weights_root)},
        "fees": {"worker": j.worker_fee, "owner": j.owner_fee, "protocol": j.protocol_fee, "collateral": j.collateral},
        "input_root": hex32(j.input_root),
        "input_source": "inline" if bytes(sub["args"]["input"]) else sub["args"]["inputURI"],
        "submitted": {"block": sub["blockNumber"], "time": _block_time(sdk, sub["blockNumber"]),
                      "tx": sub["transactionHash"].hex()},
        "output_root": hex32(j.output_root) if j.output_root else None,
    }
    posts = sdk.events("ResultPosted", jobId=int(job_id))
    if posts:
        p = posts[-1]
        rec["posted"] = {"block": p["blockNumber"], "time": _block_time(sdk, p["blockNumber"]),
                         "tx": p["transactionHash"].hex(), "window_end": int(p["args"]["windowEnd"]),
                         "output_source": "inline" if bytes(p["args"]["output"]) else p["args"]["outputURI"]}
    fin = sdk.events("JobFinalized", jobId=int(job_id))
    if fin:
        rec["finalized"] = {"block": fin[-1]["blockNumber"], "time": _block_time(sdk, fin[-1]["blockNumber"])}
    challenger, bond = sdk.state.challenge(job_id)
    settled = sdk.events("DisputeSettled", jobId=int(job_id))
    if j.status == JobStatus.CHALLENGED:
        rec["challenge"] = {"state": "open", "challenger": challenger, "bond": bond}
    elif settled:
        rec["challenge"] = {"state": "challenger won" if settled[-1]["args"]["challengerWon"] else "result upheld"}
    elif j.status == JobStatus.POSTED:
        rec["challenge"] = {"state": "none yet", "window_open_until": j.deadline}
    else:
        rec["challenge"] = {"state": "none"}
    rec["execution"] = sdk.load_record(job_id) or {"note": "no execution record from the worker in this store"}
    if verify:
        rec["verify"] = verify_result(sdk, job_id)
    return rec


def verify_result(sdk: Assay, job_id: int) -> dict[str, Any]:
    """Re-run the model on the job's input here and compare with the posted output."""
    res = sdk.result(job_id)
    model_id = hex32(sdk.job(job_id).model_id)
    onnx_bytes = sdk.fetch_model(model_id)
    _raw, tensors = sdk.job_input(job_id)
    t0 = time.perf_counter()
    local = sdk.runner.run(model_id, onnx_bytes, dict(tensors))
    ms = (time.perf_counter() - t0) * 1000
    details, match = [], True
    for name, want in local.items():
        got = res.outputs.get(name)
        want = np.asarray(want)
        if got is None or got.shape != want.shape or got.dtype != want.dtype:
            details.append({"output": name, "match": False, "why": "missing or different shape/dtype"})
            match = False
            continue
        if want.dtype.kind == "f":
            diff = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))) if want.size else 0.0
            ok = bool(np.allclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=False))
        else:
            diff = float(np.max(np.abs(got.astype(np.int64) - want.astype(np.int64)))) if want.size else 0.0
            ok = bool(np.array_equal(got, want))
        details.append({"output": name, "match": ok, "max_abs_diff": diff})
        match &= ok
    return {"match": match, "tolerance": {"rtol": RTOL, "atol": ATOL}, "outputs": details,
            "local_runtime": sdk.runner.runtime_info(), "local_ms": round(ms, 3)}


def render_receipt(r: dict[str, Any]) -> str:
    L = [f"[bold]Receipt of job {r['job_id']}[/] — {r['status']}",
         f"  model        {r['model']['id']} (class {r['model']['class']})",
         f"  fetched from {', '.join(r['model']['uris'])}",
         f"  requester    {r['requester']}",
         f"  worker       {r['worker'] or '-'}",
         f"  input root   {r['input_root']} ({r['input_source']})",
         f"  output root  {r['output_root'] or '-'}"]
    if "posted" in r:
        p = r["posted"]
        L.append(f"  posted       block {p['block']} at {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(p['time']))} UTC, "
                 f"tx {p['tx'][:18]}…; challenge window until {p['window_end']}")
    if "finalized" in r:
        L.append(f"  finalized    block {r['finalized']['block']}")
    L.append(f"  challenge    {r['challenge']['state']}")
    ex = r["execution"]
    if "runtime" in ex:
        rt = ex["runtime"]
        L.append(f"  executed by  onnxruntime {rt.get('onnxruntime')} on {rt.get('machine')}, "
                 f"{rt.get('intra_op_threads')} intra-op thread(s), graph optimisation {rt.get('graph_optimization')}, "
                 f"{ex.get('infer_ms', 0):.2f} ms")
    else:
        L.append(f"  executed by  {ex.get('note')}")
    if "verify" in r:
        v = r["verify"]
        verdict = "[green]MATCHES[/]" if v["match"] else "[red]DOES NOT MATCH[/]"
        L.append(f"  verify       {verdict} a local re-run (onnxruntime {v['local_runtime']['onnxruntime']}, "
                 f"rtol {v['tolerance']['rtol']}, atol {v['tolerance']['atol']})")
        for d in v["outputs"]:
            L.append(f"               {d['output']}: max |diff| {d.get('max_abs_diff', '-')}")
    return "\n".join(L)
