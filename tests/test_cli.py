import subprocess
import sys

from prose_mesh.cli import build_parser, main


def test_every_command_registers():
    parser = build_parser()
    names = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert {"bench", "check", "clean", "crypto", "demo", "wireshark"} <= names


def test_usage_error_exits_2():
    proc = subprocess.run(
        [sys.executable, "-m", "prose_mesh.cli", "no-such-command"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr


def test_package_error_becomes_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: x\nnot_a_key: 1\n")
    assert main(["check", str(bad)]) == 2
