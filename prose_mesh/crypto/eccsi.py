"""ECCSI signatures, RFC 6507, as profiled by RFC 6509 (NIST P-256, SHA-256, N = 32).

Implements the KMS side (§5.1.1: KPAK from KSAK, SSK/PVT issue), SSK validation (§5.1.2),
signing (§5.2.1) and verification (§5.2.2) with every hardening check of PROTOCOL.md §9.1.
A signature is ``r (32) || s (32) || PVT (65)`` = 129 octets; points are 0x04 || x || y.

Performance: [k]G uses OpenSSL via ``cryptography`` (:func:`.p256.base_mul`). The verifier
splits J = [s]([HE]G + [r]Y) into [s*HE]G + [s*r]Y and caches, per signer (ID, PVT, KPAK),
HS; a signer's first signature costs [s*r*HS]PVT (wNAF) + [s*r]KPAK (KPAK table), and from
its second signature on Y = [HS]PVT + KPAK is cached with a fixed-base table, so [s*r]Y is
about 64 mixed additions. Python big integers are not constant-time; acceptable for an emulator.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import gmpy2

from prose_mesh.crypto._ecc import JINF, Affine, FixedBaseTable, Jacobian
from prose_mesh.crypto._util import LruCache, as_bytes, hmac_sha256, i2osp, os2ip, sha256
from prose_mesh.crypto.p256 import CURVE, G_BYTES, N, Q, base_mul
from prose_mesh.errors import InvalidKey, InvalidSignature

__all__ = [
    "SIG_LEN",
    "eccsi_issue_user_key",
    "eccsi_make_kpak",
    "eccsi_sign",
    "eccsi_verify",
    "validate_ssk",
]

SIG_LEN = 4 * N + 1  # 129
POINT_LEN = 2 * N + 1  # 65
_Y_TABLE_WIDTH = 4
_Y_TABLE_AFTER_USES = 2  # build the per-signer table from the second signature on


_kpak_tables: LruCache[bytes, FixedBaseTable] = LruCache(8)


def _kpak_table(kpak: bytes, kpak_pt: tuple) -> FixedBaseTable:
    return _kpak_tables.get_or_build(
        kpak, lambda: FixedBaseTable(CURVE, kpak_pt, 256, _Y_TABLE_WIDTH)
    )


@dataclass
class _Signer:
    """Per-signer public values: HS, and from the second signature on Y = [HS]PVT + KPAK
    (RFC 6507 §5.2.2 step 4) with a fixed-base table of Y."""

    hs: bytes
    pvt_pt: tuple
    kpak: bytes
    kpak_pt: tuple
    uses: int = 0
    y_table: FixedBaseTable | None = field(default=None, repr=False)
    _y: Affine = field(default=None, repr=False)
    _y_done: bool = field(default=False, repr=False)

    @property
    def y(self) -> Affine:
        if not self._y_done:
            self._y = CURVE.add(CURVE.mul(os2ip(self.hs), self.pvt_pt), self.kpak_pt)
            self._y_done = True
        return self._y

    def mul_y(self, k: int) -> Jacobian:
        """[k]Y. First use: [k*HS]PVT + [k]KPAK (KPAK table); then a table of Y."""
        self.uses += 1
        if self.y_table is None and self.uses >= _Y_TABLE_AFTER_USES and self.y is not None:
            self.y_table = FixedBaseTable(CURVE, self.y, 256, _Y_TABLE_WIDTH)
        if self.y_table is not None:
            return self.y_table.jmul(k)
        if self._y_done:  # Y known (and the point at infinity, or a table not yet due)
            return CURVE.jmul(k, self.y) if self.y is not None else JINF
        acc = _kpak_table(self.kpak, self.kpak_pt).jmul(k)
        hpvt = CURVE.mul(k * os2ip(self.hs) % Q, self.pvt_pt)
        return CURVE.jadd_affine(acc, hpvt) if hpvt is not None else acc


_signers: LruCache[tuple[bytes, bytes, bytes], _Signer] = LruCache(1024)
_validated_keys: LruCache[tuple[bytes, bytes, bytes, bytes], bool] = LruCache(256)


def _hs(identity: bytes, pvt: bytes, kpak: bytes) -> bytes:
    """HS = hash(G || KPAK || ID || PVT), 65-octet points, ID octets as carried (§5.1.1)."""
    return sha256(G_BYTES, kpak, identity, pvt)


def _signer(identity: bytes, pvt: bytes, pvt_pt: tuple, kpak: bytes, kpak_pt: tuple) -> _Signer:
    return _signers.get_or_build(
        (identity, pvt, kpak), lambda: _Signer(_hs(identity, pvt, kpak), pvt_pt, kpak, kpak_pt)
    )


# --- KMS (RFC 6507 §5.1.1) ------------------------------------------------------------------
def eccsi_make_kpak(ksak: bytes) -> bytes:
    """KPAK = [KSAK]G. KSAK must be 32 octets in [1, q-1]."""
    k = _scalar(ksak, InvalidKey, "KSAK")
    return CURVE.encode(base_mul(k))


def eccsi_issue_user_key(
    *, identity: bytes, ksak: bytes, v: bytes | None = None
) -> tuple[bytes, bytes]:
    """Issue (SSK, PVT) for ``identity`` (RFC 6507 §5.1.1).

    v is drawn from ``secrets`` unless given (the RFC known answer gives it); PVT = [v]G,
    HS = hash(G || KPAK || ID || PVT), SSK = KSAK + HS*v mod q. A zero SSK or HS restarts with
    a fresh v (or fails if v was given).
    """
    k = _scalar(ksak, InvalidKey, "KSAK")
    kpak = CURVE.encode(base_mul(k))
    while True:
        vi = _scalar(v, InvalidKey, "v") if v is not None else 1 + secrets.randbelow(Q - 1)
        pvt = CURVE.encode(base_mul(vi))
        hs = os2ip(_hs(identity, pvt, kpak))
        ssk = (k + hs * vi) % Q
        if ssk != 0 and hs % Q != 0:
            return i2osp(ssk, N), pvt
        if v is not None:
            raise InvalidKey("SSK or HS is zero for this v", reason="BAD_KEY")


# --- SSK validation (RFC 6507 §5.1.2) -------------------------------------------------------
def validate_ssk(*, identity: bytes, ssk: bytes, pvt: bytes, kpak: bytes) -> None:
    """Check PVT is on the curve and KPAK == [SSK]G - [HS]PVT; raise InvalidKey otherwise."""
    identity, ssk, pvt, kpak = _key_args(identity, ssk, pvt, kpak)
    key = (identity, ssk, pvt, kpak)
    if _validated_keys.get(key):
        return
    s = _scalar(ssk, InvalidKey, "SSK")
    pvt_pt = _point(pvt, InvalidKey, "PVT")
    kpak_pt = _point(kpak, InvalidKey, "KPAK")
    signer = _signer(identity, pvt, pvt_pt, kpak, kpak_pt)
    if os2ip(signer.hs) % Q == 0:
        raise InvalidKey("HS is zero mod q")
    # KPAK == [SSK]G - [HS]PVT  <=>  [SSK]G == [HS]PVT + KPAK = Y
    if signer.y is None or base_mul(s) != signer.y:
        raise InvalidKey("KPAK != [SSK]G - [HS]PVT (RFC 6507 §5.1.2)")
    _validated_keys.get_or_build(key, lambda: True)


# --- Sign (RFC 6507 §5.2.1) ------------------------------------------------------------------
def eccsi_sign(msg: bytes, *, identity: bytes, ssk: bytes, pvt: bytes, kpak: bytes) -> bytes:
    """Sign ``msg``; returns r || s || PVT (129 octets).

    The key is validated (§5.1.2) once and remembered. The ephemeral j is *hedged*: RFC 6979
    §3.2 HMAC-DRBG over (SSK, SHA-256(HS || M)) with 32 fresh octets from ``secrets`` as the
    §3.6 additional data. Reusing j for two messages reveals the SSK (PROTOCOL.md §9.1); the
    deterministic part keeps j unique even with a broken RNG, the random part keeps signatures
    non-repeatable and blunts fault attacks. Callers cannot choose j.
    """
    msg = as_bytes(msg, InvalidKey, "msg")
    identity, ssk, pvt, kpak = _key_args(identity, ssk, pvt, kpak)
    validate_ssk(identity=identity, ssk=ssk, pvt=pvt, kpak=kpak)
    hs = _hs(identity, pvt, kpak)
    drbg = _Rfc6979(ssk, sha256(hs, msg), secrets.token_bytes(32))
    while True:
        sig = _sign_core(msg, drbg.next_scalar(), hs, os2ip(ssk), pvt)
        if sig is not None:
            return sig


def _sign_with_j(
    msg: bytes, j: int, *, identity: bytes, ssk: bytes, pvt: bytes, kpak: bytes
) -> bytes:
    """Test-only: sign with a caller-chosen j (RFC 6507 Appendix A). Never use a j twice."""
    validate_ssk(identity=identity, ssk=ssk, pvt=pvt, kpak=kpak)
    sig = _sign_core(msg, j, _hs(identity, pvt, kpak), os2ip(ssk), pvt)
    if sig is None:
        raise InvalidKey("this j gives an unusable signature")
    return sig


def _sign_core(msg: bytes, j: int, hs: bytes, ssk: int, pvt: bytes) -> bytes | None:
    J = base_mul(j)
    if J is None:
        return None
    r = int(J[0])
    # r = Jx (§5.2.1 step 2); our verifier requires r in [1, q-1], so restart otherwise
    # (probability about 2^-32 on P-256).
    if not 0 < r < Q:
        return None
    he = os2ip(sha256(hs, i2osp(r, N), msg))
    t = (he + r * ssk) % Q
    if t == 0:
        return None
    s = int(gmpy2.invert(t, Q)) * j % Q
    # §5.2.1 step 6: "if s' is too big for N octets, s = q - s'" never fires as s' < q < 2^256.
    return i2osp(r, N) + i2osp(s, N) + pvt


class _Rfc6979:
    """RFC 6979 §3.2 HMAC_DRBG nonce generation (qlen = hlen = 256) with §3.6 extra data."""

    def __init__(self, key: bytes, h1: bytes, extra: bytes) -> None:
        x = i2osp(os2ip(key) % Q, N)
        h = i2osp(os2ip(h1) % Q, N)  # bits2octets
        v = b"\x01" * 32
        k = b"\x00" * 32
        k = hmac_sha256(k, v, b"\x00", x, h, extra)
        v = hmac_sha256(k, v)
        k = hmac_sha256(k, v, b"\x01", x, h, extra)
        self._v = hmac_sha256(k, v)
        self._k = k

    def next_scalar(self) -> int:
        while True:
            self._v = hmac_sha256(self._k, self._v)
            cand = os2ip(self._v)
            self._k = hmac_sha256(self._k, self._v, b"\x00")
            self._v = hmac_sha256(self._k, self._v)
            if 1 <= cand < Q:
                return cand


# --- Verify (RFC 6507 §5.2.2 + PROTOCOL.md §9.1) ---------------------------------------------
def eccsi_verify(msg: bytes, sig: bytes, *, identity: bytes, kpak: bytes) -> None:
    """Verify ``sig`` over ``msg`` by ``identity`` under ``kpak``; raise InvalidSignature if bad.

    Cheap checks first: length exactly 129, r and s in [1, q-1], PVT prefix 0x04, coordinates
    < p, on the curve; then HS, HE, Y = [HS]PVT + KPAK, J = [s*HE]G + [s*r]Y, J != O,
    Jx == r (r < q < p, so "mod p" is plain equality) and Jx != 0.
    """
    msg = as_bytes(msg, InvalidSignature, "msg")
    sig = as_bytes(sig, InvalidSignature, "signature")
    identity = as_bytes(identity, InvalidSignature, "identity")
    kpak = as_bytes(kpak, InvalidSignature, "KPAK")
    if len(sig) != SIG_LEN:
        raise InvalidSignature(f"signature must be {SIG_LEN} octets, got {len(sig)}")
    r = os2ip(sig[:N])
    s = os2ip(sig[N : 2 * N])
    pvt = sig[2 * N :]
    if not 0 < r < Q:
        raise InvalidSignature("r not in [1, q-1]")
    if not 0 < s < Q:
        raise InvalidSignature("s not in [1, q-1]")
    pvt_pt = _point(pvt, InvalidSignature, "PVT")
    kpak_pt = _point(kpak, InvalidSignature, "KPAK")
    signer = _signer(identity, pvt, pvt_pt, kpak, kpak_pt)
    he = os2ip(sha256(signer.hs, sig[:N], msg))
    a = base_mul(s * he % Q)
    jac = signer.mul_y(s * r % Q)
    if a is not None:
        jac = CURVE.jadd_affine(jac, a)
    J = CURVE.to_affine(jac)
    if J is None:
        raise InvalidSignature("J is the point at infinity")
    if J[0] == 0 or J[0] != r:
        raise InvalidSignature("Jx != r")


# --- parsing helpers --------------------------------------------------------------------------
def _key_args(
    identity: object, ssk: object, pvt: object, kpak: object
) -> tuple[bytes, bytes, bytes, bytes]:
    return (
        as_bytes(identity, InvalidKey, "identity"),
        as_bytes(ssk, InvalidKey, "SSK"),
        as_bytes(pvt, InvalidKey, "PVT"),
        as_bytes(kpak, InvalidKey, "KPAK"),
    )


def _scalar(data: bytes | None, err: type[Exception], name: str) -> int:
    if data is None or len(data) != N:
        raise err(f"{name} must be {N} octets")
    k = os2ip(data)
    if not 0 < k < Q:
        raise err(f"{name} not in [1, q-1]")
    return k


def _point(data: bytes, err: type[Exception], name: str) -> tuple:
    pt, why = CURVE.decode(data)
    if pt is None:
        raise err(f"{name}: {why}")
    return pt
