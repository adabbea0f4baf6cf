"""Key derivation: the TS 33.220 Annex B KDF, the MIKEY PRF, and GUK-IDs.

* :func:`kdf`: TS 33.220 B.2, ``HMAC-SHA-256(Key, FC || P0 || L0 || ... || Pn || Ln)``, Li two
  octets. An n-bit key is the n least significant bits of the output (33.303 A.1).
* :func:`mikey_prf`: RFC 3830 §4.1.2 PRF with PRF-HMAC-SHA-256 (RFC 6043 §6.1) [R]: the inkey
  is cut into 256-bit chunks s_j; ``P(s, label, m) = HMAC(s, A1 || label) || ... ||
  HMAC(s, Am || label)`` with ``A0 = label``, ``Ai = HMAC(s, A(i-1))`` and ``m = ceil(outlen /
  256)``; the PRF is the XOR of the P(s_j, ...), truncated to outlen.
* :func:`mikey_label`: RFC 3830 §4.1.3 ``const (32) || CS-ID (8) || CSB ID (32) || RAND``.
* GUK-ID (TS 33.180 F.1.3): ``UserSalt`` = 28 LSBs of KDF(GMK, FC 0x50, MC service user ID);
  ``GUK-ID = GMK-ID[4 MSBs] || (GMK-ID XOR UserSalt)[28 LSBs]``.
"""

from __future__ import annotations

from prose_mesh.constants import FC_GUK_SALT, MIKEY_LABEL_SALT, MIKEY_LABEL_TEK
from prose_mesh.crypto._util import hmac_sha256
from prose_mesh.errors import CryptoError

__all__ = [
    "gmk_id_from_guk_id",
    "guk_id",
    "kdf",
    "mikey_label",
    "mikey_prf",
    "mikey_salt",
    "mikey_tek",
    "user_salt",
]

_MASK28 = 0x0FFF_FFFF


def kdf(key: bytes, fc: int, *params: bytes) -> bytes:
    """TS 33.220 Annex B KDF; returns the 32-octet HMAC-SHA-256 output."""
    if not 0 <= fc <= 0xFF:
        raise CryptoError(f"FC must be one octet, got {fc}")
    parts = [bytes([fc])]
    for prm in params:
        prm = bytes(prm)
        if len(prm) > 0xFFFF:
            raise CryptoError("KDF parameter longer than 65535 octets")
        parts += [prm, len(prm).to_bytes(2, "big")]
    return hmac_sha256(bytes(key), *parts)


def mikey_label(const: int, cs_id: int, csb_id: int, rand: bytes) -> bytes:
    """RFC 3830 §4.1.3 label: const (32) || CS-ID (8) || CSB ID (32) || RAND."""
    if not (0 <= const <= 0xFFFF_FFFF and 0 <= cs_id <= 0xFF and 0 <= csb_id <= 0xFFFF_FFFF):
        raise CryptoError("label field out of range")
    return const.to_bytes(4, "big") + bytes([cs_id]) + csb_id.to_bytes(4, "big") + bytes(rand)


def _p(s: bytes, label: bytes, m: int) -> bytes:
    out = []
    a = label
    for _ in range(m):
        a = hmac_sha256(s, a)
        out.append(hmac_sha256(s, a, label))
    return b"".join(out)


def mikey_prf(inkey: bytes, label: bytes, out_len: int) -> bytes:
    """RFC 3830 §4.1.2 PRF(inkey, label) with HMAC-SHA-256, ``out_len`` octets."""
    inkey = bytes(inkey)
    if not inkey or out_len <= 0:
        raise CryptoError("PRF needs a non-empty key and a positive output length")
    m = -(-out_len // 32)
    acc = bytearray(m * 32)
    for j in range(0, len(inkey), 32):
        chunk = _p(inkey[j : j + 32], label, m)
        for i, byte in enumerate(chunk):
            acc[i] ^= byte
    return bytes(acc[:out_len])


def mikey_tek(tgk: bytes, *, cs_id: int, csb_id: int, rand: bytes, length: int = 16) -> bytes:
    """SRTP master key from a TGK (GMK or PCK): PRF(TGK, TEK label) (33.180 §7.4)."""
    return mikey_prf(tgk, mikey_label(MIKEY_LABEL_TEK, cs_id, csb_id, rand), length)


def mikey_salt(tgk: bytes, *, cs_id: int, csb_id: int, rand: bytes, length: int = 12) -> bytes:
    """SRTP master salt from a TGK: PRF(TGK, salt label), 96 bits by default (RFC 7714)."""
    return mikey_prf(tgk, mikey_label(MIKEY_LABEL_SALT, cs_id, csb_id, rand), length)


def user_salt(gmk: bytes, user_uri: str | bytes) -> int:
    """TS 33.180 F.1.3 UserSalt: the 28 LSBs of KDF(GMK, 0x50, MC service user ID)."""
    uri = user_uri.encode() if isinstance(user_uri, str) else bytes(user_uri)
    return int.from_bytes(kdf(gmk, FC_GUK_SALT, uri), "big") & _MASK28


def guk_id(gmk: bytes, gmk_id: int, user_uri: str | bytes) -> int:
    """GUK-ID = (GMK-ID & 0xF0000000) | ((GMK-ID ^ UserSalt) & 0x0FFFFFFF)."""
    if not 0 <= gmk_id <= 0xFFFF_FFFF:
        raise CryptoError("GMK-ID must be 32 bits")
    return (gmk_id & ~_MASK28 & 0xFFFF_FFFF) | ((gmk_id ^ user_salt(gmk, user_uri)) & _MASK28)


def gmk_id_from_guk_id(gmk: bytes, guk: int, user_uri: str | bytes) -> int:
    """The receiver's inverse: GMK-ID = GUK-ID XOR UserSalt (the purpose tag is kept)."""
    if not 0 <= guk <= 0xFFFF_FFFF:
        raise CryptoError("GUK-ID must be 32 bits")
    return guk ^ user_salt(gmk, user_uri)
