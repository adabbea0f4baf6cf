"""``prose-mesh wireshark install|path``: ship the Lua dissector to Wireshark/tshark.

``install`` copies the packaged ``prose_mesh.lua`` into the personal Lua plugin folder, which
tshark reports in ``tshark -G folders`` ("Personal Lua Plugins"); without tshark it falls back to
``~/.local/lib/wireshark/plugins``. ``path`` prints where the packaged file is, for
``tshark -X lua_script:PATH``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

from prose_mesh.errors import EnvironmentProblem

PLUGIN_NAME = "prose_mesh.lua"
FALLBACK_DIR = Path("~/.local/lib/wireshark/plugins")


def packaged_plugin() -> Path:
    """Filesystem path of the packaged Lua dissector."""
    ref = resources.files("prose_mesh").joinpath("wireshark", PLUGIN_NAME)
    with resources.as_file(ref) as path:
        return Path(path)


def personal_plugin_dir() -> Path:
    """The folder tshark reports as "Personal Lua Plugins", else the usual default."""
    tshark = shutil.which("tshark")
    if tshark:
        try:
            out = subprocess.run(
                [tshark, "-G", "folders"], capture_output=True, text=True, timeout=30, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.splitlines():
            key, _, value = line.partition("\t")
            if key.strip().rstrip(":") == "Personal Lua Plugins" and value.strip():
                return Path(value.strip())
    return FALLBACK_DIR.expanduser()


def install(target_dir: Path | None = None) -> Path:
    """Copy the dissector into ``target_dir`` (default: the personal Lua plugin folder)."""
    dest_dir = target_dir or personal_plugin_dir()
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / PLUGIN_NAME
        shutil.copyfile(packaged_plugin(), dest)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot install into {dest_dir}: {exc}") from exc
    return dest


def _cmd_install(args: argparse.Namespace) -> int:
    dest = install(Path(args.dir) if args.dir else None)
    print(f"installed {dest}")
    return 0


def _cmd_path(_args: argparse.Namespace) -> int:
    print(packaged_plugin())
    return 0


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "wireshark", help="install or locate the Wireshark Lua dissector"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p_install = actions.add_parser("install", help="copy the dissector to the personal plugins")
    p_install.add_argument("--dir", help="install here instead of the personal Lua plugin folder")
    p_install.set_defaults(func=_cmd_install)
    actions.add_parser("path", help="print the packaged dissector's path").set_defaults(
        func=_cmd_path
    )
