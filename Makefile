# jobfleet — the two commands a new user needs are `make demo` and `make test`.
# Every target installs what it uses (project-local where possible) and is
# safe to re-run.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# The local stack's endpoints; anything already set in the environment wins.
export AWS_ENDPOINT_URL ?= http://127.0.0.1:4566
export AWS_REGION ?= us-east-1
export AWS_ACCESS_KEY_ID ?= test
export AWS_SECRET_ACCESS_KEY ?= test
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/jobfleet
export CARGO_TERM_COLOR ?= never

CARGO ?= cargo
# The console's browser test is one of test-rust's integration tests
# (`test-console` runs it alone); every cargo command of `make test` turns it
# on, so they all build the same crates.
RUST_TEST_FEATURES := --features jobfleet-console/browser-tests

.PHONY: help
help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: toolchain
toolchain: ## Make sure rustfmt and clippy are installed
	@command -v rustup >/dev/null && { $(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt; \
	  $(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy; } || true

.PHONY: stack-up
stack-up: ## Start moto (SQS/S3/SES/SNS) and Postgres; create queues and buckets
	@scripts/stack.sh up

.PHONY: stack-down
stack-down: ## Stop what stack-up started
	@scripts/stack.sh down

.PHONY: deps
deps: toolchain ## Install the build tools the crates need (cmake, nasm) if missing
	@scripts/stack.sh deps

.PHONY: build
build: deps ## Build the worker binary (debug)
	$(CARGO) build --locked -p worker

.PHONY: lint
lint: deps ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all --check
	$(CARGO) clippy --locked --workspace $(RUST_TEST_FEATURES) --all-targets -- -D warnings

.PHONY: test-rust
# Every cargo command of `make test` selects the whole workspace (`--workspace`,
# narrowed by target filters), never one package (`-p`): cargo unifies the
# dependencies' features over the packages selected, so a `-p` build resolves
# tokio, rustls, hyper... with other features and compiles the dependency tree
# again (three extra cold builds, a third of CI's time). `--exclude reliability
# --exclude fleet` keeps the same features (they add none).
test-rust: deps stack-up grpc-tools ## Unit tests of every crate; integration tests against the local stack (starts from an empty moto): the example crate, the Node.js producer and the console in a real browser included
	@scripts/stack.sh reset
	@scripts/browser-tools.sh >/dev/null
	$(CARGO) test --locked --workspace $(RUST_TEST_FEATURES) --lib --bins
	$(CARGO) test --locked --workspace $(RUST_TEST_FEATURES) --exclude reliability --exclude fleet --test '*'

.PHONY: grpc-tools
grpc-tools: ## Install the pinned Python gRPC client (KEDA's side of control/'s API tests) into .tools/grpc
	@scripts/grpc-tools.sh >/dev/null

.PHONY: test-fleet
test-fleet: deps stack-up ## Fleet harness, short profile: scenarios 1 and 3 with real workers under the prod chart values (~1.5 min)
	@scripts/charts-venv.sh >/dev/null
	$(CARGO) test --locked --workspace $(RUST_TEST_FEATURES) --test short

.PHONY: fleet
fleet: deps stack-up ## Fleet harness, every scenario and policy; rewrites docs/FLEET.md and docs/fleet/*.svg
	@scripts/charts-venv.sh >/dev/null
	$(CARGO) build --locked --workspace --bin worker --bin fleet --test cli
	"$${CARGO_TARGET_DIR:-target}/debug/fleet" --profile full $(FLEET_ARGS)

.PHONY: test-reliability
test-reliability: deps stack-up ## Crash, fault and hostile-input scenarios (RELIABILITY_RUNS=3 for the report); rewrites docs/RELIABILITY.md
	rm -rf target/reliability
	@# The FIFO scenario (tests/topologies.rs) needs the emulator's FIFO fix
	@# (scripts/moto_sqs.py): on a stock moto this check fails first, naming the bug.
	.tools/stack-venv/bin/python scripts/moto-sqs-check.py
	$(CARGO) test --locked --workspace $(RUST_TEST_FEATURES) --test scenarios --test corpus --test hostile_media --test topologies
	@# The binary `cargo test` just built (a `cargo run` would rebuild the
	@# dependency tree without the tests' dev-dependency features).
	"$${CARGO_TARGET_DIR:-target}/debug/reliability-report" --expect kill9_loop,sigterm_drain,sqs_blackhole,postgres_cut,partial_batch_failures,visibility_race,relay_kill9,fifo_groups,fair_tenants,priority_queues

.PHONY: deny
deny: ## Supply chain: cargo-deny (pinned, into .tools/) on licenses, bans (duplicate majors), sources and advisories (deny.toml)
	@scripts/deny.sh

.PHONY: infra-check
infra-check: ## Offline validation of Terraform, Dockerfile and workflows
	bash scripts/infra-check.sh

.PHONY: charts-check
charts-check: ## Render, lint and validate the Helm charts; test the alert rules
	bash scripts/charts-check.sh

.PHONY: checks-selftest
checks-selftest: ## Plant one known defect per infra/charts check in a copy of the tree; each check must fail on it
	bash scripts/checks-selftest.sh

.PHONY: docs
docs: deps ## API docs with warnings as errors (cargo doc), and the doc tests
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --locked --workspace --no-deps
	$(CARGO) test --locked --workspace $(RUST_TEST_FEATURES) --doc

.PHONY: test
test: stack-up lint deny docs test-rust test-fleet test-reliability fuzz-smoke infra-check charts-check checks-selftest ## Everything CI runs

.PHONY: demo
demo: stack-up build ## Run the fleet on sample jobs and print what happened
	@scripts/demo.sh

.PHONY: bench
bench: deps ## Benchmark suite: throughput, latency, peers, fleet, drain (rewrites loadtest/REPORT.md)
	bash loadtest/bench.sh

.PHONY: schema
schema: ## Regenerate the committed JSON Schema (contract/schema/) from the Rust types
	JOBFLEET_BLESS_SCHEMA=1 $(CARGO) test --locked -p jobfleet-handlers --all-features --test schema

.PHONY: bench-ledger
bench-ledger: deps stack-up ## Ledger write throughput (jobs/s recorded, start + finish per job)
	$(CARGO) run --locked --release -p loadtest --bin ledger-bench -- --in-flight 1024

.PHONY: fuzz-smoke
fuzz-smoke: deps ## Fuzz smoke run: build the cargo-fuzz targets, FUZZ_SECS (60) s each; fails on a crash
	FUZZ_SECS=$${FUZZ_SECS:-60} scripts/fuzz.sh

.PHONY: fuzz
fuzz: deps ## Longer fuzzing run: FUZZ_SECS (1800) s per target, corpus kept in fuzz/corpus (see fuzz/README.md)
	FUZZ_SECS=$${FUZZ_SECS:-1800} scripts/fuzz.sh

.PHONY: test-console
test-console: deps stack-up ## Console in a real browser: playwright-core (npm, pinned) drives Debian's chromium, both installed by scripts/browser-tools.sh into .tools/browser
	@scripts/browser-tools.sh >/dev/null
	$(CARGO) test --locked --workspace $(RUST_TEST_FEATURES) --test browser

.PHONY: console-screenshots
console-screenshots: ## Regenerate docs/console/*.png (the browser test's screenshots)
	CONSOLE_SCREENSHOT_DIR=$(CURDIR)/docs/console $(MAKE) test-console

.PHONY: bench-console
bench-console: deps stack-up ## Console job search on 1 M ledger rows (own database): p50/p95 per search and no sequential scan
	$(CARGO) run --locked -p jobfleet-console --example bench_jobs
