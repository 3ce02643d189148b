#!/usr/bin/env bash
# Installs .tools/charts/venv (helm-python-sdk, PyYAML, kubernetes-validate from charts/ci/requirements.txt
# + constraints.txt) exactly as scripts/charts-check.sh does (same stamp, so neither reinstalls what the
# other installed), for tools that render charts without running every chart check (the fleet
# harness). Prints the venv's python path.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools/charts"
DIR="$TOOLS/venv"
REQ="$ROOT/charts/ci/requirements.txt"
CON="$ROOT/charts/ci/constraints.txt"
PYTHON="${PYTHON:-python3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off
mkdir -p "$TOOLS/logs"
stamp="$(cat "$REQ" "$CON" | sha256sum | cut -c1-16; "$PYTHON" -c 'import sys; print(sys.version)')"
if [[ -x "$DIR/bin/python" && -f "$DIR/.stamp" && "$(cat "$DIR/.stamp")" == "$stamp" ]]; then
  echo "$DIR/bin/python"; exit 0
fi
exec 9>"$TOOLS/.venv.lock"
flock 9
if [[ -x "$DIR/bin/python" && -f "$DIR/.stamp" && "$(cat "$DIR/.stamp")" == "$stamp" ]]; then
  echo "$DIR/bin/python"; exit 0
fi
rm -rf "$DIR"
if ! "$PYTHON" -m venv "$DIR" >/dev/null 2>&1; then
  rm -rf "$DIR"
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq python3-venv >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq python3-venv >/dev/null 2>&1; }
  fi
  "$PYTHON" -m venv "$DIR" >/dev/null 2>&1 || { echo "charts-venv: cannot create a venv with $PYTHON (install python3-venv)" >&2; exit 1; }
fi
"$DIR/bin/python" -m pip install -q -r "$REQ" -c "$CON" >"$TOOLS/logs/pip-venv.log" 2>&1 || {
  echo "charts-venv: pip install failed (see .tools/charts/logs/pip-venv.log)" >&2; exit 1; }
echo "$stamp" >"$DIR/.stamp"
echo "$DIR/bin/python"
