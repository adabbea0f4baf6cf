"""Group call setup, call-key checks and late entry: GroupCalls instances wired in plain Python.

Real ECCSI keys from a real KMS, real GMK bytes, real MONP/MIKEY/SRTP bytes on IPv6/UDP. The
harness below (``World``) passes every SendGroupIp packet, parsed with ``wire.ipudp``, to every
other UE's ``on_udp`` and fires SetTimer timers in time order. test_call_media.py imports it.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from typing import Any

import pytest

from prose_mesh.crypto.identity import key_period_number
from prose_mesh.crypto.kdf import guk_id
from prose_mesh.crypto.kms import Kms
from prose_mesh.protocol import call_key as ck
from prose_mesh.protocol.actions import (
    Accepted,
    CancelTimer,
    Event,
    Noted,
    Rejected,
    SendGroupIp,
    SetTimer,
)
from prose_mesh.protocol.gmk_policy import GmkStore
from prose_mesh.protocol.group_call import GroupCalls
from prose_mesh.protocol.groups import GroupConfig, GroupDirectory
from prose_mesh.protocol.reasons import Reason
from prose_mesh.wire import mikey_codec as mc
from prose_mesh.wire import monp
from prose_mesh.wire.ipudp import UdpDatagram, parse_udp6

NOW = 1_700_000_000.0
GROUP = "sip:group1@prose-mesh.example"
GMK_ID = 0x0123_4567
GMK = bytes(range(16))


def uri(name: str) -> str:
    return f"sip:{name}@prose-mesh.example"


@dataclass
class Gmk:
    gmk_id: int
    key: bytes
    group_id: str
    activation: float
    expiry: float


class FakeGmks:
    """Test double of GmkMember: a few real GMK records, looked up by group and by GMK-ID."""

    def __init__(self, *gmks: Gmk) -> None:
        self.gmks = {g.gmk_id: g for g in gmks}

    def current(self, group_id: str, now: float) -> Gmk | None:
        live = [g for g in self.gmks.values()
                if g.group_id == group_id and g.activation <= now <= g.expiry]
        return max(live, key=lambda g: g.activation, default=None)

    def by_gmk_id(self, gmk_id: int) -> tuple[str, Gmk] | None:
        g = self.gmks.get(gmk_id)
        return None if g is None else (g.group_id, g)


class StoreGmks(FakeGmks):
    """A GmkSource whose verdicts come from the real GmkStore (revocation, D2)."""

    def __init__(self, store: GmkStore, group_id: str) -> None:
        super().__init__()
        self.store, self.group_id = store, group_id

    def install(self, gmk: Gmk, now: float, *, revoking: bool = False) -> None:
        self.store.install(gmk.gmk_id, gmk.key, activation=gmk.activation, expiry=gmk.expiry,
                           now=now, revoking=revoking)
        self.gmks[gmk.gmk_id] = gmk

    def receive_verdict(self, gmk_id: int, now: float) -> Reason | None:
        return self.store.receive_verdict(gmk_id, now)

    def send_verdict(self, gmk_id: int, now: float) -> Reason | None:
        return self.store.send_verdict(gmk_id, now)


@pytest.fixture(scope="session")
def kms() -> Kms:
    return Kms.generate("kms.prose-mesh.example")


def keys_for(kms: Kms, name: str):
    return kms.provision(uri(name), key_period_number(NOW, kms.period, kms.offset))


def default_gmk() -> Gmk:
    return Gmk(GMK_ID, GMK, GROUP, NOW - 3600, NOW + 3600)


class World:
    """UEs on one broadcast medium, zero delay; timers fired in time order."""

    def __init__(self) -> None:
        self.ues: dict[str, GroupCalls] = {}
        self.l2: dict[str, int] = {}
        self.timers: dict[str, dict[Any, float]] = {}
        self.log: dict[str, list[Any]] = {}
        self.offline: set[str] = set()
        self.air: list[tuple[str, bytes]] = []
        self.now = NOW

    def add(self, name: str, ue: GroupCalls) -> GroupCalls:
        self.ues[name], self.l2[name] = ue, ue.l2id
        self.timers[name], self.log[name] = {}, []
        return ue

    def run(self, name: str, actions: list[Any], now: float | None = None) -> list[Any]:
        now = self.now if now is None else now
        self.log[name].extend(actions)
        for a in actions:
            if isinstance(a, SetTimer):
                self.timers[name][a.key] = a.at
            elif isinstance(a, CancelTimer):
                self.timers[name].pop(a.key, None)
            elif isinstance(a, SendGroupIp):
                self.air.append((name, a.packet))
                self.deliver(name, a.packet, now)
        return actions

    def deliver(self, sender: str, packet: bytes, now: float | None = None,
                to: set[str] | None = None) -> None:
        now = self.now if now is None else now
        dgram = parse_udp6(packet)
        for n, ue in self.ues.items():
            if n == sender or n in self.offline or (to is not None and n not in to):
                continue
            self.run(n, ue.on_udp(dgram, src_l2id=self.l2[sender], now=now), now)

    def inject(self, name: str, dgram: UdpDatagram, src_l2id: int = 0xBAD) -> list[Any]:
        return self.run(name, self.ues[name].on_udp(dgram, src_l2id=src_l2id, now=self.now))

    def advance(self, until: float) -> None:
        while True:
            due = [(at, n, k) for n, ts in self.timers.items() for k, at in ts.items()
                   if at <= until]
            if not due:
                break
            at, n, k = min(due, key=lambda d: d[0])
            del self.timers[n][k]
            self.now = max(self.now, at)
            self.run(n, self.ues[n].on_timer(k, self.now))
        self.now = until

    def events(self, name: str, kind: str) -> list[dict[str, Any]]:
        return [a.data for a in self.log[name] if isinstance(a, Event) and a.name == kind]

    def verdicts(self, name: str, kind: str | None = None) -> list[Accepted | Rejected | Noted]:
        return [a for a in self.log[name] if isinstance(a, Accepted | Rejected | Noted)
                and (kind is None or a.kind == kind)]

    def rejects(self, name: str) -> list[Reason]:
        return [a.reason for a in self.log[name] if isinstance(a, Rejected)]

    def clear(self) -> None:
        for v in self.log.values():
            v.clear()


def build_world(kms: Kms, names: list[str], *, members: list[str] | None = None,
                gmks: dict[str, Any] | None = None, **kw: Any) -> World:
    """UEs ``names``; the group's members are ``members`` (default: all); each UE's GMK source
    is ``gmks[name]`` (default: one FakeGmks with the real GMK)."""
    w = World()
    group = GroupConfig(GROUP, "standard", uri("gms"), frozenset(uri(n) for n in
                                                                 (members or names)))
    for i, n in enumerate(names):
        src = (gmks or {}).get(n, FakeGmks(default_gmk()))
        w.add(n, GroupCalls(keys=keys_for(kms, n), l2id=0x100 + i,
                            directory=GroupDirectory([group]), gmks=src,
                            rng=random.Random(1000 + i), **kw))
    return w


def setup_call(w: World, caller: str = "alice") -> None:
    w.run(caller, w.ues[caller].start_call(GROUP, w.now))
    w.advance(w.now + 0.2)


def announcement(w: World, sender: str = "alice") -> UdpDatagram:
    """The last ANNOUNCEMENT ``sender`` put on the air, parsed."""
    for s, pkt in reversed(w.air):
        d = parse_udp6(pkt)
        if s == sender and d.dport == 40000 and d.payload[0] == monp.GROUP_CALL_ANNOUNCEMENT:
            return d
    raise AssertionError("no announcement on the air")


def with_payload(d: UdpDatagram, payload: bytes) -> UdpDatagram:
    return d._replace(payload=payload)


def ann_parts(d: UdpDatagram) -> tuple[monp.GroupCallAnnouncement, bytes]:
    ann = monp.parse_monp(d.payload)
    return ann, ck.mikey_from_sdp(bytes(ann.sdp))


def rebuild(d: UdpDatagram, ann: monp.GroupCallAnnouncement, mikey: bytes) -> UdpDatagram:
    ann.sdp = ck.sdp_for(d.dst, 50000, mikey)
    ann.sdp_len = None
    return with_payload(d, bytes(ann))


# ------------------------------------------------------------------------------ call setup
def test_every_member_gets_the_key_and_decrypts_media(kms):
    w = build_world(kms, ["alice", "bob", "carol"])
    setup_call(w)
    a_call = w.ues["alice"].call(GROUP)
    assert a_call is not None and a_call.originated
    for n in ("bob", "carol"):
        (joined,) = w.events(n, "call_joined")
        assert joined["caller"] == uri("alice") and joined["call_id"] == a_call.call_id
        assert joined["announced_at"] == pytest.approx(NOW + 0.1, abs=1e-6)  # T of the message
        assert w.ues[n].call(GROUP).call_key == a_call.call_key
        assert [v.kind for v in w.verdicts(n)] == ["call_key", "call_key"]  # PROBE, ANNOUNCEMENT
        probe, announcement = w.verdicts(n)
        # the unsigned PROBE is noted, never accepted; the signed ANNOUNCEMENT is accepted
        assert isinstance(probe, Noted) and probe.what == "unsigned_probe"
        assert isinstance(announcement, Accepted)
    w.run("alice", w.ues["alice"].send_media(GROUP, b"hello group", w.now))
    for n in ("bob", "carol"):
        (media,) = w.events(n, "media")
        assert media["payload"] == b"hello group" and media["sender"] == uri("alice")
        assert media["sent_at"] == pytest.approx(w.now, abs=1e-6)
        (floor,) = w.events(n, "floor_taken")
        assert floor["talker"] == uri("alice") and floor["ssrc"] == media["ssrc"]


def test_non_member_and_member_without_gmk_decrypt_nothing(kms):
    # dave is not in the group (his directory knows the group, he is not listed); erin is
    # listed but holds no GMK.
    names = ["alice", "bob", "dave", "erin"]
    w = build_world(kms, names, members=["alice", "bob", "erin"],
                    gmks={"erin": FakeGmks()})
    setup_call(w)
    w.run("alice", w.ues["alice"].send_media(GROUP, b"secret", w.now))
    assert w.events("bob", "media")
    for n in ("dave", "erin"):
        assert not w.events(n, "media") and not w.events(n, "call_joined")
        assert not any(isinstance(v, Accepted) and v.kind != "call_key" for v in w.verdicts(n))
    assert set(w.rejects("dave")) == {Reason.NOT_FOR_ME}
    # erin: announcement has no GMK → UNKNOWN_KEY; media → no call → UNKNOWN_KEY
    assert [v.reason for v in w.verdicts("erin") if isinstance(v, Rejected)] == [
        Reason.UNKNOWN_KEY] * 3  # announcement, Floor Taken, media
    assert w.run("erin", w.ues["erin"].start_call(GROUP, w.now))[0].data["reason"] == \
        "UNKNOWN_KEY"  # a sender refuses to call without a usable GMK


def test_caller_who_is_not_a_member_is_rejected(kms):
    # mallory holds the GMK and valid ECCSI keys but the receivers' directory excludes her.
    w = build_world(kms, ["mallory", "bob"], members=["bob"])
    mallory_group = GroupConfig(GROUP, "standard", uri("gms"),
                                frozenset({uri("mallory"), uri("bob")}))
    w.ues["mallory"].directory = GroupDirectory([mallory_group])
    setup_call(w, "mallory")
    assert w.rejects("bob") == [Reason.UNAUTHORISED_SIGNER]
    assert w.ues["bob"].call(GROUP) is None
    w.run("mallory", w.ues["mallory"].send_media(GROUP, b"x", w.now))
    assert w.rejects("bob")[1:] == [Reason.UNKNOWN_KEY, Reason.UNKNOWN_KEY]


def test_replay_and_stale_and_future_t(kms):
    w = build_world(kms, ["alice", "bob", "carol"])
    w.offline.add("carol")
    setup_call(w)
    d = announcement(w)
    w.clear()
    assert w.inject("bob", d)[-1].reason is Reason.REPLAY
    # carol missed it: inside the window (T + 4 s) it is accepted, past SKEW it is not
    w.now = NOW + 0.1 + 5.5
    assert w.inject("carol", d)[-1].reason is Reason.TS_OUT_OF_WINDOW
    w.now = NOW + 0.1 - 5.5
    assert w.inject("carol", d)[-1].reason is Reason.TS_OUT_OF_WINDOW
    w.now = NOW + 0.1 + 4.0
    w.inject("carol", d)
    assert w.events("carol", "call_joined")


def test_forged_and_bit_flipped_announcements(kms):
    w = build_world(kms, ["alice", "bob", "carol"])
    w.offline.add("bob")
    setup_call(w)
    d = announcement(w)
    ann, mikey = ann_parts(d)
    bob = w.ues["bob"]
    replay_before = len(bob.replay)
    reasons = []
    sig_start = len(mikey) - 129
    # one flipped bit in every octet of the MIKEY message (SIGN covers all of it)
    for i in range(len(mikey)):
        bad = bytearray(mikey)
        bad[i] ^= 1 << (i % 8)
        w.now += 0.006  # stay under the global token bucket (200/s) and inside SKEW
        v = w.inject("bob", rebuild(d, ann, bytes(bad)), src_l2id=i)[-1]
        assert isinstance(v, Rejected), i
        reasons.append(v.reason)
        if i >= sig_start:  # signature octets: r, s, PVT
            assert v.reason in (Reason.BAD_SIG, Reason.KNOWN_BAD), i
    assert Reason.BAD_SIG in reasons and Reason.MALFORMED in reasons
    assert bob.call(GROUP) is None and len(bob.replay) == replay_before
    # the same forgery again is not verified twice
    bad = bytearray(mikey)
    bad[-40] ^= 0x80  # PVT
    forged = rebuild(d, ann, bytes(bad))
    assert w.inject("bob", forged, src_l2id=0x321)[-1].reason is Reason.BAD_SIG
    assert w.inject("bob", forged, src_l2id=0x321)[-1].reason is Reason.KNOWN_BAD
    # truncations
    for cut in (0, 1, 20, len(d.payload) - 1):
        assert w.inject("bob", with_payload(d, d.payload[:cut]))[-1].reason is Reason.MALFORMED
    # the unsigned MONP call ID rewritten: the signed SPI binds it
    ann2, _ = ann_parts(d)
    ann2.call_id ^= 1
    assert w.inject("bob", with_payload(d, bytes(ann2)))[-1].reason is Reason.MALFORMED
    # a MONP for another group sent to this group's address
    ann3, _ = ann_parts(d)
    ann3.group_id, ann3.group_id_len = b"sip:other@x", None
    assert w.inject("bob", with_payload(d, bytes(ann3)))[-1].reason is Reason.NOT_FOR_ME
    assert bob.call(GROUP) is None and not w.events("bob", "call_joined")
    # the genuine message still works afterwards
    w.inject("bob", d, src_l2id=0x123)
    assert w.events("bob", "call_joined")


def test_unverified_announcements_are_rate_limited_before_eccsi(kms):
    w = build_world(kms, ["alice", "bob"])
    w.offline.add("bob")
    setup_call(w)
    d = announcement(w)
    ann, mikey = ann_parts(d)
    bad = bytearray(mikey)
    reasons = []
    for i in range(8):  # distinct forgeries from one L2 source: burst 5, then RATE_LIMITED
        bad[-65] = mikey[-65] ^ (i + 1)  # inside PVT's x coordinate
        reasons.append(w.inject("bob", rebuild(d, ann, bytes(bad)), src_l2id=7)[-1].reason)
    assert reasons == [Reason.BAD_SIG] * 5 + [Reason.RATE_LIMITED] * 3


def _insider_message(kms, w: World, *, sp: mc.SP, gmk: bytes = GMK, call_id: int = 7,
                     start: int = int(NOW), signer: str = "carol") -> bytes:
    km = keys_for(kms, signer)
    t = mc.ntp_from_unix(w.now)
    rand = b"\x42" * 16
    spi = ck.call_spi(GMK_ID, guk_id(gmk, GMK_ID, km.uri), call_id, start)
    kd = mc.KeyData(key=b"K" * 16, spi=spi, key_type=mc.KEY_TYPE_TGK).encode()
    from prose_mesh.crypto.eccsi import eccsi_sign
    return mc.build_group_call_key_message(
        csb_id=GMK_ID, t_ntp=t, rand=rand, initiator_uri=km.uri.encode(), initiator_uid=km.uid,
        encr_key_data=ck.kemac_crypt(gmk, GMK_ID, rand, t, kd), sp=sp,
        sign=lambda m: eccsi_sign(m, identity=km.uid, ssk=km.ssk, pvt=km.pvt, kpak=km.kpak))


def _announce_raw(w: World, mikey: bytes, call_id: int = 7) -> UdpDatagram:
    g = w.ues["bob"].directory.get(GROUP)
    ann = monp.GroupCallAnnouncement(
        call_id=call_id, call_start_time=int(NOW), last_call_type_change_time=int(NOW),
        group_id=GROUP.encode(), sdp=ck.sdp_for(g.multicast, g.media_port, mikey),
        originating_user_id=uri("carol").encode(), last_user_to_change_call_type=b"")
    return UdpDatagram(b"\xfe\x80" + bytes(14), g.multicast, g.monp_port, g.monp_port, 255,
                       bytes(ann))


@pytest.mark.parametrize("params", [
    ((0, b"\x00"), (1, b"\x10"), (4, b"\x0c"), (20, b"\x10")),  # NULL cipher
    ((0, b"\x06"), (1, b"\x10"), (4, b"\x0c"), (20, b"\x08")),  # short AEAD tag
    ((0, b"\x01"), (1, b"\x10"), (2, b"\x01"), (3, b"\x14"), (4, b"\x0e"), (11, b"\x04")),  # _32
    ((0, b"\x06"), (1, b"\x10"), (4, b"\x0c"), (20, b"\x10"), (7, b"\x00")),  # SRTP encr off
])
def test_signed_but_weak_security_policy_is_refused(kms, params):
    w = build_world(kms, ["bob", "carol"])
    v = w.inject("bob", _announce_raw(w, _insider_message(kms, w, sp=mc.SP(params))))[-1]
    assert isinstance(v, Rejected) and v.reason is Reason.POLICY
    # control: the same insider message with the default SP installs
    w.inject("bob", _announce_raw(w, _insider_message(kms, w, sp=mc.SP())))
    assert w.events("bob", "call_joined")


def test_kemac_under_another_key_with_the_same_gmk_id_is_refused(kms):
    w = build_world(kms, ["bob", "carol"])
    mikey = _insider_message(kms, w, sp=mc.SP(), gmk=b"\x99" * 16)
    assert w.inject("bob", _announce_raw(w, mikey))[-1].reason is Reason.UNKNOWN_KEY
    assert w.ues["bob"].call(GROUP) is None


def test_other_profile_is_refused_by_local_policy(kms):
    from prose_mesh.crypto.srtp import SrtpProfile
    w = build_world(kms, ["bob", "carol"], profile=SrtpProfile.AES_CM_128_HMAC_SHA1_80)
    mikey = _insider_message(kms, w, sp=mc.SP())  # AES-GCM policy, valid
    assert w.inject("bob", _announce_raw(w, mikey))[-1].reason is Reason.POLICY


# ------------------------------------------------------------------------------ GMK lifetime
def test_expired_or_not_yet_active_gmk(kms):
    expired = Gmk(GMK_ID, GMK, GROUP, NOW - 3600, NOW - 1)
    future = Gmk(GMK_ID, GMK, GROUP, NOW + 60, NOW + 3600)
    # the sender's source lies (still valid) to get the message out
    w = build_world(kms, ["alice", "bob", "carol"],
                    gmks={"bob": FakeGmks(expired), "carol": FakeGmks(future)})
    setup_call(w)
    assert w.rejects("bob") == [Reason.GMK_EXPIRED]
    assert w.rejects("carol") == [Reason.GMK_NOT_ACTIVE]
    # a compliant sender refuses to call with an expired GMK
    (ev,) = w.run("bob", w.ues["bob"].start_call(GROUP, w.now))
    assert ev.name == "call_refused" and ev.data["reason"] == "UNKNOWN_KEY"  # none usable


def test_media_after_gmk_expiry_plus_grace_is_rejected(kms):
    short = Gmk(GMK_ID, GMK, GROUP, NOW - 3600, NOW + 30)
    w = build_world(kms, ["alice", "bob"], gmks={"bob": FakeGmks(short)}, grace=5.0)
    setup_call(w)
    w.run("alice", w.ues["alice"].send_media(GROUP, b"in time", NOW + 34))
    assert [m["payload"] for m in w.events("bob", "media")] == [b"in time"]  # inside grace
    w.clear()
    w.run("alice", w.ues["alice"].send_media(GROUP, b"late", NOW + 36), NOW + 36)
    assert not w.events("bob", "media")
    assert set(w.rejects("bob")) == {Reason.GMK_EXPIRED}


def test_revoking_rekey_stops_old_gmk_calls(kms):
    # D2: bob's store gets a revoking rekey; media of the call under the old GMK is then refused.
    store = StoreGmks(GmkStore(grace=0, switchover=2.0), GROUP)
    store.install(default_gmk(), NOW - 3600)
    w = build_world(kms, ["mallory", "bob"], gmks={"bob": store})
    setup_call(w, "mallory")
    w.run("mallory", w.ues["mallory"].send_media(GROUP, b"before", w.now))
    assert len(w.events("bob", "media")) == 1
    store.install(Gmk(0x0765_4321, b"N" * 16, GROUP, NOW + 1, NOW + 3600), NOW + 1,
                  revoking=True)
    w.clear()
    w.run("mallory", w.ues["mallory"].send_media(GROUP, b"after", NOW + 4), NOW + 4)
    assert not w.events("bob", "media") and set(w.rejects("bob")) == {Reason.GMK_SUPERSEDED}
    # bob, compliant, no longer sends under the old GMK either
    assert w.ues["bob"].send_media(GROUP, b"x", NOW + 4)[0].data["reason"] == "GMK_SUPERSEDED"


# ------------------------------------------------------------------------------ late entry
def test_late_joiner_probes_and_holds_the_key_after_one_answer(kms):
    w = build_world(kms, ["alice", "bob", "carol"])
    w.offline.add("carol")
    setup_call(w)
    w.offline.clear()
    w.now = NOW + 3.0
    w.clear()
    w.run("carol", w.ues["carol"].probe(GROUP, w.now))
    answers = [a for a in w.log["alice"] if isinstance(a, SendGroupIp)]
    assert len(answers) == 1  # alice (originator) answers at once; bob is not an announcer
    assert not [a for a in w.log["bob"] if isinstance(a, SendGroupIp)]
    ann = monp.parse_monp(parse_udp6(answers[0].packet).payload)
    assert monp.IEI_PROBE_RESPONSE in ann.t_ies
    (joined,) = w.events("carol", "call_joined")
    assert joined["announced_at"] == pytest.approx(w.now, abs=1e-6)
    assert w.ues["carol"].call(GROUP).call_key == w.ues["alice"].call(GROUP).call_key
    # bob already had the call: a refresh, not a second join
    assert not w.events("bob", "call_joined")
    assert [v.detail.get("refresh") for v in w.verdicts("bob")
            if isinstance(v, Accepted)].count(True) == 1
    # a probe flood is answered at most once per 0.1 s, and never dropped
    w.clear()
    for _ in range(5):
        w.run("carol", w.ues["carol"].probe(GROUP, w.now))
    assert not [a for a in w.log["alice"] if isinstance(a, SendGroupIp)]
    w.advance(w.now + 0.1)
    assert len([a for a in w.log["alice"] if isinstance(a, SendGroupIp)]) == 1


def test_periodic_reannouncement_lets_a_late_joiner_in(kms):
    w = build_world(kms, ["alice", "bob", "carol"])
    w.offline.add("carol")
    setup_call(w)
    w.offline.clear()
    w.advance(NOW + 10.05)
    assert not w.events("carol", "call_joined")
    w.advance(NOW + 10.2)  # TFG2 fired at NOW + 10.1
    (joined,) = w.events("carol", "call_joined")
    assert joined["announced_at"] == pytest.approx(NOW + 10.1, abs=1e-6)
    assert w.ues["carol"].call(GROUP).call_key == w.ues["alice"].call(GROUP).call_key
    # and the re-announcement is a fresh T: bob takes it as a refresh, not a replay
    assert w.verdicts("bob")[-1].detail.get("refresh") is True


def test_prober_joins_an_existing_call_instead_of_starting_one(kms):
    w = build_world(kms, ["alice", "bob"])
    setup_call(w)
    w.run("bob", w.ues["bob"].start_call(GROUP, w.now))  # bob already in the call: no-op
    w.advance(w.now + 1)
    assert w.ues["bob"].call(GROUP).call_key == w.ues["alice"].call(GROUP).call_key
    assert len(w.events("bob", "call_joined")) == 1


def test_two_simultaneous_calls_merge_onto_one(kms):
    w = build_world(kms, ["alice", "bob", "carol"])
    w.offline.update({"alice", "bob"})  # neither hears the other's probe
    w.run("alice", w.ues["alice"].start_call(GROUP, w.now))
    w.run("bob", w.ues["bob"].start_call(GROUP, w.now))
    w.advance(w.now + 0.2)
    w.offline.clear()
    keys = {w.ues[n].call(GROUP).call_key for n in ("alice", "bob")}
    assert len(keys) == 2
    w.advance(NOW + 10.2)  # both re-announce; the earlier (start, call ID) wins everywhere
    calls = [w.ues[n].call(GROUP) for n in ("alice", "bob", "carol")]
    assert len({(c.call_id, c.call_key) for c in calls}) == 1
    assert any(e["reason"] == "merged" for n in ("alice", "bob") for e in w.events(n, "call_ended"))


def test_release_after_silence_and_local_end(kms):
    w = build_world(kms, ["alice", "bob"])
    setup_call(w)
    w.run("alice", w.ues["alice"].end_call(GROUP, w.now))
    assert w.events("alice", "call_ended")[0]["reason"] == "local"
    w.advance(NOW + 30)
    assert w.ues["bob"].call(GROUP) is None
    assert w.events("bob", "call_ended")[0]["reason"] == "released"


def test_sdp_carries_exactly_one_key_mgmt_line(kms):
    w = build_world(kms, ["alice", "bob"])
    setup_call(w)
    ann, mikey = ann_parts(announcement(w))
    sdp = bytes(ann.sdp).decode()
    assert sdp.count("a=key-mgmt:mikey ") == 1
    assert base64.b64decode(sdp.split("a=key-mgmt:mikey ")[1].split("\r\n")[0]) == mikey
    msg = mc.parse_psk_message(mikey)
    assert msg.hdr.csb_id == GMK_ID and msg.idr(mc.ROLE_IDRI) == uri("alice").encode()
    for bad in (b"\xff" * 10, sdp.replace("a=key", "a=kex").encode(),
                (sdp + "a=key-mgmt:mikey AAAA\r\n").encode(),
                sdp.replace("a=key-mgmt:mikey ", "a=key-mgmt:mikey !").encode()):
        with pytest.raises(ck.CallKeyError) as err:
            ck.mikey_from_sdp(bad)
        assert err.value.reason == Reason.MALFORMED


# ------------------------------------------------------------------------------ call re-key
NEW_GMK = Gmk(0x0765_4321, b"N" * 16, GROUP, NOW + 1, NOW + 3600)


def _stores(*names: str, switchover: float = 2.0) -> dict[str, StoreGmks]:
    out = {n: StoreGmks(GmkStore(grace=0, switchover=switchover), GROUP) for n in names}
    for s in out.values():
        s.install(default_gmk(), NOW - 3600)
    return out


def _media_packets(w: World, sender: str) -> list[bytes]:
    port = w.ues[sender].directory.get(GROUP).media_port
    return [p for s, p in w.air if s == sender and parse_udp6(p).dport == port]


def test_ordinary_rekey_mid_call_lets_an_added_member_join(kms):
    from prose_mesh.protocol.group_call import REKEY_LEAD_S, REKEY_OVERLAP_S
    srcs = _stores("alice", "bob")
    dave = StoreGmks(GmkStore(), GROUP)  # added ad hoc: holds only the new GMK
    w = build_world(kms, ["alice", "bob", "dave"], gmks={**srcs, "dave": dave})
    setup_call(w)
    call_id = w.ues["alice"].call(GROUP).call_id
    assert not w.events("dave", "call_joined") and w.events("bob", "call_joined")
    # two old-key packets bob misses now: one arrives inside the overlap, one after it
    w.offline.add("bob")
    for p in (b"in flight 1", b"in flight 2"):
        w.run("alice", w.ues["alice"].send_media(GROUP, p, w.now))
    late1, late2 = _media_packets(w, "alice")[-2:]
    w.offline.clear()
    w.now = NOW + 1
    for s in (*srcs.values(), dave):
        s.install(NEW_GMK, w.now)  # ordinary (non-revoking) rekey
    w.clear()
    w.run("alice", w.ues["alice"].on_gmk_change(GROUP, w.now))
    # make-before-break: the call moves to the new GMK REKEY_LEAD_S after its activation
    assert not w.events("alice", "call_rekeyed")
    w.advance(NEW_GMK.activation + REKEY_LEAD_S - 0.01)
    assert not w.events("alice", "call_rekeyed")
    w.advance(NEW_GMK.activation + REKEY_LEAD_S)
    rekeyed_at = w.now
    (rk,) = w.events("alice", "call_rekeyed")
    assert (rk["gmk_id"], rk["old_gmk_id"]) == (NEW_GMK.gmk_id, GMK_ID)
    assert rk["t"] == rekeyed_at
    (joined,) = w.events("dave", "call_joined")
    assert joined["call_id"] == call_id and joined["caller"] == uri("alice")
    (rk_bob,) = w.events("bob", "call_rekeyed")
    assert rk_bob["call_id"] == call_id and not w.events("bob", "call_ended")
    for n in ("bob", "dave"):
        c = w.ues[n].call(GROUP)
        assert c.gmk_id == NEW_GMK.gmk_id and c.call_key == w.ues["alice"].call(GROUP).call_key
    # in flight under the old call key: still heard inside the overlap, refused after it
    w.deliver("alice", late1, to={"bob"})
    assert [m["payload"] for m in w.events("bob", "media")] == [b"in flight 1"]
    w.now = rekeyed_at + REKEY_OVERLAP_S + 0.1
    w.deliver("alice", late2, to={"bob"})
    assert w.verdicts("bob", "media")[-1].reason is Reason.UNKNOWN_KEY
    w.clear()
    w.run("alice", w.ues["alice"].send_media(GROUP, b"after", w.now))
    w.run("bob", w.ues["bob"].send_media(GROUP, b"reply", w.now))
    assert [m["payload"] for m in w.events("dave", "media")] == [b"after", b"reply"]
    assert [m["payload"] for m in w.events("bob", "media")] == [b"after"]
    assert [m["payload"] for m in w.events("alice", "media")] == [b"reply"]
    assert all(m["mki"].startswith(f"{NEW_GMK.gmk_id:08x}") for m in w.events("dave", "media"))
    assert all(e.name != "call_refused" for n in w.ues for e in w.log[n] if isinstance(e, Event))


def test_ordinary_rekey_is_make_before_break(kms):
    """Media sent during REKEY_LEAD_S after the new GMK's activation stays under the old GMK
    (members still verifying the new GMK's I_MESSAGE can open it); then the call moves."""
    from prose_mesh.protocol.group_call import REKEY_LEAD_S
    srcs = _stores("alice", "bob")
    w = build_world(kms, ["alice", "bob"], gmks=srcs)
    setup_call(w)
    w.now = NEW_GMK.activation
    for s in srcs.values():
        s.install(NEW_GMK, w.now)
    w.clear()
    w.run("alice", w.ues["alice"].on_gmk_change(GROUP, w.now))
    w.run("alice", w.ues["alice"].send_media(GROUP, b"lead", w.now + REKEY_LEAD_S / 2))
    w.advance(NEW_GMK.activation + REKEY_LEAD_S)
    w.run("alice", w.ues["alice"].send_media(GROUP, b"moved", w.now))
    got = [(m["payload"], int(m["mki"][:8], 16)) for m in w.events("bob", "media")]
    assert got == [(b"lead", GMK_ID), (b"moved", NEW_GMK.gmk_id)]
    assert len(w.events("bob", "call_rekeyed")) == 1


def test_revoking_rekey_mid_call_keeps_members_and_cuts_the_removed_one(kms):
    srcs = _stores("alice", "bob")
    w = build_world(kms, ["alice", "bob", "mallory"], gmks=srcs)  # mallory: old GMK only
    setup_call(w)
    call_id = w.ues["alice"].call(GROUP).call_id
    w.run("alice", w.ues["alice"].send_media(GROUP, b"before", w.now))
    assert [m["payload"] for m in w.events("mallory", "media")] == [b"before"]
    # mallory is removed: the remaining members' directory drops her, a revoking GMK follows
    remaining = GroupConfig(GROUP, "standard", uri("gms"), frozenset({uri("alice"), uri("bob")}))
    for n in ("alice", "bob"):
        w.ues[n].directory = GroupDirectory([remaining])
    w.now = NOW + 1
    for s in srcs.values():
        s.install(NEW_GMK, w.now, revoking=True)
    w.clear()
    w.run("alice", w.ues["alice"].on_gmk_change(GROUP, w.now))
    assert w.events("bob", "call_rekeyed")[0]["call_id"] == call_id
    assert w.ues["bob"].call(GROUP).gmk_id == NEW_GMK.gmk_id
    assert w.rejects("mallory") == [Reason.UNKNOWN_KEY]  # she cannot open the re-key
    # media after the re-key: inside the switchover and after it
    for t, who, payload in ((NOW + 1.5, "alice", b"a1"), (NOW + 1.6, "bob", b"b1"),
                            (NOW + 4, "alice", b"a2"), (NOW + 4.1, "bob", b"b2")):
        w.now = t
        w.run(who, w.ues[who].send_media(GROUP, payload, t), t)
    assert [m["payload"] for m in w.events("bob", "media")] == [b"a1", b"a2"]
    assert [m["payload"] for m in w.events("alice", "media")] == [b"b1", b"b2"]
    assert not w.events("mallory", "media") and not w.events("mallory", "floor_taken")
    # mallory still transmitting under the old GMK: refused inside the switchover (not a
    # member any more) and after it (revoked GMK, D2)
    w.clear()
    for t in (NOW + 1.7, NOW + 4.2):
        w.now = t
        w.run("mallory", w.ues["mallory"].send_media(GROUP, b"evil", t), t)
    assert not w.events("alice", "media") and not w.events("bob", "media")
    assert w.rejects("bob") == [Reason.UNKNOWN_KEY] * 2 + [Reason.GMK_SUPERSEDED] * 2
    # the call goes on: refreshes under the new GMK, no call_refused loop, nobody released
    w.clear()
    w.advance(NOW + 45)
    refused = [e for n in w.ues for e in w.log[n]
               if isinstance(e, Event) and e.name == "call_refused"]
    assert len(refused) == 0
    # mallory, now a talker, re-announces her old call: refused (she is no member any more)
    assert set(w.rejects("bob")) == {Reason.UNAUTHORISED_SIGNER}
    refreshes = [v for v in w.verdicts("bob", "call_key")
                 if isinstance(v, Accepted) and v.detail.get("refresh")]
    assert len(refreshes) >= 4
    for n in ("alice", "bob"):
        assert w.ues[n].call(GROUP).gmk_id == NEW_GMK.gmk_id and not w.events(n, "call_ended")
    w.run("alice", w.ues["alice"].send_media(GROUP, b"late", w.now))
    assert [m["payload"] for m in w.events("bob", "media")] == [b"late"]
    assert not w.events("mallory", "media")
