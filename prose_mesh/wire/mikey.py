# ruff: noqa: RUF012  -- Scapy layers declare fields_desc as class attributes by design
"""MIKEY payloads as Scapy layers (RFC 3830 §6, RFC 6043 §6, RFC 6509 §4; TS 33.180 Annex E).

The readable reference: one class per payload, chained by the next-payload field (dissection
follows it, building fills it from the layer that follows). SIGN (S type 4 | length 12) has no
next field and is always last. Bound to UDP port 2269 [EMU], the port Wireshark decodes as MIKEY.

Scapy's dissection is lenient; untrusted bytes go through
:func:`prose_mesh.wire.mikey_codec.parse_mikey` (strict, fast). :func:`parse_mikey_scapy` runs that
strict walk first and only then dissects. The CS-ID map decision (empty map by default for GMK)
is documented in :mod:`prose_mesh.wire.mikey_codec`.
"""

from __future__ import annotations

from typing import ClassVar, Final

from scapy.fields import (
    BitEnumField,
    BitField,
    BitFieldLenField,
    ByteEnumField,
    ByteField,
    ConditionalField,
    FieldLenField,
    IntField,
    MultipleTypeField,
    PacketListField,
    StrLenField,
    XIntField,
    XLongField,
)
from scapy.layers.inet import UDP
from scapy.packet import NoPayload, Packet, bind_layers

from prose_mesh.constants import MIKEY_PORT
from prose_mesh.wire import mikey_codec as codec

PAYLOAD_TYPES: Final = {
    0: "Last payload", 1: "KEMAC", 2: "PKE", 3: "DH", 4: "SIGN", 5: "T", 6: "ID", 7: "CERT",
    8: "CHASH", 9: "V", 10: "SP", 11: "RAND", 12: "ERR", 14: "IDR", 20: "Key data",
    21: "General Ext", 26: "SAKKE",
}
DATA_TYPES: Final = {0: "Pre-shared key init", 26: "SAKKE", 27: "CS ID map update"}
PRF_FUNCS: Final = {0: "MIKEY-1", 1: "PRF-HMAC-SHA-256"}
MAP_TYPES: Final = {0: "SRTP-ID", 1: "Empty map", 2: "GENERIC-ID"}
TS_TYPES: Final = {0: "NTP-UTC", 1: "NTP", 2: "COUNTER"}
ROLES: Final = {1: "IDRi", 2: "IDRr", 3: "IDRkms", 4: "IDRpsk", 5: "IDRapp", 6: "IDRkmsi",
                7: "IDRkmsr", 8: "UID initiator", 9: "UID responder"}
ID_TYPES: Final = {0: "NAI", 1: "URI", 2: "byte string"}
EXT_TYPES: Final = {6: "SAKKE-to-self", 7: "3GPP key parameters"}
S_TYPES: Final = {2: "ECCSI"}
ENCR_ALGS: Final = {0: "NULL", 1: "AES-CM-128", 2: "AES-KW-128"}
MAC_ALGS: Final = {0: "NULL", 1: "HMAC-SHA-1-160"}
SP_PARAM_TYPES: Final = {0: "Encryption algorithm", 1: "Session Encr. key length",
                         2: "Authentication algorithm", 3: "Session Auth. key length",
                         4: "Session Salt key length", 5: "SRTP PRF", 6: "Key derivation rate",
                         13: "ROC transmission rate", 18: "SRTP auth tag length",
                         19: "SRTCP auth tag length", 20: "AEAD auth tag length"}


class _Entry(Packet):
    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class SrtpIdEntry(_Entry):
    name = "SRTP-ID map entry"
    fields_desc = [ByteField("policy_no", 0), XIntField("ssrc", 0), IntField("roc", 0)]


class GenericIdEntry(_Entry):
    name = "GENERIC-ID map entry"
    fields_desc = [
        ByteField("cs_id", 4),
        ByteField("prot_type", 0),
        BitField("s", 0, 1),
        BitFieldLenField("n_p", None, 7, length_of="policies"),
        StrLenField("policies", b"\x00", length_from=lambda p: p.n_p),
        FieldLenField("session_data_len", None, length_of="session_data", fmt="!H"),
        StrLenField("session_data", b"", length_from=lambda p: p.session_data_len),
        FieldLenField("spi_len", None, length_of="spi", fmt="B"),
        StrLenField("spi", b"", length_from=lambda p: p.spi_len),
    ]


class SPParam(_Entry):
    name = "SP parameter"
    fields_desc = [
        ByteEnumField("type", 0, SP_PARAM_TYPES),
        FieldLenField("len", None, length_of="value", fmt="B"),
        StrLenField("value", b"", length_from=lambda p: p.len),
    ]


class _Payload(Packet):
    """Fills ``next_payload`` from the following layer and dissects along the chain."""

    next_offset: ClassVar[int] = 0

    def post_build(self, p: bytes, pay: bytes) -> bytes:
        if self.next_payload is None:
            nxt = 0 if isinstance(self.payload, NoPayload) else PT_OF.get(type(self.payload), 0)
            i = self.next_offset
            p = p[:i] + bytes([nxt]) + p[i + 1 :]
        return p + pay

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        return CLASS_OF.get(self.next_payload, Packet.guess_payload_class(self, payload))


def _next() -> ByteEnumField:
    return ByteEnumField("next_payload", None, PAYLOAD_TYPES)


class MIKEY_HDR(_Payload):
    """Common header (RFC 3830 §6.1; CS ID map types of RFC 6043 §6.1)."""

    name = "MIKEY HDR"
    next_offset = 2
    fields_desc = [
        ByteField("version", 1),
        ByteEnumField("data_type", 26, DATA_TYPES),
        _next(),
        BitField("v", 0, 1),
        BitEnumField("prf", 1, 7, PRF_FUNCS),
        XIntField("csb_id", 0),
        ByteField("n_cs", None),
        ByteEnumField("map_type", 1, MAP_TYPES),
        ConditionalField(
            PacketListField("srtp_map", [], SrtpIdEntry, count_from=lambda p: p.n_cs),
            lambda p: p.map_type == 0,
        ),
        ConditionalField(
            PacketListField("generic_map", [], GenericIdEntry, count_from=lambda p: p.n_cs),
            lambda p: p.map_type == 2,
        ),
    ]

    def post_build(self, p: bytes, pay: bytes) -> bytes:
        if self.n_cs is None:
            n = len(self.srtp_map) if self.map_type == 0 else len(self.generic_map or [])
            n = n if self.map_type in (0, 2) else 0
            p = p[:8] + bytes([n]) + p[9:]
        return super().post_build(p, pay)


class MIKEY_T(_Payload):
    name = "MIKEY T"
    fields_desc = [
        _next(),
        ByteEnumField("ts_type", 0, TS_TYPES),
        MultipleTypeField(
            [(IntField("ts_value", 0), lambda p: p.ts_type == 2)], XLongField("ts_value", 0)
        ),
    ]


class MIKEY_RAND(_Payload):
    name = "MIKEY RAND"
    fields_desc = [
        _next(),
        FieldLenField("rand_len", None, length_of="rand", fmt="B"),
        StrLenField("rand", b"", length_from=lambda p: p.rand_len),
    ]


class MIKEY_IDR(_Payload):
    name = "MIKEY IDR"
    fields_desc = [
        _next(),
        ByteEnumField("role", 1, ROLES),
        ByteEnumField("id_type", 1, ID_TYPES),
        FieldLenField("id_len", None, length_of="id", fmt="!H"),
        StrLenField("id", b"", length_from=lambda p: p.id_len),
    ]


class MIKEY_SP(_Payload):
    name = "MIKEY SP"
    fields_desc = [
        _next(),
        ByteField("policy_no", 0),
        ByteField("prot_type", 0),
        FieldLenField("param_len", None, length_of="params", fmt="!H"),
        PacketListField("params", [], SPParam, length_from=lambda p: p.param_len),
    ]


class MIKEY_SAKKE(_Payload):
    name = "MIKEY SAKKE"
    fields_desc = [
        _next(),
        ByteField("params", 1),
        ByteField("id_scheme", 2),
        FieldLenField("data_len", None, length_of="data", fmt="!H"),
        StrLenField("data", b"", length_from=lambda p: p.data_len),
    ]


class MIKEY_GeneralExt(_Payload):
    name = "MIKEY General Extension"
    fields_desc = [
        _next(),
        ByteEnumField("type", 7, EXT_TYPES),
        FieldLenField("data_len", None, length_of="data", fmt="!H"),
        StrLenField("data", b"", length_from=lambda p: p.data_len),
    ]


class MIKEY_KEMAC(_Payload):
    name = "MIKEY KEMAC"
    fields_desc = [
        _next(),
        ByteEnumField("encr_alg", 1, ENCR_ALGS),
        FieldLenField("encr_len", None, length_of="encr_data", fmt="!H"),
        StrLenField("encr_data", b"", length_from=lambda p: p.encr_len),
        ByteEnumField("mac_alg", 0, MAC_ALGS),
        StrLenField("mac", b"", length_from=lambda p: 20 if p.mac_alg == 1 else 0),
    ]


class MIKEY_SIGN(Packet):
    """SIGN (RFC 3830 §6.5): S type 4 | length 12, signature; no next field, always last."""

    name = "MIKEY SIGN"
    fields_desc = [
        BitEnumField("s_type", 2, 4, S_TYPES),
        BitFieldLenField("sig_len", None, 12, length_of="signature"),
        StrLenField("signature", b"", length_from=lambda p: p.sig_len),
    ]


CLASS_OF: Final[dict[int, type[Packet]]] = {
    codec.PT_KEMAC: MIKEY_KEMAC,
    codec.PT_SIGN: MIKEY_SIGN,
    codec.PT_T: MIKEY_T,
    codec.PT_SP: MIKEY_SP,
    codec.PT_RAND: MIKEY_RAND,
    codec.PT_IDR: MIKEY_IDR,
    codec.PT_GENERAL_EXT: MIKEY_GeneralExt,
    codec.PT_SAKKE: MIKEY_SAKKE,
}
PT_OF: Final[dict[type[Packet], int]] = {cls: pt for pt, cls in CLASS_OF.items()}

bind_layers(UDP, MIKEY_HDR, dport=MIKEY_PORT)
bind_layers(UDP, MIKEY_HDR, sport=MIKEY_PORT)


def to_scapy(msg: codec.MikeyMessage) -> Packet:
    """Build the Scapy layer chain from a parsed (or constructed) message."""
    h = msg.hdr
    pkt: Packet = MIKEY_HDR(
        version=h.version, data_type=h.data_type, v=h.v, prf=h.prf, csb_id=h.csb_id,
        map_type=h.map_type,
        srtp_map=[SrtpIdEntry(policy_no=e.policy_no, ssrc=e.ssrc, roc=e.roc) for e in h.srtp_map],
        generic_map=[GenericIdEntry(cs_id=e.cs_id, prot_type=e.prot_type, s=e.s_flag,
                                    policies=e.policies, session_data=e.session_data, spi=e.spi)
                     for e in h.generic_map],
    )
    for p in msg.payloads:
        pkt = pkt / _payload_layer(p)
    return pkt / MIKEY_SIGN(s_type=msg.s_type, signature=msg.signature)


def _payload_layer(p: codec.Payload) -> Packet:
    if isinstance(p, codec.T):
        return MIKEY_T(ts_type=p.ts_type, ts_value=p.value)
    if isinstance(p, codec.Rand):
        return MIKEY_RAND(rand=p.rand)
    if isinstance(p, codec.Idr):
        return MIKEY_IDR(role=p.role, id_type=p.id_type, id=p.id)
    if isinstance(p, codec.SP):
        return MIKEY_SP(policy_no=p.policy_no, prot_type=p.prot_type,
                        params=[SPParam(type=t, value=v) for t, v in p.params])
    if isinstance(p, codec.Sakke):
        return MIKEY_SAKKE(params=p.params, id_scheme=p.id_scheme, data=p.data)
    if isinstance(p, codec.GeneralExt):
        return MIKEY_GeneralExt(type=p.type, data=p.data)
    return MIKEY_KEMAC(encr_alg=p.encr_alg, encr_data=p.encr_data, mac_alg=p.mac_alg, mac=p.mac)


def parse_mikey_scapy(data: bytes) -> Packet:
    """Strict parse (ParseError on bad input), then Scapy dissection of the validated bytes."""
    codec.parse_mikey(data)
    return MIKEY_HDR(bytes(data))
