"""The ape scripts (`ape run deploy | stake | register_model`) against a real anvil they share."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assay import modelzoo
from assay.chain import connect, contracts
from assay.chain.anvil import Anvil
from assay.deployer import load_deployment

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def node():
    a = Anvil().start()
    yield a
    a.stop()


def ape_run(node, *args):
    env = dict(os.environ, APE_FOUNDRY_HOST=node.url)  # ape reuses the running anvil
    ape = str(Path(sys.executable).with_name("ape"))
    r = subprocess.run([ape, "run", *args, "--network", "ethereum:local:foundry"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout + r.stderr


def test_deploy_stake_and_register_model_scripts(node, tmp_path):
    out = ape_run(node, "deploy")
    assert "Wrote" in out and "verifiers registered" in out
    again = ape_run(node, "deploy")
    assert "already deployed" in again  # idempotent
    rec = load_deployment("ethereum:local")
    w3 = connect(node.url)
    c = contracts(w3, rec)
    out = ape_run(node, "stake", "12.5", "--mint", "--account", "TEST::2")
    active = c.stake.functions.stakeOf(w3.eth.accounts[2]).call()[0]
    assert active == 12_500_000_000_000_000_000, out
    z = modelzoo.digits_mlp()
    f = tmp_path / "mlp.onnx"
    f.write_bytes(z.onnx_bytes)
    out = ape_run(node, "register_model", str(f), "--uri", f.as_uri(), "--fee", "0.01", "--class", "NONE")
    model = c.registry.functions.getModel(bytes.fromhex(z.model_id)).call()
    assert model[0] == w3.eth.accounts[0] and model[1] == 10**16, out
