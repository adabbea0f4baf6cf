"""tshark 4.0.17 + prose_mesh.lua on the sample capture: named fields, no Malformed, no Lua error.

These run tshark for real and skip only when it is not installed.
"""

import subprocess
from pathlib import Path

import pytest
from scapy.layers.inet import UDP
from scapy.layers.inet6 import IPv6
from support import REPO, have_tshark

from prose_mesh.commands.wireshark import packaged_plugin
from prose_mesh.wire import fast, samples
from prose_mesh.wire import mikey_codec as mc

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(not have_tshark(), reason="tshark not installed (apt-get install tshark)"),
]
LUA = str(packaged_plugin())


def tshark(pcap: Path, *args: str) -> str:
    proc = subprocess.run(["tshark", "-X", f"lua_script:{LUA}", "-r", str(pcap), *args],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Lua" not in proc.stderr or "error" not in proc.stderr.lower(), proc.stderr
    return proc.stdout


def fields(pcap: Path, *names: str) -> list[dict[str, str]]:
    out = tshark(pcap, "-T", "fields", "-E", "occurrence=f", *[a for n in names
                                                                 for a in ("-e", n)])
    return [dict(zip(names, line.split("\t"), strict=True)) for line in out.splitlines()]


@pytest.fixture(scope="module")
def sample_pcap(tmp_path_factory):
    frames = samples.build_sample_frames()
    path = tmp_path_factory.mktemp("ws") / "all-frames.pcap"
    samples.write_pcap(path, frames)
    return path, frames


def test_every_frame_decodes_without_malformed_or_lua_error(sample_pcap):
    path, frames = sample_pcap
    rows = fields(path, "frame.number", "_ws.malformed", "_ws.expert", "pc5emu.version",
                  "pc5emu.channel", "pc5emu.src_l2id", "pc5emu.length")
    assert len(rows) == len(frames)
    for row in rows:
        assert row["_ws.malformed"] == "" and row["_ws.expert"] == "", row
        assert row["pc5emu.version"] == "1" and row["pc5emu.src_l2id"] != ""
    verbose = tshark(path, "-V")
    assert "Lua Error" not in verbose and "Malformed" not in verbose


def test_named_fields_per_frame_type(sample_pcap):
    path, _frames = sample_pcap
    rows = fields(path, "pc5emu.channel", "pc5d.msg_type", "pc5d.mic", "pc5d.utc_lsb",
                  "pc5pdcp.sdu_type", "pc5s.msg_type", "pc5s.seq", "mikey.type",
                  "mikey.sign.type", "monp.msg_type", "monp.group_id", "rtcp.app.name",
                  "rtcp.app.subtype", "arp.opcode", "pc5pdcp.mac_i", "pc5pdcp.kdsess_id")
    disc = [r for r in rows if r["pc5emu.channel"] == "1"]
    assert [int(r["pc5d.msg_type"], 16) for r in disc] == [b[0] for b in
                                                            samples.discovery_messages()]
    assert all(r["pc5d.mic"] and r["pc5d.utc_lsb"] for r in disc)
    pc5s_types = [int(r["pc5s.msg_type"]) for r in rows if r["pc5s.msg_type"]]
    assert sorted(pc5s_types) == [1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15, 16, 17, 18, 19]
    dsm = next(r for r in rows if r["pc5s.msg_type"] == "12")
    assert dsm["pc5pdcp.mac_i"] and dsm["pc5pdcp.kdsess_id"]
    assert [r["mikey.type"] for r in rows if r["mikey.type"]] == ["26", "26", "26", "0"]
    assert all(r["mikey.sign.type"] == "2" for r in rows if r["mikey.type"])
    assert [r["monp.msg_type"] for r in rows if r["monp.msg_type"]] == ["0x01", "0x02", "0x03"]
    assert all(r["monp.group_id"] for r in rows if r["monp.msg_type"])
    assert [r["rtcp.app.subtype"] for r in rows if r["rtcp.app.name"] == "MCPT"] == [
        "0", "1", "2", "3", "4", "5"]
    assert any(r["arp.opcode"] for r in rows)


def test_field_names_registered(tmp_path):
    out = subprocess.run(["tshark", "-G", "fields", "-X", f"lua_script:{LUA}"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    names = {line.split("\t")[2] for line in out.splitlines() if line.startswith("F\t")}
    wanted = {f"pc5emu.{n}" for n in ("version", "channel", "lcid", "src_l2id", "dst_l2id",
                                      "pppp", "cast", "length")}
    wanted |= {f"pc5pdcp.{n}" for n in ("sdu_type", "pgk_index", "ptk_id", "kdsess_id", "sn",
                                        "mac_i")}
    wanted |= {f"pc5d.{n}" for n in ("msg_type", "disc_type", "content_type", "model", "mic",
                                     "utc_lsb")}
    wanted |= {"pc5s.msg_type", "pc5s.seq", "pc5s.signature", "pc5s.encrypted_payload",
               "monp.msg_type", "monp.call_id", "monp.group_id"}
    assert wanted <= names


def _pcap_of(tmp_path, name, payloads):
    path = tmp_path / name
    samples.write_pcap(path, [fast.ethernet(samples.MAC_A, p) for p in payloads])
    return path


def test_bad_lengths_give_expert_info_not_lua_errors(tmp_path):
    good = fast.build_sl_sch(lcid=30, src_l2id=1, dst_l2id=2, cast=2, sdu_type=2,
                             sdu=bytes.fromhex("0100010a"), mac_i=5)
    payloads = [
        good[:9],  # shorter than the shim
        good[:-3],  # LEN overruns the frame
        fast.build_shim(0, 28, 1, 2, 0, 2, 3) + b"\x40\x00\x00",  # PDCP header cut
        fast.build_sl_sch(lcid=28, src_l2id=1, dst_l2id=2, cast=2, sdu_type=2,
                          sdu=bytes.fromhex("01000105")),  # DCR cut inside User Info
        fast.build_sl_sch(lcid=28, src_l2id=1, dst_l2id=2, cast=2, sdu_type=2,
                          sdu=bytes.fromhex("03000101" "16ff00")),  # IE overruns
        fast.build_shim(1, 0, 1, 0xFFFFFF, 0, 0, 10) + bytes(10),  # short discovery
        fast.build_shim(3, 0, 1, 2, 0, 1, 0),  # reserved channel
        fast.build_sl_sch(lcid=1, src_l2id=1, dst_l2id=2, cast=1, sdu_type=0, sdu=bytes(
            IPv6() / UDP(sport=40000, dport=40000) / bytes.fromhex("020001"))),  # MONP cut
    ]
    path = _pcap_of(tmp_path, "bad.pcap", payloads)
    rows = fields(path, "frame.number", "_ws.expert", "_ws.malformed")
    assert len(rows) == len(payloads)
    assert all(r["_ws.expert"] for r in rows), rows
    assert "Lua Error" not in tshark(path, "-V")


def test_every_mikey_builder_decodes_in_wiresharks_mikey(tmp_path):
    sign, enc = samples.placeholder_crypto()
    msgs = samples.mikey_messages(sign, enc)
    msgs.append(mc.build_gmk_i_message(
        guk_id=1, gmk_id=2, sign=sign, t_ntp=1, rand=b"r" * 16, initiator_uid=b"i" * 32,
        responder_uid=b"u" * 32, kms_uri_initiator=b"kms", kms_uri_responder=b"kms",
        sakke_data=enc(b"", b""), extensions=[mc.GeneralExt(6, b"\x01\x02\x00\x03abc")]))
    frames = [samples._group_ip(m, i, sport=2269, dport=2269) for i, m in enumerate(msgs)]
    path = tmp_path / "mikey.pcap"
    samples.write_pcap(path, frames)
    rows = fields(path, "mikey.type", "mikey.sign.type", "mikey.sakke.len", "_ws.malformed",
                  "mikey.rand")
    assert len(rows) == len(msgs)
    for row in rows:
        assert row["mikey.type"] in ("26", "0") and row["mikey.sign.type"] == "2"
        assert row["_ws.malformed"] == "" and row["mikey.rand"]
    assert [r["mikey.sakke.len"] for r in rows] == ["273", "273", "273", "", "273"]


def test_generic_id_option_is_the_known_wireshark_limitation(tmp_path):
    """PROTOCOL.md §1.2: Wireshark 4.0.17 cannot decode past a GENERIC-ID map (why it is opt-in)."""
    sign, enc = samples.placeholder_crypto()
    raw = mc.build_gmk_i_message(
        guk_id=1, gmk_id=2, sign=sign, generic_id_map=True, t_ntp=1, rand=b"r" * 16,
        initiator_uid=b"i" * 32, responder_uid=b"u" * 32, kms_uri_initiator=b"kms",
        kms_uri_responder=b"kms", sakke_data=enc(b"", b""))
    path = tmp_path / "generic.pcap"
    samples.write_pcap(path, [samples._group_ip(raw, 0, sport=2269, dport=2269)])
    (row,) = fields(path, "mikey.type", "_ws.malformed", "mikey.rand", "mikey.sakke.len")
    # Wireshark stops understanding the chain after the HDR: no RAND, no SAKKE found
    assert row["mikey.type"] == "26"
    assert row["_ws.malformed"] != "" or (row["mikey.rand"] == row["mikey.sakke.len"] == "")


def test_committed_sample_capture_is_current():
    committed = REPO / "captures" / "samples" / "all-frames.pcap"
    if not committed.exists():
        pytest.skip("captures/samples/all-frames.pcap not generated yet")
    sign, enc, real = samples.default_crypto()
    if not real:
        pytest.skip("prose_mesh.crypto unavailable: the capture was made with real crypto")
    regenerated = committed.parent / ".check.pcap"
    try:
        samples.write_pcap(regenerated, samples.build_sample_frames(sign, enc))
        assert regenerated.read_bytes() == committed.read_bytes()
    finally:
        regenerated.unlink(missing_ok=True)
