"""Prometheus metrics and a health endpoint for a daemon (worker or challenger).

Serves ``/metrics`` (Prometheus text format, from the daemon's own CollectorRegistry) and ``/health``
(JSON: alive, last tick, last error, whether the RPC answers) on one port, in a background thread.
It must never block or crash the daemon: a failing scrape only fails that HTTP request.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from typing import Any, Callable

import requests
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.claimed = Counter("assay_worker_jobs_claimed", "jobs claimed", registry=r)
        self.posted = Counter("assay_worker_jobs_posted", "results posted", registry=r)
        self.finalized = Counter("assay_worker_jobs_finalized", "jobs finalized (paid)", registry=r)
        self.failed = Counter("assay_worker_jobs_failed", "job attempts that failed", ["reason"], registry=r)
        self.skipped = Counter("assay_worker_jobs_skipped", "open jobs not taken", ["reason"], registry=r)
        self.inference = Histogram(
            "assay_worker_inference_seconds", "onnxruntime time per job", registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.active = Gauge("assay_worker_active_jobs", "claimed, not yet posted", registry=r)
        self.ticks = Counter("assay_worker_ticks", "loop iterations", registry=r)
        self.tick_errors = Counter("assay_worker_tick_errors", "loop iterations that failed", registry=r)
        self.withdrawn = Counter("assay_worker_withdrawn_units", "credits withdrawn (token units)", registry=r)
        self.reorged = Counter("assay_worker_jobs_reorged", "jobs the chain shows behind the journal (a reorg "
                               "removed a claim or post): claimed / posted again", registry=r)
        self.rpc_up = Gauge("assay_worker_rpc_up", "1 when the JSON-RPC endpoint answered the last health probe",
                            registry=r)
        self.tx_replaced = Gauge("assay_worker_tx_replacements", "transactions re-sent at a higher fee (same nonce) "
                                 "since start", registry=r)
        self.tx_gap_fills = Gauge("assay_worker_nonce_gap_fills", "no-op transactions sent to fill a nonce gap "
                                  "(after a reorg) since start", registry=r)

    def watch_sender(self, sender: Any) -> None:
        """Export the sender's own counts (replacements, nonce gap fills) at scrape time."""
        self.tx_replaced.set_function(lambda: getattr(sender, "replacements", 0))
        self.tx_gap_fills.set_function(lambda: getattr(sender, "gap_fills", 0))


def rpc_probe(rpc_url: str, timeout: float = 2.0, cache_s: float = 1.0) -> Callable[[], tuple[bool, str | None]]:
    """A cheap liveness probe of the JSON-RPC endpoint for /health: one `eth_blockNumber`, no retries, a short
    time-out, its answer cached for `cache_s` seconds (a scraper polling /health must not load the node)."""
    state: dict[str, Any] = {"at": 0.0, "value": (False, "not probed yet")}
    lock = threading.Lock()

    def probe() -> tuple[bool, str | None]:
        with lock:
            if time.monotonic() - state["at"] < cache_s:
                return state["value"]
            try:
                r = requests.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
                                  timeout=timeout)
                r.raise_for_status()
                body = r.json()
                value = (True, None) if "result" in body else (False, f"JSON-RPC error {body.get('error')}")
            except Exception as e:  # noqa: BLE001 - any failure means "unreachable" to a health check
                value = (False, f"{type(e).__name__}: {e}")
            state.update(at=time.monotonic(), value=value)
            return value

    return probe


class HealthServer:
    """/metrics and /health on (host, port); port 0 picks a free one (see .port)."""

    def __init__(self, registry: CollectorRegistry, health: Callable[[], dict[str, Any]], host: str = "127.0.0.1",
                 port: int = 0):
        reg, get_health = registry, health

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                try:
                    if self.path.startswith("/metrics"):
                        body, ctype, code = generate_latest(reg), CONTENT_TYPE_LATEST, 200
                    elif self.path.startswith("/health"):
                        h = get_health()
                        body, ctype = json.dumps(h).encode(), "application/json"
                        code = 200 if h.get("ok") else 503
                    else:
                        body, ctype, code = b"not found: try /metrics or /health\n", "text/plain", 404
                except Exception as e:  # a scrape must never take the daemon down
                    body, ctype, code = f"error: {e}\n".encode(), "text/plain", 500
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_a: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer((host, port), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="health", daemon=True)
        self.started = time.time()

    def start(self) -> "HealthServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
