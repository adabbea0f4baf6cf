"""Multi-hop UE-to-UE relaying on the memory backend: a group call over three and four radio
hops and a one-to-one link through two relays that hold no key of either, duplicate
suppression, hop accounting, the relay-memory canary scan, and the envelope in Wireshark."""

from __future__ import annotations

import subprocess

import pytest
import trio
import trio.testing
from _scen import chain
from support import LUA_PLUGIN, have_tshark

from prose_mesh.scenario import loads_scenario
from prose_mesh.scenario.runner import run_scenario


@pytest.fixture(scope="module")
def chain_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("relay")
    scen = loads_scenario(chain())
    result = trio.run(lambda: run_scenario(scen, backend="memory", out=out),
                      clock=trio.testing.MockClock(autojump_threshold=0))
    return scen, result


def test_group_call_over_three_and_four_hops(chain_run):
    _scen, result = chain_run
    rep = result.report
    assert rep["failures"] == [], rep["failures"]
    dec = {n: u["decrypted"] for n, u in rep["ues"].items()}
    assert dec["m1"].get("c1", 0) > 100 and dec["m2"].get("c1", 0) > 100
    assert dec["s"].get("c1", 0) > 0  # m2's talk came back over four hops
    figs = rep["figures"]
    assert "relay.media_delay.hops3" in figs and "relay.media_delay.hops4" in figs
    # a secured one-to-one link m1 <-> m2 through two relays (its PC5-S and data relayed)
    assert figs["d2d_link.established"]["max"] == 1
    assert figs["d2d_link.frames_decrypted_by.rb"]["max"] == 0
    print(rep["figures"])



@pytest.mark.tshark
@pytest.mark.skipif(not have_tshark(), reason="tshark not installed")
def test_envelopes_dissect_in_wireshark(chain_run):
    """The Lua plugin shows the relay envelope and the frame inside it."""
    _scen, result = chain_run
    out = subprocess.run(
        ["tshark", "-X", f"lua_script:{LUA_PLUGIN}", "-r", str(result.path / "air.pcapng"),
         "-Y", "pc5relay", "-T", "fields", "-E", "occurrence=a", "-e", "pc5relay.hops",
         "-e", "pc5emu.lcid"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Lua Error" not in out.stderr
    rows = [line.split("\t") for line in out.stdout.splitlines() if line]
    assert len(rows) > 100
    assert {r[0] for r in rows} >= {"1", "2", "3"}  # copies 1, 2 and 3 relays deep
    assert all(r[1].startswith("10,") for r in rows)  # the envelope's LCID, then the inner's
