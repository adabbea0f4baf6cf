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


async def test_reselection_after_the_relay_dies_on_netns(netns_clean, tmp_path):
    """The remote UE's relay is killed mid-call (its namespace goes): the UE notices, selects
    the other relay it discovered, links to it, and the call goes on (real time)."""
    from test_relay_reselection import SCEN, _media_after

    text = SCEN.replace("duration: 12s", "duration: 14s").replace("at: 3s, call", "at: 4s, call")
    result = await run_scenario(loads_scenario(text % "  - {at: 7s, kill: {ue: r1}}"),
                                backend="netns", out=tmp_path)
    r = result.report
    assert r["backend"] == "netns"
    assert [f for f in r["failures"] if not f.split(" ")[0].count(".")] == [], r["failures"]
    figs = r["figures"]
    assert figs["relay.reselections"]["max"] == 1
    assert 0 < figs["relay.reselection_time"]["max"] < 5.0, figs["relay.reselection_time"]
    assert _media_after(result, "m", 11.0) > 40  # through r2 after the kill
    assert r["figures"]["relay.canary_hits"]["max"] == 0
    print("reselection on netns:", figs["relay.reselection_time"])
