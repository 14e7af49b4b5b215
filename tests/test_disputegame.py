"""DisputeGame (interim timeout + arbiter game): who may open and decide disputes, the exact money
of both outcomes (slash split, bond split), resolution by timeout, the duration's bounds and every
DisputeGame error. Deadlines at t-1 / t / t+1 are in test_jobmanager_deadlines.py."""

from __future__ import annotations

from conftest import DISPUTE, MODEL_FEE, OUTPUT_ROOT, TEST_PARAMS, UNBONDING, WINDOW, WORKER_FEE
from test_jobmanager_errors import (  # noqa: F401  (_no_trace_printing_on_revert is an autouse fixture)
    BOND, BPS, CHALLENGED, COLLATERAL, FINALIZED, OPEN, PROTOCOL_FEE, _no_trace_printing_on_revert,
    ZERO, deploy_reverts, reverts,
)

MAX_DURATION = 30 * 86400
BY_TIMEOUT, BY_ARBITER = 0, 1
REWARD = COLLATERAL * TEST_PARAMS.slash_challenger_bps // BPS
TO_REQUESTER = COLLATERAL * TEST_PARAMS.slash_requester_bps // BPS
TO_TREASURY = COLLATERAL - REWARD - TO_REQUESTER
BOND_TO_WORKER = BOND * TEST_PARAMS.bond_to_worker_bps // BPS


def mined_at(chain, tx) -> int:
    return chain.blocks[tx.block_number].timestamp


def snapshot(jobs, stake, token, *accounts):
    """Everything money-related the settlement may move."""
    return {
        "credits": {a.address: jobs.creditsOf(a) for a in accounts},
        "stake": stake.stakeOf(accounts[0])[:2],  # accounts[0] is the worker
        "held_stake": token.balanceOf(stake),
        "held_jobs": token.balanceOf(jobs),
        "total_staked": stake.totalStaked(),
    }


# ---------------------------------------------------------------------------------------- open
def test_challenge_opens_a_dispute_with_its_deadline(jobs, game, posted_job, challenger, worker, chain):
    jid = posted_job()
    tx = jobs.challenge(jid, sender=challenger)
    deadline = mined_at(chain, tx) + DISPUTE
    ev = game.DisputeOpened.from_receipt(tx)[0]
    assert (ev.jobId, ev.challenger, ev.worker, ev.deadline) == (jid, challenger.address, worker.address, deadline)
    assert game.disputeOf(jid) == (challenger.address, deadline, True)
    assert game.maxDuration() == DISPUTE and game.JOBS() == jobs.address


def test_open_by_anyone_but_the_job_manager_reverts(game, requester, challenger, worker):
    with reverts(game.NotJobManager, caller=requester.address):
        game.open(1, challenger, worker, sender=requester)
    assert not game.disputeOf(1)[2]


def test_open_twice_for_one_job_reverts(project, owner, accounts, challenger, worker):
    """The JobManager freezes a job before it opens a dispute, so it never opens one twice; the game
    guards anyway. A game whose JobManager is a plain account reaches the guard."""
    manager = accounts[9]
    g = owner.deploy(project.DisputeGame, manager, owner, DISPUTE)
    g.open(7, challenger, worker, sender=manager)
    with reverts(g.DisputeAlreadyOpen, jobId=7):
        g.open(7, worker, worker, sender=manager)
    assert g.disputeOf(7)[0] == challenger.address


# ---------------------------------------------------------------------------------------- arbitrate
def test_arbitrate_needs_the_arbiter_role(jobs, game, posted_job, challenger):
    jid = posted_job()
    jobs.challenge(jid, sender=challenger)
    with reverts(game.AccessControlUnauthorizedAccount, account=challenger.address, neededRole=game.ARBITER_ROLE()):
        game.arbitrate(jid, True, sender=challenger)
    assert jobs.getJob(jid).status == CHALLENGED


def test_challenger_wins_worker_slashed_and_split(jobs, game, stake, token, posted_job, worker, challenger,
                                                  requester, treasury, arbiter):
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
    resolved = game.DisputeResolved.from_receipt(tx)[0]
    assert (resolved.jobId, resolved.challengerWon, resolved.by) == (jid, True, BY_ARBITER)
    settled = jobs.DisputeSettled.from_receipt(tx)[0]
    assert (settled.jobId, settled.challengerWon, settled.slashed, settled.toChallenger) == (
        jid, True, COLLATERAL, BOND + REWARD)
    slashed = stake.Slashed.from_receipt(tx)[0]
    assert (slashed.worker, slashed.amount, slashed.to) == (worker.address, COLLATERAL, jobs.address)
    j = jobs.getJob(jid)
    assert (j.status, j.worker, j.outputRoot) == (OPEN, ZERO, b"\0" * 32)
    assert game.disputeOf(jid)[2] is False and jobs.openDisputes() == 0 and jobs.challengeOf(jid) == (ZERO, 0)


def test_challenger_loses_bond_split_and_job_paid(jobs, game, stake, token, posted_job, worker, challenger,
                                                  requester, treasury, model_owner, arbiter):
    jid = posted_job()
    jobs.challenge(jid, sender=challenger)
    before = snapshot(jobs, stake, token, worker, challenger, requester, treasury, model_owner)
    tx = game.arbitrate(jid, False, sender=arbiter)
    after = snapshot(jobs, stake, token, worker, challenger, requester, treasury, model_owner)
    c0, c1 = before["credits"], after["credits"]
    assert c1[worker.address] == c0[worker.address] + BOND_TO_WORKER + WORKER_FEE
    assert c1[treasury.address] == c0[treasury.address] + (BOND - BOND_TO_WORKER) + PROTOCOL_FEE
    assert c1[model_owner.address] == c0[model_owner.address] + MODEL_FEE
    assert c1[challenger.address] == c0[challenger.address] and c1[requester.address] == c0[requester.address]
    active, locked = before["stake"]
    assert after["stake"] == (active, locked - COLLATERAL)  # collateral released, nothing slashed
    assert (after["held_stake"], after["held_jobs"]) == (before["held_stake"], before["held_jobs"])
    settled = jobs.DisputeSettled.from_receipt(tx)[0]
    assert (settled.challengerWon, settled.slashed, settled.toChallenger) == (False, 0, 0)
    assert game.DisputeResolved.from_receipt(tx)[0].by == BY_ARBITER
    assert len(stake.Slashed.from_receipt(tx)) == 0
    assert jobs.getJob(jid).status == FINALIZED and jobs.getJob(jid).outputRoot == OUTPUT_ROOT


def test_resolve_by_timeout_upholds_the_result(jobs, game, stake, token, posted_job, worker, challenger, treasury,
                                               accounts, chain):
    jid = posted_job()
    jobs.challenge(jid, sender=challenger)
    c_w, c_t, locked = jobs.creditsOf(worker), jobs.creditsOf(treasury), stake.stakeOf(worker)[1]
    chain.pending_timestamp = game.disputeOf(jid)[1] + 1
    tx = game.resolveByTimeout(jid, sender=accounts[9])  # anyone
    ev = game.DisputeResolved.from_receipt(tx)[0]
    assert (ev.jobId, ev.challengerWon, ev.by) == (jid, False, BY_TIMEOUT)
    assert jobs.creditsOf(worker) == c_w + BOND_TO_WORKER + WORKER_FEE
    assert jobs.creditsOf(treasury) == c_t + BOND - BOND_TO_WORKER + PROTOCOL_FEE
    assert jobs.creditsOf(challenger) == 0 and stake.stakeOf(worker)[1] == locked - COLLATERAL
    assert jobs.getJob(jid).status == FINALIZED


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


def test_a_reopened_job_can_be_challenged_again_in_a_new_dispute(jobs, game, posted_job, worker2, challenger,
                                                                 arbiter):
    jid = posted_job()
    jobs.challenge(jid, sender=challenger)
    game.arbitrate(jid, True, sender=arbiter)
    jobs.claim(jid, sender=worker2)
    jobs.post(jid, OUTPUT_ROOT, b"\x02", "", sender=worker2)
    tx = jobs.challenge(jid, sender=challenger)
    assert game.DisputeOpened.from_receipt(tx)[0].worker == worker2.address
    game.arbitrate(jid, False, sender=arbiter)
    assert jobs.getJob(jid).status == FINALIZED and jobs.getJob(jid).worker == worker2.address
    assert jobs.creditsOf(worker2) == WORKER_FEE + BOND_TO_WORKER
    assert jobs.creditsOf(challenger) == BOND + REWARD  # won the first, lost the second bond


# ---------------------------------------------------------------------------------------- duration
def test_set_duration_bounds(game, owner):
    for bad in (0, MAX_DURATION + 1):
        with reverts(game.DurationOutOfBounds, duration=bad):
            game.setDuration(bad, sender=owner)
    longest = UNBONDING - WINDOW - 1  # unbonding must stay strictly above window + duration
    tx = game.setDuration(longest, sender=owner)
    assert game.DurationUpdated.from_receipt(tx)[0].duration == longest == game.maxDuration()


def test_set_duration_that_outgrows_unbonding_reverts(game, jobs, owner):
    with reverts(game.UnbondingTooShort, unbondingDelay=UNBONDING, needed=UNBONDING):
        game.setDuration(UNBONDING - WINDOW, sender=owner)
    with reverts(game.UnbondingTooShort, unbondingDelay=UNBONDING, needed=WINDOW + MAX_DURATION):
        game.setDuration(MAX_DURATION, sender=owner)
    assert game.maxDuration() == DISPUTE and jobs.minUnbondingDelay() == WINDOW + DISPUTE


def test_set_duration_of_a_game_not_in_use_skips_the_unbonding_check(project, jobs, owner):
    spare = owner.deploy(project.DisputeGame, jobs, owner, DISPUTE)
    spare.setDuration(MAX_DURATION, sender=owner)
    assert spare.maxDuration() == MAX_DURATION


def test_set_duration_needs_the_admin_role(game, requester):
    with reverts(game.AccessControlUnauthorizedAccount, account=requester.address,
                 neededRole=game.DEFAULT_ADMIN_ROLE()):
        game.setDuration(DISPUTE + 1, sender=requester)


def test_dispute_game_with_zero_duration_cannot_be_deployed(project, owner, jobs):
    deploy_reverts(owner, project.DisputeGame, "DurationOutOfBounds", jobs, owner, 0, duration=0)


def test_renounce_role_for_another_account_reverts(game, arbiter, owner):
    with reverts(game.AccessControlBadConfirmation):
        game.renounceRole(game.ARBITER_ROLE(), arbiter, sender=owner)
    assert game.hasRole(game.ARBITER_ROLE(), arbiter)
