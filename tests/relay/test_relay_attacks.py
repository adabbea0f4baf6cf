"""ADVERSARIAL.md G1-G3 on the memory backend, from scripts/attacks/g*.yaml, through the
attack runner (``malicious_relay`` attackers become ``relays.misbehave`` behaviours)."""

from __future__ import annotations

import trio
import trio.testing
from support import REPO

from prose_mesh.scenario import load_scenario
from prose_mesh.scenario.runner import run_scenario


class _Bad:
    def __init__(self, counters):
        self.counters = counters


def _run(name: str, tmp_path, monkeypatch=None):
    scen = load_scenario(REPO / "scripts" / "attacks" / name)
    result = trio.run(lambda: run_scenario(scen, backend="memory", out=tmp_path),
                      clock=trio.testing.MockClock(autojump_threshold=0))
    rows = [r for r in result.report["verdict"]["attackers"] if r["role"] == "malicious_relay"]
    return result, [_Bad(r["counters"]) for r in rows]


def _fig(rep, name):
    return rep["figures"][name]["max"]


def test_g1_drop_and_reorder_accounted(tmp_path, monkeypatch):
    result, (bad,) = _run("g1-relay-drop-reorder.yaml", tmp_path, monkeypatch)
    rep = result.report
    assert rep["failures"] == [], rep["failures"]
    assert bad.counters["dropped"] > 0 and bad.counters["reordered"] > 0
    assert bad.counters["seen"] < 200  # it misbehaved only from its start (3 s) on
    # every reordered media frame the member played was in the SRTP window: accepted, counted
    assert _fig(rep, "relay.media_out_of_order") > 0
    # nothing the relay forwarded honestly (or reordered) was rejected by the member
    assert rep["ues"]["m1"]["rejected"].get("media", {}) == {}
    assert rep["invariants"]["every_frame_one_verdict"]


def test_g2_modified_and_cross_forwarded_frames_rejected(tmp_path, monkeypatch):
    result, (bad,) = _run("g2-relay-modify-crossforward.yaml", tmp_path, monkeypatch)
    rep = result.report
    assert rep["failures"] == [], rep["failures"]
    assert bad.counters["modified"] > 0 and bad.counters["cross_forwarded"] > 0
    m1 = rep["ues"]["m1"]
    rejected = sum(sum(r.values()) for r in m1["rejected"].values())
    # each tampered frame that reached m1 ends in a reject (some are another UE's to judge:
    # m1 only opens group g; frames of h rewritten into g are m1's to reject)
    assert rejected >= bad.counters["cross_forwarded"]
    assert "c2" not in m1["decrypted"]
    # the invariants see the relay's tampering (its relay_tampered events): every tampered
    # frame m1 judged was rejected, or accepted only with a flip in a header nothing end to end
    # covers; none is a security acceptance
    (row,) = [r for r in rep["verdict"]["attackers"] if r["role"] == "malicious_relay"]
    frames = rep["verdict"]["attack_frames"][row["attacker"]]
    assert frames["injected"] == bad.counters["modified"] + bad.counters["cross_forwarded"] - (
        _both(result.path))
    assert frames["accepted"] == 0 and rep["invariants"]["security_acceptances"] == 0
    judged = sum(frames["rejected"].values()) + frames.get("accepted_header_flips", 0)
    assert judged == frames["injected"] > 0


def _both(run) -> int:
    """Frames the relay both cross-forwarded and modified (one frame, counted twice)."""
    import json

    with (run / "events.jsonl").open() as fh:
        return sum(1 for line in fh if '"relay_tampered"' in line
                   and json.loads(line)["data"]["what"] == "cross_forward+modify")


def test_g3_relay_memory_and_air_hold_no_canary(tmp_path, monkeypatch):
    result, made = _run("g3-relay-eavesdrop.yaml", tmp_path, monkeypatch)
    rep = result.report
    assert made == []
    assert rep["failures"] == [], rep["failures"]
    assert _fig(rep, "relay.canary_hits") == 0
    assert _fig(rep, "relay.canary_control_hits") > 0  # the scan finds it in a member
    assert _fig(rep, "relay.canary_objects_scanned") > 500
    assert rep["canary_in_air_capture"] == 0
