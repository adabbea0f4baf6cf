"""Public-safety discovery machine: instances wired together with real crypto and real bytes.

Covers Model A and Model B group member discovery, relay discovery, the receive order
(ADVERSARIAL.md §3), the UTC-counter window (PROTOCOL.md §8.4, scenario I1), MIC coverage of
every bit, and an F2-style flood.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from prose_mesh.crypto import discovery_sec as ds
from prose_mesh.errors import ProseMeshError
from prose_mesh.protocol import discovery as dm
from prose_mesh.protocol.actions import Accepted, Event, Rejected, SendDiscovery, SetTimer
from prose_mesh.protocol.discovery import Discovery, DiscoverySecurity
from prose_mesh.protocol.reasons import Reason
from prose_mesh.wire.discovery import GroupMemberAnnouncement, parse_discovery

GROUP = 0x0A0B0C
OTHER_GROUP = 0x0D0E0F
RSC = 0x123456
PSDK_G = bytes(range(32))
PSDK_G2 = bytes(range(100, 132))
PSDK_R = bytes(range(50, 82))
T0 = 1_700_000_000.25  # 1_700_000_000 is a multiple of 16: a scrambling-slot boundary

A_L2, B_L2, C_L2, R_L2 = 0x00A001, 0x00B002, 0x00C003, 0x00D004
A_INFO, B_INFO, C_INFO, R_INFO = b"alice1", b"bob__2", b"carol3", b"relay4"


def ue(l2id, info, groups=None, **kw):
    return Discovery(l2id=l2id, user_info=info,
                     groups={GROUP: PSDK_G} if groups is None else groups, **kw)


def sends(actions):
    return [a.message for a in actions if isinstance(a, SendDiscovery)]


def verdict(actions):
    """Exactly one Accepted or Rejected per input."""
    v = [a for a in actions if isinstance(a, Accepted | Rejected)]
    assert len(v) == 1, actions
    return v[0]


def events(actions, name=None):
    return [a for a in actions if isinstance(a, Event) and (name is None or a.name == name)]


def announce(node, now):
    return sends(node.start(now))


# --- Model A ---------------------------------------------------------------------------------


def test_model_a_announcement_discovers_peer():
    a, b = ue(A_L2, A_INFO), ue(B_L2, B_INFO)
    out = a.start(T0)
    assert SetTimer(dm.ANNOUNCE_TIMER, T0 + 5.0) in out
    [msg] = sends(out)
    assert len(msg) == 29 and msg[0] == 0x99  # restricted, group member announcement, Model A
    acts = b.on_message(msg, src_l2id=A_L2, now=T0 + 0.4)
    v = verdict(acts)
    assert isinstance(v, Accepted) and v.kind == "discovery"
    assert v.detail["refresh"] is False
    [ev] = events(acts, "peer_discovered")
    assert ev.data == {"l2id": A_L2, "user_info": A_INFO.hex(), "model": "A", "group_id": GROUP}
    [peer] = b.peers()
    assert (peer.l2id, peer.user_info, peer.group_id, peer.relay_code, peer.model) == (
        A_L2, A_INFO, GROUP, None, "A")
    assert peer.counter == int(T0)
    assert b.relays() == []


def test_announcement_on_air_is_scrambled_and_descrambles_to_the_wire_layout():
    a = ue(A_L2, A_INFO)
    [msg] = announce(a, T0)
    assert A_INFO not in msg and GROUP.to_bytes(3, "big") not in msg
    keys = ds.DiscoveryKeys.from_psdk(PSDK_G)
    plain = ds.scramble(msg, ds.scrambling_keystream(keys.dusk, int(T0)))
    pkt = parse_discovery(plain)
    assert isinstance(pkt, GroupMemberAnnouncement)
    assert (pkt.prose_ue_id, pkt.announcer_info, pkt.discovery_group_id) == (
        A_L2, A_INFO, GROUP)
    assert pkt.utc_lsb == int(T0) & 0xFF
    assert ds.verify_mic(keys.duik, plain, int(T0))


def test_periodic_announcements_and_unknown_timer():
    a = ue(A_L2, A_INFO)
    a.start(T0)
    out = a.on_timer(dm.ANNOUNCE_TIMER, T0 + 5)
    assert len(sends(out)) == 1 and SetTimer(dm.ANNOUNCE_TIMER, T0 + 10) in out
    assert a.on_timer(("something", "else"), T0 + 5) == []
    assert ue(B_L2, B_INFO).on_timer(dm.ANNOUNCE_TIMER, T0) == []  # never started


def test_in_window_repeat_only_refreshes():
    a, b = ue(A_L2, A_INFO), ue(B_L2, B_INFO)
    [msg] = announce(a, T0)
    b.on_message(msg, src_l2id=A_L2, now=T0)
    acts = b.on_message(msg, src_l2id=A_L2, now=T0 + 20)  # verbatim replay, in window
    v = verdict(acts)
    assert isinstance(v, Accepted) and v.detail["refresh"] is True
    assert events(acts) == []
    [peer] = b.peers()
    assert peer.last_seen == T0 + 20 and peer.first_seen == T0
    # A fresh announcement from the same peer is also a refresh with a newer counter.
    [msg2] = sends(a.on_timer(dm.ANNOUNCE_TIMER, T0 + 25))
    assert events(b.on_message(msg2, src_l2id=A_L2, now=T0 + 25)) == []
    assert b.peers()[0].counter == int(T0 + 25)


@pytest.mark.parametrize("start", [T0, T0 + 7, T0 + 15.9])
@pytest.mark.parametrize("delay", [33, 40, 64, 100, 127])
def test_replay_after_window_is_rejected(start, delay):
    a, b = ue(A_L2, A_INFO), ue(B_L2, B_INFO)
    [msg] = announce(a, start)
    assert isinstance(verdict(b.on_message(msg, src_l2id=A_L2, now=start)), Accepted)
    before = b.peers()
    v = verdict(b.on_message(msg, src_l2id=0x666666, now=start + delay))
    assert isinstance(v, Rejected) and v.reason is Reason.TS_OUT_OF_WINDOW
    assert b.peers() == before  # no state change, not even last_seen


def test_replay_to_a_fresh_receiver_after_window_is_rejected():
    [msg] = announce(ue(A_L2, A_INFO), T0)
    b = ue(B_L2, B_INFO)
    v = verdict(b.on_message(msg, src_l2id=A_L2, now=T0 + 33))
    assert isinstance(v, Rejected) and v.reason is Reason.TS_OUT_OF_WINDOW
    assert b.peers() == []


# --- I1: clock offsets -----------------------------------------------------------------------


@pytest.mark.parametrize("frac", [0.0, 0.5, 7.3, 15.99])
@pytest.mark.parametrize(("offset", "ok"), [(-31, True), (31, True), (0, True), (-32, True),
                                            (32, True), (-33, False), (33, False)])
def test_clock_offset_inside_works_outside_fails(frac, offset, ok):
    now = T0 + frac
    a, b = ue(A_L2, A_INFO), ue(B_L2, B_INFO)
    [msg] = announce(a, now + offset)  # the announcer's clock is skewed
    acts = b.on_message(msg, src_l2id=A_L2, now=now)
    v = verdict(acts)
    if ok:
        assert isinstance(v, Accepted) and len(events(acts, "peer_discovered")) == 1
    else:
        assert isinstance(v, Rejected) and v.reason is Reason.TS_OUT_OF_WINDOW
        assert b.peers() == []


def test_recovers_after_resync():
    a, b = ue(A_L2, A_INFO), ue(B_L2, B_INFO)
    [skewed] = announce(a, T0 + 40)
    assert verdict(b.on_message(skewed, src_l2id=A_L2, now=T0)).reason is Reason.TS_OUT_OF_WINDOW
    [synced] = sends(a.on_timer(dm.ANNOUNCE_TIMER, T0 + 1))  # clock corrected
    assert isinstance(verdict(b.on_message(synced, src_l2id=A_L2, now=T0 + 1)), Accepted)


# --- Model B ---------------------------------------------------------------------------------


def test_model_b_solicit_response_discovers():
    a, b = ue(A_L2, A_INFO), ue(B_L2, B_INFO)
    [sol] = sends(b.solicit(GROUP, T0))
    assert sol[0] == 0x9E
    acts = a.on_message(sol, src_l2id=B_L2, now=T0 + 0.1)
    v = verdict(acts)
    assert isinstance(v, Accepted) and v.detail["type"] == "group_member_solicitation"
    assert a.peers() == []  # a solicitation does not create an entry
    [resp] = sends(acts)
    assert resp[0] == 0x9A
    acts = b.on_message(resp, src_l2id=A_L2, now=T0 + 0.2)
    assert isinstance(verdict(acts), Accepted)
    [ev] = events(acts, "peer_discovered")
    assert ev.data["model"] == "B" and ev.data["l2id"] == A_L2
    assert b.peers()[0].model == "B"


def test_targeted_solicitation_only_answered_by_target():
    a, b, c = ue(A_L2, A_INFO), ue(B_L2, B_INFO), ue(C_L2, C_INFO)
    [sol] = sends(b.solicit(GROUP, T0, target=C_INFO))
    v = verdict(a.on_message(sol, src_l2id=B_L2, now=T0))
    assert isinstance(v, Rejected) and v.reason is Reason.NOT_FOR_ME
    assert sends(a.on_message(sol, src_l2id=B_L2, now=T0)) == []
    [resp] = sends(c.on_message(sol, src_l2id=B_L2, now=T0))
    assert len(events(b.on_message(resp, src_l2id=C_L2, now=T0), "peer_discovered")) == 1


def test_unsolicited_or_late_response_rejected():
    a, b, c = ue(A_L2, A_INFO), ue(B_L2, B_INFO), ue(C_L2, C_INFO)
    [sol] = sends(b.solicit(GROUP, T0))
    [resp] = sends(a.on_message(sol, src_l2id=B_L2, now=T0))
    v = verdict(c.on_message(resp, src_l2id=A_L2, now=T0))  # C never solicited
    assert isinstance(v, Rejected) and v.reason is Reason.NOT_FOR_ME
    v = verdict(b.on_message(resp, src_l2id=A_L2, now=T0 + dm.SOLICIT_WINDOW_S + 1))
    assert isinstance(v, Rejected) and v.reason is Reason.NOT_FOR_ME
    assert b.peers() == [] and c.peers() == []


def test_replayed_solicitation_answered_once():
    a, b = ue(A_L2, A_INFO), ue(B_L2, B_INFO)
    [sol] = sends(b.solicit(GROUP, T0))
    assert len(sends(a.on_message(sol, src_l2id=B_L2, now=T0))) == 1
    acts = a.on_message(sol, src_l2id=0x666666, now=T0 + 3)
    assert sends(acts) == [] and verdict(acts).detail["duplicate"] is True


def test_own_messages_echoed_back_are_not_for_me():
    a = ue(A_L2, A_INFO)
    [msg] = announce(a, T0)
    assert verdict(a.on_message(msg, src_l2id=A_L2, now=T0)).reason is Reason.NOT_FOR_ME
    [sol] = sends(a.solicit(GROUP, T0))
    acts = a.on_message(sol, src_l2id=A_L2, now=T0)
    assert verdict(acts).reason is Reason.NOT_FOR_ME and sends(acts) == []
    assert a.peers() == []


# --- relay discovery -------------------------------------------------------------------------


def relay_node():
    return Discovery(l2id=R_L2, user_info=R_INFO, relay_codes={RSC: PSDK_R}, relay=True)


def remote_node():
    return Discovery(l2id=B_L2, user_info=B_INFO, relay_codes={RSC: PSDK_R})


def test_relay_announcement_fills_relay_table():
    r, b = relay_node(), remote_node()
    [msg] = announce(r, T0)
    assert msg[0] == 0x91
    acts = b.on_message(msg, src_l2id=R_L2, now=T0)
    [ev] = events(acts, "relay_discovered")
    assert ev.data == {"l2id": R_L2, "user_info": R_INFO.hex(), "model": "A",
                       "relay_code": RSC, "status": 0}
    [entry] = b.relays(RSC)
    assert entry.is_relay and entry.l2id == R_L2 and entry.group_id is None
    assert b.relays(0x999999) == [] and b.peers() == [entry]
    assert announce(b, T0) == []  # a remote UE announces nothing


def test_relay_model_b():
    r, b = relay_node(), remote_node()
    [sol] = sends(b.solicit_relay(RSC, T0))
    assert sol[0] == 0x96
    acts = r.on_message(sol, src_l2id=B_L2, now=T0)
    [resp] = sends(acts)
    assert resp[0] == 0x92
    acts = b.on_message(resp, src_l2id=R_L2, now=T0)
    assert len(events(acts, "relay_discovered")) == 1 and b.relays()[0].model == "B"
    # A UE that is not a relay does not answer a relay solicitation.
    v = verdict(remote_node().on_message(sol, src_l2id=B_L2, now=T0))
    assert isinstance(v, Rejected) and v.reason is Reason.NOT_FOR_ME


def test_relay_message_without_relay_codes_is_unknown_key():
    [msg] = announce(relay_node(), T0)
    v = verdict(ue(B_L2, B_INFO).on_message(msg, src_l2id=R_L2, now=T0))
    assert v.reason is Reason.UNKNOWN_KEY


# --- keys ------------------------------------------------------------------------------------


def test_other_group_and_wrong_psdk_are_unknown_key_when_scrambled():
    # Scrambling covers the Discovery Group ID, so a receiver whose PSDK differs cannot even
    # find its group in the message: UNKNOWN_KEY, before any MIC work.
    [msg] = announce(ue(A_L2, A_INFO), T0)
    for groups in ({OTHER_GROUP: PSDK_G2}, {GROUP: PSDK_G2}):
        b = ue(B_L2, B_INFO, groups=groups)
        v = verdict(b.on_message(msg, src_l2id=A_L2, now=T0))
        assert v.reason is Reason.UNKNOWN_KEY and b.peers() == []


def test_wrong_psdk_is_bad_tag_without_scrambling():
    unscrambled = {GROUP: DiscoverySecurity(PSDK_G, scrambling=False)}
    a = ue(A_L2, A_INFO, groups=unscrambled)
    [msg] = announce(a, T0)
    assert msg[10:13] == GROUP.to_bytes(3, "big")  # the ID is in clear
    b = ue(B_L2, B_INFO, groups={GROUP: DiscoverySecurity(PSDK_G2, scrambling=False)})
    v = verdict(b.on_message(msg, src_l2id=A_L2, now=T0))
    assert v.reason is Reason.BAD_TAG and b.peers() == []
    good = ue(B_L2, B_INFO, groups=unscrambled)
    assert isinstance(verdict(good.on_message(msg, src_l2id=A_L2, now=T0)), Accepted)


def test_forgery_with_right_dusk_and_wrong_duik_is_bad_tag():
    real = ds.DiscoveryKeys.from_psdk(PSDK_G)
    forged_keys = ds.DiscoveryKeys(duik=bytes(32), dusk=real.dusk, duck=None)
    plain = bytes(GroupMemberAnnouncement(prose_ue_id=0x666666, announcer_info=b"mallor",
                                          discovery_group_id=GROUP))
    forged = ds.protect(plain, forged_keys, int(T0))
    b = ue(B_L2, B_INFO)
    v = verdict(b.on_message(forged, src_l2id=0x666666, now=T0))
    assert v.reason is Reason.BAD_TAG and b.peers() == []


def test_confidentiality_round_trip_hides_announcer_info_after_descrambling():
    sec = {GROUP: DiscoverySecurity(PSDK_G, confidentiality=True)}
    a, b = ue(A_L2, A_INFO, groups=sec), ue(B_L2, B_INFO, groups=sec)
    [msg] = announce(a, T0)
    keys = ds.DiscoveryKeys.from_psdk(PSDK_G, confidentiality=True)
    descrambled = ds.scramble(msg, ds.scrambling_keystream(keys.dusk, int(T0)))
    assert descrambled[10:13] == GROUP.to_bytes(3, "big")  # left clear by the mask
    assert descrambled[4:10] != A_INFO and descrambled[1:4] != A_L2.to_bytes(3, "big")
    acts = b.on_message(msg, src_l2id=A_L2, now=T0)
    assert events(acts, "peer_discovered")[0].data["user_info"] == A_INFO.hex()
    # A receiver configured without DUCK reads garbage and the MIC catches it.
    nodk = ue(C_L2, C_INFO)
    assert verdict(nodk.on_message(msg, src_l2id=A_L2, now=T0)).reason is Reason.BAD_TAG


# --- malformed and tampered input ------------------------------------------------------------


def test_length_and_message_type_checks():
    b = ue(B_L2, B_INFO)
    [msg] = announce(ue(A_L2, A_INFO), T0)
    for bad in (b"", msg[:28], msg + b"\0"):
        assert verdict(b.on_message(bad, src_l2id=1, now=T0)).reason is Reason.MALFORMED
    for mt in (0x59, 0x41, 0x00, 0xFF, 0x9D):  # open type, non-PS, unknown
        bad = bytes([mt]) + msg[1:]
        assert verdict(b.on_message(bad, src_l2id=1, now=T0)).reason is Reason.BAD_HEADER


@pytest.mark.parametrize("confidentiality", [False, True])
def test_every_bit_flip_is_rejected(confidentiality):
    sec = {GROUP: DiscoverySecurity(PSDK_G, confidentiality=confidentiality)}
    a, b = ue(A_L2, A_INFO, groups=sec), ue(B_L2, B_INFO, groups=sec)
    [msg] = announce(a, T0 + 3)
    reasons = Counter()
    for bit in range(29 * 8):
        flipped = bytearray(msg)
        flipped[bit // 8] ^= 0x80 >> (bit % 8)
        v = verdict(b.on_message(bytes(flipped), src_l2id=A_L2, now=T0 + 3))
        assert isinstance(v, Rejected), bit
        reasons[v.reason] += 1
    assert b.peers() == []
    # Most flips reach the MIC; the rest die earlier (header, ID under scrambling, counter).
    assert reasons[Reason.BAD_TAG] >= 150
    assert set(reasons) <= {Reason.BAD_TAG, Reason.BAD_HEADER, Reason.UNKNOWN_KEY,
                            Reason.TS_OUT_OF_WINDOW, Reason.NOT_FOR_ME}
    assert isinstance(verdict(b.on_message(msg, src_l2id=A_L2, now=T0 + 3)), Accepted)


# --- F2: floods and the bounded table --------------------------------------------------------


def test_random_frame_flood_rejected_and_verified_peers_kept():
    rng = random.Random(0xF2)
    b = Discovery(l2id=B_L2, user_info=B_INFO, groups={GROUP: PSDK_G},
                  relay_codes={RSC: PSDK_R}, max_entries=16)
    [msg] = announce(ue(A_L2, A_INFO), T0)
    b.on_message(msg, src_l2id=A_L2, now=T0)
    kept = b.peers()
    valid_types = [0x99, 0x9A, 0x9E, 0x91, 0x92, 0x96]
    reasons = Counter()
    for i in range(10_000):
        frame = bytearray(rng.randbytes(29))
        if i % 2:  # half carry a valid restricted Message Type and reach descrambling
            frame[0] = rng.choice(valid_types)
        acts = b.on_message(bytes(frame), src_l2id=rng.getrandbits(24), now=T0 + i / 1000)
        v = verdict(acts)
        assert isinstance(v, Rejected)
        assert events(acts) == [] and sends(acts) == []
        reasons[v.reason] += 1
    assert reasons[Reason.UNKNOWN_KEY] >= 5_000 and reasons[Reason.BAD_HEADER] >= 4_000
    assert b.peers() == kept


def test_insider_flood_is_bounded_and_cannot_evict_verified_peers():
    b = ue(B_L2, B_INFO, max_entries=8, entry_ttl=30.0)
    [msg] = announce(ue(A_L2, A_INFO), T0)
    b.on_message(msg, src_l2id=A_L2, now=T0)
    # An insider with the group PSDK announces many fake L2 IDs.
    for i in range(40):
        fake = ue(0x700000 + i, b"fake%02d" % i)
        [m] = announce(fake, T0 + 1)
        acts = b.on_message(m, src_l2id=0x700000 + i, now=T0 + 1)
        v = verdict(acts)
        if i < 7:
            assert isinstance(v, Accepted)
        else:
            assert v.reason is Reason.CACHE_FULL and events(acts) == []
        assert len(b.peers()) <= 8
    assert A_L2 in {p.l2id for p in b.peers()}
    # Entries not refreshed within entry_ttl leave; then newcomers fit again.
    [m] = announce(ue(C_L2, C_INFO), T0 + 40)
    acts = b.on_message(m, src_l2id=C_L2, now=T0 + 40)
    assert isinstance(verdict(acts), Accepted)
    assert len(events(acts, "peer_lost")) == 8
    assert [p.l2id for p in b.peers()] == [C_L2]


def test_timer_expires_stale_relays():
    r, b = relay_node(), remote_node()
    [msg] = announce(r, T0)
    b.on_message(msg, src_l2id=R_L2, now=T0)
    b.start(T0)
    assert events(b.on_timer(dm.ANNOUNCE_TIMER, T0 + 10), "relay_lost") == []
    [lost] = events(b.on_timer(dm.ANNOUNCE_TIMER, T0 + 31), "relay_lost")
    assert lost.data["l2id"] == R_L2 and b.relays() == []


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    {"l2id": 1 << 24},
    {"user_info": b"short"},
    {"groups": {1 << 24: PSDK_G}},
    {"groups": {GROUP: b"\0" * 16}},
    {"max_offset": 128},
    {"max_entries": 0},
    {"announce_interval": 0},
])
def test_bad_configuration_raises(kwargs):
    args = {"l2id": A_L2, "user_info": A_INFO, "groups": {GROUP: PSDK_G}, **kwargs}
    with pytest.raises(ProseMeshError):
        Discovery(**args)


def test_soliciting_without_a_key_raises():
    b = ue(B_L2, B_INFO)
    with pytest.raises(ProseMeshError):
        b.solicit(OTHER_GROUP, T0)
    with pytest.raises(ProseMeshError):
        b.solicit_relay(RSC, T0)
    with pytest.raises(ProseMeshError):
        b.solicit(GROUP, T0, target=b"x")


def test_encrypted_bits_mask_keeps_the_ids_clear():
    for mt, at in ((dm.MT_GROUP_ANNOUNCEMENT, 10), (dm.MT_GROUP_SOLICITATION, 7),
                   (dm.MT_RELAY_ANNOUNCEMENT, 1), (dm.MT_RELAY_SOLICITATION, 1)):
        mask = dm.encrypted_bits_mask(mt)
        assert len(mask) == 23 and mask[at - 1 : at + 2] == b"\0\0\0"
        assert mask.count(0xFF) == 20


def test_keystream_must_come_from_the_messages_own_counter_slot():
    # An insider with DUIK and DUSK scrambles a validly MICed message with the keystream of
    # the previous 16-s slot: the counter it carries names another slot, so it is refused.
    keys = ds.DiscoveryKeys.from_psdk(PSDK_G)
    counter = int(T0) + 20
    plain = bytes(GroupMemberAnnouncement(prose_ue_id=0x666666, announcer_info=b"insidr",
                                          discovery_group_id=GROUP))
    good = ds.protect(plain, keys, counter)
    unscrambled = ds.scramble(good, ds.scrambling_keystream(keys.dusk, counter))
    wrong_slot = ds.scramble(unscrambled, ds.scrambling_keystream(keys.dusk, counter - 16))
    b = ue(B_L2, B_INFO)
    v = verdict(b.on_message(wrong_slot, src_l2id=0x666666, now=counter))
    assert v.reason is Reason.UNKNOWN_KEY and b.peers() == []
    assert isinstance(verdict(b.on_message(good, src_l2id=0x666666, now=counter)), Accepted)
