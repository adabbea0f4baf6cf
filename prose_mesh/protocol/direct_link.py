"""Secure one-to-one ProSe direct links of one UE, sans-I/O (TS 24.334 §10.4, TS 33.303 §6.5).

:class:`DirectLinks` holds every direct link of a UE, as initiator or responder, and the PDCP
contexts (:mod:`prose_mesh.protocol.pdcp`) those links own. PROTOCOL.md §2.3 procedures, with the
public-safety IBC variant [EMU]:

1. UE-1 → DCR (LCID 28, unprotected): User Info (type 2, UE-1's URI), IP Address Config, Maximum
   Inactivity Period, Nonce_1, UE Security Capabilities, MSB of KD-sess ID, the [EMU] MIKEY
   I_MESSAGE IE (a MIKEY-SAKKE I_MESSAGE: a fresh 128-bit SSV SAKKE-encapsulated to UE-2's UID,
   ECCSI-signed by UE-1) and, last, the ECCSI Signature IE over the whole DCR (so Nonce_1,
   capabilities and KD-sess MSB cannot be altered). KD = HMAC-SHA-256(SSV, "prose_mesh KD").
2. UE-2 checks cheap → expensive: size, strict parse, IEs present, link table room, I_MESSAGE
   parse, IDRr is me, IDRi is the UID of the User Info URI (key period of T), T window and replay
   cache (PROTOCOL.md §8.1), capabilities, authority ``authorise(uri)``, rate limit, ECCSI on the
   DCR, ECCSI on the I_MESSAGE, SAKKE decapsulation incl. step 5 → SSV → KD.
   An authenticated but *unauthorised* (or capability-refused) initiator gets
   DIRECT_COMMUNICATION_REJECT #1 (#6 for capabilities) [I cause values]; authority is
   checked before the signature (cheap first) but the REJECT is only sent once the DCR signature
   has verified, so no unauthenticated sender ever gets a reply (R9). Every other failure is a
   silent drop with its :class:`Reason`.
3. UE-2 → DSM COMMAND (LCID 29, integrity-only under the new context): replayed capabilities,
   Nonce_2, chosen 128-EEA2/128-EIA2, LSB of KD-sess ID, MSB of KD ID. UE-1 derives KD-sess →
   PIK from Nonce_2 and verifies MAC-I (a COMMAND that fails is dropped silently): a good MAC-I
   proves UE-2 holds the RSK of the UID UE-1 encapsulated to, which authenticates UE-2.
4. UE-1 → DSM COMPLETE (LCID 29, ciphered + integrity): LSB of KD ID. UE-2 → ACCEPT (LCID 30).
5. Keepalive (UE-1, T4101 with counter/ACK, local release after T4101_RETRIES unanswered);
   UE-2 releases locally after the negotiated Maximum Inactivity Period of silence (T4102).
   Release: RELEASE → RELEASE_ACCEPT (T4103). Rekeying: UE-1 sends REKEYING_REQUEST (new Nonce_1
   and KD-sess MSB, same KD); UE-2 answers with a DSM COMMAND under the new KD-sess, UE-1 the
   COMPLETE, UE-2 the REKEYING_RESPONSE; UE-2 may ask with REKEYING_TRIGGER. After the switch the
   old context only receives, until the peer is heard on the new one or T4104 expires.

Every PC5-S input yields exactly one ``Accepted("pc5s")`` or ``Rejected("pc5s", reason)``;
:meth:`DirectLinks.unprotect` answers ``Delivered`` or ``Rejected("pdcp", reason)``. Rejected
inputs change no state. Events: ``link_up``, ``link_down``, ``link_rekeyed`` with peer L2 ID,
URI, KD-sess ID, role (and the reason for ``link_down``).

Timers are keyed ``("dl", name, peer_l2id)`` with name T4100, T4101, T4102, T4103, T4104, T4111
or ``purge``; timer values are the [EMU] defaults of :mod:`prose_mesh.constants`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Final

from prose_mesh.constants import (
    MIKEY_SKEW_S,
    T4100_RETRIES,
    T4100_S,
    T4101_RETRIES,
    T4101_S,
    T4103_S,
    T4104_S,
    T4111_S,
)
from prose_mesh.crypto.eccsi import eccsi_sign, eccsi_verify
from prose_mesh.crypto.identity import NTP_UNIX_OFFSET, key_period_number, mikey_sakke_uid
from prose_mesh.crypto.kms import KeyMaterial
from prose_mesh.crypto.prose_keys import kd_from_ssv, kd_id, kd_sess, kd_sess_id
from prose_mesh.crypto.sakke import sakke_decapsulate, sakke_encapsulate
from prose_mesh.errors import ConfigError, CryptoError, ParseError, ProseMeshError
from prose_mesh.protocol.actions import (
    Accepted,
    Action,
    CancelTimer,
    Event,
    Rejected,
    SendSignalling,
    SetTimer,
)
from prose_mesh.protocol.pdcp import (
    CIPHERED,
    DIR_INITIATOR,
    DIR_RESPONDER,
    FULL,
    INTEGRITY,
    NONE,
    O2oContext,
    O2oPdu,
    PdcpRejected,
    default_sdu_type,
    o2o_mode,
)
from prose_mesh.protocol.ratelimit import TokenBucket
from prose_mesh.protocol.reasons import Reason
from prose_mesh.protocol.replay import MikeyReplayCache, MikeyReplayKey, ntp_to_seconds
from prose_mesh.wire import pc5s as s
from prose_mesh.wire.fast import LCID_PC5S_DSM, LCID_PC5S_PLAIN, LCID_PC5S_PROTECTED, SDU_PC5S
from prose_mesh.wire.mikey_codec import build_pck_i_message, ntp_from_unix, parse_i_message

__all__ = ["Delivered", "DirectLinks", "LinkInfo", "O2oPdu"]

# [R] 24.301 §9.9.3.36 bit layout: EEA0 = 0x80, 128-EEA2 = 0x20 in octet 1; 128-EIA2 = 0x20.
UE_SECURITY_CAPABILITIES: Final = 0xA020
_CAP_EEA2: Final = 0x2000
_CAP_EIA2: Final = 0x0020
CHOSEN_EEA2_EIA2: Final = 0x22  # spare ‖ EEA(3) = 2 ‖ spare ‖ EIA(3) = 2 [R]
KEY_PURPOSE_KD_CSB: Final = 0x1  # [EMU] CSB ID of the DCR I_MESSAGE: PCK purpose ‖ 28 random bits

# PC5 signalling causes [I psc-ns3]
CAUSE_NOT_ALLOWED: Final = 1  # "direct communication to the target UE not allowed"
CAUSE_OTHER: Final = 6  # "link setup failure due to other errors"
CAUSE_CAPS_MISMATCH: Final = 7  # DSM REJECT: "UE security capabilities mismatch"
RELEASE_USER: Final = 1  # [I] "direct communication to the peer UE no longer needed"

MAX_PC5S_LEN: Final = 2048  # [EMU] a DCR with its I_MESSAGE is ~800 octets
USER_INFO_APP_ID: Final = 2  # User Info type: application layer user ID (the URI)
IP_LINK_LOCAL_ONLY: Final = 3  # "address allocation not supported": link-local IPv6 only
DEFAULT_MAX_INACTIVITY: Final = int(T4101_S * (T4101_RETRIES + 2))  # [EMU] 50 s

# link states
I_DCR_SENT: Final = "dcr_sent"
I_WAIT_ACCEPT: Final = "wait_accept"
R_DSM_SENT: Final = "dsm_sent"
ESTABLISHED: Final = "established"
RELEASING: Final = "releasing"
CLOSED: Final = "closed"
INITIATOR: Final = "initiator"
RESPONDER: Final = "responder"

# (LCID, protection) each message type must arrive with [EMU, PROTOCOL.md §2.1]
_BEARER: Final[dict[int, tuple[int, str]]] = {
    s.DCR: (LCID_PC5S_PLAIN, NONE),
    s.DC_REJECT: (LCID_PC5S_PLAIN, NONE),
    s.DSM_REJECT: (LCID_PC5S_PLAIN, NONE),
    s.DSM_COMMAND: (LCID_PC5S_DSM, INTEGRITY),
    s.DSM_COMPLETE: (LCID_PC5S_DSM, FULL),
}
_PROTECTED_TYPES: Final = frozenset((
    s.DC_ACCEPT, s.DC_KEEPALIVE, s.DC_KEEPALIVE_ACK, s.DC_RELEASE, s.DC_RELEASE_ACCEPT,
    s.REKEYING_REQUEST, s.REKEYING_RESPONSE, s.REKEYING_TRIGGER,
))


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """A read-only view of one link."""

    peer_l2id: int
    peer_uri: str
    state: str
    role: str
    kd_sess_id: int  # current context (0 while none)
    kd_id: int | None
    established: bool
    rekey_due: bool


@dataclass(frozen=True, slots=True)
class Delivered:
    """A one-to-one SDU that passed PDCP: ``protected`` is none/integrity/full/ciphered."""

    sdu_type: int
    sdu: bytes
    protected: str
    kd_sess_id: int


class _Link:
    """Mutable per-peer state (private)."""

    def __init__(self, peer_l2id: int, peer_uri: str, role: str, state: str) -> None:
        self.peer_l2id = peer_l2id
        self.peer_uri = peer_uri
        self.role = role
        self.state = state
        self.kd: bytes | None = None
        self.kd_id: int | None = None
        self.ctx: O2oContext | None = None  # current context (TX and RX)
        self.old_ctx: O2oContext | None = None  # RX only, after a rekey switch
        self.pending: O2oContext | None = None  # context being set up (setup or rekey)
        self.nonce_1 = b""
        self.msb = 0  # our MSB of KD-sess ID (initiator)
        self.req_seq = 0  # Sequence Number of the request being answered / awaited
        self.last_msg = b""  # for retransmission (DSM COMMAND / COMPLETE)
        self.last_kd = 0
        self.retries = 0
        self.rekey: str | None = None
        self.rekey_retries = 0
        self.ka_counter = 0
        self.ka_outstanding = False
        self.ka_retries = 0
        self.max_inactivity = DEFAULT_MAX_INACTIVITY
        self.last_rx = 0.0

    def context(self, kd: int) -> O2oContext | None:
        for ctx in (self.ctx, self.pending, self.old_ctx):
            if ctx is not None and ctx.kd_sess_id == kd:
                return ctx
        return None

    def info(self) -> LinkInfo:
        ctx = self.ctx
        return LinkInfo(
            self.peer_l2id, self.peer_uri, self.state, self.role,
            ctx.kd_sess_id if ctx is not None else 0, self.kd_id,
            self.state == ESTABLISHED, bool(ctx is not None and ctx.rekey_due),
        )


class _Drop(Exception):
    """Internal control flow: the first failing check of one input (becomes Rejected)."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _key(name: str, peer: int) -> tuple[str, str, int]:
    return ("dl", name, peer)


class DirectLinks:
    """All one-to-one direct links of one UE (module docstring: procedure and checks)."""

    def __init__(
        self,
        *,
        keys: KeyMaterial,
        l2id: int,
        authorise: Callable[[str], bool],
        rng: random.Random | None = None,
        max_links: int = 64,
        dcr_rate: float = 20.0,
        dcr_burst: float = 10.0,
    ) -> None:
        if not 1 <= l2id <= 0xFFFFFF:
            raise ConfigError("a Layer-2 ID is 24 bits and never 0")
        self.km = keys
        self.l2id = l2id
        self.authorise = authorise
        self.rng = rng if rng is not None else random.SystemRandom()
        self.max_links = max_links
        self._links: dict[int, _Link] = {}
        self._seq = self.rng.randrange(0x10000)
        self.replay = MikeyReplayCache(skew=MIKEY_SKEW_S, capacity=1024)
        # Global bucket in front of the ECCSI/SAKKE work a DCR costs (ADVERSARIAL.md §3).
        self.dcr_bucket = TokenBucket(dcr_rate, dcr_burst)

    # ================================================================== public: intents
    def connect(self, peer_l2id: int, peer_uri: str, now: float) -> list[Action]:
        """Start a link to ``peer_l2id`` (learned by discovery) whose user is ``peer_uri``."""
        link = self._links.get(peer_l2id)
        if link is not None and link.state != CLOSED:
            return []
        if len(self._live()) >= self.max_links:
            return [Rejected("pc5s", Reason.CACHE_FULL, peer_uri, "max_links reached")]
        link = _Link(peer_l2id, peer_uri, INITIATOR, I_DCR_SENT)
        self._links[peer_l2id] = link
        return self._send_dcr(link, now)

    def release(self, peer_l2id: int, now: float) -> list[Action]:
        """Release the link: RELEASE → RELEASE_ACCEPT (T4103); a half-open link just ends."""
        link = self._links.get(peer_l2id)
        if link is None or link.state in (CLOSED, RELEASING):
            return []
        if link.state != ESTABLISHED:
            return self._drop_link(link, "released before setup completed")
        assert link.ctx is not None
        link.state = RELEASING
        msg = bytes(s.DirectCommunicationRelease(seq=self._next_seq(),
                                                 release_reason=RELEASE_USER))
        return [
            *self._cancel_all(link),
            self._send(link, LCID_PC5S_PROTECTED, msg, FULL, link.ctx.kd_sess_id),
            SetTimer(_key("T4103", peer_l2id), now + T4103_S),
        ]

    def rekey(self, peer_l2id: int, now: float) -> list[Action]:
        """Start rekeying (REKEYING_REQUEST, or REKEYING_TRIGGER from the responder)."""
        link = self._links.get(peer_l2id)
        if link is None or link.state != ESTABLISHED or link.rekey is not None:
            return []
        link.rekey_retries = 0
        if link.role == INITIATOR:
            return self._send_rekey_request(link, now)
        assert link.ctx is not None
        link.rekey = "trigger_sent"
        msg = bytes(s.DirectRekeyingTrigger(seq=self._next_seq()))
        return [self._send(link, LCID_PC5S_PROTECTED, msg, FULL, link.ctx.kd_sess_id),
                SetTimer(_key("T4104", peer_l2id), now + T4104_S)]

    def link(self, peer_l2id: int) -> LinkInfo | None:
        link = self._links.get(peer_l2id)
        return None if link is None else link.info()

    def links(self) -> list[LinkInfo]:
        return [link.info() for link in self._links.values()]

    # ================================================================== PDCP (node calls these)
    def protect(
        self,
        peer_l2id: int,
        lcid: int,
        sdu_type: int,
        sdu: bytes,
        *,
        protect: str,
        kd_sess_id: int | None,
    ) -> O2oPdu:
        """PDCP-protect one one-to-one SDU (for ``SendSignalling``/``SendUnicastIp``).

        ``protect`` must equal the bearer's mode (:func:`~prose_mesh.protocol.pdcp.o2o_mode`;
        "full" is accepted for an SLRB, which is ciphered only). Raises :class:`PdcpRejected`
        (UNKNOWN_KEY without a context, KEY_EXHAUSTED when the SN would wrap).
        """
        if protect == NONE:
            if lcid != LCID_PC5S_PLAIN:
                raise PdcpRejected(f"LCID {lcid} is always protected", reason=Reason.POLICY)
            return O2oPdu(0, 0, bytes(sdu), None)
        if lcid == LCID_PC5S_PLAIN:
            raise PdcpRejected("LCID 28 is never protected", reason=Reason.POLICY)
        link = self._links.get(peer_l2id)
        if link is None:
            raise PdcpRejected(f"no link to {peer_l2id:#08x}", reason=Reason.UNKNOWN_KEY)
        if kd_sess_id is None:
            ctx = link.ctx if link.state in (ESTABLISHED, RELEASING) else None
        else:
            ctx = link.ctx if link.ctx and link.ctx.kd_sess_id == kd_sess_id else None
            if ctx is None and link.pending and link.pending.kd_sess_id == kd_sess_id:
                ctx = link.pending
        if ctx is None:
            raise PdcpRejected(f"no context {kd_sess_id} with {peer_l2id:#08x}",
                               reason=Reason.UNKNOWN_KEY)
        mode = o2o_mode(lcid, ctx.direction)
        if protect != mode and not (mode == CIPHERED and protect == FULL):
            raise PdcpRejected(f"LCID {lcid} from this UE is {mode}, not {protect}",
                               reason=Reason.POLICY)
        return ctx.protect(lcid, sdu_type, sdu)

    def unprotect(
        self,
        src_l2id: int,
        lcid: int,
        kd_sess_id: int,
        sn: int,
        body: bytes,
        mac_i: int | None,
        now: float,
        *,
        sdu_type: int | None = None,
        reserved: int = 0,
    ) -> Delivered | Rejected:
        """Check and decipher one one-to-one PDU from ``src_l2id`` (36.323 §5.6/§5.7).

        ``sdu_type`` is the PDCP header's SDU type; MAC-I covers it. When omitted it is implied
        by the LCID (PC5-S LCIDs → 2, SLRBs → IP): pass it for ARP/NON-IP SDUs. ``reserved``
        is the header's R field: MAC-I does not cover it, so anything but 0 is MALFORMED.
        """
        if sdu_type is None:
            sdu_type = default_sdu_type(lcid)
        peer = self._peer_uri(src_l2id)
        if reserved != 0:
            return Rejected("pdcp", Reason.MALFORMED, peer, "PDCP R bits set")
        pc5s_lcid = lcid in (LCID_PC5S_PLAIN, LCID_PC5S_DSM, LCID_PC5S_PROTECTED)
        if pc5s_lcid != (sdu_type == SDU_PC5S):
            return Rejected("pdcp", Reason.MALFORMED, peer, "SDU type does not match LCID")
        if lcid == LCID_PC5S_PLAIN:
            if kd_sess_id != 0 or mac_i is not None:
                return Rejected("pdcp", Reason.MALFORMED, peer, "LCID 28 with a context")
            return Delivered(sdu_type, bytes(body), NONE, 0)
        if kd_sess_id == 0:
            return Rejected("pdcp", Reason.UNKNOWN_KEY, peer, "KD-sess ID 0 on a protected LCID")
        link = self._links.get(src_l2id)
        if link is None or link.state == CLOSED:
            return Rejected("pdcp", Reason.UNKNOWN_KEY, peer, "no link with this source")
        ctx = link.context(kd_sess_id)
        if ctx is None:
            if lcid == LCID_PC5S_DSM and self._awaits_command(link, kd_sess_id):
                return self._candidate_command(link, kd_sess_id, sn, body, mac_i, now)
            return Rejected("pdcp", Reason.UNKNOWN_KEY, peer, f"KD-sess ID {kd_sess_id:#06x}")
        try:
            sdu, mode = ctx.unprotect(lcid, sdu_type, sn, body, mac_i)
        except PdcpRejected as exc:
            return Rejected("pdcp", Reason(exc.reason), peer, str(exc))
        link.last_rx = now
        if ctx is link.ctx and link.old_ctx is not None:
            link.old_ctx = None  # the peer uses the new context: the old one is done
        return Delivered(sdu_type, sdu, mode, kd_sess_id)

    # ================================================================== PC5-S input
    def on_pc5s(
        self,
        src_l2id: int,
        lcid: int,
        message: bytes,
        *,
        protected: str,
        kd_sess_id: int,
        now: float,
    ) -> list[Action]:
        """One PC5-S message delivered by :meth:`unprotect` (its ``protected``/KD-sess ID)."""
        peer = self._peer_uri(src_l2id)
        try:
            if len(message) > MAX_PC5S_LEN:
                raise _Drop(Reason.MALFORMED, f"{len(message)} octets")
            try:
                msg = s.parse_pc5s(message)
            except ParseError as exc:
                raise _Drop(Reason.MALFORMED, str(exc)) from None
            mt = int(msg.msg_type)
            want = _BEARER.get(mt) or (
                (LCID_PC5S_PROTECTED, FULL) if mt in _PROTECTED_TYPES else None)
            if want is None:
                raise _Drop(Reason.POLICY, f"{s.MSG_NAMES[mt]} not supported")
            if (lcid, protected) != want:
                raise _Drop(Reason.MALFORMED, f"{s.MSG_NAMES[mt]} on LCID {lcid} {protected}")
            if mt == s.DCR:
                return self._on_dcr(src_l2id, msg, message, now)
            link = self._links.get(src_l2id)
            if mt in (s.DC_REJECT, s.DSM_REJECT):
                return self._on_reject(link, msg, now)
            if link is None or link.state == CLOSED or link.context(kd_sess_id) is None:
                raise _Drop(Reason.UNKNOWN_KEY, "no link/context for this message")
            handler = self._HANDLERS[mt]
            return handler(self, link, msg, kd_sess_id, now)
        except _Drop as drop:
            return [Rejected("pc5s", drop.reason, peer, drop.detail)]

    # ------------------------------------------------------------------ DCR (responder)
    def _on_dcr(self, src: int, msg: Any, raw: bytes, now: float) -> list[Action]:
        km = self.km
        try:
            covered, dcr_sig = s.signed_part(raw)
        except ParseError as exc:
            raise _Drop(Reason.MALFORMED, f"DCR: {exc}") from None
        ies = {ie.iei: ie for ie in msg.ies}
        im_ie = ies.get(s.IEI_MIKEY_I_MESSAGE)
        if im_ie is None:
            raise _Drop(Reason.MALFORMED, "DCR without the MIKEY I_MESSAGE IE")
        if msg.user_info_type != USER_INFO_APP_ID:
            raise _Drop(Reason.MALFORMED, "User Info is not an application layer user ID")
        try:
            uri = bytes(msg.user_info).decode("utf-8")
        except UnicodeDecodeError:
            raise _Drop(Reason.MALFORMED, "User Info URI is not UTF-8") from None
        existing = self._links.get(src)
        if (existing is None or existing.state == CLOSED) and len(self._live()) >= self.max_links:
            raise _Drop(Reason.CACHE_FULL, "max_links reached")
        try:
            im = parse_i_message(bytes(im_ie.i_message))
        except ParseError as exc:
            raise _Drop(Reason.MALFORMED, f"I_MESSAGE: {exc}") from None
        kms = km.kms_uri.encode()
        if im.responder_id != km.uid or im.idr(7) not in (None, kms):
            raise _Drop(Reason.NOT_FOR_ME, "IDRr is not this UE")
        t_unix = ntp_to_seconds(im.t.value) - NTP_UNIX_OFFSET
        try:
            period_no = key_period_number(t_unix, km.period, km.offset)
        except ConfigError:
            raise _Drop(Reason.TS_OUT_OF_WINDOW, "T before the key period offset") from None
        idri = im.initiator_id
        if idri is None or idri != mikey_sakke_uid(uri, kms, km.period, km.offset, period_no):
            raise _Drop(Reason.UNAUTHORISED_SIGNER, "IDRi is not the UID of the User Info URI")
        rkey = MikeyReplayKey(idri, km.uid, im.hdr.csb_id, im.rand, im.t.value)
        verdict = self.replay.verdict(rkey, now + NTP_UNIX_OFFSET)
        if verdict is not None:
            raise _Drop(verdict, "DCR I_MESSAGE T/replay")
        caps = int(msg.ue_security_capabilities)
        refuse: tuple[int, Reason] | None = None
        if not (caps & _CAP_EEA2 and caps & _CAP_EIA2):
            refuse = (CAUSE_OTHER, Reason.POLICY)
        elif not self.authorise(uri):
            refuse = (CAUSE_NOT_ALLOWED, Reason.UNAUTHORISED_SIGNER)
        if int(msg.msb_kdsess_id) == 0:
            raise _Drop(Reason.MALFORMED, "MSB of KD-sess ID 0")
        if not self.dcr_bucket.allow(now):
            raise _Drop(Reason.RATE_LIMITED, "DCR verification budget")
        try:
            eccsi_verify(covered, dcr_sig, identity=idri, kpak=km.kpak)
        except CryptoError:
            raise _Drop(Reason.BAD_SIG, "DCR signature") from None
        if refuse is not None:
            # Authenticated: remember it (no REJECT storm from replays), then answer.
            self.replay.insert(rkey, now + NTP_UNIX_OFFSET)
            reject = bytes(s.DirectCommunicationReject(seq=msg.seq, cause=refuse[0]))
            return [
                Rejected("pc5s", refuse[1], uri, f"DCR refused, REJECT #{refuse[0]}"),
                SendSignalling(src, LCID_PC5S_PLAIN, reject, NONE, 0),
            ]
        try:
            eccsi_verify(im.signed_part, im.signature, identity=idri, kpak=km.kpak)
        except CryptoError:
            raise _Drop(Reason.BAD_SIG, "I_MESSAGE signature") from None
        assert im.sakke is not None
        try:
            ssv = sakke_decapsulate(im.sakke.data, identity=km.uid, rsk=km.rsk, z_pub=km.z_pub)
        except CryptoError:
            raise _Drop(Reason.BAD_SAKKE, "I_MESSAGE SAKKE") from None
        try:
            self.replay.insert(rkey, now + NTP_UNIX_OFFSET)
        except ProseMeshError as exc:
            raise _Drop(Reason(exc.reason), "replay cache") from None
        # ---- accepted: state changes from here on
        out: list[Action] = []
        if existing is not None and existing.state != CLOSED:
            out += self._drop_link(existing, "superseded by a new DCR")
        link = _Link(src, uri, RESPONDER, R_DSM_SENT)
        self._links[src] = link
        link.kd = kd_from_ssv(ssv)
        link.req_seq = int(msg.seq)
        link.max_inactivity = min(max(int(msg.max_inactivity_period), int(2 * T4101_S)), 3600)
        link.last_rx = now
        msb_kd_id = self.rng.randrange(0x10000)
        link.kd_id = kd_id(msb_kd_id, 0)
        out.append(Accepted("pc5s", uri, {"msg": "DCR", "peer_l2id": src}))
        out += self._send_command(link, bytes(msg.nonce_1), int(msg.msb_kdsess_id), caps,
                                  msb_kd_id, now)
        return out

    def _send_command(self, link: _Link, nonce_1: bytes, msb: int, caps: int,
                      msb_kd_id: int | None, now: float) -> list[Action]:
        """UE-2: new KD-sess from (KD, Nonce_1, Nonce_2) → DSM COMMAND under it (T4111)."""
        assert link.kd is not None
        current = link.ctx.kd_sess_id if link.ctx else -1
        lsb = self.rng.randrange(256)
        while kd_sess_id(msb, lsb) == current:
            lsb = self.rng.randrange(256)
        kid = kd_sess_id(msb, lsb)
        nonce_2 = self.rng.randbytes(16)
        link.pending = O2oContext(kd_sess_id=kid, kd_sess=kd_sess(link.kd, nonce_1, nonce_2),
                                  direction=DIR_RESPONDER)
        ies = [] if msb_kd_id is None else [s.IE_MSBofKDID(msb_kd_id=msb_kd_id)]
        cmd = bytes(s.DirectSecurityModeCommand(
            seq=self._next_seq(), ue_security_capabilities=caps, nonce_2=nonce_2,
            chosen_algorithms=CHOSEN_EEA2_EIA2, lsb_kdsess_id=lsb, ies=ies))
        link.last_msg, link.last_kd, link.retries = cmd, kid, 0
        return [self._send(link, LCID_PC5S_DSM, cmd, INTEGRITY, kid),
                SetTimer(_key("T4111", link.peer_l2id), now + T4111_S)]

    # ------------------------------------------------------------------ DSM COMMAND (UE-1)
    def _awaits_command(self, link: _Link, kd: int) -> bool:
        waiting = link.state == I_DCR_SENT or (
            link.state == ESTABLISHED and link.rekey == "req_sent")
        return link.role == INITIATOR and waiting and (kd >> 8) == link.msb

    def _candidate_command(self, link: _Link, kd: int, sn: int, body: bytes,
                           mac_i: int | None, now: float) -> Delivered | Rejected:
        """Verify a DSM COMMAND whose context only its own Nonce_2 defines (setup or rekey)."""
        peer = link.peer_uri
        try:
            cmd = s.parse_pc5s(bytes(body))
        except ParseError as exc:
            return Rejected("pdcp", Reason.MALFORMED, peer, f"DSM COMMAND: {exc}")
        if int(cmd.msg_type) != s.DSM_COMMAND or int(cmd.lsb_kdsess_id) != kd & 0xFF:
            return Rejected("pdcp", Reason.MALFORMED, peer, "not the DSM COMMAND of this ID")
        if int(cmd.chosen_algorithms) != CHOSEN_EEA2_EIA2:
            return Rejected("pdcp", Reason.POLICY, peer, "only 128-EEA2/128-EIA2")
        assert link.kd is not None
        cand = O2oContext(kd_sess_id=kd, kd_sess=kd_sess(link.kd, link.nonce_1,
                                                         bytes(cmd.nonce_2)),
                          direction=DIR_INITIATOR)
        try:
            sdu, mode = cand.unprotect(LCID_PC5S_DSM, SDU_PC5S, sn, body, mac_i)
        except PdcpRejected as exc:
            return Rejected("pdcp", Reason(exc.reason), peer, str(exc))
        link.pending = cand
        link.last_rx = now
        return Delivered(SDU_PC5S, sdu, mode, kd)

    def _h_command(self, link: _Link, msg: Any, kd: int, now: float) -> list[Action]:
        if link.role != INITIATOR:
            raise _Drop(Reason.POLICY, "DSM COMMAND to the responder")
        dup = link.ctx is not None and link.ctx.kd_sess_id == kd and link.state in (
            I_WAIT_ACCEPT, ESTABLISHED) and link.rekey is None
        dup_rekey = link.rekey == "complete_sent" and link.pending is not None and (
            link.pending.kd_sess_id == kd)
        if dup or dup_rekey:  # our COMPLETE was lost: send it again
            return [Accepted("pc5s", link.peer_uri, {"msg": "DSM_COMMAND", "duplicate": True}),
                    self._send(link, LCID_PC5S_DSM, link.last_msg, FULL, kd)]
        if link.pending is None or link.pending.kd_sess_id != kd:
            raise _Drop(Reason.UNKNOWN_KEY, "DSM COMMAND for no pending context")
        if int(msg.ue_security_capabilities) != UE_SECURITY_CAPABILITIES:
            # authenticated (MAC-I verified) bidding-down attempt or bug: DSM REJECT
            rej = bytes(s.DirectSecurityModeReject(seq=msg.seq, cause=CAUSE_CAPS_MISMATCH))
            out: list[Action] = [
                Rejected("pc5s", Reason.POLICY, link.peer_uri, "replayed capabilities differ"),
                SendSignalling(link.peer_l2id, LCID_PC5S_PLAIN, rej, NONE, 0),
            ]
            if link.state == I_DCR_SENT:
                out += self._drop_link(link, "security capabilities mismatch")
            else:
                link.pending, link.rekey = None, None
            return out
        ies = {ie.iei: ie for ie in msg.ies}
        msb_ie = ies.get(s.IEI_MSB_KD_ID)
        if link.state == I_DCR_SENT and msb_ie is None:
            raise _Drop(Reason.MALFORMED, "DSM COMMAND without MSB of KD ID for a new KD")
        lsb_kd_id = self.rng.randrange(0x10000)
        complete = bytes(s.DirectSecurityModeComplete(
            seq=msg.seq,
            ies=[s.IE_LSBofKDID(lsb_kd_id=lsb_kd_id)] if link.state == I_DCR_SENT else []))
        link.last_msg, link.last_kd = complete, kd
        out = [Accepted("pc5s", link.peer_uri, {"msg": "DSM_COMMAND", "kd_sess_id": kd})]
        if link.state == I_DCR_SENT:
            assert msb_ie is not None
            link.kd_id = kd_id(int(msb_ie.msb_kd_id), lsb_kd_id)
            link.ctx, link.pending = link.pending, None
            link.state = I_WAIT_ACCEPT
            link.retries = 0
            out.append(SetTimer(_key("T4100", link.peer_l2id), now + T4100_S))
        else:  # rekey: switch on REKEYING_RESPONSE
            link.rekey = "complete_sent"
        out.append(self._send(link, LCID_PC5S_DSM, complete, FULL, kd))
        return out

    # ------------------------------------------------------------------ DSM COMPLETE (UE-2)
    def _h_complete(self, link: _Link, msg: Any, kd: int, now: float) -> list[Action]:
        if link.role != RESPONDER:
            raise _Drop(Reason.POLICY, "DSM COMPLETE to the initiator")
        peer = link.peer_uri
        if link.state == ESTABLISHED and link.ctx is not None and link.ctx.kd_sess_id == kd:
            # duplicate: our ACCEPT / REKEYING_RESPONSE was lost
            return [Accepted("pc5s", peer, {"msg": "DSM_COMPLETE", "duplicate": True}),
                    self._send(link, LCID_PC5S_PROTECTED, link.last_msg, FULL, kd)]
        if link.pending is None or link.pending.kd_sess_id != kd:
            raise _Drop(Reason.UNKNOWN_KEY, "DSM COMPLETE for no pending context")
        if link.state == R_DSM_SENT:
            ie = next((i for i in msg.ies if i.iei == s.IEI_LSB_KD_ID), None)
            if ie is None:
                raise _Drop(Reason.MALFORMED, "DSM COMPLETE without LSB of KD ID")
            assert link.kd_id is not None
            link.kd_id = kd_id(link.kd_id >> 16, int(ie.lsb_kd_id))
            link.ctx, link.pending = link.pending, None
            link.state = ESTABLISHED
            accept = bytes(s.DirectCommunicationAccept(seq=link.req_seq,
                                                       ip_address_config=IP_LINK_LOCAL_ONLY))
            link.last_msg = accept
            return [
                CancelTimer(_key("T4111", link.peer_l2id)),
                Accepted("pc5s", peer, {"msg": "DSM_COMPLETE", "kd_sess_id": kd}),
                self._send(link, LCID_PC5S_PROTECTED, accept, FULL, kd),
                SetTimer(_key("T4102", link.peer_l2id), now + link.max_inactivity),
                self._event("link_up", link),
            ]
        if link.state == ESTABLISHED and link.rekey == "cmd_sent":
            resp = bytes(s.DirectRekeyingResponse(seq=link.req_seq))
            link.last_msg = resp
            out = self._switch(link, now)
            return [
                CancelTimer(_key("T4111", link.peer_l2id)),
                Accepted("pc5s", peer, {"msg": "DSM_COMPLETE", "kd_sess_id": kd}),
                self._send(link, LCID_PC5S_PROTECTED, resp, FULL, kd),
                *out,
            ]
        raise _Drop(Reason.POLICY, f"DSM COMPLETE in state {link.state}")

    def _switch(self, link: _Link, now: float) -> list[Action]:
        """Rekey done: the pending context becomes current; the old one only receives."""
        link.old_ctx, link.ctx, link.pending = link.ctx, link.pending, None
        link.rekey = None
        assert link.ctx is not None
        return [
            CancelTimer(_key("T4104", link.peer_l2id)),
            SetTimer(_key("purge", link.peer_l2id), now + T4104_S),
            self._event("link_rekeyed", link),
        ]

    # ------------------------------------------------------------------ ACCEPT / REJECT
    def _h_accept(self, link: _Link, msg: Any, kd: int, now: float) -> list[Action]:
        if link.role != INITIATOR or link.state != I_WAIT_ACCEPT:
            if link.state == ESTABLISHED and link.role == INITIATOR:
                return [Accepted("pc5s", link.peer_uri, {"msg": "ACCEPT", "duplicate": True})]
            raise _Drop(Reason.POLICY, f"ACCEPT in state {link.state}")
        if link.ctx is None or link.ctx.kd_sess_id != kd or int(msg.seq) != link.req_seq:
            raise _Drop(Reason.NOT_FOR_ME, "ACCEPT does not answer our DCR")
        link.state = ESTABLISHED
        link.ka_outstanding, link.ka_retries = False, 0
        return [
            CancelTimer(_key("T4100", link.peer_l2id)),
            Accepted("pc5s", link.peer_uri, {"msg": "ACCEPT", "kd_sess_id": kd}),
            SetTimer(_key("T4101", link.peer_l2id), now + T4101_S),
            self._event("link_up", link),
        ]

    def _on_reject(self, link: _Link | None, msg: Any, now: float) -> list[Action]:
        """REJECT / DSM REJECT travel unprotected: only a pending setup that they answer
        (by Sequence Number) is ended; an established link never is."""
        mt = int(msg.msg_type)
        if link is None:
            raise _Drop(Reason.NOT_FOR_ME, "no setup pending with this source")
        if mt == s.DC_REJECT and link.role == INITIATOR and link.state == I_DCR_SENT:
            ok = int(msg.seq) == link.req_seq
        elif mt == s.DSM_REJECT and link.role == RESPONDER and link.state == R_DSM_SENT:
            ok = int(msg.seq) == int(s.parse_pc5s(link.last_msg).seq)
        else:
            ok = False
        if not ok:
            raise _Drop(Reason.NOT_FOR_ME, f"{s.MSG_NAMES[mt]} answers nothing pending")
        return [
            Accepted("pc5s", link.peer_uri, {"msg": s.MSG_NAMES[mt], "cause": int(msg.cause),
                                             "authenticated": False}),
            *self._drop_link(link, f"{s.MSG_NAMES[mt]} cause #{int(msg.cause)}"),
        ]

    # ------------------------------------------------------------------ keepalive
    def _h_keepalive(self, link: _Link, msg: Any, kd: int, now: float) -> list[Action]:
        if link.state != ESTABLISHED:
            raise _Drop(Reason.POLICY, f"KEEPALIVE in state {link.state}")
        ack = bytes(s.DirectCommunicationKeepaliveAck(seq=msg.seq,
                                                      keepalive_counter=msg.keepalive_counter))
        assert link.ctx is not None
        out: list[Action] = [
            Accepted("pc5s", link.peer_uri, {"msg": "KEEPALIVE",
                                             "counter": int(msg.keepalive_counter)}),
            self._send(link, LCID_PC5S_PROTECTED, ack, FULL, link.ctx.kd_sess_id),
        ]
        if link.role == RESPONDER:
            out.append(SetTimer(_key("T4102", link.peer_l2id), now + link.max_inactivity))
        return out

    def _h_keepalive_ack(self, link: _Link, msg: Any, kd: int, now: float) -> list[Action]:
        if not link.ka_outstanding or int(msg.keepalive_counter) != link.ka_counter:
            raise _Drop(Reason.REPLAY, "KEEPALIVE_ACK for no outstanding counter")
        link.ka_outstanding, link.ka_retries = False, 0
        return [Accepted("pc5s", link.peer_uri, {"msg": "KEEPALIVE_ACK",
                                                 "counter": link.ka_counter})]

    # ------------------------------------------------------------------ release
    def _h_release(self, link: _Link, msg: Any, kd: int, now: float) -> list[Action]:
        if link.state not in (ESTABLISHED, RELEASING):
            raise _Drop(Reason.POLICY, f"RELEASE in state {link.state}")
        assert link.ctx is not None
        acc = bytes(s.DirectCommunicationReleaseAccept(seq=msg.seq))
        send = self._send(link, LCID_PC5S_PROTECTED, acc, FULL, link.ctx.kd_sess_id)
        out: list[Action] = [
            Accepted("pc5s", link.peer_uri, {"msg": "RELEASE", "reason": int(msg.release_reason)}),
            *self._cancel_all(link),
            send,
            self._event("link_down", link, reason=f"released by peer #{int(msg.release_reason)}"),
        ]
        # Keep the context long enough for the node to protect RELEASE_ACCEPT, then purge.
        link.state = CLOSED
        link.pending = link.old_ctx = None
        out.append(SetTimer(_key("purge", link.peer_l2id), now + T4103_S))
        return out

    def _h_release_accept(self, link: _Link, msg: Any, kd: int, now: float) -> list[Action]:
        if link.state != RELEASING:
            raise _Drop(Reason.POLICY, f"RELEASE_ACCEPT in state {link.state}")
        return [Accepted("pc5s", link.peer_uri, {"msg": "RELEASE_ACCEPT"}),
                *self._drop_link(link, "released")]

    # ------------------------------------------------------------------ rekeying
    def _send_rekey_request(self, link: _Link, now: float) -> list[Action]:
        assert link.ctx is not None
        link.old_ctx = None
        link.pending = None
        current_msb = link.ctx.kd_sess_id >> 8
        msb = self.rng.randrange(1, 256)
        while msb == current_msb:
            msb = self.rng.randrange(1, 256)
        link.msb = msb
        link.nonce_1 = self.rng.randbytes(16)
        link.rekey = "req_sent"
        link.req_seq = self._next_seq()
        req = bytes(s.DirectRekeyingRequest(seq=link.req_seq,
                                            ue_security_capabilities=UE_SECURITY_CAPABILITIES,
                                            nonce_1=link.nonce_1, msb_kdsess_id=msb))
        return [self._send(link, LCID_PC5S_PROTECTED, req, FULL, link.ctx.kd_sess_id),
                SetTimer(_key("T4104", link.peer_l2id), now + T4104_S)]

    def _h_rekey_request(self, link: _Link, msg: Any, kd: int, now: float) -> list[Action]:
        if link.role != RESPONDER or link.state != ESTABLISHED:
            raise _Drop(Reason.POLICY, "REKEYING_REQUEST to the initiator or before setup")
        if link.ctx is None or kd != link.ctx.kd_sess_id:
            raise _Drop(Reason.UNKNOWN_KEY, "REKEYING_REQUEST not under the current context")
        msb = int(msg.msb_kdsess_id)
        if msb == 0 or msb == link.ctx.kd_sess_id >> 8:
            raise _Drop(Reason.MALFORMED, "REKEYING_REQUEST must change the KD-sess MSB")
        if any(ie.iei == s.IEI_AUTH_FLAG and ie.auth_flag for ie in msg.ies):
            raise _Drop(Reason.POLICY, "re-authentication (Auth Flag) is not supported")
        link.old_ctx = None
        link.rekey = "cmd_sent"
        link.req_seq = int(msg.seq)
        out: list[Action] = [
            CancelTimer(_key("T4104", link.peer_l2id)),
            Accepted("pc5s", link.peer_uri, {"msg": "REKEYING_REQUEST"}),
        ]
        out += self._send_command(link, bytes(msg.nonce_1), msb,
                                  int(msg.ue_security_capabilities), None, now)
        return out

    def _h_rekey_response(self, link: _Link, msg: Any, kd: int, now: float) -> list[Action]:
        if link.rekey != "complete_sent" or link.pending is None or (
                link.pending.kd_sess_id != kd) or int(msg.seq) != link.req_seq:
            raise _Drop(Reason.POLICY, "REKEYING_RESPONSE answers nothing pending")
        return [Accepted("pc5s", link.peer_uri, {"msg": "REKEYING_RESPONSE", "kd_sess_id": kd}),
                *self._switch(link, now)]

    def _h_rekey_trigger(self, link: _Link, msg: Any, kd: int, now: float) -> list[Action]:
        if link.role != INITIATOR or link.state != ESTABLISHED:
            raise _Drop(Reason.POLICY, "REKEYING_TRIGGER to the responder or before setup")
        accepted = Accepted("pc5s", link.peer_uri, {"msg": "REKEYING_TRIGGER"})
        if link.rekey is not None:
            return [accepted]  # already rekeying
        link.rekey_retries = 0
        return [accepted, *self._send_rekey_request(link, now)]

    _HANDLERS: Final[dict[int, Callable[..., list[Action]]]] = {
        s.DSM_COMMAND: _h_command,
        s.DSM_COMPLETE: _h_complete,
        s.DC_ACCEPT: _h_accept,
        s.DC_KEEPALIVE: _h_keepalive,
        s.DC_KEEPALIVE_ACK: _h_keepalive_ack,
        s.DC_RELEASE: _h_release,
        s.DC_RELEASE_ACCEPT: _h_release_accept,
        s.REKEYING_REQUEST: _h_rekey_request,
        s.REKEYING_RESPONSE: _h_rekey_response,
        s.REKEYING_TRIGGER: _h_rekey_trigger,
    }

    # ================================================================== timers
    def on_timer(self, key: Hashable, now: float) -> list[Action]:
        """A timer set by this machine fired (stale timers are ignored)."""
        if not (isinstance(key, tuple) and len(key) == 3 and key[0] == "dl"):
            return []
        name, peer = key[1], key[2]
        link = self._links.get(peer)
        if link is None:
            return []
        if name == "purge":
            if link.state == CLOSED:
                del self._links[peer]
            else:
                link.old_ctx = None
            return []
        if link.state == CLOSED:
            return []
        if name == "T4100":
            return self._t4100(link, now)
        if name == "T4111":
            return self._t4111(link, now)
        if name == "T4101":
            return self._t4101(link, now)
        if name == "T4102":
            if link.state != ESTABLISHED:
                return []
            if now - link.last_rx >= link.max_inactivity:
                return self._drop_link(link, "inactivity (T4102)")
            return [SetTimer(key, link.last_rx + link.max_inactivity)]
        if name == "T4103":
            if link.state == RELEASING:
                return self._drop_link(link, "released (T4103 expiry)")
            return []
        if name == "T4104":
            return self._t4104(link, now)
        return []

    def _t4100(self, link: _Link, now: float) -> list[Action]:
        if link.state not in (I_DCR_SENT, I_WAIT_ACCEPT):
            return []
        link.retries += 1
        if link.retries > T4100_RETRIES:
            return self._drop_link(link, "T4100 expiry: no answer")
        if link.state == I_DCR_SENT:
            return self._send_dcr(link, now, retry=True)
        assert link.ctx is not None
        return [self._send(link, LCID_PC5S_DSM, link.last_msg, FULL, link.ctx.kd_sess_id),
                SetTimer(_key("T4100", link.peer_l2id), now + T4100_S)]

    def _t4111(self, link: _Link, now: float) -> list[Action]:
        waiting = link.state == R_DSM_SENT or link.rekey == "cmd_sent"
        if not waiting or link.pending is None:
            return []
        link.retries += 1
        if link.retries > T4100_RETRIES:
            if link.state == R_DSM_SENT:
                return self._drop_link(link, "T4111 expiry: no DSM COMPLETE")
            link.pending, link.rekey = None, None  # rekey abandoned; the initiator retries
            return []
        return [self._send(link, LCID_PC5S_DSM, link.last_msg, INTEGRITY, link.last_kd),
                SetTimer(_key("T4111", link.peer_l2id), now + T4111_S)]

    def _t4101(self, link: _Link, now: float) -> list[Action]:
        if link.state != ESTABLISHED or link.role != INITIATOR:
            return []
        assert link.ctx is not None
        if link.ka_outstanding:
            link.ka_retries += 1
            if link.ka_retries > T4101_RETRIES:
                return self._drop_link(link, "keepalive unanswered (T4101)")
        link.ka_counter = (link.ka_counter + 1) & 0xFFFF_FFFF
        link.ka_outstanding = True
        ka = bytes(s.DirectCommunicationKeepalive(seq=self._next_seq(),
                                                  keepalive_counter=link.ka_counter))
        out: list[Action] = [
            self._send(link, LCID_PC5S_PROTECTED, ka, FULL, link.ctx.kd_sess_id),
            SetTimer(_key("T4101", link.peer_l2id), now + T4101_S),
        ]
        if link.ctx.rekey_due and link.rekey is None:  # SN close to wrapping
            link.rekey_retries = 0
            out += self._send_rekey_request(link, now)
        return out

    def _t4104(self, link: _Link, now: float) -> list[Action]:
        if link.state != ESTABLISHED or link.rekey not in ("req_sent", "complete_sent",
                                                           "trigger_sent"):
            return []
        link.rekey_retries += 1
        if link.rekey_retries > T4100_RETRIES:
            return self.release(link.peer_l2id, now) if link.ctx is not None else []
        if link.rekey == "trigger_sent":
            assert link.ctx is not None
            msg = bytes(s.DirectRekeyingTrigger(seq=self._next_seq()))
            return [self._send(link, LCID_PC5S_PROTECTED, msg, FULL, link.ctx.kd_sess_id),
                    SetTimer(_key("T4104", link.peer_l2id), now + T4104_S)]
        return self._send_rekey_request(link, now)

    # ================================================================== helpers
    def _send_dcr(self, link: _Link, now: float, *, retry: bool = False) -> list[Action]:
        """A fresh DCR: new SSV (hence KD), Nonce_1, KD-sess MSB, T and RAND every attempt, so
        a retransmission is never a replay and no two attempts share key material."""
        km = self.km
        kms = km.kms_uri.encode()
        peer_uid = mikey_sakke_uid(link.peer_uri, kms, km.period, km.offset,
                                   key_period_number(now, km.period, km.offset))
        ssv = self.rng.randbytes(16)
        sed = sakke_encapsulate(ssv, identity=peer_uid, z_pub=km.z_pub)
        i_message = build_pck_i_message(
            pck_id=(KEY_PURPOSE_KD_CSB << 28) | self.rng.randrange(1 << 28),
            sign=self._sign,
            t_ntp=ntp_from_unix(now),
            rand=self.rng.randbytes(16),
            initiator_uid=km.uid,
            responder_uid=peer_uid,
            kms_uri_initiator=kms,
            kms_uri_responder=kms,
            sakke_data=sed,
            sp=None,
        )
        link.kd = kd_from_ssv(ssv)
        link.nonce_1 = self.rng.randbytes(16)
        link.msb = self.rng.randrange(1, 256)
        link.pending = None
        link.req_seq = self._next_seq()
        dcr = s.DirectCommunicationRequest(
            seq=link.req_seq, user_info_type=USER_INFO_APP_ID, user_info=km.uri.encode(),
            ip_address_config=IP_LINK_LOCAL_ONLY, max_inactivity_period=DEFAULT_MAX_INACTIVITY,
            nonce_1=link.nonce_1, ue_security_capabilities=UE_SECURITY_CAPABILITIES,
            msb_kdsess_id=link.msb, ies=[s.IE_MikeyIMessage(i_message=i_message)])
        raw = s.sign_pc5s(dcr, self._sign)
        if not retry:
            link.retries = 0
        return [SendSignalling(link.peer_l2id, LCID_PC5S_PLAIN, raw, NONE, 0),
                SetTimer(_key("T4100", link.peer_l2id), now + T4100_S)]

    def _sign(self, data: bytes) -> bytes:
        km = self.km
        return eccsi_sign(data, identity=km.uid, ssk=km.ssk, pvt=km.pvt, kpak=km.kpak)

    def _send(self, link: _Link, lcid: int, msg: bytes, protect: str, kd: int) -> SendSignalling:
        return SendSignalling(link.peer_l2id, lcid, msg, protect, kd)

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def _event(self, name: str, link: _Link, **extra: Any) -> Event:
        return Event(name, {
            "peer_l2id": link.peer_l2id, "peer_uri": link.peer_uri, "role": link.role,
            "kd_sess_id": link.ctx.kd_sess_id if link.ctx else 0, **extra})

    def _cancel_all(self, link: _Link) -> list[Action]:
        return [CancelTimer(_key(n, link.peer_l2id))
                for n in ("T4100", "T4101", "T4102", "T4104", "T4111")]

    def _drop_link(self, link: _Link, reason: str) -> list[Action]:
        """Forget a link now (contexts, counters); ``link_down`` says why."""
        out: list[Action] = [*self._cancel_all(link), CancelTimer(_key("T4103", link.peer_l2id)),
                             self._event("link_down", link, reason=reason,
                                         established=link.state in (ESTABLISHED, RELEASING))]
        self._links.pop(link.peer_l2id, None)
        return out

    def _live(self) -> list[_Link]:
        return [link for link in self._links.values() if link.state != CLOSED]

    def _peer_uri(self, l2id: int) -> str | None:
        link = self._links.get(l2id)
        return None if link is None else link.peer_uri

    def security_context(self, peer_l2id: int) -> O2oContext | None:
        """The current PDCP security context (KD-sess) of the link to ``peer_l2id``, or None.

        Read-only use: the run's key log (:mod:`prose_mesh.node.keylog`) records its KD-sess
        ID, DIRECTION, algorithms and PEK/PIK so ``prose-mesh decrypt`` can open the capture.
        """
        link = self._links.get(peer_l2id)
        return None if link is None else link.ctx
