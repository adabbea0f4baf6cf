"""RFC 6507 Appendix A known answers and every verifier check of PROTOCOL.md §9.1."""

from __future__ import annotations

import pytest
from support import load_vector

from prose_mesh.crypto import eccsi
from prose_mesh.crypto._util import os2ip, sha256
from prose_mesh.crypto.p256 import G_BYTES, P, Q, base_mul
from prose_mesh.errors import InvalidKey, InvalidSignature

V = load_vector("rfc6507_eccsi.json")
H = bytes.fromhex
ID, KPAK, SSK, PVT, M, SIG = (H(V[k]) for k in ("ID", "KPAK", "SSK", "PVT", "M", "Sig"))


def test_domain_matches_vector():
    assert int(V["p"], 16) == P and int(V["q"], 16) == Q and H(V["G"]) == G_BYTES


def test_kms_known_answers():
    assert eccsi.eccsi_make_kpak(H(V["KSAK"])) == KPAK
    ssk, pvt = eccsi.eccsi_issue_user_key(identity=ID, ksak=H(V["KSAK"]), v=H(V["v"]))
    assert (ssk, pvt) == (SSK, PVT)
    assert sha256(G_BYTES, KPAK, ID, PVT) == H(V["HS"])
    eccsi.validate_ssk(identity=ID, ssk=SSK, pvt=PVT, kpak=KPAK)


def test_j_point_known_answer():
    J = base_mul(int(V["j"], 16))
    assert (J[0], J[1]) == (os2ip(H(V["J_x"])), os2ip(H(V["J_y"])))


def test_sign_known_answer():
    sig = eccsi._sign_with_j(M, int(V["j"], 16), identity=ID, ssk=SSK, pvt=PVT, kpak=KPAK)
    assert sig == SIG
    assert sig[:32] == H(V["r"]) and sig[32:64] == H(V["s"])
    assert sha256(H(V["HS"]), H(V["r"]), M) == H(V["HE"])


def test_verify_known_answer_and_y():
    eccsi.eccsi_verify(M, SIG, identity=ID, kpak=KPAK)
    signer = eccsi._signers.get((ID, PVT, KPAK))
    assert signer is not None
    assert signer.y == (os2ip(H(V["Y_x"])), os2ip(H(V["Y_y"])))


def test_public_sign_verifies_and_is_not_repeatable():
    a = eccsi.eccsi_sign(M, identity=ID, ssk=SSK, pvt=PVT, kpak=KPAK)
    b = eccsi.eccsi_sign(M, identity=ID, ssk=SSK, pvt=PVT, kpak=KPAK)
    assert a != b and a[:32] != b[:32]  # fresh j each time (hedged nonce)
    for s in (a, b):
        eccsi.eccsi_verify(M, s, identity=ID, kpak=KPAK)
        eccsi.eccsi_verify(M, s, identity=ID, kpak=KPAK)  # second pass uses the Y table


def _with(r=None, s=None, pvt=None):
    return (
        (SIG[:32] if r is None else r.to_bytes(32, "big"))
        + (SIG[32:64] if s is None else s.to_bytes(32, "big"))
        + (SIG[64:] if pvt is None else pvt)
    )


@pytest.mark.parametrize("r", [0, Q, Q + 1, 2**256 - 1])
def test_r_out_of_range(r):
    with pytest.raises(InvalidSignature, match="r not in"):
        eccsi.eccsi_verify(M, _with(r=r), identity=ID, kpak=KPAK)


@pytest.mark.parametrize("s", [0, Q, Q + 1, 2**256 - 1])
def test_s_out_of_range(s):
    with pytest.raises(InvalidSignature, match="s not in"):
        eccsi.eccsi_verify(M, _with(s=s), identity=ID, kpak=KPAK)


@pytest.mark.parametrize("n", [0, 1, 64, 128, 130, 200])
def test_signature_length(n):
    sig = (SIG * 2)[:n]
    with pytest.raises(InvalidSignature, match="129 octets"):
        eccsi.eccsi_verify(M, sig, identity=ID, kpak=KPAK)


@pytest.mark.parametrize("prefix", [0x00, 0x02, 0x03, 0x06, 0x07])
def test_pvt_prefix(prefix):
    pvt = bytes([prefix]) + PVT[1:]
    with pytest.raises(InvalidSignature, match="prefix"):
        eccsi.eccsi_verify(M, _with(pvt=pvt), identity=ID, kpak=KPAK)


def test_pvt_off_curve():
    pvt = PVT[:-1] + bytes([PVT[-1] ^ 1])
    with pytest.raises(InvalidSignature, match="not on the curve"):
        eccsi.eccsi_verify(M, _with(pvt=pvt), identity=ID, kpak=KPAK)


def test_pvt_coordinate_not_below_p():
    x = os2ip(PVT[1:33]) + P  # same residue, but >= p
    if x < 2**256:
        pvt = b"\x04" + x.to_bytes(32, "big") + PVT[33:]
    else:
        pvt = b"\x04" + P.to_bytes(32, "big") + PVT[33:]
    with pytest.raises(InvalidSignature, match="below p"):
        eccsi.eccsi_verify(M, _with(pvt=pvt), identity=ID, kpak=KPAK)
    y = os2ip(PVT[33:]) + P
    pvt = PVT[:33] + (y if y < 2**256 else P).to_bytes(32, "big")
    with pytest.raises(InvalidSignature, match="below p"):
        eccsi.eccsi_verify(M, _with(pvt=pvt), identity=ID, kpak=KPAK)


def test_pvt_infinity_encoding_rejected():
    with pytest.raises(InvalidSignature):
        eccsi.eccsi_verify(M, _with(pvt=bytes(65)), identity=ID, kpak=KPAK)


def test_wrong_message_identity_kpak():
    with pytest.raises(InvalidSignature, match="Jx != r"):
        eccsi.eccsi_verify(M + b"x", SIG, identity=ID, kpak=KPAK)
    with pytest.raises(InvalidSignature, match="Jx != r"):
        eccsi.eccsi_verify(M, SIG, identity=ID[:-2] + b"4\x00", kpak=KPAK)
    other_kpak = eccsi.eccsi_make_kpak((12345).to_bytes(32, "big"))
    with pytest.raises(InvalidSignature):
        eccsi.eccsi_verify(M, SIG, identity=ID, kpak=other_kpak)
    with pytest.raises(InvalidSignature, match="KPAK"):
        eccsi.eccsi_verify(M, SIG, identity=ID, kpak=KPAK[:-1])


def test_wrong_pvt_in_signature():
    _ssk2, pvt2 = eccsi.eccsi_issue_user_key(identity=ID, ksak=H(V["KSAK"]))
    with pytest.raises(InvalidSignature):
        eccsi.eccsi_verify(M, _with(pvt=pvt2), identity=ID, kpak=KPAK)


def test_validate_ssk_rejects():
    bad = (os2ip(SSK) + 1).to_bytes(32, "big")
    with pytest.raises(InvalidKey, match=r"5\.1\.2"):
        eccsi.validate_ssk(identity=ID, ssk=bad, pvt=PVT, kpak=KPAK)
    for ssk in (bytes(32), Q.to_bytes(32, "big"), SSK[:31]):
        with pytest.raises(InvalidKey):
            eccsi.validate_ssk(identity=ID, ssk=ssk, pvt=PVT, kpak=KPAK)
    with pytest.raises(InvalidKey):
        eccsi.validate_ssk(identity=ID, ssk=SSK, pvt=PVT[:-1] + b"\x00", kpak=KPAK)
    with pytest.raises(InvalidKey):  # signing refuses an invalid key too
        eccsi.eccsi_sign(M, identity=ID, ssk=bad, pvt=PVT, kpak=KPAK)


def test_every_verify_path_accepts_and_rejects():
    # first use: [s*r*HS]PVT + [s*r]KPAK; second on: the per-signer table of Y
    eccsi._signers.clear()
    bad = SIG[:63] + bytes([SIG[63] ^ 1]) + SIG[64:]
    for _ in range(3):
        with pytest.raises(InvalidSignature):
            eccsi.eccsi_verify(M, bad, identity=ID, kpak=KPAK)
        eccsi.eccsi_verify(M, SIG, identity=ID, kpak=KPAK)
    assert eccsi._signers.get((ID, PVT, KPAK)).y_table is not None


@pytest.mark.parametrize("value", [None, 5, "00", 1.5])
def test_non_bytes_inputs_raise_package_errors(value):
    with pytest.raises(InvalidSignature):
        eccsi.eccsi_verify(M, value, identity=ID, kpak=KPAK)
    with pytest.raises(InvalidSignature):
        eccsi.eccsi_verify(value, SIG, identity=ID, kpak=KPAK)
    with pytest.raises(InvalidKey):
        eccsi.eccsi_sign(M, identity=ID, ssk=value, pvt=PVT, kpak=KPAK)
    with pytest.raises(InvalidKey):
        eccsi.validate_ssk(identity=value, ssk=SSK, pvt=PVT, kpak=KPAK)
