"""NIST P-256 in affine coordinates (RFC 6507 §4.1 uses it with SHA-256, N = 32).

A point is ``(x, y)`` or ``None`` for the point at infinity.
"""

from __future__ import annotations

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
A = P - 3
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
Q = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)
N = 32  # octets

Point = tuple[int, int] | None


def on_curve(pt: Point) -> bool:
    if pt is None:
        return False
    x, y = pt
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


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
        lam = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return x3, (lam * (x1 - x3) - y1) % P


def neg(pt: Point) -> Point:
    return None if pt is None else (pt[0], (-pt[1]) % P)


def mul(k: int, pt: Point) -> Point:
    """Left-to-right double-and-add; k may be any non-negative integer."""
    acc: Point = None
    for bit in bin(k)[2:] if k > 0 else "":
        acc = add(acc, acc)
        if bit == "1":
            acc = add(acc, pt)
    return acc


def encode(pt: Point) -> bytes:
    """0x04 || x || y, each coordinate N octets with leading zeros kept."""
    if pt is None:
        raise ValueError("cannot encode the point at infinity")
    return b"\x04" + pt[0].to_bytes(N, "big") + pt[1].to_bytes(N, "big")


def decode(data: bytes) -> Point:
    """Strict decoding: 65 octets, prefix 0x04, coordinates < p, on the curve; else None."""
    if len(data) != 2 * N + 1 or data[0] != 0x04:
        return None
    pt = (int.from_bytes(data[1 : N + 1], "big"), int.from_bytes(data[N + 1 :], "big"))
    return pt if on_curve(pt) else None


def sqrt(a: int) -> int | None:
    """Square root mod P (P ≡ 3 mod 4), or None for a non-residue."""
    r = pow(a, (P + 1) // 4, P)
    return r if r * r % P == a % P else None
