#!/usr/bin/env python3
"""A small `helm` command over the Helm v4 Go SDK that PyPI's helm-python-sdk bundles.

helm-python-sdk ships no `helm` executable: it binds `libhelm_c.so` (Helm's Go SDK behind a C ABI)
with ctypes. This script exposes the two subcommands the chart checks need, with helm's flags:

    helm.py lint CHART [-f VALUES]... [--strict] [--kube-version v1.35.0] [-n NAMESPACE]
    helm.py template NAME CHART [-f VALUES]... [--set k=v]... [-n NAMESPACE]

Run it with the project venv: `.tools/charts/venv/bin/python charts/ci/helm.py template ...`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

# helm lint severities (helm's support.Severity): 1 info, 2 warning, 3 error.
SEVERITY = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}

_charts: dict[str, helm.Chart] = {}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge like helm merges several -f files: maps recursively, everything else replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_values(files: list[str | Path], sets: list[str] | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for file in files:
        data = yaml.safe_load(Path(file).read_text()) or {}
        if not isinstance(data, dict):
            raise SystemExit(f"{file}: values must be a mapping")
        values = deep_merge(values, data)
    for expr in sets or []:
        values = deep_merge(values, helm.parse_set_string(expr))
    return values


def load_chart(path: str | Path) -> helm.Chart:
    key = str(Path(path).resolve())
    if key not in _charts:
        _charts[key] = helm.Chart.load(key)
    return _charts[key]


def template(name: str, chart: str | Path, values: dict[str, Any], namespace: str) -> str:
    """Render like `helm template`: documents in template-path order, NOTES.txt left out."""
    rendered = load_chart(chart).render(values, name=name, namespace=namespace, is_install=True)
    docs = []
    for path in sorted(rendered):
        text = rendered[path].strip()
        if not text or path.endswith("NOTES.txt"):
            continue
        if not text.startswith("---"):
            text = "---\n" + text
        docs.append(f"# Source: {path}\n{text}")
    return "\n".join(docs) + "\n"


def lint(chart: str | Path, values: dict[str, Any], strict: bool, kube_version: str | None,
         namespace: str) -> list[str]:
    """Findings at WARNING and above (strict) or ERROR; an empty list means the chart passed."""
    report = helm.lint(str(chart), values, strict=strict, namespace=namespace,
                       kube_version=kube_version, quiet=True)
    floor = 2 if strict else 3
    findings = [f"[{SEVERITY.get(m['severity'], m['severity'])}] {m['path']}: {m['error'].strip()}"
                for m in report.get("messages", []) if m["severity"] >= floor]
    findings += [e.strip() for e in report.get("errors", []) if e.strip() and not any(e.strip() in f for f in findings)]
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="helm.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_lint = sub.add_parser("lint")
    p_lint.add_argument("chart")
    p_tpl = sub.add_parser("template")
    p_tpl.add_argument("name")
    p_tpl.add_argument("chart")
    for p in (p_lint, p_tpl):
        p.add_argument("-f", "--values", action="append", default=[])
        p.add_argument("--set", action="append", default=[])
        p.add_argument("-n", "--namespace", default="default")
    p_lint.add_argument("--strict", action="store_true")
    p_lint.add_argument("--kube-version", default=None)
    args = parser.parse_args(argv)

    values = load_values(args.values, args.set)
    try:
        if args.cmd == "template":
            sys.stdout.write(template(args.name, args.chart, values, args.namespace))
            return 0
        findings = lint(args.chart, values, args.strict, args.kube_version, args.namespace)
    except helm.HelmError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    for finding in findings:
        print(finding)
    print(f"1 chart(s) linted, {'1 chart(s) failed' if findings else '0 chart(s) failed'}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
