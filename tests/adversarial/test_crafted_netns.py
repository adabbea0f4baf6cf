"""The crafted-input ADVERSARIAL.md §4 scenario files of scripts/attacks/ (C2, C4, C5, C6, D5,
E2, H3, H4) on netns.

Root only (real network namespaces, real time). The files are run concurrently, a few at a time,
as subprocesses (``tests/adversarial/catalogue_support.py FILE --backend netns``: each run
is one Python process, so two cores are used), then each report is judged like the memory
tests judge theirs: every expectation holds except latency bounds (those are for
``bench scenario``; real time on shared cores). Nothing may be left behind in the root
namespace."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from catalogue_support import ATTACKS, REPO, failures_besides_latency
from support import is_root, pm_namespaces, root_links

pytestmark = [pytest.mark.netns, pytest.mark.slow]

# longest first, so the PARALLEL slots stay full
FILES = (
    "c5-sakke-malleability.yaml", "e2-lying-lengths.yaml", "c2-eccsi-range-encoding.yaml",
    "c4-sakke-malformed.yaml", "h4-downgrade.yaml", "h3-nonce-reuse.yaml",
    "c6-known-answers.yaml", "d5-kms-escrow.yaml",
)  # fmt: skip
PARALLEL = 3  # runs at once (2 cores; each run is mostly one busy Python process)
RUN_TIMEOUT = 240.0  # s per run (each file plays 10-20 s of real time)


@pytest.fixture(scope="module")
def netns_reports(tmp_path_factory):
    """Run every file on netns, PARALLEL at a time; returns {file: report} and the wall time."""
    if not is_root():
        pytest.skip("netns backend needs root (CAP_NET_ADMIN); the memory tests still ran")
    links, named = root_links(), pm_namespaces()
    out = tmp_path_factory.mktemp("netns")
    todo = list(FILES)
    running: dict[str, tuple[subprocess.Popen[str], float]] = {}
    done: dict[str, tuple[int, str, str]] = {}
    t0 = time.monotonic()
    try:
        while todo or running:
            while todo and len(running) < PARALLEL:
                name = todo.pop(0)
                cmd = [
                    sys.executable,
                    str(Path(__file__).with_name("catalogue_support.py")),
                    str(ATTACKS / name),
                    "--backend",
                    "netns",
                    "--out",
                    str(out / name),
                ]
                proc = subprocess.Popen(
                    cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )
                running[name] = (proc, time.monotonic())
            for name, (proc, started) in list(running.items()):
                if proc.poll() is None and time.monotonic() - started < RUN_TIMEOUT:
                    continue
                if proc.poll() is None:
                    proc.terminate()  # the run's own cleanup removes its namespaces
                    try:
                        proc.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                stdout, stderr = proc.communicate()
                done[name] = (proc.returncode, stdout, stderr)
                del running[name]
            time.sleep(0.2)
    finally:
        for proc, _ in running.values():
            proc.kill()
            proc.wait()
    wall = time.monotonic() - t0
    reports = {}
    for name, (_rc, stdout, stderr) in done.items():
        lines = stdout.strip().splitlines()
        path = Path(lines[-1]) if lines else None
        reports[name] = (
            json.loads(path.read_text())
            if path is not None and path.exists()
            else {"failures": [f"no report: {stderr[-2000:]}"]}
        )
    assert root_links() - links == set(), "interfaces left in the root namespace"
    assert pm_namespaces() - named == set(), "pm- namespaces left behind"
    print(f"\n{len(FILES)} crafted-input files on netns: {wall:.1f} s wall, {PARALLEL} at a time")
    return reports, wall


@pytest.mark.parametrize("name", FILES)
def test_crafted_file_on_netns(netns_reports, name):
    reports, _wall = netns_reports
    r = reports[name]
    assert r.get("backend") == "netns" and r.get("time") == "real", r["failures"]
    # In real time on two shared cores (the other pytest worker busy), the one process hosting
    # every UE may not judge all 2,184 re-signed C5 variants (each costs an ECCSI verification
    # and a SAKKE decapsulation) before the run ends: the count is judged by the memory run of
    # the same file; here at least half must be judged BAD_SAKKE and none accepted.
    counts = ("attack.c5.rejected.BAD_SAKKE",) if name == "c5-sakke-malleability.yaml" else ()
    assert [f for f in failures_besides_latency(r) if not f.startswith(counts)] == [], \
        r["failures"]
    if counts:
        assert r["figures"][counts[0]]["max"] >= 2184 // 2, r["figures"][counts[0]]
    inv = r["invariants"]["invariants"]
    assert inv["every_frame_one_verdict"]["ok"] and inv["zero_security_acceptances"]["ok"]
    attackers = r["verdict"]["attackers"]
    assert attackers and all(row["accepted"] == 0 for row in attackers)
    # the crafted attackers really sent (a run that captured nothing would pass vacuously)
    for row in attackers:
        if row["role"] == "tamperer":
            assert row["injected"] >= 4, row
