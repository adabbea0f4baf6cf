"""Late entry (TS 24.379 §10.2 periodic announcement / probe) as the node drives it."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from _node_helpers import STANDARD, running_ues, scenario

from prose_mesh.node.provision import group_config


@pytest.fixture
def clock():
    return trio.testing.MockClock(autojump_threshold=0)


async def test_a_member_that_missed_the_announcement_joins_on_media(clock):
    """u3 is out of reach when u2 announces; back in reach, the first media it cannot open
    makes it PROBE, u2 answers with a probe-response ANNOUNCEMENT, and u3 decrypts the rest -
    long before the next periodic announcement (10 s)."""
    scen = scenario((STANDARD,))
    async with running_ues("memory", scen) as (air, ues):
        gms, u2, u3 = ues["u1"], ues["u2"], ues["u3"]
        cfg = group_config(scen, STANDARD)
        issue = await gms.distribute(cfg)
        with trio.fail_after(5):
            await u3.wait_event("gmk_installed", gmk_id=issue.gmk_id)
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
    """A member that cannot join (here: its GMK was never delivered) probes at 1, 2, 4, 8 s
    gaps, not on every packet."""
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
        assert 3 <= u3.late_entry_probes <= 5  # t = 0, 1, 3, 7 (+15 s would be next)
        assert not u3.media
