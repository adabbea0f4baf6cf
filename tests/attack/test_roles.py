"""Attacker roles on the memory backend (virtual time): bounds, capture, tagging, mutations.

No UE stack here: plain radios play the legitimate side, so each test sees exactly what a role
puts on the air and what the medium records about it."""

from __future__ import annotations

import contextlib

import pytest
import trio
import trio.testing

from prose_mesh.attack import (
    Eavesdropper,
    Flooder,
    Replayer,
    Spoofer,
    Tamperer,
    World,
    build,
)
from prose_mesh.errors import ConfigError, ProseMeshError
from prose_mesh.medium.air import open_air
from prose_mesh.scenario import model as M
from prose_mesh.wire import fast


@pytest.fixture
def clock():
    return trio.testing.MockClock(autojump_threshold=0)


def group_frame(src: int, size: int = 600) -> bytes:
    """A ciphered-looking group-bearer frame from ``src`` (I_MESSAGE-sized by default)."""
    return fast.ethernet(
        b"\x02\0\0\0\0\x09",
        fast.build_sl_sch(
            lcid=2,
            src_l2id=src,
            dst_l2id=0x00ABCD,
            cast=fast.CAST_ONE_TO_MANY,
            sdu_type=fast.SDU_IP,
            sdu=bytes(range(256)) * (size // 256) + bytes(size % 256),
            key_id=5,
            sn=7,
            pgk_index=1,
        ),
    )


def parsed_sl_dch(frame: bytes) -> fast.Pc5Pdu | None:
    try:
        pdu = fast.parse_frame(frame)[1]
    except ProseMeshError:
        return None
    return pdu if pdu.shim.channel == fast.CH_SL_DCH else None


async def drain(radio, into: list[bytes]) -> None:
    async for frame in radio:
        into.append(frame)


async def test_replayer_replays_what_it_captured_within_rate_and_count(clock):
    world = World(origin=trio.current_time(), l2ids={"ue": 0x111111})
    role = Replayer(
        "rep",
        world=world,
        start=1.0,
        stop=10.0,
        rate=100,
        count=50,
        options={"capture": "gmk_imessage", "copies": 1000, "delay": 0.2},
    )
    async with open_air("memory") as air:
        ue, victim = await air.attach_many(["ue", "victim"])
        await role.attach(air)
        air.medium.connect("ue", "rep")
        air.medium.connect("rep", "victim")
        got: list[bytes] = []
        async with trio.open_nursery() as n:
            n.start_soon(drain, victim, got)
            await n.start(role.run)
            legit = group_frame(0x111111)
            await ue.send(legit)
            await ue.send(group_frame(0x111111, size=100))  # media-sized: not captured
            await trio.sleep(0.5)
            assert role.injected == 0 and role.counters["captured"] == 1  # not started yet
            t0 = trio.current_time()
            await trio.sleep(2.0)
            n.cancel_scope.cancel()
        events = air.medium.take_events()
    assert role.injected == 50 and got == [legit] * 50  # verbatim, count-bounded
    # paced by the token bucket: 50 frames at 100/s take about half a second after start
    tx = [e for e in events if e["event"] == "tx" and e["node"] == "rep"]
    assert len(tx) == 50 and all(e["attack"] == "rep" for e in tx)
    span = tx[-1]["t"] - tx[0]["t"]
    assert 0.45 <= span <= 0.55, span
    assert tx[0]["t"] >= t0 - world.origin + 0.5 - 1e-6  # started at 1 s, not before
    assert role.done and not role.active


async def test_flooder_stops_at_stop_and_rotates_l2_ids(clock):
    world = World(origin=trio.current_time(), l2ids={"ue": 0x111111})
    role = Flooder(
        "fl",
        world=world,
        start=0.0,
        stop=0.5,
        rate=1000,
        seed=3,
        options={"kinds": ["junk", "discovery"], "rotate_l2_ids": True},
    )
    async with open_air("memory") as air:
        (ue,) = await air.attach_many(["ue"])
        await role.attach(air)
        air.medium.connect("fl", "ue")
        got: list[bytes] = []
        async with trio.open_nursery() as n:
            n.start_soon(drain, ue, got)
            await n.start(role.run)
            await trio.sleep(2.0)
            n.cancel_scope.cancel()
    assert 490 <= role.injected <= 511, role.injected  # 0.5 s at 1000/s (+ one burst)
    assert role.counters["injected.junk"] + role.counters["injected.discovery"] == role.injected
    disc = [p for p in map(parsed_sl_dch, got) if p is not None]
    srcs = {p.shim.src_l2id for p in disc}
    assert len(srcs) == len(disc) > 200 and 0x111111 not in srcs  # rotating, never a UE's


async def test_activate_and_deactivate_follow_the_timeline(clock):
    world = World(origin=trio.current_time())
    role = Flooder("fl", world=world, start=None, rate=100, options={"kinds": ["junk"]})
    async with open_air("memory") as air:
        await role.attach(air)
        async with trio.open_nursery() as n:
            await n.start(role.run)
            await trio.sleep(1.0)
            assert role.injected == 0  # start None: waits for attack_start
            role.activate()
            await trio.sleep(1.0)
            role.deactivate()
            sent = role.injected
            await trio.sleep(1.0)
            n.cancel_scope.cancel()
    assert 99 <= sent <= 101 and role.injected == sent
    assert len(role.windows) == 1


async def test_spoofer_sends_with_the_victims_l2_id(clock):
    from prose_mesh.protocol.groups import GroupConfig

    g = GroupConfig(
        "sip:g@example.org", "adhoc", "sip:a@example.org", frozenset({"sip:a@example.org"})
    )
    world = World(
        origin=trio.current_time(),
        l2ids={"m2": 0x222222, "m1": 0x111111},
        groups={"g1": g},
        members={"g1": {"m1", "m2"}},
    )
    role = Spoofer(
        "sp",
        world=world,
        targets=["m1"],
        start=0.0,
        stop=0.2,
        rate=50,
        options={"as": "m2", "payload": "media"},
    )
    async with open_air("memory") as air:
        (m1,) = await air.attach_many(["m1"])
        await role.attach(air)
        air.medium.connect("sp", "m1")
        got: list[bytes] = []
        async with trio.open_nursery() as n:
            n.start_soon(drain, m1, got)
            await n.start(role.run)
            await trio.sleep(1.0)
            n.cancel_scope.cancel()
    pdus = [fast.parse_frame(f)[1] for f in got]
    assert len(pdus) == role.injected >= 10
    assert {p.shim.src_l2id for p in pdus} == {0x222222}
    assert {p.shim.dst_l2id for p in pdus} == {g.l2_group_id}


def test_tamperer_mutations_break_the_frame():
    role = Tamperer("t", options={"mutations": ["bitflip", "truncate", "length_lie"]}, seed=1)
    frame = group_frame(0x111111)
    for _ in range(50):
        lie = role.mutate(frame, "length_lie")
        # a shorter LEN parses (the rest is Ethernet padding) but cuts the PDU short
        with contextlib.suppress(ProseMeshError):
            assert len(fast.parse_frame(lie)[1].body) < len(fast.parse_frame(frame)[1].body)
        short = role.mutate(frame, "truncate")
        assert len(short) < len(frame)
        with pytest.raises(ProseMeshError):
            fast.parse_frame(short)
        flipped = role.mutate(frame, "bitflip")
        assert len(flipped) == len(frame)
        assert sum(bin(a ^ b).count("1") for a, b in zip(frame, flipped, strict=True)) == 1


async def test_eavesdropper_counts_canary_in_clear(clock):
    world = World(origin=trio.current_time(), canary=b"CANARY!!")
    role = Eavesdropper("ear", world=world)
    async with open_air("memory") as air:
        (ue,) = await air.attach_many(["ue"])
        await role.attach(air)
        air.medium.connect("ue", "ear")
        async with trio.open_nursery() as n:
            await n.start(role.run)
            await ue.send(group_frame(1))
            await ue.send(fast.ethernet(b"\x02" * 6, b"\x10" * 20 + b"CANARY!!"))
            await trio.sleep(0.1)
            n.cancel_scope.cancel()
    assert role.counters["heard"] == 2 and role.counters["canary_hits"] == 1
    assert role.injected == 0


def test_build_from_a_scenario_attacker_and_bad_options():
    world = World(l2ids={"m1": 1})
    a = M.Attacker(
        "f",
        "flooder",
        rate=5.0,
        count=7,
        seed=1,
        options={"kinds": ["junk"], "rotate_l2_ids": False},
    )
    role = build(a, world)
    assert isinstance(role, Flooder) and role.rate == 5.0 and role.count == 7
    with pytest.raises(ConfigError, match="unknown option"):
        build(M.Attacker("f", "flooder", options={"nope": 1}), world)
    with pytest.raises(ConfigError, match="rate"):
        Flooder("f", rate=1e9)
    with pytest.raises(ConfigError):
        build(M.Attacker("x", "malicious_relay"), world)
