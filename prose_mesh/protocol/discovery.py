"""ProSe direct discovery for public safety, sans-I/O (TS 24.334 §10A; TS 33.303 §6.1.3.4.3).

Group member discovery and UE-to-network relay discovery, Model A (periodic announcements) and
Model B (solicitation → response), restricted discovery type, protected per PSDK with
:mod:`prose_mesh.crypto.discovery_sec` (MIC, optional confidentiality, scrambling). Messages are
built with the Scapy layers of :mod:`prose_mesh.wire.discovery` (PROTOCOL.md §3).

Receive order (ADVERSARIAL.md §3, cheap → expensive), every input ending in exactly one
``Accepted``/``Rejected("discovery", ...)``:

1. length 29, else ``MALFORMED``;
2. Message Type is one of the six restricted public-safety types, else ``BAD_HEADER``;
3. descramble: for each PSDK of that family (groups or relay codes) and each 16-s scrambling slot
   that an 8-bit counter LSB can name around the local clock, keep the candidate whose rebuilt
   counter lies in that slot *and* whose Discovery Group ID / Relay Service Code is the PSDK's
   own; none → ``UNKNOWN_KEY`` (not my group, or not scrambled with my PSDK);
4. counter window ``|C − now| ≤ max_offset``, else ``TS_OUT_OF_WINDOW`` (the replay defence);
5. decrypt the DUCK-protected bits, if configured (the MIC covers the plaintext, so this must
   precede the MIC; nothing decrypted is trusted before step 7);
6. cheap addressing: my own message echoed back, a solicitation for another target, a relay
   solicitation when I am no relay, a response I did not solicit → ``NOT_FOR_ME``;
7. MIC under DUIK, else ``BAD_TAG``;
8. bounded table update: a known (family, ID, L2 ID) is only refreshed (no new event); a new one
   is inserted, after dropping entries not refreshed for ``entry_ttl``; if the table is still
   full the new peer is refused with ``CACHE_FULL`` — verified peers are never evicted to make
   room, and unauthenticated input never reaches the table at all.

A verified Model B solicitation for one of my groups (and my user info, if targeted) is answered
with a response; an identical solicitation repeated inside the window is accepted but answered
only once (no amplification by replay).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Final

from prose_mesh.constants import DISCOVERY_MAX_OFFSET_S
from prose_mesh.crypto.discovery_sec import (
    BODY_LEN,
    DISCOVERY_LEN,
    DiscoveryKeys,
    apply_confidentiality,
    protect,
    rebuild_counter,
    scrambling_keystream,
    verify_mic,
)
from prose_mesh.errors import ConfigError
from prose_mesh.protocol.actions import (
    Accepted,
    Action,
    Event,
    Rejected,
    SendDiscovery,
    SetTimer,
)
from prose_mesh.protocol.reasons import Reason
from prose_mesh.wire import discovery as wd

__all__ = [
    "ANNOUNCE_TIMER",
    "MT_GROUP_ANNOUNCEMENT",
    "MT_GROUP_RESPONSE",
    "MT_GROUP_SOLICITATION",
    "MT_RELAY_ANNOUNCEMENT",
    "MT_RELAY_RESPONSE",
    "MT_RELAY_SOLICITATION",
    "SOLICIT_WINDOW_S",
    "Discovery",
    "DiscoverySecurity",
    "PeerEntry",
    "encrypted_bits_mask",
]

KIND: Final = "discovery"
ANNOUNCE_TIMER: Final = ("discovery", "announce")
#: [EMU] how long a Model B discoverer accepts responses after its solicitation.
SOLICIT_WINDOW_S: Final = 5.0
#: [EMU] default lifetime of a table entry that is not refreshed.
ENTRY_TTL_S: Final = 30.0
#: [EMU] solicitations remembered to answer each one once.
_ANSWERED_MAX: Final = 256

_R: Final = wd.DISC_RESTRICTED
MT_GROUP_ANNOUNCEMENT: Final = wd.message_type(_R, wd.CT_GROUP_MEMBER, wd.MODEL_A)  # 0x99
MT_GROUP_RESPONSE: Final = wd.message_type(_R, wd.CT_GROUP_MEMBER, wd.MODEL_B)  # 0x9A
MT_GROUP_SOLICITATION: Final = wd.message_type(
    _R, wd.CT_GROUP_MEMBER_SOLICITATION, wd.MODEL_B
)  # 0x9E
MT_RELAY_ANNOUNCEMENT: Final = wd.message_type(_R, wd.CT_RELAY, wd.MODEL_A)  # 0x91
MT_RELAY_RESPONSE: Final = wd.message_type(_R, wd.CT_RELAY, wd.MODEL_B)  # 0x92
MT_RELAY_SOLICITATION: Final = wd.message_type(_R, wd.CT_RELAY_SOLICITATION, wd.MODEL_B)  # 0x96

GROUP: Final = "group"
RELAY: Final = "relay"


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where the fields sit in the 29 octets (the Scapy classes of wire.discovery)."""

    name: str
    family: str
    model: str
    id_at: int  # offset of the Discovery Group ID / Relay Service Code (3 octets)
    l2id_at: int | None  # ProSe UE ID / ProSe Relay UE ID (3 octets)
    info_at: int  # Announcer / Discoverer Info (6 octets)
    target_at: int | None = None  # Target User Info (6 octets)


_LAYOUTS: Final[dict[int, _Layout]] = {
    MT_GROUP_ANNOUNCEMENT: _Layout("group_member_announcement", GROUP, "A", 10, 1, 4),
    MT_GROUP_RESPONSE: _Layout("group_member_response", GROUP, "B", 10, 1, 4),
    MT_GROUP_SOLICITATION: _Layout("group_member_solicitation", GROUP, "B", 7, None, 1, 10),
    MT_RELAY_ANNOUNCEMENT: _Layout("relay_announcement", RELAY, "A", 1, 10, 4),
    MT_RELAY_RESPONSE: _Layout("relay_response", RELAY, "B", 1, 10, 4),
    MT_RELAY_SOLICITATION: _Layout("relay_solicitation", RELAY, "B", 1, 10, 4),
}
_STATUS_AT: Final = 13  # relay Status Indicator octet


def encrypted_bits_mask(mt: int) -> bytes:
    """[EMU] Encrypted_bits_mask (33.503 A.7) per message type: every body bit except the
    Discovery Group ID / Relay Service Code, which a receiver needs in clear to pick the PSDK."""
    layout = _LAYOUTS[mt]
    mask = bytearray(b"\xff" * BODY_LEN)
    mask[layout.id_at - 1 : layout.id_at + 2] = b"\0\0\0"
    return bytes(mask)


_MASKS: Final = {mt: encrypted_bits_mask(mt) for mt in _LAYOUTS}


@dataclass(frozen=True, slots=True)
class DiscoverySecurity:
    """A PSDK with the PKMF's choice of keys (24.334 §10A.2.1). A bare PSDK in ``groups`` /
    ``relay_codes`` means DUIK + DUSK, no DUCK."""

    psdk: bytes
    scrambling: bool = True
    confidentiality: bool = False


@dataclass(frozen=True, slots=True)
class PeerEntry:
    """One verified discovery table entry (a group member or a UE-to-network relay)."""

    l2id: int
    user_info: bytes
    group_id: int | None
    relay_code: int | None
    last_seen: float
    model: str  # "A" (announcement) or "B" (response)
    counter: int  # latest verified UTC-based counter
    first_seen: float = 0.0
    status: int = 0  # relay Status Indicator

    @property
    def is_relay(self) -> bool:
        return self.relay_code is not None


@dataclass(slots=True)
class _Psdk:
    ident: int
    keys: DiscoveryKeys
    streams: dict[int, int] = field(default_factory=dict)  # slot -> keystream as an integer

    def stream(self, slot: int) -> int:
        ks = self.streams.get(slot)
        if ks is None:
            if len(self.streams) >= 64:  # bounded: the clock moved on, start afresh
                self.streams.clear()
            assert self.keys.dusk is not None
            ks = int.from_bytes(scrambling_keystream(self.keys.dusk, slot), "big")
            self.streams[slot] = ks
        return ks


def _u24(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 3], "big")


def _psdks(table: Mapping[int, bytes | DiscoverySecurity], what: str) -> dict[int, _Psdk]:
    out = {}
    for ident, value in table.items():
        if not 0 <= ident <= 0xFFFFFF:
            raise ConfigError(f"{what} {ident!r} is not 24 bits")
        sec = value if isinstance(value, DiscoverySecurity) else DiscoverySecurity(bytes(value))
        if len(sec.psdk) != 32:
            raise ConfigError(f"PSDK of {what} {ident:#08x} is {len(sec.psdk)} octets, not 32")
        keys = DiscoveryKeys.from_psdk(
            sec.psdk, scrambling=sec.scrambling, confidentiality=sec.confidentiality
        )
        out[ident] = _Psdk(ident, keys)
    return out


class Discovery:
    """The discovery machine of one UE (Model A announcer/monitor, Model B discoverer/discoveree).

    ``groups`` maps a Discovery Group ID (24 bits) to its PSDK, ``relay_codes`` a Relay Service
    Code to its PSDK (or a :class:`DiscoverySecurity`); ``user_info`` is the 6-octet
    Announcer/Discoverer Info. With ``relay=True`` the UE announces and answers as a
    UE-to-network relay for every code in ``relay_codes``; otherwise those codes are the relay
    services it may look for.
    """

    def __init__(
        self,
        *,
        l2id: int,
        user_info: bytes,
        groups: Mapping[int, bytes | DiscoverySecurity] | None = None,
        relay_codes: Mapping[int, bytes | DiscoverySecurity] | None = None,
        announce_interval: float = 5.0,
        max_entries: int = 256,
        max_offset: int = DISCOVERY_MAX_OFFSET_S,
        relay: bool = False,
        entry_ttl: float = ENTRY_TTL_S,
    ) -> None:
        if not 0 <= l2id <= 0xFFFFFF:
            raise ConfigError(f"L2 ID {l2id!r} is not 24 bits")
        if len(user_info) != 6:
            raise ConfigError(f"user info is {len(user_info)} octets, not 6")
        if announce_interval <= 0 or max_entries < 1 or entry_ttl <= 0:
            raise ConfigError("announce_interval, max_entries and entry_ttl must be positive")
        # The 8-bit LSB names a counter uniquely only within ±128 s of the local clock.
        if not 0 <= max_offset < 128:
            raise ConfigError(f"max_offset {max_offset} outside 0..127 s")
        self.l2id = l2id
        self.user_info = bytes(user_info)
        self.relay = relay
        self.announce_interval = announce_interval
        self.max_entries = max_entries
        self.max_offset = max_offset
        self.entry_ttl = entry_ttl
        self._keys: dict[str, dict[int, _Psdk]] = {
            GROUP: _psdks(groups or {}, "Discovery Group ID"),
            RELAY: _psdks(relay_codes or {}, "Relay Service Code"),
        }
        self._table: dict[tuple[str, int, int], PeerEntry] = {}
        self._pending: dict[tuple[str, int], tuple[float, bytes | None]] = {}
        self._answered: OrderedDict[bytes, None] = OrderedDict()
        self._started = False

    # --- user intents -------------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        """Begin Model A: announce in every group (and as a relay), then every interval."""
        self._started = True
        out = self._announcements(now)
        if out:
            out.append(SetTimer(ANNOUNCE_TIMER, now + self.announce_interval))
        return out

    def solicit(self, group_id: int, now: float, target: bytes | None = None) -> list[Action]:
        """Model B: a group member solicitation, optionally for one Target User Info."""
        psdk = self._keys[GROUP].get(group_id)
        if psdk is None:
            raise ConfigError(f"no PSDK for Discovery Group ID {group_id:#08x}")
        if target is not None and len(target) != 6:
            raise ConfigError("target user info is 6 octets")
        self._pending[(GROUP, group_id)] = (now + SOLICIT_WINDOW_S, target)
        pkt = wd.GroupMemberSolicitation(
            discoverer_info=self.user_info,
            discovery_group_id=group_id,
            target_user_info=target or bytes(6),
        )
        return [self._send(bytes(pkt), psdk, now)]

    def solicit_relay(self, relay_code: int, now: float) -> list[Action]:
        """Model B: a UE-to-network relay solicitation for any relay of ``relay_code``."""
        psdk = self._keys[RELAY].get(relay_code)
        if psdk is None:
            raise ConfigError(f"no PSDK for Relay Service Code {relay_code:#08x}")
        self._pending[(RELAY, relay_code)] = (now + SOLICIT_WINDOW_S, None)
        pkt = wd.RelayDiscoverySolicitation(
            relay_service_code=relay_code, discoverer_info=self.user_info, relay_ue_id=0
        )
        return [self._send(bytes(pkt), psdk, now)]

    def on_timer(self, key: Hashable, now: float) -> list[Action]:
        """The periodic Model A tick: drop stale entries, announce again, re-arm."""
        if key != ANNOUNCE_TIMER or not self._started:
            return []
        out: list[Action] = self._expire(now)
        out += self._announcements(now)
        out.append(SetTimer(ANNOUNCE_TIMER, now + self.announce_interval))
        return out

    # --- tables -------------------------------------------------------------------------

    def peers(self) -> list[PeerEntry]:
        """Every verified entry (group members and relays), oldest first."""
        return sorted(self._table.values(), key=lambda e: e.first_seen)

    def relays(self, relay_code: int | None = None) -> list[PeerEntry]:
        """Verified UE-to-network relays, optionally of one Relay Service Code."""
        return [
            e for e in self.peers()
            if e.is_relay and (relay_code is None or e.relay_code == relay_code)
        ]

    # --- receive ------------------------------------------------------------------------

    def on_message(self, message: bytes, *, src_l2id: int, now: float) -> list[Action]:
        """A PC5_DISCOVERY message from SL-DCH; see the module docstring for the order."""
        peer = f"{src_l2id & 0xFFFFFF:06x}"

        def reject(reason: Reason, detail: str) -> list[Action]:
            return [Rejected(KIND, reason, peer=peer, detail=detail)]

        message = bytes(message)
        if len(message) != DISCOVERY_LEN:
            return reject(Reason.MALFORMED, f"{len(message)} octets, not 29")
        mt = message[0]
        layout = _LAYOUTS.get(mt)
        if layout is None:
            return reject(Reason.BAD_HEADER, f"Message Type {mt:#04x}")
        psdks = self._keys[layout.family]
        if not psdks:
            return reject(Reason.UNKNOWN_KEY, f"no {layout.family} PSDK configured")
        n = math.floor(now)
        found = self._descramble(message, layout, psdks, n)
        if found is None:
            return reject(Reason.UNKNOWN_KEY, f"{layout.name}: no PSDK of mine descrambles it")
        psdk, plain, counter = found
        if abs(counter - n) > self.max_offset:
            return reject(Reason.TS_OUT_OF_WINDOW, f"counter {counter} vs clock {n}")
        if psdk.keys.duck is not None:
            plain = apply_confidentiality(plain, psdk.keys.duck, counter, _MASKS[mt])
        why = self._not_for_me(plain, layout, psdk.ident, now)
        if why:
            return reject(Reason.NOT_FOR_ME, f"{layout.name}: {why}")
        if not verify_mic(psdk.keys.duik, plain, counter):
            return reject(Reason.BAD_TAG, f"{layout.name}: MIC")
        if layout.l2id_at is None or mt == MT_RELAY_SOLICITATION:
            return self._answer(plain, layout, psdk, counter, peer, now)
        return self._update(plain, layout, psdk.ident, counter, peer, now)

    # --- internals ----------------------------------------------------------------------

    def _descramble(
        self, message: bytes, layout: _Layout, psdks: dict[int, _Psdk], n: int
    ) -> tuple[_Psdk, bytes, int] | None:
        """Find the PSDK (and 16-s slot) under which the message names that PSDK's own ID."""
        shift = (26 - layout.id_at) * 8  # the ID field inside int(message[1:29])
        body = int.from_bytes(message[1:], "big")
        for psdk in psdks.values():
            if psdk.keys.dusk is None:
                if _u24(message, layout.id_at) == psdk.ident:
                    return psdk, message, rebuild_counter(message[-1], n)
                continue
            for slot in _slots(n):
                plain = body ^ psdk.stream(slot)
                counter = rebuild_counter(plain & 0xFF, n)
                if counter & ~0xF == slot and (plain >> shift) & 0xFFFFFF == psdk.ident:
                    return psdk, message[:1] + plain.to_bytes(DISCOVERY_LEN - 1, "big"), counter
        return None

    def _not_for_me(self, plain: bytes, layout: _Layout, ident: int, now: float) -> str:
        info = plain[layout.info_at : layout.info_at + 6]
        if layout.l2id_at is None:  # group member solicitation
            target = plain[layout.target_at : layout.target_at + 6]  # type: ignore[operator]
            if info == self.user_info:
                return "my own solicitation"
            if any(target) and target != self.user_info:
                return "solicitation for another target"
            return ""
        l2id = _u24(plain, layout.l2id_at)
        if layout.name == "relay_solicitation":
            if not self.relay:
                return "relay solicitation, I am no relay"
            if l2id not in (0, self.l2id):
                return "relay solicitation for another relay"
            if info == self.user_info:
                return "my own solicitation"
            return ""
        if l2id == self.l2id:
            return "my own L2 ID"
        if layout.model == "B":
            pending = self._pending.get((layout.family, ident))
            if pending is None or now > pending[0]:
                return "response I did not solicit"
            if pending[1] is not None and info != pending[1]:
                return "response from another target"
        return ""

    def _answer(
        self, plain: bytes, layout: _Layout, psdk: _Psdk, counter: int, peer: str, now: float
    ) -> list[Action]:
        """A verified solicitation: respond once per distinct solicitation."""
        detail = {"type": layout.name, "model": "B", "counter": counter,
                  "discoverer_info": plain[layout.info_at : layout.info_at + 6].hex()}
        key = plain + counter.to_bytes(8, "big")
        if key in self._answered:
            return [Accepted(KIND, peer=peer, detail={**detail, "duplicate": True})]
        self._answered[key] = None
        while len(self._answered) > _ANSWERED_MAX:
            self._answered.popitem(last=False)
        if layout.family == GROUP:
            detail["group_id"] = psdk.ident
            pkt = bytes(wd.GroupMemberAnnouncement(
                model=wd.MODEL_B, prose_ue_id=self.l2id, announcer_info=self.user_info,
                discovery_group_id=psdk.ident,
            ))
        else:
            detail["relay_code"] = psdk.ident
            pkt = bytes(wd.RelayDiscoveryAnnouncement(
                model=wd.MODEL_B, relay_service_code=psdk.ident,
                announcer_info=self.user_info, relay_ue_id=self.l2id,
            ))
        return [Accepted(KIND, peer=peer, detail=detail), self._send(pkt, psdk, now)]

    def _update(
        self, plain: bytes, layout: _Layout, ident: int, counter: int, peer: str, now: float
    ) -> list[Action]:
        l2id = _u24(plain, layout.l2id_at)  # type: ignore[arg-type]
        info = plain[layout.info_at : layout.info_at + 6]
        is_relay = layout.family == RELAY
        status = plain[_STATUS_AT] if is_relay else 0
        key = (layout.family, ident, l2id)
        detail = {"type": layout.name, "model": layout.model, "l2id": l2id, "counter": counter,
                  "relay_code" if is_relay else "group_id": ident}
        old = self._table.get(key)
        if old is not None:
            self._table[key] = replace(
                old, user_info=info, last_seen=max(old.last_seen, now), model=layout.model,
                counter=max(old.counter, counter), status=status,
            )
            return [Accepted(KIND, peer=peer, detail={**detail, "refresh": True})]
        events = self._expire(now) if len(self._table) >= self.max_entries else []
        if len(self._table) >= self.max_entries:
            return [*events, Rejected(KIND, Reason.CACHE_FULL, peer=peer,
                                      detail=f"discovery table full ({self.max_entries})")]
        self._table[key] = PeerEntry(
            l2id=l2id, user_info=info, group_id=None if is_relay else ident,
            relay_code=ident if is_relay else None, last_seen=now, model=layout.model,
            counter=counter, first_seen=now, status=status,
        )
        data = {"l2id": l2id, "user_info": info.hex(), "model": layout.model,
                "relay_code" if is_relay else "group_id": ident}
        if is_relay:
            data["status"] = status
        name = "relay_discovered" if is_relay else "peer_discovered"
        return [*events, Accepted(KIND, peer=peer, detail={**detail, "refresh": False}),
                Event(name, data)]

    def _expire(self, now: float) -> list[Action]:
        """Drop entries not refreshed for ``entry_ttl`` (they are gone, not evicted)."""
        out: list[Action] = []
        for key, entry in list(self._table.items()):
            if now - entry.last_seen > self.entry_ttl:
                del self._table[key]
                out.append(Event("relay_lost" if entry.is_relay else "peer_lost",
                                 {"l2id": entry.l2id, "group_id": entry.group_id,
                                  "relay_code": entry.relay_code}))
        for pkey, (deadline, _target) in list(self._pending.items()):
            if now > deadline:
                del self._pending[pkey]
        return out

    def _announcements(self, now: float) -> list[Action]:
        out: list[Action] = []
        for gid, psdk in self._keys[GROUP].items():
            pkt = wd.GroupMemberAnnouncement(
                model=wd.MODEL_A, prose_ue_id=self.l2id, announcer_info=self.user_info,
                discovery_group_id=gid,
            )
            out.append(self._send(bytes(pkt), psdk, now))
        if self.relay:
            for code, psdk in self._keys[RELAY].items():
                pkt = wd.RelayDiscoveryAnnouncement(
                    model=wd.MODEL_A, relay_service_code=code, announcer_info=self.user_info,
                    relay_ue_id=self.l2id,
                )
                out.append(self._send(bytes(pkt), psdk, now))
        return out

    @staticmethod
    def _send(plain: bytes, psdk: _Psdk, now: float) -> SendDiscovery:
        """Protect with the UTC-based counter of this transmission (the local clock)."""
        return SendDiscovery(protect(plain, psdk.keys, math.floor(now), mask=_MASKS[plain[0]]))


@lru_cache(maxsize=8)
def _slots(n: int) -> tuple[int, ...]:
    """The 16-s scrambling slots an 8-bit LSB can name around ``n`` (C in [n−128, n+127]),
    nearest first so that a live message is found at the first try."""
    lo, hi = (n - 128) & ~0xF, (n + 127) & ~0xF
    return tuple(sorted(range(lo, hi + 1, 16), key=lambda s: abs(s + 8 - n)))
