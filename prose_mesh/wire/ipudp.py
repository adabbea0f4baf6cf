"""Fast IPv6/UDP codec for the SDUs of type IP (RFC 8200 §3, RFC 768, RFC 8200 §8.1 checksum).

MIKEY (UDP 2269), MONP (UDP 40000 by default), RTP and RTCP travel as IPv6/UDP inside PC5 SDUs
(PROTOCOL.md §1.1). UEs build and parse them per packet, so this module uses :mod:`struct` and
no Scapy; Scapy's IPv6/UDP layers remain the reference, and ``tests/wire`` proves both agree.

Addresses [EMU]: a UE's link-local address is ``fe80::/64`` with the 24-bit Layer-2 ID as the
interface identifier; a group's multicast address comes from its configuration (default
``ff05::/16`` + the 24-bit ProSe Layer-2 Group ID, see :func:`group_multicast`).
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Final, NamedTuple

from prose_mesh.wire._common import BAD_HEADER, BAD_LENGTH, TRUNCATED, fail

IPV6_HEADER_LEN: Final = 40
UDP_HEADER_LEN: Final = 8
NEXT_HEADER_UDP: Final = 17
DEFAULT_HOP_LIMIT: Final = 255  # link-scope sidelink traffic; a relay decrements it

_IPV6 = struct.Struct(">IHBB16s16s")
_UDP = struct.Struct(">HHHH")


class UdpDatagram(NamedTuple):
    """A parsed IPv6/UDP packet: addresses as 16 raw octets, the payload as bytes."""

    src: bytes
    dst: bytes
    sport: int
    dport: int
    hop_limit: int
    payload: bytes


def link_local(l2id: int) -> bytes:
    """fe80::<L2 ID> — the UE's link-local IPv6 address [EMU]."""
    return b"\xfe\x80" + bytes(10) + b"\x00" + (l2id & 0xFFFFFF).to_bytes(3, "big")


def group_multicast(l2_group_id: int) -> bytes:
    """ff05::<L2 group ID> — the default group multicast address [EMU] (site-local scope)."""
    return b"\xff\x05" + bytes(10) + b"\x00" + (l2_group_id & 0xFFFFFF).to_bytes(3, "big")


def address(text: str) -> bytes:
    """Parse a textual IPv6 address into 16 octets (configuration input, not the hot path)."""
    return ipaddress.IPv6Address(text).packed


def _checksum(src: bytes, dst: bytes, udp: bytes) -> int:
    # RFC 8200 §8.1 pseudo-header: src, dst, upper-layer length (32), 3 zero octets, next header.
    data = src + dst + struct.pack(">I3xB", len(udp), NEXT_HEADER_UDP) + udp
    if len(data) & 1:
        data += b"\x00"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    csum = ~total & 0xFFFF
    return csum or 0xFFFF  # RFC 768: a computed 0 is sent as all ones


def build_udp6(
    src: bytes,
    dst: bytes,
    sport: int,
    dport: int,
    payload: bytes,
    *,
    hop_limit: int = DEFAULT_HOP_LIMIT,
) -> bytes:
    """IPv6 header + UDP header (with the mandatory IPv6 UDP checksum) + payload."""
    udp_len = UDP_HEADER_LEN + len(payload)
    if udp_len > 0xFFFF:
        raise ValueError("UDP payload too long")
    udp = _UDP.pack(sport, dport, udp_len, 0) + payload
    csum = _checksum(src, dst, udp)
    udp = udp[:6] + csum.to_bytes(2, "big") + udp[8:]
    return _IPV6.pack(6 << 28, udp_len, NEXT_HEADER_UDP, hop_limit, src, dst) + udp


def parse_udp6(packet: bytes, *, verify_checksum: bool = True) -> UdpDatagram:
    """Parse an IPv6/UDP packet strictly; raise ParseError for anything else.

    Extension headers are not used by prose_mesh and are rejected (``BAD_HEADER``); the UDP
    checksum is checked because a corrupting medium must not hand damaged bytes to a parser.
    """
    if len(packet) < IPV6_HEADER_LEN + UDP_HEADER_LEN:
        raise fail(TRUNCATED, f"IPv6/UDP packet of {len(packet)} octets")
    vtf, plen, nh, hlim, src, dst = _IPV6.unpack_from(packet)
    if vtf >> 28 != 6:
        raise fail(BAD_HEADER, f"IP version {vtf >> 28}")
    if nh != NEXT_HEADER_UDP:
        raise fail(BAD_HEADER, f"next header {nh} is not UDP")
    if IPV6_HEADER_LEN + plen > len(packet):
        raise fail(TRUNCATED, "IPv6 payload length beyond the packet")
    if IPV6_HEADER_LEN + plen < len(packet):
        raise fail(BAD_LENGTH, "octets after the IPv6 payload")
    sport, dport, ulen, csum = _UDP.unpack_from(packet, IPV6_HEADER_LEN)
    if ulen != plen:
        raise fail(BAD_LENGTH, f"UDP length {ulen} != IPv6 payload length {plen}")
    udp = packet[IPV6_HEADER_LEN:]
    if verify_checksum and (csum == 0 or _checksum(src, dst, udp[:6] + b"\0\0" + udp[8:]) != csum):
        raise fail(BAD_HEADER, "UDP checksum")
    return UdpDatagram(src, dst, sport, dport, hlim, udp[UDP_HEADER_LEN:])
