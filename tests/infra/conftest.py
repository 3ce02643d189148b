"""Helpers for the infra invariant tests: parse HCL (python-hcl2) and YAML.

python-hcl2 8.x keeps HCL string quotes and marks blocks with `__is_block__`;
`load_tf` normalises that into plain Python values: block labels and string
literals lose their quotes, interpolations keep their `${...}` form.
"""

from __future__ import annotations

import functools
from pathlib import Path

import hcl2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "infra" / "terraform"
MODULES = TF / "modules"
ENVIRONMENTS = TF / "environments"
WORKFLOWS = ROOT / ".github" / "workflows"

ENVS = ("dev", "staging", "prod")
POOLS = ("media", "notifications", "ai")
MODULE_NAMES = ("vpc", "eks", "rds", "ecr", "s3", "sqs", "karpenter", "worker-iam", "github-oidc")


def unquote(value):
    if isinstance(value, str) and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        inner = value[1:-1]
        # A plain literal (no interpolation) is returned bare.
        return inner
    return value


def normalise(node):
    if isinstance(node, dict):
        return {unquote(k): normalise(v) for k, v in node.items() if k != "__is_block__"}
    if isinstance(node, list):
        return [normalise(v) for v in node]
    return unquote(node)


@functools.cache
def load_tf(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return normalise(hcl2.load(fh))


def tf_files(base: Path = TF):
    return sorted(p for p in base.rglob("*.tf") if ".terraform" not in p.parts)


def blocks(doc: dict, kind: str):
    """Yield (type, name, body) for resource/data blocks, (name, body) for others."""
    for entry in doc.get(kind, []):
        for first, rest in entry.items():
            if kind in ("resource", "data"):
                for name, body in rest.items():
                    yield first, name, body
            else:
                yield first, rest


def resources(path: Path, rtype: str | None = None, kind: str = "resource"):
    for t, name, body in blocks(load_tf(path), kind):
        if rtype is None or t == rtype:
            yield t, name, body


def module_calls(path: Path):
    return dict(blocks(load_tf(path), "module"))


def variables(path: Path):
    return dict(blocks(load_tf(path), "variable"))


def outputs(path: Path):
    return dict(blocks(load_tf(path), "output"))


def load_tfvars(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return normalise(hcl2.load(fh))


def load_yaml(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    # YAML 1.1: the `on:` key of a workflow parses as boolean True.
    if isinstance(doc, dict) and True in doc:
        doc["on"] = doc.pop(True)
    return doc


@pytest.fixture(scope="session")
def workflow_files():
    files = sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))
    assert files, "no workflow files"
    return files
