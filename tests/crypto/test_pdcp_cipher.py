"""128-EEA2 / 128-EIA2 known answers and properties.

Expected values: 3GPP TS 33.401 Annex C, C.1 (128-EEA2 test sets 1–6) and C.2 (128-EIA2 test sets
1–7), the same data as TS 33.501 D.4.4/D.4.5. Taken from the spec's test sets as reproduced in
two independent public test suites (srsRAN's security_test.cpp "128-NEA2/128-NIA2 Test Set n",
and the erlumts NAS-security eunit file "TS 33.401 C.1.1 - C.1.6"), which agree with each other.
Never computed by the code under test.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prose_mesh.constants import EEA0, EEA2, EIA0, EIA2
from prose_mesh.crypto import pdcp_cipher as pc
from prose_mesh.errors import CryptoError

h = bytes.fromhex

# (key, COUNT, BEARER, DIRECTION, LENGTH bits, plaintext, ciphertext) — 33.401 C.1
EEA2_SETS = [
    ("d3c5d592327fb11c4035c6680af8c6d1", 0x398A59B4, 0x15, 1, 253,
     "981ba6824c1bfb1ab485472029b71d808ce33e2cc3c0b5fc1f3de8a6dc66b1f0",
     "e9fed8a63d155304d71df20bf3e82214b20ed7dad2f233dc3c22d7bdeeed8e78"),
    ("2bd6459f82c440e0952c49104805ff48", 0xC675A64B, 0x0C, 1, 798,
     "7ec61272743bf1614726446a6c38ced166f6ca76eb5430044286346cef130f92922b03450d3a9975e5bd2ea0"
     "eb55ad8e1b199e3ec4316020e9a1b285e762795359b7bdfd39bef4b2484583d5afe082aee638bf5fd5a60619"
     "3901a08f4ab41aab9b134880",
     "5961605353c64bdca15b195e288553a910632506d6200aa790c4c806c99904cf2445cc50bb1cf168a4967373"
     "4e081b57e324ce5259c0e78d4cd97b870976503c0943f2cb5ae8f052c7b7d392239587b8956086bcab188360"
     "42e2e6ce42432a17105c53d0"),
    ("0a8b6bd8d9b08b08d64e32d1817777fb", 0x544D49CD, 0x04, 0, 310,
     "fd40a41d370a1f65745095687d47ba1d36d2349e23f644392c8ea9c49d40c13271aff264d0f248",
     "75750d37b4bba2a4dedb34235bd68c6645acdaaca48138a3b0c471e2a7041a576423d2927287f0"),
    ("aa1f95aea533bcb32eb63bf52d8f831a", 0x72D8C671, 0x10, 1, 1022,
     "fb1b96c5c8badfb2e8e8edfde78e57f2ad81e74103fc430a534dcc37afcec70e1517bb06f27219dae49022dd"
     "c47a068de4c9496a951a6b09edbdc864c7adbd740ac50c022f3082bafd22d78197c5d508b977bca13f32e652"
     "e74ba728576077ce628c535e87dc6077ba07d29068590c8cb5f1088e082cfa0ec961302d69cf3d44",
     "dfb440acb3773549efc04628aeb8d8156275230bdc690d94b00d8d95f28c4b56307f60f4ca55eba661ebba72"
     "ac808fa8c49e26788ed04a5d606cb418de74878b9a22f8ef29590bc4eb57c9faf7c41524a885b8979c423f2f"
     "8f8e0592a9879201be7ff9777a162ab810feb324ba74c4c156e04d39097209653ac33e5a5f2d8864"),
    ("9618ae46891f86578eebe90ef7a1202e", 0xC675A64B, 0x0C, 1, 1245,
     "8daa17b1ae050529c6827f28c0ef6a1242e93f8b314fb18a77f790ae049fedd612267fecaefc450174d76d9f"
     "9aa7755a30cd90a9a5874bf48eaf70eea3a62a250a8b6bd8d9b08b08d64e32d1817777fb544d49cd49720e21"
     "9dbf8bbed33904e1fd40a41d370a1f65745095687d47ba1d36d2349e23f644392c8ea9c49d40c13271aff264"
     "d0f24841d6465f0996ff84e65fc517c53efc3363c38492a8",
     "919c8c33d66789703d05a0d7ce82a2aeac4ee76c0f4da050335e8a84e7897ba5df2f36bd513e3d0c8578c7a0"
     "fcf043e03aa3a39fbaad7d15be074faa5d9029f71fb457b647834714b0e18f117fca10677945096c8c5f326b"
     "a8d6095eb29c3e36cf245d1622aafe921f7566c4f5d644f2f1fc0ec684ddb21349747622e209295d27ff3f95"
     "623371d49b147c0af486171f22cd04b1cbeb2658223e6938"),
]

# (key, COUNT, BEARER, DIRECTION, LENGTH bits, message, MAC-I) — 33.401 C.2
EIA2_SETS = [
    ("2bd6459f82c5b300952c49104881ff48", 0x38A6F056, 0x18, 0, 58, "3332346263393840",
     "118c6eb8"),
    ("d3c5d592327fb11c4035c6680af8c6d1", 0x398A59B4, 0x1A, 1, 64, "484583d5afe082ae",
     "b93787e6"),
    ("7e5e94431e11d73828d739cc6ced4573", 0x36AF6144, 0x18, 1, 254,
     "b3d3c9170a4e1632f60f861013d22d84b726b6a278d802d1eeaf1321ba5929dc", "1f60b01d"),
    ("d3419be821087acd02123a9248033359", 0xC7590EA9, 0x17, 0, 511,
     "bbb057038809496bcff86d6fbc8ce5b135a06b166054f2d565be8ace75dc851e0bcdd8f07141c495872fb5d8c"
     "0c66a8b6da556663e4e461205d84580bee5bc7e", "6846a2f0"),
    ("83fd23a244a74cf358da3019f1722635", 0x36AF6144, 0x0F, 1, 768,
     "35c68716633c66fb750c266865d53c11ea05b1e9fa49c8398d48e1efa5909d3947902837f5ae96d5a05bc8d6"
     "1ca8dbef1b13a4b4abfe4fb1006045b674bb54729304c382be53a5af05556176f6eaa2ef1d05e4b083181ee6"
     "74cda5a485f74d7a", "e657e182"),
    ("6832a65cff4473621ebdd4ba26a921fe", 0x36AF6144, 0x18, 0, 383,
     "d3c53839626820717765667620323837636240981ba6824c1bfb1ab485472029b71d808ce33e2cc3c0b5fc1f"
     "3de8a6dc", "f0668c1e"),
    ("5d0a80d8134ae19677824b671e838af4", 0x7827FAB2, 0x05, 1, 2558,
     "70dedf2dc42c5cbd3a96f8a0b11418b3608d5733604a2cd36aabc70ce3193bb5153be2d3c06dfdb2d16e9c35"
     "7158be6a41d6b861e491db3fbfeb518efcf048d7d58953730ff30c9ec470ffcd663dc34201c36addc0111c35"
     "b38afee7cfdb582e3731f8b4baa8d1a89c06e81199a9716227be344efcb436ddd0f096c064c3b5e2c399993f"
     "c77394f9e09720a811850ef23b2ee05d9e6173609d86e1c0c18ea51a012a00bb413b9cb8188a703cd6bae31c"
     "c67b34b1b00019e6a2b2a690f02671fe7c9ef8dec0094e533763478d58d2c5f5b827a0148c5948a96931acf8"
     "4f465a64e62ce74007e991e37ea823fa0fb21923b79905b733b631e6c7d6860a3831ac351a9c730c52ff72d9"
     "d308eedbab21fde143a0ea17e23edc1f74cbb3638a2033aaa15464eaa733385dbbeb6fd73509b857e6a419dc"
     "a1d8907af977fbac4dfa35ec", "f4cc8fa3"),
]


@pytest.mark.parametrize(("key", "count", "bearer", "direction", "bits", "pt", "ct"), EEA2_SETS)
def test_eea2_known_answers(key, count, bearer, direction, bits, pt, ct):
    assert pc.eea2(h(key), count, bearer, direction, h(pt), bits) == h(ct)
    # Decryption is the same keystream.
    assert pc.eea2(h(key), count, bearer, direction, h(ct), bits) == pc.eea0(h(pt), bits)


@pytest.mark.parametrize(("key", "count", "bearer", "direction", "bits", "msg", "mac"), EIA2_SETS)
def test_eia2_known_answers(key, count, bearer, direction, bits, msg, mac):
    assert pc.eia2(h(key), count, bearer, direction, h(msg), bits) == h(mac)
    pc.verify_eia2(h(key), count, bearer, direction, h(msg), h(mac), bits)


def test_eia2_wrong_mac_is_bad_mac_i():
    key, count, bearer, direction, bits, msg, mac = EIA2_SETS[1]
    bad = bytearray(h(mac))
    bad[0] ^= 1
    with pytest.raises(CryptoError) as ei:
        pc.verify_eia2(h(key), count, bearer, direction, h(msg), bytes(bad), bits)
    assert ei.value.reason == "BAD_MAC_I"
    with pytest.raises(CryptoError):
        pc.verify_eia2(h(key), count, bearer, direction, h(msg), h(mac)[:3], bits)


def test_each_input_changes_the_mac_and_keystream():
    key, count, bearer, direction, _, msg, _ = EIA2_SETS[1]
    base = pc.eia2(h(key), count, bearer, direction, h(msg))
    assert pc.eia2(h(key), count ^ 1, bearer, direction, h(msg)) != base
    assert pc.eia2(h(key), count, bearer ^ 1, direction, h(msg)) != base
    assert pc.eia2(h(key), count, bearer, direction ^ 1, h(msg)) != base
    ks = pc.eea2(h(key), count, bearer, direction, bytes(32))
    assert pc.eea2(h(key), count, bearer, direction ^ 1, bytes(32)) != ks
    assert pc.eea2(h(key), count, bearer ^ 1, direction, bytes(32)) != ks


def test_null_algorithms_and_dispatch():
    assert pc.eia0() == bytes(4)
    assert pc.mac(EIA0, b"", 0, 0, 0, b"abc") == bytes(4)
    assert pc.cipher(EEA0, b"", 0, 0, 0, b"\xff\xff", 12) == b"\xff\xf0"
    key, count, bearer, direction, bits, pt, ct = EEA2_SETS[0]
    assert pc.cipher(EEA2, h(key), count, bearer, direction, h(pt), bits) == h(ct)
    key, count, bearer, direction, bits, msg, mac = EIA2_SETS[0]
    assert pc.mac(EIA2, h(key), count, bearer, direction, h(msg), bits) == h(mac)
    with pytest.raises(CryptoError) as ei:
        pc.cipher(1, bytes(16), 0, 0, 0, b"")
    assert ei.value.reason == "POLICY"


@pytest.mark.parametrize(
    ("key", "count", "bearer", "direction", "bits"),
    [(bytes(15), 0, 0, 0, None), (bytes(16), 1 << 32, 0, 0, None), (bytes(16), 0, 32, 0, None),
     (bytes(16), 0, 0, 2, None), (bytes(16), 0, 0, 0, 9)],
)
def test_bad_inputs_raise_malformed(key, count, bearer, direction, bits):
    for fn in (pc.eea2, pc.eia2):
        with pytest.raises(CryptoError) as ei:
            fn(key, count, bearer, direction, b"\x00", bits)
        assert ei.value.reason == "MALFORMED"


@given(st.binary(min_size=0, max_size=64))
def test_bit_cmac_equals_library_cmac_on_whole_octets(msg):
    # The bit-exact SP 800-38B path and cryptography's CMAC must agree where both apply.
    from cryptography.hazmat.primitives import cmac
    from cryptography.hazmat.primitives.ciphers import algorithms

    key = bytes(range(16))
    c = cmac.CMAC(algorithms.AES(key))
    c.update(msg)
    assert pc._cmac_bits(key, msg, 8 * len(msg)) == c.finalize()


@given(st.binary(min_size=1, max_size=40), st.integers(0, 7))
def test_eia2_ignores_bits_past_length(msg, drop):
    bits = 8 * len(msg) - drop
    flipped = bytearray(msg)
    flipped[-1] ^= (1 << drop) - 1  # only bits beyond LENGTH
    key = bytes(16)
    assert pc.eia2(key, 1, 2, 1, msg, bits) == pc.eia2(key, 1, 2, 1, bytes(flipped), bits)
