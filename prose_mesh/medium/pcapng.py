"""A small, fast pcapng writer: SHB, one IDB per UE, EPBs from raw bytes.

Format: the pcapng specification (draft-ietf-opsawg-pcapng): Section Header Block §4.1,
Interface Description Block §4.2 (if_name option 2, if_description 3, if_tsresol 9),
Enhanced Packet Block §4.3 (epb_flags option 2, inbound = 1 / outbound = 2 in bits 0-1).
Why our own: the air capture names each UE as an interface so Wireshark shows who sent each
frame, and interfaces appear as UEs attach - Scapy's writers do neither, and cost a Scapy object
per frame. Timestamps are nanoseconds since the Unix epoch.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

LINKTYPE_ETHERNET = 1
INBOUND = 1
OUTBOUND = 2
_SHB = 0x0A0D0D0A
_IDB = 1
_EPB = 6


def _opt(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _block(kind: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


class PcapngWriter:
    """Append-only writer. ``add_interface`` may be called at any time before its first use."""

    def __init__(self, fh: BinaryIO, application: str = "prose_mesh") -> None:
        self._fh = fh
        self._count = 0
        body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
        body += _opt(4, application.encode()) + _opt(0, b"")  # shb_userappl, end
        fh.write(_block(_SHB, body))

    def add_interface(self, name: str, description: str = "") -> int:
        """Write an IDB (Ethernet, nanosecond timestamps); returns its interface id."""
        opts = _opt(2, name.encode())
        if description:
            opts += _opt(3, description.encode())
        opts += _opt(9, b"\x09") + _opt(0, b"")
        self._fh.write(_block(_IDB, struct.pack("<HHI", LINKTYPE_ETHERNET, 0, 0) + opts))
        self._count += 1
        return self._count - 1

    def write(self, interface: int, ts_ns: int, frame: bytes, direction: int = 0) -> None:
        pad = b"\0" * (-len(frame) % 4)
        opts = _opt(2, struct.pack("<I", direction)) + _opt(0, b"") if direction else b""
        body = (
            struct.pack("<IIIII", interface, ts_ns >> 32, ts_ns & 0xFFFFFFFF, len(frame),
                        len(frame))
            + frame + pad + opts
        )
        self._fh.write(_block(_EPB, body))

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()
