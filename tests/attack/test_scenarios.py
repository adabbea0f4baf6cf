"""The five attack scenarios end to end on the memory backend (virtual time): every expectation
holds, and each attacker's frames were all judged and all rejected (ADVERSARIAL.md §5
invariants 1 and 5). See scenarios.py for what the test copies scale down."""

from __future__ import annotations

import pytest
import trio.testing
from scenarios import FIVE, load

from prose_mesh.scenario.runner import run_scenario


@pytest.fixture
def clock():
    return trio.testing.MockClock(autojump_threshold=0)


async def _run(name: str, tmp_path):
    return await run_scenario(load(name), backend="memory", out=tmp_path, capture="air")


def _check(result, name: str) -> dict:
    r = result.report
    rows = r["verdict"]["attackers"]
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["injected"] > 0 and row["delivered"] > 0, row
    # every copy the medium delivered was judged, and rejected with a named reason
    assert row["unjudged"] == 0, row
    assert row["accepted"] + row["rejected"] == row["delivered"], row
    assert sum(row["rejected_by_reason"].values()) == row["rejected"]
    return row


@pytest.mark.parametrize("name", FIVE)
async def test_attack_scenario_passes(name, clock, tmp_path):
    result = await _run(name, tmp_path)
    assert result.report["failures"] == [], result.report["failures"]
    row = _check(result, name)
    assert row["accepted"] == 0
    figs = result.report["figures"]
    if name.startswith("a1"):
        assert figs["rejected.REPLAY.before_verify"]["max"] == 1000
        assert figs["gmk.eccsi_verifies"]["max"] == 3  # one per member: no replay verified
    if name.startswith("b2"):
        assert row["rejected_by_reason"] == {"BAD_SIG": 1000, "NOT_FOR_ME": 3000}
    if name.startswith("d2"):  # the twin decrypts nothing new; its old-GMK media is refused
        assert figs["attack.revoked.decrypted_new"]["max"] == 0
        assert row["rejected_by_reason"].get("GMK_SUPERSEDED", 0) > 0
    if name.startswith("f2"):
        assert figs["voice.delivery"]["max"] >= 0.99 and figs["attack.media_during"]["max"] > 0
