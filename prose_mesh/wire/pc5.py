# ruff: noqa: RUF012  -- Scapy layers declare fields_desc as class attributes by design
"""The PC5-EMU frame as Scapy layers: shim [EMU] (PROTOCOL.md §1.1) + TS 36.323 §6.2.10 PDCP.

``Ether(type=0x88B5) / PC5EMU / PDCP_SL_O2M | PDCP_SL_O2O / SDU`` on SL-SCH, where the SDU is
chosen by the PDCP SDU type (36.323 §6.3.14 [R]: 0 IP → IPv6/IPv4, 1 ARP, 2 PC5-S, 3 NON-IP);
``Ether / PC5EMU(channel=1) / PC5Discovery`` on SL-DCH. The one-to-one MAC-I (LCID 29/30) is a
Scapy trailer field after the SDU. This is the readable reference for
:mod:`prose_mesh.wire.fast`, which untrusted per-packet bytes go through.
"""

from __future__ import annotations

from typing import Final

from scapy.fields import (
    BitEnumField,
    BitField,
    ByteField,
    ConditionalField,
    LenField,
    ShortField,
    TrailerField,
    X3BytesField,
    XIntField,
)
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet, Raw, bind_layers

from prose_mesh.wire import fast
from prose_mesh.wire.discovery import PC5Discovery
from prose_mesh.wire.pc5s import PC5S

CHANNELS: Final = {0: "SL-SCH", 1: "SL-DCH", 2: "SL-BCH (reserved)"}
CASTS: Final = {0: "broadcast", 1: "one-to-many", 2: "one-to-one"}
SDU_TYPES: Final = {0: "IP", 1: "ARP", 2: "PC5 SIGNALLING", 3: "NON-IP"}


class PC5EMU(Packet):
    """The 11-octet PC5-EMU shim standing in for SCI + MAC SL-SCH subheader [EMU]."""

    name = "PC5-EMU"
    fields_desc = [
        BitField("version", 1, 4),
        BitEnumField("channel", 0, 4, CHANNELS),
        ByteField("lcid", 1),
        X3BytesField("src_l2id", 0),
        X3BytesField("dst_l2id", 0xFFFFFF),
        BitField("pppp", 0, 4),
        BitEnumField("cast", 1, 4, CASTS),
        LenField("length", None, fmt="!H"),
    ]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return s[: self.length], s[self.length :]  # octets beyond LEN are Ethernet padding

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        if self.channel == fast.CH_SL_DCH:
            return PC5Discovery
        if self.channel == fast.CH_SL_SCH:
            return PDCP_SL_O2O if self.cast == fast.CAST_ONE_TO_ONE else PDCP_SL_O2M
        return Raw


class _PdcpSL(Packet):
    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        if self.sdu_type == fast.SDU_IP and payload:
            return IPv6 if payload[0] >> 4 == 6 else IP
        return {fast.SDU_ARP: ARP, fast.SDU_PC5S: PC5S, fast.SDU_NON_IP: PC5NonIP}.get(
            self.sdu_type, Raw
        )


class PDCP_SL_O2M(_PdcpSL):
    """One-to-many SLRB PDCP header (36.323 §6.2.10): SDU type, PGK index, PTK ID, SN."""

    name = "PDCP SL one-to-many"
    fields_desc = [
        BitEnumField("sdu_type", 0, 3, SDU_TYPES),
        BitField("pgk_index", 0, 5),
        ShortField("ptk_id", 0),
        ShortField("sn", 0),
    ]


def _has_mac_i(p: Packet) -> bool:
    u = p.underlayer
    return isinstance(u, PC5EMU) and u.lcid in fast.LCIDS_WITH_MAC_I


class PDCP_SL_O2O(_PdcpSL):
    """One-to-one PDCP header: SDU type, R, KD-sess ID, SN; MAC-I trailer on LCID 29/30."""

    name = "PDCP SL one-to-one"
    fields_desc = [
        BitEnumField("sdu_type", 2, 3, SDU_TYPES),
        BitField("reserved", 0, 5),
        ShortField("kdsess_id", 0),
        ShortField("sn", 0),
        ConditionalField(TrailerField(XIntField("mac_i", 0)), _has_mac_i),
    ]


class PC5NonIP(Packet):
    """NON-IP SDU [EMU]: a type octet, then the payload."""

    name = "PC5 NON-IP"
    fields_desc = [ByteField("non_ip_type", 0)]


bind_layers(Ether, PC5EMU, type=fast.ETHERTYPE_PC5)
