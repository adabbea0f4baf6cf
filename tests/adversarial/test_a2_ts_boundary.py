"""A2 — stale / future MIKEY T at the boundary (ADVERSARIAL.md §4 A2), memory backend.

scripts/attacks/a2-ts-boundary.yaml: GMSs whose clocks are off by ∓6 s (SKEW + 1) and ∓4 s
(SKEW − 1), and a captured GMK I_MESSAGE replayed 6 s later. Figure: 4/4 boundary cases."""

from __future__ import annotations

from catalogue_support import failures_besides_latency, figure, run


async def test_a2_boundary_cases(clock, tmp_path):
    r = (await run("a2-ts-boundary.yaml", tmp_path)).report
    assert failures_besides_latency(r) == [], r["failures"]
    ues = r["ues"]

    def rejected_ts(name: str) -> int:
        return ues[name]["rejected"].get("gmk", {}).get("TS_OUT_OF_WINDOW", 0)

    cases = {
        # T = now − SKEW − 1 s and T = now + SKEW + 1 s: rejected, nothing installed
        "stale": rejected_ts("m_old") >= 1 and "gmk" not in ues["m_old"]["accepted"],
        "future": rejected_ts("m_new") >= 1 and "gmk" not in ues["m_new"]["accepted"],
        # a replay after SKEW + 1 s: rejected on T although m_rep installed the original
        # (gms_rep's clock is right: m_rep's only TS rejects are the replays)
        "replay": rejected_ts("m_rep") >= 1
        and figure(r, "attack.late_replay.injected") >= 1
        and ues["m_rep"]["accepted"]["gmk"] == 1,
        # T = now ± (SKEW − 1 s): accepted, on both sides
        "inside": all(
            ues[n]["accepted"].get("gmk") == 1 and rejected_ts(n) == 0
            for n in ("m_in_old", "m_in_new")
        ),
    }
    assert cases == dict.fromkeys(cases, True)  # 4/4 boundary cases correct
    assert ues["gms_old"]["clock_offset"] == -6 and ues["gms_in_new"]["clock_offset"] == 4
    # nothing the attacker sent was accepted (the run's own invariant check, from disk)
    sec = r["invariants"]["invariants"]["zero_security_acceptances"]
    assert sec["ok"] and sec["forged"] == 0 and sec["unexpected"] == 0
