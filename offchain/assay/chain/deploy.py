"""Deploying and wiring the Assay contracts with web3.py (no ape), from ape's compiled artifacts.

Does exactly what `assay.deployer.deploy_stack` does through ape — TestToken on local networks
(or an existing token), ModelRegistry, StakeManager, JobManager, DisputeGame; then setDisputeGame,
OPERATOR_ROLE on the StakeManager for the JobManager, the JobManager as unbonding policy, and
ARBITER_ROLE on the game — and returns a deployment record of the same format, so that
`assay.deployer.save_deployment` / `load_deployment` and `assay.chain.contracts` work on either.
Every transaction goes through the single-writer `Sender`. Never redeploys a current deployment
unless asked (see `is_current`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from web3 import Web3

from .. import artifacts
from ..errors import ConfigError
from ..params import DeployConfig
from ..deployer import VERIFIERS
from .sender import Sender

STACK = ("TestToken", "ModelRegistry", "StakeManager", "JobManager", "DisputeGame")


def _bytecode(name: str, manifest: Path) -> str:
    ct = artifacts.contract_type(name, manifest)
    code = (ct.get("deploymentBytecode") or {}).get("bytecode")
    if not code or code == "0x":
        raise ConfigError(f"{name} has no deployment bytecode in {manifest}", "run `make compile`")
    return code


def deploy_stack(
    w3: Web3,
    sender: Sender,
    cfg: DeployConfig,
    *,
    network: str,
    local: bool,
    log: Callable[[str], None] = print,
    manifest: Path = artifacts.BUILD_MANIFEST,
) -> dict[str, Any]:
    """Deploy the token (local only), registry, stake manager, job manager and dispute game, and wire them.

    Returns the deployment record (what deployments/<network>.json holds). `sender` signs everything;
    its account becomes the admin/owner of every contract.
    """
    contracts: dict[str, dict[str, Any]] = {}
    me = sender.address

    def deploy(record_name: str, abi_name: str, *args: Any) -> Any:
        abi = artifacts.abi(abi_name, manifest)
        receipt = sender.deploy(abi, _bytecode(abi_name, manifest), *args, label=f"deploy {abi_name}")
        address = receipt["contractAddress"]
        contracts[record_name] = {
            "address": address,
            "block": int(receipt["blockNumber"]),
            "contract": abi_name,
            "abi_sha256": artifacts.abi_sha256(abi),
        }
        log(f"  {record_name:<14} {address}")
        return w3.eth.contract(address=address, abi=abi)

    if cfg.token:
        token_addr = Web3.to_checksum_address(cfg.token)
        if not w3.eth.get_code(token_addr):
            raise ConfigError(f"token {token_addr} has no code on {network}", "set `token` to a deployed ERC20")
        contracts["Token"] = {"address": token_addr, "block": None}
        log(f"  {'Token':<14} {token_addr} (existing)")
    elif local:
        token_addr = deploy("Token", "TestToken").address
    else:
        raise ConfigError(
            f"no token configured for {network}",
            "set `token:` in config/deploy.yaml for this network (TestToken is deployed on local networks only)",
        )

    treasury = cfg.treasury or me
    arbiter = cfg.arbiter or me
    registry = deploy("ModelRegistry", "ModelRegistry")
    stake = deploy("StakeManager", "StakeManager", token_addr, me, cfg.unbonding_delay)
    jobs = deploy(
        "JobManager", "JobManager", token_addr, stake.address, registry.address, me, cfg.params.as_tuple(treasury)
    )
    game = deploy("DisputeGame", "DisputeGame", jobs.address, me, *cfg.game.as_args())
    # Wiring: the JobManager locks/unlocks/slashes stake and bounds the unbonding delay;
    # the game settles disputes; the arbiter decides disputes over class NONE models.
    sender.transact(jobs.functions.setDisputeGame(game.address), label="JobManager.setDisputeGame")
    operator = stake.functions.OPERATOR_ROLE().call()
    sender.transact(stake.functions.grantRole(operator, jobs.address), label="StakeManager.grantRole(OPERATOR)")
    sender.transact(stake.functions.setUnbondingPolicy(jobs.address), label="StakeManager.setUnbondingPolicy")
    arbiter_role = game.functions.ARBITER_ROLE().call()
    sender.transact(game.functions.grantRole(arbiter_role, arbiter), label="DisputeGame.grantRole(ARBITER)")
    for name, ops in VERIFIERS.items():
        verifier = deploy(name, name)
        for op in ops:
            sender.transact(game.functions.setVerifier("", op, verifier.address), label=f"DisputeGame.setVerifier({op})")
    log("  wired: JobManager is StakeManager operator and unbonding policy; DisputeGame set; arbiter granted; "
        "verifiers registered")

    return {
        "network": network,
        "chain_id": int(w3.eth.chain_id),
        "deployer": me,
        "deployed_at": int(time.time()),
        "block": int(w3.eth.block_number),
        "contracts": contracts,
        "config": json.loads(cfg.model_dump_json()) | {"treasury": treasury, "arbiter": arbiter},
    }


def is_current(record: Mapping[str, Any], w3: Web3, manifest: Path = artifacts.BUILD_MANIFEST) -> bool:
    """True if every contract of `record` has code on `w3`'s chain and the ABI the build has now."""
    if record.get("chain_id") != int(w3.eth.chain_id):
        return False
    for name, c in (record.get("contracts") or {}).items():
        if not w3.eth.get_code(Web3.to_checksum_address(c["address"])):
            return False
        if name == "Token":
            continue
        if c.get("abi_sha256") != artifacts.abi_sha256(artifacts.abi(c.get("contract", name), manifest)):
            return False
    return True
