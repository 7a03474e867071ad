# Retrace: `make demo` and `make test` do all set-up on a fresh Debian 12 machine.
SHELL := /bin/bash
CARGO ?= cargo
# Tests find the binaries here; .ci/run points CARGO_TARGET_DIR at a cache outside the clone.
export CARGO_TARGET_DIR ?= $(CURDIR)/target
export RETRACE_BIN_DIR := $(CARGO_TARGET_DIR)/debug
PYTEST := .venv/bin/python -m pytest

.PHONY: demo demo-lsp test setup build lint unit e2e bench fmt clean

demo: demo-lsp

# A scripted editor session against retrace-lsp over this repository's sources.
demo-lsp: setup
	$(CARGO) build --quiet -p retrace-lsp
	.venv/bin/python scripts/demo-lsp.py

test: setup lint unit e2e

setup:
	@scripts/setup

build:
	$(CARGO) build --workspace --all-targets

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --quiet -- -D warnings

unit:
	$(CARGO) test --workspace --quiet

e2e: build
	$(PYTEST) -q tests

bench:
	$(CARGO) bench -p retrace-lsp

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
