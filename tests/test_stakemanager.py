"""StakeManager: staking, unbonding and withdrawal with exact balances, collateral locks and slashes
(OPERATOR_ROLE only), the unbonding delay's bounds and every StakeManager error.

What the contract does about "pending withdrawals stay slashable" (docs: PROTOCOL.md §3): it does not
slash pending stake. `slash` takes from the *locked* collateral of a job, and `requestUnstake` only
moves *free* stake (active - locked) to pending, so the collateral of every claimed job stays in the
active stake until the job is finalized, reopened or slashed. A worker therefore cannot escape a slash
by unstaking first (test_worker_cannot_escape_a_slash_by_unstaking_first); every penalty of the
protocol (liveness penalty, dispute slash) is at most the job's collateral.
"""

from __future__ import annotations

import pytest

from conftest import DISPUTE, TEST_PARAMS, TOKEN, UNBONDING, WINDOW
from test_jobmanager_errors import (  # noqa: F401  (_no_trace_printing_on_revert is an autouse fixture)
    COLLATERAL, ZERO, _no_trace_printing_on_revert, deploy_reverts, inner_reverts, reverts,
)

MAX_DELAY = 90 * 86400


def mined_at(chain, tx) -> int:
    return chain.blocks[tx.block_number].timestamp


@pytest.fixture
def operator(accounts, stake, owner):
    """A plain account given OPERATOR_ROLE, to reach the lock/unlock/slash guards directly."""
    op = accounts[8]
    stake.grantRole(stake.OPERATOR_ROLE(), op, sender=owner)
    return op


# ---------------------------------------------------------------------------------------- stake / unstake / withdraw
def test_stake_pulls_tokens_and_adds_to_active(stake, token, worker, funded):
    # Session fixtures may already have staked for this worker: work relative to what is there.
    bal, held, total = token.balanceOf(worker), token.balanceOf(stake), stake.totalStaked()
    active = stake.stakeOf(worker)[0]
    tx = stake.stake(5 * TOKEN, sender=worker)
    assert token.balanceOf(worker) == bal - 5 * TOKEN and token.balanceOf(stake) == held + 5 * TOKEN
    assert stake.stakeOf(worker) == (active + 5 * TOKEN, 0, 0, 0) and stake.freeStake(worker) == active + 5 * TOKEN
    assert stake.totalStaked() == total + 5 * TOKEN
    ev = stake.Staked.from_receipt(tx)[0]
    assert (ev.worker, ev.amount, ev.active) == (worker.address, 5 * TOKEN, active + 5 * TOKEN)
    tx = stake.stake(3 * TOKEN, sender=worker)
    assert stake.Staked.from_receipt(tx)[0].active == active + 8 * TOKEN == stake.stakeOf(worker)[0]


def test_request_unstake_moves_free_stake_to_pending_and_restarts_the_clock(stake, token, worker, chain, staked):
    held, total = token.balanceOf(stake), stake.totalStaked()
    tx = stake.requestUnstake(30 * TOKEN, sender=worker)
    unlock_at = mined_at(chain, tx) + UNBONDING
    assert stake.stakeOf(worker) == (70 * TOKEN, 0, 30 * TOKEN, unlock_at)
    ev = stake.UnstakeRequested.from_receipt(tx)[0]
    assert (ev.worker, ev.amount, ev.pending, ev.unlockAt) == (worker.address, 30 * TOKEN, 30 * TOKEN, unlock_at)
    assert token.balanceOf(stake) == held and stake.totalStaked() == total  # still owed, still here
    chain.pending_timestamp = unlock_at - 10
    tx = stake.requestUnstake(20 * TOKEN, sender=worker)
    later = mined_at(chain, tx) + UNBONDING
    assert stake.stakeOf(worker) == (50 * TOKEN, 0, 50 * TOKEN, later)  # the whole pending amount waits again
    with reverts(stake.UnbondingNotOver, worker=worker.address, unlockAt=later):
        stake.withdraw(sender=worker)


def test_withdraw_pays_out_the_pending_amount(stake, token, worker, chain, staked):
    tx = stake.requestUnstake(40 * TOKEN, sender=worker)
    chain.pending_timestamp = mined_at(chain, tx) + UNBONDING
    bal, held, total = token.balanceOf(worker), token.balanceOf(stake), stake.totalStaked()
    tx = stake.withdraw(sender=worker)
    assert tx.return_value == 40 * TOKEN
    assert token.balanceOf(worker) == bal + 40 * TOKEN and token.balanceOf(stake) == held - 40 * TOKEN
    assert stake.totalStaked() == total - 40 * TOKEN
    assert stake.stakeOf(worker) == (60 * TOKEN, 0, 0, 0)
    ev = stake.StakeWithdrawn.from_receipt(tx)[0]
    assert (ev.worker, ev.amount) == (worker.address, 40 * TOKEN)
    with reverts(stake.NothingToWithdraw, worker=worker.address):
        stake.withdraw(sender=worker)


def test_withdraw_with_nothing_pending_reverts(stake, worker, staked):
    with reverts(stake.NothingToWithdraw, worker=worker.address):
        stake.withdraw(sender=worker)


def test_zero_amounts_revert(stake, worker, staked):
    with reverts(stake.ZeroAmount):
        stake.stake(0, sender=worker)
    with reverts(stake.ZeroAmount):
        stake.requestUnstake(0, sender=worker)


def test_stake_beyond_128_bits_reverts(stake, worker, staked):
    with reverts(stake.AmountTooLarge, amount=2**128):
        stake.stake(2**128, sender=worker)
    overflow = 2**128 - 100 * TOKEN  # active (100 tokens) + this = 2**128
    with reverts(stake.AmountTooLarge, amount=overflow):
        stake.stake(overflow, sender=worker)
    assert stake.stakeOf(worker)[0] == 100 * TOKEN


def test_unstake_beyond_free_stake_reverts(stake, worker, staked):
    with reverts(stake.InsufficientFreeStake, worker=worker.address, free=100 * TOKEN, needed=100 * TOKEN + 1):
        stake.requestUnstake(100 * TOKEN + 1, sender=worker)


def test_locked_collateral_cannot_be_unstaked(stake, jobs, make_job, worker):
    jobs.claim(make_job(), sender=worker)
    free = 100 * TOKEN - COLLATERAL
    assert stake.freeStake(worker) == free
    with reverts(stake.InsufficientFreeStake, worker=worker.address, free=free, needed=free + 1):
        stake.requestUnstake(free + 1, sender=worker)
    stake.requestUnstake(free, sender=worker)
    assert stake.stakeOf(worker)[:3] == (COLLATERAL, COLLATERAL, free)


def test_worker_cannot_escape_a_slash_by_unstaking_first(stake, token, jobs, game, posted_job, worker, challenger,
                                                         arbiter, chain):
    jid = posted_job()
    free = 100 * TOKEN - COLLATERAL
    stake.requestUnstake(free, sender=worker)  # everything it can: the collateral stays behind
    jobs.challenge(jid, sender=challenger)
    held, held_jobs, total = token.balanceOf(stake), token.balanceOf(jobs), stake.totalStaked()
    _, _, pending, unlock_at = stake.stakeOf(worker)
    tx = game.arbitrate(jid, True, sender=arbiter)
    ev = stake.Slashed.from_receipt(tx)[0]
    assert (ev.worker, ev.amount, ev.to) == (worker.address, COLLATERAL, jobs.address)  # the full collateral
    assert stake.stakeOf(worker) == (0, 0, pending, unlock_at)  # pending is not touched
    assert token.balanceOf(stake) == held - COLLATERAL and token.balanceOf(jobs) == held_jobs + COLLATERAL
    assert stake.totalStaked() == total - COLLATERAL
    chain.pending_timestamp = unlock_at
    bal = token.balanceOf(worker)
    stake.withdraw(sender=worker)
    assert token.balanceOf(worker) == bal + free


# ---------------------------------------------------------------------------------------- operator actions
def test_lock_unlock_slash_need_operator_role(stake, jobs, requester, worker, staked):
    role = stake.OPERATOR_ROLE()
    assert stake.hasRole(role, jobs)
    for call in (
        lambda: stake.lock(worker, 1, sender=requester),
        lambda: stake.unlock(worker, 1, sender=requester),
        lambda: stake.slash(worker, 1, 1, requester, sender=requester),
    ):
        with reverts(stake.AccessControlUnauthorizedAccount, account=requester.address, neededRole=role):
            call()
    assert stake.stakeOf(worker)[:2] == (100 * TOKEN, 0)


def test_lock_beyond_free_stake_reverts(stake, operator, worker, staked):
    with reverts(stake.InsufficientFreeStake, worker=worker.address, free=100 * TOKEN, needed=100 * TOKEN + 1):
        stake.lock(worker, 100 * TOKEN + 1, sender=operator)
    tx = stake.lock(worker, 100 * TOKEN, sender=operator)
    ev = stake.CollateralLocked.from_receipt(tx)[0]
    assert (ev.worker, ev.amount, ev.locked) == (worker.address, 100 * TOKEN, 100 * TOKEN)
    assert stake.freeStake(worker) == 0


def test_unlock_beyond_locked_reverts(stake, operator, worker, staked):
    stake.lock(worker, 5, sender=operator)
    with reverts(stake.ExceedsLocked, worker=worker.address, locked=5, amount=6):
        stake.unlock(worker, 6, sender=operator)
    tx = stake.unlock(worker, 5, sender=operator)
    ev = stake.CollateralUnlocked.from_receipt(tx)[0]
    assert (ev.worker, ev.amount, ev.locked) == (worker.address, 5, 0)


def test_slash_beyond_its_collateral_or_beyond_locked_reverts(stake, operator, worker, accounts, staked):
    stake.lock(worker, 5, sender=operator)
    with reverts(stake.SlashExceedsCollateral, lockedAmount=5, slashAmount=6):
        stake.slash(worker, 5, 6, accounts[9], sender=operator)
    with reverts(stake.ExceedsLocked, worker=worker.address, locked=5, amount=6):
        stake.slash(worker, 6, 6, accounts[9], sender=operator)
    assert stake.stakeOf(worker)[:2] == (100 * TOKEN, 5)


def test_slash_sends_exactly_the_slashed_amount_to_its_recipient(stake, token, operator, worker, accounts, staked):
    to = accounts[9]
    stake.lock(worker, 5 * TOKEN, sender=operator)
    bal, held, total = token.balanceOf(to), token.balanceOf(stake), stake.totalStaked()
    tx = stake.slash(worker, 5 * TOKEN, 2 * TOKEN, to, sender=operator)
    assert token.balanceOf(to) == bal + 2 * TOKEN and token.balanceOf(stake) == held - 2 * TOKEN
    assert stake.stakeOf(worker)[:2] == (98 * TOKEN, 0) and stake.totalStaked() == total - 2 * TOKEN
    unlocked = stake.CollateralUnlocked.from_receipt(tx)[0]
    assert (unlocked.worker, unlocked.amount, unlocked.locked) == (worker.address, 5 * TOKEN, 0)
    slashed = stake.Slashed.from_receipt(tx)[0]
    assert (slashed.worker, slashed.amount, slashed.to) == (worker.address, 2 * TOKEN, to.address)


def test_slash_of_zero_only_releases_the_collateral(stake, token, operator, worker, accounts, staked):
    stake.lock(worker, 5 * TOKEN, sender=operator)
    held = token.balanceOf(stake)
    tx = stake.slash(worker, 5 * TOKEN, 0, accounts[9], sender=operator)
    assert stake.stakeOf(worker)[:2] == (100 * TOKEN, 0) and token.balanceOf(stake) == held
    assert len(stake.Slashed.from_receipt(tx)) == 0


# ---------------------------------------------------------------------------------------- unbonding delay
def test_unbonding_delay_must_exceed_the_job_managers_minimum(stake, jobs, owner, requester):
    assert stake.unbondingPolicy() == jobs.address
    minimum = jobs.minUnbondingDelay()
    assert minimum == WINDOW + DISPUTE
    with reverts(stake.UnbondingDelayOutOfBounds, delay=minimum, minExclusive=minimum, max=MAX_DELAY):
        stake.setUnbondingDelay(minimum, sender=owner)
    with reverts(stake.UnbondingDelayOutOfBounds, delay=MAX_DELAY + 1, minExclusive=minimum, max=MAX_DELAY):
        stake.setUnbondingDelay(MAX_DELAY + 1, sender=owner)
    for delay in (minimum + 1, MAX_DELAY):
        tx = stake.setUnbondingDelay(delay, sender=owner)
        assert stake.unbondingDelay() == delay == stake.UnbondingDelayUpdated.from_receipt(tx)[0].delay
    admin = stake.DEFAULT_ADMIN_ROLE()
    with reverts(stake.AccessControlUnauthorizedAccount, account=requester.address, neededRole=admin):
        stake.setUnbondingDelay(minimum + 1, sender=requester)


def test_a_new_unbonding_policy_rechecks_the_current_delay(project, stake, token, registry, owner, requester,
                                                           treasury):
    # A JobManager whose window alone (no dispute game) needs more than the current delay of 1000 s.
    other_stake = owner.deploy(project.StakeManager, token, owner, 10 * UNBONDING)
    strict = owner.deploy(project.JobManager, token, other_stake, registry, owner,
                          TEST_PARAMS.model_copy(update={"challenge_window": UNBONDING}).as_tuple(treasury.address))
    assert strict.minUnbondingDelay() == UNBONDING
    with reverts(stake.UnbondingDelayOutOfBounds, delay=UNBONDING, minExclusive=UNBONDING, max=MAX_DELAY):
        stake.setUnbondingPolicy(strict, sender=owner)
    admin = stake.DEFAULT_ADMIN_ROLE()
    with reverts(stake.AccessControlUnauthorizedAccount, account=requester.address, neededRole=admin):
        stake.setUnbondingPolicy(ZERO, sender=requester)
    tx = stake.setUnbondingPolicy(ZERO, sender=owner)  # no policy: any delay above 0
    assert stake.UnbondingPolicyUpdated.from_receipt(tx)[0].policy == ZERO and stake.unbondingPolicy() == ZERO
    stake.setUnbondingDelay(1, sender=owner)
    assert stake.unbondingDelay() == 1


def test_stake_manager_with_zero_delay_cannot_be_deployed(project, owner, token):
    deploy_reverts(owner, project.StakeManager, "UnbondingDelayOutOfBounds", token, owner, 0,
                   delay=0, minExclusive=0, max=MAX_DELAY)


# ---------------------------------------------------------------------------------------- OpenZeppelin errors
def test_renounce_role_for_another_account_reverts(stake, jobs, owner):
    with reverts(stake.AccessControlBadConfirmation):
        stake.renounceRole(stake.OPERATOR_ROLE(), jobs, sender=owner)
    assert stake.hasRole(stake.OPERATOR_ROLE(), jobs)


def test_stake_in_a_token_without_code_reverts(project, owner, accounts, worker):
    not_a_token = accounts[9].address
    sm = owner.deploy(project.StakeManager, not_a_token, owner, UNBONDING)
    with reverts(sm.SafeERC20FailedOperation, token=not_a_token):
        sm.stake(1, sender=worker)
    assert sm.totalStaked() == 0


def test_reentrant_token_call_into_stake_is_refused_by_the_reentrancy_guard(project, owner, worker, chain):
    """The attacking token swallows the inner revert, so it is read from the call trace."""
    evil = owner.deploy(project.ReentrantToken)
    sm = owner.deploy(project.StakeManager, evil, owner, UNBONDING)
    evil.mint(worker, 10 * TOKEN, sender=owner)
    evil.approve(sm, 2**256 - 1, sender=worker)
    evil.arm(sm, sm.stake.encode_input(1), sender=owner)
    tx = sm.stake(5 * TOKEN, sender=worker)
    assert evil.attempts() == 1 and not evil.lastCallSucceeded()
    inner_reverts(chain, tx, sm.ReentrancyGuardReentrantCall, sm.address)
    assert sm.stakeOf(worker)[0] == 5 * TOKEN and sm.totalStaked() == 5 * TOKEN == evil.balanceOf(sm)
