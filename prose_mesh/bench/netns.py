"""``prose-mesh bench netns``: start and stop N UEs on real namespaces, time and memory per UE.

Targets (ARCHITECTURE.md decision 3, issue #4): 1000 UEs up in <= 12 s, down in <= 2 s,
<= 0.5 MB per UE. ``mem_per_ue_kb`` is the drop in MemAvailable (kernel and process memory
together) divided by N; ``slab_per_ue_kb`` and ``rss_per_ue_kb`` split it. ``down_s`` is the time
to close everything; the kernel then frees namespaces asynchronously (``reclaim_s``: until
MemAvailable is back within 5 % of the delta, capped at 10 s).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import trio

from prose_mesh.procstat import rss_kb


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("netns", help="UE namespaces up/down")
    parser.add_argument("--ues", default="100,500,1000", help="comma-separated UE counts")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def meminfo() -> dict[str, int]:
    out = {}
    with open("/proc/meminfo") as fh:
        for line in fh:
            key, value = line.split(":", 1)
            out[key] = int(value.split()[0])
    return out



async def _one(n: int) -> dict[str, Any]:
    from prose_mesh.medium.air import open_air

    mem0, rss0 = meminfo(), rss_kb()
    t0 = time.perf_counter()
    async with open_air("netns") as air:
        await air.attach_many([f"ue{i}" for i in range(n)])
        up = time.perf_counter() - t0
        mem1, rss1 = meminfo(), rss_kb()
        t1 = time.perf_counter()
    down = time.perf_counter() - t1
    used = mem0["MemAvailable"] - mem1["MemAvailable"]
    t2 = time.perf_counter()
    while time.perf_counter() - t2 < 10:
        if mem0["MemAvailable"] - meminfo()["MemAvailable"] < 0.05 * max(used, 1):
            break
        await trio.sleep(0.05)
    return {
        "ues": n,
        "up_s": round(up, 3),
        "down_s": round(down, 3),
        "mem_per_ue_kb": round(used / n, 1),
        "slab_per_ue_kb": round((mem1["Slab"] - mem0["Slab"]) / n, 1),
        "rss_per_ue_kb": round((rss1 - rss0) / n, 1),
        "reclaim_s": round(time.perf_counter() - t2, 2),
    }


def run(args: argparse.Namespace) -> int:
    from netns.namespace import check_privileges

    check_privileges()
    counts = [int(x) for x in args.ues.split(",") if x.strip()]
    results = [trio.run(_one, n) for n in counts]
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for r in results:
            print("  ".join(f"{k}={v}" for k, v in r.items()))
    return 0
