"""The three-hop relayed group call on real network namespaces (root only; about 15 s: the
namespaces take a few seconds to come up, so the call starts at 5 s)."""

from __future__ import annotations

import pytest
from _scen import chain
from support import is_root, pm_namespaces, root_links

from prose_mesh.scenario import loads_scenario
from prose_mesh.scenario.runner import run_scenario

pytestmark = [pytest.mark.netns]


@pytest.fixture
def netns_clean():
    if not is_root():
        pytest.skip("netns backend needs root (CAP_NET_ADMIN)")
    links, named = root_links(), pm_namespaces()
    yield
    assert root_links() - links == set(), "interfaces left in the root namespace"
    assert pm_namespaces() - named == set(), "pm- namespaces left behind"


async def test_group_call_over_three_hops_on_netns(netns_clean, tmp_path):
    scen = loads_scenario(chain(duration="10s", call_at="5s", call="4s", talk_at="7.5s"))
    result = await run_scenario(scen, backend="netns", out=tmp_path)
    r = result.report
    assert r["backend"] == "netns"
    assert [f for f in r["failures"] if not f.split(" ")[0].count(".")] == [], r["failures"]
    assert r["ues"]["m1"]["decrypted"].get("c1", 0) > 50
    assert r["ues"]["m2"]["decrypted"].get("c1", 0) > 50
    assert "c1" not in r["ues"]["rb"]["decrypted"]  # the relays hold no group key
    assert r["figures"]["relay.canary_hits"]["max"] == 0
    assert r["invariants"]["every_frame_one_verdict"]
    print({k: v for k, v in r["figures"].items() if k.startswith("relay.media_delay")})
