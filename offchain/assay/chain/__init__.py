"""The chain layer: everything the SDK, worker and challenger use to talk to an EVM (web3.py, no ape).

- `connection` — `connect(url, deployment=...)` (time-out, retries, chain-id check) and
  `contracts(w3, deployment)` (web3 Contracts with ABIs from ape's build, ABI-hash checked).
- `sender` — `Sender`, the single-writer transaction sender (nonces, simulate, fees, replacement).
- `reader` — `EventReader` (confirmations, chunked logs, reorgs) and `StateReader` (typed views).
- `accounts` — signing keys from env / key file / keystore; anvil's dev accounts on local chains.
- `retry` — transient-failure retries as a web3 middleware.
- `anvil` — a real anvil subprocess for tests, demos and benches.
- `deploy` — deploy and wire the stack with web3 (same record format as `assay.deployer`).

Importing this package never imports ape and never touches the network.
"""

from .accounts import DEV_MNEMONIC, KeyLoadError, dev_account, dev_accounts, load_account
from .connection import (
    ChainIdMismatch,
    Contracts,
    DeploymentOutdated,
    RpcUnavailable,
    check_chain_id,
    connect,
    contracts,
)
from .reader import Event, EventReader, Job, JobStatus, Stake, StateReader, VerificationClass
from .retry import NO_RETRY, RetryPolicy, install_retries
from .sender import (
    InsufficientFunds,
    NonceTakenElsewhere,
    PendingTx,
    SendFailed,
    Sender,
    SenderConfig,
    TxTimeout,
    decode_revert_data,
)

__all__ = [
    "DEV_MNEMONIC", "KeyLoadError", "dev_account", "dev_accounts", "load_account",
    "ChainIdMismatch", "Contracts", "DeploymentOutdated", "RpcUnavailable", "check_chain_id", "connect", "contracts",
    "Event", "EventReader", "Job", "JobStatus", "Stake", "StateReader", "VerificationClass",
    "NO_RETRY", "RetryPolicy", "install_retries",
    "InsufficientFunds", "NonceTakenElsewhere", "PendingTx", "SendFailed", "Sender", "SenderConfig", "TxTimeout",
    "decode_revert_data",
]
