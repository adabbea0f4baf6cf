"""Medium.transmit(addressees=...): an addressed frame is carried to its addressees only, the
tx line counts the hearers it skipped, and the airtime model still charges their channels."""

from __future__ import annotations

from prose_mesh.medium.core import Medium

FRAME = bytes(14) + bytes(986)  # 1000 octets: 1 s of air at 8000 bit/s


def medium() -> Medium:
    m = Medium(seed=1)
    for name in "abcd":
        m.add_node(name)
    for a, b in (("a", "b"), ("a", "c"), ("d", "c")):
        m.connect(a, b)
    return m


def test_addressed_frame_reaches_its_addressee_only() -> None:
    m = medium()
    out = m.transmit("a", FRAME, 0.0, addressees=frozenset({"b"}))
    assert [d.receiver for d in out] == ["b"]
    tx = [e for e in m.events if e["event"] == "tx"]
    assert tx[0]["unaddressed"] == 1 and m.unaddressed == 1
    assert ("a", "c") not in m.counters and m.counters[("a", "b")].sent == 1
    plain = m.transmit("a", FRAME, 0.0)  # no addressees: every hearer, no count on the line
    assert sorted(d.receiver for d in plain) == ["b", "c"]
    assert "unaddressed" not in [e for e in m.events if e["event"] == "tx"][1]


def test_addressee_out_of_reach_gets_nothing() -> None:
    m = medium()
    assert m.transmit("a", FRAME, 0.0, addressees=frozenset({"d"})) == []
    assert m.unaddressed == 2


def test_skipped_hearers_channels_are_busy_all_the_same() -> None:
    m = medium()
    m.set_capacity(8000.0, max_queue_ms=5000.0, cr_limit=1.0)
    m.transmit("a", FRAME, 0.0, addressees=frozenset({"b"}))
    # c heard a's frame on the air (1 s) though it got no copy: d's frame to c queues behind
    (d,) = m.transmit("d", FRAME, 0.0)
    assert d.receiver == "c" and d.at == 2.0
    m2 = medium()
    m2.set_capacity(8000.0, max_queue_ms=5000.0, cr_limit=1.0)
    (d2,) = m2.transmit("d", FRAME, 0.0)
    assert d2.at == 1.0
