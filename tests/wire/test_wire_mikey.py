"""MIKEY-SAKKE: the 4 third-party I_MESSAGEs, builders, Scapy/codec agreement, strict rejects."""

import re

import pytest
from _wire_refs import decode_i_message, third_party_i_messages, user_ids
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6
from support import load_vector

from prose_mesh.errors import InvalidSignature, ParseError
from prose_mesh.wire import mikey as ml
from prose_mesh.wire import mikey_codec as mc
from prose_mesh.wire import samples

KMS_URI = b"kms.mydev.streamwide.com"
SIG = bytes(range(129))


def _sign(tbs: bytes) -> bytes:
    return SIG


# (title, key-ID field, RAND field, initiator URI, responder URI, map type, CS-ID, SPI)
CASES = [
    ("GMK", "GUK-ID", "GMK-RAND", mc.MAP_GENERIC_ID, 4),
    ("CSK", "CSK-ID", "CSK-RAND", mc.MAP_GENERIC_ID, 6),
    ("PCK", "PCK-ID", "PCK-RAND", mc.MAP_EMPTY, None),
    ("GMK (legacy format for IWF)", None, "GMK-RAND", mc.MAP_SRTP_ID, None),
]


@pytest.mark.parametrize(("title", "csb_field", "rand_field", "map_type", "cs_id"), CASES)
def test_third_party_i_messages(title, csb_field, rand_field, map_type, cs_id):
    vec = third_party_i_messages()[title]
    uids = user_ids()
    raw = decode_i_message(vec["I-MESSAGE"])
    msg = mc.parse_i_message(raw)
    assert msg.hdr.version == 1 and msg.hdr.data_type == 26 and msg.hdr.prf == 1
    if csb_field:
        assert msg.hdr.csb_id == int(vec[csb_field], 16)
    assert msg.hdr.map_type == map_type
    if cs_id is not None:
        (entry,) = msg.hdr.generic_map
        assert entry.cs_id == cs_id
    if title == "GMK":
        assert msg.spi == bytes.fromhex(vec["GMK-ID"] + vec["GUK-ID"])
    if title == "CSK":
        assert msg.spi == bytes.fromhex(vec["CSK-ID"])
    assert msg.rand == bytes.fromhex(vec[rand_field])
    assert msg.t.ts_type == mc.TS_NTP_UTC
    assert msg.idr(mc.ROLE_UID_I) == uids[vec["Initiator URI"]]
    assert msg.idr(mc.ROLE_UID_R) == uids[vec["Responder URI"]]
    assert msg.idr(mc.ROLE_IDRKMSI) == KMS_URI and msg.idr(mc.ROLE_IDRKMSR) == KMS_URI
    assert [p.role for p in msg.payloads if isinstance(p, mc.Idr)] == [8, 9, 6, 7]
    assert len(msg.sakke.data) == 273 and msg.sakke.data[0] == 4
    assert msg.sakke.params == 1
    assert msg.s_type == 2 and len(msg.signature) == 129
    assert msg.signed_part == raw[:-129] and msg.signature == raw[-129:]
    assert msg.signed_part[-2:] == bytes([0x20, 0x81])  # S type 2 | length 129
    assert msg.ext(mc.EXT_KEY_PARAMETERS) is not None
    # re-serialisation, fast codec and Scapy
    assert msg.encode() == raw
    assert bytes(ml.MIKEY_HDR(raw)) == raw
    assert bytes(ml.to_scapy(msg)) == raw
    assert [type(p).__name__ for p in msg.payloads][:7] == [
        "T", "Rand", "Idr", "Idr", "Idr", "Idr", "SP"]


def test_legacy_srtp_id_map():
    vec = third_party_i_messages()["GMK (legacy format for IWF)"]
    msg = mc.parse_i_message(decode_i_message(vec["I-MESSAGE"]))
    assert msg.hdr.srtp_map[0] == mc.SrtpIdEntry(0, 0xCAFEBABE, 0)
    assert len(msg.hdr.srtp_map) == 2


def _payload_args(**over):
    args = {
        "t_ntp": mc.ntp_from_unix(1_700_000_000.5),
        "rand": b"\x11" * 16,
        "initiator_uid": b"I" * 32,
        "responder_uid": b"R" * 32,
        "kms_uri_initiator": KMS_URI,
        "kms_uri_responder": KMS_URI,
        "sakke_data": b"\x04" + b"\xab" * 272,
    }
    args.update(over)
    return args


def test_gmk_builder_default_empty_map_and_order():
    seen = []

    def sign(tbs):
        seen.append(tbs)
        return SIG

    raw = mc.build_gmk_i_message(guk_id=0x06A12AEA, gmk_id=0x0DF9BC39, sign=sign,
                                 **_payload_args())
    assert seen == [raw[:-129]] and raw[-131:-129] == b"\x20\x81"
    msg = mc.parse_i_message(raw)
    assert msg.hdr.csb_id == 0x06A12AEA
    assert msg.hdr.map_type == mc.MAP_EMPTY and msg.hdr.n_cs == 0
    assert raw[8:10] == b"\x00\x01"  # #CS = 0, map type 1
    assert [p.pt for p in msg.payloads] == [5, 11, 14, 14, 14, 14, 10, 26]
    assert msg.sp.params == mc.DEFAULT_SP_PARAMS
    assert msg.t.value >> 32 == 1_700_000_000 + 2_208_988_800
    assert msg.signature == SIG and msg.encode() == raw


def test_gmk_builder_generic_id_option():
    raw = mc.build_gmk_i_message(guk_id=0x06A12AEA, gmk_id=0x0DF9BC39, sign=_sign,
                                 generic_id_map=True, **_payload_args())
    msg = mc.parse_i_message(raw)
    # same HDR octets as the third-party GMK vector (01 1a 05 01 06a12aea 01 02 04 00 01 00 ...)
    assert raw[:25].hex() == "011a050106a12aea01020400010000000" "80df9bc3906a12aea"
    assert msg.spi == bytes.fromhex("0df9bc3906a12aea")


def test_pck_and_csk_builders():
    pck = mc.parse_i_message(mc.build_pck_i_message(pck_id=0x16992638, sign=_sign,
                                                    **_payload_args()))
    assert pck.hdr.csb_id == 0x16992638 and pck.hdr.map_type == mc.MAP_EMPTY
    csk = mc.parse_i_message(mc.build_csk_i_message(csk_id=0x2DDD5BF0, sign=_sign,
                                                    generic_id_map=True, **_payload_args()))
    assert csk.hdr.generic_map[0].cs_id == 6 and csk.spi == bytes.fromhex("2ddd5bf0")


def test_extensions_and_scapy_build_agree():
    ext = mc.GeneralExt(mc.EXT_SAKKE_TO_SELF, b"\x01\x02" + b"\x04" + b"\x00" * 272)
    raw = mc.build_gmk_i_message(guk_id=1, gmk_id=2, sign=_sign,
                                 **_payload_args(extensions=[ext]))
    msg = mc.parse_i_message(raw)
    assert msg.ext(mc.EXT_SAKKE_TO_SELF) == ext
    assert bytes(ml.to_scapy(msg)) == raw
    # Scapy with next_payload left to post_build
    pkt = (ml.MIKEY_HDR(csb_id=1) / ml.MIKEY_T(ts_value=5) / ml.MIKEY_RAND(rand=b"r" * 16)
           / ml.MIKEY_SAKKE(data=b"\x04" * 273) / ml.MIKEY_SIGN(signature=SIG))
    assert bytes(pkt) == mc.encode_message(
        mc.Hdr(1), [mc.T(5), mc.Rand(b"r" * 16), mc.Sakke(b"\x04" * 273)], SIG)


def test_udp_2269_binding():
    raw = mc.build_pck_i_message(pck_id=5, sign=_sign, **_payload_args())
    pkt = IPv6(bytes(IPv6() / UDP(sport=2269, dport=2269) / raw))
    assert pkt[ml.MIKEY_HDR].csb_id == 5 and pkt[ml.MIKEY_SIGN].signature == SIG


def test_psk_group_call_key_message():
    kd = mc.KeyData(key=b"K" * 16, salt=b"S" * 12, spi=b"\x01\x02\x03\x04")
    assert mc.parse_key_data(kd.encode()) == kd
    raw = mc.build_group_call_key_message(
        csb_id=0x0DF9BC39, t_ntp=7, rand=b"\x22" * 16, initiator_uri=b"sip:a@x",
        initiator_uid=b"U" * 32, encr_key_data=b"\x99" * 37, sign=_sign)
    msg = mc.parse_psk_message(raw)
    assert msg.hdr.data_type == 0 and msg.hdr.map_type == mc.MAP_EMPTY
    assert [p.pt for p in msg.payloads] == [5, 11, 14, 14, 10, 1]
    assert msg.kemac == mc.Kemac(b"\x99" * 37, mc.ENCR_AES_CM_128, mc.MAC_NULL, b"")
    assert msg.initiator_id == b"U" * 32 and msg.idr(mc.ROLE_IDRI) == b"sip:a@x"
    assert bytes(ml.to_scapy(msg)) == raw
    with pytest.raises(ParseError) as err:
        mc.parse_i_message(raw)
    assert err.value.reason == "UNKNOWN_TYPE"


def test_sign_must_return_129_octets():
    with pytest.raises(ValueError):
        mc.build_pck_i_message(pck_id=1, sign=lambda _t: b"short", **_payload_args())


def _raw():
    return mc.build_gmk_i_message(guk_id=1, gmk_id=2, sign=_sign, **_payload_args())


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b"\x02" + b[1:], "BAD_HEADER"),  # version 2
        (lambda b: b[:1] + b"\x05" + b[2:], "UNKNOWN_TYPE"),  # data type 5
        (lambda b: b[:9] + b"\x07" + b[10:], "UNKNOWN_TYPE"),  # map type 7
        (lambda b: b[:8] + b"\x01" + b[9:], "BAD_HEADER"),  # empty map with #CS 1
        (lambda b: b[:2] + b"\x03" + b[3:], "UNKNOWN_TYPE"),  # next = DH payload
        (lambda b: b + b"\x00", "TRAILING"),
        (lambda b: b[:-1], "TRUNCATED"),
        (lambda b: b[:-131] + b"\x10\x81" + b[-129:], "UNKNOWN_TYPE"),  # S type 1
        (lambda b: b[:-131] + b"\x20\x80" + b[-129:], "BAD_LENGTH"),  # SIGN len 128
        (lambda b: b[:10] + b"\x05" + b[11:], "LOOP"),  # T.next = T: repeated singleton
        (lambda b: b[:10] + b"\x00" + b[11:], "MISSING"),  # chain ends after T, no SIGN
        (lambda b: b[:2] + b"\x04" + b[3:], "UNKNOWN_TYPE"),  # HDR → SIGN: T octets, S type 0
    ],
)
def test_strict_rejects(mutate, reason):
    raw = _raw()
    mc.parse_i_message(raw)
    with pytest.raises(ParseError) as err:
        mc.parse_i_message(mutate(raw))
    assert err.value.reason == reason


def test_missing_sakke_rejected():
    hdr = mc.Hdr(1)
    raw = mc.encode_message(hdr, [mc.T(1), mc.Rand(b"r" * 16)], SIG)
    mc.parse_mikey(raw)
    with pytest.raises(ParseError) as err:
        mc.parse_i_message(raw)
    assert err.value.reason == "MISSING"


def test_rand_too_short_and_sakke_length():
    raw = mc.encode_message(mc.Hdr(1), [mc.T(1), mc.Rand(b"r" * 15)], SIG)
    with pytest.raises(ParseError) as err:
        mc.parse_mikey(raw)
    assert err.value.reason == "BAD_LENGTH"
    raw = mc.encode_message(mc.Hdr(1), [mc.T(1), mc.Rand(b"r" * 16), mc.Sakke(b"\x04" * 272)], SIG)
    with pytest.raises(ParseError) as err:
        mc.parse_mikey(raw)
    assert err.value.reason == "BAD_LENGTH"


def test_chain_length_bounded():
    idrs = [mc.Idr(1, 1, b"x")] * (mc.MAX_PAYLOADS + 1)
    raw = mc.encode_message(mc.Hdr(1), idrs, SIG)
    with pytest.raises(ParseError) as err:
        mc.parse_mikey(raw)
    assert err.value.reason == "LOOP"


@settings(max_examples=200, deadline=None)
@given(
    csb=st.integers(0, 2**32 - 1),
    t=st.integers(0, 2**64 - 1),
    rand=st.binary(min_size=16, max_size=64),
    uid_i=st.binary(max_size=80),
    uid_r=st.binary(max_size=80),
    kms=st.binary(max_size=40),
    sp=st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=4)), max_size=12),
    sakke=st.binary(min_size=273, max_size=273),
    exts=st.lists(st.tuples(st.sampled_from([6, 7]), st.binary(max_size=300)), max_size=2),
    generic=st.booleans(),
)
def test_builder_parser_round_trip(csb, t, rand, uid_i, uid_r, kms, sp, sakke, exts, generic):
    raw = mc.build_gmk_i_message(
        guk_id=csb, gmk_id=csb ^ 0x0ABCDEF, sign=_sign, generic_id_map=generic, t_ntp=t,
        rand=rand, initiator_uid=uid_i, responder_uid=uid_r, kms_uri_initiator=kms,
        kms_uri_responder=kms, sakke_data=sakke, sp=mc.SP(tuple(sp)),
        extensions=[mc.GeneralExt(a, b) for a, b in exts])
    msg = mc.parse_i_message(raw)
    assert (msg.hdr.csb_id, msg.t.value, msg.rand) == (csb, t, rand)
    assert (msg.idr(8), msg.idr(9), msg.idr(6)) == (uid_i, uid_r, kms)
    assert msg.sp.params == tuple(sp) and msg.sakke.data == sakke
    assert [(e.type, e.data) for e in msg.find(mc.PT_GENERAL_EXT)] == exts
    assert msg.encode() == raw and bytes(ml.to_scapy(msg)) == raw
    assert bytes(ml.MIKEY_HDR(raw)) == raw


def test_signed_part_is_what_the_vector_signatures_cover():
    """§6.4 coverage checked with the real verifier: the vectors' ECCSI signatures verify over
    parse_i_message(...).signed_part with the initiator's UID and the KMS PubAuthKey."""
    eccsi = pytest.importorskip("prose_mesh.crypto.eccsi")
    md = load_vector("mikey_sakke_i_messages_thirdparty.json")["markdown"]
    kpak = bytes.fromhex(re.search(r"PubAuthKey\s*: ([0-9a-f]+)", md).group(1))
    for vec in third_party_i_messages().values():
        msg = mc.parse_i_message(decode_i_message(vec["I-MESSAGE"]))
        eccsi.eccsi_verify(msg.signed_part, msg.signature, identity=msg.initiator_id, kpak=kpak)
        with pytest.raises(InvalidSignature):  # without the SIGN S-type/length octets
            eccsi.eccsi_verify(msg.signed_part[:-2], msg.signature, identity=msg.initiator_id,
                               kpak=kpak)


def test_sample_builders_sign_the_signed_part():
    eccsi = pytest.importorskip("prose_mesh.crypto.eccsi")
    sign, enc, real = samples.default_crypto()
    assert real
    kpak = eccsi.eccsi_make_kpak(samples.SAMPLE_KSAK)
    for raw in samples.mikey_messages(sign, enc):
        msg = mc.parse_mikey(raw)
        eccsi.eccsi_verify(msg.signed_part, msg.signature, identity=samples.GMS_UID, kpak=kpak)
