"""End to end fraud proofs: a real anvil, real worker and challenger processes, a real trained model.

A dishonest worker (the hidden `--fault` option) posts a wrong result; an honest challenger re-runs
it, challenges, fetches the worker's trace, finds the cheapest provable inconsistency and proves it
on-chain; the worker is slashed with exact balances. Also: an honest worker is never challenged by
an honest challenger running other onnxruntime settings, and a griefing challenger loses its bond.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from assay import modelzoo
from assay.chain import JobStatus
from e2e_helpers import UNIT, balances_at_one_block, start_devnet, wait_for

pytestmark = pytest.mark.slow

FEE = UNIT // 10
OWNER, REQUESTER, WORKER, CHALLENGER = 5, 1, 2, 4
# DisputeResolved.by: 2 node proof, 3 input proof, 4 weight proof, 5 output proof, 8 unanswered demand
BY = {"node": 2, "input": 3, "weight": 4, "output": 5, "demand": 8}


def logits_mlp() -> tuple[bytes, np.ndarray]:
    """The digits MLP trained by scikit-learn, as MatMul → Add → Relu → MatMul → Add (logits): every
    op has an on-chain verifier, so the model is class APPROX."""
    z = modelzoo.digits_mlp()
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load_from_string(z.onnx_bytes).graph.initializer}
    w1, b1, w2, b2 = (inits[k].astype(np.float32) for k in ("coefficient", "intercepts", "coefficient1", "intercepts1"))
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["l0"]),
        helper.make_node("Add", ["l0", "b2"], ["logits"]),
    ]
    g = helper.make_graph(
        nodes, "digits_mlp_logits",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, [1, 10])],
        [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="assay-tests")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m.SerializeToString(), z.x_test


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    d = start_devnet(tmp_path_factory.mktemp("fraud"))
    yield d
    d.stop_all()
    d.anvil.stop()


@pytest.fixture(scope="module")
def model(net):
    onnx_bytes, x = logits_mlp()
    owner = net.sdk(OWNER)
    from assay.store import serve_store

    server = serve_store(owner.store)
    mid = owner.register_model(onnx_bytes, fee=0, uris=[server.url_for(owner.store.put(onnx_bytes))], vclass="APPROX")
    net.sdk(WORKER).stake(100 * UNIT)
    yield mid, x
    server.stop()


@pytest.fixture(autouse=True)
def _isolated_daemons(net):
    """Each test starts its own daemons; afterwards they are killed (even when the test failed) and
    chain time moves past every short claim deadline, so no job of one test is taken by the next."""
    yield
    net.stop_all()
    net.procs.clear()
    net.advance(60)


def _challenger(net, name, extra=None):
    return net.start_challenger(CHALLENGER, name, extra)


_balances = balances_at_one_block


@pytest.mark.parametrize("fault,kind", [
    ("wrong-output", "output"),
    ("wrong-input", "input"),
    ("wrong-weights", "weight"),
    ("corrupt-node:0", "node"),
    ("corrupt-node:2", "node"),
    ("corrupt-node:4", "node"),
    ("ignore-demands", "demand"),
])
def test_a_wrong_result_is_proven_and_the_worker_slashed(net, model, fault, kind):
    mid, x = model
    req = net.sdk(REQUESTER)
    w = net.start_worker(WORKER, f"cheat-{fault}", models=[mid],
                         extra={"fault": fault, "store_port": 0})
    c = _challenger(net, f"chal-{fault}")
    params = req.params()
    worker_addr, chal_addr = net.sdk(WORKER).address, net.sdk(CHALLENGER).address
    stake0 = req.stake_of(worker_addr)
    before = _balances(req, [chal_addr, req.address, params["treasury"]])
    # The claim window is short (the job refunds after the slash instead of being re-claimed): submit only
    # once the worker is up, or a slow start-up under load lets the window pass unclaimed.
    wait_for(lambda: '"started"' in w.log(), 60, "worker started", lambda: w.log()[-3000:])
    jid = req.submit(mid, {"x": x[:1]}, worker_fee=FEE, claim_ttl=8)
    wait_for(lambda: req.job(jid).status == JobStatus.CHALLENGED, 60, f"job {jid} challenged",
             lambda: w.log()[-3000:] + c.log()[-3000:])

    def settled():
        # Once the challenger has demanded a chunk, let the demand window pass: it then resolves by time-out.
        if (kind == "demand" and req.job(jid).status == JobStatus.CHALLENGED
                and req.events("ChunkDemanded", contract="game", jobId=jid)):
            net.advance(11)
        return req.events("DisputeSettled", jobId=jid)

    ev = wait_for(settled, 120, f"dispute over job {jid} settled", lambda: w.log()[-3000:] + c.log()[-4000:])
    assert ev[-1]["args"]["challengerWon"] is True
    resolved = req.events("DisputeResolved", contract="game", jobId=jid)
    assert resolved[-1]["args"]["by"] == BY[kind]
    j = req.job(jid)
    collateral = j.collateral
    stake1 = req.stake_of(worker_addr)
    assert stake1.active == stake0.active - collateral and stake1.locked == stake0.locked
    reward = collateral * params["slash_challenger_bps"] // 10_000
    to_req = collateral * params["slash_requester_bps"] // 10_000
    bond = params["challenge_bond"]
    after = _balances(req, [chal_addr, req.address, params["treasury"]])
    assert after[chal_addr] - before[chal_addr] == reward  # bond back + reward (bond was paid, then returned)
    paid = j.worker_fee + j.owner_fee + j.protocol_fee
    refund = paid if j.status == JobStatus.REFUNDED else 0
    assert after[req.address] - before[req.address] == to_req - paid + refund
    assert after[params["treasury"]] - before[params["treasury"]] == collateral - reward - to_req
    assert bond > 0 and w.alive() and c.alive()
    w.terminate()
    c.terminate()


def test_honest_worker_is_never_challenged_by_a_challenger_with_other_settings(net, model):
    mid, x = model
    req = net.sdk(REQUESTER)
    w = net.start_worker(WORKER, "honest", models=[mid], extra={"intra_op_threads": 1, "store_port": 0})
    c = _challenger(net, "honest-chal", {"intra_op_threads": 2, "graph_optimization": "disable"})
    ids = [req.submit(mid, {"x": x[i:i + 1]}, worker_fee=FEE) for i in range(12)]
    for jid in ids:
        req.wait(jid, JobStatus.POSTED, timeout=60)
    net.advance(int(req.params()["challenge_window"]) + 1)
    wait_for(lambda: all(req.job(j).status == JobStatus.FINALIZED for j in ids), 60, "all finalized", w.log)
    assert not any(req.events("JobChallenged", jobId=j) for j in ids)
    w.terminate()
    c.terminate()


def test_a_griefing_challenger_loses_its_bond(net, model):
    mid, x = model
    req = net.sdk(REQUESTER)
    w = net.start_worker(WORKER, "griefed", models=[mid], extra={"store_port": 0})
    c = _challenger(net, "griefer", {"fault": "grief"})
    params = req.params()
    chal_addr, worker_addr = net.sdk(CHALLENGER).address, net.sdk(WORKER).address
    before = _balances(req, [chal_addr, worker_addr])
    jid = req.submit(mid, {"x": x[:1]}, worker_fee=FEE)
    wait_for(lambda: req.job(jid).status == JobStatus.CHALLENGED, 60, "challenge", lambda: c.log()[-3000:])
    wait_for(lambda: req.events("TracePosted", contract="game", jobId=jid), 60, "trace posted", w.log)

    def settled():
        if req.job(jid).status == JobStatus.CHALLENGED and req.events("TracePosted", contract="game", jobId=jid):
            net.advance(31)  # the proof window passes with no proof (there is none to find)
        return req.events("DisputeSettled", jobId=jid)

    ev = wait_for(settled, 120, "dispute settled", lambda: w.log()[-3000:] + c.log()[-3000:])
    assert ev[-1]["args"]["challengerWon"] is False
    bond = params["challenge_bond"]
    to_worker = bond * params["bond_to_worker_bps"] // 10_000
    net.advance(int(params["challenge_window"]) + 1)
    wait_for(lambda: req.job(jid).status == JobStatus.FINALIZED, 30, "finalized", w.log)
    wait_for(lambda: req.credits(worker_addr) == 0, 30, "worker withdrew", w.log)
    after = _balances(req, [chal_addr, worker_addr])
    assert after[chal_addr] - before[chal_addr] == -bond
    assert after[worker_addr] - before[worker_addr] == to_worker + FEE
    w.terminate()
    c.terminate()


@pytest.mark.parametrize("name,threads", [("mlp", 1), ("mlp", 2), ("cnn", 1), ("cnn", 2)])
def test_no_honest_trace_has_a_provable_inconsistency(name, threads):
    """The property that keeps honest workers safe: on 50 real inputs per model and setting, the
    challenger's search (the same rule as the on-chain verifiers) finds nothing to prove in an honest
    worker's trace — whatever its thread count."""
    import hashlib

    from assay.commitments import codec
    from assay.fraud.prover import find_fraud
    from assay.fraud.trace import build_trace
    from assay.inference.runner import InferenceRunner, SessionConfig

    if name == "mlp":
        onnx_bytes, x = logits_mlp()
        feed_name = "x"
    else:
        z = modelzoo.digits_cnn()
        onnx_bytes, x, feed_name = z.onnx_bytes, z.x_test, z.input_name
    mid = "0x" + hashlib.sha256(onnx_bytes).hexdigest()
    runner = InferenceRunner(SessionConfig(intra_op_threads=threads))
    checked = 0
    for i in range(50):
        feed = {feed_name: x[i:i + 1]}
        outs, trace = build_trace(runner, mid, onnx_bytes, feed)
        report = find_fraud(onnx_bytes, trace, codec.encode_tensors(list(feed.items())),
                            codec.encode_tensors([(k, np.asarray(v)) for k, v in outs.items()]))
        assert report.finding is None, report.finding
        assert not report.unsupported  # every node was checked
        checked += report.nodes_checked
    assert checked == 50 * len(onnx.load_from_string(onnx_bytes).graph.node)


def test_anyone_proves_an_open_dispute_with_the_cli(net, model):
    """`assay dispute prove JOB` (no challenger daemon): a bonded challenge is opened by hand, the cheating
    worker posts its trace, and a third account proves the fraud from the CLI; the bonded challenger is
    paid, exactly as when its own daemon proves."""
    import json

    from click.testing import CliRunner

    from assay.cli import main

    mid, x = model
    req, chal = net.sdk(REQUESTER), net.sdk(CHALLENGER)
    w = net.start_worker(WORKER, "cheat-cli", models=[mid], extra={"fault": "corrupt-node:2", "store_port": 0})
    wait_for(lambda: '"started"' in w.log(), 60, "worker started", lambda: w.log()[-3000:])
    params = req.params()
    before = _balances(req, [chal.address])
    jid = req.submit(mid, {"x": x[:1]}, worker_fee=FEE)
    req.wait(jid, JobStatus.POSTED, timeout=60)
    chal.challenge(jid)
    wait_for(lambda: req.events("TracePosted", contract="game", jobId=jid), 60, "trace posted", lambda: w.log()[-3000:])

    def prove(*extra):
        base = ["--rpc-url", net.url, "--deployment", str(net.deployment), "--store", str(net.dir / "prove-store"),
                "--account", str(REQUESTER), "--json"]
        return CliRunner(mix_stderr=False).invoke(main, base + ["dispute", "prove", str(jid), *extra])

    dry = prove("--dry-run")
    assert dry.exit_code == 0, dry.stderr + dry.stdout
    found = json.loads(dry.stdout)
    assert found["kind"] == "node" and found["index"] == 2 and found["sent"] is False
    assert req.job(jid).status == JobStatus.CHALLENGED  # a dry run sends nothing

    r = prove()
    assert r.exit_code == 0, r.stderr + r.stdout
    assert json.loads(r.stdout)["challenger_won"] is True
    assert req.events("DisputeResolved", contract="game", jobId=jid)[-1]["args"]["by"] == BY["node"]
    reward = req.job(jid).collateral * params["slash_challenger_bps"] // 10_000
    assert _balances(req, [chal.address])[chal.address] - before[chal.address] == reward  # bond back + reward

    again = prove()  # the dispute is over: a clear refusal, nothing sent
    assert again.exit_code == 1 and "already resolved" in again.stderr + again.stdout


@pytest.mark.parametrize("k", [0, 2, 3])  # early (MatMul), middle (Relu), late (MatMul) node
def test_an_element_just_outside_its_bound_is_proven_at_its_node(net, model, k):
    """The smallest provable lie: element 0 of node K moved by the fewest ulps its check rejects (138 ulps
    for the first MatMul, 1e-45 for a Relu zero, …) — the challenger's proof targets exactly that element."""
    mid, x = model
    req = net.sdk(REQUESTER)
    w = net.start_worker(WORKER, f"nudge-{k}", models=[mid], extra={"fault": f"nudge-node:{k}", "store_port": 0})
    c = _challenger(net, f"chal-nudge-{k}")
    wait_for(lambda: '"started"' in w.log(), 60, "worker started", lambda: w.log()[-3000:])
    jid = req.submit(mid, {"x": x[:1]}, worker_fee=FEE, claim_ttl=8)
    ev = wait_for(lambda: req.events("DisputeSettled", jobId=jid), 120, f"dispute over job {jid} settled",
                  lambda: w.log()[-3000:] + c.log()[-4000:])
    assert ev[-1]["args"]["challengerWon"] is True
    resolved = req.events("DisputeResolved", contract="game", jobId=jid)[-1]
    assert resolved["args"]["by"] == BY["node"]
    tx = req.w3.eth.get_transaction(resolved["transactionHash"])
    fn, args = req.c.game.decode_function_input(tx["input"])
    assert fn.fn_name == "proveNode" and args["_node"] == k and args["_outIndex"] == 0
    # Read at the settlement's block: the job re-opens after the slash and the cheater may take it again.
    blk, worker_addr = ev[-1]["blockNumber"], net.sdk(WORKER).address
    assert req.state.stake(worker_addr, blk).active == req.state.stake(worker_addr, blk - 1).active - req.job(jid).collateral
