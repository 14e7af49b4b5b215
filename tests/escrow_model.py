"""Pure-Python reference model of Assay's escrow, credit, stake and bond arithmetic.

It mirrors what JobManager, StakeManager and DisputeGame do to money and job status — fees, escrow,
credits, collateral locks, liveness penalties, slashes, bonds and unbonding — including *which*
custom error each call reverts with and in what order the guards are checked, so that
tests/test_invariants.py can drive the contracts and this model side by side and demand that they
agree after every step. Every action is atomic: it either returns the events it emits or raises
:class:`Revert` and leaves the model exactly as it was. It never talks to a chain and never imports
ape or web3; accounts are plain strings (addresses).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any, Callable

BPS = 10_000


class Status(IntEnum):
    """JobStatus of contracts/types/AssayTypes.sol (same values)."""

    NONE = 0
    OPEN = 1
    CLAIMED = 2
    POSTED = 3
    CHALLENGED = 4
    FINALIZED = 5
    EXPIRED = 6
    CANCELLED = 7
    REFUNDED = 8


#: Statuses whose escrow (worker + owner + protocol fee) is still held by the JobManager.
ESCROWED = frozenset({Status.OPEN, Status.CLAIMED, Status.POSTED, Status.CHALLENGED})
#: Terminal statuses: the escrow has been paid out or refunded exactly once.
TERMINAL = frozenset({Status.FINALIZED, Status.EXPIRED, Status.CANCELLED, Status.REFUNDED})


class Revert(Exception):
    """The action must revert with custom error ``name(*args)``."""

    def __init__(self, name: str, *args: Any):
        super().__init__(f"{name}{args}")
        self.name = name
        self.args_ = args


@dataclass(frozen=True)
class ModelParams:
    """The governance parameters the arithmetic depends on (see Params in AssayTypes.sol)."""

    lease_duration: int
    challenge_window: int
    max_claim_ttl: int
    protocol_fee_bps: int
    liveness_penalty_bps: int
    slash_challenger_bps: int
    slash_requester_bps: int
    bond_to_worker_bps: int
    collateral_bps: int
    min_collateral: int
    challenge_bond: int
    dispute_duration: int  # the game's maxDuration(): a class NONE dispute's deadline from its opening
    unbonding_delay: int
    response_window: int = 0  # the game's windows for a provable (EXACT/APPROX) model's dispute
    proof_window: int = 0

    @classmethod
    def from_governance(cls, gp: Any, *, dispute_duration: int, unbonding_delay: int, response_window: int = 0,
                        proof_window: int = 0) -> "ModelParams":
        """From an assay.params.GovernanceParams (duck-typed: only its attributes are read)."""
        return cls(
            lease_duration=gp.lease_duration,
            challenge_window=gp.challenge_window,
            max_claim_ttl=gp.max_claim_ttl,
            protocol_fee_bps=gp.protocol_fee_bps,
            liveness_penalty_bps=gp.liveness_penalty_bps,
            slash_challenger_bps=gp.slash_challenger_bps,
            slash_requester_bps=gp.slash_requester_bps,
            bond_to_worker_bps=gp.bond_to_worker_bps,
            collateral_bps=gp.collateral_bps,
            min_collateral=gp.min_collateral,
            challenge_bond=gp.challenge_bond,
            dispute_duration=dispute_duration,
            unbonding_delay=unbonding_delay,
            response_window=response_window,
            proof_window=proof_window,
        )

    def price(self, worker_fee: int, owner_fee: int) -> tuple[int, int, int]:
        """(protocol fee, total escrow, collateral) exactly as JobManager._price computes them."""
        protocol_fee = (worker_fee + owner_fee) * self.protocol_fee_bps // BPS
        total = worker_fee + owner_fee + protocol_fee
        collateral = max(worker_fee * self.collateral_bps // BPS, self.min_collateral)
        return protocol_fee, total, collateral


@dataclass
class Job:
    requester: str
    worker_fee: int
    owner_fee: int
    protocol_fee: int
    collateral: int
    claim_deadline: int
    status: Status = Status.OPEN
    worker: str | None = None
    deadline: int = 0  # lease end while Claimed, window end while Posted, else 0
    challenger: str | None = None
    bond: int = 0
    dispute_deadline: int = 0  # the deadline that applies now (response, then proof, for a provable model)
    dispute_open: bool = False
    provable: bool = False  # the model has verifiers (class EXACT/APPROX): no arbiter, the game's windows
    trace_posted: bool = False

    @property
    def total(self) -> int:
        return self.worker_fee + self.owner_fee + self.protocol_fee


@dataclass
class StakeAccount:
    active: int = 0  # includes locked
    locked: int = 0
    pending: int = 0
    unlock_at: int = 0


Event = tuple  # ("JobClaimed", jid) | ("JobFinalized", jid) | ("JobRefunded", jid, status, amount) | ...


@dataclass
class EscrowModel:
    """The whole protocol's money state. ``now`` is the timestamp the next transaction runs at."""

    params: ModelParams
    jobs_address: str
    stake_address: str
    treasury: str
    model_owner: str
    model_fee: int
    now: int = 0
    balances: dict[str, int] = field(default_factory=dict)  # token balances (wallets and contracts)
    credits: dict[str, int] = field(default_factory=dict)
    stakes: dict[str, StakeAccount] = field(default_factory=dict)
    jobs: dict[int, Job] = field(default_factory=dict)  # ids 1..len(jobs)

    # ------------------------------------------------------------------ atomicity

    def atomic(self, action: Callable[..., list[Event]], *args: Any, **kw: Any) -> list[Event]:
        """Run ``action``; on Revert put every field back as it was and re-raise."""
        saved = copy.deepcopy((self.balances, self.credits, self.stakes, self.jobs))
        try:
            return action(*args, **kw)
        except Revert:
            self.balances, self.credits, self.stakes, self.jobs = saved
            raise

    # ------------------------------------------------------------------ derived quantities

    def escrow_held(self) -> int:
        """Escrow of every job still in Open/Claimed/Posted/Challenged."""
        return sum(j.total for j in self.jobs.values() if j.status in ESCROWED)

    def bonds_held(self) -> int:
        return sum(j.bond for j in self.jobs.values() if j.status == Status.CHALLENGED)

    def credits_total(self) -> int:
        return sum(self.credits.values())

    def stake_of(self, worker: str) -> StakeAccount:
        return self.stakes.setdefault(worker, StakeAccount())

    def status_of(self, jid: int) -> Status:
        j = self.jobs.get(jid)
        return j.status if j else Status.NONE

    # ------------------------------------------------------------------ token / credit plumbing

    def _transfer(self, frm: str, to: str, amount: int) -> None:
        bal = self.balances.get(frm, 0)
        if amount > bal:
            raise Revert("ERC20InsufficientBalance", frm, bal, amount)
        self.balances[frm] = bal - amount
        self.balances[to] = self.balances.get(to, 0) + amount

    def _credit(self, account: str, amount: int) -> None:
        self.credits[account] = self.credits.get(account, 0) + amount

    def _job(self, jid: int) -> Job:
        j = self.jobs.get(jid)
        if j is None:
            raise Revert("UnknownJob", jid)
        return j

    # ------------------------------------------------------------------ governance

    #: setParams bounds, in the order JobManager._setParams checks them: (name, field(s), min, max).
    BOUNDS = (
        ("leaseDuration", ("lease_duration",), 1, 7 * 86400),
        ("challengeWindow", ("challenge_window",), 1, 30 * 86400),
        ("maxClaimTtl", ("max_claim_ttl",), 1, 90 * 86400),
        ("protocolFeeBps", ("protocol_fee_bps",), 0, 2_000),
        ("livenessPenaltyBps", ("liveness_penalty_bps",), 0, BPS),
        ("slashChallengerBps", ("slash_challenger_bps",), 0, BPS),
        ("slashSharesBps", ("slash_challenger_bps", "slash_requester_bps"), 0, BPS),
        ("bondToWorkerBps", ("bond_to_worker_bps",), 0, BPS),
        ("collateralBps", ("collateral_bps",), 0, 1_000_000),
        ("challengeBond", ("challenge_bond",), 1, 2**96 - 1),
    )
    MAX_UNBONDING_DELAY = 90 * 86400

    def set_params(self, caller: str, owner: str, treasury: str, changes: dict[str, int]) -> list[Event]:
        """JobManager.setParams with some ModelParams fields changed (the others as they are)."""
        if caller != owner:
            raise Revert("OwnableUnauthorizedAccount", caller)
        new = replace(self.params, **changes)
        for name, fields, lo, hi in self.BOUNDS:
            value = sum(getattr(new, f) for f in fields)
            if not lo <= value <= hi:
                raise Revert("ParamOutOfBounds", name.encode().ljust(32, b"\0"), value, lo, hi)
        needed = new.challenge_window + new.dispute_duration
        if new.unbonding_delay <= needed:
            raise Revert("UnbondingTooShort", new.unbonding_delay, needed)
        self.params, self.treasury = new, treasury
        return [("ParamsUpdated",)]

    def set_unbonding_delay(self, caller: str, admin: str, delay: int) -> list[Event]:
        """StakeManager.setUnbondingDelay: above the JobManager's challengeWindow + dispute duration."""
        if caller != admin:
            raise Revert("AccessControlUnauthorizedAccount", caller, bytes(32))
        low = self.params.challenge_window + self.params.dispute_duration
        if delay <= low or delay > self.MAX_UNBONDING_DELAY:
            raise Revert("UnbondingDelayOutOfBounds", delay, low, self.MAX_UNBONDING_DELAY)
        self.params = replace(self.params, unbonding_delay=delay)
        return [("UnbondingDelayUpdated", delay)]

    # ------------------------------------------------------------------ stake manager

    def _lock(self, worker: str, amount: int) -> None:
        s = self.stake_of(worker)
        free = s.active - s.locked
        if amount > free:
            raise Revert("InsufficientFreeStake", worker, free, amount)
        s.locked += amount

    def _unlock(self, worker: str, amount: int) -> None:
        s = self.stake_of(worker)
        if amount > s.locked:
            raise Revert("ExceedsLocked", worker, s.locked, amount)
        s.locked -= amount

    def _slash(self, worker: str, locked_amount: int, slash_amount: int, events: list[Event]) -> None:
        if slash_amount > locked_amount:
            raise Revert("SlashExceedsCollateral", locked_amount, slash_amount)
        s = self.stake_of(worker)
        if locked_amount > s.locked:
            raise Revert("ExceedsLocked", worker, s.locked, locked_amount)
        s.locked -= locked_amount
        s.active -= slash_amount
        if slash_amount:
            events.append(("Slashed", worker, slash_amount))
            self._transfer(self.stake_address, self.jobs_address, slash_amount)

    def stake(self, worker: str, amount: int) -> list[Event]:
        if amount == 0:
            raise Revert("ZeroAmount")
        self.stake_of(worker).active += amount
        self._transfer(worker, self.stake_address, amount)
        return [("Staked", worker, amount)]

    def request_unstake(self, worker: str, amount: int) -> list[Event]:
        if amount == 0:
            raise Revert("ZeroAmount")
        s = self.stake_of(worker)
        free = s.active - s.locked
        if amount > free:
            raise Revert("InsufficientFreeStake", worker, free, amount)
        s.active -= amount
        s.pending += amount
        s.unlock_at = self.now + self.params.unbonding_delay
        return [("UnstakeRequested", worker, amount)]

    def withdraw_stake(self, worker: str) -> list[Event]:
        s = self.stake_of(worker)
        if s.pending == 0:
            raise Revert("NothingToWithdraw", worker)
        if self.now < s.unlock_at:
            raise Revert("UnbondingNotOver", worker, s.unlock_at)
        amount = s.pending
        s.pending, s.unlock_at = 0, 0
        self._transfer(self.stake_address, worker, amount)
        return [("StakeWithdrawn", worker, amount)]

    # ------------------------------------------------------------------ job manager

    def submit(self, requester: str, worker_fee: int, claim_deadline: int, max_total_fee: int,
               provable: bool = False) -> list[Event]:
        p = self.params
        if worker_fee == 0:
            raise Revert("ZeroWorkerFee")
        if claim_deadline <= self.now:
            raise Revert("ClaimDeadlineInPast", claim_deadline, self.now)
        if claim_deadline > self.now + p.max_claim_ttl:
            raise Revert("ClaimDeadlineTooFar", claim_deadline, self.now + p.max_claim_ttl)
        protocol_fee, total, collateral = p.price(worker_fee, self.model_fee)
        if total > max_total_fee:
            raise Revert("FeeAboveMax", total, max_total_fee)
        jid = len(self.jobs) + 1
        self.jobs[jid] = Job(requester, worker_fee, self.model_fee, protocol_fee, collateral, claim_deadline,
                             provable=provable)
        self._transfer(requester, self.jobs_address, total)
        return [("JobSubmitted", jid)]

    def _refund(self, jid: int, j: Job, final: Status, events: list[Event]) -> None:
        j.status = final
        j.deadline = 0
        self._credit(j.requester, j.total)
        events.append(("JobRefunded", jid, int(final), j.total))

    def _reopen_or_refund(self, jid: int, j: Job, events: list[Event]) -> None:
        if self.now <= j.claim_deadline:
            j.worker, j.deadline, j.status = None, 0, Status.OPEN
            events.append(("JobReopened", jid))
        else:
            self._refund(jid, j, Status.EXPIRED if j.status == Status.CLAIMED else Status.REFUNDED, events)

    def cancel(self, caller: str, jid: int) -> list[Event]:
        j = self._job(jid)
        if j.status != Status.OPEN:
            raise Revert("JobNotOpen", jid, int(j.status))
        if caller != j.requester:
            raise Revert("NotRequester", jid, caller, j.requester)
        events: list[Event] = []
        self._refund(jid, j, Status.CANCELLED, events)
        return events

    def expire(self, jid: int) -> list[Event]:
        j = self._job(jid)
        if j.status != Status.OPEN:
            raise Revert("JobNotOpen", jid, int(j.status))
        if self.now <= j.claim_deadline:
            raise Revert("ClaimDeadlineNotPassed", jid, j.claim_deadline)
        events: list[Event] = []
        self._refund(jid, j, Status.EXPIRED, events)
        return events

    def _take(self, worker: str, j: Job) -> None:
        j.worker = worker
        j.deadline = self.now + self.params.lease_duration
        j.status = Status.CLAIMED

    def claim(self, worker: str, jid: int) -> list[Event]:
        j = self._job(jid)
        if j.status != Status.OPEN:
            raise Revert("JobNotOpen", jid, int(j.status))
        if self.now > j.claim_deadline:
            raise Revert("ClaimDeadlinePassed", jid, j.claim_deadline)
        self._take(worker, j)
        self._lock(worker, j.collateral)
        return [("JobClaimed", jid, worker)]

    def claim_jobs(self, worker: str, jids: list[int]) -> list[Event]:
        """Skips jobs not Open or past their claim deadline (unknown ids included); one lock for all."""
        if not jids:
            raise Revert("EmptyBatch")
        events: list[Event] = []
        total = 0
        for jid in jids:
            j = self.jobs.get(jid)
            if j is None or j.status != Status.OPEN or self.now > j.claim_deadline:
                continue
            self._take(worker, j)
            total += j.collateral
            events.append(("JobClaimed", jid, worker))
        if total:
            self._lock(worker, total)
        return events

    def post(self, worker: str, jid: int) -> list[Event]:
        j = self._job(jid)
        if j.status != Status.CLAIMED:
            raise Revert("JobNotClaimed", jid, int(j.status))
        if worker != j.worker:
            raise Revert("NotJobWorker", jid, worker, j.worker)
        if self.now > j.deadline:
            raise Revert("LeaseExpired", jid, j.deadline)
        j.deadline = self.now + self.params.challenge_window
        j.status = Status.POSTED
        return [("ResultPosted", jid)]

    def post_results(self, worker: str, jids: list[int]) -> list[Event]:
        """All or nothing: the first failing post reverts the batch (atomic() undoes the rest)."""
        if not jids:
            raise Revert("EmptyBatch")
        events: list[Event] = []
        for jid in jids:
            events += self.post(worker, jid)
        return events

    def _settle_paid(self, jid: int, j: Job, events: list[Event]) -> None:
        j.status = Status.FINALIZED
        j.deadline = 0
        self._credit(j.worker, j.worker_fee)
        self._credit(self.model_owner, j.owner_fee)
        self._credit(self.treasury, j.protocol_fee)
        events.append(("JobFinalized", jid, j.worker))

    def _finalizable(self, j: Job | None) -> bool:
        return j is not None and j.status == Status.POSTED and self.now > j.deadline

    def finalize(self, jid: int) -> list[Event]:
        j = self._job(jid)
        if j.status != Status.POSTED:
            raise Revert("JobNotPosted", jid, int(j.status))
        if self.now <= j.deadline:
            raise Revert("ChallengeWindowOpen", jid, j.deadline)
        events: list[Event] = []
        self._settle_paid(jid, j, events)
        self._unlock(j.worker, j.collateral)
        return events

    def finalize_jobs(self, jids: list[int]) -> list[Event]:
        if not jids:
            raise Revert("EmptyBatch")
        events: list[Event] = []
        for jid in jids:
            j = self.jobs.get(jid)
            if not self._finalizable(j):
                continue
            self._settle_paid(jid, j, events)
            self._unlock(j.worker, j.collateral)
        return events

    def reclaim(self, jid: int) -> list[Event]:
        j = self._job(jid)
        if j.status != Status.CLAIMED:
            raise Revert("JobNotClaimed", jid, int(j.status))
        if self.now <= j.deadline:
            raise Revert("LeaseNotExpired", jid, j.deadline)
        worker = j.worker
        penalty = j.collateral * self.params.liveness_penalty_bps // BPS
        self._credit(j.requester, penalty)
        events: list[Event] = [("LeaseTimedOut", jid, worker, penalty)]
        self._reopen_or_refund(jid, j, events)
        self._slash(worker, j.collateral, penalty, events)
        return events

    def challenge(self, challenger: str, jid: int) -> list[Event]:
        j = self._job(jid)
        if j.status != Status.POSTED:
            raise Revert("JobNotPosted", jid, int(j.status))
        if self.now > j.deadline:
            raise Revert("ChallengeWindowClosed", jid, j.deadline)
        if challenger == j.worker:
            raise Revert("SelfChallenge", jid)
        bond = self.params.challenge_bond
        j.status = Status.CHALLENGED
        j.challenger, j.bond = challenger, bond
        self._transfer(challenger, self.jobs_address, bond)
        j.dispute_deadline = self.now + (self.params.response_window if j.provable else self.params.dispute_duration)
        j.dispute_open = True
        j.trace_posted = False
        return [("JobChallenged", jid, challenger, bond)]

    def _open_dispute(self, jid: int) -> Job:
        j = self.jobs.get(jid)
        if j is None or not j.dispute_open:
            raise Revert("DisputeNotOpen", jid)
        return j

    def post_trace(self, caller: str, jid: int) -> list[Event]:
        """The worker answers a provable dispute with its trace root: the proof window starts."""
        j = self._open_dispute(jid)
        if not j.provable:
            raise Revert("ArbiterOnly", jid)
        if caller != j.worker:
            raise Revert("NotWorker", jid, caller, j.worker)
        if j.trace_posted:
            raise Revert("TraceAlreadyPosted", jid)
        if self.now > j.dispute_deadline:
            raise Revert("ResponseWindowClosed", jid, j.dispute_deadline)
        j.trace_posted = True
        j.dispute_deadline = self.now + self.params.proof_window
        return [("TracePosted", jid)]

    def arbitrate(self, jid: int, challenger_won: bool) -> list[Event]:
        j = self._open_dispute(jid)
        if j.provable:
            raise Revert("NotArbitrable", jid, 0)  # VerificationClass.EXACT
        if self.now > j.dispute_deadline:
            raise Revert("DisputeExpired", jid, j.dispute_deadline)
        return self._settle_dispute(jid, j, challenger_won)

    def resolve_by_timeout(self, jid: int) -> list[Event]:
        j = self._open_dispute(jid)
        if self.now <= j.dispute_deadline:
            raise Revert("DisputeNotExpired", jid, j.dispute_deadline)
        # No trace by the response deadline: the worker loses; otherwise no proof came: the result stands.
        return self._settle_dispute(jid, j, j.provable and not j.trace_posted)

    def _settle_dispute(self, jid: int, j: Job, challenger_won: bool) -> list[Event]:
        p = self.params
        j.dispute_open = False
        challenger, bond = j.challenger, j.bond
        j.challenger, j.bond = None, 0
        events: list[Event] = []
        if challenger_won:
            coll = j.collateral
            reward = coll * p.slash_challenger_bps // BPS
            to_requester = coll * p.slash_requester_bps // BPS
            self._credit(challenger, bond + reward)
            self._credit(j.requester, to_requester)
            self._credit(self.treasury, coll - reward - to_requester)
            events.append(("DisputeSettled", jid, True, coll, bond + reward))
            worker = j.worker
            self._reopen_or_refund(jid, j, events)
            self._slash(worker, coll, coll, events)
        else:
            to_worker = bond * p.bond_to_worker_bps // BPS
            self._credit(j.worker, to_worker)
            self._credit(self.treasury, bond - to_worker)
            events.append(("DisputeSettled", jid, False, 0, 0))
            self._settle_paid(jid, j, events)
            self._unlock(j.worker, j.collateral)
        return events

    def withdraw(self, account: str, amount: int) -> list[Event]:
        if amount == 0:
            raise Revert("ZeroAmount")
        available = self.credits.get(account, 0)
        if amount > available:
            raise Revert("InsufficientCredits", account, available, amount)
        self.credits[account] = available - amount
        self._transfer(self.jobs_address, account, amount)
        return [("CreditsWithdrawn", account, amount)]
