"""Attacks on the money: non-standard tokens, re-entrancy through token hooks, front-running,
escaping a slash by unstaking, and governance changes while jobs are in flight.

Every attack checks exact balances before and after, and that the JobManager's books still balance
(tokens held == escrow of unsettled jobs + credits + challenge bonds) and the StakeManager's
(tokens held == totalStaked). Where an attack is expected to be refused, a control shows the same
call succeeding when it is not an attack, so that a pass means the guard worked.
"""

from __future__ import annotations

import pytest
from eth_utils import keccak

from assay.deployer import deploy_stack
from assay.params import DeployConfig
from conftest import (
    DISPUTE, GAME, MODEL_FEE, OUTPUT_ROOT, TEST_PARAMS, TOKEN, UNBONDING, WINDOW, WORKER_FEE, model_id_of,
    request, set_time,
)
from test_jobmanager_errors import (  # noqa: F401  (_no_trace_printing_on_revert is an autouse fixture)
    BOND, CANCELLED, CHALLENGED, CLAIMED, COLLATERAL, FINALIZED, OPEN, POSTED, PROTOCOL_FEE, TOTAL,
    _no_trace_printing_on_revert, params_with, reverts,
)

BPS = 10_000
MAX = 2**256 - 1
PENALTY = COLLATERAL * TEST_PARAMS.liveness_penalty_bps // BPS
REENTRANT = keccak(text="ReentrancyGuardReentrantCall()")[:4]
ESCROWED = (OPEN, CLAIMED, POSTED, CHALLENGED)


def books_balance(token, jobs, stake, accounts, job_ids=None):
    """The JobManager holds exactly escrow + credits + bonds; the StakeManager exactly totalStaked."""
    ids = range(1, jobs.jobCount() + 1) if job_ids is None else job_ids
    escrow = bonds = 0
    for i in ids:
        j = jobs.getJob(i)
        if j.status in ESCROWED:
            escrow += j.workerFee + j.ownerFee + j.protocolFee
        if j.status == CHALLENGED:
            bonds += jobs.challengeOf(i)[1]
    credits = sum(jobs.creditsOf(a) for a in accounts)
    assert token.balanceOf(jobs) == escrow + credits + bonds, "JobManager: tokens != escrow + credits + bonds"
    assert token.balanceOf(stake) == stake.totalStaked(), "StakeManager: tokens != totalStaked"


def _stack_on(project, chain, owner, token, treasury, arbiter, model_owner, name):
    """A second stack on `token`. Its module fixture also takes the session fixtures that send
    transactions (stack, model, staked), so that they run before it: a session fixture first set up
    after a module fixture's transactions is undone with them by ape's end-of-module snapshot restore,
    and every later module would then find no contracts."""
    cfg = DeployConfig(token=token.address, treasury=treasury.address, arbiter=arbiter.address,
                       unbonding_delay=UNBONDING, game=GAME, params=TEST_PARAMS)
    c = deploy_stack(project, chain, owner, cfg, network="ethereum:local", local=True, log=lambda _m: None)["contracts"]
    s = {"token": token, "jobs": project.JobManager.at(c["JobManager"]["address"]),
         "stake": project.StakeManager.at(c["StakeManager"]["address"]),
         "game": project.DisputeGame.at(c["DisputeGame"]["address"]), "model": model_id_of(name)}
    registry = project.ModelRegistry.at(c["ModelRegistry"]["address"])
    registry.registerModel(s["model"], ["ipfs://m"], MODEL_FEE, 2, b"\x11" * 32, b"\x22" * 32, sender=model_owner)
    assert s["jobs"].TOKEN() == token.address == s["stake"].TOKEN()
    return s


def _fund(s, *actors):
    tok = s["token"]
    for a in actors:
        tok.mint(a, 1000 * TOKEN, sender=a)
        tok.approve(s["jobs"], MAX, sender=a)
        tok.approve(s["stake"], MAX, sender=a)


# ====================================================================== non-standard tokens


@pytest.fixture(scope="module")
def false_stack(stack, model, staked, project, chain, owner, requester, worker, treasury, arbiter, model_owner):
    s = _stack_on(project, chain, owner, project.FalseReturningToken.deploy(sender=owner), treasury, arbiter,
                  model_owner, "model-false")
    _fund(s, requester, worker)
    s["stake"].stake(100 * TOKEN, sender=worker)
    return s


def test_token_returning_false_fails_every_transfer_with_safe_erc20_failed_operation(false_stack, chain, owner,
                                                                                    requester, worker):
    tok, jobs, stake = false_stack["token"], false_stack["jobs"], false_stack["stake"]
    tok.setFailing(True, sender=owner)
    bal_r, bal_w, held_j, held_s = (tok.balanceOf(requester), tok.balanceOf(worker), tok.balanceOf(jobs),
                                    tok.balanceOf(stake))
    with reverts(jobs.SafeERC20FailedOperation, token=tok.address):
        jobs.submit(request(false_stack["model"], chain), sender=requester)
    with reverts(stake.SafeERC20FailedOperation, token=tok.address):
        stake.stake(TOKEN, sender=worker)
    assert (jobs.jobCount(), stake.stakeOf(worker)[0]) == (0, 100 * TOKEN)
    # Control: the same calls go through once the token transfers again; credits accrue.
    tok.setFailing(False, sender=owner)
    jobs.submit(request(false_stack["model"], chain), sender=requester)
    jobs.cancel(1, sender=requester)
    assert (jobs.creditsOf(requester), tok.balanceOf(jobs)) == (TOTAL, held_j + TOTAL)
    # A payout the token refuses is undone: the credits stay, nothing is lost.
    tok.setFailing(True, sender=owner)
    with reverts(jobs.SafeERC20FailedOperation, token=tok.address):
        jobs.withdraw(TOTAL, sender=requester)
    assert (jobs.creditsOf(requester), tok.balanceOf(jobs), tok.balanceOf(requester)) == (TOTAL, TOTAL, bal_r - TOTAL)
    stake.requestUnstake(10 * TOKEN, sender=worker)
    set_time(chain, stake.stakeOf(worker)[3])
    with reverts(stake.SafeERC20FailedOperation, token=tok.address):
        stake.withdraw(sender=worker)
    assert stake.stakeOf(worker)[2] == 10 * TOKEN and tok.balanceOf(stake) == held_s
    tok.setFailing(False, sender=owner)
    jobs.withdraw(TOTAL, sender=requester)
    stake.withdraw(sender=worker)
    assert (tok.balanceOf(requester), tok.balanceOf(worker)) == (bal_r, bal_w + 10 * TOKEN)
    assert (tok.balanceOf(jobs), tok.balanceOf(stake)) == (0, held_s - 10 * TOKEN)
    books_balance(tok, jobs, stake, [requester, worker])


def test_token_without_return_values_runs_a_whole_job(project, chain, owner, requester, worker, challenger, treasury,
                                                      arbiter, model_owner):
    tok = project.NoReturnToken.deploy(sender=owner)
    s = _stack_on(project, chain, owner, tok, treasury, arbiter, model_owner, "model-noreturn")
    jobs, stake = s["jobs"], s["stake"]
    _fund(s, requester, worker, challenger)
    stake.stake(100 * TOKEN, sender=worker)
    assert (tok.balanceOf(stake), stake.stakeOf(worker)[0]) == (100 * TOKEN, 100 * TOKEN)
    for _ in range(2):
        jobs.submit(request(s["model"], chain), sender=requester)
        jobs.claim(jobs.jobCount(), sender=worker)
        jobs.post(jobs.jobCount(), OUTPUT_ROOT, b"\x01", "", sender=worker)
    assert (tok.balanceOf(requester), tok.balanceOf(jobs)) == (1000 * TOKEN - 2 * TOTAL, 2 * TOTAL)
    jobs.challenge(2, sender=challenger)
    assert (tok.balanceOf(challenger), tok.balanceOf(jobs)) == (1000 * TOKEN - BOND, 2 * TOTAL + BOND)
    s["game"].arbitrate(2, True, sender=arbiter)  # the slash moves tokens StakeManager -> JobManager
    set_time(chain, jobs.getJob(1).deadline + 1)
    jobs.finalize(1, sender=worker)
    reward = COLLATERAL * TEST_PARAMS.slash_challenger_bps // BPS
    assert tok.balanceOf(stake) == 100 * TOKEN - COLLATERAL
    books_balance(tok, jobs, stake, [requester, worker, challenger, model_owner, treasury])
    jobs.withdraw(WORKER_FEE, sender=worker)
    jobs.withdraw(BOND + reward, sender=challenger)
    assert tok.balanceOf(worker) == 900 * TOKEN + WORKER_FEE
    assert tok.balanceOf(challenger) == 1000 * TOKEN + reward
    stake.requestUnstake(100 * TOKEN - COLLATERAL, sender=worker)
    set_time(chain, stake.stakeOf(worker)[3])
    stake.withdraw(sender=worker)
    assert (tok.balanceOf(worker), tok.balanceOf(stake)) == (1000 * TOKEN + WORKER_FEE - COLLATERAL, 0)
    books_balance(tok, jobs, stake, [requester, worker, challenger, model_owner, treasury])


@pytest.fixture(scope="module")
def fot_stack(stack, model, staked, project, chain, owner, requester, worker, challenger, treasury, arbiter,
              model_owner):
    """A stack on a FeeOnTransferToken whose fee is 0 until a test switches it on."""
    s = _stack_on(project, chain, owner, project.FeeOnTransferToken.deploy(0, sender=owner), treasury, arbiter,
                  model_owner, "model-fot2")
    _fund(s, requester, worker, challenger)
    s["stake"].stake(100 * TOKEN, sender=worker)
    return s


def test_fee_switched_on_later_refuses_deposits_and_keeps_payouts_backed(fot_stack, chain, owner, requester, worker):
    tok, jobs, stake = fot_stack["token"], fot_stack["jobs"], fot_stack["stake"]
    jobs.submit(request(fot_stack["model"], chain), sender=requester)
    jobs.cancel(1, sender=requester)
    stake.requestUnstake(10 * TOKEN, sender=worker)
    tok.setFee(100, sender=owner)  # 1% from now on
    with reverts(jobs.TransferShortfall, expected=TOTAL, received=TOTAL - TOTAL // 100):
        jobs.submit(request(fot_stack["model"], chain), sender=requester)
    with reverts(stake.TransferShortfall, expected=TOKEN, received=TOKEN - TOKEN // 100):
        stake.stake(TOKEN, sender=worker)
    # Payouts: each contract's balance falls by exactly what it owes; the recipient bears the fee.
    bal_r, bal_w, held_s = tok.balanceOf(requester), tok.balanceOf(worker), tok.balanceOf(stake)
    jobs.withdraw(TOTAL, sender=requester)
    assert (tok.balanceOf(jobs), tok.balanceOf(requester)) == (0, bal_r + TOTAL - TOTAL // 100)
    set_time(chain, stake.stakeOf(worker)[3])
    stake.withdraw(sender=worker)
    assert (tok.balanceOf(stake), tok.balanceOf(worker)) == (held_s - 10 * TOKEN, bal_w + 10 * TOKEN - TOKEN // 10)
    books_balance(tok, jobs, stake, [requester, worker])


@pytest.mark.xfail(strict=True, reason=(
    "a slash moves tokens StakeManager -> JobManager and the JobManager credits the full slash before "
    "the transfer: a token that starts charging a fee after deployment (USDT can) leaves the JobManager "
    "short by the fee. Fix: credit the shares of what actually arrived (balance delta around slash), or "
    "deploy only on tokens without a fee switch (docs/reliability-contracts.md)"))
def test_slash_after_a_fee_is_switched_on_keeps_the_job_manager_backed(fot_stack, chain, owner, requester, worker):
    tok, jobs, stake = fot_stack["token"], fot_stack["jobs"], fot_stack["stake"]
    jobs.submit(request(fot_stack["model"], chain), sender=requester)
    jobs.claim(1, sender=worker)
    tok.setFee(100, sender=owner)
    set_time(chain, jobs.getJob(1).deadline + 1)
    jobs.reclaim(1, sender=requester)  # the liveness penalty is slashed into the JobManager
    assert jobs.creditsOf(requester) == PENALTY
    books_balance(tok, jobs, stake, [requester, worker])


# ====================================================================== re-entrancy through token hooks


@pytest.fixture(scope="module")
def hook_stack(stack, model, staked, project, chain, owner, requester, worker, challenger, treasury, arbiter,
               model_owner):
    """A stack on a HookToken (ERC777-style hooks: the sender is called *before* its balance moves) and an
    attacker contract, registered for hooks, holding 1000 tokens, approved and staked (50 tokens)."""
    tok = project.HookToken.deploy(sender=owner)
    s = _stack_on(project, chain, owner, tok, treasury, arbiter, model_owner, "model-hook")
    _fund(s, requester, worker, challenger)
    s["stake"].stake(100 * TOKEN, sender=worker)
    atk = project.HookAttacker.deploy(sender=owner)
    tok.mint(atk, 1000 * TOKEN, sender=owner)
    for c in (s["jobs"], s["stake"]):
        atk.exec(tok, tok.approve.encode_input(c.address, MAX), sender=owner)
    atk.exec(s["stake"], s["stake"].stake.encode_input(50 * TOKEN), sender=owner)
    atk.exec(tok, tok.register.encode_input(), sender=owner)
    assert tok.hooked(atk)
    s["attacker"] = atk
    return s


def _as(s, owner, contract, call, *args):
    """The attacker contract makes `contract.call(*args)`."""
    return s["attacker"].exec(contract, getattr(contract, call).encode_input(*args), sender=owner)


def _arm(s, owner, contract, call, *args, on_send=True):
    atk = s["attacker"]
    atk.arm(contract, getattr(contract, call).encode_input(*args), on_send, sender=owner)
    return atk.attempts()


def _credited(s, owner, chain, n):
    """The attacker submits and cancels n jobs: n * TOTAL credits."""
    jobs = s["jobs"]
    for _ in range(n):
        _as(s, owner, jobs, "submit", request(s["model"], chain))
        _as(s, owner, jobs, "cancel", jobs.jobCount())


@pytest.mark.parametrize("reenter", ["submit", "withdraw"])
def test_hook_before_escrow_arrives_cannot_reenter_submit_or_withdraw(hook_stack, chain, owner, requester, reenter):
    s, tok, jobs, atk = hook_stack, hook_stack["token"], hook_stack["jobs"], hook_stack["attacker"]
    _credited(s, owner, chain, 1)
    count, held, bal = jobs.jobCount(), tok.balanceOf(jobs), tok.balanceOf(atk)
    args = (request(s["model"], chain),) if reenter == "submit" else (TOTAL,)
    tries = _arm(s, owner, jobs, reenter, *args)
    _as(s, owner, jobs, "submit", request(s["model"], chain))
    assert (atk.attempts(), atk.lastCallSucceeded(), atk.lastRevertData()) == (tries + 1, False, REENTRANT)
    assert jobs.jobCount() == count + 1  # only the outer submit
    assert (tok.balanceOf(jobs), tok.balanceOf(atk), jobs.creditsOf(atk)) == (held + TOTAL, bal - TOTAL, TOTAL)
    books_balance(tok, jobs, s["stake"], [atk, requester])
    # Control: outside the hook the same call succeeds.
    _as(s, owner, jobs, reenter, *args)
    assert jobs.jobCount() == count + 1 + (reenter == "submit")
    assert jobs.creditsOf(atk) == (TOTAL if reenter == "submit" else 0)


@pytest.mark.parametrize("reenter", ["cancel", "claim"])
def test_hook_before_escrow_arrives_may_cancel_or_claim_the_new_job_but_gains_nothing(hook_stack, chain, owner,
                                                                                     reenter):
    """cancel and claim move no tokens and are not guarded: re-entered before the escrow has arrived they
    act on a job whose escrow arrives later in the same transaction (or the whole transaction reverts)."""
    s, tok, jobs, stake, atk = hook_stack, hook_stack["token"], hook_stack["jobs"], hook_stack["stake"], \
        hook_stack["attacker"]
    jid = jobs.jobCount() + 1
    held, bal, (active, locked, _, _) = tok.balanceOf(jobs), tok.balanceOf(atk), stake.stakeOf(atk)
    tries = _arm(s, owner, jobs, reenter, jid)
    _as(s, owner, jobs, "submit", request(s["model"], chain))
    assert (atk.attempts(), atk.lastCallSucceeded()) == (tries + 1, True)
    assert (tok.balanceOf(jobs), tok.balanceOf(atk)) == (held + TOTAL, bal - TOTAL)
    books_balance(tok, jobs, stake, [atk])
    if reenter == "cancel":
        assert (jobs.getJob(jid).status, jobs.creditsOf(atk)) == (CANCELLED, TOTAL)
        _as(s, owner, jobs, "withdraw", TOTAL)
        assert (tok.balanceOf(atk), tok.balanceOf(jobs)) == (bal, held)  # back where it started, no more
    else:
        assert (jobs.getJob(jid).status, jobs.getJob(jid).worker) == (CLAIMED, atk.address)
        assert stake.stakeOf(atk)[:2] == (active, locked + COLLATERAL)  # it locked collateral like any worker
        assert jobs.creditsOf(atk) == 0


def test_hook_on_receiving_credits_cannot_withdraw_them_twice(hook_stack, chain, owner):
    s, tok, jobs, atk = hook_stack, hook_stack["token"], hook_stack["jobs"], hook_stack["attacker"]
    _credited(s, owner, chain, 2)
    held, bal = tok.balanceOf(jobs), tok.balanceOf(atk)
    tries = _arm(s, owner, jobs, "withdraw", TOTAL, on_send=False)
    _as(s, owner, jobs, "withdraw", TOTAL)
    assert (atk.attempts(), atk.lastCallSucceeded(), atk.lastRevertData()) == (tries + 1, False, REENTRANT)
    assert (tok.balanceOf(jobs), tok.balanceOf(atk), jobs.creditsOf(atk)) == (held - TOTAL, bal + TOTAL, TOTAL)
    books_balance(tok, jobs, s["stake"], [atk])


@pytest.mark.parametrize("reenter", ["challenge", "withdraw"])
def test_hook_before_a_bond_arrives_cannot_reenter_challenge_or_withdraw(hook_stack, chain, owner, requester, worker,
                                                                         reenter):
    s, tok, jobs, atk = hook_stack, hook_stack["token"], hook_stack["jobs"], hook_stack["attacker"]
    _credited(s, owner, chain, 1)
    ids = []
    for _ in range(2):
        jobs.submit(request(s["model"], chain), sender=requester)
        ids.append(jobs.jobCount())
        jobs.claim(ids[-1], sender=worker)
        jobs.post(ids[-1], OUTPUT_ROOT, b"\x01", "", sender=worker)
    held, bal = tok.balanceOf(jobs), tok.balanceOf(atk)
    tries = _arm(s, owner, jobs, reenter, *((ids[1],) if reenter == "challenge" else (TOTAL,)))
    _as(s, owner, jobs, "challenge", ids[0])
    assert (atk.attempts(), atk.lastCallSucceeded(), atk.lastRevertData()) == (tries + 1, False, REENTRANT)
    assert [jobs.getJob(i).status for i in ids] == [CHALLENGED, POSTED]
    assert jobs.challengeOf(ids[0]) == (atk.address, BOND)
    assert (tok.balanceOf(jobs), tok.balanceOf(atk), jobs.creditsOf(atk)) == (held + BOND, bal - BOND, TOTAL)
    books_balance(tok, jobs, s["stake"], [atk, requester, worker])


def test_hook_before_stake_arrives_may_unbond_it_but_gains_nothing(hook_stack, chain, owner):
    s, tok, stake, atk = hook_stack, hook_stack["token"], hook_stack["stake"], hook_stack["attacker"]
    held, bal, total = tok.balanceOf(stake), tok.balanceOf(atk), stake.totalStaked()
    tries = _arm(s, owner, stake, "requestUnstake", 60 * TOKEN)  # more than it had before this stake
    _as(s, owner, stake, "stake", 10 * TOKEN)
    assert (atk.attempts(), atk.lastCallSucceeded()) == (tries + 1, True)
    active, locked, pending, unlock_at = stake.stakeOf(atk)
    assert (active, locked, pending) == (0, 0, 60 * TOKEN)
    assert (tok.balanceOf(stake), stake.totalStaked(), tok.balanceOf(atk)) == (held + 10 * TOKEN, total + 10 * TOKEN,
                                                                              bal - 10 * TOKEN)
    with reverts(stake.UnbondingNotOver, worker=atk.address, unlockAt=unlock_at):
        _as(s, owner, stake, "withdraw")
    # A second hook, during the next stake, tries to take the matured stake out mid-transfer: refused.
    set_time(chain, unlock_at)
    tries = _arm(s, owner, stake, "withdraw")
    _as(s, owner, stake, "stake", TOKEN)
    assert (atk.attempts(), atk.lastCallSucceeded(), atk.lastRevertData()) == (tries + 1, False, REENTRANT)
    _as(s, owner, stake, "withdraw")
    assert tok.balanceOf(atk) == bal - TOKEN + 50 * TOKEN  # it got back the 60 it unbonded and nothing more
    assert stake.stakeOf(atk)[:3] == (TOKEN, 0, 0)
    assert tok.balanceOf(stake) == stake.totalStaked() == total - 50 * TOKEN + TOKEN


# ====================================================================== front-running


def test_front_running_a_claim_moves_no_money_from_the_loser(jobs, stake, token, make_job, worker, worker2,
                                                              requester, chain):
    jid, other = make_job(), make_job()
    before_w, bal_w = stake.stakeOf(worker), token.balanceOf(worker)
    jobs.claim(jid, sender=worker2)  # the front-runner's copy of worker's claim lands first
    with reverts(jobs.JobNotOpen, jobId=jid, status=CLAIMED):
        jobs.claim(jid, sender=worker)
    assert (stake.stakeOf(worker), token.balanceOf(worker)) == (before_w, bal_w)
    tx = jobs.claimJobs([jid, other], sender=worker)  # a batch skips what was taken
    assert tx.return_value == [False, True]
    assert stake.stakeOf(worker)[1] == before_w[1] + COLLATERAL
    # The front-runner holds a lease, not money: if it does not deliver it pays, and the job reopens.
    assert (jobs.creditsOf(worker2), stake.stakeOf(worker2)[1]) == (0, COLLATERAL)
    set_time(chain, jobs.getJob(jid).deadline + 1)
    active2 = stake.stakeOf(worker2)[0]
    jobs.reclaim(jid, sender=requester)
    assert stake.stakeOf(worker2)[:2] == (active2 - PENALTY, 0)
    assert (jobs.creditsOf(requester), jobs.creditsOf(worker2), jobs.getJob(jid).status) == (PENALTY, 0, OPEN)


def test_copying_a_result_into_a_post_gives_the_copier_nothing(jobs, stake, claimed_job, worker, worker2, chain,
                                                               accounts):
    jid = claimed_job()
    # Front-running the worker's post with the same root (seen in the mempool): only the claimant may post.
    with reverts(jobs.NotJobWorker, jobId=jid, caller=worker2.address, worker=worker.address):
        jobs.post(jid, OUTPUT_ROOT, b"\x01", "", sender=worker2)
    jobs.post(jid, OUTPUT_ROOT, b"\x01", "", sender=worker)
    with reverts(jobs.JobNotClaimed, jobId=jid, status=POSTED):
        jobs.post(jid, OUTPUT_ROOT, b"\x01", "", sender=worker2)
    # Front-running the finalize: the caller gets nothing, the worker its fee; a second finalize reverts.
    keeper = accounts[9]
    set_time(chain, jobs.getJob(jid).deadline + 1)
    jobs.finalize(jid, sender=keeper)
    with reverts(jobs.JobNotPosted, jobId=jid, status=FINALIZED):
        jobs.finalize(jid, sender=worker)
    assert (jobs.creditsOf(worker), jobs.creditsOf(worker2), jobs.creditsOf(keeper)) == (WORKER_FEE, 0, 0)


def test_front_running_a_challenge_costs_the_second_challenger_nothing(jobs, game, token, posted_job, challenger,
                                                                      requester, arbiter, accounts):
    jid = posted_job()
    bal_c, bal_r, held = token.balanceOf(challenger), token.balanceOf(requester), token.balanceOf(jobs)
    jobs.challenge(jid, sender=requester)
    with reverts(jobs.JobNotPosted, jobId=jid, status=CHALLENGED):
        jobs.challenge(jid, sender=challenger)
    assert (token.balanceOf(challenger), token.balanceOf(requester)) == (bal_c, bal_r - BOND)
    assert token.balanceOf(jobs) == held + BOND and jobs.challengeOf(jid) == (requester.address, BOND)
    game.arbitrate(jid, True, sender=arbiter)
    assert jobs.creditsOf(challenger) == 0  # the reward goes to whoever bonded, once


# ====================================================================== escaping a slash by unstaking


@pytest.mark.parametrize("delay", [UNBONDING, WINDOW + DISPUTE + 1], ids=["default-delay", "shortest-delay"])
def test_unbonding_right_after_a_claim_cannot_save_the_collateral_from_a_slash(jobs, stake, game, token, make_job,
                                                                              worker, challenger, arbiter, owner,
                                                                              chain, delay):
    stake.setUnbondingDelay(delay, sender=owner)
    jid = make_job()
    jobs.claim(jid, sender=worker)
    active = stake.stakeOf(worker)[0]
    free = active - COLLATERAL
    stake.requestUnstake(free, sender=worker)  # everything it may: the collateral stays locked
    unlock_at = stake.stakeOf(worker)[3]
    with reverts(stake.InsufficientFreeStake, worker=worker.address, free=0, needed=1):
        stake.requestUnstake(1, sender=worker)
    # The latest a dispute can end: post at the lease end, challenge at the window end.
    set_time(chain, jobs.getJob(jid).deadline)
    jobs.post(jid, OUTPUT_ROOT, b"\x01", "", sender=worker)
    set_time(chain, jobs.getJob(jid).deadline)
    jobs.challenge(jid, sender=challenger)
    dispute_end = game.disputeOf(jid)[1]
    # The withdrawal is tried one second before the dispute's last moment, and the slash lands at that
    # moment (a reverted withdrawal may be mined and take a block: the slash gets its own timestamp).
    t_withdraw = dispute_end - 1
    set_time(chain, t_withdraw)
    bal = token.balanceOf(worker)
    if unlock_at > t_withdraw:
        with reverts(stake.UnbondingNotOver, worker=worker.address, unlockAt=unlock_at):
            stake.withdraw(sender=worker)
    else:  # the free part may leave early; it was never at stake
        stake.withdraw(sender=worker)
        assert token.balanceOf(worker) == bal + free
    assert stake.stakeOf(worker)[:2] == (COLLATERAL, COLLATERAL)
    held = token.balanceOf(stake)
    set_time(chain, dispute_end)
    tx = game.arbitrate(jid, True, sender=arbiter)
    assert [(e.worker, e.amount) for e in stake.Slashed.from_receipt(tx)] == [(worker.address, COLLATERAL)]
    assert stake.stakeOf(worker)[:2] == (0, 0) and token.balanceOf(stake) == held - COLLATERAL
    set_time(chain, max(unlock_at, chain.pending_timestamp))
    if unlock_at > t_withdraw:
        stake.withdraw(sender=worker)
    assert token.balanceOf(worker) == bal + free  # the free stake, never the collateral
    assert token.balanceOf(stake) == stake.totalStaked()


def test_unbonding_during_a_lease_cannot_save_the_collateral_from_the_liveness_penalty(jobs, stake, token, make_job,
                                                                                       worker, requester, chain):
    jid = make_job()
    jobs.claim(jid, sender=worker)
    active = stake.stakeOf(worker)[0]
    stake.requestUnstake(active - COLLATERAL, sender=worker)
    set_time(chain, jobs.getJob(jid).deadline + 1)
    jobs.reclaim(jid, sender=requester)
    assert stake.stakeOf(worker)[:3] == (COLLATERAL - PENALTY, 0, active - COLLATERAL)
    assert jobs.creditsOf(requester) == PENALTY
    assert token.balanceOf(stake) == stake.totalStaked()


# ====================================================================== governance changes in flight


def test_parameter_changes_mid_job_never_move_escrow_away_from_its_parties(jobs, game, stake, token, make_job, worker,
                                                                           worker2, challenger, requester,
                                                                           model_owner, treasury, arbiter, owner,
                                                                           accounts, chain):
    """Jobs in every live state; then governance turns every parameter against them (protocol fee and
    collateral at their upper bound, a 25x bond, lease and window 1 s, the whole liveness penalty, the whole
    slash and lost bond to a new treasury). Fees, collateral and bonds already escrowed do not move; deadlines
    already running do not move; the splits read at settlement (penalty, slash, bond shares, treasury)
    never take more than the collateral or bond they split."""
    open_job, claimed, late, posted, disputed = (make_job() for _ in range(5))
    for jid in (claimed, late):
        jobs.claim(jid, sender=worker)
    for jid in (posted, disputed):
        jobs.claim(jid, sender=worker2)
        jobs.post(jid, OUTPUT_ROOT, b"\x01", "", sender=worker2)
    jobs.challenge(disputed, sender=challenger)
    before = {jid: jobs.getJob(jid) for jid in (open_job, claimed, late, posted, disputed)}
    new_treasury = accounts[9]
    jobs.setParams(params_with(
        jobs, leaseDuration=1, challengeWindow=1, protocolFeeBps=2000, livenessPenaltyBps=BPS, slashChallengerBps=0,
        slashRequesterBps=0, bondToWorkerBps=0, collateralBps=1_000_000, minCollateral=50 * TOKEN,
        challengeBond=50 * TOKEN, treasury=new_treasury.address), sender=owner)
    for jid, j in before.items():
        now = jobs.getJob(jid)
        assert (now.workerFee, now.ownerFee, now.protocolFee, now.collateral, now.deadline, now.status) == (
            j.workerFee, j.ownerFee, j.protocolFee, j.collateral, j.deadline, j.status), f"job {jid} changed"
    assert jobs.challengeOf(disputed) == (challenger.address, BOND)
    held = token.balanceOf(jobs)
    # Open: the requester takes back exactly what it paid.
    jobs.cancel(open_job, sender=requester)
    assert jobs.creditsOf(requester) == TOTAL
    # Claimed: the lease granted before the change still runs to its end.
    set_time(chain, before[claimed].deadline)
    jobs.post(claimed, OUTPUT_ROOT, b"\x01", "", sender=worker)
    assert jobs.getJob(claimed).deadline == before[claimed].deadline + 1  # the window in force at post
    # A lease that runs out costs at most the collateral fixed at submit, even at a 100% penalty.
    active = stake.stakeOf(worker)[0]
    set_time(chain, before[late].deadline + 1)
    jobs.reclaim(late, sender=requester)
    assert stake.stakeOf(worker)[0] == active - COLLATERAL
    assert jobs.creditsOf(requester) == TOTAL + COLLATERAL
    # Posted: paid the fees fixed at submit; the protocol fee to the treasury in force.
    set_time(chain, max(chain.pending_timestamp, before[posted].deadline + 1, jobs.getJob(claimed).deadline + 1))
    assert jobs.finalizeJobs([posted, claimed], sender=requester).return_value == [True, True]
    assert jobs.creditsOf(worker2) == WORKER_FEE and jobs.creditsOf(worker) == WORKER_FEE
    assert jobs.creditsOf(model_owner) == 2 * MODEL_FEE
    assert (jobs.creditsOf(new_treasury), jobs.creditsOf(treasury)) == (2 * PROTOCOL_FEE, 0)
    # Challenged: the winner gets its escrowed bond back; the slash split in force sends the whole
    # collateral to the treasury, and never more than the collateral leaves the worker's stake.
    active2 = stake.stakeOf(worker2)[0]
    game.arbitrate(disputed, True, sender=arbiter)
    assert jobs.creditsOf(challenger) == BOND
    assert jobs.creditsOf(new_treasury) == 2 * PROTOCOL_FEE + COLLATERAL
    assert stake.stakeOf(worker2)[:2] == (active2 - COLLATERAL, 0)
    assert jobs.getJob(disputed).status == OPEN and jobs.getJob(late).status == OPEN
    # Nothing was created or lost: the JobManager gained exactly the two slashes.
    assert token.balanceOf(jobs) == held + 2 * COLLATERAL
    books_balance(token, jobs, stake, [requester, worker, worker2, challenger, model_owner, treasury, new_treasury])


def test_bond_raised_mid_dispute_keeps_the_escrowed_bond_and_splits_it_by_the_share_in_force(
        jobs, game, token, posted_job, challenger, worker, treasury, owner, chain):
    jid = posted_job()
    jobs.challenge(jid, sender=challenger)
    jobs.setParams(params_with(jobs, challengeBond=40 * TOKEN, bondToWorkerBps=BPS), sender=owner)
    bal = token.balanceOf(challenger)
    set_time(chain, game.disputeOf(jid)[1] + 1)
    game.resolveByTimeout(jid, sender=worker)  # the arbiter never decided: the result stands
    # The challenger loses only the bond it escrowed; its split follows the share in force (all to the worker).
    assert token.balanceOf(challenger) == bal
    assert jobs.creditsOf(worker) == WORKER_FEE + BOND and jobs.creditsOf(challenger) == 0
    assert jobs.creditsOf(treasury) == PROTOCOL_FEE
    assert jobs.getJob(jid).status == FINALIZED
