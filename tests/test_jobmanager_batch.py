"""Batch forms: claimJobs, postResults, finalizeJobs — what they skip, what they undo, what they pay."""

import hashlib

import ape
import pytest

from conftest import DISPUTE, LEASE, MODEL_FEE, OUTPUT_ROOT, TEST_PARAMS, TOKEN, UNBONDING, WINDOW, WORKER_FEE, set_time
from escrow_model import ModelParams

OPEN, CLAIMED, POSTED, CHALLENGED, FINALIZED, EXPIRED, CANCELLED, REFUNDED = range(1, 9)
PARAMS = ModelParams.from_governance(TEST_PARAMS, dispute_duration=DISPUTE, unbonding_delay=UNBONDING)
COLLATERAL = PARAMS.price(WORKER_FEE, MODEL_FEE)[2]


def protocol_fee(worker_fee):
    return PARAMS.price(worker_fee, MODEL_FEE)[0]


def collateral(worker_fee):
    return PARAMS.price(worker_fee, MODEL_FEE)[2]


def root(i):
    return hashlib.sha256(b"output-%d" % i).digest()


def ts_of(chain, tx):
    return chain.blocks[tx.block_number].timestamp


def statuses(jobs, ids):
    return [jobs.getJob(i).status for i in ids]


def pass_time(chain, ts):
    """Mine an empty block at ts, so that both eth_call and the next transaction see a time >= ts."""
    set_time(chain, ts)
    chain.mine()


# ====================================================================== claimJobs


def test_claim_jobs_claims_every_open_job_and_locks_the_sum_once(jobs, stake, make_job, worker, chain):
    fees = [TOKEN // 10, WORKER_FEE, 3 * TOKEN]
    colls = [collateral(f) for f in fees]
    assert colls == [TOKEN, 2 * TOKEN, 6 * TOKEN]  # min collateral, then 2x the worker fee
    ids = [make_job(workerFee=f) for f in fees]
    active, locked, pending, _ = stake.stakeOf(worker)
    assert jobs.claimJobs.call(ids, sender=worker) == [True, True, True]
    tx = jobs.claimJobs(ids, sender=worker)
    ts = ts_of(chain, tx)
    assert stake.stakeOf(worker)[:3] == (active, locked + sum(colls), pending)
    assert [(e.worker, e.amount, e.locked) for e in stake.CollateralLocked.from_receipt(tx)] == [
        (worker.address, sum(colls), locked + sum(colls))]
    assert [(e.jobId, e.worker, e.leaseEnd) for e in jobs.JobClaimed.from_receipt(tx)] == [
        (i, worker.address, ts + LEASE) for i in ids]
    for i in ids:
        j = jobs.getJob(i)
        assert (j.status, j.worker, j.deadline) == (CLAIMED, worker.address, ts + LEASE)


def test_claim_jobs_skips_taken_cancelled_late_unknown_and_repeated_jobs(
    jobs, stake, make_job, worker, worker2, requester, chain
):
    taken = make_job()
    jobs.claim(taken, sender=worker2)
    cancelled = make_job()
    jobs.cancel(cancelled, sender=requester)
    late = make_job(claimDeadline=chain.pending_timestamp + 30)
    fresh = make_job(workerFee=3 * TOKEN)
    unknown = jobs.jobCount() + 7
    pass_time(chain, jobs.getJob(late).claimDeadline + 1)
    batch = [taken, cancelled, late, fresh, unknown, fresh]
    assert jobs.claimJobs.call(batch, sender=worker) == [False, False, False, True, False, False]
    locked = stake.stakeOf(worker)[1]
    tx = jobs.claimJobs(batch, sender=worker)
    assert [e.jobId for e in jobs.JobClaimed.from_receipt(tx)] == [fresh]
    assert [e.amount for e in stake.CollateralLocked.from_receipt(tx)] == [collateral(3 * TOKEN)]
    assert stake.stakeOf(worker)[1] == locked + collateral(3 * TOKEN)
    assert statuses(jobs, [taken, cancelled, late, fresh]) == [CLAIMED, CANCELLED, OPEN, CLAIMED]
    assert jobs.getJob(taken).worker == worker2.address  # nobody steals a claimed job
    assert jobs.statusOf(unknown) == 0


def test_claim_jobs_claims_at_the_claim_deadline_and_skips_one_second_later(jobs, stake, make_job, worker, chain):
    deadline = chain.pending_timestamp + 60
    a, b, c = (make_job(claimDeadline=deadline) for _ in range(3))
    set_time(chain, deadline - 1)
    assert len(jobs.JobClaimed.from_receipt(jobs.claimJobs([a], sender=worker))) == 1
    set_time(chain, deadline)
    assert len(jobs.JobClaimed.from_receipt(jobs.claimJobs([b], sender=worker))) == 1
    locked = stake.stakeOf(worker)[1]
    set_time(chain, deadline + 1)
    tx = jobs.claimJobs([c], sender=worker)
    assert jobs.JobClaimed.from_receipt(tx) == [] and stake.CollateralLocked.from_receipt(tx) == []
    assert stake.stakeOf(worker)[1] == locked
    assert statuses(jobs, [a, b, c]) == [CLAIMED, CLAIMED, OPEN]


def test_claim_jobs_with_nothing_claimable_locks_nothing(jobs, stake, make_job, worker, worker2):
    jid = make_job()
    jobs.claim(jid, sender=worker2)
    before = stake.stakeOf(worker)
    tx = jobs.claimJobs([jid, jid + 50], sender=worker)
    assert jobs.JobClaimed.from_receipt(tx) == [] and stake.CollateralLocked.from_receipt(tx) == []
    assert stake.stakeOf(worker) == before


def test_claim_jobs_without_stake_for_the_whole_batch_undoes_every_claim(jobs, stake, token, make_job, accounts):
    poor = accounts[8]
    token.mint(poor, 3 * TOKEN, sender=poor)
    token.approve(stake, 3 * TOKEN, sender=poor)
    stake.stake(3 * TOKEN, sender=poor)
    a, b = make_job(), make_job()  # 2 tokens of collateral each: one fits, both do not
    with ape.reverts(stake.InsufficientFreeStake, worker=poor.address, free=3 * TOKEN, needed=4 * TOKEN):
        jobs.claimJobs([a, b], sender=poor)
    for jid in (a, b):
        j = jobs.getJob(jid)
        assert (j.status, j.worker, j.deadline) == (OPEN, ape.utils.ZERO_ADDRESS, 0)
    assert stake.stakeOf(poor) == (3 * TOKEN, 0, 0, 0)
    jobs.claimJobs([a], sender=poor)  # the same worker can take what its stake covers
    assert stake.stakeOf(poor)[:2] == (3 * TOKEN, COLLATERAL)
    assert statuses(jobs, [a, b]) == [CLAIMED, OPEN]


def test_claim_jobs_empty_batch_reverts(jobs, worker, staked):
    with ape.reverts(jobs.EmptyBatch):
        jobs.claimJobs([], sender=worker)


# ====================================================================== postResults


def test_post_results_posts_each_job_with_its_own_output(jobs, claimed_job, worker, chain):
    ids = [claimed_job() for _ in range(3)]
    roots = [root(i) for i in ids]
    outputs = [b"\x01", b"", b"\x03" * 40]
    uris = ["", "ipfs://bafy-out", ""]
    tx = jobs.postResults(ids, roots, outputs, uris, sender=worker)
    ts = ts_of(chain, tx)
    got = [(e.jobId, e.worker, e.outputRoot, e.windowEnd, e.output, e.outputURI)
           for e in jobs.ResultPosted.from_receipt(tx)]
    assert got == [(i, worker.address, r, ts + WINDOW, o, u) for i, r, o, u in zip(ids, roots, outputs, uris)]
    for i, r in zip(ids, roots):
        j = jobs.getJob(i)
        assert (j.status, j.outputRoot, j.deadline) == (POSTED, r, ts + WINDOW)


def _assert_still_claimed(jobs, ids, leases):
    for i, lease in zip(ids, leases):
        j = jobs.getJob(i)
        assert (j.status, j.outputRoot, j.deadline) == (CLAIMED, b"\x00" * 32, lease)


def test_post_results_with_one_foreign_job_posts_nothing(jobs, claimed_job, make_job, worker, worker2):
    a, b = claimed_job(), claimed_job()
    foreign = make_job()
    jobs.claim(foreign, sender=worker2)
    ids = [a, foreign, b]
    leases = [jobs.getJob(i).deadline for i in ids]
    with ape.reverts(jobs.NotJobWorker, jobId=foreign, caller=worker.address, worker=worker2.address):
        jobs.postResults(ids, [OUTPUT_ROOT] * 3, [b"\x01"] * 3, [""] * 3, sender=worker)
    _assert_still_claimed(jobs, ids, leases)


def test_post_results_with_one_expired_lease_posts_nothing(jobs, claimed_job, worker, chain):
    early = claimed_job()
    set_time(chain, jobs.getJob(early).deadline - 3)
    fresh = claimed_job()
    lease_early, lease_fresh = jobs.getJob(early).deadline, jobs.getJob(fresh).deadline
    set_time(chain, lease_early + 1)
    with ape.reverts(jobs.LeaseExpired, jobId=early, leaseEnd=lease_early):
        jobs.postResults([fresh, early], [OUTPUT_ROOT] * 2, [b"\x01"] * 2, [""] * 2, sender=worker)
    _assert_still_claimed(jobs, [fresh, early], [lease_fresh, lease_early])


def test_post_results_with_a_repeated_job_posts_nothing(jobs, claimed_job, worker):
    a = claimed_job()
    lease = jobs.getJob(a).deadline
    with ape.reverts(jobs.JobNotClaimed, jobId=a, status=POSTED):  # the first copy was posted in this batch
        jobs.postResults([a, a], [OUTPUT_ROOT] * 2, [b"\x01"] * 2, [""] * 2, sender=worker)
    _assert_still_claimed(jobs, [a], [lease])


@pytest.mark.parametrize("short", ["outputRoots", "outputs", "outputURIs"])
def test_post_results_with_a_short_array_reverts_length_mismatch(jobs, claimed_job, worker, short):
    ids = [claimed_job(), claimed_job()]
    arrays = {"outputRoots": [OUTPUT_ROOT] * 2, "outputs": [b"\x01"] * 2, "outputURIs": [""] * 2}
    arrays[short] = arrays[short][:1]
    with ape.reverts(jobs.LengthMismatch, expected=2, got=1):
        jobs.postResults(ids, arrays["outputRoots"], arrays["outputs"], arrays["outputURIs"], sender=worker)
    assert statuses(jobs, ids) == [CLAIMED, CLAIMED]


def test_post_results_empty_batch_reverts(jobs, worker, staked):
    with ape.reverts(jobs.EmptyBatch):
        jobs.postResults([], [], [], [], sender=worker)


# ====================================================================== finalizeJobs


def _claim_and_post(jobs, make_job, who, fee):
    jid = make_job(workerFee=fee)
    jobs.claim(jid, sender=who)
    jobs.post(jid, root(jid), b"\x05", "", sender=who)
    return jid


def test_finalize_jobs_with_interleaved_workers_pays_and_unlocks_each_exactly(
    jobs, stake, token, make_job, worker, worker2, model_owner, treasury, chain
):
    stake_w1, stake_w2 = stake.stakeOf(worker), stake.stakeOf(worker2)
    plan = [(worker, WORKER_FEE), (worker2, TOKEN // 10 + 3), (worker, 3 * TOKEN + 99), (worker2, 2 * TOKEN + 99)]
    ids = [_claim_and_post(jobs, make_job, w, f) for w, f in plan]
    assert stake.stakeOf(worker)[1] == stake_w1[1] + collateral(WORKER_FEE) + collateral(3 * TOKEN + 99)
    credits = {a: jobs.creditsOf(a) for a in (worker, worker2, model_owner, treasury)}
    held = token.balanceOf(jobs)
    set_time(chain, max(jobs.getJob(i).deadline for i in ids) + 1)
    tx = jobs.finalizeJobs(ids, sender=treasury)
    assert tx.return_value == [True] * 4
    # Stake: every lock of these jobs released, nothing slashed, per worker.
    assert stake.stakeOf(worker) == stake_w1
    assert stake.stakeOf(worker2) == stake_w2
    # One unlock per run of consecutive jobs of the same worker: four runs here.
    assert [(e.worker, e.amount) for e in stake.CollateralUnlocked.from_receipt(tx)] == [
        (w.address, collateral(f)) for w, f in plan]
    # Credits: each fee to its payee, protocol fee rounded per job (never on the sum).
    assert jobs.creditsOf(worker) == credits[worker] + WORKER_FEE + 3 * TOKEN + 99
    assert jobs.creditsOf(worker2) == credits[worker2] + TOKEN // 10 + 3 + 2 * TOKEN + 99
    assert jobs.creditsOf(model_owner) == credits[model_owner] + 4 * MODEL_FEE
    assert jobs.creditsOf(treasury) == credits[treasury] + sum(protocol_fee(f) for _, f in plan)
    assert sum(protocol_fee(f) for _, f in plan) != protocol_fee(sum(f for _, f in plan) + 3 * MODEL_FEE)
    assert token.balanceOf(jobs) == held  # finalize credits; it moves no tokens
    assert [(e.jobId, e.worker, e.modelOwner, e.outputRoot) for e in jobs.JobFinalized.from_receipt(tx)] == [
        (i, w.address, model_owner.address, root(i)) for i, (w, _) in zip(ids, plan)]
    assert statuses(jobs, ids) == [FINALIZED] * 4


def test_finalize_jobs_releases_a_run_of_one_workers_jobs_in_one_unlock(
    jobs, stake, make_job, worker, worker2, chain
):
    plan = [(worker, WORKER_FEE), (worker, 3 * TOKEN), (worker2, WORKER_FEE)]
    before = stake.stakeOf(worker), stake.stakeOf(worker2)
    ids = [_claim_and_post(jobs, make_job, w, f) for w, f in plan]
    set_time(chain, max(jobs.getJob(i).deadline for i in ids) + 1)
    tx = jobs.finalizeJobs(ids, sender=worker)
    assert [(e.worker, e.amount) for e in stake.CollateralUnlocked.from_receipt(tx)] == [
        (worker.address, collateral(WORKER_FEE) + collateral(3 * TOKEN)), (worker2.address, collateral(WORKER_FEE))]
    assert (stake.stakeOf(worker), stake.stakeOf(worker2)) == before


def test_finalize_jobs_skips_every_job_that_is_not_finalizable(
    jobs, stake, make_job, claimed_job, posted_job, worker, challenger, chain, accounts
):
    done = posted_job()
    set_time(chain, jobs.getJob(done).deadline + 1)
    jobs.finalize(done, sender=worker)
    ok = posted_job()
    window_end = jobs.getJob(ok).deadline
    set_time(chain, window_end - 20)
    still_open_window = posted_job()
    challenged = posted_job()
    jobs.challenge(challenged, sender=challenger)
    open_job, claimed = make_job(), claimed_job()
    assert jobs.getJob(still_open_window).deadline > window_end
    batch = [open_job, ok, still_open_window, claimed, challenged, done, jobs.jobCount() + 3, ok]
    credits, (active, locked, _, _) = jobs.creditsOf(worker), stake.stakeOf(worker)
    set_time(chain, window_end + 1)
    tx = jobs.finalizeJobs(batch, sender=accounts[9])
    assert tx.return_value == [False, True, False, False, False, False, False, False]
    assert [e.jobId for e in jobs.JobFinalized.from_receipt(tx)] == [ok]
    assert jobs.creditsOf(worker) == credits + WORKER_FEE  # the repeated id is paid once
    assert stake.stakeOf(worker)[:2] == (active, locked - COLLATERAL)
    assert statuses(jobs, batch[:6]) == [OPEN, FINALIZED, POSTED, CLAIMED, CHALLENGED, FINALIZED]


def test_finalize_jobs_with_nothing_finalizable_changes_nothing(jobs, stake, posted_job, worker):
    jid = posted_job()  # window still open
    before = jobs.creditsOf(worker), stake.stakeOf(worker)
    tx = jobs.finalizeJobs([jid, jid + 9], sender=worker)
    assert tx.return_value == [False, False]
    assert jobs.JobFinalized.from_receipt(tx) == [] and stake.CollateralUnlocked.from_receipt(tx) == []
    assert (jobs.creditsOf(worker), stake.stakeOf(worker)) == before
    assert jobs.getJob(jid).status == POSTED


def test_finalize_jobs_empty_batch_reverts(jobs, worker, staked):
    with ape.reverts(jobs.EmptyBatch):
        jobs.finalizeJobs([], sender=worker)
