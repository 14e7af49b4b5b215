"""Fraud-proof figures: gas of each on-chain op verifier at realistic sizes, gas of a `proveNode`
on a MatMul with K = 512, and the time and transactions from a wrong result to the slash.

The verifiers (contracts/verifiers/), the one-step game (`DisputeGame.proveNode`), the off-chain op
checks (`assay.fraud.ops`) and the challenger daemon (`assay challenger run`) are built separately
(docs/fraud-proofs.md). This module measures through their documented interfaces only:

- verifier table: every compiled contract from contracts/verifiers/ is deployed and
  `IOpVerifier.check(descriptor, inputs, output, outIndex)` is called on honest data of one node at
  a realistic size (descriptor from `assay.commitments.roots.graph_layout`, operands cut as
  `assay.fraud.ops.needs` says); the gas is `eth_estimateGas` of that call as a transaction
  (21,000 base + calldata + the check; the Merkle openings `proveNode` adds are not included). A
  pair counts only if the check returns true on honest data and false on a corrupted output.
- dispute: a worker run with the test-only `corrupt-node:0` fault (its MatMul output moved) and a challenger daemon, both real
  subprocesses on a fresh deployment; the figures come from the chain (receipts, events) and the
  workers' logs.

When a piece is missing, each figure it feeds is None and `notes` says why ("not measured: …") —
never a made-up number.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .chainenv import ROOT, UNIT, Deployment, deploy, start_worker, wait_for

VERIFIER_DIR = ROOT / "contracts" / "verifiers"
CHALLENGER = 4


# --------------------------------------------------------------------------------------------------
# what exists


def _manifest_types() -> dict[str, Any]:
    import json

    from assay import artifacts

    try:
        return json.loads(Path(artifacts.BUILD_MANIFEST).read_text())["contractTypes"]
    except (OSError, ValueError, KeyError):
        return {}


def verifier_contracts() -> tuple[list[str], str | None]:
    """Names of deployable compiled contracts whose source is under contracts/verifiers/; or why none."""
    if not VERIFIER_DIR.is_dir() or not any(VERIFIER_DIR.rglob("*.sol")):
        return [], "contracts/verifiers/ does not exist yet (the op verifiers are not in this checkout)"
    names = []
    for name, ct in _manifest_types().items():
        src = str(ct.get("sourceId") or "")
        code = (ct.get("deploymentBytecode") or {}).get("bytecode") or "0x"
        if src.startswith("contracts/verifiers/") and len(code) > 2 and "__$" not in code:
            abi = ct.get("abi") or []
            if any(i.get("type") == "function" and i.get("name") == "check" for i in abi):
                names.append(name)
    if not names:
        return [], "contracts/verifiers/ has no compiled contract with check() (run `make compile`)"
    return sorted(names), None


def has_prove_node() -> str | None:
    """None if the compiled DisputeGame has proveNode; else why not."""
    ct = _manifest_types().get("DisputeGame")
    if ct is None:
        return "DisputeGame is not compiled (run `make compile`)"
    if not any(i.get("type") == "function" and i.get("name") == "proveNode" for i in ct.get("abi", [])):
        return "DisputeGame has no proveNode yet (the interim timeout/arbiter game is deployed)"
    return None


def has_challenger() -> str | None:
    """None if `assay challenger run` exists; else why not."""
    r = subprocess.run([sys.executable, "-m", "assay.cli", "challenger", "run", "--help"], capture_output=True,
                       text=True, cwd=ROOT, env=_env(), timeout=60)
    if r.returncode != 0:
        return "the challenger daemon (`assay challenger run`) does not exist yet"
    return None


def _env() -> dict[str, str]:
    import os

    return dict(os.environ, PYTHONPATH=str(ROOT / "offchain"))


# --------------------------------------------------------------------------------------------------
# op cases at realistic sizes


def _cases() -> list[tuple[str, str, Callable[[], tuple[Any, dict[str, np.ndarray]]]]]:
    """(op type, size text, builder → (single-node ModelProto, feed))."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(1)

    def model(op, ins, out_shape, attrs=None, out_type=TensorProto.FLOAT):
        names = [n for n, _ in ins]
        node = helper.make_node(op, names, ["y"], name="n0", **(attrs or {}))
        graph = helper.make_graph([node], op, [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(a.shape))
                                               for n, a in ins],
                                  [helper.make_tensor_value_info("y", out_type, out_shape)])
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), dict(ins)

    def f(*shape):
        return rng.normal(size=shape).astype(np.float32)

    return [
        ("MatMul", "[1,512]×[512,512] (K=512)", lambda: model("MatMul", [("a", f(1, 512)), ("b", f(512, 512))], [1, 512])),
        ("Gemm", "[1,256]×[256,128]+[128] (K=256)",
         lambda: model("Gemm", [("a", f(1, 256)), ("b", f(256, 128)), ("c", f(128))], [1, 128])),
        ("Conv", "3×3, 64→128 ch on 24×24 (K=576)",
         lambda: model("Conv", [("x", f(1, 64, 24, 24)), ("w", f(128, 64, 3, 3)), ("bias", f(128))], [1, 128, 24, 24],
                       {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]})),
        ("Add", "[1,128,24,24]", lambda: model("Add", [("a", f(1, 128, 24, 24)), ("b", f(1, 128, 24, 24))], [1, 128, 24, 24])),
        ("Mul", "[1,128,24,24]", lambda: model("Mul", [("a", f(1, 128, 24, 24)), ("b", f(1, 128, 24, 24))], [1, 128, 24, 24])),
        ("Relu", "[1,128,24,24]", lambda: model("Relu", [("x", f(1, 128, 24, 24))], [1, 128, 24, 24])),
        ("Sigmoid", "[1,128,24,24]", lambda: model("Sigmoid", [("x", f(1, 128, 24, 24))], [1, 128, 24, 24])),
        ("Tanh", "[1,128,24,24]", lambda: model("Tanh", [("x", f(1, 128, 24, 24))], [1, 128, 24, 24])),
        ("MaxPool", "2×2 on [1,64,48,48]", lambda: model("MaxPool", [("x", f(1, 64, 48, 48))], [1, 64, 24, 24],
                                                         {"kernel_shape": [2, 2], "strides": [2, 2]})),
        ("AveragePool", "2×2 on [1,64,48,48]", lambda: model("AveragePool", [("x", f(1, 64, 48, 48))], [1, 64, 24, 24],
                                                             {"kernel_shape": [2, 2], "strides": [2, 2]})),
        ("GlobalAveragePool", "[1,256,12,12]", lambda: model("GlobalAveragePool", [("x", f(1, 256, 12, 12))], [1, 256, 1, 1])),
        ("Softmax", "[1,1000]", lambda: model("Softmax", [("x", f(1, 1000))], [1, 1000], {"axis": 1})),
        ("Flatten", "[1,256,4,4]", lambda: model("Flatten", [("x", f(1, 256, 4, 4))], [1, 4096], {"axis": 1})),
        ("Transpose", "[1,64,32,32]", lambda: model("Transpose", [("x", f(1, 64, 32, 32))], [1, 32, 32, 64],
                                                    {"perm": [0, 2, 3, 1]})),
    ]


def _operands(node, arrays: list[np.ndarray], out: np.ndarray, out_index: int):
    """IOpVerifier operands for one output element, cut as assay.fraud.ops.needs says."""
    from assay.commitments import codec
    from assay.fraud import ops  # type: ignore[import-not-found]

    needs = ops.needs(node, [a.shape for a in arrays], out.shape, out_index)
    by_input: dict[int, list] = {}
    for nd in needs:
        by_input.setdefault(nd.input_index, []).append(nd)
    operands = []
    for i, a in enumerate(arrays):
        ns = by_input.get(i, [])
        if not ns:
            operands.append((codec.dtype_code(a.dtype), [int(d) for d in a.shape], 0, 0, b""))
            continue
        layouts = {n.layout for n in ns}
        if len(layouts) != 1:
            raise ValueError(f"input {i} needed in two layouts; one operand cannot carry both")
        layout = layouts.pop()
        first = min(n.first for n in ns)
        end = max(n.first + n.count for n in ns)
        flat = (np.ascontiguousarray(np.swapaxes(a, -1, -2)) if layout == 1 and a.ndim >= 2 else a).reshape(-1)
        data = np.ascontiguousarray(flat[first:end]).astype(flat.dtype.newbyteorder("<")).tobytes()
        operands.append((codec.dtype_code(a.dtype), [int(d) for d in a.shape], layout, first, data))
    o = out.reshape(-1)[out_index:out_index + 1].astype(out.dtype.newbyteorder("<"))
    output = (codec.dtype_code(out.dtype), [int(d) for d in out.shape], 0, out_index, o.tobytes())
    return operands, output


def verifier_table(make_dep: Callable[[], Deployment], log: Callable[[str], None] = print
                   ) -> tuple[list[dict[str, Any]] | None, str | None]:
    """Rows (op, size, verifier, gas) or (None, why not). `make_dep` deploys only when there is
    something to measure."""
    names, why = verifier_contracts()
    if why:
        return None, why
    try:
        from assay.fraud import ops  # type: ignore[import-not-found]  # noqa: F401
    except ImportError as e:
        return None, f"assay.fraud.ops is not importable ({e}); operands cannot be cut without needs()"
    import onnxruntime as ort

    from assay import artifacts
    from assay.chain.deploy import _bytecode
    from assay.commitments import roots

    dep = make_dep()
    sdk = dep.sdk(0, "verifier-deployer")
    contracts = {}
    for n in names:
        try:
            abi = artifacts.abi(n)
            if any(i.get("type") == "constructor" and i.get("inputs") for i in abi):
                continue  # needs arguments: not a stand-alone verifier
            r = sdk.sender.deploy(abi, _bytecode(n, artifacts.BUILD_MANIFEST), label=f"deploy {n}")
            contracts[n] = sdk.w3.eth.contract(address=r["contractAddress"], abi=abi)
        except Exception as e:  # a verifier that cannot be deployed is reported, not fatal
            log(f"    verifier {n}: cannot deploy: {e}")
    rows = []
    for op, size, build in _cases():
        model, feed = build()
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        y = sess.run(None, feed)[0]
        node = model.graph.node[0]
        desc = roots.graph_layout(model).descriptors[0]
        arrays = [feed[n] for n in node.input]
        idx = int(y.size // 2)
        try:
            ins, out = _operands(node, arrays, y, idx)
        except Exception as e:
            rows.append({"op": op, "size": size, "verifier": None, "gas": None, "note": f"operands: {e}"})
            continue
        bad = list(out)
        v = np.frombuffer(out[4], dtype=y.dtype).copy()
        v[0] = v[0] + (1 + abs(v[0])) if y.dtype.kind == "f" else v[0] + 1
        bad[4] = v.tobytes()
        found = False
        candidates = [n for n in contracts if op.lower() in n.lower()] or list(contracts)
        for n in candidates:
            fn = contracts[n].functions.check(desc, ins, out, idx)
            try:
                ok = fn.call()
                caught = not contracts[n].functions.check(desc, ins, tuple(bad), idx).call()
            except Exception:
                continue  # this verifier does not handle this op (it must revert)
            if ok and caught:
                rows.append({"op": op, "size": size, "verifier": n, "gas": int(fn.estimate_gas()),
                             "calldata_bytes": len(fn._encode_transaction_data()) // 2 - 1})
                found = True
                break
        if not found:
            rows.append({"op": op, "size": size, "verifier": None, "gas": None,
                         "note": "no verifier accepted honest data and rejected a corrupted output"})
    return rows, None


# --------------------------------------------------------------------------------------------------
# a dispute end to end


def dispute(anvil, workdir: Path, model, log: Callable[[str], None] = print, timeout: float = 180) -> dict[str, Any]:
    """Wrong result posted → slashed, with real worker and challenger daemons; or why not measured."""
    why = has_prove_node() or has_challenger()
    if why:
        return {"measured": False, "reason": why}
    dep = deploy(anvil, workdir / "dispute")
    procs = []
    try:
        mid = dep.register(model.onnx_bytes)
        worker = dep.sdk(2, "dispute-worker-stake")
        worker.stake(100 * UNIT)
        wp = start_worker(dep, 2, "liar", model_ids=[mid], extra={"fault": "corrupt-node:0", "store_port": 0})
        procs.append(wp)
        cp = _start_challenger(dep, CHALLENGER, "challenger")
        procs.append(cp)
        from .workload import Requester

        req = Requester(dep, model, mid)
        wait_for(lambda: wp.events("started") or not wp.alive(), 60, "worker start", wp.log_tail)
        jid, _t, _ = req.submit_one(0)
        wait_for(lambda: jid in wp.posted_at() or not wp.alive(), 60, "wrong result posted", wp.log_tail)
        t_post = wp.posted_at()[jid]
        game = req.sdk.c.game
        seen: dict[str, Any] = {}

        def resolved() -> bool:
            evs = game.events.DisputeResolved().get_logs(from_block=dep.record["block"],
                                                         argument_filters={"jobId": jid})
            if evs:
                seen["ev"], seen["t"] = evs[-1], time.time()
            return bool(evs)

        wait_for(resolved, timeout, "the dispute to be resolved", lambda: cp.log_tail() + "\n" + wp.log_tail(), poll=0.05)
        ev = seen["ev"]
        if not ev["args"]["challengerWon"]:
            return {"measured": False, "reason": "the dispute ended with the wrong result upheld (challenger lost)"}
        txs = _dispute_txs(dep, req.sdk, jid, ev["blockNumber"])
        prove = [t for t in txs if t["function"] == "proveNode"]
        return {"measured": True, "job_id": jid, "fraud_to_slash_seconds": seen["t"] - t_post,
                "dispute_txs": len(txs), "txs": txs,
                "prove_node_gas": prove[-1]["gas"] if prove else None,
                "settled_by": txs[-1]["function"] if txs else None, "model": model.name}
    except Exception as e:
        return {"measured": False, "reason": f"the dispute run failed: {type(e).__name__}: {str(e).splitlines()[0]}"}
    finally:
        for p in procs:
            p.stop()
        dep.close()


def _start_challenger(dep: Deployment, account: int, name: str):
    import os

    import yaml

    from .chainenv import WorkerProc, spawn

    cfg = {"rpc_url": dep.url, "deployment_file": str(dep.path), "store_dir": str(dep.dir / f"{name}-store"),
           "journal": str(dep.dir / f"{name}.sqlite"), "poll_interval": 0.05}
    path = dep.dir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    log_path = dep.dir / f"{name}.log"
    with open(log_path, "ab") as log:
        proc = spawn([sys.executable, "-m", "assay.cli", "--account", str(account), "challenger", "run",
                      "--config", str(path)], stdout=log, stderr=subprocess.STDOUT, env=_env(), cwd=str(dep.dir))
    del os
    return WorkerProc(proc, log_path, name, account)


def _dispute_txs(dep: Deployment, sdk, jid: int, last_block: int) -> list[dict[str, Any]]:
    """Transactions to the JobManager or DisputeGame after the wrong post, up to the resolving one."""
    jobs, game = sdk.c.jobs, sdk.c.game
    posts = jobs.events.ResultPosted().get_logs(from_block=dep.record["block"], argument_filters={"jobId": jid})
    first = int(posts[-1]["blockNumber"]) + 1
    out = []
    targets = {jobs.address.lower(): jobs, game.address.lower(): game}
    for b in range(first, int(last_block) + 1):
        blk = sdk.w3.eth.get_block(b, full_transactions=True)
        for tx in blk["transactions"]:
            c = targets.get((tx["to"] or "").lower())
            if c is None:
                continue
            try:
                fn, _args = c.decode_function_input(tx["input"])
                name = fn.fn_name
            except Exception:
                name = "?"
            r = sdk.w3.eth.get_transaction_receipt(tx["hash"])
            out.append({"function": name, "gas": int(r["gasUsed"]), "from": tx["from"], "block": b})
    return out
