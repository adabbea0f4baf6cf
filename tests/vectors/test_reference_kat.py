"""The independent reference reproduces RFC 6507 / RFC 6508 Appendix A (PROTOCOL.md §10).

Expected values come only from ../shared/vectors (transcribed from the RFCs), never from code.
"""

from __future__ import annotations

import pytest
from support import load_vector

from .reference import eccsi, p256, sakke


def _h(v: str) -> bytes:
    return bytes.fromhex(v)


def _i(v: str) -> int:
    return int(v, 16)


@pytest.fixture(scope="module")
def e() -> dict:
    return load_vector("rfc6507_eccsi.json")


@pytest.fixture(scope="module")
def s() -> dict:
    return load_vector("rfc6508_sakke_param_set_1.json")


def test_p256_domain(e):
    assert _i(e["p"]) == p256.P and _i(e["b"]) == p256.B and _i(e["q"]) == p256.Q
    assert p256.encode(p256.G) == _h(e["G"])
    assert p256.on_curve(p256.G) and p256.mul(p256.Q, p256.G) is None


def test_eccsi_kms_and_ssk(e):
    assert eccsi.kpak_from_ksak(_i(e["KSAK"])) == _h(e["KPAK"])
    ssk, pvt = eccsi.issue(_i(e["KSAK"]), _h(e["ID"]), _i(e["v"]))
    assert pvt == _h(e["PVT"])
    assert ssk == _i(e["SSK"])
    assert eccsi.hs(_h(e["ID"]), pvt, _h(e["KPAK"])) == _i(e["HS"])


def test_eccsi_sign_and_verify(e):
    msg, ident, kpak = _h(e["M"]), _h(e["ID"]), _h(e["KPAK"])
    ssk, pvt = _i(e["SSK"]), _h(e["PVT"])
    sig = eccsi.sign(msg, identity=ident, ssk=ssk, pvt=pvt, kpak=kpak, j=_i(e["j"]))
    assert sig == _h(e["Sig"])
    assert sig[:32] == _h(e["r"]) and sig[32:64] == _h(e["s"])
    assert eccsi.verify(msg, sig, identity=ident, kpak=kpak)
    # The oracle must be able to say no: another message, and s replaced by s + 1.
    assert not eccsi.verify(msg + b"x", sig, identity=ident, kpak=kpak)
    bad = sig[:32] + ((_i(e["s"]) + 1).to_bytes(32, "big")) + sig[64:]
    assert not eccsi.verify(msg, bad, identity=ident, kpak=kpak)


def test_eccsi_y_point(e):
    hs = _i(e["HS"])
    y = p256.add(p256.mul(hs, p256.decode(_h(e["PVT"]))), p256.decode(_h(e["KPAK"])))
    assert y == (_i(e["Y_x"]), _i(e["Y_y"]))


def test_sakke_domain(s):
    assert _i(s["p"]) == sakke.P and _i(s["q"]) == sakke.Q
    assert (_i(s["Px"]), _i(s["Py"])) == sakke.G_PT
    assert sakke.on_curve(sakke.G_PT)
    assert sakke.mul(sakke.Q, sakke.G_PT) is None  # P has order q


def test_sakke_jacobian_mul_matches_affine_add(s):
    """mul() uses Jacobian coordinates for speed; check it against repeated affine add()."""
    acc = None
    for k in range(1, 9):
        acc = sakke.add(acc, sakke.G_PT)
        assert sakke.mul(k, sakke.G_PT) == acc
    assert sakke.mul(sakke.Q + 3, sakke.G_PT) == sakke.mul(3, sakke.G_PT)
    assert sakke.mul(2, (0, 0)) is None  # (0, 0) has order 2


def test_hash_to_integer_range(s):
    ident, ssv = _h(s["ID_b"]), _h(s["SSV"])
    assert sakke.htir(ssv + ident, sakke.Q) == _i(s["r"])
    assert sakke.mask(_i(s["g_r"])) == _h(s["mask"])


def test_sakke_keys(s):
    z, ident = _i(s["z"]), _h(s["ID_b"])
    assert sakke.z_pub(z) == _h(s["Z"])
    assert sakke.issue_rsk(z, ident) == _h(s["RSK"])
    assert sakke.encode(sakke._bp_plus_z(ident, _h(s["Z"]))) == _h(s["bP_plus_Z"])


def test_pairing_g_and_symmetry(s):
    assert sakke.g_value() == _i(s["g"])
    rsk = sakke.decode(_h(s["RSK"]))
    r_pt = sakke.decode(_h(s["R_bS"]))
    w = sakke.pairing(r_pt, rsk)
    assert w == _i(s["w"])
    assert sakke.pairing(rsk, r_pt) == w  # the pairing is symmetric on E[q]
    assert sakke.pf_pow(_i(s["g"]), _i(s["r"])) == _i(s["g_r"])


def test_sakke_encapsulate_decapsulate(s):
    ident, zp, rsk = _h(s["ID_b"]), _h(s["Z"]), _h(s["RSK"])
    enc = sakke.encapsulate(_h(s["SSV"]), identity=ident, zp=zp)
    assert enc == _h(s["encapsulated_data_RFC6509"])
    assert enc[:257] == _h(s["R_bS"]) and enc[257:] == _h(s["H"])
    assert sakke.decapsulate(enc, identity=ident, rsk=rsk, zp=zp) == _h(s["SSV"])
    # Step 5 must fail for a flipped H bit and for another identity.
    flipped = enc[:-1] + bytes([enc[-1] ^ 1])
    assert sakke.decapsulate(flipped, identity=ident, rsk=rsk, zp=zp) is None
    other = b"2011-02\x00tel:+447700900124\x00"
    assert sakke.decapsulate(enc, identity=other, rsk=rsk, zp=zp) is None
