"""SAKKE (RFC 6508) on RFC 6509 parameter set 1 (n = 128, SHA-256).

Curve E: y^2 = x^3 - 3x over F_p, p ≡ 3 (mod 4), #E(F_p) = p + 1 = 4q. F_p2 = F_p[i]/(i^2 + 1)
elements are ``(a, b)`` = a + b·i; a PF_p element is represented by b/a mod p (§2.1).
The pairing is the §3.2 Tate-Lichtenbaum pairing, computed literally in affine coordinates
with the untrusted point as the Miller-loop point (as written in §6.2.2 step 2: <R, RSK>).
"""

from __future__ import annotations

import functools
import hashlib

P = int(
    "997ABB1F0A563FDA65C61198DAD0657A416C0CE19CB48261BE9AE358B3E01A2EF40AAB27E2FC0F1B228730D5"
    "31A59CB0E791B39FF7C88A19356D27F4A666A6D0E26C6487326B4CD4512AC5CD65681CE1B6AFF4A831852A82"
    "A7CF3C521C3C09AA9F94D6AF56971F1FFCE3E82389857DB080C5DF10AC7ACE87666D807AFEA85FEB",
    16,
)
Q = (P + 1) // 4
G_PT = (
    int(
        "53FC09EE332C29AD0A7990053ED9B52A2B1A2FD60AEC69C698B2F204B6FF7CBFB5EDB6C0F6CE2308AB10DB"
        "9030B09E1043D5F22CDB9DFA55718BD9E7406CE8909760AF765DD5BCCB337C86548B72F2E1A702C3397A60"
        "DE74A7C1514DBA66910DD5CFB4CC80728D87EE9163A5B63F73EC80EC46C4967E0979880DC8ABEAE63895",
        16,
    ),
    int(
        "0A8249063F6009F1F9F1F0533634A135D3E82016029906963D778D821E141178F5EA69F4654EC2B9E7F7F5"
        "E5F0DE55F66B598CCF9A140B2E416CFF0CA9E032B970DAE117AD547C6CCAD696B5B7652FE0AC6F1E801"
        "64AA989492D979FC5A4D5F213515AD7E9CB99A980BDAD5AD5BB4636ADB9B5706A67DCDE75573FD71BEF16D7",
        16,
    ),
)
N_BITS = 128
COORD = 128  # octets per coordinate
SSV_LEN = N_BITS // 8
ENC_LEN = 1 + 2 * COORD + SSV_LEN  # 273

Point = tuple[int, int] | None
Fp2 = tuple[int, int]


class Degenerate(Exception):
    """The Miller loop hit a division by zero (R not of order q); the receiver must reject."""


# ---- E(F_p), affine ----------------------------------------------------------------------------


def on_curve(pt: Point) -> bool:
    if pt is None:
        return False
    x, y = pt
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x - 3 * x)) % P == 0


def add(p1: Point, p2: Point) -> Point:
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    x1, y1 = p1
    x2, y2 = p2
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        lam = (3 * x1 * x1 - 3) * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return x3, (lam * (x1 - x3) - y1) % P


def mul(k: int, pt: Point) -> Point:
    """[k]pt by double-and-add in Jacobian coordinates (X/Z^2, Y/Z^3).

    The only concession to speed in this reference: a 1024-bit modular inverse costs ~0.4 ms in
    CPython, so affine scalar multiplication would take ~0.7 s. The result is compared with the
    affine ``add`` in the KAT tests."""
    if pt is None or k <= 0:
        return None
    x2, y2 = pt
    acc: Jacobian | None = None
    for bit in bin(k)[2:]:
        acc = _jac_double(acc)
        if bit == "1":
            acc = _jac_add_affine(acc, x2, y2)
    if acc is None:
        return None
    x, y, z = acc
    zi = pow(z, -1, P)
    return x * zi * zi % P, y * zi * zi * zi % P


def _jac_double(a: Jacobian | None) -> Jacobian | None:
    if a is None or a[1] == 0:
        return None
    x1, y1, z1 = a
    delta, gamma = z1 * z1 % P, y1 * y1 % P
    beta = x1 * gamma % P
    alpha = 3 * (x1 - delta) * (x1 + delta) % P  # curve a = -3
    x3 = (alpha * alpha - 8 * beta) % P
    z3 = ((y1 + z1) ** 2 - gamma - delta) % P
    y3 = (alpha * (4 * beta - x3) - 8 * gamma * gamma) % P
    return x3, y3, z3


Jacobian = tuple[int, int, int]


def _jac_add_affine(a: Jacobian | None, x2: int, y2: int) -> Jacobian | None:
    if a is None:
        return x2, y2, 1
    x1, y1, z1 = a
    zz = z1 * z1 % P
    h = (x2 * zz - x1) % P
    r = (y2 * zz * z1 - y1) % P
    if h == 0:
        return _jac_double(a) if r == 0 else None
    hh = h * h % P
    hhh = h * hh % P
    v = x1 * hh % P
    x3 = (r * r - hhh - 2 * v) % P
    y3 = (r * (v - x3) - y1 * hhh) % P
    return x3, y3, z1 * h % P


def encode(pt: Point) -> bytes:
    if pt is None:
        raise ValueError("cannot encode the point at infinity")
    return b"\x04" + pt[0].to_bytes(COORD, "big") + pt[1].to_bytes(COORD, "big")


def decode(data: bytes) -> Point:
    """Strict: 257 octets, prefix 0x04, coordinates < p, on E; else None."""
    if len(data) != 1 + 2 * COORD or data[0] != 0x04:
        return None
    pt = (int.from_bytes(data[1 : 1 + COORD], "big"), int.from_bytes(data[1 + COORD :], "big"))
    return pt if on_curve(pt) else None


def sqrt(a: int) -> int | None:
    r = pow(a, (P + 1) // 4, P)
    return r if r * r % P == a % P else None


# ---- F_p2 and PF_p -----------------------------------------------------------------------------


def f2_mul(u: Fp2, v: Fp2) -> Fp2:
    return (u[0] * v[0] - u[1] * v[1]) % P, (u[0] * v[1] + u[1] * v[0]) % P


def f2_pow(u: Fp2, e: int) -> Fp2:
    acc: Fp2 = (1, 0)
    for bit in bin(e)[2:]:
        acc = f2_mul(acc, acc)
        if bit == "1":
            acc = f2_mul(acc, u)
    return acc


def pf_repr(u: Fp2) -> int:
    """§2.1: the PF_p element [a, b] is represented by b/a mod p."""
    if u[0] % P == 0:
        raise Degenerate("PF_p element with a = 0 has no b/a representation")
    return u[1] * pow(u[0], -1, P) % P


def pf_pow(g: int, e: int) -> int:
    """g^e in PF_p, g given by its representation b/a (take a = 1)."""
    return pf_repr(f2_pow((1, g), e))


@functools.lru_cache(maxsize=256)
def pairing(r_pt: tuple[int, int], q_pt: tuple[int, int]) -> int:
    """§3.2 <R, Q>: Miller loop over the bits of q−1 from the second MSB, lines evaluated at
    psi(Q) = (−Qx, i·Qy), then the PF_p power (p+1)/q. Returns the b/a representation."""
    rx, ry = r_pt
    qx, qy = q_pt
    v: Fp2 = (1, 0)
    c: Point = r_pt
    for bit in bin(Q - 1)[3:]:
        if c is None or c[1] == 0:
            raise Degenerate("tangent at a point of order 2 (or at infinity)")
        cx, cy = c
        lam = 3 * (cx * cx - 1) * pow(2 * cy, -1, P) % P
        v = f2_mul(f2_mul(v, v), ((lam * (qx + cx) - cy) % P, qy))
        x3 = (lam * lam - 2 * cx) % P  # C = [2]C, reusing the tangent's gradient
        c = x3, (lam * (cx - x3) - cy) % P
        if bit == "1":
            if c is None or c[0] == rx:
                raise Degenerate("chord through C and R is vertical (R of small order)")
            cx, cy = c
            lam = (cy - ry) * pow(cx - rx, -1, P) % P
            v = f2_mul(v, ((lam * (qx + cx) - cy) % P, qy))
            x3 = (lam * lam - cx - rx) % P  # C = C + R, reusing the chord's gradient
            c = x3, (lam * (cx - x3) - cy) % P
    if v == (0, 0):
        raise Degenerate("Miller value is zero")
    # §3.2 final step: v^c in PF_p with c = (p + 1)/q (= 4 here). Note: the literal F_p2 power
    # (p^2 − 1)/q would give v^−8 in PF_p, which does NOT reproduce g of RFC 6509.
    return pf_repr(f2_pow(v, (P + 1) // Q))


# ---- §5.1 HashToIntegerRange and the SAKKE algorithms ------------------------------------------


def htir(s: bytes, n: int) -> int:
    """§5.1 HashToIntegerRange(s, n, SHA-256)."""
    a = hashlib.sha256(s).digest()
    blocks = -(-(n - 1).bit_length() // 256)  # l = ceiling(lg(n) / hashlen)
    h = bytes(32)
    v = b""
    for _ in range(blocks):
        h = hashlib.sha256(h).digest()
        v += hashlib.sha256(h + a).digest()
    return int.from_bytes(v, "big") % n


def g_value() -> int:
    """g = <P, P> (RFC 6509 parameter set 1 lists it; the KAT test compares)."""
    return pairing(G_PT, G_PT)


@functools.lru_cache(maxsize=8)
def _g() -> int:
    return g_value()


def z_pub(z: int) -> bytes:
    """§2.2: Z = [z]P."""
    return encode(mul(z, G_PT))


def issue_rsk(z: int, identity: bytes) -> bytes:
    """§6.1.1: RSK = [(b + z)^−1 mod q]P."""
    b = int.from_bytes(identity, "big")
    return encode(mul(pow(b + z, -1, Q), G_PT))


@functools.lru_cache(maxsize=64)
def _bp_plus_z(identity: bytes, zp: bytes) -> Point:
    z_pt = decode(zp)
    if z_pt is None:
        raise ValueError("bad Z")
    return add(mul(int.from_bytes(identity, "big"), G_PT), z_pt)


def mask(g_r: int) -> bytes:
    """HashToIntegerRange(g^r as 128 octets, 2^n) as n/8 octets."""
    return htir(g_r.to_bytes(COORD, "big"), 1 << N_BITS).to_bytes(SSV_LEN, "big")


def encapsulate(ssv: bytes, *, identity: bytes, zp: bytes) -> bytes | None:
    """§6.2.1; None for an SSV that is not n bits (16 octets)."""
    if len(ssv) != SSV_LEN:
        return None
    r = htir(ssv + identity, Q)
    r_pt = mul(r, _bp_plus_z(identity, zp))
    h = bytes(x ^ y for x, y in zip(ssv, mask(pf_pow(_g(), r)), strict=True))
    return encode(r_pt) + h


def decapsulate(data: bytes, *, identity: bytes, rsk: bytes, zp: bytes) -> bytes | None:
    """§6.2.2 including step 5; None on any failure (PROTOCOL.md §9.2 parse rules first)."""
    if len(data) != ENC_LEN:
        return None
    r_pt = decode(data[: 1 + 2 * COORD])
    k_pt = decode(rsk)
    if r_pt is None or k_pt is None:
        return None
    try:
        w = pairing(r_pt, k_pt)  # step 2
    except Degenerate:
        return None
    ssv = bytes(x ^ y for x, y in zip(data[1 + 2 * COORD :], mask(w), strict=True))  # step 3
    r = htir(ssv + identity, Q)  # step 4
    if mul(r, _bp_plus_z(identity, zp)) != r_pt:  # step 5
        return None
    return ssv
