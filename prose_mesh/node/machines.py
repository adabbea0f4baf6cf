"""Build the protocol machines of one UE, and its one-to-many PDCP bearers.

Kept apart from :mod:`prose_mesh.node.ue` so that the wiring (which machine gets which key,
directory, policy) reads in one place. The machines themselves are in :mod:`prose_mesh.protocol`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prose_mesh.protocol.actions import Rejected
from prose_mesh.protocol.groups import GroupConfig
from prose_mesh.protocol.pdcp import O2mReceiver, O2mSender, PdcpRejected
from prose_mesh.wire import fast

if TYPE_CHECKING:
    from prose_mesh.node.ue import Ue


#: [EMU] the SLRBs (LCIDs 1-10) of IP traffic: one-to-one links, and every group's bearer.
LCID_IP_UNICAST = 1
LCID_IP_GROUP = 2


class GroupBearers:
    """The UE's one-to-many PDCP entities, one sender and one receiver per group bearer.

    A group with a pre-provisioned PGK (``pgks[group_id] = (pgk_id, pgk)``) is ciphered with
    PEKs from PTKs (TS 33.303 §6.2.3); a group without one (ad-hoc groups: no PKMF off-network)
    is unciphered and relies on SRTP/SRTCP and MIKEY for its security (PROTOCOL.md §4.3).
    """

    def __init__(self, l2id: int, pgks: dict[str, tuple[int, bytes]]) -> None:
        self.l2id = l2id
        self.pgks = pgks
        self._tx: dict[int, O2mSender] = {}
        self._rx: dict[int, O2mReceiver] = {}

    def set_pgk(self, group: GroupConfig, pgk: tuple[int, bytes]) -> None:
        """Load a group's (PGK ID, PGK), e.g. for a member added after deployment."""
        self.pgks[group.group_id] = pgk
        self._tx.pop(group.l2_group_id, None)
        self._rx.pop(group.l2_group_id, None)

    def _pgk(self, group: GroupConfig) -> tuple[int, bytes] | None:
        return self.pgks.get(group.group_id)

    def protect(self, group: GroupConfig, packet: bytes) -> tuple[int, int, int, bytes]:
        tx = self._tx.get(group.l2_group_id)
        if tx is None:
            pgk = self._pgk(group)
            tx = self._tx[group.l2_group_id] = O2mSender(
                src_l2id=self.l2id, group_l2id=group.l2_group_id,
                pgk=pgk[1] if pgk else None, pgk_id=pgk[0] if pgk else 0,
            )  # fmt: skip
        pdu = tx.protect(LCID_IP_GROUP, packet)
        return pdu.pgk_index, pdu.ptk_id, pdu.sn, pdu.body

    def unprotect(
        self, group: GroupConfig, shim: fast.Shim, pdcp: fast.PdcpO2M, body: bytes
    ) -> bytes | Rejected:
        rx = self._rx.get(group.l2_group_id)
        if rx is None:
            pgk = self._pgk(group)
            rx = self._rx[group.l2_group_id] = O2mReceiver(
                group_l2id=group.l2_group_id,
                pgks={pgk[0] & 0x1F: pgk[1]} if pgk else {},
                allow_unciphered=pgk is None,
            )  # fmt: skip
        try:
            return rx.unprotect(shim.src_l2id, shim.lcid, pdcp.pgk_index, pdcp.ptk_id, pdcp.sn,
                                body)
        except PdcpRejected as exc:
            return Rejected("group_pdcp", exc.reason, f"{shim.src_l2id:06x}", exc.detail)


def user_info(uri: str) -> bytes:
    """[EMU] the 48-bit Announcer/Discoverer Info of a UE: SHA-256(URI)[0:6]."""
    return hashlib.sha256(uri.encode()).digest()[:6]


@dataclass
class Machines:
    links: Any
    gmk_member: Any
    gmk_distributor: Any
    calls: Any
    discovery: Any
    pdcp: GroupBearers


def build(ue: Ue) -> Machines:
    """The machines of ``ue``, wired to its key material, directory and policies."""
    from prose_mesh.protocol.direct_link import DirectLinks
    from prose_mesh.protocol.discovery import Discovery
    from prose_mesh.protocol.gmk_distribution import GmkDistributor, GmkMember
    from prose_mesh.protocol.group_call import GroupCalls

    keys = ue.prov.keys
    rng = ue.rng
    links = DirectLinks(keys=keys, l2id=ue.l2id, authorise=ue.authorise_link, rng=rng)
    member = GmkMember(keys=keys, directory=ue.directory,
                       max_adhoc_period=ue.prov.max_adhoc_gmk_period)
    distributor = GmkDistributor(keys=keys, rng=rng, src_l2id=ue.l2id)
    calls = GroupCalls(keys=keys, l2id=ue.l2id, directory=ue.directory, gmks=member, rng=rng,
                       ssrc=ue.prov.ssrc, first_seq=ue.prov.first_seq)
    dgid, psdk = ue.prov.discovery_group
    discovery = Discovery(l2id=ue.l2id, user_info=user_info(ue.uri),
                          groups={dgid: psdk} if psdk else {})
    return Machines(links, member, distributor, calls, discovery,
                    GroupBearers(ue.l2id, dict(ue.prov.pgks)))
