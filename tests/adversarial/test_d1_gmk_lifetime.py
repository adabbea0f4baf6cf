"""D1 — expired / not-yet-active GMK (ADVERSARIAL.md §4 D1), memory backend.

scripts/attacks/d1-gmk-lifetime.yaml: a lagging creator keeps talking after its ad-hoc GMK
expired for the others; a GMS running ahead makes a GMK that is not yet active for the others.
Figure: 0 frames accepted outside [activation, expiry + G], G = 0 s; compliant senders refuse."""

from __future__ import annotations

import json

from catalogue_support import failures_besides_latency, figure, run

from prose_mesh.node.clock import VIRTUAL_EPOCH


async def test_d1_nothing_accepted_outside_the_gmk_lifetime(clock, tmp_path):
    result = await run("d1-gmk-lifetime.yaml", tmp_path)
    r = result.report
    assert failures_besides_latency(r) == [], r["failures"]
    assert figure(r, "gmk.accepted_outside_lifetime") == 0
    assert figure(r, "gmk.receive_grace") == 0
    events = [json.loads(line) for line in (result.path / "events.jsonl").open()]
    expiry = next(
        e["data"]["expiry"]
        for e in events
        if e["node"] == "r1"
        and e.get("name") == "gmk_installed"
        and e["data"]["group_id"] == "g_exp"
    )
    t_expiry = expiry - VIRTUAL_EPOCH  # r1's clock has no offset: its t on the run's clock
    assert 9.5 < t_expiry < 11.5
    for node in ("r1", "r2"):
        media = [
            e
            for e in events
            if e["node"] == node and e.get("kind") == "media" and e["event"] in ("accept", "reject")
        ]
        # before expiry slow's media is accepted, after it every frame is rejected GMK_EXPIRED
        assert sum(1 for e in media if e["event"] == "accept" and e["t"] < t_expiry) > 200
        assert not [e for e in media if e["event"] == "accept" and e["t"] > t_expiry + 0.01]
        late = [e for e in media if e["t"] > t_expiry + 0.01]
        assert len(late) >= 40 and {e["reason"] for e in late} == {"GMK_EXPIRED"}
    # the compliant sender r1 refused to send under the expired GMK; nobody got its media
    assert figure(r, "ue.r1.send_refused.GMK_EXPIRED") >= 40
    assert not [e for e in events if e["event"] == "app_deliver" and e["talker"] == "r1"]
    # not yet active: r3/r4 refused the call key until the GMK activated, then joined
    for node in ("r3", "r4"):
        assert r["ues"][node]["rejected"]["call_key"]["GMK_NOT_ACTIVE"] >= 1
        joined = [e["t"] for e in events if e["node"] == node and e.get("name") == "call_joined"]
        assert joined and min(joined) > 6.5  # activation at about t = 7 s on their clocks
        assert r["ues"][node]["decrypted"]["early"] > 100
