"""``prose-mesh bench flood --json`` (issue #7's flood figure) runs end to end and reports what
the closing note quotes. The latency ratio is a benchmark figure, reported, not asserted here
(noisy machines); completion, the CR limit at work and zero acceptances are asserted."""

from __future__ import annotations

import json

from prose_mesh.cli import main


def test_bench_flood_json(capsys):
    code = main(["bench", "flood", "--members", "3", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert res["attack_accepted"] == 0
    # the flooder tried the whole channel; the medium let a CR-limit share through
    assert res["flood_injected"] > 0 and res["flood_dropped_cr_limit"] > res["flood_injected"]
    assert res["flood_rate_sent_fps"] == round(res["flood_rate_fps"] * res["cr_limit"], 1)
    for key in ("gmk_deliveries", "call_setups"):
        assert res[f"{key}_with"] >= 0.99 * res[f"{key}_expected"] > 0, key
        assert res[f"{key}_ratio"] >= 0.99 and res[f"{key}_p95_x"] > 0, key
    assert code == (0 if res["ok"] else 1)
