"""Re-entrancy: a consumer callback or a malicious fee token calling back into the protocol gets nothing.

Each attack is paired with a control showing the same call succeeds from outside the guarded
function, so a pass means the guard stopped it, not some unrelated failure.
"""

import ape
import pytest

from assay.deployer import deploy_stack
from assay.params import DeployConfig
from conftest import (
    GAME,
    DISPUTE, MODEL_FEE, OUTPUT_ROOT, TEST_PARAMS, TOKEN, UNBONDING, WORKER_FEE, model_id_of, request, set_time,
)
from escrow_model import BPS, ModelParams

OPEN, CLAIMED, POSTED, CHALLENGED, FINALIZED = range(1, 6)
PARAMS = ModelParams.from_governance(TEST_PARAMS, dispute_duration=DISPUTE, unbonding_delay=UNBONDING)
PROTOCOL_FEE, TOTAL, COLLATERAL = PARAMS.price(WORKER_FEE, MODEL_FEE)
MAX = 2**256 - 1


# ====================================================================== ReentrantConsumer


@pytest.fixture
def attacker(project, owner, jobs, token, model, chain, requester, worker, staked):
    """A ReentrantConsumer holding 100 tokens and TOTAL credits (from an expired job of its own)."""
    c = project.ReentrantConsumer.deploy(jobs.address, sender=owner)
    token.mint(c.address, 100 * TOKEN, sender=owner)
    c.submit(request(model, chain, callback=True, claimDeadline=chain.pending_timestamp + 5), token, TOTAL,
             sender=requester)
    set_time(chain, chain.pending_timestamp + 10)
    jobs.expire(jobs.jobCount(), sender=requester)
    assert jobs.creditsOf(c) == TOTAL
    return c


def _consumer_posted_job(jobs, token, model, chain, consumer, requester, worker):
    consumer.submit(request(model, chain, callback=True), token, TOTAL, sender=requester)
    jid = jobs.jobCount()
    jobs.claim(jid, sender=worker)
    jobs.post(jid, OUTPUT_ROOT, b"\x01", "", sender=worker)
    return jid


@pytest.mark.parametrize("via", ["finalize", "finalizeJobs", "arbitrate"])
def test_callback_cannot_reenter_finalize_or_withdraw(
    jobs, game, stake, token, model, chain, attacker, requester, worker, challenger, arbiter, via
):
    victim = _consumer_posted_job(jobs, token, model, chain, attacker, requester, worker)
    target = _consumer_posted_job(jobs, token, model, chain, attacker, requester, worker)
    attacker.setTarget(target, sender=requester)
    if via == "arbitrate":
        jobs.challenge(victim, sender=challenger)
    set_time(chain, jobs.getJob(target).deadline + 1)  # both windows are over: target is finalizable
    held, consumer_bal, locked = token.balanceOf(jobs), token.balanceOf(attacker), stake.stakeOf(worker)[1]
    if via == "finalize":
        tx = jobs.finalize(victim, sender=requester)
    elif via == "finalizeJobs":
        tx = jobs.finalizeJobs([victim], sender=requester)
    else:
        tx = game.arbitrate(victim, False, sender=arbiter)
    assert [(e.jobId, e.success) for e in jobs.CallbackResult.from_receipt(tx)] == [(victim, True)]
    assert attacker.reentered() is False
    assert [e.jobId for e in jobs.JobFinalized.from_receipt(tx)] == [victim]
    assert jobs.CreditsWithdrawn.from_receipt(tx) == []
    assert (jobs.getJob(victim).status, jobs.getJob(target).status) == (FINALIZED, POSTED)
    assert jobs.creditsOf(attacker) == TOTAL
    assert (token.balanceOf(jobs), token.balanceOf(attacker)) == (held, consumer_bal)
    assert stake.stakeOf(worker)[1] == locked - COLLATERAL  # only the victim's collateral was released
    # Control: outside a callback, the same calls go through.
    attacker.withdrawCredits(1, sender=requester)
    assert token.balanceOf(attacker) == consumer_bal + 1
    jobs.finalize(target, sender=requester)
    assert jobs.getJob(target).status == FINALIZED


# ====================================================================== ReentrantToken as the fee/stake token


@pytest.fixture(scope="module")
def rstack(project, chain, owner, requester, worker, worker2, arbiter, model_owner):
    """A second stack whose token is a ReentrantToken, which is also its treasury (so it earns credits)."""
    rtok = project.ReentrantToken.deploy(sender=owner)
    cfg = DeployConfig(
        token=rtok.address, treasury=rtok.address, arbiter=arbiter.address,
        unbonding_delay=UNBONDING, game=GAME, params=TEST_PARAMS,
    )
    rec = deploy_stack(project, chain, owner, cfg, network="ethereum:local", local=True, log=lambda _m: None)
    c = rec["contracts"]
    s = {
        "token": rtok,
        "registry": project.ModelRegistry.at(c["ModelRegistry"]["address"]),
        "stake": project.StakeManager.at(c["StakeManager"]["address"]),
        "jobs": project.JobManager.at(c["JobManager"]["address"]),
    }
    assert s["jobs"].TOKEN() == rtok.address and s["stake"].TOKEN() == rtok.address
    s["model"] = model_id_of("model-reentrant")
    s["registry"].registerModel(s["model"], ["ipfs://m"], MODEL_FEE, 2, b"\x11" * 32, b"\x22" * 32, sender=model_owner)
    for a in (requester, worker, worker2):
        rtok.mint(a, 1000 * TOKEN, sender=a)
        rtok.approve(s["jobs"], MAX, sender=a)
        rtok.approve(s["stake"], MAX, sender=a)
    for w in (worker, worker2):
        s["stake"].stake(100 * TOKEN, sender=w)
    # The token as an actor of its own: it approves the protocol from its own address, through its hook.
    rtok.mint(rtok, 100 * TOKEN, sender=owner)
    assert as_token(rtok, owner, rtok, rtok.approve.encode_input(s["jobs"].address, MAX))
    assert as_token(rtok, owner, rtok, rtok.approve.encode_input(s["stake"].address, MAX))
    return s


def as_token(rtok, owner, target, payload):
    """Make the token call target(payload) from its own address, outside any protocol call."""
    rtok.arm(target, payload, sender=owner)
    rtok.transfer(owner, 0, sender=owner)  # any transfer fires the hook
    rtok.arm(ape.utils.ZERO_ADDRESS, b"", sender=owner)
    return rtok.lastCallSucceeded()


def arm(rtok, owner, target, payload):
    rtok.arm(target, payload, sender=owner)
    return rtok.attempts()


def _finalized_job(s, chain, requester, worker):
    jobs = s["jobs"]
    jobs.submit(request(s["model"], chain), sender=requester)
    jid = jobs.jobCount()
    jobs.claim(jid, sender=worker)
    jobs.post(jid, OUTPUT_ROOT, b"\x01", "", sender=worker)
    set_time(chain, jobs.getJob(jid).deadline + 1)
    jobs.finalize(jid, sender=worker)
    return jid


def test_token_cannot_reenter_withdraw_while_credits_are_paid_out(rstack, chain, owner, requester, worker):
    rtok, jobs = rstack["token"], rstack["jobs"]
    _finalized_job(rstack, chain, requester, worker)
    assert (jobs.creditsOf(worker), jobs.creditsOf(rtok)) == (WORKER_FEE, PROTOCOL_FEE)
    assert as_token(rtok, owner, jobs, jobs.withdraw.encode_input(1))  # control: the token may withdraw
    assert jobs.creditsOf(rtok) == PROTOCOL_FEE - 1
    bal_w, bal_t, held = rtok.balanceOf(worker), rtok.balanceOf(rtok), rtok.balanceOf(jobs)
    tries = arm(rtok, owner, jobs, jobs.withdraw.encode_input(1))
    tx = jobs.withdraw(WORKER_FEE, sender=worker)
    assert (rtok.attempts(), rtok.lastCallSucceeded()) == (tries + 1, False)
    assert [(e.account, e.amount) for e in jobs.CreditsWithdrawn.from_receipt(tx)] == [(worker.address, WORKER_FEE)]
    assert rtok.balanceOf(worker) == bal_w + WORKER_FEE
    assert rtok.balanceOf(jobs) == held - WORKER_FEE
    assert rtok.balanceOf(rtok) == bal_t
    assert (jobs.creditsOf(worker), jobs.creditsOf(rtok)) == (0, PROTOCOL_FEE - 1)


def test_token_cannot_reenter_withdraw_while_escrow_is_paid_in(rstack, chain, owner, requester, worker):
    rtok, jobs = rstack["token"], rstack["jobs"]
    _finalized_job(rstack, chain, requester, worker)
    bal_r, bal_t, held = rtok.balanceOf(requester), rtok.balanceOf(rtok), rtok.balanceOf(jobs)
    tries = arm(rtok, owner, jobs, jobs.withdraw.encode_input(PROTOCOL_FEE))
    jobs.submit(request(rstack["model"], chain), sender=requester)
    assert (rtok.attempts(), rtok.lastCallSucceeded()) == (tries + 1, False)
    assert rtok.balanceOf(requester) == bal_r - TOTAL
    assert rtok.balanceOf(jobs) == held + TOTAL
    assert (rtok.balanceOf(rtok), jobs.creditsOf(rtok)) == (bal_t, PROTOCOL_FEE)


def test_token_cannot_reenter_submit_while_escrow_is_paid_in(rstack, chain, owner, requester):
    rtok, jobs = rstack["token"], rstack["jobs"]
    payload = jobs.submit.encode_input(request(rstack["model"], chain))
    count, held, bal_t = jobs.jobCount(), rtok.balanceOf(jobs), rtok.balanceOf(rtok)
    assert as_token(rtok, owner, jobs, payload)  # control: the token may submit a job of its own
    assert (jobs.jobCount(), jobs.getJob(count + 1).requester) == (count + 1, rtok.address)
    assert (rtok.balanceOf(jobs), rtok.balanceOf(rtok)) == (held + TOTAL, bal_t - TOTAL)
    tries = arm(rtok, owner, jobs, payload)
    tx = jobs.submit(request(rstack["model"], chain), sender=requester)
    assert (rtok.attempts(), rtok.lastCallSucceeded()) == (tries + 1, False)
    assert [e.requester for e in jobs.JobSubmitted.from_receipt(tx)] == [requester.address]
    assert jobs.jobCount() == count + 2
    assert (rtok.balanceOf(jobs), rtok.balanceOf(rtok)) == (held + 2 * TOTAL, bal_t - TOTAL)


def _token_unbonds(rstack, owner, amount):
    rtok, stake = rstack["token"], rstack["stake"]
    assert as_token(rtok, owner, stake, stake.stake.encode_input(amount))
    assert as_token(rtok, owner, stake, stake.requestUnstake.encode_input(amount))
    assert stake.stakeOf(rtok)[2] == amount


def test_token_cannot_reenter_stake_withdraw_while_stake_is_paid_out(rstack, chain, owner, worker):
    rtok, stake = rstack["token"], rstack["stake"]
    _token_unbonds(rstack, owner, 5 * TOKEN)
    stake.requestUnstake(10 * TOKEN, sender=worker)
    set_time(chain, max(stake.stakeOf(worker)[3], stake.stakeOf(rtok)[3]))
    bal_w, bal_t, held = rtok.balanceOf(worker), rtok.balanceOf(rtok), rtok.balanceOf(stake)
    tries = arm(rtok, owner, stake, stake.withdraw.encode_input())
    tx = stake.withdraw(sender=worker)
    assert (rtok.attempts(), rtok.lastCallSucceeded()) == (tries + 1, False)
    assert [(e.worker, e.amount) for e in stake.StakeWithdrawn.from_receipt(tx)] == [(worker.address, 10 * TOKEN)]
    assert rtok.balanceOf(worker) == bal_w + 10 * TOKEN
    assert rtok.balanceOf(stake) == held - 10 * TOKEN
    assert (rtok.balanceOf(rtok), stake.stakeOf(rtok)[2]) == (bal_t, 5 * TOKEN)
    assert stake.stakeOf(worker)[2] == 0
    assert stake.totalStaked() == rtok.balanceOf(stake)
    # Control: the token's own unbonded stake comes out when it asks outside a payout.
    assert as_token(rtok, owner, stake, stake.withdraw.encode_input())
    assert (rtok.balanceOf(rtok), stake.stakeOf(rtok)[2]) == (bal_t + 5 * TOKEN, 0)


def test_token_cannot_reenter_stake_withdraw_during_a_slash(rstack, chain, owner, requester, worker):
    rtok, stake, jobs = rstack["token"], rstack["stake"], rstack["jobs"]
    _token_unbonds(rstack, owner, 5 * TOKEN)
    jobs.submit(request(rstack["model"], chain, claimDeadline=chain.pending_timestamp + 5000), sender=requester)
    jid = jobs.jobCount()
    jobs.claim(jid, sender=worker)
    set_time(chain, max(jobs.getJob(jid).deadline, stake.stakeOf(rtok)[3]) + 1)
    active, locked, _, _ = stake.stakeOf(worker)
    held_s, held_j, bal_t = rtok.balanceOf(stake), rtok.balanceOf(jobs), rtok.balanceOf(rtok)
    tries = arm(rtok, owner, stake, stake.withdraw.encode_input())
    jobs.reclaim(jid, sender=requester)
    penalty = COLLATERAL * TEST_PARAMS.liveness_penalty_bps // BPS
    assert (rtok.attempts(), rtok.lastCallSucceeded()) == (tries + 1, False)
    assert stake.stakeOf(worker)[:2] == (active - penalty, locked - COLLATERAL)
    assert (rtok.balanceOf(stake), rtok.balanceOf(jobs)) == (held_s - penalty, held_j + penalty)
    assert (rtok.balanceOf(rtok), stake.stakeOf(rtok)[2]) == (bal_t, 5 * TOKEN)
    assert (jobs.creditsOf(requester), jobs.getJob(jid).status) == (penalty, OPEN)
