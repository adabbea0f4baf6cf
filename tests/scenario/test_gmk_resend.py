"""The distributor's GMK resends (runner ``_resend_until_installed``, [EMU] the GMS's reliable
transport): a member whose link to the GMS is down for longer than a few resends still gets the
current GMK within GMK_RESEND_GAP of the link coming back, a superseded GMK is no longer
sent, and the resends stop once the member installed the GMK. Memory backend, no loss: the
link-down window alone decides what arrives."""

from __future__ import annotations

import json

import pytest
import trio.testing

from prose_mesh.scenario import loads_scenario
from prose_mesh.scenario.runner import GMK_RESEND_GAP, run_scenario

LINK_UP = 7.5  # s: the GMS's link to m2 is down from 0.5 s to here

SCENARIO = f"""
version: 1
name: gmk-resend
duration: 14s
ues:
  gms: {{identity: {{user: "sip:gms@example.org"}}, roles: [group_manager], position: [0, 0]}}
  m1: {{identity: {{user: "sip:m1@example.org"}}, position: [10, 0]}}
  m2: {{identity: {{user: "sip:m2@example.org"}}, position: [20, 0]}}
groups:
  g1: {{type: standard, manager: gms, members: [m1, m2]}}
medium:
  mode: range
  range: 100
  links:
    - {{a: gms, b: m2, down: [{{at: 0.5s, for: {LINK_UP - 0.5}s}}]}}
timeline:
  - {{at: 1s, create_group: {{group: g1}}}}
  - {{at: 3.5s, rekey: {{group: g1}}}}
"""


@pytest.fixture
def clock():
    return trio.testing.MockClock(autojump_threshold=0)


async def test_resends_outlast_a_long_link_down_and_stop_when_installed(clock, tmp_path):
    # a fixed number of resends 1 s apart (the earlier distributor) is spent inside the window
    assert 3.5 + 3 * GMK_RESEND_GAP < LINK_UP
    result = await run_scenario(loads_scenario(SCENARIO), backend="memory", out=tmp_path)
    r = result.report
    installs: dict[str, list[tuple[float, int]]] = {"m1": [], "m2": []}
    for line in (result.path / "events.jsonl").open():
        e = json.loads(line)
        if e.get("name") == "gmk_installed":
            installs[e["node"]].append((e["t"], e["data"]["gmk_id"]))
    first, second = (gid for _t, gid in sorted(installs["m1"]))  # the creation's, the rekey's
    assert first != second
    assert [gid for _t, gid in installs["m2"]] == [second], installs
    # delivered by the first resend after the link came back, well within J1's 10 s
    assert LINK_UP < installs["m2"][0][0] < LINK_UP + GMK_RESEND_GAP + 0.5
    # the creation's GMK: resends at 2 and 3 s, then superseded by the rekey: none after it;
    # the rekey's: resends at 4.5, 5.5, 6.5 (link down), 7.5 s (the link is back), then
    # installed: none after it
    assert r["figures"]["gmk.resends"]["max"] == 6
    assert r["ues"]["m1"]["accepted"]["gmk"] == 2 and r["ues"]["m2"]["accepted"]["gmk"] == 1
    # (GMK, recipient) pairs: the superseded GMK never reached m2
    assert r["figures"]["gmk.delivery_ratio"]["max"] == pytest.approx(3 / 4)
