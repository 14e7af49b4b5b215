"""Entry point of `assay challenger run`: config → checks → SDK → journal → metrics → loop, with signals."""

from __future__ import annotations

import logging
import signal
from typing import Any

from ..errors import AssayError
from ..worker.journal import Journal
from ..worker.metrics import HealthServer
from ..worker.run import setup_logging
from .config import load_challenger_config
from .loop import Challenger, ChallengerMetrics


def run_challenger(ctx: Any, config_path: str | None, *, max_ticks: int | None = None, **overrides: Any) -> None:
    from ..chain import SenderConfig
    from ..fraud.game import GameClient
    from ..inference.runner import InferenceRunner, SessionConfig
    from ..sdk import Assay
    from ..store import ContentStore

    setup_logging()
    log = logging.getLogger("assay.challenger")
    cfg = load_challenger_config(config_path, network=ctx.network if ctx.network else None, **overrides)
    if ctx.rpc_url or cfg.rpc_url == "http://127.0.0.1:8545":
        cfg = cfg.model_copy(update={"rpc_url": ctx.rpc()})
    runner = InferenceRunner(SessionConfig(intra_op_threads=cfg.intra_op_threads,
                                           graph_optimization=cfg.graph_optimization),
                             max_model_bytes=cfg.max_model_bytes)
    sdk = Assay.connect(cfg.rpc_url, cfg.network, account=ctx.signer(), deployment_file=cfg.deployment_file,
                        store_dir=cfg.store_dir, sender_config=SenderConfig(receipt_timeout=60, replace_after=20),
                        runner=runner)
    if cfg.gateways:
        sdk.store = ContentStore(cfg.store_dir, gateways=cfg.gateways)
    bond = sdk.params()["challenge_bond"]
    if sdk.token_balance() < bond:
        raise AssayError(f"challenger {sdk.address} holds less than one challenge bond ({bond} token units)",
                         "fund the account with the fee token before challenging")
    journal = Journal(cfg.journal)
    metrics = ChallengerMetrics()
    ch = Challenger(sdk, cfg, journal, GameClient(sdk), metrics)
    server = HealthServer(metrics.registry, ch.health, port=cfg.metrics_port).start() if cfg.metrics_port is not None else None

    def _stop(signum, _frame):
        log.info("signal %d: stopping after this tick", signum, extra={"event": "stopping"})
        ch.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("challenger %s started on %s, sampling %.0f%% of results", sdk.address, cfg.rpc_url, cfg.sample_rate * 100,
             extra={"event": "started", "address": sdk.address})
    try:
        ch.run(max_ticks=max_ticks)
    finally:
        if server:
            server.stop()
        journal.close()
