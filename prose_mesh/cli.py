"""The ``prose-mesh`` command.

Each command group lives in its own module under :mod:`prose_mesh.commands` and exposes
``register(subparsers)``; this module only discovers and dispatches them, so adding a command
never touches this file. Exit codes: 0 success/valid, 1 invalid/expectation failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from prose_mesh import __version__, commands
from prose_mesh.errors import ProseMeshError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prose-mesh",
        description="Off-network ProSe mesh emulator with MIKEY-SAKKE group keying.",
    )
    parser.add_argument("--version", action="version", version=f"prose-mesh {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ProseMeshError as exc:
        print(f"prose-mesh: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("prose-mesh: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
