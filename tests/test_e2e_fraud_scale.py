"""Fraud proofs end to end, at scale and against a worker that withholds its trace.

A real anvil, real `assay worker run` / `assay challenger run` subprocesses, real models trained
here (scikit-learn's digits: an MLP and a CNN from `assay.modelzoo`):

- **Honest run at scale**: 200 jobs over the two models; the worker runs canonically with 1
  intra-op thread, the challenger re-runs every result (sample rate 1.0) with 2 threads and
  onnxruntime's graph optimisations on. No challenge is opened (a challenger must not open
  disputes it cannot win), every job is finalized and everybody is paid exactly.
- **Withheld trace, answered demands**: the worker corrupts one node, posts the trace root, never
  publishes the trace but answers every chunk demand; the challenger localises the bad node by
  demanding node outputs (a binary search against its own run) and proves it from the answers alone.
"""

from __future__ import annotations

import time

import pytest

from assay import modelzoo
from assay.chain import JobStatus
from e2e_helpers import UNIT, balances_at_one_block, free_port, scrape_metrics, start_devnet_with, wait_for

pytestmark = pytest.mark.slow

OWNER, REQUESTER, WORKER, CHALLENGER = 5, 1, 2, 4
FEE = UNIT // 10
MODEL_FEES = {"mlp": UNIT // 100, "cnn": UNIT // 50}
JOBS_PER_MODEL = 100
# A challenge window long enough for the challenger to re-run every result on a loaded 2-core
# machine (the test moves time past it once everything is checked), and room for the demands of a
# binary search: unbonding 1000 > window 300 + max dispute 20 + 30 + 2·8·10.
LOCAL = {"unbonding_delay": 1000, "params": {"challenge_window": 300}, "game": {"max_demands": 8}}


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    d = start_devnet_with(tmp_path_factory.mktemp("fraud-scale"), LOCAL)
    yield d
    d.stop_all()
    d.anvil.stop()


@pytest.fixture(scope="module")
def zoo(net):
    """The MLP and the CNN, trained now (no cache), registered by the model owner with a fee each."""
    from assay.store import serve_store

    owner = net.sdk(OWNER)
    server = serve_store(owner.store)
    out = {}
    for name, z in (("mlp", modelzoo.digits_mlp(cache=False)), ("cnn", modelzoo.digits_cnn(cache=False))):
        uri = server.url_for(owner.store.put(z.onnx_bytes))
        mid = owner.register_model(z.onnx_bytes, fee=MODEL_FEES[name], uris=[uri])
        out[name] = (mid, z)
    net.sdk(WORKER).stake(300 * UNIT)
    yield out
    server.stop()


@pytest.fixture(scope="module")
def logits(net, zoo):
    """The digits MLP as MatMul → Add → Relu → MatMul → Add (every op verifiable: class APPROX)."""
    from assay.store import serve_store
    from test_e2e_fraud import logits_mlp

    onnx_bytes, x = logits_mlp()
    owner = net.sdk(OWNER)
    server = serve_store(owner.store)
    mid = owner.register_model(onnx_bytes, fee=0, uris=[server.url_for(owner.store.put(onnx_bytes))], vclass="APPROX")
    yield mid, "x", x
    server.stop()


@pytest.fixture(autouse=True)
def _isolated_daemons(net):
    """Each test starts its own daemons; afterwards they are killed and chain time moves past every
    short claim deadline, so that no job of one test is taken by the next."""
    yield
    net.stop_all()
    net.procs.clear()
    net.advance(60)


def _challenger(net, name, extra=None):
    return net.start_challenger(CHALLENGER, name, extra)


_balances = balances_at_one_block


def _count(sdk, event, since, ids):
    evs = getattr(sdk.c.jobs.events, event)().get_logs(from_block=since)
    return len({int(e["args"]["jobId"]) for e in evs} & ids)


def test_honest_worker_is_never_challenged_over_200_jobs_and_everyone_is_paid_exactly(net, zoo):
    req = net.sdk(REQUESTER)
    params = req.params()
    worker_addr, chal_addr = net.sdk(WORKER).address, net.sdk(CHALLENGER).address
    owner_addr, treasury = net.sdk(OWNER).address, params["treasury"]
    who = [req.address, worker_addr, owner_addr, treasury, chal_addr]
    stake0 = req.stake_of(worker_addr)
    before = _balances(req, who)
    worker_settings = {"intra_op_threads": 1, "max_concurrent_jobs": 64, "max_batch": 32, "poll_interval": 0.1}
    chal_settings = {"intra_op_threads": 2, "graph_optimization": "all", "sample_rate": 1.0}
    metrics_port = free_port()
    w = net.start_worker(WORKER, "honest-scale", models=[mid for mid, _ in zoo.values()], extra=worker_settings)
    c = _challenger(net, "honest-scale-chal", {**chal_settings, "metrics_port": metrics_port})
    since = req.w3.eth.block_number

    t0 = time.monotonic()
    ids, quotes = set(), {}
    for i in range(JOBS_PER_MODEL):
        for name, (mid, z) in zoo.items():
            feed = {z.input_name: z.x_test[i:i + 1]}
            ids.add(req.submit(mid, feed, worker_fee=FEE, onnx_bytes=z.onnx_bytes))
            quotes.setdefault(name, req.quote(mid, FEE))
    t_submitted = time.monotonic() - t0
    n = len(ids)
    assert n == 2 * JOBS_PER_MODEL
    logs = lambda: w.log()[-3000:] + c.log()[-3000:]  # noqa: E731
    wait_for(lambda: _count(req, "ResultPosted", since, ids) == n, 150, "every result posted", logs)
    t_posted = time.monotonic() - t0

    def checked():
        m = scrape_metrics(metrics_port)
        return m.get("assay_challenger_results_checked_total", 0) >= n and m

    m = wait_for(checked, 150, "the challenger re-ran every result", logs)
    t_checked = time.monotonic() - t0
    assert m["assay_challenger_results_agreed_total"] == n
    assert m.get("assay_challenger_challenges_total", 0) == 0
    assert m.get("assay_challenger_results_checked_total") == n

    net.advance(int(params["challenge_window"]) + 1)
    wait_for(lambda: _count(req, "JobFinalized", since, ids) == n, 60, "every job finalized", logs)
    wait_for(lambda: req.credits(worker_addr) == 0, 30, "the worker withdrew its fees", logs)
    wall = time.monotonic() - t0

    assert not req.c.jobs.events.JobChallenged().get_logs(from_block=since)
    assert not req.c.game.events.DisputeOpened().get_logs(from_block=since)
    assert all(req.job(j).status == JobStatus.FINALIZED for j in ids)
    after = _balances(req, who)
    per = {name: (q["total"], q["owner_fee"], q["protocol_fee"]) for name, q in quotes.items()}
    k = JOBS_PER_MODEL
    assert after[req.address] - before[req.address] == -k * sum(t for t, _, _ in per.values())
    assert after[worker_addr] - before[worker_addr] == n * FEE
    assert after[owner_addr] - before[owner_addr] == k * sum(o for _, o, _ in per.values())
    assert after[treasury] - before[treasury] == k * sum(p for _, _, p in per.values())
    assert after[chal_addr] == before[chal_addr]
    stake1 = req.stake_of(worker_addr)
    assert (stake1.active, stake1.locked) == (stake0.active, stake0.locked)
    assert w.alive() and c.alive()
    w.terminate()
    c.terminate()
    print(f"\n[fraud-scale] {n} jobs ({k} digits_mlp + {k} digits_cnn, trained in the test); "
          f"worker: canonical (graph optimisation off), 1 intra-op thread; challenger: 2 intra-op threads, "
          f"graph optimisation all, sample rate 1.0; submitted {t_submitted:.1f} s, all posted {t_posted:.1f} s, "
          f"all re-checked {t_checked:.1f} s, all finalized and paid {wall:.1f} s; challenges 0, disputes 0")


@pytest.mark.parametrize("model,node", [("mlp", 2), ("mlp", 4), ("cnn", 0)])
def test_a_withheld_trace_is_searched_by_demands_and_the_bad_node_proven(net, zoo, logits, model, node):
    """The worker moves node K's output, recomputes every later node from it (node K is the trace's only
    inconsistency), posts the trace root, never publishes the trace, and answers every demand. The
    challenger finds node K by demanding node outputs and proves it from the answers alone."""
    if model == "mlp":
        mid, feed_name, x = logits
    else:
        mid, z = zoo["cnn"]
        feed_name, x = z.input_name, z.x_test
    req = net.sdk(REQUESTER)
    fault = f"withhold-trace-answer-demands:{node}"
    w = net.start_worker(WORKER, f"withhold-{model}-{node}", models=[mid], extra={"fault": fault, "store_port": 0})
    c = _challenger(net, f"demander-{model}-{node}")
    params = req.params()
    worker_addr, chal_addr = net.sdk(WORKER).address, net.sdk(CHALLENGER).address
    stake0 = req.stake_of(worker_addr)
    before = _balances(req, [chal_addr, req.address, params["treasury"]])
    # (a claim deadline with room for the daemons' first ticks, which read every job of the honest run)
    jid = req.submit(mid, {feed_name: x[:1]}, worker_fee=FEE, claim_ttl=30)
    logs = lambda: w.log()[-3000:] + c.log()[-4000:]  # noqa: E731
    ev = wait_for(lambda: req.events("DisputeSettled", jobId=jid), 120, f"dispute over job {jid} settled", logs)
    assert ev[-1]["args"]["challengerWon"] is True

    # The trace was never reachable; the proof was built from the answered demands alone.
    posted = req.events("TracePosted", contract="game", jobId=jid)
    assert len(posted) == 1 and posted[0]["args"]["traceURI"].startswith("http://127.0.0.1:9/")
    demanded = req.events("ChunkDemanded", contract="game", jobId=jid)
    answered = req.events("DemandAnswered", contract="game", jobId=jid)
    assert 1 <= len(demanded) == len(answered) <= LOCAL["game"]["max_demands"]
    resolved = req.events("DisputeResolved", contract="game", jobId=jid)
    assert resolved[-1]["args"]["by"] == 2  # a node proof
    tx = req.w3.eth.get_transaction(resolved[-1]["transactionHash"])
    fn, args = req.c.game.decode_function_input(tx["input"])
    assert fn.fn_name == "proveNode" and args["_node"] == node  # the corrupted node, localised

    j = req.job(jid)
    collateral = j.collateral
    stake1 = req.stake_of(worker_addr)
    assert stake1.active == stake0.active - collateral and stake1.locked == stake0.locked
    reward = collateral * params["slash_challenger_bps"] // 10_000
    to_req = collateral * params["slash_requester_bps"] // 10_000
    after = _balances(req, [chal_addr, req.address, params["treasury"]])
    assert after[chal_addr] - before[chal_addr] == reward  # bond back + reward
    paid = j.worker_fee + j.owner_fee + j.protocol_fee
    refund = paid if j.status == JobStatus.REFUNDED else 0
    assert after[req.address] - before[req.address] == to_req - paid + refund
    assert after[params["treasury"]] - before[params["treasury"]] == collateral - reward - to_req
    assert w.alive() and c.alive()
    w.terminate()
    c.terminate()
    print(f"\n[fraud-scale] withheld trace, {model} node {node}: proven with {len(demanded)} demands "
          f"(max {LOCAL['game']['max_demands']})")


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_the_demand_search_finds_every_corrupted_node_within_log2_nodes_plus_three_demands(model):
    """Off-chain, every node of both models: the worker's answers are cut from its committed trace
    exactly as `answerDemand` would be; the search must name the corrupted node and nothing else,
    within ⌈log₂ n_nodes⌉ search demands + 3 operand demands."""
    import hashlib
    import math

    import numpy as np
    import onnx

    from assay.challenger.withheld import Demand, DemandSearch, Proof
    from assay.fraud import calldata as cd
    from assay.fraud import ops
    from assay.fraud.game import commit
    from assay.fraud.trace import build_trace
    from assay.inference.runner import InferenceRunner, SessionConfig
    from assay.worker.loop import _dishonest
    from test_e2e_fraud import logits_mlp

    if model == "mlp":
        (onnx_bytes, x), name = logits_mlp(), "x"
    else:
        z = modelzoo.digits_cnn()
        onnx_bytes, x, name = z.onnx_bytes, z.x_test, z.input_name
    mid = "0x" + hashlib.sha256(onnx_bytes).hexdigest()
    feed = {name: x[3:4]}
    worker_runner = InferenceRunner(SessionConfig(intra_op_threads=1))
    _, own = build_trace(InferenceRunner(SessionConfig(intra_op_threads=2, graph_optimization="all")), mid,
                         onnx_bytes, feed)
    n_nodes = len(own.layout.descriptors)
    budget = math.ceil(math.log2(n_nodes)) + 3
    for k in range(n_nodes):
        outs, trace = build_trace(worker_runner, mid, onnx_bytes, feed)
        posted = dict(_dishonest(f"withhold-trace-answer-demands:{k}", trace,
                                 [(n, np.asarray(v)) for n, v in outs.items()], onnx_bytes))
        tc = commit(trace)
        search = DemandSearch(onnx_bytes, own.values, feed, posted, rtol=1e-3, atol=1e-4)
        answers = []
        step = search.next_step(1, answers, budget)
        while isinstance(step, Demand):
            a = cd.answer_demand_args(1, tc, step.value_id, step.layout, step.first_leaf, step.leaves)
            answers.append((step.value_id, a.answer))
            step = search.next_step(1, answers, budget - len(answers))
        assert isinstance(step, Proof) and step.kind == "node", (k, step)
        assert step.args.node == k and len(answers) <= budget
        # What the game will check: the worker's own committed values fail node k's rule at that element.
        ins, outs = cd.node_io(trace.layout, k)
        assert step.args.output.tensorRoot == tc.item(outs[0], 0)
        node = onnx.load_from_string(onnx_bytes).graph.node[k]
        worker_in = [trace.values[n] if n else None for n in node.input]
        assert not ops.check_element(node, worker_in, trace.values[node.output[0]], step.args.outIndex)
