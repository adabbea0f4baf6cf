"""The media a UE played, in order: ``(Trio time, media event data)`` rows (``Ue.media``).

The emulator keeps every played packet for the run's figures (decrypt verdicts, the H1
key-stream audit, the GMK lifetime check, the application accounting): about 1 KB per packet,
so a 30-minute soak with two calls holds hundreds of MB, which J2's "no memory growth" would
measure as the UEs' own. With a :class:`MediaSpool` (the scenario runner gives one to every UE),
rows beyond :data:`SPILL_AFTER` go to one temporary file shared by the run and only the last
:data:`TAIL` stay in memory; reading the log back (iteration, indexing) reads the file. Without
a spool the log is a plain in-memory list, as a library user expects.
"""

from __future__ import annotations

import os
import pickle
import struct
import tempfile
from array import array
from collections import deque
from collections.abc import Iterator
from typing import Any

Row = tuple[float, dict[str, Any]]

# rows (20 s of one call) a UE keeps in memory before its log moves to the spool: J2 measures
# RSS growth from its first attack, and 7 UEs x 4096 rows of ~1 KB were 28 MB of it
SPILL_AFTER = 1024
TAIL = 256  # the newest rows stay in memory after that (what a live UE just played)
_LEN = struct.Struct("!I")


class MediaSpool:
    """One anonymous temporary file that the media logs of a run append to (one file for every
    UE of the run: a run of 2000 UEs must not hold 2000 descriptors). Gone when closed."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="prose-mesh-media-")  # noqa: SIM115 (held open)
        self._end = 0

    def write(self, row: Row) -> int:
        """Append ``row``; returns its offset."""
        data = pickle.dumps(row, protocol=pickle.HIGHEST_PROTOCOL)
        offset = self._end
        self._end += os.pwrite(self._file.fileno(), _LEN.pack(len(data)) + data, offset)
        return offset

    def read(self, offset: int) -> Row:
        fd = self._file.fileno()
        (n,) = _LEN.unpack(os.pread(fd, _LEN.size, offset))
        row: Row = pickle.loads(os.pread(fd, n, offset + _LEN.size))  # our own file
        return row

    @property
    def size(self) -> int:
        return self._end

    def close(self) -> None:
        self._file.close()


class MediaLog:
    """List-like (``append``, ``len``, iteration, indexing and slicing) record of played media;
    see the module docstring for where the rows live."""

    def __init__(self, spool: MediaSpool | None = None) -> None:
        self.spool = spool
        self._rows: list[Row] = []  # every row while nothing is spilled
        self._offsets = array("Q")  # spilled rows' offsets in the spool, in order
        self._tail: deque[Row] = deque(maxlen=TAIL)  # the newest rows once spilled

    def append(self, row: Row) -> None:
        if self._offsets:
            self._offsets.append(self.spool.write(row))  # type: ignore[union-attr]
            self._tail.append(row)
            return
        self._rows.append(row)
        if self.spool is not None and len(self._rows) > SPILL_AFTER:
            for r in self._rows:
                self._offsets.append(self.spool.write(r))
            self._tail.extend(self._rows[-TAIL:])
            self._rows = []

    def __len__(self) -> int:
        return len(self._offsets) or len(self._rows)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __iter__(self) -> Iterator[Row]:
        if not self._offsets:
            return iter(self._rows)
        spool = self.spool
        assert spool is not None
        n, tail = len(self._offsets), list(self._tail)
        first_in_tail = n - len(tail)
        return (tail[i - first_in_tail] if i >= first_in_tail else spool.read(self._offsets[i])
                for i in range(n))

    def __getitem__(self, index: int | slice) -> Any:
        if not self._offsets:
            return self._rows[index]
        if isinstance(index, int) and -len(self._tail) <= index < 0:
            return self._tail[index]
        return list(self)[index]
