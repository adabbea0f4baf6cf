"""I1 — clock skew inside / outside tolerance (ADVERSARIAL.md §4 I1), memory backend.

scripts/attacks/i1-clock-skew.yaml: members off by ±4 s (SKEW − 1) work, members off by ±6 s
(SKEW + 1) fail closed with TS_OUT_OF_WINDOW until their clocks are resynced at RESYNC_AT
(``set_clock``), then recover (GMK installed, the running call decrypted) within 5 s;
discovery announcers off by ±31 s are found, ±34 s are rejected TS_OUT_OF_WINDOW."""

from __future__ import annotations

import json

from catalogue_support import failures_besides_latency, figure, run

INSIDE = ("in_ahead", "in_behind")
OUTSIDE = ("out_ahead", "out_behind")
RESYNC_AT = 9.0  # s: the file's set_clock steps
RECOVERY_BOUND = 5.0  # s: ADVERSARIAL.md I1 "recovery < 5 s after resync"
ACCEPTS = ("gmk", "media", "floor", "call_key")


async def test_i1_skew_inside_works_outside_fails_closed_and_recovers(clock, tmp_path):
    result = await run("i1-clock-skew.yaml", tmp_path)
    r = result.report
    assert failures_besides_latency(r) == [], r["failures"]
    ues = r["ues"]
    assert [ues[n]["clock_offset"] for n in (*INSIDE, *OUTSIDE)] == [4, -4, 6, -6]
    for name in INSIDE:  # 100 % inside: the GMK and the call
        assert ues[name]["accepted"]["gmk"] == 1 and ues[name]["decrypted"]["skewed"] > 200
    events = [json.loads(line) for line in (result.path / "events.jsonl").open()]
    steps = {e["node"]: e for e in events if e["event"] == "clock_set"}
    assert {n: (s["t"], s["was"], s["offset"]) for n, s in steps.items()} == {
        "out_ahead": (RESYNC_AT, 6, 0),
        "out_behind": (RESYNC_AT, -6, 0),
    }
    for name in OUTSIDE:
        # fail closed with the reason while skewed, nothing accepted silently before the resync
        assert ues[name]["rejected"]["gmk"]["TS_OUT_OF_WINDOW"] >= 1
        mine = [e for e in events if e["node"] == name and e.get("kind") in ACCEPTS]
        skewed = [e for e in mine if e["t"] < RESYNC_AT]
        assert any(e["event"] == "reject" and e["reason"] == "TS_OUT_OF_WINDOW" for e in skewed)
        assert [e for e in skewed if e["event"] == "accept"] == []
        # recovered after it: the GMK (once) and the call's media
        assert ues[name]["accepted"]["gmk"] == 1 and ues[name]["decrypted"]["skewed"] > 100
        installed = [e["t"] for e in events if e["node"] == name
                     and e.get("name") == "gmk_installed"]  # fmt: skip
        assert len(installed) == 1 and RESYNC_AT < installed[0] < RESYNC_AT + RECOVERY_BOUND
    assert figure(r, "clock.accepted_before_resync") == 0
    assert figure(r, "clock.recovery_time", "count") == 2
    assert 0 < figure(r, "clock.recovery_time") < RECOVERY_BOUND
    # discovery: the ±31 s announcers are in the listener's table, the ±34 s ones are not
    assert figure(r, "discovery.peers.listener") == 2
    lis = ues["listener"]
    assert lis["rejected"]["discovery"]["TS_OUT_OF_WINDOW"] >= 2
    inside_l2 = {ues[n]["l2id"] for n in ("ann_in_ahead", "ann_in_behind")}
    outside_l2 = {ues[n]["l2id"] for n in ("ann_out_ahead", "ann_out_behind")}
    verdicts = [
        line
        for line in (result.path / "events.jsonl").read_text().splitlines()
        if '"node":"listener"' in line and '"kind":"discovery"' in line
    ]
    assert verdicts
    for line in verdicts:  # every verdict on an out-of-window announcer is a reject
        if any(l2 in line for l2 in outside_l2):
            assert '"reject"' in line and "TS_OUT_OF_WINDOW" in line, line
    assert any('"accept"' in line and any(l2 in line for l2 in inside_l2) for line in verdicts)
