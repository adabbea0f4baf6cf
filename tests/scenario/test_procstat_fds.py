"""Open-fd counting for J2's "no fd growth" (ADVERSARIAL.md §4 J2): ``procstat.fd_count`` and
the ``process.fds`` / ``process.fd_growth`` figures of a run with an attacker."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prose_mesh.procstat import fd_count, trimmed_rss_kb
from prose_mesh.scenario import loads_scenario, runner

# two UEs and a short junk flood (1 s to 2.5 s of a 3 s run): enough for the sampler to see
# the attack start and run on to the end of the timeline
MINI = """
version: 1
name: fd-count
seed: 5
duration: 3s
kms: {uri: kms.example.org}
ues:
  u1: {identity: {user: "sip:u1@example.org"}, position: [0, 0]}
  u2: {identity: {user: "sip:u2@example.org"}, position: [20, 0]}
medium: {mode: range, range: 200}
attackers:
  flood:
    role: flooder
    position: [10, 10]
    start: 1s
    stop: 2.5s
    rate: 50
    count: 75
    seed: 3
    options: {kinds: [junk]}
"""


def test_fd_count_follows_opened_and_closed_descriptors() -> None:
    before = fd_count()
    r, w = os.pipe()
    try:
        assert fd_count() == before + 2
    finally:
        os.close(r)
        os.close(w)
    assert fd_count() == before


async def _run(tmp_path: Path, progress: Any = None) -> dict[str, Any]:
    return (await runner.run_scenario(loads_scenario(MINI), backend="memory", out=tmp_path,
                                      progress=progress)).report


async def test_no_fd_growth_is_measured_as_zero(autojump_clock, tmp_path: Path) -> None:
    r = await _run(tmp_path)
    assert r["figures"]["attack.flood.injected"]["max"] == 75
    assert r["figures"]["process.fds"]["count"] >= 3  # sampled from the attack to the end
    assert r["figures"]["process.fd_growth"]["max"] == 0


async def test_a_descriptor_leaked_in_the_attack_is_fd_growth(autojump_clock,
                                                               tmp_path: Path) -> None:
    """A pipe opened (and kept) while the flood runs: the growth figure must count it."""
    leaked: list[int] = []

    def leak(phase: str, info: dict[str, Any]) -> None:
        if phase == "running" and not leaked and info["t"] >= 1.5:
            leaked.extend(os.pipe())

    try:
        r = await _run(tmp_path, leak)
    finally:
        for fd in leaked:
            os.close(fd)
    assert len(leaked) == 2
    assert r["figures"]["process.fd_growth"]["max"] == 2


async def test_memory_kept_after_the_warmup_is_steady_rss_growth(autojump_clock, tmp_path: Path,
                                                                  monkeypatch) -> None:
    """J2's steady-state figure: RSS from RSS_WARMUP_S after the first attack to the end. 96 MB
    allocated (and touched) right after the warm-up sample and kept to the end must show in
    it (the allocation is made by the sampler's second RSS reading, so no timing is involved)."""
    from prose_mesh.scenario import attacks

    monkeypatch.setattr(attacks, "RSS_WARMUP_S", 0.5)  # the flood runs from 1 s to 2.5 s
    kept: list[bytes] = []
    readings: list[int] = []

    def reading_then_leak() -> int:
        readings.append(trimmed_rss_kb())
        if len(readings) == 2:  # the warm-up baseline: keep 96 MB from now on
            kept.append(b"x" * (96 << 20))
        return readings[-1]

    monkeypatch.setattr(attacks, "trimmed_rss_kb", reading_then_leak)
    r = await _run(tmp_path)
    assert len(readings) == 2 and len(kept) == 1
    steady = r["figures"]["process.rss_steady_growth_pct"]["max"]
    grown_mb = steady / 100 * readings[1] / 1024
    assert grown_mb > 80, (steady, readings)
