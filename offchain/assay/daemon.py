"""What the worker and the challenger daemons share: the tick loop with back-off, stop, health.

A subclass implements `tick()`; `run()` calls it every `poll_interval` seconds. A daemon run for
money must never stop on an RPC hiccup or one bad job:

- A tick that fails because the **RPC is unreachable** (after the retry middleware gave up) is not
  retried blindly: the daemon logs `rpc_unavailable` once, probes the endpoint cheaply (one
  `eth_blockNumber`, no retries) with a growing interval (at most `RPC_PROBE_MAX` seconds), logs
  `rpc_restored` with the outage's length when it answers again, and ticks at once.
- Any **other failed tick** is logged and counted, and the next one waits longer (doubling, at
  most `MAX_BACKOFF` seconds).
- **Stopping** (SIGTERM → `stop()`) sets one event that every wait of the daemon waits on — the
  poll interval, the back-off, the RPC probe, and the retry middleware's back-off (installed with
  `assay.chain.retry.interrupt_on`), so a daemon stops within a request time-out even while its RPC is
  down.

After any fault the next tick decides everything again from chain state and the journal
(level-triggered): nothing here carries a decision from one tick to the next.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, TypeVar

import requests
from web3.exceptions import Web3RPCError

from .chain.retry import interrupt_on, is_transient_error, is_transient_exception

MAX_BACKOFF = 30.0  # seconds between failed ticks, at most
RPC_PROBE_MIN = 0.25  # first wait before probing an unreachable RPC
RPC_PROBE_MAX = 5.0  # longest wait between probes
RPC_PROBE_TIMEOUT = 2.0  # one probe's HTTP time-out
RPC_STILL_DOWN_LOG = 60.0  # repeat the "still unreachable" warning this often
T = TypeVar("T")


def connect_waiting(connect: Callable[[], T], wait: float, log: logging.Logger, url: str) -> T:
    """`connect()`, retried while it raises RpcUnavailable, for at most `wait` seconds (then it raises).

    A daemon started while its node is briefly down (a host reboot starts both at once) waits for it
    instead of exiting at once: a process manager restarting an exiting daemon would turn every node
    restart into a restart loop. A wrong URL still ends in the clear RpcUnavailable error, after `wait`."""
    from .chain.connection import RpcUnavailable

    deadline = time.monotonic() + wait
    delay = 1.0
    while True:
        try:
            return connect()
        except RpcUnavailable as e:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            log.warning("RPC %s does not answer at start-up (%s); retrying for up to %.0fs more (startup_rpc_wait)",
                        url, e.args[0] if e.args else e, left,
                        extra={"event": "rpc_wait_startup", "seconds_left": round(left, 1)})
            time.sleep(min(delay, left))
            delay = min(delay * 2, RPC_PROBE_MAX)


def is_rpc_failure(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says the RPC endpoint is unreachable or failing for reasons
    unrelated to the request: refused/reset connections, time-outs, HTTP 429/5xx, "header not found"."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if is_transient_exception(e):
            return True
        if isinstance(e, Web3RPCError):
            err = (e.rpc_response or {}).get("error") if isinstance(getattr(e, "rpc_response", None), dict) else None
            if is_transient_error(err if err is not None else str(e)):
                return True
        e = e.__cause__  # an explicit `raise ... from e` only: an error merely raised while handling one is not it
    return False


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
        self.rpc_down_since: float | None = None
        self.outages = 0  # RPC outages seen (each logged once as rpc_unavailable)

    def tick(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------------ the RPC the ticks use
    def _w3(self) -> Any:
        """The Web3 the ticks go through (subclasses hold an SDK as `self.sdk`); None if there is none."""
        return getattr(getattr(self, "sdk", None), "w3", None)

    def _rpc_answers(self) -> bool:
        """One cheap request straight to the endpoint, bypassing the retry middleware."""
        w3 = self._w3()
        url = getattr(getattr(w3, "provider", None), "endpoint_uri", None)
        if not url:
            return True  # not an HTTP endpoint we can probe: let the next tick find out
        try:
            r = requests.post(str(url), json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
                              timeout=RPC_PROBE_TIMEOUT)
            return r.status_code == 200 and "result" in r.json()
        except (requests.RequestException, ValueError):
            return False

    def _wait_for_rpc(self) -> None:
        """Wait (interruptibly) until the RPC answers again; probe interval doubles up to RPC_PROBE_MAX."""
        wait, last_warn = RPC_PROBE_MIN, time.time()
        while not self.stop_event.wait(wait):
            if self._rpc_answers():
                return
            wait = min(wait * 2, RPC_PROBE_MAX)
            if time.time() - last_warn >= RPC_STILL_DOWN_LOG:
                last_warn = time.time()
                self.log.warning("RPC still unreachable after %.0fs; waiting", time.time() - (self.rpc_down_since or 0),
                                 extra={"event": "rpc_still_unavailable"})

    # ------------------------------------------------------------------ status
    def health(self) -> dict[str, Any]:
        stale = time.time() - self.last_tick > max(30.0, 20 * self.poll_interval)
        # `ok` stays about the loop (ticks recent), not the RPC: a liveness probe that restarted the daemon
        # on every RPC outage would turn an outage into a restart loop. `rpc_down_since` says the rest.
        return {"ok": self.last_tick > 0 and not stale, "daemon": self.name,
                "address": getattr(self, "me", None), "last_tick": self.last_tick, "ticks": self.ticks,
                "last_error": self.last_error, "rpc_down_since": self.rpc_down_since,
                "journal": self.journal.counts()}

    # ------------------------------------------------------------------ the loop
    def run(self, max_ticks: int | None = None) -> None:
        w3 = self._w3()
        if w3 is not None:
            interrupt_on(w3, self.stop_event)  # SIGTERM also ends the retry middleware's back-off
        backoff = self.poll_interval
        while not self.stop_event.is_set():
            wait = self.poll_interval
            try:
                self.tick()
                self.ticks += 1
                self.metrics.ticks.inc()
                self.last_tick = time.time()
                self.last_error = None
                backoff = self.poll_interval
                if self.rpc_down_since is not None:
                    down = time.time() - self.rpc_down_since
                    self.rpc_down_since = None
                    self.log.info("RPC back after %.1fs; resumed", down,
                                  extra={"event": "rpc_restored", "seconds": round(down, 2)})
            except Exception as e:  # never let one bad tick kill the daemon
                self.metrics.tick_errors.inc()
                self.last_error = f"{type(e).__name__}: {e}"
                if self.stop_event.is_set():
                    self.log.info("tick cut short by stop: %s", self.last_error, extra={"event": "tick_interrupted"})
                    break
                if is_rpc_failure(e):
                    if self.rpc_down_since is None:
                        self.rpc_down_since = time.time()
                        self.outages += 1
                        self.log.error("RPC unreachable (%s); waiting for it to come back", self.last_error,
                                       extra={"event": "rpc_unavailable"})
                    self._wait_for_rpc()
                    continue  # tick at once: the endpoint answers again (or we are stopping)
                self.log.error("tick failed: %s", self.last_error, extra={"event": "tick_failed"})
                backoff = min(backoff * 2, MAX_BACKOFF)
                wait = backoff
            if max_ticks is not None and self.ticks >= max_ticks:
                return
            self.stop_event.wait(wait)

    def stop(self) -> None:
        self.stop_event.set()

    def withdraw_credits(self, sdk: Any, threshold: int = 0) -> None:
        credits = sdk.credits()
        if credits > max(threshold, 0):
            sdk.withdraw_credits(credits)
            if hasattr(self.metrics, "withdrawn"):
                self.metrics.withdrawn.inc(credits)
            self.log.info("withdrew %d", credits, extra={"event": "withdrew", "amount": credits})
