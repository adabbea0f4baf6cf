"""MIKEY-SAKKE identities: RFC 6509 date-stamped IDs and the TS 33.180 Annex F.2.1 UID.

* RFC 6509 §3.2 (ID scheme 1): ``"YYYY-MM" 0x00 "tel:+<digits>" 0x00`` (monthly keys).
* TS 33.180 F.2.1 (33.179 F.2.1): ``UID = SHA-256(0x00 || "MIKEY-SAKKE-UID" || 0x000F ||
  P1 || L1 || ... || P5 || L5)`` with P1 the user (or ME) URI, P2 the KMS URI, P3 the key
  period length in seconds, P4 its offset in seconds and P5 the period number; P3..P5 are
  minimal big-endian integers (0 -> 0x00); Li are 2 octets. Plain SHA-256 with a dummy FC,
  not the HMAC KDF (PROTOCOL.md §6.3).
* Out-of-the-box ME identities [EMU]: a public-safety ME is named by its IMEI as the RFC 7254
  URN ``urn:gsma:imei:TTTTTTTT-SSSSSS-C`` (TAC, serial number, Luhn check digit) and turned into
  a UID exactly like a user URI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from prose_mesh.crypto._util import sha256
from prose_mesh.errors import ConfigError

__all__ = [
    "NTP_UNIX_OFFSET",
    "Identity",
    "date_stamped_id",
    "imei_urn",
    "key_period_number",
    "mikey_sakke_uid",
]

NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP epoch) to 1970-01-01
_UID_PREFIX = b"\x00MIKEY-SAKKE-UID\x00\x0f"  # dummy FC 0x00, the string, its length 15
_TEL = re.compile(r"^tel:\+[0-9]{1,15}$")
_IMEI_URN = re.compile(r"^urn:gsma:imei:([0-9]{8})-([0-9]{6})-([0-9])$")


def date_stamped_id(year: int, month: int, tel_uri: str) -> bytes:
    """RFC 6509 §3.2 identity, e.g. ``2011-02\\0tel:+447700900123\\0``."""
    if not 1 <= month <= 12 or not 0 <= year <= 9999:
        raise ConfigError(f"bad year/month {year}-{month}")
    if not _TEL.match(tel_uri):
        raise ConfigError(f"not a global tel URI: {tel_uri!r}")
    return f"{year:04d}-{month:02d}".encode() + b"\x00" + tel_uri.encode() + b"\x00"


def _minimal(n: int) -> bytes:
    if n < 0:
        raise ConfigError(f"UID integer parameters must be >= 0, got {n}")
    return n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")


def _param(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise ConfigError("UID parameter longer than 65535 octets")
    return data + len(data).to_bytes(2, "big")


def mikey_sakke_uid(
    uri: str | bytes, kms_uri: str | bytes, period: int, offset: int, number: int
) -> bytes:
    """The 32-octet MIKEY-SAKKE UID of TS 33.180 F.2.1 (signer ID and SAKKE identity b)."""
    u = uri.encode() if isinstance(uri, str) else bytes(uri)
    k = kms_uri.encode() if isinstance(kms_uri, str) else bytes(kms_uri)
    return sha256(
        _UID_PREFIX,
        _param(u),
        _param(k),
        _param(_minimal(period)),
        _param(_minimal(offset)),
        _param(_minimal(number)),
    )


def key_period_number(now_unix: float, period: int, offset: int) -> int:
    """P5 = floor((now_NTP_s - offset) / period), NTP seconds counted from 1900-01-01."""
    if period <= 0:
        raise ConfigError("key period length must be > 0")
    ntp = int(now_unix) + NTP_UNIX_OFFSET
    if ntp < offset:
        raise ConfigError("time is before the key period offset")
    return (ntp - offset) // period


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def imei_urn(imei: str) -> str:
    """RFC 7254 URN of a 15-digit IMEI (separators ignored): ``urn:gsma:imei:TAC-SNR-D``.

    Only the format is checked. The last digit is carried as given [R: RFC 7254 calls it the
    spare digit, TS 23.003 §6.2.1 the check digit, and MEs transmit it as 0]; whether it is the
    Luhn check digit is reported by :func:`imei_check_digit_ok`, not enforced, so that emulated
    fleets may use any 15-digit IMEIs.
    """
    digits = re.sub(r"[\s-]", "", imei)
    if not re.fullmatch(r"[0-9]{15}", digits):
        raise ConfigError(f"not a 15-digit IMEI: {imei!r}")
    return f"urn:gsma:imei:{digits[:8]}-{digits[8:14]}-{digits[14]}"


def imei_check_digit_ok(imei: str) -> bool:
    """Does the 15th digit equal the TS 23.003 Annex B Luhn check digit of the first 14?"""
    digits = re.sub(r"[\s-]", "", imei)
    return bool(re.fullmatch(r"[0-9]{15}", digits)) and _luhn_ok(digits)


@dataclass(frozen=True)
class Identity:
    """A MIKEY-SAKKE principal: a user (MC service ID URI) or an ME (IMEI URN)."""

    uri: str
    kind: Literal["user", "me"]
    kms_uri: str
    period: int
    offset: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("user", "me"):
            raise ConfigError(f"kind must be 'user' or 'me', got {self.kind!r}")
        if self.kind == "me" and not _IMEI_URN.match(self.uri):
            raise ConfigError(f"an ME identity must be an IMEI URN, got {self.uri!r}")
        if self.period <= 0 or self.offset < 0:
            raise ConfigError("key period must be > 0 and offset >= 0")

    @classmethod
    def me(cls, imei: str, *, kms_uri: str, period: int, offset: int = 0) -> Identity:
        return cls(imei_urn(imei), "me", kms_uri, period, offset)

    def period_number(self, now_unix: float) -> int:
        return key_period_number(now_unix, self.period, self.offset)

    def uid(self, period_no: int) -> bytes:
        return mikey_sakke_uid(self.uri, self.kms_uri, self.period, self.offset, period_no)
