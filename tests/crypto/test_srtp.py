"""SRTP/SRTCP: known answers (RFC 3711 B.2/B.3, RFC 7714 §16/§17) and receive-path properties.

Known-answer sources (values copied from the documents, never from this code):
* RFC 3711 Appendix B.3 (key derivation) and B.2 (AES-CM keystream).
* RFC 7714 §16.1.1 (SRTP AEAD_AES_128_GCM encryption), §17.1 (SRTCP, E = 1) and §17.3 (SRTCP,
  authentication only, E = 0); IVs from §16.1.1 / §17.1. Key 000102…0f and salt
  "Quid pro quo" are the *session* key/salt there, so these tests install session keys directly.
"""

from __future__ import annotations

import struct

import pytest

from prose_mesh.crypto.srtp import (
    SessionKeys,
    SrtpError,
    SrtpHistory,
    SrtpProfile,
    SrtpReceiver,
    SrtpSender,
    aes_cm_iv,
    aes_cm_prf,
    derive_session_keys,
    gcm_srtcp_iv,
    gcm_srtp_iv,
    group_mki,
    private_mki,
)

h = bytes.fromhex
GCM = SrtpProfile.AEAD_AES_128_GCM
CM = SrtpProfile.AES_CM_128_HMAC_SHA1_80

# --- RFC 3711 B.3
B3_MASTER_KEY = h("E1F97A0D3E018BE0D64FA32C06DE4139")
B3_MASTER_SALT = h("0EC675AD498AFEEBB6960B3AABE6")


def test_rfc3711_b3_key_derivation():
    keys = derive_session_keys(CM, B3_MASTER_KEY, B3_MASTER_SALT)
    assert keys.rtp_key == h("C61E7A93744F39EE10734AFE3FF7A087")
    assert keys.rtp_salt == h("30CBBC08863D8C85D49DB34A9AE1")
    assert keys.rtp_auth == h("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
    # B.3 walks the auth key out to 94 octets (six AES blocks).
    auth94 = aes_cm_prf(B3_MASTER_KEY, B3_MASTER_SALT, 0x01, 94)
    assert auth94 == h(
        "CEBE321F6FF7716B6FD4AB49AF256A15" "6D38BAA48F0A0ACF3C34E2359E6CDBCE"
        "E049646C43D9327AD175578EF7227098" "6371C10C9A369AC2F94A8C5FBCDDDC25"
        "6D6E919A48B610EF17C2041E47403576" "6B68642C59BBFC2F34DB60DBDFB2"
    )
    # SRTCP keys use other labels and so differ (no published value; distinctness only).
    assert len({keys.rtp_key, keys.rtcp_key}) == 2 and len(keys.rtcp_auth) == 20


def test_rfc3711_b2_aes_cm_keystream():
    # B.2: session key 2B7E…3C, salt F0F1…FD, SSRC 0, ROC 0, SEQ 0.
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    iv = aes_cm_iv(h("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"), 0, 0)
    assert iv == h("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000")
    enc = Cipher(algorithms.AES(h("2B7E151628AED2A6ABF7158809CF4F3C")), modes.CTR(iv)).encryptor()
    ks = enc.update(bytes(48))
    assert ks == h("E03EAD0935C95E80E166B16DD92B4EB4" "D23513162B02D0F72A43A2FE4A5F97AB"
                   "41E95B3BB0A2E8DD477901E4FCA894C0")


# --- RFC 7714 §16/§17
K7714 = h("000102030405060708090a0b0c0d0e0f")
S7714 = h("517569642070726f2071756f")
KEYS7714 = SessionKeys(K7714, S7714, b"", K7714, S7714, b"")
RTP_7714 = h("8040f17b8041f8d35501a0b247616c6c696120657374206f6d6e69732064697669736120696e20"
             "7061727465732074726573")
SRTP_7714 = h("8040f17b8041f8d35501a0b2f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f4"
              "7a51c7d19b36de3adf8833899d7f27beb16a9152cf765ee4390cce")
RTCP_7714 = h("81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61deadbeefdeadbeef"
              "deadbeefdeadbeefdeadbeef")
SRTCP_7714_E1 = h("81c8000d4d61727363e94885dcdab67ca727d7662f6b7e997ff5c0f76c06f32dc676a5f1730d6f"
                  "da4ce09b4686303ded0bb9275bc84aa45896cf4d2fc5abf87245d9eade800005d4")
SRTCP_7714_E0 = RTCP_7714 + h("841dd9683dd78ec92ae58790125f62b3000005d4")


def test_rfc7714_ivs():
    assert gcm_srtp_iv(S7714, 0x5501A0B2, 0, 0xF17B) == h("51753c6580c2726f20718414")
    assert gcm_srtcp_iv(S7714, 0x4D617273, 0x5D4) == h("517524055203726f207170bb")


def test_rfc7714_16_1_srtp_protect_and_unprotect():
    sender = SrtpSender.from_session_keys(GCM, KEYS7714, ssrc=0x5501A0B2)
    assert sender.protect_rtp(RTP_7714) == SRTP_7714
    rx = SrtpReceiver(GCM)
    rx.add_session_keys(b"", KEYS7714)
    out = rx.unprotect_rtp(SRTP_7714)
    assert out.packet == RTP_7714 and out.index == 0xF17B and out.ssrc == 0x5501A0B2


def test_rfc7714_17_srtcp_vectors():
    sender = SrtpSender.from_session_keys(GCM, KEYS7714, ssrc=0x4D617273, srtcp_next_index=0x5D4)
    assert sender.protect_rtcp(RTCP_7714) == SRTCP_7714_E1
    plain = SrtpSender.from_session_keys(GCM, KEYS7714, ssrc=0x4D617273,
                                         srtcp_next_index=0x5D4, srtcp_encrypt=False)
    assert plain.protect_rtcp(RTCP_7714) == SRTCP_7714_E0
    rx = SrtpReceiver(GCM, require_srtcp_encryption=False)
    rx.add_session_keys(b"", KEYS7714)
    assert rx.unprotect_rtcp(SRTCP_7714_E1).packet == RTCP_7714
    rx2 = SrtpReceiver(GCM, require_srtcp_encryption=False)
    rx2.add_session_keys(b"", KEYS7714)
    assert rx2.unprotect_rtcp(SRTCP_7714_E0).packet == RTCP_7714


def test_unencrypted_srtcp_refused_by_default_policy():
    rx = SrtpReceiver(GCM)
    rx.add_session_keys(b"", KEYS7714)
    with pytest.raises(SrtpError) as ei:
        rx.unprotect_rtcp(SRTCP_7714_E0)
    assert ei.value.reason == "POLICY"
    assert rx.snapshot() == ((), ())


# --- helpers for the property tests

MK, MS14, MS12 = bytes(range(16)), bytes(range(100, 114)), bytes(range(100, 112))
SSRC = 0xCAFEBABE


def rtp(seq: int, payload: bytes = b"voice-frame", ssrc: int = SSRC) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, seq, 1000 + seq, ssrc) + payload


def rtcp(ssrc: int = SSRC, body: bytes = b"\x00" * 20) -> bytes:
    return struct.pack("!BBHI", 0x81, 200, (len(body) + 4) // 4, ssrc) + body


def pair(profile: SrtpProfile, *, mki: bytes = b"", window: int = 64):
    salt = MS12 if profile is GCM else MS14
    tx = SrtpSender(profile, MK, salt, ssrc=SSRC, mki=mki)
    rx = SrtpReceiver(profile, mki_len=len(mki), window=window)
    rx.add_key(mki, MK, salt)
    return tx, rx


def reason_of(fn, *args) -> str:
    with pytest.raises(SrtpError) as ei:
        fn(*args)
    return ei.value.reason


@pytest.mark.parametrize("profile", [GCM, CM])
@pytest.mark.parametrize("mki", [b"", private_mki(0x16992638), group_mki(0x0DF9BC39, 0x06A12AEA)])
def test_round_trip_rtp_and_rtcp(profile, mki):
    tx, rx = pair(profile, mki=mki)
    for seq in range(5):
        prot = tx.protect_rtp(rtp(seq))
        assert b"voice-frame" not in prot
        assert rx.unprotect_rtp(prot).packet == rtp(seq)
        assert rx.unprotect_rtcp(tx.protect_rtcp(rtcp())).packet == rtcp()
    assert rx.accepted == {"rtp": 5, "rtcp": 5}


@pytest.mark.parametrize("profile", [GCM, CM])
def test_every_single_bit_flip_is_rejected_and_changes_no_state(profile):
    mki = group_mki(0x0DF9BC39, 0x06A12AEA)
    tx, rx = pair(profile, mki=mki)
    rx.unprotect_rtp(tx.protect_rtp(rtp(0)))
    rx.unprotect_rtcp(tx.protect_rtcp(rtcp()))
    before = rx.snapshot()
    prot = tx.protect_rtp(rtp(1))
    n, tag = len(prot), profile.tag_len
    mki_at = range(n - len(mki), n) if profile is GCM else range(n - tag - len(mki), n - tag)
    for bit in range(8 * n):
        bad = bytearray(prot)
        bad[bit // 8] ^= 0x80 >> (bit % 8)
        reason = reason_of(rx.unprotect_rtp, bytes(bad))
        if bit < 2:  # RTP version
            assert reason == "BAD_HEADER"
        elif bit < 8:  # P, X, CC: header length changes → malformed or tag failure
            assert reason in {"MALFORMED", "BAD_TAG"}
        elif bit // 8 in (2, 3):  # SEQ: the cheap pre-check may reject before any crypto
            assert reason in {"BAD_TAG", "replay_old", "replay_fail"}
        elif bit // 8 in mki_at:
            assert reason == "UNKNOWN_KEY"
        else:
            assert reason == "BAD_TAG", bit
        assert rx.snapshot() == before
    sprot = tx.protect_rtcp(rtcp())
    for bit in range(2, 8 * len(sprot)):
        bad = bytearray(sprot)
        bad[bit // 8] ^= 0x80 >> (bit % 8)
        assert reason_of(rx.unprotect_rtcp, bytes(bad)) in {
            "BAD_TAG", "UNKNOWN_KEY", "POLICY", "replay_fail", "replay_old"}  # E/index word
        assert rx.snapshot() == before
    # The genuine packets are still accepted afterwards.
    assert rx.unprotect_rtp(prot).packet == rtp(1)
    assert rx.unprotect_rtcp(sprot).packet == rtcp()


@pytest.mark.parametrize("window", [64, 128])
def test_replays_fail_inside_and_old_behind_window(window):
    tx, rx = pair(GCM, window=window)
    sent = [tx.protect_rtp(rtp(seq)) for seq in range(window + 10)]
    for p in sent:
        rx.unprotect_rtp(p)
    before = rx.snapshot()
    for p in sent[-window:]:  # A6: the last `window` packets → replay_fail
        assert reason_of(rx.unprotect_rtp, p) == "replay_fail"
    for p in sent[:10]:  # behind the window → replay_old
        assert reason_of(rx.unprotect_rtp, p) == "replay_old"
    assert rx.snapshot() == before
    assert rx.rejects == {"replay_fail": window, "replay_old": 10}


def test_replay_state_outlives_the_receiver_of_a_call_context():
    """A6 on netns found it: a member whose call context is re-created (left and re-joined, a
    late-entry probe) got a fresh receiver whose empty windows accepted replays of packets it
    had already played. With a shared history the same keys keep their replay state."""
    mki = group_mki(0x0DF9BC39, 0x06A12AEA)
    history = SrtpHistory(capacity=8)
    tx = SrtpSender(GCM, MK, MS12, ssrc=SSRC, mki=mki)
    sent = [tx.protect_rtp(rtp(seq)) for seq in range(10)]
    floor = tx.protect_rtcp(rtcp())
    first = SrtpReceiver(GCM, mki_len=8, history=history)
    first.add_key(mki, MK, MS12)
    for p in sent[:5]:
        first.unprotect_rtp(p)
    first.unprotect_rtcp(floor)
    again = SrtpReceiver(GCM, mki_len=8, history=history)  # the re-created call context
    again.add_key(mki, MK, MS12)
    assert [reason_of(again.unprotect_rtp, p) for p in sent[:5]] == ["replay_fail"] * 5
    assert reason_of(again.unprotect_rtcp, floor) == "replay_fail"
    for p in sent[5:]:  # the stream goes on where it was
        again.unprotect_rtp(p)
    assert reason_of(first.unprotect_rtp, sent[7]) == "replay_fail"  # one state, shared
    # other keys start clean: their indices may repeat legitimately
    other = SrtpReceiver(GCM, mki_len=8, history=history)
    other.add_key(mki, bytes(16), MS12)
    tx2 = SrtpSender(GCM, bytes(16), MS12, ssrc=SSRC, mki=mki)
    assert other.unprotect_rtp(tx2.protect_rtp(rtp(0))).index == 0
    # bounded: the least recently used stream goes beyond the capacity
    for n in range(20):
        rx = SrtpReceiver(GCM, mki_len=8, history=history)
        rx.add_key(mki, bytes([n + 1]) * 16, MS12)
        rx.unprotect_rtp(SrtpSender(GCM, bytes([n + 1]) * 16, MS12, ssrc=SSRC, mki=mki)
                         .protect_rtp(rtp(0)))
    assert len(history.rtp) == 8 and history.evicted > 0


def test_srtcp_has_its_own_replay_list():
    tx, rx = pair(GCM)
    p_rtp, p_rtcp = tx.protect_rtp(rtp(0)), tx.protect_rtcp(rtcp())  # both index 0
    rx.unprotect_rtp(p_rtp)
    rx.unprotect_rtcp(p_rtcp)  # index 0 on SRTCP is not a replay of SRTP index 0
    assert reason_of(rx.unprotect_rtcp, p_rtcp) == "replay_fail"
    assert reason_of(rx.unprotect_rtp, p_rtp) == "replay_fail"
    later = [tx.protect_rtcp(rtcp()) for _ in range(70)]
    for p in later:
        rx.unprotect_rtcp(p)
    assert reason_of(rx.unprotect_rtcp, later[0]) == "replay_old"


def test_reordering_inside_window_is_accepted():
    tx, rx = pair(CM)
    sent = [tx.protect_rtp(rtp(seq)) for seq in range(200)]
    order = []
    for base in range(0, 200, 10):  # A7: reverse every block of 10 (gap ≤ 9 < window)
        order.extend(range(base + 9, base - 1, -1))
    for i in order:
        assert rx.unprotect_rtp(sent[i]).packet == rtp(i)
    assert sum(rx.rejects.values()) == 0


def test_roc_follows_sequence_wrap_and_late_reorder():
    tx, rx = pair(GCM)
    seqs = list(range(65530, 65536)) + list(range(0, 6))
    sent = [tx.protect_rtp(rtp(s)) for s in seqs]
    for p in sent[:5] + sent[6:] + sent[5:6]:  # 65535 arrives after the wrap
        rx.unprotect_rtp(p)
    stream = rx.rtp_stream(b"", SSRC)
    assert stream is not None and stream.roc == 1 and stream.s_l == 5
    assert rx.unprotect_rtp(tx.protect_rtp(rtp(6))).index == (1 << 16) | 6


def test_late_joiner_needs_the_roc():
    tx, _ = pair(GCM)
    tx.last_index = (3 << 16) | 100
    prot = tx.protect_rtp(rtp(101))
    rx = SrtpReceiver(GCM)
    rx.add_key(b"", MK, MS12)
    assert reason_of(rx.unprotect_rtp, prot) == "BAD_TAG"  # ROC 0 assumed: wrong IV
    rx.set_roc(b"", SSRC, 3)
    assert rx.unprotect_rtp(prot).index == (3 << 16) | 101


def test_mki_selects_the_key_and_unknown_mki_is_rejected():
    mki_a, mki_b = group_mki(0x01, 0x02), group_mki(0x01, 0x03)
    rx = SrtpReceiver(GCM, mki_len=8)
    rx.add_key(mki_a, MK, MS12)
    rx.add_key(mki_b, bytes(16), MS12)
    tx_a = SrtpSender(GCM, MK, MS12, ssrc=SSRC, mki=mki_a)
    tx_b = SrtpSender(GCM, bytes(16), MS12, ssrc=SSRC, mki=mki_b)
    tx_wrong = SrtpSender(GCM, MK, MS12, ssrc=SSRC, mki=mki_b)  # right MKI, wrong key
    assert rx.unprotect_rtp(tx_a.protect_rtp(rtp(0))).mki == mki_a
    assert rx.unprotect_rtp(tx_b.protect_rtp(rtp(0))).mki == mki_b  # separate (MKI, SSRC) state
    assert reason_of(rx.unprotect_rtp, tx_wrong.protect_rtp(rtp(1))) == "BAD_TAG"
    tx_unknown = SrtpSender(GCM, MK, MS12, ssrc=SSRC, mki=group_mki(9, 9))
    assert reason_of(rx.unprotect_rtp, tx_unknown.protect_rtp(rtp(0))) == "UNKNOWN_KEY"
    assert reason_of(rx.unprotect_rtcp, tx_unknown.protect_rtcp(rtcp())) == "UNKNOWN_KEY"
    rx.remove_key(mki_a)
    assert reason_of(rx.unprotect_rtp, tx_a.protect_rtp(rtp(1))) == "UNKNOWN_KEY"


@pytest.mark.parametrize("profile", [GCM, CM])
def test_truncations_are_malformed_never_crash(profile):
    tx, rx = pair(profile, mki=private_mki(7))
    prot = tx.protect_rtp(rtp(0, b"x" * 40))
    sprot = tx.protect_rtcp(rtcp())
    for cut in range(len(prot)):
        assert reason_of(rx.unprotect_rtp, prot[:cut]) in {"MALFORMED", "UNKNOWN_KEY", "BAD_TAG"}
    for cut in range(len(sprot)):
        assert reason_of(rx.unprotect_rtcp, sprot[:cut]) in {
            "MALFORMED", "UNKNOWN_KEY", "BAD_TAG", "POLICY"}
    assert rx.snapshot() == ((), ())


def test_rtp_header_extension_and_csrc_are_authenticated_not_encrypted():
    ext = struct.pack("!BBHII", 0x91, 96, 7, 1, SSRC) + b"\x00\x00\x00\x01" + struct.pack(
        "!HH", 0xBEDE, 1) + b"EXT!" + b"payload"
    tx, rx = pair(GCM)
    prot = tx.protect_rtp(ext)
    assert prot[:24] == ext[:24]  # header incl. CSRC and extension stays clear
    assert rx.unprotect_rtp(prot).packet == ext


def test_sender_never_reuses_an_index_and_respects_limits():
    tx = SrtpSender(GCM, MK, MS12, ssrc=SSRC)
    tx.protect_rtp(rtp(0))
    # The same SEQ again would need index 2^16 (a jump the receiver cannot follow): refused,
    # and in no case is index 0 used twice.
    assert reason_of(tx.protect_rtp, rtp(0)) == "POLICY"
    assert reason_of(tx.protect_rtp, rtp(0x8000)) == "POLICY"  # jump ≥ 2^15
    assert tx.last_index == 0
    tx.protect_rtp(rtp(0x7FFF))
    for seq in (0xFFF0, 0xFFFF, 0x0000):  # wrap: ROC advances
        tx.protect_rtp(rtp(seq))
    assert tx.last_index == 1 << 16
    assert reason_of(tx.protect_rtp, rtp(1, ssrc=1)) == "POLICY"
    tx.last_index = (1 << 48) - 1
    assert reason_of(tx.protect_rtp, rtp(0)) == "KEY_EXHAUSTED"
    tx.srtcp_next_index = 1 << 31
    assert reason_of(tx.protect_rtcp, rtcp()) == "KEY_EXHAUSTED"


def test_stream_table_is_bounded_and_never_evicts():
    rx = SrtpReceiver(GCM, max_streams=2)
    rx.add_key(b"", MK, MS12)
    for ssrc in (1, 2):
        rx.unprotect_rtp(SrtpSender(GCM, MK, MS12, ssrc=ssrc).protect_rtp(rtp(0, ssrc=ssrc)))
    tx3 = SrtpSender(GCM, MK, MS12, ssrc=3)
    assert reason_of(rx.unprotect_rtp, tx3.protect_rtp(rtp(0, ssrc=3))) == "CACHE_FULL"
    assert rx.rtp_stream(b"", 1) is not None and rx.rtp_stream(b"", 3) is None


def test_bad_version_is_bad_header():
    tx, rx = pair(GCM)
    prot = bytearray(tx.protect_rtp(rtp(0)))
    prot[0] = 0x40
    assert reason_of(rx.unprotect_rtp, bytes(prot)) == "BAD_HEADER"
