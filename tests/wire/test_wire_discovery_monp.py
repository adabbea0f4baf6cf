"""PC5_DISCOVERY (24.334 §11.2.5), MONP (24.379 §15) and MCPT floor control (24.380 §8)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6

from prose_mesh.constants import MONP_PORT
from prose_mesh.errors import ParseError
from prose_mesh.wire import discovery as d
from prose_mesh.wire import monp as m

# PROTOCOL.md §3 computed values (restricted): (class, model, expected Message Type octet)
EXPECTED = [
    (d.DiscoveryAnnouncement, d.MODEL_A, 0x81),
    (d.RelayDiscoveryAnnouncement, d.MODEL_A, 0x91),
    (d.RelayDiscoveryAnnouncement, d.MODEL_B, 0x92),
    (d.RelayDiscoverySolicitation, d.MODEL_B, 0x96),
    (d.GroupMemberAnnouncement, d.MODEL_A, 0x99),
    (d.GroupMemberAnnouncement, d.MODEL_B, 0x9A),
    (d.GroupMemberSolicitation, d.MODEL_B, 0x9E),
]


@pytest.mark.parametrize(("cls", "model", "octet"), EXPECTED)
def test_message_type_values(cls, model, octet):
    raw = bytes(cls(model=model, mic=0xA1B2C3D4, utc_lsb=0x5E))
    assert len(raw) == 29 and raw[0] == octet
    assert raw[-5:] == bytes.fromhex("a1b2c3d45e")  # MIC 32 ‖ UTC LSB 8 close every layout
    open_raw = bytes(cls(model=model, disc_type=d.DISC_OPEN))
    assert open_raw[0] == octet - 0x40  # open = 01, restricted = 10
    p = d.parse_discovery(raw)
    assert type(p) is cls and bytes(p) == raw and p.mic == 0xA1B2C3D4


@given(rsc=st.integers(0, 0xFFFFFF), info=st.binary(min_size=6, max_size=6),
       relay=st.integers(0, 0xFFFFFF), status=st.integers(0, 255),
       mic=st.integers(0, 2**32 - 1), utc=st.integers(0, 255))
def test_relay_announcement_property(rsc, info, relay, status, mic, utc):
    raw = bytes(d.RelayDiscoveryAnnouncement(relay_service_code=rsc, announcer_info=info,
                                             relay_ue_id=relay, status_indicator=status,
                                             mic=mic, utc_lsb=utc))
    assert raw[1:4] == rsc.to_bytes(3, "big") and raw[4:10] == info
    assert raw[10:13] == relay.to_bytes(3, "big") and raw[13] == status
    p = d.parse_discovery(raw)
    assert (p.relay_service_code, p.relay_ue_id, p.mic, p.utc_lsb) == (rsc, relay, mic, utc)


@given(group=st.integers(0, 0xFFFFFF), info=st.binary(min_size=6, max_size=6),
       target=st.binary(min_size=6, max_size=6))
def test_group_member_solicitation_property(group, info, target):
    raw = bytes(d.GroupMemberSolicitation(discoverer_info=info, discovery_group_id=group,
                                          target_user_info=target))
    assert raw[1:7] == info and raw[7:10] == group.to_bytes(3, "big") and raw[10:16] == target
    assert bytes(d.parse_discovery(raw)) == raw


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(bytes(28), "BAD_LENGTH"), (bytes(30), "BAD_LENGTH"),
     (bytes([0x41 | 0xC0]) + bytes(28), "UNKNOWN_TYPE"),  # discovery type 11
     (bytes([0x95]) + bytes(28), "UNKNOWN_TYPE"),  # relay solicitation with Model A
     (bytes([0xA1]) + bytes(28), "UNKNOWN_TYPE")],  # relay additional info: not encoded
)
def test_discovery_rejects(raw, reason):
    with pytest.raises(ParseError) as err:
        d.parse_discovery(raw)
    assert err.value.reason == reason


def test_monp_layouts_by_hand():
    assert bytes(m.GroupCallProbe(group_id=b"grp")) == bytes.fromhex("01" "0003") + b"grp"
    ann = bytes(m.GroupCallAnnouncement(
        call_id=0x1234, call_type=1, refresh_interval=10000, call_start_time=0x0102030405,
        last_call_type_change_time=0x0A0B0C0D0E, group_id=b"g", sdp=b"", originating_user_id=b"u",
        last_user_to_change_call_type=b"v", t_ies=[0x81]))
    assert ann == bytes.fromhex("02" "1234" "01" "2710" "0102030405" "0a0b0c0d0e"
                                "000167" "0000" "000175" "000176" "81")


@given(call_id=st.integers(0, 0xFFFF), start=st.integers(0, 2**40 - 1),
       group=st.binary(max_size=300), sdp=st.binary(max_size=300),
       t_ies=st.sampled_from([[], [0x80], [0x81], [0x80, 0x81]]))
def test_monp_announcement_property(call_id, start, group, sdp, t_ies):
    raw = bytes(m.GroupCallAnnouncement(call_id=call_id, call_start_time=start, group_id=group,
                                        sdp=sdp, t_ies=t_ies))
    p = m.parse_monp(raw)
    assert (p.call_id, p.call_start_time, p.group_id, p.sdp, p.t_ies) == (
        call_id, start, group, sdp, t_ies)
    assert bytes(p) == raw


def test_monp_accept_and_udp_binding():
    raw = bytes(m.GroupCallAccept(call_id=7, user_id=b"sip:b@x", group_id=b"sip:g@x"))
    assert m.parse_monp(raw).user_id == b"sip:b@x"
    pkt = IPv6(bytes(IPv6(dst="ff15::1") / UDP(sport=MONP_PORT, dport=MONP_PORT) / raw))
    assert pkt[m.GroupCallAccept].call_id == 7


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(b"", "TRUNCATED"), (b"\x09", "UNKNOWN_TYPE"), (bytes.fromhex("010005abcd"), "TRUNCATED"),
     (bytes.fromhex("010000ff"), "TRAILING"),
     (bytes(m.GroupCallAnnouncement()) + b"\x82", "UNKNOWN_TYPE"),
     (bytes(m.GroupCallAnnouncement(t_ies=[0x80, 0x80])), "DUPLICATE")],
)
def test_monp_rejects(raw, reason):
    with pytest.raises(ParseError) as err:
        m.parse_monp(raw)
    assert err.value.reason == reason


def test_floor_request_by_hand():
    raw = bytes(m.FloorControl(subtype=0, ssrc=0x11223344,
                               mcpt_fields=[m.MCPTField(id=0, value=b"\x07\x00"),
                                       m.MCPTField(id=6, value=b"abc")]))
    # V=2 P=0 subtype 0 | PT 204 | length 5 words−1 | SSRC | "MCPT" | 00 02 0700 | 06 03 'abc' 00
    assert raw == bytes.fromhex("80cc0005" "11223344") + b"MCPT" + bytes.fromhex(
        "00020700" "0603616263" "000000")[: 4 + 8]
    assert len(raw) % 4 == 0


@given(subtype=st.sampled_from(sorted(m.FLOOR_SUBTYPES)), ssrc=st.integers(0, 2**32 - 1),
       fields=st.lists(st.tuples(st.integers(0, 24), st.binary(max_size=40)), max_size=5))
def test_floor_property(subtype, ssrc, fields):
    raw = bytes(m.FloorControl(subtype=subtype, ssrc=ssrc,
                               mcpt_fields=[m.MCPTField(id=i, value=v) for i, v in fields]))
    assert len(raw) % 4 == 0
    p = m.parse_floor(raw)
    assert (p.subtype, p.ssrc) == (subtype, ssrc)
    assert [(f.id, f.value) for f in p.mcpt_fields] == fields
    assert bytes(p) == raw


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(bytes.fromhex("80cc0002" "00000001") + b"MCPX", "BAD_HEADER"),
     (bytes.fromhex("80c90002" "00000001") + b"MCPT", "BAD_HEADER"),
     (bytes.fromhex("80cc0003" "00000001") + b"MCPT", "BAD_LENGTH"),
     (bytes.fromhex("87cc0002" "00000001") + b"MCPT", "UNKNOWN_TYPE"),
     (bytes.fromhex("80cc0003" "00000001") + b"MCPT" + bytes.fromhex("0001ff01"), "BAD_LENGTH"),
     (bytes.fromhex("80cc0003" "00000001") + b"MCPT" + bytes.fromhex("0009ffff"), "TRUNCATED")],
)
def test_floor_rejects(raw, reason):
    with pytest.raises(ParseError) as err:
        m.parse_floor(raw)
    assert err.value.reason == reason
