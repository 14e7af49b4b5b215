"""DisputeGame: the hand-off from the JobManager, every deadline of the game at t-1 / t / t+1 (response,
proof, demand, arbiter), demands and the worst-case length of a dispute, governance (windows,
verifiers, roles), and every custom error of the game with its exact arguments, TensorMerkle's
included (test_jobmanager_errors.py's meta-test requires each to be triggered in this file).

Real models, traces and proofs come from test_fraud_game.py (tiny: x[2,48] @ W[48,40] + b -> Relu ->
Clip(min omitted) -> Dropout(mask omitted); values 0 x, 1 W, 2 b, 3 maxv, 4 mm, 5 add, 6 relu, 7 clip,
8 y). conftest's `model` is of class NONE: its disputes are the arbiter's.
"""

from __future__ import annotations

import hashlib
import struct

from pathlib import Path

import ape
import pytest
import yaml
from eth_utils import keccak
from hexbytes import HexBytes
from web3.exceptions import ContractCustomError

from assay.commitments.roots import list_root
from assay.errors import ConfigError
from assay.params import load_deploy_config
from assay.fraud import calldata as cd
from conftest import (
    DEMAND, DISPUTE, MAX_DEMANDS, MODEL_FEE, OUTPUT_ROOT, PROOF, RESPONSE, TEST_PARAMS, UNBONDING, WINDOW,
)
from test_fraud_game import (  # noqa: F401  (fixtures: tiny, tiny_none, mock, mlp, _session_state_first)
    APPROX, BY_ARBITER, BY_DEMAND, BY_INPUT, BY_NO_TRACE, BY_NODE, BY_TIMEOUT, NONE, REWARD, TO_REQUESTER,
    TO_TREASURY, _session_state_first, assert_challenger_won, assert_worker_won, balances, challenged, expected_call,
    mined_at, mock, mlp, node_proof, post_trace, report_gas, resolved, tiny, tiny_none, traced,
)
from test_jobmanager_deadlines import at
from test_jobmanager_errors import (  # noqa: F401  (_no_trace_printing_on_revert is an autouse fixture)
    BOND, CHALLENGED, COLLATERAL, FINALIZED, OPEN, ZERO, _no_trace_printing_on_revert,
    deploy_reverts, isolated, name32, reverts, view_reverts,
)

MAX_WINDOW = 30 * 86400
ZERO32 = b"\0" * 32


def snapshot(jobs, stake, token, *accounts):
    """Everything money-related the settlement may move (accounts[0] is the worker)."""
    return {
        "credits": {a.address: jobs.creditsOf(a) for a in accounts},
        "stake": stake.stakeOf(accounts[0])[:2],
        "held_stake": token.balanceOf(stake),
        "held_jobs": token.balanceOf(jobs),
        "total_staked": stake.totalStaked(),
    }


def bumped(m, value_id, delta=1.0):
    return m.tampered(value_id, lambda a: a + delta)


# ======================================================================================== hand-off
def test_challenge_opens_a_dispute_with_the_models_class_roots_and_windows(jobs, game, registry, make_job, tiny,
                                                                           worker, challenger, chain):
    jid = make_job(model_id=tiny.mid, inputRoot=tiny.input_root, input=tiny.input_container)
    jobs.claim(jid, sender=worker)
    jobs.post(jid, tiny.output_root, tiny.output_container, "", sender=worker)
    tx = jobs.challenge(jid, sender=challenger)
    report_gas("JobManager.challenge (with open)", tx)
    deadline = mined_at(chain, tx) + RESPONSE
    ev = game.DisputeOpened.from_receipt(tx)[0]
    assert (ev.jobId, ev.challenger, ev.worker, ev.deadline) == (jid, challenger.address, worker.address, deadline)
    assert jobs.JobChallenged.from_receipt(tx)[0].disputeDeadline == deadline
    d = game.getDispute(jid)
    assert (d.challenger, d.worker, d.phase, d.vclass) == (challenger.address, worker.address, 1, APPROX)
    assert (d.responseDeadline, d.proofDeadline, d.demandDeadline) == (deadline, 0, 0)
    assert (d.proofWindow, d.demandWindow, d.maxDemands, d.demandsMade) == (PROOF, DEMAND, MAX_DEMANDS, 0)
    assert (d.graphRoot, d.weightsRoot, d.traceRoot) == (tiny.graph.root, registry.getModel(tiny.mid).weightsRoot,
                                                         ZERO32)
    assert game.disputeOf(jid) == (challenger.address, deadline, True)
    assert game.maxDuration() == DISPUTE == RESPONSE + PROOF + 2 * MAX_DEMANDS * DEMAND
    assert game.durations() == (RESPONSE, PROOF, DEMAND, MAX_DEMANDS)
    assert (game.JOBS(), game.REGISTRY()) == (jobs.address, registry.address)


def test_class_none_dispute_gets_the_whole_max_duration_for_the_arbiter(jobs, game, posted_job, challenger, chain):
    jid = posted_job()
    tx = jobs.challenge(jid, sender=challenger)
    d = game.getDispute(jid)
    assert (d.vclass, d.responseDeadline, d.proofDeadline) == (NONE, 0, mined_at(chain, tx) + DISPUTE)
    assert game.DisputeOpened.from_receipt(tx)[0].deadline == d.proofDeadline == game.disputeOf(jid)[1]


def test_open_by_anyone_but_the_job_manager_reverts(game, requester, challenger, worker):
    with reverts(game.NotJobManager, caller=requester.address):
        game.open(1, challenger, worker, sender=requester)
    assert not game.disputeOf(1)[2]


def test_open_twice_for_one_job_reverts(jobs, game, posted_job, challenger, worker, chain):
    """The JobManager freezes a job before it opens a dispute, so it never opens one twice; the game
    guards anyway. Impersonating the JobManager reaches the guard."""
    jid = posted_job()
    jobs.challenge(jid, sender=challenger)
    chain.provider.set_balance(jobs.address, 10**18)
    as_jobs = ape.accounts.test_accounts.impersonate_account(jobs.address)
    with reverts(game.DisputeAlreadyOpen, jobId=jid):
        game.open(jid, worker, worker, sender=as_jobs)
    assert game.disputeOf(jid)[0] == challenger.address


def test_dispute_game_for_the_zero_job_manager_cannot_be_deployed(project, owner):
    deploy_reverts(owner, project.DisputeGame, "ZeroJobManager", ZERO, owner, RESPONSE, PROOF, DEMAND, MAX_DEMANDS)


# ======================================================================================== class NONE: the arbiter
def test_arbitrate_needs_the_arbiter_role(jobs, game, posted_job, challenger):
    jid = posted_job()
    jobs.challenge(jid, sender=challenger)
    with reverts(game.AccessControlUnauthorizedAccount, account=challenger.address, neededRole=game.ARBITER_ROLE()):
        game.arbitrate(jid, True, sender=challenger)
    assert jobs.getJob(jid).status == CHALLENGED


def test_arbiter_decides_challenger_won_worker_slashed_and_split(jobs, game, stake, token, posted_job, worker,
                                                                 challenger, requester, treasury, arbiter):
    jid = posted_job()
    jobs.challenge(jid, sender=challenger)
    before = snapshot(jobs, stake, token, worker, challenger, requester, treasury)
    tx = game.arbitrate(jid, True, sender=arbiter)
    after = snapshot(jobs, stake, token, worker, challenger, requester, treasury)
    c0, c1 = before["credits"], after["credits"]
    assert c1[challenger.address] == c0[challenger.address] + BOND + REWARD
    assert c1[requester.address] == c0[requester.address] + TO_REQUESTER  # job reopened: no refund
    assert c1[treasury.address] == c0[treasury.address] + TO_TREASURY
    assert c1[worker.address] == c0[worker.address]
    active, locked = before["stake"]
    assert after["stake"] == (active - COLLATERAL, locked - COLLATERAL)
    assert after["held_stake"] == before["held_stake"] - COLLATERAL
    assert after["held_jobs"] == before["held_jobs"] + COLLATERAL
    assert after["total_staked"] == before["total_staked"] - COLLATERAL
    assert sum(c1.values()) - sum(c0.values()) == BOND + COLLATERAL  # every token slashed or bonded is credited
    resolved(game, tx, jid, True, BY_ARBITER)
    settled = jobs.DisputeSettled.from_receipt(tx)[0]
    assert (settled.jobId, settled.challengerWon, settled.slashed, settled.toChallenger) == (
        jid, True, COLLATERAL, BOND + REWARD)
    slashed = stake.Slashed.from_receipt(tx)[0]
    assert (slashed.worker, slashed.amount, slashed.to) == (worker.address, COLLATERAL, jobs.address)
    j = jobs.getJob(jid)
    assert (j.status, j.worker, j.outputRoot) == (OPEN, ZERO, ZERO32)
    assert jobs.openDisputes() == 0 and jobs.challengeOf(jid) == (ZERO, 0)


def test_arbiter_decides_challenger_lost_bond_split_and_job_paid(jobs, game, stake, token, posted_job, worker,
                                                                 challenger, requester, treasury, model_owner,
                                                                 arbiter):
    jid = posted_job()
    jobs.challenge(jid, sender=challenger)
    before = balances(jobs, stake, token, worker, challenger, requester, treasury, model_owner)
    tx = game.arbitrate(jid, False, sender=arbiter)
    assert_worker_won(before, balances(jobs, stake, token, worker, challenger, requester, treasury, model_owner),
                      worker, challenger, requester, treasury, model_owner)
    resolved(game, tx, jid, False, BY_ARBITER)
    assert len(stake.Slashed.from_receipt(tx)) == 0
    assert jobs.getJob(jid).status == FINALIZED and jobs.getJob(jid).outputRoot == OUTPUT_ROOT


def test_arbiter_deadline_is_inclusive_then_the_result_stands(jobs, game, posted_job, challenger, arbiter, accounts,
                                                              chain):
    jid = posted_job()
    jobs.challenge(jid, sender=challenger)
    deadline = game.getDispute(jid).proofDeadline
    for ts in (deadline - 1, deadline):
        with isolated(chain):
            with at(chain, ts):
                tx = game.arbitrate(jid, True, sender=arbiter)
            resolved(game, tx, jid, True, BY_ARBITER)
        with at(chain, ts), reverts(game.DisputeNotExpired, jobId=jid, deadline=deadline):
            game.resolveByTimeout(jid, sender=accounts[9])
    with at(chain, deadline + 1), reverts(game.DisputeExpired, jobId=jid, deadline=deadline):
        game.arbitrate(jid, True, sender=arbiter)
    with at(chain, deadline + 2):
        tx = game.resolveByTimeout(jid, sender=accounts[9])
    resolved(game, tx, jid, False, BY_TIMEOUT)
    assert jobs.getJob(jid).status == FINALIZED


def test_arbiter_cannot_decide_a_model_with_verifiers(jobs, game, make_job, tiny, worker, challenger, arbiter):
    jid = challenged(jobs, make_job, worker, challenger, tiny)
    with reverts(game.NotArbitrable, jobId=jid, vclass=APPROX):
        game.arbitrate(jid, True, sender=arbiter)
    assert game.disputeOf(jid)[2]


def test_no_trace_demand_or_proof_for_a_class_none_model(jobs, game, posted_job, worker, challenger, tiny):
    jid = posted_job()
    jobs.challenge(jid, sender=challenger)
    with reverts(game.ArbiterOnly, jobId=jid):
        game.postTrace(jid, b"\x01" * 32, ZERO32, "", sender=worker)
    with reverts(game.ArbiterOnly, jobId=jid):
        game.demandChunk(*cd.demand_chunk_args(jid, tiny.graph, 0, 0, 0, 1), sender=challenger)
    with reverts(game.ArbiterOnly, jobId=jid):
        game.proveOutputMismatch(*cd.prove_output_mismatch_args(jid, tiny.graph, tiny.trace), sender=challenger)
    assert game.getDispute(jid).traceRoot == ZERO32


def test_a_dispute_is_resolved_only_once(jobs, game, posted_job, challenger, arbiter, chain):
    jid = posted_job()
    with reverts(game.DisputeNotOpen, jobId=jid):  # never challenged
        game.arbitrate(jid, True, sender=arbiter)
    jobs.challenge(jid, sender=challenger)
    game.arbitrate(jid, False, sender=arbiter)
    with reverts(game.DisputeNotOpen, jobId=jid):
        game.arbitrate(jid, True, sender=arbiter)
    chain.pending_timestamp = game.disputeOf(jid)[1] + 1
    with reverts(game.DisputeNotOpen, jobId=jid):
        game.resolveByTimeout(jid, sender=arbiter)
    assert jobs.getJob(jid).status == FINALIZED and jobs.creditsOf(challenger) == 0


def test_a_reopened_job_can_be_challenged_again_in_a_fresh_dispute(jobs, game, make_job, tiny, worker, worker2,
                                                                   challenger, mock, owner):
    """The second dispute of a job starts from scratch: no trace, no demands, new deadlines."""
    jid = traced(jobs, game, make_job, worker, challenger, tiny, bumped(tiny, 4))
    game.demandChunk(*cd.demand_chunk_args(jid, tiny.graph, 0, 0, 0, 1), sender=challenger)
    game.answerDemand(*cd.answer_demand_args(jid, bumped(tiny, 4), 0, 0, 0, 1), sender=worker)
    mock.setAnswer(False, sender=owner)
    game.proveNode(*node_proof(tiny, bumped(tiny, 4), jid, 0, 1), sender=challenger)
    assert jobs.getJob(jid).status == OPEN
    jobs.claim(jid, sender=worker2)
    jobs.post(jid, tiny.output_root, tiny.output_container, "", sender=worker2)
    tx = jobs.challenge(jid, sender=challenger)
    assert game.DisputeOpened.from_receipt(tx)[0].worker == worker2.address
    d = game.getDispute(jid)
    assert (d.phase, d.worker, d.traceRoot, d.demandsMade, d.proofDeadline) == (1, worker2.address, ZERO32, 0, 0)
    with reverts(game.NotWorker, jobId=jid, caller=worker.address, worker=worker2.address):
        post_trace(game, worker, jid, tiny.trace)
    assert jobs.creditsOf(challenger) == BOND + REWARD


# ======================================================================================== trace
def test_post_trace_starts_the_proof_window(jobs, game, make_job, tiny, worker, challenger, chain):
    jid = challenged(jobs, make_job, worker, challenger, tiny)
    tx = post_trace(game, worker, jid, tiny.trace)
    report_gas("postTrace", tx)
    ev = game.TracePosted.from_receipt(tx)[0]
    deadline = mined_at(chain, tx) + PROOF
    assert (ev.jobId, ev.traceRoot, ev.traceURI, ev.proofDeadline) == (jid, tiny.trace.root, "assay://trace",
                                                                       deadline)
    assert len(ev.traceHash) == 32 and ev.traceHash != ZERO32
    d = game.getDispute(jid)
    assert (d.traceRoot, d.proofDeadline) == (tiny.trace.root, deadline) and game.disputeOf(jid)[1] == deadline


def test_trace_is_posted_by_the_worker_once_and_non_zero(jobs, game, make_job, tiny, worker, challenger):
    jid = challenged(jobs, make_job, worker, challenger, tiny)
    with reverts(game.NotWorker, jobId=jid, caller=challenger.address, worker=worker.address):
        post_trace(game, challenger, jid, tiny.trace)
    with reverts(game.ZeroTraceRoot, jobId=jid):
        game.postTrace(jid, ZERO32, ZERO32, "", sender=worker)
    post_trace(game, worker, jid, tiny.trace)
    with reverts(game.TraceAlreadyPosted, jobId=jid):
        game.postTrace(jid, b"\x01" * 32, ZERO32, "", sender=worker)
    assert game.getDispute(jid).traceRoot == tiny.trace.root


def test_trace_up_to_and_including_the_response_deadline(jobs, game, make_job, tiny, worker, challenger, chain):
    jid = challenged(jobs, make_job, worker, challenger, tiny)
    deadline = game.getDispute(jid).responseDeadline
    for ts in (deadline - 1, deadline):
        with isolated(chain):
            with at(chain, ts):
                post_trace(game, worker, jid, tiny.trace)
            assert game.getDispute(jid).proofDeadline == ts + PROOF
    with at(chain, deadline + 1), reverts(game.ResponseWindowClosed, jobId=jid, responseDeadline=deadline):
        post_trace(game, worker, jid, tiny.trace)


def test_no_trace_resolves_for_the_challenger_only_strictly_after_the_response_deadline(
        jobs, game, stake, token, make_job, tiny, worker, challenger, requester, treasury, accounts, chain):
    jid = challenged(jobs, make_job, worker, challenger, tiny)
    deadline = game.getDispute(jid).responseDeadline
    for ts in (deadline - 1, deadline):
        with at(chain, ts), reverts(game.DisputeNotExpired, jobId=jid, deadline=deadline):
            game.resolveByTimeout(jid, sender=accounts[9])
    before = balances(jobs, stake, token, worker, challenger, requester, treasury)
    with at(chain, deadline + 1):
        tx = game.resolveByTimeout(jid, sender=accounts[9])
    assert_challenger_won(before, balances(jobs, stake, token, worker, challenger, requester, treasury),
                          worker, challenger, requester, treasury)
    resolved(game, tx, jid, True, BY_NO_TRACE)


def test_demands_and_proofs_before_the_trace_revert(jobs, game, make_job, tiny, mock, worker, challenger):
    jid = challenged(jobs, make_job, worker, challenger, tiny)
    with reverts(game.TraceNotPosted, jobId=jid):
        game.demandChunk(*cd.demand_chunk_args(jid, tiny.graph, 0, 0, 0, 1), sender=challenger)
    with reverts(game.TraceNotPosted, jobId=jid):
        game.proveNode(*node_proof(tiny, tiny.trace, jid, 0, 0), sender=challenger)
    with reverts(game.TraceNotPosted, jobId=jid):
        game.proveInputMismatch(*cd.prove_input_mismatch_args(jid, tiny.graph, tiny.trace), sender=challenger)
    with reverts(game.NoDemand, jobId=jid):
        game.answerDemand(*cd.answer_demand_args(jid, tiny.trace, 0, 0, 0, 1), sender=worker)


# ======================================================================================== proof window
def test_proofs_up_to_and_including_the_proof_deadline(jobs, game, make_job, tiny, worker, challenger, chain):
    trace = bumped(tiny, 0)  # the worker ran another input
    jid = traced(jobs, game, make_job, worker, challenger, tiny, trace)
    deadline = game.getDispute(jid).proofDeadline
    args = cd.prove_input_mismatch_args(jid, tiny.graph, trace)
    demand = cd.demand_chunk_args(jid, tiny.graph, 0, 0, 0, 1)
    for ts in (deadline - 1, deadline):
        with isolated(chain):
            with at(chain, ts):
                tx = game.proveInputMismatch(*args, sender=challenger)
            resolved(game, tx, jid, True, BY_INPUT)
        with isolated(chain):
            with at(chain, ts):
                game.demandChunk(*demand, sender=challenger)
            assert game.getDispute(jid).demandsMade == 1
    with at(chain, deadline + 1), reverts(game.ProofWindowClosed, jobId=jid, proofDeadline=deadline):
        game.proveInputMismatch(*args, sender=challenger)
    with at(chain, deadline + 2), reverts(game.ProofWindowClosed, jobId=jid, proofDeadline=deadline):
        game.demandChunk(*demand, sender=challenger)


def test_no_proof_resolves_for_the_worker_only_strictly_after_the_proof_deadline(
        jobs, game, stake, token, make_job, tiny, worker, challenger, requester, treasury, model_owner, accounts,
        chain):
    jid = traced(jobs, game, make_job, worker, challenger, tiny)
    deadline = game.getDispute(jid).proofDeadline
    for ts in (deadline - 1, deadline):
        with at(chain, ts), reverts(game.DisputeNotExpired, jobId=jid, deadline=deadline):
            game.resolveByTimeout(jid, sender=accounts[9])
    before = balances(jobs, stake, token, worker, challenger, requester, treasury, model_owner)
    with at(chain, deadline + 1):
        tx = game.resolveByTimeout(jid, sender=accounts[9])
    assert_worker_won(before, balances(jobs, stake, token, worker, challenger, requester, treasury, model_owner),
                      worker, challenger, requester, treasury, model_owner)
    resolved(game, tx, jid, False, BY_TIMEOUT)


# ======================================================================================== demands
def test_demand_answer_up_to_and_including_its_deadline(jobs, game, make_job, tiny, worker, challenger, accounts,
                                                        chain):
    jid = traced(jobs, game, make_job, worker, challenger, tiny)
    game.demandChunk(*cd.demand_chunk_args(jid, tiny.graph, 1, 1, 3, 2), sender=challenger)
    deadline = game.getDispute(jid).demandDeadline
    assert game.disputeOf(jid)[1] == deadline
    answer = cd.answer_demand_args(jid, tiny.trace, 1, 1, 3, 2)
    for ts in (deadline - 1, deadline):
        with isolated(chain):
            with at(chain, ts):
                tx = game.answerDemand(*answer, sender=worker)
            assert game.DemandAnswered.from_receipt(tx)[0].valueId == 1 and game.getDispute(jid).demandDeadline == 0
        with at(chain, ts), reverts(game.DisputeNotExpired, jobId=jid, deadline=deadline):
            game.resolveByTimeout(jid, sender=accounts[9])
    with at(chain, deadline + 1), reverts(game.DemandExpired, jobId=jid, demandDeadline=deadline):
        game.answerDemand(*answer, sender=worker)
    with at(chain, deadline + 2):
        tx = game.resolveByTimeout(jid, sender=accounts[9])
    resolved(game, tx, jid, True, BY_DEMAND)


def test_an_answer_moves_the_proof_deadline_only_forward(jobs, game, make_job, tiny, worker, challenger, chain):
    jid = traced(jobs, game, make_job, worker, challenger, tiny)
    proof_deadline = game.getDispute(jid).proofDeadline
    game.demandChunk(*cd.demand_chunk_args(jid, tiny.graph, 0, 0, 0, 1), sender=challenger)
    tx = game.answerDemand(*cd.answer_demand_args(jid, tiny.trace, 0, 0, 0, 1), sender=worker)  # early
    assert game.DemandAnswered.from_receipt(tx)[0].proofDeadline == proof_deadline == game.getDispute(jid).proofDeadline
    set_at = proof_deadline - 1
    with at(chain, set_at):
        game.demandChunk(*cd.demand_chunk_args(jid, tiny.graph, 8, 0, 0, 1), sender=challenger)
    with at(chain, set_at + DEMAND):  # the last second of the demand: past the old proof deadline
        game.answerDemand(*cd.answer_demand_args(jid, tiny.trace, 8, 0, 0, 1), sender=worker)
    assert game.getDispute(jid).proofDeadline == set_at + 2 * DEMAND == game.disputeOf(jid)[1]


def test_proofs_stay_open_while_a_demand_is_outstanding(jobs, game, make_job, tiny, worker, challenger, chain):
    """A demand made at the proof deadline keeps the window open until it resolves."""
    trace = bumped(tiny, 0)
    jid = traced(jobs, game, make_job, worker, challenger, tiny, trace)
    deadline = game.getDispute(jid).proofDeadline
    with at(chain, deadline):
        game.demandChunk(*cd.demand_chunk_args(jid, tiny.graph, 0, 0, 0, 1), sender=challenger)
    with at(chain, deadline + 2):
        tx = game.proveInputMismatch(*cd.prove_input_mismatch_args(jid, tiny.graph, trace), sender=challenger)
    resolved(game, tx, jid, True, BY_INPUT)


def test_the_longest_dispute_lasts_exactly_max_duration(jobs, game, make_job, tiny, worker, challenger, accounts,
                                                        model_owner, chain):
    """Trace at the response deadline, then every demand at the proof deadline answered at its own
    deadline: the last deadline is open + response + proof + 2·maxDemands·demand = open + maxDuration()."""
    jid = make_job(model_id=tiny.mid, inputRoot=tiny.input_root, input=tiny.input_container)
    jobs.claim(jid, sender=worker)
    jobs.post(jid, tiny.output_root, tiny.output_container, "", sender=worker)
    opened = mined_at(chain, jobs.challenge(jid, sender=challenger))
    with at(chain, game.getDispute(jid).responseDeadline):
        post_trace(game, worker, jid, tiny.trace)
    for k in range(MAX_DEMANDS):
        with at(chain, game.getDispute(jid).proofDeadline):
            game.demandChunk(*cd.demand_chunk_args(jid, tiny.graph, k, 0, 0, 1), sender=challenger)
        with at(chain, game.getDispute(jid).demandDeadline):
            game.answerDemand(*cd.answer_demand_args(jid, tiny.trace, k, 0, 0, 1), sender=worker)
    last = game.getDispute(jid).proofDeadline
    assert last == opened + game.maxDuration() == opened + DISPUTE
    with at(chain, last), reverts(game.TooManyDemands, jobId=jid, maxDemands=MAX_DEMANDS):
        game.demandChunk(*cd.demand_chunk_args(jid, tiny.graph, 0, 0, 0, 1), sender=challenger)
    with at(chain, last + 1):
        tx = game.resolveByTimeout(jid, sender=accounts[9])
    resolved(game, tx, jid, False, BY_TIMEOUT)
    assert WINDOW + DISPUTE < UNBONDING  # the stake outlives the longest dispute


def test_demand_guards(jobs, game, make_job, tiny, worker, challenger, requester):
    jid = traced(jobs, game, make_job, worker, challenger, tiny)
    g = tiny.graph
    with reverts(game.NotChallenger, jobId=jid, caller=requester.address, challenger=challenger.address):
        game.demandChunk(*cd.demand_chunk_args(jid, g, 0, 0, 0, 1), sender=requester)
    for leaves in (0, 65):
        with reverts(game.DemandSizeOutOfBounds, leaves=leaves, max=64):
            game.demandChunk(jid, *cd.header_args(g), 0, 0, 0, leaves, sender=challenger)
    with reverts(game.InvalidLayout, layout=2):
        game.demandChunk(jid, *cd.header_args(g), 0, 2, 0, 1, sender=challenger)
    with reverts(game.ValueOutOfRange, valueId=9, values=9):
        game.demandChunk(jid, *cd.header_args(g), 9, 0, 0, 1, sender=challenger)
    bad_header = cd.header_args(g)[1][:-1]
    with reverts(game.ProofLengthMismatch, expected=3, given=2):
        game.demandChunk(jid, g.header, bad_header, 0, 0, 0, 1, sender=challenger)
    game.demandChunk(*cd.demand_chunk_args(jid, g, 1, 0, 4, 3), sender=challenger)
    deadline = game.getDispute(jid).demandDeadline
    with reverts(game.DemandOutstanding, jobId=jid, demandDeadline=deadline):
        game.demandChunk(*cd.demand_chunk_args(jid, g, 0, 0, 0, 1), sender=challenger)
    d = game.getDispute(jid)
    assert (d.demandValue, d.demandLayout, d.demandFirstLeaf, d.demandLeaves, d.demandsMade) == (1, 0, 4, 3, 1)


def test_answer_guards(jobs, game, make_job, tiny, worker, challenger):
    jid = traced(jobs, game, make_job, worker, challenger, tiny)
    game.demandChunk(*cd.demand_chunk_args(jid, tiny.graph, 1, 1, 4, 3), sender=challenger)
    good = cd.answer_demand_args(jid, tiny.trace, 1, 1, 4, 3)
    o = good.answer
    with reverts(game.NotWorker, jobId=jid, caller=challenger.address, worker=worker.address):
        game.answerDemand(*good, sender=challenger)
    with reverts(game.InvalidLayout, layout=0):
        game.answerDemand(jid, cd.opening_of_leaves(tiny.trace, 1, 0, 4, 7), sender=worker)
    with reverts(game.OperandNotOpened, valueId=1):
        game.answerDemand(jid, o._replace(dtype=0), sender=worker)
    with reverts(game.AnswerRangeMismatch, jobId=jid, firstLeaf=4, expectedLeaves=3, givenLeaves=2):
        game.answerDemand(jid, cd.opening_of_leaves(tiny.trace, 1, 1, 4, 6), sender=worker)
    with reverts(game.AnswerRangeMismatch, jobId=jid, firstLeaf=4, expectedLeaves=3, givenLeaves=3):
        game.answerDemand(jid, cd.opening_of_leaves(tiny.trace, 1, 1, 5, 8), sender=worker)
    with reverts(game.InvalidChunkProof, jobId=jid, valueId=1, layout=1):  # the chunks of another value
        game.answerDemand(jid, o._replace(data=cd.opening_of_leaves(tiny.trace, 1, 0, 4, 7).data), sender=worker)
    tx = game.answerDemand(*good, sender=worker)
    assert cd.opening_from_abi(game.DemandAnswered.from_receipt(tx)[0].opening) == o
    with reverts(game.NoDemand, jobId=jid):
        game.answerDemand(*good, sender=worker)


def test_a_demand_past_the_end_is_answered_with_the_last_leaf(jobs, game, make_job, tiny, worker, challenger):
    """b (value 2) has 40 float32 = 160 bytes = 2 leaves: [1, 65) clips to [1, 2), [9, 10) becomes [1, 2)."""
    jid = traced(jobs, game, make_job, worker, challenger, tiny)
    for first, leaves in ((1, 64), (9, 1)):
        game.demandChunk(*cd.demand_chunk_args(jid, tiny.graph, 2, 0, first, leaves), sender=challenger)
        args = cd.answer_demand_args(jid, tiny.trace, 2, 0, first, leaves)
        assert (args.answer.firstLeaf, len(args.answer.data)) == (1, 32)
        tx = game.answerDemand(*args, sender=worker)
        assert bytes(game.DemandAnswered.from_receipt(tx)[0].opening[4]) == tiny.values[2].tobytes()[128:]


# ======================================================================================== node proofs
def test_node_proof_passes_an_absent_input_as_absent(jobs, game, stake, token, make_job, tiny, mock, worker,
                                                     challenger, requester, treasury, owner):
    """Clip (node 3) reads (relu, <omitted min>, maxv): the verifier gets dtype 0 for the middle input."""
    trace = bumped(tiny, 7, 2.0)
    jid = traced(jobs, game, make_job, worker, challenger, tiny, trace)
    args = node_proof(tiny, trace, jid, 3, 11)
    assert args.inputs[1] == cd.ABSENT_OPENING and args.inputs[2].dims == []  # maxv is a scalar
    mock.expectCall(expected_call(args), sender=owner)
    mock.setAnswer(False, sender=owner)
    before = balances(jobs, stake, token, worker, challenger, requester, treasury)
    tx = game.proveNode(*args, sender=challenger)
    assert_challenger_won(before, balances(jobs, stake, token, worker, challenger, requester, treasury),
                          worker, challenger, requester, treasury)
    resolved(game, tx, jid, True, BY_NODE)


def test_node_proof_guards(jobs, game, make_job, tiny, mock, worker, challenger, owner):
    trace = bumped(tiny, 4)
    jid = traced(jobs, game, make_job, worker, challenger, tiny, trace)
    mock.setAnswer(False, sender=owner)  # anything the game let through would win
    good = node_proof(tiny, trace, jid, 0, 5)
    x, w = good.inputs
    with reverts(game.NodeOutOfRange, node=5, nodes=5):
        game.proveNode(*good._replace(node=5), sender=challenger)
    with reverts(game.InvalidGraphProof, jobId=jid, leaf=0):
        game.proveNode(*good._replace(header=good.header[:-1] + b"\xff"), sender=challenger)
    with reverts(game.LengthMismatch, expected=2, got=1):
        game.proveNode(*good._replace(inputs=[x]), sender=challenger)
    with reverts(game.OutputOutOfRange, position=1, outputs=1):
        game.proveNode(*good._replace(outPos=1), sender=challenger)
    with reverts(game.OperandNotOpened, valueId=0):
        game.proveNode(*good._replace(inputs=[cd.ABSENT_OPENING, w]), sender=challenger)
    with reverts(game.InvalidLayout, layout=2):
        game.proveNode(*good._replace(inputs=[x._replace(layout=2), w]), sender=challenger)
    with reverts(game.InvalidLayout, layout=1):
        game.proveNode(*good._replace(output=cd.opening(trace, 4, 1, 5, 1)), sender=challenger)
    with reverts(game.ElementNotOpened, index=40, first=0, count=32):
        game.proveNode(*good._replace(outIndex=40), sender=challenger)
    with reverts(game.InvalidChunkProof, jobId=jid, valueId=0, layout=0):
        game.proveNode(*good._replace(inputs=[x._replace(data=bytes(len(x.data))), w]), sender=challenger)
    with reverts(game.InvalidTraceProof, jobId=jid, item=0):
        game.proveNode(*good._replace(inputs=[x._replace(itemProof=w.itemProof), w]), sender=challenger)
    # TensorMerkle's own guards, reached through an opening that cannot fit its tree
    with reverts(game.LeafOutOfRange, first=3, end=4, count=3):
        game.proveNode(*good._replace(inputs=[x._replace(firstLeaf=3), w]), sender=challenger)
    with reverts(game.ChunkLengthMismatch, first=0, expected=128, given=127):
        game.proveNode(*good._replace(inputs=[x._replace(data=x.data[:-1]), w]), sender=challenger)
    with reverts(game.ProofLengthMismatch, expected=2, given=1):
        game.proveNode(*good._replace(inputs=[x._replace(proof=x.proof[:1]), w]), sender=challenger)
    with reverts(game.UnsupportedDtype, dtype=8):
        game.proveNode(*good._replace(inputs=[x._replace(dtype=8), w]), sender=challenger)
    with reverts(game.RankTooLarge, rank=256):
        game.proveNode(*good._replace(inputs=[x._replace(dims=[1] * 256, data=x.data[:4], proof=[]), w]),
                       sender=challenger)
    assert game.disputeOf(jid)[2]


def test_node_proof_needs_a_verifier_and_an_existing_output(jobs, game, make_job, tiny, mock, worker, challenger,
                                                            owner, chain):
    """Dropout (node 4) has no verifier; once it has one, its omitted mask output cannot be checked."""
    trace = bumped(tiny, 8)
    jid = traced(jobs, game, make_job, worker, challenger, tiny, trace)
    args = node_proof(tiny, trace, jid, 4, 0)
    with reverts(game.NoVerifier, domain="", opType="Dropout"):
        game.proveNode(*args, sender=challenger)
    game.setVerifier("", "Dropout", mock, sender=owner)
    with reverts(game.OutputAbsent, position=1):
        game.proveNode(*args._replace(outPos=1), sender=challenger)
    with reverts(game.ProofRejected, jobId=jid, node=4, outIndex=0):  # the mock finds it consistent
        game.proveNode(*args, sender=challenger)
    mock.setRefuse(True, sender=owner)  # a verifier that refuses the operands: its revert comes through
    view_reverts(chain, mock.MockCheckReverted, game.proveNode, *args)  # (eth_call: ape's decoding is slow here)
    mock.setRefuse(False, sender=owner)
    mock.setAnswer(False, sender=owner)
    resolved(game, game.proveNode(*args, sender=challenger), jid, True, BY_NODE)


def test_an_omitted_input_cannot_be_given_data(jobs, game, make_job, tiny, mock, worker, challenger, owner):
    trace = bumped(tiny, 7)
    jid = traced(jobs, game, make_job, worker, challenger, tiny, trace)
    args = node_proof(tiny, trace, jid, 3, 0)
    relu, _, maxv = args.inputs
    mock.setAnswer(False, sender=owner)
    with reverts(game.AbsentOperandOpened, position=1):
        game.proveNode(*args._replace(inputs=[relu, maxv, maxv]), sender=challenger)
    assert game.disputeOf(jid)[2]


def test_a_hash_without_enough_gas_reverts_sha256_failed(jobs, game, make_job, tiny, worker, challenger, chain):
    """With too little gas for the sha256 precompile, a proof reverts Sha256Failed instead of being
    judged on a wrong hash. A 60 KB header makes the precompile cost ~23k gas, so that the 1/64 kept
    back by the call pays for the revert."""
    jid = traced(jobs, game, make_job, worker, challenger, tiny)
    header = b"\x00" + b"\x00" * 8 + struct.pack(">I", 4) + b"\x00" * (60_000 - 13)
    args = cd.prove_input_mismatch_args(jid, tiny.graph, tiny.trace)._replace(header=header)
    w3 = chain.provider.web3
    data = HexBytes(game.proveInputMismatch.encode_input(*args))
    selector = keccak(text="Sha256Failed()")[:4]

    def outcome(gas: int) -> str:
        try:
            w3.eth.call({"from": challenger.address, "to": game.address, "data": data, "gas": gas})
            return "ok"
        except ContractCustomError as e:
            return "sha" if HexBytes(e.data)[:4] == selector else HexBytes(e.data)[:4].hex()
        except Exception:  # out of gas, intrinsic gas too low
            return "oog"

    lo, hi = 21_000, 10_000_000
    assert outcome(hi) == HexBytes(keccak(text="InvalidGraphProof(uint256,uint256)")[:4]).hex()
    while hi - lo > 1:  # least gas that reaches the graph proof
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if outcome(mid) not in ("oog", "sha") else (mid, hi)
    gas = next(g for g in range(hi - 1, hi - 30_000, -500) if outcome(g) == "sha")
    with reverts(game.Sha256Failed):
        game.proveInputMismatch(*args, sender=challenger, gas=gas)
    assert game.disputeOf(jid)[2]


# ======================================================================================== mismatch proofs
def test_mismatch_proof_guards(jobs, game, make_job, tiny, worker, challenger):
    jid = traced(jobs, game, make_job, worker, challenger, tiny)
    g, t = tiny.graph, tiny.trace
    io = cd.prove_input_mismatch_args(jid, g, t)
    with reverts(game.LengthMismatch, expected=1, got=2):
        game.proveInputMismatch(*io._replace(roots=io.roots * 2), sender=challenger)
    with reverts(game.LengthMismatch, expected=1, got=0):
        game.proveInputMismatch(*io._replace(itemProofs=[]), sender=challenger)
    with reverts(game.InvalidTraceProof, jobId=jid, item=0):
        game.proveInputMismatch(*io._replace(roots=[t.item(1, 0)]), sender=challenger)
    with reverts(game.InputsMatch, jobId=jid):
        game.proveInputMismatch(*io, sender=challenger)
    out = cd.prove_output_mismatch_args(jid, g, t)
    with reverts(game.LengthMismatch, expected=1, got=0):
        game.proveOutputMismatch(*out._replace(roots=[]), sender=challenger)
    with reverts(game.InvalidTraceProof, jobId=jid, item=16):
        game.proveOutputMismatch(*out._replace(roots=[t.item(0, 0)]), sender=challenger)
    with reverts(game.OutputsMatch, jobId=jid):
        game.proveOutputMismatch(*out, sender=challenger)
    wt = cd.prove_weight_mismatch_args(jid, g, t, 2)
    with reverts(game.InitializerOutOfRange, index=3, initializers=3):
        game.proveWeightMismatch(*wt._replace(index=3), sender=challenger)
    with reverts(game.InvalidWeightsProof, jobId=jid, index=2):
        game.proveWeightMismatch(*wt._replace(weightsLeaf=b"\x07" * 32), sender=challenger)
    with reverts(game.InvalidTraceProof, jobId=jid, item=6):
        game.proveWeightMismatch(*wt._replace(traceItem=b"\x07" * 32), sender=challenger)
    with reverts(game.WeightMatches, jobId=jid, index=2):
        game.proveWeightMismatch(*wt, sender=challenger)
    lay = cd.prove_layout_mismatch_args(jid, g, t, 1, 0)
    with reverts(game.ValueOutOfRange, valueId=9, values=9):
        game.proveLayoutMismatch(*lay._replace(valueId=9), sender=challenger)
    with reverts(game.InvalidLayout, layout=1):
        game.proveLayoutMismatch(*lay._replace(layout0=lay.layout1), sender=challenger)
    with reverts(game.InvalidLayout, layout=0):
        game.proveLayoutMismatch(*lay._replace(layout1=lay.layout0), sender=challenger)
    with reverts(game.ElementNotOpened, index=48, first=0, count=32):  # element (0, 1) is (1, 0) = 48 in layout 1
        game.proveLayoutMismatch(*lay._replace(index=1), sender=challenger)
    with reverts(game.ElementNotOpened, index=2000, first=0, count=32):
        game.proveLayoutMismatch(*lay._replace(index=2000), sender=challenger)
    with reverts(game.LayoutsMatch, jobId=jid, valueId=1, index=0):
        game.proveLayoutMismatch(*lay, sender=challenger)
    assert game.disputeOf(jid)[2]


def test_malformed_descriptors_under_a_bogus_graph_root_revert(jobs, game, registry, model_owner, make_job, mock,
                                                               worker, challenger):
    """A model owner may register roots over anything (workers check the roots before claiming). The
    game still reads such descriptors only inside their bytes."""
    header = (b"\x00" + struct.pack(">IIIIIH", 1, 0, 1, 2, 1, 0) + b"\x00\x01x" + b"\x00\x01y"
              + struct.pack(">I", 99))  # one output whose value id 99 is past n_values = 2
    node = b"\x01\x00"  # cut short inside its domain's length
    leaves = [hashlib.sha256(b"\x04" + d).digest() for d in (header, node)]
    graph_root = list_root(b"\x05", leaves)
    mid = hashlib.sha256(b"bogus-graph").digest()
    registry.registerModel(mid, ["ipfs://bogus"], MODEL_FEE, APPROX, graph_root, b"\x06" * 32, sender=model_owner)
    jid = make_job(model_id=mid)
    jobs.claim(jid, sender=worker)
    jobs.post(jid, OUTPUT_ROOT, b"\x01", "", sender=worker)
    jobs.challenge(jid, sender=challenger)
    game.postTrace(jid, b"\x01" * 32, ZERO32, "", sender=worker)
    proof0 = [leaves[1]]
    with reverts(game.MalformedDescriptor, leaf=1):
        game.proveNode(jid, header, proof0, 0, node, [leaves[0]], [], 0, cd.ABSENT_OPENING, 0, sender=challenger)
    with reverts(game.MalformedDescriptor, leaf=0):
        game.proveOutputMismatch(jid, header, proof0, [ZERO32], [[]], sender=challenger)
    with reverts(game.MalformedDescriptor, leaf=0):  # shorter than the fixed part
        game.proveOutputMismatch(jid, header[:22], proof0, [ZERO32], [[]], sender=challenger)
    with reverts(game.MalformedDescriptor, leaf=0):  # not a header (kind byte 0x01)
        game.proveOutputMismatch(jid, b"\x01" + header[1:], proof0, [ZERO32], [[]], sender=challenger)
    assert game.disputeOf(jid)[2]


# ======================================================================================== governance
def test_set_durations_bounds_each_window(game, owner):
    good = dict(response=RESPONSE, proof=PROOF, demand=DEMAND, demands=MAX_DEMANDS)
    cases = [("responseWindow", "response", 0, 1, MAX_WINDOW), ("responseWindow", "response", MAX_WINDOW + 1, 1,
                                                                 MAX_WINDOW),
             ("proofWindow", "proof", 0, 1, MAX_WINDOW), ("proofWindow", "proof", MAX_WINDOW + 1, 1, MAX_WINDOW),
             ("demandWindow", "demand", 0, 1, MAX_WINDOW), ("demandWindow", "demand", MAX_WINDOW + 1, 1, MAX_WINDOW),
             ("maxDemands", "demands", 0, 1, 16), ("maxDemands", "demands", 17, 1, 16)]
    for name, key, bad, lo, hi in cases:
        args = {**good, key: bad}
        with reverts(game.GameParamOutOfBounds, name=name32(name), value=bad, min=lo, max=hi):
            game.setDurations(args["response"], args["proof"], args["demand"], args["demands"], sender=owner)
    # the longest set that still fits: unbonding must stay strictly above window + maxDuration
    response = UNBONDING - WINDOW - 1 - PROOF - 2 * MAX_DEMANDS * DEMAND
    tx = game.setDurations(response, PROOF, DEMAND, MAX_DEMANDS, sender=owner)
    ev = game.DurationsUpdated.from_receipt(tx)[0]
    assert (ev.responseWindow, ev.proofWindow, ev.demandWindow, ev.maxDemands) == (response, PROOF, DEMAND,
                                                                                   MAX_DEMANDS)
    assert game.maxDuration() == UNBONDING - WINDOW - 1


def test_set_durations_that_outgrow_unbonding_revert(game, jobs, owner):
    demand = (UNBONDING - WINDOW - RESPONSE - PROOF) // 2  # window + maxDuration would equal the delay
    with reverts(game.UnbondingTooShort, unbondingDelay=UNBONDING, needed=UNBONDING):
        game.setDurations(RESPONSE, PROOF, demand, 1, sender=owner)
    with reverts(game.UnbondingTooShort, unbondingDelay=UNBONDING, needed=WINDOW + 3 * MAX_WINDOW):
        game.setDurations(MAX_WINDOW, MAX_WINDOW, MAX_WINDOW // 2, 1, sender=owner)
    assert game.maxDuration() == DISPUTE and jobs.minUnbondingDelay() == WINDOW + DISPUTE


def test_set_durations_of_a_game_not_in_use_skips_the_unbonding_check(project, jobs, owner):
    spare = owner.deploy(project.DisputeGame, jobs, owner, RESPONSE, PROOF, DEMAND, MAX_DEMANDS)
    spare.setDurations(MAX_WINDOW, MAX_WINDOW, MAX_WINDOW, 16, sender=owner)
    assert spare.maxDuration() == 2 * MAX_WINDOW + 32 * MAX_WINDOW


def test_running_disputes_keep_the_windows_they_opened_with(jobs, game, make_job, tiny, worker, challenger, owner,
                                                            chain):
    jid = challenged(jobs, make_job, worker, challenger, tiny)
    game.setDurations(RESPONSE, PROOF // 2, DEMAND // 2, 1, sender=owner)
    tx = post_trace(game, worker, jid, tiny.trace)
    assert game.getDispute(jid).proofDeadline == mined_at(chain, tx) + PROOF
    for k in range(2):  # the snapshot allows MAX_DEMANDS, the new setting 1
        game.demandChunk(*cd.demand_chunk_args(jid, tiny.graph, k, 0, 0, 1), sender=challenger)
        tx = game.answerDemand(*cd.answer_demand_args(jid, tiny.trace, k, 0, 0, 1), sender=worker)
    assert game.getDispute(jid).demandsMade == 2 and game.getDispute(jid).demandWindow == DEMAND


def test_set_durations_and_verifiers_need_the_admin_role(game, requester, mock):
    admin = game.DEFAULT_ADMIN_ROLE()
    with reverts(game.AccessControlUnauthorizedAccount, account=requester.address, neededRole=admin):
        game.setDurations(RESPONSE + 1, PROOF, DEMAND, MAX_DEMANDS, sender=requester)
    with reverts(game.AccessControlUnauthorizedAccount, account=requester.address, neededRole=admin):
        game.setVerifier("", "Einsum", mock, sender=requester)
    assert game.verifierOf("", "Einsum") == ZERO


def test_set_verifier_registers_replaces_and_removes(game, owner, mock, project):
    tx = game.setVerifier("ai.onnx", "Einsum", mock, sender=owner)  # the default domain is stored as ""
    ev = game.VerifierSet.from_receipt(tx)[0]
    assert (ev.domain, ev.opType, ev.verifier) == ("", "Einsum", mock.address)
    assert game.verifierOf("", "Einsum") == game.verifierOf("ai.onnx", "Einsum") == mock.address
    assert game.verifierOf("com.microsoft", "Einsum") == ZERO and game.verifierOf("", "einsum") == ZERO
    other = owner.deploy(project.MockVerifier)
    game.setVerifier("", "Einsum", other, sender=owner)
    assert game.verifierOf("", "Einsum") == other.address
    tx = game.setVerifier("", "Einsum", ZERO, sender=owner)
    assert game.VerifierSet.from_receipt(tx)[0].verifier == ZERO and game.verifierOf("", "Einsum") == ZERO


def test_set_verifier_with_a_name_too_long_for_a_descriptor_reverts(game, owner, mock):
    with reverts(game.OpNameTooLong, length=65536):
        game.setVerifier("", "x" * 65536, mock, sender=owner)
    with reverts(game.OpNameTooLong, length=65536):
        game.setVerifier("d" * 65536, "Relu", mock, sender=owner)


def test_renounce_role_for_another_account_reverts(game, arbiter, owner):
    with reverts(game.AccessControlBadConfirmation):
        game.renounceRole(game.ARBITER_ROLE(), arbiter, sender=owner)
    assert game.hasRole(game.ARBITER_ROLE(), arbiter)


def test_deploy_config_keeps_the_unbonding_delay_above_the_longest_dispute():
    root = Path(__file__).resolve().parents[1]
    local = load_deploy_config(root / "config/deploy.yaml", "ethereum:local")
    assert local.game.as_args() == (20, 30, 10, 8) and local.game.max_duration == 20 + 30 + 2 * 8 * 10
    live = load_deploy_config(root / "config/deploy.yaml", "ethereum:sepolia")
    assert live.game.max_duration == 7200 + 43200 + 2 * 12 * 7200
    for cfg in (local, live):
        assert cfg.unbonding_delay > cfg.params.challenge_window + cfg.game.max_duration


def test_deploy_config_refuses_a_game_that_outlasts_unbonding_and_the_old_key(tmp_path):
    base = {"unbonding_delay": 1000, "params": TEST_PARAMS.model_dump(),
            "game": {"response_window": 20, "proof_window": 100, "demand_window": 10, "max_demands": 4}}
    path = tmp_path / "deploy.yaml"
    path.write_text(yaml.safe_dump({"default": base}))
    assert load_deploy_config(path, "local").game.max_duration == DISPUTE
    path.write_text(yaml.safe_dump({"default": {**base, "unbonding_delay": WINDOW + DISPUTE}}))
    with pytest.raises(ConfigError, match=r"must exceed challenge_window \+ the game's max duration"):
        load_deploy_config(path, "local")
    path.write_text(yaml.safe_dump({"default": {**base, "dispute_duration": 60}}))
    with pytest.raises(ConfigError, match="dispute_duration was replaced by the fraud-proof game's windows"):
        load_deploy_config(path, "local")
    path.write_text(yaml.safe_dump({"default": {**base, "game": {**base["game"], "max_demands": 0}}}))
    with pytest.raises(ConfigError, match="max_demands"):
        load_deploy_config(path, "local")


def test_game_constants(game):
    assert (game.MAX_WINDOW(), game.MAX_DEMANDS(), game.MAX_DEMAND_LEAVES(), game.ABSENT()) == (
        MAX_WINDOW, 16, cd.MAX_DEMAND_LEAVES, cd.ABSENT)
