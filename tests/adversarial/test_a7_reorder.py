"""A7 — reordering without false rejects (ADVERSARIAL.md §4 A7), memory backend.

scripts/attacks/a7-reorder-no-false-rejects.yaml: medium ``reorder 25% 50% gap 5`` + ``delay
20ms 10ms``. Reordered SRTP inside the 64-packet window must be accepted: false rejects
< 0.1 % of the first verdicts on untampered media frames (figures_adversarial.py)."""

from __future__ import annotations

from catalogue_support import failures_besides_latency, figure, run


async def test_a7_reordered_media_is_accepted(clock, tmp_path):
    r = (await run("a7-reorder-no-false-rejects.yaml", tmp_path)).report
    assert failures_besides_latency(r) == [], r["failures"]
    # the medium really reordered: frames overtook others on the air
    reordered = sum(
        1
        for line in (tmp_path / r["run"] / "events.jsonl").open()
        if '"deliver"' in line and '"reorder"' in line
    )
    assert reordered > 100
    assert figure(r, "media.false_reject_rate") < 0.001
    assert figure(r, "media.first_verdicts") >= 1500
    assert figure(r, "media.duplicates_accepted") == 0
    for name in ("m2", "m3", "m4"):  # listeners of m1 (m3 also talked)
        assert r["ues"][name]["decrypted"]["reordered"] > 350, name
        # nothing fell behind the window or was mistaken for a replay
        rejected = r["ues"][name]["rejected"].get("media", {})
        assert not {"replay_old", "replay_fail", "BAD_TAG"} & set(rejected), rejected
    assert r["invariants"]["every_frame_one_verdict"]
