"""The network's group management server: GMK distribution over IP (TS 33.180 §7.3, Annex E.2).

The GMS keeps the standard groups whose manager is the network and keys them with the same
sans-I/O :class:`~prose_mesh.protocol.gmk_sender.GmkDistributor` a managing UE uses: each
member gets its own MIKEY-SAKKE I_MESSAGE, GMK encrypted to the member's UID (RFC 6508),
signed with the GMS identity (RFC 6507). Off-network those go on the group's one-to-many
bearer; from the network they go as unicast IPv6/UDP, port 2269 to port 2269 (PROTOCOL.md §1.1),
to each member's address — in-coverage members over their own uplink, remote members through
their relay, which forwards bytes it cannot open (ADVERSARIAL.md G3). A member feeds the packet
to ``GmkMember.on_i_message(packet, via="group", ...)``: the signer check is the one for any
standard-group GMK (the GMS URI must be the group's distributor in its configuration).

Which member an I_MESSAGE is for is read back from its IDRr (the responder UID, 33.180 F.2.1),
so the mapping does not depend on the order of the distributor's actions.

A member whose address the GMS does not know yet is *pending*: the GMK goes to it as soon as it
attaches or its relay registers it (:meth:`GmsService.learn_address`).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from prose_mesh.crypto.identity import key_period_number
from prose_mesh.crypto.kms import KeyMaterial
from prose_mesh.errors import ConfigError
from prose_mesh.network.addressing import CORE_ADDRESS, GMS_PORT
from prose_mesh.protocol.actions import Action, Event, SendGroupIp, SendUnicastIp
from prose_mesh.protocol.gmk_sender import GmkDistributor, GmkIssue, member_uid
from prose_mesh.protocol.groups import GroupConfig
from prose_mesh.wire import mikey_codec as mc
from prose_mesh.wire.ipudp import parse_udp6


def gms_uri(network_name: str) -> str:
    """[EMU] The MC service identity the GMS of network ``network_name`` signs GMKs with."""
    return f"sip:gms@{network_name}.network.prose-mesh.example"


def is_gms_packet(packet: bytes, gms_address: bytes = CORE_ADDRESS) -> bool:
    """Cheap test for a UE's receive path (no parsing, no crypto): an IPv6/UDP packet from the
    GMS, port 2269 to 2269 — hand it to ``GmkMember.on_i_message(packet, via="group", ...)``,
    which does every check."""
    return (len(packet) >= 48 and packet[0] >> 4 == 6 and packet[6] == 17
            and packet[8:24] == gms_address
            and int.from_bytes(packet[40:42], "big") == GMS_PORT
            and int.from_bytes(packet[42:44], "big") == GMS_PORT)  # fmt: skip


@dataclass(frozen=True)
class GmkSend:
    """One I_MESSAGE (bare MIKEY, the UDP payload) for ``uri`` at ``address`` (None: pending)."""

    uri: str
    address: bytes | None
    message: bytes


class GmsService:
    """GMK distribution for the network's standard groups. Sans-I/O: methods return sends."""

    def __init__(self, keys: KeyMaterial, groups: Iterable[GroupConfig] = (), *,
                 rng: random.Random | None = None) -> None:
        self.keys = keys
        self.distributor = GmkDistributor(keys=keys, rng=rng)
        self.groups: dict[str, GroupConfig] = {}
        self.addresses: dict[str, bytes] = {}
        self.pending: dict[str, set[str]] = {}  # group ID -> members not reached yet
        self.events: list[Event] = []
        self.counts: Counter[str] = Counter()
        for g in groups:
            self.add_group(g)

    def add_group(self, group: GroupConfig) -> None:
        if group.kind != "standard":
            raise ConfigError(f"{group.group_id}: the GMS manages standard groups only")
        if group.distributor != self.keys.uri:
            raise ConfigError(f"{group.group_id}: distributor {group.distributor} is not the "
                              f"GMS ({self.keys.uri})")
        self.groups[group.group_id] = group

    def update_keys(self, keys: KeyMaterial) -> None:
        """New GMS key material (a new key period); group state is kept."""
        if keys.uri != self.keys.uri:
            raise ConfigError("GMS key material for another identity")
        self.keys = keys
        self.distributor.keys = keys

    # -- operations

    def distribute(self, group_id: str, *, now: float,
                   period: float | None = None) -> tuple[GmkIssue, list[GmkSend]]:
        """Issue a fresh GMK to every member of ``group_id`` (also the first distribution)."""
        group = self._group(group_id)
        issue, actions = self.distributor.distribute(group, now=now, period=period)
        return issue, self._sends(group_id, actions, now)

    def rekey(self, group_id: str, *, now: float, remove: str | None = None,
              period: float | None = None) -> tuple[GmkIssue, list[GmkSend]]:
        """A new GMK and GMK-ID to the members; with ``remove``, revoking and without that member
        (it is sent nothing and cannot open the others' I_MESSAGEs)."""
        if remove is None:
            return self.distribute(group_id, now=now, period=period)
        issue, actions = self.distributor.remove_member(group_id, remove, now=now)
        self.pending.get(group_id, set()).discard(remove)
        return issue, self._sends(group_id, actions, now)

    def add_member(self, group_id: str, uri: str, *, now: float) -> list[GmkSend]:
        """Add ``uri``: the current GMK goes to it (standard-group semantics)."""
        self._group(group_id)
        _issue, actions = self.distributor.add_member(group_id, uri, now=now)
        return self._sends(group_id, actions, now)

    def learn_address(self, uri: str, address: bytes, *, now: float) -> list[GmkSend]:
        """``uri`` is reachable at ``address``: returns the current GMKs still owed to it."""
        self.addresses[uri] = address
        out: list[GmkSend] = []
        for group_id, waiting in self.pending.items():
            if uri not in waiting:
                continue
            issue = self.distributor.issued(group_id)
            if issue is None or now > issue.expiry:
                waiting.discard(uri)
                continue
            out += self._sends(group_id, self.distributor.resend(group_id, [uri], now=now), now)
        return out

    def forget(self, uri: str) -> None:
        """``uri`` is unreachable (its relay or uplink went away): GMKs issued from now on wait
        for it as pending until :meth:`learn_address` is called again."""
        self.addresses.pop(uri, None)

    # -- internals

    def _group(self, group_id: str) -> GroupConfig:
        group = self.groups.get(group_id)
        if group is None:
            raise ConfigError(f"the GMS manages no group {group_id!r}")
        return group

    def _sends(self, group_id: str, actions: list[Action], now: float) -> list[GmkSend]:
        group = self.distributor.group(group_id) or self._group(group_id)
        k = self.keys
        period_no = key_period_number(now, k.period, k.offset)
        by_uid = {member_uid(m, k.kms_uri, k.period, k.offset, period_no): m
                  for m in group.members}  # fmt: skip
        waiting = self.pending.setdefault(group_id, set())
        out: list[GmkSend] = []
        for action in actions:
            if isinstance(action, Event):
                self.events.append(action)
                continue
            if not isinstance(action, (SendGroupIp, SendUnicastIp)):
                continue
            message = parse_udp6(action.packet).payload
            uri = by_uid.get(mc.parse_i_message(message).idr(mc.ROLE_UID_R))
            if uri is None:  # cannot happen: the distributor only writes to members
                raise ConfigError("GMK I_MESSAGE for a UID outside the group")
            address = self.addresses.get(uri)
            if address is None:
                waiting.add(uri)
                self.counts["pending"] += 1
            else:
                waiting.discard(uri)
                self.counts["sent"] += 1
            out.append(GmkSend(uri, address, message))
        return out
