"""Run the ADVERSARIAL.md §4 scenario files of scripts/attacks/ with their catalogue figures.

The catalogue figures come from :func:`prose_mesh.scenario.figures_adversarial.add_figures`,
which the runner calls after ``attacks.finish``: every run reports them.

Also a command line for the netns module, which runs several files at once in subprocesses:
``python tests/adversarial/catalogue_support.py FILE --backend netns --out DIR`` prints the
report path and exits 0 when every expectation held.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import trio
import trio.testing

from prose_mesh.scenario import load_scenario, runner

REPO = Path(__file__).resolve().parents[2]
ATTACKS = REPO / "scripts" / "attacks"


async def run(name: str, out: Path, *, backend: str = "memory", **kw: Any) -> runner.RunResult:
    """Run ``scripts/attacks/<name>`` (inside Trio; memory wants the MockClock)."""
    path = Path(name) if Path(name).exists() else ATTACKS / name
    scen = load_scenario(path)
    return await runner.run_scenario(scen, backend=backend, out=out, capture="air", **kw)


def figure(report: dict[str, Any], metric: str, stat: str = "max") -> float | None:
    """One figure of a report (None when nobody measured it)."""
    f = report["figures"].get(metric)
    return None if f is None else f.get(stat)


def failures_besides_latency(report: dict[str, Any]) -> list[str]:
    """Failures that are not a latency/delay bound: those are for ``bench scenario`` on a busy
    CI machine (tests/scenario/test_runner.py does the same)."""
    timing = ("delay", "setup_time", "delivery_time", "latency", "switchover")
    return [
        f
        for f in report["failures"]
        if "not measured" in f or not any(word in f.split(" ")[0] for word in timing)
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scenario")
    p.add_argument("--backend", default="netns", choices=("netns", "memory"))
    p.add_argument("--out", default="captures")
    a = p.parse_args(argv)
    clock = trio.testing.MockClock(autojump_threshold=0) if a.backend == "memory" else None
    result = trio.run(lambda: run(a.scenario, Path(a.out), backend=a.backend), clock=clock)
    print(result.path / "report.json", flush=True)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
