"""Run the ADVERSARIAL.md §4 scenario files of scripts/attacks/ with their catalogue figures.

The catalogue figures come from :func:`prose_mesh.scenario.figures_adversarial.add_figures`,
which the runner is to call after ``attacks.finish`` (the lead wires it into
``runner.run_scenario``). Until it does, :func:`catalogue_figures` chains it after
``attacks.finish`` for the duration of a run (after flushing the medium's pending events, which
``attacks.finish`` reads) - the same calls at the same points, not a stand-in: the figures are
computed from the real run. Once the runner calls it itself this
module notices and does nothing (the function is idempotent anyway).

Also a command line for the netns module, which runs several files at once in subprocesses:
``python tests/adversarial/catalogue_support.py FILE --backend netns --out DIR`` prints the
report path and exits 0 when every expectation held.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import trio
import trio.testing

from prose_mesh.scenario import attacks, load_scenario, runner
from prose_mesh.scenario.figures_adversarial import add_figures, flush_medium_events

REPO = Path(__file__).resolve().parents[2]
ATTACKS = REPO / "scripts" / "attacks"


def runner_wired() -> bool:
    """Does ``run_scenario`` already call :func:`add_figures`?"""
    return "add_figures" in inspect.getsource(runner.run_scenario)


@contextmanager
def catalogue_figures() -> Iterator[None]:
    """Make this process's runs compute the catalogue figures (see the module docstring)."""
    if runner_wired():
        yield
        return
    original = attacks.finish

    def finish(state: Any) -> None:
        flush_medium_events(state)
        original(state)
        add_figures(state)

    attacks.finish = finish  # type: ignore[assignment]
    try:
        yield
    finally:
        attacks.finish = original  # type: ignore[assignment]


async def run(name: str, out: Path, *, backend: str = "memory", **kw: Any) -> runner.RunResult:
    """Run ``scripts/attacks/<name>`` (inside Trio; memory wants the MockClock)."""
    path = Path(name) if Path(name).exists() else ATTACKS / name
    scen = load_scenario(path)
    with catalogue_figures():
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
