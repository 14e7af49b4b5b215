"""What the worker and the challenger daemons share: the tick loop with back-off, stop, health.

A subclass implements `tick()`; `run()` calls it every `poll_interval` seconds, logs and counts a
failed tick and backs off (doubling, at most 30 s) instead of dying — a daemon run for money must
never stop on an RPC hiccup or one bad job.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any


class Daemon:
    name = "daemon"

    def __init__(self, poll_interval: float, journal: Any, metrics: Any, log: logging.Logger):
        self.poll_interval = poll_interval
        self.journal = journal
        self.metrics = metrics
        self.log = log
        self.stop_event = threading.Event()
        self.last_tick = 0.0
        self.last_error: str | None = None
        self.ticks = 0

    def tick(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def health(self) -> dict[str, Any]:
        stale = time.time() - self.last_tick > max(30.0, 20 * self.poll_interval)
        return {"ok": self.last_tick > 0 and not stale, "daemon": self.name, "address": getattr(self, "me", None),
                "last_tick": self.last_tick, "ticks": self.ticks, "last_error": self.last_error,
                "journal": self.journal.counts()}

    def run(self, max_ticks: int | None = None) -> None:
        backoff = self.poll_interval
        while not self.stop_event.is_set():
            try:
                self.tick()
                self.ticks += 1
                self.metrics.ticks.inc()
                self.last_tick = time.time()
                self.last_error = None
                backoff = self.poll_interval
            except Exception as e:  # never let one bad tick kill the daemon
                self.metrics.tick_errors.inc()
                self.last_error = f"{type(e).__name__}: {e}"
                self.log.error("tick failed: %s", self.last_error, extra={"event": "tick_failed"})
                backoff = min(backoff * 2, 30.0)
            if max_ticks is not None and self.ticks >= max_ticks:
                return
            self.stop_event.wait(backoff)

    def stop(self) -> None:
        self.stop_event.set()

    def withdraw_credits(self, sdk: Any, threshold: int = 0) -> None:
        credits = sdk.credits()
        if credits > max(threshold, 0):
            sdk.withdraw_credits(credits)
            if hasattr(self.metrics, "withdrawn"):
                self.metrics.withdrawn.inc(credits)
            self.log.info("withdrew %d", credits, extra={"event": "withdrew", "amount": credits})
