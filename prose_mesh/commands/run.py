"""``prose-mesh run SCENARIO``: play a scenario on the emulator and judge its expectations.

Exit codes: 0 every expectation met, 1 an expectation failed, 2 bad input (an invalid scenario,
something the runner does not support yet, or an environment that cannot run the backend),
130 interrupted by Ctrl-C (the conventional 128 + SIGINT, so a script can tell "stopped" from
"failed"): the run stops as if its duration were over and still writes its captures, events,
report.json (marked ``"interrupted"``) and report.html.

While it runs, a live one-line status (phase, virtual or real time, frames, calls, failures)
is drawn on the terminal; nothing is drawn when stdout is not a TTY. At the end: the terminal
summary, the report.json path, then the report.html path.
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
    parser.add_argument("--no-html", action="store_true",
                        help="do not render report.html (report.json is always written)")
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


class LiveStatus:
    """The runner's ``progress(phase, info)`` callback drawn as one live line (rich), on
    stderr so piped output stays clean; a no-op when stdout or stderr is not a terminal.

    Provisioning and attaching get a spinner (provisioning has no per-UE callback, and a
    spinner still shows that hundreds of UEs are being keyed), the running phase a bar over
    the scenario's duration with frames, calls and failures so far.
    """

    def __init__(self, *, enabled: bool | None = None) -> None:
        from rich.console import Console

        if enabled is None:
            enabled = sys.stdout.isatty() and sys.stderr.isatty()
        self.enabled = enabled
        self.console = Console(stderr=True)
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> LiveStatus:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                console=self.console, transient=True)  # fmt: skip
            self._progress.start()
            self._task = self._progress.add_task("starting", total=None, detail="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "interrupted":  # said even when not drawing: the user pressed Ctrl-C
            print(f"prose-mesh run: interrupted at {info.get('t', 0):.1f} s: stopping, "
                  "writing the captures and the report", file=sys.stderr, flush=True)
        if self._progress is None:
            return
        if phase == "running":
            t, duration = float(info.get("t", 0.0)), float(info.get("duration", 0.0))
            detail = (f"{t:.0f}/{duration:.0f} s  frames {info.get('frames', 0)}  "
                      f"calls {info.get('calls', 0)}  failures {info.get('failures', 0)}")
            self._progress.update(self._task, description="running", total=duration or None,
                                  completed=min(t, duration), detail=detail)
        else:
            what = {"provisioning": "provisioning", "attaching": "attaching",
                    "stopping": "stopping", "report": "writing the report",
                    "interrupted": "interrupted: stopping"}.get(phase, phase)  # fmt: skip
            detail = f"{info['ues']} UEs" if "ues" in info else ""
            self._progress.update(self._task, description=what, total=None, detail=detail)


def load_and_run(args: argparse.Namespace, *, out: str, capture: str,
                 quiet: bool = False,
                 progress: Any = None) -> tuple[int, dict[str, Any] | None]:
    """Shared by ``run`` and ``demo``: (exit code, report or None).
    ``progress``: the runner's progress callback (e.g. a :class:`LiveStatus`)."""
    scenario = load_or_say(args.scenario)
    if scenario is None:
        return 2, None
    return run_loaded(args, scenario, out=out, capture=capture, quiet=quiet, progress=progress)


def load_or_say(path: str) -> Any:
    """The scenario at ``path``, or None after printing its problems (file, line, field)."""
    from prose_mesh.scenario.loader import ScenarioError, load_scenario

    try:
        return load_scenario(path)
    except ScenarioError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def run_loaded(args: argparse.Namespace, scenario: Any, *, out: str, capture: str,
               quiet: bool = False, progress: Any = None, command: str = "prose-mesh run",
               **run_kw: Any) -> tuple[int, dict[str, Any] | None]:
    """Run a loaded scenario on ``args.backend`` / ``args.seed`` (``run_kw``: more arguments of
    ``run_scenario``, e.g. ``ue_factory``): (exit code, report or None)."""
    from prose_mesh.scenario.runner import run_scenario_sync

    try:
        backend, note = choose_backend(args.backend)
        if note and not quiet:
            print(note, file=sys.stderr)
        result = run_scenario_sync(scenario, backend=backend, seed=args.seed, out=out,
                                   capture=capture, backend_note=note, progress=progress,
                                   **run_kw)
    except (ConfigError, EnvironmentProblem) as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 2, None
    if result.report.get("interrupted"):
        return INTERRUPTED, result.report
    return result.exit_code, result.report


INTERRUPTED = 130  # 128 + SIGINT


def finish(report: dict[str, Any], *, html: bool = True) -> None:
    """The end of every run: terminal summary, report.json path, report.html path."""
    from prose_mesh.scenario.report import print_summary

    print_summary(report)
    if html:
        write_html(report["path"])


def write_html(run_dir: str) -> None:
    """Render report.html; a failure to draw is reported, never turned into a crash (the run
    and its report.json are already complete)."""
    from prose_mesh.scenario.html import render_html

    try:
        if sys.stdout.isatty() and sys.stderr.isatty():  # a large run takes seconds to plot
            from rich.console import Console

            with Console(stderr=True).status("rendering report.html"):
                path = render_html(run_dir)
        else:
            path = render_html(run_dir)
    except Exception as exc:  # plotting must not lose a finished run
        print(f"prose-mesh: report.html not written: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return
    print(f"html: {path}", flush=True)


def run(args: argparse.Namespace) -> int:
    with LiveStatus() as status:
        code, report = load_and_run(args, out=args.out, capture=args.capture, progress=status)
    if report is not None:
        finish(report, html=not args.no_html)
    return code
