"""PC5 signalling (24.334 §12.5): every message and IE round trips; strict parser rejects."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prose_mesh.errors import ParseError
from prose_mesh.wire import pc5s as s

b16 = st.binary(min_size=16, max_size=16)


def _all_ies():
    return {
        s.IEI_LINK_LOCAL_IPV6: s.IE_LinkLocalIPv6(address="fe80::1234"),
        s.IEI_AUTS: s.IE_AUTS(auts=b"A" * 14),
        s.IEI_RAND: s.IE_RAND(rand=b"R" * 16),
        s.IEI_LSB_KD_ID: s.IE_LSBofKDID(lsb_kd_id=0x0304),
        s.IEI_MSB_KD_ID: s.IE_MSBofKDID(msb_kd_id=0x0102),
        s.IEI_KD_ID: s.IE_KDID(kd_id=0x01020304),
        s.IEI_KD_FRESHNESS: s.IE_KDFreshness(kd_freshness=b"F" * 16),
        s.IEI_SIGNATURE: s.IE_Signature(signature=b"S" * 129),
        s.IEI_ENCRYPTED_PAYLOAD: s.IE_EncryptedPayload(payload_data=b"\x04" + b"E" * 272),
        s.IEI_GPI: s.IE_GPI(gpi=b"gpi-bytes"),
        s.IEI_RELAY_SERVICE_CODE: s.IE_RelayServiceCode(relay_service_code=0xABCDEF),
        s.IEI_MAX_INACTIVITY_PERIOD: s.IE_MaxInactivityPeriod(max_inactivity_period=99),
        s.IEI_AUTH_FLAG: s.IE_AuthFlag(auth_flag=1),
        s.IEI_PRUK_ID: s.IE_PRUKID(pruk_id=b"PRUK-ID8"),
        s.IEI_MIKEY_I_MESSAGE: s.IE_MikeyIMessage(i_message=b"\x01\x1a" + b"M" * 598),
    }


@pytest.mark.parametrize("msg_type", sorted(s.MSG_CLASSES))
def test_every_message_with_every_allowed_ie_round_trips(msg_type):
    ies = _all_ies()
    allowed = sorted(s.OPTIONAL.get(msg_type, ()))
    kwargs = {"seq": 0xBEEF}
    if allowed:
        kwargs["ies"] = [ies[i] for i in allowed]
    raw = bytes(s.MSG_CLASSES[msg_type](**kwargs))
    assert raw[0] == msg_type and raw[1:3] == b"\xbe\xef"
    parsed = s.parse_pc5s(raw)
    assert type(parsed) is s.MSG_CLASSES[msg_type]
    assert bytes(parsed) == raw
    if allowed:
        assert [ie.iei for ie in parsed.ies] == allowed
        for ie in parsed.ies:
            assert type(ie) is s.IE_CLASSES[ie.iei]
            assert bytes(ie) == bytes(ies[ie.iei])


def test_ie_encodings_by_hand():
    assert bytes(s.IE_KDID(kd_id=0x01020304)) == bytes.fromhex("110401020304")
    assert bytes(s.IE_RelayServiceCode(relay_service_code=0xABCDEF)) == bytes.fromhex("1903abcdef")
    sig = bytes(s.IE_Signature(signature=b"S" * 129))
    assert sig[:2] == bytes([22, 129]) and len(sig) == 131
    enc = bytes(s.IE_EncryptedPayload(payload_data=b"x" * 273))
    assert enc[:3] == bytes([23, 0x01, 0x11]) and len(enc) == 276  # TLV-E, 2-octet length


def test_dcr_layout_by_hand():
    raw = bytes(s.DirectCommunicationRequest(
        seq=1, user_info_type=3, user_info=b"\x21\x43", ip_address_config=3,
        max_inactivity_period=3600, nonce_1=bytes(range(16)), ue_security_capabilities=0xE0E0,
        msb_kdsess_id=0x2A))
    assert raw == bytes.fromhex("01" "0001" "03" "03" "2143" "03" "00000e10") + bytes(
        range(16)) + bytes.fromhex("e0e0" "2a")


@settings(max_examples=300, deadline=None)
@given(seq=st.integers(0, 0xFFFF), user=st.binary(max_size=40), ipc=st.integers(0, 255),
       mip=st.integers(0, 2**32 - 1), n1=b16, caps=st.integers(0, 0xFFFF),
       msb=st.integers(0, 255), kd=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
       sig=st.one_of(st.none(), st.binary(min_size=129, max_size=129)))
def test_dcr_property(seq, user, ipc, mip, n1, caps, msb, kd, sig):
    ies = []
    if kd is not None:
        ies.append(s.IE_KDID(kd_id=kd))
    if sig is not None:
        ies.append(s.IE_Signature(signature=sig))
    raw = bytes(s.DirectCommunicationRequest(
        seq=seq, user_info=user, ip_address_config=ipc, max_inactivity_period=mip, nonce_1=n1,
        ue_security_capabilities=caps, msb_kdsess_id=msb, ies=ies))
    p = s.parse_pc5s(raw)
    assert (p.seq, p.user_info, p.ip_address_config, p.max_inactivity_period) == (
        seq, user, ipc, mip)
    assert (p.nonce_1, p.ue_security_capabilities, p.msb_kdsess_id) == (n1, caps, msb)
    assert bytes(p) == raw
    if sig is not None:
        covered, signature = s.signed_part(raw)
        assert signature == sig and covered == raw[:-129] and covered[-2:] == bytes([22, 129])


@settings(max_examples=200, deadline=None)
@given(seq=st.integers(0, 0xFFFF), caps=st.integers(0, 0xFFFF), n2=b16,
       alg=st.integers(0, 255), lsb=st.integers(0, 255), sed=st.binary(max_size=400),
       gpi=st.binary(max_size=255))
def test_dsm_command_property(seq, caps, n2, alg, lsb, sed, gpi):
    raw = bytes(s.DirectSecurityModeCommand(
        seq=seq, ue_security_capabilities=caps, nonce_2=n2, chosen_algorithms=alg,
        lsb_kdsess_id=lsb, ies=[s.IE_GPI(gpi=gpi), s.IE_EncryptedPayload(payload_data=sed)]))
    p = s.parse_pc5s(raw)
    assert (p.nonce_2, p.chosen_algorithms, p.lsb_kdsess_id) == (n2, alg, lsb)
    assert p.ies[0].gpi == gpi and p.ies[1].payload_data == sed
    assert bytes(p) == raw


def _dcr():
    return bytes(s.DirectCommunicationRequest(seq=1, user_info=b"123", nonce_1=b"n" * 16))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "TRUNCATED"),
        (b"\x08\x00\x01", "UNKNOWN_TYPE"),  # TMGI monitoring: unused
        (b"\x63\x00\x01", "UNKNOWN_TYPE"),
        (_dcr()[:-1], "TRUNCATED"),
        (_dcr() + bytes.fromhex("1203aabbcc"), "UNKNOWN_TYPE"),  # KD Freshness not in DCR
        (_dcr() + bytes.fromhex("1103aabbcc"), "BAD_LENGTH"),  # KD ID of 3 octets
        (_dcr() + bytes.fromhex("110401020304" "110401020304"), "DUPLICATE"),
        (_dcr() + bytes.fromhex("1104010203"), "TRUNCATED"),
        (bytes.fromhex("070001ff"), "TRAILING"),  # RELEASE_ACCEPT has no IEs
        (bytes.fromhex("010001" "00"), "BAD_LENGTH"),  # empty User Info LV
    ],
)
def test_strict_rejects(raw, reason):
    with pytest.raises(ParseError) as err:
        s.parse_pc5s(raw)
    assert err.value.reason == reason


def test_signed_part_requires_signature_last():
    raw = bytes(s.DirectCommunicationRequest(ies=[s.IE_Signature(signature=b"s" * 129),
                                                  s.IE_KDID(kd_id=1)]))
    with pytest.raises(ParseError) as err:
        s.signed_part(raw)
    assert err.value.reason == "MISSING"


def test_mikey_i_message_ie_is_tlv_e_and_signature_still_last():
    ie = bytes(s.IE_MikeyIMessage(i_message=b"m" * 600))
    assert ie[:3] == bytes([29, 0x02, 0x58]) and len(ie) == 603  # TLV-E, 2-octet length
    dcr = s.DirectCommunicationRequest(seq=7, user_info=b"sip:a@x", nonce_1=b"n" * 16,
                                       ies=[s.IE_MikeyIMessage(i_message=b"m" * 600)])
    raw = s.sign_pc5s(dcr, lambda tbs: b"S" * 129)
    parsed = s.parse_pc5s(raw)
    assert [ie.iei for ie in parsed.ies] == [29, 22]
    assert parsed.ies[0].i_message == b"m" * 600
    covered, sig = s.signed_part(raw)
    assert sig == b"S" * 129 and covered.endswith(bytes([22, 129]))
    # a lying 2-octet length is rejected, not sliced
    with pytest.raises(ParseError) as err:
        s.parse_pc5s(raw[:-129 - 2 - 10])
    assert err.value.reason == "TRUNCATED"
