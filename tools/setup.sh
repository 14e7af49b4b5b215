#!/usr/bin/env bash
# One-command, idempotent setup of everything Assay needs on a fresh machine:
#   .venv (pinned Python packages), node_modules (solc-js, anvil, OpenZeppelin 5 from the lockfile),
#   .solcx/solc-v<ver> (a wrapper that makes solc-js look like native solc to py-solc-x).
# Each step is skipped when its inputs have not changed, so a second run takes about a second.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
stamp() { sha256sum "$@" | sha256sum | cut -c1-16; }

py=${PYTHON:-python3}
want=$(stamp requirements.txt pyproject.toml)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.assay-stamp 2>/dev/null)" != "$want" ]; then
  echo "[setup] python venv (.venv) ..."
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  .venv/bin/pip install -q -r requirements.txt 2>&1 | grep -v "is ignored: it is neither" || true
  .venv/bin/pip install -q --no-deps -e . 2>&1 | grep -v "is ignored: it is neither" || true
  .venv/bin/python -c "import ape, ape_solidity, ape_foundry, web3, onnxruntime, assay" \
    || { echo "[setup] python packages failed to install; see the pip output above" >&2; exit 1; }
  echo "$want" > .venv/.assay-stamp
fi

want=$(stamp package.json package-lock.json)
if [ ! -x node_modules/.bin/anvil ] || [ "$(cat node_modules/.assay-stamp 2>/dev/null)" != "$want" ]; then
  echo "[setup] npm packages (node_modules) ..."
  npm ci --no-audit --no-fund --loglevel=error 2>&1 | grep -v 'Unknown user config "nodedir"' || true
  [ -x node_modules/.bin/anvil ] || { echo "[setup] anvil missing after npm ci" >&2; exit 1; }
  echo "$want" > node_modules/.assay-stamp
fi

# The OpenZeppelin folders our contracts import, as ape's local dependency (see ape-config.yaml).
oz=node_modules/@openzeppelin/contracts
want=$(stamp package-lock.json)
if [ "$(cat .deps/openzeppelin/.assay-stamp 2>/dev/null)" != "$want" ]; then
  echo "[setup] OpenZeppelin subset (.deps/openzeppelin)"
  rm -rf .deps/openzeppelin contracts/.cache
  for d in access interfaces token/ERC20 utils; do
    mkdir -p ".deps/openzeppelin/$d" && cp -r "$oz/$d/." ".deps/openzeppelin/$d/"
  done
  echo "$want" > .deps/openzeppelin/.assay-stamp
fi

ver=$(node -e 'console.log(require("solc/package.json").version)')
mkdir -p .solcx
wrapper=.solcx/solc-v$ver
if [ ! -x "$wrapper" ] || ! grep -q "$root/tools/solc-shim.js" "$wrapper"; then
  echo "[setup] solc-js wrapper $wrapper"
  printf '#!/bin/sh\nexec node "%s" "$@"\n' "$root/tools/solc-shim.js" > "$wrapper"
  chmod +x "$wrapper"
fi
