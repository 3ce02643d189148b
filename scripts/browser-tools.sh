#!/usr/bin/env bash
# Installs what the console's browser test needs: Debian's chromium (the
# browser; playwright-core downloads none) and the pinned npm packages of
# console/tests/browser/package.json into .tools/browser. Idempotent.
# Prints the node_modules directory.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.tools/browser"
SPEC="$ROOT/console/tests/browser/package.json"

if ! command -v chromium >/dev/null; then "$ROOT/scripts/stack.sh" deps >&2; fi
command -v chromium >/dev/null || { echo "chromium is not installed (apt-get install chromium)" >&2; exit 1; }
if ! command -v npm >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "need node and npm (apt-get install nodejs npm)" >&2; exit 1; }
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
want="$(sha256sum "$SPEC" | cut -d' ' -f1)"
if [ "$(cat "$DEST/.spec.sha" 2>/dev/null)" != "$want" ]; then
  rm -rf "$DEST" && mkdir -p "$DEST"
  cp "$SPEC" "$DEST/package.json"
  (cd "$DEST" && npm install --no-audit --no-fund --silent >&2)
  echo "$want" > "$DEST/.spec.sha"
fi
echo "$DEST/node_modules"
