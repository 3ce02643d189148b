#!/usr/bin/env bash
# Self-test of the validation scripts: a check that cannot fail is a defect.
#
#   bash scripts/checks-selftest.sh          # `make checks-selftest` (part of `make test`)
#   SELFTEST_ONLY="k8s-schemas zizmor" ...   # only the defects planted for these checks
#
# For every check of scripts/charts-check.sh and scripts/infra-check.sh this copies the tree
# (tracked and untracked, not ignored files) to a temporary directory, plants one known defect
# aimed at that check (a bad field, a failing rule, a broken PromQL expression, an unpinned
# action, a formatting error, ...), runs the script with CHECKS_ONLY=<check> and asserts that
#   - the check reports FAIL,
#   - its log names the defect (a marker string: it failed for the planted reason), and
#   - no other step failed (the steps it reads, e.g. the render before k8s-schemas, still pass).
# Checks whose function runs two tools (checkov, trivy, dashboards) get one defect per tool, so
# a hidden first command would show up here. A pristine copy must pass every check first, or
# the defects would prove nothing.
#
# The copies reuse this tree's installed tools (.tools/*, charts/ci/validate/node_modules) through
# symlinks; a first run installs them through the scripts themselves. Output: one line per defect
# and `checks-selftest: N passed, M failed`; exit 1 if any defect went unnoticed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

now() { date +%s.%N; }
elapsed() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1fs", e - s }'; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/jobfleet-checks-selftest.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
T0="$(now)"

# ---------------------------------------------------------------------------
# Tools (installed into this tree once, shared by every copy)
# ---------------------------------------------------------------------------
CHECKS_ONLY=none bash scripts/charts-check.sh >"$WORK/install-charts.log" 2>&1 ||
  { cat "$WORK/install-charts.log"; echo "checks-selftest: charts-check tools failed to install" >&2; exit 1; }
CHECKS_ONLY=none bash scripts/infra-check.sh >"$WORK/install-infra.log" 2>&1 ||
  { cat "$WORK/install-infra.log"; echo "checks-selftest: infra-check tools failed to install" >&2; exit 1; }

BASE="$WORK/base"
mkdir -p "$BASE"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [[ -e "$f" ]] && printf '%s\0' "$f"; done |
  tar --null -T - -cf - | tar -xf - -C "$BASE"

# fresh_copy DIR: a copy of the pristine tree whose tools are links to this tree's.
fresh_copy() {
  local dir="$1" d
  cp -a "$BASE" "$dir"
  mkdir -p "$dir/.tools/charts" "$dir/.tools/infra"
  for d in venv checkov-venv bin cache; do
    [[ -e "$ROOT/.tools/charts/$d" ]] && ln -s "$ROOT/.tools/charts/$d" "$dir/.tools/charts/$d"
  done
  for d in venv checkov-venv terraform-venv trivy-cache cache; do
    [[ -e "$ROOT/.tools/infra/$d" ]] && ln -s "$ROOT/.tools/infra/$d" "$dir/.tools/infra/$d"
  done
  ln -s "$ROOT/charts/ci/validate/node_modules" "$dir/charts/ci/validate/node_modules"
}

# edit FILE PYTHON: run PYTHON with `s` = the file's text, write `s` back (as a new file: the
# copies share nothing with this tree, but a rewrite in place is never needed).
edit() {
  local file="$1" code="$2"
  python3 - "$file" "$code" <<'PY'
import json, pathlib, re, sys
path, code = pathlib.Path(sys.argv[1]), sys.argv[2]
env = {"s": path.read_text(), "re": re, "json": json}
old = env["s"]
exec(code, env)
new = env["s"]
if new == old:
    sys.exit(f"checks-selftest: planting the defect changed nothing in {path}")
path.unlink()
path.write_text(new)
PY
}

# ---------------------------------------------------------------------------
# The defects: script, check, marker (a string the check's log must contain), and the plant.
# ---------------------------------------------------------------------------
plant_helm_lint() { printf 'unknownKeySelftest: 1\n' >>charts/platform/ci/default-values.yaml; }
plant_helm_template() { edit charts/worker/ci/media-values.yaml 's = s.replace("  concurrency: 4\n", "  concurrency: 4\n  logFormat: pretty\n", 1)'; }
plant_negative() { printf '# expect: anything at all\npool: media\n' >charts/ci/negative/worker/zz-selftest-renders.yaml; }
plant_argocd() { edit deploy/environments/prod/media.yaml 's = re.sub(r"\n  tag: \"[^\"]*\"", "", s, count=1)'; }
plant_k8s_schemas() {
  cat >charts/worker/templates/zz-selftest.yaml <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: selftest
  namespace: {{ .Release.Namespace }}
spec:
  replicas: "not-a-number"
  selector:
    matchLabels: {app: selftest}
  template:
    metadata:
      labels: {app: selftest}
    spec:
      containers:
        - name: c
          image: example/selftest:1
YAML
}
plant_crd_models() { edit charts/worker/templates/scaledobject.yaml 's = s.replace("  pollingInterval:", "  pollingIntervalSelftest:", 1)'; }
plant_checkov() { printf 'automountServiceAccountToken: true\n' >>charts/worker/ci/media-values.yaml; }
plant_rules_contract() { rm docs/runbooks/JobfleetSQSRequestErrors.md; }
plant_promtool_check() { edit charts/observability/rules/jobfleet.rules.yaml 's = s.replace("rate(jobfleet_jobs_total{outcome=~\"failed|dead|timeout\"}[10m]))", "rate(jobfleet_jobs_total{outcome=~\"failed|dead|timeout\"}[10m])", 1)'; }
plant_promtool_test() {
  edit charts/observability/rules/jobfleet.rules.yaml \
    's = s[:s.index("alert: JobfleetWorkerNotReady")] + s[s.index("alert: JobfleetWorkerNotReady"):].replace("severity: warning", "severity: critical", 1)'
}
plant_dashboards_lint() {
  edit charts/observability/dashboards/fleet-overview.json \
    'd = json.loads(s); t = next(t for p in d["panels"] for t in p.get("targets", []) if "jobfleet_jobs_total" in t["expr"]); t["expr"] = t["expr"].replace("jobfleet_jobs_total", "jobfleet_jobs_totl"); s = json.dumps(d, indent=2) + "\n"'
}
plant_dashboards_promql() {
  edit charts/observability/dashboards/fleet-overview.json \
    'd = json.loads(s); t = next(t for p in d["panels"] for t in p.get("targets", [])); t["expr"] += ")"; s = json.dumps(d, indent=2) + "\n"'
}
plant_readme() { edit charts/platform/values.yaml 's = s.replace("# -- EKS cluster name", "# -- The EKS cluster name", 1)'; }

plant_terraform_fmt() { printf 'locals {\n  selftest_misformatted   =    1\n}\n' >>infra/terraform/modules/sqs/main.tf; }
plant_checkov_gha() { edit .github/workflows/fuzz.yml 's = s.replace("  workflow_dispatch:\n", "  workflow_dispatch:\n    inputs:\n      seconds:\n        description: Seconds per target\n        default: \"1200\"\n", 1)'; }
plant_checkov_dockerfile() { edit Dockerfile 's = s.replace("USER 65532:65532\n", "", 1)'; }
plant_trivy_infra() {
  cat >infra/terraform/modules/sqs/zz_selftest.tf <<'HCL'
resource "aws_security_group_rule" "selftest" {
  description       = "checks-selftest: SSH from anywhere"
  type              = "ingress"
  from_port         = 22
  to_port           = 22
  protocol          = "tcp"
  cidr_blocks       = ["0.0.0.0/0"]
  security_group_id = "sg-00000000000000000"
}
HCL
}
plant_trivy_dockerfile() { edit Dockerfile 's = s.replace("USER 65532:65532\n", "USER root\n", 1)'; }
plant_pytest() { edit infra/terraform/environments/prod/terraform.tfvars 's = re.sub(r"rds_multi_az(\s*)= true", r"rds_multi_az\1= false", s, count=1)'; }
plant_actionlint() { edit .github/workflows/fuzz.yml 's = s.replace("timeout-minutes: 120", "timeout-minutes: soon", 1)'; }
plant_zizmor() { edit .github/workflows/fuzz.yml 's = re.sub(r"actions/checkout@[0-9a-f]{40}", "actions/checkout@v4", s, count=1)'; }
plant_hadolint() { edit Dockerfile 's = s.replace("WORKDIR /src\n", "WORKDIR /src\nRUN cd /src && true\n", 1)'; }

# name            script  check           marker (~ is a space)                  plant
DEFECTS=(
  "helm-lint        charts helm-lint      unknownKeySelftest                     plant_helm_lint"
  "helm-template    charts helm-template  charts~must~log~json                   plant_helm_template"
  "negative         charts negative       rendered,~but~must~fail                plant_negative"
  "argocd           charts argocd         must~pin~image.tag                     plant_argocd"
  "k8s-schemas      charts k8s-schemas    replicas                               plant_k8s_schemas"
  "crd-models       charts crd-models     pollingIntervalSelftest                plant_crd_models"
  "checkov          charts checkov        CKV_K8S_38                             plant_checkov"
  "rules-contract   charts rules-contract JobfleetSQSRequestErrors.md~is~missing plant_rules_contract"
  "promtool-check   charts promtool-check parse                                  plant_promtool_check"
  "promtool-test    charts promtool-test  JobfleetWorkerNotReady                 plant_promtool_test"
  "dashboards-lint  charts dashboards     unknown~metric~jobfleet_jobs_totl      plant_dashboards_lint"
  "dashboards-promql charts dashboards    could~not~parse                        plant_dashboards_promql"
  "readme           charts readme         values~table~is~stale                  plant_readme"
  "terraform-fmt    infra  terraform-fmt  selftest_misformatted                  plant_terraform_fmt"
  "checkov-gha      infra  checkov        CKV_GHA_7                              plant_checkov_gha"
  "checkov-docker   infra  checkov        CKV_DOCKER_3                           plant_checkov_dockerfile"
  "trivy-infra      infra  trivy          0.0.0.0/0                              plant_trivy_infra"
  "trivy-docker     infra  trivy          root                                   plant_trivy_dockerfile"
  "pytest           infra  pytest         test_prod_database_is_multi_az         plant_pytest"
  "actionlint       infra  actionlint     timeout-minutes                        plant_actionlint"
  "zizmor           infra  zizmor         unpinned                               plant_zizmor"
  "hadolint         infra  hadolint       DL3003                                 plant_hadolint"
)

CHARTS_CHECKS="helm-lint helm-template negative argocd k8s-schemas crd-models checkov rules-contract promtool-check promtool-test dashboards readme"
INFRA_CHECKS="terraform-fmt checkov trivy pytest actionlint zizmor hadolint"

PASSED=0
FAILED=()

# The control: a pristine copy passes every check of both scripts.
t="$(now)"
fresh_copy "$WORK/pristine"
if (cd "$WORK/pristine" && bash scripts/charts-check.sh && bash scripts/infra-check.sh) >"$WORK/pristine.log" 2>&1; then
  printf '%-18s %-5s %s\n' pristine ok "$(elapsed "$t")  both scripts pass on the unmodified copy"
else
  printf '%-18s %-5s %s\n' pristine FAIL "$(elapsed "$t")  the unmodified copy does not pass; no defect can be judged"
  sed 's/^/    /' "$WORK/pristine.log" | tail -n 40
  echo "checks-selftest: 0 passed, 1 failed"
  exit 1
fi

for spec in "${DEFECTS[@]}"; do
  read -r name script check marker plant <<<"$spec"
  marker="${marker//\~/ }"
  [[ -z "${SELFTEST_ONLY:-}" || " $SELFTEST_ONLY " == *" $check "* || " $SELFTEST_ONLY " == *" $name "* ]] || continue
  t="$(now)"
  dir="$WORK/$name"
  fresh_copy "$dir"
  (cd "$dir" && "$plant")
  out="$WORK/$name.out"
  rc=0
  (cd "$dir" && CHECKS_ONLY="$check" bash "scripts/$script-check.sh") >"$out" 2>&1 || rc=$?
  log="$dir/.tools/$script/logs/$check.log"
  problems=()
  ((rc != 0)) || problems+=("the script exited 0")
  grep -Eq "^$check +FAIL" "$out" || problems+=("$check did not report FAIL")
  others="$(grep -E '^[a-z0-9-]+( \(prep\))? +FAIL' "$out" | grep -v "^infra-check " | grep -Ev "^$check +FAIL" || true)"
  [[ -z "$others" ]] || problems+=("other steps failed too: ${others//$'\n'/; }")
  grep -Fq -- "$marker" "$log" 2>/dev/null || problems+=("its log does not mention '$marker'")
  if ((${#problems[@]} == 0)); then
    printf '%-18s %-5s %s\n' "$name" ok "$(elapsed "$t")  $script-check $check fails on its planted defect"
    PASSED=$((PASSED + 1))
  else
    printf '%-18s %-5s %s\n' "$name" FAIL "$(elapsed "$t")  $script-check $check: ${problems[*]}"
    sed 's/^/    /' "$out" | tail -n 25
    FAILED+=("$name")
  fi
  rm -rf "$dir"
done

# Every check of both scripts has at least one defect (a new check needs one here).
if [[ -z "${SELFTEST_ONLY:-}" ]]; then
  for pair in $(for c in $CHARTS_CHECKS; do echo "charts:$c"; done; for c in $INFRA_CHECKS; do echo "infra:$c"; done); do
    covered=0
    for spec in "${DEFECTS[@]}"; do
      read -r _ script check _ _ <<<"$spec"
      [[ "$script:$check" == "$pair" ]] && covered=1
    done
    if ((covered == 0)); then
      printf '%-18s %-5s %s\n' "${pair#*:}" FAIL "no planted defect for ${pair%%:*}-check ${pair#*:}"
      FAILED+=("${pair}")
    fi
  done
  for pair in charts:"$CHARTS_CHECKS" infra:"$INFRA_CHECKS"; do
    listed="$(grep -Eo '^run(_check)? [a-z0-9-]+' "scripts/${pair%%:*}-check.sh" | awk '{ print $2 }' | tr '\n' ' ')"
    if [[ "${listed% }" != "${pair#*:}" ]]; then
      printf '%-18s %-5s %s\n' "${pair%%:*}" FAIL "scripts/${pair%%:*}-check.sh runs '${listed% }', this self-test knows '${pair#*:}'"
      FAILED+=("${pair%%:*}-list")
    fi
  done
fi

echo "checks-selftest: $PASSED passed, ${#FAILED[@]} failed in $(elapsed "$T0")${FAILED[*]:+ (${FAILED[*]})}"
((${#FAILED[@]} == 0))
