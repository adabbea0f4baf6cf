"""Token buckets, the source limiter and the shedding queue, on injected time (exact counts)."""

from __future__ import annotations

import pytest

from prose_mesh.errors import ConfigError
from prose_mesh.protocol.ratelimit import BoundedQueue, SourceLimiter, TokenBucket
from prose_mesh.protocol.reasons import Reason


def test_bucket_burst_then_rate():
    b = TokenBucket(rate=4.0, burst=2.0)
    assert [b.allow(0.0) for _ in range(3)] == [True, True, False]
    assert b.allow(0.125) is False  # half a token
    assert b.allow(0.25) is True  # one token after 0.25 s at 4/s
    assert b.allow(0.25) is False
    assert b.allow(100.0) and b.allow(100.0) and not b.allow(100.0)  # capped at burst
    assert (b.allowed, b.denied) == (5, 4)


def test_bucket_exact_count_over_a_second():
    b = TokenBucket(rate=20.0, burst=5.0)
    admitted = sum(b.allow(i / 1024) for i in range(1024))  # 1,024 attempts in 1 s
    assert admitted == 5 + 19  # burst + 20/s over the 1023/1024 s that elapsed (floor)


def test_bucket_clock_going_backwards_refills_nothing():
    b = TokenBucket(rate=1.0, burst=1.0)
    assert b.allow(10.0)
    assert not b.allow(5.0)
    assert not b.allow(10.5)
    assert b.allow(11.0)


def test_bucket_rejects_bad_config():
    with pytest.raises(ConfigError):
        TokenBucket(rate=-1, burst=1)
    with pytest.raises(ConfigError):
        TokenBucket(rate=1, burst=0)


def test_per_source_limit_wireguard_default():
    lim = SourceLimiter(global_rate=1000, global_burst=1000)
    res = [lim.allow("ue-1", 0.0) for _ in range(7)]
    assert res == [True] * 5 + [False] * 2  # burst 5
    assert lim.allow("ue-2", 0.0)  # another source has its own bucket
    assert lim.allow("ue-1", 0.05)  # 20/s: one token back after 50 ms
    assert lim.denied["per_source"] == 2


def test_global_bucket_caps_spoofed_rotating_sources():
    lim = SourceLimiter(global_rate=10, global_burst=10)
    admitted = sum(lim.allow(f"spoof-{i}", 0.0) for i in range(1000))
    assert admitted == 10 and lim.denied["global"] == 990
    admitted = sum(lim.allow(f"spoof-b{i}", 1.0) for i in range(1000))
    assert admitted == 10


def test_verified_identities_keep_their_share_under_flood():
    lim = SourceLimiter(global_rate=10, global_burst=10, verified_rate=10, verified_burst=10)
    for i in range(500):
        lim.allow(f"junk-{i}", 0.0)
    assert lim.verdict("gms", 0.0, verified=True) is None
    assert lim.verdict("junk-x", 0.0) is Reason.RATE_LIMITED


def test_denied_input_consumes_nothing():
    lim = SourceLimiter(global_rate=1, global_burst=1)
    assert lim.allow("a", 0.0)
    for _ in range(10):
        assert not lim.allow("a", 0.0)
    assert lim.allow("b", 1.0)  # exactly one global token came back; "a"'s denials took none


def test_source_table_is_bounded_lru():
    lim = SourceLimiter(max_sources=3, global_rate=1000, global_burst=1000)
    for s in "abcd":
        lim.allow(s, 0.0)
    assert len(lim) == 3 and lim.sources_evicted == 1
    assert lim.stats()["sources"] == 3


def test_bounded_queue_sheds_and_counts():
    q: BoundedQueue[int] = BoundedQueue(3)
    assert [q.push(i) for i in range(5)] == [None, None, None, Reason.QUEUE_FULL, Reason.QUEUE_FULL]
    assert q.push(99, priority=True) is None  # displaces the oldest ordinary item
    assert q.shed[Reason.QUEUE_FULL] == 3
    assert [q.pop(), q.pop(), q.pop(), q.pop()] == [99, 1, 2, None]
    q.push(7)
    assert q.shed_all(Reason.GMK_SUPERSEDED) == 1 and len(q) == 0
    assert q.shed == {"QUEUE_FULL": 3, "GMK_SUPERSEDED": 1}
    full: BoundedQueue[int] = BoundedQueue(1)
    full.push(1, priority=True)
    assert full.push(2, priority=True) is Reason.QUEUE_FULL  # never displaces priority items
