"""The `assay` CLI against a real anvil: every actor's commands, JSON output, and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from assay import modelzoo
from assay.cli import main
from e2e_helpers import start_devnet

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    d = start_devnet(tmp_path_factory.mktemp("cli"))
    yield d
    d.stop_all()
    d.anvil.stop()


@pytest.fixture(scope="module")
def cli(net):
    runner = CliRunner(mix_stderr=False)

    def run(*args, account=None, ok=True):
        base = ["--rpc-url", net.url, "--deployment", str(net.deployment), "--store", str(net.dir / "cli-store")]
        if account is not None:
            base += ["--account", str(account)]
        r = runner.invoke(main, base + list(args), catch_exceptions=False)
        if ok:
            assert r.exit_code == 0, r.stdout + r.stderr
        return r

    return run


def test_model_register_list_show(cli, net, tmp_path):
    z = modelzoo.digits_mlp()
    f = tmp_path / "mlp.onnx"
    f.write_bytes(z.onnx_bytes)
    r = cli("--json", "model", "register", str(f), "--fee", "0.01", "--uri", f.as_uri(), account=5)
    mid = json.loads(r.stdout)["model_id"]
    assert mid == "0x" + z.model_id
    assert "class NONE" in r.stderr  # ops without verifiers: warned
    listed = json.loads(cli("--json", "model", "list").stdout)
    assert [m["model_id"] for m in listed] == [mid] and listed[0]["fee"] == 10**16
    shown = json.loads(cli("--json", "model", "show", mid).stdout)
    assert shown["vclass"] == "NONE"


def test_worker_stakes_requester_submits_and_reads_result_and_receipt(cli, net, tmp_path):
    z = modelzoo.digits_mlp()
    mid = "0x" + z.model_id
    r = cli("--json", "stake", "deposit", "50", account=2)
    assert json.loads(r.stdout)["active"] == 50 * 10**18
    w = net.start_worker(2, "cli-worker", models=[mid])
    inputs = tmp_path / "x.npz"
    np.savez(inputs, input=z.x_test[:1])
    r = cli("--json", "job", "submit", mid, str(inputs), "--fee", "0.1", account=1)
    out = json.loads(r.stdout)
    jid = out["job_id"]
    assert int(out["outputs"]["label"][0]) == int(z.y_test[0]) or len(out["outputs"]["probabilities"][0]) == 10
    st = json.loads(cli("--json", "job", "status", str(jid)).stdout)
    assert st["status"] in ("POSTED", "FINALIZED")
    res = json.loads(cli("--json", "job", "result", str(jid)).stdout)
    assert np.allclose(res["outputs"]["probabilities"], out["outputs"]["probabilities"])
    rec = json.loads(cli("--json", "job", "receipt", str(jid), "--verify").stdout)
    assert rec["verify"]["match"] is True and rec["model"]["id"] == mid
    rows = json.loads(cli("--json", "job", "list").stdout)
    assert any(row["job_id"] == jid for row in rows)
    w.terminate()


def test_errors_are_one_clear_line_with_a_hint_and_exit_1(cli, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx at all")
    r = cli("model", "register", str(bad), account=5, ok=False)
    assert r.exit_code == 1 and "not a valid ONNX model" in r.stderr and "hint:" in r.stderr
    r = cli("credits", "withdraw", account=9, ok=False)
    assert r.exit_code == 1 and "no credits" in r.stderr
    r = cli("job", "status", "999", ok=False)
    assert r.exit_code == 1 and "UnknownJob" in r.stderr
