"""Fast struct codecs vs the Scapy reference layers, and the shim rules of PROTOCOL.md §1.1."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.l2 import Ether
from scapy.packet import Padding, Raw

from prose_mesh.errors import ParseError
from prose_mesh.wire import fast
from prose_mesh.wire.pc5 import PC5EMU, PDCP_SL_O2M, PDCP_SL_O2O

u24 = st.integers(0, 0xFFFFFF)
u16 = st.integers(0, 0xFFFF)
sdus = st.binary(max_size=64)


@given(lcid=st.integers(1, 10), src=u24, dst=u24, pppp=st.integers(0, 15),
       cast=st.sampled_from([0, 1]), sdu_type=st.sampled_from([0, 1, 3]),
       pgk=st.integers(0, 31), ptk=u16, sn=u16, sdu=sdus)
def test_one_to_many_fast_equals_scapy(lcid, src, dst, pppp, cast, sdu_type, pgk, ptk, sn, sdu):
    fast_bytes = fast.build_sl_sch(lcid=lcid, src_l2id=src, dst_l2id=dst, cast=cast,
                                   sdu_type=sdu_type, sdu=sdu, key_id=ptk, sn=sn,
                                   pgk_index=pgk, pppp=pppp)
    scapy_bytes = bytes(PC5EMU(lcid=lcid, src_l2id=src, dst_l2id=dst, pppp=pppp, cast=cast)
                        / PDCP_SL_O2M(sdu_type=sdu_type, pgk_index=pgk, ptk_id=ptk, sn=sn)
                        / Raw(sdu))
    assert fast_bytes == scapy_bytes
    pdu = fast.parse_pc5(fast_bytes)
    assert pdu.shim == fast.Shim(1, 0, lcid, src, dst, pppp, cast, 5 + len(sdu))
    assert pdu.pdcp == fast.PdcpO2M(sdu_type, pgk, ptk, sn)
    assert pdu.body == sdu
    dissected = PC5EMU(fast_bytes)
    assert dissected[PDCP_SL_O2M].ptk_id == ptk and dissected.src_l2id == src


@given(lcid=st.sampled_from([1, 5, 10, 28, 29, 30]), src=u24, dst=u24, kds=u16, sn=u16,
       sdu=sdus, mac=st.integers(0, 0xFFFFFFFF))
def test_one_to_one_fast_equals_scapy(lcid, src, dst, kds, sn, sdu, mac):
    with_mac = lcid in (29, 30)
    sdu_type = 2 if lcid >= 28 else 0
    fast_bytes = fast.build_sl_sch(lcid=lcid, src_l2id=src, dst_l2id=dst, cast=2,
                                   sdu_type=sdu_type, sdu=sdu, key_id=kds, sn=sn,
                                   mac_i=mac if with_mac else None)
    pdcp = PDCP_SL_O2O(sdu_type=sdu_type, kdsess_id=kds, sn=sn)
    if with_mac:
        pdcp.mac_i = mac
    scapy_bytes = bytes(PC5EMU(lcid=lcid, src_l2id=src, dst_l2id=dst, cast=2) / pdcp / Raw(sdu))
    assert fast_bytes == scapy_bytes
    pdu = fast.parse_pc5(fast_bytes)
    assert pdu.pdcp == fast.PdcpO2O(sdu_type, 0, kds, sn, mac if with_mac else None)
    assert pdu.body == sdu
    if with_mac:
        assert PC5EMU(fast_bytes)[PDCP_SL_O2O].mac_i == mac


def test_known_answer_layout():
    # PROTOCOL.md §1.1 octet layout, written out by hand.
    b = fast.build_sl_sch(lcid=30, src_l2id=0x0A0B0C, dst_l2id=0x010203, cast=2, sdu_type=2,
                          sdu=b"\x07\x00\x09", key_id=0x1234, sn=0x0005, mac_i=0xDEADBEEF)
    assert b == bytes.fromhex("10" "1e" "0a0b0c" "010203" "02" "000c"
                              "40" "1234" "0005" "070009" "deadbeef")


def test_discovery_frame_and_ethernet():
    msg = bytes(29)
    frame = fast.ethernet(b"\x02\0\0\0\0\x01", fast.build_sl_dch(0x0A0B0C, bytes([0x91]) + msg[1:]))
    src, pdu = fast.parse_frame(frame)
    assert src == b"\x02\0\0\0\0\x01"
    assert pdu.shim.channel == 1 and pdu.shim.dst_l2id == 0xFFFFFF and pdu.pdcp is None
    assert Ether(frame)[PC5EMU].channel == 1


def test_padding_beyond_len_is_ignored():
    b = fast.build_sl_sch(lcid=1, src_l2id=1, dst_l2id=2, cast=1, sdu_type=0, sdu=b"abc")
    assert fast.parse_pc5(b + b"\0" * 20).body == b"abc"
    dissected = PC5EMU(b + b"\0" * 20)
    assert dissected[Padding].load == b"\0" * 20  # Scapy keeps octets beyond LEN as padding
    assert dissected.length == 8


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: bytes([0x20 | (b[0] & 0xF)]) + b[1:], "BAD_HEADER"),  # VER 2
        (lambda b: bytes([0x12]) + b[1:], "BAD_HEADER"),  # CH 2 reserved
        (lambda b: bytes([0x1F]) + b[1:], "BAD_HEADER"),  # CH 15 reserved
        (lambda b: b[:8] + bytes([0x03]) + b[9:], "BAD_HEADER"),  # CAST 3
        (lambda b: b[:1] + bytes([0]) + b[2:], "BAD_HEADER"),  # LCID 0 on SL-SCH
        (lambda b: b[:1] + bytes([11]) + b[2:], "BAD_HEADER"),  # LCID 11
        (lambda b: b[:-1], "TRUNCATED"),  # shorter than 11 + LEN
        (lambda b: b[:10], "TRUNCATED"),
        (lambda b: b[:11] + bytes([0x80]) + b[12:], "UNKNOWN_TYPE"),  # SDU type 4
        (lambda b: b[:11] + bytes([0x40]) + b[12:], "BAD_HEADER"),  # PC5-S SDU on LCID 1
    ],
)
def test_shim_and_pdcp_rejects(mutate, reason):
    good = fast.build_sl_sch(lcid=1, src_l2id=1, dst_l2id=2, cast=1, sdu_type=0, sdu=b"xyz")
    fast.parse_pc5(good)
    with pytest.raises(ParseError) as err:
        fast.parse_pc5(mutate(good))
    assert err.value.reason == reason


def test_mac_i_required_on_lcid_29_30():
    good = fast.build_sl_sch(lcid=29, src_l2id=1, dst_l2id=2, cast=2, sdu_type=2, sdu=b"",
                             mac_i=1)
    assert fast.parse_pc5(good).pdcp.mac_i == 1
    short = fast.build_shim(0, 29, 1, 2, 0, 2, 7) + bytes([0x40, 0, 0, 0, 0, 0, 0])
    with pytest.raises(ParseError) as err:
        fast.parse_pc5(short)
    assert err.value.reason == "TRUNCATED"
    with pytest.raises(ValueError):
        fast.build_sl_sch(lcid=29, src_l2id=1, dst_l2id=2, cast=2, sdu_type=2, sdu=b"")


def test_discovery_length_must_be_29():
    bad = fast.build_shim(1, 0, 1, 0xFFFFFF, 0, 0, 28) + bytes(28)
    with pytest.raises(ParseError) as err:
        fast.parse_pc5(bad)
    assert err.value.reason == "BAD_LENGTH"


def test_wrong_ethertype():
    with pytest.raises(ParseError) as err:
        fast.parse_frame(bytes(12) + b"\x86\xdd" + bytes(40))
    assert err.value.reason == "BAD_HEADER"
