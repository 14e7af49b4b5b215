"""Fault injection with a real anvil and real `assay worker run` / `assay challenger run` subprocesses.

- The node goes away and comes back (anvil stopped, restarted from its dumped state on the same
  port) under running daemons: they log that the RPC is gone, wait, resume; every job is finalized
  exactly once; neither daemon crashes or restarts.
- A faulty JSON-RPC proxy in front of anvil (dropped connections, 502s, hangs past the request
  time-out, "request timed out" and "header not found" answers) on a fraction of requests: jobs
  still finalize exactly once and no transaction is sent twice.
- SIGTERM while the RPC is down: the daemon exits within a couple of seconds (the retry middleware's
  back-off waits on the stop event).
- SIGKILL of the worker and of the challenger at each step of a dispute over a provable fraud, then
  a restart: the dispute is decided as it must be, no deadline is missed, balances are exact.

Each step is hit deterministically by the proxy the killed daemon talks through: it holds the first
request that would send the step's transaction (its simulation, "before") or forwards the signed
transaction and holds the answer ("after": mined, but the daemon never learns it); the test then kills
the daemon and restarts it on the same journal and store, so the restarted daemon can only act on
what the chain and its journal say (level-triggered).
"""

from __future__ import annotations

import http.server
import json
import random
import signal
import socket
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
import rlp
from eth_utils import function_abi_to_4byte_selector, keccak

from assay.chain import JobStatus
from assay.chain.anvil import Anvil
from assay.devnet import deploy_local
from e2e_helpers import UNIT, Devnet, WorkerProc, wait_for
from test_e2e_fraud import logits_mlp

pytestmark = pytest.mark.slow

FEE = UNIT // 10
OWNER, REQUESTER, WORKER, CHALLENGER = 5, 1, 2, 4
RPC_TIMEOUT = "2"  # ASSAY_RPC_TIMEOUT of the daemons: a hung request fails after 2 s, not 10


# ------------------------------------------------------------------------------------------------ proxy
@dataclass
class Gate:
    """Hold the first request that matches: `when` "before" holds a simulation (eth_call /
    eth_estimateGas) of `selector` to `to` (nothing is sent); "after" forwards the signed transaction
    calling it and holds the answer (it is mined; the sender never hears back)."""

    to: str
    selector: bytes
    when: str
    hit: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    tx_hash: str | None = None

    def matches(self, method: str, params: list) -> bool:
        if self.hit.is_set():
            return False
        if self.when == "before" and method in ("eth_call", "eth_estimateGas"):
            call = params[0] if params else {}
            data = call.get("data") or call.get("input") or "0x"
            return (call.get("to") or "").lower() == self.to and bytes.fromhex(data[2:10]) == self.selector
        if self.when == "after" and method == "eth_sendRawTransaction":
            to, data = _tx_to_and_data(bytes.fromhex(params[0][2:]))
            return to == self.to and data[:4] == self.selector
        return False


def _tx_to_and_data(raw: bytes) -> tuple[str, bytes]:
    if raw[0] == 2:  # EIP-1559: 0x02 || rlp([chainId, nonce, tip, maxFee, gas, to, value, data, ...])
        f = rlp.decode(raw[1:])
        return "0x" + f[5].hex(), f[7]
    f = rlp.decode(raw)  # legacy: rlp([nonce, gasPrice, gas, to, value, data, v, r, s])
    return "0x" + f[3].hex(), f[5]


class RpcProxy:
    """An HTTP JSON-RPC proxy in front of anvil for one daemon.

    `faults` maps a fault to the probability that a request gets it (seeded, reproducible): "drop" (connection
    closed, nothing forwarded), "502" (bad gateway, nothing forwarded), "forward-502" (forwarded — a
    transaction is sent — then 502: the client cannot know), "hang" (nothing forwarded; the answer never comes
    and the client's time-out fires; at most `max_hangs`), "timeout-error" (JSON-RPC "request timed out"),
    "header-not-found" (what a node behind its peers answers); `send_faults` replaces `faults` for
    eth_sendRawTransaction. `down` refuses everything (a node that is gone). `gate` holds one chosen request
    (see Gate). Counts: `seen` per method, `injected` per fault, `sent` the hashes of the distinct signed
    transactions that reached anvil.
    """

    def __init__(self, target: str, *, faults: dict[str, float] | None = None,
                 send_faults: dict[str, float] | None = None, seed: int = 0, max_hangs: int = 1):
        self.target = target
        self.faults = dict(faults or {})
        self.send_faults = dict(send_faults if send_faults is not None else self.faults)
        self.rng = random.Random(seed)
        self.max_hangs = max_hangs
        self.down = False
        self.gate: Gate | None = None
        self.seen: dict[str, int] = {}
        self.injected: dict[str, int] = {}
        self.sent: dict[str, int] = {}  # tx hash -> times forwarded
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_a):
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                req = json.loads(body)
                method, params = req.get("method", "?"), req.get("params") or []
                action = proxy._decide(method, params)
                if action == "drop":
                    return self._drop()
                if action == "hang":
                    time.sleep(float(RPC_TIMEOUT) + 1)
                    return self._drop()
                if action == "502":
                    return self._reply(502, b"bad gateway")
                if action in ("timeout-error", "header-not-found"):
                    msg = "request timed out" if action == "timeout-error" else "header not found"
                    err = {"jsonrpc": "2.0", "id": req.get("id"), "error": {"code": -32000, "message": msg}}
                    return self._reply(200, json.dumps(err).encode())
                gate = action if isinstance(action, Gate) else None
                if gate is not None and gate.when == "before":
                    gate.hit.set()
                    gate.release.wait(60)
                    return self._drop()
                reply = proxy._forward(body, method, params)
                if gate is not None:  # "after": anvil has it (mined); the daemon never hears back
                    gate.tx_hash = "0x" + keccak(bytes.fromhex(params[0][2:])).hex()
                    gate.hit.set()
                    gate.release.wait(60)
                    return self._drop()
                if action == "forward-502":
                    return self._reply(502, b"bad gateway")
                self._reply(200, reply)

            def _drop(self):
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            def _reply(self, code, data):
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client is gone (killed)
                    pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _decide(self, method: str, params: list) -> Any:
        with self.lock:
            self.seen[method] = self.seen.get(method, 0) + 1
            if self.down:
                self.injected["down"] = self.injected.get("down", 0) + 1
                return "drop"
            if self.gate is not None and self.gate.matches(method, params):
                return self.gate
            r, acc = self.rng.random(), 0.0
            for fault, p in (self.send_faults if method == "eth_sendRawTransaction" else self.faults).items():
                acc += p
                if r < acc:
                    if fault == "hang":
                        if self.injected.get("hang", 0) >= self.max_hangs:
                            return "ok"
                    if fault == "forward-502" and method != "eth_sendRawTransaction":
                        fault = "502"
                    self.injected[fault] = self.injected.get(fault, 0) + 1
                    return fault
            return "ok"

    def _forward(self, body: bytes, method: str, params: list) -> bytes:
        if method == "eth_sendRawTransaction":
            h = "0x" + keccak(bytes.fromhex(params[0][2:])).hex()
            with self.lock:
                self.sent[h] = self.sent.get(h, 0) + 1
        req = urllib.request.Request(self.target, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.read()
        except OSError as e:  # anvil itself is down: answer like a failing gateway would
            err = {"jsonrpc": "2.0", "id": json.loads(body).get("id"), "error": {"code": -32603, "message": str(e)}}
            return json.dumps(err).encode()

    def set_gate(self, gate: Gate | None) -> None:
        with self.lock:
            self.gate = gate

    def close(self) -> None:
        if self.gate is not None:
            self.gate.release.set()
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def net(tmp_path_factory):
    d = tmp_path_factory.mktemp("faults")
    anvil = Anvil(dump_state=d / "anvil-state.json").start()
    try:
        rec = deploy_local(anvil.url, deployments_dir=d, log=lambda m: None)
    except BaseException:
        anvil.stop()
        raise
    n = Devnet(anvil, d, Path(rec["path"]))
    yield n
    n.stop_all()
    anvil.stop()


@pytest.fixture(scope="module")
def model(net):
    """The all-verifiable MLP (class APPROX), served by its owner over HTTP; the worker staked."""
    onnx_bytes, x = logits_mlp()
    owner = net.sdk(OWNER)
    from assay.store import serve_store

    server = serve_store(owner.store)
    _SERVERS["model"] = server
    mid = owner.register_model(onnx_bytes, fee=0, uris=[server.url_for(owner.store.put(onnx_bytes))], vclass="APPROX")
    net.sdk(WORKER).stake(100 * UNIT)
    # One chunk demand per dispute (the local default is 4): the demand cases play one round, not four.
    admin = net.sdk(0)
    g = admin.c.game.functions
    response, proof, demand, _demands = g.durations().call()
    admin._send(g.setDurations(response, proof, demand, 1), "setDurations")
    yield mid, x
    _SERVERS["model"].stop()


_SERVERS: dict[str, Any] = {}  # the model owner's store server (a test takes it down and back up)


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("ASSAY_RPC_TIMEOUT", RPC_TIMEOUT)


def _daemon(net: Devnet, kind: str, name: str, url: str, extra: dict | None = None) -> WorkerProc:
    cfg = {"rpc_url": url, "deployment_file": str(net.deployment), "store_dir": str(net.dir / f"{name}-store"),
           "journal": str(net.dir / f"{name}.sqlite"), "poll_interval": 0.2}
    if kind == "worker":
        cfg["store_port"] = 0
    cfg.update(extra or {})
    return net.start_daemon(kind, WORKER if kind == "worker" else CHALLENGER, name, cfg)


def _events(w: WorkerProc, name: str) -> list[dict]:
    out = []
    for line in w.log().splitlines():
        if line.startswith("{"):
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("event") == name:
                out.append(e)
    return out


def _logs(*ws: WorkerProc) -> Callable[[], str]:
    return lambda: "\n".join(f"--- {w.name}\n" + "\n".join(w.log().splitlines()[-40:]) for w in ws)


def _balances(sdk, who):
    """Tokens + credits of each account, read at one block (a daemon may withdraw in between)."""
    block = sdk.w3.eth.block_number
    token, jobs = sdk.c.token.functions, sdk.c.jobs.functions
    return {a: token.balanceOf(a).call(block_identifier=block) + jobs.creditsOf(a).call(block_identifier=block)
            for a in who}


def _sends_of(sdk, address: str, first_block: int) -> list[dict]:
    """Every mined transaction from `address` since `first_block`: function name, status, job ids."""
    out = []
    targets = {sdk.c.jobs.address.lower(): sdk.c.jobs, sdk.c.game.address.lower(): sdk.c.game,
               sdk.c.token.address.lower(): sdk.c.token}
    for b in range(first_block, sdk.w3.eth.block_number + 1):
        for tx in sdk.w3.eth.get_block(b, full_transactions=True)["transactions"]:
            if tx["from"].lower() != address.lower():
                continue
            c = targets.get((tx["to"] or "").lower())
            fn, args = c.decode_function_input(tx["input"]) if c is not None else (None, {})
            status = sdk.w3.eth.get_transaction_receipt(tx["hash"])["status"]
            out.append({"fn": fn.fn_name if fn else "?", "status": status, "nonce": tx["nonce"],
                        "hash": "0x" + bytes(tx["hash"]).hex(), "args": args})
    return out


def _selector(contract, name: str) -> bytes:
    (item,) = [i for i in contract.abi if i.get("type") == "function" and i.get("name") == name]
    return function_abi_to_4byte_selector(item)


# ------------------------------------------------------------------------------------------------ building blocks
def test_retry_back_off_ends_at_once_when_the_stop_event_is_set():
    from assay.chain.retry import RetryInterrupted, RetryPolicy, call_with_retries

    stop = threading.Event()
    calls = []

    def refused():
        calls.append(time.monotonic())
        raise ConnectionRefusedError("node gone")

    threading.Timer(0.2, stop.set).start()
    t0 = time.monotonic()
    with pytest.raises(RetryInterrupted, match="not retried: the process is stopping"):
        call_with_retries(refused, RetryPolicy(attempts=6, base_delay=2.0, jitter=0), interrupt=stop)
    assert time.monotonic() - t0 < 1.0  # not the 2 s back-off, let alone the 5 tries
    assert len(calls) == 1


def test_anvil_restarted_from_its_state_keeps_blocks_and_never_runs_its_clock_backwards(tmp_path):
    node = Anvil(dump_state=tmp_path / "state.json").start()
    try:
        node.rpc("evm_increaseTime", [1000])  # the chain 1000 s ahead of the wall clock, as tests do
        node.mine(3)
        last = node.rpc("eth_getBlockByNumber", ["latest", False])
        port = node.port
        node.restart()
        assert node.port == port
        assert node.rpc("eth_getBlockByNumber", [last["number"], False])["hash"] == last["hash"]
        node.mine(1)
        nxt = node.rpc("eth_getBlockByNumber", ["latest", False])
        assert int(nxt["number"], 16) == int(last["number"], 16) + 1
        # anvil alone stamps this block with the wall clock, ~1000 s before the last one
        assert int(nxt["timestamp"], 16) > int(last["timestamp"], 16)
    finally:
        node.stop()


# ------------------------------------------------------------------------------------------------ 1. node restart
def test_daemons_ride_out_an_anvil_restart_and_finalize_every_job_once(net, model):
    mid, x = model
    req = net.sdk(REQUESTER)
    wsdk = net.sdk(WORKER)
    first = req.w3.eth.block_number + 1
    w = _daemon(net, "worker", "restart-w", net.url, {"models": [mid]})
    c = _daemon(net, "challenger", "restart-c", net.url)
    before = wsdk.token_balance() + wsdk.credits()
    ids = [req.submit(mid, {"x": x[i:i + 1]}, worker_fee=FEE) for i in range(3)]
    for jid in ids:
        req.wait(jid, JobStatus.POSTED, timeout=60)
    net.advance(11)  # the challenge window passes (time moved ahead of the wall clock by 11 s)
    wait_for(lambda: all(req.job(j).status == JobStatus.FINALIZED for j in ids), 30, "first batch final", _logs(w, c))
    last = req.w3.eth.get_block("latest")
    t0 = time.monotonic()
    # SIGTERM (state dumped), 10 s without a node — longer than the retry middleware's patience (6.2 s,
    # at most 7.75 s with jitter), so the ticks fail and the daemons must notice and wait — then the
    # same port, the state loaded.
    net.anvil.restart(down=10.0)
    outage = time.monotonic() - t0
    wait_for(lambda: _events(w, "rpc_restored") and _events(c, "rpc_restored"), 30, "both daemons resumed",
             _logs(w, c))
    assert req.w3.eth.get_block(last["number"])["hash"] == last["hash"]  # same chain, same blocks
    ids2 = [req.submit(mid, {"x": x[i:i + 1]}, worker_fee=FEE) for i in range(3, 6)]
    assert req.w3.eth.get_block("latest")["timestamp"] >= last["timestamp"]  # the clock did not run backwards
    for jid in ids2:
        req.wait(jid, JobStatus.POSTED, timeout=60)
    net.advance(11)
    every = ids + ids2
    wait_for(lambda: all(req.job(j).status == JobStatus.FINALIZED for j in every), 30, "all final", _logs(w, c))
    wait_for(lambda: wsdk.credits() == 0, 30, "worker withdrew", _logs(w))
    assert wsdk.token_balance() - before == len(every) * FEE
    for jid in every:
        assert len(req.events("ResultPosted", jobId=jid)) == 1
        assert len(req.events("JobFinalized", jobId=jid)) == 1
        assert not req.events("JobChallenged", jobId=jid)
    sends = _sends_of(req, wsdk.address, first)
    assert all(s["status"] == 1 for s in sends)  # no transaction failed (none raced itself)
    posted = [j for s in sends if s["fn"] == "postResults" for j in s["args"]["_jobIds"]]
    assert sorted(posted) == sorted(every)  # each job in exactly one post
    for d in (w, c):
        assert d.alive()
        assert len(_events(d, "started")) == 1  # never restarted
        assert len(_events(d, "rpc_unavailable")) == 1 and len(_events(d, "rpc_restored")) == 1
        assert _events(d, "rpc_restored")[0]["seconds"] < outage + 15
    _FIGURES["anvil_restart"] = {"outage_s": round(outage, 1), "jobs": len(every),
                                 "rpc_restored_after_s": {d.name: _events(d, "rpc_restored")[0]["seconds"]
                                                          for d in (w, c)}}
    assert w.terminate() == 0 and c.terminate() == 0


# ------------------------------------------------------------------------------------------------ 2. faulty RPC
FAULTS = {"drop": 0.03, "502": 0.03, "timeout-error": 0.02, "header-not-found": 0.03, "hang": 0.01}
# A transaction forwarded and then answered 502 is the dangerous case (the node has it, the sender
# does not know): half the sends get it, and some are dropped before reaching the node.
SEND_FAULTS = {"forward-502": 0.5, "drop": 0.1}


def test_jobs_finalize_exactly_once_through_a_faulty_rpc_without_duplicate_transactions(net, model):
    mid, x = model
    req, wsdk = net.sdk(REQUESTER), net.sdk(WORKER)
    first = req.w3.eth.block_number + 1
    pw = RpcProxy(net.url, faults=FAULTS, send_faults=SEND_FAULTS, seed=1)
    pc = RpcProxy(net.url, faults=FAULTS, send_faults=SEND_FAULTS, seed=2)
    try:
        w = _daemon(net, "worker", "faulty-w", pw.url, {"models": [mid], "max_batch": 2})
        c = _daemon(net, "challenger", "faulty-c", pc.url)
        before = wsdk.token_balance() + wsdk.credits()
        ids = [req.submit(mid, {"x": x[i:i + 1]}, worker_fee=FEE) for i in range(4)]
        for jid in ids:
            req.wait(jid, JobStatus.POSTED, timeout=90)
        wait_for(lambda: all(_challenger_checked(net, "faulty-c", j) for j in ids), 60, "challenger checked all",
                 _logs(c))
        net.advance(11)
        wait_for(lambda: all(req.job(j).status == JobStatus.FINALIZED for j in ids), 60, "all final", _logs(w, c))
        wait_for(lambda: wsdk.credits() == 0, 60, "worker withdrew", _logs(w))
        assert wsdk.token_balance() - before == len(ids) * FEE
        for jid in ids:
            assert len(req.events("ResultPosted", jobId=jid)) == 1
            assert len(req.events("JobFinalized", jobId=jid)) == 1
            assert not req.events("JobChallenged", jobId=jid)  # faults never made the challenger misjudge
        sends = _sends_of(req, wsdk.address, first)
        assert all(s["status"] == 1 for s in sends)
        posted = [j for s in sends if s["fn"] == "postResults" for j in s["args"]["_jobIds"]]
        claimed = [j for s in sends if s["fn"] == "claimJobs" for j in s["args"]["_jobIds"]]
        assert sorted(posted) == sorted(ids) and sorted(claimed) == sorted(ids)
        # No duplicate transaction: every distinct signed transaction that reached the node was mined
        # (a re-sent request carries the same bytes), and the nonces are contiguous.
        mined = {s["hash"] for s in sends}
        assert set(pw.sent) == mined
        nonces = sorted(s["nonce"] for s in sends)
        assert nonces == list(range(nonces[0], nonces[0] + len(nonces)))
        injected = {k: pw.injected.get(k, 0) + pc.injected.get(k, 0) for k in {**FAULTS, **SEND_FAULTS}}
        assert sum(injected.values()) >= 20 and injected["hang"] >= 1 and injected["forward-502"] >= 1, injected
        assert any(n > 1 for n in pw.sent.values())  # a send was retried after the node had it: same bytes
        for d in (w, c):
            assert d.alive() and len(_events(d, "started")) == 1
        assert w.terminate() == 0 and c.terminate() == 0
        _FIGURES["faulty_rpc"] = {"requests": sum(pw.seen.values()) + sum(pc.seen.values()), "injected": injected,
                                  "jobs": len(ids), "worker_txs": len(sends),
                                  "retried_sends": sum(n - 1 for n in pw.sent.values())}
    finally:
        pw.close()
        pc.close()


def _challenger_checked(net: Devnet, name: str, jid: int) -> bool:
    """The challenger re-ran the job and agreed (its journal row is ok/finalized)."""
    import sqlite3

    db = sqlite3.connect(str(net.dir / f"{name}.sqlite"))
    try:
        row = db.execute("SELECT phase FROM jobs WHERE job_id = ?", (jid,)).fetchone()
    except sqlite3.OperationalError:  # the daemon has not created its tables yet
        return False
    finally:
        db.close()
    return row is not None and row[0] in ("ok", "finalized")


# ------------------------------------------------------------------------------------------------ 3. SIGTERM
def test_sigterm_while_the_rpc_is_down_stops_the_daemons_within_three_seconds(net, model):
    """Both places a daemon waits while its RPC is down: the worker is signalled inside the retry
    middleware's back-off (5 more tries, ~6 s, were left: before the fix it waited for all of them, for
    every request of the tick), the challenger after its tick gave up, while it probes for the node."""
    mid, _x = model
    proxies = {k: RpcProxy(net.url) for k in ("worker", "challenger")}
    where = {"worker": "retry-backoff", "challenger": "waiting-for-rpc"}
    try:
        ds = {k: _daemon(net, k, f"term-{k}", proxies[k].url, {"models": [mid]} if k == "worker" else None)
              for k in proxies}
        for d in ds.values():
            wait_for(lambda: _events(d, "started"), 30, "daemon started", _logs(d))
        time.sleep(0.5)
        for p in proxies.values():
            p.down = True  # every request: connection closed, as from a node that is gone
        for k, d in ds.items():
            if where[k] == "retry-backoff":
                wait_for(lambda: "retry 1/5" in d.log(), 10, "a retried request", _logs(d))
            else:
                wait_for(lambda: _events(d, "rpc_unavailable"), 20, "rpc_unavailable logged", _logs(d))
            t0 = time.monotonic()
            d.proc.send_signal(signal.SIGTERM)
            rc = d.proc.wait(timeout=15)
            took = time.monotonic() - t0
            assert rc == 0, _logs(d)()
            assert took < 3.0, f"{k} took {took:.1f}s to stop ({where[k]})"
            _FIGURES.setdefault("sigterm_seconds", {})[f"{k}/{where[k]}"] = round(took, 2)
    finally:
        for p in proxies.values():
            p.close()


# ------------------------------------------------------------------------------------------------ content store outage
def test_a_model_server_outage_delays_the_worker_but_does_not_blind_it(net, model):
    """The worker used to remember "model unusable" for good after one failed download: a model server
    down for a moment made it skip that model until restarted (a decision carried over from an old
    tick). Now an unreachable source is tried again a few seconds later."""
    from assay.store import serve_store

    mid, x = model
    req = net.sdk(REQUESTER)
    req.fetch_model(mid)  # the requester's own copy, for validating its input while the server is down
    old = _SERVERS["model"]
    port = old.port
    old.stop()
    w = _daemon(net, "worker", "srvdown-w", net.url, {"models": [mid]})  # a fresh store: it must download
    try:
        jid = req.submit(mid, {"x": x[:1]}, worker_fee=FEE)
        wait_for(lambda: any("StoreUnavailable" in e["msg"] for e in _events(w, "job_skipped")), 30,
                 "the worker to skip the job (model server down)", _logs(w))
        assert req.job(jid).status == JobStatus.OPEN  # nothing claimed it cannot run
    finally:
        _SERVERS["model"] = serve_store(net.sdk(OWNER).store, port=port)  # back, same URL
    req.wait(jid, JobStatus.POSTED, timeout=30)
    net.advance(11)
    wait_for(lambda: req.job(jid).status == JobStatus.FINALIZED, 30, "finalized", _logs(w))
    assert len(req.events("ResultPosted", jobId=jid)) == 1
    assert w.alive() and len(_events(w, "started")) == 1
    assert w.terminate() == 0


# ------------------------------------------------------------------------------------------------ 4. kills mid-dispute
# (victim, function (on contract), when, worker fault, how the dispute must end: by, challenger won)
STEPS = [
    ("worker", "jobs.claimJobs", "before", "corrupt-node:0", 2, True),
    ("worker", "jobs.postResults", "after", "corrupt-node:0", 2, True),
    ("worker", "game.postTrace", "before", "corrupt-node:0", 2, True),
    ("worker", "game.postTrace", "after", "corrupt-node:0", 2, True),
    ("challenger", "jobs.challenge", "after", "corrupt-node:0", 2, True),
    ("challenger", "game.proveNode", "before", "corrupt-node:0", 2, True),
    ("challenger", "jobs.withdraw", "before", "corrupt-node:0", 2, True),
    ("challenger", "game.demandChunk", "after", "ignore-demands", 8, True),
    ("worker", "game.answerDemand", "before", "withhold-trace", 0, False),
]
BY_NAMES = {0: "proof window over, no proof (worker upheld)", 2: "node proof", 8: "unanswered demand"}


class Crew:
    """The worker and the challenger, each behind its own proxy, kept across the kill cases (only
    the killed one is restarted, and the worker when the next case needs another fault mode)."""

    def __init__(self, net: Devnet, mid: str):
        self.net, self.mid = net, mid
        self.proxies = {"worker": RpcProxy(net.url), "challenger": RpcProxy(net.url)}
        self.procs: dict[str, WorkerProc] = {}
        self.fault: str | None = None
        self.starts = {"worker": 0, "challenger": 0}

    def start(self, who: str) -> WorkerProc:
        extra = {"models": [self.mid], "fault": self.fault} if who == "worker" else None
        p = _daemon(self.net, who, f"kill-{who}", self.proxies[who].url, extra)
        self.procs[who] = p
        self.starts[who] += 1
        return p

    def ensure(self, fault: str) -> None:
        if fault != self.fault and "worker" in self.procs:
            self.procs["worker"].terminate()
            del self.procs["worker"]
        self.fault = fault
        for who in ("worker", "challenger"):
            if who not in self.procs or not self.procs[who].alive():
                self.start(who)
        for who in ("worker", "challenger"):
            wait_for(lambda: _events(self.procs[who], "started"), 30, f"{who} started", _logs(self.procs[who]))

    def close(self) -> None:
        for p in self.procs.values():
            p.kill()
        for p in self.proxies.values():
            p.close()


@pytest.fixture(scope="module")
def crew(net, model):
    c = Crew(net, model[0])
    yield c
    c.close()


@pytest.mark.parametrize("victim,step,when,fault,by,challenger_wins", STEPS,
                         ids=[f"{v}-{s.split('.')[1]}-{w}" for v, s, w, *_ in STEPS])
def test_a_daemon_killed_at_each_step_of_a_dispute_resumes_and_the_dispute_ends_right(
        net, model, crew, request, victim, step, when, fault, by, challenger_wins):
    mid, x = model
    req = net.sdk(REQUESTER)
    params = req.params()
    worker_addr, chal_addr = net.sdk(WORKER).address, net.sdk(CHALLENGER).address
    crew.ensure(fault)
    contract, fn = step.split(".")
    target = getattr(req.c, contract)
    gate = Gate(target.address.lower(), _selector(target, fn), when)
    crew.proxies[victim].set_gate(gate)
    request.addfinalizer(lambda: (gate.release.set(), crew.proxies[victim].set_gate(None)))
    stake0 = req.stake_of(worker_addr)
    before = _balances(req, [chal_addr, worker_addr, req.address, params["treasury"]])
    jid = req.submit(mid, {"x": x[:1]}, worker_fee=FEE, claim_ttl=120)  # room for a kill + restart before the claim
    logs = _logs(crew.procs["worker"], crew.procs["challenger"])
    assert gate.hit.wait(60), f"{victim} never reached {step} ({when})\n{logs()}"
    t_kill = time.monotonic()
    crew.procs[victim].kill()  # SIGKILL, with the step's request held by its proxy
    gate.release.set()
    crew.proxies[victim].set_gate(None)
    if when == "after":
        receipt = req.w3.eth.wait_for_transaction_receipt(gate.tx_hash, timeout=10)
        assert receipt["status"] == 1  # the step happened on chain; the daemon never learned it
    crew.start(victim)  # same journal, same store
    logs = _logs(crew.procs["worker"], crew.procs["challenger"])

    def settled():
        # The game's own clocks where nobody can act sooner: a demand outstanding with a worker that
        # ignores it, or a worker that answered every demand and no proof exists.
        if req.job(jid).status == JobStatus.CHALLENGED:
            d = req.c.game.functions.getDispute(jid).call()
            demand_deadline, demands_made, max_demands = d[6], d[10], d[9]
            if fault == "ignore-demands" and demand_deadline:
                net.advance(11)
            elif fault == "withhold-trace" and demands_made >= max_demands and not demand_deadline:
                net.advance(31)
        return req.events("DisputeSettled", jobId=jid)

    ev = wait_for(settled, 120, f"dispute over job {jid} settled", logs)
    assert ev[-1]["args"]["challengerWon"] is challenger_wins
    resolved = req.events("DisputeResolved", contract="game", jobId=jid)
    assert len(resolved) == 1 and resolved[-1]["args"]["by"] == by, resolved
    # Exactly one of each move: nothing was sent twice across the kill.
    assert len(req.events("ResultPosted", jobId=jid)) == 1
    assert len(req.events("JobChallenged", jobId=jid)) == 1
    assert len(req.events("TracePosted", contract="game", jobId=jid)) == 1
    j = req.job(jid)
    bond = params["challenge_bond"]
    if challenger_wins:
        collateral = j.collateral
        assert req.stake_of(worker_addr).active == stake0.active - collateral
        reward = collateral * params["slash_challenger_bps"] // 10_000
        to_req = collateral * params["slash_requester_bps"] // 10_000
        paid = j.worker_fee + j.owner_fee + j.protocol_fee
        refund = paid if j.status == JobStatus.REFUNDED else 0
        want = {chal_addr: reward, worker_addr: 0, req.address: to_req - paid + refund,
                params["treasury"]: collateral - reward - to_req}
    else:  # the worker is upheld: it is paid after the window, the challenger loses its bond
        net.advance(int(params["challenge_window"]) + 1)
        wait_for(lambda: req.job(jid).status == JobStatus.FINALIZED, 30, "finalized", logs)
        to_worker = bond * params["bond_to_worker_bps"] // 10_000
        paid = j.worker_fee + j.owner_fee + j.protocol_fee
        want = {chal_addr: -bond, worker_addr: to_worker + FEE, req.address: -paid,
                params["treasury"]: j.protocol_fee + bond - to_worker}
    # The winner takes its money out (the challenger's reward, the worker's fee) even when killed
    # right before withdrawing.
    winner = chal_addr if challenger_wins else worker_addr
    wait_for(lambda: req.credits(winner) == 0, 30, "winner withdrew its credits", logs)
    after = _balances(req, list(want))
    assert {a: after[a] - before[a] for a in want} == want
    assert crew.procs["worker"].alive() and crew.procs["challenger"].alive()
    _FIGURES.setdefault("kills", []).append({"case": f"{victim} {step} {when}", "by": BY_NAMES[by],
                                             "kill_to_settled_s": round(time.monotonic() - t_kill, 1)})


# ------------------------------------------------------------------------------------------------ figures
_FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="module", autouse=True)
def _write_figures(tmp_path_factory):
    yield
    import os

    out = os.environ.get("ASSAY_FAULTS_FIGURES")  # where to write the figures (docs/reliability-faults.md)
    if out:
        Path(out).write_text(json.dumps(_FIGURES, indent=1))


# ------------------------------------------------------------------------------------------------ 5. bench orphans
_BENCH_PARENT = """
import sys, time
sys.path.insert(0, {root!r})
from bench.chainenv import spawn
kids = [spawn(["sleep", "120"]) for _ in range(2)]
print(" ".join(str(k.pid) for k in kids), flush=True)
time.sleep(120)
"""


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] in ("Z", "X")  # a zombie is dead, only not yet reaped
    except FileNotFoundError:
        return True


def test_bench_children_in_their_own_process_groups_die_with_the_bench():
    """`make bench` killed by a time-out (SIGTERM) or by SIGKILL must not leave worker, challenger or anvil
    processes behind, although they run in their own process groups (which a signal to the bench's
    group does not reach): SIGTERM runs the clean-up, SIGKILL is answered by PR_SET_PDEATHSIG."""
    import os
    import subprocess
    import sys

    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(root) / "offchain"), root]))
    parents = {sig: subprocess.Popen([sys.executable, "-c", _BENCH_PARENT.format(root=root)], stdout=subprocess.PIPE,
                                     text=True, env=env) for sig in (signal.SIGTERM, signal.SIGKILL)}
    try:
        kids = {sig: [int(p) for p in parent.stdout.readline().split()] for sig, parent in parents.items()}
        for sig, parent in parents.items():
            assert len(kids[sig]) == 2 and not any(_gone(k) for k in kids[sig])
            assert all(os.getpgid(k) == k != os.getpgid(parent.pid) for k in kids[sig])  # own groups, like the bench's
            parent.send_signal(sig)
        for sig, parent in parents.items():
            parent.wait(timeout=10)
            wait_for(lambda: all(_gone(k) for k in kids[sig]), 10, f"the bench's children to die after {sig.name}")
    finally:
        for parent in parents.values():
            if parent.poll() is None:
                parent.kill()
