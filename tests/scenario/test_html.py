"""report.html: rendered from a real memory-backend run; the plots are real PNGs and the
tables are there (issue #8: "A test renders report.html for a run and checks the plots and
tables are there")."""

from __future__ import annotations

import json
import re
import struct

import pytest

from prose_mesh.errors import ConfigError
from prose_mesh.scenario import html as H
from prose_mesh.scenario import model as M
from prose_mesh.scenario.runner import run_scenario_sync


def small_group() -> M.Scenario:
    """Four MEs: an ad-hoc group of three, a call, a member added during the call (late
    entry), and D2D links (PC5-S) and GMKs (MIKEY) for the sequence chart."""
    ues = [M.UE(f"u{i}", imei=f"35345678900000{i}", position=(10.0 * i, 0.0)) for i in
           range(1, 5)]  # fmt: skip
    return M.Scenario(
        name="html-small", duration=5.0, seed=3, ues=ues,
        groups=[M.Group("g", type="adhoc", creator="u1", members=["u1", "u2", "u3"])],
        medium=M.Medium(mode="range", range=100),
        timeline=[M.At(0.5, M.CreateGroup("g")),
                  M.At(1.5, M.Call("c1", group="g", speaker="u1", duration=3.0)),
                  M.At(2.0, M.AddMember("g", "u4"))],
        expect=M.Expect(decrypt=[M.Decrypt("u2", True, call="c1")],
                        figures=[M.Figure.parse("call.setup_time.p95", "<= 300ms")]),
    ).validate()  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    result = run_scenario_sync(small_group(), backend="memory", out=out)
    assert result.passed, result.report["failures"]
    return result.path


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


VERDICT = [{"attack": "replay", "sent": 1000, "accepted": 0, "ok": True},
           {"attack": "spoof", "sent": 7, "accepted": 1, "ok": False}]


@pytest.fixture(scope="module")
def page(run_dir):
    """The run's report.html, rendered once; the run carries no attacker, so verdict rows in
    the shape the invariants checker writes are added first (rendered generically)."""
    report = json.loads((run_dir / "report.json").read_text())
    report["verdict"] = VERDICT
    (run_dir / "report.json").write_text(json.dumps(report))
    path = H.render_html(run_dir)
    assert path == run_dir / "report.html"
    return path.read_text()


def test_report_html_has_plots_and_tables(page):
    pngs = H.embedded_pngs(page)
    assert len(pngs) == 3  # timeline, sequence chart, latency distributions
    for data in pngs:
        w, h = png_size(data)
        assert w >= 400 and h >= 200 and len(data) > 10_000
    for heading in ("Timeline", "Sequence chart", "Latency distributions", "Expectations",
                    "Adversarial verdict", "Invariants", "Figures", "UEs"):
        assert f"<h2>{heading}</h2>" in page
    assert "call.setup_time.p95" in page.split("<h2>Expectations</h2>")[1]
    assert page.count("<table>") >= 8
    # opens offline: nothing is fetched (the embedded images' base64 is left out: "http" can
    # occur in it by chance, one run in ~20 of a clean-checkout CI)
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:", page)
    assert "http" not in text and "src=\"data:" in text


def test_verdict_and_invariants_render_generically(page):
    verdict = page.split("<h2>Adversarial verdict</h2>")[1].split("<h2>")[0]
    assert "<th>attack</th>" in verdict and "replay" in verdict and "spoof" in verdict
    assert 'class="bad"' in verdict and 'class="ok"' in verdict
    assert "every_frame_one_verdict" in page.split("<h2>Invariants</h2>")[1].split("<h2>")[0]


def test_latencies_rebuilt_from_events_match_the_report(run_dir):
    report, _ = H.load_run(run_dir)
    ev = H.scan_events(run_dir / "events.jsonl")
    samples = H.latency_samples(report, ev)
    for metric in ("call.setup_time", "late_entry.time", "media.delay"):
        fig = report["figures"][metric]
        assert fig["count"] > 0, metric
        assert len(samples[metric]) == fig["count"], metric
        assert max(samples[metric]) == pytest.approx(fig["max"], abs=2e-6), metric
    assert samples["gmk.delivery_time"]  # every install after a distribution


def test_sequence_chart_shows_signalling_between_chosen_ues(run_dir):
    ev = H.scan_events(run_dir / "events.jsonl")
    assert H.choose_ues(ev)[:1] and 2 <= len(H.choose_ues(ev)) <= 4
    messages, total = H.scan_signalling(run_dir / "events.jsonl", ["u1", "u4"])
    assert total >= len(messages) > 0
    labels = {m.label.split(" ✗")[0] for m in messages}
    assert {"PC5-S", "MIKEY-SAKKE GMK"} <= labels  # the late member's link and its GMK
    assert all({m.src, m.dst} == {"u1", "u4"} and m.t_rx >= m.t_tx for m in messages)
    with pytest.raises(ConfigError, match="not a node"):
        H.render_html(run_dir, ues=["u1", "nobody"])


def test_event_log_is_streamed_and_thinned(tmp_path):
    lines = [json.dumps({"t": i / 100, "run": "r", "node": f"n{i % 3}", "event": "tx",
                         "tx": i, "frame_sha256": f"{i:016x}", "src": f"n{i % 3}",
                         "attack": "x" if i % 10 == 0 else None}) for i in range(5000)]
    lines.insert(7, "{not json")
    (tmp_path / "events.jsonl").write_text("\n".join(lines) + "\n")
    ev = H.scan_events(tmp_path / "events.jsonl", max_points=100)
    assert ev.bad_lines == 1
    assert ev.counts["tx"] == 5000
    assert 50 <= len(ev.series["tx"].items) < 100  # bounded, evenly spread
    assert len(ev.series["attack"].items) < 100 and ev.series["attack"].seen == 500
    assert ev.series["tx"].items[-1][0] > 40  # reaches the end of the run


def test_not_a_run_folder(tmp_path):
    with pytest.raises(ConfigError, match=r"no report\.json"):
        H.render_html(tmp_path)
    (tmp_path / "report.json").write_text("[1, 2")
    with pytest.raises(ConfigError, match="unreadable"):
        H.render_html(tmp_path)


def test_verdict_of_the_attack_runner_and_nested_invariants():
    report = {"verdict": {
        "attackers": [{"attacker": "replay", "role": "replayer", "injected": 1000,
                       "accepted": 0, "rejected_by_reason": {"REPLAY": 1000}}],
        "legit_traffic": {"c1": {"sent": 10, "receivers": ["a", "b"], "deliveries": 20,
                                 "lost": 0, "delivered_ratio": 1.0}}}}
    out = H.verdict_html(report)
    attackers, legit = out.split("<h3>Legitimate traffic</h3>")
    assert "replayer" in attackers and "REPLAY" in attackers and "<td>1000</td>" in attackers
    assert "<td>c1</td>" in legit and "<td>20</td>" in legit
    nested = H.table({"valid": False, "invariants": {
        "no_forgery": {"ok": True, "detail": "0 unexpected"},
        "medium_conservation": {"ok": False, "detail": "3 frames unaccounted"}}})
    assert nested.count("<table>") == 2  # the invariants as a table inside the cell
    assert "<th>ok</th>" in nested and "3 frames unaccounted" in nested
    assert H.table([]) == '<p class="dim">none</p>'
    assert "&lt;script&gt;" in H.table({"x": "<script>"})  # escaped, never markup
