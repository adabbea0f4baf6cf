"""Issue #8: the run's key log and ``prose-mesh decrypt RUN``.

One small memory-backend run (a standard group whose bearer is PGK-ciphered, a group call with a
floor change, and a D2D link) is decrypted: the media canary must be in the decrypted copy and
never in the air capture, every protected layer must open, and keys that do not verify (a wrong
key, a tampered frame) must leave the frame as it was - never garbage written as plaintext.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import trio.testing
from support import LUA_PLUGIN, have_tshark

from prose_mesh.cli import main
from prose_mesh.medium.pcapng import PcapngWriter
from prose_mesh.node.keylog import KEYLOG_NAME
from prose_mesh.scenario import loads_scenario
from prose_mesh.scenario.decrypt import (
    DECRYPTED_NAME,
    decrypt_capture,
    decrypt_run,
    iter_frames,
)
from prose_mesh.scenario.runner import run_scenario
from prose_mesh.wire import fast

SCENARIO = """
version: 1
name: decrypt-small
description: A standard group with a PGK-ciphered bearer, one call, and one D2D link.
seed: 11
duration: 7s
kms: {uri: kms.police.example.org, key_period: 30d}
ues:
  gms: {identity: {user: "sip:gms@police.example.org"}, roles: [group_manager],
        position: [20, 20]}
  p1: {identity: {user: "sip:p1@police.example.org"}, position: [0, 0]}
  p2: {identity: {user: "sip:p2@police.example.org"}, position: [30, 0]}
  p3: {identity: {user: "sip:p3@police.example.org"}, position: [0, 30]}
groups:
  police:
    type: standard
    uri: "sip:patrol@police.example.org"
    manager: gms
    members: ["p?"]
    l2_group_id: 0x00B001
    multicast: {address: "ff15::b001"}
medium: {mode: range, range: 200}
timeline:
  - {at: 0.5, discover: {ue: p2, model: A}}
  - {at: 1s, d2d_link: {a: p1, b: p2}}
  - {at: 2s, call: {id: c1, group: police, speaker: p1, duration: 3s}}
  - {at: 3s, talk: {call: c1, ue: p3, duration: 1s}}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One run (about 4 s) and its decryption, shared by the tests below."""
    out = tmp_path_factory.mktemp("runs")
    scen = loads_scenario(SCENARIO)
    result = trio.run(lambda: run_scenario(scen, backend="memory", out=out, capture="air"),
                      clock=trio.testing.MockClock(autojump_threshold=0))
    return result, decrypt_run(result.path)


def keylog_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path / KEYLOG_NAME).read_text().splitlines()]


def test_canary_only_in_the_decrypted_copy(run):
    result, dec = run
    canary = bytes.fromhex(result.report["canary"])
    air = (result.path / "air.pcapng").read_bytes()
    assert dec.path == result.path / DECRYPTED_NAME
    assert air.count(canary) == 0
    assert dec.path.read_bytes().count(canary) >= 100  # ~145 media packets, p1 then p3
    # every protected layer opened, nothing failed, frames kept one for one
    assert {k: dec.opened[k] > 0 for k in ("pdcp_o2o", "pdcp_o2m", "srtp", "srtcp")} == {
        "pdcp_o2o": True, "pdcp_o2m": True, "srtp": True, "srtcp": True}, dec.opened
    assert dec.verified["pdcp_o2o_integrity"] >= 1  # the DSM COMMAND (clear, MAC-I checked)
    assert dec.not_opened == {}
    assert dec.keylog_bad_lines == 0
    before = list(iter_frames(result.path / "air.pcapng"))
    after = list(iter_frames(dec.path))
    assert len(before) == len(after) == dec.frames
    assert [(i, t) for i, t, _f, _c in before] == [(i, t) for i, t, _f, _c in after]
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b[2] != a[2]]
    assert len(changed) == dec.rewritten > 0
    assert all(a[3] and a[3].startswith("prose-mesh decrypt:") for _b, a in changed)
    # no ciphered PDCP PDU is left: every header now says "unprotected"
    for _i, _t, frame, _c in after:
        pdu = fast.parse_frame(frame)[1]
        if isinstance(pdu.pdcp, fast.PdcpO2M):
            assert (pdu.pdcp.pgk_index, pdu.pdcp.ptk_id) == (0, 0)
        elif isinstance(pdu.pdcp, fast.PdcpO2O) and pdu.shim.lcid != fast.LCID_PC5S_DSM:
            assert pdu.pdcp.kdsess_id == 0


def test_key_log_has_every_key_and_stays_out_of_the_air_capture(run):
    result, dec = run
    lines = keylog_lines(result.path)
    assert lines[0] == {"type": "keylog", "version": 1}
    kinds = Counter(line["type"] for line in lines[1:])
    # PGK per UE holding one (gms + 3 members), GMK per member, the link seen from both ends,
    # the call key and own SRTP master per UE in the call
    assert kinds == {"pdcp_group": 4, "gmk": 3, "pc5_link": 2, "group_call": 3, "srtp": 3}
    assert dec.keylog_lines == {k: v for k, v in kinds.items() if k != "gmk"}
    link = [line for line in lines if line["type"] == "pc5_link"]
    assert {x["direction"] for x in link} == {0, 1}
    assert link[0]["pek"] == link[1]["pek"] and link[0]["kd_sess_id"] == link[1]["kd_sess_id"]
    assert link[0]["l2id"] == link[1]["peer_l2id"]
    air = (result.path / "air.pcapng").read_bytes()
    for line in lines[1:]:
        for name in ("pek", "pik", "pgk", "gmk", "call_key", "master_key"):
            if name in line:
                assert bytes.fromhex(line[name]) not in air, name


def test_wrong_keys_open_nothing_and_write_no_plaintext(run, tmp_path):
    result, _dec = run
    wrong = []
    for line in keylog_lines(result.path):
        for name in ("pek", "pik", "pgk", "call_key"):
            if name in line:
                line[name] = bytes(b ^ 0x5A for b in bytes.fromhex(line[name])).hex()
        wrong.append(json.dumps(line))
    keys = tmp_path / "keys.jsonl"
    keys.write_text("\n".join([*wrong, "not json", '{"type": "pc5_link"}']) + "\n")
    out = tmp_path / "out.pcapng"
    dec = decrypt_capture(result.path / "air.pcapng", keys, out)
    canary = bytes.fromhex(result.report["canary"])
    assert dec.keylog_bad_lines == 2
    assert dec.rewritten == 0 and sum(dec.opened.values()) == 0 and not dec.verified
    assert dec.not_opened["pdcp_o2o:BAD_MAC_I"] >= 1
    assert dec.not_opened["pdcp_o2m:NOT_IPV6_UDP"] >= 100
    assert out.read_bytes() == (result.path / "air.pcapng").read_bytes()
    assert out.read_bytes().count(canary) == 0


def test_tampered_frames_are_refused_and_copied_as_they_were(run, tmp_path):
    """One octet flipped in every LCID 30 one-to-one PDU and in one group PDU: MAC-I and the
    UDP checksum catch them; the other frames still open."""
    result, dec = run
    frames = list(iter_frames(result.path / "air.pcapng"))
    tampered = Counter()
    capture = tmp_path / "air.pcapng"
    with capture.open("wb") as fh:
        w = PcapngWriter(fh)
        for _ in range(max(i for i, *_ in frames) + 1):
            w.add_interface("ue")
        for iface, ts, frame, _c in frames:
            pdu = fast.parse_frame(frame)[1]
            body_at = fast.ETH_LEN + fast.SHIM_LEN + fast.PDCP_LEN
            o2o = isinstance(pdu.pdcp, fast.PdcpO2O) and pdu.pdcp.kdsess_id != 0
            first_o2m = isinstance(pdu.pdcp, fast.PdcpO2M) and not tampered["o2m"]
            if (o2o and pdu.shim.lcid == fast.LCID_PC5S_PROTECTED) or first_o2m:
                # group bearer: an octet of the UDP payload (AES-CTR is malleable, and only
                # the UDP checksum covers the plaintext: PROTOCOL.md §4.3, no integrity)
                at = body_at + (48 if first_o2m else 0)
                frame = frame[:at] + bytes([frame[at] ^ 1]) + frame[at + 1:]
                tampered["o2o" if o2o else "o2m"] += 1
            w.write(iface, ts, frame)
    keys = result.path / KEYLOG_NAME
    got = decrypt_capture(capture, keys, tmp_path / "out.pcapng")
    assert tampered["o2o"] >= 1 and tampered["o2m"] == 1
    assert got.not_opened == {"pdcp_o2o:BAD_MAC_I": tampered["o2o"],
                              "pdcp_o2m:NOT_IPV6_UDP": 1}
    assert got.opened["pdcp_o2o"] == dec.opened["pdcp_o2o"] - tampered["o2o"]
    assert got.opened["pdcp_o2m"] == dec.opened["pdcp_o2m"] - 1
    refused = [f for (_i, _t, f, c) in iter_frames(tmp_path / "out.pcapng") if c is None]
    assert len(refused) == got.frames - got.rewritten


def test_relayed_frames_open_inside_their_envelope(run, tmp_path):
    """Every group frame forwarded once by a UE-to-UE relay ([EMU] envelope of wire/relay.py,
    built by the relay's own encoder): the inner frame opens exactly as the direct copy."""
    relay = pytest.importorskip("prose_mesh.wire.relay")
    result, dec = run
    frames = list(iter_frames(result.path / "air.pcapng"))
    capture = tmp_path / "air.pcapng"
    relayed = 0
    with capture.open("wb") as fh:
        w = PcapngWriter(fh)
        for _ in range(max(i for i, *_ in frames) + 1):
            w.add_interface("ue")
        for iface, ts, frame, _c in frames:
            pdu = fast.parse_frame(frame)[1]
            if isinstance(pdu.pdcp, fast.PdcpO2M):
                inner = frame[fast.ETH_LEN:]
                frame = fast.ethernet(frame[6:12], relay.build_envelope(0xABCDEF, relayed, 3, 1,
                                                                        inner))
                relayed += 1
            w.write(iface, ts, frame)
    got = decrypt_capture(capture, result.path / KEYLOG_NAME, tmp_path / "out.pcapng")
    assert relayed == dec.opened["pdcp_o2m"]
    assert got.opened == dec.opened and got.not_opened == {}
    canary = bytes.fromhex(result.report["canary"])
    assert (tmp_path / "out.pcapng").read_bytes().count(canary) == dec.opened["srtp"]
    for _i, _t, frame, comment in iter_frames(tmp_path / "out.pcapng"):
        pdu = fast.parse_frame(frame)[1]
        if pdu.shim.lcid == relay.LCID_RELAY:
            assert comment and "relay envelope from 0xabcdef" in comment
            env = relay.parse_envelope(pdu)
            inner = fast.parse_pc5(env.inner)
            assert isinstance(inner.pdcp, fast.PdcpO2M)
            assert (inner.pdcp.pgk_index, inner.pdcp.ptk_id) == (0, 0)  # deciphered inside


def test_cli_decrypt_and_its_exit_codes(run, tmp_path, capsys):
    result, dec = run
    out = tmp_path / "cli.pcapng"
    assert main(["decrypt", result.run_id, "--root", str(result.path.parent),
                 "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["opened"] == dict(dec.opened) and printed["path"] == str(out)
    assert out.read_bytes() == dec.path.read_bytes()
    assert main(["decrypt", str(result.path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "opened: pdcp_o2m" in printed and "-d udp.port==50000,rtp" in printed
    assert main(["decrypt", "no-such-run", "--root", str(tmp_path)]) == 2
    # the copy never replaces the capture
    air = (result.path / "air.pcapng").read_bytes()
    assert main(["decrypt", str(result.path), "--out", str(result.path / "air.pcapng")]) == 2
    assert (result.path / "air.pcapng").read_bytes() == air
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "air.pcapng").write_bytes(air)
    assert main(["decrypt", str(bare)]) == 2  # no key log
    assert "no key log" in capsys.readouterr().err
    (bare / KEYLOG_NAME).write_text("")
    (bare / "air.pcapng").write_bytes(air[:-7])  # a truncated capture: an error, no output
    assert main(["decrypt", str(bare)]) == 2
    assert "BAD_CAPTURE" in capsys.readouterr().err
    assert sorted(p.name for p in bare.iterdir()) == ["air.pcapng", KEYLOG_NAME]


FIELDS = ("pc5emu.lcid", "pc5s.msg_type", "mikey.type", "monp.msg_type", "pc5pdcp.ciphered",
          "rtp.ssrc", "rtcp.app.name", "frame.comment", "_ws.malformed", "_ws.expert.severity")
SEVERITY_ERROR = str(0x00800000)  # Wireshark PI_ERROR (a frame comment is PI_COMMENT)


def tshark(pcap: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = ["tshark", "-r", str(pcap), "-X", f"lua_script:{LUA_PLUGIN}",
           "-d", "udp.port==50000,rtp", "-d", "udp.port==50001,rtcp", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


def dissect(pcap: Path) -> list[dict[str, list[str]]]:
    """Per frame, the values of FIELDS (all occurrences) as tshark with the plugin shows them."""
    args = ["-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=|"]
    for f in FIELDS:
        args += ["-e", f]
    rows = []
    for line in tshark(pcap, *args).stdout.splitlines():
        values = line.split("\t")
        rows.append({f: [v for v in values[i].split("|") if v] for i, f in enumerate(FIELDS)})
    return rows


def frames_with(rows: list[dict[str, list[str]]], name: str, value: str | None = None) -> int:
    return sum(1 for r in rows if r[name] and (value is None or value in r[name]))


@pytest.mark.tshark
def test_tshark_shows_the_plaintext(run):
    if not have_tshark():
        pytest.skip("tshark not installed")
    result, dec = run
    air, plain = dissect(result.path / "air.pcapng"), dissect(dec.path)
    assert len(air) == len(plain) == dec.frames
    for rows in (air, plain):
        assert frames_with(rows, "_ws.malformed") == 0
        assert frames_with(rows, "_ws.expert.severity", SEVERITY_ERROR) == 0
    proc = tshark(dec.path, "-V")
    assert "Lua Error" not in proc.stdout and "Lua" not in proc.stderr, proc.stderr
    # PC5-S under the link keys: DSM COMPLETE (13, LCID 29) and ACCEPT (2, LCID 30) now decode
    for msg_type in ("13", "2"):
        assert frames_with(air, "pc5s.msg_type", msg_type) == 0
        assert frames_with(plain, "pc5s.msg_type", msg_type) >= 1
    # the GMK I_MESSAGEs (SAKKE, 26) and MONP were inside the PGK-ciphered bearer
    assert frames_with(air, "mikey.type", "26") < frames_with(plain, "mikey.type", "26")
    assert frames_with(air, "monp.msg_type") == 0 < frames_with(plain, "monp.msg_type")
    assert frames_with(plain, "pc5pdcp.ciphered", "1") == 0 < frames_with(
        air, "pc5pdcp.ciphered", "1")
    # media and floor control in clear (with Decode-As RTP/RTCP on the media ports)
    assert frames_with(air, "rtp.ssrc") == 0
    assert frames_with(plain, "rtp.ssrc") == dec.opened["srtp"]
    assert frames_with(plain, "rtcp.app.name", "MCPT") == dec.opened["srtcp"]
    comments = [r["frame.comment"] for r in plain if r["frame.comment"]]
    assert len(comments) == dec.rewritten
    assert all(c[0].startswith("prose-mesh decrypt:") for c in comments)
