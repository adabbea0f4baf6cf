"""The five attack scenarios on real network namespaces (root only; 10-30 s of real time
each). The attacker is a namespace like the UEs; the medium tags its frames."""

from __future__ import annotations

import pytest
from scenarios import FIVE, load
from support import is_root, pm_namespaces, root_links

from prose_mesh.scenario.runner import run_scenario

pytestmark = [pytest.mark.netns, pytest.mark.slow]


@pytest.fixture
def netns_clean():
    if not is_root():
        pytest.skip("netns backend needs root (CAP_NET_ADMIN); the memory runs still ran")
    links, named = root_links(), pm_namespaces()
    yield
    assert root_links() - links == set(), "interfaces left in the root namespace"
    assert pm_namespaces() - named == set(), "pm- namespaces left behind"


@pytest.mark.parametrize("name", FIVE)
async def test_attack_scenario_on_netns(name, netns_clean, tmp_path):
    result = await run_scenario(
        load(name, netns=True), backend="netns", out=tmp_path, capture="air"
    )
    r = result.report
    assert r["backend"] == "netns"
    # latency bounds are for benches (real time on shared cores); the rest must hold
    assert [f for f in r["failures"] if not f.startswith("latency.")] == [], r["failures"]
    (row,) = r["verdict"]["attackers"]
    assert row["injected"] > 0 and row["delivered"] > 0 and row["accepted"] == 0, row
    assert row["accepted"] + row["rejected"] + row["unjudged"] == row["delivered"]
    assert r["figures"]["attack.accepted"]["max"] == 0
