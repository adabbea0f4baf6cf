"""UEs sharded over worker processes, one per core (ARCHITECTURE.md decision 4; issue #8).

One Python process runs every UE of a scenario run (:mod:`prose_mesh.scenario.runner`), so a
2000-member group's crypto (each member's SAKKE decapsulation and ECCSI verification) and
frame handling use one core. Here the **coordinator** keeps the medium (its air, its event
log) and the group's GMS; **workers** (``os.cpu_count()`` by default, started with ``spawn``)
each host a slice of the members, on their own Trio loop:

* ``netns``: the coordinator builds the namespaces and each UE's AF_PACKET socket
  (:class:`~prose_mesh.medium.air.NetnsAir`, decision 3) and hands each worker its UEs'
  sockets (``SCM_RIGHTS``); the medium still reads every veth far end in its own namespace.
* ``memory`` (no namespaces): a UE's radio is one end of a ``SOCK_SEQPACKET`` socket pair whose
  other end the coordinator's :class:`PipeAir` reads and writes. Times are **real**: a
  process boundary cannot share Trio's virtual clock (MockClock), which would need a
  conservative parallel event scheduler across processes - not built. So "sharded memory"
  means "no namespaces", never virtual time.

This is a benchmark driver for a standard group (:func:`run_sharded`): bring every UE up,
distribute the group's GMK, distribute a new one (rekey), set up a call from a member and wait
until every member joined it; each worker reports its UEs' ``gmk_installed`` and
``call_joined`` with ``time.monotonic()`` (one clock for every process of the host) and its
peak RSS. The GMS's GMK I_MESSAGEs are carried per member (:mod:`.addressed`: the GMS's
radio is in the coordinator's process, where the medium reads the addressee). A worker checks
each UE's key material at bring-up (RFC 6507 §5.1.2, RFC 6508 §6.1.2, table-less: one pairing
each), so ``ues_up`` includes it. The GMS sends in batches of :data:`GMS_BATCH`, each with its own
T, and holds the next batch while a worker has :data:`BACKLOG` undecrypted (:class:`_Pacer`:
emulation flow control; the members' decryptions share the host's cores). It is not the
scenario runner: no timeline, attacks, relays, expectations or report.html.

Wire protocol between coordinator and worker (a Unix stream socket pair): length-prefixed
pickles (both ends are this package, started by the coordinator - nothing else writes them).
"""

from __future__ import annotations

import math
import os
import pickle
import socket
import struct
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import trio

from netns import aio
from prose_mesh.errors import ConfigError
from prose_mesh.medium.air import Air, NetnsRadio, Radio, SocketRadio, hand_over, open_air
from prose_mesh.medium.core import Delivery, Medium
from prose_mesh.node.clock import UeClock, wall_epoch
from prose_mesh.node.log import UeLog
from prose_mesh.node.provision import Provisioned, group_config, provision
from prose_mesh.node.ue import Ue
from prose_mesh.procstat import peak_rss_kb, reset_peak_rss
from prose_mesh.scale.addressed import AddressedUe
from prose_mesh.scenario import model as M

_LEN = struct.Struct(">I")
WAIT = 600.0  # s: longest a phase waits for every member (then reported incomplete)


# -- control channel ---------------------------------------------------------------------------
async def _send_msg(sock: trio.socket.SocketType, msg: Any) -> None:
    data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_LEN.pack(len(data)) + data)
    while view:
        view = view[await sock.send(view):]


async def _recv_exact(sock: trio.socket.SocketType, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = await sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("control channel closed")
        buf += chunk
    return bytes(buf)


async def _recv_msg(sock: trio.socket.SocketType) -> Any:
    (n,) = _LEN.unpack(await _recv_exact(sock, _LEN.size))
    return pickle.loads(await _recv_exact(sock, n))


class PipeAir(Air):
    """The medium with socket-pair radios: no namespaces, real time, UEs in any process."""

    backend = "memory"

    def __init__(self, medium: Medium) -> None:
        super().__init__(medium, None)
        self._serial = 0
        self._out: dict[str, socket.socket] = {}
        self._addressed: dict[bytes, frozenset[str]] = {}  # read by SocketRadio senders here

    async def _make_radios(self, names: list[str]) -> list[Radio]:
        from netns.fabric import ue_mac
        from netns.namespace import ensure_fd_budget

        assert self._nursery is not None
        ensure_fd_budget(2 * len(names))  # two ends per UE (2000 UEs: past a 1024 soft limit)
        out: list[Radio] = []
        for name in names:
            self._serial += 1
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            mine.setblocking(False)
            self._out[name] = mine
            out.append(_PipeRadio(self, name, ue_mac(self._serial), theirs))
            self._nursery.start_soon(self._reader, name, mine)
        await trio.lowlevel.checkpoint()
        return out

    async def _reader(self, name: str, sock: socket.socket) -> None:
        while True:
            try:
                frame = await aio.recv(sock)
            except trio.EndOfChannel:
                return
            if not frame:
                return
            if len(frame) >= 14 and name in self.radios:
                self._on_frame(name, frame, self._addressed.pop(frame, None)
                               if self._addressed else None)
                self._flush_events()

    async def _drop_radio(self, name: str) -> None:
        sock = self._out.pop(name)
        trio.lowlevel.notify_closing(sock)
        sock.close()
        await trio.lowlevel.checkpoint()

    def _hand_over(self, d: Delivery) -> str | None:
        return hand_over(self._out, d)

    def _close_backend(self) -> None:
        for sock in self._out.values():
            trio.lowlevel.notify_closing(sock)
            sock.close()
        for radio in self.radios.values():
            sock = radio.sock  # type: ignore[attr-defined]
            if sock.fileno() >= 0:
                sock.close()


class _PipeRadio(NetnsRadio):
    """A UE of the coordinator's own process (the GMS): its addressed frames are handed to
    the reader as NetnsRadio hands them (``self.air._addressed``)."""


@asynccontextmanager
async def open_pipe_air(seed: int, *, range_m: float | None,
                        path_loss: Any = None) -> AsyncIterator[PipeAir]:
    """A :class:`PipeAir` with its delivery scheduler, closed on exit."""
    air = PipeAir(Medium(seed, "", range_m=range_m, path_loss=path_loss,
                         origin=trio.current_time()))
    try:
        async with trio.open_nursery() as nursery:
            air._nursery = nursery
            nursery.start_soon(air._scheduler)
            try:
                yield air
            finally:
                nursery.cancel_scope.cancel()
    finally:
        try:
            air._close()
        finally:
            air._close_backend()


# -- the plan ------------------------------------------------------------------------------------
def split(names: Sequence[str], workers: int) -> list[list[str]]:
    """Contiguous slices of ``names``, as even as possible, one per worker (none empty)."""
    workers = max(1, min(workers, len(names)))
    size, extra = divmod(len(names), workers)
    out, at = [], 0
    for i in range(workers):
        n = size + (1 if i < extra else 0)
        out.append(list(names[at:at + n]))
        at += n
    return out


# -- worker --------------------------------------------------------------------------------------
def worker_main(ctrl_fd: int) -> None:
    """A worker process: receive its UEs (provisioning, then the radio sockets), run them."""
    from netns.namespace import ensure_fd_budget

    raw = socket.socket(fileno=ctrl_fd)
    raw.setblocking(True)
    (n,) = _LEN.unpack(_recv_all(raw, _LEN.size))
    init = pickle.loads(_recv_all(raw, n))
    ensure_fd_budget(len(init["names"]))
    fds: list[int] = []
    while len(fds) < len(init["names"]):  # SCM_RIGHTS, in chunks
        _msg, got, _flags, _addr = socket.recv_fds(raw, 16, _FDS_PER_MSG)
        if not got:
            raise EOFError("control channel closed before every radio arrived")
        fds.extend(got)
    trio.run(_worker, raw, init, fds)


_FDS_PER_MSG = 250  # below SCM_MAX_FD (253)


def _recv_all(raw: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = raw.recv(n - len(buf))
        if not chunk:
            raise EOFError("control channel closed")
        buf += chunk
    return bytes(buf)


async def _worker(raw: socket.socket, init: dict[str, Any], fds: list[int]) -> None:
    ctrl = trio.socket.from_stdlib_socket(raw)
    reset_peak_rss()
    epoch = wall_epoch()
    provs: dict[str, Provisioned] = init["prov"]
    ues: dict[str, Ue] = {}
    outbox: list[tuple[str, float, str, dict[str, Any]]] = []
    wake = trio.Event()

    def on_event(ue: Ue, _t: float, event: Any) -> None:
        if event.name in _REPORTED:
            outbox.append((ue.name, time.monotonic(), event.name,
                           {k: event.data.get(k) for k in ("group_id", "gmk_id", "group")}))
            wake.set()

    for name, fd, mac in zip(init["names"], fds, init["macs"], strict=True):
        # a UE checks its key material on installation (RFC 6507 §5.1.2, RFC 6508 §6.1.2);
        # without the SAKKE receiver tables (0.2 s, 3 MiB each), one pairing per RSK
        provs[name].keys.validate(tables=False)
        radio = SocketRadio(None, name, mac, socket.socket(fileno=fd))
        ue = Ue(provs[name], clock=UeClock(epoch, provs[name].clock_offset), log=UeLog(name),
                radio=radio, known_peers=init["known"])
        ue.on_event = on_event
        ues[name] = ue

    async def pump() -> None:
        nonlocal wake
        while True:
            await wake.wait()
            wake = trio.Event()
            batch, outbox[:] = list(outbox), []
            await _send_msg(ctrl, ("events", batch))

    async with trio.open_nursery() as nursery:
        for ue in ues.values():
            await nursery.start(ue.run)
        nursery.start_soon(pump)
        await _send_msg(ctrl, ("up", time.monotonic(), len(ues)))
        while True:
            cmd = await _recv_msg(ctrl)
            if cmd[0] == "start_call":
                nursery.start_soon(ues[cmd[1]].start_call, cmd[2])
            elif cmd[0] == "end_call":
                for ue in ues.values():
                    if ue.running and ue.calls.call(cmd[1]) is not None:
                        await ue.end_call(cmd[1])
            elif cmd[0] == "stop":
                break
        nursery.cancel_scope.cancel()
    rejected: dict[str, int] = {}
    for ue in ues.values():
        for (kind, reason), count in ue.log.rejected.items():
            rejected[f"{kind}:{reason}"] = rejected.get(f"{kind}:{reason}", 0) + count
    await _send_msg(ctrl, ("stats", {
        "pid": os.getpid(), "ues": len(ues), "peak_rss_mb": round(peak_rss_kb() / 1024.0, 1),
        "accepted": sum(sum(u.log.accepted.values()) for u in ues.values()),
        "rejected": rejected}))


_REPORTED = ("gmk_installed", "call_joined")


# -- coordinator ---------------------------------------------------------------------------------
@dataclass
class _Shard:
    names: list[str]
    proc: trio.Process
    ctrl: trio.socket.SocketType
    up_at: float = math.nan
    stats: dict[str, Any] = field(default_factory=dict)


class _Seen:
    """Members' reported events: (event, group, GMK-ID or None) -> {member: monotonic time}."""

    def __init__(self) -> None:
        self.at: dict[tuple[str, str, int | None], dict[str, float]] = {}
        self.changed = trio.Event()
        self._one: dict[tuple[tuple[str, str, int | None], str], trio.Event] = {}

    def add(self, ue: str, t: float, name: str, data: dict[str, Any]) -> None:
        if name == "gmk_installed":
            key = (name, str(data.get("group_id")), data.get("gmk_id"))
        else:
            key = (name, str(data.get("group")), None)
        self.at.setdefault(key, {}).setdefault(ue, t)
        ev = self._one.pop((key, ue), None)
        if ev is not None:
            ev.set()

    async def wait_one(self, key: tuple[str, str, int | None], ue: str) -> None:
        """Until ``ue`` reported ``key`` (one waiter per member: no N² wake-ups)."""
        if ue not in self.at.get(key, {}):
            await self._one.setdefault((key, ue), trio.Event()).wait()

    def wake(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    def phase(self, key: tuple[str, str, int | None], t0: float, members: list[str]
              ) -> dict[str, Any]:
        got = self.at.get(key, {})
        vals = sorted(got[m] - t0 for m in members if m in got)

        def pct(p: float) -> float | None:
            return round(vals[min(len(vals) - 1, int(p * len(vals)))], 4) if vals else None

        return {"members": len(members), "done": len(vals), "p50_s": pct(0.5),
                "p95_s": pct(0.95), "max_s": round(vals[-1], 4) if vals else None}

    async def until(self, key: tuple[str, str, int | None], members: list[str],
                    timeout: float) -> None:
        with trio.move_on_after(timeout):
            while not all(m in self.at.get(key, {}) for m in members):
                await self.changed.wait()


async def run_sharded(scenario: M.Scenario, *, backend: str = "netns", workers: int | None = None,
                      group: str | None = None, speaker: str | None = None,
                      seed: int | None = None, wait: float = WAIT) -> dict[str, Any]:
    """Bring ``scenario``'s UEs up over ``workers`` processes (default ``os.cpu_count()``) and
    measure a standard group's GMK distribution, rekey and call setup (module docstring).

    ``group``: the standard group (default: the scenario's first); its manager stays in the
    coordinator, every other UE goes to a worker. ``speaker``: the member that starts the call
    (default: the group's first member). ``wait``: longest each phase waits for its members.
    Returns a JSON-ready dict; a phase some member missed says so in its ``done`` count."""
    from prose_mesh.scenario.runner import configure_medium, medium_geometry

    t_start = time.monotonic()
    reset_peak_rss()
    g = next((x for x in scenario.groups if group is None or x.id == group), None)
    if g is None or g.type != "standard" or g.manager is None:
        raise ConfigError("run_sharded needs a standard group with a manager")
    if backend not in ("netns", "memory"):
        raise ConfigError(f"backend must be netns or memory, not {backend!r}")
    seed = scenario.seed if seed is None else seed
    workers = workers or os.cpu_count() or 1
    # no validation here: each worker validates its UEs' keys at bring-up (table-less)
    prov = provision(scenario, epoch=wall_epoch(), seed=seed, validate=False)
    t_prov = time.monotonic()
    cfg = group_config(scenario, g)
    gms_name = g.manager
    others = [u.name for u in scenario.ues if u.name != gms_name]
    members = [m for m in g.members if m != gms_name]
    speaker = speaker or members[0]
    listeners = [m for m in members if m != speaker]
    known = frozenset(p.uri for p in prov.values())
    by_uid = {p.keys.uid: name for name, p in prov.items()}
    range_m, path_loss = medium_geometry(scenario.medium)
    result: dict[str, Any] = {"scenario": scenario.name, "backend": backend, "time": "real",
                              "ues": len(scenario.ues), "members": len(members),
                              "gmk_carriage": "addressed"}
    opener = (open_air("netns", seed=seed, range_m=range_m, path_loss=path_loss)
              if backend == "netns" else open_pipe_air(seed, range_m=range_m,
                                                       path_loss=path_loss))
    seen = _Seen()
    async with opener as air:
        names = [u.name for u in scenario.ues]
        radios = dict(zip(names, await air.attach_many(names, [u.position
                                                              for u in scenario.ues]),
                          strict=True))
        configure_medium(air, scenario.medium)
        t_attach = time.monotonic()
        gms = AddressedUe(prov[gms_name], by_uid=by_uid, clock=UeClock(wall_epoch()),
                          log=UeLog(gms_name), radio=radios[gms_name], known_peers=known)
        shards: list[_Shard] = []

        async def listen(shard: _Shard) -> None:
            while True:
                msg = await _recv_msg(shard.ctrl)
                if msg[0] == "up":
                    shard.up_at = msg[1]
                elif msg[0] == "events":
                    for ue, t, name, data in msg[1]:
                        seen.add(ue, t, name, data)
                elif msg[0] == "stats":
                    shard.stats = msg[1]
                    seen.wake()
                    return
                seen.wake()

        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(gms.run)
                for names_of in split(others, workers):
                    shard = await _start_worker(names_of, radios, prov, known)
                    shards.append(shard)
                    nursery.start_soon(listen, shard)
                result["workers"] = len(shards)
                with trio.move_on_after(wait):
                    while any(math.isnan(s.up_at) for s in shards):
                        await seen.changed.wait()
                t_up = max([s.up_at for s in shards] or [time.monotonic()])
                result["wall"] = {"provisioning": round(t_prov - t_start, 3),
                                  "attaching": round(t_attach - t_prov, 3),
                                  "ues_up": round(t_up - t_start, 3)}
                l2ids = {prov[m].uri: prov[m].l2id for m in members}
                uris = {prov[m].uri for m in members}
                shard_of = {n: i for i, s in enumerate(shards) for n in s.names}
                name_of = {prov[m].uri: m for m in members}
                for label in ("gmk_create", "gmk_rekey"):
                    t0 = time.monotonic()
                    issue = await gms.distribute(
                        cfg, member_l2ids=l2ids, members=uris, batch=GMS_BATCH,
                        pace=_Pacer(cfg.group_id, name_of, shard_of, seen, len(shards)).pace)
                    key = ("gmk_installed", cfg.group_id, issue.gmk_id)
                    result[f"{label}_sent_s"] = round(time.monotonic() - t0, 4)
                    resends: list[int] = [0]
                    with trio.move_on_after(wait):
                        await _catch_up(gms, cfg.group_id, key, members, prov, shard_of, seen,
                                        resends)
                    result[label] = {**seen.phase(key, t0, members), "resends": resends[0]}
                t0 = time.monotonic()
                ctrl_of = {n: s for s in shards for n in s.names}
                await _send_msg(ctrl_of[speaker].ctrl, ("start_call", speaker, cfg.group_id))
                key = ("call_joined", cfg.group_id, None)
                await seen.until(key, listeners, wait)
                result["call_setup"] = seen.phase(key, t0, listeners)
                for shard in shards:
                    await _send_msg(shard.ctrl, ("end_call", cfg.group_id))
                    await _send_msg(shard.ctrl, ("stop",))
                with trio.move_on_after(30):
                    while not all(s.stats for s in shards):
                        await seen.changed.wait()
                gms.stop()
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                for shard in shards:
                    with trio.move_on_after(10):
                        await shard.proc.wait()
                    if shard.proc.returncode is None:
                        shard.proc.kill()
                        await shard.proc.wait()
                    shard.ctrl.close()
        result["medium"] = air.summary()
    result["processes"] = {"coordinator": {"pid": os.getpid(), "ues": 1,
                                           "peak_rss_mb": round(peak_rss_kb() / 1024.0, 1)},
                           "workers": [s.stats for s in shards]}
    result["wall"]["total"] = round(time.monotonic() - t_start, 3)
    return result


SKEW_WAIT = 6.0  # s: a member's copy is stale once its T is older than the 5 s skew window
GMS_BATCH = 50  # I_MESSAGEs built and sent per T (Ue.distribute(batch=...)): ~0.2 s of work
#: [EMU] I_MESSAGEs a worker may hold undecrypted before the GMS sends on (_Pacer): ~2 s of
#: its work, well inside the 5 s skew window
BACKLOG = 80
RESENDS = 5  # [EMU] fresh-T resends per member at most
IN_FLIGHT = 4  # [EMU] resends awaiting their install, per worker


class _Pacer:
    """[EMU] Flow control for a GMS whose members share a host: the next batch waits while a
    worker has more than :data:`BACKLOG` of its members' I_MESSAGEs sent and not installed.

    Why: each real UE decrypts its own I_MESSAGE at once; a worker decrypts its members' one
    after another (ECCSI verification + SAKKE decapsulation, ~25 ms each), so a GMS that
    sends as fast as it builds leaves copies queued in the worker past the 5 s skew window of
    their T (TS_OUT_OF_WINDOW, then a resend: work done twice). Holding the GMS back keeps
    each batch's T fresh when it is judged; the time to reach every member still counts all
    of it. The scenario runner's GMS (one process) does not pace."""

    def __init__(self, group_id: str, name_of: dict[str, str], shard_of: dict[str, int],
                 seen: _Seen, shards: int) -> None:
        self.group_id, self.name_of, self.shard_of, self.seen = group_id, name_of, shard_of, seen
        self.sent: list[list[str]] = [[] for _ in range(shards)]

    async def pace(self, issue: Any, uris: list[str]) -> None:
        """Note ``uris`` as sent; return once every worker's backlog is below BACKLOG."""
        for uri in uris:
            name = self.name_of.get(uri)
            if name is not None:
                self.sent[self.shard_of[name]].append(name)
        key = ("gmk_installed", self.group_id, issue.gmk_id)
        while True:
            done = self.seen.at.get(key, {})
            for i, names in enumerate(self.sent):
                self.sent[i] = [n for n in names if n not in done]
            if all(len(names) < BACKLOG for names in self.sent):
                return
            await self.seen.changed.wait()


async def _catch_up(gms: Ue, group_id: str, key: tuple[str, str, int | None],
                    members: list[str], prov: dict[str, Provisioned], shard_of: dict[str, int],
                    seen: _Seen, resends: list[int]) -> None:
    """[EMU] Resend the GMK (fresh T) to the members that did not install it, counting the
    resends in ``resends[0]``.

    Why: a worker hosts hundreds of members on one core, so it decrypts their I_MESSAGEs one
    after another (about 25 ms each: ECCSI verification, table-less SAKKE), and a
    member whose turn comes more than the 5 s skew window after T rejects its copy as
    TS_OUT_OF_WINDOW - an artefact of co-hosting, not of the protocol (each real UE has its
    own CPU). The distributor stands in for the GMS's reliable transport, as the scenario
    runner does (``GMK_RESEND_GAP``): after the burst, members still missing get the GMK
    again, at most :data:`IN_FLIGHT` awaiting their install per worker, so that a resend is
    decrypted while its T is fresh."""
    await seen.until(key, members, SKEW_WAIT)
    missing = [m for m in members if m not in seen.at.get(key, {})]
    slots = [trio.Semaphore(IN_FLIGHT) for _ in range(max(shard_of.values(), default=0) + 1)]

    async def one(m: str) -> None:
        for _ in range(RESENDS):
            async with slots[shard_of[m]]:
                if m in seen.at.get(key, {}):
                    return
                resends[0] += 1
                await gms.resend_gmk(group_id, [prov[m].uri])
                with trio.move_on_after(SKEW_WAIT):
                    await seen.wait_one(key, m)
                    return

    async with trio.open_nursery() as nursery:
        for m in missing:
            nursery.start_soon(one, m)


async def _start_worker(names: list[str], radios: dict[str, Radio],
                        prov: dict[str, Provisioned], known: frozenset[str]) -> _Shard:
    """Start one worker (a fresh interpreter) and hand it its UEs: provisioning, then the
    radio sockets by SCM_RIGHTS (its namespace sockets on netns, pair ends on memory)."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    code = f"from prose_mesh.scale.shard import worker_main; worker_main({theirs.fileno()})"
    try:
        proc = await trio.lowlevel.open_process([sys.executable, "-c", code],
                                                pass_fds=(theirs.fileno(),))
    finally:
        theirs.close()
    init = pickle.dumps({"names": names, "macs": [radios[n].mac for n in names],
                         "prov": {n: prov[n] for n in names}, "known": known},
                        protocol=pickle.HIGHEST_PROTOCOL)
    fds = [radios[n].sock.fileno() for n in names]  # type: ignore[attr-defined]

    def give_sockets() -> None:  # blocking, in a thread: the worker reads once it has started
        mine.sendall(_LEN.pack(len(init)) + init)
        for i in range(0, len(fds), _FDS_PER_MSG):
            socket.send_fds(mine, [b"f"], fds[i:i + _FDS_PER_MSG])

    try:
        await trio.to_thread.run_sync(give_sockets)
    except BaseException:
        proc.kill()
        mine.close()
        raise
    return _Shard(names, proc, trio.socket.from_stdlib_socket(mine))
