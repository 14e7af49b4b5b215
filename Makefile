# Assay: one entry point per job. Every target sets up what it needs first (idempotent).
SHELL := /bin/bash
ROOT := $(abspath .)
export SOLCX_BINARY_PATH := $(ROOT)/.solcx
export APE_DATA_FOLDER := $(ROOT)/.ape-data
export PATH := $(ROOT)/.venv/bin:$(ROOT)/node_modules/.bin:$(PATH)
export PYTHONPATH := $(ROOT)/offchain:$(PYTHONPATH)
NETWORK ?= ethereum:local:foundry
# ape's own anvil for the tests listens on a free port, so that a devnet on :8545 (assay devnet up)
# or a second test run is never shared with this one.
FREE_PORT = $(shell python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

.PHONY: setup compile test test-fast demo bench gas-snapshot clean lint

setup:
	@bash tools/setup.sh

compile: setup
	@ape compile

test: compile
	@APE_FOUNDRY_HOST=http://127.0.0.1:$(FREE_PORT) ape test tests --network $(NETWORK) -p no:cacheprovider $(PYTEST_ARGS)

demo: compile
	@python -m assay.demo

bench: compile
	@python -m bench.run

# Rewrite tests/gas_snapshot.json from the current contracts (commit the result on purpose).
gas-snapshot: compile
	@APE_FOUNDRY_HOST=http://127.0.0.1:$(FREE_PORT) ASSAY_UPDATE_GAS_SNAPSHOT=1 ape test tests/test_gas.py --network $(NETWORK) -p no:cacheprovider

# Slither over contracts/ (its own venv .venv-lint); fails on any high/medium finding not triaged in
# docs/reliability-lint.md.
lint: setup
	@bash tools/lint.sh

clean:
	rm -rf .build contracts/.cache .pytest_cache
