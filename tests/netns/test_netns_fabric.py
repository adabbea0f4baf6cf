"""Namespaces and veths: made only inside anonymous namespaces, removed completely."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys

import pytest

from netns import _sys
from netns.clean import leftovers
from netns.fabric import UE_IFINDEX, UE_IFNAME, Fabric
from netns.namespace import Namespace, create, in_fresh_thread
from prose_mesh.cli import main as cli_main
from prose_mesh.errors import EnvironmentProblem

RTMGRP_LINK = 1


def link_names_in(messages: bytes) -> list[str]:
    """IFLA_IFNAME of every RTM_NEWLINK/DELLINK in a buffer of netlink messages."""
    names, off = [], 0
    while off + 16 <= len(messages):
        length, kind = struct.unpack_from("=IH", messages, off)
        if length < 16:
            break
        if kind in (16, 17):
            pos, end = off + 32, off + length
            while pos + 4 <= end:
                alen, atype = struct.unpack_from("=HH", messages, pos)
                if alen < 4:
                    break
                if atype == 3:
                    names.append(messages[pos + 4 : pos + alen].rstrip(b"\0").decode())
                pos += (alen + 3) & ~3
        off += (length + 3) & ~3
    return names


def test_nothing_ever_appears_in_the_root_namespace():
    """Watch the root namespace's link events while 20 UEs come and go: not one event."""
    mon = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    mon.bind((0, RTMGRP_LINK))
    mon.setblocking(False)
    try:
        fabric = Fabric("watch")
        try:
            ports = fabric.add([f"ue{i}" for i in range(20)])
            assert len({p.ns.fd for p in ports}) == 20
            fabric.remove(["ue0", "ue1"])
        finally:
            fabric.close()
        seen = []
        while True:
            try:
                seen += link_names_in(mon.recv(1 << 16))
            except BlockingIOError:
                break
        ours = [n for n in seen if n == UE_IFNAME or (n[:1] == "u" and n[1:].isdigit())]
        assert ours == []
    finally:
        mon.close()


def test_each_ue_namespace_has_lo_up_and_pc5():
    fabric = Fabric("layout")
    try:
        ports = fabric.add(["a", "b"])
        inodes = {os.fstat(p.ns.fd).st_ino for p in ports}
        inodes.add(os.fstat(fabric.medium_ns.fd).st_ino)
        assert len(inodes) == 3
        assert os.stat("/proc/self/ns/net").st_ino not in inodes

        def look() -> tuple[int, bytes]:
            # loopback is up: a datagram to 127.0.0.1 comes back
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.sendto(b"ping", s.getsockname())
            s.settimeout(1)
            got = s.recv(10)
            s.close()
            return socket.if_nametoindex(UE_IFNAME), got

        assert ports[0].ns.run(look) == (UE_IFINDEX, b"ping")
        # The medium namespace holds the far ends u1, u2 and no pc5.
        names = fabric.medium_ns.run(lambda: [n for _, n in socket.if_nameindex()])
        assert sorted(names) == ["lo", "u1", "u2"]
    finally:
        fabric.close()


def test_debug_names_then_clean(capsys):
    run = f"dbg{os.getpid()}"  # support.pm_namespaces leaves pm-dbg* to this test's own checks
    fabric = Fabric(run, debug_names=True)
    try:
        fabric.add(["a"])
        assert {f"pm-{run}-a", f"pm-{run}-medium"} <= set(leftovers())
        if shutil.which("ip"):
            out = subprocess.run(["ip", "netns", "exec", f"pm-{run}-a", "ip", "-br", "link"],
                                 capture_output=True, text=True, check=True).stdout
            assert "pc5" in out
        with pytest.raises(EnvironmentProblem) as clash:
            Fabric(run, debug_names=True)
        assert clash.value.reason == "NAME_CLASH"
    finally:
        # A process that died would leave these mounts; clean removes them.
        for port in fabric.ports.values():
            port.ns.mount_path = None
        fabric.medium_ns.mount_path = None
        fabric.close()
    assert cli_main(["clean"]) == 0
    out = capsys.readouterr().out
    assert f"removed namespace pm-{run}-a" in out and f"pm-{run}-medium" in out
    assert not any(n.startswith(f"pm-{run}-") for n in leftovers())
    assert cli_main(["clean"]) == 0  # nothing to clean is fine
    assert "0 namespace(s) removed" in capsys.readouterr().out


def test_publish_refuses_names_without_prefix():
    (ns,) = create(["x"])
    try:
        with pytest.raises(EnvironmentProblem):
            ns.publish("other-name")
    finally:
        ns.close()


def test_fresh_thread_leaves_the_caller_in_its_namespace():
    before = os.stat("/proc/thread-self/ns/net").st_ino
    (ns,) = create(["x"])
    try:
        inside = ns.run(lambda: os.stat("/proc/thread-self/ns/net").st_ino)
        assert inside == os.fstat(ns.fd).st_ino != before
        assert os.stat("/proc/thread-self/ns/net").st_ino == before
        with pytest.raises(OSError):
            in_fresh_thread(lambda: _sys.setns_net(-1))
    finally:
        ns.close()
    assert isinstance(ns, Namespace) and ns.fd == -1


CHILD_FD_LIMIT = """
import resource, sys
from netns.fabric import Fabric
from prose_mesh.errors import EnvironmentProblem
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
try:
    Fabric("fd").add([f"u{i}" for i in range(100)])
except EnvironmentProblem as exc:
    print(exc.reason, exc.detail)
    sys.exit(0)
sys.exit(1)
"""

CHILD_RAISE_SOFT = """
import resource
from netns.namespace import ensure_fd_budget
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
ensure_fd_budget(500)
print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""


def test_fd_limit_raised_when_allowed_explained_when_not():
    out = subprocess.run([sys.executable, "-c", CHILD_RAISE_SOFT], capture_output=True,
                         text=True, check=True).stdout
    assert int(out) >= 564
    res = subprocess.run([sys.executable, "-c", CHILD_FD_LIMIT], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("TOO_MANY_OPEN_FILES") and "ulimit -Hn" in res.stdout


def test_not_root_is_a_clear_error():
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv not installed")
    code = "from netns.fabric import Fabric\nFabric('x')"
    res = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
         sys.executable, "-c", code],
        capture_output=True, text=True, cwd=os.getcwd(),
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    if "Permission denied" in res.stderr and "NO_CAP_NET_ADMIN" not in res.stderr:
        pytest.skip(f"nobody cannot run the interpreter here: {res.stderr[-200:]}")
    assert res.returncode != 0
    assert "NO_CAP_NET_ADMIN" in res.stderr and "memory" in res.stderr


FALLBACK = """
import warnings, trio
from prose_mesh.medium.air import open_air

async def main():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with open_air("auto") as air:
            print(air.backend)
    print(caught[0].message)

trio.run(main)
"""


def test_auto_falls_back_to_memory_and_says_so():
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv not installed")
    res = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
         sys.executable, "-c", FALLBACK],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert res.returncode == 0, res.stderr
    backend, message = res.stdout.splitlines()[:2]
    assert backend == "memory"
    assert "fallback" in message and "CAP_NET_ADMIN" in message
