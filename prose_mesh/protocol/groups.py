"""Group configuration as a UE holds it (TS 24.383 group parameters; PROTOCOL.md §4.1, §6.2).

Off-network, a UE is provisioned with the groups it may join before deployment: the MCPTT group
ID, the ProSe Layer-2 Group ID, the multicast address and ports, the member list and the one
identity allowed to distribute GMKs for it (the GMS or group manager for a standard group, the
creator for an ad-hoc group). Ad-hoc and temporary groups are learned at run time from the
creator's signed distribution and added to the :class:`GroupDirectory`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Literal

from prose_mesh.constants import MONP_PORT
from prose_mesh.wire.ipudp import group_multicast

GroupKind = Literal["standard", "adhoc", "temporary"]

DEFAULT_MEDIA_PORT = 50000  # [EMU] RTP; RTCP (floor control) is RTP + 1


def default_l2_group_id(group_id: str) -> int:
    """[EMU] SHA-256(group ID)[0:3], never 0 (PROTOCOL.md §4.1)."""
    value = int.from_bytes(hashlib.sha256(group_id.encode()).digest()[:3], "big")
    return value or 1


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """One group as configured in (or learned by) a UE."""

    group_id: str  # MCPTT group ID (a URI)
    kind: GroupKind
    distributor: str  # URI of the only identity that may sign GMKs for this group
    members: frozenset[str]  # member URIs (user URIs or ME URNs)
    l2_group_id: int = 0  # 0: derived with default_l2_group_id
    multicast: bytes = b""  # 16 octets; empty: derived from the L2 group ID
    monp_port: int = MONP_PORT
    media_port: int = DEFAULT_MEDIA_PORT
    max_gmk_period: float | None = None  # ad-hoc: the longest GMK lifetime a member accepts
    constituents: tuple[str, ...] = field(default=())  # temporary group: the groups regrouped

    def __post_init__(self) -> None:
        if not self.l2_group_id:
            object.__setattr__(self, "l2_group_id", default_l2_group_id(self.group_id))
        if not self.multicast:
            object.__setattr__(self, "multicast", group_multicast(self.l2_group_id))

    def with_members(self, members: frozenset[str]) -> GroupConfig:
        return replace(self, members=frozenset(members))


class GroupDirectory:
    """The groups a UE knows, by group ID and by Layer-2 group ID (frame filtering)."""

    def __init__(self, groups: list[GroupConfig] | None = None) -> None:
        self._by_id: dict[str, GroupConfig] = {}
        self._by_l2: dict[int, GroupConfig] = {}
        self._by_mc: dict[bytes, GroupConfig] = {}
        for g in groups or ():
            self.put(g)

    def put(self, group: GroupConfig) -> None:
        old = self._by_id.get(group.group_id)
        if old is not None:
            self._by_l2.pop(old.l2_group_id, None)
            self._by_mc.pop(old.multicast, None)
        self._by_id[group.group_id] = group
        self._by_l2[group.l2_group_id] = group
        self._by_mc[group.multicast] = group

    def remove(self, group_id: str) -> None:
        old = self._by_id.pop(group_id, None)
        if old is not None:
            self._by_l2.pop(old.l2_group_id, None)
            self._by_mc.pop(old.multicast, None)

    def get(self, group_id: str) -> GroupConfig | None:
        return self._by_id.get(group_id)

    def by_l2(self, l2_group_id: int) -> GroupConfig | None:
        return self._by_l2.get(l2_group_id)

    def by_multicast(self, address: bytes) -> GroupConfig | None:
        return self._by_mc.get(address)

    def __iter__(self):  # noqa: ANN204 - a plain iterator over the configs
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)
