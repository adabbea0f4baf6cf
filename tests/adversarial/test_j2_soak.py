"""J2 — soak under attack (ADVERSARIAL.md §4 J2), memory backend, CI size.

scripts/attacks/j2-soak-under-attack.yaml: junk + fake discovery floods with rotating L2 IDs
and well-formed GMK I_MESSAGEs with a bogus SIGN while both groups talk. Figures: 0 security
acceptances, bounded state, service goes on. (RSS growth is not judged: see the file.)"""

from __future__ import annotations

from catalogue_support import failures_besides_latency, figure, run


async def test_j2_no_acceptance_and_bounded_state_under_floods(clock, tmp_path):
    r = (await run("j2-soak-under-attack.yaml", tmp_path)).report
    assert failures_besides_latency(r) == [], r["failures"]
    assert figure(r, "attack.flood.injected") >= 1500 and figure(r, "attack.bogus.injected") >= 100
    assert figure(r, "attack.accepted") == 0
    sec = r["invariants"]["invariants"]["zero_security_acceptances"]
    assert sec["ok"] and sec["forged"] == 0 and sec["unexpected"] == 0
    # the bogus signatures reached ECCSI and failed there (the PGK-holding attacker made them
    # decipher), and nothing else was installed
    assert r["figures"]["verdicts.rejected.gmk.BAD_SIG"]["max"] >= 10
    assert figure(r, "gmk.reinstalls") == 0 and figure(r, "gmk.downgrades") == 0
    assert figure(r, "discovery.table_size") <= 256
    # service went on for both groups during the attack
    for name in ("a3", "a4"):
        assert r["ues"][name]["decrypted"]["a_call"] > 250
    assert r["ues"]["b2"]["decrypted"]["b_call"] > 250
    assert r["invariants"]["invariants"]["every_frame_one_verdict"]["ok"]
