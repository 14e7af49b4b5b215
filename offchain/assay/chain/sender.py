"""The single-writer transaction sender: the only way the SDK and the daemons send transactions.

One `Sender` per account per process. It signs locally (eth_account), keeps the account's next nonce
in memory and re-reads the node's *pending* nonce whenever a send fails, simulates every
transaction with `eth_call` before signing it (a revert is raised as `ContractReverted` with the
decoded custom error and nothing is sent), estimates gas with a margin, prices it with EIP-1559 fees
where the chain has a base fee (legacy gas price otherwise), and waits for the receipt with a
time-out, replacing a transaction that is not mined after `replace_after` seconds by the same
nonce at a higher fee, and filling a nonce gap below it (left by a reorg or a node that dropped
transactions) so that it can be mined at all. Transient RPC failures are retried by
`assay.chain.retry` (same signed bytes, so never a second transaction); reverts are never retried.
A receipt with status 0 is decoded too, by replaying the transaction. A call identical to one
whose wait() timed out is not sent again while that one is pending: submit() hands it back. It must
never sign two different transactions that could both be mined for the same intent, and never
share an account with another writer.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Mapping

from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError

from .. import artifacts
from ..errors import AssayError, ContractReverted, DecodedError
from .retry import RetryPolicy, has_retries, install_retries, is_transient_exception

log = logging.getLogger("assay.chain.sender")

PANIC_SELECTOR = bytes.fromhex("4e487b71")
_ALREADY_KNOWN = ("already known", "already imported", "known transaction", "alreadyknown", "already in mempool")
_NONCE_TOO_LOW = ("nonce too low", "nonce is too low", "oldnonce", "invalid nonce", "nonce has already been used")
_UNDERPRICED = ("underpriced", "fee too low", "replacement transaction")


class InsufficientFunds(AssayError, RuntimeError):
    """The account cannot pay for gas (or the value)."""


class SendFailed(AssayError, RuntimeError):
    """The node refused the transaction for a reason other than a revert."""


class TxTimeout(AssayError, TimeoutError):
    """No version of the transaction was mined in time. It may still be mined later."""

    def __init__(self, message: str, pending: "PendingTx", hint: str | None = None):
        super().__init__(message, hint)
        self.pending = pending


class NonceTakenElsewhere(AssayError, RuntimeError):
    """The nonce of a pending transaction was used by a transaction this sender did not send."""


@dataclass
class SenderConfig:
    """Knobs of a Sender; defaults suit a public chain, tests shorten the times."""

    gas_margin: float = 1.25  # gas limit = estimate * gas_margin
    simulate_block: str = "pending"  # state the pre-send eth_call / estimate run against
    receipt_timeout: float = 180.0  # seconds wait() waits for a receipt
    replace_after: float | None = 45.0  # seconds without a receipt before re-pricing; None = never
    fee_bump: float = 1.125  # replacement fee factor (geth needs >= 1.10 on both fee fields)
    base_fee_multiplier: float = 2.0  # maxFeePerGas = base fee * this + priority fee
    priority_fee: int | None = None  # wei; None = ask the node (eth_maxPriorityFeePerGas)
    gas_price: int | None = None  # wei, legacy chains; None = ask the node (eth_gasPrice)
    max_fee_per_gas: int | None = None  # hard cap in wei on maxFeePerGas / gasPrice; None = no cap
    legacy: bool | None = None  # force legacy (True) or EIP-1559 (False); None = detect from the head block
    poll_interval: float = 0.5  # seconds between receipt polls
    send_attempts: int = 3  # signing attempts when the node says our nonce is stale


@dataclass
class PendingTx:
    """A transaction sent and not yet known to be mined. `hashes` lists every version, oldest first."""

    label: str
    nonce: int
    tx: dict[str, Any]  # the unsigned fields of the newest version
    hashes: list[HexBytes]
    raw: bytes  # signed bytes of the newest version (re-broadcast when the node forgot it)
    sent_at: float  # monotonic time the newest version was sent
    receipt: Any = None
    replacements: int = 0
    call: dict[str, Any] = field(default_factory=dict)  # from/to/data/value, for replaying a revert
    abi: list[dict[str, Any]] | None = None  # of the called contract, to decode its errors
    timed_out: bool = False  # a wait() gave up on it: an identical submit() re-attaches instead of re-sending
    gap_fills: list[HexBytes] = field(default_factory=list)  # no-op transactions sent to fill nonces below it

    @property
    def hash(self) -> HexBytes:
        return self.hashes[-1]


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def _rpc_message(exc: BaseException) -> str:
    """The node's error message of a Web3RPCError / ValueError, lower-cased."""
    resp = getattr(exc, "rpc_response", None)
    if isinstance(resp, dict) and isinstance(resp.get("error"), dict):
        return str(resp["error"].get("message", "")).lower()
    if exc.args and isinstance(exc.args[0], dict):
        return str(exc.args[0].get("message", "")).lower()
    return str(exc).lower()


def revert_data_of(exc: ContractLogicError) -> bytes:
    """The raw revert data web3 attached to a ContractLogicError (b"" when the node gave none)."""
    data: Any = exc.data
    if isinstance(data, dict):  # some nodes nest it: {"message": ..., "data": "0x..."}
        data = data.get("data") or data.get("result")
    if isinstance(data, str):
        if data.startswith("Reverted "):
            data = data.split(" ", 1)[1]
        try:
            return bytes.fromhex(data[2:] if data.startswith("0x") else data)
        except ValueError:
            return b""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    return b""


_PANIC_CODES = {
    0x01: "assert failed", 0x11: "arithmetic overflow or underflow", 0x12: "division by zero",
    0x21: "invalid enum value", 0x22: "bad storage byte array", 0x31: "pop on empty array",
    0x32: "array index out of bounds", 0x41: "out of memory", 0x51: "call to a zero function pointer",
}


def _error_table_of(abi: list[dict[str, Any]]) -> dict[bytes, dict[str, Any]]:
    from eth_utils import keccak

    out: dict[bytes, dict[str, Any]] = {}
    for item in abi:
        if item.get("type") == "error":
            sig = f"{item['name']}({','.join(artifacts._type_str(i) for i in item['inputs'])})"
            out.setdefault(keccak(text=sig)[:4], item)
    return out


@lru_cache(maxsize=1)
def _names_by_abi_hash() -> dict[str, str]:
    names: dict[str, str] = {}
    for n in (*artifacts.PROTOCOL_CONTRACTS, "TestToken"):
        try:
            names[artifacts.abi_sha256(artifacts.abi(n))] = n
        except AssayError:
            pass
    return names


def _checksummed(t: str, v: Any) -> Any:
    return Web3.to_checksum_address(v) if t == "address" else v


def _decode_with(item: dict[str, Any], data: bytes, contract: str | None) -> DecodedError:
    types = [artifacts._type_str(i) for i in item["inputs"]]
    values = abi_decode(types, bytes(data[4:]))
    args = {i["name"]: _checksummed(t, v) for i, t, v in zip(item["inputs"], types, values)}
    return DecodedError(item["name"], args, contract)


def decode_revert_data(data: bytes, abi: list[dict[str, Any]] | None = None) -> DecodedError | None:
    """Decode revert data: with the ABI of the called contract first (so the error is attributed to
    it), then the protocol's custom errors and Error(string) (assay.artifacts), Panic(uint256), and
    the token's errors (an ERC20 revert bubbling up through a protocol contract). Addresses come
    back checksummed."""
    data = bytes(data)
    if len(data) < 4:
        return None
    selector = data[:4]
    if abi:
        item = _error_table_of(abi).get(selector)
        if item is not None:
            return _decode_with(item, data, _names_by_abi_hash().get(artifacts.abi_sha256(abi)))
    hit = artifacts.error_table().get(selector)
    if hit is not None:
        return _decode_with(hit[1], data, hit[0])
    if selector == PANIC_SELECTOR and len(data) == 36:
        (code,) = abi_decode(["uint256"], data[4:])
        return DecodedError("Panic", {"code": code, "reason": _PANIC_CODES.get(code, "unknown panic")})
    decoded = artifacts.decode_revert(data)  # Error(string)
    if decoded is not None:
        return decoded
    try:
        item = _error_table_of(artifacts.abi("TestToken")).get(selector)
    except AssayError:
        return None
    return _decode_with(item, data, "TestToken") if item is not None else None


def reverted(data: bytes, label: str, *, hint: str | None = None, tx_hash: HexBytes | None = None,
             receipt: Any = None, abi: list[dict[str, Any]] | None = None) -> ContractReverted:
    """A ContractReverted for `data`, its message prefixed by what was called (`label`)."""
    err = ContractReverted(decode_revert_data(data, abi), data, hint)
    err.label = label  # type: ignore[attr-defined]
    err.tx_hash = tx_hash  # type: ignore[attr-defined]
    err.receipt = receipt  # type: ignore[attr-defined]
    err.args = (f"{label}: {err.args[0]}",)
    return err


class Sender:
    """Signs, simulates, sends and watches the transactions of one account (see module doc).

    Thread-safe within one process; never run two Senders (or any other wallet) for the same account
    at once: they would race for nonces.
    """

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        config: SenderConfig | None = None,
        *,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.w3 = w3
        self.account = account
        self.address = account.address
        self.config = config or SenderConfig()
        if retry is not None or not has_retries(w3):
            install_retries(w3, retry or RetryPolicy())
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.RLock()
        self._next_nonce: int | None = None
        self._chain_id: int | None = None
        self._eip1559: bool | None = None
        self._inflight: dict[int, PendingTx] = {}  # nonce -> transaction sent, receipt not yet seen
        self.sent = 0  # transactions (not versions) this sender put on the chain
        self.replacements = 0  # versions re-sent at a higher fee (same nonce)
        self.gap_fills = 0  # no-op transactions sent to fill nonce gaps

    # ------------------------------------------------------------------ public API
    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def transact(self, what: Any, *, value: int = 0, gas: int | None = None, label: str | None = None,
                 timeout: float | None = None) -> Any:
        """Simulate, send and wait: the receipt of a successful transaction, else ContractReverted."""
        return self.wait(self.submit(what, value=value, gas=gas, label=label), timeout=timeout)

    def call(self, what: Any, *, value: int = 0, label: str | None = None, block: Any = None) -> bytes:
        """Only the simulation: the raw return data, or ContractReverted."""
        call, lbl, abi = self._call_of(what, value, label)
        return self._simulate(call, lbl, abi, block)

    def deploy(self, abi: list[dict[str, Any]], bytecode: str, *args: Any, label: str | None = None,
               timeout: float | None = None) -> Any:
        """Deploy a contract; the receipt (its `contractAddress` is the new address)."""
        ctor = self.w3.eth.contract(abi=abi, bytecode=bytecode).constructor(*args)
        return self.transact(ctor, label=label or "deploy", timeout=timeout)

    def submit(self, what: Any, *, value: int = 0, gas: int | None = None, label: str | None = None,
               simulate: bool = True) -> PendingTx:
        """Simulate, sign with the next nonce and broadcast; returns without waiting for the receipt.

        `what` is a bound contract function (`jobs.functions.claim(1)`), a constructor, or a dict with
        `to`, `data` and optionally `value`. Raises ContractReverted (nothing sent) when the
        simulation reverts. When a transaction with the very same call (to, data, value) was sent
        before, its wait() timed out and it is still not mined, that one is returned instead of sending a
        second: it may still be mined, and both could execute (a daemon retrying a post after TxTimeout).
        """
        call, lbl, abi = self._call_of(what, value, label)
        with self._lock:
            again = next((p for p in self._inflight.values() if p.timed_out and p.call == call), None)
        if again is not None and self._find_receipt(again) is not None:
            with self._lock:  # mined meanwhile: that intent is done, this one is new
                self._inflight.pop(again.nonce, None)
            again = None
        if again is not None:
            log.info("%s: the same call is still pending as nonce %d (%s); waiting for it instead of sending "
                     "another", lbl, again.nonce, _hex(again.hash))
            again.timed_out = False
            return again
        if simulate:
            self._simulate(call, lbl, abi)
        if gas is None:
            gas = self._estimate(call, lbl, abi)
        with self._lock:
            pending = self._sign_and_send(call, gas, lbl)
        pending.abi = abi
        return pending

    def wait(self, pending: PendingTx, timeout: float | None = None) -> Any:
        """The receipt of whichever version of `pending` was mined. Every `replace_after` seconds without
        one: fills a nonce gap below it if there is one (fill_gap), else re-prices it (replace).

        Raises ContractReverted for a mined transaction that reverted (decoded by replay), TxTimeout
        when nothing was mined within `timeout` (default config.receipt_timeout; the transaction may
        still be mined: call wait() again), NonceTakenElsewhere when another writer used its nonce.
        """
        if pending.receipt is not None:
            return self._finish(pending, pending.receipt)
        cfg = self.config
        timeout = cfg.receipt_timeout if timeout is None else timeout
        deadline = self._clock() + timeout
        while True:
            receipt = self._find_receipt(pending)
            if receipt is not None:
                return self._finish(pending, receipt)
            now = self._clock()
            if cfg.replace_after is not None and now - pending.sent_at >= cfg.replace_after:
                self._check_nonce_not_taken(pending)
                if not self.fill_gap(pending):
                    self.replace(pending)
            if now >= deadline:
                self._check_nonce_not_taken(pending)
                pending.timed_out = True
                raise TxTimeout(
                    f"{pending.label} (nonce {pending.nonce}) was not mined within {timeout:g}s; "
                    f"sent as {', '.join(_hex(h) for h in pending.hashes)}",
                    pending,
                    "it is still pending: call wait() again, or raise max_fee_per_gas if fees are capped below "
                    "the network's; check the node is mining",
                )
            self._sleep(min(cfg.poll_interval, max(0.0, deadline - now)))

    def replace(self, pending: PendingTx) -> bool:
        """Re-send `pending` now with the same nonce and fees raised by config.fee_bump (at least the
        node's current suggestion). False when the fee cap allows no valid bump (the newest version is
        re-broadcast instead, in case the node dropped it)."""
        with self._lock:
            if pending.receipt is not None:
                return False
            fees = self._bumped_fees(pending.tx)
            if fees is None:
                log.warning("%s: fee cap %s reached; re-broadcasting without a bump", pending.label,
                            self.config.max_fee_per_gas)
                self._rebroadcast(pending)
                pending.sent_at = self._clock()
                return False
            tx = {**pending.tx, **fees}
            signed = self.account.sign_transaction(tx)
            try:
                self._broadcast(signed, pending.label, replacement=True)
            except _StaleNonce as e:
                # An earlier version was mined meanwhile (nonce too low): the next receipt poll finds
                # it. Or the node wants a bigger bump (underpriced): start the next bump from these fees.
                if any(k in str(e) for k in _UNDERPRICED):
                    pending.tx = tx
                pending.sent_at = self._clock()
                return False
            pending.tx = tx
            pending.raw = bytes(signed.raw_transaction)
            pending.hashes.append(HexBytes(signed.hash))
            pending.sent_at = self._clock()
            pending.replacements += 1
            self.replacements += 1
            log.info("%s: replaced nonce %d with %s (%s)", pending.label, pending.nonce, _hex(signed.hash), fees)
            return True

    def fill_gap(self, pending: PendingTx) -> bool:
        """Make every nonce below `pending`'s known to the node, so that `pending` can be mined.

        A gap appears when transactions this sender had seen mined are removed by a reorg (the chain's
        nonce goes back, the in-memory one does not) or when a node drops transactions. For each nonce
        between the node's pending nonce and `pending.nonce`: a transaction of ours that is still in
        flight is re-sent (re-priced if the node no longer has it), any other nonce gets a 0-value
        transfer to this account itself (21,000 gas), which executes nothing. Nonces the node already
        holds are left alone (the node answers "already known" / "underpriced"). True when a gap was
        found (and `pending.sent_at` restarts the replacement timer); False when there is none.
        """
        with self._lock:
            if pending.receipt is not None:
                return False
            mined = int(self.w3.eth.get_transaction_count(self.address, "latest"))
            if mined >= pending.nonce:
                return False
            known = int(self.w3.eth.get_transaction_count(self.address, "pending"))
            if known >= pending.nonce:
                return False  # the nonces below are in the node's pool: slow, not missing
            for n in [k for k in self._inflight if k < mined]:
                self._inflight.pop(n, None)  # mined (or replaced by a mined one); their waiters find out
            for n in range(max(mined, known), pending.nonce):
                other = self._inflight.get(n)
                if other is not None and other is not pending and other.receipt is None:
                    if not self._node_has(other.hash):
                        if not self.replace(other):
                            self._rebroadcast(other)
                    log.warning("%s: nonce gap at %d below nonce %d: re-sent %s", pending.label, n, pending.nonce,
                                other.label, extra={"event": "nonce_gap_resent", "nonce": n})
                    continue
                tx = {"to": self.address, "value": 0, "data": "0x", "gas": 21_000, "nonce": n,
                      "chainId": self.chain_id, **self._fees()}
                signed = self.account.sign_transaction(tx)
                try:
                    self._broadcast(signed, f"gap fill {n}")
                except _StaleNonce as e:
                    log.info("%s: nonce %d is taken after all (%s)", pending.label, n, e)
                    continue
                pending.gap_fills.append(HexBytes(signed.hash))
                self.gap_fills += 1
                log.warning("%s: nonce %d is missing below nonce %d (a reorg or a dropped transaction); filled it "
                            "with a no-op self-transfer %s", pending.label, n, pending.nonce, _hex(signed.hash),
                            extra={"event": "nonce_gap_filled", "nonce": n, "tx": _hex(signed.hash)})
            pending.sent_at = self._clock()
            return True

    def resync_nonce(self) -> int:
        """Forget the local nonce and read the node's pending nonce for this account."""
        with self._lock:
            self._next_nonce = int(self.w3.eth.get_transaction_count(self.address, "pending"))
            return self._next_nonce

    # ------------------------------------------------------------------ building
    def _call_of(self, what: Any, value: int, label: str | None) -> tuple[dict[str, Any], str, list[Any] | None]:
        call: dict[str, Any] = {"from": self.address}
        abi = None
        if isinstance(what, ContractFunction):
            call["to"] = what.address
            call["data"] = what._encode_transaction_data()  # web3 has no public encoder for a bound call
            abi = what.contract_abi
            args = ", ".join(_short(a) for a in (what.args or ()))
            lbl = label or f"{what.fn_name}({args}) @ {what.address[:10]}"
        elif isinstance(what, ContractConstructor):
            call["data"] = what.data_in_transaction
            abi = what.abi
            lbl = label or "deploy"
        elif isinstance(what, Mapping):
            if "to" in what and what["to"] is not None:
                call["to"] = Web3.to_checksum_address(what["to"])
            call["data"] = what.get("data", "0x")
            value = int(what.get("value", value))
            lbl = label or f"call @ {str(call.get('to', 'create'))[:10]}"
        else:
            raise TypeError(f"cannot send {type(what).__name__}: give a contract function, a constructor or a dict")
        if value:
            call["value"] = int(value)
        return call, lbl, abi

    def _simulate(self, call: dict[str, Any], label: str, abi: Any = None, block: Any = None) -> bytes:
        try:
            return bytes(self.w3.eth.call(call, block_identifier=block or self.config.simulate_block))
        except ContractLogicError as e:
            raise reverted(revert_data_of(e), label, abi=abi) from None
        except Web3RPCError as e:
            self._raise_funds(e, label)
            raise SendFailed(f"{label}: simulation failed: {_rpc_message(e)}", "check the call's arguments") from e

    def _estimate(self, call: dict[str, Any], label: str, abi: Any = None) -> int:
        try:
            est = int(self.w3.eth.estimate_gas(call, block_identifier=self.config.simulate_block))
        except ContractLogicError as e:
            raise reverted(revert_data_of(e), label, abi=abi) from None
        except Web3RPCError as e:
            self._raise_funds(e, label)
            raise SendFailed(f"{label}: gas estimation failed: {_rpc_message(e)}") from e
        return math.ceil(est * self.config.gas_margin)

    def _raise_funds(self, e: BaseException, label: str) -> None:
        if "insufficient funds" in _rpc_message(e):
            raise InsufficientFunds(
                f"{label}: account {self.address} cannot pay for gas and value: {_rpc_message(e)}",
                f"send native currency (ETH) for gas to {self.address}",
            ) from e

    # ------------------------------------------------------------------ fees
    def _is_eip1559(self) -> bool:
        if self._eip1559 is None:
            if self.config.legacy is not None:
                self._eip1559 = not self.config.legacy
            else:
                self._eip1559 = self.w3.eth.get_block("latest").get("baseFeePerGas") is not None
        return self._eip1559

    def _fees(self) -> dict[str, int]:
        cfg = self.config
        cap = cfg.max_fee_per_gas
        if self._is_eip1559():
            base = int(self.w3.eth.get_block("latest")["baseFeePerGas"])
            prio = cfg.priority_fee if cfg.priority_fee is not None else int(self.w3.eth.max_priority_fee)
            max_fee = math.ceil(base * cfg.base_fee_multiplier) + prio
            if cap is not None:
                if cap < base:
                    log.warning("max_fee_per_gas %d is below the current base fee %d: the tx waits until fees fall",
                                cap, base)
                max_fee = min(max_fee, cap)
                prio = min(prio, max_fee)
            return {"type": 2, "maxFeePerGas": max_fee, "maxPriorityFeePerGas": prio}
        price = cfg.gas_price if cfg.gas_price is not None else int(self.w3.eth.gas_price)
        if cap is not None:
            price = min(price, cap)
        return {"gasPrice": price}

    def _bumped_fees(self, old: Mapping[str, Any]) -> dict[str, int] | None:
        """Fees for a replacement: each field * fee_bump (at least), and at least what the node asks now;
        None when the cap makes that impossible."""
        f = self.config.fee_bump
        cap = self.config.max_fee_per_gas
        fresh = self._fees()
        if "gasPrice" in old:
            need = math.ceil(old["gasPrice"] * f)
            price = max(need, fresh.get("gasPrice", 0))
            if cap is not None:
                price = min(price, cap)
            return {"gasPrice": price} if price >= need else None
        need_max = math.ceil(old["maxFeePerGas"] * f)
        need_prio = math.ceil(old["maxPriorityFeePerGas"] * f)
        max_fee = max(need_max, fresh.get("maxFeePerGas", 0))
        prio = max(need_prio, fresh.get("maxPriorityFeePerGas", 0))
        if cap is not None:
            max_fee = min(max_fee, cap)
        prio = min(prio, max_fee)
        if max_fee < need_max or prio < need_prio:
            return None
        return {"type": 2, "maxFeePerGas": max_fee, "maxPriorityFeePerGas": prio}

    # ------------------------------------------------------------------ sending
    def _sign_and_send(self, call: dict[str, Any], gas: int, label: str) -> PendingTx:
        last: BaseException | None = None
        for _attempt in range(self.config.send_attempts):
            if self._next_nonce is None:
                self.resync_nonce()
            nonce = self._next_nonce
            assert nonce is not None
            tx = {k: v for k, v in call.items() if k != "from"}
            tx.update(gas=gas, nonce=nonce, chainId=self.chain_id, **self._fees())
            signed = self.account.sign_transaction(tx)
            try:
                self._broadcast(signed, label)
            except _StaleNonce as e:
                log.info("%s: nonce %d is stale (%s); re-reading the pending nonce", label, nonce, e)
                self._next_nonce = None
                last = e
                continue
            except BaseException:
                self._next_nonce = None  # unknown state: ask the node next time
                raise
            self._next_nonce = nonce + 1
            self.sent += 1
            log.debug("%s: sent nonce %d as %s", label, nonce, _hex(signed.hash))
            pending = PendingTx(label, nonce, tx, [HexBytes(signed.hash)], bytes(signed.raw_transaction),
                                self._clock(), call=call)
            self._inflight[nonce] = pending
            return pending
        raise SendFailed(
            f"{label}: the node rejected nonce after nonce for {self.address} ({last})",
            "another wallet or process is probably sending from this account; give each writer its own key",
        )

    def _broadcast(self, signed: Any, label: str, *, replacement: bool = False) -> None:
        """Send signed bytes. Returns when the node has them (now or from an earlier try); raises
        _StaleNonce when the nonce is used or held by another transaction, else a clear error."""
        try:
            self.w3.eth.send_raw_transaction(signed.raw_transaction)
            return
        except (Web3RPCError, ValueError) as e:
            msg = _rpc_message(e)
            if any(k in msg for k in _ALREADY_KNOWN):
                return  # the very same bytes reached the node before (a retried request)
            if any(k in msg for k in _NONCE_TOO_LOW) or any(k in msg for k in _UNDERPRICED):
                if self._node_has(signed.hash):
                    return  # our own earlier try was accepted, maybe already mined
                raise _StaleNonce(msg) from None
            self._raise_funds(e, label)
            raise SendFailed(f"{label}: the node rejected the transaction: {msg}",
                             "check the account, the fees and the node's logs") from e
        except Exception as e:
            if not is_transient_exception(e):
                raise
            if self._node_has(signed.hash):
                return
            raise SendFailed(
                f"{label}: could not reach the node to send the transaction ({type(e).__name__}: {e})",
                "the RPC endpoint is failing; nothing was sent (the nonce will be re-read), try again later",
            ) from e

    def _rebroadcast(self, pending: PendingTx) -> None:
        try:
            self.w3.eth.send_raw_transaction(pending.raw)
        except (Web3RPCError, ValueError) as e:
            log.debug("%s: re-broadcast answered %s", pending.label, _rpc_message(e))

    def _node_has(self, tx_hash: bytes) -> bool:
        try:
            self.w3.eth.get_transaction(HexBytes(tx_hash))
            return True
        except TransactionNotFound:
            return False
        except Exception:  # noqa: BLE001 - a lookup that fails tells us nothing
            return False

    # ------------------------------------------------------------------ receipts
    def _find_receipt(self, pending: PendingTx) -> Any:
        for h in reversed(pending.hashes):
            try:
                return self.w3.eth.get_transaction_receipt(h)
            except TransactionNotFound:
                continue
        return None

    def _check_nonce_not_taken(self, pending: PendingTx) -> None:
        mined_nonce = int(self.w3.eth.get_transaction_count(self.address, "latest"))
        if mined_nonce <= pending.nonce:
            return
        receipt = self._find_receipt(pending)  # mined between our poll and now?
        if receipt is not None:
            return
        with self._lock:
            if self._inflight.get(pending.nonce) is pending:
                del self._inflight[pending.nonce]
        raise NonceTakenElsewhere(
            f"{pending.label}: nonce {pending.nonce} of {self.address} was used by a transaction this sender did not "
            f"send (none of {', '.join(_hex(h) for h in pending.hashes)} was mined)",
            "another wallet or process sends from this account; stop it, then retry the action",
        )

    def _finish(self, pending: PendingTx, receipt: Any) -> Any:
        pending.receipt = receipt
        pending.timed_out = False
        with self._lock:
            if self._inflight.get(pending.nonce) is pending:
                del self._inflight[pending.nonce]
        if receipt["status"] == 1:
            return receipt
        data = self._replay_revert(pending, receipt)
        hint = None  # with revert data, ContractReverted picks the error's own hint
        if not data and receipt["gasUsed"] >= pending.tx.get("gas", 0):
            hint = f"it ran out of gas (used all {receipt['gasUsed']}); raise gas_margin or pass gas="
        elif not data:
            hint = "the state changed between simulation and inclusion; re-read the state and retry"
        err = reverted(data, pending.label, hint=hint, tx_hash=receipt["transactionHash"], receipt=receipt,
                       abi=pending.abi)
        if data:
            note = ("it passed simulation but reverted when mined (the state changed in between): "
                    "re-read it before retrying")
            err.hint = f"{err.hint}; {note}" if err.hint else note
        raise err

    def _replay_revert(self, pending: PendingTx, receipt: Any) -> bytes:
        """Revert data of a mined, failed transaction: from a call trace when the node has one, else by
        replaying the call on the state after (then before) its block."""
        tx_hash = receipt["transactionHash"]
        try:
            trace = self.w3.manager.request_blocking(
                "debug_traceTransaction", [_hex(tx_hash), {"tracer": "callTracer"}]
            )
            out = trace.get("output") if trace else None
            if trace and trace.get("error") and out:
                return bytes(HexBytes(out))
        except Exception as e:  # noqa: BLE001 - many public nodes have no debug namespace
            log.debug("debug_traceTransaction unavailable: %s", e)
        call = dict(pending.call)
        call["gas"] = pending.tx.get("gas")
        for block in (receipt["blockNumber"], receipt["blockNumber"] - 1):
            try:
                self.w3.eth.call(call, block_identifier=block)
            except ContractLogicError as e:
                return revert_data_of(e)
            except Exception as e:  # noqa: BLE001
                log.debug("replay at block %s failed: %s", block, e)
        return b""


class _StaleNonce(Exception):
    """Internal: the node says this nonce is used or taken by another transaction."""


def _short(v: Any) -> str:
    if isinstance(v, (bytes, bytearray)):
        h = bytes(v).hex()
        return "0x" + (h if len(h) <= 16 else h[:8] + "…" + h[-4:])
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(_short(x) for x in v) + ")"
    s = str(v)
    return s if len(s) <= 24 else s[:20] + "…"
