"""Strict reading helpers shared by the wire parsers (no Scapy, no allocation beyond the input).

Every ``parse_*`` entry point of :mod:`prose_mesh.wire` walks untrusted bytes through a
:class:`Reader`, which checks every length before slicing and raises only
:class:`prose_mesh.errors.ParseError` with one of the reasons below.
"""

from __future__ import annotations

from typing import Final

from prose_mesh.errors import ParseError

TRUNCATED: Final = "TRUNCATED"
BAD_HEADER: Final = "BAD_HEADER"
BAD_LENGTH: Final = "BAD_LENGTH"
UNKNOWN_TYPE: Final = "UNKNOWN_TYPE"
LOOP: Final = "LOOP"
TRAILING: Final = "TRAILING"
BAD_ORDER: Final = "BAD_ORDER"
MISSING: Final = "MISSING"
DUPLICATE: Final = "DUPLICATE"


def fail(reason: str, detail: str) -> ParseError:
    """A :class:`ParseError` with ``reason`` (the caller raises it)."""
    return ParseError(detail, reason=reason)


class Reader:
    """A bounds-checked cursor over ``data``; every read checks the remaining length first."""

    __slots__ = ("data", "end", "pos", "what")

    def __init__(self, data: bytes, what: str, start: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = start
        self.end = len(data) if end is None else end
        self.what = what

    def remaining(self) -> int:
        return self.end - self.pos

    def need(self, n: int, field: str) -> None:
        if n < 0 or self.end - self.pos < n:
            raise fail(
                TRUNCATED, f"{self.what}: {field} needs {n} octets, {self.end - self.pos} left"
            )

    def u8(self, field: str) -> int:
        self.need(1, field)
        v = self.data[self.pos]
        self.pos += 1
        return v

    def u16(self, field: str) -> int:
        self.need(2, field)
        v = int.from_bytes(self.data[self.pos : self.pos + 2], "big")
        self.pos += 2
        return v

    def u24(self, field: str) -> int:
        self.need(3, field)
        v = int.from_bytes(self.data[self.pos : self.pos + 3], "big")
        self.pos += 3
        return v

    def u32(self, field: str) -> int:
        self.need(4, field)
        v = int.from_bytes(self.data[self.pos : self.pos + 4], "big")
        self.pos += 4
        return v

    def take(self, n: int, field: str) -> bytes:
        self.need(n, field)
        v = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return v

    def done(self) -> None:
        """Reject octets left over after the last field."""
        if self.pos != self.end:
            raise fail(TRAILING, f"{self.what}: {self.end - self.pos} trailing octets")
