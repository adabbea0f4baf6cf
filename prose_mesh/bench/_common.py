"""Timing and output helpers shared by the benchmark topics."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any


def median_ms(fn: Callable[[], object], *, min_runs: int = 20, min_seconds: float = 1.0) -> float:
    """Median wall time of ``fn()`` in ms, over at least ``min_runs`` runs and ``min_seconds``.

    One warm-up call first, so lazily built tables are not counted in the steady state.
    """
    fn()
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < min_runs or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(samples)


def per_second(fn: Callable[[int], object], n: int) -> float:
    """Run ``fn(n)`` (which does n operations) once and return operations per second."""
    t0 = time.perf_counter()
    fn(n)
    return n / (time.perf_counter() - t0)


def host_info() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }


def emit(result: dict[str, Any], as_json: bool) -> None:
    """Print ``result`` as JSON (one object) or as aligned ``key  value`` lines."""
    if as_json:
        json.dump(result, sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
        return
    width = max((len(k) for k in result), default=0)
    for key, value in result.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        print(f"{key:<{width}}  {value}")
