"""Happy paths of the job lifecycle with exact balances and events."""

import hashlib

import ape
import pytest

from conftest import LEASE, MODEL_FEE, OUTPUT_ROOT, TOKEN, WINDOW, WORKER_FEE, request, set_time

OPEN, CLAIMED, POSTED, CHALLENGED, FINALIZED, EXPIRED, CANCELLED, REFUNDED = range(1, 9)
PROTOCOL_FEE = (WORKER_FEE + MODEL_FEE) * 100 // 10_000
TOTAL = WORKER_FEE + MODEL_FEE + PROTOCOL_FEE
COLLATERAL = 2 * TOKEN  # max(min 1 token, 2x worker fee)


def test_submit_escrows_worker_owner_and_protocol_fee(jobs, token, requester, model, chain, staked):
    before_r, before_j = token.balanceOf(requester), token.balanceOf(jobs)
    r = request(model, chain, input=b"\xaa" * 40)
    tx = jobs.submit(r, sender=requester)
    jid = jobs.jobCount()
    assert token.balanceOf(requester) == before_r - TOTAL
    assert token.balanceOf(jobs) == before_j + TOTAL
    ev = jobs.JobSubmitted.from_receipt(tx)[0]
    assert ev.jobId == jid and ev.requester == requester.address and ev.modelId == model
    assert (ev.workerFee, ev.ownerFee, ev.protocolFee, ev.collateral) == (WORKER_FEE, MODEL_FEE, PROTOCOL_FEE, COLLATERAL)
    assert ev.input == b"\xaa" * 40 and ev.inputURI == ""
    j = jobs.getJob(jid)
    assert j.status == OPEN and j.requester == requester.address and j.worker == ape.utils.ZERO_ADDRESS
    assert j.inputRoot == r[1] and j.outputRoot == b"\x00" * 32 and j.claimDeadline == r[4]
    assert jobs.statusOf(jid) == OPEN


def test_submit_with_input_uri_only(jobs, make_job, requester):
    jid = make_job(input=b"", inputURI="ipfs://bafyinput")
    assert jobs.getJob(jid).status == OPEN


def test_quote_matches_what_submit_charges(jobs, model, make_job):
    owner_fee, protocol_fee, total, collateral = jobs.quote(model, WORKER_FEE)
    assert (owner_fee, protocol_fee, total, collateral) == (MODEL_FEE, PROTOCOL_FEE, TOTAL, COLLATERAL)
    j = jobs.getJob(make_job())
    assert j.workerFee + j.ownerFee + j.protocolFee == total


def test_collateral_is_the_larger_of_minimum_and_ratio(jobs, make_job):
    assert jobs.getJob(make_job(workerFee=TOKEN // 10)).collateral == TOKEN  # 0.2 < min 1
    assert jobs.getJob(make_job(workerFee=3 * TOKEN)).collateral == 6 * TOKEN


def test_claim_locks_collateral_and_starts_lease(jobs, stake, make_job, worker, chain):
    jid = make_job()
    active, locked, _, _ = stake.stakeOf(worker)
    tx = jobs.claim(jid, sender=worker)
    ts = chain.blocks[tx.block_number].timestamp
    assert stake.stakeOf(worker)[:2] == (active, locked + COLLATERAL)
    assert stake.freeStake(worker) == active - locked - COLLATERAL
    j = jobs.getJob(jid)
    assert (j.status, j.worker, j.deadline) == (CLAIMED, worker.address, ts + LEASE)
    ev = jobs.JobClaimed.from_receipt(tx)[0]
    assert (ev.jobId, ev.worker, ev.leaseEnd) == (jid, worker.address, ts + LEASE)


def test_claim_without_enough_free_stake_reverts(jobs, stake, make_job, accounts, token):
    poor = accounts[8]
    jid = make_job()
    with ape.reverts(stake.InsufficientFreeStake, worker=poor.address, free=0, needed=COLLATERAL):
        jobs.claim(jid, sender=poor)
    assert jobs.getJob(jid).status == OPEN


def test_post_records_output_and_starts_window(jobs, claimed_job, worker, chain):
    jid = claimed_job()
    tx = jobs.post(jid, OUTPUT_ROOT, b"\x07" * 8, "", sender=worker)
    ts = chain.blocks[tx.block_number].timestamp
    j = jobs.getJob(jid)
    assert (j.status, j.outputRoot, j.deadline) == (POSTED, OUTPUT_ROOT, ts + WINDOW)
    ev = jobs.ResultPosted.from_receipt(tx)[0]
    assert (ev.jobId, ev.worker, ev.outputRoot, ev.windowEnd, ev.output) == (
        jid, worker.address, OUTPUT_ROOT, ts + WINDOW, b"\x07" * 8)


def test_post_with_output_uri_only(jobs, claimed_job, worker):
    jid = claimed_job()
    tx = jobs.post(jid, OUTPUT_ROOT, b"", "ipfs://bafyoutput", sender=worker)
    assert jobs.ResultPosted.from_receipt(tx)[0].outputURI == "ipfs://bafyoutput"


def test_finalize_pays_worker_owner_and_treasury(jobs, stake, posted_job, worker, model_owner, treasury, chain, accounts):
    jid = posted_job()
    c_w, c_o, c_t = (jobs.creditsOf(a) for a in (worker, model_owner, treasury))
    locked = stake.stakeOf(worker)[1]
    set_time(chain, jobs.getJob(jid).deadline + 1)
    tx = jobs.finalize(jid, sender=accounts[9])  # anyone may finalize
    assert jobs.creditsOf(worker) == c_w + WORKER_FEE
    assert jobs.creditsOf(model_owner) == c_o + MODEL_FEE
    assert jobs.creditsOf(treasury) == c_t + PROTOCOL_FEE
    assert stake.stakeOf(worker)[1] == locked - COLLATERAL
    j = jobs.getJob(jid)
    assert (j.status, j.outputRoot) == (FINALIZED, OUTPUT_ROOT)
    ev = jobs.JobFinalized.from_receipt(tx)[0]
    assert (ev.jobId, ev.worker, ev.modelOwner, ev.outputRoot) == (jid, worker.address, model_owner.address, OUTPUT_ROOT)


def test_finalize_pays_current_model_owner_after_transfer(jobs, registry, posted_job, model, model_owner, accounts, chain):
    new_owner = accounts[9]
    jid = posted_job()
    registry.transferModel(model, new_owner, sender=model_owner)
    registry.acceptModel(model, sender=new_owner)
    set_time(chain, jobs.getJob(jid).deadline + 1)
    jobs.finalize(jid, sender=new_owner)
    assert jobs.creditsOf(new_owner) == MODEL_FEE


def test_withdraw_transfers_credits(jobs, token, posted_job, worker, chain):
    jid = posted_job()
    set_time(chain, jobs.getJob(jid).deadline + 1)
    jobs.finalize(jid, sender=worker)
    bal, held = token.balanceOf(worker), token.balanceOf(jobs)
    tx = jobs.withdraw(WORKER_FEE, sender=worker)
    assert token.balanceOf(worker) == bal + WORKER_FEE
    assert token.balanceOf(jobs) == held - WORKER_FEE
    assert jobs.creditsOf(worker) == 0
    ev = jobs.CreditsWithdrawn.from_receipt(tx)[0]
    assert (ev.account, ev.amount) == (worker.address, WORKER_FEE)


def test_partial_withdraw_leaves_rest(jobs, posted_job, worker, chain):
    jid = posted_job()
    set_time(chain, jobs.getJob(jid).deadline + 1)
    jobs.finalize(jid, sender=worker)
    jobs.withdraw(WORKER_FEE // 4, sender=worker)
    assert jobs.creditsOf(worker) == WORKER_FEE - WORKER_FEE // 4


def test_cancel_refunds_requester(jobs, token, make_job, requester):
    jid = make_job()
    tx = jobs.cancel(jid, sender=requester)
    assert jobs.creditsOf(requester) == TOTAL
    assert jobs.getJob(jid).status == CANCELLED
    ev = jobs.JobRefunded.from_receipt(tx)[0]
    assert (ev.jobId, ev.status, ev.refund) == (jid, CANCELLED, TOTAL)
    bal = token.balanceOf(requester)
    jobs.withdraw(TOTAL, sender=requester)
    assert token.balanceOf(requester) == bal + TOTAL


def test_expire_refunds_requester(jobs, make_job, requester, chain, accounts):
    jid = make_job()
    set_time(chain, jobs.getJob(jid).claimDeadline + 1)
    tx = jobs.expire(jid, sender=accounts[9])
    assert jobs.getJob(jid).status == EXPIRED
    assert jobs.creditsOf(requester) == TOTAL
    assert jobs.JobRefunded.from_receipt(tx)[0].status == EXPIRED


def test_reclaim_penalises_worker_and_reopens(jobs, stake, token, claimed_job, worker, worker2, requester, chain):
    jid = claimed_job()
    active, locked, _, _ = stake.stakeOf(worker)
    stake_bal = token.balanceOf(stake)
    set_time(chain, jobs.getJob(jid).deadline + 1)
    tx = jobs.reclaim(jid, sender=worker2)
    penalty = COLLATERAL * 1000 // 10_000
    assert stake.stakeOf(worker)[:2] == (active - penalty, locked - COLLATERAL)
    assert token.balanceOf(stake) == stake_bal - penalty
    assert jobs.creditsOf(requester) == penalty
    j = jobs.getJob(jid)
    assert (j.status, j.worker, j.deadline) == (OPEN, ape.utils.ZERO_ADDRESS, 0)
    ev = jobs.LeaseTimedOut.from_receipt(tx)[0]
    assert (ev.jobId, ev.worker, ev.penalty) == (jid, worker.address, penalty)
    assert len(jobs.JobReopened.from_receipt(tx)) == 1
    jobs.claim(jid, sender=worker2)  # another worker can now take it
    assert jobs.getJob(jid).worker == worker2.address


def test_reclaim_after_claim_deadline_expires_and_refunds(jobs, claimed_job, requester, chain):
    jid = claimed_job(claimDeadline=chain.pending_timestamp + 20)  # lease (100 s) outlives the claim deadline
    set_time(chain, jobs.getJob(jid).deadline + 1)
    jobs.reclaim(jid, sender=requester)
    assert jobs.getJob(jid).status == EXPIRED
    assert jobs.creditsOf(requester) == COLLATERAL * 1000 // 10_000 + TOTAL


def test_challenge_freezes_job_and_escrows_bond(jobs, game, token, posted_job, challenger, worker):
    jid = posted_job()
    bal, held = token.balanceOf(challenger), token.balanceOf(jobs)
    tx = jobs.challenge(jid, sender=challenger)
    assert token.balanceOf(challenger) == bal - 2 * TOKEN
    assert token.balanceOf(jobs) == held + 2 * TOKEN
    assert jobs.getJob(jid).status == CHALLENGED
    assert jobs.challengeOf(jid) == (challenger.address, 2 * TOKEN)
    assert jobs.openDisputes() == 1
    challenger_, deadline, open_ = game.disputeOf(jid)
    assert (challenger_, open_) == (challenger.address, True)
    ev = jobs.JobChallenged.from_receipt(tx)[0]
    assert (ev.jobId, ev.challenger, ev.bond, ev.disputeDeadline) == (jid, challenger.address, 2 * TOKEN, deadline)
    with ape.reverts(jobs.JobNotPosted, jobId=jid, status=CHALLENGED):
        jobs.finalize(jid, sender=worker)


def test_requester_may_challenge(jobs, posted_job, requester):
    jid = posted_job()
    jobs.challenge(jid, sender=requester)
    assert jobs.challengeOf(jid)[0] == requester.address


def test_a_reopened_job_can_complete_with_another_worker(jobs, claimed_job, worker, worker2, chain, model_owner):
    jid = claimed_job()
    set_time(chain, jobs.getJob(jid).deadline + 1)
    jobs.reclaim(jid, sender=worker2)
    jobs.claim(jid, sender=worker2)
    with ape.reverts(jobs.NotJobWorker, jobId=jid, caller=worker.address, worker=worker2.address):
        jobs.post(jid, OUTPUT_ROOT, b"\x01", "", sender=worker)
    jobs.post(jid, OUTPUT_ROOT, b"\x01", "", sender=worker2)
    set_time(chain, jobs.getJob(jid).deadline + 1)
    jobs.finalize(jid, sender=worker2)
    assert jobs.creditsOf(worker2) == WORKER_FEE and jobs.creditsOf(worker) == 0
