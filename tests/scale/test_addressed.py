"""Per-member carriage of GMK I_MESSAGEs (prose_mesh.scale.addressed) at small N, through the
scenario runner's ``ue_factory`` hook on the memory backend (virtual time): each I_MESSAGE is
carried to its member only (the tx line counts the skipped hearers), no member parses another
member's I_MESSAGE (no NOT_FOR_ME; on the group bearer each member rejects the N - 1 others),
every member still installs both GMKs and decrypts both calls, and the run's own checks
(ADVERSARIAL.md §5 accounting, the invariants) still pass."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import trio.testing
from _scale_scenario import county

from prose_mesh.scale import addressed
from prose_mesh.scenario import loads_scenario
from prose_mesh.scenario.runner import RunResult, run_scenario

N = 6
SCENARIO = county(
    "scale-small", N, seed=8, duration="40s", columns=3,
    group_extra="    gmk: {period: 1h}\n",
    timeline="""\
  - {at: 10s, call: {id: first, group: county, speaker: m01, duration: 2s}}
  - {at: 20s, rekey: {group: county}}
  - {at: 30s, call: {id: second, group: county, speaker: m05, duration: 2s}}
expect:
  decrypt:
    - {ue: "m*", call: first, must: true}
    - {ue: "m*", call: second, must: true}
""")


def _run(out: Path, factory: Any) -> RunResult:
    scen = loads_scenario(SCENARIO)
    return trio.run(lambda: run_scenario(scen, backend="memory", out=out, capture="none",
                                         ue_factory=factory),
                    clock=trio.testing.MockClock(autojump_threshold=0))


def _events(result: RunResult) -> list[dict[str, Any]]:
    with open(result.path / "events.jsonl") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    return _run(tmp_path_factory.mktemp("scale"), addressed.ue_factory)


def test_the_run_passes_its_checks(run: RunResult) -> None:
    assert run.report["failures"] == [], run.report["failures"]
    dec = {ue: u["decrypted"] for ue, u in run.report["ues"].items() if ue != "gms"}
    assert len(dec) == N
    for ue, calls in dec.items():  # (a speaker does not play its own call)
        assert ue == "m01" or calls.get("first", 0) > 0, ue
        assert ue == "m05" or calls.get("second", 0) > 0, ue


def test_addressed_i_messages_reach_their_member_only(run: RunResult) -> None:
    scaled = _events(run)
    not_for_me = Counter(e["node"] for e in scaled if e.get("event") == "reject"
                         and e.get("kind") == "gmk" and e.get("reason") == "NOT_FOR_ME")
    assert sum(not_for_me.values()) == 0  # nobody sees an I_MESSAGE that is not theirs
    installed = Counter(e["node"] for e in scaled if e.get("event") == "ue_event"
                        and e.get("name") == "gmk_installed")
    assert all(installed[f"m{i:02d}"] == 2 for i in range(1, N + 1))  # create + rekey
    gms_tx = [e for e in scaled if e.get("event") == "tx" and e["src"] == "gms"]
    skipped = [e for e in gms_tx if "unaddressed" in e]
    # two distributions of N I_MESSAGEs, each sent twice (the MIKEY repeat): all addressed
    assert len(skipped) >= 4 * N
    assert all(e["unaddressed"] == N - 1 for e in skipped)  # all N+1 UEs hear each other
    delivered = Counter(e["tx"] for e in scaled if e.get("event") == "deliver")
    assert all(delivered[e["tx"]] == 1 for e in skipped)
    manifest = json.loads((run.path / "manifest.json").read_text())
    assert manifest["summary"]["unaddressed"] == sum(e["unaddressed"] for e in skipped)


def test_addressee_is_none_for_what_is_not_an_i_message() -> None:
    assert addressed.addressee(b"", {}) is None
    assert addressed.addressee(bytes(60), {b"x": "m01"}) is None
