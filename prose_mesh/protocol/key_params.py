"""The "3GPP key parameters" General Extension (type 7) of a GMK I_MESSAGE (TS 33.180 §E.6).

What the stored spec text says (33.180 Rel-17 §E.6.1, read 2026 via the reference search) [V]:

* The payload sits in a MIKEY General Extension of type 7 inside the signed I_MESSAGE.
* Its content is a *protected payload* (MCData Protected Payload, §8.5.4) whose Payload ID and
  Payload sequence number are 0, whose DPPK-ID equals the I_MESSAGE's CSB ID (for a GMK: the
  recipient's GUK-ID), protected with the key the MIKEY message carries (the GMK itself).
* The protected content is a type-6 IE: Key Parameters IEI (1) · length (2) · content, with the
  content of Table E.6.1-1: Key Type (V, 1) · Status (V, 4) · Activation Time (V, 5) ·
  Expiry Time (V, 5) · Text (LV-E) · Group IDs (LV-E, key types GMK/MKFC/MuSiK) · Reserved.

What is not confirmed and therefore prose_mesh's own convention:

* [R] Key type values follow the key-ID purpose tags (GMK 0, PCK 1, ...; PROTOCOL.md §6.3 cites
  E.6.11 for both). One implementation (Streamwide [I]) numbers GMK as 1 instead.
* [I] Status bit 0 = "not revoked", bit 1 = "shared with gateway" (Streamwide).
* [EMU] Activation/expiry: the 40 most significant bits of the 64-bit NTP-UTC timestamp, i.e.
  32-bit NTP seconds ‖ 8 fraction bits (1/256 s resolution).
* [I] Group IDs element: #IDs (1) then per ID: IEI (1) · length (2) · group ID (UTF-8).
  The IEI values are [EMU].
* [EMU] The Reserved element (which receivers outside prose_mesh ignore, per E.6.1) carries
  prose_mesh TLVs: group kind, revoking flag, ProSe Layer-2 group ID, the ad-hoc/temporary member
  list and the constituent groups of a temporary group.
* [EMU] Protected payload layout (§8.5.4 not read): payload ID (1) = 0 · sequence (4) = 0 ·
  algorithm (1) = 1 AES-128-GCM · DPPK-ID (4) · IV (12, random per message) · ciphertext ‖
  tag (16). The 22 header octets are the GCM associated data.

The whole extension is also covered by the distributor's ECCSI SIGN, so the GCM tag adds
confidentiality (group ID, member list) rather than authenticity.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from prose_mesh.constants import KEY_PURPOSE_GMK
from prose_mesh.crypto.identity import NTP_UNIX_OFFSET
from prose_mesh.errors import CryptoError
from prose_mesh.wire._common import BAD_HEADER, UNKNOWN_TYPE, Reader, fail

KEY_TYPE_GMK: Final = KEY_PURPOSE_GMK  # [R] E.6.11
STATUS_NOT_REVOKED: Final = 0x0000_0001  # [I] E.6.9
KEY_PARAMETERS_IEI: Final = 0x06  # [EMU] "type 6 IE"; the IEI value itself is unconfirmed
GROUP_ID_IEI: Final = 0x01  # [EMU] MCPTT group ID inside the Group IDs element

PP_ALG_AES_128_GCM: Final = 1  # [EMU]
_PP_HEADER_LEN: Final = 1 + 4 + 1 + 4 + 12
_TAG_LEN: Final = 16
MAX_PLAINTEXT: Final = 16_384  # bound on what a receiver decrypts [EMU]

# [EMU] TLV types inside the Reserved element
TLV_KIND: Final = 1
TLV_MEMBER: Final = 2
TLV_FLAGS: Final = 3
TLV_L2_GROUP_ID: Final = 4
TLV_CONSTITUENT: Final = 5
FLAG_REVOKING: Final = 0x01

KINDS: Final = ("standard", "adhoc", "temporary")


class KeyParamsTagError(CryptoError):
    """The protected key parameters did not authenticate under the decapsulated GMK."""

    reason = "BAD_TAG"


def time_to_field(unix: float) -> int:
    """Unix seconds → the [EMU] 40-bit time field (NTP seconds ‖ 8 fraction bits)."""
    return int((unix + NTP_UNIX_OFFSET) * 256) & 0xFF_FFFF_FFFF


def field_to_time(value: int) -> float:
    """The [EMU] 40-bit time field → Unix seconds (exact: multiples of 1/256)."""
    return value / 256 - NTP_UNIX_OFFSET


def quantize(unix: float) -> float:
    """The time a receiver will decode for ``unix`` (distributors record this value)."""
    return field_to_time(time_to_field(unix))


@dataclass(frozen=True)
class KeyParameters:
    """Table E.6.1-1 content plus the [EMU] prose_mesh block (see module docstring)."""

    activation: float
    expiry: float
    group_id: str
    kind: str = "standard"
    members: tuple[str, ...] = ()
    revoking: bool = False
    l2_group_id: int = 0
    constituents: tuple[str, ...] = ()
    text: str = ""
    key_type: int = KEY_TYPE_GMK
    status: int = STATUS_NOT_REVOKED

    # -- encoding

    def _reserved(self) -> bytes:
        tlvs = [_tlv(TLV_KIND, bytes([KINDS.index(self.kind)]))]
        tlvs.append(_tlv(TLV_FLAGS, bytes([FLAG_REVOKING if self.revoking else 0])))
        if self.l2_group_id:
            tlvs.append(_tlv(TLV_L2_GROUP_ID, self.l2_group_id.to_bytes(3, "big")))
        tlvs += [_tlv(TLV_MEMBER, m.encode()) for m in self.members]
        tlvs += [_tlv(TLV_CONSTITUENT, c.encode()) for c in self.constituents]
        return b"".join(tlvs)

    def encode(self) -> bytes:
        """The Key Parameters IE: IEI · length · content."""
        gid = self.group_id.encode()
        group_ids = bytes([1, GROUP_ID_IEI]) + _u16(len(gid)) + gid
        text = self.text.encode()
        content = (
            bytes([self.key_type])
            + self.status.to_bytes(4, "big")
            + time_to_field(self.activation).to_bytes(5, "big")
            + time_to_field(self.expiry).to_bytes(5, "big")
            + _lve(text)
            + _lve(group_ids)
            + _lve(self._reserved())
        )
        return bytes([KEY_PARAMETERS_IEI]) + _lve(content)


def _u16(n: int) -> bytes:
    if not 0 <= n <= 0xFFFF:
        raise ValueError("element longer than 65535 octets")
    return n.to_bytes(2, "big")


def _lve(data: bytes) -> bytes:
    return _u16(len(data)) + data


def _tlv(t: int, value: bytes) -> bytes:
    return bytes([t]) + _lve(value)


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise fail(BAD_HEADER, f"{what} is not UTF-8") from None


def _sub(r: Reader, what: str) -> Reader:
    """An LV-E element of ``r`` as its own bounded reader; ``r`` moves past it."""
    n = r.u16(f"{what} length")
    r.need(n, what)
    sub = Reader(r.data, what, r.pos, r.pos + n)
    r.pos += n
    return sub


def parse_key_parameters(data: bytes) -> KeyParameters:
    """Strictly parse the Key Parameters IE (the decrypted protected payload)."""
    r = Reader(data, "key parameters")
    if r.u8("Key Parameters IEI") != KEY_PARAMETERS_IEI:
        raise fail(UNKNOWN_TYPE, "not a Key Parameters IE")
    c = _sub(r, "Key Parameters content")
    r.done()
    key_type = c.u8("Key Type")
    status = c.u32("Status")
    activation = field_to_time(int.from_bytes(c.take(5, "Activation Time"), "big"))
    expiry = field_to_time(int.from_bytes(c.take(5, "Expiry Time"), "big"))
    text = _text(c.take(c.u16("Text length"), "Text"), "Text")
    g = _sub(c, "Group IDs")
    group_ids: list[str] = []
    for _ in range(g.u8("number of group IDs")):
        if g.u8("group ID IEI") != GROUP_ID_IEI:
            raise fail(UNKNOWN_TYPE, "group ID IEI")
        group_ids.append(_text(g.take(g.u16("group ID length"), "group ID"), "group ID"))
    g.done()
    if len(group_ids) != 1:
        raise fail(BAD_HEADER, f"{len(group_ids)} group IDs; a GMK serves exactly one group")
    res = _sub(c, "Reserved")
    c.done()
    kind: str | None = None
    flags = 0
    l2 = 0
    members: list[str] = []
    constituents: list[str] = []
    while res.remaining():
        t = res.u8("TLV type")
        v = res.take(res.u16("TLV length"), "TLV value")
        if t == TLV_KIND and kind is None and len(v) == 1 and v[0] < len(KINDS):
            kind = KINDS[v[0]]
        elif t == TLV_FLAGS and len(v) == 1:
            flags = v[0]
        elif t == TLV_L2_GROUP_ID and len(v) == 3:
            l2 = int.from_bytes(v, "big")
        elif t == TLV_MEMBER:
            members.append(_text(v, "member URI"))
        elif t == TLV_CONSTITUENT:
            constituents.append(_text(v, "constituent group"))
        else:
            raise fail(UNKNOWN_TYPE, f"prose_mesh key-parameter TLV {t} (length {len(v)})")
    if kind is None:
        raise fail(BAD_HEADER, "no group kind in the key parameters")
    if len(set(members)) != len(members):
        raise fail(BAD_HEADER, "member listed twice")
    return KeyParameters(
        activation, expiry, group_ids[0], kind, tuple(members), bool(flags & FLAG_REVOKING), l2,
        tuple(constituents), text, key_type, status,
    )  # fmt: skip


# ------------------------------------------------------------------ protected payload
def protect(params: KeyParameters, *, gmk: bytes, dppk_id: int) -> bytes:
    """The EXT 7 data: [EMU] protected-payload header ‖ AES-128-GCM(GMK, IV, IE, AAD=header)."""
    iv = secrets.token_bytes(12)  # never the injectable rng: a repeated GCM IV leaks H
    header = bytes([0]) + bytes(4) + bytes([PP_ALG_AES_128_GCM]) + dppk_id.to_bytes(4, "big") + iv
    return header + AESGCM(gmk).encrypt(iv, params.encode(), header)


def unprotect(data: bytes, *, gmk: bytes, dppk_id: int) -> KeyParameters:
    """Check the header, decrypt and parse; ParseError or :class:`KeyParamsTagError`."""
    r = Reader(data, "protected payload")
    r.u8("payload ID")  # 0 by the sender, ignored by the receiver (E.6.1)
    r.u32("payload sequence number")
    alg = r.u8("payload algorithm")
    if alg != PP_ALG_AES_128_GCM:
        raise fail(UNKNOWN_TYPE, f"protected payload algorithm {alg}")
    if r.u32("DPPK-ID") != dppk_id:
        raise fail(BAD_HEADER, "DPPK-ID differs from the CSB ID")
    iv = r.take(12, "IV")
    body_len = r.remaining()
    if not _TAG_LEN <= body_len <= MAX_PLAINTEXT + _TAG_LEN:
        raise fail(BAD_HEADER, f"protected payload body of {body_len} octets")
    try:
        plain = AESGCM(gmk).decrypt(iv, data[_PP_HEADER_LEN:], data[:_PP_HEADER_LEN])
    except InvalidTag:
        raise KeyParamsTagError("key parameters do not authenticate under the GMK") from None
    return parse_key_parameters(plain)


__all__ = [
    "KEY_TYPE_GMK",
    "STATUS_NOT_REVOKED",
    "KeyParameters",
    "KeyParamsTagError",
    "field_to_time",
    "parse_key_parameters",
    "protect",
    "quantize",
    "time_to_field",
    "unprotect",
]
