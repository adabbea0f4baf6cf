"""Strict, Scapy-free MIKEY codec: I_MESSAGE parser and builders (RFC 3830, 6043, 6509; TS 33.180).

Receivers parse many I_MESSAGEs, so this module walks the next-payload chain with plain
``int.from_bytes`` and returns frozen dataclasses; :mod:`prose_mesh.wire.mikey` holds the
readable Scapy layers and the tests prove both produce the same bytes.

Receiver rules (PROTOCOL.md §6.2): walk the chain, never fixed offsets; HDR first (version 1),
SIGN last (S type 2 = ECCSI, 129 octets) with nothing after it; unknown payload, data, map,
timestamp or ID types → ``UNKNOWN_TYPE``; a repeated singleton payload or an over-long chain →
``LOOP``; length overruns → ``TRUNCATED``; octets after SIGN → ``TRAILING``.

Signature coverage (§6.4): the ECCSI signature covers ``msg[0 : len − 129]``, i.e. everything up
to and including the SIGN payload's S-type/length octets. Builders therefore assemble those
bytes and call ``sign(bytes_to_sign) -> 129 octets``; no crypto is imported here.

CS-ID map decision (PROTOCOL.md §1.2): Wireshark 4.0.17 marks a GENERIC-ID map (#CS ≥ 1,
map type 2) "Malformed" after HDR. The GMK builder therefore emits the **empty map** (#CS = 0,
map type 1; allowed by TS 36.579-1) by default, with CSB ID = the recipient's GUK-ID; a receiver
recovers GMK-ID = GUK-ID ⊕ UserSalt after decapsulation (33.180 F.1.3). ``generic_id_map=True``
emits the 33.180 form instead (CS-ID 4, SPI = GMK-ID ‖ GUK-ID). Parsers accept SRTP-ID, empty
and GENERIC-ID maps.

PSK-mode group call key message [EMU] (RFC 3830 §3.1 layout, data type 0 "Pre-shared key"):
``HDR(data type 0, CSB ID = group session key ID) · T(NTP-UTC) · RAND · IDR(1, caller's URI) ·
IDR(8, caller's UID) · SP · KEMAC · SIGN``. The KEMAC (RFC 3830 §6.2) carries encryption
algorithm 1 (AES-CM-128) and the Key data sub-payload (§6.13: TGK+SALT with KV = SPI) encrypted
under an encryption key derived from the GMK with the MIKEY PRF (§4.1.4, encr label); its MAC
algorithm is 0 (NULL) because the caller's ECCSI SIGN authenticates the whole message, which a
group-shared MAC key could not (any member could forge it). The key derivation and encryption
belong to :mod:`prose_mesh.crypto`; this module only places the octets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from prose_mesh.wire._common import (
    BAD_HEADER,
    BAD_LENGTH,
    LOOP,
    MISSING,
    UNKNOWN_TYPE,
    Reader,
    fail,
)

# --- payload types (RFC 3830 §6.1, RFC 6043, RFC 6509) [V Wireshark]
PT_LAST: Final = 0
PT_KEMAC: Final = 1
PT_SIGN: Final = 4
PT_T: Final = 5
PT_SP: Final = 10
PT_RAND: Final = 11
PT_IDR: Final = 14
PT_GENERAL_EXT: Final = 21
PT_SAKKE: Final = 26

DATA_TYPE_PSK_INIT: Final = 0
DATA_TYPE_SAKKE: Final = 26
PRF_MIKEY_1: Final = 0
PRF_HMAC_SHA256: Final = 1

MAP_SRTP_ID: Final = 0
MAP_EMPTY: Final = 1
MAP_GENERIC_ID: Final = 2

TS_NTP_UTC: Final = 0
TS_NTP: Final = 1
TS_COUNTER: Final = 2
_TS_LEN: Final = {TS_NTP_UTC: 8, TS_NTP: 8, TS_COUNTER: 4}

ROLE_IDRI: Final = 1
ROLE_IDRR: Final = 2
ROLE_IDRKMS: Final = 3
ROLE_IDRPSK: Final = 4
ROLE_IDRAPP: Final = 5
ROLE_IDRKMSI: Final = 6
ROLE_IDRKMSR: Final = 7
ROLE_UID_I: Final = 8  # [I] initiator UID (33.180 E.7 per Streamwide)
ROLE_UID_R: Final = 9  # [I] responder UID
ID_NAI: Final = 0
ID_URI: Final = 1
ID_BYTES: Final = 2

SAKKE_PARAMS_SET_1: Final = 1
SAKKE_ID_SCHEME_TEL_URI: Final = 1  # [R] RFC 6509 monthly tel URI
SAKKE_ID_SCHEME_3GPP_UID: Final = 2  # [I]
SAKKE_DATA_LEN: Final = 273  # 04 ‖ Rx(128) ‖ Ry(128) ‖ H(16), parameter set 1

EXT_SAKKE_TO_SELF: Final = 6  # [V] 33.180 E.5
EXT_KEY_PARAMETERS: Final = 7  # [I] 33.180 E.6

S_TYPE_ECCSI: Final = 2
SIGNATURE_LEN: Final = 129

ENCR_NULL: Final = 0
ENCR_AES_CM_128: Final = 1
ENCR_AES_KW_128: Final = 2
MAC_NULL: Final = 0
MAC_HMAC_SHA1_160: Final = 1
_MAC_LEN: Final = {MAC_NULL: 0, MAC_HMAC_SHA1_160: 20}

MAX_PAYLOADS: Final = 24  # a bound on the chain walk (the I_MESSAGE has 11)

# Default SRTP security policy of 33.180 Table E.2-1 (PROTOCOL.md §6.2) [V]:
# encr AES-GCM, key 16, auth RCCm3, salt 12, PRF AES-CM, KDR 0, ROC rate 1, SRTP tag 4,
# SRTCP tag 0, AEAD tag 16.
DEFAULT_SP_PARAMS: Final[tuple[tuple[int, bytes], ...]] = (
    (0, b"\x06"),
    (1, b"\x10"),
    (2, b"\x04"),
    (4, b"\x0c"),
    (5, b"\x00"),
    (6, b"\x00"),
    (13, b"\x01"),
    (18, b"\x04"),
    (19, b"\x00"),
    (20, b"\x10"),
)


def _u16(v: int) -> bytes:
    return v.to_bytes(2, "big")


def _u32(v: int) -> bytes:
    return v.to_bytes(4, "big")


# ------------------------------------------------------------------ payloads
@dataclass(frozen=True)
class SrtpIdEntry:
    """RFC 3830 §6.1.1 SRTP-ID map entry."""

    policy_no: int
    ssrc: int
    roc: int

    def encode(self) -> bytes:
        return bytes([self.policy_no]) + _u32(self.ssrc) + _u32(self.roc)


@dataclass(frozen=True)
class GenericIdEntry:
    """RFC 6043 §6.1.2 GENERIC-ID map entry."""

    cs_id: int
    prot_type: int = 0
    s_flag: int = 0
    policies: bytes = b"\x00"
    session_data: bytes = b""
    spi: bytes = b""

    def encode(self) -> bytes:
        return (
            bytes([self.cs_id, self.prot_type, (self.s_flag << 7) | len(self.policies)])
            + self.policies
            + _u16(len(self.session_data))
            + self.session_data
            + bytes([len(self.spi)])
            + self.spi
        )


@dataclass(frozen=True)
class Hdr:
    """Common header (RFC 3830 §6.1 + RFC 6043 §6.1 map types). ``next_payload`` is derived."""

    csb_id: int
    data_type: int = DATA_TYPE_SAKKE
    prf: int = PRF_HMAC_SHA256
    v: int = 0
    map_type: int = MAP_EMPTY
    srtp_map: tuple[SrtpIdEntry, ...] = ()
    generic_map: tuple[GenericIdEntry, ...] = ()
    version: int = 1

    @property
    def n_cs(self) -> int:
        return len(self.srtp_map) if self.map_type == MAP_SRTP_ID else len(self.generic_map)

    def encode(self, next_payload: int) -> bytes:
        head = bytes([self.version, self.data_type, next_payload, (self.v << 7) | self.prf])
        entries = self.srtp_map if self.map_type == MAP_SRTP_ID else self.generic_map
        return (
            head
            + _u32(self.csb_id)
            + bytes([self.n_cs, self.map_type])
            + b"".join(e.encode() for e in entries)
        )


@dataclass(frozen=True)
class T:
    """Timestamp payload (RFC 3830 §6.6); NTP-UTC is mandatory for 3GPP MC (33.179 §E.1.1)."""

    value: int
    ts_type: int = TS_NTP_UTC
    pt: int = field(default=PT_T, init=False, repr=False)

    def encode(self, next_payload: int) -> bytes:
        return bytes([next_payload, self.ts_type]) + self.value.to_bytes(
            _TS_LEN[self.ts_type], "big"
        )


@dataclass(frozen=True)
class Rand:
    """RAND payload (RFC 3830 §6.11)."""

    rand: bytes
    pt: int = field(default=PT_RAND, init=False, repr=False)

    def encode(self, next_payload: int) -> bytes:
        return bytes([next_payload, len(self.rand)]) + self.rand


@dataclass(frozen=True)
class Idr:
    """IDR payload (RFC 6043 §6.6): role, ID type, 16-bit length, ID."""

    role: int
    id_type: int
    id: bytes
    pt: int = field(default=PT_IDR, init=False, repr=False)

    def encode(self, next_payload: int) -> bytes:
        return bytes([next_payload, self.role, self.id_type]) + _u16(len(self.id)) + self.id


@dataclass(frozen=True)
class SP:
    """Security Policy payload (RFC 3830 §6.10): {type, length, value} parameters."""

    params: tuple[tuple[int, bytes], ...] = DEFAULT_SP_PARAMS
    policy_no: int = 0
    prot_type: int = 0
    pt: int = field(default=PT_SP, init=False, repr=False)

    def encode(self, next_payload: int) -> bytes:
        body = b"".join(bytes([t, len(v)]) + v for t, v in self.params)
        return bytes([next_payload, self.policy_no, self.prot_type]) + _u16(len(body)) + body


@dataclass(frozen=True)
class Sakke:
    """SAKKE payload (RFC 6509 §4.2): params, ID scheme, 16-bit length, SAKKE data."""

    data: bytes
    params: int = SAKKE_PARAMS_SET_1
    id_scheme: int = SAKKE_ID_SCHEME_3GPP_UID
    pt: int = field(default=PT_SAKKE, init=False, repr=False)

    def encode(self, next_payload: int) -> bytes:
        return bytes([next_payload, self.params, self.id_scheme]) + _u16(len(self.data)) + self.data


@dataclass(frozen=True)
class GeneralExt:
    """General Extension payload (RFC 3830 §6.15): type 6 SAKKE-to-self, 7 key parameters."""

    type: int
    data: bytes
    pt: int = field(default=PT_GENERAL_EXT, init=False, repr=False)

    def encode(self, next_payload: int) -> bytes:
        return bytes([next_payload, self.type]) + _u16(len(self.data)) + self.data


@dataclass(frozen=True)
class Kemac:
    """KEMAC payload (RFC 3830 §6.2): encr alg, encrypted Key data sub-payloads, MAC alg, MAC."""

    encr_data: bytes
    encr_alg: int = ENCR_AES_CM_128
    mac_alg: int = MAC_NULL
    mac: bytes = b""
    pt: int = field(default=PT_KEMAC, init=False, repr=False)

    def encode(self, next_payload: int) -> bytes:
        return (
            bytes([next_payload, self.encr_alg])
            + _u16(len(self.encr_data))
            + self.encr_data
            + bytes([self.mac_alg])
            + self.mac
        )


Payload = T | Rand | Idr | SP | Sakke | GeneralExt | Kemac


@dataclass(frozen=True)
class MikeyMessage:
    """A parsed MIKEY message: HDR, the payloads between HDR and SIGN, and the SIGN split."""

    hdr: Hdr
    payloads: tuple[Payload, ...]
    s_type: int
    signature: bytes
    signed_part: bytes  # msg[0 : len − 129], SIGN S-type/length octets included (§6.4)

    def encode(self) -> bytes:
        """Re-serialise from the fields (equals the parsed bytes for a valid message)."""
        return encode_message(self.hdr, self.payloads, self.signature, self.s_type)

    def find(self, pt: int) -> list[Payload]:
        return [p for p in self.payloads if p.pt == pt]

    def first(self, pt: int) -> Payload | None:
        for p in self.payloads:
            if p.pt == pt:
                return p
        return None

    @property
    def t(self) -> T:
        return self.first(PT_T)  # type: ignore[return-value]

    @property
    def rand(self) -> bytes:
        return self.first(PT_RAND).rand  # type: ignore[union-attr]

    @property
    def sakke(self) -> Sakke | None:
        return self.first(PT_SAKKE)  # type: ignore[return-value]

    @property
    def sp(self) -> SP | None:
        return self.first(PT_SP)  # type: ignore[return-value]

    @property
    def kemac(self) -> Kemac | None:
        return self.first(PT_KEMAC)  # type: ignore[return-value]

    def idr(self, role: int) -> bytes | None:
        """The ID of the first IDR with ``role`` (receivers try 8/9 first, then 1/2)."""
        for p in self.payloads:
            if isinstance(p, Idr) and p.role == role:
                return p.id
        return None

    def ext(self, ext_type: int) -> GeneralExt | None:
        for p in self.payloads:
            if isinstance(p, GeneralExt) and p.type == ext_type:
                return p
        return None

    @property
    def initiator_id(self) -> bytes | None:
        return self.idr(ROLE_UID_I) or self.idr(ROLE_IDRI)

    @property
    def responder_id(self) -> bytes | None:
        return self.idr(ROLE_UID_R) or self.idr(ROLE_IDRR)

    @property
    def spi(self) -> bytes | None:
        """The GENERIC-ID map's SPI of the first entry, if any."""
        return self.hdr.generic_map[0].spi if self.hdr.generic_map else None


# ------------------------------------------------------------------ encoding
def _chain(hdr: Hdr, payloads: Sequence[Payload], sign_header: bytes) -> bytes:
    types = [p.pt for p in payloads] + [PT_SIGN]
    out = [hdr.encode(types[0])]
    for i, p in enumerate(payloads):
        out.append(p.encode(types[i + 1]))
    out.append(sign_header)
    return b"".join(out)


def _sign_header(s_type: int = S_TYPE_ECCSI, length: int = SIGNATURE_LEN) -> bytes:
    return _u16((s_type << 12) | length)


def bytes_to_sign(hdr: Hdr, payloads: Sequence[Payload]) -> bytes:
    """Everything the ECCSI signature covers: the message through the SIGN S-type/length."""
    return _chain(hdr, payloads, _sign_header())


def encode_message(
    hdr: Hdr, payloads: Sequence[Payload], signature: bytes, s_type: int = S_TYPE_ECCSI
) -> bytes:
    return _chain(hdr, payloads, _sign_header(s_type, len(signature))) + signature


def sign_message(
    hdr: Hdr, payloads: Sequence[Payload], sign: Callable[[bytes], bytes]
) -> bytes:
    """Assemble, sign (``sign`` gets the §6.4 bytes-to-sign, returns 129 octets) and append."""
    tbs = bytes_to_sign(hdr, payloads)
    signature = sign(tbs)
    if len(signature) != SIGNATURE_LEN:
        raise ValueError(f"sign() returned {len(signature)} octets, ECCSI needs 129")
    return tbs + signature


# ------------------------------------------------------------------ parsing
def _parse_hdr(r: Reader) -> tuple[Hdr, int]:
    version = r.u8("HDR version")
    if version != 1:
        raise fail(BAD_HEADER, f"MIKEY version {version}")
    data_type = r.u8("HDR data type")
    if data_type not in (DATA_TYPE_PSK_INIT, DATA_TYPE_SAKKE):
        raise fail(UNKNOWN_TYPE, f"MIKEY data type {data_type}")
    next_payload = r.u8("HDR next payload")
    vprf = r.u8("HDR V/PRF")
    prf = vprf & 0x7F
    if prf not in (PRF_MIKEY_1, PRF_HMAC_SHA256):
        raise fail(UNKNOWN_TYPE, f"PRF function {prf}")
    csb_id = r.u32("CSB ID")
    n_cs = r.u8("#CS")
    map_type = r.u8("CS ID map type")
    srtp: list[SrtpIdEntry] = []
    generic: list[GenericIdEntry] = []
    if map_type == MAP_SRTP_ID:
        r.need(9 * n_cs, "SRTP-ID map")
        for _ in range(n_cs):
            srtp.append(SrtpIdEntry(r.u8("policy"), r.u32("SSRC"), r.u32("ROC")))
    elif map_type == MAP_EMPTY:
        if n_cs != 0:
            raise fail(BAD_HEADER, f"empty CS ID map with #CS = {n_cs}")
    elif map_type == MAP_GENERIC_ID:
        for _ in range(n_cs):
            cs_id = r.u8("CS-ID")
            prot = r.u8("Prot type")
            snp = r.u8("S/#P")
            policies = r.take(snp & 0x7F, "policy numbers")
            session_data = r.take(r.u16("session data length"), "session data")
            spi = r.take(r.u8("SPI length"), "SPI")
            generic.append(GenericIdEntry(cs_id, prot, snp >> 7, policies, session_data, spi))
    else:
        raise fail(UNKNOWN_TYPE, f"CS ID map type {map_type}")
    hdr = Hdr(csb_id, data_type, prf, vprf >> 7, map_type, tuple(srtp), tuple(generic), version)
    return hdr, next_payload


def _parse_payload(pt: int, r: Reader) -> tuple[Payload, int]:
    nxt = r.u8("next payload")
    if pt == PT_T:
        ts_type = r.u8("TS type")
        if ts_type not in _TS_LEN:
            raise fail(UNKNOWN_TYPE, f"TS type {ts_type}")
        n = _TS_LEN[ts_type]
        return T(int.from_bytes(r.take(n, "TS value"), "big"), ts_type), nxt
    if pt == PT_RAND:
        n = r.u8("RAND length")
        if n < 16:
            raise fail(BAD_LENGTH, f"RAND of {n} octets (RFC 3830: at least 128 bits)")
        return Rand(r.take(n, "RAND")), nxt
    if pt == PT_IDR:
        role = r.u8("ID role")
        id_type = r.u8("ID type")
        if not 1 <= role <= 9:
            raise fail(UNKNOWN_TYPE, f"IDR role {role}")
        if id_type not in (ID_NAI, ID_URI, ID_BYTES):
            raise fail(UNKNOWN_TYPE, f"ID type {id_type}")
        return Idr(role, id_type, r.take(r.u16("ID length"), "ID")), nxt
    if pt == PT_SP:
        policy_no = r.u8("policy no")
        prot = r.u8("prot type")
        n = r.u16("policy param length")
        r.need(n, "policy params")
        sub = Reader(r.data, "SP params", r.pos, r.pos + n)
        r.pos += n
        params: list[tuple[int, bytes]] = []
        while sub.remaining():
            ptype = sub.u8("param type")
            params.append((ptype, sub.take(sub.u8("param length"), "param value")))
        return SP(tuple(params), policy_no, prot), nxt
    if pt == PT_SAKKE:
        params_id = r.u8("SAKKE params")
        id_scheme = r.u8("ID scheme")
        n = r.u16("SAKKE data length")
        if params_id != SAKKE_PARAMS_SET_1:
            raise fail(UNKNOWN_TYPE, f"SAKKE parameter set {params_id}")
        if n != SAKKE_DATA_LEN:
            raise fail(BAD_LENGTH, f"SAKKE data of {n} octets, parameter set 1 needs 273")
        return Sakke(r.take(n, "SAKKE data"), params_id, id_scheme), nxt
    if pt == PT_GENERAL_EXT:
        ext_type = r.u8("extension type")
        return GeneralExt(ext_type, r.take(r.u16("extension length"), "extension data")), nxt
    if pt == PT_KEMAC:
        encr_alg = r.u8("encr alg")
        if encr_alg not in (ENCR_NULL, ENCR_AES_CM_128, ENCR_AES_KW_128):
            raise fail(UNKNOWN_TYPE, f"KEMAC encr alg {encr_alg}")
        encr_data = r.take(r.u16("encr data length"), "encr data")
        mac_alg = r.u8("MAC alg")
        if mac_alg not in _MAC_LEN:
            raise fail(UNKNOWN_TYPE, f"KEMAC MAC alg {mac_alg}")
        return Kemac(encr_data, encr_alg, mac_alg, r.take(_MAC_LEN[mac_alg], "MAC")), nxt
    raise fail(UNKNOWN_TYPE, f"MIKEY payload type {pt}")


_REPEATABLE: Final = frozenset((PT_IDR, PT_GENERAL_EXT))


def parse_mikey(data: bytes) -> MikeyMessage:
    """Strictly parse a signed MIKEY message (HDR first, SIGN last) by walking the chain."""
    r = Reader(data, "MIKEY")
    hdr, nxt = _parse_hdr(r)
    payloads: list[Payload] = []
    seen: set[int] = set()
    while nxt != PT_SIGN:
        if nxt == PT_LAST:
            raise fail(MISSING, "chain ends without a SIGN payload")
        if len(payloads) >= MAX_PAYLOADS:
            raise fail(LOOP, f"more than {MAX_PAYLOADS} payloads")
        if nxt in seen and nxt not in _REPEATABLE:
            raise fail(LOOP, f"payload type {nxt} repeated")
        seen.add(nxt)
        payload, nxt = _parse_payload(nxt, r)
        payloads.append(payload)
    sign_at = r.pos
    st_len = r.u16("SIGN S type/length")
    s_type, s_len = st_len >> 12, st_len & 0xFFF
    if s_type != S_TYPE_ECCSI:
        raise fail(UNKNOWN_TYPE, f"SIGN S type {s_type}")
    if s_len != SIGNATURE_LEN:
        raise fail(BAD_LENGTH, f"SIGN length {s_len}, ECCSI needs 129")
    signature = r.take(s_len, "signature")
    r.done()
    return MikeyMessage(hdr, tuple(payloads), s_type, signature, bytes(data[: sign_at + 2]))


def parse_i_message(data: bytes) -> MikeyMessage:
    """Parse a MIKEY-SAKKE I_MESSAGE (data type 26): also requires T, RAND and SAKKE (§6.2)."""
    msg = parse_mikey(data)
    if msg.hdr.data_type != DATA_TYPE_SAKKE:
        raise fail(UNKNOWN_TYPE, f"data type {msg.hdr.data_type} is not SAKKE (26)")
    for pt, name in ((PT_T, "T"), (PT_RAND, "RAND"), (PT_SAKKE, "SAKKE")):
        if msg.first(pt) is None:
            raise fail(MISSING, f"I_MESSAGE without {name}")
    return msg


def parse_psk_message(data: bytes) -> MikeyMessage:
    """Parse the [EMU] PSK-mode group call key message (data type 0): T, RAND, KEMAC required."""
    msg = parse_mikey(data)
    if msg.hdr.data_type != DATA_TYPE_PSK_INIT:
        raise fail(UNKNOWN_TYPE, f"data type {msg.hdr.data_type} is not PSK init (0)")
    for pt, name in ((PT_T, "T"), (PT_RAND, "RAND"), (PT_KEMAC, "KEMAC")):
        if msg.first(pt) is None:
            raise fail(MISSING, f"PSK message without {name}")
    return msg


# ------------------------------------------------------------------ builders
def ntp_from_unix(seconds: float) -> int:
    """64-bit NTP timestamp (RFC 5905): upper 32 bits are seconds since 1900."""
    whole = int(seconds) + 2_208_988_800
    frac = int((seconds - int(seconds)) * (1 << 32)) & 0xFFFFFFFF
    return ((whole & 0xFFFFFFFF) << 32) | frac


def i_message_payloads(
    *,
    t_ntp: int,
    rand: bytes,
    initiator_uid: bytes,
    responder_uid: bytes,
    kms_uri_initiator: bytes,
    kms_uri_responder: bytes,
    sakke_data: bytes,
    sp: SP | None = SP(),
    extensions: Sequence[GeneralExt] = (),
    id_scheme: int = SAKKE_ID_SCHEME_3GPP_UID,
) -> list[Payload]:
    """Payloads in the sender order of §6.2: T·RAND·IDR(8)·IDR(9)·IDR(6)·IDR(7)·SP·SAKKE·[EXT]."""
    out: list[Payload] = [
        T(t_ntp),
        Rand(rand),
        Idr(ROLE_UID_I, ID_URI, initiator_uid),
        Idr(ROLE_UID_R, ID_URI, responder_uid),
        Idr(ROLE_IDRKMSI, ID_URI, kms_uri_initiator),
        Idr(ROLE_IDRKMSR, ID_URI, kms_uri_responder),
    ]
    if sp is not None:
        out.append(sp)
    out.append(Sakke(sakke_data, SAKKE_PARAMS_SET_1, id_scheme))
    out.extend(extensions)
    return out


def build_gmk_i_message(
    *,
    guk_id: int,
    gmk_id: int,
    sign: Callable[[bytes], bytes],
    generic_id_map: bool = False,
    **payload_args: object,
) -> bytes:
    """GMK I_MESSAGE (33.180 §E.2): CSB ID = the recipient's GUK-ID; empty map by default.

    ``payload_args`` are those of :func:`i_message_payloads`. With ``generic_id_map`` the
    33.180 GENERIC-ID map (CS-ID 4, SPI = GMK-ID ‖ GUK-ID) is emitted instead (see module doc).
    """
    if generic_id_map:
        entry = GenericIdEntry(cs_id=4, spi=_u32(gmk_id) + _u32(guk_id))
        hdr = Hdr(guk_id, map_type=MAP_GENERIC_ID, generic_map=(entry,))
    else:
        hdr = Hdr(guk_id, map_type=MAP_EMPTY)
    return sign_message(hdr, i_message_payloads(**payload_args), sign)  # type: ignore[arg-type]


def build_pck_i_message(
    *, pck_id: int, sign: Callable[[bytes], bytes], **payload_args: object
) -> bytes:
    """PCK I_MESSAGE (33.180 §E.3): CSB ID = PCK-ID, empty CS ID map (as the reference vector)."""
    hdr = Hdr(pck_id, map_type=MAP_EMPTY)
    return sign_message(hdr, i_message_payloads(**payload_args), sign)  # type: ignore[arg-type]


def build_csk_i_message(
    *,
    csk_id: int,
    sign: Callable[[bytes], bytes],
    generic_id_map: bool = False,
    **payload_args: object,
) -> bytes:
    """CSK I_MESSAGE (33.180 §E.5): CSB ID = CSK-ID; empty map by default (36.579-1 allows it).

    ``generic_id_map`` emits the reference vector's GENERIC-ID map (CS-ID 6, SPI = CSK-ID),
    which Wireshark 4.0.17 shows as Malformed (see the module docstring).
    """
    if generic_id_map:
        entry = GenericIdEntry(cs_id=6, spi=_u32(csk_id))
        hdr = Hdr(csk_id, map_type=MAP_GENERIC_ID, generic_map=(entry,))
    else:
        hdr = Hdr(csk_id, map_type=MAP_EMPTY)
    return sign_message(hdr, i_message_payloads(**payload_args), sign)  # type: ignore[arg-type]


# RFC 3830 §6.13 Key data sub-payload, the plaintext of the KEMAC encrypted data.
KEY_TYPE_TGK: Final = 0
KEY_TYPE_TGK_SALT: Final = 1
KEY_TYPE_TEK: Final = 2
KEY_TYPE_TEK_SALT: Final = 3
KV_NULL: Final = 0
KV_SPI: Final = 1


@dataclass(frozen=True)
class KeyData:
    """Key data sub-payload (RFC 3830 §6.13) with optional salt and an SPI/MKI key validity."""

    key: bytes
    salt: bytes | None = None
    spi: bytes | None = None
    key_type: int = KEY_TYPE_TGK_SALT

    def encode(self, next_payload: int = PT_LAST) -> bytes:
        kv = KV_SPI if self.spi is not None else KV_NULL
        out = bytes([next_payload, (self.key_type << 4) | kv]) + _u16(len(self.key)) + self.key
        if self.key_type in (KEY_TYPE_TGK_SALT, KEY_TYPE_TEK_SALT):
            salt = self.salt or b""
            out += _u16(len(salt)) + salt
        if self.spi is not None:
            out += bytes([len(self.spi)]) + self.spi
        return out


def parse_key_data(data: bytes) -> KeyData:
    """Strictly parse one Key data sub-payload (the decrypted KEMAC content)."""
    r = Reader(data, "Key data")
    if r.u8("next payload") != PT_LAST:
        raise fail(UNKNOWN_TYPE, "only one Key data sub-payload is supported")
    tkv = r.u8("type/KV")
    key_type, kv = tkv >> 4, tkv & 0xF
    if key_type > KEY_TYPE_TEK_SALT or kv > KV_SPI:
        raise fail(UNKNOWN_TYPE, f"Key data type {key_type} KV {kv}")
    key = r.take(r.u16("key length"), "key")
    salt = None
    if key_type in (KEY_TYPE_TGK_SALT, KEY_TYPE_TEK_SALT):
        salt = r.take(r.u16("salt length"), "salt")
    spi = r.take(r.u8("SPI length"), "SPI") if kv == KV_SPI else None
    r.done()
    return KeyData(key, salt, spi, key_type)


def build_group_call_key_message(
    *,
    csb_id: int,
    t_ntp: int,
    rand: bytes,
    initiator_uri: bytes,
    initiator_uid: bytes,
    encr_key_data: bytes,
    sign: Callable[[bytes], bytes],
    sp: SP | None = SP(),
    encr_alg: int = ENCR_AES_CM_128,
) -> bytes:
    """The [EMU] PSK-mode group call key message (see the module docstring for the layout).

    ``encr_key_data`` is :meth:`KeyData.encode` already encrypted under the GMK-derived key.
    """
    hdr = Hdr(csb_id, data_type=DATA_TYPE_PSK_INIT, map_type=MAP_EMPTY)
    payloads: list[Payload] = [
        T(t_ntp),
        Rand(rand),
        Idr(ROLE_IDRI, ID_URI, initiator_uri),
        Idr(ROLE_UID_I, ID_URI, initiator_uid),
    ]
    if sp is not None:
        payloads.append(sp)
    payloads.append(Kemac(encr_key_data, encr_alg, MAC_NULL, b""))
    return sign_message(hdr, payloads, sign)
