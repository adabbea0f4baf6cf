"""A6 — SRTP/SRTCP and call-setup replay (ADVERSARIAL.md §4 A6), memory backend.

scripts/attacks/a6-srtp-replay.yaml: recent (in-window) and stale (behind the window) SRTP
replays, SRTCP floor-control and MONP call-setup replays, medium duplicate 10 %. One run is
shared by the tests below."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from catalogue_support import figure, run


@pytest.fixture(scope="module")
def a6(tmp_path_factory):
    out = tmp_path_factory.mktemp("a6")
    return trio.run(
        lambda: run("a6-srtp-replay.yaml", out), clock=trio.testing.MockClock(autojump_threshold=0)
    ).report


def test_a6_no_duplicate_played_no_phantom_call_or_grant(a6):
    r = a6
    assert figure(r, "media.duplicates_accepted") == 0
    assert figure(r, "calls.phantom") == 0 and figure(r, "floor.phantom_grants") == 0
    assert figure(r, "calls.joins") >= 4 and figure(r, "floor.grants") >= 4  # not vacuous
    # no media replay was accepted (the call-setup / floor replayers: see the test below)
    assert figure(r, "attack.recent.accepted") == 0 and figure(r, "attack.stale.accepted") == 0
    # inside the window → replay_fail, behind it → replay_old; SRTCP has its own list
    assert figure(r, "verdicts.rejected.media.replay_fail") >= 100
    assert figure(r, "verdicts.rejected.media.replay_old") >= 500
    assert figure(r, "verdicts.rejected.floor.replay_fail") >= 10
    assert figure(r, "attack.stale.injected") == 1000
    assert r["medium"]["duplicates"] > 100
    inv = r["invariants"]["invariants"]
    assert inv["every_frame_one_verdict"]["ok"]  # 100 % of the duplicates counted
    assert inv["zero_security_acceptances"]["forged"] == 0
    assert inv["zero_security_acceptances"]["app_duplicated"] == 0
    for name in ("m1", "m2", "m3"):
        assert r["ues"][name]["decrypted"].get("second", 0) > 150 or name == "m3"


def test_a6_call_setup_replays_are_not_accepted(a6):
    assert figure(a6, "attack.control.accepted") == 0 and figure(a6, "attack.setup.accepted") == 0
    sec = a6["invariants"]["invariants"]["zero_security_acceptances"]
    assert sec["ok"] and sec["duplicated"] == 0, sec["examples"]
