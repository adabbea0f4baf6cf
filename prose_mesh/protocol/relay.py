"""Relaying rules, sans-I/O: forwarding with duplicate suppression and a hop limit, per-hop
accounting, and the remote UE's relay selection and reselection.

References: TS 23.303 §5.4.4 (relay discovery and selection: the remote UE selects a relay
among those it discovered and reselects when it loses it), TS 24.334 §10.5 (relay
announcements; a remote UE's link with its relay is a secured one-to-one link), TS 33.303
§6.5 (the relay is no party to the end-to-end keys). Multi-hop UE-to-UE forwarding is an
emulator extension [EMU] (see :mod:`prose_mesh.wire.relay` for the envelope).

Forwarding rules (:class:`Forwarder`):

* **duplicate suppression** — every inner frame seen (heard directly, received in an envelope,
  or sent by this UE) enters a bounded cache keyed by its octets; a frame in the cache is never
  forwarded or delivered twice;
* **hop limit** — a frame heard directly leaves in an envelope with ``hop_limit`` hops left; a
  relayed copy is forwarded only while hops remain, with one fewer;
* **loop freedom** — the cache holds a frame for at least :data:`DUP_HOLD_S`, far longer than
  ``hop_limit`` hops take, so no frame can come back to a relay that forgot it (the hop limit
  bounds the damage if the cache overflows; overflows are counted);
* **who is forwarded** — a frame heard directly is forwarded when its source is one this relay
  serves (configured, or a remote UE with a one-to-one link to it — that link is how a remote UE
  selects it) or another relay; copies from other relays are forwarded while hops remain.
  One-to-many frames of any group (or only of ``groups``) and one-to-one frames not addressed to
  this relay are forwarded; discovery (SL-DCH) and the relay's own links are per hop.
* **per-link accounting** — counts by neighbour: frames heard, forwarded, duplicates, hop limit
  reached, and the neighbour relay's envelope SN gaps and reorderings.

Selection (:class:`Selector`): candidates come from relay discovery (a relay's Model A
announcements every :data:`RELAY_ANNOUNCE_S`); a candidate unheard for :data:`RELAY_LOST_S` is
gone; a selected relay that does not echo this UE's own frames (on a broadcast medium the
remote hears its relay forward them) within :data:`ECHO_TIMEOUT_S` of
:data:`ECHO_MISSES` sends has stopped forwarding; either way the best other candidate is
selected (most recently heard), and the failed one is held down for :data:`HOLD_DOWN_S`.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from prose_mesh.protocol.actions import Event
from prose_mesh.wire import fast
from prose_mesh.wire.relay import LCID_RELAY, MAX_HOP_LIMIT

DEFAULT_HOP_LIMIT: Final = 4  # [EMU] hops a frame may take through relays
DUP_CACHE_MAX: Final = 8192  # [EMU] inner frames remembered
DUP_HOLD_S: Final = 10.0  # [EMU] at least this long (>> hop_limit x per-hop delay)
RELAY_ANNOUNCE_S: Final = 1.0  # [EMU] relay Model A announcement interval
RELAY_LOST_S: Final = 2.5  # [EMU] a relay unheard this long is gone
ECHO_TIMEOUT_S: Final = 1.0  # [EMU] a forwarded frame echoes back within this
ECHO_MISSES: Final = 5  # [EMU] sends without any echo before the relay is judged silent
HOLD_DOWN_S: Final = 10.0  # [EMU] a failed relay is not reselected for this long


class DupCache:
    """Bounded memory of inner frames, oldest first; :meth:`seen` checks and remembers."""

    def __init__(self, max_entries: int = DUP_CACHE_MAX, hold_s: float = DUP_HOLD_S) -> None:
        if max_entries < 1 or hold_s <= 0:
            raise ValueError("max_entries and hold_s must be positive")
        self.max_entries = max_entries
        self.hold_s = hold_s
        self._seen: OrderedDict[int, float] = OrderedDict()
        self.early_evictions = 0  # entries dropped younger than hold_s (cache too small)

    def __len__(self) -> int:
        return len(self._seen)

    def seen(self, key: int, now: float) -> bool:
        """True when ``key`` is remembered; otherwise remember it and return False."""
        cache = self._seen
        if key in cache:
            return True
        while cache:
            oldest_key, t = next(iter(cache.items()))
            if now - t > self.hold_s:
                del cache[oldest_key]
            elif len(cache) >= self.max_entries:
                del cache[oldest_key]
                self.early_evictions += 1
            else:
                break
        cache[key] = now
        return False


class Verdict(NamedTuple):
    """What to do with one inner frame: ``forward`` with ``hop_limit`` hops left after the
    next, and whether to ``deliver`` it to this UE's own receive path."""

    duplicate: bool
    forward: bool
    hop_limit: int
    hops: int


@dataclass
class HopStats:
    """Envelope SN tracking of one neighbour relay (losses and reorderings on that hop)."""

    last_sn: int | None = None
    received: int = 0
    gaps: int = 0  # SNs skipped (frames the relay sent that did not reach me, or never sent)
    reordered: int = 0  # SNs older than the newest seen

    def on_sn(self, sn: int) -> None:
        self.received += 1
        if self.last_sn is None:
            self.last_sn = sn
            return
        delta = (sn - self.last_sn) & 0xFFFF
        if delta == 0 or delta >= 0x8000:
            self.reordered += 1
            return
        self.gaps += delta - 1
        self.last_sn = sn


@dataclass
class Forwarder:
    """The forwarding rules of one UE (a relay when ``relay`` is true; every UE in a run with
    relays keeps the duplicate cache and the per-hop counters)."""

    l2id: int
    relay: bool = False
    hop_limit: int = DEFAULT_HOP_LIMIT
    serves: set[int] = field(default_factory=set)  # L2 IDs whose own frames I forward
    peer_relays: set[int] = field(default_factory=set)  # other relays' L2 IDs
    groups: frozenset[int] | None = None  # group L2 IDs to forward (None: every group)
    cache: DupCache = field(default_factory=DupCache)
    counts: Counter[str] = field(default_factory=Counter)
    per_link: dict[int, Counter[str]] = field(default_factory=dict)
    hops: dict[int, HopStats] = field(default_factory=dict)
    sn: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.hop_limit <= MAX_HOP_LIMIT:
            raise ValueError(f"hop limit {self.hop_limit} outside 1..{MAX_HOP_LIMIT}")

    def _link(self, l2id: int) -> Counter[str]:
        c = self.per_link.get(l2id)
        if c is None:
            c = self.per_link[l2id] = Counter()
        return c

    def own(self, key: int, now: float) -> None:
        """A frame this UE sent: its relayed echo is a duplicate (and an echo, see Selector)."""
        self.cache.seen(key, now)

    def _forwardable(self, shim: fast.Shim) -> bool:
        if (shim.channel != fast.CH_SL_SCH or shim.src_l2id == self.l2id
                or shim.lcid == LCID_RELAY):
            return False  # discovery is per hop; my own frames; envelopes never nest
        if shim.cast == fast.CAST_ONE_TO_MANY:
            return self.groups is None or shim.dst_l2id in self.groups
        return shim.cast == fast.CAST_ONE_TO_ONE and shim.dst_l2id != self.l2id

    def on_direct(self, shim: fast.Shim, key: int, now: float, *, linked: bool) -> Verdict:
        """A frame heard directly from ``shim.src_l2id`` (``linked``: it has a one-to-one link
        with me, i.e. it selected me as its relay)."""
        link = self._link(shim.src_l2id)
        link["heard"] += 1
        if self.cache.seen(key, now):
            link["duplicate"] += 1
            self.counts["duplicate"] += 1
            return Verdict(True, False, 0, 0)
        src = shim.src_l2id
        fwd = (self.relay and self._forwardable(shim)
               and (linked or src in self.serves or src in self.peer_relays))  # fmt: skip
        if fwd:
            link["forwarded"] += 1
            self.counts["forwarded"] += 1
        return Verdict(False, fwd, self.hop_limit - 1, 1)

    def on_envelope(self, relay_l2id: int, sn: int | None, hop_limit: int, hops: int,
                    inner_shim: fast.Shim, key: int, now: float) -> Verdict:
        """A relayed copy from ``relay_l2id`` (``sn`` None: a path without relay SNs)."""
        link = self._link(relay_l2id)
        link["relayed_in"] += 1
        if sn is not None:
            stats = self.hops.get(relay_l2id)
            if stats is None:
                stats = self.hops[relay_l2id] = HopStats()
            stats.on_sn(sn)
        if self.cache.seen(key, now):
            link["duplicate"] += 1
            self.counts["duplicate"] += 1
            return Verdict(True, False, 0, hops)
        if not self.relay or not self._forwardable(inner_shim):
            return Verdict(False, False, 0, hops)
        if hop_limit == 0 or hops >= 255:
            link["hop_limit"] += 1
            self.counts["hop_limit"] += 1
            return Verdict(False, False, 0, hops)
        link["forwarded"] += 1
        self.counts["forwarded"] += 1
        return Verdict(False, True, hop_limit - 1, hops + 1)

    def next_sn(self) -> int:
        self.sn = (self.sn + 1) & 0xFFFF
        return self.sn


@dataclass
class Candidate:
    l2id: int
    last_seen: float  # Trio-independent: the caller's clock (seconds)
    uri: str | None = None


@dataclass
class Selector:
    """A remote UE's relay selection and reselection (TS 23.303 §5.4.4); see module doc."""

    relay_code: int | None = None
    lost_s: float = RELAY_LOST_S
    echo_timeout_s: float = ECHO_TIMEOUT_S
    echo_misses: int = ECHO_MISSES
    hold_down_s: float = HOLD_DOWN_S
    active: bool = True  # False: wait for a first selection made by the user (link_via)
    selected: int | None = None
    candidates: dict[int, Candidate] = field(default_factory=dict)
    held: dict[int, float] = field(default_factory=dict)  # l2id -> until
    selections: int = 0
    reselections: int = 0
    _unechoed: list[float] = field(default_factory=list)  # send times since the last echo

    def heard(self, l2id: int, now: float, uri: str | None = None) -> None:
        """A (verified) announcement or response of relay ``l2id``."""
        c = self.candidates.get(l2id)
        if c is None:
            self.candidates[l2id] = Candidate(l2id, now, uri)
        else:
            c.last_seen = max(c.last_seen, now)
            c.uri = uri or c.uri

    def sent(self, now: float) -> None:
        """This UE sent a frame its selected relay should forward."""
        if self.selected is not None:
            self._unechoed.append(now)

    def echo(self, relay_l2id: int) -> None:
        """The selected relay forwarded one of my frames: it is alive and forwarding."""
        if relay_l2id == self.selected:
            self._unechoed.clear()

    def _usable(self, now: float) -> list[Candidate]:
        return [c for c in self.candidates.values()
                if now - c.last_seen <= self.lost_s and self.held.get(c.l2id, -1.0) < now]

    def tick(self, now: float) -> list[Event]:
        """Judge the selected relay; select another when it is gone or silent."""
        out: list[Event] = []
        if not self.active:
            return out
        cur = self.selected
        if cur is not None:
            why = None
            c = self.candidates.get(cur)
            if c is None or now - c.last_seen > self.lost_s:
                why = "lost"
            else:
                due = [t for t in self._unechoed if now - t > self.echo_timeout_s]
                if len(due) >= self.echo_misses:
                    why = "not_forwarding"
            if why is not None:
                self.held[cur] = now + self.hold_down_s
                self.selected = None
                self._unechoed.clear()
                out.append(Event("relay_failed", {"l2id": cur, "why": why}))
        if self.selected is None:
            usable = sorted(self._usable(now), key=lambda c: (-c.last_seen, c.l2id))
            if usable:
                best = usable[0]
                self.selected = best.l2id
                again = cur is not None or self.selections > 0
                self.selections += 1
                self.reselections += again
                out.append(Event("relay_reselected" if again else "relay_selected",
                                 {"l2id": best.l2id, "uri": best.uri, "previous": cur}))
        return out
