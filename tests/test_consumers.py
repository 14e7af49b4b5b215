"""Consumer contracts: one bounded callback per final result, and nothing a consumer does can block payment."""

import ape
import pytest
from eth_abi import decode
from eth_utils import keccak

from conftest import DISPUTE, MODEL_FEE, OUTPUT_ROOT, TEST_PARAMS, TOKEN, UNBONDING, WORKER_FEE, request, set_time
from escrow_model import BPS, ModelParams
from test_jobmanager_errors import isolated

OPEN, CLAIMED, POSTED, CHALLENGED, FINALIZED, EXPIRED = range(1, 7)
PARAMS = ModelParams.from_governance(TEST_PARAMS, dispute_duration=DISPUTE, unbonding_delay=UNBONDING)
PROTOCOL_FEE, TOTAL, COLLATERAL = PARAMS.price(WORKER_FEE, MODEL_FEE)
CALLBACK_GAS = TEST_PARAMS.callback_gas_limit
NEEDED_GAS = (CALLBACK_GAS * 64 + 62) // 63 + 3_000  # what JobManager._callback demands right before calling
ON_RESULT = keccak(text="onAssayResult(uint256,bytes32,bytes32,bytes32)")[:4]


@pytest.fixture
def deploy_consumer(project, owner, jobs, token, staked):
    """deploy_consumer(kind) -> a consumer contract holding 100 tokens."""

    def _deploy(kind="RecordingConsumer"):
        c = getattr(project, kind).deploy(jobs.address, sender=owner)
        token.mint(c.address, 100 * TOKEN, sender=owner)
        return c

    return _deploy


@pytest.fixture
def consumer_job(jobs, token, model, chain, requester, worker):
    """consumer_job(consumer, stage="posted"|"claimed"|"open", **request_fields) -> job id."""

    def _make(consumer, stage="posted", **kw):
        consumer.submit(request(model, chain, callback=True, **kw), token.address, TOTAL, sender=requester)
        jid = jobs.jobCount()
        if stage in ("claimed", "posted"):
            jobs.claim(jid, sender=worker)
        if stage == "posted":
            jobs.post(jid, OUTPUT_ROOT, b"\x09", "", sender=worker)
        return jid

    return _make


def callback_calls(chain, tx, consumer):
    """Every onAssayResult call to `consumer` inside tx: [((jobId, modelId, inputRoot, outputRoot), gas, failed)]."""
    txhash = tx.txn_hash if isinstance(tx.txn_hash, str) else tx.txn_hash.hex()
    root = chain.provider.make_request("debug_traceTransaction", [txhash, {"tracer": "callTracer"}])
    found, stack = [], [root]
    while stack:
        frame = stack.pop()
        stack.extend(reversed(frame.get("calls", [])))
        data = bytes.fromhex(frame.get("input", "0x")[2:])
        if frame.get("to", "").lower() == consumer.address.lower() and data[:4] == ON_RESULT:
            args = decode(["uint256", "bytes32", "bytes32", "bytes32"], data[4:])
            found.append((args, int(frame["gas"], 16), "error" in frame))
    return found


def callback_results(jobs, tx):
    return [(e.jobId, e.success) for e in jobs.CallbackResult.from_receipt(tx)]


def finalize_after_window(jobs, chain, jid, sender, **kw):
    set_time(chain, jobs.getJob(jid).deadline + 1)
    return jobs.finalize(jid, sender=sender, **kw)


def test_finalize_calls_the_consumer_once_with_job_model_input_and_output(
    jobs, deploy_consumer, consumer_job, model, worker, chain, accounts
):
    c = deploy_consumer()
    jid = consumer_job(c)
    j = jobs.getJob(jid)
    assert (j.requester, j.callback) == (c.address, True)
    tx = finalize_after_window(jobs, chain, jid, accounts[9])
    assert (c.calls(), c.lastJobId(), c.lastOutputRoot()) == (1, jid, OUTPUT_ROOT)
    # The consumer got exactly the callback gas limit, and the arguments of this job.
    assert callback_calls(chain, tx, c) == [((jid, model, j.inputRoot, OUTPUT_ROOT), CALLBACK_GAS, False)]
    assert callback_results(jobs, tx) == [(jid, True)]
    assert jobs.creditsOf(worker) == WORKER_FEE
    with ape.reverts(jobs.JobNotPosted, jobId=jid, status=FINALIZED):
        jobs.finalize(jid, sender=accounts[9])
    assert c.calls() == 1


def test_finalize_jobs_calls_back_each_consumer_job_once_after_every_settlement(
    jobs, deploy_consumer, consumer_job, posted_job, worker, chain
):
    c = deploy_consumer()
    a = consumer_job(c)
    plain = posted_job()  # an EOA's job: no callback
    b = consumer_job(c)
    set_time(chain, jobs.getJob(b).deadline + 1)
    tx = jobs.finalizeJobs([a, plain, b], sender=worker)
    assert [((args[0], args[3]), gas) for args, gas, _ in callback_calls(chain, tx, c)] == [
        ((a, OUTPUT_ROOT), CALLBACK_GAS), ((b, OUTPUT_ROOT), CALLBACK_GAS)]
    assert (c.calls(), c.lastJobId()) == (2, b)
    names = [e.event_name for e in tx.events if e.event_name in ("JobFinalized", "CallbackResult")]
    assert names == ["JobFinalized"] * 3 + ["CallbackResult"] * 2  # callbacks only after all state changes
    assert callback_results(jobs, tx) == [(a, True), (b, True)]
    assert jobs.creditsOf(worker) == 3 * WORKER_FEE


@pytest.mark.parametrize("by", ["arbiter", "timeout"])
def test_a_result_upheld_in_a_dispute_calls_the_consumer_once(
    jobs, game, deploy_consumer, consumer_job, model, worker, challenger, arbiter, chain, by
):
    c = deploy_consumer()
    jid = consumer_job(c)
    jobs.challenge(jid, sender=challenger)
    if by == "arbiter":
        tx = game.arbitrate(jid, False, sender=arbiter)
    else:
        set_time(chain, game.disputeOf(jid)[1] + 1)
        tx = game.resolveByTimeout(jid, sender=challenger)
    j = jobs.getJob(jid)
    assert j.status == FINALIZED
    assert callback_calls(chain, tx, c) == [((jid, model, j.inputRoot, OUTPUT_ROOT), CALLBACK_GAS, False)]
    assert callback_results(jobs, tx) == [(jid, True)]
    assert c.calls() == 1
    bond = TEST_PARAMS.challenge_bond
    assert jobs.creditsOf(worker) == WORKER_FEE + bond * TEST_PARAMS.bond_to_worker_bps // BPS


def test_a_result_proven_wrong_does_not_call_the_consumer(
    jobs, game, deploy_consumer, consumer_job, challenger, arbiter
):
    c = deploy_consumer()
    jid = consumer_job(c)
    jobs.challenge(jid, sender=challenger)
    tx = game.arbitrate(jid, True, sender=arbiter)
    assert jobs.getJob(jid).status == OPEN  # re-opened for another worker
    assert callback_results(jobs, tx) == [] and c.calls() == 0


@pytest.mark.parametrize("kind", ["RevertingConsumer", "GasBurningConsumer", "ReturnBombConsumer"])
def test_a_misbehaving_consumer_cannot_block_finalize_or_payment(
    jobs, stake, token, deploy_consumer, consumer_job, posted_job, worker, model_owner, treasury, chain, accounts, kind
):
    c = deploy_consumer(kind)
    jid = consumer_job(c)
    plain = posted_job()  # same work without a callback: the gas baseline
    set_time(chain, jobs.getJob(plain).deadline + 1)  # both windows are over
    baseline = jobs.finalize(plain, sender=accounts[9]).gas_used
    credits = {a: jobs.creditsOf(a) for a in (worker, model_owner, treasury)}
    active, locked, _, _ = stake.stakeOf(worker)
    held = token.balanceOf(jobs)
    tx = jobs.finalize(jid, sender=accounts[9])
    assert jobs.getJob(jid).status == FINALIZED
    assert callback_results(jobs, tx) == [(jid, False)]
    [(args, gas, failed)] = callback_calls(chain, tx, c)
    assert (args[0], gas, failed) == (jid, CALLBACK_GAS, True)
    assert jobs.creditsOf(worker) == credits[worker] + WORKER_FEE
    assert jobs.creditsOf(model_owner) == credits[model_owner] + MODEL_FEE
    assert jobs.creditsOf(treasury) == credits[treasury] + PROTOCOL_FEE
    assert stake.stakeOf(worker)[:2] == (active, locked - COLLATERAL)
    assert token.balanceOf(jobs) == held
    # Whatever the consumer burns or returns, finalize costs at most its own work plus the callback's gas
    # (the baseline paid zero-to-nonzero credit writes, which this finalize does not: it is an upper bound).
    assert tx.gas_used < baseline + CALLBACK_GAS + 10_000


def test_finalize_with_too_little_gas_for_the_callback_reverts_and_changes_nothing(
    jobs, deploy_consumer, consumer_job, worker, chain, accounts
):
    c = deploy_consumer()
    jid = consumer_job(c)
    keeper = accounts[9]
    set_time(chain, jobs.getJob(jid).deadline + 1)
    chain.mine()
    enough = jobs.finalize.estimate_gas_cost(jid, sender=keeper)
    with ape.reverts(jobs.InsufficientGasForCallback, jobId=jid, needed=NEEDED_GAS):
        jobs.finalize(jid, sender=keeper, gas=enough - 10_000)
    assert jobs.getJob(jid).status == POSTED
    assert (c.calls(), jobs.creditsOf(worker)) == (0, 0)
    tx = jobs.finalize(jid, sender=keeper, gas=enough)
    assert callback_results(jobs, tx) == [(jid, True)] and c.calls() == 1


def test_the_cheapest_finalize_that_succeeds_still_gives_the_callback_all_its_gas(
    jobs, deploy_consumer, consumer_job, chain, accounts
):
    """Binary-search the smallest gas limit with which finalize succeeds: there too the consumer must get
    exactly callbackGasLimit (EIP-150 keeps back 1/64 of what is left), or a keeper choosing the gas limit
    could make any callback that needs close to its limit fail; one gas less must revert and change nothing."""
    c = deploy_consumer()
    jid = consumer_job(c)
    keeper = accounts[9]
    set_time(chain, jobs.getJob(jid).deadline + 1)
    chain.mine()

    call = {"from": keeper.address, "to": jobs.address, "data": "0x" + bytes(jobs.finalize.encode_input(jid)).hex()}

    def succeeds(gas):  # eth_call with this gas limit (ape's .call drops it): same execution, nothing mined
        r = chain.provider.web3.provider.make_request("eth_call", [call | {"gas": hex(gas)}, "latest"])
        return "error" not in r  # else InsufficientGasForCallback, or out of gas

    lo, hi = jobs.finalize.estimate_gas_cost(jid, sender=keeper) - 20_000, 1_000_000
    assert not succeeds(lo) and succeeds(hi)
    while hi - lo > 1:  # lo fails, hi succeeds
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if succeeds(mid) else (mid, hi)
    with isolated(chain):
        with ape.reverts():
            jobs.finalize(jid, sender=keeper, gas=hi - 1)
        assert (jobs.getJob(jid).status, c.calls()) == (POSTED, 0)
    tx = jobs.finalize(jid, sender=keeper, gas=hi)
    assert (callback_results(jobs, tx), c.calls()) == ([(jid, True)], 1)
    [(args, gas, failed)] = callback_calls(chain, tx, c)
    assert (args[0], failed) == (jid, False)
    assert gas == CALLBACK_GAS, f"with gas limit {hi} finalize succeeds but the consumer gets only {gas} gas"


def test_callback_requested_by_an_eoa_reverts(jobs, model, requester, chain, staked):
    with ape.reverts(jobs.CallbackRequiresContract, requester=requester.address):
        jobs.submit(request(model, chain, callback=True), sender=requester)


def test_consumer_withdraws_its_refund_and_liveness_penalty(
    jobs, token, deploy_consumer, consumer_job, worker2, chain
):
    c = deploy_consumer()
    expired = consumer_job(c, stage="open", claimDeadline=chain.pending_timestamp + 30)
    late = consumer_job(c, stage="claimed")
    set_time(chain, jobs.getJob(expired).claimDeadline + 1)
    jobs.expire(expired, sender=worker2)
    set_time(chain, jobs.getJob(late).deadline + 1)
    jobs.reclaim(late, sender=worker2)
    penalty = COLLATERAL * TEST_PARAMS.liveness_penalty_bps // BPS
    assert jobs.creditsOf(c) == TOTAL + penalty
    bal, held = token.balanceOf(c), token.balanceOf(jobs)
    c.withdrawCredits(TOTAL + penalty, sender=worker2)  # anyone may trigger it; the credits go to the consumer
    assert token.balanceOf(c) == bal + TOTAL + penalty
    assert token.balanceOf(jobs) == held - TOTAL - penalty
    assert jobs.creditsOf(c) == 0
    with ape.reverts(jobs.InsufficientCredits, account=c.address, available=0, requested=1):
        c.withdrawCredits(1, sender=worker2)
