"""``open_network``: the network side of issue #6 — a KMS and a GMS reachable over IP.

::

    async with open_network("memory" | "netns", kms=kms, groups=[fire_cfg], trks={uri: trk},
                            name="core", session=session, clock=clock) as network:
        uplink = await network.attach_uplink("r1", uri="sip:r1@...")   # in-coverage UE
        network.register_remote("r1", "sip:far1@...", uplink.remote_address(1))
        issue = await network.distribute("sip:fire@...")               # GMKs to every member
        issue = await network.rekey("sip:fire@...", remove=None)       # runner's rekey step

One namespace plays the network (TS 23.303 §4.4.3 UE-to-network relay: the relay's uplink
reaches the operator network, whose KMS and GMS are IP services). Services run on
:data:`~prose_mesh.network.addressing.CORE_ADDRESS`:

* KMS, UDP :data:`~prose_mesh.network.addressing.KMS_PORT` — key material wrapped under the
  UE's TrK (:mod:`prose_mesh.network.kms_service`);
* GMS, sends from UDP 2269 — GMK I_MESSAGEs signed by the GMS identity
  (:mod:`prose_mesh.network.gms`), to each member's address; a member not reachable yet gets its
  GMK when it attaches or its relay registers it.

Routing [EMU]: each uplink owns a /64 (:mod:`prose_mesh.network.addressing`); a relay registers
a remote UE with :meth:`Network.register_remote` (as REMOTE_UE_INFO, TS 24.334 §10.4.2), which
routes that address (/128) through the relay's uplink and tells the GMS where the remote UE's
identity is. Packets from one uplink to another UE's address are forwarded (hop limit - 1).

Backends, same services and routing decisions above the transport:

* ``memory``: an in-process router (Trio channels) that also checks that a packet's source
  address belongs to the uplink it came from (anti-spoofing, dropped ``spoofed_source``);
* ``netns``: a real anonymous "core" namespace, a veth to each in-coverage UE's namespace, the
  KMS and GMS on real IPv6 UDP sockets there, and the kernel's routing (routes and permanent
  neighbour entries set by netlink, :mod:`netns.uplink_wiring`). The kernel does no
  source-address check there.

Every request the services judge ends in one accept/reject line of the network's
:class:`~prose_mesh.node.log.UeLog` (node = the network's name), in ``events.jsonl`` when a
session is given.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import trio

from prose_mesh.crypto.identity import key_period_number
from prose_mesh.crypto.kms import KeyMaterial, Kms
from prose_mesh.errors import ConfigError, EnvironmentProblem, ParseError
from prose_mesh.medium.session import Session
from prose_mesh.network.addressing import (
    CORE_ADDRESS,
    GMS_PORT,
    KMS_PORT,
    text,
    uplink_address,
    uplink_prefix,
)
from prose_mesh.network.gms import GmkSend, GmsService, gms_uri
from prose_mesh.network.kms_service import KmsService
from prose_mesh.network.uplink import MemoryUplink, NetnsUplink, Uplink
from prose_mesh.node.log import UeLog
from prose_mesh.protocol.actions import Accepted
from prose_mesh.protocol.gmk_sender import GmkIssue
from prose_mesh.protocol.groups import GroupConfig
from prose_mesh.wire.ipudp import build_udp6, parse_udp6

INBOX = 4096  # packets the memory router buffers before senders wait


class Network:
    """The network side; use through :func:`open_network` (see the module docstring)."""

    backend = "?"

    def __init__(self, *, name: str, kms: Kms, groups: Iterable[GroupConfig],
                 gms_identity: str, trks: Mapping[str, bytes], session: Session | None,
                 clock: Callable[[], float], issue: Callable[[Kms, str, int], KeyMaterial],
                 origin: float | None = None) -> None:
        self.name = name
        self.kms = kms
        self.clock = clock
        self._issue = issue
        self.kms_service = KmsService(kms, trks, issue=issue)
        self.gms = GmsService(self._gms_keys(gms_identity), groups)
        self.log = UeLog(name, run=session.run_id if session else "",
                         sink=session.log if session else None,
                         origin=trio.current_time() if origin is None else origin)
        self.uplinks: dict[str, Uplink] = {}
        self.remotes: dict[bytes, tuple[str, str]] = {}  # address -> (uplink UE, remote URI)
        self.counts: Counter[str] = Counter()
        self._serial = 0
        self._nursery: trio.Nursery | None = None

    # -- public API ---------------------------------------------------------------------------

    @property
    def address(self) -> bytes:
        return CORE_ADDRESS

    def enrol(self, uri: str, trk: bytes) -> None:
        """Give the KMS the TrK pre-provisioned to ``uri``."""
        self.kms_service.enrol(uri, trk)

    async def attach_uplink(self, ue_name: str, *, uri: str | None = None,
                            namespace: Any = None) -> Uplink:
        """Give UE ``ue_name`` (identity ``uri``, if the GMS should reach it) an uplink with
        the next /64. ``namespace`` (netns only): the UE's :class:`netns.namespace.Namespace`,
        e.g. ``air.fabric.ports[name].ns``; without it the network makes one for the UE."""
        if not ue_name or ue_name in self.uplinks:
            raise ConfigError(f"bad or duplicate uplink name {ue_name!r}")
        self._serial += 1
        serial = self._serial
        uplink = await self._make_uplink(ue_name, serial, uplink_prefix(serial),
                                         uplink_address(serial), uri, namespace)
        self.uplinks[ue_name] = uplink
        self.counts["uplinks"] += 1
        if uri is not None:
            await self._gms_send(self.gms.learn_address(uri, uplink.address, now=self.clock()))
        return uplink

    def register_remote(self, uplink_ue_name: str, remote_uri: str, remote_address: bytes
                        ) -> None:
        """Remote UE ``remote_uri`` is at ``remote_address`` behind ``uplink_ue_name``'s relay
        (its REMOTE_UE_INFO). Routes the address through that uplink (replacing an earlier
        route, e.g. after a relay change) and lets the GMS deliver GMKs owed to it."""
        uplink = self.uplinks.get(uplink_ue_name)
        if uplink is None:
            raise ConfigError(f"no uplink called {uplink_ue_name!r}")
        if len(remote_address) != 16 or remote_address[0] == 0xFF:
            raise ConfigError("a remote UE address is a 16-octet unicast IPv6 address")
        if remote_address == uplink.address or remote_address == CORE_ADDRESS:
            raise ConfigError(f"{text(remote_address)} is taken")
        self.remotes[remote_address] = (uplink_ue_name, remote_uri)
        self._route_remote(uplink, remote_address)
        self.counts["remotes_registered"] += 1
        owed = self.gms.learn_address(remote_uri, remote_address, now=self.clock())
        if owed:
            self._spawn(self._gms_send, owed)

    def unregister_remote(self, remote_address: bytes) -> None:
        """The remote UE left its relay (REMOTE_UE_INFO with it removed)."""
        entry = self.remotes.pop(remote_address, None)
        if entry is not None:
            self._unroute_remote(self.uplinks[entry[0]], remote_address)
            if self.gms.addresses.get(entry[1]) == remote_address:
                self.gms.forget(entry[1])

    async def detach_uplink(self, ue_name: str) -> None:
        """The UE left coverage (or was killed): its uplink and remote routes go away."""
        uplink = self.uplinks.pop(ue_name, None)
        if uplink is None:
            raise ConfigError(f"no uplink called {ue_name!r}")
        for addr in [a for a, (u, _) in self.remotes.items() if u == ue_name]:
            _, uri = self.remotes.pop(addr)
            if self.gms.addresses.get(uri) == addr:
                self.gms.forget(uri)
        if uplink.uri is not None and self.gms.addresses.get(uplink.uri) == uplink.address:
            self.gms.forget(uplink.uri)
        uplink._end()
        await self._drop_uplink(uplink)

    async def distribute(self, group_id: str, *, period: float | None = None) -> GmkIssue:
        """Issue a fresh GMK for ``group_id`` to all its members (reachable now, or later)."""
        issue, sends = self.gms.distribute(group_id, now=self._gms_now(), period=period)
        await self._gms_send(sends)
        return issue

    async def rekey(self, group_id: str, *, remove: str | None = None,
                    period: float | None = None) -> GmkIssue:
        """The runner's ``rekey`` step: a new GMK (revoking, without ``remove`` if given)."""
        issue, sends = self.gms.rekey(group_id, now=self._gms_now(), remove=remove,
                                      period=period)
        await self._gms_send(sends)
        return issue

    async def add_member(self, group_id: str, uri: str) -> None:
        await self._gms_send(self.gms.add_member(group_id, uri, now=self._gms_now()))

    def stats(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "uplinks": len(self.uplinks),
            "remotes": len(self.remotes),
            "kms": {"accepted": self.kms_service.accepted, "refused": self.kms_service.refused,
                    "rejects": dict(self.kms_service.rejects)},
            "gms": dict(self.gms.counts),
            "router": dict(self.counts),
            "log": {"accepted": dict(self.log.accepted),
                    "rejected": self.log.summary()["rejected"]},
        }

    # -- services (shared by both backends) -----------------------------------------------------

    async def _on_datagram(self, dport: int, src: bytes, sport: int, payload: bytes) -> None:
        """A UDP datagram reached a service port of the core address."""
        if dport == KMS_PORT:
            answer = await self._run_kms(payload)
            verdict = answer.verdict
            if isinstance(verdict, Accepted):
                self.log.accept("kms", verdict.peer)
            else:
                self.log.reject("kms", str(verdict.reason), verdict.peer)
            if answer.response is not None:
                await self._send_udp(KMS_PORT, src, sport, answer.response)
        else:  # the GMS expects no answers (no MIKEY verification message is used)
            self.log.reject("gms" if dport == GMS_PORT else "network", "NOT_FOR_ME", None)
        self.log.flush()

    async def _run_kms(self, payload: bytes) -> Any:
        return self.kms_service.on_request(payload, now=self.clock())

    async def _gms_send(self, sends: list[GmkSend]) -> None:
        for s in sends:
            if s.address is not None:
                await self._send_udp(GMS_PORT, s.address, GMS_PORT, s.message)

    def _gms_now(self) -> float:
        """The time for a GMS operation; refreshes the GMS keys at a key period change."""
        now = self.clock()
        keys = self.gms.keys
        if key_period_number(now, keys.period, keys.offset) != keys.period_no:
            self.gms.update_keys(self._gms_keys(keys.uri))
        return now

    def _gms_keys(self, uri: str) -> KeyMaterial:
        return self._issue(self.kms, uri, key_period_number(self.clock(), self.kms.period,
                                                            self.kms.offset))

    def _spawn(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._nursery is None:
            raise ConfigError("the network is closed")
        self._nursery.start_soon(fn, *args)

    # -- backend hooks --------------------------------------------------------------------------

    async def _make_uplink(self, name: str, serial: int, prefix: bytes, address: bytes,
                           uri: str | None, namespace: Any) -> Uplink:
        raise NotImplementedError

    async def _drop_uplink(self, uplink: Uplink) -> None:
        raise NotImplementedError

    async def _send_udp(self, sport: int, dst: bytes, dport: int, payload: bytes) -> None:
        raise NotImplementedError

    def _route_remote(self, uplink: Uplink, address: bytes) -> None:
        """Route ``address`` through ``uplink`` (self.remotes is already updated)."""

    def _unroute_remote(self, uplink: Uplink, address: bytes) -> None:
        """Undo :meth:`_route_remote`."""

    async def _serve(self, nursery: trio.Nursery) -> None:
        """Start the backend's tasks."""

    def _close(self) -> None:
        for uplink in self.uplinks.values():
            uplink._end()
        self.log.flush()


# -- memory backend -------------------------------------------------------------------------------


class MemoryNetwork(Network):
    backend = "memory"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._in_tx, self._in_rx = trio.open_memory_channel[tuple[Uplink, bytes]](INBOX)

    async def _make_uplink(self, name: str, serial: int, prefix: bytes, address: bytes,
                           uri: str | None, namespace: Any) -> Uplink:
        if namespace is not None:
            raise ConfigError("the memory backend has no namespaces")
        await trio.lowlevel.checkpoint()
        return MemoryUplink(self, name, serial, prefix, address, uri)

    async def _drop_uplink(self, uplink: Uplink) -> None:
        await trio.lowlevel.checkpoint()

    async def _from_uplink(self, uplink: Uplink, packet: bytes) -> None:
        await self._in_tx.send((uplink, packet))

    async def _serve(self, nursery: trio.Nursery) -> None:
        nursery.start_soon(self._router)

    async def _router(self) -> None:
        async for uplink, packet in self._in_rx:
            await self._route(uplink, packet)

    def _owner(self, address: bytes) -> Uplink | None:
        """The uplink a packet to ``address`` leaves by (a registered remote, else the /64)."""
        remote = self.remotes.get(address)
        if remote is not None:
            return self.uplinks.get(remote[0])
        for uplink in self.uplinks.values():
            if uplink.prefix == address[:8]:
                return uplink
        return None

    async def _route(self, uplink: Uplink, packet: bytes) -> None:
        src, dst = packet[8:24], packet[24:40]
        if uplink.name not in self.uplinks or self._owner(src) is not uplink:
            self.counts["drop:spoofed_source"] += 1
            return
        if dst == CORE_ADDRESS:
            try:
                dgram = parse_udp6(packet)
            except ParseError as exc:
                self.counts[f"drop:{exc.reason}"] += 1
                return
            await self._on_datagram(dgram.dport, dgram.src, dgram.sport, dgram.payload)
            return
        out = self._owner(dst)
        if out is None:
            self.counts["drop:no_route"] += 1
            return
        if packet[7] <= 1:
            self.counts["drop:hop_limit"] += 1
            return
        self._deliver(out, packet[:7] + bytes([packet[7] - 1]) + packet[8:])
        self.counts["forwarded"] += 1

    def _deliver(self, uplink: Uplink, packet: bytes) -> None:
        if not uplink._deliver(packet):  # type: ignore[attr-defined]
            self.counts["drop:uplink_queue_full"] += 1

    async def _send_udp(self, sport: int, dst: bytes, dport: int, payload: bytes) -> None:
        await trio.lowlevel.checkpoint()
        out = self._owner(dst)
        if out is None:
            self.counts["drop:no_route"] += 1
            return
        self._deliver(out, build_udp6(CORE_ADDRESS, dst, sport, dport, payload))
        self.counts["sent"] += 1

    def _close(self) -> None:
        super()._close()
        self._in_tx.close()


# -- netns backend --------------------------------------------------------------------------------


class NetnsNetwork(Network):
    backend = "netns"

    def __init__(self, *, debug_names: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        from netns import _netlink
        from netns import uplink_wiring as W
        from netns.namespace import check_privileges, create, ensure_fd_budget

        check_privileges()
        ensure_fd_budget(8)
        self._own_ns: dict[str, Any] = {}  # UE namespaces this network created
        self._socks: dict[int, trio.socket.SocketType] = {}

        def setup(ns: Any, nl: _netlink.Rtnl) -> None:
            nl.run_checked([W.address(1, CORE_ADDRESS)], "core address")
            W.sysctl("net/ipv6/conf/all/forwarding", "1")

        (self.ns,) = create([self.name], setup)
        try:
            self._nl = self.ns.run(_netlink.Rtnl)
            if debug_names:
                from netns.namespace import NS_PREFIX

                run = kw["session"].run_id if kw.get("session") else str(os.getpid())
                self.ns.publish(f"{NS_PREFIX}{run}-{self.name}")
            for port in (KMS_PORT, GMS_PORT):
                self._socks[port] = trio.socket.from_stdlib_socket(
                    self.ns.run(lambda p=port: _udp_socket(p)))
        except BaseException:
            self._close_all()
            raise

    async def _make_uplink(self, name: str, serial: int, prefix: bytes, address: bytes,
                           uri: str | None, namespace: Any) -> Uplink:
        return await trio.to_thread.run_sync(self._wire, name, serial, prefix, address, uri,
                                             namespace)

    def _wire(self, name: str, serial: int, prefix: bytes, address: bytes, uri: str | None,
              namespace: Any) -> Uplink:
        from netns import _netlink
        from netns import uplink_wiring as W
        from netns.namespace import create

        if namespace is None:
            (namespace,) = create([name])
            self._own_ns[name] = namespace
        ue_ns = namespace
        index = W.core_ifindex(serial)
        self._nl.run_checked([W.veth_to(serial, ue_ns.fd)], f"uplink veth for {name}")

        def ue_side() -> socket.socket:
            W.sysctl(f"net/ipv6/conf/{W.UE_UPLINK_IFNAME}/disable_ipv6", "1")
            with _netlink.Rtnl() as nl:
                nl.run_checked([_netlink.set_up(W.UE_UPLINK_IFINDEX)], "uu up")
            return W.uplink_socket(serial)

        sock = ue_ns.run(ue_side)
        try:
            deadline = time.monotonic() + 5.0
            while self._nl.operstates().get(index) != _netlink.IF_OPER_UP:
                if time.monotonic() > deadline:
                    raise EnvironmentProblem("uplink veth did not come up within 5 s",
                                             reason="LINK_DOWN")
                time.sleep(0.001)
            def core_side() -> None:
                W.sysctl(f"net/ipv6/conf/c{serial}/accept_ra", "0")
                W.disable_tx_checksum(f"c{serial}")

            self.ns.run(core_side)
            self._nl.run_checked([W.neighbour(index, W.ue_uplink_mac(serial)),
                                  W.route(index, prefix + bytes(8), 64)], "uplink route")
        except BaseException:
            sock.close()
            raise
        return NetnsUplink(self, name, serial, prefix, address, uri, sock, W.core_mac(serial),
                           W.UE_UPLINK_IFNAME)

    async def _drop_uplink(self, uplink: Uplink) -> None:
        from netns import _netlink
        from netns import uplink_wiring as W

        def work() -> None:
            self._nl.run([_netlink.delete(W.core_ifindex(uplink.serial))])
            ns = self._own_ns.pop(uplink.name, None)
            if ns is not None:
                ns.close()

        await trio.to_thread.run_sync(work)

    def _route_remote(self, uplink: Uplink, address: bytes) -> None:
        from netns import uplink_wiring as W

        self._nl.run_checked([W.route(W.core_ifindex(uplink.serial), address, 128)],
                             "remote UE route")

    def _unroute_remote(self, uplink: Uplink, address: bytes) -> None:
        from netns import uplink_wiring as W

        self._nl.run([W.route(W.core_ifindex(uplink.serial), address, 128, delete=True)])

    async def _serve(self, nursery: trio.Nursery) -> None:
        nursery.start_soon(self._reader, KMS_PORT)
        nursery.start_soon(self._reader, GMS_PORT)

    async def _reader(self, port: int) -> None:
        sock = self._socks[port]
        while True:
            try:
                payload, addr = await sock.recvfrom(65536)
            except trio.ClosedResourceError:
                return
            except OSError as exc:  # e.g. an ICMP error queued on the socket: count, go on
                self.counts[f"drop:recv_{exc.errno}"] += 1
                continue
            src = ipaddress.IPv6Address(addr[0].split("%")[0]).packed
            await self._on_datagram(port, src, addr[1], payload)

    async def _run_kms(self, payload: bytes) -> Any:
        # Key extraction costs ~0.1 s of CPU: keep the Trio loop (and the air) running.
        return await trio.to_thread.run_sync(
            lambda: self.kms_service.on_request(payload, now=self.clock()))

    async def _send_udp(self, sport: int, dst: bytes, dport: int, payload: bytes) -> None:
        sock = self._socks[sport]
        try:
            await sock.sendto(payload, (text(dst), dport))
            self.counts["sent"] += 1
        except OSError as exc:  # no route, buffer full: counted, never a crash
            self.counts[f"drop:send_{exc.errno}"] += 1

    def _close(self) -> None:
        super()._close()
        self._close_all()

    def _close_all(self) -> None:
        for sock in self._socks.values():
            sock.close()
        self._socks.clear()
        nl = getattr(self, "_nl", None)
        if nl is not None:
            nl.close()
        for ns in self._own_ns.values():
            ns.close()
        self._own_ns.clear()
        self.ns.close()


def _udp_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((text(CORE_ADDRESS), port))
    except BaseException:
        sock.close()
        raise
    return sock


@asynccontextmanager
async def open_network(
    backend: str = "memory",
    *,
    kms: Kms,
    groups: Iterable[GroupConfig] = (),
    trks: Mapping[str, bytes] | None = None,
    name: str = "core",
    gms_identity: str | None = None,
    session: Session | None = None,
    clock: Callable[[], float] | None = None,
    issue: Callable[[Kms, str, int], KeyMaterial] | None = None,
    origin: float | None = None,
    debug_names: bool = False,
) -> AsyncIterator[Network]:
    """Run the network side for the body of the ``async with``; on exit remove everything.

    ``groups``: the standard groups the network manages; their distributor must be
    ``gms_identity`` (default :func:`~prose_mesh.network.gms.gms_uri` of ``name``). ``trks``:
    URI -> TrK, the KMS's copy of each UE's transport key. ``clock`` gives Unix time (default
    ``time.time``; under MockClock pass ``lambda: epoch + trio.current_time()``). ``issue``
    extracts key material (default: the process cache of :mod:`prose_mesh.node.provision`).
    ``session``: accept/reject lines go to its events log, ``t`` counted from ``origin`` (the
    medium's origin, Trio time; default now). ``debug_names`` (netns) bind-mounts the core
    namespace as /run/netns/pm-<run>-<name> (removed on exit; see ``prose-mesh clean``).
    """
    if backend not in ("memory", "netns"):
        raise ConfigError(f"network backend must be memory or netns, not {backend!r}")
    if issue is None:
        from prose_mesh.node.provision import key_material

        def issue(k: Kms, uri: str, n: int) -> KeyMaterial:
            return key_material(k, uri, n, validate=False)

    kw: dict[str, Any] = dict(
        name=name, kms=kms, groups=groups, gms_identity=gms_identity or gms_uri(name),
        trks=trks or {}, session=session, clock=clock or time.time, issue=issue,
        origin=origin,
    )
    network: Network = (NetnsNetwork(debug_names=debug_names, **kw) if backend == "netns"
                        else MemoryNetwork(**kw))  # fmt: skip
    try:
        async with trio.open_nursery() as nursery:
            network._nursery = nursery
            await network._serve(nursery)
            try:
                yield network
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
    finally:
        network._nursery = None
        network._close()
