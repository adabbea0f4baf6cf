"""``prose-mesh decrypt``: a copy of a run's air capture with every frame its key log opens in
clear (issue #8; PROTOCOL.md §1.1 "optionally the capture tool writes a deciphered pcap").

Inputs: ``captures/<run>/air.pcapng`` and ``keys.jsonl`` (:mod:`prose_mesh.node.keylog`).
Output: ``air-decrypted.pcapng`` (by default next to them). Every other pcapng block (section
header, interfaces, statistics) and every frame no key opens is copied byte for byte, so frame
numbers match the original capture.

Layers opened, always with the check the receiving UE makes, never writing unchecked output:

* **One-to-one PDCP** (TS 36.323 §5.6/§5.7, TS 33.303 §6.5; PROTOCOL.md §4.2/§4.3): the key is
  chosen by (SRC L2 ID, DST L2 ID, KD-sess ID); COUNT = KD-sess ID ‖ SN, BEARER = LCID,
  DIRECTION of the sender. LCID 29/30 PDUs are deciphered (when ciphered) and their MAC-I
  (128-EIA2) verified; a bad MAC-I leaves the frame as it was and is counted. SLRB PDUs
  (LCID 1-10, ciphered only, no MAC-I) must decipher to an IPv6/UDP packet whose UDP checksum
  holds. Opened PDUs are rewritten with KD-sess ID 0 (the Lua dissector's "unprotected"
  marker, as EEA0 would show), the original SN and the plaintext MAC-I. Integrity-only DSM
  COMMANDs are already clear: their MAC-I is verified and counted, the frame is unchanged.
* **One-to-many PDCP** (TS 33.303 §6.2.3, A.3): PEK from PTK(PGK of (group L2 ID, PGK index),
  SRC L2 ID, PTK ID); COUNT = PTK ID ‖ SN, DIRECTION 0. There is no integrity on this bearer,
  so the plaintext must be an IPv6/UDP packet with a valid UDP checksum. Opened PDUs are
  rewritten with PGK index = PTK ID = SN = 0, the Rel-14 "unciphered" header.
* **SRTP / SRTCP** (RFC 3711, RFC 7714; TS 33.180 §7.4): in an IPv6/UDP SDU to a logged call's
  media port (SRTP) or media port + 1 (SRTCP), the MKI (GMK-ID ‖ GUK-ID) selects the call keys
  of that GMK; the sender's master key/salt is derived from the call key with CSB ID = the
  MKI's GUK-ID, and the packet is opened only if its GCM/HMAC tag verifies. The UDP payload
  becomes the plain RTP/RTCP packet (checksum recomputed). Wireshark shows it with
  ``-d udp.port==50000,rtp -d udp.port==50001,rtcp`` (the Lua plugin claims those ports for
  SRTP so that ciphertext is never read as RTP).
* MIKEY I_MESSAGEs need no key here: once the PDCP layer is removed Wireshark's MIKEY dissector
  shows them; the SAKKE payload stays encapsulated.

Not opened: restricted discovery (DUSK scrambling / DUCK confidentiality, TS 33.303 §6.1),
the KEMAC of the call-key message in a MONP ANNOUNCEMENT (its call key is logged directly), and
the SAKKE payloads. One-to-many PDUs have no integrity: the UDP checksum does not cover the
IPv6 traffic class, flow label or hop limit, so a flipped bit there (AES-CTR is malleable)
still "opens"; everything inside (SRTP, MIKEY SIGN) keeps its own check.

Each rewritten frame carries a pcapng comment (``frame.comment``) saying what was opened and
the original header values. Nothing here trusts the capture: a frame that does not parse, or a
key that does not verify, is copied unchanged and counted with a reason.
"""

from __future__ import annotations

import hmac
import json
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from prose_mesh.crypto import pdcp_cipher
from prose_mesh.crypto.prose_keys import pek, ptk
from prose_mesh.crypto.srtp import SrtpError, SrtpProfile, SrtpReceiver
from prose_mesh.errors import ProseMeshError
from prose_mesh.node.keylog import KEYLOG_NAME
from prose_mesh.protocol.call_key import sender_master
from prose_mesh.protocol.pdcp import CIPHERED, FULL, INTEGRITY, PdcpRejected, o2o_mode
from prose_mesh.wire import fast
from prose_mesh.wire.ipudp import build_udp6, parse_udp6

__all__ = [
    "CAPTURE_NAME",
    "DECRYPTED_NAME",
    "DecryptError",
    "DecryptResult",
    "KeyRing",
    "decrypt_capture",
    "decrypt_run",
    "iter_frames",
    "load_keylog",
    "resolve_run",
]

CAPTURE_NAME = "air.pcapng"
DECRYPTED_NAME = "air-decrypted.pcapng"

_SHB, _IDB, _EPB = 0x0A0D0D0A, 1, 6
_BYTE_ORDER_MAGIC = 0x1A2B3C4D
_OPT_END, _OPT_COMMENT = 0, 1
_LINKTYPE_ETHERNET = 1
_MKI_LEN = 8  # group MKI: GMK-ID ‖ GUK-ID (PROTOCOL.md §6.5)
_LCID_RELAY, _RELAY_HDR_LEN = 10, 3  # [EMU] relay envelope (prose_mesh.wire.relay)
_Out = tuple[bytes, list[str]] | None  # (new PC5 payload, notes), or None: copy unchanged


class DecryptError(ProseMeshError):
    """A run, capture or key log is missing or unreadable (the CLI exits 2)."""

    reason = "DECRYPT"


# ============================================================================ the key log
@dataclass(frozen=True, slots=True)
class _LinkKey:
    pek: bytes
    pik: bytes
    eea: int
    eia: int
    direction: int  # DIRECTION of the frame's sender


@dataclass(frozen=True, slots=True)
class _CallKey:
    call_key: bytes
    rand: bytes
    profile: SrtpProfile


@dataclass
class KeyRing:
    """The keys of one key log, indexed the way frames select them."""

    links: dict[tuple[int, int, int], list[_LinkKey]] = field(default_factory=dict)
    pgks: dict[tuple[int, int], list[tuple[bytes, int]]] = field(default_factory=dict)
    calls: dict[int, list[_CallKey]] = field(default_factory=dict)
    srtp: dict[bytes, list[tuple[SrtpProfile, bytes, bytes]]] = field(default_factory=dict)
    media_ports: set[int] = field(default_factory=set)
    lines: Counter[str] = field(default_factory=Counter)
    bad_lines: int = 0

    def _add(self, table: dict[Any, list[Any]], key: Any, value: Any) -> None:
        values = table.setdefault(key, [])
        if value not in values:
            values.append(value)

    def add_line(self, line: dict[str, Any]) -> None:
        """Index one key-log line (unknown types are ignored: newer logs stay readable)."""
        kind = line.get("type")
        if kind == "pc5_link":
            me, peer, kd = int(line["l2id"]), int(line["peer_l2id"]), int(line["kd_sess_id"])
            d = int(line["direction"])
            pk, ik = bytes.fromhex(line["pek"]), bytes.fromhex(line["pik"])
            eea, eia = int(line["eea"]), int(line["eia"])
            self._add(self.links, (me, peer, kd), _LinkKey(pk, ik, eea, eia, d))
            self._add(self.links, (peer, me, kd), _LinkKey(pk, ik, eea, eia, 1 - d))
        elif kind == "pdcp_group":
            key = (int(line["l2_group_id"]), int(line["pgk_index"]))
            self._add(self.pgks, key, (bytes.fromhex(line["pgk"]), int(line["eea"])))
        elif kind == "group_call":
            self._add(self.calls, int(line["gmk_id"]), _CallKey(
                bytes.fromhex(line["call_key"]), bytes.fromhex(line["rand"]),
                SrtpProfile[line["profile"]]))
            self.media_ports.add(int(line["media_port"]))
        elif kind == "srtp":
            self._add(self.srtp, bytes.fromhex(line["mki"]), (
                SrtpProfile[line["profile"]], bytes.fromhex(line["master_key"]),
                bytes.fromhex(line["master_salt"])))
        else:
            return
        self.lines[str(kind)] += 1


def load_keylog(path: Path) -> KeyRing:
    """Read ``keys.jsonl``; a line that is not a well-formed key line is counted and skipped."""
    ring = KeyRing()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DecryptError(f"cannot read key log {path}: {exc}", reason="NO_KEYLOG") from None
    for raw in text.splitlines():
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
            if not isinstance(line, dict):
                raise TypeError("not an object")
            ring.add_line(line)
        except (ValueError, TypeError, KeyError):
            ring.bad_lines += 1
    return ring


# ============================================================================ pcapng
def _blocks(data: bytes) -> Iterator[tuple[int, bytes, str]]:
    """(block type, whole block, byte order) of every block; the SHB sets the byte order."""
    off, endian = 0, "<"
    while off < len(data):
        if len(data) - off < 12:
            raise DecryptError(f"truncated pcapng block at offset {off}", reason="BAD_CAPTURE")
        (kind,) = struct.unpack_from("<I", data, off)  # the SHB type is a palindrome
        if kind == _SHB:
            magic = data[off + 8 : off + 12]
            if magic == struct.pack("<I", _BYTE_ORDER_MAGIC):
                endian = "<"
            elif magic == struct.pack(">I", _BYTE_ORDER_MAGIC):
                endian = ">"
            else:
                raise DecryptError("pcapng byte-order magic missing", reason="BAD_CAPTURE")
        kind, length = struct.unpack_from(endian + "II", data, off)
        if length < 12 or length % 4 or off + length > len(data):
            raise DecryptError(f"bad pcapng block length {length} at {off}", reason="BAD_CAPTURE")
        yield kind, data[off : off + length], endian
        off += length


def _options(raw: bytes, endian: str) -> list[tuple[int, bytes]]:
    """The TLV options of a block (without opt_endofopt)."""
    out: list[tuple[int, bytes]] = []
    off = 0
    while off + 4 <= len(raw):
        code, n = struct.unpack_from(endian + "HH", raw, off)
        if code == _OPT_END:
            break
        out.append((code, raw[off + 4 : off + 4 + n]))
        off += 4 + n + (-n % 4)
    return out


def _pack_options(opts: list[tuple[int, bytes]], endian: str) -> bytes:
    out = b"".join(struct.pack(endian + "HH", c, len(v)) + v + b"\0" * (-len(v) % 4)
                   for c, v in opts)
    return out + struct.pack(endian + "HH", _OPT_END, 0)


def _epb(block: bytes, endian: str) -> tuple[int, int, int, bytes, list[tuple[int, bytes]]]:
    """(interface, ts high, ts low, packet, options) of an Enhanced Packet Block."""
    if len(block) < 32:
        raise DecryptError("short Enhanced Packet Block", reason="BAD_CAPTURE")
    iface, ts_hi, ts_lo, caplen, _orig = struct.unpack_from(endian + "IIIII", block, 8)
    end = 28 + caplen
    if end > len(block) - 4:
        raise DecryptError("EPB captured length beyond the block", reason="BAD_CAPTURE")
    opts = _options(block[end + (-caplen % 4) : -4], endian)
    return iface, ts_hi, ts_lo, block[28:end], opts


def _build_epb(iface: int, ts_hi: int, ts_lo: int, packet: bytes,
               opts: list[tuple[int, bytes]], endian: str) -> bytes:
    body = (struct.pack(endian + "IIIII", iface, ts_hi, ts_lo, len(packet), len(packet))
            + packet + b"\0" * (-len(packet) % 4) + _pack_options(opts, endian))
    length = 12 + len(body)
    return struct.pack(endian + "II", _EPB, length) + body + struct.pack(endian + "I", length)


def iter_frames(path: Path) -> Iterator[tuple[int, int, bytes, str | None]]:
    """(interface, timestamp ns, frame, comment or None) of every packet of a pcapng file,
    e.g. to compare a capture with its decrypted copy frame by frame."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DecryptError(f"cannot read capture {path}: {exc}", reason="NO_CAPTURE") from None
    for kind, block, endian in _blocks(data):
        if kind == _EPB:
            iface, ts_hi, ts_lo, packet, opts = _epb(block, endian)
            comments = [v.decode("utf-8", "replace") for c, v in opts if c == _OPT_COMMENT]
            yield iface, (ts_hi << 32) | ts_lo, packet, "\n".join(comments) or None


# ============================================================================ decryption
@dataclass
class DecryptResult:
    """What one decryption did. ``opened`` counts frames per layer opened (``pdcp_o2o``,
    ``pdcp_o2m``, ``srtp``, ``srtcp``; a frame can count in two layers), ``verified`` the
    integrity-only PDUs whose MAC-I verified (already clear), ``not_opened`` "layer:reason".
    ``unprotected`` counts frames with no PDCP protection (discovery, LCID 28, an unciphered
    group bearer); SRTP inside them is still opened (and then counted in ``rewritten``)."""

    path: Path
    media_ports: list[int] = field(default_factory=list)
    frames: int = 0
    rewritten: int = 0
    unprotected: int = 0
    opened: Counter[str] = field(default_factory=Counter)
    verified: Counter[str] = field(default_factory=Counter)
    not_opened: Counter[str] = field(default_factory=Counter)
    keylog_lines: dict[str, int] = field(default_factory=dict)
    keylog_bad_lines: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "media_ports": self.media_ports, "frames": self.frames,
            "rewritten": self.rewritten,
            "unprotected": self.unprotected, "opened": dict(self.opened),
            "verified": dict(self.verified), "not_opened": dict(self.not_opened),
            "keylog_lines": self.keylog_lines, "keylog_bad_lines": self.keylog_bad_lines,
        }  # fmt: skip


class _Opener:
    """Opens frames with one key ring; caches derived PEKs, SRTP receivers and opened SRTP."""

    def __init__(self, ring: KeyRing, result: DecryptResult) -> None:
        self.ring = ring
        self.result = result
        self._peks: dict[tuple[bytes, int, int, int, int], bytes] = {}
        self._receivers: dict[tuple[SrtpProfile, bytes, bytes, bytes], SrtpReceiver] = {}
        self._opened_srtp: dict[tuple[bool, bytes], bytes] = {}
        self._profiles = sorted({c.profile for cs in ring.calls.values() for c in cs}
                                | {p for ks in ring.srtp.values() for p, _k, _s in ks},
                                key=lambda p: p.name)

    # -- a frame -----------------------------------------------------------------------------
    def frame(self, frame: bytes) -> tuple[bytes, str] | None:
        """(rewritten frame, comment), or None to copy the frame unchanged."""
        try:
            src_mac, pdu = fast.parse_frame(frame)
        except ProseMeshError as exc:
            self.result.not_opened[f"frame:{exc.reason}"] += 1
            return None
        got = self._pdu(pdu, relayed=False)
        if got is None:
            return None
        payload, notes = got
        return fast.ethernet(src_mac, payload), "prose-mesh decrypt: " + "; ".join(notes)

    def _pdu(self, pdu: fast.Pc5Pdu, *, relayed: bool) -> _Out:
        shim, pdcp = pdu.shim, pdu.pdcp
        if pdcp is None:  # SL-DCH discovery: no PDCP; DUSK/DUCK protection is not opened here
            self.result.unprotected += 1
            return None
        if isinstance(pdcp, fast.PdcpO2O):
            return self._o2o(shim, pdcp, pdu.body)
        if not relayed and _is_relay_envelope(shim, pdcp, pdu.body):
            return self._envelope(shim, pdcp, pdu.body)
        return self._o2m(shim, pdcp, pdu.body)

    # -- relay envelope ------------------------------------------------------------------------
    def _envelope(self, shim: fast.Shim, pdcp: fast.PdcpO2M, body: bytes) -> _Out:
        """[EMU] A frame forwarded by a UE-to-UE relay (:mod:`prose_mesh.wire.relay`): the
        envelope adds no protection, the inner frame keeps its own; open that one."""
        try:
            inner = fast.parse_pc5(body[_RELAY_HDR_LEN:])
        except ProseMeshError as exc:
            self.result.not_opened[f"relay_inner:{exc.reason}"] += 1
            return None
        got = self._pdu(inner, relayed=True)
        if got is None:
            return None
        new_inner, notes = got
        payload = fast.build_sl_sch(
            lcid=shim.lcid, src_l2id=shim.src_l2id, dst_l2id=shim.dst_l2id, cast=shim.cast,
            sdu_type=pdcp.sdu_type, sdu=body[:_RELAY_HDR_LEN] + new_inner, sn=pdcp.sn,
            pppp=shim.pppp,
        )  # fmt: skip
        return payload, [f"relay envelope from {shim.src_l2id:#08x}: inner frame", *notes]

    # -- one-to-one PDCP -----------------------------------------------------------------------
    def _o2o(self, shim: fast.Shim, pdcp: fast.PdcpO2O, body: bytes) -> _Out:
        res = self.result
        kd, sn, lcid = pdcp.kdsess_id, pdcp.sn, shim.lcid
        if lcid == fast.LCID_PC5S_PLAIN or kd == 0:
            res.unprotected += 1
            return self._inner_only(shim, pdcp, body)
        candidates = self.ring.links.get((shim.src_l2id, shim.dst_l2id, kd))
        if not candidates:
            res.not_opened["pdcp_o2o:no_key"] += 1
            return None
        failure = "BAD_MAC_I"
        for key in candidates:
            try:
                mode = o2o_mode(lcid, key.direction)
            except PdcpRejected:
                failure = "BAD_HEADER"
                continue
            opened = self._o2o_open(key, mode, pdcp, lcid, body)
            if opened is None:
                failure = "BAD_MAC_I" if mode != CIPHERED else "NOT_IPV6_UDP"
                continue
            sdu, mac = opened
            if mode == INTEGRITY:  # the DSM COMMAND: clear already, MAC-I verified
                res.verified["pdcp_o2o_integrity"] += 1
                return None
            res.opened["pdcp_o2o"] += 1
            notes = [f"one-to-one PDCP {mode} opened (KD-sess ID {kd:#06x}, SN {sn}, "
                     f"EEA{key.eea}" + (f"/EIA{key.eia}, MAC-I verified" if mac else "")
                     + "); shown with KD-sess ID 0"]
            if pdcp.sdu_type == fast.SDU_IP:
                sdu = self._inner(sdu, notes)
            payload = fast.build_sl_sch(
                lcid=lcid, src_l2id=shim.src_l2id, dst_l2id=shim.dst_l2id,
                cast=fast.CAST_ONE_TO_ONE, sdu_type=pdcp.sdu_type, sdu=sdu, key_id=0, sn=sn,
                mac_i=int.from_bytes(mac, "big") if mac else None, pppp=shim.pppp,
            )  # fmt: skip
            return payload, notes
        res.not_opened[f"pdcp_o2o:{failure}"] += 1
        return None

    @staticmethod
    def _o2o_open(key: _LinkKey, mode: str, pdcp: fast.PdcpO2O, lcid: int,
                  body: bytes) -> tuple[bytes, bytes] | None:
        """(SDU, plaintext MAC-I or b"") when the PDU opens and checks, else None."""
        count = (pdcp.kdsess_id << 16) | pdcp.sn
        d = key.direction
        try:
            if mode == CIPHERED:
                if pdcp.mac_i is not None:
                    return None
                sdu = pdcp_cipher.cipher(key.eea, key.pek, count, lcid, d, body)
                if pdcp.sdu_type != fast.SDU_IP or not _is_udp6(sdu):
                    return None  # no integrity on an SLRB: only a checksummed packet counts
                return sdu, b""
            if mode not in (INTEGRITY, FULL) or pdcp.mac_i is None:
                return None
            mac = pdcp.mac_i.to_bytes(4, "big")
            sdu = body
            if mode == FULL:
                plain = pdcp_cipher.cipher(key.eea, key.pek, count, lcid, d, body + mac)
                sdu, mac = plain[:-4], plain[-4:]
            header = fast.build_pdcp_o2o(pdcp.sdu_type, pdcp.kdsess_id, pdcp.sn)
            expected = pdcp_cipher.mac(key.eia, key.pik, count, lcid, d, header + sdu)
        except ProseMeshError:  # an algorithm this tool does not implement, a bad key size
            return None
        return (sdu, mac) if hmac.compare_digest(expected, mac) else None

    def _inner_only(self, shim: fast.Shim, pdcp: fast.PdcpO2O | fast.PdcpO2M,
                    body: bytes) -> _Out:
        """An unprotected PDCP PDU: only SRTP/SRTCP inside an IP SDU may need opening."""
        if pdcp.sdu_type != fast.SDU_IP:
            return None
        notes: list[str] = []
        sdu = self._inner(body, notes)
        if not notes:
            return None
        if isinstance(pdcp, fast.PdcpO2O):
            payload = fast.build_sl_sch(
                lcid=shim.lcid, src_l2id=shim.src_l2id, dst_l2id=shim.dst_l2id,
                cast=shim.cast, sdu_type=pdcp.sdu_type, sdu=sdu, key_id=0, sn=pdcp.sn,
                mac_i=pdcp.mac_i, pppp=shim.pppp,
            )  # fmt: skip
        else:
            payload = fast.build_sl_sch(
                lcid=shim.lcid, src_l2id=shim.src_l2id, dst_l2id=shim.dst_l2id,
                cast=shim.cast, sdu_type=pdcp.sdu_type, sdu=sdu, pppp=shim.pppp,
            )  # fmt: skip
        return payload, notes

    # -- one-to-many PDCP ----------------------------------------------------------------------
    def _o2m(self, shim: fast.Shim, pdcp: fast.PdcpO2M, body: bytes) -> _Out:
        res = self.result
        if pdcp.pgk_index == 0 and pdcp.ptk_id == 0:  # unciphered bearer (Rel-14 profile)
            res.unprotected += 1
            return self._inner_only(shim, pdcp, body)
        candidates = self.ring.pgks.get((shim.dst_l2id, pdcp.pgk_index))
        if not candidates:
            res.not_opened["pdcp_o2m:no_key"] += 1
            return None
        if pdcp.ptk_id == 0 or pdcp.sdu_type != fast.SDU_IP:
            res.not_opened["pdcp_o2m:MALFORMED"] += 1
            return None
        count = (pdcp.ptk_id << 16) | pdcp.sn
        for pgk, eea in candidates:
            try:
                key = self._pek(pgk, eea, shim.src_l2id, pdcp.ptk_id, shim.dst_l2id)
                sdu = pdcp_cipher.cipher(eea, key, count, shim.lcid, 0, body)
            except ProseMeshError:
                continue
            if not _is_udp6(sdu):
                continue
            res.opened["pdcp_o2m"] += 1
            notes = [f"one-to-many PDCP deciphered (PGK index {pdcp.pgk_index}, PTK ID "
                     f"{pdcp.ptk_id}, SN {pdcp.sn}, EEA{eea}); shown as unciphered (0/0/0)"]
            sdu = self._inner(sdu, notes)
            payload = fast.build_sl_sch(
                lcid=shim.lcid, src_l2id=shim.src_l2id, dst_l2id=shim.dst_l2id,
                cast=shim.cast, sdu_type=fast.SDU_IP, sdu=sdu, pppp=shim.pppp,
            )  # fmt: skip
            return payload, notes
        res.not_opened["pdcp_o2m:NOT_IPV6_UDP"] += 1
        return None

    def _pek(self, pgk: bytes, eea: int, src: int, ptk_id: int, group: int) -> bytes:
        k = (pgk, eea, src, ptk_id, group)
        got = self._peks.get(k)
        if got is None:
            got = self._peks[k] = pek(ptk(pgk, sender_l2id=src, ptk_id=ptk_id,
                                          group_l2id=group), eea)
        return got

    # -- SRTP / SRTCP inside an IP SDU ---------------------------------------------------------
    def _inner(self, sdu: bytes, notes: list[str]) -> bytes:
        """The IP SDU with SRTP/SRTCP to a logged media port opened, else unchanged."""
        try:
            dgram = parse_udp6(sdu)
        except ProseMeshError:
            return sdu
        ports = self.ring.media_ports
        if dgram.dport in ports:
            rtcp = False
        elif dgram.dport - 1 in ports:
            rtcp = True
        else:
            return sdu
        plain = self._srtp(dgram.payload, rtcp)
        if plain is None:
            return sdu
        notes.append(("SRTCP" if rtcp else "SRTP") + " opened, tag verified; UDP payload is "
                     "the plain " + ("RTCP" if rtcp else "RTP") + " packet")
        return build_udp6(dgram.src, dgram.dst, dgram.sport, dgram.dport, plain,
                          hop_limit=dgram.hop_limit)

    def _srtp(self, data: bytes, rtcp: bool) -> bytes | None:
        layer = "srtcp" if rtcp else "srtp"
        res = self.result
        cached = self._opened_srtp.get((rtcp, data))
        if cached is not None:  # the same packet again (a relay, a replay): same plaintext
            res.opened[layer] += 1
            return cached
        failure = "no_key"
        for profile in self._profiles:
            end = len(data) if profile is SrtpProfile.AEAD_AES_128_GCM else (
                len(data) - profile.tag_len)
            if end - _MKI_LEN < 12:
                continue
            mki = data[end - _MKI_LEN : end]
            gmk_id, guk = struct.unpack("!II", mki)
            masters = [sender_master(c.call_key, c.rand, guk, profile)
                       for c in self.ring.calls.get(gmk_id, ()) if c.profile is profile]
            masters += [(k, s) for p, k, s in self.ring.srtp.get(mki, ()) if p is profile]
            for key, salt in masters:
                try:
                    rx = self._receiver(profile, mki, key, salt)
                    u = rx.unprotect_rtcp(data) if rtcp else rx.unprotect_rtp(data)
                except SrtpError as exc:  # a bad tag, a replay, or a key log line of bad size
                    failure = exc.reason
                    continue
                self._opened_srtp[(rtcp, data)] = u.packet
                res.opened[layer] += 1
                return u.packet
        res.not_opened[f"{layer}:{failure}"] += 1
        return None

    def _receiver(self, profile: SrtpProfile, mki: bytes, key: bytes, salt: bytes) -> (
        SrtpReceiver
    ):
        k = (profile, mki, key, salt)
        rx = self._receivers.get(k)
        if rx is None:
            rx = self._receivers[k] = SrtpReceiver(profile, mki_len=_MKI_LEN, window=1024)
            rx.add_key(mki, key, salt)
        return rx


def _is_relay_envelope(shim: fast.Shim, pdcp: fast.PdcpO2M, body: bytes) -> bool:
    """The [EMU] relay envelope of :mod:`prose_mesh.wire.relay`: SL-SCH LCID 10, CAST 0, an
    unciphered Non-IP SDU starting with relay header version 1, then a whole PC5 payload."""
    return (shim.lcid == _LCID_RELAY and shim.cast == fast.CAST_BROADCAST
            and pdcp.sdu_type == fast.SDU_NON_IP and pdcp.pgk_index == pdcp.ptk_id == 0
            and len(body) >= _RELAY_HDR_LEN + fast.SHIM_LEN and body[0] == 0x10)  # fmt: skip


def _is_udp6(packet: bytes) -> bool:
    """Is ``packet`` a strict IPv6/UDP packet with a valid checksum (the plausibility check of
    a bearer without integrity: a wrong key passes it with probability about 2^-16 or less)?"""
    try:
        parse_udp6(packet)
    except ProseMeshError:
        return False
    return True


# ============================================================================ entry points
def decrypt_capture(capture: Path, keylog: Path, out: Path) -> DecryptResult:
    """Write ``out``: ``capture`` with every frame ``keylog`` opens in clear (module doc)."""
    if out.resolve() == capture.resolve():
        raise DecryptError("the decrypted copy must not replace the air capture",
                           reason="BAD_OUTPUT")
    ring = load_keylog(keylog)
    try:
        data = capture.read_bytes()
    except OSError as exc:
        raise DecryptError(f"cannot read capture {capture}: {exc}", reason="NO_CAPTURE") from None
    result = DecryptResult(out, sorted(ring.media_ports), keylog_lines=dict(ring.lines),
                           keylog_bad_lines=ring.bad_lines)
    opener = _Opener(ring, result)
    tmp = out.with_name(out.name + ".tmp")
    try:
        with tmp.open("wb") as fh:
            _rewrite(data, opener, result, fh)
        tmp.replace(out)
    except OSError as exc:
        raise DecryptError(f"cannot write {out}: {exc}", reason="BAD_OUTPUT") from None
    finally:
        tmp.unlink(missing_ok=True)
    return result


def _rewrite(data: bytes, opener: _Opener, result: DecryptResult, fh: BinaryIO) -> None:
    """Copy every block of ``data`` to ``fh``, Ethernet packets through ``opener``."""
    linktypes: list[int] = []
    for kind, block, endian in _blocks(data):
        if kind == _SHB:
            linktypes = []
        elif kind == _IDB:
            linktypes.append(struct.unpack_from(endian + "H", block, 8)[0])
        elif kind == _EPB:
            iface, ts_hi, ts_lo, packet, opts = _epb(block, endian)
            result.frames += 1
            if iface < len(linktypes) and linktypes[iface] == _LINKTYPE_ETHERNET:
                got = opener.frame(packet)
                if got is not None:
                    frame, comment = got
                    opts = [*opts, (_OPT_COMMENT, comment.encode())]
                    block = _build_epb(iface, ts_hi, ts_lo, frame, opts, endian)
                    result.rewritten += 1
        fh.write(block)


def resolve_run(run: str | Path, root: str | Path = "captures") -> Path:
    """A run folder: ``run`` itself if it is a folder, else ``root/run`` (a run ID)."""
    for path in (Path(run), Path(root) / str(run)):
        if path.is_dir():
            return path
    raise DecryptError(f"no run {run!s} (neither a folder nor a run ID under {root!s})",
                       reason="NO_RUN")


def decrypt_run(run: str | Path, *, out: Path | None = None,
                root: str | Path = "captures") -> DecryptResult:
    """Decrypt ``<run>/air.pcapng`` with ``<run>/keys.jsonl`` into ``out`` (default
    ``<run>/air-decrypted.pcapng``)."""
    path = resolve_run(run, root)
    capture, keylog = path / CAPTURE_NAME, path / KEYLOG_NAME
    if not keylog.is_file():
        raise DecryptError(f"{path} has no key log ({KEYLOG_NAME})", reason="NO_KEYLOG")
    if not capture.is_file():
        raise DecryptError(f"{path} has no air capture ({CAPTURE_NAME})", reason="NO_CAPTURE")
    return decrypt_capture(capture, keylog, out or path / DECRYPTED_NAME)
