"""Connecting to an EVM node over JSON-RPC and binding the deployed Assay contracts with web3.py.

`connect` opens an HTTP(S) endpoint with a request time-out and transient-failure retries and, given
a deployment record (deployments/<network>.json), checks that the node serves the chain that record
was made on. `contracts` returns web3 Contract objects for the deployed stack with ABIs read from
ape's build output, refusing to bind when the build's ABI differs from the deployed one. This module
never sends a transaction and never imports ape.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import requests
from web3 import Web3
from web3.contract import Contract
from web3.types import RPCEndpoint

from .. import artifacts
from ..errors import AssayError, ConfigError
from .retry import RetryPolicy, install_retries

DEFAULT_TIMEOUT = 10.0
TIMEOUT_ENV = "ASSAY_RPC_TIMEOUT"  # seconds per request, overriding DEFAULT_TIMEOUT (e.g. a slow public RPC)
# Name in the deployment record -> attribute of `Contracts`.
STACK_NAMES = {
    "ModelRegistry": "registry",
    "StakeManager": "stake",
    "JobManager": "jobs",
    "DisputeGame": "game",
    "Token": "token",
}
# The ERC20 part of TestToken's ABI, used for a token the deployment did not create.
_ERC20_NAMES = {
    "name", "symbol", "decimals", "totalSupply", "balanceOf", "transfer", "allowance", "approve",
    "transferFrom", "Transfer", "Approval",
}


class RpcUnavailable(AssayError, ConnectionError):
    """The JSON-RPC endpoint did not answer (or kept failing after retries)."""


class ChainIdMismatch(AssayError, ValueError):
    """The node serves another chain than the deployment was made on."""


class DeploymentOutdated(AssayError, RuntimeError):
    """The compiled contracts' ABI differs from the deployed one, or the contracts have no code."""


def connect(
    rpc_url: str,
    *,
    deployment: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    retry: RetryPolicy = RetryPolicy(),
) -> Web3:
    """A Web3 for `rpc_url` (http:// or https://) that answers within `timeout` seconds per request
    (default: $ASSAY_RPC_TIMEOUT, else 10 s).

    Checks that the node answers; with `deployment`, also that its chain id is the deployment's.
    Transient failures (refused connections, time-outs, HTTP 429/5xx, "header not found") are retried
    by `retry` — pass `assay.chain.retry.NO_RETRY` to fail fast.
    """
    if not rpc_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"unsupported RPC URL {rpc_url!r}",
            "give an http:// or https:// JSON-RPC endpoint, e.g. http://127.0.0.1:8545",
        )
    if timeout is None:
        timeout = default_timeout()
    # web3's validation middleware asks the node for its chain id before every eth_call, gas estimate
    # and send: more than half of all JSON-RPC calls (docs/benchmarks.md). A node's chain id does not
    # change, so web3's own request cache keeps it (that one method only; nothing else is cached).
    provider = Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}, cache_allowed_requests=True,
                                 cacheable_requests={RPCEndpoint("eth_chainId")})
    w3 = Web3(provider)
    install_retries(w3, retry)
    chain_id = _chain_id(w3, rpc_url, timeout)
    if deployment is not None:
        check_chain_id(w3, deployment, chain_id=chain_id)
    return w3


def default_timeout() -> float:
    """$ASSAY_RPC_TIMEOUT if set (a positive number of seconds), else DEFAULT_TIMEOUT."""
    raw = os.environ.get(TIMEOUT_ENV)
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        t = float(raw)
    except ValueError:
        t = -1.0
    if not t > 0:
        raise ConfigError(f"{TIMEOUT_ENV}={raw!r} is not a positive number of seconds",
                          f"set {TIMEOUT_ENV} to e.g. 10, or unset it for the default ({DEFAULT_TIMEOUT:g} s)")
    return t


def _chain_id(w3: Web3, rpc_url: str, timeout: float) -> int:
    try:
        return int(w3.eth.chain_id)
    except (requests.ConnectionError, requests.Timeout, requests.HTTPError, ConnectionError, TimeoutError) as e:
        raise RpcUnavailable(
            f"cannot reach the JSON-RPC endpoint {rpc_url} (timeout {timeout:g}s): {type(e).__name__}: {e}",
            "start the node (`assay devnet up` for a local one) or check the URL and your network",
        ) from e


def endpoint_of(w3: Web3) -> str:
    return str(getattr(w3.provider, "endpoint_uri", w3.provider))


def check_chain_id(w3: Web3, deployment: Mapping[str, Any], *, chain_id: int | None = None) -> int:
    """Raise ChainIdMismatch unless the node's chain id is the deployment's; returns the chain id."""
    got = int(w3.eth.chain_id) if chain_id is None else chain_id
    want = deployment.get("chain_id")
    if want is None:
        raise ConfigError(
            "the deployment record has no chain_id", "redeploy, or add the chain id the contracts live on to the file"
        )
    if int(want) != got:
        network = deployment.get("network", "?")
        raise ChainIdMismatch(
            f"the node at {endpoint_of(w3)} serves chain id {got}, but the deployment for network "
            f"{network!r} was made on chain id {want}",
            f"point the RPC URL at a node of chain {want}, or deploy to chain {got} first "
            "(`assay devnet up` / `ape run deploy`) and use that deployment",
        )
    return got


@dataclass(frozen=True)
class Contracts:
    """The deployed stack as web3 Contract objects; also indexable by record name (`c["JobManager"]`)."""

    registry: Contract
    stake: Contract
    jobs: Contract
    game: Contract
    token: Contract

    def __getitem__(self, name: str) -> Contract:
        if name not in STACK_NAMES:
            raise KeyError(f"{name!r} is not one of {', '.join(STACK_NAMES)}")
        return getattr(self, STACK_NAMES[name])

    def __iter__(self) -> Iterator[str]:
        return iter(STACK_NAMES)

    def items(self) -> list[tuple[str, Contract]]:
        return [(n, self[n]) for n in STACK_NAMES]


def erc20_abi(manifest: Path = artifacts.BUILD_MANIFEST) -> list[dict[str, Any]]:
    """The standard ERC20 functions and events, taken from the compiled TestToken."""
    return [i for i in artifacts.abi("TestToken", manifest) if i.get("name") in _ERC20_NAMES]


def contracts(
    w3: Web3,
    deployment: Mapping[str, Any],
    *,
    manifest: Path = artifacts.BUILD_MANIFEST,
    check_chain: bool = True,
    check_code: bool = False,
) -> Contracts:
    """Bind the contracts of `deployment` on `w3` with the ABIs of the current build.

    Raises DeploymentOutdated when a contract's ABI hash differs from the one recorded at deployment
    (the Python side would encode calls for functions the chain does not have), ChainIdMismatch when
    `w3` serves another chain, and, with `check_code`, when an address has no code (a reset devnet).
    """
    if check_chain:
        check_chain_id(w3, deployment)
    recorded = deployment.get("contracts") or {}
    network = deployment.get("network", "?")
    bound: dict[str, Contract] = {}
    changed: list[str] = []
    for name in STACK_NAMES:
        entry = recorded.get(name)
        if not entry or not entry.get("address"):
            raise ConfigError(
                f"the deployment for {network!r} has no {name} address", "redeploy: the deployment file is incomplete"
            )
        abi_name = entry.get("contract") or (name if name != "Token" else None)
        if abi_name is None:  # an existing ERC20 the deployment did not create
            abi = erc20_abi(manifest)
        else:
            abi = artifacts.abi(abi_name, manifest)
            want = entry.get("abi_sha256")
            if want is not None and want != artifacts.abi_sha256(abi):
                changed.append(abi_name)
        address = Web3.to_checksum_address(entry["address"])
        if check_code and not w3.eth.get_code(address):
            raise DeploymentOutdated(
                f"{name} at {address} has no code on chain {deployment.get('chain_id')}",
                "the chain was reset or the deployment file belongs elsewhere; redeploy (`assay devnet up`)",
            )
        bound[STACK_NAMES[name]] = w3.eth.contract(address=address, abi=abi)
    if changed:
        raise DeploymentOutdated(
            f"contracts changed since deployment: the ABI of {', '.join(changed)} in {manifest} differs from the one "
            f"deployed on {network!r}",
            "redeploy (`ape run deploy --force` or `assay devnet up`), "
            "or check out the commit the deployment was made from",
        )
    return Contracts(**bound)
