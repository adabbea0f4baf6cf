import subprocess
import sys

from prose_mesh.cli import build_parser, main


def test_every_command_registers():
    parser = build_parser()
    names = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert {"bench", "demo"} <= names


def test_usage_error_exits_2():
    proc = subprocess.run(
        [sys.executable, "-m", "prose_mesh.cli", "no-such-command"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr


def test_main_returns_int():
    assert main(["demo"]) == 0
