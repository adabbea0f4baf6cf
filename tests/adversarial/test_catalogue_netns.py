"""The ADVERSARIAL.md §4 scenario files of scripts/attacks/ on netns (A2-A7, B4, D1, F3, G1-G3,
H1, I1, J1, J2; A1, B1, B2, D2, F2 in tests/attack/, the crafted-input ones in
test_crafted_netns.py).

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

FILES = (
    "a2-ts-boundary.yaml", "a5-old-gmk-reinstall.yaml", "a6-srtp-replay.yaml",
    "a7-reorder-no-false-rejects.yaml", "b4-sakke-wrong-identity.yaml", "d1-gmk-lifetime.yaml",
    "h1-keystream-audit.yaml", "i1-clock-skew.yaml", "j1-lossy-flapping.yaml",
    "j2-soak-under-attack.yaml", "f3-cache-exhaustion.yaml",
    # the relay misbehaviour files (G1-G3): a malicious relay between real namespaces
    "g1-relay-drop-reorder.yaml", "g2-relay-modify-crossforward.yaml", "g3-relay-eavesdrop.yaml",
)  # fmt: skip
#: Known defects, judged separately (see the memory tests and the helper report).
KNOWN = {
    # No GMK retransmission: under bursty loss both copies of a member's I_MESSAGE can be lost
    # for good (real time makes it happen on netns; the memory seed does not), and that
    # member's media is then rejected after the switchover and never resumes
    "j1-lossy-flapping.yaml": ("gmk.delivery_ratio", "link.resume_time", "media.false_reject_rate"),
}
PARALLEL = 3  # runs at once (2 cores; each run is mostly one busy Python process)
RUN_TIMEOUT = 240.0  # s per run (each file plays 10-18 s of real time)


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
    print(f"\n{len(FILES)} catalogue files on netns in {wall:.1f} s wall ({PARALLEL} at a time)")
    return reports, wall


@pytest.mark.parametrize("name", FILES)
def test_catalogue_file_on_netns(netns_reports, name):
    reports, _wall = netns_reports
    r = reports[name]
    assert r.get("backend") == "netns" and r.get("time") == "real", r["failures"]
    known = KNOWN.get(name, ())
    failures = [f for f in failures_besides_latency(r) if not f.startswith(known)]
    assert failures == [], failures
    assert r["invariants"]["invariants"]["every_frame_one_verdict"]["ok"]
