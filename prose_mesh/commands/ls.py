"""``prose-mesh ls [--out captures] [--json]``: the runs under the captures folder.

One line per run folder (a folder with a manifest.json): run id, scenario, backend, start time
(UTC), status from the manifest (running, ok, interrupted, cancelled, error), the verdict from
report.json (pass, FAIL, or - when no report was written) and the folder's size. Oldest first.
A folder that is not a run is skipped; no captures folder means no runs (exit 0).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("ls", help="list the runs under captures/")
    parser.add_argument("--out", default="captures", help="runs folder (default: captures)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(func=run)


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def run_info(folder: Path) -> dict[str, Any]:
    """What ``ls`` shows about one run folder."""
    manifest = _load(folder / "manifest.json")
    report = _load(folder / "report.json") if (folder / "report.json").exists() else None
    if report is None:
        verdict = "-"
    elif report.get("interrupted"):
        verdict = "interrupted"
    else:
        verdict = "FAIL" if report.get("failures") else "pass"
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    return {"run": folder.name, "scenario": manifest.get("scenario"),
            "backend": manifest.get("backend"), "start": manifest.get("start"),
            "status": manifest.get("status"), "result": verdict,
            "failures": len(report.get("failures") or []) if report else None,
            "size": size, "html": (folder / "report.html").exists(), "path": str(folder)}


def list_runs(root: str | Path) -> list[dict[str, Any]]:
    base = Path(root)
    if not base.is_dir():
        return []
    runs = [run_info(p) for p in base.iterdir() if (p / "manifest.json").is_file()]
    return sorted(runs, key=lambda r: (str(r["start"] or ""), r["run"]))


def human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} GB"


def run(args: argparse.Namespace) -> int:
    runs = list_runs(args.out)
    if args.json:
        for r in runs:
            print(json.dumps(r))
        return 0
    if not runs:
        print(f"no runs under {args.out}/")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"runs under {args.out}/")
    for col in ("run", "scenario", "backend", "start (UTC)", "status", "result", "size"):
        table.add_column(col, no_wrap=col in ("run", "start (UTC)"))
    colour = {"pass": "green", "FAIL": "red", "interrupted": "yellow"}
    for r in runs:
        res = r["result"]
        shown = f"[{colour[res]}]{res}[/{colour[res]}]" if res in colour else res
        start = (r["start"] or "-").replace("T", " ")[:19]
        table.add_row(r["run"], str(r["scenario"] or "-"), str(r["backend"] or "-"), start,
                      str(r["status"] or "-"), shown, human(r["size"]))
    console = Console()
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = Console(width=160)
    console.print(table)
    return 0
