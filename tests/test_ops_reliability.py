"""Reliability in operation: stuck transactions, reorgs, start-up checks, health, SIGTERM, logs.

Real anvil processes and, where the daemon is the subject, real `assay worker run` subprocesses.
Faults are made with anvil's own controls — `anvil_setNextBlockBaseFeePerGas` (a base-fee spike
that prices a sent transaction out), `anvil_reorg` (replaces the last blocks with empty ones: the
worker's claim and post vanish, and its account nonce goes back) and automine on/off — and with an
HTTP proxy in front of anvil that can be switched off (the RPC "goes away"). Nothing is mocked.
"""

from __future__ import annotations

import http.server
import json
import re
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from eth_account import Account
from web3.exceptions import TransactionNotFound

from assay import modelzoo
from assay.chain import JobStatus, RetryPolicy, Sender, SenderConfig, TxTimeout, connect, dev_account
from assay.chain.anvil import Anvil
from assay.store import serve_store
from e2e_helpers import UNIT, start_devnet, wait_for

pytestmark = pytest.mark.slow

FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)
FEE = UNIT // 10
OWNER, REQUESTER = 5, 1
W_STUCK, W_REORG, W_HEALTH, W_TERM, W_LOGS = 2, 3, 4, 6, 8  # one account (and journal) per daemon test
UNSTAKED, LOW_STAKE = 7, 9
TX_FAST = {"tx_replace_after": 1.0, "tx_timeout": 30.0}


# ---------------------------------------------------------------------------------------- helpers
class RpcProxy:
    """Forwards JSON-RPC to anvil; while `down`, answers 503 (the endpoint is gone)."""

    def __init__(self, target: str):
        proxy = self
        self.down = False

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if proxy.down:
                    code, out = 503, b"service unavailable"
                else:
                    req = urllib.request.Request(target, data=body, headers={"Content-Type": "application/json"})
                    with urllib.request.urlopen(req, timeout=10) as r:
                        code, out = r.status, r.read()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *_a) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> tuple[int, dict | None]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")
    except OSError:
        return 0, None


def json_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return out


JOB_TX = re.compile(r"\b(claimJobs|postResults|finalizeJobs|claim|post)\b")
JOB_WORD = re.compile(r"\bjobs?\b", re.I)


def assert_job_lines_name_their_jobs(log_text: str, expect_ids: set[int]) -> list[dict]:
    """Every JSON line about a job (mentions a job, or a job transaction) carries job_id / job_ids, and
    every id a message names as 'job N' is among them. Returns the lines about jobs."""
    about = []
    for d in json_lines(log_text):
        ids = set(d.get("job_ids") or []) | ({d["job_id"]} if "job_id" in d else set())
        if not (ids or JOB_WORD.search(d["msg"]) or JOB_TX.search(d["msg"])):
            continue
        if d.get("event") in ("started", "stopping", "stopped", "metrics"):
            continue  # about the daemon (they name the jobs in flight when there are some)
        assert ids, f"log line about a job without a job id: {d}"
        named = {int(x) for x in re.findall(r"\bjob (\d+)", d["msg"])}
        assert named <= ids, f"line names jobs {named} but carries {ids}: {d}"
        about.append(d)
    seen = set().union(*[set(d.get("job_ids") or []) | ({d["job_id"]} if "job_id" in d else set()) for d in about])
    assert expect_ids <= seen, f"no log line for jobs {expect_ids - seen}"
    return about


def events_of(sdk, name: str, jid: int) -> list:
    return sdk.events(name, jobId=jid)


# ---------------------------------------------------------------------------------------- the sender alone
class Miner(threading.Thread):
    """Mines a block every `period` seconds. Until a transaction from `spike_for` shows up in the pool it
    mines only when other accounts' transactions wait (so that one cannot slip into an ordinary block);
    the block mined right after it shows up gets a base fee 4× its max fee (so it cannot be included)."""

    def __init__(self, node: Anvil, spike_for: str | None = None, period: float = 0.2):
        super().__init__(daemon=True)
        self.node, self.period = node, period
        self.spike_for = spike_for.lower() if spike_for else None
        self.spiked: dict | None = None  # the transaction priced out, and the spiked block's number
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            if self.spike_for and self.spiked is None:
                pool = self.node.rpc("txpool_content")
                txs = list((pool["pending"].get(self.spike_for) or {}).values())
                if txs:
                    tx = txs[0]
                    self.node.rpc("anvil_setNextBlockBaseFeePerGas", [hex(int(tx["maxFeePerGas"], 16) * 4)])
                    self.node.mine(1)
                    self.spiked = {"hash": tx["hash"], "nonce": int(tx["nonce"], 16),
                                   "maxFeePerGas": int(tx["maxFeePerGas"], 16),
                                   "block": int(self.node.rpc("eth_blockNumber"), 16)}
                    continue
                if pool["pending"]:
                    self.node.mine(1)
                self.halt.wait(self.period / 4)
                continue
            self.node.mine(1)
            self.halt.wait(self.period)

    def stop(self) -> None:
        self.halt.set()
        self.join(5)


def test_tx_priced_out_by_a_base_fee_spike_is_replaced_and_executes_once():
    with Anvil(no_mining=True) as n:
        w3 = connect(n.url, retry=FAST_RETRY)
        s = Sender(w3, dev_account(0), SenderConfig(poll_interval=0.05, replace_after=0.5, receipt_timeout=15))
        to = dev_account(1).address
        before, nonce0 = w3.eth.get_balance(to), w3.eth.get_transaction_count(s.address)
        p = s.submit({"to": to, "value": 777})
        orig = w3.eth.get_transaction(p.hash)
        miner = Miner(n, spike_for=s.address)
        miner.start()
        try:
            receipt = s.wait(p)
        finally:
            miner.stop()
        spiked = w3.eth.get_block(miner.spiked["block"])
        assert miner.spiked["hash"] == p.hashes[0].to_0x_hex()
        assert spiked["baseFeePerGas"] > orig["maxFeePerGas"] and p.hashes[0] not in spiked["transactions"]
        assert receipt["status"] == 1 and receipt["transactionHash"] == p.hashes[-1] != p.hashes[0]
        assert p.replacements >= 1 and s.replacements == p.replacements
        mined = w3.eth.get_transaction(receipt["transactionHash"])
        assert mined["nonce"] == p.nonce == nonce0
        assert mined["maxFeePerGas"] >= w3.eth.get_block(receipt["blockNumber"])["baseFeePerGas"]
        assert mined["maxFeePerGas"] >= orig["maxFeePerGas"] * 1.125  # geth: +10 % on both fields at least
        assert mined["maxPriorityFeePerGas"] >= orig["maxPriorityFeePerGas"] * 1.125
        for h in p.hashes[:-1]:
            with pytest.raises(TransactionNotFound):
                w3.eth.get_transaction_receipt(h)  # no other version executed
        assert w3.eth.get_transaction_count(s.address) == nonce0 + 1
        assert w3.eth.get_balance(to) == before + 777  # paid once


def test_nonce_gap_left_by_a_reorg_is_filled_and_the_next_tx_executes_once():
    with Anvil() as n:
        w3 = connect(n.url, retry=FAST_RETRY)
        s = Sender(w3, dev_account(0), SenderConfig(poll_interval=0.05, replace_after=0.5, receipt_timeout=15))
        to = dev_account(1).address
        before = w3.eth.get_balance(to)
        s.transact({"to": to, "value": 5})
        s.transact({"to": to, "value": 6})  # nonces 0 and 1, mined in blocks 1 and 2
        n.rpc("anvil_reorg", [2, []])  # blocks 1 and 2 replaced by empty ones: both transfers are gone
        assert w3.eth.get_transaction_count(s.address) == 0 and w3.eth.get_balance(to) == before
        t0 = time.monotonic()
        p = s.submit({"to": to, "value": 7})  # the sender still counts from 2: a gap at 0 and 1
        assert p.nonce == 2
        receipt = s.wait(p)
        assert receipt["status"] == 1 and time.monotonic() - t0 >= 0.5  # found after replace_after
        assert p.replacements == 0 and len(p.gap_fills) == 2 and s.gap_fills == 2
        for nonce, h in enumerate(p.gap_fills):
            fill = w3.eth.get_transaction(h)
            assert (fill["nonce"], fill["to"], fill["value"], fill["input"]) == (nonce, s.address, 0, b"")
            assert w3.eth.get_transaction_receipt(h)["status"] == 1
        assert w3.eth.get_transaction_count(s.address) == 3
        assert w3.eth.get_balance(to) == before + 7  # the reorged transfers were not replayed, the new one ran once


def test_resubmitting_a_call_whose_wait_timed_out_waits_for_it_instead_of_sending_again():
    with Anvil(no_mining=True) as n:
        w3 = connect(n.url, retry=FAST_RETRY)
        s = Sender(w3, dev_account(0), SenderConfig(poll_interval=0.05, replace_after=None))
        to = dev_account(1).address
        before = w3.eth.get_balance(to)
        p = s.submit({"to": to, "value": 9})
        with pytest.raises(TxTimeout):
            s.wait(p, timeout=0.2)
        again = s.submit({"to": to, "value": 9})  # a daemon retrying the same post on its next tick
        other = s.submit({"to": to, "value": 10})  # a different call is a new transaction
        assert again is p and other.nonce == p.nonce + 1
        assert n.rpc("txpool_status")["pending"] == "0x2"
        n.mine(1)
        assert s.wait(again)["status"] == 1 and s.wait(other)["status"] == 1
        third = s.submit({"to": to, "value": 9})  # the first one is mined: the same call again is a new intent
        assert third.nonce == p.nonce + 2
        n.mine(1)
        s.wait(third)
        assert w3.eth.get_balance(to) == before + 9 + 10 + 9
        assert w3.eth.get_transaction_count(s.address) == 3


# ---------------------------------------------------------------------------------------- the daemon
@pytest.fixture(scope="module")
def net(tmp_path_factory):
    d = start_devnet(tmp_path_factory.mktemp("ops"))
    yield d
    d.stop_all()
    d.anvil.stop()


@pytest.fixture(autouse=True)
def _daemons_end_with_their_test(request):
    """A test that fails midway must not leave its worker running into the next test (it would claim
    that test's jobs): every daemon a test started is killed when it ends."""
    if "net" not in request.fixturenames:
        yield
        return
    d = request.getfixturevalue("net")
    started = len(d.procs)
    yield
    for p in d.procs[started:]:
        p.kill()


@pytest.fixture(scope="module")
def zoo():
    return modelzoo.digits_mlp()


@pytest.fixture(scope="module")
def model(net, zoo):
    owner = net.sdk(OWNER)
    server = serve_store(owner.store)
    digest = owner.store.put(zoo.onnx_bytes)
    mid = owner.register_model(zoo.onnx_bytes, fee=UNIT // 100, uris=[server.url_for(digest)])
    for i in (W_STUCK, W_REORG, W_HEALTH, W_TERM, W_LOGS):
        net.sdk(i).stake(100 * UNIT)
    net.sdk(LOW_STAKE).stake(UNIT // 10)  # below minCollateral (1 token)
    yield mid
    server.stop()


@pytest.fixture(scope="module")
def requester(net):
    return net.sdk(REQUESTER)


def submit(requester, zoo, model, i: int = 0) -> int:
    return requester.submit(model, {zoo.input_name: zoo.x_test[i:i + 1]}, worker_fee=FEE)


def started(w) -> bool:
    return any(d.get("event") == "started" for d in json_lines(w.log()))


def test_worker_replaces_its_priced_out_claim_and_the_job_is_claimed_and_posted_once(net, zoo, model, requester):
    wsdk = net.sdk(W_STUCK)
    w = net.start_worker(W_STUCK, "stuck", models=[model], extra=TX_FAST)
    wait_for(lambda: started(w), 30, "worker started", w.log)
    nonce0 = wsdk.w3.eth.get_transaction_count(wsdk.address)
    net.anvil.set_automine(False)
    miner = Miner(net.anvil, spike_for=wsdk.address, period=0.25)
    miner.start()
    try:
        jid = submit(requester, zoo, model)
        requester.wait(jid, JobStatus.POSTED, timeout=60)
    finally:
        miner.stop()
        net.anvil.set_automine(True)
    assert miner.spiked is not None, "the worker's claim was never seen in the pool"
    claims, posts = events_of(requester, "JobClaimed", jid), events_of(requester, "ResultPosted", jid)
    assert len(claims) == 1 and len(posts) == 1
    claim_tx = wsdk.w3.eth.get_transaction(claims[0]["transactionHash"])
    # The claim that was mined is a re-priced version of the one priced out: same nonce, other hash.
    assert claim_tx["nonce"] == miner.spiked["nonce"] == nonce0
    assert claim_tx["hash"].to_0x_hex() != miner.spiked["hash"]
    assert claim_tx["maxFeePerGas"] >= miner.spiked["maxFeePerGas"] * 1.125
    with pytest.raises(TransactionNotFound):
        wsdk.w3.eth.get_transaction_receipt(miner.spiked["hash"])
    assert wsdk.w3.eth.get_transaction_count(wsdk.address) == nonce0 + 2  # one claim, one post: nothing else ran
    lines = assert_job_lines_name_their_jobs(w.log(), {jid})
    replaced = [d for d in lines if "replaced nonce" in d["msg"]]
    assert replaced and all(jid in d["job_ids"] for d in replaced)  # the sender's line names the job
    assert w.alive()
    assert w.terminate() == 0


def _reorg_after(net, block: int) -> None:
    """Replace every block after `block` by an empty one (same height): their transactions are gone."""
    depth = int(net.anvil.rpc("eth_blockNumber"), 16) - block
    net.anvil.rpc("anvil_reorg", [depth, []])


def test_worker_reposts_and_reclaims_after_reorgs_remove_its_post_or_its_claim_and_post(net, zoo, model, requester):
    wsdk = net.sdk(W_REORG)
    paid_before = wsdk.token_balance() + wsdk.credits()
    w = net.start_worker(W_REORG, "reorg", models=[model], extra=TX_FAST)
    nonce = lambda: wsdk.w3.eth.get_transaction_count(wsdk.address)  # noqa: E731
    ids = []
    # 1. Only the post is removed: the chain says claimed, the journal posted -> post again.
    # 2. The claim and the post are removed: the chain says open -> claim and post again.
    for x, cut_after, chain_says, gone in [(9, "JobClaimed", JobStatus.CLAIMED, 1),
                                           (1, "JobSubmitted", JobStatus.OPEN, 2)]:
        jid = submit(requester, zoo, model, x)
        ids.append(jid)
        requester.wait(jid, JobStatus.POSTED, timeout=60)
        # Reorg only once the worker has *recorded* its post (journal, then this log line): a reorg between
        # the post being mined and the worker reading its receipt is a different case (it just posts).
        wait_for(lambda: any(d.get("event") == "posted" and jid in d.get("job_ids", [])  # noqa: B023
                             for d in json_lines(w.log())), 30, f"worker recorded its post of job {jid}", w.log)
        first = events_of(requester, "ResultPosted", jid)[0]
        n0, fills0 = nonce(), len([d for d in json_lines(w.log()) if d.get("event") == "nonce_gap_filled"])
        _reorg_after(net, events_of(requester, cut_after, jid)[0]["blockNumber"])
        assert requester.job(jid).status == chain_says
        assert nonce() == n0 - gone
        requester.wait(jid, JobStatus.POSTED, timeout=60)
        claims, posts = events_of(requester, "JobClaimed", jid), events_of(requester, "ResultPosted", jid)
        assert len(claims) == 1 and len(posts) == 1  # exactly one result on the canonical chain
        assert posts[0]["args"]["worker"] == wsdk.address
        assert posts[0]["args"]["outputRoot"] == first["args"]["outputRoot"]  # the journal's output, not a re-run
        assert posts[0]["transactionHash"] != first["transactionHash"]
        lines = json_lines(w.log())
        assert any(d.get("event") == "reorged" and d.get("job_id") == jid and d["chain_status"] == chain_says.name
                   for d in lines)
        fills = [d for d in lines if d.get("event") == "nonce_gap_filled"][fills0:]
        assert len(fills) == gone and all(jid in d["job_ids"] for d in fills)  # one no-op per lost nonce
        assert nonce() == n0 + gone  # the fills, then what was redone: nothing else was sent
    a, b = ids
    assert_job_lines_name_their_jobs(w.log(), {a, b})
    # Each is paid once.
    net.advance(int(requester.params()["challenge_window"]) + 1)
    wait_for(lambda: all(requester.job(j).status == JobStatus.FINALIZED for j in (a, b)), 30, "finalized", w.log)
    wait_for(lambda: wsdk.credits() == 0, 30, "credits withdrawn", w.log)
    assert wsdk.token_balance() + wsdk.credits() - paid_before == 2 * FEE
    assert all(len(events_of(requester, "JobFinalized", j)) == 1 for j in (a, b))
    assert w.alive()
    assert w.terminate() == 0


def test_health_is_503_while_the_rpc_is_gone_and_200_again_after(net, zoo, model, requester):
    proxy = RpcProxy(net.url)
    port = free_port()
    try:
        w = net.start_worker(W_HEALTH, "health", models=[model], metrics_port=port, extra={"rpc_url": proxy.url})
        url = f"http://127.0.0.1:{port}/health"
        code, h = wait_for(lambda: (r := get_json(url))[0] == 200 and r, 30, "healthy", w.log)
        assert h["ok"] is True and h["rpc_ok"] is True and h["ticks"] > 0
        proxy.down = True
        t0 = time.monotonic()
        code, h = wait_for(lambda: (r := get_json(url))[0] == 503 and r, 10, "unhealthy", w.log)
        assert h["ok"] is False and h["rpc_ok"] is False and "503" in h["rpc_error"]
        assert time.monotonic() - t0 < 5
        proxy.down = False
        code, h = wait_for(lambda: (r := get_json(url))[0] == 200 and r, 30, "healthy again", w.log)
        assert h["rpc_ok"] is True
        jid = submit(requester, zoo, model, 2)  # and it works again, not only answers
        requester.wait(jid, JobStatus.POSTED, timeout=60)
        assert events_of(requester, "ResultPosted", jid)[0]["args"]["worker"] == net.sdk(W_HEALTH).address
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            assert "assay_worker_rpc_up 1.0" in r.read().decode()
        assert w.terminate() == 0
    finally:
        proxy.stop()


def test_sigterm_mid_inference_posts_the_job_claims_nothing_new_and_exits_0(net, zoo, model, requester):
    wsdk = net.sdk(W_TERM)
    w = net.start_worker(W_TERM, "term", models=[model],
                         extra={"fault": "slow-inference", "max_concurrent_jobs": 1, **TX_FAST})
    a, b = submit(requester, zoo, model, 3), submit(requester, zoo, model, 4)
    wait_for(lambda: requester.job(a).status == JobStatus.CLAIMED, 30, "a claim", w.log)
    time.sleep(0.5)  # inside the 3 s of slow inference
    t0 = time.monotonic()
    assert w.terminate(timeout=20) == 0
    assert time.monotonic() - t0 < 10
    assert requester.job(a).status == JobStatus.POSTED  # the job in flight was finished, not abandoned
    assert requester.job(b).status == JobStatus.OPEN  # nothing new was claimed: someone else can take it
    ev = [d.get("event") for d in json_lines(w.log())]
    assert ev.index("stopping") < ev.index("posted") < ev.index("stopped")
    stopping = next(d for d in json_lines(w.log()) if d.get("event") == "stopping")
    assert stopping["job_ids"] == [a]  # the job being computed when the signal came
    # A second signal exits at once: the job stays claimed (the next start resumes it from the journal).
    w2 = net.start_worker(W_TERM, "term", models=[model], extra={"fault": "slow-inference", **TX_FAST})
    wait_for(lambda: requester.job(b).status == JobStatus.CLAIMED, 30, "b claimed", w2.log)
    time.sleep(0.3)
    w2.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    t0 = time.monotonic()
    w2.proc.send_signal(signal.SIGTERM)
    assert w2.proc.wait(timeout=10) == 128 + signal.SIGTERM
    assert time.monotonic() - t0 < 2
    assert requester.job(b).status == JobStatus.CLAIMED and requester.job(b).worker == wsdk.address
    assert any(d.get("event") == "stopping_now" for d in json_lines(w2.log()))


def test_every_log_line_about_a_job_carries_its_id(net, zoo, model, requester):
    w = net.start_worker(W_LOGS, "logs", models=[model])
    ids = [submit(requester, zoo, model, 5 + i) for i in range(2)]
    for jid in ids:
        requester.wait(jid, JobStatus.POSTED, timeout=60)
    net.advance(int(requester.params()["challenge_window"]) + 1)
    wait_for(lambda: all(requester.job(j).status == JobStatus.FINALIZED for j in ids), 30, "finalized", w.log)
    assert w.terminate() == 0
    lines = assert_job_lines_name_their_jobs(w.log(), set(ids))
    events = {d.get("event") for d in lines}
    assert {"claimed", "posted", "finalized"} <= events
    for d in lines:
        assert d["level"] in ("info", "warning", "error", "debug") and isinstance(d["ts"], float)


# ---------------------------------------------------------------------------------------- start-up checks
@pytest.fixture
def cli(net, tmp_path, monkeypatch):
    """Run `assay [global] worker run --config cfg.yaml` in-process (the real CLI entry point)."""
    import logging

    from assay.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ASSAY_PRIVATE_KEY", raising=False)
    monkeypatch.setenv("COLUMNS", "400")
    saved = logging.getLogger("assay").handlers[:]

    def run(cfg: dict, *global_args: str, env: dict | None = None):
        full = {"rpc_url": net.url, "deployment_file": str(net.deployment), "store_dir": str(tmp_path / "store"),
                "journal": str(tmp_path / "w.sqlite"), "poll_interval": 0.2, "store_port": None, **cfg}
        full = {k: v for k, v in full.items() if v is not ...}
        path = tmp_path / "cfg.yaml"
        path.write_text(yaml.safe_dump(full))
        res = CliRunner().invoke(main, [*global_args, "worker", "run", "--config", str(path), "--max-ticks", "1"],
                                 env=env or {})
        return res.exit_code, " ".join(res.output.split())

    yield run
    logging.getLogger("assay").handlers[:] = saved


def nonce_of(net, index: int) -> int:
    return net.sdk(index).w3.eth.get_transaction_count(dev_account(index).address)


def test_worker_refuses_a_non_local_network_without_a_key(cli):
    code, out = cli({"network": "ethereum:sepolia"}, "--network", "ethereum:sepolia")
    assert code == 1 and "no signing key given" in out and "ASSAY_PRIVATE_KEY" in out and "keystore" in out


def test_worker_refuses_a_key_without_eth_naming_the_address(cli, model):
    fresh = Account.create()
    code, out = cli({}, env={"ASSAY_PRIVATE_KEY": fresh.key.hex()})
    assert code == 1 and f"worker {fresh.address} holds 0 wei of ETH" in out
    assert f"send ETH for gas to {fresh.address}" in out


def test_worker_refuses_without_stake(cli, net, model):
    n0 = nonce_of(net, UNSTAKED)
    code, out = cli({}, "--account", str(UNSTAKED))
    assert code == 1 and "has no free stake" in out and f"stake at least {UNIT} more" in out
    assert "assay stake deposit" in out and nonce_of(net, UNSTAKED) == n0  # nothing sent


def test_worker_refuses_stake_below_the_collateral_of_the_cheapest_job(cli, net, model):
    code, out = cli({}, "--account", str(LOW_STAKE))
    assert code == 1 and f"has {UNIT // 10} free stake" in out and f"stake at least {UNIT - UNIT // 10} more" in out
    # A fee floor raises the least collateral: 100 tokens staked cannot cover a 60-token job (2× = 120).
    code, out = cli({"min_worker_fee": 60 * UNIT}, "--account", str(W_LOGS))
    assert code == 1 and f"cheapest job it would claim ({120 * UNIT}" in out
    assert f"stake at least {20 * UNIT} more" in out


def test_worker_refuses_an_unknown_deployment(cli, net, tmp_path):
    key = dev_account(W_LOGS).key.hex()
    code, out = cli({"deployment_file": ..., "network": "ethereum:nowhere"}, "--network", "ethereum:nowhere",
                    env={"ASSAY_PRIVATE_KEY": key})
    assert code == 1 and "no deployment for network 'ethereum:nowhere'" in out and "deploy first" in out
    code, out = cli({"deployment_file": str(tmp_path / "missing.json")}, "--account", str(W_LOGS))
    assert code == 1 and "missing.json not found" in out
    # A deployment whose addresses hold no code (a reset devnet).
    rec = json.loads(Path(net.deployment).read_text())
    for c in rec["contracts"].values():
        c["address"] = "0x" + "11" * 20
    (tmp_path / "reset.json").write_text(json.dumps(rec))
    code, out = cli({"deployment_file": str(tmp_path / "reset.json")}, "--account", str(W_LOGS))
    assert code == 1 and "no contract at the JobManager address" in out and "redeploy" in out


def test_worker_refuses_an_unreachable_rpc(cli):
    port = free_port()
    t0 = time.monotonic()
    code, out = cli({"rpc_url": f"http://127.0.0.1:{port}", "startup_rpc_wait": 2}, "--account", str(W_LOGS))
    assert code == 1 and f"cannot reach the JSON-RPC endpoint http://127.0.0.1:{port}" in out and "check the URL" in out
    assert time.monotonic() - t0 >= 2  # it waited startup_rpc_wait before refusing


class _Forwarder(http.server.ThreadingHTTPServer):
    """A plain JSON-RPC forwarder on a chosen port: the 'node' that comes up late."""

    def __init__(self, port: int, target: str):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                req = urllib.request.Request(target, body, {"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=10) as r:
                    data = r.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        super().__init__(("127.0.0.1", port), Handler)


def test_worker_started_before_its_node_waits_for_it_instead_of_exiting(cli, net):
    """A daemon started while its node is down (both started at boot) must not exit: a process manager
    would restart it in a loop. It waits up to startup_rpc_wait and starts once the node answers."""
    port = free_port()
    fwd: list[_Forwarder] = []

    def node_comes_up():
        time.sleep(2.5)
        fwd.append(_Forwarder(port, net.url))
        fwd[0].serve_forever()

    threading.Thread(target=node_comes_up, daemon=True).start()
    t0 = time.monotonic()
    try:
        code, out = cli({"rpc_url": f"http://127.0.0.1:{port}", "startup_rpc_wait": 60}, "--account", str(W_LOGS))
    finally:
        while not fwd:
            time.sleep(0.05)
        fwd[0].shutdown()
        fwd[0].server_close()
    assert code == 0, out
    assert time.monotonic() - t0 >= 2.5


def test_worker_refuses_a_deployment_of_another_chain(cli, net, tmp_path):
    rec = json.loads(Path(net.deployment).read_text())
    rec["chain_id"] = 11155111
    (tmp_path / "sepolia.json").write_text(json.dumps(rec))
    code, out = cli({"deployment_file": str(tmp_path / "sepolia.json")}, "--account", str(W_LOGS))
    assert code == 1 and "serves chain id 31337" in out and "made on chain id 11155111" in out


def test_worker_refuses_a_store_dir_it_cannot_write(cli, tmp_path):
    (tmp_path / "afile").write_text("x")
    code, out = cli({"store_dir": str(tmp_path / "afile" / "store")}, "--account", str(W_LOGS))
    assert code == 1 and f"store_dir {tmp_path / 'afile' / 'store'} is not a writable directory" in out
    assert "write access" in out


def test_worker_refuses_a_port_in_use_or_out_of_range(cli):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out = cli({"metrics_port": port}, "--account", str(W_LOGS))
        assert code == 1 and f"metrics_port {port} cannot be bound" in out and "free port" in out
        code, out = cli({"store_port": port}, "--account", str(W_LOGS))
        assert code == 1 and f"store_port {port} cannot be bound" in out
    code, out = cli({"metrics_port": 70000}, "--account", str(W_LOGS))
    assert code == 1 and "metrics_port" in out and "less than or equal to 65535" in out


def test_worker_refuses_models_that_are_not_registered_and_unknown_options(cli, model):
    ghost = "0x" + "ab" * 32
    code, out = cli({"models": [model, ghost]}, "--account", str(W_LOGS))
    assert code == 1 and f"model {ghost} (in `models`) is not registered" in out
    code, out = cli({"metrics_prot": 9100}, "--account", str(W_LOGS))
    assert code == 1 and "metrics_prot" in out and "Extra inputs are not permitted" in out
