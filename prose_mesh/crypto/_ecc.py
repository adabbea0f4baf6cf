"""Short-Weierstrass arithmetic for curves y^2 = x^3 - 3x + b over F_p, on gmpy2.

Both curves of the package have a = -3: NIST P-256 (ECCSI, RFC 6507) and the SAKKE curve
E: y^2 = x^3 - 3x of RFC 6509 parameter set 1 (b = 0). Points are affine ``(x, y)`` tuples of
``mpz`` or ``None`` for the point at infinity; internal sums use Jacobian ``(X, Y, Z)``
coordinates (x = X/Z^2, y = Y/Z^3) with mixed additions against affine table points.

NOT constant-time: Python/GMP big integers, data-dependent branches and table look-ups leak
timing. That is acceptable for an emulator (PROTOCOL.md §9.2) and stated here on purpose.
"""

from __future__ import annotations

from collections.abc import Sequence

import gmpy2
from gmpy2 import mpz

Affine = tuple[mpz, mpz] | None
Jacobian = tuple[mpz, mpz, mpz]

_ZERO = mpz(0)
_ONE = mpz(1)
JINF: Jacobian = (_ONE, _ONE, _ZERO)


class Curve:
    """A curve y^2 = x^3 - 3x + b over F_p whose points of interest have prime order ``q``."""

    def __init__(self, name: str, p: int, b: int, q: int, cofactor: int) -> None:
        self.name = name
        self.p = mpz(p)
        self.b = mpz(b)
        self.q = mpz(q)
        self.cofactor = cofactor
        self.coord_len = (int(p).bit_length() + 7) // 8

    # --- encoding -------------------------------------------------------------------------
    def encode(self, pt: Affine) -> bytes:
        """0x04 || x || y, each coordinate at full width (SEC 1 uncompressed form)."""
        if pt is None:
            raise ValueError("the point at infinity has no uncompressed encoding")
        n = self.coord_len
        return b"\x04" + int(pt[0]).to_bytes(n, "big") + int(pt[1]).to_bytes(n, "big")

    def decode(self, data: bytes) -> tuple[Affine, str]:
        """Parse 0x04 || x || y. Returns ``(point, "")`` or ``(None, reason)``; never raises.

        Checks, cheapest first: exact length, prefix 0x04 only, x and y < p, on the curve.
        """
        n = self.coord_len
        if len(data) != 1 + 2 * n:
            return None, f"point must be {1 + 2 * n} octets, got {len(data)}"
        if data[0] != 0x04:
            return None, f"point prefix must be 0x04, got 0x{data[0]:02X}"
        x = mpz(int.from_bytes(data[1 : 1 + n], "big"))
        y = mpz(int.from_bytes(data[1 + n :], "big"))
        if x >= self.p or y >= self.p:
            return None, "point coordinate not below p"
        if not self.on_curve((x, y)):
            return None, "point not on the curve"
        return (x, y), ""

    def on_curve(self, pt: Affine) -> bool:
        if pt is None:
            return False
        x, y = pt
        p = self.p
        return (y * y - (x * x * x - 3 * x + self.b)) % p == 0

    # --- group law --------------------------------------------------------------------------
    def neg(self, pt: Affine) -> Affine:
        if pt is None:
            return None
        return (pt[0], (-pt[1]) % self.p)

    def jdouble(self, P: Jacobian) -> Jacobian:
        """dbl-2001-b (a = -3)."""
        X1, Y1, Z1 = P
        if Z1 == 0 or Y1 == 0:
            return JINF
        p = self.p
        delta = Z1 * Z1 % p
        gamma = Y1 * Y1 % p
        beta = X1 * gamma % p
        alpha = 3 * (X1 - delta) * (X1 + delta) % p
        X3 = (alpha * alpha - 8 * beta) % p
        Z3 = ((Y1 + Z1) ** 2 - gamma - delta) % p
        Y3 = (alpha * (4 * beta - X3) - 8 * gamma * gamma) % p
        return (X3, Y3, Z3)

    def jadd_affine(self, P: Jacobian, Q: tuple[mpz, mpz]) -> Jacobian:
        """P + Q with Q affine (madd-2007-bl), exceptional cases (P = ±Q, P = O) handled."""
        X1, Y1, Z1 = P
        x2, y2 = Q
        if Z1 == 0:
            return (x2, y2, _ONE)
        p = self.p
        Z1Z1 = Z1 * Z1 % p
        U2 = x2 * Z1Z1 % p
        S2 = y2 * Z1 * Z1Z1 % p
        H = (U2 - X1) % p
        rr = (S2 - Y1) % p
        if H == 0:
            if rr == 0:
                return self.jdouble(P)
            return JINF
        HH = H * H % p
        I4 = 4 * HH
        J = H * I4 % p
        rr = 2 * rr
        V = X1 * I4 % p
        X3 = (rr * rr - J - 2 * V) % p
        Y3 = (rr * (V - X3) - 2 * Y1 * J) % p
        Z3 = ((Z1 + H) ** 2 - Z1Z1 - HH) % p
        return (X3, Y3, Z3)

    def to_affine(self, P: Jacobian) -> Affine:
        X, Y, Z = P
        if Z == 0:
            return None
        p = self.p
        zi = gmpy2.invert(Z, p)
        zi2 = zi * zi % p
        return (X * zi2 % p, Y * zi2 * zi % p)

    def batch_to_affine(self, pts: Sequence[Jacobian]) -> list[Affine]:
        """Montgomery's trick: one inversion for the whole list."""
        p = self.p
        out: list[Affine] = [None] * len(pts)
        idx = [i for i, P in enumerate(pts) if P[2] != 0]
        if not idx:
            return out
        prefix = []
        acc = _ONE
        for i in idx:
            prefix.append(acc)
            acc = acc * pts[i][2] % p
        inv = gmpy2.invert(acc, p)
        for k in range(len(idx) - 1, -1, -1):
            i = idx[k]
            X, Y, Z = pts[i]
            zi = inv * prefix[k] % p
            inv = inv * Z % p
            zi2 = zi * zi % p
            out[i] = (X * zi2 % p, Y * zi2 * zi % p)
        return out

    def add(self, P: Affine, Q: Affine) -> Affine:
        if P is None:
            return Q
        if Q is None:
            return P
        return self.to_affine(self.jadd_affine((P[0], P[1], _ONE), Q))

    def double(self, P: Affine) -> Affine:
        if P is None:
            return None
        return self.to_affine(self.jdouble((P[0], P[1], _ONE)))

    def mul(self, k: int, P: Affine) -> Affine:
        """[k]P for a variable base (left-to-right signed window, width 5)."""
        if P is None:
            return None
        k = int(k)
        if k < 0:
            k, P = -k, self.neg(P)
        if k == 0:
            return None
        return self.to_affine(self.jmul(k, P))

    def jmul(self, k: int, P: tuple[mpz, mpz], width: int = 5) -> Jacobian:
        # Odd multiples P, 3P, ..., (2^(w-1)-1)P, normalised to affine with one inversion.
        P2 = self.jdouble((P[0], P[1], _ONE))
        odd: list[Jacobian] = [(P[0], P[1], _ONE)]
        P2a = self.to_affine(P2)
        for _ in range((1 << (width - 2)) - 1):
            odd.append(self.jadd_affine(odd[-1], P2a) if P2a is not None else JINF)
        table = self.batch_to_affine(odd)
        digits = _wnaf(k, width)
        acc = JINF
        for d in reversed(digits):
            acc = self.jdouble(acc)
            if d:
                T = table[abs(d) >> 1]
                if T is None:
                    continue
                acc = self.jadd_affine(acc, T if d > 0 else (T[0], (-T[1]) % self.p))
        return acc


def _wnaf(k: int, width: int) -> list[int]:
    """Width-w non-adjacent form, least significant digit first."""
    digits: list[int] = []
    full = 1 << width
    half = full >> 1
    while k:
        if k & 1:
            d = k & (full - 1)
            if d >= half:
                d -= full
            k -= d
        else:
            d = 0
        digits.append(d)
        k >>= 1
    return digits


class FixedBaseTable:
    """Fixed-base comb of signed w-bit windows: [k]B costs about bits/w mixed additions.

    Row i holds d * 2^(w*i) * B for d = 1 .. 2^(w-1) (affine); negative digits use -y, so
    no doublings are needed at multiplication time.
    """

    def __init__(self, curve: Curve, base: tuple[mpz, mpz], bits: int, width: int) -> None:
        self.curve = curve
        self.base = base
        self.width = width
        self.rows_n = (bits + 1 + width - 1) // width + 1
        half = 1 << (width - 1)
        jac: list[Jacobian] = []
        row_base: Affine = base
        for _ in range(self.rows_n):
            if row_base is None:  # only for bases of tiny order; never for valid keys
                jac.extend([JINF] * half)
                continue
            cur: Jacobian = (row_base[0], row_base[1], _ONE)
            jac.append(cur)
            for _d in range(2, half + 1):
                cur = curve.jadd_affine(cur, row_base)
                jac.append(cur)
            # next row base = 2^w * row_base = 2 * (half * row_base)
            row_base = curve.to_affine(curve.jdouble(cur))
        flat = curve.batch_to_affine(jac)
        self.rows: list[list[Affine]] = [
            flat[i * half : (i + 1) * half] for i in range(self.rows_n)
        ]

    def jmul(self, k: int) -> Jacobian:
        """[k]B in Jacobian coordinates; k must be below 2^bits (callers reduce mod q).

        The mixed addition (madd-2007-bl) is inlined: this loop is the hot path of SAKKE
        encapsulation and of the step 5 re-encapsulation check.
        """
        w = self.width
        full = 1 << w
        half = full >> 1
        mask = full - 1
        curve = self.curve
        p = curve.p
        rows = self.rows
        X1 = Y1 = Z1 = None
        k = int(k)
        i = 0
        while k:
            d = k & mask
            k >>= w
            if d > half:
                d -= full
                k += 1
            if d:
                T = rows[i][d - 1] if d > 0 else rows[i][-d - 1]
                if T is not None:
                    x2 = T[0]
                    y2 = T[1] if d > 0 else p - T[1]
                    if Z1 is None:
                        X1, Y1, Z1 = x2, y2, _ONE
                    else:
                        Z1Z1 = Z1 * Z1 % p
                        H = (x2 * Z1Z1 - X1) % p
                        rr = (y2 * (Z1 * Z1Z1 % p) - Y1) % p
                        if H == 0:  # exceptional: same x; fall back to the careful formula
                            X1, Y1, Z1 = curve.jadd_affine((X1, Y1, Z1), (x2, y2))
                            if Z1 == 0:
                                Z1 = None
                        else:
                            HH = H * H % p
                            I4 = HH << 2
                            J = H * I4 % p
                            rr <<= 1
                            V = X1 * I4 % p
                            X3 = (rr * rr - J - (V << 1)) % p
                            Y1 = (rr * (V - X3) - ((Y1 * J) << 1)) % p
                            Z1 = ((Z1 + H) ** 2 - Z1Z1 - HH) % p
                            X1 = X3
            i += 1
        if Z1 is None:
            return JINF
        return (X1, Y1, Z1)

    def mul(self, k: int) -> Affine:
        return self.curve.to_affine(self.jmul(k))
