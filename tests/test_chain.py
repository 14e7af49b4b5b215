"""The chain layer (assay.chain) against a real anvil: sender, reader, connection, accounts, anvil helper.

Every test talks to anvil processes started by assay.chain.anvil with the stack deployed by
assay.chain.deploy (web3 only, no ape). Faults are injected with a small HTTP proxy in front of
anvil, never by mocking the chain.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import socket
import threading
import time
import urllib.request

import pytest
from eth_account import Account
from web3 import Web3
from web3.exceptions import TransactionNotFound

from assay import artifacts
from assay.chain import (
    ChainIdMismatch,
    DeploymentOutdated,
    EventReader,
    InsufficientFunds,
    JobStatus,
    KeyLoadError,
    RetryPolicy,
    RpcUnavailable,
    SendFailed,
    Sender,
    SenderConfig,
    StateReader,
    TxTimeout,
    connect,
    contracts,
    dev_account,
    load_account,
)
from assay.chain.accounts import encrypt_to_keystore
from assay.chain.anvil import Anvil
from assay.chain.deploy import deploy_stack, is_current
from assay.deployer import load_deployment, save_deployment
from assay.errors import ContractReverted
from assay.params import DeployConfig
from conftest import GAME, TEST_PARAMS, TOKEN, UNBONDING

FAST_RETRY = RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.05)
FAST = dict(poll_interval=0.02, receipt_timeout=20)
OUTPUT_ROOT = hashlib.sha256(b"output").digest()
MODEL_ID = hashlib.sha256(b"model-chain").digest()
WORKER_FEE = TOKEN


def deploy_cfg(treasury: str, arbiter: str) -> DeployConfig:
    return DeployConfig(treasury=treasury, arbiter=arbiter, unbonding_delay=UNBONDING, game=GAME, params=TEST_PARAMS)


def deploy_on(node: Anvil) -> tuple[Web3, dict, object]:
    w3 = connect(node.url, retry=FAST_RETRY)
    s = Sender(w3, dev_account(0), SenderConfig(**FAST))
    rec = deploy_stack(w3, s, deploy_cfg(dev_account(6).address, dev_account(7).address), network="ethereum:local",
                       local=True, log=lambda _m: None)
    return w3, rec, contracts(w3, rec)


# ---------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def node():
    with Anvil() as n:
        yield n


@pytest.fixture(scope="module")
def stack(node):
    return deploy_on(node)


@pytest.fixture(scope="module")
def w3(stack):
    return stack[0]


@pytest.fixture(scope="module")
def record(stack):
    return stack[1]


@pytest.fixture(scope="module")
def c(stack):
    return stack[2]


# Every test uses the module's fixtures from the start, so that ape's test isolation (active when
# this file runs under `ape test`) never sees a "new" module fixture and re-creates it.
pytestmark = pytest.mark.usefixtures("node", "stack", "owner", "requester", "worker", "ready")


def sender_for(w3, index, **cfg):
    return Sender(w3, dev_account(index), SenderConfig(**(FAST | cfg)))


@pytest.fixture(scope="module")
def owner(w3):
    return sender_for(w3, 0)


@pytest.fixture(scope="module")
def requester(w3):
    return sender_for(w3, 1)


@pytest.fixture(scope="module")
def worker(w3):
    return sender_for(w3, 2)


@pytest.fixture(scope="module")
def ready(c, owner, requester, worker):
    """A registered model (fee 0), a funded requester, a staked worker."""
    big = 2**256 - 1
    owner.transact(c.registry.functions.registerModel(MODEL_ID, ["ipfs://m"], 0, 1, b"\x11" * 32, b"\x22" * 32))
    for s in (requester, worker):
        s.transact(c.token.functions.mint(s.address, 1000 * TOKEN))
        s.transact(c.token.functions.approve(c.jobs.address, big))
        s.transact(c.token.functions.approve(c.stake.address, big))
    worker.transact(c.stake.functions.stake(100 * TOKEN))
    return True


def job_request(w3, **kw):
    now = w3.eth.get_block("latest")["timestamp"]
    r = dict(modelId=MODEL_ID, inputRoot=hashlib.sha256(b"in").digest(), workerFee=WORKER_FEE, maxTotalFee=10 * TOKEN,
             claimDeadline=now + 1000, callback=False, input=b"\x01\x02", inputURI="")
    r.update(kw)
    return tuple(r.values())


def submit_job(w3, c, requester, **kw) -> int:
    requester.transact(c.jobs.functions.submit(job_request(w3, **kw)))
    return c.jobs.functions.jobCount().call()


class FaultyProxy:
    """An HTTP JSON-RPC proxy to `target` that fails chosen requests.

    `plan[method]` is a list of actions for the next requests of that method, consumed in order:
    "502" (answer 502, nothing forwarded), "forward-502" (forward, then answer 502: the node acted but
    the client never hears of it), "drop" (close the connection, nothing forwarded), "no-method"
    (a JSON-RPC "method not found" error, as public nodes answer debug_*), "error:<message>" (a JSON-RPC
    error with that message). `seen` counts every request per method.
    """

    def __init__(self, target: str, plan: dict[str, list[str]] | None = None):
        self.target = target
        self.plan = {k: list(v) for k, v in (plan or {}).items()}
        self.seen: dict[str, int] = {}
        self.forwarded: dict[str, int] = {}
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_a):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                method = json.loads(body).get("method", "?")
                with proxy.lock:
                    proxy.seen[method] = proxy.seen.get(method, 0) + 1
                    todo = proxy.plan.get(method) or proxy.plan.get("*") or []
                    action = todo.pop(0) if todo else "ok"
                if action == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if action == "502":
                    return self._reply(502, b"bad gateway")
                if action == "no-method" or action.startswith("error:"):
                    code, msg = (-32601, "Method not found") if action == "no-method" else (-32000, action[6:])
                    err = {"jsonrpc": "2.0", "id": json.loads(body).get("id"), "error": {"code": code, "message": msg}}
                    return self._reply(200, json.dumps(err).encode())
                reply = proxy.forward(body, method)
                if action == "forward-502":
                    return self._reply(502, b"bad gateway")
                self._reply(200, reply)

            def _reply(self, code, data):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.lock = threading.Lock()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def forward(self, body: bytes, method: str) -> bytes:
        with self.lock:
            self.forwarded[method] = self.forwarded.get(method, 0) + 1
        req = urllib.request.Request(self.target, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------------------- deploy / connection
def test_web3_deploy_wires_the_stack_and_writes_an_ape_compatible_record(w3, record, c, tmp_path):
    assert record["chain_id"] == 31337 and record["deployer"] == dev_account(0).address
    from assay.deployer import VERIFIERS

    assert set(record["contracts"]) == {"Token", "ModelRegistry", "StakeManager", "JobManager", "DisputeGame",
                                        *VERIFIERS}
    for name, entry in record["contracts"].items():
        abi_name = "TestToken" if name == "Token" else name
        assert entry["contract"] == abi_name
        assert entry["abi_sha256"] == artifacts.abi_sha256(artifacts.abi(abi_name))
        assert w3.eth.get_code(entry["address"])
    assert record["config"]["treasury"] == dev_account(6).address
    assert record["config"]["arbiter"] == dev_account(7).address
    # Same wiring as assay.deployer.deploy_stack.
    assert c.jobs.functions.disputeGame().call() == c.game.address
    assert c.stake.functions.hasRole(c.stake.functions.OPERATOR_ROLE().call(), c.jobs.address).call()
    assert c.stake.functions.unbondingPolicy().call() == c.jobs.address
    assert c.game.functions.hasRole(c.game.functions.ARBITER_ROLE().call(), dev_account(7).address).call()
    assert c.jobs.functions.params().call()[0] == TEST_PARAMS.lease_duration
    # The record round-trips through the deployer's save/load and is still current.
    save_deployment(record, "ethereum:local", tmp_path)
    loaded = load_deployment("ethereum:local", tmp_path)
    assert loaded == json.loads(json.dumps(record)) and is_current(loaded, w3)


def test_chain_id_mismatch_names_both_ids_and_what_to_do(node, record, w3):
    other = dict(record, chain_id=11155111)
    with pytest.raises(ChainIdMismatch) as e:
        contracts(w3, other)
    msg = str(e.value)
    assert "31337" in msg and "11155111" in msg and "deploy" in msg
    with pytest.raises(ChainIdMismatch):
        connect(node.url, deployment=other, retry=FAST_RETRY)
    assert connect(node.url, deployment=record, retry=FAST_RETRY).eth.chain_id == 31337


def test_abi_changed_since_deployment_is_refused_with_redeploy_hint(w3, record):
    changed = json.loads(json.dumps(record))
    changed["contracts"]["JobManager"]["abi_sha256"] = "00" * 32
    with pytest.raises(DeploymentOutdated, match="contracts changed since deployment") as e:
        contracts(w3, changed)
    assert "JobManager" in str(e.value) and "redeploy" in e.value.hint


def test_unreachable_rpc_raises_rpc_unavailable_naming_the_url():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(RpcUnavailable, match=url.replace(".", r"\.")) as e:
        connect(url, retry=FAST_RETRY, timeout=1)
    assert "start the node" in e.value.hint


# ---------------------------------------------------------------------------------------- sender
def test_transact_mints_exact_amount_and_returns_receipt(w3, c, owner):
    to = dev_account(8).address
    before = c.token.functions.balanceOf(to).call()
    nonce = w3.eth.get_transaction_count(owner.address)
    receipt = owner.transact(c.token.functions.mint(to, 12345))
    assert receipt["status"] == 1 and receipt["from"] == owner.address and receipt["to"] == c.token.address
    assert c.token.functions.balanceOf(to).call() == before + 12345
    tx = w3.eth.get_transaction(receipt["transactionHash"])
    assert tx["nonce"] == nonce and tx["type"] == 2  # anvil has a base fee: EIP-1559
    assert tx["gas"] >= 1.25 * receipt["gasUsed"] - 1  # the estimate (>= gas used) times the margin


def test_withdraw_zero_reverts_before_sending_with_zero_amount(w3, c, requester):
    nonce = w3.eth.get_transaction_count(requester.address)
    with pytest.raises(ContractReverted) as e:
        requester.submit(c.jobs.functions.withdraw(0))
    assert e.value.error.name == "ZeroAmount" and e.value.error.contract == "JobManager"
    assert "withdraw(0)" in str(e.value)
    assert w3.eth.get_transaction_count(requester.address, "pending") == nonce  # nothing was sent


def test_claim_of_unknown_job_reverts_with_unknown_job_and_its_id(w3, c, worker, ready):
    unknown = c.jobs.functions.jobCount().call() + 41
    with pytest.raises(ContractReverted) as e:
        worker.transact(c.jobs.functions.claim(unknown))
    assert e.value.error.name == "UnknownJob" and e.value.error.args == {"jobId": unknown}
    assert e.value.raw[:4] == Web3.keccak(text="UnknownJob(uint256)")[:4]


def test_erc20_error_bubbling_up_is_decoded(w3, c):
    poor = sender_for(w3, 9)  # has ETH, no tokens, no allowance
    with pytest.raises(ContractReverted) as e:
        poor.submit(c.stake.functions.stake(5))
    assert e.value.error.name == "ERC20InsufficientAllowance"
    assert e.value.error.args == {"spender": c.stake.address, "allowance": 0, "needed": 5}


def test_thirty_rapid_sends_from_three_threads_get_contiguous_nonces(w3, c):
    s = sender_for(w3, 3)
    to = dev_account(8).address
    start = w3.eth.get_transaction_count(s.address)
    before = c.token.functions.balanceOf(to).call()
    pending, errors = [], []

    def burst(k):
        try:
            for i in range(10):
                pending.append(s.submit(c.token.functions.mint(to, 100 * k + i)))  # no waiting
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=burst, args=(k,)) for k in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    receipts = [s.wait(p) for p in pending]
    nonces = sorted(w3.eth.get_transaction(r["transactionHash"])["nonce"] for r in receipts)
    assert nonces == list(range(start, start + 30))
    assert all(r["status"] == 1 for r in receipts)
    assert w3.eth.get_transaction_count(s.address) == start + 30 and s.sent == 30
    assert c.token.functions.balanceOf(to).call() == before + sum(100 * k + i for k in (1, 2, 3) for i in range(10))


def test_stale_local_nonce_is_resynced_from_the_chain(w3, c):
    s = sender_for(w3, 4)
    s.transact(c.token.functions.mint(s.address, 1))
    # Another writer uses the same key behind the sender's back: its local nonce is now stale.
    acct = dev_account(4)
    n = w3.eth.get_transaction_count(acct.address)
    raw = acct.sign_transaction(dict(to=acct.address, value=0, gas=21000, gasPrice=w3.eth.gas_price * 2, nonce=n,
                                     chainId=31337)).raw_transaction
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(raw))
    receipt = s.transact(c.token.functions.mint(s.address, 2))
    assert receipt["status"] == 1
    assert w3.eth.get_transaction(receipt["transactionHash"])["nonce"] == n + 1
    assert w3.eth.get_transaction_count(acct.address) == n + 2


def test_legacy_fees_when_configured(w3, c):
    s = sender_for(w3, 5, legacy=True)
    receipt = s.transact(c.token.functions.mint(s.address, 1))
    tx = w3.eth.get_transaction(receipt["transactionHash"])
    assert tx["type"] == 0 and "maxFeePerGas" not in tx and tx["gasPrice"] > 0
    assert receipt["effectiveGasPrice"] == tx["gasPrice"]


def test_unfunded_account_gets_insufficient_funds_with_address(w3, c):
    s = Sender(w3, Account.create(), SenderConfig(**FAST))
    with pytest.raises(InsufficientFunds) as e:
        s.transact(c.token.functions.mint(s.address, 1))
    assert s.address in str(e.value) and "ETH" in e.value.hint
    assert w3.eth.get_transaction_count(s.address, "pending") == 0


@pytest.mark.parametrize("node_traces", [True, False], ids=["debug-trace", "replayed-call"])
def test_mined_revert_after_successful_simulation_is_decoded(w3, c, node, node_traces):
    # Simulating against "latest" while the first cancel is still pending lets the second pass the
    # simulation; mined after the first, it reverts on-chain. Without debug_traceTransaction (most
    # public nodes) the revert data comes from replaying the call on the block's state.
    plan = {} if node_traces else {"debug_traceTransaction": ["no-method"] * 3}
    with FaultyProxy(node.url, plan) as proxy:
        pw3 = connect(proxy.url, retry=FAST_RETRY)
        jobs = pw3.eth.contract(address=c.jobs.address, abi=c.jobs.abi)
        s = Sender(pw3, dev_account(6), SenderConfig(**FAST, simulate_block="latest"))
        s.transact(c.token.functions.mint(s.address, 100 * TOKEN))
        s.transact(c.token.functions.approve(c.jobs.address, 2**256 - 1))
        jid = submit_job(w3, c, s)
        node.set_automine(False)
        try:
            first = s.submit(jobs.functions.cancel(jid))
            second = s.submit(jobs.functions.cancel(jid))
            node.mine()
        finally:
            node.set_automine(True)
        assert s.wait(first)["status"] == 1
        with pytest.raises(ContractReverted) as e:
            s.wait(second)
    assert proxy.seen["debug_traceTransaction"] == 1
    assert proxy.forwarded.get("debug_traceTransaction", 0) == (1 if node_traces else 0)
    assert e.value.error.name == "JobNotOpen"
    assert e.value.error.args == {"jobId": jid, "status": int(JobStatus.CANCELLED)}
    assert e.value.receipt["status"] == 0 and e.value.tx_hash == second.hash
    assert "passed simulation" in e.value.hint


def test_stuck_transaction_is_replaced_with_higher_fees_and_only_one_is_mined():
    with Anvil(no_mining=True) as n:
        w3 = connect(n.url, retry=FAST_RETRY)
        s = Sender(w3, dev_account(0), SenderConfig(poll_interval=0.02, replace_after=0.15))
        to = dev_account(1).address
        before = w3.eth.get_balance(to)
        p = s.submit({"to": to, "value": 777})
        orig = w3.eth.get_transaction(p.hash)
        with pytest.raises(TxTimeout) as e:
            s.wait(p, timeout=0.5)  # nothing is mined: replaced at ~0.15 s, ~0.3 s, ...
        assert e.value.pending is p and p.replacements >= 2 and len(set(p.hashes)) == len(p.hashes)
        with pytest.raises(TransactionNotFound):
            w3.eth.get_transaction(p.hashes[0])  # the node dropped the replaced version
        n.mine()
        receipt = s.wait(p)
        assert receipt["transactionHash"] == p.hashes[-1] != p.hashes[0]
        mined = w3.eth.get_transaction(p.hashes[-1])
        assert mined["nonce"] == p.nonce == 0
        bump = 1.125 ** p.replacements
        assert mined["maxPriorityFeePerGas"] >= orig["maxPriorityFeePerGas"] * bump
        assert mined["maxFeePerGas"] >= orig["maxFeePerGas"] * bump
        assert w3.eth.get_transaction_count(s.address) == 1  # one transaction, not one per version
        assert w3.eth.get_balance(to) == before + 777


def test_transient_rpc_failures_are_retried_without_a_duplicate_transaction(node, w3, c):
    acct = dev_account(5)
    plan = {
        "eth_chainId": ["502", "drop"],
        # 1st send reaches anvil (mined at once) but the reply is lost; 2nd connection drops;
        # 3rd gets a 502; the 4th reaches anvil again, which already has it.
        "eth_sendRawTransaction": ["forward-502", "drop", "502"],
        "eth_getTransactionReceipt": ["502"],
    }
    with FaultyProxy(node.url, plan) as proxy:
        pw3 = connect(proxy.url, retry=FAST_RETRY)
        s = Sender(pw3, acct, SenderConfig(**FAST))
        start = w3.eth.get_transaction_count(acct.address)
        bal = c.token.functions.balanceOf(acct.address).call()
        receipt = s.transact(pw3.eth.contract(address=c.token.address, abi=c.token.abi).functions.mint(acct.address, 9))
    assert receipt["status"] == 1
    assert proxy.seen["eth_sendRawTransaction"] == 4 and proxy.forwarded["eth_sendRawTransaction"] == 2
    assert w3.eth.get_transaction_count(acct.address) == start + 1 and s.sent == 1  # nonces used == sends
    assert c.token.functions.balanceOf(acct.address).call() == bal + 9


def test_reverts_are_not_retried(node, c):
    with FaultyProxy(node.url) as proxy:
        pw3 = connect(proxy.url, retry=FAST_RETRY)
        s = Sender(pw3, dev_account(5), SenderConfig(**FAST))
        jobs = pw3.eth.contract(address=c.jobs.address, abi=c.jobs.abi)
        with pytest.raises(ContractReverted):
            s.submit(jobs.functions.withdraw(0))
    assert proxy.seen["eth_call"] == 1 and "eth_sendRawTransaction" not in proxy.seen


def test_rpc_failing_for_good_raises_without_consuming_a_nonce(node, w3, c):
    acct = dev_account(5)
    with FaultyProxy(node.url, {"eth_sendRawTransaction": ["502"] * 6}) as proxy:
        pw3 = connect(proxy.url, retry=FAST_RETRY)
        s = Sender(pw3, acct, SenderConfig(**FAST))
        start = w3.eth.get_transaction_count(acct.address)
        with pytest.raises(SendFailed) as e:
            s.submit({"to": acct.address, "value": 1})
        assert "could not reach the node" in str(e.value) and "nothing was sent" in e.value.hint
        assert proxy.seen["eth_sendRawTransaction"] == FAST_RETRY.attempts
        receipt = s.transact({"to": acct.address, "value": 1})  # the proxy behaves again
    assert w3.eth.get_transaction(receipt["transactionHash"])["nonce"] == start


# ---------------------------------------------------------------------------------------- reader
def test_state_reader_job_mirrors_job_view(w3, c, requester, ready):
    jid = submit_job(w3, c, requester, input=b"\xab" * 3)
    j = StateReader(c).job(jid)
    assert j.job_id == jid and j.status is JobStatus.OPEN and j.model_id == MODEL_ID
    assert j.requester == requester.address and j.worker is None and j.output_root is None
    assert j.worker_fee == WORKER_FEE and j.owner_fee == 0 and j.protocol_fee == WORKER_FEE * 100 // 10_000
    assert j.collateral == 2 * WORKER_FEE and j.total_fee == WORKER_FEE + j.protocol_fee
    with pytest.raises(ContractReverted) as e:
        StateReader(c).job(jid + 100)
    assert e.value.error.name == "UnknownJob" and e.value.error.args == {"jobId": jid + 100}


def test_event_reader_returns_lifecycle_events_in_order_after_confirmations(w3, c, node, requester, worker, ready):
    start = w3.eth.block_number + 1
    reader = EventReader.for_protocol(w3, c, start_block=start, confirmations=2, max_range=2)
    assert reader.poll() == []
    jid = submit_job(w3, c, requester)
    worker.transact(c.jobs.functions.claim(jid))
    worker.transact(c.jobs.functions.post(jid, OUTPUT_ROOT, b"\x09\x09", ""))
    # Head is the post's block: only blocks up to head - 2 (the submit) are confirmed.
    first = reader.poll()
    assert [e.name for e in first] == ["JobSubmitted"]
    assert first[0]["jobId"] == jid and first[0]["requester"] == requester.address and first[0]["input"] == b"\x01\x02"
    assert reader.poll() == []
    node.mine(2)
    rest = reader.poll()
    assert [e.name for e in rest] == ["JobClaimed", "ResultPosted"]
    claimed, posted = rest
    assert claimed["jobId"] == jid and claimed["worker"] == worker.address
    assert posted["outputRoot"] == OUTPUT_ROOT and posted["output"] == b"\x09\x09" and posted["outputURI"] == ""
    assert first[0].key < claimed.key < posted.key and claimed.contract == "JobManager"
    assert StateReader(c).job(jid).status is JobStatus.POSTED
    # A stateless re-read of the same blocks, one block per query, gives the same events.
    again = EventReader.for_protocol(w3, c, max_range=1).read(start, w3.eth.block_number)
    assert [(e.name, e.key) for e in again if e["jobId"] == jid] == [(e.name, e.key) for e in first + rest]


def test_event_reader_rereads_blocks_replaced_by_a_reorg():
    with Anvil() as n:
        w3, _rec, c = deploy_on(n)
        s = sender_for(w3, 0)
        s.transact(c.registry.functions.registerModel(MODEL_ID, ["ipfs://m"], 0, 1, b"\x11" * 32, b"\x22" * 32))
        s.transact(c.token.functions.mint(s.address, 100 * TOKEN))
        s.transact(c.token.functions.approve(c.jobs.address, 2**256 - 1))
        reader = EventReader.for_protocol(w3, c, start_block=w3.eth.block_number + 1, confirmations=0)
        snap = n.snapshot()
        submit_job(w3, c, s, inputRoot=b"\xaa" * 32)
        n.mine(1)
        old = reader.poll()
        assert [(e.name, e["inputRoot"]) for e in old] == [("JobSubmitted", b"\xaa" * 32)]
        # Reorg: the chain goes back to the snapshot and other blocks are mined at the same heights.
        n.revert(snap)
        s.resync_nonce()
        submit_job(w3, c, s, inputRoot=b"\xbb" * 32, input=b"\x07")
        n.mine(1)
        new = reader.poll()
        assert [(e.name, e["inputRoot"]) for e in new] == [("JobSubmitted", b"\xbb" * 32)]
        assert new[0].block_number == old[0].block_number and new[0].block_hash != old[0].block_hash


def test_event_reader_halves_refused_ranges_and_rereads_after_block_not_found(node, w3, c, requester, ready):
    start = w3.eth.block_number + 1
    jids = [submit_job(w3, c, requester, input=bytes([i + 1])) for i in range(3)]
    node.mine(1)
    want = [(e.name, e["jobId"]) for e in EventReader.for_protocol(w3, c).read(start, w3.eth.block_number)]
    assert want == [("JobSubmitted", j) for j in jids]
    plan = {"eth_getLogs": ["error:query returned more than 10000 results"]
            + ["error:header not found"] * FAST_RETRY.attempts}
    with FaultyProxy(node.url, plan) as proxy:
        pw3 = connect(proxy.url, retry=FAST_RETRY)
        reader = EventReader.for_protocol(pw3, c, start_block=start, confirmations=0, max_range=8)
        # 1st query refused as too large (not retried): the range is halved. Next query: the node
        # lags ("header not found") through every retry: the poll ends without skipping anything.
        assert reader.poll() == [] and reader.cursor == start
        assert proxy.seen["eth_getLogs"] == 1 + FAST_RETRY.attempts
        got = reader.poll()
    assert [(e.name, e["jobId"]) for e in got] == want and reader.cursor == w3.eth.block_number + 1
    assert reader._step == 4  # the halved range stays in use


# ---------------------------------------------------------------------------------------- accounts
def test_dev_accounts_are_anvils_accounts(w3):
    assert [dev_account(i).address for i in range(10)] == w3.eth.accounts


def test_world_readable_key_file_is_refused_and_private_one_loads(tmp_path):
    key = dev_account(3).key.hex()
    p = tmp_path / "worker.key"
    p.write_text("0x" + key + "\n")
    os.chmod(p, 0o644)
    with pytest.raises(KeyLoadError) as e:
        load_account(key_file=p)
    assert "readable" in str(e.value) and f"chmod 600 {p}" in e.value.hint and key not in str(e.value)
    os.chmod(p, 0o600)
    assert load_account(key_file=p).address == dev_account(3).address


def test_malformed_key_is_refused_without_echoing_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSAY_PRIVATE_KEY", "0x1234deadbeef")
    with pytest.raises(KeyLoadError) as e:
        load_account()
    assert "ASSAY_PRIVATE_KEY" in str(e.value) and "1234deadbeef" not in str(e.value)
    monkeypatch.setenv("ASSAY_PRIVATE_KEY", dev_account(2).key.hex())
    assert load_account().address == dev_account(2).address


def test_keystore_with_password_from_env(tmp_path, monkeypatch):
    path = encrypt_to_keystore(dev_account(4), tmp_path / "ks.json", "correct horse")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    monkeypatch.delenv("ASSAY_KEYSTORE_PASSWORD", raising=False)
    with pytest.raises(KeyLoadError, match="ASSAY_KEYSTORE_PASSWORD"):
        load_account(keystore=path)
    monkeypatch.setenv("ASSAY_KEYSTORE_PASSWORD", "wrong")
    with pytest.raises(KeyLoadError, match="cannot decrypt"):
        load_account(keystore=path)
    monkeypatch.setenv("ASSAY_KEYSTORE_PASSWORD", "correct horse")
    assert load_account(keystore=path).address == dev_account(4).address


def test_dev_accounts_only_on_local_networks(monkeypatch):
    monkeypatch.delenv("ASSAY_PRIVATE_KEY", raising=False)
    with pytest.raises(KeyLoadError, match="local network"):
        load_account(dev_index=0, local=False)
    assert load_account(dev_index=1, local=True).address == dev_account(1).address
    with pytest.raises(KeyLoadError, match="no signing key"):
        load_account()


# ---------------------------------------------------------------------------------------- anvil helper
def test_anvil_block_time_mines_without_transactions_and_stop_kills_it():
    n = Anvil(block_time=0.2).start()
    try:
        w3 = connect(n.url, retry=FAST_RETRY)
        first = w3.eth.block_number
        time.sleep(0.7)
        assert w3.eth.block_number >= first + 2
        proc = n.proc
    finally:
        n.stop()
    assert proc.poll() is not None and not n.running


def test_anvil_state_dump_and_load_keeps_balances(tmp_path):
    state = tmp_path / "state.json"
    to = dev_account(9).address
    with Anvil(dump_state=state) as n:
        w3 = connect(n.url, retry=FAST_RETRY)
        before = w3.eth.get_balance(to)
        Sender(w3, dev_account(0), SenderConfig(**FAST)).transact({"to": to, "value": 4242})
    assert state.exists() and state.stat().st_size > 0
    with Anvil(load_state=state) as n:
        assert connect(n.url, retry=FAST_RETRY).eth.get_balance(to) == before + 4242
    with pytest.raises(Exception, match="does not exist"):
        Anvil(load_state=tmp_path / "missing.json").start()
