"""H1's forced SSRC collision at the protocol level (ADVERSARIAL.md §4 H1).

Two members send under one SSRC from one SEQ, set through GroupCalls' [EMU] test hooks
(``ssrc`` / ``first_seq``, as a scenario's ``ues.<name>.ssrc`` does); a third member hears both,
interleaved. Their MKIs (GMK-ID ‖ GUK-ID) name different master keys, so the receiver keeps one
replay window per (keys, SSRC) (crypto.srtp.SrtpHistory): no false reject, no cross-talk, and a
replay is still refused on the stream it belongs to. Real keys, real SRTP bytes (the harness of
test_group_call.py).
"""

from __future__ import annotations

import struct
from collections import Counter

import pytest
from test_group_call import GMK, GMK_ID, GROUP, build_world, setup_call, uri

from prose_mesh.crypto.kdf import guk_id
from prose_mesh.crypto.kms import Kms
from prose_mesh.crypto.srtp import group_mki
from prose_mesh.protocol.actions import Accepted, SendGroupIp
from prose_mesh.protocol.reasons import Reason
from prose_mesh.scenario.loader import ScenarioError, loads_scenario
from prose_mesh.wire.ipudp import UdpDatagram, parse_udp6

SSRC = 0x5EED_0001
FIRST_SEQ = 100
MEDIA_PORT = 50000


@pytest.fixture(scope="module")
def kms() -> Kms:
    return Kms.generate("kms.prose-mesh.example")


def sent(actions: list) -> list[UdpDatagram]:
    """The SRTP (media port) and SRTCP (media port + 1) datagrams among ``actions``."""
    out = [parse_udp6(a.packet) for a in actions if isinstance(a, SendGroupIp)]
    return [d for d in out if d.dport in (MEDIA_PORT, MEDIA_PORT + 1)]


def rtp_ssrc_seq(d: UdpDatagram) -> tuple[int, int]:
    return struct.unpack_from("!I", d.payload, 8)[0], struct.unpack_from("!H", d.payload, 2)[0]


def collided_world(kms: Kms):
    """alice and bob forced onto one SSRC and first SEQ; carol listens."""
    w = build_world(kms, ["alice", "bob", "carol"], ssrc=SSRC, first_seq=FIRST_SEQ)
    setup_call(w)
    return w


def test_same_ssrc_same_seq_two_talkers_heard_by_a_third(kms):
    w = collided_world(kms)
    assert w.ues["carol"].call(GROUP) is not None and w.ues["bob"].call(GROUP) is not None
    n = 40
    t0 = w.now
    streams: dict[str, list[UdpDatagram]] = {"alice": [], "bob": []}
    for i in range(n):  # not delivered yet: carol gets them interleaved below
        for name in ("alice", "bob"):
            payload = f"{name}-{i:03d}".encode()
            streams[name] += sent(w.ues[name].send_media(GROUP, payload, t0 + i * 0.02))
    rtp = {k: [d for d in v if d.dport == MEDIA_PORT] for k, v in streams.items()}
    rtcp = {k: [d for d in v if d.dport == MEDIA_PORT + 1] for k, v in streams.items()}
    # the collision is real: same SSRC, same SEQs (so same index), same SRTCP index 0
    assert [rtp_ssrc_seq(d) for d in rtp["alice"]] == [rtp_ssrc_seq(d) for d in rtp["bob"]] \
        == [(SSRC, FIRST_SEQ + i) for i in range(n)]
    assert len(rtcp["alice"]) == len(rtcp["bob"]) == 1  # Floor Taken, one talk burst each
    assert rtcp["alice"][0].payload[4:8] == rtcp["bob"][0].payload[4:8] == SSRC.to_bytes(4, "big")
    assert rtcp["alice"][0].payload[-12:-8] == rtcp["bob"][0].payload[-12:-8]  # E ‖ index
    # ... and only the MKI (GMK-ID ‖ GUK-ID) tells the streams apart
    mki = {k: group_mki(GMK_ID, guk_id(GMK, GMK_ID, uri(k))) for k in ("alice", "bob")}
    assert mki["alice"] != mki["bob"]
    for k in ("alice", "bob"):
        assert {d.payload[-8:] for d in streams[k]} == {mki[k]}

    for pair in zip(streams["alice"], streams["bob"], strict=True):  # interleaved
        for d in pair:
            w.inject("carol", d, src_l2id=w.l2["alice" if d in streams["alice"] else "bob"])
    assert not w.rejects("carol")  # no false reject
    media = w.events("carol", "media")
    assert len(media) == 2 * n
    for m in media:  # no cross-talk: each plaintext comes out under its own sender
        assert m["payload"].startswith(m["sender"].removeprefix("sip:").split("@")[0].encode())
        assert m["ssrc"] == SSRC and m["mki"] == mki[m["payload"].split(b"-")[0].decode()].hex()
    assert Counter(m["sender"] for m in media) == {uri("alice"): n, uri("bob"): n}
    floors = w.events("carol", "floor_taken")
    assert sorted(f["talker"] for f in floors) == [uri("alice"), uri("bob")]
    assert {f["ssrc"] for f in floors} == {SSRC}
    # one replay window per (keys, SSRC): two streams at carol, each at the same top index
    rx = w.ues["carol"].call(GROUP).receiver
    tops = {k: rx.rtp_stream(mki[k], SSRC).window.top for k in ("alice", "bob")}
    assert tops == {"alice": FIRST_SEQ + n - 1, "bob": FIRST_SEQ + n - 1}
    assert rx.rtp_stream(mki["alice"], SSRC) is not rx.rtp_stream(mki["bob"], SSRC)

    # a replay is refused on its own stream; the other talker's next packet is not affected
    w.clear()
    assert w.inject("carol", rtp["alice"][-1])[-1].reason is Reason.REPLAY_FAIL
    assert w.inject("carol", rtp["bob"][0])[-1].reason is Reason.REPLAY_FAIL
    assert w.inject("carol", rtcp["bob"][0])[-1].reason is Reason.REPLAY_FAIL
    (nxt,) = [d for d in sent(w.ues["bob"].send_media(GROUP, b"bob-next", t0 + n * 0.02))
              if d.dport == MEDIA_PORT]
    assert rtp_ssrc_seq(nxt) == (SSRC, FIRST_SEQ + n)
    assert any(isinstance(v, Accepted) and v.kind == "media" for v in w.inject("carol", nxt))
    assert w.events("carol", "media")[-1]["payload"] == b"bob-next"

    # an MKI swapped onto the other talker's packet (at an index new to both streams) selects
    # the other key: BAD_TAG, not media; alice's own packets are accepted after it
    more = [d for i in (1, 2) for d in sent(w.ues["alice"].send_media(
        GROUP, b"alice-%d" % i, t0 + (n + i) * 0.02)) if d.dport == MEDIA_PORT]
    assert [rtp_ssrc_seq(d) for d in more] == [(SSRC, FIRST_SEQ + n), (SSRC, FIRST_SEQ + n + 1)]
    w.clear()
    w.inject("carol", more[1]._replace(payload=more[1].payload[:-8] + mki["bob"]))
    assert w.rejects("carol") == [Reason.BAD_TAG] and not w.events("carol", "media")
    for d in more:
        w.inject("carol", d)
    assert w.rejects("carol") == [Reason.BAD_TAG]
    assert [(m["sender"], m["payload"]) for m in w.events("carol", "media")] == [
        (uri("alice"), b"alice-1"), (uri("alice"), b"alice-2")]


def test_collided_streams_survive_a_rejoin_without_reopening_replays(kms):
    """carol leaves and re-joins (a new SrtpReceiver on the same SrtpHistory): the old packets
    of both colliding streams are still replays, the new ones of both are accepted."""
    w = collided_world(kms)
    t0 = w.now
    old = {k: [d for d in sent(w.ues[k].send_media(GROUP, f"{k}-old".encode(), t0))
               if d.dport == MEDIA_PORT] for k in ("alice", "bob")}
    for k in ("alice", "bob"):
        w.inject("carol", old[k][0])
    assert len(w.events("carol", "media")) == 2 and not w.rejects("carol")
    w.run("carol", w.ues["carol"].end_call(GROUP, t0))
    w.run("carol", w.ues["carol"].probe(GROUP, t0 + 0.1))  # an announcer answers: re-joined
    assert w.ues["carol"].call(GROUP) is not None
    w.clear()
    for k in ("alice", "bob"):
        w.inject("carol", old[k][0])
    assert w.rejects("carol") == [Reason.REPLAY_FAIL, Reason.REPLAY_FAIL]
    w.clear()
    for k in ("alice", "bob"):
        for d in sent(w.ues[k].send_media(GROUP, f"{k}-new".encode(), t0 + 0.2)):
            if d.dport == MEDIA_PORT:
                assert rtp_ssrc_seq(d) == (SSRC, FIRST_SEQ + 1)
                w.inject("carol", d)
    assert not w.rejects("carol")
    assert [(m["sender"], m["payload"]) for m in w.events("carol", "media")] == [
        (uri("alice"), b"alice-new"), (uri("bob"), b"bob-new")]


def test_fixed_ssrc_rotates_to_a_random_one_before_seq_wraps(kms):
    """The hook fixes the first SSRC only: at the SEQ wrap the sender still takes a fresh SSRC
    never used under its MKI (no ROC > 0, media.py), so the hook cannot make it reuse a tuple."""
    w = build_world(kms, ["alice", "bob"], ssrc=SSRC, first_seq=FIRST_SEQ)
    w.ues["alice"].seq_space = FIRST_SEQ + 10
    setup_call(w)
    seen = []
    for i in range(25):
        for d in sent(w.ues["alice"].send_media(GROUP, b"x", w.now + i * 0.02)):
            if d.dport == MEDIA_PORT:
                seen.append(rtp_ssrc_seq(d))
    assert seen[:10] == [(SSRC, FIRST_SEQ + i) for i in range(10)]
    ssrcs = list(dict.fromkeys(s for s, _ in seen))
    assert ssrcs[0] == SSRC and len(ssrcs) >= 2 and len(set(seen)) == len(seen)


SCENARIO = """
version: 1
name: ssrc-hook
seed: 1
duration: 1s
kms: {{uri: kms.example.org}}
ues:
  a: {{identity: {{user: "sip:a@example.org"}}, position: [0, 0],
      ssrc: {ssrc}, first_seq: {seq}}}
  b: {{identity: {{user: "sip:b@example.org"}}, position: [10, 0]}}
medium: {{mode: range, range: 100}}
"""


def test_scenario_hook_loads_and_is_bounded():
    s = loads_scenario(SCENARIO.format(ssrc="0x5eed0001", seq=100))
    a, b = s.ues
    assert (a.ssrc, a.first_seq, b.ssrc, b.first_seq) == (SSRC, 100, None, None)
    assert a.to_dict()["ssrc"] == SSRC and "ssrc" not in b.to_dict()
    bad = (("0", 1, "ssrc"), ("0x100000000", 1, "ssrc"), ("1", 32768, "first_seq"),
           ("1", -1, "first_seq"), ("'7'", 1, "ssrc"))
    for ssrc, seq, key in bad:
        with pytest.raises(ScenarioError, match=rf"ues\.a\.{key}"):
            loads_scenario(SCENARIO.format(ssrc=ssrc, seq=seq))
