# Retrace: `make demo` and `make test` do all set-up on a fresh Debian 12 machine.
SHELL := /bin/bash
CARGO ?= cargo
# Tests find the binaries here; .ci/run points CARGO_TARGET_DIR at a cache outside the clone.
export CARGO_TARGET_DIR ?= $(CURDIR)/target
export RETRACE_BIN_DIR := $(CARGO_TARGET_DIR)/debug
PYTEST := .venv/bin/python -m pytest

.PHONY: demo demo-lsp demo-snaprun test setup build lint unit e2e bench bench-desktop fmt clean app frontend

demo: demo-snaprun

# snaprun: builds the built-in VM image if needed (host kernel + busybox, cached), saves its warm
# state (booted once, memory saved; kept), then runs the flaky example (a real lost-update race)
# 24 times, two VMs at a time, each restored from that state, and prints the summary.
# Failing iterations are the point of the demo (exit 1); infrastructure errors (exit 2) fail it.
SNAPRUN_DEMO_ITERATIONS ?= 24
demo-snaprun: setup
	$(CARGO) build --quiet -p snaprun
	$(RETRACE_BIN_DIR)/snaprun image build-default
	$(RETRACE_BIN_DIR)/snaprun image warm default
	@rc=0; $(RETRACE_BIN_DIR)/snaprun run -n $(SNAPRUN_DEMO_ITERATIONS) -j 2 -C examples/flaky -- ./stress.sh || rc=$$?; \
	if [ $$rc -gt 1 ]; then echo "demo: snaprun exited $$rc (not a test failure)" >&2; exit $$rc; fi

# A scripted editor session against retrace-lsp over this repository's sources.
demo-lsp: setup
	$(CARGO) build --quiet -p retrace-lsp
	.venv/bin/python scripts/demo-lsp.py

# Every test must run: one that finds something missing on this machine fails instead of being
# skipped (snaprun's tests: snapshot-runner/src/testenv.rs). Plain `cargo test` skips visibly.
test: export RETRACE_REQUIRE_ALL := 1
test: setup lint unit e2e editors

setup:
	@scripts/setup

# retrace-lsp-faults: retrace-lsp with the fault-injecting commands (feature debug-commands), for
# the tests only; the shipped retrace-lsp is built without them.
build: frontend
	$(CARGO) build --workspace --all-targets
	$(CARGO) build --quiet -p retrace-lsp --features debug-commands --bin retrace-lsp-faults

lint: frontend
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --quiet -- -D warnings
	cd desktop && $(WITH_NODE) npm run --silent check

unit: frontend
	$(CARGO) test --workspace --quiet
	cd desktop && $(WITH_NODE) npm test --silent

e2e: build
	$(PYTEST) -q tests

bench: bench-desktop
	$(CARGO) bench -p retrace-lsp
	$(CARGO) bench -p snaprun
	$(MAKE) build
	$(PYTEST) -q -s tests/desktop/bench_today.py tests/desktop/bench_stress.py

# The app's Navigation view through the real app (release build) in a real webview: cold
# start, live visits, a 10,000-node tree, idle CPU, click to the editor's move. Prints numbers.
bench-desktop: frontend
	$(CARGO) build --release -p retrace-desktop -p retrace-lsp
	RETRACE_BIN_DIR=$(CARGO_TARGET_DIR)/release .venv/bin/python -m tests.desktop.bench

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean

# --- editors (editors/nvim, editors/vscode) ------------------------------------------------
# The editors' end-to-end tests live in tests/editors and run with e2e: the Neovim plugin in
# headless Neovim (Debian's 0.7.2 and a current one), the VS Code extension in VS Code itself
# (code-server in Chromium); `make editors-nvim` and `make editors-vscode-e2e` run them alone.
# `editors` lints the plugin and checks, tests and packages the VS Code extension
# (editors/vscode/retrace.vsix). npm runs through scripts/with-node: the system's Node.js when
# it is 20 or newer, else the one scripts/setup installed.
.PHONY: editors editors-lint editors-vscode editors-nvim editors-vscode-e2e build-lsp
WITH_NODE := $(CURDIR)/scripts/with-node

editors: setup editors-lint editors-vscode

editors-lint:
	cd editors/nvim && luacheck --quiet . ../../tests/editors/support.lua

editors-vscode: build-lsp
	cd editors/vscode && $(WITH_NODE) npm run --silent check && $(WITH_NODE) npm test && $(WITH_NODE) npm run --silent package

editors-nvim: setup build-lsp
	$(PYTEST) -q tests/editors/test_nvim.py

editors-vscode-e2e: setup build-lsp
	$(PYTEST) -q tests/editors/test_vscode.py

build-lsp:
	$(CARGO) build --quiet -p retrace-lsp

# --- desktop (desktop/: the Tauri 2 app) ---------------------------------------------------
# The frontend (desktop/src, TypeScript + Svelte) is built by Vite into desktop/dist, which the
# Tauri crate (desktop/src-tauri) embeds when it compiles: build it before any cargo build.
# `make app` builds the release app and starts it; its end-to-end tests (tests/desktop) run
# with e2e, in a real WebKitGTK webview on Xvfb through tauri-driver.
frontend: setup
	cd desktop && $(WITH_NODE) npm run --silent build -- --logLevel error

app: frontend
	$(CARGO) build --release -p retrace-desktop
	$(CARGO_TARGET_DIR)/release/retrace-desktop
