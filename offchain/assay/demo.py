"""`make demo`: the main job end to end on a local anvil, in about a minute.

Starts its own anvil, deploys Assay, trains a small CNN on the digits set (real training, numpy) and
exports it to ONNX, lets a model owner publish it over HTTP from its content store and register it,
stakes a worker and starts `assay worker run` and `assay challenger run` as real subprocesses, submits
jobs from a requester,
waits for results, shows them next to the true labels, the receipt of one job (re-verified
locally), the finalized payouts and the worker's earnings — then shuts everything down. Everything
it creates lives under .assay/demo/ (removed at the start of each run).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import modelzoo
from .chain import JobStatus, dev_account
from .chain.anvil import Anvil
from .cli import fmt_tokens
from .devnet import deploy_local
from .receipt import build_receipt, render_receipt
from .sdk import Assay, verification_class
from .store import serve_store

ROOT = Path(__file__).resolve().parents[2]
WORK = Path(".assay/demo")
UNIT = 10**18
N_JOBS = 8

console = Console()


def _sdk(url: str, deployment: Path, index: int, store: Path) -> Assay:
    return Assay.connect(url, account=dev_account(index), deployment_file=deployment, store_dir=store)


def main(n_jobs: int = N_JOBS) -> int:
    t_start = time.time()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    console.rule("[bold]Assay demo")
    anvil = Anvil().start()
    worker_proc = challenger_proc = None
    owner_server = None
    try:
        console.print(f"anvil at {anvil.url}")
        with console.status("deploying contracts ..."):
            rec = deploy_local(anvil.url, deployments_dir=WORK, log=lambda m: None)
        deployment = Path(rec["path"])
        console.print(f"deployed: JobManager {rec['contracts']['JobManager']['address']}  (record {deployment})")

        with console.status("training a CNN on the digits set (numpy) and exporting it to ONNX ..."):
            zoo = modelzoo.digits_cnn()
        model_file = WORK / "digits_cnn.onnx"
        model_file.write_bytes(zoo.onnx_bytes)
        console.print(f"model: {model_file} ({len(zoo.onnx_bytes):,} bytes, test accuracy {zoo.accuracy:.3f})")

        # The model owner publishes the file from its own store over HTTP and registers it.
        owner = _sdk(anvil.url, deployment, 5, WORK / "owner-store")
        owner_server = serve_store(owner.store)
        digest = owner.store.put(zoo.onnx_bytes)
        vclass, uncovered = verification_class(zoo.onnx_bytes)
        model_id = owner.register_model(zoo.onnx_bytes, fee=UNIT // 100, uris=[owner_server.url_for(digest)])
        console.print(f"registered model {model_id[:18]}… served at {owner_server.url_for(digest)}, class {vclass}"
                      + (f" (no on-chain verifier yet for {', '.join(uncovered)}: disputes go to the arbiter)"
                         if uncovered else ""))

        # The worker stakes, then runs as a separate process with its own store and journal.
        worker = _sdk(anvil.url, deployment, 2, WORK / "worker-store")
        worker.stake(100 * UNIT)
        cfg = WORK / "worker.yaml"
        cfg.write_text(
            f"rpc_url: {anvil.url}\ndeployment_file: {deployment.resolve()}\nstore_dir: {(WORK / 'worker-store').resolve()}\n"
            f"journal: {(WORK / 'worker.sqlite').resolve()}\npoll_interval: 0.2\nmodels: ['{model_id}']\n"
        )
        worker_bal0 = worker.token_balance()
        worker_proc = _daemon("worker", 2, cfg)
        console.print(f"worker {worker.address} running (pid {worker_proc.pid}, log {WORK / 'worker.log'})")
        # An independent challenger re-runs every result with other onnxruntime settings.
        ccfg = WORK / "challenger.yaml"
        ccfg.write_text(
            f"rpc_url: {anvil.url}\ndeployment_file: {deployment.resolve()}\n"
            f"store_dir: {(WORK / 'challenger-store').resolve()}\njournal: {(WORK / 'challenger.sqlite').resolve()}\n"
            "poll_interval: 0.2\nintra_op_threads: 2\ngraph_optimization: disable\n"
        )
        challenger_proc = _daemon("challenger", 4, ccfg)
        console.print(f"challenger running (pid {challenger_proc.pid}, log {WORK / 'challenger.log'}), re-checking "
                      "every result with 2 threads and graph optimisations off")

        # The requester submits jobs: digits from the held-out set.
        req = _sdk(anvil.url, deployment, 1, WORK / "requester-store")
        x, y = zoo.x_test[:n_jobs], zoo.y_test[:n_jobs]
        ids = []
        t0 = time.time()
        with _progress() as prog:
            task = prog.add_task("submitting jobs", total=n_jobs)
            for i in range(n_jobs):
                ids.append(req.submit(model_id, {zoo.input_name: x[i:i + 1]}, worker_fee=UNIT // 10,
                                      onnx_bytes=zoo.onnx_bytes))
                prog.advance(task)
            task = prog.add_task("waiting for results", total=n_jobs)
            for jid in ids:
                req.wait(jid, JobStatus.POSTED, timeout=120)
                prog.advance(task)
        console.print(f"{n_jobs} results posted {time.time() - t0:.1f}s after the first submit")

        table = Table("job", "worker", "predicted", "true label", "p(max)", "status")
        correct = 0
        for jid, label in zip(ids, y):
            res = req.result(jid)
            probs = res.outputs["probabilities"][0]
            pred = int(res.outputs["label"][0])
            correct += pred == int(label)
            table.add_row(str(jid), res.worker[:10] + "…", str(pred), str(int(label)), f"{probs.max():.3f}",
                          res.status.name.lower())
        console.print(table)
        console.print(f"{correct}/{n_jobs} correct")

        with console.status("waiting for the challenge windows to close and the worker to finalize ..."):
            for jid in ids:
                _wait_finalized(req, jid, anvil)
        wrec = build_receipt(_sdk(anvil.url, deployment, 1, WORK / "worker-store"), ids[0], verify=True)
        console.print(render_receipt(wrec))

        earned = worker.token_balance() - worker_bal0 + worker.credits()
        console.print(f"worker earned {fmt_tokens(earned)} tokens for {n_jobs} jobs (fee 0.1 each); "
                      f"model owner credits {fmt_tokens(owner.credits())}; "
                      f"treasury credits {fmt_tokens(req.credits(req.params()['treasury']))}")
        disputes = sum(len(req.events("JobChallenged", jobId=j)) for j in ids)
        checked = _count(WORK / "challenger.log", '"event": "mismatch"')
        console.print(f"challenger: {disputes} disputes opened over {n_jobs} results "
                      f"({checked} re-runs outside tolerance); an honest worker is never challenged")
        ok = wrec.get("verify", {}).get("match", False) and correct >= n_jobs // 2 and disputes == 0
        console.rule(f"[bold green]done in {time.time() - t_start:.0f}s" if ok else "[bold red]demo failed")
        return 0 if ok else 1
    finally:
        for proc in (worker_proc, challenger_proc):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if owner_server is not None:
            owner_server.stop()
        anvil.stop()


def _daemon(kind: str, account: int, cfg: Path) -> subprocess.Popen:
    log = open(WORK / f"{kind}.log", "wb")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "offchain"), ASSAY_LOG="INFO")
    return subprocess.Popen([sys.executable, "-m", "assay.cli", "--account", str(account), kind, "run", "--config",
                             str(cfg)], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _count(path: Path, needle: str) -> int:
    return path.read_text(errors="replace").count(needle) if path.exists() else 0


def _wait_finalized(sdk: Assay, jid: int, anvil: Anvil, timeout: float = 90) -> None:
    """The local window is short (10 s); anvil only advances time with blocks, so mine idle blocks."""
    end = time.time() + timeout
    while sdk.job(jid).status != JobStatus.FINALIZED:
        if time.time() > end:
            raise TimeoutError(f"job {jid} not finalized after {timeout}s")
        anvil.mine(1)
        time.sleep(0.5)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(), console=console)


if __name__ == "__main__":
    sys.exit(main())
