"""H1 — key-stream reuse audit (ADVERSARIAL.md §4 H1), memory backend.

scripts/attacks/h1-keystream-audit.yaml, CI size: two groups, two talkers each, a rekey in a
call, a repeated call under the same GMK, a member leaving and re-joining. Figure: 0 duplicate
(MKI, SSRC, index) tuples - on the receive side (figures_adversarial.py: a tuple that carried
two plaintexts) and on the send side (the report's ``keystream_unique`` invariant over every
packet a UE protected)."""

from __future__ import annotations

import json

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
    # the re-joining member decrypted the call again after its return
    assert r["ues"]["b3"]["decrypted"]["b_call"] > 300
