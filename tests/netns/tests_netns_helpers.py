"""Find every reference the system holds to a network namespace (by inode)."""

from __future__ import annotations

import glob
import os


def net_ns_references() -> set[int]:
    """Inodes of net namespaces that any process (ns link or fd) or any mount refers to."""
    found: set[int] = set()
    for path in glob.glob("/proc/[0-9]*/ns/net") + glob.glob("/proc/[0-9]*/fd/*"):
        try:
            target = os.readlink(path)
        except OSError:
            continue
        if target.startswith("net:["):
            found.add(int(target[5:-1]))
    try:
        with open("/proc/self/mountinfo") as fh:
            for line in fh:
                if "net:[" in line:
                    found.add(int(line.split("net:[")[1].split("]")[0]))
    except OSError:
        pass
    return found
