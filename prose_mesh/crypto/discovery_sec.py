"""Restricted / public-safety discovery security (TS 33.303 §6.1.3.4.3, §6.6, A.2, A.5, A.6, A.8).

A PC5_DISCOVERY message (29 octets, PROTOCOL.md §3) is protected with three keys derived from
the PSDK that the PKMF issues per Discovery Group ID or Relay Service Code (24.334 §10A.2.1):

* **DUIK** — integrity: ``MIC = 32 LSBs of KDF(DUIK, FC_DISCOVERY_MIC, P0 = octets 0..23 (all
  before the MIC), P1 = UTC-based counter)`` [EMU until 33.303 Annex G is checked; A.2 shape].
* **DUCK** — optional message-specific confidentiality [V 33.503 A.7, the 5G copy of 33.303
  A.6]: ``KEY = 128 LSBs of KDF(DUCK, counter, MIC)``, 128-EEA2 with COUNT = counter, BEARER 0,
  DIRECTION 0, LENGTH = 232 − (8 + 8 + 32) = 184 bits (the octets between the Message Type and
  the MIC); the keystream is ANDed with ``Encrypted_bits_mask ‖ 0xFF..FF`` and XORed in.
* **DUSK** — scrambling [R A.5]: ``time-hash-bitsequence = 224 LSBs of KDF(DUSK, counter with
  its 4 LSBs = 0)``, XORed over every octet but the Message Type (so it changes every 16 s).

Sender order MIC → confidentiality → scrambling (:func:`protect`); the receiver reverses it.
Because the MIC covers the *plaintext* and is an input of the confidentiality KEY, a receiver
must decrypt before it can check the MIC; nothing decrypted is trusted before the MIC passes.

The UTC-based counter is the 32-bit UTC time in seconds; only its 8 LSBs are sent. The receiver
rebuilds C as the value with ``C mod 256 = LSB`` nearest its own clock (:func:`rebuild_counter`)
and rejects ``|C − now| > MAX_OFFSET`` (32 s, 36.508 Table 4.7F.1-2).

FC values of A.2, A.5, A.6 and A.8 are not confirmed against spec text (PROTOCOL.md §11 item 3);
they live below, tagged, and only need to agree between prose_mesh nodes.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Final

from prose_mesh.constants import (
    FC_DISCOVERY_CONF,
    FC_DISCOVERY_KEYS,
    FC_DISCOVERY_MIC,
    FC_DISCOVERY_SCRAMBLE,
)
from prose_mesh.crypto.kdf import kdf
from prose_mesh.crypto.pdcp_cipher import eea2
from prose_mesh.errors import CryptoError

__all__ = [
    "BODY_LEN",
    "DISCOVERY_LEN",
    "DUCK",
    "DUIK",
    "DUSK",
    "FC_DISCOVERY_CONF",
    "FC_DISCOVERY_SCRAMBLE",
    "MIC_OFFSET",
    "UTC_OFFSET",
    "DiscoveryKeys",
    "DiscoverySecurityError",
    "apply_confidentiality",
    "confidentiality_keystream",
    "counter_bytes",
    "derive_discovery_key",
    "discovery_mic",
    "protect",
    "rebuild_counter",
    "scramble",
    "scrambling_keystream",
    "verify_mic",
]

# KDF function codes live in prose_mesh.constants (FC_DISCOVERY_*).

# P0 distinguishers of the PSDK → DUIK/DUSK/DUCK derivation [R A.8; values EMU]
DUIK: Final = 0x00
DUSK: Final = 0x01
DUCK: Final = 0x02

DISCOVERY_LEN: Final = 29
MIC_OFFSET: Final = 24  # octets 0..23 precede the MIC
UTC_OFFSET: Final = 28  # the UTC-based counter LSB is the last octet
BODY_LEN: Final = MIC_OFFSET - 1  # 184 bits between Message Type and MIC (A.7 LENGTH)
_SCRAMBLE_LEN: Final = DISCOVERY_LEN - 1  # 224 bits: all but the Message Type
_MASK32: Final = 0xFFFF_FFFF


class DiscoverySecurityError(CryptoError):
    """A discovery security input is unusable (wrong key or message size)."""

    reason = "MALFORMED"


def _need(value: bytes, length: int, what: str) -> bytes:
    value = bytes(value)
    if len(value) != length:
        raise DiscoverySecurityError(f"{what} is {len(value)} octets, not {length}")
    return value


def counter_bytes(counter: int) -> bytes:
    """The 32-bit UTC-based counter as 4 big-endian octets (wraps in 2106)."""
    return (int(counter) & _MASK32).to_bytes(4, "big")


def derive_discovery_key(psdk: bytes, which: int) -> bytes:
    """33.303 A.8 [R]: DUIK/DUSK/DUCK = KDF(PSDK, FC_DISCOVERY_KEYS, P0 = which (1 octet)).

    ``which`` is :data:`DUIK`, :data:`DUSK` or :data:`DUCK`. The PSDK and the result are 256 bits.
    """
    if which not in (DUIK, DUSK, DUCK):
        raise DiscoverySecurityError(f"unknown discovery key type {which}")
    return kdf(_need(psdk, 32, "PSDK"), FC_DISCOVERY_KEYS, bytes([which]))


@dataclass(frozen=True, slots=True)
class DiscoveryKeys:
    """The keys one PSDK yields; ``dusk``/``duck`` are None when the PKMF configuration does
    not use scrambling / message-specific confidentiality (24.334 §10A.2.1)."""

    duik: bytes
    dusk: bytes | None
    duck: bytes | None

    @classmethod
    def from_psdk(
        cls, psdk: bytes, *, scrambling: bool = True, confidentiality: bool = False
    ) -> DiscoveryKeys:
        return cls(
            duik=derive_discovery_key(psdk, DUIK),
            dusk=derive_discovery_key(psdk, DUSK) if scrambling else None,
            duck=derive_discovery_key(psdk, DUCK) if confidentiality else None,
        )


def discovery_mic(duik: bytes, head: bytes, counter: int) -> bytes:
    """MIC = 32 LSBs of KDF(DUIK, FC, P0 = octets 0..23, L0 = 0x0018, P1 = counter, L1 = 4)."""
    out = kdf(_need(duik, 32, "DUIK"), FC_DISCOVERY_MIC, _need(head, MIC_OFFSET, "MIC input"),
              counter_bytes(counter))
    return out[-4:]


def verify_mic(duik: bytes, message: bytes, counter: int) -> bool:
    """Constant-time check of the MIC field of a plaintext (descrambled, decrypted) message."""
    message = _need(message, DISCOVERY_LEN, "PC5_DISCOVERY")
    expected = discovery_mic(duik, message[:MIC_OFFSET], counter)
    return hmac.compare_digest(expected, message[MIC_OFFSET:UTC_OFFSET])


def scrambling_keystream(dusk: bytes, counter: int) -> bytes:
    """A.5 [R]: the 224 LSBs of KDF(DUSK, FC, P0 = counter with its 4 LSBs zeroed, L0 = 4)."""
    slot = int(counter) & ~0xF
    return kdf(_need(dusk, 32, "DUSK"), FC_DISCOVERY_SCRAMBLE, counter_bytes(slot))[
        -_SCRAMBLE_LEN:
    ]


def scramble(message: bytes, keystream: bytes) -> bytes:
    """XOR ``0x00 ‖ time-hash-bitsequence`` into the message (an involution)."""
    message = _need(message, DISCOVERY_LEN, "PC5_DISCOVERY")
    keystream = _need(keystream, _SCRAMBLE_LEN, "scrambling keystream")
    return message[:1] + bytes(a ^ b for a, b in zip(message[1:], keystream, strict=True))


def confidentiality_keystream(duck: bytes, counter: int, mic: bytes, mask: bytes) -> bytes:
    """33.503 A.7: EEA2 keystream under KEY = 128 LSBs of KDF(DUCK, counter, MIC), ANDed with
    ``Encrypted_bits_mask ‖ 0xFF..FF`` (``mask`` of at most 23 octets)."""
    if len(mask) > BODY_LEN:
        raise DiscoverySecurityError(f"Encrypted_bits_mask longer than {BODY_LEN} octets")
    key = kdf(_need(duck, 32, "DUCK"), FC_DISCOVERY_CONF, counter_bytes(counter),
              _need(mic, 4, "MIC"))[-16:]
    raw = eea2(key, int(counter) & _MASK32, 0, 0, bytes(BODY_LEN))
    full_mask = bytes(mask) + b"\xff" * (BODY_LEN - len(mask))
    return bytes(a & b for a, b in zip(raw, full_mask, strict=True))


def apply_confidentiality(message: bytes, duck: bytes, counter: int, mask: bytes) -> bytes:
    """Encrypt or decrypt (same XOR) the 184 body bits of a descrambled message; the MIC field
    of ``message`` is the KEY input, so it must already be set."""
    message = _need(message, DISCOVERY_LEN, "PC5_DISCOVERY")
    ks = confidentiality_keystream(duck, counter, message[MIC_OFFSET:UTC_OFFSET], mask)
    body = bytes(a ^ b for a, b in zip(message[1:MIC_OFFSET], ks, strict=True))
    return message[:1] + body + message[MIC_OFFSET:]


def protect(plain: bytes, keys: DiscoveryKeys, counter: int, *, mask: bytes = b"") -> bytes:
    """Sender side: set MIC and counter LSB, then confidentiality (if DUCK), then scrambling
    (if DUSK). ``plain`` is a 29-octet message whose MIC and LSB fields are overwritten."""
    plain = _need(plain, DISCOVERY_LEN, "PC5_DISCOVERY")
    head = plain[:MIC_OFFSET]
    msg = head + discovery_mic(keys.duik, head, counter) + bytes([int(counter) & 0xFF])
    if keys.duck is not None:
        msg = apply_confidentiality(msg, keys.duck, counter, mask)
    if keys.dusk is not None:
        msg = scramble(msg, scrambling_keystream(keys.dusk, counter))
    return msg


def rebuild_counter(lsb: int, now_counter: int) -> int:
    """The counter C with ``C mod 256 = lsb`` nearest ``now_counter`` (C in [now−128, now+127])."""
    diff = (int(lsb) - int(now_counter)) & 0xFF
    if diff >= 128:
        diff -= 256
    return int(now_counter) + diff
