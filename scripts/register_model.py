"""Register an ONNX model: `ape run register_model FILE --uri URI [--fee 0.1] [--class APPROX] [--account ALIAS]`.

The model id is the sha256 of the file's bytes; graph and weights roots are computed from the file
(docs/commitments.md). `assay model register` does the same and also stores the file.
"""

import hashlib
from decimal import Decimal
from pathlib import Path

import click
from ape.cli import ConnectedProviderCommand

from scripts._common import contracts, pick_account
from assay.errors import AssayError
from assay.commitments.roots import model_roots

CLASSES = {"EXACT": 0, "APPROX": 1, "NONE": 2}


@click.command(cls=ConnectedProviderCommand)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--uri", "uris", multiple=True, required=True, help="where workers fetch the file (repeatable)")
@click.option("--fee", default="0", show_default=True, help="model-owner fee per inference, in tokens")
@click.option("--class", "vclass", type=click.Choice(list(CLASSES)), default="APPROX", show_default=True)
@click.option("--account", "alias", default=None)
def cli(file, uris, fee, vclass, alias):
    try:
        data = file.read_bytes()
        model_id = hashlib.sha256(data).digest()
        graph_root, weights_root = model_roots(data)
        c = contracts()
        acct = pick_account(alias)
        c["registry"].registerModel(
            model_id, list(uris), int(Decimal(fee) * 10**18), CLASSES[vclass], graph_root, weights_root, sender=acct
        )
        click.echo(f"registered model 0x{model_id.hex()} ({file.name}, {len(data)} bytes, class {vclass})")
    except AssayError as e:
        raise click.ClickException(str(e))
