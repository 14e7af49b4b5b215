"""Every custom error of the JobManager, triggered with its exact arguments, and a coverage meta-test.

Deadline errors (ClaimDeadline*, Lease*, ChallengeWindow*) are triggered at their boundaries in
test_jobmanager_deadlines.py, governance errors (ParamOutOfBounds, UnbondingTooShort, DisputesOpen,
ZeroAddress, Ownable*) in test_governance.py; the StakeManager, ModelRegistry and DisputeGame errors
in their own files. `test_every_protocol_error_is_triggered_by_a_test` fails CI when an error of the
four protocol contracts has no test in those files.

This module also holds the helpers the other five files import (`reverts`, `deploy_reverts`,
`inner_reverts`, `params_with`, fee constants).
"""

from __future__ import annotations

import ast
from contextlib import contextmanager
from pathlib import Path

import ape
import pytest
from ape_ethereum.trace import Trace
from eth_abi import encode
from eth_utils import keccak
from hexbytes import HexBytes
from web3.exceptions import ContractCustomError

from conftest import MODEL_FEE, OUTPUT_ROOT, TEST_PARAMS, TOKEN, WORKER_FEE, model_id_of, request, set_time

# ---------------------------------------------------------------------------------------- constants
OPEN, CLAIMED, POSTED, CHALLENGED, FINALIZED, EXPIRED, CANCELLED, REFUNDED = range(1, 9)
BPS = 10_000
PROTOCOL_FEE = (WORKER_FEE + MODEL_FEE) * TEST_PARAMS.protocol_fee_bps // BPS
TOTAL = WORKER_FEE + MODEL_FEE + PROTOCOL_FEE
COLLATERAL = 2 * TOKEN  # max(minCollateral 1 token, workerFee * 20000 / 10000)
BOND = TEST_PARAMS.challenge_bond
UINT80_MAX = 2**80 - 1
UINT96_MAX = 2**96 - 1
ZERO = ape.utils.ZERO_ADDRESS

# Field order of the Solidity `Params` struct (types/AssayTypes.sol).
PARAM_FIELDS = (
    "leaseDuration", "challengeWindow", "maxClaimTtl", "protocolFeeBps", "livenessPenaltyBps",
    "slashChallengerBps", "slashRequesterBps", "bondToWorkerBps", "collateralBps", "callbackGasLimit",
    "maxInlineBytes", "minCollateral", "challengeBond", "treasury",
)


def params_with(jobs, **changes):
    """The JobManager's current Params tuple with some fields replaced (Solidity names)."""
    unknown = set(changes) - set(PARAM_FIELDS)
    assert not unknown, f"not Params fields: {unknown}"
    current = jobs.params()
    return tuple(changes.get(f, getattr(current, f)) for f in PARAM_FIELDS)


def name32(name: str) -> bytes:
    """A parameter name as ParamOutOfBounds reports it (a left-aligned bytes32 string)."""
    return name.encode().ljust(32, b"\0")


# ---------------------------------------------------------------------------------------- helpers
@pytest.fixture(autouse=True)
def _no_trace_printing_on_revert(monkeypatch):
    """ape-foundry prints the whole call trace of every reverted transaction (it enriches the trace
    and derives the test accounts' keys to label them): about a third of the cost of each expected
    revert here. The revert itself, its decoding and ape.reverts are untouched; only the printing is
    skipped. The sibling files import this autouse fixture."""
    monkeypatch.setattr(Trace, "show", lambda self, *args, **kwargs: None)


class InRange:
    """Matches any integer in [lo, hi]; for error arguments that depend on gas (gasleft())."""

    def __init__(self, lo: int, hi: int):
        self.lo, self.hi = lo, hi

    def __eq__(self, other):
        return isinstance(other, int) and self.lo <= other <= self.hi

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        return f"InRange({self.lo}, {self.hi})"


@contextmanager
def reverts(error, **inputs):
    """`ape.reverts(error, **inputs)`, made strict.

    ape.reverts silently skips an input name the error does not have (so a typo checks nothing) and
    accepts any revert that does not decode to a custom error (a panic, an out-of-gas). Here every
    input of the error must be given, by its ABI name, and the revert must be exactly `error`.
    """
    names = sorted(i.name for i in error.abi.inputs)
    assert sorted(inputs) == names, f"{error.__name__} has inputs {names}; the test gave {sorted(inputs)}"
    with ape.reverts(error, **inputs) as info:
        yield info
    assert isinstance(info.value, error), f"expected {error.__name__}({inputs}), got {info.value!r}"


@contextmanager
def isolated(chain):
    """Undo every chain change made inside, like `chain.isolate()`, but let exceptions through.

    eth-ape 0.8.51's `chain.isolate()` catches and drops *every* exception raised in its body
    (`except Exception: pass`), so a failing assert inside it would pass silently.
    """
    snapshot, pending = chain.snapshot(), chain.pending_timestamp
    try:
        yield
    finally:
        chain.restore(snapshot)
        set_time(chain, pending)  # as chain.isolate() does: the next block is where it was going to be


def error_data(error_abi, **inputs) -> HexBytes:
    """Revert data of a custom error: selector + ABI-encoded arguments."""
    types = [i.type for i in error_abi.inputs]
    values = [inputs[i.name] for i in error_abi.inputs]
    return HexBytes(keccak(text=error_abi.selector)[:4] + encode(types, values))


def deploy_reverts(deployer, container, error_name: str, *args, **inputs):
    """Deploying `container(*args)` reverts with `error_name(**inputs)`.

    ape does not decode custom errors of a constructor (it raises a bare ContractLogicError with the
    revert data as its message), so the revert data is compared byte for byte.
    """
    error_abi = getattr(container, error_name).abi
    assert sorted(inputs) == sorted(i.name for i in error_abi.inputs)
    with pytest.raises(ape.exceptions.ContractLogicError) as info:
        deployer.deploy(container, *args)
    assert HexBytes(info.value.revert_message) == error_data(error_abi, **inputs)


def view_reverts(chain, error, view, *args, **inputs):
    """Calling the view `view(*args)` reverts with `error(**inputs)`.

    ape decodes custom errors of transactions but not of eth_call (it raises a bare ContractLogicError),
    so the call is made through web3 and its revert data compared byte for byte.
    """
    assert sorted(inputs) == sorted(i.name for i in error.abi.inputs)
    call = {"to": view.contract.address, "data": HexBytes(view.encode_input(*args))}
    with pytest.raises(ContractCustomError) as info:
        chain.provider.web3.eth.call(call)
    assert HexBytes(info.value.data) == error_data(error.abi, **inputs)


def _frames(frame):
    yield frame
    for sub in frame.get("calls", []):
        yield from _frames(sub)


def inner_reverts(chain, tx, error, to, **inputs):
    """A call made inside `tx` to `to` reverted with `error(**inputs)` (read from the call trace).

    For errors raised in a nested call that the caller catches, so that the transaction itself succeeds.
    """
    trace = chain.provider.make_request("debug_traceTransaction", [tx.txn_hash, {"tracer": "callTracer"}])
    expected = error_data(error.abi, **inputs)
    hits = [
        f for f in _frames(trace)
        if f.get("to", "").lower() == str(to).lower() and "error" in f and HexBytes(f.get("output", "0x")) == expected
    ]
    assert hits, f"no call to {to} reverted with {error.__name__}{inputs} in {tx.txn_hash}"


# ---------------------------------------------------------------------------------------- submit
def test_submit_zero_worker_fee_reverts(jobs, model, chain, requester, staked):
    with reverts(jobs.ZeroWorkerFee):
        jobs.submit(request(model, chain, workerFee=0), sender=requester)


def test_submit_zero_input_root_reverts(jobs, model, chain, requester, staked):
    with reverts(jobs.ZeroInputRoot):
        jobs.submit(request(model, chain, inputRoot=b"\0" * 32), sender=requester)


def test_submit_without_inline_input_or_uri_reverts(jobs, model, chain, requester, staked):
    with reverts(jobs.InputMissing):
        jobs.submit(request(model, chain, input=b"", inputURI=""), sender=requester)


def test_submit_inline_input_over_max_inline_bytes_reverts(jobs, model, chain, requester, make_job):
    limit = TEST_PARAMS.max_inline_bytes
    with reverts(jobs.InputTooLarge, size=limit + 1, max=limit):
        jobs.submit(request(model, chain, input=b"\x01" * (limit + 1)), sender=requester)
    assert jobs.getJob(make_job(input=b"\x01" * limit)).status == OPEN  # exactly the limit is fine


def test_submit_for_unknown_model_reverts_model_not_registered(jobs, registry, chain, requester, staked):
    unknown = model_id_of("never-registered")
    with reverts(registry.ModelNotRegistered, modelId=unknown):
        jobs.submit(request(unknown, chain), sender=requester)


def test_submit_for_deprecated_model_reverts(jobs, registry, model, model_owner, chain, requester, staked):
    registry.deprecate(model, sender=model_owner)
    with reverts(jobs.ModelDeprecated, modelId=model):
        jobs.submit(request(model, chain), sender=requester)


def test_submit_total_fee_above_requesters_max_reverts(jobs, token, model, chain, requester, make_job):
    before = token.balanceOf(requester)
    with reverts(jobs.FeeAboveMax, total=TOTAL, maxTotal=TOTAL - 1):
        jobs.submit(request(model, chain, maxTotalFee=TOTAL - 1), sender=requester)
    assert token.balanceOf(requester) == before
    make_job(maxTotalFee=TOTAL)  # exactly the total is accepted
    assert token.balanceOf(requester) == before - TOTAL


def test_submit_owner_fee_beyond_uint80_reverts_fee_too_large(jobs, registry, model_owner, chain, requester, staked):
    big = model_id_of("expensive-model")
    registry.registerModel(big, ["ipfs://big"], 2**80, 0, b"\x01" * 32, b"\x02" * 32, sender=model_owner)
    with reverts(jobs.FeeTooLarge, fee=2**80, max=UINT80_MAX):
        jobs.submit(request(big, chain, workerFee=1, maxTotalFee=2**256 - 1), sender=requester)


def test_submit_protocol_fee_beyond_uint80_reverts_fee_too_large(jobs, model, chain, requester, staked):
    protocol_fee = (UINT96_MAX + MODEL_FEE) * TEST_PARAMS.protocol_fee_bps // BPS
    assert protocol_fee > UINT80_MAX
    with reverts(jobs.FeeTooLarge, fee=protocol_fee, max=UINT80_MAX):
        jobs.submit(request(model, chain, workerFee=UINT96_MAX, maxTotalFee=2**256 - 1), sender=requester)


def test_submit_collateral_beyond_uint96_reverts_fee_too_large(jobs, model, owner, chain, requester, staked):
    jobs.setParams(params_with(jobs, protocolFeeBps=0), sender=owner)  # else the protocol fee trips first
    collateral = UINT96_MAX * TEST_PARAMS.collateral_bps // BPS
    with reverts(jobs.FeeTooLarge, fee=collateral, max=UINT96_MAX):
        jobs.submit(request(model, chain, workerFee=UINT96_MAX, maxTotalFee=2**256 - 1), sender=requester)


def test_submit_with_callback_from_an_account_without_code_reverts(jobs, model, chain, requester, staked):
    with reverts(jobs.CallbackRequiresContract, requester=requester.address):
        jobs.submit(request(model, chain, callback=True), sender=requester)


# ---------------------------------------------------------------------------------------- lifecycle
def test_every_job_action_on_an_unknown_id_reverts_unknown_job(jobs, worker, requester, challenger, chain, staked):
    unknown = jobs.jobCount() + 1
    actions = [
        lambda: jobs.claim(unknown, sender=worker),
        lambda: jobs.post(unknown, OUTPUT_ROOT, b"\x01", "", sender=worker),
        lambda: jobs.finalize(unknown, sender=worker),
        lambda: jobs.reclaim(unknown, sender=worker),
        lambda: jobs.expire(unknown, sender=requester),
        lambda: jobs.cancel(unknown, sender=requester),
        lambda: jobs.challenge(unknown, sender=challenger),
    ]
    for act in actions:
        with reverts(jobs.UnknownJob, jobId=unknown):
            act()
    view_reverts(chain, jobs.UnknownJob, jobs.getJob, unknown, jobId=unknown)
    view_reverts(chain, jobs.UnknownJob, jobs.getJob, 0, jobId=0)
    assert jobs.statusOf(unknown) == 0  # statusOf is the non-reverting view


def test_claim_of_a_claimed_job_reverts_job_not_open(jobs, claimed_job, worker2):
    jid = claimed_job()
    with reverts(jobs.JobNotOpen, jobId=jid, status=CLAIMED):
        jobs.claim(jid, sender=worker2)


def test_cancel_of_a_posted_job_reverts_job_not_open(jobs, posted_job, requester):
    jid = posted_job()
    with reverts(jobs.JobNotOpen, jobId=jid, status=POSTED):
        jobs.cancel(jid, sender=requester)


def test_expire_of_a_cancelled_job_reverts_job_not_open(jobs, make_job, requester, chain):
    jid = make_job()
    jobs.cancel(jid, sender=requester)
    set_time(chain, jobs.getJob(jid).claimDeadline + 1)
    with reverts(jobs.JobNotOpen, jobId=jid, status=CANCELLED):
        jobs.expire(jid, sender=requester)
    assert jobs.creditsOf(requester) == TOTAL  # refunded once, not twice


def test_post_on_an_open_job_reverts_job_not_claimed(jobs, make_job, worker):
    jid = make_job()
    with reverts(jobs.JobNotClaimed, jobId=jid, status=OPEN):
        jobs.post(jid, OUTPUT_ROOT, b"\x01", "", sender=worker)


def test_second_post_reverts_job_not_claimed(jobs, posted_job, worker):
    jid = posted_job()
    with reverts(jobs.JobNotClaimed, jobId=jid, status=POSTED):
        jobs.post(jid, b"\x05" * 32, b"\x01", "", sender=worker)
    assert jobs.getJob(jid).outputRoot == OUTPUT_ROOT


def test_reclaim_of_a_posted_job_reverts_job_not_claimed(jobs, posted_job, worker2, chain):
    jid = posted_job()
    set_time(chain, jobs.getJob(jid).deadline + 1000)
    with reverts(jobs.JobNotClaimed, jobId=jid, status=POSTED):
        jobs.reclaim(jid, sender=worker2)


def test_finalize_of_a_claimed_job_reverts_job_not_posted(jobs, claimed_job, worker):
    jid = claimed_job()
    with reverts(jobs.JobNotPosted, jobId=jid, status=CLAIMED):
        jobs.finalize(jid, sender=worker)


def test_challenge_of_an_open_job_reverts_job_not_posted(jobs, make_job, challenger):
    jid = make_job()
    with reverts(jobs.JobNotPosted, jobId=jid, status=OPEN):
        jobs.challenge(jid, sender=challenger)


def test_challenge_of_a_finalized_job_reverts_job_not_posted(jobs, posted_job, challenger, worker, chain):
    jid = posted_job()
    set_time(chain, jobs.getJob(jid).deadline + 1)
    jobs.finalize(jid, sender=worker)
    with reverts(jobs.JobNotPosted, jobId=jid, status=FINALIZED):
        jobs.challenge(jid, sender=challenger)


def test_settle_of_an_unchallenged_job_reverts_job_not_challenged(jobs, game, posted_job, chain):
    """Defence in depth: the real game settles only disputes it opened, and an open dispute always
    belongs to a Challenged job, so the guard is reached here by impersonating the game."""
    jid = posted_job()
    chain.provider.set_balance(game.address, 10**18)
    as_game = ape.accounts.test_accounts.impersonate_account(game.address)
    with reverts(jobs.JobNotChallenged, jobId=jid, status=POSTED):
        jobs.settleDispute(jid, True, sender=as_game)
    assert jobs.getJob(jid).status == POSTED


def test_post_by_another_worker_reverts_not_job_worker(jobs, claimed_job, worker, worker2):
    jid = claimed_job()
    with reverts(jobs.NotJobWorker, jobId=jid, caller=worker2.address, worker=worker.address):
        jobs.post(jid, OUTPUT_ROOT, b"\x01", "", sender=worker2)


@pytest.mark.parametrize("root", [b"\0" * 32, (1).to_bytes(32, "big")], ids=["zero", "no-output-sentinel"])
def test_post_zero_output_root_reverts(jobs, claimed_job, worker, root):
    jid = claimed_job()
    with reverts(jobs.ZeroOutputRoot, jobId=jid):
        jobs.post(jid, root, b"\x01", "", sender=worker)


def test_post_without_inline_output_or_uri_reverts(jobs, claimed_job, worker):
    jid = claimed_job()
    with reverts(jobs.OutputMissing, jobId=jid):
        jobs.post(jid, OUTPUT_ROOT, b"", "", sender=worker)


def test_post_inline_output_over_max_inline_bytes_reverts(jobs, claimed_job, worker):
    limit = TEST_PARAMS.max_inline_bytes
    jid = claimed_job()
    with reverts(jobs.OutputTooLarge, jobId=jid, size=limit + 1, max=limit):
        jobs.post(jid, OUTPUT_ROOT, b"\x01" * (limit + 1), "", sender=worker)
    jobs.post(jid, OUTPUT_ROOT, b"\x01" * limit, "", sender=worker)  # exactly the limit is fine
    assert jobs.getJob(jid).status == POSTED


def test_cancel_by_someone_else_reverts_not_requester(jobs, token, make_job, requester, worker):
    jid = make_job()
    with reverts(jobs.NotRequester, jobId=jid, caller=worker.address, requester=requester.address):
        jobs.cancel(jid, sender=worker)
    assert jobs.getJob(jid).status == OPEN and jobs.creditsOf(worker) == 0


def test_worker_challenging_its_own_result_reverts(jobs, token, posted_job, worker):
    jid = posted_job()
    before = token.balanceOf(worker)
    with reverts(jobs.SelfChallenge, jobId=jid):
        jobs.challenge(jid, sender=worker)
    assert token.balanceOf(worker) == before and jobs.getJob(jid).status == POSTED


def test_challenge_without_a_dispute_game_reverts(project, owner, token, stake, registry, model, treasury,
                                                 requester, worker, challenger, chain, staked):
    jm = owner.deploy(project.JobManager, token, stake, registry, owner, TEST_PARAMS.as_tuple(treasury.address))
    assert jm.disputeGame() == ZERO
    stake.grantRole(stake.OPERATOR_ROLE(), jm, sender=owner)
    token.approve(jm, 2**256 - 1, sender=requester)
    jm.submit(request(model, chain), sender=requester)
    jm.claim(1, sender=worker)
    jm.post(1, OUTPUT_ROOT, b"\x01", "", sender=worker)
    with reverts(jm.NoDisputeGame):
        jm.challenge(1, sender=challenger)
    assert jm.statusOf(1) == POSTED and jm.openDisputes() == 0


def test_settle_dispute_by_anyone_but_the_game_reverts(jobs, posted_job, challenger, requester):
    jid = posted_job()
    jobs.challenge(jid, sender=challenger)
    with reverts(jobs.NotDisputeGame, caller=requester.address):
        jobs.settleDispute(jid, False, sender=requester)
    assert jobs.getJob(jid).status == CHALLENGED


def test_finalize_with_too_little_gas_for_the_callback_reverts(project, jobs, token, model, owner, worker,
                                                               requester, chain, make_job):
    consumer = owner.deploy(project.RecordingConsumer, jobs)
    token.mint(consumer, 10 * TOKEN, sender=owner)
    consumer.submit(request(model, chain, callback=True), token, 10 * TOKEN, sender=requester)
    cb_job = jobs.jobCount()
    plain_job = make_job()
    for jid in (cb_job, plain_job):
        jobs.claim(jid, sender=worker)
        jobs.post(jid, OUTPUT_ROOT, b"\x01", "", sender=worker)
    set_time(chain, max(jobs.getJob(cb_job).deadline, jobs.getJob(plain_job).deadline) + 1)
    # Gas a finalize needs before the callback check: that of a job without callback.
    with isolated(chain):
        base = jobs.finalize(plain_job, sender=worker).gas_used
    limit = TEST_PARAMS.callback_gas_limit
    needed = (limit * 64 + 62) // 63 + 3_000  # JobManager._callback: ceil(limit·64/63) + CALL_OVERHEAD
    with reverts(jobs.InsufficientGasForCallback, jobId=cb_job, gasLeft=InRange(1, needed - 1), needed=needed):
        jobs.finalize(cb_job, sender=worker, gas_limit=base + 50_000)
    assert jobs.getJob(cb_job).status == POSTED and jobs.creditsOf(worker) == 0  # nothing happened
    tx = jobs.finalize(cb_job, sender=worker)
    assert jobs.CallbackResult.from_receipt(tx)[0].success and consumer.calls() == 1


# ---------------------------------------------------------------------------------------- batches
def test_empty_batches_revert(jobs, worker, staked):
    with reverts(jobs.EmptyBatch):
        jobs.claimJobs([], sender=worker)
    with reverts(jobs.EmptyBatch):
        jobs.postResults([], [], [], [], sender=worker)
    with reverts(jobs.EmptyBatch):
        jobs.finalizeJobs([], sender=worker)


def test_post_results_with_arrays_of_different_lengths_reverts(jobs, claimed_job, worker):
    jid = claimed_job()
    with reverts(jobs.LengthMismatch, expected=1, got=2):
        jobs.postResults([jid], [OUTPUT_ROOT, OUTPUT_ROOT], [b"\x01"], [""], sender=worker)
    with reverts(jobs.LengthMismatch, expected=1, got=0):
        jobs.postResults([jid], [OUTPUT_ROOT], [], [""], sender=worker)
    with reverts(jobs.LengthMismatch, expected=1, got=2):
        jobs.postResults([jid], [OUTPUT_ROOT], [b"\x01"], ["", ""], sender=worker)
    jobs.postResults([jid], [OUTPUT_ROOT], [b"\x01"], [""], sender=worker)
    assert jobs.getJob(jid).status == POSTED


# ---------------------------------------------------------------------------------------- credits
def test_withdraw_zero_reverts(jobs, requester):
    with reverts(jobs.ZeroAmount):
        jobs.withdraw(0, sender=requester)


def test_withdraw_more_than_credits_reverts(jobs, token, make_job, requester):
    with reverts(jobs.InsufficientCredits, account=requester.address, available=0, requested=1):
        jobs.withdraw(1, sender=requester)
    jobs.cancel(make_job(), sender=requester)
    with reverts(jobs.InsufficientCredits, account=requester.address, available=TOTAL, requested=TOTAL + 1):
        jobs.withdraw(TOTAL + 1, sender=requester)
    before = token.balanceOf(requester)
    jobs.withdraw(TOTAL, sender=requester)
    assert token.balanceOf(requester) == before + TOTAL and jobs.creditsOf(requester) == 0


# ---------------------------------------------------------------------------------------- OpenZeppelin errors
def test_token_without_code_reverts_safe_erc20_failed_operation(project, owner, stake, registry, model, treasury,
                                                                accounts, requester, chain):
    not_a_token = accounts[9].address
    jm = owner.deploy(project.JobManager, not_a_token, stake, registry, owner, TEST_PARAMS.as_tuple(treasury.address))
    with reverts(jm.SafeERC20FailedOperation, token=not_a_token):
        jm.submit(request(model, chain), sender=requester)
    assert jm.jobCount() == 0


def test_reentrant_token_call_into_submit_is_refused_by_the_reentrancy_guard(project, owner, stake, registry, model,
                                                                             treasury, requester, chain):
    """The attacking token swallows the inner revert, so it is read from the call trace."""
    evil = owner.deploy(project.ReentrantToken)
    jm = owner.deploy(project.JobManager, evil, stake, registry, owner, TEST_PARAMS.as_tuple(treasury.address))
    evil.mint(requester, 10 * TOKEN, sender=owner)
    evil.approve(jm, 2**256 - 1, sender=requester)
    evil.arm(jm, jm.withdraw.encode_input(1), sender=owner)
    tx = jm.submit(request(model, chain), sender=requester)
    assert evil.attempts() == 1 and not evil.lastCallSucceeded()
    inner_reverts(chain, tx, jm.ReentrancyGuardReentrantCall, jm.address)
    assert evil.balanceOf(jm) == TOTAL and jm.creditsOf(requester) == 0


def test_job_manager_with_zero_owner_cannot_be_deployed(project, owner, token, stake, registry, treasury):
    deploy_reverts(owner, project.JobManager, "OwnableInvalidOwner", token, stake, registry, ZERO,
                   TEST_PARAMS.as_tuple(treasury.address), owner=ZERO)


# ---------------------------------------------------------------------------------------- fee-on-transfer tokens
@pytest.fixture(scope="module")
def fot(stack, model, staked, project, chain, owner, requester, worker, challenger, arbiter, treasury, model_owner):
    """A stack on a FeeOnTransferToken whose fee is 0 until a test switches it on (1%)."""
    from assay.deployer import deploy_stack
    from assay.params import DeployConfig
    from conftest import GAME, UNBONDING

    tok = project.FeeOnTransferToken.deploy(0, sender=owner)
    cfg = DeployConfig(token=tok.address, treasury=treasury.address, arbiter=arbiter.address,
                       unbonding_delay=UNBONDING, game=GAME, params=TEST_PARAMS)
    c = deploy_stack(project, chain, owner, cfg, network="ethereum:local", local=True, log=lambda _m: None)["contracts"]
    s = {"token": tok, "jobs": project.JobManager.at(c["JobManager"]["address"]),
         "stake": project.StakeManager.at(c["StakeManager"]["address"]), "model": model_id_of("model-fot")}
    registry = project.ModelRegistry.at(c["ModelRegistry"]["address"])
    registry.registerModel(s["model"], ["ipfs://m"], MODEL_FEE, 2, b"\x11" * 32, b"\x22" * 32, sender=model_owner)
    for a in (requester, worker, challenger):
        tok.mint(a, 1000 * TOKEN, sender=a)
        tok.approve(s["jobs"], 2**256 - 1, sender=a)
        tok.approve(s["stake"], 2**256 - 1, sender=a)
    s["stake"].stake(100 * TOKEN, sender=worker)
    return s


def test_fee_on_transfer_token_at_submit_reverts_transfer_shortfall(fot, chain, owner, requester):
    tok, jm = fot["token"], fot["jobs"]
    tok.setFee(100, sender=owner)
    count, held, bal = jm.jobCount(), tok.balanceOf(jm), tok.balanceOf(requester)
    with reverts(jm.TransferShortfall, expected=TOTAL, received=TOTAL - TOTAL // 100):
        jm.submit(request(fot["model"], chain), sender=requester)
    assert (jm.jobCount(), tok.balanceOf(jm), tok.balanceOf(requester)) == (count, held, bal)
    tok.setFee(0, sender=owner)  # control: the same submit goes through without the fee
    jm.submit(request(fot["model"], chain), sender=requester)
    assert (jm.jobCount(), tok.balanceOf(jm), tok.balanceOf(requester)) == (count + 1, held + TOTAL, bal - TOTAL)


def test_fee_on_transfer_token_at_challenge_reverts_transfer_shortfall(fot, chain, owner, requester, worker,
                                                                       challenger):
    tok, jm = fot["token"], fot["jobs"]
    jm.submit(request(fot["model"], chain), sender=requester)
    jid = jm.jobCount()
    jm.claim(jid, sender=worker)
    jm.post(jid, OUTPUT_ROOT, b"\x01", "", sender=worker)
    tok.setFee(100, sender=owner)  # switched on while the job is in its window
    held, bal = tok.balanceOf(jm), tok.balanceOf(challenger)
    with reverts(jm.TransferShortfall, expected=BOND, received=BOND - BOND // 100):
        jm.challenge(jid, sender=challenger)
    assert (jm.getJob(jid).status, jm.openDisputes()) == (POSTED, 0)
    assert (tok.balanceOf(jm), tok.balanceOf(challenger)) == (held, bal)


def test_fee_on_transfer_token_at_stake_reverts_transfer_shortfall(fot, owner, worker):
    tok, sm = fot["token"], fot["stake"]
    tok.setFee(250, sender=owner)
    amount = 10 * TOKEN
    before, held, total = sm.stakeOf(worker), tok.balanceOf(sm), sm.totalStaked()
    with reverts(sm.TransferShortfall, expected=amount, received=amount - amount * 250 // 10_000):
        sm.stake(amount, sender=worker)
    assert (sm.stakeOf(worker), tok.balanceOf(sm), sm.totalStaked()) == (before, held, total)
    assert tok.balanceOf(sm) == total  # still backed token for token


# ---------------------------------------------------------------------------------------- coverage meta-test
TEST_FILES = (
    "test_jobmanager_errors.py", "test_jobmanager_deadlines.py", "test_stakemanager.py",
    "test_modelregistry.py", "test_disputegame.py", "test_governance.py",
)
PROTOCOL_CONTRACTS = ("JobManager", "StakeManager", "ModelRegistry", "DisputeGame")
# Errors no test triggers, each with the reason. Keep empty unless an error is truly unreachable.
NOT_TRIGGERED: dict[str, str] = {}


def _triggered_errors() -> set[str]:
    """Names of the errors that reverts / view_reverts / inner_reverts / deploy_reverts calls expect."""
    found: set[str] = set()
    here = Path(__file__).parent
    for name in TEST_FILES:
        tree = ast.parse((here / name).read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            fn = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if fn in ("reverts", "view_reverts", "inner_reverts"):
                arg = node.args[{"reverts": 0, "view_reverts": 1, "inner_reverts": 2}[fn]]
                if isinstance(arg, ast.Attribute):
                    found.add(arg.attr)
            elif fn == "deploy_reverts" and isinstance(node.args[2], ast.Constant):
                found.add(node.args[2].value)
    return found


def test_every_protocol_error_is_triggered_by_a_test(project):
    declared: dict[str, set[str]] = {}
    for contract in PROTOCOL_CONTRACTS:
        for item in getattr(project, contract).contract_type.abi:
            if item.type == "error":
                declared.setdefault(item.name, set()).add(contract)
    assert len(declared) > 50  # the ABIs were read
    triggered = _triggered_errors()
    missing = {e: sorted(c) for e, c in declared.items() if e not in triggered and e not in NOT_TRIGGERED}
    assert not missing, f"errors without a test (add one to {TEST_FILES[0]} or a sibling file): {missing}"
    stale = set(NOT_TRIGGERED) - set(declared)
    assert not stale, f"NOT_TRIGGERED lists errors no contract declares any more: {stale}"
    assert all(reason.strip() for reason in NOT_TRIGGERED.values())


def test_error_coverage_scan_sees_reverts_calls():
    """The meta-test's scanner finds the calls it must find (guards against a scanner that finds nothing)."""
    found = _triggered_errors()
    assert {"ZeroWorkerFee", "OwnableInvalidOwner", "ReentrancyGuardReentrantCall", "FeeTooLarge"} <= found
