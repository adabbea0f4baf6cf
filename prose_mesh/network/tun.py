"""IP over the secured path for ordinary programs: a TUN device in a UE's namespace (issue #6).

A user runs a normal program (``ping``, ``curl``, a UDP client) inside a UE's namespace; its
packets go to a TUN device there, the UE process reads them and hands each to a callback — the
relay path that carries them over the protected PC5 link, or the UE's own uplink — and packets
from the network for that UE are written back into the TUN for the kernel to deliver.

::

    tun = await open_tun(namespace, address=uplink.remote_address(1))  # netns backend only
    nursery.start_soon(tun.pump, relay_send)      # kernel -> callback, one IPv6 packet each
    await tun.write(packet)                       # network -> kernel
    tun.close()

[EMU] choices: the device is ``pmtun0`` (IFF_TUN | IFF_NO_PI: bare IPv6 packets), MTU 1280
(the IPv6 minimum, so a packet plus the PC5 shim and PDCP overhead fits one 1500-octet frame),
the UE's address as a /128 with no duplicate address detection, and a route to the network's
service address (or any other given prefixes) through the device. Multicast the kernel sends on
its own (router solicitations, MLD) is not handed to the callback: there is no router on a
point-to-point TUN.
"""

from __future__ import annotations

import fcntl
import os
import struct
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import trio

from prose_mesh.network.addressing import CORE_ADDRESS

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
TUN_NAME = "pmtun0"
TUN_MTU = 1280


class Tun:
    """An open TUN device in some namespace; reading and writing work from any thread."""

    def __init__(self, fd: int, name: str, ifindex: int) -> None:
        self.fd = fd
        self.name = name
        self.ifindex = ifindex
        os.set_blocking(fd, False)
        self.read_count = 0
        self.written = 0
        self.ignored = 0

    async def read(self) -> bytes:
        """The next IPv6 unicast packet a program in the namespace sent."""
        while True:
            try:
                packet = os.read(self.fd, 65536)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self.fd)
                continue
            except OSError:
                raise trio.EndOfChannel from None
            if len(packet) < 40 or packet[0] >> 4 != 6 or packet[24] == 0xFF:
                self.ignored += 1
                continue
            self.read_count += 1
            await trio.lowlevel.checkpoint()
            return packet

    async def write(self, packet: bytes) -> None:
        """Hand ``packet`` to the namespace's kernel, as if it arrived on the device."""
        await trio.lowlevel.checkpoint()
        while True:
            try:
                os.write(self.fd, packet)
                self.written += 1
                return
            except BlockingIOError:
                await trio.lowlevel.wait_writable(self.fd)

    async def pump(self, send: Callable[[bytes], Awaitable[None]]) -> None:
        """Read packets forever and give each to ``send`` (until closed or cancelled)."""
        while True:
            try:
                packet = await self.read()
            except trio.EndOfChannel:
                return
            await send(packet)

    def close(self) -> None:
        if self.fd >= 0:
            trio.lowlevel.notify_closing(self.fd)
            os.close(self.fd)
            self.fd = -1


def _create(address: bytes, routes: Sequence[tuple[bytes, int]], name: str) -> Tun:
    """In the target namespace's thread: create, address, route and bring up the device."""
    import socket

    from netns import _netlink
    from netns import uplink_wiring as W

    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
        index = socket.if_nametoindex(name)
        W.sysctl(f"net/ipv6/conf/{name}/accept_ra", "0")
        W.sysctl(f"net/ipv6/conf/{name}/router_solicitations", "0")
        _set_mtu(name, TUN_MTU)
        with _netlink.Rtnl() as nl:
            nl.run_checked([_netlink.set_up(index)], "tun up")
            nl.run_checked([W.address(index, address)], "tun address")
            nl.run_checked([W.route(index, dst, plen, gateway=None) for dst, plen in routes],
                           "tun routes")
    except BaseException:
        os.close(fd)
        raise
    return Tun(fd, name, index)


def _set_mtu(name: str, mtu: int) -> None:
    import socket

    siocsifmtu = 0x8922
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock.fileno(), siocsifmtu, struct.pack("16si", name.encode(), mtu))


async def open_tun(namespace: Any, *, address: bytes,
                   routes: Sequence[tuple[bytes, int]] = ((CORE_ADDRESS, 128),),
                   name: str = TUN_NAME) -> Tun:
    """A TUN device in ``namespace`` (a :class:`netns.namespace.Namespace`) with ``address``
    and ``routes`` (prefix, length) through it. Root (CAP_NET_ADMIN) only."""
    return await trio.to_thread.run_sync(
        lambda: namespace.run(lambda: _create(address, routes, name)))
