"""The sharded scale path (prose_mesh.scale.shard) at small N: a standard group of 12 members
over 2 worker processes, on the memory backend (socket pairs, no namespaces) and on netns
(root only; nothing left behind). Every member installs both GMKs and joins the call; each
GMK I_MESSAGE is carried to its member only; every process reports its peak RSS."""

from __future__ import annotations

import os

import pytest
from _scale_scenario import county
from support import no_netns_leaks

from prose_mesh.scale.shard import run_sharded, split
from prose_mesh.scenario import loads_scenario

N = 12
SCENARIO = county("shard-small", N, seed=9, duration="1m", columns=4)
ALLOWED_REJECTS = {"gmk:REPLAY", "gmk:TS_OUT_OF_WINDOW"}  # the MIKEY repeat; stale copies


def check(result: dict) -> None:
    assert result["workers"] == 2 and result["members"] == N
    for phase in ("gmk_create", "gmk_rekey"):
        assert result[phase]["done"] == N, result[phase]
    assert result["call_setup"]["done"] == N - 1, result["call_setup"]  # all but the speaker
    med = result["medium"]
    assert med["dropped"] == {} and med["sent"] == med["delivered"]
    # every I_MESSAGE frame (and its repeat) skipped the N other hearers (N members + GMS)
    assert med["unaddressed"] > 0 and med["unaddressed"] % N == 0
    workers = result["processes"]["workers"]
    assert sorted(w["ues"] for w in workers) == [N // 2, N // 2]
    assert len({w["pid"] for w in workers} | {os.getpid()}) == 3
    for w in workers:
        assert w["peak_rss_mb"] > 0
        assert set(w["rejected"]) <= ALLOWED_REJECTS, w["rejected"]
    assert result["wall"]["ues_up"] > 0


def test_split_is_even_and_keeps_order() -> None:
    assert split(list("abcde"), 2) == [["a", "b", "c"], ["d", "e"]]
    assert split(["a"], 4) == [["a"]]


async def test_sharded_memory() -> None:
    check(await run_sharded(loads_scenario(SCENARIO), backend="memory", workers=2, wait=60))


@pytest.fixture
def netns_no_leaks():
    if os.geteuid() != 0:
        pytest.skip("network namespace tests need root (CAP_NET_ADMIN)")
    with no_netns_leaks():
        yield


async def test_sharded_netns(netns_no_leaks: None) -> None:
    check(await run_sharded(loads_scenario(SCENARIO), backend="netns", workers=2, wait=60))


def test_bench_refuses_workers_with_group_carriage(tmp_path, capsys) -> None:
    from prose_mesh.cli import main

    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    code = main(["bench", "scenario", str(path), "--json", "--backend", "memory",
                 "--workers", "2", "--gmk-carriage", "group"])
    assert code == 2 and "addressed" in capsys.readouterr().err
