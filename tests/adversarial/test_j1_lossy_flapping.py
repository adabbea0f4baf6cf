"""J1 — lossy, corrupting, flapping sidelink (ADVERSARIAL.md §4 J1), memory backend, CI size.

scripts/attacks/j1-lossy-flapping.yaml: gemodel loss, corrupt 1 %, duplicate 5 %, the talker's
links down 3 s twice, a rekey between the windows. Corrupted and duplicated frames rejected,
§5 invariants hold, no stale key used; the resume time after each link-up is measured.

Reported, not asserted here: ``gmk.delivery_ratio`` and ``link.resume_time``. Under bursty
loss a member's I_MESSAGE, its MIKEY repeat and the distributor's resends (GMK_RESEND_AFTER) can
all be lost (memory backend, seed 13 of a sweep: one delivery of 8 not within 10 s), and whether
it happens depends on the medium's random draws and, on this backend, on the crypto CPU charged
as virtual time. Media a member rejects while its GMK is still on its way is
``media.rejected_before_gmk``, not a false reject, so ``media.false_reject_rate`` is asserted.
"""

from __future__ import annotations

import json

import pytest
from catalogue_support import failures_besides_latency, figure, run

from prose_mesh.scenario import figures_adversarial as F

#: figures that depend on every member getting every GMK in time (see the module docstring)
NO_RETRY = ("gmk.delivery_ratio", "link.resume_time")


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
    # the run's figures read a filtered events.jsonl: the same figures from every line
    full: dict[str, float] = {}
    F._first_verdicts(None, events, full)  # type: ignore[arg-type]
    for name, value in full.items():
        assert figure(r, name) == pytest.approx(value, rel=1e-4, nan_ok=True), name
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
