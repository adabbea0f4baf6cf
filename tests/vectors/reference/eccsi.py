"""ECCSI (RFC 6507) over P-256 with SHA-256: KMS key issue (§5.1.1), sign (§5.2.1) with a caller-
chosen j, and verify (§5.2.2) with the hardening of PROTOCOL.md §9.1 (r, s ∈ [1, q−1];
J ≠ infinity; signature exactly 4N+1 octets; PVT prefix 0x04, coordinates < p, on the curve).
"""

from __future__ import annotations

import hashlib

from . import p256
from .p256 import N, Q


def _h(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def kpak_from_ksak(ksak: int) -> bytes:
    """§5.1.1: KPAK = [KSAK]G."""
    return p256.encode(p256.mul(ksak, p256.G))


def hs(identity: bytes, pvt: bytes, kpak: bytes) -> int:
    """§5.1.1 step 3 / §5.2.2 step 2: HS = hash(G || KPAK || ID || PVT)."""
    return int.from_bytes(_h(p256.encode(p256.G), kpak, identity, pvt), "big")


def issue(ksak: int, identity: bytes, v: int) -> tuple[int, bytes]:
    """§5.1.1: the KMS issues (SSK, PVT) for ``identity`` with ephemeral v."""
    pvt = p256.encode(p256.mul(v, p256.G))
    ssk = (ksak + hs(identity, pvt, kpak_from_ksak(ksak)) * v) % Q
    return ssk, pvt


def sign(
    msg: bytes, *, identity: bytes, ssk: int, pvt: bytes, kpak: bytes, j: int
) -> bytes | None:
    """§5.2.1 with the given j; None where the RFC says to pick another j."""
    jpt = p256.mul(j, p256.G)
    if jpt is None:
        return None
    r = jpt[0].to_bytes(N, "big")
    he = int.from_bytes(_h(hs(identity, pvt, kpak).to_bytes(N, "big"), r, msg), "big")
    t = (he + int.from_bytes(r, "big") * ssk) % Q
    if t == 0:
        return None
    s = pow(t, -1, Q) * j % Q
    # §5.2.1 step 6's "q − s' if s' is too big" cannot trigger: s' < q < 2^256.
    return r + s.to_bytes(N, "big") + pvt


def verify(msg: bytes, sig: bytes, *, identity: bytes, kpak: bytes) -> bool:
    """§5.2.2 plus PROTOCOL.md §9.1 hardening; True iff the signature is accepted."""
    if len(sig) != 4 * N + 1:
        return False
    r_oct, s_oct, pvt = sig[:N], sig[N : 2 * N], sig[2 * N :]
    r, s = int.from_bytes(r_oct, "big"), int.from_bytes(s_oct, "big")
    if not (1 <= r < Q and 1 <= s < Q):
        return False
    pvt_pt = p256.decode(pvt)  # step 1: PVT on the curve (strict encoding)
    kpak_pt = p256.decode(kpak)
    if pvt_pt is None or kpak_pt is None:
        return False
    h_s = hs(identity, pvt, kpak)  # step 2
    he = int.from_bytes(_h(h_s.to_bytes(N, "big"), r_oct, msg), "big")  # step 3
    y = p256.add(p256.mul(h_s, pvt_pt), kpak_pt)  # step 4
    j = p256.mul(s, p256.add(p256.mul(he, p256.G), p256.mul(r, y)))  # step 5
    if j is None:
        return False
    return j[0] % p256.P == r % p256.P and j[0] != 0  # step 6
