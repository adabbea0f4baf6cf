"""The sans-I/O medium core: topology, each netem-style impairment, airtime, accounting."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prose_mesh.errors import ConfigError
from prose_mesh.medium.core import Medium
from prose_mesh.medium.params import GilbertElliott, LinkParams, PathLoss

HDR = b"\xff" * 6 + b"\x02\x50\x4d\x00\x00\x01" + b"\x88\xb5"


def frame(n: int = 0, size: int = 50) -> bytes:
    return HDR + n.to_bytes(4, "big") + bytes(size - 18)


def line(medium: Medium, *names: str) -> None:
    for name in names:
        medium.add_node(name)
    for a, b in itertools.pairwise(names):
        medium.connect(a, b)


def deliver_all(m: Medium, ds) -> None:
    for d in ds:
        m.delivered(d, d.at)


def check_accounting(m: Medium) -> None:
    for pair, c in m.counters.items():
        assert c.sent == c.delivered + sum(c.dropped.values()), pair


def test_explicit_line_who_hears_whom():
    m = Medium()
    line(m, "a", "b", "c")
    assert m.hears("a") == ["b"]
    assert m.hears("b") == ["a", "c"]
    assert m.hears("c") == ["b"]
    ds = m.transmit("b", frame(), 1.0)
    assert sorted(d.receiver for d in ds) == ["a", "c"]
    assert all(d.at == 1.0 and d.frame == frame() for d in ds)


def test_range_move_and_coverage():
    m = Medium(range_m=50.0)
    m.add_node("a", (0, 0))
    m.add_node("b", (40, 0))
    m.add_node("c", (80, 0))
    assert m.hears("a") == ["b"] and m.hears("b") == ["a", "c"]
    m.move("c", (10, 0))
    assert m.hears("a") == ["b", "c"]
    m.leave_coverage("b")
    assert m.hears("a") == ["c"] and m.hears("b") == []
    m.enter_coverage("b")
    m.set_range(5.0)
    assert m.hears("a") == []


def test_path_loss_range_and_edge():
    pl = PathLoss(tx_dbm=23, pl0_db=40, exponent=3.0, sensitivity_dbm=-95, fade_margin_db=6)
    # rx = 23 - 40 - 30 log10(d) >= -95  <=>  d <= 10**(78/30)
    edge = 10 ** (78 / 30)
    assert pl.edge_loss(edge * 1.01) is None
    assert pl.edge_loss(edge * 0.99) == pytest.approx(1 - (30 * math.log10(1 / 0.99)) / 6, abs=1e-9)
    assert pl.edge_loss(10 ** (72 / 30) * 0.9) == 0.0
    m = Medium(path_loss=pl)
    m.add_node("a", (0, 0))
    m.add_node("b", (edge * 0.5, 0))
    m.add_node("c", (edge * 1.5, 0))
    assert m.hears("a") == ["b"]


def test_loss_100_drops_only_that_direction_with_reason():
    m = Medium()
    line(m, "a", "b", "c")
    m.set_link("b", "c", LinkParams(loss=1.0), symmetric=False)
    for i in range(20):
        deliver_all(m, m.transmit("b", frame(i), float(i)))
        deliver_all(m, m.transmit("c", frame(i), float(i)))
    assert m.counters[("b", "c")].dropped == {"loss": 20}
    assert m.counters[("b", "c")].delivered == 0
    assert m.counters[("b", "a")].delivered == 20
    assert m.counters[("c", "b")].delivered == 20
    drops = [e for e in m.events if e["event"] == "drop"]
    assert len(drops) == 20
    assert {(e["src"], e["dst"], e["reason"]) for e in drops} == {("b", "c", "loss")}
    check_accounting(m)


def test_random_loss_rate_and_seed_reproducibility():
    def run(seed: int) -> list[int]:
        m = Medium(seed)
        line(m, "a", "b")
        m.set_link("a", "b", LinkParams(loss=0.3))
        return [len(m.transmit("a", frame(i), i)) for i in range(4000)]

    first = run(7)
    assert first == run(7)
    assert first != run(8)
    lost = first.count(0) / len(first)
    assert 0.27 < lost < 0.33  # binomial sd ~0.007


def test_gilbert_elliott_bursts():
    # p=0.05 r=0.25, 1-h=1 (all lost in bad), 1-k=0: stationary loss p/(p+r) = 1/6, mean burst 1/r=4
    m = Medium(3)
    line(m, "a", "b")
    m.set_link("a", "b", LinkParams(gemodel=GilbertElliott(p=0.05, r=0.25)), symmetric=False)
    got = [len(m.transmit("a", frame(), i)) for i in range(20000)]
    lost = got.count(0) / len(got)
    assert 0.13 < lost < 0.20
    bursts, run = [], 0
    for g in got:
        if g == 0:
            run += 1
        elif run:
            bursts.append(run)
            run = 0
    assert 3.0 < sum(bursts) / len(bursts) < 5.0
    assert m.counters[("a", "b")].dropped.keys() == {"loss_gemodel"}


def test_delay_and_jitter_bounds_uniform():
    m = Medium(1)
    line(m, "a", "b")
    m.set_link("a", "b", LinkParams(delay_ms=20, jitter_ms=5))
    ats = [m.transmit("a", frame(), 10.0)[0].at - 10.0 for _ in range(2000)]
    assert min(ats) >= 0.015 - 1e-12 and max(ats) <= 0.025 + 1e-12
    assert abs(sum(ats) / len(ats) - 0.020) < 0.0005
    assert max(ats) - min(ats) > 0.009


def test_duplicate_counts_apart():
    m = Medium(2)
    line(m, "a", "b")
    m.set_link("a", "b", LinkParams(duplicate=0.5))
    n_copies = 0
    for i in range(2000):
        ds = m.transmit("a", frame(i), i)
        n_copies += len(ds)
        deliver_all(m, ds)
    c = m.counters[("a", "b")]
    assert c.sent == 2000 and c.delivered == 2000
    assert c.dup_created == c.dup_delivered == n_copies - 2000
    assert 900 < c.dup_created < 1100


def test_corrupt_flips_exactly_one_payload_bit():
    m = Medium(4)
    line(m, "a", "b")
    m.set_link("a", "b", LinkParams(corrupt=1.0))
    f = frame(1, 100)
    for _ in range(200):
        (d,) = m.transmit("a", f, 0.0)
        assert "corrupt" in d.flags
        assert d.frame[:14] == f[:14]
        diff = int.from_bytes(d.frame, "big") ^ int.from_bytes(f, "big")
        assert bin(diff).count("1") == 1
        # the copy names the bit it differs by: octet from the frame's start, bit from the LSB
        octet, bit = d.flip
        assert d.frame[octet] ^ f[octet] == 1 << bit


def test_deliver_line_names_the_corrupted_copy_and_its_flip():
    """The verdict line of a receiver carries the SHA of the octets it judged: the deliver line
    of a corrupted copy names that SHA and the flipped bit, so the two are matched exactly."""
    import hashlib

    from prose_mesh.medium.core import SHA_HEX

    m = Medium(5)
    line(m, "a", "b")
    m.set_link("a", "b", LinkParams(corrupt=1.0, duplicate=1.0))
    f = frame(2, 80)
    copies = m.transmit("a", f, 0.0)
    assert len(copies) == 2 and copies[1].dup and copies[0].frame == copies[1].frame
    for d in copies:
        m.delivered(d, 0.001)
    lines = [e for e in m.events if e["event"] == "deliver"]
    assert len(lines) == 2
    for e in lines:
        assert e["frame_sha256"] == hashlib.sha256(f).hexdigest()[:SHA_HEX]
        assert e["copy_sha256"] == hashlib.sha256(copies[0].frame).hexdigest()[:SHA_HEX]
        assert e["flip"] == {"octet": copies[0].flip[0], "bit": copies[0].flip[1], "len": 80}
    m.set_link("a", "b", LinkParams())
    (clean,) = m.transmit("a", f, 1.0)
    m.delivered(clean, 1.001)
    assert clean.flip is None and "copy_sha256" not in m.events[-1]


def test_reorder_gap_netem_rule():
    # netem: delay 10ms reorder 100% gap 5 -> every 5th frame goes at once.
    m = Medium()
    line(m, "a", "b")
    m.set_link("a", "b", LinkParams(delay_ms=10, reorder=1.0, reorder_gap=5))
    flags = [m.transmit("a", frame(i), float(i))[0].flags for i in range(15)]
    reordered = [i for i, f in enumerate(flags) if "reorder" in f]
    assert reordered == [4, 9, 14]


def test_rate_serialises_frames():
    m = Medium()
    line(m, "a", "b")
    m.set_link("a", "b", LinkParams(rate_bps=8000.0), symmetric=False)  # 1000 B/s
    ats = [m.transmit("a", frame(size=100), 0.0)[0].at for _ in range(3)]
    assert ats == pytest.approx([0.1, 0.2, 0.3])


def test_down_window_and_link_down():
    m = Medium(origin=100.0)
    line(m, "a", "b", "c")
    m.set_link("a", "b", LinkParams(down=((1.0, 2.0),)))
    assert m.transmit("a", frame(), 100.5)
    assert not m.transmit("a", frame(), 101.5)
    assert m.transmit("a", frame(), 102.0)
    m.link_down("b", "c")
    assert [d.receiver for d in m.transmit("b", frame(), 103.0)] == ["a"]
    m.link_up("b", "c")
    assert len(m.transmit("b", frame(), 104.0)) == 2
    assert m.counters[("a", "b")].dropped == {"down_window": 1}
    assert m.counters[("b", "c")].dropped == {"link_down": 1}


def test_airtime_flooder_takes_the_channel():
    # capacity 80 kbit/s, 100-octet frames: 10 ms of air each. F floods at 200 frames/s next to A.
    m = Medium()
    for n in ("f", "a", "b"):
        m.add_node(n)
    m.connect("f", "a")
    m.connect("a", "b")
    m.set_capacity(80_000.0, max_queue_ms=20.0)
    t = 0.0
    for i in range(1000):
        m.transmit("f", frame(i, 100), t)
        if i % 10 == 0:
            m.transmit("b", frame(i, 100), t + 0.001)
        t += 0.005
    fa, ba = m.counters[("f", "a")], m.counters[("b", "a")]
    assert fa.dropped["capacity"] > 0 and ba.dropped["capacity"] > 0
    # Without the flooder B's frames to A all fit.
    m2 = Medium()
    for n in ("a", "b"):
        m2.add_node(n)
    m2.connect("a", "b")
    m2.set_capacity(80_000.0, max_queue_ms=20.0)
    for i in range(100):
        m2.transmit("b", frame(i, 100), 0.05 * i)
    assert m2.counters[("b", "a")].dropped == {}
    # Air time is conserved at A: no more than capacity worth of frames delivered.
    air_used = (fa.sent - sum(fa.dropped.values()) + ba.sent - sum(ba.dropped.values())) * 0.010
    assert air_used <= t + 0.020 + 0.010 + 1e-9  # last start + max queue + one frame


def test_attacker_tag_and_event_fields():
    m = Medium(run="r1")
    line(m, "a", "b")
    m.mark_attacker("a", "flood")
    f = frame()
    (d,) = m.transmit("a", f, 0.0)
    m.delivered(d, 0.0)
    tx, dv = m.events
    assert tx["event"] == "tx" and tx["node"] == "a" and tx["attack"] == "flood"
    import hashlib

    assert tx["frame_sha256"] == hashlib.sha256(f).hexdigest()[:16]
    assert dv["event"] == "deliver" and dv["src"] == "a" and dv["dst"] == "b"
    assert dv["attack"] == "flood" and dv["run"] == "r1" and dv["tx"] == tx["tx"]


def test_bad_parameters_rejected():
    with pytest.raises(ConfigError):
        LinkParams(loss=1.5)
    with pytest.raises(ConfigError):
        LinkParams(distribution="pareto")
    m = Medium()
    with pytest.raises(ConfigError):
        m.transmit("ghost", frame(), 0.0)
    m.add_node("a")
    with pytest.raises(ConfigError):
        m.add_node("a")
    with pytest.raises(ConfigError):
        m.connect("a", "a")


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    loss=st.floats(0, 1),
    dup=st.floats(0, 1),
    corrupt=st.floats(0, 1),
    delay=st.floats(0, 50),
    jitter=st.floats(0, 50),
    cap=st.one_of(st.none(), st.floats(1e4, 1e7)),
)
def test_accounting_holds_for_any_impairment(seed, loss, dup, corrupt, delay, jitter, cap):
    m = Medium(seed)
    line(m, "a", "b", "c")
    m.set_default(LinkParams(loss=loss, duplicate=dup, corrupt=corrupt, delay_ms=delay,
                             jitter_ms=jitter))
    m.set_capacity(cap, 10.0)
    for i in range(60):
        deliver_all(m, m.transmit("abc"[i % 3], frame(i), i * 0.001))
    check_accounting(m)
    for c in m.counters.values():
        assert c.dup_created == c.dup_delivered
