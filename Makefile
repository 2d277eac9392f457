# Lockstep's entry points. The README's quick start is `make run` and `make test`.
#
#   make run      install what is missing, build, and launch the app
#   make test     every test layer (see CONTRIBUTING.md for each one alone)
#   make bundle   a release .deb under target/release/bundle/deb/
#
# CARGO_TARGET_DIR is honoured everywhere.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
TOOLS_DIR ?= /var/tmp/lockstep-tools
TAURI_DRIVER_VERSION := 2.1.0
NPM_STAMP := node_modules/.package-lock.json

.PHONY: help run test bundle deps-run deps-test npm ui app tools check-deb clean

help:
	@echo "make run      install missing packages, build, launch Lockstep"
	@echo "make test     run every test layer (Rust, UI, real-window e2e, keychain, SDK interop, .deb)"
	@echo "make bundle   build the release .deb (target/release/bundle/deb/)"

deps-run:
	@.ci/system-deps run

deps-test:
	@.ci/system-deps test

# npm ci only when package-lock.json changed since the last install.
$(NPM_STAMP): package-lock.json package.json ui/package.json tests/e2e/package.json
	npm ci --no-audit --no-fund
	@touch $(NPM_STAMP)

npm: $(NPM_STAMP)

ui: npm
	npm run build --workspace ui

# The app with its UI embedded (the default `custom-protocol` feature).
app: ui
	cargo build --bin lockstep

run: deps-run app
	$(TARGET_DIR)/debug/lockstep

# tauri-driver (WebDriver bridge for the real window), from crates.io, pinned.
tools:
	@if ! cargo install --list --root $(TOOLS_DIR) 2>/dev/null | grep -qx "tauri-driver v$(TAURI_DRIVER_VERSION):"; then \
	  cargo install tauri-driver --version $(TAURI_DRIVER_VERSION) --locked --root $(TOOLS_DIR); \
	fi

test: deps-test npm tools
	TAURI_DRIVER=$(TOOLS_DIR)/bin/tauri-driver tests/bin/test-all

bundle: deps-run npm
	npx tauri build --bundles deb

# Builds a .deb (debug profile, so it reuses the test build), unpacks it into a temp root and
# drives the unpacked binary's window.
check-deb: npm tools
	TAURI_DRIVER=$(TOOLS_DIR)/bin/tauri-driver tests/bin/check-deb

clean:
	cargo clean
	rm -rf node_modules ui/node_modules tests/e2e/node_modules ui/dist
