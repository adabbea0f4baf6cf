"""``prose-mesh demo``: the main job of ``make demo`` — run ``scripts/adhoc-20.yaml``.

Twenty out-of-the-box UEs form an ad-hoc group and talk (see the scenario file). Runs on the
netns backend when this process may create namespaces, else on the memory backend (and says
so); shows a live status line while it runs, prints what each UE accepted and rejected, the
figures, and the paths of report.json and report.html. Exit codes as ``prose-mesh run``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "adhoc-20.yaml"


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("demo", help="run the main demonstration")
    parser.add_argument("--backend", choices=("netns", "memory"), default=None,
                        help="default: netns when allowed, else memory")
    parser.add_argument("--out", default="captures", help="output folder (default: captures)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from prose_mesh.commands.run import LiveStatus, finish, load_and_run

    ns = argparse.Namespace(scenario=str(DEMO), backend=args.backend, seed=None)
    with LiveStatus() as status:
        code, report = load_and_run(ns, out=args.out, capture="air", progress=status)
    if report is not None:
        finish(report)  # the summary, report.json, then report.html
    return code
