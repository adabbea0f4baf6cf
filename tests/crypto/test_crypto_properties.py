"""Hypothesis properties: round trips, and any single-bit change is rejected."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prose_mesh.crypto import eccsi, sakke
from prose_mesh.crypto.kms import Kms
from prose_mesh.errors import DecapsulationError, InvalidSignature

KMS = Kms.generate("kms.prop.example", period=3600)
ALICE = KMS.provision("sip:alice@prop.example", 9)
SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
uris = st.from_regex(r"sip:[a-z]{1,12}@[a-z]{1,8}\.example", fullmatch=True)


@SETTINGS
@given(msg=st.binary(max_size=700), uri=uris, period_no=st.integers(0, 2**24))
def test_sign_verify_roundtrip(msg, uri, period_no):
    km = KMS.provision(uri, period_no) if period_no % 4 == 0 else ALICE
    sig = eccsi.eccsi_sign(msg, identity=km.uid, ssk=km.ssk, pvt=km.pvt, kpak=KMS.kpak)
    assert len(sig) == 129
    eccsi.eccsi_verify(msg, sig, identity=km.uid, kpak=KMS.kpak)
    with pytest.raises(InvalidSignature):
        eccsi.eccsi_verify(msg + b"\x00", sig, identity=km.uid, kpak=KMS.kpak)


SIG = eccsi.eccsi_sign(b"I_MESSAGE", identity=ALICE.uid, ssk=ALICE.ssk, pvt=ALICE.pvt,
                       kpak=KMS.kpak)


@settings(max_examples=200, deadline=None)
@given(bit=st.integers(0, 129 * 8 - 1))
def test_any_signature_bit_flip_rejected(bit):
    bad = bytearray(SIG)
    bad[bit // 8] ^= 0x80 >> (bit % 8)
    with pytest.raises(InvalidSignature):
        eccsi.eccsi_verify(b"I_MESSAGE", bytes(bad), identity=ALICE.uid, kpak=KMS.kpak)


@SETTINGS
@given(ssv=st.binary(min_size=16, max_size=16), uri=uris)
def test_encap_decap_roundtrip(ssv, uri):
    km = KMS.provision(uri, 9)
    enc = sakke.sakke_encapsulate(ssv, identity=km.uid, z_pub=KMS.z_pub)
    assert len(enc) == 273
    # decapsulate without tables, so each example does not build ~1 MiB of tables
    assert sakke._decapsulate_no_tables(enc, identity=km.uid, rsk=km.rsk, z_pub=KMS.z_pub) == ssv


ENC = sakke.sakke_encapsulate(bytes(range(16)), identity=ALICE.uid, z_pub=KMS.z_pub)


@settings(max_examples=50, deadline=None)
@given(bit=st.integers(0, 273 * 8 - 1))
def test_any_encapsulation_bit_flip_rejected(bit):
    bad = bytearray(ENC)
    bad[bit // 8] ^= 0x80 >> (bit % 8)
    with pytest.raises(DecapsulationError):
        sakke.sakke_decapsulate(bytes(bad), identity=ALICE.uid, rsk=ALICE.rsk, z_pub=KMS.z_pub)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=300))
def test_garbage_only_raises_package_errors(data):
    with pytest.raises(InvalidSignature):
        eccsi.eccsi_verify(b"m", data, identity=ALICE.uid, kpak=KMS.kpak)
    with pytest.raises(DecapsulationError):
        sakke.sakke_decapsulate(data, identity=ALICE.uid, rsk=ALICE.rsk, z_pub=KMS.z_pub)


@settings(max_examples=10, deadline=None)
@given(a=st.integers(1, 2**64), b=st.integers(1, 2**64))
def test_one_pass_pairing_agrees_with_stored_lines(a, b):
    """The Jacobian one-pass Miller loop (table-less receivers) and the stored affine lines
    (tabled receivers) give the same <[a]P, [b]P>, which is g^(ab) (bilinearity)."""
    from prose_mesh.crypto.pairing import MillerLines, tate_pairing
    from prose_mesh.crypto.sakke_params import CURVE, P, g_table, pf_rep, q

    A, B = CURVE.mul(a, P), CURVE.mul(b, P)
    w = tate_pairing(A, B)
    assert w == MillerLines(A).pairing(B)
    assert w == pf_rep(*g_table().pow(a * b % int(q)))
