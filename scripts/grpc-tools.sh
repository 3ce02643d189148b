#!/usr/bin/env bash
# Installs the pinned Python gRPC client (grpcio, grpcio-tools) that control/'s API tests use as
# KEDA would, into .tools/grpc/venv (gitignored). Idempotent: reinstalls only when the pins change.
# Prints the venv's python path on success.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQ="$ROOT/control/tests/keda/requirements.txt"
VENV="$ROOT/.tools/grpc/venv"
PYTHON="${PYTHON:-python3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off
stamp="$(cat "$REQ" | sha256sum | cut -c1-16) $("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
if [[ -x "$VENV/bin/python" && -f "$VENV/.stamp" && "$(cat "$VENV/.stamp")" == "$stamp" ]]; then
  echo "$VENV/bin/python"; exit 0
fi
# One installer at a time (parallel test binaries may call this together).
mkdir -p "$ROOT/.tools/grpc"
exec 9>"$ROOT/.tools/grpc/.lock"
flock 9
if [[ -x "$VENV/bin/python" && -f "$VENV/.stamp" && "$(cat "$VENV/.stamp")" == "$stamp" ]]; then
  echo "$VENV/bin/python"; exit 0
fi
rm -rf "$VENV"
if ! "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
  rm -rf "$VENV"
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq python3-venv >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq python3-venv >/dev/null 2>&1; }
  fi
  "$PYTHON" -m venv "$VENV" >/dev/null 2>&1 || { echo "grpc-tools: cannot create a venv with $PYTHON (install python3-venv)" >&2; exit 1; }
fi
"$VENV/bin/python" -m pip install -q --no-deps -r "$REQ" >"$ROOT/.tools/grpc/pip.log" 2>&1 || {
  echo "grpc-tools: pip install failed (see .tools/grpc/pip.log)" >&2; exit 1; }
echo "$stamp" >"$VENV/.stamp"
echo "$VENV/bin/python"
