"""`make lint` (tools/lint.sh): Slither over contracts/ passes with every high/medium finding triaged.

Runs the lint script itself (`make lint` is `make setup` + this script), which installs Slither into
its own venv (.venv-lint) on first use. Needs the solc-js wrapper that `make setup` writes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability-lint.md"


def _solc_wrapper() -> Path | None:
    found = sorted((ROOT / ".solcx").glob("solc-v*"))
    return found[0] if found else None


@pytest.fixture(scope="module")
def lint_run(tmp_path_factory):
    if shutil.which("node") is None or _solc_wrapper() is None:
        pytest.skip("the solc-js wrapper (.solcx/solc-v*) or node is missing: run `make setup` first")
    report = tmp_path_factory.mktemp("lint") / "slither.json"
    env = dict(os.environ, LINT_JSON=str(report), PATH=f"{ROOT / 'node_modules' / '.bin'}:{os.environ['PATH']}")
    t0 = time.monotonic()
    r = subprocess.run(["bash", str(ROOT / "tools" / "lint.sh")], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
    return r, json.loads(report.read_text()) if report.exists() else None, time.monotonic() - t0


def test_lint_passes_with_no_untriaged_high_or_medium_finding(lint_run):
    r, report, seconds = lint_run
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 open" in r.stdout, r.stdout
    assert report is not None and report["success"] is True
    print(f"make lint took {seconds:.1f} s")


def test_slither_analyzed_our_contracts_and_reports_no_high_finding(lint_run):
    _r, report, _s = lint_run
    found = report["results"].get("detectors", [])
    assert not [f for f in found if f["impact"] == "High"]
    # the report is about our sources only: test helpers and OpenZeppelin are filtered out
    files = {e["source_mapping"]["filename_relative"] for f in found for e in f["elements"] if "source_mapping" in e}
    assert files and all("contracts/test/" not in f and "node_modules" not in f for f in files), files


def test_every_reported_finding_has_a_triage_row_in_the_doc(lint_run):
    _r, report, _s = lint_run
    table = DOC.read_text().split("<!-- triage:begin -->")[1].split("<!-- triage:end -->")[0]
    for f in report["results"].get("detectors", []):
        assert f"| {f['check']} |" in table, f["description"]
