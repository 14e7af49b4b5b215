# Assay: one entry point per job. Every target sets up what it needs first (idempotent).
SHELL := /bin/bash
ROOT := $(abspath .)
export SOLCX_BINARY_PATH := $(ROOT)/.solcx
export APE_DATA_FOLDER := $(ROOT)/.ape-data
export PATH := $(ROOT)/.venv/bin:$(ROOT)/node_modules/.bin:$(PATH)
export PYTHONPATH := $(ROOT)/offchain:$(PYTHONPATH)
NETWORK ?= ethereum:local:foundry

.PHONY: setup compile test test-fast demo bench gas-snapshot clean

setup:
	@bash tools/setup.sh

compile: setup
	@ape compile

test: compile
	@ape test tests --network $(NETWORK) -p no:cacheprovider $(PYTEST_ARGS)

demo: compile
	@python -m assay.demo

bench: compile
	@python -m bench.run

# Rewrite tests/gas_snapshot.json from the current contracts (commit the result on purpose).
gas-snapshot: compile
	@ASSAY_UPDATE_GAS_SNAPSHOT=1 ape test tests/test_gas.py --network $(NETWORK) -p no:cacheprovider

clean:
	rm -rf .build contracts/.cache .pytest_cache
