"""Invariants of the delivery files: GitHub workflows and the Dockerfile."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT, WORKFLOWS, load_yaml

SHA_PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v[0-9]+\.[0-9]+\.[0-9]+\s*$")


def _jobs(doc):
    return doc.get("jobs", {})


def _steps(doc):
    for job_name, job in _jobs(doc).items():
        for step in job.get("steps", []) or []:
            yield job_name, job, step


def test_expected_workflows_exist():
    names = {p.name for p in WORKFLOWS.glob("*.yml")}
    assert {"ci.yml", "docker-build-push.yml", "terraform-plan-apply.yml", "release.yml"} <= names


def test_every_action_is_pinned_by_sha_with_version_comment(workflow_files):
    for path in workflow_files:
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            m = re.match(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$", line)
            if not m:
                continue
            ref, rest = m.groups()
            if ref.startswith("./"):
                continue
            assert SHA_PINNED.match(ref), f"{path.name}:{lineno}: {ref} is not pinned to a full commit SHA"
            assert VERSION_COMMENT.search(rest), f"{path.name}:{lineno}: add a `# vX.Y.Z` comment"


def test_least_privilege_permissions(workflow_files):
    for path in workflow_files:
        doc = load_yaml(path)
        assert doc.get("permissions") in ({}, "read-all", {"contents": "read"}), f"{path.name}: top-level permissions must be {{}} or read"
        for name, job in _jobs(doc).items():
            assert "permissions" in job, f"{path.name}: job {name} must declare its permissions"
            perms = job["permissions"] or {}
            assert perms != "write-all", f"{path.name}: job {name} has write-all"


def test_id_token_only_where_aws_is_used(workflow_files):
    for path in workflow_files:
        doc = load_yaml(path)
        for name, job in _jobs(doc).items():
            perms = job.get("permissions") or {}
            if perms.get("id-token") == "write" and "steps" in job:
                uses = [str(s.get("uses", "")) for s in job["steps"]]
                assert any(u.startswith("aws-actions/configure-aws-credentials@") for u in uses), (
                    f"{path.name}: {name} requests id-token without using it"
                )


def test_checkout_does_not_persist_credentials(workflow_files):
    for path in workflow_files:
        for job, _, step in _steps(load_yaml(path)):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert (step.get("with") or {}).get("persist-credentials") is False, f"{path.name}: {job} checkout persists credentials"


def test_no_dangerous_triggers(workflow_files):
    for path in workflow_files:
        on = load_yaml(path)["on"]
        triggers = on if isinstance(on, (list, str)) else list(on)
        assert "pull_request_target" not in triggers and "workflow_run" not in triggers, path.name


def test_ci_runs_make_test_and_infra_checks():
    doc = load_yaml(WORKFLOWS / "ci.yml")
    runs = [step.get("run", "") for _, _, step in _steps(doc)]
    assert any(r.strip() == "make test" for r in runs)
    assert any("scripts/infra-check.sh" in r for r in runs)
    assert any("scripts/charts-check.sh" in r for r in runs)
    for name, job in _jobs(doc).items():
        assert str(job["runs-on"]).startswith("ubuntu-"), f"ci.yml: {name} runs where the scripts are portable to"


def test_promtool_install_is_portable_and_verified():
    script = (ROOT / "scripts" / "charts-check.sh").read_text()
    assert re.search(r'PROMETHEUS_DEB_SHA256="[0-9a-f]{64}"', script), "pinned checksum of the fallback .deb"
    assert "sha256sum -c" in script
    assert "fetch_promtool_deb_apt \"$debs\" || fetch_promtool_deb_url \"$debs\"" in script


def test_image_is_pushed_with_oidc_sbom_and_provenance():
    doc = load_yaml(WORKFLOWS / "docker-build-push.yml")
    assert "workflow_call" in doc["on"] and doc["on"]["push"]["branches"] == ["main"]
    steps = [s for _, _, s in _steps(doc)]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("aws-actions/configure-aws-credentials@") for u in uses)
    build = next(s for s in _jobs(doc)["image"]["steps"] if s.get("uses", "").startswith("docker/build-push-action@"))
    assert build["with"]["push"] is True
    assert build["with"]["sbom"] is True
    assert str(build["with"]["provenance"]).startswith("mode=max")
    for s in steps:
        assert "aws-access-key-id" not in (s.get("with") or {}), "no long-lived AWS keys"


def test_image_is_built_once_and_promoted_by_digest():
    """docs/infra.md promises promotion: one build per commit (main -> dev), releases copy that image to
    staging and prod and verify the digest; pull requests build the Dockerfile without pushing."""
    doc = load_yaml(WORKFLOWS / "docker-build-push.yml")
    jobs = _jobs(doc)
    builders = [name for name, job in jobs.items() for s in job.get("steps", [])
                if s.get("uses", "").startswith("docker/build-push-action@")]
    assert sorted(builders) == ["build", "image"], builders
    assert jobs["build"]["if"] == "github.event_name == 'pull_request'"
    pr_build = next(s for s in jobs["build"]["steps"] if s.get("uses", "").startswith("docker/build-push-action@"))
    assert pr_build["with"]["push"] is False
    assert "id-token" not in jobs["build"]["permissions"], "pull requests assume no AWS role"
    assert "Dockerfile" in doc["on"]["pull_request"]["paths"]
    assert "inputs.version == ''" in jobs["image"]["if"], "releases never rebuild"
    assert "strategy" not in jobs["image"], "one build, for dev"
    promote = jobs["promote"]
    assert promote["if"] == "inputs.version != ''"
    assert promote["strategy"]["matrix"]["target"] == ["staging", "prod"]
    run = next(s for s in promote["steps"] if "run" in s)["run"]
    assert "imagetools create" in run and "@${digest}" in run, "copied by digest"
    assert '"$copied" != "$digest"' in run and "exit 1" in run, "the copy's digest is verified"
    assert "sha-${{ github.sha }}" in next(s for s in promote["steps"] if "run" in s)["env"]["SOURCE"]


def test_base_images_are_pinned_by_digest():
    froms = [l.split()[1] for l in (ROOT / "Dockerfile").read_text().splitlines() if l.startswith("FROM ")]
    external = [f for f in froms if ":" in f or "/" in f]
    assert external, froms
    for image in external:
        assert re.search(r"@sha256:[0-9a-f]{64}$", image), f"{image} is not pinned by digest"


def test_release_tags_are_protected_in_the_documented_rules():
    """Only release managers may create, move or delete `v*` tags (a tag promotes an image to prod):
    the tag ruleset is part of the documented GitHub rules (and scripts/platform-bootstrap.sh applies it)."""
    doc = (ROOT / "docs" / "infra.md").read_text()
    assert "release-tags" in doc and "refs/tags/v*" in doc
    script = (ROOT / "scripts" / "platform-bootstrap.sh").read_text()
    assert '"name": "release-tags"' in script and '"target": "tag"' in script and "refs/tags/v*" in script
    for rule in ("creation", "update", "deletion"):
        assert f'{{"type": "{rule}"}}' in script


def test_dev_follows_deploy_branch_moved_after_the_image_push():
    doc = load_yaml(WORKFLOWS / "docker-build-push.yml")
    job = _jobs(doc)["deploy-dev"]
    assert job["needs"] == "image"
    assert job["if"] == "github.event_name == 'push' && inputs.version == ''", "only main builds (sha-*) move dev"
    assert job["permissions"] == {"contents": "write"}
    run = job["steps"][0]["run"]
    assert "refs/heads/deploy/dev" in run and "force=false" in run, "fast-forward only"
    tags = next(s for _, _, s in _steps(doc) if s.get("id") == "meta")["with"]["tags"]
    assert "type=sha,prefix=sha-,format=long" in tags, "sha-<full commit>, as $ARGOCD_APP_REVISION"
    appset = (ROOT / "deploy" / "argocd" / "applicationset.yaml").read_text()
    assert "targetRevision: deploy/dev" in appset and "value: sha-$ARGOCD_APP_REVISION" in appset


def test_release_builds_image_charts_and_notes():
    doc = load_yaml(WORKFLOWS / "release.yml")
    assert doc["on"]["push"]["tags"]
    jobs = _jobs(doc)
    assert jobs["image"]["uses"] == "./.github/workflows/docker-build-push.yml"
    text = (WORKFLOWS / "release.yml").read_text()
    for chart in ("charts/worker", "charts/observability", "charts/platform"):
        assert chart in text
    assert "--generate-notes" in text
    assert jobs["release"]["permissions"] == {"contents": "write"}


def test_terraform_plan_on_pr_apply_behind_environments():
    doc = load_yaml(WORKFLOWS / "terraform-plan-apply.yml")
    on = doc["on"]
    assert "pull_request" in on and "workflow_dispatch" in on
    assert on["workflow_dispatch"]["inputs"]["environment"]["options"] == ["dev", "staging", "prod"]
    jobs = _jobs(doc)
    assert jobs["plan"]["strategy"]["matrix"]["environment"] == ["dev", "staging", "prod"]
    assert jobs["apply-dev"]["with"] == {"environment": "dev", "mode": "apply"}
    assert jobs["apply-staging"]["needs"] == "apply-dev"
    # prod is only reachable through workflow_dispatch on main.
    for name, job in jobs.items():
        if (job.get("with") or {}).get("environment") == "prod":
            raise AssertionError(f"{name}: prod must not be applied automatically")
    assert "refs/heads/main" in jobs["dispatch"]["if"]

    env_doc = load_yaml(WORKFLOWS / "terraform-env.yml")
    apply = _jobs(env_doc)["apply"]
    assert apply["environment"] == "${{ inputs.environment }}"
    assert apply["concurrency"]["cancel-in-progress"] is False
    plan = _jobs(env_doc)["plan"]
    assert "environment" not in plan
    assert any(s.get("uses", "").startswith("actions/upload-artifact@") for s in plan["steps"])


# ---------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dockerfile():
    return (ROOT / "Dockerfile").read_text()


def _instructions(text):
    joined = re.sub(r"\\\n", " ", text)
    return [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def test_dockerfile_contract(dockerfile):
    ins = _instructions(dockerfile)
    froms = [i for i in ins if i.startswith("FROM ")]
    assert len(froms) >= 2, "multi-stage build"
    assert "distroless" in froms[-1] and "latest" not in froms[-1]
    final = ins[ins.index(froms[-1]) :]
    assert "USER 65532:65532" in final or "USER 65532" in final
    assert "EXPOSE 9090" in final
    assert 'ENTRYPOINT ["worker"]' in final
    assert 'CMD ["run"]' in final
    build = " ".join(i for i in ins if i.startswith("RUN"))
    for pkg in ("cmake", "nasm", "pkg-config"):
        assert re.search(rf"apt-get install[^&]*\b{pkg}\b", build), f"builder must install {pkg}"
    assert "cargo build --release --locked --package worker" in build or "cargo build --release --locked -p worker" in build
    assert "target/release/worker" in build
    assert "cargo chef cook" in build, "dependency layer caching"


def test_dockerignore_keeps_context_small():
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for entry in ("**/target/", ".git/", ".tools/"):
        assert entry in ignored
