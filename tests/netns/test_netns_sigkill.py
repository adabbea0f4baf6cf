"""SIGKILL the emulator while it holds 50 UEs: the kernel must reclaim everything.

ARCHITECTURE.md decision 3: anonymous namespaces held only by the emulator's fds. After the
kill no process, fd or mount may refer to any of the child's namespaces, no link may have
appeared in the root namespace and nothing may sit under /run/netns.
"""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time

from tests_netns_helpers import net_ns_references  # type: ignore[import-not-found]

CHILD = """
import os, sys, trio
from prose_mesh.medium.air import open_air

async def main():
    async with open_air("netns") as air:
        radios = await air.attach_many([f"ue{i}" for i in range(50)])
        fds = [air.fabric.medium_ns.fd] + [p.ns.fd for p in air.fabric.ports.values()]
        print("READY", " ".join(str(os.fstat(fd).st_ino) for fd in fds), flush=True)
        await trio.sleep_forever()

trio.run(main)
"""


def test_sigkill_leaves_nothing_behind():
    links_before = set(os.listdir("/sys/class/net"))
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True,
                             cwd=os.getcwd())
    try:
        line = child.stdout.readline()
        assert line.startswith("READY"), line
        inodes = {int(x) for x in line.split()[1:]}
        assert len(inodes) == 51
        assert inodes <= net_ns_references()  # sanity: the scan does see the child's fds
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
    # The kernel reclaims namespaces asynchronously (cleanup_net): poll a little.
    deadline = time.monotonic() + 10
    while inodes & net_ns_references() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert inodes & net_ns_references() == set()
    assert set(os.listdir("/sys/class/net")) - links_before == set()
    assert not [p for p in glob.glob("/run/netns/pm-*")]
