"""ModelRegistry: registration, owner actions, two-step transfer, views, events with their arguments,
and every ModelRegistry error; jobs for deprecated or unknown models are refused."""

from __future__ import annotations

import ape
import pytest

from conftest import MODEL_FEE, TOKEN, WORKER_FEE, model_id_of, request
from test_jobmanager_errors import (  # noqa: F401  (_no_trace_printing_on_revert is an autouse fixture)
    FINALIZED, ZERO, _no_trace_printing_on_revert, reverts, view_reverts,
)

EXACT, APPROX, NONE = range(3)
GRAPH, WEIGHTS = b"\x11" * 32, b"\x22" * 32
NEW = model_id_of("model-new")
MAX_URIS = 8


def register(registry, sender, model_id=NEW, uris=("ipfs://new",), fee=5, vclass=APPROX, graph=GRAPH, weights=WEIGHTS):
    return registry.registerModel(model_id, list(uris), fee, vclass, graph, weights, sender=sender)


# ---------------------------------------------------------------------------------------- register
def test_register_stores_the_model_and_emits_every_field(registry, accounts):
    anyone = accounts[9]  # registration is permissionless
    count = registry.modelCount()
    tx = register(registry, anyone, uris=("ipfs://a", "https://b"), fee=7, vclass=NONE)
    ev = registry.ModelRegistered.from_receipt(tx)[0]
    assert (ev.modelId, ev.owner, ev.fee, ev.vclass, ev.graphRoot, ev.weightsRoot, list(ev.uris)) == (
        NEW, anyone.address, 7, NONE, GRAPH, WEIGHTS, ["ipfs://a", "https://b"])
    m = registry.getModel(NEW)
    assert (m.owner, m.fee, m.pendingOwner, m.vclass, m.deprecated, m.graphRoot, m.weightsRoot, list(m.uris)) == (
        anyone.address, 7, ZERO, NONE, False, GRAPH, WEIGHTS, ["ipfs://a", "https://b"])
    assert registry.pricing(NEW) == (anyone.address, 7, False)
    assert registry.ownerOf(NEW) == anyone.address and registry.verificationClass(NEW) == NONE
    assert registry.modelCount() == count + 1 and registry.modelIdAt(count) == NEW


def test_model_ids_are_listed_in_registration_order(registry, model, model_owner):
    ids = [model_id_of(f"order-{i}") for i in range(3)]
    start = registry.modelCount()
    assert registry.modelIdAt(start - 1) == model  # the fixture's model was the last one registered
    for mid in ids:
        register(registry, model_owner, model_id=mid)
    assert registry.modelCount() == start + 3
    assert [registry.modelIdAt(start - 1 + i) for i in range(4)] == [model, *ids]


def test_register_zero_model_id_reverts(registry, model_owner):
    with reverts(registry.ZeroModelId):
        register(registry, model_owner, model_id=b"\0" * 32)


def test_register_an_id_twice_reverts(registry, model, model_owner, accounts):
    with reverts(registry.ModelAlreadyRegistered, modelId=model):
        register(registry, accounts[9], model_id=model)
    assert registry.ownerOf(model) == model_owner.address  # the record was not replaced


@pytest.mark.parametrize("graph,weights", [(b"\0" * 32, WEIGHTS), (GRAPH, b"\0" * 32)], ids=["graph", "weights"])
def test_register_with_a_zero_commitment_reverts(registry, model_owner, graph, weights):
    with reverts(registry.ZeroModelRoot, modelId=NEW):
        register(registry, model_owner, graph=graph, weights=weights)


@pytest.mark.parametrize("uris", [(), ("",), ("ipfs://ok", "")], ids=["none", "empty-string", "one-empty"])
def test_register_without_a_usable_uri_reverts(registry, model_owner, uris):
    with reverts(registry.NoModelURI, modelId=NEW):
        register(registry, model_owner, uris=uris)


def test_register_with_more_than_max_uris_reverts(registry, model_owner):
    assert registry.MAX_URIS() == MAX_URIS
    with reverts(registry.TooManyURIs, count=MAX_URIS + 1, max=MAX_URIS):
        register(registry, model_owner, uris=[f"ipfs://{i}" for i in range(MAX_URIS + 1)])
    register(registry, model_owner, uris=[f"ipfs://{i}" for i in range(MAX_URIS)])
    assert len(registry.getModel(NEW).uris) == MAX_URIS


# ---------------------------------------------------------------------------------------- owner actions
def test_set_uris_replaces_the_whole_list(registry, model, model_owner):
    register(registry, model_owner, uris=("ipfs://1", "ipfs://2", "ipfs://3"))
    tx = registry.setURIs(NEW, ["https://only"], sender=model_owner)
    ev = registry.ModelURIsUpdated.from_receipt(tx)[0]
    assert (ev.modelId, list(ev.uris)) == (NEW, ["https://only"])
    assert list(registry.getModel(NEW).uris) == ["https://only"]
    with reverts(registry.NoModelURI, modelId=NEW):
        registry.setURIs(NEW, [""], sender=model_owner)
    with reverts(registry.NoModelURI, modelId=NEW):
        registry.setURIs(NEW, [], sender=model_owner)
    with reverts(registry.TooManyURIs, count=MAX_URIS + 1, max=MAX_URIS):
        registry.setURIs(NEW, ["ipfs://x"] * (MAX_URIS + 1), sender=model_owner)


def test_set_fee_changes_what_new_jobs_pay(registry, jobs, model, model_owner):
    tx = registry.setFee(model, 3 * TOKEN, sender=model_owner)
    ev = registry.ModelFeeUpdated.from_receipt(tx)[0]
    assert (ev.modelId, ev.fee) == (model, 3 * TOKEN)
    assert registry.pricing(model) == (model_owner.address, 3 * TOKEN, False)
    assert jobs.quote(model, WORKER_FEE)[0] == 3 * TOKEN
    registry.setFee(model, 0, sender=model_owner)  # a free model is allowed
    assert jobs.quote(model, WORKER_FEE)[0] == 0


def test_only_the_owner_changes_a_model(registry, model, model_owner, accounts):
    other = accounts[9]
    actions = (
        lambda: registry.setURIs(model, ["ipfs://evil"], sender=other),
        lambda: registry.setFee(model, 10**27, sender=other),
        lambda: registry.deprecate(model, sender=other),
        lambda: registry.transferModel(model, other, sender=other),
    )
    for act in actions:
        with reverts(registry.NotModelOwner, modelId=model, caller=other.address, owner=model_owner.address):
            act()
    m = registry.getModel(model)
    assert (m.fee, m.deprecated, m.pendingOwner, list(m.uris)) == (MODEL_FEE, False, ZERO, ["ipfs://model-a"])


def test_deprecate_is_one_way_and_once(registry, model, model_owner):
    tx = registry.deprecate(model, sender=model_owner)
    assert registry.ModelDeprecated.from_receipt(tx)[0].modelId == model
    assert registry.getModel(model).deprecated and registry.pricing(model)[2]
    with reverts(registry.ModelAlreadyDeprecated, modelId=model):
        registry.deprecate(model, sender=model_owner)


def test_deprecation_blocks_new_jobs_but_running_jobs_complete(registry, jobs, model, model_owner, posted_job,
                                                               worker, requester, chain):
    jid = posted_job()
    registry.deprecate(model, sender=model_owner)
    with reverts(jobs.ModelDeprecated, modelId=model):
        jobs.submit(request(model, chain), sender=requester)
    chain.pending_timestamp = jobs.getJob(jid).deadline + 1
    jobs.finalize(jid, sender=worker)
    assert jobs.getJob(jid).status == FINALIZED
    assert jobs.creditsOf(model_owner) == MODEL_FEE and jobs.creditsOf(worker) == WORKER_FEE


# ---------------------------------------------------------------------------------------- transfer
def test_transfer_takes_two_steps(registry, model, model_owner, accounts):
    new_owner = accounts[9]
    tx = registry.transferModel(model, new_owner, sender=model_owner)
    ev = registry.ModelTransferStarted.from_receipt(tx)[0]
    assert (ev.modelId, ev.owner, ev.pendingOwner) == (model, model_owner.address, new_owner.address)
    assert registry.getModel(model).pendingOwner == new_owner.address
    assert registry.ownerOf(model) == model_owner.address  # nothing changes until accepted
    tx = registry.acceptModel(model, sender=new_owner)
    ev = registry.ModelTransferred.from_receipt(tx)[0]
    assert (ev.modelId, ev.previousOwner, ev.newOwner) == (model, model_owner.address, new_owner.address)
    m = registry.getModel(model)
    assert (m.owner, m.pendingOwner) == (new_owner.address, ZERO)
    with reverts(registry.NotModelOwner, modelId=model, caller=model_owner.address, owner=new_owner.address):
        registry.setFee(model, 0, sender=model_owner)
    registry.setFee(model, 1, sender=new_owner)
    assert registry.pricing(model)[1] == 1


def test_transfer_to_zero_reverts(registry, model, model_owner):
    with reverts(registry.ZeroNewOwner):
        registry.transferModel(model, ZERO, sender=model_owner)


def test_accept_by_anyone_but_the_pending_owner_reverts(registry, model, model_owner, accounts):
    with reverts(registry.NotPendingModelOwner, modelId=model, caller=accounts[9].address):
        registry.acceptModel(model, sender=accounts[9])  # no transfer started
    registry.transferModel(model, accounts[8], sender=model_owner)
    registry.transferModel(model, accounts[9], sender=model_owner)  # a later proposal replaces the first
    with reverts(registry.NotPendingModelOwner, modelId=model, caller=accounts[8].address):
        registry.acceptModel(model, sender=accounts[8])
    with reverts(registry.NotPendingModelOwner, modelId=model, caller=model_owner.address):
        registry.acceptModel(model, sender=model_owner)
    registry.acceptModel(model, sender=accounts[9])
    assert registry.ownerOf(model) == accounts[9].address


# ---------------------------------------------------------------------------------------- unknown models
def test_every_action_on_an_unknown_model_reverts_model_not_registered(registry, jobs, model_owner, requester,
                                                                       chain, staked):
    unknown = model_id_of("unknown")
    count = jobs.jobCount()
    for act in (
        lambda: registry.setURIs(unknown, ["ipfs://x"], sender=model_owner),
        lambda: registry.setFee(unknown, 1, sender=model_owner),
        lambda: registry.deprecate(unknown, sender=model_owner),
        lambda: registry.transferModel(unknown, requester, sender=model_owner),
        lambda: registry.acceptModel(unknown, sender=model_owner),
        lambda: jobs.submit(request(unknown, chain), sender=requester),
    ):
        with reverts(registry.ModelNotRegistered, modelId=unknown):
            act()
    for view in (registry.getModel, registry.pricing, registry.ownerOf, registry.verificationClass):
        view_reverts(chain, registry.ModelNotRegistered, view, unknown, modelId=unknown)
    view_reverts(chain, registry.ModelNotRegistered, jobs.quote, unknown, WORKER_FEE, modelId=unknown)
    assert jobs.jobCount() == count


def test_model_id_at_beyond_the_count_reverts(registry, model):
    with ape.reverts("panic: array out-of-bounds access (0x32)"):
        registry.modelIdAt(registry.modelCount())

