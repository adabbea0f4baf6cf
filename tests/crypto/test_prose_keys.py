"""TS 33.303 Annex A key hierarchy: known answers computed here by hand from the A.3/A.4 text.

The expected values are HMAC-SHA-256 computations written out in this file from the clause text
(FC ‖ P0 ‖ L0 ‖ P1 ‖ L1 ‖ ..., Li two octets), never calls of the function under test.
"""

import hashlib
import hmac

import pytest

from prose_mesh.crypto import prose_keys as pk
from prose_mesh.errors import InvalidKey, ProseMeshError

PGK = bytes(range(32))


def _hmac(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def test_ptk_a3_by_hand():
    # A.3 [V]: FC = 0x4A; P0 = Group Member Identity (sender L2 ID, L0 = 0x0003);
    # P1 = PTK ID (L1 = 0x0002); P2 = Group Identity (L2 group ID, L2 = 0x0003).
    data = (b"\x4a" + bytes.fromhex("0a0b0c") + b"\x00\x03" + bytes.fromhex("0007") + b"\x00\x02"
            + bytes.fromhex("a1b2c3") + b"\x00\x03")
    expected = _hmac(PGK, data)
    got = pk.ptk(PGK, sender_l2id=0x0A0B0C, ptk_id=7, group_l2id=0xA1B2C3)
    assert got == expected and len(got) == 32


def test_ptk_differs_per_sender_ptk_id_and_group():
    base = pk.ptk(PGK, sender_l2id=1, ptk_id=1, group_l2id=1)
    assert len({base, pk.ptk(PGK, sender_l2id=2, ptk_id=1, group_l2id=1),
                pk.ptk(PGK, sender_l2id=1, ptk_id=2, group_l2id=1),
                pk.ptk(PGK, sender_l2id=1, ptk_id=1, group_l2id=2)}) == 4


def test_pek_pik_are_128_lsbs_by_hand():
    key = bytes(range(100, 132))
    # A.4 shape: FC (0x4B, [R] in PROTOCOL.md §5) ‖ P0 = 0x00 PEK / 0x01 PIK ‖ 0x0001 ‖
    # P1 = algorithm identity ‖ 0x0001; an n-bit key is the n LSBs (A.1 [V]).
    pek = _hmac(key, b"\x4b\x00\x00\x01\x02\x00\x01")[16:]
    pik = _hmac(key, b"\x4b\x01\x00\x01\x02\x00\x01")[16:]
    assert pk.pek(key, 2) == pek and pk.pik(key, 2) == pik and pek != pik


def test_kd_sess_and_kd_from_ssv_by_hand():
    kd = bytes(range(50, 82))
    n1, n2 = b"\x11" * 16, b"\x22" * 16
    expected = _hmac(kd, b"\x4c" + n1 + b"\x00\x10" + n2 + b"\x00\x10")
    assert pk.kd_sess(kd, n1, n2) == expected
    assert pk.kd_sess(kd, n2, n1) != expected  # nonce order matters
    ssv = bytes(range(16))
    assert pk.kd_from_ssv(ssv) == _hmac(ssv, b"prose_mesh KD")


def test_ids_assemble_msb_lsb():
    assert pk.kd_sess_id(0xAB, 0xCD) == 0xABCD
    assert pk.kd_id(0x1234, 0x5678) == 0x12345678


@pytest.mark.parametrize("call", [
    lambda: pk.ptk(b"short", sender_l2id=1, ptk_id=1, group_l2id=1),
    lambda: pk.ptk(PGK, sender_l2id=1 << 24, ptk_id=1, group_l2id=1),
    lambda: pk.ptk(PGK, sender_l2id=1, ptk_id=1 << 16, group_l2id=1),
    lambda: pk.pek(b"x" * 31, 2),
    lambda: pk.pik(PGK, 256),
    lambda: pk.kd_sess(PGK, b"n" * 15, b"n" * 16),
    lambda: pk.kd_from_ssv(b"s" * 32),
    lambda: pk.kd_sess_id(256, 0),
    lambda: pk.kd_id(0, 1 << 16),
])
def test_bad_inputs_raise_package_errors(call):
    with pytest.raises(InvalidKey) as err:
        call()
    assert isinstance(err.value, ProseMeshError)
