"""TS 33.180 F.2.1 UIDs, RFC 6509 identities, IMEI URNs, TS 33.220 KDF and the MIKEY PRF."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from support import load_vector

from prose_mesh.constants import MIKEY_LABEL_SALT, MIKEY_LABEL_TEK
from prose_mesh.crypto import identity as ident
from prose_mesh.crypto import kdf
from prose_mesh.errors import ConfigError, CryptoError

UIDS = load_vector("ts33180_uid.json")["vectors"]
ECCSI = load_vector("rfc6507_eccsi.json")


@pytest.mark.parametrize("v", UIDS, ids=lambda v: f"{v['uri']}-{v['key_period_no']}")
def test_uid_vectors(v):
    uid = ident.mikey_sakke_uid(
        v["uri"], v["kms_uri"], v["key_period"], v["key_period_offset"], v["key_period_no"]
    )
    assert uid.hex() == v["uid"]
    i = ident.Identity(v["uri"], "user", v["kms_uri"], v["key_period"], v["key_period_offset"])
    assert i.uid(v["key_period_no"]).hex() == v["uid"]


def test_uid_changes_with_period():
    i = ident.Identity("sip:a@x", "user", "kms.x", 3600)
    assert i.uid(1) != i.uid(2)


def test_date_stamped_id_matches_rfc_vector():
    assert ident.date_stamped_id(2011, 2, "tel:+447700900123") == bytes.fromhex(ECCSI["ID"])
    with pytest.raises(ConfigError):
        ident.date_stamped_id(2011, 13, "tel:+447700900123")
    with pytest.raises(ConfigError):
        ident.date_stamped_id(2011, 2, "sip:alice@example.org")


def test_key_period_number_ntp_epoch():
    # 1970-01-01 is 2208988800 s after the NTP epoch
    assert ident.key_period_number(0, 1, 0) == 2_208_988_800
    assert ident.key_period_number(0, 16777215, 0) == 2_208_988_800 // 16777215
    assert ident.key_period_number(100, 10, 2_208_988_800) == 10
    with pytest.raises(ConfigError):
        ident.key_period_number(0, 0, 0)


def test_imei_urn_and_me_identity():
    assert ident.imei_urn("35-209900-176148-1") == "urn:gsma:imei:35209900-176148-1"
    # The format is enforced; the Luhn check digit (TS 23.003 Annex B) is reported, not enforced.
    assert ident.imei_urn("35-209900-176148-2") == "urn:gsma:imei:35209900-176148-2"
    assert ident.imei_check_digit_ok("35-209900-176148-1")
    assert not ident.imei_check_digit_ok("35-209900-176148-2")
    assert not ident.imei_check_digit_ok("3520990017614")
    with pytest.raises(ConfigError):
        ident.imei_urn("3520990017614")
    me = ident.Identity.me("352099001761481", kms_uri="kms.x", period=86400)
    assert me.kind == "me" and me.uri == "urn:gsma:imei:35209900-176148-1"
    assert me.uid(7) == ident.mikey_sakke_uid(me.uri, "kms.x", 86400, 0, 7)
    with pytest.raises(ConfigError):
        ident.Identity("sip:a@x", "me", "kms.x", 10)


def test_kdf_shape():
    key = bytes(range(32))
    expect = hmac.new(key, b"\x50" + b"abc" + b"\x00\x03" + b"" + b"\x00\x00",
                      hashlib.sha256).digest()
    assert kdf.kdf(key, 0x50, b"abc", b"") == expect
    with pytest.raises(CryptoError):
        kdf.kdf(key, 0x100)


def _ref_prf(inkey: bytes, label: bytes, outlen: int) -> bytes:
    """Independent transcription of RFC 3830 §4.1.2 with HMAC-SHA-256 (RFC 6043 §6.1)."""
    m = (outlen * 8 + 255) // 256
    result = 0
    n = (len(inkey) * 8 + 255) // 256
    for j in range(n):
        s = inkey[32 * j : 32 * (j + 1)]
        a = [label]
        for _ in range(m):
            a.append(hmac.new(s, a[-1], hashlib.sha256).digest())
        p = b"".join(hmac.new(s, a[i] + label, hashlib.sha256).digest() for i in range(1, m + 1))
        result ^= int.from_bytes(p, "big")
    return result.to_bytes(m * 32, "big")[:outlen]


@pytest.mark.parametrize("klen", [16, 32, 48])
def test_mikey_prf_cross_check(klen):
    tgk = bytes((7 * i + 1) % 256 for i in range(klen))
    rand = bytes(range(16))
    label = kdf.mikey_label(MIKEY_LABEL_TEK, 4, 0x06A12AEA, rand)
    assert label == bytes.fromhex("2AD01C64" "04" "06A12AEA") + rand
    for outlen in (12, 16, 32, 40):
        assert kdf.mikey_prf(tgk, label, outlen) == _ref_prf(tgk, label, outlen)
    tek = kdf.mikey_tek(tgk, cs_id=4, csb_id=0x06A12AEA, rand=rand)
    salt = kdf.mikey_salt(tgk, cs_id=4, csb_id=0x06A12AEA, rand=rand)
    assert len(tek) == 16 and len(salt) == 12
    assert salt == _ref_prf(tgk, kdf.mikey_label(MIKEY_LABEL_SALT, 4, 0x06A12AEA, rand), 12)
    assert tek != kdf.mikey_tek(tgk, cs_id=0, csb_id=0x06A12AEA, rand=rand)


def test_guk_id_roundtrip_keeps_purpose_tag():
    gmk = bytes(16)
    g = kdf.guk_id(gmk, 0x0ABCDEF1, "sip:x@y")
    assert g >> 28 == 0
    assert kdf.gmk_id_from_guk_id(gmk, g, "sip:x@y") == 0x0ABCDEF1
    with pytest.raises(CryptoError):
        kdf.guk_id(gmk, 2**32, "sip:x@y")
