"""``open_air``: the radio medium with a transport - the contract UE nodes are written against.

::

    async with open_air(backend="memory" | "netns" | "auto", seed=0, session=None) as air:
        radio = await air.attach("ue1", position=(0.0, 0.0))   # or attach_many(names)
        await radio.send(frame)            # one whole Ethernet frame, EtherType 0x88B5
        frame = await radio.receive()      # the next frame the medium delivered to this UE
        air.medium.set_link("ue1", "ue2", LinkParams(loss=0.1, delay_ms=20))
        air.medium.move("ue3", (100.0, 0.0)); air.medium.set_range(50.0)
        await air.detach("ue1")

Both backends share one :class:`~prose_mesh.medium.core.Medium` and one delivery scheduler
(a timer heap driven by ``trio.current_time()``), so the same scenario behaves the same:

* ``netns`` (ARCHITECTURE.md decisions 2, 3, 5): each radio is an AF_PACKET socket on ``pc5``
  inside the UE's namespace; the medium reads every veth far end with one unbound AF_PACKET
  socket in its own namespace and writes each copy to the receiver's veth.
* ``memory``: frames move through Trio memory channels, no namespaces; runs under
  ``trio.testing.MockClock(autojump_threshold=0)`` so timers cost no wall time.

Frames of other EtherTypes are refused by ``send`` (and never cross the netns medium, whose
socket only reads 0x88B5): the kernel's own IPv6 chatter must not reach the air.

Scale runs only: a sender's task may set :data:`ADDRESSEES` around a send to have the medium
carry that frame to those UEs only (``Medium.transmit(addressees=...)``; used by
:mod:`prose_mesh.scale.addressed` for per-member GMK I_MESSAGEs). Nothing else sets it.
"""

from __future__ import annotations

import contextvars
import heapq
import math
import os
import sys
import warnings
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio

from netns import aio
from prose_mesh.errors import ConfigError, EnvironmentProblem, ParseError
from prose_mesh.medium.core import Delivery, Medium, Position
from prose_mesh.medium.params import PathLoss
from prose_mesh.medium.session import Session

ETHERTYPE_PC5 = 0x88B5  # PROTOCOL.md §1.1, Local Experimental Ethertype 1
MAX_FRAME = 14 + 1500
RX_QUEUE = 4096  # frames a memory radio buffers before the medium drops with rx_queue_full
_BATCH = 64  # frames handled before yielding to other tasks
EVENTS_FLUSH_AT = 1024  # medium event lines buffered before they are written to events.jsonl

#: [EMU] scale runs: the UEs the frame being sent by this task is carried to (None: all that
#: hear it). Set by the sender around ``Radio.send``; a Trio task's context is its own.
ADDRESSEES: contextvars.ContextVar[frozenset[str] | None] = contextvars.ContextVar(
    "prose_mesh_addressees", default=None)


class FrameRefused(ParseError):
    """A radio was asked to send something that is not a PC5-EMU Ethernet frame."""

    reason = "NOT_PC5_FRAME"


def check_frame(frame: bytes) -> None:
    if not 14 <= len(frame) <= MAX_FRAME:
        raise FrameRefused(f"an Ethernet frame is 14..{MAX_FRAME} octets, got {len(frame)}")
    if frame[12] != ETHERTYPE_PC5 >> 8 or frame[13] != ETHERTYPE_PC5 & 0xFF:
        raise FrameRefused(f"EtherType {frame[12:14].hex()} is not 88b5")


class Radio:
    """A UE's radio: ``send`` puts a frame on the air, ``receive`` returns the next one heard."""

    def __init__(self, air: Air, name: str, mac: bytes) -> None:
        self.air = air
        self.name = name
        self.mac = mac  # source MAC for the frames this UE builds (attribution only)

    async def send(self, frame: bytes) -> None:
        raise NotImplementedError

    async def receive(self) -> bytes:
        """The next frame; raises ``trio.EndOfChannel`` once the UE is detached or the air
        closed (so ``async for frame in radio`` simply ends)."""
        raise NotImplementedError

    def _end(self) -> None:
        """Wake any task blocked in ``receive`` with EndOfChannel (detach or close)."""

    def __aiter__(self) -> Radio:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None


class Air:
    """The medium plus a transport. Use through :func:`open_air`; see the module docstring."""

    backend = "?"

    def __init__(self, medium: Medium, session: Session | None) -> None:
        self.medium = medium
        self.session = session
        self.radios: dict[str, Radio] = {}
        self._heap: list[tuple[float, int, Delivery]] = []
        self._seq = 0
        self._sleep: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None

    # -- public ---------------------------------------------------------------------------------
    async def attach(
        self, name: str, position: Position | None = None, *, attack: str | None = None
    ) -> Radio:
        (radio,) = await self.attach_many([name], [position], attack=attack)
        return radio

    async def attach_many(
        self,
        names: Sequence[str],
        positions: Sequence[Position | None] | None = None,
        *,
        attack: str | None = None,
    ) -> list[Radio]:
        """Attach many UEs at once (one batch of namespace work on the netns backend)."""
        names = list(names)
        positions = list(positions) if positions is not None else [None] * len(names)
        if len(positions) != len(names):
            raise ConfigError("positions and names differ in length")
        for name in names:
            if not name or name in self.radios or name == "medium":
                raise ConfigError(f"bad or duplicate UE name {name!r}")
        radios = await self._make_radios(names)
        for radio, pos in zip(radios, positions, strict=True):
            self.medium.add_node(radio.name, pos, attack=attack)
            self.radios[radio.name] = radio
            if self.session is not None:
                self.session.add_ue(radio.name, radio.mac, attack)
        return radios

    async def detach(self, name: str) -> None:
        """Remove a UE: copies still due to it are dropped with reason ``detached``."""
        if name not in self.radios:
            raise ConfigError(f"no UE called {name!r}")
        radio = self.radios.pop(name)
        self.medium.remove_node(name)
        radio._end()
        await self._drop_radio(name)

    # -- backend hooks -------------------------------------------------------------------------
    async def _make_radios(self, names: list[str]) -> list[Radio]:
        raise NotImplementedError

    async def _drop_radio(self, name: str) -> None:
        raise NotImplementedError

    def _hand_over(self, d: Delivery) -> str | None:
        """Give ``d`` to its receiver now; return a drop reason if that was impossible."""
        raise NotImplementedError

    async def _serve(self, nursery: trio.Nursery) -> None:
        """Start backend tasks (the netns reader)."""

    def _close_backend(self) -> None:
        """Release backend resources."""

    # -- the shared engine ------------------------------------------------------------------------
    def _on_frame(self, sender: str, frame: bytes,
                  addressees: frozenset[str] | None = None) -> None:
        """A frame left ``sender``'s radio: log it, capture it, schedule its copies."""
        now = trio.current_time()
        if self.session is not None:
            self.session.on_air(sender, frame, now)
        heap = self._heap
        for d in self.medium.transmit(sender, frame, now, addressees=addressees):
            if d.at <= now and not heap:
                self._finish(d, now)
            else:
                self._seq += 1
                heapq.heappush(heap, (d.at, self._seq, d))
                if self._sleep is not None and d.at < self._sleep.deadline:
                    self._sleep.deadline = d.at
        if len(self.medium.events) >= EVENTS_FLUSH_AT:
            # a medium without delay delivers at once and the scheduler never wakes: without
            # this, the memory backend held every line of a run until its end (J2: 66 MB/min)
            self._flush_events()

    def _finish(self, d: Delivery, now: float) -> None:
        reason = self._hand_over(d)
        if reason is None:
            self.medium.delivered(d, now)
            if self.session is not None:
                self.session.on_deliver(d.receiver, d.frame, now)
        else:
            self.medium.dropped(d, reason, now)

    def _flush_events(self) -> None:
        events = self.medium.take_events()
        if self.session is not None:
            self.session.log(events)

    async def _scheduler(self) -> None:
        heap = self._heap
        while True:
            now = trio.current_time()
            while heap and heap[0][0] <= now:
                self._finish(heapq.heappop(heap)[2], now)
            self._flush_events()
            with trio.CancelScope(deadline=heap[0][0] if heap else math.inf) as scope:
                self._sleep = scope
                await trio.sleep_forever()
            self._sleep = None

    def _close(self) -> None:
        for radio in self.radios.values():
            radio._end()
        now = trio.current_time()
        while self._heap:
            self.medium.dropped(heapq.heappop(self._heap)[2], "closed", now)
        self._flush_events()

    def summary(self) -> dict[str, Any]:
        total = self.medium.totals()
        return {
            "ues": len(self.radios),
            "sent": total.sent,
            "delivered": total.delivered,
            "dropped": dict(total.dropped),
            "duplicates": total.dup_created,
            **({"unaddressed": self.medium.unaddressed} if self.medium.unaddressed else {}),
        }


# -- memory backend ----------------------------------------------------------------------------
class MemoryRadio(Radio):
    def __init__(self, air: MemoryAir, name: str, mac: bytes) -> None:
        super().__init__(air, name, mac)
        self._tx, self._rx = trio.open_memory_channel[bytes](RX_QUEUE)

    async def send(self, frame: bytes) -> None:
        check_frame(frame)
        if self.name not in self.air.radios:
            raise ConfigError(f"UE {self.name!r} is detached")
        addressees = ADDRESSEES.get()
        await trio.lowlevel.checkpoint()
        self.air._on_frame(self.name, bytes(frame), addressees)

    async def receive(self) -> bytes:
        return await self._rx.receive()

    def _end(self) -> None:
        self._tx.close()


class MemoryAir(Air):
    backend = "memory"

    def __init__(self, medium: Medium, session: Session | None) -> None:
        super().__init__(medium, session)
        self._serial = 0

    async def _make_radios(self, names: list[str]) -> list[Radio]:
        from netns.fabric import ue_mac

        out: list[Radio] = []
        for name in names:
            self._serial += 1
            out.append(MemoryRadio(self, name, ue_mac(self._serial)))
        await trio.lowlevel.checkpoint()
        return out

    async def _drop_radio(self, name: str) -> None:
        await trio.lowlevel.checkpoint()

    def _hand_over(self, d: Delivery) -> str | None:
        radio = self.radios.get(d.receiver)
        if radio is None:
            return "detached"
        try:
            radio._tx.send_nowait(d.frame)  # type: ignore[attr-defined]
        except trio.WouldBlock:
            return "rx_queue_full"
        return None


# -- netns backend -----------------------------------------------------------------------------
class SocketRadio(Radio):
    """A radio over a non-blocking datagram socket: AF_PACKET in the UE's namespace (netns), or
    one end of a SOCK_SEQPACKET pair (the scale runs' workers, :mod:`prose_mesh.scale.shard`)."""

    def __init__(self, air: Any, name: str, mac: bytes, sock: Any) -> None:
        super().__init__(air, name, mac)
        self.sock = sock
        sock.setblocking(False)

    async def send(self, frame: bytes) -> None:
        check_frame(frame)
        if self.sock.fileno() < 0:
            raise ConfigError(f"UE {self.name!r} is detached")
        await aio.send(self.sock, frame)

    async def receive(self) -> bytes:
        data = await aio.recv(self.sock)
        if not data:  # SOCK_SEQPACKET: the medium's end closed (AF_PACKET never reads b"")
            raise trio.EndOfChannel
        await trio.lowlevel.checkpoint()  # a ready socket must not starve the other tasks
        return data

    def _end(self) -> None:
        if self.sock.fileno() >= 0:
            trio.lowlevel.notify_closing(self.sock)


class NetnsRadio(SocketRadio):
    async def send(self, frame: bytes) -> None:
        addressees = ADDRESSEES.get()
        if addressees is None:
            await super().send(frame)
            return
        pending = self.air._addressed  # type: ignore[attr-defined]
        pending[bytes(frame)] = addressees  # the medium's reader picks it up with the frame
        try:
            await super().send(frame)
        except BaseException:
            pending.pop(bytes(frame), None)  # never sent: nothing will pick it up
            raise


def hand_over(out: dict[str, Any], d: Delivery) -> str | None:
    """Write a copy to its receiver's socket on the medium's side; a drop reason or None."""
    sock = out.get(d.receiver)
    if sock is None:
        return "detached"
    try:
        sock.send(d.frame)
    except BlockingIOError:
        return "medium_tx_full"
    except OSError:
        return "medium_tx_error"
    return None


class NetnsAir(Air):
    backend = "netns"

    def __init__(self, medium: Medium, session: Session | None, *, debug_names: bool) -> None:
        super().__init__(medium, session)
        from netns.fabric import Fabric

        run_id = session.run_id if session is not None else f"{os.getpid()}"
        self.fabric = Fabric(run_id, debug_names=debug_names, proto=ETHERTYPE_PC5)
        try:
            self.sock = self.fabric.medium_socket()
            self.sock.setblocking(False)
        except BaseException:
            self.fabric.close()
            raise
        self._by_ifname: dict[str, str] = {}
        self._out: dict[str, Any] = {}
        # frame -> addressees, from a radio of this process (ADDRESSEES) to the reader
        self._addressed: dict[bytes, frozenset[str]] = {}

    async def _make_radios(self, names: list[str]) -> list[Radio]:
        ports = await trio.to_thread.run_sync(self.fabric.add, names)
        out: list[Radio] = []
        for port in ports:
            out.append(NetnsRadio(self, port.name, port.mac, port.sock))
            self._by_ifname[port.medium_ifname] = port.name
            self._out[port.name] = port.out
        return out

    async def _drop_radio(self, name: str) -> None:
        del self._out[name]
        for ifname in [k for k, v in self._by_ifname.items() if v == name]:
            del self._by_ifname[ifname]  # in place: the reader task holds this dict
        await trio.to_thread.run_sync(self.fabric.remove, [name])

    def _hand_over(self, d: Delivery) -> str | None:
        return hand_over(self._out, d)

    async def _serve(self, nursery: trio.Nursery) -> None:
        nursery.start_soon(self._reader)

    async def _reader(self) -> None:
        sock = self.sock
        by_ifname = self._by_ifname
        addressed = self._addressed
        while True:
            try:
                await trio.lowlevel.wait_readable(sock)
            except trio.ClosedResourceError:
                return
            for _ in range(_BATCH):
                try:
                    frame, addr = sock.recvfrom(65536)
                except BlockingIOError:
                    break
                sender = by_ifname.get(addr[0])
                if sender is not None and len(frame) >= 14:
                    self._on_frame(sender, frame, addressed.pop(frame, None)
                                   if addressed else None)
            self._flush_events()
            await trio.lowlevel.checkpoint()

    def _close(self) -> None:
        """Also report what the kernel dropped for lack of socket buffer, which the medium
        cannot see frame by frame: a UE that did not read fast enough (``rx_overflow``), or
        frames the medium did not read fast enough (``medium_overflow``, sender unknown)."""
        t = self.medium._t(trio.current_time())
        run = self.medium.run
        for name, radio in self.radios.items():
            lost = _kernel_drops(radio.sock)  # type: ignore[attr-defined]
            if lost:
                self.medium.events.append({"t": t, "run": run, "node": name,
                                           "event": "rx_overflow", "count": lost,
                                           "reason": "socket_buffer"})
        lost = _kernel_drops(self.sock)
        if lost:
            self.medium.events.append({"t": t, "run": run, "node": "medium",
                                       "event": "medium_overflow", "count": lost,
                                       "reason": "socket_buffer"})
        super()._close()

    def _close_backend(self) -> None:
        try:
            trio.lowlevel.notify_closing(self.sock)
            self.sock.close()
        finally:
            self.fabric.close()


def _kernel_drops(sock: Any) -> int:
    """tp_drops of PACKET_STATISTICS (linux/if_packet.h struct tpacket_stats)."""
    try:
        raw = sock.getsockopt(263, 6, 8)  # SOL_PACKET, PACKET_STATISTICS
    except OSError:
        return 0
    return int.from_bytes(raw[4:8], "little")


def _netns_refusal() -> str | None:
    """Why the netns backend cannot run here, or None if it can."""
    from netns.namespace import check_privileges

    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    try:
        check_privileges()
    except EnvironmentProblem as exc:
        return exc.detail
    return None


@asynccontextmanager
async def open_air(
    backend: str = "memory",
    seed: int = 0,
    session: Session | None = None,
    capture: str | None = None,
    *,
    range_m: float | None = None,
    path_loss: PathLoss | None = None,
    debug_names: bool = False,
) -> AsyncIterator[Air]:
    """Open the air for one run; on exit (even cancelled) flush the session and remove all.

    ``backend="auto"`` picks netns when allowed, else memory - and says so (a warning, and
    ``backend_note`` in the manifest). ``capture`` overrides the session's capture mode.
    ``session=None`` writes nothing to disk (the medium's counters and events still work).
    ``debug_names`` bind-mounts namespaces as /run/netns/pm-<run>-<ue> (see `prose-mesh clean`).
    """
    note = None
    if backend == "auto":
        refusal = _netns_refusal()
        backend = "netns" if refusal is None else "memory"
        if refusal is not None:
            note = f"memory backend used as fallback: {refusal}"
            warnings.warn(note, RuntimeWarning, stacklevel=3)
    if backend not in ("memory", "netns"):
        raise ConfigError(f"backend must be memory, netns or auto, not {backend!r}")
    if session is not None:
        if capture is not None:
            session.capture = capture
        if session.seed is None:
            session.seed = seed
    origin = trio.current_time()
    medium = Medium(seed, session.run_id if session else "", range_m=range_m,
                    path_loss=path_loss, origin=origin)
    air: Air = (
        NetnsAir(medium, session, debug_names=debug_names)
        if backend == "netns"
        else MemoryAir(medium, session)
    )
    status = "error"
    try:
        if session is not None:
            session.start(backend=backend, origin=origin, note=note)
        try:
            async with trio.open_nursery() as nursery:
                air._nursery = nursery
                nursery.start_soon(air._scheduler)
                await air._serve(nursery)
                try:
                    yield air
                    status = "ok"
                finally:
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # Our tasks only end by cancellation: a lone error is the caller's own - unwrap it.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise
    except BaseException as exc:
        if _is_cancel(exc):
            status = "cancelled"
        raise
    finally:
        try:
            air._close()
        finally:
            try:
                air._close_backend()
            finally:
                if session is not None:
                    session.close(status, air.summary())


def _is_cancel(exc: BaseException) -> bool:
    if isinstance(exc, (trio.Cancelled, KeyboardInterrupt)):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_cancel(e) for e in exc.exceptions)
    return False
