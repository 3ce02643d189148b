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
    for env in ENVS:
        ai = yaml.safe_load((ROOT / "deploy" / "environments" / env / "ai.yaml").read_text())
        assert ai["isolatedNodePool"]["enabled"] is True, f"{env}: the ai pool must run on the isolated NodePool"
        for pool in ("media", "notifications"):
            other = yaml.safe_load((ROOT / "deploy" / "environments" / env / f"{pool}.yaml").read_text())
            assert not (other.get("isolatedNodePool") or {}).get("enabled"), f"{env}/{pool} must stay on general"


def test_worker_values_output_names_the_nodepools():
    value = outputs(ENVIRONMENTS / "dev" / "outputs.tf")["worker_values"]["value"]
    assert 'pool == "ai" ? "ai" : "general"' in str(value)


# ---------------------------------------------------------------------------
# Queues, roles, pools
# ---------------------------------------------------------------------------


def test_queue_names_follow_design():
    """DESIGN.md: `<env>-jobfleet-<pool>` with DLQ `<env>-jobfleet-<pool>-dlq`."""
    design = (ROOT / "docs" / "infra.md").read_text()
    main = (MODULES / "sqs" / "main.tf").read_text()
    assert 'names = { for pool, _ in local.pools : pool => "${var.env}-jobfleet-${pool}" }' in main
    assert 'name                        = "${local.names[each.key]}${local.suffix}"' in main
    assert 'name                        = "${local.names[each.key]}-dlq${local.suffix}"' in main
    assert "`<env>-jobfleet-<pool>` and `<env>-jobfleet-<pool>-dlq`" in design


def test_worker_chart_builds_the_same_queue_and_role_names():
    helpers = (WORKER / "templates" / "_helpers.tpl").read_text()
    assert 'printf "%s-jobfleet-%s" .Values.environment .Values.pool' in helpers
    assert 'printf "arn:aws:iam::%s:role/%s-jobfleet-%s" .Values.aws.accountId .Values.environment .Values.pool' in helpers
    roles = {n: b for _, n, b in (("r", n, b) for e in load_tf(MODULES / "worker-iam" / "main.tf")["resource"]
                                  for t, rs in e.items() if t == "aws_iam_role" for n, b in rs.items())}
    assert roles["this"]["name"] == "${var.env}-jobfleet-${each.key}"
    # The worker derives its DLQ from the queue name (`<queue>-dlq`); the chart passes the queue only.
    assert "<env>-jobfleet-<pool>[-dlq]" in (WORKER / "values.yaml").read_text()


@pytest.mark.parametrize("env", ENVS)
def test_queues_are_standard_where_the_chart_builds_urls(env):
    """The chart builds `https://sqs.<region>.amazonaws.com/<account>/<env>-jobfleet-<pool>` (no `.fifo`)."""
    tfvars = load_tfvars(ENVIRONMENTS / env / "terraform.tfvars")
    assert tfvars.get("sqs_fifo", variables(ENVIRONMENTS / env / "variables.tf")["sqs_fifo"]["default"]) is False
    for pool in POOLS:
        values = yaml.safe_load((ROOT / "deploy" / "environments" / env / f"{pool}.yaml").read_text())
        assert values["environment"] == env and values["pool"] == pool
        assert values["aws"]["accountId"] == tfvars["aws_account_id"], f"{env}/{pool}: account differs from terraform"
        assert values["aws"]["region"] == tfvars["region"], f"{env}/{pool}: region differs from terraform"
        url = (values.get("queue") or {}).get("url")
        if url:
            assert url.endswith(f"/{env}-jobfleet-{pool}"), url


def test_pool_sets_agree():
    schema_pools = set(
        __import__("json").loads((WORKER / "values.schema.json").read_text())["properties"]["pool"]["enum"]
    )
    sqs_pools = set(variables(MODULES / "sqs" / "variables.tf")["pools"]["default"])
    iam_pools = set(variables(MODULES / "worker-iam" / "variables.tf")["pools"]["default"])
    for env in ENVS:
        assert set(load_tfvars(ENVIRONMENTS / env / "terraform.tfvars")["pools"]) == set(POOLS), env
        assert module_calls(ENVIRONMENTS / env / "main.tf")["sqs"]["pools"] == "${var.pools}"
    assert schema_pools == sqs_pools == iam_pools == set(POOLS)


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
