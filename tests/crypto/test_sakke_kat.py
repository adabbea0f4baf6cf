"""RFC 6508 Appendix A known answers (parameter set 1) and the §9.2 receiver checks."""

from __future__ import annotations

import pytest
from support import load_vector

from prose_mesh.crypto import sakke, sakke_params
from prose_mesh.crypto._util import i2osp, os2ip
from prose_mesh.crypto.pairing import MillerLines, tate_pairing
from prose_mesh.crypto.sakke_params import CURVE, P, p, q
from prose_mesh.errors import CryptoError, DecapsulationError, InvalidKey

V = load_vector("rfc6508_sakke_param_set_1.json")
H = bytes.fromhex
ID = H(V["ID_b"])
Z = H(V["Z"])
RSK = H(V["RSK"])
SSV = H(V["SSV"])
ENC = H(V["encapsulated_data_RFC6509"])


def _pt(data):
    return (os2ip(data[1:129]), os2ip(data[129:257]))


def test_parameters():
    assert int(V["p"], 16) == p and int(V["q"], 16) == q and (p + 1) // 4 == q
    assert (int(V["Px"], 16), int(V["Py"], 16)) == P


def test_g_is_pairing_of_p_with_itself():
    assert tate_pairing(P, P) == int(V["g"], 16)


def test_kms_known_answers():
    assert sakke.sakke_make_z(H(V["z"])) == Z
    assert sakke.sakke_extract_rsk(identity=ID, z=H(V["z"])) == RSK
    sakke.validate_rsk(identity=ID, rsk=RSK, z_pub=Z)


def test_sender_intermediates():
    r = sakke.hash_to_integer_range(SSV + ID, q)
    assert r == int(V["r"], 16)
    bpz = CURVE.add(CURVE.mul(os2ip(ID), P), _pt(Z))
    assert bpz == _pt(H(V["bP_plus_Z"]))
    assert CURVE.mul(r, bpz) == _pt(H(V["R_bS"]))
    a, b = sakke_params.g_table().pow(r)
    gr = sakke_params.pf_rep(a, b)
    assert gr == int(V["g_r"], 16)
    mask = sakke.hash_to_integer_range(i2osp(gr, 128), 2**128)
    assert mask == int(V["mask"], 16)
    assert i2osp(int(V["mask"], 16) ^ os2ip(SSV), 16) == H(V["H"])


def test_encapsulate_known_answer():
    assert sakke.sakke_encapsulate(SSV, identity=ID, z_pub=Z) == ENC
    sakke.precompute_identity(identity=ID, z_pub=Z)  # with the identity table: same answer
    assert sakke.sakke_encapsulate(SSV, identity=ID, z_pub=Z) == ENC


def test_receiver_known_answer():
    w = MillerLines(_pt(RSK)).pairing(_pt(ENC[:257]))
    assert w == int(V["w"], 16) == int(V["g_r"], 16)
    assert tate_pairing(_pt(ENC[:257]), _pt(RSK)) == w  # symmetric
    assert sakke.sakke_decapsulate(ENC, identity=ID, rsk=RSK, z_pub=Z) == SSV
    assert sakke._decapsulate_no_tables(ENC, identity=ID, rsk=RSK, z_pub=Z) == SSV


def _decap(data, identity=ID, rsk=RSK, z=Z):
    return sakke.sakke_decapsulate(data, identity=identity, rsk=rsk, z_pub=z)


@pytest.mark.parametrize("n", [0, 1, 257, 272, 274, 300])
def test_length(n):
    with pytest.raises(DecapsulationError, match="273 octets"):
        _decap((ENC * 2)[:n])


@pytest.mark.parametrize("prefix", [0x00, 0x02, 0x03, 0x06])
def test_prefix(prefix):
    with pytest.raises(DecapsulationError, match="prefix"):
        _decap(bytes([prefix]) + ENC[1:])


def test_r_off_curve():
    with pytest.raises(DecapsulationError, match="not on the curve"):
        _decap(ENC[:256] + bytes([ENC[256] ^ 1]) + ENC[257:])


def test_r_coordinate_not_below_p():
    x = os2ip(ENC[1:129]) + p
    bad = b"\x04" + (x if x < 2**1024 else p).to_bytes(128, "big") + ENC[129:]
    with pytest.raises(DecapsulationError, match="below p"):
        _decap(bad)
    bad = ENC[:129] + p.to_bytes(128, "big") + ENC[257:]
    with pytest.raises(DecapsulationError, match="below p"):
        _decap(bad)


def _sqrt(a):
    r = pow(a % p, (p + 1) // 4, p)  # p = 3 (mod 4)
    return r if r * r % p == a % p else None


def _order4_point():
    # [2]T = (0, 0) iff x(T)^2 = -3 (x(2T) = (x^2 + 3)^2 / 4y^2 on y^2 = x^3 - 3x)
    x0 = _sqrt(-3)
    assert x0 is not None
    for x in (x0, p - x0):
        y = _sqrt(x**3 - 3 * x)
        if y is not None:
            return x, y
    raise AssertionError("no order-4 point")


def test_r_small_order_and_infinity():
    h = ENC[257:]
    with pytest.raises(DecapsulationError, match="small order"):
        _decap(b"\x04" + bytes(256) + h)  # (0, 0), the only F_p point of order 2
    x, y = _order4_point()
    assert CURVE.double(CURVE.double((x, y))) is None
    for yy in (y, p - y):
        with pytest.raises(DecapsulationError, match="small order"):
            _decap(b"\x04" + i2osp(x, 128) + i2osp(yy, 128) + h)
    with pytest.raises(DecapsulationError):  # no encoding of infinity is accepted
        _decap(bytes(273))


def test_r_not_in_q_subgroup_rejected_by_step5():
    # a point of order 4q (cofactor part non-trivial): found by hashing small x
    for x in range(2, 200):
        rhs = (x**3 - 3 * x) % p
        y = pow(rhs, (p + 1) // 4, p)
        if y * y % p == rhs and CURVE.mul(q, (x, y)) is not None:
            with pytest.raises(DecapsulationError, match="step 5"):
                _decap(b"\x04" + i2osp(x, 128) + i2osp(y, 128) + ENC[257:])
            return
    pytest.fail("no point outside the q-subgroup found")


@pytest.mark.parametrize("bit", [0, 7, 64, 127])
def test_flipped_h(bit):
    i = 257 + bit // 8
    bad = ENC[:i] + bytes([ENC[i] ^ (0x80 >> (bit % 8))]) + ENC[i + 1 :]
    with pytest.raises(DecapsulationError, match="step 5"):
        _decap(bad)


def test_flipped_r_bits():
    # Any bit of R: either off the curve (parse) or a different point (step 5)
    for i in (1, 64, 128, 129, 200, 256):
        bad = ENC[:i] + bytes([ENC[i] ^ 0x01]) + ENC[i + 1 :]
        with pytest.raises(DecapsulationError):
            _decap(bad)
    neg = ENC[:129] + i2osp(p - os2ip(ENC[129:257]), 128) + ENC[257:]  # -R is on the curve
    with pytest.raises(DecapsulationError, match="step 5"):
        _decap(neg)


def test_wrong_identity_and_period():
    other_id = b"2011-03\x00tel:+447700900123\x00"
    rsk_other = sakke.sakke_extract_rsk(identity=other_id, z=H(V["z"]))
    with pytest.raises(DecapsulationError, match="step 5"):
        _decap(ENC, identity=other_id, rsk=rsk_other)
    with pytest.raises(DecapsulationError):  # RSK of another identity
        _decap(ENC, identity=ID, rsk=rsk_other)


def test_bad_rsk_and_z():
    with pytest.raises(DecapsulationError):
        _decap(ENC, rsk=RSK[:-1])
    with pytest.raises(DecapsulationError):
        _decap(ENC, rsk=b"\x04" + bytes(256))
    with pytest.raises(DecapsulationError):
        _decap(ENC, z=Z[:-1] + bytes([Z[-1] ^ 1]))
    with pytest.raises(InvalidKey, match=r"6\.1\.2"):
        sakke.validate_rsk(identity=ID + b"x", rsk=RSK, z_pub=Z)
    with pytest.raises(InvalidKey):
        sakke.validate_rsk(identity=ID, rsk=RSK[:100], z_pub=Z)
    with pytest.raises(InvalidKey):  # RSK of small order (0, 0)
        sakke.validate_rsk(identity=ID, rsk=b"\x04" + bytes(256), z_pub=Z)


@pytest.mark.parametrize("n", [0, 15, 17, 32, 33, 48])
def test_bad_ssv_lengths(n):
    with pytest.raises(CryptoError):
        sakke.sakke_encapsulate(bytes(n), identity=ID, z_pub=Z)
    with pytest.raises(sakke.SsvLengthError):
        sakke.sakke_encapsulate(bytes(n), identity=ID, z_pub=Z)


def test_encapsulate_bad_z():
    with pytest.raises(CryptoError):
        sakke.sakke_encapsulate(SSV, identity=ID, z_pub=Z[:-1])


@pytest.mark.parametrize("value", [None, 5, "00"])
def test_non_bytes_inputs_raise_package_errors(value):
    with pytest.raises(DecapsulationError):
        sakke.sakke_decapsulate(value, identity=ID, rsk=RSK, z_pub=Z)
    with pytest.raises(DecapsulationError):
        sakke.sakke_decapsulate(ENC, identity=ID, rsk=value, z_pub=Z)
    with pytest.raises(CryptoError):
        sakke.sakke_encapsulate(value, identity=ID, z_pub=Z)
    with pytest.raises(InvalidKey):
        sakke.validate_rsk(identity=ID, rsk=RSK, z_pub=value)


def test_one_shot_receiver_without_tables_checks_the_rsk():
    """A receiver whose tables were never built decapsulates without them, and checks its RSK
    (RFC 6508 §6.1.2) the first time, like a tabled one; nothing is built for it."""
    sakke._receivers.clear()
    sakke._validated.clear()
    other_id = b"2011-03\x00tel:+447700900123\x00"
    rsk_other = sakke.sakke_extract_rsk(identity=other_id, z=H(V["z"]))
    with pytest.raises(DecapsulationError, match=r"6\.1\.2"):
        sakke.sakke_decapsulate(ENC, identity=ID, rsk=rsk_other, z_pub=Z)
    assert sakke.sakke_decapsulate(ENC, identity=ID, rsk=RSK, z_pub=Z) == SSV
    assert sakke.sakke_decapsulate(ENC, identity=ID, rsk=RSK, z_pub=Z) == SSV  # checked once
    assert (ID, RSK, Z) not in sakke._receivers._data and len(sakke._validated._data) == 1


def test_validate_rsk_without_tables():
    """A host of many UEs checks each RSK at bring-up (RFC 6508 §6.1.2) without building its
    tables; a wrong RSK is refused the same way, and a checked key is not checked again."""
    sakke._receivers.clear()
    sakke._validated.clear()
    other_id = b"2011-03\x00tel:+447700900123\x00"
    rsk_other = sakke.sakke_extract_rsk(identity=other_id, z=H(V["z"]))
    with pytest.raises(InvalidKey, match=r"6\.1\.2"):
        sakke.validate_rsk(identity=ID, rsk=rsk_other, z_pub=Z, tables=False)
    with pytest.raises(InvalidKey):
        sakke.validate_rsk(identity=ID, rsk=b"\x04" + bytes(256), z_pub=Z, tables=False)
    sakke.validate_rsk(identity=ID, rsk=RSK, z_pub=Z, tables=False)
    assert (ID, RSK, Z) not in sakke._receivers._data
    assert sakke._validated.get((ID, RSK, Z)) is True
