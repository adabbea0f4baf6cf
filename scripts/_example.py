"""Shared by the Python examples in scripts/: run a scenario built as objects and say where
its report is. Not an example itself (hence the underscore)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Run from a checkout without installing: the project root goes first on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prose_mesh.scenario.html import render_html
from prose_mesh.scenario.model import Scenario
from prose_mesh.scenario.runner import run_scenario_sync


def main(scenario: Scenario, argv: list[str] | None = None) -> int:
    """Run ``scenario`` (memory backend by default: virtual time, no root needed), print the
    verdict and the paths of report.json and report.html; exit code as ``prose-mesh run``."""
    parser = argparse.ArgumentParser(description=scenario.description or scenario.name)
    parser.add_argument("--backend", choices=("memory", "netns"), default="memory")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", default="captures")
    parser.add_argument("--print-yaml", action="store_true",
                        help="print the scenario as YAML (what the twin file holds) and exit")
    args = parser.parse_args(argv)
    if args.print_yaml:
        print(scenario.to_yaml(), end="")
        return 0
    result = run_scenario_sync(scenario, backend=args.backend, seed=args.seed, out=args.out)
    report = result.report
    print(f"{scenario.name}: {'passed' if result.passed else 'FAILED'}")
    for failure in report["failures"]:
        print(f"  x {failure}")
    for key in ("call.setup_time", "media.delay", "gmk.delivery_time"):
        fig = report["figures"].get(key)
        if fig and fig["count"]:
            print(f"  {key}: p50 {fig['p50']} s, p95 {fig['p95']} s (n={fig['count']:.0f})")
    print(f"report: {result.path / 'report.json'}")
    print(f"html: {render_html(result.path)}")
    return 130 if report.get("interrupted") else result.exit_code
