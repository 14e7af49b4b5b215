"""Helpers for the end-to-end tests: a real anvil with Assay deployed, real `assay worker run`
subprocesses, and small waits. No mocks: everything talks JSON-RPC to anvil."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from assay.chain import dev_account
from assay.chain.anvil import Anvil
from assay.devnet import deploy_local
from assay.sdk import Assay

ROOT = Path(__file__).resolve().parents[1]
UNIT = 10**18


@dataclass
class Devnet:
    anvil: Anvil
    dir: Path
    deployment: Path
    procs: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.anvil.url

    def sdk(self, index: int, store: str | None = None) -> Assay:
        return Assay.connect(self.url, account=dev_account(index), deployment_file=self.deployment,
                             store_dir=self.dir / (store or f"store-{index}"))

    def advance(self, seconds: int) -> None:
        """Move chain time forward and mine a block (anvil keeps the offset for later blocks)."""
        self.anvil.rpc("evm_increaseTime", [seconds])
        self.anvil.mine(1)

    def start_worker(self, index: int, name: str, *, models: list[str] | None = None, extra: dict | None = None,
                     metrics_port: int | None = None) -> "WorkerProc":
        cfg = {
            "rpc_url": self.url,
            "deployment_file": str(self.deployment),
            "store_dir": str(self.dir / f"{name}-store"),
            "journal": str(self.dir / f"{name}.sqlite"),
            "poll_interval": 0.2,
        }
        if models:
            cfg["models"] = models
        if metrics_port is not None:
            cfg["metrics_port"] = metrics_port
        cfg.update(extra or {})
        return self.start_daemon("worker", index, name, cfg)

    def start_challenger(self, index: int, name: str, extra: dict | None = None) -> "WorkerProc":
        cfg = {"rpc_url": self.url, "deployment_file": str(self.deployment), "store_dir": str(self.dir / f"{name}-store"),
               "journal": str(self.dir / f"{name}.sqlite"), "poll_interval": 0.2}
        cfg.update(extra or {})
        return self.start_daemon("challenger", index, name, cfg)

    def start_daemon(self, kind: str, index: int, name: str, cfg: dict) -> "WorkerProc":
        """`assay --account INDEX <kind> run --config <name>.yaml` as a subprocess (its own session)."""
        import yaml

        path = self.dir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        log_path = self.dir / f"{name}.log"
        log = open(log_path, "ab")
        env = dict(os.environ, PYTHONPATH=str(ROOT / "offchain"), ASSAY_LOG="INFO")
        proc = subprocess.Popen(
            [sys.executable, "-m", "assay.cli", "--account", str(index), kind, "run", "--config", str(path)],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=str(self.dir))
        w = WorkerProc(proc, log_path, name)
        self.procs.append(w)
        return w

    def stop_all(self) -> None:
        for w in self.procs:
            w.kill()


@dataclass
class WorkerProc:
    proc: subprocess.Popen
    log_path: Path
    name: str

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 20) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_devnet(directory: Path) -> Devnet:
    anvil = Anvil().start()
    try:
        rec = deploy_local(anvil.url, deployments_dir=directory, log=lambda m: None)
    except BaseException:
        anvil.stop()
        raise
    return Devnet(anvil, directory, Path(rec["path"]))


def wait_for(pred: Callable[[], Any], timeout: float, what: str, on_timeout: Callable[[], str] = lambda: "") -> Any:
    end = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{on_timeout()}")
        time.sleep(0.2)


def start_devnet_with(directory: Path, local: dict) -> Devnet:
    """`start_devnet` with keys of config/deploy.yaml's `local` section replaced (merged one level deep:
    `{"params": {"challenge_window": 300}}` changes that one parameter and keeps the others)."""
    import yaml

    raw = yaml.safe_load((ROOT / "config" / "deploy.yaml").read_text())
    section = dict(raw.get("local") or {})
    for key, value in local.items():
        section[key] = {**(section.get(key) or {}), **value} if isinstance(value, dict) else value
    raw["local"] = section
    config = directory / "deploy.yaml"
    config.write_text(yaml.safe_dump(raw))
    anvil = Anvil().start()
    try:
        rec = deploy_local(anvil.url, config=config, deployments_dir=directory, log=lambda m: None)
    except BaseException:
        anvil.stop()
        raise
    return Devnet(anvil, directory, Path(rec["path"]))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape_metrics(port: int) -> dict[str, float]:
    """A daemon's /metrics as {sample name with labels: value} (Prometheus text format)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def balances_at_one_block(sdk, who) -> dict:
    """Tokens + credits of each account, all read at one block (a daemon may withdraw in between)."""
    block = sdk.w3.eth.block_number
    token, jobs = sdk.c.token.functions, sdk.c.jobs.functions
    return {a: token.balanceOf(a).call(block_identifier=block) + jobs.creditsOf(a).call(block_identifier=block)
            for a in who}
