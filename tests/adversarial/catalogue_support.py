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
    CI machine (tests/scenario/test_runner.py does the same). A ``process.rss_mb`` bound is left
    out on the memory backend: there the run shares the pytest worker process, whose peak RSS is
    that of every test it ran before (the bound is judged in the runs of their own process, on
    netns and from the command line)."""
    timing = ("delay", "setup_time", "delivery_time", "latency", "switchover")
    shared = ("process.rss_mb",) if report.get("backend") == "memory" else ()
    return [
        f
        for f in report["failures"]
        if ("not measured" in f or not any(word in f.split(" ")[0] for word in timing))
        and not f.startswith(shared)
    ]


PARALLEL = 3  # runs at once (2 cores; each run is mostly one busy Python process)
RUN_TIMEOUT = 240.0  # s per run (each file plays 10-30 s of real time)


def run_pool(files: tuple[str, ...], out: Path, what: str) -> tuple[dict[str, Any], float]:
    """Run scenario ``files`` of scripts/attacks/ on netns as subprocesses (this module's
    command line), PARALLEL at a time; returns ({file: report}, wall time). Root only; checks
    that nothing is left in the root namespace."""
    import json
    import subprocess
    import time

    import pytest
    from support import is_root, pm_namespaces, root_links  # (not on the subprocess's path)

    if not is_root():
        pytest.skip("netns backend needs root (CAP_NET_ADMIN); the memory tests still ran")
    links, named = root_links(), pm_namespaces()
    todo = list(files)
    running: dict[str, tuple[subprocess.Popen[str], float]] = {}
    done: dict[str, tuple[int, str, str]] = {}
    t0 = time.monotonic()
    try:
        while todo or running:
            while todo and len(running) < PARALLEL:
                name = todo.pop(0)
                cmd = [
                    sys.executable,
                    str(Path(__file__)),
                    str(ATTACKS / name),
                    "--backend",
                    "netns",
                    "--out",
                    str(out / name),
                ]
                proc = subprocess.Popen(
                    cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )
                running[name] = (proc, time.monotonic())
            for name, (proc, started) in list(running.items()):
                if proc.poll() is None and time.monotonic() - started < RUN_TIMEOUT:
                    continue
                if proc.poll() is None:
                    proc.terminate()  # the run's own cleanup removes its namespaces
                    try:
                        proc.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                stdout, stderr = proc.communicate()
                done[name] = (proc.returncode, stdout, stderr)
                del running[name]
            time.sleep(0.2)
    finally:
        for proc, _ in running.values():
            proc.kill()
            proc.wait()
    wall = time.monotonic() - t0
    reports = {}
    for name, (_rc, stdout, stderr) in done.items():
        lines = stdout.strip().splitlines()
        path = Path(lines[-1]) if lines else None
        reports[name] = (
            json.loads(path.read_text())
            if path is not None and path.exists()
            else {"failures": [f"no report: {stderr[-2000:]}"]}
        )
    assert root_links() - links == set(), "interfaces left in the root namespace"
    assert pm_namespaces() - named == set(), "pm- namespaces left behind"
    print(f"\n{len(files)} {what} files on netns in {wall:.1f} s wall ({PARALLEL} at a time)")
    return reports, wall


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
