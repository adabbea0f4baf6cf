"""Relay selection and reselection on the memory backend (TS 23.303 §5.4.4): a remote UE talks
through the relay it linked to; the relay dies (or silently stops forwarding) and the remote UE
picks the other relay it discovered, links to it, and its call goes on."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from prose_mesh.scenario import loads_scenario, relays
from prose_mesh.scenario import model as M
from prose_mesh.scenario.runner import run_scenario

SCEN = """
version: 1
name: relay-reselect
description: A remote UE with two relays in reach; the one it uses dies mid-call.
seed: 5
duration: 12s
kms: {uri: kms.relay.example.org, key_period: 30d}
ues:
  gms: {identity: {user: "sip:gms@relay.example.org"}, roles: [group_manager]}
  far: {identity: {user: "sip:far@relay.example.org"}}
  r1:  {identity: {user: "sip:r1@relay.example.org"}, roles: [relay]}
  r2:  {identity: {user: "sip:r2@relay.example.org"}, roles: [relay]}
  m:   {identity: {user: "sip:m@relay.example.org"}}
relays:
  rl1: {ue: r1, kind: ue_to_ue, relay_service_code: 0x000202, serves: [gms]}
  rl2: {ue: r2, kind: ue_to_ue, relay_service_code: 0x000202, serves: [gms]}
groups:
  g:
    type: standard
    uri: "sip:g@relay.example.org"
    manager: gms
    members: [far, m]
    l2_group_id: 0x00C002
medium:
  mode: links
  links:
    - {a: gms, b: m, delay: 2ms}
    - {a: gms, b: r1, delay: 2ms}
    - {a: gms, b: r2, delay: 2ms}
    - {a: far, b: r1, delay: 3ms}
    - {a: far, b: r2, delay: 3ms}
    - {a: r1, b: m, delay: 3ms}
    - {a: r2, b: m, delay: 3ms}
timeline:
  - {at: 1s, d2d_link: {a: far, b: r1, via: rl1}}
  - {at: 3s, call: {id: c, group: g, speaker: far, duration: 9s}}
%s
expect:
  decrypt:
    - {ue: m, call: c, must: true}
  zero_security_acceptances: true
"""


def _run(tmp_path, text: str, *, attack_at: float | None = None, **opts):
    scen = loads_scenario(text)
    if attack_at is not None:
        orig = relays.run

        async def run_then_misbehave(state, nursery):
            await orig(state, nursery)

            async def later():
                await trio.sleep_until(state.origin + attack_at)
                await relays.misbehave(state, M.Attacker("evil", "malicious_relay",
                                                   options={"relay": "rl1", **opts}))

            nursery.start_soon(later)

        relays.run = run_then_misbehave
    try:
        return trio.run(lambda: run_scenario(scen, backend="memory", out=tmp_path),
                        clock=trio.testing.MockClock(autojump_threshold=0))
    finally:
        if attack_at is not None:
            relays.run = orig


def _media_after(result, ue: str, t: float) -> int:
    import json

    n = 0
    with open(result.path / "events.jsonl") as f:
        for line in f:
            ev = json.loads(line)
            if ev.get("event") == "app_deliver" and ev["node"] == ue and ev["t"] > t:
                n += 1
    return n


def test_reselection_after_the_relay_dies(tmp_path):
    result = _run(tmp_path, SCEN % "  - {at: 6s, kill: {ue: r1}}")
    rep = result.report
    assert rep["failures"] == [], rep["failures"]
    figs = rep["figures"]
    assert figs["relay.reselections"]["max"] == 1
    assert 0 < figs["relay.reselection_time"]["max"] < 5.0, figs["relay.reselection_time"]
    # the call went on through r2: m heard far's media in the last seconds of the call
    assert _media_after(result, "m", 9.5) > 60


def test_reselection_when_the_relay_stops_forwarding(tmp_path):
    """ADVERSARIAL.md G1, 100 % drop: r1 keeps announcing but forwards nothing; the remote UE
    misses the echoes of its own frames and moves to r2."""
    result = _run(tmp_path, SCEN % "", attack_at=6.0, drop=1.0)
    rep = result.report
    figs = rep["figures"]
    assert figs["relay.reselections"]["max"] == 1
    assert figs["relay.malicious.dropped"]["max"] > 0
    assert 0 < figs["relay.reselection_after_failure"]["max"] < 5.0
    assert _media_after(result, "m", 9.5) > 60


@pytest.fixture(autouse=True)
def _restore():
    yield
