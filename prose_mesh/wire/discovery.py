# ruff: noqa: RUF012  -- Scapy layers declare fields_desc as class attributes by design
"""PC5_DISCOVERY messages (TS 24.334 §11.2.5 / Table 11.2.5.1.1; PROTOCOL.md §3).

A fixed 232-bit (29-octet) message on SL-DCH with no PDCP. The Message Type octet is
``discovery type(2) | content type(4) | model(2)`` (24.554 Table 11.2.1.1 [V]); every layout
ends with MIC(32) ‖ UTC-based counter LSB(8). Relay and group-member layouts are [R] and their
spare sizes [EMU] so that each sums to 232 bits. Fields only: the MIC, confidentiality and
scrambling (33.303 A.2/A.5/A.6) belong to :mod:`prose_mesh.crypto`.
"""

from __future__ import annotations

from typing import Any, Final

from scapy.fields import (
    BitEnumField,
    ByteField,
    StrFixedLenField,
    X3BytesField,
    XIntField,
)
from scapy.packet import Packet

from prose_mesh.wire._common import BAD_LENGTH, UNKNOWN_TYPE, fail

DISCOVERY_LEN: Final = 29
MIC_OFFSET: Final = 24  # octets 0..23 precede the MIC

DISC_OPEN: Final = 1
DISC_RESTRICTED: Final = 2
MODEL_A: Final = 1
MODEL_B: Final = 2

CT_ANNOUNCEMENT: Final = 0  # Model A announcement / Model B response
CT_SOLICITATION: Final = 1
CT_RELAY: Final = 4  # relay announcement / response
CT_RELAY_SOLICITATION: Final = 5
CT_GROUP_MEMBER: Final = 6  # group member announcement / response
CT_GROUP_MEMBER_SOLICITATION: Final = 7

DISC_TYPES: Final = {DISC_OPEN: "open", DISC_RESTRICTED: "restricted"}
CONTENT_TYPES: Final = {
    CT_ANNOUNCEMENT: "announcement/response",
    CT_SOLICITATION: "solicitation",
    CT_RELAY: "UE-to-network relay announcement/response",
    CT_RELAY_SOLICITATION: "UE-to-network relay solicitation",
    CT_GROUP_MEMBER: "group member announcement/response",
    CT_GROUP_MEMBER_SOLICITATION: "group member solicitation",
    8: "relay additional information",
}
MODELS: Final = {MODEL_A: "Model A", MODEL_B: "Model B"}

# (content type, model) pairs this module encodes
VALID: Final = frozenset(
    {
        (CT_ANNOUNCEMENT, MODEL_A),
        (CT_ANNOUNCEMENT, MODEL_B),
        (CT_SOLICITATION, MODEL_B),
        (CT_RELAY, MODEL_A),
        (CT_RELAY, MODEL_B),
        (CT_RELAY_SOLICITATION, MODEL_B),
        (CT_GROUP_MEMBER, MODEL_A),
        (CT_GROUP_MEMBER, MODEL_B),
        (CT_GROUP_MEMBER_SOLICITATION, MODEL_B),
    }
)


def message_type(disc_type: int, content_type: int, model: int) -> int:
    """The Message Type octet, e.g. restricted relay announcement Model A → 0x91."""
    return (disc_type << 6) | (content_type << 2) | model


def _head(content_type: int, model: int) -> list[Any]:
    return [
        BitEnumField("disc_type", DISC_RESTRICTED, 2, DISC_TYPES),
        BitEnumField("content_type", content_type, 4, CONTENT_TYPES),
        BitEnumField("model", model, 2, MODELS),
    ]


def _tail() -> list[Any]:
    return [XIntField("mic", 0), ByteField("utc_lsb", 0)]


class PC5Discovery(Packet):
    """Base class; dissection dispatches on the content type of the Message Type octet."""

    name = "PC5_DISCOVERY"
    fields_desc = [*_head(CT_ANNOUNCEMENT, MODEL_A),
                   StrFixedLenField("body", b"\0" * 23, 23), *_tail()]

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args: Any, **kargs: Any) -> type[Packet]:
        if _pkt:
            return CLASSES.get((_pkt[0] >> 2) & 0xF, PC5Discovery)
        return cls

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class DiscoveryAnnouncement(PC5Discovery):
    """Model A announcement / Model B response: ProSe App Code or Restricted Code (184 bits)."""

    name = "PC5_DISCOVERY announcement/response"
    fields_desc = [
        *_head(CT_ANNOUNCEMENT, MODEL_A),
        X3BytesField("plmn_id", 0),
        StrFixedLenField("temporary_id", b"\0" * 20, 20),  # 160 bits, 23.003 §24.3
        *_tail(),
    ]


class DiscoverySolicitation(PC5Discovery):
    """Model B solicitation: ProSe Query Code / Restricted Code (184 bits) [R]."""

    name = "PC5_DISCOVERY solicitation"
    fields_desc = [
        *_head(CT_SOLICITATION, MODEL_B),
        X3BytesField("plmn_id", 0),
        StrFixedLenField("temporary_id", b"\0" * 20, 20),
        *_tail(),
    ]


class RelayDiscoveryAnnouncement(PC5Discovery):
    """UE-to-network relay announcement (Model A) / response (Model B) [R]."""

    name = "PC5_DISCOVERY relay announcement/response"
    fields_desc = [
        *_head(CT_RELAY, MODEL_A),
        X3BytesField("relay_service_code", 0),
        StrFixedLenField("announcer_info", b"\0" * 6, 6),
        X3BytesField("relay_ue_id", 0),
        ByteField("status_indicator", 0),
        StrFixedLenField("spare", b"\0" * 10, 10),
        *_tail(),
    ]


class RelayDiscoverySolicitation(PC5Discovery):
    """UE-to-network relay solicitation (Model B) [R]; relay UE ID 0 when absent."""

    name = "PC5_DISCOVERY relay solicitation"
    fields_desc = [
        *_head(CT_RELAY_SOLICITATION, MODEL_B),
        X3BytesField("relay_service_code", 0),
        StrFixedLenField("discoverer_info", b"\0" * 6, 6),
        X3BytesField("relay_ue_id", 0),
        StrFixedLenField("spare", b"\0" * 11, 11),
        *_tail(),
    ]


class GroupMemberAnnouncement(PC5Discovery):
    """Group member announcement (Model A) / response (Model B) [R]."""

    name = "PC5_DISCOVERY group member announcement/response"
    fields_desc = [
        *_head(CT_GROUP_MEMBER, MODEL_A),
        X3BytesField("prose_ue_id", 0),
        StrFixedLenField("announcer_info", b"\0" * 6, 6),
        X3BytesField("discovery_group_id", 0),
        StrFixedLenField("spare", b"\0" * 11, 11),
        *_tail(),
    ]


class GroupMemberSolicitation(PC5Discovery):
    """Group member solicitation (Model B) [R]; target user info 0 when absent."""

    name = "PC5_DISCOVERY group member solicitation"
    fields_desc = [
        *_head(CT_GROUP_MEMBER_SOLICITATION, MODEL_B),
        StrFixedLenField("discoverer_info", b"\0" * 6, 6),
        X3BytesField("discovery_group_id", 0),
        StrFixedLenField("target_user_info", b"\0" * 6, 6),
        StrFixedLenField("spare", b"\0" * 8, 8),
        *_tail(),
    ]


CLASSES: Final[dict[int, type[PC5Discovery]]] = {
    CT_ANNOUNCEMENT: DiscoveryAnnouncement,
    CT_SOLICITATION: DiscoverySolicitation,
    CT_RELAY: RelayDiscoveryAnnouncement,
    CT_RELAY_SOLICITATION: RelayDiscoverySolicitation,
    CT_GROUP_MEMBER: GroupMemberAnnouncement,
    CT_GROUP_MEMBER_SOLICITATION: GroupMemberSolicitation,
}


def validate_discovery(data: bytes) -> tuple[int, int, int]:
    """Check length 29 and a known Message Type; returns (discovery type, content type, model)."""
    if len(data) != DISCOVERY_LEN:
        raise fail(BAD_LENGTH, f"PC5_DISCOVERY is 29 octets, got {len(data)}")
    mt = data[0]
    disc_type, content_type, model = mt >> 6, (mt >> 2) & 0xF, mt & 3
    if disc_type not in DISC_TYPES or (content_type, model) not in VALID:
        raise fail(UNKNOWN_TYPE, f"discovery Message Type {mt:#04x}")
    return disc_type, content_type, model


def parse_discovery(data: bytes) -> PC5Discovery:
    """Strictly parse a PC5_DISCOVERY message into its Scapy class."""
    _disc, content_type, _model = validate_discovery(data)
    return CLASSES[content_type](bytes(data))
