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


def fields(pcap: Path, *names: str, extra: tuple[str, ...] = ()) -> list[dict[str, str]]:
    out = tshark(pcap, *extra, "-T", "fields", "-E", "occurrence=f",
                 *[a for n in names for a in ("-e", n)])
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


def _ciphered_by_construction(frame: bytes) -> bool:
    """Ground truth from the frame bytes (the rules of prose_mesh.protocol.pdcp), not the Lua."""
    pdu = fast.parse_frame(frame)[1]
    if pdu.pdcp is None:
        return False
    if isinstance(pdu.pdcp, fast.PdcpO2M):
        return (pdu.pdcp.pgk_index, pdu.pdcp.ptk_id) != (0, 0)
    if pdu.shim.lcid == fast.LCID_PC5S_PLAIN:
        return False
    return not (pdu.shim.lcid == fast.LCID_PC5S_DSM and pdu.body[0] == 12)  # COMMAND: MAC only


def test_ciphered_pdus_are_never_dissected_as_plaintext(sample_pcap):
    path, frames = sample_pcap
    rows = fields(path, "pc5emu.channel", "pc5emu.lcid", "pc5pdcp.ciphered",
                  "pc5pdcp.ciphered_sdu", "pc5pdcp.mac_i", "pc5s.msg_type", "ip.version",
                  "ipv6.version", "pc5pdcp.protection")
    assert len(rows) == len(frames)
    ciphered = 0
    for frame, row in zip(frames, rows, strict=True):
        if row["pc5emu.channel"] == "1":
            assert row["pc5pdcp.ciphered"] == ""
            continue
        want = _ciphered_by_construction(frame)
        assert row["pc5pdcp.ciphered"] == ("1" if want else "0"), row
        if want:
            ciphered += 1
            sdu = fast.parse_frame(frame)[1].body
            assert bytes.fromhex(row["pc5pdcp.ciphered_sdu"]) == sdu
            # nothing behind the PDCP header was read as PC5-S or IP
            assert row["pc5s.msg_type"] == row["ip.version"] == row["ipv6.version"] == "", row
            lcid = int(row["pc5emu.lcid"])
            assert (row["pc5pdcp.mac_i"] != "") == (lcid in fast.LCIDS_WITH_MAC_I)
    # 10 protected PC5-S on LCID 30, the DSM COMPLETE, one SLRB PDU, one group PDU
    assert ciphered == 13
    by_type = {r["pc5s.msg_type"]: r for r in rows if r["pc5s.msg_type"]}
    assert by_type["12"]["pc5pdcp.protection"] == "integrity" and by_type["12"]["pc5pdcp.mac_i"]
    assert by_type["1"]["pc5pdcp.protection"] == "none"


def test_named_fields_per_frame_type(sample_pcap):
    path, _frames = sample_pcap
    rows = fields(path, "pc5emu.channel", "pc5d.msg_type", "pc5d.mic", "pc5d.utc_lsb",
                  "pc5pdcp.sdu_type", "pc5s.msg_type", "pc5s.seq", "mikey.type",
                  "mikey.sign.type", "monp.msg_type", "monp.group_id", "rtcp.app.name",
                  "rtcp.app.subtype", "arp.opcode", "pc5pdcp.mac_i", "pc5pdcp.kdsess_id",
                  "pc5s.iei", "udp.dstport", "rtcp.pt", "rtp.ssrc")
    disc = [r for r in rows if r["pc5emu.channel"] == "1"]
    assert [int(r["pc5d.msg_type"], 16) for r in disc] == [b[0] for b in
                                                            samples.discovery_messages()]
    assert all(r["pc5d.mic"] and r["pc5d.utc_lsb"] for r in disc)
    # readable PC5-S: DCR (x2), DCR REJECT, DSM REJECT (LCID 28) and the DSM COMMAND (MAC only)
    pc5s_types = [int(r["pc5s.msg_type"]) for r in rows if r["pc5s.msg_type"]]
    assert sorted(pc5s_types) == [1, 1, 3, 12, 14]
    dsm = next(r for r in rows if r["pc5s.msg_type"] == "12")
    assert dsm["pc5pdcp.mac_i"] and dsm["pc5pdcp.kdsess_id"] == "0x2a17"
    # the DCR carrying the MIKEY I_MESSAGE IE (IEI 29): Wireshark's MIKEY decodes the PCK
    ibc = [r for r in rows if r["pc5s.msg_type"] == "1" and r["mikey.type"]]
    assert len(ibc) == 1 and ibc[0]["mikey.type"] == "26" and ibc[0]["mikey.sign.type"] == "2"
    assert ibc[0]["pc5s.iei"] == "29"
    assert [r["mikey.type"] for r in rows if r["mikey.type"]] == ["26", "26", "26", "26", "0"]
    assert all(r["mikey.sign.type"] == "2" for r in rows if r["mikey.type"])
    assert [r["monp.msg_type"] for r in rows if r["monp.msg_type"]] == ["0x01", "0x02", "0x03"]
    assert all(r["monp.group_id"] for r in rows if r["monp.msg_type"])
    assert [r["rtcp.app.subtype"] for r in rows if r["rtcp.app.name"] == "MCPT"] == [
        "0", "1", "2", "3", "4", "5"]
    # RTCP/RTP decode only the cleartext samples: nothing on the SRTP/SRTCP ports
    assert {r["udp.dstport"] for r in rows if r["rtcp.pt"]} == {str(samples.CLEAR_FLOOR_PORT)}
    assert not any(r["rtp.ssrc"] for r in rows)
    assert any(r["arp.opcode"] for r in rows)


def test_srtp_and_srtcp_on_the_default_media_ports(sample_pcap):
    path, _frames = sample_pcap
    srtp, srtcp = samples.media_packets()
    names = ("udp.dstport", "srtp_pm.version", "srtp_pm.marker", "srtp_pm.pt", "srtp_pm.seq",
             "srtp_pm.timestamp", "srtp_pm.ssrc", "srtp_pm.encrypted_payload",
             "srtp_pm.auth_tag", "srtp_pm.mki", "srtcp_pm.version", "srtcp_pm.count",
             "srtcp_pm.pt", "srtcp_pm.length", "srtcp_pm.ssrc", "srtcp_pm.encrypted_payload",
             "srtcp_pm.auth_tag", "srtcp_pm.e_flag", "srtcp_pm.index", "srtcp_pm.mki", "rtcp.pt")
    rows = [r for r in fields(path, *names) if r["udp.dstport"] in ("50000", "50001")]
    assert len(rows) == 2
    rtp_row, rtcp_row = rows
    # SRTP: RFC 3550 header in clear, then (GCM) ciphertext ‖ tag(16) ‖ MKI(8)
    assert (rtp_row["srtp_pm.version"], rtp_row["srtp_pm.marker"], rtp_row["srtp_pm.pt"]) == (
        "2", "1", "96")
    assert int(rtp_row["srtp_pm.seq"]) == int.from_bytes(srtp[2:4], "big")
    assert int(rtp_row["srtp_pm.timestamp"]) == int.from_bytes(srtp[4:8], "big")
    assert int(rtp_row["srtp_pm.ssrc"], 16) == samples.SAMPLE_SSRC
    assert bytes.fromhex(rtp_row["srtp_pm.mki"]) == samples.SAMPLE_MKI == srtp[-8:]
    assert bytes.fromhex(rtp_row["srtp_pm.auth_tag"]) == srtp[-24:-8]
    assert bytes.fromhex(rtp_row["srtp_pm.encrypted_payload"]) == srtp[12:-24]
    # SRTCP: 8-octet header in clear, ciphertext ‖ tag(16) ‖ E‖index ‖ MKI(8)
    assert (rtcp_row["srtcp_pm.version"], rtcp_row["srtcp_pm.pt"],
            rtcp_row["srtcp_pm.count"]) == ("2", "204", "2")  # APP, Floor Taken
    assert int(rtcp_row["srtcp_pm.ssrc"], 16) == samples.SAMPLE_SSRC
    assert rtcp_row["srtcp_pm.e_flag"] == "1" and rtcp_row["srtcp_pm.index"] == "0"
    assert bytes.fromhex(rtcp_row["srtcp_pm.mki"]) == samples.SAMPLE_MKI == srtcp[-8:]
    assert bytes.fromhex(rtcp_row["srtcp_pm.auth_tag"]) == srtcp[-28:-12]
    assert bytes.fromhex(rtcp_row["srtcp_pm.encrypted_payload"]) == srtcp[8:-28]
    assert rtcp_row["rtcp.pt"] == ""  # the RTCP heuristic did not claim it


def test_srtp_decode_as_another_port(tmp_path):
    srtp, srtcp = samples.media_packets()
    path = tmp_path / "port.pcap"
    samples.write_pcap(path, [samples._group_ip(srtp, 0, sport=52000, dport=52000),
                              samples._group_ip(srtcp, 1, sport=52001, dport=52001)])
    rows = fields(path, "srtp_pm.mki", "srtcp_pm.index", "_ws.malformed", extra=(
        "-d", "udp.port==52000,srtp_pm", "-d", "udp.port==52001,srtcp_pm"))
    assert [r["srtp_pm.mki"] != "" for r in rows] == [True, False]
    assert [r["srtcp_pm.index"] for r in rows] == ["", "0"]


def test_every_pc5s_type_walks_when_unprotected(tmp_path):
    """The IE walk of all 15 message types, carried in clear on LCID 28 (KD-sess ID 0)."""
    sign, enc = samples.placeholder_crypto()
    msgs = [m for m, _lcid in samples.pc5s_messages(sign, enc)]
    payloads = [fast.build_sl_sch(lcid=28, src_l2id=1, dst_l2id=2, cast=2, sdu_type=2, sdu=m)
                for m in msgs]
    path = _pcap_of(tmp_path, "pc5s.pcap", payloads)
    rows = fields(path, "pc5s.msg_type", "pc5s.seq", "pc5pdcp.ciphered", "_ws.expert",
                  "_ws.malformed")
    assert [int(r["pc5s.msg_type"]) for r in rows] == [m[0] for m in msgs]
    assert sorted({m[0] for m in msgs}) == [1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15, 16, 17, 18, 19]
    assert all(r["pc5pdcp.ciphered"] == "0" and r["_ws.expert"] == r["_ws.malformed"] == ""
               for r in rows), rows


def test_lcid29_only_a_parsing_dsm_command_is_plaintext(tmp_path):
    cmd = next(m for m, lcid in samples.pc5s_messages(*samples.placeholder_crypto())
               if m[0] == 12)
    def pdu(sdu, kds=0x2A17):
        return fast.build_sl_sch(lcid=29, src_l2id=1, dst_l2id=2, cast=2, sdu_type=2, sdu=sdu,
                                 key_id=kds, mac_i=7)
    payloads = [
        pdu(cmd),  # integrity-only COMMAND: decoded
        pdu(cmd[:-1]),  # type 12 whose IE walk overruns: treated as ciphertext
        pdu(b"\x0c" + bytes(40)),  # type 12 then an unknown IEI 0: ciphertext
        pdu(b"\x0d\x00\x01\x0f\x02\x03\x04"),  # a COMPLETE-shaped body: ciphered on LCID 29
        fast.build_sl_sch(lcid=30, src_l2id=1, dst_l2id=2, cast=2, sdu_type=2,
                          sdu=b"\x03\x00\x02\x01", key_id=0, mac_i=7),  # KD-sess 0: clear
        fast.build_sl_sch(lcid=5, src_l2id=1, dst_l2id=2, cast=2, sdu_type=0,
                          sdu=bytes(IPv6() / UDP()), key_id=0x0001),  # SLRB: ciphered
    ]
    rows = fields(_pcap_of(tmp_path, "l29.pcap", payloads), "pc5pdcp.ciphered",
                  "pc5s.msg_type", "ipv6.version", "_ws.expert", "_ws.malformed")
    assert [(r["pc5pdcp.ciphered"], r["pc5s.msg_type"]) for r in rows] == [
        ("0", "12"), ("1", ""), ("1", ""), ("1", ""), ("0", "3"), ("1", "")]
    assert all(r["ipv6.version"] == r["_ws.expert"] == r["_ws.malformed"] == "" for r in rows)


def test_field_names_registered(tmp_path):
    out = subprocess.run(["tshark", "-G", "fields", "-X", f"lua_script:{LUA}"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    names = {line.split("\t")[2] for line in out.splitlines() if line.startswith("F\t")}
    wanted = {f"pc5emu.{n}" for n in ("version", "channel", "lcid", "src_l2id", "dst_l2id",
                                      "pppp", "cast", "length")}
    wanted |= {f"pc5pdcp.{n}" for n in ("sdu_type", "pgk_index", "ptk_id", "kdsess_id", "sn",
                                        "mac_i", "ciphered", "ciphered_sdu", "protection")}
    wanted |= {f"srtp_pm.{n}" for n in ("version", "marker", "pt", "seq", "timestamp", "ssrc",
                                        "encrypted_payload", "auth_tag", "mki")}
    wanted |= {f"srtcp_pm.{n}" for n in ("version", "count", "pt", "length", "ssrc",
                                         "encrypted_payload", "auth_tag", "e_flag", "index",
                                         "mki")}
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
        fast.build_sl_sch(lcid=1, src_l2id=1, dst_l2id=2, cast=1, sdu_type=0, sdu=bytes(
            IPv6() / UDP(sport=50001, dport=50001) / bytes(16))),  # SRTCP without its trailer
        fast.build_sl_sch(lcid=1, src_l2id=1, dst_l2id=2, cast=1, sdu_type=0, sdu=bytes(
            IPv6() / UDP(sport=50000, dport=50000) / bytes.fromhex("8060"))),  # SRTP cut
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
