"""``prose-mesh fuzz [TARGET ...] --runs N [--corpus DIR] [--json]``: Atheris on every parser.

Coverage-guided fuzzing (ADVERSARIAL §4 E3, §7) with the E3 limits: ``-timeout=1`` (a hang is
an input that takes more than 1 s) and ``-rss_limit_mb=256``. Each target runs in its own
process; the report gives executions, execs/s, corpus size, coverage and findings per target.
Exit 1 when any target has a finding (its input is under ``--findings``), 2 on bad input.
Needs the ``fuzz`` extra (``pip install -e '.[fuzz]'``): Atheris is x86-64 Linux only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path
from typing import Any

from prose_mesh.errors import ProseMeshError
from prose_mesh.fuzz import CANARY, RSS_LIMIT_MB, TARGET_NAMES, TIMEOUT_S, run_targets


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "fuzz", help="coverage-guided fuzzing (Atheris) of every parser",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    parser.add_argument("targets", nargs="*", metavar="TARGET",
                        help=f"parsers to fuzz (default: all); one of {', '.join(TARGET_NAMES)}"
                             f"; '{CANARY}' is a deliberately broken one (self-test)")
    parser.add_argument("--runs", type=int, default=100_000,
                        help="executions per target (default: 100000, the E3 CI budget)")
    parser.add_argument("--corpus", type=Path, default=None,
                        help="keep the corpus in DIR/TARGET (read at start, grown by the run)")
    parser.add_argument("--findings", type=Path, default=Path("fuzz-findings"),
                        help="where crashing inputs go, DIR/TARGET/crash-* (default: "
                             "fuzz-findings)")
    parser.add_argument("--seed", type=int, default=0,
                        help="libFuzzer random seed (default 0: a random one)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="targets run side by side (default: 1)")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list:
        print("\n".join(TARGET_NAMES))
        return 0
    unknown = [t for t in args.targets if t not in (*TARGET_NAMES, CANARY)]
    if unknown:
        raise ProseMeshError(f"unknown fuzz target(s) {', '.join(unknown)}; see --list",
                             reason="USAGE")
    if args.runs < 1 or args.jobs < 1:
        raise ProseMeshError("--runs and --jobs must be at least 1", reason="USAGE")
    if importlib.util.find_spec("atheris") is None:
        raise ProseMeshError("atheris is not installed: pip install -e '.[fuzz]' "
                             "(x86-64 Linux wheels only)", reason="MISSING")
    names = args.targets or list(TARGET_NAMES)
    results = run_targets(names, args.runs, corpus=args.corpus, seed=args.seed,
                          findings_dir=args.findings, jobs=args.jobs)
    findings = sum(len(r.findings) for r in results)
    if args.json:
        print(json.dumps({"runs": args.runs, "timeout_s": TIMEOUT_S,
                          "rss_limit_mb": RSS_LIMIT_MB, "findings": findings,
                          "targets": [r.to_json() for r in results]}, indent=2))
    else:
        print(f"{'target':<18} {'execs':>9} {'execs/s':>9} {'corpus':>6} {'cov':>5} "
              f"{'rss MB':>6}  findings")
        for r in results:
            print(f"{r.target:<18} {r.execs:>9} {r.execs_per_s:>9.0f} {r.corpus:>6} "
                  f"{r.coverage:>5} {r.peak_rss_mb:>6}  {len(r.findings) or '-'}")
            for f in r.findings:
                print(f"  finding: {f}")
            if r.findings:
                print("  " + r.log_tail.replace("\n", "\n  "))
        print(f"prose-mesh fuzz: {len(results)} target(s), {findings} finding(s)")
    return 1 if findings else 0
