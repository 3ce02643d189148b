#!/usr/bin/env bash
# Installs what the benchmarks need into .tools/loadtest/ (gitignored),
# pinned and idempotent: re-running does nothing unless a pin changed.
#
#   - Node 22 (the `node` npm package), fauxqs, sqs-consumer and the AWS SDK,
#     from loadtest/peers/package.json + package-lock.json (npm ci);
#   - Celery 5 with the SQS transport in a venv, from
#     loadtest/peers/celery/requirements.txt (pycurl builds against Debian's
#     libcurl4-openssl-dev and libssl-dev, installed with apt if missing).
#
# Sourced by bench.sh and profile.sh; sets NODE_BIN, CELERY_BIN, CELERY_PY.
set -euo pipefail

LT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LT_TOOLS="$LT_ROOT/.tools/loadtest"
LT_PEERS="$LT_ROOT/loadtest/peers"
mkdir -p "$LT_TOOLS"

lt_say() { printf '[bench] %s\n' "$*" >&2; }

lt_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else lt_say "need root for: $*"; return 1; fi
}

lt_apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  lt_say "installing Debian packages: ${missing[*]}"
  if [ ! -f "$LT_TOOLS/.apt-updated" ]; then lt_as_root apt-get update -qq >/dev/null; touch "$LT_TOOLS/.apt-updated"; fi
  lt_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

lt_setup_node() {
  local dir="$LT_TOOLS/npm" stamp want
  want="$(cat "$LT_PEERS/package.json" "$LT_PEERS/package-lock.json" | sha256sum | cut -d' ' -f1)"
  stamp="$dir/.stamp"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x "$dir/node_modules/.bin/node" ]; then
    command -v npm >/dev/null || lt_apt_install npm
    lt_say "installing Node 22, fauxqs, sqs-consumer into .tools/loadtest/npm (npm ci)"
    mkdir -p "$dir"
    cp "$LT_PEERS/package.json" "$LT_PEERS/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$want" > "$stamp"
  fi
  # ES modules resolve packages from the importing file's folders only, so
  # the peers' scripts see the installed packages through this link.
  ln -sfn ../../.tools/loadtest/npm/node_modules "$LT_PEERS/node_modules"
  NODE_BIN="$dir/node_modules/.bin/node"
  "$NODE_BIN" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=5)?0:1)' \
    || { lt_say "Node >= 22.5 required, got $("$NODE_BIN" --version)"; return 1; }
}

lt_setup_celery() {
  local venv="$LT_TOOLS/celery-venv" req="$LT_PEERS/celery/requirements.txt" want
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ ! -f "$venv/.stamp" ] || [ "$(cat "$venv/.stamp")" != "$want" ]; then
    lt_apt_install libcurl4-openssl-dev libssl-dev
    python3 -m venv --help >/dev/null 2>&1 || lt_apt_install python3-venv
    lt_say "installing Celery (SQS transport) into .tools/loadtest/celery-venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
    echo "$want" > "$venv/.stamp"
  fi
  CELERY_BIN="$venv/bin/celery"
  CELERY_PY="$venv/bin/python"
}

lt_setup_all() {
  lt_setup_node
  lt_setup_celery
}

# Starts fauxqs on 127.0.0.1:$1 unless something already answers there;
# sets FAUXQS_PID when it started one (the caller stops it).
lt_start_fauxqs() {
  local port=$1
  FAUXQS_PID=""
  if curl -sf "http://127.0.0.1:$port/_loadtest/requests" >/dev/null 2>&1; then
    lt_say "fauxqs: already listening on 127.0.0.1:$port"
    FAUXQS_PID="$(ss -ltnpH "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)"
    FAUXQS_STARTED=0
    return
  fi
  mkdir -p "$LT_TOOLS"
  "$NODE_BIN" --no-warnings "$LT_PEERS/fauxqs/server.mjs" "$port" >"$LT_TOOLS/fauxqs.log" 2>&1 &
  FAUXQS_PID=$!
  FAUXQS_STARTED=1
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return
    sleep 0.1
  done
  lt_say "fauxqs did not start (see .tools/loadtest/fauxqs.log)"
  return 1
}
