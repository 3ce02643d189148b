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
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

.PHONY: test-rust
test-rust: deps stack-up ## Unit and integration tests against the local stack (starts from an empty moto)
	@scripts/stack.sh reset
	$(CARGO) test --locked --workspace --exclude reliability

.PHONY: test-reliability
test-reliability: deps stack-up ## Crash, fault and hostile-input scenarios (RELIABILITY_RUNS=3 for the report); rewrites docs/RELIABILITY.md
	rm -rf target/reliability
	$(CARGO) test --locked -p reliability
	@# The binary `cargo test` just built (a `cargo run` would rebuild the
	@# dependency tree without the tests' dev-dependency features).
	"$${CARGO_TARGET_DIR:-target}/debug/reliability-report" --expect kill9_loop,sigterm_drain,sqs_blackhole,postgres_cut,partial_batch_failures,visibility_race,relay_kill9

.PHONY: infra-check
infra-check: ## Offline validation of Terraform, Dockerfile and workflows
	@if [ -x scripts/infra-check.sh ] || [ -f scripts/infra-check.sh ]; then bash scripts/infra-check.sh; fi

.PHONY: charts-check
charts-check: ## Render, lint and validate the Helm charts; test the alert rules
	@if [ -f scripts/charts-check.sh ]; then bash scripts/charts-check.sh; fi

.PHONY: test
test: stack-up lint test-rust test-reliability fuzz-smoke infra-check charts-check ## Everything CI runs

.PHONY: demo
demo: stack-up build ## Run the fleet on sample jobs and print what happened
	@scripts/demo.sh

.PHONY: bench
bench: deps ## Benchmark suite: throughput, latency, peers, fleet, drain (rewrites loadtest/REPORT.md)
	bash loadtest/bench.sh

.PHONY: schema
schema: ## Regenerate the committed JSON Schema (jobs/schema/) from the Rust types
	JOBFLEET_BLESS_SCHEMA=1 $(CARGO) test --locked -p jobs --test schema

.PHONY: bench-ledger
bench-ledger: deps stack-up ## Ledger write throughput (jobs/s recorded, start + finish per job)
	$(CARGO) run --locked --release -p loadtest --bin ledger-bench -- --in-flight 1024

.PHONY: fuzz-smoke
fuzz-smoke: deps ## Fuzz smoke run: build the cargo-fuzz targets, FUZZ_SECS (60) s each; fails on a crash
	FUZZ_SECS=$${FUZZ_SECS:-60} scripts/fuzz.sh

.PHONY: fuzz
fuzz: deps ## Longer fuzzing run: FUZZ_SECS (1800) s per target, corpus kept in fuzz/corpus (see fuzz/README.md)
	FUZZ_SECS=$${FUZZ_SECS:-1800} scripts/fuzz.sh
