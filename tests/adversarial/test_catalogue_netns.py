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

import pytest
from catalogue_support import failures_besides_latency, run_pool

pytestmark = [pytest.mark.netns, pytest.mark.slow]

FILES = (
    "a2-ts-boundary.yaml", "a5-old-gmk-reinstall.yaml", "a6-srtp-replay.yaml",
    "a7-reorder-no-false-rejects.yaml", "b4-sakke-wrong-identity.yaml", "d1-gmk-lifetime.yaml",
    "h1-keystream-audit.yaml", "i1-clock-skew.yaml", "j1-lossy-flapping.yaml",
    "j2-soak-under-attack.yaml", "f3-cache-exhaustion.yaml",
    # the relay misbehaviour files (G1-G3): a malicious relay between real namespaces
    "g1-relay-drop-reorder.yaml", "g2-relay-modify-crossforward.yaml", "g3-relay-eavesdrop.yaml",
)  # fmt: skip


@pytest.fixture(scope="module")
def netns_reports(tmp_path_factory):
    """Run every file on netns, PARALLEL at a time; returns {file: report} and the wall time."""
    return run_pool(FILES, tmp_path_factory.mktemp("netns"), "catalogue")


@pytest.mark.parametrize("name", FILES)
def test_catalogue_file_on_netns(netns_reports, name):
    reports, _wall = netns_reports
    r = reports[name]
    assert r.get("backend") == "netns" and r.get("time") == "real", r["failures"]
    assert failures_besides_latency(r) == [], r["failures"]
    assert r["invariants"]["invariants"]["every_frame_one_verdict"]["ok"]
