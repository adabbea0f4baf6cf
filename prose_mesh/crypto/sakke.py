"""SAKKE, RFC 6508, with RFC 6509 parameter set 1 (n = 128, SHA-256).

* §5.1 HashToIntegerRange, §6.1.1 RSK extraction and §6.1.2 validation, §6.2.1 encapsulation,
  §6.2.2 decapsulation including the step 5 re-encapsulation check TEST == R.
* Encapsulated data is ``0x04 || Rx (128) || Ry (128) || H (16)`` = 273 octets (RFC 6509).
* b, the identifier, is the identity octets read as a big-endian integer; g^r and w are I2OSP'd
  to 128 octets before hashing (PROTOCOL.md §9.2).

Tables (shared process-wide, keyed by public values): g (one), P (one), Z per KMS, [b]P + Z
per identity, and per (identity, RSK, Z) the RSK Miller lines, built together with an RSK
validation the first time a receiver decapsulates. Encapsulation uses an identity table when one
exists, otherwise [r*b]P + [r]Z from the P and Z tables.

Untrusted input: every failure of :func:`sakke_decapsulate` is a DecapsulationError, and the
parse checks (length, 0x04, Rx and Ry < p, on E, not of small order) come before the pairing.
Python big integers are not constant-time; acceptable for an emulator (PROTOCOL.md §9.2).
MIKEY-SAKKE has key escrow by design: the KMS can derive every RSK.
"""

from __future__ import annotations

import gmpy2
from gmpy2 import mpz

from prose_mesh.crypto._ecc import FixedBaseTable, Jacobian
from prose_mesh.crypto._util import LruCache, as_bytes, i2osp, os2ip, sha256
from prose_mesh.crypto.pairing import DegeneratePoint, MillerLines, tate_pairing
from prose_mesh.crypto.sakke_params import (
    COORD_LEN,
    CURVE,
    G_REP,
    IDENTITY_TABLE_WIDTH,
    POINT_LEN,
    SSV_LEN,
    g_table,
    p,
    p_table,
    pf_rep,
    point_table,
    q,
)
from prose_mesh.errors import CryptoError, DecapsulationError, InvalidKey, ProseMeshError

__all__ = [
    "ENCAPSULATED_LEN",
    "SsvLengthError",
    "hash_to_integer_range",
    "precompute_identity",
    "sakke_decapsulate",
    "sakke_encapsulate",
    "sakke_extract_rsk",
    "sakke_make_z",
    "validate_rsk",
]

ENCAPSULATED_LEN = POINT_LEN + SSV_LEN  # 273
_Q = int(q)


class SsvLengthError(CryptoError):
    """The SSV is not n = 128 bits, the only size parameter set 1 carries."""

    reason = "BAD_SSV_LEN"


# --- RFC 6508 §5.1 ----------------------------------------------------------------------------
def hash_to_integer_range(s: bytes, n: int) -> int:
    """HashToIntegerRange(s, n, SHA-256) of RFC 6508 §5.1.

    A = H(s); h_0 = 256 zero bits; l = ceil(lg(n)/256); h_i = H(h_{i-1}); v_i = H(h_i || A);
    v = (v_1 || ... || v_l) mod n.
    """
    a = sha256(s)
    h = bytes(32)
    blocks = -(-(n - 1).bit_length() // 256)
    out = b""
    for _ in range(max(1, blocks)):
        h = sha256(h)
        out += sha256(h, a)
    return os2ip(out) % n


def _b(identity: bytes) -> int:
    return os2ip(identity) % _Q


# --- tables -----------------------------------------------------------------------------------
_z_tables: LruCache[bytes, FixedBaseTable] = LruCache(8)
_identity_tables: LruCache[tuple[bytes, bytes], FixedBaseTable] = LruCache(16)
_receivers: LruCache[tuple[bytes, bytes, bytes], _Receiver] = LruCache(32)


def _parse_point(data: bytes, err: type[ProseMeshError], name: str) -> tuple[mpz, mpz]:
    pt, why = CURVE.decode(data)
    if pt is None:
        raise err(f"{name}: {why}")
    return pt


def _identity_point(identity: bytes, z_pt: tuple[mpz, mpz]) -> tuple[mpz, mpz]:
    """[b]P + Z (RFC 6508 §6.2.1 step 2); infinity means the identity is unusable."""
    pt = CURVE.add(p_table().mul(_b(identity)), z_pt)
    if pt is None:
        raise InvalidKey("[b]P + Z is the point at infinity for this identity")
    return pt


def precompute_identity(*, identity: bytes, z_pub: bytes) -> None:
    """Build (or touch) the fixed-base table of [b]P + Z for ``identity`` under ``z_pub``.

    Worth it for identities used more than a few times (one's own, frequent peers): about
    0.3 s and 3 MiB, after which [r]([b]P + Z) costs about 1.5 ms instead of about 3.5 ms
    (two KMS-wide tables) or 10 ms (no table).
    """
    identity = as_bytes(identity, InvalidKey, "identity")
    z_pub = as_bytes(z_pub, InvalidKey, "Z")
    _identity_table(identity, z_pub, _parse_point(z_pub, InvalidKey, "Z"))


def _identity_table(identity: bytes, z_pub: bytes, z_pt: tuple[mpz, mpz]) -> FixedBaseTable:
    def build() -> FixedBaseTable:
        return point_table(_identity_point(identity, z_pt), IDENTITY_TABLE_WIDTH)

    return _identity_tables.get_or_build((z_pub, identity), build)


class _Receiver:
    """A receiver's validated key with tables: RSK Miller lines and its [b]P + Z table."""

    def __init__(self, identity: bytes, rsk: bytes, z_pub: bytes) -> None:
        z_pt = _parse_point(z_pub, InvalidKey, "Z")
        rsk_pt = _parse_point(rsk, InvalidKey, "RSK")
        try:
            self.lines = MillerLines(rsk_pt)
            self.table = _identity_table(identity, z_pub, z_pt)
            _check_rsk(self.lines.pairing(self.table.base))
        except DegeneratePoint as exc:
            raise InvalidKey(f"RSK unusable: {exc}") from None

    def pairing(self, R: tuple[mpz, mpz]) -> mpz:
        """<R, RSK> from the stored lines (the pairing is symmetric)."""
        return self.lines.pairing(R)

    def test(self, r: int) -> Jacobian:
        """TEST = [r]([b]P + Z) (RFC 6508 §6.2.2 step 5) from the identity's table."""
        return self.table.jmul(r)


def _check_rsk(w: mpz) -> bool:
    """RFC 6508 §6.1.2: ``w`` = <[b]P + Z, RSK> must be g; InvalidKey otherwise."""
    if w != G_REP:
        raise InvalidKey("<[b]P + Z, RSK> != g (RFC 6508 §6.1.2)")
    return True


def _receiver(identity: bytes, rsk: bytes, z_pub: bytes) -> _Receiver:
    return _receivers.get_or_build((identity, rsk, z_pub), lambda: _Receiver(identity, rsk, z_pub))


# --- KMS (RFC 6508 §6.1.1, §2.2) ----------------------------------------------------------------
def _secret_z(z: bytes | int) -> int:
    zi = z if isinstance(z, int) else os2ip(as_bytes(z, InvalidKey, "z"))
    if not 1 < zi < _Q:
        raise InvalidKey("z not in [2, q-1]")
    return zi


def sakke_make_z(z: bytes | int) -> bytes:
    """Z = [z]P, the KMS public key; z is the KMS master secret in [2, q-1]."""
    return CURVE.encode(p_table().mul(_secret_z(z)))


def sakke_extract_rsk(*, identity: bytes, z: bytes | int) -> bytes:
    """RSK = [(b + z)^-1 mod q]P (RFC 6508 §6.1.1)."""
    zi = _secret_z(z)
    t = (_b(as_bytes(identity, InvalidKey, "identity")) + zi) % _Q
    if t == 0:
        raise InvalidKey("b + z = 0 mod q: this identity has no RSK")
    return CURVE.encode(p_table().mul(int(gmpy2.invert(t, _Q))))


def validate_rsk(*, identity: bytes, rsk: bytes, z_pub: bytes, tables: bool = True) -> None:
    """RFC 6508 §6.1.2: <[b]P + Z, RSK> == g, else InvalidKey.

    ``tables=True`` builds the receiver's tables too (0.2 s, 3 MiB: worth it for a UE that
    decrypts often); ``False`` checks with one table-less pairing (~20 ms) and remembers the
    key as checked, so a host of thousands of UEs validates each at bring-up without tables."""
    try:
        args = (as_bytes(identity, InvalidKey, "identity"), as_bytes(rsk, InvalidKey, "RSK"),
                as_bytes(z_pub, InvalidKey, "Z"))
        if tables:
            _receiver(*args)
        else:
            _untabled_validated(*args)
    except InvalidKey:
        raise
    except ProseMeshError as exc:
        raise InvalidKey(str(exc)) from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise InvalidKey(f"unusable RSK ({exc!r})") from None


# --- Sender (RFC 6508 §6.2.1) -----------------------------------------------------------------
def sakke_encapsulate(ssv: bytes, *, identity: bytes, z_pub: bytes) -> bytes:
    """Encapsulate a 16-octet SSV to ``identity``: returns 04 || Rx || Ry || H (273 octets).

    r = HashToIntegerRange(SSV || b, q); R = [r]([b]P + Z); H = SSV XOR
    HashToIntegerRange(g^r, 2^128). Deterministic in (SSV, b): resending a key gives the same R.
    """
    ssv = as_bytes(ssv, SsvLengthError, "SSV")
    identity = as_bytes(identity, InvalidKey, "identity")
    z_pub = as_bytes(z_pub, InvalidKey, "Z")
    if len(ssv) != SSV_LEN:
        raise SsvLengthError(f"SSV must be {SSV_LEN} octets (n = 128), got {len(ssv)}")
    z_pt = _parse_point(z_pub, InvalidKey, "Z")
    r = hash_to_integer_range(ssv + identity, _Q)
    if r == 0:  # probability 2^-1022; R would be infinity
        raise CryptoError("r = 0 for this SSV")
    table = _identity_tables.get((z_pub, identity))
    if table is not None:
        R = table.mul(r)
    else:
        z_table = _z_tables.get_or_build(z_pub, lambda: point_table(z_pt))
        R = CURVE.to_affine(_kms_mul(z_table, _b(identity), r))
    if R is None:
        raise InvalidKey("[b]P + Z is the point at infinity for this identity")
    mask = _mask(r)
    return CURVE.encode(R) + bytes(x ^ y for x, y in zip(ssv, mask, strict=True))


def _kms_mul(z_table: FixedBaseTable, b: int, r: int) -> Jacobian:
    """[r]([b]P + Z) as [r*b]P + [r]Z from the KMS-wide P and Z tables (no identity table)."""
    jac = z_table.jmul(r)
    bp = p_table().mul(r * b % _Q)
    return jac if bp is None else CURVE.jadd_affine(jac, bp)


def _mask(r: int) -> bytes:
    """HashToIntegerRange(g^r as 128 octets, 2^n) as n/8 octets (RFC 6508 §6.2.1 step 4)."""
    a, b = g_table().pow(r)
    gr = pf_rep(a, b)
    return i2osp(hash_to_integer_range(i2osp(gr, COORD_LEN), 1 << 128), SSV_LEN)


# --- Receiver (RFC 6508 §6.2.2) ---------------------------------------------------------------
def sakke_decapsulate(data: bytes, *, identity: bytes, rsk: bytes, z_pub: bytes) -> bytes:
    """Recover the SSV from 273-octet SAKKE data; DecapsulationError for any bad input.

    Steps: parse (length, 0x04, Rx/Ry < p, R on E, R not of small order); w = <R, RSK>
    (with the receiver's tables when they were built, e.g. at provisioning; else without, the
    RSK checked once per key: a one-shot receiver need not pay 0.25 s of tables);
    SSV = H XOR HashToIntegerRange(w, 2^n); r = HashToIntegerRange(SSV || b, q);
    step 5: TEST = [r]([b]P + Z) must equal R, else the SSV is not released.
    """
    try:
        args = [as_bytes(v, DecapsulationError, n) for v, n in
                ((data, "SAKKE data"), (identity, "identity"), (rsk, "RSK"), (z_pub, "Z"))]
        return _decapsulate(*args, None)
    except DecapsulationError:
        raise
    except ProseMeshError as exc:
        raise DecapsulationError(str(exc)) from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise DecapsulationError(f"unusable input ({exc!r})") from None


def _parse_encapsulated(data: bytes) -> tuple[tuple[mpz, mpz], bytes]:
    if len(data) != ENCAPSULATED_LEN:
        raise DecapsulationError(f"SAKKE data must be {ENCAPSULATED_LEN} octets, got {len(data)}")
    R = _parse_point(data[:POINT_LEN], DecapsulationError, "R")
    # Cofactor 4: reject points of order 1, 2 or 4 before any pairing (two doublings).
    R2 = CURVE.double(R) if R[1] != 0 else None
    if R2 is None or R2[1] == 0:
        raise DecapsulationError("R has small order")
    return R, data[POINT_LEN:]


def _decapsulate(
    data: bytes, identity: bytes, rsk: bytes, z_pub: bytes,
    receiver: _Receiver | _Untabled | None,
) -> bytes:
    R, h = _parse_encapsulated(data)
    if receiver is None:
        # only a receiver whose tables exist (built by validate_rsk at provisioning, or
        # precompute) uses them; others decapsulate without (about 25 ms instead of 10 ms, but
        # no 0.25 s / 3 MiB build: 2000 one-shot receivers would spend 500 s building tables,
        # and an LRU of 32 rebuilds them at every rekey)
        receiver = _receivers.get((identity, rsk, z_pub)) or _untabled_validated(
            identity, rsk, z_pub)
    try:
        w = receiver.pairing(R)
    except DegeneratePoint as exc:
        raise DecapsulationError(f"degenerate pairing input: {exc}") from None
    mask = i2osp(hash_to_integer_range(i2osp(w, COORD_LEN), 1 << 128), SSV_LEN)
    ssv = bytes(x ^ y for x, y in zip(h, mask, strict=True))
    r = hash_to_integer_range(ssv + identity, _Q)
    X, Y, Z = receiver.test(r)
    # TEST == R, compared in Jacobian coordinates (x = X/Z^2, y = Y/Z^3): no inversion.
    zz = Z * Z % p
    if Z == 0 or (X - R[0] * zz) % p != 0 or (Y - R[1] * zz * Z) % p != 0:
        raise DecapsulationError("TEST != R (RFC 6508 §6.2.2 step 5)")
    return ssv


class _Untabled:
    """A receiver without tables of its own: <R, RSK> in one Jacobian pass, and
    TEST = [r*b]P + [r]Z from the process-wide P and Z tables (shared by every identity)."""

    def __init__(self, identity: bytes, rsk: bytes, z_pub: bytes) -> None:
        self.rsk = _parse_point(rsk, DecapsulationError, "RSK")
        z_pt = _parse_point(z_pub, DecapsulationError, "Z")
        self.z_table = _z_tables.get_or_build(z_pub, lambda: point_table(z_pt))
        self.b = _b(identity)

    def pairing(self, R: tuple[mpz, mpz]) -> mpz:
        return tate_pairing(self.rsk, R)

    def test(self, r: int) -> Jacobian:
        return _kms_mul(self.z_table, self.b, r)

    def check(self) -> bool:
        """RFC 6508 §6.1.2 for this key, without tables (once per key: see _validated)."""
        base = CURVE.add(p_table().mul(self.b), self.z_table.base)
        if base is None:
            raise DecapsulationError("[b]P + Z is the point at infinity")
        try:
            return _check_rsk(tate_pairing(self.rsk, base))
        except DegeneratePoint as exc:
            raise InvalidKey(f"RSK unusable: {exc}") from None


_validated: LruCache[tuple[bytes, bytes, bytes], bool] = LruCache(1 << 16)  # keys, no tables


def _untabled_validated(identity: bytes, rsk: bytes, z_pub: bytes) -> _Untabled:
    """A table-less receiver; its RSK checked once (RFC 6508 §6.1.2)."""
    receiver = _Untabled(identity, rsk, z_pub)
    _validated.get_or_build((identity, rsk, z_pub), receiver.check)
    return receiver


def _decapsulate_no_tables(data: bytes, *, identity: bytes, rsk: bytes, z_pub: bytes) -> bytes:
    """Benchmark/test helper: the same decapsulation with no cached table (and no RSK check)."""
    data, identity, rsk, z_pub = bytes(data), bytes(identity), bytes(rsk), bytes(z_pub)
    _parse_encapsulated(data)
    receiver = _Untabled(identity, rsk, z_pub)
    return _decapsulate(data, identity, rsk, z_pub, receiver)
