"""``prose-mesh run SCENARIO``: play a scenario on the emulator and judge its expectations.

Exit codes: 0 every expectation met, 1 an expectation failed, 2 bad input (an invalid scenario,
something the runner does not support yet, or an environment that cannot run the backend).
Default backend: ``netns`` when this process may create namespaces (root or CAP_NET_ADMIN),
else ``memory`` — and the command says which and why.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from prose_mesh.errors import ConfigError, EnvironmentProblem
from prose_mesh.medium.session import CAPTURE_MODES


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "run", help="run a scenario and check its expectations"
    )
    add_run_arguments(parser)
    parser.add_argument("--out", default="captures", help="output folder (default: captures)")
    parser.add_argument("--capture", choices=CAPTURE_MODES, default="air",
                        help="air: air.pcapng; ue: also one pcapng per UE; none")
    parser.set_defaults(func=run)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", help="scenario YAML file")
    parser.add_argument("--backend", choices=("netns", "memory"), default=None,
                        help="netns (needs root/CAP_NET_ADMIN) or memory (virtual time); "
                             "default: netns when allowed, else memory")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: the scenario's)")


def choose_backend(requested: str | None) -> tuple[str, str | None]:
    """(backend, note): the requested one, or netns when allowed, else memory with the reason."""
    from prose_mesh.medium.air import _netns_refusal

    if requested is not None:
        if requested == "netns":
            refusal = _netns_refusal()
            if refusal is not None:
                raise EnvironmentProblem(f"netns backend refused: {refusal}")
        return requested, None
    refusal = _netns_refusal()
    if refusal is None:
        return "netns", "netns backend (default when allowed)"
    return "memory", f"memory backend used as fallback: {refusal}"


def load_and_run(args: argparse.Namespace, *, out: str, capture: str,
                 quiet: bool = False) -> tuple[int, dict[str, Any] | None]:
    """Shared by ``run``, ``demo`` and ``bench scenario``: (exit code, report or None)."""
    from prose_mesh.scenario.loader import ScenarioError, load_scenario
    from prose_mesh.scenario.runner import run_scenario_sync

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2, None
    try:
        backend, note = choose_backend(args.backend)
        if note and not quiet:
            print(note, file=sys.stderr)
        result = run_scenario_sync(scenario, backend=backend, seed=args.seed, out=out,
                                   capture=capture, backend_note=note)
    except (ConfigError, EnvironmentProblem) as exc:
        print(f"prose-mesh run: {exc}", file=sys.stderr)
        return 2, None
    return result.exit_code, result.report


def run(args: argparse.Namespace) -> int:
    from prose_mesh.scenario.report import print_summary

    code, report = load_and_run(args, out=args.out, capture=args.capture)
    if report is not None:
        print_summary(report)
    return code
