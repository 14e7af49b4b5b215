"""Role and factory fixtures for the contract tests (ape test on anvil via ape-foundry).

The stack is deployed once per session with the same code the deploy script uses
(assay.deployer.deploy_stack); ape isolates each test with an EVM snapshot.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "offchain"))

from assay.deployer import deploy_stack  # noqa: E402
from assay.params import DeployConfig, GameParams, GovernanceParams  # noqa: E402

TOKEN = 10**18
# Short, distinct times so that deadline tests are unambiguous.
LEASE = 100
WINDOW = 50
RESPONSE = 20  # the game's windows: response, proof, demand (x MAX_DEMANDS)
PROOF = 100
DEMAND = 10
MAX_DEMANDS = 4
GAME = GameParams(response_window=RESPONSE, proof_window=PROOF, demand_window=DEMAND, max_demands=MAX_DEMANDS)
DISPUTE = GAME.max_duration  # 20 + 100 + 2*4*10 = 200: the game's maxDuration() (a class NONE dispute's length)
UNBONDING = 1000
TEST_PARAMS = GovernanceParams(
    lease_duration=LEASE,
    challenge_window=WINDOW,
    max_claim_ttl=10_000,
    protocol_fee_bps=100,
    liveness_penalty_bps=1000,
    slash_challenger_bps=5000,
    slash_requester_bps=3000,
    bond_to_worker_bps=5000,
    collateral_bps=20000,
    callback_gas_limit=100_000,
    max_inline_bytes=1024,
    min_collateral=1 * TOKEN,
    challenge_bond=2 * TOKEN,
)


@pytest.fixture(scope="session")
def owner(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def requester(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def worker(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def worker2(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def challenger(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def model_owner(accounts):
    return accounts[5]


@pytest.fixture(scope="session")
def treasury(accounts):
    return accounts[6]


@pytest.fixture(scope="session")
def arbiter(accounts):
    return accounts[7]


@pytest.fixture(scope="session")
def stack(project, chain, owner, treasury, arbiter):
    cfg = DeployConfig(
        treasury=treasury.address,
        arbiter=arbiter.address,
        unbonding_delay=UNBONDING,
        game=GAME,
        params=TEST_PARAMS,
    )
    rec = deploy_stack(project, chain, owner, cfg, network="ethereum:local", local=True, log=lambda _m: None)
    c = rec["contracts"]
    return {
        "token": project.TestToken.at(c["Token"]["address"]),
        "registry": project.ModelRegistry.at(c["ModelRegistry"]["address"]),
        "stake": project.StakeManager.at(c["StakeManager"]["address"]),
        "jobs": project.JobManager.at(c["JobManager"]["address"]),
        "game": project.DisputeGame.at(c["DisputeGame"]["address"]),
        "record": rec,
    }


@pytest.fixture(scope="session")
def token(stack):
    return stack["token"]


@pytest.fixture(scope="session")
def registry(stack):
    return stack["registry"]


@pytest.fixture(scope="session")
def stake(stack):
    return stack["stake"]


@pytest.fixture(scope="session")
def jobs(stack):
    return stack["jobs"]


@pytest.fixture(scope="session")
def game(stack):
    return stack["game"]


@pytest.fixture(scope="session")
def funded(stack, token, jobs, stake, requester, worker, worker2, challenger):
    """Every actor holds 1000 tokens and has approved the JobManager and StakeManager."""
    for a in (requester, worker, worker2, challenger):
        token.mint(a.address, 1000 * TOKEN, sender=a)
        token.approve(jobs.address, 2**256 - 1, sender=a)
        token.approve(stake.address, 2**256 - 1, sender=a)
    return True


def model_id_of(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


MODEL_FEE = TOKEN // 10


@pytest.fixture(scope="session")
def model(registry, model_owner, funded):
    """A registered model (fee 0.1 token) owned by model_owner, of verification class NONE: its
    disputes are decided by the arbiter (the fraud-proof game is tested with real models in
    test_fraud_game.py and test_disputegame.py)."""
    mid = model_id_of("model-a")
    registry.registerModel(mid, ["ipfs://model-a"], MODEL_FEE, 2, b"\x11" * 32, b"\x22" * 32, sender=model_owner)
    return mid


@pytest.fixture(scope="session")
def staked(stake, worker, worker2, funded):
    """worker and worker2 each stake 100 tokens."""
    stake.stake(100 * TOKEN, sender=worker)
    stake.stake(100 * TOKEN, sender=worker2)
    return True


WORKER_FEE = TOKEN  # 1 token


def request(model_id, chain, **kw):
    """A JobRequest tuple with sensible defaults; keyword args override fields."""
    r = dict(
        modelId=model_id,
        inputRoot=hashlib.sha256(b"input").digest(),
        workerFee=WORKER_FEE,
        maxTotalFee=10 * TOKEN,
        claimDeadline=chain.pending_timestamp + 1000,
        callback=False,
        input=b"\x01\x02\x03\x04",
        inputURI="",
    )
    r.update(kw)
    return (
        r["modelId"], r["inputRoot"], r["workerFee"], r["maxTotalFee"], r["claimDeadline"], r["callback"],
        r["input"], r["inputURI"],
    )


@pytest.fixture
def make_job(jobs, chain, requester, model, staked):
    """make_job(sender=requester, **request_fields) -> job id."""

    def _make(sender=None, **kw):
        tx = jobs.submit(request(kw.pop("model_id", model), chain, **kw), sender=sender or requester)
        return tx.return_value if tx.return_value else jobs.jobCount()

    return _make


@pytest.fixture
def claimed_job(make_job, jobs, worker):
    def _make(**kw):
        jid = make_job(**kw)
        jobs.claim(jid, sender=worker)
        return jid

    return _make


OUTPUT_ROOT = hashlib.sha256(b"output").digest()


@pytest.fixture
def posted_job(claimed_job, jobs, worker):
    def _make(**kw):
        jid = claimed_job(**kw)
        jobs.post(jid, OUTPUT_ROOT, b"\x09\x09", "", sender=worker)
        return jid

    return _make


def fees(jobs, jid):
    j = jobs.getJob(jid)
    return j.workerFee, j.ownerFee, j.protocolFee


def set_time(chain, ts):
    """The next transaction is mined at timestamp ts."""
    chain.pending_timestamp = ts

