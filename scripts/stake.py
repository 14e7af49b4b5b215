"""Stake for a worker: `ape run stake AMOUNT [--account ALIAS] [--mint]` (amount in token units, e.g. 10.5).

On a local network `--mint` first mints the amount of TestToken to the account.
"""

from decimal import Decimal

import click
from ape.cli import ConnectedProviderCommand

from scripts._common import contracts, is_local, pick_account
from assay.errors import AssayError


@click.command(cls=ConnectedProviderCommand)
@click.argument("amount")
@click.option("--account", "alias", default=None)
@click.option("--mint", is_flag=True, help="mint the tokens first (local TestToken only)")
def cli(amount, alias, mint):
    try:
        c = contracts()
        acct = pick_account(alias)
        wei = int(Decimal(amount) * 10**18)
        if wei <= 0:
            raise click.BadParameter("AMOUNT must be positive")
        if mint:
            if not (is_local() and c["token"] is not None):
                raise click.UsageError("--mint works only with the TestToken on a local network")
            c["token"].mint(acct.address, wei, sender=acct)
        token = c["token"] or _erc20(c["token_address"])
        token.approve(c["stake"].address, wei, sender=acct)
        c["stake"].stake(wei, sender=acct)
        active, locked, pending, unlock_at = c["stake"].stakeOf(acct.address)
        click.echo(f"{acct.address} staked {amount}: active={active} locked={locked} pending={pending}")
    except AssayError as e:
        raise click.ClickException(str(e))


def _erc20(address):
    from ape import Contract

    return Contract(address)
