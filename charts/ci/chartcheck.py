#!/usr/bin/env python3
"""Offline checks of charts/, deploy/argocd and deploy/environments (driven by scripts/charts-check.sh).

    chartcheck.py lint        helm lint --strict of every chart with each ci/*-values.yaml
    chartcheck.py render      helm template of the same; splits the output for the validators
    chartcheck.py negative    charts/ci/negative/<chart>/*.yaml must FAIL to render with the expected error
    chartcheck.py argocd      expands deploy/argocd/applicationset.yaml like Argo CD and renders every
                              generated Application (deploy/environments/<env>/<pool>.yaml + parameters,
                              $ARGOCD_APP_REVISION simulated; dev/staging/prod image delivery rules);
                              expands deploy/argocd/addons.yaml (pins, project, this repository's charts rendered)
    chartcheck.py rules       consistency of rules/, tests/ and docs/runbooks; PrometheusRule == rules file
    chartcheck.py dashboards  dashboard structure, metric/label names against the metrics contract, and a
                              promtool rules file of every PromQL expression (checked by the caller)
    chartcheck.py readme      each chart README's values table matches values.yaml `# --` comments
                              (`readme --write` regenerates the tables)

Everything goes to $CHARTS_OUT (default .tools/charts/out):
    manifests/<chart>__<case>.yaml   every rendered document (for checkov)
    core/<chart>__<case>.yaml        built-in kinds only (for kubernetes-validate)
    crds-<step>.json                 custom resources (for ci/validate/validate-crds.mjs)
    rules/<case>.rules.yaml          spec.groups of each rendered PrometheusRule (for promtool check rules)
    dashboards.rules.yaml            dashboard expressions as recording rules (for promtool check rules)
Each subcommand prints failures, then one summary line; exit status 1 on any failure.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import helm  # noqa: E402  (charts/ci/helm.py)

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "charts"
OUT = Path(os.environ.get("CHARTS_OUT", ROOT / ".tools" / "charts" / "out"))
KUBE_VERSION = os.environ.get("KUBE_VERSION", "1.35.0")
NAMESPACE = "jobfleet"
CRD_GROUPS = {"keda.sh", "karpenter.sh", "karpenter.k8s.aws", "monitoring.coreos.com",
              "external-secrets.io", "argoproj.io"}

# The worker's metrics contract (docs/observability.md): name -> (type, labels, enum label values).
SCRAPE_LABELS = {"namespace", "pod", "job", "instance", "container", "endpoint", "service"}
OUTCOMES = {"success", "retry", "failed", "dead", "timeout", "duplicate"}
METRICS: dict[str, tuple[str, set[str]]] = {
    "jobfleet_jobs_total": ("counter", {"pool", "job_type", "outcome"}),
    "jobfleet_job_retries_total": ("counter", {"pool", "job_type", "kind"}),
    "jobfleet_job_duration_seconds": ("histogram", {"pool", "job_type", "outcome"}),
    "jobfleet_job_queue_wait_seconds": ("histogram", {"pool", "job_type"}),
    "jobfleet_jobs_in_flight": ("gauge", {"pool"}),
    "jobfleet_pool_concurrency": ("gauge", {"pool"}),
    "jobfleet_queue_messages": ("gauge", {"pool", "queue", "state"}),
    "jobfleet_queue_oldest_message_age_seconds": ("gauge", {"pool"}),
    "jobfleet_queue_backlog_seconds": ("gauge", {"pool"}),
    "jobfleet_sqs_requests_total": ("counter", {"operation", "result"}),
    "jobfleet_worker_ready": ("gauge", {"pool"}),
    # worker control (charts/fleet; CONTRACTS.md "The fleet service"), every configured pool, also at zero pods
    "jobfleet_queue_visible_duration_seconds": ("gauge", {"pool"}),
    "jobfleet_pool_idle_seconds": ("gauge", {"pool"}),
    "jobfleet_pool_desired_replicas": ("gauge", {"pool"}),
}
LABEL_VALUES = {
    "outcome": OUTCOMES,
    "kind": {"retryable", "retry_after", "timeout", "panic"},
    "queue": {"main", "dlq"},
    "state": {"visible", "in_flight", "delayed"},
    "result": {"ok", "error"},
    "pool": {"media", "notifications", "ai"},
}


# ---------------------------------------------------------------------------- helpers
class Report:
    def __init__(self, name: str) -> None:
        self.name, self.ok, self.failures = name, 0, []

    def fail(self, what: str, why: str) -> None:
        self.failures.append(what)
        print(f"  FAIL {what}: {why}")

    def passed(self) -> None:
        self.ok += 1

    def done(self, extra: str = "") -> int:
        print(f"{self.name}: {self.ok} passed, {len(self.failures)} failed{(' — ' + extra) if extra else ''}")
        return 1 if self.failures else 0


def charts() -> list[Path]:
    return sorted(p.parent for p in CHARTS.glob("*/Chart.yaml"))


def ci_cases(chart: Path) -> list[Path]:
    return sorted((chart / "ci").glob("*-values.yaml"))


def docs_of(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def is_crd_object(doc: dict[str, Any]) -> bool:
    return doc.get("apiVersion", "").split("/")[0] in CRD_GROUPS


def write_outputs(case: str, text: str, crds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Store one rendered case; returns its documents."""
    docs = docs_of(text)
    for sub in ("manifests", "core", "rules"):
        (OUT / sub).mkdir(parents=True, exist_ok=True)
    (OUT / "manifests" / f"{case}.yaml").write_text(text)
    core = [d for d in docs if not is_crd_object(d)]
    if core:
        (OUT / "core" / f"{case}.yaml").write_text(yaml.safe_dump_all(core, sort_keys=False))
    for d in docs:
        if is_crd_object(d):
            crds.append({"source": case, "object": d})
        if d.get("kind") == "PrometheusRule":
            name = d["metadata"]["name"]
            (OUT / "rules" / f"{case}__{name}.rules.yaml").write_text(
                yaml.safe_dump({"groups": d["spec"]["groups"]}, sort_keys=False))
    return docs


def reset(*subdirs: str) -> None:
    for sub in subdirs:
        shutil.rmtree(OUT / sub, ignore_errors=True)


# ---------------------------------------------------------------------------- lint / render
def cmd_lint() -> int:
    rep = Report("helm-lint")
    for chart in charts():
        cases = ci_cases(chart)
        if not cases:
            rep.fail(chart.name, "no ci/*-values.yaml")
        for case in cases:
            label = f"{chart.name} -f {case.relative_to(chart)}"
            try:
                findings = helm.lint(chart, helm.load_values([case]), strict=True,
                                     kube_version=f"v{KUBE_VERSION}", namespace=NAMESPACE)
            except helm.helm.HelmError as exc:
                findings = [str(exc)]
            if findings:
                rep.fail(label, "; ".join(findings))
            else:
                rep.passed()
    return rep.done("--strict, kube " + KUBE_VERSION)


def cmd_render() -> int:
    rep = Report("helm-template")
    reset("manifests", "core", "rules")
    crds: list[dict[str, Any]] = []
    count = 0
    for chart in charts():
        for case in ci_cases(chart):
            name = f"{chart.name}__{case.name.removesuffix('-values.yaml')}"
            try:
                text = helm.template(release_name(chart, case), chart, helm.load_values([case]), NAMESPACE)
            except helm.helm.HelmError as exc:
                rep.fail(name, str(exc))
                continue
            docs = write_outputs(name, text, crds)
            problems = sanity(chart.name, docs)
            for p in problems:
                rep.fail(name, p)
            if not problems:
                rep.passed()
            count += len(docs)
    (OUT / "crds-render.json").write_text(json.dumps(crds))
    # PromQL of KEDA prometheus triggers: contract-linted here, parsed by promtool (promtool-check).
    queries = []
    for item in crds:
        obj = item["object"]
        for i, trig in enumerate(obj.get("spec", {}).get("triggers", []) if obj["kind"] == "ScaledObject" else []):
            if trig["type"] == "prometheus":
                q = trig["metadata"]["query"]
                for p in lint_promql(q, set()):
                    rep.fail(item["source"], f"KEDA query: {p}")
                queries.append({"record": f"keda:{item['source'].replace('-', '_')}:trigger{i}", "expr": q})
    if queries:
        (OUT / "rules" / "keda__trigger-queries.rules.yaml").write_text(
            yaml.safe_dump({"groups": [{"name": "keda-trigger-queries", "rules": queries}]}, sort_keys=False))
    return rep.done(f"{count} objects, {len(queries)} KEDA PromQL queries")


def release_name(chart: Path, case: Path) -> str:
    if chart.name == "worker":
        pool = (yaml.safe_load(case.read_text()) or {}).get("pool", "media")
        return f"jobfleet-{pool}"
    return f"jobfleet-{chart.name}"


def sanity(chart: str, docs: list[dict[str, Any]]) -> list[str]:
    """Contract assertions on a rendered case that no schema can make."""
    out = []
    names = [(d["kind"], d["metadata"].get("name"), d["metadata"].get("namespace")) for d in docs]
    if len(set(names)) != len(names):
        out.append("duplicate objects")
    for d in docs:
        cluster_scoped = d["kind"] in {"NodePool", "EC2NodeClass", "PriorityClass", "ClusterSecretStore", "StorageClass"}
        if not cluster_scoped and d["metadata"].get("namespace") != NAMESPACE:
            out.append(f"{d['kind']}/{d['metadata']['name']} is not in namespace {NAMESPACE}")
    if chart != "worker":
        return out
    dep = next(d for d in docs if d["kind"] == "Deployment")
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    pool = c["args"][-1]
    if c.get("command") != ["worker"] or c["args"][:2] != ["run", "--pool"]:
        out.append("container must run `worker run --pool <pool>`")
    cm = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == f"jobfleet-{pool}")
    env = dict(cm["data"])
    env.update({e["name"]: e.get("value", "<secret>") for e in c.get("env", [])})
    required = {"JOBFLEET_POOL", "JOBFLEET_ENV", "JOBFLEET_CONCURRENCY", "JOBFLEET_DRAIN_TIMEOUT_SECS",
                "JOBFLEET_JOB_TIMEOUT_SECS", "JOBFLEET_RECEIVE_WAIT_TIME_SECS", "JOBFLEET_MIGRATE_ON_START",
                "JOBFLEET_VISIBILITY_TIMEOUT_SECS", "JOBFLEET_ADMIN_ADDR", "JOBFLEET_LOG_FORMAT",
                "JOBFLEET_DIAG_ENABLED", "JOBFLEET_DATABASE_URL", "AWS_REGION"}
    if missing := required - env.keys():
        out.append(f"missing env {sorted(missing)}")
    if env.get("JOBFLEET_POOL") != pool or env.get("JOBFLEET_ADMIN_ADDR") != "0.0.0.0:9090":
        out.append("JOBFLEET_POOL/JOBFLEET_ADMIN_ADDR do not match the contract")
    if env.get("JOBFLEET_LOG_FORMAT") != "json" or env.get("JOBFLEET_DIAG_ENABLED") != "false":
        out.append("charts must log json and keep diag off")
    if int(pod["terminationGracePeriodSeconds"]) <= int(env["JOBFLEET_DRAIN_TIMEOUT_SECS"]):
        out.append("terminationGracePeriodSeconds <= drain timeout")
    sc, psc = c["securityContext"], pod["securityContext"]
    if not (psc.get("runAsNonRoot") and psc.get("runAsUser") == 65532 and sc.get("readOnlyRootFilesystem")
            and sc.get("allowPrivilegeEscalation") is False and sc["capabilities"]["drop"] == ["ALL"]
            and psc["seccompProfile"]["type"] == "RuntimeDefault"):
        out.append("securityContext does not meet the baseline")
    probes = {k: c[k]["httpGet"]["path"] for k in ("livenessProbe", "readinessProbe")}
    if probes != {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}:
        out.append(f"probes {probes}")
    sa = next(d for d in docs if d["kind"] == "ServiceAccount")
    if sa["metadata"]["name"] != f"jobfleet-{pool}" or pod["serviceAccountName"] != sa["metadata"]["name"] \
            or not sa["metadata"]["annotations"].get("eks.amazonaws.com/role-arn", "").startswith("arn:aws"):
        out.append("ServiceAccount jobfleet-<pool> with IRSA role-arn expected")
    if env.get("JOBFLEET_MIGRATE_ON_START") != "false":
        out.append("pods must run with JOBFLEET_MIGRATE_ON_START=false (migrations are the release's Job)")
    jobs = [d for d in docs if d["kind"] == "Job"]
    if env.get("JOBFLEET_DATABASE_URL") and not any(
            "PreSync" in (j["metadata"].get("annotations") or {}).get("argocd.argoproj.io/hook", "")
            and "pre-upgrade" in (j["metadata"].get("annotations") or {}).get("helm.sh/hook", "")
            and j["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"] for j in jobs):
        out.append("a `worker migrate` Job (Argo CD PreSync / Helm pre-install,pre-upgrade hook) is expected")
    for j in jobs:
        url = next((e for e in j["spec"]["template"]["spec"]["containers"][0].get("env", [])
                    if e["name"] == "JOBFLEET_DATABASE_URL"), {})
        if url.get("valueFrom", {}).get("secretKeyRef", {}).get("key") != "migrate-database-url":
            out.append("the migration Job must read JOBFLEET_DATABASE_URL from the key migrate-database-url (RDS, not PgBouncer)")
    # Workers never hold accelerators: the model server (charts/inference) does.
    for k in ("requests", "limits"):
        if any(r.endswith("gpu") or "neuron" in r for r in (c.get("resources", {}).get(k) or {})):
            out.append(f"worker pods must not request accelerators ({k})")
    if pod.get("nodeSelector", {}).get("jobfleet.io/pool") == "ai" or any(
            t.get("value") == "ai" for t in pod.get("tolerations", [])):
        out.append("worker pods must not land on the isolated GPU NodePool")
    if pool == "ai":
        base = env.get("JOBFLEET_INFERENCE__BASE_URL", "")
        if not base.startswith("http://jobfleet-inference.jobfleet.svc.cluster.local:"):
            out.append(f"ai: inference.base_url must point at the model server's Service, got {base!r}")
        host = base.split("//", 1)[-1].split(":", 1)[0]
        if host not in json.loads(env.get("JOBFLEET_INFERENCE__ALLOW_HOSTS", "[]")):
            out.append("ai: inference.allow_hosts must list the model server's host")
        nps = [d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == f"jobfleet-{pool}"]
        port = int(base.rsplit(":", 1)[-1].split("/", 1)[0]) if base.count(":") == 2 else None
        if not nps or not any(
                (r.get("to") or [{}])[0].get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name") == "jobfleet-inference"
                and [pp["port"] for pp in r.get("ports", [])] == [port] for r in nps[0]["spec"]["egress"]):
            out.append("ai: the NetworkPolicy must allow egress to the model server's pods on its port")
    kinds = {d["kind"] for d in docs}
    if "ScaledObject" in kinds and "HorizontalPodAutoscaler" in kinds:
        out.append("ScaledObject and HPA both rendered")
    if ("ScaledObject" in kinds or "HorizontalPodAutoscaler" in kinds) and "replicas" in dep["spec"]:
        out.append("Deployment sets replicas while an autoscaler owns them")
    return out


# ---------------------------------------------------------------------------- negative cases
def cmd_negative() -> int:
    rep = Report("negative")
    for case in sorted((CHARTS / "ci" / "negative").glob("*/*.yaml")):
        chart = CHARTS / case.parent.name
        first = case.read_text().splitlines()[0]
        m = re.match(r"#\s*expect:\s*(.+)$", first)
        if not m:
            rep.fail(str(case.relative_to(ROOT)), "first line must be `# expect: <error substring>`")
            continue
        expected = m.group(1).strip()
        try:
            helm.template("jobfleet-negative", chart, helm.load_values([case]), NAMESPACE)
        except helm.helm.HelmError as exc:
            if expected in str(exc):
                rep.passed()
            else:
                rep.fail(case.name, f"failed, but not with {expected!r}: {exc}")
            continue
        rep.fail(case.name, "rendered, but must fail")
    return rep.done("each must fail to render")


# ---------------------------------------------------------------------------- Argo CD
TPL_CHART = {"Chart.yaml": "apiVersion: v2\nname: appset-tpl\nversion: 0.0.0\n",
             "templates/out.yaml": "{{ tpl .Values.text .Values.params }}\n"}


def go_render(tpl_chart: Path, text: str, params: dict[str, Any]) -> str:
    """Evaluate an Argo CD goTemplate string with Helm's engine (same text/template + sprig)."""
    out = helm.load_chart(tpl_chart).render({"text": text, "params": params}, name="t", namespace="t")
    return out["appset-tpl/templates/out.yaml"]


# Argo CD substitutes its build environment into Helm parameters (docs: user-guide/build-environment).
FAKE_REVISION = "0123456789abcdef0123456789abcdef01234567"
RELEASE_TAG = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$")
DEV_REVISION = "deploy/dev"


def build_env(value: str, app: dict[str, Any]) -> str:
    env = {"ARGOCD_APP_REVISION": FAKE_REVISION, "ARGOCD_APP_REVISION_SHORT": FAKE_REVISION[:7],
           "ARGOCD_APP_NAME": app["metadata"]["name"],
           "ARGOCD_APP_NAMESPACE": app["spec"]["destination"]["namespace"]}

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in env:
            raise KeyError(f"unknown build environment variable ${name}")
        return env[name]
    return re.sub(r"(?<!\$)\$\{(\w+)\}|(?<!\$)\$(\w+)", repl, value)


def delivery_problems(env: str, source: dict[str, Any], file_values: dict[str, Any],
                      values: dict[str, Any], params: frozenset[str] = frozenset({"pool", "environment", "image.repository"})) -> list[str]:
    """dev: deploy/dev + the image of the rendered commit; staging/prod: main + a pinned release tag."""
    problems = []
    names = [p["name"] for p in source["helm"].get("parameters", [])]
    if not params <= set(names):
        problems.append(f"parameters {names} must set {', '.join(sorted(params))}")
    tag = (values.get("image") or {}).get("tag", "")
    if env == "dev":
        if source.get("targetRevision") != DEV_REVISION:
            problems.append(f"dev must follow {DEV_REVISION} (moved by docker-build-push.yml after the image push)")
        if "tag" in (file_values.get("image") or {}):
            problems.append("dev values must not pin image.tag (it is sha-<revision>)")
        if tag != f"sha-{FAKE_REVISION}":
            problems.append(f"dev image tag {tag!r} is not sha-$ARGOCD_APP_REVISION")
    else:
        if source.get("targetRevision") != "main":
            problems.append(f"{env} must follow main")
        if not RELEASE_TAG.match(str((file_values.get("image") or {}).get("tag", ""))):
            problems.append(f"{env} values must pin image.tag to a release version (ECR holds only those there)")
    return problems


def expand_appset(appset: dict[str, Any], clusters: list[dict[str, Any]]) -> list[tuple[str, dict, dict]]:
    """Expand a matrix(clusters x list) ApplicationSet the way Argo CD does: (env, element, Application)."""
    spec = appset["spec"]
    matrix = spec["generators"][0]["matrix"]["generators"]
    selector = matrix[0]["clusters"]["selector"]["matchExpressions"][0]
    elements = matrix[1]["list"]["elements"]
    apps = []
    with tempfile.TemporaryDirectory() as tmp:
        tpl_chart = Path(tmp)
        for rel, text in TPL_CHART.items():
            (tpl_chart / rel).parent.mkdir(parents=True, exist_ok=True)
            (tpl_chart / rel).write_text(text)
        for secret in clusters:
            labels = secret["metadata"].get("labels", {})
            if labels.get(selector["key"]) not in selector["values"]:
                continue
            for element in elements:
                params = {"name": secret["stringData"]["name"], "server": secret["stringData"]["server"],
                          "metadata": {"labels": labels, "annotations": secret["metadata"].get("annotations", {})},
                          **element}
                app = yaml.safe_load(go_render(tpl_chart, yaml.safe_dump(spec["template"], sort_keys=False), params))
                patch = yaml.safe_load(go_render(tpl_chart, spec.get("templatePatch", ""), params) or "{}") or {}
                app = helm.deep_merge(app, patch)
                app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **app}
                app["metadata"].setdefault("namespace", appset["metadata"]["namespace"])
                apps.append((labels["jobfleet.io/environment"], element, app))
    return apps


def cmd_argocd() -> int:
    rep = Report("argocd")
    reset("argocd")
    crds: list[dict[str, Any]] = []
    appset_file = ROOT / "deploy/argocd/applicationset.yaml"
    appset = yaml.safe_load(appset_file.read_text())
    crds.append({"source": "deploy/argocd/applicationset.yaml", "object": appset})
    for extra in sorted((ROOT / "deploy/argocd").glob("*.yaml")):
        if extra.name in ("applicationset.yaml", "services.yaml") or extra.name.endswith(".example.yaml"):
            continue
        for d in docs_of(extra.read_text()):
            crds.append({"source": str(extra.relative_to(ROOT)), "object": d})
    clusters = [d for d in docs_of((ROOT / "deploy/argocd/cluster-secrets.example.yaml").read_text())]
    (OUT / "core").mkdir(parents=True, exist_ok=True)
    (OUT / "core" / "argocd__cluster-secrets.yaml").write_text(yaml.safe_dump_all(clusters, sort_keys=False))

    spec = appset["spec"]
    if not spec.get("goTemplate"):
        rep.fail("applicationset", "goTemplate must be on")
    apps = [(env, el["pool"], app) for env, el, app in expand_appset(appset, clusters)]
    expected = {(e, p) for e in ("dev", "staging", "prod") for p in ("media", "notifications", "ai")}
    got = {(e, p) for e, p, _ in apps}
    if got != expected:
        rep.fail("applicationset", f"generates {sorted(got)}, expected every env x pool")
    for env, pool, app in apps:
        name = app["metadata"]["name"]
        crds.append({"source": f"applicationset -> {name}", "object": app})
        problems = []
        if name != f"jobfleet-{env}-{pool}":
            problems.append(f"name {name}")
        auto = app["spec"].get("syncPolicy", {}).get("automated")
        if env == "prod" and auto is not None:
            problems.append("prod must not sync automatically")
        if env != "prod" and not (auto and auto.get("prune") and auto.get("selfHeal")):
            problems.append("dev/staging need automated sync with prune + selfHeal")
        source = app["spec"]["source"]
        chart_dir = (ROOT / source["path"]).resolve()
        value_files = [(chart_dir / f).resolve() for f in source["helm"]["valueFiles"]]
        for f in value_files:
            if not f.is_file() or ROOT not in f.parents:
                problems.append(f"value file {f} missing or outside the repository")
        try:
            sets = [f"{p['name']}={build_env(p['value'], app)}" for p in source["helm"].get("parameters", [])]
        except KeyError as exc:
            problems.append(str(exc))
        if problems:
            for p in problems:
                rep.fail(name, p)
            continue
        values = helm.load_values(value_files, sets)
        file_values = helm.load_values(value_files)
        if delivery := delivery_problems(env, source, file_values, values):
            for p in delivery:
                rep.fail(name, p)
            continue
        if file_values.get("pool") != pool or file_values.get("environment") != env:
            rep.fail(name, f"{value_files[0].relative_to(ROOT)} says pool={file_values.get('pool')} "
                           f"environment={file_values.get('environment')}")
            continue
        try:
            text = helm.template(source["helm"]["releaseName"], chart_dir, values, app["spec"]["destination"]["namespace"])
        except helm.helm.HelmError as exc:
            rep.fail(name, str(exc))
            continue
        docs = write_outputs(f"argocd__{name}", text, crds)
        RENDERED[name] = docs
        problems = sanity("worker", docs)
        for p in problems:
            rep.fail(name, p)
        if not problems:
            rep.passed()
    addon_apps = check_addons(rep, clusters, crds)
    service_apps = check_services(rep, clusters, crds)
    for env in ("dev", "staging", "prod"):
        problems = ai_path_problems(env) + platform_problems(env)
        for p in problems:
            rep.fail(f"{env} ai path", p)
        if not problems:
            rep.passed()
    (OUT / "crds-argocd.json").write_text(json.dumps(crds))
    return rep.done(f"{len(apps)} worker Applications rendered from deploy/environments, "
                    f"{addon_apps} add-on Applications, {service_apps} service Applications; ai path per env")


EXACT_VERSION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")
RENDERED: dict[str, list[dict[str, Any]]] = {}      # Application name -> rendered documents
ADDON_VALUES: dict[str, dict[str, Any]] = {}        # upstream add-on Application name -> valuesObject

SERVICES = ("pgbouncer", "inference", "fleet")


def check_services(rep: Report, clusters: list[dict[str, Any]], crds: list[dict[str, Any]]) -> int:
    """deploy/argocd/services.yaml: every env x service, rendered from this repository's charts with
    deploy/environments/<env>/<service>.yaml, in namespace jobfleet, project jobfleet."""
    appset = yaml.safe_load((ROOT / "deploy/argocd/services.yaml").read_text())
    crds.append({"source": "deploy/argocd/services.yaml", "object": appset})
    project = next(d for d in docs_of((ROOT / "deploy/argocd/project.yaml").read_text())
                   if d["metadata"]["name"] == "jobfleet")
    allowed = {(k["group"], k["kind"]) for k in project["spec"]["namespaceResourceWhitelist"]}
    expanded = expand_appset(appset, clusters)
    got = {(env, el["service"]) for env, el, _ in expanded}
    if got != {(e, svc) for e in ("dev", "staging", "prod") for svc in SERVICES}:
        rep.fail("services.yaml", f"generates {sorted(got)}, expected every env x {SERVICES}")
    for env, el, app in expanded:
        name = app["metadata"]["name"]
        crds.append({"source": f"services -> {name}", "object": app})
        problems = []
        spec, source = app["spec"], app["spec"]["source"]
        if name != f"jobfleet-{env}-{el['service']}" or spec["project"] != "jobfleet":
            problems.append(f"name {name} / project {spec['project']}")
        auto = (spec.get("syncPolicy") or {}).get("automated")
        if (env == "prod") == (auto is not None):
            problems.append("automated sync everywhere except prod")
        chart_dir = (ROOT / source["path"]).resolve()
        files = [(chart_dir / f).resolve() for f in source["helm"]["valueFiles"]]
        for f in files:
            if not f.is_file() or ROOT not in f.parents:
                problems.append(f"value file {f} missing or outside the repository")
        if not problems:
            sets = [f"{p['name']}={build_env(p['value'], app)}" for p in source["helm"].get("parameters", [])]
            values, file_values = helm.load_values(files, sets), helm.load_values(files)
            if file_values.get("environment") != env:
                problems.append(f"{files[0].relative_to(ROOT)} says environment={file_values.get('environment')}")
            if el["workerImage"] == "true":
                problems += delivery_problems(env, source, file_values, values,
                                              frozenset({"environment", "image.repository"}))
            try:
                text = helm.template(source["helm"]["releaseName"], chart_dir, values, "jobfleet")
            except helm.helm.HelmError as exc:
                problems.append(str(exc))
            else:
                RENDERED[name] = write_outputs(f"argocd__{name}", text, crds)
                for d in RENDERED[name]:
                    group = d["apiVersion"].split("/")[0] if "/" in d["apiVersion"] else ""
                    if d["metadata"].get("namespace") != "jobfleet":
                        problems.append(f"{d['kind']}/{d['metadata']['name']} not in jobfleet")
                    if (group, d["kind"]) not in allowed:
                        problems.append(f"{d['kind']} ({group or 'core'}) is not allowed by AppProject jobfleet")
        for p in problems:
            rep.fail(name, p)
        if not problems:
            rep.passed()
    return len(expanded)


# Labels Karpenter puts on the nodes of a NodePool beyond the template's (karpenter.sh well-known labels);
# instance families whose GPUs are NVIDIA's.
NVIDIA_FAMILIES = {"g4dn", "g5", "g5g", "g6", "g6e", "gr6", "p3", "p4d", "p4de", "p5", "p5e"}
# nvidia-device-plugin chart 0.18.0 default `affinity` (values.yaml): nodes labelled by NFD / GFD.
DEVICE_PLUGIN_DEFAULT_AFFINITY = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "feature.node.kubernetes.io/pci-10de.present", "operator": "In", "values": ["true"]}]},
    {"matchExpressions": [{"key": "feature.node.kubernetes.io/cpu-model.vendor_id", "operator": "In", "values": ["NVIDIA"]}]},
    {"matchExpressions": [{"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]}]}]}}}


def gpu_node(nodepool: dict[str, Any]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Labels and taints of an NVIDIA node that the NodePool launches."""
    tpl = nodepool["spec"]["template"]
    labels = dict(tpl["metadata"].get("labels", {}))
    labels["karpenter.sh/nodepool"] = nodepool["metadata"]["name"]
    families = []
    for r in tpl["spec"]["requirements"]:
        if r["operator"] == "In":
            labels.setdefault(r["key"], r["values"][0])
            if r["key"] == "karpenter.k8s.aws/instance-family":
                families = r["values"]
    nvidia = [f for f in families if f in NVIDIA_FAMILIES]
    if nvidia:
        labels["karpenter.k8s.aws/instance-family"] = nvidia[0]
        labels["karpenter.k8s.aws/instance-gpu-manufacturer"] = "nvidia"
    return labels, tpl["spec"].get("taints", [])


def schedulable(labels: dict[str, str], taints: list[dict[str, Any]], node_selector: dict[str, str],
                affinity: dict[str, Any], tolerations: list[dict[str, Any]]) -> list[str]:
    """Why a pod with these constraints cannot run on such a node (empty: it can)."""
    why = [f"nodeSelector {k}={v} not on the node" for k, v in node_selector.items() if labels.get(k) != v]

    def expr_ok(e: dict[str, Any]) -> bool:
        v = labels.get(e["key"])
        return {"In": v in e.get("values", []), "NotIn": v not in e.get("values", []), "Exists": v is not None,
                "DoesNotExist": v is None}.get(e["operator"], False)
    req = ((affinity or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    if req and not any(all(expr_ok(e) for e in t.get("matchExpressions", [])) for t in req["nodeSelectorTerms"]):
        why.append(f"required node affinity matches no label of the node ({sorted(labels)})")
    for t in taints:
        if not any(tol.get("key") == t["key"] and tol.get("effect", t["effect"]) == t["effect"] and (
                tol.get("operator") == "Exists" or tol.get("value") == t.get("value")) for tol in tolerations):
            why.append(f"taint {t['key']}={t.get('value')}:{t['effect']} not tolerated")
    return why


# Where each add-on's pods are placed in its chart's values (paths into valuesObject): they must live on the
# tainted, on-demand `system` node group with a priority above the worker pools'. Karpenter's chart places
# itself (nodeSelector karpenter.sh/controller, tolerates CriticalAddonsOnly, system-cluster-critical by
# default); the NVIDIA device plugin runs on the GPU nodes (ai_path_problems).
ADDON_PLACEMENT = {
    "keda": [()],
    "external-secrets": [(), ("webhook",), ("certController",)],
    "reloader": [("reloader", "deployment")],
    "kube-prometheus-stack": [("prometheus", "prometheusSpec"), ("alertmanager", "alertmanagerSpec"),
                              ("prometheusOperator",), ("grafana",), ("kube-state-metrics",)],
}
SYSTEM_TAINT = {"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"}


def platform_problems(env: str) -> list[str]:
    """Add-on placement and priority, Prometheus storage, Secret rotation, ClusterSecretStore scope and the
    PgBouncer client list of one environment, on the rendered Applications."""
    out = []
    system_node = {"jobfleet.io/role": "system", "karpenter.sh/controller": "true"}
    for addon, paths in ADDON_PLACEMENT.items():
        values = ADDON_VALUES.get(f"addon-{env}-{addon}", {})
        for path in paths:
            node = values
            for k in path:
                node = (node or {}).get(k) or {}
            where = f"{addon} {'.'.join(path) or '(top level)'}"
            for why in schedulable(system_node, [SYSTEM_TAINT], node.get("nodeSelector") or {}, node.get("affinity") or {},
                                   node.get("tolerations") or []):
                out.append(f"{where}: cannot run on the system node group: {why}")
            if node.get("nodeSelector", {}).get("jobfleet.io/role") != "system":
                out.append(f"{where}: must select the system node group (else it may land on spot general nodes)")
            if node.get("priorityClassName") not in ("system-cluster-critical", "system-node-critical"):
                out.append(f"{where}: needs a priority above the worker pools' (system-cluster-critical)")
    prom = ((ADDON_VALUES.get(f"addon-{env}-kube-prometheus-stack", {}).get("prometheus") or {}).get("prometheusSpec") or {})
    claim = ((prom.get("storageSpec") or {}).get("volumeClaimTemplate") or {}).get("spec") or {}
    platform = RENDERED.get(f"addon-{env}-platform", [])
    classes = {d["metadata"]["name"] for d in platform if d["kind"] == "StorageClass"}
    if claim.get("storageClassName") not in classes:
        out.append(f"Prometheus has no persistent volume of a StorageClass the platform chart creates ({sorted(classes)})")
    store = next((d for d in platform if d["kind"] == "ClusterSecretStore"), None)
    if store is None or store["spec"].get("conditions") != [{"namespaces": ["jobfleet"]}]:
        out.append("ClusterSecretStore must be restricted to the jobfleet namespace (spec.conditions)")
    # Every Deployment that reads a Secret restarts when it changes.
    for name, docs in RENDERED.items():
        if not name.startswith(f"jobfleet-{env}-"):
            continue
        for d in docs:
            if d["kind"] != "Deployment":
                continue
            pod = d["spec"]["template"]["spec"]
            secrets = {e["valueFrom"]["secretKeyRef"]["name"] for c in pod["containers"] for e in c.get("env", [])
                       if "secretKeyRef" in e.get("valueFrom", {})}
            reload = set(filter(None, (d["metadata"].get("annotations") or {}).get(
                "secret.reloader.stakater.com/reload", "").split(",")))
            if not secrets <= reload:
                out.append(f"{name}: Deployment {d['metadata']['name']} reads {sorted(secrets - reload)} but is not restarted when they change")
    # PgBouncer's client list is the pools' maxReplicas x dbMaxConnections (and worker control's).
    pgb = RENDERED.get(f"jobfleet-{env}-pgbouncer")
    if pgb:
        ini = next(d for d in pgb if d["kind"] == "ConfigMap")["data"]["pgbouncer.ini"]
        want = 0
        for pool in ("media", "notifications", "ai"):
            docs = RENDERED.get(f"jobfleet-{env}-{pool}", [])
            so = next((d for d in docs if d["kind"] == "ScaledObject"), None)
            cm = next((d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == f"jobfleet-{pool}"), None)
            if so and cm:
                want += so["spec"]["maxReplicaCount"] * int(cm["data"]["JOBFLEET_DB_MAX_CONNECTIONS"])
        fleet = RENDERED.get(f"jobfleet-{env}-fleet", [])
        dep = next((d for d in fleet if d["kind"] == "Deployment"), None)
        fcm = next((d for d in fleet if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "jobfleet-control"), None)
        if dep and fcm:
            want += dep["spec"]["replicas"] * int(fcm["data"]["JOBFLEET_DB_MAX_CONNECTIONS"])
        m = re.search(r"max_client_conn = (\d+)", ini)
        headroom = re.search(r"\+ headroom (\d+)", ini)
        got = int(m.group(1)) - int(headroom.group(1)) if m and headroom else None
        if got != want:
            out.append(f"pgbouncer max_client_conn covers {got} client connections; the pools and worker control "
                       f"can open {want} (maxReplicas x connections per pod): fix pools.clients in pgbouncer.yaml")
    return out


def ai_path_problems(env: str) -> list[str]:
    """The ai path of one environment, across the rendered Applications: ai workers -> model server
    Service -> server pods on the GPU NodePool, the NVIDIA device plugin on the same nodes."""
    out = []
    worker, server = RENDERED.get(f"jobfleet-{env}-ai"), RENDERED.get(f"jobfleet-{env}-inference")
    platform = RENDERED.get(f"addon-{env}-platform")
    if not (worker and server and platform):
        return [f"missing rendered Applications (ai worker {bool(worker)}, inference {bool(server)}, platform {bool(platform)})"]

    def one(docs, kind, name=None):
        return next(d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name))
    w_dep, s_dep = one(worker, "Deployment"), one(server, "Deployment")
    svc = one(server, "Service")
    nodepool = one(platform, "NodePool", "ai")
    s_pod = s_dep["spec"]["template"]["spec"]
    s_port = s_pod["containers"][0]["ports"][0]["containerPort"]
    env_vars = dict(one(worker, "ConfigMap", "jobfleet-ai")["data"])
    base = env_vars.get("JOBFLEET_INFERENCE__BASE_URL", "")
    want = f"http://{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc.cluster.local:{svc['spec']['ports'][0]['port']}"
    if base.rstrip("/").removesuffix("/v1") != want:
        out.append(f"ai inference.base_url {base!r} is not the model server's Service {want!r}")
    if svc["spec"]["ports"][0]["targetPort"] not in ("http", s_port):
        out.append("the Service does not reach the server's port")
    secret = next((e["valueFrom"]["secretKeyRef"] for e in w_dep["spec"]["template"]["spec"]["containers"][0].get("env", [])
                   if e["name"] == "JOBFLEET_INFERENCE__API_KEY"), None)
    s_key = next((e["valueFrom"]["secretKeyRef"] for e in s_pod["containers"][0].get("env", []) if e["name"] == "VLLM_API_KEY"), None)
    if s_key and secret != s_key:
        out.append(f"workers send the API key from {secret}, the server checks {s_key}")
    # NetworkPolicy: exactly this path, both ends.
    w_np, s_np = one(worker, "NetworkPolicy", "jobfleet-ai"), one(server, "NetworkPolicy")
    s_labels = s_dep["spec"]["template"]["metadata"]["labels"]
    w_labels = w_dep["spec"]["template"]["metadata"]["labels"]
    to_server = [r for r in w_np["spec"]["egress"] if any(
        "podSelector" in t and t["podSelector"]["matchLabels"].items() <= s_labels.items() for t in r.get("to", []))]
    if not to_server or any([pp["port"] for pp in r["ports"]] != [s_port] for r in to_server):
        out.append("worker NetworkPolicy: no egress to the server pods on exactly the server port")
    ingress = [r for r in s_np["spec"]["ingress"] if any(
        "podSelector" in f and f["podSelector"]["matchLabels"].items() <= w_labels.items() for f in r.get("from", []))]
    if not ingress or any([pp["port"] for pp in r["ports"]] != [s_port] for r in ingress):
        out.append("server NetworkPolicy: no ingress from the ai workers on exactly the server port")
    # Placement: the server on the GPU NodePool; the workers not.
    labels, taints = gpu_node(nodepool)
    for why in schedulable(labels, taints, s_pod.get("nodeSelector", {}), s_pod.get("affinity", {}), s_pod.get("tolerations", [])):
        out.append(f"model server cannot run on the ai NodePool: {why}")
    if not taints:
        out.append("the ai NodePool has no taint: other pods could land on GPU nodes")
    if not schedulable(labels, taints, w_dep["spec"]["template"]["spec"].get("nodeSelector", {}), {},
                       w_dep["spec"]["template"]["spec"].get("tolerations", [])):
        out.append("ai worker pods could land on the GPU NodePool")
    gpus = int(s_pod["containers"][0]["resources"]["requests"].get("nvidia.com/gpu", 0))
    if gpus < 1:
        out.append("the model server requests no nvidia.com/gpu")
    max_per_node = next((int(r["values"][0]) - 1 for r in nodepool["spec"]["template"]["spec"]["requirements"]
                         if r["key"] == "karpenter.k8s.aws/instance-gpu-count" and r["operator"] == "Lt"), None)
    if max_per_node is None or gpus > max_per_node:
        out.append(f"the model server wants {gpus} GPUs per pod; the ai NodePool bounds GPUs per instance to {max_per_node}")
    so = one(server, "ScaledObject")
    w_so = one(worker, "ScaledObject")
    limit = int(nodepool["spec"]["limits"].get("nvidia.com/gpu", 0))
    if so["spec"]["maxReplicaCount"] * gpus > limit:
        out.append(f"inference maxReplicas x gpus = {so['spec']['maxReplicaCount'] * gpus} > NodePool nvidia.com/gpu limit {limit}")
    trig, w_trig = so["spec"]["triggers"][0]["metadata"], w_so["spec"]["triggers"][0]["metadata"]
    if trig["queueURL"] != w_trig["queueURL"] or so["spec"]["minReplicaCount"] != 0 or trig["activationQueueLength"] != "0":
        out.append("the model server must scale on the ai queue, from zero, on the first message")
    # NVIDIA device plugin: must run on those nodes to advertise nvidia.com/gpu.
    dp = ADDON_VALUES.get(f"addon-{env}-nvidia-device-plugin")
    if dp is None:
        out.append("no nvidia-device-plugin add-on")
    else:
        affinity = dp["affinity"] if "affinity" in dp else DEVICE_PLUGIN_DEFAULT_AFFINITY
        for why in schedulable(labels, taints, dp.get("nodeSelector") or {}, affinity, dp.get("tolerations") or []):
            out.append(f"nvidia-device-plugin cannot run on the ai NodePool's GPU nodes: {why}")
    return out


def check_addons(rep: Report, clusters: list[dict[str, Any]], crds: list[dict[str, Any]]) -> int:
    """deploy/argocd/addons.yaml: every env x add-on, pinned, inside the platform-addons project;
    this repository's charts rendered with their values and checked like the CI cases."""
    appset = yaml.safe_load((ROOT / "deploy/argocd/addons.yaml").read_text())
    projects = {d["metadata"]["name"]: d for d in docs_of((ROOT / "deploy/argocd/project.yaml").read_text())}
    expanded = expand_appset(appset, clusters)
    addons = [e["addon"] for e in appset["spec"]["generators"][0]["matrix"]["generators"][1]["list"]["elements"]]
    required = {"karpenter", "keda", "external-secrets", "nvidia-device-plugin", "kube-prometheus-stack", "platform",
                "reloader"}
    if missing := required - set(addons):
        rep.fail("addons.yaml", f"missing add-ons {sorted(missing)}")
    got = {(env, el["addon"]) for env, el, _ in expanded}
    if got != {(e, a) for e in ("dev", "staging", "prod") for a in addons}:
        rep.fail("addons.yaml", f"generates {sorted(got)}, expected every env x add-on")
    for env, el, app in expanded:
        name = app["metadata"]["name"]
        crds.append({"source": f"addons -> {name}", "object": app})
        problems = []
        spec, source = app["spec"], app["spec"]["source"]
        project = projects.get(spec["project"])
        if name != f"addon-{env}-{el['addon']}":
            problems.append(f"name {name}")
        if project is None:
            problems.append(f"project {spec['project']} not in project.yaml")
        else:
            if source["repoURL"] not in project["spec"]["sourceRepos"]:
                problems.append(f"{source['repoURL']} not allowed by project {spec['project']}")
            if not any(d["namespace"] == spec["destination"]["namespace"] for d in project["spec"]["destinations"]):
                problems.append(f"namespace {spec['destination']['namespace']} not allowed by project {spec['project']}")
        auto = (spec.get("syncPolicy") or {}).get("automated")
        if (env == "prod") == (auto is not None):
            problems.append("automated sync everywhere except prod")
        if source.get("chart"):
            ADDON_VALUES[name] = (source.get("helm") or {}).get("valuesObject") or {}
            if not EXACT_VERSION.match(str(source.get("targetRevision"))):
                problems.append(f"chart {source['chart']} must pin an exact version, got {source.get('targetRevision')}")
            if source.get("path"):
                problems.append("chart and path both set")
            if "valuesObject" in source.get("helm", {}) and not isinstance(source["helm"]["valuesObject"], dict):
                problems.append("valuesObject must be a mapping")
        elif source.get("path"):
            chart_dir = (ROOT / source["path"]).resolve()
            files = [(chart_dir / f).resolve() for f in source.get("helm", {}).get("valueFiles", [])]
            for f in files:
                if not f.is_file() or ROOT not in f.parents:
                    problems.append(f"value file {f} missing or outside the repository")
            if not problems:
                values = helm.deep_merge(helm.load_values(files), source["helm"].get("valuesObject") or {})
                ns = spec["destination"]["namespace"]
                try:
                    text = helm.template(source["helm"]["releaseName"], chart_dir, values, ns)
                except helm.helm.HelmError as exc:
                    problems.append(str(exc))
                else:
                    RENDERED[name] = write_outputs(f"argocd__{name}", text, crds)
                    for d in RENDERED[name]:
                        scoped = d["kind"] in {"NodePool", "EC2NodeClass", "PriorityClass", "ClusterSecretStore", "StorageClass"}
                        if not scoped and d["metadata"].get("namespace") != ns:
                            problems.append(f"{d['kind']}/{d['metadata']['name']} not in {ns}")
        else:
            problems.append("source has neither chart nor path")
        for p in problems:
            rep.fail(name, p)
        if not problems:
            rep.passed()
    return len(expanded)


# ---------------------------------------------------------------------------- rules
def rules_file() -> dict[str, Any]:
    return yaml.safe_load((CHARTS / "observability/rules/jobfleet.rules.yaml").read_text())


def alerts(rules: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for g in rules["groups"] for r in g["rules"] if "alert" in r]


def cmd_rules() -> int:
    rep = Report("rules-contract")
    rules = rules_file()
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    tests = [yaml.safe_load(p.read_text()) for p in sorted((CHARTS / "observability/tests").glob("*.test.yaml"))]
    fired, silent = set(), set()
    for t in tests:
        for case in t["tests"]:
            for a in case.get("alert_rule_test", []):
                (fired if a.get("exp_alerts") else silent).add(a["alertname"])
    for rule in alerts(rules):
        name = rule["alert"]
        problems = []
        ann, labels = rule.get("annotations", {}), rule.get("labels", {})
        if not {"summary", "description", "runbook_url"} <= ann.keys():
            problems.append("needs summary, description and runbook_url")
        if not ann.get("runbook_url", "").endswith(f"/docs/runbooks/{name}.md"):
            problems.append("runbook_url must end with /docs/runbooks/<alert>.md")
        if not (ROOT / "docs/runbooks" / f"{name}.md").is_file():
            problems.append(f"docs/runbooks/{name}.md is missing")
        if labels.get("severity") not in {"warning", "critical"}:
            problems.append("severity must be warning or critical")
        if name not in fired or name not in silent:
            problems.append("needs a promtool test where it fires and one where it stays silent")
        problems += lint_promql(rule["expr"], recorded)
        for p in problems:
            rep.fail(name, p)
        if not problems:
            rep.passed()
    # The chart must ship exactly this file (modulo the runbook base URL).
    rendered = sorted((OUT / "rules").glob("observability__*.rules.yaml"))
    if not rendered:
        rep.fail("PrometheusRule", "no rendered PrometheusRule (run `render` first)")
    base = "https://github.com/jobfleet/jobfleet/blob/main/docs/runbooks"
    for path in rendered:
        text = path.read_text()
        got = yaml.safe_load(re.sub(r"runbook_url: \S+/(\w+\.md)", rf"runbook_url: {base}/\1", text))
        if got != rules:
            rep.fail(path.name, "rendered PrometheusRule differs from rules/jobfleet.rules.yaml")
        else:
            rep.passed()
    return rep.done(f"{len(alerts(rules))} alerts: runbooks, tests, metric contract")


# ---------------------------------------------------------------------------- PromQL lint
SELECTOR = re.compile(r"\b(jobfleet_[a-z_]+)\s*(\{[^}]*\})?")
MATCHER = re.compile(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"([^"]*)"')
RECORDED = re.compile(r"\b(jobfleet:[a-zA-Z0-9_:]+)")


def lint_promql(expr: str, recorded: set[str]) -> list[str]:
    """Every jobfleet_* metric and label used must exist in the metrics contract."""
    problems = []
    for name in RECORDED.findall(expr):
        if name not in recorded:
            problems.append(f"{name} is not recorded by rules/jobfleet.rules.yaml")
    for metric, matchers in SELECTOR.findall(expr):
        base, suffix = metric, ""
        for s in ("_bucket", "_sum", "_count"):
            if metric.endswith(s) and metric.removesuffix(s) in METRICS:
                base, suffix = metric.removesuffix(s), s
        if base not in METRICS:
            problems.append(f"unknown metric {metric}")
            continue
        mtype, labels = METRICS[base]
        if suffix and mtype != "histogram":
            problems.append(f"{metric}: {base} is a {mtype}")
        if mtype == "histogram" and not suffix:
            problems.append(f"{metric}: use _bucket/_sum/_count of a histogram")
        allowed = labels | SCRAPE_LABELS | ({"le"} if suffix == "_bucket" else set())
        for label, op, value in MATCHER.findall(matchers or ""):
            if label not in allowed:
                problems.append(f"{metric}: label {label} not in {sorted(labels)}")
            elif label in LABEL_VALUES and op in ("=", "=~", "!=") and "$" not in value:
                for alt in value.split("|"):
                    if re.fullmatch(r"[\w]+", alt) and alt not in LABEL_VALUES[label]:
                        problems.append(f"{metric}: {label}={alt!r} not one of {sorted(LABEL_VALUES[label])}")
    return problems


# ---------------------------------------------------------------------------- dashboards
GRAFANA_BUILTINS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h", "__range_s": "3600"}


def panels_of(panels: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for p in panels:
        yield p
        yield from panels_of(p.get("panels", []))


def substitute(expr: str, variables: dict[str, str]) -> tuple[str, list[str]]:
    unknown = []

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name in GRAFANA_BUILTINS:
            return GRAFANA_BUILTINS[name]
        if name in variables:
            return variables[name]
        unknown.append(name)
        return "x"
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr), unknown


def cmd_dashboards() -> int:
    rep = Report("dashboards")
    recorded = {r["record"] for g in rules_file()["groups"] for r in g["rules"] if "record" in r}
    groups, uids, exprs = [], set(), 0
    for path in sorted((CHARTS / "observability/dashboards").glob("*.json")):
        problems = []
        try:
            dash = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            rep.fail(path.name, f"invalid JSON: {exc}")
            continue
        uid = dash.get("uid", "")
        if not re.fullmatch(r"[a-z0-9-]{1,40}", uid) or uid in uids:
            problems.append(f"uid {uid!r} missing, invalid or duplicated")
        uids.add(uid)
        if not dash.get("title") or "jobfleet" not in dash.get("tags", []):
            problems.append("needs a title and the jobfleet tag")
        variables: dict[str, str] = {}
        for v in dash.get("templating", {}).get("list", []):
            sample = {"datasource": "prometheus", "namespace": "jobfleet", "pool": "media", "job_type": ".*"}
            variables[v["name"]] = sample.get(v["name"], str(v.get("query", "1")))
        rules = []
        for v in dash.get("templating", {}).get("list", []):
            if v.get("type") == "query":
                q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
                m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", q)
                if not m:
                    problems.append(f"variable {v['name']}: expected label_values(selector, label)")
                    continue
                expr, unknown = substitute(m.group(1), variables)
                problems += [f"variable {v['name']}: {p}" for p in lint_promql(m.group(1), recorded)]
                rules.append({"record": f"dashboard:{uid.replace('-', '_')}:var_{v['name']}", "expr": expr})
        ids = [p["id"] for p in panels_of(dash.get("panels", []))]
        if len(ids) != len(set(ids)):
            problems.append("duplicate panel ids")
        for panel in panels_of(dash.get("panels", [])):
            for target in panel.get("targets", []):
                expr, unknown = substitute(target["expr"], variables)
                if unknown:
                    problems.append(f"panel {panel['title']!r}: undefined variables {unknown}")
                problems += [f"panel {panel['title']!r}: {p}" for p in lint_promql(target["expr"], recorded)]
                rules.append({"record": f"dashboard:{uid.replace('-', '_')}:panel{panel['id']}_{target['refId']}",
                              "expr": expr})
                exprs += 1
        groups.append({"name": f"dashboard-{uid}", "rules": rules})
        for p in problems:
            rep.fail(path.name, p)
        if not problems:
            rep.passed()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "dashboards.rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return rep.done(f"{exprs} panel queries -> {OUT / 'dashboards.rules.yaml'}")


# ---------------------------------------------------------------------------- README values tables
KEY_LINE = re.compile(r"^(\s*)([A-Za-z0-9_.\-/]+):(\s|$)")
START, END = "<!-- values:start -->", "<!-- values:end -->"


def values_table(chart: Path) -> str:
    """helm-docs style table from `# -- description` comments above keys in values.yaml."""
    text = (chart / "values.yaml").read_text()
    defaults = yaml.safe_load(text) or {}
    rows, stack, pending = [], [], None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#") and pending is not None:
            pending.append(stripped[1:].strip())
            continue
        m = KEY_LINE.match(line)
        if not m or line.lstrip().startswith("-"):
            if not stripped:
                pending = None
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, m.group(2)))
        if pending is not None:
            path = [k for _, k in stack]
            value: Any = defaults
            for k in path:
                value = value[k]
            kind = {bool: "bool", int: "int", float: "float", str: "string", list: "list",
                    dict: "object", type(None): "null"}[type(value)]
            shown = json.dumps(value, separators=(", ", ": "))
            desc = " ".join(pending).replace("|", "\\|")
            rows.append(f"| `{'.'.join(path)}` | {kind} | `{shown}` | {desc} |")
            pending = None
    return "\n".join(["| Key | Type | Default | Description |", "|---|---|---|---|", *rows])


def cmd_readme() -> int:
    rep = Report("readme")
    write = "--write" in sys.argv
    for chart in charts():
        readme = chart / "README.md"
        table = values_table(chart)
        text = readme.read_text() if readme.exists() else ""
        if START not in text or END not in text:
            rep.fail(str(readme.relative_to(ROOT)), f"needs {START} ... {END} around the values table")
            continue
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        new = f"{head}{START}\n{table}\n{END}{tail}"
        if new == text:
            rep.passed()
        elif write:
            readme.write_text(new)
            print(f"  wrote {readme.relative_to(ROOT)}")
            rep.passed()
        else:
            rep.fail(str(readme.relative_to(ROOT)), "values table is stale: run charts/ci/chartcheck.py readme --write")
    return rep.done("values tables in sync with values.yaml")


def main() -> int:
    cmds = {"lint": cmd_lint, "render": cmd_render, "negative": cmd_negative, "argocd": cmd_argocd,
            "rules": cmd_rules, "dashboards": cmd_dashboards, "readme": cmd_readme}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(__doc__)
        return 2
    return cmds[sys.argv[1]]()


if __name__ == "__main__":
    sys.exit(main())
