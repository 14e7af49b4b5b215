"""Entry point of `assay worker run`: config → checks → SDK → journal → metrics → loop, with signals.

Refuses to start on a misconfiguration with a message naming the problem and the fix, before it
sends anything: config fields, a store or journal directory it cannot write, a port it cannot bind,
no key, an unreachable RPC, a missing or wrong deployment (chain id, no code), no ETH for gas, free
stake below the collateral of the cheapest job it would claim, configured models that are not
registered. Then runs until SIGTERM/SIGINT: the first one drains (claims nothing new, computes and
posts the jobs it holds, then exits 0), a second one exits at once (the journal is crash-safe; the
jobs still claimed are resumed by the next start, or re-opened by anyone after their lease).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

from ..daemon import connect_waiting
from ..errors import AssayError, ConfigError
from .config import WorkerConfig, load_worker_config
from .journal import Journal
from .loop import CURRENT_JOBS, Worker
from .metrics import HealthServer, WorkerMetrics, rpc_probe

STD_FIELDS = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
GAS_PER_JOB = 400_000  # a claim plus a post of one job, with margin: the least ETH a worker must hold


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra=` fields (job ids).

    A line logged while the worker handles jobs (a transaction replaced, an RPC retried, a tick that
    failed in the middle of a post) gets their ids as `job_ids` when it names none itself."""

    def format(self, record: logging.LogRecord) -> str:
        d: dict[str, Any] = {"ts": round(record.created, 3), "level": record.levelname.lower(),
                             "logger": record.name, "msg": record.getMessage()}
        d.update({k: v for k, v in record.__dict__.items() if k not in STD_FIELDS})
        if "job_id" not in d and "job_ids" not in d:
            jobs = CURRENT_JOBS.get()
            if jobs:
                d["job_ids"] = list(jobs)
        if record.exc_info:
            d["exc"] = self.formatException(record.exc_info)
        return json.dumps(d, default=str)


def setup_logging(level: str = "INFO") -> None:
    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(JsonFormatter())
    root = logging.getLogger("assay")
    root.handlers[:] = [h]
    root.setLevel(level)
    root.propagate = False


# ---------------------------------------------------------------------- start-up checks
def check_writable_dir(path: Path, field: str) -> None:
    """`path` exists (created if need be) and this process can create files in it; else ConfigError."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".assay-write-check-"):
            pass
    except OSError as e:
        raise ConfigError(
            f"{field} {path} is not a writable directory ({e.strerror or type(e).__name__})",
            f"create it and give the worker's user write access (chown/chmod), or set {field} to another path",
        ) from None


def check_port(port: int | None, field: str) -> None:
    """A fixed port (not None, not 0) must be free to bind on 127.0.0.1; else ConfigError."""
    if not port:
        return
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            raise ConfigError(
                f"{field} {port} cannot be bound ({e.strerror or e})",
                f"stop what listens on port {port}, or set {field} to a free port (0 picks one)",
            ) from None


def check_local(cfg: WorkerConfig) -> None:
    """Checks that need neither the key nor the chain: directories and ports."""
    check_writable_dir(cfg.store_dir, "store_dir")
    check_writable_dir(cfg.journal.parent, "journal directory")
    check_port(cfg.metrics_port, "metrics_port")
    check_port(cfg.store_port, "store_port")


def check_chain(sdk: Any, cfg: WorkerConfig) -> int:
    """Checks against the chain: contracts have code, ETH for gas, free stake ≥ one job's collateral,
    configured models registered. Returns the free stake."""
    w3, me = sdk.w3, sdk.address
    chain_id = int(w3.eth.chain_id)
    for name in ("JobManager",):  # a reset chain has none of them: one look is enough
        contract = sdk.c[name]
        if not w3.eth.get_code(contract.address):
            raise ConfigError(
                f"no contract at the {name} address {contract.address} of the deployment on chain {chain_id}",
                "the chain was reset or the deployment file belongs to another chain: redeploy "
                "(`assay devnet up` / `ape run deploy`) or give the right --deployment / network",
            )
    eth = int(w3.eth.get_balance(me))
    need = GAS_PER_JOB * int(w3.eth.gas_price)
    if eth == 0 or eth < need:
        raise AssayError(
            f"worker {me} holds {eth} wei of ETH, less than the ~{need} wei one claim and one post cost at the "
            f"current gas price",
            f"send ETH for gas to {me}",
        )
    p = sdk.params()
    collateral = max(int(p["min_collateral"]), cfg.min_worker_fee * int(p["collateral_bps"]) // 10_000)
    st = sdk.stake_of()
    if st.free < collateral:
        what = "has no free stake" if st.free <= 0 else f"has {st.free} free stake"
        raise AssayError(
            f"worker {me} {what} (active {st.active}, locked {st.locked}), less than the collateral of the "
            f"cheapest job it would claim ({collateral} = max(minCollateral, min_worker_fee × collateralBps / 10⁴))",
            f"stake at least {collateral - max(st.free, 0)} more token units: assay stake deposit AMOUNT "
            "(or wait for locked collateral to be released)",
        )
    for mid in cfg.models:
        try:
            sdk.model(mid)
        except Exception as e:  # noqa: BLE001 - the registry reverts for an unknown id
            raise ConfigError(
                f"model {mid} (in `models`) is not registered on this deployment ({type(e).__name__})",
                "check the id (`assay model list`) or remove it from `models`",
            ) from None
    return st.free


def health_with_rpc(health: Callable[[], dict[str, Any]], probe: Callable[[], tuple[bool, str | None]],
                    rpc_up: Any = None) -> Callable[[], dict[str, Any]]:
    """/health: the loop's own view (recent successful tick) and whether the RPC answers right now
    (`rpc_up`: a Gauge set to 1 / 0 on each probe)."""

    def combined() -> dict[str, Any]:
        h = health()
        ok, err = probe()
        if rpc_up is not None:
            rpc_up.set(1 if ok else 0)
        h["rpc_ok"] = ok
        if not ok:
            h["rpc_error"] = err
            h["ok"] = False
        return h

    return combined


# ---------------------------------------------------------------------- entry point
def run_worker(ctx: Any, config_path: str | None, *, max_ticks: int | None = None, **overrides: Any) -> None:
    from ..chain import SenderConfig
    from ..inference.runner import InferenceRunner, SessionConfig
    from ..sdk import Assay
    from ..store import ContentStore

    setup_logging()
    log = logging.getLogger("assay.worker")
    cfg = load_worker_config(config_path, network=ctx.network if ctx.network else None, **overrides)
    if ctx.rpc_url or cfg.rpc_url == "http://127.0.0.1:8545":
        cfg = cfg.model_copy(update={"rpc_url": ctx.rpc()})
    check_local(cfg)
    account = ctx.signer()
    runner = InferenceRunner(SessionConfig(intra_op_threads=cfg.intra_op_threads), max_model_bytes=cfg.max_model_bytes)
    store = ContentStore(cfg.store_dir, gateways=cfg.gateways) if cfg.gateways else ContentStore(cfg.store_dir)
    sender_cfg = SenderConfig(receipt_timeout=cfg.tx_timeout, replace_after=cfg.tx_replace_after,
                              max_fee_per_gas=cfg.max_fee_per_gas)
    sdk = connect_waiting(
        lambda: Assay.connect(cfg.rpc_url, cfg.network, account=account, deployment_file=cfg.deployment_file,
                            store_dir=cfg.store_dir, sender_config=sender_cfg, runner=runner),
        cfg.startup_rpc_wait, log, cfg.rpc_url)
    sdk.store = store
    free = check_chain(sdk, cfg)
    try:
        journal = Journal(cfg.journal)
    except Exception as e:  # sqlite3.Error: not a database, locked, ...
        raise ConfigError(f"cannot open the journal {cfg.journal}: {e}",
                          "give `journal` a path to a new file or to this worker's own journal") from None
    metrics = WorkerMetrics()
    metrics.watch_sender(sdk.sender)
    w = Worker(sdk, cfg, journal, metrics)
    from ..fraud.game import GameClient

    w.game = GameClient(sdk)
    server = store_server = None
    try:
        if cfg.store_port is not None:
            from ..store import serve_store

            store_server = _bind(lambda: serve_store(store, port=cfg.store_port), cfg.store_port, "store_port")
            sdk.publish_base = (cfg.publish_url or f"{store_server.url}/blobs").rstrip("/")
        elif cfg.publish_url:
            sdk.publish_base = cfg.publish_url.rstrip("/")
        if cfg.metrics_port is not None:
            health = health_with_rpc(w.health, rpc_probe(cfg.rpc_url), metrics.rpc_up)
            server = _bind(lambda: HealthServer(metrics.registry, health, port=cfg.metrics_port).start(),
                           cfg.metrics_port, "metrics_port")
            log.info("metrics on http://127.0.0.1:%d/metrics", server.port,
                     extra={"event": "metrics", "port": server.port})

        stops = {"n": 0}

        def _stop(signum: int, _frame: Any) -> None:
            # Runs in the main thread between two bytecodes of the loop, maybe inside a journal call or
            # Event.wait: it must not take a lock the loop may hold (the journal's and the Event's are not
            # re-entrant), so the stop event is set from another thread. The jobs being worked on right now
            # are added to the line by the formatter (CURRENT_JOBS).
            stops["n"] += 1
            if stops["n"] == 1:
                log.info("signal %d: draining — no new claims; the jobs held are computed and posted, then the "
                         "worker exits (signal again to exit at once)", signum, extra={"event": "stopping"})
                threading.Thread(target=w.stop, name="stop", daemon=True).start()
            else:
                log.warning("signal %d again: exiting now; claimed jobs resume at the next start", signum,
                            extra={"event": "stopping_now"})
                raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        log.info("worker %s started on %s (chain %d), serving %s", sdk.address, cfg.rpc_url, sdk.sender.chain_id,
                 cfg.models or "every model", extra={"event": "started", "address": sdk.address, "free_stake": free,
                                                     "pid": os.getpid()})
        w.run(max_ticks=max_ticks)
    finally:
        if server:
            server.stop()
        if store_server:
            store_server.stop()
        journal.close()
        log.info("worker stopped", extra={"event": "stopped"})


def _bind(start: Callable[[], Any], port: int, field: str) -> Any:
    try:
        return start()
    except OSError as e:
        raise ConfigError(f"{field} {port} cannot be bound ({e.strerror or e})",
                          f"stop what listens on port {port}, or set {field} to a free port (0 picks one)") from None
