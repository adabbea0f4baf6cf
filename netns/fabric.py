"""The emulator's wiring: a medium namespace, one namespace per UE, one veth between them.

Each UE namespace holds loopback and a veth called ``pc5``; the veth's far end (``u<N>``) sits in
the medium's namespace, where the userspace radio medium reads and writes frames
(ARCHITECTURE.md decisions 2 and 3). Every object is created *inside* an anonymous namespace:
the veth pair comes from a netlink socket opened in the medium namespace, with its peer placed
straight into the UE namespace by fd (IFLA_NET_NS_FD). Nothing ever appears in the root
namespace, not even for a moment, so a crash cannot leak anything there.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from netns import _netlink
from netns.namespace import NS_PREFIX, Namespace, check_privileges, create, ensure_fd_budget
from prose_mesh.errors import EnvironmentProblem

UE_IFNAME = "pc5"
UE_IFINDEX = 2  # fixed: lo is 1, pc5 is the only other link in a UE namespace
ETH_P_ALL = 0x0003
PACKET_IGNORE_OUTGOING = 23  # linux/if_packet.h, Linux >= 4.20
SOL_PACKET = 263
SO_RCVBUFFORCE = 33
_CHUNK = 50
PROGRESS_OVER = 36  # show a progress bar above this many UEs (on a TTY only)


def ue_mac(serial: int) -> bytes:
    """Locally administered unicast MAC of the UE with this attach serial: 02:50:4d:xx:xx:xx."""
    return b"\x02\x50\x4d" + (serial & 0xFFFFFF).to_bytes(3, "big")


class Port:
    """A UE's end of the wiring: its namespace and the medium-side veth that leads to it."""

    __slots__ = ("medium_ifindex", "medium_ifname", "name", "ns", "out", "serial", "sock")

    def __init__(self, name: str, ns: Namespace, serial: int) -> None:
        self.name = name
        self.ns = ns
        self.serial = serial
        self.medium_ifindex = serial + 2
        self.medium_ifname = f"u{serial}"
        self.sock: socket.socket | None = None  # AF_PACKET on pc5, inside the UE namespace
        # AF_PACKET bound to u<N> in the medium namespace with protocol 0: it never receives,
        # and send() needs no per-frame interface lookup (sendto by name costs an ioctl).
        self.out: socket.socket | None = None

    def close(self) -> None:
        for sock in (self.sock, self.out):
            if sock is not None:
                sock.close()
        self.sock = self.out = None
        self.ns.close()

    @property
    def mac(self) -> bytes:
        return ue_mac(self.serial)


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    if total <= PROGRESS_OVER or not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


class Fabric:
    """Namespaces and veths of one run. Close it (or let the process die) to remove them all."""

    def __init__(
        self,
        run_id: str = "run",
        *,
        debug_names: bool = False,
        proto: int = 0x88B5,
        ue_rcvbuf: int = 1 << 20,
    ) -> None:
        check_privileges()
        self.proto = proto
        self.ue_rcvbuf = ue_rcvbuf
        if debug_names and ("/" in run_id or not run_id):
            raise EnvironmentProblem(f"run id {run_id!r} cannot name a namespace")
        self.run_id = run_id
        self.debug_names = debug_names
        self.ports: dict[str, Port] = {}
        self._serial = 0
        ensure_fd_budget(8)
        (self.medium_ns,) = create(["medium"])
        try:
            self._nl = self.medium_ns.run(_netlink.Rtnl)
            if debug_names:
                self.medium_ns.publish(f"{NS_PREFIX}{run_id}-medium")
        except BaseException:
            self.medium_ns.close()
            raise

    def medium_socket(self, rcvbuf: int = 8 << 20) -> socket.socket:
        """An AF_PACKET socket in the medium namespace, unbound: it hears every veth there."""

        def make() -> socket.socket:
            # Left unbound (ifindex 0): it hears every veth of the medium namespace.
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(self.proto))
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            _big_buffers(sock, rcvbuf)
            return sock

        return self.medium_ns.run(make)

    def add(self, names: Sequence[str]) -> list[Port]:
        """Create namespaces and veths for ``names`` (batched); returns their ports in order."""
        for name in names:
            if name in self.ports:
                raise EnvironmentProblem(f"UE {name!r} is already attached", reason="NAME_CLASH")
        if len(set(names)) != len(names):
            raise EnvironmentProblem("duplicate UE names in one attach", reason="NAME_CLASH")
        ensure_fd_budget(3 * len(names))
        added: list[Port] = []
        with _progress(len(names), "starting UEs") as advance:
            try:
                for start in range(0, len(names), _CHUNK):
                    chunk = list(names[start : start + _CHUNK])
                    added.extend(self._add_chunk(chunk))
                    advance(len(chunk))
            except BaseException:
                self._remove_ports(added)
                raise
        for port in added:
            self.ports[port.name] = port
        return added

    def _add_chunk(self, names: list[str]) -> list[Port]:
        ports: list[Port] = []
        medium_fd = self.medium_ns.fd
        proto = self.proto

        def setup(ns: Namespace, nl: _netlink.Rtnl) -> None:
            # Inside the new UE namespace: pc5 here, its peer straight into the medium's.
            self._serial += 1
            port = Port(ns.name, ns, self._serial)
            nl.run_checked(
                [
                    _netlink.veth_with_peer_in(
                        UE_IFNAME, UE_IFINDEX, port.mac, medium_fd,
                        port.medium_ifname, port.medium_ifindex,
                    )
                ],
                "create veth",
            )
            # Protocol 0 first, then bind: registering a protocol and re-binding would cost an
            # RCU grace period (synchronize_net, ~10 ms) per socket.
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            port.sock = sock
            ports.append(port)
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            _big_buffers(sock, self.ue_rcvbuf)
            sock.bind((UE_IFNAME, proto))

        try:
            create(names, setup)
            self._nl.run_checked((_netlink.set_up(p.medium_ifindex) for p in ports), "veth up")
            self._wait_oper_up(ports)
            self.medium_ns.run(lambda: self._open_out(ports))
            if self.debug_names:
                for p in ports:
                    p.ns.publish(f"{NS_PREFIX}{self.run_id}-{p.name}")
        except BaseException:
            for p in ports:
                p.close()
            raise
        return ports

    @staticmethod
    def _open_out(ports: Sequence[Port]) -> None:
        for p in ports:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            p.out = sock
            sock.bind((p.medium_ifname, 0))
            sock.setblocking(False)

    def _wait_oper_up(self, ports: Sequence[Port], timeout: float = 5.0) -> None:
        """Wait until the kernel's linkwatch has run for the new veths.

        Until it has, a veth still has the noop qdisc and silently drops what is sent on it;
        linkwatch handles both ends of a pair in the same pass, so the medium side is watched.
        """
        deadline = time.monotonic() + timeout
        want = {p.medium_ifindex for p in ports}
        while True:
            states = self._nl.operstates()
            if all(states.get(i) == _netlink.IF_OPER_UP for i in want):
                return
            if time.monotonic() > deadline:
                raise EnvironmentProblem("veths did not come up within 5 s", reason="LINK_DOWN")
            time.sleep(0.001)

    def remove(self, names: Sequence[str]) -> None:
        ports = [self.ports.pop(n) for n in names if n in self.ports]
        self._remove_ports(ports)

    def _remove_ports(self, ports: Sequence[Port]) -> None:
        if not ports:
            return
        with _progress(len(ports), "stopping UEs") as advance:
            # Deleting one end of a veth deletes both; then the namespace has no users left.
            self._nl.run(_netlink.delete(p.medium_ifindex) for p in ports)
            _close_all(ports)
            advance(len(ports))

    def close(self) -> None:
        """Remove everything. Closing the fds is enough: the kernel then reaps the namespaces
        (asynchronously) and the veths in them."""
        with _progress(len(self.ports), "stopping UEs") as advance:
            _close_all(list(self.ports.values()))
            advance(len(self.ports))
        self.ports.clear()
        self._nl.close()
        self.medium_ns.close()


def _close_all(ports: Sequence[Port]) -> None:
    """Close ports in parallel: each AF_PACKET close waits for an RCU grace period (~10 ms),
    and concurrent closes share grace periods, so 64 threads make 1000 closes take ~0.3 s."""
    if len(ports) <= 4:
        for p in ports:
            p.close()
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(64, len(ports))) as pool:
        list(pool.map(Port.close, ports))


def _big_buffers(sock: socket.socket, size: int) -> None:
    try:  # FORCE variant ignores net.core.rmem_max; needs CAP_NET_ADMIN, which we have
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def kernel_release() -> str:
    return os.uname().release
