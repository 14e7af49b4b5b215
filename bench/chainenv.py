"""The bench's own chain: one anvil (automine) for the whole run, fresh Assay deployments on it, SDK
handles for the dev accounts, and real `assay worker run` subprocesses whose JSON logs say when they
posted what.

Everything goes through the same code the product uses: `assay.chain.anvil.Anvil`,
`assay.devnet.deploy_local` (the `local` parameters of config/deploy.yaml), the `assay.sdk.Assay`
client and the worker CLI. This module never measures anything itself.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from assay.chain import SenderConfig, dev_account
from assay.chain.anvil import Anvil, die_with_parent
from assay.devnet import deploy_local
from assay.sdk import Assay
from assay.store import StoreServer, serve_store

ROOT = Path(__file__).resolve().parents[1]
UNIT = 10**18
FAST_SENDER = SenderConfig(receipt_timeout=60, replace_after=None, poll_interval=0.005)
OWNER, REQUESTER = 5, 1
WORKER_ACCOUNTS = (2, 3, 4, 7)  # dev accounts that act as workers (funded by deploy_local)
PROFILE: list[str] = []  # e.g. ["-m", "cProfile", "-o", "worker.prof"] while investigating


@dataclass
class Deployment:
    """One deployment of the stack on the bench's anvil, with its own directory."""

    anvil: Anvil
    dir: Path
    path: Path
    record: dict[str, Any]
    servers: list[StoreServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.anvil.url

    def sdk(self, index: int, store: str | None = None) -> Assay:
        return Assay.connect(self.url, account=dev_account(index), deployment_file=self.path,
                             store_dir=self.dir / (store or f"store-{index}"), sender_config=FAST_SENDER)

    def advance(self, seconds: int) -> None:
        """Move chain time forward and mine one block (anvil only advances time with blocks)."""
        self.anvil.rpc("evm_increaseTime", [int(seconds)])
        self.anvil.mine(1)

    def register(self, onnx_bytes: bytes, fee: int = UNIT // 100) -> str:
        """The model owner publishes the file over HTTP from its store and registers it."""
        owner = self.sdk(OWNER, "owner-store")
        server = serve_store(owner.store)
        self.servers.append(server)
        digest = owner.store.put(onnx_bytes)
        return owner.register_model(onnx_bytes, fee=fee, uris=[server.url_for(digest)])

    def close(self) -> None:
        for s in self.servers:
            s.stop()
        self.servers.clear()


def start_anvil() -> Anvil:
    _install_cleanup()
    return Anvil(die_with_parent=True).start()


# --------------------------------------------------------------------------------------------------
# children: never orphaned
#
# Workers, challengers and anvil run in their own process groups (so a stop can kill a whole group),
# which also means a signal sent to the bench's group (`timeout`, Ctrl-C) does not reach them. So:
# SIGTERM/SIGHUP become SystemExit (the `finally` blocks stop what they started), an atexit hook
# SIGKILLs any child group still alive, and each child gets PR_SET_PDEATHSIG (SIGKILL when the bench
# dies, even by SIGKILL).

_CHILDREN: list[subprocess.Popen] = []
_CLEANUP_INSTALLED = False


def spawn(cmd: list[str], **kw: Any) -> subprocess.Popen:
    """Popen in a new session that dies with the bench (see above); use for every long-lived child."""
    _install_cleanup()
    proc = subprocess.Popen(cmd, start_new_session=True, preexec_fn=die_with_parent, **kw)
    _CHILDREN.append(proc)
    return proc


def kill_children() -> None:
    """SIGKILL the process group of every child still running."""
    for p in _CHILDREN:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
    _CHILDREN[:] = [p for p in _CHILDREN if p.poll() is None]


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def _install_cleanup() -> None:
    global _CLEANUP_INSTALLED
    if _CLEANUP_INSTALLED:
        return
    _CLEANUP_INSTALLED = True
    atexit.register(kill_children)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            try:
                signal.signal(sig, _exit_on_signal)
            except ValueError:  # not the main thread: atexit and PDEATHSIG still apply
                pass


def deploy(anvil: Anvil, directory: Path) -> Deployment:
    directory.mkdir(parents=True, exist_ok=True)
    rec = deploy_local(anvil.url, deployments_dir=directory, log=lambda _m: None)
    return Deployment(anvil, directory, Path(rec["path"]), rec)


# --------------------------------------------------------------------------------------------------
# worker subprocesses


@dataclass
class WorkerProc:
    proc: subprocess.Popen
    log_path: Path
    name: str
    account: int
    _offset: int = 0
    _events: list[dict[str, Any]] = field(default_factory=list)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM (the worker finishes its tick and exits 0); SIGKILL if it lingers."""
        if not self.alive():
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(timeout=10)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The worker's JSON log lines so far (optionally only those with event == name). The log is
        read incrementally: each call parses only what was appended since the last one."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            chunk = b""
        end = chunk.rfind(b"\n") + 1  # only whole lines
        self._offset += end
        for line in chunk[:end].decode(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                self._events.append(json.loads(line))
            except ValueError:
                continue
        return [e for e in self._events if name is None or e.get("event") == name]

    def posted_at(self) -> dict[int, float]:
        """job id -> wall-clock time the worker logged its post as mined."""
        out: dict[int, float] = {}
        for e in self.events("posted"):
            for j in e.get("job_ids", []):
                out.setdefault(int(j), float(e["ts"]))
        return out

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return ""


def start_worker(dep: Deployment, account: int, name: str, *, model_ids: list[str], poll_interval: float = 0.05,
                 extra: dict[str, Any] | None = None) -> WorkerProc:
    """`assay worker run` as a subprocess with its own store and journal under the deployment dir."""
    cfg = {
        "rpc_url": dep.url,
        "deployment_file": str(dep.path),
        "store_dir": str(dep.dir / f"{name}-store"),
        "journal": str(dep.dir / f"{name}.sqlite"),
        "poll_interval": poll_interval,
        "models": model_ids,
    }
    cfg.update(extra or {})
    path = dep.dir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    log_path = dep.dir / f"{name}.log"
    log = open(log_path, "ab")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "offchain"))
    proc = spawn(
        [sys.executable, *PROFILE, "-m", "assay.cli", "--account", str(account), "worker", "run", "--config", str(path)],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(dep.dir))
    log.close()
    return WorkerProc(proc, log_path, name, account)


def wait_for(pred: Callable[[], Any], timeout: float, what: str, on_timeout: Callable[[], str] = lambda: "",
             poll: float = 0.02) -> Any:
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}\n{on_timeout()}")
        time.sleep(poll)


def records(dep: Deployment, worker: WorkerProc, job_ids: list[int] | set[int]) -> dict[int, dict[str, Any]]:
    """The worker's execution records (infer_ms, computed_at, ...) of these jobs, from its store."""
    jobs = dep.record["contracts"]["JobManager"]["address"].lower()
    base = dep.dir / f"{worker.name}-store" / "records"
    out = {}
    for j in job_ids:
        p = base / f"{jobs}-{int(j)}.json"
        if p.exists():
            out[int(j)] = json.loads(p.read_text())
    return out


def logged_ids(workers: list[WorkerProc], event: str) -> dict[int, float]:
    """job id -> earliest wall-clock time any of `workers` logged `event` (claimed/posted/finalized) for it."""
    out: dict[int, float] = {}
    for w in workers:
        for e in w.events(event):
            for j in e.get("job_ids", []):
                t = float(e["ts"])
                if int(j) not in out or t < out[int(j)]:
                    out[int(j)] = t
    return out
