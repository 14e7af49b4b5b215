"""Deploys and wires the Assay contracts through ape (used by scripts/deploy.py and the tests).

Takes ape objects (project, account, chain) as arguments so that this package never imports ape at
module level: the worker and SDK run without it. Never redeploys a complete, matching deployment
unless asked to.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from .artifacts import abi_sha256
from .errors import ConfigError, DeploymentNotFound
from .params import DeployConfig

DEPLOYMENTS_DIR = Path(__file__).resolve().parents[2] / "deployments"
STACK = ("TestToken", "ModelRegistry", "StakeManager", "JobManager", "DisputeGame")
# The one-step verifiers deployed with the game, and the ONNX ops (domain "") each one checks.
VERIFIERS: dict[str, tuple[str, ...]] = {
    "MatMulVerifier": ("MatMul", "Gemm"),
    "ElementwiseVerifier": ("Add", "Sub", "Mul", "Relu", "Identity", "Reshape", "Flatten", "Cast", "ArgMax"),
    "ActivationVerifier": ("Softmax", "Sigmoid", "Tanh"),
    "ConvVerifier": ("Conv", "MaxPool"),
    "MoveVerifier": ("Transpose", "Concat", "Squeeze", "Unsqueeze", "Gather", "Slice"),
    "IntegerVerifier": ("MatMulInteger",),
    "ArithmeticVerifier": ("Div", "Clip", "BatchNormalization"),
    "PoolVerifier": ("AveragePool", "GlobalAveragePool"),
}
OPERATOR_ROLE_NAME = "OPERATOR_ROLE"
ARBITER_ROLE_NAME = "ARBITER_ROLE"


def deployment_path(network: str, directory: Path = DEPLOYMENTS_DIR) -> Path:
    """deployments/<network>.json with ':' replaced (ethereum:local:foundry -> ethereum-local.json)."""
    eco_net = ":".join(network.split(":")[:2])
    return directory / f"{eco_net.replace(':', '-')}.json"


def load_deployment(network: str, directory: Path = DEPLOYMENTS_DIR) -> dict[str, Any]:
    path = deployment_path(network, directory)
    if not path.exists():
        raise DeploymentNotFound(
            f"no deployment for network {network!r} ({path} is missing)",
            f"deploy first: ape run deploy --network {network}",
        )
    return json.loads(path.read_text())


def _abi_of(container: Any) -> list[dict[str, Any]]:
    return [item.model_dump(mode="json", by_alias=True) for item in container.contract_type.abi]


def is_current(record: dict[str, Any], project: Any, provider: Any) -> bool:
    """True if every contract of `record` has code on-chain and the ABI the project builds now."""
    if record.get("chain_id") != provider.chain_id:
        return False
    for name, c in record.get("contracts", {}).items():
        if not provider.get_code(c["address"]):
            return False
        if name != "Token" and c.get("abi_sha256") != abi_sha256(_abi_of(getattr(project, name))):
            return False
    return True


def deploy_stack(
    project: Any,
    chain: Any,
    deployer: Any,
    cfg: DeployConfig,
    *,
    network: str,
    local: bool,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Deploy token (local only), registry, stake manager, job manager and dispute game, and wire them.

    Returns the deployment record (what deployments/<network>.json holds).
    """
    contracts: dict[str, dict[str, Any]] = {}

    def record(name: str, instance: Any, abi_name: str | None) -> Any:
        entry = {"address": instance.address, "block": chain.blocks.head.number}
        if abi_name:
            entry["contract"] = abi_name
            entry["abi_sha256"] = abi_sha256(_abi_of(getattr(project, abi_name)))
        contracts[name] = entry
        log(f"  {name:<14} {instance.address}")
        return instance

    if cfg.token:
        token_addr = cfg.token
        if not chain.provider.get_code(token_addr):
            raise ConfigError(f"token {token_addr} has no code on {network}", "set `token` to a deployed ERC20")
        contracts["Token"] = {"address": token_addr, "block": None}
        log(f"  {'Token':<14} {token_addr} (existing)")
    elif local:
        token_addr = record("Token", deployer.deploy(project.TestToken), "TestToken").address
    else:
        raise ConfigError(
            f"no token configured for {network}",
            "set `token:` in config/deploy.yaml for this network (TestToken is deployed on local networks only)",
        )

    treasury = cfg.treasury or deployer.address
    arbiter = cfg.arbiter or deployer.address
    registry = record("ModelRegistry", deployer.deploy(project.ModelRegistry), "ModelRegistry")
    stake = record(
        "StakeManager",
        deployer.deploy(project.StakeManager, token_addr, deployer.address, cfg.unbonding_delay),
        "StakeManager",
    )
    jobs = record(
        "JobManager",
        deployer.deploy(
            project.JobManager, token_addr, stake.address, registry.address, deployer.address,
            cfg.params.as_tuple(treasury),
        ),
        "JobManager",
    )
    game = record(
        "DisputeGame", deployer.deploy(project.DisputeGame, jobs.address, deployer.address, *cfg.game.as_args()),
        "DisputeGame",
    )
    # Wiring: the JobManager locks/unlocks/slashes stake and bounds the unbonding delay;
    # the game settles disputes; the arbiter decides disputes over class NONE models.
    jobs.setDisputeGame(game.address, sender=deployer)
    stake.grantRole(stake.OPERATOR_ROLE(), jobs.address, sender=deployer)
    stake.setUnbondingPolicy(jobs.address, sender=deployer)
    game.grantRole(game.ARBITER_ROLE(), arbiter, sender=deployer)
    for name, ops in VERIFIERS.items():
        verifier = record(name, deployer.deploy(getattr(project, name)), name)
        for op in ops:
            game.setVerifier("", op, verifier.address, sender=deployer)
    log("  wired: JobManager is StakeManager operator and unbonding policy; DisputeGame set; arbiter granted; "
        "verifiers registered")

    return {
        "network": network,
        "chain_id": chain.provider.chain_id,
        "deployer": deployer.address,
        "deployed_at": int(time.time()),
        "block": chain.blocks.head.number,
        "contracts": contracts,
        "config": json.loads(cfg.model_dump_json()) | {"treasury": treasury, "arbiter": arbiter},
    }


def save_deployment(record: dict[str, Any], network: str, directory: Path = DEPLOYMENTS_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = deployment_path(network, directory)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)  # atomic: a crash never leaves half a file
    return path
