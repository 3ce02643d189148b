#!/usr/bin/env bash
# Offline validation of charts/ (worker, platform, observability), deploy/argocd and
# deploy/environments. No cluster, no Docker, no network beyond the package registries the
# tools install from (first run only).
#
#   bash scripts/charts-check.sh        # from the repository root (or anywhere)
#
# Tools, pinned, installed quietly into .tools/charts/ (gitignored); reinstalled only when their
# pin files change:
#   venv/           helm-python-sdk (Helm v4 Go SDK; charts/ci/helm.py is the `helm` command),
#                   kubernetes-validate            charts/ci/requirements.txt + constraints.txt
#   checkov-venv/   checkov                        charts/ci/requirements-checkov.txt + constraints-checkov.txt
#   bin/promtool    from Debian 12's prometheus package, unpacked, not installed: `apt-get download`
#                   on Debian, else the same .deb from deb.debian.org checked against a pinned SHA-256
#                   (Ubuntu CI runners, other distributions; amd64)
#   charts/ci/validate/node_modules   @kubernetes-models/*  (npm ci, package-lock.json)
#
# Checks (one line each; exit 1 if any fails):
#   helm-lint        helm lint --strict, every chart x charts/<chart>/ci/*-values.yaml
#   helm-template    render the same; contract assertions on the worker output
#   negative         charts/ci/negative/<chart>/*.yaml must fail (tgp <= drain, unknown keys, ...)
#   argocd           worker and add-on ApplicationSets expanded like Argo CD; each worker Application
#                    (and each add-on from this repository) rendered with its env values
#   k8s-schemas      kubernetes-validate --strict on every built-in object (Kubernetes $KUBE_VERSION)
#   crd-models       KEDA, Karpenter v1, prometheus-operator, ESO, Argo CD objects vs kubernetes-models
#   checkov          rendered manifests, 0 failed (inline, justified skips only)
#   rules-contract   alerts have runbooks, tests firing + silent, contract metric/label names
#   promtool-check   promtool check rules on the PrometheusRule rendered by the chart
#   promtool-test    promtool test rules charts/observability/tests/*.test.yaml
#   dashboards       dashboard structure + metric names; every PromQL expression via promtool check rules
#   readme           chart README values tables match values.yaml `# --` comments
#
# Every check runs in its own background subshell under `set -euo pipefail`, so every command in
# it counts: a check called as `if "$@"` or `"$@" || rc=$?` would run with errexit ignored and
# report the status of its last command only. `make checks-selftest` proves each check can fail.
#
#   CHECKS_ONLY="k8s-schemas checkov"   run only these checks (plus the render/argocd steps they
#                                       read, reported as `prep`); used by scripts/checks-selftest.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TOOLS="$ROOT/.tools/charts"
LOGS="$TOOLS/logs"
CI_DIR="charts/ci"
NODE_DIR="$CI_DIR/validate"
PYTHON="${PYTHON:-python3}"
KUBE_VERSION="${KUBE_VERSION:-1.35.0}"
PROMETHEUS_DEB_VERSION="2.42.0+ds-5+deb12u1"   # Debian 12 (bookworm); provides promtool 2.42.0

CHARTS_OUT="${CHARTS_OUT:-$TOOLS/out}"
export CHARTS_OUT KUBE_VERSION
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off
export PYTHONDONTWRITEBYTECODE=1 DEBIAN_FRONTEND=noninteractive
export CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false BC_SKIP_MAPPING=TRUE LOG_LEVEL=ERROR
export XDG_CACHE_HOME="$TOOLS/cache" npm_config_cache="$TOOLS/cache/npm"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

mkdir -p "$LOGS" "$XDG_CACHE_HOME" "$TOOLS/bin"

now() { date +%s.%N; }
elapsed() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1fs", e - s }'; }
say() { printf '%-15s %-5s %s\n' "$1" "$2" "$3"; }
stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

FAILED=()
CHECKS=0

# ---------------------------------------------------------------------------
# Tool installation (idempotent, quiet; logs in .tools/charts/logs)
# ---------------------------------------------------------------------------
make_venv() {
  local dir="$1"
  "$PYTHON" -m venv "$dir" >/dev/null 2>&1 && return 0
  rm -rf "$dir"
  # Debian's python3 ships venv/ensurepip separately.
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -qq python3-venv >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq python3-venv >/dev/null 2>&1; }
    "$PYTHON" -m venv "$dir" >/dev/null 2>&1 && return 0
  fi
  echo "charts-check: cannot create a Python venv with $PYTHON (install python3-venv)" >&2
  return 1
}

install_venv() { # dir requirements constraints
  local dir="$1" req="$2" con="$3" stamp
  stamp="$(stamp_of "$req" "$con"; "$PYTHON" -c 'import sys; print(sys.version)')"
  [[ -x "$dir/bin/python" && -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$stamp" ]] && return 0
  rm -rf "$dir"
  make_venv "$dir"
  "$dir/bin/python" -m pip install -q -r "$req" -c "$con" >"$LOGS/pip-$(basename "$dir").log" 2>&1 || {
    echo "charts-check: pip install into $dir failed (see $LOGS/pip-$(basename "$dir").log)" >&2; return 1; }
  echo "$stamp" >"$dir/.stamp"
}

# Fallback when apt cannot provide the pinned package (Ubuntu runners, other distributions):
# the same .deb straight from the Debian archive, verified against its pinned SHA-256
# (from `apt-cache show prometheus=<version>` on bookworm). Only the promtool binary is used.
PROMETHEUS_DEB_URL="${DEBIAN_MIRROR:-https://deb.debian.org/debian}/pool/main/p/prometheus/prometheus_2.42.0+ds-5+deb12u1_amd64.deb"
PROMETHEUS_DEB_SHA256="81d59a24fce84f7fbe97a45a4f2914b6a5881b5cd1db2a6a0e129e515e1a5f55"

fetch_promtool_deb_apt() { # dir   (Debian 12: the pinned revision, or a security update of the same upstream)
  local debs="$1" version="$PROMETHEUS_DEB_VERSION" candidate
  command -v apt-get >/dev/null 2>&1 || return 1
  # apt-get download fetches the .deb only: nothing is installed or started.
  (cd "$debs" && apt-get download -qq "prometheus=$version" >"$LOGS/apt.log" 2>&1) && return 0
  apt-get update -qq >>"$LOGS/apt.log" 2>&1 || true
  (cd "$debs" && apt-get download -qq "prometheus=$version" >>"$LOGS/apt.log" 2>&1) && return 0
  candidate="$(apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ { print $2 }')"
  # Same upstream release and a Debian (+debNN) revision: a security update replaced the pin.
  if [[ "$candidate" == "${version%%-*}"*deb12* ]]; then
    (cd "$debs" && apt-get download -qq "prometheus=$candidate" >>"$LOGS/apt.log" 2>&1) || return 1
    echo "charts-check: prometheus $version unavailable, using $candidate (same upstream)" >&2
    return 0
  fi
  return 1
}

fetch_promtool_deb_url() { # dir
  local debs="$1" deb
  deb="$debs/$(basename "$PROMETHEUS_DEB_URL")"
  [[ "$(uname -m)" == "x86_64" ]] || { echo "charts-check: no pinned promtool for $(uname -m)" >&2; return 1; }
  command -v curl >/dev/null 2>&1 || { echo "charts-check: promtool fallback needs curl" >&2; return 1; }
  curl -fsSL --retry 3 -o "$deb" "$PROMETHEUS_DEB_URL" >>"$LOGS/apt.log" 2>&1 || {
    echo "charts-check: cannot download $PROMETHEUS_DEB_URL (see $LOGS/apt.log)" >&2; return 1; }
  echo "$PROMETHEUS_DEB_SHA256  $deb" | sha256sum -c --quiet - || {
    echo "charts-check: checksum mismatch for $PROMETHEUS_DEB_URL" >&2; return 1; }
}

install_promtool() {
  local bin="$TOOLS/bin/promtool" debs="$TOOLS/debs" version="$PROMETHEUS_DEB_VERSION"
  [[ -x "$bin" && -f "$bin.version" && "$(cat "$bin.version")" == "$version" ]] && return 0
  rm -rf "$debs" && mkdir -p "$debs"
  fetch_promtool_deb_apt "$debs" || fetch_promtool_deb_url "$debs" || {
    echo "charts-check: cannot get Debian prometheus $version (apt or $PROMETHEUS_DEB_URL); see $LOGS/apt.log" >&2
    return 1
  }
  rm -rf "$debs/x" && mkdir -p "$debs/x"
  if command -v dpkg-deb >/dev/null 2>&1; then
    dpkg-deb -x "$debs"/prometheus_*.deb "$debs/x"
  else # a .deb is an ar archive; data.tar.* holds the files
    (cd "$debs" && ar x prometheus_*.deb && tar -xf data.tar.* -C x)
  fi
  install -m 0755 "$debs/x/usr/bin/promtool" "$bin"
  rm -rf "$debs"
  echo "$version" >"$bin.version"
}

install_node_models() {
  local stamp
  stamp="$(stamp_of "$NODE_DIR/package.json" "$NODE_DIR/package-lock.json"; node --version)"
  [[ -d "$NODE_DIR/node_modules" && -f "$NODE_DIR/node_modules/.stamp" && "$(cat "$NODE_DIR/node_modules/.stamp")" == "$stamp" ]] && return 0
  command -v npm >/dev/null 2>&1 || { echo "charts-check: node/npm (20+) is required" >&2; return 1; }
  (cd "$NODE_DIR" && npm ci --loglevel=error --ignore-scripts --no-audit --no-fund >"$LOGS/npm.log" 2>&1) || {
    echo "charts-check: npm ci failed (see $LOGS/npm.log)" >&2; return 1; }
  echo "$stamp" >"$NODE_DIR/node_modules/.stamp"
}

t0="$(now)"
install_venv "$TOOLS/venv" "$CI_DIR/requirements.txt" "$CI_DIR/constraints.txt"
install_venv "$TOOLS/checkov-venv" "$CI_DIR/requirements-checkov.txt" "$CI_DIR/constraints-checkov.txt"
install_promtool
install_node_models
PY="$TOOLS/venv/bin/python"
PROMTOOL="$TOOLS/bin/promtool"
say tools ok "$(elapsed "$t0")  helm $("$PY" -c 'import helm_python as h; print(h.helm_sdk_version())'), promtool $("$PROMTOOL" --version 2>&1 | awk 'NR==1 { print $3 }'), checkov $("$TOOLS/checkov-venv/bin/checkov" --version 2>/dev/null), node $(node --version)"

# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------
ONLY="${CHECKS_ONLY:-}"
wanted() { [[ -z "$ONLY" || " $ONLY " == *" $1 "* ]]; }
# Steps whose output later checks read: with CHECKS_ONLY they still run when a selected check needs them.
needed() {
  local name="$1" c
  wanted "$name" && return 0
  case "$name" in
    helm-template) for c in k8s-schemas crd-models checkov rules-contract promtool-check; do wanted "$c" && return 0; done ;;
    argocd) for c in k8s-schemas crd-models checkov; do wanted "$c" && return 0; done ;;
  esac
  return 1
}

run_check() { # name command...   (prints one line; the tool's output goes to the log, shown on failure)
  local name="$1" start log rc=0 label
  shift
  needed "$name" || return 0
  label="$name"
  wanted "$name" || label="$name (prep)"
  CHECKS=$((CHECKS + 1))
  start="$(now)"
  log="$LOGS/$name.log"
  # A background subshell with errexit on. Not a helper function: a function called from `||`
  # would pass "errexit ignored" down to the subshell it starts.
  (set -euo pipefail; "$@") >"$log" 2>&1 </dev/null &
  wait "$!" || rc=$?
  if ((rc == 0)); then
    say "$label" ok "$(elapsed "$start")  $(grep -v '^\s*$' "$log" | tail -n 1 | cut -c1-110)"
  else
    say "$label" FAIL "$(elapsed "$start")  exit $rc (log: ${log#"$ROOT"/})"
    sed 's/^/    /' "$log" | tail -n 40
    FAILED+=("$name")
  fi
}

merge_crds() {
  "$PY" - "$CHARTS_OUT" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
items = [i for f in sorted(out.glob("crds-*.json")) for i in json.loads(f.read_text())]
(out / "crds.json").write_text(json.dumps(items))
PY
}

k8s_schemas() {
  local files=("$CHARTS_OUT"/core/*.yaml)
  "$TOOLS/venv/bin/kubernetes-validate" --strict --quiet -k "$KUBE_VERSION" "${files[@]}"
  echo "kubernetes-validate --strict, Kubernetes $KUBE_VERSION: ${#files[@]} files, all objects valid"
}

crd_models() {
  merge_crds
  node "$NODE_DIR/validate-crds.mjs" "$CHARTS_OUT/crds.json"
}

checkov_scan() {
  # Run from inside the output folder: checkov silently skips paths under a hidden directory
  # (.tools/), which would scan nothing and "pass".
  local config="$ROOT/$CI_DIR/checkov.yaml" passed
  (cd "$CHARTS_OUT" && "$TOOLS/checkov-venv/bin/checkov" --config-file "$config" -d manifests) >"$CHARTS_OUT/checkov.txt" 2>&1 || {
    cat "$CHARTS_OUT/checkov.txt"; return 1; }
  passed="$(sed -n 's/.*Passed checks: \([0-9]*\).*/\1/p' "$CHARTS_OUT/checkov.txt" | tail -n 1)"
  if [[ -z "$passed" || "$passed" -eq 0 ]]; then
    echo "checkov scanned nothing"; cat "$CHARTS_OUT/checkov.txt"; return 1
  fi
  grep -E 'Passed checks' "$CHARTS_OUT/checkov.txt" | tail -n 1
}

promtool_check() {
  "$PROMTOOL" check rules "$CHARTS_OUT"/rules/*.rules.yaml
}

promtool_test() {
  "$PROMTOOL" test rules charts/observability/tests/*.test.yaml
}

dashboards() {
  "$PY" "$CI_DIR/chartcheck.py" dashboards
  "$PROMTOOL" check rules "$CHARTS_OUT/dashboards.rules.yaml"
}

run_check helm-lint "$PY" "$CI_DIR/chartcheck.py" lint
run_check helm-template "$PY" "$CI_DIR/chartcheck.py" render
run_check negative "$PY" "$CI_DIR/chartcheck.py" negative
run_check argocd "$PY" "$CI_DIR/chartcheck.py" argocd
run_check k8s-schemas k8s_schemas
run_check crd-models crd_models
run_check checkov checkov_scan
run_check rules-contract "$PY" "$CI_DIR/chartcheck.py" rules
run_check promtool-check promtool_check
run_check promtool-test promtool_test
run_check dashboards dashboards
run_check readme "$PY" "$CI_DIR/chartcheck.py" readme

total=$CHECKS
if ((${#FAILED[@]})); then
  echo "charts-check: $((total - ${#FAILED[@]})) passed, ${#FAILED[@]} failed (${FAILED[*]}) in $(elapsed "$t0")"
  exit 1
fi
echo "charts-check: $total passed, 0 failed in $(elapsed "$t0")"
