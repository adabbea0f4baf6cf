"""Opening heard one-to-many group-bearer frames with group keys an attacker role holds.

TS 33.303 §6.5 (PC5 one-to-many: PDCP ciphered under a PTK derived from the PGK, the source
Layer-2 ID and a PTK ID) and PROTOCOL.md §5. A GMK I_MESSAGE on the group bearer travels inside
such a frame (IPv6/UDP to port 2269, TS 33.180 §7.3), so a passive role can read the MIKEY
message only if it holds the group's PGK: an insider member does, an outsider does not, and the
H3 / D5 instruments are handed the PGKs by the harness (:mod:`prose_mesh.scenario.attacks`).
Frames sent in clear (PGK index 0 and PTK ID 0) open without any key.
"""

from __future__ import annotations

from collections.abc import Iterable

from prose_mesh.errors import ProseMeshError
from prose_mesh.protocol.pdcp import O2mReceiver
from prose_mesh.wire import fast
from prose_mesh.wire.ipudp import UdpDatagram, parse_udp6


class GroupKeys:
    """PGKs by group Layer-2 ID; :meth:`open` gives the IPv6/UDP datagram of a group frame."""

    def __init__(self, keys: Iterable[tuple[int, int, bytes]] = ()) -> None:
        #: group L2 ID -> {PGK index (5 bits): PGK}
        self.pgks: dict[int, dict[int, bytes]] = {}
        for group_l2, pgk_id, pgk in keys:
            self.add(group_l2, pgk_id, pgk)

    def add(self, group_l2: int, pgk_id: int, pgk: bytes) -> None:
        self.pgks.setdefault(group_l2, {})[pgk_id & 0x1F] = pgk

    def __bool__(self) -> bool:
        return bool(self.pgks)

    def open(self, frame: bytes) -> tuple[fast.Pc5Pdu, UdpDatagram] | None:
        """(PDU, datagram) of a one-to-many frame in clear or under a held PGK; else None."""
        try:
            _mac, pdu = fast.parse_frame(frame)
            pdcp = pdu.pdcp
            if not isinstance(pdcp, fast.PdcpO2M):
                return None
            if pdcp.pgk_index == 0 and pdcp.ptk_id == 0:
                plain = pdu.body
            else:
                held = self.pgks.get(pdu.shim.dst_l2id)
                if not held or pdcp.pgk_index not in held:
                    return None
                rx = O2mReceiver(group_l2id=pdu.shim.dst_l2id, pgks=dict(held))
                plain = rx.unprotect(
                    pdu.shim.src_l2id, pdu.shim.lcid, pdcp.pgk_index, pdcp.ptk_id, pdcp.sn, pdu.body
                )
            return pdu, parse_udp6(plain)
        except ProseMeshError:
            return None
