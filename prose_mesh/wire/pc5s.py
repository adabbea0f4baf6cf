# ruff: noqa: RUF012  -- Scapy layers declare fields_desc as class attributes by design
"""PC5 signalling protocol messages (TS 24.334 §11.4 procedures, §12.5 message formats).

One Scapy class per message and one per optional IE, in the style of Scapy's PFCP layer: an
optional IE is TLV (1-octet IEI, 1-octet length) and dispatches on its IEI; the Encrypted Payload
is TLV-E (2-octet length) so it can hold a 273-octet RFC 6508 SAKKE SED, and so is the [EMU]
MIKEY I_MESSAGE IE (IEI 29) of the DCR of the IBC one-to-one variant. Mandatory IEs are V/LV
fields of the message class, in the order of PROTOCOL.md §2.2. Every message starts with the
Message type (1) and Sequence Number (2) [I psc-ns3].

Code points: message types follow PROTOCOL.md §2.1 [I psc-ns3; 36.523 test names]. The optional
IEIs are psc-ns3's [I], kept because 24.334 Table 12.5.1.1.1 could not be checked in the stored
references; the three IEIs PROTOCOL.md does not give (Maximum Inactivity Period in KEEPALIVE,
Auth Flag, PRUK ID) and the REMOTE_UE_INFO contents are [EMU].

:func:`parse_pc5s` is the strict entry point for untrusted bytes (mandatory IEs present, optional
IEs allowed for the message, fixed IE sizes, no duplicates, no trailing octets); Scapy's own
dissection stays lenient and is only used on bytes :func:`parse_pc5s` has validated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from scapy.fields import (
    ByteEnumField,
    ByteField,
    FieldLenField,
    IntField,
    IP6Field,
    PacketListField,
    ShortField,
    StrFixedLenField,
    StrLenField,
    X3BytesField,
    XByteField,
    XIntField,
    XShortField,
)
from scapy.packet import Packet

from prose_mesh.wire._common import (
    BAD_LENGTH,
    DUPLICATE,
    MISSING,
    TRUNCATED,
    UNKNOWN_TYPE,
    Reader,
    fail,
)

# --- message types (PROTOCOL.md §2.1) [I psc-ns3]
DCR: Final = 1
DC_ACCEPT: Final = 2
DC_REJECT: Final = 3
DC_KEEPALIVE: Final = 4
DC_KEEPALIVE_ACK: Final = 5
DC_RELEASE: Final = 6
DC_RELEASE_ACCEPT: Final = 7
DSM_COMMAND: Final = 12
DSM_COMPLETE: Final = 13
DSM_REJECT: Final = 14
REKEYING_REQUEST: Final = 15
REKEYING_RESPONSE: Final = 16
REKEYING_TRIGGER: Final = 17
REMOTE_UE_INFO_REQUEST: Final = 18
REMOTE_UE_INFO_RESPONSE: Final = 19

MSG_NAMES: Final = {
    DCR: "DIRECT_COMMUNICATION_REQUEST",
    DC_ACCEPT: "DIRECT_COMMUNICATION_ACCEPT",
    DC_REJECT: "DIRECT_COMMUNICATION_REJECT",
    DC_KEEPALIVE: "DIRECT_COMMUNICATION_KEEPALIVE",
    DC_KEEPALIVE_ACK: "DIRECT_COMMUNICATION_KEEPALIVE_ACK",
    DC_RELEASE: "DIRECT_COMMUNICATION_RELEASE",
    DC_RELEASE_ACCEPT: "DIRECT_COMMUNICATION_RELEASE_ACCEPT",
    DSM_COMMAND: "DIRECT_SECURITY_MODE_COMMAND",
    DSM_COMPLETE: "DIRECT_SECURITY_MODE_COMPLETE",
    DSM_REJECT: "DIRECT_SECURITY_MODE_REJECT",
    REKEYING_REQUEST: "DIRECT_REKEYING_REQUEST",
    REKEYING_RESPONSE: "DIRECT_REKEYING_RESPONSE",
    REKEYING_TRIGGER: "DIRECT_REKEYING_TRIGGER",
    REMOTE_UE_INFO_REQUEST: "REMOTE_UE_INFO_REQUEST",
    REMOTE_UE_INFO_RESPONSE: "REMOTE_UE_INFO_RESPONSE",
}

# --- optional IEIs [I psc-ns3 unless marked]
IEI_LINK_LOCAL_IPV6: Final = 3
IEI_AUTS: Final = 9
IEI_RAND: Final = 10
IEI_LSB_KD_ID: Final = 15
IEI_MSB_KD_ID: Final = 16
IEI_KD_ID: Final = 17
IEI_KD_FRESHNESS: Final = 18
IEI_SIGNATURE: Final = 22
IEI_ENCRYPTED_PAYLOAD: Final = 23  # TLV-E [EMU]: 2-octet length
IEI_GPI: Final = 24
IEI_RELAY_SERVICE_CODE: Final = 25
IEI_MAX_INACTIVITY_PERIOD: Final = 26  # [EMU]
IEI_AUTH_FLAG: Final = 27  # [EMU]
IEI_PRUK_ID: Final = 28  # [EMU]
# [EMU] TLV-E: a MIKEY-SAKKE I_MESSAGE (RFC 6509) carrying the SSV from which KD is made in the
# IBC one-to-one variant (PROTOCOL.md §2.3); Wireshark hands it to its "mikey" dissector.
IEI_MIKEY_I_MESSAGE: Final = 29

IEI_NAMES: Final = {
    IEI_LINK_LOCAL_IPV6: "Link Local IPv6 Address",
    IEI_AUTS: "AUTS",
    IEI_RAND: "RAND",
    IEI_LSB_KD_ID: "LSB of KD ID",
    IEI_MSB_KD_ID: "MSB of KD ID",
    IEI_KD_ID: "KD ID",
    IEI_KD_FRESHNESS: "KD Freshness",
    IEI_SIGNATURE: "Signature",
    IEI_ENCRYPTED_PAYLOAD: "Encrypted Payload",
    IEI_GPI: "GPI",
    IEI_RELAY_SERVICE_CODE: "Relay Service Code",
    IEI_MAX_INACTIVITY_PERIOD: "Maximum Inactivity Period",
    IEI_AUTH_FLAG: "Auth Flag",
    IEI_PRUK_ID: "PRUK ID",
    IEI_MIKEY_I_MESSAGE: "MIKEY I_MESSAGE",
}

# Value sizes of the fixed-size optional IEs (None: variable).
IE_SIZES: Final[dict[int, int | None]] = {
    IEI_LINK_LOCAL_IPV6: 16,
    IEI_AUTS: 14,
    IEI_RAND: 16,
    IEI_LSB_KD_ID: 2,
    IEI_MSB_KD_ID: 2,
    IEI_KD_ID: 4,
    IEI_KD_FRESHNESS: 16,
    IEI_SIGNATURE: 129,  # ECCSI, RFC 6507: 4N+1 with N = 32
    IEI_ENCRYPTED_PAYLOAD: None,  # a SAKKE SED is 273 octets
    IEI_GPI: None,
    IEI_RELAY_SERVICE_CODE: 3,
    IEI_MAX_INACTIVITY_PERIOD: 4,
    IEI_AUTH_FLAG: 1,
    IEI_PRUK_ID: 8,
    IEI_MIKEY_I_MESSAGE: None,  # a signed MIKEY-SAKKE I_MESSAGE, ~600 octets
}
TLV_E_IEIS: Final = frozenset((IEI_ENCRYPTED_PAYLOAD, IEI_MIKEY_I_MESSAGE))

USER_INFO_TYPES: Final = {1: "MSISDN", 2: "application layer user ID", 3: "IMSI"}  # [I]
IP_ADDRESS_CONFIG: Final = {0: "DHCPv4 server", 1: "IPv6 router", 2: "DHCPv4+IPv6 router",
                            3: "address allocation not supported"}  # [R]


# ----------------------------------------------------------------- optional IEs
class PC5SIE(Packet):
    """Generic TLV information element; concrete IEs dispatch on the IEI (first octet)."""

    name = "PC5-S IE"
    fields_desc = [
        ByteEnumField("iei", 0, IEI_NAMES),
        FieldLenField("length", None, length_of="value", fmt="B"),
        StrLenField("value", b"", length_from=lambda p: p.length),
    ]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args: Any, **kargs: Any) -> type[Packet]:
        if _pkt:
            return IE_CLASSES.get(_pkt[0], PC5SIE)
        return cls


class _FixedIE(PC5SIE):
    """A TLV IE whose length octet is computed at build time from the value fields."""

    def post_build(self, p: bytes, pay: bytes) -> bytes:
        if self.length is None:
            p = p[:1] + bytes([len(p) - 2]) + p[2:]
        return p + pay


def _ie_head(iei: int) -> list[Any]:
    return [ByteEnumField("iei", iei, IEI_NAMES), ByteField("length", None)]


class IE_LinkLocalIPv6(_FixedIE):
    name = "Link Local IPv6 Address"
    fields_desc = [*_ie_head(IEI_LINK_LOCAL_IPV6), IP6Field("address", "fe80::1")]


class IE_AUTS(_FixedIE):
    name = "AUTS"
    fields_desc = [*_ie_head(IEI_AUTS), StrFixedLenField("auts", b"\x00" * 14, 14)]


class IE_RAND(_FixedIE):
    name = "RAND"
    fields_desc = [*_ie_head(IEI_RAND), StrFixedLenField("rand", b"\x00" * 16, 16)]


class IE_LSBofKDID(_FixedIE):
    name = "LSB of KD ID"
    fields_desc = [*_ie_head(IEI_LSB_KD_ID), XShortField("lsb_kd_id", 0)]


class IE_MSBofKDID(_FixedIE):
    name = "MSB of KD ID"
    fields_desc = [*_ie_head(IEI_MSB_KD_ID), XShortField("msb_kd_id", 0)]


class IE_KDID(_FixedIE):
    name = "KD ID"
    fields_desc = [*_ie_head(IEI_KD_ID), XIntField("kd_id", 0)]


class IE_KDFreshness(_FixedIE):
    name = "KD Freshness"
    fields_desc = [*_ie_head(IEI_KD_FRESHNESS), StrFixedLenField("kd_freshness", b"\0" * 16, 16)]


class IE_Signature(_FixedIE):
    """ECCSI signature r(32) ‖ s(32) ‖ PVT(65), RFC 6507 §3.3."""

    name = "Signature"
    fields_desc = [*_ie_head(IEI_SIGNATURE), StrFixedLenField("signature", b"\0" * 129, 129)]


class IE_EncryptedPayload(PC5SIE):
    """TLV-E [EMU]: IEI, 2-octet length, an RFC 6508 SAKKE SED (04 ‖ R ‖ H, 273 octets)."""

    name = "Encrypted Payload"
    fields_desc = [
        ByteEnumField("iei", IEI_ENCRYPTED_PAYLOAD, IEI_NAMES),
        FieldLenField("length", None, length_of="payload_data", fmt="!H"),
        StrLenField("payload_data", b"", length_from=lambda p: p.length),
    ]


class IE_MikeyIMessage(PC5SIE):
    """TLV-E [EMU]: IEI 29, 2-octet length, a signed MIKEY-SAKKE I_MESSAGE (RFC 6509 §4)."""

    name = "MIKEY I_MESSAGE"
    fields_desc = [
        ByteEnumField("iei", IEI_MIKEY_I_MESSAGE, IEI_NAMES),
        FieldLenField("length", None, length_of="i_message", fmt="!H"),
        StrLenField("i_message", b"", length_from=lambda p: p.length),
    ]


class IE_GPI(PC5SIE):
    name = "GPI"
    fields_desc = [
        ByteEnumField("iei", IEI_GPI, IEI_NAMES),
        FieldLenField("length", None, length_of="gpi", fmt="B"),
        StrLenField("gpi", b"", length_from=lambda p: p.length),
    ]


class IE_RelayServiceCode(_FixedIE):
    name = "Relay Service Code"
    fields_desc = [*_ie_head(IEI_RELAY_SERVICE_CODE), X3BytesField("relay_service_code", 0)]


class IE_MaxInactivityPeriod(_FixedIE):
    name = "Maximum Inactivity Period"
    fields_desc = [*_ie_head(IEI_MAX_INACTIVITY_PERIOD), IntField("max_inactivity_period", 0)]


class IE_AuthFlag(_FixedIE):
    name = "Auth Flag"
    fields_desc = [*_ie_head(IEI_AUTH_FLAG), ByteField("auth_flag", 0)]


class IE_PRUKID(_FixedIE):
    name = "PRUK ID"
    fields_desc = [*_ie_head(IEI_PRUK_ID), StrFixedLenField("pruk_id", b"\0" * 8, 8)]


IE_CLASSES: Final[dict[int, type[PC5SIE]]] = {
    IEI_LINK_LOCAL_IPV6: IE_LinkLocalIPv6,
    IEI_AUTS: IE_AUTS,
    IEI_RAND: IE_RAND,
    IEI_LSB_KD_ID: IE_LSBofKDID,
    IEI_MSB_KD_ID: IE_MSBofKDID,
    IEI_KD_ID: IE_KDID,
    IEI_KD_FRESHNESS: IE_KDFreshness,
    IEI_SIGNATURE: IE_Signature,
    IEI_ENCRYPTED_PAYLOAD: IE_EncryptedPayload,
    IEI_GPI: IE_GPI,
    IEI_RELAY_SERVICE_CODE: IE_RelayServiceCode,
    IEI_MAX_INACTIVITY_PERIOD: IE_MaxInactivityPeriod,
    IEI_AUTH_FLAG: IE_AuthFlag,
    IEI_PRUK_ID: IE_PRUKID,
    IEI_MIKEY_I_MESSAGE: IE_MikeyIMessage,
}


# ----------------------------------------------------------------- messages
class PC5S(Packet):
    """Base of every PC5 signalling message; dissection dispatches on the Message type octet."""

    name = "PC5 signalling"
    fields_desc = [ByteEnumField("msg_type", 0, MSG_NAMES), ShortField("seq", 0)]

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args: Any, **kargs: Any) -> type[Packet]:
        if _pkt:
            return MSG_CLASSES.get(_pkt[0], PC5S)
        return cls


def _head(msg_type: int) -> list[Any]:
    return [ByteEnumField("msg_type", msg_type, MSG_NAMES), ShortField("seq", 0)]


def _ies() -> PacketListField:
    return PacketListField("ies", [], PC5SIE)


class DirectCommunicationRequest(PC5S):
    name = "DIRECT_COMMUNICATION_REQUEST"
    fields_desc = [
        *_head(DCR),
        FieldLenField("user_info_len", None, length_of="user_info", fmt="B",
                      adjust=lambda p, x: x + 1),
        ByteEnumField("user_info_type", 3, USER_INFO_TYPES),
        StrLenField("user_info", b"", length_from=lambda p: p.user_info_len - 1),
        ByteEnumField("ip_address_config", 3, IP_ADDRESS_CONFIG),
        IntField("max_inactivity_period", 0),
        StrFixedLenField("nonce_1", b"\0" * 16, 16),
        XShortField("ue_security_capabilities", 0),  # EEA bitmap ‖ EIA bitmap [R]
        XByteField("msb_kdsess_id", 0),
        _ies(),
    ]


class DirectCommunicationAccept(PC5S):
    name = "DIRECT_COMMUNICATION_ACCEPT"
    fields_desc = [*_head(DC_ACCEPT), ByteEnumField("ip_address_config", 3, IP_ADDRESS_CONFIG),
                   _ies()]


class DirectCommunicationReject(PC5S):
    name = "DIRECT_COMMUNICATION_REJECT"
    fields_desc = [*_head(DC_REJECT), ByteField("cause", 1)]


class DirectCommunicationKeepalive(PC5S):
    name = "DIRECT_COMMUNICATION_KEEPALIVE"
    fields_desc = [*_head(DC_KEEPALIVE), IntField("keepalive_counter", 0), _ies()]


class DirectCommunicationKeepaliveAck(PC5S):
    name = "DIRECT_COMMUNICATION_KEEPALIVE_ACK"
    fields_desc = [*_head(DC_KEEPALIVE_ACK), IntField("keepalive_counter", 0), _ies()]


class DirectCommunicationRelease(PC5S):
    name = "DIRECT_COMMUNICATION_RELEASE"
    fields_desc = [*_head(DC_RELEASE), ByteField("release_reason", 1)]


class DirectCommunicationReleaseAccept(PC5S):
    name = "DIRECT_COMMUNICATION_RELEASE_ACCEPT"
    fields_desc = _head(DC_RELEASE_ACCEPT)


class DirectSecurityModeCommand(PC5S):
    name = "DIRECT_SECURITY_MODE_COMMAND"
    fields_desc = [
        *_head(DSM_COMMAND),
        XShortField("ue_security_capabilities", 0),
        StrFixedLenField("nonce_2", b"\0" * 16, 16),
        XByteField("chosen_algorithms", 0),  # spare ‖ EEA(3) ‖ spare ‖ EIA(3) [R]
        XByteField("lsb_kdsess_id", 0),
        _ies(),
    ]


class DirectSecurityModeComplete(PC5S):
    name = "DIRECT_SECURITY_MODE_COMPLETE"
    fields_desc = [*_head(DSM_COMPLETE), _ies()]


class DirectSecurityModeReject(PC5S):
    name = "DIRECT_SECURITY_MODE_REJECT"
    fields_desc = [*_head(DSM_REJECT), ByteField("cause", 1), _ies()]


class DirectRekeyingRequest(PC5S):
    name = "DIRECT_REKEYING_REQUEST"
    fields_desc = [
        *_head(REKEYING_REQUEST),
        XShortField("ue_security_capabilities", 0),
        StrFixedLenField("nonce_1", b"\0" * 16, 16),
        XByteField("msb_kdsess_id", 0),
        _ies(),
    ]


class DirectRekeyingResponse(PC5S):
    name = "DIRECT_REKEYING_RESPONSE"
    fields_desc = _head(REKEYING_RESPONSE)


class DirectRekeyingTrigger(PC5S):
    name = "DIRECT_REKEYING_TRIGGER"
    fields_desc = _head(REKEYING_TRIGGER)


class RemoteUEInfoRequest(PC5S):
    """[EMU] contents: Remote UE information type (1: IMSI, 2: IMEI)."""

    name = "REMOTE_UE_INFO_REQUEST"
    fields_desc = [*_head(REMOTE_UE_INFO_REQUEST), ByteField("remote_ue_info_type", 1)]


class RemoteUEInfoResponse(PC5S):
    """[EMU] contents: the requested identity as LV."""

    name = "REMOTE_UE_INFO_RESPONSE"
    fields_desc = [
        *_head(REMOTE_UE_INFO_RESPONSE),
        FieldLenField("identity_len", None, length_of="identity", fmt="B"),
        StrLenField("identity", b"", length_from=lambda p: p.identity_len),
    ]


MSG_CLASSES: Final[dict[int, type[PC5S]]] = {
    DCR: DirectCommunicationRequest,
    DC_ACCEPT: DirectCommunicationAccept,
    DC_REJECT: DirectCommunicationReject,
    DC_KEEPALIVE: DirectCommunicationKeepalive,
    DC_KEEPALIVE_ACK: DirectCommunicationKeepaliveAck,
    DC_RELEASE: DirectCommunicationRelease,
    DC_RELEASE_ACCEPT: DirectCommunicationReleaseAccept,
    DSM_COMMAND: DirectSecurityModeCommand,
    DSM_COMPLETE: DirectSecurityModeComplete,
    DSM_REJECT: DirectSecurityModeReject,
    REKEYING_REQUEST: DirectRekeyingRequest,
    REKEYING_RESPONSE: DirectRekeyingResponse,
    REKEYING_TRIGGER: DirectRekeyingTrigger,
    REMOTE_UE_INFO_REQUEST: RemoteUEInfoRequest,
    REMOTE_UE_INFO_RESPONSE: RemoteUEInfoResponse,
}

# Strict-parser view of the same layouts: mandatory IE sizes ("LV" = 1-octet length, value ≥ min)
# and the optional IEIs each message may carry.
LV: Final = "LV"
MANDATORY: Final[dict[int, tuple[int | str, ...]]] = {
    DCR: (LV, 1, 4, 16, 2, 1),
    DC_ACCEPT: (1,),
    DC_REJECT: (1,),
    DC_KEEPALIVE: (4,),
    DC_KEEPALIVE_ACK: (4,),
    DC_RELEASE: (1,),
    DC_RELEASE_ACCEPT: (),
    DSM_COMMAND: (2, 16, 1, 1),
    DSM_COMPLETE: (),
    DSM_REJECT: (1,),
    REKEYING_REQUEST: (2, 16, 1),
    REKEYING_RESPONSE: (),
    REKEYING_TRIGGER: (),
    REMOTE_UE_INFO_REQUEST: (1,),
    REMOTE_UE_INFO_RESPONSE: ("LV0",),
}
OPTIONAL: Final[dict[int, frozenset[int]]] = {
    DCR: frozenset((IEI_KD_ID, IEI_RELAY_SERVICE_CODE, IEI_SIGNATURE, IEI_LINK_LOCAL_IPV6,
                    IEI_MIKEY_I_MESSAGE)),
    DC_ACCEPT: frozenset((IEI_LINK_LOCAL_IPV6,)),
    DC_KEEPALIVE: frozenset((IEI_MAX_INACTIVITY_PERIOD,)),
    DC_KEEPALIVE_ACK: frozenset((IEI_MAX_INACTIVITY_PERIOD,)),
    DSM_COMMAND: frozenset((IEI_MSB_KD_ID, IEI_KD_FRESHNESS, IEI_GPI, IEI_SIGNATURE,
                            IEI_ENCRYPTED_PAYLOAD)),
    DSM_COMPLETE: frozenset((IEI_LSB_KD_ID,)),
    DSM_REJECT: frozenset((IEI_RAND, IEI_AUTS)),
    REKEYING_REQUEST: frozenset((IEI_AUTH_FLAG, IEI_PRUK_ID)),
}


def validate_pc5s(data: bytes) -> int:
    """Walk a PC5 signalling message strictly and return its message type (see :func:`_walk`)."""
    return _walk(data)[0]


def _walk(data: bytes) -> tuple[int, list[tuple[int, int]]]:
    """Walk a PC5 signalling message strictly and return its message type.

    Rejects (ParseError): unknown message type, a missing or short mandatory IE, an optional
    IE not allowed for the message [EMU: 24.007 would ignore it; prose_mesh is strict], a
    wrong fixed IE size, a repeated IE, truncation and trailing octets.
    """
    r = Reader(data, "PC5-S")
    msg_type = r.u8("message type")
    if msg_type not in MSG_CLASSES:
        raise fail(UNKNOWN_TYPE, f"PC5-S message type {msg_type}")
    r.u16("sequence number")
    for size in MANDATORY[msg_type]:
        if size == LV or size == "LV0":
            n = r.u8("LV length")
            if size == LV and n < 1:
                raise fail(BAD_LENGTH, "User Info LV is empty")
            r.take(n, "LV value")
        else:
            r.take(int(size), "mandatory IE")
    if msg_type not in OPTIONAL:
        r.done()  # a message without optional IEs ends after its mandatory IEs
    allowed = OPTIONAL.get(msg_type, frozenset())
    seen: set[int] = set()
    starts: list[tuple[int, int]] = []
    while r.remaining():
        starts.append((data[r.pos], r.pos))
        iei = r.u8("IEI")
        if iei not in allowed:
            raise fail(UNKNOWN_TYPE, f"IEI {iei} not allowed in {MSG_NAMES[msg_type]}")
        if iei in seen:
            raise fail(DUPLICATE, f"IEI {iei} repeated")
        seen.add(iei)
        n = r.u16("TLV-E length") if iei in TLV_E_IEIS else r.u8("TLV length")
        size = IE_SIZES[iei]
        if size is not None and n != size:
            raise fail(BAD_LENGTH, f"IEI {iei} length {n}, expected {size}")
        r.take(n, f"IEI {iei} value")
    return msg_type, starts


def parse_pc5s(data: bytes) -> PC5S:
    """Strictly parse a PC5 signalling message (see :func:`validate_pc5s`) into its Scapy class."""
    if not data:
        raise fail(TRUNCATED, "empty PC5-S message")
    msg_type = validate_pc5s(data)
    return MSG_CLASSES[msg_type](bytes(data))


def sign_pc5s(message: PC5S | bytes, sign: Callable[[bytes], bytes]) -> bytes:
    """Append the Signature IE last: ``sign`` gets the message through the IE's IEI and length
    octets (coverage of :func:`signed_part`) and returns the 129-octet ECCSI signature."""
    tbs = bytes(message) + bytes([IEI_SIGNATURE, IE_SIZES[IEI_SIGNATURE]])
    signature = sign(tbs)
    if len(signature) != IE_SIZES[IEI_SIGNATURE]:
        raise ValueError(f"sign() returned {len(signature)} octets, ECCSI needs 129")
    return tbs + signature


def signed_part(data: bytes) -> tuple[bytes, bytes]:
    """Split a message whose last IE is the Signature: (covered octets, 129-octet signature).

    Coverage [EMU, PROTOCOL.md §2.3]: from octet 1 through the Signature IE's IEI and length
    octets, the same shape as MIKEY SIGN (§6.4). The builder must place the Signature IE last.
    """
    _msg_type, starts = _walk(data)
    if not starts or starts[-1][0] != IEI_SIGNATURE:
        raise fail(MISSING, "the Signature IE is not the last IE")
    return bytes(data[:-129]), bytes(data[-129:])
