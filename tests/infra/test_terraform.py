"""Invariants of infra/terraform, checked statically (no provider, no plan)."""

from __future__ import annotations

import json
import re

import pytest

from conftest import (
    ENVIRONMENTS,
    ENVS,
    MODULE_NAMES,
    MODULES,
    POOLS,
    ROOT,
    TF,
    load_tf,
    load_tfvars,
    module_calls,
    outputs,
    resources,
    tf_files,
    variables,
)

ALL_TF = tf_files()


def _rel(p):
    return str(p.relative_to(ROOT))


# ---------------------------------------------------------------------------
# Layout and conventions
# ---------------------------------------------------------------------------


def test_module_set_is_complete():
    present = sorted(p.name for p in MODULES.iterdir() if p.is_dir())
    assert present == sorted(MODULE_NAMES)


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_module_has_standard_files_and_example(module):
    d = MODULES / module
    for f in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        assert (d / f).is_file(), f"{module}: missing {f}"
    examples = list((d / "examples").glob("*/main.tf"))
    assert examples, f"{module}: no examples/*/main.tf"
    for ex in examples:
        assert (ex.parent / "versions.tf").is_file(), f"{_rel(ex.parent)}: missing versions.tf"
        calls = module_calls(ex)
        assert any(c["source"] == "../.." for c in calls.values()), f"{_rel(ex)} does not use its module"


@pytest.mark.parametrize("path", ALL_TF, ids=_rel)
def test_every_variable_has_type_and_description(path):
    for name, body in variables(path).items():
        assert body.get("type"), f"{_rel(path)}: variable {name} has no type"
        assert str(body.get("description", "")).strip(), f"{_rel(path)}: variable {name} has no description"


@pytest.mark.parametrize("path", ALL_TF, ids=_rel)
def test_every_output_has_description(path):
    for name, body in outputs(path).items():
        assert str(body.get("description", "")).strip(), f"{_rel(path)}: output {name} has no description"


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_module_outputs_of_resources_use_try(module):
    """terraform-aws-modules convention: outputs survive `create = false`."""
    for name, body in outputs(MODULES / module / "outputs.tf").items():
        value = json.dumps(body["value"])
        refs_resource = re.search(r"(?<![\w.])(aws_[a-z0-9_]+\.|module\.)", value)
        if refs_resource and " for " not in value and "local." not in value:
            assert "try(" in value, f"{module}: output {name} should wrap its value in try()"


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_module_readme_lists_every_input_and_output(module):
    readme = (MODULES / module / "README.md").read_text()
    for name in [*variables(MODULES / module / "variables.tf"), *outputs(MODULES / module / "outputs.tf")]:
        assert f"| `{name}` |" in readme, f"{module}/README.md does not document {name}"


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_module_has_create_toggle(module):
    assert "create" in variables(MODULES / module / "variables.tf"), f"{module}: no `create` variable"


def _min_version(constraint: str) -> tuple[int, ...]:
    m = re.search(r">=\s*([0-9]+)\.([0-9]+)(?:\.([0-9]+))?", constraint)
    assert m, f"no lower bound in {constraint!r}"
    return tuple(int(x or 0) for x in m.groups())


def _terraform_block(path):
    doc = load_tf(path)
    blocks = doc.get("terraform", [])
    assert blocks, f"{_rel(path)}: no terraform block"
    return blocks[0]


def test_root_versions_pin_terraform_and_aws():
    tf = _terraform_block(TF / "versions.tf")
    assert _min_version(tf["required_version"]) >= (1, 6, 0)
    aws = tf["required_providers"][0]["aws"]
    assert aws["source"] == "hashicorp/aws"
    assert "<" in aws["version"], "root pins an upper bound (major) for the AWS provider"


PURE_SUBMODULES = sorted(p.parent for p in MODULES.glob("*/modules/*/versions.tf"))


@pytest.mark.parametrize("path", sorted(TF.rglob("versions.tf")), ids=_rel)
def test_versions_files(path):
    tf = _terraform_block(path)
    assert _min_version(tf["required_version"]) >= (1, 6, 0)
    if path.parent in PURE_SUBMODULES:
        assert "required_providers" not in tf, f"{_rel(path)}: a provider-free submodule (tested offline) needs no provider"
        return
    aws = tf["required_providers"][0]["aws"]
    assert aws["source"] == "hashicorp/aws"
    assert _min_version(aws["version"]) >= (6, 0, 0)


@pytest.mark.parametrize("root", [*(ENVIRONMENTS / e for e in ENVS), TF / "bootstrap"], ids=lambda p: p.name)
def test_roots_agree_with_root_versions(root):
    assert _terraform_block(root / "versions.tf") == _terraform_block(TF / "versions.tf")


@pytest.mark.parametrize("path", ALL_TF, ids=_rel)
def test_registry_modules_pinned_exactly(path):
    for name, body in module_calls(path).items():
        source = body["source"]
        if source.startswith((".", "/")):
            continue
        assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", str(body.get("version", ""))), (
            f"{_rel(path)}: module {name} ({source}) must pin an exact version"
        )


# ---------------------------------------------------------------------------
# Environments
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_environment_files(env):
    d = ENVIRONMENTS / env
    for f in ("main.tf", "variables.tf", "outputs.tf", "backend.tf", "versions.tf", "terraform.tfvars"):
        assert (d / f).is_file(), f"{env}: missing {f}"


def test_environments_instantiate_the_same_modules():
    sets = {
        env: {name: body["source"] for name, body in module_calls(ENVIRONMENTS / env / "main.tf").items()} for env in ENVS
    }
    assert sets["dev"] == sets["staging"] == sets["prod"]
    used = {src.rsplit("/", 1)[-1] for src in sets["dev"].values()}
    assert used == set(MODULE_NAMES), f"environments must use every module, missing {set(MODULE_NAMES) - used}"


@pytest.mark.parametrize("f", ["main.tf", "variables.tf", "outputs.tf", "versions.tf"])
def test_environments_share_code(f):
    texts = {env: (ENVIRONMENTS / env / f).read_text() for env in ENVS}
    assert texts["dev"] == texts["staging"] == texts["prod"], f"{f} differs between environments"


@pytest.mark.parametrize("env", ENVS)
def test_backend_is_s3_with_locking(env):
    backend = load_tf(ENVIRONMENTS / env / "backend.tf")["terraform"][0]["backend"][0]
    assert list(backend) == ["s3"]
    s3 = backend["s3"]
    assert s3["encrypt"] is True
    assert s3.get("use_lockfile") is True or s3.get("dynamodb_table"), "state locking required"
    assert s3["key"] == f"jobfleet/{env}/terraform.tfstate"


@pytest.mark.parametrize("env", ENVS)
def test_tfvars_match_environment_and_hold_no_secrets(env):
    tfvars = load_tfvars(ENVIRONMENTS / env / "terraform.tfvars")
    assert tfvars["env"] == env
    backend = load_tf(ENVIRONMENTS / env / "backend.tf")["terraform"][0]["backend"][0]["s3"]
    assert tfvars["state_bucket_name"] == backend["bucket"]
    for key in tfvars:
        assert not re.search(r"password|secret|token|api_key|apikey|private_key", key, re.I), (
            f"{env}: {key} looks like a secret; secrets live in Secrets Manager / SSM, never in tfvars"
        )


def test_prod_database_is_multi_az():
    assert load_tfvars(ENVIRONMENTS / "prod" / "terraform.tfvars")["rds_multi_az"] is True
    rds_call = module_calls(ENVIRONMENTS / "prod" / "main.tf")["rds"]
    assert rds_call["multi_az"] == "${var.rds_multi_az}"
    _, _, db = next(resources(MODULES / "rds" / "main.tf", "aws_db_instance"))
    assert db["multi_az"] == "${var.multi_az}"


def test_prod_is_production_shaped():
    tfvars = load_tfvars(ENVIRONMENTS / "prod" / "terraform.tfvars")
    assert tfvars["single_nat_gateway"] is False
    assert tfvars["rds_deletion_protection"] is True
    assert len(tfvars["azs"]) == 3
    assert not str(tfvars.get("karpenter_ami_alias", "al2023@latest")).endswith("@latest"), "pin the node AMI in prod"


# ---------------------------------------------------------------------------
# SQS: every queue has a DLQ + redrive; every DLQ a RedriveAllowPolicy
# ---------------------------------------------------------------------------


def _sqs_queues():
    for path in ALL_TF:
        for _, name, body in resources(path, "aws_sqs_queue"):
            yield path, name, body


def test_there_are_queues():
    assert list(_sqs_queues())


@pytest.mark.parametrize("path,name,body", [pytest.param(*q, id=f"{_rel(q[0])}:{q[1]}") for q in _sqs_queues()])
def test_every_queue_has_dlq_and_redrive(path, name, body):
    is_dlq = "dlq" in name or "-dlq" in str(body.get("name", ""))
    if is_dlq:
        allow = [b for _, _, b in resources(path, "aws_sqs_queue_redrive_allow_policy")]
        matching = [b for b in allow if f"aws_sqs_queue.{name}[" in b["queue_url"] or f"aws_sqs_queue.{name}." in b["queue_url"]]
        assert matching, f"{_rel(path)}: DLQ {name} has no RedriveAllowPolicy"
        policy = matching[0]["redrive_allow_policy"]
        assert 'redrivePermission = "byQueue"' in policy
        assert "sourceQueueArns" in policy and "aws_sqs_queue." in policy
        assert body.get("message_retention_seconds"), f"{_rel(path)}: DLQ {name} must set its retention"
    else:
        redrive = body.get("redrive_policy", "")
        assert "deadLetterTargetArn" in redrive and "aws_sqs_queue." in redrive, f"{_rel(path)}: queue {name} has no redrive policy"
        assert "maxReceiveCount" in redrive
        assert body.get("receive_wait_time_seconds"), f"{_rel(path)}: {name} must long-poll"


@pytest.mark.parametrize("sub", PURE_SUBMODULES, ids=lambda p: _rel(p))
def test_pure_submodules_have_no_resources_and_a_terraform_test(sub):
    """modules/*/modules/*: expressions only (no provider, resource or data source), so
    tests/infra/test_topology.py can run their `terraform test` offline."""
    for path in sub.glob("*.tf"):
        doc = load_tf(path)
        assert not doc.get("resource") and not doc.get("data") and not doc.get("provider"), _rel(path)
    assert list((sub / "tests").glob("*.tftest.hcl")), f"{_rel(sub)}: no tests/*.tftest.hcl"


def test_sqs_names_and_defaults():
    main = (MODULES / "sqs" / "main.tf").read_text()
    topology = (MODULES / "sqs" / "modules" / "topology" / "main.tf").read_text()
    assert 'source = "./modules/topology"' in main and "queues = module.topology.queues" in main
    for kind in ("dlq", "this"):
        assert f'resource "aws_sqs_queue" "{kind}" {{\n  for_each = local.queues' in main
    assert "name                        = each.value.dlq_name" in main
    assert "name                        = each.value.name" in main
    assert '"${var.env}-jobfleet-${pool}"' in topology and '"${var.env}-jobfleet-${pool}-${q}"' in topology
    assert '-dlq${p.fifo != null ? ".fifo" : ""}' in topology
    assert 'deduplication_scope   = each.value.fifo && each.value.high_throughput ? "messageGroup" : null' in main
    assert 'fifo_throughput_limit = each.value.fifo && each.value.high_throughput ? "perMessageGroupId" : null' in main
    v = variables(MODULES / "sqs" / "variables.tf")
    assert v["receive_wait_time_seconds"]["default"] == 20
    assert v["dlq_message_retention_seconds"]["default"] == 14 * 24 * 3600
    assert v["kms_master_key_id"]["default"] is None, "SSE-SQS by default"
    pools = v["pools"]["default"]
    assert set(pools) == set(POOLS)
    assert "max_receive_count" in v["pools"]["type"] and "optional(number, 10)" in v["pools"]["type"]
    assert "priority_queues = optional(list(string), [])" in v["pools"]["type"] and "high_throughput" in v["pools"]["type"]
    assert "fifo" not in v, "FIFO is a per-pool setting (pools.<name>.fifo)"
    conditions = " ".join(val["condition"] for val in v["pools"]["validation"])
    assert "visibility_timeout_seconds >= p.max_job_seconds" in conditions


def test_sqs_alarms():
    alarms = {n: b for _, n, b in resources(MODULES / "sqs" / "main.tf", "aws_cloudwatch_metric_alarm")}
    assert alarms["dlq_depth"]["metric_name"] == "ApproximateNumberOfMessagesVisible"
    assert alarms["dlq_depth"]["threshold"] == 0
    assert alarms["dlq_depth"]["comparison_operator"] == "GreaterThanThreshold"
    assert alarms["oldest_message_age"]["metric_name"] == "ApproximateAgeOfOldestMessage"


# ---------------------------------------------------------------------------
# IAM
# ---------------------------------------------------------------------------

# Documents allowed a Resource "*" (AWS offers no resource-level permission).
STAR_RESOURCE_ALLOWED = {
    ("worker-iam", "notifications_sms"): {"sns:Publish"},
    ("github-oidc", "ecr_login"): {"ecr:GetAuthorizationToken"},
}


def _statements(body):
    for st in body.get("statement", []):
        yield st
    for dyn in body.get("dynamic", []):
        for content in dyn.get("statement", {}).get("content", []):
            yield content


def _policy_documents():
    for path in ALL_TF:
        for _, name, body in resources(path, "aws_iam_policy_document", kind="data"):
            yield path, name, body


def _as_list(v):
    return v if isinstance(v, list) else [v]


@pytest.mark.parametrize("path,name,body", [pytest.param(*d, id=f"{_rel(d[0])}:{d[1]}") for d in _policy_documents()])
def test_no_wildcard_actions_in_allow_statements(path, name, body):
    for st in _statements(body):
        if st.get("effect", "Allow") != "Allow":
            continue
        assert "not_actions" not in st, f"{_rel(path)}/{name}: NotAction in an Allow statement"
        for action in _as_list(st.get("actions", [])):
            assert action != "*" and not action.endswith(":*"), f"{_rel(path)}/{name}: wildcard action {action}"


@pytest.mark.parametrize("path,name,body", [pytest.param(*d, id=f"{_rel(d[0])}:{d[1]}") for d in _policy_documents()])
def test_star_resources_only_where_aws_requires_them(path, name, body):
    module = path.parent.name
    for st in _statements(body):
        if st.get("effect", "Allow") != "Allow":
            continue
        if "*" in _as_list(st.get("resources", [])):
            allowed = STAR_RESOURCE_ALLOWED.get((module, name))
            assert allowed is not None, f"{_rel(path)}/{name}: Resource * is not allowed here"
            assert set(st["actions"]) <= allowed


def test_no_inline_json_policies_with_wildcards():
    """Policies written as jsonencode()/heredoc would escape the checks above."""
    for path in ALL_TF:
        text = path.read_text()
        assert not re.search(r'Action\s*=\s*"(\*|[a-z0-9-]+:\*)"', text), f"{_rel(path)}: wildcard Action"
        assert not re.search(r'"Action"\s*:\s*"(\*|[a-z0-9-]+:\*)"', text), f"{_rel(path)}: wildcard Action"


def _docs(module):
    return {n: b for _, n, b in resources(MODULES / module / "main.tf", "aws_iam_policy_document", kind="data")}


def _by_sid(body):
    return {st["sid"]: st for st in _statements(body)}


IRSA_ROLES = {
    # aws_iam_role name in worker-iam -> (key into the `assume` documents, subject it must trust)
    "this": ("each.key", "system:serviceaccount:${var.namespace}:jobfleet-${pool}"),
    "external_secrets": ('"external-secrets"', "system:serviceaccount:${local.eso_sa[0]}:${local.eso_sa[1]}"),
    "keda_operator": ('"keda-operator"', "system:serviceaccount:${local.keda_sa[0]}:${local.keda_sa[1]}"),
    "control": ('"control"', "system:serviceaccount:${local.control_sa[0]}:${local.control_sa[1]}"),
    "console": ('"console"', "system:serviceaccount:${local.console_sa[0]}:${local.console_sa[1]}"),
}


def test_irsa_trust_is_one_document_over_the_subject_map():
    """Pool, ESO and KEDA roles share one trust document (for_each over local.irsa_subjects)."""
    docs = _docs("worker-iam")
    web_identity = [n for n, d in docs.items() for st in _statements(d)
                    if "sts:AssumeRoleWithWebIdentity" in st.get("actions", [])]
    assert web_identity == ["assume"], f"IRSA trust must live in the single `assume` document, found {web_identity}"
    assume = docs["assume"]
    assert assume["for_each"] == "${local.irsa_subjects}"
    [st] = assume["statement"]
    assert st["effect"] == "Allow" and st["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    assert st["principals"] == [{"type": "Federated", "identifiers": ["${var.oidc_provider_arn}"]}]
    conds = {c["variable"]: c for c in st["condition"]}
    assert set(conds) == {"${var.oidc_provider}:sub", "${var.oidc_provider}:aud"}
    assert conds["${var.oidc_provider}:sub"] == {
        "test": "StringEquals", "variable": "${var.oidc_provider}:sub", "values": ["${each.value}"]}
    assert conds["${var.oidc_provider}:aud"] == {
        "test": "StringEquals", "variable": "${var.oidc_provider}:aud", "values": ["sts.amazonaws.com"]}


def test_each_irsa_role_trusts_exactly_its_own_service_account():
    v = variables(MODULES / "worker-iam" / "variables.tf")
    assert v["namespace"]["default"] == "jobfleet"
    assert v["external_secrets_service_account"]["default"] == "external-secrets/external-secrets"
    assert v["keda_service_account"]["default"] == "keda/keda-operator"
    main = (MODULES / "worker-iam" / "main.tf").read_text()
    block = main[main.index("irsa_subjects = merge("):]
    block = block[: block.index("\n}\n")]
    # Every subject is an exact namespace:serviceaccount (no wildcard), keyed by its role.
    assert "*" not in block
    assert '{ for pool in local.pools : pool => "system:serviceaccount:${var.namespace}:jobfleet-${pool}" }' in block
    assert '"external-secrets" = local.eso == 1 ? "system:serviceaccount:${local.eso_sa[0]}:${local.eso_sa[1]}"' in block
    assert '"keda-operator"    = local.keda == 1 ? "system:serviceaccount:${local.keda_sa[0]}:${local.keda_sa[1]}"' in block
    assert '"control"          = local.control == 1 ? "system:serviceaccount:${local.control_sa[0]}:${local.control_sa[1]}"' in block
    assert v["control_service_account"]["default"] == "jobfleet/jobfleet-control"
    assert '"console"          = local.console == 1 ? "system:serviceaccount:${local.console_sa[0]}:${local.console_sa[1]}"' in block
    assert v["console_service_account"]["default"] == "jobfleet/jobfleet-console"
    roles = {n: b for _, n, b in resources(MODULES / "worker-iam" / "main.tf", "aws_iam_role")}
    assert set(roles) == set(IRSA_ROLES), "every worker-iam role is an IRSA role listed here"
    for name, (key, _) in IRSA_ROLES.items():
        assert roles[name]["assume_role_policy"] == f"${{data.aws_iam_policy_document.assume[{key}].json}}", name
    assert roles["this"]["name"] == "${var.env}-jobfleet-${each.key}"
    assert roles["this"]["for_each"] == "${local.pools}", "pool roles and their subjects share local.pools keys"
    # Pool names follow the contract pattern and can never collide with the operator keys.
    pools_validation = " ".join(x["condition"] for x in v["pools"]["validation"])
    assert "^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$" in pools_validation
    assert '["external-secrets", "keda-operator", "control", "console"]' in pools_validation
    assert roles["control"]["name"] == "${var.env}-jobfleet-control"
    assert roles["console"]["name"] == "${var.env}-jobfleet-console"


def test_external_secrets_role_reads_only_the_environment_prefix():
    docs = _docs("worker-iam")
    st = _by_sid(docs["eso"])["ReadEnvironmentParameters"]
    assert all(a.startswith("ssm:Get") for a in st["actions"])
    assert st["resources"] == ["${local.ssm_arn}", "${local.ssm_arn}/*"]
    main = (MODULES / "worker-iam" / "main.tf").read_text()
    assert 'ssm_prefix = coalesce(var.ssm_parameter_prefix, "/${var.env}/jobfleet")' in main


def test_worker_common_permissions():
    common = _by_sid(_docs("worker-iam")["common"])
    # Every queue of the pool (main and priority queues): modules/grants, tested offline.
    assert common["ConsumeOwnQueue"]["resources"] == "${module.grants.consume_arns[each.key]}"
    assert "sqs:SendMessage" not in common["ConsumeOwnQueue"]["actions"]
    assert "sqs:SendMessage" in common["DeadLetterToOwnDlq"]["actions"]
    assert common["DeadLetterToOwnDlq"]["resources"] == "${module.grants.dead_letter_arns[each.key]}"
    control = _by_sid(_docs("worker-iam")["control"])["ReadQueueAttributes"]
    assert sorted(control["actions"]) == ["sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    assert control["resources"] == "${concat(module.grants.all_queue_arns, module.grants.all_dlq_arns)}"
    # The console moves dead letters: destructive actions only on DLQs, sends only to pool queues.
    console = _by_sid(_docs("worker-iam")["console"])
    assert set(console) == {"ReadQueueAttributes", "TriageAndReplayDeadLetters", "ReplayToPoolQueues"}
    assert console["TriageAndReplayDeadLetters"]["resources"] == "${module.grants.all_dlq_arns}"
    assert "sqs:PurgeQueue" in console["TriageAndReplayDeadLetters"]["actions"]
    assert console["ReplayToPoolQueues"]["actions"] == ["sqs:SendMessage"]
    assert console["ReplayToPoolQueues"]["resources"] == "${module.grants.all_queue_arns}"
    assert not any(a.startswith(("s3:", "ssm:", "kms:")) for st in console.values() for a in st["actions"])
    keda = _by_sid(_docs("worker-iam")["keda"])["ReadQueueDepth"]
    assert keda["resources"] == "${module.grants.all_queue_arns}"
    # Any pool (not only the bundled three) gets a role and at least the common policy.
    main = (MODULES / "worker-iam" / "main.tf").read_text()
    assert "coalesce(lookup(local.bundled_policy_json, pool, null), data.aws_iam_policy_document.common[pool].json)" in main
    for env in ENVS:
        assert module_calls(ENVIRONMENTS / env / "main.tf")["worker_iam"]["pools"] == "${keys(var.pools)}"
    assert common["ReadClaimChecks"]["actions"] == ["s3:GetObject"]
    assert common["ReadClaimChecks"]["resources"] == ["${local.bucket}/claim-check/*"]


def test_worker_pool_permissions():
    docs = _docs("worker-iam")
    media = _by_sid(docs["media"])
    assert media["ReadUploads"]["actions"] == ["s3:GetObject"]
    assert media["ReadUploads"]["resources"] == ["${local.bucket}/uploads/*"]
    assert media["WriteThumbnails"]["actions"] == ["s3:PutObject"]
    assert media["WriteThumbnails"]["resources"] == ["${local.bucket}/thumbnails/*"]
    assert media["DeleteClaimChecks"]["actions"] == ["s3:DeleteObject"]
    assert media["DeleteClaimChecks"]["resources"] == ["${local.bucket}/claim-check/*"]

    ai = _by_sid(docs["ai"])
    assert ai["WriteResults"]["actions"] == ["s3:PutObject"]
    assert ai["WriteResults"]["resources"] == ["${local.bucket}/ai-results/*"]

    notif = _by_sid(docs["notifications"])
    assert set(notif["SendEmailFromIdentities"]["actions"]) == {"ses:SendEmail", "ses:SendRawEmail"}
    assert notif["PublishToTopics"]["actions"] == ["sns:Publish"]
    assert "*" not in _as_list(notif["PublishToTopics"]["resources"])
    sms = docs["notifications_sms"]
    assert "var.sns_allow_sms" in sms["count"], "SMS (Resource *) must be opt-in"

    for name, doc in docs.items():
        for st in _statements(doc):
            for action in st.get("actions", []):
                if action.startswith("s3:"):
                    for res in _as_list(st["resources"]):
                        assert re.search(r"/(uploads|thumbnails|claim-check|ai-results)/\*$", res), (
                            f"{name}/{st['sid']}: S3 access must be scoped to a prefix, got {res}"
                        )


def test_github_oidc_trust_is_restricted():
    docs = _docs("github-oidc")
    for trust in ("plan_trust", "apply_trust", "push_trust"):
        st = docs[trust]["statement"][0]
        conds = {c["variable"]: c for c in st["condition"]}
        aud = conds["${local.issuer}:aud"]
        assert aud["test"] == "StringEquals" and aud["values"] == ["sts.amazonaws.com"]
        sub = conds["${local.issuer}:sub"]
        for value in sub["values"]:
            assert value.startswith("${local.repo}:"), f"{trust}: subject {value} not restricted to the repository"
    apply_sub = {c["variable"]: c for c in docs["apply_trust"]["statement"][0]["condition"]}["${local.issuer}:sub"]
    assert apply_sub == {"test": "StringEquals", "variable": "${local.issuer}:sub", "values": ["${local.repo}:environment:${var.env}"]}
    main = (MODULES / "github-oidc" / "main.tf").read_text()
    assert 'repo = "repo:${var.github_repository}"' in main
    push = _by_sid(docs["push"])
    assert all(a.startswith("ecr:") for a in push["PushWorkerImage"]["actions"])
    assert push["PushWorkerImage"]["resources"] == "${statement.value}"
    plan_attach = {n: b for _, n, b in resources(MODULES / "github-oidc" / "main.tf", "aws_iam_role_policy_attachment")}
    assert plan_attach["plan_read_only"]["policy_arn"].endswith(":iam::aws:policy/ReadOnlyAccess")


def test_apply_role_iam_is_narrowed():
    docs = _docs("github-oidc")
    apply = _by_sid(docs["apply_iam"])
    assert "iam:PassRole" not in apply["ManageStackRolesAndPolicies"]["actions"]
    pass_role = apply["PassStackRolesToTheirServices"]
    assert pass_role["actions"] == ["iam:PassRole"]
    assert pass_role["condition"][0]["variable"] == "iam:PassedToService"
    assert apply["CreateServiceLinkedRoles"]["condition"][0]["variable"] == "iam:AWSServiceName"
    assert apply["ManageInstanceProfiles"]["resources"] == [
        "arn:${local.partition}:iam::${local.account_id}:instance-profile/${local.prefix}-*"]
    assert all("oidc-provider/*" not in r for r in apply["ManageOidcProviders"]["resources"])
    deny_ci = apply["DenyCiRoleChanges"]
    assert deny_ci["effect"] == "Deny" and deny_ci["resources"] == [
        "arn:${local.partition}:iam::${local.account_id}:role/${local.prefix}-gha-*"]
    assert {"iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy"} <= set(deny_ci["actions"])
    assert apply["DenyAdminPolicyAttachment"]["effect"] == "Deny"
    assert apply["DenyBoundaryRemoval"]["actions"] == ["iam:DeleteRolePermissionsBoundary"]
    enforce = apply["DenyRolesWithoutTheBoundary"]
    assert enforce["effect"] == "Deny" and "iam:CreateRole" in enforce["actions"]
    assert enforce["condition"][0] == {"test": "StringNotEquals", "variable": "iam:PermissionsBoundary",
                                       "values": ["${statement.value}"]}


def test_plan_role_cannot_read_data():
    plan = _by_sid(_docs("github-oidc")["plan_deny_data"])
    assert all(st["effect"] == "Deny" for st in plan.values())
    assert plan["DenyObjectReadsOutsideState"]["not_resources"] == ["${var.state_bucket_arn}/${var.state_key_prefix}*"]
    assert "ssm:GetParameter" in plan["DenyAccountParameters"]["actions"]
    assert {"secretsmanager:GetSecretValue", "sqs:ReceiveMessage"} <= set(plan["DenyDataPlaneReads"]["actions"])
    policies = {n: b for _, n, b in resources(MODULES / "github-oidc" / "main.tf", "aws_iam_role_policy")}
    assert policies["plan_deny_data"]["role"] == "${aws_iam_role.plan[0].id}"


@pytest.mark.parametrize("env", ENVS)
def test_permissions_boundary_is_wired(env):
    v = variables(ENVIRONMENTS / env / "variables.tf")["permissions_boundary_arn"]
    assert v["type"] == "${string}" or v["type"] == "string"
    assert v["default"] is None and v.get("validation")
    calls = module_calls(ENVIRONMENTS / env / "main.tf")
    for module in ("worker_iam", "github_oidc", "vpc", "eks", "karpenter", "rds"):
        assert calls[module]["permissions_boundary_arn"] == "${var.permissions_boundary_arn}", f"{env}: {module}"
    # Every role the stack creates carries it (the apply role may only create bounded roles).
    for module in ("worker-iam", "github-oidc", "rds"):
        for _, name, role in resources(MODULES / module / "main.tf", "aws_iam_role"):
            assert role["permissions_boundary"] == "${var.permissions_boundary_arn}", f"{module}: role {name}"
    assert module_calls(MODULES / "vpc" / "main.tf")["vpc"]["vpc_flow_log_permissions_boundary"] == "${var.permissions_boundary_arn}"
    eks = module_calls(MODULES / "eks" / "main.tf")["eks"]
    assert eks["iam_role_permissions_boundary"] == "${var.permissions_boundary_arn}"
    for group in eks["eks_managed_node_groups"].values():
        assert group["iam_role_permissions_boundary"] == "${var.permissions_boundary_arn}"
    karpenter = module_calls(MODULES / "karpenter" / "main.tf")["karpenter"]
    assert karpenter["iam_role_permissions_boundary_arn"] == "${var.permissions_boundary_arn}"
    assert karpenter["node_iam_role_permissions_boundary"] == "${var.permissions_boundary_arn}"


# ---------------------------------------------------------------------------
# Data stores and registry
# ---------------------------------------------------------------------------


def test_ecr_is_immutable_and_scanned():
    _, _, repo = next(resources(MODULES / "ecr" / "main.tf", "aws_ecr_repository"))
    assert repo["image_tag_mutability"] == "IMMUTABLE"
    assert repo["image_scanning_configuration"][0]["scan_on_push"] is True
    assert list(resources(MODULES / "ecr" / "main.tf", "aws_ecr_lifecycle_policy"))


def test_rds_is_postgres15_encrypted_with_managed_secret():
    _, _, db = next(resources(MODULES / "rds" / "main.tf", "aws_db_instance"))
    assert db["engine"] == "postgres"
    assert db["storage_encrypted"] is True
    assert db["manage_master_user_password"] is True
    assert db["publicly_accessible"] is False
    assert "password" not in db, "the password is generated by RDS, never passed in"
    assert variables(MODULES / "rds" / "variables.tf")["engine_version"]["default"] == "15"
    _, _, pg = next(resources(MODULES / "rds" / "main.tf", "aws_db_parameter_group"))
    assert pg["family"] == "postgres15"
    names = {p["name"] for p in pg["parameter"]}
    assert {"log_min_duration_statement", "rds.force_ssl"} <= names


def test_media_bucket():
    main = MODULES / "s3" / "main.tf"
    _, _, bpa = next(resources(main, "aws_s3_bucket_public_access_block"))
    assert all(bpa[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"))
    _, _, ver = next(resources(main, "aws_s3_bucket_versioning"))
    assert ver["versioning_configuration"][0]["status"] == "Enabled"
    assert list(resources(main, "aws_s3_bucket_server_side_encryption_configuration"))
    for env in ENVS:
        s3 = module_calls(ENVIRONMENTS / env / "main.tf")["s3"]
        assert s3["bucket_name"] == "${local.name}-media"
        assert set(s3["prefixes"]) == {"uploads/", "thumbnails/", "claim-check/", "ai-results/"}
        assert s3["expire_prefixes"] == {"claim-check/": "${var.claim_check_expiry_days}"}
    assert variables(ENVIRONMENTS / "dev" / "variables.tf")["claim_check_expiry_days"]["default"] == 7


# ---------------------------------------------------------------------------
# Karpenter NodePools (data for the platform chart)
# ---------------------------------------------------------------------------


def test_karpenter_nodepools():
    main = (MODULES / "karpenter" / "main.tf").read_text()
    assert re.search(r'pool_label\s+= "jobfleet.io/pool"', main)
    assert 'taints       = [{ key = local.pool_label, value = "ai", effect = "NoSchedule" }]' in main
    assert 'nodeClassRef = { group = "karpenter.k8s.aws", kind = "EC2NodeClass", name = "general" }' in main
    assert 'nodeClassRef = { group = "karpenter.k8s.aws", kind = "EC2NodeClass", name = "ai" }' in main
    assert 'consolidationPolicy = "WhenEmptyOrUnderutilized"' in main
    assert 'consolidationPolicy = "WhenEmpty"' in main
    assert '{ nodes = "0", reasons = ["Underutilized"] }' in main
    assert '"nvidia.com/gpu"' in main
    v = variables(MODULES / "karpenter" / "variables.tf")
    assert 'optional(list(string), ["spot", "on-demand"])' in v["general"]["type"]
    assert 'optional(list(string), ["on-demand"])' in v["ai"]["type"]
    outs = outputs(MODULES / "karpenter" / "outputs.tf")
    assert {"nodepools", "platform_values"} <= set(outs)
    assert "terraform-aws-modules/eks/aws//modules/karpenter" in main


# ---------------------------------------------------------------------------
# Exceptions are justified where they are made
# ---------------------------------------------------------------------------


def _scanned_files():
    yield from ALL_TF
    yield ROOT / "Dockerfile"


def test_checkov_skips_are_justified():
    for path in _scanned_files():
        for m in re.finditer(r"checkov:skip=([A-Z0-9_]+)(:?)(.*)", path.read_text()):
            check, colon, reason = m.groups()
            assert colon and len(reason.strip()) >= 30, f"{_rel(path)}: skip of {check} needs a reason"


def test_trivy_ignores_are_justified():
    for path in ALL_TF:
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if "trivy:ignore:" in line:
                context = " ".join(lines[max(0, i - 3) : i + 1])
                assert "checkov:skip=" in context or "#" in lines[i - 1], f"{_rel(path)}:{i + 1}: unjustified trivy ignore"
    ignore = ROOT / "infra" / ".trivyignore"
    lines = ignore.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.strip() and not line.startswith("#"):
            assert i > 0 and lines[i - 1].startswith("#"), f".trivyignore: {line} needs a comment above it"


# ---------------------------------------------------------------------------
# Placement and enforcement on the cluster (issue 14 item 13)
# ---------------------------------------------------------------------------


def test_system_node_group_is_tainted_for_addons():
    """Workers cannot land on `system`, and the add-ons that tolerate the taint are placed there
    (deploy/argocd/addons.yaml; charts-check asserts their values)."""
    eks = module_calls(MODULES / "eks" / "main.tf")["eks"]
    system = eks["eks_managed_node_groups"]["system"]
    assert system["capacity_type"] == "ON_DEMAND"
    taints = list(system["taints"].values())
    assert taints == [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NO_SCHEDULE"}]
    assert system["labels"]["jobfleet.io/role"] == "system"


def test_network_policies_are_enforced_and_prometheus_has_volumes():
    eks = module_calls(MODULES / "eks" / "main.tf")["eks"]
    cni = eks["addons"]["vpc-cni"]
    assert json.loads(cni["configuration_values"].removeprefix("${jsonencode(").removesuffix(")}").replace(" = ", ": ")
                      .replace("enableNetworkPolicy", '"enableNetworkPolicy"')) == {"enableNetworkPolicy": "true"}
    ebs = eks["addons"]["aws-ebs-csi-driver"]["pod_identity_association"][0]
    assert ebs["service_account"] == "ebs-csi-controller-sa"
    roles = {n: b for _, n, b in resources(MODULES / "eks" / "main.tf", "aws_iam_role")}
    assert roles["ebs_csi"]["permissions_boundary"] == "${var.permissions_boundary_arn}"
    attach = {n: b for _, n, b in resources(MODULES / "eks" / "main.tf", "aws_iam_role_policy_attachment")}
    assert attach["ebs_csi"]["policy_arn"].endswith(":iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy")


@pytest.mark.parametrize("env", ENVS)
def test_gpu_quota_and_spot_role_are_automated(env):
    """docs/infra.md "Zero to a running fleet": the account prerequisites Terraform can make are made by it."""
    res = {(t, n): b for t, n, b in resources(MODULES / "karpenter" / "main.tf")}
    assert res[("aws_iam_service_linked_role", "spot")]["aws_service_name"] == "spot.amazonaws.com"
    quota = res[("aws_servicequotas_service_quota", "gpu_vcpus")]
    assert quota["service_code"] == "ec2" and quota["quota_code"] == "L-DB2E81BA"
    tfvars = load_tfvars(ENVIRONMENTS / env / "terraform.tfvars")
    assert tfvars["gpu_vcpu_quota"] >= tfvars["karpenter_ai"]["cpu_limit"], (
        f"{env}: the ai NodePool's cpu limit is unreachable under the requested G-instance quota")
    assert module_calls(ENVIRONMENTS / env / "main.tf")["karpenter"]["gpu_vcpu_quota"] == "${var.gpu_vcpu_quota}"
