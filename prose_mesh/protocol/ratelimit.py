"""Flood handling before expensive crypto (ADVERSARIAL.md §3 "Flood handling", F2/F3).

* :class:`TokenBucket` — rate/burst bucket on injected time (no clock is read here).
* :class:`SourceLimiter` — per-source buckets (bounded LRU of sources; WireGuard's 20/s, burst 5
  default) **and** a global bucket, because spoofed L2 IDs defeat per-source limits. Sources the
  caller marks as already verified draw from a separate global bucket, so an unverified flood
  cannot starve them (RFC 8019 / WireGuard cookie idea). The L2 ID and any identity claim in an
  unverified message are spoofable, so "verified" must come from the caller's own state.
* :class:`BoundedQueue` — a verification queue that sheds load and counts what it shed.

All counters are plain attributes or :class:`collections.Counter` objects for reports.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from prose_mesh.errors import ConfigError
from prose_mesh.protocol.reasons import Reason

T = TypeVar("T")


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` tokens per second of injected time.

    Starts full. A clock that steps backwards refills nothing (and does not go into debt).
    """

    __slots__ = ("allowed", "burst", "denied", "last", "rate", "tokens")

    def __init__(self, rate: float, burst: float, *, now: float | None = None) -> None:
        if rate < 0 or burst < 1:
            raise ConfigError(f"token bucket needs rate ≥ 0 and burst ≥ 1 (got {rate}, {burst})")
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.last = now
        self.allowed = 0
        self.denied = 0

    def _refill(self, now: float) -> None:
        if self.last is None:
            self.last = now
        elif now > self.last:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now

    def available(self, now: float) -> float:
        """Tokens available at ``now`` (refills; consumes nothing)."""
        self._refill(now)
        return self.tokens

    def take(self, now: float, cost: float = 1.0) -> None:
        """Consume ``cost`` tokens that :meth:`available` showed are there."""
        self._refill(now)
        self.tokens -= cost
        self.allowed += 1

    def allow(self, now: float, cost: float = 1.0) -> bool:
        """Consume ``cost`` tokens if available; count the decision either way."""
        if self.available(now) >= cost:
            self.tokens -= cost
            self.allowed += 1
            return True
        self.denied += 1
        return False


class SourceLimiter:
    """Per-source token buckets plus a global bucket; verified identities get their own pool.

    ``allow(source, now)`` admits only when *both* the source's bucket and the global bucket have
    a token, and then takes one from each (a denied input consumes nothing). The table of
    sources is a bounded LRU: a new source beyond ``max_sources`` evicts the least recently seen,
    which can hand a spoofer a fresh per-source bucket, but never more than the global rate.
    """

    def __init__(
        self,
        *,
        per_source_rate: float = 20.0,
        per_source_burst: float = 5.0,
        global_rate: float = 200.0,
        global_burst: float = 50.0,
        verified_rate: float = 200.0,
        verified_burst: float = 50.0,
        max_sources: int = 1024,
    ) -> None:
        if max_sources < 1:
            raise ConfigError("max_sources must be ≥ 1")
        self.per_source_rate = per_source_rate
        self.per_source_burst = per_source_burst
        self.max_sources = max_sources
        self.global_bucket = TokenBucket(global_rate, global_burst)
        self.verified_bucket = TokenBucket(verified_rate, verified_burst)
        self._sources: OrderedDict[Hashable, TokenBucket] = OrderedDict()
        #: Denials by which limit said no: "per_source", "global", "verified".
        self.denied: Counter[str] = Counter()
        self.allowed = 0
        self.sources_evicted = 0

    def _bucket(self, source: Hashable) -> TokenBucket:
        bucket = self._sources.get(source)
        if bucket is None:
            if len(self._sources) >= self.max_sources:
                self._sources.popitem(last=False)
                self.sources_evicted += 1
            bucket = TokenBucket(self.per_source_rate, self.per_source_burst)
            self._sources[source] = bucket
        else:
            self._sources.move_to_end(source)
        return bucket

    def verdict(self, source: Hashable, now: float, *, verified: bool = False) -> Reason | None:
        """None if admitted (tokens taken), else RATE_LIMITED (nothing taken)."""
        per = self._bucket(source)
        pool = self.verified_bucket if verified else self.global_bucket
        if per.available(now) < 1.0:
            per.denied += 1
            self.denied["per_source"] += 1
            return Reason.RATE_LIMITED
        if pool.available(now) < 1.0:
            pool.denied += 1
            self.denied["verified" if verified else "global"] += 1
            return Reason.RATE_LIMITED
        per.take(now)
        pool.take(now)
        self.allowed += 1
        return None

    def allow(self, source: Hashable, now: float, *, verified: bool = False) -> bool:
        """True when admitted."""
        return self.verdict(source, now, verified=verified) is None

    def __len__(self) -> int:
        return len(self._sources)

    def stats(self) -> dict[str, int]:
        """Counters for reports."""
        return {
            "allowed": self.allowed,
            "denied_per_source": self.denied["per_source"],
            "denied_global": self.denied["global"],
            "denied_verified": self.denied["verified"],
            "sources": len(self._sources),
            "sources_evicted": self.sources_evicted,
        }


class BoundedQueue(Generic[T]):
    """FIFO of at most ``maxlen`` items with a priority lane; sheds and counts instead of growing.

    A full queue sheds the newcomer (tail drop, ``QUEUE_FULL``), except that a priority item
    (from an already-verified identity) displaces the oldest ordinary item, which is counted as
    shed. Priority items are served first. :meth:`shed_all` drops everything under a caller's
    reason (e.g. on key change).
    """

    def __init__(self, maxlen: int) -> None:
        if maxlen < 1:
            raise ConfigError("maxlen must be ≥ 1")
        self.maxlen = maxlen
        self._priority: deque[T] = deque()
        self._normal: deque[T] = deque()
        #: Items shed, by reason value.
        self.shed: Counter[str] = Counter()
        self.accepted = 0
        self.served = 0

    def __len__(self) -> int:
        return len(self._priority) + len(self._normal)

    def push(self, item: T, *, priority: bool = False) -> Reason | None:
        """Enqueue; returns None when queued or QUEUE_FULL when ``item`` itself was shed."""
        if len(self) >= self.maxlen:
            if priority and self._normal:
                self._normal.popleft()
                self.shed[Reason.QUEUE_FULL] += 1
            else:
                self.shed[Reason.QUEUE_FULL] += 1
                return Reason.QUEUE_FULL
        (self._priority if priority else self._normal).append(item)
        self.accepted += 1
        return None

    def pop(self) -> T | None:
        """The next item (priority lane first), or None when empty."""
        if self._priority:
            self.served += 1
            return self._priority.popleft()
        if self._normal:
            self.served += 1
            return self._normal.popleft()
        return None

    def shed_all(self, reason: Reason) -> int:
        """Drop every queued item, counted under ``reason``; returns how many."""
        n = len(self)
        self._priority.clear()
        self._normal.clear()
        self.shed[reason] += n
        return n
