"""The run's invariant checker (ADVERSARIAL.md §5) and the verdict table.

Synthetic event logs break one invariant each and must be caught; one real memory-backend run
(an ad-hoc group with a D2D link per member and a call) must pass, and stays checkable offline:
a forged accept line or a repeated ECCSI r planted into its files is found."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import trio.testing
from rich.console import Console

from prose_mesh.medium.pcapng import PcapngWriter
from prose_mesh.scenario import loads_scenario
from prose_mesh.scenario.invariants import check_run, iter_pcapng
from prose_mesh.scenario.report import print_summary
from prose_mesh.scenario.runner import run_scenario
from prose_mesh.scenario.verdict import render_verdict, verdict_table
from prose_mesh.wire import fast, pc5s

A, B, X = "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb", "cccccccccccccccc"


# -- synthetic runs ------------------------------------------------------------------------------
def tx(n: int, src: str, sha: str, t: float = 1.0, attack: str | None = None) -> dict[str, Any]:
    return {"t": t, "run": "r", "node": src, "event": "tx", "tx": n, "frame_sha256": sha,
            "src": src, "len": 100, "attack": attack}


def deliver(n: int, src: str, dst: str, sha: str, t: float = 1.0, flags: tuple[str, ...] = (),
            attack: str | None = None) -> dict[str, Any]:
    return {"t": t, "run": "r", "node": dst, "event": "deliver", "tx": n, "frame_sha256": sha,
            "src": src, "dst": dst, "flags": list(flags), "attack": attack}


def drop(n: int, src: str, dst: str, sha: str, reason: str = "loss",
         flags: tuple[str, ...] = ()) -> dict[str, Any]:
    e = {"t": 1.0, "run": "r", "node": dst, "event": "drop", "tx": n, "frame_sha256": sha,
         "src": src, "dst": dst, "reason": reason, "attack": None}
    if flags:
        e["flags"] = list(flags)
    return e


def verdict(node: str, sha: str | None, kind: str = "media", reason: str | None = None,
            t: float = 1.0) -> dict[str, Any]:
    e = {"t": t, "run": "r", "node": node, "event": "reject" if reason else "accept",
         "kind": kind, "reason": reason, "peer": None}
    if sha is not None:
        e["frame_sha256"] = sha
    return e


def app(event: str, node: str, seq: int, t: float = 1.0) -> dict[str, Any]:
    return {"t": t, "run": "r", "node": node, "event": event, "stream": "k1", "talker": "a",
            "seq": seq}


def srtp(node: str, index: int, rtcp: bool = False, ssrc: int = 7) -> dict[str, Any]:
    return {"t": 1.0, "run": "r", "node": node, "event": "ue_event", "name": "srtp_tx",
            "data": {"mki": "0102030405060708", "ssrc": ssrc, "index": index, "rtcp": rtcp}}


def healthy() -> list[dict[str, Any]]:
    """a sends one media frame: b gets and accepts it, c loses it."""
    return [app("app_send", "a", 0), srtp("a", 0), tx(1, "a", A), deliver(1, "a", "b", A),
            drop(1, "a", "c", A), verdict("b", A), app("app_deliver", "b", 0, t=1.01)]


def counters(events: list[dict[str, Any]], **override: Any) -> dict[str, Any]:
    """report.json counters consistent with ``events`` (what the UEs and the medium count)."""
    ues: dict[str, Any] = {}
    for n in ("a", "b", "c"):
        got = sum(1 for e in events if e["event"] == "deliver" and e["dst"] == n)
        ues[n] = {"frames_in": got, "unaccounted": 0, "filtered": {}}
    copies = sum(1 for e in events if e["event"] in ("deliver", "drop")
                 and "dup" not in (e.get("flags") or ()))  # fmt: skip
    dups = sum(1 for e in events if e["event"] in ("deliver", "drop")
               and "dup" in (e.get("flags") or ()))  # fmt: skip
    out = {"ues": ues, "medium": {"sent": copies, "duplicates": dups}}
    out.update(override)
    return out


def write_run(path: Path, events: list[dict[str, Any]], report: dict[str, Any] | None = None,
              ) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (path / "report.json").write_text(json.dumps(counters(events) if report is None
                                                 else report))
    return path


def check(tmp_path: Path, events: list[dict[str, Any]], report: dict[str, Any] | None = None,
          **kw: Any) -> dict[str, Any]:
    return check_run(write_run(tmp_path / "run", events, report), **kw)


def broken(result: dict[str, Any]) -> set[str]:
    return {k for k, v in result["invariants"].items() if not v["ok"]}


def test_a_healthy_log_is_valid(tmp_path):
    r = check(tmp_path, healthy())
    assert r["valid"] and broken(r) == set()
    assert r["frame_classes"] == {"stable": 1}
    assert r["classes"]["stable"] == 1 and r["invariants"]["keystream_unique"]["packets"] == 1
    assert r["legit_traffic"]["k1"]["delivered_ratio"] == 1.0


def test_no_events_file_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        check_run(tmp_path)


def test_forged_frame_accepted(tmp_path):
    ev = [*healthy(), tx(2, "x", B, attack="x"), deliver(2, "x", "b", B, attack="x"),
          verdict("b", B)]
    r = check(tmp_path, ev)
    z = r["invariants"]["zero_security_acceptances"]
    assert not r["valid"] and broken(r) == {"zero_security_acceptances"} and z["forged"] == 1
    assert z["by_attacker"] == {"x": 1} and r["attack_frames"]["x"]["accepted"] == 1


def test_attack_frame_rejected_counts_for_the_attacker_not_against_the_run(tmp_path):
    ev = [*healthy(), tx(2, "x", B, t=2.0, attack="x"), deliver(2, "x", "b", B, attack="x"),
          verdict("b", B, reason="BAD_TAG")]
    r = check(tmp_path, ev)
    assert r["valid"]
    assert r["attack_frames"]["x"] == {"injected": 1, "rejected": {"BAD_TAG": 1},
                                       "accepted": 0, "replayed_authentic_accepted": 0,
                                       "window_s": [2.0, 2.0]}
    assert r["rejections_by_reason"] == {"BAD_TAG": 1}


def test_replay_to_a_node_that_missed_the_original_is_not_a_forgery(tmp_path):
    ev = [*healthy(), tx(2, "x", A, t=2.0, attack="x"), deliver(2, "x", "c", A, attack="x"),
          verdict("c", A, t=2.0)]
    r = check(tmp_path, ev)
    assert r["valid"]
    assert r["invariants"]["zero_security_acceptances"]["replayed_authentic"] == 1
    assert r["attack_frames"]["x"]["replayed_authentic_accepted"] == 1


def test_replay_accepted_again_is_a_duplicate(tmp_path):
    ev = [*healthy(), tx(2, "x", A, t=2.0, attack="x"), deliver(2, "x", "b", A, attack="x"),
          verdict("b", A, t=2.0)]
    r = check(tmp_path, ev)
    assert broken(r) == {"zero_security_acceptances"}
    assert r["invariants"]["zero_security_acceptances"]["duplicated"] == 1


def test_medium_duplicate_accepted_twice(tmp_path):
    ev = [*healthy(), deliver(1, "a", "b", A, flags=("dup",)), verdict("b", A)]
    r = check(tmp_path, ev)
    assert broken(r) == {"zero_security_acceptances"}
    # rejected instead (SRTP replay list): fine
    ev[-1] = verdict("b", A, reason="REPLAY")
    assert check(tmp_path, ev)["valid"]


def test_identical_legitimate_retransmissions_are_each_accepted_once(tmp_path):
    # an unauthenticated MONP PROBE on an unciphered ad-hoc bearer: same octets, sent twice
    ev = [*healthy(), tx(2, "a", A, t=15.0), deliver(2, "a", "b", A, t=15.0),
          drop(2, "a", "c", A), verdict("b", A, kind="call_key", t=15.0)]
    assert check(tmp_path, ev)["valid"]


@pytest.mark.parametrize(("later", "ok"), [(20.0, True), (40.0, False)])
def test_discovery_repeats_are_tolerated_only_within_the_counter_window(tmp_path, later, ok):
    ev = [tx(1, "a", B, t=1.0), deliver(1, "a", "b", B), verdict("b", B, kind="discovery"),
          tx(2, "x", B, t=later, attack="x"), deliver(2, "x", "b", B, t=later, attack="x"),
          verdict("b", B, kind="discovery", t=later)]
    r = check(tmp_path, ev)
    assert r["valid"] is ok
    z = r["invariants"]["zero_security_acceptances"]
    assert (z["duplicate_tolerated"], z["duplicated"]) == ((1, 0) if ok else (0, 1))


def test_frame_nobody_sent_and_corrupted_copies(tmp_path):
    base = healthy()
    r = check(tmp_path, [*base, verdict("b", X, t=3.0)], counters(base, ues={
        "a": {"frames_in": 0}, "b": {"frames_in": 2}, "c": {"frames_in": 0}}))
    assert r["invariants"]["zero_security_acceptances"]["unexpected"] == 1
    # a legitimate copy the medium corrupted: the flip missed every integrity check
    legit = [*base, tx(2, "a", B, t=2.0), deliver(2, "a", "b", B, t=2.0, flags=("corrupt",)),
             drop(2, "a", "c", B), verdict("b", X, t=2.0)]
    r = check(tmp_path, legit)
    assert r["valid"]
    assert r["invariants"]["zero_security_acceptances"]["accepted_after_corruption"] == 1
    # the same from an attacker's transmission is a forgery
    bad = [*base, tx(2, "x", B, t=2.0, attack="x"),
           deliver(2, "x", "b", B, t=2.0, flags=("corrupt",), attack="x"), verdict("b", X, t=2.0)]
    r = check(tmp_path, bad)
    assert r["invariants"]["zero_security_acceptances"]["forged"] == 1 and not r["valid"]


def test_corrupted_copies_are_matched_by_the_sha_the_deliver_line_names(tmp_path):
    """A legitimate corrupted copy and, later, an attacker's corrupted copy reach b; b accepts
    the legitimate one after both arrived. Matched by the copy's SHA it is the legitimate one
    (matching by time would blame the attacker's, the latest before the verdict)."""
    Y, Z = "1111111111111111", "2222222222222222"
    flip = {"octet": 20, "bit": 3, "len": 100}
    events = [*healthy(), tx(2, "a", B, t=2.0),
              {**deliver(2, "a", "b", B, t=2.0, flags=("corrupt",)), "copy_sha256": Y,
               "flip": flip},
              drop(2, "a", "c", B), tx(3, "x", B, t=2.5, attack="x"),
              {**deliver(3, "x", "b", B, t=2.5, flags=("corrupt",), attack="x"),
               "copy_sha256": Z, "flip": flip}, drop(3, "x", "c", B)]
    r = check(tmp_path, [*events, verdict("b", Z, reason="auth_fail", t=2.6),
                         verdict("b", Y, t=3.0)])
    sec = r["invariants"]["zero_security_acceptances"]
    assert sec["accepted_after_corruption"] == 1 and sec.get("forged", 0) == 0 and r["valid"]
    r = check(tmp_path, [*events, verdict("b", Y, reason="auth_fail", t=2.6),
                         verdict("b", Z, t=3.0)])
    assert r["invariants"]["zero_security_acceptances"]["forged"] == 1 and not r["valid"]


def test_frames_a_malicious_relay_tampered_with(tmp_path):
    """A malicious relay is a legitimate node on the medium: its ``relay_tampered`` event marks
    what it modified. The hop's envelope verdict is not an acceptance of the content; media
    accepted with the relay's flip inside the SRTP packet (or a cross-forwarded frame) is a
    forgery; a flip in front of the SRTP packet is accepted_after_corruption."""

    def tampered(sha: str, flip: int | None, what: str = "modify") -> dict[str, Any]:
        return {"t": 1.5, "run": "r", "node": "a", "event": "ue_event", "name": "relay_tampered",
                "data": {"frame_sha256": sha, "attack": "evil", "what": what, "len": 100,
                         "flip_octet": flip}}

    def accepted(sha: str, kind: str = "media", octets: int | None = 60) -> dict[str, Any]:
        e = verdict("b", sha, kind=kind, t=2.0)
        return e if octets is None else {**e, "octets": octets}

    base = healthy()
    extra = [tx(2, "a", B, t=2.0), deliver(2, "a", "b", B, t=2.0), drop(2, "a", "c", B)]

    def judge(*lines: dict[str, Any]) -> dict[str, Any]:
        r = check(tmp_path, [*base, *extra, *lines])
        return r["invariants"]["zero_security_acceptances"]

    sec = judge(tampered(B, 20), accepted(B))  # octet 20 < 100 - 60: a header
    assert sec["accepted_after_corruption"] == 1 and sec["forged"] == 0
    sec = judge(tampered(B, 70), accepted(B))  # inside the SRTP packet
    assert sec["forged"] == 1 and sec["by_attacker"] == {"evil": 1}
    sec = judge(tampered(B, None, "cross_forward"), accepted(B))
    assert sec["forged"] == 1
    sec = judge(tampered(B, 20), accepted(B, octets=None))  # size unknown: no benefit of doubt
    assert sec["forged"] == 1
    sec = judge(tampered(B, 70), accepted(B, kind="relay_ip"))  # the hop's envelope verdict
    assert sec["forged"] == 0 and sec["ok"]
    # the verdict table's row for the relay: what it tampered with, and the receivers' verdicts
    r = check(tmp_path, [*base, *extra, tampered(B, 70), verdict("b", B, reason="auth_fail")])
    assert r["attack_frames"]["evil"] == {"injected": 1, "rejected": {"auth_fail": 1},
                                          "accepted": 0, "replayed_authentic_accepted": 0}


def test_local_verdicts_are_not_frames(tmp_path):
    r = check(tmp_path, [*healthy(), verdict("a", None, kind="gmk")])
    assert r["valid"] and r["frame_classes"]["local"] == 1


def test_app_messages_nobody_sent_or_played_twice(tmp_path):
    r = check(tmp_path, [*healthy(), app("app_deliver", "b", 5)])
    assert not r["valid"] and r["classes"]["unexpected"] == 1
    r = check(tmp_path, [*healthy(), app("app_deliver", "b", 0, t=1.02)])
    assert not r["valid"] and r["classes"]["duplicated"] == 1
    z = r["invariants"]["zero_security_acceptances"]
    assert z["app_duplicated"] == 1 and r["security_acceptances"] == 1


def test_jepsen_classes_lost_never_read_stale(tmp_path):
    ev = [app("app_send", "a", s, t=1.0 + s) for s in range(5)]
    ev += [app("app_deliver", "b", 0, t=1.1), app("app_deliver", "b", 3, t=4.1),
           app("app_deliver", "b", 2, t=4.2)]  # 1 lost while listening, 2 reordered, 4 after
    r = check(tmp_path, ev)
    c = r["classes"]
    assert (c["stable"], c["lost"], c["never_read"], c["stale"]) == (3, 1, 1, 1)
    assert r["valid"]  # loss is accounted, not a violation
    assert r["legit_traffic"]["k1"]["delivered_ratio"] == 0.75


def test_medium_conservation(tmp_path):
    ev = healthy()
    # a copy the medium counted but the log never resolved
    r = check(tmp_path, ev, counters(ev, medium={"sent": 3, "duplicates": 0}))
    assert broken(r) == {"medium_conservation"}
    # one copy with two outcomes
    r = check(tmp_path, [*ev, drop(1, "a", "b", A, reason="closed")])
    assert "medium_conservation" in broken(r)
    assert r["invariants"]["medium_conservation"]["copies_with_several_outcomes"] == 1
    # an outcome of a transmission nobody logged
    r = check(tmp_path, [*ev, drop(9, "a", "c", B)])
    assert r["invariants"]["medium_conservation"]["unmatched_outcomes"] == 1
    # duplicates must be resolved too
    r = check(tmp_path, ev, counters(ev, medium={"sent": 2, "duplicates": 1}))
    assert broken(r) == {"medium_conservation"}
    # a dup copy dropped when the medium closed is an outcome: fine
    dup = [*ev, drop(1, "a", "b", A, reason="closed", flags=("dup",))]
    assert check(tmp_path, dup)["valid"]


def test_every_frame_one_verdict(tmp_path):
    ev = healthy()
    rep = counters(ev)
    rep["ues"]["b"]["unaccounted"] = 1
    assert broken(check(tmp_path, ev, rep)) == {"every_frame_one_verdict"}
    rep = counters(ev)
    rep["ues"]["b"]["frames_in"] = 2  # a frame judged that the medium never delivered
    assert broken(check(tmp_path, ev, rep)) == {"every_frame_one_verdict"}
    # a delivered frame still queued when the UE was killed: never read, not a violation
    ev2 = [*ev, tx(2, "a", B, t=2.0), deliver(2, "a", "b", B, t=2.0), drop(2, "a", "c", B)]
    rep = counters(ev2)
    rep["ues"]["b"]["frames_in"] = 1
    r = check(tmp_path, ev2, rep)
    assert r["valid"] and r["invariants"]["every_frame_one_verdict"]["never_read"] == {"b": 1}
    # a frame read but without its verdict line
    rep = counters(ev2)
    assert broken(check(tmp_path, ev2, rep)) == {"every_frame_one_verdict"}
    # filtered frames (another UE's unicast) have no line but are counted
    rep["ues"]["b"]["filtered"] = {"unicast_not_for_me": 1}
    assert check(tmp_path, ev2, rep)["valid"]


def test_keystream_reuse(tmp_path):
    ok = [*healthy(), srtp("a", 1), srtp("a", 0, rtcp=True), srtp("a", 0, ssrc=8)]
    assert check(tmp_path, ok)["invariants"]["keystream_unique"]["packets"] == 4
    r = check(tmp_path, [*ok, srtp("c", 1)])
    assert broken(r) == {"keystream_unique"}
    assert r["invariants"]["keystream_unique"]["reused"] == 1


def test_canary_and_key_octets_in_captures(tmp_path):
    run = write_run(tmp_path / "run", healthy())
    canary, key = b"CANARY!!", bytes(range(16))
    with (run / "ue-b.pcapng").open("wb") as fh:
        w = PcapngWriter(fh)
        w.add_interface("b")
        w.write(0, 0, b"\x00" * 14 + b"hello" + canary)
        w.close()
    r = check_run(run, canary=canary)
    assert broken(r) == {"no_plaintext_in_captures"}
    assert r["invariants"]["no_plaintext_in_captures"]["canary_hits"] == 1
    (run / "ue-b.pcapng").write_bytes(b"\x00" * 40 + key)
    (run / "keys.jsonl").write_text(json.dumps({"type": "gmk", "gmk": key.hex()}) + "\n")
    r = check_run(run, canary=canary)
    assert r["invariants"]["no_plaintext_in_captures"]["key_hits"] == 1 and not r["valid"]
    assert check_run(run, canary=canary, key_bytes=[b"\xff" * 16])["invariants"][
        "no_plaintext_in_captures"]["keys_searched"] == 2


# -- the verdict table ---------------------------------------------------------------------------
def test_verdict_table_rows_and_rendering():
    report = {"verdict": {
        "attackers": [{"attacker": "x", "role": "replayer", "injected": 10, "accepted": 0,
                       "rejected_by_reason": {"REPLAY": 10}, "rate": 5.0}],
        "attack_frames": {
            "x": {"injected": 10, "rejected": {"REPLAY": 9}, "accepted": 0,
                  "replayed_authentic_accepted": 1, "window_s": [1.0, 3.0]},
            "y": {"injected": 4, "rejected": {"BAD_TAG": 3}, "accepted": 1,
                  "replayed_authentic_accepted": 0}},
        "legit_traffic": {"k1": {"talkers": ["a"], "sent": 100, "receivers": ["b", "c"],
                                 "deliveries": 199, "lost": 1, "delivered_ratio": 0.995,
                                 "delay_p95_s": 0.004, "latency_added_p95_s": 0.0015}},
    }}
    rows = verdict_table(report)
    assert [r["row"] for r in rows] == ["attack", "attack", "legit"]
    x, y, k1 = rows
    assert x["rejected_by_reason"] == {"REPLAY": 10} and x["on_air"] == 10 and x["rate"] == 5.0
    assert x["replayed_authentic_accepted"] == 1
    assert y["role"] is None and y["accepted"] == 1 and y["rejected"] == 3
    assert k1["receivers"] == 2 and k1["latency_added_p95_s"] == 0.0015
    out = io.StringIO()
    render_verdict(rows, Console(file=out, width=160))
    text = out.getvalue()
    assert "replayer" in text and "REPLAY 10" in text and "99.5%" in text and "1.5ms" in text


# -- a real run --------------------------------------------------------------------------------
ADHOC_CALL = """
version: 1
name: inv-adhoc
seed: 3
duration: 5s
ues:
  a: {identity: {user: "sip:a@i.example.org"}, position: [0, 0]}
  b: {identity: {user: "sip:b@i.example.org"}, position: [20, 0]}
  c: {identity: {user: "sip:c@i.example.org"}, position: [40, 0]}
groups:
  r: {type: adhoc, creator: a, members: [a, b, c], l2_group_id: 0x00C0DE}
medium: {mode: range, range: 100, default: {duplicate: "5%"}}
timeline:
  - {at: 0.2s, discover: {ue: b, model: A}}
  - {at: 0.5s, create_group: {group: r}}
  - {at: 2s, call: {id: k1, group: r, speaker: b, duration: 2s}}
expect:
  decrypt:
    - {ue: c, call: k1, must: true}
  zero_security_acceptances: true
"""


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    result = trio.run(lambda: run_scenario(loads_scenario(ADHOC_CALL), backend="memory",
                                           out=out, capture="air"),
                      clock=trio.testing.MockClock(autojump_threshold=0))
    return result


def test_real_run_holds_every_invariant(real_run):
    r = real_run.report
    assert r["failures"] == [], r["failures"]
    inv = r["invariants"]
    assert inv["valid"], {k: v["detail"] for k, v in inv["invariants"].items() if not v["ok"]}
    assert inv["every_frame_one_verdict"] is True and inv["security_acceptances"] == 0
    ks = inv["invariants"]["keystream_unique"]
    assert ks["srtp"] > 50 and ks["srtcp"] >= 1 and ks["reused"] == 0
    assert inv["classes"]["stable"] > 100 and inv["classes"]["unexpected"] == 0
    # the medium duplicated copies; receivers rejected them, and the checker resolved them
    assert inv["invariants"]["medium_conservation"]["dup_copies"] > 0
    assert inv["rejections_by_reason"].get("REPLAY", 0) > 0
    # the DCRs of the group's D2D links are signed in the clear
    assert inv["invariants"]["eccsi_r_unique"]["signatures"] >= 2
    assert inv["invariants"]["no_plaintext_in_captures"]["canary_searched"]
    check = next(c for c in r["expectations"] if c.get("check") == "zero_security_acceptances")
    assert check["ok"] and check["security_acceptances"] == 0
    assert r["verdict"]["legit_traffic"]["k1"]["deliveries"] > 100
    out = io.StringIO()
    print_summary(r, console=Console(file=out, width=200))
    assert "invariants: all hold" in out.getvalue()


def test_real_run_rechecked_offline_and_tampered(real_run, tmp_path):
    path = real_run.path
    again = check_run(path)  # from report.json and the files alone
    assert again["valid"] and again["classes"] == real_run.report["invariants"]["classes"]
    # plant a forged accept into a copy of the run: caught offline
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in path.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    with (copy / "events.jsonl").open("a") as fh:
        fh.write(json.dumps({"t": 4.9, "run": "x", "node": "c", "event": "accept",
                             "kind": "media", "reason": None, "peer": None,
                             "frame_sha256": "0123456789abcdef"}) + "\n")
    r = check_run(copy)
    assert r["invariants"]["zero_security_acceptances"]["unexpected"] == 1
    # the frame was also not counted by c: one verdict per frame is broken too
    assert broken(r) == {"zero_security_acceptances", "every_frame_one_verdict"}


def test_repeated_eccsi_r_is_detected(real_run, tmp_path):
    """A signer reusing its nonce: the same r (and PVT) under a different s is flagged."""
    dcr = None
    for frame in iter_pcapng(real_run.path / "air.pcapng"):
        _mac, pdu = fast.parse_frame(frame)
        if isinstance(pdu.pdcp, fast.PdcpO2O) and pdu.pdcp.sdu_type == fast.SDU_PC5S:
            msg = pc5s.parse_pc5s(pdu.body)
            if any(ie.iei == pc5s.IEI_SIGNATURE for ie in msg.ies):
                dcr = frame
                break
    assert dcr is not None
    run = write_run(tmp_path / "run", healthy())
    with (run / "air.pcapng").open("wb") as fh:
        w = PcapngWriter(fh)
        w.add_interface("a")
        w.write(0, 0, dcr)
        # the signature IE ends the DCR (sign_pc5s appends it last): s is at [-97:-65]
        forged = bytearray(dcr)
        forged[-97] ^= 1
        w.write(0, 1, bytes(forged))
        w.close()
    r = check_run(run)
    assert broken(r) == {"eccsi_r_unique"}
    assert r["invariants"]["eccsi_r_unique"]["repeated_r"] == 1


def test_decrypted_copy_shows_more_signatures_and_is_not_a_leak(real_run, tmp_path):
    """After `prose-mesh decrypt`, the GMK I_MESSAGEs inside protected PDCP are read too; the
    decrypted copy holds the canary in clear on purpose and is not searched for it."""
    from prose_mesh.scenario.decrypt import decrypt_capture

    copy = tmp_path / "copy"
    copy.mkdir()
    for f in real_run.path.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    before = check_run(copy)["invariants"]["eccsi_r_unique"]
    decrypt_capture(copy / "air.pcapng", copy / "keys.jsonl", copy / "air-decrypted.pcapng")
    canary = bytes.fromhex(real_run.report["canary"])
    assert canary in (copy / "air-decrypted.pcapng").read_bytes()
    r = check_run(copy)
    after = r["invariants"]["eccsi_r_unique"]
    assert r["valid"] and after["source"] == "air-decrypted.pcapng"
    assert after["by_kind"]["mikey"] > before["by_kind"].get("mikey", 0)
    assert "air-decrypted.pcapng" not in r["invariants"]["no_plaintext_in_captures"]["captures"]
