#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (deny.toml): licenses, bans (incl.
# duplicate major versions), sources, and the RustSec advisories.
#
# cargo-deny is installed from crates.io, pinned, into .tools/cargo-deny
# (project-local, reused across runs). The advisory database is a git
# repository outside crates.io: where it cannot be fetched (a network that
# reaches only the package registries), the advisories check is skipped with
# a notice and the other three still run; DENY_REQUIRE_ADVISORIES=1 (set in
# CI where the network allows it) makes that a failure instead.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.20.2
ROOT=.tools/cargo-deny
BIN="$ROOT/bin/cargo-deny"

if ! "$BIN" --version 2>/dev/null | grep -qx "cargo-deny $VERSION"; then
  echo "[deny] installing cargo-deny $VERSION into $ROOT" >&2
  cargo install --locked --quiet --version "$VERSION" --root "$ROOT" cargo-deny
fi

deny() { PATH="$PWD/$ROOT/bin:$PATH" cargo deny "$@"; }

if deny fetch db >/dev/null 2>&1; then
  deny --log-level error check advisories bans licenses sources
else
  if [[ "${DENY_REQUIRE_ADVISORIES:-0}" == 1 ]]; then
    echo "[deny] cannot fetch the RustSec advisory database and DENY_REQUIRE_ADVISORIES=1" >&2
    exit 1
  fi
  echo "[deny] advisories NOT checked: the RustSec advisory database (a git repository outside crates.io) cannot be fetched from this network; running bans, licenses and sources" >&2
  deny --log-level error check bans licenses sources
fi
