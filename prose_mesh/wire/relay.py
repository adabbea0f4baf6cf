"""[EMU] The relay envelope: a whole PC5 frame forwarded by a UE-to-UE relay, with a hop limit.

3GPP has no multi-hop sidelink relay in the releases prose_mesh follows (Rel-13 relays are one
hop, and the Rel-18 UE-to-UE relay is an adaptation layer this emulator does not model), so a
relayed frame travels in an emulator-defined envelope built from standard pieces:

* the PC5-EMU shim (PROTOCOL.md §1.1) on SL-SCH with :data:`LCID_RELAY` (an SLRB, LCIDs
  1-10), CAST 0 (broadcast: every neighbour may be the next hop), SRC = the forwarding relay's
  Layer-2 ID, DST = the DST of the frame inside (a group's L2 ID or the far UE's L2 ID);
* a one-to-many PDCP header (TS 36.323 §6.2.10) with SDU type 3 (Non-IP), PGK index 0 and
  PTK ID 0 (the relay adds no protection: the frame inside keeps its own end to end), and the
  SN of the relay's own forwarding counter (16 bits, wrapping) so that a neighbour can count
  the frames a relay lost or reordered on that hop;
* the 3-octet relay header: ``VER(4)=1 | R(4)``, ``HOP LIMIT(8)`` (hops the frame may still
  take after this one, RFC 8200 style), ``HOPS(8)`` (hops taken so far, 1 on the first);
* the inner frame: the original Ethernet payload (shim + PDCP + SDU), unchanged.

An honest relay never alters the inner frame, so its octets name it for duplicate suppression.
"""

from __future__ import annotations

import struct
from typing import Final, NamedTuple

from prose_mesh.wire import fast
from prose_mesh.wire._common import BAD_HEADER, TRUNCATED, fail

LCID_RELAY: Final = 10  # [EMU] the SLRB of relayed frames
RELAY_VERSION: Final = 1
RELAY_HDR_LEN: Final = 3
MAX_HOP_LIMIT: Final = 15  # [EMU] a relay refuses envelopes claiming more
_RHDR = struct.Struct(">BBB")


class Envelope(NamedTuple):
    relay_l2id: int  # the relay that sent this copy
    sn: int  # the relay's forwarding counter
    hop_limit: int  # hops the inner frame may still take after this one
    hops: int  # hops taken so far (1 = one relay between the origin and me)
    inner: bytes  # the forwarded Ethernet payload (shim + PDCP + SDU)


def is_envelope(pdu: fast.Pc5Pdu) -> bool:
    """A parsed PC5 PDU that is a relay envelope (cheap: three header fields)."""
    shim = pdu.shim
    return (shim.lcid == LCID_RELAY and shim.channel == fast.CH_SL_SCH
            and shim.cast == fast.CAST_BROADCAST)  # fmt: skip


def build_envelope(relay_l2id: int, sn: int, hop_limit: int, hops: int, inner: bytes) -> bytes:
    """The Ethernet payload of a relayed copy of ``inner``."""
    if not 0 <= hop_limit <= MAX_HOP_LIMIT or not 1 <= hops <= 255:
        raise ValueError("hop limit 0..15 and hops 1..255")
    dst = int.from_bytes(inner[5:8], "big") if len(inner) >= fast.SHIM_LEN else 0xFFFFFF
    return fast.build_sl_sch(
        lcid=LCID_RELAY, src_l2id=relay_l2id, dst_l2id=dst, cast=fast.CAST_BROADCAST,
        sdu_type=fast.SDU_NON_IP, sdu=_RHDR.pack(RELAY_VERSION << 4, hop_limit, hops) + inner,
        key_id=0, sn=sn & 0xFFFF,
    )  # fmt: skip


def parse_envelope(pdu: fast.Pc5Pdu) -> Envelope:
    """The envelope in a PDU for which :func:`is_envelope` holds; strict on its own fields
    (the inner frame is parsed by the receive path like any frame)."""
    pdcp = pdu.pdcp
    if not isinstance(pdcp, fast.PdcpO2M) or pdcp.sdu_type != fast.SDU_NON_IP:
        raise fail(BAD_HEADER, "relay envelope must carry SDU type Non-IP")
    if pdcp.pgk_index or pdcp.ptk_id:
        raise fail(BAD_HEADER, "relay envelope is not PDCP-ciphered")
    body = pdu.body
    if len(body) < RELAY_HDR_LEN + fast.SHIM_LEN:
        raise fail(TRUNCATED, f"relay envelope of {len(body)} octets")
    ver, hop_limit, hops = _RHDR.unpack_from(body)
    if ver != RELAY_VERSION << 4:
        raise fail(BAD_HEADER, f"relay header version/reserved {ver:#04x}")
    if hop_limit > MAX_HOP_LIMIT or hops == 0:
        raise fail(BAD_HEADER, f"relay hop limit {hop_limit}, hops {hops}")
    return Envelope(pdu.shim.src_l2id, pdcp.sn, hop_limit, hops, body[RELAY_HDR_LEN:])
