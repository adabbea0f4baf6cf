"""``prose-mesh check``: exit codes 0 (valid) and 2 (bad input), the plan, the error lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from prose_mesh.cli import main
from prose_mesh.scenario.loader import load_scenario, loads_scenario

REPO = Path(__file__).resolve().parents[2]
BROKEN = Path(__file__).parent / "broken"
EXAMPLES = sorted((REPO / "scripts").glob("*.yaml")) + sorted(
    (REPO / "scripts" / "attacks").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_checks(path, capsys):
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(load_scenario(path).name) and "Timeline" in out


def test_check_valid_prints_plan(capsys):
    assert main(["check", str(REPO / "scripts" / "adhoc-20.yaml")]) == 0
    out = capsys.readouterr().out
    for word in ("adhoc-20", "rescue", "Timeline", "Expectations", "urn:gsma:imei:", "ue20"):
        assert word in out
    # the timeline is printed in time order
    timeline = out[out.index("Timeline"):out.index("Expectations")]
    assert timeline.index("create_group") < timeline.index("remove_member") < timeline.index(
        "rekey")
    # expectations are grouped per call: ue05 is the one that must not decrypt c3
    assert "ue05" in out[out.index("Expectations"):]


def test_check_sorts_timeline(tmp_path, capsys):
    text = (REPO / "scripts" / "d2d-3.yaml").read_text()
    lines = text.replace("  - at: 25s\n    link_down: {a: ue1, b: ue2}\n", "")
    first = "timeline:\n  - at: 25s\n    link_down: {a: ue1, b: ue2}\n"
    lines = lines.replace("timeline:\n", first)
    path = tmp_path / "d2d-3.yaml"
    path.write_text(lines)
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.index("d2d_link") < out.index("link_down")


def test_check_invalid_exits_2_with_positions(capsys):
    path = BROKEN / "unknown-key-ue.yaml"
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:13:5: ues.ue2.positon: unknown key 'positon'" in err
    assert "1 problem" in err


def test_check_missing_file_exits_2(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_check_yaml_output_loads_back(capsys):
    path = REPO / "scripts" / "relay-chain.yaml"
    assert main(["check", "--yaml", str(path)]) == 0
    assert loads_scenario(capsys.readouterr().out) == load_scenario(path)


def test_exit_codes_through_the_real_command():
    ok = subprocess.run([sys.executable, "-m", "prose_mesh.cli", "check",
                         str(REPO / "scripts" / "d2d-3.yaml")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([sys.executable, "-m", "prose_mesh.cli", "check",
                          str(BROKEN / "duplicate-key.yaml")], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "duplicate key 'ue2' (first defined at line 11)" in bad.stderr


def test_check_path_loss_medium(tmp_path, capsys):
    text = (REPO / "scripts" / "standard-group.yaml").read_text()
    path = tmp_path / "pl.yaml"
    path.write_text(text.replace("  range: 200\n", "  path_loss: {exponent: 2.5}\n"))
    assert main(["check", str(path)]) == 0
    assert "path loss 23 dBm - 40 dB - 25·log10(d)" in capsys.readouterr().out
