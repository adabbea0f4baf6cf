"""TS 33.303 ProSe key hierarchy (Annex A) on the TS 33.220 Annex B KDF (PROTOCOL.md §5).

* PTK (A.3 [V]): ``KDF(PGK, FC 0x4A, P0 = Group Member Identity = sender L2 ID (3 octets),
  P1 = PTK ID (2), P2 = Group Identity = L2 group ID (3))``, 256 bits.
* PEK / PIK (A.4 [R FC]): the 128 LSBs of ``KDF(PTK or KD-sess, FC_PEK_PIK, P0 = 0x00 (PEK) /
  0x01 (PIK), P1 = algorithm identity (1 octet))``; an n-bit key is the n LSBs (A.1 [V]).
* KD-sess ([R FC]): ``KDF(KD, FC_KD_SESS, P0 = Nonce_1 (16), P1 = Nonce_2 (16))``, 256 bits.
* KD from a SAKKE SSV ([EMU], PROTOCOL.md §2.3): parameter set 1 carries a 128-bit SSV, KD is
  256 bits, so ``KD = HMAC-SHA-256(SSV, "prose_mesh KD")`` until 33.303 §6.5 is checked.
* KD-sess ID / KD ID assembly (§5 table): MSB from one peer, LSB from the other.

Every input length is checked; a wrong size raises :class:`InvalidKey` (a package error).
"""

from __future__ import annotations

from typing import Final

from prose_mesh.constants import ALG_DIST_PEK, ALG_DIST_PIK, FC_KD_SESS, FC_PEK_PIK, FC_PTK
from prose_mesh.crypto._util import hmac_sha256
from prose_mesh.crypto.kdf import kdf
from prose_mesh.errors import InvalidKey

__all__ = [
    "KD_LABEL",
    "kd_from_ssv",
    "kd_id",
    "kd_sess",
    "kd_sess_id",
    "pek",
    "pik",
    "ptk",
]

KD_LABEL: Final = b"prose_mesh KD"  # [EMU] PROTOCOL.md §2.3
_L2ID_MAX: Final = 0xFFFFFF


def _need(value: bytes, size: int, name: str) -> bytes:
    value = bytes(value)
    if len(value) != size:
        raise InvalidKey(f"{name} is {len(value)} octets, expected {size}")
    return value


def ptk(pgk: bytes, *, sender_l2id: int, ptk_id: int, group_l2id: int) -> bytes:
    """PTK of TS 33.303 A.3 (256 bits) for one sender, PTK ID and ProSe L2 group ID."""
    _need(pgk, 32, "PGK")
    if not (0 <= sender_l2id <= _L2ID_MAX and 0 <= group_l2id <= _L2ID_MAX):
        raise InvalidKey("Layer-2 IDs are 24 bits")
    if not 0 <= ptk_id <= 0xFFFF:
        raise InvalidKey("PTK ID is 16 bits")
    return kdf(
        pgk,
        FC_PTK,
        sender_l2id.to_bytes(3, "big"),
        ptk_id.to_bytes(2, "big"),
        group_l2id.to_bytes(3, "big"),
    )


def _alg_key(key: bytes, distinguisher: int, alg: int) -> bytes:
    _need(key, 32, "PTK/KD-sess")
    if not 0 <= alg <= 0xFF:
        raise InvalidKey("algorithm identity is one octet")
    return kdf(key, FC_PEK_PIK, bytes([distinguisher]), bytes([alg]))[-16:]


def pek(key: bytes, alg: int) -> bytes:
    """ProSe Encryption Key: 128 LSBs of KDF(PTK or KD-sess, FC_PEK_PIK, 0x00, EEA id)."""
    return _alg_key(key, ALG_DIST_PEK, alg)


def pik(key: bytes, alg: int) -> bytes:
    """ProSe Integrity Key: 128 LSBs of KDF(KD-sess, FC_PEK_PIK, 0x01, EIA id)."""
    return _alg_key(key, ALG_DIST_PIK, alg)


def kd_sess(kd: bytes, nonce_1: bytes, nonce_2: bytes) -> bytes:
    """KD-sess = KDF(KD, FC_KD_SESS, Nonce_1, Nonce_2) (256 bits)."""
    return kdf(_need(kd, 32, "KD"), FC_KD_SESS, _need(nonce_1, 16, "Nonce_1"),
               _need(nonce_2, 16, "Nonce_2"))


def kd_from_ssv(ssv: bytes) -> bytes:
    """[EMU] KD = HMAC-SHA-256(SSV, "prose_mesh KD") from a 128-bit SAKKE SSV."""
    return hmac_sha256(_need(ssv, 16, "SSV"), KD_LABEL)


def kd_sess_id(msb: int, lsb: int) -> int:
    """16-bit KD-sess ID: MSB from the initiator (DCR), LSB from the responder (DSM COMMAND)."""
    if not (0 <= msb <= 0xFF and 0 <= lsb <= 0xFF):
        raise InvalidKey("KD-sess ID halves are 8 bits")
    return (msb << 8) | lsb


def kd_id(msb: int, lsb: int) -> int:
    """32-bit KD ID: MSB 16 bits from the responder (COMMAND), LSB 16 from the initiator."""
    if not (0 <= msb <= 0xFFFF and 0 <= lsb <= 0xFFFF):
        raise InvalidKey("KD ID halves are 16 bits")
    return (msb << 16) | lsb
