"""Helpers shared by the ape scripts: choose the account, find the deployment, print errors plainly."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from ape import accounts, chain, project

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "offchain"))

from assay.deployer import load_deployment  # noqa: E402


def network_choice() -> str:
    net = chain.provider.network
    return f"{net.ecosystem.name}:{net.name}"


def is_local() -> bool:
    return chain.provider.network.name == "local"


def pick_account(alias: str | None):
    """`--account ALIAS` (an ape account, or TEST::N); on a local network the first test account by default."""
    if alias is None:
        if is_local():
            return accounts.test_accounts[0]
        raise click.UsageError("--account is required off local networks (an alias from `ape accounts list`)")
    if alias.startswith("TEST::"):
        return accounts.test_accounts[int(alias.split("::", 1)[1])]
    return accounts.load(alias)


def contracts():
    """The deployed contracts of the connected network, as ape contract instances."""
    rec = load_deployment(network_choice())
    c = rec["contracts"]
    return {
        "token": project.TestToken.at(c["Token"]["address"]) if "contract" in c["Token"] else None,
        "token_address": c["Token"]["address"],
        "registry": project.ModelRegistry.at(c["ModelRegistry"]["address"]),
        "stake": project.StakeManager.at(c["StakeManager"]["address"]),
        "jobs": project.JobManager.at(c["JobManager"]["address"]),
        "game": project.DisputeGame.at(c["DisputeGame"]["address"]),
    }
