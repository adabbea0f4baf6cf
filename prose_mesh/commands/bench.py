"""``prose-mesh bench TOPIC``: benchmarks that print numbers (``--json`` for machines).

Speed and memory targets are measured here, never by timed assertions in tests. Each topic is a
module under :mod:`prose_mesh.bench` exposing ``register(subparsers)``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from typing import Any

from prose_mesh import bench


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("bench", help="run a benchmark")
    topics = parser.add_subparsers(dest="topic", metavar="TOPIC", required=True)
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        importlib.import_module(f"{bench.__name__}.{info.name}").register(topics)
