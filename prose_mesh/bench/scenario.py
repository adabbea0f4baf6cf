"""``prose-mesh bench scenario SCENARIO``: a scenario's latency figures and crypto cost.

Keys: ``group_setup_s``, ``call_setup_p50_ms``, ``call_setup_p95_ms``, ``late_entry_ms``
(max), ``media_delay_p95_ms``, ``crypto_cpu_ms_per_ue`` (mean), plus the targets of the seed
documents (call setup ≤ 300 ms, late entry ≤ 350 ms, media delay ≤ 150 ms) and whether they
were met. On the memory backend times are virtual, with each UE's crypto CPU time charged as
virtual time; on netns they are real, and every UE shares one Python process (contention).
"""

from __future__ import annotations

import argparse
import tempfile
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
    parser.set_defaults(func=run)


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
    out["targets_ms"] = TARGETS_MS
    out["targets_met"] = {k: (out[k] is not None and out[k] <= v) for k, v in TARGETS_MS.items()}
    out["report"] = report["path"] + "/report.json"
    out["host"] = host_info()
    return out


def run(args: argparse.Namespace) -> int:
    from prose_mesh.commands.run import load_and_run

    with tempfile.TemporaryDirectory(prefix="pm-bench-") as tmp:
        out = args.out or tmp
        code, report = load_and_run(args, out=out, capture="none", quiet=args.json)
        if report is None:
            return code
        result = figures(report)
        if args.out is None:
            result["report"] = None  # the temporary folder is gone
        emit(result, args.json)
    return 0 if code in (0, 1) else code
