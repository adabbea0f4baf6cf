"""MIKEY-SAKKE I_MESSAGE (RFC 3830 §6, RFC 6043 §6, RFC 6509 §4; TS 33.180 Annex E), reference side.

A deliberately small, independent walker and builder used only by ``generate.py`` to decide the
``result`` of ``mikey_sakke_imessage.json``. Written from the RFC payload layouts, not from
``prose_mesh.wire``: the product is never its own oracle.

Acceptance rule (the meaning of ``valid`` in the vector file): the octets are one strictly
well-formed I_MESSAGE — HDR version 1, data type 26 (SAKKE), PRF 1 (PRF-HMAC-SHA-256), V = 0, a
well-formed CS ID map (SRTP-ID 0, empty 1, GENERIC-ID 2); then a next-payload chain of known
payloads (T 5, RAND 11 with >= 16 octets, IDR 14, SP 10, SAKKE 26, General Extension 21), none
but IDR and General Extension repeated, ending in SIGN (4) with S type 2 (ECCSI) and length 129,
nothing after it; T, RAND and SAKKE present; SAKKE parameter set 1 with 273 data octets. IDR role
8 (initiator UID) must be the group's initiator and role 9 (responder UID) the recipient; the
ECCSI signature over everything before the 129 signature octets verifies for the initiator, and
SAKKE decapsulation (with the §6.2.2 step 5 check) succeeds for the recipient.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import eccsi, sakke

SIG_LEN = 129
SAKKE_DATA = 273
_TS = {0: 8, 1: 8, 2: 4}
_KNOWN = {5, 10, 11, 14, 21, 26}
_REPEAT = {14, 21}


@dataclass
class Parsed:
    """What the reference extracts from a well-formed message."""

    idr: dict[int, bytes]
    sakke_data: bytes
    signed: bytes
    signature: bytes


def _u(data: bytes, at: int, n: int) -> int | None:
    if at + n > len(data):
        return None
    return int.from_bytes(data[at : at + n], "big")


def parse(data: bytes) -> Parsed | None:
    """The strict walk; None for anything that is not a well-formed I_MESSAGE."""
    if len(data) < 10 or data[0] != 1 or data[1] != 26 or data[3] != 1:
        return None
    nxt, ncs, map_type = data[2], data[8], data[9]
    at = 10
    if map_type == 0:
        at += 9 * ncs
    elif map_type == 1:
        if ncs:
            return None
    elif map_type == 2:
        for _ in range(ncs):
            npol = _u(data, at + 2, 1)
            if npol is None:
                return None
            at += 3 + (npol & 0x7F)
            sess = _u(data, at, 2)
            if sess is None:
                return None
            at += 2 + sess
            spi = _u(data, at, 1)
            if spi is None:
                return None
            at += 1 + spi
    else:
        return None
    if at > len(data):
        return None
    seen: list[int] = []
    idr: dict[int, bytes] = {}
    sakke_data: bytes | None = None
    while nxt != 4:
        if nxt not in _KNOWN or (nxt in seen and nxt not in _REPEAT) or len(seen) >= 24:
            return None
        seen.append(nxt)
        kind = nxt
        if at >= len(data):
            return None
        nxt = data[at]
        if kind == 5:
            ts = _u(data, at + 1, 1)
            if ts not in _TS:
                return None
            size = 2 + _TS[ts]
        elif kind == 11:
            n = _u(data, at + 1, 1)
            if n is None or n < 16:
                return None
            size = 2 + n
        elif kind == 14:
            role, id_type, n = _u(data, at + 1, 1), _u(data, at + 2, 1), _u(data, at + 3, 2)
            if role is None or id_type is None or n is None or not 1 <= role <= 9 or id_type > 2:
                return None
            size = 5 + n
            if at + size <= len(data):
                idr.setdefault(role, data[at + 5 : at + size])
        elif kind == 10:
            n = _u(data, at + 3, 2)
            if n is None:
                return None
            size = 5 + n
            p, end = at + 5, at + size  # {type, length, value} parameters fill it exactly
            while p < end:
                ln = _u(data, p + 1, 1)
                if ln is None or p + 2 + ln > end:
                    return None
                p += 2 + ln
        elif kind == 26:
            params, n = _u(data, at + 1, 1), _u(data, at + 3, 2)
            if params != 1 or n != SAKKE_DATA:
                return None
            size = 5 + n
            sakke_data = data[at + 5 : at + size]
        else:  # 21
            n = _u(data, at + 2, 2)
            if n is None:
                return None
            size = 4 + n
        if at + size > len(data):
            return None
        at += size
    if not {5, 11, 26} <= set(seen) or sakke_data is None:
        return None
    st = _u(data, at, 2)
    if st is None or st >> 12 != 2 or st & 0xFFF != SIG_LEN or at + 2 + SIG_LEN != len(data):
        return None
    return Parsed(idr, sakke_data, data[: at + 2], data[at + 2 :])


def accept(
    data: bytes, *, initiator: bytes, recipient: bytes, kpak: bytes, zp: bytes, rsk: bytes
) -> bytes | None:
    """The SSV if the acceptance rule of the module docstring holds, else None."""
    msg = parse(data)
    if msg is None or msg.idr.get(8) != initiator or msg.idr.get(9) != recipient:
        return None
    if not eccsi.verify(msg.signed, msg.signature, identity=initiator, kpak=kpak):
        return None
    return sakke.decapsulate(msg.sakke_data, identity=recipient, rsk=rsk, zp=zp)


# ---- building (for the generator's crafted cases) --------------------------------------------


def chain(hdr: bytes, payloads: list[tuple[int, bytes]]) -> bytes:
    """HDR (its next-payload octet at index 2 filled in) + payloads + SIGN S type/length.

    ``payloads`` are (type, body without the next-payload octet)."""
    types = [pt for pt, _ in payloads] + [4]
    out = bytearray(hdr)
    out[2] = types[0]
    for i, (_pt, body) in enumerate(payloads):
        out += bytes([types[i + 1]]) + body
    out += ((2 << 12) | SIG_LEN).to_bytes(2, "big")
    return bytes(out)


def split(data: bytes) -> tuple[bytes, list[tuple[int, bytes]]]:
    """(HDR, [(type, body)]) of a well-formed message (the inverse of :func:`chain`)."""
    msg = parse_layout(data)
    if msg is None:
        raise ValueError("not a well-formed message")
    return msg


def parse_layout(data: bytes) -> tuple[bytes, list[tuple[int, bytes]]] | None:
    """Layout only: the HDR octets and each payload's body, for re-assembly by :func:`chain`."""
    if parse(data) is None:
        return None
    nxt, ncs, map_type = data[2], data[8], data[9]
    at = 10
    if map_type == 0:
        at += 9 * ncs
    elif map_type == 2:
        for _ in range(ncs):
            at += 3 + (data[at + 2] & 0x7F)
            at += 2 + int.from_bytes(data[at : at + 2], "big")
            at += 1 + data[at]
    hdr = data[:at]
    out: list[tuple[int, bytes]] = []
    while nxt != 4:
        kind, nxt = nxt, data[at]
        if kind == 5:
            size = 2 + _TS[data[at + 1]]
        elif kind == 11:
            size = 2 + data[at + 1]
        elif kind in (14, 10, 26):
            size = 5 + int.from_bytes(data[at + 3 : at + 5], "big")
        else:
            size = 4 + int.from_bytes(data[at + 2 : at + 4], "big")
        out.append((kind, data[at + 1 : at + size]))
        at += size
    return hdr, out
