"""Off-network group calls: signed call-key announcement, SRTP media, late entry (sans-I/O).

One :class:`GroupCalls` per UE handles the calls of all its groups (TS 24.379 §10.2 MONP call
control, TS 33.180 §7.4 media security, TS 24.380 off-network floor control, minimal).

**Call setup.** ``start_call`` sends GROUP CALL PROBE and starts TFG1 [EMU 0.1 s]. If an
ANNOUNCEMENT for the group arrives meanwhile, the UE joins that call; otherwise it draws a call
ID, a 16-octet call session key and a 16-octet RAND, and sends GROUP CALL ANNOUNCEMENT to the
group multicast address on the group's MONP port. Its SDP carries the signed call key message
of :mod:`prose_mesh.protocol.call_key` (``a=key-mgmt:mikey``, RFC 4567).

**Receive order** (cheap → expensive, ADVERSARIAL.md §3): UDP to the group's multicast
address and port, group known and I am a member (NOT_FOR_ME) → MONP/SDP/MIKEY parse
(MALFORMED) → local policy on SP, PRF and KEMAC algorithms (POLICY) → T window and replay cache
(TS_OUT_OF_WINDOW, REPLAY, CACHE_FULL; key = signer UID, group ID, GMK-ID, RAND, T) → signer is
a member of the group (UNAUTHORISED_SIGNER) → GMK found by GMK-ID for this group and usable now
(UNKNOWN_KEY, GMK_NOT_ACTIVE, GMK_EXPIRED, GMK_SUPERSEDED) → IDR(8) equals the UID of the IDRi
URI in T's key period (UNAUTHORISED_SIGNER) → known-bad cache (message digest) → per-source
and global token bucket → ECCSI verify (BAD_SIG) → KEMAC decrypt and SPI binding (UNKNOWN_KEY,
MALFORMED) → replay cache insert → install, refresh or merge the call.

**Late entry.** The originator and the current talker re-announce every refresh interval
(TFG2, 10 s) with a fresh T, re-signed, same call key and RAND. A late joiner calls ``probe``:
an announcer answers the PROBE at once with an ANNOUNCEMENT carrying the Probe response IE,
at most one per 0.1 s per group [EMU] (a PROBE is unauthenticated, so answers are rate-bound;
a PROBE that comes too soon is answered when the 0.1 s gap ends, never dropped).

**Media.** SRTP (AEAD_AES_128_GCM, or AES_CM_128_HMAC_SHA1_80) to the multicast address on
the group's media port. A sender's master key/salt come from the call key with CS-ID 4 and
CSB ID = its own GUK-ID, MKI = GMK-ID ‖ GUK-ID (:func:`call_key.sender_master`). A receiver
maps the MKI's GUK-ID to the member it belongs to (a table of the group's members computed when
the call is installed), derives that sender's key on its first packet (at most one key per
member), and lets :class:`SrtpReceiver` do the replay window per (MKI, SSRC). Per packet the
GMK is re-checked, so media under a GMK past expiry + grace or revoked (D1, D2) is rejected.
Own MKI (looped back or replayed) → NOT_FOR_ME. See :mod:`prose_mesh.protocol.media` for the
payload header and the SSRC rule that keeps (MKI, SSRC, index) unique (H1).

**Floor control** (minimal): the first packet of a talk burst (after a 1 s gap) is preceded by
Floor Taken (RTCP APP "MCPT", subtype 2, Granted Party's Identity + Message Sequence Number) as
SRTCP under the same key, to media port + 1. Receivers verify it and emit ``floor_taken``.
No arbitration (Request/Grant/Deny/queue) is implemented.

**Re-key on a GMK change.** When the call's GMK is no longer the one to send under (a newer
GMK is current, or a revoking rekey made it ``GMK_SUPERSEDED``), the originator / current talker
re-keys the call: new call key and RAND under the newest GMK, same call ID, announced at once.
While the old GMK may still be sent under, the re-key waits until the new one has been active
for REKEY_LEAD_S (make-before-break: the members get the GMK meanwhile). Checked in
``on_gmk_change``, which the node calls after a GMK install, on send, on the refresh and
re-key timers and on a PROBE. A member that is not announcing does not re-key; under a revoked
GMK it refuses to send until the re-key arrives. A receiver takes an announcement for the same
call (ID, start time) under a newer GMK as a re-key (event ``call_rekeyed``): it installs the
new keying and keeps the old one for receiving only for REKEY_OVERLAP_S [EMU], and not at all
when the old GMK is no longer receivable (D2: after a revoking rekey's switchover old-MKI media
is refused at once). An announcement for that call under an older GMK is then GMK_SUPERSEDED.
Two announcers re-keying at once under one GMK converge on the smaller RAND [EMU].

**Release / merge** (minimal): a receiver ends a call it has heard nothing of (announcement or
media) for 2.5 refresh intervals [EMU]; ``end_call`` ends it locally (no release message).
Two calls for one group merge onto the one with the earlier (start time, call ID).

Events: ``call_joined`` {group, call_id, caller (authenticated signer), originator (MONP,
unauthenticated), announced_at (key message T, Unix s), gmk_id, t}; ``media`` {group, call_id,
sender, ssrc, seq, index, mki, payload, sent_at, t (my clock when I accepted it)};
``floor_taken`` {group, call_id, talker, ssrc};
``call_ended`` {group, call_id, reason, t}; ``call_rekeyed`` {group, call_id, gmk_id,
old_gmk_id, caller, t}; ``call_refused`` {group, what, reason} for a local
request refused (no usable GMK, not a member, no call); ``srtp_tx`` {mki (hex), ssrc, index,
rtcp} for every SRTP/SRTCP packet this UE protected (the H1 key-stream audit). Verdict kinds:
``call_key`` (MONP PROBE/ANNOUNCEMENT/ACCEPT), ``media`` (SRTP), ``floor`` (SRTCP).
"""

from __future__ import annotations

import hashlib
import random
import secrets
import struct
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Protocol

from prose_mesh.constants import MIKEY_SKEW_S, SRTP_REPLAY_WINDOW
from prose_mesh.crypto.identity import NTP_UNIX_OFFSET, key_period_number, mikey_sakke_uid
from prose_mesh.crypto.kdf import guk_id
from prose_mesh.crypto.kms import KeyMaterial
from prose_mesh.crypto.srtp import (
    SrtpError,
    SrtpHistory,
    SrtpProfile,
    SrtpReceiver,
    SrtpSender,
    Unprotected,
    group_mki,
)
from prose_mesh.errors import ParseError, ProseMeshError
from prose_mesh.protocol import call_key as ck
from prose_mesh.protocol.actions import (
    Accepted,
    Action,
    CancelTimer,
    Event,
    Noted,
    Rejected,
    SendGroupIp,
    SetTimer,
)
from prose_mesh.protocol.groups import GroupConfig, GroupDirectory
from prose_mesh.protocol.media import SEQ_SPACE, MediaError, SenderState, fresh_ssrc, rtp_body
from prose_mesh.protocol.media import rtp_packet as build_rtp
from prose_mesh.protocol.ratelimit import SourceLimiter
from prose_mesh.protocol.reasons import Reason
from prose_mesh.protocol.replay import (
    KnownBadCache,
    KnownBadKey,
    MikeyReplayCache,
    MikeyReplayKey,
    ntp_to_seconds,
)
from prose_mesh.wire import monp
from prose_mesh.wire.ipudp import UdpDatagram, build_udp6, link_local
from prose_mesh.wire.mikey_codec import ntp_from_unix

REFRESH_INTERVAL_S = 10.0  # TFG2: 24.379 refresh interval, fixed at 10 s in Rel-13.7 [V §7.1]
TFG1_S = 0.1  # [EMU] wait for an ANNOUNCEMENT after PROBE before originating
RELEASE_AFTER_S = 2.5 * REFRESH_INTERVAL_S  # [EMU] nothing heard → call released
PROBE_ANSWER_GAP_S = 0.1  # [EMU] at most one probe response per group per gap
TALK_BURST_GAP_S = 1.0  # [EMU] a send after this silence starts a talk burst (Floor Taken)
TALKER_HANG_S = REFRESH_INTERVAL_S  # [EMU] a talker stops re-announcing after this silence
REKEY_OVERLAP_S = 2.0  # [EMU] after a call re-key, media under the old call key is still heard
#: [EMU] make-before-break: the talker moves a call to a newer GMK this long after that GMK's
#: activation while the old GMK may still be sent under, so the members, who receive the same
#: GMK distribution at about the same time and spend tens of ms (more on a loaded host) on its
#: ECCSI verification and SAKKE decapsulation, hold the GMK before its re-key announcement
#: arrives (J1: announced at once, it found members still verifying their I_MESSAGEs).
REKEY_LEAD_S = 0.5
MAX_MONP = 4096  # [EMU] bound on a MONP message
FLOOR_TAKEN = (2, 18)  # 24.380 subtypes Floor Taken and Floor Taken (ack required)
FIELD_GRANTED_PARTY, FIELD_SEQ = 4, 8
_TIMER = "group_call"


class GmkRecordLike(Protocol):
    """What GroupCalls reads of a GMK record (GmkMember's record has these and .group_id)."""

    gmk_id: int
    key: bytes
    activation: float
    expiry: float


class GmkSource(Protocol):
    """The UE's GMKs. Optionally also ``receive_verdict(gmk_id, now) -> Reason | None`` and
    ``send_verdict(gmk_id, now) -> Reason | None`` (as :class:`GmkStore`), which then decide
    revocation/supersession (D2); without them only [activation, expiry (+ grace)] applies."""

    def current(self, group_id: str, now: float) -> GmkRecordLike | None: ...

    def by_gmk_id(self, gmk_id: int) -> tuple[str, GmkRecordLike] | None: ...


@dataclass(eq=False, slots=True)
class _Overlap:
    """The keying a call had before a re-key, kept only to receive media for a short while."""

    gmk_id: int
    call_key: bytes = field(repr=False)
    rand: bytes
    receiver: SrtpReceiver
    my_guk: int
    guk_to_uri: dict[int, str]
    keyed: set[bytes]
    until: float


@dataclass(eq=False, slots=True)
class _Call:
    group: GroupConfig
    call_id: int
    start_time: int
    caller: str  # signer of the key message we installed (or me)
    originator: str  # MONP originating user ID (unauthenticated, informational)
    gmk_id: int
    gmk: bytes = field(repr=False)
    call_key: bytes = field(repr=False)
    rand: bytes
    receiver: SrtpReceiver
    my_guk: int
    announcer: bool
    originated: bool
    last_heard: float
    guk_to_uri: dict[int, str] = field(default_factory=dict)
    members: frozenset[str] = frozenset()
    keyed: set[bytes] = field(default_factory=set)
    sender: SrtpSender | None = None
    last_sent: float | None = None
    last_announce: float = float("-inf")
    answer_pending: bool = False
    floor_seq: int = 0
    overlap: _Overlap | None = None
    floor_due: bool = False  # a re-key happened: the next packet repeats Floor Taken


class GroupCalls:
    """The group-call machine of one UE (see the module docstring)."""

    seq_space = SEQ_SPACE  # tests lower it to reach an SSRC rotation quickly

    def __init__(
        self,
        *,
        keys: KeyMaterial,
        l2id: int,
        directory: GroupDirectory,
        gmks: GmkSource,
        rng: random.Random | None = None,
        profile: SrtpProfile = SrtpProfile.AEAD_AES_128_GCM,
        skew: float = MIKEY_SKEW_S,
        grace: float = 0.0,
        window: int = SRTP_REPLAY_WINDOW,
        ssrc: int | None = None,
        first_seq: int | None = None,
    ) -> None:
        self.keys = keys
        self.l2id = l2id
        self.directory = directory
        self.gmks = gmks
        self.profile = profile
        self.grace = grace
        self.window = window
        # [EMU] test hooks (scenario ``ssrc`` / ``first_seq``, ADVERSARIAL.md H1's forced SSRC
        # collision): every new sender state (one per MKI) starts on this SSRC / SEQ instead of
        # random ones. Safe to collide across UEs: each talker's MKI names its own master key.
        self.fixed_ssrc = ssrc
        self.first_seq = first_seq
        self._rng: random.Random = rng or secrets.SystemRandom()
        self.replay = MikeyReplayCache(skew=skew)
        # SRTP/SRTCP replay state per (keys, SSRC) across call contexts (re-join, late entry)
        self.srtp_history = SrtpHistory()
        self.known_bad = KnownBadCache(skew=skew)
        self.limiter = SourceLimiter()
        self._addr = link_local(l2id)
        self._calls: dict[str, _Call] = {}
        self._probing: set[str] = set()
        self._senders: OrderedDict[bytes, SenderState] = OrderedDict()
        self._uids: dict[tuple[str, int], bytes] = {}

    # ------------------------------------------------------------------ public: intents
    def call(self, group_id: str) -> _Call | None:
        """The call this UE is in for ``group_id`` (read-only use, for the node and tests)."""
        return self._calls.get(group_id)

    def start_call(self, group_id: str, now: float) -> list[Action]:
        """PROBE, then (TFG1 later, if nobody announced) originate the call."""
        group = self._my_group(group_id)
        if group is None:
            return [_refused(group_id, "start", Reason.NOT_FOR_ME)]
        if group_id in self._calls or group_id in self._probing:
            return []
        rec = self.gmks.current(group_id, now)
        reason = Reason.UNKNOWN_KEY if rec is None else self._send_verdict(rec, now)
        if reason is not None:
            return [_refused(group_id, "start", reason)]
        self._probing.add(group_id)
        return [self._probe_packet(group), SetTimer((_TIMER, "tfg1", group_id), now + TFG1_S)]

    def probe(self, group_id: str, now: float) -> list[Action]:
        """A late joiner asks: an announcer answers with a probe-response ANNOUNCEMENT."""
        group = self._my_group(group_id)
        if group is None:
            return [_refused(group_id, "probe", Reason.NOT_FOR_ME)]
        return [self._probe_packet(group)]

    def send_media(self, group_id: str, payload: bytes, now: float) -> list[Action]:
        """Protect and send one media packet (Floor Taken first on a new talk burst)."""
        c = self._calls.get(group_id)
        if c is None:
            return [_refused(group_id, "media", Reason.UNKNOWN_KEY)]
        reason = self._send_verdict_id(c.gmk_id, now)
        out: list[Action] = []
        if c.announcer or reason is None:  # I am, or by sending become, the current talker
            out = self._rekey_if_due(c, now)
            if out:
                reason = self._send_verdict_id(c.gmk_id, now)
        if reason is not None:  # not the talker: wait for the talker's re-key (D2)
            return [*out, _refused(group_id, "media", reason)]
        burst = c.last_sent is None or now - c.last_sent > TALK_BURST_GAP_S or c.floor_due
        mki = group_mki(c.gmk_id, c.my_guk)
        state = self._sender_state(mki)
        index = state.next_index(self._rng, self.seq_space)
        if c.sender is None or c.sender.ssrc != state.ssrc:
            key, salt = ck.sender_master(c.call_key, c.rand, c.my_guk, self.profile)
            c.sender = SrtpSender(
                self.profile, key, salt, ssrc=state.ssrc, mki=mki,
                last_index=state.last_index, srtcp_next_index=state.srtcp_next_index,
            )  # fmt: skip
        try:
            if burst:
                out.append(self._floor_taken(c, state, now))
                out.append(_srtp_tx(mki, state.ssrc, c.sender.srtcp_next_index - 1, rtcp=True))
            rtp = build_rtp(seq=index, ssrc=state.ssrc, now=now, marker=burst, payload=payload)
            srtp = c.sender.protect_rtp(rtp)
        except SrtpError as err:
            return [*out, _refused(group_id, "media", _as_reason(err.reason))]
        state.last_index = c.sender.last_index
        c.last_sent = now
        c.floor_due = False
        g = c.group
        out.append(SendGroupIp(g.l2_group_id, build_udp6(
            self._addr, g.multicast, g.media_port, g.media_port, srtp)))
        out.append(_srtp_tx(mki, state.ssrc, state.last_index, rtcp=False))
        if not c.announcer:  # the current talker re-announces (24.379 periodic announcement)
            c.announcer = True
            out.append(SetTimer((_TIMER, "announce", group_id), now + REFRESH_INTERVAL_S))
        return out

    def on_gmk_change(self, group_id: str, now: float) -> list[Action]:
        """A GMK of ``group_id`` was installed: the call's announcer re-keys the call
        REKEY_LEAD_S after its activation (at once when the old GMK may no longer be sent
        under, e.g. after a revoking rekey's switchover).

        The node calls this after every GMK install (it is also checked lazily on send, on the
        refresh timer and on a PROBE). Only the originator / current talker re-keys: a new call
        key and RAND under the newest GMK, same call ID, announced now.
        """
        c = self._calls.get(group_id)
        if c is None or not c.announcer:
            return []
        out = self._rekey_if_due(c, now)
        rec = self.gmks.current(group_id, now)
        if not out and rec is not None and rec.gmk_id != c.gmk_id:
            out = [SetTimer((_TIMER, "rekey", group_id), rec.activation + REKEY_LEAD_S)]
        return out

    def end_call(self, group_id: str, now: float) -> list[Action]:
        """Leave the call locally (sender state per MKI is kept: H1)."""
        self._probing.discard(group_id)
        c = self._calls.pop(group_id, None)
        out: list[Action] = [CancelTimer((_TIMER, k, group_id)) for k in
                             ("tfg1", "announce", "release", "answer", "rekey")]
        if c is not None:
            out.append(_ended(c, "local", now))
        return out

    # ------------------------------------------------------------------ public: inputs
    def on_timer(self, key: Hashable, now: float) -> list[Action]:
        if not (isinstance(key, tuple) and len(key) == 3 and key[0] == _TIMER):
            return []
        _, kind, group_id = key
        c = self._calls.get(group_id)
        if kind == "tfg1":
            if group_id in self._probing:
                self._probing.discard(group_id)
                if c is None:
                    return self._originate(group_id, now)
            return []
        if c is None:
            return []
        if kind == "announce":
            if not c.originated and (c.last_sent is None or now - c.last_sent > TALKER_HANG_S):
                c.announcer = False
                return []
            out = (self._rekey_if_due(c, now) or self._announce(c, now)) if c.announcer else []
            return [*out, SetTimer(key, c.last_announce + REFRESH_INTERVAL_S)]
        if kind == "rekey":
            return self._rekey_if_due(c, now) if c.announcer else []
        if kind == "answer":
            c.answer_pending = False
            return self._announce(c, now, probe_response=True) if c.announcer else []
        if kind == "release" and not c.originated:
            if now - c.last_heard >= RELEASE_AFTER_S:
                del self._calls[group_id]
                return [_ended(c, "released", now)]
            return [SetTimer(key, c.last_heard + RELEASE_AFTER_S)]
        return []

    def on_udp(self, dgram: UdpDatagram, *, src_l2id: int, now: float) -> list[Action]:
        """One IPv6/UDP datagram received on a group bearer → exactly one verdict (+ effects)."""
        group = self.directory.by_multicast(dgram.dst)
        peer = f"l2:{src_l2id:06x}"
        if group is None:
            return [Rejected(self._kind_for_port(dgram.dport), Reason.NOT_FOR_ME, peer,
                             "not a group multicast address I know")]
        port = dgram.dport
        kind = ("call_key" if port == group.monp_port else "media" if port == group.media_port
                else "floor" if port == group.media_port + 1 else None)
        if kind is None:
            return [Rejected("media", Reason.NOT_FOR_ME, peer, f"UDP port {port}")]
        if self.keys.uri not in group.members:
            return [Rejected(kind, Reason.NOT_FOR_ME, peer, "not a member of the group")]
        try:
            if kind == "call_key":
                return self._on_monp(group, dgram.payload, src_l2id, now)
            return self._on_srtp(group, dgram.payload, now, rtcp=kind == "floor")
        except ProseMeshError as err:  # every helper reports through its error's reason
            return [Rejected(kind, _as_reason(err.reason), peer, err.detail)]

    # ------------------------------------------------------------------ MONP
    def _on_monp(self, group: GroupConfig, data: bytes, src_l2id: int, now: float) -> (
        list[Action]
    ):
        if len(data) > MAX_MONP:
            raise ck.CallKeyError(Reason.MALFORMED, f"MONP message of {len(data)} octets")
        try:
            msg = monp.parse_monp(data)
            group_field = bytes(msg.group_id).decode("utf-8")
        except (ParseError, UnicodeDecodeError) as err:
            raise ck.CallKeyError(Reason.MALFORMED, f"MONP: {err}") from None
        if group_field != group.group_id:
            raise ck.CallKeyError(Reason.NOT_FOR_ME, "MONP group ID is not the address's group")
        if isinstance(msg, monp.GroupCallAnnouncement):
            return self._on_announcement(group, msg, src_l2id, now)
        if isinstance(msg, monp.GroupCallProbe):
            return self._on_probe(group, now)
        return [Noted("call_key", "unsigned_accept")]

    def _on_probe(self, group: GroupConfig, now: float) -> list[Action]:
        out: list[Action] = [Noted("call_key", "unsigned_probe")]
        c = self._calls.get(group.group_id)
        if c is None or not c.announcer:
            return out
        out += self._rekey_if_due(c, now)  # a new member may be probing for the re-keyed call
        if c.answer_pending:
            return out
        if now - c.last_announce >= PROBE_ANSWER_GAP_S:
            return out + self._announce(c, now, probe_response=True)
        c.answer_pending = True
        at = c.last_announce + PROBE_ANSWER_GAP_S
        return [*out, SetTimer((_TIMER, "answer", group.group_id), at)]

    def _on_announcement(
        self, group: GroupConfig, ann: monp.GroupCallAnnouncement, src_l2id: int, now: float
    ) -> list[Action]:
        gid = group.group_id
        m = ck.parse_key_message(ck.mikey_from_sdp(bytes(ann.sdp)))
        if m.signer_uri == self.keys.uri:
            raise ck.CallKeyError(Reason.NOT_FOR_ME, "my own announcement")
        if m.profile is not self.profile:
            raise ck.CallKeyError(Reason.POLICY, f"SRTP profile {m.profile.name}")
        now_ntp = now + NTP_UNIX_OFFSET
        rkey = MikeyReplayKey(m.signer_uid, gid.encode(), m.gmk_id, m.rand, m.t_ntp)
        _raise(self.replay.verdict(rkey, now_ntp), "T window / replay cache")
        if m.signer_uri not in group.members:
            raise ck.CallKeyError(Reason.UNAUTHORISED_SIGNER, f"{m.signer_uri} not a member")
        found = self.gmks.by_gmk_id(m.gmk_id)
        if found is None or found[0] != gid:
            raise ck.CallKeyError(Reason.UNKNOWN_KEY, f"no GMK {m.gmk_id:#010x} for {gid}")
        rec = found[1]
        _raise(self._recv_verdict(rec, now), f"GMK {m.gmk_id:#010x}")
        c = self._calls.get(gid)
        if (c is not None and m.gmk_id != c.gmk_id and not self._is_newer(rec, c)
                and (c.call_id, c.start_time) == (int(ann.call_id), int(ann.call_start_time))):
            raise ck.CallKeyError(Reason.GMK_SUPERSEDED, "call already re-keyed under a newer GMK")
        t_unix = ntp_to_seconds(m.t_ntp) - NTP_UNIX_OFFSET
        expected_uid = self._uid(m.signer_uri, t_unix)
        # Keyed on a digest of the whole message, not (IDRi, RAND, T): a forged copy of a
        # genuine announcement must not get the genuine one dropped (KnownBadCache caveat).
        bad = KnownBadKey(m.signer_uid, hashlib.sha256(m.msg.signed_part + m.msg.signature)
                          .digest(), m.t_ntp)
        _raise(self.known_bad.verdict(bad, now_ntp), "known forgery")
        _raise(self.limiter.verdict(src_l2id, now), "unverified announcements")
        try:
            ck.verify_signature(m, expected_uid=expected_uid, kpak=self.keys.kpak)
        except ck.CallKeyError:
            self.known_bad.add(bad, now_ntp)
            raise
        call_key = ck.open_kemac(
            m, rec.key, call_id=int(ann.call_id), start_time=int(ann.call_start_time)
        )
        self.replay.insert(rkey, now_ntp)  # raises (no install) if it cannot be remembered
        return self._install(group, ann, m, rec, call_key, t_unix, now)

    def _install(
        self, group: GroupConfig, ann: monp.GroupCallAnnouncement, m: ck.KeyMessage,
        rec: GmkRecordLike, call_key: bytes, t_unix: float, now: float,
    ) -> list[Action]:
        gid = group.group_id
        call_id, start = int(ann.call_id), int(ann.call_start_time)
        detail = {"group": gid, "call_id": call_id, "caller": m.signer_uri}
        c = self._calls.get(gid)
        out: list[Action] = []
        if c is not None and (c.call_key, c.rand, c.call_id) == (call_key, m.rand, call_id):
            c.last_heard = now
            return [Accepted("call_key", m.signer_uri, {**detail, "refresh": True})]
        if c is not None and (c.call_id, c.start_time) == (call_id, start):
            # The same call re-keyed: under a newer GMK (checked before the crypto), or two
            # announcers re-keyed at once under one GMK, where the smaller RAND wins everywhere.
            if m.gmk_id != c.gmk_id or m.rand < c.rand:
                c.last_heard = now
                ev = self._switch_keying(c, rec, call_key, m.rand, m.signer_uri, now)
                return [Accepted("call_key", m.signer_uri, {**detail, "rekey": True}), ev]
            out = self._announce(c, now) if c.announcer else []
            return [Accepted("call_key", m.signer_uri, {**detail, "rekey": "kept"}), *out]
        if c is not None:
            if (c.start_time, c.call_id) <= (start, call_id):  # ours wins the merge
                out = self._announce(c, now) if c.announcer else []
                return [Accepted("call_key", m.signer_uri, {**detail, "merged": "kept"}), *out]
            del self._calls[gid]
            out.append(_ended(c, "merged", now))
        if gid in self._probing:
            self._probing.discard(gid)
            out.append(CancelTimer((_TIMER, "tfg1", gid)))
        originator = bytes(ann.originating_user_id).decode("utf-8", "replace")
        self._new_call(group, call_id, start, m.signer_uri, originator, rec, call_key, m.rand,
                       originated=False, now=now)
        return [
            Accepted("call_key", m.signer_uri, detail), *out,
            Event("call_joined", {**detail, "originator": originator, "announced_at": t_unix,
                                  "gmk_id": rec.gmk_id, "t": now}),
            SetTimer((_TIMER, "release", gid), now + RELEASE_AFTER_S),
        ]

    def _new_call(
        self, group: GroupConfig, call_id: int, start: int, caller: str, originator: str,
        rec: GmkRecordLike, call_key: bytes, rand: bytes, *, originated: bool, now: float,
    ) -> _Call:
        c = _Call(
            group=group, call_id=call_id, start_time=start, caller=caller, originator=originator,
            gmk_id=rec.gmk_id, gmk=rec.key, call_key=call_key, rand=rand,
            receiver=SrtpReceiver(self.profile, mki_len=8, window=self.window,
                                  history=self.srtp_history),
            my_guk=guk_id(rec.key, rec.gmk_id, self.keys.uri), announcer=originated,
            originated=originated, last_heard=now,
        )  # fmt: skip
        self._calls[group.group_id] = c
        return c

    def _originate(self, group_id: str, now: float) -> list[Action]:
        group = self._my_group(group_id)
        rec = self.gmks.current(group_id, now)
        if group is None or rec is None:
            return [_refused(group_id, "start", Reason.NOT_FOR_ME if group is None
                             else Reason.UNKNOWN_KEY)]
        reason = self._send_verdict(rec, now)
        if reason is not None:
            return [_refused(group_id, "start", reason)]
        rng = self._rng
        c = self._new_call(
            group, rng.randrange(1 << 16), int(now), self.keys.uri, self.keys.uri, rec,
            rng.getrandbits(128).to_bytes(16, "big"), rng.getrandbits(128).to_bytes(16, "big"),
            originated=True, now=now,
        )
        out = self._announce(c, now)
        joined = {"group": group_id, "call_id": c.call_id, "caller": self.keys.uri,
                  "originator": self.keys.uri, "announced_at": now, "gmk_id": rec.gmk_id,
                  "t": now}
        return [*out, Event("call_joined", joined),
                SetTimer((_TIMER, "announce", group_id), now + REFRESH_INTERVAL_S)]

    def _announce(self, c: _Call, now: float, *, probe_response: bool = False) -> list[Action]:
        reason = self._send_verdict_id(c.gmk_id, now)
        if reason is not None:
            return [_refused(c.group.group_id, "announce", reason)]
        g = c.group
        key_msg = ck.build_key_message(
            self.keys, gmk_id=c.gmk_id, gmk=c.gmk, call_key=c.call_key, rand=c.rand,
            call_id=c.call_id, start_time=c.start_time, t_ntp=ntp_from_unix(now),
            profile=self.profile,
        )  # fmt: skip
        me = self.keys.uri.encode()
        ann = monp.GroupCallAnnouncement(
            call_id=c.call_id, call_type=1, refresh_interval=int(REFRESH_INTERVAL_S * 1000),
            call_start_time=c.start_time, last_call_type_change_time=c.start_time,
            group_id=g.group_id.encode(), sdp=ck.sdp_for(g.multicast, g.media_port, key_msg),
            originating_user_id=c.originator.encode(), last_user_to_change_call_type=me,
            t_ies=[monp.IEI_PROBE_RESPONSE] if probe_response else [],
        )  # fmt: skip
        c.last_announce = now
        packet = build_udp6(self._addr, g.multicast, g.monp_port, g.monp_port, bytes(ann))
        return [SendGroupIp(g.l2_group_id, packet)]

    def _probe_packet(self, group: GroupConfig) -> SendGroupIp:
        probe = bytes(monp.GroupCallProbe(group_id=group.group_id.encode()))
        return SendGroupIp(group.l2_group_id, build_udp6(
            self._addr, group.multicast, group.monp_port, group.monp_port, probe))

    # ------------------------------------------------------------------ SRTP / SRTCP
    def _on_srtp(self, group: GroupConfig, data: bytes, now: float, *, rtcp: bool) -> (
        list[Action]
    ):
        kind = "floor" if rtcp else "media"
        c = self._calls.get(group.group_id)
        if c is None:
            raise ck.CallKeyError(Reason.UNKNOWN_KEY, "no call for this group")
        tag, n = self.profile.tag_len, len(data)
        if n < 12 + tag + 8 + (4 if rtcp else 0):
            raise ck.CallKeyError(Reason.MALFORMED, f"SRTP packet of {n} octets")
        end = n if self.profile is SrtpProfile.AEAD_AES_128_GCM else n - tag
        mki = data[end - 8 : end]
        gmk_id, guk = struct.unpack("!II", mki)
        o = c.overlap
        if o is not None and now > o.until:
            c.overlap = o = None
        if gmk_id == c.gmk_id:
            receiver, keyed, call_key, rand, my_guk = (c.receiver, c.keyed, c.call_key, c.rand,
                                                       c.my_guk)
        elif o is not None and gmk_id == o.gmk_id:  # before a re-key, still in the overlap
            receiver, keyed, call_key, rand, my_guk = o.receiver, o.keyed, o.call_key, o.rand, \
                o.my_guk
        else:  # a revoked / expired GMK says so; any other GMK-ID is not this call's
            _raise(self._recv_verdict_id(gmk_id, now), mki_detail(gmk_id))
            raise ck.CallKeyError(Reason.UNKNOWN_KEY, mki_detail(gmk_id))
        _raise(self._recv_verdict_id(gmk_id, now), mki_detail(gmk_id))  # D2: revoked → now
        if guk == my_guk:
            raise ck.CallKeyError(Reason.NOT_FOR_ME, "my own MKI")
        sender = self._member_for(c, guk) if o is None or gmk_id == c.gmk_id else \
            o.guk_to_uri.get(guk)
        if sender is None:
            raise ck.CallKeyError(Reason.UNKNOWN_KEY, f"GUK-ID {guk:#010x} of no member")
        if mki not in keyed:  # bounded: one derived key per member of the group
            receiver.add_key(mki, *ck.sender_master(call_key, rand, guk, self.profile))
            keyed.add(mki)
        if rtcp:
            return self._on_floor(c, receiver.unprotect_rtcp(data), sender, now)
        u = receiver.unprotect_rtp(data)
        try:
            seq, sent_at, payload = rtp_body(u.packet)
        except MediaError as err:
            raise ck.CallKeyError(Reason.MALFORMED, err.detail) from None
        c.last_heard = now
        data_ = {"group": group.group_id, "call_id": c.call_id, "sender": sender,
                 "ssrc": u.ssrc, "seq": seq, "index": u.index, "mki": mki.hex(),
                 "payload": payload, "sent_at": sent_at, "t": now}
        return [Accepted(kind, sender, {"ssrc": u.ssrc, "index": u.index, "octets": len(data)}),
                Event("media", data_)]

    def _on_floor(self, c: _Call, u: Unprotected, sender: str, now: float) -> list[Action]:
        try:
            floor = monp.parse_floor(u.packet)
        except ParseError as err:
            raise ck.CallKeyError(Reason.MALFORMED, f"MCPT: {err}") from None
        subtype = int(floor.subtype)
        c.last_heard = now
        out: list[Action] = [Accepted("floor", sender, {"subtype": subtype})]
        if subtype in FLOOR_TAKEN:
            out.append(Event("floor_taken", {"group": c.group.group_id, "call_id": c.call_id,
                                             "talker": sender, "ssrc": int(floor.ssrc)}))
        return out

    def _floor_taken(self, c: _Call, state: SenderState, now: float) -> SendGroupIp:
        assert c.sender is not None
        c.floor_seq = (c.floor_seq + 1) & 0xFFFF
        pkt = monp.FloorControl(subtype=2, ssrc=state.ssrc, mcpt_fields=[
            monp.MCPTField(id=FIELD_GRANTED_PARTY, value=self.keys.uri.encode()),
            monp.MCPTField(id=FIELD_SEQ, value=c.floor_seq.to_bytes(2, "big")),
        ])
        srtcp = c.sender.protect_rtcp(bytes(pkt))
        state.srtcp_next_index = c.sender.srtcp_next_index
        g = c.group
        return SendGroupIp(g.l2_group_id, build_udp6(
            self._addr, g.multicast, g.media_port + 1, g.media_port + 1, srtcp))

    # ------------------------------------------------------------------ helpers
    def _my_group(self, group_id: str) -> GroupConfig | None:
        g = self.directory.get(group_id)
        return g if g is not None and self.keys.uri in g.members else None

    def _member_for(self, c: _Call, guk: int) -> str | None:
        members = self.directory.get(c.group.group_id)
        current = members.members if members is not None else frozenset()
        if current != c.members:  # membership changed: recompute (N KDF calls, N members)
            c.members = current
            c.guk_to_uri = {guk_id(c.gmk, c.gmk_id, u): u for u in current}
        return c.guk_to_uri.get(guk)

    # ------------------------------------------------------------------ call re-key (GMK change)
    def _is_newer(self, rec: GmkRecordLike, c: _Call) -> bool:
        """Is ``rec`` a later GMK than the one call ``c`` is keyed under (R8: activation
        only moves forwards)? A call GMK already purged counts as older."""
        old = self.gmks.by_gmk_id(c.gmk_id)
        return old is None or rec.activation > old[1].activation

    def _rekey_if_due(self, c: _Call, now: float) -> list[Action]:
        """Re-key ``c`` (I announce it) if its GMK is no longer the one to send under."""
        rec = self.gmks.current(c.group.group_id, now)
        if rec is None or rec.gmk_id == c.gmk_id or self._send_verdict(rec, now) is not None:
            return []
        old_sendable = self._send_verdict_id(c.gmk_id, now) is None
        if not self._is_newer(rec, c) and old_sendable:
            return []
        if old_sendable and now < rec.activation + REKEY_LEAD_S:
            return []  # make-before-break (REKEY_LEAD_S); the "rekey" timer comes back
        rng = self._rng
        ev = self._switch_keying(c, rec, rng.getrandbits(128).to_bytes(16, "big"),
                                 rng.getrandbits(128).to_bytes(16, "big"), self.keys.uri, now)
        out: list[Action] = [ev, *self._announce(c, now)]
        if not c.announcer:
            c.announcer = True
            out.append(SetTimer((_TIMER, "announce", c.group.group_id), now + REFRESH_INTERVAL_S))
        return out

    def _switch_keying(
        self, c: _Call, rec: GmkRecordLike, call_key: bytes, rand: bytes, caller: str, now: float
    ) -> Event:
        """Put ``c`` under a new call key (same call ID). The old keying stays for receiving
        for REKEY_OVERLAP_S, unless its GMK is no longer receivable (revoked after the
        switchover: D2) or the new keying reuses its MKIs (same GMK)."""
        old_id = c.gmk_id
        keep = rec.gmk_id != old_id and self._recv_verdict_id(old_id, now) is None
        if keep:
            self._member_for(c, 0)  # refresh the GUK-ID table for the current membership
            c.overlap = _Overlap(old_id, c.call_key, c.rand, c.receiver, c.my_guk,
                                 c.guk_to_uri, c.keyed, now + REKEY_OVERLAP_S)
        else:
            c.overlap = None
        c.gmk_id, c.gmk, c.call_key, c.rand, c.caller = rec.gmk_id, rec.key, call_key, rand, caller
        c.receiver = SrtpReceiver(self.profile, mki_len=8, window=self.window,
                                  history=self.srtp_history)
        c.my_guk = guk_id(rec.key, rec.gmk_id, self.keys.uri)
        c.keyed, c.members, c.guk_to_uri = set(), frozenset(), {}
        c.sender, c.floor_due = None, True
        return Event("call_rekeyed", {"group": c.group.group_id, "call_id": c.call_id,
                                      "gmk_id": rec.gmk_id, "old_gmk_id": old_id,
                                      "caller": caller, "t": now})

    def _sender_state(self, mki: bytes) -> SenderState:
        st = self._senders.get(mki)
        if st is None:
            ssrc = self.fixed_ssrc or fresh_ssrc(self._rng, set())
            st = SenderState(ssrc, first_seq=self.first_seq)
            self._senders[mki] = st
            if len(self._senders) > 1024:  # one per GMK in practice
                self._senders.popitem(last=False)
        return st

    def _uid(self, uri: str, t_unix: float) -> bytes:
        km = self.keys
        try:
            period_no = key_period_number(t_unix, km.period, km.offset)
        except ProseMeshError:
            raise ck.CallKeyError(Reason.TS_OUT_OF_WINDOW, "T before the key periods") from None
        uid = self._uids.get((uri, period_no))
        if uid is None:
            if len(self._uids) > 4096:
                self._uids.clear()
            uid = mikey_sakke_uid(uri, km.kms_uri, km.period, km.offset, period_no)
            self._uids[(uri, period_no)] = uid
        return uid

    def _recv_verdict(self, rec: GmkRecordLike, now: float) -> Reason | None:
        fn = getattr(self.gmks, "receive_verdict", None)
        if callable(fn):
            return fn(rec.gmk_id, now)
        if now < rec.activation:
            return Reason.GMK_NOT_ACTIVE
        if now > rec.expiry + self.grace:
            return Reason.GMK_EXPIRED
        return None

    def _recv_verdict_id(self, gmk_id: int, now: float) -> Reason | None:
        found = self.gmks.by_gmk_id(gmk_id)
        return Reason.UNKNOWN_KEY if found is None else self._recv_verdict(found[1], now)

    def _send_verdict(self, rec: GmkRecordLike, now: float) -> Reason | None:
        fn = getattr(self.gmks, "send_verdict", None)
        if callable(fn):
            return fn(rec.gmk_id, now)
        if now < rec.activation:
            return Reason.GMK_NOT_ACTIVE
        if now > rec.expiry:
            return Reason.GMK_EXPIRED
        return None

    def _send_verdict_id(self, gmk_id: int, now: float) -> Reason | None:
        found = self.gmks.by_gmk_id(gmk_id)
        return Reason.UNKNOWN_KEY if found is None else self._send_verdict(found[1], now)

    def _kind_for_port(self, port: int) -> str:
        for g in self.directory:
            if port == g.monp_port:
                return "call_key"
            if port == g.media_port + 1:
                return "floor"
        return "media"


def _as_reason(value: str) -> Reason:
    try:
        return Reason(value)
    except ValueError:  # a wire-level reason (TRUNCATED, ...) counts as MALFORMED
        return Reason.MALFORMED


_MKI_DETAIL = "MKI GMK-ID "


def mki_detail(gmk_id: int) -> str:
    """The reject detail of a media / floor packet refused for the GMK its MKI names; the
    adversarial figures read the GMK-ID back (:func:`mki_gmk_id`)."""
    return f"{_MKI_DETAIL}{gmk_id:#010x}"


def mki_gmk_id(detail: str | None) -> int | None:
    """The GMK-ID of a :func:`mki_detail` text, else None."""
    if not detail or not detail.startswith(_MKI_DETAIL):
        return None
    try:
        return int(detail.removeprefix(_MKI_DETAIL), 16)
    except ValueError:
        return None


def _raise(reason: Reason | None, detail: str) -> None:
    if reason is not None:
        raise ck.CallKeyError(reason, detail)


def _srtp_tx(mki: bytes, ssrc: int, index: int | None, *, rtcp: bool) -> Event:
    """The key-stream audit record of one protected packet (ADVERSARIAL.md H1): the node logs
    it so the run's checker can prove no (MKI, SSRC, index) was used twice. SRTCP indices are
    their own space (other session keys, RFC 3711 §4.3.2), hence ``rtcp``."""
    return Event("srtp_tx", {"mki": mki.hex(), "ssrc": ssrc, "index": index, "rtcp": rtcp})


def _refused(group_id: str, what: str, reason: Reason) -> Event:
    return Event("call_refused", {"group": group_id, "what": what, "reason": str(reason)})


def _ended(c: _Call, reason: str, now: float) -> Event:
    return Event("call_ended", {"group": c.group.group_id, "call_id": c.call_id,
                                "reason": reason, "t": now})
