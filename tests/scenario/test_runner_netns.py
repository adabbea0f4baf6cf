"""adhoc-20 on real network namespaces (root only; about 50 s of real time)."""

from __future__ import annotations

import pytest
from support import REPO, is_root, pm_namespaces, root_links

from prose_mesh.scenario import load_scenario
from prose_mesh.scenario.runner import run_scenario

pytestmark = [pytest.mark.netns, pytest.mark.slow]


@pytest.fixture
def netns_clean():
    if not is_root():
        pytest.skip("netns backend needs root (CAP_NET_ADMIN); the memory run still ran")
    links, named = root_links(), pm_namespaces()
    yield
    assert root_links() - links == set(), "interfaces left in the root namespace"
    assert pm_namespaces() - named == set(), "pm- namespaces left behind"


async def test_adhoc20_on_netns(netns_clean, tmp_path):
    scen = load_scenario(REPO / "scripts" / "adhoc-20.yaml")
    result = await run_scenario(scen, backend="netns", out=tmp_path, capture="air")
    r = result.report
    assert r["backend"] == "netns" and r["time"] == "real"
    # latency bounds are for `bench scenario` (real time on shared cores); the rest must hold
    assert [f for f in r["failures"]
            if not f.split(" ")[0].count(".") or "not measured" in f] == [], r["failures"]
    assert all(c["ok"] for c in r["expectations"] if "ue" in c)
    assert "c3" not in r["ues"]["ue05"]["decrypted"] and "c1" not in r["ues"]["ue20"]["decrypted"]
    assert all(r["ues"][f"ue{i:02d}"]["decrypted"].get("c3", 0) > 100
               for i in range(1, 20) if i != 5)
    assert r["invariants"]["every_frame_one_verdict"]
    assert (result.path / "air.pcapng").stat().st_size > 100_000
