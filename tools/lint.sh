#!/usr/bin/env bash
# Static analysis of contracts/ with Slither (`make lint`). Fails on any high or medium finding that
# is not triaged (docs/reliability-lint.md says how each triaged one was judged).
#
# There is no native solc here, and Slither compiles through crytic-compile, which wants one. So:
#   1. .venv-lint: its own venv with pinned slither-analyzer + crytic-compile (never the project's .venv:
#      slither pins web3/eth-abi versions of its own).
#   2. The contracts are compiled with the project's solc-js shim (.solcx/solc-v<ver>, made by
#      tools/setup.sh) from a standard-JSON input that asks only for what Slither reads (AST, ABI,
#      NatSpec): no code generation, so it takes seconds instead of the ~80 s of a via-IR build.
#   3. The output is laid out as a Hardhat build-info file, which crytic-compile reads without
#      compiling (`--compile-force-framework hardhat --hardhat-ignore-compile`).
#   4. Slither runs with slither.config.json (test contracts and OpenZeppelin filtered out, severities
#      low/informational/optimization excluded); every finding left must match a row of the triage
#      table in docs/reliability-lint.md, else the lint fails and prints it.
# Environment: LINT_JSON=path writes Slither's JSON report there (default .build/lint/slither.json).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

SLITHER_PINS="slither-analyzer==0.11.6 crytic-compile==0.4.2"
venv=.venv-lint
want=$(echo "$SLITHER_PINS" | sha256sum | cut -c1-16)
if [ ! -x "$venv/bin/slither" ] || [ "$(cat "$venv/.assay-stamp" 2>/dev/null)" != "$want" ]; then
  echo "[lint] installing $SLITHER_PINS into $venv ..."
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q $SLITHER_PINS 2>&1 | grep -v "is ignored: it is neither" || true
  [ -x "$venv/bin/slither" ] || { echo "[lint] slither failed to install; see the pip output above" >&2; exit 1; }
  echo "$want" > "$venv/.assay-stamp"
fi

ver=$(node -e 'console.log(require("solc/package.json").version)')
solc=".solcx/solc-v$ver"
[ -x "$solc" ] || { echo "[lint] $solc is missing: run \`make setup\` first" >&2; exit 1; }

out=.build/lint
rm -rf "$out" && mkdir -p "$out/artifacts/build-info"
# Sources: every contract except the test helpers (contracts/test), which are never deployed.
"$venv/bin/python" - "$ver" > "$out/input.json" <<'EOF'
import json, pathlib, sys
srcs = sorted(p for p in pathlib.Path("contracts").rglob("*.sol") if "test" not in p.parts and ".cache" not in p.parts)
print(json.dumps({
    "language": "Solidity",
    "sources": {str(p): {"content": p.read_text()} for p in srcs},
    "settings": {
        # As ape-config.yaml compiles them (evm cancun, via-IR, optimizer 1000 runs), less the code.
        "evmVersion": "cancun", "viaIR": True, "optimizer": {"enabled": True, "runs": 1000},
        "remappings": ["@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/"],
        "outputSelection": {"*": {"": ["ast"], "*": ["abi", "userdoc", "devdoc"]}},
    },
}))
EOF
"$solc" --standard-json --base-path . < "$out/input.json" > "$out/output.json"
"$venv/bin/python" - "$ver" "$out" <<'EOF'
import json, sys
ver, out = sys.argv[1], sys.argv[2]
inp = json.load(open(f"{out}/input.json"))
res = json.load(open(f"{out}/output.json"))
errors = [e for e in res.get("errors", []) if e["severity"] == "error"]
if errors:
    sys.exit("[lint] solc failed:\n" + "\n".join(e.get("formattedMessage", e["message"]) for e in errors))
# crytic-compile reads bytecode and source maps from every contract; none were generated (not needed
# by the detectors we run), so they are present and empty.
for contracts in res.get("contracts", {}).values():
    for c in contracts.values():
        c["evm"] = {"bytecode": {"object": "", "sourceMap": ""}, "deployedBytecode": {"object": "", "sourceMap": ""}}
json.dump({"_format": "hh-sol-build-info-1", "id": "assay-lint", "solcVersion": ver, "solcLongVersion": ver,
           "input": inp, "output": res}, open(f"{out}/artifacts/build-info/assay-lint.json", "w"))
EOF

# crytic-compile's Hardhat reader wants a folder with a hardhat.config.js whose sources resolve from it:
# a stub config (never run: --npx-disable) and links back to the real sources.
echo "// stub for crytic-compile (tools/lint.sh): marks this folder as a Hardhat build; never run" > "$out/hardhat.config.js"
ln -s ../../contracts "$out/contracts"
ln -s ../../node_modules "$out/node_modules"
report=${LINT_JSON:-$out/slither.json}
rm -f "$report"
set +e
"$venv/bin/slither" "$out" --compile-force-framework hardhat --hardhat-ignore-compile --npx-disable \
  --hardhat-artifacts-directory artifacts --config-file slither.config.json --json "$report" > "$out/slither.log" 2>&1
rc=$?
set -e
rm -f "$out/contracts" "$out/node_modules"  # no links back into the tree left for other tools to walk
if [ ! -s "$report" ]; then
  cat "$out/slither.log" >&2
  echo "[lint] slither produced no report (exit $rc)" >&2
  exit 1
fi
# Findings left after slither.config.json and the `slither-disable-next-line` comments are matched
# against the triage table of docs/reliability-lint.md (for code this change may not edit); any
# finding no row matches fails the lint.
exec "$venv/bin/python" - "$report" docs/reliability-lint.md <<'EOF'
import json, sys
report, doc = sys.argv[1], sys.argv[2]
data = json.load(open(report))
if not data.get("success", False):
    sys.exit(f"[lint] slither failed: {data.get('error')}")
found = data.get("results", {}).get("detectors", [])
table = open(doc).read().split("<!-- triage:begin -->")[1].split("<!-- triage:end -->")[0]
rows = []
for line in table.splitlines():
    cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
    if len(cells) >= 5 and cells[0] not in ("detector", "") and not set(cells[0]) <= set("-: "):
        rows.append(cells)
used, open_ = set(), []
for r in found:
    desc = r["description"]
    hit = [i for i, (det, where, needle, *_rest) in enumerate(rows)
           if r["check"] == det and f"{where}(" in desc and needle in desc]
    used.update(hit)
    if not hit:
        open_.append(r)
for i, row in enumerate(rows):
    if i not in used:
        print(f"[lint] note: a triage row matches no finding any more (remove it): {' | '.join(row[:3])}")
print(f"[lint] slither: {len(found)} high/medium finding(s), {len(found) - len(open_)} triaged in {doc}, "
      f"{len(open_)} open")
for r in open_:
    print(f"\n[{r['impact']}/{r['confidence']}] {r['check']}: {r['description'].rstrip()}")
if open_:
    print(f"\n[lint] FAILED: fix each open finding, or judge it and record why: a `// slither-disable-next-line "
          f"<detector> -- <reason>` comment, or a row in the triage table of {doc}")
    sys.exit(1)
EOF
