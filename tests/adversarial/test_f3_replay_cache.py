"""F3 — replay-cache exhaustion (ADVERSARIAL.md §4 F3; PROTOCOL.md §8.1 R7).

Only I_MESSAGEs that verified are ever inserted into the MIKEY replay cache (R4), so an
outsider cannot fill it: replays, forgeries and junk are rejected before the insert. What can
fill it is a burst of authentic distributions (a GMS that rekeys in a loop, or one whose keys
were stolen). The test drives a real :class:`GmkMember` with real GMS I_MESSAGEs (ECCSI-signed,
SAKKE-encapsulated) to a small cache bound and checks the catalogue's expectations: memory
bounded (the cache never holds more than its bound), fail closed on overflow (CACHE_FULL, no
install), and recovery within SKEW + 1 s. The bound is 4 instead of the node's 4096 only to keep
the test fast (each I_MESSAGE costs an ECCSI verification and a SAKKE decapsulation).

The scenario file scripts/attacks/f3-cache-exhaustion.yaml shows the other half: an outsider's
flood of distinct bogus-signature I_MESSAGEs dies at the group bearer and reaches no cache
(:func:`test_f3_outsider_flood_reaches_no_cache`)."""

from __future__ import annotations

import pytest
from catalogue_support import failures_besides_latency, figure, run

from prose_mesh.constants import MIKEY_SKEW_S
from prose_mesh.crypto.identity import key_period_number
from prose_mesh.crypto.kms import Kms
from prose_mesh.protocol.actions import Accepted, Rejected, SendGroupIp
from prose_mesh.protocol.gmk_distribution import GmkDistributor, GmkMember
from prose_mesh.protocol.groups import GroupConfig, GroupDirectory
from prose_mesh.wire import mikey_codec as mc
from prose_mesh.wire.ipudp import parse_udp6

NOW = 1_790_000_000.0
GMS = "sip:gms@f3.example"
ALICE = "sip:alice@f3.example"
BOUND = 4


@pytest.fixture(scope="module")
def keys():
    kms = Kms.generate("kms.f3.example")
    pn = key_period_number(NOW, kms.period, kms.offset)
    return {u: kms.provision(u, pn) for u in (GMS, ALICE)}


def alices(keys, actions) -> bytes:
    """The I_MESSAGE of a distribution addressed (IDRr) to alice."""
    for a in actions:
        if isinstance(a, SendGroupIp):
            pkt = a.packet
            if mc.parse_i_message(parse_udp6(pkt).payload).responder_id == keys[ALICE].uid:
                return pkt
    raise AssertionError("no I_MESSAGE for alice")


def test_f3_cache_bounded_fails_closed_and_recovers(keys):
    group = GroupConfig("sip:f3@f3.example", "standard", GMS, frozenset({ALICE}))
    gms = GmkDistributor(keys=keys[GMS], src_l2id=0x42)
    alice = GmkMember(keys=keys[ALICE], directory=GroupDirectory([group]), cache_capacity=BOUND)

    def deliver(now: float) -> str:
        _issue, actions = gms.distribute(group, now=now)
        out = alice.on_i_message(
            alices(keys, actions), src_l2id=0x42, via="group", now=now, link_peer_uri=None
        )
        (v,) = [a for a in out if isinstance(a, Accepted | Rejected)]
        assert len(alice.replay) <= BOUND  # memory bounded at every step
        return "ACCEPTED" if isinstance(v, Accepted) else str(v.reason)

    # a burst of authentic rekeys, 0.5 s apart (inside the per-source token bucket)
    burst = [deliver(NOW + 0.5 * i) for i in range(BOUND + 2)]
    assert burst == ["ACCEPTED"] * BOUND + ["CACHE_FULL"] * 2
    # the refused ones cost no crypto: CACHE_FULL is decided before ECCSI (§3 check order)
    assert alice.crypto_ops["eccsi_verify"] == BOUND
    first_full = NOW + 0.5 * BOUND
    # fail closed for SKEW: a fresh authentic rekey just before the end is still refused
    assert deliver(first_full + MIKEY_SKEW_S - 0.25) == "CACHE_FULL"
    # ... and accepted within SKEW + 1 s of the overflow: recovery
    t = first_full + MIKEY_SKEW_S
    outcome = "CACHE_FULL"
    while outcome == "CACHE_FULL" and t <= first_full + MIKEY_SKEW_S + 1.0:
        outcome = deliver(t)
        t += 0.25
    assert outcome == "ACCEPTED", outcome
    recovery = t - 0.25 - first_full
    assert recovery <= MIKEY_SKEW_S + 1.0
    assert alice.replay.overflows >= 1 and len(alice.replay) <= BOUND
    # the GMK in use is the newest accepted one: nothing refused was installed
    newest = alice.current(group.group_id, t)
    assert newest is not None and newest.gmk_id == gms.issued(group.group_id).gmk_id


async def test_f3_outsider_flood_reaches_no_cache(clock, tmp_path):
    r = (await run("f3-cache-exhaustion.yaml", tmp_path)).report
    assert failures_besides_latency(r) == [], r["failures"]
    assert figure(r, "attack.flood.injected") == 6000 and figure(r, "attack.flood.accepted") == 0
    # not one forgery reached the MIKEY receiver: no GMK verdict but the GMS's own
    gmk_rejects = sum(n for u in r["ues"].values()
                      for reason, n in (u["rejected"].get("gmk") or {}).items()
                      if reason not in ("REPLAY", "NOT_FOR_ME", "GMK_SUPERSEDED"))
    assert gmk_rejects == 0
    assert figure(r, "rekey.switchover") is not None
