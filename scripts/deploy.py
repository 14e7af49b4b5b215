"""Deploy and wire Assay: `ape run deploy [--network ecosystem:network:provider] [--account ALIAS] [--force]`.

Parameters come from config/deploy.yaml (`--config` for another file). Writes
deployments/<ecosystem>-<network>.json with addresses, blocks and ABI hashes. Idempotent: when that
file describes contracts that still have code on the chain and the same ABIs, nothing is deployed
(unless --force).
"""

import click
from ape import chain, project
from ape.cli import ConnectedProviderCommand

from scripts._common import ROOT, is_local, network_choice, pick_account
from assay.deployer import deploy_stack, deployment_path, is_current, save_deployment
from assay.errors import AssayError, DeploymentNotFound
from assay.deployer import load_deployment
from assay.params import load_deploy_config


@click.command(cls=ConnectedProviderCommand)
@click.option("--account", "alias", default=None, help="ape account alias (TEST::N for test accounts)")
@click.option("--config", "config_path", default=str(ROOT / "config" / "deploy.yaml"), show_default=True)
@click.option("--force", is_flag=True, help="deploy a new stack even if a current one exists")
def cli(alias, config_path, force):
    net = network_choice()
    try:
        if not force:
            try:
                existing = load_deployment(net)
                if is_current(existing, project, chain.provider):
                    click.echo(f"Assay is already deployed on {net} ({deployment_path(net)}); use --force to redeploy.")
                    return
                click.echo(f"{deployment_path(net)} is stale (chain reset or contracts changed): deploying anew.")
            except DeploymentNotFound:
                pass
        cfg = load_deploy_config(config_path, net)
        deployer = pick_account(alias)
        click.echo(f"Deploying Assay to {net} (chain id {chain.provider.chain_id}) from {deployer.address}")
        rec = deploy_stack(project, chain, deployer, cfg, network=net, local=is_local(), log=click.echo)
        path = save_deployment(rec, net)
        click.echo(f"Wrote {path}")
    except AssayError as e:
        raise click.ClickException(str(e))
