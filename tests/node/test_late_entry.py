"""Late entry (TS 24.379 §10.2 periodic announcement / probe) as the node drives it."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from _node_helpers import STANDARD, running_ues, scenario

from prose_mesh.node.provision import group_config
from prose_mesh.node.ue import LATE_ENTRY_PROBE_GAP, LEFT_CALL_HOLD_S


@pytest.fixture
def clock():
    return trio.testing.MockClock(autojump_threshold=0)


async def _keyed(scen: Any, ues: dict[str, Any]) -> Any:
    """The standard group keyed by u1 (its GMS); returns its configuration once u3 has it."""
    cfg = group_config(scen, STANDARD)
    issue = await ues["u1"].distribute(cfg)
    with trio.fail_after(5):
        await ues["u3"].wait_event("gmk_installed", gmk_id=issue.gmk_id)
    return cfg


async def test_a_member_that_missed_the_announcement_joins_on_media(clock):
    """u3 is out of reach when u2 announces; back in reach, the first media it cannot open
    makes it PROBE, u2 answers with a probe-response ANNOUNCEMENT, and u3 decrypts the rest -
    long before the next periodic announcement (10 s)."""
    scen = scenario((STANDARD,))
    async with running_ues("memory", scen) as (air, ues):
        u2, u3 = ues["u2"], ues["u3"]
        cfg = await _keyed(scen, ues)
        air.medium.link_down("u2", "u3")
        since = len(u3.history)
        await u2.start_call(cfg.group_id)
        await trio.sleep(0.5)
        assert u3.calls.call(cfg.group_id) is None  # missed it
        air.medium.link_up("u2", "u3")
        back = trio.current_time()
        for i in range(20):
            await u2.send_media(cfg.group_id, bytes([i]) * 160)
            await trio.sleep(0.02)
        await trio.sleep(0.2)
        t_joined, ev = await u3.wait_event("call_joined", since=since, group=cfg.group_id)
        assert ev.data["caller"] == u2.uri
        assert t_joined - back < 1.0  # not the 10 s periodic announcement
        assert u3.late_entry_probes == 1
        assert u3.log.rejected[("media", "UNKNOWN_KEY")] >= 1  # what it heard before joining
        got = [d["payload"][0] for _t, d in u3.media]
        assert got and got == list(range(20 - len(got), 20))  # the rest, in order


async def test_media_triggered_probes_back_off(clock):
    """A member that cannot join (here: its GMK was never delivered) probes at doubling gaps
    from LATE_ENTRY_PROBE_GAP (0.25, 0.5, 1, 2 ... s), not on every packet."""
    scen = scenario((STANDARD,))
    async with running_ues("memory", scen) as (air, ues):
        gms, u2, u3 = ues["u1"], ues["u2"], ues["u3"]
        cfg = group_config(scen, STANDARD)
        air.medium.link_down("u1", "u3")  # u3 never gets the GMK
        issue = await gms.distribute(cfg)
        with trio.fail_after(5):
            await u2.wait_event("gmk_installed", gmk_id=issue.gmk_id)
        await u2.start_call(cfg.group_id)
        await trio.sleep(0.2)
        for i in range(50 * 10):  # 10 s of media
            await u2.send_media(cfg.group_id, bytes([i % 256]) * 160)
            await trio.sleep(0.02)
        assert u3.log.rejected[("media", "UNKNOWN_KEY")] >= 490
        # probes at t = (2^n - 1) * gap while that is within the 10 s of media (+- one probe:
        # the first UNKNOWN_KEY and the loop's end are not exactly at 0 and 10 s)
        expected = sum(1 for n in range(10) if (2**n - 1) * LATE_ENTRY_PROBE_GAP <= 10.0)
        assert expected - 1 <= u3.late_entry_probes <= expected + 1, expected
        assert not u3.media


async def test_leaving_a_call_is_not_undone_by_its_tail(clock):
    """Media of a call the user just left (the talker still talking, or its last packets in
    flight) does not make the UE probe and re-join for LEFT_CALL_HOLD_S; after that a call
    still going on is late-entered as usual."""
    scen = scenario((STANDARD,))
    async with running_ues("memory", scen) as (_air, ues):
        u2, u3 = ues["u2"], ues["u3"]
        cfg = await _keyed(scen, ues)
        since = len(u3.history)
        await u2.start_call(cfg.group_id)
        await u3.wait_event("call_joined", since=since, group=cfg.group_id)
        await u3.end_call(cfg.group_id)
        left, since = trio.current_time(), len(u3.history)
        while trio.current_time() - left < LEFT_CALL_HOLD_S - 0.1:
            await u2.send_media(cfg.group_id, b"\x01" * 160)
            await trio.sleep(0.02)
        assert u3.late_entry_probes == 0 and u3.calls.call(cfg.group_id) is None
        assert u3.log.rejected[("media", "UNKNOWN_KEY")] >= 50  # it did hear the call
        for _ in range(25):
            await u2.send_media(cfg.group_id, b"\x02" * 160)
            await trio.sleep(0.02)
        t_joined, _ev = await u3.wait_event("call_joined", since=since, group=cfg.group_id)
        assert t_joined - left >= LEFT_CALL_HOLD_S and u3.late_entry_probes == 1
