"""B4 — SAKKE to the wrong identity (ADVERSARIAL.md §4 B4), memory backend.

scripts/attacks/b4-sakke-wrong-identity.yaml: members hear the I_MESSAGEs encapsulated to the
others (IDRr ≠ self) and an attacker re-addresses a D2D-borne ad-hoc GMK to another member.
Figure: 0 installs; 0 crypto operations when IDRr ≠ self."""

from __future__ import annotations

from catalogue_support import failures_besides_latency, figure, run


async def test_b4_not_for_me_costs_no_crypto_and_installs_nothing(clock, tmp_path):
    r = (await run("b4-sakke-wrong-identity.yaml", tmp_path)).report
    assert failures_besides_latency(r) == [], r["failures"]
    ues = r["ues"]
    for name in ("s1", "s2", "s3"):
        # two distributions (creation + rekey), each with two I_MESSAGEs for the others
        assert ues[name]["rejected"]["gmk"]["NOT_FOR_ME"] >= 4
        # exactly one ECCSI verification and one SAKKE decapsulation per own GMK
        assert figure(r, f"ue.{name}.crypto.eccsi_verify") == ues[name]["accepted"]["gmk"] == 2
        assert figure(r, f"ue.{name}.crypto.sakke_decapsulate") == 2
    assert figure(r, "gmk.verifies_beyond_verdicts") == 0
    # the re-addressed unicast GMK died at PDCP (no key of c<->m1's link at m2), before MIKEY
    assert ues["m2"]["rejected"]["pdcp"]["UNKNOWN_KEY"] >= 1
    assert figure(r, "ue.m2.crypto.eccsi_verify") == 1  # its own GMK only
    assert figure(r, "attack.redirect.injected") >= 5 and figure(r, "gmk.reinstalls") == 0
    assert r["invariants"]["invariants"]["zero_security_acceptances"]["ok"]
