"""RFC 6509 Appendix A parameter set 1 for SAKKE (RFC 6508): the curve, P, g and F_p2 helpers.

E: y^2 = x^3 - 3x over F_p, p a 1024-bit prime with p = 3 (mod 4); q = (p + 1)/4 is prime and
#E(F_p) = p + 1 = 4q (cofactor 4). F_p2 = F_p[i]/(i^2 + 1); an element is a pair (a, b) = a + bi.
PF_p is F_p2* modulo F_p*: the RFC represents [a, b] by b/a mod p (RFC 6508 §2.1), so any
F_p factor may be dropped along the way. Not constant-time (Python big integers).
"""

from __future__ import annotations

from functools import cache

import gmpy2
from gmpy2 import mpz

from prose_mesh.crypto._ecc import Curve, FixedBaseTable

P_HEX = (
    "997ABB1F0A563FDA65C61198DAD0657A416C0CE19CB48261BE9AE358B3E01A2EF40AAB27E2FC0F1B228730D531A59CB0"
    "E791B39FF7C88A19356D27F4A666A6D0E26C6487326B4CD4512AC5CD65681CE1B6AFF4A831852A82A7CF3C521C3C09AA"
    "9F94D6AF56971F1FFCE3E82389857DB080C5DF10AC7ACE87666D807AFEA85FEB"
)
PX_HEX = (
    "53FC09EE332C29AD0A7990053ED9B52A2B1A2FD60AEC69C698B2F204B6FF7CBFB5EDB6C0F6CE2308AB10DB9030B09E10"
    "43D5F22CDB9DFA55718BD9E7406CE8909760AF765DD5BCCB337C86548B72F2E1A702C3397A60DE74A7C1514DBA66910D"
    "D5CFB4CC80728D87EE9163A5B63F73EC80EC46C4967E0979880DC8ABEAE63895"
)
PY_HEX = (
    "0A8249063F6009F1F9F1F0533634A135D3E82016029906963D778D821E141178F5EA69F4654EC2B9E7F7F5E5F0DE55F6"
    "6B598CCF9A140B2E416CFF0CA9E032B970DAE117AD547C6CCAD696B5B7652FE0AC6F1E80164AA989492D979FC5A4D5F2"
    "13515AD7E9CB99A980BDAD5AD5BB4636ADB9B5706A67DCDE75573FD71BEF16D7"
)
# g = <P, P> as b/a mod p (RFC 6509 Appendix A); the tests recompute it with the pairing.
G_HEX = (
    "66FC2A432B6EA392148F15867D623068C6A87BD1FB94C41E27FABE658E015A87371E94744C96FEDA449AE9563F8BC446"
    "CBFDA85D5D00EF577072DA8F541721BEEE0FAED1828EAB90B99DFB0138C7843355DF0460B4A9FD74B4F1A32BCAFA1FFA"
    "D682C033A7942BCCE3720F20B9B7B0403C8CAE87B7A0042ACDE0FAB36461EA46"
)

p = mpz(int(P_HEX, 16))
q = (p + 1) // 4
N_BITS = 128  # n: SSV length in bits
SSV_LEN = N_BITS // 8
COORD_LEN = 128
POINT_LEN = 1 + 2 * COORD_LEN  # 257
CURVE = Curve("SAKKE-1", int(p), 0, int(q), cofactor=4)
P: tuple[mpz, mpz] = (mpz(int(PX_HEX, 16)), mpz(int(PY_HEX, 16)))
G_REP = mpz(int(G_HEX, 16))

# Widths chosen by measurement (process CPU time per [k]B, 1022-bit k): w=5 2.2 ms,
# w=6 1.6 ms, w=7 1.45 ms, w=8 1.2 ms; table sizes 3.3k, 5.5k, 9.4k, 16.5k points.
POINT_TABLE_WIDTH = 6  # P and Z (~1.7 MiB each)
_Q_BITS = int(q).bit_length()


IDENTITY_TABLE_WIDTH = 7  # [b]P + Z per identity: ~9.4k points, ~3 MiB


def point_table(base: tuple[mpz, mpz], width: int = POINT_TABLE_WIDTH) -> FixedBaseTable:
    """A fixed-base table for exponents below q."""
    return FixedBaseTable(CURVE, base, _Q_BITS, width)


@cache
def p_table() -> FixedBaseTable:
    """The process-wide table of P (KMS operations and encapsulation without an identity table)."""
    return point_table(P)


def pf_rep(a: mpz, b: mpz) -> mpz:
    """Representation b/a mod p of the PF_p element [a, b]; a must be non-zero."""
    return b * gmpy2.invert(a, p) % p


class PfPowTable:
    """Fixed-base exponentiation x -> base^x in PF_p with signed w-bit windows.

    Entries are normalised to [1, rho] (one F_p multiplication less per step); the inverse of
    [1, rho] in PF_p is its conjugate [1, -rho], so negative digits are free.
    """

    def __init__(self, rho: mpz, bits: int, width: int = 5) -> None:
        self.width = width
        half = 1 << (width - 1)
        rows = (bits + 1 + width - 1) // width + 1
        raw: list[tuple[mpz, mpz]] = []
        row_rho = mpz(rho)
        for _ in range(rows):
            cur = (mpz(1), row_rho)
            raw.append(cur)
            for _d in range(2, half + 1):
                cur = _mul_rho(cur, row_rho)
                raw.append(cur)
            # next row base = (half*row_base)^2 = row_base^(2^w)
            a, b = cur
            row_rho = pf_rep((a + b) * (a - b) % p, 2 * a * b % p)
        # normalise all entries to rho = b/a with one inversion (Montgomery's trick)
        prefix = []
        acc = mpz(1)
        for a, _b in raw:
            prefix.append(acc)
            acc = acc * a % p
        inv = gmpy2.invert(acc, p)
        rhos: list[mpz] = [mpz(0)] * len(raw)
        for k in range(len(raw) - 1, -1, -1):
            a, b = raw[k]
            ai = inv * prefix[k] % p
            inv = inv * a % p
            rhos[k] = b * ai % p
        self.rows = [rhos[i * half : (i + 1) * half] for i in range(rows)]

    def pow(self, x: int) -> tuple[mpz, mpz]:
        """base^x as an (unnormalised) F_p2 pair (a, b)."""
        w = self.width
        full = 1 << w
        half = full >> 1
        mask = full - 1
        a, b = mpz(1), mpz(0)
        x = int(x)
        i = 0
        rows = self.rows
        while x:
            d = x & mask
            x >>= w
            if d > half:
                d -= full
                x += 1
            if d > 0:
                rho = rows[i][d - 1]
                a, b = (a - b * rho) % p, (b + a * rho) % p
            elif d < 0:
                rho = rows[i][-d - 1]
                a, b = (a + b * rho) % p, (b - a * rho) % p
            i += 1
        return a, b


def _mul_rho(x: tuple[mpz, mpz], rho: mpz) -> tuple[mpz, mpz]:
    a, b = x
    return (a - b * rho) % p, (b + a * rho) % p


@cache
def g_table() -> PfPowTable:
    """The process-wide table of g (RFC 6508 §6.2.1 step 3: g^r)."""
    return PfPowTable(G_REP, _Q_BITS)
