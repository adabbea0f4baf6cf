"""[EMU] Per-member carriage of GMK I_MESSAGEs on a standard group's bearer (scale runs).

Why: a standard group's GMS sends one I_MESSAGE per member (TS 33.180 §5.7: the GMK is
encrypted to each member's identity; on-network it travels per member over SIP/HTTP, TS 33.180
§7.3 / TS 24.481). Off network it goes on the group bearer (PROTOCOL.md §2: "members keep only
IDRr = self"), so with N members each of the N I_MESSAGEs reaches N UEs: N² deliveries, each
PDCP-deciphered, parsed and rejected as ``NOT_FOR_ME`` by N - 1 of them. At N = 2000 that is
4 million deliveries and 4 million event lines per distribution (and twice that with the
MIKEY repeat), which is all the emulator's time and none of the protocol's.

What changes: the frame is the same (same shim, same PGK-ciphered PDCP PDU, same MIKEY bytes);
the medium carries it only to the member it is addressed to (IDRr), and records on its ``tx``
line how many hearers it skipped (``unaddressed``) instead of one ``deliver`` and one
``reject NOT_FOR_ME`` line each. Everything the addressee sees and checks is unchanged; what is
lost is the NOT_FOR_ME work of the others (ADVERSARIAL.md §5 accounting still holds: a skipped
hearer got no copy, so it has nothing to account for). Only GMK I_MESSAGEs (UDP port 2269 on a
group bearer, IDRr one of the run's UEs) are addressed; anything else, and anything this cannot
parse, goes to every hearer as before.

Use: ``run_scenario(..., ue_factory=addressed.ue_factory)``; ``prose-mesh bench scenario``
turns it on for scenarios of more than :data:`AUTO_ABOVE` UEs (``--gmk-carriage``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from prose_mesh.constants import MIKEY_PORT
from prose_mesh.errors import ProseMeshError
from prose_mesh.medium.air import ADDRESSEES
from prose_mesh.node.provision import Provisioned
from prose_mesh.node.ue import Ue
from prose_mesh.wire import mikey_codec as mc
from prose_mesh.wire.ipudp import parse_udp6

#: ``bench scenario --gmk-carriage auto`` addresses I_MESSAGEs above this many UEs.
AUTO_ABOVE = 256


def addressee(packet: bytes, by_uid: Mapping[bytes, str]) -> str | None:
    """The UE name a group-bearer IPv6/UDP ``packet`` is addressed to, if it is a GMK
    I_MESSAGE whose IDRr (UID) is one of ``by_uid``; else None (carry it to every hearer)."""
    try:
        dgram = parse_udp6(packet, verify_checksum=False)
        if dgram.dport != MIKEY_PORT:
            return None
        uid = mc.parse_i_message(dgram.payload).idr(mc.ROLE_UID_R)
    except ProseMeshError:
        return None
    return None if uid is None else by_uid.get(uid)


class AddressedUe(Ue):
    """A :class:`Ue` whose group-bearer GMK I_MESSAGEs are carried to their addressee only.

    ``by_uid`` maps each UE's UID (of its provisioned key period) to its radio name."""

    def __init__(self, prov: Provisioned, *, by_uid: Mapping[bytes, str], **kw: Any) -> None:
        super().__init__(prov, **kw)
        self.by_uid = by_uid
        self.addressed_sends = 0

    async def _send_group(self, group_l2id: int, packet: bytes) -> None:
        to = addressee(packet, self.by_uid) if "group_manager" in self.roles else None
        if to is None:
            await super()._send_group(group_l2id, packet)
            return
        self.addressed_sends += 1
        token = ADDRESSEES.set(frozenset((to,)))  # this task's context only
        try:
            await super()._send_group(group_l2id, packet)
        finally:
            ADDRESSEES.reset(token)


def ue_factory(prov: Mapping[str, Provisioned]) -> Callable[..., Ue]:
    """The runner's ``ue_factory`` hook: UEs that address GMK I_MESSAGEs (see module doc)."""
    by_uid = {p.keys.uid: name for name, p in prov.items()}

    def make(p: Provisioned, **kw: Any) -> Ue:
        return AddressedUe(p, by_uid=by_uid, **kw)

    return make
