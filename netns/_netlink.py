"""A minimal rtnetlink client: just the link messages prose_mesh needs, sent in batches.

Why not pyroute2's IPRoute here: creating a veth with the peer placed straight into another
namespace by fd (IFLA_NET_NS_FD) needs one RTM_NEWLINK per UE; writing hundreds of them in one
``send`` and reading the acks afterwards is what makes 1000 UEs start in seconds. Message layouts
follow linux/rtnetlink.h, linux/if_link.h and linux/veth.h.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterable

NLMSG_ERROR = 2
NLMSG_DONE = 3
RTM_NEWLINK = 16
RTM_GETLINK = 18
NLM_F_DUMP = 0x300
IFLA_OPERSTATE = 16
IF_OPER_UP = 6
RTM_DELLINK = 17
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400

IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_LINKINFO = 18
IFLA_NET_NS_FD = 28
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
VETH_INFO_PEER = 1
IFF_UP = 0x1

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_BATCH = 256  # messages per send(); their acks fit easily in the receive buffer


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def _ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, flags, change)


def veth_with_peer_in(
    name: str, index: int, mac: bytes, peer_ns_fd: int, peer_name: str, peer_index: int
) -> tuple[int, int, bytes]:
    """RTM_NEWLINK body: a veth ``name`` here (up), its peer created directly in ``peer_ns_fd``.

    Fixed ifindexes, so no lookup is needed afterwards. The kernel refuses IFF_UP on the peer
    (ENOTCONN), so the peer is brought up by a later ``set_up`` in its own namespace.
    """
    peer = (
        _ifinfo(peer_index)
        + _attr(IFLA_IFNAME, peer_name.encode() + b"\0")
        + _attr(IFLA_NET_NS_FD, struct.pack("=I", peer_ns_fd))
    )
    linkinfo = _attr(IFLA_INFO_KIND, b"veth\0") + _attr(
        IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer)
    )
    body = (
        _ifinfo(index, IFF_UP, IFF_UP)
        + _attr(IFLA_IFNAME, name.encode() + b"\0")
        + _attr(IFLA_ADDRESS, mac)
        + _attr(IFLA_LINKINFO, linkinfo)
    )
    return RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body


def set_up(index: int) -> tuple[int, int, bytes]:
    return RTM_NEWLINK, 0, _ifinfo(index, IFF_UP, IFF_UP)


def delete(index: int) -> tuple[int, int, bytes]:
    return RTM_DELLINK, 0, _ifinfo(index)


class NetlinkError(OSError):
    """An rtnetlink request was refused; ``errno`` is the kernel's answer."""


class Rtnl:
    """One NETLINK_ROUTE socket, bound to the namespace of the thread that created it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, requests: Iterable[tuple[int, int, bytes]]) -> list[int]:
        """Send requests in batches; return the errno of each (0 = done), in order."""
        results: list[int] = []
        batch: list[tuple[int, int, bytes]] = []
        for req in requests:
            batch.append(req)
            if len(batch) == _BATCH:
                results.extend(self._run_batch(batch))
                batch = []
        if batch:
            results.extend(self._run_batch(batch))
        return results

    def _run_batch(self, batch: list[tuple[int, int, bytes]]) -> list[int]:
        first = self._seq + 1
        chunks = []
        for kind, flags, body in batch:
            self._seq += 1
            chunks.append(
                _NLMSGHDR.pack(
                    _NLMSGHDR.size + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags,
                    self._seq, 0,
                )
                + body
            )
        self.sock.sendall(b"".join(chunks))
        out: dict[int, int] = {}
        while len(out) < len(batch):
            data = self.sock.recv(1 << 16)
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, kind, _flags, seq, _pid = _NLMSGHDR.unpack_from(data, offset)
                if length < _NLMSGHDR.size:
                    break
                if kind == NLMSG_ERROR and first <= seq <= self._seq:
                    (err,) = struct.unpack_from("=i", data, offset + _NLMSGHDR.size)
                    out[seq] = -err
                offset += (length + 3) & ~3
        return [out[s] for s in range(first, self._seq + 1)]

    def operstates(self) -> dict[int, int]:
        """ifindex -> IFLA_OPERSTATE (6 = IF_OPER_UP) of every link, by one RTM_GETLINK dump."""
        self._seq += 1
        seq = self._seq
        body = _ifinfo()
        self.sock.sendall(
            _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_GETLINK,
                           NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body
        )
        out: dict[int, int] = {}
        while True:
            data = self.sock.recv(1 << 16)
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, kind, _flags, mseq, _pid = _NLMSGHDR.unpack_from(data, offset)
                if length < _NLMSGHDR.size:
                    return out
                if mseq == seq:
                    if kind == NLMSG_DONE:
                        return out
                    if kind == NLMSG_ERROR:
                        (err,) = struct.unpack_from("=i", data, offset + _NLMSGHDR.size)
                        raise NetlinkError(-err, f"link dump: {os.strerror(-err)}")
                    if kind == RTM_NEWLINK:
                        index = _IFINFOMSG.unpack_from(data, offset + _NLMSGHDR.size)[2]
                        pos = offset + _NLMSGHDR.size + _IFINFOMSG.size
                        end = offset + length
                        while pos + 4 <= end:
                            alen, atype = struct.unpack_from("=HH", data, pos)
                            if alen < 4:
                                break
                            if atype == IFLA_OPERSTATE:
                                out[index] = data[pos + 4]
                            pos += (alen + 3) & ~3
                offset += (length + 3) & ~3

    def run_checked(self, requests: Iterable[tuple[int, int, bytes]], what: str) -> None:
        for err in self.run(requests):
            if err:
                raise NetlinkError(err, f"{what}: {os.strerror(err)}")
