"""A GMS distributing in batches (Ue.distribute(batch=...)), each batch with its own T."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from _node_helpers import running_ues, scenario

from prose_mesh.errors import ConfigError
from prose_mesh.node.provision import group_config
from prose_mesh.scenario.model import Group, Multicast

BIG = Group("fire", "standard", members=("u2", "u3", "u4", "u5", "u6"), manager="u1",
            uri="sip:fire@test.example.org", l2_group_id=0x00B002,
            multicast=Multicast("ff15::b002"))


@pytest.fixture
def clock():
    return trio.testing.MockClock(autojump_threshold=0)


async def test_batches_reach_every_member_once(clock):
    """Batches of 2 of 5 members: the first with the GMK's issue, the others as resends of it;
    every member gets exactly one I_MESSAGE and installs the one GMK."""
    scen = scenario((BIG,), n=6)
    async with running_ues("memory", scen) as (_air, ues):
        gms, cfg = ues["u1"], group_config(scen, BIG)
        issue = await gms.distribute(cfg, batch=2)
        with trio.fail_after(10):
            for n in ("u2", "u3", "u4", "u5", "u6"):
                await ues[n].wait_event("gmk_installed", gmk_id=issue.gmk_id)
        assert sorted(gms.gmk_distributor.sent.values()) == [1] * 5  # one I_MESSAGE each
        assert {ues[n].gmk_member.current(cfg.group_id, gms.clock.now()).gmk_id
                for n in ("u2", "u6")} == {issue.gmk_id}
        with pytest.raises(ConfigError, match="not members"):
            gms.gmk_distributor.distribute(cfg, now=gms.clock.now(), recipients=["sip:x@y"])
