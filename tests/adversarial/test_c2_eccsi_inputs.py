"""C2: ECCSI range, encoding and invalid-PVT inputs through the real GMK receiver (ADVERSARIAL §4).

The vector-level agreement (every ``eccsi_p256_sha256_verify.json`` case, 100 %) is
tests/vectors/test_wycheproof.py; here the same classes of bad signature ride inside a real GMK
I_MESSAGE to :class:`GmkMember`, which must reject each with a named reason and install
nothing, while honest signatures whose r or s starts with 0x00 are **accepted**.
"""

from __future__ import annotations

import os

import pytest
from vectors.imessage_kit import NOW, feed, other_world, parts, signer_of, world

from prose_mesh.crypto.p256 import B as CURVE_B
from prose_mesh.crypto.p256 import P, Q
from prose_mesh.wire import mikey_codec as mc


def _i32(v: int) -> bytes:
    return v.to_bytes(32, "big")


@pytest.fixture(scope="module")
def honest():
    w = world()
    pp = parts(w)
    return w, pp, pp.sign(signer_of(w.km("gms")))


def _bad_signatures(sig: bytes) -> list[tuple[str, bytes]]:
    r, s, pvt = sig[:32], sig[32:64], sig[64:]
    x, y = int.from_bytes(pvt[1:33], "big"), int.from_bytes(pvt[33:], "big")
    out = []
    for name, v in (("0", 0), ("1", 1), ("q-1", Q - 1), ("q", Q), ("q+1", Q + 1), ("p", P),
                    ("2^256-1", 2**256 - 1)):
        out.append((f"r={name}", _i32(v) + s + pvt))
        out.append((f"s={name}", r + _i32(v) + pvt))
    for prefix in (0x00, 0x02, 0x03, 0x05):
        out.append((f"PVT prefix {prefix:#04x}", r + s + bytes([prefix]) + pvt[1:]))
    tx = x
    while True:  # a point of the quadratic twist by -1 (p ≡ 3 mod 4): -y^2 = x^3 - 3x + b
        rhs = (tx**3 - 3 * tx + CURVE_B) % P
        if pow(rhs, (P - 1) // 2, P) == P - 1:
            ty = pow((-rhs) % P, (P + 1) // 4, P)
            break
        tx += 1
    for name, (px, py) in (("off the curve (y+1)", (x, (y + 1) % P)), ("on the twist", (tx, ty)),
                           ("x >= p", (x + P if x + P < 2**256 else P, y)), ("y = p", (x, P)),
                           ("0,0", (0, 0))):
        out.append((f"PVT {name}", r + s + b"\x04" + _i32(px) + _i32(py)))
    out.append(("r bit flipped", bytes([r[0] ^ 0x80]) + r[1:] + s + pvt))
    return out


def test_bad_signature_values_rejected_bad_sig(honest):
    w, _pp, msg = honest
    sig = msg[-129:]
    assert feed(w.member(), msg) == "ACCEPTED"
    seen = {}
    for name, bad in _bad_signatures(sig):
        m = w.member()
        seen[name] = feed(m, msg[:-129] + bad)
        assert m.accepted == 0 and m.current(w.group.group_id, NOW) is None
    assert set(seen.values()) == {"BAD_SIG"}, seen
    assert len(seen) == 24


@pytest.mark.parametrize("length", [128, 130])
def test_signature_length_4n_and_4n_plus_2_rejected_at_parse(honest, length):
    w, _pp, msg = honest
    tbs, sig = msg[:-129], msg[-129:]
    body = sig[:length] if length < 129 else sig + b"\x00"
    data = tbs[:-2] + ((2 << 12) | length).to_bytes(2, "big") + body
    m = w.member()
    assert feed(m, data) == "MALFORMED"
    assert m.crypto_ops == {}  # refused before any crypto


def test_wrong_kpak_identity_or_period_rejected(honest):
    w, pp, _msg = honest
    o = other_world()
    cases = {
        "member's key, IDRi = GMS": signer_of(w.km("bob")),
        "GMS of another community": signer_of(o.km("gms")),
        "GMS previous-period key": signer_of(w.km("gms", w.period_no - 1)),
    }
    for name, sign in cases.items():
        m = w.member()
        assert feed(m, pp.with_rand(os.urandom(16)).sign(sign)) == "BAD_SIG", name
        assert m.crypto_ops == {"eccsi_verify": 1}  # SAKKE never reached


def test_honest_leading_zero_r_and_s_are_accepted():
    """MissingZero: r and s are always 32 octets; a leading 0x00 is an honest signature."""
    w = world()
    base = parts(w)
    sign = signer_of(w.km("gms"))
    found: dict[str, bytes] = {}
    for _ in range(20_000):
        data = base.with_rand(os.urandom(16)).sign(sign)
        sig = data[-129:]
        for name, off in (("r", 0), ("s", 32)):
            if sig[off] == 0 and name not in found:
                found[name] = data
        if len(found) == 2:
            break
    assert found.keys() == {"r", "s"}
    for data in found.values():
        assert feed(w.member(), data) == "ACCEPTED"
        assert mc.parse_i_message(data).signature[:64].count(0) >= 1
