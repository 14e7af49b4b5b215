"""The one client of the Assay contracts: the CLI, the worker, the challenger, the scripts and the tests
all go through :class:`Assay`. There is no second way to submit a job.

It binds the deployed contracts (``deployments/<network>.json`` + ABIs of the current build), sends
every transaction through the single-writer :class:`assay.chain.Sender` (simulated first: a revert
comes back as :class:`assay.errors.ContractReverted` with the decoded custom error, and costs no
gas), keeps blobs in the content store, and checks whatever it can before spending gas: model bytes
against their id and registered roots, inputs against the model's declared inputs, fees against the
quote. It never holds state a restart would need: that lives on-chain (and in a daemon's journal).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from . import chain as ch
from .chain import Job, JobStatus, Sender, SenderConfig, StateReader
from .commitments import codec, roots
from .deployer import DEPLOYMENTS_DIR, deployment_path, load_deployment
from .errors import AssayError, ConfigError, DeploymentNotFound, InsufficientTokens
from .inference.runner import InferenceRunner, inputs_spec, validate_inputs
from .models import InvalidModel, load_onnx
from .store import ContentStore, blob_uri, sha256_hex

VCLASS = {"EXACT": 0, "APPROX": 1, "NONE": 2}
VCLASS_NAME = {v: k for k, v in VCLASS.items()}
MAX_UINT256 = 2**256 - 1
MAX_UINT96 = 2**96 - 1  # fees (worker, model owner) are uint96 on-chain
MAX_UINT128 = 2**128 - 1  # stake balances are uint128 on-chain


class ModelMismatch(AssayError, ValueError):
    """Model bytes do not match the id or the roots registered on-chain."""


class JobFailed(AssayError, RuntimeError):
    """A job ended without a result (expired, cancelled, refunded)."""


class WaitTimeout(AssayError, TimeoutError):
    """A job did not reach the awaited state in time."""


@dataclass(frozen=True)
class ModelInfo:
    model_id: str  # 0x-hex sha256 of the ONNX bytes
    owner: str
    uris: list[str]
    fee: int
    vclass: str
    graph_root: bytes
    weights_root: bytes
    deprecated: bool


@dataclass
class JobResult:
    job_id: int
    outputs: dict[str, np.ndarray]
    output_root: bytes
    worker: str
    status: JobStatus
    raw: bytes = field(repr=False, default=b"")


def hex32(b: bytes | str) -> str:
    return b if isinstance(b, str) else "0x" + bytes(b).hex()


def b32(x: bytes | str) -> bytes:
    if isinstance(x, (bytes, bytearray)):
        if len(x) != 32:
            raise ConfigError(f"expected 32 bytes, got {len(x)}", "ids are 0x followed by 64 hex digits")
        return bytes(x)
    if not isinstance(x, str):
        raise ConfigError(f"expected a 0x-hex id, got {type(x).__name__}", "ids are 0x followed by 64 hex digits")
    h = x.strip().lower().removeprefix("0x")
    if len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
        raise ConfigError(f"{x!r} is not 32 bytes of hex", "ids are 0x followed by 64 hex digits")
    return bytes.fromhex(h)


def check_amount(name: str, value: Any, *, max_value: int, allow_zero: bool = False) -> int:
    """`value` as an int in [1 (or 0), max_value], else ConfigError naming the bound. Amounts are token
    units (10**-18 token): a float or a bool is refused rather than silently rounded."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an integer number of token units, got {value!r}",
                          "amounts are in token units (1 token = 10**18 units); convert with int(tokens * 10**18)")
    v = int(value)
    lo = 0 if allow_zero else 1
    if v < lo:
        raise ConfigError(f"{name} must be {'>= 0' if allow_zero else 'positive'}, got {v}",
                          "give a positive amount of token units" if not allow_zero else "give 0 or more token units")
    if v > max_value:
        raise ConfigError(f"{name} {v} is larger than the contracts accept (at most {max_value})",
                          "amounts this large overflow the on-chain field; check the units (10**18 units = 1 token)")
    return v


def _lenient_strings(w3: Web3) -> None:
    """Make `w3` decode ABI strings that are not UTF-8 with backslash escapes instead of raising.

    Anyone can put arbitrary bytes in a string the contracts store or log (a job's `inputURI`, a
    model's URIs). With web3's strict decoder one such job makes every event query and view touching
    it raise UnicodeDecodeError, which stalls a daemon's whole tick, every tick. Escaped text is never
    trusted: a URI that does not resolve to bytes with the committed sha256 is refused by the store.
    """
    from eth_abi.decoding import StringDecoder

    class _EscapingStringDecoder(StringDecoder):
        def __init__(self, handle_string_errors: str = "backslashreplace"):
            super().__init__(handle_string_errors)

        @classmethod
        def from_type_str(cls, abi_type, registry):  # noqa: ARG003 (eth_abi's signature)
            return cls()

    registry = w3.codec._registry  # noqa: SLF001 (eth_abi's codec keeps its registry here)
    if getattr(registry, "_assay_lenient", False):
        return
    registry = registry.copy()
    registry.unregister_decoder("string")
    registry.register_decoder("string", _EscapingStringDecoder, label="string")
    registry._assay_lenient = True  # noqa: SLF001
    w3.codec = type(w3.codec)(registry)


class Assay:
    """A connection to one deployment of Assay, acting as one account (or read-only without one)."""

    def __init__(
        self,
        w3: Web3,
        deployment: Mapping[str, Any],
        account: Any = None,
        *,
        store: ContentStore | None = None,
        sender_config: SenderConfig | None = None,
        runner: InferenceRunner | None = None,
        publish_base: str | None = None,
    ):
        self.w3 = w3
        _lenient_strings(w3)
        self.deployment = dict(deployment)
        self.c = ch.contracts(w3, deployment)
        self.state = StateReader(self.c)
        self.account = account
        self.sender = Sender(w3, account, sender_config) if account is not None else None
        self.store = store or ContentStore(Path(".assay/store"))
        self.runner = runner or InferenceRunner()
        self.publish_base = publish_base.rstrip("/") if publish_base else None
        self.start_block = min(
            (int(e["block"]) for e in self.deployment["contracts"].values() if e.get("block") is not None), default=0
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    def connect(
        cls,
        rpc_url: str,
        network: str = "ethereum:local",
        *,
        account: Any = None,
        deployment_file: str | Path | None = None,
        store_dir: str | Path = ".assay/store",
        sender_config: SenderConfig | None = None,
        **kw: Any,
    ) -> "Assay":
        """Connect to `rpc_url` and bind the deployment of `network` (or the given deployment file)."""
        if deployment_file is not None:
            import json

            p = Path(deployment_file)
            if not p.is_file():
                raise DeploymentNotFound(f"deployment file {p} not found",
                                         "check the path, or deploy first (`assay devnet up` or `ape run deploy`)")
            try:
                deployment = json.loads(p.read_text())
            except (ValueError, UnicodeDecodeError) as e:
                raise ConfigError(f"deployment file {p} is not valid JSON: {e}",
                                  "restore the file written by the deploy script, or redeploy") from None
            if not isinstance(deployment, dict) or not isinstance(deployment.get("contracts"), dict):
                raise ConfigError(f"deployment file {p} has no 'contracts' table",
                                  "give the file written by the deploy script (deployments/<network>.json)")
        else:
            deployment = load_deployment(network)
        w3 = ch.connect(rpc_url, deployment=deployment)
        return cls(w3, deployment, account, store=ContentStore(Path(store_dir)), sender_config=sender_config, **kw)

    @property
    def address(self) -> str:
        self._need_account()
        return self.account.address

    def _need_account(self) -> None:
        if self.account is None:
            raise ConfigError("this action sends a transaction and no account was given", "pass --account / a key")

    def _send(self, fn: Any, label: str) -> Any:
        self._need_account()
        return self.sender.transact(fn, label=label)

    def _view(self, fn: Any, label: str) -> Any:
        """A view call whose revert comes back as ContractReverted with the decoded custom error."""
        from .chain.sender import revert_data_of, reverted

        try:
            return fn.call()
        except ContractLogicError as e:
            raise reverted(revert_data_of(e), label, abi=fn.contract_abi) from None

    # ------------------------------------------------------------------ token
    def token_balance(self, who: str | None = None) -> int:
        return int(self.c.token.functions.balanceOf(who or self.address).call())

    def mint(self, amount: int, to: str | None = None) -> Any:
        """Mint TestToken (local networks only)."""
        if self.deployment["contracts"]["Token"].get("contract") != "TestToken":
            raise ConfigError("this deployment's token is not the mintable TestToken", "get tokens from a faucet or exchange")
        return self._send(self.c.token.functions.mint(to or self.address, int(amount)), "mint")

    def ensure_allowance(self, spender: str, amount: int) -> None:
        have = int(self.c.token.functions.allowance(self.address, spender).call())
        if have < amount:
            self._send(self.c.token.functions.approve(spender, MAX_UINT256), "approve")

    def _need_tokens(self, amount: int, what: str) -> None:
        bal = self.token_balance()
        if bal < amount:
            raise InsufficientTokens(
                f"{what} needs {amount} token units and {self.address} holds {bal}",
                "get more of the fee token (on a local devnet: `assay devnet up --fund` or TestToken.mint)",
            )

    # ------------------------------------------------------------------ models
    def model(self, model_id: bytes | str) -> ModelInfo:
        m = self._view(self.c.registry.functions.getModel(b32(model_id)), f"getModel({hex32(b32(model_id))})")
        owner, pending, fee, vclass, deprecated, graph_root, weights_root, uris = _model_fields(m)
        return ModelInfo(hex32(b32(model_id)), owner, list(uris), int(fee), VCLASS_NAME[int(vclass)],
                         bytes(graph_root), bytes(weights_root), bool(deprecated))

    def models(self) -> list[ModelInfo]:
        n = int(self.c.registry.functions.modelCount().call())
        return [self.model(self.c.registry.functions.modelIdAt(i).call()) for i in range(n)]

    def register_model(
        self,
        source: str | Path | bytes,
        *,
        fee: int = 0,
        uris: Iterable[str] = (),
        vclass: str | None = None,
    ) -> str:
        """Check the ONNX file, put it in the content store, compute its roots and register it.

        Returns the model id (0x-hex). Refuses malformed ONNX, a model onnxruntime cannot load, a fee
        the contracts cannot hold and an unknown verification class before any gas is spent.
        """
        if isinstance(source, bytes):
            data = source
        else:
            p = Path(source)
            if not p.is_file():
                raise ConfigError(f"model file {p} not found", "give the path of an .onnx file")
            data = p.read_bytes()
        fee = check_amount("fee", fee, max_value=MAX_UINT96, allow_zero=True)
        load_onnx(data)  # raises InvalidModel with what is wrong
        # A model onnxruntime cannot load (an opset from the future, an unknown custom op) would be
        # registered and never served: load it once here, before any gas is spent.
        self.runner.inputs_spec(sha256_hex(data), data)
        graph_root, weights_root = roots.model_roots(data)
        digest = self.store.put(data)
        all_uris = list(uris) or [self._uri_for(digest)]
        auto, uncovered = verification_class(data)
        cls_name = (vclass or auto).upper()
        if cls_name not in VCLASS:
            raise ConfigError(f"unknown verification class {vclass!r}", "use EXACT, APPROX or NONE")
        if uncovered and cls_name != "NONE":
            raise ConfigError(
                f"class {cls_name} needs an on-chain verifier for every op; {', '.join(uncovered)} have none",
                "register it as NONE (disputes then go to the arbiter) or use only verified ops",
            )
        model_id = b32(digest)
        self._send(
            self.c.registry.functions.registerModel(model_id, all_uris, int(fee), VCLASS[cls_name], graph_root, weights_root),
            "registerModel",
        )
        return hex32(model_id)

    def _uri_for(self, digest: str) -> str:
        return f"{self.publish_base}/{digest}" if self.publish_base else blob_uri(digest)

    def fetch_model(self, model_id: bytes | str, *, max_bytes: int = 512 * 2**20) -> bytes:
        """The model's bytes from its registered URIs (or the local store), hash- and root-checked."""
        info = self.model(model_id)
        digest = info.model_id.removeprefix("0x")
        data = self.store.get(digest) if self.store.has(digest) else self.store.fetch(info.uris, digest, max_bytes)
        g, w = roots.model_roots(data)
        if (g, w) != (info.graph_root, info.weights_root):
            raise ModelMismatch(
                f"model {info.model_id}: the file's graph/weights roots differ from the registered ones",
                "the model was registered with wrong commitments; do not serve it (disputes would fail)",
            )
        return data

    # ------------------------------------------------------------------ stake
    def stake(self, amount: int) -> Any:
        amount = check_amount("stake amount", amount, max_value=MAX_UINT128)
        self._need_tokens(amount, "staking")
        self.ensure_allowance(self.c.stake.address, amount)
        return self._send(self.c.stake.functions.stake(int(amount)), "stake")

    def request_unstake(self, amount: int) -> Any:
        return self._send(self.c.stake.functions.requestUnstake(int(amount)), "requestUnstake")

    def withdraw_stake(self) -> Any:
        return self._send(self.c.stake.functions.withdraw(), "withdrawStake")

    def stake_of(self, who: str | None = None) -> ch.Stake:
        return self.state.stake(who or self.address)

    # ------------------------------------------------------------------ jobs: requester
    def quote(self, model_id: bytes | str, worker_fee: int) -> dict[str, int]:
        fee = check_amount("worker_fee", worker_fee, max_value=MAX_UINT96, allow_zero=True)
        o, p, t, c = self._view(self.c.jobs.functions.quote(b32(model_id), fee), "quote")
        return {"owner_fee": int(o), "protocol_fee": int(p), "total": int(t), "collateral": int(c)}

    def prepare_input(self, model_id: bytes | str, inputs: Mapping[str, Any], onnx_bytes: bytes | None = None):
        """Validate `inputs` against the model's declared inputs; (container bytes, input root)."""
        data = onnx_bytes if onnx_bytes is not None else self.fetch_model(model_id)
        feed = validate_inputs(inputs_spec(load_onnx(data)), inputs, max_elements=self.runner.max_elements)
        empty = [k for k, v in feed.items() if v.size == 0]
        if empty:
            raise ConfigError(f"input {empty[0]!r} has no elements (shape {list(feed[empty[0]].shape)})",
                              "a job on an empty batch computes nothing: send at least one row")
        container = codec.encode_tensors(list(feed.items()))
        return container, roots.io_root_of_container(container)

    def submit(
        self,
        model_id: bytes | str,
        inputs: Mapping[str, Any],
        *,
        worker_fee: int,
        claim_ttl: int = 600,
        max_total_fee: int | None = None,
        callback: bool = False,
        onnx_bytes: bytes | None = None,
    ) -> int:
        """Validate, escrow and submit one job; its id. Inputs larger than the inline limit go to the store.

        Everything that can be checked is checked before the first transaction (the token approval):
        amounts, the claim window, the model, the inputs, the price and the balance."""
        worker_fee = check_amount("worker_fee", worker_fee, max_value=MAX_UINT96)
        params = self.params()
        if isinstance(claim_ttl, bool) or not isinstance(claim_ttl, int) or claim_ttl <= 0:
            raise ConfigError(f"claim_ttl must be a positive number of seconds, got {claim_ttl!r}",
                              "give workers time to claim the job, e.g. claim_ttl=600 (the claim deadline is now + ttl)")
        if claim_ttl > params["max_claim_ttl"]:
            raise ConfigError(f"claim_ttl {claim_ttl}s is longer than this deployment allows ({params['max_claim_ttl']}s)",
                              f"use claim_ttl <= {params['max_claim_ttl']}")
        info = self.model(model_id)
        if info.deprecated:
            raise AssayError(f"model {info.model_id} is deprecated by its owner", "pick another model")
        container, input_root = self.prepare_input(model_id, inputs, onnx_bytes)
        q = self.quote(model_id, worker_fee)
        max_total = q["total"] if max_total_fee is None else check_amount(
            "max_total_fee", max_total_fee, max_value=MAX_UINT256)
        if max_total < q["total"]:
            raise ConfigError(
                f"the job costs {q['total']} token units (worker {worker_fee} + model owner {q['owner_fee']} + "
                f"protocol {q['protocol_fee']}) but max_total_fee is {max_total}",
                "raise max_total_fee to at least the quote (Assay.quote), or lower worker_fee",
            )
        self._need_tokens(q["total"], "this job")
        self.ensure_allowance(self.c.jobs.address, q["total"])
        if len(container) <= params["max_inline_bytes"]:
            inline, uri = container, ""
        else:
            inline, uri = b"", self._uri_for(self.store.put(container))
        # The job is mined in a later block than `latest`, whose time may be far behind the clock on an idle
        # chain (a devnet mines only on demand): count from the later of the two, within maxClaimTtl.
        chain_now = self._now()
        deadline = min(max(chain_now, int(time.time())) + int(claim_ttl), chain_now + params["max_claim_ttl"])
        req = (b32(model_id), input_root, int(worker_fee), max_total, deadline, bool(callback), inline, uri)
        receipt = self._send(self.c.jobs.functions.submit(req), "submit")
        ev = self.c.jobs.events.JobSubmitted().process_receipt(receipt, errors=DISCARD)
        return int(ev[0]["args"]["jobId"])

    def cancel(self, job_id: int) -> Any:
        return self._send(self.c.jobs.functions.cancel(int(job_id)), "cancel")

    def expire(self, job_id: int) -> Any:
        return self._send(self.c.jobs.functions.expire(int(job_id)), "expire")

    def job(self, job_id: int, block: Any = "latest") -> Job:
        return self.state.job(int(job_id), block)

    def job_count(self) -> int:
        return self.state.job_count()

    def wait(
        self,
        job_id: int,
        until: JobStatus = JobStatus.FINALIZED,
        *,
        timeout: float = 120.0,
        poll: float = 0.25,
        on_status: Callable[[Job], None] | None = None,
    ) -> Job:
        """Poll until the job reaches `until` (or later); JobFailed if it ends without a result."""
        end = time.monotonic() + timeout
        last = None
        while True:
            j = self.job(job_id)
            if j.status != last and on_status:
                on_status(j)
            last = j.status
            if j.status == until or (until == JobStatus.POSTED and j.status in (JobStatus.FINALIZED, JobStatus.CHALLENGED)):
                return j
            if j.status in (JobStatus.EXPIRED, JobStatus.CANCELLED, JobStatus.REFUNDED):
                raise JobFailed(f"job {job_id} ended {j.status.name} without a result", "submit it again")
            if time.monotonic() > end:
                raise WaitTimeout(
                    f"job {job_id} is still {j.status.name} after {timeout:.0f}s (waiting for {until.name})",
                    "is a worker running for this model? (`assay worker run`); check `assay job status`",
                )
            time.sleep(poll)

    def events(self, name: str, contract: str = "jobs", **filters: Any) -> list[Any]:
        c = getattr(self.c, contract)
        return list(getattr(c.events, name)().get_logs(from_block=self.start_block, argument_filters=filters or None))

    def submitted_event(self, job_id: int) -> Any:
        evs = self.events("JobSubmitted", jobId=int(job_id))
        if not evs:
            raise AssayError(f"no JobSubmitted event for job {job_id}", "check the job id and the network")
        return evs[-1]

    def job_input(self, job_id: int, *, max_bytes: int = 64 * 2**20) -> tuple[bytes, list[tuple[str, np.ndarray]]]:
        """(container bytes, decoded tensors) of a job's input, checked against its input root."""
        ev = self.submitted_event(job_id)["args"]
        raw = bytes(ev["input"])
        if not raw:
            raw = self.store.fetch([ev["inputURI"]], _digest_of_uri(ev["inputURI"]), max_bytes)
        if roots.io_root_of_container(raw) != bytes(ev["inputRoot"]):
            raise ModelMismatch(f"job {job_id}: the input bytes do not match the job's input root",
                                "the requester posted inconsistent input; do not run it")
        return raw, codec.decode_tensors(raw)

    def result(self, job_id: int, *, max_bytes: int = 64 * 2**20) -> JobResult:
        """The posted output of a job, decoded and checked against its output root."""
        j = self.job(job_id)
        evs = self.events("ResultPosted", jobId=int(job_id))
        if not evs or j.output_root is None:
            raise AssayError(f"job {job_id} has no result yet (status {j.status.name})", f"assay job status {job_id}")
        ev = evs[-1]["args"]
        raw = bytes(ev["output"])
        if not raw:
            raw = self.store.fetch([ev["outputURI"]], _digest_of_uri(ev["outputURI"]), max_bytes)
        if roots.io_root_of_container(raw) != j.output_root:
            raise ModelMismatch(f"job {job_id}: the posted output bytes do not match the posted output root",
                                "the worker's result is inconsistent; challenge it")
        return JobResult(job_id, dict(codec.decode_tensors(raw)), j.output_root, j.worker or "", j.status, raw)

    # ------------------------------------------------------------------ jobs: worker
    def claim_jobs(self, job_ids: list[int]) -> list[int]:
        """Claim what can still be claimed; the ids actually claimed (others were faster)."""
        receipt = self._send(self.c.jobs.functions.claimJobs([int(i) for i in job_ids]), "claimJobs")
        return [int(e["args"]["jobId"]) for e in self.c.jobs.events.JobClaimed().process_receipt(receipt, errors=DISCARD)]

    def post_results(self, items: list[tuple[int, bytes, bytes]]) -> Any:
        """items: (job id, output root, output container). Large outputs are published by URI."""
        inline_max = self.params()["max_inline_bytes"]
        ids, roots_, outs, uris = [], [], [], []
        for jid, root, container in items:
            ids.append(int(jid))
            roots_.append(root)
            if len(container) <= inline_max:
                outs.append(container)
                uris.append("")
            else:
                outs.append(b"")
                uris.append(self._uri_for(self.store.put(container)))
        return self._send(self.c.jobs.functions.postResults(ids, roots_, outs, uris), "postResults")

    def finalize_jobs(self, job_ids: list[int]) -> list[int]:
        receipt = self._send(self.c.jobs.functions.finalizeJobs([int(i) for i in job_ids]), "finalizeJobs")
        return [int(e["args"]["jobId"]) for e in self.c.jobs.events.JobFinalized().process_receipt(receipt, errors=DISCARD)]

    def reclaim(self, job_id: int) -> Any:
        return self._send(self.c.jobs.functions.reclaim(int(job_id)), "reclaim")

    def challenge(self, job_id: int) -> Any:
        self.ensure_allowance(self.c.jobs.address, self.params()["challenge_bond"])
        return self._send(self.c.jobs.functions.challenge(int(job_id)), "challenge")

    # ------------------------------------------------------------------ credits
    def credits(self, who: str | None = None) -> int:
        return self.state.credits(who or self.address)

    def withdraw_credits(self, amount: int | None = None) -> int:
        amt = self.credits() if amount is None else check_amount("amount", amount, max_value=MAX_UINT256)
        if amt <= 0:
            raise AssayError(f"{self.address} has no credits to withdraw", "credits come from finalized jobs and refunds")
        self._send(self.c.jobs.functions.withdraw(amt), "withdraw")
        return amt

    # ------------------------------------------------------------------ execution records
    def _record_path(self, job_id: int) -> Path:
        return self.store.root / "records" / f"{self.c.jobs.address.lower()}-{int(job_id)}.json"

    def save_record(self, job_id: int, record: Mapping[str, Any]) -> None:
        """A worker's note of how it produced a result (runtime, settings, timing); read by receipts."""
        import json
        import os

        p = self._record_path(job_id)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, default=str, indent=1))
        os.replace(tmp, p)

    def load_record(self, job_id: int) -> dict[str, Any] | None:
        import json

        p = self._record_path(job_id)
        return json.loads(p.read_text()) if p.exists() else None

    # ------------------------------------------------------------------ misc
    def params(self) -> dict[str, Any]:
        p = self.c.jobs.functions.params().call()
        names = ("lease_duration", "challenge_window", "max_claim_ttl", "protocol_fee_bps", "liveness_penalty_bps",
                 "slash_challenger_bps", "slash_requester_bps", "bond_to_worker_bps", "collateral_bps",
                 "callback_gas_limit", "max_inline_bytes", "min_collateral", "challenge_bond", "treasury")
        return dict(zip(names, p))

    def _now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def now(self) -> int:
        return self._now()


def verification_class(onnx_bytes: bytes) -> tuple[str, list[str]]:
    """(class, uncovered ops) of a model: NONE when some op has no on-chain verifier (its disputes go
    to the arbiter), else APPROX when a float op is checked within a bound, else EXACT."""
    from .fraud import ops

    model = load_onnx(onnx_bytes)
    kinds = {(n.domain, n.op_type) for n in model.graph.node}
    uncovered = sorted(f"{d or 'ai.onnx'}.{o}" for d, o in kinds if not ops.supported(d, o))
    if uncovered:
        return "NONE", uncovered
    exact = {"Relu", "Identity", "Reshape", "Flatten", "Cast", "ArgMax", "MaxPool", "Transpose", "Concat",
             "Squeeze", "Unsqueeze", "Gather", "Slice", "MatMulInteger", "Clip"}
    return ("EXACT" if all(o in exact for _d, o in kinds) else "APPROX"), []


def _model_fields(m: Any) -> tuple:
    """ModelRegistry.Model as a tuple in a fixed order, whatever the struct's field order."""
    if isinstance(m, dict):
        return (m["owner"], m["pendingOwner"], m["fee"], m["vclass"], m["deprecated"], m["graphRoot"],
                m["weightsRoot"], m["uris"])
    owner, fee, pending, vclass, deprecated, graph_root, weights_root, uris = m  # struct order
    return owner, pending, fee, vclass, deprecated, graph_root, weights_root, uris


def _digest_of_uri(uri: str) -> str:
    """The sha256 a content URI names: assay://<hex>, sha256:<hex> or an http(s) URL ending in /<hex>."""
    tail = uri.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    if len(tail) == 64 and all(c in "0123456789abcdef" for c in tail.lower()):
        return tail.lower()
    raise AssayError(f"cannot tell the content hash of {uri!r}", "blobs must be published under their sha256 hex name")


def model_id_of(data: bytes) -> str:
    return "0x" + hashlib.sha256(data).hexdigest()


def is_local_store_uri(uri: str) -> bool:
    return uri.startswith(("assay://", "sha256:"))


__all__ = ["Assay", "JobResult", "ModelInfo", "ModelMismatch", "JobFailed", "WaitTimeout", "InvalidModel",
           "model_id_of", "sha256_hex", "DEPLOYMENTS_DIR", "deployment_path"]
