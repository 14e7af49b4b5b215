"""Retries of transient JSON-RPC failures, as a web3.py middleware.

A request that failed for a reason that says nothing about the request itself (connection refused or
reset, a time-out, HTTP 429 or 5xx, a node that does not know a block yet) is sent again after an
exponential back-off with jitter. Everything else — reverts, invalid parameters, "nonce too low" —
is returned at once: retrying it cannot help. Re-sending the *same* JSON-RPC request is always
safe, including ``eth_sendRawTransaction`` (same signed bytes, same hash: a node that already has the
transaction answers "already known"), so this layer never creates a second transaction. It must
never re-sign or change a request.

A daemon hands its stop event to `interrupt_on(w3, event)`: the back-off then waits on that event,
and once it is set no request is retried any more (`RetryInterrupted` is raised instead), so a
SIGTERM while the RPC is down stops the daemon within a request time-out instead of after every
retry of every request of the tick.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import requests
from web3.middleware.base import Web3Middleware

from ..errors import AssayError

log = logging.getLogger("assay.chain.retry")

MIDDLEWARE_NAME = "assay_retry"
_INTERRUPT_ATTR = "_assay_retry_interrupt"


class RetryInterrupted(AssayError, ConnectionError):
    """A transient failure was not retried because the process is stopping."""

# Substrings of JSON-RPC error messages that mean "try again later" rather than "this request is wrong".
_TRANSIENT_MESSAGES = (
    "block not found",
    "header not found",
    "unknown block",
    "missing trie node",  # a load-balanced node that is behind
    "rate limit",
    "too many requests",
    "request timed out",
    "timeout",
    "temporarily unavailable",
    "service unavailable",
    "try again",
)
# eth_getLogs answers meaning "ask for fewer blocks": never transient, whatever their code.
RANGE_TOO_LARGE = (
    "block range", "range is too large", "range too large", "more than", "too many results",
    "response size", "exceeds",
)
# JSON-RPC error codes some providers use for overload / limits (EIP-1474 -32005 "limit exceeded").
_TRANSIENT_CODES = (-32005, 429)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how fast to retry. Delay of try n (from 0): min(max_delay, base_delay * 2**n) ± jitter."""

    attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 5.0
    jitter: float = 0.25  # fraction of the delay, drawn uniformly in [-jitter, +jitter]

    def delay(self, attempt: int) -> float:
        d = min(self.max_delay, self.base_delay * 2**attempt)
        return max(0.0, d * (1 + random.uniform(-self.jitter, self.jitter)))


NO_RETRY = RetryPolicy(attempts=1)


def is_transient_exception(exc: BaseException) -> bool:
    """True for transport failures worth retrying: connection errors, time-outs, HTTP 429 and 5xx."""
    if isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else None
        return status is not None and (status == 429 or 500 <= status < 600)
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
        return True
    # The body of a failed proxy response is sometimes not JSON at all.
    if isinstance(exc, ValueError) and "Expecting value" in str(exc):
        return True
    return False


def is_transient_error(error: Any) -> bool:
    """True for a JSON-RPC error object that means "try again later" (e.g. "header not found")."""
    if not isinstance(error, dict):
        return isinstance(error, str) and any(m in error.lower() for m in _TRANSIENT_MESSAGES)
    msg = str(error.get("message", "")).lower()
    if "revert" in msg or any(m in msg for m in RANGE_TOO_LARGE):
        return False
    if error.get("code") in _TRANSIENT_CODES:
        return True
    return any(m in msg for m in _TRANSIENT_MESSAGES)


def call_with_retries(
    fn: Callable[[], Any],
    policy: RetryPolicy,
    *,
    what: str = "request",
    retry_on_result: Callable[[Any], bool] = lambda _r: False,
    sleep: Callable[[float], None] = time.sleep,
    interrupt: threading.Event | None = None,
) -> Any:
    """Run `fn` until it returns a result that is not transient or `policy.attempts` runs are spent.

    The last exception is raised as is (the caller decides what it means); a transient *result*
    that is still transient after the last try is returned for the caller to turn into an error.
    With `interrupt`, the back-off waits on that event and, once it is set, a transient failure
    raises RetryInterrupted instead of being retried.
    """
    for attempt in range(policy.attempts):
        last = attempt == policy.attempts - 1
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - filtered by is_transient_exception
            if last or not is_transient_exception(exc):
                raise
            d = policy.delay(attempt)
            log.warning("%s failed (%s: %s); retry %d/%d in %.2fs", what, type(exc).__name__, exc, attempt + 1,
                        policy.attempts - 1, d)
            _back_off(d, sleep, interrupt, what, exc)
            continue
        if last or not retry_on_result(result):
            return result
        d = policy.delay(attempt)
        log.warning("%s answered a transient error (%s); retry %d/%d in %.2fs", what, result.get("error"),
                    attempt + 1, policy.attempts - 1, d)
        _back_off(d, sleep, interrupt, what, result.get("error"))
    raise AssertionError("unreachable")  # pragma: no cover


def _back_off(d: float, sleep: Callable[[float], None], interrupt: threading.Event | None, what: str,
              cause: Any) -> None:
    if interrupt is None:
        sleep(d)
        return
    if interrupt.is_set() or interrupt.wait(d):
        raise RetryInterrupted(
            f"{what} failed ({cause}) and was not retried: the process is stopping",
            "nothing to do: the daemon re-reads the chain when it starts again",
        )


class RetryMiddleware(Web3Middleware):
    """Retries transient failures of every request made through a Web3 instance (see module doc)."""

    policy: RetryPolicy = RetryPolicy()

    @classmethod
    def build(cls, policy: RetryPolicy) -> Callable[[Any], "RetryMiddleware"]:
        def make(w3: Any) -> RetryMiddleware:
            mw = cls(w3)
            mw.policy = policy
            return mw

        return make

    def wrap_make_request(self, make_request):  # type: ignore[no-untyped-def]
        def middleware(method, params):  # type: ignore[no-untyped-def]
            return call_with_retries(
                lambda: make_request(method, params),
                self.policy,
                what=str(method),
                retry_on_result=lambda r: isinstance(r, dict) and "error" in r and is_transient_error(r["error"]),
                interrupt=getattr(self._w3, _INTERRUPT_ATTR, None),
            )

        return middleware


def install_retries(w3: Any, policy: RetryPolicy = RetryPolicy()) -> Any:
    """Add (or replace) the retry middleware on `w3` as its outermost layer; returns `w3`."""
    onion = w3.middleware_onion
    if MIDDLEWARE_NAME in onion:
        onion.remove(MIDDLEWARE_NAME)
    onion.inject(RetryMiddleware.build(policy), name=MIDDLEWARE_NAME, layer=0)
    provider = w3.provider
    # web3's own retry covers only some methods and ignores JSON-RPC error bodies; one layer is enough.
    if hasattr(provider, "exception_retry_configuration"):
        provider.exception_retry_configuration = None
    return w3


def interrupt_on(w3: Any, event: threading.Event | None) -> Any:
    """Make the retries of `w3` wait on `event` and give up once it is set (None: plain sleeps again).

    Daemons pass their stop event, so that SIGTERM ends a back-off at once. Returns `w3`."""
    setattr(w3, _INTERRUPT_ATTR, event)
    return w3


def has_retries(w3: Any) -> bool:
    return MIDDLEWARE_NAME in w3.middleware_onion
