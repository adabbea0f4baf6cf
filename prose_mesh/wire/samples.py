"""Deterministic sample capture of every frame type: ``python -m prose_mesh.wire.samples OUT``.

Writes a classic pcap (Ethernet link type) with fixed timestamps, so the file only changes when
the wire format does. MIKEY messages need an ECCSI signature and SAKKE data: callers inject
``sign(bytes_to_sign) -> 129 octets`` and ``encapsulate(ssv, identity) -> 273 octets``. With
none given, :func:`default_crypto` uses :mod:`prose_mesh.crypto` with fixed demo keys (KSAK,
v and z below are public sample values, never real keys) and a deterministic ECCSI nonce, so the
capture is byte-for-byte reproducible; if that package cannot be imported,
clearly labelled placeholder bytes are used instead (``PLACEHOLDER_*``).

Protection is real, so the capture shows what a sniffer sees: one-to-one PDUs are protected by
:class:`prose_mesh.protocol.pdcp.O2oContext` under a public demo KD-sess (LCID 30 and the DSM
COMPLETE ciphered + MAC-I, the DSM COMMAND integrity-only, LCID 1–10 ciphered), so the Lua
dissector shows them as ciphered; the DCRs, the REJECTs and unciphered one-to-many data
(PGK index = PTK ID = 0) stay readable. Group media is SRTP/SRTCP (AEAD_AES_128_GCM, 8-octet MKI
GMK-ID ‖ GUK-ID) on the default media ports 50000/50001 under a public demo master key. The
cleartext MCPT floor-control samples go to :data:`CLEAR_FLOOR_PORT`, never to 50001 (the
plugin reads that port as SRTCP): they only illustrate the format Wireshark's RTCP decodes.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP

from prose_mesh.constants import MIKEY_PORT, MONP_PORT
from prose_mesh.crypto.srtp import SrtpProfile, SrtpSender
from prose_mesh.wire import discovery as d
from prose_mesh.wire import fast
from prose_mesh.wire import mikey_codec as mc
from prose_mesh.wire import monp as m
from prose_mesh.wire import pc5s as s

if TYPE_CHECKING:
    from prose_mesh.protocol.pdcp import O2oContext

Sign = Callable[[bytes], bytes]
Encapsulate = Callable[[bytes, bytes], bytes]

# Placeholders (used only when prose_mesh.crypto is unavailable): NOT valid ECCSI / SAKKE.
PLACEHOLDER_SIGNATURE: Final = b"\x00" * 64 + b"\x04" + b"\x00" * 64
PLACEHOLDER_SAKKE: Final = b"\x04" + b"\x00" * 272

SAMPLE_KSAK: Final = hashlib.sha256(b"prose_mesh sample KSAK (public, demo only)").digest()
SAMPLE_V: Final = hashlib.sha256(b"prose_mesh sample v (public, demo only)").digest()
SAMPLE_Z: Final = hashlib.sha256(b"prose_mesh sample z (public, demo only)").digest()
SAMPLE_KMS_URI: Final = b"kms.prose-mesh.example"
GMS_UID: Final = hashlib.sha256(b"sample UID sip:gms@prose-mesh.example").digest()
ALICE_UID: Final = hashlib.sha256(b"sample UID sip:alice@prose-mesh.example").digest()
BOB_UID: Final = hashlib.sha256(b"sample UID sip:bob@prose-mesh.example").digest()

MAC_A: Final = bytes.fromhex("020000000001")
MAC_B: Final = bytes.fromhex("020000000002")
L2_A: Final = 0x0A0B0C
L2_B: Final = 0x0D0E0F
L2_GROUP: Final = 0x9A0001
GROUP_ADDR: Final = "ff15::9a:1"
T_NTP: Final = mc.ntp_from_unix(1_700_000_000)

SAMPLE_KD_SESS: Final = hashlib.sha256(b"prose_mesh sample KD-sess (public, demo only)").digest()
SAMPLE_KD_SESS_ID: Final = 0x2A17
SAMPLE_SRTP_KEY: Final = hashlib.sha256(b"prose_mesh sample SRTP key (public)").digest()[:16]
SAMPLE_SRTP_SALT: Final = hashlib.sha256(b"prose_mesh sample SRTP salt (public)").digest()[:12]
SAMPLE_MKI: Final = bytes.fromhex("0df9bc3906a12aea")  # GMK-ID ‖ GUK-ID of the sample GMK
SAMPLE_SSRC: Final = 0x0177CE23
MEDIA_PORT: Final = 50000  # GroupConfig.media_port default; SRTCP on MEDIA_PORT + 1
CLEAR_FLOOR_PORT: Final = 50011  # cleartext MCPT samples (not a port the plugin claims)
# PC5-S messages the DCR's responder sends (the rest come from the initiator, A).
_FROM_RESPONDER: Final = frozenset((2, 3, 5, 7, 12, 16, 18))


def placeholder_crypto() -> tuple[Sign, Encapsulate]:
    return (lambda _tbs: PLACEHOLDER_SIGNATURE), (lambda _ssv, _id: PLACEHOLDER_SAKKE)


def default_crypto() -> tuple[Sign, Encapsulate, bool]:
    """(sign, encapsulate, real): real ECCSI/SAKKE with demo keys, else labelled placeholders."""
    try:
        from prose_mesh.crypto import eccsi, sakke  # optional: written separately
    except ImportError:
        sign, enc = placeholder_crypto()
        return sign, enc, False
    kpak = eccsi.eccsi_make_kpak(SAMPLE_KSAK)
    ssk, pvt = eccsi.eccsi_issue_user_key(identity=GMS_UID, ksak=SAMPLE_KSAK, v=SAMPLE_V)
    z_pub = sakke.sakke_make_z(SAMPLE_Z)

    q = eccsi.Q

    def sign(tbs: bytes) -> bytes:
        # Deterministic j (the RFC 6979 idea: a keyed hash of the message) so the sample capture
        # is reproducible; unique per message, so j is never reused for different messages.
        # Demo keys only: nodes sign with the hedged eccsi.eccsi_sign.
        j = 1 + int.from_bytes(hmac.new(ssk, tbs, hashlib.sha256).digest(), "big") % (q - 1)
        return eccsi._sign_with_j(tbs, j, identity=GMS_UID, ssk=ssk, pvt=pvt, kpak=kpak)

    def encapsulate(ssv: bytes, identity: bytes) -> bytes:
        return sakke.sakke_encapsulate(ssv, identity=identity, z_pub=z_pub)

    return sign, encapsulate, True


def _udp6(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    return bytes(IPv6(src=src, dst=dst, hlim=255) / UDP(sport=sport, dport=dport) / payload)


def _group_ip(payload: bytes, sn: int, *, sport: int, dport: int) -> bytes:
    sdu = _udp6("fe80::a", GROUP_ADDR, sport, dport, payload)
    return fast.ethernet(MAC_A, fast.build_sl_sch(
        lcid=1, src_l2id=L2_A, dst_l2id=L2_GROUP, cast=fast.CAST_ONE_TO_MANY,
        sdu_type=fast.SDU_IP, sdu=sdu, sn=sn))


def _o2o_contexts() -> dict[int, O2oContext]:
    """The demo one-to-one security context of each side (A initiator, B responder)."""
    from prose_mesh.protocol.pdcp import DIR_INITIATOR, DIR_RESPONDER, O2oContext

    return {
        L2_A: O2oContext(kd_sess_id=SAMPLE_KD_SESS_ID, kd_sess=SAMPLE_KD_SESS,
                         direction=DIR_INITIATOR),
        L2_B: O2oContext(kd_sess_id=SAMPLE_KD_SESS_ID, kd_sess=SAMPLE_KD_SESS,
                         direction=DIR_RESPONDER),
    }


def _o2o(ctx: dict[int, O2oContext], src: int, lcid: int, sdu_type: int, sdu: bytes) -> bytes:
    """One one-to-one frame from ``src``: LCID 28 in clear (KD-sess ID 0), else protected."""
    dst = L2_B if src == L2_A else L2_A
    mac = MAC_A if src == L2_A else MAC_B
    if lcid == fast.LCID_PC5S_PLAIN:
        return fast.ethernet(mac, fast.build_sl_sch(
            lcid=lcid, src_l2id=src, dst_l2id=dst, cast=fast.CAST_ONE_TO_ONE,
            sdu_type=sdu_type, sdu=sdu))
    pdu = ctx[src].protect(lcid, sdu_type, sdu)
    return fast.ethernet(mac, fast.build_sl_sch(
        lcid=lcid, src_l2id=src, dst_l2id=dst, cast=fast.CAST_ONE_TO_ONE, sdu_type=sdu_type,
        sdu=pdu.body, key_id=pdu.key_id, sn=pdu.sn, mac_i=pdu.mac_i))


def _pc5s(ctx: dict[int, O2oContext], msg: bytes, lcid: int) -> bytes:
    src = L2_B if msg[0] in _FROM_RESPONDER else L2_A
    return _o2o(ctx, src, lcid, fast.SDU_PC5S, msg)


def _group_data(sdu_type: int, sdu: bytes) -> bytes:
    """Unciphered one-to-many data: PGK index = PTK ID = SN = 0 [V Rel-14]."""
    return fast.ethernet(MAC_A, fast.build_sl_sch(
        lcid=3, src_l2id=L2_A, dst_l2id=L2_GROUP, cast=fast.CAST_ONE_TO_MANY,
        sdu_type=sdu_type, sdu=sdu))


def media_packets() -> list[bytes]:
    """One SRTP (talk-burst start) and one SRTCP Floor Taken, as a group call sends them."""
    sender = SrtpSender(SrtpProfile.AEAD_AES_128_GCM, SAMPLE_SRTP_KEY, SAMPLE_SRTP_SALT,
                        ssrc=SAMPLE_SSRC, mki=SAMPLE_MKI)
    rtp = struct.pack("!BBHII", 0x80, 0x80 | 96, 0x313D, 160_000, SAMPLE_SSRC) + b"\0" * 168
    taken = m.FloorControl(subtype=2, ssrc=SAMPLE_SSRC, mcpt_fields=[
        m.MCPTField(id=4, value=b"sip:alice@prose-mesh.example"),
        m.MCPTField(id=8, value=b"\x00\x01")])
    return [sender.protect_rtp(rtp), sender.protect_rtcp(bytes(taken))]


def discovery_messages() -> list[bytes]:
    nonce = bytes(range(20))
    return [bytes(x) for x in (
        d.DiscoveryAnnouncement(plmn_id=0x00F110, temporary_id=nonce, mic=0x11223344, utc_lsb=7),
        d.DiscoveryAnnouncement(model=d.MODEL_B, plmn_id=0x00F110, temporary_id=nonce),
        d.DiscoverySolicitation(plmn_id=0x00F110, temporary_id=nonce, mic=1, utc_lsb=8),
        d.RelayDiscoveryAnnouncement(relay_service_code=0x000001, announcer_info=b"relay1",
                                     relay_ue_id=L2_B, status_indicator=0, mic=2, utc_lsb=9),
        d.RelayDiscoveryAnnouncement(model=d.MODEL_B, relay_service_code=1, relay_ue_id=L2_B),
        d.RelayDiscoverySolicitation(relay_service_code=1, discoverer_info=b"remote"),
        d.GroupMemberAnnouncement(prose_ue_id=L2_A, announcer_info=b"alice!",
                                  discovery_group_id=0x00BEEF, mic=3, utc_lsb=10),
        d.GroupMemberAnnouncement(model=d.MODEL_B, prose_ue_id=L2_B, discovery_group_id=0xBEEF),
        d.GroupMemberSolicitation(discoverer_info=b"bob!!!", discovery_group_id=0x00BEEF),
    )]


def pc5s_messages(sign: Sign, encapsulate: Encapsulate) -> list[tuple[bytes, int]]:
    """(message, LCID) for every PC5-S message, as a direct link would send them."""
    dcr = s.sign_pc5s(s.DirectCommunicationRequest(
        seq=1, user_info=b"001010123456789", ip_address_config=3, max_inactivity_period=3600,
        nonce_1=bytes(range(16)), ue_security_capabilities=0xE0E0, msb_kdsess_id=0x2A,
        ies=[s.IE_KDID(kd_id=0x01020304), s.IE_LinkLocalIPv6(address="fe80::a")],
    ), sign)
    sed = encapsulate(bytes(range(16)), ALICE_UID)
    cmd = s.sign_pc5s(s.DirectSecurityModeCommand(
        seq=1, ue_security_capabilities=0xE0E0, nonce_2=bytes(range(16, 32)),
        chosen_algorithms=0x22, lsb_kdsess_id=0x17,
        ies=[s.IE_MSBofKDID(msb_kd_id=0x0102), s.IE_EncryptedPayload(payload_data=sed)],
    ), sign)
    pck = mikey_messages(sign, encapsulate)[1]
    dcr_ibc = s.sign_pc5s(s.DirectCommunicationRequest(
        seq=8, user_info_type=2, user_info=b"sip:alice@prose-mesh.example",
        ip_address_config=3, max_inactivity_period=3600, nonce_1=bytes(range(16)),
        ue_security_capabilities=0xE0E0, msb_kdsess_id=0x2A,
        ies=[s.IE_MikeyIMessage(i_message=pck)]), sign)
    return [
        (dcr, fast.LCID_PC5S_PLAIN),
        (dcr_ibc, fast.LCID_PC5S_PLAIN),
        (cmd, fast.LCID_PC5S_DSM),
        (bytes(s.DirectSecurityModeComplete(seq=1, ies=[s.IE_LSBofKDID(lsb_kd_id=0x0304)])),
         fast.LCID_PC5S_DSM),
        (bytes(s.DirectSecurityModeReject(seq=1, cause=5, ies=[s.IE_RAND(rand=b"R" * 16)])),
         fast.LCID_PC5S_PLAIN),
        (bytes(s.DirectCommunicationAccept(seq=1, ies=[s.IE_LinkLocalIPv6(address="fe80::b")])),
         fast.LCID_PC5S_PROTECTED),
        (bytes(s.DirectCommunicationReject(seq=2, cause=1)), fast.LCID_PC5S_PLAIN),
        (bytes(s.DirectCommunicationKeepalive(seq=3, keepalive_counter=1, ies=[
            s.IE_MaxInactivityPeriod(max_inactivity_period=60)])), fast.LCID_PC5S_PROTECTED),
        (bytes(s.DirectCommunicationKeepaliveAck(seq=3, keepalive_counter=1)),
         fast.LCID_PC5S_PROTECTED),
        (bytes(s.DirectRekeyingRequest(seq=4, nonce_1=b"N" * 16, msb_kdsess_id=0x2B, ies=[
            s.IE_AuthFlag(auth_flag=1), s.IE_PRUKID(pruk_id=b"PRUK-ID!")])),
         fast.LCID_PC5S_PROTECTED),
        (bytes(s.DirectRekeyingResponse(seq=4)), fast.LCID_PC5S_PROTECTED),
        (bytes(s.DirectRekeyingTrigger(seq=5)), fast.LCID_PC5S_PROTECTED),
        (bytes(s.RemoteUEInfoRequest(seq=6)), fast.LCID_PC5S_PROTECTED),
        (bytes(s.RemoteUEInfoResponse(seq=6, identity=b"001010123456789")),
         fast.LCID_PC5S_PROTECTED),
        (bytes(s.DirectCommunicationRelease(seq=7, release_reason=1)), fast.LCID_PC5S_PROTECTED),
        (bytes(s.DirectCommunicationReleaseAccept(seq=7)), fast.LCID_PC5S_PROTECTED),
    ]


def mikey_messages(sign: Sign, encapsulate: Encapsulate) -> list[bytes]:
    """GMK (empty map), PCK, CSK and the [EMU] PSK group call key message."""
    common = {
        "t_ntp": T_NTP,
        "initiator_uid": GMS_UID,
        "kms_uri_initiator": SAMPLE_KMS_URI,
        "kms_uri_responder": SAMPLE_KMS_URI,
    }
    gmk = mc.build_gmk_i_message(
        guk_id=0x06A12AEA, gmk_id=0x0DF9BC39, sign=sign, rand=b"\x01" * 16,
        responder_uid=ALICE_UID, sakke_data=encapsulate(b"G" * 16, ALICE_UID), **common)
    pck = mc.build_pck_i_message(
        pck_id=0x16992638, sign=sign, rand=b"\x02" * 16, responder_uid=BOB_UID,
        sakke_data=encapsulate(b"P" * 16, BOB_UID), **common)
    csk = mc.build_csk_i_message(
        csk_id=0x2DDD5BF0, sign=sign, rand=b"\x03" * 16, responder_uid=BOB_UID,
        sakke_data=encapsulate(b"C" * 16, BOB_UID), **common)
    key_data = mc.KeyData(key=b"K" * 16, salt=b"S" * 12, spi=bytes.fromhex("0df9bc3906a12aea"))
    psk = mc.build_group_call_key_message(
        csb_id=0x0DF9BC39, t_ntp=T_NTP, rand=b"\x04" * 16,
        initiator_uri=b"sip:alice@prose-mesh.example", initiator_uid=ALICE_UID,
        encr_key_data=key_data.encode(), sign=sign)  # plaintext here: sample only
    return [gmk, pck, csk, psk]


def floor_messages() -> list[bytes]:
    uid = m.MCPTField(id=6, value=b"sip:alice@prose-mesh.example")
    return [bytes(x) for x in (
        m.FloorControl(subtype=0, ssrc=0xA1,
                       mcpt_fields=[m.MCPTField(id=0, value=b"\x07\x00"), uid]),
        m.FloorControl(subtype=1, ssrc=0xB2, mcpt_fields=[m.MCPTField(id=1, value=b"\x00\x1e"),
                                                     m.MCPTField(id=0, value=b"\x07\x00")]),
        m.FloorControl(subtype=2, ssrc=0xA1, mcpt_fields=[
            m.MCPTField(id=4, value=b"sip:alice@prose-mesh.example"),
            m.MCPTField(id=8, value=b"\x00\x01")]),
        m.FloorControl(subtype=3, ssrc=0xB2, mcpt_fields=[m.MCPTField(id=2, value=b"\x00\x01")]),
        m.FloorControl(subtype=4, ssrc=0xA1, mcpt_fields=[uid]),
        m.FloorControl(subtype=5, ssrc=0xB2, mcpt_fields=[m.MCPTField(id=8, value=b"\x00\x02")]),
    )]


def monp_messages() -> list[bytes]:
    group = b"sip:group1@prose-mesh.example"
    user = b"sip:alice@prose-mesh.example"
    return [bytes(x) for x in (
        m.GroupCallProbe(group_id=group),
        m.GroupCallAnnouncement(
            call_id=0x4D2, call_type=1, refresh_interval=10000, call_start_time=1_700_000_000,
            last_call_type_change_time=1_700_000_000, group_id=group,
            sdp=b"v=0\r\nc=IN IP6 ff15::9a:1\r\nm=audio 50000 RTP/SAVP 96\r\n",
            originating_user_id=user, last_user_to_change_call_type=user,
            t_ies=[m.IEI_CONFIRM_MODE]),
        m.GroupCallAccept(call_id=0x4D2, call_type=1, user_id=b"sip:bob@prose-mesh.example",
                          group_id=group),
    )]


def build_sample_frames(sign: Sign | None = None, encapsulate: Encapsulate | None = None
                        ) -> list[bytes]:
    """Every frame type, in a fixed order (see the module docstring for the crypto)."""
    if sign is None or encapsulate is None:
        dsign, denc, _real = default_crypto()
        sign, encapsulate = sign or dsign, encapsulate or denc
    frames = [fast.ethernet(MAC_A, fast.build_sl_dch(L2_A, msg)) for msg in discovery_messages()]
    ctx = _o2o_contexts()
    frames += [_pc5s(ctx, msg, lcid) for msg, lcid in pc5s_messages(sign, encapsulate)]
    for sn, msg in enumerate(mikey_messages(sign, encapsulate)):
        frames.append(_group_ip(msg, 100 + sn, sport=MIKEY_PORT, dport=MIKEY_PORT))
    for sn, msg in enumerate(monp_messages()):
        frames.append(_group_ip(msg, 200 + sn, sport=MONP_PORT, dport=MONP_PORT))
    for sn, msg in enumerate(floor_messages()):
        frames.append(_group_ip(msg, 300 + sn, sport=CLEAR_FLOOR_PORT, dport=CLEAR_FLOOR_PORT))
    srtp, srtcp = media_packets()
    frames.append(_group_ip(srtp, 400, sport=MEDIA_PORT, dport=MEDIA_PORT))
    frames.append(_group_ip(srtcp, 401, sport=MEDIA_PORT + 1, dport=MEDIA_PORT + 1))
    arp = bytes(ARP(hwsrc="02:00:00:00:00:01", psrc="10.0.0.1", pdst="10.0.0.2"))
    ipv4 = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5000, dport=5001) / b"hello")
    for sdu_type, sdu in ((fast.SDU_ARP, arp), (fast.SDU_IP, ipv4),
                          (fast.SDU_NON_IP, b"\x01non-ip payload")):
        frames.append(_group_data(sdu_type, sdu))
    # One-to-one data on an SLRB: ciphered under the demo KD-sess (no MAC-I on LCID 1-10).
    frames.append(_o2o(ctx, L2_A, 3, fast.SDU_IP,
                       _udp6("fe80::a", "fe80::b", 5000, 5001, b"one-to-one user data")))
    # One-to-many with PDCP ciphering indicated (opaque SDU) and Ethernet padding after LEN.
    frames.append(fast.ethernet(MAC_A, fast.build_sl_sch(
        lcid=2, src_l2id=L2_A, dst_l2id=L2_GROUP, cast=fast.CAST_ONE_TO_MANY,
        sdu_type=fast.SDU_IP, sdu=b"\x8f" * 24, key_id=0x0001, sn=7, pgk_index=3)) + b"\0" * 8)
    return frames


def write_pcap(path: str | Path, frames: Sequence[bytes], t0: int = 1_700_000_000) -> None:
    """Classic pcap, link type 1 (Ethernet), one frame per second from ``t0``."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i, frame in enumerate(frames):
        out.append(struct.pack("<IIII", t0 + i, 0, len(frame), len(frame)) + frame)
    Path(path).write_bytes(b"".join(out))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    out = Path(args[0] if args else "captures/samples/all-frames.pcap")
    sign, enc, real = default_crypto()
    frames = build_sample_frames(sign, enc)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_pcap(out, frames)
    crypto = "prose_mesh.crypto (demo keys)" if real else "PLACEHOLDER signature/SAKKE bytes"
    print(f"wrote {len(frames)} frames to {out} ({crypto})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
