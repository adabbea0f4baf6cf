"""The network side on real namespaces: a core namespace, Uu veths, real UDP sockets (issue #6).

Root only; afterwards nothing may be left in the root namespace, under /run/netns, or as an
open namespace fd of this process.
"""

from __future__ import annotations

import contextlib
import os
import time

import pytest
import trio
from _net_helpers import GROUP, KMS, TRKS, check_flow, issue, relay_flow
from support import pm_namespaces, root_links

from prose_mesh.network import open_network
from prose_mesh.wire.ipudp import build_udp6, parse_udp6


def _ns_fds() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            n += os.readlink(f"/proc/self/fd/{fd}").startswith("net:")
    return n


@pytest.fixture(autouse=True)
def root_and_no_leaks():
    if os.geteuid() != 0:
        pytest.skip("network namespace tests need root (CAP_NET_ADMIN)")
    links, named, fds = root_links(), pm_namespaces(), _ns_fds()
    yield
    assert root_links() - links == set(), "new interfaces appeared in the root namespace"
    assert pm_namespaces() - named == set(), "pm- namespaces left behind"
    assert _ns_fds() == fds, "namespace fds left open"


async def test_relay_flow_netns() -> None:
    async with open_network("netns", kms=KMS, groups=[GROUP], trks=TRKS, clock=time.time,
                            issue=issue) as network:
        assert network.backend == "netns"
        out = await relay_flow(network, time.time)
    check_flow(out, time.time())


async def test_netns_forwarding_between_uplinks_and_cleanup_on_error() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with open_network("netns", kms=KMS, issue=issue) as network:
            a = await network.attach_uplink("a")
            b = await network.attach_uplink("b")
            await a.send(build_udp6(a.address, b.address, 7, 7, b"through the core"))
            with trio.fail_after(2):
                got = await b.receive()
            assert parse_udp6(got).payload == b"through the core" and got[7] == 254
            await network.detach_uplink("b")
            raise RuntimeError("boom")


ECHO_CLIENT = """
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(b"ordinary program", ("2001:db8:ffff::1", 7777))
data, addr = s.recvfrom(100)
print(data.decode(), addr[0])
"""


async def test_tun_programs_reach_the_core_through_a_relay_forwarder() -> None:
    """A UDP client (and ping, when installed) in a remote UE's namespace reaches the core
    through a TUN and an in-process relay forwarder (a stand-in for R1's relay path)."""
    import shutil
    import socket
    import sys

    from netns.namespace import create
    from prose_mesh.network.tun import open_tun

    (far_ns,) = create(["far1"])
    try:
        async with open_network("netns", kms=KMS, issue=issue) as network, \
                trio.open_nursery() as nursery:
            relay = await network.attach_uplink("r1")
            address = relay.remote_address(1)
            network.register_remote("r1", "sip:far1@net.example.org", address)
            tun = await open_tun(far_ns, address=address)

            async def downlink() -> None:
                async for packet in relay:
                    if packet[24:40] == address:
                        await tun.write(packet)

            def echo_socket() -> socket.socket:
                sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                sock.bind(("2001:db8:ffff::1", 7777))
                return sock

            echo = trio.socket.from_stdlib_socket(network.ns.run(echo_socket))

            async def echo_server() -> None:
                while True:
                    data, peer = await echo.recvfrom(100)
                    await echo.sendto(data, peer)

            nursery.start_soon(tun.pump, relay.send)
            nursery.start_soon(downlink)
            nursery.start_soon(echo_server)
            enter = ["nsenter", f"--net=/proc/{os.getpid()}/fd/{far_ns.fd}"]
            with trio.fail_after(10):
                done = await trio.run_process([*enter, sys.executable, "-c", ECHO_CLIENT],
                                              capture_stdout=True)
            assert done.stdout.decode().split() == ["ordinary", "program", "2001:db8:ffff::1"]
            if shutil.which("ping"):
                with trio.fail_after(10):
                    ping = await trio.run_process(
                        [*enter, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "2",
                         "2001:db8:ffff::1"], capture_stdout=True, check=False)
                assert ping.returncode == 0, ping.stdout.decode()
            assert tun.read_count >= 1 and tun.written >= 1
            nursery.cancel_scope.cancel()
            tun.close()
            echo.close()
    finally:
        far_ns.close()
