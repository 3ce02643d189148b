#!/usr/bin/env bash
# The benchmark suite's single entry point (`make bench`):
#
#   bash loadtest/bench.sh
#
# Installs its tools (setup.sh), makes sure Postgres is up (scripts/stack.sh),
# builds the worker and the loadtest binary (release), starts the fauxqs SQS
# emulator on 127.0.0.1, runs every scenario and rewrites loadtest/REPORT.md
# and loadtest/latency-vs-load.svg. Raw results and logs stay in
# .tools/loadtest/runs/<time>/.
#
# Knobs (environment): BENCH_REPEATS (3), BENCH_OURS_JOBS (20000),
# BENCH_PEER_JOBS (10000), BENCH_CELERY_JOBS (5000), BENCH_CONCURRENCY (64),
# BENCH_POINT_SECS (8), BENCH_SKIP_PEERS (false), BENCH_FAUXQS_PORT (4599),
# BENCH_DATABASE_URL (postgres://postgres@127.0.0.1:5432/jobfleet_bench),
# BENCH_WORKER_REV (a git revision to benchmark instead of the working tree),
# BENCH_WORKER_BIN (a worker binary to benchmark as is),
# BENCH_PROFILE=1 to also run loadtest/profile.sh (callgrind) afterwards.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=setup.sh
source "$ROOT/loadtest/setup.sh"
SUITE_START=$(date +%s)

lt_setup_all

# --- Postgres (the worker's ledger) -------------------------------------------
BENCH_DATABASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/jobfleet_bench}"
pg_hostport="${BENCH_DATABASE_URL#*@}"; pg_hostport="${pg_hostport%%/*}"
if ! (exec 3<>"/dev/tcp/${pg_hostport%%:*}/${pg_hostport##*:}") 2>/dev/null; then
  lt_say "Postgres not answering on $pg_hostport: starting the local stack"
  bash "$ROOT/scripts/stack.sh" up
fi
PSQL="$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | tail -1)"
ADMIN_URL="${BENCH_DATABASE_URL%/*}/postgres"
BENCH_DB="${BENCH_DATABASE_URL##*/}"
if [ "$("$PSQL" "$ADMIN_URL" -qAtc "select 1 from pg_database where datname = '$BENCH_DB'")" != "1" ]; then
  lt_say "creating database $BENCH_DB (the benchmarks' own ledger; they truncate it)"
  "$PSQL" "$ADMIN_URL" -qc "CREATE DATABASE \"$BENCH_DB\"" >/dev/null
fi

# --- Build ----------------------------------------------------------------------
# The worker under test is the working tree's, unless BENCH_WORKER_BIN names
# a binary or BENCH_WORKER_REV a git revision (exported with `git archive`,
# read-only, and built on its own — useful while the tree is mid-edit).
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ -n "${BENCH_WORKER_BIN:-}" ]; then
  WORKER_BIN="$BENCH_WORKER_BIN"
  WORKER_DESC="$WORKER_BIN (given)"
elif [ -n "${BENCH_WORKER_REV:-}" ]; then
  rev="$(git -C "$ROOT" rev-parse --short "$BENCH_WORKER_REV")"
  src="$LT_TOOLS/worker-src"
  lt_say "building the worker at $rev (release, from git archive)"
  rm -rf "$src" && mkdir -p "$src"
  git -C "$ROOT" archive "$rev" | tar -x -C "$src"
  # Only the worker is built there; the snapshot's loadtest crate is not needed.
  rm -rf "$src/loadtest" && mkdir -p "$src/loadtest/src"
  printf '[package]\nname = "loadtest"\nversion = "0.1.0"\nedition = "2024"\npublish = false\n' > "$src/loadtest/Cargo.toml"
  echo "//! placeholder" > "$src/loadtest/src/lib.rs"
  (cd "$src" && CARGO_TARGET_DIR="$TARGET_DIR" nice -n 10 cargo build --release -q -p worker)
  WORKER_BIN="$LT_TOOLS/worker-$rev"
  cp "$TARGET_DIR/release/worker" "$WORKER_BIN"
  WORKER_DESC="$rev (release build of that commit)"
else
  lt_say "building the worker (release)"
  nice -n 10 cargo build --release --locked -q -p worker
  WORKER_BIN="$LT_TOOLS/worker-tree"
  cp "$TARGET_DIR/release/worker" "$WORKER_BIN"
  WORKER_DESC="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  git -C "$ROOT" diff --quiet HEAD -- worker jobs 2>/dev/null || WORKER_DESC="$WORKER_DESC + uncommitted changes in worker/ or jobs/"
  WORKER_DESC="$WORKER_DESC (release build of the working tree)"
fi
lt_say "building loadtest (release)"
nice -n 10 cargo build --release --locked -q -p loadtest

# --- Emulator -----------------------------------------------------------------------
PORT="${BENCH_FAUXQS_PORT:-4599}"
lt_start_fauxqs "$PORT"
cleanup() {
  if [ "${FAUXQS_STARTED:-0}" = 1 ] && [ -n "${FAUXQS_PID:-}" ]; then kill "$FAUXQS_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

OUT="$LT_TOOLS/runs/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
ver_json() { "$NODE_BIN" -p "require('$LT_PEERS/node_modules/$1/package.json').version" 2>/dev/null || echo "?"; }
pyver() { "$CELERY_PY" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || echo "?"; }

export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
"$TARGET_DIR/release/loadtest" suite \
  --endpoint "http://127.0.0.1:$PORT" \
  ${FAUXQS_PID:+--emulator-pid "$FAUXQS_PID"} \
  --worker-bin "$WORKER_BIN" \
  --node-bin "$NODE_BIN" \
  --peers-dir "$LT_PEERS" \
  --celery-bin "$CELERY_BIN" \
  --database-url "$BENCH_DATABASE_URL" \
  --out-dir "$OUT" \
  --report-dir "$ROOT/loadtest" \
  --version-info "jobfleet worker=$WORKER_DESC" \
  --version-info "rustc=$(rustc --version | cut -d' ' -f2)" \
  --version-info "Node (npm package node)=$("$NODE_BIN" --version)" \
  --version-info "fauxqs=$(ver_json fauxqs)" \
  --version-info "sqs-consumer=$(ver_json sqs-consumer)" \
  --version-info "@aws-sdk/client-sqs=$(ver_json @aws-sdk/client-sqs)" \
  --version-info "celery=$(pyver celery)" \
  --version-info "kombu=$(pyver kombu)" \
  --version-info "pycurl=$(pyver pycurl)" \
  --version-info "Python=$("$CELERY_PY" -c 'import platform; print(platform.python_version())')" \
  --version-info "PostgreSQL=$("$PSQL" "$BENCH_DATABASE_URL" -qAtc 'show server_version')"

if [ "${BENCH_PROFILE:-0}" = 1 ]; then
  BENCH_FAUXQS_PORT="$PORT" BENCH_WORKER_BIN="$WORKER_BIN" bash "$ROOT/loadtest/profile.sh"
  "$TARGET_DIR/release/loadtest" report --results "$OUT/results.json" --report-dir "$ROOT/loadtest"
fi

lt_say "done in $(( $(date +%s) - SUITE_START )) s: loadtest/REPORT.md (raw results: ${OUT#"$ROOT"/})"
