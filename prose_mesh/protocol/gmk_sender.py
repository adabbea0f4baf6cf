"""GMK distribution, sending side: standard, ad-hoc and temporary groups; rekey and revoke.

TS 33.179/33.180 §7.3 and Annex E.2: the group manager (GMS, or a privileged UE acting as group
manager) encrypts the GMK to each member's MIKEY-SAKKE UID with SAKKE (RFC 6508), signs the
I_MESSAGE with its ECCSI identity (RFC 6507) and sends the GMK-ID (as the recipient's GUK-ID in
the CSB ID, 33.180 F.1.3) with its period of use in the key-parameters extension (E.6, see
:mod:`prose_mesh.protocol.key_params`). Message layout: PROTOCOL.md §6.2.

* **Standard** groups: one I_MESSAGE per member, each on the group's one-to-many bearer to the
  group multicast address, UDP 2269 (PROTOCOL.md §1.1). Only the configured distributor may
  sign; members check it (PROTOCOL.md §8.5).
* **Ad-hoc** groups [EMU; 33.180 ad-hoc group calls]: the creator sends the GMK, an ID from the
  separate ad-hoc key-ID space (``constants.ADHOC_GMK_ID_FLAG``), the period (bounded by the
  group's ``max_gmk_period``) and the member list over an already secured D2D link to each
  member. The procedure refuses standard groups (:class:`AdhocRefused`).
* **Temporary** groups (user regroup) [EMU]: like ad-hoc, a new group context whose members are
  added one at a time with :meth:`GmkDistributor.add_member`; nothing of the constituent groups
  is touched.
* **Add** to an ad-hoc or temporary group: a non-revoking rekey to every member, newcomer
  included, with the new member list (:meth:`GmkDistributor.add_member`); standard groups: the
  current GMK to the newcomer only.
* **Rekey / revoke**: :meth:`GmkDistributor.remove_member` issues a fresh GMK and GMK-ID to the
  remaining members with the revoking flag, so members drop the old GMK after the switchover
  (:mod:`prose_mesh.protocol.gmk_policy`, ADVERSARIAL.md D2). The removed member is sent
  nothing, and every I_MESSAGE is SAKKE-encrypted to one other member's UID, so it cannot open
  them (RFC 6508 §6.2.2 step 5 / IDRr check).

Every GMK I_MESSAGE of one issue carries the same RAND: group-call SRTP keys are derived from
(GMK, sender's GUK-ID, RAND of the GMK I_MESSAGE) (PROTOCOL.md §6.5), so all members need it.
"""

from __future__ import annotations

import functools
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from prose_mesh.constants import ADHOC_GMK_ID_FLAG, KEY_PURPOSE_GMK, MIKEY_PORT
from prose_mesh.crypto.eccsi import eccsi_sign
from prose_mesh.crypto.identity import key_period_number, mikey_sakke_uid
from prose_mesh.crypto.kdf import guk_id
from prose_mesh.crypto.kms import KeyMaterial
from prose_mesh.crypto.sakke import sakke_encapsulate
from prose_mesh.errors import ConfigError
from prose_mesh.protocol.actions import Action, Event, SendGroupIp, SendUnicastIp
from prose_mesh.protocol.groups import GroupConfig
from prose_mesh.protocol.key_params import KeyParameters, protect, quantize
from prose_mesh.wire.ipudp import build_udp6, link_local
from prose_mesh.wire.mikey_codec import (
    EXT_KEY_PARAMETERS,
    GeneralExt,
    build_gmk_i_message,
    ntp_from_unix,
)

DEFAULT_GMK_PERIOD = 3600.0  # [EMU] seconds of use when neither caller nor group sets one
TIME_STEP = 1 / 256  # resolution of the E.6 time fields (key_params [EMU])
_MASK27 = ADHOC_GMK_ID_FLAG - 1


class AdhocRefused(ConfigError):
    """The ad-hoc / temporary procedure was asked to key (or rekey) a standard group."""

    reason = "ADHOC_REFUSED"


@functools.lru_cache(maxsize=4096)
def member_uid(uri: str, kms_uri: str, period: int, offset: int, period_no: int) -> bytes:
    """The MIKEY-SAKKE UID (33.180 F.2.1) of ``uri`` in ``period_no`` (cached: SHA-256 each)."""
    return mikey_sakke_uid(uri, kms_uri, period, offset, period_no)


def is_adhoc_gmk_id(gmk_id: int) -> bool:
    """True for IDs of the [EMU] ad-hoc key-ID space (purpose GMK with bit 27 set)."""
    return bool(gmk_id & ADHOC_GMK_ID_FLAG)


@dataclass(frozen=True)
class GmkIssue:
    """One GMK as issued by a distributor: what it sent and to whom."""

    group_id: str
    gmk_id: int
    gmk: bytes = field(repr=False)
    activation: float
    expiry: float
    members: frozenset[str]
    rand: bytes = b""
    kind: str = "standard"
    revoking: bool = False


class GmkDistributor:
    """The GMS / group manager (standard groups) or the creator (ad-hoc, temporary groups).

    Sans-I/O: methods take ``now`` and return actions. ``rng`` draws GMKs, GMK-IDs and RAND
    (default: the OS CSPRNG); ECCSI nonces and GCM IVs never come from it. ``src_l2id`` is this
    UE's Layer-2 ID, used only for the IPv6 link-local source address [EMU].
    """

    def __init__(
        self,
        *,
        keys: KeyMaterial,
        rng: random.Random | None = None,
        src_l2id: int = 0,
        generic_id_map: bool = False,
        default_period: float = DEFAULT_GMK_PERIOD,
    ) -> None:
        self.keys = keys
        self._rng = rng if rng is not None else random.SystemRandom()
        self.src_l2id = src_l2id
        self.generic_id_map = generic_id_map
        self.default_period = default_period
        self._groups: dict[str, GroupConfig] = {}
        self._issued: dict[str, GmkIssue] = {}
        self._used_ids: dict[str, set[int]] = {}
        self._l2ids: dict[str, dict[str, int]] = {}
        self._kind_of: dict[str, str] = {}  # the kind a group ID was first keyed as
        #: I_MESSAGEs built per recipient URI: a member verifies at most this many legitimate
        #: signatures (a figure of crafted-input scenarios, E2)
        self.sent: Counter[str] = Counter()

    # -- public API

    def distribute(
        self,
        group: GroupConfig,
        *,
        now: float,
        member_l2ids: Mapping[str, int] | None = None,
        members: Iterable[str] | None = None,
        period: float | None = None,
        gmk: bytes | None = None,
        gmk_id: int | None = None,
        revoking: bool = False,
        recipients: Iterable[str] | None = None,
    ) -> tuple[GmkIssue, list[Action]]:
        """Issue a new GMK for ``group`` to ``members`` (default: the group's members).

        Standard groups go out as :class:`SendGroupIp`; ad-hoc and temporary groups as
        :class:`SendUnicastIp` over each member's D2D link (``member_l2ids`` must cover them).
        ``recipients`` (members, default all but me) get their I_MESSAGE now; the others later
        by :meth:`resend`, each batch with its own T (a GMS of thousands spends seconds
        building them: stamped once, the last would reach their members outside the window).
        """
        self._check_authority(group)
        membership = frozenset(members) if members is not None else group.members
        if group.kind != "standard":
            membership |= {self.keys.uri}  # the creator belongs to the group it creates
        group = group.with_members(membership)
        l2ids = self._l2ids.setdefault(group.group_id, {})
        l2ids.update(member_l2ids or {})
        prev = self._issued.get(group.group_id)
        gmk = self._new_gmk() if gmk is None else bytes(gmk)
        if len(gmk) != 16:
            raise ConfigError(f"a GMK is 16 octets, got {len(gmk)}")
        gmk_id = self._new_gmk_id(group) if gmk_id is None else self._check_gmk_id(group, gmk_id)
        period = self._period(group, period)
        activation = quantize(now)
        if prev is not None and activation <= prev.activation:
            activation = prev.activation + TIME_STEP  # activation never moves backwards (R8)
        issue = GmkIssue(
            group.group_id, gmk_id, gmk, activation, quantize(activation + period), membership,
            self._rng.getrandbits(128).to_bytes(16, "big"), group.kind, revoking,
        )  # fmt: skip
        others = membership - {self.keys.uri}
        now_to = others if recipients is None else frozenset(recipients)
        if not now_to <= others:
            raise ConfigError(f"recipients not members of {group.group_id}: "
                              f"{sorted(now_to - others)}")
        actions = self._send(group, issue, sorted(now_to), now)
        self._groups[group.group_id] = group
        self._issued[group.group_id] = issue
        self._used_ids.setdefault(group.group_id, set()).add(gmk_id)
        self._kind_of.setdefault(group.group_id, group.kind)
        if prev is None and group.kind != "standard":
            actions.append(Event("group_created", {"group_id": group.group_id,
                                                   "kind": group.kind}))
        actions.append(Event("gmk_distributed", {
            "group_id": group.group_id, "gmk_id": gmk_id, "kind": group.kind,
            "recipients": sorted(membership - {self.keys.uri}), "revoking": revoking,
        }))  # fmt: skip
        return issue, actions

    def distribute_adhoc(
        self, group: GroupConfig, **kwargs: object
    ) -> tuple[GmkIssue, list[Action]]:
        """The ad-hoc / temporary procedure: refuses a standard group (:class:`AdhocRefused`)."""
        if group.kind == "standard":
            raise AdhocRefused(f"{group.group_id} is a standard group; ad-hoc keying refused")
        return self.distribute(group, **kwargs)  # type: ignore[arg-type]

    def add_member(
        self, group_id: str, uri: str, *, now: float, l2id: int | None = None
    ) -> tuple[GmkIssue, list[Action]]:
        """Add ``uri`` to ``group_id``; returns the GMK issue now current and the sends.

        * **Standard** groups: the current GMK goes to the newcomer only; its members learn the
          new list from group management (24.383), and when to rekey is the GMS's decision.
        * **Ad-hoc / temporary** groups [EMU]: an add is a rekey. Members know the member list
          only from the creator's signed key parameters, so a fresh GMK with a new GMK-ID (ad-hoc
          key-ID space) and the updated list goes to *every* member, the newcomer included,
          over their D2D links (``l2id``: the newcomer's) — otherwise the existing members
          would reject the newcomer's announcements and media. It also gives backward secrecy:
          the newcomer never holds a GMK that protected earlier traffic. The rekey is not
          revoking: members send new traffic under the new GMK, and the old one stays usable
          for traffic already keyed under it and receivable until its expiry (+ grace), so a
          call in progress is not cut (:mod:`prose_mesh.protocol.gmk_policy`).
        """
        issue, group = self._current(group_id, now)
        if uri in issue.members:
            return issue, []
        if l2id is not None:
            self._l2ids[group_id][uri] = l2id
        members = issue.members | {uri}
        if group.kind != "standard":
            new, actions = self.distribute(group, now=now, members=members)
            actions.append(Event("member_added", {"group_id": group_id, "uri": uri,
                                                  "gmk_id": new.gmk_id}))
            return new, actions
        group = group.with_members(members)
        issue = replace(issue, members=members)
        actions = self._send(group, issue, [uri], now)
        self._groups[group_id] = group
        self._issued[group_id] = issue
        return issue, actions

    def resend(
        self, group_id: str, uris: Iterable[str] | None = None, *, now: float
    ) -> list[Action]:
        """Send the current GMK again (fresh T) to ``uris`` (default: every member), e.g. after
        loss. Members that already installed it answer nothing and count GMK_SUPERSEDED (R8)."""
        issue, group = self._current(group_id, now)
        targets = issue.members - {self.keys.uri} if uris is None else frozenset(uris)
        if not targets <= issue.members:
            raise ConfigError(f"not members of {group_id}: {sorted(targets - issue.members)}")
        return self._send(group, issue, sorted(targets), now)

    def remove_member(
        self,
        group_id: str,
        uri: str,
        *,
        now: float,
        member_l2ids: Mapping[str, int] | None = None,
    ) -> tuple[GmkIssue, list[Action]]:
        """Rekey with revoking semantics: a new GMK and GMK-ID to everyone but ``uri``."""
        group = self._groups.get(group_id)
        if group is None:
            raise ConfigError(f"no GMK was issued for {group_id}")
        if uri not in group.members:
            raise ConfigError(f"{uri} is not a member of {group_id}")
        self._l2ids[group_id].pop(uri, None)
        issue, actions = self.distribute(
            group, now=now, member_l2ids=member_l2ids, members=group.members - {uri},
            revoking=True,
        )  # fmt: skip
        actions.append(Event("member_removed", {"group_id": group_id, "uri": uri,
                                                "gmk_id": issue.gmk_id}))
        return issue, actions

    def issued(self, group_id: str) -> GmkIssue | None:
        """The newest GMK issued for ``group_id``."""
        return self._issued.get(group_id)

    def group(self, group_id: str) -> GroupConfig | None:
        """The group as this distributor last keyed it (current member list)."""
        return self._groups.get(group_id)

    # -- internals

    def _check_authority(self, group: GroupConfig) -> None:
        if group.distributor != self.keys.uri:
            raise ConfigError(
                f"{self.keys.uri} is not the distributor of {group.group_id} "
                f"({group.distributor}); members would reject its GMKs"
            )
        first = self._kind_of.get(group.group_id)
        if first == "standard" and group.kind != "standard":
            raise AdhocRefused(f"{group.group_id} is a standard group; ad-hoc rekey refused")
        if first is not None and first != group.kind:
            raise ConfigError(f"{group.group_id} was keyed as {first}, not {group.kind}")

    def _current(self, group_id: str, now: float) -> tuple[GmkIssue, GroupConfig]:
        issue = self._issued.get(group_id)
        if issue is None:
            raise ConfigError(f"no GMK was issued for {group_id}")
        if now > issue.expiry:
            raise ConfigError(f"the GMK of {group_id} expired; rekey with distribute()")
        return issue, self._groups[group_id]

    def _new_gmk(self) -> bytes:
        return self._rng.getrandbits(128).to_bytes(16, "big")

    def _new_gmk_id(self, group: GroupConfig) -> int:
        used = self._used_ids.get(group.group_id, set())
        flag = ADHOC_GMK_ID_FLAG if group.kind != "standard" else 0
        while True:
            value = (KEY_PURPOSE_GMK << 28) | flag | self._rng.getrandbits(27)
            if value not in used:
                return value

    def _check_gmk_id(self, group: GroupConfig, gmk_id: int) -> int:
        if not 0 <= gmk_id <= 0xFFFF_FFFF or gmk_id >> 28 != KEY_PURPOSE_GMK:
            raise ConfigError(f"GMK-ID {gmk_id:#x} lacks the GMK purpose tag")
        if is_adhoc_gmk_id(gmk_id) != (group.kind != "standard"):
            raise ConfigError(f"GMK-ID {gmk_id:#010x} is from the wrong key-ID space")
        if gmk_id in self._used_ids.get(group.group_id, set()):
            raise ConfigError(f"GMK-ID {gmk_id:#010x} was already issued (R8)")
        return gmk_id

    def _period(self, group: GroupConfig, period: float | None) -> float:
        limit = group.max_gmk_period if group.kind != "standard" else None
        if period is None:
            period = limit if limit is not None else self.default_period
        if period <= 0:
            raise ConfigError("a GMK period must be > 0")
        if limit is not None and period > limit:
            raise ConfigError(f"period {period} s exceeds the group's max_gmk_period {limit} s")
        return period

    def _send(
        self, group: GroupConfig, issue: GmkIssue, recipients: list[str], now: float
    ) -> list[Action]:
        keys = self.keys
        period_no = key_period_number(now, keys.period, keys.offset)
        if period_no != keys.period_no:
            raise ConfigError(
                f"distributor keys are for key period {keys.period_no}, now is {period_no}"
            )
        l2ids = self._l2ids.get(group.group_id, {})
        if group.kind != "standard":
            missing = [m for m in recipients if m not in l2ids]
            if missing:
                raise ConfigError(f"no D2D link (L2 ID) for {missing}")
        params = KeyParameters(
            issue.activation, issue.expiry, group.group_id, group.kind,
            tuple(sorted(issue.members)) if group.kind != "standard" else (),
            issue.revoking, group.l2_group_id, group.constituents,
        )  # fmt: skip
        t_ntp = ntp_from_unix(now)
        src = link_local(self.src_l2id)
        kms = keys.kms_uri.encode()
        actions: list[Action] = []
        for uri in recipients:
            self.sent[uri] += 1
            uid = member_uid(uri, keys.kms_uri, keys.period, keys.offset, period_no)
            guk = guk_id(issue.gmk, issue.gmk_id, uri)
            ext = GeneralExt(EXT_KEY_PARAMETERS, protect(params, gmk=issue.gmk, dppk_id=guk))
            msg = build_gmk_i_message(
                guk_id=guk, gmk_id=issue.gmk_id, sign=self._sign,
                generic_id_map=self.generic_id_map, t_ntp=t_ntp, rand=issue.rand,
                initiator_uid=keys.uid, responder_uid=uid, kms_uri_initiator=kms,
                kms_uri_responder=kms,
                sakke_data=sakke_encapsulate(issue.gmk, identity=uid, z_pub=keys.z_pub),
                extensions=(ext,),
            )  # fmt: skip
            if group.kind == "standard":
                packet = build_udp6(src, group.multicast, MIKEY_PORT, MIKEY_PORT, msg)
                actions.append(SendGroupIp(group.l2_group_id, packet))
            else:
                peer = l2ids[uri]
                packet = build_udp6(src, link_local(peer), MIKEY_PORT, MIKEY_PORT, msg)
                actions.append(SendUnicastIp(peer, packet))
        return actions

    def _sign(self, tbs: bytes) -> bytes:
        k = self.keys
        return eccsi_sign(tbs, identity=k.uid, ssk=k.ssk, pvt=k.pvt, kpak=k.kpak)
