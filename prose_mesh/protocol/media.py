"""Group-call media framing: RTP packets, the send timestamp, and per-MKI sender state.

RTP (RFC 3550 §5.1) as sent by :class:`prose_mesh.protocol.group_call.GroupCalls` [EMU]:
V = 2, no padding/extension/CSRC, M = 1 on the first packet of a talk burst, PT 96 (dynamic),
timestamp on an 8 kHz clock, a random initial sequence number below 2^15.

Media payload [EMU]: ``send time (8 octets, µs since 1970 on the sender's clock) ‖ payload``,
so the runner can measure media delay; the timestamp is inside the SRTP-protected part.

Key-stream uniqueness (PROTOCOL.md §6.6 item 4, ADVERSARIAL.md H1): a UE keeps one
:class:`SenderState` per MKI (GMK-ID ‖ its own GUK-ID) for as long as the machine lives, across
calls and re-joins. The SRTP index only grows and the SSRC never leaves ROC 0: when the 16-bit
SEQ would wrap, the sender takes a fresh SSRC it has never used under that MKI. So a late
joiner, which starts every stream at ROC 0 (there is no RCCm3 carriage here), can always
follow, and no (MKI, SSRC, index) is ever used twice, even when different calls under one GMK
share the MKI. The SRTCP index of the MKI only grows (RFC 3711 §3.4: never reset).
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field
from typing import Final

from prose_mesh.errors import ProseMeshError

RTP_VERSION_BYTE: Final = 0x80
RTP_PT: Final = 96
RTP_CLOCK_HZ: Final = 8000
SEND_TIME = struct.Struct("!Q")
_RTP = struct.Struct("!BBHII")
SEQ_SPACE: Final = 1 << 16


@dataclass(slots=True)
class SenderState:
    """What a UE remembers about its own sending under one MKI (see module docstring)."""

    ssrc: int
    last_index: int | None = None
    srtcp_next_index: int = 0
    used_ssrcs: set[int] = field(default_factory=set)
    #: [EMU] test hook (scenario ``first_seq``, H1's forced collision): the SEQ of the first
    #: packet, instead of a random one; used once (a rotated SSRC starts at random again).
    first_seq: int | None = None

    def next_index(self, rng: random.Random, seq_space: int = SEQ_SPACE) -> int:
        """The index of the next packet, rotating to a fresh SSRC before SEQ would wrap.

        ``seq_space`` (2^16) is a parameter only so tests can reach a rotation quickly.
        """
        if self.last_index is not None:
            if self.last_index + 1 < seq_space:
                return self.last_index + 1
            self.rotate(rng)
        if self.first_seq is not None:
            first, self.first_seq = self.first_seq, None
            if first < seq_space:
                return first
        return rng.randrange(max(1, min(0x8000, seq_space // 2)))

    def rotate(self, rng: random.Random) -> None:
        """Take a new SSRC never used under this MKI; the SRTCP index keeps growing."""
        self.used_ssrcs.add(self.ssrc)
        self.ssrc = fresh_ssrc(rng, self.used_ssrcs)
        self.last_index = None


def fresh_ssrc(rng: random.Random, used: set[int]) -> int:
    """A random non-zero 32-bit SSRC not in ``used``."""
    while True:
        ssrc = rng.getrandbits(32)
        if ssrc and ssrc not in used:
            return ssrc


def rtp_packet(*, seq: int, ssrc: int, now: float, marker: bool, payload: bytes) -> bytes:
    """A plain RTP packet whose payload starts with the 8-octet send time."""
    ts = int(now * RTP_CLOCK_HZ) & 0xFFFF_FFFF
    head = _RTP.pack(RTP_VERSION_BYTE, (0x80 if marker else 0) | RTP_PT, seq & 0xFFFF, ts, ssrc)
    return head + SEND_TIME.pack(int(now * 1_000_000)) + payload


class MediaError(ProseMeshError):
    """An authenticated RTP packet whose content is not what a group call sends."""

    reason = "MALFORMED"


def rtp_body(packet: bytes) -> tuple[int, float, bytes]:
    """(SEQ, send time, payload) of a decrypted RTP packet (RFC 3550 §5.1 header skipped)."""
    n = len(packet)
    if n < 12:
        raise MediaError("RTP packet shorter than 12 octets")
    b0 = packet[0]
    hlen = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        if n < hlen + 4:
            raise MediaError("RTP extension header truncated")
        hlen += 4 + 4 * struct.unpack_from("!H", packet, hlen + 2)[0]
    if n < hlen + SEND_TIME.size:
        raise MediaError("RTP payload without the 8-octet send time")
    seq = struct.unpack_from("!H", packet, 2)[0]
    sent_us = SEND_TIME.unpack_from(packet, hlen)[0]
    return seq, sent_us / 1_000_000, packet[hlen + SEND_TIME.size :]
