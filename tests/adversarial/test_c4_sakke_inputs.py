"""C4: malformed SAKKE R / H / SSV size, under the GMS's valid signature (ADVERSARIAL §4).

Each mutated SAKKE payload is re-signed with the GMS key, so ECCSI passes and only the SAKKE
checks can reject: a wrong data length at parse (``MALFORMED``, before any crypto), a bad R
(prefix, off the curve, coordinate >= p, twist) or H at decapsulation (``BAD_SAKKE``). SSV sizes
at the API: 16 octets encapsulate and decrypt; 0/15/17/32/33/48 raise a CryptoError (the
16-octet contract supersedes the 32-octet case, see tests/vectors/sakke_ps1_decap.json).
"""

from __future__ import annotations

import os

import pytest
from vectors.imessage_kit import NOW, feed, parts, signer_of, world

from prose_mesh.crypto.sakke import sakke_decapsulate, sakke_encapsulate
from prose_mesh.crypto.sakke_params import p as SAKKE_P
from prose_mesh.errors import CryptoError

P = int(SAKKE_P)


@pytest.fixture(scope="module")
def base():
    w = world()
    return w, parts(w), signer_of(w.km("gms"))


def _r(x: int, y: int, h: bytes) -> bytes:
    return b"\x04" + x.to_bytes(128, "big") + y.to_bytes(128, "big") + h


def test_bad_r_and_h_rejected_after_a_valid_signature(base):
    w, pp, sign = base
    enc = pp.sakke_data
    rx, ry, h = int.from_bytes(enc[1:129], "big"), int.from_bytes(enc[129:257], "big"), enc[257:]
    cases = {
        "R prefix 0x00": b"\x00" + enc[1:],
        "R prefix 0x02": b"\x02" + enc[1:],
        "R prefix 0x03": b"\x03" + enc[1:],
        "R prefix 0x05": b"\x05" + enc[1:],
        "R off the curve": _r(rx, (ry + 1) % P, h),
        "Rx >= p": _r(P, ry, h),
        "Ry = 2^1024-1": _r(rx, 2**1024 - 1, h),
        "R on the twist": _r((-rx) % P, ry, h),
        "R = (0, 0), order 2": _r(0, 0, h),
        "all-zero data": bytes(273),
        "H = 0": enc[:257] + bytes(16),
        "H = 2^128-1": enc[:257] + b"\xff" * 16,
    }
    got = {}
    for name, data in cases.items():
        m = w.member()
        got[name] = feed(m, pp.with_sakke(data).sign(sign))
        assert m.crypto_ops["eccsi_verify"] == 1  # the signature was good
        assert m.current(w.group.group_id, NOW) is None
    assert set(got.values()) == {"BAD_SAKKE"}, got


@pytest.mark.parametrize("cut", ["H-1", "H+1", "R-1", "R+1", "empty", "H of 32"])
def test_wrong_sakke_length_rejected_at_parse(base, cut):
    w, pp, sign = base
    enc = pp.sakke_data
    data = {"H-1": enc[:-1], "H+1": enc + b"\x00", "R-1": enc[:1] + enc[2:],
            "R+1": enc[:129] + b"\x00" + enc[129:], "empty": b"", "H of 32": enc + enc[257:]}[cut]
    m = w.member()
    assert feed(m, pp.with_sakke(data).sign(sign)) == "MALFORMED"
    assert m.crypto_ops == {}


@pytest.mark.parametrize("size", [0, 15, 16, 17, 32, 33, 48])
def test_ssv_sizes(size):
    w = world()
    r = w.km("alice")
    ssv = os.urandom(size)
    if size != 16:
        with pytest.raises(CryptoError):
            sakke_encapsulate(ssv, identity=r.uid, z_pub=r.z_pub)
        return
    enc = sakke_encapsulate(ssv, identity=r.uid, z_pub=r.z_pub)
    assert sakke_decapsulate(enc, identity=r.uid, rsk=r.rsk, z_pub=r.z_pub) == ssv


def test_honest_leading_zero_gmk_installs():
    w = world()
    gmk = bytes(3) + os.urandom(13)
    pp = parts(w, gmk=gmk)
    m = w.member()
    assert feed(m, pp.sign(signer_of(w.km("gms")))) == "ACCEPTED"
    assert m.current(w.group.group_id, NOW).key == gmk
