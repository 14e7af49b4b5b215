"""Reading Assay's state and events from the chain as plain Python values.

`EventReader` reads the events of the JobManager and DisputeGame (or any contracts given) in block
ranges that trail the head by N confirmations, with one chunked `eth_getLogs` per range (halving the
range when a node refuses a large one), decodes them into `Event`s in chain order and remembers the
hash of the last block it read: when that block is no longer on the chain (a reorg), or a node
answers "block not found", it re-reads from the newest block it read that is still canonical.
Delivery is therefore at-least-once — consumers must be idempotent (level-triggered daemons are).
`StateReader` reads views at a pinned block into typed dataclasses (`Job` mirrors `JobView`).
This module never sends a transaction.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Iterable, Mapping

from eth_utils import event_abi_to_log_topic
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import BlockNotFound, ContractLogicError, Web3RPCError

from .connection import Contracts
from .retry import RANGE_TOO_LARGE as _RANGE_TOO_LARGE, has_retries, install_retries
from .sender import reverted, revert_data_of

log = logging.getLogger("assay.chain.reader")

_BLOCK_MISSING = ("block not found", "header not found", "unknown block")


class JobStatus(IntEnum):
    """Mirror of the Solidity JobStatus enum (values are ABI)."""

    NONE = 0
    OPEN = 1
    CLAIMED = 2
    POSTED = 3
    CHALLENGED = 4
    FINALIZED = 5
    EXPIRED = 6
    CANCELLED = 7
    REFUNDED = 8

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.FINALIZED, JobStatus.EXPIRED, JobStatus.CANCELLED, JobStatus.REFUNDED)


class VerificationClass(IntEnum):
    EXACT = 0
    APPROX = 1
    NONE = 2


@dataclass(frozen=True)
class Job:
    """A job as `JobManager.getJob` returns it (`JobView`), in Python types."""

    job_id: int
    model_id: bytes
    input_root: bytes
    output_root: bytes | None  # None until a result is posted
    requester: str
    worker: str | None  # None while nobody holds it
    status: JobStatus
    callback: bool
    claim_deadline: int
    deadline: int  # lease end while Claimed, window end while Posted, else 0
    worker_fee: int
    owner_fee: int
    protocol_fee: int
    collateral: int

    @property
    def total_fee(self) -> int:
        return self.worker_fee + self.owner_fee + self.protocol_fee

    @classmethod
    def from_view(cls, job_id: int, v: Any) -> "Job":
        (model_id, input_root, output_root, requester, worker, status, callback, claim_deadline, deadline,
         worker_fee, owner_fee, protocol_fee, collateral) = v
        zero = b"\x00" * 32
        return cls(
            job_id=int(job_id),
            model_id=bytes(model_id),
            input_root=bytes(input_root),
            output_root=None if bytes(output_root) == zero else bytes(output_root),
            requester=requester,
            worker=None if int(worker, 16) == 0 else worker,
            status=JobStatus(status),
            callback=bool(callback),
            claim_deadline=int(claim_deadline),
            deadline=int(deadline),
            worker_fee=int(worker_fee),
            owner_fee=int(owner_fee),
            protocol_fee=int(protocol_fee),
            collateral=int(collateral),
        )


@dataclass(frozen=True)
class Stake:
    active: int
    locked: int
    pending: int
    unlock_at: int

    @property
    def free(self) -> int:
        return self.active - self.locked


@dataclass(frozen=True)
class Event:
    """One decoded log. `args` holds plain Python values (bytes, int, str, bool, tuples)."""

    name: str
    contract: str
    args: dict[str, Any]
    block_number: int
    block_hash: bytes
    tx_hash: bytes
    log_index: int
    address: str

    def __getitem__(self, key: str) -> Any:
        return self.args[key]

    @property
    def key(self) -> tuple[int, int]:
        """Position in the chain: (block number, log index)."""
        return (self.block_number, self.log_index)


def plain(v: Any) -> Any:
    """web3's AttributeDict / HexBytes / lists -> dict / bytes / tuples."""
    if isinstance(v, (bytes, bytearray, HexBytes)):
        return bytes(v)
    if isinstance(v, Mapping):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return tuple(plain(x) for x in v)
    return v


class _RangeTooLarge(Exception):
    pass


class _BlockMissing(Exception):
    pass


class EventReader:
    """Reads events of `sources` ({name: Contract}) block range by block range; see module doc."""

    def __init__(
        self,
        w3: Web3,
        sources: Mapping[str, Contract],
        *,
        start_block: int = 0,
        confirmations: int = 2,
        max_range: int = 2000,
        events: Iterable[str] | None = None,
        reorg_depth: int = 64,
    ):
        if confirmations < 0 or max_range < 1:
            raise ValueError("confirmations must be >= 0 and max_range >= 1")
        self.w3 = w3
        if not has_retries(w3):
            install_retries(w3)
        self.confirmations = confirmations
        self.max_range = max_range
        self.start_block = start_block
        self.reorg_depth = max(reorg_depth, confirmations + 1)
        self.cursor = start_block  # next block to read
        self._step = max_range
        self._anchors: OrderedDict[int, bytes] = OrderedDict()  # block number -> hash, of range ends read
        wanted = set(events) if events is not None else None
        self._decoders: dict[tuple[str, bytes], tuple[str, Any]] = {}
        self._addresses: list[str] = []
        for cname, c in sources.items():
            self._addresses.append(c.address)
            for item in c.abi:
                if item.get("type") != "event" or item.get("anonymous"):
                    continue
                if wanted is not None and item["name"] not in wanted:
                    continue
                topic = bytes(event_abi_to_log_topic(item))
                self._decoders[(c.address.lower(), topic)] = (cname, getattr(c.events, item["name"])())
        if wanted is not None:
            missing = wanted - {ev.event_name for _c, ev in self._decoders.values()}
            if missing:
                raise ValueError(f"no such event in {', '.join(sources)}: {', '.join(sorted(missing))}")
        self._topics = sorted({"0x" + t.hex() for (_a, t) in self._decoders})

    @classmethod
    def for_protocol(cls, w3: Web3, contracts: Contracts, **kw: Any) -> "EventReader":
        """Events of the JobManager and the DisputeGame."""
        return cls(w3, {"JobManager": contracts.jobs, "DisputeGame": contracts.game}, **kw)

    # ------------------------------------------------------------------ reading
    def safe_head(self) -> int:
        """The newest block with `confirmations` blocks on top of it."""
        return int(self.w3.eth.block_number) - self.confirmations

    def poll(self) -> list[Event]:
        """Events from the cursor up to the safe head, in chain order; advances the cursor.

        After a reorg the cursor first moves back to the fork point, so events of re-mined blocks are
        delivered again. Stops early (keeping what it has read) when the node misses a block.
        """
        self._rewind_if_reorged()
        safe = self.safe_head()
        out: list[Event] = []
        while self.cursor <= safe:
            a = self.cursor
            b = min(a + self._step - 1, safe)
            try:
                logs = self._get_logs(a, b)
                end_hash = self._canonical_hash(b)
                if end_hash is None:
                    raise _BlockMissing(f"block {b}")
            except _RangeTooLarge:
                if self._step == 1:
                    raise
                self._step = max(1, self._step // 2)
                log.info("node refused blocks %d..%d; reading %d blocks per query", a, b, self._step)
                continue
            except _BlockMissing as e:
                log.warning("node does not have block %d..%d yet (%s); will re-read from %d", a, b, e, a)
                break
            out.extend(self._decode(logs))
            self._anchors[b] = end_hash
            while len(self._anchors) > self.reorg_depth:
                self._anchors.popitem(last=False)
            self.cursor = b + 1
        out.sort(key=lambda e: e.key)
        return out

    def read(self, from_block: int, to_block: int) -> list[Event]:
        """Events of blocks from_block..to_block (inclusive), chunked; does not move the cursor."""
        out: list[Event] = []
        a, step = from_block, self._step
        while a <= to_block:
            b = min(a + step - 1, to_block)
            try:
                out.extend(self._decode(self._get_logs(a, b)))
            except _RangeTooLarge:
                if step == 1:
                    raise
                step = max(1, step // 2)
                continue
            a = b + 1
        out.sort(key=lambda e: e.key)
        return out

    def _rewind_if_reorged(self) -> None:
        if not self._anchors:
            return
        # The newest block read that is still canonical is the fork point (block hashes chain, so
        # if the newest anchor matches, everything before it does too).
        for number in reversed(self._anchors):
            if self._canonical_hash(number) == self._anchors[number]:
                if number + 1 != self.cursor:
                    log.warning("reorg: re-reading from block %d", number + 1)
                    self.cursor = number + 1
                    for n in [n for n in self._anchors if n > number]:
                        del self._anchors[n]
                return
        oldest = next(iter(self._anchors))
        self.cursor = max(self.start_block, oldest - self.reorg_depth)
        log.warning("reorg deeper than the %d blocks tracked: re-reading from block %d", len(self._anchors),
                    self.cursor)
        self._anchors.clear()

    def _canonical_hash(self, number: int) -> bytes | None:
        """Hash of block `number` on the node's chain now; None when the node has no such block."""
        try:
            block = self.w3.eth.get_block(number)
        except BlockNotFound:
            return None
        except (Web3RPCError, ValueError) as e:
            if any(k in str(e).lower() for k in _BLOCK_MISSING):
                return None
            raise
        return bytes(block["hash"])

    def _get_logs(self, a: int, b: int) -> list[Any]:
        params = {"fromBlock": a, "toBlock": b, "address": self._addresses, "topics": [self._topics]}
        try:
            return list(self.w3.eth.get_logs(params))  # type: ignore[arg-type]
        except BlockNotFound as e:
            raise _BlockMissing(str(e)) from e
        except (Web3RPCError, ValueError) as e:
            msg = str(e).lower()
            if any(k in msg for k in _BLOCK_MISSING):
                raise _BlockMissing(msg) from e
            if b > a and any(k in msg for k in _RANGE_TOO_LARGE):
                raise _RangeTooLarge(msg) from e
            raise

    def _decode(self, logs: Iterable[Any]) -> list[Event]:
        out: list[Event] = []
        for lg in logs:
            if lg.get("removed"):
                continue
            if not lg["topics"]:
                continue
            hit = self._decoders.get((lg["address"].lower(), bytes(lg["topics"][0])))
            if hit is None:
                continue
            cname, decoder = hit
            d = decoder.process_log(lg)
            out.append(
                Event(
                    name=d["event"],
                    contract=cname,
                    args=plain(d["args"]),
                    block_number=int(d["blockNumber"]),
                    block_hash=bytes(d["blockHash"]),
                    tx_hash=bytes(d["transactionHash"]),
                    log_index=int(d["logIndex"]),
                    address=d["address"],
                )
            )
        return out


class StateReader:
    """Typed views of the protocol contracts at a pinned block (default "latest")."""

    def __init__(self, contracts: Contracts):
        self.c = contracts

    def job(self, job_id: int, block: Any = "latest") -> Job:
        """The job; raises ContractReverted(UnknownJob) for an id that was never submitted."""
        try:
            v = self.c.jobs.functions.getJob(job_id).call(block_identifier=block)
        except ContractLogicError as e:
            raise reverted(revert_data_of(e), f"getJob({job_id})", abi=self.c.jobs.abi,
                           hint="check the job id (ids are 1..jobCount)") from None
        return Job.from_view(job_id, v)

    def status(self, job_id: int, block: Any = "latest") -> JobStatus:
        return JobStatus(self.c.jobs.functions.statusOf(job_id).call(block_identifier=block))

    def job_count(self, block: Any = "latest") -> int:
        return int(self.c.jobs.functions.jobCount().call(block_identifier=block))

    def credits(self, account: str, block: Any = "latest") -> int:
        return int(self.c.jobs.functions.creditsOf(account).call(block_identifier=block))

    def challenge(self, job_id: int, block: Any = "latest") -> tuple[str | None, int]:
        challenger, bond = self.c.jobs.functions.challengeOf(job_id).call(block_identifier=block)
        return (None if int(challenger, 16) == 0 else challenger), int(bond)

    def stake(self, worker: str, block: Any = "latest") -> Stake:
        active, locked, pending, unlock_at = self.c.stake.functions.stakeOf(worker).call(block_identifier=block)
        return Stake(int(active), int(locked), int(pending), int(unlock_at))

    def balance(self, account: str, block: Any = "latest") -> int:
        """Token balance."""
        return int(self.c.token.functions.balanceOf(account).call(block_identifier=block))
