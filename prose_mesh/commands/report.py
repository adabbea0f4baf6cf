"""``prose-mesh report RUN [--html] [--ues a,b] [--out captures]``: look at a finished run again.

RUN is a run folder, a run id under ``--out`` (a unique prefix is enough) or ``last``. The
command re-prints the terminal summary from report.json; ``--check`` re-checks the run's
invariants offline (:func:`prose_mesh.scenario.invariants.check_run`); ``--html`` (re)renders
report.html (e.g. with other UEs on the sequence chart: ``--ues ue1,ue7``). Exit codes: 0 the
run met every expectation, 1 it did not (or was interrupted), 2 bad input (no such run, an
unreadable report).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from prose_mesh.errors import ConfigError


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "report", help="re-print a run's summary and (re)render its report.html")
    parser.add_argument("run", help="run folder, run id (or unique prefix) under --out, or 'last'")
    parser.add_argument("--out", default="captures", help="runs folder (default: captures)")
    parser.add_argument("--html", action="store_true", help="(re)render report.html")
    parser.add_argument("--check", action="store_true",
                        help="re-check the run's invariants offline from its event log and "
                             "captures (ADVERSARIAL.md §5)")
    parser.add_argument("--ues", default=None,
                        help="UEs of the sequence chart, comma-separated (default: the busiest)")
    parser.set_defaults(func=run)


def find_run(run: str, root: str | Path = "captures") -> Path:
    """The folder of ``run``: a path, ``last`` (newest under ``root``), an id or a unique
    prefix of one under ``root``. ConfigError when there is no such run or it is ambiguous."""
    given = Path(run)
    if given.is_dir():
        return given
    base = Path(root)
    runs = sorted(p for p in base.iterdir() if (p / "manifest.json").exists()) \
        if base.is_dir() else []
    if run == "last":
        if not runs:
            raise ConfigError(f"no runs under {base}/")
        return max(runs, key=lambda p: (p / "manifest.json").stat().st_mtime)
    matches = [p for p in runs if p.name == run] or [p for p in runs if p.name.startswith(run)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ConfigError(f"no run {run!r} (not a folder, nor a run under {base}/; "
                          "see 'prose-mesh ls')")
    raise ConfigError(f"run {run!r} is ambiguous under {base}/: "
                      + ", ".join(p.name for p in matches[:5]))


def run(args: argparse.Namespace) -> int:
    from prose_mesh.scenario.html import load_run, render_html
    from prose_mesh.scenario.report import print_summary

    folder = find_run(args.run, args.out)
    report, manifest = load_run(folder)
    report.setdefault("path", str(folder))
    try:
        print_summary(report)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{folder}/report.json: not a prose_mesh report "
                          f"(missing or bad field {exc})") from None
    if report.get("interrupted"):
        print(f"interrupted at {report['interrupted'].get('at')} s "
              f"(manifest status: {manifest.get('status')})")
    if args.html:
        ues = [u.strip() for u in args.ues.split(",") if u.strip()] if args.ues else None
        print(f"html: {render_html(folder, ues=ues)}", flush=True)
    elif (folder / "report.html").exists():
        print(f"html: {folder / 'report.html'}")
    elif args.ues:
        print("prose-mesh report: --ues is used with --html", file=sys.stderr)
    passed = not report.get("failures") and not report.get("interrupted")
    if args.check:
        from prose_mesh.scenario.invariants import check_run

        canary = bytes.fromhex(report["canary"]) if report.get("canary") else None
        result = check_run(folder, canary=canary, report=report)
        for name, inv in result["invariants"].items():
            mark = "ok " if inv.get("ok") else "VIOLATED"
            print(f"  {mark} {name}: {inv.get('detail', '')}")
        print(f"invariants re-checked: {'all hold' if result['valid'] else 'violated'}")
        passed = passed and result["valid"]
    return 0 if passed else 1
