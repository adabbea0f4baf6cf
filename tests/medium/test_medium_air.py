"""The same scenarios on both backends, checked against the medium's own event log."""

from __future__ import annotations

import json

import pytest
import trio

from prose_mesh.errors import ConfigError, ParseError
from prose_mesh.medium.air import open_air
from prose_mesh.medium.params import LinkParams
from prose_mesh.medium.session import Session

QUIET = 0.3  # seconds (virtual on memory) after which "nothing arrived" is concluded


def frame(mac: bytes, n: int) -> bytes:
    return b"\xff" * 6 + mac + b"\x88\xb5" + b"\x10\x01" + n.to_bytes(4, "big") + bytes(40)


async def recv(radio) -> bytes:
    with trio.fail_after(5.0):  # a lost frame fails the test instead of hanging it
        return await radio.receive()


async def nothing_for(radio) -> bool:
    with trio.move_on_after(QUIET):
        await radio.receive()
        return False
    return True


async def until(cond) -> None:
    with trio.fail_after(2.0):
        while not cond():
            await trio.sleep(0.001)


def events(session: Session) -> list[dict]:
    return [json.loads(x) for x in (session.path / "events.jsonl").read_text().splitlines()]


async def three_in_a_line(air):
    a, b, c = await air.attach_many(["a", "b", "c"], [(0, 0), (40, 0), (80, 0)])
    air.medium.set_range(50.0)
    return a, b, c


async def test_line_broadcast_reaches_neighbours_only(backend, air_clock, tmp_path):
    session = Session(tmp_path, "line")
    async with open_air(backend, seed=1, session=session) as air:
        a, b, c = await three_in_a_line(air)
        await b.send(frame(b.mac, 1))
        assert await recv(a) == frame(b.mac, 1)
        assert await recv(c) == frame(b.mac, 1)
        await a.send(frame(a.mac, 2))
        assert await recv(b) == frame(a.mac, 2)
        assert await nothing_for(c)
        await c.send(frame(c.mac, 3))
        assert await recv(b) == frame(c.mac, 3)
        assert await nothing_for(a)
    evs = events(session)
    delivered = {(e["src"], e["dst"]) for e in evs if e["event"] == "deliver"}
    assert delivered == {("b", "a"), ("b", "c"), ("a", "b"), ("c", "b")}
    assert [e["node"] for e in evs if e["event"] == "tx"] == ["b", "a", "c"]
    manifest = json.loads((session.path / "manifest.json").read_text())
    assert manifest["backend"] == backend and manifest["status"] == "ok"
    assert manifest["seed"] == 1 and manifest["end"] is not None


async def test_loss_100_on_one_link_is_logged(backend, air_clock, tmp_path):
    session = Session(tmp_path, "loss")
    async with open_air(backend, session=session) as air:
        a, b, c = await three_in_a_line(air)
        air.medium.set_link("b", "c", LinkParams(loss=1.0), symmetric=False)
        for i in range(5):
            await b.send(frame(b.mac, i))
        for i in range(5):
            assert await recv(a) == frame(b.mac, i)
        assert await nothing_for(c)
        await c.send(frame(c.mac, 9))  # the other direction still works
        assert await recv(b) == frame(c.mac, 9)
        counts = air.medium.counters
        assert counts[("b", "c")].dropped == {"loss": 5}
        assert counts[("b", "a")].delivered == 5 and counts[("c", "b")].delivered == 1
    drops = [e for e in events(session) if e["event"] == "drop"]
    assert len(drops) == 5
    assert all(e["src"] == "b" and e["dst"] == "c" and e["reason"] == "loss" for e in drops)


async def test_moved_ue_changes_who_hears_it(backend, air_clock):
    async with open_air(backend) as air:
        a, b, c = await three_in_a_line(air)
        air.medium.move("c", (20, 0))  # now within 50 m of a
        await a.send(frame(a.mac, 1))
        assert await recv(b) == frame(a.mac, 1)
        assert await recv(c) == frame(a.mac, 1)
        air.medium.move("c", (200, 0))  # out of everyone's range
        await b.send(frame(b.mac, 2))
        assert await recv(a) == frame(b.mac, 2)
        assert await nothing_for(c)


async def test_delay_orders_deliveries_in_time(backend, air_clock):
    async with open_air(backend, seed=5) as air:
        a, b = await air.attach_many(["a", "b"])
        air.medium.connect("a", "b")
        air.medium.set_link("a", "b", LinkParams(delay_ms=100), symmetric=False)
        t0 = trio.current_time()
        await a.send(frame(a.mac, 1))
        assert await recv(b) == frame(a.mac, 1)
        assert trio.current_time() - t0 >= 0.1


async def test_detach_drops_pending_copies(backend, air_clock):
    async with open_air(backend) as air:
        a, _b = await air.attach_many(["a", "b"])
        air.medium.connect("a", "b")
        air.medium.set_link("a", "b", LinkParams(delay_ms=200))
        await a.send(frame(a.mac, 1))
        await until(lambda: ("a", "b") in air.medium.counters)  # netns: the medium read it
        await air.detach("b")
        await trio.sleep(0.3)
        assert air.medium.counters[("a", "b")].dropped == {"detached": 1}
        with pytest.raises(ConfigError):
            await air.detach("b")


async def test_cancelled_run_still_writes_session(backend, air_clock, tmp_path):
    session = Session(tmp_path, "cut")
    with trio.move_on_after(1.0):
        async with open_air(backend, session=session) as air:
            a, _b = await air.attach_many(["a", "b"])
            air.medium.connect("a", "b")
            air.medium.set_link("a", "b", LinkParams(delay_ms=5000), symmetric=False)
            await a.send(frame(a.mac, 1))
            await trio.sleep_forever()
    manifest = json.loads((session.path / "manifest.json").read_text())
    assert manifest["status"] == "cancelled" and manifest["end"] is not None
    evs = events(session)
    assert [e["event"] for e in evs] == ["tx", "drop"]
    assert evs[1]["reason"] == "closed"
    assert (session.path / "air.pcapng").stat().st_size > 0


async def test_send_refuses_non_pc5_frames(backend, air_clock):
    async with open_air(backend) as air:
        a = await air.attach("a")
        with pytest.raises(ParseError):
            await a.send(b"\xff" * 6 + a.mac + b"\x08\x00" + bytes(20))
        with pytest.raises(ParseError):
            await a.send(b"short")
        with pytest.raises(ConfigError):
            await air.attach("a")


async def test_errors_in_the_body_are_not_wrapped(backend, air_clock):
    with pytest.raises(ConfigError):
        async with open_air(backend) as air:
            await air.detach("nobody")


async def test_unread_frames_are_accounted_not_silent(backend, air_clock, tmp_path):
    """A UE that never reads: memory drops with rx_queue_full; netns reports rx_overflow."""
    import prose_mesh.medium.air as air_mod

    session = Session(tmp_path, "overflow")
    n = air_mod.RX_QUEUE + 100 if backend == "memory" else 6000
    async with open_air(backend, session=session) as air:
        a, _b = await air.attach_many(["a", "b"])
        air.medium.connect("a", "b")
        for i in range(n):
            await a.send(frame(a.mac, i))
            if i % 64 == 0:
                await until(lambda i=i: air.medium.transmissions > i - 64)
        await until(lambda: air.medium.transmissions == n)
    evs = events(session)
    if backend == "memory":
        full = [e for e in evs if e["event"] == "drop" and e["reason"] == "rx_queue_full"]
        assert len(full) == 100
    else:
        over = [e for e in evs if e["event"] == "rx_overflow"]
        assert len(over) == 1 and over[0]["node"] == "b" and over[0]["count"] > 0


async def test_receive_ends_on_detach(backend, air_clock):
    async with open_air(backend) as air:
        a, b = await air.attach_many(["a", "b"])
        air.medium.connect("a", "b")
        got = []

        async def listen():
            async for f in b:
                got.append(f)

        async with trio.open_nursery() as n:
            n.start_soon(listen)
            await a.send(frame(a.mac, 1))
            await until(lambda: got)
            await air.detach("b")  # ends the async for: the nursery closes without a cancel
        assert got == [frame(a.mac, 1)]
        with pytest.raises(ConfigError):
            await b.send(frame(b.mac, 2))
