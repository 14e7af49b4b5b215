"""End to end: a real anvil, the real contracts, real `assay worker run` subprocesses, real models.

Covers the "Worker happy path" issue: N jobs finalize with the outputs onnxruntime gives directly;
a worker killed with SIGKILL mid-job and restarted finishes every job exactly once; two competing
workers neither double-post nor lose jobs; bad input is refused before gas is spent, and a job the
worker cannot serve is skipped without crashing it.
"""

from __future__ import annotations

import urllib.request

import numpy as np
import onnxruntime as ort
import pytest

from assay import modelzoo
from assay.chain import JobStatus
from assay.inference.runner import InputValidationError
from assay.errors import ConfigError
from assay.models import InvalidModel
from assay.store import serve_store
from e2e_helpers import UNIT, start_devnet, wait_for

pytestmark = pytest.mark.slow

FEE = UNIT // 10
OWNER, REQUESTER, WORKER_A, WORKER_B = 5, 1, 2, 3


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    d = start_devnet(tmp_path_factory.mktemp("e2e"))
    yield d
    d.stop_all()
    d.anvil.stop()


@pytest.fixture(scope="module")
def zoo():
    return modelzoo.digits_mlp()


@pytest.fixture(scope="module")
def model(net, zoo):
    """The MLP, published by its owner over HTTP and registered; both workers staked."""
    owner = net.sdk(OWNER)
    server = serve_store(owner.store)
    digest = owner.store.put(zoo.onnx_bytes)
    mid = owner.register_model(zoo.onnx_bytes, fee=UNIT // 100, uris=[server.url_for(digest)])  # class detected: NONE
    for i in (WORKER_A, WORKER_B):
        net.sdk(i).stake(100 * UNIT)
    yield mid
    server.stop()


@pytest.fixture(scope="module")
def requester(net):
    return net.sdk(REQUESTER)


def _direct(zoo, x):
    sess = ort.InferenceSession(zoo.onnx_bytes, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, {zoo.input_name: x})))


def _events(sdk, name, jid):
    return sdk.events(name, jobId=jid)


def _finalize_all(net, sdk, ids, worker, timeout=60):
    net.advance(int(sdk.params()["challenge_window"]) + 1)
    wait_for(lambda: all(sdk.job(j).status == JobStatus.FINALIZED for j in ids), timeout,
             f"jobs {ids} finalized", worker.log)


def test_jobs_finalize_with_the_outputs_onnxruntime_gives(net, zoo, model, requester):
    w = net.start_worker(WORKER_A, "happy", models=[model])
    wsdk = net.sdk(WORKER_A)
    before = wsdk.token_balance() + wsdk.credits()
    n = 6
    xs = [zoo.x_test[i:i + 1] for i in range(n)]
    ids = [requester.submit(model, {zoo.input_name: x}, worker_fee=FEE) for x in xs]
    for jid, x in zip(ids, xs):
        requester.wait(jid, JobStatus.POSTED, timeout=60)
        got = requester.result(jid).outputs
        want = _direct(zoo, x)
        assert set(got) == set(want)
        for k in want:
            assert got[k].shape == want[k].shape and got[k].dtype == want[k].dtype
            np.testing.assert_allclose(got[k], want[k], rtol=1e-5, atol=1e-6)
    _finalize_all(net, requester, ids, w)
    wait_for(lambda: wsdk.credits() == 0, 30, "worker withdrew its credits", w.log)
    assert wsdk.token_balance() - before == n * FEE
    for jid in ids:
        assert len(_events(requester, "ResultPosted", jid)) == 1
        assert len(_events(requester, "JobFinalized", jid)) == 1
    assert w.alive()
    assert w.terminate() == 0  # SIGTERM: graceful exit


def test_worker_killed_mid_job_resumes_and_posts_exactly_once(net, zoo, model, requester):
    slow = net.start_worker(WORKER_A, "crash", models=[model], extra={"fault": "slow-inference"})
    ids = [requester.submit(model, {zoo.input_name: zoo.x_test[i:i + 1]}, worker_fee=FEE) for i in range(3)]
    wait_for(lambda: requester.job(ids[0]).status == JobStatus.CLAIMED, 30, "a claim", slow.log)
    slow.kill()  # SIGKILL while it is running the model
    assert requester.job(ids[0]).status == JobStatus.CLAIMED
    again = net.start_worker(WORKER_A, "crash", models=[model])  # same journal, honest speed
    for jid in ids:
        requester.wait(jid, JobStatus.POSTED, timeout=60)
    _finalize_all(net, requester, ids, again)
    for jid in ids:
        assert len(_events(requester, "ResultPosted", jid)) == 1
        assert len(_events(requester, "JobFinalized", jid)) == 1
        assert requester.job(jid).worker.lower() == net.sdk(WORKER_A).address.lower()
    again.terminate()


def test_two_workers_compete_without_double_work_or_lost_jobs(net, zoo, model, requester):
    a = net.start_worker(WORKER_A, "compete-a", models=[model])
    b = net.start_worker(WORKER_B, "compete-b", models=[model])
    ids = [requester.submit(model, {zoo.input_name: zoo.x_test[i:i + 1]}, worker_fee=FEE) for i in range(10)]
    for jid in ids:
        requester.wait(jid, JobStatus.POSTED, timeout=90)
    _finalize_all(net, requester, ids, a)
    by = {}
    for jid in ids:
        posts = _events(requester, "ResultPosted", jid)
        assert len(posts) == 1
        assert len(_events(requester, "JobReopened", jid)) == 0  # no lease ran out
        by.setdefault(posts[0]["args"]["worker"], []).append(jid)
    assert sorted(sum(by.values(), [])) == sorted(ids)
    assert a.alive() and b.alive()
    a.terminate()
    b.terminate()


def test_sdk_refuses_bad_input_before_spending_gas(net, zoo, model, requester):
    nonce = requester.w3.eth.get_transaction_count(requester.address)
    with pytest.raises(InputValidationError, match="input"):
        requester.submit(model, {zoo.input_name: np.zeros((1, 63), np.float32)}, worker_fee=FEE)
    with pytest.raises(InputValidationError):
        requester.submit(model, {zoo.input_name: np.zeros((1, 64), np.float64)}, worker_fee=FEE)
    bad = zoo.x_test[:1].copy()
    bad[0, 3] = np.nan
    with pytest.raises(InputValidationError, match="(?i)nan|finite"):
        requester.submit(model, {zoo.input_name: bad}, worker_fee=FEE)
    with pytest.raises(InvalidModel):
        requester.register_model(zoo.onnx_bytes[: len(zoo.onnx_bytes) // 2], fee=0, vclass="APPROX")
    with pytest.raises(ConfigError, match="ai.onnx.ml.ArrayFeatureExtractor"):  # ops without a verifier
        requester.register_model(zoo.onnx_bytes, fee=0, vclass="APPROX")
    assert requester.w3.eth.get_transaction_count(requester.address) == nonce


def test_worker_skips_a_model_whose_bytes_do_not_match_and_keeps_serving(net, zoo, model, requester, tmp_path):
    # A model registered under the id of one file but served with other bytes: the worker must refuse
    # it (hash check) without claiming, stay up, and still serve the good model.
    other = modelzoo.digits_logreg()
    liar_store = net.sdk(OWNER, store="liar-store").store
    server = serve_store(liar_store)
    try:
        good_digest = liar_store.put(other.onnx_bytes)
        wrong = other.onnx_bytes
        fake_id = "0x" + "ab" * 32  # registered id (claims to be sha256 of the file) ≠ sha256 of served bytes
        owner = net.sdk(OWNER)
        from assay.commitments import roots

        g, wr = roots.model_roots(wrong)
        owner._send(owner.c.registry.functions.registerModel(
            bytes.fromhex(fake_id[2:]), [server.url_for(good_digest)], 0, 1, g, wr), "registerModel")
        port = _free_port()
        w = net.start_worker(WORKER_A, "skipper", metrics_port=port)  # serves every model
        bad_job = requester.submit(fake_id, {other.input_name: other.x_test[:1]}, worker_fee=FEE,
                                   onnx_bytes=other.onnx_bytes)
        good_job = requester.submit(model, {zoo.input_name: zoo.x_test[:1]}, worker_fee=FEE)
        requester.wait(good_job, JobStatus.POSTED, timeout=60)
        assert requester.job(bad_job).status == JobStatus.OPEN  # left claimable for others
        metrics = wait_for(lambda: _scrape(port), 10, "metrics")
        assert 'assay_worker_jobs_skipped_total{reason="HashMismatch"}' in metrics or "HashMismatch" in w.log()
        assert w.alive()
        w.terminate()
    finally:
        server.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return r.read().decode()
    except OSError:
        return None
