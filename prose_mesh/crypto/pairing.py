"""The reduced Tate pairing <R, Q> of RFC 6508 §3.2 on the parameter-set-1 curve.

Miller loop over q - 1 from the second most significant digit (NAF, see below), evaluated at
psi(Q) = (-Qx, i*Qy), then the final exponentiation v^((p + 1)/q) in PF_p and the representation
b/a of RFC 6508 §2.1. The loop point's lines depend on that point only, so they can be computed
once (:class:`MillerLines`) and evaluated at any Q: the pairing is symmetric, so the receiver
fixes its RSK as the loop point (PROTOCOL.md §9.2). A receiver that keeps no lines pays one
pass in Jacobian coordinates instead (:func:`tate_pairing`): no inversion per step, about a
third of building the lines and evaluating them.

Line at ``psi(Q)`` through C with slope lam: ``(lam*(Qx + Cx) - Cy) + i*Qy``. Dividing by the
F_p element Qy (F_p factors vanish in PF_p) leaves ``a + i`` with
``a = lam*(Qx/Qy) + (lam*Cx - Cy)/Qy``, which is never zero, so the loop cannot meet a zero
divisor once Qy != 0. Degenerate loop points (C = O or C = -R mid-loop, only possible for points
not of order q) raise :class:`DegeneratePoint`. Not constant-time (Python big integers).
"""

from __future__ import annotations

import gmpy2
from gmpy2 import mpz

from prose_mesh.crypto.sakke_params import p, q


def _naf(k: int) -> list[int]:
    digits: list[int] = []
    while k:
        d = 2 - (k & 3) if k & 1 else 0
        digits.append(d)
        k = (k - d) >> 1
    return digits[::-1]


# q - 1 in non-adjacent form, from the second most significant digit. A signed digit changes
# the Miller function only by vertical lines, whose values at psi(Q) lie in F_p and vanish
# in PF_p, so <R, Q> is unchanged while about 170 of the ~510 addition steps disappear.
_LOOP_DIGITS = _naf(int(q) - 1)[1:]


class DegeneratePoint(ArithmeticError):
    """A pairing input is degenerate (infinity, small order, y = 0)."""


class MillerLines:
    """Precomputed line coefficients (lam, lam*Cx - Cy) of the Miller loop for loop point R."""

    def __init__(self, R: tuple[mpz, mpz]) -> None:
        rx, ry = R
        cx, cy = rx, ry
        steps: list[tuple[mpz, mpz, mpz | None, mpz | None]] = []
        for digit in _LOOP_DIGITS:
            if cy == 0:
                raise DegeneratePoint("tangent at a point with y = 0")
            lam = 3 * (cx * cx - 1) * gmpy2.invert(2 * cy, p) % p
            c = (lam * cx - cy) % p
            x3 = (lam * lam - 2 * cx) % p
            cy = (lam * (cx - x3) - cy) % p
            cx = x3
            if digit:
                if cx == rx:
                    raise DegeneratePoint("chord through C = +-R")
                sy = ry if digit > 0 else -ry  # add R or -R
                lam2 = (cy - sy) * gmpy2.invert(cx - rx, p) % p
                c2 = (lam2 * cx - cy) % p
                x3 = (lam2 * lam2 - cx - rx) % p
                cy = (lam2 * (cx - x3) - cy) % p
                cx = x3
                steps.append((lam, c, lam2, c2))
            else:
                steps.append((lam, c, None, None))
        self.steps = steps

    def pairing(self, Q: tuple[mpz, mpz]) -> mpz:
        """<R, Q> as its PF_p representation b/a mod p (an integer below p)."""
        qx, qy = Q
        if qy == 0:
            raise DegeneratePoint("evaluation point has y = 0")
        v = gmpy2.invert(qy, p)
        u = qx * v % p
        f0, f1 = mpz(1), mpz(0)
        for lam, c, lam2, c2 in self.steps:
            t0 = (f0 + f1) * (f0 - f1) % p
            t1 = (f0 * f1 << 1) % p
            a = (lam * u + c * v) % p
            f0 = (t0 * a - t1) % p
            f1 = (t1 * a + t0) % p
            if lam2 is not None:
                a = (lam2 * u + c2 * v) % p
                f0, f1 = (f0 * a - f1) % p, (f1 * a + f0) % p
        return final_exponentiation(f0, f1)


def final_exponentiation(f0: mpz, f1: mpz) -> mpz:
    """RFC 6508 §3.2: t = v^c with c = (p + 1)/q = 4, taken in PF_p; returned as b/a mod p.

    PF_p = F_p2*/F_p* has order p + 1, so this is the reduced pairing value; any F_p factor
    dropped in the loop disappears in the b/a representation. Two squarings.
    """
    a, b = f0, f1
    for _ in range(2):
        a, b = (a + b) * (a - b) % p, 2 * a * b % p
    if a == 0:
        raise DegeneratePoint("pairing value has a zero real part")
    return b * gmpy2.invert(a, p) % p


def tate_pairing(R: tuple[mpz, mpz], Q: tuple[mpz, mpz]) -> mpz:
    """<R, Q> in one pass, nothing kept: the loop point C = [k]R in Jacobian coordinates.

    Each line is scaled by an F_p factor to clear its denominators (F_p factors vanish in
    PF_p). Doubling (dbl-2001-b, a = -3), C = (X, Y, Z), delta = Z^2, gamma = Y^2,
    alpha = 3(X - delta)(X + delta), Z3 = 2YZ: the tangent at psi(Q) times Z3*delta is
    ``alpha*(Qx*delta + X) - 2*gamma + i*Qy*Z3*delta``. Mixed addition of S = (Rx, +-Ry):
    H = Rx*delta - X, rr = Sy*Z*delta - Y, Z3 = Z*H: the chord times Z3 is
    ``rr*(Qx + Rx) - Sy*Z3 + i*Qy*Z3``.
    """
    rx, ry = R
    qx, qy = Q
    if qy == 0:
        raise DegeneratePoint("evaluation point has y = 0")
    w = qx + rx
    X, Y, Z = rx, ry, mpz(1)
    f0, f1 = mpz(1), mpz(0)
    for digit in _LOOP_DIGITS:
        if Y == 0 or Z == 0:
            raise DegeneratePoint("tangent at a point with y = 0 or at infinity")
        delta = Z * Z % p
        gamma = Y * Y % p
        beta = X * gamma % p
        alpha = 3 * (X - delta) * (X + delta) % p
        z3 = 2 * Y * Z % p
        a = (alpha * (qx * delta + X) - 2 * gamma) % p
        b = qy * z3 * delta % p
        X3 = (alpha * alpha - 8 * beta) % p
        Y = (alpha * (4 * beta - X3) - 8 * gamma * gamma) % p
        X, Z = X3, z3
        t0 = (f0 + f1) * (f0 - f1) % p
        t1 = 2 * f0 * f1 % p
        f0 = (t0 * a - t1 * b) % p
        f1 = (t0 * b + t1 * a) % p
        if digit:
            sy = ry if digit > 0 else -ry  # add R or -R
            delta = Z * Z % p
            h = (rx * delta - X) % p
            if h == 0:
                raise DegeneratePoint("chord through C = +-R")
            rr = (sy * Z * delta - Y) % p
            z3 = Z * h % p
            a = (rr * w - sy * z3) % p
            b = qy * z3 % p
            hh = h * h % p
            hhh = h * hh % p
            xhh = X * hh % p
            X3 = (rr * rr - hhh - 2 * xhh) % p
            Y = (rr * (xhh - X3) - Y * hhh) % p
            X, Z = X3, z3
            f0, f1 = (f0 * a - f1 * b) % p, (f0 * b + f1 * a) % p
    return final_exponentiation(f0, f1)
