"""The sans-I/O relaying rules (protocol/relay.py) and the envelope codec (wire/relay.py):
duplicate suppression with a bounded cache, the hop limit, loop freedom on a ring of relays,
strict envelope parsing, and relay selection/reselection."""

from __future__ import annotations

import pytest

from prose_mesh.errors import ProseMeshError
from prose_mesh.protocol.relay import DupCache, Forwarder, Selector
from prose_mesh.wire import fast
from prose_mesh.wire.relay import build_envelope, is_envelope, parse_envelope

GROUP = 0x00C001


def _frame(src: int, seq: int, cast: int = fast.CAST_ONE_TO_MANY, dst: int = GROUP) -> bytes:
    return fast.build_sl_sch(lcid=2, src_l2id=src, dst_l2id=dst, cast=cast,
                             sdu_type=fast.SDU_IP, sdu=seq.to_bytes(4, "big") * 10, sn=seq)


def test_envelope_round_trip_and_strictness():
    inner = _frame(0x111111, 7)
    pdu = fast.parse_pc5(build_envelope(0x222222, 9, 3, 1, inner))
    assert is_envelope(pdu)
    env = parse_envelope(pdu)
    assert env == (0x222222, 9, 3, 1, inner)
    assert pdu.shim.dst_l2id == GROUP  # the envelope is addressed like the frame inside
    assert not is_envelope(fast.parse_pc5(inner))
    bad_version = bytearray(build_envelope(0x222222, 9, 3, 1, inner))
    bad_version[16] = 0x20
    with pytest.raises(ProseMeshError):
        parse_envelope(fast.parse_pc5(bytes(bad_version)))
    short = fast.build_sl_sch(lcid=10, src_l2id=1, dst_l2id=GROUP, cast=fast.CAST_BROADCAST,
                              sdu_type=fast.SDU_NON_IP, sdu=b"\x10\x03")
    with pytest.raises(ProseMeshError):
        parse_envelope(fast.parse_pc5(short))


def test_dup_cache_is_bounded_and_forgets_after_hold():
    c = DupCache(max_entries=4, hold_s=10.0)
    assert not c.seen(1, 0.0) and c.seen(1, 1.0)
    for k in range(2, 7):
        c.seen(k, 2.0)
    assert len(c) == 4 and c.early_evictions == 2
    assert not c.seen(1, 3.0)  # evicted early: counted, then new again
    c2 = DupCache(max_entries=100, hold_s=1.0)
    c2.seen(5, 0.0)
    c2.seen(6, 2.0)  # 5 is older than hold: forgotten, not an early eviction
    assert len(c2) == 1 and c2.early_evictions == 0


def test_forwarding_rules_and_hop_limit():
    me, remote, other = 0xAAAAAA, 0xBBBBBB, 0xCCCCCC
    f = Forwarder(me, relay=True, hop_limit=3, serves={remote})
    frame = fast.parse_pc5(_frame(remote, 1))
    v = f.on_direct(frame.shim, hash(b"a"), 0.0, linked=False)
    assert v.forward and v.hop_limit == 2 and v.hops == 1
    assert f.on_direct(frame.shim, hash(b"a"), 0.1, linked=False).duplicate
    # a stranger's frame is forwarded only once it has linked to me (its selection)
    stranger = fast.parse_pc5(_frame(other, 1)).shim
    assert not f.on_direct(stranger, hash(b"b"), 0.0, linked=False).forward
    assert f.on_direct(stranger, hash(b"c"), 0.0, linked=True).forward
    # one-to-one to me is mine, never forwarded; to someone else it is
    to_me = fast.parse_pc5(_frame(remote, 2, fast.CAST_ONE_TO_ONE, me)).shim
    assert not f.on_direct(to_me, hash(b"d"), 0.0, linked=True).forward
    to_other = fast.parse_pc5(_frame(remote, 3, fast.CAST_ONE_TO_ONE, other)).shim
    assert f.on_direct(to_other, hash(b"e"), 0.0, linked=True).forward
    # relayed copies: forwarded with one hop fewer until none remain
    v = f.on_envelope(other, 1, 1, 2, frame.shim, hash(b"f"), 0.0)
    assert v.forward and v.hop_limit == 0 and v.hops == 3
    v = f.on_envelope(other, 2, 0, 3, frame.shim, hash(b"g"), 0.0)
    assert not v.forward and f.counts["hop_limit"] == 1
    # a UE that is no relay keeps the cache but never forwards
    plain = Forwarder(0x010101)
    assert not plain.on_direct(frame.shim, hash(b"a"), 0.0, linked=True).forward


def test_ring_of_relays_forwards_each_frame_once():
    """Five relays in a ring, each hearing its two neighbours: one frame injected at relay 0
    is forwarded at most once by every relay, and the flood dies out (no loop)."""
    n = 5
    relays = [Forwarder(0x100 + i, relay=True, hop_limit=15, peer_relays=set(range(0x100,
                        0x100 + n))) for i in range(n)]
    inner = _frame(0x100, 1)
    shim = fast.parse_pc5(inner).shim
    key = hash(inner)
    relays[0].own(key, 0.0)
    queue = [(1, 0x100, 14, 1), (n - 1, 0x100, 14, 1)]  # relay 0's neighbours hear it
    sent = 0
    while queue:
        i, frm, hl, hops = queue.pop()
        v = relays[i].on_envelope(frm, sent, hl, hops, shim, key, 0.0)
        if v.forward:
            sent += 1
            for j in ((i + 1) % n, (i - 1) % n):
                queue.append((j, 0x100 + i, v.hop_limit, v.hops))
        assert sent <= n
    assert sent == n - 1  # every relay but the origin forwarded it exactly once
    assert sum(r.counts["duplicate"] for r in relays) >= n - 1


def test_selector_reselects_when_lost_or_silent():
    s = Selector(lost_s=2.5, echo_timeout_s=1.0, echo_misses=3, hold_down_s=10.0)
    s.heard(1, 0.0, "sip:r1")
    s.heard(2, 0.0, "sip:r2")
    first = s.tick(0.1)
    assert [e.name for e in first] == ["relay_selected"]
    chosen = s.selected
    other = 2 if chosen == 1 else 1
    # the relay keeps announcing but echoes none of my frames: silent -> reselect
    for t in (1.0, 1.1, 1.2):
        s.heard(chosen, t)
        s.heard(other, t)
        s.sent(t)
    assert s.tick(1.5) == []  # not yet due
    out = s.tick(2.3)
    assert [e.name for e in out] == ["relay_failed", "relay_reselected"]
    assert out[0].data["why"] == "not_forwarding" and s.selected == other
    # the new relay dies: nothing else usable (the first is held down)
    s.heard(chosen, 5.0)
    out = s.tick(6.0)
    assert [e.name for e in out] == ["relay_failed"] and s.selected is None
    assert out[0].data["why"] == "lost"
    # echoes keep a relay selected
    s2 = Selector(echo_misses=2)
    s2.heard(9, 0.0)
    s2.tick(0.0)
    for t in (0.1, 0.2, 0.3):
        s2.sent(t)
        s2.echo(9)
        s2.heard(9, t)
    assert s2.tick(1.5) == [] and s2.selected == 9
