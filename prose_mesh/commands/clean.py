"""``prose-mesh clean``: remove named (debug) namespaces left by earlier runs.

Touches only /run/netns entries that start with ``pm-``; nothing to clean is not an error.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "clean", help="remove leftover pm-* network namespaces of debug runs"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from netns.clean import clean
    from netns.namespace import check_privileges

    check_privileges()
    removed = clean()
    for name in removed:
        print(f"removed namespace {name}")
    print(f"prose-mesh clean: {len(removed)} namespace(s) removed")
    return 0
