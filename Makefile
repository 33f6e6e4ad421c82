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

.PHONY: help demo test bench lint fmt build-dev build-release venv stack-up stack-down stack-status \
	test-rust test-python fuzz typecheck clean

help:
	@echo "make demo      run the agent scenario on a local Kafka + schema registry (all set-up included)"
	@echo "make test      Rust tests, linters, type checks, Python unit + integration tests, fuzzing"
	@echo "make bench     benchmarks beside the baseline libraries; results in bench/results/"
	@echo "make lint | fmt | build-dev | build-release | stack-up | stack-down | stack-status | clean"

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

test-python: build-release
	$(BIN)/pytest $(PYTEST_ARGS)

fuzz: build-release
	$(PY) -m tests.fuzz --seconds $${FUZZ_SECONDS:-60}

lint: $(VENV)/.installed
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(BIN)/ruff check python tests bench
	$(BIN)/ruff format --check python tests bench

typecheck: build-release
	$(BIN)/mypy
	$(PY) -m mypy.stubtest a2a_fast._native

fmt: $(VENV)/.installed
	cargo fmt --all
	$(BIN)/ruff format python tests bench
	$(BIN)/ruff check --fix python tests bench

bench: build-release
	$(BIN)/pytest bench --benchmark-only --benchmark-json=bench/results/latest.json $(PYTEST_ARGS)
	$(PY) -m bench.report bench/results/latest.json

stack-up: build-release
	$(BIN)/a2a-fast stack up

stack-down: $(VENV)/.installed
	$(BIN)/a2a-fast stack down

stack-status: $(VENV)/.installed
	$(BIN)/a2a-fast stack status

clean:
	cargo clean
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
