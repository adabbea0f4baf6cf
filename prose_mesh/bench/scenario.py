"""``prose-mesh bench scenario SCENARIO``: a scenario's latency figures and crypto cost.

Keys: ``group_setup_s``, ``call_setup_p50_ms``, ``call_setup_p95_ms``, ``late_entry_ms``
(max), ``media_delay_p95_ms``, ``crypto_cpu_ms_per_ue`` (mean), plus the targets of the seed
documents (call setup ≤ 300 ms, late entry ≤ 350 ms, media delay ≤ 150 ms) and whether they
were met. On the memory backend times are virtual, with each UE's crypto CPU time charged as
virtual time; on netns they are real, and every UE shares one Python process (contention).

Scale keys (issue #8): ``ues``; ``gmk_carriage`` (``group``: every GMK I_MESSAGE on the group
bearer to every member; ``addressed``: carried to its member only, :mod:`prose_mesh.scale.
addressed`; ``--gmk-carriage auto`` picks it above ``AUTO_ABOVE`` UEs); ``wall`` — wall-clock
seconds of the phases (``provisioning``, ``attaching``, ``ues_up`` = start until every UE
runs, ``run``, ``report``, ``total``); ``gmk_delivery_p50_s``/``p95_s``/``max_s`` (each
member's install after the distribution started); ``call_setup_max_ms``; ``peak_rss_mb`` (this
process's VmHWM over the run: the only process, as every UE runs in it).

``--workers N`` (N ≥ 1; default ``auto`` = one per core above ``AUTO_ABOVE`` UEs, else 0)
runs :func:`prose_mesh.scale.shard.run_sharded` instead of the scenario runner: the medium and
the GMS in this process, the members over N worker processes, real time on both backends. It
measures only a standard group's bring-up, GMK distribution, rekey and call setup (its keys:
``wall.ues_up``, ``gmk_create``/``gmk_rekey``/``call_setup`` as {members, done, p50_s, p95_s,
max_s}, ``processes`` with each one's ``peak_rss_mb``), not the scenario's timeline.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Any

from prose_mesh.bench._common import emit, host_info

TARGETS_MS = {"call_setup_p95_ms": 300.0, "late_entry_ms": 350.0, "media_delay_p95_ms": 150.0}


def register(topics: Any) -> None:
    parser: argparse.ArgumentParser = topics.add_parser(
        "scenario", help="run a scenario and report its latencies and crypto CPU"
    )
    from prose_mesh.commands.run import add_run_arguments

    add_run_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", default=None, help="keep the run folder here (default: temp)")
    parser.add_argument("--gmk-carriage", choices=("auto", "group", "addressed"),
                        default="auto",
                        help="GMK I_MESSAGEs to every member on the group bearer, or carried to "
                             "their member only (prose_mesh.scale.addressed); auto: addressed "
                             "above 256 UEs")
    parser.add_argument("--workers", default="auto", type=_workers,
                        help="N >= 1: members sharded over N worker processes (GMK and call "
                             "setup figures only, real time); 0: the scenario runner in one "
                             "process; auto (default): one per core above 256 UEs, else 0")
    parser.set_defaults(func=run)


def _workers(value: str) -> str:
    """``--workers``: ``auto`` or a count >= 0."""
    if value != "auto" and not (value.isdigit() and int(value) >= 0):
        raise argparse.ArgumentTypeError(f"expected auto or a number >= 0, got {value!r}")
    return value


def _ms(fig: dict[str, Any] | None, key: str) -> float | None:
    if not fig or fig.get(key) is None:
        return None
    return round(fig[key] * 1e3, 3)


def figures(report: dict[str, Any]) -> dict[str, Any]:
    f = report["figures"]
    group = f.get("group.setup_time")
    out: dict[str, Any] = {
        "scenario": report["scenario"],
        "backend": report["backend"],
        "time": report["time"],
        "group_setup_s": None if not group or group["max"] is None else round(group["max"], 4),
        "call_setup_p50_ms": _ms(f.get("call.setup_time"), "p50"),
        "call_setup_p95_ms": _ms(f.get("call.setup_time"), "p95"),
        "call_setup_samples": int(f.get("call.setup_time", {}).get("count") or 0),
        "late_entry_ms": _ms(f.get("late_entry.time"), "max"),
        "media_delay_p50_ms": _ms(f.get("media.delay"), "p50"),
        "media_delay_p95_ms": _ms(f.get("media.delay"), "p95"),
        "media_packets_decrypted": int(f.get("media.delay", {}).get("count") or 0),
        "rekey_switchover_s": (None if not f.get("rekey.switchover")
                               or f["rekey.switchover"]["max"] is None
                               else round(f["rekey.switchover"]["max"], 4)),
        "crypto_cpu_ms_per_ue": report["crypto_cpu_ms_per_ue"]["mean"],
        "crypto_cpu_ms_max_ue": report["crypto_cpu_ms_per_ue"]["max"],
        "expectations_failed": len(report["failures"]),
    }  # fmt: skip
    # relays (issue #6): media one-way delay by radio hops, reselection, provisioning via relay
    hops = sorted(k for k in f if k.startswith("relay.media_delay.hops"))
    if hops or "relay.reselection_time" in f:
        out["relay_media_delay_ms"] = {
            k.rsplit(".", 1)[1]: {"p50": _ms(f[k], "p50"), "p95": _ms(f[k], "p95"),
                                  "count": int(f[k].get("count") or 0)} for k in hops}
        out["relay_reselection_s"] = _ms(f.get("relay.reselection_time"), "max")
        if out["relay_reselection_s"] is not None:
            out["relay_reselection_s"] /= 1e3
        out["relay_provisioning_s"] = _ms(f.get("relay.provisioning_time"), "max")
        if out["relay_provisioning_s"] is not None:
            out["relay_provisioning_s"] /= 1e3
    gmk = f.get("gmk.delivery_time") or {}
    out["gmk_delivery_samples"] = int(gmk.get("count") or 0)
    for key in ("p50", "p95", "max"):
        out[f"gmk_delivery_{key}_s"] = None if gmk.get(key) is None else round(gmk[key], 4)
    out["call_setup_max_ms"] = _ms(f.get("call.setup_time"), "max")
    out["targets_ms"] = TARGETS_MS
    out["targets_met"] = {k: (out[k] is not None and out[k] <= v) for k, v in TARGETS_MS.items()}
    out["report"] = report["path"] + "/report.json"
    out["host"] = host_info()
    return out


class PhaseClock:
    """The runner's ``progress`` callback: wall-clock time at which each phase began."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.first: dict[str, float] = {}

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        self.first.setdefault(phase, time.monotonic() - self.t0)

    def phases(self, end: float) -> dict[str, float | None]:
        at = self.first
        def span(a: str, b: str) -> float | None:
            return round(at[b] - at[a], 3) if a in at and b in at else None

        return {"provisioning": span("provisioning", "attaching"),
                "attaching": span("attaching", "running"),
                "ues_up": round(at["running"], 3) if "running" in at else None,
                "run": span("running", "report"),
                "report": round(end - at["report"], 3) if "report" in at else None,
                "total": round(end, 3)}  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from prose_mesh.commands.run import load_or_say, run_loaded
    from prose_mesh.procstat import peak_rss_kb
    from prose_mesh.scale import addressed

    scenario = load_or_say(args.scenario)
    if scenario is None:
        return 2
    big = len(scenario.ues) > addressed.AUTO_ABOVE
    workers = int(args.workers) if args.workers != "auto" else (os.cpu_count() or 1) if big else 0
    if workers > 0:
        return _run_sharded(args, scenario, workers)
    carriage = args.gmk_carriage
    if carriage == "auto":
        carriage = "addressed" if big else "group"
    clock = PhaseClock()
    with tempfile.TemporaryDirectory(prefix="pm-bench-") as tmp:
        code, report = run_loaded(
            args, scenario, out=args.out or tmp, capture="none", quiet=args.json,
            progress=clock, command="prose-mesh bench scenario",
            ue_factory=addressed.ue_factory if carriage == "addressed" else None)
        if report is None:
            return code
        result = figures(report)
        result["ues"] = len(scenario.ues)
        result["gmk_carriage"] = carriage
        result["wall"] = clock.phases(time.monotonic() - clock.t0)
        result["peak_rss_mb"] = round(peak_rss_kb() / 1024.0, 1)  # reset at the run's start
        if args.out is None:
            result["report"] = None  # the temporary folder is gone
        emit(result, args.json)
    return 0 if code in (0, 1) else code


def _run_sharded(args: argparse.Namespace, scenario: Any, workers: int) -> int:
    """``--workers N``: the sharded standard-group benchmark (prose_mesh.scale.shard)."""
    import trio

    from prose_mesh.commands.run import choose_backend
    from prose_mesh.errors import ConfigError, EnvironmentProblem
    from prose_mesh.scale.shard import run_sharded

    if args.gmk_carriage == "group":
        print("prose-mesh bench scenario: --workers needs addressed GMK carriage "
              "(the GMS's radio is in this process, the members' in the workers)",
              file=sys.stderr)
        return 2
    try:
        backend, note = choose_backend(args.backend)
        if note and not args.json:
            print(note, file=sys.stderr)
        result = trio.run(lambda: run_sharded(scenario, backend=backend, workers=workers,
                                              seed=args.seed))
    except (ConfigError, EnvironmentProblem) as exc:
        print(f"prose-mesh bench scenario: {exc}", file=sys.stderr)
        return 2
    result["host"] = host_info()
    emit(result, args.json)
    complete = all(result.get(k, {}).get("done") == result.get(k, {}).get("members")
                   for k in ("gmk_create", "gmk_rekey", "call_setup"))
    return 0 if complete else 1
