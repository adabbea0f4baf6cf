"""This process's resident memory, from ``/proc/self/status`` (Linux).

Why not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries the peak of the image a process
replaced into it at ``exec``, so a run started by a big parent (a pytest worker of 330 MB)
reports the parent's peak. ``VmHWM`` is the peak of this process's own address space, and
writing ``5`` to ``/proc/self/clear_refs`` (Linux ≥ 4.0) resets it to the current RSS, so a
run can measure its own peak even in a process that ran something before it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable

__all__ = ["fd_count", "peak_rss_kb", "reset_peak_rss", "rss_kb", "trim_heap", "trimmed_rss_kb"]


def _status(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def rss_kb() -> int:
    """Resident set size now (VmRSS), in KiB."""
    return _status("VmRSS:")


def peak_rss_kb() -> int:
    """Peak resident set size (VmHWM) since the process started or :func:`reset_peak_rss`."""
    return _status("VmHWM:")


def fd_count() -> int:
    """Open file descriptors of this process now (entries of ``/proc/self/fd``), for J2's
    "no fd growth": a leaked socket, capture or log file shows as a count that keeps rising.
    The directory's own descriptor, open while it is listed, is not counted."""
    return len(os.listdir("/proc/self/fd")) - 1


def reset_peak_rss() -> bool:
    """Reset the peak to the current RSS; False when the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def _libc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(
            ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        return trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None


_MALLOC_TRIM = _libc_trim()


def trim_heap() -> bool:
    """Give the C heap's free pages back to the kernel (glibc ``malloc_trim(0)``); False where
    there is no glibc.

    Why: CPython hands objects over 512 octets (frames, SRTP packets, pickled rows) to the C
    allocator, which keeps what they freed in its heap for reuse. Under a soak's churn the
    heap fragments and RSS creeps although nothing is kept: J2 at 1/20 on netns crept
    1-2 MB a minute for 30 min while tracemalloc's live Python memory stayed flat; trimmed
    every 30 s, RSS stayed within 1 MB from minute 2 to 5. (The same cure as for long-running
    Python services, e.g. Dask's "memory not released back to the OS".)"""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True


def trimmed_rss_kb() -> int:
    """RSS right after :func:`trim_heap`: what the process holds, the same way at every sample.
    Growth figures compare these: an untrimmed sample carries up to ~20 MB of free heap that the
    last periodic trim has not returned yet (J2-30m: a baseline just after a trim and an end
    just before one read 10.1 % where 30-s samples of the same run said ~5 %)."""
    trim_heap()
    return rss_kb()
