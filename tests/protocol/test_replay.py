"""ReplayWindow, MikeyReplayCache and KnownBadCache: unit cases and Hypothesis state machines.

The state machines compare against deliberately naive models (a Python set of every index ever
accepted; a dict of every message identity with its insertion time), never against the code.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from prose_mesh.errors import ConfigError
from prose_mesh.protocol.reasons import Reason
from prose_mesh.protocol.replay import (
    KnownBadCache,
    KnownBadKey,
    MikeyReplayCache,
    MikeyReplayKey,
    ReplayRejected,
    ReplayWindow,
    ntp_to_seconds,
)

STATEFUL = settings(
    max_examples=1000, stateful_step_count=12, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# ---------------------------------------------------------------------------------- window


def test_window_basic_decisions():
    w = ReplayWindow(64)
    assert w.verdict(5) is None
    w.update(5)
    assert w.verdict(5) is Reason.REPLAY_FAIL
    w.update(100)
    assert w.verdict(37) is None  # 100 − 37 = 63: last slot of the window
    assert w.verdict(36) is Reason.REPLAY_OLD  # 64 behind
    with pytest.raises(ReplayRejected) as ei:
        w.check(5)
    assert ei.value.reason == "replay_old"
    with pytest.raises(ReplayRejected):
        w.update(100)  # update refuses a replay too
    assert w.snapshot() == (100, 1)  # index 5 fell out of the window


def test_window_sizes_and_index_ranges():
    with pytest.raises(ConfigError):
        ReplayWindow(32)
    w = ReplayWindow(128, index_bits=31)
    assert w.verdict(1 << 31) is Reason.MALFORMED and w.verdict(-1) is Reason.MALFORMED
    w.update((1 << 31) - 1)
    assert w.verdict((1 << 31) - 128) is None and w.verdict((1 << 31) - 129) is Reason.REPLAY_OLD
    big = ReplayWindow(64)
    big.update((1 << 48) - 1)
    assert big.seen((1 << 48) - 1)


class WindowModel(RuleBasedStateMachine):
    """RFC 3711 §3.3.2 against a set of every accepted index."""

    @initialize(size=st.sampled_from([64, 128]), bits=st.sampled_from([48, 31]))
    def setup(self, size, bits):
        self.w = ReplayWindow(size, index_bits=bits)
        self.size, self.max = size, (1 << bits) - 1
        self.accepted: set[int] = set()

    def expected(self, i: int) -> Reason | None:
        if not self.accepted or i > max(self.accepted):
            return None
        if max(self.accepted) - i >= self.size:
            return Reason.REPLAY_OLD
        return Reason.REPLAY_FAIL if i in self.accepted else None

    def near(self, data) -> int:
        top = max(self.accepted, default=0)
        delta = data.draw(st.integers(-3 * self.size, 3 * self.size))
        return min(self.max, max(0, top + delta))

    @rule(data=st.data())
    def check_only(self, data):
        i = self.near(data)
        before = self.w.snapshot()
        assert self.w.verdict(i) == self.expected(i)
        assert self.w.snapshot() == before  # a check never changes state

    @rule(data=st.data())
    def authenticated(self, data):
        i = self.near(data)
        want = self.expected(i)
        if want is None:
            self.w.update(i)
            self.accepted.add(i)
        else:
            with pytest.raises(ReplayRejected) as ei:
                self.w.update(i)
            assert ei.value.reason == want

    @rule(data=st.data())
    def far_jump(self, data):
        i = data.draw(st.integers(0, self.max))
        if self.expected(i) is None:
            self.w.update(i)
            self.accepted.add(i)

    @invariant()
    def top_matches(self):
        if getattr(self, "w", None) is not None:
            assert self.w.top == (max(self.accepted) if self.accepted else None)


TestWindowModel = WindowModel.TestCase
TestWindowModel.settings = STATEFUL

# ---------------------------------------------------------------------------------- MIKEY

SKEW = 5.0
NOW0 = 3_900_000_000.0  # NTP seconds (2023)


def key(t_seconds: float, rand: bytes = b"r" * 16, idri: bytes = b"gms") -> MikeyReplayKey:
    return MikeyReplayKey(idri, b"alice", 0x06A12AEA, rand, int(t_seconds * 2**32))


def test_ntp_to_seconds():
    assert ntp_to_seconds((5 << 32) | (1 << 31)) == 5.5


def test_a2_boundaries():
    c = MikeyReplayCache(skew=SKEW)
    for dt, want in [(-(SKEW + 1), "TS_OUT_OF_WINDOW"), (SKEW + 1, "TS_OUT_OF_WINDOW"),
                     (-(SKEW - 1), None), (SKEW - 1, None)]:
        assert c.verdict(key(NOW0 + dt), NOW0) == want
    c.insert(key(NOW0), NOW0)
    assert c.verdict(key(NOW0), NOW0 + 1) is Reason.REPLAY  # A1: replay before ECCSI
    assert c.verdict(key(NOW0), NOW0 + SKEW + 1) is Reason.TS_OUT_OF_WINDOW  # A2 third case


def test_key_excludes_signature_and_insert_only_after_verify():
    c = MikeyReplayCache(skew=SKEW)
    k = key(NOW0)
    for _ in range(1000):  # A1: 1,000 checks before verification add nothing
        assert c.verdict(k, NOW0) is None
    assert len(c) == 0
    c.insert(k, NOW0)
    with pytest.raises(ReplayRejected) as ei:
        c.insert(k, NOW0 + 1)
    assert ei.value.reason == "REPLAY"


def test_r5_lifetime_and_r6_restart():
    c = MikeyReplayCache(skew=SKEW)
    c.insert(key(NOW0 + SKEW), NOW0)  # future-dated T
    assert c.verdict(key(NOW0 + SKEW), NOW0 + 2 * SKEW) is Reason.REPLAY  # still held ≥ 2×skew
    r = MikeyReplayCache(skew=SKEW, restarted_at=NOW0)
    assert r.verdict(key(NOW0 + SKEW - 0.5), NOW0 + 1) is Reason.TS_OUT_OF_WINDOW
    assert r.verdict(key(NOW0 + SKEW), NOW0 + SKEW) is None


def test_f3_overflow_fails_closed_then_recovers():
    c = MikeyReplayCache(skew=SKEW, capacity=3)
    for i in range(3):
        c.insert(key(NOW0, bytes([i]) * 16), NOW0)
    fresh = key(NOW0 + 0.5, b"n" * 16)
    assert c.verdict(fresh, NOW0 + 0.5) is Reason.CACHE_FULL
    assert c.overflows == 1 and c.closed_until == NOW0 + 0.5 + SKEW
    assert c.verdict(key(NOW0 + 1, b"m" * 16), NOW0 + 1) is Reason.CACHE_FULL  # still closed
    assert c.verdict(key(NOW0, b"\x00" * 16), NOW0 + 1) is Reason.REPLAY  # replays stay known
    later = NOW0 + 0.5 + SKEW + 0.01  # recovery ≤ SKEW + 1 s
    assert c.verdict(key(later, b"z" * 16), later) is None
    assert len(c) == 0 and c.closed_until is None


class MikeyCacheModel(RuleBasedStateMachine):
    """R1, R2, R4, R5, R7 against a dict of every inserted identity."""

    @initialize(capacity=st.integers(1, 6))
    def setup(self, capacity):
        self.c = MikeyReplayCache(skew=SKEW, capacity=capacity)
        self.cap = capacity
        self.now = NOW0
        self.inserted: dict[MikeyReplayKey, float] = {}  # key → arrival time
        self.closed_since: float | None = None

    def live(self) -> dict[MikeyReplayKey, float]:
        return {k: a for k, a in self.inserted.items()
                if self.now < max(a, ntp_to_seconds(k.t)) + 2 * SKEW}

    @rule(dt=st.sampled_from([0.0, 0.25, 1.0, 2.5, 5.0, 6.0]))
    def tick(self, dt):
        self.now += dt

    @rule(rand=st.integers(0, 7), dt=st.sampled_from([-6.0, -5.0, -1.0, 0.0, 1.0, 5.0, 6.0]))
    def message(self, rand, dt):
        k = key(self.now + dt, bytes([rand]) * 16)
        got = self.c.verdict(k, self.now)
        if abs(dt) > SKEW:
            assert got is Reason.TS_OUT_OF_WINDOW
            return
        # Safety: a message identity inserted and still inside its lifetime is never accepted.
        if k in self.live():
            assert got is Reason.REPLAY
            return
        if got is Reason.REPLAY:  # only legitimate if inserted before and T still in window
            assert k in self.inserted
            return
        if got is Reason.CACHE_FULL:
            assert len(self.c) >= self.cap or self.c.closed_until is not None
            return
        assert got is None
        self.c.insert(k, self.now)  # "verification succeeded"
        self.inserted[k] = self.now
        assert len(self.c) <= self.cap

    @invariant()
    def bounded(self):
        if getattr(self, "c", None) is not None:
            assert len(self.c) <= self.cap
            if self.c.closed_until is not None:
                assert self.c.closed_until <= self.now + SKEW

    @precondition(lambda self: getattr(self, "c", None) is not None)
    @rule()
    def recovers_after_two_skews(self):
        # Without new inserts, 2 × SKEW + ε later every entry is out of window: the cache is open.
        self.now += 2 * SKEW + 0.01
        probe = key(self.now, b"\xff" * 16)
        assert self.c.verdict(probe, self.now) is None


TestMikeyCacheModel = MikeyCacheModel.TestCase
TestMikeyCacheModel.settings = STATEFUL

# ---------------------------------------------------------------------------------- known-bad


def test_known_bad_cache():
    kb = KnownBadCache(skew=SKEW, capacity=2)
    bad = KnownBadKey(b"gms", b"r" * 16, int(NOW0 * 2**32))
    assert kb.verdict(bad, NOW0) is None
    kb.add(bad, NOW0)
    with pytest.raises(ReplayRejected) as ei:
        kb.check(bad, NOW0 + 1)
    assert ei.value.reason == "KNOWN_BAD"
    assert kb.verdict(bad, NOW0 + SKEW + 0.01) is None  # forgotten after the skew window
    for i in range(3):
        kb.add(KnownBadKey(b"x", bytes([i]), int(NOW0 * 2**32)), NOW0)
    assert len(kb) == 2 and kb.evicted == 1
