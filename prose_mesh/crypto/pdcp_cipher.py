"""PDCP ciphering and integrity: EEA0, 128-EEA2, EIA0, 128-EIA2 (TS 33.401 Annex B).

* 128-EEA2 (B.1.3): AES-128 in CTR mode; the initial counter block is
  ``COUNT(32) ‖ BEARER(5) ‖ DIRECTION(1) ‖ 0^26 ‖ 0^64``, incremented as a 128-bit integer.
* 128-EIA2 (B.2.3): AES-CMAC (NIST SP 800-38B) over ``COUNT ‖ BEARER ‖ DIRECTION ‖ 0^26 ‖ M``
  (BLENGTH = LENGTH + 64 bits); MAC-I is the 32 most significant bits of the CMAC.
* EEA0 is the identity; EIA0 gives a MAC-I of 32 zero bits (33.401 §5.1.4.1).

Lengths are in **bits**, as in the spec. Both EEA2 and EIA2 accept any bit length: EEA2 returns
ceil(LENGTH/8) octets with the unused trailing bits of the last octet set to 0; EIA2 on a
byte-aligned message uses ``cryptography``'s CMAC, otherwise a bit-exact SP 800-38B CMAC built on
the AES block function (the 33.401 Annex C test sets include 58-, 254-, 383- and 511-bit
messages). The inputs of PROTOCOL.md §4.3 (COUNT, BEARER, DIRECTION) are the caller's.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from prose_mesh.constants import EEA0, EEA2, EIA0, EIA2
from prose_mesh.errors import CryptoError
from prose_mesh.protocol.reasons import Reason

MAC_I_LEN = 4


class PdcpCryptoError(CryptoError):
    """A PDCP security input is unusable, or MAC-I did not verify (reason BAD_MAC_I)."""


def _check_inputs(key: bytes, count: int, bearer: int, direction: int) -> None:
    if len(key) != 16:
        raise PdcpCryptoError(f"key is {len(key)} octets, not 16", reason=Reason.MALFORMED)
    if not 0 <= count <= 0xFFFF_FFFF:
        raise PdcpCryptoError("COUNT is 32 bits", reason=Reason.MALFORMED)
    if not 0 <= bearer <= 0x1F:
        raise PdcpCryptoError("BEARER is 5 bits", reason=Reason.MALFORMED)
    if direction not in (0, 1):
        raise PdcpCryptoError("DIRECTION is 1 bit", reason=Reason.MALFORMED)


def _bit_length(data: bytes, length_bits: int | None) -> int:
    n = 8 * len(data) if length_bits is None else length_bits
    if not 0 <= n <= 8 * len(data):
        raise PdcpCryptoError(f"LENGTH {n} bits exceeds {len(data)} octets",
                              reason=Reason.MALFORMED)
    return n


def _prefix(count: int, bearer: int, direction: int) -> bytes:
    """COUNT ‖ BEARER ‖ DIRECTION ‖ 0^26 (64 bits): the IV of B.1.3 and the M prefix of B.2.3."""
    return count.to_bytes(4, "big") + bytes([(bearer << 3) | (direction << 2), 0, 0, 0])


def _truncate_bits(data: bytes, nbits: int) -> bytes:
    """The first ``nbits`` bits of ``data``, zero-filled to whole octets."""
    nbytes = (nbits + 7) // 8
    out = bytearray(data[:nbytes])
    if nbits % 8:
        out[-1] &= (0xFF << (8 - nbits % 8)) & 0xFF
    return bytes(out)


def eea0(data: bytes, length_bits: int | None = None) -> bytes:
    """EEA0 (null ciphering): the first LENGTH bits of ``data`` unchanged."""
    return _truncate_bits(data, _bit_length(data, length_bits))


def eea2(
    key: bytes,
    count: int,
    bearer: int,
    direction: int,
    data: bytes,
    length_bits: int | None = None,
) -> bytes:
    """128-EEA2 (33.401 B.1.3). Encryption and decryption are the same operation."""
    _check_inputs(key, count, bearer, direction)
    nbits = _bit_length(data, length_bits)
    nbytes = (nbits + 7) // 8
    icb = _prefix(count, bearer, direction) + bytes(8)  # … ‖ 0^64
    enc = Cipher(algorithms.AES(key), modes.CTR(icb)).encryptor()
    out = enc.update(data[:nbytes]) + enc.finalize()
    return _truncate_bits(out, nbits)


def _dbl(block: int) -> int:
    """Doubling in GF(2^128) with R = 0x87 (SP 800-38B §6.1 subkey generation)."""
    block <<= 1
    if block >> 128:
        block = (block ^ 0x87) & ((1 << 128) - 1)
    return block


def _cmac_bits(key: bytes, msg: bytes, nbits: int) -> bytes:
    """AES-CMAC over the first ``nbits`` bits of ``msg`` (SP 800-38B §6.2, bit strings)."""
    aes = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    k1 = _dbl(int.from_bytes(aes.update(bytes(16)), "big"))
    k2 = _dbl(k1)
    nblocks = max(1, (nbits + 127) // 128)
    as_int = int.from_bytes(msg[: (nbits + 7) // 8].ljust(nblocks * 16, b"\0"), "big")
    total = nblocks * 128
    as_int >>= total - nbits  # drop unused low bits, keep the nbits message bits
    last_bits = nbits - (nblocks - 1) * 128
    if nbits and last_bits == 128:  # complete final block
        padded = as_int
        last_key = k1
    else:  # pad M_n with 1 0^j
        padded = ((as_int << 1) | 1) << (total - nbits - 1)
        last_key = k2
    data = padded.to_bytes(nblocks * 16, "big")
    state = 0
    for i in range(nblocks):
        block = int.from_bytes(data[16 * i : 16 * i + 16], "big")
        if i == nblocks - 1:
            block ^= last_key
        state = int.from_bytes(aes.update((state ^ block).to_bytes(16, "big")), "big")
    return state.to_bytes(16, "big")


def eia2(
    key: bytes,
    count: int,
    bearer: int,
    direction: int,
    message: bytes,
    length_bits: int | None = None,
) -> bytes:
    """128-EIA2 (33.401 B.2.3): the 32-bit MAC-I of the first LENGTH bits of ``message``."""
    _check_inputs(key, count, bearer, direction)
    nbits = _bit_length(message, length_bits)
    m = _prefix(count, bearer, direction) + message[: (nbits + 7) // 8]
    if nbits % 8 == 0:
        c = cmac.CMAC(algorithms.AES(key))
        c.update(m)
        return c.finalize()[:MAC_I_LEN]
    return _cmac_bits(key, m, 64 + nbits)[:MAC_I_LEN]


def eia0(*_args: object) -> bytes:
    """EIA0 (null integrity): MAC-I is 32 zero bits."""
    return bytes(MAC_I_LEN)


def verify_eia2(
    key: bytes,
    count: int,
    bearer: int,
    direction: int,
    message: bytes,
    mac_i: bytes,
    length_bits: int | None = None,
) -> None:
    """Raise :class:`PdcpCryptoError` (BAD_MAC_I) unless ``mac_i`` is the 128-EIA2 MAC-I."""
    expected = eia2(key, count, bearer, direction, message, length_bits)
    if len(mac_i) != MAC_I_LEN or not hmac.compare_digest(expected, mac_i):
        raise PdcpCryptoError("MAC-I mismatch", reason=Reason.BAD_MAC_I)


def cipher(
    alg: int, key: bytes, count: int, bearer: int, direction: int, data: bytes,
    length_bits: int | None = None,
) -> bytes:
    """Dispatch on the EEA identity (33.401 §5.1.3.2): EEA0 or 128-EEA2."""
    if alg == EEA0:
        return eea0(data, length_bits)
    if alg == EEA2:
        return eea2(key, count, bearer, direction, data, length_bits)
    raise PdcpCryptoError(f"EEA{alg} not implemented", reason=Reason.POLICY)


def mac(
    alg: int, key: bytes, count: int, bearer: int, direction: int, message: bytes,
    length_bits: int | None = None,
) -> bytes:
    """Dispatch on the EIA identity (33.401 §5.1.4.2): EIA0 or 128-EIA2."""
    if alg == EIA0:
        return eia0()
    if alg == EIA2:
        return eia2(key, count, bearer, direction, message, length_bits)
    raise PdcpCryptoError(f"EIA{alg} not implemented", reason=Reason.POLICY)
