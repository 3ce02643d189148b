"""`terraform test` of the provider-free submodules (modules/*/modules/*/tests/*.tftest.hcl).

They need no provider, so they run offline: modules/sqs/modules/topology names every queue of a
fourth pool (`reports`: FIFO, high throughput, priority queue `urgent`) and its DLQs by CONTRACTS.md;
modules/worker-iam/modules/grants gives that pool's role all its queues and DLQs and the operators all
of them. Terraform >= 1.6 (`terraform test`) from PATH or $INFRA_CHECK_TERRAFORM; the submodule is
copied to a temporary directory so `terraform init` writes nothing into the repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from conftest import MODULES

SUBMODULES = sorted(p.parent for p in MODULES.glob("*/modules/*/versions.tf"))


def terraform() -> str:
    tf = os.environ.get("INFRA_CHECK_TERRAFORM") or shutil.which("terraform")
    if not tf:
        pytest.fail("terraform >= 1.6 is needed for `terraform test` (PATH or INFRA_CHECK_TERRAFORM)")
    out = subprocess.run([tf, "version"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"Terraform v(\d+)\.(\d+)", out)
    if not m or (int(m.group(1)), int(m.group(2))) < (1, 6):
        pytest.fail(f"terraform >= 1.6 is needed for `terraform test`, found: {out.splitlines()[0]}")
    return tf


def test_there_are_submodules_with_tests():
    assert {p.name for p in SUBMODULES} >= {"topology", "grants"}


@pytest.mark.parametrize("sub", SUBMODULES, ids=lambda p: str(p.relative_to(MODULES)))
def test_terraform_test_passes(sub, tmp_path):
    tf = terraform()
    work = tmp_path / sub.name
    shutil.copytree(sub, work)
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": os.devnull}
    init = subprocess.run([tf, "init", "-backend=false", "-input=false", "-no-color"], cwd=work, env=env,
                          capture_output=True, text=True)
    assert init.returncode == 0, init.stdout + init.stderr
    run = subprocess.run([tf, "test", "-no-color"], cwd=work, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    summary = re.search(r"(\d+) passed, (\d+) failed", run.stdout)
    assert summary and int(summary.group(1)) > 0 and summary.group(2) == "0", run.stdout
