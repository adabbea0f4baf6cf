"""Fast codecs for the per-packet headers: PC5-EMU shim (PROTOCOL.md §1.1) + sidelink PDCP.

TS 36.323 §6.2.10 (SLRB PDCP PDU) on top of the 11-octet PC5-EMU shim [EMU]. These functions use
:mod:`struct` only and return plain NamedTuples, because every media packet goes through them;
:mod:`prose_mesh.wire.pc5` is the readable Scapy reference and ``tests/wire`` proves both agree
byte for byte.

Shim rules (PROTOCOL.md §1.1): the Ethernet payload must hold 11 + LEN octets (else
``TRUNCATED``); octets beyond LEN (Ethernet padding) are ignored; VER ≠ 1, a reserved channel
(CH ≥ 2), CAST > 2 or an LCID not allowed on the channel → ``BAD_HEADER``.

PDCP format selection [EMU]: CAST 2 (one-to-one) → ``SDU type | R | KD-sess ID | SN`` with a
trailing 32-bit MAC-I on the PC5-S LCIDs 29/30 (integrity applies there, 36.523-1 §19.1.10);
otherwise the one-to-many ``SDU type | PGK index | PTK ID | SN``. SL-DCH carries the 29-octet
PC5_DISCOVERY message with no PDCP.
"""

from __future__ import annotations

import struct
from typing import Final, NamedTuple

from prose_mesh.wire._common import BAD_HEADER, BAD_LENGTH, TRUNCATED, UNKNOWN_TYPE, fail

ETHERTYPE_PC5: Final = 0x88B5
BROADCAST_MAC: Final = b"\xff" * 6
SHIM_LEN: Final = 11
PDCP_LEN: Final = 5
MAC_I_LEN: Final = 4
ETH_LEN: Final = 14
MAX_SDU: Final = 1480  # 1500 − shim − PDCP − MAC-I (no segmentation)
DISCOVERY_LEN: Final = 29

CH_SL_SCH: Final = 0
CH_SL_DCH: Final = 1
CAST_BROADCAST: Final = 0
CAST_ONE_TO_MANY: Final = 1
CAST_ONE_TO_ONE: Final = 2

LCID_PC5S_PLAIN: Final = 28  # PC5-S not protected
LCID_PC5S_DSM: Final = 29  # DSM COMMAND / COMPLETE
LCID_PC5S_PROTECTED: Final = 30  # other protected PC5-S
LCIDS_WITH_MAC_I: Final = frozenset((LCID_PC5S_DSM, LCID_PC5S_PROTECTED))
LCIDS_PC5S: Final = frozenset((LCID_PC5S_PLAIN, LCID_PC5S_DSM, LCID_PC5S_PROTECTED))

SDU_IP: Final = 0
SDU_ARP: Final = 1
SDU_PC5S: Final = 2
SDU_NON_IP: Final = 3

_SHIM = struct.Struct(">IIBH")
_PDCP = struct.Struct(">BHH")
_HDR = struct.Struct(">IIBHBHH")  # shim + PDCP in one call (the per-packet path)
_ETH = struct.Struct(">6s6sH")
_MAC_I = struct.Struct(">I")


class Shim(NamedTuple):
    """The PC5-EMU shim fields (PROTOCOL.md §1.1)."""

    version: int
    channel: int
    lcid: int
    src_l2id: int
    dst_l2id: int
    pppp: int
    cast: int
    length: int


class PdcpO2M(NamedTuple):
    """One-to-many SLRB PDCP header (36.323 §6.2.10): SDU type 3, PGK index 5, PTK ID, SN."""

    sdu_type: int
    pgk_index: int
    ptk_id: int
    sn: int


class PdcpO2O(NamedTuple):
    """One-to-one PDCP header: SDU type 3, R 5, KD-sess ID 16, SN 16; MAC-I when integrity."""

    sdu_type: int
    reserved: int
    kdsess_id: int
    sn: int
    mac_i: int | None


class Pc5Pdu(NamedTuple):
    """A parsed PC5-EMU payload: shim, PDCP header (None on SL-DCH) and the body octets."""

    shim: Shim
    pdcp: PdcpO2M | PdcpO2O | None
    body: bytes


def build_shim(
    channel: int,
    lcid: int,
    src_l2id: int,
    dst_l2id: int,
    pppp: int,
    cast: int,
    length: int,
    version: int = 1,
) -> bytes:
    """Pack the 11-octet shim; field ranges are the caller's contract (struct checks overflow)."""
    return _SHIM.pack(
        (((version << 4) | channel) << 24) | (lcid << 16) | (src_l2id >> 8),
        ((src_l2id & 0xFF) << 24) | dst_l2id,
        (pppp << 4) | cast,
        length,
    )


def build_pdcp_o2m(sdu_type: int, pgk_index: int, ptk_id: int, sn: int) -> bytes:
    return _PDCP.pack((sdu_type << 5) | pgk_index, ptk_id, sn)


def build_pdcp_o2o(sdu_type: int, kdsess_id: int, sn: int, reserved: int = 0) -> bytes:
    return _PDCP.pack((sdu_type << 5) | reserved, kdsess_id, sn)


def build_sl_sch(
    *,
    lcid: int,
    src_l2id: int,
    dst_l2id: int,
    cast: int,
    sdu_type: int,
    sdu: bytes,
    key_id: int = 0,
    sn: int = 0,
    pgk_index: int = 0,
    mac_i: int | None = None,
    pppp: int = 0,
) -> bytes:
    """Shim + PDCP + SDU (+ MAC-I) for SL-SCH. ``key_id`` is the PTK ID or the KD-sess ID.

    One-to-one PDUs on LCID 29/30 must carry ``mac_i``; no other PDU may.
    """
    has_mac = cast == CAST_ONE_TO_ONE and lcid in LCIDS_WITH_MAC_I
    if has_mac != (mac_i is not None):
        raise ValueError("MAC-I is carried exactly on one-to-one PDUs of LCID 29/30")
    first = (sdu_type << 5) | (0 if cast == CAST_ONE_TO_ONE else pgk_index)
    length = PDCP_LEN + len(sdu) + (MAC_I_LEN if has_mac else 0)
    head = _HDR.pack(
        0x10000000 | (lcid << 16) | (src_l2id >> 8),
        ((src_l2id & 0xFF) << 24) | dst_l2id,
        (pppp << 4) | cast,
        length,
        first,
        key_id,
        sn,
    )
    if has_mac:
        return head + sdu + _MAC_I.pack(mac_i)
    return head + sdu


def build_sl_dch(src_l2id: int, message: bytes) -> bytes:
    """Shim + 29-octet PC5_DISCOVERY (SL-DCH: LCID 0, DST 0xFFFFFF, no PDCP)."""
    if len(message) != DISCOVERY_LEN:
        raise ValueError("PC5_DISCOVERY is exactly 29 octets")
    return build_shim(CH_SL_DCH, 0, src_l2id, 0xFFFFFF, 0, CAST_BROADCAST, DISCOVERY_LEN) + message


def ethernet(src_mac: bytes, payload: bytes) -> bytes:
    """Ethernet II to ff:ff:ff:ff:ff:ff with EtherType 0x88B5 (PROTOCOL.md §1.1)."""
    return _ETH.pack(BROADCAST_MAC, src_mac, ETHERTYPE_PC5) + payload


def parse_shim(data: bytes) -> tuple[Shim, bytes]:
    """Strictly parse the shim of an Ethernet payload; returns it and exactly LEN octets."""
    if len(data) < SHIM_LEN:
        raise fail(TRUNCATED, f"PC5-EMU shim needs 11 octets, got {len(data)}")
    w0, w1, pc, length = _SHIM.unpack_from(data)
    version = w0 >> 28
    channel = (w0 >> 24) & 0xF
    lcid = (w0 >> 16) & 0xFF
    cast = pc & 0xF
    if version != 1:
        raise fail(BAD_HEADER, f"shim version {version}")
    if cast > CAST_ONE_TO_ONE:
        raise fail(BAD_HEADER, f"cast {cast}")
    if channel == CH_SL_SCH:
        if not (1 <= lcid <= 10 or lcid in LCIDS_PC5S):
            raise fail(BAD_HEADER, f"LCID {lcid} not allowed on SL-SCH")
    elif channel == CH_SL_DCH:
        if lcid != 0:
            raise fail(BAD_HEADER, f"LCID {lcid} on SL-DCH")
    else:
        raise fail(BAD_HEADER, f"reserved channel {channel}")
    if len(data) < SHIM_LEN + length:
        raise fail(TRUNCATED, f"LEN {length} but {len(data) - SHIM_LEN} octets follow the shim")
    shim = Shim(
        version,
        channel,
        lcid,
        ((w0 & 0xFFFF) << 8) | (w1 >> 24),
        w1 & 0xFFFFFF,
        pc >> 4,
        cast,
        length,
    )
    return shim, bytes(data[SHIM_LEN : SHIM_LEN + length])


def parse_pc5(data: bytes) -> Pc5Pdu:
    """Strictly parse an Ethernet payload: shim, then PDCP (SL-SCH) or discovery (SL-DCH).

    The body is the SDU as carried (possibly ciphered); it is not dissected here.
    """
    shim, payload = parse_shim(data)
    if shim.channel == CH_SL_DCH:
        if shim.length != DISCOVERY_LEN:
            raise fail(BAD_LENGTH, f"SL-DCH LEN {shim.length} != 29")
        return Pc5Pdu(shim, None, payload)
    if shim.length < PDCP_LEN:
        raise fail(TRUNCATED, f"PDCP header needs 5 octets, LEN {shim.length}")
    first, key_id, sn = _PDCP.unpack_from(payload)
    sdu_type = first >> 5
    if sdu_type > SDU_NON_IP:
        raise fail(UNKNOWN_TYPE, f"reserved SDU type {sdu_type}")
    pc5s_lcid = shim.lcid in LCIDS_PC5S
    if pc5s_lcid != (sdu_type == SDU_PC5S) or (pc5s_lcid and shim.cast != CAST_ONE_TO_ONE):
        raise fail(BAD_HEADER, f"SDU type {sdu_type} on LCID {shim.lcid} cast {shim.cast}")
    if shim.cast != CAST_ONE_TO_ONE:
        return Pc5Pdu(shim, PdcpO2M(sdu_type, first & 0x1F, key_id, sn), payload[PDCP_LEN:])
    if shim.lcid in LCIDS_WITH_MAC_I:
        if shim.length < PDCP_LEN + MAC_I_LEN:
            raise fail(TRUNCATED, f"MAC-I missing, LEN {shim.length}")
        (mac_i,) = _MAC_I.unpack_from(payload, shim.length - MAC_I_LEN)
        return Pc5Pdu(
            shim, PdcpO2O(sdu_type, first & 0x1F, key_id, sn, mac_i), payload[PDCP_LEN:-MAC_I_LEN]
        )
    return Pc5Pdu(shim, PdcpO2O(sdu_type, first & 0x1F, key_id, sn, None), payload[PDCP_LEN:])


def parse_frame(frame: bytes) -> tuple[bytes, Pc5Pdu]:
    """Strictly parse a whole Ethernet frame; returns (source MAC, parsed PC5 PDU)."""
    if len(frame) < ETH_LEN:
        raise fail(TRUNCATED, f"Ethernet header needs 14 octets, got {len(frame)}")
    _dst, src, ethertype = _ETH.unpack_from(frame)
    if ethertype != ETHERTYPE_PC5:
        raise fail(BAD_HEADER, f"EtherType {ethertype:#06x}")
    return src, parse_pc5(frame[ETH_LEN:])
