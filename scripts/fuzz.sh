#!/usr/bin/env bash
# Fuzzing the untrusted-input paths with cargo-fuzz (libFuzzer): builds the
# targets in fuzz/ and runs each one for FUZZ_SECS seconds from its committed
# seeds. Exits non-zero if any target crashes (panic, abort, oversized
# allocation, RSS limit, per-input timeout). `make fuzz-smoke` (60 s each, part
# of CI) and `make fuzz` (30 min each) call it; fuzz/README.md explains the
# choices and what to do with a crash.
#
#   FUZZ_SECS=60              seconds per target
#   FUZZ_TARGETS="a b"        subset of targets (default: all three)
#   FUZZ_ARGS="-seed=1"       extra libFuzzer flags for every target
#   FUZZ_STABLE=1             use stable + RUSTC_BOOTSTRAP=1 even if nightly exists
#
# Outputs (all gitignored): fuzz/target (build), fuzz/corpus/<target> (the
# growing working corpus, kept between local runs), fuzz/artifacts/<target>
# (crash-*, oom-*, timeout-* inputs), fuzz/logs/<target>.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ="$ROOT/fuzz"
FUZZ_SECS="${FUZZ_SECS:-60}"
FUZZ_TARGETS="${FUZZ_TARGETS:-envelope_decode media_probe media_thumbnails}"
FUZZ_ARGS="${FUZZ_ARGS:-}"

# cargo-fuzz is installed into the project, pinned, like the rest of .tools/.
CARGO_FUZZ_VERSION=0.13.2
CARGO_FUZZ_ROOT="$ROOT/.tools/cargo-fuzz"

say() { printf '[fuzz] %s\n' "$*"; }

# libFuzzer integration needs nightly-only rustc flags. Prefer a real nightly;
# a CI image that only has stable gets RUSTC_BOOTSTRAP=1, which lets the stable
# compiler accept them (the same compiler, with the feature gate lifted).
# FUZZ_STABLE=1 forces the stable path, to check it on a machine that has nightly.
if [ "${FUZZ_STABLE:-0}" != 1 ] && command -v rustup >/dev/null && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  TOOLCHAIN=(+nightly)
  say "toolchain: nightly ($(rustc +nightly --version))"
else
  TOOLCHAIN=()
  export RUSTC_BOOTSTRAP=1
  say "toolchain: stable with RUSTC_BOOTSTRAP=1 ($(rustc --version)); no nightly installed or FUZZ_STABLE=1"
fi

if ! "$CARGO_FUZZ_ROOT/bin/cargo-fuzz" --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
  say "installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools/cargo-fuzz"
  # Built with the default toolchain: cargo-fuzz itself is a normal stable program.
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" --root "$CARGO_FUZZ_ROOT"
fi
export PATH="$CARGO_FUZZ_ROOT/bin:$PATH"

# `cargo fuzz build` has no --locked; checking the lock file first gives the
# same guarantee (fuzz/Cargo.lock is committed and must not drift).
cargo "${TOOLCHAIN[@]}" metadata --locked --format-version 1 --manifest-path "$FUZZ/Cargo.toml" >/dev/null

# Build flags (see fuzz/README.md for the measurements behind them):
# * --sanitizer none: our crates forbid unsafe code, so ASan would mostly check
#   the standard library and C code, while instrumenting the whole dependency
#   tree (AWS SDKs included) with ASan makes the cold build far slower. What we
#   look for — panics, oversized allocations, hangs — needs no sanitizer: the
#   targets' capped allocator and libFuzzer's -rss_limit_mb/-timeout catch them.
# * release profile with debug assertions and overflow checks (cargo-fuzz's
#   default), unused dependencies at opt-level 0 (fuzz/Cargo.toml).
# * 16 codegen units: cargo-fuzz defaults to 1, which serialises the biggest
#   crates' codegen on a 2-core runner; the run-time cost is a few percent.
# * an explicit target dir, so a CARGO_TARGET_DIR set for the workspace does
#   not mix these instrumented artefacts with the normal build.
BUILD_FLAGS=(--sanitizer none --codegen-units 16 --target-dir "$FUZZ/target" --fuzz-dir "$FUZZ")
TRIPLE="$(rustc "${TOOLCHAIN[@]}" -vV | sed -n 's/^host: //p')"
BIN_DIR="$FUZZ/target/$TRIPLE/release"

say "building: $FUZZ_TARGETS"
start=$SECONDS
for t in $FUZZ_TARGETS; do
  (cd "$ROOT" && cargo "${TOOLCHAIN[@]}" fuzz build "${BUILD_FLAGS[@]}" "$t")
done
say "build took $((SECONDS - start)) s"

# Per-target inputs: seed directory, dictionary, longest input libFuzzer makes.
seeds_of() { case "$1" in envelope_decode) echo envelope_decode ;; *) echo media ;; esac; }
dict_of() { case "$1" in envelope_decode) echo envelope ;; *) echo media ;; esac; }
max_len_of() { case "$1" in envelope_decode) echo 16384 ;; *) echo 32768 ;; esac; }

mkdir -p "$FUZZ/logs"
failed=()
summary=()

# Inputs that once crashed a target (fuzz/regressions/<target>/) replay first:
# libFuzzer given files instead of directories runs each once. A regression
# fails fast here, before any fuzzing time is spent.
for t in $FUZZ_TARGETS; do
  regressions=("$FUZZ/regressions/$t"/*)
  [ -e "${regressions[0]}" ] || continue
  log="$FUZZ/logs/$t.regressions.log"
  if "$BIN_DIR/$t" -timeout=10 -rss_limit_mb=1024 "${regressions[@]}" >"$log" 2>&1; then
    say "$t: ${#regressions[@]} regression input(s) pass"
  else
    failed+=("$t (regressions)")
    say "$t: a regression input fails again; end of ${log#"$ROOT"/}:"
    tail -n 40 "$log" | sed 's/^/    /'
  fi
done

for t in $FUZZ_TARGETS; do
  corpus="$FUZZ/corpus/$t" artifacts="$FUZZ/artifacts/$t" log="$FUZZ/logs/$t.log"
  mkdir -p "$corpus" "$artifacts"
  say "running $t for ${FUZZ_SECS}s (log: ${log#"$ROOT"/})"
  # -timeout: one input taking 10 s is a hang. -rss_limit_mb: touched memory
  # (C allocations included). The outer `timeout` only guards against libFuzzer
  # itself getting stuck; SIGINT makes it stop cleanly and print its stats.
  rc=0
  # FUZZ_ARGS is split into words on purpose (several flags).
  # shellcheck disable=SC2086
  timeout -s INT -k 30 $((FUZZ_SECS + 300)) "$BIN_DIR/$t" \
    -max_total_time="$FUZZ_SECS" -timeout=10 -rss_limit_mb=1024 \
    -max_len="$(max_len_of "$t")" -dict="$FUZZ/dicts/$(dict_of "$t").dict" \
    -artifact_prefix="$artifacts/" -print_final_stats=1 $FUZZ_ARGS \
    "$corpus" "$FUZZ/seeds/$(seeds_of "$t")" >"$log" 2>&1 || rc=$?
  # From the last status line: cov (edges reached), ft (features), corp
  # (corpus entries/size); and the final stats libFuzzer prints on exit.
  status="$(grep -E '^#[0-9]+' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [^ ]+' || true)"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
  summary+=("$(printf '%-17s exit=%-3s execs=%-10s exec/s=%-7s %s' "$t" "$rc" "${execs:-?}" "${rate:-?}" "$status")")
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    say "$t FAILED (exit $rc); end of its log:"
    tail -n 60 "$log" | sed 's/^/    /'
  fi
done

say "summary (${FUZZ_SECS}s per target):"
printf '  %s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  say "crashing targets: ${failed[*]}; inputs are in fuzz/artifacts/<target>/"
  say "reproduce: $BIN_DIR/<target> fuzz/artifacts/<target>/<file>; see fuzz/README.md to minimise it and add a regression test"
  exit 1
fi
say "no crashes"
