#!/usr/bin/env python3
"""Renders charts/worker for the fleet harness: `helm template` through charts/ci/helm.py (the same
helm-python-sdk toolchain scripts/charts-check.sh uses), printed as one JSON list of objects.

    render.py CHART -f VALUES [-f VALUES]... [--set k=v]... [-n NAMESPACE] [--name RELEASE]
    render.py --slos charts/observability/rules/jobfleet.rules.yaml    (per-pool objectives)
"""
import argparse
import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "charts" / "ci"))
import helm  # noqa: E402  (charts/ci/helm.py)


def slos(rules_file: str) -> int:
    """The per-pool objectives recorded in the observability rules (jobfleet:queue_*_slo_seconds)."""
    out: dict = {}
    for group in yaml.safe_load(Path(rules_file).read_text())["groups"]:
        for rule in group.get("rules", []):
            record = rule.get("record", "")
            if record.startswith("jobfleet:queue_") and record.endswith("_slo_seconds"):
                value = float(str(rule["expr"]).strip().removeprefix("vector(").removesuffix(")"))
                out.setdefault(rule["labels"]["pool"], {})[record.removeprefix("jobfleet:")] = value
    json.dump(out, sys.stdout)
    return 0


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--slos":
        return slos(sys.argv[2])
    parser = argparse.ArgumentParser()
    parser.add_argument("chart")
    parser.add_argument("-f", "--values", action="append", default=[])
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("-n", "--namespace", default="jobs")
    parser.add_argument("--name", default="jobfleet")
    args = parser.parse_args()
    values = helm.load_values(args.values, args.set)
    try:
        text = helm.template(args.name, args.chart, values, args.namespace)
    except helm.helm.HelmError as exc:
        print(f"helm template failed: {exc}", file=sys.stderr)
        return 1
    objects = [doc for doc in yaml.safe_load_all(text) if doc]
    json.dump(objects, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
