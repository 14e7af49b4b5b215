"""Every deadline of the protocol at t-1, t and t+1.

How the time is set: `set_time(chain, ts)` (conftest) makes the *next mined block* have timestamp ts.
Checked here with ape-foundry on anvil: on a local network ape sends every transaction with the
block gas limit instead of estimating it, so a transaction that reverts is still sent and *mined*,
and it uses up the timestamp that was set (see test_a_reverted_attempt_is_mined_at_the_set_time).
So `at(chain, ts)` sets the time before every single attempt, and afterwards checks that a block
mined by the attempt has exactly timestamp ts. Attempts run in time order; where a successful
attempt would change the state the next one needs, it runs inside `isolated(chain)` (not
`chain.isolate()`, which swallows every exception in its body, failed asserts included).

Conventions of the contracts (all inclusive): a job can be claimed up to and including its
claimDeadline; a worker can post up to and including its lease end; a result can be challenged up to
and including its window end; the arbiter decides up to and including the dispute deadline; pending
stake is withdrawable from unlockAt on.
"""

from __future__ import annotations

from contextlib import contextmanager

from conftest import DISPUTE, LEASE, OUTPUT_ROOT, TEST_PARAMS, UNBONDING, WINDOW, TOKEN, WORKER_FEE, request, set_time
from test_jobmanager_errors import (  # noqa: F401  (_no_trace_printing_on_revert is an autouse fixture)
    BOND, CHALLENGED, CLAIMED, COLLATERAL, EXPIRED, FINALIZED, OPEN, POSTED, REFUNDED, TOTAL,
    _no_trace_printing_on_revert, isolated, reverts,
)


@contextmanager
def at(chain, ts):
    """Run the enclosed transaction (successful or reverting) in a block mined at exactly `ts`."""
    set_time(chain, ts)
    before = chain.blocks.head.number
    yield
    head = chain.blocks.head
    if head.number != before:
        assert head.timestamp == ts, f"the attempt was mined at {head.timestamp}, not at {ts}"


def mined_at(chain, tx) -> int:
    return chain.blocks[tx.block_number].timestamp


def test_a_reverted_attempt_is_mined_at_the_set_time(jobs, make_job, requester, chain):
    """Pins the tool behaviour the module docstring describes (why `at` re-sets the time every time)."""
    jid = make_job()
    deadline = jobs.getJob(jid).claimDeadline
    before = chain.blocks.head.number
    set_time(chain, deadline)
    with reverts(jobs.ClaimDeadlineNotPassed, jobId=jid, claimDeadline=deadline):
        jobs.expire(jid, sender=requester)
    head = chain.blocks.head
    assert (head.number, head.timestamp) == (before + 1, deadline)
    # The set time is used up: without a new set_time the next block would not be at `deadline`.
    with at(chain, deadline + 1):
        jobs.expire(jid, sender=requester)
    assert jobs.getJob(jid).status == EXPIRED


# ---------------------------------------------------------------------------------------- submit
def test_submit_claim_deadline_must_be_strictly_after_now(jobs, model, requester, chain, staked):
    now = chain.pending_timestamp + 10
    for deadline in (now - 1, now):
        with at(chain, now), reverts(jobs.ClaimDeadlineInPast, claimDeadline=deadline, nowTs=now):
            jobs.submit(request(model, chain, claimDeadline=deadline), sender=requester)
    with at(chain, now):
        jobs.submit(request(model, chain, claimDeadline=now + 1), sender=requester)
    assert jobs.getJob(jobs.jobCount()).claimDeadline == now + 1


def test_submit_claim_deadline_at_most_max_claim_ttl_ahead(jobs, model, requester, chain, staked):
    now = chain.pending_timestamp + 10
    latest = now + TEST_PARAMS.max_claim_ttl
    for deadline in (latest - 1, latest):
        with at(chain, now):
            jobs.submit(request(model, chain, claimDeadline=deadline), sender=requester)
        assert jobs.getJob(jobs.jobCount()).claimDeadline == deadline
    with at(chain, now), reverts(jobs.ClaimDeadlineTooFar, claimDeadline=latest + 1, latest=latest):
        jobs.submit(request(model, chain, claimDeadline=latest + 1), sender=requester)


# ---------------------------------------------------------------------------------------- claim / expire
def test_claim_up_to_and_including_claim_deadline(jobs, stake, make_job, worker, chain):
    deadline = chain.pending_timestamp + 50
    a, b, c = (make_job(claimDeadline=deadline) for _ in range(3))
    for jid, ts in ((a, deadline - 1), (b, deadline)):
        with at(chain, ts):
            tx = jobs.claim(jid, sender=worker)
        assert jobs.JobClaimed.from_receipt(tx)[0].leaseEnd == ts + LEASE
        assert jobs.getJob(jid).status == CLAIMED
    locked = stake.stakeOf(worker)[1]
    with at(chain, deadline + 1), reverts(jobs.ClaimDeadlinePassed, jobId=c, claimDeadline=deadline):
        jobs.claim(c, sender=worker)
    assert jobs.getJob(c).status == OPEN and stake.stakeOf(worker)[1] == locked == 2 * COLLATERAL


def test_expire_only_strictly_after_claim_deadline(jobs, token, make_job, requester, chain):
    jid = make_job()
    deadline = jobs.getJob(jid).claimDeadline
    for ts in (deadline - 1, deadline):
        with at(chain, ts), reverts(jobs.ClaimDeadlineNotPassed, jobId=jid, claimDeadline=deadline):
            jobs.expire(jid, sender=requester)
    held = token.balanceOf(jobs)
    with at(chain, deadline + 1):
        jobs.expire(jid, sender=requester)
    assert jobs.getJob(jid).status == EXPIRED
    assert jobs.creditsOf(requester) == TOTAL and token.balanceOf(jobs) == held  # credited, not pushed


# ---------------------------------------------------------------------------------------- lease
def test_post_up_to_and_including_lease_end(jobs, claimed_job, worker, chain):
    jid = claimed_job()
    lease_end = jobs.getJob(jid).deadline
    for ts in (lease_end - 1, lease_end):
        with isolated(chain):
            with at(chain, ts):
                tx = jobs.post(jid, OUTPUT_ROOT, b"\x01", "", sender=worker)
            assert jobs.ResultPosted.from_receipt(tx)[0].windowEnd == ts + WINDOW
            assert jobs.getJob(jid).status == POSTED
    with at(chain, lease_end + 1), reverts(jobs.LeaseExpired, jobId=jid, leaseEnd=lease_end):
        jobs.post(jid, OUTPUT_ROOT, b"\x01", "", sender=worker)
    assert jobs.getJob(jid).status == CLAIMED


def test_reclaim_only_strictly_after_lease_end(jobs, stake, claimed_job, worker, worker2, requester, chain):
    jid = claimed_job()
    lease_end = jobs.getJob(jid).deadline
    for ts in (lease_end - 1, lease_end):
        with at(chain, ts), reverts(jobs.LeaseNotExpired, jobId=jid, leaseEnd=lease_end):
            jobs.reclaim(jid, sender=worker2)
    active, locked, _, _ = stake.stakeOf(worker)
    with at(chain, lease_end + 1):
        jobs.reclaim(jid, sender=worker2)
    penalty = COLLATERAL * TEST_PARAMS.liveness_penalty_bps // 10_000
    assert jobs.getJob(jid).status == OPEN
    assert stake.stakeOf(worker)[:2] == (active - penalty, locked - COLLATERAL)
    assert jobs.creditsOf(requester) == penalty


def test_reclaim_reopens_up_to_claim_deadline_then_expires(jobs, make_job, worker, worker2, requester, chain):
    claim_deadline = chain.pending_timestamp + LEASE + 20
    jid = make_job(claimDeadline=claim_deadline)
    jobs.claim(jid, sender=worker)
    assert jobs.getJob(jid).deadline < claim_deadline - 1  # the lease ends first
    penalty = COLLATERAL * TEST_PARAMS.liveness_penalty_bps // 10_000
    for ts in (claim_deadline - 1, claim_deadline):
        with isolated(chain):
            with at(chain, ts):
                tx = jobs.reclaim(jid, sender=worker2)
            assert jobs.getJob(jid).status == OPEN and len(jobs.JobReopened.from_receipt(tx)) == 1
            assert jobs.creditsOf(requester) == penalty
    with at(chain, claim_deadline + 1):
        tx = jobs.reclaim(jid, sender=worker2)
    assert jobs.getJob(jid).status == EXPIRED
    ev = jobs.JobRefunded.from_receipt(tx)[0]
    assert (ev.jobId, ev.status, ev.refund) == (jid, EXPIRED, TOTAL)
    assert jobs.creditsOf(requester) == penalty + TOTAL


# ---------------------------------------------------------------------------------------- challenge window
def test_finalize_only_strictly_after_window_end(jobs, posted_job, worker, chain):
    jid = posted_job()
    window_end = jobs.getJob(jid).deadline
    for ts in (window_end - 1, window_end):
        with at(chain, ts), reverts(jobs.ChallengeWindowOpen, jobId=jid, windowEnd=window_end):
            jobs.finalize(jid, sender=worker)
    with at(chain, window_end + 1):
        jobs.finalize(jid, sender=worker)
    assert jobs.getJob(jid).status == FINALIZED and jobs.creditsOf(worker) == WORKER_FEE


def test_challenge_up_to_and_including_window_end(jobs, token, posted_job, challenger, chain):
    jid = posted_job()
    window_end = jobs.getJob(jid).deadline
    bal = token.balanceOf(challenger)
    for ts in (window_end - 1, window_end):
        with isolated(chain):
            with at(chain, ts):
                tx = jobs.challenge(jid, sender=challenger)
            assert jobs.JobChallenged.from_receipt(tx)[0].disputeDeadline == ts + DISPUTE
            assert jobs.getJob(jid).status == CHALLENGED and token.balanceOf(challenger) == bal - BOND
    with at(chain, window_end + 1), reverts(jobs.ChallengeWindowClosed, jobId=jid, windowEnd=window_end):
        jobs.challenge(jid, sender=challenger)
    assert jobs.getJob(jid).status == POSTED and token.balanceOf(challenger) == bal


# ---------------------------------------------------------------------------------------- unbonding
def test_stake_withdraw_from_unlock_at_on(stake, token, worker, chain, staked):
    tx = stake.requestUnstake(10 * TOKEN, sender=worker)
    unlock_at = mined_at(chain, tx) + UNBONDING
    assert stake.stakeOf(worker)[3] == unlock_at
    with at(chain, unlock_at - 1), reverts(stake.UnbondingNotOver, worker=worker.address, unlockAt=unlock_at):
        stake.withdraw(sender=worker)
    bal, held = token.balanceOf(worker), token.balanceOf(stake)
    for ts in (unlock_at, unlock_at + 1):
        with isolated(chain):
            with at(chain, ts):
                stake.withdraw(sender=worker)
            assert token.balanceOf(worker) == bal + 10 * TOKEN and token.balanceOf(stake) == held - 10 * TOKEN
            assert stake.stakeOf(worker)[2:] == (0, 0)


# ---------------------------------------------------------------------------------------- dispute
def _challenged(jobs, game, posted_job, challenger):
    jid = posted_job()
    jobs.challenge(jid, sender=challenger)
    return jid, game.disputeOf(jid)[1]


def test_arbitrate_up_to_and_including_dispute_deadline(jobs, game, posted_job, challenger, arbiter, chain):
    jid, deadline = _challenged(jobs, game, posted_job, challenger)
    for ts in (deadline - 1, deadline):
        with isolated(chain):
            with at(chain, ts):
                tx = game.arbitrate(jid, False, sender=arbiter)
            assert game.DisputeResolved.from_receipt(tx)[0].by == 1
            assert jobs.getJob(jid).status == FINALIZED
    with at(chain, deadline + 1), reverts(game.DisputeExpired, jobId=jid, deadline=deadline):
        game.arbitrate(jid, True, sender=arbiter)
    assert jobs.getJob(jid).status == CHALLENGED and game.disputeOf(jid)[2]


def test_resolve_by_timeout_only_strictly_after_dispute_deadline(jobs, game, posted_job, challenger, accounts, chain):
    jid, deadline = _challenged(jobs, game, posted_job, challenger)
    for ts in (deadline - 1, deadline):
        with at(chain, ts), reverts(game.DisputeNotExpired, jobId=jid, deadline=deadline):
            game.resolveByTimeout(jid, sender=accounts[9])
    with at(chain, deadline + 1):
        tx = game.resolveByTimeout(jid, sender=accounts[9])
    ev = game.DisputeResolved.from_receipt(tx)[0]
    assert (ev.jobId, ev.challengerWon, ev.by) == (jid, False, 0)
    assert jobs.getJob(jid).status == FINALIZED


def test_won_challenge_reopens_up_to_claim_deadline_then_refunds(jobs, game, make_job, worker, challenger,
                                                                 arbiter, requester, chain):
    claim_deadline = chain.pending_timestamp + LEASE + 50
    jid = make_job(claimDeadline=claim_deadline)
    jobs.claim(jid, sender=worker)
    jobs.post(jid, OUTPUT_ROOT, b"\x01", "", sender=worker)
    jobs.challenge(jid, sender=challenger)
    assert game.disputeOf(jid)[1] > claim_deadline + 1  # the arbiter can still act after the claim deadline
    to_requester = COLLATERAL * TEST_PARAMS.slash_requester_bps // 10_000
    for ts in (claim_deadline - 1, claim_deadline):
        with isolated(chain):
            with at(chain, ts):
                tx = game.arbitrate(jid, True, sender=arbiter)
            assert jobs.getJob(jid).status == OPEN and len(jobs.JobReopened.from_receipt(tx)) == 1
            assert jobs.creditsOf(requester) == to_requester
    with at(chain, claim_deadline + 1):
        tx = game.arbitrate(jid, True, sender=arbiter)
    assert jobs.getJob(jid).status == REFUNDED
    ev = jobs.JobRefunded.from_receipt(tx)[0]
    assert (ev.jobId, ev.status, ev.refund) == (jid, REFUNDED, TOTAL)
    assert jobs.creditsOf(requester) == to_requester + TOTAL
