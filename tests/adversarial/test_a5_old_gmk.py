"""A5 — old-GMK re-installation (ADVERSARIAL.md §4 A5), memory backend.

scripts/attacks/a5-old-gmk-reinstall.yaml: the first GMK distribution is replayed, T still
fresh, to a member that never saw it and already holds the rekeyed GMK. Figure: 0 downgrades
of the active GMK (GMK_SUPERSEDED, PROTOCOL.md §8.1 R8)."""

from __future__ import annotations

import json

from catalogue_support import failures_besides_latency, figure, run


async def test_a5_superseded_gmk_is_never_reinstalled(clock, tmp_path):
    result = await run("a5-old-gmk-reinstall.yaml", tmp_path)
    r = result.report
    assert failures_besides_latency(r) == [], r["failures"]
    assert figure(r, "attack.downgrade.injected") >= 4
    assert figure(r, "gmk.downgrades") == 0 and figure(r, "gmk.reinstalls") == 0
    m3 = r["ues"]["m3"]
    # m3 verified the authentic old I_MESSAGE (never seen, T in window) and the GMK policy
    # refused it; m1/m2, which installed it, stopped the replays at the replay cache
    assert m3["rejected"]["gmk"]["GMK_SUPERSEDED"] >= 1 and m3["accepted"]["gmk"] == 1
    for name in ("m1", "m2"):
        assert "GMK_SUPERSEDED" not in r["ues"][name]["rejected"]["gmk"]
        assert r["ues"][name]["rejected"]["gmk"]["REPLAY"] >= 2
    installed = {}
    for line in (result.path / "events.jsonl").open():
        e = json.loads(line)
        if e.get("name") == "gmk_installed" and e["node"].startswith("m"):
            installed.setdefault(e["node"], []).append(e["data"]["gmk_id"])
    # the GMK in force at the end is the rekeyed one, everywhere
    assert (
        len({ids[-1] for ids in installed.values()}) == 1
        and installed["m3"] == installed["m1"][-1:]
    )
    assert all(r["ues"][n]["decrypted"]["after"] > 50 for n in ("m2", "m3"))
