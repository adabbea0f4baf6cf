"""`prose-mesh wireshark install|path` and the `bench wire` topic registration."""

from pathlib import Path

import pytest

from prose_mesh.bench.wire import run_bench
from prose_mesh.cli import main
from prose_mesh.commands import wireshark


def test_path_prints_the_packaged_plugin(capsys):
    assert main(["wireshark", "path"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.endswith("prose_mesh.lua")
    assert 'DissectorTable.get("ethertype"):add(0x88B5' in Path(printed).read_text()


def test_install_copies_into_the_given_folder(tmp_path, capsys):
    target = tmp_path / "plugins"
    assert main(["wireshark", "install", "--dir", str(target)]) == 0
    installed = target / "prose_mesh.lua"
    assert installed.read_bytes() == wireshark.packaged_plugin().read_bytes()
    assert str(installed) in capsys.readouterr().out


def test_personal_plugin_dir_is_absolute():
    assert wireshark.personal_plugin_dir().is_absolute()


def test_bench_wire_is_registered():
    with pytest.raises(SystemExit) as exc:
        main(["bench", "wire", "--help"])
    assert exc.value.code == 0


def test_bench_runs_small():
    result = run_bench(n_fast=2_000, n_scapy=50)
    assert result["fast_build_per_s"] > 0 and result["fast_parse_per_s"] > 0
    assert result["scapy_parse_per_s"] > 0 and result["target_per_s"] == 200_000


def test_wire_layers_do_not_import_crypto():
    """Crypto stays out of wire; only the sample generator optionally signs its demo frames."""
    import prose_mesh.wire as wire_pkg

    for path in Path(wire_pkg.__file__).parent.glob("*.py"):
        if path.name == "samples.py":
            continue
        assert "prose_mesh.crypto" not in path.read_text().replace(
            ":mod:`prose_mesh.crypto`", ""), path.name
