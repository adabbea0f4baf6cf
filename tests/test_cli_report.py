"""``prose-mesh ls``, ``report``, ``kms`` and the end of ``run`` (report.html, Ctrl-C)."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import pm_namespaces, root_links

from prose_mesh.cli import main
from prose_mesh.crypto.kms import load_key_material

ROOT = Path(__file__).resolve().parents[1]
D2D = ROOT / "scripts" / "d2d-3.yaml"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One real run of d2d-3 (memory backend) through ``prose-mesh run``."""
    out = tmp_path_factory.mktemp("captures")
    proc = subprocess.run([sys.executable, "-m", "prose_mesh.cli", "run", str(D2D),
                           "--backend", "memory", "--out", str(out)],
                          capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


def test_run_ends_with_report_and_html_paths(runs):
    _out, stdout = runs
    lines = stdout.strip().splitlines()
    assert lines[-2].startswith("report: ") and lines[-2].endswith("report.json")
    assert lines[-1].startswith("html: ") and lines[-1].endswith("report.html")
    assert Path(lines[-1][6:]).stat().st_size > 20_000
    assert "\x1b[" not in stdout  # no live status drawn when stdout is not a terminal


def test_ls_lists_the_run(runs, capsys):
    out, _ = runs
    (out / "not-a-run").mkdir(exist_ok=True)
    assert main(["ls", "--out", str(out), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 1
    row = rows[0]
    assert (row["scenario"], row["backend"], row["status"], row["result"]) == (
        "d2d-3", "memory", "ok", "pass")
    assert row["size"] > 1000 and row["html"] is True and row["start"].endswith("Z")
    assert main(["ls", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert row["run"] in table and "pass" in table
    assert main(["ls", "--out", str(out / "missing")]) == 0
    assert "no runs" in capsys.readouterr().out


def test_report_reprints_and_rerenders(runs, capsys, tmp_path):
    out, _ = runs
    run_id = next(p.name for p in out.iterdir() if (p / "manifest.json").exists())
    html = out / run_id / "report.html"
    html.unlink()
    assert main(["report", run_id[:12], "--out", str(out), "--html", "--ues", "ue1,ue3"]) == 0
    printed = capsys.readouterr().out
    assert "all 4 expectations met" in printed and f"html: {html}" in printed
    assert html.stat().st_size > 20_000
    assert main(["report", "last", "--out", str(out)]) == 0
    assert main(["report", str(out / run_id)]) == 0
    capsys.readouterr()
    assert main(["report", "nope", "--out", str(out)]) == 2
    assert "no run 'nope'" in capsys.readouterr().err
    assert main(["report", "last", "--out", str(out), "--html", "--ues", "ue1,zz"]) == 2
    # a failed run reports exit 1
    report = json.loads((out / run_id / "report.json").read_text())
    report["failures"] = ["d2d_link.setup_time <= 0.3s: measured 9"]
    failed = tmp_path / "failed-copy"
    failed.mkdir()
    (failed / "report.json").write_text(json.dumps(report))
    (failed / "manifest.json").write_text("{}")
    assert main(["report", str(failed)]) == 1


def test_kms_init_and_issue(tmp_path, capsys):
    kms, ue = tmp_path / "kms.json", tmp_path / "alice.json"
    assert main(["kms", "init", "--out", str(kms), "--uri", "kms.test.example",
                 "--key-period", "1d", "--seed", "5"]) == 0
    assert stat.S_IMODE(kms.stat().st_mode) == 0o600
    doc = json.loads(kms.read_text())
    assert doc["type"] == "prose-mesh-kms" and doc["period"] == 86400
    assert main(["kms", "issue", "--kms", str(kms), "--id", "sip:alice@test.example",
                 "--period", "2026-11-23", "--out", str(ue)]) == 0
    assert stat.S_IMODE(ue.stat().st_mode) == 0o600
    km = load_key_material(ue)  # strict load + RFC 6507/6508 validation
    assert km.uri == "sip:alice@test.example" and km.kms_uri == "kms.test.example"
    assert km.period_no == (1795392000 + 2208988800) // 86400  # 2026-11-23 in NTP days
    assert km.kpak.hex() == doc["kpak"]
    assert "UID " + km.uid.hex() in capsys.readouterr().out
    # the same seed gives the same KMS; no overwrite without --force
    assert main(["kms", "init", "--out", str(kms), "--seed", "5"]) == 2
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.update(extra=1), "unknown field 'extra'"),
    (lambda d: d.pop("z"), "missing field 'z'"),
    (lambda d: d.update(ksak="00" * 31), "'ksak' must be 32 octets"),
    (lambda d: d.update(kpak="04" + "11" * 64), "'kpak' does not match KSAK"),
    (lambda d: d.update(z_pub=d["z_pub"][:-2] + "00"), "'z_pub' does not match"),
    (lambda d: d.update(type="ue"), "field 'type'"),
    (lambda d: d.update(period=0), "'period' must be a positive integer"),
])
def test_malformed_kms_file_is_refused(tmp_path, capsys, edit, message):
    kms = tmp_path / "kms.json"
    assert main(["kms", "init", "--out", str(kms), "--seed", "1"]) == 0
    doc = json.loads(kms.read_text())
    edit(doc)
    kms.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["kms", "issue", "--kms", str(kms), "--id", "sip:a@b.example",
                 "--out", str(tmp_path / "ue.json")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "ue.json").exists()


def test_kms_issue_bad_input(tmp_path, capsys):
    kms = tmp_path / "kms.json"
    assert main(["kms", "init", "--out", str(kms), "--seed", "2"]) == 0
    for argv, message in (
        (["--id", "alice"], "not a user URI"),
        (["--id", "sip:a@b.example", "--period", "yesterday"], "not a date"),
    ):
        assert main(["kms", "issue", "--kms", str(kms), *argv,
                     "--out", str(tmp_path / "ue.json")]) == 2
        assert message in capsys.readouterr().err
    (tmp_path / "garbage.json").write_text("{")
    assert main(["kms", "issue", "--kms", str(tmp_path / "garbage.json"), "--id",
                 "sip:a@b.example", "--out", str(tmp_path / "ue.json")]) == 2


# -- Ctrl-C -------------------------------------------------------------------------------------
def long_d2d(tmp_path: Path) -> Path:
    """d2d-3 stretched to a day of (virtual or real) time: it only ends by Ctrl-C."""
    text = D2D.read_text().replace("duration: 30s", "duration: 1d")
    text = text.replace("  - at: 25s\n    link_down: {a: ue1, b: ue2}\n", "")
    path = tmp_path / "long.yaml"
    path.write_text(text)
    return path


def interrupt_run(tmp_path: Path, backend: str, *extra: str) -> tuple[int, Path, str]:
    """Start ``prose-mesh run`` on the long scenario on a pseudo-terminal (so the live status
    line is drawn), wait until it shows the ``running`` phase with frames sent, send SIGINT,
    and return (exit code, run folder, everything the command wrote)."""
    out = tmp_path / "out"
    master, slave = os.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    proc = subprocess.Popen([sys.executable, "-m", "prose_mesh.cli", "run",
                             str(long_d2d(tmp_path)), "--backend", backend, "--out", str(out),
                             *extra],
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, cwd=ROOT,
                            env=env)
    os.close(slave)
    seen = b""
    signalled = False
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the command exited and closed the terminal
                    chunk = b""
                if not chunk and proc.poll() is not None:
                    break
                seen += chunk
            # once the status line counts frames on the air: the run has something to keep
            # (a fixed delay after "running" was too short on a loaded host: no tx line yet)
            if not signalled and re.search(rb"running.*frames [1-9]", seen):
                proc.send_signal(signal.SIGINT)
                signalled = True
            elif not ready and proc.poll() is not None:
                break
        assert signalled, f"never reached the running phase: {seen[-2000:]!r}"
        proc.wait(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (folder,) = [p.parent for p in out.glob("*/manifest.json")]
    return proc.returncode, folder, seen.decode(errors="replace")


def check_interrupted(code: int, folder: Path, stderr: str, *, html: bool = True) -> dict:
    assert code == 130, stderr
    assert "interrupted at" in stderr
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["end"]
    report = json.loads((folder / "report.json").read_text())
    assert report["interrupted"]["at"] > 0
    assert any("interrupted" in f for f in report["failures"])
    events = (folder / "events.jsonl").read_text().splitlines()
    assert any('"event":"tx"' in line for line in events)  # what was captured is kept
    assert (folder / "air.pcapng").stat().st_size > 100
    assert (folder / "report.html").exists() == html
    return report


def test_ctrl_c_memory_run_still_writes_everything(tmp_path):
    code, folder, stderr = interrupt_run(tmp_path, "memory", "--no-html")  # html: netns test
    report = check_interrupted(code, folder, stderr, html=False)
    assert report["interrupted"]["at"] < 86400


@pytest.mark.netns
@pytest.mark.slow
def test_ctrl_c_netns_run_leaves_no_namespace(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("netns backend needs root (CAP_NET_ADMIN)")
    links, named = root_links(), pm_namespaces()
    code, folder, stderr = interrupt_run(tmp_path, "netns")
    check_interrupted(code, folder, stderr)
    assert json.loads((folder / "report.json").read_text())["backend"] == "netns"
    assert root_links() - links == set(), "interfaces left in the root namespace"
    assert pm_namespaces() - named == set(), "pm- namespaces left behind"
