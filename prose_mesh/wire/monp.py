# ruff: noqa: RUF012  -- Scapy layers declare fields_desc as class attributes by design
"""Off-network MCPTT call control (MONP, TS 24.379 §15) and floor control (TS 24.380 §8).

MONP messages travel as IPv6/UDP to the group multicast address on
:data:`prose_mesh.constants.MONP_PORT` [EMU default 40000]. Message type codes are [R]
(24.379 Table 15.2.2-1, unverified: 0x01 PROBE, 0x02 ANNOUNCEMENT, 0x03 ACCEPT); layouts follow
PROTOCOL.md §7.1 [V Tables 15.1.2.1-1 / 15.1.3.1-1]; LV-E is a 2-octet length; GROUP CALL ACCEPT
is [R]. Optional type-only IEs 0x80 (confirm mode) and 0x81 (probe response) close ANNOUNCEMENT.

Floor control is RTCP APP (PT 204) with name "MCPT" and subtype = message type
(24.380 §8.2; values [V tshark]); the data is a list of fields ``ID(8) ‖ len(8) ‖ value``, each
padded to a 32-bit boundary [R].
"""

from __future__ import annotations

from typing import Any, Final

from scapy.fields import (
    BitEnumField,
    BitField,
    ByteEnumField,
    ByteField,
    FieldLenField,
    FieldListField,
    PacketListField,
    ShortField,
    StrFixedLenField,
    StrLenField,
    XIntField,
)
from scapy.layers.inet import UDP
from scapy.packet import Packet, bind_layers

from prose_mesh.constants import MONP_PORT
from prose_mesh.wire._common import (
    BAD_HEADER,
    BAD_LENGTH,
    DUPLICATE,
    TRUNCATED,
    UNKNOWN_TYPE,
    Reader,
    fail,
)

GROUP_CALL_PROBE: Final = 0x01
GROUP_CALL_ANNOUNCEMENT: Final = 0x02
GROUP_CALL_ACCEPT: Final = 0x03
MSG_NAMES: Final = {
    GROUP_CALL_PROBE: "GROUP CALL PROBE",
    GROUP_CALL_ANNOUNCEMENT: "GROUP CALL ANNOUNCEMENT",
    GROUP_CALL_ACCEPT: "GROUP CALL ACCEPT",
}
IEI_CONFIRM_MODE: Final = 0x80
IEI_PROBE_RESPONSE: Final = 0x81
T_IE_NAMES: Final = {IEI_CONFIRM_MODE: "Confirm mode indication",
                     IEI_PROBE_RESPONSE: "Probe response"}


def _lve(name: str) -> list[Any]:
    return [
        FieldLenField(f"{name}_len", None, length_of=name, fmt="!H"),
        StrLenField(name, b"", length_from=lambda p, n=name: getattr(p, f"{n}_len")),
    ]


class MONP(Packet):
    """Base class; dissection dispatches on the Message type octet."""

    name = "MONP"
    fields_desc = [ByteEnumField("msg_type", 0, MSG_NAMES)]

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args: Any, **kargs: Any) -> type[Packet]:
        if _pkt:
            return MSG_CLASSES.get(_pkt[0], MONP)
        return cls


class GroupCallProbe(MONP):
    name = "GROUP CALL PROBE"
    fields_desc = [ByteEnumField("msg_type", GROUP_CALL_PROBE, MSG_NAMES), *_lve("group_id")]


class GroupCallAnnouncement(MONP):
    name = "GROUP CALL ANNOUNCEMENT"
    fields_desc = [
        ByteEnumField("msg_type", GROUP_CALL_ANNOUNCEMENT, MSG_NAMES),
        ShortField("call_id", 0),
        ByteField("call_type", 1),
        ShortField("refresh_interval", 10000),
        BitField("call_start_time", 0, 40),
        BitField("last_call_type_change_time", 0, 40),
        *_lve("group_id"),
        *_lve("sdp"),
        *_lve("originating_user_id"),
        *_lve("last_user_to_change_call_type"),
        FieldListField("t_ies", [], ByteEnumField("t_iei", IEI_CONFIRM_MODE, T_IE_NAMES)),
    ]


class GroupCallAccept(MONP):
    name = "GROUP CALL ACCEPT"
    fields_desc = [
        ByteEnumField("msg_type", GROUP_CALL_ACCEPT, MSG_NAMES),
        ShortField("call_id", 0),
        ByteField("call_type", 1),
        *_lve("user_id"),
        *_lve("group_id"),
    ]


MSG_CLASSES: Final[dict[int, type[MONP]]] = {
    GROUP_CALL_PROBE: GroupCallProbe,
    GROUP_CALL_ANNOUNCEMENT: GroupCallAnnouncement,
    GROUP_CALL_ACCEPT: GroupCallAccept,
}
# Octets of the fixed V fields and the number of LV-E fields, per message type.
_LAYOUT: Final = {
    GROUP_CALL_PROBE: (0, 1),
    GROUP_CALL_ANNOUNCEMENT: (15, 4),
    GROUP_CALL_ACCEPT: (3, 2),
}

bind_layers(UDP, MONP, dport=MONP_PORT)
bind_layers(UDP, MONP, sport=MONP_PORT)


def parse_monp(data: bytes) -> MONP:
    """Strictly parse a MONP message (known type, LV-E lengths in range, no trailing octets)."""
    r = Reader(data, "MONP")
    msg_type = r.u8("message type")
    if msg_type not in _LAYOUT:
        raise fail(UNKNOWN_TYPE, f"MONP message type {msg_type}")
    fixed, n_lve = _LAYOUT[msg_type]
    r.take(fixed, "fixed IEs")
    for _ in range(n_lve):
        r.take(r.u16("LV-E length"), "LV-E value")
    if msg_type == GROUP_CALL_ANNOUNCEMENT:
        seen: set[int] = set()
        while r.remaining():
            iei = r.u8("T IE")
            if iei not in T_IE_NAMES:
                raise fail(UNKNOWN_TYPE, f"MONP IEI {iei:#04x}")
            if iei in seen:
                raise fail(DUPLICATE, f"MONP IEI {iei:#04x} repeated")
            seen.add(iei)
    r.done()
    return MSG_CLASSES[msg_type](bytes(data))


# ------------------------------------------------------------------ floor control
FLOOR_SUBTYPES: Final = {
    0: "Floor Request", 1: "Floor Granted", 2: "Floor Taken", 3: "Floor Deny",
    4: "Floor Release", 5: "Floor Idle", 6: "Floor Revoke", 8: "Floor Queue Position Request",
    9: "Floor Queue Position Info", 10: "Floor Ack", 11: "Unicast Media Flow Control",
    14: "Floor Queued Cancel", 15: "Floor Release Multi Talker",
    17: "Floor Granted (ack)", 18: "Floor Taken (ack)", 19: "Floor Deny (ack)",
    20: "Floor Release (ack)", 21: "Floor Idle (ack)", 25: "Floor Queue Position Info (ack)",
    27: "Unicast Media Flow Control (ack)", 30: "Floor Queued Cancel (ack)",
}
FIELD_IDS: Final = {
    0: "Floor Priority", 1: "Duration", 2: "Reject Cause", 3: "Queue Info",
    4: "Granted Party's Identity", 5: "Permission to Request the Floor", 6: "User ID",
    7: "Queue Size", 8: "Message Sequence Number", 9: "Queued User ID", 10: "Source",
    11: "Track Info", 12: "Message Type", 13: "Floor Indicator", 14: "SSRC",
}
RTCP_APP: Final = 204


class MCPTField(Packet):
    """One floor-control field: ID(8) ‖ length(8) ‖ value, padded to 32 bits [R]."""

    name = "MCPT field"
    fields_desc = [
        ByteEnumField("id", 0, FIELD_IDS),
        FieldLenField("len", None, length_of="value", fmt="B"),
        StrLenField("value", b"", length_from=lambda p: p.len),
    ]

    def post_build(self, p: bytes, pay: bytes) -> bytes:
        return p + b"\x00" * (-len(p) % 4) + pay

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s[-(2 + self.len) % 4 :]


class FloorControl(Packet):
    """RTCP APP (RFC 3550 §6.7) named "MCPT" carrying one 24.380 floor control message."""

    name = "MCPT floor control"
    fields_desc = [
        BitField("version", 2, 2),
        BitField("padding", 0, 1),
        BitEnumField("subtype", 0, 5, FLOOR_SUBTYPES),
        ByteField("pt", RTCP_APP),
        ShortField("length", None),  # 32-bit words − 1
        XIntField("ssrc", 0),
        StrFixedLenField("app_name", b"MCPT", 4),
        PacketListField("mcpt_fields", [], MCPTField),
    ]

    def post_build(self, p: bytes, pay: bytes) -> bytes:
        if self.length is None:
            p = p[:2] + (len(p) // 4 - 1).to_bytes(2, "big") + p[4:]
        return p + pay


def parse_floor(data: bytes) -> FloorControl:
    """Strictly parse an RTCP APP "MCPT" packet (one packet, length and padding consistent)."""
    r = Reader(data, "MCPT")
    b0 = r.u8("V/P/subtype")
    pt = r.u8("PT")
    words = r.u16("length")
    if b0 >> 6 != 2 or b0 & 0x20 or pt != RTCP_APP:
        raise fail(BAD_HEADER, f"not an RTCP APP packet (octets {b0:#04x} {pt})")
    if (words + 1) * 4 != len(data):
        raise fail(BAD_LENGTH, f"RTCP length {words} for {len(data)} octets")
    r.u32("SSRC")
    if r.take(4, "name") != b"MCPT":
        raise fail(BAD_HEADER, "RTCP APP name is not MCPT")
    if (b0 & 0x1F) not in FLOOR_SUBTYPES:
        raise fail(UNKNOWN_TYPE, f"floor control subtype {b0 & 0x1F}")
    while r.remaining():
        r.u8("field ID")
        n = r.u8("field length")
        r.take(n, "field value")
        pad = -(2 + n) % 4
        if r.remaining() < pad:
            raise fail(TRUNCATED, "field padding")
        if any(r.take(pad, "padding")):
            raise fail(BAD_LENGTH, "non-zero field padding")
    return FloorControl(bytes(data))
