"""H1 — key-stream reuse audit (ADVERSARIAL.md §4 H1), memory backend.

scripts/attacks/h1-keystream-audit.yaml, CI size: two groups, two talkers each, a rekey in a
call, a repeated call under the same GMK, a member leaving and re-joining, and a forced SSRC
collision (the two talkers of each group share one SSRC and first SEQ: the scenario's [EMU]
``ssrc`` / ``first_seq``). Figure: 0 duplicate (MKI, SSRC, index) tuples - on the receive side
(figures_adversarial.py: a tuple that carried two plaintexts) and on the send side (the
report's ``keystream_unique`` invariant over every packet a UE protected) - while the same
(SSRC, index) pairs were sent, and heard, under different MKIs."""

from __future__ import annotations

import json
from collections import defaultdict

from catalogue_support import failures_besides_latency, figure, run


async def test_h1_no_tuple_repeats(clock, tmp_path):
    result = await run("h1-keystream-audit.yaml", tmp_path)
    r = result.report
    assert failures_besides_latency(r) == [], r["failures"]
    assert figure(r, "srtp.tuple_reuse") == 0
    assert figure(r, "srtp.mki_ssrc_index_reuse") == 0
    assert figure(r, "srtp.tuples") >= 1000  # the file asks >= 500 (netns under load)
    ks = r["invariants"]["invariants"]["keystream_unique"]
    assert ks["ok"] and ks["reused"] == 0 and ks["srtp"] >= 1000 and ks["srtcp"] >= 1, ks
    # the audit saw several master keys: one MKI per (GMK, talker), and the rekey added some
    sent = [
        json.loads(line)["data"]
        for line in (result.path / "events.jsonl").open()
        if '"srtp_tx"' in line
    ]
    mkis = {d["mki"] for d in sent if not d["rtcp"]}
    assert len(mkis) >= 4, mkis
    # the forced collision happened: on the send side, the same (SSRC, index) under two MKIs of
    # one GMK (two talkers), for SRTP and for SRTCP (both Floor Taken streams start at index 0)
    by_pair: dict[tuple[int, int, bool], set[str]] = defaultdict(set)
    for d in sent:
        by_pair[(d["ssrc"], d["index"], d["rtcp"])].add(d["mki"])
    # one GMK-ID, several GUK-IDs: only the talkers' per-user keys keep these tuples apart
    same_gmk = {k for k, v in by_pair.items() if len({m[:8] for m in v}) < len(v)}
    assert {k[0] for k in same_gmk} == {0x5EED0001, 0x5EED0002}, same_gmk
    assert any(k[2] for k in same_gmk) and sum(1 for k in same_gmk if not k[2]) >= 100
    # ... and on the receive side, with no false reject and nothing decrypted twice
    assert figure(r, "srtp.ssrc_index_collisions") >= 100
    assert figure(r, "srtp.ssrc_index_collisions_same_gmk") >= 100
    assert figure(r, "media.duplicates_accepted") == 0
    # a replay window shared by the colliding talkers would refuse the second one's packets
    for kind in ("media", "floor"):
        for reason in ("replay_fail", "replay_old"):
            assert figure(r, f"verdicts.rejected.{kind}.{reason}") == 0
    assert figure(r, "verdicts.accepted.media") >= 1000
    # the re-joining member decrypted the call again after its return
    assert r["ues"]["b3"]["decrypted"]["b_call"] > 300
