"""GMK distribution end to end with real crypto: standard, ad-hoc, temporary, rekey/revoke.

Machines are wired in plain Python: the bytes of a distributor's Send actions go into members'
``on_i_message``. Attack messages are crafted from the public building blocks (wire codec, E.6
key parameters, SAKKE, ECCSI) with the keys the scenario gives the attacker. Scenario IDs refer
to ADVERSARIAL.md §4.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import pytest

from prose_mesh.constants import ADHOC_GMK_ID_FLAG, MIKEY_PORT
from prose_mesh.crypto.eccsi import eccsi_sign
from prose_mesh.crypto.identity import key_period_number
from prose_mesh.crypto.kdf import gmk_id_from_guk_id, guk_id
from prose_mesh.crypto.kms import KeyMaterial, Kms
from prose_mesh.crypto.p256 import Q as ECCSI_Q
from prose_mesh.crypto.sakke import sakke_encapsulate
from prose_mesh.errors import ConfigError
from prose_mesh.protocol.actions import Accepted, Event, Rejected, SendGroupIp, SendUnicastIp
from prose_mesh.protocol.gmk_distribution import (
    AdhocRefused,
    GmkDistributor,
    GmkMember,
    member_uid,
)
from prose_mesh.protocol.groups import GroupConfig, GroupDirectory
from prose_mesh.protocol.key_params import KeyParameters, protect, quantize
from prose_mesh.protocol.ratelimit import SourceLimiter
from prose_mesh.protocol.reasons import Reason
from prose_mesh.wire import mikey_codec as mc
from prose_mesh.wire.ipudp import link_local, parse_udp6

NOW = 1_780_000_000.0
DEFAULT_SP = mc.SP()
KMS_URI = "kms.prose-mesh.example"
GMS = "sip:gms@prose-mesh.example"
NAMES = ("alice", "bob", "carol", "dave", "eve", "mallory")
L2 = {f"sip:{n}@prose-mesh.example": 0x100 + i for i, n in enumerate(NAMES)}


@dataclass
class World:
    kms: Kms
    keys: dict[str, KeyMaterial]  # URI → key material for NOW's key period
    period_no: int

    def uri(self, name: str) -> str:
        return f"sip:{name}@prose-mesh.example"

    def km(self, name: str) -> KeyMaterial:
        return self.keys[GMS if name == "gms" else self.uri(name)]


@pytest.fixture(scope="module")
def world() -> World:
    kms = Kms.generate(KMS_URI)
    pn = key_period_number(NOW, kms.period, kms.offset)
    uris = [GMS, *(f"sip:{n}@prose-mesh.example" for n in NAMES)]
    return World(kms, {u: kms.provision(u, pn) for u in uris}, pn)


def std_group(w: World, members=("alice", "bob", "carol", "dave")) -> GroupConfig:
    return GroupConfig("sip:fire@prose-mesh.example", "standard", GMS,
                       frozenset(w.uri(m) for m in members))


def member(w: World, name: str, groups=(), **kw) -> GmkMember:
    return GmkMember(keys=w.km(name), directory=GroupDirectory(list(groups)), **kw)


def packets(actions) -> list[bytes]:
    return [a.packet for a in actions if isinstance(a, SendGroupIp | SendUnicastIp)]


def verdicts(actions) -> list[Accepted | Rejected]:
    return [a for a in actions if isinstance(a, Accepted | Rejected)]


def feed(m: GmkMember, pkt: bytes, now: float = NOW, *, via="group", peer=None, src=0x999):
    out = m.on_i_message(pkt, src_l2id=src, via=via, now=now, link_peer_uri=peer)
    v = verdicts(out)
    assert len(v) == 1  # exactly one verdict per input
    return v[0], out


def reason(m: GmkMember, pkt: bytes, now: float = NOW, **kw) -> str:
    v, _ = feed(m, pkt, now, **kw)
    return "ACCEPTED" if isinstance(v, Accepted) else str(v.reason)


def for_member(w: World, pkts: list[bytes], name: str) -> bytes:
    """The one I_MESSAGE among ``pkts`` whose IDRr is ``name``'s UID."""
    mine = [p for p in pkts
            if mc.parse_i_message(parse_udp6(p).payload).responder_id == w.km(name).uid]
    assert len(mine) == 1
    return mine[0]


def craft(w: World, signer: str, recipient: str, *, gmk: bytes, gmk_id: int, group_id: str,
          t: float = NOW, activation: float | None = None, expiry: float | None = None,
          kind: str = "standard", members=(), idri: bytes | None = None,
          sakke_uid: bytes | None = None, sakke_mutate=None, sp=DEFAULT_SP) -> bytes:
    """A GMK I_MESSAGE built from the public pieces and signed with ``signer``'s real keys."""
    s, r = w.km(signer), w.km(recipient)
    guk = guk_id(gmk, gmk_id, r.uri)
    act = quantize(t) if activation is None else activation
    params = KeyParameters(act, act + 3600 if expiry is None else expiry, group_id, kind,
                           tuple(members))
    sakke = sakke_encapsulate(gmk, identity=sakke_uid or r.uid, z_pub=r.z_pub)
    if sakke_mutate is not None:
        sakke = sakke_mutate(sakke)
    return mc.build_gmk_i_message(
        guk_id=guk, gmk_id=gmk_id, t_ntp=mc.ntp_from_unix(t), rand=os.urandom(16),
        sign=lambda m: eccsi_sign(m, identity=s.uid, ssk=s.ssk, pvt=s.pvt, kpak=s.kpak),
        initiator_uid=idri or s.uid, responder_uid=r.uid, kms_uri_initiator=KMS_URI.encode(),
        kms_uri_responder=KMS_URI.encode(), sakke_data=sakke, sp=sp,
        extensions=(mc.GeneralExt(7, protect(params, gmk=gmk, dppk_id=guk)),),
    )


# ------------------------------------------------------------------ standard distribution


def test_standard_distribution_each_member_installs_the_same_gmk(world):
    w = world
    group = std_group(w)
    dist = GmkDistributor(keys=w.km("gms"), src_l2id=0x42)
    issue, actions = dist.distribute(group, now=NOW)
    sends = [a for a in actions if isinstance(a, SendGroupIp)]
    assert len(sends) == 4 and {a.group_l2id for a in sends} == {group.l2_group_id}
    for a in sends:
        d = parse_udp6(a.packet)
        assert (d.dst, d.dport, d.src) == (group.multicast, MIKEY_PORT, link_local(0x42))
    assert issue.gmk_id >> 28 == 0 and not issue.gmk_id & ADHOC_GMK_ID_FLAG
    assert dist.issued(group.group_id) == issue

    guks = {}
    for name in ("alice", "bob", "carol", "dave"):
        m = member(w, name, [group])
        results = [feed(m, p)[0] for p in packets(actions)]  # the bearer delivers all 4
        accepted = [v for v in results if isinstance(v, Accepted)]
        assert len(accepted) == 1 and accepted[0].peer == GMS
        assert sorted(str(v.reason) for v in results if isinstance(v, Rejected)) == [
            "NOT_FOR_ME"] * 3
        assert m.crypto_ops == {"eccsi_verify": 1, "sakke_decapsulate": 1}  # only its own
        rec = m.current(group.group_id, NOW)
        assert rec.key == issue.gmk and rec.gmk_id == issue.gmk_id and rec.rand == issue.rand
        assert m.by_gmk_id(issue.gmk_id) == (group.group_id, rec)
        # the wire CSB ID is this member's GUK-ID (33.180 F.1.3), empty CS-ID map by default
        hdr = mc.parse_i_message(parse_udp6(for_member(w, packets(actions), name)).payload).hdr
        assert hdr.map_type == mc.MAP_EMPTY and hdr.csb_id == m.guk_id(group.group_id)
        assert gmk_id_from_guk_id(issue.gmk, hdr.csb_id, w.uri(name)) == issue.gmk_id
        guks[name] = hdr.csb_id
    assert len(set(guks.values())) == 4  # GUK-IDs differ per member

    outsider = member(w, "eve", [group])  # knows the group, is not in it
    assert {reason(outsider, p) for p in packets(actions)} == {"NOT_FOR_ME"}
    assert outsider.crypto_ops == {} and outsider.current(group.group_id, NOW) is None


def test_generic_id_map_form_is_accepted(world):
    w = world
    group = std_group(w)
    issue, actions = GmkDistributor(keys=w.km("gms"), generic_id_map=True).distribute(
        group, now=NOW)
    pkt = for_member(w, packets(actions), "bob")
    msg = mc.parse_i_message(parse_udp6(pkt).payload)
    assert msg.hdr.map_type == mc.MAP_GENERIC_ID
    assert int.from_bytes(msg.spi[:4], "big") == issue.gmk_id
    m = member(w, "bob", [group])
    assert reason(m, pkt) == "ACCEPTED" and m.current(group.group_id, NOW).key == issue.gmk


def test_distributor_must_be_the_configured_manager(world):
    w = world
    with pytest.raises(ConfigError):
        GmkDistributor(keys=w.km("mallory")).distribute(std_group(w), now=NOW)


# ------------------------------------------------------------------ A. replay


def test_a1_replay_1000_times_rejected_before_verification(world):
    w = world
    group = std_group(w)
    _, actions = GmkDistributor(keys=w.km("gms")).distribute(group, now=NOW)
    pkt = for_member(w, packets(actions), "alice")
    alice, bob = member(w, "alice", [group]), member(w, "bob", [group])
    v, out = feed(alice, pkt)
    assert isinstance(v, Accepted) and [e.name for e in out if isinstance(e, Event)] == [
        "gmk_installed"]
    for i in range(1000):
        assert reason(alice, pkt, NOW + (i % 40) / 10) == "REPLAY"
        if i % 100 == 0:
            assert reason(bob, pkt, NOW) == "NOT_FOR_ME"
    assert alice.accepted == 1 and alice.rejects["REPLAY"] == 1000
    assert alice.crypto_ops == {"eccsi_verify": 1, "sakke_decapsulate": 1}
    assert bob.crypto_ops == {}


def test_r3_malleated_signature_is_still_a_replay(world):
    w = world
    group = std_group(w)
    _, actions = GmkDistributor(keys=w.km("gms")).distribute(group, now=NOW)
    raw = parse_udp6(for_member(w, packets(actions), "carol")).payload
    carol = member(w, "carol", [group])
    assert reason(carol, raw) == "ACCEPTED"
    s = int.from_bytes(raw[-97:-65], "big")
    twin = raw[:-97] + (ECCSI_Q - s).to_bytes(32, "big") + raw[-65:]  # (r, q − s, PVT)
    assert twin != raw and reason(carol, twin) == "REPLAY"
    assert carol.crypto_ops["eccsi_verify"] == 1


def test_a2_timestamp_boundaries(world):
    w = world
    group = std_group(w)
    _, actions = GmkDistributor(keys=w.km("gms")).distribute(group, now=NOW)
    pkt = for_member(w, packets(actions), "dave")
    skew = 5.0
    cases = {NOW + skew + 1: "TS_OUT_OF_WINDOW",  # T = now − SKEW − 1
             NOW - skew - 1: "TS_OUT_OF_WINDOW",  # T = now + SKEW + 1
             NOW + skew - 1: "ACCEPTED", NOW - skew + 1: "ACCEPTED"}
    for now, expected in cases.items():
        m = member(w, "dave", [group], skew=skew)
        assert reason(m, pkt, now) == expected, now
        if expected != "ACCEPTED":
            assert m.crypto_ops == {}
    m = member(w, "dave", [group], skew=skew)
    assert reason(m, pkt, NOW) == "ACCEPTED"
    assert reason(m, pkt, NOW + skew + 1) == "TS_OUT_OF_WINDOW"  # replay after SKEW + 1 s


def test_a5_old_gmk_with_fresh_t_is_superseded(world):
    w = world
    group = std_group(w)
    dist = GmkDistributor(keys=w.km("gms"))
    old, a1 = dist.distribute(group, now=NOW)
    new, a2 = dist.distribute(group, now=NOW + 60)
    bob = member(w, "bob", [group])
    assert reason(bob, for_member(w, packets(a1), "bob"), NOW) == "ACCEPTED"
    assert reason(bob, for_member(w, packets(a2), "bob"), NOW + 60) == "ACCEPTED"
    t = NOW + 120  # a genuinely GMS-signed copy of the old GMK, released later
    same_id = craft(w, "gms", "bob", gmk=old.gmk, gmk_id=old.gmk_id, group_id=group.group_id,
                    t=t, activation=quantize(t))
    older_act = craft(w, "gms", "bob", gmk=os.urandom(16), gmk_id=0x0123_4567,
                      group_id=group.group_id, t=t, activation=old.activation)
    assert reason(bob, same_id, t) == "GMK_SUPERSEDED"
    assert reason(bob, older_act, t) == "GMK_SUPERSEDED"
    assert bob.current(group.group_id, t).gmk_id == new.gmk_id  # 0 downgrades
    assert bob.accepted == 2


def test_newest_valid_gmk_wins(world):
    w = world
    group = std_group(w)
    dist = GmkDistributor(keys=w.km("gms"))
    g1, a1 = dist.distribute(group, now=NOW)
    g2, a2 = dist.distribute(group, now=NOW + 1)
    carol = member(w, "carol", [group])
    assert reason(carol, for_member(w, packets(a1), "carol"), NOW) == "ACCEPTED"
    assert carol.current(group.group_id, NOW).gmk_id == g1.gmk_id
    assert reason(carol, for_member(w, packets(a2), "carol"), NOW + 1) == "ACCEPTED"
    assert carol.current(group.group_id, NOW + 1).gmk_id == g2.gmk_id
    late = member(w, "carol", [group])  # delivered out of order: the older one loses
    assert reason(late, for_member(w, packets(a2), "carol"), NOW + 1) == "ACCEPTED"
    assert reason(late, for_member(w, packets(a1), "carol"), NOW + 2) == "GMK_SUPERSEDED"
    assert late.current(group.group_id, NOW + 2).gmk_id == g2.gmk_id


# ------------------------------------------------------------------ B. identity


def test_b2_non_manager_signer_is_unauthorised_before_crypto(world):
    w = world
    group = std_group(w, ("alice", "bob", "mallory"))
    pkt = craft(w, "mallory", "alice", gmk=os.urandom(16), gmk_id=0x0555_0001,
                group_id=group.group_id)
    alice = member(w, "alice", [group])
    assert reason(alice, pkt) == "UNAUTHORISED_SIGNER" and alice.crypto_ops == {}


def test_b2_idri_of_manager_signed_by_someone_else_is_bad_sig(world):
    w = world
    group = std_group(w)
    pkt = craft(w, "mallory", "alice", gmk=os.urandom(16), gmk_id=0x0555_0002,
                group_id=group.group_id, idri=w.km("gms").uid)
    alice = member(w, "alice", [group])
    assert reason(alice, pkt) == "BAD_SIG"
    assert reason(alice, pkt) == "KNOWN_BAD"  # never verified twice
    assert alice.crypto_ops == {"eccsi_verify": 1} and alice.current(group.group_id, NOW) is None


def test_b2_mutated_signatures_are_bad_sig(world):
    w = world
    group = std_group(w)
    _, actions = GmkDistributor(keys=w.km("gms")).distribute(group, now=NOW)
    raw = bytearray(parse_udp6(for_member(w, packets(actions), "bob")).payload)
    rng = random.Random(5)
    sig_at = len(raw) - 129
    for i in range(60):  # r, s and PVT octets, random bit each
        pos = sig_at + (i * 129) // 60
        mutated = bytearray(raw)
        mutated[pos] ^= 1 << rng.randrange(8)
        bob = member(w, "bob", [group])
        assert reason(bob, bytes(mutated)) == "BAD_SIG", pos
        assert bob.current(group.group_id, NOW) is None
    bob = member(w, "bob", [group])
    assert reason(bob, bytes(raw)) == "ACCEPTED"  # the unmutated original still works


def test_b4_wrong_recipient_and_wrong_identity(world):
    w = world
    group = std_group(w)
    _, actions = GmkDistributor(keys=w.km("gms")).distribute(group, now=NOW)
    alice = member(w, "alice", [group])
    assert reason(alice, for_member(w, packets(actions), "bob")) == "NOT_FOR_ME"
    assert alice.crypto_ops == {}  # 0 crypto ops when IDRr ≠ self
    k = w.km("alice")
    for b in (w.km("bob").uid,  # another member
              member_uid(k.uri, KMS_URI, k.period, k.offset, w.period_no + 1)):  # next period
        pkt = craft(w, "gms", "alice", gmk=os.urandom(16), gmk_id=0x0666_0001,
                    group_id=group.group_id, sakke_uid=b)
        assert reason(alice, pkt) == "BAD_SAKKE"
    assert alice.current(group.group_id, NOW) is None and alice.accepted == 0


def test_c5_sakke_bit_flips_resigned_by_insider_are_bad_sakke(world):
    """A compromised manager re-signs each mutation so SIGN verifies; step 5 must catch it."""
    w = world
    group = std_group(w)
    gmk = bytes(range(16))
    roomy = SourceLimiter(per_source_burst=1e6, global_burst=1e6)  # not what this test is about
    alice = member(w, "alice", [group], limiter=roomy)
    positions = [8 * 257 + b for b in range(128)]  # every bit of H
    positions += list(range(0, 8 * 257, 41))  # a spread of bits over 0x04 ‖ Rx ‖ Ry
    for bit in positions:
        def flip(d, bit=bit):
            d = bytearray(d)
            d[bit // 8] ^= 0x80 >> (bit % 8)
            return bytes(d)
        pkt = craft(w, "gms", "alice", gmk=gmk, gmk_id=0x0777_0001, group_id=group.group_id,
                    sakke_mutate=flip)
        assert reason(alice, pkt) == "BAD_SAKKE", bit
    assert alice.accepted == 0 and alice.current(group.group_id, NOW) is None
    assert alice.crypto_ops["sakke_decapsulate"] == len(positions)


def test_flood_of_forgeries_is_rate_limited_before_verification(world):
    w = world
    group = std_group(w)
    alice = member(w, "alice", [group])
    got = []
    for i in range(12):  # distinct forgeries (fresh RAND) claiming the GMS, one L2 source
        pkt = craft(w, "mallory", "alice", gmk=os.urandom(16), gmk_id=0x0999_0000 + i,
                    group_id=group.group_id, idri=w.km("gms").uid)
        got.append(reason(alice, pkt, src=0x777))
    assert got == ["BAD_SIG"] * 5 + ["RATE_LIMITED"] * 7  # WireGuard-style burst of 5
    assert alice.crypto_ops == {"eccsi_verify": 5}


def test_h4_weak_sp_refused_even_when_signed(world):
    w = world
    group = std_group(w)
    weak = mc.SP(((0, b"\x00"), (1, b"\x10"), (20, b"\x04")))  # NULL cipher, short tag
    pkt = craft(w, "gms", "alice", gmk=os.urandom(16), gmk_id=0x0888_0001,
                group_id=group.group_id, sp=weak)
    alice = member(w, "alice", [group])
    assert reason(alice, pkt) == "POLICY" and alice.crypto_ops == {}


def test_standard_message_from_adhoc_key_id_space_refused(world):
    w = world
    group = std_group(w)
    pkt = craft(w, "gms", "bob", gmk=os.urandom(16), gmk_id=ADHOC_GMK_ID_FLAG | 0x1234,
                group_id=group.group_id)
    assert reason(member(w, "bob", [group]), pkt) == "POLICY"


# ------------------------------------------------------------------ D. lifecycle


def test_d2_removed_member_gets_nothing_new(world):
    w = world
    group = std_group(w)
    dist = GmkDistributor(keys=w.km("gms"))
    old, a1 = dist.distribute(group, now=NOW)
    ms = {n: member(w, n, [group]) for n in ("alice", "bob", "carol", "dave")}
    for m in ms.values():
        assert [reason(m, p) for p in packets(a1)].count("ACCEPTED") == 1
    new, a2 = dist.remove_member(group.group_id, w.uri("dave"), now=NOW + 30)
    assert new.gmk_id != old.gmk_id and new.gmk != old.gmk and new.revoking
    assert w.uri("dave") not in new.members and len(packets(a2)) == 3
    assert any(isinstance(e, Event) and e.name == "member_removed" for e in a2)
    assert all(mc.parse_i_message(parse_udp6(p).payload).responder_id != w.km("dave").uid
               for p in packets(a2))
    dave = ms.pop("dave")
    assert {reason(dave, p, NOW + 30) for p in packets(a2)} == {"NOT_FOR_ME"}
    assert dave.by_gmk_id(new.gmk_id) is None
    assert dave.current(group.group_id, NOW + 30).gmk_id == old.gmk_id  # only the old one
    for m in ms.values():
        assert [reason(m, p, NOW + 30) for p in packets(a2)].count("ACCEPTED") == 1
        assert m.current(group.group_id, NOW + 30).gmk_id == new.gmk_id
        # after the switchover, traffic under the old GMK (e.g. from dave) is refused
        assert m.store(group.group_id).receive_verdict(old.gmk_id, NOW + 30 + 2.0) is (
            Reason.GMK_SUPERSEDED)


def test_add_member_sends_current_gmk_to_newcomer_only(world):
    w = world
    group = std_group(w, ("alice", "bob"))
    dist = GmkDistributor(keys=w.km("gms"))
    issue, _ = dist.distribute(group, now=NOW)
    now_issue, actions = dist.add_member(group.group_id, w.uri("carol"), now=NOW + 1)
    assert len(packets(actions)) == 1
    assert now_issue.gmk_id == issue.gmk_id  # standard: no rekey, the GMS decides that
    carol = member(w, "carol", [std_group(w, ("alice", "bob", "carol"))])
    assert reason(carol, packets(actions)[0], NOW + 1) == "ACCEPTED"
    assert carol.current(group.group_id, NOW + 1).key == issue.gmk
    assert w.uri("carol") in dist.issued(group.group_id).members
    assert dist.add_member(group.group_id, w.uri("carol"), now=NOW + 2)[1] == []  # already in


# ------------------------------------------------------------------ ad-hoc groups


def adhoc_group(w: World, creator="alice", members=("bob", "carol"), max_period=600.0):
    return GroupConfig("sip:adhoc-7@prose-mesh.example", "adhoc", w.uri(creator),
                       frozenset(w.uri(m) for m in members), max_gmk_period=max_period)


def test_adhoc_distribution_over_links_and_member_learns_group(world):
    w = world
    group = adhoc_group(w)
    dist = GmkDistributor(keys=w.km("alice"), src_l2id=L2[w.uri("alice")])
    issue, actions = dist.distribute(group, now=NOW, member_l2ids=L2)
    assert issue.gmk_id & ADHOC_GMK_ID_FLAG and issue.gmk_id >> 28 == 0
    assert issue.expiry - issue.activation <= 600.0
    sends = [a for a in actions if isinstance(a, SendUnicastIp)]
    assert sorted(a.peer_l2id for a in sends) == sorted(L2[w.uri(n)] for n in ("bob", "carol"))
    bob = member(w, "bob")
    pkt = next(a.packet for a in sends if a.peer_l2id == L2[w.uri("bob")])
    assert reason(bob, pkt, via="link", peer=w.uri("alice")) == "ACCEPTED"
    learned = bob.directory.get(group.group_id)
    assert learned.kind == "adhoc" and learned.distributor == w.uri("alice")
    assert learned.members == {w.uri(n) for n in ("alice", "bob", "carol")}
    assert learned.l2_group_id == group.l2_group_id
    assert bob.current(group.group_id, NOW).key == issue.gmk
    assert bob.current(group.group_id, issue.expiry + 1) is None  # the GMK expires


def test_adhoc_signer_must_be_the_link_peer_and_allowed(world):
    w = world
    group = adhoc_group(w)
    _, actions = GmkDistributor(keys=w.km("alice")).distribute(group, now=NOW, member_l2ids=L2)
    pkt = next(a.packet for a in actions
               if isinstance(a, SendUnicastIp) and a.peer_l2id == L2[w.uri("bob")])
    cases = [
        (dict(via="link", peer=w.uri("carol")), {}),  # IDRi is not the link peer
        (dict(via="group"), {}),  # ad-hoc keys come over a D2D link only
        (dict(via="link", peer=w.uri("alice")), {"may_create_adhoc": lambda uri: False}),
    ]
    for kw, mkw in cases:
        bob = member(w, "bob", **mkw)
        assert reason(bob, pkt, **kw) == "UNAUTHORISED_SIGNER"
        assert bob.crypto_ops == {} and len(bob.directory) == 0
    # a creator no longer allowed to create may not rekey its existing ad-hoc group either
    allowed = {w.uri("alice")}
    bob = member(w, "bob", may_create_adhoc=lambda uri: uri in allowed)
    assert reason(bob, pkt, via="link", peer=w.uri("alice")) == "ACCEPTED"
    allowed.clear()
    rekey = craft(w, "alice", "bob", gmk=os.urandom(16), gmk_id=ADHOC_GMK_ID_FLAG | 0x55,
                  group_id=group.group_id, kind="adhoc", members=(w.uri("bob"),), t=NOW + 1)
    assert reason(bob, rekey, NOW + 1, via="link", peer=w.uri("alice")) == "UNAUTHORISED_SIGNER"
    assert bob.crypto_ops == {"eccsi_verify": 1, "sakke_decapsulate": 1}  # none for the rekey


def test_adhoc_refuses_standard_groups(world):
    w = world
    std = GroupConfig("sip:fire@prose-mesh.example", "standard", w.uri("alice"),
                      frozenset({w.uri("bob")}))
    dist = GmkDistributor(keys=w.km("alice"))
    with pytest.raises(AdhocRefused):
        dist.distribute_adhoc(std, now=NOW, member_l2ids=L2)
    dist.distribute(std, now=NOW)  # alice manages it as a standard group ...
    with pytest.raises(AdhocRefused):  # ... so the ad-hoc procedure may not rekey it
        dist.distribute(GroupConfig(std.group_id, "adhoc", w.uri("alice"), std.members),
                        now=NOW + 1, member_l2ids=L2)
    # member side: an ad-hoc GMK naming a standard group is refused and changes nothing
    bob_std = std_group(w, ("alice", "bob"))
    bob = member(w, "bob", [bob_std])
    pkt = craft(w, "alice", "bob", gmk=os.urandom(16), gmk_id=ADHOC_GMK_ID_FLAG | 7,
                group_id=bob_std.group_id, kind="adhoc", members=(w.uri("bob"),))
    assert reason(bob, pkt, via="link", peer=w.uri("alice")) == "POLICY"
    assert bob.directory.get(bob_std.group_id) == bob_std


def test_adhoc_period_and_key_id_space_enforced(world):
    w = world
    with pytest.raises(ConfigError):
        GmkDistributor(keys=w.km("alice")).distribute(adhoc_group(w), now=NOW,
                                                      member_l2ids=L2, period=601)
    bob = member(w, "bob", max_adhoc_period=600)
    gid = "sip:adhoc-9@prose-mesh.example"
    kw = dict(group_id=gid, kind="adhoc", members=(w.uri("bob"), w.uri("alice")))
    too_long = craft(w, "alice", "bob", gmk=os.urandom(16), gmk_id=ADHOC_GMK_ID_FLAG | 1,
                     expiry=quantize(NOW) + 601, **kw)
    wrong_space = craft(w, "alice", "bob", gmk=os.urandom(16), gmk_id=0x0000_0001, **kw)
    not_listed = craft(w, "alice", "bob", gmk=os.urandom(16), gmk_id=ADHOC_GMK_ID_FLAG | 2,
                       group_id=gid, kind="adhoc", members=(w.uri("alice"),))
    for pkt, why in ((too_long, "period"), (wrong_space, "key-ID space"),
                     (not_listed, "member list")):
        v, _ = feed(bob, pkt, via="link", peer=w.uri("alice"))
        assert isinstance(v, Rejected) and v.reason is Reason.POLICY and why in v.detail
    assert len(bob.directory) == 0 and bob.accepted == 0


def test_adhoc_rekey_after_removal(world):
    w = world
    group = adhoc_group(w)
    dist = GmkDistributor(keys=w.km("alice"))
    old, a1 = dist.distribute(group, now=NOW, member_l2ids=L2)
    bob, carol = member(w, "bob"), member(w, "carol")
    for m, name in ((bob, "bob"), (carol, "carol")):
        pkt = next(a.packet for a in a1 if isinstance(a, SendUnicastIp)
                   and a.peer_l2id == L2[w.uri(name)])
        assert reason(m, pkt, via="link", peer=w.uri("alice")) == "ACCEPTED"
    new, a2 = dist.remove_member(group.group_id, w.uri("carol"), now=NOW + 10)
    assert [a.peer_l2id for a in a2 if isinstance(a, SendUnicastIp)] == [L2[w.uri("bob")]]
    assert reason(bob, packets(a2)[0], NOW + 10, via="link", peer=w.uri("alice")) == "ACCEPTED"
    assert bob.current(group.group_id, NOW + 10).gmk_id == new.gmk_id
    assert bob.directory.get(group.group_id).members == {w.uri("alice"), w.uri("bob")}
    assert reason(carol, packets(a2)[0], NOW + 10, via="link",
                  peer=w.uri("alice")) == "NOT_FOR_ME"
    assert carol.current(group.group_id, NOW + 10).gmk_id == old.gmk_id


def test_resend_reaches_a_member_that_missed_the_first_copy(world):
    w = world
    group = adhoc_group(w)
    dist = GmkDistributor(keys=w.km("alice"))
    issue, _ = dist.distribute(group, now=NOW, member_l2ids=L2)  # assume all copies were lost
    again = dist.resend(group.group_id, [w.uri("carol")], now=NOW + 3)
    assert [a.peer_l2id for a in again if isinstance(a, SendUnicastIp)] == [L2[w.uri("carol")]]
    carol = member(w, "carol")
    assert reason(carol, packets(again)[0], NOW + 3, via="link", peer=w.uri("alice")) == (
        "ACCEPTED")
    assert carol.current(group.group_id, NOW + 3).key == issue.gmk
    with pytest.raises(ConfigError):
        dist.resend(group.group_id, [w.uri("eve")], now=NOW + 3)


def test_creator_adopts_its_own_gmk(world):
    w = world
    group = adhoc_group(w)
    issue, _ = GmkDistributor(keys=w.km("alice")).distribute(group, now=NOW, member_l2ids=L2)
    alice = member(w, "alice")
    alice.adopt(issue, group, now=NOW)
    rec = alice.current(group.group_id, NOW)
    assert rec.key == issue.gmk and rec.guk_id == guk_id(issue.gmk, issue.gmk_id, w.uri("alice"))


def test_adhoc_add_member_is_a_non_revoking_rekey_to_every_member(world):
    """An add rekeys the ad-hoc group: everyone (newcomer included) gets a fresh GMK and the
    new member list; the newcomer cannot open the old GMK (backward secrecy); the old GMK stays
    receivable and usable for a call already keyed under it (non-revoking)."""
    w = world
    group = adhoc_group(w)
    dist = GmkDistributor(keys=w.km("alice"))
    old, a1 = dist.distribute(group, now=NOW, member_l2ids=L2)
    bob, carol = member(w, "bob"), member(w, "carol")
    for m, name in ((bob, "bob"), (carol, "carol")):
        assert reason(m, for_member(w, packets(a1), name), via="link",
                      peer=w.uri("alice")) == "ACCEPTED"
    new, a2 = dist.add_member(group.group_id, w.uri("dave"), now=NOW + 10,
                              l2id=L2[w.uri("dave")])
    assert new.gmk_id != old.gmk_id and new.gmk != old.gmk and new.gmk_id & ADHOC_GMK_ID_FLAG
    assert not new.revoking and new.activation > old.activation
    assert new.members == {w.uri(n) for n in ("alice", "bob", "carol", "dave")}
    peers = sorted(a.peer_l2id for a in a2 if isinstance(a, SendUnicastIp))
    assert peers == sorted(L2[w.uri(n)] for n in ("bob", "carol", "dave"))
    assert {"group_id": group.group_id, "uri": w.uri("dave"), "gmk_id": new.gmk_id} in [
        a.data for a in a2 if isinstance(a, Event) and a.name == "member_added"]
    dave = member(w, "dave")
    for m, name in ((bob, "bob"), (carol, "carol"), (dave, "dave")):
        assert reason(m, for_member(w, packets(a2), name), NOW + 10, via="link",
                      peer=w.uri("alice")) == "ACCEPTED"
        assert m.current(group.group_id, NOW + 10).gmk_id == new.gmk_id  # new traffic: new GMK
        assert m.directory.get(group.group_id).members == new.members  # learned the newcomer
    # backward secrecy: the newcomer never received the old GMK, and cannot open its messages
    assert dave.by_gmk_id(old.gmk_id) is None
    assert reason(dave, for_member(w, packets(a1), "bob"), NOW + 10, via="link",
                  peer=w.uri("alice")) == "NOT_FOR_ME"
    # non-revoking: a call keyed under the old GMK goes on, and is still received
    for m in (bob, carol):
        assert m.send_verdict(old.gmk_id, NOW + 20) is None
        assert m.receive_verdict(old.gmk_id, NOW + 20) is None
        assert m.receive_verdict(old.gmk_id, old.expiry + 1) is Reason.GMK_EXPIRED
    # the creator adopts the new GMK (idempotently)
    alice = member(w, "alice")
    alice.adopt(old, group, now=NOW)
    assert len(alice.adopt(new, dist.group(group.group_id), now=NOW + 10)) == 1
    assert alice.adopt(new, dist.group(group.group_id), now=NOW + 10) == []
    assert alice.current(group.group_id, NOW + 10).gmk_id == new.gmk_id


def test_adhoc_add_member_needs_a_link_to_the_newcomer(world):
    w = world
    group = adhoc_group(w)
    dist = GmkDistributor(keys=w.km("alice"))
    l2 = {u: v for u, v in L2.items() if u != w.uri("eve")}
    old, _ = dist.distribute(group, now=NOW, member_l2ids=l2)
    with pytest.raises(ConfigError, match="D2D link"):
        dist.add_member(group.group_id, w.uri("eve"), now=NOW + 1)
    assert dist.issued(group.group_id) == old  # nothing changed


def test_d2_lagging_member_never_sends_under_the_revoked_gmk(world):
    """ADVERSARIAL D2/I1: bob's clock lags the creator by 3 s (< skew). After carol's removal he
    installs the revoking GMK whose activation is in his future: he sends under it, never
    under the old one (which carol still holds); beyond the skew he refuses."""
    w = world
    group = adhoc_group(w)
    dist = GmkDistributor(keys=w.km("alice"))
    old, a1 = dist.distribute(group, now=NOW, member_l2ids=L2)
    bob = member(w, "bob")
    lag = 3.0
    assert reason(bob, for_member(w, packets(a1), "bob"), NOW - lag + 1, via="link",
                  peer=w.uri("alice")) == "ACCEPTED"
    new, a2 = dist.remove_member(group.group_id, w.uri("carol"), now=NOW + 50)
    bob_now = NOW + 50 - lag  # bob's clock
    assert reason(bob, packets(a2)[0], bob_now, via="link", peer=w.uri("alice")) == "ACCEPTED"
    assert new.activation > bob_now
    assert bob.current(group.group_id, bob_now).gmk_id == new.gmk_id
    assert bob.send_verdict(new.gmk_id, bob_now) is None
    assert bob.send_verdict(old.gmk_id, bob_now) is Reason.GMK_SUPERSEDED  # ongoing call stops
    # receivers keep their rule: bob's clock does not yet show the activation
    assert bob.receive_verdict(new.gmk_id, bob_now) is Reason.GMK_NOT_ACTIVE
    assert bob.receive_verdict(old.gmk_id, bob_now) is None  # before the switchover
    # a clock lagging by more than the skew: refuse, never fall back to the old GMK
    assert bob.current(group.group_id, new.activation - bob.skew - 1) is None
    assert bob.send_verdict(old.gmk_id, new.activation - bob.skew - 1) is (
        Reason.GMK_SUPERSEDED)
    assert bob.send_verdict(new.gmk_id, new.activation - bob.skew - 1) is Reason.GMK_NOT_ACTIVE
    assert bob.send_verdict(0x0BAD, bob_now) is Reason.UNKNOWN_KEY



# ------------------------------------------------------------------ temporary groups


def test_temporary_group_leaves_existing_contexts_unchanged(world):
    w = world
    fire = std_group(w)
    _, a0 = GmkDistributor(keys=w.km("gms")).distribute(fire, now=NOW)
    alice = member(w, "alice", [fire])
    assert [reason(alice, p) for p in packets(a0)].count("ACCEPTED") == 1
    before = (alice.directory.get(fire.group_id), alice.current(fire.group_id, NOW + 5),
              alice.guk_id(fire.group_id), len(alice.directory))
    temp = GroupConfig("sip:regroup-1@prose-mesh.example", "temporary", w.uri("carol"),
                       frozenset(), constituents=(fire.group_id,))
    creator = GmkDistributor(keys=w.km("carol"))
    issue, a1 = creator.distribute(temp, now=NOW + 5, members=[w.uri("alice")],
                                   member_l2ids=L2)
    assert len(packets(a1)) == 1
    assert reason(alice, packets(a1)[0], NOW + 5, via="link", peer=w.uri("carol")) == "ACCEPTED"
    new, a2 = creator.add_member(temp.group_id, w.uri("bob"), now=NOW + 6)  # one at a time
    bob = member(w, "bob")
    assert reason(bob, for_member(w, packets(a2), "bob"), NOW + 6, via="link",
                  peer=w.uri("carol")) == "ACCEPTED"
    assert reason(alice, for_member(w, packets(a2), "alice"), NOW + 6, via="link",
                  peer=w.uri("carol")) == "ACCEPTED"
    assert new.gmk_id != issue.gmk_id and new.kind == "temporary"
    assert bob.current(temp.group_id, NOW + 6).key == new.gmk
    assert alice.current(temp.group_id, NOW + 6).key == new.gmk
    assert alice.directory.get(temp.group_id).members == {w.uri(n) for n in
                                                          ("alice", "bob", "carol")}
    learned = alice.directory.get(temp.group_id)
    assert learned.kind == "temporary" and learned.constituents == (fire.group_id,)
    after = (alice.directory.get(fire.group_id), alice.current(fire.group_id, NOW + 5),
             alice.guk_id(fire.group_id), len(alice.directory) - 1)
    assert after == before


# ------------------------------------------------------------------ E. malformed input


def test_e1_every_bit_flip_and_truncation_rejected_with_a_reason(world):
    """8L bit flips and L prefixes of a real GMK I_MESSAGE: all rejected, none raises."""
    w = world
    group = std_group(w)
    _, actions = GmkDistributor(keys=w.km("gms")).distribute(group, now=NOW)
    raw = parse_udp6(for_member(w, packets(actions), "bob")).payload
    roomy = SourceLimiter(per_source_burst=1e6, global_burst=1e6)
    bob = member(w, "bob", [group], limiter=roomy)
    known = {str(r) for r in Reason}
    for i in range(8 * len(raw)):
        mutated = bytearray(raw)
        mutated[i // 8] ^= 0x80 >> (i % 8)
        got = reason(bob, bytes(mutated))
        assert got in known, (i, got)  # "ACCEPTED" is not a Reason: nothing got in
    for n in range(len(raw)):
        assert reason(bob, raw[:n]) in ("MALFORMED", "BAD_HEADER")
    assert bob.accepted == 0 and bob.current(group.group_id, NOW) is None
    assert reason(member(w, "bob", [group]), raw) == "ACCEPTED"
