"""Discovery security primitives (TS 33.303 A.2/A.5/A.6/A.8, 33.503 A.7).

No published test vectors exist for the restricted-discovery derivations (33.303 has no test-set
annex for them, and the FC values of A.2/A.5/A.6/A.8 are unchecked, PROTOCOL.md §11 item 3), so
every expected value here is recomputed independently from the formula: HMAC-SHA-256 from the
standard library for the 33.220 KDF, AES-128-CTR from ``cryptography`` for 128-EEA2.
"""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from prose_mesh.constants import FC_DISCOVERY_KEYS, FC_DISCOVERY_MIC
from prose_mesh.crypto import discovery_sec as ds
from prose_mesh.errors import ProseMeshError

PSDK = bytes(range(32))
COUNTER = 0x6553_F100 + 0x2B  # an arbitrary UTC second


def kdf_by_hand(key: bytes, fc: int, *params: bytes) -> bytes:
    s = bytes([fc]) + b"".join(p + len(p).to_bytes(2, "big") for p in params)
    return hmac.new(key, s, hashlib.sha256).digest()


def aes_ctr(key: bytes, iv: bytes, n: int) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return enc.update(bytes(n)) + enc.finalize()


def test_key_derivation_matches_formula():
    for which in (ds.DUIK, ds.DUSK, ds.DUCK):
        expected = hmac.new(
            PSDK, bytes([FC_DISCOVERY_KEYS, which, 0x00, 0x01]), hashlib.sha256
        ).digest()
        assert ds.derive_discovery_key(PSDK, which) == expected
    keys = ds.DiscoveryKeys.from_psdk(PSDK, confidentiality=True)
    assert len({keys.duik, keys.dusk, keys.duck}) == 3
    plain = ds.DiscoveryKeys.from_psdk(PSDK, scrambling=False)
    assert plain.dusk is None and plain.duck is None


def test_mic_is_32_lsbs_of_kdf_over_head_and_counter():
    duik = ds.derive_discovery_key(PSDK, ds.DUIK)
    head = bytes([0x99]) + os.urandom(23)
    s = (bytes([FC_DISCOVERY_MIC]) + head + b"\x00\x18"
         + COUNTER.to_bytes(4, "big") + b"\x00\x04")
    expected = hmac.new(duik, s, hashlib.sha256).digest()[-4:]
    assert ds.discovery_mic(duik, head, COUNTER) == expected
    msg = head + expected + bytes([COUNTER & 0xFF])
    assert ds.verify_mic(duik, msg, COUNTER)
    assert not ds.verify_mic(duik, msg, COUNTER + 1)  # the counter is authenticated


def test_scrambling_keystream_changes_every_16_seconds():
    dusk = ds.derive_discovery_key(PSDK, ds.DUSK)
    slot = COUNTER & ~0xF
    expected = kdf_by_hand(dusk, ds.FC_DISCOVERY_SCRAMBLE, slot.to_bytes(4, "big"))[-28:]
    for c in range(slot, slot + 16):
        assert ds.scrambling_keystream(dusk, c) == expected
    assert ds.scrambling_keystream(dusk, slot + 16) != expected
    assert ds.scrambling_keystream(dusk, slot - 1) != expected


def test_scramble_leaves_message_type_and_is_an_involution():
    dusk = ds.derive_discovery_key(PSDK, ds.DUSK)
    ks = ds.scrambling_keystream(dusk, COUNTER)
    msg = bytes([0x99]) + os.urandom(28)
    out = ds.scramble(msg, ks)
    assert out[0] == 0x99
    assert out[1:] == bytes(a ^ b for a, b in zip(msg[1:], ks, strict=True))
    assert ds.scramble(out, ks) == msg


def test_confidentiality_keystream_is_eea2_under_kdf_key_and_masked():
    duck = ds.derive_discovery_key(PSDK, ds.DUCK)
    mic = bytes.fromhex("a1b2c3d4")
    key = kdf_by_hand(duck, ds.FC_DISCOVERY_CONF, COUNTER.to_bytes(4, "big"), mic)[-16:]
    # 33.401 B.1.3: IV = COUNT(32) || BEARER(5)=0 || DIRECTION(1)=0 || 0^26 || 0^64
    raw = aes_ctr(key, COUNTER.to_bytes(4, "big") + bytes(12), 23)
    mask = b"\x00\xff\x0f"  # Encrypted_bits_mask || 0xFF..FF
    expected = bytes(a & b for a, b in zip(raw, mask + b"\xff" * 20, strict=True))
    assert ds.confidentiality_keystream(duck, COUNTER, mic, mask) == expected
    assert expected[0] == 0 and expected[2] & 0xF0 == 0
    assert ds.confidentiality_keystream(duck, COUNTER, mic, b"") == raw


def test_protect_applies_mic_then_confidentiality_then_scrambling():
    keys = ds.DiscoveryKeys.from_psdk(PSDK, confidentiality=True)
    plain = bytes([0x99]) + os.urandom(23) + bytes(5)
    mask = b"\xff" * 9 + b"\x00" * 3
    mic = ds.discovery_mic(keys.duik, plain[:24], COUNTER)
    step1 = plain[:24] + mic + bytes([COUNTER & 0xFF])
    ks = ds.confidentiality_keystream(keys.duck, COUNTER, mic, mask)
    step2 = step1[:1] + bytes(a ^ b for a, b in zip(step1[1:24], ks, strict=True)) + step1[24:]
    step3 = ds.scramble(step2, ds.scrambling_keystream(keys.dusk, COUNTER))
    wire = ds.protect(plain, keys, COUNTER, mask=mask)
    assert wire == step3
    # The receiver reverses it: descramble, decrypt (KEY needs the MIC), then verify the MIC.
    back = ds.scramble(wire, ds.scrambling_keystream(keys.dusk, COUNTER))
    back = ds.apply_confidentiality(back, keys.duck, COUNTER, mask)
    assert back == step1
    assert ds.verify_mic(keys.duik, back, COUNTER)
    assert back[10:13] == plain[10:13]  # masked-out bits stay clear


@pytest.mark.parametrize("now", [1000, 1_700_000_000, 0xFFFF_FF00, 200])
def test_rebuild_counter_is_nearest_with_the_same_lsb(now):
    for d in range(-128, 128):
        assert ds.rebuild_counter((now + d) & 0xFF, now) == now + d


def test_bad_sizes_raise_package_errors():
    keys = ds.DiscoveryKeys.from_psdk(PSDK)
    with pytest.raises(ProseMeshError):
        ds.derive_discovery_key(b"short", ds.DUIK)
    with pytest.raises(ProseMeshError):
        ds.derive_discovery_key(PSDK, 7)
    with pytest.raises(ProseMeshError):
        ds.protect(bytes(28), keys, COUNTER)
    with pytest.raises(ProseMeshError):
        ds.verify_mic(keys.duik, bytes(30), COUNTER)
    with pytest.raises(ProseMeshError):
        ds.confidentiality_keystream(bytes(32), COUNTER, bytes(4), bytes(24))
