"""Group-call media: per-sender key streams, SRTP replay (A6), reordering (A7), tampering,
SSRC collisions and the (MKI, SSRC, index) uniqueness audit (H1). Harness: test_group_call.py.
"""

from __future__ import annotations

import random
import struct
from collections import Counter

import pytest
from test_group_call import GMK, GMK_ID, GROUP, build_world, setup_call, uri

from prose_mesh.crypto.kdf import guk_id
from prose_mesh.crypto.kms import Kms
from prose_mesh.crypto.srtp import SrtpProfile, group_mki
from prose_mesh.protocol import call_key as ck
from prose_mesh.protocol.actions import Accepted, Rejected, SendGroupIp
from prose_mesh.protocol.reasons import Reason
from prose_mesh.wire.ipudp import parse_udp6


@pytest.fixture(scope="module")
def kms() -> Kms:
    return Kms.generate("kms.prose-mesh.example")


def sent_media(actions, port=50000):
    return [parse_udp6(a.packet) for a in actions
            if isinstance(a, SendGroupIp) and parse_udp6(a.packet).dport == port]


def talk(w, name, n, *, t0=None, dt=0.02):
    """``n`` media packets from ``name`` (20 ms apart), not delivered; returns the datagrams."""
    t0 = w.now if t0 is None else t0
    out = []
    for i in range(n):
        out += sent_media(w.ues[name].send_media(GROUP, b"pkt%05d" % i, t0 + i * dt))
    return out


def test_two_talkers_with_the_same_ssrc_have_distinct_keys_and_streams(kms):
    w = build_world(kms, ["alice", "bob", "carol"])
    setup_call(w)
    call = w.ues["carol"].call(GROUP)
    ga, gb = guk_id(GMK, GMK_ID, uri("alice")), guk_id(GMK, GMK_ID, uri("bob"))
    assert ga != gb
    ka = ck.sender_master(call.call_key, call.rand, ga, SrtpProfile.AEAD_AES_128_GCM)
    kb = ck.sender_master(call.call_key, call.rand, gb, SrtpProfile.AEAD_AES_128_GCM)
    assert ka[0] != kb[0] and ka[1] != kb[1] and len(ka[0]) == 16 and len(ka[1]) == 12
    # force an SSRC collision (H1) and the same first SEQ
    for n in ("alice", "bob"):
        st = w.ues[n]._sender_state(group_mki(GMK_ID, guk_id(GMK, GMK_ID, uri(n))))
        st.ssrc, st.last_index = 0x5EC0_0001, 99
    da, db = talk(w, "alice", 3), talk(w, "bob", 3)
    assert [d.payload[2:12] for d in da] == [d.payload[2:12] for d in db]  # SEQ, TS, SSRC equal
    assert all(x.payload[12:-8] != y.payload[12:-8] for x, y in zip(da, db, strict=True))
    assert {d.payload[-8:] for d in da} == {group_mki(GMK_ID, ga)}
    assert {d.payload[-8:] for d in db} == {group_mki(GMK_ID, gb)}
    for d in da + db:
        w.inject("carol", d)
    media = w.events("carol", "media")
    assert [(m["sender"], m["payload"]) for m in media] == [
        (uri(s), b"pkt%05d" % i) for s in ("alice", "bob") for i in range(3)]
    assert {m["ssrc"] for m in media} == {0x5EC0_0001} and not w.rejects("carol")


def test_a6_replays_inside_and_behind_the_window(kms):
    w = build_world(kms, ["alice", "bob"])
    setup_call(w)
    pkts = talk(w, "alice", 300)
    for d in pkts:
        w.inject("bob", d)
    assert len(w.events("bob", "media")) == 300
    w.clear()
    rx = w.ues["bob"].call(GROUP).receiver
    before = rx.snapshot()
    for d in pkts[-64:]:
        w.inject("bob", d)
    rng = random.Random(5)
    for d in rng.choices(pkts[:-64], k=1000):
        w.inject("bob", d)
    c = Counter(w.rejects("bob"))
    assert c == {Reason.REPLAY_FAIL: 64, Reason.REPLAY_OLD: 1000}
    assert not w.events("bob", "media") and rx.snapshot() == before
    assert all(isinstance(v, Rejected) and v.kind == "media" for v in w.verdicts("bob"))


def test_a6_duplicates_on_the_medium_are_counted_not_played(kms):
    w = build_world(kms, ["alice", "bob"])
    setup_call(w)
    rng = random.Random(9)
    dup = 0
    for d in talk(w, "alice", 200):
        w.inject("bob", d)
        if rng.random() < 0.1:
            dup += 1
            w.inject("bob", d)
    payloads = [m["payload"] for m in w.events("bob", "media")]
    assert len(payloads) == len(set(payloads)) == 200
    assert Counter(w.rejects("bob")) == {Reason.REPLAY_FAIL: dup} and dup > 5


def test_a7_reordering_inside_the_window_is_accepted(kms):
    w = build_world(kms, ["alice", "bob"], window=64)
    setup_call(w)
    pkts = talk(w, "alice", 400)
    rng = random.Random(3)
    order = list(range(400))
    for i in range(0, 400, 10):  # shuffle inside blocks of 10: displacement < window
        block = order[i : i + 10]
        rng.shuffle(block)
        order[i : i + 10] = block
    assert order != sorted(order)
    for i in order:
        w.inject("bob", pkts[i])
    assert not w.rejects("bob")
    assert sorted(m["payload"] for m in w.events("bob", "media")) == [
        b"pkt%05d" % i for i in range(400)]


def test_bit_flips_fail_authentication_without_state_change(kms):
    w = build_world(kms, ["alice", "bob"])
    setup_call(w)
    first, d = talk(w, "alice", 2)
    w.inject("bob", first)
    rx = w.ues["bob"].call(GROUP).receiver
    before = rx.snapshot()
    reasons = Counter()
    n = len(d.payload)
    for bit in range(8 * n):
        bad = bytearray(d.payload)
        bad[bit // 8] ^= 1 << (bit % 8)
        v = w.inject("bob", d._replace(payload=bytes(bad)))[-1]
        assert isinstance(v, Rejected), bit
        reasons[v.reason] += 1
        if 12 * 8 <= bit < (n - 8) * 8:  # ciphertext and tag
            assert v.reason is Reason.BAD_TAG, bit
    assert rx.snapshot() == before and len(w.events("bob", "media")) == 1
    assert reasons[Reason.BAD_TAG] > 8 * (n - 20) and reasons[Reason.UNKNOWN_KEY] == 64
    w.inject("bob", d)  # the genuine packet still plays
    assert len(w.events("bob", "media")) == 2


def test_own_mki_and_foreign_gmk_id_are_rejected_before_crypto(kms):
    w = build_world(kms, ["alice", "bob"])
    setup_call(w)
    (d,) = talk(w, "alice", 1)
    # looped back to alice herself
    assert w.inject("alice", d)[-1].reason is Reason.NOT_FOR_ME
    foreign = d.payload[:-8] + struct.pack("!II", GMK_ID ^ 1, 0) + b""
    assert w.inject("bob", d._replace(payload=foreign))[-1].reason is Reason.UNKNOWN_KEY


def test_floor_taken_is_srtcp_protected_and_replay_checked(kms):
    w = build_world(kms, ["alice", "bob"])
    setup_call(w)
    acts = w.ues["alice"].send_media(GROUP, b"x", w.now)
    (floor,) = sent_media(acts, port=50001)
    w.inject("bob", floor)
    assert w.events("bob", "floor_taken")[0]["talker"] == uri("alice")
    assert w.inject("bob", floor)[-1].reason is Reason.REPLAY_FAIL
    # a new talk burst after silence sends a new Floor Taken (new SRTCP index)
    (again,) = sent_media(w.ues["alice"].send_media(GROUP, b"y", w.now + 5), port=50001)
    bad = bytearray(again.payload)
    bad[10] ^= 1
    assert w.inject("bob", again._replace(payload=bytes(bad)))[-1].reason is Reason.BAD_TAG
    assert len(w.events("bob", "floor_taken")) == 1
    w.inject("bob", again)
    assert len(w.events("bob", "floor_taken")) == 2


def test_aes_cm_hmac_sha1_80_profile(kms):
    w = build_world(kms, ["alice", "bob"], profile=SrtpProfile.AES_CM_128_HMAC_SHA1_80)
    setup_call(w)
    w.run("alice", w.ues["alice"].send_media(GROUP, b"cm", w.now))
    assert [m["payload"] for m in w.events("bob", "media")] == [b"cm"]
    (d,) = talk(w, "alice", 1, t0=w.now + 0.02)
    assert d.payload[-18:-10] == group_mki(GMK_ID, guk_id(GMK, GMK_ID, uri("alice")))
    bad = d.payload[:-1] + bytes([d.payload[-1] ^ 1])
    assert w.inject("bob", d._replace(payload=bad))[-1].reason is Reason.BAD_TAG


def test_h1_no_mki_ssrc_index_tuple_repeats_over_rejoins_and_new_calls(kms):
    w = build_world(kms, ["alice", "bob", "carol"])
    for ue in w.ues.values():
        ue.seq_space = 256  # reach SSRC rotations (no ROC > 0 ever) in a short run
    rng = random.Random(11)
    srtp: list[tuple[bytes, int, int]] = []
    srtcp: list[tuple[bytes, int, int]] = []
    delivered = 0
    t = w.now
    for call_no in range(3):  # three successive calls under the same GMK (same MKIs)
        w.advance(t)
        setup_call(w, "alice" if call_no % 2 == 0 else "bob")
        t = w.now
        for _burst in range(12):
            talker = rng.choice(["alice", "bob", "carol"])
            if rng.random() < 0.3:  # a re-join: leave, come back through PROBE
                w.run(talker, w.ues[talker].end_call(GROUP, t))
                w.run(talker, w.ues[talker].probe(GROUP, t))
                if w.ues[talker].call(GROUP) is None:
                    continue  # nobody answered (the announcer left)
            for _ in range(rng.randrange(20, 120)):
                t += 0.02
                acts = w.run(talker, w.ues[talker].send_media(GROUP, b"v", t), t)
                for a in acts:
                    if not isinstance(a, SendGroupIp):
                        continue
                    d = parse_udp6(a.packet)
                    p = d.payload
                    ssrc = struct.unpack_from("!I", p, 8 if d.dport == 50000 else 4)[0]
                    if d.dport == 50000:
                        srtp.append((p[-8:], ssrc, struct.unpack_from("!H", p, 2)[0]))
                        delivered += 1
                    else:
                        srtcp.append((p[-8:], ssrc, struct.unpack_from("!I", p, len(p) - 12)[0]))
            t += 2.0
        for n in w.ues:
            w.run(n, w.ues[n].end_call(GROUP, t))
        t += 30
    assert len(srtp) > 1500 and len(srtcp) > 20
    assert len(set(srtp)) == len(srtp) and len(set(srtcp)) == len(srtcp)
    assert len({(m, s) for m, s, _ in srtp}) > 6  # rotations happened
    joins = sum(len(w.events(n, "call_joined")) for n in w.ues)
    assert joins > 3 * 3  # 3 calls × 3 UEs, plus re-joins through PROBE
    # the index never needed a ROC: every accepted packet was decrypted by the others
    media = sum(len(w.events(n, "media")) for n in w.ues)
    rejected = [r for n in w.ues for r in w.rejects(n)]
    assert rejected.count(Reason.BAD_TAG) == 0
    assert media >= delivered  # each packet reached ≥ 1 other member in the call


def test_media_before_any_call_and_not_for_my_groups(kms):
    w = build_world(kms, ["alice", "bob"])
    setup_call(w)
    (d,) = talk(w, "alice", 1)
    w.run("bob", w.ues["bob"].end_call(GROUP, w.now))
    assert w.inject("bob", d)[-1].reason is Reason.UNKNOWN_KEY
    other = d._replace(dst=b"\xff\x05" + bytes(13) + b"\x01")
    v = w.inject("bob", other)[-1]
    assert isinstance(v, Rejected) and v.reason is Reason.NOT_FOR_ME and v.kind == "media"
    assert w.inject("bob", d._replace(dport=50002))[-1].reason is Reason.NOT_FOR_ME
    assert not any(isinstance(v, Accepted) for v in w.verdicts("bob")[-3:])


@pytest.mark.parametrize("n", [0, 11, 12, 35])
def test_short_srtp_packets_are_malformed(kms, n):
    w = build_world(kms, ["alice", "bob"])
    setup_call(w)
    (d,) = talk(w, "alice", 1)
    assert w.inject("bob", d._replace(payload=d.payload[:n]))[-1].reason is Reason.MALFORMED
