"""SRTP and SRTCP for the TS 33.180 §7.4 profile (PROTOCOL.md §6.5, §6.6, §8.2).

Transforms:

* **AEAD_AES_128_GCM** (RFC 7714): 96-bit master/session salt, 16-octet tag.
  SRTP IV = ``(0x0000 ‖ SSRC ‖ ROC ‖ SEQ) XOR salt``, AAD = the RTP header (§8.1, §9.1);
  SRTCP IV = ``(0x0000 ‖ SSRC ‖ 0x0000 ‖ 0 ‖ index31) XOR salt``, AAD = first 8 octets ‖
  E‖index when E = 1, the whole RTCP packet ‖ E‖index when E = 0 (§9.1, §9.2, §17).
  Packet: ``header ‖ ciphertext ‖ tag [‖ E‖index (SRTCP)] [‖ MKI]`` [R: MKI after the AEAD
  output, RFC 7714 §8/§9 figures].
* **AES_CM_128_HMAC_SHA1_80** (RFC 3711 §4.1.1, §4.2.1): 112-bit salt, HMAC-SHA1 with a
  160-bit auth key truncated to 80 bits; auth over ``header ‖ payload ‖ ROC`` (SRTP) or
  ``header ‖ payload ‖ E‖index`` (SRTCP). Packet: ``… [‖ MKI] ‖ tag``.

Session keys come from the master key/salt through the RFC 3711 §4.3 AES-CM PRF with KDR 0
(labels 0x00/0x01/0x02 SRTP, 0x03/0x04/0x05 SRTCP). For the 96-bit GCM master salt the salt is
left-aligned in the 112-bit PRF input (padded with two zero octets on the right), as libsrtp and
pion do [I]; RFC 7714 §11 defines GCM key derivation by reference to RFC 3711.

MKI: the group MKI is GMK-ID ‖ GUK-ID (64 bits), the private one the PCK-ID (32 bits)
(PROTOCOL.md §6.5). The MKI length is fixed per receiver/sender.

Receive path (ADVERSARIAL.md §3): length → header → MKI known → ROC estimate (RFC 3711 §3.3.1)
and index pre-check (``replay_old``/``replay_fail``, no state update) → stream-table capacity →
AEAD/HMAC verify → update replay list and ROC → deliver. A failure at any step changes no state.
SRTCP keeps its own replay list keyed by the 31-bit index, per (MKI, SSRC).

Send path: a :class:`SrtpSender` never reuses an (key, SSRC, index): the SRTP index only grows,
the SRTCP index only grows, and it refuses to go past 2^48 / 2^31 packets (RFC 3711 §3.3.1, §3.4).
To survive a restart, persist ``last_index`` and ``srtcp_next_index`` (PROTOCOL.md §6.6 item 4).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections import Counter, OrderedDict
from dataclasses import dataclass
from enum import Enum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from prose_mesh.errors import CryptoError
from prose_mesh.protocol.reasons import Reason
from prose_mesh.protocol.replay import SRTCP_INDEX_BITS, SRTP_INDEX_BITS, ReplayWindow

RTP_HEADER_MIN = 12
RTCP_HEADER_LEN = 8  # V/P/RC, PT, length, SSRC of sender: left in clear (RFC 3711 §3.4)
SRTCP_E_FLAG = 0x8000_0000
MAX_SRTP_INDEX = (1 << SRTP_INDEX_BITS) - 1
MAX_SRTCP_INDEX = (1 << SRTCP_INDEX_BITS) - 1

LABEL_RTP_ENCR, LABEL_RTP_AUTH, LABEL_RTP_SALT = 0x00, 0x01, 0x02
LABEL_RTCP_ENCR, LABEL_RTCP_AUTH, LABEL_RTCP_SALT = 0x03, 0x04, 0x05


class SrtpError(CryptoError):
    """An SRTP/SRTCP packet was rejected or could not be protected; ``reason`` says why."""


def _fail(reason: Reason, detail: str) -> SrtpError:
    return SrtpError(detail, reason=reason)


class SrtpProfile(Enum):
    """The two transforms: (master salt octets, auth tag octets, auth key octets)."""

    AEAD_AES_128_GCM = (12, 16, 0)
    AES_CM_128_HMAC_SHA1_80 = (14, 10, 20)

    @property
    def salt_len(self) -> int:
        return self.value[0]

    @property
    def tag_len(self) -> int:
        return self.value[1]

    @property
    def auth_key_len(self) -> int:
        return self.value[2]


def group_mki(gmk_id: int, guk_id: int) -> bytes:
    """Group-call MKI: GMK-ID ‖ GUK-ID, 64 bits (PROTOCOL.md §6.5 [I/R])."""
    return struct.pack("!II", gmk_id, guk_id)


def private_mki(pck_id: int) -> bytes:
    """Private-call MKI: the PCK-ID, 32 bits (PROTOCOL.md §6.5 [V])."""
    return struct.pack("!I", pck_id)


# --------------------------------------------------------------------------------------------
# Key derivation (RFC 3711 §4.3) and keystream helpers


def _aes_ctr(key: bytes, iv16: bytes, data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.CTR(iv16)).encryptor()
    return enc.update(data) + enc.finalize()


def aes_cm_prf(master_key: bytes, master_salt: bytes, label: int, length: int) -> bytes:
    """RFC 3711 §4.3.1/§4.3.3 with KDR = 0: ``AES-CM(master_key, (key_id XOR salt) · 2^16)``.

    ``key_id = label ‖ r`` with r = index DIV kdr = 0 (48 bits), so only the label octet, at
    octet 7 of the 14-octet PRF input, differs from the salt. A 12-octet salt is left-aligned.
    """
    if len(master_key) != 16 or len(master_salt) not in (12, 14):
        raise _fail(Reason.MALFORMED, "master key must be 16 octets, salt 12 or 14")
    x = bytearray(master_salt.ljust(14, b"\0"))
    x[7] ^= label
    return _aes_ctr(master_key, bytes(x) + b"\0\0", bytes(length))


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """The six session keys of one master key (RFC 3711 §4.3.2)."""

    rtp_key: bytes
    rtp_salt: bytes
    rtp_auth: bytes
    rtcp_key: bytes
    rtcp_salt: bytes
    rtcp_auth: bytes


def derive_session_keys(profile: SrtpProfile, master_key: bytes, master_salt: bytes) -> (
    SessionKeys
):
    """Session encryption, salt and auth keys for SRTP and SRTCP (RFC 3711 §4.3, KDR 0)."""
    if len(master_salt) != profile.salt_len:
        raise _fail(Reason.MALFORMED, f"{profile.name} master salt is {profile.salt_len} octets")
    s, a = profile.salt_len, profile.auth_key_len

    def prf(label: int, n: int) -> bytes:
        return aes_cm_prf(master_key, master_salt, label, n) if n else b""

    return SessionKeys(
        prf(LABEL_RTP_ENCR, 16), prf(LABEL_RTP_SALT, s), prf(LABEL_RTP_AUTH, a),
        prf(LABEL_RTCP_ENCR, 16), prf(LABEL_RTCP_SALT, s), prf(LABEL_RTCP_AUTH, a),
    )


def gcm_srtp_iv(salt: bytes, ssrc: int, roc: int, seq: int) -> bytes:
    """RFC 7714 §8.1: (0x0000 ‖ SSRC ‖ ROC ‖ SEQ) XOR salt (96 bits)."""
    iv = struct.pack("!HIIH", 0, ssrc, roc, seq)
    return bytes(a ^ b for a, b in zip(iv, salt, strict=True))


def gcm_srtcp_iv(salt: bytes, ssrc: int, index: int) -> bytes:
    """RFC 7714 §9.1: (0x0000 ‖ SSRC ‖ 0x0000 ‖ 0 ‖ SRTCP index31) XOR salt (96 bits)."""
    iv = struct.pack("!HIHI", 0, ssrc, 0, index & MAX_SRTCP_INDEX)
    return bytes(a ^ b for a, b in zip(iv, salt, strict=True))


def aes_cm_iv(salt: bytes, ssrc: int, index: int) -> bytes:
    """RFC 3711 §4.1.1: (k_s · 2^16) XOR (SSRC · 2^64) XOR (index · 2^16), 128 bits."""
    iv = int.from_bytes(salt, "big") << 16 ^ ssrc << 64 ^ index << 16
    return iv.to_bytes(16, "big")


# --------------------------------------------------------------------------------------------
# Per-key transform


class _Transform:
    """The session keys of one master key, with the cipher objects built once."""

    __slots__ = ("_rtcp_gcm", "_rtp_gcm", "keys", "profile")

    def __init__(self, profile: SrtpProfile, keys: SessionKeys) -> None:
        self.profile = profile
        self.keys = keys
        gcm = profile is SrtpProfile.AEAD_AES_128_GCM
        self._rtp_gcm = AESGCM(self.keys.rtp_key) if gcm else None
        self._rtcp_gcm = AESGCM(self.keys.rtcp_key) if gcm else None

    def _hmac(self, key: bytes, data: bytes) -> bytes:
        return hmac.new(key, data, hashlib.sha1).digest()[: self.profile.tag_len]

    # SRTP --------------------------------------------------------------------------------

    def seal_rtp(self, header: bytes, payload: bytes, ssrc: int, index: int, mki: bytes) -> (
        bytes
    ):
        k = self.keys
        roc, seq = index >> 16, index & 0xFFFF
        if self._rtp_gcm is not None:
            body = self._rtp_gcm.encrypt(gcm_srtp_iv(k.rtp_salt, ssrc, roc, seq), payload, header)
            return header + body + mki
        enc = _aes_ctr(k.rtp_key, aes_cm_iv(k.rtp_salt, ssrc, index), payload)
        tag = self._hmac(k.rtp_auth, header + enc + struct.pack("!I", roc))
        return header + enc + mki + tag

    def open_rtp(self, header: bytes, body: bytes, tag: bytes, ssrc: int, index: int) -> bytes:
        """``body`` is the ciphertext (GCM: including the tag, ``tag`` empty)."""
        k = self.keys
        roc, seq = index >> 16, index & 0xFFFF
        if self._rtp_gcm is not None:
            try:
                return self._rtp_gcm.decrypt(gcm_srtp_iv(k.rtp_salt, ssrc, roc, seq), body, header)
            except InvalidTag:
                raise _fail(Reason.BAD_TAG, f"SRTP GCM tag, SSRC {ssrc:#x}") from None
        expected = self._hmac(k.rtp_auth, header + body + struct.pack("!I", roc))
        if not hmac.compare_digest(expected, tag):
            raise _fail(Reason.BAD_TAG, f"SRTP HMAC tag, SSRC {ssrc:#x}")
        return _aes_ctr(k.rtp_key, aes_cm_iv(k.rtp_salt, ssrc, index), body)

    # SRTCP -------------------------------------------------------------------------------

    def seal_rtcp(self, packet: bytes, ssrc: int, index: int, encrypt: bool, mki: bytes) -> (
        bytes
    ):
        k = self.keys
        header, rest = packet[:RTCP_HEADER_LEN], packet[RTCP_HEADER_LEN:]
        eidx = struct.pack("!I", (SRTCP_E_FLAG if encrypt else 0) | index)
        if self._rtcp_gcm is not None:
            iv = gcm_srtcp_iv(k.rtcp_salt, ssrc, index)
            if encrypt:
                return header + self._rtcp_gcm.encrypt(iv, rest, header + eidx) + eidx + mki
            return packet + self._rtcp_gcm.encrypt(iv, b"", packet + eidx) + eidx + mki
        body = _aes_ctr(k.rtcp_key, aes_cm_iv(k.rtcp_salt, ssrc, index), rest) if encrypt else rest
        tag = self._hmac(k.rtcp_auth, header + body + eidx)
        return header + body + eidx + mki + tag

    def open_rtcp(
        self, header: bytes, body: bytes, eidx: bytes, tag: bytes, ssrc: int, index: int,
        encrypted: bool,
    ) -> bytes:
        """Returns the RTCP packet after the 8-octet header (decrypted if E = 1)."""
        k = self.keys
        if self._rtcp_gcm is not None:
            iv = gcm_srtcp_iv(k.rtcp_salt, ssrc, index)
            try:
                if encrypted:
                    return self._rtcp_gcm.decrypt(iv, body, header + eidx)
                # E = 0: body is plaintext ‖ 16-octet tag; the AAD is the whole packet ‖ E‖index
                clear, gtag = body[: -self.profile.tag_len], body[-self.profile.tag_len :]
                self._rtcp_gcm.decrypt(iv, gtag, header + clear + eidx)
                return clear
            except InvalidTag:
                raise _fail(Reason.BAD_TAG, f"SRTCP GCM tag, SSRC {ssrc:#x}") from None
        expected = self._hmac(k.rtcp_auth, header + body + eidx)
        if not hmac.compare_digest(expected, tag):
            raise _fail(Reason.BAD_TAG, f"SRTCP HMAC tag, SSRC {ssrc:#x}")
        if encrypted:
            return _aes_ctr(k.rtcp_key, aes_cm_iv(k.rtcp_salt, ssrc, index), body)
        return body


def _rtp_header_len(packet: bytes, limit: int) -> int:
    """Length of the RTP header (RFC 3550 §5.1, §5.3.1), checked against ``limit`` octets."""
    b0 = packet[0]
    if b0 >> 6 != 2:
        raise _fail(Reason.BAD_HEADER, f"RTP version {b0 >> 6}")
    hlen = RTP_HEADER_MIN + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # header extension: 16-bit profile, 16-bit length in 32-bit words
        if hlen + 4 > limit:
            raise _fail(Reason.MALFORMED, "RTP extension header truncated")
        hlen += 4 + 4 * struct.unpack_from("!H", packet, hlen + 2)[0]
    if hlen > limit:
        raise _fail(Reason.MALFORMED, f"RTP header {hlen} octets > {limit} available")
    return hlen


# --------------------------------------------------------------------------------------------
# Receiver


@dataclass(slots=True)
class RtpStreamState:
    """Receiver state of one (MKI, SSRC) SRTP stream (RFC 3711 §3.2.1, §3.3.1)."""

    roc: int
    s_l: int  # highest authenticated SEQ
    window: ReplayWindow


@dataclass(frozen=True, slots=True)
class Unprotected:
    """A delivered packet: the plain RTP/RTCP packet and the values it was accepted under."""

    packet: bytes
    ssrc: int
    index: int
    mki: bytes


def estimate_index(roc: int, s_l: int, seq: int) -> tuple[int, int]:
    """RFC 3711 §3.3.1 / Appendix A: (v, index) for SEQ given the stream's ROC and s_l.

    v may be −1 (the packet precedes the stream's first ROC) or ROC + 1.
    """
    if s_l < 32768:
        v = roc - 1 if seq - s_l > 32768 else roc
    else:
        v = roc + 1 if s_l - 32768 > seq else roc
    return v, (v << 16) + seq


class SrtpHistory:
    """Replay state that outlives a receiver: per (session keys, SSRC), the RTP stream state and
    the SRTCP replay list, shared by every :class:`SrtpReceiver` given it.

    A group call that is left and joined again, re-created by a late-entry probe, or re-keyed
    to the same keys gets a new receiver; without this, its fresh replay windows would accept
    again every packet of the earlier one still in flight or replayed (ADVERSARIAL.md A6). The
    key includes a digest of the session keys, so a new key starts clean (its indices may
    legitimately repeat). Bounded: beyond ``capacity`` streams the least recently used is
    forgotten (an old stream of a key no longer in use)."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self.rtp: OrderedDict[tuple[bytes, int], RtpStreamState] = OrderedDict()
        self.rtcp: OrderedDict[tuple[bytes, int], ReplayWindow] = OrderedDict()
        self.evicted = 0

    def _put(self, table: OrderedDict[tuple[bytes, int], object], key: tuple[bytes, int],
             value: object) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self.capacity:
            table.popitem(last=False)
            self.evicted += 1


def _fingerprint(keys: SessionKeys) -> bytes:
    return hashlib.sha256(keys.rtp_key + keys.rtp_salt + keys.rtp_auth + keys.rtcp_key
                          + keys.rtcp_salt + keys.rtcp_auth).digest()[:16]


class SrtpReceiver:
    """Receive side for any number of master keys (selected by MKI) and streams.

    Stream state is created only when a packet authenticates, so unauthenticated input never
    allocates memory; the stream table is bounded by ``max_streams`` and a new stream beyond it is
    refused (``CACHE_FULL``) rather than evicting another stream's replay state.
    """

    def __init__(
        self,
        profile: SrtpProfile = SrtpProfile.AEAD_AES_128_GCM,
        *,
        mki_len: int = 0,
        window: int = 64,
        max_streams: int = 1024,
        require_srtcp_encryption: bool = True,
        history: SrtpHistory | None = None,
    ) -> None:
        if mki_len not in (0, 4, 8):
            raise _fail(Reason.POLICY, "MKI length must be 0, 4 (PCK-ID) or 8 (GMK-ID‖GUK-ID)")
        self.profile = profile
        self.mki_len = mki_len
        self.window_size = window
        self.max_streams = max_streams
        self.require_srtcp_encryption = require_srtcp_encryption
        self._keys: dict[bytes, _Transform] = {}
        self._fp: dict[bytes, bytes] = {}  # MKI -> fingerprint of its session keys
        self.history = history
        self._rtp: dict[tuple[bytes, int], RtpStreamState] = {}
        self._rtcp: dict[tuple[bytes, int], ReplayWindow] = {}
        self._initial_roc: dict[tuple[bytes, int], int] = {}
        #: Rejects by reason value, and deliveries by kind ("rtp"/"rtcp").
        self.rejects: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        ReplayWindow(window)  # validates the size now rather than on the first packet

    # -- keys and streams

    def add_key(self, mki: bytes, master_key: bytes, master_salt: bytes) -> None:
        """Install a master key/salt under ``mki`` (b"" when ``mki_len`` is 0)."""
        if len(mki) != self.mki_len:
            raise _fail(Reason.MALFORMED, f"MKI is {len(mki)} octets, expected {self.mki_len}")
        self.add_session_keys(mki, derive_session_keys(self.profile, master_key, master_salt))

    def add_session_keys(self, mki: bytes, keys: SessionKeys) -> None:
        """Install already-derived session keys (the RFC 7714 §16/§17 vectors start here)."""
        if len(mki) != self.mki_len:
            raise _fail(Reason.MALFORMED, f"MKI is {len(mki)} octets, expected {self.mki_len}")
        self._keys[mki] = _Transform(self.profile, keys)
        self._fp[mki] = _fingerprint(keys)

    def remove_key(self, mki: bytes) -> None:
        """Forget a master key; its streams' replay state goes with it."""
        self._keys.pop(mki, None)
        for table in (self._rtp, self._rtcp, self._initial_roc):
            for k in [k for k in table if k[0] == mki]:
                del table[k]

    def set_roc(self, mki: bytes, ssrc: int, roc: int) -> None:
        """ROC for a stream not yet seen (late join; RCCm3 carries it, RFC 4771)."""
        self._initial_roc[(mki, ssrc)] = roc

    def rtp_stream(self, mki: bytes, ssrc: int) -> RtpStreamState | None:
        """The SRTP state of a stream, if it exists."""
        return self._rtp.get((mki, ssrc))

    def rtcp_window(self, mki: bytes, ssrc: int) -> ReplayWindow | None:
        """The SRTCP replay list of a stream, if it exists."""
        return self._rtcp.get((mki, ssrc))

    def snapshot(self) -> tuple[object, ...]:
        """All replay/ROC state (not counters), for tests that prove a reject changed nothing."""
        return (
            tuple(sorted((k, s.roc, s.s_l, s.window.snapshot()) for k, s in self._rtp.items())),
            tuple(sorted((k, w.snapshot()) for k, w in self._rtcp.items())),
        )

    def _reject(self, err: SrtpError) -> SrtpError:
        self.rejects[err.reason] += 1
        return err

    # -- SRTP

    def unprotect_rtp(self, packet: bytes) -> Unprotected:
        """Verify and decrypt one SRTP packet; raises :class:`SrtpError` with the reason."""
        try:
            return self._unprotect_rtp(packet)
        except SrtpError as err:
            raise self._reject(err) from None

    def _unprotect_rtp(self, packet: bytes) -> Unprotected:
        tag_len, mki_len = self.profile.tag_len, self.mki_len
        n = len(packet)
        if n < RTP_HEADER_MIN + tag_len + mki_len:
            raise _fail(Reason.MALFORMED, f"SRTP packet of {n} octets")
        gcm = self.profile is SrtpProfile.AEAD_AES_128_GCM
        hlen = _rtp_header_len(packet, n - tag_len - mki_len)
        if gcm:  # header ‖ ciphertext‖tag ‖ MKI
            mki = packet[n - mki_len :]
            body, tag = packet[hlen : n - mki_len], b""
        else:  # header ‖ ciphertext ‖ MKI ‖ tag
            mki = packet[n - tag_len - mki_len : n - tag_len]
            body, tag = packet[hlen : n - tag_len - mki_len], packet[n - tag_len :]
        transform = self._keys.get(mki)
        if transform is None:
            raise _fail(Reason.UNKNOWN_KEY, f"MKI {mki.hex()}")
        seq, ssrc = struct.unpack_from("!H", packet, 2)[0], struct.unpack_from("!I", packet, 8)[0]
        key = (mki, ssrc)
        stream = self._rtp.get(key)
        if stream is None and self.history is not None:  # the same keys in an earlier context
            stream = self.history.rtp.get((self._fp[mki], ssrc))
            if stream is not None:
                self._rtp[key] = stream
        if stream is None:
            v = self._initial_roc.get(key, 0)
            index = (v << 16) + seq
        else:
            v, index = estimate_index(stream.roc, stream.s_l, seq)
            if v < 0:
                raise _fail(Reason.REPLAY_OLD, f"SEQ {seq} precedes ROC 0")
            reason = stream.window.verdict(index)
            if reason is not None:
                raise _fail(reason, f"SRTP index {index}, SSRC {ssrc:#x}")
        if v > 0xFFFF_FFFF:
            raise _fail(Reason.MALFORMED, "ROC overflow")
        if stream is None and len(self._rtp) >= self.max_streams:
            raise _fail(Reason.CACHE_FULL, "SRTP stream table full")
        header = packet[:hlen]
        payload = transform.open_rtp(header, body, tag, ssrc, index)
        # Authenticated: now, and only now, state changes.
        if stream is None:
            stream = RtpStreamState(v, seq, ReplayWindow(self.window_size))
            self._rtp[key] = stream
            if self.history is not None:
                self.history._put(self.history.rtp, (self._fp[mki], ssrc), stream)
        stream.window.update(index)
        if stream.window.top == index:
            stream.roc, stream.s_l = v, seq
        self.accepted["rtp"] += 1
        return Unprotected(header + payload, ssrc, index, mki)

    # -- SRTCP

    def unprotect_rtcp(self, packet: bytes) -> Unprotected:
        """Verify and decrypt one SRTCP packet; raises :class:`SrtpError` with the reason."""
        try:
            return self._unprotect_rtcp(packet)
        except SrtpError as err:
            raise self._reject(err) from None

    def _unprotect_rtcp(self, packet: bytes) -> Unprotected:
        tag_len, mki_len = self.profile.tag_len, self.mki_len
        n = len(packet)
        if n < RTCP_HEADER_LEN + tag_len + 4 + mki_len:
            raise _fail(Reason.MALFORMED, f"SRTCP packet of {n} octets")
        if packet[0] >> 6 != 2:
            raise _fail(Reason.BAD_HEADER, f"RTCP version {packet[0] >> 6}")
        gcm = self.profile is SrtpProfile.AEAD_AES_128_GCM
        if gcm:  # header ‖ ciphertext‖tag ‖ E‖index ‖ MKI
            mki = packet[n - mki_len :]
            end = n - mki_len - 4
            eidx, body, tag = packet[end : end + 4], packet[RTCP_HEADER_LEN:end], b""
        else:  # header ‖ ciphertext ‖ E‖index ‖ MKI ‖ tag
            mki = packet[n - tag_len - mki_len : n - tag_len]
            end = n - tag_len - mki_len - 4
            eidx, body = packet[end : end + 4], packet[RTCP_HEADER_LEN:end]
            tag = packet[n - tag_len :]
        transform = self._keys.get(mki)
        if transform is None:
            raise _fail(Reason.UNKNOWN_KEY, f"MKI {mki.hex()}")
        word = struct.unpack("!I", eidx)[0]
        encrypted, index = bool(word & SRTCP_E_FLAG), word & MAX_SRTCP_INDEX
        if not encrypted and self.require_srtcp_encryption:
            raise _fail(Reason.POLICY, "unencrypted SRTCP (E = 0) refused by local policy")
        ssrc = struct.unpack_from("!I", packet, 4)[0]
        key = (mki, ssrc)
        window = self._rtcp.get(key)
        if window is None and self.history is not None:
            window = self.history.rtcp.get((self._fp[mki], ssrc))
            if window is not None:
                self._rtcp[key] = window
        if window is not None:
            reason = window.verdict(index)
            if reason is not None:
                raise _fail(reason, f"SRTCP index {index}, SSRC {ssrc:#x}")
        elif len(self._rtcp) >= self.max_streams:
            raise _fail(Reason.CACHE_FULL, "SRTCP stream table full")
        header = packet[:RTCP_HEADER_LEN]
        rest = transform.open_rtcp(header, body, eidx, tag, ssrc, index, encrypted)
        if window is None:
            window = ReplayWindow(self.window_size, index_bits=SRTCP_INDEX_BITS)
            self._rtcp[key] = window
            if self.history is not None:
                self.history._put(self.history.rtcp, (self._fp[mki], ssrc), window)
        window.update(index)
        self.accepted["rtcp"] += 1
        return Unprotected(header + rest, ssrc, index, mki)


# --------------------------------------------------------------------------------------------
# Sender


class SrtpSender:
    """Send side of one (master key, SSRC): protects RTP and RTCP, never reusing an index.

    The SRTP index of each packet is the smallest index above the previous one whose low 16 bits
    are the packet's SEQ (the ROC advances on wrap). A jump of 2^15 or more is refused, since the
    receiver's ROC estimate (RFC 3711 §3.3.1) could not follow it.
    """

    def __init__(
        self,
        profile: SrtpProfile,
        master_key: bytes,
        master_salt: bytes,
        *,
        ssrc: int,
        mki: bytes = b"",
        roc: int = 0,
        last_index: int | None = None,
        srtcp_next_index: int = 0,
        srtcp_encrypt: bool = True,
    ) -> None:
        transform = _Transform(profile, derive_session_keys(profile, master_key, master_salt))
        self._init_state(
            profile, transform, ssrc=ssrc, mki=mki, roc=roc, last_index=last_index,
            srtcp_next_index=srtcp_next_index, srtcp_encrypt=srtcp_encrypt,
        )

    @classmethod
    def from_session_keys(
        cls,
        profile: SrtpProfile,
        keys: SessionKeys,
        *,
        ssrc: int,
        mki: bytes = b"",
        roc: int = 0,
        srtcp_next_index: int = 0,
        srtcp_encrypt: bool = True,
    ) -> SrtpSender:
        """A sender on already-derived session keys (the RFC 7714 vectors start here)."""
        self = cls.__new__(cls)
        self._init_state(
            profile, _Transform(profile, keys), ssrc=ssrc, mki=mki, roc=roc,
            srtcp_next_index=srtcp_next_index, srtcp_encrypt=srtcp_encrypt,
        )
        return self

    def _init_state(
        self,
        profile: SrtpProfile,
        transform: _Transform,
        *,
        ssrc: int,
        mki: bytes = b"",
        roc: int = 0,
        last_index: int | None = None,
        srtcp_next_index: int = 0,
        srtcp_encrypt: bool = True,
    ) -> None:
        if not 0 <= roc <= 0xFFFF_FFFF or not 0 <= srtcp_next_index <= MAX_SRTCP_INDEX + 1:
            raise _fail(Reason.MALFORMED, "ROC is 32 bits, the SRTCP index 31 bits")
        self.profile = profile
        self.ssrc = ssrc
        self.mki = mki
        self._transform = transform
        self._roc0 = roc
        #: Last SRTP index used (None before the first packet). Persist it across restarts.
        self.last_index = last_index
        #: Next SRTCP index (not reset after rekey, RFC 3711 §3.4). Persist it across restarts.
        self.srtcp_next_index = srtcp_next_index
        self.srtcp_encrypt = srtcp_encrypt

    def _next_index(self, seq: int) -> int:
        last = self.last_index
        if last is None:
            return (self._roc0 << 16) | seq
        index = (last & ~0xFFFF) | seq
        if index <= last:
            index += 0x1_0000
        if index - last >= 0x8000:
            raise _fail(Reason.POLICY, f"SEQ jump {index - last} ≥ 2^15 from index {last}")
        return index

    def protect_rtp(self, packet: bytes) -> bytes:
        """Protect one RTP packet (its SSRC must be this sender's)."""
        n = len(packet)
        if n < RTP_HEADER_MIN:
            raise _fail(Reason.MALFORMED, f"RTP packet of {n} octets")
        hlen = _rtp_header_len(packet, n)
        seq, ssrc = struct.unpack_from("!H", packet, 2)[0], struct.unpack_from("!I", packet, 8)[0]
        if ssrc != self.ssrc:
            raise _fail(Reason.POLICY, f"SSRC {ssrc:#x} is not this sender's {self.ssrc:#x}")
        index = self._next_index(seq)
        if index > MAX_SRTP_INDEX:
            raise _fail(Reason.KEY_EXHAUSTED, "2^48 SRTP packets under this key")
        out = self._transform.seal_rtp(packet[:hlen], packet[hlen:], ssrc, index, self.mki)
        self.last_index = index
        return out

    def protect_rtcp(self, packet: bytes) -> bytes:
        """Protect one RTCP (compound) packet with the next SRTCP index."""
        if len(packet) < RTCP_HEADER_LEN or packet[0] >> 6 != 2:
            raise _fail(Reason.MALFORMED, "RTCP packet shorter than 8 octets or not version 2")
        ssrc = struct.unpack_from("!I", packet, 4)[0]
        if ssrc != self.ssrc:
            raise _fail(Reason.POLICY, f"SSRC {ssrc:#x} is not this sender's {self.ssrc:#x}")
        index = self.srtcp_next_index
        if index > MAX_SRTCP_INDEX:
            raise _fail(Reason.KEY_EXHAUSTED, "2^31 SRTCP packets under this key")
        out = self._transform.seal_rtcp(packet, ssrc, index, self.srtcp_encrypt, self.mki)
        self.srtcp_next_index = index + 1
        return out
