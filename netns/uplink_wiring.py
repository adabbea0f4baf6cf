"""Wiring of the network side (issue #6): a "core" namespace and one Uu veth per in-coverage UE.

Like :mod:`netns.fabric`, everything is created inside anonymous namespaces held by fds, so a
crash leaves nothing behind. The core end of each veth (``c<N>``) carries the route to that
UE's /64 via a fixed link-local next hop ``fe80::1`` whose neighbour entry is permanent, so the
core never needs neighbour discovery. The UE end (``uu``) has IPv6 *disabled* in the UE's
kernel: the UE process itself reads and writes whole IPv6 packets there with an AF_PACKET
socket (it carries remote UEs' packets too, which its own kernel must not touch).

The requests are built with pyroute2's message classes and sent with :class:`netns._netlink.Rtnl`.
"""

from __future__ import annotations

import array
import fcntl
import ipaddress
import socket
import struct

from pyroute2.netlink import NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST
from pyroute2.netlink.rtnl import RTM_DELROUTE, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWNEIGH, RTM_NEWROUTE
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP, ifinfmsg
from pyroute2.netlink.rtnl.ndmsg import ndmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

UE_UPLINK_IFNAME = "uu"
UE_UPLINK_IFINDEX = 3  # lo 1, pc5 2 (netns.fabric), uu 3
NEXT_HOP = "fe80::1"  # the UE end as the core's next hop (a permanent neighbour entry)
IFA_F_NODAD = 0x02
NUD_PERMANENT = 0x80
RT_TABLE_MAIN = 254
RTPROT_STATIC = 4
RTN_UNICAST = 1
ETH_P_IPV6 = 0x86DD
SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17


def core_ifindex(serial: int) -> int:
    return 10 + serial


def core_mac(serial: int) -> bytes:
    return b"\x02\x43\x4f" + (serial & 0xFFFFFF).to_bytes(3, "big")


def ue_uplink_mac(serial: int) -> bytes:
    return b"\x02\x55\x55" + (serial & 0xFFFFFF).to_bytes(3, "big")


def veth_to(serial: int, peer_ns_fd: int) -> ifinfmsg:
    """RTM_NEWLINK in the core: ``c<serial>`` here (up), ``uu`` in the UE's namespace, both
    with fixed MACs and ifindexes."""
    peer = {"index": UE_UPLINK_IFINDEX,
            "attrs": [("IFLA_IFNAME", UE_UPLINK_IFNAME), ("IFLA_NET_NS_FD", peer_ns_fd),
                      ("IFLA_ADDRESS", ue_uplink_mac(serial).hex(":"))]}
    linkinfo = {"attrs": [("IFLA_INFO_KIND", "veth"),
                          ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", peer)]})]}
    msg = ifinfmsg()
    msg["family"] = socket.AF_UNSPEC
    msg["index"] = core_ifindex(serial)
    msg["flags"] = msg["change"] = IFF_UP
    msg["attrs"] = [("IFLA_IFNAME", f"c{serial}"), ("IFLA_ADDRESS", core_mac(serial).hex(":")),
                    ("IFLA_LINKINFO", linkinfo)]
    msg["header"]["type"] = RTM_NEWLINK
    msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL
    return msg


def address(index: int, addr: bytes, prefixlen: int = 128) -> ifaddrmsg:
    """RTM_NEWADDR: ``addr``/prefixlen on ``index``, no duplicate address detection."""
    msg = ifaddrmsg()
    msg["family"] = socket.AF_INET6
    msg["prefixlen"] = prefixlen
    msg["flags"] = IFA_F_NODAD
    msg["index"] = index
    text = str(ipaddress.IPv6Address(addr))
    msg["attrs"] = [("IFA_ADDRESS", text), ("IFA_FLAGS", IFA_F_NODAD)]
    msg["header"]["type"] = RTM_NEWADDR
    msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL
    return msg


def neighbour(index: int, mac: bytes, dst: str = NEXT_HOP) -> ndmsg:
    """RTM_NEWNEIGH: a permanent entry ``dst`` -> ``mac`` on ``index``."""
    msg = ndmsg()
    msg["family"] = socket.AF_INET6
    msg["ifindex"] = index
    msg["state"] = NUD_PERMANENT
    msg["attrs"] = [("NDA_DST", dst), ("NDA_LLADDR", mac.hex(":"))]
    msg["header"]["type"] = RTM_NEWNEIGH
    msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE
    return msg


def route(index: int, dst: bytes, prefixlen: int, *, gateway: str | None = NEXT_HOP,
          delete: bool = False) -> rtmsg:
    """RTM_NEWROUTE (replace) or RTM_DELROUTE: ``dst``/prefixlen via ``gateway`` on ``index``."""
    msg = rtmsg()
    msg["family"] = socket.AF_INET6
    msg["dst_len"] = prefixlen
    msg["table"] = RT_TABLE_MAIN
    msg["proto"] = RTPROT_STATIC
    msg["scope"] = 0
    msg["type"] = RTN_UNICAST
    attrs: list[tuple[str, object]] = [("RTA_DST", str(ipaddress.IPv6Address(dst))),
                                       ("RTA_OIF", index)]
    if gateway is not None:
        attrs.append(("RTA_GATEWAY", gateway))
    msg["attrs"] = attrs
    msg["header"]["type"] = RTM_DELROUTE if delete else RTM_NEWROUTE
    msg["header"]["flags"] = NLM_F_REQUEST | (0 if delete else NLM_F_CREATE | NLM_F_REPLACE)
    return msg


def sysctl(path: str, value: str) -> None:
    """Write /proc/sys/<path> for the calling thread's network namespace."""
    with open(f"/proc/sys/{path}", "w") as fh:
        fh.write(value)


def disable_tx_checksum(ifname: str) -> None:
    """``ethtool -K <ifname> tx off`` for the calling thread's namespace.

    A veth offloads transmit checksums by default: a packet the core's kernel sends leaves with
    only the pseudo-header sum in the UDP checksum field, to be finished "by the hardware". The
    UE reads it raw (AF_PACKET) and may relay it over PC5, where every receiver checks the
    checksum, so the core must send complete checksums.
    """
    value = array.array("I", [ETHTOOL_STXCSUM, 0])
    ifreq = struct.pack("16sP", ifname.encode(), value.buffer_info()[0])
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)


def uplink_socket(serial: int, rcvbuf: int = 1 << 20) -> socket.socket:
    """In the UE's namespace: an AF_PACKET socket on ``uu`` that reads and writes IPv6 packets
    (SOCK_DGRAM: the kernel adds and strips the Ethernet header)."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IPV6))
    try:
        sock.setsockopt(263, 23, 1)  # SOL_PACKET, PACKET_IGNORE_OUTGOING
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind((UE_UPLINK_IFNAME, ETH_P_IPV6))
    except BaseException:
        sock.close()
        raise
    return sock
