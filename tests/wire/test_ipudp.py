"""The fast IPv6/UDP codec agrees with Scapy (the reference) and rejects damaged packets."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6

from prose_mesh.errors import ParseError
from prose_mesh.wire.ipudp import (
    build_udp6,
    group_multicast,
    link_local,
    parse_udp6,
)

l2ids = st.integers(min_value=1, max_value=0xFFFFFF)
ports = st.integers(min_value=0, max_value=0xFFFF)


@settings(max_examples=300, deadline=None)
@given(l2ids, l2ids, ports, ports, st.binary(max_size=600), st.integers(1, 255))
def test_matches_scapy(src_id, grp, sport, dport, payload, hlim):
    src, dst = link_local(src_id), group_multicast(grp)
    ours = build_udp6(src, dst, sport, dport, payload, hop_limit=hlim)
    ref = bytes(
        IPv6(src=_txt(src), dst=_txt(dst), hlim=hlim) / UDP(sport=sport, dport=dport) / payload
    )
    assert ours == ref
    got = parse_udp6(ours)
    assert (got.src, got.dst, got.sport, got.dport, got.hop_limit, got.payload) == (
        src, dst, sport, dport, hlim, payload)


def _txt(raw: bytes) -> str:
    import ipaddress

    return str(ipaddress.IPv6Address(raw))


def test_every_bit_flip_and_truncation_is_rejected_or_parsed_cleanly():
    pkt = build_udp6(link_local(0x0A0B0C), group_multicast(0x123456), 2269, 2269, b"mikey" * 10)
    for i in range(len(pkt) * 8):
        flipped = bytearray(pkt)
        flipped[i // 8] ^= 0x80 >> (i % 8)
        # A flip in the traffic class / flow label / hop limit is not covered by the UDP
        # checksum and parses; every other flip must be rejected.
        try:
            parse_udp6(bytes(flipped))
        except ParseError:
            continue
        assert i < 32 or 56 <= i < 64, f"bit {i} flipped and was accepted"
    for n in range(len(pkt)):
        with pytest.raises(ParseError):
            parse_udp6(pkt[:n])


def test_link_local_and_multicast_layout():
    assert _txt(link_local(0x0A0B0C)) == "fe80::a:b0c"
    assert _txt(group_multicast(0xABCDEF)) == "ff05::ab:cdef"
