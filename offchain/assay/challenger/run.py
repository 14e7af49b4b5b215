"""Entry point of `assay challenger run`: config → checks → SDK → journal → metrics → loop, with signals.

Refuses to start, with the problem and the fix, on a directory it cannot write, a port it cannot
bind, no key, an unreachable RPC, a wrong deployment, no ETH for gas or less than one challenge
bond of tokens. SIGTERM/SIGINT stop it after the current tick; a second signal exits at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from ..daemon import connect_waiting
from ..errors import AssayError
from ..worker.journal import Journal
from ..worker.metrics import HealthServer, rpc_probe
from ..worker.run import GAS_PER_JOB, check_port, check_writable_dir, health_with_rpc, setup_logging
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
    check_writable_dir(cfg.store_dir, "store_dir")
    check_writable_dir(cfg.journal.parent, "journal directory")
    check_port(cfg.metrics_port, "metrics_port")
    runner = InferenceRunner(SessionConfig(intra_op_threads=cfg.intra_op_threads,
                                           graph_optimization=cfg.graph_optimization),
                             max_model_bytes=cfg.max_model_bytes)
    account = ctx.signer()
    sdk = connect_waiting(
        lambda: Assay.connect(cfg.rpc_url, cfg.network, account=account, deployment_file=cfg.deployment_file,
                            store_dir=cfg.store_dir,
                            sender_config=SenderConfig(receipt_timeout=cfg.tx_timeout, replace_after=cfg.tx_replace_after,
                                                       max_fee_per_gas=cfg.max_fee_per_gas),
                            runner=runner),
        cfg.startup_rpc_wait, log, cfg.rpc_url)
    if cfg.gateways:
        sdk.store = ContentStore(cfg.store_dir, gateways=cfg.gateways)
    eth, need = int(sdk.w3.eth.get_balance(sdk.address)), GAS_PER_JOB * int(sdk.w3.eth.gas_price)
    if eth < need or eth == 0:
        raise AssayError(f"challenger {sdk.address} holds {eth} wei of ETH, less than the ~{need} wei a challenge "
                         "costs at the current gas price", f"send ETH for gas to {sdk.address}")
    bond = sdk.params()["challenge_bond"]
    if sdk.token_balance() < bond:
        raise AssayError(f"challenger {sdk.address} holds less than one challenge bond ({bond} token units)",
                         "fund the account with the fee token before challenging")
    journal = Journal(cfg.journal)
    metrics = ChallengerMetrics()
    ch = Challenger(sdk, cfg, journal, GameClient(sdk), metrics)
    server = None
    if cfg.metrics_port is not None:
        health = health_with_rpc(ch.health, rpc_probe(cfg.rpc_url))
        try:
            server = HealthServer(metrics.registry, health, port=cfg.metrics_port).start()
        except OSError as e:
            journal.close()
            raise AssayError(f"metrics_port {cfg.metrics_port} cannot be bound ({e.strerror or e})",
                             "set metrics_port to a free port (0 picks one)") from None
    stops = {"n": 0}

    def _stop(signum, _frame):
        stops["n"] += 1
        if stops["n"] > 1:
            log.warning("signal %d again: exiting now", signum, extra={"event": "stopping_now"})
            raise SystemExit(128 + signum)
        log.info("signal %d: stopping after this tick (signal again to exit at once)", signum,
                 extra={"event": "stopping"})
        threading.Thread(target=ch.stop, name="stop", daemon=True).start()  # no lock the loop may hold

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
