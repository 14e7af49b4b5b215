"""Governance of the JobManager: every parameter bound, the treasury, the unbonding constraint,
replacing the dispute game, Ownable2Step, and that a fee change never touches a submitted job."""

from __future__ import annotations

import pytest
from eth_utils import to_checksum_address

from conftest import (
    DEMAND, DISPUTE, GAME, MAX_DEMANDS, MODEL_FEE, OUTPUT_ROOT, PROOF, RESPONSE, TEST_PARAMS, TOKEN, UNBONDING, WINDOW,
    WORKER_FEE, request,
)
from test_jobmanager_errors import (  # noqa: F401  (_no_trace_printing_on_revert is an autouse fixture)
    BOND, COLLATERAL, FINALIZED, OPEN, PARAM_FIELDS, TOTAL, UINT96_MAX, ZERO, _no_trace_printing_on_revert,
    deploy_reverts, name32, params_with, reverts,
)

DAY = 86400
# (changes, bounded name, value it reports, min, max): one step outside each bound.
OUT_OF_BOUNDS = [
    ({"leaseDuration": 0}, "leaseDuration", 0, 1, 7 * DAY),
    ({"leaseDuration": 7 * DAY + 1}, "leaseDuration", 7 * DAY + 1, 1, 7 * DAY),
    ({"challengeWindow": 0}, "challengeWindow", 0, 1, 30 * DAY),
    ({"challengeWindow": 30 * DAY + 1}, "challengeWindow", 30 * DAY + 1, 1, 30 * DAY),
    ({"maxClaimTtl": 0}, "maxClaimTtl", 0, 1, 90 * DAY),
    ({"maxClaimTtl": 90 * DAY + 1}, "maxClaimTtl", 90 * DAY + 1, 1, 90 * DAY),
    ({"protocolFeeBps": 2001}, "protocolFeeBps", 2001, 0, 2000),
    ({"livenessPenaltyBps": 10_001}, "livenessPenaltyBps", 10_001, 0, 10_000),
    ({"slashChallengerBps": 10_001}, "slashChallengerBps", 10_001, 0, 10_000),
    ({"slashChallengerBps": 6000, "slashRequesterBps": 4001}, "slashSharesBps", 10_001, 0, 10_000),
    ({"slashRequesterBps": 10_001}, "slashSharesBps", 10_001 + TEST_PARAMS.slash_challenger_bps, 0, 10_000),
    ({"bondToWorkerBps": 10_001}, "bondToWorkerBps", 10_001, 0, 10_000),
    ({"collateralBps": 1_000_001}, "collateralBps", 1_000_001, 0, 1_000_000),
    ({"callbackGasLimit": 2_000_001}, "callbackGasLimit", 2_000_001, 0, 2_000_000),
    ({"maxInlineBytes": 31}, "maxInlineBytes", 31, 32, 65_536),
    ({"maxInlineBytes": 65_537}, "maxInlineBytes", 65_537, 32, 65_536),
    ({"challengeBond": 0}, "challengeBond", 0, 1, UINT96_MAX),
]


def event_params(ev) -> tuple:
    """ParamsUpdated's struct as a tuple in field order (ape decodes the event's address in lower case)."""
    *values, treasury = ev.params
    return (*values, to_checksum_address(treasury))


@pytest.mark.parametrize("changes,name,value,lo,hi", OUT_OF_BOUNDS,
                         ids=[f"{c[1]}={c[2]}" for c in OUT_OF_BOUNDS])
def test_set_params_outside_a_bound_reverts(jobs, owner, changes, name, value, lo, hi):
    before = jobs.params()
    with reverts(jobs.ParamOutOfBounds, name=name32(name), value=value, min=lo, max=hi):
        jobs.setParams(params_with(jobs, **changes), sender=owner)
    assert jobs.params() == before


def test_set_params_at_the_lower_bounds_is_accepted(jobs, owner, treasury):
    lowest = dict(leaseDuration=1, challengeWindow=1, maxClaimTtl=1, protocolFeeBps=0, livenessPenaltyBps=0,
                  slashChallengerBps=0, slashRequesterBps=0, bondToWorkerBps=0, collateralBps=0, callbackGasLimit=0,
                  maxInlineBytes=32, minCollateral=0, challengeBond=1)
    new = params_with(jobs, **lowest)
    tx = jobs.setParams(new, sender=owner)
    assert tuple(getattr(jobs.params(), f) for f in PARAM_FIELDS) == new
    assert event_params(jobs.ParamsUpdated.from_receipt(tx)[0]) == new


def test_set_params_at_the_upper_bounds_is_accepted(jobs, stake, owner):
    stake.setUnbondingDelay(90 * DAY, sender=owner)  # room for the longest window + dispute
    highest = dict(leaseDuration=7 * DAY, challengeWindow=30 * DAY, maxClaimTtl=90 * DAY, protocolFeeBps=2000,
                   livenessPenaltyBps=10_000, slashChallengerBps=4000, slashRequesterBps=6000,
                   bondToWorkerBps=10_000, collateralBps=1_000_000, callbackGasLimit=2_000_000,
                   maxInlineBytes=65_536, minCollateral=UINT96_MAX, challengeBond=UINT96_MAX)
    new = params_with(jobs, **highest)
    jobs.setParams(new, sender=owner)
    assert tuple(getattr(jobs.params(), f) for f in PARAM_FIELDS) == new
    jobs.setParams(params_with(jobs, slashChallengerBps=10_000, slashRequesterBps=0), sender=owner)
    assert jobs.params().slashChallengerBps == 10_000


def test_params_updated_event_carries_the_new_params(jobs, owner, accounts):
    new = params_with(jobs, leaseDuration=123, protocolFeeBps=7, treasury=accounts[9].address)
    tx = jobs.setParams(new, sender=owner)
    ev = dict(zip(PARAM_FIELDS, event_params(jobs.ParamsUpdated.from_receipt(tx)[0])))
    assert (ev["leaseDuration"], ev["protocolFeeBps"], ev["treasury"]) == (123, 7, accounts[9].address)
    assert tuple(ev.values()) == new


def test_zero_treasury_reverts(jobs, owner, treasury):
    with reverts(jobs.ZeroAddress):
        jobs.setParams(params_with(jobs, treasury=ZERO), sender=owner)
    assert jobs.params().treasury == treasury.address


def test_challenge_window_that_outgrows_unbonding_reverts(jobs, stake, owner):
    too_long = UNBONDING - DISPUTE  # window + dispute would equal the delay: it must stay strictly above
    with reverts(jobs.UnbondingTooShort, unbondingDelay=UNBONDING, needed=too_long + DISPUTE):
        jobs.setParams(params_with(jobs, challengeWindow=too_long), sender=owner)
    jobs.setParams(params_with(jobs, challengeWindow=too_long - 1), sender=owner)
    assert jobs.minUnbondingDelay() == UNBONDING - 1 < stake.unbondingDelay()


def test_only_the_owner_governs(jobs, game, requester):
    with reverts(jobs.OwnableUnauthorizedAccount, account=requester.address):
        jobs.setParams(params_with(jobs, protocolFeeBps=0), sender=requester)
    with reverts(jobs.OwnableUnauthorizedAccount, account=requester.address):
        jobs.setDisputeGame(game, sender=requester)
    assert jobs.params().protocolFeeBps == TEST_PARAMS.protocol_fee_bps


def test_job_manager_with_a_zero_address_cannot_be_deployed(project, owner, token, stake, registry, treasury):
    good = (token.address, stake.address, registry.address)
    for i in range(3):
        args = list(good)
        args[i] = ZERO
        deploy_reverts(owner, project.JobManager, "ZeroAddress", *args, owner, TEST_PARAMS.as_tuple(treasury.address))


def test_job_manager_with_out_of_bounds_params_cannot_be_deployed(project, owner, token, stake, registry, treasury):
    bad = TEST_PARAMS.model_copy(update={"lease_duration": 0}).as_tuple(treasury.address)
    deploy_reverts(owner, project.JobManager, "ParamOutOfBounds", token, stake, registry, owner, bad,
                   name=name32("leaseDuration"), value=0, min=1, max=7 * DAY)


# ---------------------------------------------------------------------------------------- dispute game
def test_set_dispute_game_to_zero_reverts(jobs, game, owner):
    with reverts(jobs.ZeroAddress):
        jobs.setDisputeGame(ZERO, sender=owner)
    assert jobs.disputeGame() == game.address


def test_dispute_game_cannot_change_while_disputes_are_open(project, jobs, game, owner, posted_job, challenger,
                                                            arbiter):
    replacement = owner.deploy(project.DisputeGame, jobs, owner, *GAME.as_args())
    first, second = posted_job(), posted_job()
    jobs.challenge(first, sender=challenger)
    jobs.challenge(second, sender=challenger)
    with reverts(jobs.DisputesOpen, open=2):
        jobs.setDisputeGame(replacement, sender=owner)
    game.arbitrate(first, False, sender=arbiter)
    with reverts(jobs.DisputesOpen, open=1):
        jobs.setDisputeGame(replacement, sender=owner)
    game.arbitrate(second, True, sender=arbiter)
    tx = jobs.setDisputeGame(replacement, sender=owner)
    assert jobs.DisputeGameUpdated.from_receipt(tx)[0].game == replacement.address == jobs.disputeGame()
    # The next challenge goes to the new game.
    third = posted_job()
    tx = jobs.challenge(third, sender=challenger)
    assert replacement.DisputeOpened.from_receipt(tx)[0].jobId == third
    assert not game.disputeOf(third)[2] and replacement.disputeOf(third)[2]


def test_dispute_game_whose_duration_outgrows_unbonding_reverts(project, jobs, game, owner):
    # maxDuration() = UNBONDING - WINDOW: the response window takes up the rest.
    slow = owner.deploy(project.DisputeGame, jobs, owner, UNBONDING - WINDOW - (DISPUTE - RESPONSE), PROOF, DEMAND,
                        MAX_DEMANDS)
    with reverts(jobs.UnbondingTooShort, unbondingDelay=UNBONDING, needed=UNBONDING):
        jobs.setDisputeGame(slow, sender=owner)
    assert jobs.disputeGame() == game.address and jobs.minUnbondingDelay() == WINDOW + DISPUTE


# ---------------------------------------------------------------------------------------- ownership
def test_ownership_moves_in_two_steps(jobs, owner, accounts):
    new_owner, other = accounts[9], accounts[8]
    tx = jobs.transferOwnership(new_owner, sender=owner)
    ev = jobs.OwnershipTransferStarted.from_receipt(tx)[0]
    assert (ev.previousOwner, ev.newOwner) == (owner.address, new_owner.address)
    assert (jobs.owner(), jobs.pendingOwner()) == (owner.address, new_owner.address)
    with reverts(jobs.OwnableUnauthorizedAccount, account=new_owner.address):  # not owner until accepted
        jobs.setParams(params_with(jobs, protocolFeeBps=0), sender=new_owner)
    with reverts(jobs.OwnableUnauthorizedAccount, account=other.address):
        jobs.acceptOwnership(sender=other)
    tx = jobs.acceptOwnership(sender=new_owner)
    ev = jobs.OwnershipTransferred.from_receipt(tx)[0]
    assert (ev.previousOwner, ev.newOwner) == (owner.address, new_owner.address)
    assert (jobs.owner(), jobs.pendingOwner()) == (new_owner.address, ZERO)
    with reverts(jobs.OwnableUnauthorizedAccount, account=owner.address):
        jobs.setParams(params_with(jobs, protocolFeeBps=0), sender=owner)
    jobs.setParams(params_with(jobs, protocolFeeBps=0), sender=new_owner)
    assert jobs.params().protocolFeeBps == 0


# ---------------------------------------------------------------------------------------- changes in flight
def test_fee_changes_after_submit_do_not_change_what_the_job_pays(jobs, token, stake, registry, model, owner,
                                                                  model_owner, requester, worker, treasury,
                                                                  accounts, chain, make_job):
    jid = make_job()
    escrow = token.balanceOf(jobs)
    # Governance and the model owner raise every price, and governance moves the treasury.
    new_treasury = accounts[9]
    jobs.setParams(params_with(jobs, protocolFeeBps=2000, collateralBps=50_000, minCollateral=5 * TOKEN,
                               treasury=new_treasury.address), sender=owner)
    registry.setFee(model, TOKEN // 2, sender=model_owner)
    j = jobs.getJob(jid)
    assert (j.workerFee, j.ownerFee, j.protocolFee, j.collateral) == (
        WORKER_FEE, MODEL_FEE, TOTAL - WORKER_FEE - MODEL_FEE, COLLATERAL)
    locked = stake.stakeOf(worker)[1]
    jobs.claim(jid, sender=worker)
    assert stake.stakeOf(worker)[1] == locked + COLLATERAL  # the collateral fixed at submit
    jobs.post(jid, OUTPUT_ROOT, b"\x01", "", sender=worker)
    chain.pending_timestamp = jobs.getJob(jid).deadline + 1
    jobs.finalize(jid, sender=worker)
    assert jobs.getJob(jid).status == FINALIZED
    assert jobs.creditsOf(worker) == WORKER_FEE and jobs.creditsOf(model_owner) == MODEL_FEE
    # The protocol fee escrowed at submit goes to the treasury in force at finalize.
    assert jobs.creditsOf(new_treasury) == TOTAL - WORKER_FEE - MODEL_FEE and jobs.creditsOf(treasury) == 0
    assert token.balanceOf(jobs) == escrow  # credited, nothing more and nothing less than was escrowed
    # A requester's maxTotalFee protects it from the new prices; a new job pays them.
    new_total = WORKER_FEE + TOKEN // 2 + (WORKER_FEE + TOKEN // 2) * 2000 // 10_000
    with reverts(jobs.FeeAboveMax, total=new_total, maxTotal=TOTAL):
        jobs.submit(request(model, chain, maxTotalFee=TOTAL), sender=requester)
    bal = token.balanceOf(requester)
    jid2 = make_job()
    assert token.balanceOf(requester) == bal - new_total
    assert jobs.getJob(jid2).collateral == 5 * TOKEN


def test_window_change_after_post_keeps_the_posted_window(jobs, owner, posted_job, worker, chain):
    jid = posted_job()
    window_end = jobs.getJob(jid).deadline
    jobs.setParams(params_with(jobs, challengeWindow=WINDOW * 10), sender=owner)
    assert jobs.getJob(jid).deadline == window_end
    chain.pending_timestamp = window_end + 1
    jobs.finalize(jid, sender=worker)
    assert jobs.getJob(jid).status == FINALIZED


def test_bond_change_after_challenge_keeps_the_escrowed_bond(jobs, game, token, owner, posted_job, challenger,
                                                             arbiter):
    jid = posted_job()
    jobs.challenge(jid, sender=challenger)
    jobs.setParams(params_with(jobs, challengeBond=BOND * 5), sender=owner)
    assert jobs.challengeOf(jid) == (challenger.address, BOND)
    game.arbitrate(jid, True, sender=arbiter)
    reward = COLLATERAL * TEST_PARAMS.slash_challenger_bps // 10_000
    assert jobs.creditsOf(challenger) == BOND + reward
    assert jobs.getJob(jid).status == OPEN
