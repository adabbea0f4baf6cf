"""Generate the Wycheproof-style ECCSI and SAKKE vector files (ADVERSARIAL.md §6).

Run once from the repository root and commit the output:

    .venv/bin/python -m tests.vectors.generate

Deterministic (fixed seed, no clock, no OS randomness): running it again reproduces
``eccsi_p256_sha256_verify.json``, ``sakke_ps1_decap.json`` and ``mikey_sakke_imessage.json``
byte for byte. Every expected
``result`` is decided by the independent reference in ``reference/`` *and* cross-checked
against the intent of the case (the generator refuses to write a file where they disagree).
It takes one to two minutes in pure Python (affine pairings, ~0.45 s each).
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .reference import eccsi, mikey, p256, sakke

GENERATOR_VERSION = "1.0"
SEED = 0x6507_6508
OUT = Path(__file__).resolve().parent

# RFC 6507 / RFC 6508 Appendix A inputs (the KAT test checks these reproduce the RFC values).
RFC_ID = b"2011-02\x00tel:+447700900123\x00"
RFC_MSG = b"message\x00"
RFC_KSAK = 0x12345
RFC_V = 0x23456
RFC_J = 0x34567
RFC_Z = 0xAFF429D35F84B110D094803B3595A6E2998BC99F
RFC_SSV = bytes.fromhex("123456789ABCDEF0123456789ABCDEF0")

ID_NO_NUL = RFC_ID[:-1]
ID_TWO_NUL = RFC_ID + b"\x00"
ID_PREV = b"2011-01\x00tel:+447700900123\x00"  # same user, previous key period
ID_BOB = b"2011-02\x00tel:+447700900124\x00"  # another member


Case = dict[str, Any]


class Builder:
    """Collects groups and cases; checks each case's intent against the reference."""

    def __init__(self) -> None:
        self.groups: list[dict[str, Any]] = []
        self.next_id = 1

    def group(self, **params: Any) -> list[Case]:
        tests: list[Case] = []
        self.groups.append({**params, "tests": tests})
        return tests

    def add(self, tests: list[Case], case: Case) -> None:
        tests.append({"tcId": self.next_id, **case})
        self.next_id += 1

    @property
    def count(self) -> int:
        return self.next_id - 1


def _flip(data: bytes, bit: int) -> bytes:
    """Flip bit ``bit`` counted from the least significant bit of the last octet."""
    buf = bytearray(data)
    buf[len(buf) - 1 - bit // 8] ^= 1 << (bit % 8)
    return bytes(buf)


# ================================================================================================
# ECCSI
# ================================================================================================

ECCSI_NOTES = {
    "KnownAnswer": ("BASIC", "RFC 6507 Appendix A signature."),
    "Valid": ("BASIC", "An honest signature made by the reference with a fixed-seed j."),
    "MissingZero": (
        "FUNCTIONALITY",
        "Honest signature whose r or s has a leading 0x00 octet. Must be accepted: r and s "
        "are always N = 32 octets (dropping the zero breaks ~1 in 128 honest signatures).",
    ),
    "SignatureMalleability": (
        "SIGNATURE_MALLEABILITY",
        "(r, q - s): [q-s]X = -[s]X has the same x-coordinate, so RFC 6507 §5.2.2 accepts it. "
        "Valid per the RFC; a verifier enforcing low-s would reject it.",
    ),
    "RangeCheck": (
        "CAN_OF_WORMS",
        "r or s outside [1, q-1] (0, q, q+1, p, 2^256-1) or an edge value (1, q-1) that is not "
        "the signature's. PROTOCOL.md §9.1 step 1 rejects out-of-range values before any EC "
        "arithmetic.",
    ),
    "SigSize": ("BASIC", "Signature not exactly 4N+1 = 129 octets (0, 1, 64, 128, 130, ...)."),
    "InvalidEncoding": (
        "CAN_OF_WORMS",
        "PVT prefix other than 0x04 (0x00, 0x02, 0x03, 0x05, 0x06, 0x07, 0xFF) with 64 "
        "coordinate octets, or an infinity-like PVT encoding.",
    ),
    "MalformedPvtSigned": (
        "CAN_OF_WORMS",
        "PVT octets with prefix != 0x04 (or compressed/hybrid) that the signature was actually "
        "made over, with an SSK the KMS issued for them: only the encoding rule rejects it, so "
        "a lax point parser accepts. PROTOCOL.md §9.1: PVT prefix 0x04 only.",
    ),
    "InvalidPublic": (
        "CAN_OF_WORMS",
        "PVT not a point of E: off the curve, a coordinate >= p, or all-zero coordinates.",
    ),
    "InvalidCurveAttack": (
        "CONFIDENTIALITY",
        "PVT on the quadratic twist of P-256 (x^3-3x+b a non-residue; y from -1 times it).",
    ),
    "ModifiedPvt": (
        "AUTH_BYPASS",
        "PVT replaced by another valid point (G, KPAK, -PVT, another user's PVT).",
    ),
    "ModifiedSignature": ("AUTH_BYPASS", "One bit of r, s or PVT flipped."),
    "ModifiedMessage": ("AUTH_BYPASS", "One bit of the message flipped, or octets added."),
    "ModifiedIdentity": (
        "AUTH_BYPASS",
        "Verified against another ID: trailing NUL removed or doubled, previous key period, "
        "another member.",
    ),
    "ModifiedParameters": ("AUTH_BYPASS", "KPAK of another KMS community."),
}


def _eccsi_signer(
    rng: random.Random, ksak: int, identity: bytes, v: int | None = None
) -> Callable[..., bytes]:
    kpak = eccsi.kpak_from_ksak(ksak)
    ssk, pvt = eccsi.issue(ksak, identity, v if v is not None else rng.randrange(1, p256.Q))

    def sign(msg: bytes, j: int | None = None) -> bytes:
        while True:
            jj = j if j is not None else rng.randrange(1, p256.Q)
            sig = eccsi.sign(msg, identity=identity, ssk=ssk, pvt=pvt, kpak=kpak, j=jj)
            if sig is not None:
                return sig
            j = None

    sign.pvt = pvt  # type: ignore[attr-defined]
    return sign


def _p256_twist_point(x: int) -> tuple[int, int]:
    """A point (x, y) with -y^2 = x^3 - 3x + b (quadratic twist by -1; p ≡ 3 mod 4)."""
    while True:
        rhs = (x * x * x - 3 * x + p256.B) % p256.P
        y = p256.sqrt((-rhs) % p256.P)
        if y is not None and p256.sqrt(rhs) is None:
            return x, y
        x += 1


def _p256_point_with_x_at_least(x: int) -> tuple[int, int]:
    while True:
        y = p256.sqrt((x * x * x - 3 * x + p256.B) % p256.P)
        if y is not None:
            return x, y
        x += 1


def _i32(v: int) -> bytes:
    return v.to_bytes(32, "big")


def build_eccsi(rng: random.Random) -> dict[str, Any]:
    b = Builder()
    kpak_a = eccsi.kpak_from_ksak(RFC_KSAK)
    ksak_b = rng.randrange(1, p256.Q)
    kpak_b = eccsi.kpak_from_ksak(ksak_b)
    alice = _eccsi_signer(rng, RFC_KSAK, RFC_ID, RFC_V)
    alice_prev = _eccsi_signer(rng, RFC_KSAK, ID_PREV)
    bob = _eccsi_signer(rng, RFC_KSAK, ID_BOB)
    alice_b = _eccsi_signer(rng, ksak_b, RFC_ID)
    q, p = p256.Q, p256.P

    def case(
        tests: list[Case], kpak: bytes, ident: bytes, comment: str, flags: list[str],
        msg: bytes, sig: bytes, intent: str,
    ) -> None:
        ok = eccsi.verify(msg, sig, identity=ident, kpak=kpak)
        result = "valid" if ok else "invalid"
        if intent != result:
            raise AssertionError(f"ECCSI case {comment!r}: intended {intent}, reference {result}")
        b.add(tests, {"comment": comment, "flags": flags, "msg": msg.hex(), "sig": sig.hex(),
                      "result": result})

    # ---- group 1: RFC 6507 community and identity -------------------------------------------
    t = b.group(type="EccsiVerify", kpak=kpak_a.hex(), id=RFC_ID.hex(),
                idAscii=RFC_ID.decode().replace("\x00", "\\0"),
                comment="RFC 6507 Appendix A KMS (KSAK 0x12345) and ID")
    kat = alice(RFC_MSG, RFC_J)

    def c1(comment: str, flags: list[str], msg: bytes, sig: bytes, intent: str) -> None:
        case(t, kpak_a, RFC_ID, comment, flags, msg, sig, intent)

    c1("RFC 6507 Appendix A", ["KnownAnswer"], RFC_MSG, kat, "valid")
    for msg in (b"", b"\x00", RFC_MSG, bytes(range(256)) * 4, b"I_MESSAGE" + bytes(40)):
        c1(f"honest signature, {len(msg)}-octet message", ["Valid"], msg, alice(msg), "valid")
    mall = kat[:32] + _i32(q - int.from_bytes(kat[32:64], "big")) + kat[64:]
    c1("KAT with s replaced by q - s", ["SignatureMalleability"], RFC_MSG, mall, "valid")

    # MissingZero: search j until r or s has a leading zero octet.
    found = {"r": 0, "s": 0}
    n = 0
    while found["r"] < 2 or found["s"] < 2:
        msg = b"missing zero %d" % n
        n += 1
        sig = alice(msg)
        for name, off in (("r", 0), ("s", 32)):
            if sig[off] == 0 and found[name] < 2:
                found[name] += 1
                c1(f"honest signature, {name} has a leading 0x00 octet", ["MissingZero"], msg,
                   sig, "valid")

    r0, s0, pvt0 = kat[:32], kat[32:64], kat[64:]
    edges = [("0", 0), ("1", 1), ("q-1", q - 1), ("q", q), ("q+1", q + 1), ("p", p),
             ("2^256-1", 2**256 - 1)]
    for name, val in edges:
        c1(f"r = {name}", ["RangeCheck"], RFC_MSG, _i32(val) + s0 + pvt0, "invalid")
    for name, val in edges:
        c1(f"s = {name}", ["RangeCheck"], RFC_MSG, r0 + _i32(val) + pvt0, "invalid")
    c1("r = s = 0", ["RangeCheck"], RFC_MSG, bytes(64) + pvt0, "invalid")
    c1("r = s = 1", ["RangeCheck"], RFC_MSG, _i32(1) * 2 + pvt0, "invalid")
    c1("r replaced by (r + q) mod 2^256", ["RangeCheck"], RFC_MSG,
       _i32((int.from_bytes(r0, "big") + q) % 2**256) + s0 + pvt0, "invalid")
    c1("s = q - 1 and r = q - 1", ["RangeCheck"], RFC_MSG, _i32(q - 1) * 2 + pvt0, "invalid")
    c1("all-zero 129-octet signature", ["RangeCheck", "InvalidPublic"], RFC_MSG, bytes(129),
       "invalid")

    # Sizes.
    x0, y0 = int.from_bytes(pvt0[1:33], "big"), int.from_bytes(pvt0[33:], "big")
    comp = bytes([2 + (y0 & 1)]) + pvt0[1:33]
    for comment, sig in (
        ("empty signature", b""),
        ("1 octet", kat[:1]),
        ("r || s only (64 octets)", kat[:64]),
        ("4N = 128 octets: last octet dropped", kat[:-1]),
        ("4N = 128 octets: first octet dropped", kat[1:]),
        ("4N+2 = 130 octets: 0x00 appended", kat + b"\x00"),
        ("4N+2 = 130 octets: 0x00 prepended (r as 33 octets)", b"\x00" + kat),
        ("4N+2 = 130 octets: s as 33 octets", r0 + b"\x00" + s0 + pvt0),
        ("compressed PVT (97 octets)", r0 + s0 + comp),
        ("signature followed by 64 zero octets", kat + bytes(64)),
        ("signature repeated", kat + kat),
        ("PVT omitted, r || s || 0x04", kat[:65]),
    ):
        c1(comment, ["SigSize"], RFC_MSG, sig, "invalid")

    # PVT prefix and infinity-like encodings.
    for prefix in (0x00, 0x02, 0x03, 0x05, 0x06, 0x07, 0xFF):
        c1(f"PVT prefix 0x{prefix:02x}", ["InvalidEncoding"], RFC_MSG,
           r0 + s0 + bytes([prefix]) + pvt0[1:], "invalid")
    c1("PVT = 0x00 followed by 64 zero octets (infinity-like)", ["InvalidEncoding"], RFC_MSG,
       r0 + s0 + bytes(65), "invalid")
    c1("PVT = 0x04 || 0 || 0 (infinity-like)", ["InvalidPublic"], RFC_MSG,
       r0 + s0 + b"\x04" + bytes(64), "invalid")
    c1("PVT = 0x00 alone (SEC1 infinity), 65-octet signature", ["InvalidEncoding", "SigSize"],
       RFC_MSG, r0 + s0 + b"\x00", "invalid")

    # The same encodings, but signed *over the malformed PVT octets* with a KMS-issued key
    # (SSK = KSAK + HS·v, HS hashed over those octets): a verifier that ignores the prefix or
    # accepts compressed/hybrid points would accept these; RFC 6509's 0x04 rule rejects them.
    v_m = rng.randrange(1, q)
    mx, my = p256.mul(v_m, p256.G)  # type: ignore[misc]
    xy = _i32(mx) + _i32(my)
    for comment, pvt_m in (
        ("PVT prefix 0x00", b"\x00" + xy),
        ("PVT prefix 0x02", b"\x02" + xy),
        ("PVT prefix 0x03", b"\x03" + xy),
        ("PVT prefix 0x05", b"\x05" + xy),
        ("PVT hybrid prefix 0x06/0x07 matching y's parity", bytes([6 + (my & 1)]) + xy),
        ("PVT hybrid prefix 0x06/0x07 with the wrong parity", bytes([7 - (my & 1)]) + xy),
        ("PVT compressed 0x02/0x03 || x (97-octet signature)", bytes([2 + (my & 1)]) + xy[:32]),
        ("PVT compressed with the wrong parity bit (97 octets)", bytes([3 - (my & 1)]) + xy[:32]),
    ):
        ssk_m = (RFC_KSAK + eccsi.hs(RFC_ID, pvt_m, kpak_a) * v_m) % q
        sig_m = None
        while sig_m is None:
            sig_m = eccsi.sign(RFC_MSG, identity=RFC_ID, ssk=ssk_m, pvt=pvt_m, kpak=kpak_a,
                               j=rng.randrange(1, q))
        c1(f"{comment}, signed over these octets by a KMS-issued key", ["MalformedPvtSigned"],
           RFC_MSG, sig_m, "invalid")

    # PVT not on the curve.
    def pvt_sig(x: int, y: int) -> bytes:
        return r0 + s0 + b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")

    c1("PVT y + 1", ["InvalidPublic"], RFC_MSG, pvt_sig(x0, (y0 + 1) % p), "invalid")
    c1("PVT x + 1", ["InvalidPublic"], RFC_MSG, pvt_sig((x0 + 1) % p, y0), "invalid")
    c1("PVT y = 0", ["InvalidPublic"], RFC_MSG, pvt_sig(x0, 0), "invalid")
    tx, ty = _p256_twist_point(x0)
    c1("PVT on the quadratic twist", ["InvalidCurveAttack"], RFC_MSG, pvt_sig(tx, ty), "invalid")
    tx, ty = _p256_twist_point(1)
    c1("PVT on the quadratic twist, small x", ["InvalidCurveAttack"], RFC_MSG, pvt_sig(tx, ty),
       "invalid")
    sx, sy = _p256_point_with_x_at_least(0)
    c1(f"PVT x >= p: (x + p, y) for the curve point with x = {sx}", ["InvalidPublic"], RFC_MSG,
       pvt_sig(sx + p, sy), "invalid")
    c1("PVT y = p", ["InvalidPublic"], RFC_MSG, pvt_sig(x0, p), "invalid")
    c1("PVT x = 2^256 - 1", ["InvalidPublic"], RFC_MSG, pvt_sig(2**256 - 1, y0), "invalid")
    c1("PVT y = 2^256 - 1 (coordinate >= p)", ["InvalidPublic"], RFC_MSG,
       pvt_sig(x0, 2**256 - 1), "invalid")

    # PVT replaced by other valid points.
    for comment, pt in (
        ("PVT = G", p256.encode(p256.G)),
        ("PVT = KPAK", kpak_a),
        ("PVT = -PVT", b"\x04" + pvt0[1:33] + _i32((p - y0) % p)),
        ("PVT = Bob's PVT", bob.pvt),  # type: ignore[attr-defined]
        ("PVT = Alice's previous-period PVT", alice_prev.pvt),  # type: ignore[attr-defined]
    ):
        c1(comment, ["ModifiedPvt"], RFC_MSG, r0 + s0 + pt, "invalid")

    # Bit flips (bits counted from the LSB of each field).
    for bit in (0, 1, 7, 8, 63, 128, 200, 255):
        c1(f"r bit {bit} flipped", ["ModifiedSignature"], RFC_MSG,
           _flip(r0, bit) + s0 + pvt0, "invalid")
    for bit in (0, 1, 7, 8, 63, 128, 200, 255):
        c1(f"s bit {bit} flipped", ["ModifiedSignature"], RFC_MSG,
           r0 + _flip(s0, bit) + pvt0, "invalid")
    for bit in (0, 100, 255, 256, 300, 511, 512, 513, 514, 519):
        c1(f"PVT bit {bit} flipped", ["ModifiedSignature"], RFC_MSG,
           r0 + s0 + _flip(pvt0, bit), "invalid")
    for bit in (0, 7, 8, 63):
        c1(f"message bit {bit} flipped", ["ModifiedMessage"], _flip(RFC_MSG, bit), kat,
           "invalid")
    c1("message with trailing NUL removed", ["ModifiedMessage"], RFC_MSG[:-1], kat, "invalid")
    c1("message with 0x00 appended", ["ModifiedMessage"], RFC_MSG + b"\x00", kat, "invalid")
    c1("empty message", ["ModifiedMessage"], b"", kat, "invalid")

    # Other signers verified against Alice's ID in community A.
    c1("signature by Bob (same KMS)", ["ModifiedIdentity"], RFC_MSG, bob(RFC_MSG), "invalid")
    c1("signature by Alice, previous key period", ["ModifiedIdentity"], RFC_MSG,
       alice_prev(RFC_MSG), "invalid")
    c1("signature by Alice of another KMS community", ["ModifiedParameters"], RFC_MSG,
       alice_b(RFC_MSG), "invalid")

    # ---- identity groups ------------------------------------------------------------------------
    for ident, what in ((ID_NO_NUL, "RFC ID without its trailing NUL"),
                        (ID_TWO_NUL, "RFC ID with a second trailing NUL")):
        tt = b.group(type="EccsiVerify", kpak=kpak_a.hex(), id=ident.hex(),
                     idAscii=ident.decode().replace("\x00", "\\0"), comment=what)
        case(tt, kpak_a, ident, f"RFC 6507 KAT verified with the {what}",
             ["ModifiedIdentity"], RFC_MSG, kat, "invalid")
        case(tt, kpak_a, ident, f"honest signature by the RFC ID verified with the {what}",
             ["ModifiedIdentity"], b"GMK", alice(b"GMK"), "invalid")
    for ident, signer, what in ((ID_PREV, alice_prev, "previous-period ID of the RFC user"),
                                (ID_BOB, bob, "another member")):
        tt = b.group(type="EccsiVerify", kpak=kpak_a.hex(), id=ident.hex(),
                     idAscii=ident.decode().replace("\x00", "\\0"), comment=what)
        case(tt, kpak_a, ident, f"honest signature by the {what}", ["Valid"], RFC_MSG,
             signer(RFC_MSG), "valid")
        case(tt, kpak_a, ident, "RFC 6507 KAT (current-period RFC ID) under this ID",
             ["ModifiedIdentity"], RFC_MSG, kat, "invalid")
        case(tt, kpak_a, ident, "honest current-period RFC-ID signature under this ID",
             ["ModifiedIdentity"], b"GMK", alice(b"GMK"), "invalid")
    tt = b.group(type="EccsiVerify", kpak=kpak_b.hex(), id=RFC_ID.hex(),
                 idAscii=RFC_ID.decode().replace("\x00", "\\0"),
                 comment="RFC ID in another KMS community (fixed-seed KSAK)")
    case(tt, kpak_b, RFC_ID, "honest signature from this community", ["Valid"], RFC_MSG,
         alice_b(RFC_MSG), "valid")
    case(tt, kpak_b, RFC_ID, "RFC 6507 KAT (community A) under community B's KPAK",
         ["ModifiedParameters"], RFC_MSG, kat, "invalid")
    case(tt, kpak_b, RFC_ID, "honest community-A signature under community B's KPAK",
         ["ModifiedParameters"], b"GMK", alice(b"GMK"), "invalid")

    return _file(
        "ECCSI", "eccsi_p256_sha256_verify_schema_v1.json", b, ECCSI_NOTES,
        [
            "ECCSI (RFC 6507) over NIST P-256 with SHA-256, N = 32; sig = r || s || PVT.",
            "Expected results from the independent reference in tests/vectors/reference with "
            "the PROTOCOL.md §9.1 hardening (r, s in [1, q-1]; PVT 0x04, coordinates < p, on "
            "the curve; exactly 129 octets; J != infinity).",
            "PointDuplication ([HE]G = ±[r]Y) is NOT included: HE = hash(HS || r || M) and HS "
            "covers KPAK and PVT, so forcing it needs a SHA-256 preimage even for the KMS.",
        ],
    )


# ================================================================================================
# SAKKE
# ================================================================================================

SAKKE_NOTES = {
    "KnownAnswer": ("BASIC", "RFC 6508 Appendix A encapsulated data."),
    "Valid": ("BASIC", "Honest encapsulation by the reference with a fixed-seed SSV."),
    "EdgeCase": (
        "EDGE_CASE",
        "All-zero / all-one SSV (valid), H = 0 or 2^128-1 on an honest R (step 5 decides).",
    ),
    "MissingZero": (
        "FUNCTIONALITY",
        "Honest encapsulation whose SSV, w = g^r, H or Rx has a leading 0x00 octet; "
        "must decrypt (g^r is hashed as exactly 128 octets).",
    ),
    "InvalidEncoding": (
        "CAN_OF_WORMS",
        "R prefix other than 0x04, compressed R, or encapsulated data not 273 octets "
        "(R or H one octet short or long, empty, truncated).",
    ),
    "InvalidPublic": ("CAN_OF_WORMS", "R not on E: off the curve or a coordinate >= p."),
    "InvalidCurveAttack": (
        "CONFIDENTIALITY", "R on the quadratic twist y^2 = -(x^3 - 3x) (i.e. (-Rx, Ry))."),
    "SmallOrderPoint": (
        "CONFIDENTIALITY",
        "R of order 2 or 4 (E has cofactor 4; (0,0) has order 2) or R + T of mixed order "
        "2q/4q. The Miller loop meets a vertical tangent or chord; must be a clean reject.",
    ),
    "PointDuplication": (
        "EDGE_CASE",
        "R whose Miller loop hits a doubling where an addition was expected or a vertical "
        "line (small-order component). Must be a clean reject, never an exception or hang.",
    ),
    "WrongPoint": ("AUTH_BYPASS", "A valid point of order q that is not [r]([b]P + Z): P, Z, "
                   "RSK, -R, [2]R."),
    "ModifiedCiphertext": (
        "MALLEABILITY",
        "One bit of H or R flipped (C5): rejected by RFC 6508 §6.2.2 step 5 or by R parsing.",
    ),
    "ModifiedIdentity": (
        "AUTH_BYPASS",
        "Encapsulated for another identity b' (another member, the previous key period); "
        "step 5 fails.",
    ),
    "ModifiedParameters": ("AUTH_BYPASS", "Encapsulated under the Z of another KMS community."),
    "SsvSize": (
        "FUNCTIONALITY",
        "op = encapsulate: SSV of 16 octets is valid (n = 128, the expected enc is given, "
        "SAKKE is deterministic); 0, 15, 17, 32, 33, 48 octets must raise a CryptoError.",
    ),
}


def build_sakke(rng: random.Random, progress: Callable[[str], None]) -> dict[str, Any]:
    b = Builder()
    p = sakke.P
    z_a = sakke.z_pub(RFC_Z)
    rsk_alice = sakke.issue_rsk(RFC_Z, RFC_ID)
    rsk_prev = sakke.issue_rsk(RFC_Z, ID_PREV)
    rsk_bob = sakke.issue_rsk(RFC_Z, ID_BOB)
    z_b_secret = rng.randrange(2, sakke.Q)
    z_b = sakke.z_pub(z_b_secret)
    rsk_alice_b = sakke.issue_rsk(z_b_secret, RFC_ID)

    def enc_for(ssv: bytes, ident: bytes = RFC_ID, zp: bytes = z_a) -> bytes:
        out = sakke.encapsulate(ssv, identity=ident, zp=zp)
        assert out is not None
        return out

    def case(tests: list[Case], ident: bytes, rsk: bytes, zp: bytes, comment: str,
             flags: list[str], data: bytes, intent: str) -> None:
        got = sakke.decapsulate(data, identity=ident, rsk=rsk, zp=zp)
        result = "valid" if got is not None else "invalid"
        if intent != result:
            raise AssertionError(f"SAKKE case {comment!r}: intended {intent}, reference {result}")
        entry: Case = {"comment": comment, "flags": flags, "op": "decapsulate", "enc": data.hex()}
        if got is not None:
            entry["ssv"] = got.hex()
        entry["result"] = result
        b.add(tests, entry)

    def group(ident: bytes, zp: bytes, rsk: bytes, comment: str) -> list[Case]:
        return b.group(type="SakkeDecapsulate", z_pub=zp.hex(), id=ident.hex(),
                       idAscii=ident.decode().replace("\x00", "\\0"), rsk=rsk.hex(),
                       comment=comment)

    t = group(RFC_ID, z_a, rsk_alice, "RFC 6508 Appendix A community (z) and identity")

    def c1(comment: str, flags: list[str], data: bytes, intent: str) -> None:
        case(t, RFC_ID, rsk_alice, z_a, comment, flags, data, intent)

    progress("SAKKE: known answer and honest encapsulations")
    kat = enc_for(RFC_SSV)
    c1("RFC 6508 Appendix A", ["KnownAnswer"], kat, "valid")
    honest = [kat]
    for _ in range(4):
        data = enc_for(rng.randbytes(16))
        honest.append(data)
        c1("honest encapsulation", ["Valid"], data, "valid")
    c1("all-zero SSV", ["EdgeCase"], enc_for(bytes(16)), "valid")
    c1("all-one SSV", ["EdgeCase"], enc_for(b"\xff" * 16), "valid")
    c1("SSV with two leading zero octets", ["MissingZero"], enc_for(bytes(2) + rng.randbytes(14)),
       "valid")

    progress("SAKKE: searching SSVs whose w, H or Rx has a leading zero octet")
    # (Ry is not searched as well: it would double the ~90 ms scalar multiplications.)
    wanted: dict[str, bytes | None] = {"w": None, "H": None, "Rx": None}
    bp_z = sakke._bp_plus_z(RFC_ID, z_a)
    tries = 0
    while any(v is None for v in wanted.values()):
        tries += 1
        ssv = rng.randbytes(16)
        r = sakke.htir(ssv + RFC_ID, sakke.Q)
        w = sakke.pf_pow(sakke._g(), r)
        h0 = ssv[0] ^ sakke.mask(w)[0]
        rx_zero = wanted["Rx"] is None and sakke.encode(sakke.mul(r, bp_z))[1] == 0
        hits = {"w": w < 1 << 1016, "H": h0 == 0, "Rx": rx_zero}
        for k, hit in hits.items():
            if hit and wanted[k] is None:
                wanted[k] = ssv
                data = enc_for(ssv)
                honest.append(data)
                c1(f"honest encapsulation whose {k} has a leading 0x00 octet", ["MissingZero"],
                   data, "valid")
    progress(f"  ({tries} SSVs tried)")

    r0, h0b = kat[:257], kat[257:]
    rx, ry = int.from_bytes(kat[1:129], "big"), int.from_bytes(kat[129:257], "big")

    def with_r(x: int, y: int, h: bytes = h0b, prefix: int = 4) -> bytes:
        return bytes([prefix]) + x.to_bytes(128, "big") + y.to_bytes(128, "big") + h

    progress("SAKKE: encodings and invalid points")
    for prefix in (0x00, 0x02, 0x03, 0x05, 0x06, 0x07, 0xFF):
        c1(f"R prefix 0x{prefix:02x}", ["InvalidEncoding"], bytes([prefix]) + kat[1:], "invalid")
    for comment, data in (
        ("empty", b""),
        ("1 octet (0x04)", b"\x04"),
        ("H only (16 octets)", h0b),
        ("R only (257 octets, H missing)", r0),
        ("H one octet short (272)", kat[:-1]),
        ("H one octet long (274, 0x00 appended)", kat + b"\x00"),
        ("Rx one octet short (272, leading octet of Rx dropped)", kat[:1] + kat[2:]),
        ("Rx one octet long (274, 0x00 before Rx)", kat[:1] + b"\x00" + kat[1:]),
        ("Ry one octet short (272)", kat[:129] + kat[130:]),
        ("H of 32 octets (289)", kat + h0b),
        ("encapsulated data repeated (546)", kat + kat),
        ("compressed R 0x02/0x03 || Rx || H (145)", bytes([2 + (ry & 1)]) + kat[1:129] + h0b),
        ("all-zero 273 octets", bytes(273)),
    ):
        c1(comment, ["InvalidEncoding"], data, "invalid")

    c1("Ry + 1 (off the curve)", ["InvalidPublic"], with_r(rx, (ry + 1) % p), "invalid")
    c1("Rx + 1 (off the curve)", ["InvalidPublic"], with_r((rx + 1) % p, ry), "invalid")
    c1("R = (1, 1) (off the curve)", ["InvalidPublic"], with_r(1, 1), "invalid")
    c1("Ry = 0 with honest Rx", ["InvalidPublic"], with_r(rx, 0), "invalid")
    c1("Rx = p (coordinate >= p)", ["InvalidPublic"], with_r(p, ry), "invalid")
    c1("Rx = 2^1024 - 1", ["InvalidPublic"], with_r(2**1024 - 1, ry), "invalid")
    c1("Ry = 2^1024 - 1", ["InvalidPublic"], with_r(rx, 2**1024 - 1), "invalid")
    # Honest ciphertexts with a coordinate replaced by coordinate + p (same point mod p).
    done = {"x": False, "y": False}
    for data in honest:
        hx, hy = int.from_bytes(data[1:129], "big"), int.from_bytes(data[129:257], "big")
        if not done["x"] and hx + p < 2**1024:
            done["x"] = True
            c1("honest ciphertext with Rx + p (unreduced coordinate >= p)", ["InvalidPublic"],
               with_r(hx + p, hy, data[257:]), "invalid")
        if not done["y"] and hy + p < 2**1024:
            done["y"] = True
            c1("honest ciphertext with Ry + p (unreduced coordinate >= p)", ["InvalidPublic"],
               with_r(hx, hy + p, data[257:]), "invalid")
    assert all(done.values()), "no honest ciphertext with a small coordinate"

    c1("R on the twist: (-Rx, Ry)", ["InvalidCurveAttack"], with_r((-rx) % p, ry), "invalid")
    c1("R on the twist: (-Px, Py)", ["InvalidCurveAttack"],
       with_r((-sakke.G_PT[0]) % p, sakke.G_PT[1]), "invalid")

    # Small-order points. E(F_p) has order 4q; find its 2- and 4-torsion.
    torsion: set[tuple[int, int]] = {(0, 0)}
    for x in range(2, 64):
        y = sakke.sqrt((x * x * x - 3 * x) % p)
        if y is None:
            continue
        t4 = sakke.mul(sakke.Q, (x, y))  # order divides 4
        k = t4
        while k is not None:
            torsion.add(k)
            k = sakke.add(k, t4)
    small = sorted(torsion)
    order = {pt: (2 if sakke.add(pt, pt) is None else 4) for pt in small}
    assert (0, 0) in order and order[(0, 0)] == 2
    for pt in small:
        what = f"R = ({pt[0]:#x}, {pt[1]:#x})" if pt == (0, 0) else (
            f"R of order 4 with {'odd' if pt[1] & 1 else 'even'} y ([2]R = (0, 0))")
        c1(f"{what}, order {order[pt]}", ["SmallOrderPoint", "PointDuplication"], with_r(*pt),
           "invalid")
    r_pt = (rx, ry)
    for pt in small[:3]:
        mixed = sakke.add(r_pt, pt)
        assert mixed is not None
        c1(f"R + T, T of order {order[pt]} (mixed order {order[pt]}q)",
           ["SmallOrderPoint", "PointDuplication"], with_r(*mixed), "invalid")

    for comment, pt in (
        ("R = P", sakke.G_PT),
        ("R = Z", sakke.decode(z_a)),
        ("R = RSK", sakke.decode(rsk_alice)),
        ("R = [b]P + Z (r = 1)", bp_z),
        ("R = -R", (rx, (-ry) % p)),
        ("R = [2]R", sakke.add(r_pt, r_pt)),
    ):
        assert pt is not None
        c1(comment, ["WrongPoint"], with_r(*pt), "invalid")

    progress("SAKKE: H edge cases and bit flips (128 step-5 checks)")
    c1("H = 0 with the KAT R", ["EdgeCase"], r0 + bytes(16), "invalid")
    c1("H = 2^128 - 1 with the KAT R", ["EdgeCase"], r0 + b"\xff" * 16, "invalid")
    for bit in range(128):
        c1(f"H bit {bit} flipped", ["ModifiedCiphertext"], r0 + _flip(h0b, bit), "invalid")
    for bit in (0, 1, 7, 8, 500, 1000, 1023, 1024, 1025, 1500, 2000, 2047, 2048, 2050):
        c1(f"R bit {bit} flipped", ["ModifiedCiphertext"], _flip(r0, bit) + h0b, "invalid")

    progress("SAKKE: identities and communities")
    c1("encapsulated for another member (b')", ["ModifiedIdentity"], enc_for(RFC_SSV, ID_BOB),
       "invalid")
    c1("encapsulated for the previous key period", ["ModifiedIdentity"],
       enc_for(RFC_SSV, ID_PREV), "invalid")
    c1("encapsulated for the ID without its trailing NUL", ["ModifiedIdentity"],
       enc_for(RFC_SSV, ID_NO_NUL), "invalid")
    c1("encapsulated under another community's Z", ["ModifiedParameters"],
       enc_for(RFC_SSV, RFC_ID, z_b), "invalid")

    # SSV sizes (encapsulation op).
    for size in (16, 0, 15, 17, 32, 33, 48):
        ssv = bytes(range(1, size + 1))
        out = sakke.encapsulate(ssv, identity=RFC_ID, zp=z_a)
        result = "valid" if out is not None else "invalid"
        if result != ("valid" if size == 16 else "invalid"):
            raise AssertionError(f"SSV size {size}")
        if out is not None and sakke.decapsulate(out, identity=RFC_ID, rsk=rsk_alice,
                                                 zp=z_a) != ssv:
            raise AssertionError("reference round trip failed")
        b.add(t, {"comment": f"encapsulate a {size}-octet SSV", "flags": ["SsvSize"],
                  "op": "encapsulate", "ssv": ssv.hex(), "enc": out.hex() if out else "",
                  "result": result})

    for ident, rsk, what in ((ID_PREV, rsk_prev, "previous-period ID of the RFC user"),
                             (ID_BOB, rsk_bob, "another member")):
        tt = group(ident, z_a, rsk, what)
        case(tt, ident, rsk, z_a, f"honest encapsulation for the {what}", ["Valid"],
             enc_for(RFC_SSV, ident), "valid")
        case(tt, ident, rsk, z_a, "RFC 6508 KAT (current-period RFC ID) for this receiver",
             ["ModifiedIdentity"], kat, "invalid")
    tt = group(RFC_ID, z_b, rsk_alice_b, "RFC ID in another KMS community (fixed-seed z)")
    case(tt, RFC_ID, rsk_alice_b, z_b, "honest encapsulation in this community", ["Valid"],
         enc_for(RFC_SSV, RFC_ID, z_b), "valid")
    case(tt, RFC_ID, rsk_alice_b, z_b, "RFC 6508 KAT (community A) in community B",
         ["ModifiedParameters"], kat, "invalid")

    return _file(
        "SAKKE", "sakke_ps1_decap_schema_v1.json", b, SAKKE_NOTES,
        [
            "SAKKE (RFC 6508) with RFC 6509 parameter set 1 (p 1024 bits, n = 128, SHA-256); "
            "enc = 0x04 || Rx || Ry || H (273 octets).",
            "Expected results from the independent reference in tests/vectors/reference: strict "
            "parsing, the §3.2 pairing, and the §6.2.2 step 5 check TEST == R.",
            "SSV size policy: exactly 16 octets (the crypto API contract; PROTOCOL.md's 32-octet "
            "case is superseded).",
        ],
    )


# ================================================================================================
# MIKEY-SAKKE I_MESSAGE
# ================================================================================================

MIKEY_NOTES = {
    "KnownAnswer": ("BASIC", "A third-party (Streamwide) I_MESSAGE from ../shared/vectors, as "
                    "published: GMK, CSK, PCK and the legacy SRTP-ID-map GMK."),
    "Valid": ("BASIC", "An I_MESSAGE re-assembled and signed by the reference with the "
              "initiator's own SSK (or built in another community by the reference)."),
    "MissingZero": (
        "FUNCTIONALITY",
        "Honest I_MESSAGE whose signature r or s, or whose SSV, has a leading 0x00 octet: must "
        "be accepted (fixed-width fields, never minimal encodings).",
    ),
    "RangeCheck": ("CAN_OF_WORMS", "SIGN r or s replaced by 0, 1, q-1, q, q+1, p or 2^256-1."),
    "EdgeCase": ("EDGE_CASE", "SAKKE H = 0 or 2^128-1 with the honest R, re-signed by the "
                 "initiator: step 5 rejects."),
    "InvalidEncoding": (
        "CAN_OF_WORMS",
        "Malformed octets (re-signed by the initiator where the signature would otherwise "
        "decide): SAKKE data length != 273 (R or H one octet short or long, empty, lying "
        "length field), R prefix != 0x04, SAKKE parameter set != 1, SIGN S type or length "
        "wrong, PVT prefix != 0x04, octets after SIGN, RAND < 16 octets, unknown or repeated "
        "payload, missing RAND, HDR version/data type/PRF/V wrong, bad CS ID map.",
    ),
    "InvalidPublic": ("CAN_OF_WORMS", "SAKKE R off the curve or with a coordinate >= p, "
                      "re-signed by the initiator."),
    "InvalidCurveAttack": ("CONFIDENTIALITY", "SAKKE R on the quadratic twist, re-signed."),
    "ModifiedCiphertext": (
        "MALLEABILITY",
        "C5: one bit of SAKKE H or R flipped and the message re-signed with the initiator's SSK "
        "(a compromised insider), so SIGN verifies: RFC 6508 §6.2.2 step 5 (or R parsing) "
        "must reject; no related-key SSV.",
    ),
    "ModifiedIdentity": (
        "AUTH_BYPASS",
        "IDRr of another member; SAKKE data for b' != b under a valid signature; IDRi of "
        "another identity signed with the initiator's key, or validly signed by a member "
        "who is not the initiator.",
    ),
    "ModifiedMessage": ("AUTH_BYPASS", "One bit of T, RAND, an IDR, SP, the key-parameters "
                        "extension or the CS ID map flipped without re-signing."),
    "ModifiedParameters": ("AUTH_BYPASS", "A message of community A checked against the KPAK "
                           "and Z (and RSK) of community B."),
    "SsvSize": (
        "FUNCTIONALITY",
        "SAKKE data carrying H of 0, 15, 17, 32, 33 or 48 octets (data length 257 + n, length "
        "field consistent), re-signed: invalid; parameter set 1 fixes n = 128 (16 octets, "
        "the KnownAnswer cases). The 32-octet SSV of ADVERSARIAL.md §4 C4 is superseded by "
        "the 16-octet API contract (see sakke_ps1_decap.json).",
    ),
}


def _shared_vectors() -> dict[str, Any]:
    root = Path(os.environ.get("PROSE_MESH_VECTORS", OUT.parent.parent.parent / "shared" /
                               "vectors"))
    return json.loads((root / "mikey_sakke_i_messages_thirdparty.json").read_text())


def _third_party() -> tuple[dict[str, str], dict[str, dict[str, str]], list[dict[str, Any]]]:
    """(KMS fields, users by URI, messages) of the Streamwide markdown."""
    md = _shared_vectors()["markdown"]
    kms: dict[str, str] = {}
    users: dict[str, dict[str, str]] = {}
    msgs: list[dict[str, Any]] = []
    for sec in re.split(r"\n(?=\* KMS |### )", md):
        fields = dict(re.findall(r"\*\s+([\w -]+?)\s*:\s*(\S+(?: \S+)?)", sec))
        if "KMS Init" in sec.splitlines()[0]:
            kms = fields
        elif sec.startswith("* KMS KeyProv"):
            users[fields["UserUri"]] = fields
        elif sec.startswith("### Test"):
            kind = re.search(r"### Test \d: (\w+)", sec).group(1)  # type: ignore[union-attr]
            raw = re.search(r"I-MESSAGE\s*:\s*mikey (\S+)", sec).group(1)  # type: ignore[union-attr]
            msgs.append({"name": sec.splitlines()[0][4:], "key": bytes.fromhex(fields[kind]),
                         "initiator": fields["Initiator URI"],
                         "responder": fields["Responder URI"], "raw": base64.b64decode(raw)})
    return kms, users, msgs


def build_mikey(rng: random.Random, progress: Callable[[str], None]) -> dict[str, Any]:
    b = Builder()
    kms, users, msgs = _third_party()
    kpak, zp = bytes.fromhex(kms["PubAuthKey"]), bytes.fromhex(kms["PubEncKey"])
    q, p = p256.Q, p256.P

    def user(uri: str) -> tuple[bytes, int, bytes, bytes]:
        u = users[uri]
        return (bytes.fromhex(u["UserID"]), int(u["UserSigningKeySSK"], 16),
                bytes.fromhex(u["UserPubTokenPVT"]), bytes.fromhex(u["UserDecryptKey"]))

    def group(initiator: str, recipient: str, comment: str, k: bytes = kpak, z: bytes = zp,
              rsk: bytes | None = None) -> tuple[list[Case], Callable[..., None]]:
        i_uid, r_uid, r_rsk = user(initiator)[0], user(recipient)[0], user(recipient)[3]
        rsk = rsk or r_rsk
        tests = b.group(type="MikeySakkeIMessage", kpak=k.hex(), z_pub=z.hex(),
                        initiatorUri=initiator, initiatorId=i_uid.hex(), recipientUri=recipient,
                        recipientId=r_uid.hex(), rsk=rsk.hex(), comment=comment)

        def case(comment: str, flags: list[str], data: bytes, intent: str) -> None:
            got = mikey.accept(data, initiator=i_uid, recipient=r_uid, kpak=k, zp=z, rsk=rsk)
            result = "valid" if got is not None else "invalid"
            if intent != result:
                raise AssertionError(f"MIKEY case {comment!r}: intended {intent}, "
                                     f"reference {result}")
            entry: Case = {"comment": comment, "flags": flags, "imessage": data.hex()}
            if got is not None:
                entry["ssv"] = got.hex()
            entry["result"] = result
            b.add(tests, entry)

        return tests, case

    def signer(uri: str, ksak_kpak: bytes = kpak) -> Callable[[bytes], bytes]:
        uid, ssk, pvt, _ = user(uri)

        def sign(tbs: bytes) -> bytes:
            while True:
                sig = eccsi.sign(tbs, identity=uid, ssk=ssk, pvt=pvt, kpak=ksak_kpak,
                                 j=rng.randrange(1, q))
                if sig is not None:
                    return sig
        return sign

    progress("MIKEY: known answers")
    for m in msgs:
        _t, c = group(m["initiator"], m["responder"], f"third-party {m['name']}")
        c(f"{m['name']} as published", ["KnownAnswer"], m["raw"], "valid")

    gms, alice, bob = "gms@streamwide.com", "sip:alice@streamwide.com", "sip:bob@streamwide.com"
    base = next(m for m in msgs if m["name"].startswith("Test 1"))
    raw = base["raw"]
    hdr, pls = mikey.split(raw)
    sign_gms = signer(gms)
    _t, c1 = group(gms, alice, "third-party GMK I_MESSAGE (Test 1) from the GMS to Alice")

    def build(h: bytes, payloads: list[tuple[int, bytes]], sign: Callable[[bytes], bytes]
              = sign_gms) -> bytes:
        tbs = mikey.chain(h, payloads)
        return tbs + sign(tbs)

    def with_pl(pt: int, body: bytes, nth: int = 0) -> list[tuple[int, bytes]]:
        out, seen = [], 0
        for t_, bd in pls:
            if t_ == pt and seen == nth:
                out.append((t_, body))
            else:
                out.append((t_, bd))
            seen += t_ == pt
        return out

    def body(pt: int, nth: int = 0) -> bytes:
        return [bd for t_, bd in pls if t_ == pt][nth]

    sk = body(26)
    sk_head, enc = sk[:4], sk[4:]  # params, ID scheme, 16-bit length | SAKKE data

    def with_enc(data: bytes, length: int | None = None, head: bytes = sk_head[:2]) -> bytes:
        n = len(data) if length is None else length
        return build(hdr, with_pl(26, head + n.to_bytes(2, "big") + data))

    c1("re-assembled and re-signed by the GMS", ["Valid"], build(hdr, pls), "valid")

    progress("MIKEY: leading zeros")
    found = {"r": 0, "s": 0}
    while found["r"] < 2 or found["s"] < 2:
        data = build(hdr, pls)
        sig = data[-129:]
        for name, off in (("r", 0), ("s", 32)):
            if sig[off] == 0 and found[name] < 2:
                found[name] += 1
                c1(f"re-signed, SIGN {name} has a leading 0x00 octet", ["MissingZero"], data,
                   "valid")
    a_uid = user(alice)[0]
    for ssv in (bytes(2) + rng.randbytes(14), bytes(1) + rng.randbytes(15)):
        new = sakke.encapsulate(ssv, identity=a_uid, zp=zp)
        assert new is not None
        c1(f"new SSV with {16 - len(ssv.lstrip(bytes(1)))} leading 0x00 octet(s), re-signed",
           ["MissingZero"], with_enc(new), "valid")

    progress("MIKEY: signature ranges and encodings")
    sig0, tbs0 = raw[-129:], raw[:-129]
    edges = [("0", 0), ("1", 1), ("q-1", q - 1), ("q", q), ("q+1", q + 1), ("p", p),
             ("2^256-1", 2**256 - 1)]
    for name, val in edges:
        c1(f"SIGN r = {name}", ["RangeCheck"], tbs0 + _i32(val) + sig0[32:], "invalid")
    for name, val in edges:
        c1(f"SIGN s = {name}", ["RangeCheck"], tbs0 + sig0[:32] + _i32(val) + sig0[64:],
           "invalid")
    for prefix in (0x00, 0x02, 0x03, 0x05):
        c1(f"SIGN PVT prefix 0x{prefix:02x}", ["InvalidEncoding"],
           tbs0 + sig0[:64] + bytes([prefix]) + sig0[65:], "invalid")
    st = tbs0[-2:]
    for comment, data in (
        ("SIGN length 128 (4N), last octet dropped", tbs0[:-2] + bytes([st[0], 128]) + sig0[:-1]),
        ("SIGN length 130 (4N+2), 0x00 appended", tbs0[:-2] + bytes([st[0], 130]) + sig0 + b"\0"),
        ("SIGN S type 1", tbs0[:-2] + bytes([0x10 | (st[0] & 0x0F), st[1]]) + sig0),
        ("one octet after SIGN", raw + b"\x00"),
        ("message truncated by one octet", raw[:-1]),
    ):
        c1(comment, ["InvalidEncoding"], data, "invalid")

    progress("MIKEY: SAKKE data encodings (re-signed)")
    r0, h0 = enc[:257], enc[257:]
    rx, ry = int.from_bytes(enc[1:129], "big"), int.from_bytes(enc[129:257], "big")
    for comment, data in (
        ("SAKKE data 272 octets: H one octet short", enc[:-1]),
        ("SAKKE data 274 octets: H one octet long", enc + b"\x00"),
        ("SAKKE data 272 octets: Rx one octet short", enc[:1] + enc[2:]),
        ("SAKKE data 274 octets: Ry one octet long", enc[:129] + b"\x00" + enc[129:]),
        ("SAKKE data empty", b""),
    ):
        c1(comment, ["InvalidEncoding"], with_enc(data), "invalid")
    c1("SAKKE length field 272 over 273 octets (lying length)", ["InvalidEncoding"],
       with_enc(enc, 272), "invalid")
    c1("SAKKE length field 274 over 273 octets (lying length)", ["InvalidEncoding"],
       with_enc(enc, 274), "invalid")
    c1("SAKKE parameter set 2", ["InvalidEncoding"], with_enc(enc, head=b"\x02" + sk_head[1:2]),
       "invalid")
    for prefix in (0x00, 0x02, 0x03, 0x05):
        c1(f"SAKKE R prefix 0x{prefix:02x}", ["InvalidEncoding"],
           with_enc(bytes([prefix]) + enc[1:]), "invalid")
    for n in (0, 15, 17, 32, 33, 48):
        c1(f"SAKKE H of {n} octets (data length {257 + n})", ["SsvSize"],
           with_enc(r0 + (h0 * 3)[:n]), "invalid")

    def with_r(x: int, y: int) -> bytes:
        return with_enc(b"\x04" + x.to_bytes(128, "big") + y.to_bytes(128, "big") + h0)

    c1("SAKKE R off the curve (Ry + 1)", ["InvalidPublic"], with_r(rx, (ry + 1) % sakke.P),
       "invalid")
    c1("SAKKE Rx + p (unreduced)", ["InvalidPublic"], with_r(rx + sakke.P, ry)
       if rx + sakke.P < 2**1024 else with_r(sakke.P, ry), "invalid")
    c1("SAKKE Ry = 2^1024 - 1", ["InvalidPublic"], with_r(rx, 2**1024 - 1), "invalid")
    c1("SAKKE R on the twist (-Rx, Ry)", ["InvalidCurveAttack"], with_r((-rx) % sakke.P, ry),
       "invalid")
    c1("SAKKE H = 0", ["EdgeCase"], with_enc(r0 + bytes(16)), "invalid")
    c1("SAKKE H = 2^128 - 1", ["EdgeCase"], with_enc(r0 + b"\xff" * 16), "invalid")

    progress("MIKEY: C5 bit flips of H and R under a valid signature (step 5)")
    for bit in (0, 1, 7, 8, 31, 64, 100, 127):
        c1(f"SAKKE H bit {bit} flipped, re-signed by the GMS", ["ModifiedCiphertext"],
           with_enc(r0 + _flip(h0, bit)), "invalid")
    for bit in (0, 1, 8, 1000, 1023, 1024, 1025, 2047, 2048, 2050):
        c1(f"SAKKE R bit {bit} flipped, re-signed by the GMS", ["ModifiedCiphertext"],
           with_enc(_flip(r0, bit) + h0), "invalid")

    progress("MIKEY: chain and header (re-signed)")
    t_body, rand_body = body(5), body(11)
    idx_rand = [t_ for t_, _ in pls].index(11)
    no_rand = [x for i, x in enumerate(pls) if i != idx_rand]
    for comment, h, payloads in (
        ("RAND of 15 octets", hdr, with_pl(11, bytes([15]) + rand_body[1:16])),
        ("RAND payload removed", hdr, no_rand),
        ("T payload repeated", hdr, [(5, t_body), *pls]),
        ("unknown payload type 9 (V) inserted after T", hdr, [pls[0], (9, b"\x00" * 20), *pls[1:]]),
        ("HDR version 2", b"\x02" + hdr[1:], pls),
        ("HDR data type 27 (CS ID map update)", hdr[:1] + b"\x1b" + hdr[2:], pls),
        ("HDR data type 0 (pre-shared key)", hdr[:1] + b"\x00" + hdr[2:], pls),
        ("HDR PRF 0 (MIKEY-1)", hdr[:3] + b"\x00" + hdr[4:], pls),
        ("HDR V bit set", hdr[:3] + b"\x81" + hdr[4:], pls),
        ("HDR CS ID map type 3", hdr[:9] + b"\x03" + hdr[10:], pls),
        ("HDR empty CS ID map with #CS = 1", hdr[:8] + b"\x01\x01", pls),
    ):
        c1(comment, ["InvalidEncoding"], build(h, payloads), "invalid")

    progress("MIKEY: identities")
    b_uid = user(bob)[0]
    idrs = [i for i, (t_, _) in enumerate(pls) if t_ == 14]
    roles = {pls[i][1][0]: i for i in idrs}

    def with_idr(role: int, uid: bytes) -> list[tuple[int, bytes]]:
        out = list(pls)
        old = out[roles[role]][1]
        out[roles[role]] = (14, old[:2] + len(uid).to_bytes(2, "big") + uid)
        return out

    c1("IDRr (role 9) = Bob, re-signed by the GMS", ["ModifiedIdentity"],
       build(hdr, with_idr(9, b_uid)), "invalid")
    c1("IDRi (role 8) = Alice, signed with the GMS key", ["ModifiedIdentity"],
       build(hdr, with_idr(8, a_uid)), "invalid")
    c1("IDRi (role 8) = Alice, validly signed by Alice (not the initiator)", ["ModifiedIdentity"],
       build(hdr, with_idr(8, a_uid), signer(alice)), "invalid")
    for_bob = sakke.encapsulate(base["key"], identity=b_uid, zp=zp)
    assert for_bob is not None
    c1("SAKKE data encapsulated for Bob (b' != b), re-signed by the GMS", ["ModifiedIdentity"],
       with_enc(for_bob), "invalid")
    near = a_uid[:-1] + bytes([a_uid[-1] ^ 1])
    for_near = sakke.encapsulate(base["key"], identity=near, zp=zp)
    assert for_near is not None
    c1("SAKKE data for Alice's UID with its last bit flipped, re-signed", ["ModifiedIdentity"],
       with_enc(for_near), "invalid")

    progress("MIKEY: bit flips without re-signing")
    offsets = {"CS ID map SPI": 10 + 6}
    at = len(hdr)
    for t_, bd in pls:
        name = {5: "T", 11: "RAND", 14: "IDR", 10: "SP", 21: "key-parameters extension"}.get(t_)
        if name and name not in offsets:
            offsets[name] = at + 1 + len(bd) - 1  # the payload's last octet
        at += 1 + len(bd)
    for name, off in offsets.items():
        buf = bytearray(raw)
        buf[off] ^= 0x01
        c1(f"{name}: last octet's low bit flipped, not re-signed", ["ModifiedMessage"],
           bytes(buf), "invalid")

    progress("MIKEY: another community")
    ksak_b = rng.randrange(1, q)
    kpak_b = eccsi.kpak_from_ksak(ksak_b)
    z_b_secret = rng.randrange(2, sakke.Q)
    z_b = sakke.z_pub(z_b_secret)
    g_uid = user(gms)[0]
    rsk_b = sakke.issue_rsk(z_b_secret, a_uid)
    _t, cb = group(gms, alice, "community B (fixed-seed KSAK and z) with the same UIDs", kpak_b,
                   z_b, rsk_b)
    cb("third-party GMK I_MESSAGE (community A) under community B", ["ModifiedParameters"], raw,
       "invalid")
    ssk_b, pvt_b = eccsi.issue(ksak_b, g_uid, rng.randrange(1, q))
    enc_b = sakke.encapsulate(base["key"], identity=a_uid, zp=z_b)
    assert enc_b is not None
    pls_b = [(t_, sk_head + enc_b if t_ == 26 else bd) for t_, bd in pls]
    tbs_b = mikey.chain(hdr, pls_b)
    sig_b = None
    while sig_b is None:
        sig_b = eccsi.sign(tbs_b, identity=g_uid, ssk=ssk_b, pvt=pvt_b, kpak=kpak_b,
                           j=rng.randrange(1, q))
    cb("GMK I_MESSAGE built and signed in community B", ["Valid"], tbs_b + sig_b, "valid")
    cb("community-A signature over community-B content", ["ModifiedParameters"],
       tbs_b + raw[-129:], "invalid")

    return _file(
        "MIKEY-SAKKE", "mikey_sakke_imessage_schema_v1.json", b, MIKEY_NOTES,
        [
            "MIKEY-SAKKE I_MESSAGEs (RFC 3830, RFC 6043, RFC 6509; TS 33.180 Annex E) built "
            "around the third-party Streamwide vectors in ../shared/vectors.",
            "valid = strictly well-formed I_MESSAGE (HDR v1, data type 26, PRF 1, V 0; SIGN "
            "ECCSI 129 octets last), IDR role 8 = initiatorId, role 9 = recipientId, ECCSI "
            "verifies (RFC 6507 + PROTOCOL.md §9.1) and SAKKE decapsulates with step 5 "
            "(ssv given). Decided by tests/vectors/reference/mikey.py.",
            "Re-signed cases use the initiator's published SSK, i.e. a compromised insider: "
            "the signature verifies, so only the checks after SIGN can reject (C5).",
        ],
    )


def _file(algorithm: str, schema: str, b: Builder, notes: dict[str, tuple[str, str]],
          header: list[str]) -> dict[str, Any]:
    used = {f for g in b.groups for tc in g["tests"] for f in tc["flags"]}
    return {
        "algorithm": algorithm,
        "schema": schema,
        "generatorVersion": GENERATOR_VERSION,
        "numberOfTests": b.count,
        "header": header,
        "notes": {k: {"bugType": v[0], "description": v[1]} for k, v in notes.items()
                  if k in used},
        "testGroups": b.groups,
    }


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=True) + "\n"


def generate(progress: Callable[[str], None] = lambda _m: None,
             only: str | None = None) -> dict[str, str]:
    """Return {file name: JSON text}. Deterministic. ``only="eccsi_sakke"`` or ``"mikey"``
    builds one of the two independent streams (the ECCSI and SAKKE files share one random
    generator, the MIKEY file has its own), so a test can check them in parallel."""
    out: dict[str, str] = {}
    if only in (None, "eccsi_sakke"):
        rng = random.Random(SEED)
        progress("ECCSI")
        out["eccsi_p256_sha256_verify.json"] = render(build_eccsi(rng))
        out["sakke_ps1_decap.json"] = render(build_sakke(rng, progress))
    if only in (None, "mikey"):
        # Its own generator: adding the MIKEY file leaves the other two byte-identical.
        out["mikey_sakke_imessage.json"] = render(build_mikey(random.Random(SEED + 3830),
                                                               progress))
    return out


def main() -> int:
    for name, text in generate(lambda m: print(m, file=sys.stderr)).items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
