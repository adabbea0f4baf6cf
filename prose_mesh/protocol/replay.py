"""Replay protection state machines: the SRTP/SRTCP sliding window and the MIKEY replay cache.

* :class:`ReplayWindow` — RFC 3711 §3.3.2 (the RFC 4303 §3.4.3 model): a bitmap window behind the
  highest authenticated index. ``check`` is the cheap pre-crypto test and never changes state;
  ``update`` runs only after authentication (PROTOCOL.md §8.2, §8.3).
* :class:`MikeyReplayCache` — PROTOCOL.md §8.1 R1–R7 for one-way MIKEY-SAKKE I_MESSAGEs.
* :class:`KnownBadCache` — (IDRi, RAND, T) of inputs that failed verification, kept for the skew
  window so the same forgery is never verified twice (ADVERSARIAL.md §3).

Time is injected: every method that needs "now" takes it as float seconds on the same scale as
the message T (e.g. NTP seconds, see :func:`ntp_to_seconds`). Nothing here reads a clock.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict
from dataclasses import dataclass

from prose_mesh.errors import ConfigError
from prose_mesh.protocol.reasons import Reason, Rejected

SRTP_INDEX_BITS = 48  # RFC 3711 §3.3.1: index = 2^16 * ROC + SEQ
SRTCP_INDEX_BITS = 31  # RFC 3711 §3.4: E-flag ‖ 31-bit SRTCP index


class ReplayRejected(Rejected):
    """An index or a MIKEY message identity failed a replay check (reason says which)."""


def ntp_to_seconds(t64: int) -> float:
    """NTP-UTC 64-bit timestamp → float seconds (upper 32 bits whole seconds, erratum 4638)."""
    return (t64 >> 32) + (t64 & 0xFFFF_FFFF) / 2**32


# --------------------------------------------------------------------------------------------
# SRTP / SRTCP sliding window


class ReplayWindow:
    """Sliding replay window of ``size`` indices behind the highest authenticated index.

    RFC 3711 §3.3.2: accept an index ahead of the window, or inside it and unseen; reject
    ``replay_old`` behind the window and ``replay_fail`` when already seen. ``size`` must be at
    least 64 (PROTOCOL.md §8.2); any larger size works (128 is the tested alternative).
    """

    __slots__ = ("_bitmap", "_mask", "index_bits", "size", "top")

    def __init__(self, size: int = 64, *, index_bits: int = SRTP_INDEX_BITS) -> None:
        if size < 64:
            raise ConfigError(f"replay window {size} < 64 (RFC 3711 §3.3.2 minimum)")
        if index_bits not in (SRTP_INDEX_BITS, SRTCP_INDEX_BITS):
            raise ConfigError(f"index_bits must be 48 (SRTP) or 31 (SRTCP), not {index_bits}")
        self.size = size
        self.index_bits = index_bits
        #: Highest authenticated index, or None before the first update.
        self.top: int | None = None
        # Bit d set ⇔ index (top − d) was authenticated. Bit 0 is ``top`` itself.
        self._bitmap = 0
        self._mask = (1 << size) - 1

    def verdict(self, index: int) -> Reason | None:
        """The pre-crypto decision for ``index``: None (may proceed) or the reject reason."""
        if not 0 <= index < (1 << self.index_bits):
            return Reason.MALFORMED
        top = self.top
        if top is None or index > top:
            return None
        delta = top - index
        if delta >= self.size:
            return Reason.REPLAY_OLD
        if (self._bitmap >> delta) & 1:
            return Reason.REPLAY_FAIL
        return None

    def check(self, index: int) -> None:
        """Raise :class:`ReplayRejected` (``replay_old``/``replay_fail``) without updating."""
        reason = self.verdict(index)
        if reason is not None:
            raise ReplayRejected(reason, f"index {index} (top {self.top}, window {self.size})")

    def update(self, index: int) -> None:
        """Record an *authenticated* index, moving the window ahead first when needed.

        Re-checks first, so a caller that skipped :meth:`check` still cannot mark a replay as
        new; a rejected index raises and leaves the window unchanged.
        """
        self.check(index)
        top = self.top
        if top is None:
            self.top, self._bitmap = index, 1
        elif index > top:
            shift = index - top
            self._bitmap = ((self._bitmap << shift) | 1) & self._mask if shift < self.size else 1
            self.top = index
        else:
            self._bitmap |= 1 << (top - index)

    def seen(self, index: int) -> bool:
        """True if ``index`` is inside the window and was recorded."""
        return self.verdict(index) is Reason.REPLAY_FAIL

    def snapshot(self) -> tuple[int | None, int]:
        """(top, bitmap): the whole state, for tests that prove a reject changed nothing."""
        return self.top, self._bitmap


# --------------------------------------------------------------------------------------------
# MIKEY I_MESSAGE replay cache (PROTOCOL.md §8.1)


@dataclass(frozen=True, slots=True)
class MikeyReplayKey:
    """R3 cache key: stable under ECCSI signature malleability, so never the signature bytes."""

    idri: bytes  # initiator identity (UID) from IDRi
    idrr: bytes  # responder identity (UID) from IDRr
    csb_id: int  # CSB ID from HDR (32 bits)
    rand: bytes  # RAND payload value
    t: int  # the 64-bit NTP-UTC timestamp as carried in T


class MikeyReplayCache:
    """RFC 3830 §5.4 replay cache with PROTOCOL.md §8.1 R1–R7.

    * ``check`` (cheap, before ECCSI): T window (R1, R6), then presence (R2), then fail-closed
      state (R7). Never adds an entry (expired ones are dropped as time passes).
    * ``insert`` only after ECCSI verification and SAKKE step 5 succeeded (R4).
    * Entries live until ``max(arrival, T) + 2 × skew`` (R5): at least 2 × skew, and past the
      last instant R1 alone could still accept the same T.
    * Bounded (R7). When the cache is full, entries that R1 already rejects on their own
      (T + skew < now) are dropped first; no entry whose message could still pass R1 is ever
      evicted, so no replay is accepted because of an eviction. If it is still full, the cache
      fails closed for ``skew`` seconds (every check answers ``CACHE_FULL``), then reopens once
      such R1-covered entries have made room: after ``skew`` when the cached T were ≤ their
      arrival time, at most ``2 × skew`` for future-dated T. (This pressure eviction shortens
      R5's 2 × skew margin, which only matters if the receiver clock steps backwards.)
    * R6: ``restarted_at`` (the instant state was lost) rejects any T < restarted_at + skew.

    Times assume a receiver clock that does not step backwards between calls.
    """

    def __init__(
        self,
        *,
        skew: float = 5.0,
        capacity: int = 4096,
        restarted_at: float | None = None,
    ) -> None:
        if skew <= 0 or capacity < 1:
            raise ConfigError("skew must be > 0 and capacity ≥ 1")
        self.skew = skew
        self.capacity = capacity
        self.restarted_at = restarted_at
        self._entries: dict[MikeyReplayKey, float] = {}  # key → expiry time
        # Min-heap of (expiry, tiebreak, key) so purging costs O(log n) per expired entry.
        self._heap: list[tuple[float, int, MikeyReplayKey]] = []
        self._tiebreak = itertools.count()
        #: While now < closed_until the cache fails closed (R7); None when open.
        self.closed_until: float | None = None
        self.overflows = 0  # times the cache entered the fail-closed state
        self.inserted = 0
        self.expired = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    # -- internals

    def _purge(self, now: float) -> None:
        """Drop entries past their R5 lifetime."""
        heap, entries = self._heap, self._entries
        while heap and heap[0][0] <= now:
            exp, _, key = heapq.heappop(heap)
            if entries.get(key) == exp:  # not already dropped by _recover
                del entries[key]
                self.expired += 1

    def _recover(self, now: float) -> None:
        """After the fail-closed period: drop entries R1 rejects by itself, reopen if room."""
        self._drop_r1_covered(now)
        if len(self._entries) < self.capacity:
            self.closed_until = None

    def _drop_r1_covered(self, now: float) -> None:
        """Pressure eviction: drop only entries whose T R1 already rejects (T + skew < now)."""
        dead = [k for k in self._entries if ntp_to_seconds(k.t) + self.skew < now]
        for k in dead:
            del self._entries[k]
        self.expired += len(dead)
        if dead:  # rebuild the heap without the dropped keys
            self._heap = [e for e in self._heap if self._entries.get(e[2]) == e[0]]
            heapq.heapify(self._heap)

    def _close(self, now: float) -> None:
        self.closed_until = now + self.skew
        self.overflows += 1

    def _is_closed(self, now: float) -> bool:
        if self.closed_until is None:
            return False
        if now < self.closed_until:
            return True
        self._recover(now)
        return self.closed_until is not None

    # -- public

    def time_verdict(self, t_seconds: float, now: float) -> Reason | None:
        """R1 and R6 only: is T acceptable at ``now``?"""
        if abs(t_seconds - now) > self.skew:
            return Reason.TS_OUT_OF_WINDOW
        if self.restarted_at is not None and t_seconds < self.restarted_at + self.skew:
            return Reason.TS_OUT_OF_WINDOW
        return None

    def verdict(self, key: MikeyReplayKey, now: float) -> Reason | None:
        """The pre-verification decision: None (go on to ECCSI) or the reject reason."""
        reason = self.time_verdict(ntp_to_seconds(key.t), now)
        if reason is not None:
            return reason
        self._purge(now)
        if key in self._entries:
            return Reason.REPLAY
        if self._is_closed(now):
            return Reason.CACHE_FULL
        if len(self._entries) >= self.capacity:
            self._drop_r1_covered(now)
            if len(self._entries) >= self.capacity:
                self._close(now)
                return Reason.CACHE_FULL
        return None

    def check(self, key: MikeyReplayKey, now: float) -> None:
        """Raise :class:`ReplayRejected` with TS_OUT_OF_WINDOW / REPLAY / CACHE_FULL."""
        reason = self.verdict(key, now)
        if reason is not None:
            raise ReplayRejected(reason, f"T={ntp_to_seconds(key.t):.3f} now={now:.3f}")

    def insert(self, key: MikeyReplayKey, now: float) -> None:
        """Record a *verified* message (R4). Re-checks; raises if it may not be recorded.

        A raise here means the caller must not install the key: a message that cannot be
        remembered could be replayed.
        """
        self.check(key, now)
        t_seconds = ntp_to_seconds(key.t)
        expiry = max(now, t_seconds) + 2 * self.skew
        self._entries[key] = expiry
        heapq.heappush(self._heap, (expiry, next(self._tiebreak), key))
        self.inserted += 1

    def stats(self) -> dict[str, int | float | None]:
        """Counters for reports."""
        return {
            "entries": len(self._entries),
            "capacity": self.capacity,
            "inserted": self.inserted,
            "expired": self.expired,
            "overflows": self.overflows,
            "closed_until": self.closed_until,
        }


@dataclass(frozen=True, slots=True)
class KnownBadKey:
    """(IDRi, RAND, T) of an I_MESSAGE that failed ECCSI/SAKKE (ADVERSARIAL.md §3). Receivers
    put a digest of the whole message into ``rand`` next to the RAND, so that the key names the
    forgery itself and not the genuine message it imitates (see :class:`KnownBadCache`)."""

    idri: bytes
    rand: bytes
    t: int


class KnownBadCache:
    """Remembers forgeries for the skew window so each is verified at most once.

    Unlike the replay cache, evicting here is safe (an evicted forgery only costs one more
    verification), so on overflow the oldest entry is dropped and counted.

    Keyed on (IDRi, RAND, T) *and a digest of the whole message* (the receivers build it so):
    with (IDRi, RAND, T) alone, an attacker who sends a forgery with the same (IDRi, RAND, T)
    as a genuine message that has not arrived yet (a delaying relay, or a bit error on the air)
    would get the genuine copy dropped as KNOWN_BAD until T leaves the window. Distinct
    forgeries each cost one verification; the per-source and global rate limits bound that.
    """

    def __init__(self, *, skew: float = 5.0, capacity: int = 4096) -> None:
        if skew <= 0 or capacity < 1:
            raise ConfigError("skew must be > 0 and capacity ≥ 1")
        self.skew = skew
        self.capacity = capacity
        self._entries: OrderedDict[KnownBadKey, float] = OrderedDict()
        # expiry heap (expiries are not in insertion order: they follow T): purging pops only
        # what is due, O(log n) per entry, instead of scanning the cache on every add under a
        # forgery flood. Stale heap items (re-added or evicted keys) are skipped when popped.
        self._due: list[tuple[float, int, KnownBadKey]] = []
        self._seq = 0
        self.added = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _purge(self, now: float) -> None:
        due, entries = self._due, self._entries
        while due and due[0][0] <= now:
            exp, _seq, k = heapq.heappop(due)
            if entries.get(k) == exp:
                del entries[k]
        if len(due) > 4 * self.capacity:  # bound the stale items of evicted / re-added keys
            self._due = [(exp, self._seq + i, k) for i, (k, exp) in enumerate(entries.items(), 1)]
            self._seq += len(entries)
            heapq.heapify(self._due)

    def add(self, key: KnownBadKey, now: float) -> None:
        """Record a failed verification; kept until max(now, T) + skew."""
        self._purge(now)
        if key not in self._entries and len(self._entries) >= self.capacity:
            self._entries.popitem(last=False)
            self.evicted += 1
        exp = self._entries[key] = max(now, ntp_to_seconds(key.t)) + self.skew
        self._seq += 1
        heapq.heappush(self._due, (exp, self._seq, key))
        self.added += 1

    def verdict(self, key: KnownBadKey, now: float) -> Reason | None:
        """KNOWN_BAD if this (IDRi, RAND, T) already failed inside the window."""
        exp = self._entries.get(key)
        if exp is None:
            return None
        if exp <= now:
            del self._entries[key]
            return None
        return Reason.KNOWN_BAD

    def check(self, key: KnownBadKey, now: float) -> None:
        """Raise :class:`ReplayRejected` (KNOWN_BAD) for a known forgery."""
        if self.verdict(key, now) is not None:
            raise ReplayRejected(Reason.KNOWN_BAD, "this (IDRi, RAND, T) failed verification")
