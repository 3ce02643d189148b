"""Terraform and the charts name the same things.

Terraform creates the queues, roles and Karpenter NodePool specs; charts/platform
renders the NodePools the cluster actually runs and charts/worker builds queue
names, role ARNs and node selectors from `environment` + `pool`. Nothing links
them at runtime, so a rename on one side would only show up on AWS. These tests
read both sides (HCL, chart templates and values) and compare:

  - Karpenter: NodePool names (`general`, `ai`), the isolation taint
    `jobfleet.io/pool=ai:NoSchedule`, node labels, and the keys of the
    `platform_values` output against charts/platform/values.yaml;
  - worker chart: the node selector / toleration of isolated pools;
  - SQS and IAM: `<env>-jobfleet-<pool>` queues, `<env>-jobfleet-<pool>-dlq`
    dead-letter queues (DESIGN.md), role names, the pool set.
"""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import ENVIRONMENTS, ENVS, MODULES, POOLS, ROOT, load_tf, load_tfvars, module_calls, outputs, variables

CHARTS = ROOT / "charts"
PLATFORM = CHARTS / "platform"
WORKER = CHARTS / "worker"
KARPENTER = MODULES / "karpenter"

POOL_LABEL = "jobfleet.io/pool"
NODEPOOL_LABEL = "jobfleet.io/nodepool"


# ---------------------------------------------------------------------------
# Reading both sides
# ---------------------------------------------------------------------------


def _tf_locals(path):
    merged = {}
    for block in load_tf(path).get("locals", []):
        merged.update(block)
    return merged


def _resolve_label_key(key: str, tf_locals: dict) -> str:
    """`(local.pool_label)` / `${local.pool_label}` -> the local's value."""
    m = re.fullmatch(r"\$?\{?\(?local\.(\w+)\)?\}?", key)
    return tf_locals[m.group(1)] if m else key


def terraform_nodepools() -> dict[str, dict]:
    """name -> {labels, taints} of modules/karpenter `local.node_pools`."""
    loc = _tf_locals(KARPENTER / "main.tf")
    out = {}
    for name, spec in loc["node_pools"].items():
        template = spec["template"]
        labels = {_resolve_label_key(k, loc): v for k, v in template["metadata"]["labels"].items()}
        taints = [
            {**t, "key": _resolve_label_key(t["key"], loc) if "local." in t["key"] else t["key"]}
            for t in template["spec"].get("taints", [])
        ]
        out[name] = {"labels": labels, "taints": taints, "nodeClassRef": template["spec"]["nodeClassRef"]}
    return out


def _render_light(text: str, values: dict) -> str:
    """Just enough of Helm for the platform templates' NodePool documents: the
    values the tests care about are substituted, directive-only lines dropped,
    other expressions replaced by a placeholder."""
    def value(path: str):
        node = values
        for k in path.split("."):
            node = node[k]
        return node

    text = re.sub(r"\{\{-?\s*\$a\.(\w+)\s*\|\s*quote\s*-?\}\}", lambda m: f'"{value("ai." + m.group(1))}"', text)
    text = re.sub(r"\{\{-?\s*\$g\.(\w+)\s*\|\s*quote\s*-?\}\}", lambda m: f'"{value("general." + m.group(1))}"', text)
    lines = [ln for ln in text.splitlines() if not re.fullmatch(r"\s*\{\{.*\}\}\s*", ln)]
    return re.sub(r"\{\{.*?\}\}", '"x"', "\n".join(lines))


def chart_nodepools() -> dict[str, dict]:
    values = yaml.safe_load((PLATFORM / "values.yaml").read_text())
    out = {}
    for path in sorted((PLATFORM / "templates").glob("*.yaml")):
        for doc in yaml.safe_load_all(_render_light(path.read_text(), values)):
            if doc and doc.get("kind") == "NodePool":
                spec = doc["spec"]["template"]
                out[doc["metadata"]["name"]] = {
                    "labels": spec["metadata"]["labels"],
                    "taints": spec["spec"].get("taints", []),
                    "nodeClassRef": spec["spec"]["nodeClassRef"],
                }
    return out


# ---------------------------------------------------------------------------
# Karpenter
# ---------------------------------------------------------------------------


def test_light_renderer_sees_both_chart_nodepools():
    assert set(chart_nodepools()) == {"general", "ai"}


def test_nodepool_names_match():
    assert set(terraform_nodepools()) == set(chart_nodepools()) == {"general", "ai"}


@pytest.mark.parametrize("name", ["general", "ai"])
def test_nodepool_labels_match(name):
    tf, chart = terraform_nodepools()[name], chart_nodepools()[name]
    assert tf["labels"] == chart["labels"], f"NodePool {name}: terraform {tf['labels']} != chart {chart['labels']}"
    assert tf["labels"] == {POOL_LABEL: name, NODEPOOL_LABEL: name}


@pytest.mark.parametrize("name", ["general", "ai"])
def test_nodepool_node_class_refs_match(name):
    tf, chart = terraform_nodepools()[name], chart_nodepools()[name]
    assert tf["nodeClassRef"] == chart["nodeClassRef"] == {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": name}


def test_ai_taint_matches():
    expected = [{"key": POOL_LABEL, "value": "ai", "effect": "NoSchedule"}]
    assert terraform_nodepools()["ai"]["taints"] == expected
    assert chart_nodepools()["ai"]["taints"] == expected
    assert terraform_nodepools()["general"]["taints"] == chart_nodepools()["general"]["taints"] == []


def test_platform_values_output_fits_the_chart():
    """Every key Terraform hands to charts/platform exists in its values.yaml (the schema rejects unknown keys)."""
    out = outputs(KARPENTER / "outputs.tf")["platform_values"]["value"]
    chart_values = yaml.safe_load((PLATFORM / "values.yaml").read_text())
    assert set(out) <= set(chart_values), f"unknown top-level keys {set(out) - set(chart_values)}"
    for pool in ("general", "ai"):
        assert set(out[pool]) <= set(chart_values[pool]), f"{pool}: unknown keys {set(out[pool]) - set(chart_values[pool])}"
    assert out["ai"]["isolationValue"] == chart_values["ai"]["isolationValue"] == "ai"


def test_worker_chart_isolates_on_the_same_label_and_taint():
    text = (WORKER / "templates" / "deployment.yaml").read_text()
    assert f'set $nodeSelector "{POOL_LABEL}" .Values.pool' in text
    assert re.search(rf"- key: {re.escape(POOL_LABEL)}\s+operator: Equal\s+value: \{{\{{ \.Values\.pool \| quote \}}\}}\s+effect: NoSchedule", text)
    # The GPU NodePool holds the model server only (charts/inference); every worker pool, ai included,
    # is a CPU pod on general.
    server = (CHARTS / "inference" / "templates" / "deployment.yaml").read_text()
    assert f"{POOL_LABEL}: {{{{ .Values.scheduling.isolationValue | quote }}}}" in server
    assert re.search(rf"- key: {re.escape(POOL_LABEL)}\s+operator: Equal\s+value: \{{\{{ \.Values\.scheduling\.isolationValue \| quote \}}\}}\s+effect: NoSchedule", server)
    assert yaml.safe_load((CHARTS / "inference" / "values.yaml").read_text())["scheduling"]["isolationValue"] == "ai"
    for env in ENVS:
        for pool in POOLS:
            values = yaml.safe_load((ROOT / "deploy" / "environments" / env / f"{pool}.yaml").read_text())
            assert not (values.get("isolatedNodePool") or {}).get("enabled"), f"{env}/{pool} must stay on general"
            assert "gpu" not in values, f"{env}/{pool}: workers request no GPU"


def test_worker_values_output_names_the_nodepools():
    value = outputs(ENVIRONMENTS / "dev" / "outputs.tf")["worker_values"]["value"]
    assert 'nodePool = "general"' in str(value)


# ---------------------------------------------------------------------------
# Queues, roles, pools
# ---------------------------------------------------------------------------


def test_queue_names_follow_design():
    """CONTRACTS: `<env>-jobfleet-<pool>` with DLQ `<env>-jobfleet-<pool>-dlq` (names from modules/sqs/modules/topology,
    whose `terraform test` checks them for a priority queue and a fourth, FIFO pool: test_topology.py)."""
    design = (ROOT / "docs" / "infra.md").read_text()
    topology = (MODULES / "sqs" / "modules" / "topology" / "main.tf").read_text()
    assert 'base                             = q == "" ? "${var.env}-jobfleet-${pool}" : "${var.env}-jobfleet-${pool}-${q}"' in topology
    assert "`<env>-jobfleet-<pool>` and `<env>-jobfleet-<pool>-dlq`" in design


def test_worker_chart_builds_the_same_queue_and_role_names():
    helpers = (WORKER / "templates" / "_helpers.tpl").read_text()
    # `.fifo` for a pool whose poolConfig says fifo: true, as the sqs module names FIFO queues.
    assert 'printf "%s-jobfleet-%s%s" .Values.environment .Values.pool (ternary ".fifo" ""' in helpers
    # A priority queue `q` of the pool: `<env>-jobfleet-<pool>-<q>` (topology's `base`), one KEDA trigger each.
    scaled = (WORKER / "templates" / "scaledobject.yaml").read_text()
    assert '(printf "https://sqs.%s.amazonaws.com/%s/%s-%s" $.Values.aws.region $.Values.aws.accountId (include "worker.queueName" $) $queue)' in scaled
    assert 'printf "arn:aws:iam::%s:role/%s-jobfleet-%s" .Values.aws.accountId .Values.environment .Values.pool' in helpers
    roles = {n: b for _, n, b in (("r", n, b) for e in load_tf(MODULES / "worker-iam" / "main.tf")["resource"]
                                  for t, rs in e.items() if t == "aws_iam_role" for n, b in rs.items())}
    assert roles["this"]["name"] == "${var.env}-jobfleet-${each.key}"
    # The worker derives its DLQ from the queue name (`<queue>-dlq`); the chart passes the queue only.
    assert "<env>-jobfleet-<pool>[-dlq]" in (WORKER / "values.yaml").read_text()


@pytest.mark.parametrize("env", ENVS)
def test_queues_are_standard_where_the_chart_builds_urls(env):
    """The chart builds `https://sqs.<region>.amazonaws.com/<account>/<env>-jobfleet-<pool>` (no `.fifo`): a FIFO
    pool's values must set `queue.url` to its `.fifo` queue."""
    tfvars = load_tfvars(ENVIRONMENTS / env / "terraform.tfvars")
    for pool in POOLS:
        if (tfvars["pools"][pool] or {}).get("fifo") is not None:
            values = yaml.safe_load((ROOT / "deploy" / "environments" / env / f"{pool}.yaml").read_text())
            assert str((values.get("queue") or {}).get("url", "")).endswith(f"/{env}-jobfleet-{pool}.fifo"), f"{env}/{pool}"
    for pool in POOLS:
        values = yaml.safe_load((ROOT / "deploy" / "environments" / env / f"{pool}.yaml").read_text())
        assert values["environment"] == env and values["pool"] == pool
        assert values["aws"]["accountId"] == tfvars["aws_account_id"], f"{env}/{pool}: account differs from terraform"
        assert values["aws"]["region"] == tfvars["region"], f"{env}/{pool}: region differs from terraform"
        url = (values.get("queue") or {}).get("url")
        if url:
            assert url.endswith(f"/{env}-jobfleet-{pool}"), url


POOL_PATTERN = "^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$"   # CONTRACTS.md


def test_pool_sets_agree():
    """Pools are configuration: one name pattern in the chart schema, the sqs and worker-iam modules; the
    environments' queues and roles come from one list (tfvars `pools`), and every deployed pool has both."""
    schema = __import__("json").loads((WORKER / "values.schema.json").read_text())
    assert schema["$defs"]["poolName"]["pattern"] == POOL_PATTERN
    for module in ("sqs", "worker-iam"):
        conditions = " ".join(v["condition"] for v in variables(MODULES / module / "variables.tf")["pools"]["validation"])
        assert POOL_PATTERN in conditions, module
    sqs_pools = set(variables(MODULES / "sqs" / "variables.tf")["pools"]["default"])
    iam_pools = set(variables(MODULES / "worker-iam" / "variables.tf")["pools"]["default"])
    assert sqs_pools == iam_pools == set(POOLS)
    appset = yaml.safe_load((ROOT / "deploy/argocd/applicationset.yaml").read_text())
    deployed = {e["pool"] for e in appset["spec"]["generators"][0]["matrix"]["generators"][1]["list"]["elements"]}
    for env in ENVS:
        tf_pools = set(load_tfvars(ENVIRONMENTS / env / "terraform.tfvars")["pools"])
        assert deployed <= tf_pools, f"{env}: pools deployed without queues: {deployed - tf_pools}"
        calls = module_calls(ENVIRONMENTS / env / "main.tf")
        assert calls["sqs"]["pools"] == "${var.pools}"
        assert calls["worker_iam"]["pools"] == "${keys(var.pools)}", f"{env}: roles must follow the queues' pool list"


def test_a_fourth_pool_fits_every_layer():
    """A pool that is not bundled (`reports`) is accepted by the chart (CI values render it with its TOML
    poolConfig), the Terraform pattern and the sqs example; the topology/grants `terraform test`s check its
    queue, DLQ and role grants (test_topology.py)."""
    ci = yaml.safe_load((WORKER / "ci" / "reports-values.yaml").read_text())
    assert ci["pool"] == "reports" and "reports" in ci["poolConfig"]
    assert re.fullmatch(POOL_PATTERN, "reports")
    example = (MODULES / "sqs" / "examples" / "complete" / "main.tf").read_text()
    assert "reports = {" in example and 'priority_queues = ["high"]' in example


# ---------------------------------------------------------------------------
# Argo CD: what infra hands to deploy/argocd
# ---------------------------------------------------------------------------


def test_cluster_secret_annotations_come_from_terraform():
    value = outputs(ENVIRONMENTS / "dev" / "outputs.tf")["argocd_cluster_annotations"]["value"]
    tf_keys = set(value)
    secrets = [d for d in yaml.safe_load_all((ROOT / "deploy/argocd/cluster-secrets.example.yaml").read_text()) if d]
    for secret in secrets:
        env = secret["metadata"]["labels"]["jobfleet.io/environment"]
        ann = secret["metadata"]["annotations"]
        assert set(ann) == tf_keys, f"{env}: cluster secret annotations differ from terraform output"
        assert ann["jobfleet.io/cluster-name"] == f"{env}-jobfleet"
        assert ann["jobfleet.io/karpenter-interruption-queue"] == f"{env}-jobfleet-karpenter-interruption"
        assert ann["jobfleet.io/keda-operator-role-arn"].endswith(f":role/{env}-jobfleet-keda-operator")
        assert ann["jobfleet.io/external-secrets-role-arn"].endswith(f":role/{env}-jobfleet-external-secrets")
    used = set(re.findall(r'index \$a "([^"]+)"', (ROOT / "deploy/argocd/addons.yaml").read_text()))
    assert used <= tf_keys, f"addons.yaml reads annotations terraform does not output: {used - tf_keys}"
    call = module_calls(KARPENTER / "main.tf")["karpenter"]
    assert call["queue_name"] == "${var.cluster_name}-karpenter-interruption"
    assert call["node_iam_role_name"] == "${var.cluster_name}-karpenter-node"


@pytest.mark.parametrize("env", ENVS)
def test_platform_values_of_each_environment_match_terraform(env):
    values = yaml.safe_load((ROOT / "deploy" / "environments" / env / "platform.yaml").read_text())
    tfvars = load_tfvars(ENVIRONMENTS / env / "terraform.tfvars")
    assert values["clusterName"] == f"{env}-jobfleet"
    assert values["nodeRole"] == f"{env}-jobfleet-karpenter-node"
    assert values["amiAlias"] == tfvars.get("karpenter_ami_alias", "al2023@latest")
    version = tfvars.get("kubernetes_version", variables(ENVIRONMENTS / env / "variables.tf")["kubernetes_version"]["default"])
    assert values["kubernetesVersion"] == version, f"{env}: platform.yaml kubernetesVersion differs from terraform"
    assert values["clusterSecretStore"] == {"enabled": True, "region": tfvars["region"]}
    general, ai = tfvars["karpenter_general"], tfvars["karpenter_ai"]
    assert values["general"]["limits"] == {"cpu": str(general["cpu_limit"]), "memory": f"{general['memory_limit_gib']}Gi"}
    assert values["ai"]["limits"] == {"cpu": str(ai["cpu_limit"]), "memory": f"{ai['memory_limit_gib']}Gi",
                                      "nvidia.com/gpu": str(ai["gpu_limit"])}
    assert values["ai"]["capacityTypes"] == ai.get("capacity_types", ["on-demand"])



def test_addon_service_accounts_match_the_roles_that_trust_them():
    """IRSA / Pod Identity subjects in Terraform == where deploy/argocd/addons.yaml installs the add-ons."""
    appset = yaml.safe_load((ROOT / "deploy/argocd/addons.yaml").read_text())
    elements = {e["addon"]: e for e in appset["spec"]["generators"][0]["matrix"]["generators"][1]["list"]["elements"]}
    patch = appset["spec"]["templatePatch"]
    iam = variables(MODULES / "worker-iam" / "variables.tf")
    keda_ns, keda_sa = iam["keda_service_account"]["default"].split("/")
    eso_ns, eso_sa = iam["external_secrets_service_account"]["default"].split("/")
    assert elements["keda"]["namespace"] == keda_ns and keda_sa == "keda-operator"  # the KEDA chart's operator SA
    assert elements["external-secrets"]["namespace"] == eso_ns
    assert f"name: {eso_sa}" in patch
    karpenter = variables(KARPENTER / "variables.tf")
    assert elements["karpenter"]["namespace"] == karpenter["namespace"]["default"]
    # The karpenter chart names its service account after the release (`releaseName: {{ .addon }}`).
    assert karpenter["service_account"]["default"] == "karpenter" and "releaseName: {{ .addon }}" in patch



# ---------------------------------------------------------------------------
# Karpenter: the AMI alias and the cluster version are one decision; the ai NodePool is one spec
# ---------------------------------------------------------------------------


def ami_releases() -> dict[str, list[str]]:
    loc = _tf_locals(KARPENTER / "main.tf")
    return loc["ami_releases"]


@pytest.mark.parametrize("env", ENVS)
def test_ami_alias_ships_the_cluster_version(env):
    """A dated AMI release only ships the Kubernetes versions that existed when it was built (al2023@v20250505
    has no 1.33): Karpenter could launch no node. The table in modules/karpenter is the one its variable
    validation reads."""
    tfvars = load_tfvars(ENVIRONMENTS / env / "terraform.tfvars")
    alias = tfvars.get("karpenter_ami_alias", "al2023@latest")
    version = tfvars.get("kubernetes_version", variables(ENVIRONMENTS / env / "variables.tf")["kubernetes_version"]["default"])
    if alias.endswith("@latest"):
        return
    release = alias.split("@", 1)[1]
    assert release in ami_releases(), f"{env}: {alias} is not in modules/karpenter local.ami_releases"
    assert version in ami_releases()[release], f"{env}: {alias} ships {ami_releases()[release]}, not Kubernetes {version}"
    call = module_calls(ENVIRONMENTS / env / "main.tf")["karpenter"]
    assert call["kubernetes_version"] == "${var.kubernetes_version}" and call["ami_alias"] == "${var.karpenter_ami_alias}"
    assert module_calls(ENVIRONMENTS / env / "main.tf")["eks"]["kubernetes_version"] == "${var.kubernetes_version}"


def test_ami_alias_validation_reads_the_table():
    v = variables(KARPENTER / "variables.tf")["ami_alias"]
    conditions = " ".join(x["condition"] for x in v["validation"])
    assert "local.ami_releases" in conditions and "var.kubernetes_version" in conditions


def _chart_ai_nodepool() -> dict:
    values = yaml.safe_load((PLATFORM / "values.yaml").read_text())
    text = (PLATFORM / "templates" / "ai.yaml").read_text()
    text = re.sub(r"\{\{-?\s*toJson \$a\.(\w+)\s*-?\}\}", lambda m: __import__("json").dumps(values["ai"][m.group(1)]), text)
    text = re.sub(r"\[\{\{ add \(int \$a\.maxGpusPerInstance\) 1 \| quote \}\}\]", f'["{values["ai"]["maxGpusPerInstance"] + 1}"]', text)
    text = re.sub(r"^\s*\{\{-?\s*toYaml \$a\.(\w+) \| nindent (\d+)\s*-?\}\}\s*$", lambda m: "\n".join(
        " " * int(m.group(2)) + ln for ln in yaml.safe_dump(values["ai"][m.group(1)]).splitlines()), text, flags=re.M)
    for doc in yaml.safe_load_all(_render_light(text, values)):
        if doc and doc.get("kind") == "NodePool":
            return doc["spec"]


def test_ai_nodepool_is_the_same_in_terraform_and_the_chart():
    """Field by field (names, requirement keys/operators, disruption, limits keys), and the values Terraform
    sets by default equal the chart's defaults: the chart once lacked terminationGracePeriod."""
    tf = _tf_locals(KARPENTER / "main.tf")["node_pools"]["ai"]
    chart = _chart_ai_nodepool()
    assert set(tf["template"]["spec"]) == set(chart["template"]["spec"]), (
        f"template.spec keys: terraform {sorted(tf['template']['spec'])} != chart {sorted(chart['template']['spec'])}")
    tf_reqs = {(r["key"], r["operator"]) for r in tf["template"]["spec"]["requirements"]}
    chart_reqs = {(r["key"], r["operator"]) for r in chart["template"]["spec"]["requirements"]}
    assert tf_reqs == chart_reqs
    assert set(tf["limits"]) == set(chart["limits"])
    assert set(tf["disruption"]) == set(chart["disruption"])
    ai_type = variables(KARPENTER / "variables.tf")["ai"]["type"]
    values = yaml.safe_load((PLATFORM / "values.yaml").read_text())["ai"]
    assert f'termination_grace = optional(string, "{values["terminationGracePeriod"]}")' in ai_type
    assert f"max_gpus_per_instance = optional(number, {values['maxGpusPerInstance']})" in ai_type
    gpu = next(r for r in tf["template"]["spec"]["requirements"] if r["key"] == "karpenter.k8s.aws/instance-gpu-count")
    assert gpu["operator"] == "Lt" and "var.ai.max_gpus_per_instance + 1" in str(gpu["values"])


@pytest.mark.parametrize("env", ENVS)
def test_ai_nodepool_values_of_each_environment_match_terraform(env):
    values = yaml.safe_load((ROOT / "deploy" / "environments" / env / "platform.yaml").read_text())
    tfvars = load_tfvars(ENVIRONMENTS / env / "terraform.tfvars")["karpenter_ai"]
    chart = yaml.safe_load((PLATFORM / "values.yaml").read_text())["ai"]
    for tf_key, chart_key in (("termination_grace", "terminationGracePeriod"), ("max_gpus_per_instance", "maxGpusPerInstance")):
        if tf_key in tfvars:
            assert values.get("ai", {}).get(chart_key) == tfvars[tf_key], f"{env}: ai.{chart_key}"
        else:
            assert chart_key not in values.get("ai", {}), f"{env}: ai.{chart_key} set in the chart values only"
    assert chart["terminationGracePeriod"] == "1h"


# ---------------------------------------------------------------------------
# RDS connection budget <-> PgBouncer
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_pgbouncer_budget_is_the_rds_max_connections(env):
    tfvars = load_tfvars(ENVIRONMENTS / env / "terraform.tfvars")
    values = yaml.safe_load((ROOT / "deploy" / "environments" / env / "pgbouncer.yaml").read_text())
    assert values["pools"]["rdsMaxConnections"] == tfvars["rds_max_connections"], env
    assert module_calls(ENVIRONMENTS / env / "main.tf")["rds"]["max_connections"] == "${var.rds_max_connections}"
    params = {p["name"]: p for _, _, pg in [next(__import__("conftest").resources(MODULES / "rds" / "main.tf", "aws_db_parameter_group"))] for p in pg["parameter"]}
    assert params["max_connections"]["value"] == "${tostring(var.max_connections)}"
