"""The bad-input catalogue: every way a user, a requester or a hostile party can hand Assay bad input,
and what comes back. Each case (BI-nn, listed in docs/errors.md) asserts

- a typed error (an AssayError subclass, or a CLI exit code) whose message names the problem and
  whose hint says what to do, and
- that nothing was lost: no token moved, no escrow taken, no transaction sent, no bad blob cached,
  the daemon still serving.

Chain cases run on the real anvil of `ape test` with the stack of tests/conftest.py, through the SDK
(its own web3 connection, as a user's would be) and the CLI (click's CliRunner). No mocks.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import socket
import threading
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from eth_abi import encode
from eth_account import Account
from onnx import TensorProto, helper, numpy_helper
from web3 import Web3

from assay.chain import (
    ChainIdMismatch,
    DeploymentOutdated,
    InsufficientFunds,
    JobStatus,
    KeyLoadError,
    RpcUnavailable,
    SenderConfig,
    dev_account,
    load_account,
)
from assay.chain.retry import NO_RETRY
from assay.cli import main as cli_main
from assay.commitments import codec, roots
from assay.errors import AssayError, ConfigError, ContractReverted, DeploymentNotFound, InsufficientTokens
from assay.inference.runner import InferenceRunner, InputValidationError, ModelIdMismatch
from assay.models import InvalidModel
from assay.sdk import Assay, ModelMismatch, b32
from assay.store import BlobNotFound, ContentStore, HashMismatch, InvalidURI, StoreServer, StoreUnavailable, TooLarge
from assay.worker.config import WorkerConfig
from assay.worker.journal import Journal
from assay.worker.loop import Worker
from conftest import TOKEN

ROOT = Path(__file__).resolve().parents[1]
ERRORS_DOC = ROOT / "docs" / "errors.md"
REQUESTER, WORKER, MODEL_OWNER = 1, 2, 5  # dev account indices (conftest's roles)
FEE = TOKEN // 100
FAST = SenderConfig(poll_interval=0.02, receipt_timeout=20, replace_after=None)


# ------------------------------------------------------------------------------------------- models
def tiny_onnx(*, opset: int = 17, op: str = "MatMul", domain: str = "", nodes: bool = True) -> bytes:
    """y[N,2] = x[N,4] @ w: one MatMul, a symbolic batch dimension N."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])
    w = numpy_helper.from_array((np.arange(8, dtype=np.float32).reshape(4, 2) / 8), "w")
    body = [helper.make_node(op, ["x", "w"], ["y"], domain=domain)] if nodes else []
    g = helper.make_graph(body, "tiny", [x], [y if nodes else x], [w])  # no nodes: the input is the output
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(g, opset_imports=imports, ir_version=9).SerializeToString()


TINY = tiny_onnx()
TINY_ID = "0x" + hashlib.sha256(TINY).hexdigest()
GOOD_X = np.ones((1, 4), np.float32)


# ----------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def rpc_url(chain):
    return chain.provider.web3.provider.endpoint_uri


@pytest.fixture(scope="module")
def record(stack):
    return stack["record"]


@pytest.fixture(scope="module")
def deployment_file(record, tmp_path_factory):
    p = tmp_path_factory.mktemp("deploy") / "ethereum-local.json"
    p.write_text(json.dumps(record))
    return p


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("model") / "tiny.onnx"
    p.write_bytes(TINY)
    return p


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("stores")


def new_sdk(rpc_url: str, deployment_file: Path, store_dir: Path, index: int | None = REQUESTER, *, account=None,
            config: SenderConfig = FAST, runner: InferenceRunner | None = None) -> Assay:
    """A fresh SDK (fresh nonce cache: ape reverts the chain between tests)."""
    acct = account if account is not None else (dev_account(index) if index is not None else None)
    name = acct.address if acct is not None else "ro"
    return Assay.connect(rpc_url, account=acct, deployment_file=deployment_file, store_dir=store_dir / name,
                         sender_config=config, runner=runner)


@pytest.fixture(scope="module")
def tiny_model(rpc_url, deployment_file, store_dir, model_file, funded, staked):
    """The tiny model registered (class APPROX) by the model owner, its file behind a file:// URI."""
    owner = new_sdk(rpc_url, deployment_file, store_dir, MODEL_OWNER)
    mid = owner.register_model(model_file, fee=TOKEN // 1000, uris=[model_file.as_uri()])
    assert mid == TINY_ID
    return mid


# The module's fixtures exist before ape's per-test snapshots (see tests/test_chain.py).
pytestmark = pytest.mark.usefixtures("tiny_model")


@pytest.fixture
def sdk(rpc_url, deployment_file, store_dir):
    return new_sdk(rpc_url, deployment_file, store_dir, REQUESTER)


@pytest.fixture
def owner_sdk(rpc_url, deployment_file, store_dir):
    return new_sdk(rpc_url, deployment_file, store_dir, MODEL_OWNER)


class Ledger:
    """Token balances, job count and nonces before an action; `unchanged()` asserts nothing moved."""

    def __init__(self, sdk: Assay, *who: str):
        self.sdk = sdk
        self.who = list(who) + [sdk.c.jobs.address, sdk.c.stake.address]
        self.before = self._snap()

    def _snap(self):
        s = self.sdk
        return ({a: s.token_balance(a) for a in self.who}, s.job_count(),
                {a: s.w3.eth.get_transaction_count(a) for a in self.who}, int(s.c.registry.functions.modelCount().call()))

    def unchanged(self) -> None:
        assert self._snap() == self.before


def hinted(e: BaseException, *words: str) -> str:
    """The error's text; asserts it carries a hint and every word (case-insensitive)."""
    text = str(e)
    assert isinstance(e, AssayError), f"{type(e).__name__} is not an AssayError: {text}"
    assert "hint:" in text, f"no hint in: {text}"
    for w in words:
        assert w.lower() in text.lower(), f"{w!r} not in: {text}"
    return text


def raw_submit(sdk: Assay, *, input_: bytes = b"", input_root: bytes | None = None, uri: bytes = b"",
               model_id: str = TINY_ID, fee: int = FEE) -> int:
    """JobManager.submit with raw bytes for inputURI (string and bytes share one ABI layout): what a
    hostile requester can send without the SDK's checks. The job's id."""
    q = sdk.quote(model_id, fee)
    req = (b32(model_id), input_root or hashlib.sha256(b"x").digest(), fee, q["total"], sdk.now() + 5000, False,
           input_, uri)
    sel = bytes.fromhex(sdk.c.jobs.encode_abi("submit", [(b32(model_id), b"\x01" * 32, 1, 1, 1, False, b"", "")])[2:10])
    data = sel + encode(["(bytes32,bytes32,uint96,uint256,uint40,bool,bytes,bytes)"], [req])
    sdk._send({"to": sdk.c.jobs.address, "data": "0x" + data.hex()}, "submit(raw)")
    return sdk.job_count()


# =================================================================================== model files
def test_bi01_garbage_onnx_is_refused_before_any_gas(owner_sdk):
    led = Ledger(owner_sdk, owner_sdk.address)
    with pytest.raises(InvalidModel) as e:
        owner_sdk.register_model(b"this is not an onnx file")
    hinted(e.value, "not a valid ONNX model", "export the model again")
    led.unchanged()


def test_bi02_truncated_onnx_is_refused(owner_sdk):
    led = Ledger(owner_sdk, owner_sdk.address)
    with pytest.raises(InvalidModel) as e:
        owner_sdk.register_model(TINY[: len(TINY) // 2])
    hinted(e.value, "not a valid ONNX model", f"{len(TINY) // 2} bytes")
    led.unchanged()


def test_bi03_graph_without_nodes_is_refused(owner_sdk):
    with pytest.raises(InvalidModel) as e:
        owner_sdk.register_model(tiny_onnx(nodes=False))
    hinted(e.value, "no nodes", "at least one operator")


def test_bi04_unsupported_opset_is_refused_at_registration(owner_sdk):
    """onnx's checker accepts opset 99; onnxruntime cannot load it: no worker could ever serve it."""
    led = Ledger(owner_sdk, owner_sdk.address)
    with pytest.raises(InvalidModel) as e:
        owner_sdk.register_model(tiny_onnx(opset=99), vclass="NONE")
    hinted(e.value, "opset 99", f"opset <= {onnx.defs.onnx_opset_version()}")
    led.unchanged()


def test_bi05_unknown_custom_op_is_refused_at_registration(owner_sdk):
    led = Ledger(owner_sdk, owner_sdk.address)
    with pytest.raises(InvalidModel) as e:
        owner_sdk.register_model(tiny_onnx(op="FooBar", domain="com.example"), vclass="NONE")
    hinted(e.value, "cannot load the model", "com.example:FooBar", "operators are supported")
    led.unchanged()


def test_bi06_missing_model_file_is_a_config_error(owner_sdk, tmp_path):
    with pytest.raises(ConfigError) as e:
        owner_sdk.register_model(tmp_path / "nope.onnx")
    hinted(e.value, "nope.onnx not found", ".onnx file")


def test_bi07_model_bytes_that_do_not_hash_to_the_id_are_refused_by_the_runner():
    runner = InferenceRunner()
    with pytest.raises(ModelIdMismatch) as e:
        runner.run("ab" * 32, TINY, {"x": GOOD_X})
    hinted(e.value, "hash to", "ab" * 32, "sha256 of the ONNX file")
    assert runner.cached() == []  # nothing loaded


def test_bi08_store_source_with_other_bytes_is_a_hash_mismatch_and_nothing_is_cached(tmp_path):
    other = tmp_path / "other.bin"
    other.write_bytes(b"not the model")
    store = ContentStore(tmp_path / "s")
    want = hashlib.sha256(TINY).hexdigest()
    with pytest.raises(HashMismatch) as e:
        store.fetch([other.as_uri()], want)
    hinted(e.value, "sha256 mismatch", want, "never use these bytes")
    assert not store.has(want) and not list((tmp_path / "s").rglob("*/*/" + want))


def test_bi09_model_registered_with_wrong_roots_is_refused_by_fetch_model(sdk, owner_sdk, tmp_path):
    data = tiny_onnx(opset=16)  # another file (another id) whose roots we misstate
    f = tmp_path / "m16.onnx"
    f.write_bytes(data)
    mid = b32("0x" + hashlib.sha256(data).hexdigest())
    owner_sdk._send(owner_sdk.c.registry.functions.registerModel(mid, [f.as_uri()], 0, 2, b"\x11" * 32, b"\x22" * 32),
                    "registerModel")
    with pytest.raises(ModelMismatch) as e:
        sdk.fetch_model(mid)
    hinted(e.value, "roots differ from the registered ones", "do not serve it")


def test_bi10_unknown_verification_class_is_refused(owner_sdk):
    led = Ledger(owner_sdk, owner_sdk.address)
    with pytest.raises(ConfigError) as e:
        owner_sdk.register_model(tiny_onnx(opset=15), vclass="FAST")
    hinted(e.value, "unknown verification class 'FAST'", "EXACT, APPROX or NONE")
    led.unchanged()


def test_bi11_model_fee_that_overflows_uint96_is_refused(owner_sdk):
    led = Ledger(owner_sdk, owner_sdk.address)
    with pytest.raises(ConfigError) as e:
        owner_sdk.register_model(tiny_onnx(opset=15), fee=2**96)
    hinted(e.value, f"fee {2**96} is larger than the contracts accept", "check the units")
    led.unchanged()


# ======================================================================================== inputs
def _submit_refused(sdk: Assay, inputs, exc=InputValidationError, **kw):
    led = Ledger(sdk, sdk.address)
    with pytest.raises(exc) as e:
        sdk.submit(TINY_ID, inputs, worker_fee=FEE, **kw)
    led.unchanged()
    return e.value


def test_bi12_wrong_dtype_is_refused_before_escrow(sdk):
    e = _submit_refused(sdk, {"x": np.ones((1, 4), np.float64)})
    assert e.code == "dtype"
    hinted(e, "'x' has dtype float64", "float32", "astype")


def test_bi13_wrong_shape_is_refused(sdk):
    e = _submit_refused(sdk, {"x": np.ones((1, 5), np.float32)})
    assert e.code == "dim"
    hinted(e, "size 5 on axis 1", "declares 4", "reshape")


def test_bi14_wrong_rank_is_refused(sdk):
    e = _submit_refused(sdk, {"x": np.ones(4, np.float32)})
    assert e.code == "rank"
    hinted(e, "rank 1", "rank 2", "reshape")


def test_bi15_nan_input_is_refused(sdk):
    x = GOOD_X.copy()
    x[0, 2] = np.nan
    e = _submit_refused(sdk, {"x": x})
    assert e.code == "non_finite"
    hinted(e, "NaN/Inf", "index (0, 2)", "clean the input")


def test_bi16_infinite_input_is_refused(sdk):
    x = GOOD_X.copy()
    x[0, 0] = -np.inf
    e = _submit_refused(sdk, {"x": x})
    assert e.code == "non_finite"
    hinted(e, "1 NaN/Inf", "index (0, 0)")


def test_bi17_empty_tensor_is_refused(sdk):
    e = _submit_refused(sdk, {"x": np.ones((0, 4), np.float32)}, exc=ConfigError)
    hinted(e, "'x' has no elements", "[0, 4]", "at least one row")


def test_bi18_huge_input_is_refused_by_the_element_limit(rpc_url, deployment_file, store_dir):
    sdk = new_sdk(rpc_url, deployment_file, store_dir, runner=InferenceRunner(max_elements=4096))
    e = _submit_refused(sdk, {"x": np.ones((2048, 4), np.float32)})
    assert e.code == "too_large"
    hinted(e, "8192 elements", "limit of 4096", "smaller batch")


def test_bi19_missing_input_is_refused(sdk):
    e = _submit_refused(sdk, {})
    assert e.code == "missing"
    hinted(e, "missing input 'x'", "x: float[N, 4]")


def test_bi20_unexpected_input_name_is_refused(sdk):
    e = _submit_refused(sdk, {"x": GOOD_X, "input": GOOD_X})
    assert e.code == "unexpected"
    hinted(e, "unexpected input 'input'", "the model expects")


def test_bi21_python_list_instead_of_array_is_refused(sdk):
    e = _submit_refused(sdk, {"x": [[1.0, 2.0, 3.0, 4.0]]})
    assert e.code == "type"
    hinted(e, "is a list, not a numpy array", "np.asarray")


# ========================================================================================= stores
def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_bi22_unreachable_store_is_store_unavailable(tmp_path):
    store = ContentStore(tmp_path, timeout=(0.5, 0.5))
    url = f"http://127.0.0.1:{_closed_port()}/blobs/{'ab' * 32}"
    with pytest.raises(StoreUnavailable) as e:
        store.fetch([url], "ab" * 32)
    hinted(e.value, "cannot connect to", url, "server or gateway is up")


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        time.sleep(2.0)  # longer than the client's read timeout
        try:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"late")
        except OSError:
            pass

    def log_message(self, *_a):
        pass


def test_bi23_slow_store_times_out_and_nothing_is_cached(tmp_path):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    t.start()
    try:
        store = ContentStore(tmp_path, timeout=(0.5, 0.3))
        digest = hashlib.sha256(b"late").hexdigest()
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable) as e:
            store.fetch([f"http://127.0.0.1:{srv.server_address[1]}/blobs/{digest}"], digest)
        assert time.monotonic() - t0 < 1.9  # gave up at the read timeout, did not wait for the server
        hinted(e.value, "timed out", "read 0.3 s", "retry")
        assert not store.has(digest)
    finally:
        srv.shutdown()
        srv.server_close()


def test_bi24_blob_missing_from_the_store_is_blob_not_found(tmp_path):
    with StoreServer(tmp_path / "served") as srv:
        digest = "cd" * 32
        with pytest.raises(BlobNotFound) as e:
            ContentStore(tmp_path / "c").fetch([srv.url_for(digest)], digest)
    hinted(e.value, "HTTP 404", "publish the blob")


def test_bi25_blob_over_the_size_limit_is_refused_and_not_cached(tmp_path):
    served = ContentStore(tmp_path / "served")
    digest = served.put(b"x" * 5000)
    with StoreServer(served) as srv:
        local = ContentStore(tmp_path / "c")
        with pytest.raises(TooLarge) as e:
            local.fetch([srv.url_for(digest)], digest, max_bytes=1000)
    hinted(e.value, "5000 bytes > limit 1000", "raise max_bytes")
    assert not local.has(digest)


def test_bi26_non_utf8_model_uri_is_readable_and_refused_when_fetched(sdk, owner_sdk):
    """A URI that is not UTF-8 (only a raw transaction can register one) used to make every view
    and event query over it raise UnicodeDecodeError; now it decodes escaped and the store refuses it."""
    data = tiny_onnx(opset=14)
    mid = hashlib.sha256(data).digest()
    g, w = roots.model_roots(data)
    fn = owner_sdk.c.registry.functions.registerModel(mid, ["x"], 0, 2, g, w)
    sel = bytes.fromhex(fn._encode_transaction_data()[2:10])
    raw = sel + encode(["bytes32", "bytes[]", "uint96", "uint8", "bytes32", "bytes32"],
                       [mid, [b"ipfs://\xff\xfebad"], 0, 2, g, w])
    owner_sdk._send({"to": owner_sdk.c.registry.address, "data": "0x" + raw.hex()}, "registerModel(raw)")
    # the bug, shown with a plain web3 (strict UTF-8): the view cannot even be read
    plain = Web3(Web3.HTTPProvider(sdk.w3.provider.endpoint_uri)).eth.contract(
        address=sdk.c.registry.address, abi=sdk.c.registry.abi)
    with pytest.raises(UnicodeDecodeError):
        plain.functions.getModel(mid).call()
    info = sdk.model(mid)
    assert info.uris == ["ipfs://\\xff\\xfebad"]
    with pytest.raises(InvalidURI) as e:
        sdk.fetch_model(mid)
    hinted(e.value, "malformed IPFS URI", "ipfs://<cid>")


def test_bi27_unsupported_uri_scheme_is_invalid_uri(tmp_path):
    with pytest.raises(InvalidURI) as e:
        ContentStore(tmp_path).fetch(["ftp://example.org/model.onnx"], "ab" * 32)
    hinted(e.value, "unsupported URI scheme 'ftp'", "assay://<sha256>")


# ================================================================================ amounts, deadlines
def test_bi28_zero_worker_fee_is_refused(sdk):
    led = Ledger(sdk, sdk.address)
    with pytest.raises(ConfigError) as e:
        sdk.submit(TINY_ID, {"x": GOOD_X}, worker_fee=0)
    hinted(e.value, "worker_fee must be positive, got 0", "positive amount")
    led.unchanged()


def test_bi29_worker_fee_overflowing_uint96_is_refused(sdk):
    led = Ledger(sdk, sdk.address)
    with pytest.raises(ConfigError) as e:
        sdk.submit(TINY_ID, {"x": GOOD_X}, worker_fee=2**96)
    hinted(e.value, "larger than the contracts accept", f"at most {2**96 - 1}", "units")
    led.unchanged()


def test_bi30_fractional_worker_fee_is_refused_not_rounded(sdk):
    led = Ledger(sdk, sdk.address)
    with pytest.raises(ConfigError) as e:
        sdk.submit(TINY_ID, {"x": GOOD_X}, worker_fee=0.5)
    hinted(e.value, "integer number of token units, got 0.5", "10**18")
    led.unchanged()


def test_bi31_claim_deadline_in_the_past_is_refused(sdk, jobs):
    led = Ledger(sdk, sdk.address)
    for ttl in (0, -60):
        with pytest.raises(ConfigError) as e:
            sdk.submit(TINY_ID, {"x": GOOD_X}, worker_fee=FEE, claim_ttl=ttl)
        hinted(e.value, f"claim_ttl must be a positive number of seconds, got {ttl}", "claim_ttl=600")
    led.unchanged()
    # and the contract's own guard, for a request built without the SDK: decoded, with its hint
    container = codec.encode_tensors([("x", GOOD_X)])
    q = sdk.quote(TINY_ID, FEE)
    req = (b32(TINY_ID), roots.io_root_of_container(container), FEE, q["total"], sdk.now() - 1, False, container, "")
    with pytest.raises(ContractReverted) as e:
        sdk._send(sdk.c.jobs.functions.submit(req), "submit")
    assert e.value.error.name == "ClaimDeadlineInPast"
    hinted(e.value, "ClaimDeadlineInPast", "later than the current block time")
    led.unchanged()


def test_bi32_claim_deadline_too_far_is_refused(sdk):
    led = Ledger(sdk, sdk.address)
    ttl = sdk.params()["max_claim_ttl"] + 1
    with pytest.raises(ConfigError) as e:
        sdk.submit(TINY_ID, {"x": GOOD_X}, worker_fee=FEE, claim_ttl=ttl)
    hinted(e.value, f"claim_ttl {ttl}s is longer than this deployment allows", f"claim_ttl <= {ttl - 1}")
    led.unchanged()


def test_bi33_max_total_fee_below_the_quote_is_refused_before_the_approval(sdk):
    led = Ledger(sdk, sdk.address)
    total = sdk.quote(TINY_ID, FEE)["total"]
    with pytest.raises(ConfigError) as e:
        sdk.submit(TINY_ID, {"x": GOOD_X}, worker_fee=FEE, max_total_fee=total - 1)
    hinted(e.value, f"costs {total} token units", f"max_total_fee is {total - 1}", "raise max_total_fee")
    led.unchanged()


def test_bi34_insufficient_tokens_is_refused_before_any_transaction(rpc_url, deployment_file, store_dir, chain):
    acct = Account.create()
    chain.set_balance(acct.address, 10**18)  # ETH for gas, no tokens
    poor = new_sdk(rpc_url, deployment_file, store_dir, account=acct)
    assert poor.token_balance() == 0
    led = Ledger(poor, poor.address)
    with pytest.raises(InsufficientTokens) as e:
        poor.submit(TINY_ID, {"x": GOOD_X}, worker_fee=FEE)
    hinted(e.value, "this job needs", f"{poor.address} holds 0", "get more of the fee token")
    led.unchanged()


def test_bi35_no_eth_for_gas_is_insufficient_funds_and_tokens_stay(rpc_url, deployment_file, store_dir, token, owner):
    acct = Account.create()
    token.mint(acct.address, 10 * TOKEN, sender=owner)
    broke = new_sdk(rpc_url, deployment_file, store_dir, account=acct,
                    config=SenderConfig(poll_interval=0.02, receipt_timeout=20, priority_fee=10**9))
    led = Ledger(broke, acct.address)
    with pytest.raises(InsufficientFunds) as e:
        broke.submit(TINY_ID, {"x": GOOD_X}, worker_fee=FEE)
    hinted(e.value, "cannot pay for gas", f"send native currency (ETH) for gas to {acct.address}")
    led.unchanged()
    assert broke.token_balance() == 10 * TOKEN


def test_bi36_zero_stake_is_refused(rpc_url, deployment_file, store_dir):
    w = new_sdk(rpc_url, deployment_file, store_dir, WORKER)
    led = Ledger(w, w.address)
    with pytest.raises(ConfigError) as e:
        w.stake(0)
    hinted(e.value, "stake amount must be positive, got 0")
    led.unchanged()


def test_bi37_stake_above_the_token_balance_is_refused(rpc_url, deployment_file, store_dir):
    w = new_sdk(rpc_url, deployment_file, store_dir, WORKER)
    bal = w.token_balance()
    led = Ledger(w, w.address)
    with pytest.raises(InsufficientTokens) as e:
        w.stake(bal + 1)
    hinted(e.value, f"staking needs {bal + 1} token units", f"holds {bal}")
    led.unchanged()


def test_bi38_withdrawing_more_credits_than_held_reverts_in_simulation(sdk):
    assert sdk.credits() == 0
    led = Ledger(sdk, sdk.address)
    with pytest.raises(ContractReverted) as e:
        sdk.withdraw_credits(5)
    assert e.value.error.name == "InsufficientCredits" and e.value.error.args["requested"] == 5
    hinted(e.value, "InsufficientCredits", "withdraw at most that much")
    led.unchanged()


# ================================================================================ ids and state
def test_bi39_unknown_model_id_is_model_not_registered(sdk):
    led = Ledger(sdk, sdk.address)
    unknown = "0x" + "42" * 32
    with pytest.raises(ContractReverted) as e:
        sdk.model(unknown)
    assert e.value.error.name == "ModelNotRegistered"
    hinted(e.value, "ModelNotRegistered", "42" * 32, "assay model list")
    with pytest.raises(ContractReverted):
        sdk.submit(unknown, {"x": GOOD_X}, worker_fee=FEE)
    led.unchanged()


def test_bi40_malformed_model_id_is_a_config_error(sdk):
    for bad in ("0x1234", "0x" + "zz" * 32, 42):
        with pytest.raises(ConfigError) as e:
            sdk.model(bad)
        hinted(e.value, "64 hex digits")


def test_bi41_unknown_job_id_is_unknown_job(sdk):
    for call in (sdk.job, sdk.result):
        with pytest.raises(ContractReverted) as e:
            call(10**6)
        assert e.value.error.name == "UnknownJob"
        hinted(e.value, "UnknownJob", "check the job id")


def test_bi42_deprecated_model_is_refused(sdk, owner_sdk):
    owner_sdk._send(owner_sdk.c.registry.functions.deprecate(b32(TINY_ID)), "deprecate")
    led = Ledger(sdk, sdk.address)
    with pytest.raises(AssayError) as e:
        sdk.submit(TINY_ID, {"x": GOOD_X}, worker_fee=FEE)
    hinted(e.value, "is deprecated by its owner", "pick another model")
    led.unchanged()


# ======================================================================== network and deployment
def test_bi43_wrong_chain_id_is_refused(rpc_url, record, tmp_path):
    other = dict(record, chain_id=int(record["chain_id"]) + 1)
    f = tmp_path / "other.json"
    f.write_text(json.dumps(other))
    with pytest.raises(ChainIdMismatch) as e:
        Assay.connect(rpc_url, deployment_file=f)
    hinted(e.value, f"serves chain id {record['chain_id']}", f"made on chain id {other['chain_id']}",
           f"node of chain {other['chain_id']}")


def test_bi44_missing_deployment_is_deployment_not_found(rpc_url, tmp_path):
    with pytest.raises(DeploymentNotFound) as e:
        Assay.connect(rpc_url, deployment_file=tmp_path / "none.json")
    hinted(e.value, "none.json not found", "deploy first")
    with pytest.raises(DeploymentNotFound) as e:
        Assay.connect(rpc_url, "ethereum:nowhere")
    hinted(e.value, "no deployment for network 'ethereum:nowhere'", "ape run deploy --network ethereum:nowhere")


def test_bi45_corrupt_deployment_file_is_a_config_error(rpc_url, tmp_path):
    f = tmp_path / "bad.json"
    f.write_bytes(b'{"contracts": {"JobManager": ')
    with pytest.raises(ConfigError) as e:
        Assay.connect(rpc_url, deployment_file=f)
    hinted(e.value, "bad.json is not valid JSON", "redeploy")
    f.write_text("[]")
    with pytest.raises(ConfigError) as e:
        Assay.connect(rpc_url, deployment_file=f)
    hinted(e.value, "has no 'contracts' table")


def test_bi46_unreachable_rpc_is_rpc_unavailable(deployment_file):
    from assay.chain import connect

    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(RpcUnavailable) as e:
        connect(url, retry=NO_RETRY, timeout=1)
    hinted(e.value, f"cannot reach the JSON-RPC endpoint {url}", "assay devnet up")


def test_bi47_unsupported_rpc_url_is_a_config_error(deployment_file):
    for url in ("ws://127.0.0.1:8545", "127.0.0.1:8545"):
        with pytest.raises(ConfigError) as e:
            Assay.connect(url, deployment_file=deployment_file)
        hinted(e.value, f"unsupported RPC URL {url!r}", "http://127.0.0.1:8545")


def test_bi48_deployment_with_another_abi_is_deployment_outdated(rpc_url, record, tmp_path):
    stale = json.loads(json.dumps(record))
    stale["contracts"]["JobManager"]["abi_sha256"] = "00" * 32
    f = tmp_path / "stale.json"
    f.write_text(json.dumps(stale))
    with pytest.raises(DeploymentOutdated) as e:
        Assay.connect(rpc_url, deployment_file=f)
    hinted(e.value, "the ABI of JobManager", "redeploy")


# ==================================================================================== signing keys
def _keystore(path: Path, password: str) -> Path:
    """An encrypted keystore (mode 600) with a cheap scrypt cost: the default cost takes seconds."""
    path.write_text(json.dumps(Account.encrypt(Account.create().key, password, iterations=2**4)))
    path.chmod(0o600)
    return path


def test_bi49_locked_keystore_without_password_is_refused(tmp_path, monkeypatch):
    ks = _keystore(tmp_path / "ks.json", "secret")
    monkeypatch.delenv("ASSAY_KEYSTORE_PASSWORD", raising=False)
    with pytest.raises(KeyLoadError) as e:
        load_account(keystore=ks)
    hinted(e.value, "no password for keystore", "export ASSAY_KEYSTORE_PASSWORD")


def test_bi50_keystore_with_wrong_password_is_refused(tmp_path, monkeypatch):
    ks = _keystore(tmp_path / "ks.json", "secret")
    monkeypatch.setenv("ASSAY_KEYSTORE_PASSWORD", "wrong")
    with pytest.raises(KeyLoadError) as e:
        load_account(keystore=ks)
    hinted(e.value, "cannot decrypt keystore", "check the password")


def test_bi51_key_file_without_a_key_is_refused_and_not_echoed(tmp_path):
    f = tmp_path / "key"
    f.write_text("0x1234-not-a-key")
    f.chmod(0o600)
    with pytest.raises(KeyLoadError) as e:
        load_account(key_file=f)
    text = hinted(e.value, "does not hold a private key", "64 hex digits")
    assert "1234-not-a-key" not in text


def test_bi52_world_readable_key_file_is_refused(tmp_path):
    f = tmp_path / "key"
    f.write_text("0x" + "11" * 32)
    f.chmod(0o644)
    with pytest.raises(KeyLoadError) as e:
        load_account(key_file=f)
    hinted(e.value, "readable or writable by every user", f"chmod 600 {f}")


def test_bi53_dev_account_on_a_public_network_is_refused(monkeypatch):
    monkeypatch.delenv("ASSAY_PRIVATE_KEY", raising=False)
    with pytest.raises(KeyLoadError) as e:
        load_account(dev_index=1, local=False)
    hinted(e.value, "development accounts are public", "--key-file")


# ============================================================================================= CLI
@pytest.fixture
def cli(rpc_url, deployment_file, store_dir):
    runner = CliRunner(mix_stderr=False)

    def run(*args, account=REQUESTER, deployment=deployment_file):
        base = ["--rpc-url", rpc_url, "--store", str(store_dir / "cli")]
        if deployment is not None:
            base += ["--deployment", str(deployment)]
        if account is not None:
            base += ["--account", str(account)]
        r = runner.invoke(cli_main, base + list(args), catch_exceptions=False)
        assert "Traceback" not in r.stderr + r.stdout
        return r

    return run


def test_bi54_cli_bad_amounts_exit_2_with_the_reason(cli, sdk):
    led = Ledger(sdk, sdk.address)
    for amount, why in [("abc", "is not a number of tokens"), ("-1", "cannot be negative"), ("inf", "not a finite"),
                        ("nan", "not a finite"), ("0.0000000000000000001", "more than 18 decimals")]:
        r = cli("credits", "withdraw", "--", amount)
        assert r.exit_code == 2 and why in r.stderr, (amount, r.stderr)
    led.unchanged()


def test_bi55_cli_unreadable_inputs_file_exit_1_with_hint(cli, tmp_path, sdk):
    f = tmp_path / "in.json"
    f.write_bytes(b"\xff\xfe not json")
    led = Ledger(sdk, sdk.address)
    r = cli("job", "submit", TINY_ID, str(f), "--no-wait")
    assert r.exit_code == 1
    assert "cannot read inputs from" in r.stderr and "hint:" in r.stderr and ".npz" in r.stderr
    led.unchanged()


def test_bi56_cli_unknown_model_exit_1_names_the_error(cli):
    r = cli("model", "show", "0x" + "42" * 32, account=None)
    assert r.exit_code == 1
    assert "ModelNotRegistered" in r.stderr and "assay model list" in r.stderr


def test_bi57_cli_missing_deployment_exit_1(cli, tmp_path):
    r = cli("job", "status", "1", account=None, deployment=tmp_path / "gone.json")
    assert r.exit_code == 1 and "gone.json not found" in r.stderr and "deploy first" in r.stderr


def test_bi58_cli_non_integer_job_id_exit_2(cli):
    r = cli("job", "status", "one", account=None)
    assert r.exit_code == 2 and "'one' is not a valid integer" in r.stderr


# ========================================================================================== worker
@pytest.fixture
def worker_loop(rpc_url, deployment_file, store_dir, tmp_path):
    wsdk = new_sdk(rpc_url, deployment_file, store_dir, WORKER)
    cfg = WorkerConfig(rpc_url=rpc_url, deployment_file=deployment_file, models=[TINY_ID], poll_interval=0.1,
                       store_dir=tmp_path / "wstore", journal=tmp_path / "w.sqlite", store_port=None)
    return Worker(wsdk, cfg, Journal(cfg.journal))


def _serves_a_good_job_next(sdk: Assay, w: Worker) -> None:
    good = sdk.submit(TINY_ID, {"x": GOOD_X}, worker_fee=FEE)
    w.tick()
    j = sdk.job(good)
    assert j.status == JobStatus.POSTED and j.worker == w.me
    assert np.allclose(sdk.result(good).outputs["y"], GOOD_X @ (np.arange(8, dtype=np.float32).reshape(4, 2) / 8))


def test_bi59_worker_skips_a_nan_input_job_keeps_its_escrow_and_serves_the_next(sdk, worker_loop):
    x = GOOD_X.copy()
    x[0, 1] = np.nan
    container = codec.encode_tensors([("x", x)])
    esc = sdk.token_balance(sdk.c.jobs.address)
    bad = raw_submit(sdk, input_=container, input_root=roots.io_root_of_container(container))
    escrow = sdk.token_balance(sdk.c.jobs.address) - esc
    assert escrow == sdk.quote(TINY_ID, FEE)["total"]
    worker_loop.tick()
    assert sdk.job(bad).status == JobStatus.OPEN  # not claimed: the requester can cancel and is refunded
    assert "NaN/Inf" in worker_loop.rejected[bad] and worker_loop.last_error is None
    _serves_a_good_job_next(sdk, worker_loop)
    before = sdk.token_balance()
    sdk.cancel(bad)
    assert sdk.credits() == escrow and sdk.token_balance() == before


def test_bi60_worker_survives_a_job_whose_input_uri_is_not_utf8(sdk, worker_loop):
    """Was a denial of service: the JobSubmitted log of such a job made every tick raise
    UnicodeDecodeError in event decoding, so the worker served nothing at all."""
    bad = raw_submit(sdk, uri=b"https://example.org/\xff\xfe" + b"a" * 64)
    plain = Web3(Web3.HTTPProvider(sdk.w3.provider.endpoint_uri)).eth.contract(
        address=sdk.c.jobs.address, abi=sdk.c.jobs.abi)
    with pytest.raises(UnicodeDecodeError):  # the strict decoding that stalled the daemon
        plain.events.JobSubmitted().get_logs(from_block=0)
    worker_loop.tick()
    assert sdk.job(bad).status == JobStatus.OPEN
    assert "content hash" in worker_loop.rejected[bad]
    _serves_a_good_job_next(sdk, worker_loop)


# ======================================================================================= the doc
def test_every_case_is_in_docs_errors_md_and_every_documented_case_is_tested():
    src = Path(__file__).read_text()
    tested = {f"BI-{n}" for n in re.findall(r"^def test_bi(\d+)_", src, re.M)}
    documented = set(re.findall(r"^\| (BI-\d+) \|", ERRORS_DOC.read_text(), re.M))
    assert len(tested) >= 30
    assert tested - documented == set(), "cases missing from docs/errors.md"
    assert documented - tested == set(), "docs/errors.md lists cases no test covers"
