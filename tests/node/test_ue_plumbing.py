"""The UE driver's plumbing on the memory backend: malformed frames, filtering, timers."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from _node_helpers import running_ues, scenario

from prose_mesh.protocol.discovery import ANNOUNCE_TIMER
from prose_mesh.wire import fast


@pytest.fixture
def clock():
    return trio.testing.MockClock(autojump_threshold=0)


async def test_malformed_frames_are_counted_and_dropped_and_the_node_keeps_running(clock):
    async with running_ues("memory", scenario()) as (air, ues):
        u1, u2 = ues["u1"], ues["u2"]
        injector = await air.attach("injector")
        air.medium.connect("injector", "u1")
        mac = injector.mac
        shim_v2 = bytearray(fast.build_sl_dch(0x123456, bytes(29)))
        shim_v2[0] = 0x21  # VER 2
        frames = [
            fast.ethernet(mac, b"\x10\x00"),  # truncated shim
            fast.ethernet(mac, bytes(shim_v2)),  # version 2
            fast.ethernet(mac, fast.build_sl_dch(0x123456, bytes(29))[:-3]),  # LEN lies
            # a well-formed one-to-one PDU for somebody else: filtered, not a rejection
            fast.ethernet(mac, fast.build_sl_sch(
                lcid=28, src_l2id=0x123456, dst_l2id=u2.l2id, cast=2, sdu_type=2, sdu=b"x")),
            # well-formed, for me, but no link with the sender: the direct-link machine rejects
            fast.ethernet(mac, fast.build_sl_sch(
                lcid=30, src_l2id=0x123456, dst_l2id=u1.l2id, cast=2, sdu_type=2, sdu=b"x",
                key_id=7, mac_i=0)),
        ]
        for f in frames:
            await injector.send(f)
        await trio.sleep(0.1)
        assert u1.log.frames_in == 5
        # counted in the shared vocabulary (protocol/reasons.py): truncation is MALFORMED
        assert u1.log.rejected[("frame", "MALFORMED")] == 2
        assert u1.log.rejected[("frame", "BAD_HEADER")] == 1
        assert u1.log.filtered["unicast_not_for_me"] == 1
        assert u1.log.rejected[("pdcp", "UNKNOWN_KEY")] == 1
        assert u1.running
        # still alive: discovery from u2 is processed after the garbage
        since = len(u1.history)
        await u2.start_discovery()
        with trio.fail_after(1):
            _t, ev = await u1.wait_event("peer_discovered", since=since)
        assert ev.data["l2id"] == u2.l2id


async def test_timers_fire_in_virtual_time(clock):
    async with running_ues("memory", scenario()) as (_air, ues):
        u1, u2 = ues["u1"], ues["u2"]
        t0 = trio.current_time()
        await u1.start_discovery()
        timers = u1.pending_timers()
        assert timers[("discovery", ANNOUNCE_TIMER)] == pytest.approx(t0 + 5.0)
        await trio.sleep(10.5)
        # announcements at t0, t0+5, t0+10: one new peer, then two refreshes
        assert u2.log.accepted["discovery"] == 3
        assert len(u2.events("peer_discovered")) == 1
        assert u1.pending_timers()[("discovery", ANNOUNCE_TIMER)] == pytest.approx(t0 + 15.0)
        assert trio.current_time() - t0 == pytest.approx(10.5)  # virtual, not wall, time


async def test_a_stopped_ue_refuses_intents(clock):
    from prose_mesh.node.ue import UeStopped

    async with running_ues("memory", scenario()) as (_air, ues):
        u3 = ues["u3"]
        u3.stop()
        await trio.sleep(0)
        assert not u3.running
        with pytest.raises(UeStopped):
            await u3.start_discovery()
