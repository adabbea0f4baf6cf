"""A temporary group (user regroup) made of two standard groups: scripts/temporary-regroup.yaml.

The manager distributes the temporary group's GMK over secured D2D links to every member of the
constituent groups; the constituent groups keep their own GMKs and calls."""

from __future__ import annotations

import pytest
import trio.testing
from support import REPO

from prose_mesh.scenario import load_scenario
from prose_mesh.scenario.runner import run_scenario


@pytest.fixture
def clock():
    return trio.testing.MockClock(autojump_threshold=0)


async def test_regroup_reaches_both_agencies_and_keeps_constituents_apart(clock, tmp_path):
    scen = load_scenario(REPO / "scripts" / "temporary-regroup.yaml")
    result = await run_scenario(scen, backend="memory", out=tmp_path, capture="none")
    r = result.report
    assert r["failures"] == [], r["failures"]
    ues = r["ues"]
    fire = [n for n in ues if n.startswith("fire")]
    police = [n for n in ues if n.startswith("pol")]
    for name in fire + police:
        assert ues[name]["decrypted"].get("regroup_call", 0) > 0, name
    for name in police:
        assert "fire_only" not in ues[name]["decrypted"], name
    for name in fire:
        assert "police_only" not in ues[name]["decrypted"], name
    # the temporary GMK went over D2D links (one-to-one IP), one per member of the constituents
    assert r["figures"]["gmk.delivery_time"]["count"] >= len(fire) + len(police)
    # both agencies still talk in their own groups after the regroup
    assert r["calls"]["police_only"]["media_sent"] > 0
    assert all(ues[n]["decrypted"].get("police_only", 0) > 0 for n in police if n != "pol1")
