# The two commands that matter: `make demo` and `make test`. Each sets up everything it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOTSTRAP ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export VIRTUAL_ENV := $(CURDIR)/$(VENV)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

NATIVE_SOURCES := Cargo.toml Cargo.lock core/Cargo.toml rust/Cargo.toml pyproject.toml \
	$(shell find core/src rust/src -name '*.rs' 2>/dev/null)
PYTEST_ARGS ?=
# How long `make demo` keeps its agents and web console up after the run, to look around (0: not at all).
DEMO_CONSOLE_SECONDS ?= 30

.PHONY: help demo test bench chaos lint fmt build-dev build-release venv stack-up stack-down stack-status \
	test-rust test-python fuzz fuzz-long typecheck clean browser

help:
	@echo "make demo      run the agent scenario on a local Kafka + schema registry (all set-up included)"
	@echo "make test      Rust tests, linters, type checks, Python unit + integration tests, fuzzing"
	@echo "make bench     benchmarks beside the baseline libraries; results in bench/results/"
	@echo "make fuzz-long a million inputs through every decoder of untrusted bytes (FUZZ_RUNS to change)"
	@echo "make chaos     the fault suite on a private stack: CHAOS_TRIALS (100) trials, table in bench/results/chaos.json"
	@echo "               CHAOS_ARGS=\"--transactional --no-dedupe\": every agent in transactions, dedupe off"
	@echo "make lint | fmt | build-dev | build-release | stack-up | stack-down | stack-status | browser | clean"

$(VENV)/.installed: requirements/dev.txt
	$(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/dev.txt
	touch $@

venv: $(VENV)/.installed

# One optimised build serves the demo, the tests and the benchmarks.
$(VENV)/.native-release: $(VENV)/.installed $(NATIVE_SOURCES)
	$(BIN)/maturin develop --release --quiet
	touch $@

build-release: $(VENV)/.native-release

build-dev: $(VENV)/.installed
	$(BIN)/maturin develop --quiet
	rm -f $(VENV)/.native-release

demo: build-release
	$(BIN)/a2a-fast demo --console --console-linger $(DEMO_CONSOLE_SECONDS)

test: test-rust lint typecheck fuzz test-python
	@echo "make test: all checks passed"

test-rust:
	cargo test --workspace --exclude a2a-fast-py --quiet

test-python: build-release browser
	$(BIN)/pytest --durations=15 $(PYTEST_ARGS)

# The console's browser tests drive Debian's chromium through Playwright (never `playwright install`, which
# downloads a browser build of its own). Installed here with apt when missing; without root or apt the tests
# say why they are skipped.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's chromium for the console's browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	elif command -v apt-get >/dev/null && sudo -n true 2>/dev/null; then \
		echo "installing Debian's chromium for the console's browser tests"; \
		sudo -n apt-get update -qq && sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "make browser: /usr/bin/chromium is missing and cannot be installed here (apt-get as root or with sudo);" \
			"the console's browser tests will be skipped"; \
	fi

fuzz: build-release
	$(PY) -m tests.fuzz --seconds $${FUZZ_SECONDS:-60}

# The long run: FUZZ_RUNS inputs (default a million) through every decoder of untrusted bytes, one at a time.
fuzz-long: build-release
	$(PY) -m tests.fuzz --runs $${FUZZ_RUNS:-1000000}

lint: $(VENV)/.installed
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(BIN)/ruff check python tests bench examples
	$(BIN)/ruff format --check python tests bench examples

typecheck: build-release
	$(BIN)/mypy
	$(PY) -m mypy.stubtest a2a_fast._native

fmt: $(VENV)/.installed
	cargo fmt --all
	$(BIN)/ruff format python tests bench examples
	$(BIN)/ruff check --fix python tests bench examples

bench: build-release
	$(BIN)/pytest bench --benchmark-only --benchmark-json=bench/results/latest.json $(PYTEST_ARGS)
	$(PY) -m bench.report bench/results/latest.json

# kill -9 of agents, broker restarts and registry outages on a private stack (own ports and state, never the shared
# one); every task accounted from the log. CHAOS_TRIALS=1000 is the long run (about ten times as long);
# CHAOS_ARGS="--transactional --no-dedupe" runs every agent in transactions with the message-id dedupe off.
CHAOS_TRIALS ?= 100
CHAOS_ARGS ?=
chaos: build-release
	$(PY) -m bench.chaos --trials $(CHAOS_TRIALS) $(CHAOS_ARGS)

stack-up: build-release
	$(BIN)/a2a-fast stack up

stack-down: $(VENV)/.installed
	$(BIN)/a2a-fast stack down

stack-status: $(VENV)/.installed
	$(BIN)/a2a-fast stack status

clean:
	cargo clean
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis tests/artifacts
