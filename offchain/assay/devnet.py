"""A local devnet: anvil + the Assay contracts deployed with the `local` parameters + funded dev accounts.

`up()` is idempotent: when `.assay/devnet.json` names an anvil that still answers and a deployment
that still has code, it is reused. `down()` stops that anvil. Used by `assay devnet`, the demo, the
end-to-end tests and the benchmarks. Never used on a real network: dev keys are public.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any, Callable

from .chain import Sender, SenderConfig, connect, dev_account, dev_accounts
from .chain.anvil import Anvil
from .chain.deploy import deploy_stack, is_current
from .deployer import deployment_path, load_deployment, save_deployment
from .errors import DeploymentNotFound
from .params import load_deploy_config

ROOT = Path(__file__).resolve().parents[2]
DEVNET_FILE = Path(".assay/devnet.json")
NETWORK = "ethereum:local"


def deploy_local(rpc_url: str, *, fund: int = 1000 * 10**18, accounts: int = 10, config: Path | None = None,
                 deployments_dir: Path | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Deploy the stack on a local chain from dev account 0 and mint `fund` TestToken to dev accounts."""
    w3 = connect(rpc_url)
    sender = Sender(w3, dev_account(0), SenderConfig(receipt_timeout=30, replace_after=None))
    cfg = load_deploy_config(config or ROOT / "config" / "deploy.yaml", NETWORK)
    rec = deploy_stack(w3, sender, cfg, network=NETWORK, local=True, log=log)
    kw = {"directory": deployments_dir} if deployments_dir else {}
    path = save_deployment(rec, NETWORK, **kw)
    if fund:
        from .chain import contracts

        token = contracts(w3, rec).token
        pending = [sender.submit(token.functions.mint(a.address, fund), label="mint") for a in dev_accounts(accounts)]
        for p in pending:
            sender.wait(p)
    rec["path"] = str(path)
    return rec


def _alive(info: dict[str, Any]) -> bool:
    try:
        os.kill(int(info["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return False
    try:
        w3 = connect(info["rpc_url"], timeout=2)
        rec = load_deployment(NETWORK)
        return is_current(rec, w3)
    except Exception:
        return False


def up(*, port: int = 8545, fund: int = 1000 * 10**18, log: Callable[[str], None] = print) -> dict[str, Any]:
    if DEVNET_FILE.exists():
        info = json.loads(DEVNET_FILE.read_text())
        if _alive(info):
            log(f"devnet already up at {info['rpc_url']}")
            return info
        down()
    anvil = Anvil(port=port).start()
    log(f"anvil started at {anvil.url} (pid {anvil.proc.pid}, log {anvil.log_path})")
    deploy_local(anvil.url, fund=fund, log=lambda m: log(m))
    info = {"rpc_url": anvil.url, "pid": anvil.proc.pid, "deployment": str(deployment_path(NETWORK)),
            "started": time.time(), "log": str(anvil.log_path)}
    DEVNET_FILE.parent.mkdir(parents=True, exist_ok=True)
    DEVNET_FILE.write_text(json.dumps(info, indent=2))
    return info


def down() -> bool:
    if not DEVNET_FILE.exists():
        return False
    info = json.loads(DEVNET_FILE.read_text())
    stopped = False
    try:
        os.killpg(int(info["pid"]), signal.SIGTERM)
        stopped = True
    except (OSError, KeyError, ValueError):
        pass
    DEVNET_FILE.unlink()
    return stopped


__all__ = ["up", "down", "deploy_local", "DeploymentNotFound"]
