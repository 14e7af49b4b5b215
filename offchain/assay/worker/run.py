"""Entry point of `assay worker run`: config → checks → SDK → journal → metrics → loop, with signals.

Refuses to start on a misconfiguration (unreachable RPC, wrong chain, no deployment, no key, no
stake) with a message saying what to fix; then runs until SIGTERM/SIGINT, which lets the current
tick finish (computed results are posted) before exiting.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from typing import Any

from ..errors import AssayError
from .config import load_worker_config
from .journal import Journal
from .loop import Worker
from .metrics import HealthServer, WorkerMetrics

STD_FIELDS = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra=` fields (job ids)."""

    def format(self, record: logging.LogRecord) -> str:
        d: dict[str, Any] = {"ts": round(record.created, 3), "level": record.levelname.lower(),
                             "logger": record.name, "msg": record.getMessage()}
        d.update({k: v for k, v in record.__dict__.items() if k not in STD_FIELDS})
        return json.dumps(d, default=str)


def setup_logging(level: str = "INFO") -> None:
    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(JsonFormatter())
    root = logging.getLogger("assay")
    root.handlers[:] = [h]
    root.setLevel(level)
    root.propagate = False


def run_worker(ctx: Any, config_path: str | None, *, max_ticks: int | None = None, **overrides: Any) -> None:
    from ..inference.runner import InferenceRunner, SessionConfig
    from ..sdk import Assay
    from ..store import ContentStore
    from ..chain import SenderConfig

    setup_logging()
    log = logging.getLogger("assay.worker")
    cfg = load_worker_config(config_path, network=ctx.network if ctx.network else None, **overrides)
    if ctx.rpc_url or cfg.rpc_url == "http://127.0.0.1:8545":
        cfg = cfg.model_copy(update={"rpc_url": ctx.rpc()})
    account = ctx.signer()
    runner = InferenceRunner(SessionConfig(intra_op_threads=cfg.intra_op_threads), max_model_bytes=cfg.max_model_bytes)
    store = ContentStore(cfg.store_dir, gateways=cfg.gateways) if cfg.gateways else ContentStore(cfg.store_dir)
    sdk = Assay.connect(cfg.rpc_url, cfg.network, account=account, deployment_file=cfg.deployment_file,
                        store_dir=cfg.store_dir, sender_config=SenderConfig(receipt_timeout=60, replace_after=20),
                        runner=runner)
    sdk.store = store
    store_server = None
    if cfg.store_port is not None:
        from ..store import serve_store

        store_server = serve_store(store, port=cfg.store_port)
        sdk.publish_base = (cfg.publish_url or f"{store_server.url}/blobs").rstrip("/")
    elif cfg.publish_url:
        sdk.publish_base = cfg.publish_url.rstrip("/")
    st = sdk.stake_of()
    if st.free <= 0:
        raise AssayError(f"worker {sdk.address} has no free stake (active {st.active}, locked {st.locked})",
                         "stake first: assay stake deposit AMOUNT")
    journal = Journal(cfg.journal)
    metrics = WorkerMetrics()
    w = Worker(sdk, cfg, journal, metrics)
    from ..fraud.game import GameClient

    w.game = GameClient(sdk)
    server = None
    if cfg.metrics_port is not None:
        server = HealthServer(metrics.registry, w.health, port=cfg.metrics_port).start()
        log.info("metrics on http://127.0.0.1:%d/metrics", server.port, extra={"event": "metrics", "port": server.port})

    def _stop(signum, _frame):
        log.info("signal %d: finishing the current tick, then stopping", signum, extra={"event": "stopping"})
        w.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("worker %s started on %s (chain %d), serving %s", sdk.address, cfg.rpc_url, sdk.sender.chain_id,
             cfg.models or "every model", extra={"event": "started", "address": sdk.address, "free_stake": st.free})
    try:
        w.run(max_ticks=max_ticks)
    finally:
        if server:
            server.stop()
        if store_server:
            store_server.stop()
        journal.close()
        log.info("worker stopped", extra={"event": "stopped"})
