"""``prose-mesh demo``: the main job of ``make demo`` (grows as the product does)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("demo", help="run the main demonstration")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print("prose-mesh demo: nothing to run yet")
    return 0
