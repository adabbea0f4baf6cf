"""A UE's Uu uplink: IPv6 packets between a UE in coverage and the network side (issue #6).

::

    uplink = await network.attach_uplink("r1", uri="sip:r1@...")
    uplink.address                     # 2001:db8:0:<n>::1, the UE's own address
    uplink.prefix                      # its delegated /64 (8 octets), for remote UEs behind it
    await uplink.send(packet)          # a whole IPv6 packet toward the network
    packet = await uplink.receive()    # the next IPv6 packet from the network for this UE
                                       # (or for a remote UE the network routes through it)

The uplink is a plain pipe of IPv6 packets — what LTE Uu plus the P-GW would give a UE; its
radio security is out of scope (the network side is trusted, the relay is not). Two transports
with the same contract:

* :class:`MemoryUplink`: Trio memory channels into the in-process network (deterministic,
  runs under ``MockClock``).
* :class:`NetnsUplink`: an AF_PACKET socket on the veth ``uu`` in the UE's namespace, whose far
  end is in the core namespace, where the kernel routes the packets to the services' real UDP
  sockets (see :mod:`netns.uplink_wiring`). Multicast chatter of the core's kernel (router and
  neighbour solicitations, MLD) is dropped at ``receive``: nothing the UE asked for is
  multicast on this link.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from netns import aio
from prose_mesh.errors import ConfigError
from prose_mesh.network.addressing import remote_address

if TYPE_CHECKING:
    from prose_mesh.network.core import Network

RX_QUEUE = 1024  # packets a memory uplink buffers before the network drops (counted)


class Uplink:
    """One UE's IPv6 pipe to the network; see the module docstring."""

    def __init__(self, network: Network, name: str, serial: int, prefix: bytes, address: bytes,
                 uri: str | None) -> None:
        self.network = network
        self.name = name
        self.serial = serial
        self.prefix = prefix
        self.address = address
        self.uri = uri
        self.sent = 0
        self.received = 0

    def remote_address(self, k: int) -> bytes:
        """The address this UE, as a relay, gives its ``k``-th remote UE (k >= 1)."""
        return remote_address(self.prefix, k)

    async def send(self, packet: bytes) -> None:
        raise NotImplementedError

    async def receive(self) -> bytes:
        """The next packet; ``trio.EndOfChannel`` once the uplink or the network is closed."""
        raise NotImplementedError

    def _end(self) -> None:
        """Wake a blocked ``receive`` with EndOfChannel."""

    def __aiter__(self) -> Uplink:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None


def _check_packet(packet: bytes) -> None:
    if len(packet) < 40 or packet[0] >> 4 != 6:
        raise ConfigError(f"an uplink carries IPv6 packets; got {len(packet)} octets "
                          f"of version {packet[0] >> 4 if packet else '?'}")


class MemoryUplink(Uplink):
    def __init__(self, network: Network, name: str, serial: int, prefix: bytes, address: bytes,
                 uri: str | None) -> None:
        super().__init__(network, name, serial, prefix, address, uri)
        self._tx, self._rx = trio.open_memory_channel[bytes](RX_QUEUE)
        self.closed = False

    async def send(self, packet: bytes) -> None:
        _check_packet(packet)
        if self.closed:
            raise ConfigError(f"the uplink of {self.name!r} is closed")
        self.sent += 1
        await self.network._from_uplink(self, bytes(packet))  # type: ignore[attr-defined]

    async def receive(self) -> bytes:
        try:
            packet = await self._rx.receive()
        except trio.ClosedResourceError:
            raise trio.EndOfChannel from None
        self.received += 1
        return packet

    def _deliver(self, packet: bytes) -> bool:
        """Queue a packet for this UE; False if its queue is full or it is closed."""
        try:
            self._tx.send_nowait(packet)
        except (trio.WouldBlock, trio.ClosedResourceError):
            return False
        return True

    def _end(self) -> None:
        self.closed = True
        self._tx.close()


class NetnsUplink(Uplink):
    def __init__(self, network: Network, name: str, serial: int, prefix: bytes, address: bytes,
                 uri: str | None, sock: Any, core_mac: bytes, ifname: str) -> None:
        super().__init__(network, name, serial, prefix, address, uri)
        self.sock = sock
        sock.setblocking(False)
        self._dest = (ifname, 0x86DD, 0, 0, core_mac)
        self.ignored = 0  # multicast chatter of the core's kernel

    async def send(self, packet: bytes) -> None:
        _check_packet(packet)
        if self.sock.fileno() < 0:
            raise ConfigError(f"the uplink of {self.name!r} is closed")
        await aio.send(self.sock, packet, self._dest)
        self.sent += 1

    async def receive(self) -> bytes:
        while True:
            packet = await aio.recv(self.sock)
            if len(packet) < 40 or packet[0] >> 4 != 6 or packet[24] == 0xFF:
                self.ignored += 1
                continue
            await trio.lowlevel.checkpoint()
            self.received += 1
            return packet

    def _end(self) -> None:
        if self.sock.fileno() >= 0:
            trio.lowlevel.notify_closing(self.sock)
            self.sock.close()

